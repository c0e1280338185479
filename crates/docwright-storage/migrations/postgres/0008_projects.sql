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

-- Full-text search over the extracted text (file_parts.text): a generated tsvector with the
-- `simple` configuration (lower-cased words, no stemming and no stop words: the corpus is
-- German, Russian and English at once) and a GIN index. Adding the column computes it for the
-- parts extracted before this migration. A tsvector holds at most 1 MB, so only the first
-- 250,000 characters of a part are indexed (a page or slide is far below; a huge sheet is cut).
-- Russian ё is written е as often as not: the index (and the query, and the text the snippet is
-- cut from) has ё/Ё as е/Е.
ALTER TABLE file_parts ADD COLUMN text_tsv tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', translate(left(text, 250000), 'ёЁ', 'еЕ'))) STORED;
CREATE INDEX file_parts_text_tsv ON file_parts USING GIN (text_tsv);

-- Tenants made before this migration got their rules from an older `bootstrap_rules`: give
-- those that still have the bootstrap `data.*` rule of a role the new rule for the projects
-- tree (as `docwright_core::rbac::bootstrap_rules` now writes it); edited rules are kept.
INSERT INTO rbac_rules (id, tenant_id, role, item, can_view, read_level, create_level, update_level, delete_level, updated_at)
SELECT gen_random_uuid()::text, r.tenant_id, r.role, 'data.document.Project', 1, 'tenant', v.c, v.u, v.d,
       (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT
FROM rbac_rules r
JOIN (VALUES ('admin', 'tenant', 'tenant', 'tenant'), ('user', 'tenant', 'tenant', 'none'), ('viewer', 'none', 'none', 'none'))
     AS v (role, c, u, d) ON v.role = r.role
WHERE r.item = 'data.*'
ON CONFLICT (tenant_id, role, item) DO NOTHING;
