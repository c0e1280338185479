//! SPEC W1 `/api/ai/*` and S2's admin endpoints: asynchronous requests accepted at once and
//! answered by the queue, kept in their tenant (and to their submitter at level `my`), checked
//! field by field, refused for budget, cancelled; the jobs behind them for administrators.

use std::time::Duration;

use docwright_core::money::Money;
use docwright_llm::testing::FakeOpenAi;
use docwright_storage::Backend;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Auth, TestApp, assert_error};

both_databases!(
    spreadsheet_requests_are_answered_with_a_table_and_stay_in_their_tenant,
    malformed_requests_are_refused_naming_the_field,
);
both_databases!(config = no_workers; queued_requests_cancel_and_jobs_are_administered_per_tenant);

mod budget {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::a_request_without_money_fails_with_insufficient_balance(docwright_storage::Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::a_request_without_money_fails_with_insufficient_balance(docwright_storage::Backend::Postgres).await
    }
}

fn no_workers(c: &mut docwright_config::Config) {
    c.jobs.enabled = false;
}

/// The GigaOffice request of the seed facts.
fn sales_request() -> Value {
    json!({
        "query_text": "Проанализируй данные продаж и найди тренды",
        "input_range": "A1:D10",
        "category": "analysis",
        "input_data": [["Товар", "Январь", "Февраль", "Март"], ["Товар A", 100, 120, 110], ["Товар B", 80, 90, 95]]
    })
}

/// Polls a request's status until it is `want` (a hung queue fails after a minute, not a
/// timing assertion: a healthy run takes milliseconds).
async fn wait_for(app: &TestApp, auth: &Auth, id: &str, want: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, s) = app.get(&format!("/api/ai/status/{id}"), auth).await;
        assert_eq!(status, StatusCode::OK, "{s}");
        if s["status"] == want {
            return s;
        }
        assert!(std::time::Instant::now() < deadline, "request {id} never became {want}: {s}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn submit(app: &TestApp, auth: &Auth) -> String {
    let (status, a) = app.post("/api/ai/process", auth, json!({"query_text": "Summarise"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{a}");
    a["request_id"].as_str().unwrap().to_owned()
}

fn money(v: &Value) -> Money {
    Money::parse(v.as_str().unwrap_or_else(|| panic!("not a decimal: {v}"))).unwrap()
}

async fn spreadsheet_requests_are_answered_with_a_table_and_stay_in_their_tenant(app: TestApp) {
    let shop = app.create_tenant("Shop").await;
    let alice = app.user_in(&shop, "user").await;
    let (status, accepted) = app.post("/api/ai/process", &alice.auth, sales_request()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(accepted["status"], "queued");
    let id = accepted["request_id"].as_str().unwrap().to_owned();

    let done = wait_for(&app, &alice.auth, &id, "completed").await;
    assert_eq!(done["progress"], 100, "{done}");
    assert!(done["completed_at"].is_string() && done["started_at"].is_string(), "{done}");
    let (status, r) = app.get(&format!("/api/ai/result/{id}"), &alice.auth).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert!(r["text"].is_string(), "{r}");
    // The built-in dryrun answers the schema the request was given: a table of cells.
    let rows = r["result_data"].as_array().unwrap_or_else(|| panic!("no result_data: {r}"));
    assert!(!rows.is_empty() && rows.iter().all(Value::is_array), "{r}");
    assert!(r["model"].as_str().is_some_and(|m| m.starts_with("dryrun")), "{r}");
    assert_eq!(r["provider"], "dryrun");
    let usage = &r["usage"];
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["input_tokens"].as_u64().unwrap() + usage["output_tokens"].as_u64().unwrap()
    );
    assert!(usage["input_tokens"].as_u64().unwrap() > 0, "the table reached the model: {r}");

    // The call's stats carry the request id, and its price was charged once, to the request.
    app.state.engine.flush_stats().await;
    let tenant = docwright_core::id::TenantId::parse(&shop).unwrap();
    let stats = app.state.db.ai_stats(tenant).await.unwrap();
    let mine: Vec<_> = stats.iter().filter(|s| s.request_id.map(|r| r.to_string()) == Some(id.clone())).collect();
    assert_eq!(mine.len(), 1, "{stats:?}");
    let sys = app.sysadmin().await;
    let (_, rows) = app.get(&format!("/api/admin/billing/tenants/{shop}/transactions"), &sys.in_tenant(&shop)).await;
    let debits: Vec<&Value> = rows.as_array().unwrap().iter().filter(|t| t["kind"] == "debit").collect();
    let charged: i64 = debits.iter().map(|d| money(&d["amount"]).micros()).sum();
    assert_eq!(charged, -money(&r["price"]).micros(), "{rows}");
    let (_, v) = app.get("/api/admin/billing/verify", &sys).await;
    assert_eq!(v["ok"], true, "{v}");

    // Another tenant's request is not found, whatever the caller does with it; another user
    // of the tenant does not see it either (level `my`), its admins do.
    let other = app.create_tenant("Elsewhere").await;
    let mallory = app.user_in(&other, "admin").await;
    let bob = app.user_in(&shop, "user").await;
    for who in [&mallory.auth, &bob.auth] {
        for path in [format!("/api/ai/status/{id}"), format!("/api/ai/result/{id}")] {
            let (status, body) = app.get(&path, who).await;
            assert_error(status, &body, 404, "not_found");
        }
        let (status, body) = app.post(&format!("/api/ai/cancel/{id}"), who, json!({})).await;
        assert_error(status, &body, 404, "not_found");
    }
    let admin = app.user_in(&shop, "admin").await;
    assert_eq!(app.get(&format!("/api/ai/result/{id}"), &admin.auth).await.0, StatusCode::OK);
    // A viewer may not submit (no AI use), and an unknown id is simply not found.
    let viewer = app.user_in(&shop, "viewer").await;
    let (status, body) = app.post("/api/ai/process", &viewer.auth, sales_request()).await;
    assert_error(status, &body, 403, "forbidden");
    let (status, body) = app.get(&format!("/api/ai/status/{}", uuid::Uuid::now_v7()), &alice.auth).await;
    assert_error(status, &body, 404, "not_found");

    // A plain question (no table) is answered with text only.
    let (_, accepted) = app.post("/api/ai/process", &alice.auth, json!({"query_text": "Say hello"})).await;
    let id = accepted["request_id"].as_str().unwrap().to_owned();
    wait_for(&app, &alice.auth, &id, "completed").await;
    let (_, r) = app.get(&format!("/api/ai/result/{id}"), &alice.auth).await;
    assert!(r["text"].as_str().is_some_and(|t| !t.is_empty()) && r.get("result_data").is_none(), "{r}");
    // Cancelling a completed request changes nothing.
    let (status, s) = app.post(&format!("/api/ai/cancel/{id}"), &alice.auth, json!({})).await;
    assert_eq!((status, s["status"].as_str()), (StatusCode::OK, Some("completed")), "{s}");
}

async fn malformed_requests_are_refused_naming_the_field(app: TestApp) {
    let shop = app.create_tenant("Shop").await;
    let alice = app.user_in(&shop, "user").await;
    let with = |patch: Value| {
        let mut r = sales_request();
        for (k, v) in patch.as_object().unwrap() {
            r[k] = v.clone();
        }
        r
    };
    let cases = [
        (with(json!({"input_data": [["a"], ["b", ["nested"]]]})), "input_data[1][1]"),
        (with(json!({"input_data": [["a"], "b"]})), "input_data[1]"),
        (with(json!({"input_data": {"A1": 1}})), "input_data"),
        (with(json!({"input_data": []})), "input_data"),
        (with(json!({"input_data": [[{"v": 1}]]})), "input_data[0][0]"),
        (with(json!({"input_range": "A1:B2"})), "input_range"),
        (with(json!({"input_range": "1A:??"})), "input_range"),
        (with(json!({"query_text": "   "})), "query_text"),
        (with(json!({"category": "Analysis!"})), "category"),
        (with(json!({"model_profile": "fastest"})), "model_profile"),
        (with(json!({"allowed_providers": ["dryrun", "nowhere"]})), "allowed_providers[1]"),
        (json!({"category": "analysis"}), "query_text"),
    ];
    for (body, field) in cases {
        let (status, e) = app.post("/api/ai/process", &alice.auth, body.clone()).await;
        assert_error(status, &e, 400, "validation_failed");
        assert_eq!(e["error"]["field"], field, "{body} → {e}");
    }
    // Nothing refused was stored or queued.
    let admin = app.user_in(&shop, "admin").await;
    let (status, jobs) = app.get("/api/admin/jobs", &admin.auth).await;
    assert_eq!(status, StatusCode::OK, "{jobs}");
    assert_eq!(jobs["items"], json!([]), "{jobs}");
}

async fn queued_requests_cancel_and_jobs_are_administered_per_tenant(app: TestApp) {
    // No workers in this server: requests wait, as on a server whose workers are busy.
    let shop = app.create_tenant("Shop").await;
    let other = app.create_tenant("Elsewhere").await;
    let alice = app.user_in(&shop, "user").await;
    let shop_admin = app.user_in(&shop, "admin").await;
    let other_admin = app.user_in(&other, "admin").await;
    let outsider = app.user_in(&other, "user").await;
    let first = submit(&app, &alice.auth).await;
    let second = submit(&app, &alice.auth).await;
    submit(&app, &outsider.auth).await;
    let (_, s) = app.get(&format!("/api/ai/status/{first}"), &alice.auth).await;
    assert_eq!((s["status"].as_str(), s["progress"].as_u64()), (Some("queued"), Some(0)), "{s}");
    let (status, e) = app.get(&format!("/api/ai/result/{first}"), &alice.auth).await;
    assert_error(status, &e, 409, "not_ready");
    assert_eq!(e["error"]["details"]["status"], "queued");

    // A queued request is cancelled at once.
    let (status, s) = app.post(&format!("/api/ai/cancel/{first}"), &alice.auth, json!({})).await;
    assert_eq!((status, s["status"].as_str()), (StatusCode::OK, Some("cancelled")), "{s}");
    assert_eq!(s["error"]["code"], "cancelled");
    let (status, e) = app.get(&format!("/api/ai/result/{first}"), &alice.auth).await;
    assert_error(status, &e, 409, "request_cancelled");

    // Administrators see their tenant's jobs only; users none.
    let (status, page) = app.get("/api/admin/jobs?kind=ai.request", &shop_admin.auth).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{page}");
    assert!(items.iter().all(|j| j["tenant_id"] == json!(shop)), "{page}");
    let (_, page) = app.get("/api/admin/jobs?state=cancelled", &shop_admin.auth).await;
    let cancelled = page["items"].as_array().unwrap();
    assert_eq!(cancelled.len(), 1, "{page}");
    let cancelled_job = cancelled[0]["id"].as_str().unwrap().to_owned();
    let (_, page) = app.get("/api/admin/jobs?state=available", &other_admin.auth).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    let their_job = page["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, e) = app.get("/api/admin/jobs", &alice.auth).await;
    assert_error(status, &e, 403, "forbidden");
    let (status, e) = app.get("/api/admin/jobs?state=stuck", &shop_admin.auth).await;
    assert_error(status, &e, 400, "validation_failed");
    assert_eq!(e["error"]["field"], "state");
    let sys = app.sysadmin().await;
    let (_, page) = app.get("/api/admin/jobs?kind=ai.request", &sys).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 3, "sysadmins see every tenant's: {page}");

    // Another tenant's job cannot be retried or cancelled from here.
    for action in ["retry", "cancel"] {
        let (status, e) = app.post(&format!("/api/admin/jobs/{their_job}/{action}"), &shop_admin.auth, json!({})).await;
        assert_error(status, &e, 404, "not_found");
    }
    // Retrying the cancelled request's job queues it again; cancelling a waiting one ends it.
    let (status, j) = app.post(&format!("/api/admin/jobs/{cancelled_job}/retry"), &shop_admin.auth, json!({})).await;
    assert_eq!((status, j["state"].as_str()), (StatusCode::OK, Some("available")), "{j}");
    let (_, s) = app.get(&format!("/api/ai/status/{first}"), &alice.auth).await;
    assert_eq!(s["status"], "queued", "{s}");
    let (status, j) = app.post(&format!("/api/admin/jobs/{cancelled_job}/cancel"), &shop_admin.auth, json!({})).await;
    assert_eq!((status, j["state"].as_str()), (StatusCode::OK, Some("cancelled")), "{j}");
    let (status, e) = app.post(&format!("/api/admin/jobs/{cancelled_job}/cancel"), &shop_admin.auth, json!({})).await;
    assert_error(status, &e, 409, "conflict");
    let (_, s) = app.get(&format!("/api/ai/status/{second}"), &alice.auth).await;
    assert_eq!(s["status"], "queued", "the other request is untouched: {s}");

    // Health and metrics show what waits.
    let (_, h) = app.get("/api/health", &Auth::none()).await;
    let q = &h["checks"]["queue"];
    assert_eq!(q["status"], "ok", "{h}");
    let waiting: i64 = q["depth"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "ai.request" && d["state"] == "available")
        .map(|d| d["count"].as_i64().unwrap())
        .sum();
    assert_eq!(waiting, 2, "{q}");
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains(r#"docwright_jobs{kind="ai.request",state="available"} 2"#), "{text}");
    assert!(text.contains(r#"docwright_job_oldest_wait_seconds{kind="ai.request"}"#), "{text}");
}

async fn a_request_without_money_fails_with_insufficient_balance(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let base = fake.base_url.clone();
    // A call reserves up to 10 output tokens at 0.20: 2.00.
    let Some(app) = TestApp::spawn(backend, move |c| crate::helpers::metered_upstream(c, base, 10)).await else {
        return;
    };
    let sys = app.sysadmin().await;
    let shop = app.prepaid_tenant("Shop").await;
    let alice = app.user_in(&shop, "user").await;

    let (status, accepted) = app.post("/api/ai/process", &alice.auth, json!({"query_text": "Summarise"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let id = accepted["request_id"].as_str().unwrap().to_owned();
    let failed = wait_for(&app, &alice.auth, &id, "failed").await;
    assert_eq!(failed["error"]["code"], "insufficient_balance", "{failed}");
    assert_eq!(failed["attempts"], 1, "a refusal for budget is not retried: {failed}");
    let (status, e) = app.get(&format!("/api/ai/result/{id}"), &alice.auth).await;
    assert_error(status, &e, 409, "request_failed");
    assert_eq!(e["error"]["details"]["error"]["code"], "insufficient_balance");
    assert!(fake.received().is_empty(), "a refused call never reaches the provider");
    let (_, v) = app.get("/api/admin/billing/verify", &sys).await;
    assert_eq!(v["ok"], true, "{v}");
    let (_, accounts) = app.get(&format!("/api/admin/billing/tenants/{shop}/accounts"), &sys.in_tenant(&shop)).await;
    for a in accounts.as_array().unwrap() {
        assert_eq!(money(&a["reserved"]), Money::ZERO, "nothing stays reserved: {a}");
    }

    // With the money, the same request is answered and charged its price once.
    let (status, body) =
        app.post(&format!("/api/admin/billing/tenants/{shop}/credit"), &sys, json!({"amount": "10.00"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, accepted) = app.post("/api/ai/process", &alice.auth, json!({"query_text": "Summarise"})).await;
    let id = accepted["request_id"].as_str().unwrap().to_owned();
    wait_for(&app, &alice.auth, &id, "completed").await;
    let (_, r) = app.get(&format!("/api/ai/result/{id}"), &alice.auth).await;
    assert_eq!((r["model"].as_str(), r["currency"].as_str()), (Some("metered"), Some("CHF")), "{r}");
    let (_, b) = app.get("/api/billing/balance", &alice.auth).await;
    assert_eq!(money(&b["balance"]), Money::from_micros(10_000_000 - money(&r["price"]).micros()), "{b}");
    assert!(money(&r["price"]) > Money::ZERO, "{r}");
}
