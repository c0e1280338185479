//! `/auth/*` (SPEC P4). These routes are public: the credential travels in the body.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::state::AppState;

pub(super) use docwright_api::auth::{ExchangeRequest, LogoutRequest, LogoutResponse, RefreshRequest, TokenResponse};

fn token_response(p: docwright_engine::TokenPair) -> TokenResponse {
    TokenResponse {
        access_token: p.access_token,
        refresh_token: p.refresh_token.expose().to_owned(),
        expires_in: p.expires_in,
        token_type: "bearer".to_owned(),
    }
}

/// Exchange a static token for an access token and a refresh token.
#[utoipa::path(post, path = "/auth/exchange", tag = "auth", request_body = ExchangeRequest, responses(
    (status = 200, body = TokenResponse),
    (status = 401, description = "`invalid_token`, `user_disabled`", body = ErrorBody)))]
pub(crate) async fn exchange(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ExchangeRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    if req.static_token.trim().is_empty() {
        return Err(ApiError::validation("static_token", "static_token must not be empty"));
    }
    Ok(Json(token_response(state.engine.exchange(&req.static_token).await?)))
}

/// Rotate a refresh token: returns a new pair; the presented token is used up. Presenting a
/// used refresh token again revokes its whole session.
#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body = RefreshRequest, responses(
    (status = 200, body = TokenResponse),
    (status = 401, description = "`invalid_token`, `token_expired`, `refresh_token_reused`, `session_revoked`", body = ErrorBody)))]
pub(crate) async fn refresh(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    Ok(Json(token_response(state.engine.refresh(&req.refresh_token).await?)))
}

/// End a session: by its refresh token, or the session of the bearer access token.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", request_body(content = LogoutRequest, description = "May be empty when an access token is sent"), responses(
    (status = 200, body = LogoutResponse),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(crate) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<LogoutResponse>, ApiError> {
    let req: LogoutRequest = if body.iter().all(u8::is_ascii_whitespace) {
        LogoutRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            let status = if e.is_syntax() || e.is_eof() { "malformed_json" } else { "validation_failed" };
            ApiError::new(StatusCode::BAD_REQUEST, status, format!("body: {e}"))
        })?
    };
    let principal = match (&req.refresh_token, crate::guard::bearer(&headers)?) {
        (None, Some(_)) => Some(crate::guard::authenticate(&state, &headers).await?),
        _ => None,
    };
    let revoked = state.engine.logout(req.refresh_token.as_deref(), principal.as_ref()).await?;
    Ok(Json(LogoutResponse { revoked }))
}
