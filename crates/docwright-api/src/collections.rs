//! Collections (SPEC Y3): `/api/collections`, named sets of the tenant's files, their members,
//! and search within one. A chat or workflow names one with `collection_id`. Search hits are
//! [`crate::projects::SearchOut`], as the projects search answers them.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CollectionOut {
    pub id: Uuid,
    /// Not unique: two collections may share a name.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Set by a sync source for the CRM record the collection stands for; unique in the
    /// tenant, read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_key: Option<String>,
    /// Who made it; absent for a sync source's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<Uuid>,
    /// How many files it holds.
    pub file_count: u64,
    pub created_at: String,
    /// The last change of its name, description or files.
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CollectionIn {
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schemas::Name200))]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::Description4000>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Fields absent stay as they are; `description: null` clears it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CollectionPatchIn {
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::Name200>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::Description4000>))]
    pub description: Option<Option<String>>,
}

/// A file of a collection.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CollectionFileOut {
    pub file_id: Uuid,
    pub file_name: String,
    pub mime_type: String,
    pub file_size: u64,
    /// `pending | running | done | failed`.
    pub extraction_status: String,
    pub added_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CollectionFileIn {
    /// A file you can read; in a collection at most once (adding it again changes nothing).
    pub file_id: Uuid,
}
