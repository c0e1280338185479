//! The one error type at the edge (SPEC P6).
//!
//! Every error response has the body `{"error": {"code", "message", "type", "param",
//! "request_id", "field"?}}` with a stable snake_case `code`; `type` and `param` are OpenAI's
//! names (the error class by status, and the field at fault or null), so OpenAI SDKs read
//! `e.type` and `e.param` on the front door as on every other route. Handlers return [`ApiError`]; errors produced outside
//! handlers (unknown route, wrong method, oversized body, timeout, panic) are rewritten into
//! the same shape by the edge middleware (`crate::edge`), which also fills in `request_id` and
//! logs every 5xx once. A 5xx never shows internals to the client.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

/// An error on its way to the client.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Seconds, for 429 and 503.
    pub retry_after: Option<u64>,
    /// Facts of the error a client acts on, e.g. balance and required amount for 402. Boxed:
    /// rare, and an order-preserving JSON value would make every `Result<_, ApiError>` large.
    pub details: Option<Box<serde_json::Value>>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), field: None, retry_after: None, details: None }
    }

    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        Self { field: Some(field), ..Self::new(StatusCode::BAD_REQUEST, "validation_failed", message) }
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    /// A 500 whose detail goes to the log only.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the request id identifies it in the server log",
        )
    }

    /// The error for a status produced outside a handler, by status alone.
    pub fn from_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => ("not_found", "no such route"),
            StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "this route does not accept this method"),
            StatusCode::PAYLOAD_TOO_LARGE => {
                ("payload_too_large", "the request body is larger than the configured limit")
            }
            StatusCode::REQUEST_TIMEOUT => ("request_timeout", "the request took longer than the configured timeout"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "send the body as application/json"),
            StatusCode::UNAUTHORIZED => ("unauthenticated", "authentication required"),
            StatusCode::FORBIDDEN => ("forbidden", "not allowed"),
            StatusCode::TOO_MANY_REQUESTS => ("rate_limited", "too many requests"),
            StatusCode::SERVICE_UNAVAILABLE => ("unavailable", "the service is unavailable"),
            s if s.is_server_error() => ("internal", "internal error; the request id identifies it in the server log"),
            _ => ("bad_request", "the request is not valid"),
        };
        Self::new(status, code, message)
    }
}

pub use docwright_api::{ErrorBody, ErrorDetail};

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The body is written by the edge middleware, which knows the request id.
        let mut resp = self.status.into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp.extensions_mut().insert(self);
        resp
    }
}

impl ApiError {
    /// The final response for this error and request id.
    pub(crate) fn render(self, request_id: &str, mut parts: axum::http::response::Parts) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                kind: error_type(parts.status).to_owned(),
                param: self.field.clone(),
                request_id: request_id.to_owned(),
                field: self.field,
                details: self.details.map(|d| *d),
            },
        };
        parts.headers.remove(header::CONTENT_LENGTH);
        let mut resp = (parts.status, Json(body)).into_response();
        for (k, v) in &parts.headers {
            if k != header::CONTENT_TYPE {
                resp.headers_mut().insert(k.clone(), v.clone());
            }
        }
        resp
    }
}

/// OpenAI's error `type` for a status (its API reference, "Error codes").
fn error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        402 => "insufficient_quota",
        403 => "permission_error",
        429 => "rate_limit_error",
        s if s >= 500 => "server_error",
        _ => "invalid_request_error",
    }
}

impl From<docwright_engine::Error> for ApiError {
    fn from(e: docwright_engine::Error) -> Self {
        use docwright_engine::Error as E;
        match e {
            E::Unauthenticated { code, message } => ApiError::new(StatusCode::UNAUTHORIZED, code, message),
            E::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", m),
            E::NotFound(what) => ApiError::not_found(what),
            E::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            E::Invalid { field, message } => ApiError::validation(field.clone(), format!("{field}: {message}")),
            E::Unprocessable { code, message } => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message),
            E::Busy { code, message } => ApiError::new(StatusCode::CONFLICT, code, message),
            E::Storage(docwright_storage::Error::Conflict(what)) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", format!("{what} already exists"))
            }
            // A search that outran its time limit: the service is there, this answer is not.
            E::Storage(docwright_storage::Error::TimedOut(what)) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timed_out",
                format!("the {what} took longer than its time limit; try fewer or rarer words"),
            ),
            e @ (E::Storage(_) | E::Internal(_)) => ApiError::internal(e),
        }
    }
}

/// `Json<T>` whose rejections use our error shape and name the field at fault. Every body is
/// a JSON object: serde would also read a struct from an array of its fields' values, which
/// no route documents.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(ApiError::from_status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::from_status(StatusCode::PAYLOAD_TOO_LARGE)
            } else {
                ApiError::new(e.status(), "bad_request", e.body_text())
            }
        })?;
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Err(ApiError::new(StatusCode::BAD_REQUEST, "validation_failed", "the body must be a JSON object"));
        }
        match Json::<T>::from_bytes(&bytes) {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// Whether the request says its body is JSON (`application/json` or `application/*+json`),
/// as axum's `Json` asks.
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::JsonDataError(e) => {
            // axum reports the path of the failing field first: "name: invalid type ...".
            let detail = std::error::Error::source(&e).map(ToString::to_string).unwrap_or_else(|| e.body_text());
            let field = detail.split_once(": ").map(|(f, _)| f.to_owned()).filter(|f| !f.contains(' '));
            let mut err = ApiError::validation(field.clone().unwrap_or_default(), detail);
            if field.is_none() {
                err.field = missing_or_unknown_field(&err.message);
            }
            err
        }
        JsonRejection::JsonSyntaxError(e) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!(
                "the body is not valid JSON: {}",
                std::error::Error::source(&e).map(ToString::to_string).unwrap_or_default()
            ),
        ),
        JsonRejection::MissingJsonContentType(_) => ApiError::from_status(StatusCode::UNSUPPORTED_MEDIA_TYPE),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::from_status(StatusCode::PAYLOAD_TOO_LARGE)
        }
        other => ApiError::new(other.status(), "bad_request", other.body_text()),
    }
}

/// serde names the field in "missing field `x`" and "unknown field `x`".
fn missing_or_unknown_field(message: &str) -> Option<String> {
    let start = message.find("field `")? + "field `".len();
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

/// `Query<T>` with our error shape.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|r: QueryRejection| ApiError::new(StatusCode::BAD_REQUEST, "validation_failed", r.body_text()))
    }
}

/// `Path<T>` with our error shape: a malformed id in the path is a 400 naming the parameter.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|r: PathRejection| ApiError::new(StatusCode::BAD_REQUEST, "invalid_path_parameter", r.body_text()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bodies_are_recognised_by_their_type() {
        let with = |v: &str| {
            let mut h = axum::http::HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_str(v).unwrap());
            json_content_type(&h)
        };
        assert!(
            with("application/json") && with("Application/JSON; charset=utf-8") && with("application/problem+json")
        );
        assert!(!with("text/plain") && !with("application/jsonx") && !with("multipart/form-data"));
        assert!(!json_content_type(&axum::http::HeaderMap::new()));
    }

    #[test]
    fn field_names_are_pulled_from_serde_messages() {
        assert_eq!(missing_or_unknown_field("missing field `static_token` at line 1").as_deref(), Some("static_token"));
        assert_eq!(missing_or_unknown_field("unknown field `x`, expected `a`").as_deref(), Some("x"));
        assert_eq!(missing_or_unknown_field("expected value"), None);
    }
}
