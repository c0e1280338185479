//! CRM document sync (SPEC Y1–Y4) without a database: the parts that talk to the outside and
//! the one decision that needs no state beyond what they report.
//!
//! - [`signature`]: EspoCRM's webhook signatures (`Signature`, and the legacy `X-Signature`),
//!   checked in constant time. Reference: EspoCRM documentation, Administration › Webhooks ›
//!   "Signature checking", and EspoCRM's `Webhook\Sender` for the legacy header.
//! - [`payload`]: a webhook delivery — always a JSON array of records, batched by EspoCRM's
//!   scheduled job "Process Webhook Queue" — parsed and bounded.
//! - [`espo`]: the EspoCRM REST API client (`X-Api-Key`): records, related records, listings,
//!   attachment download (bounded) and upload, updates. Reference: docs.espocrm.com,
//!   Development › API (and its "Attachment" page).
//! - [`xai`]: xAI's Files API (`POST /v1/files`, `DELETE /v1/files/{id}` on the API host) and
//!   Collections API (documents added, reindexed and removed on the management host), each
//!   host with its own key. Reference: docs.x.ai, "Files" and "Collections API".
//! - [`plan`]: the pure decision what a sync must do for xAI — upload or not, which
//!   collections to add and remove, which old file to replace — from the record's state and
//!   the new content's hash.
//! - [`Error`]: every client failure, with [`Error::is_retryable`].
//! - `testing` (feature `testing`): fake EspoCRM and xAI servers on 127.0.0.1 speaking those
//!   protocols, for tests here and in the crates that drive a sync.
//!
//! Boundaries: no database, no queue, no retries (the caller schedules them from
//! [`Error::is_retryable`] and `retry_after`), no docwright dependency. Every id or name that
//! goes into a URL is checked first, so data from the CRM cannot change which URL is called.
//! Keys never appear in an error, a log line or a `Debug` output.

mod error;
pub mod espo;
mod http;
mod ids;
pub mod payload;
pub mod plan;
pub mod signature;
#[cfg(feature = "testing")]
pub mod testing;
pub mod xai;

pub use error::{ESPOCRM, Error, Result, XAI_COLLECTIONS, XAI_FILES};
pub use ids::{MAX_RECORD_ID_LEN, is_record_id};
