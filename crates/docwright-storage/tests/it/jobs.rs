//! The queue's SQL (SPEC S2): claim order, unique keys, fencing by attempt id, the rescuer's
//! condition, disjoint concurrent claims, and writes composed in one transaction.

use std::time::Duration;

use docwright_core::id::{AiRequestId, JobId, UserId};
use docwright_core::money::Money;
use docwright_core::time::Timestamp;
use docwright_storage::Db;
use docwright_storage::ai_requests::{AiAnswer, AiQuery, AiRequestRecord};
use docwright_storage::jobs::{CancelOutcome, Finish, JobFilter, JobState, NewJob, RetryOutcome, Scope};
use serde_json::json;

both_databases!(
    claims_follow_priority_then_age_and_skip_future_jobs,
    unique_keys_hold_while_pending,
    writes_of_a_lost_attempt_change_nothing,
    concurrent_claims_are_disjoint,
    cancel_and_retry_by_state,
    a_request_and_its_job_are_stored_together,
);

const KIND: &str = "test.kind";

fn kinds() -> Vec<String> {
    vec![KIND.to_owned()]
}

async fn claim(db: &Db, n: u32) -> Vec<docwright_storage::jobs::Job> {
    db.claim_jobs(&kinds(), "w1", n, Duration::from_secs(30), Timestamp::now()).await.unwrap()
}

async fn claims_follow_priority_then_age_and_skip_future_jobs(db: Db) {
    let now = Timestamp::now();
    let at = |secs: i64| now.plus_secs(secs);
    let mut ids = Vec::new();
    for (name, priority, run_at) in
        [("old-low", 0, at(-30)), ("new-high", 5, at(-1)), ("old-high", 5, at(-20)), ("future", 9, at(3600))]
    {
        let job = NewJob::new(KIND, json!({"name": name})).priority(priority).run_at(run_at);
        ids.push((name, db.enqueue(&job).await.unwrap().id));
    }
    db.enqueue(&NewJob::new("other.kind", json!({}))).await.unwrap();
    let names = |jobs: &[docwright_storage::jobs::Job]| {
        jobs.iter().map(|j| j.payload["name"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    let first = claim(&db, 2).await;
    assert_eq!(names(&first), ["old-high", "new-high"]);
    assert!(first.iter().all(|j| j.state == JobState::Running && j.attempt == 1 && j.lease_until.is_some()));
    assert_eq!(first[0].attempt_id, first[1].attempt_id, "one claim, one fencing token");
    assert_eq!(names(&claim(&db, 5).await), ["old-low"], "the future job and the other kind wait");
    assert!(claim(&db, 5).await.is_empty());
}

async fn unique_keys_hold_while_pending(db: Db) {
    let tenant = crate::tenant("Uniq");
    db.create_tenant(&tenant, &[]).await.unwrap();
    let job = || NewJob::new(KIND, json!({})).tenant(tenant.id).unique_key("report:2026-11");
    let first = db.enqueue(&job()).await.unwrap();
    assert!(first.new);
    let second = db.enqueue(&job()).await.unwrap();
    assert_eq!((second.id, second.new), (first.id, false), "a pending job holds its key");
    // Another tenant, a system job and another kind do not share the key.
    for other in [
        NewJob::new(KIND, json!({})).unique_key("report:2026-11"),
        NewJob::new("other.kind", json!({})).tenant(tenant.id).unique_key("report:2026-11"),
    ] {
        assert!(db.enqueue(&other).await.unwrap().new);
    }
    // The same id twice is one job.
    let fixed = NewJob::new(KIND, json!({"n": 1}));
    assert!(db.enqueue(&fixed).await.unwrap().new);
    assert_eq!(db.enqueue(&fixed).await.unwrap(), docwright_storage::jobs::Enqueued { id: fixed.id, new: false });

    // Running still holds the key; once completed it is free again.
    let claimed = claim(&db, 10).await;
    let running = claimed.iter().find(|j| j.id == first.id).unwrap();
    assert_eq!(db.enqueue(&job()).await.unwrap().id, first.id);
    let done = json!({"ok": true});
    let attempt = running.attempt_id.as_deref().unwrap();
    assert!(db.finish_job(first.id, attempt, &Finish::Complete { result: &done }).await.unwrap());
    let third = db.enqueue(&job()).await.unwrap();
    assert!(third.new && third.id != first.id);
    // Retrying the finished job would make two pending jobs with one key: refused.
    let retried = db.retry_job(Scope::Any, first.id, Timestamp::now()).await;
    assert!(matches!(retried, Ok(RetryOutcome::NotRetryable(_))), "a completed job is not retried: {retried:?}");
}

async fn writes_of_a_lost_attempt_change_nothing(db: Db) {
    let id = db.enqueue(&NewJob::new(KIND, json!({})).max_attempts(2)).await.unwrap().id;
    let lease = Duration::from_millis(1);
    let first = db.claim_jobs(&kinds(), "w1", 1, lease, Timestamp::now()).await.unwrap().remove(0);
    let a1 = first.attempt_id.clone().unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;

    // The rescuer sees the expired lease and makes the job retryable.
    let expired = db.expired_leases(Timestamp::now(), 10).await.unwrap();
    assert_eq!(expired.iter().map(|e| (e.id, e.attempt)).collect::<Vec<_>>(), [(id, 1)]);
    let retry = Finish::Retry { at: Timestamp::now(), code: "lease_expired", message: "its worker stopped" };
    assert!(db.rescue_job(&expired[0], &retry, Timestamp::now()).await.unwrap());
    assert!(!db.rescue_job(&expired[0], &retry, Timestamp::now()).await.unwrap(), "rescued once");

    // A second worker claims it; the first worker's attempt can no longer touch it.
    let second = db.claim_jobs(&kinds(), "w2", 1, Duration::from_secs(30), Timestamp::now()).await.unwrap().remove(0);
    let a2 = second.attempt_id.clone().unwrap();
    assert_ne!(a1, a2);
    assert_eq!(second.attempt, 2);
    let stale = json!({"from": "w1"});
    assert!(!db.finish_job(id, &a1, &Finish::Complete { result: &stale }).await.unwrap());
    assert!(!db.finish_job(id, &a1, &Finish::Discard { code: "x", message: "x" }).await.unwrap());
    assert_eq!(db.extend_lease(id, &a1, Timestamp::now().plus_secs(60)).await.unwrap(), None);
    assert!(!db.set_job_progress(id, &a1, &json!({"percent": 50})).await.unwrap());
    assert!(!db.release_job(id, &a1, Timestamp::now()).await.unwrap());
    // A lease extended in time is not rescued.
    assert_eq!(db.extend_lease(id, &a2, Timestamp::now().plus_secs(60)).await.unwrap(), Some(false));
    assert!(db.expired_leases(Timestamp::now(), 10).await.unwrap().is_empty());
    let late = docwright_storage::jobs::Expired { attempt_id: a2.clone(), ..expired[0].clone() };
    assert!(!db.rescue_job(&late, &retry, Timestamp::now()).await.unwrap(), "the lease is not expired");

    let good = json!({"from": "w2"});
    assert!(db.set_job_progress(id, &a2, &json!({"percent": 90, "phase": "writing"})).await.unwrap());
    assert!(db.finish_job(id, &a2, &Finish::Complete { result: &good }).await.unwrap());
    let job = db.job(Scope::Any, id).await.unwrap().unwrap();
    assert_eq!((job.state, job.result, job.attempt_id), (JobState::Completed, Some(good), Some(a2)));
    assert!(job.finished_at.is_some());
}

async fn concurrent_claims_are_disjoint(db: Db) {
    let mut tx = db.begin_write().await.unwrap();
    for i in 0..200 {
        tx.enqueue(&NewJob::new(KIND, json!({"i": i}))).await.unwrap();
    }
    tx.commit().await.unwrap();
    let mut claimers = Vec::new();
    for w in 0..8 {
        let db = db.clone();
        claimers.push(async move {
            let mut mine = Vec::new();
            loop {
                let got = db
                    .claim_jobs(&kinds(), &format!("w{w}"), 7, Duration::from_secs(30), Timestamp::now())
                    .await
                    .unwrap();
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|j| j.id));
            }
        });
    }
    let all: Vec<JobId> = futures_util::future::join_all(claimers).await.into_iter().flatten().collect();
    let unique: std::collections::BTreeSet<JobId> = all.iter().copied().collect();
    assert_eq!((all.len(), unique.len()), (200, 200), "every job claimed exactly once");
}

async fn cancel_and_retry_by_state(db: Db) {
    let a = crate::tenant("A");
    let b = crate::tenant("B");
    db.create_tenant(&a, &[]).await.unwrap();
    db.create_tenant(&b, &[]).await.unwrap();
    let now = Timestamp::now();
    let queued = db.enqueue(&NewJob::new(KIND, json!({})).tenant(a.id)).await.unwrap().id;
    // Another tenant's scope does not reach it.
    assert_eq!(db.cancel_job(Scope::Tenant(b.id), queued, now).await.unwrap(), CancelOutcome::NotFound);
    let CancelOutcome::Cancelled(job) = db.cancel_job(Scope::Tenant(a.id), queued, now).await.unwrap() else {
        panic!("a queued job is cancelled at once")
    };
    assert_eq!((job.state, job.error_code.as_deref()), (JobState::Cancelled, Some("cancelled")));
    assert!(matches!(db.cancel_job(Scope::Any, queued, now).await.unwrap(), CancelOutcome::Finished(_)));

    let running = db.enqueue(&NewJob::new(KIND, json!({})).tenant(a.id).max_attempts(1)).await.unwrap().id;
    let claimed = claim(&db, 1).await.remove(0);
    let attempt = claimed.attempt_id.unwrap();
    let CancelOutcome::Requested(job) = db.cancel_job(Scope::Any, running, now).await.unwrap() else {
        panic!("a running job is asked to stop")
    };
    assert!(job.cancel_requested && job.state == JobState::Running);
    assert_eq!(
        db.extend_lease(running, &attempt, now.plus_secs(30)).await.unwrap(),
        Some(true),
        "the worker learns it"
    );
    assert!(matches!(db.retry_job(Scope::Any, running, now).await.unwrap(), RetryOutcome::NotRetryable(_)));
    let discard = Finish::Discard { code: "boom", message: "it failed" };
    assert!(db.finish_job(running, &attempt, &discard).await.unwrap());

    // A dead letter comes back with one more attempt, its cancellation request forgotten.
    let RetryOutcome::Queued(job) = db.retry_job(Scope::Tenant(a.id), running, now).await.unwrap() else {
        panic!("a discarded job is retried")
    };
    assert_eq!((job.state, job.attempt, job.max_attempts, job.cancel_requested), (JobState::Available, 1, 2, false));
    assert_eq!(db.retry_job(Scope::Tenant(b.id), running, now).await.unwrap(), RetryOutcome::NotFound);

    let page = db
        .list_jobs(
            JobFilter { scope: Scope::Tenant(a.id), state: Some(JobState::Available), kind: Some(KIND) },
            docwright_storage::PageRequest { after: None, limit: 10 },
        )
        .await
        .unwrap();
    assert_eq!(page.items.iter().map(|j| j.id).collect::<Vec<_>>(), [running]);
    let depth = db.job_depth(Timestamp::now()).await.unwrap();
    assert!(depth.iter().any(|d| d.kind == KIND && d.state == JobState::Available && d.count == 1), "{depth:?}");
    assert!(depth.iter().all(|d| d.state != JobState::Cancelled), "cancelled jobs are history: {depth:?}");
}

async fn a_request_and_its_job_are_stored_together(db: Db) {
    let t = crate::tenant("Req");
    db.create_tenant(&t, &[]).await.unwrap();
    let record = |job_id| AiRequestRecord {
        id: AiRequestId::new(),
        tenant_id: t.id,
        user_id: UserId::new(),
        credential_kind: "session".into(),
        credential_id: uuid::Uuid::now_v7().to_string(),
        credential_tenant: None,
        job_id,
        query: AiQuery {
            query_text: "Find the trends".into(),
            category: Some("analysis".into()),
            input_range: Some("A1:B2".into()),
            input_data: Some(json!([["a", 1], ["b", 2.5]])),
            model_profile: None,
            allowed_providers: Some(vec!["dryrun".into()]),
            preset_id: None,
            system_prompt: Some("You analyse sales data.".into()),
        },
        created_at: Timestamp::now(),
        answer: None,
    };
    // Rolled back: neither the job nor the request exists.
    let mut tx = db.begin_write().await.unwrap();
    let job = tx.enqueue(&NewJob::new(KIND, json!({})).tenant(t.id)).await.unwrap();
    let lost = record(job.id);
    tx.insert_ai_request(&lost).await.unwrap();
    tx.rollback().await.unwrap();
    assert!(db.job(Scope::Any, job.id).await.unwrap().is_none());
    assert!(db.ai_request(t.id, lost.id).await.unwrap().is_none());

    let mut tx = db.begin_write().await.unwrap();
    let job = tx.enqueue(&NewJob::new(KIND, json!({})).tenant(t.id)).await.unwrap();
    let kept = record(job.id);
    tx.insert_ai_request(&kept).await.unwrap();
    tx.commit().await.unwrap();
    let (stored, stored_job) = db.ai_request_with_job(t.id, kept.id).await.unwrap().unwrap();
    assert_eq!(stored, kept);
    assert_eq!(stored_job.id, job.id);
    assert!(db.ai_request(crate::tenant("x").id, kept.id).await.unwrap().is_none(), "tenant-scoped");

    let answer = AiAnswer {
        text: "up".into(),
        result_data: Some(json!([["trend", "up"]])),
        model: "m".into(),
        provider: "p".into(),
        price: Money::from_micros(1234),
        currency: "CHF".into(),
        input_tokens: 10,
        output_tokens: 3,
        completed_at: Timestamp::now(),
    };
    let mut tx = db.begin_write().await.unwrap();
    assert!(tx.store_ai_answer(t.id, kept.id, &answer).await.unwrap());
    assert!(!tx.store_ai_answer(t.id, kept.id, &answer).await.unwrap(), "answered once");
    tx.commit().await.unwrap();
    assert_eq!(db.ai_request(t.id, kept.id).await.unwrap().unwrap().answer, Some(answer));
}
