//! OpenAI-compatible chat completions: OpenAI, xAI, Mistral, Perplexity and local servers
//! (vLLM, Ollama, llama.cpp) that speak the same protocol under a configurable base URL.
//!
//! Follows the public API reference: "Create chat completion" (`POST /chat/completions`) and
//! "Chat completion chunk" streaming objects, server-sent events ending in `data: [DONE]`
//! (platform.openai.com/docs/api-reference/chat). Usage in streams comes from
//! `stream_options.include_usage`, a final chunk with empty `choices` and a `usage` object.
//!
//! [`crate::gigachat`] speaks the same protocol with a few differences in the request (the
//! `Dialect`), so it wraps this provider instead of repeating it.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::tls::Tls;
use crate::{
    ApiKey, ChatRequest, ChatResponse, ChatStream, Error, OutputFormat, Part, Provider, Result, Role, StreamEvent,
    Usage, check_output, estimate_tokens, wire,
};

/// A provider speaking the OpenAI chat completions protocol.
#[derive(Debug, Clone)]
pub struct OpenAiCompatible {
    ep: wire::Endpoint,
    dialect: Dialect,
}

/// Which variant of the protocol a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    OpenAi,
    /// GigaChat (developers.sber.ru/docs/ru/gigachat/api/reference/rest/post-chat): message
    /// `content` is a string, the system prompt is one message that comes first, there is no
    /// `response_format` (JSON is asked for in the system prompt) and no `stream_options`.
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
        Self { ep, dialect }
    }

    pub(crate) fn endpoint(&self) -> &wire::Endpoint {
        &self.ep
    }

    async fn send(&self, req: &ChatRequest, bearer: Option<&str>, stream: bool) -> Result<(reqwest::Response, u64)> {
        let auth = bearer.map(|token| format!("Bearer {token}"));
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
        self.ep.post("/chat/completions", &headers, &request_body(req, stream, self.dialect)).await
    }

    /// A complete answer, with `bearer` (an API key or an access token) if given.
    pub(crate) async fn chat_as(&self, req: &ChatRequest, bearer: Option<&str>) -> Result<ChatResponse> {
        let (response, sent) = self.send(req, bearer, false).await?;
        let (v, received) = self.ep.read_json(response).await?;
        let malformed = |detail: String| self.ep.malformed(detail);
        let choice = v["choices"].get(0).ok_or_else(|| malformed("no choices".to_owned()))?;
        let content =
            choice["message"]["content"].as_str().ok_or_else(|| malformed("no message content".to_owned()))?;
        check_output(&self.ep.name, &req.output, content)?;
        Ok(ChatResponse {
            content: content.to_owned(),
            model: v["model"].as_str().unwrap_or(&req.model).to_owned(),
            usage: usage(&v["usage"]).unwrap_or_else(|| estimated(req, content)),
            finish_reason: choice["finish_reason"].as_str().map(str::to_owned),
            bytes_sent: sent,
            bytes_received: received,
        })
    }

    /// The answer as it is produced, with `bearer` if given. Fails before the first event when
    /// the server refuses the request (so a caller may retry it, e.g. with a fresh token).
    pub(crate) async fn chat_stream_as(&self, req: &ChatRequest, bearer: Option<&str>) -> Result<ChatStream> {
        let (response, sent) = self.send(req, bearer, true).await?;
        Ok(wire::chat_stream(StreamState {
            sse: self.ep.sse(response),
            answer: wire::Assembly::new(&self.ep.name, req, sent),
            usage: None,
        }))
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
}

struct StreamState {
    sse: wire::SseReader,
    answer: wire::Assembly,
    usage: Option<Usage>,
}

impl wire::NextEvent for StreamState {
    async fn next_event(&mut self) -> Result<StreamEvent> {
        loop {
            let data = self.sse.next().await?;
            let data = data.trim();
            if data == "[DONE]" {
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
            if let Some(text) = choice["delta"]["content"].as_str().filter(|t| !t.is_empty()) {
                return self.answer.delta(text);
            }
        }
    }
}

/// The JSON body of a chat completion request.
fn request_body(req: &ChatRequest, stream: bool, dialect: Dialect) -> Value {
    let messages = match dialect {
        Dialect::OpenAi => openai_messages(req),
        Dialect::GigaChat => gigachat_messages(req),
    };
    let mut body = json!({"model": req.model, "messages": messages});
    if let Some(n) = req.max_output_tokens {
        body["max_tokens"] = json!(n);
    }
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    if dialect == Dialect::OpenAi {
        match &req.output {
            OutputFormat::Text => {}
            OutputFormat::Json { schema: None } => body["response_format"] = json!({"type": "json_object"}),
            OutputFormat::Json { schema: Some(s) } => {
                body["response_format"] =
                    json!({"type": "json_schema", "json_schema": {"name": "output", "schema": s}});
            }
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

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

fn openai_messages(req: &ChatRequest) -> Vec<Value> {
    req.messages
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
        .collect()
}

/// GigaChat's messages: one system message first (every system text, then the JSON
/// instruction), then the conversation, each message's text as one string. Images never get
/// here (the GigaChat provider refuses them before the call).
fn gigachat_messages(req: &ChatRequest) -> Vec<Value> {
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
    if let OutputFormat::Json { schema } = &req.output {
        system.push(crate::json_instruction(schema.as_ref()));
    }
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
    use crate::Message;

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
        let b = request_body(&req, true, Dialect::OpenAi);
        assert_eq!(b["messages"][0], json!({"role": "system", "content": "sys"}));
        assert_eq!(b["messages"][1]["content"][1]["image_url"]["url"], "data:image/png;base64,AQID");
        assert_eq!(b["max_tokens"], 100);
        assert_eq!(b["response_format"]["type"], "json_object");
        assert_eq!(b["stream_options"]["include_usage"], true);
    }

    #[test]
    fn gigachat_dialect_has_one_leading_system_message_and_no_json_mode() {
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
            output: OutputFormat::Json { schema: Some(json!({"type": "object"})) },
        };
        let b = request_body(&req, true, Dialect::GigaChat);
        let messages = b["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 4);
        assert_eq!(messages[0]["role"], "system");
        let system = messages[0]["content"].as_str().unwrap();
        assert!(system.starts_with("be brief\n\nAnswer with a single JSON value"), "{system}");
        assert!(system.contains(r#"{"type":"object"}"#), "{system}");
        assert_eq!(messages[1], json!({"role": "user", "content": "first"}));
        assert_eq!(messages[2], json!({"role": "user", "content": "a\n\nb"}));
        assert_eq!(messages[3], json!({"role": "assistant", "content": "ok"}));
        assert!(b.get("response_format").is_none() && b.get("stream_options").is_none());
        assert_eq!((b["stream"].clone(), b["max_tokens"].clone()), (json!(true), json!(50)));
        // Plain text without a system prompt: no system message at all.
        let plain = ChatRequest { output: OutputFormat::Text, messages: vec![Message::text(Role::User, "hi")], ..req };
        assert_eq!(
            request_body(&plain, false, Dialect::GigaChat)["messages"],
            json!([{"role": "user", "content": "hi"}])
        );
    }
}
