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
        let st = self.structured(req);
        let (response, sent) = self.send(req, &st, bearer, false).await?;
        let (v, received) = self.ep.read_json(response).await?;
        let malformed = |detail: &str| self.ep.malformed(detail);
        let invalid = |detail: &str| Error::InvalidOutput { provider: self.ep.name.clone(), detail: detail.to_owned() };
        let choice = v["choices"].get(0).ok_or_else(|| malformed("no choices"))?;
        let message = &choice["message"];
        let raw = if self.forces_function(&st) {
            forced_arguments(message).ok_or_else(|| structured::not_called(&self.ep.name))?
        } else if message["refusal"].as_str().is_some_and(|r| !r.is_empty()) {
            // The refusal is the model's text: it stays out of errors, which are logged.
            return Err(invalid("the model refused to answer in the requested format"));
        } else {
            message["content"].as_str().ok_or_else(|| malformed("no message content"))?.to_owned()
        };
        let usage = usage(&v["usage"]).unwrap_or_else(|| estimated(req, &raw));
        let content = st.answer.finish(&self.ep.name, raw)?;
        Ok(ChatResponse {
            content,
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
        let st = self.structured(req);
        let (response, sent) = self.send(req, &st, bearer, true).await?;
        let forced = self.forces_function(&st);
        Ok(wire::chat_stream(StreamState {
            sse: self.ep.sse(response),
            answer: wire::Assembly::new(&self.ep.name, req, sent, st.answer),
            usage: None,
            forced,
            called: false,
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
}

impl wire::NextEvent for StreamState {
    fn assembly(&mut self) -> &mut wire::Assembly {
        &mut self.answer
    }

    async fn next_event(&mut self) -> Result<StreamEvent> {
        loop {
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
            if self.forced {
                // GigaChat sends a function call whole, in one chunk.
                if let Some(args) = forced_arguments(&choice["delta"]) {
                    self.called = true;
                    if let Some(ev) = self.answer.delta(&args) {
                        return Ok(ev);
                    }
                }
            } else if let Some(text) = choice["delta"]["content"].as_str().filter(|t| !t.is_empty())
                && let Some(ev) = self.answer.delta(text)
            {
                return Ok(ev);
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
    if stream {
        body["stream"] = json!(true);
        if dialect == Dialect::OpenAi {
            body["stream_options"] = json!({"include_usage": true});
        }
    }
    body
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

/// The messages in OpenAI's shape; an instruction (JSON mode or none) as one more system
/// message after the leading ones.
fn openai_messages(req: &ChatRequest, instruction: Option<&str>) -> Vec<Value> {
    let mut messages: Vec<Value> = req
        .messages
        .iter()
        .map(|m| {
            let content = match m.parts.as_slice() {
                [Part::Text(t)] => json!(t),
                parts => Value::Array(
                    parts
                        .iter()
                        .map(|p| match p {
                            Part::Text(t) => json!({"type": "text", "text": t}),
                            Part::Image { mime_type, data } => json!({"type": "image_url",
                                "image_url": {"url": format!("data:{mime_type};base64,{}", STANDARD.encode(data))}}),
                        })
                        .collect(),
                ),
            };
            json!({"role": role_name(m.role), "content": content})
        })
        .collect();
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
    first
        .into_iter()
        .chain(
            req.messages
                .iter()
                .filter(|m| m.role != Role::System)
                .map(|m| json!({"role": role_name(m.role), "content": text(&m.parts).join("\n\n")})),
        )
        .collect()
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
            Part::Text(t) => estimate_tokens(t),
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
