//! The projects tree and search (SPEC D4).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TreeDocumentOut {
    pub id: Uuid,
    pub title: String,
    pub file_id: Uuid,
    pub file_name: String,
    pub mime_type: String,
    /// `pending | running | done | failed`.
    pub extraction_status: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TreeFolderOut {
    pub id: Uuid,
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(no_recursion))]
    pub folders: Vec<TreeFolderOut>,
    pub documents: Vec<TreeDocumentOut>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TreeProjectOut {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub created_at: String,
    pub folders: Vec<TreeFolderOut>,
    /// Documents at the top of the project.
    pub documents: Vec<TreeDocumentOut>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TreeClientOut {
    pub id: Uuid,
    pub name: String,
    pub created_at: String,
    pub projects: Vec<TreeProjectOut>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TreeOut {
    /// By name; each level below by name too.
    pub clients: Vec<TreeClientOut>,
}

/// Where a hit's best-matching part was found.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LocationOut {
    pub part_id: Uuid,
    /// The part's position in the file, from 0.
    pub seq: u32,
    pub page: Option<u32>,
    pub slide: Option<u32>,
    pub sheet: Option<String>,
}

/// A document that places the hit's file in a project.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlacementOut {
    pub document_id: Uuid,
    pub project_id: Uuid,
    pub project_name: String,
    pub folder_id: Option<Uuid>,
    pub title: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HitOut {
    pub file_id: Uuid,
    pub file_name: String,
    pub mime_type: String,
    /// Higher is better; comparable within one search only.
    pub score: f64,
    /// How many parts of the file match.
    pub matching_parts: u64,
    pub location: LocationOut,
    /// The best part's text around the matches, HTML-escaped, each match in `<mark>…</mark>`.
    pub snippet: String,
    /// Where the file is placed in the projects tree (empty without read access to the tree).
    pub documents: Vec<PlacementOut>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchOut {
    /// Best first, one per file.
    pub items: Vec<HitOut>,
    /// Pass as `offset` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientOut {
    pub id: Uuid,
    pub name: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClientIn {
    /// Unique in the tenant.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schemas::Name200))]
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProjectOut {
    pub id: Uuid,
    pub client_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProjectIn {
    pub client_id: Uuid,
    /// Unique among the client's projects.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schemas::Name200))]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::Description4000>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Fields absent stay as they are; `description: null` clears it; `client_id` moves the project
/// with its tree to another client.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProjectPatchIn {
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::Name200>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::Description4000>))]
    pub description: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FolderOut {
    pub id: Uuid,
    pub project_id: Uuid,
    /// Absent: at the top of the project.
    pub parent_id: Option<Uuid>,
    pub name: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FolderIn {
    /// Unique among its siblings.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schemas::Name200))]
    pub name: String,
    /// A folder of the same project; absent: at the top.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<Uuid>,
}

/// Rename or move a folder with everything in it. `parent_id` (a folder of any project of
/// the tenant, or `null` for the top) and `project_id` say where to; a parent implies its
/// project, a project alone puts the folder at its top. Moving a folder into itself or one of
/// its subfolders answers 422 `invalid_move`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FolderPatchIn {
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::Name200>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<Uuid>,
    #[serde(default, deserialize_with = "crate::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Uuid>))]
    pub parent_id: Option<Option<Uuid>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DocumentOut {
    pub id: Uuid,
    pub project_id: Uuid,
    /// Absent: at the top of the project.
    pub folder_id: Option<Uuid>,
    pub file_id: Uuid,
    pub title: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DocumentIn {
    /// A file you can read; once per project.
    pub file_id: Uuid,
    /// A folder of the project; absent: at the top.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder_id: Option<Uuid>,
    /// Default: the file's name.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::Name200>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// Retitle or move a document: `folder_id` (or `null` for the top) and `project_id` say
/// where to, as for folders.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DocumentPatchIn {
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::Name200>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<Uuid>,
    #[serde(default, deserialize_with = "crate::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Uuid>))]
    pub folder_id: Option<Option<Uuid>>,
}

/// What extraction made of the document's file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExtractionOut {
    /// `pending | running | done | failed`.
    pub status: String,
    /// Stable code of a failure (`encrypted`, `timed_out`, ...).
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// What was recovered around.
    pub warnings: Vec<String>,
    /// Pages, slides or sheets of the source.
    pub units: Option<u32>,
    pub attempts: u32,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Content parts by type group (`text`, `table`, `image`, ...).
    pub parts: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = DocumentResultFileOut))]
pub struct ResultFileOut {
    pub id: Uuid,
    pub file_name: String,
    pub mime_type: String,
    pub extraction: ExtractionOut,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = DocumentResultOut))]
pub struct ResultOut {
    pub id: Uuid,
    /// Who produced it: `extraction`, `summary`, `generation`, ...
    pub kind: String,
    pub title: String,
    /// `text` (content is a string) or `json` (content is the JSON value).
    pub format: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub content: serde_json::Value,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DocumentResultsOut {
    pub document: DocumentOut,
    pub file: ResultFileOut,
    /// Newest first.
    pub results: Vec<ResultOut>,
}
