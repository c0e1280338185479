//! The Anthropic Messages API.
//!
//! Follows the public API reference (docs.anthropic.com/en/api/messages and "Streaming
//! Messages"): `POST /v1/messages` with `x-api-key` and `anthropic-version` headers, the system
//! prompt as a top-level `system` field, images as base64 `image` blocks, `max_tokens`
//! required; streams are server-sent events `message_start`, `content_block_start`,
//! `content_block_delta` (`text_delta`), `content_block_stop`, `message_delta` (stop reason and
//! output usage), `message_stop`, with `ping` and `error` events between.
//!
//! Structured output is a forced tool ("Tool use", docs.anthropic.com/en/docs/build-with-claude/
//! tool-use: `tools: [{name, description, input_schema}]`, `tool_choice: {"type": "tool",
//! "name": ...}`, and the answer a `tool_use` content block whose `input` follows the schema):
//! the schema becomes the `input_schema` of a tool `respond` the model must call, and the
//! block's `input` is the answer. `input_schema` must be an object schema, so any other schema
//! is wrapped as `{"value": ...}` and unwrapped again. Streamed, the input arrives as
//! `input_json_delta` events whose `partial_json` pieces concatenate to it: those pieces are
//! the deltas the caller sees (held back and given whole when the answer is unwrapped). An
//! answer without the tool call, or whose input does not match the caller's schema, is
//! [`Error::InvalidOutput`]. JSON without a schema is asked for in the system prompt.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::structured::{self, Structured, TOOL_DESCRIPTION, TOOL_NAME};
use crate::tls::Tls;
use crate::{
    ApiKey, ChatRequest, ChatResponse, ChatStream, EmbedRequest, EmbedResponse, Error, Part, Provider, Result, Role,
    StreamEvent, Usage, wire,
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

    async fn send(
        &self,
        req: &ChatRequest,
        st: &Structured,
        key: Option<&ApiKey>,
        stream: bool,
    ) -> Result<(reqwest::Response, u64)> {
        let key = key.ok_or_else(|| Error::NoKey { provider: self.ep.name.clone() })?;
        let headers = [("x-api-key", key.expose()), ("anthropic-version", API_VERSION)];
        self.ep.post("/v1/messages", &headers, &request_body(req, st, stream)).await
    }
}

impl Provider for Anthropic {
    fn name(&self) -> &str {
        &self.ep.name
    }

    async fn chat(&self, req: &ChatRequest, key: Option<&ApiKey>) -> Result<ChatResponse> {
        let st = structured::forced_tool(&req.output);
        let (response, sent) = self.send(req, &st, key, false).await?;
        let (v, received) = self.ep.read_json(response).await?;
        let blocks = v["content"].as_array().ok_or_else(|| self.ep.malformed("no content blocks"))?;
        let raw = if st.wire.is_some() {
            let call = blocks.iter().find(|b| b["type"] == "tool_use" && b["name"] == TOOL_NAME);
            call.map(|b| b["input"].to_string()).ok_or_else(|| structured::not_called(&self.ep.name))?
        } else {
            blocks.iter().filter(|b| b["type"] == "text").filter_map(|b| b["text"].as_str()).collect()
        };
        let content = st.answer.finish(&self.ep.name, raw)?;
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
        let st = structured::forced_tool(&req.output);
        let (response, sent) = self.send(req, &st, key, true).await?;
        let forced = st.wire.is_some();
        Ok(wire::chat_stream(StreamState {
            sse: self.ep.sse(response),
            answer: wire::Assembly::new(&self.ep.name, req, sent, st.answer),
            input_tokens: None,
            output_tokens: None,
            tool: forced.then(ToolBlock::default),
        }))
    }

    /// The Messages API has no embeddings.
    async fn embed(&self, _req: &EmbedRequest, _key: Option<&ApiKey>) -> Result<EmbedResponse> {
        Err(Error::Unsupported {
            provider: self.ep.name.clone(),
            detail:
                "embeddings (Anthropic has no embedding endpoint); configure an embedding model of another provider"
                    .to_owned(),
        })
    }
}

struct StreamState {
    sse: wire::SseReader,
    answer: wire::Assembly,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    /// With a forced tool: the `respond` block whose input is the answer.
    tool: Option<ToolBlock>,
}

/// The `tool_use` block of `respond` in a stream.
#[derive(Default)]
struct ToolBlock {
    /// Its content block index, once `content_block_start` named it.
    index: Option<u64>,
    /// The `input` of `content_block_start` (`{}`), the answer if no delta follows.
    start_input: Value,
    /// Whether `input_json_delta` carried any of the input.
    streamed: bool,
}

impl wire::NextEvent for StreamState {
    fn assembly(&mut self) -> &mut wire::Assembly {
        &mut self.answer
    }

    async fn next_event(&mut self) -> Result<StreamEvent> {
        loop {
            let ev = self.answer.parse(&self.sse.next().await?)?;
            let provider = || self.answer.provider.clone();
            match ev["type"].as_str().unwrap_or_default() {
                "message_start" => {
                    self.answer.model = ev["message"]["model"].as_str().map(str::to_owned);
                    self.input_tokens = ev["message"]["usage"]["input_tokens"].as_u64();
                }
                "content_block_start" => {
                    let block = &ev["content_block"];
                    if let Some(tool) = &mut self.tool
                        && block["type"] == "tool_use"
                        && block["name"] == TOOL_NAME
                    {
                        tool.index = ev["index"].as_u64();
                        tool.start_input = block["input"].clone();
                    }
                }
                "content_block_delta" => {
                    let piece = match (&mut self.tool, ev["delta"]["type"].as_str()) {
                        (None, Some("text_delta")) => ev["delta"]["text"].as_str(),
                        (Some(tool), Some("input_json_delta"))
                            if tool.index.is_some() && tool.index == ev["index"].as_u64() =>
                        {
                            let piece = ev["delta"]["partial_json"].as_str();
                            tool.streamed |= piece.is_some_and(|p| !p.is_empty());
                            piece
                        }
                        // Text beside a forced tool call is not the answer.
                        _ => None,
                    };
                    if let Some(piece) = piece.filter(|t| !t.is_empty())
                        && let Some(out) = self.answer.delta(piece)
                    {
                        return Ok(out);
                    }
                }
                "content_block_stop" => {
                    if let Some(tool) = &self.tool
                        && tool.index.is_some()
                        && tool.index == ev["index"].as_u64()
                        && !tool.streamed
                    {
                        let whole = tool.start_input.to_string();
                        if let Some(out) = self.answer.delta(&whole) {
                            return Ok(out);
                        }
                    }
                }
                "message_delta" => {
                    self.answer.finish_reason = ev["delta"]["stop_reason"].as_str().map(str::to_owned);
                    self.output_tokens = ev["usage"]["output_tokens"].as_u64();
                }
                "message_stop" => {
                    if self.tool.as_ref().is_some_and(|t| t.index.is_none()) {
                        return Err(structured::not_called(&self.answer.provider));
                    }
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
                _ => {} // ping
            }
        }
    }
}

/// The JSON body of a Messages request.
fn request_body(req: &ChatRequest, st: &Structured, stream: bool) -> Value {
    let mut system: Vec<String> = req
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .flat_map(|m| &m.parts)
        .filter_map(|p| if let Part::Text(t) = p { Some(t.clone()) } else { None })
        .collect();
    system.extend(st.instruction.clone());
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
    if let Some(schema) = &st.wire {
        body["tools"] = json!([{"name": TOOL_NAME, "description": TOOL_DESCRIPTION, "input_schema": schema}]);
        body["tool_choice"] = json!({"type": "tool", "name": TOOL_NAME});
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
    use crate::{Message, OutputFormat};

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
            output: OutputFormat::Json { schema: None },
        };
        let b = request_body(&req, &structured::forced_tool(&req.output), true);
        assert_eq!(b["max_tokens"], DEFAULT_MAX_TOKENS);
        assert!(b["system"].as_str().unwrap().starts_with("be brief\n\nAnswer with a single JSON object"));
        assert!(b.get("tools").is_none(), "no schema, no tool");
        assert_eq!(b["messages"].as_array().unwrap().len(), 1, "system messages move to `system`");
        assert_eq!(
            b["messages"][0]["content"][1]["source"],
            json!({"type": "base64", "media_type": "image/png", "data": "AQID"})
        );
        assert_eq!(b["stream"], true);
    }

    #[test]
    fn a_schema_is_a_forced_tool_with_an_object_input_schema() {
        let schema = json!({"type": "object", "required": ["total"], "properties": {"total": {"type": "number"}}});
        let req = ChatRequest {
            model: "claude".into(),
            messages: vec![Message::text(Role::System, "be brief"), Message::text(Role::User, "sum")],
            output: OutputFormat::Json { schema: Some(schema.clone()) },
            ..Default::default()
        };
        let b = request_body(&req, &structured::forced_tool(&req.output), false);
        assert_eq!(b["tool_choice"], json!({"type": "tool", "name": "respond"}));
        assert_eq!(b["tools"][0]["name"], "respond");
        assert_eq!(b["tools"][0]["input_schema"], schema);
        assert_eq!(b["system"], "be brief", "the tool carries the schema; no instruction");
        let list = ChatRequest { output: OutputFormat::Json { schema: Some(json!({"type": "array"})) }, ..req };
        let b = request_body(&list, &structured::forced_tool(&list.output), false);
        assert_eq!(b["tools"][0]["input_schema"]["type"], "object");
        assert_eq!(b["tools"][0]["input_schema"]["properties"]["value"], json!({"type": "array"}));
    }
}
