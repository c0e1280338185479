-- Extraction (SPEC D2) and thumbnails (D3) of uploaded files, and their content parts (W3).
--
-- A file's extraction is its own durable job: extraction_status pending -> running -> done |
-- failed. A worker claims a pending row (running, claimed_by = its process id, attempts + 1);
-- the billing reconciler's process heartbeats tell when a claimer died, and its rows go back to
-- pending (or to failed once attempts are spent). A re-run sets the row pending again.
-- extraction_error is the stable failure code, extraction_message the reason in words.
-- thumbnail_sha256 names a PNG blob of the tenant (content-addressed like the files).
-- parent_file_id: the e-mail a file was attached to (attachments become files of their own).
ALTER TABLE files ADD COLUMN extraction_error TEXT;
ALTER TABLE files ADD COLUMN extraction_message TEXT;
ALTER TABLE files ADD COLUMN extraction_warnings TEXT;
ALTER TABLE files ADD COLUMN extraction_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE files ADD COLUMN extraction_claimed_by TEXT;
ALTER TABLE files ADD COLUMN extraction_started_at BIGINT;
ALTER TABLE files ADD COLUMN extraction_finished_at BIGINT;
ALTER TABLE files ADD COLUMN units INTEGER;
ALTER TABLE files ADD COLUMN thumbnail_sha256 TEXT;
ALTER TABLE files ADD COLUMN parent_file_id TEXT;
CREATE INDEX files_extraction_queue ON files (extraction_status, created_at);

-- One row per content part, in document order (seq). text is the searchable form (a table as
-- Markdown, an image's OCR text); rows_json the cells of a table part; data_sha256 a blob of
-- the tenant with an image part's bytes. page/slide/sheet/row_start/row_end: where it was found.
CREATE TABLE file_parts (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    file_id      TEXT NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    type_group   TEXT NOT NULL,
    mime_type    TEXT NOT NULL,
    label        TEXT,
    level        INTEGER,
    text         TEXT NOT NULL,
    rows_json    TEXT,
    method       TEXT NOT NULL,
    page         INTEGER,
    slide        INTEGER,
    sheet        TEXT,
    row_start    INTEGER,
    row_end      INTEGER,
    data_sha256  TEXT,
    data_size    BIGINT,
    created_at   BIGINT NOT NULL,
    UNIQUE (file_id, seq)
);
CREATE INDEX file_parts_tenant_data ON file_parts (tenant_id, data_sha256);
