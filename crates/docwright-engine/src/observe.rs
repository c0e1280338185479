//! What the gateway and extraction report as they work, for metrics (SPEC P7). The engine
//! knows no metrics library: the server implements [`Observer`] over its Prometheus registry
//! and hands it over with [`crate::Engine::with_observer`]; without one nothing is reported.

use std::time::Duration;

/// One attempt of an AI call that reached a provider (or failed on the way).
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    pub provider: &'a str,
    pub model: &'a str,
    /// `ok`, or the failure's stable kind (`timeout`, `upstream_5xx`, ...).
    pub outcome: &'a str,
    pub duration: Duration,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// The exact price, in micro-units of the billing currency.
    pub cost_micros: i64,
}

/// Receives the engine's reports; every method has a default that ignores it.
pub trait Observer: Send + Sync + 'static {
    /// An attempt ended (each one: retries and fallbacks too).
    fn ai_attempt(&self, _attempt: &Attempt<'_>) {}
    /// A call was answered by `to` after the first model tried, `from`, did not answer.
    fn ai_fallback(&self, _from: &str, _to: &str) {}
    /// A streamed answer's first text arrived `after` the stream was asked for.
    fn ai_first_token(&self, _provider: &str, _model: &str, _after: Duration) {}
    /// A file's extraction ended: `done`, or its failure's code.
    fn extraction(&self, _outcome: &str, _took: Duration) {}
}

/// The observer of an engine nobody observes.
#[derive(Debug, Default)]
pub(crate) struct Unobserved;

impl Observer for Unobserved {}
