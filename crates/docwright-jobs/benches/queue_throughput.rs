//! The queue's throughput and wake-up latency (SPEC S2), printed beside the targets:
//!
//! - jobs/s of no-op jobs — enqueued one per transaction by 4 and by 16 concurrent producers
//!   while a runtime with 1, 4 and 16 workers claims and completes them, and, for comparison,
//!   the same jobs enqueued first and then drained — on SQLite and PostgreSQL (target ≥ 500 on
//!   SQLite, ≥ 1,000 on PostgreSQL, on 2 cores);
//! - enqueue → start latency of an idle runtime, p50 and p99: on PostgreSQL with the job
//!   enqueued by another server's connection pool, so only LISTEN/NOTIFY can wake the worker
//!   (target p50 < 10 ms), beside polling alone; on SQLite the in-process wake-up.
//!
//! `cargo bench -p docwright-jobs --bench queue_throughput`; PostgreSQL from
//! `DOCWRIGHT_TEST_POSTGRES_URL` (skipped with a notice when unset).

// A benchmark prints its figures.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use docwright_jobs::{Handler, JobContext, JobError, NewJob, Queue, Registry, Settings};
use docwright_storage::testing::TestDb;
use docwright_storage::{Backend, Db};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};

const JOBS: usize = 5_000;
const LATENCY_SAMPLES: usize = 200;

/// Counts completions; wakes the bench when all are done.
struct Noop {
    done: Arc<AtomicUsize>,
    all: Arc<Notify>,
    target: usize,
}

impl Handler for Noop {
    async fn run(&self, _job: JobContext) -> Result<Value, JobError> {
        if self.done.fetch_add(1, Ordering::SeqCst) + 1 == self.target {
            self.all.notify_one();
        }
        Ok(Value::Null)
    }
}

/// Reports when it started.
struct Stamp {
    started: mpsc::UnboundedSender<Instant>,
}

impl Handler for Stamp {
    async fn run(&self, _job: JobContext) -> Result<Value, JobError> {
        let _ = self.started.send(Instant::now());
        Ok(Value::Null)
    }
}

async fn fresh(backend: Backend) -> Option<(TestDb, Db)> {
    let tdb = TestDb::fresh(backend).await?;
    let db = Db::connect(tdb.url(), 20).await.expect("connect");
    db.migrate().await.expect("migrate");
    Some((tdb, db))
}

fn settings(workers: usize) -> Settings {
    Settings { workers, poll_interval: Duration::from_millis(500), ..Settings::default() }
}

/// Jobs per second with `workers` workers: `producers` tasks enqueue the jobs one per
/// transaction while the runtime runs them (end to end), or, with `producers` 0, the jobs are
/// enqueued first and the runtime drains them (claim and complete alone). `None` when the
/// backend is not available.
async fn throughput(backend: Backend, workers: usize, producers: usize) -> Option<f64> {
    let (_tdb, db) = fresh(backend).await?;
    let done = Arc::new(AtomicUsize::new(0));
    let all = Arc::new(Notify::new());
    let mut registry = Registry::new();
    registry.register("bench.noop", Noop { done: done.clone(), all: all.clone(), target: JOBS });
    let rt = Queue::new(db.clone()).runtime(registry, settings(workers));
    let enqueue = |p: usize, step: usize| {
        let db = db.clone();
        async move {
            for i in (p..JOBS).step_by(step) {
                db.enqueue(&NewJob::new("bench.noop", json!({"i": i}))).await.expect("enqueue");
            }
        }
    };
    if producers == 0 {
        futures_util::future::join_all((0..16).map(|p| enqueue(p, 16))).await;
    }
    let finished = all.notified();
    let started = Instant::now();
    rt.start();
    futures_util::future::join_all((0..producers).map(|p| enqueue(p, producers))).await;
    if done.load(Ordering::SeqCst) < JOBS {
        tokio::time::timeout(Duration::from_secs(300), finished).await.expect("all jobs done");
    }
    let elapsed = started.elapsed();
    rt.shutdown(Duration::from_secs(10)).await;
    db.close().await;
    Some(JOBS as f64 / elapsed.as_secs_f64())
}

/// p50 and p99 of enqueue-committed → handler-started, for an idle runtime; `remote`: the jobs
/// come from another connection pool (another server), so only LISTEN/NOTIFY can wake it.
async fn wake_latency(backend: Backend, listen: bool, poll: Duration, samples: usize) -> Option<(f64, f64)> {
    let (tdb, db) = fresh(backend).await?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut registry = Registry::new();
    registry.register("bench.stamp", Stamp { started: tx });
    let rt = Queue::new(db.clone())
        .runtime(registry, Settings { workers: 4, poll_interval: poll, listen, ..Settings::default() });
    rt.start();
    let producer = match backend {
        Backend::Postgres => Db::connect(tdb.url(), 2).await.expect("connect"),
        Backend::Sqlite => db.clone(),
    };
    tokio::time::sleep(Duration::from_millis(300)).await; // listening, idle
    let mut waits = Vec::with_capacity(samples);
    for i in 0..samples {
        producer.enqueue(&NewJob::new("bench.stamp", json!({"i": i}))).await.expect("enqueue");
        let committed = Instant::now();
        let started = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("started").expect("sent");
        waits.push(started.saturating_duration_since(committed).as_secs_f64() * 1000.0);
        // Idle again before the next one.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    rt.shutdown(Duration::from_secs(10)).await;
    producer.close().await;
    db.close().await;
    waits.sort_by(f64::total_cmp);
    let at = |p: f64| waits[((waits.len() - 1) as f64 * p).round() as usize];
    Some((at(0.5), at(0.99)))
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        println!(
            "queue throughput, {JOBS} no-op jobs each: enqueued one per transaction by 4 or 16 concurrent producers \
             while the workers claim and complete them (end to end), and claimed and completed alone (drain)"
        );
        for (backend, target) in [(Backend::Sqlite, 500.0), (Backend::Postgres, 1_000.0)] {
            for workers in [1, 4, 16] {
                let mut cells = Vec::new();
                for producers in [4, 16, 0] {
                    match throughput(backend, workers, producers).await {
                        Some(rate) => cells.push(format!("{rate:>6.0}")),
                        None => break,
                    }
                }
                let [p4, p16, drain] = cells.as_slice() else {
                    println!("  {:<8} skipped (set DOCWRIGHT_TEST_POSTGRES_URL)", backend.as_str());
                    break;
                };
                let best = [p4, p16].iter().filter_map(|c| c.trim().parse::<f64>().ok()).fold(0.0, f64::max);
                println!(
                    "  {:<8} {workers:>2} workers: end to end {p4} jobs/s (4 producers), {p16} jobs/s (16 producers); \
                     drain {drain} jobs/s   (target >= {target:.0}: {})",
                    backend.as_str(),
                    if best >= target { "met" } else { "MISSED" }
                );
            }
        }
        println!("idle wake-up latency: job enqueued -> handler started, {LATENCY_SAMPLES} jobs one at a time");
        match wake_latency(Backend::Postgres, true, Duration::from_secs(5), LATENCY_SAMPLES).await {
            Some((p50, p99)) => println!(
                "  postgres, LISTEN/NOTIFY (enqueued by another pool):  p50 {p50:6.2} ms  p99 {p99:6.2} ms   (target p50 < 10 ms: {})",
                if p50 < 10.0 { "met" } else { "MISSED" }
            ),
            None => println!("  postgres skipped (set DOCWRIGHT_TEST_POSTGRES_URL)"),
        }
        if let Some((p50, p99)) = wake_latency(Backend::Postgres, false, Duration::from_millis(250), 40).await {
            println!("  postgres, polling every 250 ms only (for comparison):  p50 {p50:6.2} ms  p99 {p99:6.2} ms");
        }
        if let Some((p50, p99)) = wake_latency(Backend::Sqlite, true, Duration::from_secs(5), LATENCY_SAMPLES).await {
            println!("  sqlite, in-process wake-up:                            p50 {p50:6.2} ms  p99 {p99:6.2} ms");
        }
    });
}
