//! Typed configuration of docwright (SPEC P2).
//!
//! Sources, later ones overriding earlier ones:
//! 1. built-in defaults (every key has one, see `docwright.example.toml`);
//! 2. a TOML file (`--config`, or `docwright.toml` in the working directory when present);
//! 3. environment variables `DOCWRIGHT_<SECTION>__<KEY>` (e.g. `DOCWRIGHT_SERVER__BIND`).
//!
//! Secrets may instead be given as files: `<key>_file` (`DOCWRIGHT_AUTH__JWT_SECRET_FILE`).
//! Unknown keys are rejected, and every error names the key (and the variable or file it came
//! from), so a typo stops start-up instead of being silently ignored.
//!
//! Secrets are held in [`Secret`], which never prints its value.

mod secret;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format as _, Toml};
use serde::{Deserialize, Serialize};

pub use secret::Secret;

/// The file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "docwright.toml";

/// Why configuration could not be loaded. The message names the key and the problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration:\n{0}")]
    Invalid(String),
}

pub type Result<T, E = ConfigError> = std::result::Result<T, E>;

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub database: DatabaseConfig,
    pub bootstrap: BootstrapConfig,
    pub auth: AuthConfig,
    pub log: LogConfig,
    pub observability: ObservabilityConfig,
    pub gateway: GatewayConfig,
    pub limits: LimitsConfig,
    pub security: SecurityConfig,
    pub billing: BillingConfig,
    pub smtp: SmtpConfig,
    pub extraction: ExtractionConfig,
    pub jobs: JobsConfig,
    pub workflows: WorkflowsConfig,
    pub automations: AutomationsConfig,
    pub sync: SyncConfig,
    pub chat: ChatConfig,
    pub embeddings: EmbeddingsConfig,
    /// AI providers (`[[providers]]`). None configured: the built-in `dryrun` provider.
    pub providers: Vec<ProviderConfig>,
    /// Models (`[[models]]`). None configured: the built-in dryrun models.
    pub models: Vec<ModelConfig>,
}

/// `[gateway]`: how the AI gateway retries and rests failing models (SPEC A3).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Extra tries of the same model after a retryable failure, before the next candidate.
    pub retries_per_model: u32,
    /// First backoff before a retry; it doubles each time, plus up to 50% random jitter.
    pub backoff_base_ms: u64,
    /// A `Retry-After` up to this long is waited for; a longer one moves on to the next model.
    pub max_retry_after_secs: u64,
    /// After this many consecutive failed calls, a model rests (circuit breaker)...
    pub breaker_failures: u32,
    /// ...for this long; then it is tried again.
    pub breaker_rest_secs: u64,
    /// Chunked calls (SPEC A4): how many chunks of one input are processed at the same time.
    pub chunk_parallelism: u32,
    /// Chunked calls: how many tokens at the end of a chunk are repeated at the start of the next.
    pub chunk_overlap_tokens: u32,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            retries_per_model: 1,
            backoff_base_ms: 200,
            max_retry_after_secs: 2,
            breaker_failures: 5,
            breaker_rest_secs: 30,
            chunk_parallelism: 4,
            chunk_overlap_tokens: 200,
        }
    }
}

/// `[billing]`: how reservations live and die (SPEC B3), and the first tenant's start.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BillingConfig {
    /// Currency of new tenants' settings (ISO 4217).
    pub default_currency: String,
    /// Start credit of every new user of ROOT (which bootstraps as `prepay_user`), a decimal.
    pub root_user_credit: String,
    /// A reservation not settled after this long is released (a call never takes this long).
    pub reservation_ttl_secs: u64,
    /// A server that has not signalled life for this long is taken for dead and its
    /// reservations are released by the others, or by its successor after a restart.
    pub instance_timeout_secs: u64,
    /// How often each server signals life and releases stale reservations.
    pub reconcile_every_secs: u64,
}

impl Default for BillingConfig {
    fn default() -> Self {
        Self {
            default_currency: "CHF".to_owned(),
            root_user_credit: "10.00".to_owned(),
            reservation_ttl_secs: 900,
            instance_timeout_secs: 30,
            reconcile_every_secs: 10,
        }
    }
}

/// `[security]`: the key that encrypts stored provider keys (BYOK, SPEC A7).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// At least 32 characters. Unset: a random key is generated at the first start in
    /// `<data_dir>/encryption.key`. Replicas sharing a database must share this key.
    pub encryption_key: Option<Secret>,
    pub encryption_key_file: Option<PathBuf>,
}

/// `[smtp]`: the mail server that sends notices (SPEC B7). Without `host`, e-mail is off:
/// notices are still stored and downloadable, marked as not sent.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// The SMTP server's host name (also the name its TLS certificate must carry).
    pub host: Option<String>,
    pub port: u16,
    pub security: SmtpSecurity,
    /// Log in with these (AUTH PLAIN or LOGIN) when set; `password` needs `username`.
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    /// The sender, a mailbox such as `docwright <billing@example.com>`; required with `host`.
    pub from: Option<String>,
    /// Bound on connecting and on each SMTP command.
    pub timeout_secs: u64,
    /// Tries of one notice before it is marked failed (transient failures are retried with
    /// growing pauses; a permanent refusal ends at once).
    pub max_attempts: u32,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: None,
            port: 587,
            security: SmtpSecurity::Starttls,
            username: None,
            password: None,
            password_file: None,
            from: None,
            timeout_secs: 30,
            max_attempts: 8,
        }
    }
}

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which is required (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS, port 465).
    Tls,
    /// No encryption: only for a relay on the same host or in tests.
    None,
}

/// `[limits]`: AI requests per minute per caller (SPEC A9); 0 means no limit. Excess requests
/// get 429 with `Retry-After`. Counted per replica.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub ai_requests_per_minute_per_tenant: u32,
    pub ai_requests_per_minute_per_user: u32,
    pub ai_requests_per_minute_per_api_key: u32,
}

/// `[[providers]]`: one AI provider endpoint (SPEC A1, A7).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Referred to by models and by permissions (`resource.aicore.<name>`).
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ProviderKind,
    /// For `openai_compatible`: the URL up to the version, e.g. `https://api.openai.com/v1`
    /// (required). For `anthropic`: default `https://api.anthropic.com`; for `gemini`: default
    /// `https://generativelanguage.googleapis.com`; for `gigachat`: default
    /// `https://gigachat.devices.sberbank.ru/api/v1`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// The provider's key. For `gigachat` in `cloud` mode: the authorization key (base64 of
    /// `client_id:client_secret`), exchanged for access tokens.
    #[serde(default)]
    pub api_key: Option<Secret>,
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    /// `gigachat` only: `cloud` (the default; OAuth with the api_key) or `mtls` (the client
    /// certificate authenticates; no api_key).
    #[serde(default)]
    pub mode: Option<GigachatMode>,
    /// `gigachat` in `cloud` mode: the OAuth endpoint; default
    /// `https://ngw.devices.sberbank.ru:9443/api/v2/oauth`.
    #[serde(default)]
    pub auth_url: Option<String>,
    /// `gigachat` in `cloud` mode: `GIGACHAT_API_PERS` (the default), `GIGACHAT_API_B2B` or
    /// `GIGACHAT_API_CORP`.
    #[serde(default)]
    pub scope: Option<String>,
    /// Any provider but `dryrun`: a PEM file of CA certificates trusted besides the system's
    /// roots, such as the Russian Trusted Root CA for GigaChat, or a company CA for a local server.
    #[serde(default)]
    pub ca_bundle_file: Option<PathBuf>,
    /// Any provider but `dryrun`: the PEM client certificate for mutual TLS, with
    /// `client_key_file`; required by `gigachat` in `mtls` mode.
    #[serde(default)]
    pub client_cert_file: Option<PathBuf>,
    /// The PEM private key of `client_cert_file`: PKCS#8, PKCS#1 or SEC1, or encrypted PKCS#8
    /// (`BEGIN ENCRYPTED PRIVATE KEY`) with `client_key_password`.
    #[serde(default)]
    pub client_key_file: Option<PathBuf>,
    /// The password of an encrypted `client_key_file`.
    #[serde(default)]
    pub client_key_password: Option<Secret>,
    #[serde(default)]
    pub client_key_password_file: Option<PathBuf>,
    /// Bound on waiting for an answer, or for the next streamed chunk.
    #[serde(default = "default_provider_timeout")]
    pub timeout_secs: u64,
    /// `openai_compatible` only: how the server is asked for JSON output. `json_schema` (the
    /// default): `response_format` with the JSON Schema, strict where the schema allows;
    /// `json_object`: servers with a JSON mode but no schemas; `none`: servers that refuse
    /// `response_format`. With the last two the schema goes in the system prompt. Every answer
    /// is checked against the schema either way.
    #[serde(default)]
    pub response_format: Option<ResponseFormat>,
    /// The provider's own request quota (e.g. GigaChat: 20). Calls beyond it wait up to
    /// `gateway.max_retry_after_secs`, else go to the next candidate. Absent: no limit.
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
    /// The provider's own token quota per minute, each call counting its input and maximum
    /// output (e.g. GigaChat's per-request cap). Handled like `requests_per_minute`; a call
    /// larger than the whole quota goes to the next candidate at once. Absent: no limit.
    #[serde(default)]
    pub tokens_per_minute: Option<u32>,
}

fn default_provider_timeout() -> u64 {
    120
}

/// Every optional key unset (for building configurations in code and tests; a loaded provider
/// always has its own name and type).
impl Default for ProviderConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            kind: ProviderKind::Dryrun,
            base_url: None,
            api_key: None,
            api_key_file: None,
            mode: None,
            auth_url: None,
            scope: None,
            ca_bundle_file: None,
            client_cert_file: None,
            client_key_file: None,
            client_key_password: None,
            client_key_password_file: None,
            timeout_secs: default_provider_timeout(),
            response_format: None,
            requests_per_minute: None,
            tokens_per_minute: None,
        }
    }
}

/// How a `gigachat` provider authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GigachatMode {
    /// The api_key is the authorization key, exchanged for access tokens (OAuth).
    #[default]
    Cloud,
    /// A client certificate authenticates (mutual TLS); no key, no token.
    Mtls,
}

/// How an `openai_compatible` server is asked for JSON output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    /// `response_format: {type: json_schema, ...}`.
    #[default]
    JsonSchema,
    /// `response_format: {type: json_object}` and the schema in the system prompt.
    JsonObject,
    /// No `response_format`; the schema in the system prompt.
    None,
}

/// GigaChat's OAuth scopes.
pub const GIGACHAT_SCOPES: [&str; 3] = ["GIGACHAT_API_PERS", "GIGACHAT_API_B2B", "GIGACHAT_API_CORP"];

/// The wire protocol of a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    OpenaiCompatible,
    Anthropic,
    Gemini,
    Gigachat,
    Dryrun,
}

/// `[[models]]`: one model a provider serves (SPEC A2).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The name clients ask for.
    pub name: String,
    pub provider: String,
    /// The provider's own model id, when it differs from `name`.
    #[serde(default)]
    pub upstream_name: Option<String>,
    pub context_tokens: u32,
    pub max_output_tokens: u32,
    /// `text`, `vision`, `json`, `web_search`, `image_generate`, `embedding`.
    pub capabilities: Vec<Capability>,
    /// Decimal strings in the tenant currency, parsed exactly.
    pub price_input_per_mtok: String,
    pub price_output_per_mtok: String,
    /// 1 (lowest) to 10, for the `quality` and `balanced` priorities.
    #[serde(default = "default_rank")]
    pub quality: u8,
    /// 1 (slowest) to 10, for the `speed` priority.
    #[serde(default = "default_rank")]
    pub speed: u8,
    /// Models to try, in order, when a request names this one and it fails.
    #[serde(default)]
    pub fallbacks: Vec<String>,
}

fn default_rank() -> u8 {
    5
}

/// What a model can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    Text,
    Vision,
    Json,
    WebSearch,
    ImageGenerate,
    Embedding,
}

/// `[server]`: the HTTP listener.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port to listen on; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Largest accepted request body for JSON endpoints, in bytes.
    pub body_limit_bytes: u64,
    /// A request that takes longer is answered with 408/503 and dropped.
    pub request_timeout_secs: u64,
    /// After Ctrl-C / SIGTERM, in-flight requests get this long to finish.
    pub shutdown_grace_secs: u64,
    /// Browser origins allowed to call the API from their pages (CORS), exactly as the browser
    /// sends them (`https://app.example.com`). Empty: no cross-origin access.
    pub cors_origins: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8000)),
            body_limit_bytes: 2 * 1024 * 1024,
            request_timeout_secs: 300,
            shutdown_grace_secs: 30,
            cors_origins: Vec::new(),
        }
    }
}

/// `[storage]`: where local data lives.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Holds the embedded SQLite database and the blob directory.
    pub data_dir: PathBuf,
    /// Largest accepted file upload (`POST /files/upload`), in bytes. The server's
    /// `body_limit_bytes` does not apply to uploads, which are streamed to disk.
    pub max_upload_bytes: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self { data_dir: PathBuf::from("./docwright-data"), max_upload_bytes: 100 * 1024 * 1024 }
    }
}

impl StorageConfig {
    /// The local blob directory (uploaded and generated files).
    pub fn blob_dir(&self) -> PathBuf {
        self.data_dir.join("blobs")
    }
}

/// `[extraction]`: content extraction, OCR and thumbnails of uploaded files (SPEC D2, D3).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExtractionConfig {
    /// Extract uploaded files in the background. Off: files stay `pending` (a re-run is still
    /// accepted and waits).
    pub enabled: bool,
    /// Where parsers run: `process` (a child process per file with memory and CPU limits: a
    /// hostile file can only end that process) or `thread` (in the server; time limits only).
    pub isolation: Isolation,
    /// The worker program for `process` isolation; empty: this executable
    /// (`docwright extract-worker`).
    pub worker_program: PathBuf,
    /// Files extracted at the same time by one server.
    pub workers: u32,
    /// Wall-clock limit of one file's extraction and thumbnail.
    pub timeout_secs: u64,
    /// Address space of a worker process, in MiB (`process` isolation).
    pub max_memory_mib: u64,
    /// Files with more pages, slides or sheets fail with `too_many_pages`.
    pub max_pages: u32,
    /// Bytes a file's compressed content (zip packages, streams) may inflate to, in MiB.
    pub max_inflated_mib: u64,
    /// Deepest nesting of XML elements accepted.
    pub max_xml_depth: u32,
    /// A file whose extraction ended its process this many times fails with `worker_lost`.
    pub max_attempts: u32,
    /// How often an idle worker looks for pending files (uploads wake it at once).
    pub poll_interval_ms: u64,
    /// OCR with Tesseract for images and PDF pages without a text layer.
    pub ocr: bool,
    /// The Tesseract program.
    pub tesseract: PathBuf,
    /// Tesseract language codes.
    pub ocr_languages: Vec<String>,
    /// Time limit of one page's recognition.
    pub ocr_timeout_secs: u64,
    /// Size of the PNG previews.
    pub thumbnail_width: u32,
    pub thumbnail_height: u32,
    /// LibreOffice (`soffice`) for previews of office files: `auto` (found on `PATH`), a path,
    /// or `off` (a generic icon per type).
    pub office_converter: String,
}

/// `extraction.isolation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    Process,
    Thread,
}

impl Default for ExtractionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            isolation: Isolation::Process,
            worker_program: PathBuf::new(),
            workers: 1,
            timeout_secs: 120,
            max_memory_mib: 2048,
            max_pages: 5000,
            max_inflated_mib: 1024,
            max_xml_depth: 256,
            max_attempts: 3,
            poll_interval_ms: 2000,
            ocr: true,
            tesseract: PathBuf::from("tesseract"),
            ocr_languages: vec!["eng".to_owned(), "deu".to_owned(), "rus".to_owned()],
            ocr_timeout_secs: 60,
            thumbnail_width: 200,
            thumbnail_height: 280,
            office_converter: "auto".to_owned(),
        }
    }
}

/// `[jobs]`: the durable job queue's workers (SPEC S2). Jobs (asynchronous AI requests, and
/// later workflows, automations and sync) are rows in the database; every server with
/// `enabled` runs some of them.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Run job workers in this server. Off: jobs are still accepted and stored, and wait for a
    /// server that runs them.
    pub enabled: bool,
    /// Jobs one server runs at the same time.
    pub workers: u32,
    /// How often idle workers look for due jobs when nothing woke them (scheduled jobs, retries,
    /// a lost notification), in milliseconds.
    pub poll_interval_ms: u64,
    /// How long a worker holds a job without renewing its lease; a job whose worker died is
    /// taken up again once it has run out.
    pub lease_secs: u64,
    /// How often a running job's lease is renewed (at most half of `lease_secs`); a
    /// cancellation asked for on another server is noticed then.
    pub heartbeat_secs: u64,
    /// How often each server looks for jobs whose lease ran out.
    pub rescue_every_secs: u64,
    /// Delay before the second attempt of a failed job, in milliseconds; it doubles with each
    /// attempt up to `backoff_max_secs`, and a random part of up to half is taken off.
    pub backoff_base_ms: u64,
    pub backoff_max_secs: u64,
    /// Attempts a job gets unless its kind says otherwise; then it is discarded with its error.
    pub max_attempts: u32,
    /// Time limit of one attempt, in seconds: the attempt is stopped and retried.
    pub timeout_secs: u64,
    /// Time limits per job kind, in seconds, overriding `timeout_secs`.
    pub timeouts: std::collections::BTreeMap<String, u64>,
    /// At shutdown, running jobs get this long to finish; the rest are handed back and run
    /// again by the next server (or the next start).
    pub shutdown_grace_secs: u64,
    /// On PostgreSQL, wake idle workers by LISTEN/NOTIFY when a job is enqueued anywhere
    /// (otherwise only by polling, and in process).
    pub listen: bool,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            workers: 4,
            poll_interval_ms: 1000,
            lease_secs: 30,
            heartbeat_secs: 10,
            rescue_every_secs: 5,
            backoff_base_ms: 1000,
            backoff_max_secs: 600,
            max_attempts: 5,
            timeout_secs: 900,
            timeouts: std::collections::BTreeMap::new(),
            shutdown_grace_secs: 20,
            listen: true,
        }
    }
}

/// `[workflows]`: the main job (SPEC W2): a prompt and files in, documents out, run on the job
/// queue under kind `workflow`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkflowsConfig {
    /// Tasks taken from a plan; more are dropped with a note in the trace.
    pub max_tasks: u32,
    /// Actions one task may take before it is ended.
    pub max_steps_per_task: u32,
    /// Sections filled at the same time.
    pub section_parallelism: u32,
    /// Images read by vision models at the same time.
    pub extraction_parallelism: u32,
    /// A run's time limit in seconds (the job's timeout).
    pub timeout_secs: u64,
    /// Attempts a workflow gets (a crash or an outage costs one); finished calls are not repeated.
    pub max_attempts: u32,
    /// How long a run waits for an attached file that is still being extracted, in seconds.
    pub extraction_wait_secs: u64,
}

impl Default for WorkflowsConfig {
    fn default() -> Self {
        Self {
            max_tasks: 6,
            max_steps_per_task: 6,
            section_parallelism: 8,
            extraction_parallelism: 8,
            timeout_secs: 1800,
            max_attempts: 3,
            extraction_wait_secs: 120,
        }
    }
}

/// `[automations]`: scheduled automations (SPEC T2-T4); each run is a workflow.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AutomationsConfig {
    /// Whether this server runs the scheduler (any number of replicas may: a slot runs once).
    pub scheduler: bool,
    /// How often the scheduler looks for due slots, in seconds.
    pub tick_secs: u64,
    /// A slot found later than this many seconds after its time counts as missed (downtime)
    /// and follows its definition's missed-slot policy.
    pub misfire_grace_secs: u64,
    /// The time zone of a definition that names none, for tenants without their own.
    pub default_timezone: String,
}

impl Default for AutomationsConfig {
    fn default() -> Self {
        Self { scheduler: true, tick_secs: 15, misfire_grace_secs: 300, default_timezone: "UTC".to_owned() }
    }
}

/// `[sync]`: CRM document sync (SPEC Y1-Y4): webhooks of sync sources become jobs of kind
/// `sync.document`, one worker per document at a time across replicas.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// Whether this server reconciles its sources periodically (any number of replicas may: each
    /// source is reconciled once per interval).
    pub reconciler: bool,
    /// How often a source's documents are listed from the CRM to catch up on lost webhooks, in
    /// seconds.
    pub reconcile_secs: u64,
    /// How long a worker holds a document's lock at most, in seconds (a dead worker's lock is
    /// free again after this).
    pub lock_secs: u64,
    /// Attempts of a document's sync before it ends as failed (`Fehler`) with its error.
    pub max_attempts: u32,
    /// The first pause before another attempt, in milliseconds; it doubles each time...
    pub retry_base_ms: u64,
    /// ...up to this many seconds.
    pub retry_max_secs: u64,
    /// How long a sync waits for the synced file's preview (its extraction), in seconds; without
    /// one by then, the CRM gets no preview this time.
    pub preview_wait_secs: u64,
    /// Time limit of one request to the CRM or a sink, in seconds.
    pub http_timeout_secs: u64,
    /// Records in one webhook delivery at most (EspoCRM batches up to 50 by default).
    pub max_webhook_records: u32,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            reconciler: true,
            reconcile_secs: 900,
            lock_secs: 300,
            max_attempts: 5,
            retry_base_ms: 2000,
            retry_max_secs: 300,
            preview_wait_secs: 60,
            http_timeout_secs: 60,
            max_webhook_records: 500,
        }
    }
}

/// `[chat]`: chats with documents (SPEC C1-C3); each answer is a job of kind `chat.turn`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatConfig {
    /// An answer's time limit in seconds (the job's timeout).
    pub timeout_secs: u64,
    /// How long a turn waits for an attached file that is still being extracted, in seconds;
    /// then it answers without it and says so.
    pub extraction_wait_secs: u64,
    /// Passages retrieved from a chat's project for one question.
    pub retrieval_passages: u32,
    /// The earlier messages of a chat sent with a question, at most this many tokens of them.
    pub history_tokens: u32,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self { timeout_secs: 600, extraction_wait_secs: 60, retrieval_passages: 8, history_tokens: 4000 }
    }
}

/// `[embeddings]`: vector search for chat retrieval (SPEC C3). When `model` is set, every
/// extracted file's search pieces are embedded in the background (jobs of kind `embed.file`,
/// billed to the tenant like any call) and a chat's retrieval fuses full-text and vector hits.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddingsConfig {
    /// The registry model that embeds (one with the `embedding` capability; the built-in
    /// registry has `dryrun-embedding`); empty: no vectors, full-text retrieval only.
    pub model: String,
    /// Pieces (up to 8,192 characters each) per embedding call.
    pub batch_size: u32,
    /// The most vectors one question is compared with (an exact cosine scan of the project's
    /// vectors in the server: about 1 KB to 12 KB each, so 200,000 is up to a few hundred MB read).
    pub max_scan: u32,
}

impl Default for EmbeddingsConfig {
    fn default() -> Self {
        Self { model: String::new(), batch_size: 32, max_scan: 200_000 }
    }
}

/// `[database]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://...` or `postgres://...`; empty means SQLite at `<data_dir>/docwright.db`.
    /// May hold a password, so it is a secret.
    pub url: Option<Secret>,
    pub url_file: Option<PathBuf>,
    /// Upper bound of pooled connections.
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { url: None, url_file: None, max_connections: 10 }
    }
}

/// `[bootstrap]`: what the first start creates.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BootstrapConfig {
    /// When set, the bootstrap admin's static login token is this value instead of a
    /// generated one (for automated deployments).
    pub admin_token: Option<Secret>,
    pub admin_token_file: Option<PathBuf>,
    /// Display name of the bootstrap admin.
    pub admin_name: String,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        Self { admin_token: None, admin_token_file: None, admin_name: "Administrator".to_owned() }
    }
}

/// `[auth]`: tokens.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// HS256 key for access tokens (at least 32 bytes). When unset, one is generated at the
    /// first start and kept in the database, so every replica on that database shares it.
    pub jwt_secret: Option<Secret>,
    pub jwt_secret_file: Option<PathBuf>,
    /// Lifetime of an access token (JWT).
    pub access_token_ttl_secs: u64,
    /// Lifetime of a refresh token; each use rotates it.
    pub refresh_token_ttl_secs: u64,
    /// How long a replica remembers credentials, tenant contexts, RBAC rules and provider keys
    /// (0: not at all). Changes made on this replica apply at once; on others within this time.
    pub cache_ttl_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            jwt_secret_file: None,
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            cache_ttl_secs: 5,
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter: `info`, `debug`, `info,docwright_server=debug`, ...
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { level: "info".to_owned(), format: LogFormat::Pretty }
    }
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

/// `[observability]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObservabilityConfig {
    /// When set, `GET /metrics` requires `Authorization: Bearer <metrics_token>`.
    pub metrics_token: Option<Secret>,
    pub metrics_token_file: Option<PathBuf>,
}

/// Which database the URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

impl Config {
    /// Loads configuration from `file` (or `docwright.toml` when present) and the environment,
    /// resolves `_file` secrets and checks every value.
    pub fn load(file: Option<&Path>) -> Result<Self> {
        Self::load_from(file, Env::prefixed("DOCWRIGHT_"))
    }

    fn load_from(file: Option<&Path>, env: Env) -> Result<Self> {
        let mut figment = Figment::new();
        match file {
            Some(path) => {
                if !path.is_file() {
                    return Err(ConfigError::Invalid(format!("  config file `{}` does not exist", path.display())));
                }
                figment = figment.merge(Toml::file_exact(path));
            }
            None => {
                if Path::new(DEFAULT_CONFIG_FILE).is_file() {
                    figment = figment.merge(Toml::file_exact(DEFAULT_CONFIG_FILE));
                }
            }
        }
        // Only `<SECTION>__<KEY>` variables are configuration; others that share the prefix
        // (such as `DOCWRIGHT_TEST_POSTGRES_URL`) are not ours to reject.
        let env = env.filter(|k| k.as_str().contains("__")).split("__");
        figment = figment.merge(env);
        let mut config: Config = figment.extract().map_err(describe)?;
        config.resolve_secret_files()?;
        config.check()?;
        Ok(config)
    }

    fn resolve_secret_files(&mut self) -> Result<()> {
        resolve(&mut self.database.url, &self.database.url_file, "database.url")?;
        resolve(&mut self.bootstrap.admin_token, &self.bootstrap.admin_token_file, "bootstrap.admin_token")?;
        resolve(&mut self.auth.jwt_secret, &self.auth.jwt_secret_file, "auth.jwt_secret")?;
        resolve(&mut self.security.encryption_key, &self.security.encryption_key_file, "security.encryption_key")?;
        for (i, p) in self.providers.iter_mut().enumerate() {
            resolve(&mut p.api_key, &p.api_key_file, &format!("providers[{i}].api_key"))?;
            resolve(
                &mut p.client_key_password,
                &p.client_key_password_file,
                &format!("providers[{i}].client_key_password"),
            )?;
        }
        resolve(&mut self.smtp.password, &self.smtp.password_file, "smtp.password")?;
        resolve(
            &mut self.observability.metrics_token,
            &self.observability.metrics_token_file,
            "observability.metrics_token",
        )?;
        Ok(())
    }

    fn check(&self) -> Result<()> {
        let mut problems = Vec::new();
        let mut bad = |key: &str, why: String| problems.push(format!("  `{key}`: {why}"));
        if self.server.body_limit_bytes < 1024 {
            bad("server.body_limit_bytes", "must be at least 1024".to_owned());
        }
        if self.server.request_timeout_secs == 0 {
            bad("server.request_timeout_secs", "must be at least 1".to_owned());
        }
        for origin in &self.server.cors_origins {
            if !valid_origin(origin) {
                bad(
                    "server.cors_origins",
                    format!("{origin:?} is not an origin: scheme://host[:port], no path, no wildcard"),
                );
            }
        }
        if self.storage.data_dir.as_os_str().is_empty() {
            bad("storage.data_dir", "must not be empty".to_owned());
        }
        if let Some(url) = &self.database.url {
            let u = url.expose();
            if !(u.starts_with("sqlite:") || u.starts_with("postgres://") || u.starts_with("postgresql://")) {
                bad(
                    "database.url",
                    "must start with sqlite: or postgres:// (the value is not shown: it may hold a password)"
                        .to_owned(),
                );
            }
        }
        let x = &self.extraction;
        if !(1..=64).contains(&x.workers) {
            bad("extraction.workers", "must be between 1 and 64".to_owned());
        }
        if x.timeout_secs == 0 || x.ocr_timeout_secs == 0 || x.poll_interval_ms == 0 {
            bad("extraction", "timeout_secs, ocr_timeout_secs and poll_interval_ms must be at least 1".to_owned());
        }
        if x.max_memory_mib < 64 {
            bad("extraction.max_memory_mib", "must be at least 64".to_owned());
        }
        if x.max_pages == 0 || x.max_inflated_mib == 0 || x.max_xml_depth < 8 || x.max_attempts == 0 {
            bad(
                "extraction",
                "max_pages, max_inflated_mib and max_attempts must be at least 1, max_xml_depth at least 8".to_owned(),
            );
        }
        if !(16..=2048).contains(&x.thumbnail_width) || !(16..=2048).contains(&x.thumbnail_height) {
            bad("extraction.thumbnail_width", "thumbnail sizes must be between 16 and 2048".to_owned());
        }
        if let Some(l) =
            x.ocr_languages.iter().find(|l| l.is_empty() || !l.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            bad("extraction.ocr_languages", format!("`{l}` is not a Tesseract language code"));
        }
        if !(1..=1000).contains(&self.database.max_connections) {
            bad("database.max_connections", "must be between 1 and 1000".to_owned());
        }
        if self.bootstrap.admin_token.as_ref().is_some_and(|t| t.expose().trim().len() < 16) {
            bad("bootstrap.admin_token", "must be at least 16 characters".to_owned());
        }
        if self.bootstrap.admin_name.trim().is_empty() {
            bad("bootstrap.admin_name", "must not be empty".to_owned());
        }
        if self.security.encryption_key.as_ref().is_some_and(|s| s.expose().len() < 32) {
            bad("security.encryption_key", "must be at least 32 characters".to_owned());
        }
        if self.auth.jwt_secret.as_ref().is_some_and(|s| s.expose().len() < 32) {
            bad("auth.jwt_secret", "must be at least 32 bytes".to_owned());
        }
        if !(10..=24 * 3600).contains(&self.auth.access_token_ttl_secs) {
            bad("auth.access_token_ttl_secs", "must be between 10 and 86400".to_owned());
        }
        if self.auth.refresh_token_ttl_secs < self.auth.access_token_ttl_secs {
            bad("auth.refresh_token_ttl_secs", "must not be shorter than auth.access_token_ttl_secs".to_owned());
        }
        if docwright_core::billing::Currency::parse(&self.billing.default_currency).is_err() {
            bad("billing.default_currency", "must be a currency code such as CHF or EUR".to_owned());
        }
        if docwright_core::money::Money::parse(&self.billing.root_user_credit).is_err() {
            bad("billing.root_user_credit", "must be a decimal amount such as 10.00".to_owned());
        }
        if !(10..=86_400).contains(&self.billing.reservation_ttl_secs) {
            bad("billing.reservation_ttl_secs", "must be between 10 and 86400".to_owned());
        }
        if self.billing.reconcile_every_secs == 0
            || self.billing.instance_timeout_secs < 2 * self.billing.reconcile_every_secs
        {
            bad(
                "billing.instance_timeout_secs",
                "must be at least twice billing.reconcile_every_secs (which must be at least 1)".to_owned(),
            );
        }
        if self.auth.cache_ttl_secs > 300 {
            bad("auth.cache_ttl_secs", "must be at most 300".to_owned());
        }
        if self.log.level.trim().is_empty() {
            bad("log.level", "must not be empty".to_owned());
        }
        self.check_registry(&mut bad);
        self.check_smtp(&mut bad);
        self.check_jobs(&mut bad);
        self.check_workflows(&mut bad);
        self.check_chat(&mut bad);
        if !(1..=2048).contains(&self.embeddings.batch_size) {
            bad("embeddings.batch_size", "must be between 1 and 2048".to_owned());
        }
        if !(1..=10_000_000).contains(&self.embeddings.max_scan) {
            bad("embeddings.max_scan", "must be between 1 and 10000000".to_owned());
        }
        let embedder = self.embeddings.model.trim();
        if !embedder.is_empty() {
            let builtin = self.models.is_empty() && embedder == "dryrun-embedding";
            match self.models.iter().find(|m| m.name == embedder) {
                Some(m) if !m.capabilities.contains(&Capability::Embedding) => {
                    bad("embeddings.model", format!("model `{embedder}` has no `embedding` capability"))
                }
                None if !builtin => {
                    bad("embeddings.model", format!("no model `{embedder}` is configured in [[models]]"))
                }
                _ => {}
            }
        }
        if self.gateway.retries_per_model > 5 {
            bad("gateway.retries_per_model", "must be at most 5".to_owned());
        }
        if self.gateway.backoff_base_ms > 60_000 {
            bad("gateway.backoff_base_ms", "must be at most 60000".to_owned());
        }
        if self.gateway.breaker_failures == 0 {
            bad("gateway.breaker_failures", "must be at least 1".to_owned());
        }
        if !(1..=64).contains(&self.gateway.chunk_parallelism) {
            bad("gateway.chunk_parallelism", "must be between 1 and 64".to_owned());
        }
        if self.gateway.chunk_overlap_tokens > 4096 {
            bad("gateway.chunk_overlap_tokens", "must be at most 4096".to_owned());
        }
        if problems.is_empty() { Ok(()) } else { Err(ConfigError::Invalid(problems.join("\n"))) }
    }

    fn check_registry(&self, bad: &mut impl FnMut(&str, String)) {
        let mut names = std::collections::HashSet::new();
        for (i, p) in self.providers.iter().enumerate() {
            let key = |k: &str| format!("providers[{i}].{k}");
            if p.name.trim().is_empty() || !p.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                bad(&key("name"), "must be letters, digits, `-` or `_` (it becomes resource.aicore.<name>)".to_owned());
            }
            if !names.insert(p.name.as_str()) {
                bad(&key("name"), format!("`{}` is configured twice", p.name));
            }
            match p.kind {
                ProviderKind::OpenaiCompatible => {
                    let ok =
                        p.base_url.as_deref().is_some_and(|u| u.starts_with("http://") || u.starts_with("https://"));
                    if !ok {
                        bad(&key("base_url"), "an openai_compatible provider needs an http(s) base_url".to_owned());
                    }
                }
                ProviderKind::Anthropic | ProviderKind::Gemini => {
                    if p.base_url.as_deref().is_some_and(|u| !(u.starts_with("http://") || u.starts_with("https://"))) {
                        bad(&key("base_url"), "must be an http(s) URL (or left out for the provider's own)".to_owned());
                    }
                }
                ProviderKind::Dryrun => {}
                ProviderKind::Gigachat => check_gigachat(p, &key, bad),
            }
            if p.kind != ProviderKind::Gigachat {
                for (k, set) in
                    [("mode", p.mode.is_some()), ("auth_url", p.auth_url.is_some()), ("scope", p.scope.is_some())]
                {
                    if set {
                        bad(&key(k), "only a gigachat provider has this setting".to_owned());
                    }
                }
            }
            if p.kind != ProviderKind::OpenaiCompatible && p.response_format.is_some() {
                bad(&key("response_format"), "only an openai_compatible provider has this setting".to_owned());
            }
            match (p.client_cert_file.is_some(), p.client_key_file.is_some()) {
                (true, false) => bad(&key("client_key_file"), "client_cert_file needs its client_key_file".to_owned()),
                (false, true) => bad(&key("client_cert_file"), "client_key_file needs its client_cert_file".to_owned()),
                _ => {}
            }
            if p.client_key_password.is_some() && p.client_key_file.is_none() {
                bad(&key("client_key_password"), "is only used with client_key_file".to_owned());
            }
            if p.kind == ProviderKind::Dryrun {
                // dryrun makes no connection; TLS settings on it are a mistake worth naming.
                for (k, set) in [
                    ("ca_bundle_file", p.ca_bundle_file.is_some()),
                    ("client_cert_file", p.client_cert_file.is_some()),
                    ("client_key_file", p.client_key_file.is_some()),
                    ("client_key_password", p.client_key_password.is_some()),
                ] {
                    if set {
                        bad(&key(k), "a dryrun provider makes no connection, so it takes no TLS settings".to_owned());
                    }
                }
            }
            if p.requests_per_minute == Some(0) {
                bad(&key("requests_per_minute"), "must be at least 1 (leave it out for no limit)".to_owned());
            }
            if p.tokens_per_minute == Some(0) {
                bad(&key("tokens_per_minute"), "must be at least 1 (leave it out for no limit)".to_owned());
            }
            if !(1..=3600).contains(&p.timeout_secs) {
                bad(&key("timeout_secs"), "must be between 1 and 3600".to_owned());
            }
        }
        let models: std::collections::HashSet<&str> = self.models.iter().map(|m| m.name.as_str()).collect();
        let mut seen = std::collections::HashSet::new();
        for (i, m) in self.models.iter().enumerate() {
            let key = |k: &str| format!("models[{i}].{k}");
            if m.name.trim().is_empty() {
                bad(&key("name"), "must not be empty".to_owned());
            }
            if !seen.insert(m.name.as_str()) {
                bad(&key("name"), format!("`{}` is configured twice", m.name));
            }
            if !names.contains(m.provider.as_str()) {
                bad(&key("provider"), format!("no provider named `{}` is configured", m.provider));
            }
            // A model that only embeds writes no output, so 0 is its honest limit.
            let embeds_only = m.capabilities.iter().all(|c| *c == Capability::Embedding) && !m.capabilities.is_empty();
            if m.context_tokens == 0
                || (m.max_output_tokens == 0 && !embeds_only)
                || m.max_output_tokens > m.context_tokens
            {
                bad(
                    &key("max_output_tokens"),
                    "context_tokens and max_output_tokens must be positive (max_output_tokens may be 0 for a model \
                     that only embeds), max_output_tokens ≤ context_tokens"
                        .to_owned(),
                );
            }
            for (field, price) in
                [("price_input_per_mtok", &m.price_input_per_mtok), ("price_output_per_mtok", &m.price_output_per_mtok)]
            {
                let parsed = docwright_core::money::Money::parse(price)
                    .map_err(|e| e.to_string())
                    .and_then(|p| docwright_core::money::PricePerMtok::new(p).map_err(|e| e.to_string()));
                if let Err(e) = parsed {
                    bad(&key(field), e);
                }
            }
            if !(1..=10).contains(&m.quality) || !(1..=10).contains(&m.speed) {
                bad(&key("quality"), "quality and speed are ranks from 1 to 10".to_owned());
            }
            for f in &m.fallbacks {
                if !models.contains(f.as_str()) || f == &m.name {
                    bad(&key("fallbacks"), format!("`{f}` is not another configured model"));
                }
            }
        }
        if !self.models.is_empty() && self.providers.is_empty() {
            bad("models", "models are configured but no [[providers]]".to_owned());
        }
    }

    fn check_workflows(&self, bad: &mut impl FnMut(&str, String)) {
        let w = &self.workflows;
        let ranges: [(&str, u64, u64, u64); 7] = [
            ("workflows.max_tasks", u64::from(w.max_tasks), 1, 100),
            ("workflows.max_steps_per_task", u64::from(w.max_steps_per_task), 1, 100),
            ("workflows.section_parallelism", u64::from(w.section_parallelism), 1, 256),
            ("workflows.extraction_parallelism", u64::from(w.extraction_parallelism), 1, 256),
            ("workflows.timeout_secs", w.timeout_secs, 10, 86_400),
            ("workflows.max_attempts", u64::from(w.max_attempts), 1, 100),
            ("workflows.extraction_wait_secs", w.extraction_wait_secs, 0, 86_400),
        ];
        for (key, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                bad(key, format!("must be between {min} and {max}"));
            }
        }
    }

    fn check_chat(&self, bad: &mut impl FnMut(&str, String)) {
        let c = &self.chat;
        let ranges: [(&str, u64, u64, u64); 4] = [
            ("chat.timeout_secs", c.timeout_secs, 10, 86_400),
            ("chat.extraction_wait_secs", c.extraction_wait_secs, 0, 3_600),
            ("chat.retrieval_passages", u64::from(c.retrieval_passages), 0, 100),
            ("chat.history_tokens", u64::from(c.history_tokens), 0, 1_000_000),
        ];
        for (key, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                bad(key, format!("must be between {min} and {max}"));
            }
        }
    }

    fn check_jobs(&self, bad: &mut impl FnMut(&str, String)) {
        let j = &self.jobs;
        let ranges: [(&str, u64, u64, u64); 9] = [
            ("jobs.workers", u64::from(j.workers), 1, 256),
            ("jobs.poll_interval_ms", j.poll_interval_ms, 10, 600_000),
            ("jobs.lease_secs", j.lease_secs, 2, 3600),
            ("jobs.rescue_every_secs", j.rescue_every_secs, 1, 3600),
            ("jobs.backoff_base_ms", j.backoff_base_ms, 1, 3_600_000),
            ("jobs.backoff_max_secs", j.backoff_max_secs, 1, 86_400),
            ("jobs.max_attempts", u64::from(j.max_attempts), 1, 100),
            ("jobs.timeout_secs", j.timeout_secs, 1, 86_400),
            ("jobs.shutdown_grace_secs", j.shutdown_grace_secs, 0, 3600),
        ];
        for (key, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                bad(key, format!("must be between {min} and {max}"));
            }
        }
        if j.heartbeat_secs == 0 || j.heartbeat_secs.saturating_mul(2) > j.lease_secs {
            bad("jobs.heartbeat_secs", "must be at least 1 and at most half of jobs.lease_secs".to_owned());
        }
        if j.backoff_max_secs.saturating_mul(1000) < j.backoff_base_ms {
            bad("jobs.backoff_max_secs", "must not be shorter than jobs.backoff_base_ms".to_owned());
        }
        for (kind, secs) in &j.timeouts {
            let key = format!("jobs.timeouts.{kind}");
            if kind.is_empty()
                || kind.len() > 64
                || !kind.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
            {
                bad(&key, "a job kind is 1 to 64 lower-case letters, digits, `.`, `_` or `-`".to_owned());
            }
            if !(1..=86_400).contains(secs) {
                bad(&key, "must be between 1 and 86400 seconds".to_owned());
            }
        }
    }

    fn check_smtp(&self, bad: &mut impl FnMut(&str, String)) {
        let smtp = &self.smtp;
        if let Some(host) = &smtp.host
            && (host.trim().is_empty() || host.contains(['/', ':', ' ', '@']))
        {
            bad("smtp.host", "must be a host name or address, without scheme, port or path".to_owned());
        }
        if smtp.port == 0 {
            bad("smtp.port", "must be between 1 and 65535".to_owned());
        }
        match &smtp.from {
            Some(from) => {
                if let Err(e) = from.parse::<lettre::message::Mailbox>() {
                    bad(
                        "smtp.from",
                        format!("`{from}` is not a mailbox such as `docwright <billing@example.com>` ({e})"),
                    );
                }
            }
            None if smtp.host.is_some() => bad("smtp.from", "is required when smtp.host is set".to_owned()),
            None => {}
        }
        if smtp.username.as_deref().is_some_and(|u| u.trim().is_empty()) {
            bad("smtp.username", "must not be empty (leave it out to send without logging in)".to_owned());
        }
        if smtp.password.is_some() && smtp.username.is_none() {
            bad("smtp.password", "needs smtp.username".to_owned());
        }
        if smtp.username.is_some() && smtp.password.is_none() {
            bad("smtp.username", "needs smtp.password (or smtp.password_file)".to_owned());
        }
        if !(1..=600).contains(&smtp.timeout_secs) {
            bad("smtp.timeout_secs", "must be between 1 and 600".to_owned());
        }
        if !(1..=50).contains(&smtp.max_attempts) {
            bad("smtp.max_attempts", "must be between 1 and 50".to_owned());
        }
    }

    /// The database URL in force: the configured one, or SQLite in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(u) => u.expose().to_owned(),
            None => format!("sqlite://{}?mode=rwc", self.storage.data_dir.join("docwright.db").display()),
        }
    }

    pub fn database_kind(&self) -> DatabaseKind {
        if self.database_url().starts_with("postgres") { DatabaseKind::Postgres } else { DatabaseKind::Sqlite }
    }
}

/// The settings only a `gigachat` provider has, and what each mode needs.
/// Whether `o` is a web origin as browsers send it: `http(s)://host[:port]`, nothing after.
fn valid_origin(o: &str) -> bool {
    let Some(rest) = o.strip_prefix("https://").or_else(|| o.strip_prefix("http://")) else { return false };
    let (host, port) = rest.rsplit_once(':').map_or((rest, None), |(h, p)| (h, Some(p)));
    !host.is_empty()
        && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
        && port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()))
}

fn check_gigachat(p: &ProviderConfig, key: &dyn Fn(&str) -> String, bad: &mut impl FnMut(&str, String)) {
    let http = |u: &str| u.starts_with("http://") || u.starts_with("https://");
    if p.base_url.as_deref().is_some_and(|u| !http(u)) {
        bad(&key("base_url"), "must be an http(s) URL (or left out for GigaChat's own)".to_owned());
    }
    match p.mode.unwrap_or_default() {
        GigachatMode::Cloud => {
            if p.auth_url.as_deref().is_some_and(|u| !http(u)) {
                bad(&key("auth_url"), "must be an http(s) URL (or left out for GigaChat's own)".to_owned());
            }
            if let Some(scope) = p.scope.as_deref().filter(|s| !GIGACHAT_SCOPES.contains(s)) {
                bad(&key("scope"), format!("`{scope}` is not one of {}", GIGACHAT_SCOPES.join(", ")));
            }
        }
        GigachatMode::Mtls => {
            if p.client_cert_file.is_none() && p.client_key_file.is_none() {
                bad(&key("client_cert_file"), "mode mtls needs client_cert_file and client_key_file".to_owned());
            }
            for (k, set) in [("auth_url", p.auth_url.is_some()), ("scope", p.scope.is_some())] {
                if set {
                    bad(&key(k), "is only used in mode cloud (mode mtls exchanges no token)".to_owned());
                }
            }
            if p.api_key.is_some() {
                bad(&key("api_key"), "is not used in mode mtls (the client certificate authenticates)".to_owned());
            }
        }
    }
}

/// Fills `value` from `file` when the file is given; both at once is an error.
fn resolve(value: &mut Option<Secret>, file: &Option<PathBuf>, key: &str) -> Result<()> {
    let Some(path) = file else { return Ok(()) };
    if value.is_some() {
        return Err(ConfigError::Invalid(format!("  `{key}`: set either `{key}` or `{key}_file`, not both")));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::Invalid(format!("  `{key}_file`: cannot read `{}`: {e}", path.display())))?;
    let text = text.trim_end_matches(['\n', '\r']);
    if text.is_empty() {
        return Err(ConfigError::Invalid(format!("  `{key}_file`: `{}` is empty", path.display())));
    }
    *value = Some(Secret::new(text.to_owned()));
    Ok(())
}

/// One line per problem: the key, what is wrong, and where the value came from.
fn describe(err: figment::Error) -> ConfigError {
    let lines: Vec<String> = err
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let source = e
                .metadata
                .as_ref()
                .map(|m| {
                    if m.name.contains("environment") {
                        format!(" (from environment variable `DOCWRIGHT_{}`)", e.path.join("__").to_uppercase())
                    } else if let Some(src) = &m.source {
                        format!(" (from {src})")
                    } else {
                        format!(" (from {})", m.name)
                    }
                })
                .unwrap_or_default();
            let kind = &e.kind;
            if key.is_empty() { format!("  {kind}{source}") } else { format!("  `{key}`: {kind}{source}") }
        })
        .collect();
    ConfigError::Invalid(lines.join("\n"))
}

#[cfg(test)]
mod tests;
