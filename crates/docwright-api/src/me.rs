//! `GET /me`, `PATCH /me/settings` (SPEC P4).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SettingsOut {
    /// `simple` or `complex`.
    pub model_profile: String,
    pub selected_role_prompt_id: Option<String>,
    /// `en`, `de`, `fr`, `it` or `ru`.
    pub language: String,
    /// Providers you stored an own key for (the keys are never shown).
    pub provider_keys_set: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MembershipOut {
    pub tenant_id: Uuid,
    pub tenant_name: String,
    pub role: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeResponse {
    pub id: Uuid,
    pub display_name: String,
    pub email: Option<String>,
    /// The tenant this request ran in.
    pub current_tenant_id: Uuid,
    /// Your role there (`sysadmin` when you are a sysadmin anywhere).
    pub current_role: String,
    pub tenants: Vec<MembershipOut>,
    pub settings: SettingsOut,
    pub created_at: String,
}

/// Fields absent from the body stay as they are; `selected_role_prompt_id: null` clears it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::ModelProfileName>))]
    pub model_profile: Option<String>,
    /// `Some(None)` is sent as `null` (clears the selection); `None` is left out.
    #[serde(default, deserialize_with = "crate::present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::RoleId>))]
    pub selected_role_prompt_id: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::LanguageCode>))]
    pub language: Option<String>,
    /// Your own provider keys (BYOK): `{"openai": "sk-..."}` stores one (encrypted, never shown
    /// again), `{"openai": null}` deletes it. Your key is used before the tenant's and the
    /// configured one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::ProviderKeys>))]
    pub provider_keys: Option<BTreeMap<String, Option<String>>>,
}
