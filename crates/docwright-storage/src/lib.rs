//! Persistence of docwright on SQLite (embedded default) and PostgreSQL.
//!
//! One code path serves both: queries go through sqlx's `Any` driver with `$N` placeholders,
//! which both backends accept, and use only portable types — ids as TEXT (UUIDv7), times as
//! BIGINT milliseconds, flags as BIGINT 0/1. Each backend has its own migration folder
//! (`migrations/sqlite`, `migrations/postgres`) holding the same schema in its dialect; both are
//! embedded in the binary and run at start (on PostgreSQL under an advisory lock, so replicas
//! starting together do not race).
//!
//! Layout: [`Db`] is the handle (a pool); one module per concern adds methods to it —
//! [`tenants`], [`users`], [`auth`] (static tokens, sessions, refresh tokens, API keys),
//! [`rbac`], [`instance`], [`stats`] (AI call records), [`provider_keys`] (sealed BYOK keys),
//! [`notices`] (the e-mail outbox of billing notices), [`files`] (uploaded files' records),
//! [`projects`] (the projects tree and results about documents), [`collections`] (named sets
//! of files, a scope of search and retrieval), [`search`] (full-text search
//! over extracted text, the one place where the two dialects differ), [`jobs`] (the durable job
//! queue), [`ai_requests`] (asynchronous AI requests), [`workflows`] (generation workflows and what
//! their runs leave: events, the operation tree, checkpoints, debug files, results), [`chats`]
//! (chats, messages, turns with their numbered events and progress trees, role prompts),
//! [`prompt_library`] (prompt categories and preset system prompts, the installation's seeded). Every method that touches tenant data
//! takes the tenant id, so a query cannot forget to scope itself.
//!
//! **Composable writes.** [`Db::begin_write`] opens a [`WriteTx`] on the writer pool; inserts
//! that a caller may need to make atomic with its own rows (enqueueing a job, storing an AI
//! request, settling a call, finishing a job) exist as methods of `WriteTx`, and the same names
//! on [`Db`] run them in a transaction of their own. So "store my row and enqueue its job" is:
//!
//! ```ignore
//! let mut tx = db.begin_write().await?;
//! let job = tx.enqueue(&NewJob::new("ai.request", payload)).await?;
//! tx.insert_ai_request(&request).await?;
//! tx.commit().await?; // both or neither; a worker is woken only now
//! ```
//!
//! A `WriteTx` holds the writer: on SQLite the one write connection, so while it is open no
//! other write can start — keep it short (no network calls inside), and never call a `Db`
//! write method while holding one (it would wait for the connection the transaction holds).

pub mod ai_requests;
pub mod auth;
pub mod automations;
pub mod billing;
pub mod chats;
pub mod collections;
pub mod files;
pub mod instance;
pub mod jobs;
pub mod notices;
pub mod projects;
pub mod prompt_library;
pub mod provider_keys;
pub mod rbac;
pub mod search;
pub mod stats;
pub mod sync;
pub mod tenants;
#[cfg(feature = "testing")]
pub mod testing;
pub mod users;
pub mod vectors;
pub mod workflows;

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor as _, Row as _};

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A unique constraint refused the write; the message names what already exists.
    #[error("{0} already exists")]
    Conflict(String),
    /// A row holds a value the domain types reject (a bug or a hand-edited database).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// A statement outran its time limit (`what` says which: `search`).
    #[error("the {0} took longer than its time limit")]
    TimedOut(&'static str),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Database(e)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which SQL dialect the pool speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The database handle: cheap to clone (a pool inside).
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    /// SQLite: one connection for the hot write paths (reservations, settlements, stats), so
    /// writers queue in the pool instead of sleeping in SQLite's busy handler; PostgreSQL: the
    /// pool itself.
    writer: AnyPool,
    /// The job queue's own bookkeeping (claims, leases, progress, the runtime's ends of
    /// attempts): SQLite: the writer; PostgreSQL: a small pool whose sessions commit without
    /// waiting for the WAL flush (`synchronous_commit = off`) and plan claims on their index. A bookkeeping write lost in a
    /// database crash only makes a job run again, which the queue allows (at least once), and
    /// any later durable commit flushes it anyway; enqueues, handlers' transactions and money
    /// stay durable. It spares every claim and completion a disk flush (~4 ms here), which the
    /// claim loop would otherwise wait for in turn.
    bookkeeping: AnyPool,
    backend: Backend,
    /// The URL, for connections outside the pool (PostgreSQL's LISTEN); may hold a password.
    url: Redacted,
    /// Woken when a job enqueued through this handle is committed (in-process wake-ups).
    jobs_signal: std::sync::Arc<tokio::sync::Notify>,
}

/// A value kept out of `Debug` output.
#[derive(Clone)]
struct Redacted(std::sync::Arc<str>);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Db {
    /// Connects to `url` (`sqlite://...` or `postgres://...`). For SQLite the parent directory
    /// of the file is created, and each connection gets WAL mode, foreign keys and a busy timeout.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres") { Backend::Postgres } else { Backend::Sqlite };
        if backend == Backend::Sqlite
            && let Some(dir) = sqlite_parent_dir(url)
        {
            std::fs::create_dir_all(&dir).map_err(|e| {
                Error::Database(sqlx::Error::Configuration(
                    format!("cannot create database directory `{dir}`: {e}").into(),
                ))
            })?;
        }
        let options = |n: u32, asynchronous: bool| {
            AnyPoolOptions::new().max_connections(n).acquire_timeout(Duration::from_secs(10)).after_connect(
                move |conn, _| {
                    Box::pin(async move {
                        match backend {
                            Backend::Sqlite => {
                                conn.execute("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL;")
                                    .await?;
                            }
                            Backend::Postgres if asynchronous => {
                                conn.execute("SET synchronous_commit = off").await?;
                                // The claim's ORDER BY ... LIMIT matches the `jobs_claim` index;
                                // a queue table changes faster than its statistics, and with
                                // stale ones the planner may sort every pending row instead
                                // (measured: 5.5 ms per claim instead of 0.6 ms). This pool only
                                // runs the queue's claims and by-id updates, so sorting can be
                                // ruled out for it.
                                conn.execute("SET enable_sort = off").await?;
                            }
                            Backend::Postgres => {}
                        }
                        Ok(())
                    })
                },
            )
        };
        let pool = options(max_connections, false).connect(url).await?;
        let (writer, bookkeeping) = match backend {
            Backend::Sqlite => {
                let writer = options(1, false).connect(url).await?;
                (writer.clone(), writer)
            }
            // Opened on first use: a handle that runs no jobs opens none of these.
            Backend::Postgres => (pool.clone(), options(max_connections.div_ceil(2).max(2), true).connect_lazy(url)?),
        };
        Ok(Self {
            pool,
            writer,
            bookkeeping,
            backend,
            url: Redacted(url.into()),
            jobs_signal: std::sync::Arc::default(),
        })
    }

    /// Brings the schema up to date (embedded migrations).
    pub async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&self.pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }

    /// A round trip to the database, for readiness and health.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Waits for checked-out connections and closes the pool (graceful shutdown).
    pub async fn close(&self) {
        self.bookkeeping.close().await;
        self.writer.close().await;
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The pool of the hot write paths (see [`Db`]).
    pub(crate) fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// The pool of the queue's bookkeeping (see [`Db`]).
    pub(crate) fn bookkeeping(&self) -> &AnyPool {
        &self.bookkeeping
    }

    pub(crate) fn url(&self) -> &str {
        &self.url.0
    }

    /// A transaction on the writer, for writes that must be made together (see the crate docs).
    pub async fn begin_write(&self) -> Result<WriteTx> {
        Ok(WriteTx { tx: self.writer.begin().await?, enqueued: Vec::new(), db: self.clone() })
    }
}

/// A write transaction on the writer pool: commit it, or roll it back (dropping it rolls back
/// too). Methods that write inside it live with their module (`tx.enqueue`, `tx.settle`, ...).
pub struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    /// Kinds of the jobs enqueued in it: idle workers are woken for them at commit.
    enqueued: Vec<String>,
    db: Db,
}

impl std::fmt::Debug for WriteTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteTx").field("enqueued", &self.enqueued).finish_non_exhaustive()
    }
}

impl WriteTx {
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        self.db.jobs_available(&self.enqueued).await;
        Ok(())
    }

    pub async fn rollback(self) -> Result<()> {
        Ok(self.tx.rollback().await?)
    }

    /// The connection, for the statements of this crate's modules.
    pub(crate) fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }
}

/// `sqlite://path/to/db.sqlite?mode=rwc` → `path/to`.
fn sqlite_parent_dir(url: &str) -> Option<String> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    let parent = std::path::Path::new(path).parent()?;
    let s = parent.to_string_lossy().into_owned();
    (!s.is_empty()).then_some(s)
}

/// SQL assembled from constant fragments only (column lists): never from input, which is
/// always bound as a parameter. sqlx asks for this assertion on any non-literal query.
pub(crate) fn trusted(sql: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql)
}

/// Maps a unique-constraint violation to [`Error::Conflict`] naming `what`.
pub(crate) fn conflict(what: &str) -> impl FnOnce(sqlx::Error) -> Error + '_ {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => Error::Conflict(what.to_owned()),
        _ => Error::Database(e),
    }
}

/// Reads a column and parses it into a domain type, reporting bad data as [`Error::Corrupt`].
pub(crate) fn parse_col<T, E: std::fmt::Display>(
    row: &AnyRow,
    col: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T> {
    let raw: String = row.try_get(col)?;
    parse(&raw).map_err(|e| Error::Corrupt(format!("column {col}: {e}")))
}

pub(crate) fn parse_opt_col<T, E: std::fmt::Display>(
    row: &AnyRow,
    col: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<Option<T>> {
    let raw: Option<String> = row.try_get(col)?;
    raw.map(|r| parse(&r).map_err(|e| Error::Corrupt(format!("column {col}: {e}")))).transpose()
}

/// One page of a listing ordered by id: at most `limit` rows with ids after `after`.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest<'a> {
    pub after: Option<&'a str>,
    pub limit: u32,
}

impl PageRequest<'_> {
    /// Ask for one row more than the page holds: its presence says there is a next page.
    pub(crate) fn fetch_limit(&self) -> i64 {
        i64::from(self.limit) + 1
    }

    pub(crate) fn after_or_min(&self) -> String {
        self.after.unwrap_or("").to_owned()
    }
}

/// Rows of one page and whether more follow.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_more: bool,
}

impl<T> Page<T> {
    pub(crate) fn from_rows(mut items: Vec<T>, req: PageRequest<'_>) -> Self {
        let has_more = items.len() > req.limit as usize;
        items.truncate(req.limit as usize);
        Self { items, has_more }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_dir_from_url() {
        assert_eq!(sqlite_parent_dir("sqlite://./data/dw.db?mode=rwc").as_deref(), Some("./data"));
        assert_eq!(sqlite_parent_dir("sqlite:dw.db").as_deref(), None);
        assert_eq!(sqlite_parent_dir("sqlite::memory:").as_deref(), None);
    }
}
