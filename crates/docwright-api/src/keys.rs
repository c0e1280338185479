//! Your own API keys (SPEC P4): `/api/keys`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schemas::Name100))]
    pub name: String,
    /// RFC 3339, in the future; the key stops working then. Absent: no expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::DateTime>))]
    pub expires_at: Option<String>,
}

/// An API key as listed: never the key itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyOut {
    pub id: Uuid,
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    /// The start of the key, to recognise it.
    pub prefix: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked: bool,
}

/// A key just issued: `key` is shown only in this response.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedKey {
    /// `dw_...`: send as `Authorization: Bearer`. It cannot be shown again.
    pub key: String,
    #[serde(flatten)]
    pub details: ApiKeyOut,
}
