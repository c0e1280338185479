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
//!
//! Function calling (the same "Tool use" guide): the caller's tools go as `tools` with
//! `tool_choice` `auto`, `any` (required), `tool` (one by name) or `none`, and
//! `disable_parallel_tool_use` when parallel calls are refused; calls come back as `tool_use`
//! blocks (streamed as `content_block_start` then `input_json_delta` pieces) and results go
//! back as `tool_result` blocks in the next user turn. Tools beside a JSON Schema are refused
//! (the schema is itself a forced tool).

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::structured::{self, Structured, TOOL_DESCRIPTION, TOOL_NAME};
use crate::tls::Tls;
use crate::tools::{self, ToolCall, ToolCallDelta, ToolChoice};
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
        tools::refuse_beside_schema(&self.ep.name, req)?;
        let st = structured::forced_tool(&req.output);
        let (response, sent) = self.send(req, &st, key, false).await?;
        let (v, received) = self.ep.read_json(response).await?;
        let blocks = v["content"].as_array().ok_or_else(|| self.ep.malformed("no content blocks"))?;
        let mut tool_calls = Vec::new();
        let raw = if st.wire.is_some() {
            let call = blocks.iter().find(|b| b["type"] == "tool_use" && b["name"] == TOOL_NAME);
            call.map(|b| b["input"].to_string()).ok_or_else(|| structured::not_called(&self.ep.name))?
        } else {
            for (i, b) in blocks.iter().filter(|b| b["type"] == "tool_use").enumerate() {
                let name = b["name"].as_str().ok_or_else(|| self.ep.malformed("a tool_use block without a name"))?;
                let id = b["id"].as_str().map_or_else(|| tools::made_up_id(i), str::to_owned);
                tool_calls.push(ToolCall { id, name: name.to_owned(), arguments: b["input"].to_string() });
            }
            blocks.iter().filter(|b| b["type"] == "text").filter_map(|b| b["text"].as_str()).collect()
        };
        let content = st.answer.finish(&self.ep.name, raw, &tool_calls)?;
        Ok(ChatResponse {
            tool_calls,
            usage: usage(&v["usage"]).ok_or_else(|| self.ep.malformed("no usage in the message"))?,
            model: v["model"].as_str().unwrap_or(&req.model).to_owned(),
            finish_reason: v["stop_reason"].as_str().map(str::to_owned),
            bytes_sent: sent,
            bytes_received: received,
            content,
        })
    }

    async fn chat_stream(&self, req: &ChatRequest, key: Option<&ApiKey>) -> Result<ChatStream> {
        tools::refuse_beside_schema(&self.ep.name, req)?;
        let st = structured::forced_tool(&req.output);
        let (response, sent) = self.send(req, &st, key, true).await?;
        let forced = st.wire.is_some();
        Ok(wire::chat_stream(StreamState {
            sse: self.ep.sse(response),
            answer: wire::Assembly::new(&self.ep.name, req, sent, st.answer),
            input_tokens: None,
            output_tokens: None,
            tool: forced.then(ToolBlock::default),
            calls: Vec::new(),
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
    /// The caller's tools called so far: each call's block.
    calls: Vec<ToolBlock>,
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

impl StreamState {
    /// The call (its place among the answer's calls) whose content block is at `block`.
    fn call_at(&self, block: Option<u64>) -> Option<usize> {
        block.and_then(|b| self.calls.iter().position(|c| c.index == Some(b)))
    }
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
                    } else if self.tool.is_none() && block["type"] == "tool_use" {
                        let index = self.calls.len();
                        self.calls.push(ToolBlock {
                            index: ev["index"].as_u64(),
                            start_input: block["input"].clone(),
                            streamed: false,
                        });
                        let piece = ToolCallDelta {
                            index,
                            id: Some(block["id"].as_str().map_or_else(|| tools::made_up_id(index), str::to_owned)),
                            name: Some(block["name"].as_str().unwrap_or_default().to_owned()),
                            arguments: String::new(),
                        };
                        return Ok(self.answer.tool_call(piece));
                    }
                }
                "content_block_delta" => {
                    if let Some(index) = self.call_at(ev["index"].as_u64())
                        && ev["delta"]["type"] == "input_json_delta"
                    {
                        let arguments = ev["delta"]["partial_json"].as_str().unwrap_or_default().to_owned();
                        if arguments.is_empty() {
                            continue;
                        }
                        self.calls[index].streamed = true;
                        return Ok(self.answer.tool_call(ToolCallDelta { index, id: None, name: None, arguments }));
                    }
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
                    if let Some(index) = self.call_at(ev["index"].as_u64()) {
                        let call = &self.calls[index];
                        let whole = &call.start_input;
                        if !call.streamed && whole.as_object().is_some_and(|o| !o.is_empty()) {
                            let arguments = whole.to_string();
                            return Ok(self.answer.tool_call(ToolCallDelta { index, id: None, name: None, arguments }));
                        }
                        continue;
                    }
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
    let mut messages: Vec<Value> = Vec::new();
    for m in req.messages.iter().filter(|m| m.role != Role::System) {
        let role = if m.role == Role::Assistant { "assistant" } else { "user" };
        let content: Vec<Value> = m
            .parts
            .iter()
            .filter(|p| !matches!(p, Part::Text(t) if t.is_empty()))
            .map(|p| match p {
                Part::Text(t) => json!({"type": "text", "text": t}),
                Part::Image { mime_type, data } => json!({"type": "image",
                    "source": {"type": "base64", "media_type": mime_type, "data": STANDARD.encode(data)}}),
                Part::ToolCall(c) => json!({"type": "tool_use", "id": c.id, "name": c.name,
                    "input": tools::arguments_object(&c.arguments)}),
                Part::ToolResult { call_id, content } => {
                    json!({"type": "tool_result", "tool_use_id": call_id, "content": content})
                }
            })
            .collect();
        // Results of several calls (one tool message each) go back as one user turn.
        match messages.last_mut().filter(|last| last["role"] == role).and_then(|last| last["content"].as_array_mut()) {
            Some(earlier) => earlier.extend(content),
            None => messages.push(json!({"role": role, "content": content})),
        }
    }
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
    } else if !req.tools.is_empty() {
        let declared: Vec<Value> =
            req.tools.iter().map(|t| t.declared("input_schema", t.parameters().clone())).collect();
        body["tools"] = json!(declared);
        let mut choice = match &req.tool_choice {
            ToolChoice::Auto => json!({"type": "auto"}),
            ToolChoice::None => json!({"type": "none"}),
            ToolChoice::Required => json!({"type": "any"}),
            ToolChoice::Function(name) => json!({"type": "tool", "name": name}),
        };
        if req.parallel_tool_calls == Some(false) && req.tool_choice != ToolChoice::None {
            choice["disable_parallel_tool_use"] = json!(true);
        }
        body["tool_choice"] = choice;
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
            ..Default::default()
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
