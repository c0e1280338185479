//! Automations (SPEC T2–T4): templates, definitions and their execution log (migration 0015).
//!
//! A scheduler claims a definition's slot by moving `next_run_at` on with a conditional update
//! ([`WriteTx::claim_slot`]) in the transaction that stores the run's log row (unique per
//! definition and slot) and its workflow with its job, so of several replicas exactly one runs
//! a slot, and a slot that was claimed has its run.

use std::collections::BTreeMap;

use docwright_core::id::{AutomationId, AutomationRunId, AutomationTemplateId, TenantId, UserId, WorkflowId};
use docwright_core::money::Money;
use docwright_core::time::Timestamp;
use serde_json::Value;
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::{Db, Error, Page, PageRequest, Result, WriteTx, parse_col, parse_opt_col, trusted};

/// A stored template.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateRecord {
    pub id: AutomationTemplateId,
    /// `None`: the installation's starter set.
    pub tenant_id: Option<TenantId>,
    /// Names by language, a JSON object.
    pub label: Value,
    /// Descriptions by language, a JSON object.
    pub overview: Value,
    /// The workflow JSON with `{{KEY:name}}` placeholders.
    pub template: String,
    pub created_by: Option<UserId>,
    pub created_by_name: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A stored definition.
#[derive(Debug, Clone, PartialEq)]
pub struct DefinitionRecord {
    pub id: AutomationId,
    pub tenant_id: TenantId,
    /// Its owner: runs act as them.
    pub user_id: UserId,
    pub label: String,
    pub template: String,
    pub placeholders: BTreeMap<String, String>,
    pub schedule: String,
    pub timezone: String,
    pub active: bool,
    /// `skip` or `run_once`.
    pub missed_policy: String,
    pub allowed_providers: Option<Vec<String>>,
    pub model_profile: Option<String>,
    pub output_format: Option<String>,
    /// `inactive`, `scheduled`, `retrying`, `failing`.
    pub status: String,
    pub last_error: Option<String>,
    pub next_run_at: Option<Timestamp>,
    pub failures: i64,
    pub retry_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One entry of a definition's execution log.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub id: AutomationRunId,
    pub definition_id: AutomationId,
    pub tenant_id: TenantId,
    /// The schedule's slot; `None` for a run started by hand.
    pub slot_at: Option<Timestamp>,
    /// `schedule`, `catch_up` or `manual`.
    pub trigger: String,
    /// `started`, `refused`, `failed` or `skipped`.
    pub status: String,
    pub workflow_id: Option<WorkflowId>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_at: Timestamp,
}

/// A log entry with what its workflow became.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub run: RunRecord,
    pub workflow_status: Option<String>,
    pub workflow_error: Option<String>,
    pub cost: Money,
}

fn json_col(r: &AnyRow, col: &str) -> Result<Value> {
    serde_json::from_str(&r.try_get::<String, _>(col)?).map_err(|e| Error::Corrupt(format!("{col}: {e}")))
}

fn opt_millis(r: &AnyRow, col: &str) -> Result<Option<Timestamp>> {
    Ok(r.try_get::<Option<i64>, _>(col)?.map(Timestamp::from_millis))
}

const TEMPLATE_COLS: &str =
    "id, tenant_id, label, overview, template, created_by, created_by_name, created_at, updated_at";

fn template_row(r: &AnyRow) -> Result<TemplateRecord> {
    Ok(TemplateRecord {
        id: parse_col(r, "id", AutomationTemplateId::parse)?,
        tenant_id: parse_opt_col(r, "tenant_id", TenantId::parse)?,
        label: json_col(r, "label")?,
        overview: json_col(r, "overview")?,
        template: r.try_get("template")?,
        created_by: parse_opt_col(r, "created_by", UserId::parse)?,
        created_by_name: r.try_get("created_by_name")?,
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
        updated_at: Timestamp::from_millis(r.try_get("updated_at")?),
    })
}

const DEFINITION_COLS: &str = "id, tenant_id, user_id, label, template, placeholders, schedule, timezone, active, \
     missed_policy, allowed_providers, model_profile, output_format, status, last_error, next_run_at, failures, \
     retry_at, created_at, updated_at";

fn definition_row(r: &AnyRow) -> Result<DefinitionRecord> {
    let placeholders: BTreeMap<String, String> = serde_json::from_str(&r.try_get::<String, _>("placeholders")?)
        .map_err(|e| Error::Corrupt(format!("placeholders: {e}")))?;
    let allowed = match r.try_get::<Option<String>, _>("allowed_providers")? {
        Some(s) => Some(serde_json::from_str(&s).map_err(|e| Error::Corrupt(format!("allowed_providers: {e}")))?),
        None => None,
    };
    Ok(DefinitionRecord {
        id: parse_col(r, "id", AutomationId::parse)?,
        tenant_id: parse_col(r, "tenant_id", TenantId::parse)?,
        user_id: parse_col(r, "user_id", UserId::parse)?,
        label: r.try_get("label")?,
        template: r.try_get("template")?,
        placeholders,
        schedule: r.try_get("schedule")?,
        timezone: r.try_get("timezone")?,
        active: r.try_get::<i64, _>("active")? != 0,
        missed_policy: r.try_get("missed_policy")?,
        allowed_providers: allowed,
        model_profile: r.try_get("model_profile")?,
        output_format: r.try_get("output_format")?,
        status: r.try_get("status")?,
        last_error: r.try_get("last_error")?,
        next_run_at: opt_millis(r, "next_run_at")?,
        failures: r.try_get("failures")?,
        retry_at: opt_millis(r, "retry_at")?,
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
        updated_at: Timestamp::from_millis(r.try_get("updated_at")?),
    })
}

fn placeholders_json(p: &BTreeMap<String, String>) -> String {
    Value::Object(p.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect()).to_string()
}

fn to_json<T: Into<Value> + Clone>(v: &T) -> Result<String> {
    Ok(v.clone().into().to_string())
}

impl Db {
    /// How many templates exist (the starter set is seeded only into an empty table).
    pub async fn count_automation_templates(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM automation_templates").fetch_one(self.writer()).await?;
        Ok(row.try_get("n")?)
    }

    pub async fn insert_automation_template(&self, t: &TemplateRecord) -> Result<()> {
        self.insert_template(t, "").await.map(|_| ())
    }

    /// Inserts a starter template unless one with its id exists; answers whether it did.
    pub async fn seed_automation_template(&self, t: &TemplateRecord) -> Result<bool> {
        self.insert_template(t, " ON CONFLICT (id) DO NOTHING").await
    }

    async fn insert_template(&self, t: &TemplateRecord, conflict: &str) -> Result<bool> {
        let sql = format!(
            "INSERT INTO automation_templates ({TEMPLATE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9){conflict}"
        );
        let done = sqlx::query(trusted(sql))
            .bind(t.id.to_string())
            .bind(t.tenant_id.map(|x| x.to_string()))
            .bind(t.label.to_string())
            .bind(t.overview.to_string())
            .bind(t.template.clone())
            .bind(t.created_by.map(|u| u.to_string()))
            .bind(t.created_by_name.clone())
            .bind(t.created_at.millis())
            .bind(t.updated_at.millis())
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A template of `tenant` or of the installation.
    pub async fn automation_template(
        &self,
        tenant: TenantId,
        id: AutomationTemplateId,
    ) -> Result<Option<TemplateRecord>> {
        let sql = format!(
            "SELECT {TEMPLATE_COLS} FROM automation_templates WHERE id = $1 AND (tenant_id = $2 OR tenant_id IS NULL)"
        );
        let row =
            sqlx::query(trusted(sql)).bind(id.to_string()).bind(tenant.to_string()).fetch_optional(self.pool()).await?;
        row.as_ref().map(template_row).transpose()
    }

    /// The templates `tenant` sees (its own — of `owner` only when given — and the
    /// installation's), oldest first.
    pub async fn automation_templates(
        &self,
        tenant: TenantId,
        owner: Option<UserId>,
        page: PageRequest<'_>,
    ) -> Result<Page<TemplateRecord>> {
        let sql = format!(
            "SELECT {TEMPLATE_COLS} FROM automation_templates \
             WHERE (tenant_id IS NULL OR (tenant_id = $1 AND ($2 = '' OR created_by = $2))) AND id > $3 \
             ORDER BY id LIMIT $4"
        );
        let rows = sqlx::query(trusted(sql))
            .bind(tenant.to_string())
            .bind(owner.map(|o| o.to_string()).unwrap_or_default())
            .bind(page.after_or_min())
            .bind(page.fetch_limit())
            .fetch_all(self.pool())
            .await?;
        let items = rows.iter().map(template_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page))
    }

    /// Replaces a template's label, overview and JSON; answers whether it existed.
    pub async fn update_automation_template(&self, t: &TemplateRecord) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE automation_templates SET label = $1, overview = $2, template = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(t.label.to_string())
        .bind(t.overview.to_string())
        .bind(t.template.clone())
        .bind(t.updated_at.millis())
        .bind(t.id.to_string())
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn delete_automation_template(&self, id: AutomationTemplateId) -> Result<bool> {
        let done = sqlx::query("DELETE FROM automation_templates WHERE id = $1")
            .bind(id.to_string())
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn insert_automation(&self, d: &DefinitionRecord) -> Result<()> {
        let sql = format!(
            "INSERT INTO automation_definitions ({DEFINITION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
        );
        sqlx::query(trusted(sql))
            .bind(d.id.to_string())
            .bind(d.tenant_id.to_string())
            .bind(d.user_id.to_string())
            .bind(d.label.clone())
            .bind(d.template.clone())
            .bind(placeholders_json(&d.placeholders))
            .bind(d.schedule.clone())
            .bind(d.timezone.clone())
            .bind(i64::from(d.active))
            .bind(d.missed_policy.clone())
            .bind(d.allowed_providers.as_ref().map(to_json).transpose()?)
            .bind(d.model_profile.clone())
            .bind(d.output_format.clone())
            .bind(d.status.clone())
            .bind(d.last_error.clone())
            .bind(d.next_run_at.map(Timestamp::millis))
            .bind(d.failures)
            .bind(d.retry_at.map(Timestamp::millis))
            .bind(d.created_at.millis())
            .bind(d.updated_at.millis())
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// A definition of `tenant`.
    pub async fn automation(&self, tenant: TenantId, id: AutomationId) -> Result<Option<DefinitionRecord>> {
        let sql = format!("SELECT {DEFINITION_COLS} FROM automation_definitions WHERE id = $1 AND tenant_id = $2");
        let row = sqlx::query(trusted(sql))
            .bind(id.to_string())
            .bind(tenant.to_string())
            .fetch_optional(self.writer())
            .await?;
        row.as_ref().map(definition_row).transpose()
    }

    /// The definitions of `tenant` (of `owner` only when given), oldest first.
    pub async fn automations(
        &self,
        tenant: TenantId,
        owner: Option<UserId>,
        page: PageRequest<'_>,
    ) -> Result<Page<DefinitionRecord>> {
        let sql = format!(
            "SELECT {DEFINITION_COLS} FROM automation_definitions \
             WHERE tenant_id = $1 AND ($2 = '' OR user_id = $2) AND id > $3 ORDER BY id LIMIT $4"
        );
        let rows = sqlx::query(trusted(sql))
            .bind(tenant.to_string())
            .bind(owner.map(|o| o.to_string()).unwrap_or_default())
            .bind(page.after_or_min())
            .bind(page.fetch_limit())
            .fetch_all(self.pool())
            .await?;
        let items = rows.iter().map(definition_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page))
    }

    /// Replaces what a user edits of a definition, and its schedule state; answers whether it
    /// existed.
    pub async fn update_automation(&self, d: &DefinitionRecord) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE automation_definitions SET label = $1, template = $2, placeholders = $3, schedule = $4, \
             timezone = $5, active = $6, missed_policy = $7, allowed_providers = $8, model_profile = $9, \
             output_format = $10, status = $11, last_error = $12, next_run_at = $13, failures = $14, retry_at = $15, \
             updated_at = $16 WHERE id = $17 AND tenant_id = $18",
        )
        .bind(d.label.clone())
        .bind(d.template.clone())
        .bind(placeholders_json(&d.placeholders))
        .bind(d.schedule.clone())
        .bind(d.timezone.clone())
        .bind(i64::from(d.active))
        .bind(d.missed_policy.clone())
        .bind(d.allowed_providers.as_ref().map(to_json).transpose()?)
        .bind(d.model_profile.clone())
        .bind(d.output_format.clone())
        .bind(d.status.clone())
        .bind(d.last_error.clone())
        .bind(d.next_run_at.map(Timestamp::millis))
        .bind(d.failures)
        .bind(d.retry_at.map(Timestamp::millis))
        .bind(d.updated_at.millis())
        .bind(d.id.to_string())
        .bind(d.tenant_id.to_string())
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn delete_automation(&self, tenant: TenantId, id: AutomationId) -> Result<bool> {
        let done = sqlx::query("DELETE FROM automation_definitions WHERE id = $1 AND tenant_id = $2")
            .bind(id.to_string())
            .bind(tenant.to_string())
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Active definitions whose next slot is due at `now` and that are not waiting out a
    /// failure, earliest first.
    pub async fn due_automations(&self, now: Timestamp, limit: u32) -> Result<Vec<DefinitionRecord>> {
        let sql = format!(
            "SELECT {DEFINITION_COLS} FROM automation_definitions WHERE active = 1 AND next_run_at <= $1 \
             AND (retry_at IS NULL OR retry_at <= $1) ORDER BY next_run_at LIMIT $2"
        );
        let rows = sqlx::query(trusted(sql)).bind(now.millis()).bind(i64::from(limit)).fetch_all(self.writer()).await?;
        rows.iter().map(definition_row).collect()
    }

    /// After a run could not be started: the failure count, when to try again and why.
    pub async fn automation_failed(
        &self,
        id: AutomationId,
        expected_next: Timestamp,
        failures: i64,
        retry_at: Timestamp,
        error: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE automation_definitions SET failures = $1, retry_at = $2, last_error = $3, status = 'retrying' \
             WHERE id = $4 AND next_run_at = $5",
        )
        .bind(failures)
        .bind(retry_at.millis())
        .bind(error.to_owned())
        .bind(id.to_string())
        .bind(expected_next.millis())
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// The newest `limit` entries of a definition's log, newest first, with their workflows'
    /// status and cost.
    pub async fn automation_runs(&self, definition: AutomationId, limit: u32) -> Result<Vec<RunRow>> {
        let rows = sqlx::query(
            "SELECT r.id, r.definition_id, r.tenant_id, r.slot_at, r.run_trigger, r.status, r.workflow_id, \
             r.error_code, r.error_message, r.created_at, w.status AS workflow_status, \
             w.error_message AS workflow_error, w.cost_micros AS cost_micros \
             FROM automation_runs r LEFT JOIN workflows w ON w.id = r.workflow_id \
             WHERE r.definition_id = $1 ORDER BY r.id DESC LIMIT $2",
        )
        .bind(definition.to_string())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RunRow {
                    run: RunRecord {
                        id: parse_col(r, "id", AutomationRunId::parse)?,
                        definition_id: parse_col(r, "definition_id", AutomationId::parse)?,
                        tenant_id: parse_col(r, "tenant_id", TenantId::parse)?,
                        slot_at: opt_millis(r, "slot_at")?,
                        trigger: r.try_get("run_trigger")?,
                        status: r.try_get("status")?,
                        workflow_id: parse_opt_col(r, "workflow_id", WorkflowId::parse)?,
                        error_code: r.try_get("error_code")?,
                        error_message: r.try_get("error_message")?,
                        created_at: Timestamp::from_millis(r.try_get("created_at")?),
                    },
                    workflow_status: r.try_get("workflow_status")?,
                    workflow_error: r.try_get("workflow_error")?,
                    cost: Money::from_micros(r.try_get::<Option<i64>, _>("cost_micros")?.unwrap_or(0)),
                })
            })
            .collect()
    }
}

impl WriteTx {
    /// Claims slot `expected` of an active definition by moving its next slot to `next`:
    /// `false` when another scheduler did first (or the definition changed meanwhile).
    pub async fn claim_slot(&mut self, id: AutomationId, expected: Timestamp, next: Option<Timestamp>) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE automation_definitions SET next_run_at = $1, failures = 0, retry_at = NULL, last_error = NULL, \
             status = 'scheduled' WHERE id = $2 AND active = 1 AND next_run_at = $3",
        )
        .bind(next.map(Timestamp::millis))
        .bind(id.to_string())
        .bind(expected.millis())
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Adds an entry to a definition's log; `false` when its slot has one already.
    pub async fn insert_automation_run(&mut self, r: &RunRecord) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO automation_runs (id, definition_id, tenant_id, slot_at, run_trigger, status, workflow_id, \
             error_code, error_message, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (definition_id, slot_at) DO NOTHING",
        )
        .bind(r.id.to_string())
        .bind(r.definition_id.to_string())
        .bind(r.tenant_id.to_string())
        .bind(r.slot_at.map(Timestamp::millis))
        .bind(r.trigger.clone())
        .bind(r.status.clone())
        .bind(r.workflow_id.map(|w| w.to_string()))
        .bind(r.error_code.clone())
        .bind(r.error_message.clone())
        .bind(r.created_at.millis())
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

impl Db {
    /// A tenant's own time zone, if it set one.
    pub async fn tenant_timezone(&self, tenant: TenantId) -> Result<Option<String>> {
        let row = sqlx::query("SELECT timezone FROM tenants WHERE id = $1")
            .bind(tenant.to_string())
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(r) => r.try_get("timezone")?,
            None => None,
        })
    }

    pub async fn set_tenant_timezone(&self, tenant: TenantId, timezone: Option<&str>) -> Result<bool> {
        let done = sqlx::query("UPDATE tenants SET timezone = $1 WHERE id = $2")
            .bind(timezone.map(str::to_owned))
            .bind(tenant.to_string())
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
