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
        Self { registry, requests, latency, errors, in_flight }
    }

    /// The Prometheus / OpenMetrics text exposition.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}
