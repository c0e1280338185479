//! Automations (SPEC T2–T4): templates (`/api/automation-templates`), definitions
//! (`/api/automations`), the actions catalog, runs and estimates.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A template to store.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TemplateIn {
    /// Names by language (`en`, `de`, `fr`, `it`, `ru`); `en` is required. At most 200
    /// characters each.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub label: serde_json::Map<String, serde_json::Value>,
    /// Descriptions by language, at most 4,000 characters each.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub overview: serde_json::Map<String, serde_json::Value>,
    /// Workflow JSON `{overview, tasks: [{objective, action_list: [{exec_method, exec_action,
    /// exec_parameters, exec_result_label}]}]}` with `{{KEY:name}}` placeholders; every action
    /// must be in `GET /api/automations/actions`. At most 200,000 bytes.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schemas::NotBlank))]
    pub template: String,
}

/// A template.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TemplateOut {
    pub id: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub label: serde_json::Value,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub overview: serde_json::Value,
    pub template: String,
    /// The `{{KEY:name}}` keys, each once, in order of first appearance.
    pub placeholder_keys: Vec<String>,
    /// `installation` (the starter set, read by everyone) or `tenant`.
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    pub created_by_name: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A definition to create: from a template (`from_template`, a copy) or from `template`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AutomationIn {
    /// A template to copy (its label in your language becomes the label).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_template: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::Name200>))]
    pub label: Option<String>,
    /// Workflow JSON as for templates (when not from a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::NotBlank>))]
    pub template: Option<String>,
    /// Values by placeholder key (at most 10,000 characters each).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholders: Option<BTreeMap<String, String>>,
    /// A cron expression (minute hour day-of-month month day-of-week); default `0 22 * * *`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::NotBlank>))]
    pub schedule: Option<String>,
    /// An IANA time zone; default the tenant's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::NotBlank>))]
    pub timezone: Option<String>,
    /// Default false; refused while a placeholder has no value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// `skip` (default) or `run_once`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::MissedPolicyName>))]
    pub missed_policy: Option<String>,
    /// Only these configured providers answer the runs' calls; `[]` lifts the restriction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<crate::schemas::ProviderName>>))]
    pub allowed_providers: Option<Vec<String>>,
    /// `simple | complex`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::ModelProfileName>))]
    pub model_profile: Option<String>,
    /// The format of a result the actions do not name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::OutputFormat>))]
    pub output_format: Option<String>,
}

/// Changes to a definition: fields left out stay as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AutomationPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::Name200>))]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::NotBlank>))]
    pub template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholders: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::NotBlank>))]
    pub schedule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::NotBlank>))]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::MissedPolicyName>))]
    pub missed_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<crate::schemas::ProviderName>>))]
    pub allowed_providers: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::ModelProfileName>))]
    pub model_profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::OutputFormat>))]
    pub output_format: Option<String>,
}

/// Why a run failed or was refused.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunError {
    pub code: String,
    pub message: String,
}

/// One entry of an execution log.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunOut {
    pub id: String,
    /// `schedule`, `catch_up` (a missed slot under `run_once`) or `manual`.
    pub trigger: String,
    /// `started` (its workflow tells the rest), `refused` (no money), `failed` (could not
    /// start) or `skipped` (slots missed under `skip`).
    pub status: String,
    /// The slot it ran for (absent for `manual`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_id: Option<String>,
    /// The workflow's status: `queued`, `running`, `completed`, `failed`, `cancelled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_status: Option<String>,
    /// What the run's AI calls cost, a decimal.
    pub cost: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RunError>,
    /// Where to follow the workflow: its status, events and log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<RunLinks>,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunLinks {
    pub workflow: String,
    pub events: String,
    pub log: String,
}

/// A definition.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AutomationOut {
    pub id: String,
    pub label: String,
    pub template: String,
    pub placeholders: BTreeMap<String, String>,
    /// The template's keys in order of first appearance.
    pub placeholder_keys: Vec<String>,
    /// The keys without a value (activation is refused while any is left).
    pub unfilled_placeholders: Vec<String>,
    /// The input type of each key: the `frontend_type` of the action parameter it is in.
    pub placeholder_types: BTreeMap<String, String>,
    pub schedule: String,
    pub timezone: String,
    pub active: bool,
    pub missed_policy: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_providers: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_format: Option<String>,
    /// `inactive`, `scheduled` or `retrying` (a run could not start; it is tried again).
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The next slots, while active.
    pub next_runs: Vec<String>,
    /// The newest entries of its execution log, newest first.
    pub execution_logs: Vec<RunOut>,
    pub owner_id: String,
    pub created_at: String,
    pub updated_at: String,
}

/// `POST /api/automations/{id}/save-as-template`: the new template's names (default: the
/// definition's label as `en`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SaveAsTemplateIn {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub label: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub overview: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A parameter of an action.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActionParamOut {
    pub name: String,
    /// `string`, `string[]` or `enum`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The editor's input: `text` (default), `select`, `list`.
    pub frontend_type: String,
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub default: Option<serde_json::Value>,
    pub description: String,
    /// The choices of a `select`.
    pub frontend_options: Vec<String>,
}

/// An action of the catalog.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActionOut {
    pub method: String,
    pub action: String,
    /// `method.action`.
    pub action_id: String,
    pub description: String,
    pub category: String,
    pub parameters: Vec<ActionParamOut>,
    /// An entry of `action_list` to copy: required parameters as `{{KEY:<param>}}`, optional
    /// ones at their default, `exec_result_label` `<method>_<action>_result`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub example_json: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActionsOut {
    pub actions: Vec<ActionOut>,
}

/// `PUT /api/admin/tenants/{id}/timezone`: the tenant's time zone (IANA), the default of its
/// automations; `null` returns to the installation's.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TimezoneIn {
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schemas::NotBlank>))]
    pub timezone: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimezoneOut {
    pub tenant_id: String,
    /// The zone in force (the tenant's, else the installation's).
    pub timezone: String,
}

/// The indicative cost of a definition's runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EstimateOut {
    /// A decimal in `currency`.
    pub per_run: String,
    /// `per_run` times the runs of the next 30 days at the schedule.
    pub per_month: String,
    pub runs_per_month: u64,
    pub currency: String,
    pub calls_per_run: u32,
    /// The model priced (the one the gateway would try first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}
