//! CRM document sync (SPEC Y1–Y4): sources, webhooks, the reconciler and the synced documents'
//! states; the worker that syncs one document is [`worker`].
//!
//! A source is an EspoCRM connection of a tenant (its API key, the webhook's secret, the entity
//! type and field map, the links whose related records decide the collections) and its sinks:
//! docwright collections and, when keys are given, xAI Files + Collections. Its secrets are
//! sealed like provider keys and never answered.
//!
//! A webhook delivery is verified (EspoCRM's `Signature`, or the legacy `X-Signature`), then
//! each of its records is stored as an event with a job of kind [`JOB_KIND`] in one
//! transaction, and acknowledged; a job whose event a later-reading sync has covered does
//! nothing, so a burst of updates costs one sync more than the ones running. Webhooks are hints: the worker always reads the CRM's current record, and the
//! reconciler lists each source's records every `[sync] reconcile_secs` to catch up on what a
//! lost webhook missed, deletes included.

pub mod worker;

use std::time::Duration;

use docwright_core::id::{JobId, SyncEventId, SyncSourceId, TenantId};
use docwright_core::rbac::{Action, Permission, items};
use docwright_core::time::Timestamp;
use docwright_storage::jobs::NewJob;
use docwright_storage::sync::{DocumentRecord, EventRecord, SourceRecord};
use docwright_storage::{Page, PageRequest};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::access::Grant;
use crate::{Engine, Error, Result};

/// The queue's kind of a document's sync.
pub const JOB_KIND: &str = "sync.document";

pub const SOURCE_READ: Permission = Permission::new(items::SYNC_SOURCE, Action::Read);
pub const SOURCE_CREATE: Permission = Permission::new(items::SYNC_SOURCE, Action::Create);
pub const SOURCE_UPDATE: Permission = Permission::new(items::SYNC_SOURCE, Action::Update);
pub const SOURCE_DELETE: Permission = Permission::new(items::SYNC_SOURCE, Action::Delete);

/// The webhook actions of SPEC Y1.
pub const ACTIONS: [&str; 3] = ["create", "update", "delete"];

const MAX_NAME_CHARS: usize = 200;
const MAX_SECRET_CHARS: usize = 4096;

/// `[sync]` as the engine uses it.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    pub reconcile: Duration,
    pub lock: Duration,
    pub max_attempts: u32,
    pub retry_base: Duration,
    pub retry_max: Duration,
    pub preview_wait: Duration,
    pub http_timeout: Duration,
    pub max_webhook_records: usize,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self::from_config(&docwright_config::SyncConfig::default())
    }
}

impl SyncSettings {
    pub fn from_config(c: &docwright_config::SyncConfig) -> Self {
        Self {
            reconcile: Duration::from_secs(c.reconcile_secs.max(1)),
            lock: Duration::from_secs(c.lock_secs.max(1)),
            max_attempts: c.max_attempts.max(1),
            retry_base: Duration::from_millis(c.retry_base_ms),
            retry_max: Duration::from_secs(c.retry_max_secs),
            preview_wait: Duration::from_secs(c.preview_wait_secs),
            http_timeout: Duration::from_secs(c.http_timeout_secs.max(1)),
            max_webhook_records: c.max_webhook_records.max(1) as usize,
        }
    }

    /// The pause before attempt `attempt + 1`: the base doubled per earlier attempt, bounded.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.saturating_sub(1).min(20)).unwrap_or(u32::MAX);
        self.retry_base.saturating_mul(factor).min(self.retry_max)
    }
}

/// The CRM's field names a sync writes back (defaults: the seed's custom fields of EspoCRM's
/// `Document`, which a real installation has under these literal names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FieldMap {
    pub status: String,
    pub md5: String,
    pub sha: String,
    pub xai_file_id: String,
    pub xai_collections: String,
    pub xai_synced_hash: String,
    pub xai_sync_status: String,
    pub xai_sync_error: String,
    /// The image field the preview PNG is attached to (its id attribute is `<field>Id`).
    pub preview_image: String,
}

impl Default for FieldMap {
    fn default() -> Self {
        Self {
            status: "dateiStatus".into(),
            md5: "md5".into(),
            sha: "sha".into(),
            xai_file_id: "xaiFileId".into(),
            xai_collections: "xaiCollections".into(),
            xai_synced_hash: "xaiSyncedHash".into(),
            xai_sync_status: "xaiSyncStatus".into(),
            xai_sync_error: "xaiSyncError".into(),
            preview_image: "previewImage".into(),
        }
    }
}

/// The values of the status field (defaults: the seed's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatusValues {
    pub new: String,
    pub changed: String,
    pub synced: String,
    pub failed: String,
}

impl Default for StatusValues {
    fn default() -> Self {
        Self { new: "Neu".into(), changed: "Geändert".into(), synced: "Gesynct".into(), failed: "Fehler".into() }
    }
}

/// A many-to-many link of the entity whose related records are collections: each related
/// record is a docwright collection, and an xAI collection when its `xai_collection_field`
/// holds an id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkRule {
    pub link: String,
    #[serde(default = "default_collection_field")]
    pub xai_collection_field: String,
}

fn default_collection_field() -> String {
    "xaiCollectionId".into()
}

/// Where xAI is (the two hosts of its API); the keys are sealed apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct XaiHosts {
    pub api_base: String,
    pub management_base: String,
}

impl Default for XaiHosts {
    fn default() -> Self {
        Self { api_base: "https://api.x.ai".into(), management_base: "https://management-api.x.ai".into() }
    }
}

/// A source's settings, stored as JSON; every key has a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceSettings {
    /// The entity type synced (`Document`).
    pub entity: String,
    /// The entity's attribute holding its file's attachment id (`fileId`).
    pub file_field: String,
    pub fields: FieldMap,
    pub status_values: StatusValues,
    pub links: Vec<LinkRule>,
    /// Whether synced documents go into docwright collections (one per related record).
    pub docwright_collections: bool,
    /// xAI's hosts; the sink is on when the source has both xAI keys.
    pub xai: XaiHosts,
}

impl Default for SourceSettings {
    fn default() -> Self {
        Self {
            entity: "Document".into(),
            file_field: "fileId".into(),
            fields: FieldMap::default(),
            status_values: StatusValues::default(),
            links: vec![LinkRule { link: "accounts".into(), xai_collection_field: default_collection_field() }],
            docwright_collections: true,
            xai: XaiHosts::default(),
        }
    }
}

impl SourceSettings {
    /// Parses stored or submitted settings, checking every name that goes into a CRM URL or
    /// record.
    pub fn parse(value: &Value) -> Result<Self> {
        let s: SourceSettings = serde_json::from_value(value.clone()).map_err(|e| Error::invalid("settings", e))?;
        check_name("settings.entity", &s.entity)?;
        check_name("settings.file_field", &s.file_field)?;
        for (k, v) in [
            ("status", &s.fields.status),
            ("md5", &s.fields.md5),
            ("sha", &s.fields.sha),
            ("xai_file_id", &s.fields.xai_file_id),
            ("xai_collections", &s.fields.xai_collections),
            ("xai_synced_hash", &s.fields.xai_synced_hash),
            ("xai_sync_status", &s.fields.xai_sync_status),
            ("xai_sync_error", &s.fields.xai_sync_error),
            ("preview_image", &s.fields.preview_image),
        ] {
            check_name(&format!("settings.fields.{k}"), v)?;
        }
        for (i, l) in s.links.iter().enumerate() {
            check_name(&format!("settings.links[{i}].link"), &l.link)?;
            check_name(&format!("settings.links[{i}].xai_collection_field"), &l.xai_collection_field)?;
        }
        for (k, v) in [("api_base", &s.xai.api_base), ("management_base", &s.xai.management_base)] {
            check_url(&format!("settings.xai.{k}"), v)?;
        }
        Ok(s)
    }

    fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// An EspoCRM attribute or entity name: letters and digits, starting with a letter.
fn check_name(field: &str, name: &str) -> Result<()> {
    let ok = name.len() <= 100
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok { Ok(()) } else { Err(Error::invalid(field, "must be letters, digits or _ and start with a letter")) }
}

fn check_url(field: &str, url: &str) -> Result<()> {
    let ok = (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() <= 2000
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok { Ok(()) } else { Err(Error::invalid(field, "must be an http:// or https:// URL")) }
}

fn check_secret(field: &str, secret: &str) -> Result<()> {
    if secret.trim().is_empty() || secret.len() > MAX_SECRET_CHARS {
        return Err(Error::invalid(field, format!("must be 1 to {MAX_SECRET_CHARS} characters")));
    }
    Ok(())
}

/// What a caller sends to create a source (every field) or change one (the fields given).
#[derive(Debug, Clone, Default)]
pub struct SourceInput {
    pub name: Option<String>,
    pub base_url: Option<String>,
    pub api_key: Option<String>,
    /// `Some(None)` clears it.
    pub webhook_id: Option<Option<String>>,
    pub webhook_secret: Option<String>,
    pub settings: Option<Value>,
    /// Both or neither; `Some("")` for both clears the xAI sink.
    pub xai_api_key: Option<String>,
    pub xai_management_key: Option<String>,
    pub active: Option<bool>,
}

/// A source as its administrators see it: no secret, only whether each is set.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceView {
    pub id: SyncSourceId,
    pub tenant_id: TenantId,
    pub name: String,
    pub kind: String,
    pub base_url: String,
    pub webhook_id: Option<String>,
    pub settings: SourceSettings,
    pub xai_enabled: bool,
    pub owner_id: docwright_core::id::UserId,
    pub active: bool,
    pub reconciled_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl SourceView {
    fn of(r: &SourceRecord) -> Result<Self> {
        Ok(Self {
            id: r.id,
            tenant_id: r.tenant_id,
            name: r.name.clone(),
            kind: r.kind.clone(),
            base_url: r.base_url.clone(),
            webhook_id: r.webhook_id.clone(),
            settings: SourceSettings::parse(&r.settings)
                .map_err(|e| Error::Internal(format!("stored sync settings: {e}")))?,
            xai_enabled: r.xai_api_key.is_some() && r.xai_management_key.is_some(),
            owner_id: r.owner_id,
            active: r.active,
            reconciled_at: r.reconciled_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// What a webhook delivery came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookReceipt {
    /// Records in the delivery.
    pub received: usize,
    /// Records stored (and their documents' syncs queued).
    pub accepted: usize,
    /// Records delivered before (stored once).
    pub duplicates: usize,
}

/// What a reconcile step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reconciled {
    pub sources: usize,
    /// Documents queued because they are new or changed in the CRM.
    pub changed: usize,
    /// Documents queued because the CRM no longer has them.
    pub gone: usize,
    /// Sources whose CRM could not be listed.
    pub failed: usize,
}

impl Engine {
    /// With these `[sync]` settings (else the defaults).
    pub fn with_sync(mut self, settings: SyncSettings) -> Self {
        self.sync = std::sync::Arc::new(settings);
        self
    }

    pub async fn create_sync_source(&self, grant: &Grant, input: SourceInput) -> Result<SourceView> {
        grant.expect(SOURCE_CREATE)?;
        let ctx = grant.ctx();
        let name = required(input.name, "name")?;
        check_label(&name)?;
        let base_url = required(input.base_url, "base_url")?;
        check_url("base_url", &base_url)?;
        let api_key = required(input.api_key, "api_key")?;
        check_secret("api_key", &api_key)?;
        let secret = required(input.webhook_secret, "webhook_secret")?;
        check_secret("webhook_secret", &secret)?;
        let webhook_id = input.webhook_id.flatten().filter(|w| !w.is_empty());
        if let Some(w) = &webhook_id {
            check_secret("webhook_id", w)?;
        }
        let settings = SourceSettings::parse(&input.settings.unwrap_or_else(|| json!({})))?;
        let (xai_api_key, xai_management_key) = self.sealed_xai_keys(input.xai_api_key, input.xai_management_key)?;
        let now = Timestamp::now();
        let record = SourceRecord {
            id: SyncSourceId::new(),
            tenant_id: ctx.tenant,
            name,
            kind: "espocrm".into(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: self.seal(&api_key)?,
            webhook_id,
            webhook_secret: self.seal(&secret)?,
            xai_api_key: xai_api_key.flatten(),
            xai_management_key: xai_management_key.flatten(),
            settings: settings.to_value(),
            owner_id: ctx.user(),
            active: input.active.unwrap_or(true),
            reconciled_at: None,
            created_at: now,
            updated_at: now,
        };
        self.db.insert_sync_source(&record).await?;
        SourceView::of(&record)
    }

    pub async fn sync_sources(&self, grant: &Grant, page: PageRequest<'_>) -> Result<Page<SourceView>> {
        grant.expect(SOURCE_READ)?;
        let page = self.db.sync_sources(grant.ctx().tenant, page).await?;
        Ok(Page { items: page.items.iter().map(SourceView::of).collect::<Result<_>>()?, has_more: page.has_more })
    }

    pub async fn sync_source(&self, grant: &Grant, id: SyncSourceId) -> Result<SourceView> {
        grant.expect(SOURCE_READ)?;
        SourceView::of(&self.source_of(grant.ctx().tenant, id).await?)
    }

    pub async fn update_sync_source(&self, grant: &Grant, id: SyncSourceId, input: SourceInput) -> Result<SourceView> {
        grant.expect(SOURCE_UPDATE)?;
        let mut r = self.source_of(grant.ctx().tenant, id).await?;
        if let Some(name) = input.name {
            check_label(&name)?;
            r.name = name;
        }
        if let Some(url) = input.base_url {
            check_url("base_url", &url)?;
            r.base_url = url.trim_end_matches('/').to_owned();
        }
        if let Some(key) = input.api_key {
            check_secret("api_key", &key)?;
            r.api_key = self.seal(&key)?;
        }
        if let Some(secret) = input.webhook_secret {
            check_secret("webhook_secret", &secret)?;
            r.webhook_secret = self.seal(&secret)?;
        }
        if let Some(w) = input.webhook_id {
            let w = w.filter(|w| !w.is_empty());
            if let Some(w) = &w {
                check_secret("webhook_id", w)?;
            }
            r.webhook_id = w;
        }
        if let Some(settings) = input.settings {
            r.settings = SourceSettings::parse(&settings)?.to_value();
        }
        let (api, management) = self.sealed_xai_keys(input.xai_api_key, input.xai_management_key)?;
        if let (Some(api), Some(management)) = (api, management) {
            r.xai_api_key = api;
            r.xai_management_key = management;
        }
        if let Some(active) = input.active {
            r.active = active;
        }
        r.updated_at = Timestamp::now();
        if !self.db.update_sync_source(&r).await? {
            return Err(Error::NotFound("sync source"));
        }
        SourceView::of(&r)
    }

    /// Deletes a source with its events and states (the files it synced stay the tenant's).
    pub async fn delete_sync_source(&self, grant: &Grant, id: SyncSourceId) -> Result<()> {
        grant.expect(SOURCE_DELETE)?;
        if !self.db.delete_sync_source(grant.ctx().tenant, id).await? {
            return Err(Error::NotFound("sync source"));
        }
        Ok(())
    }

    /// A source's documents and their states, a page at a time.
    pub async fn sync_documents(
        &self,
        grant: &Grant,
        id: SyncSourceId,
        page: PageRequest<'_>,
    ) -> Result<Page<DocumentRecord>> {
        grant.expect(SOURCE_READ)?;
        self.source_of(grant.ctx().tenant, id).await?;
        Ok(self.db.sync_documents(id, page).await?)
    }

    /// Syncs one document again now, whatever its state (an administrator's repair).
    pub async fn resync_document(&self, grant: &Grant, id: SyncSourceId, entity_id: &str) -> Result<JobId> {
        grant.expect(SOURCE_UPDATE)?;
        let source = self.source_of(grant.ctx().tenant, id).await?;
        check_entity_id(entity_id)?;
        let unique = format!("resync:{entity_id}:{}", uuid::Uuid::now_v7());
        let job =
            self.store_events(&source, &[(entity_id.to_owned(), "resync", json!({"id": entity_id}), unique)]).await?;
        job.into_iter().next().flatten().ok_or_else(|| Error::Internal("a resync stored no event".into()))
    }

    /// A webhook delivery of `source` (SPEC Y1): verified by its signature — nothing is stored
    /// otherwise —, each record stored with its document's sync queued, in one transaction.
    pub async fn receive_sync_webhook(
        &self,
        source: SyncSourceId,
        action: &str,
        signature: Option<&str>,
        legacy_signature: Option<&str>,
        body: &[u8],
    ) -> Result<WebhookReceipt> {
        let Some(source) = self.db.sync_source_any(source).await? else { return Err(Error::NotFound("sync source")) };
        if !ACTIONS.contains(&action) {
            return Err(Error::NotFound("webhook action"));
        }
        let secret = self.open(&source.webhook_secret)?;
        docwright_sync::signature::verify(
            signature,
            legacy_signature,
            body,
            secret.as_bytes(),
            source.webhook_id.as_deref(),
        )
        .map_err(|e| Error::Unauthenticated { code: "invalid_signature", message: e.to_string() })?;
        if !source.active {
            return Err(Error::Conflict("the sync source is inactive".into()));
        }
        let records = docwright_sync::payload::parse_batch(body, self.sync.max_webhook_records)
            .map_err(|e| Error::invalid("body", e))?;
        let events: Vec<_> = records
            .iter()
            .map(|r| {
                let payload = Value::Object(r.fields.clone());
                let digest = format!("{action}:{payload}");
                (r.id.clone(), action, payload, digest)
            })
            .collect();
        let stored = self.store_events(&source, &events).await?;
        let accepted = stored.iter().filter(|s| s.is_some()).count();
        Ok(WebhookReceipt { received: events.len(), accepted, duplicates: events.len() - accepted })
    }

    /// Stores events (each once per digest) and queues their documents' syncs in one
    /// transaction; answers each event's job, `None` for a duplicate.
    async fn store_events(
        &self,
        source: &SourceRecord,
        events: &[(String, &str, Value, String)],
    ) -> Result<Vec<Option<JobId>>> {
        let now = Timestamp::now();
        let mut tx = self.db.begin_write().await?;
        let mut jobs = Vec::with_capacity(events.len());
        for (entity_id, action, payload, digest_of) in events {
            let event = EventRecord {
                id: SyncEventId::new(),
                source_id: source.id,
                tenant_id: source.tenant_id,
                entity_id: entity_id.clone(),
                action: (*action).to_owned(),
                digest: hex(&Sha256::digest(digest_of.as_bytes())),
                payload: payload.clone(),
                received_at: now,
            };
            if !tx.insert_sync_event(&event).await? {
                jobs.push(None);
                continue;
            }
            // A job per event, no unique key: a key would fold an event into a sync already
            // running, which may have read the record before the change. The worker skips an
            // event that a sync which read the record after it has covered.
            let payload =
                json!({"source_id": source.id.to_string(), "entity_id": entity_id, "received_at": now.millis()});
            let job = NewJob::new(JOB_KIND, payload)
                .tenant(source.tenant_id)
                .max_attempts(self.sync.max_attempts)
                // Waiting for the lock (up to its time) plus a sync of its own.
                .timeout(self.sync.lock.saturating_mul(3));
            jobs.push(Some(tx.enqueue(&job).await?.id));
        }
        tx.commit().await?;
        Ok(jobs)
    }

    /// One reconcile step (SPEC Y4, webhooks are hints): every active source not reconciled for
    /// `[sync] reconcile_secs` is claimed (one replica per interval), its records listed from
    /// the CRM, and each record new or changed since it was last synced — and each document
    /// the CRM no longer has — is queued.
    pub async fn reconcile_sync_sources(&self, now: Timestamp) -> Result<Reconciled> {
        let interval = i64::try_from(self.sync.reconcile.as_millis()).unwrap_or(i64::MAX);
        let due =
            self.db.sync_sources_to_reconcile(Timestamp::from_millis(now.millis().saturating_sub(interval))).await?;
        let mut done = Reconciled::default();
        for source in due {
            if !self.db.claim_sync_reconcile(source.id, source.reconciled_at, now).await? {
                continue;
            }
            done.sources += 1;
            match self.reconcile_source(&source, now).await {
                Ok((changed, gone)) => {
                    done.changed += changed;
                    done.gone += gone;
                }
                Err(e) => {
                    done.failed += 1;
                    tracing::warn!(source = %source.id, error = %e, "a sync source could not be reconciled");
                }
            }
        }
        Ok(done)
    }

    async fn reconcile_source(&self, source: &SourceRecord, now: Timestamp) -> Result<(usize, usize)> {
        let settings = SourceSettings::parse(&source.settings)?;
        let crm = self.espo_client(source)?;
        let remote = crm.list_all_ids(&settings.entity).await.map_err(|e| Error::Internal(format!("EspoCRM: {e}")))?;
        let known: std::collections::HashMap<String, Option<String>> =
            self.db.live_sync_documents(source.id).await?.into_iter().collect();
        let stamp = now.millis();
        let mut events = Vec::new();
        let mut changed = 0;
        for (id, modified) in &remote {
            if check_entity_id(id).is_err() {
                continue;
            }
            let fresh = match known.get(id) {
                None => true,
                Some(seen) => seen.is_none() || seen != modified,
            };
            if fresh {
                changed += 1;
                events.push((
                    id.clone(),
                    "reconcile",
                    json!({"id": id, "modifiedAt": modified}),
                    format!("reconcile:{id}:{stamp}"),
                ));
            }
        }
        let present: std::collections::HashSet<&str> = remote.iter().map(|(id, _)| id.as_str()).collect();
        let mut gone = 0;
        for id in known.keys().filter(|id| !present.contains(id.as_str())) {
            gone += 1;
            events.push((
                id.clone(),
                "reconcile",
                json!({"id": id, "deleted": true}),
                format!("reconcile:{id}:{stamp}"),
            ));
        }
        if !events.is_empty() {
            self.store_events(source, &events).await?;
        }
        Ok((changed, gone))
    }

    /// The reconciler loop, to run as an owned background task until `stop` resolves.
    pub fn sync_reconciler<S>(&self, stop: S) -> impl Future<Output = ()> + Send + use<S>
    where
        S: Future<Output = ()> + Send + 'static,
    {
        let engine = self.clone();
        let tick = self.sync.reconcile.min(Duration::from_secs(60));
        async move {
            tokio::pin!(stop);
            loop {
                let step = tokio::select! {
                    () = &mut stop => return,
                    step = engine.reconcile_sync_sources(Timestamp::now()) => step,
                };
                match step {
                    Ok(r) if r != Reconciled::default() => tracing::info!(
                        sources = r.sources,
                        changed = r.changed,
                        gone = r.gone,
                        failed = r.failed,
                        "sync sources reconciled"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "the sync reconciler failed; will retry"),
                }
                tokio::select! {
                    () = &mut stop => return,
                    () = tokio::time::sleep(tick) => {}
                }
            }
        }
    }

    async fn source_of(&self, tenant: TenantId, id: SyncSourceId) -> Result<SourceRecord> {
        self.db.sync_source(tenant, id).await?.ok_or(Error::NotFound("sync source"))
    }

    fn seal(&self, secret: &str) -> Result<String> {
        self.sealer.seal(secret)
    }

    fn open(&self, sealed: &str) -> Result<String> {
        self.sealer.open(sealed)
    }

    /// Both xAI keys sealed, `Some(None)` for both to clear them, `None` when neither is given.
    #[allow(clippy::type_complexity)]
    fn sealed_xai_keys(
        &self,
        api: Option<String>,
        management: Option<String>,
    ) -> Result<(Option<Option<String>>, Option<Option<String>>)> {
        match (api, management) {
            (None, None) => Ok((None, None)),
            (Some(a), Some(m)) if a.is_empty() && m.is_empty() => Ok((Some(None), Some(None))),
            (Some(a), Some(m)) => {
                check_secret("xai_api_key", &a)?;
                check_secret("xai_management_key", &m)?;
                Ok((Some(Some(self.seal(&a)?)), Some(Some(self.seal(&m)?))))
            }
            _ => Err(Error::invalid("xai_api_key", "xAI needs both keys, the API key and the management key")),
        }
    }

    pub(crate) fn espo_client(&self, source: &SourceRecord) -> Result<docwright_sync::espo::EspoClient> {
        let key = self.open(&source.api_key)?;
        docwright_sync::espo::EspoClient::new(&source.base_url, key, self.sync.http_timeout)
            .map_err(|e| Error::Internal(format!("EspoCRM client: {e}")))
    }

    pub(crate) fn xai_client(
        &self,
        source: &SourceRecord,
        hosts: &XaiHosts,
    ) -> Result<Option<docwright_sync::xai::XaiClient>> {
        let (Some(api), Some(management)) = (&source.xai_api_key, &source.xai_management_key) else { return Ok(None) };
        let config = docwright_sync::xai::XaiConfig {
            api_base: hosts.api_base.clone(),
            management_base: hosts.management_base.clone(),
            api_key: self.open(api)?,
            management_key: self.open(management)?,
            timeout: self.sync.http_timeout,
        };
        docwright_sync::xai::XaiClient::new(&config).map(Some).map_err(|e| Error::Internal(format!("xAI client: {e}")))
    }
}

fn required(v: Option<String>, field: &str) -> Result<String> {
    v.filter(|s| !s.trim().is_empty()).ok_or_else(|| Error::invalid(field, "is required"))
}

fn check_label(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "name",
            format!("must be 1 to {MAX_NAME_CHARS} characters without control characters"),
        ));
    }
    Ok(())
}

/// An EspoCRM record id as it may appear in a path.
pub(crate) fn check_entity_id(id: &str) -> Result<()> {
    let ok = !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok { Ok(()) } else { Err(Error::invalid("entity_id", "must be 1 to 64 letters, digits, - or _")) }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_to_the_seeds_field_names_and_refuse_names_that_would_reach_a_url() {
        let s = SourceSettings::parse(&json!({})).unwrap();
        assert_eq!(s.fields.status, "dateiStatus");
        assert_eq!(s.status_values.changed, "Geändert");
        assert_eq!(s.entity, "Document");
        let e = SourceSettings::parse(&json!({"entity": "Document/../User"})).unwrap_err();
        assert!(e.to_string().contains("settings.entity"), "{e}");
        let e = SourceSettings::parse(&json!({"links": [{"link": "a b"}]})).unwrap_err();
        assert!(e.to_string().contains("links[0]"), "{e}");
        assert!(SourceSettings::parse(&json!({"nonsense": 1})).is_err());
    }

    #[test]
    fn backoff_doubles_up_to_its_bound() {
        let s = SyncSettings {
            retry_base: Duration::from_millis(100),
            retry_max: Duration::from_millis(500),
            ..SyncSettings::default()
        };
        assert_eq!(s.backoff(1), Duration::from_millis(100));
        assert_eq!(s.backoff(2), Duration::from_millis(200));
        assert_eq!(s.backoff(3), Duration::from_millis(400));
        assert_eq!(s.backoff(9), Duration::from_millis(500));
    }
}
