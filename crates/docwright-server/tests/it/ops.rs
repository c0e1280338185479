//! SPEC P7: health, readiness, metrics.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Auth, TestApp, assert_error};

both_databases!(
    health_reports_components,
    ready_turns_503_when_draining,
    metrics_count_requests_by_route,
    stop_closes_the_listener_and_the_pool,
);

each_backend!(ai_calls_are_counted_in_metrics_and_per_tenant);

async fn health_reports_components(app: TestApp) {
    let (status, h) = app.get("/api/health", &Auth::none()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h["status"], "ok", "{h}");
    assert_eq!(h["checks"]["database"]["status"], "ok");
    assert_eq!(h["checks"]["blob_store"]["status"], "ok");
    assert_eq!(h["checks"]["queue"]["status"], "ok", "{h}");
    assert!(h["checks"]["queue"]["depth"].is_array(), "{h}");
    assert!(h["checks"]["providers"].is_array());

    // A blob store that stopped taking writes shows up as degraded, and not ready.
    let blobs = app.config.storage.data_dir.join("blobs");
    std::fs::remove_dir_all(&blobs).unwrap();
    let (_, h) = app.get("/api/health", &Auth::none()).await;
    assert_eq!(h["status"], "degraded", "{h}");
    assert_eq!(h["checks"]["blob_store"]["status"], "error");
    let (status, body) = app.get("/api/ready", &Auth::none()).await;
    assert_error(status, &body, 503, "not_ready");
    std::fs::create_dir_all(&blobs).unwrap();
    assert_eq!(app.get("/api/ready", &Auth::none()).await.0, StatusCode::OK);
}

async fn ready_turns_503_when_draining(app: TestApp) {
    let (status, r) = app.get("/api/ready", &Auth::none()).await;
    assert_eq!((status, r["status"].as_str()), (StatusCode::OK, Some("ready")));
    app.state.begin_shutdown();
    let resp = app.client.get(app.url("/api/ready")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().contains_key("retry-after"));
    let body: Value = resp.json().await.unwrap();
    assert_error(StatusCode::SERVICE_UNAVAILABLE, &body, 503, "not_ready");
}

async fn metrics_count_requests_by_route(app: TestApp) {
    let sys = app.sysadmin().await;
    app.get("/me", &sys).await;
    app.get("/api/admin/users/01a1ffc4-0000-7000-8000-000000000000", &sys).await;
    app.get("/nowhere", &Auth::none()).await;
    // Prometheus asks for OpenMetrics; a scraper that does not gets the classic text format,
    // whose counter families are named like their samples.
    let classic = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(classic.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    let classic = classic.text().await.unwrap();
    assert!(classic.contains("# TYPE docwright_http_requests_total counter"), "{classic}");
    assert!(!classic.contains("# EOF"));
    let resp = app
        .client
        .get(app.url("/metrics"))
        .header("accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"].to_str().unwrap().contains("openmetrics"));
    let text = resp.text().await.unwrap();
    assert!(text.contains("# TYPE docwright_http_requests counter") && text.ends_with("# EOF\n"), "{text}");
    assert!(text.contains(r#"docwright_http_requests_total{method="GET",route="/me",status="200"} 1"#), "{text}");
    // Route templates, not concrete ids, label the series.
    assert!(text.contains(r#"route="/api/admin/users/{id}",status="404""#), "{text}");
    assert!(!text.contains("01a1ffc4-0000"), "{text}");
    assert!(text.contains("docwright_http_request_duration_seconds_bucket"));
    assert!(text.contains(r#"docwright_http_errors_total{code="not_found"}"#));
    assert!(text.contains("docwright_build_info"));
}

#[tokio::test]
async fn metrics_token_is_enforced_when_configured() {
    let Some(app) = TestApp::spawn(docwright_storage::Backend::Sqlite, |c| {
        c.observability.metrics_token = Some(docwright_config::Secret::new("scrape-me-please".to_owned()));
    })
    .await
    else {
        return;
    };
    let (status, body) = app.get("/metrics", &Auth::none()).await;
    assert_error(status, &body, 401, "invalid_token");
    let (status, _) = app.get("/metrics", &Auth::bearer("wrong")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.get("/metrics", &Auth::bearer("scrape-me-please")).await;
    assert_eq!(status, StatusCode::OK);
}

async fn stop_closes_the_listener_and_the_pool(mut app: TestApp) {
    assert_eq!(app.get("/api/health", &Auth::none()).await.0, StatusCode::OK);
    app.stop().await;
    assert!(app.client.get(app.url("/api/health")).send().await.is_err(), "nothing listens after stop");
    assert!(app.state.db.ping().await.is_err(), "the database pool is closed");
}

/// AI attempts in `/metrics` (by provider, model and outcome; tokens, cost, latency, time to
/// first token) and in `GET /api/metrics` per tenant (errors by type), and each provider in
/// `/api/health`.
async fn ai_calls_are_counted_in_metrics_and_per_tenant(backend: docwright_storage::Backend) {
    use docwright_llm::testing::{FakeOpenAi, Reply};
    use serde_json::json;
    let fake = FakeOpenAi::start().await;
    let base = fake.base_url.clone();
    let Some(app) = TestApp::spawn(backend, move |c| {
        crate::helpers::one_model_upstream(c, base, "m", 8000, 100, ("1000000", "2000000"));
        c.gateway.backoff_base_ms = 10;
        c.gateway.retries_per_model = 1;
    })
    .await
    else {
        return;
    };
    let sys = app.sysadmin().await;
    let tenant = app.create_tenant("Metered").await;
    let admin = app.user_in(&tenant, "admin").await.auth;
    let chat = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    fake.reply(Reply::Status { status: 502, retry_after: None });
    fake.reply(Reply::Ok { content: "hello".into(), usage: Some((3, 2)) });
    let (status, r) = app.post("/v1/chat/completions", &admin, chat.clone()).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    fake.reply(Reply::Stream { deltas: vec!["a".into(), "b".into()], usage: Some((1, 1)), done: true });
    let mut streamed = chat.clone();
    streamed["stream"] = json!(true);
    let resp = app.request(reqwest::Method::POST, "/v1/chat/completions", &admin).json(&streamed).send().await.unwrap();
    assert!(resp.text().await.unwrap().contains("[DONE]"));

    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for line in [
        r#"docwright_ai_calls_total{provider="upstream",model="m",outcome="upstream_5xx"} 1"#,
        r#"docwright_ai_calls_total{provider="upstream",model="m",outcome="ok"} 2"#,
        r#"docwright_ai_tokens_total{provider="upstream",model="m",direction="input"} 4"#,
        r#"docwright_ai_tokens_total{provider="upstream",model="m",direction="output"} 3"#,
        // 3 × 1.00 + 2 × 2.00, then 1 × 1.00 + 1 × 2.00: 10.00 in micro-units.
        r#"docwright_ai_cost_micros_total{provider="upstream",model="m"} 10000000"#,
        r#"docwright_ai_call_duration_seconds_count{provider="upstream"} 3"#,
        r#"docwright_ai_time_to_first_token_seconds_count{provider="upstream"} 1"#,
        r#"docwright_ai_model_consecutive_failures{provider="upstream",model="m"} 0"#,
        r#"docwright_ai_model_resting{provider="upstream",model="m"} 0"#,
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }

    let (status, m) = app.get("/api/metrics", &admin).await;
    assert_eq!(status, StatusCode::OK, "{m}");
    assert_eq!(m["tenant_id"], tenant.as_str());
    assert_eq!((m["requests"].as_i64(), m["errors"].as_i64()), (Some(3), Some(1)), "{m}");
    assert_eq!(
        (m["input_tokens"].as_i64(), m["output_tokens"].as_i64(), m["cost"].as_str()),
        (Some(4), Some(3), Some("10.00"))
    );
    assert_eq!(m["errors_by_type"], json!({"upstream_5xx": 1}));
    assert_eq!(m["models"][0]["model"], "m");
    // A period before the calls has none; a reversed one is refused.
    let (_, none) = app.get("/api/metrics?from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z", &admin).await;
    assert_eq!(none["requests"], 0, "{none}");
    let (status, body) = app.get("/api/metrics?from=2020-02-01T00:00:00Z&to=2020-01-01T00:00:00Z", &admin).await;
    assert_error(status, &body, 400, "validation_failed");
    // Another tenant: a sysadmin may ask, others get 404.
    let (status, theirs) = app.get(&format!("/api/metrics?tenant_id={tenant}"), &sys).await;
    assert_eq!((status, theirs["requests"].as_i64()), (StatusCode::OK, Some(3)));
    let other = app.create_tenant("Other").await;
    let stranger = app.user_in(&other, "admin").await.auth;
    let (status, body) = app.get(&format!("/api/metrics?tenant_id={tenant}"), &stranger).await;
    assert_error(status, &body, 404, "not_found");
    let user = app.user_in(&tenant, "user").await.auth;
    assert_eq!(app.get("/api/metrics", &user).await.0, StatusCode::FORBIDDEN);

    let (_, h) = app.get("/api/health", &Auth::none()).await;
    assert_eq!(
        h["checks"]["providers"],
        json!([{"name": "upstream", "kind": "openai_compatible", "status": "ok"}]),
        "{h}"
    );
}
