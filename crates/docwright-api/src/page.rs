//! Cursor pagination (SPEC P6): `?limit=&cursor=`, answered with `{items, next_cursor}`.

use serde::{Deserialize, Serialize};

/// One page of a listing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PageOf<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The query of a listing, as a client sends it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PageParams {
    /// Items per page, 1 to 200 (the server's default is 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}
