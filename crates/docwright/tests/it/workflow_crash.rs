//! SPEC W1 / S2: a server killed (SIGKILL) while a workflow is running. After a restart the
//! workflow is taken up again and completes exactly once: the AI calls it had already paid
//! for are replayed from their checkpoints (never asked or charged again), it produces one
//! result, and the books are exact — one debit per answered call, all against the workflow,
//! the ledger summing to the balance and nothing left reserved.

use std::sync::atomic::{AtomicBool, Ordering};

use docwright_llm::testing::{FakeOpenAi, Reply};

use super::*;

const TOKEN: &str = "workflow-crash-admin-token-0123456789abcdef";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_survives_a_killed_server() {
    survives_a_kill(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_survives_a_killed_server_on_postgresql() {
    let Some(db) = docwright_storage::testing::TestDb::fresh(docwright_storage::Backend::Postgres).await else {
        return;
    };
    survives_a_kill(Some(db.url())).await;
}

/// The section a request asks to write, if it is a section call.
fn section_of(body: &Value) -> Option<String> {
    let system = body["messages"][0]["content"].as_str()?;
    let user: Value = serde_json::from_str(body["messages"][1]["content"].as_str()?).ok()?;
    system.starts_with("You write one section").then(|| user["section"]["id"].as_str().map(str::to_owned)).flatten()
}

/// What the pipeline's phases are answered with, told apart by their system prompts: one task,
/// one document of two sections; a section call hangs while `hang` is set.
fn script(body: &Value, hang: bool) -> Option<Reply> {
    let system = body["messages"][0]["content"].as_str().unwrap_or_default();
    let user: Value =
        serde_json::from_str(body["messages"][1]["content"].as_str().unwrap_or_default()).unwrap_or_default();
    let ok = |v: Value| Some(Reply::ok(v.to_string()));
    if system.starts_with("You are the input analysis step") {
        ok(json!({"detected_language": "en", "normalized_request": "a report", "intent": "report", "context_items": [],
                  "complexity": "moderate", "needs_workflow_history": false, "fast_track": false}))
    } else if system.starts_with("You plan the work") {
        ok(
            json!({"tasks": [{"id": "t1", "objective": "a report", "required_documents": [], "expected_output": "docx"}]}),
        )
    } else if system.starts_with("You choose the next action") {
        let done = user["executed_actions"].as_array().is_some_and(|a| !a.is_empty());
        let name = if done { "complete" } else { "ai.generate_document" };
        ok(json!({"action": name, "parameters": {"prompt": "the report", "document_ids": [], "query": null,
                  "output_format": "md", "title": null}, "reasoning": "next"}))
    } else if system.starts_with("You validate the result") {
        ok(json!({"valid": true, "task_complete": true, "next_action_guidance": null, "reasoning": "ok"}))
    } else if system.starts_with("You design the documents") {
        let section = |id: &str| {
            json!({"id": id, "title": id, "content_type": "paragraph", "generation_hint": "write",
                                        "content_part_ids": [], "content_formats": [], "extraction_fields": []})
        };
        ok(
            json!({"metadata": {"title": "Report", "language": "en", "output_format": "md", "fields": [], "csv_delimiter": null},
                  "documents": [{"id": "report", "title": "Report", "filename": "report.md", "output_format": null,
                                 "sections": [section("intro"), section("body")]}]}),
        )
    } else if system.starts_with("You write one section") {
        let id = user["section"]["id"].as_str().unwrap_or_default().to_owned();
        let reply =
            Reply::ok(json!({"elements": [{"type": "paragraph", "text": format!("text of {id}")}]}).to_string());
        // The second section hangs on the first server: the kill finds the run inside it.
        Some(if hang && id == "body" { Reply::After(Duration::from_secs(120), Box::new(reply)) } else { reply })
    } else {
        None
    }
}

async fn survives_a_kill(database_url: Option<&str>) {
    let fake = FakeOpenAi::start().await;
    let hang = Arc::new(AtomicBool::new(true));
    let hanging = hang.clone();
    fake.respond_with(move |body| script(body, hanging.load(Ordering::SeqCst)));
    let dir = tempfile::tempdir().unwrap();
    // Output at 0.001 a token (a call reserves at most 1.00), quick leases and rescue, one
    // section at a time so the first is answered (and checkpointed) before the second hangs.
    let config = format!(
        "[billing]\ninstance_timeout_secs = 2\nreconcile_every_secs = 1\n\n\
         [jobs]\nworkers = 2\nlease_secs = 2\nheartbeat_secs = 1\nrescue_every_secs = 1\n\
         backoff_base_ms = 100\npoll_interval_ms = 100\n\n\
         [workflows]\nsection_parallelism = 1\n\n\
         [[providers]]\nname = \"upstream\"\ntype = \"openai_compatible\"\nbase_url = \"{}\"\napi_key = \"sk-x\"\n\n\
         [[models]]\nname = \"writer\"\nprovider = \"upstream\"\ncontext_tokens = 64000\nmax_output_tokens = 1000\n\
         capabilities = [\"text\", \"json\"]\nprice_input_per_mtok = \"0\"\nprice_output_per_mtok = \"1000\"\n",
        fake.base_url
    );
    std::fs::write(dir.path().join("docwright.toml"), config).unwrap();
    let mut env = vec![("DOCWRIGHT_BOOTSTRAP__ADMIN_TOKEN", TOKEN)];
    if let Some(url) = database_url {
        env.push(("DOCWRIGHT_DATABASE__URL", url));
    }
    let start = || {
        let mut cmd = command(dir.path(), &env);
        cmd.args(["serve", "--config", "docwright.toml"]);
        cmd
    };
    let c = reqwest::Client::new();
    let get = |url: String, access: String| {
        let c = c.clone();
        async move { get_as(&c, url, &access).await }
    };
    let section_asked =
        |id: &str| fake.received().iter().filter(|r| section_of(&r.body).as_deref() == Some(id)).count();

    let server = Server::spawn(start());
    let access = login_as(&c, &server, TOKEN).await;
    let (_, before) = get(server.url("/api/billing/balance"), access.clone()).await;
    let (status, submitted) = post(
        &c,
        server.url("/api/workflows"),
        Some(&access),
        json!({"prompt": "Write a report", "output_format": "md"}),
    )
    .await;
    assert_eq!(status, 202, "{submitted}");
    let id = submitted["workflow_id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    while section_asked("body") == 0 {
        assert!(Instant::now() < deadline, "the run never reached its second section: {:?}", fake.received().len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let asked_before_kill = fake.received().len();
    let mut server = server;
    server.signal("KILL");
    wait(&mut server.child, Duration::from_secs(10));
    hang.store(false, Ordering::SeqCst);

    // The successor takes the run up once its lease has run out, and finishes it.
    let server = Server::spawn(start());
    let access = login_as(&c, &server, TOKEN).await;
    let deadline = Instant::now() + Duration::from_secs(90);
    let done = loop {
        let (status, w) = get(server.url(&format!("/api/workflows/{id}")), access.clone()).await;
        assert_eq!(status, 200, "an accepted workflow is never lost: {w}");
        if ["completed", "failed", "cancelled"].contains(&w["status"].as_str().unwrap_or_default()) {
            break w;
        }
        assert!(Instant::now() < deadline, "the workflow did not end after the restart: {w}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(done["status"], "completed", "{done}");
    assert!(done["attempt"].as_u64().unwrap() >= 2, "it ran again after the crash: {done}");
    let files = done["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "one result, not one per attempt: {done}");
    let resp = c.get(server.url(files[0]["download_url"].as_str().unwrap())).bearer_auth(&access).send().await.unwrap();
    let text = resp.text().await.unwrap();
    assert!(text.contains("text of intro") && text.contains("text of body"), "{text}");

    // Replayed, not asked again: the analysis and the first section were answered once; only
    // the section that hung was asked a second time.
    let received = fake.received();
    let analyses = received
        .iter()
        .filter(|r| {
            r.body["messages"][0]["content"].as_str().unwrap_or_default().starts_with("You are the input analysis")
        })
        .count();
    assert_eq!(analyses, 1, "the analysis is replayed from its checkpoint");
    assert_eq!(section_asked("intro"), 1, "the first section is replayed from its checkpoint");
    assert_eq!(section_asked("body"), 2, "the section in flight at the kill is asked again");
    assert!(received.len() > asked_before_kill);

    // One debit per answered call (every call but the one that hung), all against the workflow.
    let (_, rows) = get(server.url("/api/billing/transactions"), access.clone()).await;
    let debits: Vec<&Value> = rows.as_array().unwrap().iter().filter(|t| t["kind"] == "debit").collect();
    assert_eq!(debits.len(), received.len() - 1, "one debit per answered call: {rows}");
    assert!(debits.iter().all(|d| d["reference_type"] == "workflow" && d["reference_id"] == json!(id)), "{rows}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, b) = get(server.url("/api/billing/balance"), access.clone()).await;
        if b["reserved"] == before["reserved"] {
            let price: i64 = debits.iter().map(|d| micros(d["amount"].as_str().unwrap())).sum();
            assert_eq!(micros(b["balance"].as_str().unwrap()), micros(before["balance"].as_str().unwrap()) + price);
            assert_eq!(micros(done["cost"].as_str().unwrap()), -price, "the workflow's cost is what was charged");
            break;
        }
        assert!(Instant::now() < deadline, "reservations were not released: {b}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, v) = get(server.url("/api/admin/billing/verify"), access.clone()).await;
    assert_eq!(v["ok"], true, "{v}");
    server.stop("TERM");
}
