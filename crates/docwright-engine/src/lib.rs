//! Use cases of docwright, independent of HTTP.
//!
//! [`Engine`] is the one entry point the server (and later the job runner) calls. Layout:
//! - [`bootstrap`]: what the first start creates (tenant `ROOT`, its admin, a login token).
//! - [`identity`]: `/auth/*` flows — exchange a static token, rotate refresh tokens, logout —
//!   and authentication of a bearer credential into a [`Principal`].
//! - [`access`]: the tenant context of a request and the RBAC decision, which yields a
//!   [`access::Grant`]. Every use case that touches protected data takes a `Grant`, and only
//!   [`Engine::authorize`] makes one, so nothing protected is reachable without a decision.
//! - [`admin`]: tenants, users, roles, static tokens, API keys, RBAC rules.
//! - [`billing`]: accounts, reservations around every AI call, the ledger, top-ups, settings.
//! - [`gateway`]: the AI gateway — model registry, candidate selection, fallback, stats.
//! - [`chunking`]: calls on inputs larger than a model takes: split, bounded parallel, merge.
//! - [`sealer`]: encryption of stored provider keys.
//! - [`notices`]: billing notices (SPEC B7) — enqueued as one insert, e-mailed by an owned
//!   delivery loop with retries, listed and downloaded by the tenant's admins.
//! - [`files`]: uploaded files (SPEC D1) — upload streamed to the blob store, record,
//!   content by byte range, delete; [`blobs`]: the blob store (a local directory, content
//!   addressed by SHA-256 per tenant) and type detection from magic bytes.
//! - [`projects`]: the projects tree (SPEC D4) — clients, projects, nested folders, documents
//!   placing files, results about documents — and full-text search over extracted text.
//! - [`collections`]: named sets of the tenant's files (SPEC Y3) — members, search within
//!   one, the scope of chats and workflows beside projects — and the sync worker's way in.
//! - [`workflows`]: generation workflows (SPEC W1–W4) — submit (stored and enqueued in one
//!   transaction), status, events, cancel, log, debug files — and the queue handler that runs
//!   one through `docwright-workflow` with the engine as its ports.
//! - [`automations`]: automation templates and definitions (SPEC T2–T4), the actions catalog,
//!   the scheduler (each due slot run once across replicas, as a workflow with a fixed plan)
//!   and the cost estimate.
//! - [`chat`]: chats with documents (SPEC C1–C3) — chats, messages answered by a job per turn
//!   (context, retrieval, a streamed generation) with its events as numbered rows and its
//!   progress tree, and role prompts; what goes into the prompt is `docwright-chat`'s.
//! - [`prompt_library`]: prompt categories and preset system prompts (SPEC T1) — seeded from
//!   files in the binary, cached, admin-editable — and classification of a request (AI or
//!   keywords); [`Engine::preset_system_prompt`] for use cases that take a category or preset.
//! - [`sync`]: CRM document sync (SPEC Y1–Y4) — sync sources, EspoCRM webhooks stored with
//!   their jobs in one transaction, the reconciler, and [`sync::worker`], which syncs one
//!   document under its lock into docwright's files and collections and xAI, and writes back.
//! - [`jobs`]: the durable queue as the engine uses it — the handlers the server's runtime
//!   runs, defaults of new jobs, and the administrators' list / retry / cancel.
//! - [`ai_requests`]: asynchronous AI requests (`/api/ai/*`): stored with their job in one
//!   transaction, answered by the job through the gateway, booked with the answer.
//! - [`mail`]: the [`mail::Mailer`] trait notices are sent through, and its SMTP implementation.
//! - `testing` (feature `testing`): a fake SMTP server on 127.0.0.1 for tests.
//! - `cache`: seconds-long memory of credentials, contexts, rules and keys for the hot path.
//! - `recorder`: stat records queued and written in batches by an owned background writer.

pub mod access;
pub mod admin;
pub mod ai_requests;
pub mod automations;
pub mod billing;
pub mod blobs;
pub mod bootstrap;
mod cache;
pub mod chat;
pub mod chunking;
pub mod collections;
pub mod embeddings;
pub mod extraction;
pub mod files;
mod follow;
pub mod gateway;
pub mod identity;
pub mod jobs;
pub mod mail;
pub mod notices;
pub mod observe;
pub mod preview;
pub mod projects;
pub mod prompt_library;
mod recorder;
pub mod sealer;
pub mod sync;
#[cfg(feature = "testing")]
pub mod testing;
pub mod workflows;

use docwright_storage::Db;

pub use access::{Ctx, Grant};
pub use identity::{Credential, Principal, TokenPair};

/// Errors of the use cases. Each maps to one HTTP status and stable code at the edge.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No valid credential: `code` says which problem (`invalid_token`, `token_expired`, ...).
    #[error("{message}")]
    Unauthenticated { code: &'static str, message: String },
    /// Authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// The thing does not exist, or is not visible in this tenant (the two are not told apart).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// A field of the request is invalid.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The thing is busy with earlier work; `code` says what (`chat_busy`). Try again later.
    #[error("{message}")]
    Busy { code: &'static str, message: String },
    /// Well-formed, but the state does not allow it; `code` says what (`invalid_move`).
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    #[error(transparent)]
    Storage(#[from] docwright_storage::Error),
    /// A broken invariant inside docwright (never the caller's fault).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Error::Invalid { field: field.into(), message: message.to_string() }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Token lifetimes and the access-token signing key.
#[derive(Clone)]
pub struct AuthSettings {
    pub jwt_secret: Vec<u8>,
    pub access_ttl_secs: i64,
    pub refresh_ttl_secs: i64,
    /// How long credentials, contexts, rules and keys are remembered (0: not at all).
    pub cache_ttl: std::time::Duration,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("jwt_secret", &"[redacted]")
            .field("access_ttl_secs", &self.access_ttl_secs)
            .field("refresh_ttl_secs", &self.refresh_ttl_secs)
            .field("cache_ttl", &self.cache_ttl)
            .finish()
    }
}

/// The use cases, over one database. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    db: Db,
    jwt: identity::JwtKeys,
    auth: AuthSettings,
    registry: std::sync::Arc<gateway::Registry>,
    sealer: sealer::Sealer,
    cache: std::sync::Arc<cache::Cache>,
    recorder: std::sync::Arc<recorder::Recorder>,
    billing: std::sync::Arc<billing::BillingSettingsConfig>,
    /// This process, as reservations name it.
    instance: std::sync::Arc<str>,
    /// The paying account of (tenant, user or none), once known (accounts are never deleted).
    accounts: std::sync::Arc<std::sync::RwLock<AccountIds>>,
    outbox: std::sync::Arc<notices::Outbox>,
    /// The blob store and upload limit; `None` until `with_files`.
    files: Option<std::sync::Arc<files::FileSettings>>,
    /// How files are extracted; off until `with_extraction`.
    extraction: std::sync::Arc<extraction::Extraction>,
    /// The durable job queue on `db`.
    queue: docwright_jobs::Queue,
    /// How workflows run, and the signal their event streams wait on.
    workflows: std::sync::Arc<workflows::WorkflowSettings>,
    workflow_signal: std::sync::Arc<tokio::sync::Notify>,
    /// How automations are scheduled.
    automations: std::sync::Arc<automations::AutomationSettings>,
    /// How CRM documents are synced (`[sync]`).
    sync: std::sync::Arc<sync::SyncSettings>,
    /// How chats answer, and the signal their event streams wait on.
    chat: std::sync::Arc<chat::ChatSettings>,
    chat_signal: std::sync::Arc<tokio::sync::Notify>,
    /// Tenants' prompt libraries, remembered briefly (`prompt_library`).
    prompt_library: std::sync::Arc<prompt_library::LibraryCache>,
    /// Vectors of extracted passages (`[embeddings]`); off by default.
    embeddings: std::sync::Arc<embeddings::EmbeddingSettings>,
    /// Who hears of AI attempts and extractions (metrics); nobody by default.
    observer: std::sync::Arc<dyn observe::Observer>,
    job_defaults: std::sync::Arc<jobs::JobDefaults>,
}

type AccountIds = std::collections::HashMap<(docwright_core::id::TenantId, Option<docwright_core::id::UserId>), String>;

impl Engine {
    pub fn new(db: Db, auth: AuthSettings, registry: gateway::Registry, sealer: sealer::Sealer) -> Self {
        let jwt = identity::JwtKeys::new(&auth.jwt_secret);
        let cache = std::sync::Arc::new(cache::Cache::new(auth.cache_ttl));
        let recorder = std::sync::Arc::default();
        Self {
            queue: docwright_jobs::Queue::new(db.clone()),
            workflows: std::sync::Arc::default(),
            workflow_signal: std::sync::Arc::default(),
            automations: std::sync::Arc::default(),
            sync: std::sync::Arc::default(),
            chat: std::sync::Arc::default(),
            chat_signal: std::sync::Arc::default(),
            prompt_library: std::sync::Arc::new(prompt_library::LibraryCache::new(if auth.cache_ttl.is_zero() {
                std::time::Duration::ZERO
            } else {
                prompt_library::CACHE_TTL
            })),
            embeddings: std::sync::Arc::default(),
            observer: std::sync::Arc::new(observe::Unobserved),
            job_defaults: std::sync::Arc::default(),
            db,
            jwt,
            auth,
            registry: std::sync::Arc::new(registry),
            sealer,
            cache,
            recorder,
            billing: std::sync::Arc::default(),
            instance: uuid::Uuid::now_v7().to_string().into(),
            accounts: std::sync::Arc::default(),
            outbox: std::sync::Arc::default(),
            files: None,
            extraction: std::sync::Arc::default(),
        }
    }

    /// With `observer` hearing of every AI attempt and extraction (the server's metrics).
    pub fn with_observer(mut self, observer: std::sync::Arc<dyn observe::Observer>) -> Self {
        self.observer = observer;
        self
    }

    /// With these `[billing]` settings (else the defaults).
    pub fn with_billing(mut self, billing: billing::BillingSettingsConfig) -> Self {
        self.billing = std::sync::Arc::new(billing);
        self
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Forgets every cached credential, context, rule set and key. The engine calls this after
    /// each change it makes; call it after changing those tables by other means.
    pub fn invalidate_cache(&self) {
        self.cache.invalidate();
    }
}
