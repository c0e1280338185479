//! Domain types of docwright, shared by every other crate.
//!
//! Everything here is pure: no I/O, no HTTP, no database. Types are parsed, not validated
//! (CONVENTIONS 6): a `TenantId`, a `Role` or an `ItemPattern` can only hold a valid value,
//! so code that receives one need not check it again.
//!
//! - [`id`]: UUIDv7 identifiers, one newtype per entity.
//! - [`role`]: the four roles a membership can carry.
//! - [`rbac`]: permission rules and the policy that evaluates them (SPEC P5).
//! - [`token`]: opaque secrets (static tokens, refresh tokens, API keys) and their hashes.
//! - [`settings`]: per-user settings (`model_profile`, `language`).
//! - [`money`]: exact amounts in integer micro-units, and prices per million tokens.
//! - [`billing`]: billing models, currencies, ledger kinds, billing addresses.
//! - [`name`]: human-entered names and e-mail addresses.
//! - [`time`]: the millisecond timestamp stored in the database.
//! - [`sheet`]: spreadsheet cell ranges (`A1:D10`) of spreadsheet AI requests.

pub mod billing;
pub mod id;
pub mod money;
pub mod name;
pub mod rbac;
pub mod role;
pub mod settings;
pub mod sheet;
pub mod time;
pub mod token;

/// A value that failed to parse into a domain type; the message names the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    message: String,
}

impl ParseError {
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }
}
