-- Search over bounded pieces of the extracted text (SPEC D4). A part's text was indexed whole,
-- and snippet() over a long part (a sheet, a one-line CSV) took time growing with the square
-- of its length: minutes for a megabyte. Now each part's text is cut into pieces of at most
-- 8,192 characters that start every 8,000 (a word of up to 192 characters at a cut is whole in
-- one of the two pieces), written by storage with the part (`Db::insert_parts`), and the index
-- covers the pieces: matching, ranking and snippets work on one piece at a time. Every word of
-- a query must occur in one piece. The piece rows go with their part (ON DELETE CASCADE).
DROP TRIGGER file_parts_fts_insert;
DROP TRIGGER file_parts_fts_delete;
DROP TRIGGER file_parts_fts_update;
DROP TABLE file_parts_fts;

CREATE TABLE file_part_pieces (
    part_id    TEXT NOT NULL REFERENCES file_parts(id) ON DELETE CASCADE,
    piece      INTEGER NOT NULL,
    tenant_id  TEXT NOT NULL,
    file_id    TEXT NOT NULL,
    text       TEXT NOT NULL,
    PRIMARY KEY (part_id, piece)
);

-- The same tokenizer and ё/е folding as the index it replaces (see 0008); external content
-- keyed by the pieces' rowid.
CREATE VIRTUAL TABLE file_part_pieces_fts USING fts5(
    text,
    content = 'file_part_pieces',
    content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER file_part_pieces_fts_insert AFTER INSERT ON file_part_pieces BEGIN
    INSERT INTO file_part_pieces_fts (rowid, text) VALUES (new.rowid, replace(replace(new.text, 'ё', 'е'), 'Ё', 'Е'));
END;
CREATE TRIGGER file_part_pieces_fts_delete AFTER DELETE ON file_part_pieces BEGIN
    INSERT INTO file_part_pieces_fts (file_part_pieces_fts, rowid, text)
    VALUES ('delete', old.rowid, replace(replace(old.text, 'ё', 'е'), 'Ё', 'Е'));
END;

-- The parts extracted before this migration.
INSERT INTO file_part_pieces (part_id, piece, tenant_id, file_id, text)
WITH RECURSIVE n(i) AS (
    SELECT 0
    UNION ALL
    SELECT i + 1 FROM n WHERE (i + 1) * 8000 < (SELECT COALESCE(MAX(length(text)), 0) FROM file_parts)
)
SELECT p.id, n.i, p.tenant_id, p.file_id, substr(p.text, n.i * 8000 + 1, 8192)
FROM file_parts p JOIN n ON n.i * 8000 < length(p.text)
WHERE length(p.text) > 0;
