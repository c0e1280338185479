//! Prometheus metrics (SPEC P7), one registry per application instance so that tests running
//! several servers in one process do not share counters.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobStateLabels {
    pub kind: String,
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobOutcomeLabels {
    pub kind: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AiLabels {
    pub provider: String,
    pub model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AiOutcomeLabels {
    pub provider: String,
    pub model: String,
    /// `ok`, or the failure's kind.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    pub provider: String,
    pub model: String,
    /// `input` or `output`.
    pub direction: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderLabels {
    pub provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FallbackLabels {
    pub from: String,
    pub to: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

type IntGauge = Gauge<i64, std::sync::atomic::AtomicI64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct BuildLabels {
    pub version: String,
    pub database: String,
}

/// The metrics of one server.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram>,
    pub errors: Family<ErrorLabels, Counter>,
    pub in_flight: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// Jobs in the database by kind and state, read at each scrape (every server sees them all).
    pub jobs: Family<JobStateLabels, Gauge<i64, std::sync::atomic::AtomicI64>>,
    /// How long the oldest due job of a kind has waited for a worker, read at each scrape.
    pub job_oldest_wait: Family<JobLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// This server's attempts: due → started.
    pub job_wait: Family<JobLabels, Histogram>,
    /// This server's attempts: started → ended, by outcome.
    pub job_run: Family<JobOutcomeLabels, Histogram>,
    /// AI call attempts by provider, model and outcome.
    pub ai_calls: Family<AiOutcomeLabels, Counter>,
    pub ai_tokens: Family<TokenLabels, Counter>,
    /// Exact cost in micro-units of the billing currency.
    pub ai_cost_micros: Family<AiLabels, Counter>,
    pub ai_latency: Family<ProviderLabels, Histogram>,
    pub ai_first_token: Family<ProviderLabels, Histogram>,
    pub ai_fallbacks: Family<FallbackLabels, Counter>,
    /// Each model's consecutive failures and whether its breaker rests it, read at each scrape.
    pub ai_breaker_failures: Family<AiLabels, IntGauge>,
    pub ai_breaker_resting: Family<AiLabels, IntGauge>,
    pub extractions: Family<OutcomeLabels, Counter>,
    pub extraction_time: Family<OutcomeLabels, Histogram>,
}

impl Metrics {
    pub fn new(database: &str) -> Self {
        let mut registry = Registry::with_prefix("docwright");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by method, route and status", requests.clone());
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            // 0.1 ms .. ~13 s
            Histogram::new(exponential_buckets(0.0001, 2.5, 14))
        });
        registry.register("http_request_duration_seconds", "HTTP request latency by method and route", latency.clone());
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register("http_errors", "Error responses by stable error code", errors.clone());
        let in_flight = Gauge::<i64, std::sync::atomic::AtomicI64>::default();
        registry.register("http_requests_in_flight", "Requests being served now", in_flight.clone());
        let build = Family::<BuildLabels, Gauge<i64, std::sync::atomic::AtomicI64>>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                database: database.to_owned(),
            })
            .set(1);
        registry.register("build_info", "Version and database backend of this server", build);
        let jobs = Family::<JobStateLabels, Gauge<i64, std::sync::atomic::AtomicI64>>::default();
        registry.register(
            "jobs",
            "Jobs of the queue by kind and state (completed and cancelled are not counted)",
            jobs.clone(),
        );
        let job_oldest_wait = Family::<JobLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "job_oldest_wait_seconds",
            "How long the oldest due job of a kind has waited for a worker",
            job_oldest_wait.clone(),
        );
        let job_wait = Family::<JobLabels, Histogram>::new_with_constructor(job_histogram);
        let wait_help = "Job latency from due (enqueued, or the retry's time) to started, on this server";
        registry.register("job_wait_seconds", wait_help, job_wait.clone());
        let job_run = Family::<JobOutcomeLabels, Histogram>::new_with_constructor(job_histogram);
        let run_help = "Job attempts from start to end by outcome, on this server";
        registry.register("job_run_seconds", run_help, job_run.clone());
        let ai_calls = Family::<AiOutcomeLabels, Counter>::default();
        registry.register(
            "ai_calls",
            "AI call attempts by provider, model and outcome (ok or the failure's kind)",
            ai_calls.clone(),
        );
        let ai_tokens = Family::<TokenLabels, Counter>::default();
        registry.register(
            "ai_tokens",
            "Tokens of answered AI calls by provider, model and direction",
            ai_tokens.clone(),
        );
        let ai_cost_micros = Family::<AiLabels, Counter>::default();
        registry.register(
            "ai_cost_micros",
            "Exact cost of AI calls in micro-units of the billing currency",
            ai_cost_micros.clone(),
        );
        let ai_latency = Family::<ProviderLabels, Histogram>::new_with_constructor(ai_histogram);
        registry.register(
            "ai_call_duration_seconds",
            "AI call attempts from request to answer, per provider",
            ai_latency.clone(),
        );
        let ai_first_token = Family::<ProviderLabels, Histogram>::new_with_constructor(ai_histogram);
        registry.register(
            "ai_time_to_first_token_seconds",
            "Streamed AI answers from request to their first text, per provider",
            ai_first_token.clone(),
        );
        let ai_fallbacks = Family::<FallbackLabels, Counter>::default();
        registry.register("ai_fallbacks", "Calls answered by another model than the first tried", ai_fallbacks.clone());
        let ai_breaker_failures = Family::<AiLabels, IntGauge>::default();
        registry.register(
            "ai_model_consecutive_failures",
            "Consecutive failed calls of a model (its circuit breaker's count)",
            ai_breaker_failures.clone(),
        );
        let ai_breaker_resting = Family::<AiLabels, IntGauge>::default();
        registry.register("ai_model_resting", "1 while a model's circuit breaker rests it", ai_breaker_resting.clone());
        let extractions = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "extractions",
            "File extractions by outcome (done or the failure's code)",
            extractions.clone(),
        );
        let extraction_time = Family::<OutcomeLabels, Histogram>::new_with_constructor(job_histogram);
        registry.register("extraction_duration_seconds", "File extractions by outcome", extraction_time.clone());
        Self {
            registry,
            requests,
            latency,
            errors,
            in_flight,
            jobs,
            job_oldest_wait,
            job_wait,
            job_run,
            ai_calls,
            ai_tokens,
            ai_cost_micros,
            ai_latency,
            ai_first_token,
            ai_fallbacks,
            ai_breaker_failures,
            ai_breaker_resting,
            extractions,
            extraction_time,
        }
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }

    /// The Prometheus text format 0.0.4, for scrapers that do not ask for OpenMetrics.
    pub fn render_classic(&self) -> Result<String, std::fmt::Error> {
        Ok(classic(&self.render()?))
    }

    /// Sets the breaker gauges from the gateway's providers.
    pub(crate) fn set_breakers(&self, providers: &[docwright_engine::gateway::ProviderInfo]) {
        self.ai_breaker_failures.clear();
        self.ai_breaker_resting.clear();
        for p in providers {
            for m in &p.models {
                let labels = AiLabels { provider: p.name.clone(), model: m.model.clone() };
                self.ai_breaker_failures.get_or_create(&labels).set(i64::from(m.consecutive_failures));
                self.ai_breaker_resting.get_or_create(&labels).set(i64::from(m.resting_secs.is_some()));
            }
        }
    }
}

/// OpenMetrics text as the classic Prometheus format 0.0.4: a counter's samples are named
/// `<name>_total`, so its `# HELP`/`# TYPE` lines take that name too (the classic parser
/// matches samples to families by name); `# UNIT` and `# EOF` do not exist there.
fn classic(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> =
        openmetrics.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter")).collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters.contains(name).then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// Buckets of AI call latencies: 10 ms .. ~5 min.
fn ai_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.2, 14))
}

/// Feeds the AI and extraction metrics from the engine's reports.
pub(crate) struct EngineObserver(pub std::sync::Arc<Metrics>);

impl docwright_engine::observe::Observer for EngineObserver {
    fn ai_attempt(&self, a: &docwright_engine::observe::Attempt<'_>) {
        let m = &self.0;
        let (provider, model) = (a.provider.to_owned(), a.model.to_owned());
        m.ai_calls
            .get_or_create(&AiOutcomeLabels {
                provider: provider.clone(),
                model: model.clone(),
                outcome: a.outcome.to_owned(),
            })
            .inc();
        m.ai_latency.get_or_create(&ProviderLabels { provider: provider.clone() }).observe(a.duration.as_secs_f64());
        for (direction, n) in [("input", a.input_tokens), ("output", a.output_tokens)] {
            if n > 0 {
                let labels =
                    TokenLabels { provider: provider.clone(), model: model.clone(), direction: direction.to_owned() };
                m.ai_tokens.get_or_create(&labels).inc_by(n);
            }
        }
        if a.cost_micros > 0 {
            m.ai_cost_micros.get_or_create(&AiLabels { provider, model }).inc_by(a.cost_micros as u64);
        }
    }

    fn ai_fallback(&self, from: &str, to: &str) {
        self.0.ai_fallbacks.get_or_create(&FallbackLabels { from: from.to_owned(), to: to.to_owned() }).inc();
    }

    fn ai_first_token(&self, provider: &str, _model: &str, after: std::time::Duration) {
        self.0
            .ai_first_token
            .get_or_create(&ProviderLabels { provider: provider.to_owned() })
            .observe(after.as_secs_f64());
    }

    fn extraction(&self, outcome: &str, took: std::time::Duration) {
        let labels = OutcomeLabels { outcome: outcome.to_owned() };
        self.0.extractions.get_or_create(&labels).inc();
        self.0.extraction_time.get_or_create(&labels).observe(took.as_secs_f64());
    }
}

/// Buckets of job latencies: 1 ms .. ~4 min.
fn job_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.5, 14))
}

/// Feeds the job histograms from the runtime's attempts.
pub(crate) struct JobObserver(pub std::sync::Arc<Metrics>);

impl docwright_jobs::Observer for JobObserver {
    fn started(&self, kind: &str, waited: std::time::Duration) {
        self.0.job_wait.get_or_create(&JobLabels { kind: kind.to_owned() }).observe(waited.as_secs_f64());
    }

    fn finished(&self, kind: &str, outcome: &docwright_jobs::Outcome, ran: std::time::Duration) {
        let labels = JobOutcomeLabels { kind: kind.to_owned(), outcome: outcome.as_str().to_owned() };
        self.0.job_run.get_or_create(&labels).observe(ran.as_secs_f64());
    }
}

impl Metrics {
    /// Sets the queue gauges from a depth reading (kinds and states no longer present disappear).
    pub(crate) fn set_job_depth(&self, depth: &[docwright_storage::jobs::Depth], now: docwright_core::time::Timestamp) {
        self.jobs.clear();
        self.job_oldest_wait.clear();
        for d in depth {
            self.jobs
                .get_or_create(&JobStateLabels { kind: d.kind.clone(), state: d.state.as_str().to_owned() })
                .set(d.count);
            if let Some(oldest) = d.oldest_due {
                let waited = (now.millis() - oldest.millis()).max(0) as f64 / 1000.0;
                let g = self.job_oldest_wait.get_or_create(&JobLabels { kind: d.kind.clone() });
                if waited > g.get() {
                    g.set(waited);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn classic_text_names_counter_families_by_their_samples() {
        let om = "# HELP docwright_x Things.\n# TYPE docwright_x counter\ndocwright_x_total{a=\"1\"} 3\n\
                  # HELP docwright_g A gauge.\n# TYPE docwright_g gauge\n# UNIT docwright_g seconds\ndocwright_g 1\n# EOF\n";
        assert_eq!(
            super::classic(om),
            "# HELP docwright_x_total Things.\n# TYPE docwright_x_total counter\ndocwright_x_total{a=\"1\"} 3\n\
             # HELP docwright_g A gauge.\n# TYPE docwright_g gauge\ndocwright_g 1\n"
        );
    }
}
