//! A webhook delivery. EspoCRM always sends a JSON array of records — one or more, batched by
//! its scheduled job "Process Webhook Queue" — each with its `id` and the attributes the event
//! concerns (all of them on `create`, the changed ones on `update`, only `id` on `delete`).
//! [`parse_batch`] takes such an array and nothing else, bounded in length, and checks every
//! id the way the clients do before it could go into a URL.

use serde_json::{Map, Value};

use crate::ids::{MAX_RECORD_ID_LEN, is_record_id};

/// One record of a delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The record's id, checked ([`crate::is_record_id`]).
    pub id: String,
    /// Every attribute as sent, `id` included.
    pub fields: Map<String, Value>,
}

/// Why a delivery was refused. Record indexes count from 0, as in the array.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("the body must be a JSON array of records")]
    NotAnArray,
    #[error("the delivery holds {count} records, more than the {max} allowed")]
    TooMany { count: usize, max: usize },
    #[error("record {index} is not an object")]
    NotAnObject { index: usize },
    #[error("record {index} has no id")]
    NoId { index: usize },
    #[error("record {index} has an id that is not 1 to {MAX_RECORD_ID_LEN} letters, digits, '-' or '_'")]
    BadId { index: usize },
}

/// Parses a delivery of at most `max_records` records.
pub fn parse_batch(body: &[u8], max_records: usize) -> Result<Vec<Record>, PayloadError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| PayloadError::NotJson(e.to_string()))?;
    let Value::Array(items) = value else { return Err(PayloadError::NotAnArray) };
    if items.len() > max_records {
        return Err(PayloadError::TooMany { count: items.len(), max: max_records });
    }
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let Value::Object(fields) = item else { return Err(PayloadError::NotAnObject { index }) };
            let id = match fields.get("id") {
                None | Some(Value::Null) => return Err(PayloadError::NoId { index }),
                Some(Value::String(id)) if is_record_id(id) => id.clone(),
                Some(_) => return Err(PayloadError::BadId { index }),
            };
            Ok(Record { id, fields })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(body: &str, max: usize, expect: Result<&[&str], PayloadError>) {
        let got = parse_batch(body.as_bytes(), max).map(|r| r.into_iter().map(|r| r.id).collect::<Vec<_>>());
        assert_eq!(got, expect.map(|ids| ids.iter().map(|s| (*s).to_owned()).collect()), "{body}");
    }

    #[test]
    fn arrays_of_records_with_ids_and_nothing_else() {
        check(r#"[{"id":"a1","name":"x"},{"id":"b_2-C"}]"#, 10, Ok(&["a1", "b_2-C"]));
        check("[]", 0, Ok(&[]));
        check(r#"{"id":"a"}"#, 10, Err(PayloadError::NotAnArray));
        check(r#""a""#, 10, Err(PayloadError::NotAnArray));
        check(r#"[{"id":"a"},{"name":"x"}]"#, 10, Err(PayloadError::NoId { index: 1 }));
        check(r#"[{"id":null}]"#, 10, Err(PayloadError::NoId { index: 0 }));
        check(r#"[{"id":""}]"#, 10, Err(PayloadError::BadId { index: 0 }));
        check(r#"[{"id":7}]"#, 10, Err(PayloadError::BadId { index: 0 }));
        check(r#"[{"id":"../x"}]"#, 10, Err(PayloadError::BadId { index: 0 }));
        check(&format!(r#"[{{"id":"{}"}}]"#, "x".repeat(65)), 10, Err(PayloadError::BadId { index: 0 }));
        check(r#"[{"id":"a"},1]"#, 10, Err(PayloadError::NotAnObject { index: 1 }));
        check(r#"[{"id":"a"},{"id":"b"}]"#, 1, Err(PayloadError::TooMany { count: 2, max: 1 }));
        assert!(matches!(parse_batch(b"nope", 1), Err(PayloadError::NotJson(_))));
    }

    #[test]
    fn fields_are_kept_and_errors_name_the_record() {
        let r = parse_batch(br#"[{"id":"a1","name":"x","n":2}]"#, 1).unwrap();
        assert_eq!(r[0].fields["name"], "x");
        assert_eq!(r[0].fields["id"], "a1");
        assert_eq!(PayloadError::NoId { index: 3 }.to_string(), "record 3 has no id");
    }
}
