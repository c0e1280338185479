//! Embeddings of the search pieces (SPEC C3 vector retrieval): which pieces of a file still
//! need a vector of a model, storing vectors, and reading a project's vectors for an exact
//! cosine scan. A vector is stored as little-endian `f32`s ([`to_bytes`] / [`from_bytes`]).

use docwright_core::id::{FileId, PartId, ProjectId, TenantId, UserId};
use sqlx::Row as _;

use crate::search::FileScope;
use crate::{Db, Error, Result, parse_col, trusted};

/// A piece still to embed: its key and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PieceText {
    pub part_id: PartId,
    pub piece: i64,
    pub text: String,
}

/// A stored vector with the file and part it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct PieceVector {
    pub file_id: FileId,
    pub part_id: PartId,
    pub piece: i64,
    pub vector: Vec<f32>,
}

/// `v` as little-endian `f32`s.
pub fn to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The vector [`to_bytes`] wrote; `None` when the length is not a whole number of `f32`s.
pub fn from_bytes(b: &[u8]) -> Option<Vec<f32>> {
    if !b.len().is_multiple_of(4) {
        return None;
    }
    Some(b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

impl Db {
    /// Up to `limit` pieces of `file` with no vector of `model` yet, in part and piece order.
    /// Reached through the file's parts (their `(file_id, seq)` index), then the pieces' key.
    pub async fn pieces_to_embed(
        &self,
        tenant: TenantId,
        file: FileId,
        model: &str,
        limit: u32,
    ) -> Result<Vec<PieceText>> {
        let rows = sqlx::query(
            "SELECT pc.part_id, pc.piece, pc.text FROM file_parts p \
             JOIN file_part_pieces pc ON pc.part_id = p.id \
             WHERE p.tenant_id = $1 AND p.file_id = $2 AND NOT EXISTS (\
               SELECT 1 FROM file_part_piece_vectors v \
               WHERE v.part_id = pc.part_id AND v.piece = pc.piece AND v.model = $3) \
             ORDER BY p.seq, pc.piece LIMIT $4",
        )
        .bind(tenant.to_string())
        .bind(file.to_string())
        .bind(model.to_owned())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PieceText {
                    part_id: parse_col(r, "part_id", PartId::parse)?,
                    piece: r.try_get("piece")?,
                    text: r.try_get("text")?,
                })
            })
            .collect()
    }

    /// Stores the vectors of `model` for pieces of `file`, one transaction; a piece deleted
    /// meanwhile (the file re-extracted or deleted) is skipped, a vector stored already kept.
    /// Answers how many were stored.
    pub async fn store_vectors(
        &self,
        tenant: TenantId,
        file: FileId,
        model: &str,
        vectors: &[(PartId, i64, Vec<f32>)],
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let mut stored = 0;
        for (part, piece, v) in vectors {
            stored += sqlx::query(
                "INSERT INTO file_part_piece_vectors (part_id, piece, model, tenant_id, file_id, dims, vector) \
                 SELECT pc.part_id, pc.piece, $3, $4, $5, $6, $7 FROM file_part_pieces pc \
                 WHERE pc.part_id = $1 AND pc.piece = $2 AND pc.tenant_id = $4 AND pc.file_id = $5 \
                 ON CONFLICT DO NOTHING",
            )
            .bind(part.to_string())
            .bind(*piece)
            .bind(model.to_owned())
            .bind(tenant.to_string())
            .bind(file.to_string())
            .bind(v.len() as i64)
            .bind(to_bytes(v))
            .execute(tx.conn())
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(stored)
    }

    /// The vectors of `model` of the files placed in `project` (of one owner's files when
    /// `owner` is given), at most `limit` of them: what a question's vector is compared with.
    pub async fn project_vectors(
        &self,
        tenant: TenantId,
        project: ProjectId,
        owner: Option<UserId>,
        model: &str,
        limit: u32,
    ) -> Result<Vec<PieceVector>> {
        self.scope_vectors(tenant, FileScope::Project(project), owner, model, limit).await
    }

    /// [`Db::project_vectors`] for any [`FileScope`]: a project's documents or a collection's
    /// members.
    pub async fn scope_vectors(
        &self,
        tenant: TenantId,
        scope: FileScope,
        owner: Option<UserId>,
        model: &str,
        limit: u32,
    ) -> Result<Vec<PieceVector>> {
        let sql = format!(
            "SELECT v.file_id, v.part_id, v.piece, v.vector FROM file_part_piece_vectors v \
             JOIN files f ON f.id = v.file_id \
             WHERE v.tenant_id = $1 AND v.model = $2 AND ($3 = '' OR f.owner_id = $3) AND {} \
             ORDER BY v.file_id, v.part_id, v.piece LIMIT $5",
            scope.condition("$1", "$4", "v.file_id")
        );
        let rows = sqlx::query(trusted(sql))
            .bind(tenant.to_string())
            .bind(model.to_owned())
            .bind(owner.map(|u| u.to_string()).unwrap_or_default())
            .bind(scope.id())
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let bytes: Vec<u8> = r.try_get("vector")?;
                Ok(PieceVector {
                    file_id: parse_col(r, "file_id", FileId::parse)?,
                    part_id: parse_col(r, "part_id", PartId::parse)?,
                    piece: r.try_get("piece")?,
                    vector: from_bytes(&bytes).ok_or_else(|| Error::Corrupt("a stored vector".to_owned()))?,
                })
            })
            .collect()
    }

    /// Extracted files (of every tenant) with a piece that has no vector of `model`, by id
    /// after `after`, at most `limit`: what a start with vectors on has to catch up with.
    pub async fn files_missing_vectors(
        &self,
        model: &str,
        after: Option<FileId>,
        limit: u32,
    ) -> Result<Vec<crate::files::FileRecord>> {
        let rows = sqlx::query(
            "SELECT f.tenant_id, f.id FROM files f WHERE f.extraction_status = 'done' AND f.id > $2 AND EXISTS (\
               SELECT 1 FROM file_parts p JOIN file_part_pieces pc ON pc.part_id = p.id \
               WHERE p.file_id = f.id AND NOT EXISTS (SELECT 1 FROM file_part_piece_vectors v \
                 WHERE v.part_id = pc.part_id AND v.piece = pc.piece AND v.model = $1)) \
             ORDER BY f.id LIMIT $3",
        )
        .bind(model.to_owned())
        .bind(after.map(|f| f.to_string()).unwrap_or_default())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let tenant = parse_col(r, "tenant_id", TenantId::parse)?;
            let id = parse_col(r, "id", FileId::parse)?;
            if let Some(f) = self.file(tenant, id).await? {
                out.push(f);
            }
        }
        Ok(out)
    }

    /// How many vectors of `model` `file` has (tests, progress).
    pub async fn vector_count(&self, tenant: TenantId, file: FileId, model: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM file_part_piece_vectors WHERE tenant_id = $1 AND file_id = $2 AND model = $3",
        )
        .bind(tenant.to_string())
        .bind(file.to_string())
        .bind(model.to_owned())
        .fetch_one(self.pool())
        .await?;
        Ok(n as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_through_bytes() {
        let v = vec![0.0, -1.5, f32::MIN_POSITIVE, 3.25e7];
        assert_eq!(from_bytes(&to_bytes(&v)), Some(v));
        assert_eq!(from_bytes(&[0, 0, 0]), None);
        assert_eq!(from_bytes(&[]), Some(vec![]));
    }
}
