//! OpenAI-compatible chat completions: OpenAI, xAI, Mistral, Perplexity and local servers
//! (vLLM, Ollama, llama.cpp) that speak the same protocol under a configurable base URL.
//!
//! Follows the public API reference: "Create chat completion" (`POST /chat/completions`) and
//! "Chat completion chunk" streaming objects, server-sent events ending in `data: [DONE]`
//! (platform.openai.com/docs/api-reference/chat). Usage in streams comes from
//! `stream_options.include_usage`, a final chunk with empty `choices` and a `usage` object.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use eventsource_stream::Eventsource as _;
use futures_util::{StreamExt as _, stream};
use serde_json::{Value, json};

use crate::{
    ApiKey, ChatRequest, ChatResponse, ChatStream, Error, OutputFormat, Part, Provider, Result, Role, StreamEvent,
    Usage, check_output, estimate_tokens,
};

/// A provider speaking the OpenAI chat completions protocol.
#[derive(Debug, Clone)]
pub struct OpenAiCompatible {
    name: String,
    base_url: String,
    client: reqwest::Client,
    /// Bound on waiting for the answer (blocking) or for the next chunk (streaming).
    timeout: Duration,
}

impl OpenAiCompatible {
    /// `base_url` up to and including the version, e.g. `https://api.openai.com/v1`.
    pub fn new(name: impl Into<String>, base_url: &str, timeout: Duration) -> Result<Self> {
        let name = name.into();
        let client = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(30)))
            .build()
            .map_err(|e| Error::Transport { provider: name.clone(), detail: e.to_string() })?;
        Ok(Self { name, base_url: base_url.trim_end_matches('/').to_owned(), client, timeout })
    }

    fn err_transport(&self, e: &reqwest::Error) -> Error {
        if e.is_timeout() {
            Error::Timeout { provider: self.name.clone(), after: self.timeout }
        } else {
            // reqwest's message names the URL, never headers (the key travels in a header).
            Error::Transport { provider: self.name.clone(), detail: e.to_string() }
        }
    }

    /// Sends the request; answers the response if the status is a success.
    async fn send(&self, req: &ChatRequest, key: Option<&ApiKey>, stream: bool) -> Result<(reqwest::Response, u64)> {
        let body = serde_json::to_vec(&request_body(req, stream))
            .map_err(|e| Error::Malformed { provider: self.name.clone(), detail: e.to_string() })?;
        let sent = body.len() as u64;
        let mut http = self
            .client
            .post(format!("{}/chat/completions", self.base_url))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(k) = key {
            http = http.bearer_auth(k.expose());
        }
        let response = match tokio::time::timeout(self.timeout, http.send()).await {
            Err(_) => return Err(Error::Timeout { provider: self.name.clone(), after: self.timeout }),
            Ok(Err(e)) => return Err(self.err_transport(&e)),
            Ok(Ok(r)) => r,
        };
        let status = response.status();
        if status.is_success() {
            return Ok((response, sent));
        }
        let retry_after = retry_after(response.headers());
        let text =
            tokio::time::timeout(self.timeout, response.text()).await.ok().and_then(|r| r.ok()).unwrap_or_default();
        if status.as_u16() == 429 {
            return Err(Error::RateLimited { provider: self.name.clone(), retry_after });
        }
        Err(Error::Upstream { provider: self.name.clone(), status: status.as_u16(), message: error_message(&text) })
    }
}

impl Provider for OpenAiCompatible {
    fn name(&self) -> &str {
        &self.name
    }

    async fn chat(&self, req: &ChatRequest, key: Option<&ApiKey>) -> Result<ChatResponse> {
        let (response, sent) = self.send(req, key, false).await?;
        let bytes = match tokio::time::timeout(self.timeout, response.bytes()).await {
            Err(_) => return Err(Error::Timeout { provider: self.name.clone(), after: self.timeout }),
            Ok(Err(e)) => return Err(self.err_transport(&e)),
            Ok(Ok(b)) => b,
        };
        let malformed = |detail: String| Error::Malformed { provider: self.name.clone(), detail };
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| malformed(format!("not JSON: {e}")))?;
        let choice = v["choices"].get(0).ok_or_else(|| malformed("no choices".to_owned()))?;
        let content =
            choice["message"]["content"].as_str().ok_or_else(|| malformed("no message content".to_owned()))?;
        check_output(&self.name, &req.output, content)?;
        Ok(ChatResponse {
            content: content.to_owned(),
            model: v["model"].as_str().unwrap_or(&req.model).to_owned(),
            usage: usage(&v["usage"]).unwrap_or_else(|| estimated(req, content)),
            finish_reason: choice["finish_reason"].as_str().map(str::to_owned),
            bytes_sent: sent,
            bytes_received: bytes.len() as u64,
        })
    }

    async fn chat_stream(&self, req: &ChatRequest, key: Option<&ApiKey>) -> Result<ChatStream> {
        let (response, sent) = self.send(req, key, true).await?;
        let received = Arc::new(AtomicU64::new(0));
        let counter = received.clone();
        let events = response
            .bytes_stream()
            .inspect(move |chunk| {
                if let Ok(c) = chunk {
                    counter.fetch_add(c.len() as u64, Ordering::Relaxed);
                }
            })
            .eventsource();
        let state = StreamState {
            events: Box::pin(events),
            provider: self.name.clone(),
            timeout: self.timeout,
            request: req.clone(),
            content: String::new(),
            model: None,
            usage: None,
            finish_reason: None,
            sent,
            received,
            finished: false,
        };
        Ok(Box::pin(stream::unfold(state, |mut s| async move {
            let item = s.next_event().await?;
            Some((item, s))
        })))
    }
}

type SseStream = std::pin::Pin<
    Box<
        dyn futures_util::Stream<
                Item = std::result::Result<
                    eventsource_stream::Event,
                    eventsource_stream::EventStreamError<reqwest::Error>,
                >,
            > + Send,
    >,
>;

struct StreamState {
    events: SseStream,
    provider: String,
    timeout: Duration,
    request: ChatRequest,
    content: String,
    model: Option<String>,
    usage: Option<Usage>,
    finish_reason: Option<String>,
    sent: u64,
    received: Arc<AtomicU64>,
    finished: bool,
}

impl StreamState {
    /// The next event for the caller, or `None` after `Done` or an error.
    async fn next_event(&mut self) -> Option<Result<StreamEvent>> {
        if self.finished {
            return None;
        }
        loop {
            let next = match tokio::time::timeout(self.timeout, self.events.next()).await {
                Err(_) => return self.fail(Error::Timeout { provider: self.provider.clone(), after: self.timeout }),
                Ok(n) => n,
            };
            let event = match next {
                None => return self.fail(Error::Truncated { provider: self.provider.clone() }),
                Some(Err(e)) => {
                    return self.fail(Error::Transport { provider: self.provider.clone(), detail: e.to_string() });
                }
                Some(Ok(ev)) => ev,
            };
            let data = event.data.trim();
            if data.is_empty() {
                continue;
            }
            if data == "[DONE]" {
                return Some(self.done());
            }
            let chunk: Value = match serde_json::from_str(data) {
                Ok(v) => v,
                Err(e) => {
                    let detail = format!("stream chunk is not JSON: {e}");
                    return self.fail(Error::Malformed { provider: self.provider.clone(), detail });
                }
            };
            if chunk.get("error").is_some() {
                let message = error_message(data);
                return self.fail(Error::Upstream { provider: self.provider.clone(), status: 500, message });
            }
            if let Some(m) = chunk["model"].as_str() {
                self.model.get_or_insert_with(|| m.to_owned());
            }
            if let Some(u) = usage(&chunk["usage"]) {
                self.usage = Some(u);
            }
            let choice = &chunk["choices"][0];
            if let Some(f) = choice["finish_reason"].as_str() {
                self.finish_reason = Some(f.to_owned());
            }
            if let Some(text) = choice["delta"]["content"].as_str().filter(|t| !t.is_empty()) {
                self.content.push_str(text);
                return Some(Ok(StreamEvent::Delta(text.to_owned())));
            }
        }
    }

    fn fail(&mut self, e: Error) -> Option<Result<StreamEvent>> {
        self.finished = true;
        Some(Err(e))
    }

    fn done(&mut self) -> Result<StreamEvent> {
        self.finished = true;
        check_output(&self.provider, &self.request.output, &self.content)?;
        let content = std::mem::take(&mut self.content);
        Ok(StreamEvent::Done(ChatResponse {
            usage: self.usage.unwrap_or_else(|| estimated(&self.request, &content)),
            model: self.model.take().unwrap_or_else(|| self.request.model.clone()),
            finish_reason: self.finish_reason.take(),
            bytes_sent: self.sent,
            bytes_received: self.received.load(Ordering::Relaxed),
            content,
        }))
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

/// `Retry-After` in seconds (or `retry-after-ms`), as providers send it on 429.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return Some(Duration::from_secs_f64(ms.max(0.0) / 1000.0));
    }
    get("retry-after").and_then(|v| v.parse::<f64>().ok()).map(|s| Duration::from_secs_f64(s.max(0.0)))
}

/// The provider's error message (`{"error": {"message": ...}}`), or the start of the body.
fn error_message(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().or(v["error"].as_str()).map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(200).collect())
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

    #[test]
    fn retry_after_and_error_messages() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert("retry-after-ms", "1500".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
        assert_eq!(error_message(r#"{"error": {"message": "quota", "type": "x"}}"#), "quota");
        assert_eq!(error_message("Bad Gateway"), "Bad Gateway");
    }
}
