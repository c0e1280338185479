//! The OpenAI-compatible front door (SPEC A8): `GET /v1/models`, `POST /v1/chat/completions`
//! (JSON or server-sent events), `POST /v1/embeddings`, so OpenAI SDKs work unchanged against docwright — with its
//! routing, permissions and stats. Request and response shapes follow the public OpenAI API
//! reference (chat completion object, chat completion chunk object, `data: [DONE]`).

use std::convert::Infallible;
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use docwright_engine::gateway::{AiRequest, EmbedCall, GatewayError, Operation};
use docwright_llm::{Message, OutputFormat, Part, Role, StreamEvent};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::guard::Authorized;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ModelEntry {
    id: String,
    object: &'static str,
    created: i64,
    owned_by: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ModelList {
    object: &'static str,
    data: Vec<ModelEntry>,
}

/// The models you may use (OpenAI "list models" shape); `auto` lets the gateway choose.
#[utoipa::path(get, path = "/v1/models", tag = "openai", responses((status = 200, body = ModelList), (status = 403, body = ErrorBody)))]
pub(crate) async fn list_models(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
) -> Result<Json<ModelList>, ApiError> {
    let models = state.engine.usable_models(&grant).await?;
    let mut data: Vec<ModelEntry> = models
        .into_iter()
        .map(|m| ModelEntry { id: m.name, object: "model", created: 0, owned_by: m.provider })
        .collect();
    if !data.is_empty() {
        data.push(ModelEntry { id: "auto".to_owned(), object: "model", created: 0, owned_by: "docwright".to_owned() });
    }
    Ok(Json(ModelList { object: "list", data }))
}

/// One model you may use (OpenAI "retrieve model" shape); `auto` too.
#[utoipa::path(get, path = "/v1/models/{model}", tag = "openai", params(("model" = String, Path, description = "A model id from /v1/models")),
    responses((status = 200, body = ModelEntry), (status = 404, description = "model_not_found", body = ErrorBody)))]
pub(crate) async fn retrieve_model(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    crate::error::ApiPath(model): crate::error::ApiPath<String>,
) -> Result<Json<ModelEntry>, ApiError> {
    let models = state.engine.usable_models(&grant).await?;
    let entry = if model == "auto" && !models.is_empty() {
        Some(ModelEntry { id: "auto".to_owned(), object: "model", created: 0, owned_by: "docwright".to_owned() })
    } else {
        models.into_iter().find(|m| m.name == model).map(|m| ModelEntry {
            id: m.name,
            object: "model",
            created: 0,
            owned_by: m.provider,
        })
    };
    entry.map(Json).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "model_not_found", format!("unknown model `{model}`; see GET /v1/models"))
    })
}

/// An OpenAI chat completion request. Parameters docwright does not use (`top_p`, `n`,
/// `user`, ...) are accepted and ignored, as OpenAI-compatible servers do, so SDKs work.
#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct CompletionRequest {
    /// A model from `/v1/models`, or `auto`.
    model: String,
    #[schema(value_type = Vec<Object>)]
    messages: Vec<Value>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    temperature: Option<f32>,
    #[serde(default)]
    stream: bool,
    /// Choices to generate: only 1 (the default) is served; more is refused, not ignored.
    n: Option<u32>,
    #[schema(value_type = Option<Object>)]
    stream_options: Option<Value>,
    #[schema(value_type = Option<Object>)]
    response_format: Option<Value>,
    /// docwright extension: only these providers may serve the request.
    allowed_providers: Option<Vec<String>>,
    /// docwright extension: an input larger than the model's context is split into chunks
    /// processed in parallel and the answers merged (text concatenated, JSON arrays joined);
    /// `docwright.chunks` tells how many. Not with `stream`.
    #[serde(default)]
    chunking: bool,
}

fn parse_messages(raw: &[Value]) -> Result<Vec<Message>, ApiError> {
    let bad = |i: usize, why: &str| ApiError::validation(format!("messages[{i}]"), format!("messages[{i}]: {why}"));
    let mut out = Vec::new();
    for (i, m) in raw.iter().enumerate() {
        let role = match m["role"].as_str() {
            Some("system" | "developer") => Role::System,
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            _ => return Err(bad(i, "role must be system, developer, user or assistant")),
        };
        let parts = match &m["content"] {
            Value::String(s) => vec![Part::Text(s.clone())],
            Value::Array(items) => {
                let mut parts = Vec::new();
                for item in items {
                    match item["type"].as_str() {
                        Some("text") => parts.push(Part::Text(item["text"].as_str().unwrap_or_default().to_owned())),
                        Some("image_url") => {
                            let url = item["image_url"]["url"].as_str().unwrap_or_default();
                            let (head, data) =
                                url.strip_prefix("data:").and_then(|u| u.split_once(";base64,")).ok_or_else(|| {
                                    bad(i, "images must be data: URLs (base64); docwright does not fetch URLs")
                                })?;
                            let data = base64::engine::general_purpose::STANDARD
                                .decode(data)
                                .map_err(|_| bad(i, "the image data is not valid base64"))?;
                            parts.push(Part::Image { mime_type: head.to_owned(), data });
                        }
                        _ => return Err(bad(i, "content parts must be of type text or image_url")),
                    }
                }
                parts
            }
            Value::Null if role == Role::Assistant => vec![Part::Text(String::new())],
            _ => return Err(bad(i, "content must be a string or an array of parts")),
        };
        out.push(Message { role, parts });
    }
    if out.is_empty() {
        return Err(ApiError::validation("messages", "messages must not be empty"));
    }
    Ok(out)
}

fn output_format(rf: Option<&Value>) -> Result<OutputFormat, ApiError> {
    match rf.and_then(|v| v["type"].as_str()) {
        None | Some("text") => Ok(OutputFormat::Text),
        Some("json_object") => Ok(OutputFormat::Json { schema: None }),
        Some("json_schema") => {
            Ok(OutputFormat::Json { schema: rf.map(|v| v["json_schema"]["schema"].clone()).filter(|s| !s.is_null()) })
        }
        Some(other) => {
            Err(ApiError::validation("response_format", format!("response_format type `{other}` is not supported")))
        }
    }
}

/// `Retry-After` in whole seconds, rounded up: a client must not come back too early.
fn whole_secs(d: std::time::Duration) -> u64 {
    d.as_secs_f64().ceil().max(1.0) as u64
}

fn gateway_error(e: GatewayError) -> ApiError {
    match e {
        GatewayError::UnknownModel(m) => {
            ApiError::new(StatusCode::NOT_FOUND, "model_not_found", format!("unknown model `{m}`; see GET /v1/models"))
        }
        GatewayError::NoCandidate(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "no_model_available", m),
        e @ GatewayError::RateLimited { retry_after, .. } => ApiError {
            retry_after: Some(whole_secs(retry_after)),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", e.to_string())
        },
        e @ GatewayError::AllFailed { retry_after, .. } => ApiError {
            retry_after: retry_after.map(whole_secs),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "provider_unavailable", e.to_string())
        },
        e @ GatewayError::InsufficientBalance { .. } => insufficient(e),
        GatewayError::Engine(e) => (*e).into(),
    }
}

/// 402 `insufficient_balance` with the balance and the amount the call needed (SPEC B3).
pub(crate) fn insufficient(e: GatewayError) -> ApiError {
    let message = e.to_string();
    let GatewayError::InsufficientBalance { balance, available, required, currency } = e else {
        return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message);
    };
    ApiError {
        details: Some(Box::new(json!({"balance": balance.to_string(), "available": available.to_string(),
                             "required": required.to_string(), "currency": currency}))),
        ..ApiError::new(StatusCode::PAYMENT_REQUIRED, "insufficient_balance", message)
    }
}

/// Create a chat completion through the gateway (with `stream: true`, as server-sent events).
/// The response carries a `docwright` object with the provider, the exact price and attempts.
#[utoipa::path(post, path = "/v1/chat/completions", tag = "openai", request_body = CompletionRequest, responses(
    (status = 200, description = "A chat.completion object, or an SSE stream of chat.completion.chunk objects ending in [DONE]"),
    (status = 400, body = ErrorBody), (status = 402, description = "insufficient_balance: details hold balance, available, required, currency", body = ErrorBody),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 503, description = "Every candidate failed; the message lists the attempts", body = ErrorBody)))]
pub(crate) async fn chat_completions(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiJson(body): ApiJson<CompletionRequest>,
) -> Result<Response, ApiError> {
    let req = AiRequest {
        model: body.model.clone(),
        operation: Operation::DataGenerate,
        priority: None,
        messages: parse_messages(&body.messages)?,
        max_output_tokens: body.max_completion_tokens.or(body.max_tokens),
        temperature: body.temperature,
        output: output_format(body.response_format.as_ref())?,
        allowed_providers: body.allowed_providers.clone(),
        process: "api.chat.completions".to_owned(),
        reference: None,
    };
    if body.n.is_some_and(|n| n != 1) {
        return Err(ApiError::validation("n", "n: only one choice per request is served (n = 1)"));
    }
    let id = format!("chatcmpl-{}", uuid::Uuid::now_v7().simple());
    let created = docwright_core::time::Timestamp::now().unix_secs();
    if body.chunking && body.stream {
        return Err(ApiError::validation("chunking", "chunking answers are merged, so they cannot be streamed"));
    }
    if !body.stream {
        let r = if body.chunking {
            state.engine.ai_call_chunked(&grant, &req).await
        } else {
            state.engine.ai_call(&grant, &req).await
        }
        .map_err(gateway_error)?;
        let attempts: Vec<Value> = r
            .attempts
            .iter()
            .map(|a| json!({"model": a.model, "provider": a.provider, "error": a.error, "duration_ms": a.duration_ms}))
            .collect();
        return Ok(Json(json!({
            "id": id, "object": "chat.completion", "created": created, "model": r.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": r.content},
                         "finish_reason": r.finish_reason.unwrap_or_else(|| "stop".to_owned())}],
            "usage": {"prompt_tokens": r.input_tokens, "completion_tokens": r.output_tokens, "total_tokens": r.input_tokens + r.output_tokens},
            "docwright": {"provider": r.provider, "price": r.price.to_string(), "processing_time_ms": r.processing_time_ms,
                          "bytes_sent": r.bytes_sent, "bytes_received": r.bytes_received, "error_count": r.error_count,
                          "chunks": r.chunks, "attempts": attempts},
        }))
        .into_response());
    }

    let include_usage = body.stream_options.as_ref().is_some_and(|o| o["include_usage"] == json!(true));
    let (model, mut upstream, held) = state.engine.ai_stream(&grant, &req).await.map_err(gateway_error)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(64);
    let engine = state.engine.clone();
    let name = model.name.clone();
    let usage_id = id.clone();
    let chunk = move |delta: Value, finish: Value| {
        json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": name,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    // The upstream is consumed by an owned task, not by the response body: a client that
    // disconnects does not cut the call short, and the call is always recorded.
    state.tasks.spawn("ai-stream", async move {
        let started = Instant::now();
        let send = |ev: Event| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(ev).await; // the client may be gone; the call goes on regardless
            }
        };
        send(Event::default().data(chunk(json!({"role": "assistant", "content": ""}), Value::Null).to_string())).await;
        let mut outcome: Result<docwright_llm::ChatResponse, String> = Err("the stream ended early".to_owned());
        while let Some(ev) = upstream.next().await {
            match ev {
                Ok(StreamEvent::Delta(t)) => send(Event::default().data(chunk(json!({"content": t}), Value::Null).to_string())).await,
                Ok(StreamEvent::Done(r)) => {
                    outcome = Ok(r);
                    break;
                }
                Err(e) => {
                    outcome = Err(e.to_string());
                    break;
                }
            }
        }
        let ms = started.elapsed().as_millis() as u64;
        let recorded =
            engine.ai_stream_finished(&grant, &req, &model, held, outcome.as_ref().map_err(String::as_str), ms).await;
        match (outcome, recorded) {
            (Ok(r), Ok(price)) => {
                let finish = r.finish_reason.clone().unwrap_or_else(|| "stop".to_owned());
                send(Event::default().data(chunk(json!({}), json!(finish)).to_string())).await;
                if include_usage {
                    let usage = json!({"id": usage_id, "object": "chat.completion.chunk", "created": created, "model": model.name, "choices": [],
                        "usage": {"prompt_tokens": r.usage.input_tokens, "completion_tokens": r.usage.output_tokens,
                                  "total_tokens": r.usage.input_tokens + r.usage.output_tokens},
                        "docwright": {"provider": model.provider, "price": price.to_string()}});
                    send(Event::default().data(usage.to_string())).await;
                }
                send(Event::default().data("[DONE]")).await;
            }
            (Err(e), _) | (Ok(_), Err(docwright_engine::Error::Internal(e))) => {
                send(Event::default().data(json!({"error": {"code": "provider_failed", "message": e}}).to_string())).await;
            }
            (Ok(_), Err(e)) => {
                tracing::error!(error = %e, "recording a streamed AI call failed");
                send(Event::default().data(json!({"error": {"code": "internal", "message": "internal error"}}).to_string())).await;
            }
        }
    });
    let events =
        futures_util::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|ev| (Ok::<_, Infallible>(ev), rx)) },
        );
    Ok(Sse::new(events).keep_alive(KeepAlive::default()).into_response())
}

/// The most texts one embeddings request may carry (OpenAI's own limit).
const MAX_EMBEDDING_INPUTS: usize = 2048;

/// An OpenAI embeddings request. `user` and `dimensions` are accepted and ignored (the model
/// decides the dimension), as OpenAI-compatible servers do.
#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct EmbeddingRequest {
    /// An embedding model from `/v1/models`, or `auto`.
    model: String,
    /// A string or an array of strings (token arrays are not taken).
    #[schema(value_type = Object)]
    input: Value,
    /// `float` (the default) or `base64` (little-endian float32s, what the OpenAI SDKs ask for).
    encoding_format: Option<String>,
    dimensions: Option<u32>,
    user: Option<String>,
    /// docwright extension: only these providers may serve the request.
    allowed_providers: Option<Vec<String>>,
}

fn embedding_inputs(input: &Value) -> Result<Vec<String>, ApiError> {
    let bad = |why: &str| ApiError::validation("input", format!("input: {why}"));
    let texts: Vec<String> = match input {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|t| t.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| bad("must be a string or an array of strings (token arrays are not supported)"))?,
        Value::Array(_) => return Err(bad("must not be an empty array")),
        _ => return Err(bad("must be a string or an array of strings")),
    };
    if texts.len() > MAX_EMBEDDING_INPUTS {
        return Err(bad(&format!("at most {MAX_EMBEDDING_INPUTS} texts per request")));
    }
    if let Some(i) = texts.iter().position(|t| t.trim().is_empty()) {
        return Err(ApiError::validation(format!("input[{i}]"), format!("input[{i}]: must not be empty")));
    }
    Ok(texts)
}

/// Create embeddings through the gateway (OpenAI "create embeddings" shape), billed and
/// recorded like any call; the response carries a `docwright` object with the provider and
/// the exact price.
#[utoipa::path(post, path = "/v1/embeddings", tag = "openai", request_body = EmbeddingRequest, responses(
    (status = 200, description = "A list of embedding objects in input order, with usage"),
    (status = 400, body = ErrorBody), (status = 402, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody), (status = 422, description = "no_model_available: the model cannot embed", body = ErrorBody),
    (status = 503, body = ErrorBody)))]
pub(crate) async fn embeddings(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiJson(body): ApiJson<EmbeddingRequest>,
) -> Result<Json<Value>, ApiError> {
    let _ignored = (body.dimensions, body.user.as_ref());
    let base64 = match body.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::validation(
                "encoding_format",
                format!("encoding_format `{other}` is not supported (float or base64)"),
            ));
        }
    };
    let call = EmbedCall {
        model: body.model.clone(),
        inputs: embedding_inputs(&body.input)?,
        allowed_providers: body.allowed_providers.clone(),
        process: "api.embeddings".to_owned(),
        reference: None,
    };
    let r = state.engine.ai_embed(&grant, &call).await.map_err(gateway_error)?;
    let data: Vec<Value> = r
        .vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    let attempts: Vec<Value> = r
        .attempts
        .iter()
        .map(|a| json!({"model": a.model, "provider": a.provider, "error": a.error, "duration_ms": a.duration_ms}))
        .collect();
    Ok(Json(json!({
        "object": "list", "data": data, "model": r.model,
        "usage": {"prompt_tokens": r.input_tokens, "total_tokens": r.input_tokens},
        "docwright": {"provider": r.provider, "price": r.price.to_string(), "processing_time_ms": r.processing_time_ms,
                      "attempts": attempts},
    })))
}
