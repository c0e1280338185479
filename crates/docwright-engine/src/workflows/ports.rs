//! The workflow pipeline's traits (`docwright_workflow::ports`) implemented with the engine:
//! AI calls through the gateway (reserved and settled, recorded with the workflow's id),
//! documents from the files, their extracted parts and the blob store, searches over the
//! caller's projects (or the workflow's collection), results stored as files of the submitter with a result on every source
//! document, and the trace, events, checkpoints and debug files in the database.

use std::sync::Arc;
use std::time::{Duration, Instant};

use docwright_config::Capability;
use docwright_core::id::{CollectionId, FileId, PartId, ProjectId, TenantId, WorkflowId};
use docwright_core::money::Money;
use docwright_core::time::Timestamp;
use docwright_llm::{Message, OutputFormat, Part, Role};
use docwright_storage::files::{FileRecord, PartRecord};
use docwright_storage::projects::{FolderTree, ResultFormat};
use docwright_storage::workflows::LogRow;
use docwright_workflow::{
    AiAnswer, AiCall, AiCaller, AiError, BoxFuture, Checkpoints, DocumentInfo, DocumentSource, Event, Hit, Input,
    LogEntry, LogOutcome, Operation, Rendered, ResultSink, SourceError, SourcePart, StoredFile, TraceSink, TypeGroup,
};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt as _;

use crate::gateway::{AUTO, AiRequest, CallFor, GatewayError, Priority};
use crate::projects::NewResult;
use crate::{Engine, Error, Grant};

/// Bytes of one document or image the pipeline reads into memory (an image for a vision
/// model, a picture to place); larger ones are refused as unavailable.
const MAX_OBJECT_BYTES: u64 = 32 << 20;

/// How often a document still being extracted is looked at again.
const EXTRACTION_POLL: Duration = Duration::from_millis(300);

/// The grants a run acts with: the submitter's, decided again when the run starts.
#[derive(Clone)]
pub(crate) struct RunGrants {
    /// For AI calls (the gateway checks each provider) and the workflow itself.
    pub(crate) workflow: Grant,
    pub(crate) file_read: Grant,
    pub(crate) file_create: Grant,
    /// The projects tree, when the submitter may read it.
    pub(crate) project_read: Option<Grant>,
    /// The workflow's collection, when it names one the submitter may read.
    pub(crate) collection_read: Option<Grant>,
}

/// Everything a run's ports share.
#[derive(Clone)]
pub(crate) struct RunPorts {
    pub(crate) engine: Engine,
    pub(crate) workflow: WorkflowId,
    pub(crate) tenant: TenantId,
    pub(crate) grants: RunGrants,
    pub(crate) allowed_providers: Option<Vec<String>>,
    pub(crate) priority: Option<Priority>,
    pub(crate) project: Option<ProjectId>,
    /// Searches look in this collection's files instead of the projects tree.
    pub(crate) collection: Option<CollectionId>,
    pub(crate) debug: bool,
    /// How long a document still being extracted is waited for.
    pub(crate) extraction_wait: Duration,
    /// The automation definition that started the run: calls are its (feature `automation`).
    pub(crate) automation: Option<docwright_core::id::AutomationId>,
}

impl RunPorts {
    pub(crate) fn into_ports(self) -> docwright_workflow::Ports {
        let shared = Arc::new(self);
        docwright_workflow::Ports {
            ai: shared.clone(),
            documents: shared.clone(),
            results: shared.clone(),
            trace: shared.clone(),
            checkpoints: shared,
        }
    }
}

fn operation(op: Operation) -> crate::gateway::Operation {
    use crate::gateway::Operation as G;
    match op {
        Operation::Planning => G::Planning,
        Operation::DataExtract => G::DataExtract,
        Operation::DataAnalyse => G::DataAnalyse,
        Operation::DataGenerate => G::DataGenerate,
        Operation::WebSearch => G::WebSearch,
    }
}

fn ai_error(e: GatewayError) -> AiError {
    match e {
        GatewayError::InsufficientBalance { .. } => AiError::InsufficientBalance(e.to_string()),
        GatewayError::UnknownModel(_) | GatewayError::NoCandidate(_) => AiError::NoModel(e.to_string()),
        GatewayError::Engine(inner) if matches!(*inner, Error::Forbidden(_)) => AiError::Forbidden(inner.to_string()),
        other => AiError::Failed(other.to_string()),
    }
}

impl AiCaller for RunPorts {
    fn call<'a>(&'a self, call: &'a AiCall) -> BoxFuture<'a, Result<AiAnswer, AiError>> {
        Box::pin(async move {
            let parts = call
                .inputs
                .iter()
                .map(|i| match i {
                    Input::Text(t) => Part::Text(t.clone()),
                    Input::Image { mime_type, data } => {
                        Part::Image { mime_type: mime_type.clone(), data: data.to_vec() }
                    }
                })
                .collect();
            let req = AiRequest {
                model: AUTO.to_owned(),
                operation: operation(call.operation),
                priority: self.priority,
                messages: vec![Message::text(Role::System, call.system.clone()), Message { role: Role::User, parts }],
                max_output_tokens: call.max_output_tokens,
                temperature: None,
                output: OutputFormat::Json { schema: Some(call.schema.clone()) },
                tools: Vec::new(),
                tool_choice: Default::default(),
                parallel_tool_calls: None,
                allowed_providers: self.allowed_providers.clone(),
                process: match self.automation {
                    Some(_) => format!("automation.{}", call.process),
                    None => call.process.clone(),
                },
                reference: Some(match self.automation {
                    Some(automation) => CallFor::Automation { workflow: self.workflow, automation },
                    None => CallFor::Workflow(self.workflow),
                }),
            };
            let started = Instant::now();
            let r = self.engine.ai_call(&self.grants.workflow, &req).await.map_err(ai_error)?;
            // The gateway checked the answer against the schema; it is JSON.
            let value: Value = serde_json::from_str(r.content.trim())
                .map_err(|e| AiError::Failed(format!("{}: the answer is not JSON: {e}", r.model)))?;
            Ok(AiAnswer {
                value,
                model: r.model,
                provider: r.provider,
                price: r.price,
                input_tokens: r.input_tokens,
                output_tokens: r.output_tokens,
                duration_ms: started.elapsed().as_millis() as u64,
                attempts: r.attempts.len() as u32,
            })
        })
    }

    fn can_search_web(&self) -> bool {
        let allowed = |p: &str| self.allowed_providers.as_ref().is_none_or(|a| a.iter().any(|x| x == p));
        self.engine
            .registry()
            .models()
            .iter()
            .any(|m| m.capabilities.contains(&Capability::WebSearch) && allowed(&m.provider))
    }
}

fn source_error(e: Error) -> SourceError {
    match e {
        Error::NotFound(what) => SourceError::NotFound(what.to_owned()),
        other => SourceError::Failed(other.to_string()),
    }
}

fn file_id(doc: &DocumentInfo) -> Result<FileId, SourceError> {
    FileId::parse(&doc.id).map_err(|_| SourceError::NotFound(doc.id.clone()))
}

/// A stored part as the pipeline sees it.
fn source_part(p: &PartRecord) -> SourcePart {
    SourcePart {
        id: p.id.to_string(),
        type_group: TypeGroup::parse(&p.type_group).unwrap_or(TypeGroup::Text),
        mime_type: p.mime_type.clone(),
        label: p.label.clone(),
        text: p.text.clone(),
        rows: p.rows_json.as_deref().and_then(|r| serde_json::from_str(r).ok()),
        method: p.method.clone(),
        page: p.page,
        slide: p.slide,
        sheet: p.sheet.clone(),
    }
}

pub(crate) fn document_info(f: &FileRecord) -> DocumentInfo {
    DocumentInfo {
        id: f.id.to_string(),
        file_name: f.file_name.clone(),
        mime_type: f.mime_type.clone(),
        file_size: f.file_size,
    }
}

impl RunPorts {
    /// The whole of a blob, bounded.
    async fn read_all(&self, sha256: &str, size: u64) -> Result<Vec<u8>, SourceError> {
        if size > MAX_OBJECT_BYTES {
            return Err(SourceError::Unavailable(format!(
                "{size} bytes is more than the {MAX_OBJECT_BYTES} a workflow reads"
            )));
        }
        let mut reader = self.engine.read_blob(self.tenant, sha256, 0..size).await.map_err(source_error)?;
        let mut out = Vec::with_capacity(size as usize);
        reader.read_to_end(&mut out).await.map_err(|e| SourceError::Failed(format!("reading content: {e}")))?;
        Ok(out)
    }

    /// The file, once its extraction has ended (waited for up to `extraction_wait`).
    async fn extracted_file(&self, doc: &DocumentInfo) -> Result<FileRecord, SourceError> {
        let id = file_id(doc)?;
        let deadline = Instant::now() + self.extraction_wait;
        loop {
            let file = self.engine.visible_file(&self.grants.file_read, id).await.map_err(source_error)?;
            match file.extraction_status.as_str() {
                "done" => return Ok(file),
                "failed" => {
                    return Err(SourceError::Unavailable(format!(
                        "{} could not be extracted: {}",
                        file.file_name,
                        file.extraction.message.as_deref().unwrap_or("unknown reason")
                    )));
                }
                _ if Instant::now() >= deadline => {
                    return Err(SourceError::Unavailable(format!(
                        "{} is still being extracted after {} s",
                        file.file_name,
                        self.extraction_wait.as_secs()
                    )));
                }
                _ => tokio::time::sleep(EXTRACTION_POLL).await,
            }
        }
    }

    /// The files of the workflow's collection, in upload order, that the submitter may read.
    async fn collection_listing(&self, collection: CollectionId, limit: u32) -> Result<Vec<Hit>, SourceError> {
        let Some(grant) = &self.grants.collection_read else { return Ok(Vec::new()) };
        let c = self.engine.collection(grant, collection).await.map_err(source_error)?;
        let page = docwright_storage::PageRequest { after: None, limit: limit.clamp(1, 200) };
        let members = self.engine.collection_files(grant, collection, page).await.map_err(source_error)?;
        let mut out = Vec::new();
        for m in members.items {
            if let Ok(file) = self.engine.visible_file(&self.grants.file_read, m.file_id).await {
                out.push(Hit { document: document_info(&file), folder: Some(c.name.clone()), snippet: String::new() });
            }
        }
        Ok(out)
    }

    /// Full-text search in the workflow's collection's files.
    async fn collection_search(
        &self,
        collection: CollectionId,
        query: &str,
        limit: u32,
    ) -> Result<Vec<Hit>, SourceError> {
        let Some(grant) = &self.grants.collection_read else { return Ok(Vec::new()) };
        let c = self.engine.collection(grant, collection).await.map_err(source_error)?;
        let scope = Some(docwright_storage::search::FileScope::Collection(collection));
        let found =
            self.engine.search_scoped(&self.grants.file_read, query, limit, 0, scope).await.map_err(source_error)?;
        let mut out = Vec::new();
        for f in found.hits {
            let Ok(file) = self.engine.visible_file(&self.grants.file_read, f.hit.file_id).await else { continue };
            let snippet: String = f.hit.snippet.iter().map(|s| s.text.as_str()).collect();
            out.push(Hit { document: document_info(&file), folder: Some(c.name.clone()), snippet });
        }
        Ok(out)
    }

    /// The documents of the projects tree (of the workflow's project, when it names one).
    async fn listing(&self, limit: u32) -> Result<Vec<Hit>, SourceError> {
        let Some(grant) = &self.grants.project_read else { return Ok(Vec::new()) };
        let tree = self.engine.tree(grant, None).await.map_err(source_error)?;
        let mut hits = Vec::new();
        let mut push = |path: String, entries: &[docwright_storage::projects::DocumentEntry]| {
            for e in entries {
                hits.push((path.clone(), e.clone()));
            }
        };
        fn walk(
            path: &str,
            folders: &[FolderTree],
            push: &mut dyn FnMut(String, &[docwright_storage::projects::DocumentEntry]),
        ) {
            for f in folders {
                let here = format!("{path} / {}", f.folder.name);
                push(here.clone(), &f.documents);
                walk(&here, &f.folders, push);
            }
        }
        for c in &tree {
            for p in &c.projects {
                if self.project.is_some_and(|only| only != p.project.id) {
                    continue;
                }
                let path = format!("{} / {}", c.client.name, p.project.name);
                push(path.clone(), &p.documents);
                walk(&path, &p.folders, &mut push);
            }
        }
        let mut out = Vec::new();
        for (folder, entry) in hits.into_iter().take(limit as usize) {
            // Only files the submitter may read become available.
            if let Ok(file) = self.engine.visible_file(&self.grants.file_read, entry.document.file_id).await {
                out.push(Hit { document: document_info(&file), folder: Some(folder), snippet: String::new() });
            }
        }
        Ok(out)
    }
}

impl DocumentSource for RunPorts {
    fn parts<'a>(&'a self, doc: &'a DocumentInfo) -> BoxFuture<'a, Result<Vec<SourcePart>, SourceError>> {
        Box::pin(async move {
            let file = self.extracted_file(doc).await?;
            let parts = self
                .engine
                .db()
                .file_parts(self.tenant, file.id)
                .await
                .map_err(|e| SourceError::Failed(e.to_string()))?;
            Ok(parts.iter().map(source_part).collect())
        })
    }

    fn part_data<'a>(&'a self, doc: &'a DocumentInfo, part_id: &'a str) -> BoxFuture<'a, Result<Vec<u8>, SourceError>> {
        Box::pin(async move {
            let file = file_id(doc)?;
            let part = PartId::parse(part_id).map_err(|_| SourceError::NotFound(part_id.to_owned()))?;
            self.engine.visible_file(&self.grants.file_read, file).await.map_err(source_error)?;
            let record = self
                .engine
                .db()
                .file_part(self.tenant, file, part)
                .await
                .map_err(|e| SourceError::Failed(e.to_string()))?
                .ok_or_else(|| SourceError::NotFound(part_id.to_owned()))?;
            let (Some(sha), Some(size)) = (record.data_sha256.as_deref(), record.data_size) else {
                return Err(SourceError::NotFound(format!("content of part {part_id}")));
            };
            self.read_all(sha, size).await
        })
    }

    fn content<'a>(&'a self, doc: &'a DocumentInfo) -> BoxFuture<'a, Result<Vec<u8>, SourceError>> {
        Box::pin(async move {
            let file = self.engine.visible_file(&self.grants.file_read, file_id(doc)?).await.map_err(source_error)?;
            self.read_all(&file.sha256, file.file_size).await
        })
    }

    fn search<'a>(&'a self, query: &'a str, limit: u32) -> BoxFuture<'a, Result<Vec<Hit>, SourceError>> {
        Box::pin(async move {
            let words = !docwright_storage::search::search_terms(query).is_empty();
            match self.collection {
                Some(c) if words => {
                    return self.collection_search(c, query, limit.clamp(1, crate::projects::MAX_SEARCH_LIMIT)).await;
                }
                Some(c) => return self.collection_listing(c, limit).await,
                None if !words => return self.listing(limit).await,
                None => {}
            }
            let limit = limit.clamp(1, crate::projects::MAX_SEARCH_LIMIT);
            let found = self.engine.search(&self.grants.file_read, query, limit, 0).await.map_err(source_error)?;
            let mut out = Vec::new();
            for f in found.hits {
                if self.project.is_some() && !f.placements.iter().any(|p| Some(p.project_id) == self.project) {
                    continue;
                }
                let Ok(file) = self.engine.visible_file(&self.grants.file_read, f.hit.file_id).await else { continue };
                let folder = f.placements.first().map(|p| p.project_name.clone());
                let snippet: String = f.hit.snippet.iter().map(|s| s.text.as_str()).collect();
                out.push(Hit { document: document_info(&file), folder, snippet });
            }
            Ok(out)
        })
    }
}

impl ResultSink for RunPorts {
    fn store<'a>(&'a self, file: Rendered, sources: &'a [String]) -> BoxFuture<'a, Result<StoredFile, String>> {
        Box::pin(async move {
            let stored = |f: &FileRecord| StoredFile {
                file_id: f.id.to_string(),
                file_name: f.file_name.clone(),
                mime_type: f.mime_type.clone(),
                size: f.file_size,
            };
            let db = self.engine.db();
            // A run taken up again finds what it stored before.
            if let Some(existing) = db.workflow_result(self.workflow, &file.key).await.map_err(|e| e.to_string())?
                && let Some(f) = db.file(self.tenant, existing).await.map_err(|e| e.to_string())?
            {
                return Ok(stored(&f));
            }
            let chunks =
                futures_util::stream::iter([Ok::<_, std::convert::Infallible>(bytes::Bytes::from(file.bytes))]);
            let mut record = self
                .engine
                .upload_file(&self.grants.file_create, &file.filename, chunks)
                .await
                .map_err(|e| e.to_string())?;
            // The renderer knows what it wrote better than the magic bytes of a zip.
            if record.mime_type != file.mime_type {
                db.set_file_mime(self.tenant, record.id, &file.mime_type).await.map_err(|e| e.to_string())?;
                record.mime_type = file.mime_type.clone();
            }
            let mut tx = db.begin_write().await.map_err(|e| e.to_string())?;
            let kept =
                tx.insert_workflow_result(self.workflow, &file.key, record.id).await.map_err(|e| e.to_string())?;
            tx.commit().await.map_err(|e| e.to_string())?;
            if kept != record.id {
                // Another attempt stored this result first: keep that one.
                let _ = self.engine.delete_file(&self.grants.file_create, record.id).await;
                let f =
                    db.file(self.tenant, kept).await.map_err(|e| e.to_string())?.ok_or("the stored result is gone")?;
                return Ok(stored(&f));
            }
            self.note_on_sources(&record, sources).await;
            Ok(stored(&record))
        })
    }
}

impl RunPorts {
    /// A result on every project document that places a source file (SPEC W2.5, D4).
    async fn note_on_sources(&self, result: &FileRecord, sources: &[String]) {
        let files: Vec<FileId> = sources.iter().filter_map(|s| FileId::parse(s).ok()).collect();
        let placements = match self.engine.db().placements(self.tenant, &files).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(workflow = %self.workflow, error = %e, "could not look up where the sources are placed");
                return;
            }
        };
        let content = json!({
            "workflow_id": self.workflow.to_string(),
            "file_id": result.id.to_string(),
            "file_name": result.file_name,
            "mime_type": result.mime_type,
            "download_url": format!("/files/{}/content", result.id),
        });
        for p in placements {
            let new = NewResult {
                kind: "workflow".to_owned(),
                title: result.file_name.clone(),
                format: ResultFormat::Json,
                content: content.to_string(),
            };
            if let Err(e) = self.engine.add_document_result(self.tenant, p.document_id, new).await {
                tracing::warn!(workflow = %self.workflow, error = %e, "could not record a result on a source document");
            }
        }
    }
}

/// An event's name and data as stored and streamed (SPEC W1).
pub(crate) fn event_json(e: &Event) -> (&'static str, Value) {
    match e {
        Event::PhaseStarted { phase, description } => {
            ("phase_started", json!({"phase": phase, "description": description}))
        }
        Event::Progress { percent, message } => ("progress", json!({"progress": percent, "message": message})),
        Event::TaskStarted { task_id, objective } => {
            ("task_started", json!({"task_id": task_id, "objective": objective}))
        }
        Event::ActionStarted { task_id, step, action } => {
            ("action_started", json!({"task_id": task_id, "step": step, "action": action}))
        }
        Event::SectionDone { document_id, section_id, ok } => {
            ("section_done", json!({"document_id": document_id, "section_id": section_id, "ok": ok}))
        }
        Event::DocumentReady { file } => (
            "document_ready",
            json!({
                "file_id": file.file_id, "file_name": file.file_name, "mime_type": file.mime_type, "size": file.size,
                "download_url": format!("/files/{}/content", file.file_id),
            }),
        ),
    }
}

impl TraceSink for RunPorts {
    fn event(&self, event: Event) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let db = self.engine.db();
            let (name, data) = event_json(&event);
            if let Err(e) = db.append_workflow_event(self.workflow, name, &data).await {
                tracing::warn!(workflow = %self.workflow, error = %e, "could not store a workflow event");
            }
            let update = match &event {
                Event::PhaseStarted { phase, .. } => Some((Some(phase.as_str()), None)),
                Event::Progress { percent, .. } => Some((None, Some(*percent))),
                _ => None,
            };
            if let Some((phase, progress)) = update {
                let cost = db.workflow_cost(self.workflow).await.unwrap_or(Money::ZERO);
                if let Err(e) = db.set_workflow_progress(self.workflow, phase, progress, cost).await {
                    tracing::warn!(workflow = %self.workflow, error = %e, "could not store a workflow's progress");
                }
            }
            self.engine.workflow_events_changed();
        })
    }

    fn log(&self, entry: LogEntry) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let (outcome, error) = match &entry.outcome {
                None => (None, None),
                Some(LogOutcome::Ok) => (Some("ok".to_owned()), None),
                Some(LogOutcome::Failed(m)) => (Some("failed".to_owned()), Some(m.clone())),
            };
            let row = LogRow {
                op_id: entry.id,
                parent_id: entry.parent_id,
                title: entry.title,
                label: entry.label,
                message: entry.message,
                started_at: Timestamp::from_millis(entry.started_at_ms),
                finished_at: entry.finished_at_ms.map(Timestamp::from_millis),
                outcome,
                error,
                cost: entry.cost,
                ai: entry.ai.map(|a| {
                    json!({
                        "key": a.key, "model": a.model, "provider": a.provider, "input_tokens": a.input_tokens,
                        "output_tokens": a.output_tokens, "duration_ms": a.duration_ms, "replayed": a.replayed,
                    })
                }),
            };
            if let Err(e) = self.engine.db().put_workflow_log(self.workflow, &row).await {
                tracing::warn!(workflow = %self.workflow, error = %e, "could not store a trace node");
            }
        })
    }

    fn debug_file(&self, name: String, content: String) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if !self.debug {
                return;
            }
            if let Err(e) = self.engine.db().put_workflow_debug(self.workflow, &name, &content).await {
                tracing::warn!(workflow = %self.workflow, error = %e, "could not store a debug file");
            }
        })
    }
}

impl Checkpoints for RunPorts {
    fn load<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Option<AiAnswer>> {
        Box::pin(async move {
            let v = self.engine.db().workflow_checkpoint(self.workflow, key).await.ok().flatten()?;
            Some(AiAnswer {
                value: v.get("value")?.clone(),
                model: v["model"].as_str().unwrap_or_default().to_owned(),
                provider: v["provider"].as_str().unwrap_or_default().to_owned(),
                price: Money::from_micros(v["price_micros"].as_i64().unwrap_or(0)),
                input_tokens: v["input_tokens"].as_u64().unwrap_or(0),
                output_tokens: v["output_tokens"].as_u64().unwrap_or(0),
                duration_ms: v["duration_ms"].as_u64().unwrap_or(0),
                attempts: v["attempts"].as_u64().unwrap_or(1) as u32,
            })
        })
    }

    fn save<'a>(&'a self, key: &'a str, a: &'a AiAnswer) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let v = json!({
                "value": a.value, "model": a.model, "provider": a.provider, "price_micros": a.price.micros(),
                "input_tokens": a.input_tokens, "output_tokens": a.output_tokens, "duration_ms": a.duration_ms,
                "attempts": a.attempts,
            });
            if let Err(e) = self.engine.db().put_workflow_checkpoint(self.workflow, key, &v).await {
                tracing::warn!(workflow = %self.workflow, error = %e, "could not keep a checkpoint");
            }
        })
    }
}
