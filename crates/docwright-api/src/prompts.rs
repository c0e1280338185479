//! Role prompts (`/prompts/roles`, SPEC C3).

use serde::{Deserialize, Serialize};

/// A role prompt.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoleOut {
    pub id: String,
    /// The name in your language (else English).
    pub name: String,
    /// Every name, by language (`en`, `de`, `fr`, `it`, `ru`).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub names: serde_json::Map<String, serde_json::Value>,
    /// `installation` (seeded, shared by every tenant) or `tenant`.
    pub scope: String,
    /// The text that shapes answers; only on `GET /prompts/roles/{id}` and writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    pub updated_at: String,
}
