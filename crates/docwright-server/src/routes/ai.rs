//! Asynchronous AI requests, GigaOffice style (SPEC W1): `POST /api/ai/process` accepts a
//! request and answers its id at once; `GET /api/ai/status/{id}`, `GET /api/ai/result/{id}`
//! and `POST /api/ai/cancel/{id}` follow it. The work runs on the job queue
//! (`docwright_engine::ai_requests`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use docwright_core::id::AiRequestId;
use docwright_engine::ai_requests::{AiRequestView, AiStatus, Submission};
use serde_json::json;
use uuid::Uuid;

use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody};
use crate::guard::Authorized;
use crate::state::AppState;

pub(super) use docwright_api::ai::{AcceptedOut, FailureOut, ProcessIn, ResultOut, StatusOut, UsageOut};

fn status_out(v: &AiRequestView) -> StatusOut {
    let status = v.status();
    let (progress, phase) = v.progress();
    let ended = match status {
        AiStatus::Completed => v.request.answer.as_ref().map(|a| a.completed_at).or(v.job.finished_at),
        AiStatus::Failed | AiStatus::Cancelled => v.job.finished_at,
        AiStatus::Queued | AiStatus::Running => None,
    };
    let error = v.error().map(|(code, message)| FailureOut { code, message }).or_else(|| {
        (status == AiStatus::Cancelled).then(|| FailureOut {
            code: "cancelled".to_owned(),
            message: v.job.last_error.clone().unwrap_or_else(|| "cancelled".to_owned()),
        })
    });
    StatusOut {
        request_id: v.request.id.into(),
        status: status.as_str().to_owned(),
        progress,
        phase,
        attempts: v.job.attempt,
        created_at: v.request.created_at.to_rfc3339(),
        started_at: v.job.started_at.map(|t| t.to_rfc3339()),
        completed_at: ended.map(|t| t.to_rfc3339()),
        cancel_requested: v.job.cancel_requested && status == AiStatus::Running,
        error,
    }
}

/// Submit a request. It is stored and queued at once; follow it with `/api/ai/status/{id}` and
/// fetch the answer with `/api/ai/result/{id}`. The call is billed like any AI call when it runs:
/// without the money for it, the request fails with `insufficient_balance`.
#[utoipa::path(post, path = "/api/ai/process", tag = "ai", request_body = ProcessIn,
    responses((status = 202, description = "Accepted and queued", body = AcceptedOut),
        (status = 400, description = "A field is invalid; `field` names it (e.g. `input_data[3][1]`, `category`, `preset_id`)", body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub(crate) async fn process(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiJson(req): ApiJson<ProcessIn>,
) -> Result<(StatusCode, Json<AcceptedOut>), ApiError> {
    let submission = Submission {
        query_text: req.query_text,
        category: req.category,
        input_range: req.input_range,
        input_data: req.input_data,
        model_profile: req.model_profile,
        allowed_providers: req.allowed_providers,
        preset_id: req.preset_id.map(docwright_core::id::PromptPresetId::from),
        system_prompt: None,
    };
    let view = state.engine.submit_ai_request(&grant, submission).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(AcceptedOut {
            request_id: view.request.id.into(),
            // Accepted means queued, even when a worker has already taken it up.
            status: AiStatus::Queued.as_str().to_owned(),
            created_at: view.request.created_at.to_rfc3339(),
        }),
    ))
}

/// Where a request is: `queued`, `running` (with its phase and progress), `completed`,
/// `failed` (with the reason) or `cancelled`.
#[utoipa::path(get, path = "/api/ai/status/{id}", tag = "ai", params(("id" = Uuid, Path, description = "Request id")),
    responses((status = 200, body = StatusOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn status(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<StatusOut>, ApiError> {
    let view = state.engine.ai_request(&grant, AiRequestId::from(id)).await?;
    Ok(Json(status_out(&view)))
}

/// The answer of a completed request. Before it completed: 409 `not_ready` (details: its
/// status); when it failed or was cancelled: 409 `request_failed` / `request_cancelled` with the
/// reason.
#[utoipa::path(get, path = "/api/ai/result/{id}", tag = "ai", params(("id" = Uuid, Path, description = "Request id")),
    responses((status = 200, body = ResultOut), (status = 404, body = ErrorBody),
        (status = 409, description = "No answer: not yet, or never (failed, cancelled)", body = ErrorBody)))]
pub(crate) async fn result(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<ResultOut>, ApiError> {
    let view = state.engine.ai_request(&grant, AiRequestId::from(id)).await?;
    let status = status_out(&view);
    let Some(a) = view.request.answer else {
        let (code, message) = match view.status() {
            AiStatus::Failed => ("request_failed", "the request failed; `details.error` says why"),
            AiStatus::Cancelled => ("request_cancelled", "the request was cancelled"),
            _ => ("not_ready", "the request has no answer yet; poll /api/ai/status/{id}"),
        };
        let details = json!({"status": status.status, "progress": status.progress,
            "error": status.error.map(|e| json!({"code": e.code, "message": e.message}))});
        return Err(ApiError {
            details: Some(Box::new(details)),
            ..ApiError::new(StatusCode::CONFLICT, code, message)
        });
    };
    Ok(Json(ResultOut {
        request_id: id,
        status: AiStatus::Completed.as_str().to_owned(),
        text: a.text,
        result_data: a.result_data,
        model: a.model,
        provider: a.provider,
        price: a.price.to_string(),
        currency: a.currency,
        usage: UsageOut {
            input_tokens: a.input_tokens,
            output_tokens: a.output_tokens,
            total_tokens: a.input_tokens.saturating_add(a.output_tokens),
        },
        completed_at: a.completed_at.to_rfc3339(),
    }))
}

/// Cancel a request: at once while it is queued, as soon as its worker notices while it runs
/// (an answer that arrives first is kept). An ended request stays as it is. Answers its status.
#[utoipa::path(post, path = "/api/ai/cancel/{id}", tag = "ai", params(("id" = Uuid, Path, description = "Request id")),
    responses((status = 200, body = StatusOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<StatusOut>, ApiError> {
    let view = state.engine.cancel_ai_request(&grant, AiRequestId::from(id)).await?;
    Ok(Json(status_out(&view)))
}
