//! The events of the streams: a chat turn's (`POST /chats/{id}/messages`, `GET
//! /chats/{id}/events`, `WS /chats/{id}/stream`) and a workflow's (`GET
//! /api/workflows/{id}/events`). On the wire an event is a name and a JSON object (SSE `event:`
//! and `data:`, or a WebSocket frame `{id, event, data}`); [`ChatEvent::parse`] and
//! [`WorkflowEvent::parse`] read them into typed values, keeping names a newer server adds as
//! `Other` rather than failing.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One event as the wire carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawEvent {
    /// The resumable id (`Last-Event-ID`): `<turn id>:<number>` for chats, a number for workflows.
    #[serde(default)]
    pub id: Option<String>,
    pub event: String,
    #[serde(default)]
    pub data: Value,
}

/// Token counts of an answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ChatUsageOut))]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// The events of a chat turn, in the order a turn sends them.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    /// `phase_started {phase, description}`: `context`, `retrieval`, `generation`.
    PhaseStarted { phase: String, description: String },
    /// `llm_token {token}`: the next piece of the answer.
    Token { token: String },
    /// `llm_final {content, model, price, usage, sources}`: the whole answer and what it cost.
    Final { content: String, model: String, price: String, usage: Usage, sources: Vec<Value> },
    /// `completed {message_id}`: the turn ended well (the last event).
    Completed { message_id: String },
    /// `error {code, message}`: the turn failed (the last event).
    Error { code: String, message: String },
    /// An event this client does not know.
    Other { event: String, data: Value },
}

fn text(data: &Value, key: &str) -> String {
    data.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

impl ChatEvent {
    /// The typed event of a wire event's name and data.
    pub fn parse(event: &str, data: &Value) -> Self {
        match event {
            "phase_started" => {
                Self::PhaseStarted { phase: text(data, "phase"), description: text(data, "description") }
            }
            "llm_token" => Self::Token { token: text(data, "token") },
            "llm_final" => Self::Final {
                content: text(data, "content"),
                model: text(data, "model"),
                price: text(data, "price"),
                usage: data.get("usage").cloned().and_then(|u| serde_json::from_value(u).ok()).unwrap_or_default(),
                sources: data.get("sources").and_then(Value::as_array).cloned().unwrap_or_default(),
            },
            "completed" => Self::Completed { message_id: text(data, "message_id") },
            "error" => Self::Error { code: text(data, "code"), message: text(data, "message") },
            other => Self::Other { event: other.to_owned(), data: data.clone() },
        }
    }

    /// Whether the turn's stream ends with this event.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Completed { .. } | Self::Error { .. })
    }
}

/// A file a workflow produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProducedFile {
    pub file_id: String,
    pub file_name: String,
    pub mime_type: String,
    /// Where to download it: `/files/{file_id}/content`.
    pub download_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// The events of a workflow run (SPEC W1).
#[derive(Debug, Clone, PartialEq)]
pub enum WorkflowEvent {
    /// `phase_started {phase, description}`.
    PhaseStarted { phase: String, description: String },
    /// `progress {progress, message}`: percent done.
    Progress { percent: f64, message: String },
    /// `task_started {task_id, objective}`.
    TaskStarted { task_id: String, objective: String },
    /// `action_started {task_id, step, action}`.
    ActionStarted { task_id: String, step: u64, action: String },
    /// `section_done {document_id, section_id, ok}`.
    SectionDone { document_id: String, section_id: String, ok: bool },
    /// `document_ready {file_id, file_name, mime_type, size, download_url}`.
    DocumentReady { file: ProducedFile },
    /// `completed {workflow_id, status, cost, files}` (the last event).
    Completed { workflow_id: String, cost: String, files: Vec<ProducedFile> },
    /// `error {code, message, status}` (the last event: failed or cancelled).
    Error { code: String, message: String, status: String },
    /// An event this client does not know.
    Other { event: String, data: Value },
}

fn id_text(data: &Value, key: &str) -> String {
    match data.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

impl WorkflowEvent {
    /// The typed event of a wire event's name and data.
    pub fn parse(event: &str, data: &Value) -> Self {
        let file = |v: &Value| serde_json::from_value::<ProducedFile>(v.clone()).ok();
        match event {
            "phase_started" => {
                Self::PhaseStarted { phase: text(data, "phase"), description: text(data, "description") }
            }
            "progress" => Self::Progress {
                percent: data.get("progress").and_then(Value::as_f64).unwrap_or_default(),
                message: text(data, "message"),
            },
            "task_started" => {
                Self::TaskStarted { task_id: id_text(data, "task_id"), objective: text(data, "objective") }
            }
            "action_started" => Self::ActionStarted {
                task_id: id_text(data, "task_id"),
                step: data.get("step").and_then(Value::as_u64).unwrap_or_default(),
                action: text(data, "action"),
            },
            "section_done" => Self::SectionDone {
                document_id: id_text(data, "document_id"),
                section_id: id_text(data, "section_id"),
                ok: data.get("ok").and_then(Value::as_bool).unwrap_or_default(),
            },
            "document_ready" => match file(data) {
                Some(file) => Self::DocumentReady { file },
                None => Self::Other { event: event.to_owned(), data: data.clone() },
            },
            "completed" => Self::Completed {
                workflow_id: text(data, "workflow_id"),
                cost: text(data, "cost"),
                files: data
                    .get("files")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(file).collect())
                    .unwrap_or_default(),
            },
            "error" => {
                Self::Error { code: text(data, "code"), message: text(data, "message"), status: text(data, "status") }
            }
            other => Self::Other { event: other.to_owned(), data: data.clone() },
        }
    }

    /// Whether the run's stream ends with this event.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Completed { .. } | Self::Error { .. })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn events_are_read_by_name_and_unknown_ones_kept() {
        let e = ChatEvent::parse(
            "llm_final",
            &json!({"content": "hi", "model": "m", "price": "0.01",
            "usage": {"input_tokens": 3, "output_tokens": 1}, "sources": [{"file_id": "f"}]}),
        );
        assert_eq!(
            e,
            ChatEvent::Final {
                content: "hi".into(),
                model: "m".into(),
                price: "0.01".into(),
                usage: Usage { input_tokens: 3, output_tokens: 1 },
                sources: vec![json!({"file_id": "f"})],
            }
        );
        assert!(ChatEvent::parse("error", &json!({"code": "x", "message": "y"})).is_terminal());
        assert!(matches!(ChatEvent::parse("new_thing", &json!({})), ChatEvent::Other { .. }));
        let done = WorkflowEvent::parse(
            "completed",
            &json!({"workflow_id": "w", "status": "completed", "cost": "0",
            "files": [{"file_id": "f", "file_name": "a.csv", "mime_type": "text/csv", "download_url": "/files/f/content"}]}),
        );
        let WorkflowEvent::Completed { files, .. } = done else { panic!("not completed") };
        assert_eq!(files[0].file_name, "a.csv");
        assert_eq!(
            WorkflowEvent::parse("action_started", &json!({"task_id": 1, "step": 2, "action": "a"})),
            WorkflowEvent::ActionStarted { task_id: "1".into(), step: 2, action: "a".into() }
        );
    }
}
