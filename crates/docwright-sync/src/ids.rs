//! Checks of everything that goes into a URL path or query: entity types, record ids, link and
//! field names, xAI ids. Each accepts only ASCII letters, digits and (for ids) `-` and `_`, so a
//! value from the CRM or a webhook can neither add a path segment nor a query.

use crate::Error;

/// The longest record id accepted (EspoCRM's ids are 17 characters, UUIDs 36).
pub const MAX_RECORD_ID_LEN: usize = 64;
/// The longest xAI file or collection id accepted (`collection_` and a UUID are 47).
const MAX_XAI_ID_LEN: usize = 128;
/// The longest entity type, link or field name accepted.
const MAX_NAME_LEN: usize = 100;

fn id_chars(value: &str) -> bool {
    value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `value` is a record id this crate accepts: 1 to [`MAX_RECORD_ID_LEN`] characters of
/// `A-Z`, `a-z`, `0-9`, `-` and `_`.
pub fn is_record_id(value: &str) -> bool {
    !value.is_empty() && value.len() <= MAX_RECORD_ID_LEN && id_chars(value)
}

fn invalid(kind: &str, value: &str) -> Error {
    // The value is shown shortened: it is data, possibly long, never a key.
    let shown: String = value.chars().take(80).collect();
    Error::InvalidId(format!("{kind} {shown:?} cannot go into a URL"))
}

/// A record or attachment id.
pub(crate) fn record_id<'a>(kind: &str, value: &'a str) -> Result<&'a str, Error> {
    if is_record_id(value) { Ok(value) } else { Err(invalid(kind, value)) }
}

/// An entity type or link name: a letter, then letters and digits (`Document`, `accounts`).
pub(crate) fn name<'a>(kind: &str, value: &'a str) -> Result<&'a str, Error> {
    let mut bytes = value.bytes();
    let ok = value.len() <= MAX_NAME_LEN
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric());
    if ok { Ok(value) } else { Err(invalid(kind, value)) }
}

/// An attribute name for `select` or an attachment's field: a letter, then letters, digits and
/// `_` (custom fields are `cFoo`, some attributes `foo_bar`).
pub(crate) fn field<'a>(kind: &str, value: &'a str) -> Result<&'a str, Error> {
    let mut bytes = value.bytes();
    let ok = value.len() <= MAX_NAME_LEN
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok { Ok(value) } else { Err(invalid(kind, value)) }
}

/// An xAI file or collection id (`file-…`, `file_…`, `collection_<uuid>`).
pub(crate) fn xai_id<'a>(kind: &str, value: &'a str) -> Result<&'a str, Error> {
    if !value.is_empty() && value.len() <= MAX_XAI_ID_LEN && id_chars(value) {
        Ok(value)
    } else {
        Err(invalid(kind, value))
    }
}

/// The essence `type/subtype` of a MIME type, its parameters (`; charset=…`) left off, checked
/// to be token characters: it goes into a data URL and a multipart header, where `;`, `,`,
/// quotes or line breaks would change their meaning.
pub(crate) fn mime(value: &str) -> Result<&str, Error> {
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b));
    let essence = value.split(';').next().unwrap_or_default().trim_matches([' ', '\t']);
    match essence.split_once('/') {
        Some((t, s)) if essence.len() <= 255 && token(t) && token(s) => Ok(essence),
        _ => Err(invalid("content type", value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_segments_pass() {
        for ok in ["a", "5f1e2d3c4b5a69788", "a-b_C9", "550e8400-e29b-41d4-a716-446655440000"] {
            assert!(record_id("record", ok).is_ok(), "{ok}");
        }
        for bad in ["", "../x", "a/b", "a?b", "a#b", "a%2Fb", "a b", "ä", &"x".repeat(65)] {
            assert!(record_id("record", bad).is_err(), "{bad}");
        }
        assert!(name("entity type", "Document").is_ok());
        assert!(name("entity type", "CDokument2").is_ok());
        for bad in ["", "1Doc", "Doc-x", "Doc_x", "Doc/x", "Doc ument"] {
            assert!(name("entity type", bad).is_err(), "{bad}");
        }
        assert!(field("field", "xai_collection").is_ok());
        assert!(field("field", "_x").is_err());
        assert!(xai_id("collection", "collection_dbc087b1-6c99-493d-86c6-b401fee34a9d").is_ok());
        assert!(xai_id("file", "file/../x").is_err());
        assert!(mime("application/vnd.openxmlformats-officedocument.wordprocessingml.document").is_ok());
        assert_eq!(mime("text/plain; charset=utf-8").unwrap(), "text/plain");
        for bad in ["text", "a/b,c", "text/plain\r\nX: y", "/x", "x/", "text/plain\r\n; a=b", ""] {
            assert!(mime(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_message_names_the_kind_not_more_than_a_bit_of_the_value() {
        let e = record_id("record", &"é".repeat(500)).unwrap_err().to_string();
        assert!(e.starts_with("record \""), "{e}");
        assert!(e.len() < 300, "{e}");
    }
}
