//! The state shared by every handler: a `Clone` struct of `Arc`s, built only through `new`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use docwright_engine::Engine;
use docwright_storage::Db;

use crate::metrics::Metrics;
use crate::tasks::Background;

#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub db: Db,
    pub metrics: Arc<Metrics>,
    /// Owned background work (streams being forwarded, housekeeping), stopped at shutdown.
    pub tasks: Arc<Background>,
    /// The job workers of this server (`[jobs] enabled`), stopped gracefully at shutdown.
    pub jobs: Option<docwright_jobs::Runtime>,
    inner: Arc<Inner>,
}

struct Inner {
    blob_dir: PathBuf,
    metrics_token: Option<String>,
    started: Instant,
    shutting_down: AtomicBool,
}

impl AppState {
    pub fn new(engine: Engine, blob_dir: PathBuf, metrics_token: Option<String>) -> Self {
        let db = engine.db().clone();
        let metrics = Arc::new(Metrics::new(db.backend().as_str()));
        let inner = Inner { blob_dir, metrics_token, started: Instant::now(), shutting_down: AtomicBool::new(false) };
        Self { engine, db, metrics, tasks: Arc::new(Background::new()), jobs: None, inner: Arc::new(inner) }
    }

    /// With these job workers (started by the caller).
    pub fn with_jobs(mut self, runtime: docwright_jobs::Runtime) -> Self {
        self.jobs = Some(runtime);
        self
    }

    pub fn blob_dir(&self) -> &std::path::Path {
        &self.inner.blob_dir
    }

    pub fn metrics_token(&self) -> Option<&str> {
        self.inner.metrics_token.as_deref()
    }

    pub fn uptime_secs(&self) -> u64 {
        self.inner.started.elapsed().as_secs()
    }

    /// Marks the server as draining: `/api/ready` answers 503 from now on.
    pub fn begin_shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::SeqCst)
    }
}
