//! `GET /me`, `PATCH /me/settings` (SPEC P4).

use axum::Json;
use axum::extract::State;

use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::guard::Authorized;
use crate::state::AppState;

pub(super) use docwright_api::me::{MeResponse, MembershipOut, SettingsOut, SettingsPatch};

fn settings_out(s: &docwright_core::settings::UserSettings, provider_keys_set: Vec<String>) -> SettingsOut {
    SettingsOut {
        model_profile: s.model_profile.as_str().to_owned(),
        selected_role_prompt_id: s.selected_role_prompt_id.clone(),
        language: s.language.as_str().to_owned(),
        provider_keys_set,
    }
}

/// Who you are: user, tenants with roles, settings.
#[utoipa::path(get, path = "/me", tag = "me", responses((status = 200, body = MeResponse), (status = 401, body = ErrorBody)))]
pub(crate) async fn me(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
) -> Result<Json<MeResponse>, ApiError> {
    let p = state.engine.profile(&grant).await?;
    Ok(Json(MeResponse {
        id: p.user.id.as_uuid(),
        display_name: p.user.display_name.as_str().to_owned(),
        email: p.user.email.as_ref().map(|e| e.as_str().to_owned()),
        current_tenant_id: p.current_tenant.as_uuid(),
        current_role: p.current_role.as_str().to_owned(),
        tenants: p
            .memberships
            .iter()
            .map(|(t, r)| MembershipOut {
                tenant_id: t.id.as_uuid(),
                tenant_name: t.name.as_str().to_owned(),
                role: r.as_str().to_owned(),
            })
            .collect(),
        settings: settings_out(&p.user.settings, p.provider_keys_set),
        created_at: p.user.created_at.to_rfc3339(),
    }))
}

/// Change your settings.
#[utoipa::path(patch, path = "/me/settings", tag = "me", request_body = SettingsPatch,
    responses((status = 200, body = SettingsOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(crate) async fn update_settings(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiJson(patch): ApiJson<SettingsPatch>,
) -> Result<Json<SettingsOut>, ApiError> {
    let patch = docwright_engine::admin::SettingsPatch {
        model_profile: patch.model_profile,
        selected_role_prompt_id: patch.selected_role_prompt_id,
        language: patch.language,
        provider_keys: patch.provider_keys,
    };
    let (s, keys) = state.engine.update_settings(&grant, patch).await?;
    Ok(Json(settings_out(&s, keys)))
}
