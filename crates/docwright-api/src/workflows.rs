//! Generation workflows (SPEC W1, W4): `/api/workflows`. The events of a run are in
//! [`crate::events`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WorkflowIn {
    /// What to do, in any language (at most 100,000 characters).
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schemas::Prompt100000))]
    pub prompt: String,
    /// Files of the tenant the workflow works on (at most 200, each once).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schemas::WorkflowFiles))]
    pub file_ids: Vec<Uuid>,
    /// A project whose documents `context.search_documents` looks in.
    pub project_id: Option<Uuid>,
    /// A collection whose files `context.search_documents` looks in, instead of a project's
    /// (naming both answers 422 `scope_conflict`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection_id: Option<Uuid>,
    /// `docx | pdf | xlsx | csv | pptx | html | md | json | txt`; else the workflow chooses.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::OutputFormat>))]
    pub output_format: Option<String>,
    /// Trimmed, at most 200 characters; empty means none.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::OptionalTitle200>))]
    pub title: Option<String>,
    /// Only these configured providers may answer the workflow's calls.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<crate::schemas::ProviderName>>))]
    pub allowed_providers: Option<Vec<String>>,
    /// `simple | complex`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::ModelProfileName>))]
    pub model_profile: Option<String>,
    /// Keep every prompt and answer (download at `/api/workflows/{id}/debug`).
    #[serde(default)]
    pub debug_trace: bool,
    /// A prompt category (`GET /api/prompts/categories`): its first preset's instructions shape
    /// what is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::NotBlank>))]
    pub category: Option<String>,
    /// A prompt preset (`GET /api/prompts/presets`) whose instructions shape what is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = WorkflowFileOut))]
pub struct ResultFileOut {
    pub file_id: String,
    pub file_name: String,
    pub mime_type: String,
    pub file_size: u64,
    pub download_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkflowError {
    pub code: String,
    pub message: String,
}

/// A workflow: its request, where it is, what it cost so far and what it produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkflowOut {
    pub workflow_id: String,
    /// `queued | running | completed | failed | cancelled`.
    pub status: String,
    /// The phase running now (`input_analysis`, `task_planning`, `task_execution`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// 0–100.
    pub progress: u8,
    /// What its AI calls cost so far, in the tenant's currency (a decimal string).
    pub cost: String,
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_format: Option<String>,
    pub file_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection_id: Option<String>,
    /// The direct answer (fast track) or a summary of what was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detected_language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<WorkflowError>,
    /// The attempt the queue is on (a crash or an outage costs one).
    pub attempt: u32,
    pub debug_trace: bool,
    pub files: Vec<ResultFileOut>,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}
