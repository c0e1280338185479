//! Fresh databases for tests (feature `testing`): a new SQLite file, or a new PostgreSQL schema
//! on the server named by `DOCWRIGHT_TEST_POSTGRES_URL`.
//!
//! Without that variable the PostgreSQL half of a test is skipped with a printed notice; under
//! `CI=true` its absence, or an unreachable server, fails the test instead.

// Test support: a database that cannot be prepared must fail the test loudly, right here.
#![allow(clippy::expect_used)]

use sqlx::Executor as _;
use sqlx::postgres::PgPoolOptions;

use crate::Backend;
use crate::files::PartRecord;

/// The variable naming the PostgreSQL server for tests.
pub const POSTGRES_URL_VAR: &str = "DOCWRIGHT_TEST_POSTGRES_URL";

/// A database that exists for one test; a PostgreSQL schema is dropped when this is dropped.
#[derive(Debug)]
pub struct TestDb {
    url: String,
    backend: Backend,
    dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>, // (server URL, schema)
}

impl TestDb {
    /// A fresh database of `backend`, or `None` (after printing why) when PostgreSQL is not
    /// configured outside CI.
    pub async fn fresh(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
                Some(TestDb { url, backend, dir: Some(dir), pg: None })
            }
            Backend::Postgres => {
                let server = postgres_url()?;
                let schema = format!("dwt_{}", uuid::Uuid::now_v7().simple());
                let admin =
                    PgPoolOptions::new().max_connections(1).connect(&server).await.unwrap_or_else(|e| {
                        panic!("{POSTGRES_URL_VAR} is set but PostgreSQL at it is unreachable: {e}")
                    });
                admin
                    .execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .await
                    .expect("create test schema");
                admin.close().await;
                let sep = if server.contains('?') { '&' } else { '?' };
                let url = format!("{server}{sep}options=-c%20search_path%3D{schema}");
                Some(TestDb { url, backend, dir: None, pg: Some((server, schema)) })
            }
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The temporary directory holding a SQLite database (also usable as a data dir).
    pub fn dir(&self) -> Option<&std::path::Path> {
        self.dir.as_ref().map(|d| d.path())
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((server, schema)) = self.pg.take() else { return };
        // Drop runs inside or outside a runtime; a thread of its own works in both.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let pool = PgPoolOptions::new().max_connections(1).connect(&server).await.ok()?;
                let _ = pool.execute(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))).await;
                pool.close().await;
                Some(())
            })
        })
        .join();
    }
}

/// The PostgreSQL URL for tests, or `None` after a notice. Under `CI=true` it is required.
pub fn postgres_url() -> Option<String> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but {POSTGRES_URL_VAR} is not set: the PostgreSQL half of the tests must run in CI")
        }
        _ => {
            eprintln!("notice: {POSTGRES_URL_VAR} is not set; skipping the PostgreSQL half of this test");
            None
        }
    }
}

/// Runs `body` once per backend, each with a fresh database. Use from `#[tokio::test]`s via
/// the `both_databases!` pattern: one test per backend, so a failure names its database.
pub async fn with_fresh<F, Fut>(backend: Backend, body: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    if let Some(db) = TestDb::fresh(backend).await {
        body(db).await;
    }
}

/// A text part of page `seq + 1` of `file`, as a PDF's extraction stores it.
pub fn text_part(file: docwright_core::id::FileId, seq: u32, text: &str) -> PartRecord {
    PartRecord {
        id: docwright_core::id::PartId::new(),
        file_id: file,
        seq,
        type_group: "text".into(),
        mime_type: "text/plain".into(),
        label: Some("page".into()),
        level: None,
        text: text.into(),
        rows_json: None,
        method: "text".into(),
        page: Some(seq + 1),
        slide: None,
        sheet: None,
        row_start: None,
        row_end: None,
        data_sha256: None,
        data_size: None,
    }
}

/// Runs `sql` with text parameters inside `tx`: tests keep tables of their own (a side table
/// a handler writes in the transaction that completes its job). Answers the rows affected.
pub async fn execute_in(tx: &mut crate::WriteTx, sql: &str, params: &[&str]) -> crate::Result<u64> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    for p in params {
        q = q.bind((*p).to_owned());
    }
    Ok(q.execute(tx.conn()).await?.rows_affected())
}

/// Runs `sql` with text parameters in a transaction of its own.
pub async fn execute(db: &crate::Db, sql: &str, params: &[&str]) -> crate::Result<u64> {
    let mut tx = db.begin_write().await?;
    let n = execute_in(&mut tx, sql, params).await?;
    tx.commit().await?;
    Ok(n)
}

/// The single BIGINT a query answers, e.g. `SELECT COUNT(*) FROM ...`.
pub async fn scalar(db: &crate::Db, sql: &str, params: &[&str]) -> i64 {
    let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()));
    for p in params {
        q = q.bind((*p).to_owned());
    }
    q.fetch_one(db.pool()).await.expect("scalar query")
}
