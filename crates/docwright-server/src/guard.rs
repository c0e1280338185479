//! The one enforcement point (SPEC P5).
//!
//! Every route is registered with an [`Access`] (see `routes::declarations`). The `enforce`
//! middleware in front of each route authenticates the bearer credential, resolves the tenant
//! context from `X-Tenant-Id`, asks the engine for a decision and stores the resulting
//! [`Grant`] in the request. Handlers get it through the [`Authorized`] extractor, and the
//! engine's use cases demand it, so a protected handler cannot run without a decision.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use docwright_core::id::TenantId;
use docwright_core::rbac::Permission;
use docwright_engine::{Grant, Principal};

use crate::error::ApiError;
use crate::state::AppState;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: health, docs, and the `/auth` endpoints (whose body carries the credential).
    Public,
    /// An authenticated caller whose role holds this permission in the request's tenant.
    Rbac(Permission),
    /// A WebSocket: browsers cannot send headers on one, so the access token comes in the
    /// query and the route decides itself after the upgrade (a refusal is a close frame with
    /// code 1008, not an HTTP status), for this permission.
    Socket(Permission),
}

/// The header that selects the tenant context.
pub const TENANT_HEADER: &str = "x-tenant-id";

pub(crate) async fn enforce(
    State((state, access)): State<(AppState, Access)>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if let Access::Rbac(perm) = access {
        let principal = authenticate(&state, req.headers()).await?;
        let tenant = requested_tenant(req.headers())?;
        let ctx = state.engine.context(principal, tenant).await?;
        let grant = state.engine.authorize(ctx, perm).await?;
        tracing::Span::current().record("tenant", tracing::field::display(grant.ctx().tenant));
        tracing::Span::current().record("user", tracing::field::display(grant.ctx().user()));
        req.extensions_mut().insert(grant);
    }
    Ok(next.run(req).await)
}

/// Authenticates `Authorization: Bearer ...`.
pub(crate) async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let token = bearer(headers)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_credentials",
            "send `Authorization: Bearer <access token or API key>`",
        )
    })?;
    Ok(state.engine.authenticate(token).await?)
}

/// The bearer credential, if an `Authorization` header is present.
pub(crate) fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().ok();
    let token = value
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    match token {
        Some(t) => Ok(Some(t)),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the Authorization header must be `Bearer <token>`",
        )),
    }
}

fn requested_tenant(headers: &HeaderMap) -> Result<Option<TenantId>, ApiError> {
    let Some(v) = headers.get(TENANT_HEADER) else { return Ok(None) };
    let id = v.to_str().ok().and_then(|s| TenantId::parse(s).ok());
    id.map(Some).ok_or_else(|| ApiError::validation("X-Tenant-Id", "X-Tenant-Id must be a tenant id (UUID)"))
}

/// The RBAC decision for this request.
pub struct Authorized(pub Grant);

impl<S: Send + Sync> FromRequestParts<S> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Grant>()
            .cloned()
            .map(Authorized)
            // Reaching this means a route was registered as public but asks for a grant.
            .ok_or_else(|| ApiError::internal("handler needs a Grant but its route has no RBAC permission"))
    }
}
