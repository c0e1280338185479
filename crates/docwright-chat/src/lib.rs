//! Chat with documents (SPEC C2, C3), the part that needs no database, no network and no
//! HTTP: what goes into a chat turn's prompt and how it is cut to fit.
//!
//! - [`context`]: passages (an attachment's parts, a project's retrieved passages) numbered
//!   and trimmed to a model's input budget by the rule stated there, and the sources an answer
//!   cites.
//! - [`fusion`]: reciprocal-rank fusion of ranked lists (full-text and vector search).
//! - [`prompt`]: the system prompt (role prompt, the user's language, citation rules) and the
//!   messages of a turn (history, context, question).
//! - [`roles`]: a role prompt's name in the user's language.
//!
//! The engine (`docwright-engine::chat`) gathers the passages and history from the database,
//! calls this crate, and sends the result through the gateway. Token counts come from the
//! caller's estimator, so this crate knows no model or tokenizer.

pub mod context;
pub mod fusion;
pub mod prompt;
pub mod roles;
