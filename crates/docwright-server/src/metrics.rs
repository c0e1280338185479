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
        Self { registry, requests, latency, errors, in_flight, jobs, job_oldest_wait, job_wait, job_run }
    }

    /// The Prometheus / OpenMetrics text exposition.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
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
