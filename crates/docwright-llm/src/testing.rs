//! Test support (feature `testing`): a fake OpenAI chat-completions server on 127.0.0.1.
//!
//! A fake OpenAI chat-completions server. Shapes follow the public API reference
//! (platform.openai.com/docs/api-reference/chat: "The chat completion object", "The chat
//! completion chunk object", SSE `data:` lines ending with `data: [DONE]`). Each test scripts
//! its answers and reads back the requests the server received.

// Test support: a fake that cannot start must fail the test loudly, right here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// What the fake answers to the next request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A chat completion with this content and usage (prompt, completion tokens).
    Ok { content: String, usage: Option<(u64, u64)> },
    /// An SSE stream of these deltas; `usage` as a final chunk; `done` sends `[DONE]`.
    Stream { deltas: Vec<String>, usage: Option<(u64, u64)>, done: bool },
    /// An error status with an OpenAI error body, and optionally `Retry-After` seconds.
    Status { status: u16, retry_after: Option<u64> },
    /// Answers only after this delay (then a normal completion).
    Slow(Duration),
    /// 200 with a body that is not JSON.
    Garbage,
}

/// A request the fake received.
#[derive(Clone, Debug)]
pub struct Received {
    pub body: Value,
    pub authorization: Option<String>,
    /// Every header, lower-cased names.
    pub headers: Vec<(String, String)>,
    /// Path and query, e.g. `/v1beta/models/gemini-x:streamGenerateContent?alt=sse`.
    pub path: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Default)]
struct Shared {
    replies: Arc<Mutex<VecDeque<Reply>>>,
    received: Arc<Mutex<Vec<Received>>>,
}

/// One fake server speaking three protocols from one script: OpenAI chat completions at
/// `{base_url}/chat/completions`, the Anthropic Messages API at `{anthropic_url}/v1/messages`
/// (docs.anthropic.com/en/api/messages, "Streaming Messages") and Gemini at
/// `{anthropic_url}/v1beta/models/{model}:generateContent` (ai.google.dev/api/generate-content;
/// `:streamGenerateContent?alt=sse`). `anthropic_url` is the server's root.
pub struct FakeOpenAi {
    pub base_url: String,
    pub anthropic_url: String,
    shared: Shared,
}

impl FakeOpenAi {
    pub async fn start() -> Self {
        let shared = Shared::default();
        let app = Router::new()
            .route("/v1/chat/completions", post(handle))
            .route("/v1/messages", post(handle_anthropic))
            .route("/v1beta/models/{*action}", post(handle_gemini))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        #[allow(clippy::disallowed_methods)] // The fake lives as long as the test's runtime.
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base_url: format!("http://{addr}/v1"), anthropic_url: format!("http://{addr}"), shared }
    }

    pub fn reply(&self, r: Reply) {
        self.shared.replies.lock().unwrap().push_back(r);
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }
}

fn completion(model: &str, content: &str, usage: Option<(u64, u64)>) -> Value {
    let mut v = json!({
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 1_700_000_000, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
    });
    if let Some((p, c)) = usage {
        v["usage"] = json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c});
    }
    v
}

/// Records the request and takes the next scripted reply.
fn receive(shared: &Shared, uri: &axum::http::Uri, headers: &HeaderMap, body: &str) -> (Value, Reply) {
    let body: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let all = headers.iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned())).collect();
    let path = uri.path_and_query().map(ToString::to_string).unwrap_or_default();
    shared.received.lock().unwrap().push(Received { body: body.clone(), authorization, headers: all, path });
    let reply =
        shared.replies.lock().unwrap().pop_front().unwrap_or(Reply::Ok { content: "ok".into(), usage: Some((1, 1)) });
    (body, reply)
}

async fn handle(State(shared): State<Shared>, uri: axum::http::Uri, headers: HeaderMap, body: String) -> Response {
    let (body, reply) = receive(&shared, &uri, &headers, &body);
    let model = body["model"].as_str().unwrap_or("unknown").to_owned();
    match reply {
        Reply::Ok { content, usage } => axum::Json(completion(&model, &content, usage)).into_response(),
        Reply::Slow(d) => {
            tokio::time::sleep(d).await;
            axum::Json(completion(&model, "late", Some((1, 1)))).into_response()
        }
        Reply::Garbage => (StatusCode::OK, [("content-type", "application/json")], "{\"choices\": [").into_response(),
        Reply::Status { status, retry_after } => {
            let mut resp = (
                StatusCode::from_u16(status).unwrap(),
                axum::Json(
                    json!({"error": {"message": format!("fake error {status}"), "type": "server_error", "code": null}}),
                ),
            )
                .into_response();
            if let Some(s) = retry_after {
                resp.headers_mut().insert("retry-after", s.to_string().parse().unwrap());
            }
            resp
        }
        Reply::Stream { deltas, usage, done } => {
            let mut out = String::new();
            let chunk = |delta: Value, finish: Value| {
                json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            };
            out.push_str(&format!("data: {}\n\n", chunk(json!({"role": "assistant", "content": ""}), Value::Null)));
            for d in &deltas {
                out.push_str(&format!("data: {}\n\n", chunk(json!({"content": d}), Value::Null)));
            }
            out.push_str(&format!("data: {}\n\n", chunk(json!({}), json!("stop"))));
            if let Some((p, c)) = usage {
                let u = json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_700_000_000,
                               "model": model, "choices": [],
                               "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}});
                out.push_str(&format!("data: {u}\n\n"));
            }
            if done {
                out.push_str("data: [DONE]\n\n");
            }
            Response::builder().header("content-type", "text/event-stream").body(Body::from(out)).unwrap()
        }
    }
}

fn anthropic_message(model: &str, content: &str, usage: Option<(u64, u64)>) -> Value {
    let (i, o) = usage.unwrap_or((0, 0));
    json!({"id": "msg_fake", "type": "message", "role": "assistant", "model": model,
           "content": [{"type": "text", "text": content}], "stop_reason": "end_turn", "stop_sequence": null,
           "usage": {"input_tokens": i, "output_tokens": o}})
}

async fn handle_anthropic(
    State(shared): State<Shared>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let (body, reply) = receive(&shared, &uri, &headers, &body);
    let model = body["model"].as_str().unwrap_or("unknown").to_owned();
    let sse = |event: &str, data: Value| format!("event: {event}\ndata: {data}\n\n");
    match reply {
        Reply::Ok { content, usage } => axum::Json(anthropic_message(&model, &content, usage)).into_response(),
        Reply::Slow(d) => {
            tokio::time::sleep(d).await;
            axum::Json(anthropic_message(&model, "late", Some((1, 1)))).into_response()
        }
        Reply::Garbage => (StatusCode::OK, [("content-type", "application/json")], "{\"content\": [").into_response(),
        Reply::Status { status, retry_after } => {
            let kind = match status {
                429 => "rate_limit_error",
                529 => "overloaded_error",
                401 => "authentication_error",
                _ => "api_error",
            };
            let mut resp = (
                StatusCode::from_u16(status).unwrap(),
                axum::Json(
                    json!({"type": "error", "error": {"type": kind, "message": format!("fake error {status}")}}),
                ),
            )
                .into_response();
            if let Some(s) = retry_after {
                resp.headers_mut().insert("retry-after", s.to_string().parse().unwrap());
            }
            resp
        }
        Reply::Stream { deltas, usage, done } => {
            let (i, o) = usage.unwrap_or((0, 0));
            let mut out = sse(
                "message_start",
                json!({"type": "message_start", "message": {"id": "msg_fake", "type": "message",
                "role": "assistant", "model": model, "content": [], "stop_reason": null, "usage": {"input_tokens": i, "output_tokens": 1}}}),
            );
            out.push_str(&sse(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ));
            out.push_str(&sse("ping", json!({"type": "ping"})));
            for d in &deltas {
                out.push_str(&sse(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": d}}),
                ));
            }
            out.push_str(&sse("content_block_stop", json!({"type": "content_block_stop", "index": 0})));
            out.push_str(&sse("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": o}})));
            if done {
                out.push_str(&sse("message_stop", json!({"type": "message_stop"})));
            }
            Response::builder().header("content-type", "text/event-stream").body(Body::from(out)).unwrap()
        }
    }
}

fn gemini_chunk(model: &str, text: &str, finish: Option<&str>, usage: Option<(u64, u64)>) -> Value {
    let mut candidate = json!({"content": {"role": "model", "parts": [{"text": text}]}, "index": 0});
    if let Some(f) = finish {
        candidate["finishReason"] = json!(f);
    }
    let mut v = json!({"candidates": [candidate], "modelVersion": model});
    if let Some((p, c)) = usage {
        v["usageMetadata"] = json!({"promptTokenCount": p, "candidatesTokenCount": c, "totalTokenCount": p + c});
    }
    v
}

async fn handle_gemini(
    State(shared): State<Shared>,
    axum::extract::Path(action): axum::extract::Path<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let (_, reply) = receive(&shared, &uri, &headers, &body);
    let model = action.split(':').next().unwrap_or("unknown").to_owned();
    match reply {
        Reply::Ok { content, usage } => axum::Json(gemini_chunk(&model, &content, Some("STOP"), usage)).into_response(),
        Reply::Slow(d) => {
            tokio::time::sleep(d).await;
            axum::Json(gemini_chunk(&model, "late", Some("STOP"), Some((1, 1)))).into_response()
        }
        Reply::Garbage => {
            (StatusCode::OK, [("content-type", "application/json")], "{\"candidates\": [").into_response()
        }
        Reply::Status { status, retry_after } => {
            let kind = if status == 429 { "RESOURCE_EXHAUSTED" } else { "INTERNAL" };
            let mut resp = (
                StatusCode::from_u16(status).unwrap(),
                axum::Json(
                    json!({"error": {"code": status, "message": format!("fake error {status}"), "status": kind}}),
                ),
            )
                .into_response();
            if let Some(s) = retry_after {
                resp.headers_mut().insert("retry-after", s.to_string().parse().unwrap());
            }
            resp
        }
        Reply::Stream { deltas, usage, done } => {
            let (p, c) = usage.unwrap_or((0, 0));
            let mut out = String::new();
            for d in &deltas {
                out.push_str(&format!("data: {}\r\n\r\n", gemini_chunk(&model, d, None, Some((p, 0)))));
            }
            if done {
                out.push_str(&format!("data: {}\r\n\r\n", gemini_chunk(&model, "", Some("STOP"), Some((p, c)))));
            }
            Response::builder().header("content-type", "text/event-stream").body(Body::from(out)).unwrap()
        }
    }
}
