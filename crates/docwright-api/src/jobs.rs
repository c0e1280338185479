//! The job queue for administrators (SPEC S2): `/api/admin/jobs`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobOut {
    pub id: Uuid,
    pub kind: String,
    /// None for system jobs.
    pub tenant_id: Option<Uuid>,
    /// `available | running | retryable | completed | cancelled | discarded`.
    pub state: String,
    pub priority: i32,
    /// Attempts started so far, and how many it gets.
    pub attempt: u32,
    pub max_attempts: u32,
    /// RFC 3339: when it is (or was) due.
    pub run_at: String,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Stable snake_case code and message of the last failure.
    pub error_code: Option<String>,
    pub last_error: Option<String>,
    pub cancel_requested: bool,
    /// `{"percent", "phase"}` as the job last reported it.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub progress: Option<serde_json::Value>,
    /// What the handler answered, once completed.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub result: Option<serde_json::Value>,
    pub unique_key: Option<String>,
}
