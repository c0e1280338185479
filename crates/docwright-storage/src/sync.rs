//! CRM document sync (SPEC Y1–Y4, migration 0018): sources, their events and each synced
//! document's state with its lock.
//!
//! A webhook's records are stored with [`WriteTx::insert_sync_event`] (once per digest: the same
//! delivery twice stores nothing the second time) in the transaction that enqueues their jobs,
//! so an acknowledged event is never lost. A worker takes a document with
//! [`Db::lock_sync_document`], a conditional update that succeeds for one holder at a time across
//! replicas and again for anyone once `lock_until` has passed, and gives it back with
//! [`Db::unlock_sync_document`], which only the holder's token can do.

use docwright_core::id::{SyncEventId, SyncSourceId, TenantId, UserId};
use docwright_core::time::Timestamp;
use serde_json::Value;
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::{Db, Error, Page, PageRequest, Result, WriteTx, parse_col, trusted};

/// A stored source. The secrets are the engine's sealed strings.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRecord {
    pub id: SyncSourceId,
    pub tenant_id: TenantId,
    pub name: String,
    /// `espocrm`.
    pub kind: String,
    pub base_url: String,
    pub api_key: String,
    /// The EspoCRM webhook id a signature must name, when set.
    pub webhook_id: Option<String>,
    pub webhook_secret: String,
    pub xai_api_key: Option<String>,
    pub xai_management_key: Option<String>,
    /// Entity type, field map, status values, links and sinks (the engine's shape).
    pub settings: Value,
    /// The user whose files the synced documents become.
    pub owner_id: UserId,
    pub active: bool,
    pub reconciled_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    pub id: SyncEventId,
    pub source_id: SyncSourceId,
    pub tenant_id: TenantId,
    pub entity_id: String,
    /// `create`, `update`, `delete`, `reconcile` or `resync`.
    pub action: String,
    pub digest: String,
    pub payload: Value,
    pub received_at: Timestamp,
}

/// A synced document's state.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentRecord {
    pub source_id: SyncSourceId,
    pub entity_id: String,
    pub tenant_id: TenantId,
    /// `pending`, `syncing`, `synced`, `failed` or `deleted`.
    pub state: String,
    pub file_id: Option<String>,
    pub sha256: Option<String>,
    pub md5: Option<String>,
    pub xai_file_id: Option<String>,
    /// xAI collection ids the document is in.
    pub xai_collections: Vec<String>,
    /// docwright collection ids the document is in.
    pub collections: Vec<String>,
    /// The content hash of the preview last written to the CRM.
    pub preview_sha256: Option<String>,
    /// The CRM's `modifiedAt` as last seen.
    pub remote_modified_at: Option<String>,
    pub last_event: Option<String>,
    pub last_event_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub attempts: i64,
    pub synced_at: Option<Timestamp>,
    /// When the last sync that ended read the CRM's record.
    pub read_at: Option<Timestamp>,
    pub updated_at: Timestamp,
}

impl DocumentRecord {
    /// A document first heard of: nothing synced yet.
    pub fn pending(source: SyncSourceId, tenant: TenantId, entity_id: &str) -> Self {
        Self {
            source_id: source,
            entity_id: entity_id.to_owned(),
            tenant_id: tenant,
            state: "pending".to_owned(),
            file_id: None,
            sha256: None,
            md5: None,
            xai_file_id: None,
            xai_collections: Vec::new(),
            collections: Vec::new(),
            preview_sha256: None,
            remote_modified_at: None,
            last_event: None,
            last_event_at: None,
            last_error: None,
            attempts: 0,
            synced_at: None,
            read_at: None,
            updated_at: Timestamp::now(),
        }
    }
}

const SOURCE_COLS: &str = "id, tenant_id, name, kind, base_url, api_key, webhook_id, webhook_secret, xai_api_key, \
     xai_management_key, settings, owner_id, active, reconciled_at, created_at, updated_at";

const DOCUMENT_COLS: &str = "source_id, entity_id, tenant_id, state, file_id, sha256, md5, xai_file_id, \
     xai_collections, collections, preview_sha256, remote_modified_at, last_event, last_event_at, last_error, \
     attempts, synced_at, read_at, updated_at";

fn json_col(r: &AnyRow, col: &str) -> Result<Value> {
    serde_json::from_str(&r.try_get::<String, _>(col)?).map_err(|e| Error::Corrupt(format!("{col}: {e}")))
}

fn list_col(r: &AnyRow, col: &str) -> Result<Vec<String>> {
    serde_json::from_str(&r.try_get::<String, _>(col)?).map_err(|e| Error::Corrupt(format!("{col}: {e}")))
}

fn opt_millis(r: &AnyRow, col: &str) -> Result<Option<Timestamp>> {
    Ok(r.try_get::<Option<i64>, _>(col)?.map(Timestamp::from_millis))
}

fn list_json(list: &[String]) -> String {
    Value::Array(list.iter().cloned().map(Value::String).collect()).to_string()
}

fn source_row(r: &AnyRow) -> Result<SourceRecord> {
    Ok(SourceRecord {
        id: parse_col(r, "id", SyncSourceId::parse)?,
        tenant_id: parse_col(r, "tenant_id", TenantId::parse)?,
        name: r.try_get("name")?,
        kind: r.try_get("kind")?,
        base_url: r.try_get("base_url")?,
        api_key: r.try_get("api_key")?,
        webhook_id: r.try_get("webhook_id")?,
        webhook_secret: r.try_get("webhook_secret")?,
        xai_api_key: r.try_get("xai_api_key")?,
        xai_management_key: r.try_get("xai_management_key")?,
        settings: json_col(r, "settings")?,
        owner_id: parse_col(r, "owner_id", UserId::parse)?,
        active: r.try_get::<i64, _>("active")? != 0,
        reconciled_at: opt_millis(r, "reconciled_at")?,
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
        updated_at: Timestamp::from_millis(r.try_get("updated_at")?),
    })
}

fn document_row(r: &AnyRow) -> Result<DocumentRecord> {
    Ok(DocumentRecord {
        source_id: parse_col(r, "source_id", SyncSourceId::parse)?,
        entity_id: r.try_get("entity_id")?,
        tenant_id: parse_col(r, "tenant_id", TenantId::parse)?,
        state: r.try_get("state")?,
        file_id: r.try_get("file_id")?,
        sha256: r.try_get("sha256")?,
        md5: r.try_get("md5")?,
        xai_file_id: r.try_get("xai_file_id")?,
        xai_collections: list_col(r, "xai_collections")?,
        collections: list_col(r, "collections")?,
        preview_sha256: r.try_get("preview_sha256")?,
        remote_modified_at: r.try_get("remote_modified_at")?,
        last_event: r.try_get("last_event")?,
        last_event_at: opt_millis(r, "last_event_at")?,
        last_error: r.try_get("last_error")?,
        attempts: r.try_get("attempts")?,
        synced_at: opt_millis(r, "synced_at")?,
        read_at: opt_millis(r, "read_at")?,
        updated_at: Timestamp::from_millis(r.try_get("updated_at")?),
    })
}

impl Db {
    pub async fn insert_sync_source(&self, s: &SourceRecord) -> Result<()> {
        let sql = format!(
            "INSERT INTO sync_sources ({SOURCE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
             $14, $15, $16)"
        );
        sqlx::query(trusted(sql))
            .bind(s.id.to_string())
            .bind(s.tenant_id.to_string())
            .bind(s.name.clone())
            .bind(s.kind.clone())
            .bind(s.base_url.clone())
            .bind(s.api_key.clone())
            .bind(s.webhook_id.clone())
            .bind(s.webhook_secret.clone())
            .bind(s.xai_api_key.clone())
            .bind(s.xai_management_key.clone())
            .bind(s.settings.to_string())
            .bind(s.owner_id.to_string())
            .bind(i64::from(s.active))
            .bind(s.reconciled_at.map(Timestamp::millis))
            .bind(s.created_at.millis())
            .bind(s.updated_at.millis())
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Replaces a source's connection, secrets, settings and state; answers whether it existed.
    pub async fn update_sync_source(&self, s: &SourceRecord) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE sync_sources SET name = $1, base_url = $2, api_key = $3, webhook_id = $4, webhook_secret = $5, \
             xai_api_key = $6, xai_management_key = $7, settings = $8, owner_id = $9, active = $10, updated_at = $11 \
             WHERE id = $12 AND tenant_id = $13",
        )
        .bind(s.name.clone())
        .bind(s.base_url.clone())
        .bind(s.api_key.clone())
        .bind(s.webhook_id.clone())
        .bind(s.webhook_secret.clone())
        .bind(s.xai_api_key.clone())
        .bind(s.xai_management_key.clone())
        .bind(s.settings.to_string())
        .bind(s.owner_id.to_string())
        .bind(i64::from(s.active))
        .bind(s.updated_at.millis())
        .bind(s.id.to_string())
        .bind(s.tenant_id.to_string())
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes a source with its events and document states; answers whether it existed.
    pub async fn delete_sync_source(&self, tenant: TenantId, id: SyncSourceId) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        for table in ["sync_events", "sync_documents"] {
            let sql = format!("DELETE FROM {table} WHERE source_id = $1");
            sqlx::query(trusted(sql)).bind(id.to_string()).execute(tx.conn()).await?;
        }
        let done = sqlx::query("DELETE FROM sync_sources WHERE id = $1 AND tenant_id = $2")
            .bind(id.to_string())
            .bind(tenant.to_string())
            .execute(tx.conn())
            .await?;
        if done.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// A source of `tenant`.
    pub async fn sync_source(&self, tenant: TenantId, id: SyncSourceId) -> Result<Option<SourceRecord>> {
        let sql = format!("SELECT {SOURCE_COLS} FROM sync_sources WHERE id = $1 AND tenant_id = $2");
        let row =
            sqlx::query(trusted(sql)).bind(id.to_string()).bind(tenant.to_string()).fetch_optional(self.pool()).await?;
        row.as_ref().map(source_row).transpose()
    }

    /// A source by id alone: a webhook names only its source, whose secret then proves it.
    pub async fn sync_source_any(&self, id: SyncSourceId) -> Result<Option<SourceRecord>> {
        let sql = format!("SELECT {SOURCE_COLS} FROM sync_sources WHERE id = $1");
        let row = sqlx::query(trusted(sql)).bind(id.to_string()).fetch_optional(self.pool()).await?;
        row.as_ref().map(source_row).transpose()
    }

    pub async fn sync_sources(&self, tenant: TenantId, page: PageRequest<'_>) -> Result<Page<SourceRecord>> {
        let sql =
            format!("SELECT {SOURCE_COLS} FROM sync_sources WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3");
        let rows = sqlx::query(trusted(sql))
            .bind(tenant.to_string())
            .bind(page.after_or_min())
            .bind(page.fetch_limit())
            .fetch_all(self.pool())
            .await?;
        let items = rows.iter().map(source_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page))
    }

    /// Active sources whose last reconcile is at or before `before` (or that never had one).
    pub async fn sync_sources_to_reconcile(&self, before: Timestamp) -> Result<Vec<SourceRecord>> {
        let sql = format!(
            "SELECT {SOURCE_COLS} FROM sync_sources WHERE active = 1 AND (reconciled_at IS NULL OR reconciled_at <= $1) \
             ORDER BY id"
        );
        let rows = sqlx::query(trusted(sql)).bind(before.millis()).fetch_all(self.pool()).await?;
        rows.iter().map(source_row).collect()
    }

    /// Claims a source's reconcile: moves `reconciled_at` from what the caller read to `now`;
    /// `false` when another replica did first.
    pub async fn claim_sync_reconcile(
        &self,
        id: SyncSourceId,
        seen: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE sync_sources SET reconciled_at = $1 WHERE id = $2 AND \
             ((reconciled_at IS NULL AND $3 = -1) OR reconciled_at = $3)",
        )
        .bind(now.millis())
        .bind(id.to_string())
        .bind(seen.map_or(-1, Timestamp::millis))
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A document's state.
    pub async fn sync_document(&self, source: SyncSourceId, entity_id: &str) -> Result<Option<DocumentRecord>> {
        let sql = format!("SELECT {DOCUMENT_COLS} FROM sync_documents WHERE source_id = $1 AND entity_id = $2");
        let row = sqlx::query(trusted(sql))
            .bind(source.to_string())
            .bind(entity_id.to_owned())
            .fetch_optional(self.writer())
            .await?;
        row.as_ref().map(document_row).transpose()
    }

    /// A source's documents by entity id, a page at a time.
    pub async fn sync_documents(&self, source: SyncSourceId, page: PageRequest<'_>) -> Result<Page<DocumentRecord>> {
        let sql = format!(
            "SELECT {DOCUMENT_COLS} FROM sync_documents WHERE source_id = $1 AND entity_id > $2 ORDER BY entity_id \
             LIMIT $3"
        );
        let rows = sqlx::query(trusted(sql))
            .bind(source.to_string())
            .bind(page.after_or_min())
            .bind(page.fetch_limit())
            .fetch_all(self.pool())
            .await?;
        let items = rows.iter().map(document_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page))
    }

    /// Every document of a source that is not deleted: entity id and the `modifiedAt` last seen.
    pub async fn live_sync_documents(&self, source: SyncSourceId) -> Result<Vec<(String, Option<String>)>> {
        let rows = sqlx::query(
            "SELECT entity_id, remote_modified_at FROM sync_documents WHERE source_id = $1 AND state <> 'deleted' \
             ORDER BY entity_id",
        )
        .bind(source.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok((r.try_get("entity_id")?, r.try_get("remote_modified_at")?))).collect()
    }

    /// Writes a document's state after a worker's step (all but the lock).
    pub async fn store_sync_document(&self, d: &DocumentRecord) -> Result<()> {
        sqlx::query(
            "UPDATE sync_documents SET state = $1, file_id = $2, sha256 = $3, md5 = $4, xai_file_id = $5, \
             xai_collections = $6, collections = $7, preview_sha256 = $8, remote_modified_at = $9, last_error = $10, \
             attempts = $11, synced_at = $12, read_at = $13, updated_at = $14 WHERE source_id = $15 AND entity_id = $16",
        )
        .bind(d.state.clone())
        .bind(d.file_id.clone())
        .bind(d.sha256.clone())
        .bind(d.md5.clone())
        .bind(d.xai_file_id.clone())
        .bind(list_json(&d.xai_collections))
        .bind(list_json(&d.collections))
        .bind(d.preview_sha256.clone())
        .bind(d.remote_modified_at.clone())
        .bind(d.last_error.clone())
        .bind(d.attempts)
        .bind(d.synced_at.map(Timestamp::millis))
        .bind(d.read_at.map(Timestamp::millis))
        .bind(Timestamp::now().millis())
        .bind(d.source_id.to_string())
        .bind(d.entity_id.clone())
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Takes a document's lock for `holder` until `until`: `true` when it was free (or its
    /// holder's time had passed, or `holder` has it already).
    pub async fn lock_sync_document(
        &self,
        source: SyncSourceId,
        entity_id: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE sync_documents SET lock_owner = $1, lock_until = $2 WHERE source_id = $3 AND entity_id = $4 AND \
             (lock_owner IS NULL OR lock_owner = $1 OR lock_until < $5)",
        )
        .bind(holder.to_owned())
        .bind(until.millis())
        .bind(source.to_string())
        .bind(entity_id.to_owned())
        .bind(now.millis())
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives a document's lock back; only its holder can.
    pub async fn unlock_sync_document(&self, source: SyncSourceId, entity_id: &str, holder: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE sync_documents SET lock_owner = NULL, lock_until = NULL WHERE source_id = $1 AND entity_id = $2 \
             AND lock_owner = $3",
        )
        .bind(source.to_string())
        .bind(entity_id.to_owned())
        .bind(holder.to_owned())
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The holder of a document's lock, if any (for tests and the listing).
    pub async fn sync_document_lock(
        &self,
        source: SyncSourceId,
        entity_id: &str,
    ) -> Result<Option<(String, Timestamp)>> {
        let row =
            sqlx::query("SELECT lock_owner, lock_until FROM sync_documents WHERE source_id = $1 AND entity_id = $2")
                .bind(source.to_string())
                .bind(entity_id.to_owned())
                .fetch_optional(self.writer())
                .await?;
        let Some(row) = row else { return Ok(None) };
        let owner: Option<String> = row.try_get("lock_owner")?;
        let until: Option<i64> = row.try_get("lock_until")?;
        Ok(owner.zip(until.map(Timestamp::from_millis)))
    }

    /// A source's events of one document, newest first (at most `limit`).
    pub async fn sync_events(&self, source: SyncSourceId, entity_id: &str, limit: u32) -> Result<Vec<EventRecord>> {
        let rows = sqlx::query(
            "SELECT id, source_id, tenant_id, entity_id, action, digest, payload, received_at FROM sync_events \
             WHERE source_id = $1 AND entity_id = $2 ORDER BY received_at DESC, id DESC LIMIT $3",
        )
        .bind(source.to_string())
        .bind(entity_id.to_owned())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(EventRecord {
                    id: parse_col(r, "id", SyncEventId::parse)?,
                    source_id: parse_col(r, "source_id", SyncSourceId::parse)?,
                    tenant_id: parse_col(r, "tenant_id", TenantId::parse)?,
                    entity_id: r.try_get("entity_id")?,
                    action: r.try_get("action")?,
                    digest: r.try_get("digest")?,
                    payload: json_col(r, "payload")?,
                    received_at: Timestamp::from_millis(r.try_get("received_at")?),
                })
            })
            .collect()
    }
}

impl WriteTx {
    /// Stores an event and notes it on its document (created `pending` when first heard of);
    /// `false` when an event with its digest is stored already (a duplicate delivery).
    pub async fn insert_sync_event(&mut self, e: &EventRecord) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO sync_events (id, source_id, tenant_id, entity_id, action, digest, payload, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (source_id, digest) DO NOTHING",
        )
        .bind(e.id.to_string())
        .bind(e.source_id.to_string())
        .bind(e.tenant_id.to_string())
        .bind(e.entity_id.clone())
        .bind(e.action.clone())
        .bind(e.digest.clone())
        .bind(e.payload.to_string())
        .bind(e.received_at.millis())
        .execute(self.conn())
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        let fresh = DocumentRecord::pending(e.source_id, e.tenant_id, &e.entity_id);
        sqlx::query(
            "INSERT INTO sync_documents (source_id, entity_id, tenant_id, state, xai_collections, collections, \
             last_event, last_event_at, attempts, updated_at) VALUES ($1, $2, $3, $4, '[]', '[]', $5, $6, 0, $7) \
             ON CONFLICT (source_id, entity_id) DO UPDATE SET last_event = excluded.last_event, \
             last_event_at = excluded.last_event_at",
        )
        .bind(fresh.source_id.to_string())
        .bind(fresh.entity_id.clone())
        .bind(fresh.tenant_id.to_string())
        .bind(fresh.state.clone())
        .bind(e.action.clone())
        .bind(e.received_at.millis())
        .bind(e.received_at.millis())
        .execute(self.conn())
        .await?;
        Ok(true)
    }
}
