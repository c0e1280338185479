//! Generation workflows (SPEC W1–W4): the request, its state, and what its runs leave behind —
//! progress events, the operation tree, checkpointed AI answers, debug files and result files.
//! Tenant-scoped like every tenant record: readers take the tenant id; the run's own writes
//! name the workflow, which its job was enqueued for.
//!
//! A workflow is stored together with its job ([`WriteTx::insert_workflow`] beside
//! [`WriteTx::enqueue`]), so it is never accepted without a job to run it. Events have UUIDv7
//! ids, so `after = <last id>` resumes a stream. Checkpoints and results are keyed by names
//! that are the same on every run of the workflow, and are written once
//! (`ON CONFLICT DO NOTHING`), so a run taken up again after a crash neither pays for an answer
//! twice nor stores a result twice.

use docwright_core::id::{AutomationId, CollectionId, FileId, JobId, ProjectId, TenantId, UserId, WorkflowId};
use docwright_core::money::Money;
use docwright_core::time::Timestamp;
use serde_json::Value;
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::jobs::{Job, JobState, Scope};
use crate::{Db, Error, Page, PageRequest, Result, WriteTx, parse_col, parse_opt_col, trusted};

/// A workflow as submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowRecord {
    pub id: WorkflowId,
    pub tenant_id: TenantId,
    /// Who submitted it: the run acts, is authorised and is billed as them.
    pub user_id: UserId,
    /// The credential it was submitted with (`session` or `api_key`), its id and bound tenant.
    pub credential_kind: String,
    pub credential_id: String,
    pub credential_tenant: Option<TenantId>,
    pub job_id: JobId,
    pub prompt: String,
    pub file_ids: Vec<FileId>,
    pub project_id: Option<ProjectId>,
    /// A collection whose files its searches look in (instead of a project's).
    pub collection_id: Option<CollectionId>,
    pub output_format: Option<String>,
    pub title: Option<String>,
    pub allowed_providers: Option<Vec<String>>,
    pub model_profile: Option<String>,
    pub debug_trace: bool,
    /// A fixed plan (JSON tasks of an automation) run instead of planning.
    pub plan: Option<Value>,
    /// The automation definition that started it (its costs are the automation's).
    pub automation_id: Option<AutomationId>,
    /// A prompt preset's instructions for the calls that write content.
    pub instructions: Option<String>,
    pub created_at: Timestamp,
}

/// Where a workflow is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkflowStatus {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl WorkflowStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkflowStatus::Queued => "queued",
            WorkflowStatus::Running => "running",
            WorkflowStatus::Completed => "completed",
            WorkflowStatus::Failed => "failed",
            WorkflowStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        Ok(match s {
            "queued" => WorkflowStatus::Queued,
            "running" => WorkflowStatus::Running,
            "completed" => WorkflowStatus::Completed,
            "failed" => WorkflowStatus::Failed,
            "cancelled" => WorkflowStatus::Cancelled,
            other => return Err(format!("unknown workflow status `{other}`")),
        })
    }

    pub fn is_final(self) -> bool {
        matches!(self, WorkflowStatus::Completed | WorkflowStatus::Failed | WorkflowStatus::Cancelled)
    }
}

/// What a workflow's runs have done so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowState {
    pub status: WorkflowStatus,
    pub phase: Option<String>,
    /// 0-100.
    pub progress: u8,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub answer: Option<String>,
    pub detected_language: Option<String>,
    pub cost: Money,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
}

/// A workflow with its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workflow {
    pub record: WorkflowRecord,
    pub state: WorkflowState,
}

/// How a run ended, as it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowEnd<'a> {
    pub status: WorkflowStatus,
    pub error_code: Option<&'a str>,
    pub error_message: Option<&'a str>,
    pub answer: Option<&'a str>,
    pub detected_language: Option<&'a str>,
    pub cost: Money,
}

/// One stored progress event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowEvent {
    /// UUIDv7: events sort by id.
    pub id: String,
    pub event: String,
    pub data: Value,
    pub created_at: Timestamp,
}

/// One node of the operation tree as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRow {
    pub op_id: String,
    pub parent_id: Option<String>,
    pub title: String,
    pub label: String,
    pub message: String,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    /// `ok | failed`, `None` while it runs.
    pub outcome: Option<String>,
    pub error: Option<String>,
    pub cost: Money,
    /// The AI call of a leaf, as JSON.
    pub ai: Option<Value>,
}

const COLS: &str = "id, tenant_id, user_id, credential_kind, credential_id, credential_tenant, job_id, prompt, \
     file_ids, project_id, output_format, title, allowed_providers, model_profile, debug_trace, status, phase, \
     progress, error_code, error_message, answer, detected_language, cost_micros, created_at, started_at, finished_at, \
     plan, automation_id, instructions, collection_id";

fn json_text(v: &[String]) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Corrupt(e.to_string()))
}

fn opt_millis(r: &AnyRow, col: &str) -> Result<Option<Timestamp>> {
    Ok(r.try_get::<Option<i64>, _>(col)?.map(Timestamp::from_millis))
}

fn from_row(r: &AnyRow) -> Result<Workflow> {
    let file_ids: Vec<String> = serde_json::from_str(&r.try_get::<String, _>("file_ids")?)
        .map_err(|e| Error::Corrupt(format!("workflows.file_ids: {e}")))?;
    let file_ids = file_ids
        .iter()
        .map(|f| FileId::parse(f).map_err(|e| Error::Corrupt(format!("workflows.file_ids: {e}"))))
        .collect::<Result<Vec<_>>>()?;
    let allowed = match r.try_get::<Option<String>, _>("allowed_providers")? {
        Some(s) => Some(serde_json::from_str(&s).map_err(|e| Error::Corrupt(format!("allowed_providers: {e}")))?),
        None => None,
    };
    let record = WorkflowRecord {
        id: parse_col(r, "id", WorkflowId::parse)?,
        tenant_id: parse_col(r, "tenant_id", TenantId::parse)?,
        user_id: parse_col(r, "user_id", UserId::parse)?,
        credential_kind: r.try_get("credential_kind")?,
        credential_id: r.try_get("credential_id")?,
        credential_tenant: parse_opt_col(r, "credential_tenant", TenantId::parse)?,
        job_id: parse_col(r, "job_id", JobId::parse)?,
        prompt: r.try_get("prompt")?,
        file_ids,
        project_id: parse_opt_col(r, "project_id", ProjectId::parse)?,
        collection_id: parse_opt_col(r, "collection_id", CollectionId::parse)?,
        output_format: r.try_get("output_format")?,
        title: r.try_get("title")?,
        allowed_providers: allowed,
        model_profile: r.try_get("model_profile")?,
        debug_trace: r.try_get::<i64, _>("debug_trace")? != 0,
        plan: match r.try_get::<Option<String>, _>("plan")? {
            Some(s) => Some(serde_json::from_str(&s).map_err(|e| Error::Corrupt(format!("workflows.plan: {e}")))?),
            None => None,
        },
        automation_id: parse_opt_col(r, "automation_id", AutomationId::parse)?,
        instructions: r.try_get("instructions")?,
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
    };
    let state = WorkflowState {
        status: parse_col(r, "status", WorkflowStatus::parse)?,
        phase: r.try_get("phase")?,
        progress: r.try_get::<i64, _>("progress")?.clamp(0, 100) as u8,
        error_code: r.try_get("error_code")?,
        error_message: r.try_get("error_message")?,
        answer: r.try_get("answer")?,
        detected_language: r.try_get("detected_language")?,
        cost: Money::from_micros(r.try_get("cost_micros")?),
        started_at: opt_millis(r, "started_at")?,
        finished_at: opt_millis(r, "finished_at")?,
    };
    Ok(Workflow { record, state })
}

impl WriteTx {
    /// Stores a submitted workflow, `queued` (its job must be enqueued in the same transaction).
    pub async fn insert_workflow(&mut self, w: &WorkflowRecord) -> Result<()> {
        let files: Vec<String> = w.file_ids.iter().map(ToString::to_string).collect();
        let allowed = w.allowed_providers.as_deref().map(json_text).transpose()?;
        sqlx::query(
            "INSERT INTO workflows (id, tenant_id, user_id, credential_kind, credential_id, credential_tenant, job_id, \
             prompt, file_ids, project_id, output_format, title, allowed_providers, model_profile, debug_trace, \
             status, progress, cost_micros, created_at, plan, automation_id, instructions, collection_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 'queued', 0, 0, $16, $17, $18, $19, \
             $20)",
        )
        .bind(w.id.to_string())
        .bind(w.tenant_id.to_string())
        .bind(w.user_id.to_string())
        .bind(w.credential_kind.clone())
        .bind(w.credential_id.clone())
        .bind(w.credential_tenant.map(|t| t.to_string()))
        .bind(w.job_id.to_string())
        .bind(w.prompt.clone())
        .bind(json_text(&files)?)
        .bind(w.project_id.map(|p| p.to_string()))
        .bind(w.output_format.clone())
        .bind(w.title.clone())
        .bind(allowed)
        .bind(w.model_profile.clone())
        .bind(i64::from(w.debug_trace))
        .bind(w.created_at.millis())
        .bind(w.plan.as_ref().map(Value::to_string))
        .bind(w.automation_id.map(|a| a.to_string()))
        .bind(w.instructions.clone())
        .bind(w.collection_id.map(|c| c.to_string()))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Records result file `file` under `key`, unless the key has one already; answers the
    /// file the key names.
    pub async fn insert_workflow_result(&mut self, workflow: WorkflowId, key: &str, file: FileId) -> Result<FileId> {
        sqlx::query(
            "INSERT INTO workflow_results (workflow_id, result_key, file_id, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (workflow_id, result_key) DO NOTHING",
        )
        .bind(workflow.to_string())
        .bind(key.to_owned())
        .bind(file.to_string())
        .bind(Timestamp::now().millis())
        .execute(self.conn())
        .await?;
        let row = sqlx::query("SELECT file_id FROM workflow_results WHERE workflow_id = $1 AND result_key = $2")
            .bind(workflow.to_string())
            .bind(key.to_owned())
            .fetch_one(self.conn())
            .await?;
        parse_col(&row, "file_id", FileId::parse)
    }
}

impl Db {
    /// A workflow of `tenant`.
    pub async fn workflow(&self, tenant: TenantId, id: WorkflowId) -> Result<Option<Workflow>> {
        let sql = format!("SELECT {COLS} FROM workflows WHERE tenant_id = $1 AND id = $2");
        let row =
            sqlx::query(trusted(sql)).bind(tenant.to_string()).bind(id.to_string()).fetch_optional(self.pool()).await?;
        row.as_ref().map(from_row).transpose()
    }

    /// A workflow by id alone, for the run its job started (the job names the tenant too).
    pub async fn workflow_for_run(&self, id: WorkflowId) -> Result<Option<Workflow>> {
        let sql = format!("SELECT {COLS} FROM workflows WHERE id = $1");
        let row = sqlx::query(trusted(sql)).bind(id.to_string()).fetch_optional(self.writer()).await?;
        row.as_ref().map(from_row).transpose()
    }

    /// A workflow of `tenant` with the job that runs it.
    pub async fn workflow_with_job(&self, tenant: TenantId, id: WorkflowId) -> Result<Option<(Workflow, Job)>> {
        let Some(w) = self.workflow(tenant, id).await? else { return Ok(None) };
        let job = self.job(Scope::Tenant(tenant), w.record.job_id).await?.ok_or_else(|| {
            Error::Corrupt(format!("workflow {id} names job {} that does not exist", w.record.job_id))
        })?;
        Ok(Some((w, job)))
    }

    /// The workflows of `tenant` (of one user when `owner` is given), newest first, with their
    /// jobs' states.
    pub async fn workflows(
        &self,
        tenant: TenantId,
        owner: Option<UserId>,
        page: PageRequest<'_>,
    ) -> Result<Page<(Workflow, JobState)>> {
        let before = page.after.map(str::to_owned).unwrap_or_else(|| "~".to_owned());
        let cols = COLS.split(", ").map(|c| format!("w.{c}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT {cols}, j.state AS job_state FROM workflows w JOIN jobs j ON j.id = w.job_id \
             WHERE w.tenant_id = $1 AND ($2 = '' OR w.user_id = $2) AND w.id < $3 ORDER BY w.id DESC LIMIT $4"
        );
        let rows = sqlx::query(trusted(sql))
            .bind(tenant.to_string())
            .bind(owner.map(|o| o.to_string()).unwrap_or_default())
            .bind(before)
            .bind(page.fetch_limit())
            .fetch_all(self.pool())
            .await?;
        let items = rows
            .iter()
            .map(|r| Ok((from_row(r)?, parse_col(r, "job_state", JobState::parse)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page))
    }

    /// A run starts (or starts again after a crash): `running`, with the time it first started.
    pub async fn start_workflow(&self, id: WorkflowId) -> Result<()> {
        sqlx::query(
            "UPDATE workflows SET status = 'running', started_at = COALESCE(started_at, $1), error_code = NULL, \
             error_message = NULL WHERE id = $2 AND status IN ('queued', 'running')",
        )
        .bind(Timestamp::now().millis())
        .bind(id.to_string())
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// The phase and progress a running workflow reports.
    pub async fn set_workflow_progress(
        &self,
        id: WorkflowId,
        phase: Option<&str>,
        progress: Option<u8>,
        cost: Money,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE workflows SET phase = COALESCE($1, phase), progress = COALESCE($2, progress), cost_micros = $3 \
             WHERE id = $4 AND status = 'running'",
        )
        .bind(phase.map(str::to_owned))
        .bind(progress.map(i64::from))
        .bind(cost.micros())
        .bind(id.to_string())
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Ends a workflow that has not ended; `false` when it had.
    pub async fn finish_workflow(&self, id: WorkflowId, end: &WorkflowEnd<'_>) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE workflows SET status = $1, error_code = $2, error_message = $3, answer = COALESCE($4, answer), \
             detected_language = COALESCE($5, detected_language), cost_micros = $6, finished_at = $7, \
             progress = CASE WHEN $1 = 'completed' THEN 100 ELSE progress END \
             WHERE id = $8 AND status IN ('queued', 'running')",
        )
        .bind(end.status.as_str())
        .bind(end.error_code.map(str::to_owned))
        .bind(end.error_message.map(str::to_owned))
        .bind(end.answer.map(str::to_owned))
        .bind(end.detected_language.map(str::to_owned))
        .bind(end.cost.micros())
        .bind(Timestamp::now().millis())
        .bind(id.to_string())
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// What the AI calls made for a workflow have cost, over all its runs (from the stats).
    pub async fn workflow_cost(&self, id: WorkflowId) -> Result<Money> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(price_micros), 0) AS BIGINT) AS total FROM ai_stats WHERE workflow_id = $1",
        )
        .bind(id.to_string())
        .fetch_one(self.pool())
        .await?;
        Ok(Money::from_micros(row.try_get("total")?))
    }

    /// Appends an event; answers its id.
    pub async fn append_workflow_event(&self, id: WorkflowId, event: &str, data: &Value) -> Result<String> {
        let event_id = uuid::Uuid::now_v7().to_string();
        sqlx::query(
            "INSERT INTO workflow_events (id, workflow_id, event, data, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(event_id.clone())
        .bind(id.to_string())
        .bind(event.to_owned())
        .bind(data.to_string())
        .bind(Timestamp::now().millis())
        .execute(self.writer())
        .await?;
        Ok(event_id)
    }

    /// Events of a workflow of `tenant` after event `after` (from the start without one), oldest
    /// first, at most `limit`.
    pub async fn workflow_events(
        &self,
        tenant: TenantId,
        id: WorkflowId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<WorkflowEvent>> {
        let rows = sqlx::query(
            "SELECT e.id, e.event, e.data, e.created_at FROM workflow_events e JOIN workflows w ON w.id = e.workflow_id \
             WHERE w.tenant_id = $1 AND e.workflow_id = $2 AND e.id > $3 ORDER BY e.id LIMIT $4",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(after.unwrap_or("").to_owned())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(WorkflowEvent {
                    id: r.try_get("id")?,
                    event: r.try_get("event")?,
                    data: serde_json::from_str(&r.try_get::<String, _>("data")?)
                        .map_err(|e| Error::Corrupt(format!("workflow_events.data: {e}")))?,
                    created_at: Timestamp::from_millis(r.try_get("created_at")?),
                })
            })
            .collect()
    }

    /// Forgets the operation tree of earlier runs (a run taken up again writes its own).
    pub async fn clear_workflow_log(&self, id: WorkflowId) -> Result<()> {
        sqlx::query("DELETE FROM workflow_log WHERE workflow_id = $1")
            .bind(id.to_string())
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Stores a node of the operation tree, replacing the same node's earlier row.
    pub async fn put_workflow_log(&self, id: WorkflowId, row: &LogRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO workflow_log (workflow_id, op_id, parent_id, title, label, message, started_at, finished_at, \
             outcome, error, cost_micros, ai, seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
             (SELECT COALESCE(MAX(seq), 0) + 1 FROM workflow_log WHERE workflow_id = $1)) \
             ON CONFLICT (workflow_id, op_id) DO UPDATE SET finished_at = excluded.finished_at, \
             outcome = excluded.outcome, error = excluded.error, cost_micros = excluded.cost_micros, ai = excluded.ai, \
             message = excluded.message",
        )
        .bind(id.to_string())
        .bind(row.op_id.clone())
        .bind(row.parent_id.clone())
        .bind(row.title.clone())
        .bind(row.label.clone())
        .bind(row.message.clone())
        .bind(row.started_at.millis())
        .bind(row.finished_at.map(Timestamp::millis))
        .bind(row.outcome.clone())
        .bind(row.error.clone())
        .bind(row.cost.micros())
        .bind(row.ai.as_ref().map(Value::to_string))
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// The operation tree of a workflow of `tenant`, in the order its nodes started.
    pub async fn workflow_log(&self, tenant: TenantId, id: WorkflowId) -> Result<Vec<LogRow>> {
        let rows = sqlx::query(
            "SELECT l.op_id, l.parent_id, l.title, l.label, l.message, l.started_at, l.finished_at, l.outcome, l.error, \
             l.cost_micros, l.ai FROM workflow_log l JOIN workflows w ON w.id = l.workflow_id \
             WHERE w.tenant_id = $1 AND l.workflow_id = $2 ORDER BY l.seq",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(LogRow {
                    op_id: r.try_get("op_id")?,
                    parent_id: r.try_get("parent_id")?,
                    title: r.try_get("title")?,
                    label: r.try_get("label")?,
                    message: r.try_get("message")?,
                    started_at: Timestamp::from_millis(r.try_get("started_at")?),
                    finished_at: opt_millis(r, "finished_at")?,
                    outcome: r.try_get("outcome")?,
                    error: r.try_get("error")?,
                    cost: Money::from_micros(r.try_get("cost_micros")?),
                    ai: r
                        .try_get::<Option<String>, _>("ai")?
                        .map(|s| serde_json::from_str(&s).map_err(|e| Error::Corrupt(format!("workflow_log.ai: {e}"))))
                        .transpose()?,
                })
            })
            .collect()
    }

    /// The answer an earlier run got for `key`.
    pub async fn workflow_checkpoint(&self, id: WorkflowId, key: &str) -> Result<Option<Value>> {
        let row = sqlx::query("SELECT answer FROM workflow_checkpoints WHERE workflow_id = $1 AND call_key = $2")
            .bind(id.to_string())
            .bind(key.to_owned())
            .fetch_optional(self.writer())
            .await?;
        row.map(|r| {
            serde_json::from_str(&r.try_get::<String, _>("answer")?)
                .map_err(|e| Error::Corrupt(format!("workflow_checkpoints.answer: {e}")))
        })
        .transpose()
    }

    /// Keeps the answer for `key` (the first one stays).
    pub async fn put_workflow_checkpoint(&self, id: WorkflowId, key: &str, answer: &Value) -> Result<()> {
        sqlx::query(
            "INSERT INTO workflow_checkpoints (workflow_id, call_key, answer, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (workflow_id, call_key) DO NOTHING",
        )
        .bind(id.to_string())
        .bind(key.to_owned())
        .bind(answer.to_string())
        .bind(Timestamp::now().millis())
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Keeps a debug file (a later one of the same name replaces it).
    pub async fn put_workflow_debug(&self, id: WorkflowId, name: &str, content: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO workflow_debug (workflow_id, name, content) VALUES ($1, $2, $3) \
             ON CONFLICT (workflow_id, name) DO UPDATE SET content = excluded.content",
        )
        .bind(id.to_string())
        .bind(name.to_owned())
        .bind(content.to_owned())
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// The debug files of a workflow of `tenant`, by name.
    pub async fn workflow_debug_files(&self, tenant: TenantId, id: WorkflowId) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT d.name, d.content FROM workflow_debug d JOIN workflows w ON w.id = d.workflow_id \
             WHERE w.tenant_id = $1 AND d.workflow_id = $2 ORDER BY d.name",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok((r.try_get("name")?, r.try_get("content")?))).collect()
    }

    /// The file stored under result `key`, if any.
    pub async fn workflow_result(&self, id: WorkflowId, key: &str) -> Result<Option<FileId>> {
        let row = sqlx::query("SELECT file_id FROM workflow_results WHERE workflow_id = $1 AND result_key = $2")
            .bind(id.to_string())
            .bind(key.to_owned())
            .fetch_optional(self.writer())
            .await?;
        row.map(|r| parse_col(&r, "file_id", FileId::parse)).transpose()
    }

    /// The result files of a workflow, in the order they were stored.
    pub async fn workflow_results(&self, id: WorkflowId) -> Result<Vec<FileId>> {
        let rows =
            sqlx::query("SELECT file_id FROM workflow_results WHERE workflow_id = $1 ORDER BY created_at, result_key")
                .bind(id.to_string())
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(|r| parse_col(r, "file_id", FileId::parse)).collect()
    }
}
