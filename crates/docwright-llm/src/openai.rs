//! OpenAI-compatible chat completions: OpenAI, xAI, Mistral, Perplexity and local servers
//! (vLLM, Ollama, llama.cpp) that speak the same protocol under a configurable base URL.
//!
//! Follows the public API reference: "Create chat completion" (`POST /chat/completions`) and
//! "Chat completion chunk" streaming objects, server-sent events ending in `data: [DONE]`
//! (platform.openai.com/docs/api-reference/chat). Usage in streams comes from
//! `stream_options.include_usage`, a final chunk with empty `choices` and a `usage` object.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::{
    ApiKey, ChatRequest, ChatResponse, ChatStream, Error, OutputFormat, Part, Provider, Result, Role, StreamEvent,
    Usage, check_output, estimate_tokens, wire,
};

/// A provider speaking the OpenAI chat completions protocol.
#[derive(Debug, Clone)]
pub struct OpenAiCompatible {
    ep: wire::Endpoint,
}

impl OpenAiCompatible {
    /// `base_url` up to and including the version, e.g. `https://api.openai.com/v1`.
    pub fn new(name: impl Into<String>, base_url: &str, timeout: Duration) -> Result<Self> {
        Ok(Self { ep: wire::Endpoint::new(name.into(), base_url, timeout)? })
    }

    async fn send(&self, req: &ChatRequest, key: Option<&ApiKey>, stream: bool) -> Result<(reqwest::Response, u64)> {
        let auth = key.map(|k| format!("Bearer {}", k.expose()));
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
        self.ep.post("/chat/completions", &headers, &request_body(req, stream)).await
    }
}

impl Provider for OpenAiCompatible {
    fn name(&self) -> &str {
        &self.ep.name
    }

    async fn chat(&self, req: &ChatRequest, key: Option<&ApiKey>) -> Result<ChatResponse> {
        let (response, sent) = self.send(req, key, false).await?;
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

    async fn chat_stream(&self, req: &ChatRequest, key: Option<&ApiKey>) -> Result<ChatStream> {
        let (response, sent) = self.send(req, key, true).await?;
        Ok(wire::chat_stream(StreamState {
            sse: self.ep.sse(response),
            answer: wire::Assembly::new(&self.ep.name, req, sent),
            usage: None,
        }))
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
fn request_body(req: &ChatRequest, stream: bool) -> Value {
    let messages: Vec<Value> = req
        .messages
        .iter()
        .map(|m| {
            let role = match m.role {
                Role::System => "system",
                Role::User => "user",
                Role::Assistant => "assistant",
            };
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
            json!({"role": role, "content": content})
        })
        .collect();
    let mut body = json!({"model": req.model, "messages": messages});
    if let Some(n) = req.max_output_tokens {
        body["max_tokens"] = json!(n);
    }
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    match &req.output {
        OutputFormat::Text => {}
        OutputFormat::Json { schema: None } => body["response_format"] = json!({"type": "json_object"}),
        OutputFormat::Json { schema: Some(s) } => {
            body["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "output", "schema": s}});
        }
    }
    if stream {
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
    }
    body
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
        let b = request_body(&req, true);
        assert_eq!(b["messages"][0], json!({"role": "system", "content": "sys"}));
        assert_eq!(b["messages"][1]["content"][1]["image_url"]["url"], "data:image/png;base64,AQID");
        assert_eq!(b["max_tokens"], 100);
        assert_eq!(b["response_format"]["type"], "json_object");
        assert_eq!(b["stream_options"]["include_usage"], true);
    }
}
