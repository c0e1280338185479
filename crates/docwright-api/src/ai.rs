//! Asynchronous AI requests (SPEC W1, GigaOffice style): `/api/ai/process`, `status`, `result`
//! and `cancel`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A request from a spreadsheet or any other client.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProcessIn {
    /// What to do, in any language (at most 32,000 characters).
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schemas::Query32000))]
    pub query_text: String,
    /// The key of a prompt library category (`GET /api/prompts/categories`), e.g. `analysis`:
    /// its first preset's system prompt, in your language, shapes the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::CategoryKey>))]
    pub category: Option<String>,
    /// A preset of the prompt library (`GET /api/prompts/presets`) whose system prompt shapes
    /// the answer; with `category`, it must be in that category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset_id: Option<Uuid>,
    /// The cells `input_data` came from, e.g. `A1:D10` (top-left first); the data must fit in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::CellRange>))]
    pub input_range: Option<String>,
    /// Rows of cells (strings, numbers, booleans or null): at most 1,000 rows of 100 cells,
    /// 10,000 cells in all; rows may be shorter than the widest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::Table>))]
    pub input_data: Option<serde_json::Value>,
    /// `simple` or `complex`: which models `auto` prefers (default: your setting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::ModelProfileName>))]
    pub model_profile: Option<String>,
    /// Only these providers may answer it (1 to 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<crate::schemas::ProviderName>>, min_items = 1, max_items = 16))]
    pub allowed_providers: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AcceptedOut {
    pub request_id: Uuid,
    /// `queued`.
    pub status: String,
    /// RFC 3339.
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FailureOut {
    /// Stable snake_case: `insufficient_balance`, `forbidden`, `provider_unavailable`,
    /// `rate_limited`, `invalid_result`, `no_model_available`, `timed_out`, `lease_lost`, ...
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusOut {
    pub request_id: Uuid,
    /// `queued | running | completed | failed | cancelled`.
    pub status: String,
    /// 0 to 100.
    pub progress: u8,
    /// What a running request is doing (`authorising`, `calling the model`, `storing the answer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Attempts started so far (a request whose provider failed is tried again).
    pub attempts: u32,
    /// RFC 3339 timestamps.
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// A cancellation was asked for and the request is still running.
    pub cancel_requested: bool,
    /// Why it failed (status `failed`) or how it was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<FailureOut>,
}

impl StatusOut {
    /// `completed`, `failed` or `cancelled`: nothing more will happen to it.
    pub fn is_terminal(&self) -> bool {
        matches!(self.status.as_str(), "completed" | "failed" | "cancelled")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = AiUsageOut))]
pub struct UsageOut {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = AiResultOut))]
pub struct ResultOut {
    pub request_id: Uuid,
    /// `completed`.
    pub status: String,
    /// The answer.
    pub text: String,
    /// For spreadsheet requests that asked for data: rows of cells, checked against the same
    /// rules as `input_data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Vec<Object>>>))]
    pub result_data: Option<serde_json::Value>,
    pub model: String,
    pub provider: String,
    /// What the call cost, a decimal string in `currency` (`0` when it was free).
    pub price: String,
    pub currency: String,
    pub usage: UsageOut,
    /// RFC 3339.
    pub completed_at: String,
}
