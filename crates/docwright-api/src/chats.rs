//! Chats with documents (SPEC C1, C2): `/chats`, a chat's messages, a turn's progress tree.
//! The events of an answer are in [`crate::events`].

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChatIn {
    /// At most 200 characters.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schemas::Name200))]
    pub title: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::Text2000>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A project whose documents answers draw passages from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<Uuid>,
    /// A collection whose files answers draw passages from, instead of a project's (naming
    /// both answers 422 `scope_conflict`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection_id: Option<Uuid>,
}

/// A chat.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatOut {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection_id: Option<String>,
    pub user_id: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageError {
    pub code: String,
    pub message: String,
}

/// A message of a chat: a question, or an answer with its model, price, usage and sources.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageOut {
    pub id: String,
    /// `user | assistant`.
    pub role: String,
    pub content: String,
    /// `queued | running | completed | failed` (a question is `completed`).
    pub status: String,
    /// The turn this message belongs to (its events and progress tree).
    pub turn_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attached_file_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// What the answer cost, in the tenant's currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<crate::events::Usage>,
    /// The passages the answer was given: file, page/slide/sheet and part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Object>>))]
    pub sources: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<MessageError>,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

/// A chat with its history, oldest message first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatDetailOut {
    #[serde(flatten)]
    pub chat: ChatOut,
    pub messages: Vec<MessageOut>,
    /// The turn being answered now, if one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_turn_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MessageIn {
    /// The question (at most 32,000 characters).
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schemas::Text32000))]
    pub message: String,
    /// Files whose extracted parts are the answer's context (at most 20, each once).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schemas::Attachments))]
    pub attached_file_ids: Vec<Uuid>,
    /// `simple | complex`; else your setting (`simple` by default).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::ModelProfileName>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_profile: Option<String>,
    /// Only these configured providers may answer.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<crate::schemas::ProviderName>>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_providers: Option<Vec<String>>,
    /// A role prompt from `/prompts/roles`; else your selected one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_prompt_id: Option<Uuid>,
}

/// One operation of a turn's progress tree.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TurnLogOut {
    pub op_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    pub title: String,
    pub message: String,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
    /// `ok | failed`; absent while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub cost: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TurnLogTreeOut {
    pub turn_id: String,
    /// Every operation in the order it started; `parent_id` makes the tree.
    pub operations: Vec<TurnLogOut>,
}
