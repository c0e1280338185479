//! The AI gateway through its OpenAI-compatible front door (SPEC A3, A5, A8, B5).

use docwright_config::{Capability, ModelConfig, ProviderConfig, ProviderKind, Secret};
use docwright_llm::testing::{FakeOpenAi, Reply};
use docwright_storage::Backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Auth, TestApp, assert_error};

both_databases!(
    ai_administration_shows_models_providers_and_tests_keys,
    dryrun_answers_by_default_and_every_call_is_priced,
    streams_follow_the_openai_chunk_format,
    json_output_follows_the_schema,
    disallowed_providers_are_never_called
);

fn chat(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]})
}

async fn tenant_of(app: &TestApp, auth: &Auth) -> String {
    app.get("/me", auth).await.1["current_tenant_id"].as_str().unwrap().to_owned()
}

async fn stats(app: &TestApp, tenant: &str) -> Vec<docwright_storage::stats::AiStat> {
    app.state.engine.flush_stats().await;
    app.state.db.ai_stats(docwright_core::id::TenantId::parse(tenant).unwrap()).await.unwrap()
}

async fn dryrun_answers_by_default_and_every_call_is_priced(app: TestApp) {
    let sys = app.sysadmin().await;
    let (status, models) = app.get("/v1/models", &sys).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = models["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["dryrun-simple", "dryrun-complex", "dryrun-embedding", "auto"]);

    let (status, r) =
        app.post("/v1/chat/completions", &sys, chat("dryrun-simple", "Summarise the quarterly memo")).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["object"], "chat.completion");
    assert!(r["choices"][0]["message"]["content"].as_str().unwrap().contains("Summarise the quarterly memo"));
    let (input, output) =
        (r["usage"]["prompt_tokens"].as_u64().unwrap(), r["usage"]["completion_tokens"].as_u64().unwrap());
    // dryrun-simple: 0.10 in / 0.40 out per million tokens, each rounded up to the micro-unit.
    let micros = (input * 100_000).div_ceil(1_000_000) + (output * 400_000).div_ceil(1_000_000);
    assert_eq!(r["docwright"]["price"], docwright_core::money::Money::from_micros(micros as i64).to_string());
    assert_eq!(r["docwright"]["provider"], "dryrun");

    let tenant = tenant_of(&app, &sys).await;
    let s = stats(&app, &tenant).await;
    assert_eq!(s.len(), 1);
    assert_eq!((s[0].process.as_str(), s[0].engine.as_str()), ("api.chat.completions", "ai.dryrun.dryrun-simple"));
    assert_eq!(s[0].price.micros(), micros as i64);
    assert_eq!((s[0].input_tokens as u64, s[0].output_tokens as u64, s[0].error_count), (input, output, 0));

    // `auto` picks by the user's profile: complex → the higher-quality model.
    app.call(Method::PATCH, "/me/settings", &sys, Some(json!({"model_profile": "complex"}))).await;
    let (_, r) = app.post("/v1/chat/completions", &sys, chat("auto", "x")).await;
    assert_eq!(r["model"], "dryrun-complex");
    // An API key works as the OpenAI SDKs send it; the stat names the key.
    let (_, key) = app.post("/api/keys", &sys, json!({"name": "sdk"})).await;
    let (status, _) =
        app.post("/v1/chat/completions", &Auth::bearer(key["key"].as_str().unwrap()), chat("dryrun-simple", "y")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(stats(&app, &tenant).await.last().unwrap().api_key_id.is_some());

    let (status, body) = app.post("/v1/chat/completions", &sys, chat("gpt-99", "x")).await;
    assert_error(status, &body, 404, "model_not_found");
    let (status, body) =
        app.post("/v1/chat/completions", &sys, json!({"model": "dryrun-simple", "messages": []})).await;
    assert_error(status, &body, 400, "validation_failed");
    let (status, body) = app
        .post(
            "/v1/chat/completions",
            &sys,
            json!({"model": "dryrun-simple", "messages": [{"role": "robot", "content": "x"}]}),
        )
        .await;
    assert_error(status, &body, 400, "validation_failed");
    assert_eq!(body["error"]["field"], "messages[0]");
}

/// Splits an SSE body into its `data:` payloads.
fn sse_data(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")))
        .map(str::to_owned)
        .collect()
}

async fn streams_follow_the_openai_chunk_format(app: TestApp) {
    let sys = app.sysadmin().await;
    let (_, whole) = app.post("/v1/chat/completions", &sys, chat("dryrun-simple", "stream me")).await;
    let mut body = chat("dryrun-simple", "stream me");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let resp = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(sys.bearer.clone().unwrap())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let data = sse_data(&resp.text().await.unwrap());
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1].iter().map(|d| serde_json::from_str(d).unwrap()).collect();
    let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, whole["choices"][0]["message"]["content"].as_str().unwrap());
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"));
    let usage = chunks.iter().find(|c| c["usage"].is_object()).expect("a usage chunk");
    assert_eq!(usage["usage"], whole["usage"]);
    assert_eq!(usage["docwright"]["price"], whole["docwright"]["price"]);
    let tenant = tenant_of(&app, &sys).await;
    assert_eq!(stats(&app, &tenant).await.len(), 2, "the streamed call is recorded like the other");
}

async fn json_output_follows_the_schema(app: TestApp) {
    let sys = app.sysadmin().await;
    let schema = json!({"type": "object", "required": ["rows"], "properties": {"rows": {"type": "array", "items": {"type": "object",
        "properties": {"date": {"type": "string"}, "shop": {"type": "string"}, "chf": {"type": "number"}}}}}});
    let mut body = chat("dryrun-simple", "extract the receipts");
    body["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "receipts", "schema": schema}});
    let (status, r) = app.post("/v1/chat/completions", &sys, body).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let content: Value = serde_json::from_str(r["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert!(content["rows"][0]["chf"].is_number(), "{content}");
}

async fn disallowed_providers_are_never_called(app: TestApp) {
    let t = app.create_tenant("NoAI").await;
    let admin = app.user_in(&t, "admin").await;
    let user = app.user_in(&t, "user").await;
    let deny = json!({"role": "user", "item": "resource.aicore.dryrun", "view": false, "read": "none", "create": "none", "update": "none", "delete": "none"});
    assert_eq!(app.call(Method::PUT, "/api/admin/rbac/rules", &admin.auth, Some(deny)).await.0, StatusCode::OK);
    let (_, models) = app.get("/v1/models", &user.auth).await;
    assert_eq!(models["data"], json!([]), "no usable model is listed");
    let (status, body) = app.post("/v1/chat/completions", &user.auth, chat("dryrun-simple", "x")).await;
    assert_error(status, &body, 403, "forbidden");
    // The request's own allowed_providers narrows further.
    let mut narrowed = chat("dryrun-simple", "x");
    narrowed["allowed_providers"] = json!(["openai"]);
    let (status, _) = app.post("/v1/chat/completions", &admin.auth, narrowed).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(stats(&app, &t).await.is_empty(), "nothing was called, nothing recorded");
    assert_eq!(app.post("/v1/chat/completions", &admin.auth, chat("dryrun-simple", "x")).await.0, StatusCode::OK);
}

/// A fake OpenAI upstream first, then a dryrun model as its fallback; quick backoff.
async fn with_upstream(
    backend: Backend,
    fake: &FakeOpenAi,
    adjust: impl FnOnce(&mut docwright_config::Config),
) -> Option<TestApp> {
    let base = fake.base_url.clone();
    TestApp::spawn(backend, move |c| {
        c.gateway.backoff_base_ms = 10;
        c.providers = vec![
            ProviderConfig {
                name: "upstream".into(),
                kind: ProviderKind::OpenaiCompatible,
                base_url: Some(base),
                api_key: Some(Secret::new("sk-upstream-key".into())),
                api_key_file: None,
                timeout_secs: 5,
                requests_per_minute: None,
                ..Default::default()
            },
            ProviderConfig {
                name: "local".into(),
                kind: ProviderKind::Dryrun,
                base_url: None,
                api_key: None,
                api_key_file: None,
                timeout_secs: 5,
                requests_per_minute: None,
                ..Default::default()
            },
        ];
        let model = |name: &str, provider: &str, fallbacks: Vec<String>| ModelConfig {
            name: name.into(),
            provider: provider.into(),
            upstream_name: Some(format!("{name}-upstream")),
            context_tokens: 8000,
            max_output_tokens: 1000,
            capabilities: vec![Capability::Text, Capability::Json],
            price_input_per_mtok: "0.15".into(),
            price_output_per_mtok: "0.60".into(),
            quality: 8,
            speed: 5,
            fallbacks,
        };
        c.models = vec![model("gpt-x", "upstream", vec!["backup".into()]), model("backup", "local", vec![])];
        adjust(c);
    })
    .await
}

async fn fallback_and_attempts(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let Some(app) = with_upstream(backend, &fake, |c| c.gateway.retries_per_model = 1).await else { return };
    let sys = app.sysadmin().await;
    let tenant = tenant_of(&app, &sys).await;

    fake.reply(Reply::Ok { content: "from upstream".into(), usage: Some((1000, 2000)) });
    let (status, r) = app.post("/v1/chat/completions", &sys, chat("gpt-x", "hi")).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["choices"][0]["message"]["content"], "from upstream");
    assert_eq!(r["docwright"]["price"], "0.00135", "1000 × 0.15 + 2000 × 0.60 per million");
    let sent = &fake.received()[0];
    assert_eq!(sent.body["model"], "gpt-x-upstream", "the provider's own model id is sent");
    assert_eq!(sent.authorization.as_deref(), Some("Bearer sk-upstream-key"));

    // The upstream fails once: it is retried and answers.
    fake.reply(Reply::Status { status: 502, retry_after: None });
    fake.reply(Reply::Ok { content: "second try".into(), usage: Some((1, 1)) });
    let (status, r) = app.post("/v1/chat/completions", &sys, chat("gpt-x", "hi")).await;
    assert_eq!((status, r["choices"][0]["message"]["content"].as_str()), (StatusCode::OK, Some("second try")));
    assert_eq!(r["docwright"]["attempts"].as_array().unwrap().len(), 2);

    // It keeps failing: after the retry, the fallback answers; every attempt is reported and recorded.
    fake.reply(Reply::Status { status: 500, retry_after: None });
    fake.reply(Reply::Status { status: 500, retry_after: None });
    let (status, r) = app.post("/v1/chat/completions", &sys, chat("gpt-x", "hi")).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!((r["model"].as_str(), r["docwright"]["provider"].as_str()), (Some("backup"), Some("local")));
    assert_eq!(r["docwright"]["error_count"], 2);
    assert_eq!(r["docwright"]["attempts"].as_array().unwrap().len(), 3);
    let s = stats(&app, &tenant).await;
    assert_eq!(s.len(), 6, "1 + (failed, ok) + (failed, failed, fallback)");
    assert_eq!((s[3].engine.as_str(), s[3].error_count, s[3].price.micros()), ("ai.upstream.gpt-x", 1, 0));
    assert!(s[3].error.as_deref().unwrap().contains("500"));

    // Only the upstream allowed, and it is rate limited for longer than we wait: no retry,
    // 503 with Retry-After, every attempt named.
    fake.reply(Reply::Status { status: 429, retry_after: Some(7) });
    let mut only = chat("gpt-x", "hi");
    only["allowed_providers"] = json!(["upstream"]);
    let resp = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(sys.bearer.clone().unwrap())
        .json(&only)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "7");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "provider_unavailable");
    assert!(body["error"]["message"].as_str().unwrap().contains("gpt-x (upstream)"), "{body}");
    assert!(!body.to_string().contains("sk-upstream-key"), "keys never reach the client");
}

mod fallback_to_the_next_candidate {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::fallback_and_attempts(docwright_storage::Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::fallback_and_attempts(docwright_storage::Backend::Postgres).await
    }
}

/// A JSON Schema call: the upstream gets a strict schema; a malformed answer (not JSON, or
/// not of the schema) is retried and falls back like any retryable failure (A3).
async fn structured_output_is_enforced_and_falls_back(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let Some(app) = with_upstream(backend, &fake, |c| c.gateway.retries_per_model = 0).await else { return };
    let sys = app.sysadmin().await;
    let schema = docwright_llm::testing::schemas::elements();
    let mut body = chat("gpt-x", "write the report");
    body["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "document", "schema": schema}});

    let answer = json!({"elements": [{"type": "paragraph", "text": "All receipts are in."}]});
    fake.reply(Reply::Ok { content: answer.to_string(), usage: Some((10, 10)) });
    let (status, r) = app.post("/v1/chat/completions", &sys, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["docwright"]["provider"], "upstream");
    let content: Value = serde_json::from_str(r["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(content, answer);
    let format = &fake.received()[0].body["response_format"];
    assert_eq!((format["type"].as_str(), format["json_schema"]["strict"].as_bool()), (Some("json_schema"), Some(true)));

    for malformed in ["Here is your report: ...", r#"{"elements": [{"type": "quote", "text": "x"}]}"#] {
        fake.reply(Reply::Ok { content: malformed.into(), usage: Some((10, 10)) });
        let (status, r) = app.post("/v1/chat/completions", &sys, body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{r}");
        assert_eq!(r["docwright"]["provider"], "local", "the fallback answered");
        let attempts = r["docwright"]["attempts"].as_array().unwrap();
        assert!(attempts[0]["error"].as_str().unwrap().contains("output does not have the requested shape"), "{r}");
        let content: Value = serde_json::from_str(r["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
        assert_eq!(docwright_llm::schema::check(&schema, &content), Ok(()), "dryrun answers in the schema: {content}");
        assert!(!r.to_string().contains("Here is your report"), "the answer stays out of the error");
    }
}

mod structured_output_falls_back {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::structured_output_is_enforced_and_falls_back(docwright_storage::Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::structured_output_is_enforced_and_falls_back(docwright_storage::Backend::Postgres).await
    }
}

async fn large_inputs_are_chunked_on_request(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let Some(app) = with_upstream(backend, &fake, |c| c.gateway.chunk_parallelism = 3).await else { return };
    let sys = app.sysadmin().await;
    let tenant = tenant_of(&app, &sys).await;
    // ~75,000 bytes of paragraphs: about 19,000 tokens, more than gpt-x's 8,000.
    let document: String =
        (0..1000).map(|i| format!("Paragraph {i:04}: the invoice lists one item at 12.50 EUR.\n\n")).collect();
    let (status, body) = app.post("/v1/chat/completions", &sys, chat("gpt-x", &document)).await;
    assert_error(status, &body, 422, "no_model_available");
    assert!(fake.received().is_empty());

    let mut req = chat("gpt-x", &document);
    req["chunking"] = json!(true);
    let (status, r) = app.post("/v1/chat/completions", &sys, req.clone()).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let chunks = r["docwright"]["chunks"].as_u64().unwrap();
    let got = fake.received();
    assert!(chunks >= 3, "{chunks} chunks");
    assert_eq!(got.len() as u64, chunks, "one upstream call per chunk");
    // Every chunk carries the instructions and one slice of the input, starting at a paragraph.
    let mut parts: Vec<String> =
        got.iter().map(|g| g.body["messages"][1]["content"].as_str().unwrap().to_owned()).collect();
    parts.sort_by_key(|p| p.split(']').next().unwrap().split_whitespace().nth(1).unwrap().parse::<u64>().unwrap());
    for (i, p) in parts.iter().enumerate() {
        assert!(p.starts_with(&format!("[Part {} of {chunks} of the input]\nParagraph ", i + 1)), "{}", &p[..60]);
        assert!(p.len() < 8000 * 4, "a chunk fits the model");
    }
    assert!(got.iter().all(|g| g.body["messages"][0]["content"] == "be brief"));
    assert!(parts.last().unwrap().contains("Paragraph 0999"));
    // The fake answers "ok" to each; the answers are concatenated in input order.
    let answer = r["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(answer, vec!["ok"; chunks as usize].join("\n\n"));
    let s = stats(&app, &tenant).await;
    assert_eq!(s.len() as u64, chunks);
    let total: i64 = s.iter().map(|s| s.price.micros()).sum();
    assert_eq!(r["docwright"]["price"], docwright_core::money::Money::from_micros(total).to_string());

    req["stream"] = json!(true);
    let (status, body) = app.post("/v1/chat/completions", &sys, req).await;
    assert_error(status, &body, 400, "validation_failed");
}

mod large_inputs_are_chunked {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::large_inputs_are_chunked_on_request(docwright_storage::Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::large_inputs_are_chunked_on_request(docwright_storage::Backend::Postgres).await
    }
}

async fn breaker_rests_a_failing_model(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let Some(app) = with_upstream(backend, &fake, |c| {
        c.gateway.retries_per_model = 0;
        c.gateway.breaker_failures = 2;
        c.gateway.breaker_rest_secs = 1;
    })
    .await
    else {
        return;
    };
    let sys = app.sysadmin().await;
    for _ in 0..2 {
        fake.reply(Reply::Status { status: 503, retry_after: None });
        let (_, r) = app.post("/v1/chat/completions", &sys, chat("gpt-x", "hi")).await;
        assert_eq!(r["model"], "backup");
    }
    assert_eq!(fake.received().len(), 2);
    // Resting: the upstream is not even asked.
    let (_, r) = app.post("/v1/chat/completions", &sys, chat("gpt-x", "hi")).await;
    assert_eq!((r["model"].as_str(), r["docwright"]["attempts"].as_array().unwrap().len()), (Some("backup"), 1));
    assert_eq!(fake.received().len(), 2, "a resting model is skipped");
    // After the rest it is tried again, and a success closes the breaker.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (_, r) = app.post("/v1/chat/completions", &sys, chat("gpt-x", "hi")).await;
    assert_eq!(r["model"], "gpt-x");
    assert_eq!(fake.received().len(), 3);
    // When every candidate rests, they are tried anyway rather than refusing.
    let mut only = chat("gpt-x", "hi");
    only["allowed_providers"] = json!(["upstream"]);
    for _ in 0..2 {
        fake.reply(Reply::Status { status: 503, retry_after: None });
        app.post("/v1/chat/completions", &sys, only.clone()).await;
    }
    let (status, _) = app.post("/v1/chat/completions", &sys, only).await;
    assert_eq!(status, StatusCode::OK, "the resting model was probed and answered");
}

mod breaker {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::breaker_rests_a_failing_model(docwright_storage::Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::breaker_rests_a_failing_model(docwright_storage::Backend::Postgres).await
    }
}

/// Anthropic first (its protocol, its headers), OpenAI-compatible as the fallback.
async fn across_protocols(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let (openai, anthropic) = (fake.base_url.clone(), fake.anthropic_url.clone());
    let Some(app) = TestApp::spawn(backend, move |c| {
        c.gateway.retries_per_model = 0;
        let provider = |name: &str, kind, base: String, key: &str| ProviderConfig {
            name: name.into(),
            kind,
            base_url: Some(base),
            api_key: Some(Secret::new(key.into())),
            api_key_file: None,
            timeout_secs: 5,
            requests_per_minute: None,
            ..Default::default()
        };
        c.providers = vec![
            provider("claude", ProviderKind::Anthropic, anthropic.clone(), "sk-ant-key"),
            provider("openai", ProviderKind::OpenaiCompatible, openai, "sk-oai-key"),
            provider("google", ProviderKind::Gemini, anthropic, "gm-key"),
        ];
        let model = |name: &str, provider: &str, fallbacks: Vec<String>| ModelConfig {
            name: name.into(),
            provider: provider.into(),
            upstream_name: None,
            context_tokens: 200_000,
            max_output_tokens: 4096,
            capabilities: vec![Capability::Text],
            price_input_per_mtok: "3".into(),
            price_output_per_mtok: "15".into(),
            quality: 9,
            speed: 5,
            fallbacks,
        };
        c.models = vec![
            model("claude-sonnet", "claude", vec!["gpt-4o-mini".into(), "gemini-flash".into()]),
            model("gpt-4o-mini", "openai", vec![]),
            model("gemini-flash", "google", vec![]),
        ];
    })
    .await
    else {
        return;
    };
    let sys = app.sysadmin().await;
    fake.reply(Reply::Ok { content: "from claude".into(), usage: Some((100, 10)) });
    let (status, r) = app.post("/v1/chat/completions", &sys, chat("claude-sonnet", "hi")).await;
    assert_eq!((status, r["choices"][0]["message"]["content"].as_str()), (StatusCode::OK, Some("from claude")));
    assert_eq!(r["docwright"]["price"], "0.00045", "100 × 3 + 10 × 15 per million");
    let got = fake.received();
    assert_eq!(got[0].header("x-api-key"), Some("sk-ant-key"));
    assert_eq!(got[0].body["system"], "be brief");

    fake.reply(Reply::Status { status: 529, retry_after: None });
    fake.reply(Reply::Ok { content: "from openai".into(), usage: Some((5, 5)) });
    let (_, r) = app.post("/v1/chat/completions", &sys, chat("claude-sonnet", "hi")).await;
    assert_eq!(
        (r["model"].as_str(), r["choices"][0]["message"]["content"].as_str()),
        (Some("gpt-4o-mini"), Some("from openai"))
    );
    assert_eq!(fake.received()[2].authorization.as_deref(), Some("Bearer sk-oai-key"));

    // Both fail: the third protocol answers.
    fake.reply(Reply::Status { status: 529, retry_after: None });
    fake.reply(Reply::Status { status: 500, retry_after: None });
    fake.reply(Reply::Ok { content: "from gemini".into(), usage: Some((5, 5)) });
    let (_, r) = app.post("/v1/chat/completions", &sys, chat("claude-sonnet", "hi")).await;
    assert_eq!(
        (r["model"].as_str(), r["choices"][0]["message"]["content"].as_str()),
        (Some("gemini-flash"), Some("from gemini"))
    );
    assert_eq!(r["docwright"]["attempts"].as_array().unwrap().len(), 3);
    assert_eq!(fake.received()[5].path, "/v1beta/models/gemini-flash:generateContent");
}

mod anthropic_then_openai {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::across_protocols(docwright_storage::Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::across_protocols(docwright_storage::Backend::Postgres).await
    }
}

async fn ai_administration_shows_models_providers_and_tests_keys(app: TestApp) {
    let sys = app.sysadmin().await;
    let (status, models) = app.get("/api/admin/ai/models", &sys).await;
    assert_eq!(status, StatusCode::OK);
    let simple = models.as_array().unwrap().iter().find(|m| m["name"] == "dryrun-simple").unwrap();
    assert_eq!(
        (simple["price_input_per_mtok"].as_str(), simple["price_output_per_mtok"].as_str()),
        (Some("0.10"), Some("0.40"))
    );
    assert_eq!(simple["capabilities"], json!(["text", "json", "vision"]));
    let (_, providers) = app.get("/api/admin/ai/providers", &sys).await;
    assert_eq!(providers[0]["name"], "dryrun");
    assert_eq!(providers[0]["type"], "dryrun");
    assert_eq!((providers[0]["key_configured"].as_bool(), providers[0]["status"].as_str()), (Some(false), Some("ok")));
    let (status, test) = app.post("/api/admin/ai/providers/dryrun/test", &sys, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{test}");
    assert_eq!((test["ok"].as_bool(), test["model"].as_str()), (Some(true), Some("dryrun-simple")));
    let tenant = tenant_of(&app, &sys).await;
    assert_eq!(stats(&app, &tenant).await.last().unwrap().process, "admin.provider_test");
    let (status, body) = app.post("/api/admin/ai/providers/nope/test", &sys, json!({})).await;
    assert_error(status, &body, 404, "not_found");
}

async fn failing_provider_shows_in_health(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let Some(app) = with_upstream(backend, &fake, |c| {
        c.gateway.retries_per_model = 0;
        c.gateway.breaker_failures = 1;
        c.gateway.breaker_rest_secs = 60;
    })
    .await
    else {
        return;
    };
    let sys = app.sysadmin().await;
    fake.reply(Reply::Status { status: 401, retry_after: None });
    let (status, test) = app.post("/api/admin/ai/providers/upstream/test", &sys, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(test["ok"], false);
    assert!(test["error"].as_str().unwrap().contains("401"), "{test}");
    assert!(!test.to_string().contains("sk-upstream-key"));
    fake.reply(Reply::Status { status: 503, retry_after: None });
    app.post("/v1/chat/completions", &sys, chat("gpt-x", "hi")).await;
    let (_, providers) = app.get("/api/admin/ai/providers", &sys).await;
    let upstream = providers.as_array().unwrap().iter().find(|p| p["name"] == "upstream").unwrap();
    assert_eq!((upstream["status"].as_str(), upstream["key_configured"].as_bool()), (Some("degraded"), Some(true)));
    assert!(upstream["models"][0]["resting_secs"].as_u64().unwrap() > 0, "{upstream}");
    assert!(!providers.to_string().contains("sk-upstream-key"));
}

mod provider_health {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::failing_provider_shows_in_health(docwright_storage::Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::failing_provider_shows_in_health(docwright_storage::Backend::Postgres).await
    }
}

/// Limits are counted in memory, the same on either database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_are_rate_limited_per_user() {
    let Some(limited) = TestApp::spawn(Backend::Sqlite, |c| c.limits.ai_requests_per_minute_per_user = 2).await else {
        return;
    };
    let sys = limited.sysadmin().await;
    for _ in 0..2 {
        assert_eq!(limited.post("/v1/chat/completions", &sys, chat("dryrun-simple", "x")).await.0, StatusCode::OK);
    }
    let resp = limited
        .client
        .post(limited.url("/v1/chat/completions"))
        .bearer_auth(sys.bearer.clone().unwrap())
        .json(&chat("dryrun-simple", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    // Another user has a quota of their own.
    let root = tenant_of(&limited, &sys).await;
    let other = limited.user_in(&root, "user").await;
    assert_eq!(limited.post("/v1/chat/completions", &other.auth, chat("dryrun-simple", "x")).await.0, StatusCode::OK);
    // Refused requests reach no provider and cost nothing.
    assert_eq!(stats(&limited, &root).await.len(), 3);
}

async fn provider_quota_is_respected(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let Some(app) = with_upstream(backend, &fake, |c| {
        c.providers[0].requests_per_minute = Some(1);
        c.gateway.max_retry_after_secs = 1;
    })
    .await
    else {
        return;
    };
    let sys = app.sysadmin().await;
    let (_, r) = app.post("/v1/chat/completions", &sys, chat("gpt-x", "hi")).await;
    assert_eq!(r["model"], "gpt-x");
    // The upstream's quota is used up for a minute: the fallback answers, the upstream is not asked.
    let (_, r) = app.post("/v1/chat/completions", &sys, chat("gpt-x", "hi")).await;
    assert_eq!(r["model"], "backup", "{r}");
    assert!(r["docwright"]["attempts"][0]["error"].as_str().unwrap().contains("request limit"), "{r}");
    assert_eq!(fake.received().len(), 1);
}

/// A provider's token quota (SPEC A9: e.g. GigaChat's tokens per request and minute): each call
/// counts its input and maximum output; past the quota the fallback answers.
async fn provider_token_quota_is_respected(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let Some(app) = with_upstream(backend, &fake, |c| {
        c.providers[0].tokens_per_minute = Some(1000);
        c.gateway.max_retry_after_secs = 1;
    })
    .await
    else {
        return;
    };
    let sys = app.sysadmin().await;
    let ask = |max_tokens: u32| {
        let mut body = chat("gpt-x", "hi");
        body["max_tokens"] = json!(max_tokens);
        body
    };
    // A call larger than the whole quota never goes to this provider.
    let (_, r) = app.post("/v1/chat/completions", &sys, ask(1000)).await;
    assert_eq!(r["model"], "backup", "{r}");
    assert!(r["docwright"]["attempts"][0]["error"].as_str().unwrap().contains("tokens_per_minute (1000)"), "{r}");
    assert!(fake.received().is_empty());
    // 600 + 600 > 1000: the second call falls back (the quota refills over a minute).
    let (_, r) = app.post("/v1/chat/completions", &sys, ask(600)).await;
    assert_eq!(r["model"], "gpt-x", "{r}");
    let (_, r) = app.post("/v1/chat/completions", &sys, ask(600)).await;
    assert_eq!(r["model"], "backup", "{r}");
    assert!(r["docwright"]["attempts"][0]["error"].as_str().unwrap().contains("token limit"), "{r}");
    assert_eq!(fake.received().len(), 1);
}

mod provider_token_quota {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::provider_token_quota_is_respected(docwright_storage::Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::provider_token_quota_is_respected(docwright_storage::Backend::Postgres).await
    }
}

mod provider_quota {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::provider_quota_is_respected(docwright_storage::Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::provider_quota_is_respected(docwright_storage::Backend::Postgres).await
    }
}

/// The key order: the user's own (BYOK), the tenant's, the configured one. Keys are stored
/// sealed and never shown.
async fn keys_are_sealed_and_resolved_user_tenant_config(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let Some(app) = with_upstream(backend, &fake, |c| c.gateway.retries_per_model = 0).await else { return };
    let sys = app.sysadmin().await;
    let last_key = |fake: &FakeOpenAi| fake.received().last().unwrap().authorization.clone().unwrap();

    app.post("/v1/chat/completions", &sys, chat("gpt-x", "hi")).await;
    assert_eq!(last_key(&fake), "Bearer sk-upstream-key");

    let (status, _) =
        app.call(Method::PUT, "/api/admin/ai/keys/upstream", &sys, Some(json!({"key": "sk-tenant"}))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    app.post("/v1/chat/completions", &sys, chat("gpt-x", "hi")).await;
    assert_eq!(last_key(&fake), "Bearer sk-tenant");
    let (_, keys) = app.get("/api/admin/ai/keys", &sys).await;
    assert_eq!(keys[0]["provider"], "upstream");
    assert!(!keys.to_string().contains("sk-tenant"));

    let (status, s) =
        app.call(Method::PATCH, "/me/settings", &sys, Some(json!({"provider_keys": {"upstream": "sk-mine"}}))).await;
    assert_eq!(status, StatusCode::OK, "{s}");
    assert_eq!(s["provider_keys_set"], json!(["upstream"]));
    app.post("/v1/chat/completions", &sys, chat("gpt-x", "hi")).await;
    assert_eq!(last_key(&fake), "Bearer sk-mine");
    let (_, me) = app.get("/me", &sys).await;
    assert_eq!(me["settings"]["provider_keys_set"], json!(["upstream"]));
    assert!(!me.to_string().contains("sk-mine"), "write-only");
    let me_id = docwright_core::id::UserId::parse(me["id"].as_str().unwrap()).unwrap();
    let sealed = app
        .state
        .db
        .provider_key(docwright_storage::provider_keys::KeyOwner::User(me_id), "upstream")
        .await
        .unwrap()
        .unwrap();
    assert!(!sealed.contains("sk-mine"), "stored encrypted");

    // A bad entry changes nothing, not even the other fields of the patch.
    let (status, body) = app
        .call(Method::PATCH, "/me/settings", &sys, Some(json!({"language": "de", "provider_keys": {"nope": "x"}})))
        .await;
    assert_error(status, &body, 400, "validation_failed");
    assert_eq!(body["error"]["field"], "provider_keys.nope");
    assert_eq!(app.get("/me", &sys).await.1["settings"]["language"], "en");

    app.call(Method::PATCH, "/me/settings", &sys, Some(json!({"provider_keys": {"upstream": null}}))).await;
    app.post("/v1/chat/completions", &sys, chat("gpt-x", "hi")).await;
    assert_eq!(last_key(&fake), "Bearer sk-tenant");
    assert_eq!(app.call(Method::DELETE, "/api/admin/ai/keys/upstream", &sys, None).await.0, StatusCode::NO_CONTENT);
    app.post("/v1/chat/completions", &sys, chat("gpt-x", "hi")).await;
    assert_eq!(last_key(&fake), "Bearer sk-upstream-key");
    let (status, body) = app.call(Method::DELETE, "/api/admin/ai/keys/upstream", &sys, None).await;
    assert_error(status, &body, 404, "not_found");
}

mod byok_keys {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::keys_are_sealed_and_resolved_user_tenant_config(docwright_storage::Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::keys_are_sealed_and_resolved_user_tenant_config(docwright_storage::Backend::Postgres).await
    }
}
