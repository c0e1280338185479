//! Automations (SPEC T2–T4): templates at `/api/automation-templates` (paginated CRUD),
//! definitions at `/api/automations` (CRUD, `save-as-template`, `run`, `estimate`) and the
//! actions catalog at `/api/automations/actions`. The use cases are `docwright_engine::automations`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use docwright_core::id::{AutomationId, AutomationTemplateId, TenantId};
use docwright_engine::automations::{ActionView, AutomationInput, AutomationView, TemplateInput, TemplateView};
use docwright_storage::automations::RunRow;
use uuid::Uuid;

pub(super) use docwright_api::automations::{
    ActionOut, ActionParamOut, ActionsOut, AutomationIn, AutomationOut, AutomationPatch, EstimateOut, RunError,
    RunLinks, RunOut, SaveAsTemplateIn, TemplateIn, TemplateOut, TimezoneIn, TimezoneOut,
};

use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::guard::Authorized;
use crate::pagination::{PageOf, PageQuery};
use crate::state::AppState;

fn template_out(v: TemplateView) -> TemplateOut {
    let r = v.record;
    TemplateOut {
        id: r.id.to_string(),
        label: r.label,
        overview: r.overview,
        template: r.template,
        placeholder_keys: v.keys,
        scope: if r.tenant_id.is_some() { "tenant" } else { "installation" }.to_owned(),
        created_by: r.created_by.map(|u| u.to_string()),
        created_by_name: r.created_by_name,
        created_at: r.created_at.to_rfc3339(),
        updated_at: r.updated_at.to_rfc3339(),
    }
}

fn run_out(r: RunRow) -> RunOut {
    let run = r.run;
    let error = match (run.error_code, run.error_message) {
        (Some(code), message) => Some(RunError { code, message: message.unwrap_or_default() }),
        (None, Some(message)) => Some(RunError { code: "failed".to_owned(), message }),
        (None, None) => None,
    };
    let error = error.or_else(|| {
        (r.workflow_status.as_deref() == Some("failed")).then(|| RunError {
            code: "workflow_failed".to_owned(),
            message: r.workflow_error.clone().unwrap_or_default(),
        })
    });
    RunOut {
        id: run.id.to_string(),
        trigger: run.trigger,
        status: run.status,
        slot_at: run.slot_at.map(|t| t.to_rfc3339()),
        workflow_id: run.workflow_id.map(|w| w.to_string()),
        workflow_status: r.workflow_status,
        cost: r.cost.to_string(),
        error,
        links: run.workflow_id.map(|w| RunLinks {
            workflow: format!("/api/workflows/{w}"),
            events: format!("/api/workflows/{w}/events"),
            log: format!("/api/workflows/{w}/log"),
        }),
        created_at: run.created_at.to_rfc3339(),
    }
}

fn automation_out(v: AutomationView) -> AutomationOut {
    let d = v.record;
    AutomationOut {
        id: d.id.to_string(),
        label: d.label,
        template: d.template,
        placeholders: d.placeholders,
        placeholder_keys: v.keys,
        unfilled_placeholders: v.unfilled,
        placeholder_types: v.key_types,
        schedule: d.schedule,
        timezone: d.timezone,
        active: d.active,
        missed_policy: d.missed_policy,
        allowed_providers: d.allowed_providers,
        model_profile: d.model_profile,
        output_format: d.output_format,
        status: d.status,
        last_error: d.last_error,
        next_runs: v.next_runs.iter().map(|t| t.to_rfc3339()).collect(),
        execution_logs: v.runs.into_iter().map(run_out).collect(),
        owner_id: d.user_id.to_string(),
        created_at: d.created_at.to_rfc3339(),
        updated_at: d.updated_at.to_rfc3339(),
    }
}

fn action_out(a: ActionView) -> ActionOut {
    ActionOut {
        method: a.method,
        action: a.action,
        action_id: a.action_id,
        description: a.description,
        category: a.category,
        parameters: a
            .parameters
            .into_iter()
            .map(|p| ActionParamOut {
                name: p.name,
                kind: p.kind,
                frontend_type: p.frontend_type,
                required: p.required,
                default: p.default,
                description: p.description,
                frontend_options: p.options,
            })
            .collect(),
        example_json: a.example,
    }
}

fn template_input(t: TemplateIn) -> TemplateInput {
    TemplateInput { label: t.label, overview: t.overview, template: t.template }
}

fn patch_input(p: AutomationPatch) -> Result<AutomationInput, ApiError> {
    Ok(AutomationInput {
        from_template: None,
        label: p.label,
        template: p.template,
        placeholders: p.placeholders,
        schedule: p.schedule,
        timezone: p.timezone,
        active: p.active,
        missed_policy: p.missed_policy,
        allowed_providers: p.allowed_providers.map(|l| (!l.is_empty()).then_some(l)),
        model_profile: match p.model_profile {
            Some(m) => Some(super::chats::model_profile(Some(&m))?),
            None => None,
        },
        output_format: p.output_format.map(|f| (!f.trim().is_empty()).then_some(f)),
    })
}

// ---- templates ------------------------------------------------------------------------------

/// Templates you may use: the starter set and your own (the tenant's, at level `tenant`).
#[utoipa::path(get, path = "/api/automation-templates", tag = "automations", params(PageQuery),
    responses((status = 200, body = PageOf<TemplateOut>), (status = 400, body = ErrorBody)))]
pub(crate) async fn list_templates(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<PageOf<TemplateOut>>, ApiError> {
    let p = q.parse()?;
    let page = state.engine.automation_templates(&grant, p.request()).await?;
    Ok(Json(crate::pagination::page_of(page, |t| t.record.id.to_string(), template_out)))
}

/// A template.
#[utoipa::path(get, path = "/api/automation-templates/{id}", tag = "automations",
    params(("id" = Uuid, Path, description = "Template id")),
    responses((status = 200, body = TemplateOut), (status = 404, description = "Template not found or no permission", body = ErrorBody)))]
pub(crate) async fn get_template(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<TemplateOut>, ApiError> {
    Ok(Json(template_out(state.engine.automation_template(&grant, AutomationTemplateId::from(id)).await?)))
}

/// Store a template. Its JSON is checked (an error names line and column) and so is every
/// action against the catalog.
#[utoipa::path(post, path = "/api/automation-templates", tag = "automations", request_body = TemplateIn,
    responses((status = 201, body = TemplateOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn create_template(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiJson(req): ApiJson<TemplateIn>,
) -> Result<(StatusCode, Json<TemplateOut>), ApiError> {
    let view = state.engine.create_automation_template(&grant, template_input(req)).await?;
    Ok((StatusCode::CREATED, Json(template_out(view))))
}

/// Replace a template (the starter set: sysadmins only).
#[utoipa::path(put, path = "/api/automation-templates/{id}", tag = "automations", request_body = TemplateIn,
    params(("id" = Uuid, Path, description = "Template id")),
    responses((status = 200, body = TemplateOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "Template not found or no permission", body = ErrorBody)))]
pub(crate) async fn update_template(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<TemplateIn>,
) -> Result<Json<TemplateOut>, ApiError> {
    let view =
        state.engine.update_automation_template(&grant, AutomationTemplateId::from(id), template_input(req)).await?;
    Ok(Json(template_out(view)))
}

/// Delete a template (definitions made from it keep their copy).
#[utoipa::path(delete, path = "/api/automation-templates/{id}", tag = "automations",
    params(("id" = Uuid, Path, description = "Template id")),
    responses((status = 204), (status = 403, body = ErrorBody),
        (status = 404, description = "Template not found or no permission", body = ErrorBody)))]
pub(crate) async fn delete_template(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.engine.delete_automation_template(&grant, AutomationTemplateId::from(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- the catalog ----------------------------------------------------------------------------

/// Every action you may use in an automation (`resource.action.<method>.<action>`), with its
/// parameters and a snippet to copy into `action_list`.
#[utoipa::path(get, path = "/api/automations/actions", tag = "automations",
    responses((status = 200, body = ActionsOut), (status = 403, body = ErrorBody)))]
pub(crate) async fn actions(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
) -> Result<Json<ActionsOut>, ApiError> {
    let actions = state.engine.automation_actions(&grant).await?;
    Ok(Json(ActionsOut { actions: actions.into_iter().map(action_out).collect() }))
}

// ---- definitions ----------------------------------------------------------------------------

/// Your automations (the tenant's, for admins), oldest first, each with its latest runs.
#[utoipa::path(get, path = "/api/automations", tag = "automations", params(PageQuery),
    responses((status = 200, body = PageOf<AutomationOut>), (status = 400, body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<PageOf<AutomationOut>>, ApiError> {
    let p = q.parse()?;
    let page = state.engine.automations(&grant, p.request()).await?;
    Ok(Json(crate::pagination::page_of(page, |a| a.record.id.to_string(), automation_out)))
}

/// Create an automation from a template (a copy; no link is kept) or from workflow JSON.
/// Inactive unless `active` is true, which needs a value for every placeholder (422
/// `unfilled_placeholders` names the missing ones).
#[utoipa::path(post, path = "/api/automations", tag = "automations", request_body = AutomationIn,
    responses((status = 201, body = AutomationOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiJson(req): ApiJson<AutomationIn>,
) -> Result<(StatusCode, Json<AutomationOut>), ApiError> {
    let from_template = req.from_template.map(AutomationTemplateId::from);
    let patch = AutomationPatch {
        label: req.label,
        template: req.template,
        placeholders: req.placeholders,
        schedule: req.schedule,
        timezone: req.timezone,
        active: req.active,
        missed_policy: req.missed_policy,
        allowed_providers: req.allowed_providers,
        model_profile: req.model_profile,
        output_format: req.output_format,
    };
    let input = AutomationInput { from_template, ..patch_input(patch)? };
    let view = state.engine.create_automation(&grant, input).await?;
    Ok((StatusCode::CREATED, Json(automation_out(view))))
}

/// An automation with its next slots and execution log.
#[utoipa::path(get, path = "/api/automations/{id}", tag = "automations",
    params(("id" = Uuid, Path, description = "Automation id")),
    responses((status = 200, body = AutomationOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn get(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<AutomationOut>, ApiError> {
    Ok(Json(automation_out(state.engine.automation(&grant, AutomationId::from(id)).await?)))
}

/// Change an automation; fields left out stay. Activating needs every placeholder filled.
#[utoipa::path(put, path = "/api/automations/{id}", tag = "automations", request_body = AutomationPatch,
    params(("id" = Uuid, Path, description = "Automation id")),
    responses((status = 200, body = AutomationOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn update(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<AutomationPatch>,
) -> Result<Json<AutomationOut>, ApiError> {
    let view = state.engine.update_automation(&grant, AutomationId::from(id), patch_input(req)?).await?;
    Ok(Json(automation_out(view)))
}

/// Delete an automation with its log (its workflows stay).
#[utoipa::path(delete, path = "/api/automations/{id}", tag = "automations",
    params(("id" = Uuid, Path, description = "Automation id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.engine.delete_automation(&grant, AutomationId::from(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Store the automation's workflow as a new template of yours: the `{{KEY:…}}` markers stay,
/// the values do not.
#[utoipa::path(post, path = "/api/automations/{id}/save-as-template", tag = "automations", request_body = SaveAsTemplateIn,
    params(("id" = Uuid, Path, description = "Automation id")),
    responses((status = 201, body = TemplateOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn save_as_template(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<SaveAsTemplateIn>,
) -> Result<(StatusCode, Json<TemplateOut>), ApiError> {
    let view =
        state.engine.save_automation_as_template(&grant, AutomationId::from(id), req.label, req.overview).await?;
    Ok((StatusCode::CREATED, Json(template_out(view))))
}

/// Run the automation now, outside its schedule. The run is a workflow: follow it with the
/// entry's `links`.
#[utoipa::path(post, path = "/api/automations/{id}/run", tag = "automations",
    params(("id" = Uuid, Path, description = "Automation id")),
    responses((status = 202, body = RunOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, description = "A placeholder has no value, or the balance cannot pay for a run", body = ErrorBody)))]
pub(crate) async fn run(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<(StatusCode, Json<RunOut>), ApiError> {
    let row = state.engine.run_automation_now(&grant, AutomationId::from(id)).await?;
    Ok((StatusCode::ACCEPTED, Json(run_out(row))))
}

/// The indicative cost of one run and of the next 30 days of runs at the schedule.
#[utoipa::path(get, path = "/api/automations/{id}/estimate", tag = "automations",
    params(("id" = Uuid, Path, description = "Automation id")),
    responses((status = 200, body = EstimateOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn estimate(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<EstimateOut>, ApiError> {
    let e = state.engine.automation_estimate(&grant, AutomationId::from(id)).await?;
    Ok(Json(EstimateOut {
        per_run: e.per_run.to_string(),
        per_month: e.per_month.to_string(),
        runs_per_month: e.runs_per_month,
        currency: e.currency,
        calls_per_run: e.calls_per_run,
        model: e.model,
    }))
}

/// Set a tenant's time zone, the default of its new automations (admins: their tenant).
#[utoipa::path(put, path = "/api/admin/tenants/{id}/timezone", tag = "admin", request_body = TimezoneIn,
    params(("id" = Uuid, Path, description = "Tenant id")),
    responses((status = 200, body = TimezoneOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn set_timezone(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<TimezoneIn>,
) -> Result<Json<TimezoneOut>, ApiError> {
    let timezone = state.engine.set_tenant_timezone(&grant, TenantId::from(id), req.timezone.as_deref()).await?;
    Ok(Json(TimezoneOut { tenant_id: id.to_string(), timezone }))
}
