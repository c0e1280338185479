//! Role prompts (SPEC C3): `GET /prompts/roles` (each named in your language, with every name),
//! `GET /prompts/roles/{id}` (with its text), and for the tenant's admins `POST /prompts/roles`,
//! `PUT /prompts/roles/{id}`, `DELETE /prompts/roles/{id}`. The installation's seeded roles are
//! shared by every tenant and edited by sysadmins only.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use docwright_core::id::RolePromptId;
use docwright_engine::chat::{RolePromptInput, RoleView};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody};
use crate::guard::Authorized;
use crate::state::AppState;

pub(super) use docwright_api::prompts::RoleOut;

fn out(v: RoleView, with_prompt: bool) -> RoleOut {
    let r = v.role;
    RoleOut {
        id: r.id.to_string(),
        name: v.name,
        names: r.names.into_iter().map(|(l, n)| (l, serde_json::Value::String(n))).collect(),
        scope: if r.tenant_id.is_some() { "tenant" } else { "installation" }.to_owned(),
        prompt: with_prompt.then_some(r.prompt),
        updated_at: r.updated_at.to_rfc3339(),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RoleIn {
    /// Names by language: at least one of `en`, `de`, `fr`, `it`, `ru`.
    #[schema(value_type = crate::schemas::RoleNames)]
    names: serde_json::Map<String, serde_json::Value>,
    /// The role's instructions (at most 8,000 characters).
    #[schema(value_type = crate::schemas::Text8000)]
    prompt: String,
}

impl RoleIn {
    fn input(self) -> Result<RolePromptInput, ApiError> {
        let mut names = Vec::new();
        for (lang, v) in self.names {
            let name = v.as_str().ok_or_else(|| {
                ApiError::validation(format!("names.{lang}"), format!("names.{lang} must be a string"))
            })?;
            names.push((lang, name.to_owned()));
        }
        Ok(RolePromptInput { names, prompt: self.prompt })
    }
}

/// The role prompts you may choose for chats, named in your language.
#[utoipa::path(get, path = "/prompts/roles", tag = "chats", responses((status = 200, body = Vec<RoleOut>)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
) -> Result<Json<Vec<RoleOut>>, ApiError> {
    Ok(Json(state.engine.role_prompts(&grant).await?.into_iter().map(|v| out(v, false)).collect()))
}

/// A role prompt with its text.
#[utoipa::path(get, path = "/prompts/roles/{id}", tag = "chats", params(("id" = Uuid, Path, description = "Role prompt id")),
    responses((status = 200, body = RoleOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn get(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<RoleOut>, ApiError> {
    Ok(Json(out(state.engine.role_prompt(&grant, RolePromptId::from(id)).await?, true)))
}

/// Add a role prompt to your tenant (admins).
#[utoipa::path(post, path = "/prompts/roles", tag = "chats", request_body = RoleIn,
    responses((status = 201, body = RoleOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiJson(req): ApiJson<RoleIn>,
) -> Result<(StatusCode, Json<RoleOut>), ApiError> {
    let view = state.engine.create_role_prompt(&grant, req.input()?).await?;
    Ok((StatusCode::CREATED, Json(out(view, true))))
}

/// Replace a role prompt's names and text (your tenant's; the installation's: sysadmins).
#[utoipa::path(put, path = "/prompts/roles/{id}", tag = "chats", request_body = RoleIn,
    params(("id" = Uuid, Path, description = "Role prompt id")),
    responses((status = 200, body = RoleOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn update(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<RoleIn>,
) -> Result<Json<RoleOut>, ApiError> {
    let view = state.engine.update_role_prompt(&grant, RolePromptId::from(id), req.input()?).await?;
    Ok(Json(out(view, true)))
}

/// Delete a role prompt (your tenant's; the installation's: sysadmins).
#[utoipa::path(delete, path = "/prompts/roles/{id}", tag = "chats", params(("id" = Uuid, Path, description = "Role prompt id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.engine.delete_role_prompt(&grant, RolePromptId::from(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
