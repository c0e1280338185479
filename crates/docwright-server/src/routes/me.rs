//! `GET /me`, `PATCH /me/settings` (SPEC P4).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::guard::Authorized;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SettingsOut {
    /// `simple` or `complex`.
    pub model_profile: &'static str,
    pub selected_role_prompt_id: Option<String>,
    /// `en`, `de`, `fr`, `it` or `ru`.
    pub language: &'static str,
    /// Providers you stored an own key for (the keys are never shown).
    pub provider_keys_set: Vec<String>,
}

impl SettingsOut {
    fn new(s: &docwright_core::settings::UserSettings, provider_keys_set: Vec<String>) -> Self {
        Self {
            model_profile: s.model_profile.as_str(),
            selected_role_prompt_id: s.selected_role_prompt_id.clone(),
            language: s.language.as_str(),
            provider_keys_set,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct MembershipOut {
    pub tenant_id: Uuid,
    pub tenant_name: String,
    pub role: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct MeResponse {
    pub id: Uuid,
    pub display_name: String,
    pub email: Option<String>,
    /// The tenant this request ran in.
    pub current_tenant_id: Uuid,
    /// Your role there (`sysadmin` when you are a sysadmin anywhere).
    pub current_role: &'static str,
    pub tenants: Vec<MembershipOut>,
    pub settings: SettingsOut,
    pub created_at: String,
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
        current_role: p.current_role.as_str(),
        tenants: p
            .memberships
            .iter()
            .map(|(t, r)| MembershipOut {
                tenant_id: t.id.as_uuid(),
                tenant_name: t.name.as_str().to_owned(),
                role: r.as_str(),
            })
            .collect(),
        settings: SettingsOut::new(&p.user.settings, p.provider_keys_set),
        created_at: p.user.created_at.to_rfc3339(),
    }))
}

/// Fields absent from the body stay as they are; `selected_role_prompt_id: null` clears it.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SettingsPatch {
    #[schema(value_type = Option<crate::schemas::ModelProfileName>)]
    pub model_profile: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<crate::schemas::RoleId>)]
    pub selected_role_prompt_id: Option<Option<String>>,
    #[schema(value_type = Option<crate::schemas::LanguageCode>)]
    pub language: Option<String>,
    /// Your own provider keys (BYOK): `{"openai": "sk-..."}` stores one (encrypted, never shown
    /// again), `{"openai": null}` deletes it. Your key is used before the tenant's and the
    /// configured one.
    #[schema(value_type = Option<crate::schemas::ProviderKeys>)]
    pub provider_keys: Option<std::collections::BTreeMap<String, Option<String>>>,
}

/// Tells "absent" (outer `None`) from "null" (`Some(None)`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::<String>::deserialize(d)?))
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
    Ok(Json(SettingsOut::new(&s, keys)))
}
