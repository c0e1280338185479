//! OpenAI-compatible chat completions: OpenAI, xAI, Mistral, Perplexity and local servers
//! (vLLM, Ollama, llama.cpp) that speak the same protocol under a configurable base URL.
//!
//! Follows the public API reference: "Create chat completion" (`POST /chat/completions`) and
//! "Chat completion chunk" streaming objects, server-sent events ending in `data: [DONE]`
//! (platform.openai.com/docs/api-reference/chat). Usage in streams comes from
//! `stream_options.include_usage`, a final chunk with empty `choices` and a `usage` object.
//!
//! Structured output (platform.openai.com/docs/guides/structured-outputs): a JSON Schema goes
//! as `response_format: {type: "json_schema", json_schema: {name, schema, strict}}`. The schema
//! is first made strict-compatible — every object closed with `additionalProperties: false`
//! and all its properties in `required`, an optional property made nullable — and `strict:
//! true` asks the server to decode only answers that satisfy it; the `null`s that stand for
//! left-out properties are dropped from the answer again, and the caller's own schema is
//! checked. A schema that cannot be strict (a free-form object or map, an untyped value, a
//! keyword strict mode lacks) goes as it is with `strict: false`. A schema that is not an
//! object at its root is wrapped as `{"value": ...}` (strict mode wants an object) and
//! unwrapped on return. A refusal (`message.refusal`) is [`Error::InvalidOutput`], like any
//! answer that does not parse or match, so the gateway falls back. Servers with JSON mode only,
//! or without `response_format` at all, are configured with [`JsonMode`].
//!
//! [`crate::gigachat`] speaks the same protocol with a few differences in the request (the
//! `Dialect`), so it wraps this provider instead of repeating it.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::structured::{self, Structured, TOOL_DESCRIPTION, TOOL_NAME};
use crate::tls::Tls;
use crate::tools::{self, ToolCall, ToolCallDelta, ToolChoice};
use crate::{
    ApiKey, ChatRequest, ChatResponse, ChatStream, EmbedRequest, EmbedResponse, Error, Part, Provider, Result, Role,
    StreamEvent, Usage, embed, estimate_tokens, wire,
};

/// A provider speaking the OpenAI chat completions protocol.
#[derive(Debug, Clone)]
pub struct OpenAiCompatible {
    ep: wire::Endpoint,
    dialect: Dialect,
    json_mode: JsonMode,
}

/// How a server is asked for JSON output (configuration: the provider's `response_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JsonMode {
    /// `response_format: json_schema`, strict where the schema allows (OpenAI, xAI, Mistral,
    /// vLLM, Ollama, llama.cpp); without a schema `json_object`.
    #[default]
    Schema,
    /// `response_format: json_object`, the schema in the system prompt: servers with a JSON
    /// mode but no schemas.
    Object,
    /// No `response_format`; the schema in the system prompt: servers that refuse the field.
    Instruction,
}

/// Which variant of the protocol a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    OpenAi,
    /// GigaChat (developers.sber.ru/docs/ru/gigachat/api/reference/rest/post-chat): message
    /// `content` is a string, the system prompt is one message that comes first, there is no
    /// `stream_options`, and a schema is enforced by forcing a function (`functions` and
    /// `function_call`) whose arguments are the answer.
    GigaChat,
}

impl OpenAiCompatible {
    /// `base_url` up to and including the version, e.g. `https://api.openai.com/v1`.
    pub fn new(name: impl Into<String>, base_url: &str, timeout: Duration) -> Result<Self> {
        Self::with_tls(name, base_url, timeout, &Tls::default())
    }

    /// With extra trusted CAs and/or a client certificate, e.g. for a self-hosted server
    /// behind an internal CA (see [`crate::tls`]).
    pub fn with_tls(name: impl Into<String>, base_url: &str, timeout: Duration, tls: &Tls) -> Result<Self> {
        Ok(Self::from_endpoint(wire::Endpoint::with_tls(name.into(), base_url, timeout, tls)?, Dialect::OpenAi))
    }

    pub(crate) fn from_endpoint(ep: wire::Endpoint, dialect: Dialect) -> Self {
        Self { ep, dialect, json_mode: JsonMode::default() }
    }

    /// How this server is asked for JSON (the default: [`JsonMode::Schema`]).
    pub fn with_json_mode(mut self, mode: JsonMode) -> Self {
        self.json_mode = mode;
        self
    }

    /// How `req`'s output format travels in this dialect.
    fn structured(&self, req: &ChatRequest) -> Structured {
        match self.dialect {
            Dialect::OpenAi => structured::openai(&req.output, self.json_mode),
            Dialect::GigaChat => structured::forced_tool(&req.output),
        }
    }

    pub(crate) fn endpoint(&self) -> &wire::Endpoint {
        &self.ep
    }

    async fn send(
        &self,
        req: &ChatRequest,
        st: &Structured,
        bearer: Option<&str>,
        stream: bool,
    ) -> Result<(reqwest::Response, u64)> {
        let auth = bearer.map(|token| format!("Bearer {token}"));
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
        self.ep.post("/chat/completions", &headers, &request_body(req, st, stream, self.dialect)).await
    }

    /// A complete answer, with `bearer` (an API key or an access token) if given.
    pub(crate) async fn chat_as(&self, req: &ChatRequest, bearer: Option<&str>) -> Result<ChatResponse> {
        self.check_tools(req)?;
        let st = self.structured(req);
        let (response, sent) = self.send(req, &st, bearer, false).await?;
        let (v, received) = self.ep.read_json(response).await?;
        let malformed = |detail: &str| self.ep.malformed(detail);
        let invalid = |detail: &str| Error::InvalidOutput { provider: self.ep.name.clone(), detail: detail.to_owned() };
        let choice = v["choices"].get(0).ok_or_else(|| malformed("no choices"))?;
        let message = &choice["message"];
        let tool_calls = match self.dialect {
            Dialect::OpenAi => openai_tool_calls(message).ok_or_else(|| malformed("a tool call without a name"))?,
            Dialect::GigaChat if !self.forces_function(&st) => gigachat_tool_call(message).into_iter().collect(),
            Dialect::GigaChat => Vec::new(),
        };
        let raw = if self.forces_function(&st) {
            forced_arguments(message).ok_or_else(|| structured::not_called(&self.ep.name))?
        } else if message["refusal"].as_str().is_some_and(|r| !r.is_empty()) {
            // The refusal is the model's text: it stays out of errors, which are logged.
            return Err(invalid("the model refused to answer in the requested format"));
        } else if !tool_calls.is_empty() {
            message["content"].as_str().unwrap_or_default().to_owned()
        } else {
            message["content"].as_str().ok_or_else(|| malformed("no message content"))?.to_owned()
        };
        let usage = usage(&v["usage"]).unwrap_or_else(|| estimated(req, &raw));
        let content = st.answer.finish(&self.ep.name, raw, &tool_calls)?;
        Ok(ChatResponse {
            content,
            tool_calls,
            model: v["model"].as_str().unwrap_or(&req.model).to_owned(),
            usage,
            finish_reason: choice["finish_reason"].as_str().map(str::to_owned),
            bytes_sent: sent,
            bytes_received: received,
        })
    }

    /// The answer as it is produced, with `bearer` if given. Fails before the first event when
    /// the server refuses the request (so a caller may retry it, e.g. with a fresh token).
    pub(crate) async fn chat_stream_as(&self, req: &ChatRequest, bearer: Option<&str>) -> Result<ChatStream> {
        self.check_tools(req)?;
        let st = self.structured(req);
        let (response, sent) = self.send(req, &st, bearer, true).await?;
        let forced = self.forces_function(&st);
        Ok(wire::chat_stream(StreamState {
            sse: self.ep.sse(response),
            answer: wire::Assembly::new(&self.ep.name, req, sent, st.answer),
            usage: None,
            forced,
            called: false,
            queued: std::collections::VecDeque::new(),
        }))
    }

    /// Embeddings (platform.openai.com/docs/api-reference/embeddings: `POST /embeddings` with
    /// `input` an array and `encoding_format: float`; `data[i].embedding` by `index`, usage in
    /// `prompt_tokens`), with `bearer` if given.
    pub(crate) async fn embed_as(&self, req: &EmbedRequest, bearer: Option<&str>) -> Result<EmbedResponse> {
        let auth = bearer.map(|token| format!("Bearer {token}"));
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let body = json!({"model": req.model, "input": req.inputs, "encoding_format": "float"});
        let (response, sent) = self.ep.post("/embeddings", &headers, &body).await?;
        let (v, received) = self.ep.read_json(response).await?;
        let data = v["data"].as_array().ok_or_else(|| self.ep.malformed("no data"))?;
        let mut indexed = Vec::with_capacity(data.len());
        for (n, item) in data.iter().enumerate() {
            let vector = embed::vector_of(&item["embedding"])
                .ok_or_else(|| self.ep.malformed("an embedding that is not an array of numbers"))?;
            indexed.push((item["index"].as_u64().unwrap_or(n as u64), vector));
        }
        indexed.sort_by_key(|(i, _)| *i);
        let vectors = embed::checked(&self.ep.name, req.inputs.len(), indexed.into_iter().map(|(_, v)| v).collect())?;
        let usage = match v["usage"]["prompt_tokens"].as_u64() {
            Some(input_tokens) => Usage { input_tokens, output_tokens: 0, estimated: false },
            None => Usage {
                input_tokens: req.inputs.iter().map(|t| estimate_tokens(t)).sum(),
                output_tokens: 0,
                estimated: true,
            },
        };
        Ok(EmbedResponse {
            vectors,
            model: v["model"].as_str().unwrap_or(&req.model).to_owned(),
            usage,
            bytes_sent: sent,
            bytes_received: received,
        })
    }

    /// Refuses what this dialect cannot send, before any network call.
    pub(crate) fn check_tools(&self, req: &ChatRequest) -> Result<()> {
        if self.dialect == Dialect::GigaChat && !req.tools.is_empty() {
            tools::refuse_beside_schema(&self.ep.name, req)?;
            if req.tool_choice == ToolChoice::Required && req.tools.len() > 1 {
                return Err(Error::Unsupported {
                    provider: self.ep.name.clone(),
                    detail: "tool_choice `required` among several functions (GigaChat can force one named \
                             function, or let the model choose)"
                        .to_owned(),
                });
            }
        }
        Ok(())
    }

    /// Whether the answer comes as the arguments of the forced `respond` function (GigaChat).
    fn forces_function(&self, st: &Structured) -> bool {
        self.dialect == Dialect::GigaChat && st.wire.is_some()
    }
}

/// GigaChat's `function_call` of `respond`: its `arguments` (an object; a string in some
/// answers) as JSON text.
fn forced_arguments(message: &Value) -> Option<String> {
    let call = &message["function_call"];
    if call["name"].as_str() != Some(TOOL_NAME) {
        return None;
    }
    match &call["arguments"] {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        args => Some(args.to_string()),
    }
}

/// The `tool_calls` of an OpenAI message (none when absent); `None` when a call has no name.
fn openai_tool_calls(message: &Value) -> Option<Vec<ToolCall>> {
    let Some(calls) = message["tool_calls"].as_array() else { return Some(Vec::new()) };
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let name = c["function"]["name"].as_str().filter(|n| !n.is_empty())?.to_owned();
            let arguments = match &c["function"]["arguments"] {
                Value::String(s) => s.clone(),
                Value::Null => "{}".to_owned(),
                other => other.to_string(),
            };
            let id = c["id"].as_str().map_or_else(|| tools::made_up_id(i), str::to_owned);
            Some(ToolCall { id, name, arguments })
        })
        .collect()
}

/// GigaChat's `function_call` of a caller's function (one per answer, without an id).
fn gigachat_tool_call(message: &Value) -> Option<ToolCall> {
    let call = &message["function_call"];
    let name = call["name"].as_str().filter(|n| !n.is_empty() && *n != TOOL_NAME)?.to_owned();
    let arguments = match &call["arguments"] {
        Value::String(s) => s.clone(),
        Value::Null => "{}".to_owned(),
        args => args.to_string(),
    };
    Some(ToolCall { id: tools::made_up_id(0), name, arguments })
}

impl Provider for OpenAiCompatible {
    fn name(&self) -> &str {
        &self.ep.name
    }

    async fn chat(&self, req: &ChatRequest, key: Option<&ApiKey>) -> Result<ChatResponse> {
        self.chat_as(req, key.map(ApiKey::expose)).await
    }

    async fn chat_stream(&self, req: &ChatRequest, key: Option<&ApiKey>) -> Result<ChatStream> {
        self.chat_stream_as(req, key.map(ApiKey::expose)).await
    }

    async fn embed(&self, req: &EmbedRequest, key: Option<&ApiKey>) -> Result<EmbedResponse> {
        self.embed_as(req, key.map(ApiKey::expose)).await
    }
}

struct StreamState {
    sse: wire::SseReader,
    answer: wire::Assembly,
    usage: Option<Usage>,
    /// The answer comes as the forced function's arguments (GigaChat), not as text.
    forced: bool,
    called: bool,
    /// Events of a chunk that carried several (tool call pieces), yielded before reading on.
    queued: std::collections::VecDeque<StreamEvent>,
}

impl wire::NextEvent for StreamState {
    fn assembly(&mut self) -> &mut wire::Assembly {
        &mut self.answer
    }

    async fn next_event(&mut self) -> Result<StreamEvent> {
        loop {
            if let Some(ev) = self.queued.pop_front() {
                return Ok(ev);
            }
            let data = self.sse.next().await?;
            let data = data.trim();
            if data == "[DONE]" {
                if self.forced && !self.called {
                    return Err(structured::not_called(&self.answer.provider));
                }
                let usage = self.usage.unwrap_or_else(|| estimated(&self.answer.request, &self.answer.content));
                return self.answer.done(usage, self.sse.received());
            }
            let chunk = self.answer.parse(data)?;
            if chunk.get("error").is_some() {
                let message = wire::error_message(data);
                return Err(Error::Upstream { provider: self.answer.provider.clone(), status: 500, message });
            }
            if let Some(m) = chunk["model"].as_str() {
                self.answer.model.get_or_insert_with(|| m.to_owned());
            }
            if let Some(u) = usage(&chunk["usage"]) {
                self.usage = Some(u);
            }
            let choice = &chunk["choices"][0];
            if let Some(f) = choice["finish_reason"].as_str() {
                self.answer.finish_reason = Some(f.to_owned());
            }
            let delta = &choice["delta"];
            if self.forced {
                // GigaChat sends a function call whole, in one chunk.
                if let Some(args) = forced_arguments(delta) {
                    self.called = true;
                    if let Some(ev) = self.answer.delta(&args) {
                        return Ok(ev);
                    }
                }
                continue;
            }
            if let Some(call) = gigachat_tool_call(delta) {
                let piece =
                    ToolCallDelta { index: 0, id: Some(call.id), name: Some(call.name), arguments: call.arguments };
                self.queued.push_back(self.answer.tool_call(piece));
            }
            for (n, c) in delta["tool_calls"].as_array().into_iter().flatten().enumerate() {
                let piece = ToolCallDelta {
                    index: c["index"].as_u64().map_or(n, |i| i as usize),
                    id: c["id"].as_str().map(str::to_owned),
                    name: c["function"]["name"].as_str().map(str::to_owned),
                    arguments: c["function"]["arguments"].as_str().unwrap_or_default().to_owned(),
                };
                self.queued.push_back(self.answer.tool_call(piece));
            }
            if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty())
                && let Some(ev) = self.answer.delta(text)
            {
                self.queued.push_front(ev);
            }
        }
    }
}

/// The JSON body of a chat completion request.
fn request_body(req: &ChatRequest, st: &Structured, stream: bool, dialect: Dialect) -> Value {
    let instruction = st.instruction.as_deref();
    let messages = match dialect {
        Dialect::OpenAi => openai_messages(req, instruction),
        Dialect::GigaChat => gigachat_messages(req, instruction),
    };
    let mut body = json!({"model": req.model, "messages": messages});
    if let Some(n) = req.max_output_tokens {
        body["max_tokens"] = json!(n);
    }
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    match (dialect, &st.wire) {
        (Dialect::OpenAi, Some(schema)) => {
            let mut format = json!({"name": "output", "schema": schema, "strict": st.strict});
            if let Some(d) = schema.get("description") {
                format["description"] = d.clone();
            }
            body["response_format"] = json!({"type": "json_schema", "json_schema": format});
        }
        (Dialect::OpenAi, None) if st.json_object => body["response_format"] = json!({"type": "json_object"}),
        // GigaChat ("Работа с функциями", developers.sber.ru/docs/ru/gigachat/guides/functions):
        // `function_call: {"name": ...}` forces the arguments of a function of `functions`.
        (Dialect::GigaChat, Some(schema)) => {
            body["functions"] = json!([{"name": TOOL_NAME, "description": TOOL_DESCRIPTION, "parameters": schema}]);
            body["function_call"] = json!({"name": TOOL_NAME});
        }
        _ => {}
    }
    if !req.tools.is_empty() {
        match dialect {
            Dialect::OpenAi => openai_tools(req, &mut body),
            Dialect::GigaChat => gigachat_functions(req, &mut body),
        }
    }
    if stream {
        body["stream"] = json!(true);
        if dialect == Dialect::OpenAi {
            body["stream_options"] = json!({"include_usage": true});
        }
    }
    body
}

/// `tools` (platform.openai.com/docs/guides/function-calling), `tool_choice` and
/// `parallel_tool_calls`.
fn openai_tools(req: &ChatRequest, body: &mut Value) {
    let declared: Vec<Value> = req
        .tools
        .iter()
        .map(|t| json!({"type": "function", "function": t.declared("parameters", t.parameters().clone())}))
        .collect();
    body["tools"] = json!(declared);
    body["tool_choice"] = match &req.tool_choice {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Function(name) => json!({"type": "function", "function": {"name": name}}),
    };
    if let Some(p) = req.parallel_tool_calls {
        body["parallel_tool_calls"] = json!(p);
    }
}

/// GigaChat's `functions` and `function_call` ("Работа с функциями"): `auto`, `none`, or
/// `{"name": ...}` to force one (`required` with one function forces that one).
fn gigachat_functions(req: &ChatRequest, body: &mut Value) {
    let declared: Vec<Value> = req.tools.iter().map(|t| t.declared("parameters", t.parameters().clone())).collect();
    body["functions"] = json!(declared);
    body["function_call"] = match &req.tool_choice {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!({"name": req.tools[0].name()}),
        ToolChoice::Function(name) => json!({"name": name}),
    };
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

/// A message's parts in OpenAI's content shape: a string for one text, else an array of
/// text and image parts. Tool calls and results are not content.
fn openai_content(parts: &[Part]) -> Value {
    let content: Vec<&Part> = parts.iter().filter(|p| matches!(p, Part::Text(_) | Part::Image { .. })).collect();
    match content.as_slice() {
        [Part::Text(t)] => json!(t),
        parts => Value::Array(
            parts
                .iter()
                .filter_map(|p| match p {
                    Part::Text(t) => Some(json!({"type": "text", "text": t})),
                    Part::Image { mime_type, data } => Some(json!({"type": "image_url",
                        "image_url": {"url": format!("data:{mime_type};base64,{}", STANDARD.encode(data))}})),
                    Part::ToolCall(_) | Part::ToolResult { .. } => None,
                })
                .collect(),
        ),
    }
}

/// The messages in OpenAI's shape; an instruction (JSON mode or none) as one more system
/// message after the leading ones.
fn openai_messages(req: &ChatRequest, instruction: Option<&str>) -> Vec<Value> {
    let mut messages: Vec<Value> = Vec::new();
    for m in &req.messages {
        match m.role {
            // One `tool` message per result.
            Role::Tool => messages.extend(m.parts.iter().filter_map(|p| match p {
                Part::ToolResult { call_id, content } => {
                    Some(json!({"role": "tool", "tool_call_id": call_id, "content": content}))
                }
                _ => None,
            })),
            Role::Assistant if m.parts.iter().any(|p| matches!(p, Part::ToolCall(_))) => {
                let calls: Vec<Value> = tools::calls_of(&m.parts)
                    .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
                    .collect();
                let text: String = m
                    .parts
                    .iter()
                    .filter_map(|p| if let Part::Text(t) = p { Some(t.as_str()) } else { None })
                    .collect();
                let content = if text.is_empty() { Value::Null } else { json!(text) };
                messages.push(json!({"role": "assistant", "content": content, "tool_calls": calls}));
            }
            role => messages.push(json!({"role": role_name(role), "content": openai_content(&m.parts)})),
        }
    }
    if let Some(text) = instruction {
        let at = req.messages.iter().take_while(|m| m.role == Role::System).count();
        messages.insert(at, json!({"role": "system", "content": text}));
    }
    messages
}

/// GigaChat's messages: one system message first (every system text, then the JSON
/// instruction if any), then the conversation, each message's text as one string. Images never
/// get here (the GigaChat provider refuses them before the call).
fn gigachat_messages(req: &ChatRequest, instruction: Option<&str>) -> Vec<Value> {
    fn text(parts: &[Part]) -> Vec<&str> {
        parts.iter().filter_map(|p| if let Part::Text(t) = p { Some(t.as_str()) } else { None }).collect()
    }
    let mut system: Vec<String> = req
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .flat_map(|m| text(&m.parts))
        .map(str::to_owned)
        .collect();
    system.extend(instruction.map(str::to_owned));
    let first = (!system.is_empty()).then(|| json!({"role": "system", "content": system.join("\n\n")}));
    let mut messages: Vec<Value> = first.into_iter().collect();
    for m in req.messages.iter().filter(|m| m.role != Role::System) {
        match m.role {
            // A function's result: a `function` message naming it, the result as JSON text.
            Role::Tool => messages.extend(m.parts.iter().filter_map(|p| match p {
                Part::ToolResult { call_id, content } => Some(json!({
                    "role": "function",
                    "name": tools::name_of_call(&req.messages, call_id).unwrap_or(call_id),
                    "content": tools::result_object(content).to_string(),
                })),
                _ => None,
            })),
            // One call per assistant message.
            Role::Assistant if m.parts.iter().any(|p| matches!(p, Part::ToolCall(_))) => {
                messages.extend(tools::calls_of(&m.parts).map(|c| {
                    json!({"role": "assistant", "content": "",
                           "function_call": {"name": c.name, "arguments": tools::arguments_object(&c.arguments)}})
                }));
            }
            role => messages.push(json!({"role": role_name(role), "content": text(&m.parts).join("\n\n")})),
        }
    }
    messages
}

fn usage(v: &Value) -> Option<Usage> {
    let input = v["prompt_tokens"].as_u64()?;
    let output = v["completion_tokens"].as_u64()?;
    Some(Usage { input_tokens: input, output_tokens: output, estimated: false })
}

fn estimated(req: &ChatRequest, content: &str) -> Usage {
    let input: u64 = req
        .messages
        .iter()
        .flat_map(|m| &m.parts)
        .map(|p| match p {
            Part::Text(t) | Part::ToolResult { content: t, .. } => estimate_tokens(t),
            Part::ToolCall(c) => estimate_tokens(&c.arguments) + estimate_tokens(&c.name),
            // Providers bill images by tiles; a fixed allowance is the honest estimate here.
            Part::Image { .. } => 765,
        })
        .sum();
    Usage { input_tokens: input, output_tokens: estimate_tokens(content), estimated: true }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Message, OutputFormat};

    fn body(req: &ChatRequest, mode: JsonMode, dialect: Dialect) -> Value {
        let st = match dialect {
            Dialect::OpenAi => structured::openai(&req.output, mode),
            Dialect::GigaChat => structured::forced_tool(&req.output),
        };
        request_body(req, &st, true, dialect)
    }

    #[test]
    fn request_body_follows_the_reference() {
        let req = ChatRequest {
            model: "gpt-4o-mini".into(),
            messages: vec![
                Message::text(Role::System, "sys"),
                Message {
                    role: Role::User,
                    parts: vec![
                        Part::Text("what is this?".into()),
                        Part::Image { mime_type: "image/png".into(), data: vec![1, 2, 3] },
                    ],
                },
            ],
            max_output_tokens: Some(100),
            temperature: Some(0.5),
            output: OutputFormat::Json { schema: None },
            ..Default::default()
        };
        let b = body(&req, JsonMode::Schema, Dialect::OpenAi);
        assert_eq!(b["messages"][0], json!({"role": "system", "content": "sys"}));
        // JSON mode needs the word JSON in the messages: the instruction says it.
        assert_eq!(b["messages"][1]["role"], "system");
        assert!(b["messages"][1]["content"].as_str().unwrap().contains("JSON"));
        assert_eq!(b["messages"][2]["content"][1]["image_url"]["url"], "data:image/png;base64,AQID");
        assert_eq!(b["max_tokens"], 100);
        assert_eq!(b["response_format"]["type"], "json_object");
        assert_eq!(b["stream_options"]["include_usage"], true);
    }

    #[test]
    fn schemas_go_as_strict_json_schema_or_by_instruction() {
        let schema = json!({"type": "object", "description": "totals", "required": ["total"],
                            "properties": {"total": {"type": "number"}, "note": {"type": "string"}}});
        let req = ChatRequest {
            model: "m".into(),
            messages: vec![Message::text(Role::User, "sum")],
            output: OutputFormat::Json { schema: Some(schema) },
            ..Default::default()
        };
        let b = body(&req, JsonMode::Schema, Dialect::OpenAi);
        let format = &b["response_format"];
        assert_eq!(format["type"], "json_schema");
        assert_eq!(
            (format["json_schema"]["name"].as_str(), format["json_schema"]["strict"].as_bool()),
            (Some("output"), Some(true))
        );
        assert_eq!(format["json_schema"]["description"], "totals");
        assert_eq!(format["json_schema"]["schema"]["required"], json!(["total", "note"]));
        assert_eq!(format["json_schema"]["schema"]["properties"]["note"]["type"], json!(["string", "null"]));
        assert_eq!(b["messages"].as_array().unwrap().len(), 1, "no instruction where the server enforces");

        let b = body(&req, JsonMode::Object, Dialect::OpenAi);
        assert_eq!(b["response_format"], json!({"type": "json_object"}));
        assert!(b["messages"][0]["content"].as_str().unwrap().contains(r#""required":["total"]"#));
        let b = body(&req, JsonMode::Instruction, Dialect::OpenAi);
        assert!(b.get("response_format").is_none());
        assert_eq!(b["messages"][0]["role"], "system");
        assert_eq!(b["messages"][1], json!({"role": "user", "content": "sum"}));
    }

    #[test]
    fn gigachat_dialect_has_one_leading_system_message_and_a_forced_function() {
        let req = ChatRequest {
            model: "GigaChat".into(),
            messages: vec![
                Message::text(Role::User, "first"),
                Message::text(Role::System, "be brief"),
                Message { role: Role::User, parts: vec![Part::Text("a".into()), Part::Text("b".into())] },
                Message::text(Role::Assistant, "ok"),
            ],
            max_output_tokens: Some(50),
            temperature: None,
            output: OutputFormat::Json { schema: Some(json!({"type": "array", "items": {"type": "string"}})) },
            ..Default::default()
        };
        let b = body(&req, JsonMode::Schema, Dialect::GigaChat);
        let messages = b["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 4);
        assert_eq!(messages[0], json!({"role": "system", "content": "be brief"}));
        assert_eq!(messages[1], json!({"role": "user", "content": "first"}));
        assert_eq!(messages[2], json!({"role": "user", "content": "a\n\nb"}));
        assert_eq!(messages[3], json!({"role": "assistant", "content": "ok"}));
        assert_eq!(b["function_call"], json!({"name": "respond"}));
        let function = &b["functions"][0];
        assert_eq!(function["name"], "respond");
        // A non-object root travels wrapped: function parameters are an object.
        assert_eq!(
            function["parameters"]["properties"]["value"],
            json!({"type": "array", "items": {"type": "string"}})
        );
        assert!(b.get("response_format").is_none() && b.get("stream_options").is_none());
        assert_eq!((b["stream"].clone(), b["max_tokens"].clone()), (json!(true), json!(50)));
        // Any JSON, without a schema: asked for in the system prompt.
        let any = ChatRequest { output: OutputFormat::Json { schema: None }, ..req.clone() };
        let b = body(&any, JsonMode::Schema, Dialect::GigaChat);
        assert!(b["messages"][0]["content"].as_str().unwrap().starts_with("be brief\n\nAnswer with a single JSON"));
        assert!(b.get("functions").is_none());
        // Plain text without a system prompt: no system message at all.
        let plain = ChatRequest { output: OutputFormat::Text, messages: vec![Message::text(Role::User, "hi")], ..req };
        assert_eq!(
            body(&plain, JsonMode::Schema, Dialect::GigaChat)["messages"],
            json!([{"role": "user", "content": "hi"}])
        );
    }

    #[test]
    fn forced_arguments_are_read_as_objects_or_strings() {
        let call = |args: Value| json!({"role": "assistant", "content": "", "function_call": {"name": "respond", "arguments": args}});
        assert_eq!(forced_arguments(&call(json!({"a": 1}))).as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(forced_arguments(&call(json!("{\"a\": 1}"))).as_deref(), Some(r#"{"a": 1}"#));
        assert_eq!(forced_arguments(&json!({"content": "text"})), None);
        let other = json!({"function_call": {"name": "weather", "arguments": {}}});
        assert_eq!(forced_arguments(&other), None);
    }
}
