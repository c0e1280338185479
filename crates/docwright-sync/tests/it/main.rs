//! The EspoCRM and xAI clients against fakes on 127.0.0.1 that speak those services' protocols
//! (`docwright_sync::testing`), and a whole sync driven by `plan` over both.

// Test code fails loudly on purpose; helpers are shared between the modules of one binary.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod espo;
mod flow;
mod xai;

use serde_json::{Map, Value};

/// A JSON object literal as a map.
pub fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}
