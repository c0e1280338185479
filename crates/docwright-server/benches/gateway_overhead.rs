//! SPEC N1: what the gateway adds to an AI call. A zero-delay fake upstream on loopback (the
//! OpenAI wire protocol) is called directly and through docwright's `/v1/chat/completions`
//! (API-key auth, tenant context, RBAC, provider permission, the reservation against the caller's
//! prepaid balance and its settlement in the ledger, the call, its stat row), in one
//! run, and the differences are printed next to the targets:
//!   added latency p50 < 0.3 ms and p99 < 1 ms at 1,000 requests/s;
//!   streaming passes the first token on within 1 ms.
//! Run: `cargo bench -p docwright-server --bench gateway_overhead` (SQLite, as embedded).

// A benchmark reports by printing, fails loudly, and drives its own load tasks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, clippy::disallowed_methods, unreachable_pub)]

use std::time::{Duration, Instant};

use docwright_config::{Capability, Config, ModelConfig, ProviderConfig, ProviderKind, Secret};
use docwright_llm::testing::{FakeOpenAi, Reply};
use serde_json::{Value, json};

const SEQUENTIAL: usize = 2_000;
const RATE_PER_SEC: u64 = 1_000;
const RATE_SECS: u64 = 3;
const STREAMS: usize = 300;

struct Target {
    url: String,
    key: Option<String>,
}

fn body(stream: bool) -> Value {
    json!({"model": "gpt-bench", "messages": [{"role": "user", "content": "ping"}], "max_tokens": 5, "stream": stream})
}

/// A chat completion request to `t`, authenticated when `t` needs a key.
fn request(client: &reqwest::Client, t: &Target, stream: bool) -> reqwest::RequestBuilder {
    let req = client.post(&t.url).json(&body(stream));
    match &t.key {
        Some(k) => req.bearer_auth(k),
        None => req,
    }
}

async fn call(client: &reqwest::Client, t: &Target) -> Duration {
    let req = request(client, t, false);
    let started = Instant::now();
    let resp = req.send().await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    resp.bytes().await.unwrap();
    started.elapsed()
}

/// Time until the first token (`Hel`) arrives on a stream.
async fn first_token(client: &reqwest::Client, t: &Target) -> Duration {
    use futures_util::StreamExt as _;
    let req = request(client, t, true);
    let started = Instant::now();
    let resp = req.send().await.unwrap();
    let mut stream = resp.bytes_stream();
    let mut seen = Vec::new();
    let mut at = None;
    while let Some(chunk) = stream.next().await {
        seen.extend_from_slice(&chunk.unwrap());
        if at.is_none() && seen.windows(3).any(|w| w == b"Hel") {
            at = Some(started.elapsed());
        }
    }
    at.expect("a first token")
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn summary(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    (pct(&v, 0.50), pct(&v, 0.99))
}

async fn sequential(client: &reqwest::Client, t: &Target, n: usize) -> (f64, f64) {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(call(client, t).await);
    }
    summary(v)
}

/// Open loop: a request every 1/rate seconds, whatever the answers do.
async fn at_rate(client: &reqwest::Client, t: &Target) -> (f64, f64, usize) {
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE_PER_SEC));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut handles = Vec::new();
    for _ in 0..RATE_PER_SEC * RATE_SECS {
        tick.tick().await;
        let client = client.clone();
        let t = Target { url: t.url.clone(), key: t.key.clone() };
        handles.push(tokio::spawn(async move { call(&client, &t).await }));
    }
    let mut v = Vec::with_capacity(handles.len());
    for h in handles {
        v.push(h.await.unwrap());
    }
    let n = v.len();
    let (p50, p99) = summary(v);
    (p50, p99, n)
}

fn row(label: &str, direct: (f64, f64), via: (f64, f64), target: (f64, f64)) {
    let (a50, a99) = (via.0 - direct.0, via.1 - direct.1);
    let verdict = |x: f64, t: f64| if x < t { "meets" } else { "MISSES" };
    println!(
        "{label:<28} direct p50 {:>7.3} ms p99 {:>7.3} ms | via docwright p50 {:>7.3} ms p99 {:>7.3} ms | added p50 {a50:>7.3} ms ({} < {} ms) p99 {a99:>7.3} ms ({} < {} ms)",
        direct.0,
        direct.1,
        via.0,
        via.1,
        verdict(a50, target.0),
        target.0,
        verdict(a99, target.1),
        target.1
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let fake = FakeOpenAi::start().await;
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.server.bind = "127.0.0.1:0".parse().unwrap();
        config.storage.data_dir = dir.path().to_path_buf();
        config.bootstrap.admin_token = Some(Secret::new("bench-admin-token-0123456789".into()));
        config.log.level = "warn".into();
        config.providers = vec![ProviderConfig {
            name: "fake".into(),
            kind: ProviderKind::OpenaiCompatible,
            base_url: Some(fake.base_url.clone()),
            api_key: None,
            api_key_file: None,
            timeout_secs: 30,
            requests_per_minute: None,
            ..Default::default()
        }];
        config.models = vec![ModelConfig {
            name: "gpt-bench".into(),
            provider: "fake".into(),
            upstream_name: None,
            context_tokens: 128_000,
            max_output_tokens: 1000,
            capabilities: vec![Capability::Text],
            price_input_per_mtok: "0.15".into(),
            price_output_per_mtok: "0.60".into(),
            quality: 5,
            speed: 5,
            fallbacks: vec![],
        }];
        let app = docwright_server::Application::build(&config).await.unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(async move { app.run_until_stopped(std::future::pending()).await.unwrap() });

        let client = reqwest::Client::new();
        let setup = |path: &str, bearer: Option<&str>, tenant: Option<&str>, body: Value| {
            let mut req = client.post(format!("{base}{path}")).json(&body);
            if let Some(b) = bearer {
                req = req.bearer_auth(b);
            }
            if let Some(t) = tenant {
                req = req.header("X-Tenant-Id", t);
            }
            async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
        };
        let pair = setup("/auth/exchange", None, None, json!({"static_token": "bench-admin-token-0123456789"})).await;
        let access = pair["access_token"].as_str().unwrap();
        let key = setup("/api/keys", Some(access), None, json!({"name": "bench"})).await;
        // A second tenant without billing settings: `unlimited`, so its calls are booked but
        // not reserved (no balance to protect).
        let tenant = setup("/api/admin/tenants", Some(access), None, json!({"name": "Unlimited"})).await;
        let unlimited_key =
            setup("/api/keys", Some(access), Some(tenant["id"].as_str().unwrap()), json!({"name": "bench"})).await;
        let direct = Target { url: format!("{}/chat/completions", fake.base_url), key: None };
        let via = Target { url: format!("{base}/v1/chat/completions"), key: Some(key["key"].as_str().unwrap().to_owned()) };
        let via_unlimited =
            Target { url: format!("{base}/v1/chat/completions"), key: Some(unlimited_key["key"].as_str().unwrap().to_owned()) };

        // Warm up every path (connections, caches, the SQLite file).
        sequential(&client, &direct, 200).await;
        sequential(&client, &via, 200).await;
        sequential(&client, &via_unlimited, 200).await;

        println!("N1 gateway overhead: zero-delay fake upstream on 127.0.0.1, docwright on embedded SQLite, API-key auth, stats on");
        println!("prepaid: each call reserved and settled in the ledger (two durable writes); unlimited: booked only");
        let d = sequential(&client, &direct, SEQUENTIAL).await;
        let v = sequential(&client, &via, SEQUENTIAL).await;
        let u = sequential(&client, &via_unlimited, SEQUENTIAL).await;
        row(&format!("c=1 prepaid ({SEQUENTIAL} calls)"), d, v, (0.3, 1.0));
        row(&format!("c=1 unlimited ({SEQUENTIAL} calls)"), d, u, (0.3, 1.0));

        let (d50, d99, n) = at_rate(&client, &direct).await;
        let (v50, v99, _) = at_rate(&client, &via).await;
        let (u50, u99, _) = at_rate(&client, &via_unlimited).await;
        row(&format!("{RATE_PER_SEC}/s prepaid ({n})"), (d50, d99), (v50, v99), (0.3, 1.0));
        row(&format!("{RATE_PER_SEC}/s unlimited ({n})"), (d50, d99), (u50, u99), (0.3, 1.0));

        let mut direct_ttft = Vec::new();
        let mut via_ttft = Vec::new();
        for _ in 0..STREAMS {
            let stream = || Reply::Stream { deltas: vec!["Hel".into(), "lo".into()], usage: Some((5, 2)), done: true };
            fake.reply(stream());
            direct_ttft.push(first_token(&client, &direct).await);
            fake.reply(stream());
            via_ttft.push(first_token(&client, &via).await);
        }
        row(&format!("stream first token ({STREAMS})"), summary(direct_ttft), summary(via_ttft), (1.0, 1.0));
    });
}
