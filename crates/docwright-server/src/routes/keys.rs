//! `/api/keys`: a user's own API keys (SPEC P4).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use docwright_core::id::ApiKeyId;
use docwright_storage::auth::ApiKey;
use uuid::Uuid;

use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::guard::Authorized;
use crate::pagination::{PageOf, PageQuery};
use crate::state::AppState;

pub(super) use docwright_api::keys::{ApiKeyOut, CreateKeyRequest, CreatedKey};

pub(super) fn key_out(k: ApiKey) -> ApiKeyOut {
    ApiKeyOut {
        id: k.id.as_uuid(),
        user_id: k.user_id.as_uuid(),
        tenant_id: k.tenant_id.as_uuid(),
        name: k.name.as_str().to_owned(),
        prefix: k.key_prefix,
        created_at: k.created_at.to_rfc3339(),
        expires_at: k.expires_at.map(|t| t.to_rfc3339()),
        last_used_at: k.last_used_at.map(|t| t.to_rfc3339()),
        revoked: k.revoked_at.is_some(),
    }
}

pub(super) fn created_key(i: docwright_engine::admin::Issued<ApiKey>) -> CreatedKey {
    CreatedKey { key: i.secret.expose().to_owned(), details: key_out(i.record) }
}

/// Create an API key for yourself in the current tenant.
#[utoipa::path(post, path = "/api/keys", tag = "keys", request_body = CreateKeyRequest,
    responses((status = 201, body = CreatedKey), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn create_key(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiJson(req): ApiJson<CreateKeyRequest>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let issued = state.engine.issue_api_key(&grant, None, &req.name, req.expires_at.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(created_key(issued))))
}

/// Your API keys in the current tenant.
#[utoipa::path(get, path = "/api/keys", tag = "keys", params(PageQuery),
    responses((status = 200, body = PageOf<ApiKeyOut>), (status = 400, body = ErrorBody)))]
pub(crate) async fn list_keys(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<PageOf<ApiKeyOut>>, ApiError> {
    let p = q.parse()?;
    let page = state.engine.list_api_keys(&grant, true, p.request()).await?;
    Ok(Json(crate::pagination::page_of(page, |k| k.id.to_string(), key_out)))
}

/// Revoke an API key: your own, or (admins) any key of the tenant.
#[utoipa::path(delete, path = "/api/keys/{id}", tag = "keys", params(("id" = Uuid, Path, description = "Key id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_key(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.engine.revoke_api_key(&grant, ApiKeyId::from(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
