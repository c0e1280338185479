//! Operations endpoints (SPEC P7): liveness with component status, readiness, metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Status of one component.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ComponentStatus {
    /// `ok`, `error`, `unavailable` (optional component missing; the server runs on) or `not_configured`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
}

impl ComponentStatus {
    fn ok(latency_ms: Option<f64>, detail: Option<String>) -> Self {
        Self { status: "ok", detail, latency_ms }
    }
    fn error(detail: String) -> Self {
        Self { status: "error", detail: Some(detail), latency_ms: None }
    }
    fn not_configured(detail: &str) -> Self {
        Self { status: "not_configured", detail: Some(detail.to_owned()), latency_ms: None }
    }
}

/// An AI provider's state from this server's circuit breakers.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ProviderStatus {
    pub name: String,
    /// The protocol: `openai_compatible`, `anthropic`, `gemini`, `gigachat`, `dryrun`.
    pub kind: &'static str,
    /// `ok`; `degraded` while some of its models rest after failures; `resting` while all do.
    pub status: &'static str,
    /// Its models that rest now.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resting_models: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct HealthChecks {
    pub database: ComponentStatus,
    pub blob_store: ComponentStatus,
    /// The job queue: `ok` (detail: whether this server runs workers) or `error` (its table
    /// cannot be read).
    pub queue: QueueStatus,
    /// Each AI provider of the registry (the built-in dryrun one without configuration).
    pub providers: Vec<ProviderStatus>,
    /// Tesseract for images and scanned pages: `ok` (detail: version, missing languages),
    /// `unavailable` (the server runs; files get no OCR text) or `not_configured` (OCR off).
    pub ocr: ComponentStatus,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Health {
    /// `ok` when every configured component works, else `degraded`.
    pub status: &'static str,
    pub version: &'static str,
    pub uptime_secs: u64,
    pub checks: HealthChecks,
}

/// The job queue as `/api/health` shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct QueueStatus {
    #[serde(flatten)]
    pub component: ComponentStatus,
    /// Jobs waiting or running, by kind and state (`available`, `running`, `retryable`,
    /// `discarded`); completed and cancelled jobs are history and not counted.
    pub depth: Vec<QueueDepth>,
    /// This server's recent attempts (the last 1,024): due → started and started → ended, in
    /// milliseconds. Absent when this server has run none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<QueueLatency>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct QueueDepth {
    pub kind: String,
    pub state: &'static str,
    pub count: i64,
    /// Of due jobs waiting for a worker: how long the oldest has waited, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_wait_secs: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct QueueLatency {
    pub samples: usize,
    pub wait_p50_ms: Option<f64>,
    pub wait_p99_ms: Option<f64>,
    pub run_p50_ms: Option<f64>,
    pub run_p99_ms: Option<f64>,
}

fn ms(d: Option<std::time::Duration>) -> Option<f64> {
    d.map(|d| d.as_secs_f64() * 1000.0)
}

async fn check_queue(state: &AppState) -> QueueStatus {
    let now = docwright_core::time::Timestamp::now();
    let started = std::time::Instant::now();
    let depth = match state.engine.job_depth().await {
        Ok(d) => d,
        Err(e) => {
            return QueueStatus { component: ComponentStatus::error(e.to_string()), depth: Vec::new(), latency: None };
        }
    };
    state.metrics.set_job_depth(&depth, now);
    let detail = match &state.jobs {
        Some(rt) => format!("{} workers here ({} running)", rt.settings().workers, rt.running()),
        None => "no workers in this server (jobs.enabled = false)".to_owned(),
    };
    let latency = state.jobs.as_ref().map(|rt| rt.latency()).filter(|l| l.samples > 0).map(|l| QueueLatency {
        samples: l.samples,
        wait_p50_ms: ms(l.wait_p50),
        wait_p99_ms: ms(l.wait_p99),
        run_p50_ms: ms(l.run_p50),
        run_p99_ms: ms(l.run_p99),
    });
    QueueStatus {
        component: ComponentStatus::ok(Some(started.elapsed().as_secs_f64() * 1000.0), Some(detail)),
        depth: depth
            .into_iter()
            .map(|d| QueueDepth {
                kind: d.kind,
                state: d.state.as_str(),
                count: d.count,
                oldest_wait_secs: d.oldest_due.map(|t| (now.millis() - t.millis()).max(0) as f64 / 1000.0),
            })
            .collect(),
        latency,
    }
}

async fn check_database(state: &AppState) -> ComponentStatus {
    let started = std::time::Instant::now();
    match state.db.ping().await {
        Ok(()) => ComponentStatus::ok(
            Some(started.elapsed().as_secs_f64() * 1000.0),
            Some(state.db.backend().as_str().to_owned()),
        ),
        Err(e) => ComponentStatus::error(e.to_string()),
    }
}

/// The blob directory must exist and take writes.
async fn check_blob_store(state: &AppState) -> ComponentStatus {
    let probe = state.blob_dir().join(format!(".probe-{}", uuid::Uuid::now_v7()));
    let result = async {
        tokio::fs::write(&probe, b"ok").await?;
        tokio::fs::remove_file(&probe).await
    }
    .await;
    match result {
        Ok(()) => ComponentStatus::ok(None, Some("local".to_owned())),
        Err(e) => ComponentStatus::error(format!("blob directory is not writable: {e}")),
    }
}

/// Liveness and the status of each component.
#[utoipa::path(get, path = "/api/health", tag = "operations",
    responses((status = 200, description = "The process is alive; `status` tells whether every component works", body = Health)))]
pub(crate) async fn health(State(state): State<AppState>) -> Json<Health> {
    let database = check_database(&state).await;
    let blob_store = check_blob_store(&state).await;
    let queue = check_queue(&state).await;
    let degraded = database.status == "error" || blob_store.status == "error" || queue.component.status == "error";
    Json(Health {
        status: if degraded { "degraded" } else { "ok" },
        version: env!("CARGO_PKG_VERSION"),
        uptime_secs: state.uptime_secs(),
        checks: HealthChecks { database, blob_store, queue, providers: providers(&state), ocr: ocr_status(&state) },
    })
}

fn providers(state: &AppState) -> Vec<ProviderStatus> {
    state
        .engine
        .provider_health()
        .into_iter()
        .map(|p| {
            let resting: Vec<String> =
                p.models.iter().filter(|m| m.resting_secs.is_some()).map(|m| m.model.clone()).collect();
            let status = match resting.len() {
                0 => "ok",
                n if n == p.models.len() => "resting",
                _ => "degraded",
            };
            ProviderStatus { name: p.name, kind: p.kind, status, resting_models: resting }
        })
        .collect()
}

fn ocr_status(state: &AppState) -> ComponentStatus {
    use docwright_engine::extraction::OcrStatus;
    match state.engine.ocr_status() {
        OcrStatus::Disabled => ComponentStatus::not_configured("OCR is off (extraction.ocr)"),
        OcrStatus::Available { version, missing } if missing.is_empty() => ComponentStatus::ok(None, Some(version)),
        OcrStatus::Available { version, missing } => {
            ComponentStatus::ok(None, Some(format!("{version}; missing languages: {}", missing.join(", "))))
        }
        OcrStatus::Unavailable { reason } => {
            ComponentStatus { status: "unavailable", detail: Some(reason), latency_ms: None }
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Ready {
    pub status: &'static str,
}

/// Readiness: 200 when this replica can serve (database and blob store reachable, not
/// shutting down), else 503 so a load balancer sends traffic elsewhere.
#[utoipa::path(get, path = "/api/ready", tag = "operations", responses(
    (status = 200, description = "Ready", body = Ready),
    (status = 503, description = "Not ready; the message says why", body = ErrorBody)))]
pub(crate) async fn ready(State(state): State<AppState>) -> Result<Json<Ready>, ApiError> {
    let unavailable = |why: String| ApiError {
        retry_after: Some(5),
        ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", why)
    };
    if state.is_shutting_down() {
        return Err(unavailable("shutting down".to_owned()));
    }
    let db = check_database(&state).await;
    if let Some(d) = db.detail.filter(|_| db.status != "ok") {
        return Err(unavailable(format!("database: {d}")));
    }
    let blobs = check_blob_store(&state).await;
    if let Some(d) = blobs.detail.filter(|_| blobs.status != "ok") {
        return Err(unavailable(format!("blob store: {d}")));
    }
    Ok(Json(Ready { status: "ready" }))
}

/// Prometheus metrics (OpenMetrics text). When `observability.metrics_token` is set, it must
/// be sent as `Authorization: Bearer <token>`.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses(
    (status = 200, description = "Metrics: OpenMetrics text when `Accept` asks for application/openmetrics-text, else the Prometheus text format 0.0.4", content_type = "text/plain", body = String),
    (status = 401, description = "A metrics token is configured and was not sent", body = ErrorBody)))]
pub(crate) async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(expected) = state.metrics_token() {
        let sent = crate::guard::bearer(&headers)?;
        if !sent.is_some_and(|s| constant_time_eq(s.as_bytes(), expected.as_bytes())) {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "send the metrics token as a bearer token",
            ));
        }
    }
    // The queue's depth is read now: it is the database's, the same on every server.
    match state.engine.job_depth().await {
        Ok(depth) => state.metrics.set_job_depth(&depth, docwright_core::time::Timestamp::now()),
        Err(e) => tracing::warn!(error = %e, "reading the job queue's depth for /metrics failed"),
    }
    state.metrics.set_breakers(&state.engine.provider_health());
    // OpenMetrics when the scraper asks for it (Prometheus does), else the classic text format.
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    if openmetrics {
        let text = state.metrics.render().map_err(ApiError::internal)?;
        Ok(([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
            .into_response())
    } else {
        let text = state.metrics.render_classic().map_err(ApiError::internal)?;
        Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The period and tenant of `GET /api/metrics`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct MetricsQuery {
    /// Another tenant (sysadmins only); the tenant the request acts in by default.
    tenant_id: Option<uuid::Uuid>,
    /// RFC 3339; 30 days before `to` by default.
    #[param(value_type = Option<crate::schemas::DateTime>, inline)]
    from: Option<String>,
    /// RFC 3339, exclusive; now by default.
    #[param(value_type = Option<crate::schemas::DateTime>, inline)]
    to: Option<String>,
}

/// One model's share of [`TenantMetricsOut`].
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ModelMetricsOut {
    provider: String,
    model: String,
    requests: i64,
    errors: i64,
    processing_time_ms: i64,
    input_tokens: i64,
    output_tokens: i64,
    /// Exact, in the billing currency.
    cost: String,
}

/// A tenant's AI usage over a period: every attempt is a request; failed ones are also errors,
/// counted by type.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TenantMetricsOut {
    tenant_id: String,
    from: String,
    to: String,
    requests: i64,
    errors: i64,
    processing_time_ms: i64,
    /// Per request; 0 without requests.
    avg_processing_time_ms: i64,
    input_tokens: i64,
    output_tokens: i64,
    cost: String,
    /// `timeout`, `rate_limited`, `upstream_5xx`, `upstream_4xx`, `malformed`, `invalid_output`,
    /// `transport`, `truncated`, `no_key`, `stream_failed`, ... → count.
    #[schema(value_type = Object)]
    errors_by_type: serde_json::Map<String, serde_json::Value>,
    models: Vec<ModelMetricsOut>,
}

/// A tenant's AI usage metrics (SPEC P7): requests, processing time, tokens, cost and errors by
/// type over a period, in all and per model.
#[utoipa::path(get, path = "/api/metrics", tag = "operations", params(MetricsQuery), responses(
    (status = 200, body = TenantMetricsOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 404, description = "Another tenant, asked for by someone other than a sysadmin", body = ErrorBody)))]
pub(crate) async fn tenant_metrics(
    State(state): State<AppState>,
    crate::guard::Authorized(grant): crate::guard::Authorized,
    crate::error::ApiQuery(q): crate::error::ApiQuery<MetricsQuery>,
) -> Result<Json<TenantMetricsOut>, ApiError> {
    use docwright_core::time::Timestamp;
    let parse = |field: &'static str, v: &Option<String>| {
        v.as_deref()
            .map(|s| Timestamp::parse_rfc3339(s).map_err(|e| ApiError::validation(field, format!("{field}: {e}"))))
            .transpose()
    };
    let to = parse("to", &q.to)?.unwrap_or_else(Timestamp::now);
    let from = parse("from", &q.from)?.unwrap_or_else(|| to.plus_secs(-30 * 86_400));
    let tenant = q.tenant_id.map(docwright_core::id::TenantId::from);
    let (tenant, m) = state.engine.tenant_metrics(&grant, tenant, from, to).await?;
    let errors_by_type = m.errors_by_kind.into_iter().map(|(k, n)| (k, serde_json::json!(n))).collect();
    Ok(Json(TenantMetricsOut {
        tenant_id: tenant.to_string(),
        from: from.to_rfc3339(),
        to: to.to_rfc3339(),
        requests: m.requests,
        errors: m.errors,
        processing_time_ms: m.processing_time_ms,
        avg_processing_time_ms: if m.requests > 0 { m.processing_time_ms / m.requests } else { 0 },
        input_tokens: m.input_tokens,
        output_tokens: m.output_tokens,
        cost: m.cost.to_string(),
        errors_by_type,
        models: m
            .models
            .into_iter()
            .map(|x| ModelMetricsOut {
                provider: x.provider,
                model: x.model,
                requests: x.requests,
                errors: x.errors,
                processing_time_ms: x.processing_time_ms,
                input_tokens: x.input_tokens,
                output_tokens: x.output_tokens,
                cost: x.cost.to_string(),
            })
            .collect(),
    }))
}
