-- Search over bounded pieces of the extracted text (SPEC D4). A part's text was indexed whole
-- (its first 250,000 characters: a tsvector holds at most 1 MB) and snippets were cut from
-- that much text. Now each part's text is cut into pieces of at most 8,192 characters that
-- start every 8,000 (a word of up to 192 characters at a cut is whole in one of the two
-- pieces), written by storage with the part (`Db::insert_parts`); the index covers every piece,
-- so all of a long part is searchable, and matching, ranking and headlines work on one piece at
-- a time. Every word of a query must occur in one piece. The pieces go with their part.
DROP INDEX file_parts_text_tsv;
ALTER TABLE file_parts DROP COLUMN text_tsv;

CREATE TABLE file_part_pieces (
    part_id    TEXT NOT NULL REFERENCES file_parts(id) ON DELETE CASCADE,
    piece      INTEGER NOT NULL,
    tenant_id  TEXT NOT NULL,
    file_id    TEXT NOT NULL,
    text       TEXT NOT NULL,
    -- `simple` configuration and ё/е folding as before (see 0008).
    text_tsv   tsvector GENERATED ALWAYS AS (to_tsvector('simple', translate(text, 'ёЁ', 'еЕ'))) STORED,
    PRIMARY KEY (part_id, piece)
);
CREATE INDEX file_part_pieces_text_tsv ON file_part_pieces USING GIN (text_tsv);
-- No index on tenant_id: searches must go through the GIN index (a tenant's pieces read one by
-- one are their stored tsvectors read one by one), and the pieces go with their part by its key.

-- The parts extracted before this migration.
INSERT INTO file_part_pieces (part_id, piece, tenant_id, file_id, text)
SELECT p.id, n.i, p.tenant_id, p.file_id, substr(p.text, n.i * 8000 + 1, 8192)
FROM file_parts p, generate_series(0, (length(p.text) - 1) / 8000) AS n(i)
WHERE length(p.text) > 0;
