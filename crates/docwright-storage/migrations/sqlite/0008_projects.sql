-- The projects tree and full-text search (SPEC D4).
--
-- client -> project -> folders (nested by parent_id) -> documents. A document places a file in
-- a project (optionally in one of its folders); a file may be placed in several projects but
-- once per project. Deleting a client removes its projects, their folders, documents and
-- results; deleting a folder removes its subfolders and the documents in them; the files stay
-- (deleting a file removes its placements). Every row carries its tenant, and storage checks
-- that the rows it links belong to the same tenant (and a folder or document to the same
-- project as its parent).
CREATE TABLE clients (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE projects (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    client_id    TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    description  TEXT,
    created_at   BIGINT NOT NULL,
    UNIQUE (client_id, name)
);
CREATE INDEX projects_tenant ON projects (tenant_id, client_id);

-- A folder name is unique among its siblings (the top level of a project counts as one parent).
CREATE TABLE folders (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    project_id  TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    parent_id   TEXT REFERENCES folders(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX folders_sibling_name ON folders (project_id, COALESCE(parent_id, ''), name);
CREATE INDEX folders_parent ON folders (parent_id);
CREATE INDEX folders_tenant ON folders (tenant_id, project_id);

CREATE TABLE documents (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    project_id  TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    folder_id   TEXT REFERENCES folders(id) ON DELETE CASCADE,
    file_id     TEXT NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    title       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (project_id, file_id)
);
CREATE INDEX documents_file ON documents (tenant_id, file_id);
CREATE INDEX documents_folder ON documents (folder_id);
CREATE INDEX documents_project ON documents (tenant_id, project_id);

-- What was produced about a document (workflows, chat, summaries). format: `text` or `json`
-- (then content is a JSON document).
CREATE TABLE document_results (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    document_id  TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    title        TEXT NOT NULL,
    format       TEXT NOT NULL CHECK (format IN ('text', 'json')),
    content      TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX document_results_document ON document_results (document_id, created_at);

-- Full-text search over the extracted text (file_parts.text): an FTS5 index whose content is
-- file_parts itself (external content, keyed by file_parts' rowid), kept in step by triggers.
-- unicode61 folds case in every script (СЧЁТ finds счёт) and, with remove_diacritics 2, Latin
-- accents (Uber finds Über); no stemmer, since the corpus is German, Russian and English at
-- once. Russian ё is written е as often as not, and unicode61 folds no Cyrillic, so the index
-- holds the text with ё/Ё as е/Е (the query is folded the same way); snippets still show the
-- text as stored, since folding keeps every token where it was.
-- file_parts has no INTEGER PRIMARY KEY, so a manual VACUUM may renumber its rowids: after one,
-- run INSERT INTO file_parts_fts (file_parts_fts) VALUES ('delete-all') and the INSERT … SELECT
-- at the end of this block ('rebuild' would index the text unfolded). docwright never vacuums.
CREATE VIRTUAL TABLE file_parts_fts USING fts5(
    text,
    content = 'file_parts',
    content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER file_parts_fts_insert AFTER INSERT ON file_parts BEGIN
    INSERT INTO file_parts_fts (rowid, text) VALUES (new.rowid, replace(replace(new.text, 'ё', 'е'), 'Ё', 'Е'));
END;
CREATE TRIGGER file_parts_fts_delete AFTER DELETE ON file_parts BEGIN
    INSERT INTO file_parts_fts (file_parts_fts, rowid, text)
    VALUES ('delete', old.rowid, replace(replace(old.text, 'ё', 'е'), 'Ё', 'Е'));
END;
CREATE TRIGGER file_parts_fts_update AFTER UPDATE OF text ON file_parts BEGIN
    INSERT INTO file_parts_fts (file_parts_fts, rowid, text)
    VALUES ('delete', old.rowid, replace(replace(old.text, 'ё', 'е'), 'Ё', 'Е'));
    INSERT INTO file_parts_fts (rowid, text) VALUES (new.rowid, replace(replace(new.text, 'ё', 'е'), 'Ё', 'Е'));
END;
-- Parts extracted before this migration.
INSERT INTO file_parts_fts (rowid, text) SELECT rowid, replace(replace(text, 'ё', 'е'), 'Ё', 'Е') FROM file_parts;

-- Tenants made before this migration got their rules from an older `bootstrap_rules`: give
-- those that still have the bootstrap `data.*` rule of a role the new rule for the projects
-- tree (as `docwright_core::rbac::bootstrap_rules` now writes it); edited rules are kept.
INSERT INTO rbac_rules (id, tenant_id, role, item, can_view, read_level, create_level, update_level, delete_level, updated_at)
SELECT lower(substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-' || substr(h, 13, 4) || '-' || substr(h, 17, 4) || '-' || substr(h, 21, 12)),
       r.tenant_id, r.role, 'data.document.Project', 1, 'tenant', v.c, v.u, v.d, CAST(strftime('%s', 'now') AS INTEGER) * 1000
FROM (SELECT hex(randomblob(16)) AS h, tenant_id, role FROM rbac_rules WHERE item = 'data.*') r
JOIN (SELECT 'admin' AS role, 'tenant' AS c, 'tenant' AS u, 'tenant' AS d
      UNION ALL SELECT 'user', 'tenant', 'tenant', 'none'
      UNION ALL SELECT 'viewer', 'none', 'none', 'none') v ON v.role = r.role
WHERE true
ON CONFLICT (tenant_id, role, item) DO NOTHING;
