//! Chats with documents (SPEC C1, C2): `POST /chats`, `GET /chats`, `GET /chats/{id}` (with
//! the message history), `DELETE /chats/{id}`, `POST /chats/{id}/messages` (the answer as
//! Server-Sent Events), `GET /chats/{id}/events` (a turn's events again, resumed after
//! `Last-Event-ID`), `GET /chats/{id}/turns/{turn_id}/log` (the turn's progress tree) and
//! `WS /chats/{id}/stream` (the same events as JSON frames, in [`super::chat_ws`]).
//!
//! Events are rows the answering job writes; a stream is an owned task that reads them after
//! the last one it sent, woken by the engine's signal (polling for other replicas), so a
//! client that goes away loses nothing and one that comes back resumes where it left off.
//! Event ids are `<turn id>:<number>`.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use docwright_core::id::{ChatId, ChatTurnId, FileId, ProjectId, RolePromptId};
use docwright_core::settings::ModelProfile;
use docwright_engine::Grant;
use docwright_engine::chat::{ChatView, NewChat, NewMessage};
use docwright_storage::chats::{Chat, ChatEvent, ChatMessage, TurnLogRow};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

pub(super) use docwright_api::chats::{
    ChatDetailOut, ChatIn, ChatOut, MessageError, MessageIn, MessageOut, TurnLogOut, TurnLogTreeOut,
};
use docwright_api::events::Usage;

use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::guard::Authorized;
use crate::pagination::{PageOf, PageQuery};
use crate::state::AppState;

/// How often a stream looks for events stored by other replicas when nothing woke it.
const EVENT_POLL: Duration = Duration::from_millis(500);

fn chat_out(c: Chat) -> ChatOut {
    ChatOut {
        id: c.id.to_string(),
        title: c.title,
        description: c.description,
        project_id: c.project_id.map(|p| p.to_string()),
        collection_id: c.collection_id.map(|c| c.to_string()),
        user_id: c.user_id.to_string(),
        created_at: c.created_at.to_rfc3339(),
        updated_at: c.updated_at.to_rfc3339(),
    }
}

fn message_out(m: ChatMessage) -> MessageOut {
    let answer = m.role == "assistant";
    MessageOut {
        id: m.id.to_string(),
        role: m.role,
        content: m.content,
        status: m.status.as_str().to_owned(),
        turn_id: m.turn_id.to_string(),
        attached_file_ids: m.attached_file_ids.iter().map(ToString::to_string).collect(),
        model: m.model,
        price: answer.then(|| m.price.to_string()),
        usage: answer.then_some(Usage { input_tokens: m.input_tokens, output_tokens: m.output_tokens }),
        sources: answer.then(|| m.sources.iter().map(docwright_engine::chat::source_json).collect()),
        error: m.error_code.map(|code| MessageError { code, message: m.error_message.unwrap_or_default() }),
        created_at: m.created_at.to_rfc3339(),
        finished_at: m.finished_at.map(|t| t.to_rfc3339()),
    }
}

fn chat_detail_out(v: ChatView) -> ChatDetailOut {
    ChatDetailOut {
        chat: chat_out(v.chat),
        messages: v.messages.into_iter().map(message_out).collect(),
        active_turn_id: v.active_turn.map(|t| t.to_string()),
    }
}

/// Create a chat, optionally linked to a project or a collection whose documents answers draw
/// on (not both: 422 `scope_conflict`; a collection you cannot read: 404).
#[utoipa::path(post, path = "/chats", tag = "chats", request_body = ChatIn,
    responses((status = 201, body = ChatOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiJson(req): ApiJson<ChatIn>,
) -> Result<(StatusCode, Json<ChatOut>), ApiError> {
    let new = NewChat {
        title: req.title,
        description: req.description,
        project_id: req.project_id.map(ProjectId::from),
        collection_id: req.collection_id.map(docwright_core::id::CollectionId::from),
    };
    let chat = state.engine.create_chat(&grant, new).await?;
    Ok((StatusCode::CREATED, Json(chat_out(chat))))
}

/// Your chats (the tenant's, for admins), newest first.
#[utoipa::path(get, path = "/chats", tag = "chats", params(PageQuery),
    responses((status = 200, body = PageOf<ChatOut>), (status = 400, body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<PageOf<ChatOut>>, ApiError> {
    let p = q.parse()?;
    let page = state.engine.chats(&grant, p.request()).await?;
    Ok(Json(crate::pagination::page_of(page, |c| c.id.to_string(), chat_out)))
}

/// A chat with its message history; an answer still being written shows `running`.
#[utoipa::path(get, path = "/chats/{id}", tag = "chats", params(("id" = Uuid, Path, description = "Chat id")),
    responses((status = 200, body = ChatDetailOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn get(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<ChatDetailOut>, ApiError> {
    Ok(Json(chat_detail_out(state.engine.chat(&grant, ChatId::from(id)).await?)))
}

/// Delete a chat with its messages (refused with 409 `chat_busy` while it is answering).
#[utoipa::path(delete, path = "/chats/{id}", tag = "chats", params(("id" = Uuid, Path, description = "Chat id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.engine.delete_chat(&grant, ChatId::from(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A requested model profile (`simple | complex`), absent for the user's own.
pub(super) fn model_profile(requested: Option<&str>) -> Result<Option<ModelProfile>, ApiError> {
    requested.map(ModelProfile::parse).transpose().map_err(|e| ApiError::validation("model_profile", e.to_string()))
}

/// What the message asks, checked at the edge (the WebSocket's frames have this shape too).
pub(super) fn new_message(m: MessageIn) -> Result<NewMessage, ApiError> {
    let model_profile = model_profile(m.model_profile.as_deref())?;
    Ok(NewMessage {
        message: m.message,
        attached_file_ids: m.attached_file_ids.into_iter().map(FileId::from).collect(),
        model_profile,
        allowed_providers: m.allowed_providers,
        role_prompt_id: m.role_prompt_id.map(RolePromptId::from),
    })
}

/// Send a message; the answer comes as Server-Sent Events, each with an id
/// (`<turn id>:<number>`): `phase_started {phase, description}` for `context`, `retrieval` (with
/// a project) and `generation`; `llm_token {token}`; `llm_final {content, model, price, usage,
/// sources}`; `completed {message_id}` — or `error {message, code}` instead (e.g.
/// `insufficient_balance`). The answer is generated by the server whether or not the client
/// stays: reconnect at `GET /chats/{id}/events` with `Last-Event-ID`, or read it at
/// `GET /chats/{id}`. A message while the previous one is being answered gets 409 `chat_busy`.
#[utoipa::path(post, path = "/chats/{id}/messages", tag = "chats", request_body = MessageIn,
    params(("id" = Uuid, Path, description = "Chat id")),
    responses((status = 200, content_type = "text/event-stream", body = crate::schemas::SseEvent), (status = 400, body = ErrorBody),
        (status = 404, description = "No such chat, or an attached file you may not read", body = ErrorBody),
        (status = 409, description = "chat_busy", body = ErrorBody)))]
pub(crate) async fn send(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<MessageIn>,
) -> Result<Response, ApiError> {
    let chat = ChatId::from(id);
    let new = new_message(req)?;
    // The stream reads what the turn writes: that needs the permission to read the chat.
    let read = state.engine.authorize(grant.ctx().clone(), docwright_engine::chat::CHAT_READ).await?;
    let sent = state.engine.send_message(&grant, chat, new).await?;
    Ok(sse(follow(&state, read, chat, sent.turn_id, 0)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct EventsQuery {
    /// Resume after this event id (as the `Last-Event-ID` header does): `<turn id>:<number>`.
    #[param(value_type = Option<crate::schemas::ChatEventId>, inline)]
    after: Option<String>,
}

/// Where a stream starts: after event `<turn id>:<number>`, or a turn from its start.
pub(super) fn parse_event_id(field: &str, s: &str) -> Result<(ChatTurnId, u64), ApiError> {
    let bad = || {
        ApiError::validation(field, format!("{field} must be the id of an event of this chat (`<turn id>:<number>`)"))
    };
    let (turn, seq) = s.trim().split_once(':').ok_or_else(bad)?;
    Ok((ChatTurnId::parse(turn).map_err(|_| bad())?, seq.parse().map_err(|_| bad())?))
}

/// A turn's events as Server-Sent Events: after `Last-Event-ID` (or `?after=`), else the
/// latest turn's from its start; live until its `completed` or `error`.
#[utoipa::path(get, path = "/chats/{id}/events", tag = "chats",
    params(("id" = Uuid, Path, description = "Chat id"), EventsQuery),
    responses((status = 200, content_type = "text/event-stream", body = crate::schemas::SseEvent), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn events(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<EventsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let chat = ChatId::from(id);
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_owned).or(q.after);
    let (turn, after) = match resume {
        Some(r) => parse_event_id("Last-Event-ID", &r)?,
        None => (state.engine.chat_turn(&grant, chat, None).await?.record.id, 0),
    };
    // Fails here, before the stream opens, for a chat or turn the caller may not see (404).
    state.engine.chat_turn(&grant, chat, Some(turn)).await?;
    Ok(sse(follow(&state, grant, chat, turn, after)))
}

/// A turn's events, as [`follow`] reads them.
pub(super) type TurnEvents = std::pin::Pin<Box<dyn futures_util::Stream<Item = ChatEvent> + Send>>;

/// The events of a turn after number `after` until its last (the engine's
/// [`docwright_engine::Engine::follow_turn`]), ending early at shutdown or on a failed read.
/// A client that leaves only drops this reader: the answer is written by the turn's job.
pub(super) fn follow(state: &AppState, grant: Grant, chat: ChatId, turn: ChatTurnId, after: u64) -> TurnEvents {
    use futures_util::StreamExt as _;
    let events = state
        .engine
        .follow_turn(grant, chat, turn, after, EVENT_POLL)
        .take_until(state.tasks.cancelled())
        .take_while(move |r| {
            if let Err(e) = r {
                tracing::warn!(turn = %turn, error = %e, "chat event stream stopped");
            }
            std::future::ready(r.is_ok())
        })
        .filter_map(|r| std::future::ready(r.ok()));
    Box::pin(events)
}

/// The id of an event as streams show it.
pub(super) fn event_id(ev: &ChatEvent) -> String {
    format!("{}:{}", ev.turn_id, ev.seq)
}

fn sse(events: TurnEvents) -> Response {
    use futures_util::StreamExt as _;
    let stream = events.map(|ev| {
        Ok::<_, Infallible>(Event::default().id(event_id(&ev)).event(ev.event.clone()).data(ev.data.to_string()))
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

fn turn_log_out(r: TurnLogRow) -> TurnLogOut {
    TurnLogOut {
        duration_ms: r.finished_at.map(|f| f.millis() - r.started_at.millis()),
        op_id: r.op_id,
        parent_id: r.parent_id,
        title: r.title,
        message: r.message,
        started_at: r.started_at.to_rfc3339(),
        finished_at: r.finished_at.map(|t| t.to_rfc3339()),
        outcome: r.outcome,
        error: r.error,
        cost: r.cost.to_string(),
    }
}

/// The progress tree of a turn (`turn_id` of its messages): the turn, its phases, timings and cost.
#[utoipa::path(get, path = "/chats/{id}/turns/{turn_id}/log", tag = "chats",
    params(("id" = Uuid, Path, description = "Chat id"), ("turn_id" = Uuid, Path, description = "Turn id")),
    responses((status = 200, body = TurnLogTreeOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn turn_log(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath((id, turn)): ApiPath<(Uuid, Uuid)>,
) -> Result<Json<TurnLogTreeOut>, ApiError> {
    let turn = ChatTurnId::from(turn);
    let rows = state.engine.turn_log(&grant, ChatId::from(id), turn).await?;
    Ok(Json(TurnLogTreeOut { turn_id: turn.to_string(), operations: rows.into_iter().map(turn_log_out).collect() }))
}
