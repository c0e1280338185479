//! CRM document sync (SPEC Y1–Y4): sources (`/api/admin/sync/sources`), webhook receipts
//! (`/api/sync/{source}/webhook/document/{action}`), synced documents and forced resyncs.

use serde::{Deserialize, Serialize};

/// A source to create: an EspoCRM connection and its sinks. Secrets are stored sealed and never
/// answered.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SyncSourceIn {
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schemas::Name200))]
    pub name: String,
    /// EspoCRM's address, e.g. `https://crm.example.com` (its API is under `/api/v1`).
    pub base_url: String,
    /// An EspoCRM API user's key (sent as `X-Api-Key`).
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schemas::NotBlank))]
    pub api_key: String,
    /// The webhook's secret key EspoCRM signs deliveries with.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schemas::NotBlank))]
    pub webhook_secret: String,
    /// The EspoCRM webhook id a signature must name; any when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<String>,
    /// `{entity, file_field, fields: {status, md5, sha, xai_file_id, xai_collections,
    /// xai_synced_hash, xai_sync_status, xai_sync_error, preview_image}, status_values: {new,
    /// changed, synced, failed}, links: [{link, xai_collection_field}], docwright_collections,
    /// xai: {api_base, management_base}}`; every key has a default (EspoCRM's `Document` with
    /// the fields `dateiStatus`, `md5`, `sha`, `xaiFileId`, ..., statuses `Neu`, `Geändert`,
    /// `Gesynct`, `Fehler`, the link `accounts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub settings: Option<serde_json::Value>,
    /// xAI's API key (Files); with `xai_management_key` it turns the xAI sink on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xai_api_key: Option<String>,
    /// xAI's management key (Collections).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xai_management_key: Option<String>,
    /// On by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

/// A change to a source; fields left out stay. Both xAI keys as `""` turn the xAI sink off.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SyncSourcePatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::Name200>))]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "crate::present", skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub settings: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xai_api_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xai_management_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

/// A source, without its secrets.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncSourceOut {
    pub id: String,
    pub name: String,
    /// `espocrm`.
    pub kind: String,
    pub base_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<String>,
    /// The settings in force, every default filled in.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub settings: serde_json::Value,
    /// Whether both xAI keys are set (the xAI sink is on).
    pub xai_enabled: bool,
    /// Where EspoCRM's webhooks for `create`, `update` and `delete` go: this path with the
    /// action appended.
    pub webhook_path: String,
    /// The user whose files the synced documents become.
    pub owner_id: String,
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciled_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// What a webhook delivery came to (202).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookReceiptOut {
    /// Records in the delivery.
    pub received: usize,
    /// Records stored, each with its document's sync queued.
    pub accepted: usize,
    /// Records delivered before (stored once).
    pub duplicates: usize,
}

/// A synced document's state.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncDocumentOut {
    /// The CRM record's id.
    pub entity_id: String,
    /// `pending`, `synced`, `failed` or `deleted`.
    pub state: String,
    /// The docwright file holding its content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xai_file_id: Option<String>,
    /// xAI collection ids it is in.
    pub xai_collections: Vec<String>,
    /// docwright collection ids it is in.
    pub collections: Vec<String>,
    /// `create`, `update`, `delete`, `reconcile` or `resync`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Failed attempts since the last success.
    pub attempts: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_at: Option<String>,
    pub updated_at: String,
}

/// A forced resync, queued (202).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResyncOut {
    pub job_id: String,
}
