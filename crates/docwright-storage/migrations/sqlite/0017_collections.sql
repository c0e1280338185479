-- Collections (SPEC Y3): named, tenant-scoped sets of files, searchable and usable as the
-- context of chats and workflows beside (or instead of) a project.
--
-- Names are not unique: people may well keep two collections called "Contracts". A machine
-- finds "its" collection by external_key instead (a sync source's key for a CRM record),
-- unique per tenant when set (the partial unique index, which also makes the sync's
-- insert-or-get race-safe with ON CONFLICT DO NOTHING). created_by is the user who made it
-- (NULL for a sync source's). A file is in a collection at most once; deleting the file or the
-- collection drops its memberships (ON DELETE CASCADE). Every row carries its tenant, and
-- storage checks that collection and file belong to the same one.
CREATE TABLE collections (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    description  TEXT,
    external_key TEXT,
    created_by   TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX collections_external_key ON collections (tenant_id, external_key) WHERE external_key IS NOT NULL;
CREATE INDEX collections_tenant ON collections (tenant_id, id);

CREATE TABLE collection_files (
    collection_id TEXT NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    file_id       TEXT NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    tenant_id     TEXT NOT NULL,
    added_at      BIGINT NOT NULL,
    PRIMARY KEY (collection_id, file_id)
);
CREATE INDEX collection_files_file ON collection_files (tenant_id, file_id);

-- A chat's or workflow's collection: retrieval and search draw from its files (instead of a
-- project's; the two are not given together).
ALTER TABLE chats ADD COLUMN collection_id TEXT;
ALTER TABLE workflows ADD COLUMN collection_id TEXT;

-- Tenants made before this migration got their rules from an older `bootstrap_rules`: give
-- those that still have the bootstrap `data.*` rule of a role the rule for collections (as
-- `docwright_core::rbac::bootstrap_rules` now writes it: the levels of the projects tree);
-- edited rules are kept.
INSERT INTO rbac_rules (id, tenant_id, role, item, can_view, read_level, create_level, update_level, delete_level, updated_at)
SELECT lower(substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-' || substr(h, 13, 4) || '-' || substr(h, 17, 4) || '-' || substr(h, 21, 12)),
       r.tenant_id, r.role, 'data.document.Collection', 1, 'tenant', v.c, v.u, v.d, CAST(strftime('%s', 'now') AS INTEGER) * 1000
FROM (SELECT hex(randomblob(16)) AS h, tenant_id, role FROM rbac_rules WHERE item = 'data.*') r
JOIN (SELECT 'admin' AS role, 'tenant' AS c, 'tenant' AS u, 'tenant' AS d
      UNION ALL SELECT 'user', 'tenant', 'tenant', 'none'
      UNION ALL SELECT 'viewer', 'none', 'none', 'none') v ON v.role = r.role
WHERE true
ON CONFLICT (tenant_id, role, item) DO NOTHING;
