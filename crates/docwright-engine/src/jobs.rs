//! The job queue as the engine uses it (SPEC S2): the handlers the server runs
//! ([`Engine::job_handlers`]), the defaults new jobs get, and the administrators' use cases —
//! list, retry, cancel — scoped to the caller's tenant, or to every job for sysadmins.

use docwright_core::id::JobId;
use docwright_core::rbac::{AccessLevel, Action, Permission, items};
use docwright_core::time::Timestamp;
use docwright_jobs::{CancelOutcome, Job, JobFilter, JobState, Registry, RetryOutcome, Scope};
use docwright_storage::jobs::Depth;
use docwright_storage::{Page, PageRequest};

use crate::access::Grant;
use crate::{Engine, Error, Result};

pub const JOB_READ: Permission = Permission::new(items::JOB, Action::Read);
pub const JOB_UPDATE: Permission = Permission::new(items::JOB, Action::Update);

/// What new jobs get unless their kind says otherwise (`[jobs]`).
#[derive(Debug, Clone)]
pub struct JobDefaults {
    pub max_attempts: u32,
}

impl Default for JobDefaults {
    fn default() -> Self {
        Self { max_attempts: docwright_jobs::DEFAULT_MAX_ATTEMPTS }
    }
}

impl JobDefaults {
    pub fn from_config(c: &docwright_config::JobsConfig) -> Self {
        Self { max_attempts: c.max_attempts }
    }
}

/// How the server's runtime runs jobs, from `[jobs]` (validated by the configuration check).
pub fn runtime_settings(c: &docwright_config::JobsConfig) -> docwright_jobs::Settings {
    use std::time::Duration;
    docwright_jobs::Settings {
        workers: c.workers as usize,
        poll_interval: Duration::from_millis(c.poll_interval_ms),
        lease: Duration::from_secs(c.lease_secs),
        heartbeat: Duration::from_secs(c.heartbeat_secs),
        rescue_every: Duration::from_secs(c.rescue_every_secs),
        backoff_base: Duration::from_millis(c.backoff_base_ms),
        backoff_max: Duration::from_secs(c.backoff_max_secs),
        default_timeout: Duration::from_secs(c.timeout_secs),
        timeouts: c.timeouts.iter().map(|(k, v)| (k.clone(), Duration::from_secs(*v))).collect(),
        listen: c.listen,
    }
}

/// What an administrator's cancellation did.
#[derive(Debug, Clone, PartialEq)]
pub enum Cancelled {
    /// It had not started: cancelled.
    Now(Job),
    /// It runs: its worker was asked to stop.
    Requested(Job),
}

impl Engine {
    /// With these defaults for new jobs.
    pub fn with_job_defaults(mut self, defaults: JobDefaults) -> Self {
        self.job_defaults = std::sync::Arc::new(defaults);
        self
    }

    /// The queue: enqueue, cancel, retry, and the runtime the server runs.
    pub fn queue(&self) -> &docwright_jobs::Queue {
        &self.queue
    }

    pub(crate) fn job_defaults(&self) -> &JobDefaults {
        &self.job_defaults
    }

    /// The handler of every kind of job the engine enqueues, for the server's runtime. A use
    /// case that runs on the queue adds its kind here with one line,
    /// `registry.register(KIND, handler)`; a caller may add more kinds to the answer before
    /// building the runtime with it (`Engine::queue().runtime(registry, settings)`).
    pub fn job_handlers(&self) -> Registry {
        let mut registry = Registry::new();
        registry.register(crate::ai_requests::KIND, crate::ai_requests::Runner::new(self.clone()));
        registry.register(crate::workflows::JOB_KIND, crate::workflows::WorkflowHandler(self.clone()));
        registry.register(crate::chat::JOB_KIND, crate::chat::TurnHandler(self.clone()));
        registry.register(crate::embeddings::JOB_KIND, crate::embeddings::EmbedHandler(self.clone()));
        registry.register(crate::sync::JOB_KIND, crate::sync::worker::SyncHandler(self.clone()));
        registry
    }

    /// Jobs by kind and state, for `/metrics` and `/api/health` (no tenant's data: counts).
    pub async fn job_depth(&self) -> Result<Vec<Depth>> {
        Ok(self.db.job_depth(Timestamp::now()).await?)
    }

    /// Jobs the caller administers, newest first: the tenant's, or every job for sysadmins.
    pub async fn list_jobs(
        &self,
        grant: &Grant,
        state: Option<JobState>,
        kind: Option<&str>,
        page: PageRequest<'_>,
    ) -> Result<Page<Job>> {
        grant.expect(JOB_READ)?;
        Ok(self.db.list_jobs(JobFilter { scope: scope(grant), state, kind }, page).await?)
    }

    /// Runs a discarded, cancelled or waiting job again now.
    pub async fn retry_job(&self, grant: &Grant, id: JobId) -> Result<Job> {
        grant.expect(JOB_UPDATE)?;
        match self.queue.retry(scope(grant), id).await.map_err(jobs_error)? {
            RetryOutcome::Queued(job) => Ok(job),
            RetryOutcome::NotRetryable(job) => Err(Error::Conflict(format!(
                "the job is {}: only discarded, cancelled or waiting jobs can be retried",
                job.state.as_str()
            ))),
            RetryOutcome::NotFound => Err(Error::NotFound("job")),
        }
    }

    /// Cancels a job: at once when it waits, by asking its worker when it runs.
    pub async fn cancel_job(&self, grant: &Grant, id: JobId) -> Result<Cancelled> {
        grant.expect(JOB_UPDATE)?;
        match self.queue.cancel(scope(grant), id).await.map_err(jobs_error)? {
            CancelOutcome::Cancelled(job) => Ok(Cancelled::Now(job)),
            CancelOutcome::Requested(job) => Ok(Cancelled::Requested(job)),
            CancelOutcome::Finished(job) => {
                Err(Error::Conflict(format!("the job already ended ({}): nothing to cancel", job.state.as_str())))
            }
            CancelOutcome::NotFound => Err(Error::NotFound("job")),
        }
    }
}

/// Sysadmins reach every job (system jobs too), everyone else the jobs of their tenant.
fn scope(grant: &Grant) -> Scope {
    if grant.level() >= AccessLevel::All { Scope::Any } else { Scope::Tenant(grant.ctx().tenant) }
}

pub(crate) fn jobs_error(e: docwright_jobs::Error) -> Error {
    match e {
        docwright_jobs::Error::Storage(e) => Error::Storage(e),
    }
}
