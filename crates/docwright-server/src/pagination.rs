//! Cursor pagination (SPEC P6): `?limit=&cursor=`, answered with `{items, next_cursor}`.
//! The cursor is opaque to clients: the id of the last item, base64url-encoded.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::ApiError;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// The query parameters of a listing.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<crate::schemas::Cursor>, inline)]
    pub cursor: Option<String>,
}

/// A checked page request: the limit in range, the cursor decoded.
pub struct PageParams {
    pub limit: u32,
    pub after: Option<String>,
}

impl PageQuery {
    pub fn parse(&self) -> Result<PageParams, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::validation("limit", format!("limit must be between 1 and {MAX_LIMIT}")));
        }
        let after = match &self.cursor {
            None => None,
            Some(c) => {
                let bytes = URL_SAFE_NO_PAD.decode(c.as_bytes()).ok();
                let id = bytes.and_then(|b| String::from_utf8(b).ok()).filter(|s| uuid::Uuid::parse_str(s).is_ok());
                Some(id.ok_or_else(|| ApiError::validation("cursor", "cursor is not one this server issued"))?)
            }
        };
        Ok(PageParams { limit, after })
    }
}

impl PageParams {
    pub fn request(&self) -> docwright_storage::PageRequest<'_> {
        docwright_storage::PageRequest { after: self.after.as_deref(), limit: self.limit }
    }
}

pub use docwright_api::PageOf;

/// The cursor of a page that ends after `id`.
pub fn encode_cursor(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

/// Builds a page from storage rows; `id_of` gives the id the next page starts after.
pub fn page_of<R, T>(
    page: docwright_storage::Page<R>,
    id_of: impl Fn(&R) -> String,
    map: impl Fn(R) -> T,
) -> PageOf<T> {
    let next_cursor = if page.has_more { page.items.last().map(|r| encode_cursor(&id_of(r))) } else { None };
    PageOf { items: page.items.into_iter().map(map).collect(), next_cursor }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_cursors_are_checked() {
        let q = |limit, cursor: Option<&str>| PageQuery { limit, cursor: cursor.map(str::to_owned) }.parse();
        assert_eq!(q(None, None).unwrap().limit, DEFAULT_LIMIT);
        assert!(q(Some(0), None).is_err());
        assert!(q(Some(201), None).is_err());
        assert!(q(None, Some("garbage!")).is_err());
        let id = uuid::Uuid::now_v7().to_string();
        let c = URL_SAFE_NO_PAD.encode(&id);
        assert_eq!(q(None, Some(&c)).unwrap().after, Some(id));
    }
}
