//! AI providers on their real wire protocols, behind one trait (SPEC A1).
//!
//! This crate knows how to talk to a provider and nothing else: no routing, no fallback, no
//! prices, no database (those belong to the gateway in `docwright-engine`). It never logs
//! prompts, answers or keys.
//!
//! - [`Provider`]: blocking and streaming chat calls. [`AnyProvider`] is the closed set of
//!   implementations, one module each: [`openai`] (OpenAI-compatible chat completions: OpenAI,
//!   xAI, Mistral, Perplexity, vLLM, Ollama, llama.cpp), [`anthropic`] (Messages API),
//!   [`gemini`] (Generative Language API), [`gigachat`] (Sber's OpenAI-like API, reusing
//!   [`openai`]'s request and stream handling, with an OAuth token exchange or mutual TLS) and
//!   [`dryrun`] (no network, deterministic, output of the requested shape). `wire` holds the
//!   HTTP and server-sent-event plumbing they share; [`tls`] the optional TLS settings (extra
//!   trusted CAs, client certificate) any HTTP provider can be built with.
//! - [`ChatRequest`] / [`ChatResponse`] / [`StreamEvent`]: the provider-neutral call.
//! - [`Tool`] / [`ToolChoice`] / [`ToolCall`]: function calling ([`tools`]): tools the caller
//!   declares, the model's calls of them ([`Part::ToolCall`] in an assistant message) and what
//!   they returned ([`Part::ToolResult`] in a [`Role::Tool`] message), on every protocol.
//! - [`EmbedRequest`] / [`EmbedResponse`]: embeddings, one vector per text ([`embed`]).
//! - [`Error`]: what went wrong, with [`Error::is_retryable`] for the gateway's fallback.
//! - [`schema`]: the JSON Schema subset of structured output and its check. `structured`
//!   turns a schema into what each protocol enforces natively (OpenAI's strict
//!   `response_format`, a forced tool on Anthropic, Gemini's `responseJsonSchema`, a forced
//!   function on GigaChat) and each answer back into the caller's shape, checked.

pub mod anthropic;
pub mod dryrun;
pub mod embed;
pub mod gemini;
pub mod gigachat;
pub mod openai;
pub mod schema;
mod structured;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls;
pub mod tools;
mod wire;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::Stream;

pub use embed::{EmbedRequest, EmbedResponse};
pub use tools::{Tool, ToolCall, ToolCallDelta, ToolChoice};

/// Who speaks a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
    /// What a tool call returned: a message of [`Part::ToolResult`]s.
    Tool,
}

/// A piece of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Text(String),
    /// An image for vision-capable models.
    Image {
        mime_type: String,
        data: Vec<u8>,
    },
    /// In an assistant message: the model called one of the request's tools.
    ToolCall(ToolCall),
    /// In a [`Role::Tool`] message: what the call `call_id` returned (text, often JSON).
    ToolResult {
        call_id: String,
        content: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub role: Role,
    pub parts: Vec<Part>,
}

impl Message {
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self { role, parts: vec![Part::Text(text.into())] }
    }
}

/// The shape the answer must have.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum OutputFormat {
    #[default]
    Text,
    /// A JSON value; with a schema (the subset of [`schema`]), one that satisfies it. Each
    /// protocol enforces the schema its own way; every answer is checked on return.
    Json { schema: Option<serde_json::Value> },
}

/// A provider-neutral chat call.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    /// The provider's own model id.
    pub model: String,
    pub messages: Vec<Message>,
    pub max_output_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub output: OutputFormat,
    /// Functions the model may call (see [`tools`]); none by default.
    pub tools: Vec<Tool>,
    /// Whether and which tool the model must call (only with `tools`).
    pub tool_choice: ToolChoice,
    /// `Some(false)`: at most one call per answer (where the protocol can say so).
    pub parallel_tool_calls: Option<bool>,
}

/// Tokens the provider counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// True when the provider did not report usage and it was estimated from the text.
    pub estimated: bool,
}

/// A finished call.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatResponse {
    pub content: String,
    /// The model that answered, as the provider names it.
    pub model: String,
    pub usage: Usage,
    pub finish_reason: Option<String>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// The tools the model called, in order (then `finish_reason` is `tool_calls`).
    pub tool_calls: Vec<ToolCall>,
}

/// One event of a streamed call: text and tool calls as they arrive, then the whole response
/// once.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Delta(String),
    /// A piece of a tool call: the first piece of each call names it.
    ToolCall(ToolCallDelta),
    Done(ChatResponse),
}

pub type ChatStream = Pin<Box<dyn Stream<Item = Result<StreamEvent>> + Send>>;

/// A provider API key. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

/// What went wrong in a call. Messages name the provider and never contain keys or prompts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("no API key configured for provider {provider}")]
    NoKey { provider: String },
    #[error("{provider}: no answer within {after:?}")]
    Timeout { provider: String, after: Duration },
    #[error("{provider}: rate limited{}", retry_after.map(|d| format!(", retry after {}s", d.as_secs())).unwrap_or_default())]
    RateLimited { provider: String, retry_after: Option<Duration> },
    #[error("{provider}: upstream answered {status}: {message}")]
    Upstream { provider: String, status: u16, message: String },
    #[error("{provider}: malformed response: {detail}")]
    Malformed { provider: String, detail: String },
    #[error("{provider}: the stream ended before the answer was complete")]
    Truncated { provider: String },
    #[error("{provider}: output does not have the requested shape: {detail}")]
    InvalidOutput { provider: String, detail: String },
    #[error("{provider}: connection failed: {detail}")]
    Transport { provider: String, detail: String },
    /// The provider cannot be built as configured (unreadable TLS file, wrong key password...).
    #[error("{provider}: {detail}")]
    Config { provider: String, detail: String },
    /// The request asks for something this provider does not do (such as images on GigaChat).
    #[error("{provider}: not supported: {detail}")]
    Unsupported { provider: String, detail: String },
}

impl Error {
    /// Whether another attempt (this model later, or the next candidate) may succeed
    /// (SPEC A3: timeouts, 429, 5xx, malformed output).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::NoKey { .. } | Error::Config { .. } | Error::Unsupported { .. } => false,
            Error::Upstream { status, .. } => *status >= 500 || *status == 408,
            Error::Timeout { .. }
            | Error::RateLimited { .. }
            | Error::Malformed { .. }
            | Error::Truncated { .. }
            | Error::InvalidOutput { .. }
            | Error::Transport { .. } => true,
        }
    }

    /// A stable name of the kind of failure, for statistics and metrics: `no_key`, `timeout`,
    /// `rate_limited`, `upstream_4xx`, `upstream_5xx`, `malformed`, `truncated`,
    /// `invalid_output`, `transport`, `config`, `unsupported`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::NoKey { .. } => "no_key",
            Error::Timeout { .. } => "timeout",
            Error::RateLimited { .. } => "rate_limited",
            Error::Upstream { status, .. } if *status >= 500 => "upstream_5xx",
            Error::Upstream { .. } => "upstream_4xx",
            Error::Malformed { .. } => "malformed",
            Error::Truncated { .. } => "truncated",
            Error::InvalidOutput { .. } => "invalid_output",
            Error::Transport { .. } => "transport",
            Error::Config { .. } => "config",
            Error::Unsupported { .. } => "unsupported",
        }
    }

    /// How long the provider asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One wire protocol.
pub trait Provider {
    /// The configured name (`openai`, `local-vllm`, ...), used in errors and permissions.
    fn name(&self) -> &str;

    /// A complete answer.
    fn chat(&self, req: &ChatRequest, key: Option<&ApiKey>) -> impl Future<Output = Result<ChatResponse>> + Send;

    /// The answer as it is produced, ending with [`StreamEvent::Done`].
    fn chat_stream(&self, req: &ChatRequest, key: Option<&ApiKey>) -> impl Future<Output = Result<ChatStream>> + Send;

    /// One vector per input ([`Error::Unsupported`] where the protocol has no embeddings).
    fn embed(&self, req: &EmbedRequest, key: Option<&ApiKey>) -> impl Future<Output = Result<EmbedResponse>> + Send;
}

/// Every provider docwright speaks (a closed set, selected by `type` in configuration).
#[derive(Debug, Clone)]
pub enum AnyProvider {
    OpenAi(openai::OpenAiCompatible),
    Anthropic(anthropic::Anthropic),
    Gemini(gemini::Gemini),
    GigaChat(gigachat::GigaChat),
    DryRun(dryrun::DryRun),
}

impl AnyProvider {
    /// The protocol, as configuration names it.
    pub fn kind(&self) -> &'static str {
        match self {
            AnyProvider::OpenAi(_) => "openai_compatible",
            AnyProvider::Anthropic(_) => "anthropic",
            AnyProvider::Gemini(_) => "gemini",
            AnyProvider::GigaChat(_) => "gigachat",
            AnyProvider::DryRun(_) => "dryrun",
        }
    }
}

impl Provider for AnyProvider {
    fn name(&self) -> &str {
        match self {
            AnyProvider::OpenAi(p) => p.name(),
            AnyProvider::Anthropic(p) => p.name(),
            AnyProvider::Gemini(p) => p.name(),
            AnyProvider::GigaChat(p) => p.name(),
            AnyProvider::DryRun(p) => p.name(),
        }
    }

    async fn chat(&self, req: &ChatRequest, key: Option<&ApiKey>) -> Result<ChatResponse> {
        match self {
            AnyProvider::OpenAi(p) => p.chat(req, key).await,
            AnyProvider::Anthropic(p) => p.chat(req, key).await,
            AnyProvider::Gemini(p) => p.chat(req, key).await,
            AnyProvider::GigaChat(p) => p.chat(req, key).await,
            AnyProvider::DryRun(p) => p.chat(req, key).await,
        }
    }

    async fn chat_stream(&self, req: &ChatRequest, key: Option<&ApiKey>) -> Result<ChatStream> {
        match self {
            AnyProvider::OpenAi(p) => p.chat_stream(req, key).await,
            AnyProvider::Anthropic(p) => p.chat_stream(req, key).await,
            AnyProvider::Gemini(p) => p.chat_stream(req, key).await,
            AnyProvider::GigaChat(p) => p.chat_stream(req, key).await,
            AnyProvider::DryRun(p) => p.chat_stream(req, key).await,
        }
    }

    async fn embed(&self, req: &EmbedRequest, key: Option<&ApiKey>) -> Result<EmbedResponse> {
        match self {
            AnyProvider::OpenAi(p) => p.embed(req, key).await,
            AnyProvider::Anthropic(p) => p.embed(req, key).await,
            AnyProvider::Gemini(p) => p.embed(req, key).await,
            AnyProvider::GigaChat(p) => p.embed(req, key).await,
            AnyProvider::DryRun(p) => p.embed(req, key).await,
        }
    }
}

/// A rough token count for text whose usage the provider did not report: one token per four
/// bytes of UTF-8, the usual rule of thumb for BPE tokenizers on mixed text.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4)
}
