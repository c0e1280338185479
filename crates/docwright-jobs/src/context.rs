//! What a running attempt sees ([`JobContext`]), and how an attempt's end becomes the job's
//! next state ([`Ending`]) — the one decision the runtime and [`JobContext::finish_in`] share.

use std::sync::{Arc, Mutex, OnceLock};

use docwright_core::id::{JobId, TenantId};
use docwright_core::time::Timestamp;
use docwright_storage::jobs::{Finish, Job};
use docwright_storage::{Db, WriteTx};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::runtime::Outcome;
use crate::{JobError, Result, Settings};

/// Why an attempt's cancellation token fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The attempt ran past its kind's (or its own) time limit: its future is dropped and the
    /// attempt fails (`timeout`), to be retried while attempts remain.
    Timeout,
    /// Someone asked to cancel the job: the handler should stop; the job ends `cancelled`
    /// unless it completes first.
    CancelRequested,
    /// The server shuts down: the job is handed back for another worker (or the next start).
    Shutdown,
    /// The lease was lost (the job was rescued and may run elsewhere): nothing this attempt
    /// does can finish it any more.
    LeaseLost,
}

/// One attempt of one job, as its handler sees it. Cheap to clone.
#[derive(Clone)]
pub struct JobContext {
    inner: Arc<Inner>,
}

struct Inner {
    job: Job,
    attempt_id: String,
    db: Db,
    settings: Arc<Settings>,
    token: CancellationToken,
    reason: OnceLock<StopReason>,
    /// Set once the handler finished the job itself ([`JobContext::finish_in`]).
    finished: Mutex<Option<Outcome>>,
}

impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext")
            .field("id", &self.inner.job.id)
            .field("kind", &self.inner.job.kind)
            .field("attempt", &self.inner.job.attempt)
            .finish_non_exhaustive()
    }
}

impl JobContext {
    pub(crate) fn new(job: Job, db: Db, settings: Arc<Settings>) -> Self {
        let attempt_id = job.attempt_id.clone().unwrap_or_default();
        Self {
            inner: Arc::new(Inner {
                job,
                attempt_id,
                db,
                settings,
                token: CancellationToken::new(),
                reason: OnceLock::new(),
                finished: Mutex::new(None),
            }),
        }
    }

    pub fn id(&self) -> JobId {
        self.inner.job.id
    }

    pub fn kind(&self) -> &str {
        &self.inner.job.kind
    }

    /// `None` for a system job.
    pub fn tenant(&self) -> Option<TenantId> {
        self.inner.job.tenant_id
    }

    pub fn payload(&self) -> &Value {
        &self.inner.job.payload
    }

    /// This attempt's number, from 1.
    pub fn attempt(&self) -> u32 {
        self.inner.job.attempt
    }

    pub fn max_attempts(&self) -> u32 {
        self.inner.job.max_attempts
    }

    /// The job as it was claimed.
    pub fn job(&self) -> &Job {
        &self.inner.job
    }

    /// The fencing token of this attempt.
    pub fn attempt_id(&self) -> &str {
        &self.inner.attempt_id
    }

    /// Fires on timeout, cancellation request, shutdown or a lost lease; hand a child of it to
    /// work that should stop with the job.
    pub fn token(&self) -> &CancellationToken {
        &self.inner.token
    }

    /// Resolves when the token fires.
    pub async fn cancelled(&self) {
        self.inner.token.cancelled().await;
    }

    pub fn is_cancelled(&self) -> bool {
        self.inner.token.is_cancelled()
    }

    /// Why the token fired, once it has.
    pub fn stop_reason(&self) -> Option<StopReason> {
        self.inner.reason.get().copied()
    }

    pub(crate) fn stop(&self, reason: StopReason) {
        let _ = self.inner.reason.set(reason);
        self.inner.token.cancel();
    }

    /// Stores the attempt's progress on the job (`{"percent", "phase"}`), for status pages.
    /// `false` when the attempt no longer runs the job.
    pub async fn progress(&self, percent: u8, phase: &str) -> Result<bool> {
        let p = json!({"percent": percent.min(100), "phase": phase});
        Ok(self.inner.db.set_job_progress(self.id(), self.attempt_id(), &p).await?)
    }

    /// Ends the job inside the caller's transaction, as the runtime would end it for this
    /// `outcome` (completed, retried later, discarded, cancelled), so what the handler stored
    /// in `tx` and the job's end commit together. `false` when this attempt no longer runs the
    /// job (its lease was lost and it was rescued): then the caller must roll `tx` back, and
    /// only the attempt that holds the job can commit its effects. After `true` and a commit,
    /// the runtime leaves the job as it is.
    pub async fn finish_in(&self, tx: &mut WriteTx, outcome: &std::result::Result<Value, JobError>) -> Result<bool> {
        let ending = Ending::of(outcome, self.stop_reason(), &self.inner.job, &self.inner.settings, Timestamp::now());
        let Some(finish) = ending.as_finish() else { return Ok(false) };
        let held = tx.finish_job(self.id(), self.attempt_id(), &finish).await?;
        if held {
            *self.inner.finished.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(ending.outcome());
        }
        Ok(held)
    }

    /// How the handler finished the job itself, if it did.
    pub(crate) fn finished_by_handler(&self) -> Option<Outcome> {
        self.inner.finished.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub(crate) fn db(&self) -> &Db {
        &self.inner.db
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.inner.settings
    }
}

/// The next state of a job after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ending {
    Complete(Value),
    Retry {
        at: Timestamp,
        code: String,
        message: String,
    },
    Discard {
        code: String,
        message: String,
    },
    Cancel {
        message: String,
    },
    /// Handed back unfinished (shutdown): the attempt does not count.
    Release,
    /// The attempt lost the job: nothing to write.
    Abandon,
}

impl Ending {
    /// What `outcome` of an attempt of `job` means, given why its token fired (if it did).
    pub(crate) fn of(
        outcome: &std::result::Result<Value, JobError>,
        reason: Option<StopReason>,
        job: &Job,
        settings: &Settings,
        now: Timestamp,
    ) -> Self {
        let failed = |e: &JobError| match e {
            JobError::Permanent { code, message } => Ending::Discard { code: code.clone(), message: message.clone() },
            JobError::Cancelled => Ending::Cancel { message: "the handler stopped".to_owned() },
            JobError::Retryable { code, message, retry_after } => {
                if job.attempt >= job.max_attempts {
                    Ending::Discard {
                        code: code.clone(),
                        message: format!("{message} (after {} attempts)", job.attempt),
                    }
                } else {
                    let delay = retry_after.unwrap_or_else(|| settings.backoff(job.attempt));
                    let at = Timestamp::from_millis(
                        now.millis().saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)),
                    );
                    Ending::Retry { at, code: code.clone(), message: message.clone() }
                }
            }
        };
        match (reason, outcome) {
            (Some(StopReason::LeaseLost), _) => Ending::Abandon,
            // Work that finished is kept, whatever stopped it afterwards.
            (_, Ok(v)) => Ending::Complete(v.clone()),
            (Some(StopReason::Shutdown), Err(_)) => Ending::Release,
            (Some(StopReason::CancelRequested), Err(_)) => {
                Ending::Cancel { message: "cancelled while it ran".to_owned() }
            }
            (Some(StopReason::Timeout), Err(e)) => failed(e),
            (None, Err(e)) => failed(e),
        }
    }

    pub(crate) fn as_finish(&self) -> Option<Finish<'_>> {
        Some(match self {
            Ending::Complete(v) => Finish::Complete { result: v },
            Ending::Retry { at, code, message } => Finish::Retry { at: *at, code, message },
            Ending::Discard { code, message } => Finish::Discard { code, message },
            Ending::Cancel { message } => Finish::Cancel { message },
            Ending::Release | Ending::Abandon => return None,
        })
    }

    pub(crate) fn outcome(&self) -> Outcome {
        match self {
            Ending::Complete(_) => Outcome::Completed,
            Ending::Retry { at, code, .. } => Outcome::Retrying { at: *at, code: code.clone() },
            Ending::Discard { code, .. } => Outcome::Discarded { code: code.clone() },
            Ending::Cancel { .. } => Outcome::Cancelled,
            Ending::Release => Outcome::Released,
            Ending::Abandon => Outcome::LeaseLost,
        }
    }
}
