//! Test support (feature `testing`): a scripted AI and in-memory documents, results, trace and
//! checkpoints, so the whole pipeline runs in a unit test with no server and no provider.

// Test support: a broken script must fail the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use docwright_core::money::Money;
use serde_json::Value;

use crate::ports::{
    AiAnswer, AiCall, AiCaller, AiError, BoxFuture, Checkpoints, DocumentInfo, DocumentSource, Event, Hit, LogEntry,
    Ports, Rendered, ResultSink, SourceError, SourcePart, StoredFile, TraceSink, TypeGroup,
};

type Respond = dyn Fn(&AiCall) -> Result<Value, AiError> + Send + Sync;

/// An AI that answers each call with what the test's function says, after a fixed latency,
/// at a fixed price, and remembers every call.
pub struct ScriptedAi {
    respond: Box<Respond>,
    latency: Duration,
    price: Money,
    web: bool,
    calls: Mutex<Vec<AiCall>>,
}

impl ScriptedAi {
    pub fn new(respond: impl Fn(&AiCall) -> Result<Value, AiError> + Send + Sync + 'static) -> Self {
        Self {
            respond: Box::new(respond),
            latency: Duration::ZERO,
            price: Money::from_micros(1_000),
            web: false,
            calls: Mutex::default(),
        }
    }

    /// Every answer arrives after `latency` (the pipeline benchmark's fixed-latency model).
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    pub fn with_web_search(mut self) -> Self {
        self.web = true;
        self
    }

    /// The calls made so far, in the order they were made.
    pub fn calls(&self) -> Vec<AiCall> {
        self.calls.lock().unwrap().clone()
    }

    pub fn keys(&self) -> Vec<String> {
        self.calls().into_iter().map(|c| c.key).collect()
    }
}

impl AiCaller for ScriptedAi {
    fn call<'a>(&'a self, call: &'a AiCall) -> BoxFuture<'a, Result<AiAnswer, AiError>> {
        Box::pin(async move {
            self.calls.lock().unwrap().push(call.clone());
            if !self.latency.is_zero() {
                tokio::time::sleep(self.latency).await;
            }
            let value = (self.respond)(call)?;
            Ok(AiAnswer {
                value,
                model: "scripted".to_owned(),
                provider: "test".to_owned(),
                price: self.price,
                input_tokens: 10,
                output_tokens: 5,
                duration_ms: self.latency.as_millis() as u64,
                attempts: 1,
            })
        })
    }

    fn can_search_web(&self) -> bool {
        self.web
    }
}

/// A document held in memory: its record, parts, image parts' bytes by part id, and content.
type StoredDocument = (DocumentInfo, Vec<SourcePart>, HashMap<String, Vec<u8>>, Vec<u8>);

/// Documents held in memory.
#[derive(Default)]
pub struct MemoryDocuments {
    docs: Mutex<Vec<StoredDocument>>,
    folders: Mutex<HashMap<String, String>>,
}

impl MemoryDocuments {
    /// A document with these parts; `data` holds image parts' bytes by part id, `content` the
    /// file itself.
    pub fn add(&self, info: DocumentInfo, parts: Vec<SourcePart>, data: HashMap<String, Vec<u8>>, content: Vec<u8>) {
        self.docs.lock().unwrap().push((info, parts, data, content));
    }

    /// Files the document under `folder` for searches.
    pub fn file_under(&self, id: &str, folder: &str) {
        self.folders.lock().unwrap().insert(id.to_owned(), folder.to_owned());
    }

    fn find(&self, id: &str) -> Result<StoredDocument, SourceError> {
        self.docs
            .lock()
            .unwrap()
            .iter()
            .find(|d| d.0.id == id)
            .cloned()
            .ok_or_else(|| SourceError::NotFound(id.to_owned()))
    }
}

impl DocumentSource for MemoryDocuments {
    fn parts<'a>(&'a self, doc: &'a DocumentInfo) -> BoxFuture<'a, Result<Vec<SourcePart>, SourceError>> {
        Box::pin(async move { Ok(self.find(&doc.id)?.1) })
    }

    fn part_data<'a>(&'a self, doc: &'a DocumentInfo, part_id: &'a str) -> BoxFuture<'a, Result<Vec<u8>, SourceError>> {
        Box::pin(async move {
            self.find(&doc.id)?.2.get(part_id).cloned().ok_or_else(|| SourceError::NotFound(part_id.to_owned()))
        })
    }

    fn content<'a>(&'a self, doc: &'a DocumentInfo) -> BoxFuture<'a, Result<Vec<u8>, SourceError>> {
        Box::pin(async move { Ok(self.find(&doc.id)?.3) })
    }

    fn search<'a>(&'a self, query: &'a str, limit: u32) -> BoxFuture<'a, Result<Vec<Hit>, SourceError>> {
        Box::pin(async move {
            let folders = self.folders.lock().unwrap().clone();
            let q = query.to_lowercase();
            Ok(self
                .docs
                .lock()
                .unwrap()
                .iter()
                .filter(|(info, parts, ..)| {
                    q.is_empty()
                        || parts.iter().any(|p| p.text.to_lowercase().contains(&q))
                        || info.file_name.to_lowercase().contains(&q)
                })
                .take(limit as usize)
                .map(|(info, parts, ..)| Hit {
                    document: info.clone(),
                    folder: folders.get(&info.id).cloned(),
                    snippet: if q.is_empty() {
                        String::new()
                    } else {
                        parts.first().map(|p| p.text.clone()).unwrap_or_default()
                    },
                })
                .collect())
        })
    }
}

/// Results held in memory: one file per key, however often it is stored.
#[derive(Default)]
pub struct MemoryResults {
    files: Mutex<Vec<(Rendered, Vec<String>, StoredFile)>>,
}

impl MemoryResults {
    /// The stored files with their bytes and sources.
    pub fn files(&self) -> Vec<(Rendered, Vec<String>)> {
        self.files.lock().unwrap().iter().map(|(r, s, _)| (r.clone(), s.clone())).collect()
    }
}

impl ResultSink for MemoryResults {
    fn store<'a>(&'a self, file: Rendered, sources: &'a [String]) -> BoxFuture<'a, Result<StoredFile, String>> {
        Box::pin(async move {
            let mut files = self.files.lock().unwrap();
            if let Some((_, _, stored)) = files.iter().find(|(r, ..)| r.key == file.key) {
                return Ok(stored.clone());
            }
            let stored = StoredFile {
                file_id: format!("result_{}", files.len() + 1),
                file_name: file.filename.clone(),
                mime_type: file.mime_type.clone(),
                size: file.bytes.len() as u64,
            };
            files.push((file, sources.to_vec(), stored.clone()));
            Ok(stored)
        })
    }
}

/// The trace held in memory.
#[derive(Default)]
pub struct MemoryTrace {
    pub events: Mutex<Vec<Event>>,
    /// Log entries by id, in the order they first appeared.
    pub log: Mutex<Vec<LogEntry>>,
    pub debug: Mutex<Vec<(String, String)>>,
}

impl MemoryTrace {
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    pub fn log(&self) -> Vec<LogEntry> {
        self.log.lock().unwrap().clone()
    }

    pub fn debug_names(&self) -> Vec<String> {
        self.debug.lock().unwrap().iter().map(|(n, _)| n.clone()).collect()
    }
}

impl TraceSink for MemoryTrace {
    fn event(&self, event: Event) -> BoxFuture<'_, ()> {
        Box::pin(async move { self.events.lock().unwrap().push(event) })
    }

    fn log(&self, entry: LogEntry) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let mut log = self.log.lock().unwrap();
            match log.iter_mut().find(|e| e.id == entry.id) {
                Some(e) => *e = entry,
                None => log.push(entry),
            }
        })
    }

    fn debug_file(&self, name: String, content: String) -> BoxFuture<'_, ()> {
        Box::pin(async move { self.debug.lock().unwrap().push((name, content)) })
    }
}

/// Checkpoints held in memory.
#[derive(Default)]
pub struct MemoryCheckpoints {
    answers: Mutex<HashMap<String, AiAnswer>>,
}

impl MemoryCheckpoints {
    pub fn len(&self) -> usize {
        self.answers.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Checkpoints for MemoryCheckpoints {
    fn load<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Option<AiAnswer>> {
        Box::pin(async move { self.answers.lock().unwrap().get(key).cloned() })
    }

    fn save<'a>(&'a self, key: &'a str, answer: &'a AiAnswer) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.answers.lock().unwrap().insert(key.to_owned(), answer.clone());
        })
    }
}

/// The in-memory ports of a test, with handles to look inside.
pub struct Harness {
    pub ai: Arc<ScriptedAi>,
    pub documents: Arc<MemoryDocuments>,
    pub results: Arc<MemoryResults>,
    pub trace: Arc<MemoryTrace>,
    pub checkpoints: Arc<MemoryCheckpoints>,
}

impl Harness {
    pub fn new(ai: ScriptedAi) -> Self {
        Self {
            ai: Arc::new(ai),
            documents: Arc::default(),
            results: Arc::default(),
            trace: Arc::default(),
            checkpoints: Arc::default(),
        }
    }

    pub fn ports(&self) -> Ports {
        Ports {
            ai: self.ai.clone(),
            documents: self.documents.clone(),
            results: self.results.clone(),
            trace: self.trace.clone(),
            checkpoints: self.checkpoints.clone(),
        }
    }
}

/// A text part for a test document.
pub fn text_part(id: &str, text: &str, page: Option<u32>) -> SourcePart {
    SourcePart {
        id: id.to_owned(),
        type_group: TypeGroup::Text,
        mime_type: "text/plain".to_owned(),
        label: Some("paragraph".to_owned()),
        text: text.to_owned(),
        rows: None,
        method: "text".to_owned(),
        page,
        slide: None,
        sheet: None,
    }
}

/// An image part for a test document (its bytes go in the document's `data`).
pub fn image_part(id: &str, ocr_text: &str, page: Option<u32>) -> SourcePart {
    SourcePart {
        id: id.to_owned(),
        type_group: TypeGroup::Image,
        mime_type: "image/png".to_owned(),
        label: Some("image".to_owned()),
        text: ocr_text.to_owned(),
        rows: None,
        method: "ocr".to_owned(),
        page,
        slide: None,
        sheet: None,
    }
}

/// A 1×1 PNG.
pub fn tiny_png() -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")
        .unwrap()
}
