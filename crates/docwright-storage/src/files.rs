//! Uploaded files (SPEC D1): one row per upload, tenant-scoped. The content lives in the blob
//! store under the row's `sha256`; several rows of a tenant may share it, so deleting a row
//! answers whether the blob is still needed.

use docwright_core::id::{FileId, TenantId, UserId};
use docwright_core::time::Timestamp;
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::{Db, Result, parse_col, trusted};

/// A file's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    pub id: FileId,
    pub tenant_id: TenantId,
    /// Who uploaded it.
    pub owner_id: UserId,
    /// The name the client gave; shown and used for downloads, never trusted for the type.
    pub file_name: String,
    /// From the content's magic bytes.
    pub mime_type: String,
    pub file_size: u64,
    /// Lower-case hex; the blob's address within the tenant.
    pub sha256: String,
    /// Lower-case hex.
    pub md5: String,
    pub created_at: Timestamp,
    /// `pending` until extraction (SPEC D2) has run.
    pub extraction_status: String,
}

const COLS: &str =
    "id, tenant_id, owner_id, file_name, mime_type, file_size, sha256, md5, created_at, extraction_status";

impl Db {
    pub async fn insert_file(&self, f: &FileRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO files (id, tenant_id, owner_id, file_name, mime_type, file_size, sha256, md5, created_at, \
             extraction_status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(f.id.to_string())
        .bind(f.tenant_id.to_string())
        .bind(f.owner_id.to_string())
        .bind(f.file_name.clone())
        .bind(f.mime_type.clone())
        .bind(i64::try_from(f.file_size).unwrap_or(i64::MAX))
        .bind(f.sha256.clone())
        .bind(f.md5.clone())
        .bind(f.created_at.millis())
        .bind(f.extraction_status.clone())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A file of `tenant`.
    pub async fn file(&self, tenant: TenantId, id: FileId) -> Result<Option<FileRecord>> {
        let sql = format!("SELECT {COLS} FROM files WHERE tenant_id = $1 AND id = $2");
        let row =
            sqlx::query(trusted(sql)).bind(tenant.to_string()).bind(id.to_string()).fetch_optional(self.pool()).await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Deletes a file of `tenant`. `None` when there was none; else whether another record of
    /// the tenant still names the same content (then its blob must stay).
    pub async fn delete_file(&self, tenant: TenantId, id: FileId) -> Result<Option<Deleted>> {
        let mut tx = self.pool().begin().await?;
        let sha: Option<String> =
            sqlx::query_scalar("DELETE FROM files WHERE tenant_id = $1 AND id = $2 RETURNING sha256")
                .bind(tenant.to_string())
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        let Some(sha256) = sha else { return Ok(None) };
        let others: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM files WHERE tenant_id = $1 AND sha256 = $2")
            .bind(tenant.to_string())
            .bind(sha256.clone())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(Deleted { sha256, still_referenced: others > 0 }))
    }

    /// Whether any record of `tenant` names this content.
    pub async fn file_content_referenced(&self, tenant: TenantId, sha256: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM files WHERE tenant_id = $1 AND sha256 = $2")
            .bind(tenant.to_string())
            .bind(sha256.to_owned())
            .fetch_one(self.pool())
            .await?;
        Ok(n > 0)
    }
}

/// What [`Db::delete_file`] removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    pub sha256: String,
    /// Another record of the tenant has the same content.
    pub still_referenced: bool,
}

fn from_row(r: &AnyRow) -> Result<FileRecord> {
    let size: i64 = r.try_get("file_size")?;
    Ok(FileRecord {
        id: parse_col(r, "id", FileId::parse)?,
        tenant_id: parse_col(r, "tenant_id", TenantId::parse)?,
        owner_id: parse_col(r, "owner_id", UserId::parse)?,
        file_name: r.try_get("file_name")?,
        mime_type: r.try_get("mime_type")?,
        file_size: u64::try_from(size).map_err(|e| crate::Error::Corrupt(format!("column file_size: {e}")))?,
        sha256: r.try_get("sha256")?,
        md5: r.try_get("md5")?,
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
        extraction_status: r.try_get("extraction_status")?,
    })
}
