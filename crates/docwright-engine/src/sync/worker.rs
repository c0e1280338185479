//! The sync of one document (SPEC Y2–Y4), a job of kind [`super::JOB_KIND`].
//!
//! Under the document's lock (one worker at a time across replicas, renewed between steps,
//! released at the end, free again after `[sync] lock_secs` when a worker died holding it):
//! load the record from EspoCRM — gone means deleted —, download its file, hash it (MD5,
//! SHA-256), store it as a file of the source owner's tenant when new or changed (so it is
//! extracted, thumbnailed and searchable like an upload), work out the collections from the
//! related records of the configured links, put the file into the docwright collections it
//! belongs to and out of the others, upload it to xAI only when new or changed — adding the new
//! file to its collections before the old one is removed, so a collection is never without the
//! document —, attach the preview PNG, and write every outcome back under the CRM's own field
//! names. Only fields whose value differs are written, so the update webhook a write-back
//! causes finds nothing to do. A failure is retried with a doubling pause; the last one is
//! written back as the failed status with its message.

use std::collections::BTreeSet;
use std::time::Duration;

use docwright_core::id::{CollectionId, FileId};
use docwright_core::time::Timestamp;
use docwright_jobs::{JobContext, JobError};
use docwright_storage::sync::{DocumentRecord, SourceRecord};
use md5::Md5;
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncReadExt as _;

use super::{SourceSettings, hex};
use crate::access::Grant;
use crate::{Engine, Error};

/// How long a job waits for another worker's lock on its document before it tries again later.
const LOCK_POLL: Duration = Duration::from_millis(100);
const PREVIEW_POLL: Duration = Duration::from_millis(200);
/// Error text written back to the CRM at most.
const MAX_ERROR_CHARS: usize = 1000;

/// The queue's handler of [`super::JOB_KIND`].
pub struct SyncHandler(pub Engine);

impl docwright_jobs::Handler for SyncHandler {
    async fn run(&self, job: JobContext) -> std::result::Result<Value, JobError> {
        self.0.run_sync_job(&job).await
    }
}

#[derive(serde::Deserialize)]
struct Payload {
    source_id: String,
    entity_id: String,
    /// When the event was received (ms).
    #[serde(default)]
    received_at: i64,
}

/// Why a step failed, and whether trying again may help.
#[derive(Debug)]
struct Failure {
    message: String,
    retryable: bool,
    retry_after: Option<Duration>,
}

impl Failure {
    fn permanent(message: impl Into<String>) -> Self {
        Self { message: message.into(), retryable: false, retry_after: None }
    }
}

impl From<docwright_sync::Error> for Failure {
    fn from(e: docwright_sync::Error) -> Self {
        let retry_after = match &e {
            docwright_sync::Error::Http { retry_after, .. } => *retry_after,
            _ => None,
        };
        Self { retryable: e.is_retryable(), message: e.to_string(), retry_after }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let retryable = matches!(e, Error::Storage(_) | Error::Internal(_) | Error::Busy { .. });
        Self { message: e.to_string(), retryable, retry_after: None }
    }
}

impl From<docwright_storage::Error> for Failure {
    fn from(e: docwright_storage::Error) -> Self {
        Error::from(e).into()
    }
}

/// A collection the document belongs to, from one related record.
#[derive(Debug, Clone)]
struct Wanted {
    /// The docwright collection's key: source, link and related record.
    key: String,
    name: String,
    /// The related record's xAI collection, when it names one.
    xai: Option<String>,
}

impl Engine {
    pub(crate) async fn run_sync_job(&self, job: &JobContext) -> std::result::Result<Value, JobError> {
        let p: Payload = serde_json::from_value(job.payload().clone())
            .map_err(|e| JobError::permanent("bad_payload", format!("sync job payload: {e}")))?;
        let Some(tenant) = job.tenant() else { return Err(JobError::permanent("bad_payload", "no tenant")) };
        let source_id = docwright_core::id::SyncSourceId::parse(&p.source_id)
            .map_err(|e| JobError::permanent("bad_payload", format!("sync job source: {e}")))?;
        let source = match self.db.sync_source(tenant, source_id).await {
            Ok(Some(s)) => s,
            Ok(None) => return Ok(json!({"skipped": "the sync source was deleted"})),
            Err(e) => return Err(JobError::retryable("storage", e.to_string())),
        };
        if !source.active {
            return Ok(json!({"skipped": "the sync source is inactive"}));
        }
        let holder = job.attempt_id().to_owned();
        match self.wait_for_lock(&source, &p.entity_id, &holder).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(JobError::retryable("document_locked", "another worker is syncing this document")
                    .retry_after(Duration::from_secs(1)));
            }
            Err(e) => return Err(JobError::retryable("storage", e.to_string())),
        }
        // A sync that read the record after this event arrived has seen what it announced.
        let covered = match self.db.sync_document(source.id, &p.entity_id).await {
            Ok(Some(d)) => {
                matches!(d.state.as_str(), "synced" | "deleted")
                    && d.read_at.is_some_and(|r| r.millis() > p.received_at)
            }
            _ => false,
        };
        let outcome = if covered {
            Ok(json!({"entity_id": p.entity_id, "covered": "a later sync read the record after this event"}))
        } else {
            self.sync_document(&source, &p.entity_id, &holder).await
        };
        let result = match outcome {
            Ok(summary) => Ok(summary),
            Err(f) => Err(self.sync_failed(&source, &p.entity_id, job, f).await),
        };
        if let Err(e) = self.db.unlock_sync_document(source.id, &p.entity_id, &holder).await {
            tracing::warn!(source = %source.id, entity = %p.entity_id, error = %e, "a document lock was not released; it expires");
        }
        result
    }

    async fn wait_for_lock(&self, source: &SourceRecord, entity: &str, holder: &str) -> crate::Result<bool> {
        // As long as a holder may keep it: a sync waits its turn rather than spend attempts.
        let deadline = tokio::time::Instant::now() + self.sync.lock;
        loop {
            if self.hold_lock(source, entity, holder).await? {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(LOCK_POLL).await;
        }
    }

    /// Takes or renews the document's lock for another `[sync] lock_secs`.
    async fn hold_lock(&self, source: &SourceRecord, entity: &str, holder: &str) -> crate::Result<bool> {
        let now = Timestamp::now();
        let until = Timestamp::from_millis(
            now.millis().saturating_add(i64::try_from(self.sync.lock.as_millis()).unwrap_or(i64::MAX)),
        );
        Ok(self.db.lock_sync_document(source.id, entity, holder, now, until).await?)
    }

    async fn renew(&self, source: &SourceRecord, entity: &str, holder: &str) -> Result<(), Failure> {
        if self.hold_lock(source, entity, holder).await? {
            Ok(())
        } else {
            Err(Failure { message: "the document's lock was lost".into(), retryable: true, retry_after: None })
        }
    }

    /// Records a failed attempt; the last one (or one that cannot succeed) is written back to
    /// the CRM as the failed status with its message.
    async fn sync_failed(&self, source: &SourceRecord, entity: &str, job: &JobContext, f: Failure) -> JobError {
        let last = !f.retryable || job.attempt() >= job.max_attempts();
        let message: String = f.message.chars().take(MAX_ERROR_CHARS).collect();
        tracing::warn!(source = %source.id, entity, attempt = job.attempt(), last, error = %message, "a document sync failed");
        // The CRM hears of the end first, then the state says so (whoever reads `failed` finds
        // the CRM written).
        if last && let Err(e) = self.write_back_failure(source, entity, &message).await {
            tracing::warn!(source = %source.id, entity, error = %e.message, "the failure could not be written back to the CRM");
        }
        if let Ok(Some(mut doc)) = self.db.sync_document(source.id, entity).await {
            doc.last_error = Some(message.clone());
            doc.attempts += 1;
            if last {
                doc.state = "failed".into();
            }
            if let Err(e) = self.db.store_sync_document(&doc).await {
                tracing::warn!(error = %e, "a sync failure could not be recorded");
            }
        }
        if last {
            return JobError::permanent("sync_failed", message);
        }
        let pause =
            f.retry_after.unwrap_or_else(|| self.sync.backoff(job.attempt())).max(self.sync.backoff(job.attempt()));
        JobError::retryable("sync_failed", message).retry_after(pause)
    }

    async fn write_back_failure(&self, source: &SourceRecord, entity: &str, message: &str) -> Result<(), Failure> {
        let settings = SourceSettings::parse(&source.settings)?;
        let crm = self.espo_client(source)?;
        let f = &settings.fields;
        let mut fields = Map::new();
        fields.insert(f.status.clone(), json!(settings.status_values.failed));
        if xai_on(source) {
            fields.insert(f.xai_sync_status.clone(), json!("failed"));
        }
        fields.insert(f.xai_sync_error.clone(), json!(message));
        // Only what differs: writing the same failure again would only wake another webhook.
        let Some(held) = crm.get_entity(&settings.entity, entity).await? else { return Ok(()) };
        fields.retain(|k, v| !same_value(held.get(k), v));
        if !fields.is_empty() {
            crm.update_entity(&settings.entity, entity, &fields).await?;
        }
        Ok(())
    }

    /// One document's sync, under its lock.
    async fn sync_document(&self, source: &SourceRecord, entity_id: &str, holder: &str) -> Result<Value, Failure> {
        let settings = SourceSettings::parse(&source.settings)?;
        let crm = self.espo_client(source)?;
        let xai = self.xai_client(source, &settings.xai)?;
        let mut doc = self
            .db
            .sync_document(source.id, entity_id)
            .await?
            .unwrap_or_else(|| DocumentRecord::pending(source.id, source.tenant_id, entity_id));
        let read_at = Timestamp::now();
        let Some(entity) = crm.get_entity(&settings.entity, entity_id).await? else {
            doc.read_at = Some(read_at);
            return self.sync_deleted(source, &mut doc, xai.as_ref()).await;
        };
        let f = &settings.fields;
        let attachment = text(&entity, &settings.file_field)
            .ok_or_else(|| Failure::permanent(format!("the record has no file ({} is empty)", settings.file_field)))?;
        let bytes = crm.download_attachment(&attachment, self.max_upload_bytes()).await?;
        let sha256 = hex(&Sha256::digest(&bytes));
        let md5 = hex(&Md5::digest(&bytes));
        let name = text(&entity, "fileName").or_else(|| text(&entity, "name")).unwrap_or_else(|| attachment.clone());
        self.renew(source, entity_id, holder).await?;

        let mut wanted = Vec::new();
        for rule in &settings.links {
            let select = ["id", "name", rule.xai_collection_field.as_str()];
            for r in crm.related(&settings.entity, entity_id, &rule.link, &select).await? {
                let Some(id) = text(&r, "id") else { continue };
                wanted.push(Wanted {
                    key: format!("espocrm:{}:{}:{id}", source.id, rule.link),
                    name: text(&r, "name").unwrap_or_else(|| id.clone()),
                    xai: text(&r, &rule.xai_collection_field),
                });
            }
        }

        // The docwright file: kept while its bytes are the same, else a new upload.
        let owner = self.background_context(source.owner_id, source.tenant_id).await?;
        let creator = self.authorize(owner.clone(), crate::files::FILE_CREATE).await?;
        let kept = match doc.file_id.as_deref().map(FileId::parse) {
            Some(Ok(id)) if doc.sha256.as_deref() == Some(sha256.as_str()) => {
                self.db.file(source.tenant_id, id).await?.map(|f| f.id)
            }
            _ => None,
        };
        let old_file = doc.file_id.as_deref().and_then(|f| FileId::parse(f).ok()).filter(|f| Some(*f) != kept);
        let file = match kept {
            Some(id) => id,
            None => {
                let chunk = bytes.clone();
                let stream = futures_util::stream::iter([Ok::<_, std::convert::Infallible>(chunk)]);
                self.upload_file(&creator, &name, stream)
                    .await
                    .map_err(|e| match e {
                        crate::files::UploadError::TooLarge { limit } => {
                            Failure::permanent(format!("the file is larger than the upload limit of {limit} bytes"))
                        }
                        crate::files::UploadError::Body(m) => Failure::permanent(m),
                        crate::files::UploadError::Engine(e) => e.into(),
                    })?
                    .id
            }
        };
        let uploaded = kept.is_none();
        self.renew(source, entity_id, holder).await?;

        // docwright collections: in the wanted ones, out of the others; then the old file goes.
        let mut collections = Vec::new();
        if settings.docwright_collections {
            for w in &wanted {
                let c = self.sync_collection(source.tenant_id, &w.key, &w.name).await?;
                self.set_collection_member(source.tenant_id, c, file).await?;
                collections.push(c.to_string());
            }
        }
        for c in doc.collections.iter().filter(|c| !collections.contains(c)) {
            if let Ok(c) = CollectionId::parse(c) {
                self.remove_collection_member(source.tenant_id, c, file).await?;
            }
        }
        if let Some(old) = old_file {
            self.drop_synced_file(&owner, old).await;
        }
        doc.file_id = Some(file.to_string());
        doc.collections = collections;
        doc.sha256 = Some(sha256.clone());
        doc.md5 = Some(md5.clone());
        // Kept at once: an attempt that fails after this finds the file stored and placed.
        self.db.store_sync_document(&doc).await?;

        // xAI: upload only when new or changed; add before removing.
        let mut xai_uploaded = false;
        if let Some(xai) = &xai {
            let desired: BTreeSet<String> = wanted.iter().filter_map(|w| w.xai.clone()).collect();
            let observed = docwright_sync::plan::Observed {
                status: text(&entity, &f.status),
                synced_hash: text(&entity, &f.xai_synced_hash),
                xai_file_id: doc.xai_file_id.clone().or_else(|| text(&entity, &f.xai_file_id)),
                current_collections: doc.xai_collections.iter().cloned().collect(),
            };
            let status = docwright_sync::plan::StatusValues {
                new: settings.status_values.new.clone(),
                changed: settings.status_values.changed.clone(),
                synced: settings.status_values.synced.clone(),
                failed: settings.status_values.failed.clone(),
            };
            let plan = docwright_sync::plan::decide(&observed, &sha256, &desired, &status);
            let file_id = if plan.upload {
                let id = xai.upload_file(&name, &mime_of(&self.db, source, file).await, bytes.clone()).await?;
                xai_uploaded = true;
                id
            } else {
                observed.xai_file_id.clone().ok_or_else(|| Failure::permanent("no xAI file to place"))?
            };
            let placed = self.place_in_xai(xai, &plan, &file_id, source, entity_id, holder).await;
            if let Err(f) = placed {
                // A new upload that did not get everywhere is taken back: the next attempt
                // uploads again and replaces the old file then.
                if xai_uploaded && let Err(e) = xai.delete_file(&file_id).await {
                    tracing::warn!(error = %e, "a half-placed xAI file could not be deleted");
                }
                return Err(f);
            }
            doc.xai_file_id = Some(file_id);
            doc.xai_collections = desired.into_iter().collect();
        }
        self.renew(source, entity_id, holder).await?;

        // The preview, once extraction made one (and only when it changed).
        let preview_field = format!("{}Id", f.preview_image);
        let mut preview_id = None;
        if let Some(thumb) = self.synced_preview(&owner, file).await? {
            let thumb_sha = hex(&Sha256::digest(&thumb));
            if doc.preview_sha256.as_deref() != Some(thumb_sha.as_str()) || text(&entity, &preview_field).is_none() {
                let id = crm
                    .upload_attachment(&docwright_sync::espo::NewAttachment {
                        name: "preview.png".into(),
                        mime: "image/png".into(),
                        bytes: thumb.into(),
                        related_type: settings.entity.clone(),
                        field: f.preview_image.clone(),
                        role: "Attachment".into(),
                    })
                    .await?;
                preview_id = Some(id);
                doc.preview_sha256 = Some(thumb_sha);
            }
        }

        // Every outcome back under the CRM's names; only what differs.
        let mut back = Map::new();
        back.insert(f.status.clone(), json!(settings.status_values.synced));
        back.insert(f.md5.clone(), json!(md5));
        back.insert(f.sha.clone(), json!(sha256));
        if xai.is_some() {
            back.insert(f.xai_file_id.clone(), json!(doc.xai_file_id));
            back.insert(f.xai_collections.clone(), json!(doc.xai_collections));
            back.insert(f.xai_synced_hash.clone(), json!(sha256));
            back.insert(f.xai_sync_status.clone(), json!("synced"));
        }
        back.insert(f.xai_sync_error.clone(), Value::Null);
        if let Some(id) = &preview_id {
            back.insert(preview_field, json!(id));
        }
        back.retain(|k, v| !same_value(entity.get(k), v));
        let written: Vec<String> = back.keys().cloned().collect();
        doc.remote_modified_at = text(&entity, "modifiedAt");
        if !back.is_empty() {
            crm.update_entity(&settings.entity, entity_id, &back).await?;
            // The write moved the record's modifiedAt on: remember the new one, so the
            // reconciler does not take the write for a change.
            if let Some(now) = crm.get_entity(&settings.entity, entity_id).await? {
                doc.remote_modified_at = text(&now, "modifiedAt");
            }
        }
        doc.state = "synced".into();
        doc.read_at = Some(read_at);
        doc.last_error = None;
        doc.attempts = 0;
        doc.synced_at = Some(Timestamp::now());
        self.db.store_sync_document(&doc).await?;
        Ok(json!({
            "entity_id": entity_id,
            "file_id": doc.file_id,
            "uploaded": uploaded,
            "xai_uploaded": xai_uploaded,
            "written_back": written,
        }))
    }

    /// The xAI steps of a plan for `file_id`: into `add`, the kept file out of `remove`, the old
    /// one out of its collections and deleted.
    async fn place_in_xai(
        &self,
        xai: &docwright_sync::xai::XaiClient,
        plan: &docwright_sync::plan::Plan,
        file_id: &str,
        source: &SourceRecord,
        entity_id: &str,
        holder: &str,
    ) -> Result<(), Failure> {
        for c in &plan.add {
            self.renew(source, entity_id, holder).await?;
            xai.add_to_collection(c, file_id).await?;
        }
        for c in &plan.remove {
            xai.remove_from_collection(c, file_id).await?;
        }
        if let Some(old) = &plan.replace_old {
            for c in &plan.remove_old {
                xai.remove_from_collection(c, old).await?;
            }
            if let Err(e) = xai.delete_file(old).await {
                tracing::warn!(error = %e, "an old xAI file could not be deleted");
            }
        }
        Ok(())
    }

    /// The CRM no longer has the record: out of every collection, its files removed.
    async fn sync_deleted(
        &self,
        source: &SourceRecord,
        doc: &mut DocumentRecord,
        xai: Option<&docwright_sync::xai::XaiClient>,
    ) -> Result<Value, Failure> {
        if let (Some(xai), Some(file)) = (xai, doc.xai_file_id.clone()) {
            for c in &doc.xai_collections {
                xai.remove_from_collection(c, &file).await?;
            }
            if let Err(e) = xai.delete_file(&file).await {
                tracing::warn!(error = %e, "a deleted document's xAI file could not be deleted");
            }
        }
        if let Some(file) = doc.file_id.as_deref().and_then(|f| FileId::parse(f).ok()) {
            for c in doc.collections.iter().filter_map(|c| CollectionId::parse(c).ok()) {
                self.remove_collection_member(source.tenant_id, c, file).await?;
            }
            let owner = self.background_context(source.owner_id, source.tenant_id).await?;
            self.drop_synced_file(&owner, file).await;
        }
        doc.state = "deleted".into();
        doc.file_id = None;
        doc.xai_file_id = None;
        doc.xai_collections.clear();
        doc.collections.clear();
        doc.last_error = None;
        doc.attempts = 0;
        doc.synced_at = Some(Timestamp::now());
        self.db.store_sync_document(doc).await?;
        Ok(json!({"entity_id": doc.entity_id, "deleted": true}))
    }

    /// Removes a file the sync had stored and no longer needs (replaced or deleted in the CRM).
    async fn drop_synced_file(&self, owner: &crate::access::Ctx, file: FileId) {
        let outcome = match self.authorize(owner.clone(), crate::files::FILE_DELETE).await {
            Ok(grant) => self.delete_file(&grant, file).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) | Err(Error::NotFound(_)) => {}
            Err(e) => tracing::warn!(%file, error = %e, "a file the sync replaced could not be removed"),
        }
    }

    /// The file's preview PNG once its extraction made one, waiting up to
    /// `[sync] preview_wait_secs`; `None` without one.
    async fn synced_preview(&self, owner: &crate::access::Ctx, file: FileId) -> Result<Option<Vec<u8>>, Failure> {
        let reader: Grant = self.authorize(owner.clone(), crate::files::FILE_READ).await?;
        let deadline = tokio::time::Instant::now() + self.sync.preview_wait;
        loop {
            let record = self.visible_file(&reader, file).await?;
            if let Some(sha) = record.extraction.thumbnail_sha256.as_deref() {
                let (size, mut blob) = self.file_thumbnail(&reader, file).await?;
                let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
                blob.read_to_end(&mut bytes).await.map_err(|e| Failure {
                    message: format!("the preview {sha} could not be read: {e}"),
                    retryable: true,
                    retry_after: None,
                })?;
                return Ok(Some(bytes));
            }
            if matches!(record.extraction_status.as_str(), "done" | "failed") || tokio::time::Instant::now() >= deadline
            {
                return Ok(None);
            }
            tokio::time::sleep(PREVIEW_POLL).await;
        }
    }
}

fn xai_on(source: &SourceRecord) -> bool {
    source.xai_api_key.is_some() && source.xai_management_key.is_some()
}

/// The stored file's detected type (for the sink's upload).
async fn mime_of(db: &docwright_storage::Db, source: &SourceRecord, file: FileId) -> String {
    match db.file(source.tenant_id, file).await {
        Ok(Some(f)) => f.mime_type,
        _ => "application/octet-stream".into(),
    }
}

/// A non-empty string attribute of a record.
fn text(record: &Map<String, Value>, key: &str) -> Option<String> {
    record.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// Whether the CRM holds `wanted` already: `null`, absent and `""` are the same nothing.
fn same_value(held: Option<&Value>, wanted: &Value) -> bool {
    let nothing = |v: Option<&Value>| v.is_none_or(|v| v.is_null() || v.as_str() == Some(""));
    if nothing(Some(wanted)) {
        return nothing(held);
    }
    held == Some(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_back_skips_what_the_crm_holds_already() {
        assert!(same_value(None, &Value::Null));
        assert!(same_value(Some(&json!("")), &Value::Null));
        assert!(!same_value(Some(&json!("x")), &Value::Null));
        assert!(same_value(Some(&json!(["a", "b"])), &json!(["a", "b"])));
        assert!(!same_value(Some(&json!(["a"])), &json!(["a", "b"])));
        assert!(!same_value(None, &json!("Gesynct")));
    }
}
