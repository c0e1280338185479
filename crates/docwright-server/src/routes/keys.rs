//! `/api/keys`: a user's own API keys (SPEC P4).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use docwright_core::id::ApiKeyId;
use docwright_storage::auth::ApiKey;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::guard::Authorized;
use crate::pagination::{PageOf, PageQuery};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateKeyRequest {
    #[schema(value_type = crate::schemas::Name100)]
    pub name: String,
    /// RFC 3339, in the future; the key stops working then. Absent: no expiry.
    #[schema(value_type = Option<crate::schemas::DateTime>)]
    pub expires_at: Option<String>,
}

/// An API key as listed: never the key itself.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ApiKeyOut {
    pub id: Uuid,
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    /// The start of the key, to recognise it.
    pub prefix: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked: bool,
}

impl From<ApiKey> for ApiKeyOut {
    fn from(k: ApiKey) -> Self {
        Self {
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
}

/// A key just issued: `key` is shown only in this response.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CreatedKey {
    /// `dw_...`: send as `Authorization: Bearer`. It cannot be shown again.
    pub key: String,
    #[serde(flatten)]
    pub details: ApiKeyOut,
}

impl From<docwright_engine::admin::Issued<ApiKey>> for CreatedKey {
    fn from(i: docwright_engine::admin::Issued<ApiKey>) -> Self {
        Self { key: i.secret.expose().to_owned(), details: i.record.into() }
    }
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
    Ok((StatusCode::CREATED, Json(issued.into())))
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
    Ok(Json(PageOf::from_page(page, |k| k.id.to_string(), ApiKeyOut::from)))
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
