//! One run: its state (documents, parts, results), the AI call wrapper every phase goes
//! through (checkpoint, cancellation, trace, debug files), and the order of the phases.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use docwright_core::time::Timestamp;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::parts::ContentPart;
use crate::ports::{AiAnswer, AiCall, DocumentInfo, Event, Ports, SourcePart, StoredFile};
use crate::trace::Tracer;
use crate::{Error, Result, Settings, WorkflowInput, WorkflowResult, analysis, planning};

/// Where a document of the run came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Attached to the request.
    Attached,
    /// Bulky data the input analysis moved out of the prompt.
    Context,
    /// Found by `context.search_documents`.
    Found,
    /// Made by an earlier action (a summary, a generated document's text, a web answer).
    Produced(String),
}

impl Origin {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Origin::Attached => "attached",
            Origin::Context => "context",
            Origin::Found => "found",
            Origin::Produced(_) => "produced",
        }
    }
}

/// A document the run knows.
#[derive(Debug, Clone)]
pub(crate) struct Doc {
    pub(crate) info: DocumentInfo,
    pub(crate) origin: Origin,
    /// Parts of a document that exists only in this run (context items, produced text).
    pub(crate) inline: Option<Vec<SourcePart>>,
    /// Where it is filed in the projects tree.
    pub(crate) folder: Option<String>,
    /// A line about it (a search snippet, what produced it).
    pub(crate) note: Option<String>,
}

#[derive(Default)]
struct State {
    docs: Vec<Doc>,
    /// Parts that `context.extract_content` made, by document id, with the action's name.
    extracted: HashMap<String, Vec<ContentPart>>,
    results: Vec<StoredFile>,
    /// The answer in words so far.
    answer: String,
}

/// The run under way.
pub(crate) struct Run<'a> {
    pub(crate) input: &'a WorkflowInput,
    pub(crate) settings: &'a Settings,
    pub(crate) ports: &'a Ports,
    cancel: &'a CancellationToken,
    pub(crate) trace: Tracer,
    /// The root of the trace tree.
    pub(crate) root: String,
    /// The language of the results (from the analysis, else the user's, else English).
    language: Mutex<String>,
    state: Mutex<State>,
}

/// [`run`] on a blocking thread driven by the current runtime, for callers that need a
/// `Send + 'static` future (a job queue's handler). The pipeline's future borrows across its
/// bounded fan-outs in ways the compiler cannot prove `Send` for (higher-ranked lifetimes in
/// async blocks, rust-lang/rust#64552); driven by `Handle::block_on` on a thread of its own,
/// it need not be. Cancelling `cancel` stops it as it stops [`run`].
pub async fn run_owned(
    input: WorkflowInput,
    settings: Settings,
    ports: Ports,
    cancel: CancellationToken,
) -> Result<WorkflowResult> {
    let handle = tokio::runtime::Handle::current();
    let thread = tokio::task::spawn_blocking(move || handle.block_on(run(&input, &settings, &ports, &cancel)));
    match thread.await {
        Ok(result) => result,
        Err(e) => Err(Error::Internal(format!("the workflow's thread ended: {e}"))),
    }
}

/// Runs one workflow to its end (see the crate docs for the phases).
pub async fn run(
    input: &WorkflowInput,
    settings: &Settings,
    ports: &Ports,
    cancel: &CancellationToken,
) -> Result<WorkflowResult> {
    let trace = Tracer::new(ports.trace.clone(), input.debug_trace);
    let root = format!("workflow_{}", input.workflow_id);
    let run = Run {
        input,
        settings,
        ports,
        cancel,
        trace,
        root: root.clone(),
        language: Mutex::new(input.language.clone().unwrap_or_else(|| "en".to_owned())),
        state: Mutex::new(State {
            docs: input
                .documents
                .iter()
                .map(|d| Doc { info: d.clone(), origin: Origin::Attached, inline: None, folder: None, note: None })
                .collect(),
            ..State::default()
        }),
    };
    let preview: String = input.prompt.chars().take(120).collect();
    run.trace.start(root.clone(), None, "Workflow", "Workflow", &preview).await;
    let result = run.execute().await;
    run.trace.finish(&root, result.as_ref().map(|_| ()).map_err(ToString::to_string)).await;
    result
}

impl Run<'_> {
    async fn execute(&self) -> Result<WorkflowResult> {
        if let Some(script) = &self.input.script {
            return self.execute_script(script).await;
        }
        self.phase("input_analysis", "Analysing the request").await;
        let analysis = analysis::analyse(self).await?;
        self.progress(8, "request analysed").await;
        if analysis.fast_track && self.input.documents.is_empty() && analysis.context_items.is_empty() {
            self.phase("fast_track", "Answering directly").await;
            analysis::answer_directly(self, &analysis).await?;
        } else {
            self.phase("task_planning", "Planning the tasks").await;
            let tasks = planning::plan(self, &analysis).await?;
            self.progress(12, &format!("{} task(s) planned", tasks.len())).await;
            self.phase("task_execution", "Executing the tasks").await;
            let mut history: Vec<Value> = Vec::new();
            let n = tasks.len();
            for (i, task) in tasks.iter().enumerate() {
                let summary = crate::actions::execute_task(self, &analysis, task, &history).await?;
                history.push(serde_json::json!({"task_id": task.id, "objective": task.objective, "result": summary}));
                let percent = 12 + (80 * (i + 1) / n.max(1)) as u8;
                self.progress(percent, &format!("task {} of {n} done", i + 1)).await;
            }
            if self.results().is_empty() {
                // Nothing was rendered by an action: the run's words become its document.
                crate::content::render_answer(self, &analysis.intent).await?;
            }
        }
        Ok(self.finished().await)
    }

    /// A fixed plan: each task's actions in order; the first failing action ends the run.
    async fn execute_script(&self, script: &[crate::ScriptedTask]) -> Result<WorkflowResult> {
        let analysis = analysis::Analysis::scripted(self);
        self.phase("task_execution", "Executing the automation's tasks").await;
        let n = script.len();
        for (i, scripted) in script.iter().enumerate() {
            let task = planning::Task {
                id: format!("{}", i + 1),
                objective: scripted.objective.clone(),
                required_documents: Vec::new(),
                expected_output: String::new(),
            };
            crate::actions::execute_scripted_task(self, &task, &scripted.actions).await?;
            let percent = (95 * (i + 1) / n.max(1)) as u8;
            self.progress(percent, &format!("task {} of {n} done", i + 1)).await;
        }
        if self.results().is_empty() {
            crate::content::render_answer(self, &analysis.intent).await?;
        }
        Ok(self.finished().await)
    }

    /// The result of a run whose work is done.
    async fn finished(&self) -> WorkflowResult {
        self.progress(100, "done").await;
        let (files, answer) = self.with(|s| (s.results.clone(), s.answer.clone()));
        WorkflowResult { answer, files, detected_language: Some(self.language()), cost: self.trace.total() }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // A poisoned lock means a panic elsewhere mid-update; the state stays usable.
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn language(&self) -> String {
        self.language.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub(crate) fn set_language(&self, lang: &str) {
        *self.language.lock().unwrap_or_else(PoisonError::into_inner) = lang.to_owned();
    }

    pub(crate) async fn phase(&self, phase: &str, description: &str) {
        self.trace.event(Event::PhaseStarted { phase: phase.to_owned(), description: description.to_owned() }).await;
    }

    pub(crate) async fn progress(&self, percent: u8, message: &str) {
        self.trace.event(Event::Progress { percent: percent.min(100), message: message.to_owned() }).await;
    }

    pub(crate) fn check_cancel(&self) -> Result<()> {
        if self.cancel.is_cancelled() { Err(Error::Cancelled) } else { Ok(()) }
    }

    /// One AI call of `phase` under trace node `parent`: replayed from a checkpoint when an
    /// earlier run of this workflow made it, else made and checkpointed. A cancelled run
    /// makes no new call. With debugging on, the
    /// prompt and the response are kept under `debug` (prompt name, response name).
    pub(crate) async fn ask(
        &self,
        call: &AiCall,
        phase: &'static str,
        parent: &str,
        title: &str,
        debug: Option<(String, String)>,
    ) -> Result<AiAnswer> {
        self.check_cancel()?;
        let started = Timestamp::now().millis();
        if let Some((prompt_name, _)) = &debug {
            self.trace.debug(prompt_name.clone(), || format!("{}\n\n{}", call.system, call.prompt_text())).await;
        }
        if let Some(answer) = self.ports.checkpoints.load(&call.key).await {
            self.trace.ai_leaf(parent, &call.key, title, started, Ok((&answer, true))).await;
            if let Some((_, response_name)) = debug {
                self.trace.debug(response_name, || pretty(&answer.value)).await;
            }
            return Ok(answer);
        }
        // A preset's instructions shape what is written, not the run's own decisions.
        let shaped;
        let call = match (&self.input.instructions, call.operation) {
            (Some(extra), op) if op != crate::ports::Operation::Planning && !extra.trim().is_empty() => {
                shaped =
                    AiCall { system: format!("{}\n\n# Instructions\n{}", call.system, extra.trim()), ..call.clone() };
                &shaped
            }
            _ => call,
        };
        let t = Instant::now();
        // A call in flight is not dropped when the run is cancelled: it finishes and is
        // settled, so no reservation is left behind; nothing new starts after it.
        let result = self.ports.ai.call(call).await;
        match result {
            Ok(mut answer) => {
                if answer.duration_ms == 0 {
                    answer.duration_ms = t.elapsed().as_millis() as u64;
                }
                self.ports.checkpoints.save(&call.key, &answer).await;
                self.trace.ai_leaf(parent, &call.key, title, started, Ok((&answer, false))).await;
                if let Some((_, response_name)) = debug {
                    self.trace.debug(response_name, || pretty(&answer.value)).await;
                }
                Ok(answer)
            }
            Err(error) => {
                self.trace.ai_leaf(parent, &call.key, title, started, Err(&error.to_string())).await;
                Err(Error::Ai { phase, error })
            }
        }
    }

    /// Every document the run knows, in the order it learnt of them.
    pub(crate) fn docs(&self) -> Vec<Doc> {
        self.with(|s| s.docs.clone())
    }

    pub(crate) fn doc(&self, id: &str) -> Option<Doc> {
        self.with(|s| s.docs.iter().find(|d| d.info.id == id).cloned())
    }

    /// Adds a document (once per id).
    pub(crate) fn add_doc(&self, doc: Doc) {
        self.with(|s| {
            if !s.docs.iter().any(|d| d.info.id == doc.info.id) {
                s.docs.push(doc);
            }
        });
    }

    /// A document that exists only in this run, holding `text`.
    pub(crate) fn add_text_doc(&self, id: String, name: String, text: String, origin: Origin, note: Option<String>) {
        let part = SourcePart {
            id: format!("{id}_text"),
            type_group: crate::TypeGroup::Text,
            mime_type: "text/plain".to_owned(),
            label: Some(name.clone()),
            text: text.clone(),
            rows: None,
            method: "text".to_owned(),
            page: None,
            slide: None,
            sheet: None,
        };
        let info =
            DocumentInfo { id, file_name: name, mime_type: "text/plain".to_owned(), file_size: text.len() as u64 };
        self.add_doc(Doc { info, origin, inline: Some(vec![part]), folder: None, note });
    }

    /// The parts docwright's extraction made of a document (or the inline parts of a run's own
    /// document).
    pub(crate) async fn source_parts(&self, doc: &Doc) -> Result<Vec<SourcePart>> {
        match &doc.inline {
            Some(parts) => Ok(parts.clone()),
            None => Ok(self.ports.documents.parts(&doc.info).await?),
        }
    }

    pub(crate) fn extracted(&self, doc_id: &str) -> Option<Vec<ContentPart>> {
        self.with(|s| s.extracted.get(doc_id).cloned())
    }

    pub(crate) fn keep_extracted(&self, doc_id: &str, parts: Vec<ContentPart>) {
        self.with(|s| s.extracted.insert(doc_id.to_owned(), parts));
    }

    pub(crate) fn add_result(&self, file: StoredFile) {
        self.with(|s| s.results.push(file));
    }

    pub(crate) fn results(&self) -> Vec<StoredFile> {
        self.with(|s| s.results.clone())
    }

    pub(crate) fn set_answer(&self, answer: String) {
        self.with(|s| s.answer = answer);
    }

    pub(crate) fn answer(&self) -> String {
        self.with(|s| s.answer.clone())
    }

    /// A stable, unique id for a run's own document (`ctx_1`, `summary_2`, ...).
    pub(crate) fn next_doc_id(&self, prefix: &str) -> String {
        let n = self.with(|s| s.docs.iter().filter(|d| d.info.id.starts_with(&format!("{prefix}_"))).count()) + 1;
        format!("{prefix}_{n}")
    }
}

/// JSON as people read it, for debug files.
pub(crate) fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// The user message of a call: one JSON document of data.
pub(crate) fn data_message(v: &Value) -> crate::ports::Input {
    crate::ports::Input::Text(pretty(v))
}

/// Text cut to `max` characters, with a marker saying so.
pub(crate) fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}\n[... cut: the text continues]")
}

/// A string field of a JSON answer, trimmed; empty when absent.
pub(crate) fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).map(str::trim).unwrap_or_default().to_owned()
}

/// A nullable string field: `None` when absent, null or blank.
pub(crate) fn opt_text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

pub(crate) fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default()
}

pub(crate) fn flag(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}
