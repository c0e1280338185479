//! The wire types of docwright's HTTP API (SPEC U2): the JSON bodies of requests and
//! responses, one module per area of routes. The server's handlers deserialize and serialize
//! these very types and `docwright-client` sends and reads them, so the two cannot drift; the
//! client's route list is checked against the server's `/openapi.json` by a test.
//!
//! Conventions: every type is `Serialize + Deserialize`. Response fields the server leaves out
//! when empty are `#[serde(default)]`; fields it always sends are required, as the document
//! says.
//! Optional request fields are skipped when `None`, so "absent" stays absent. Ids and times are
//! strings as the server writes them (UUIDs; RFC 3339), money is a decimal string (never a
//! float). With feature `openapi` the types derive `utoipa::ToSchema` and `schemas` holds the
//! document-only schemas of values the server checks beyond their JSON type.

pub mod ai;
pub mod auth;
pub mod automations;
pub mod billing;
pub mod chats;
pub mod collections;
pub mod error;
pub mod events;
pub mod files;
pub mod jobs;
pub mod keys;
pub mod me;
pub mod page;
pub mod projects;
pub mod prompts;
#[cfg(feature = "openapi")]
pub mod schemas;
pub mod sync;
pub mod workflows;

pub use error::{ErrorBody, ErrorDetail};
pub use page::PageOf;
pub use uuid::Uuid;

/// Tells "absent" (outer `None`, by `#[serde(default)]`) from "null" (`Some(None)`) in a patch.
pub(crate) fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    use serde::Deserialize as _;
    Ok(Some(Option::<T>::deserialize(d)?))
}
