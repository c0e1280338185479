//! One chat turn, run by its job: phases `context`, `retrieval` (when the chat has a project)
//! and `generation`, each announced by a `phase_started` event as it starts and recorded as a
//! node of the turn's progress tree; the answer streams as `llm_token` events, then
//! `llm_final` with the price, usage and sources, then `completed` — or `error` instead.
//!
//! The turn acts as the sender, with their role as it is now. Every event is a row numbered in
//! the turn, written before the next is made, so a reader on any replica sees them in order.

use std::time::{Duration, Instant};

use docwright_chat::context::{self, Budget, Numbered, Origin, Passage};
use docwright_chat::prompt::{self, Speaker};
use docwright_core::id::{ChatTurnId, FileId};
use docwright_core::money::Money;
use docwright_core::time::Timestamp;
use docwright_jobs::{JobContext, JobError};
use docwright_llm::{Message, OutputFormat, Role, StreamEvent};
use docwright_storage::chats::{AnswerEnd, Chat, StoredSource, TurnLogRow, TurnRecord, TurnStatus};
use docwright_storage::files::PartRecord;
use docwright_storage::search::FileScope;
use futures_util::StreamExt as _;
use serde_json::{Value, json};

use crate::gateway::{AUTO, AiRequest, CallFor, GatewayError, Operation, Priority};
use crate::{Engine, Error, Grant};

/// How often a file still being extracted is looked at again.
const EXTRACTION_POLL: Duration = Duration::from_millis(200);
/// Retrieval hits beyond the passages wanted, for those in attached files (skipped).
const MAX_SKIPPED: u32 = 20;

/// Why a turn failed: a stable code and a message for the user.
struct Failure {
    code: &'static str,
    message: String,
}

impl Failure {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        match e {
            Error::Forbidden(m) => Failure::new("forbidden", m),
            e @ Error::NotFound(_) => Failure::new("not_found", e.to_string()),
            e => Failure::new("internal", e.to_string()),
        }
    }
}

fn gateway_failure(e: GatewayError) -> Failure {
    match e {
        e @ GatewayError::InsufficientBalance { .. } => Failure::new("insufficient_balance", e.to_string()),
        e @ GatewayError::RateLimited { .. } => Failure::new("rate_limited", e.to_string()),
        e @ GatewayError::AllFailed { .. } => Failure::new("provider_unavailable", e.to_string()),
        e @ (GatewayError::NoCandidate(_) | GatewayError::UnknownModel(_)) => {
            Failure::new("no_model_available", e.to_string())
        }
        GatewayError::Engine(e) => Failure::from(*e),
    }
}

/// The run of one turn: what its phases share.
struct Run<'a> {
    engine: &'a Engine,
    turn: &'a TurnRecord,
    chat: Chat,
    grant: Grant,
    file_read: Grant,
    root: String,
}

impl Run<'_> {
    async fn event(&self, name: &str, data: Value) {
        if let Err(e) = self.engine.db.append_chat_event(self.turn.id, name, &data).await {
            tracing::warn!(turn = %self.turn.id, error = %e, "could not store a chat event");
        }
        self.engine.chat_events_changed();
    }

    async fn log(&self, row: TurnLogRow) {
        if let Err(e) = self.engine.db.put_turn_log(self.turn.id, &row).await {
            tracing::warn!(turn = %self.turn.id, error = %e, "could not store a progress node");
        }
    }

    /// Announces a phase and opens its node; answers the node to close.
    async fn phase(&self, phase: &str, title: &str, description: &str) -> TurnLogRow {
        self.event("phase_started", json!({"phase": phase, "description": description})).await;
        let row = TurnLogRow {
            op_id: format!("{}_{phase}", self.root),
            parent_id: Some(self.root.clone()),
            title: title.to_owned(),
            message: description.to_owned(),
            started_at: Timestamp::now(),
            finished_at: None,
            outcome: None,
            error: None,
            cost: Money::ZERO,
        };
        self.log(row.clone()).await;
        row
    }

    async fn close(&self, mut row: TurnLogRow, outcome: Result<String, String>, cost: Money) {
        row.finished_at = Some(Timestamp::now());
        row.cost = cost;
        match outcome {
            Ok(message) => {
                row.outcome = Some("ok".to_owned());
                row.message = message;
            }
            Err(e) => {
                row.outcome = Some("failed".to_owned());
                row.error = Some(e);
            }
        }
        self.log(row).await;
    }

    /// Phase `context`: the attached files' parts as passages in document order, and the files
    /// that could not be read, with why.
    async fn context(&self) -> (Vec<Passage>, Vec<String>) {
        let files = &self.turn.attached_file_ids;
        let node = self.phase("context", "Context", &format!("Reading {} attached file(s)", files.len())).await;
        let mut passages = Vec::new();
        let mut unavailable = Vec::new();
        let wait = self.engine.chat.extraction_wait;
        for id in files {
            match self.extracted(*id, wait).await {
                Ok((name, parts)) => {
                    passages.extend(parts.iter().filter_map(|p| passage(&name, p, Origin::Attachment)))
                }
                Err(why) => unavailable.push(why),
            }
        }
        let summary = if unavailable.is_empty() {
            format!("{} passage(s)", passages.len())
        } else {
            format!("{} passage(s); unreadable: {}", passages.len(), unavailable.join("; "))
        };
        self.close(node, Ok(summary), Money::ZERO).await;
        (passages, unavailable)
    }

    /// The parts of a file once its extraction has ended (waited for up to `wait`), else why not.
    async fn extracted(&self, id: FileId, wait: Duration) -> Result<(String, Vec<PartRecord>), String> {
        let deadline = Instant::now() + wait;
        loop {
            let file = match self.engine.visible_file(&self.file_read, id).await {
                Ok(f) => f,
                Err(_) => return Err(format!("{id}: the file is no longer available")),
            };
            match file.extraction_status.as_str() {
                "done" => {
                    let parts = self
                        .engine
                        .db
                        .file_parts(self.turn.tenant_id, id)
                        .await
                        .map_err(|e| format!("{}: its content could not be read: {e}", file.file_name))?;
                    return Ok((file.file_name, parts));
                }
                "failed" => {
                    let why = file.extraction.message.as_deref().unwrap_or("unknown reason").to_owned();
                    return Err(format!("{}: could not be extracted ({why})", file.file_name));
                }
                _ if Instant::now() >= deadline => {
                    return Err(format!(
                        "{}: not ready, still being extracted after {} s",
                        file.file_name,
                        wait.as_secs()
                    ));
                }
                _ => tokio::time::sleep(EXTRACTION_POLL).await,
            }
        }
    }

    /// Phase `retrieval`: the passages of the project's (or collection's) files that contain the question's words, fused by
    /// reciprocal rank with those nearest to it in meaning when vectors are on (`[embeddings]`),
    /// best first; files attached already are in the context whole. Either search failing
    /// leaves the other's passages.
    async fn retrieval(&self) -> Vec<Passage> {
        let (scope, what) = match (self.chat.project_id, self.chat.collection_id) {
            (Some(project), _) => (FileScope::Project(project), "Searching the project's documents"),
            (None, Some(collection)) => (FileScope::Collection(collection), "Searching the collection's documents"),
            (None, None) => return Vec::new(),
        };
        let node = self.phase("retrieval", "Retrieval", what).await;
        let limit = self.engine.chat.retrieval_passages;
        let owner = (!self.file_read.tenant_wide()).then_some(self.turn.user_id);
        let tenant = self.turn.tenant_id;
        let db = &self.engine.db;
        // A few more than needed: hits in attached files are skipped.
        let window = limit.saturating_add(MAX_SKIPPED);
        let found = self
            .engine
            .retrieve(
                &self.grant,
                (tenant, scope, owner),
                &self.turn.message,
                window,
                CallFor::Chat(self.chat.id),
                self.turn.allowed_providers.clone(),
            )
            .await;
        let mut out = Vec::new();
        for (file_id, part_id) in found.fused {
            if out.len() >= limit as usize {
                break;
            }
            if self.turn.attached_file_ids.contains(&file_id) {
                continue;
            }
            let (Ok(Some(file)), Ok(Some(part))) =
                (db.file(tenant, file_id).await, db.file_part(tenant, file_id, part_id).await)
            else {
                continue;
            };
            if let Some(p) = passage(&file.file_name, &part, Origin::Retrieval) {
                out.push(p);
            }
        }
        let mut summary = format!("{} passage(s) found", out.len());
        if found.vectors {
            summary.push_str(&format!(" ({} by words, {} by meaning)", found.by_words.len(), found.by_meaning.len()));
        }
        let searches = if found.vectors { 2 } else { 1 };
        let outcome = if found.problems.len() == searches {
            Err(found.problems.join("; "))
        } else if found.problems.is_empty() {
            Ok(summary)
        } else {
            Ok(format!("{summary}; {}", found.problems.join("; ")))
        };
        self.close(node, outcome, found.cost).await;
        out
    }

    /// The chat's earlier messages, oldest first (answers that failed are left out).
    async fn history(&self) -> Vec<(Speaker, String)> {
        let messages = self.engine.db.chat_messages(self.chat.id).await.unwrap_or_default();
        messages
            .into_iter()
            .filter(|m| m.turn_id != self.turn.id && m.status == TurnStatus::Completed && !m.content.is_empty())
            .map(|m| (if m.role == "assistant" { Speaker::Assistant } else { Speaker::User }, m.content))
            .collect()
    }

    /// Phase `generation`: the prompt trimmed to the first candidate's budget, streamed through
    /// the gateway; answers the stored answer's parts.
    async fn generation(
        &self,
        passages: Vec<Passage>,
        unavailable: &[String],
        stop: &tokio_util::sync::CancellationToken,
    ) -> Result<(), Failure> {
        let node = self.phase("generation", "Generation", "Writing the answer").await;
        let result = self.generate(passages, unavailable, stop).await;
        let cost = self.engine.db.chat_cost(self.chat.id).await.unwrap_or(Money::ZERO);
        match &result {
            Ok(()) => self.close(node, Ok("answered".to_owned()), cost).await,
            Err(f) => self.close(node, Err(f.message.clone()), cost).await,
        }
        result
    }

    async fn generate(
        &self,
        passages: Vec<Passage>,
        unavailable: &[String],
        stop: &tokio_util::sync::CancellationToken,
    ) -> Result<(), Failure> {
        let db = &self.engine.db;
        let role = match self.turn.role_prompt_id {
            Some(id) => db.role_prompt(self.turn.tenant_id, id).await.map_err(Error::from)?.map(|r| r.prompt),
            None => None,
        };
        let language = db
            .user(self.turn.user_id)
            .await
            .map_err(Error::from)?
            .map(|u| u.settings.language.as_str().to_owned())
            .unwrap_or_else(|| "en".to_owned());
        let tokens = |t: &str| docwright_llm::estimate_tokens(t);
        let history = prompt::recent_history(&self.history().await, self.engine.chat.history_tokens, &tokens);
        let shape = prompt::Turn {
            role: role.as_deref(),
            language: &language,
            history: &history,
            question: &self.turn.message,
            unavailable,
        };
        let priority = match self.turn.model_profile.as_str() {
            "complex" => Priority::Quality,
            _ => Priority::Speed,
        };
        let mut req = AiRequest {
            model: AUTO.to_owned(),
            operation: Operation::DataGenerate,
            priority: Some(priority),
            messages: Vec::new(),
            max_output_tokens: None,
            temperature: None,
            output: OutputFormat::Text,
            tools: Vec::new(),
            tool_choice: Default::default(),
            parallel_tool_calls: None,
            allowed_providers: self.turn.allowed_providers.clone(),
            process: "chat.message".to_owned(),
            reference: Some(CallFor::Chat(self.chat.id)),
        };
        // The budget is the first candidate's: a fallback with less room is skipped by the
        // gateway's own fit check.
        let ranked = self.engine.ranked(&self.grant, &req).await.map_err(gateway_failure)?;
        let first = ranked.first().ok_or_else(|| Failure::new("no_model_available", "no model can answer chats"))?;
        let budget = Budget {
            context_tokens: u64::from(first.context_tokens),
            output_tokens: u64::from(req.output_budget(first)),
            fixed_tokens: prompt::fixed_tokens(&shape, &tokens),
        };
        let used = context::assemble(passages, budget.passages(), &tokens);
        let mut messages = vec![Message::text(Role::System, prompt::system(&shape))];
        for (who, text) in &history {
            let role = if *who == Speaker::Assistant { Role::Assistant } else { Role::User };
            messages.push(Message::text(role, text.clone()));
        }
        messages.push(Message::text(Role::User, prompt::user_message(&shape, &used)));
        req.messages = messages;

        let started = Instant::now();
        let (model, mut stream, held) = self.engine.ai_stream(&self.grant, &req).await.map_err(gateway_failure)?;
        let mut outcome: Result<docwright_llm::ChatResponse, String> = Err("the stream ended early".to_owned());
        loop {
            let next = tokio::select! {
                next = stream.next() => next,
                () = stop.cancelled() => {
                    outcome = Err("the answer was stopped (time limit or shutdown)".to_owned());
                    break;
                }
            };
            match next {
                Some(Ok(StreamEvent::Delta(t))) => {
                    if !t.is_empty() {
                        self.event("llm_token", json!({"token": t})).await;
                    }
                }
                // A chat turn declares no tools.
                Some(Ok(StreamEvent::ToolCall(_))) => {}
                Some(Ok(StreamEvent::Done(r))) => {
                    outcome = Ok(r);
                    break;
                }
                Some(Err(e)) => {
                    outcome = Err(e.to_string());
                    break;
                }
                None => break,
            }
        }
        let ms = started.elapsed().as_millis() as u64;
        let price = self
            .engine
            .ai_stream_finished(&self.grant, &req, &model, held, outcome.as_ref().map_err(String::as_str), ms)
            .await
            .map_err(Failure::from)?;
        let r = outcome.map_err(|e| Failure::new("provider_failed", e))?;
        let sources: Vec<StoredSource> = used.iter().map(source).collect();
        let final_data = json!({
            "content": r.content,
            "model": model.name,
            "price": price.to_string(),
            "usage": {"input_tokens": r.usage.input_tokens, "output_tokens": r.usage.output_tokens},
            "sources": sources.iter().map(source_json).collect::<Vec<_>>(),
        });
        self.event("llm_final", final_data).await;
        let end = AnswerEnd {
            status: TurnStatus::Completed,
            content: &r.content,
            model: Some(&model.name),
            provider: Some(&model.provider),
            price,
            input_tokens: r.usage.input_tokens,
            output_tokens: r.usage.output_tokens,
            sources: &sources,
            error_code: None,
            error_message: None,
        };
        if db.finish_chat_turn(self.turn, &end).await.map_err(Error::from)? {
            self.event("completed", json!({"message_id": self.turn.assistant_message_id.to_string()})).await;
        }
        Ok(())
    }
}

/// A part as a passage, when it has text to read.
fn passage(file_name: &str, p: &PartRecord, origin: Origin) -> Option<Passage> {
    if p.text.trim().is_empty() {
        return None;
    }
    Some(Passage {
        file_id: p.file_id.to_string(),
        file_name: file_name.to_owned(),
        part_id: p.id.to_string(),
        page: p.page,
        slide: p.slide,
        sheet: p.sheet.clone(),
        text: p.text.clone(),
        origin,
    })
}

fn source(n: &Numbered) -> StoredSource {
    let p = &n.passage;
    StoredSource {
        index: n.index,
        file_id: FileId::parse(&p.file_id).unwrap_or_default(),
        file_name: p.file_name.clone(),
        part_id: p.part_id.clone(),
        page: p.page,
        slide: p.slide,
        sheet: p.sheet.clone(),
        origin: p.origin.as_str().to_owned(),
    }
}

/// A source as `llm_final` and the history show it.
pub fn source_json(s: &StoredSource) -> Value {
    json!({
        "index": s.index, "file_id": s.file_id.to_string(), "file_name": s.file_name, "part_id": s.part_id,
        "page": s.page, "slide": s.slide, "sheet": s.sheet, "origin": s.origin,
    })
}

impl Engine {
    /// Answers the turn of a job (the queue's handler for [`super::JOB_KIND`]).
    pub async fn run_chat_turn(&self, job: &JobContext) -> Result<Value, JobError> {
        let id = job
            .payload()
            .get("turn_id")
            .and_then(Value::as_str)
            .and_then(|s| ChatTurnId::parse(s).ok())
            .ok_or_else(|| JobError::permanent("bad_payload", "the job names no chat turn"))?;
        let storage = |e: docwright_storage::Error| JobError::permanent("storage", e.to_string());
        let Some(turn) = self.db.chat_turn(id).await.map_err(storage)? else {
            // The chat was deleted meanwhile.
            return Ok(json!({"turn_id": id.to_string(), "status": "gone"}));
        };
        if turn.status.is_final() {
            return Ok(json!({"turn_id": id.to_string(), "status": turn.status.as_str()}));
        }
        let t = &turn.record;
        self.db.start_chat_turn(t).await.map_err(storage)?;
        let root = format!("turn_{id}");
        let started = Timestamp::now();
        let result = self.turn_phases(t, &root, job.token()).await;
        self.flush_stats().await;
        let cost = self.db.chat_cost(t.chat_id).await.unwrap_or(Money::ZERO);
        let (outcome, error) = match &result {
            Ok(()) => ("ok", None),
            Err(f) => ("failed", Some(f.message.clone())),
        };
        let row = TurnLogRow {
            op_id: root.clone(),
            parent_id: None,
            title: "Chat turn".to_owned(),
            message: t.message.chars().take(200).collect(),
            started_at: started,
            finished_at: Some(Timestamp::now()),
            outcome: Some(outcome.to_owned()),
            error,
            cost,
        };
        if let Err(e) = self.db.put_turn_log(id, &row).await {
            tracing::warn!(turn = %id, error = %e, "could not store a progress node");
        }
        match result {
            Ok(()) => Ok(json!({"turn_id": id.to_string(), "status": "completed"})),
            Err(f) => {
                self.end_turn_failed(t, f.code, &f.message)
                    .await
                    .map_err(|e| JobError::permanent("storage", e.to_string()))?;
                Err(JobError::permanent(f.code, f.message))
            }
        }
    }

    async fn turn_phases(
        &self,
        t: &TurnRecord,
        root: &str,
        stop: &tokio_util::sync::CancellationToken,
    ) -> Result<(), Failure> {
        let columns = (t.credential_kind.as_str(), t.credential_id.as_str(), t.credential_tenant);
        let ctx = self.stored_context(t.user_id, t.tenant_id, columns).await?;
        let grant = self.authorize(ctx.clone(), super::CHAT_CREATE).await?;
        let file_read = self.authorize(ctx, crate::files::FILE_READ).await?;
        let chat = self.db.chat(t.tenant_id, t.chat_id).await.map_err(Error::from)?.ok_or(Error::NotFound("chat"))?;
        let run = Run { engine: self, turn: t, chat, grant, file_read, root: root.to_owned() };
        run.log(TurnLogRow {
            op_id: root.to_owned(),
            parent_id: None,
            title: "Chat turn".to_owned(),
            message: t.message.chars().take(200).collect(),
            started_at: Timestamp::now(),
            finished_at: None,
            outcome: None,
            error: None,
            cost: Money::ZERO,
        })
        .await;
        let (mut passages, unavailable) = run.context().await;
        passages.extend(run.retrieval().await);
        run.generation(passages, &unavailable, stop).await
    }
}
