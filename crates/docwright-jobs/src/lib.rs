//! The runtime of docwright's durable job queue (SPEC S2): jobs live in the database
//! (`docwright_storage::jobs`), and this crate runs them — workers that claim by priority then
//! age, leases renewed by heartbeats, fencing by attempt id, the rescuer, retries with
//! exponential backoff and jitter, per-kind timeouts that cancel the running future,
//! cooperative cancellation, graceful shutdown, and wake-ups (PostgreSQL LISTEN/NOTIFY,
//! in-process on SQLite, polling as the fallback). It knows nothing of HTTP or of the engine.
//!
//! Layout:
//! - [`Handler`]: what a kind of job does — one narrow async trait, registered per kind in a
//!   [`Registry`]. A handler answers a JSON result or a [`JobError`] (retryable or permanent).
//! - [`JobContext`] (module `context`): what a running attempt sees — id, kind, tenant,
//!   payload, attempt number, a cancellation token that fires on timeout, cancellation request
//!   or shutdown, progress reporting, and [`JobContext::finish_in`] to end the job inside the
//!   handler's own transaction.
//! - [`Queue`]: the handle the engine keeps — enqueue, cancel (reaching a job running in this
//!   process at once), retry; and [`Queue::runtime`] to build the workers.
//! - [`Runtime`] (module `runtime`): the workers, the rescuer and the listener, as owned tasks
//!   (a `TaskTracker` and cancellation tokens), with one testable step ([`Runtime::run_once`]).
//!
//! **Guarantees.** Delivery is at least once: a job whose worker dies (SIGKILL, power loss) is
//! claimed again once its lease runs out, so a handler may run twice and must key its effects
//! by the job (its id, or a record the payload names). What a handler writes in the transaction
//! that finishes its job (`finish_in`) happens exactly once: that transaction names the attempt
//! id the job was claimed with and fails when the attempt lost its lease, so of two workers
//! that ran one job only one can commit.

mod context;
mod runtime;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use docwright_core::id::JobId;
use docwright_core::time::Timestamp;
use docwright_storage::Db;
pub use docwright_storage::jobs::{
    CancelOutcome, DEFAULT_MAX_ATTEMPTS, Enqueued, Job, JobFilter, JobState, NewJob, RetryOutcome, Scope,
};
use serde_json::Value;

pub use context::{JobContext, StopReason};
pub use runtime::{Latency, Observer, Outcome, Ran, Runtime};

/// Errors of the queue runtime.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Storage(#[from] docwright_storage::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a job's attempt failed: a stable snake_case `code` and a message, stored with the job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt (after a backoff, or `retry_after`), while attempts remain.
    #[error("{code}: {message}")]
    Retryable { code: String, message: String, retry_after: Option<Duration> },
    /// Trying again cannot help: the job is discarded at once with this reason.
    #[error("{code}: {message}")]
    Permanent { code: String, message: String },
    /// The handler stopped because its cancellation token fired.
    #[error("cancelled")]
    Cancelled,
}

impl JobError {
    pub fn retryable(code: impl Into<String>, message: impl Into<String>) -> Self {
        JobError::Retryable { code: code.into(), message: message.into(), retry_after: None }
    }

    pub fn permanent(code: impl Into<String>, message: impl Into<String>) -> Self {
        JobError::Permanent { code: code.into(), message: message.into() }
    }

    /// The next attempt not before `after` (a provider's `Retry-After`).
    pub fn retry_after(self, after: Duration) -> Self {
        match self {
            JobError::Retryable { code, message, .. } => {
                JobError::Retryable { code, message, retry_after: Some(after) }
            }
            other => other,
        }
    }

    pub fn code(&self) -> &str {
        match self {
            JobError::Retryable { code, .. } | JobError::Permanent { code, .. } => code,
            JobError::Cancelled => "cancelled",
        }
    }
}

impl From<docwright_storage::Error> for JobError {
    fn from(e: docwright_storage::Error) -> Self {
        JobError::retryable("storage", e.to_string())
    }
}

/// What one kind of job does. Handlers are idempotent by design: after a crash a job runs
/// again, so its effects are keyed by the job (see the crate docs).
///
/// ```ignore
/// struct Send;
/// impl Handler for Send {
///     async fn run(&self, job: JobContext) -> Result<serde_json::Value, JobError> {
///         let to = job.payload()["to"].as_str().ok_or_else(|| JobError::permanent("bad_payload", "no `to`"))?;
///         // ... do the work, watching job.cancelled() when it takes long ...
///         Ok(serde_json::json!({"sent_to": to}))
///     }
/// }
/// ```
pub trait Handler: Send + Sync + 'static {
    fn run(&self, job: JobContext) -> impl Future<Output = Result<Value, JobError>> + Send;
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`Handler`] behind a pointer (its `async fn` is not object-safe).
trait DynHandler: Send + Sync {
    fn call(&self, job: JobContext) -> BoxFuture<'_, Result<Value, JobError>>;
}

impl<H: Handler> DynHandler for H {
    fn call(&self, job: JobContext) -> BoxFuture<'_, Result<Value, JobError>> {
        Box::pin(self.run(job))
    }
}

/// The handlers of a runtime, by kind.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<String, Arc<dyn DynHandler>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("kinds", &self.kinds()).finish()
    }
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs jobs of `kind` with `handler` (a later registration of the kind replaces it).
    pub fn register(&mut self, kind: impl Into<String>, handler: impl Handler) -> &mut Self {
        self.handlers.insert(kind.into(), Arc::new(handler));
        self
    }

    /// The kinds registered, sorted.
    pub fn kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self.handlers.keys().cloned().collect();
        kinds.sort();
        kinds
    }

    pub fn handles(&self, kind: &str) -> bool {
        self.handlers.contains_key(kind)
    }

    fn get(&self, kind: &str) -> Option<Arc<dyn DynHandler>> {
        self.handlers.get(kind).cloned()
    }
}

/// How a runtime runs jobs (`[jobs]` in the configuration).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Jobs run at the same time by one runtime.
    pub workers: usize,
    /// How often idle workers look for due jobs when nothing woke them (scheduled and retried
    /// jobs, notifications lost).
    pub poll_interval: Duration,
    /// How long a claim holds a job without a heartbeat.
    pub lease: Duration,
    /// How often a running job's lease is renewed (and a cancellation request noticed).
    pub heartbeat: Duration,
    /// How often the rescuer looks for expired leases.
    pub rescue_every: Duration,
    /// Retry delay after the first failed attempt; it doubles per attempt, up to `backoff_max`,
    /// and a random half of it is taken off (jitter), so retries of many jobs spread out.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// A job's time limit unless its kind (`timeouts`) or the job itself says otherwise.
    pub default_timeout: Duration,
    pub timeouts: HashMap<String, Duration>,
    /// Listen for PostgreSQL notifications (else, and on SQLite, poll and wake in process).
    pub listen: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            workers: 4,
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(10),
            rescue_every: Duration::from_secs(5),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(600),
            default_timeout: Duration::from_secs(900),
            timeouts: HashMap::new(),
            listen: true,
        }
    }
}

impl Settings {
    /// The delay before attempt `attempt + 1`, after `attempt` failed ones: exponential with
    /// jitter, between half and all of `min(base * 2^(attempt-1), max)`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.backoff_base.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(30)));
        let full = exp.min(self.backoff_max);
        full.mul_f64(0.5 + rand::random::<f64>() * 0.5)
    }

    /// The time limit of `job`: its own, else its kind's, else the default.
    pub fn timeout_of(&self, job: &Job) -> Duration {
        job.timeout.or_else(|| self.timeouts.get(&job.kind).copied()).unwrap_or(self.default_timeout)
    }
}

/// The queue as the engine holds it: enqueue, cancel, retry, and the workers' runtime.
#[derive(Clone, Debug)]
pub struct Queue {
    db: Db,
    local: Arc<Local>,
}

/// The attempts running in this process, so a cancellation reaches them at once.
#[derive(Default)]
struct Local {
    running: Mutex<HashMap<JobId, JobContext>>,
}

impl std::fmt::Debug for Local {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Local")
    }
}

impl Local {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<JobId, JobContext>) -> T) -> T {
        // A poisoned lock only means a thread panicked while holding it; the map stays usable.
        f(&mut self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Stops the attempt of `id` running here, if one is.
    fn stop(&self, id: JobId, reason: StopReason) {
        if let Some(ctx) = self.with(|m| m.get(&id).cloned()) {
            ctx.stop(reason);
        }
    }
}

impl Queue {
    pub fn new(db: Db) -> Self {
        Self { db, local: Arc::default() }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Enqueues a job on its own; inside a caller's transaction use
    /// `docwright_storage::WriteTx::enqueue`.
    pub async fn enqueue(&self, job: &NewJob) -> Result<Enqueued> {
        Ok(self.db.enqueue(job).await?)
    }

    /// Cancels a job within `scope`: a queued one at once; a running one by firing its
    /// cancellation token — at once when it runs in this process, else at its worker's next
    /// heartbeat (on PostgreSQL, a notification reaches the worker sooner).
    pub async fn cancel(&self, scope: Scope, id: JobId) -> Result<CancelOutcome> {
        let outcome = self.db.cancel_job(scope, id, Timestamp::now()).await?;
        if let CancelOutcome::Requested(_) = &outcome {
            self.local.stop(id, StopReason::CancelRequested);
        }
        Ok(outcome)
    }

    /// Makes a discarded, cancelled, retryable or scheduled job within `scope` available now.
    pub async fn retry(&self, scope: Scope, id: JobId) -> Result<RetryOutcome> {
        Ok(self.db.retry_job(scope, id, Timestamp::now()).await?)
    }

    /// The workers that run this queue's jobs with `registry`'s handlers.
    pub fn runtime(&self, registry: Registry, settings: Settings) -> Runtime {
        Runtime::new(self.clone(), registry, settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let s = Settings {
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(60),
            ..Settings::default()
        };
        for (attempt, full) in [(1, 2), (2, 4), (3, 8), (5, 32), (6, 60), (40, 60)] {
            for _ in 0..50 {
                let d = s.backoff(attempt);
                let full = Duration::from_secs(full);
                assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?} not in [{:?}, {full:?}]", full / 2);
            }
        }
    }

    #[test]
    fn timeouts_prefer_the_job_then_the_kind() {
        let mut s = Settings { default_timeout: Duration::from_secs(9), ..Settings::default() };
        s.timeouts.insert("slow".into(), Duration::from_secs(99));
        let job = |kind: &str, timeout| Job {
            id: JobId::new(),
            kind: kind.into(),
            tenant_id: None,
            payload: Value::Null,
            state: JobState::Running,
            priority: 0,
            run_at: Timestamp::now(),
            attempt: 1,
            max_attempts: 1,
            attempt_id: None,
            lease_until: None,
            worker: None,
            timeout,
            unique_key: None,
            result: None,
            error_code: None,
            last_error: None,
            cancel_requested: false,
            progress: None,
            created_at: Timestamp::now(),
            started_at: None,
            finished_at: None,
        };
        assert_eq!(s.timeout_of(&job("fast", None)), Duration::from_secs(9));
        assert_eq!(s.timeout_of(&job("slow", None)), Duration::from_secs(99));
        assert_eq!(s.timeout_of(&job("slow", Some(Duration::from_secs(1)))), Duration::from_secs(1));
    }
}
