//! The one error body of every 4xx and 5xx answer (SPEC P6).

use serde::{Deserialize, Serialize};

/// The JSON error body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable, snake_case: `not_found`, `validation_failed`, `invalid_token`, ...
    pub code: String,
    pub message: String,
    /// OpenAI's error class for the status: `invalid_request_error`, `authentication_error`,
    /// `permission_error`, `insufficient_quota`, `rate_limit_error` or `server_error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The request field at fault (OpenAI's name for `field`), or null.
    pub param: Option<String>,
    /// The `X-Request-Id` of the request.
    pub request_id: String,
    /// The request field at fault, for validation errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Facts a client acts on (402: `balance`, `available`, `required`, `currency`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub details: Option<serde_json::Value>,
}
