//! Wire-protocol tests: each provider against a fake server on 127.0.0.1 that answers with the
//! provider's real JSON and SSE framing.

// Test code fails loudly on purpose; helpers are shared between the modules of one test binary.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod anthropic;
mod embeddings;
mod gemini;
mod gigachat;
mod openai;
mod structured;

use docwright_llm::{AnyProvider, ApiKey, ChatRequest, ChatResponse, Error, Provider as _, StreamEvent};
use futures_util::StreamExt as _;

/// Reads a stream to its end: the text of the deltas, and `Done`'s response or the error.
async fn collect(p: &AnyProvider, r: &ChatRequest, key: ApiKey) -> (String, Result<ChatResponse, Error>) {
    let mut s = match p.chat_stream(r, Some(&key)).await {
        Ok(s) => s,
        Err(e) => return (String::new(), Err(e)),
    };
    let mut text = String::new();
    while let Some(ev) = s.next().await {
        match ev {
            Ok(StreamEvent::Delta(t)) => text.push_str(&t),
            Ok(StreamEvent::Done(r)) => return (text, Ok(r)),
            Err(e) => return (text, Err(e)),
        }
    }
    panic!("stream ended without Done or an error");
}
