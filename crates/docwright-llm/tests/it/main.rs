//! Wire-protocol tests: each provider against a fake server on 127.0.0.1 that answers with the
//! provider's real JSON and SSE framing.

// Test code fails loudly on purpose; helpers are shared between the modules of one test binary.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod anthropic;
mod openai;
