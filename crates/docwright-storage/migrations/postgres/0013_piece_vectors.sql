-- Vector search for chat retrieval (SPEC C3): the embedding of each search piece
-- (file_part_pieces, at most 8,192 characters), per embedding model, written in the background
-- after extraction. A vector is little-endian f32s; search scans a project's vectors exactly
-- (cosine) in the server, which is fine up to a few hundred thousand pieces per project
-- (`[embeddings] max_scan`). The vectors go with their piece, and so with their part.
CREATE TABLE file_part_piece_vectors (
    part_id    TEXT NOT NULL,
    piece      INTEGER NOT NULL,
    model      TEXT NOT NULL,
    tenant_id  TEXT NOT NULL,
    file_id    TEXT NOT NULL,
    dims       INTEGER NOT NULL,
    vector     BYTEA NOT NULL,
    PRIMARY KEY (part_id, piece, model),
    FOREIGN KEY (part_id, piece) REFERENCES file_part_pieces (part_id, piece) ON DELETE CASCADE
);
CREATE INDEX file_part_piece_vectors_file ON file_part_piece_vectors (tenant_id, file_id, model);
