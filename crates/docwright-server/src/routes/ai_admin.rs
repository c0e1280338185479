//! `/api/admin/ai/*`: the models and providers of the installation, their health, and a key
//! test (SPEC A2, A7). Keys are never returned, only whether one is configured.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiPath, ErrorBody};
use crate::guard::Authorized;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ModelOut {
    name: String,
    provider: String,
    upstream_name: String,
    context_tokens: u32,
    max_output_tokens: u32,
    capabilities: Vec<String>,
    /// Decimal, in the tenant currency, per million tokens.
    price_input_per_mtok: String,
    price_output_per_mtok: String,
    quality: u8,
    speed: u8,
    fallbacks: Vec<String>,
}

/// Every model of the registry, with prices.
#[utoipa::path(get, path = "/api/admin/ai/models", tag = "admin", responses((status = 200, body = Vec<ModelOut>), (status = 403, body = ErrorBody)))]
pub(crate) async fn list_models(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
) -> Result<Json<Vec<ModelOut>>, ApiError> {
    let models = state.engine.admin_models(&grant)?;
    Ok(Json(
        models
            .into_iter()
            .map(|m| ModelOut {
                capabilities: m
                    .capabilities
                    .iter()
                    .filter_map(|c| serde_json::to_value(c).ok().and_then(|v| v.as_str().map(str::to_owned)))
                    .collect(),
                price_input_per_mtok: m.price_input.per_million().to_string(),
                price_output_per_mtok: m.price_output.per_million().to_string(),
                name: m.name,
                provider: m.provider,
                upstream_name: m.upstream_name,
                context_tokens: m.context_tokens,
                max_output_tokens: m.max_output_tokens,
                quality: m.quality,
                speed: m.speed,
                fallbacks: m.fallbacks,
            })
            .collect(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ModelHealthOut {
    model: String,
    consecutive_failures: u32,
    /// Seconds the circuit breaker still rests the model; absent when it serves.
    #[serde(skip_serializing_if = "Option::is_none")]
    resting_secs: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ProviderOut {
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    /// Whether a key is configured (the key itself is never shown).
    key_configured: bool,
    /// `ok`, or `degraded` when one of its models rests.
    status: &'static str,
    models: Vec<ModelHealthOut>,
}

/// Every provider with the health of its models.
#[utoipa::path(get, path = "/api/admin/ai/providers", tag = "admin", responses((status = 200, body = Vec<ProviderOut>), (status = 403, body = ErrorBody)))]
pub(crate) async fn list_providers(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
) -> Result<Json<Vec<ProviderOut>>, ApiError> {
    let providers = state.engine.admin_providers(&grant)?;
    Ok(Json(
        providers
            .into_iter()
            .map(|p| ProviderOut {
                status: if p.models.iter().any(|m| m.resting_secs.is_some()) { "degraded" } else { "ok" },
                name: p.name,
                kind: p.kind,
                key_configured: p.key_configured,
                models: p
                    .models
                    .into_iter()
                    .map(|m| ModelHealthOut {
                        model: m.model,
                        consecutive_failures: m.consecutive_failures,
                        resting_secs: m.resting_secs,
                    })
                    .collect(),
            })
            .collect(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TestResult {
    /// Whether the provider answered.
    ok: bool,
    model: String,
    latency_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    price: Option<String>,
    /// What went wrong, attempt by attempt (never a key).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Test a provider and its key: one tiny call to its first model, recorded like any call.
#[utoipa::path(post, path = "/api/admin/ai/providers/{name}/test", tag = "admin", params(("name" = crate::schemas::ProviderName, Path, description = "Provider name")),
    responses((status = 200, body = TestResult), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn test_provider(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<TestResult>, ApiError> {
    let started = std::time::Instant::now();
    let result = state.engine.test_provider(&grant, &name).await?;
    let latency_ms = started.elapsed().as_millis() as u64;
    Ok(Json(match result {
        Ok(r) => TestResult { ok: true, model: r.model, latency_ms, price: Some(r.price.to_string()), error: None },
        Err(e) => TestResult { ok: false, model: String::new(), latency_ms, price: None, error: Some(e.to_string()) },
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TenantKeyOut {
    provider: String,
    updated_at: String,
}

/// The providers the current tenant has stored a key for (never the keys).
#[utoipa::path(get, path = "/api/admin/ai/keys", tag = "admin", responses((status = 200, body = Vec<TenantKeyOut>), (status = 403, body = ErrorBody)))]
pub(crate) async fn list_tenant_keys(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
) -> Result<Json<Vec<TenantKeyOut>>, ApiError> {
    let keys = state.engine.tenant_keys(&grant).await?;
    Ok(Json(keys.into_iter().map(|(provider, at)| TenantKeyOut { provider, updated_at: at.to_rfc3339() }).collect()))
}

#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PutKeyRequest {
    /// The provider key; stored encrypted and never shown again.
    #[schema(value_type = crate::schemas::ProviderKey)]
    key: String,
}

/// Store the current tenant's key for a provider. Users' own keys (BYOK) come first; this
/// comes before the configured key.
#[utoipa::path(put, path = "/api/admin/ai/keys/{provider}", tag = "admin", request_body = PutKeyRequest,
    params(("provider" = crate::schemas::ProviderName, Path, description = "Provider name")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn put_tenant_key(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(provider): ApiPath<String>,
    crate::error::ApiJson(body): crate::error::ApiJson<PutKeyRequest>,
) -> Result<axum::http::StatusCode, ApiError> {
    state.engine.put_tenant_key(&grant, &provider, &body.key).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Delete the current tenant's key for a provider.
#[utoipa::path(delete, path = "/api/admin/ai/keys/{provider}", tag = "admin",
    params(("provider" = crate::schemas::ProviderName, Path, description = "Provider name")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_tenant_key(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(provider): ApiPath<String>,
) -> Result<axum::http::StatusCode, ApiError> {
    state.engine.delete_tenant_key(&grant, &provider).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
