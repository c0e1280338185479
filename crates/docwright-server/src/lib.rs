//! The HTTP edge of docwright: the only crate that knows HTTP and JSON.
//!
//! [`Application::build`] prepares everything from a [`Config`] — data directories, database
//! and migrations, bootstrap, the engine, the router, the listener — and
//! [`Application::run_until_stopped`] serves until the shutdown future resolves, then lets
//! in-flight requests finish (bounded by `server.shutdown_grace_secs`) and stops background
//! tasks. Tests bind port 0 and read [`Application::port`].
//!
//! Layout: `routes` (handlers, one module per area, and the route table), `guard` (the single
//! authentication + RBAC enforcement point), `edge` (request id, error envelope, metrics,
//! request log), `error` (`ApiError` and extractors using it), `pagination`, `metrics`,
//! `openapi` and `schemas` (the document), `tasks` (owned background work), `state`.

pub mod edge;
pub mod error;
pub mod guard;
mod metrics;
mod openapi;
pub mod pagination;
pub mod routes;
/// The document-only schemas live with the wire types (`docwright-api`, feature `openapi`).
pub(crate) use docwright_api::schemas;
mod state;
pub mod tasks;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use docwright_config::Config;
use docwright_core::token::OpaqueToken;
use docwright_engine::{AuthSettings, Engine, bootstrap};
use docwright_storage::Db;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

pub use state::AppState;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot create {what} `{path}`: {source}")]
    Directory { what: &'static str, path: String, source: std::io::Error },
    #[error("database: {0}")]
    Database(#[from] docwright_storage::Error),
    #[error("bootstrap: {0}")]
    Bootstrap(#[from] docwright_engine::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("server: {0}")]
    Serve(std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A built server, ready to run.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    grace: Duration,
    /// How long running jobs get to finish at shutdown.
    jobs_grace: Duration,
    bootstrap_token: Option<OpaqueToken>,
}

impl Application {
    pub async fn build(config: &Config) -> Result<Self> {
        let data_dir = &config.storage.data_dir;
        let blob_dir = config.storage.blob_dir();
        for (what, dir) in [("data directory", data_dir.as_path()), ("blob directory", blob_dir.as_path())] {
            std::fs::create_dir_all(dir).map_err(|source| Error::Directory {
                what,
                path: dir.display().to_string(),
                source,
            })?;
        }
        let db = Db::connect(&config.database_url(), config.database.max_connections).await?;
        db.migrate().await?;
        tracing::info!(backend = db.backend().as_str(), "database ready");

        let configured = config.bootstrap.admin_token.as_ref().map(|t| t.expose());
        let billing = billing_settings(config)?;
        let bootstrap_token = match bootstrap::run(&db, &config.bootstrap.admin_name, configured, &billing).await? {
            bootstrap::Outcome::Created { admin, generated_token } => {
                tracing::info!(%admin, token_source = if generated_token.is_some() { "generated" } else { "configuration" },
                    "bootstrap: created tenant ROOT, its admin and a static login token");
                generated_token
            }
            bootstrap::Outcome::AlreadyBootstrapped => None,
        };
        let jwt_secret = bootstrap::jwt_secret(&db, config.auth.jwt_secret.as_ref().map(|s| s.expose())).await?;
        let registry = docwright_engine::gateway::Registry::from_config(config)?;
        let engine = Engine::new(
            db.clone(),
            AuthSettings {
                jwt_secret,
                access_ttl_secs: i64::try_from(config.auth.access_token_ttl_secs).unwrap_or(i64::MAX),
                refresh_ttl_secs: i64::try_from(config.auth.refresh_token_ttl_secs).unwrap_or(i64::MAX),
                cache_ttl: Duration::from_secs(config.auth.cache_ttl_secs),
            },
            registry,
            docwright_engine::sealer::Sealer::load(
                config.security.encryption_key.as_ref().map(|k| k.expose()),
                &config.storage.data_dir,
            )?,
        )
        .with_billing(billing)
        .with_job_defaults(docwright_engine::jobs::JobDefaults::from_config(&config.jobs))
        .with_workflows(docwright_engine::workflows::WorkflowSettings::from_config(&config.workflows))
        .with_automations(docwright_engine::automations::AutomationSettings::from_config(&config.automations))
        .with_sync(docwright_engine::sync::SyncSettings::from_config(&config.sync))
        .with_chat(docwright_engine::chat::ChatSettings::from_config(&config.chat))
        .with_embeddings(docwright_engine::embeddings::EmbeddingSettings::from_config(&config.embeddings))
        .with_files(docwright_engine::files::FileSettings {
            blobs: docwright_engine::blobs::LocalBlobs::new(&blob_dir),
            max_upload_bytes: config.storage.max_upload_bytes,
        });
        // Extraction workers run this very program (`docwright extract-worker`) unless told otherwise.
        let this_program = std::env::current_exe().map_err(Error::Serve)?;
        let engine =
            match docwright_engine::extraction::ExtractionSettings::from_config(&config.extraction, this_program) {
                Some(settings) => engine.with_extraction(settings),
                None => engine,
            };
        // Notices are e-mailed when `[smtp]` names a server; without one they are stored unsent.
        let engine = match docwright_engine::mail::SmtpMailer::from_config(&config.smtp)? {
            Some(mailer) => {
                tracing::info!(?mailer, "notices are sent by e-mail");
                engine.with_mailer(std::sync::Arc::new(mailer), config.smtp.max_attempts)
            }
            None => engine,
        };
        let metrics_token = config.observability.metrics_token.as_ref().map(|t| t.expose().to_owned());
        let mut state = AppState::new(engine, blob_dir, metrics_token);
        // Every clone of the engine made from here on (job handlers, workers) reports to /metrics.
        state.engine =
            state.engine.clone().with_observer(std::sync::Arc::new(metrics::EngineObserver(state.metrics.clone())));
        if config.jobs.enabled {
            let settings = docwright_engine::jobs::runtime_settings(&config.jobs);
            let observer = std::sync::Arc::new(metrics::JobObserver(state.metrics.clone()));
            let runtime = state.engine.queue().runtime(state.engine.job_handlers(), settings).with_observer(observer);
            state = state.with_jobs(runtime);
        }
        let router = router(state.clone(), config);
        state.tasks.spawn("housekeeping", tasks::housekeeping(state.engine.clone(), state.tasks.cancelled()));
        state.tasks.spawn("stat-writer", state.engine.stat_writer(state.tasks.cancelled()));
        // Alive before serving, so no other replica takes this one's reservations for a dead one's.
        state.engine.reconcile_reservations().await?;
        state.tasks.spawn("billing-reconciler", state.engine.billing_reconciler(state.tasks.cancelled()));
        state.tasks.spawn("notice-sender", state.engine.notice_sender(state.tasks.cancelled()));
        state.engine.seed_automation_templates().await?;
        if config.automations.scheduler {
            state.tasks.spawn("automation-scheduler", state.engine.automation_scheduler(state.tasks.cancelled()));
        }
        if config.sync.reconciler {
            state.tasks.spawn("sync-reconciler", state.engine.sync_reconciler(state.tasks.cancelled()));
        }
        if let Some(workers) = state.engine.extraction_settings().map(|s| s.workers) {
            let engine = state.engine.clone();
            state.tasks.spawn("ocr-check", async move {
                engine.check_ocr().await;
            });
            for _ in 0..workers {
                state.tasks.spawn("extraction-worker", state.engine.extraction_worker(state.tasks.cancelled()));
            }
        }

        if state.engine.embedding_model().is_some() {
            // Files extracted before vectors were turned on (or with another model) catch up.
            let engine = state.engine.clone();
            let stop = state.tasks.cancelled();
            state.tasks.spawn("embedding-backfill", async move {
                tokio::select! {
                    () = stop => {}
                    () = engine.queue_missing_embeddings() => {}
                }
            });
        }

        let addr = config.server.bind;
        let listener = TcpListener::bind(addr).await.map_err(|source| Error::Bind { addr, source })?;
        Ok(Self {
            listener,
            router,
            state,
            grace: Duration::from_secs(config.server.shutdown_grace_secs),
            jobs_grace: Duration::from_secs(config.jobs.shutdown_grace_secs),
            bootstrap_token,
        })
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The bootstrap admin's static token when this start generated it: to be shown once.
    pub fn bootstrap_token(&self) -> Option<&OpaqueToken> {
        self.bootstrap_token.as_ref()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves; then job workers stop claiming, in-flight requests get
    /// the grace period to finish, running jobs theirs (`jobs.shutdown_grace_secs`; the rest are
    /// handed back to the queue), background tasks are stopped, and the database pool is closed.
    pub async fn run_until_stopped<F>(self, shutdown: F) -> Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let Self { listener, router, state, grace, jobs_grace, .. } = self;
        // Built after the reconciler's first round (a job's call may reserve money at once),
        // started only by a server that serves, so a failed build leaves no workers behind.
        if let Some(jobs) = &state.jobs {
            jobs.start();
        }
        let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
        let draining = state.clone();
        let signal = async move {
            shutdown.await;
            draining.begin_shutdown();
            if let Some(jobs) = &draining.jobs {
                jobs.stop_claiming();
            }
            tracing::info!(grace_secs = grace.as_secs(), "shutting down: finishing in-flight requests");
            let _ = signalled_tx.send(());
        };
        // Small writes (streamed tokens) go out at once: without TCP_NODELAY, Nagle's algorithm
        // holds each one until the previous is acknowledged, adding ~40 ms per token.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::warn!(error = %e, "cannot set TCP_NODELAY");
            }
        });
        let serve = axum::serve(listener, router).with_graceful_shutdown(signal);
        let grace_over = async move {
            if signalled_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            result = serve => result.map_err(Error::Serve)?,
            () = grace_over => tracing::warn!("grace period over: closing the remaining connections"),
        }
        drain(&state, grace, jobs_grace).await;
        Ok(())
    }

    /// Starts the job workers without serving, for in-process use (`docwright generate`);
    /// [`Application::run_until_stopped`] starts them itself.
    pub fn start_jobs(&self) {
        if let Some(jobs) = &self.state.jobs {
            jobs.start();
        }
    }

    /// Stops what [`Application::build`] started without having served (the in-process CLI,
    /// `docwright generate`): job workers finish within their grace period, background tasks
    /// stop, the database closes.
    pub async fn stop(self) {
        let Self { state, grace, jobs_grace, .. } = self;
        state.begin_shutdown();
        if let Some(jobs) = &state.jobs {
            jobs.stop_claiming();
        }
        drain(&state, grace, jobs_grace).await;
    }
}

/// The end of every stop: jobs, then background tasks (a finishing job still records its stats
/// through the writer), then the database.
async fn drain(state: &AppState, grace: Duration, jobs_grace: Duration) {
    if let Some(jobs) = &state.jobs {
        jobs.shutdown(jobs_grace).await;
    }
    state.tasks.shutdown(grace).await;
    // Closing waits for connections still checked out; a statement still running (a long
    // search whose request was cut off) is not waited for: the process exits, and the
    // databases end what the dropped connections were doing.
    if tokio::time::timeout(DB_CLOSE_LIMIT, state.db.close()).await.is_err() {
        tracing::warn!("the database pool did not close within {DB_CLOSE_LIMIT:?}: leaving its connections behind");
    }
    tracing::info!("stopped");
}

/// Longest shutdown waits for the database pool to close.
const DB_CLOSE_LIMIT: Duration = Duration::from_secs(2);

/// The router: every declared route behind its guard, the docs, and the edge layers.
/// `[billing]`, parsed (the configuration check has validated it).
fn billing_settings(config: &Config) -> Result<docwright_engine::billing::BillingSettingsConfig> {
    let b = &config.billing;
    let invalid = |field: &str, e: docwright_core::ParseError| {
        Error::Bootstrap(docwright_engine::Error::invalid(format!("billing.{field}"), e))
    };
    Ok(docwright_engine::billing::BillingSettingsConfig {
        default_currency: docwright_core::billing::Currency::parse(&b.default_currency)
            .map_err(|e| invalid("default_currency", e))?,
        root_user_credit: docwright_core::money::Money::parse(&b.root_user_credit)
            .map_err(|e| invalid("root_user_credit", e))?,
        reservation_ttl: Duration::from_secs(b.reservation_ttl_secs),
        instance_timeout: Duration::from_secs(b.instance_timeout_secs),
        reconcile_every: Duration::from_secs(b.reconcile_every_secs),
    })
}

fn router(state: AppState, config: &Config) -> Router {
    let limit = usize::try_from(config.server.body_limit_bytes).unwrap_or(usize::MAX);
    // An upload is streamed to disk and stops itself at `storage.max_upload_bytes`; its body
    // limit only bounds what the multipart framing around the file may add.
    let upload_limit =
        usize::try_from(config.storage.max_upload_bytes.saturating_add(UPLOAD_FRAMING)).unwrap_or(usize::MAX);
    let mut api = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi());
    for (access, mut route) in routes::declarations() {
        routes::annotate(&mut route, access);
        let streamed = routes::streams_body(&route);
        let guarded = OpenApiRouter::new()
            .routes(route)
            .route_layer(middleware::from_fn_with_state((state.clone(), access), guard::enforce));
        let guarded = if streamed {
            guarded.layer(DefaultBodyLimit::max(upload_limit))
        } else {
            guarded.layer(RequestBodyLimitLayer::new(limit)).layer(DefaultBodyLimit::max(limit))
        };
        api = api.merge(guarded);
    }
    let (routes, doc) = api.split_for_parts();
    let providers = state.engine.registry().provider_names();
    let doc = openapi::conform(doc, Some(&providers));
    routes
        .merge(SwaggerUi::new("/docs").external_url_unchecked("/openapi.json", doc))
        .fallback(edge::not_found)
        .with_state(state.clone())
        .layer(
            ServiceBuilder::new()
                .layer(middleware::from_fn_with_state(state, edge::edge))
                // Inside the edge (request ids, metrics, security headers), outside every
                // route's guard: a preflight is answered before authentication.
                .option_layer(edge::cors(&config.server.cors_origins))
                .layer(CatchPanicLayer::new())
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    Duration::from_secs(config.server.request_timeout_secs),
                )),
        )
}

/// Room for the multipart boundaries and part headers around an uploaded file.
const UPLOAD_FRAMING: u64 = 64 * 1024;

/// The OpenAPI document (what `/openapi.json` serves), without starting a server: the same
/// but for the provider names, which only a configured server knows.
pub fn openapi_document() -> serde_json::Value {
    let mut api = OpenApiRouter::<AppState>::with_openapi(openapi::ApiDoc::openapi());
    for (access, mut route) in routes::declarations() {
        routes::annotate(&mut route, access);
        api = api.routes(route);
    }
    openapi::conform(api.into_openapi(), None)
}
