//! Uploaded files (SPEC D1): `POST /files/upload`, `GET /files/{id}`, its content.

use serde::{Deserialize, Serialize};

/// A file's record.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FileOut {
    pub id: String,
    pub file_name: String,
    /// Detected from the content's magic bytes, not from the name.
    pub mime_type: String,
    pub file_size: u64,
    /// Lower-case hex.
    pub sha256: String,
    /// Lower-case hex.
    pub md5: String,
    /// RFC 3339.
    pub created_at: String,
    /// `pending → running → done | failed`.
    pub extraction_status: String,
    /// Why extraction failed: a stable code (`encrypted`, `too_many_pages`, `too_large`,
    /// `too_deep`, `malformed`, `timed_out`, `out_of_memory`, `parser_crashed`,
    /// `unsupported_type`, `worker_lost`, ...).
    pub extraction_error: Option<String>,
    /// The failure in words.
    pub extraction_message: Option<String>,
    /// What extraction recovered around (damaged pages, pages without text and no OCR).
    pub extraction_warnings: Vec<String>,
    /// Pages, slides or sheets of the source, when extraction found such units.
    pub units: Option<u32>,
    /// The PNG preview, once made.
    pub thumbnail_url: Option<String>,
    /// The e-mail this file was attached to.
    pub parent_file_id: Option<String>,
}
