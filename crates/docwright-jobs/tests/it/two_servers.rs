//! Two servers on one PostgreSQL database (SPEC S1, S2): each with its own connection pool and
//! workers, claiming from one queue. Every one of 2,000 jobs must complete exactly once, which
//! a side table keyed by job id shows: the handler writes its row in the transaction that
//! completes its job, fenced by the attempt, so a job run twice could still leave only one row —
//! and the test also counts executions, so a duplicate run is seen as well.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use docwright_jobs::{Handler, JobContext, JobError, JobState, NewJob, Queue, Registry, Scope};
use docwright_storage::testing::{TestDb, execute, execute_in, scalar};
use docwright_storage::{Backend, Db};
use serde_json::{Value, json};

const JOBS: usize = 2_000;

struct Recorder {
    db: Db,
    server: &'static str,
    runs: Arc<Mutex<HashMap<String, usize>>>,
    by_server: Arc<AtomicUsize>,
}

impl Handler for Recorder {
    async fn run(&self, job: JobContext) -> Result<Value, JobError> {
        *self.runs.lock().unwrap().entry(job.id().to_string()).or_default() += 1;
        self.by_server.fetch_add(1, Ordering::Relaxed);
        // A little work, so the two servers' claims interleave.
        tokio::time::sleep(Duration::from_micros(u64::from(job.id().as_uuid().as_bytes()[15]) * 10)).await;
        let mut tx = self.db.begin_write().await?;
        execute_in(
            &mut tx,
            "INSERT INTO completions (job_id, server) VALUES ($1, $2)",
            &[&job.id().to_string(), self.server],
        )
        .await?;
        let result = Ok(json!({"server": self.server}));
        if job.finish_in(&mut tx, &result).await.map_err(|e| JobError::retryable("storage", e.to_string()))? {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        result
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_complete_every_job_exactly_once() {
    let Some(tdb) = TestDb::fresh(Backend::Postgres).await else { return };
    let a = Db::connect(tdb.url(), 10).await.unwrap();
    a.migrate().await.unwrap();
    let b = Db::connect(tdb.url(), 10).await.unwrap();
    b.migrate().await.unwrap();
    // The side table: no key, so a second completion of a job would show as a second row.
    execute(&a, "CREATE TABLE completions (job_id TEXT NOT NULL, server TEXT NOT NULL)", &[]).await.unwrap();

    let runs = Arc::new(Mutex::new(HashMap::new()));
    let counts = [Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0))];
    let mut runtimes = Vec::new();
    for (i, (db, server)) in [(a.clone(), "a"), (b.clone(), "b")].into_iter().enumerate() {
        let mut registry = Registry::new();
        registry.register(
            "count.once",
            Recorder { db: db.clone(), server, runs: runs.clone(), by_server: counts[i].clone() },
        );
        let settings = docwright_jobs::Settings { workers: 8, ..crate::settings() };
        let rt = Queue::new(db).runtime(registry, settings);
        rt.start();
        runtimes.push(rt);
    }
    // Both servers enqueue, in batches, while both run.
    for chunk in 0..(JOBS / 100) {
        let db = if chunk % 2 == 0 { &a } else { &b };
        let mut tx = db.begin_write().await.unwrap();
        for i in 0..100 {
            tx.enqueue(&NewJob::new("count.once", json!({"n": chunk * 100 + i}))).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let done = scalar(&a, "SELECT COUNT(*) FROM jobs WHERE state = 'completed'", &[]).await;
        if done == JOBS as i64 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "only {done} of {JOBS} jobs completed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for rt in &runtimes {
        rt.shutdown(Duration::from_secs(10)).await;
    }

    let rows = scalar(&a, "SELECT COUNT(*) FROM completions", &[]).await;
    let distinct = scalar(&a, "SELECT COUNT(DISTINCT job_id) FROM completions", &[]).await;
    assert_eq!((rows, distinct), (JOBS as i64, JOBS as i64), "one side-table row per job");
    let orphans = scalar(
        &a,
        "SELECT COUNT(*) FROM completions c JOIN jobs j ON j.id = c.job_id WHERE j.result NOT LIKE '%' || c.server || '%'",
        &[],
    )
    .await;
    assert_eq!(orphans, 0, "the row was written by the attempt that completed the job");
    let runs = runs.lock().unwrap().clone();
    assert_eq!(runs.len(), JOBS);
    assert!(runs.values().all(|n| *n == 1), "no job ran twice: {:?}", runs.values().filter(|n| **n > 1).count());
    let (ran_a, ran_b) = (counts[0].load(Ordering::Relaxed), counts[1].load(Ordering::Relaxed));
    assert!(ran_a > 0 && ran_b > 0, "both servers worked: {ran_a} and {ran_b}");
    let page = a
        .list_jobs(
            docwright_jobs::JobFilter { scope: Scope::Any, state: Some(JobState::Completed), kind: None },
            docwright_storage::PageRequest { after: None, limit: 1 },
        )
        .await
        .unwrap();
    assert!(page.has_more);
    a.close().await;
    b.close().await;
}
