//! Workflows' SQL: stored with their job in one transaction, tenant-scoped reads, events that
//! resume after an id, the operation tree replaced node by node, checkpoints and results
//! written once.

use docwright_core::id::{FileId, JobId, UserId, WorkflowId};
use docwright_core::money::Money;
use docwright_core::time::Timestamp;
use docwright_storage::jobs::{JobState, NewJob};
use docwright_storage::workflows::{LogRow, WorkflowEnd, WorkflowRecord, WorkflowStatus};
use docwright_storage::{Db, PageRequest};
use serde_json::json;

both_databases!(a_workflow_and_its_job_are_stored_together, what_a_run_leaves_behind);

fn record(tenant: docwright_core::id::TenantId, user: UserId, job: JobId) -> WorkflowRecord {
    WorkflowRecord {
        id: WorkflowId::new(),
        tenant_id: tenant,
        user_id: user,
        credential_kind: "session".into(),
        credential_id: "s1".into(),
        credential_tenant: None,
        job_id: job,
        prompt: "make a csv".into(),
        file_ids: vec![FileId::new(), FileId::new()],
        project_id: None,
        collection_id: None,
        output_format: Some("csv".into()),
        title: None,
        allowed_providers: Some(vec!["dryrun".into()]),
        model_profile: None,
        debug_trace: true,
        plan: Some(json!([{"objective": "o", "action_list": [{"exec_method": "ai", "exec_action": "process"}]}])),
        automation_id: Some(docwright_core::id::AutomationId::new()),
        instructions: Some("be brief".into()),
        created_at: Timestamp::now(),
    }
}

async fn a_workflow_and_its_job_are_stored_together(db: Db) {
    let (t, other) = (crate::tenant("W"), crate::tenant("Other"));
    db.create_tenant(&t, &[]).await.unwrap();
    db.create_tenant(&other, &[]).await.unwrap();
    let user = UserId::new();
    // Rolled back: neither the job nor the workflow exists.
    let mut tx = db.begin_write().await.unwrap();
    let job = tx.enqueue(&NewJob::new("workflow", json!({})).tenant(t.id)).await.unwrap();
    let w = record(t.id, user, job.id);
    tx.insert_workflow(&w).await.unwrap();
    tx.rollback().await.unwrap();
    assert!(db.workflow(t.id, w.id).await.unwrap().is_none());
    // Committed: both.
    let mut ids = Vec::new();
    for _ in 0..3 {
        let mut tx = db.begin_write().await.unwrap();
        let job = tx.enqueue(&NewJob::new("workflow", json!({})).tenant(t.id)).await.unwrap();
        let w = record(t.id, user, job.id);
        tx.insert_workflow(&w).await.unwrap();
        tx.commit().await.unwrap();
        ids.push(w.id);
    }
    let (stored, job) = db.workflow_with_job(t.id, ids[0]).await.unwrap().unwrap();
    assert_eq!(stored.record.file_ids.len(), 2);
    assert_eq!(stored.record.allowed_providers.as_deref(), Some(&["dryrun".to_owned()][..]));
    assert_eq!((stored.state.status, job.state), (WorkflowStatus::Queued, JobState::Available));
    assert!(db.workflow(other.id, ids[0]).await.unwrap().is_none(), "invisible from another tenant");
    // Newest first, paged; by owner.
    let p1 = db.workflows(t.id, None, PageRequest { after: None, limit: 2 }).await.unwrap();
    assert_eq!(p1.items.iter().map(|(w, _)| w.record.id).collect::<Vec<_>>(), [ids[2], ids[1]]);
    assert!(p1.has_more);
    let last = p1.items[1].0.record.id.to_string();
    let p2 = db.workflows(t.id, None, PageRequest { after: Some(&last), limit: 2 }).await.unwrap();
    assert_eq!(p2.items.iter().map(|(w, _)| w.record.id).collect::<Vec<_>>(), [ids[0]]);
    assert!(
        db.workflows(t.id, Some(UserId::new()), PageRequest { after: None, limit: 9 }).await.unwrap().items.is_empty()
    );
    // A run starts, reports, ends once.
    db.start_workflow(ids[0]).await.unwrap();
    db.set_workflow_progress(ids[0], Some("task_planning"), Some(12), Money::from_micros(5)).await.unwrap();
    let s = db.workflow(t.id, ids[0]).await.unwrap().unwrap().state;
    assert_eq!(
        (s.status, s.phase.as_deref(), s.progress, s.cost),
        (WorkflowStatus::Running, Some("task_planning"), 12, Money::from_micros(5))
    );
    let end = WorkflowEnd {
        status: WorkflowStatus::Completed,
        error_code: None,
        error_message: None,
        answer: Some("done"),
        detected_language: Some("en"),
        cost: Money::from_micros(9),
    };
    assert!(db.finish_workflow(ids[0], &end).await.unwrap());
    assert!(!db.finish_workflow(ids[0], &WorkflowEnd { status: WorkflowStatus::Failed, ..end }).await.unwrap());
    let s = db.workflow(t.id, ids[0]).await.unwrap().unwrap().state;
    assert_eq!((s.status, s.progress, s.answer.as_deref()), (WorkflowStatus::Completed, 100, Some("done")));
    db.start_workflow(ids[0]).await.unwrap();
    assert_eq!(
        db.workflow(t.id, ids[0]).await.unwrap().unwrap().state.status,
        WorkflowStatus::Completed,
        "an ended run stays ended"
    );
}

async fn what_a_run_leaves_behind(db: Db) {
    let (t, other) = (crate::tenant("W"), crate::tenant("Other"));
    db.create_tenant(&t, &[]).await.unwrap();
    db.create_tenant(&other, &[]).await.unwrap();
    let mut tx = db.begin_write().await.unwrap();
    let job = tx.enqueue(&NewJob::new("workflow", json!({})).tenant(t.id)).await.unwrap();
    let w = record(t.id, UserId::new(), job.id);
    tx.insert_workflow(&w).await.unwrap();
    tx.commit().await.unwrap();
    let id = w.id;
    // Events resume after an id.
    let mut event_ids = Vec::new();
    for i in 0..5 {
        event_ids.push(db.append_workflow_event(id, "progress", &json!({"percent": i})).await.unwrap());
    }
    let all = db.workflow_events(t.id, id, None, 100).await.unwrap();
    assert_eq!(all.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), event_ids);
    let rest = db.workflow_events(t.id, id, Some(&event_ids[2]), 100).await.unwrap();
    assert_eq!(rest.iter().map(|e| e.data["percent"].as_i64().unwrap()).collect::<Vec<_>>(), [3, 4]);
    assert!(db.workflow_events(other.id, id, None, 100).await.unwrap().is_empty());
    // The tree: a node replaced as it ends keeps its place.
    let node = |op: &str, parent: Option<&str>| LogRow {
        op_id: op.into(),
        parent_id: parent.map(str::to_owned),
        title: "T".into(),
        label: "L".into(),
        message: String::new(),
        started_at: Timestamp::now(),
        finished_at: None,
        outcome: None,
        error: None,
        cost: Money::ZERO,
        ai: None,
    };
    db.put_workflow_log(id, &node("root", None)).await.unwrap();
    db.put_workflow_log(id, &node("child", Some("root"))).await.unwrap();
    let done = LogRow {
        finished_at: Some(Timestamp::now()),
        outcome: Some("ok".into()),
        cost: Money::from_micros(7),
        ai: Some(json!({"model": "m"})),
        ..node("root", None)
    };
    db.put_workflow_log(id, &done).await.unwrap();
    let log = db.workflow_log(t.id, id).await.unwrap();
    assert_eq!(log.iter().map(|r| r.op_id.as_str()).collect::<Vec<_>>(), ["root", "child"]);
    assert_eq!(
        (log[0].outcome.as_deref(), log[0].cost, log[0].ai.clone()),
        (Some("ok"), Money::from_micros(7), Some(json!({"model": "m"})))
    );
    assert!(db.workflow_log(other.id, id).await.unwrap().is_empty());
    db.clear_workflow_log(id).await.unwrap();
    assert!(db.workflow_log(t.id, id).await.unwrap().is_empty());
    // Checkpoints: the first answer stays.
    assert_eq!(db.workflow_checkpoint(id, "k").await.unwrap(), None);
    db.put_workflow_checkpoint(id, "k", &json!({"a": 1})).await.unwrap();
    db.put_workflow_checkpoint(id, "k", &json!({"a": 2})).await.unwrap();
    assert_eq!(db.workflow_checkpoint(id, "k").await.unwrap(), Some(json!({"a": 1})));
    // Debug files: the last one of a name stays.
    db.put_workflow_debug(id, "user_input_analysis_prompt", "one").await.unwrap();
    db.put_workflow_debug(id, "user_input_analysis_prompt", "two").await.unwrap();
    assert_eq!(
        db.workflow_debug_files(t.id, id).await.unwrap(),
        [("user_input_analysis_prompt".to_owned(), "two".to_owned())]
    );
    assert!(db.workflow_debug_files(other.id, id).await.unwrap().is_empty());
    // Results: one file per key.
    let (f1, f2) = (FileId::new(), FileId::new());
    let mut tx = db.begin_write().await.unwrap();
    assert_eq!(tx.insert_workflow_result(id, "doc_0", f1).await.unwrap(), f1);
    assert_eq!(tx.insert_workflow_result(id, "doc_0", f2).await.unwrap(), f1, "the key keeps its first file");
    tx.commit().await.unwrap();
    assert_eq!(db.workflow_result(id, "doc_0").await.unwrap(), Some(f1));
    assert_eq!(db.workflow_results(id).await.unwrap(), [f1]);
}
