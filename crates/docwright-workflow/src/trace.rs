//! The run's trace (SPEC W4): the operation tree with timings, costs and outcomes, the
//! progress events, and the debug files.
//!
//! Every operation is a [`LogEntry`] reported to the sink when it starts and again when it
//! ends; AI calls are leaves reported once, when they end. An AI call's price is added to its
//! leaf and to every ancestor, so each node's cost is what it and everything under it spent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use docwright_core::money::Money;
use docwright_core::time::Timestamp;

use crate::ports::{AiAnswer, AiCallInfo, Event, LogEntry, LogOutcome, TraceSink};

#[derive(Default)]
struct State {
    entries: HashMap<String, LogEntry>,
    total: Money,
    /// How often each debug name and operation id was used, for unique suffixes.
    names: HashMap<String, u32>,
}

/// The trace of one run.
pub(crate) struct Tracer {
    sink: Arc<dyn TraceSink>,
    debug: bool,
    state: Mutex<State>,
}

impl Tracer {
    pub(crate) fn new(sink: Arc<dyn TraceSink>, debug: bool) -> Self {
        Self { sink, debug, state: Mutex::default() }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // A poisoned lock means a panic elsewhere mid-update; the trace stays usable.
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// `base`, or `base_2`, `base_3`, ... when it was used before in this run.
    pub(crate) fn unique(&self, base: &str) -> String {
        self.with(|s| {
            let n = s.names.entry(base.to_owned()).or_insert(0);
            *n += 1;
            if *n == 1 { base.to_owned() } else { format!("{base}_{n}") }
        })
    }

    /// Starts an operation under `parent` and reports it; returns its id.
    pub(crate) async fn start(
        &self,
        id: String,
        parent: Option<&str>,
        title: &str,
        label: &str,
        message: &str,
    ) -> String {
        let entry = LogEntry {
            id: id.clone(),
            parent_id: parent.map(str::to_owned),
            title: title.to_owned(),
            label: label.to_owned(),
            message: message.to_owned(),
            started_at_ms: Timestamp::now().millis(),
            finished_at_ms: None,
            outcome: None,
            cost: Money::ZERO,
            ai: None,
        };
        self.with(|s| s.entries.insert(id.clone(), entry.clone()));
        self.sink.log(entry).await;
        id
    }

    /// Ends an operation with its outcome and reports it with its cost.
    pub(crate) async fn finish(&self, id: &str, outcome: Result<(), String>) {
        let entry = self.with(|s| {
            let e = s.entries.get_mut(id)?;
            e.finished_at_ms = Some(Timestamp::now().millis());
            e.outcome = Some(match outcome {
                Ok(()) => LogOutcome::Ok,
                Err(m) => LogOutcome::Failed(m),
            });
            Some(e.clone())
        });
        if let Some(e) = entry {
            self.sink.log(e).await;
        }
    }

    /// Records an AI call under `parent`: a leaf with its model, tokens and price, whose price
    /// is added to every ancestor.
    pub(crate) async fn ai_leaf(
        &self,
        parent: &str,
        key: &str,
        title: &str,
        started_at_ms: i64,
        result: Result<(&AiAnswer, bool), &str>,
    ) {
        let id = self.unique(&format!("{parent}_ai_{key}"));
        let now = Timestamp::now().millis();
        let (outcome, cost, ai) = match result {
            Ok((a, replayed)) => (
                LogOutcome::Ok,
                a.price,
                Some(AiCallInfo {
                    key: key.to_owned(),
                    model: a.model.clone(),
                    provider: a.provider.clone(),
                    input_tokens: a.input_tokens,
                    output_tokens: a.output_tokens,
                    duration_ms: a.duration_ms,
                    replayed,
                }),
            ),
            Err(m) => (LogOutcome::Failed(m.to_owned()), Money::ZERO, None),
        };
        let entry = LogEntry {
            id: id.clone(),
            parent_id: Some(parent.to_owned()),
            title: title.to_owned(),
            label: "AI call".to_owned(),
            message: ai.as_ref().map(|a| format!("{} ({})", a.model, a.provider)).unwrap_or_default(),
            started_at_ms,
            finished_at_ms: Some(now),
            outcome: Some(outcome),
            cost,
            ai,
        };
        self.with(|s| {
            s.total = s.total.checked_add(cost).unwrap_or(s.total);
            let mut next = Some(parent.to_owned());
            while let Some(p) = next {
                next = match s.entries.get_mut(&p) {
                    Some(e) => {
                        e.cost = e.cost.checked_add(cost).unwrap_or(e.cost);
                        e.parent_id.clone()
                    }
                    None => None,
                };
            }
            s.entries.insert(id, entry.clone());
        });
        self.sink.log(entry).await;
    }

    pub(crate) async fn event(&self, event: Event) {
        self.sink.event(event).await;
    }

    /// Keeps `content` under `name` when the run traces for debugging.
    pub(crate) async fn debug(&self, name: String, content: impl FnOnce() -> String) {
        if self.debug {
            self.sink.debug_file(name, content()).await;
        }
    }

    /// What the run has spent so far.
    pub(crate) fn total(&self) -> Money {
        self.with(|s| s.total)
    }
}
