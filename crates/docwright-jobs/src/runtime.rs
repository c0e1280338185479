//! The workers of a queue, as owned tasks: a claim loop that fills free worker slots, one task
//! per running attempt (heartbeats, time limit, cancellation), the rescuer, and on PostgreSQL a
//! listener for notifications. [`Runtime::run_once`] is one claim-and-run step for tests.
//!
//! Shutdown ([`Runtime::shutdown`]) stops claiming at once, lets running attempts finish within
//! the grace period, then fires their tokens, drops them and hands their jobs back (available
//! again, the attempt not counted). A process that is killed instead leaves its jobs running
//! under leases nobody renews; the rescuer of any server (this one after a restart) makes them
//! retryable once the leases run out.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use docwright_core::id::JobId;
use docwright_core::time::Timestamp;
use docwright_storage::Backend;
use docwright_storage::jobs::{Finish, Job, Wake};
use futures_util::FutureExt as _;
use serde_json::Value;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::context::{Ending, JobContext, StopReason};
use crate::{DynHandler, JobError, Queue, Registry, Result, Settings};

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    /// Failed; tried again at `at`.
    Retrying {
        at: Timestamp,
        code: String,
    },
    /// Failed for good.
    Discarded {
        code: String,
    },
    Cancelled,
    /// Handed back unfinished at shutdown.
    Released,
    /// The attempt lost its lease (the job was rescued); its end was not written.
    LeaseLost,
}

impl Outcome {
    /// A label for metrics and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Retrying { .. } => "retrying",
            Outcome::Discarded { .. } => "discarded",
            Outcome::Cancelled => "cancelled",
            Outcome::Released => "released",
            Outcome::LeaseLost => "lease_lost",
        }
    }
}

/// One attempt that ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    pub id: JobId,
    pub kind: String,
    pub attempt: u32,
    pub outcome: Outcome,
}

/// Told about every attempt (metrics).
pub trait Observer: Send + Sync + 'static {
    /// An attempt started after its job `waited` since it became due.
    fn started(&self, kind: &str, waited: Duration);
    /// An attempt ended after running for `ran`.
    fn finished(&self, kind: &str, outcome: &Outcome, ran: Duration);
}

/// Latencies of this runtime's recent attempts (the last [`RECENT`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Latency {
    pub samples: usize,
    /// Due → started.
    pub wait_p50: Option<Duration>,
    pub wait_p99: Option<Duration>,
    /// Started → ended.
    pub run_p50: Option<Duration>,
    pub run_p99: Option<Duration>,
}

/// Attempts the latency summary looks back on.
const RECENT: usize = 1024;
/// Expired leases handled per rescuer round.
const RESCUE_BATCH: u32 = 500;

#[derive(Default)]
struct Recent {
    waits: VecDeque<Duration>,
    runs: VecDeque<Duration>,
}

fn push(q: &mut VecDeque<Duration>, d: Duration) {
    if q.len() == RECENT {
        q.pop_front();
    }
    q.push_back(d);
}

fn percentile(q: &VecDeque<Duration>, p: f64) -> Option<Duration> {
    if q.is_empty() {
        return None;
    }
    let mut v: Vec<Duration> = q.iter().copied().collect();
    v.sort_unstable();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).copied()
}

/// The workers of one queue in this process. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    queue: Queue,
    registry: Registry,
    kinds: Vec<String>,
    settings: Arc<Settings>,
    worker: String,
    tracker: TaskTracker,
    /// Cancelled when claiming stops (shutdown begins).
    claiming: CancellationToken,
    /// Cancelled when the grace period is over: running attempts are dropped and handed back.
    hard_stop: CancellationToken,
    slots: Arc<Semaphore>,
    /// Woken by the listener when another process enqueued.
    wake: Notify,
    observer: Option<Arc<dyn Observer>>,
    recent: Mutex<Recent>,
    started: AtomicBool,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("worker", &self.inner.worker).field("kinds", &self.inner.kinds).finish()
    }
}

impl Runtime {
    pub(crate) fn new(queue: Queue, registry: Registry, settings: Settings) -> Self {
        let workers = settings.workers.max(1);
        Self {
            inner: Arc::new(Inner {
                kinds: registry.kinds(),
                queue,
                registry,
                settings: Arc::new(settings),
                worker: format!("{}:{}", std::process::id(), uuid::Uuid::now_v7()),
                tracker: TaskTracker::new(),
                claiming: CancellationToken::new(),
                hard_stop: CancellationToken::new(),
                slots: Arc::new(Semaphore::new(workers)),
                wake: Notify::new(),
                observer: None,
                recent: Mutex::default(),
                started: AtomicBool::new(false),
            }),
        }
    }

    /// With an observer of every attempt; call before [`Runtime::start`].
    pub fn with_observer(self, observer: Arc<dyn Observer>) -> Self {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.observer = Some(observer);
                Self { inner: Arc::new(inner) }
            }
            // Already shared (started or cloned): keep it as it is.
            Err(inner) => Self { inner },
        }
    }

    /// The id this runtime's claims carry (`<process id>:<uuid>`).
    pub fn worker_id(&self) -> &str {
        &self.inner.worker
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    pub fn kinds(&self) -> &[String] {
        &self.inner.kinds
    }

    /// Attempts running now.
    pub fn running(&self) -> usize {
        self.inner.settings.workers.max(1) - self.inner.slots.available_permits()
    }

    /// Starts the claim loop, the rescuer and (PostgreSQL) the listener as owned tasks. Once.
    pub fn start(&self) {
        if self.inner.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let inner = &self.inner;
        inner.tracker.spawn(claim_loop(inner.clone()));
        inner.tracker.spawn(rescue_loop(inner.clone()));
        if inner.settings.listen && inner.queue.db().backend() == Backend::Postgres {
            inner.tracker.spawn(listen_loop(inner.clone()));
        }
        tracing::info!(worker = %inner.worker, workers = inner.settings.workers, kinds = ?inner.kinds, "job workers started");
    }

    /// Claims one due job and runs it to its end in the calling task; `None` when none was due.
    pub async fn run_once(&self) -> Result<Option<Ran>> {
        let s = &self.inner.settings;
        let mut jobs = self
            .inner
            .queue
            .db()
            .claim_jobs(&self.inner.kinds, &self.inner.worker, 1, s.lease, Timestamp::now())
            .await?;
        match jobs.pop() {
            Some(job) => Ok(Some(execute(self.inner.clone(), job).await)),
            None => Ok(None),
        }
    }

    /// One round of the rescuer: running jobs whose lease ran out become retryable (discarded
    /// when their attempts are spent). Answers how many were rescued.
    pub async fn rescue_once(&self) -> Result<u64> {
        rescue(&self.inner).await
    }

    /// Stops claiming (shutdown begins); running attempts go on.
    pub fn stop_claiming(&self) {
        self.inner.claiming.cancel();
    }

    /// Stops claiming, waits up to `grace` for running attempts, then stops the rest and hands
    /// their jobs back for another worker or the next start.
    pub async fn shutdown(&self, grace: Duration) {
        let inner = &self.inner;
        inner.claiming.cancel();
        inner.tracker.close();
        if tokio::time::timeout(grace, inner.tracker.wait()).await.is_err() {
            tracing::warn!(running = self.running(), "jobs still running after the grace period: handing them back");
            inner.hard_stop.cancel();
            // Handing back is one write per job.
            if tokio::time::timeout(Duration::from_secs(10), inner.tracker.wait()).await.is_err() {
                tracing::warn!("job workers did not stop; their leases will run out and they will be rescued");
            }
        }
        tracing::info!(worker = %inner.worker, "job workers stopped");
    }

    /// Latencies of the recent attempts of this runtime.
    pub fn latency(&self) -> Latency {
        let r = self.inner.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Latency {
            samples: r.runs.len().max(r.waits.len()),
            wait_p50: percentile(&r.waits, 0.50),
            wait_p99: percentile(&r.waits, 0.99),
            run_p50: percentile(&r.runs, 0.50),
            run_p99: percentile(&r.runs, 0.99),
        }
    }
}

impl Inner {
    fn observe_start(&self, kind: &str, waited: Duration) {
        push(&mut self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner).waits, waited);
        if let Some(o) = &self.observer {
            o.started(kind, waited);
        }
    }

    fn observe_end(&self, kind: &str, outcome: &Outcome, ran: Duration) {
        push(&mut self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner).runs, ran);
        if let Some(o) = &self.observer {
            o.finished(kind, outcome, ran);
        }
    }

    /// Waits `d` unless claiming stops first; answers whether it stopped.
    async fn pause(&self, d: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(d) => false,
            () = self.claiming.cancelled() => true,
        }
    }
}

/// Fills free worker slots with due jobs; sleeps until woken (an enqueue in this process, a
/// notification from another) or the poll interval when the queue has nothing due.
async fn claim_loop(inner: Arc<Inner>) {
    let db = inner.queue.db().clone();
    loop {
        let first = tokio::select! {
            p = inner.slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = inner.claiming.cancelled() => break,
        };
        let mut permits = vec![first];
        while let Ok(p) = inner.slots.clone().try_acquire_owned() {
            permits.push(p);
        }
        let wanted = permits.len();
        // Registered before looking, so an enqueue committed while we look still wakes us.
        let enqueued = db.jobs_enqueued().notified();
        let notified = inner.wake.notified();
        tokio::pin!(enqueued, notified);
        enqueued.as_mut().enable();
        notified.as_mut().enable();
        let s = &inner.settings;
        match db.claim_jobs(&inner.kinds, &inner.worker, wanted as u32, s.lease, Timestamp::now()).await {
            Ok(jobs) => {
                let got = jobs.len();
                for (job, permit) in jobs.into_iter().zip(permits.drain(..)) {
                    let inner2 = inner.clone();
                    inner.tracker.spawn(async move {
                        execute(inner2, job).await;
                        drop(permit);
                    });
                }
                drop(permits);
                if got == wanted {
                    continue; // every slot filled: more may be due
                }
            }
            Err(e) => {
                drop(permits);
                tracing::warn!(error = %e, "claiming jobs failed; will retry");
                if inner.pause(s.poll_interval.min(Duration::from_secs(1))).await {
                    break;
                }
                continue;
            }
        }
        tokio::select! {
            () = &mut enqueued => {}
            () = &mut notified => {}
            () = tokio::time::sleep(s.poll_interval) => {}
            () = inner.claiming.cancelled() => break,
        }
    }
}

/// Runs one claimed attempt to its end and writes that end (unless its handler did).
async fn execute(inner: Arc<Inner>, job: Job) -> Ran {
    let now = Timestamp::now();
    let due = job.run_at.max(job.created_at);
    let waited = Duration::from_millis(u64::try_from(now.millis() - due.millis()).unwrap_or(0));
    inner.observe_start(&job.kind, waited);
    let started = tokio::time::Instant::now();
    let (id, kind, attempt) = (job.id, job.kind.clone(), job.attempt);
    let ctx = JobContext::new(job, inner.queue.db().clone(), inner.settings.clone());
    inner.queue.local.with(|m| m.insert(id, ctx.clone()));
    let result = match inner.registry.get(&kind) {
        Some(handler) => run_attempt(&inner, &ctx, handler).await,
        None => Err(JobError::permanent("no_handler", format!("no handler for jobs of kind `{kind}`"))),
    };
    inner.queue.local.with(|m| m.remove(&id));
    let outcome = match ctx.finished_by_handler() {
        Some(o) => o,
        None => write_end(&ctx, &result).await,
    };
    let ran = started.elapsed();
    inner.observe_end(&kind, &outcome, ran);
    match (&outcome, &result) {
        (Outcome::Completed, _) => {
            tracing::debug!(job = %id, %kind, attempt, ms = ran.as_millis() as u64, "job completed")
        }
        (o, Err(e)) => tracing::info!(job = %id, %kind, attempt, outcome = o.as_str(), error = %e, "job attempt ended"),
        (o, Ok(_)) => tracing::info!(job = %id, %kind, attempt, outcome = o.as_str(), "job attempt ended"),
    }
    Ran { id, kind, attempt, outcome }
}

/// The handler's future under the attempt's time limit, its lease and shutdown.
async fn run_attempt(
    inner: &Inner,
    ctx: &JobContext,
    handler: Arc<dyn DynHandler>,
) -> std::result::Result<Value, JobError> {
    let s = &inner.settings;
    let limit = s.timeout_of(ctx.job());
    let deadline = tokio::time::Instant::now() + limit;
    // Heartbeats run beside the handler, never in its way: a handler may hold a transaction
    // that has locked its job's row (finishing inside its own transaction), and a renewal
    // waiting for that lock must not keep the handler from committing.
    let lease_lost = CancellationToken::new();
    let beating = CancellationToken::new();
    inner.tracker.spawn(heartbeats(ctx.clone(), s.lease, s.heartbeat, lease_lost.clone(), beating.clone()));
    let _stop_beating = beating.drop_guard();
    let fut = AssertUnwindSafe(handler.call(ctx.clone())).catch_unwind();
    tokio::pin!(fut);
    tokio::select! {
        r = &mut fut => r.unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_owned());
            Err(JobError::retryable("panicked", format!("the handler panicked: {what}")))
        }),
        () = tokio::time::sleep_until(deadline) => {
            ctx.stop(StopReason::Timeout);
            Err(JobError::retryable(
                "timeout",
                format!("the job ran longer than its limit of {} s and was stopped", limit.as_secs_f64()),
            ))
        }
        () = lease_lost.cancelled() => {
            Err(JobError::retryable("lease_lost", "the lease was lost; another worker may run the job"))
        }
        () = inner.hard_stop.cancelled() => {
            ctx.stop(StopReason::Shutdown);
            Err(JobError::retryable("shutdown", "the server shut down while the job ran"))
        }
    }
}

/// Renews the attempt's lease every `every` until `done`; notices a cancellation request, and
/// a lost lease (then it fires `lost` and stops).
async fn heartbeats(
    ctx: JobContext,
    lease: Duration,
    every: Duration,
    lost: CancellationToken,
    done: CancellationToken,
) {
    let every = every.max(Duration::from_millis(10));
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = done.cancelled() => return,
        }
        let until = Timestamp::from_millis(Timestamp::now().millis().saturating_add(lease.as_millis() as i64));
        // Not cut short when the attempt ends meanwhile: a statement dropped half way would cost
        // its connection, and a renewal of an ended attempt changes nothing.
        match ctx.db().extend_lease(ctx.id(), ctx.attempt_id(), until).await {
            Ok(Some(true)) => ctx.stop(StopReason::CancelRequested),
            Ok(Some(false)) => {}
            Ok(None) => {
                ctx.stop(StopReason::LeaseLost);
                lost.cancel();
                return;
            }
            // The lease may still be renewed in time; if not, the job is rescued and this
            // attempt's end will not be written.
            Err(e) => tracing::warn!(job = %ctx.id(), error = %e, "renewing a job's lease failed"),
        }
    }
}

/// Writes how the attempt ended, fenced by its attempt id (a few tries on database errors).
async fn write_end(ctx: &JobContext, result: &std::result::Result<Value, JobError>) -> Outcome {
    let ending = Ending::of(result, ctx.stop_reason(), ctx.job(), ctx.settings(), Timestamp::now());
    let mut tries = 0;
    loop {
        let written = match (&ending, ending.as_finish()) {
            (Ending::Abandon, _) => return Outcome::LeaseLost,
            (Ending::Release, _) => ctx.db().release_job(ctx.id(), ctx.attempt_id(), Timestamp::now()).await,
            (_, Some(finish)) => ctx.db().finish_job(ctx.id(), ctx.attempt_id(), &finish).await,
            (_, None) => return Outcome::LeaseLost,
        };
        match written {
            Ok(true) => return ending.outcome(),
            Ok(false) => {
                tracing::warn!(job = %ctx.id(), "the job was taken over by another attempt; this attempt's end is discarded");
                return Outcome::LeaseLost;
            }
            Err(e) if tries < 3 => {
                tries += 1;
                tracing::warn!(job = %ctx.id(), error = %e, tries, "writing a job's end failed; retrying");
                tokio::time::sleep(Duration::from_millis(100) * 2u32.pow(tries)).await;
            }
            Err(e) => {
                tracing::error!(job = %ctx.id(), error = %e, "writing a job's end failed; its lease will run out and it will be rescued");
                return Outcome::LeaseLost;
            }
        }
    }
}

async fn rescue(inner: &Inner) -> Result<u64> {
    let db = inner.queue.db();
    let now = Timestamp::now();
    let mut rescued = 0;
    for e in db.expired_leases(now, RESCUE_BATCH).await? {
        let worker = e.worker.as_deref().unwrap_or("?");
        let message = format!("its worker ({worker}) stopped renewing its lease");
        let finish = if e.attempt >= e.max_attempts {
            Finish::Discard { code: "lease_expired", message: &message }
        } else {
            let delay = inner.settings.backoff(e.attempt);
            let at = Timestamp::from_millis(now.millis().saturating_add(delay.as_millis() as i64));
            Finish::Retry { at, code: "lease_expired", message: &message }
        };
        if db.rescue_job(&e, &finish, now).await? {
            rescued += 1;
            tracing::info!(job = %e.id, attempt = e.attempt, state = finish.state().as_str(), "rescued a job whose lease ran out");
        }
    }
    Ok(rescued)
}

async fn rescue_loop(inner: Arc<Inner>) {
    // The first round runs at once: after a restart the jobs of the killed process come back
    // as soon as their leases have run out.
    let mut tick = tokio::time::interval(inner.settings.rescue_every.max(Duration::from_millis(10)));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = rescue(&inner).await {
                    tracing::warn!(error = %e, "rescuing jobs failed; will retry");
                }
            }
            () = inner.claiming.cancelled() => break,
        }
    }
}

/// PostgreSQL notifications: a job became available (wake the claim loop), a cancellation
/// was asked for (stop the attempt if it runs here).
async fn listen_loop(inner: Arc<Inner>) {
    let mut listener = None;
    loop {
        if inner.claiming.is_cancelled() {
            break;
        }
        let Some(l) = listener.as_mut() else {
            match inner.queue.db().job_listener().await {
                Ok(Some(l)) => {
                    listener = Some(l);
                    // Whatever was enqueued before we listened: look once.
                    inner.wake.notify_waiters();
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for job notifications; polling meanwhile");
                    if inner.pause(Duration::from_secs(5)).await {
                        break;
                    }
                }
            }
            continue;
        };
        tokio::select! {
            r = l.recv() => match r {
                Ok(Some(Wake::Available { .. })) => inner.wake.notify_waiters(),
                Ok(Some(Wake::Cancel { job })) => {
                    if let Ok(id) = JobId::parse(&job) {
                        inner.queue.local.stop(id, StopReason::CancelRequested);
                    }
                }
                // Reconnected: notifications sent meanwhile are lost, so look once.
                Ok(None) => inner.wake.notify_waiters(),
                Err(e) => {
                    tracing::warn!(error = %e, "job notifications failed; reconnecting");
                    listener = None;
                    if inner.pause(Duration::from_secs(1)).await {
                        break;
                    }
                }
            },
            () = inner.claiming.cancelled() => break,
        }
    }
}
