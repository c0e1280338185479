//! `/api/admin/*`: tenants, users and roles, static tokens, keys issued for users (SPEC P3, P4).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use docwright_core::id::{StaticTokenId, TenantId, UserId};
use docwright_storage::auth::StaticToken;
use docwright_storage::tenants::Tenant;
use docwright_storage::users::Member;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::keys::{ApiKeyOut, CreateKeyRequest, CreatedKey, created_key, key_out};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::guard::Authorized;
use crate::pagination::{PageOf, PageQuery};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TenantOut {
    pub id: Uuid,
    pub name: String,
    pub created_at: String,
}

impl From<Tenant> for TenantOut {
    fn from(t: Tenant) -> Self {
        Self { id: t.id.as_uuid(), name: t.name.as_str().to_owned(), created_at: t.created_at.to_rfc3339() }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateTenantRequest {
    #[schema(value_type = crate::schemas::Name100)]
    pub name: String,
}

/// Create a tenant (sysadmin). It starts with the bootstrap RBAC rules.
#[utoipa::path(post, path = "/api/admin/tenants", tag = "admin", request_body = CreateTenantRequest,
    responses((status = 201, body = TenantOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn create_tenant(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiJson(req): ApiJson<CreateTenantRequest>,
) -> Result<(StatusCode, Json<TenantOut>), ApiError> {
    let t = state.engine.create_tenant(&grant, &req.name).await?;
    Ok((StatusCode::CREATED, Json(t.into())))
}

/// Tenants: all of them for a sysadmin, the current one for a tenant admin.
#[utoipa::path(get, path = "/api/admin/tenants", tag = "admin", params(PageQuery), responses((status = 200, body = PageOf<TenantOut>)))]
pub(crate) async fn list_tenants(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<PageOf<TenantOut>>, ApiError> {
    let p = q.parse()?;
    let page = state.engine.list_tenants(&grant, p.request()).await?;
    Ok(Json(crate::pagination::page_of(page, |t| t.id.to_string(), TenantOut::from)))
}

/// One tenant.
#[utoipa::path(get, path = "/api/admin/tenants/{id}", tag = "admin", params(("id" = Uuid, Path, description = "Tenant id")),
    responses((status = 200, body = TenantOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_tenant(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<TenantOut>, ApiError> {
    Ok(Json(state.engine.get_tenant(&grant, TenantId::from(id)).await?.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct UserOut {
    pub id: Uuid,
    pub display_name: String,
    pub email: Option<String>,
    /// Role in the current tenant.
    pub role: &'static str,
    pub disabled: bool,
    pub created_at: String,
}

impl From<Member> for UserOut {
    fn from(m: Member) -> Self {
        Self {
            id: m.user.id.as_uuid(),
            display_name: m.user.display_name.as_str().to_owned(),
            email: m.user.email.map(|e| e.as_str().to_owned()),
            role: m.role.as_str(),
            disabled: m.user.disabled,
            created_at: m.user.created_at.to_rfc3339(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateUserRequest {
    #[schema(value_type = crate::schemas::Name200)]
    pub display_name: String,
    #[schema(value_type = Option<crate::schemas::Email>)]
    pub email: Option<String>,
    /// `admin`, `user` or `viewer` (`sysadmin` only by a sysadmin).
    #[schema(value_type = crate::schemas::RoleName)]
    pub role: String,
}

/// Create a user in the current tenant.
#[utoipa::path(post, path = "/api/admin/users", tag = "admin", request_body = CreateUserRequest,
    responses((status = 201, body = UserOut), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn create_user(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiJson(req): ApiJson<CreateUserRequest>,
) -> Result<(StatusCode, Json<UserOut>), ApiError> {
    let m = state
        .engine
        .create_user(
            &grant,
            docwright_engine::admin::NewUser { display_name: req.display_name, email: req.email, role: req.role },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(m.into())))
}

/// Users of the current tenant (yourself only, for roles without tenant-wide read).
#[utoipa::path(get, path = "/api/admin/users", tag = "admin", params(PageQuery), responses((status = 200, body = PageOf<UserOut>)))]
pub(crate) async fn list_users(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<PageOf<UserOut>>, ApiError> {
    let p = q.parse()?;
    let page = state.engine.list_users(&grant, p.request()).await?;
    Ok(Json(crate::pagination::page_of(page, |m| m.user.id.to_string(), UserOut::from)))
}

/// One user of the current tenant.
#[utoipa::path(get, path = "/api/admin/users/{id}", tag = "admin", params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, body = UserOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_user(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<UserOut>, ApiError> {
    Ok(Json(state.engine.get_user(&grant, UserId::from(id)).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SetRoleRequest {
    /// `admin`, `user`, `viewer` (or `sysadmin`, by a sysadmin).
    #[schema(value_type = crate::schemas::RoleName)]
    pub role: String,
}

/// Remove a user from the current tenant. Their API keys in this tenant are revoked; the user
/// and their memberships elsewhere remain.
#[utoipa::path(delete, path = "/api/admin/users/{id}", tag = "admin", params(("id" = Uuid, Path, description = "User id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn remove_user(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.engine.remove_user(&grant, UserId::from(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Set a user's role in the current tenant. A sysadmin may add a user of another tenant.
#[utoipa::path(put, path = "/api/admin/users/{id}/role", tag = "admin", request_body = SetRoleRequest,
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, body = UserOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn set_role(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<SetRoleRequest>,
) -> Result<Json<UserOut>, ApiError> {
    Ok(Json(state.engine.set_role(&grant, UserId::from(id), &req.role).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct IssueTokenRequest {
    /// A label, e.g. the device or person it is for.
    #[schema(value_type = crate::schemas::Name100)]
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct StaticTokenOut {
    pub id: Uuid,
    pub user_id: Uuid,
    /// The tenant this token logs in to; absent when issued by a sysadmin (any of the user's tenants).
    pub tenant_id: Option<Uuid>,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked: bool,
}

impl From<StaticToken> for StaticTokenOut {
    fn from(t: StaticToken) -> Self {
        Self {
            id: t.id.as_uuid(),
            user_id: t.user_id.as_uuid(),
            tenant_id: t.tenant_id.map(|x| x.as_uuid()),
            name: t.name.as_str().to_owned(),
            created_at: t.created_at.to_rfc3339(),
            last_used_at: t.last_used_at.map(|x| x.to_rfc3339()),
            revoked: t.revoked_at.is_some(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct IssuedToken {
    /// The static login token, for `/auth/exchange`. Shown only in this response.
    pub static_token: String,
    #[serde(flatten)]
    pub details: StaticTokenOut,
}

/// Issue a static login token for a user of the current tenant.
#[utoipa::path(post, path = "/api/admin/users/{id}/tokens", tag = "admin", request_body = IssueTokenRequest,
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 201, body = IssuedToken), (status = 404, body = ErrorBody)))]
pub(crate) async fn issue_static_token(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<IssueTokenRequest>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    let issued = state.engine.issue_static_token(&grant, UserId::from(id), &req.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedToken { static_token: issued.secret.expose().to_owned(), details: issued.record.into() }),
    ))
}

/// A user's static tokens (never the tokens themselves).
#[utoipa::path(get, path = "/api/admin/users/{id}/tokens", tag = "admin", params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, body = Vec<StaticTokenOut>), (status = 404, body = ErrorBody)))]
pub(crate) async fn list_static_tokens(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Vec<StaticTokenOut>>, ApiError> {
    let tokens = state.engine.list_static_tokens(&grant, UserId::from(id)).await?;
    Ok(Json(tokens.into_iter().map(Into::into).collect()))
}

/// Revoke a static token; sessions opened with it end too.
#[utoipa::path(delete, path = "/api/admin/users/{id}/tokens/{token_id}", tag = "admin",
    params(("id" = Uuid, Path, description = "User id"), ("token_id" = Uuid, Path, description = "Token id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn revoke_static_token(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath((id, token)): ApiPath<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    state.engine.revoke_static_token(&grant, UserId::from(id), StaticTokenId::from(token)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Issue an API key for a user of the current tenant.
#[utoipa::path(post, path = "/api/admin/users/{id}/keys", tag = "admin", request_body = CreateKeyRequest,
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 201, body = CreatedKey), (status = 404, body = ErrorBody)))]
pub(crate) async fn issue_user_key(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<CreateKeyRequest>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let issued =
        state.engine.issue_api_key(&grant, Some(UserId::from(id)), &req.name, req.expires_at.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(created_key(issued))))
}

/// Every API key of the current tenant.
#[utoipa::path(get, path = "/api/admin/keys", tag = "admin", params(PageQuery),
    responses((status = 200, body = PageOf<ApiKeyOut>), (status = 403, body = ErrorBody)))]
pub(crate) async fn list_tenant_keys(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<PageOf<ApiKeyOut>>, ApiError> {
    let p = q.parse()?;
    let page = state.engine.list_api_keys(&grant, false, p.request()).await?;
    Ok(Json(crate::pagination::page_of(page, |k| k.id.to_string(), key_out)))
}
