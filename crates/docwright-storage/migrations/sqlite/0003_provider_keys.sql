-- Provider keys stored by users (BYOK) and tenants (SPEC A7), encrypted by the server
-- (XChaCha20-Poly1305; base64 of nonce and sealed key). A user's own key has tenant_id '' and
-- is used in every tenant; a tenant key has user_id ''.
CREATE TABLE provider_keys (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    provider    TEXT NOT NULL,
    ciphertext  TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (tenant_id, user_id, provider)
);
