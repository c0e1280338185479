//! Uploaded files (SPEC D1): one row per upload, tenant-scoped. The content lives in the blob
//! store under the row's `sha256`; several rows of a tenant may share it, so deleting a row
//! answers whether the blob is still needed.

use docwright_core::id::{FileId, PartId, TenantId, UserId};
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
    /// `pending → running → done | failed` (SPEC D2).
    pub extraction_status: String,
    /// What happened to extraction and thumbnail (all `None`/empty until it ran).
    pub extraction: ExtractionInfo,
    /// The e-mail this file was attached to.
    pub parent_file_id: Option<FileId>,
}

/// The state of a file's extraction beyond its status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractionInfo {
    /// Stable code of the failure (`encrypted`, `timed_out`, ...).
    pub error: Option<String>,
    /// The failure in words.
    pub message: Option<String>,
    /// What was recovered around on success.
    pub warnings: Vec<String>,
    pub attempts: u32,
    pub started_at: Option<Timestamp>,
    /// When the last run ended; kept while a new run is under way, so `None` means the file was
    /// never extracted.
    pub finished_at: Option<Timestamp>,
    /// Pages, slides or sheets of the source.
    pub units: Option<u32>,
    /// The PNG preview's blob.
    pub thumbnail_sha256: Option<String>,
}

/// A content part's row (SPEC W3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRecord {
    pub id: PartId,
    pub file_id: FileId,
    /// Position in the document, from 0.
    pub seq: u32,
    /// `text | table | image | binary | reference`.
    pub type_group: String,
    pub mime_type: String,
    pub label: Option<String>,
    pub level: Option<u8>,
    /// The searchable, model-readable form.
    pub text: String,
    /// A table's cells as a JSON array of arrays of strings.
    pub rows_json: Option<String>,
    /// `text | ocr | table`.
    pub method: String,
    pub page: Option<u32>,
    pub slide: Option<u32>,
    pub sheet: Option<String>,
    pub row_start: Option<u32>,
    pub row_end: Option<u32>,
    /// An image part's bytes: a blob of the tenant.
    pub data_sha256: Option<String>,
    pub data_size: Option<u64>,
}

/// How an extraction ended, as the worker reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtractionEnd {
    Done { parts: Vec<PartRecord>, warnings: Vec<String>, units: Option<u32> },
    Failed { code: String, message: String },
}

/// How a run whose parts were stored in batches ended (see [`Db::finish_stored_extraction`]).
#[derive(Debug, Clone, Copy)]
pub struct StoredRun<'a> {
    pub warnings: &'a [String],
    /// Pages, slides or sheets of the source.
    pub units: Option<u32>,
    /// The PNG preview's blob.
    pub thumbnail_sha256: Option<&'a str>,
}

/// What asking for a re-run found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rerun {
    /// Set pending; a worker will pick it up.
    Queued,
    NotFound,
}

const COLS: &str = "id, tenant_id, owner_id, file_name, mime_type, file_size, sha256, md5, created_at, \
     extraction_status, extraction_error, extraction_message, extraction_warnings, extraction_attempts, \
     extraction_started_at, extraction_finished_at, units, thumbnail_sha256, parent_file_id";

const PART_COLS: &str = "id, file_id, seq, type_group, mime_type, label, level, text, rows_json, method, page, \
     slide, sheet, row_start, row_end, data_sha256, data_size";

/// Where a blob of a tenant may be named: a file's content, a thumbnail, an image part.
const BLOB_REFERENCED: &str = "SELECT (SELECT COUNT(*) FROM files WHERE tenant_id = $1 AND sha256 = $2) \
     + (SELECT COUNT(*) FROM files WHERE tenant_id = $1 AND thumbnail_sha256 = $2) \
     + (SELECT COUNT(*) FROM file_parts WHERE tenant_id = $1 AND data_sha256 = $2)";

impl Db {
    pub async fn insert_file(&self, f: &FileRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO files (id, tenant_id, owner_id, file_name, mime_type, file_size, sha256, md5, created_at, \
             extraction_status, parent_file_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
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
        .bind(f.parent_file_id.map(|p| p.to_string()))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Sets a file's type when its producer knows it better than the magic bytes do (a
    /// rendered DOCX is a zip to a sniffer).
    pub async fn set_file_mime(&self, tenant: TenantId, id: FileId, mime_type: &str) -> Result<()> {
        sqlx::query("UPDATE files SET mime_type = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(mime_type.to_owned())
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(self.writer())
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

    /// Deletes a file of `tenant` with its parts. `None` when there was none; else the blobs
    /// it named (content, thumbnail, image parts), each with whether another record of the
    /// tenant still names it (then the blob must stay).
    pub async fn delete_file(&self, tenant: TenantId, id: FileId) -> Result<Option<Vec<Deleted>>> {
        // On the writer, and starting with a write: SQLite takes its write lock up front (and
        // waits for it under busy_timeout) instead of failing to upgrade a read.
        let mut tx = self.writer().begin().await?;
        let parts: Vec<Option<String>> =
            sqlx::query_scalar("DELETE FROM file_parts WHERE tenant_id = $1 AND file_id = $2 RETURNING data_sha256")
                .bind(tenant.to_string())
                .bind(id.to_string())
                .fetch_all(&mut *tx)
                .await?;
        let mut named: Vec<String> = parts.into_iter().flatten().collect();
        let row = sqlx::query("DELETE FROM files WHERE tenant_id = $1 AND id = $2 RETURNING sha256, thumbnail_sha256")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        named.push(row.try_get("sha256")?);
        named.extend(row.try_get::<Option<String>, _>("thumbnail_sha256")?);
        named.sort();
        named.dedup();
        let mut out = Vec::with_capacity(named.len());
        for sha256 in named {
            let n: i64 = sqlx::query_scalar(BLOB_REFERENCED)
                .bind(tenant.to_string())
                .bind(sha256.clone())
                .fetch_one(&mut *tx)
                .await?;
            out.push(Deleted { sha256, still_referenced: n > 0 });
        }
        tx.commit().await?;
        Ok(Some(out))
    }

    /// Whether any record of `tenant` names this blob (as content, thumbnail or image part).
    pub async fn file_content_referenced(&self, tenant: TenantId, sha256: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(BLOB_REFERENCED)
            .bind(tenant.to_string())
            .bind(sha256.to_owned())
            .fetch_one(self.pool())
            .await?;
        Ok(n > 0)
    }

    /// Claims the oldest pending extraction for process `instance`: it becomes `running`.
    pub async fn claim_extraction(&self, instance: &str, now: Timestamp) -> Result<Option<FileRecord>> {
        // Two replicas may pick the same candidate; the status condition lets one win (the other
        // updates nothing and looks again).
        for _ in 0..8 {
            let candidate: Option<String> = sqlx::query_scalar(
                "SELECT id FROM files WHERE extraction_status = 'pending' ORDER BY created_at, id LIMIT 1",
            )
            .fetch_optional(self.pool())
            .await?;
            let Some(id) = candidate else { return Ok(None) };
            let sql = format!(
                "UPDATE files SET extraction_status = 'running', extraction_claimed_by = $1, \
                 extraction_started_at = $2, extraction_attempts = extraction_attempts + 1 \
                 WHERE id = $3 AND extraction_status = 'pending' RETURNING {COLS}"
            );
            let row = sqlx::query(trusted(sql))
                .bind(instance.to_owned())
                .bind(now.millis())
                .bind(id)
                .fetch_optional(self.writer())
                .await?;
            if let Some(row) = row {
                return from_row(&row).map(Some);
            }
        }
        Ok(None)
    }

    /// Records how the extraction claimed by `instance` ended: parts replace any earlier ones,
    /// in one transaction. `false` when the claim was lost (the file was deleted, or its run
    /// was handed to another process): then nothing is written.
    pub async fn finish_extraction(
        &self,
        tenant: TenantId,
        file: FileId,
        instance: &str,
        end: &ExtractionEnd,
        thumbnail_sha256: Option<&str>,
        now: Timestamp,
    ) -> Result<bool> {
        let mut tx = self.writer().begin().await?;
        let (status, code, message, warnings, units) = match end {
            ExtractionEnd::Done { warnings, units, .. } => (
                "done",
                None,
                None,
                Some(serde_json::to_string(warnings).map_err(|e| crate::Error::Corrupt(e.to_string()))?),
                units.map(i64::from),
            ),
            ExtractionEnd::Failed { code, message } => {
                ("failed", Some(code.clone()), Some(message.clone()), None, None)
            }
        };
        let updated = sqlx::query(
            "UPDATE files SET extraction_status = $1, extraction_error = $2, extraction_message = $3, \
             extraction_warnings = $4, units = $5, thumbnail_sha256 = COALESCE($6, thumbnail_sha256), \
             extraction_finished_at = $7, extraction_claimed_by = NULL \
             WHERE tenant_id = $8 AND id = $9 AND extraction_status = 'running' AND extraction_claimed_by = $10",
        )
        .bind(status)
        .bind(code)
        .bind(message)
        .bind(warnings)
        .bind(units)
        .bind(thumbnail_sha256.map(str::to_owned))
        .bind(now.millis())
        .bind(tenant.to_string())
        .bind(file.to_string())
        .bind(instance.to_owned())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM file_parts WHERE tenant_id = $1 AND file_id = $2")
            .bind(tenant.to_string())
            .bind(file.to_string())
            .execute(&mut *tx)
            .await?;
        if let ExtractionEnd::Done { parts, .. } = end {
            insert_parts(&mut tx, tenant, file, parts, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Stores a batch of the parts of the extraction `instance` claimed, in a transaction of
    /// its own, so that a file of a million rows is written batch by batch rather than held
    /// whole. The first batch of a run (`first`) replaces the file's earlier parts. `false`
    /// when the claim was lost (a re-run or a dead claimer's take-over): nothing is written,
    /// and the run should stop. The claim is checked on the file's row, locked for the
    /// transaction (PostgreSQL `FOR UPDATE`; SQLite's writer lock), so a batch cannot slip in
    /// after another process took the file over. Finish with [`Db::finish_stored_extraction`].
    pub async fn store_parts(
        &self,
        tenant: TenantId,
        file: FileId,
        instance: &str,
        first: bool,
        parts: &[PartRecord],
        now: Timestamp,
    ) -> Result<bool> {
        let mut tx = self.writer().begin().await?;
        // SQLite: a write first takes the lock up front; PostgreSQL: the row lock.
        let lock = match self.backend() {
            crate::Backend::Sqlite => {
                "UPDATE files SET extraction_claimed_by = extraction_claimed_by WHERE tenant_id = $1 AND id = $2 \
                 AND extraction_status = 'running' AND extraction_claimed_by = $3 RETURNING id"
            }
            crate::Backend::Postgres => {
                "SELECT id FROM files WHERE tenant_id = $1 AND id = $2 AND extraction_status = 'running' \
                 AND extraction_claimed_by = $3 FOR UPDATE"
            }
        };
        let held: Option<String> = sqlx::query_scalar(lock)
            .bind(tenant.to_string())
            .bind(file.to_string())
            .bind(instance.to_owned())
            .fetch_optional(&mut *tx)
            .await?;
        if held.is_none() {
            tx.rollback().await?;
            return Ok(false);
        }
        if first {
            sqlx::query("DELETE FROM file_parts WHERE tenant_id = $1 AND file_id = $2")
                .bind(tenant.to_string())
                .bind(file.to_string())
                .execute(&mut *tx)
                .await?;
        }
        insert_parts(&mut tx, tenant, file, parts, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Ends a run whose parts went in with [`Db::store_parts`]: the file is `done` with these
    /// warnings and units. `false` when the claim was lost (then the run's parts are another
    /// run's to replace).
    pub async fn finish_stored_extraction(
        &self,
        tenant: TenantId,
        file: FileId,
        instance: &str,
        run: &StoredRun<'_>,
        now: Timestamp,
    ) -> Result<bool> {
        let StoredRun { warnings, units, thumbnail_sha256 } = *run;
        let warnings = serde_json::to_string(warnings).map_err(|e| crate::Error::Corrupt(e.to_string()))?;
        let updated = sqlx::query(
            "UPDATE files SET extraction_status = 'done', extraction_error = NULL, extraction_message = NULL, \
             extraction_warnings = $1, units = $2, thumbnail_sha256 = COALESCE($3, thumbnail_sha256), \
             extraction_finished_at = $4, extraction_claimed_by = NULL \
             WHERE tenant_id = $5 AND id = $6 AND extraction_status = 'running' AND extraction_claimed_by = $7",
        )
        .bind(warnings)
        .bind(units.map(i64::from))
        .bind(thumbnail_sha256.map(str::to_owned))
        .bind(now.millis())
        .bind(tenant.to_string())
        .bind(file.to_string())
        .bind(instance.to_owned())
        .execute(self.writer())
        .await?
        .rows_affected();
        Ok(updated > 0)
    }

    /// Asks for the extraction of a file of `tenant` to run again. A run in progress loses its
    /// claim (what it finishes is discarded) and the file is queued afresh.
    pub async fn rerun_extraction(&self, tenant: TenantId, file: FileId) -> Result<Rerun> {
        let updated = sqlx::query(
            "UPDATE files SET extraction_status = 'pending', extraction_error = NULL, extraction_message = NULL, \
             extraction_claimed_by = NULL, extraction_attempts = 0 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.to_string())
        .bind(file.to_string())
        .execute(self.writer())
        .await?
        .rows_affected();
        Ok(if updated > 0 { Rerun::Queued } else { Rerun::NotFound })
    }

    /// Extractions claimed by processes that stopped beating before `dead_before`: back to
    /// pending, or failed (`worker_lost`) once `max_attempts` runs were started. Answers
    /// (requeued, failed).
    pub async fn requeue_orphaned_extractions(&self, dead_before: Timestamp, max_attempts: u32) -> Result<(u64, u64)> {
        let orphaned = "extraction_status = 'running' AND (extraction_claimed_by IS NULL \
             OR extraction_claimed_by NOT IN (SELECT id FROM instances WHERE heartbeat_at >= $1))";
        let failed = sqlx::query(trusted(format!(
            "UPDATE files SET extraction_status = 'failed', extraction_error = 'worker_lost', \
             extraction_message = 'the extraction ended its process ' || CAST(extraction_attempts AS TEXT) || ' times', \
             extraction_claimed_by = NULL WHERE {orphaned} AND extraction_attempts >= $2"
        )))
        .bind(dead_before.millis())
        .bind(i64::from(max_attempts))
        .execute(self.writer())
        .await?
        .rows_affected();
        let requeued = sqlx::query(trusted(format!(
            "UPDATE files SET extraction_status = 'pending', extraction_claimed_by = NULL WHERE {orphaned}"
        )))
        .bind(dead_before.millis())
        .execute(self.writer())
        .await?
        .rows_affected();
        Ok((requeued, failed))
    }

    /// Hands the extractions `instance` runs back to the queue (it is shutting down); the
    /// interrupted run does not count as an attempt.
    pub async fn release_extractions(&self, instance: &str) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE files SET extraction_status = 'pending', extraction_claimed_by = NULL, \
             extraction_attempts = extraction_attempts - 1 \
             WHERE extraction_status = 'running' AND extraction_claimed_by = $1",
        )
        .bind(instance.to_owned())
        .execute(self.writer())
        .await?
        .rows_affected())
    }

    /// The content parts of a file of `tenant`, in document order.
    pub async fn file_parts(&self, tenant: TenantId, file: FileId) -> Result<Vec<PartRecord>> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = self.file_parts_page(tenant, file, after, 1000).await?;
            after = page.items.last().map(|p| p.seq);
            all.extend(page.items);
            if !page.has_more {
                return Ok(all);
            }
        }
    }

    /// One page of a file's parts in document order: at most `limit` parts after position
    /// `after_seq` (from the start when `None`).
    pub async fn file_parts_page(
        &self,
        tenant: TenantId,
        file: FileId,
        after_seq: Option<u32>,
        limit: u32,
    ) -> Result<crate::Page<PartRecord>> {
        let sql = format!(
            "SELECT {PART_COLS} FROM file_parts WHERE tenant_id = $1 AND file_id = $2 AND seq > $3 ORDER BY seq LIMIT $4"
        );
        let rows = sqlx::query(trusted(sql))
            .bind(tenant.to_string())
            .bind(file.to_string())
            .bind(after_seq.map_or(-1, i64::from))
            .bind(i64::from(limit) + 1)
            .fetch_all(self.pool())
            .await?;
        let items = rows.iter().map(part_from_row).collect::<Result<Vec<_>>>()?;
        Ok(crate::Page::from_rows(items, crate::PageRequest { after: None, limit }))
    }

    /// One content part of a file of `tenant`.
    pub async fn file_part(&self, tenant: TenantId, file: FileId, part: PartId) -> Result<Option<PartRecord>> {
        let sql = format!("SELECT {PART_COLS} FROM file_parts WHERE tenant_id = $1 AND file_id = $2 AND id = $3");
        let row = sqlx::query(trusted(sql))
            .bind(tenant.to_string())
            .bind(file.to_string())
            .bind(part.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(part_from_row).transpose()
    }

    /// Files attached to `parent` (an e-mail's attachments).
    /// The most recently extracted other file of `tenant` with the same bytes and type as
    /// `file` whose extraction is done: its parts can stand for `file`'s.
    pub async fn extraction_donor(&self, file: &FileRecord) -> Result<Option<FileRecord>> {
        let sql = format!(
            "SELECT {COLS} FROM files WHERE tenant_id = $1 AND sha256 = $2 AND mime_type = $3 AND id <> $4 \
             AND extraction_status = 'done' ORDER BY extraction_finished_at DESC, id DESC LIMIT 1"
        );
        let row = sqlx::query(trusted(sql))
            .bind(file.tenant_id.to_string())
            .bind(file.sha256.clone())
            .bind(file.mime_type.clone())
            .bind(file.id.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn child_files(&self, tenant: TenantId, parent: FileId) -> Result<Vec<FileRecord>> {
        let sql = format!("SELECT {COLS} FROM files WHERE tenant_id = $1 AND parent_file_id = $2 ORDER BY id");
        let rows =
            sqlx::query(trusted(sql)).bind(tenant.to_string()).bind(parent.to_string()).fetch_all(self.pool()).await?;
        rows.iter().map(from_row).collect()
    }
}

/// Characters of one search piece, and how far apart pieces start: consecutive pieces overlap
/// by the difference, so a word that a cut would split is whole in one of them (see migration
/// 0010). The migrations cut the parts stored before them the same way.
pub const PIECE_CHARS: usize = 8192;
pub const PIECE_STEP: usize = 8000;

/// The search pieces of a text: `(start, end)` byte ranges, each at most [`PIECE_CHARS`]
/// characters, starting every [`PIECE_STEP`] characters. None for an empty text.
pub fn pieces(text: &str) -> Vec<(usize, usize)> {
    let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).chain(std::iter::once(text.len())).collect();
    let chars = bounds.len() - 1;
    let mut out = Vec::new();
    let mut start = 0;
    while start < chars {
        out.push((bounds[start], bounds[(start + PIECE_CHARS).min(chars)]));
        start += PIECE_STEP;
    }
    out
}

/// Inserts parts and their search pieces within `tx`.
async fn insert_parts(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: TenantId,
    file: FileId,
    parts: &[PartRecord],
    now: Timestamp,
) -> Result<()> {
    for p in parts {
        sqlx::query(
            "INSERT INTO file_parts (id, tenant_id, file_id, seq, type_group, mime_type, label, level, text, \
             rows_json, method, page, slide, sheet, row_start, row_end, data_sha256, data_size, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
        )
        .bind(p.id.to_string())
        .bind(tenant.to_string())
        .bind(file.to_string())
        .bind(i64::from(p.seq))
        .bind(p.type_group.clone())
        .bind(p.mime_type.clone())
        .bind(p.label.clone())
        .bind(p.level.map(i64::from))
        .bind(p.text.clone())
        .bind(p.rows_json.clone())
        .bind(p.method.clone())
        .bind(p.page.map(i64::from))
        .bind(p.slide.map(i64::from))
        .bind(p.sheet.clone())
        .bind(p.row_start.map(i64::from))
        .bind(p.row_end.map(i64::from))
        .bind(p.data_sha256.clone())
        .bind(p.data_size.map(|n| i64::try_from(n).unwrap_or(i64::MAX)))
        .bind(now.millis())
        .execute(&mut **tx)
        .await?;
        for (n, (start, end)) in pieces(&p.text).into_iter().enumerate() {
            sqlx::query(
                "INSERT INTO file_part_pieces (part_id, piece, tenant_id, file_id, text) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(p.id.to_string())
            .bind(i64::try_from(n).unwrap_or(i64::MAX))
            .bind(tenant.to_string())
            .bind(file.to_string())
            .bind(p.text[start..end].to_owned())
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
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
        extraction: ExtractionInfo {
            error: r.try_get("extraction_error")?,
            message: r.try_get("extraction_message")?,
            warnings: match r.try_get::<Option<String>, _>("extraction_warnings")? {
                Some(json) => serde_json::from_str(&json)
                    .map_err(|e| crate::Error::Corrupt(format!("column extraction_warnings: {e}")))?,
                None => Vec::new(),
            },
            attempts: opt_u32(r, "extraction_attempts")?.unwrap_or(0),
            started_at: r.try_get::<Option<i64>, _>("extraction_started_at")?.map(Timestamp::from_millis),
            finished_at: r.try_get::<Option<i64>, _>("extraction_finished_at")?.map(Timestamp::from_millis),
            units: opt_u32(r, "units")?,
            thumbnail_sha256: r.try_get("thumbnail_sha256")?,
        },
        parent_file_id: match r.try_get::<Option<String>, _>("parent_file_id")? {
            Some(s) => {
                Some(FileId::parse(&s).map_err(|e| crate::Error::Corrupt(format!("column parent_file_id: {e}")))?)
            }
            None => None,
        },
    })
}

fn opt_u32(r: &AnyRow, col: &str) -> Result<Option<u32>> {
    r.try_get::<Option<i64>, _>(col)?
        .map(|n| u32::try_from(n).map_err(|e| crate::Error::Corrupt(format!("column {col}: {e}"))))
        .transpose()
}

fn part_from_row(r: &AnyRow) -> Result<PartRecord> {
    Ok(PartRecord {
        id: parse_col(r, "id", PartId::parse)?,
        file_id: parse_col(r, "file_id", FileId::parse)?,
        seq: opt_u32(r, "seq")?.unwrap_or(0),
        type_group: r.try_get("type_group")?,
        mime_type: r.try_get("mime_type")?,
        label: r.try_get("label")?,
        level: opt_u32(r, "level")?.map(|n| u8::try_from(n).unwrap_or(u8::MAX)),
        text: r.try_get("text")?,
        rows_json: r.try_get("rows_json")?,
        method: r.try_get("method")?,
        page: opt_u32(r, "page")?,
        slide: opt_u32(r, "slide")?,
        sheet: r.try_get("sheet")?,
        row_start: opt_u32(r, "row_start")?,
        row_end: opt_u32(r, "row_end")?,
        data_sha256: r.try_get("data_sha256")?,
        data_size: r.try_get::<Option<i64>, _>("data_size")?.map(|n| u64::try_from(n).unwrap_or(0)),
    })
}
