//! The durable job queue (SPEC S2): jobs as rows, claimed under leases and fenced by the
//! attempt id of each claim. The runtime that runs them is `docwright-jobs`; this module is its
//! SQL, one text for both databases except the claim's row locks (below).
//!
//! Life of a job: [`WriteTx::enqueue`] (or [`Db::enqueue`]) stores it `available` at `run_at`.
//! [`Db::claim_jobs`] takes due jobs in order of priority (higher first), then `run_at`, then id,
//! and makes them `running`: `attempt + 1`, a fresh `attempt_id`, the claiming worker and a lease.
//! On PostgreSQL the candidates are locked `FOR UPDATE SKIP LOCKED`, so workers of several
//! servers claim disjoint jobs without waiting for each other; on SQLite the one writer
//! serialises claims. Idle workers are woken when a job becomes available: in this process
//! through [`Db::jobs_enqueued`], on PostgreSQL in every server by a NOTIFY sent after the
//! commit (see [`Db::jobs_available`] for why after). While it runs, the worker extends the lease ([`Db::extend_lease`]) and may
//! report progress; it ends the attempt with [`Db::finish_job`] (or [`WriteTx::finish_job`],
//! inside the transaction that stores what the job produced): completed, retryable at a later
//! time, discarded, cancelled — or hands it back unfinished at shutdown ([`Db::release_job`]).
//! Every one of these writes names the job **and** the attempt id it was claimed with and
//! changes nothing when that attempt is no longer the job's running one, so a worker that lost
//! its lease cannot complete (or fail) a job that was rescued and claimed again.
//! [`Db::expired_leases`] and [`Db::rescue_job`] are the rescuer's: a running job whose lease
//! ran out (its worker died, hung or lost the database) becomes retryable, or discarded once
//! its attempts are spent.

use std::time::Duration;

use docwright_core::id::{JobId, TenantId};
use docwright_core::time::Timestamp;
use serde_json::Value;
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::{Backend, Db, Error, Page, PageRequest, Result, WriteTx, parse_col, trusted};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobState {
    /// Waiting for its `run_at` and a worker.
    Available,
    /// Claimed by a worker, under a lease.
    Running,
    /// Failed and waiting for its next attempt at `run_at`.
    Retryable,
    Completed,
    Cancelled,
    /// Failed for good (a permanent error, or out of attempts): the dead letters.
    Discarded,
}

impl JobState {
    pub const ALL: [JobState; 6] = [
        JobState::Available,
        JobState::Running,
        JobState::Retryable,
        JobState::Completed,
        JobState::Cancelled,
        JobState::Discarded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Available => "available",
            JobState::Running => "running",
            JobState::Retryable => "retryable",
            JobState::Completed => "completed",
            JobState::Cancelled => "cancelled",
            JobState::Discarded => "discarded",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        JobState::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| {
            format!(
                "unknown job state `{s}` (expected available, running, retryable, completed, cancelled or discarded)"
            )
        })
    }

    /// Not finished: available, running or retryable (what a unique key counts).
    pub fn is_pending(self) -> bool {
        matches!(self, JobState::Available | JobState::Running | JobState::Retryable)
    }
}

/// The attempts a job gets when its enqueuer does not say.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// A job to enqueue. `NewJob::new(kind, payload)` and the builder methods for the options.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// Fresh by default; a caller may choose it (enqueueing the same id twice stores one job).
    pub id: JobId,
    pub kind: String,
    /// `None`: a system job.
    pub tenant_id: Option<TenantId>,
    pub payload: Value,
    /// Higher runs first; 0 by default.
    pub priority: i32,
    /// Not before this time; now by default.
    pub run_at: Timestamp,
    pub max_attempts: u32,
    /// Overrides the kind's timeout.
    pub timeout: Option<Duration>,
    /// At most one pending job per kind, tenant and key: a second enqueue returns the first.
    pub unique_key: Option<String>,
}

impl NewJob {
    pub fn new(kind: impl Into<String>, payload: Value) -> Self {
        Self {
            id: JobId::new(),
            kind: kind.into(),
            tenant_id: None,
            payload,
            priority: 0,
            run_at: Timestamp::now(),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            timeout: None,
            unique_key: None,
        }
    }

    pub fn id(self, id: JobId) -> Self {
        Self { id, ..self }
    }

    pub fn tenant(self, tenant: TenantId) -> Self {
        Self { tenant_id: Some(tenant), ..self }
    }

    pub fn priority(self, priority: i32) -> Self {
        Self { priority, ..self }
    }

    pub fn run_at(self, run_at: Timestamp) -> Self {
        Self { run_at, ..self }
    }

    pub fn max_attempts(self, max_attempts: u32) -> Self {
        Self { max_attempts: max_attempts.max(1), ..self }
    }

    pub fn timeout(self, timeout: Duration) -> Self {
        Self { timeout: Some(timeout), ..self }
    }

    pub fn unique_key(self, key: impl Into<String>) -> Self {
        Self { unique_key: Some(key.into()), ..self }
    }
}

/// What an enqueue stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    pub id: JobId,
    /// `false`: a pending job with the same unique key (or the same id) existed; `id` is its.
    pub new: bool,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: JobId,
    pub kind: String,
    pub tenant_id: Option<TenantId>,
    pub payload: Value,
    pub state: JobState,
    pub priority: i32,
    pub run_at: Timestamp,
    /// Attempts started so far.
    pub attempt: u32,
    pub max_attempts: u32,
    /// The fencing token of the current (or last) claim.
    pub attempt_id: Option<String>,
    pub lease_until: Option<Timestamp>,
    /// The process that claimed it last.
    pub worker: Option<String>,
    pub timeout: Option<Duration>,
    pub unique_key: Option<String>,
    pub result: Option<Value>,
    /// Stable snake_case code of the last failure.
    pub error_code: Option<String>,
    pub last_error: Option<String>,
    pub cancel_requested: bool,
    /// `{"percent": 0..100, "phase": "..."}` as the handler last reported it.
    pub progress: Option<Value>,
    pub created_at: Timestamp,
    /// When the current (or last) attempt started.
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
}

/// How an attempt ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Finish<'a> {
    Complete {
        result: &'a Value,
    },
    /// Failed; tried again at `at`.
    Retry {
        at: Timestamp,
        code: &'a str,
        message: &'a str,
    },
    /// Failed for good.
    Discard {
        code: &'a str,
        message: &'a str,
    },
    /// Stopped because a cancellation was asked for.
    Cancel {
        message: &'a str,
    },
}

impl Finish<'_> {
    pub fn state(&self) -> JobState {
        match self {
            Finish::Complete { .. } => JobState::Completed,
            Finish::Retry { .. } => JobState::Retryable,
            Finish::Discard { .. } => JobState::Discarded,
            Finish::Cancel { .. } => JobState::Cancelled,
        }
    }
}

/// Whose jobs an administrative call may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every job, system jobs too (sysadmins).
    Any,
    /// The jobs of one tenant.
    Tenant(TenantId),
}

impl Scope {
    fn bind(self) -> String {
        match self {
            Scope::Any => String::new(),
            Scope::Tenant(t) => t.to_string(),
        }
    }
}

/// What asking to cancel a job did.
#[derive(Debug, Clone, PartialEq)]
pub enum CancelOutcome {
    /// It had not started: cancelled at once.
    Cancelled(Job),
    /// It is running: its worker is asked to stop (cooperatively).
    Requested(Job),
    /// It had already finished; nothing changed.
    Finished(Job),
    NotFound,
}

/// What asking to retry a job did.
#[derive(Debug, Clone, PartialEq)]
pub enum RetryOutcome {
    /// Available again, now (with one more attempt when it had used all of them).
    Queued(Job),
    /// Running or completed: there is nothing to retry.
    NotRetryable(Job),
    NotFound,
}

/// A listing's filters.
#[derive(Debug, Clone, Copy)]
pub struct JobFilter<'a> {
    pub scope: Scope,
    pub state: Option<JobState>,
    pub kind: Option<&'a str>,
}

/// How many jobs of a kind are in a state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Depth {
    pub kind: String,
    pub state: JobState,
    pub count: i64,
    /// Of available and retryable jobs: the earliest `run_at` that is due (how long the oldest
    /// has waited for a worker).
    pub oldest_due: Option<Timestamp>,
}

/// A running job whose lease ran out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    pub id: JobId,
    pub attempt_id: String,
    pub attempt: u32,
    pub max_attempts: u32,
    pub worker: Option<String>,
}

/// A wake-up from PostgreSQL (see [`Db::job_listener`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wake {
    /// A job of this kind became available.
    Available { kind: String },
    /// Cancellation of this running job was asked for.
    Cancel { job: String },
}

/// The notification channels of the PostgreSQL migration's triggers.
const AVAILABLE_CHANNEL: &str = "docwright_jobs";
const CANCEL_CHANNEL: &str = "docwright_job_cancel";

const COLS: &str = "id, kind, tenant_id, payload, state, priority, run_at, attempt, max_attempts, attempt_id, \
     lease_until, worker, timeout_ms, unique_key, result, error_code, last_error, cancel_requested, progress, \
     created_at, started_at, finished_at";

/// States whose jobs hold their unique key.
const PENDING: &str = "('available', 'running', 'retryable')";

/// The end of an attempt, fenced by its attempt id; `$9` bounds the lease (the rescuer's
/// condition that the worker did not extend it meanwhile; `i64::MAX` otherwise).
const FINISH: &str = "UPDATE jobs SET state = $1, result = $2, run_at = COALESCE($3, run_at), error_code = $4, \
     last_error = $5, finished_at = $6, lease_until = NULL \
     WHERE id = $7 AND attempt_id = $8 AND state = 'running' AND COALESCE(lease_until, 0) < $9";

fn json_text(v: &Value) -> String {
    v.to_string()
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn to_u32(r: &AnyRow, col: &str) -> Result<u32> {
    let n: i64 = r.try_get(col)?;
    u32::try_from(n).map_err(|e| Error::Corrupt(format!("column {col}: {e}")))
}

fn json_col(r: &AnyRow, col: &str) -> Result<Option<Value>> {
    let raw: Option<String> = r.try_get(col)?;
    raw.map(|s| serde_json::from_str(&s).map_err(|e| Error::Corrupt(format!("column {col}: {e}")))).transpose()
}

fn from_row(r: &AnyRow) -> Result<Job> {
    let priority: i64 = r.try_get("priority")?;
    Ok(Job {
        id: parse_col(r, "id", JobId::parse)?,
        kind: r.try_get("kind")?,
        tenant_id: crate::parse_opt_col(r, "tenant_id", TenantId::parse)?,
        payload: json_col(r, "payload")?.unwrap_or(Value::Null),
        state: parse_col(r, "state", JobState::parse)?,
        priority: i32::try_from(priority).map_err(|e| Error::Corrupt(format!("column priority: {e}")))?,
        run_at: Timestamp::from_millis(r.try_get("run_at")?),
        attempt: to_u32(r, "attempt")?,
        max_attempts: to_u32(r, "max_attempts")?,
        attempt_id: r.try_get("attempt_id")?,
        lease_until: r.try_get::<Option<i64>, _>("lease_until")?.map(Timestamp::from_millis),
        worker: r.try_get("worker")?,
        timeout: r.try_get::<Option<i64>, _>("timeout_ms")?.map(|n| Duration::from_millis(n.max(0) as u64)),
        unique_key: r.try_get("unique_key")?,
        result: json_col(r, "result")?,
        error_code: r.try_get("error_code")?,
        last_error: r.try_get("last_error")?,
        cancel_requested: r.try_get::<i64, _>("cancel_requested")? != 0,
        progress: json_col(r, "progress")?,
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
        started_at: r.try_get::<Option<i64>, _>("started_at")?.map(Timestamp::from_millis),
        finished_at: r.try_get::<Option<i64>, _>("finished_at")?.map(Timestamp::from_millis),
    })
}

/// The parameters of [`FINISH`] for `finish` at `now`.
fn finish_query<'q>(
    id: JobId,
    attempt_id: &str,
    finish: &Finish<'_>,
    now: Timestamp,
    lease_before: i64,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    let (result, run_at, code, message, finished) = match *finish {
        Finish::Complete { result } => (Some(json_text(result)), None, None, None, Some(now.millis())),
        Finish::Retry { at, code, message } => (None, Some(at.millis()), Some(code), Some(message), None),
        Finish::Discard { code, message } => (None, None, Some(code), Some(message), Some(now.millis())),
        Finish::Cancel { message } => (None, None, Some("cancelled"), Some(message), Some(now.millis())),
    };
    sqlx::query(FINISH)
        .bind(finish.state().as_str())
        .bind(result)
        .bind(run_at)
        .bind(code.map(str::to_owned))
        .bind(message.map(str::to_owned))
        .bind(finished)
        .bind(id.to_string())
        .bind(attempt_id.to_owned())
        .bind(lease_before)
}

impl WriteTx {
    /// Enqueues `job` inside this transaction: it becomes visible to workers (and wakes them)
    /// only when the transaction commits. With a unique key, a pending job of the same kind,
    /// tenant and key is answered instead of storing a second (`new: false`).
    pub async fn enqueue(&mut self, job: &NewJob) -> Result<Enqueued> {
        // A key held by a job that has just finished elsewhere frees up between the insert
        // and the look-up; then the insert is tried again.
        for _ in 0..4 {
            let inserted = sqlx::query(
                "INSERT INTO jobs (id, kind, tenant_id, payload, state, priority, run_at, attempt, max_attempts, \
                 timeout_ms, unique_key, cancel_requested, created_at) \
                 VALUES ($1, $2, $3, $4, 'available', $5, $6, 0, $7, $8, $9, 0, $10) ON CONFLICT DO NOTHING",
            )
            .bind(job.id.to_string())
            .bind(job.kind.clone())
            .bind(job.tenant_id.map(|t| t.to_string()))
            .bind(json_text(&job.payload))
            .bind(i64::from(job.priority))
            .bind(job.run_at.millis())
            .bind(i64::from(job.max_attempts.max(1)))
            .bind(job.timeout.map(ms))
            .bind(job.unique_key.clone())
            .bind(Timestamp::now().millis())
            .execute(self.conn())
            .await?
            .rows_affected()
                == 1;
            if inserted {
                if !self.enqueued.contains(&job.kind) {
                    self.enqueued.push(job.kind.clone());
                }
                return Ok(Enqueued { id: job.id, new: true });
            }
            let same_id: Option<String> = sqlx::query_scalar("SELECT id FROM jobs WHERE id = $1")
                .bind(job.id.to_string())
                .fetch_optional(self.conn())
                .await?;
            if same_id.is_some() {
                return Ok(Enqueued { id: job.id, new: false });
            }
            if let Some(key) = &job.unique_key {
                let sql = format!(
                    "SELECT id FROM jobs WHERE kind = $1 AND COALESCE(tenant_id, '') = $2 AND unique_key = $3 \
                     AND state IN {PENDING}"
                );
                let existing: Option<String> = sqlx::query_scalar(trusted(sql))
                    .bind(job.kind.clone())
                    .bind(job.tenant_id.map(|t| t.to_string()).unwrap_or_default())
                    .bind(key.clone())
                    .fetch_optional(self.conn())
                    .await?;
                if let Some(id) = existing {
                    let id = JobId::parse(&id).map_err(|e| Error::Corrupt(format!("jobs.id: {e}")))?;
                    return Ok(Enqueued { id, new: false });
                }
            }
        }
        Err(Error::Conflict(format!("a job of kind `{}` with this unique key", job.kind)))
    }

    /// Ends the attempt `attempt_id` of `id` inside this transaction (see [`Db::finish_job`]).
    pub async fn finish_job(&mut self, id: JobId, attempt_id: &str, finish: &Finish<'_>) -> Result<bool> {
        let q = finish_query(id, attempt_id, finish, Timestamp::now(), i64::MAX);
        Ok(q.execute(self.conn()).await?.rows_affected() == 1)
    }
}

impl Db {
    /// Enqueues `job` in a transaction of its own (see [`WriteTx::enqueue`]).
    pub async fn enqueue(&self, job: &NewJob) -> Result<Enqueued> {
        let mut tx = self.begin_write().await?;
        let done = tx.enqueue(job).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Notified when a job enqueued through this handle (or its clones) is committed: idle
    /// workers of this process wait on it.
    pub fn jobs_enqueued(&self) -> &tokio::sync::Notify {
        &self.jobs_signal
    }

    /// Tells idle workers that jobs of `kinds` became available: those of this process at
    /// once, those of other servers on PostgreSQL by a notification. It is sent after the
    /// commit, outside the transaction, on purpose: a NOTIFY inside a transaction holds a
    /// database-wide lock until that transaction's commit is flushed, which lets only one
    /// enqueuing transaction commit at a time (measured with pgbench, 16 clients inserting
    /// one row per transaction: 4,900/s without NOTIFY, 630/s with it). A lost notification
    /// costs a wait for the next poll, nothing more.
    pub(crate) async fn jobs_available(&self, kinds: &[String]) {
        if kinds.is_empty() {
            return;
        }
        self.jobs_signal.notify_waiters();
        if self.backend() != Backend::Postgres {
            return;
        }
        for kind in kinds {
            let sent = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(AVAILABLE_CHANNEL)
                .bind(kind.clone())
                .execute(self.bookkeeping())
                .await;
            if let Err(e) = sent {
                tracing::debug!(error = %e, "notifying other servers of a job failed; they will poll");
            }
        }
    }

    /// Claims up to `limit` due jobs of `kinds` for `worker`: each becomes running with a lease
    /// until `now + lease` under one fresh attempt id, which this answers on every job.
    pub async fn claim_jobs(
        &self,
        kinds: &[String],
        worker: &str,
        limit: u32,
        lease: Duration,
        now: Timestamp,
    ) -> Result<Vec<Job>> {
        if kinds.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 6)).collect();
        // The one dialect difference of the queue: PostgreSQL locks the candidates and skips
        // those another worker holds; SQLite has one writer, so claims never overlap there.
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE jobs SET state = 'running', attempt = attempt + 1, attempt_id = $1, worker = $2, \
             lease_until = $3, started_at = $4, progress = NULL \
             WHERE state IN ('available', 'retryable') AND id IN (SELECT id FROM jobs \
             WHERE state IN ('available', 'retryable') AND run_at <= $4 AND kind IN ({}) \
             ORDER BY priority DESC, run_at, id LIMIT $5{lock}) RETURNING {COLS}",
            placeholders.join(", ")
        );
        let attempt_id = uuid::Uuid::now_v7().to_string();
        let mut q = sqlx::query(trusted(sql))
            .bind(attempt_id)
            .bind(worker.to_owned())
            .bind(now.millis().saturating_add(ms(lease)))
            .bind(now.millis())
            .bind(i64::from(limit));
        for k in kinds {
            q = q.bind(k.clone());
        }
        let rows = q.fetch_all(self.bookkeeping()).await?;
        let mut jobs = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        // RETURNING keeps no order; run them in the order they were chosen.
        jobs.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.run_at.cmp(&b.run_at)).then(a.id.cmp(&b.id)));
        Ok(jobs)
    }

    /// Extends the lease of a running attempt to `until`. `None`: the attempt is no longer the
    /// job's running one (rescued, finished or released); else whether cancellation is asked.
    pub async fn extend_lease(&self, id: JobId, attempt_id: &str, until: Timestamp) -> Result<Option<bool>> {
        let row: Option<i64> = sqlx::query_scalar(
            "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND attempt_id = $3 AND state = 'running' \
             RETURNING cancel_requested",
        )
        .bind(until.millis())
        .bind(id.to_string())
        .bind(attempt_id.to_owned())
        .fetch_optional(self.bookkeeping())
        .await?;
        Ok(row.map(|c| c != 0))
    }

    /// Stores a running attempt's progress; `false` when the attempt is no longer running.
    pub async fn set_job_progress(&self, id: JobId, attempt_id: &str, progress: &Value) -> Result<bool> {
        let done = sqlx::query("UPDATE jobs SET progress = $1 WHERE id = $2 AND attempt_id = $3 AND state = 'running'")
            .bind(json_text(progress))
            .bind(id.to_string())
            .bind(attempt_id.to_owned())
            .execute(self.bookkeeping())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends the attempt `attempt_id` of `id`. `false` (nothing written) when that attempt is no
    /// longer the job's running one: the job was rescued and claimed again, or already ended.
    pub async fn finish_job(&self, id: JobId, attempt_id: &str, finish: &Finish<'_>) -> Result<bool> {
        let q = finish_query(id, attempt_id, finish, Timestamp::now(), i64::MAX);
        Ok(q.execute(self.bookkeeping()).await?.rows_affected() == 1)
    }

    /// Hands a running attempt back unfinished (its worker shuts down): available again at
    /// once, and the interrupted attempt does not count.
    pub async fn release_job(&self, id: JobId, attempt_id: &str, now: Timestamp) -> Result<bool> {
        let kind: Option<String> = sqlx::query_scalar(
            "UPDATE jobs SET state = 'available', attempt = attempt - 1, run_at = $1, lease_until = NULL \
             WHERE id = $2 AND attempt_id = $3 AND state = 'running' RETURNING kind",
        )
        .bind(now.millis())
        .bind(id.to_string())
        .bind(attempt_id.to_owned())
        .fetch_optional(self.bookkeeping())
        .await?;
        let Some(kind) = kind else { return Ok(false) };
        self.jobs_available(&[kind]).await;
        Ok(true)
    }

    /// Running jobs whose lease ended before `now`, longest expired first.
    pub async fn expired_leases(&self, now: Timestamp, limit: u32) -> Result<Vec<Expired>> {
        let rows = sqlx::query(
            "SELECT id, attempt_id, attempt, max_attempts, worker FROM jobs \
             WHERE state = 'running' AND lease_until < $1 ORDER BY lease_until LIMIT $2",
        )
        .bind(now.millis())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Expired {
                    id: parse_col(r, "id", JobId::parse)?,
                    attempt_id: r.try_get::<Option<String>, _>("attempt_id")?.unwrap_or_default(),
                    attempt: to_u32(r, "attempt")?,
                    max_attempts: to_u32(r, "max_attempts")?,
                    worker: r.try_get("worker")?,
                })
            })
            .collect()
    }

    /// Ends an expired attempt as `finish` (retry or discard), provided its lease is still
    /// expired at `now`: a worker that extended it meanwhile keeps its job.
    pub async fn rescue_job(&self, e: &Expired, finish: &Finish<'_>, now: Timestamp) -> Result<bool> {
        let q = finish_query(e.id, &e.attempt_id, finish, now, now.millis());
        Ok(q.execute(self.bookkeeping()).await?.rows_affected() == 1)
    }

    /// A job within `scope`.
    pub async fn job(&self, scope: Scope, id: JobId) -> Result<Option<Job>> {
        let sql = format!("SELECT {COLS} FROM jobs WHERE id = $1 AND ($2 = '' OR tenant_id = $2)");
        let row = sqlx::query(trusted(sql)).bind(id.to_string()).bind(scope.bind()).fetch_optional(self.pool()).await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Jobs within the filter, newest first; the cursor is the last id of the previous page.
    pub async fn list_jobs(&self, filter: JobFilter<'_>, page: PageRequest<'_>) -> Result<Page<Job>> {
        let sql = format!(
            "SELECT {COLS} FROM jobs WHERE ($1 = '' OR tenant_id = $1) AND ($2 = '' OR state = $2) \
             AND ($3 = '' OR kind = $3) AND ($4 = '' OR id < $4) ORDER BY id DESC LIMIT $5"
        );
        let rows = sqlx::query(trusted(sql))
            .bind(filter.scope.bind())
            .bind(filter.state.map(JobState::as_str).unwrap_or_default())
            .bind(filter.kind.unwrap_or_default().to_owned())
            .bind(page.after_or_min())
            .bind(page.fetch_limit())
            .fetch_all(self.pool())
            .await?;
        let items = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page))
    }

    /// Cancels a job within `scope`: at once when it has not started, by asking its worker
    /// when it runs.
    pub async fn cancel_job(&self, scope: Scope, id: JobId, now: Timestamp) -> Result<CancelOutcome> {
        let sql = format!(
            "UPDATE jobs SET state = 'cancelled', finished_at = $1, error_code = 'cancelled', \
             last_error = 'cancelled before it ran', lease_until = NULL \
             WHERE id = $2 AND ($3 = '' OR tenant_id = $3) AND state IN ('available', 'retryable') RETURNING {COLS}"
        );
        let row = sqlx::query(trusted(sql))
            .bind(now.millis())
            .bind(id.to_string())
            .bind(scope.bind())
            .fetch_optional(self.writer())
            .await?;
        if let Some(r) = row {
            return Ok(CancelOutcome::Cancelled(from_row(&r)?));
        }
        let sql = format!(
            "UPDATE jobs SET cancel_requested = 1 WHERE id = $1 AND ($2 = '' OR tenant_id = $2) \
             AND state = 'running' RETURNING {COLS}"
        );
        let row =
            sqlx::query(trusted(sql)).bind(id.to_string()).bind(scope.bind()).fetch_optional(self.writer()).await?;
        if let Some(r) = row {
            return Ok(CancelOutcome::Requested(from_row(&r)?));
        }
        Ok(match self.job(scope, id).await? {
            Some(job) if job.state == JobState::Running => CancelOutcome::Requested(job),
            Some(job) => CancelOutcome::Finished(job),
            None => CancelOutcome::NotFound,
        })
    }

    /// Makes a job within `scope` available again now: a discarded or cancelled one (with one
    /// more attempt when it had used all of them), or a retryable or scheduled one earlier.
    pub async fn retry_job(&self, scope: Scope, id: JobId, now: Timestamp) -> Result<RetryOutcome> {
        let sql = format!(
            "UPDATE jobs SET state = 'available', run_at = $1, cancel_requested = 0, finished_at = NULL, \
             max_attempts = CASE WHEN attempt >= max_attempts THEN attempt + 1 ELSE max_attempts END \
             WHERE id = $2 AND ($3 = '' OR tenant_id = $3) \
             AND state IN ('available', 'retryable', 'discarded', 'cancelled') RETURNING {COLS}"
        );
        let row = sqlx::query(trusted(sql))
            .bind(now.millis())
            .bind(id.to_string())
            .bind(scope.bind())
            .fetch_optional(self.writer())
            .await
            .map_err(crate::conflict("a pending job with the same unique key"))?;
        if let Some(r) = row {
            let job = from_row(&r)?;
            self.jobs_available(std::slice::from_ref(&job.kind)).await;
            return Ok(RetryOutcome::Queued(job));
        }
        Ok(match self.job(scope, id).await? {
            Some(job) => RetryOutcome::NotRetryable(job),
            None => RetryOutcome::NotFound,
        })
    }

    /// Jobs by kind and state (completed and cancelled ones are history, not depth).
    pub async fn job_depth(&self, now: Timestamp) -> Result<Vec<Depth>> {
        let rows = sqlx::query(
            "SELECT kind, state, COUNT(*) AS n, \
             MIN(CASE WHEN state IN ('available', 'retryable') AND run_at <= $1 THEN run_at END) AS oldest \
             FROM jobs WHERE state IN ('available', 'running', 'retryable', 'discarded') \
             GROUP BY kind, state ORDER BY kind, state",
        )
        .bind(now.millis())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Depth {
                    kind: r.try_get("kind")?,
                    state: parse_col(r, "state", JobState::parse)?,
                    count: r.try_get("n")?,
                    oldest_due: r.try_get::<Option<i64>, _>("oldest")?.map(Timestamp::from_millis),
                })
            })
            .collect()
    }

    /// On PostgreSQL, a listener for the queue's notifications (jobs that became available,
    /// cancellations asked for); `None` on SQLite, which wakes its workers in process.
    pub async fn job_listener(&self) -> Result<Option<JobListener>> {
        if self.backend() != Backend::Postgres {
            return Ok(None);
        }
        let mut listener = sqlx::postgres::PgListener::connect(self.url()).await?;
        listener.listen_all([AVAILABLE_CHANNEL, CANCEL_CHANNEL]).await?;
        Ok(Some(JobListener { listener }))
    }
}

/// PostgreSQL notifications of the queue, on a connection of their own.
pub struct JobListener {
    listener: sqlx::postgres::PgListener,
}

impl std::fmt::Debug for JobListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JobListener")
    }
}

impl JobListener {
    /// The next notification; `None` when the connection was lost (it reconnects on the next
    /// call; notifications sent meanwhile are lost, so look at the queue once).
    pub async fn recv(&mut self) -> Result<Option<Wake>> {
        let Some(n) = self.listener.try_recv().await? else { return Ok(None) };
        let payload = n.payload().to_owned();
        Ok(Some(match n.channel() {
            CANCEL_CHANNEL => Wake::Cancel { job: payload },
            _ => Wake::Available { kind: payload },
        }))
    }
}
