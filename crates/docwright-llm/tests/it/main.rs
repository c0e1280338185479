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
mod tools;

use std::time::Duration;

use docwright_llm::anthropic::Anthropic;
use docwright_llm::gemini::Gemini;
use docwright_llm::gigachat::{GigaChat, Mode};
use docwright_llm::openai::OpenAiCompatible;
use docwright_llm::testing::{FakeOpenAi, GigaChatAuth};
use docwright_llm::tls::Tls;
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
            // Tool calls arrive whole in `Done`; `tools.rs` checks the pieces.
            Ok(StreamEvent::ToolCall(_)) => {}
            Err(e) => return (text, Err(e)),
        }
    }
    panic!("stream ended without Done or an error");
}

/// The four wire protocols, for tests that run the same case on each.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Protocol {
    OpenAi,
    Anthropic,
    Gemini,
    GigaChat,
}

pub const ALL: [Protocol; 4] = [Protocol::OpenAi, Protocol::Anthropic, Protocol::Gemini, Protocol::GigaChat];
pub const GIGACHAT_KEY: &str = "Y2xpZW50LWlkOmNsaWVudC1zZWNyZXQ=";

pub async fn provider(fake: &FakeOpenAi, protocol: Protocol) -> AnyProvider {
    let t = Duration::from_secs(5);
    match protocol {
        Protocol::OpenAi => AnyProvider::OpenAi(OpenAiCompatible::new("openai", &fake.base_url, t).unwrap()),
        Protocol::Anthropic => AnyProvider::Anthropic(Anthropic::new("anthropic", &fake.anthropic_url, t).unwrap()),
        Protocol::Gemini => AnyProvider::Gemini(Gemini::new("gemini", &fake.anthropic_url, t).unwrap()),
        Protocol::GigaChat => {
            fake.require_gigachat_auth(GigaChatAuth {
                authorization_key: GIGACHAT_KEY.into(),
                scope: "GIGACHAT_API_PERS".into(),
                token_lifetime: Duration::from_secs(3600),
            });
            let mode = Mode::Cloud { auth_url: fake.oauth_url.clone(), scope: "GIGACHAT_API_PERS".into() };
            AnyProvider::GigaChat(GigaChat::new("gigachat", &fake.gigachat_url, t, mode, &Tls::default()).unwrap())
        }
    }
}

pub fn key(protocol: Protocol) -> ApiKey {
    ApiKey::new(if protocol == Protocol::GigaChat { GIGACHAT_KEY } else { "test-key" })
}
