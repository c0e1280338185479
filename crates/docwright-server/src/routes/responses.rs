//! The OpenAI Responses API (SPEC A8): `POST /v1/responses`, JSON or server-sent events, so
//! code written for `client.responses.create(...)` runs against docwright unchanged, through the
//! same gateway as `/v1/chat/completions` (routing, fallback, permissions, billing).
//!
//! Shapes follow the public API reference: `input` as a string or a list of items (messages
//! with `input_text`/`output_text`/`input_image` parts, `function_call` and
//! `function_call_output` for a function-calling round trip), `instructions`, flat function
//! `tools`, `tool_choice`, `text.format`, `max_output_tokens`; the answer is a `response`
//! object whose `output` holds a `message` item and `function_call` items. Streamed, the
//! events are the documented ones, each with its `sequence_number`: `response.created`,
//! `response.in_progress`, `response.output_item.added`, `response.content_part.added`,
//! `response.output_text.delta`/`.done`, `response.content_part.done`,
//! `response.function_call_arguments.delta`/`.done`, `response.output_item.done`, then
//! `response.completed` (or `response.incomplete`, or `response.failed`).
//!
//! docwright keeps no conversation state for this API: `store` is answered `false`, and
//! `previous_response_id` or `item_reference` items are refused (400) rather than ignored —
//! send the whole conversation as `input`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use docwright_engine::gateway::{AiRequest, Operation};
use docwright_llm::{Message, OutputFormat, Part, Role, StreamEvent, ToolCall};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::openai::{Relayed, ToolSpelling, data_url_image, gateway_error, output_format, parse_tools, relay};
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::guard::Authorized;
use crate::state::AppState;

/// A Responses API request. Parameters docwright does not use (`top_p`, `user`, `reasoning`,
/// `truncation`, ...) are accepted and ignored.
#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct ResponseRequest {
    /// A model from `/v1/models`, or `auto`.
    model: String,
    /// A string (one user message) or a list of input items.
    #[schema(value_type = crate::schemas::ResponseInput)]
    input: Value,
    /// A system message put before the input.
    instructions: Option<String>,
    #[serde(default, deserialize_with = "super::openai::count")]
    max_output_tokens: Option<u32>,
    temperature: Option<f32>,
    #[serde(default)]
    stream: bool,
    /// Functions the model may call: `[{type: "function", name, description, parameters}]`.
    #[schema(value_type = Option<Vec<crate::schemas::ResponseTool>>)]
    tools: Option<Vec<Value>>,
    /// `auto`, `none`, `required`, or `{type: "function", name}`.
    #[schema(value_type = Option<crate::schemas::ResponseToolChoice>)]
    tool_choice: Option<Value>,
    /// `false`: at most one function call per answer.
    parallel_tool_calls: Option<bool>,
    /// `{format: {type: "text" | "json_object" | "json_schema", name, schema, strict}}`.
    #[schema(value_type = Option<crate::schemas::ResponseText>)]
    text: Option<Value>,
    /// Echoed back on the response.
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
    /// Refused: docwright stores no responses; send the whole conversation as `input`.
    #[schema(value_type = Option<crate::schemas::OnlyNull>)]
    previous_response_id: Option<String>,
    /// docwright extension: only these providers may serve the request.
    #[schema(value_type = Option<Vec<crate::schemas::ProviderName>>)]
    allowed_providers: Option<Vec<String>>,
}

fn bad(i: usize, why: &str) -> ApiError {
    ApiError::validation(format!("input[{i}]"), format!("input[{i}]: {why}"))
}

/// The text of a content list or string (`input_text`, `output_text`, `refusal` parts).
fn text_parts(i: usize, content: &Value, images: bool) -> Result<Vec<Part>, ApiError> {
    match content {
        Value::String(s) => Ok(vec![Part::Text(s.clone())]),
        Value::Array(items) => items
            .iter()
            .map(|p| match p["type"].as_str() {
                Some("input_text" | "output_text") => Ok(Part::Text(p["text"].as_str().unwrap_or_default().to_owned())),
                Some("refusal") => Ok(Part::Text(p["refusal"].as_str().unwrap_or_default().to_owned())),
                Some("input_image") if images => match p["image_url"].as_str() {
                    Some(url) => data_url_image(url).map_err(|why| bad(i, why)),
                    None => Err(bad(i, "images must be given as image_url data: URLs; docwright has no file_id store")),
                },
                Some("input_file") => {
                    Err(bad(i, "input_file is not supported; upload to /api/files and use a workflow"))
                }
                _ => Err(bad(i, "content parts must be input_text, output_text, refusal or input_image")),
            })
            .collect(),
        _ => Err(bad(i, "content must be a string or a list of parts")),
    }
}

/// The conversation: `instructions` as the system message, then the input items in order;
/// consecutive function calls join the assistant turn before them.
fn parse_input(instructions: Option<&str>, input: &Value) -> Result<Vec<Message>, ApiError> {
    let mut out: Vec<Message> = instructions.map(|s| Message::text(Role::System, s)).into_iter().collect();
    let items = match input {
        Value::String(s) => return Ok([out, vec![Message::text(Role::User, s.clone())]].concat()),
        Value::Array(items) if !items.is_empty() => items,
        _ => return Err(ApiError::validation("input", "input must be a string or a non-empty list of items")),
    };
    for (i, item) in items.iter().enumerate() {
        match item["type"].as_str().unwrap_or("message") {
            "message" => {
                let role = match item["role"].as_str() {
                    Some("system" | "developer") => Role::System,
                    Some("user") => Role::User,
                    Some("assistant") => Role::Assistant,
                    _ => return Err(bad(i, "role must be system, developer, user or assistant")),
                };
                let parts = text_parts(i, &item["content"], role == Role::User)?;
                out.push(Message { role, parts });
            }
            "function_call" => {
                let (Some(call_id), Some(name)) = (item["call_id"].as_str(), item["name"].as_str()) else {
                    return Err(bad(i, "a function_call needs call_id and name"));
                };
                let arguments = item["arguments"].as_str().unwrap_or("{}").to_owned();
                let call = Part::ToolCall(ToolCall { id: call_id.to_owned(), name: name.to_owned(), arguments });
                match out.last_mut() {
                    Some(m) if m.role == Role::Assistant => m.parts.push(call),
                    _ => out.push(Message { role: Role::Assistant, parts: vec![call] }),
                }
            }
            "function_call_output" => {
                let call_id = item["call_id"]
                    .as_str()
                    .filter(|id| !id.is_empty())
                    .ok_or_else(|| bad(i, "a function_call_output needs the call_id of the call it answers"))?;
                let content = match &item["output"] {
                    Value::String(s) => s.clone(),
                    v @ Value::Array(_) => text_parts(i, v, false)?
                        .into_iter()
                        .filter_map(|p| if let Part::Text(t) = p { Some(t) } else { None })
                        .collect::<Vec<_>>()
                        .join("\n"),
                    _ => return Err(bad(i, "output must be a string or a list of input_text parts")),
                };
                out.push(Message {
                    role: Role::Tool,
                    parts: vec![Part::ToolResult { call_id: call_id.to_owned(), content }],
                });
            }
            // Reasoning items only mean something to the model that made them.
            "reasoning" => {}
            "item_reference" => return Err(bad(i, "docwright stores no items; send the item itself")),
            other => return Err(bad(i, &format!("items of type `{other}` are not supported"))),
        }
    }
    if out.iter().all(|m| m.role == Role::System) {
        return Err(ApiError::validation("input", "input holds no message for the model to answer"));
    }
    Ok(out)
}

/// `text.format` as Chat Completions' `response_format`, which [`output_format`] reads.
fn text_format(text: Option<&Value>) -> Result<OutputFormat, ApiError> {
    let format = text.map(|t| &t["format"]).filter(|f| !f.is_null());
    let as_chat = format.map(|f| match f["type"].as_str() {
        Some("json_schema") => json!({"type": "json_schema", "json_schema": {"schema": f["schema"]}}),
        _ => f.clone(),
    });
    output_format(as_chat.as_ref()).map_err(|e| ApiError { field: Some("text.format".into()), ..e })
}

/// What every response object repeats of its request.
struct Echo {
    id: String,
    created_at: i64,
    instructions: Option<String>,
    max_output_tokens: Option<u32>,
    temperature: Option<f32>,
    tools: Value,
    tool_choice: Value,
    parallel_tool_calls: bool,
    text: Value,
    metadata: Value,
}

impl Echo {
    fn of(body: &ResponseRequest) -> Self {
        let tools = body.tools.iter().flatten().cloned().collect::<Vec<_>>();
        let format = body.text.as_ref().map(|t| t["format"].clone()).filter(|f| !f.is_null());
        Self {
            id: format!("resp_{}", uuid::Uuid::now_v7().simple()),
            created_at: docwright_core::time::Timestamp::now().unix_secs(),
            instructions: body.instructions.clone(),
            max_output_tokens: body.max_output_tokens,
            temperature: body.temperature,
            tools: json!(tools),
            tool_choice: body.tool_choice.clone().unwrap_or_else(|| json!("auto")),
            parallel_tool_calls: body.parallel_tool_calls.unwrap_or(true),
            text: json!({"format": format.unwrap_or_else(|| json!({"type": "text"}))}),
            metadata: body.metadata.clone().unwrap_or_else(|| json!({})),
        }
    }

    /// The response object in this state; `usage` is (input, output) tokens once known.
    fn object(&self, model: &str, status: Status, output: &[Value], usage: Option<(u64, u64)>) -> Value {
        let usage = usage.map(|(input, output)| {
            json!({"input_tokens": input, "input_tokens_details": {"cached_tokens": 0},
                   "output_tokens": output, "output_tokens_details": {"reasoning_tokens": 0},
                   "total_tokens": input + output})
        });
        let (status_name, incomplete, error) = match status {
            Status::InProgress => ("in_progress", Value::Null, Value::Null),
            Status::Completed => ("completed", Value::Null, Value::Null),
            Status::Incomplete(reason) => ("incomplete", json!({"reason": reason}), Value::Null),
            Status::Failed(code, message) => ("failed", Value::Null, json!({"code": code, "message": message})),
        };
        json!({
            "id": self.id, "object": "response", "created_at": self.created_at, "status": status_name,
            "error": error, "incomplete_details": incomplete, "instructions": self.instructions,
            "max_output_tokens": self.max_output_tokens, "model": model, "output": output,
            "parallel_tool_calls": self.parallel_tool_calls, "previous_response_id": null,
            "reasoning": {"effort": null, "summary": null}, "store": false, "temperature": self.temperature,
            "text": self.text, "tool_choice": self.tool_choice, "tools": self.tools, "top_p": null,
            "truncation": "disabled", "usage": usage, "metadata": self.metadata,
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum Status<'a> {
    InProgress,
    Completed,
    Incomplete(&'static str),
    Failed(&'a str, &'a str),
}

/// `completed`, or `incomplete` with the reason the answer stopped short.
fn status_of(finish_reason: Option<&str>, called: bool) -> Status<'static> {
    if called {
        return Status::Completed;
    }
    match super::openai::finish_reason(finish_reason, false) {
        "length" => Status::Incomplete("max_output_tokens"),
        "content_filter" => Status::Incomplete("content_filter"),
        _ => Status::Completed,
    }
}

fn item_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

fn message_item(id: &str, text: &str, status: &str) -> Value {
    json!({"type": "message", "id": id, "status": status, "role": "assistant",
           "content": [{"type": "output_text", "text": text, "annotations": []}]})
}

fn call_item(id: &str, call: &ToolCall, status: &str) -> Value {
    json!({"type": "function_call", "id": id, "call_id": call.id, "name": call.name,
           "arguments": call.arguments, "status": status})
}

/// Create a model response through the gateway (with `stream: true`, as server-sent events
/// named by their `type`). The response carries a `docwright` object with the provider and the
/// exact price.
#[utoipa::path(post, path = "/v1/responses", tag = "openai", request_body = ResponseRequest, responses(
    (status = 200, description = "A response object, or an SSE stream of response events ending in response.completed, response.incomplete or response.failed"),
    (status = 400, body = ErrorBody), (status = 402, description = "insufficient_balance: details hold balance, available, required, currency", body = ErrorBody),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    (status = 503, description = "Every candidate failed; the message lists the attempts", body = ErrorBody)))]
pub(crate) async fn create_response(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiJson(body): ApiJson<ResponseRequest>,
) -> Result<Response, ApiError> {
    if body.previous_response_id.is_some() {
        return Err(ApiError::validation(
            "previous_response_id",
            "previous_response_id: docwright stores no responses; send the whole conversation as input",
        ));
    }
    let (tools, tool_choice) = parse_tools(body.tools.as_deref(), body.tool_choice.as_ref(), ToolSpelling::Flat)?;
    let req = AiRequest {
        model: body.model.clone(),
        operation: Operation::DataGenerate,
        priority: None,
        messages: parse_input(body.instructions.as_deref(), &body.input)?,
        max_output_tokens: body.max_output_tokens,
        temperature: body.temperature,
        output: text_format(body.text.as_ref())?,
        tools,
        tool_choice,
        parallel_tool_calls: body.parallel_tool_calls,
        allowed_providers: body.allowed_providers.clone(),
        process: "api.responses".to_owned(),
        reference: None,
    };
    let echo = Echo::of(&body);
    if !body.stream {
        let r = state.engine.ai_call(&grant, &req).await.map_err(gateway_error)?;
        let mut output = Vec::new();
        if !r.content.is_empty() || r.tool_calls.is_empty() {
            output.push(message_item(&item_id("msg"), &r.content, "completed"));
        }
        output.extend(r.tool_calls.iter().map(|c| call_item(&item_id("fc"), c, "completed")));
        let status = status_of(r.finish_reason.as_deref(), !r.tool_calls.is_empty());
        let mut object = echo.object(&r.model, status, &output, Some((r.input_tokens, r.output_tokens)));
        object["docwright"] = json!({"provider": r.provider, "price": r.price.to_string(),
                                     "processing_time_ms": r.processing_time_ms, "error_count": r.error_count});
        return Ok(Json(object).into_response());
    }

    let started = state.engine.ai_stream(&grant, &req).await.map_err(gateway_error)?;
    let mut events =
        Events { echo, model: started.0.name.clone(), seq: 0, output: Vec::new(), text: None, calls: BTreeMap::new() };
    let first = {
        let shell = events.echo.object(&events.model, Status::InProgress, &[], None);
        vec![
            events.event("response.created", json!({"response": shell})),
            events.event("response.in_progress", json!({"response": shell})),
        ]
    };
    Ok(relay(&state, grant, req, started, first, move |step| events.step(step)))
}

/// The streamed response as it is built: the items so far, and which are still open.
struct Events {
    echo: Echo,
    model: String,
    seq: u64,
    output: Vec<Value>,
    /// The open message item: its output index, id and text so far.
    text: Option<(usize, String, String)>,
    /// Function call items by the provider's call index: their output index.
    calls: BTreeMap<usize, usize>,
}

impl Events {
    fn event(&mut self, kind: &str, mut data: Value) -> Event {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.seq);
        self.seq += 1;
        Event::default().event(kind).data(data.to_string())
    }

    fn step(&mut self, step: Relayed<'_>) -> Vec<Event> {
        let mut out = Vec::new();
        match step {
            Relayed::Piece(StreamEvent::Delta(t)) => {
                let (index, id) = self.open_text(&mut out);
                out.push(self.event(
                    "response.output_text.delta",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "delta": t, "logprobs": []}),
                ));
                if let Some((_, _, text)) = &mut self.text {
                    text.push_str(t);
                }
            }
            Relayed::Piece(StreamEvent::ToolCall(piece)) => {
                self.close_text(&mut out);
                let index = match self.calls.get(&piece.index) {
                    Some(i) => *i,
                    None => {
                        let call = ToolCall {
                            id: piece.id.clone().unwrap_or_else(|| format!("call_{}", piece.index)),
                            name: piece.name.clone().unwrap_or_default(),
                            arguments: String::new(),
                        };
                        self.add_call(piece.index, &call, &mut out)
                    }
                };
                if !piece.arguments.is_empty() {
                    let id = self.output[index]["id"].clone();
                    let so_far = self.output[index]["arguments"].as_str().unwrap_or_default().to_owned();
                    self.output[index]["arguments"] = json!(so_far + &piece.arguments);
                    out.push(self.event(
                        "response.function_call_arguments.delta",
                        json!({"item_id": id, "output_index": index, "delta": piece.arguments}),
                    ));
                }
            }
            Relayed::Piece(StreamEvent::Done(_)) => {}
            Relayed::Finished { response: r, price, model } => {
                if self.output.is_empty() && r.tool_calls.is_empty() {
                    self.open_text(&mut out); // an empty answer is still a message
                }
                self.close_text(&mut out);
                for (n, call) in r.tool_calls.iter().enumerate() {
                    if !self.calls.contains_key(&n) {
                        self.add_call(n, call, &mut out);
                    }
                }
                for (n, index) in self.calls.clone() {
                    let id = self.output[index]["id"].as_str().unwrap_or_default().to_owned();
                    let item = match r.tool_calls.get(n) {
                        Some(call) => call_item(&id, call, "completed"),
                        None => {
                            let mut item = self.output[index].clone();
                            item["status"] = json!("completed");
                            item
                        }
                    };
                    self.output[index] = item.clone();
                    out.push(self.event(
                        "response.function_call_arguments.done",
                        json!({"item_id": id, "output_index": index, "name": item["name"], "arguments": item["arguments"]}),
                    ));
                    out.push(self.event("response.output_item.done", json!({"output_index": index, "item": item})));
                }
                let status = status_of(r.finish_reason.as_deref(), !r.tool_calls.is_empty());
                let usage = (r.usage.input_tokens, r.usage.output_tokens);
                let mut object = self.echo.object(&model.name, status, &self.output, Some(usage));
                object["docwright"] = json!({"provider": model.provider, "price": price.to_string()});
                let kind =
                    if matches!(status, Status::Incomplete(_)) { "response.incomplete" } else { "response.completed" };
                out.push(self.event(kind, json!({"response": object})));
            }
            Relayed::Failed { code, message } => {
                let object = self.echo.object(&self.model, Status::Failed(code, message), &self.output, None);
                out.push(self.event("response.failed", json!({"response": object})));
            }
        }
        out
    }

    /// The open message item, opened (with its events) if there is none.
    fn open_text(&mut self, out: &mut Vec<Event>) -> (usize, String) {
        if let Some((index, id, _)) = &self.text {
            return (*index, id.clone());
        }
        let (index, id) = (self.output.len(), item_id("msg"));
        let mut item = message_item(&id, "", "in_progress");
        item["content"] = json!([]);
        self.output.push(item.clone());
        out.push(self.event("response.output_item.added", json!({"output_index": index, "item": item})));
        out.push(self.event(
            "response.content_part.added",
            json!({"item_id": id, "output_index": index, "content_index": 0,
                   "part": {"type": "output_text", "text": "", "annotations": []}}),
        ));
        self.text = Some((index, id.clone(), String::new()));
        (index, id)
    }

    fn close_text(&mut self, out: &mut Vec<Event>) {
        let Some((index, id, text)) = self.text.take() else { return };
        let item = message_item(&id, &text, "completed");
        self.output[index] = item.clone();
        out.push(self.event(
            "response.output_text.done",
            json!({"item_id": id, "output_index": index, "content_index": 0, "text": text, "logprobs": []}),
        ));
        out.push(self.event(
            "response.content_part.done",
            json!({"item_id": id, "output_index": index, "content_index": 0, "part": item["content"][0]}),
        ));
        out.push(self.event("response.output_item.done", json!({"output_index": index, "item": item})));
    }

    fn add_call(&mut self, n: usize, call: &ToolCall, out: &mut Vec<Event>) -> usize {
        let index = self.output.len();
        let mut item = call_item(&item_id("fc"), call, "in_progress");
        item["arguments"] = json!("");
        self.output.push(item.clone());
        self.calls.insert(n, index);
        out.push(self.event("response.output_item.added", json!({"output_index": index, "item": item})));
        index
    }
}
