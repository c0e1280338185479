//! The generation workflow (SPEC W2–W4): a prompt and some documents in, finished documents out.
//!
//! [`run`] executes one workflow over the narrow traits of [`ports`] — an AI caller, a document
//! source, a result sink, a trace sink and a checkpoint store — so it runs the same in the
//! server (the engine implements the traits with the gateway, billing, extraction and the blob
//! store), in `docwright generate`, and in unit tests against a scripted AI.
//!
//! The phases, each a real step with its own AI call(s), every call with its JSON Schema
//! ([`schemas`]):
//! 1. input analysis (`analysis`): language, normalized request, intent, bulky context moved
//!    into documents of their own, complexity, fast track (answered directly);
//! 2. task planning (`planning`);
//! 3. the action loop per task (`actions`): a planner picks the next action from the catalog
//!    with the executed actions, task history, available documents and guidance; the action
//!    runs; a refinement step validates it and may set guidance; bounded by a step limit;
//! 4. AI content processing (`content`), the one function behind every AI action: document
//!    intents (5A), content parts (5B, [`parts`]), structure (5C), parallel section filling with
//!    failed sections as error elements (5D), rendering through `docwright-render` (5E).
//!
//! `trace` keeps the W4 operation tree (every operation with its parent, AI calls as leaves,
//! costs rolled up), the progress events and, with `debug_trace`, every prompt and response
//! under the seed's fixed names. Answers are checkpointed by a key that is stable across runs,
//! so a run taken up again after a crash replays what it already paid for.

pub mod actions;
mod analysis;
mod content;
pub mod parts;
mod planning;
pub mod ports;
mod prompts;
mod render;
mod run;
pub mod schemas;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod trace;

use docwright_core::money::Money;

pub use ports::{
    AiAnswer, AiCall, AiCaller, AiError, BoxFuture, Checkpoints, DocumentInfo, DocumentSource, Event, Hit, Input,
    LogEntry, LogOutcome, Operation, Ports, Rendered, ResultSink, SourceError, SourcePart, StoredFile, TraceSink,
    TypeGroup,
};
pub use run::{run, run_owned};

/// What to do.
#[derive(Debug, Clone, Default)]
pub struct WorkflowInput {
    pub workflow_id: String,
    pub prompt: String,
    /// The attached documents.
    pub documents: Vec<DocumentInfo>,
    /// The format of the result (`docx`, `csv`, ...); `None` lets the structure choose, and
    /// plain text when it does not.
    pub output_format: Option<String>,
    pub title: Option<String>,
    /// The user's language setting, a hint for the answer's language.
    pub language: Option<String>,
    /// Keep every prompt and response under its fixed name.
    pub debug_trace: bool,
    /// Whether `context.search_documents` may look in the caller's projects.
    pub can_search_projects: bool,
    /// Instructions of a prompt preset (SPEC T1), added to the system prompt of the calls that
    /// write content.
    pub instructions: Option<String>,
    /// A fixed plan (an automation's tasks, SPEC T2): its actions run in order, without input
    /// analysis, task planning, the action planner or refinement.
    pub script: Option<Vec<ScriptedTask>>,
}

/// A task of a fixed plan.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptedTask {
    pub objective: String,
    pub actions: Vec<ScriptedAction>,
}

/// An action of a fixed plan: a catalog action (`method.action`) with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptedAction {
    pub action: String,
    pub parameters: serde_json::Value,
    /// The name the action's result goes by in the trace and the task's history.
    pub result_label: Option<String>,
}

/// Bounds of a run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Tasks taken from the plan; more are dropped with a note in the trace.
    pub max_tasks: usize,
    /// Actions per task before the task is ended.
    pub max_steps_per_task: u32,
    /// Sections filled at once (across the documents of one content processing).
    pub section_parallelism: usize,
    /// Images read by vision models at once.
    pub extraction_parallelism: usize,
    /// Characters of one part given to a model; longer text is cut with a marker.
    pub max_part_chars: usize,
    /// Characters of all parts of one section's call.
    pub max_section_chars: usize,
    /// Documents a search returns.
    pub search_limit: u32,
    /// Rows, images and sizes the renderer accepts, and its CSV options.
    pub render: docwright_render::Options,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_tasks: 6,
            max_steps_per_task: 6,
            section_parallelism: 8,
            extraction_parallelism: 8,
            max_part_chars: 16_000,
            max_section_chars: 96_000,
            search_limit: 25,
            render: docwright_render::Options::default(),
        }
    }
}

/// How a run ended well.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowResult {
    /// The answer in words: the fast-track answer, or what the last action produced.
    pub answer: String,
    /// The stored result files, in the order they were made.
    pub files: Vec<StoredFile>,
    pub detected_language: Option<String>,
    /// Money spent by the run's AI calls (replayed ones included).
    pub cost: Money,
}

/// Why a run stopped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("cancelled")]
    Cancelled,
    /// A phase could not get a usable answer, or the balance ran out.
    #[error("{phase}: {error}")]
    Ai { phase: &'static str, error: AiError },
    #[error("{0}")]
    Source(#[from] SourceError),
    #[error("storing a result failed: {0}")]
    Sink(String),
    #[error("rendering failed: {0}")]
    Render(String),
    /// An action of a fixed plan failed (its plan has no planner to try something else).
    #[error("action {action} failed: {message}")]
    Action { action: String, message: String },
    /// The run's thread ended without an answer (a panic).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The stable code of a failed workflow.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Cancelled => "cancelled",
            Error::Ai { error, .. } => error.code(),
            Error::Source(SourceError::NotFound(_)) => "document_not_found",
            Error::Source(_) => "document_unavailable",
            Error::Sink(_) => "storage_failed",
            Error::Render(_) => "render_failed",
            Error::Action { .. } => "action_failed",
            Error::Internal(_) => "internal",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
