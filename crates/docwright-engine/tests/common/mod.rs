//! What the engine's test binaries share: a bootstrapped engine on a fresh database, logging
//! in, and running a test on both databases.

#![allow(clippy::unwrap_used, dead_code, unreachable_pub)]

use docwright_config::Config;
use docwright_core::id::TenantId;
use docwright_engine::gateway::Registry;
use docwright_engine::{AuthSettings, Ctx, Engine};
use docwright_storage::testing::TestDb;
use docwright_storage::{Backend, Db};

/// The bootstrap admin's static token.
pub const TOKEN: &str = "dwst_engine-test-token-0123456789abcdef";

/// An engine with `config`'s registry on a fresh database of `backend`, bootstrapped (ROOT,
/// its admin with [`TOKEN`]); `None` when PostgreSQL is not configured outside CI.
pub async fn bootstrapped(backend: Backend, config: &Config) -> Option<(Engine, TestDb)> {
    let db = TestDb::fresh(backend).await?;
    let store = Db::connect(db.url(), 4).await.unwrap();
    store.migrate().await.unwrap();
    docwright_engine::bootstrap::run(&store, "admin", Some(TOKEN), &Default::default()).await.unwrap();
    let engine = Engine::new(
        store,
        AuthSettings {
            jwt_secret: vec![9; 32],
            access_ttl_secs: 600,
            refresh_ttl_secs: 6000,
            cache_ttl: std::time::Duration::from_secs(5),
        },
        Registry::from_config(config).unwrap(),
        docwright_engine::sealer::Sealer::new(&[7; 32]),
    );
    Some((engine, db))
}

/// Logs in with a static token and resolves the context in `tenant` (default: the first).
pub async fn login(engine: &Engine, token: &str, tenant: Option<TenantId>) -> Ctx {
    let pair = engine.exchange(token).await.unwrap();
    let principal = engine.authenticate(&pair.access_token).await.unwrap();
    engine.context(principal, tenant).await.unwrap()
}

/// One `#[tokio::test]` per database for each listed `async fn(Backend)`.
#[macro_export]
macro_rules! both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::$name(docwright_storage::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() { super::$name(docwright_storage::Backend::Postgres).await })*
        }
    };
}
