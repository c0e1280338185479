//! The outermost middleware: request id, span, metrics, error envelope, request log.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument as _;

use crate::error::ApiError;
use crate::metrics::{ErrorLabels, RequestLabels, RouteLabels};
use crate::state::AppState;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Routes polled by machines; their successful calls are logged at debug level.
const PROBE_ROUTES: &[&str] = &["/api/health", "/api/ready", "/metrics"];

/// The id of the request being served, in its extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

pub(crate) async fn edge(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let request_id = incoming_request_id(&req).unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let method = req.method().as_str().to_owned();
    // The route template, not the path: ids in paths must not explode metric cardinality,
    // and query strings (which may carry tokens) are never logged.
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let span = tracing::info_span!("request", request_id = %request_id, method = %method, route = %route,
        tenant = tracing::field::Empty, user = tracing::field::Empty);
    let started = Instant::now();
    state.metrics.in_flight.inc();
    let response = next.run(req).instrument(span.clone()).await;
    state.metrics.in_flight.dec();
    let elapsed = started.elapsed();

    let mut response = envelope(response, &request_id);
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    security_headers(response.headers_mut());
    let status = response.status();
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels { method: method.clone(), route: route.clone(), status: status.as_u16() })
        .inc();
    let route_label = route.clone();
    state.metrics.latency.get_or_create(&RouteLabels { method, route }).observe(elapsed.as_secs_f64());
    if let Some(code) = response.extensions().get::<ErrorCode>() {
        state.metrics.errors.get_or_create(&ErrorLabels { code: code.0.to_owned() }).inc();
    }
    span.in_scope(|| {
        let ms = elapsed.as_secs_f64() * 1000.0;
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), latency_ms = ms, "request failed");
        } else if status.is_success() && PROBE_ROUTES.contains(&route_label.as_str()) {
            // Load balancers and Prometheus call these every few seconds.
            tracing::debug!(status = status.as_u16(), latency_ms = ms, "request finished");
        } else {
            tracing::info!(status = status.as_u16(), latency_ms = ms, "request finished");
        }
    });
    response
}

/// The policy of docwright's own HTML pages (the API docs): their scripts, styles and images
/// come from docwright itself, and no other site may frame them.
const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";
/// The policy of everything else (JSON, files, images): nothing in it may run or load.
pub(crate) const DATA_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; sandbox";

/// Headers every response carries: no type sniffing, no framing, and a content security
/// policy (a route that serves stored content sets the strict one itself).
fn security_headers(h: &mut axum::http::HeaderMap) {
    use axum::http::header;
    let html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/html"));
    h.entry(header::X_CONTENT_TYPE_OPTIONS).or_insert(HeaderValue::from_static("nosniff"));
    h.entry(header::X_FRAME_OPTIONS).or_insert(HeaderValue::from_static("DENY"));
    h.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(if html {
        PAGE_POLICY
    } else {
        DATA_POLICY
    }));
    h.entry(header::REFERRER_POLICY).or_insert(HeaderValue::from_static("no-referrer"));
}

/// Cross-origin access for the configured browser origins (checked by the configuration),
/// `None` when there are none.
pub(crate) fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{Method, header};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let allowed: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    if allowed.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(allowed))
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                header::RANGE,
                axum::http::HeaderName::from_static("x-tenant-id"),
                axum::http::HeaderName::from_static("x-request-id"),
                axum::http::HeaderName::from_static("last-event-id"),
            ])
            .expose_headers([
                axum::http::HeaderName::from_static("x-request-id"),
                header::CONTENT_DISPOSITION,
                header::RETRY_AFTER,
            ])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// The error code of a rendered error response (for metrics).
#[derive(Debug, Clone, Copy)]
struct ErrorCode(&'static str);

/// Gives every error response the JSON error body, whoever produced it.
fn envelope(response: Response, request_id: &str) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let err = match parts.extensions.remove::<ApiError>() {
        Some(e) => e,
        None => {
            let is_json =
                parts.headers.get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
            if is_json && status != StatusCode::INTERNAL_SERVER_ERROR {
                // Already in some JSON shape of ours (e.g. a handler's own body): leave it.
                return Response::from_parts(parts, body);
            }
            ApiError::from_status(status)
        }
    };
    let code = err.code;
    let mut resp = err.render(request_id, parts);
    resp.extensions_mut().insert(ErrorCode(code));
    resp
}

/// A client-supplied `X-Request-Id` is kept when it is short and plain; otherwise we make one.
fn incoming_request_id(req: &Request) -> Option<String> {
    let v = req.headers().get(REQUEST_ID_HEADER)?.to_str().ok()?;
    let ok =
        !v.is_empty() && v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    ok.then(|| v.to_owned())
}

/// Fallback for unknown routes.
pub(crate) async fn not_found() -> Response {
    ApiError::from_status(StatusCode::NOT_FOUND).into_response()
}
