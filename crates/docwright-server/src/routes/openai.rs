//! The OpenAI-compatible front door (SPEC A8): `GET /v1/models`, `POST /v1/chat/completions`
//! (JSON or server-sent events, with function calling), `POST /v1/embeddings`, so OpenAI SDKs
//! work unchanged against docwright — with its routing, permissions and stats. Request and
//! response shapes follow the public OpenAI API reference (chat completion object, chat
//! completion chunk object, `data: [DONE]`). Tools travel to every provider in its own form
//! (`docwright_llm::tools`); finish reasons are OpenAI's (`stop`, `length`, `tool_calls`,
//! `content_filter`) whatever the provider said.

use std::convert::Infallible;
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use docwright_engine::Grant;
use docwright_engine::billing::Held;
use docwright_engine::gateway::{AiRequest, EmbedCall, GatewayError, Model, Operation};
use docwright_llm::{Message, OutputFormat, Part, Role, StreamEvent, Tool, ToolCall, ToolChoice};
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
    #[schema(value_type = Vec<crate::schemas::ChatMessage>, min_items = 1)]
    messages: Vec<Value>,
    #[serde(default, deserialize_with = "count")]
    max_tokens: Option<u32>,
    #[serde(default, deserialize_with = "count")]
    max_completion_tokens: Option<u32>,
    temperature: Option<f32>,
    #[serde(default)]
    stream: bool,
    /// Choices to generate: only 1 (the default) is served; more is refused, not ignored.
    #[schema(minimum = 1, maximum = 1)]
    #[serde(default, deserialize_with = "count")]
    n: Option<u32>,
    /// Functions the model may call: `[{type: "function", function: {name, description,
    /// parameters}}]`.
    #[schema(value_type = Option<Vec<crate::schemas::ChatTool>>)]
    tools: Option<Vec<Value>>,
    /// `auto`, `none`, `required`, or `{type: "function", function: {name}}`.
    #[schema(value_type = Option<crate::schemas::ChatToolChoice>)]
    tool_choice: Option<Value>,
    /// `false`: at most one tool call per answer.
    parallel_tool_calls: Option<bool>,
    #[schema(value_type = Option<Object>)]
    stream_options: Option<Value>,
    #[schema(value_type = Option<crate::schemas::ResponseFormat>)]
    response_format: Option<Value>,
    /// docwright extension: only these providers may serve the request.
    #[schema(value_type = Option<Vec<crate::schemas::ProviderName>>)]
    allowed_providers: Option<Vec<String>>,
    /// docwright extension: an input larger than the model's context is split into chunks
    /// processed in parallel and the answers merged (text concatenated, JSON arrays joined);
    /// `docwright.chunks` tells how many. Not with `stream`.
    #[serde(default)]
    chunking: bool,
}

/// A count (`max_tokens`, `n`, ...) written as any JSON number that is a whole one from 0 to
/// 2³² − 1: JSON Schema, and so OpenAPI clients, count `8.0` as the integer 8.
pub(super) fn count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let Some(n) = Option::<f64>::deserialize(d)? else { return Ok(None) };
    if n.fract() != 0.0 || !(0.0..=f64::from(u32::MAX)).contains(&n) {
        return Err(serde::de::Error::custom(format!("`{n}` is not a whole number from 0 to {}", u32::MAX)));
    }
    Ok(Some(n as u32))
}

/// An image part from a `data:` URL (base64); docwright fetches no URLs.
pub(super) fn data_url_image(url: &str) -> Result<Part, &'static str> {
    let (head, data) = url
        .strip_prefix("data:")
        .and_then(|u| u.split_once(";base64,"))
        .ok_or("images must be data: URLs (base64); docwright does not fetch URLs")?;
    let data =
        base64::engine::general_purpose::STANDARD.decode(data).map_err(|_| "the image data is not valid base64")?;
    Ok(Part::Image { mime_type: head.to_owned(), data })
}

fn parse_messages(raw: &[Value]) -> Result<Vec<Message>, ApiError> {
    let bad = |i: usize, why: &str| ApiError::validation(format!("messages[{i}]"), format!("messages[{i}]: {why}"));
    let mut out = Vec::new();
    for (i, m) in raw.iter().enumerate() {
        let role = match m["role"].as_str() {
            Some("system" | "developer") => Role::System,
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            Some("tool") => Role::Tool,
            _ => return Err(bad(i, "role must be system, developer, user, assistant or tool")),
        };
        if role == Role::Tool {
            let call_id = m["tool_call_id"]
                .as_str()
                .filter(|id| !id.is_empty())
                .ok_or_else(|| bad(i, "a tool message needs the tool_call_id of the call it answers"))?;
            let content = match &m["content"] {
                Value::String(s) => s.clone(),
                Value::Array(items) if items.iter().all(|p| p["type"] == "text") => {
                    items.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join("\n")
                }
                _ => return Err(bad(i, "a tool message's content must be a string or text parts")),
            };
            out.push(Message { role, parts: vec![Part::ToolResult { call_id: call_id.to_owned(), content }] });
            continue;
        }
        let mut parts = match &m["content"] {
            Value::String(s) => vec![Part::Text(s.clone())],
            Value::Array(items) => {
                let mut parts = Vec::new();
                for item in items {
                    match item["type"].as_str() {
                        Some("text") => parts.push(Part::Text(item["text"].as_str().unwrap_or_default().to_owned())),
                        Some("image_url") => {
                            let url = item["image_url"]["url"].as_str().unwrap_or_default();
                            parts.push(data_url_image(url).map_err(|why| bad(i, why))?);
                        }
                        _ => return Err(bad(i, "content parts must be of type text or image_url")),
                    }
                }
                parts
            }
            Value::Null if role == Role::Assistant => vec![Part::Text(String::new())],
            _ => return Err(bad(i, "content must be a string or an array of parts")),
        };
        if role == Role::Assistant {
            for (n, c) in m["tool_calls"].as_array().into_iter().flatten().enumerate() {
                let (Some(id), Some(name)) = (c["id"].as_str(), c["function"]["name"].as_str()) else {
                    return Err(bad(i, &format!("tool_calls[{n}] needs an id and function.name")));
                };
                let arguments = c["function"]["arguments"].as_str().unwrap_or("{}").to_owned();
                parts.push(Part::ToolCall(ToolCall { id: id.to_owned(), name: name.to_owned(), arguments }));
            }
        }
        out.push(Message { role, parts });
    }
    if out.is_empty() {
        return Err(ApiError::validation("messages", "messages must not be empty"));
    }
    Ok(out)
}

/// How a front door spells its tools: Chat Completions nests each function
/// (`{type: "function", function: {name, ...}}`), the Responses API does not
/// (`{type: "function", name, ...}`); `tool_choice` names a function the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ToolSpelling {
    Nested,
    Flat,
}

/// The request's `tools` and `tool_choice`, checked.
pub(super) fn parse_tools(
    tools: Option<&[Value]>,
    choice: Option<&Value>,
    spelling: ToolSpelling,
) -> Result<(Vec<Tool>, ToolChoice), ApiError> {
    let inner = if spelling == ToolSpelling::Nested { ".function" } else { "" };
    let function = |v: &Value| if spelling == ToolSpelling::Nested { v["function"].clone() } else { v.clone() };
    let mut parsed = Vec::new();
    for (i, t) in tools.unwrap_or_default().iter().enumerate() {
        let bad = |field: &str, why: String| {
            ApiError::validation(format!("tools[{i}]{field}"), format!("tools[{i}]{field}: {why}"))
        };
        if t["type"] != "function" {
            return Err(bad(".type", "only tools of type `function` are supported".to_owned()));
        }
        let f = function(t);
        let name = f["name"].as_str().ok_or_else(|| bad(&format!("{inner}.name"), "required".to_owned()))?;
        let description = f["description"].as_str().map(str::to_owned);
        let parameters = Some(f["parameters"].clone()).filter(|p| !p.is_null());
        let tool = Tool::new(name, description, parameters).map_err(|e| {
            let field = if e.starts_with("name") { "name" } else { "parameters" };
            bad(&format!("{inner}.{field}"), e)
        })?;
        if parsed.iter().any(|p: &Tool| p.name() == tool.name()) {
            return Err(bad(&format!("{inner}.name"), format!("`{name}` is declared twice")));
        }
        parsed.push(tool);
    }
    let bad_choice = |why: &str| ApiError::validation("tool_choice", format!("tool_choice: {why}"));
    let choice = match choice {
        None | Some(Value::Null) => ToolChoice::Auto,
        Some(Value::String(s)) => match s.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            _ => return Err(bad_choice("must be auto, none, required or a function")),
        },
        Some(v) => match function(v)["name"].as_str() {
            Some(name) if v["type"] == "function" => ToolChoice::Function(name.to_owned()),
            _ if spelling == ToolSpelling::Nested => {
                return Err(bad_choice("an object must be {\"type\": \"function\", \"function\": {\"name\": ...}}"));
            }
            _ => return Err(bad_choice("an object must be {\"type\": \"function\", \"name\": ...}")),
        },
    };
    if parsed.is_empty() && matches!(choice, ToolChoice::Required | ToolChoice::Function(_)) {
        return Err(bad_choice("requires tools"));
    }
    if let ToolChoice::Function(name) = &choice
        && !parsed.iter().any(|t| t.name() == name)
    {
        return Err(bad_choice(&format!("function `{name}` is not among the tools")));
    }
    Ok((parsed, choice))
}

/// OpenAI's finish reason for a provider's: `tool_calls` when the model called tools,
/// `length` when it hit the output limit, `content_filter` when it was blocked, else `stop`.
pub(super) fn finish_reason(raw: Option<&str>, called: bool) -> &'static str {
    if called {
        return "tool_calls";
    }
    match raw.unwrap_or("stop") {
        "length" | "max_tokens" | "MAX_TOKENS" => "length",
        "content_filter" | "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "refusal" => "content_filter",
        _ => "stop",
    }
}

/// Tool calls in OpenAI's shape.
pub(super) fn tool_calls_json(calls: &[ToolCall]) -> Value {
    json!(
        calls
            .iter()
            .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
            .collect::<Vec<_>>()
    )
}

pub(super) fn output_format(rf: Option<&Value>) -> Result<OutputFormat, ApiError> {
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
pub(super) fn whole_secs(d: std::time::Duration) -> u64 {
    d.as_secs_f64().ceil().max(1.0) as u64
}

pub(super) fn gateway_error(e: GatewayError) -> ApiError {
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
    let (tools, tool_choice) = parse_tools(body.tools.as_deref(), body.tool_choice.as_ref(), ToolSpelling::Nested)?;
    let req = AiRequest {
        model: body.model.clone(),
        operation: Operation::DataGenerate,
        priority: None,
        messages: parse_messages(&body.messages)?,
        max_output_tokens: body.max_completion_tokens.or(body.max_tokens),
        temperature: body.temperature,
        output: output_format(body.response_format.as_ref())?,
        tools,
        tool_choice,
        parallel_tool_calls: body.parallel_tool_calls,
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
    if body.chunking && !req.tools.is_empty() {
        return Err(ApiError::validation("chunking", "chunking merges text answers, so it cannot take tools"));
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
        let called = !r.tool_calls.is_empty();
        let mut message = json!({"role": "assistant", "content": r.content});
        if called {
            if r.content.is_empty() {
                message["content"] = Value::Null;
            }
            message["tool_calls"] = tool_calls_json(&r.tool_calls);
        }
        return Ok(Json(json!({
            "id": id, "object": "chat.completion", "created": created, "model": r.model,
            "choices": [{"index": 0, "message": message,
                         "finish_reason": finish_reason(r.finish_reason.as_deref(), called)}],
            "usage": {"prompt_tokens": r.input_tokens, "completion_tokens": r.output_tokens, "total_tokens": r.input_tokens + r.output_tokens},
            "docwright": {"provider": r.provider, "price": r.price.to_string(), "processing_time_ms": r.processing_time_ms,
                          "bytes_sent": r.bytes_sent, "bytes_received": r.bytes_received, "error_count": r.error_count,
                          "chunks": r.chunks, "attempts": attempts},
        }))
        .into_response());
    }

    let include_usage = body.stream_options.as_ref().is_some_and(|o| o["include_usage"] == json!(true));
    let (model, upstream, held) = state.engine.ai_stream(&grant, &req).await.map_err(gateway_error)?;
    let name = model.name.clone();
    let usage_id = id.clone();
    let chunk = move |delta: Value, finish: Value| {
        let c = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": name,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        Event::default().data(c.to_string())
    };
    let first = vec![chunk(json!({"role": "assistant", "content": ""}), Value::Null)];
    Ok(relay(&state, grant, req, (model, upstream, held), first, move |step| match step {
        Relayed::Piece(StreamEvent::Delta(t)) => vec![chunk(json!({"content": t}), Value::Null)],
        Relayed::Piece(StreamEvent::ToolCall(piece)) => {
            let mut call = json!({"index": piece.index, "function": {"arguments": piece.arguments}});
            if let Some(id) = &piece.id {
                call["id"] = json!(id);
                call["type"] = json!("function");
            }
            if let Some(name) = &piece.name {
                call["function"]["name"] = json!(name);
            }
            vec![chunk(json!({"tool_calls": [call]}), Value::Null)]
        }
        Relayed::Piece(StreamEvent::Done(_)) => Vec::new(),
        Relayed::Finished { response: r, price, model } => {
            let finish = finish_reason(r.finish_reason.as_deref(), !r.tool_calls.is_empty());
            let mut out = vec![chunk(json!({}), json!(finish))];
            if include_usage {
                // The usage chunk is a chunk of the same completion: same id, no choices.
                let usage = json!({"id": usage_id, "object": "chat.completion.chunk", "created": created, "model": model.name, "choices": [],
                    "usage": {"prompt_tokens": r.usage.input_tokens, "completion_tokens": r.usage.output_tokens,
                              "total_tokens": r.usage.input_tokens + r.usage.output_tokens},
                    "docwright": {"provider": model.provider, "price": price.to_string()}});
                out.push(Event::default().data(usage.to_string()));
            }
            out.push(Event::default().data("[DONE]"));
            out
        }
        Relayed::Failed { code, message } => {
            vec![Event::default().data(json!({"error": {"code": code, "message": message}}).to_string())]
        }
    }))
}

/// One step of a relayed stream, as a front door translates it into its events.
pub(super) enum Relayed<'a> {
    /// A text delta or a tool-call piece from the provider (`Done` never comes here).
    Piece(&'a StreamEvent),
    /// The call finished and was recorded at this price.
    Finished { response: &'a docwright_llm::ChatResponse, price: docwright_core::money::Money, model: &'a Model },
    /// The call failed (or could not be recorded): a stable code and a message for the client.
    Failed { code: &'static str, message: &'a str },
}

/// Streams a started call to the client as server-sent events: `first`, then what `translate`
/// makes of every step. The upstream is consumed by an owned task, not by the response body: a
/// client that disconnects does not cut the call short, and the call is always recorded.
pub(super) fn relay(
    state: &AppState,
    grant: Grant,
    req: AiRequest,
    (model, mut upstream, held): (Model, docwright_llm::ChatStream, Held),
    first: Vec<Event>,
    mut translate: impl FnMut(Relayed<'_>) -> Vec<Event> + Send + 'static,
) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(64);
    let engine = state.engine.clone();
    state.tasks.spawn("ai-stream", async move {
        let started = Instant::now();
        let send = |events: Vec<Event>| {
            let tx = tx.clone();
            async move {
                for ev in events {
                    let _ = tx.send(ev).await; // the client may be gone; the call goes on regardless
                }
            }
        };
        send(first).await;
        let mut outcome: Result<docwright_llm::ChatResponse, String> = Err("the stream ended early".to_owned());
        while let Some(ev) = upstream.next().await {
            match ev {
                Ok(StreamEvent::Done(r)) => {
                    outcome = Ok(r);
                    break;
                }
                Ok(piece) => send(translate(Relayed::Piece(&piece))).await,
                Err(e) => {
                    outcome = Err(e.to_string());
                    break;
                }
            }
        }
        let ms = started.elapsed().as_millis() as u64;
        let recorded =
            engine.ai_stream_finished(&grant, &req, &model, held, outcome.as_ref().map_err(String::as_str), ms).await;
        let last = match (outcome, recorded) {
            (Ok(r), Ok(price)) => translate(Relayed::Finished { response: &r, price, model: &model }),
            (Err(e), _) | (Ok(_), Err(docwright_engine::Error::Internal(e))) => {
                translate(Relayed::Failed { code: "provider_failed", message: &e })
            }
            (Ok(_), Err(e)) => {
                tracing::error!(error = %e, "recording a streamed AI call failed");
                translate(Relayed::Failed { code: "internal", message: "internal error" })
            }
        };
        send(last).await;
    });
    let events =
        futures_util::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|ev| (Ok::<_, Infallible>(ev), rx)) },
        );
    Sse::new(events).keep_alive(KeepAlive::default()).into_response()
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
    #[schema(value_type = crate::schemas::EmbeddingInput)]
    input: Value,
    /// `float` (the default) or `base64` (little-endian float32s, what the OpenAI SDKs ask for).
    #[schema(value_type = Option<EncodingFormat>)]
    encoding_format: Option<String>,
    /// Ignored.
    #[serde(default, deserialize_with = "count")]
    dimensions: Option<u32>,
    user: Option<String>,
    /// docwright extension: only these providers may serve the request.
    #[schema(value_type = Option<Vec<crate::schemas::ProviderName>>)]
    allowed_providers: Option<Vec<String>>,
}

/// How embedding vectors are encoded (documents `encoding_format`).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // only describes the field in the OpenAPI document
pub(super) enum EncodingFormat {
    Float,
    Base64,
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
