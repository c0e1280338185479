//! The narrow traits the pipeline runs over, and the values that cross them.
//!
//! The pipeline knows nothing of databases, HTTP, providers or tenants: it asks an [`AiCaller`]
//! for answers of a stated JSON Schema, a [`DocumentSource`] for documents and their content
//! parts, hands finished files to a [`ResultSink`], and reports what it does to a
//! [`TraceSink`]. A [`Checkpoints`] store remembers every answer by a key that is the same on
//! every run of the same workflow, so a run that is taken up again after a crash replays the
//! calls it already paid for instead of making (and paying for) them twice.
//!
//! The engine implements these with the gateway (reservation and settlement per call), the
//! extraction and blob store, the projects search and the database; tests implement them in
//! memory (`testing`, feature `testing`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use docwright_core::money::Money;
use serde_json::Value;

/// A boxed future, so the traits stay object-safe (`Arc<dyn AiCaller>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What an AI call is for (SPEC A2 operation types); the gateway chooses models by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Decisions about the work: analysis, plans, next actions, validation, structure.
    Planning,
    /// Reading content out of documents and images.
    DataExtract,
    /// Looking at data to say something about it.
    DataAnalyse,
    /// Writing content.
    DataGenerate,
    /// A question answered with a web search.
    WebSearch,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Planning => "planning",
            Operation::DataExtract => "data_extract",
            Operation::DataAnalyse => "data_analyse",
            Operation::DataGenerate => "data_generate",
            Operation::WebSearch => "web_search",
        }
    }
}

/// A piece of the user message of a call.
#[derive(Debug, Clone)]
pub enum Input {
    Text(String),
    /// An image for a vision-capable model.
    Image {
        mime_type: String,
        data: Arc<[u8]>,
    },
}

/// One AI call: a system prompt, a user message of text and images, and the JSON Schema the
/// answer must satisfy. Every call of the pipeline states its schema.
#[derive(Debug, Clone)]
pub struct AiCall {
    /// The same on every run of the same workflow: the checkpoint key, and the name of the
    /// call in the trace (`input_analysis`, `task_t1_step_2_planner`, ...).
    pub key: String,
    /// What asked, for the stat record (`workflow.input_analysis`, ...).
    pub process: String,
    pub operation: Operation,
    pub system: String,
    pub inputs: Vec<Input>,
    pub schema: Value,
    pub max_output_tokens: Option<u32>,
}

impl AiCall {
    /// Whether the call carries images (and so needs a vision-capable model).
    pub fn needs_vision(&self) -> bool {
        self.inputs.iter().any(|i| matches!(i, Input::Image { .. }))
    }

    /// The text of the user message, for the debug trace.
    pub fn prompt_text(&self) -> String {
        let mut out = String::new();
        for i in &self.inputs {
            match i {
                Input::Text(t) => out.push_str(t),
                Input::Image { mime_type, data } => out.push_str(&format!("[image {mime_type}, {} bytes]", data.len())),
            }
            out.push('\n');
        }
        out
    }
}

/// A successful call: the answer, already parsed and checked against the schema.
#[derive(Debug, Clone, PartialEq)]
pub struct AiAnswer {
    pub value: Value,
    pub model: String,
    pub provider: String,
    pub price: Money,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub duration_ms: u64,
    /// Attempts the gateway made (fallbacks and retries included).
    pub attempts: u32,
}

/// Why a call failed after the gateway's retries and fallbacks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AiError {
    /// The paying account cannot cover the call (SPEC B3): the workflow stops here.
    #[error("{0}")]
    InsufficientBalance(String),
    /// The caller may not use any provider that could answer.
    #[error("{0}")]
    Forbidden(String),
    /// No model can take the call (for example no vision model for an image).
    #[error("{0}")]
    NoModel(String),
    /// Every candidate failed, or answered with something that is not the requested shape.
    #[error("{0}")]
    Failed(String),
}

impl AiError {
    /// The stable code a failed workflow reports.
    pub fn code(&self) -> &'static str {
        match self {
            AiError::InsufficientBalance(_) => "insufficient_balance",
            AiError::Forbidden(_) => "provider_forbidden",
            AiError::NoModel(_) => "no_model",
            AiError::Failed(_) => "ai_failed",
        }
    }

    /// Whether the workflow must stop rather than note the failure and go on.
    pub fn is_fatal(&self) -> bool {
        matches!(self, AiError::InsufficientBalance(_) | AiError::Forbidden(_))
    }
}

/// Makes AI calls (the engine: through the gateway, with billing and stats).
pub trait AiCaller: Send + Sync {
    fn call<'a>(&'a self, call: &'a AiCall) -> BoxFuture<'a, Result<AiAnswer, AiError>>;

    /// Whether a model with the `web_search` capability exists for this caller (the
    /// `web.search` action is offered only then).
    fn can_search_web(&self) -> bool;
}

/// A document the workflow can use: an uploaded file of the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentInfo {
    /// The file id.
    pub id: String,
    pub file_name: String,
    pub mime_type: String,
    pub file_size: u64,
}

/// The kind of a content part (SPEC W3 `type_group`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeGroup {
    Text,
    Table,
    Image,
    Binary,
    Reference,
}

impl TypeGroup {
    pub fn as_str(self) -> &'static str {
        match self {
            TypeGroup::Text => "text",
            TypeGroup::Table => "table",
            TypeGroup::Image => "image",
            TypeGroup::Binary => "binary",
            TypeGroup::Reference => "reference",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "text" => TypeGroup::Text,
            "table" => TypeGroup::Table,
            "image" => TypeGroup::Image,
            "binary" => TypeGroup::Binary,
            "reference" => TypeGroup::Reference,
            _ => return None,
        })
    }
}

/// A content part docwright's extraction already made of a document (SPEC D2, W3).
#[derive(Debug, Clone, PartialEq)]
pub struct SourcePart {
    /// The extractor's part id.
    pub id: String,
    pub type_group: TypeGroup,
    pub mime_type: String,
    pub label: Option<String>,
    /// The model-readable text (a table's text form, an image's OCR text).
    pub text: String,
    /// A table's cells.
    pub rows: Option<Vec<Vec<String>>>,
    /// How the extractor got it: `text | ocr | table | ...`.
    pub method: String,
    pub page: Option<u32>,
    pub slide: Option<u32>,
    pub sheet: Option<String>,
}

impl SourcePart {
    /// Where the part sits in its document, in words (`p. 3`, `slide 2`, `sheet Q1`).
    pub fn location(&self) -> Option<String> {
        match (self.page, self.slide, &self.sheet) {
            (Some(p), _, _) => Some(format!("p. {p}")),
            (_, Some(s), _) => Some(format!("slide {s}")),
            (_, _, Some(s)) => Some(format!("sheet {s}")),
            _ => None,
        }
    }
}

/// A document found by `context.search_documents`.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub document: DocumentInfo,
    /// Where it is filed (`Client / Project / Folder`), if it is placed in a project.
    pub folder: Option<String>,
    /// A passage around the match (empty when listing).
    pub snippet: String,
}

/// A problem reading documents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("document {0} not found")]
    NotFound(String),
    /// The document exists but has no usable content (extraction failed or is still running).
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Failed(String),
}

/// Where documents and their parts come from (the engine: files, extraction, blobs, search).
pub trait DocumentSource: Send + Sync {
    /// The content parts of a document, in document order. Waits (bounded) for an extraction
    /// that is still running.
    fn parts<'a>(&'a self, doc: &'a DocumentInfo) -> BoxFuture<'a, Result<Vec<SourcePart>, SourceError>>;

    /// The bytes of an image part.
    fn part_data<'a>(&'a self, doc: &'a DocumentInfo, part_id: &'a str) -> BoxFuture<'a, Result<Vec<u8>, SourceError>>;

    /// The bytes of the document itself (for image documents placed as they are).
    fn content<'a>(&'a self, doc: &'a DocumentInfo) -> BoxFuture<'a, Result<Vec<u8>, SourceError>>;

    /// Documents of the caller's projects matching `query`, best first; an empty query lists
    /// the documents of the projects tree.
    fn search<'a>(&'a self, query: &'a str, limit: u32) -> BoxFuture<'a, Result<Vec<Hit>, SourceError>>;
}

/// A rendered file on its way to storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Unique within the workflow and the same on every run (the structure's document id and
    /// the file's position): a sink stores a key once, so a re-run does not duplicate files.
    pub key: String,
    pub filename: String,
    pub mime_type: String,
    pub bytes: Vec<u8>,
}

/// A stored result file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub file_id: String,
    pub file_name: String,
    pub mime_type: String,
    pub size: u64,
}

/// Where finished files go (the engine: the blob store, a file record, and a result on each
/// source document).
pub trait ResultSink: Send + Sync {
    /// Stores `file`, made from the documents `sources` (file ids).
    fn store<'a>(&'a self, file: Rendered, sources: &'a [String]) -> BoxFuture<'a, Result<StoredFile, String>>;
}

/// A progress event of a run (SPEC W1 `/api/workflows/{id}/events`). The end of a run
/// (`completed` or `error`) is reported by whoever runs the workflow, which knows how it ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    PhaseStarted {
        phase: String,
        description: String,
    },
    /// `percent` 0-100 of the whole run, as well as can be told.
    Progress {
        percent: u8,
        message: String,
    },
    TaskStarted {
        task_id: String,
        objective: String,
    },
    ActionStarted {
        task_id: String,
        step: u32,
        action: String,
    },
    SectionDone {
        document_id: String,
        section_id: String,
        ok: bool,
    },
    DocumentReady {
        file: StoredFile,
    },
}

/// One node of the run's trace tree (SPEC W4).
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub id: String,
    pub parent_id: Option<String>,
    pub title: String,
    pub label: String,
    pub message: String,
    pub started_at_ms: i64,
    pub finished_at_ms: Option<i64>,
    /// `None` while it runs.
    pub outcome: Option<LogOutcome>,
    /// Money spent by this node and everything under it.
    pub cost: Money,
    /// Set on AI call leaves.
    pub ai: Option<AiCallInfo>,
}

/// How a trace node ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogOutcome {
    Ok,
    Failed(String),
}

/// What an AI call leaf records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiCallInfo {
    pub key: String,
    pub model: String,
    pub provider: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub duration_ms: u64,
    /// True when the answer came from a checkpoint of an earlier run (no new call was made).
    pub replayed: bool,
}

/// Where the run reports what it does. Reports never fail the run: a sink that cannot keep
/// one logs the problem itself.
pub trait TraceSink: Send + Sync {
    fn event(&self, event: Event) -> BoxFuture<'_, ()>;

    /// A trace node as it starts and again as it ends (the same `id`: replace it).
    fn log(&self, entry: LogEntry) -> BoxFuture<'_, ()>;

    /// A prompt or response under its fixed name (only when the run has `debug_trace` on).
    fn debug_file(&self, name: String, content: String) -> BoxFuture<'_, ()>;
}

/// Answers of earlier runs of the same workflow, by call key.
pub trait Checkpoints: Send + Sync {
    fn load<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Option<AiAnswer>>;
    fn save<'a>(&'a self, key: &'a str, answer: &'a AiAnswer) -> BoxFuture<'a, ()>;
}

/// Everything the pipeline runs over.
#[derive(Clone)]
pub struct Ports {
    pub ai: Arc<dyn AiCaller>,
    pub documents: Arc<dyn DocumentSource>,
    pub results: Arc<dyn ResultSink>,
    pub trace: Arc<dyn TraceSink>,
    pub checkpoints: Arc<dyn Checkpoints>,
}
