-- Platform: tenants, users, memberships, login tokens, sessions, API keys, RBAC rules.
-- Ids are UUIDv7 text (time-ordered, so `ORDER BY id` is creation order and a stable cursor);
-- times are BIGINT milliseconds since the Unix epoch, UTC; flags are BIGINT 0/1 (sqlx's Any
-- driver cannot decode SQLite booleans). The PostgreSQL migration is the same
-- schema in PostgreSQL's dialect; keep the two in step.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    id                       TEXT PRIMARY KEY,
    display_name             TEXT NOT NULL,
    email                    TEXT UNIQUE,
    disabled                 BIGINT NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    model_profile            TEXT NOT NULL DEFAULT 'simple',
    selected_role_prompt_id  TEXT,
    language                 TEXT NOT NULL DEFAULT 'en',
    created_at               BIGINT NOT NULL
);

CREATE TABLE memberships (
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('sysadmin', 'admin', 'user', 'viewer')),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, tenant_id)
);
CREATE INDEX memberships_tenant ON memberships (tenant_id, user_id);

-- A token issued by a tenant admin is bound to that tenant (tenant_id), and so are the sessions
-- opened with it; tokens issued by a sysadmin (or at bootstrap) are unbound (NULL).
CREATE TABLE static_tokens (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tenant_id     TEXT REFERENCES tenants(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    created_by    TEXT,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX static_tokens_user ON static_tokens (user_id);

-- One login: a family of rotated refresh tokens and the access tokens issued from it.
CREATE TABLE sessions (
    id               TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    static_token_id  TEXT REFERENCES static_tokens(id) ON DELETE CASCADE,
    tenant_id        TEXT REFERENCES tenants(id) ON DELETE CASCADE,
    created_at       BIGINT NOT NULL,
    revoked_at       BIGINT,
    revoked_reason   TEXT
);

CREATE TABLE refresh_tokens (
    id          TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    key_hash      TEXT NOT NULL UNIQUE,
    key_prefix    TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX api_keys_tenant_user ON api_keys (tenant_id, user_id);

CREATE TABLE rbac_rules (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'user', 'viewer')),
    item          TEXT NOT NULL,
    can_view      BIGINT NOT NULL CHECK (can_view IN (0, 1)),
    read_level    TEXT NOT NULL,
    create_level  TEXT NOT NULL,
    update_level  TEXT NOT NULL,
    delete_level  TEXT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE (tenant_id, role, item)
);

-- Values generated once per installation and shared by every replica (e.g. the JWT key).
CREATE TABLE instance_settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
