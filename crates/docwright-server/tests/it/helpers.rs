//! `spawn_app` and request helpers shared by the integration tests.

use std::path::PathBuf;

use docwright_config::{Config, Secret};
use docwright_server::{AppState, Application};
use docwright_storage::Backend;
use docwright_storage::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// One `#[tokio::test]` per backend for each listed `async fn(TestApp)`; with `config = f;`
/// first, `f(&mut Config)` adjusts each server's configuration.
macro_rules! both_databases {
    (config = $adjust:ident; $($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::helpers::run_with(docwright_storage::Backend::Sqlite, super::$adjust, super::$name).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::helpers::run_with(docwright_storage::Backend::Postgres, super::$adjust, super::$name).await
            }
        }
    )*};
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() { $crate::helpers::run(docwright_storage::Backend::Sqlite, super::$name).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() { $crate::helpers::run(docwright_storage::Backend::Postgres, super::$name).await }
        }
    )*};
}

/// One `#[tokio::test]` per backend for each listed `async fn(Backend)`: for tests that start
/// their own server (a fake provider first, their own configuration).
macro_rules! each_backend {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() { super::$name(docwright_storage::Backend::Sqlite).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() { super::$name(docwright_storage::Backend::Postgres).await }
        }
    )*};
}

/// One OpenAI-compatible provider `upstream` at `base_url` with one model `metered`: input
/// free, each output token 0.20, at most `max_output_tokens` a call (what a call reserves).
pub fn metered_upstream(c: &mut Config, base_url: String, max_output_tokens: u32) {
    one_model_upstream(c, base_url, "metered", 8000, max_output_tokens, ("0", "200000"));
}

/// One OpenAI-compatible provider `upstream` at `base_url` with one text model `name`:
/// its context, its output limit, and its prices (input, output) per million tokens.
pub fn one_model_upstream(
    c: &mut Config,
    base_url: String,
    name: &str,
    context_tokens: u32,
    max_output_tokens: u32,
    (price_input, price_output): (&str, &str),
) {
    use docwright_config::{Capability, ModelConfig, ProviderConfig, ProviderKind};
    c.providers = vec![ProviderConfig {
        name: "upstream".into(),
        kind: ProviderKind::OpenaiCompatible,
        base_url: Some(base_url),
        api_key: Some(Secret::new("sk-upstream".into())),
        timeout_secs: 30,
        ..Default::default()
    }];
    c.models = vec![ModelConfig {
        name: name.into(),
        provider: "upstream".into(),
        upstream_name: None,
        context_tokens,
        max_output_tokens,
        capabilities: vec![Capability::Text],
        price_input_per_mtok: price_input.into(),
        price_output_per_mtok: price_output.into(),
        quality: 5,
        speed: 5,
        fallbacks: vec![],
    }];
}

pub const ADMIN_TOKEN: &str = "test-bootstrap-admin-token-0123456789";

pub async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    run_with(backend, |_| {}, test).await;
}

pub async fn run_with<F, Fut>(backend: Backend, adjust: impl FnOnce(&mut Config), test: F)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(app) = TestApp::spawn(backend, adjust).await else { return };
    test(app).await;
}

/// A running server with its own database and data directory.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub config: Config,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::sync::oneshot::Receiver<()>>,
    _db: Option<TestDb>,
    _dir: Option<tempfile::TempDir>,
}

impl TestApp {
    /// Starts a server on a fresh database; `adjust` may change the configuration first.
    pub async fn spawn(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Option<TestApp> {
        let db = TestDb::fresh(backend).await?;
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::default();
        config.server.bind = "127.0.0.1:0".parse().expect("addr");
        config.server.shutdown_grace_secs = 5;
        config.storage.data_dir = PathBuf::from(dir.path());
        config.database.url = Some(Secret::new(db.url().to_owned()));
        config.database.max_connections = 5;
        // The test binary is no worker program: parsers run on threads here (the binary's
        // tests cover process isolation). Idle workers look often, so tests wait little.
        config.extraction.isolation = docwright_config::Isolation::Thread;
        config.extraction.poll_interval_ms = 50;
        // Previews the same on every machine, with or without LibreOffice.
        config.extraction.office_converter = "off".to_owned();
        config.bootstrap.admin_token = Some(Secret::new(ADMIN_TOKEN.to_owned()));
        adjust(&mut config);
        Some(Self::start(config, Some(db), Some(dir)).await)
    }

    /// A second server on this one's database and data directory, as a replica runs (it must
    /// not outlive this one).
    pub async fn replica(&self) -> TestApp {
        Self::start(self.config.clone(), None, None).await
    }

    async fn start(config: Config, db: Option<TestDb>, dir: Option<tempfile::TempDir>) -> TestApp {
        let app = Application::build(&config).await.expect("build app");
        let base = format!("http://127.0.0.1:{}", app.port());
        let state = app.state().clone();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        #[allow(clippy::disallowed_methods)] // The test harness owns this task and joins it in `stop`.
        tokio::spawn(async move {
            app.run_until_stopped(async move {
                let _ = stop_rx.await;
            })
            .await
            .expect("server ran");
            let _ = done_tx.send(());
        });
        TestApp {
            base,
            client: reqwest::Client::new(),
            state,
            config,
            stop: Some(stop_tx),
            done: Some(done_rx),
            _db: db,
            _dir: dir,
        }
    }

    /// Stops the server gracefully and waits until it has.
    pub async fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(d) = self.done.take() {
            let _ = d.await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request and returns status and JSON body (`Null` when empty or not JSON).
    pub async fn call(&self, method: Method, path: &str, auth: &Auth, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.request(method, path, auth);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, auth: &Auth) -> (StatusCode, Value) {
        self.call(Method::GET, path, auth, None).await
    }

    pub async fn post(&self, path: &str, auth: &Auth, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, auth, Some(body)).await
    }

    /// Uploads `bytes` as the multipart field `file` named `name`; status and JSON body.
    pub async fn upload(&self, auth: &Auth, name: &str, bytes: &[u8]) -> (StatusCode, Value) {
        let part = reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name.to_owned());
        let form = reqwest::multipart::Form::new().part("file", part);
        let resp = self.request(Method::POST, "/files/upload", auth).multipart(form).send().await.expect("upload sent");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A request with the credentials and tenant header of `auth`, to finish and send.
    pub fn request(&self, method: Method, path: &str, auth: &Auth) -> reqwest::RequestBuilder {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = &auth.bearer {
            req = req.bearer_auth(t);
        }
        if let Some(t) = &auth.tenant {
            req = req.header("X-Tenant-Id", t);
        }
        req
    }

    /// Exchanges a static token; returns the token pair.
    pub async fn exchange(&self, static_token: &str) -> Value {
        let (status, body) = self.post("/auth/exchange", &Auth::none(), json!({ "static_token": static_token })).await;
        assert_eq!(status, StatusCode::OK, "exchange: {body}");
        body
    }

    /// The bootstrap sysadmin, logged in.
    pub async fn sysadmin(&self) -> Auth {
        let pair = self.exchange(ADMIN_TOKEN).await;
        Auth::bearer(pair["access_token"].as_str().expect("access token"))
    }

    /// Polls the workflow `id` until it has ended (completed, failed or cancelled); its view.
    pub async fn workflow_ended(&self, auth: &Auth, id: &str) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
        loop {
            let (status, body) = self.get(&format!("/api/workflows/{id}"), auth).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            if ["completed", "failed", "cancelled"].contains(&body["status"].as_str().unwrap_or_default()) {
                return body;
            }
            assert!(std::time::Instant::now() < deadline, "the workflow did not end: {body}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Creates a tenant (as sysadmin) and returns its id.
    pub async fn create_tenant(&self, name: &str) -> String {
        let sys = self.sysadmin().await;
        let (status, body) = self.post("/api/admin/tenants", &sys, json!({ "name": name })).await;
        assert_eq!(status, StatusCode::CREATED, "create tenant: {body}");
        body["id"].as_str().expect("tenant id").to_owned()
    }

    /// Creates a tenant billed `prepay_tenant` in CHF, with no money yet; returns its id.
    pub async fn prepaid_tenant(&self, name: &str) -> String {
        let tenant = self.create_tenant(name).await;
        let settings = json!({"billing_model": "prepay_tenant", "currency": "CHF"});
        let url = format!("/api/admin/billing/tenants/{tenant}/settings");
        let (status, body) = self.call(Method::PUT, &url, &self.sysadmin().await, Some(settings)).await;
        assert_eq!(status, StatusCode::OK, "billing settings: {body}");
        tenant
    }

    /// Creates a user with `role` in `tenant` (as sysadmin), issues a static token, logs in.
    pub async fn user_in(&self, tenant: &str, role: &str) -> TestUser {
        let sys = self.sysadmin().await.in_tenant(tenant);
        let (status, body) =
            self.post("/api/admin/users", &sys, json!({ "display_name": format!("{role} user"), "role": role })).await;
        assert_eq!(status, StatusCode::CREATED, "create user: {body}");
        let id = body["id"].as_str().expect("user id").to_owned();
        let (status, body) = self.post(&format!("/api/admin/users/{id}/tokens"), &sys, json!({ "name": "test" })).await;
        assert_eq!(status, StatusCode::CREATED, "issue token: {body}");
        let static_token = body["static_token"].as_str().expect("static token").to_owned();
        let pair = self.exchange(&static_token).await;
        TestUser {
            id,
            static_token,
            auth: Auth::bearer(pair["access_token"].as_str().expect("access")).in_tenant(tenant),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// A user created for a test, logged in.
pub struct TestUser {
    pub id: String,
    pub static_token: String,
    pub auth: Auth,
}

/// Credentials and tenant header of a request.
#[derive(Clone, Debug, Default)]
pub struct Auth {
    pub bearer: Option<String>,
    pub tenant: Option<String>,
}

impl Auth {
    pub fn none() -> Self {
        Self::default()
    }

    pub fn bearer(token: &str) -> Self {
        Self { bearer: Some(token.to_owned()), tenant: None }
    }

    pub fn in_tenant(&self, tenant: &str) -> Self {
        Self { tenant: Some(tenant.to_owned()), ..self.clone() }
    }
}

/// Asserts the stable error shape and code.
pub fn assert_error(status: StatusCode, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status.as_u16(), want_status, "{body}");
    assert_eq!(body["error"]["code"], want_code, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(body["error"]["request_id"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

/// The events of an SSE body: (id, event, data).
pub fn sse(text: &str) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("id:") {
                id = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim());
            }
        }
        if !event.is_empty() {
            out.push((id, event, serde_json::from_str(&data).unwrap_or(Value::Null)));
        }
    }
    out
}
