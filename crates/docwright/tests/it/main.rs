//! Tests of the `docwright` binary as a user runs it: a real process, its stdout and stderr,
//! signals.

// Test code fails loudly on purpose; helpers are shared between the modules of one test binary.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod cli;

const BIN: &str = env!("CARGO_BIN_EXE_docwright");

/// A `docwright serve` process with JSON logs, its output collected.
struct Server {
    child: Child,
    addr: String,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

fn command(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("DOCWRIGHT_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("DOCWRIGHT_SERVER__BIND", "127.0.0.1:0").env("DOCWRIGHT_LOG__FORMAT", "json");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn collect(stream: impl std::io::Read + Send + 'static) -> Arc<Mutex<String>> {
    let buf = Arc::new(Mutex::new(String::new()));
    let sink = buf.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let mut b = sink.lock().unwrap();
            b.push_str(&line);
            b.push('\n');
        }
    });
    buf
}

impl Server {
    fn start(dir: &Path, env: &[(&str, &str)]) -> Server {
        let mut cmd = command(dir, env);
        cmd.arg("serve");
        Self::spawn(cmd)
    }

    /// Runs `cmd` (a prepared `serve`) and waits until it listens.
    fn spawn(mut cmd: Command) -> Server {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn docwright");
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let addr =
                stderr.lock().unwrap().lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).find_map(|v| {
                    (v["message"] == "docwright listening").then(|| v["addr"].as_str().unwrap_or_default().to_owned())
                });
            if let Some(addr) = addr {
                return Server { child, addr, stdout, stderr };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("docwright exited early ({status}): {}", stderr.lock().unwrap());
            }
            assert!(Instant::now() < deadline, "docwright did not start: {}", stderr.lock().unwrap());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn signal(&self, sig: &str) {
        let ok =
            Command::new("kill").arg(format!("-{sig}")).arg(self.child.id().to_string()).status().unwrap().success();
        assert!(ok, "kill -{sig}");
    }

    /// Sends `sig` and waits for the exit; returns status, stdout, stderr.
    fn stop(mut self, sig: &str) -> (ExitStatus, String, String) {
        self.signal(sig);
        let status = wait(&mut self.child, Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(100)); // let the reader threads drain
        let out = self.stdout.lock().unwrap().clone();
        let err = self.stderr.lock().unwrap().clone();
        (status, out, err)
    }
}

fn wait(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("docwright did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn post(client: &reqwest::Client, url: String, bearer: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = client.post(url).json(&body);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

/// Exchanges the static `token` at `server`; the access token.
async fn login_as(client: &reqwest::Client, server: &Server, token: &str) -> String {
    let (_, pair) = post(client, server.url("/auth/exchange"), None, json!({"static_token": token})).await;
    pair["access_token"].as_str().unwrap().to_owned()
}

/// A GET as `access`: status and JSON body.
async fn get_as(client: &reqwest::Client, url: String, access: &str) -> (u16, Value) {
    let resp = client.get(url).bearer_auth(access).send().await.unwrap();
    (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
}

fn tokens_in(text: &str, prefix: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .filter(|w| w.starts_with(prefix) && w.len() > prefix.len() + 20)
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn first_start_prints_the_token_once_and_a_second_start_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let client = reqwest::Client::new();
    // The default data directory is created under the working directory.
    assert!(dir.path().join("docwright-data/docwright.db").is_file());
    assert!(dir.path().join("docwright-data/blobs").is_dir());
    assert!(dir.path().join("docwright-data/encryption.key").is_file(), "the key for stored provider keys");
    let out = server.stdout.lock().unwrap().clone();
    let printed = tokens_in(&out, "dwst_");
    assert_eq!(printed.len(), 2, "the token and the curl example: {out}");
    let token = printed[0].clone();
    let (status, _) = post(&client, server.url("/auth/exchange"), None, json!({"static_token": token})).await;
    assert_eq!(status, 200);
    let (status, out, err) = server.stop("INT");
    assert!(status.success(), "{err}");
    assert!(!err.contains(&token), "the token is printed to stdout, never logged");
    assert_eq!(tokens_in(&out, "dwst_").len(), 2);

    let again = Server::start(dir.path(), &[]);
    let (status, _) = post(&client, again.url("/auth/exchange"), None, json!({"static_token": token})).await;
    assert_eq!(status, 200, "the first start's token still works");
    let (status, out, _) = again.stop("TERM");
    assert!(status.success());
    assert!(tokens_in(&out, "dwst_").is_empty(), "a second start prints no token: {out}");
}

#[tokio::test]
async fn secrets_never_reach_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let admin_token = "configured-admin-token-7f3a9c2e5b";
    let jwt_secret = "jwt-secret-that-must-stay-hidden-0123456789";
    let server = Server::start(
        dir.path(),
        &[
            ("DOCWRIGHT_BOOTSTRAP__ADMIN_TOKEN", admin_token),
            ("DOCWRIGHT_AUTH__JWT_SECRET", jwt_secret),
            ("DOCWRIGHT_LOG__LEVEL", "debug"),
        ],
    );
    let c = reqwest::Client::new();
    let mut secrets = vec![admin_token.to_owned(), jwt_secret.to_owned()];

    let (_, pair) = post(&c, server.url("/auth/exchange"), None, json!({"static_token": admin_token})).await;
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let refresh = pair["refresh_token"].as_str().unwrap().to_owned();
    let (_, pair2) = post(&c, server.url("/auth/refresh"), None, json!({"refresh_token": refresh})).await;
    let access2 = pair2["access_token"].as_str().unwrap().to_owned();
    let (_, key) = post(&c, server.url("/api/keys"), Some(&access2), json!({"name": "k"})).await;
    let api_key = key["key"].as_str().unwrap().to_owned();
    let me = c.get(server.url("/me")).bearer_auth(&api_key).send().await.unwrap();
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    let byok = "sk-byok-secret-key-0123456789";
    let patched = c
        .patch(server.url("/me/settings"))
        .bearer_auth(&access2)
        .json(&json!({"provider_keys": {"dryrun": byok}}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let (_, user) =
        post(&c, server.url("/api/admin/users"), Some(&api_key), json!({"display_name": "u", "role": "user"})).await;
    let (_, issued) = post(
        &c,
        server.url(&format!("/api/admin/users/{}/tokens", user["id"].as_str().unwrap())),
        Some(&api_key),
        json!({"name": "t"}),
    )
    .await;
    let static_token = issued["static_token"].as_str().unwrap().to_owned();
    // Failures log too: a wrong token, a reused refresh token.
    post(&c, server.url("/auth/exchange"), None, json!({"static_token": format!("{admin_token}x")})).await;
    post(&c, server.url("/auth/refresh"), None, json!({"refresh_token": refresh})).await;
    post(&c, server.url("/auth/logout"), None, json!({"refresh_token": pair2["refresh_token"]})).await;
    assert!(me["id"].is_string());
    secrets.extend([
        access,
        refresh,
        access2,
        pair2["refresh_token"].as_str().unwrap().to_owned(),
        api_key,
        static_token,
    ]);

    let (status, out, err) = server.stop("TERM");
    assert!(status.success());
    assert!(err.lines().count() > 10, "debug logging was on: {err}");
    assert!(err.contains("request finished"));
    for s in &secrets {
        assert!(!err.contains(s.as_str()), "a secret appeared in the log: {}…", &s[..8]);
        assert!(!out.contains(s.as_str()), "a secret appeared on stdout: {}…", &s[..8]);
    }
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let dir = tempfile::tempdir().unwrap();
    let token = "in-flight-admin-token-0123456789";
    let server = Server::start(dir.path(), &[("DOCWRIGHT_BOOTSTRAP__ADMIN_TOKEN", token)]);
    let body = json!({"static_token": token}).to_string();
    let (head, tail) = body.split_at(body.len() / 2);
    let mut conn = TcpStream::connect(&server.addr).unwrap();
    write!(
        conn,
        "POST /auth/exchange HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{head}",
        body.len()
    )
    .unwrap();
    conn.flush().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    server.signal("INT");
    std::thread::sleep(Duration::from_millis(300));
    // The server is draining: the request already under way is still served.
    conn.write_all(tail.as_bytes()).unwrap();
    let mut response = String::new();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = conn.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("access_token"), "{response}");
    let (status, _, err) = server.stop_after_signal();
    assert!(status.success(), "{err}");
    assert!(err.contains("shutting down"), "{err}");
}

impl Server {
    fn stop_after_signal(mut self) -> (ExitStatus, String, String) {
        let status = wait(&mut self.child, Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(100));
        let out = self.stdout.lock().unwrap().clone();
        let err = self.stderr.lock().unwrap().clone();
        (status, out, err)
    }
}

/// The pretty log format is for people: no colour codes when stderr is not a terminal.
#[test]
fn pretty_logs_have_no_colour_codes_off_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command(dir.path(), &[("DOCWRIGHT_LOG__FORMAT", "pretty")]);
    let mut child = cmd.arg("serve").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let _stdout = collect(child.stdout.take().unwrap());
    let stderr = collect(child.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !stderr.lock().unwrap().contains("docwright listening") {
        assert!(Instant::now() < deadline, "did not start: {}", stderr.lock().unwrap());
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let log = stderr.lock().unwrap().clone();
    assert!(!log.contains('\u{1b}'), "ANSI escape codes in a piped log: {log:?}");
}

#[test]
fn config_check_names_the_key_and_serve_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path(), &[]).args(["config", "check"]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("configuration OK"));

    let bad = [("DOCWRIGHT_SERVER__BIND", "not-an-address")];
    for args in [&["config", "check"][..], &["serve"][..]] {
        let out = command(dir.path(), &bad).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("`server.bind`") && err.contains("DOCWRIGHT_SERVER__BIND"), "{err}");
    }
    std::fs::write(dir.path().join("custom.toml"), "[server]\nbind = \"127.0.0.1:0\"\n[logs]\nlevel = \"x\"\n")
        .unwrap();
    let out = command(dir.path(), &[]).args(["config", "check", "--config", "custom.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("logs"), "unknown section named");
    assert!(!dir.path().join("docwright-data").exists(), "checking starts nothing");

    // The shipped example is valid as it is.
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docwright.example.toml");
    let out = command(dir.path(), &[]).args(["config", "check", "--config", example]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn serve_runs_on_postgresql_when_configured() {
    let Some(db) = docwright_storage::testing::TestDb::fresh(docwright_storage::Backend::Postgres).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let token = "postgres-admin-token-0123456789";
    let server = Server::start(
        dir.path(),
        &[("DOCWRIGHT_DATABASE__URL", db.url()), ("DOCWRIGHT_BOOTSTRAP__ADMIN_TOKEN", token)],
    );
    let health: Value = reqwest::get(server.url("/api/health")).await.unwrap().json().await.unwrap();
    assert_eq!(health["checks"]["database"]["detail"], "postgres", "{health}");
    let (status, _) =
        post(&reqwest::Client::new(), server.url("/auth/exchange"), None, json!({"static_token": token})).await;
    assert_eq!(status, 200);
    assert!(!dir.path().join("docwright-data/docwright.db").exists(), "no SQLite file when PostgreSQL is used");
    let (status, _, err) = server.stop("TERM");
    assert!(status.success(), "{err}");
    assert!(!err.contains("postgres://"), "the database URL (it may hold a password) is not logged");
}

/// A fake OpenAI whose next `calls` answers take a minute.
async fn hanging_upstream(calls: usize) -> docwright_llm::testing::FakeOpenAi {
    use docwright_llm::testing::{FakeOpenAi, Reply};
    let fake = FakeOpenAi::start().await;
    for _ in 0..calls {
        fake.reply(Reply::Slow(Duration::from_secs(60)));
    }
    fake
}

/// A configuration with `extra` sections, quick reservation clean-up, and one model `metered`
/// on `fake` (output 0.20 a token, at most `max_output_tokens`).
fn metered_config(fake: &docwright_llm::testing::FakeOpenAi, max_output_tokens: u32, extra: &str) -> String {
    format!(
        "[billing]\ninstance_timeout_secs = 2\nreconcile_every_secs = 1\n\n{extra}\
         [[providers]]\nname = \"upstream\"\ntype = \"openai_compatible\"\nbase_url = \"{}\"\napi_key = \"sk-x\"\n\n\
         [[models]]\nname = \"metered\"\nprovider = \"upstream\"\ncontext_tokens = 8000\n\
         max_output_tokens = {max_output_tokens}\n\
         capabilities = [\"text\"]\nprice_input_per_mtok = \"0\"\nprice_output_per_mtok = \"200000\"\n",
        fake.base_url
    )
}

/// SPEC B3: a server killed (SIGKILL) with calls in flight leaves reservations behind; after a
/// restart they are released once the dead process stops signalling life, nothing is charged
/// for the calls that never finished, and the ledger still sums to every balance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservations_of_a_killed_server_are_released_after_restart() {
    let fake = hanging_upstream(3).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("docwright.toml"), metered_config(&fake, 1000, "")).unwrap();
    let token = "crash-test-admin-token-0123456789abcdef";
    let env = [("DOCWRIGHT_BOOTSTRAP__ADMIN_TOKEN", token)];
    let start = || {
        let mut cmd = command(dir.path(), &env);
        cmd.args(["serve", "--config", "docwright.toml"]);
        cmd
    };
    let server = Server::spawn(start());
    let c = reqwest::Client::new();
    let (_, pair) = post(&c, server.url("/auth/exchange"), None, json!({"static_token": token})).await;
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let balance = |url: String, access: String| {
        let c = c.clone();
        async move {
            let b: Value = c.get(url).bearer_auth(access).send().await.unwrap().json().await.unwrap();
            (b["balance"].as_str().unwrap().to_owned(), b["reserved"].as_str().unwrap().to_owned())
        }
    };
    let before = balance(server.url("/api/billing/balance"), access.clone()).await;
    // Three calls reach the (hanging) provider, each holding 0.20.
    for _ in 0..3 {
        let (c, url, access) = (c.clone(), server.url("/v1/chat/completions"), access.clone());
        let body = json!({"model": "metered", "max_tokens": 1, "messages": [{"role": "user", "content": "hang"}]});
        #[allow(clippy::disallowed_methods)] // Left hanging on purpose: the server is killed under it.
        tokio::spawn(async move { post(&c, url, Some(&access), body).await });
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while fake.received().len() < 3 {
        assert!(Instant::now() < deadline, "the calls did not reach the provider");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let held = balance(server.url("/api/billing/balance"), access.clone()).await;
    assert_eq!(held.0, before.0);
    assert_ne!(held.1, before.1, "the calls in flight hold money: {held:?}");

    let mut server = server;
    server.signal("KILL");
    wait(&mut server.child, Duration::from_secs(10));

    // The successor: the dead process's reservations go once it has been silent long enough.
    let server = Server::spawn(start());
    let (_, pair) = post(&c, server.url("/auth/exchange"), None, json!({"static_token": token})).await;
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = balance(server.url("/api/billing/balance"), access.clone()).await;
        if now == before {
            break;
        }
        assert!(Instant::now() < deadline, "reservations were not released: {now:?}, before {before:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let v: Value =
        c.get(server.url("/api/admin/billing/verify")).bearer_auth(&access).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["ok"], true, "{v}");
    server.stop("TERM");
}

/// SPEC S2 / W1: a server killed (SIGKILL) with AI requests queued and running. After a
/// restart every accepted request ends — completed, or failed with a reason —, none is lost,
/// none is answered or charged twice (one debit per completed request, keyed by its id), and
/// the books are exact: the ledger sums to every balance and nothing stays reserved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ai_requests_survive_a_killed_server() {
    ai_requests_survive_a_kill(None).await;
}

/// The same on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ai_requests_survive_a_killed_server_on_postgresql() {
    let Some(db) = docwright_storage::testing::TestDb::fresh(docwright_storage::Backend::Postgres).await else {
        return;
    };
    ai_requests_survive_a_kill(Some(db.url())).await;
}

async fn ai_requests_survive_a_kill(database_url: Option<&str>) {
    const REQUESTS: usize = 12;
    // The first two calls hang: their jobs are running when the server dies.
    let fake = hanging_upstream(2).await;
    let dir = tempfile::tempdir().unwrap();
    let jobs = "[jobs]\nworkers = 2\nlease_secs = 2\nheartbeat_secs = 1\nrescue_every_secs = 1\n\
                backoff_base_ms = 100\npoll_interval_ms = 100\n\n";
    std::fs::write(dir.path().join("docwright.toml"), metered_config(&fake, 1, jobs)).unwrap();
    let token = "queue-crash-admin-token-0123456789abcdef";
    let mut env = vec![("DOCWRIGHT_BOOTSTRAP__ADMIN_TOKEN", token)];
    if let Some(url) = database_url {
        env.push(("DOCWRIGHT_DATABASE__URL", url));
    }
    let start = || {
        let mut cmd = command(dir.path(), &env);
        cmd.args(["serve", "--config", "docwright.toml"]);
        cmd
    };
    let c = reqwest::Client::new();
    let get = |url: String, access: String| {
        let c = c.clone();
        async move { get_as(&c, url, &access).await }
    };
    let server = Server::spawn(start());
    let access = login_as(&c, &server, token).await;
    let (_, before) = get(server.url("/api/billing/balance"), access.clone()).await;

    let mut ids = Vec::new();
    for i in 0..REQUESTS {
        let body = json!({"query_text": format!("request {i}")});
        let (status, accepted) = post(&c, server.url("/api/ai/process"), Some(&access), body).await;
        assert_eq!(status, 202, "{accepted}");
        ids.push(accepted["request_id"].as_str().unwrap().to_owned());
    }
    // Both workers are inside a hanging call; the rest wait in the queue.
    let deadline = Instant::now() + Duration::from_secs(20);
    while fake.received().len() < 2 {
        assert!(Instant::now() < deadline, "the requests did not reach the provider");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut server = server;
    server.signal("KILL");
    wait(&mut server.child, Duration::from_secs(10));

    // The successor takes every request up: the queued at once, the running once their leases ran out.
    let server = Server::spawn(start());
    let access = login_as(&c, &server, token).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut ended = std::collections::BTreeMap::new();
    while ended.len() < REQUESTS {
        for id in &ids {
            if ended.contains_key(id) {
                continue;
            }
            let (status, s) = get(server.url(&format!("/api/ai/status/{id}")), access.clone()).await;
            assert_eq!(status, 200, "an accepted request is never lost: {s}");
            match s["status"].as_str().unwrap() {
                "completed" => {
                    ended.insert(id.clone(), s);
                }
                "failed" => {
                    assert!(s["error"]["code"].as_str().is_some_and(|c| !c.is_empty()), "a failure has a reason: {s}");
                    ended.insert(id.clone(), s);
                }
                _ => {}
            }
        }
        assert!(Instant::now() < deadline, "requests did not end after the restart: {} of {REQUESTS}", ended.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let completed: Vec<&String> = ended.iter().filter(|(_, s)| s["status"] == "completed").map(|(id, _)| id).collect();
    assert_eq!(completed.len(), REQUESTS, "every request is answered in the end: {ended:?}");
    let rescued = ended.values().filter(|s| s["attempts"].as_u64().unwrap() > 1).count();
    assert!(rescued >= 2, "the two running when the server died ran again: {ended:?}");

    // Each completed request was charged exactly once, against its id; nothing else was.
    let (_, rows) = get(server.url("/api/billing/transactions"), access.clone()).await;
    let debits: Vec<&Value> = rows.as_array().unwrap().iter().filter(|t| t["kind"] == "debit").collect();
    let mut charged: Vec<&str> = debits.iter().map(|d| d["reference_id"].as_str().unwrap()).collect();
    charged.sort_unstable();
    let mut want: Vec<&str> = completed.iter().map(|s| s.as_str()).collect();
    want.sort_unstable();
    assert_eq!(charged, want, "one debit per completed request: {rows}");
    assert!(debits.iter().all(|d| d["reference_type"] == "ai_request"), "{rows}");

    // Once the dead process's reservations are released the books are exact.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, b) = get(server.url("/api/billing/balance"), access.clone()).await;
        if b["reserved"] == before["reserved"] {
            let price: i64 = debits.iter().map(|d| micros(d["amount"].as_str().unwrap())).sum();
            assert_eq!(micros(b["balance"].as_str().unwrap()), micros(before["balance"].as_str().unwrap()) + price);
            break;
        }
        assert!(Instant::now() < deadline, "reservations were not released: {b}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, v) = get(server.url("/api/admin/billing/verify"), access.clone()).await;
    assert_eq!(v["ok"], true, "{v}");
    server.stop("TERM");
}

/// A decimal amount in millionths.
fn micros(amount: &str) -> i64 {
    docwright_core::money::Money::parse(amount).unwrap().micros()
}

mod extraction {
    //! SPEC D2: parsers run in a bounded child process (`docwright extract-worker`). Hostile
    //! files end in `failed` with a named reason; a worker that hangs is killed at the time
    //! limit, one that crashes is reported; the server serves on throughout.

    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    const TOKEN: &str = "extraction-test-admin-token-0123456789";

    async fn login(c: &reqwest::Client, server: &Server) -> String {
        login_as(c, server, TOKEN).await
    }

    async fn upload(c: &reqwest::Client, server: &Server, access: &str, name: &str, bytes: Vec<u8>) -> String {
        let form = reqwest::multipart::Form::new()
            .part("file", reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()));
        let resp = c.post(server.url("/files/upload")).bearer_auth(access).multipart(form).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 201);
        let body: Value = resp.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    /// Waits until the file's extraction has ended; returns its record.
    async fn ended(c: &reqwest::Client, server: &Server, access: &str, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let f: Value = c
                .get(server.url(&format!("/files/{id}")))
                .bearer_auth(access)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if f["extraction_status"] == "done" || f["extraction_status"] == "failed" {
                return f;
            }
            assert!(Instant::now() < deadline, "extraction did not end: {f}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A PDF whose page tree declares 10,001 pages that all share one page object.
    fn ten_thousand_pages() -> Vec<u8> {
        let kids: String = (0..10_001).map(|_| "3 0 R ").collect();
        let objects = [
            "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
            format!("<< /Type /Pages /Count 10001 /Kids [{kids}] >>"),
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>".to_owned(),
        ];
        let mut out = b"%PDF-1.4\n".to_vec();
        let mut offsets = Vec::new();
        for (i, o) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
        }
        let xref = out.len();
        out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
        for off in offsets {
            out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes(),
        );
        out
    }

    /// A DOCX whose document.xml inflates to 300 MiB of nothing.
    fn zip_bomb() -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(true);
        zip.start_file("[Content_Types].xml", opts).unwrap();
        zip.write_all(br#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#).unwrap();
        zip.start_file("_rels/.rels", opts).unwrap();
        zip.write_all(br#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#).unwrap();
        zip.start_file("word/document.xml", opts).unwrap();
        zip.write_all(br#"<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>"#).unwrap();
        let spaces = vec![b' '; 1 << 20];
        for _ in 0..300 {
            zip.write_all(&spaces).unwrap();
        }
        zip.write_all(b"</w:t></w:r></w:p></w:body></w:document>").unwrap();
        zip.finish().unwrap().into_inner()
    }

    fn script(dir: &Path, name: &str, body: &str) -> String {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.to_str().unwrap().to_owned()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hostile_files_fail_with_a_reason_in_their_own_process() {
        let dir = tempfile::tempdir().unwrap();
        let env = [
            ("DOCWRIGHT_BOOTSTRAP__ADMIN_TOKEN", TOKEN),
            ("DOCWRIGHT_EXTRACTION__MAX_MEMORY_MIB", "512"),
            ("DOCWRIGHT_EXTRACTION__MAX_INFLATED_MIB", "64"),
            ("DOCWRIGHT_EXTRACTION__POLL_INTERVAL_MS", "100"),
            ("DOCWRIGHT_EXTRACTION__OCR", "false"),
            // Previews the same on every machine, with or without LibreOffice.
            ("DOCWRIGHT_EXTRACTION__OFFICE_CONVERTER", "off"),
        ];
        let server = Server::start(dir.path(), &env);
        let c = reqwest::Client::new();
        let access = login(&c, &server).await;

        let mut truncated = ten_thousand_pages();
        truncated.truncate(200);
        let cases: [(&str, Vec<u8>, &[&str]); 3] = [
            ("huge.pdf", ten_thousand_pages(), &["too_many_pages"]),
            ("bomb.docx", zip_bomb(), &["too_large", "out_of_memory"]),
            ("truncated.pdf", truncated, &["malformed"]),
        ];
        for (name, bytes, codes) in cases {
            let id = upload(&c, &server, &access, name, bytes).await;
            let f = ended(&c, &server, &access, &id).await;
            assert_eq!(f["extraction_status"], "failed", "{name}: {f}");
            let code = f["extraction_error"].as_str().unwrap_or_default();
            assert!(codes.contains(&code), "{name}: {code} not in {codes:?}: {f}");
            assert!(!f["extraction_message"].as_str().unwrap_or_default().is_empty(), "{f}");
            // A failed file still gets a preview (a generic icon at worst).
            let thumb = c.get(server.url(&format!("/files/{id}/thumbnail"))).bearer_auth(&access).send().await.unwrap();
            assert_eq!(thumb.status().as_u16(), 200, "{name}");
        }
        let health: Value = c.get(server.url("/api/health")).send().await.unwrap().json().await.unwrap();
        assert_eq!(health["checks"]["ocr"]["status"], "not_configured", "{health}");
        let (status, _, stderr) = server.stop("TERM");
        assert!(status.success(), "{stderr}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hanging_or_crashing_worker_is_ended_and_named() {
        let dir = tempfile::tempdir().unwrap();
        for (worker, code) in [
            (script(dir.path(), "hang.sh", "sleep 600"), "timed_out"),
            (script(dir.path(), "crash.sh", "echo 'parser exploded' >&2; kill -SEGV $$"), "parser_crashed"),
            (
                script(dir.path(), "oom.sh", "echo 'memory allocation of 1073741824 bytes failed' >&2; kill -ABRT $$"),
                "out_of_memory",
            ),
        ] {
            let data = tempfile::tempdir().unwrap();
            let env = [
                ("DOCWRIGHT_BOOTSTRAP__ADMIN_TOKEN", TOKEN),
                ("DOCWRIGHT_EXTRACTION__WORKER_PROGRAM", worker.as_str()),
                // The job's own limit is 1 s; the worker gets a few seconds' grace on top.
                ("DOCWRIGHT_EXTRACTION__TIMEOUT_SECS", "1"),
                ("DOCWRIGHT_EXTRACTION__POLL_INTERVAL_MS", "100"),
            ];
            let server = Server::start(data.path(), &env);
            let c = reqwest::Client::new();
            let access = login(&c, &server).await;
            let started = Instant::now();
            let id = upload(&c, &server, &access, "notes.txt", b"hello".to_vec()).await;
            let f = ended(&c, &server, &access, &id).await;
            assert_eq!(
                (f["extraction_status"].as_str(), f["extraction_error"].as_str()),
                (Some("failed"), Some(code)),
                "{f}"
            );
            if code == "timed_out" {
                assert!(started.elapsed() < Duration::from_secs(30), "the hanging worker was not killed in time");
            }
            // The server serves on.
            let health = c.get(server.url("/api/health")).send().await.unwrap();
            assert_eq!(health.status().as_u16(), 200);
            let (status, _, stderr) = server.stop("TERM");
            assert!(status.success(), "{stderr}");
        }
    }
}

/// `docwright generate`: the main job in process, on the embedded defaults (SQLite, local
/// blobs, the dryrun provider), no server.
mod generate {
    use super::*;

    fn generate(dir: &Path, args: &[&str]) -> (ExitStatus, String, String) {
        let mut cmd = command(dir, &[]);
        cmd.arg("generate").args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        let status = wait(&mut child, Duration::from_secs(240));
        // The readers finish once the pipes close.
        std::thread::sleep(Duration::from_millis(100));
        let out = stdout.lock().unwrap().clone();
        let err = stderr.lock().unwrap().clone();
        (status, out, err)
    }

    #[test]
    fn a_prompt_and_files_in_a_document_out() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("notes.txt"),
            "Taxi Zürich 2024-01-02 CHF 12.50\nLunch Bern 2024-01-03 CHF 23.00\n",
        )
        .unwrap();
        let (status, out, err) =
            generate(dir.path(), &["Write a short report of these expenses", "notes.txt", "-o", "report.docx"]);
        assert!(status.success(), "stdout:\n{out}\nstderr:\n{err}");
        for line in
            ["uploaded notes.txt", "phase input_analysis", "phase task_planning", "completed", "wrote report.docx"]
        {
            assert!(out.contains(line), "{line:?} missing from:\n{out}");
        }
        // One request, one document: the action loop writes each format once per task, so the
        // offline default (whose answers never say a task is done) does not write it six times.
        assert_eq!(out.matches("wrote ").count(), 1, "{out}");
        assert!(!out.contains("also made"), "{out}");
        // A DOCX that our own extraction reads, with text in it.
        let path = dir.path().join("report.docx");
        let mime = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
        let extraction =
            docwright_extract::extract(&path, mime, "report.docx", &docwright_extract::Options::default()).unwrap();
        assert!(extraction.parts.iter().any(|p| !p.text.trim().is_empty()), "{out}");
        // The data directory holds the run: a second run reuses it (no second bootstrap).
        let (status, out, err) =
            generate(dir.path(), &["Put these expenses in a table", "notes.txt", "-o", "table.xlsx"]);
        assert!(status.success(), "stdout:\n{out}\nstderr:\n{err}");
        let bytes = std::fs::read(dir.path().join("table.xlsx")).unwrap();
        assert!(bytes.starts_with(b"PK"), "an XLSX is a zip package");
    }

    #[test]
    fn an_output_without_a_format_is_refused_before_any_work() {
        let dir = tempfile::tempdir().unwrap();
        let (status, out, err) = generate(dir.path(), &["anything", "-o", "report.exe"]);
        assert!(!status.success());
        assert!(err.contains("cannot tell the output format from report.exe"), "{err}");
        assert!(!out.contains("workflow"), "{out}");
        let (status, _, err) = generate(dir.path(), &["anything", "missing.pdf", "-o", "report.pdf"]);
        assert!(!status.success());
        assert!(err.contains("missing.pdf is not a readable file"), "{err}");
        assert!(!dir.path().join("docwright-data").exists(), "nothing was started");
    }
}

mod workflow_crash;
