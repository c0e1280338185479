//! Generation workflows (SPEC W1–W4): submitted through the API or `docwright generate`,
//! stored and enqueued in one transaction, run by the job queue through the pipeline of
//! `docwright-workflow`, whose ports the engine implements ([`ports`]).
//!
//! A run acts as the submitter: when it starts, the submitter's current role in the tenant
//! decides again what it may read, write and which providers it may use. Every AI call is
//! reserved and settled by the gateway with the workflow's id on its stat and ledger rows.
//! Runs are idempotent by the workflow's id: answers are checkpointed by a key stable across
//! runs and results are stored once per key, so a run that is taken up again after a crash
//! replays what it already paid for and ends exactly once.
//!
//! Cancelling a queued workflow ends it at once; a running one stops cooperatively: the AI
//! calls in flight finish and are settled, nothing new starts.

pub(crate) mod ports;

use std::io::Write as _;
use std::time::Duration;

use docwright_core::id::{CollectionId, FileId, ProjectId, TenantId, WorkflowId};
use docwright_core::rbac::{Action, Permission, items};
use docwright_core::settings::ModelProfile;
use docwright_core::time::Timestamp;
use docwright_jobs::{JobContext, JobError, JobState, NewJob, Scope, StopReason};
use docwright_storage::files::FileRecord;
use docwright_storage::jobs::Job;
use docwright_storage::workflows::{LogRow, Workflow, WorkflowEnd, WorkflowEvent, WorkflowRecord, WorkflowStatus};
use docwright_storage::{Page, PageRequest};
use serde_json::{Value, json};

use crate::access::Ctx;
use crate::gateway::Priority;
use crate::{Engine, Error, Grant, Result};

pub const WORKFLOW_CREATE: Permission = Permission::new(items::WORKFLOW, Action::Create);
pub const WORKFLOW_READ: Permission = Permission::new(items::WORKFLOW, Action::Read);
pub const WORKFLOW_UPDATE: Permission = Permission::new(items::WORKFLOW, Action::Update);

/// The job kind that runs a workflow.
pub const JOB_KIND: &str = "workflow";

/// Longest prompt accepted, in characters.
pub const MAX_PROMPT_CHARS: usize = 100_000;
/// Most files one workflow may name.
pub const MAX_FILES: usize = 200;

/// How workflows run (`[workflows]`).
#[derive(Debug, Clone)]
pub struct WorkflowSettings {
    pub pipeline: docwright_workflow::Settings,
    /// A run's time limit (the job's timeout).
    pub timeout: Duration,
    /// Attempts a workflow's job gets (a crash or an outage costs one).
    pub max_attempts: u32,
    /// How long a run waits for an attached file that is still being extracted.
    pub extraction_wait: Duration,
}

impl Default for WorkflowSettings {
    fn default() -> Self {
        Self {
            pipeline: docwright_workflow::Settings::default(),
            timeout: Duration::from_secs(1800),
            max_attempts: 3,
            extraction_wait: Duration::from_secs(120),
        }
    }
}

impl WorkflowSettings {
    pub fn from_config(c: &docwright_config::WorkflowsConfig) -> Self {
        let pipeline = docwright_workflow::Settings {
            max_tasks: c.max_tasks as usize,
            max_steps_per_task: c.max_steps_per_task,
            section_parallelism: c.section_parallelism.max(1) as usize,
            extraction_parallelism: c.extraction_parallelism.max(1) as usize,
            ..docwright_workflow::Settings::default()
        };
        Self {
            pipeline,
            timeout: Duration::from_secs(c.timeout_secs),
            max_attempts: c.max_attempts.max(1),
            extraction_wait: Duration::from_secs(c.extraction_wait_secs),
        }
    }
}

/// A workflow to start.
#[derive(Debug, Clone, Default)]
pub struct NewWorkflow {
    pub prompt: String,
    pub file_ids: Vec<FileId>,
    pub project_id: Option<ProjectId>,
    /// A collection whose files its searches look in, instead of a project's.
    pub collection_id: Option<CollectionId>,
    pub output_format: Option<String>,
    pub title: Option<String>,
    pub allowed_providers: Option<Vec<String>>,
    pub model_profile: Option<ModelProfile>,
    pub debug_trace: bool,
    /// An automation's tasks (`docwright_automation::Task` JSON), run as a fixed plan.
    pub plan: Option<Vec<docwright_automation::Task>>,
    /// The automation definition that starts it.
    pub automation_id: Option<docwright_core::id::AutomationId>,
    /// A prompt preset's instructions (SPEC T1); else those of `preset_id` or `category`.
    pub instructions: Option<String>,
    pub category: Option<String>,
    pub preset_id: Option<docwright_core::id::PromptPresetId>,
}

/// A workflow as its owner sees it: its record, its state read together with its job's, and
/// the files it produced.
#[derive(Debug, Clone)]
pub struct WorkflowView {
    pub workflow: Workflow,
    /// The status, read with the job's (a run that died out of attempts has failed).
    pub status: WorkflowStatus,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub job_state: JobState,
    pub attempt: u32,
    pub results: Vec<FileRecord>,
}

/// The status of `w`, read with its job's state.
fn effective(w: &Workflow, job: &Job) -> (WorkflowStatus, Option<String>, Option<String>) {
    let s = &w.state;
    if s.status.is_final() {
        return (s.status, s.error_code.clone(), s.error_message.clone());
    }
    match job.state {
        JobState::Cancelled => (WorkflowStatus::Cancelled, None, None),
        JobState::Discarded => (
            WorkflowStatus::Failed,
            Some(job.error_code.clone().unwrap_or_else(|| "failed".to_owned())),
            job.last_error.clone(),
        ),
        JobState::Completed => (WorkflowStatus::Completed, None, None),
        JobState::Running => (WorkflowStatus::Running, None, None),
        JobState::Available | JobState::Retryable => {
            if s.status == WorkflowStatus::Running {
                (WorkflowStatus::Running, None, None)
            } else {
                (WorkflowStatus::Queued, None, None)
            }
        }
    }
}

fn valid_format(f: &str) -> bool {
    docwright_render::Format::from_extension(f).is_some()
}

impl Engine {
    /// With these `[workflows]` settings (else the defaults).
    pub fn with_workflows(mut self, settings: WorkflowSettings) -> Self {
        self.workflows = std::sync::Arc::new(settings);
        self
    }

    /// Checks and stores a workflow with the job that runs it (one transaction).
    pub async fn submit_workflow(&self, grant: &Grant, new: NewWorkflow) -> Result<WorkflowView> {
        let (job, record) = self.prepare_workflow(grant, new).await?;
        let mut tx = self.db.begin_write().await?;
        tx.enqueue(&job).await?;
        tx.insert_workflow(&record).await?;
        tx.commit().await?;
        self.view(record.tenant_id, record.id).await
    }

    /// Checks a workflow and answers its job and record, for the caller to store in one
    /// transaction (with its own rows: an automation's run).
    pub(crate) async fn prepare_workflow(&self, grant: &Grant, new: NewWorkflow) -> Result<(NewJob, WorkflowRecord)> {
        grant.expect(WORKFLOW_CREATE)?;
        let ctx = grant.ctx().clone();
        let prompt = new.prompt.trim().to_owned();
        if prompt.is_empty() {
            return Err(Error::invalid("prompt", "must not be empty"));
        }
        if prompt.chars().count() > MAX_PROMPT_CHARS {
            return Err(Error::invalid("prompt", format!("at most {MAX_PROMPT_CHARS} characters")));
        }
        if new.file_ids.len() > MAX_FILES {
            return Err(Error::invalid("file_ids", format!("at most {MAX_FILES} files")));
        }
        // Every file must be one the submitter may read, now, before any AI call.
        let file_grant = self.authorize(ctx.clone(), crate::files::FILE_READ).await?;
        let mut seen = Vec::new();
        for (i, id) in new.file_ids.iter().enumerate() {
            if seen.contains(id) {
                return Err(Error::invalid(format!("file_ids[{i}]"), "the file is named twice"));
            }
            self.visible_file(&file_grant, *id)
                .await
                .map_err(|_| Error::invalid(format!("file_ids[{i}]"), format!("no file {id} that you may read")))?;
            seen.push(*id);
        }
        crate::collections::one_scope(new.project_id.is_some(), new.collection_id.is_some())?;
        if let Some(collection) = new.collection_id {
            self.readable_collection(&ctx, collection).await?;
        }
        if let Some(project) = new.project_id {
            let g = self.authorize(ctx.clone(), crate::projects::PROJECT_READ).await?;
            self.project(&g, project)
                .await
                .map_err(|_| Error::invalid("project_id", format!("no project {project}")))?;
        }
        if let Some(f) = &new.output_format
            && !valid_format(f)
        {
            return Err(Error::invalid("output_format", "one of docx, pdf, xlsx, csv, pptx, html, md, json, txt"));
        }
        if let Some(allowed) = &new.allowed_providers {
            for (i, p) in allowed.iter().enumerate() {
                if !self.registry().has_provider(p) {
                    return Err(Error::invalid(
                        format!("allowed_providers[{i}]"),
                        format!("no provider `{p}` is configured"),
                    ));
                }
            }
        }
        let instructions = match new.instructions {
            Some(i) => Some(i),
            None => self.preset_system_prompt(grant, new.category.as_deref(), new.preset_id).await?,
        };
        let title = new.title.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned);
        if title.as_ref().is_some_and(|t| t.chars().count() > 200 || t.chars().any(char::is_control)) {
            return Err(Error::invalid("title", "at most 200 characters, no control characters"));
        }
        let (kind, cred_id, cred_tenant) = crate::access::credential_columns(&ctx.principal.credential);
        let settings = &self.workflows;
        let id = WorkflowId::new();
        let job_id = docwright_core::id::JobId::new();
        let job = NewJob::new(JOB_KIND, json!({"workflow_id": id.to_string()}))
            .id(job_id)
            .tenant(ctx.tenant)
            .max_attempts(settings.max_attempts)
            .timeout(settings.timeout)
            .unique_key(id.to_string());
        let plan = match new.plan {
            Some(tasks) => Some(serde_json::to_value(tasks).map_err(|e| Error::Internal(format!("plan: {e}")))?),
            None => None,
        };
        let record = WorkflowRecord {
            id,
            tenant_id: ctx.tenant,
            user_id: ctx.user(),
            credential_kind: kind.to_owned(),
            credential_id: cred_id,
            credential_tenant: cred_tenant,
            job_id,
            prompt,
            file_ids: new.file_ids,
            project_id: new.project_id,
            collection_id: new.collection_id,
            output_format: new.output_format.map(|f| f.trim().trim_start_matches('.').to_ascii_lowercase()),
            title,
            allowed_providers: new.allowed_providers,
            model_profile: new.model_profile.map(|p| p.as_str().to_owned()),
            debug_trace: new.debug_trace,
            plan,
            automation_id: new.automation_id,
            instructions: instructions.filter(|i| !i.trim().is_empty()),
            created_at: Timestamp::now(),
        };
        Ok((job, record))
    }

    async fn view(&self, tenant: TenantId, id: WorkflowId) -> Result<WorkflowView> {
        let (workflow, job) = self.db.workflow_with_job(tenant, id).await?.ok_or(Error::NotFound("workflow"))?;
        let (status, error_code, error_message) = effective(&workflow, &job);
        let mut results = Vec::new();
        for f in self.db.workflow_results(id).await? {
            if let Some(file) = self.db.file(tenant, f).await? {
                results.push(file);
            }
        }
        Ok(WorkflowView {
            workflow,
            status,
            error_code,
            error_message,
            job_state: job.state,
            attempt: job.attempt,
            results,
        })
    }

    /// A workflow the grant reaches (its own at level `my`), else 404.
    async fn visible_workflow(&self, grant: &Grant, id: WorkflowId) -> Result<WorkflowView> {
        let v = self.view(grant.ctx().tenant, id).await?;
        if !grant.tenant_wide() && v.workflow.record.user_id != grant.ctx().user() {
            return Err(Error::NotFound("workflow"));
        }
        Ok(v)
    }

    pub async fn workflow(&self, grant: &Grant, id: WorkflowId) -> Result<WorkflowView> {
        grant.expect(WORKFLOW_READ)?;
        self.visible_workflow(grant, id).await
    }

    /// The workflows the grant reaches, newest first.
    pub async fn workflows(&self, grant: &Grant, page: PageRequest<'_>) -> Result<Page<(Workflow, WorkflowStatus)>> {
        grant.expect(WORKFLOW_READ)?;
        let ctx = grant.ctx();
        let owner = (!grant.tenant_wide()).then(|| ctx.user());
        let rows = self.db.workflows(ctx.tenant, owner, page).await?;
        let items = rows
            .items
            .into_iter()
            .map(|(w, job_state)| {
                let status = match (w.state.status, job_state) {
                    (s, _) if s.is_final() => s,
                    (_, JobState::Cancelled) => WorkflowStatus::Cancelled,
                    (_, JobState::Discarded) => WorkflowStatus::Failed,
                    (s, _) => s,
                };
                (w, status)
            })
            .collect();
        Ok(Page { items, has_more: rows.has_more })
    }

    /// Events after `after` (all without it), at most `limit`, and whether the workflow has
    /// ended (then no more will come).
    pub async fn workflow_events(
        &self,
        grant: &Grant,
        id: WorkflowId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<(Vec<WorkflowEvent>, bool)> {
        grant.expect(WORKFLOW_READ)?;
        let v = self.visible_workflow(grant, id).await?;
        let events = self.db.workflow_events(grant.ctx().tenant, id, after, limit).await?;
        Ok((events, v.status.is_final()))
    }

    /// The events of a workflow after `after`, then each new one as it is stored, ending after
    /// the last event of the ended workflow (or with the first error). Follows events stored
    /// by any replica: woken at once in this process, polled every `poll` for the others.
    pub fn follow_workflow(
        &self,
        grant: Grant,
        id: WorkflowId,
        after: Option<String>,
        poll: Duration,
    ) -> impl futures_util::Stream<Item = Result<WorkflowEvent>> + Send + 'static {
        let engine = self.clone();
        let read = move |after: Option<String>| {
            let (engine, grant) = (engine.clone(), grant.clone());
            async move { engine.workflow_events(&grant, id, after.as_deref(), crate::follow::BATCH).await }
        };
        crate::follow::follow(self.workflow_signal.clone(), poll, after, read, |ev: &WorkflowEvent| Some(ev.id.clone()))
    }

    pub(crate) fn workflow_events_changed(&self) {
        self.workflow_signal.notify_waiters();
    }

    /// Cancels a workflow: a queued one ends at once, a running one stops cooperatively.
    pub async fn cancel_workflow(&self, grant: &Grant, id: WorkflowId) -> Result<WorkflowView> {
        grant.expect(WORKFLOW_UPDATE)?;
        let v = self.visible_workflow(grant, id).await?;
        if v.status.is_final() {
            return Err(Error::Conflict(format!("the workflow has already ended ({})", v.status.as_str())));
        }
        let tenant = grant.ctx().tenant;
        let outcome = self.queue.cancel(Scope::Tenant(tenant), v.workflow.record.job_id).await.map_err(jobs_error)?;
        if matches!(outcome, docwright_jobs::CancelOutcome::Cancelled(_)) {
            self.end_workflow(id, WorkflowStatus::Cancelled, Some(("cancelled", "cancelled before it ran")), None)
                .await?;
        }
        self.view(tenant, id).await
    }

    /// The operation tree of a workflow (SPEC W4).
    pub async fn workflow_log(&self, grant: &Grant, id: WorkflowId) -> Result<Vec<LogRow>> {
        grant.expect(WORKFLOW_READ)?;
        self.visible_workflow(grant, id).await?;
        Ok(self.db.workflow_log(grant.ctx().tenant, id).await?)
    }

    /// The debug files of a workflow as a zip (one `<name>.txt` each).
    pub async fn workflow_debug_zip(&self, grant: &Grant, id: WorkflowId) -> Result<Vec<u8>> {
        grant.expect(WORKFLOW_READ)?;
        let v = self.visible_workflow(grant, id).await?;
        if !v.workflow.record.debug_trace {
            return Err(Error::Unprocessable {
                code: "no_debug_trace",
                message: "the workflow was not started with debug_trace".to_owned(),
            });
        }
        let files = self.db.workflow_debug_files(grant.ctx().tenant, id).await?;
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        let broken = |e: &dyn std::fmt::Display| Error::Internal(format!("zip: {e}"));
        for (name, content) in files {
            zip.start_file(format!("{name}.txt"), options).map_err(|e| broken(&e))?;
            zip.write_all(content.as_bytes()).map_err(|e| broken(&e))?;
        }
        Ok(zip.finish().map_err(|e| broken(&e))?.into_inner())
    }

    async fn end_workflow(
        &self,
        id: WorkflowId,
        status: WorkflowStatus,
        error: Option<(&str, &str)>,
        result: Option<&docwright_workflow::WorkflowResult>,
    ) -> Result<()> {
        self.flush_stats().await;
        let spent = self.db.workflow_cost(id).await?;
        let cost = result.map_or(spent, |r| r.cost.max(spent));
        let end = WorkflowEnd {
            status,
            error_code: error.map(|e| e.0),
            error_message: error.map(|e| e.1),
            answer: result.map(|r| r.answer.as_str()),
            detected_language: result.and_then(|r| r.detected_language.as_deref()),
            cost,
        };
        if self.db.finish_workflow(id, &end).await? {
            let (name, data) = match (status, error) {
                (WorkflowStatus::Completed, _) => (
                    "completed",
                    json!({
                        "workflow_id": id.to_string(),
                        "status": status.as_str(),
                        "cost": cost.to_string(),
                        "files": result.map(|r| r.files.iter().map(|f| json!({
                            "file_id": f.file_id, "file_name": f.file_name, "mime_type": f.mime_type,
                            "download_url": format!("/files/{}/content", f.file_id),
                        })).collect::<Vec<_>>()).unwrap_or_default(),
                    }),
                ),
                (_, e) => (
                    "error",
                    json!({
                        "code": e.map_or(status.as_str(), |e| e.0),
                        "message": e.map_or(status.as_str(), |e| e.1),
                        "status": status.as_str(),
                    }),
                ),
            };
            self.db.append_workflow_event(id, name, &data).await?;
            self.workflow_events_changed();
        }
        Ok(())
    }

    /// The context a run acts in: the submitter's, as their role is now.
    async fn run_context(&self, r: &WorkflowRecord) -> Result<Ctx> {
        let columns = (r.credential_kind.as_str(), r.credential_id.as_str(), r.credential_tenant);
        self.stored_context(r.user_id, r.tenant_id, columns).await
    }

    /// Runs the workflow of a job (the queue's handler for [`JOB_KIND`]).
    pub async fn run_workflow_job(&self, job: &JobContext) -> std::result::Result<Value, JobError> {
        let id = job
            .payload()
            .get("workflow_id")
            .and_then(Value::as_str)
            .and_then(|s| WorkflowId::parse(s).ok())
            .ok_or_else(|| JobError::permanent("bad_payload", "the job names no workflow"))?;
        let Some(w) = self.db.workflow_for_run(id).await? else {
            return Err(JobError::permanent("not_found", format!("workflow {id} does not exist")));
        };
        if w.state.status.is_final() {
            return Ok(json!({"workflow_id": id.to_string(), "status": w.state.status.as_str()}));
        }
        self.db.start_workflow(id).await?;
        self.db.clear_workflow_log(id).await?;
        let fail = |code: &'static str, message: String| async move {
            self.end_workflow(id, WorkflowStatus::Failed, Some((code, &message)), None).await.map_err(again)?;
            Err::<Value, JobError>(JobError::permanent(code, message))
        };
        let record = &w.record;
        let grants = match self.run_grants(record).await {
            Ok(g) => g,
            Err(e @ (Error::Forbidden(_) | Error::NotFound(_) | Error::Unauthenticated { .. })) => {
                return fail("forbidden", format!("the workflow's owner may no longer run it: {e}")).await;
            }
            Err(e) => return Err(JobError::retryable("storage", e.to_string())),
        };
        let mut documents = Vec::new();
        for f in &record.file_ids {
            match self.visible_file(&grants.file_read, *f).await {
                Ok(file) => documents.push(ports::document_info(&file)),
                Err(_) => return fail("document_not_found", format!("file {f} is gone or no longer readable")).await,
            }
        }
        let language = self.db.user(record.user_id).await?.map(|u| u.settings.language.as_str().to_owned());
        let priority = record.model_profile.as_deref().map(priority_of);
        let input = docwright_workflow::WorkflowInput {
            workflow_id: id.to_string(),
            prompt: record.prompt.clone(),
            documents,
            output_format: record.output_format.clone(),
            title: record.title.clone(),
            language,
            debug_trace: record.debug_trace,
            can_search_projects: grants.project_read.is_some()
                || grants.collection_read.is_some()
                || !record.file_ids.is_empty(),
            instructions: record.instructions.clone(),
            script: match &record.plan {
                Some(plan) => match script_of(plan) {
                    Ok(script) => Some(script),
                    Err(e) => return fail("bad_plan", e).await,
                },
                None => None,
            },
        };
        let ports = ports::RunPorts {
            engine: self.clone(),
            workflow: id,
            tenant: record.tenant_id,
            grants,
            allowed_providers: record.allowed_providers.clone(),
            priority,
            project: record.project_id,
            collection: record.collection_id,
            debug: record.debug_trace,
            extraction_wait: self.workflows.extraction_wait,
            automation: record.automation_id,
        }
        .into_ports();
        let outcome =
            docwright_workflow::run_owned(input, self.workflows.pipeline.clone(), ports, job.token().clone()).await;
        match outcome {
            Ok(result) => {
                self.end_workflow(id, WorkflowStatus::Completed, None, Some(&result)).await.map_err(again)?;
                Ok(json!({"workflow_id": id.to_string(), "status": "completed", "files": result.files.len()}))
            }
            Err(docwright_workflow::Error::Cancelled) => {
                if job.stop_reason() == Some(StopReason::CancelRequested) {
                    self.end_workflow(
                        id,
                        WorkflowStatus::Cancelled,
                        Some(("cancelled", "cancelled while running")),
                        None,
                    )
                    .await
                    .map_err(again)?;
                }
                // Shutdown, a lost lease or a time limit: the queue decides what comes next
                // (another attempt, or the dead letters, whose status the workflow then shows).
                Err(JobError::Cancelled)
            }
            Err(e) => {
                let code = e.code();
                // An outage (every candidate failed) or a storage problem may pass: the job
                // tries again, replaying what it has; what cannot pass ends the workflow now.
                let passing = matches!(code, "ai_failed" | "storage_failed" | "document_unavailable");
                if passing && job.attempt() < job.max_attempts() {
                    tracing::info!(workflow = %id, code, error = %e, "workflow attempt failed; it will be tried again");
                    return Err(JobError::retryable(code, e.to_string()));
                }
                fail(code, e.to_string()).await
            }
        }
    }

    async fn run_grants(&self, r: &WorkflowRecord) -> Result<ports::RunGrants> {
        let ctx = self.run_context(r).await?;
        let project_read = match self.authorize(ctx.clone(), crate::projects::PROJECT_READ).await {
            Ok(g) if g.tenant_wide() => Some(g),
            Ok(_) | Err(Error::Forbidden(_)) => None,
            Err(e) => return Err(e),
        };
        // The workflow's collection, when it names one and the submitter may still read it.
        let collection_read = match r.collection_id {
            Some(c) => match self.readable_collection(&ctx, c).await {
                Ok(_) => Some(self.authorize(ctx.clone(), crate::collections::COLLECTION_READ).await?),
                Err(Error::NotFound(_)) => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        Ok(ports::RunGrants {
            workflow: self.authorize(ctx.clone(), WORKFLOW_CREATE).await?,
            file_read: self.authorize(ctx.clone(), crate::files::FILE_READ).await?,
            file_create: self.authorize(ctx, crate::files::FILE_CREATE).await?,
            project_read,
            collection_read,
        })
    }
}

/// How `auto` orders the candidates of a run with a stored model profile.
pub(crate) fn priority_of(model_profile: &str) -> Priority {
    match model_profile {
        "complex" => Priority::Quality,
        _ => Priority::Balanced,
    }
}

/// A stored plan (automation tasks) as the pipeline's fixed plan.
fn script_of(plan: &Value) -> std::result::Result<Vec<docwright_workflow::ScriptedTask>, String> {
    let tasks: Vec<docwright_automation::Task> =
        serde_json::from_value(plan.clone()).map_err(|e| format!("the stored plan is not a list of tasks: {e}"))?;
    Ok(tasks
        .into_iter()
        .enumerate()
        .map(|(i, t)| docwright_workflow::ScriptedTask {
            objective: t.objective.unwrap_or_else(|| format!("Task {}", i + 1)),
            actions: t
                .action_list
                .into_iter()
                .map(|a| docwright_workflow::ScriptedAction {
                    action: format!("{}.{}", a.exec_method.trim(), a.exec_action.trim()),
                    parameters: Value::Object(a.exec_parameters),
                    result_label: a.exec_result_label,
                })
                .collect(),
        })
        .collect())
}

/// An engine error while ending a run: the job tries again (ending is idempotent).
fn again(e: Error) -> JobError {
    JobError::retryable("storage", e.to_string())
}

fn jobs_error(e: docwright_jobs::Error) -> Error {
    match e {
        docwright_jobs::Error::Storage(s) => Error::Storage(s),
    }
}

/// The queue's handler of [`JOB_KIND`].
pub struct WorkflowHandler(pub Engine);

impl docwright_jobs::Handler for WorkflowHandler {
    async fn run(&self, job: JobContext) -> std::result::Result<Value, JobError> {
        self.0.run_workflow_job(&job).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_the_renderers() {
        for f in ["docx", "pdf", "xlsx", "csv", "pptx", "html", "md", "json", "txt", "DOCX"] {
            assert!(valid_format(f), "{f}");
        }
        assert!(!valid_format("exe"));
    }
}
