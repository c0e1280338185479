//! How jobs are claimed, retried, timed out, cancelled, rescued and stopped, on both databases.

use std::time::Duration;

use docwright_core::time::Timestamp;
use docwright_jobs::{
    CancelOutcome, Handler, JobContext, JobError, JobState, NewJob, Outcome, Registry, Scope, StopReason,
};
use docwright_storage::Db;
use serde_json::{Value, json};

use crate::{Env, Event, KIND, Scripted, both_databases, eventually, queue, settings};

both_databases!(
    attempts_end_as_their_handler_says,
    claims_go_by_priority_then_age_and_wait_for_run_at,
    queued_jobs_cancel_at_once_and_running_ones_cooperatively,
    a_unique_key_runs_one_job,
    expired_leases_are_rescued_and_the_lost_attempt_is_fenced,
    progress_is_stored_and_effects_commit_with_the_end,
    shutdown_lets_short_jobs_finish_and_hands_back_the_rest,
    idle_workers_wake_when_a_job_is_enqueued,
);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

async fn job(db: &Db, id: docwright_core::id::JobId) -> docwright_jobs::Job {
    db.job(Scope::Any, id).await.unwrap().unwrap()
}

/// One table row: a script, the job's options, and what must come of it.
struct Case {
    name: &'static str,
    script: Value,
    max_attempts: u32,
    timeout_ms: Option<u64>,
    /// Each attempt's outcome, in order.
    outcomes: &'static [&'static str],
    state: JobState,
    code: Option<&'static str>,
    /// Bounds of each retry's delay, in ms.
    retry_within: (u64, u64),
}

async fn attempts_end_as_their_handler_says(env: Env) {
    use JobState::*;
    // Backoff in tests: 20 ms doubling to at most 40 ms, minus up to half (jitter).
    let backoff = (10, 40);
    let cases = [
        Case {
            name: "success",
            script: json!({"do": "ok"}),
            max_attempts: 3,
            timeout_ms: None,
            outcomes: &["completed"],
            state: Completed,
            code: None,
            retry_within: backoff,
        },
        Case {
            name: "retried with backoff until it succeeds",
            script: json!({"do": "fail", "times": 2}),
            max_attempts: 5,
            timeout_ms: None,
            outcomes: &["retrying", "retrying", "completed"],
            state: Completed,
            code: None,
            retry_within: backoff,
        },
        Case {
            name: "discarded after the last attempt",
            script: json!({"do": "fail"}),
            max_attempts: 3,
            timeout_ms: None,
            outcomes: &["retrying", "retrying", "discarded"],
            state: Discarded,
            code: Some("flaky"),
            retry_within: backoff,
        },
        Case {
            name: "a retry_after wins over the backoff",
            script: json!({"do": "fail", "times": 1, "retry_after_ms": 300}),
            max_attempts: 2,
            timeout_ms: None,
            outcomes: &["retrying", "completed"],
            state: Completed,
            code: None,
            retry_within: (300, 300),
        },
        Case {
            name: "a permanent error discards at once",
            script: json!({"do": "permanent"}),
            max_attempts: 5,
            timeout_ms: None,
            outcomes: &["discarded"],
            state: Discarded,
            code: Some("bad_input"),
            retry_within: backoff,
        },
        Case {
            name: "a timeout cancels the running future",
            script: json!({"do": "sleep", "ms": 30_000}),
            max_attempts: 2,
            timeout_ms: Some(150),
            outcomes: &["retrying", "discarded"],
            state: Discarded,
            code: Some("timeout"),
            retry_within: backoff,
        },
        Case {
            name: "a panic fails the attempt, not the worker",
            script: json!({"do": "panic"}),
            max_attempts: 1,
            timeout_ms: None,
            outcomes: &["discarded"],
            state: Discarded,
            code: Some("panicked"),
            retry_within: backoff,
        },
        Case {
            name: "a handler may cancel its job",
            script: json!({"do": "self_cancel"}),
            max_attempts: 3,
            timeout_ms: None,
            outcomes: &["cancelled"],
            state: Cancelled,
            code: Some("cancelled"),
            retry_within: backoff,
        },
    ];
    let handler = Scripted::default();
    let rt = queue(&env.db).runtime(handler.registry(), settings());
    let mut failures = Vec::new();
    for c in &cases {
        let mut new = NewJob::new(KIND, c.script.clone()).max_attempts(c.max_attempts);
        if let Some(t) = c.timeout_ms {
            new = new.timeout(ms(t));
        }
        let id = env.db.enqueue(&new).await.unwrap().id;
        let mut outcomes = Vec::new();
        loop {
            let before = Timestamp::now().millis();
            match rt.run_once().await.unwrap() {
                Some(ran) => {
                    assert_eq!(ran.id, id, "{}", c.name);
                    if let Outcome::Retrying { at, .. } = &ran.outcome {
                        // The attempt ended between `before` and now, and `at` is its end plus
                        // the delay.
                        let (longest, shortest) = (at.millis() - before, at.millis() - Timestamp::now().millis());
                        let (min, max) = (c.retry_within.0 as i64, c.retry_within.1 as i64);
                        if longest < min || shortest > max {
                            failures.push(format!(
                                "{}: retry in {shortest}..{longest} ms, want {:?}",
                                c.name, c.retry_within
                            ));
                        }
                    }
                    outcomes.push(ran.outcome.as_str());
                }
                None => {
                    let j = job(&env.db, id).await;
                    if j.state != JobState::Retryable {
                        break;
                    }
                    // Not due yet: the backoff holds it back.
                    let wait = (j.run_at.millis() - Timestamp::now().millis()).max(0) as u64;
                    tokio::time::sleep(ms(wait + 5)).await;
                }
            }
        }
        let j = job(&env.db, id).await;
        let got = (outcomes.clone(), j.state, j.error_code.as_deref());
        let want = (c.outcomes.to_vec(), c.state, c.code);
        if got != want {
            failures.push(format!("{}: got {got:?}, want {want:?}", c.name));
        }
        if c.state == Discarded && c.code == Some("flaky") {
            let last = j.last_error.clone().unwrap_or_default();
            if !last.contains("after 3 attempts") {
                failures.push(format!("{}: the last error is kept with the count: {last}", c.name));
            }
        }
        if c.state == Completed && j.result.is_none() {
            failures.push(format!("{}: the result is stored", c.name));
        }
    }
    // The timed-out attempts were dropped, not left running.
    let dropped = handler.events().iter().filter(|e| matches!(e, Event::Dropped { .. })).count();
    assert_eq!(dropped, 2 + 1, "two timed-out attempts and one panic dropped their futures");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

async fn claims_go_by_priority_then_age_and_wait_for_run_at(env: Env) {
    let now = Timestamp::now();
    for (name, priority, age_secs) in [("low-old", 0, 60), ("high-new", 10, 1), ("high-old", 10, 30), ("mid", 5, 5)] {
        let new =
            NewJob::new(KIND, json!({"do": "ok", "name": name})).priority(priority).run_at(now.plus_secs(-age_secs));
        env.db.enqueue(&new).await.unwrap();
    }
    let later = NewJob::new(KIND, json!({"do": "ok", "name": "scheduled"}))
        .priority(100)
        .run_at(Timestamp::from_millis(now.millis() + 400));
    env.db.enqueue(&later).await.unwrap();
    let handler = Scripted::default();
    let rt = queue(&env.db).runtime(handler.registry(), settings());
    while rt.run_once().await.unwrap().is_some() {}
    let names = |h: &Scripted| {
        h.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Started { payload, .. } => payload["name"].as_str().map(str::to_owned),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&handler), ["high-old", "high-new", "mid", "low-old"], "the scheduled job waits");
    tokio::time::sleep(ms(450)).await;
    assert!(rt.run_once().await.unwrap().is_some());
    assert_eq!(names(&handler).last().map(String::as_str), Some("scheduled"));
}

async fn queued_jobs_cancel_at_once_and_running_ones_cooperatively(env: Env) {
    let q = queue(&env.db);
    let handler = Scripted::default();
    let rt = q.runtime(handler.registry(), settings());

    let queued = env.db.enqueue(&NewJob::new(KIND, json!({"do": "ok"}))).await.unwrap().id;
    assert!(matches!(q.cancel(Scope::Any, queued).await.unwrap(), CancelOutcome::Cancelled(_)));
    assert!(rt.run_once().await.unwrap().is_none(), "a cancelled job never runs");
    assert_eq!(job(&env.db, queued).await.state, JobState::Cancelled);

    // Running here: the token fires at once. Running in another server: at its next heartbeat
    // (PostgreSQL: a notification), since the cancelling server does not run it.
    for via_other_server in [false, true] {
        let other = env.other_server().await;
        let canceller = if via_other_server { queue(&other) } else { q.clone() };
        let id = env.db.enqueue(&NewJob::new(KIND, json!({"do": "wait_cancel"}))).await.unwrap().id;
        let h = handler.clone();
        let cancel = async {
            eventually(Duration::from_secs(5), "the job to start", || {
                let h = h.clone();
                async move {
                    h.events()
                        .iter()
                        .any(|e| matches!(e, Event::Started { payload, .. } if payload["do"] == "wait_cancel"))
                }
            })
            .await;
            let outcome = canceller.cancel(Scope::Any, id).await.unwrap();
            assert!(matches!(outcome, CancelOutcome::Requested(_)), "{outcome:?}");
        };
        let (ran, ()) = tokio::join!(rt.run_once(), cancel);
        let ran = ran.unwrap().unwrap();
        assert_eq!((ran.id, ran.outcome), (id, Outcome::Cancelled));
        assert_eq!(job(&env.db, id).await.state, JobState::Cancelled);
        assert!(handler.events().contains(&Event::Stopped { reason: Some(StopReason::CancelRequested) }));
        handler.log.lock().unwrap().clear();
        other.close().await;
    }
}

async fn a_unique_key_runs_one_job(env: Env) {
    let handler = Scripted::default();
    let rt = queue(&env.db).runtime(handler.registry(), settings());
    let new = || NewJob::new(KIND, json!({"do": "ok"})).unique_key("nightly");
    let a = env.db.enqueue(&new()).await.unwrap();
    let b = env.db.enqueue(&new()).await.unwrap();
    assert_eq!((b.id, a.new, b.new), (a.id, true, false));
    while rt.run_once().await.unwrap().is_some() {}
    assert_eq!(handler.starts(), 1);
    let c = env.db.enqueue(&new()).await.unwrap();
    assert!(c.new && c.id != a.id, "once the job finished the key is free again");
}

async fn expired_leases_are_rescued_and_the_lost_attempt_is_fenced(env: Env) {
    let handler = Scripted::default();
    let rt = queue(&env.db).runtime(handler.registry(), settings());
    let kinds = vec![KIND.to_owned()];

    // A worker that claimed and died: the rescuer makes its job retryable, and another runs it.
    let id = env.db.enqueue(&NewJob::new(KIND, json!({"do": "ok"})).max_attempts(3)).await.unwrap().id;
    let dead = env.db.claim_jobs(&kinds, "dead-worker", 1, ms(50), Timestamp::now()).await.unwrap().remove(0);
    assert_eq!(rt.rescue_once().await.unwrap(), 0, "the lease has not run out yet");
    tokio::time::sleep(ms(80)).await;
    assert_eq!(rt.rescue_once().await.unwrap(), 1);
    let j = job(&env.db, id).await;
    assert_eq!((j.state, j.error_code.as_deref()), (JobState::Retryable, Some("lease_expired")));
    tokio::time::sleep(ms(60)).await;
    let ran = rt.run_once().await.unwrap().unwrap();
    assert_eq!((ran.id, ran.attempt, ran.outcome), (id, 2, Outcome::Completed));
    let late = json!({"from": "the dead worker"});
    let finish = docwright_storage::jobs::Finish::Complete { result: &late };
    let fenced = env.db.finish_job(id, dead.attempt_id.as_deref().unwrap(), &finish).await.unwrap();
    assert!(!fenced, "the dead worker's attempt cannot complete the job");
    assert_eq!(job(&env.db, id).await.result, Some(json!({"attempt": 2})));

    // Out of attempts: discarded.
    let id = env.db.enqueue(&NewJob::new(KIND, json!({"do": "ok"})).max_attempts(1)).await.unwrap().id;
    env.db.claim_jobs(&kinds, "dead-worker", 1, ms(10), Timestamp::now()).await.unwrap();
    tokio::time::sleep(ms(30)).await;
    assert_eq!(rt.rescue_once().await.unwrap(), 1);
    let j = job(&env.db, id).await;
    assert_eq!((j.state, j.error_code.as_deref()), (JobState::Discarded, Some("lease_expired")));

    // A worker that stalls past its lease (no heartbeat in time) while alive: its job is
    // rescued and completed by another; when the stalled attempt ends, nothing it says counts.
    let stalled = docwright_jobs::Settings { lease: ms(200), heartbeat: Duration::from_secs(30), ..settings() };
    let slow = queue(&env.db).runtime(handler.registry(), stalled);
    let id = env.db.enqueue(&NewJob::new(KIND, json!({"do": "sleep", "ms": 1200})).max_attempts(3)).await.unwrap().id;
    let other = queue(&env.db)
        .runtime(handler.registry(), docwright_jobs::Settings { heartbeat: Duration::from_secs(30), ..settings() });
    let take_over = async {
        tokio::time::sleep(ms(350)).await;
        assert_eq!(rt.rescue_once().await.unwrap(), 1);
        tokio::time::sleep(ms(60)).await;
        other.run_once().await.unwrap().unwrap()
    };
    let (first, second) = tokio::join!(slow.run_once(), take_over);
    let first = first.unwrap().unwrap();
    assert_eq!((first.id, first.attempt, first.outcome), (id, 1, Outcome::LeaseLost));
    assert_eq!((second.id, second.attempt, second.outcome), (id, 2, Outcome::Completed));
    let j = job(&env.db, id).await;
    assert_eq!((j.state, j.attempt), (JobState::Completed, 2));
}

/// Writes a side-table row and completes its job in one transaction.
struct SideEffect {
    db: Db,
}

impl Handler for SideEffect {
    async fn run(&self, job: JobContext) -> Result<Value, JobError> {
        let mut tx = self.db.begin_write().await?;
        let attempt = job.attempt().to_string();
        docwright_storage::testing::execute_in(
            &mut tx,
            "INSERT INTO side_effects (job_id, attempt) VALUES ($1, $2)",
            &[&job.id().to_string(), &attempt],
        )
        .await?;
        let result = Ok(json!({"written_by_attempt": job.attempt()}));
        if job.finish_in(&mut tx, &result).await.map_err(|e| JobError::retryable("storage", e.to_string()))? {
            // Holding the job's row (PostgreSQL) or the writer (SQLite) across heartbeats: a
            // renewal waits for the commit, and must not keep the handler from making it.
            tokio::time::sleep(Duration::from_millis(job.payload()["hold_ms"].as_u64().unwrap_or(0))).await;
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        result
    }
}

async fn progress_is_stored_and_effects_commit_with_the_end(env: Env) {
    let handler = Scripted::default();
    let rt = queue(&env.db).runtime(handler.registry(), settings());
    rt.start();
    let id = env.db.enqueue(&NewJob::new(KIND, json!({"do": "progress", "ms": 400}))).await.unwrap().id;
    eventually(Duration::from_secs(5), "progress", || {
        let db = env.db.clone();
        async move { job(&db, id).await.progress == Some(json!({"percent": 40, "phase": "reading"})) }
    })
    .await;
    eventually(Duration::from_secs(5), "completion", || {
        let db = env.db.clone();
        async move { job(&db, id).await.state == JobState::Completed }
    })
    .await;
    rt.shutdown(Duration::from_secs(5)).await;

    docwright_storage::testing::execute(
        &env.db,
        "CREATE TABLE side_effects (job_id TEXT NOT NULL, attempt TEXT NOT NULL)",
        &[],
    )
    .await
    .unwrap();
    let mut registry = Registry::new();
    registry.register("side.effect", SideEffect { db: env.db.clone() });
    let rt = queue(&env.db).runtime(registry, settings());
    let id = env.db.enqueue(&NewJob::new("side.effect", json!({"hold_ms": 350}))).await.unwrap().id;
    let ran =
        tokio::time::timeout(Duration::from_secs(10), rt.run_once()).await.expect("no deadlock").unwrap().unwrap();
    assert_eq!(ran.outcome, Outcome::Completed);
    let j = job(&env.db, id).await;
    assert_eq!((j.state, j.result), (JobState::Completed, Some(json!({"written_by_attempt": 1}))));
    let rows = docwright_storage::testing::scalar(
        &env.db,
        "SELECT COUNT(*) FROM side_effects WHERE job_id = $1",
        &[&id.to_string()],
    )
    .await;
    assert_eq!(rows, 1);
}

async fn shutdown_lets_short_jobs_finish_and_hands_back_the_rest(env: Env) {
    let handler = Scripted::default();
    let rt = queue(&env.db).runtime(handler.registry(), settings());
    let short = env.db.enqueue(&NewJob::new(KIND, json!({"do": "sleep", "ms": 300}))).await.unwrap().id;
    let long = env.db.enqueue(&NewJob::new(KIND, json!({"do": "sleep", "ms": 60_000}))).await.unwrap().id;
    rt.start();
    eventually(Duration::from_secs(5), "both jobs to start", || {
        let h = handler.clone();
        async move { h.starts() == 2 }
    })
    .await;
    rt.shutdown(Duration::from_secs(1)).await;
    assert_eq!(job(&env.db, short).await.state, JobState::Completed, "finished within the grace period");
    let j = job(&env.db, long).await;
    assert_eq!((j.state, j.attempt), (JobState::Available, 0), "handed back, the interrupted attempt not counted");
    assert!(handler.events().contains(&Event::Dropped { attempt: 1 }));
    // Nothing claims after shutdown.
    let again = env.db.enqueue(&NewJob::new(KIND, json!({"do": "ok"}))).await.unwrap().id;
    tokio::time::sleep(ms(200)).await;
    assert_eq!(job(&env.db, again).await.state, JobState::Available);
}

async fn idle_workers_wake_when_a_job_is_enqueued(env: Env) {
    // With a poll interval this long, a job that starts at once was woken, not polled for.
    let slow_poll = docwright_jobs::Settings { poll_interval: Duration::from_secs(60), ..settings() };
    let handler = Scripted::default();
    let rt = queue(&env.db).runtime(handler.registry(), slow_poll);
    rt.start();
    tokio::time::sleep(ms(300)).await; // idle, waiting
    let other = env.other_server().await;
    // In process on both databases; from another server through LISTEN/NOTIFY on PostgreSQL.
    let mut enqueuers = vec![env.db.clone()];
    if env.db.backend() == docwright_storage::Backend::Postgres {
        enqueuers.push(other.clone());
    }
    for (i, db) in enqueuers.iter().enumerate() {
        db.enqueue(&NewJob::new(KIND, json!({"do": "ok"}))).await.unwrap();
        eventually(Duration::from_secs(5), "the idle worker to wake", || {
            let h = handler.clone();
            async move { h.starts() == i + 1 }
        })
        .await;
    }
    rt.shutdown(Duration::from_secs(5)).await;
    other.close().await;
}
