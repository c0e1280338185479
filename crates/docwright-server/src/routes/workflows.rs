//! Generation workflows (SPEC W1, W4): `POST /api/workflows` (stored and enqueued, answered
//! at once with 202), `GET /api/workflows`, `GET /api/workflows/{id}`,
//! `GET /api/workflows/{id}/events` (SSE with event ids, `Last-Event-ID` resumes),
//! `POST /api/workflows/{id}/cancel`, `GET /api/workflows/{id}/log` (the operation tree) and
//! `GET /api/workflows/{id}/debug` (the `debug_trace` files as a zip).

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use docwright_core::id::{FileId, ProjectId, WorkflowId};
use docwright_engine::workflows::{NewWorkflow, WorkflowView};
use docwright_storage::workflows::{LogRow, Workflow, WorkflowStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::guard::Authorized;
use crate::pagination::{PageOf, PageQuery};
use crate::state::AppState;

pub(super) use docwright_api::workflows::{ResultFileOut, WorkflowError, WorkflowIn, WorkflowOut};

/// How often a stream looks for events stored by other replicas when nothing woke it.
const EVENT_POLL: Duration = Duration::from_secs(1);

fn base(w: &Workflow, status: WorkflowStatus) -> WorkflowOut {
    let r = &w.record;
    let s = &w.state;
    WorkflowOut {
        workflow_id: r.id.to_string(),
        status: status.as_str().to_owned(),
        phase: s.phase.clone().filter(|_| !status.is_final()),
        progress: if status == WorkflowStatus::Completed { 100 } else { s.progress },
        cost: s.cost.to_string(),
        prompt: r.prompt.clone(),
        title: r.title.clone(),
        output_format: r.output_format.clone(),
        file_ids: r.file_ids.iter().map(ToString::to_string).collect(),
        project_id: r.project_id.map(|p| p.to_string()),
        collection_id: r.collection_id.map(|c| c.to_string()),
        answer: s.answer.clone(),
        detected_language: s.detected_language.clone(),
        error: None,
        attempt: 0,
        debug_trace: r.debug_trace,
        files: Vec::new(),
        created_at: r.created_at.to_rfc3339(),
        started_at: s.started_at.map(|t| t.to_rfc3339()),
        finished_at: s.finished_at.map(|t| t.to_rfc3339()),
    }
}

fn workflow_out(v: WorkflowView) -> WorkflowOut {
    let mut out = base(&v.workflow, v.status);
    out.attempt = v.attempt;
    out.error = v.error_code.map(|code| WorkflowError { code, message: v.error_message.unwrap_or_default() });
    out.files = v
        .results
        .into_iter()
        .map(|f| ResultFileOut {
            download_url: format!("/files/{}/content", f.id),
            file_id: f.id.to_string(),
            file_name: f.file_name,
            mime_type: f.mime_type,
            file_size: f.file_size,
        })
        .collect();
    out
}

/// Start a workflow: a prompt and files in, documents out. Answers at once; follow it at
/// `/api/workflows/{id}/events` or poll `/api/workflows/{id}`.
#[utoipa::path(post, path = "/api/workflows", tag = "workflows", request_body = WorkflowIn,
    responses((status = 202, body = WorkflowOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn submit(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiJson(req): ApiJson<WorkflowIn>,
) -> Result<(StatusCode, Json<WorkflowOut>), ApiError> {
    let model_profile = super::chats::model_profile(req.model_profile.as_deref())?;
    let new = NewWorkflow {
        prompt: req.prompt,
        file_ids: req.file_ids.into_iter().map(FileId::from).collect(),
        project_id: req.project_id.map(ProjectId::from),
        collection_id: req.collection_id.map(docwright_core::id::CollectionId::from),
        output_format: req.output_format,
        title: req.title,
        allowed_providers: req.allowed_providers,
        model_profile,
        debug_trace: req.debug_trace,
        category: req.category,
        preset_id: req.preset_id.map(docwright_core::id::PromptPresetId::from),
        ..Default::default()
    };
    let view = state.engine.submit_workflow(&grant, new).await?;
    Ok((StatusCode::ACCEPTED, Json(workflow_out(view))))
}

/// The workflows the caller may see (their own, or the tenant's for admins), newest first.
#[utoipa::path(get, path = "/api/workflows", tag = "workflows", params(PageQuery),
    responses((status = 200, body = PageOf<WorkflowOut>), (status = 400, body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<PageOf<WorkflowOut>>, ApiError> {
    let p = q.parse()?;
    let page = state.engine.workflows(&grant, p.request()).await?;
    Ok(Json(crate::pagination::page_of(page, |(w, _)| w.record.id.to_string(), |(w, status)| base(&w, status))))
}

/// A workflow: status, phase, progress, cost so far and its result files.
#[utoipa::path(get, path = "/api/workflows/{id}", tag = "workflows", params(("id" = Uuid, Path, description = "Workflow id")),
    responses((status = 200, body = WorkflowOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn get(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<WorkflowOut>, ApiError> {
    Ok(Json(workflow_out(state.engine.workflow(&grant, WorkflowId::from(id)).await?)))
}

/// Cancel a workflow: a queued one ends at once, a running one stops after the AI calls in
/// flight (which are paid for); nothing new starts.
#[utoipa::path(post, path = "/api/workflows/{id}/cancel", tag = "workflows", params(("id" = Uuid, Path, description = "Workflow id")),
    responses((status = 200, body = WorkflowOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<WorkflowOut>, ApiError> {
    Ok(Json(workflow_out(state.engine.cancel_workflow(&grant, WorkflowId::from(id)).await?)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct EventsQuery {
    /// Resume after this event id (as the `Last-Event-ID` header does).
    #[param(value_type = Option<Uuid>)]
    after: Option<String>,
}

/// The workflow's progress as Server-Sent Events: `phase_started`, `progress`,
/// `task_started`, `action_started`, `section_done`, `document_ready`, then `completed` or
/// `error`, each with its id. Reconnecting with `Last-Event-ID` (or `?after=`) resumes after
/// that event; the stream ends after the last event of a finished workflow.
#[utoipa::path(get, path = "/api/workflows/{id}/events", tag = "workflows",
    params(("id" = Uuid, Path, description = "Workflow id"), EventsQuery),
    responses((status = 200, content_type = "text/event-stream", body = crate::schemas::SseEvent), (status = 404, body = ErrorBody)))]
pub(crate) async fn events(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<EventsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = WorkflowId::from(id);
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_owned).or(q.after);
    if let Some(after) = &resume
        && Uuid::parse_str(after).is_err()
    {
        return Err(ApiError::validation("Last-Event-ID", "must be the id of an event of this stream"));
    }
    // Fails here, before the stream opens, for a workflow the caller may not see (404).
    state.engine.workflow(&grant, id).await?;
    use futures_util::StreamExt as _;
    let stream =
        state
            .engine
            .follow_workflow(grant, id, resume, EVENT_POLL)
            .take_until(state.tasks.cancelled())
            .take_while(move |r| {
                if let Err(e) = r {
                    tracing::warn!(workflow = %id, error = %e, "workflow event stream stopped");
                }
                std::future::ready(r.is_ok())
            })
            .filter_map(|r| {
                std::future::ready(r.ok().map(|ev| {
                    Ok::<_, Infallible>(Event::default().id(ev.id).event(ev.event).data(ev.data.to_string()))
                }))
            });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}

/// One operation of the trace tree (SPEC W4).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct LogOut {
    op_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_id: Option<String>,
    title: String,
    label: String,
    message: String,
    started_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    finished_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_ms: Option<i64>,
    /// `ok | failed`; absent while it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// This operation's AI calls and those below it.
    cost: String,
    /// The AI call of a leaf: operation, model, provider, tokens, price.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    ai_call: Option<Value>,
}

impl From<LogRow> for LogOut {
    fn from(r: LogRow) -> Self {
        Self {
            duration_ms: r.finished_at.map(|f| f.millis() - r.started_at.millis()),
            op_id: r.op_id,
            parent_id: r.parent_id,
            title: r.title,
            label: r.label,
            message: r.message,
            started_at: r.started_at.to_rfc3339(),
            finished_at: r.finished_at.map(|t| t.to_rfc3339()),
            outcome: r.outcome,
            error: r.error,
            cost: r.cost.to_string(),
            ai_call: r.ai,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct LogTreeOut {
    workflow_id: String,
    /// Every operation in the order it started; `parent_id` makes the tree.
    operations: Vec<LogOut>,
}

/// The operation tree of a run: every operation with its parent, title, label, timings, cost
/// and outcome; AI calls are its leaves.
#[utoipa::path(get, path = "/api/workflows/{id}/log", tag = "workflows", params(("id" = Uuid, Path, description = "Workflow id")),
    responses((status = 200, body = LogTreeOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn log(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<LogTreeOut>, ApiError> {
    let id = WorkflowId::from(id);
    let rows = state.engine.workflow_log(&grant, id).await?;
    Ok(Json(LogTreeOut { workflow_id: id.to_string(), operations: rows.into_iter().map(LogOut::from).collect() }))
}

/// The prompts and answers of a run started with `debug_trace`, one text file each under the
/// seed's names (`user_input_analysis_prompt.txt`, ...), as a zip.
#[utoipa::path(get, path = "/api/workflows/{id}/debug", tag = "workflows", params(("id" = Uuid, Path, description = "Workflow id")),
    responses((status = 200, content_type = "application/zip", body = Vec<u8>), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn debug(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    let id = WorkflowId::from(id);
    let zip = state.engine.workflow_debug_zip(&grant, id).await?;
    let mut resp = Response::new(Body::from(zip));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"workflow-{id}-debug.zip\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}
