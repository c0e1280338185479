//! The Anthropic Messages API.
//!
//! Follows the public API reference (docs.anthropic.com/en/api/messages and "Streaming
//! Messages"): `POST /v1/messages` with `x-api-key` and `anthropic-version` headers, the system
//! prompt as a top-level `system` field, images as base64 `image` blocks, `max_tokens`
//! required; streams are server-sent events `message_start`, `content_block_start`,
//! `content_block_delta` (`text_delta`), `content_block_stop`, `message_delta` (stop reason and
//! output usage), `message_stop`, with `ping` and `error` events between.
//!
//! The Messages API has no JSON response mode: JSON requests get an instruction (with the
//! schema) appended to the system prompt, and the answer is checked on return like any other.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::tls::Tls;
use crate::{
    ApiKey, ChatRequest, ChatResponse, ChatStream, Error, OutputFormat, Part, Provider, Result, Role, StreamEvent,
    Usage, check_output, wire,
};

/// The protocol version this client speaks.
pub const API_VERSION: &str = "2023-06-01";

/// `max_tokens` is required by the API; used when a request sets none.
const DEFAULT_MAX_TOKENS: u32 = 4096;

/// A provider speaking the Anthropic Messages API.
#[derive(Debug, Clone)]
pub struct Anthropic {
    ep: wire::Endpoint,
}

impl Anthropic {
    /// `base_url` without the version path, e.g. `https://api.anthropic.com`.
    pub fn new(name: impl Into<String>, base_url: &str, timeout: Duration) -> Result<Self> {
        Self::with_tls(name, base_url, timeout, &Tls::default())
    }

    /// With extra trusted CAs and/or a client certificate (see [`crate::tls`]).
    pub fn with_tls(name: impl Into<String>, base_url: &str, timeout: Duration, tls: &Tls) -> Result<Self> {
        Ok(Self { ep: wire::Endpoint::with_tls(name.into(), base_url, timeout, tls)? })
    }

    async fn send(&self, req: &ChatRequest, key: Option<&ApiKey>, stream: bool) -> Result<(reqwest::Response, u64)> {
        let key = key.ok_or_else(|| Error::NoKey { provider: self.ep.name.clone() })?;
        let headers = [("x-api-key", key.expose()), ("anthropic-version", API_VERSION)];
        self.ep.post("/v1/messages", &headers, &request_body(req, stream)).await
    }
}

impl Provider for Anthropic {
    fn name(&self) -> &str {
        &self.ep.name
    }

    async fn chat(&self, req: &ChatRequest, key: Option<&ApiKey>) -> Result<ChatResponse> {
        let (response, sent) = self.send(req, key, false).await?;
        let (v, received) = self.ep.read_json(response).await?;
        let blocks = v["content"].as_array().ok_or_else(|| self.ep.malformed("no content blocks"))?;
        let content: String =
            blocks.iter().filter(|b| b["type"] == "text").filter_map(|b| b["text"].as_str()).collect();
        check_output(&self.ep.name, &req.output, &content)?;
        Ok(ChatResponse {
            usage: usage(&v["usage"]).ok_or_else(|| self.ep.malformed("no usage in the message"))?,
            model: v["model"].as_str().unwrap_or(&req.model).to_owned(),
            finish_reason: v["stop_reason"].as_str().map(str::to_owned),
            bytes_sent: sent,
            bytes_received: received,
            content,
        })
    }

    async fn chat_stream(&self, req: &ChatRequest, key: Option<&ApiKey>) -> Result<ChatStream> {
        let (response, sent) = self.send(req, key, true).await?;
        Ok(wire::chat_stream(StreamState {
            sse: self.ep.sse(response),
            answer: wire::Assembly::new(&self.ep.name, req, sent),
            input_tokens: None,
            output_tokens: None,
        }))
    }
}

struct StreamState {
    sse: wire::SseReader,
    answer: wire::Assembly,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
}

impl wire::NextEvent for StreamState {
    async fn next_event(&mut self) -> Result<StreamEvent> {
        loop {
            let ev = self.answer.parse(&self.sse.next().await?)?;
            let provider = || self.answer.provider.clone();
            match ev["type"].as_str().unwrap_or_default() {
                "message_start" => {
                    self.answer.model = ev["message"]["model"].as_str().map(str::to_owned);
                    self.input_tokens = ev["message"]["usage"]["input_tokens"].as_u64();
                }
                "content_block_delta" => {
                    if let Some(text) = ev["delta"]["text"].as_str().filter(|t| !t.is_empty()) {
                        return self.answer.delta(text);
                    }
                }
                "message_delta" => {
                    self.answer.finish_reason = ev["delta"]["stop_reason"].as_str().map(str::to_owned);
                    self.output_tokens = ev["usage"]["output_tokens"].as_u64();
                }
                "message_stop" => {
                    let (Some(input), Some(output)) = (self.input_tokens, self.output_tokens) else {
                        let detail = "the stream carried no usage".to_owned();
                        return Err(Error::Malformed { provider: provider(), detail });
                    };
                    let usage = Usage { input_tokens: input, output_tokens: output, estimated: false };
                    return self.answer.done(usage, self.sse.received());
                }
                "error" => {
                    let message = ev["error"]["message"].as_str().unwrap_or("stream error").to_owned();
                    // `overloaded_error` mid-stream is Anthropic's 529.
                    let status = if ev["error"]["type"] == "overloaded_error" { 529 } else { 500 };
                    return Err(Error::Upstream { provider: provider(), status, message });
                }
                _ => {} // ping, content_block_start, content_block_stop
            }
        }
    }
}

/// The JSON body of a Messages request.
fn request_body(req: &ChatRequest, stream: bool) -> Value {
    let mut system: Vec<String> = req
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .flat_map(|m| &m.parts)
        .filter_map(|p| if let Part::Text(t) = p { Some(t.clone()) } else { None })
        .collect();
    if let OutputFormat::Json { schema } = &req.output {
        system.push(crate::json_instruction(schema.as_ref()));
    }
    let messages: Vec<Value> = req
        .messages
        .iter()
        .filter(|m| m.role != Role::System)
        .map(|m| {
            let role = if m.role == Role::Assistant { "assistant" } else { "user" };
            let content: Vec<Value> = m
                .parts
                .iter()
                .map(|p| match p {
                    Part::Text(t) => json!({"type": "text", "text": t}),
                    Part::Image { mime_type, data } => json!({"type": "image",
                        "source": {"type": "base64", "media_type": mime_type, "data": STANDARD.encode(data)}}),
                })
                .collect();
            json!({"role": role, "content": content})
        })
        .collect();
    let mut body = json!({
        "model": req.model,
        "max_tokens": req.max_output_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "messages": messages,
    });
    if !system.is_empty() {
        body["system"] = json!(system.join("\n\n"));
    }
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    if stream {
        body["stream"] = json!(true);
    }
    body
}

fn usage(v: &Value) -> Option<Usage> {
    Some(Usage {
        input_tokens: v["input_tokens"].as_u64()?,
        output_tokens: v["output_tokens"].as_u64()?,
        estimated: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;

    #[test]
    fn request_body_follows_the_reference() {
        let req = ChatRequest {
            model: "claude-sonnet".into(),
            messages: vec![
                Message::text(Role::System, "be brief"),
                Message {
                    role: Role::User,
                    parts: vec![
                        Part::Text("what is this".into()),
                        Part::Image { mime_type: "image/png".into(), data: vec![1, 2, 3] },
                    ],
                },
            ],
            max_output_tokens: None,
            temperature: None,
            output: OutputFormat::Json { schema: Some(json!({"type": "object"})) },
        };
        let b = request_body(&req, true);
        assert_eq!(b["max_tokens"], DEFAULT_MAX_TOKENS);
        assert!(b["system"].as_str().unwrap().starts_with("be brief\n\nAnswer with a single JSON value"));
        assert_eq!(b["messages"].as_array().unwrap().len(), 1, "system messages move to `system`");
        assert_eq!(
            b["messages"][0]["content"][1]["source"],
            json!({"type": "base64", "media_type": "image/png", "data": "AQID"})
        );
        assert_eq!(b["stream"], true);
    }
}
