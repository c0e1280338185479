//! Automations (SPEC T2–T4): templates, definitions, the actions catalog, the scheduler and
//! the cost estimate.
//!
//! A template is workflow JSON with `{{KEY:name}}` placeholders and no values
//! (`docwright-automation` checks it). A definition is a copy of one (no link kept) with values,
//! a cron schedule in a time zone, and `active` (off by default). Saving checks the JSON (the
//! error names line and column), every action against the catalog — the same one the
//! workflow's action loop uses — and the caller's right to use it
//! (`resource.action.<method>.<action>`), and adds the template's new keys to the values.
//! Activation is refused while a key has no value.
//!
//! Each run is a workflow with the definition's tasks as its fixed plan, acting as the
//! definition's owner; its AI calls are booked with feature `automation` and the definition's
//! id. The scheduler ([`Engine::run_due_automations`], one testable step; [`Engine::automation_scheduler`],
//! the owned loop) takes each due slot with a conditional update in the transaction that
//! stores the run's log row (unique per slot) and its workflow and job, so with several
//! replicas on one database each slot runs once. The next slot is computed from the previous
//! one, never from the clock. Slots found later than `misfire_grace` after their time were
//! missed (downtime): `skip` logs them and waits for the next, `run_once` runs once for all of
//! them. A run that cannot start for lack of money is logged `refused`; one that cannot start
//! for a passing reason is retried with a doubling pause (`retrying`).

use std::collections::BTreeMap;
use std::time::Duration;

use docwright_automation::Template;
use docwright_automation::schedule::{Schedule, time_zone};
use docwright_core::billing::BillingModel;
use docwright_core::id::{AutomationId, AutomationRunId, AutomationTemplateId, TenantId, WorkflowId};
use docwright_core::money::Money;
use docwright_core::rbac::{AccessLevel, Action, Permission, items};
use docwright_core::role::Role;
use docwright_core::settings::ModelProfile;
use docwright_core::time::Timestamp;
use docwright_storage::automations::{DefinitionRecord, RunRecord, RunRow, TemplateRecord};
use docwright_storage::{Page, PageRequest};
use serde_json::{Map, Value, json};

use crate::{Engine, Error, Grant, Result};

pub const TEMPLATE_READ: Permission = Permission::new(items::AUTOMATION_TEMPLATE, Action::Read);
pub const TEMPLATE_CREATE: Permission = Permission::new(items::AUTOMATION_TEMPLATE, Action::Create);
pub const TEMPLATE_UPDATE: Permission = Permission::new(items::AUTOMATION_TEMPLATE, Action::Update);
pub const TEMPLATE_DELETE: Permission = Permission::new(items::AUTOMATION_TEMPLATE, Action::Delete);
pub const AUTOMATION_READ: Permission = Permission::new(items::AUTOMATION, Action::Read);
pub const AUTOMATION_CREATE: Permission = Permission::new(items::AUTOMATION, Action::Create);
pub const AUTOMATION_UPDATE: Permission = Permission::new(items::AUTOMATION, Action::Update);
pub const AUTOMATION_DELETE: Permission = Permission::new(items::AUTOMATION, Action::Delete);

/// The schedule of a new definition (the seed's).
pub const DEFAULT_SCHEDULE: &str = "0 22 * * *";
/// Longest template JSON accepted, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 200_000;
/// Entries of the execution log shown with a definition.
pub const LOG_ENTRIES: u32 = 50;
/// Languages a label or overview may be given in.
pub const LANGUAGES: [&str; 5] = ["en", "de", "fr", "it", "ru"];

/// The starter templates, seeded into an empty table.
const STARTER: &str = include_str!("../automations/templates.json");

/// How automations are scheduled (`[automations]`).
#[derive(Debug, Clone)]
pub struct AutomationSettings {
    pub tick: Duration,
    pub misfire_grace: Duration,
    pub default_timezone: String,
}

impl Default for AutomationSettings {
    fn default() -> Self {
        Self { tick: Duration::from_secs(15), misfire_grace: Duration::from_secs(300), default_timezone: "UTC".into() }
    }
}

impl AutomationSettings {
    pub fn from_config(c: &docwright_config::AutomationsConfig) -> Self {
        Self {
            tick: Duration::from_secs(c.tick_secs.max(1)),
            misfire_grace: Duration::from_secs(c.misfire_grace_secs),
            default_timezone: c.default_timezone.clone(),
        }
    }
}

/// What happens to slots missed while no scheduler ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissedPolicy {
    /// Log them and wait for the next slot.
    Skip,
    /// Run once for all of them.
    RunOnce,
}

impl MissedPolicy {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "skip" => Some(Self::Skip),
            "run_once" => Some(Self::RunOnce),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Skip => "skip",
            Self::RunOnce => "run_once",
        }
    }
}

/// A template to store.
#[derive(Debug, Clone, Default)]
pub struct TemplateInput {
    /// Names by language (`en` required).
    pub label: Map<String, Value>,
    pub overview: Map<String, Value>,
    /// Workflow JSON with placeholders.
    pub template: String,
}

/// A template as the API shows it: its record and its placeholder keys.
#[derive(Debug, Clone)]
pub struct TemplateView {
    pub record: TemplateRecord,
    pub keys: Vec<String>,
}

/// Fields of a definition to create or change; `None` keeps (or, on create, defaults) a field.
#[derive(Debug, Clone, Default)]
pub struct AutomationInput {
    /// Create from this template (a copy; no link is kept).
    pub from_template: Option<AutomationTemplateId>,
    pub label: Option<String>,
    pub template: Option<String>,
    /// Values by key; replaces the stored values when given.
    pub placeholders: Option<BTreeMap<String, String>>,
    pub schedule: Option<String>,
    pub timezone: Option<String>,
    pub active: Option<bool>,
    pub missed_policy: Option<String>,
    /// `Some(None)` clears the restriction.
    pub allowed_providers: Option<Option<Vec<String>>>,
    pub model_profile: Option<Option<ModelProfile>>,
    pub output_format: Option<Option<String>>,
}

/// A definition as the API shows it.
#[derive(Debug, Clone)]
pub struct AutomationView {
    pub record: DefinitionRecord,
    /// Its template's keys, in order of first appearance.
    pub keys: Vec<String>,
    /// The keys without a value.
    pub unfilled: Vec<String>,
    /// The input type of each key: the `frontendType` of the action parameter it appears in.
    pub key_types: BTreeMap<String, String>,
    /// The next slots (while active).
    pub next_runs: Vec<Timestamp>,
    /// The newest entries of its execution log.
    pub runs: Vec<RunRow>,
}

/// A parameter of a catalog action, as the editor shows it.
#[derive(Debug, Clone)]
pub struct ActionParam {
    pub name: String,
    pub kind: String,
    pub frontend_type: String,
    pub required: bool,
    pub default: Option<Value>,
    pub description: String,
    pub options: Vec<String>,
}

/// An action of the catalog with its example snippet.
#[derive(Debug, Clone)]
pub struct ActionView {
    pub method: String,
    pub action: String,
    /// `method.action`.
    pub action_id: String,
    pub description: String,
    pub category: String,
    pub parameters: Vec<ActionParam>,
    pub example: Value,
}

/// The indicative cost of a definition's runs.
#[derive(Debug, Clone)]
pub struct Estimate {
    pub per_run: Money,
    pub per_month: Money,
    pub runs_per_month: u64,
    pub currency: String,
    /// AI calls one run makes by the estimate, and the model priced.
    pub calls_per_run: u32,
    pub model: Option<String>,
}

/// What a scheduler step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ticked {
    pub started: u32,
    pub skipped: u32,
    pub refused: u32,
    pub failed: u32,
    pub retrying: u32,
}

fn param_frontend_type(kind: &str) -> &'static str {
    match kind {
        "enum" => "select",
        "string[]" => "list",
        _ => "text",
    }
}

fn category_of(method: &str) -> &'static str {
    match method {
        "ai" => "AI",
        "context" => "Documents",
        "web" => "Web",
        _ => "Other",
    }
}

/// The catalog as the editor shows it: every action the workflow loop knows.
fn catalog() -> Vec<ActionView> {
    docwright_workflow::actions::catalog(true, true)
        .into_iter()
        .map(|spec| {
            let parameters: Vec<ActionParam> = spec
                .parameters
                .iter()
                .map(|p| ActionParam {
                    name: p.name.to_owned(),
                    kind: p.kind.to_owned(),
                    frontend_type: param_frontend_type(p.kind).to_owned(),
                    required: p.required,
                    default: None,
                    description: p.description.to_owned(),
                    options: p.options.iter().map(|o| (*o).to_owned()).collect(),
                })
                .collect();
            // The seed's rule: a required parameter is a placeholder named after it, an
            // optional one its default.
            let mut params = Map::new();
            for p in &parameters {
                if p.required {
                    params.insert(p.name.clone(), Value::String(format!("{{{{KEY:{}}}}}", p.name)));
                } else if let Some(d) = &p.default {
                    params.insert(p.name.clone(), d.clone());
                }
            }
            let example = json!({
                "exec_method": spec.method,
                "exec_action": spec.action,
                "exec_parameters": params,
                "exec_result_label": format!("{}_{}_result", spec.method, spec.action),
            });
            ActionView {
                method: spec.method.to_owned(),
                action: spec.action.to_owned(),
                action_id: spec.name(),
                description: spec.description.to_owned(),
                category: category_of(spec.method).to_owned(),
                parameters,
                example,
            }
        })
        .collect()
}

fn action_item(action_id: &str) -> String {
    format!("{}{action_id}", items::ACTION_PREFIX)
}

/// Every action of a checked template: (task index, action index, `method.action`, the action).
fn actions_of(template: &Template) -> impl Iterator<Item = (usize, usize, String, &Value)> {
    let tasks = template.json()["tasks"].as_array().map(Vec::as_slice).unwrap_or_default();
    tasks.iter().enumerate().flat_map(|(t, task)| {
        let list = task["action_list"].as_array().map(Vec::as_slice).unwrap_or_default();
        list.iter().enumerate().map(move |(a, action)| {
            let part = |f: &str| action[f].as_str().unwrap_or_default().trim().to_owned();
            (t, a, format!("{}.{}", part("exec_method"), part("exec_action")), action)
        })
    })
}

/// Checks a template's actions against the catalog; answers each key's input type.
fn check_actions(template: &Template, field: &str) -> Result<BTreeMap<String, String>> {
    let catalog = catalog();
    let mut types = BTreeMap::new();
    for (t, a, id, action) in actions_of(template) {
        let at = format!("{field}: tasks[{t}].action_list[{a}]");
        let Some(spec) = catalog.iter().find(|c| c.action_id == id) else {
            let known: Vec<&str> = catalog.iter().map(|c| c.action_id.as_str()).collect();
            return Err(Error::invalid(field, format!("{at}: no action `{id}`; the catalog has {}", known.join(", "))));
        };
        let params = action.get("exec_parameters").and_then(Value::as_object).cloned().unwrap_or_default();
        for (k, v) in &params {
            let Some(p) = spec.parameters.iter().find(|p| &p.name == k) else {
                let known: Vec<&str> = spec.parameters.iter().map(|p| p.name.as_str()).collect();
                return Err(Error::invalid(
                    field,
                    format!("{at}: `{id}` has no parameter `{k}` (it takes {})", known.join(", ")),
                ));
            };
            let keys = docwright_automation::placeholder_keys(&v.to_string());
            for key in &keys {
                types.entry(key.clone()).or_insert_with(|| p.frontend_type.clone());
            }
            if !keys.is_empty() {
                continue;
            }
            let fits = match p.kind.as_str() {
                "string[]" => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
                "enum" => v.as_str().is_some_and(|s| p.options.iter().any(|o| o == s)),
                _ => v.is_string(),
            };
            if !fits {
                let want = match p.kind.as_str() {
                    "string[]" => "a list of strings".to_owned(),
                    "enum" => format!("one of {}", p.options.join(", ")),
                    _ => "a string".to_owned(),
                };
                return Err(Error::invalid(field, format!("{at}: parameter `{k}` of `{id}` must be {want}")));
            }
        }
        if let Some(missing) = spec.parameters.iter().find(|p| p.required && !params.contains_key(&p.name)) {
            return Err(Error::invalid(field, format!("{at}: `{id}` needs parameter `{}`", missing.name)));
        }
    }
    Ok(types)
}

fn parse_template(text: &str, field: &str) -> Result<Template> {
    if text.len() > MAX_TEMPLATE_BYTES {
        return Err(Error::invalid(field, format!("at most {MAX_TEMPLATE_BYTES} bytes")));
    }
    Template::parse(text).map_err(|e| Error::invalid(field, e))
}

/// A multilingual text map: known languages, strings of at most `max` characters.
fn languages(field: &str, map: &Map<String, Value>, max: usize, need_en: bool) -> Result<Value> {
    for (lang, v) in map {
        if !LANGUAGES.contains(&lang.as_str()) {
            return Err(Error::invalid(format!("{field}.{lang}"), format!("languages are {}", LANGUAGES.join(", "))));
        }
        let s = v.as_str().ok_or_else(|| Error::invalid(format!("{field}.{lang}"), "must be a string"))?;
        if s.chars().count() > max || s.chars().any(|c| c.is_control() && c != '\n') {
            return Err(Error::invalid(
                format!("{field}.{lang}"),
                format!("at most {max} characters, no control characters"),
            ));
        }
    }
    if need_en && map.get("en").and_then(Value::as_str).is_none_or(|s| s.trim().is_empty()) {
        return Err(Error::invalid(format!("{field}.en"), "an English label is required"));
    }
    Ok(Value::Object(map.clone()))
}

/// The label of `label` in `lang`, else English, else the seed's default.
fn label_in(label: &Value, lang: &str) -> String {
    [lang, "en"]
        .iter()
        .find_map(|l| label.get(*l).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()))
        .unwrap_or("New Automation")
        .to_owned()
}

fn check_label(label: &str) -> Result<String> {
    let label = label.trim();
    if label.is_empty() || label.chars().count() > 200 || label.chars().any(char::is_control) {
        return Err(Error::invalid("label", "1 to 200 characters, no control characters"));
    }
    Ok(label.to_owned())
}

/// The doubling pause after `failures` failed starts, at most an hour.
fn backoff(failures: i64) -> Duration {
    Duration::from_secs((30u64 << failures.clamp(0, 7) as u32).min(3600))
}

impl Engine {
    /// With these `[automations]` settings.
    pub fn with_automations(mut self, settings: AutomationSettings) -> Self {
        self.automations = std::sync::Arc::new(settings);
        self
    }

    /// Seeds the starter templates into an empty table (at every start; a table with any
    /// template is left alone); answers how many it inserted.
    pub async fn seed_automation_templates(&self) -> Result<u32> {
        if self.db.count_automation_templates().await? > 0 {
            return Ok(0);
        }
        let starter: Vec<Value> =
            serde_json::from_str(STARTER).map_err(|e| Error::Internal(format!("starter templates: {e}")))?;
        let now = Timestamp::now();
        let mut n = 0;
        for t in starter {
            let template = serde_json::to_string_pretty(&t["template"]).map_err(|e| Error::Internal(e.to_string()))?;
            // The starter set is checked like any template (a test keeps it valid).
            let parsed = parse_template(&template, "template")?;
            check_actions(&parsed, "template")?;
            let id = t["id"].as_str().and_then(|s| AutomationTemplateId::parse(s).ok());
            let id = id.ok_or_else(|| Error::Internal("a starter template without an id".to_owned()))?;
            // Fixed ids: replicas starting together on an empty table seed the set once.
            self.db
                .seed_automation_template(&TemplateRecord {
                    id,
                    tenant_id: None,
                    label: t["label"].clone(),
                    overview: t["overview"].clone(),
                    template,
                    created_by: None,
                    created_by_name: "docwright".to_owned(),
                    created_at: now,
                    updated_at: now,
                })
                .await
                .map(|inserted| n += u32::from(inserted))?;
        }
        Ok(n)
    }

    // ---- templates ---------------------------------------------------------------------

    fn template_view(record: TemplateRecord) -> TemplateView {
        let keys = docwright_automation::placeholder_keys(&record.template);
        TemplateView { record, keys }
    }

    /// A template the grant reaches: the installation's, or the tenant's (own at level `my`).
    async fn visible_template(&self, grant: &Grant, id: AutomationTemplateId) -> Result<TemplateRecord> {
        let t = self.db.automation_template(grant.ctx().tenant, id).await?.ok_or(Error::NotFound("template"))?;
        let own = t.created_by == Some(grant.ctx().user());
        if t.tenant_id.is_some() && !grant.tenant_wide() && !own {
            return Err(Error::NotFound("template"));
        }
        Ok(t)
    }

    /// A template the grant may change: not the installation's (sysadmins excepted).
    async fn writable_template(&self, grant: &Grant, id: AutomationTemplateId) -> Result<TemplateRecord> {
        let t = self.visible_template(grant, id).await?;
        if t.tenant_id.is_none() && grant.ctx().role != Role::Sysadmin {
            return Err(Error::Forbidden("the starter templates are edited by sysadmins only".to_owned()));
        }
        Ok(t)
    }

    pub async fn automation_templates(&self, grant: &Grant, page: PageRequest<'_>) -> Result<Page<TemplateView>> {
        grant.expect(TEMPLATE_READ)?;
        let owner = (!grant.tenant_wide()).then(|| grant.ctx().user());
        let page = self.db.automation_templates(grant.ctx().tenant, owner, page).await?;
        Ok(Page { items: page.items.into_iter().map(Self::template_view).collect(), has_more: page.has_more })
    }

    pub async fn automation_template(&self, grant: &Grant, id: AutomationTemplateId) -> Result<TemplateView> {
        grant.expect(TEMPLATE_READ)?;
        Ok(Self::template_view(self.visible_template(grant, id).await?))
    }

    fn checked_template_input(input: &TemplateInput) -> Result<(Value, Value)> {
        let label = languages("label", &input.label, 200, true)?;
        let overview = languages("overview", &input.overview, 4000, false)?;
        let template = parse_template(&input.template, "template")?;
        check_actions(&template, "template")?;
        Ok((label, overview))
    }

    pub async fn create_automation_template(&self, grant: &Grant, input: TemplateInput) -> Result<TemplateView> {
        grant.expect(TEMPLATE_CREATE)?;
        let (label, overview) = Self::checked_template_input(&input)?;
        let ctx = grant.ctx();
        let name = self.db.user(ctx.user()).await?.map(|u| u.display_name.as_str().to_owned()).unwrap_or_default();
        let now = Timestamp::now();
        let record = TemplateRecord {
            id: AutomationTemplateId::new(),
            tenant_id: Some(ctx.tenant),
            label,
            overview,
            template: input.template,
            created_by: Some(ctx.user()),
            created_by_name: name,
            created_at: now,
            updated_at: now,
        };
        self.db.insert_automation_template(&record).await?;
        Ok(Self::template_view(record))
    }

    pub async fn update_automation_template(
        &self,
        grant: &Grant,
        id: AutomationTemplateId,
        input: TemplateInput,
    ) -> Result<TemplateView> {
        grant.expect(TEMPLATE_UPDATE)?;
        let mut record = self.writable_template(grant, id).await?;
        let (label, overview) = Self::checked_template_input(&input)?;
        record.label = label;
        record.overview = overview;
        record.template = input.template;
        record.updated_at = Timestamp::now();
        if !self.db.update_automation_template(&record).await? {
            return Err(Error::NotFound("template"));
        }
        Ok(Self::template_view(record))
    }

    pub async fn delete_automation_template(&self, grant: &Grant, id: AutomationTemplateId) -> Result<()> {
        grant.expect(TEMPLATE_DELETE)?;
        self.writable_template(grant, id).await?;
        if !self.db.delete_automation_template(id).await? {
            return Err(Error::NotFound("template"));
        }
        Ok(())
    }

    // ---- the actions catalog ------------------------------------------------------------

    /// The actions the caller may use (`view` on `resource.action.<method>.<action>`).
    pub async fn automation_actions(&self, grant: &Grant) -> Result<Vec<ActionView>> {
        grant.expect(AUTOMATION_READ)?;
        let ctx = grant.ctx();
        let policy = self.policy(ctx.tenant).await?;
        Ok(catalog()
            .into_iter()
            .filter(|a| {
                ctx.role == Role::Sysadmin
                    || policy.grant_item(ctx.role, &action_item(&a.action_id), Action::View) >= AccessLevel::My
            })
            .collect())
    }

    /// Refuses actions of `template` that the context's role may not use.
    async fn check_action_rights(&self, tenant: TenantId, role: Role, template: &Template) -> Result<()> {
        if role == Role::Sysadmin {
            return Ok(());
        }
        let policy = self.policy(tenant).await?;
        for (_, _, id, _) in actions_of(template) {
            if policy.grant_item(role, &action_item(&id), Action::View) < AccessLevel::My {
                return Err(Error::Forbidden(format!("you may not use action `{id}` ({})", action_item(&id))));
            }
        }
        Ok(())
    }

    // ---- definitions --------------------------------------------------------------------

    async fn automation_view(&self, record: DefinitionRecord) -> Result<AutomationView> {
        let template = parse_template(&record.template, "template")?;
        let key_types = check_actions(&template, "template").unwrap_or_default();
        let keys = template.keys().to_vec();
        let unfilled = template.unfilled(&record.placeholders);
        let next_runs = match (record.active, record.next_run_at) {
            (true, Some(next)) => {
                let mut runs = vec![next];
                if let Ok((s, tz)) = schedule_of(&record) {
                    runs.extend(s.upcoming(jiff_ts(next), &tz, 4).into_iter().map(from_jiff));
                }
                runs
            }
            _ => Vec::new(),
        };
        let runs = self.db.automation_runs(record.id, LOG_ENTRIES).await?;
        Ok(AutomationView { record, keys, unfilled, key_types, next_runs, runs })
    }

    async fn visible_automation(&self, grant: &Grant, id: AutomationId) -> Result<DefinitionRecord> {
        let d = self.db.automation(grant.ctx().tenant, id).await?.ok_or(Error::NotFound("automation"))?;
        if !grant.tenant_wide() && d.user_id != grant.ctx().user() {
            return Err(Error::NotFound("automation"));
        }
        Ok(d)
    }

    pub async fn automations(&self, grant: &Grant, page: PageRequest<'_>) -> Result<Page<AutomationView>> {
        grant.expect(AUTOMATION_READ)?;
        let owner = (!grant.tenant_wide()).then(|| grant.ctx().user());
        let page = self.db.automations(grant.ctx().tenant, owner, page).await?;
        let mut items = Vec::with_capacity(page.items.len());
        for d in page.items {
            items.push(self.automation_view(d).await?);
        }
        Ok(Page { items, has_more: page.has_more })
    }

    pub async fn automation(&self, grant: &Grant, id: AutomationId) -> Result<AutomationView> {
        grant.expect(AUTOMATION_READ)?;
        let d = self.visible_automation(grant, id).await?;
        self.automation_view(d).await
    }

    /// Sets a tenant's time zone (the default of its new definitions); `None` returns to the
    /// configured one. Answers the zone in force.
    pub async fn set_tenant_timezone(&self, grant: &Grant, tenant: TenantId, timezone: Option<&str>) -> Result<String> {
        grant.expect(crate::admin::perms::TENANT_UPDATE)?;
        if grant.level() < AccessLevel::All && tenant != grant.ctx().tenant {
            return Err(Error::NotFound("tenant"));
        }
        let timezone = timezone.map(str::trim).filter(|t| !t.is_empty());
        if let Some(tz) = timezone {
            time_zone(tz).map_err(|e| Error::invalid("timezone", e.message))?;
        }
        if !self.db.set_tenant_timezone(tenant, timezone).await? {
            return Err(Error::NotFound("tenant"));
        }
        self.default_timezone(tenant).await
    }

    /// The tenant's time zone for new definitions.
    async fn default_timezone(&self, tenant: TenantId) -> Result<String> {
        Ok(self.db.tenant_timezone(tenant).await?.unwrap_or_else(|| self.automations.default_timezone.clone()))
    }

    /// Applies `input` to `d` and checks the result; `now` places the next slot.
    async fn apply(
        &self,
        grant: &Grant,
        d: &mut DefinitionRecord,
        input: AutomationInput,
        now: Timestamp,
    ) -> Result<()> {
        if let Some(label) = &input.label {
            d.label = check_label(label)?;
        }
        if let Some(t) = input.template {
            d.template = t;
        }
        let template = parse_template(&d.template, "template")?;
        check_actions(&template, "template")?;
        self.check_action_rights(grant.ctx().tenant, grant.ctx().role, &template).await?;
        if let Some(values) = input.placeholders {
            for (k, v) in &values {
                if v.chars().count() > 10_000 {
                    return Err(Error::invalid(format!("placeholders.{k}"), "at most 10,000 characters"));
                }
            }
            d.placeholders = values;
        }
        // The template's keys that have no entry yet get an empty one (the editor's form).
        for key in template.keys() {
            d.placeholders.entry(key.clone()).or_default();
        }
        if let Some(s) = input.schedule {
            d.schedule = s.trim().to_owned();
        }
        if let Some(tz) = input.timezone {
            d.timezone = tz.trim().to_owned();
        }
        let (schedule, tz) = schedule_of(d)?;
        if let Some(p) = input.missed_policy {
            d.missed_policy = MissedPolicy::parse(p.trim())
                .ok_or_else(|| Error::invalid("missed_policy", "one of skip, run_once"))?
                .as_str()
                .to_owned();
        }
        if let Some(allowed) = input.allowed_providers {
            if let Some(list) = &allowed {
                for (i, p) in list.iter().enumerate() {
                    if !self.registry().has_provider(p) {
                        return Err(Error::invalid(
                            format!("allowed_providers[{i}]"),
                            format!("no provider `{p}` is configured"),
                        ));
                    }
                }
            }
            d.allowed_providers = allowed;
        }
        if let Some(profile) = input.model_profile {
            d.model_profile = profile.map(|p| p.as_str().to_owned());
        }
        if let Some(format) = input.output_format {
            let format =
                format.map(|f| f.trim().trim_start_matches('.').to_ascii_lowercase()).filter(|f| !f.is_empty());
            if format.as_deref().is_some_and(|f| docwright_render::Format::from_extension(f).is_none()) {
                return Err(Error::invalid("output_format", "one of docx, pdf, xlsx, csv, pptx, html, md, json, txt"));
            }
            d.output_format = format;
        }
        if let Some(active) = input.active {
            d.active = active;
        }
        if d.active {
            let unfilled = template.unfilled(&d.placeholders);
            if !unfilled.is_empty() {
                return Err(Error::Unprocessable {
                    code: "unfilled_placeholders",
                    message: format!(
                        "the automation cannot be activated: no value for the placeholder{} {}",
                        if unfilled.len() == 1 { "" } else { "s" },
                        unfilled.join(", ")
                    ),
                });
            }
            // The first slot after now; a definition already scheduled keeps its next slot
            // unless its schedule or zone changed.
            let next = schedule.next_after(jiff_ts(now), &tz).map(from_jiff);
            if next.is_none() {
                return Err(Error::invalid("schedule", "the schedule never runs in the next five years"));
            }
            d.next_run_at = next;
            d.status = "scheduled".to_owned();
        } else {
            d.next_run_at = None;
            d.status = "inactive".to_owned();
        }
        d.failures = 0;
        d.retry_at = None;
        d.last_error = None;
        d.updated_at = now;
        Ok(())
    }

    /// Creates a definition from a template (a copy; the label in the user's language, else
    /// English, else "New Automation") or from scratch.
    pub async fn create_automation(&self, grant: &Grant, input: AutomationInput) -> Result<AutomationView> {
        grant.expect(AUTOMATION_CREATE)?;
        let ctx = grant.ctx();
        let (template, label) = match input.from_template {
            Some(id) => {
                let g = self.authorize(ctx.clone(), TEMPLATE_READ).await?;
                let t = self.visible_template(&g, id).await.map_err(|_| {
                    Error::invalid("from_template", format!("Template not found or no permission: {id}"))
                })?;
                let lang = self
                    .db
                    .user(ctx.user())
                    .await?
                    .map(|u| u.settings.language.as_str().to_owned())
                    .unwrap_or_else(|| "en".to_owned());
                (t.template, label_in(&t.label, &lang))
            }
            None => {
                let t = input
                    .template
                    .clone()
                    .ok_or_else(|| Error::invalid("template", "give a template or from_template"))?;
                (t, "New Automation".to_owned())
            }
        };
        let now = Timestamp::now();
        let mut d = DefinitionRecord {
            id: AutomationId::new(),
            tenant_id: ctx.tenant,
            user_id: ctx.user(),
            label,
            template,
            placeholders: BTreeMap::new(),
            schedule: DEFAULT_SCHEDULE.to_owned(),
            timezone: self.default_timezone(ctx.tenant).await?,
            active: false,
            missed_policy: MissedPolicy::Skip.as_str().to_owned(),
            allowed_providers: None,
            model_profile: None,
            output_format: None,
            status: "inactive".to_owned(),
            last_error: None,
            next_run_at: None,
            failures: 0,
            retry_at: None,
            created_at: now,
            updated_at: now,
        };
        // The template is chosen above (the template's copy, or the one given).
        let input = AutomationInput { template: None, ..input };
        self.apply(grant, &mut d, input, now).await?;
        self.db.insert_automation(&d).await?;
        self.automation_view(d).await
    }

    /// Changes a definition (fields not given stay).
    pub async fn update_automation(
        &self,
        grant: &Grant,
        id: AutomationId,
        input: AutomationInput,
    ) -> Result<AutomationView> {
        grant.expect(AUTOMATION_UPDATE)?;
        let mut d = self.visible_automation(grant, id).await?;
        let before = (d.schedule.clone(), d.timezone.clone(), d.active, d.next_run_at);
        let now = Timestamp::now();
        self.apply(grant, &mut d, input, now).await?;
        // An unchanged active schedule keeps its pending slot.
        if d.active && before.2 && (d.schedule.as_str(), d.timezone.as_str()) == (before.0.as_str(), before.1.as_str())
        {
            d.next_run_at = before.3.or(d.next_run_at);
        }
        if !self.db.update_automation(&d).await? {
            return Err(Error::NotFound("automation"));
        }
        self.automation_view(d).await
    }

    pub async fn delete_automation(&self, grant: &Grant, id: AutomationId) -> Result<()> {
        grant.expect(AUTOMATION_DELETE)?;
        self.visible_automation(grant, id).await?;
        if !self.db.delete_automation(grant.ctx().tenant, id).await? {
            return Err(Error::NotFound("automation"));
        }
        Ok(())
    }

    /// Stores a definition's template as a new template of the caller: the `{{KEY:…}}`
    /// markers stay, the values do not.
    pub async fn save_automation_as_template(
        &self,
        grant: &Grant,
        id: AutomationId,
        label: Option<Map<String, Value>>,
        overview: Option<Map<String, Value>>,
    ) -> Result<TemplateView> {
        grant.expect(AUTOMATION_READ)?;
        let d = self.visible_automation(grant, id).await?;
        let g = self.authorize(grant.ctx().clone(), TEMPLATE_CREATE).await?;
        let label = label.unwrap_or_else(|| {
            let mut m = Map::new();
            m.insert("en".to_owned(), Value::String(d.label.clone()));
            m
        });
        self.create_automation_template(
            &g,
            TemplateInput { label, overview: overview.unwrap_or_default(), template: d.template },
        )
        .await
    }

    /// Starts a run now, outside the schedule (the slot stays as it is).
    pub async fn run_automation_now(&self, grant: &Grant, id: AutomationId) -> Result<RunRow> {
        grant.expect(AUTOMATION_UPDATE)?;
        let d = self.visible_automation(grant, id).await?;
        let template = parse_template(&d.template, "template")?;
        let unfilled = template.unfilled(&d.placeholders);
        if !unfilled.is_empty() {
            return Err(Error::Unprocessable {
                code: "unfilled_placeholders",
                message: format!("the automation cannot run: no value for {}", unfilled.join(", ")),
            });
        }
        let run_id = AutomationRunId::new();
        let prepared = self.prepare_run(&d).await;
        let mut tx = self.db.begin_write().await?;
        let run = match prepared {
            Ok(Prepared::Start(start)) => {
                let (job, record) = *start;
                tx.enqueue(&job).await?;
                tx.insert_workflow(&record).await?;
                run_record(run_id, &d, None, "manual", "started", Some(record.id), None)
            }
            Ok(Prepared::Refused(message)) => {
                return Err(Error::Unprocessable { code: "insufficient_balance", message });
            }
            Err(e) => return Err(e),
        };
        tx.insert_automation_run(&run).await?;
        tx.commit().await?;
        let rows = self.db.automation_runs(d.id, LOG_ENTRIES).await?;
        rows.into_iter().find(|r| r.run.id == run_id).ok_or(Error::NotFound("run"))
    }

    /// A run's workflow, ready to store, acting as the definition's owner; or why it may not
    /// start (money).
    async fn prepare_run(&self, d: &DefinitionRecord) -> Result<Prepared> {
        let ctx = self.background_context(d.user_id, d.tenant_id).await?;
        let template = parse_template(&d.template, "template")?;
        self.check_action_rights(ctx.tenant, ctx.role, &template).await?;
        let tasks = template.fill(&d.placeholders).map_err(|e| Error::invalid("placeholders", e))?;
        // A run refused for money is logged as such rather than failing at its first call.
        let (settings, account) = self.paying_account(d.tenant_id, d.user_id).await?;
        let floor = match settings.model {
            BillingModel::PrepayTenant | BillingModel::PrepayUser if settings.block_on_zero_balance => Some(0),
            BillingModel::CreditPostpay => settings.credit_limit.map(|l| -l.micros()),
            _ => None,
        };
        if let Some(floor) = floor {
            let available = account.balance.micros() - account.reserved.micros() - floor;
            if available <= 0 || !account.enabled {
                return Ok(Prepared::Refused(format!(
                    "insufficient balance: {} {} available",
                    Money::from_micros(available.max(0)),
                    settings.currency.as_str()
                )));
            }
        }
        let grant = self.authorize(ctx, crate::workflows::WORKFLOW_CREATE).await?;
        let overview = template.json().get("overview").map(|o| match o {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let prompt = match overview.filter(|o| !o.trim().is_empty() && o != "null") {
            Some(o) => format!("{}\n\n{o}", d.label),
            None => d.label.clone(),
        };
        let new = crate::workflows::NewWorkflow {
            prompt,
            output_format: d.output_format.clone(),
            title: Some(d.label.clone()),
            allowed_providers: d.allowed_providers.clone(),
            model_profile: d.model_profile.as_deref().and_then(|p| ModelProfile::parse(p).ok()),
            plan: Some(tasks),
            automation_id: Some(d.id),
            ..Default::default()
        };
        let (job, record) = self.prepare_workflow(&grant, new).await?;
        Ok(Prepared::Start(Box::new((job, record))))
    }

    // ---- the scheduler ------------------------------------------------------------------

    /// One scheduler step at `now` (the loop's body; tests call it with a clock of their own):
    /// every due slot is taken by exactly one scheduler and run, skipped, refused or failed.
    pub async fn run_due_automations(&self, now: Timestamp) -> Result<Ticked> {
        let mut done = Ticked::default();
        for d in self.db.due_automations(now, 100).await? {
            if let Err(e) = self.run_due(&d, now, &mut done).await {
                tracing::warn!(automation = %d.id, error = %e, "an automation's slot could not be handled; will retry");
                let failures = d.failures + 1;
                let retry = now.plus_secs(backoff(d.failures).as_secs() as i64);
                if let Some(expected) = d.next_run_at {
                    self.db.automation_failed(d.id, expected, failures, retry, &e.to_string()).await?;
                }
                done.retrying += 1;
            }
        }
        Ok(done)
    }

    async fn run_due(&self, d: &DefinitionRecord, now: Timestamp, done: &mut Ticked) -> Result<()> {
        let Some(first) = d.next_run_at else { return Ok(()) };
        let (schedule, tz) = schedule_of(d)?;
        // Every slot from the pending one up to now, each from the one before.
        let mut last = first;
        let mut count: u64 = 1;
        let mut next = schedule.next_after(jiff_ts(first), &tz).map(from_jiff);
        while let Some(n) = next.filter(|n| *n <= now) {
            last = n;
            count += 1;
            next = schedule.next_after(jiff_ts(n), &tz).map(from_jiff);
            if count > 100_000 {
                // A long downtime on a dense schedule: jump to the first slot after now.
                next = schedule.next_after(jiff_ts(now), &tz).map(from_jiff);
                break;
            }
        }
        let grace = self.automations.misfire_grace.as_millis() as i64;
        let on_time = now.millis() - last.millis() <= grace;
        let missed = if on_time { count - 1 } else { count };
        let policy = MissedPolicy::parse(&d.missed_policy).unwrap_or(MissedPolicy::Skip);
        let run = if on_time {
            Some((last, "schedule"))
        } else if policy == MissedPolicy::RunOnce {
            Some((last, "catch_up"))
        } else {
            None
        };
        let prepared = match run {
            Some(_) => Some(self.prepare_run(d).await),
            None => None,
        };
        // A passing failure (storage) leaves the slot to be tried again after a pause.
        let prepared = match prepared {
            Some(Err(e @ Error::Storage(_))) => return Err(e),
            other => other,
        };
        let mut tx = self.db.begin_write().await?;
        if !tx.claim_slot(d.id, first, next).await? {
            // Another scheduler took it (or the definition changed meanwhile).
            tx.rollback().await?;
            return Ok(());
        }
        if missed > 0 && policy == MissedPolicy::Skip {
            let skipped_last = if on_time { previous_slot(&schedule, &tz, first, last) } else { last };
            let message = format!(
                "{missed} slot{} missed while no scheduler ran ({} to {}); policy skip",
                if missed == 1 { "" } else { "s" },
                first.to_rfc3339(),
                skipped_last.to_rfc3339()
            );
            let row = run_record(
                AutomationRunId::new(),
                d,
                Some(skipped_last),
                "schedule",
                "skipped",
                None,
                Some(("missed", message)),
            );
            if tx.insert_automation_run(&row).await? {
                done.skipped += 1;
            }
        }
        if let (Some((slot, trigger)), Some(prepared)) = (run, prepared) {
            let row = match prepared {
                Ok(Prepared::Start(start)) => {
                    let (job, record) = *start;
                    tx.enqueue(&job).await?;
                    tx.insert_workflow(&record).await?;
                    done.started += 1;
                    run_record(AutomationRunId::new(), d, Some(slot), trigger, "started", Some(record.id), None)
                }
                Ok(Prepared::Refused(message)) => {
                    done.refused += 1;
                    run_record(
                        AutomationRunId::new(),
                        d,
                        Some(slot),
                        trigger,
                        "refused",
                        None,
                        Some(("insufficient_balance", message)),
                    )
                }
                Err(e) => {
                    done.failed += 1;
                    let code = match &e {
                        Error::Forbidden(_) | Error::NotFound(_) | Error::Unauthenticated { .. } => "forbidden",
                        _ => "invalid",
                    };
                    run_record(
                        AutomationRunId::new(),
                        d,
                        Some(slot),
                        trigger,
                        "failed",
                        None,
                        Some((code, e.to_string())),
                    )
                }
            };
            if !tx.insert_automation_run(&row).await? {
                // The slot has its entry already: nothing of this one is stored.
                tx.rollback().await?;
                return Ok(());
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The scheduler loop, to run as an owned background task until `stop` resolves.
    pub fn automation_scheduler<S>(&self, stop: S) -> impl Future<Output = ()> + Send + use<S>
    where
        S: Future<Output = ()> + Send + 'static,
    {
        let engine = self.clone();
        async move {
            tokio::pin!(stop);
            loop {
                let step = tokio::select! {
                    () = &mut stop => return,
                    step = engine.run_due_automations(Timestamp::now()) => step,
                };
                match step {
                    Ok(t) if t != Ticked::default() => tracing::info!(
                        started = t.started,
                        skipped = t.skipped,
                        refused = t.refused,
                        failed = t.failed,
                        retrying = t.retrying,
                        "automations scheduled"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "the automation scheduler failed; will retry"),
                }
                tokio::select! {
                    () = &mut stop => return,
                    () = tokio::time::sleep(engine.automations.tick) => {}
                }
            }
        }
    }

    // ---- the estimate -------------------------------------------------------------------

    /// The indicative cost of one run and of a month of runs at the definition's schedule,
    /// priced at the model the gateway would try first for each action.
    pub async fn automation_estimate(&self, grant: &Grant, id: AutomationId) -> Result<Estimate> {
        grant.expect(AUTOMATION_READ)?;
        let d = self.visible_automation(grant, id).await?;
        let template = parse_template(&d.template, "template")?;
        let ctx = self.background_context(d.user_id, d.tenant_id).await?;
        let owner = self.authorize(ctx, crate::workflows::WORKFLOW_CREATE).await?;
        let mut per_run = Money::ZERO;
        let mut calls = 0u32;
        let mut priced = None;
        for (_, _, id, _) in actions_of(&template) {
            // Calls and tokens per action, as such runs typically make them: a structure
            // call and a section call for content, one answer for web search.
            let (operation, n, input, output) = match id.as_str() {
                "ai.process" | "ai.generate_document" => (crate::gateway::Operation::DataGenerate, 2, 6_000, 2_000),
                "ai.summarize_document" => (crate::gateway::Operation::DataAnalyse, 1, 8_000, 1_000),
                "web.search" => (crate::gateway::Operation::WebSearch, 1, 1_000, 1_000),
                _ => continue,
            };
            let req = crate::gateway::AiRequest {
                model: crate::gateway::AUTO.to_owned(),
                operation,
                priority: d.model_profile.as_deref().map(crate::workflows::priority_of),
                messages: Vec::new(),
                max_output_tokens: None,
                temperature: None,
                output: docwright_llm::OutputFormat::Text,
                tools: Vec::new(),
                tool_choice: Default::default(),
                parallel_tool_calls: None,
                allowed_providers: d.allowed_providers.clone(),
                process: "automation.estimate".to_owned(),
                reference: None,
            };
            let Ok(models) = self.ranked(&owner, &req).await else { continue };
            if let Some(m) = models.first() {
                per_run = Money::from_micros(per_run.micros().saturating_add(m.price(input, output).micros() * n));
                calls += n as u32;
                priced.get_or_insert_with(|| m.name.clone());
            }
        }
        let (schedule, tz) = schedule_of(&d)?;
        let runs = schedule.runs_in_30_days(jiff_ts(Timestamp::now()), &tz, 50_000) as u64;
        let (settings, _) = self.paying_account(d.tenant_id, d.user_id).await?;
        Ok(Estimate {
            per_run,
            per_month: Money::from_micros(per_run.micros().saturating_mul(runs as i64)),
            runs_per_month: runs,
            currency: settings.currency.as_str().to_owned(),
            calls_per_run: calls,
            model: priced,
        })
    }
}

enum Prepared {
    Start(Box<(docwright_jobs::NewJob, docwright_storage::workflows::WorkflowRecord)>),
    Refused(String),
}

fn run_record(
    id: AutomationRunId,
    d: &DefinitionRecord,
    slot: Option<Timestamp>,
    trigger: &str,
    status: &str,
    workflow: Option<WorkflowId>,
    error: Option<(&str, String)>,
) -> RunRecord {
    RunRecord {
        id,
        definition_id: d.id,
        tenant_id: d.tenant_id,
        slot_at: slot,
        trigger: trigger.to_owned(),
        status: status.to_owned(),
        workflow_id: workflow,
        error_code: error.as_ref().map(|e| e.0.to_owned()),
        error_message: error.map(|e| e.1),
        created_at: Timestamp::now(),
    }
}

/// The slot before `last`, counting from `first` (for the log of skipped slots).
fn previous_slot(schedule: &Schedule, tz: &jiff::tz::TimeZone, first: Timestamp, last: Timestamp) -> Timestamp {
    let mut prev = first;
    let mut at = first;
    while let Some(n) = schedule.next_after(jiff_ts(at), tz).map(from_jiff) {
        if n >= last {
            break;
        }
        prev = n;
        at = n;
    }
    prev
}

/// A definition's schedule and zone, an error naming the field at fault.
fn schedule_of(d: &DefinitionRecord) -> Result<(Schedule, jiff::tz::TimeZone)> {
    let schedule = Schedule::parse(&d.schedule).map_err(|e| Error::invalid("schedule", e))?;
    let tz = time_zone(&d.timezone).map_err(|e| Error::invalid("timezone", e.message))?;
    Ok((schedule, tz))
}

fn jiff_ts(t: Timestamp) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(t.millis()).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

fn from_jiff(t: jiff::Timestamp) -> Timestamp {
    Timestamp::from_millis(t.as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_examples_follow_the_seed_rule() {
        let all = catalog();
        let process = all.iter().find(|a| a.action_id == "ai.process").unwrap();
        assert_eq!(process.example["exec_parameters"]["prompt"], "{{KEY:prompt}}");
        assert!(process.example["exec_parameters"].get("output_format").is_none());
        assert_eq!(process.example["exec_result_label"], "ai_process_result");
        assert_eq!(process.parameters.iter().find(|p| p.name == "output_format").unwrap().frontend_type, "select");
        assert!(all.iter().any(|a| a.action_id == "web.search"));
    }

    #[test]
    fn actions_are_checked_against_the_catalog() {
        let t = |s: &str| Template::parse(s).unwrap();
        let ok = t(r#"{"tasks":[{"action_list":[{"exec_method":"ai","exec_action":"process",
            "exec_parameters":{"prompt":"Sum up {{KEY:topic}}","output_format":"{{KEY:fmt}}"}}]}]}"#);
        let types = check_actions(&ok, "template").unwrap();
        assert_eq!(types["topic"], "text");
        assert_eq!(types["fmt"], "select");
        for (bad, needle) in [
            (r#"{"tasks":[{"action_list":[{"exec_method":"ai","exec_action":"fly"}]}]}"#, "no action `ai.fly`"),
            (
                r#"{"tasks":[{"action_list":[{"exec_method":"ai","exec_action":"process","exec_parameters":{}}]}]}"#,
                "needs parameter `prompt`",
            ),
            (
                r#"{"tasks":[{"action_list":[{"exec_method":"ai","exec_action":"process","exec_parameters":{"prompt":"x","colour":"red"}}]}]}"#,
                "has no parameter `colour`",
            ),
            (
                r#"{"tasks":[{"action_list":[{"exec_method":"ai","exec_action":"process","exec_parameters":{"prompt":"x","output_format":"exe"}}]}]}"#,
                "must be one of",
            ),
        ] {
            let e = check_actions(&t(bad), "template").unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
            assert!(e.contains("tasks[0].action_list[0]"), "{e}");
        }
    }

    #[test]
    fn the_starter_templates_are_valid() {
        let starter: Vec<Value> = serde_json::from_str(STARTER).unwrap();
        assert!(starter.len() >= 3);
        for t in starter {
            let text = serde_json::to_string(&t["template"]).unwrap();
            let parsed = parse_template(&text, "template").unwrap();
            check_actions(&parsed, "template").unwrap();
            assert!(!parsed.keys().is_empty());
            for lang in ["en", "de"] {
                assert!(t["label"][lang].is_string() && t["overview"][lang].is_string(), "{lang}");
            }
        }
    }

    #[test]
    fn labels_fall_back_to_english_then_the_default() {
        let l = json!({"en": "Summary", "de": "Zusammenfassung"});
        assert_eq!(label_in(&l, "de"), "Zusammenfassung");
        assert_eq!(label_in(&l, "fr"), "Summary");
        assert_eq!(label_in(&json!({}), "fr"), "New Automation");
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(0), Duration::from_secs(30));
        assert_eq!(backoff(1), Duration::from_secs(60));
        assert_eq!(backoff(20), Duration::from_secs(3600));
    }
}
