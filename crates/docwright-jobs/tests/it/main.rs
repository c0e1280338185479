//! The queue's semantics (SPEC S2) on SQLite and PostgreSQL: how attempts end (table-driven),
//! claim order, scheduling, cancellation, unique keys, the rescuer and fencing, progress,
//! effects committed with the job's end, graceful shutdown, wake-ups, and two servers sharing
//! one PostgreSQL database.

// Test code fails loudly on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod semantics;
mod two_servers;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use docwright_jobs::{Handler, JobContext, JobError, Queue, Registry, Settings, StopReason};
use docwright_storage::testing::TestDb;
use docwright_storage::{Backend, Db};
use serde_json::{Value, json};

/// One `#[tokio::test]` per backend for each listed `async fn(Env)`.
macro_rules! both_databases {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() { crate::run(docwright_storage::Backend::Sqlite, super::$name).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() { crate::run(docwright_storage::Backend::Postgres, super::$name).await }
        }
    )*};
}
pub(crate) use both_databases;

/// A fresh database for one test.
pub struct Env {
    pub db: Db,
    url: String,
}

impl Env {
    /// A second handle on the same database, as another server process has (its own pool, its
    /// own in-process wake-ups).
    pub async fn other_server(&self) -> Db {
        Db::connect(&self.url, 8).await.expect("connect")
    }
}

pub async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Env) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(tdb) = TestDb::fresh(backend).await else { return };
    let db = Db::connect(tdb.url(), 8).await.expect("connect");
    db.migrate().await.expect("migrate");
    test(Env { db: db.clone(), url: tdb.url().to_owned() }).await;
    db.close().await;
    drop(tdb);
}

/// The kind every scripted job has.
pub const KIND: &str = "test.scripted";

/// Quick settings for tests: short backoff, heartbeats and rescues.
pub fn settings() -> Settings {
    Settings {
        workers: 4,
        poll_interval: Duration::from_millis(50),
        lease: Duration::from_secs(2),
        heartbeat: Duration::from_millis(100),
        rescue_every: Duration::from_millis(100),
        backoff_base: Duration::from_millis(20),
        backoff_max: Duration::from_millis(40),
        default_timeout: Duration::from_secs(10),
        ..Settings::default()
    }
}

/// What the scripted handler saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Started {
        payload: Value,
        attempt: u32,
    },
    /// The handler's future was dropped before it returned (timeout, shutdown).
    Dropped {
        attempt: u32,
    },
    /// Its token fired, with this reason.
    Stopped {
        reason: Option<StopReason>,
    },
}

/// A handler doing what the payload's `do` says, and logging what happened to it.
#[derive(Clone, Default)]
pub struct Scripted {
    pub log: Arc<Mutex<Vec<Event>>>,
}

impl Scripted {
    pub fn events(&self) -> Vec<Event> {
        self.log.lock().unwrap().clone()
    }

    pub fn starts(&self) -> usize {
        self.events().iter().filter(|e| matches!(e, Event::Started { .. })).count()
    }

    pub fn registry(&self) -> Registry {
        let mut r = Registry::new();
        r.register(KIND, self.clone());
        r
    }
}

struct OnDrop {
    log: Arc<Mutex<Vec<Event>>>,
    attempt: u32,
    armed: bool,
}

impl Drop for OnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.log.lock().unwrap().push(Event::Dropped { attempt: self.attempt });
        }
    }
}

impl Handler for Scripted {
    async fn run(&self, job: JobContext) -> Result<Value, JobError> {
        let p = job.payload().clone();
        self.log.lock().unwrap().push(Event::Started { payload: p.clone(), attempt: job.attempt() });
        let mut guard = OnDrop { log: self.log.clone(), attempt: job.attempt(), armed: true };
        let ms = |k: &str| Duration::from_millis(p[k].as_u64().unwrap_or(0));
        let result = match p["do"].as_str().unwrap_or("ok") {
            "ok" => Ok(json!({"attempt": job.attempt()})),
            "fail" => {
                let times = p["times"].as_u64().unwrap_or(u64::MAX);
                if u64::from(job.attempt()) <= times {
                    let e = JobError::retryable("flaky", format!("attempt {} failed", job.attempt()));
                    Err(match p["retry_after_ms"].as_u64() {
                        Some(n) => e.retry_after(Duration::from_millis(n)),
                        None => e,
                    })
                } else {
                    Ok(json!({"attempt": job.attempt()}))
                }
            }
            "permanent" => Err(JobError::permanent("bad_input", "the input cannot be processed")),
            "sleep" => {
                tokio::time::sleep(ms("ms")).await;
                Ok(json!({"slept": true}))
            }
            "panic" => panic!("the handler blew up"),
            "self_cancel" => Err(JobError::Cancelled),
            "wait_cancel" => {
                job.cancelled().await;
                self.log.lock().unwrap().push(Event::Stopped { reason: job.stop_reason() });
                Err(JobError::Cancelled)
            }
            "progress" => {
                assert!(job.progress(40, "reading").await.unwrap());
                tokio::time::sleep(ms("ms")).await;
                Ok(json!({"done": true}))
            }
            other => Err(JobError::permanent("unknown_script", other.to_owned())),
        };
        guard.armed = false;
        result
    }
}

/// Waits up to `limit` for `cond`, polling.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !cond().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn queue(db: &Db) -> Queue {
    Queue::new(db.clone())
}
