-- Uploaded files (SPEC D1). The content is a blob addressed by its SHA-256 within the tenant
-- (<blob_dir>/<tenant>/<aa>/<sha256>): equal uploads share one blob but each gets its own row.
-- A blob is removed when the last row of the tenant naming its sha256 is deleted.
-- extraction_status: pending until extraction (SPEC D2) runs. owner_id: the uploader, whose
-- own files a user with level `my` may read and delete.
CREATE TABLE files (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    owner_id           TEXT NOT NULL,
    file_name          TEXT NOT NULL,
    mime_type          TEXT NOT NULL,
    file_size          BIGINT NOT NULL,
    sha256             TEXT NOT NULL,
    md5                TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    extraction_status  TEXT NOT NULL DEFAULT 'pending'
);
CREATE INDEX files_tenant_sha256 ON files (tenant_id, sha256);
CREATE INDEX files_tenant ON files (tenant_id, id);
