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
    let resp = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"].to_str().unwrap().contains("openmetrics"));
    let text = resp.text().await.unwrap();
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
