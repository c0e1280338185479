//! The job queue for administrators (SPEC S2): `GET /api/admin/jobs?state=&kind=`, and retry
//! and cancel of one job. A tenant's admins see and act on the tenant's jobs; sysadmins on
//! every job, system jobs (no tenant) included.

use axum::Json;
use axum::extract::State;
use docwright_core::id::JobId;
use docwright_engine::jobs::Cancelled;
use docwright_jobs::{Job, JobState};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::error::{ApiError, ApiPath, ApiQuery, ErrorBody};
use crate::guard::Authorized;
use crate::pagination::{PageOf, PageQuery};
use crate::state::AppState;

pub(super) use docwright_api::jobs::JobOut;

fn job_out(j: Job) -> JobOut {
    JobOut {
        id: j.id.into(),
        kind: j.kind,
        tenant_id: j.tenant_id.map(Into::into),
        state: j.state.as_str().to_owned(),
        priority: j.priority,
        attempt: j.attempt,
        max_attempts: j.max_attempts,
        run_at: j.run_at.to_rfc3339(),
        created_at: j.created_at.to_rfc3339(),
        started_at: j.started_at.map(|t| t.to_rfc3339()),
        finished_at: j.finished_at.map(|t| t.to_rfc3339()),
        error_code: j.error_code,
        last_error: j.last_error,
        cancel_requested: j.cancel_requested,
        progress: j.progress,
        result: j.result,
        unique_key: j.unique_key,
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct JobsQuery {
    /// Only jobs in this state.
    #[param(value_type = Option<crate::schemas::JobStateName>, inline)]
    state: Option<String>,
    /// Only jobs of this kind, e.g. `ai.request`.
    kind: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<crate::schemas::Cursor>, inline)]
    cursor: Option<String>,
}

/// Jobs, newest first: the tenant's for its admins, every job for sysadmins.
#[utoipa::path(get, path = "/api/admin/jobs", tag = "admin", params(JobsQuery),
    responses((status = 200, body = PageOf<JobOut>), (status = 400, body = ErrorBody)))]
pub(crate) async fn list_jobs(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiQuery(q): ApiQuery<JobsQuery>,
) -> Result<Json<PageOf<JobOut>>, ApiError> {
    let job_state = q.state.as_deref().map(JobState::parse).transpose().map_err(|_| {
        ApiError::validation("state", "state is one of available, running, retryable, completed, cancelled, discarded")
    })?;
    let p = PageQuery { limit: q.limit, cursor: q.cursor }.parse()?;
    let page = state.engine.list_jobs(&grant, job_state, q.kind.as_deref(), p.request()).await?;
    Ok(Json(crate::pagination::page_of(page, |j| j.id.to_string(), job_out)))
}

/// Run a discarded, cancelled or waiting job again now (its attempts start over).
#[utoipa::path(post, path = "/api/admin/jobs/{id}/retry", tag = "admin", params(("id" = Uuid, Path, description = "Job id")),
    responses((status = 200, body = JobOut), (status = 404, body = ErrorBody),
        (status = 409, description = "It runs or has completed", body = ErrorBody)))]
pub(crate) async fn retry_job(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<JobOut>, ApiError> {
    Ok(Json(job_out(state.engine.retry_job(&grant, JobId::from(id)).await?)))
}

/// Cancel a job: at once when it waits (state `cancelled`); when it runs, its worker is asked
/// to stop (`cancel_requested`, the state changes when it has).
#[utoipa::path(post, path = "/api/admin/jobs/{id}/cancel", tag = "admin", params(("id" = Uuid, Path, description = "Job id")),
    responses((status = 200, body = JobOut), (status = 404, body = ErrorBody),
        (status = 409, description = "It has ended", body = ErrorBody)))]
pub(crate) async fn cancel_job(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<JobOut>, ApiError> {
    let job = match state.engine.cancel_job(&grant, JobId::from(id)).await? {
        Cancelled::Now(job) | Cancelled::Requested(job) => job,
    };
    Ok(Json(job_out(job)))
}
