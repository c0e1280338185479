//! Embeddings (SPEC A2 `embedding`, A8, C3): `POST /v1/embeddings` through the gateway against
//! the fake upstream — billed, recorded, falling back —; passages embedded in the background
//! after extraction; a chat's project passage found by meaning only and one by words only; and
//! the retrieval quality on a labelled set the test builds: recall@5 of full-text search alone,
//! vectors alone and both fused.

use std::time::{Duration, Instant};

use base64::Engine as _;
use docwright_config::{Capability, Config, ModelConfig, ProviderConfig, ProviderKind};
use docwright_core::id::{FileId, ProjectId, TenantId};
use docwright_llm::embed;
use docwright_llm::testing::{FakeOpenAi, Reply};
use docwright_storage::Backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Auth, TestApp, assert_error, sse};

each_backend!(
    the_front_door_embeds_bills_records_and_falls_back,
    passages_are_embedded_after_extraction_and_found_by_meaning,
    recall_at_5_of_words_vectors_and_both,
);

/// The fake upstream with a chat model and an embedding model `embed-x` (0.001 a token, its
/// fallback `embed-local` on a dryrun provider); `[embeddings]` on with `embed-x`.
fn with_embedder(c: &mut Config, base_url: String) {
    crate::helpers::one_model_upstream(c, base_url, "chat-model", 8000, 500, ("1000", "2000"));
    c.providers.push(ProviderConfig { name: "local".into(), kind: ProviderKind::Dryrun, ..Default::default() });
    let embedder = |name: &str, provider: &str, fallbacks: Vec<String>| ModelConfig {
        name: name.into(),
        provider: provider.into(),
        upstream_name: Some("text-embedding-3-small".into()),
        context_tokens: 8191,
        max_output_tokens: 0,
        capabilities: vec![Capability::Embedding],
        price_input_per_mtok: "1000".into(),
        price_output_per_mtok: "0".into(),
        quality: 5,
        speed: 5,
        fallbacks,
    };
    c.models.push(embedder("embed-x", "upstream", vec!["embed-local".into()]));
    c.models.push(embedder("embed-local", "local", vec![]));
    c.embeddings.model = "embed-x".into();
    c.gateway.backoff_base_ms = 10;
    c.chat.extraction_wait_secs = 30;
}

async fn the_front_door_embeds_bills_records_and_falls_back(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let base = fake.base_url.clone();
    let Some(app) = TestApp::spawn(backend, move |c| with_embedder(c, base)).await else { return };
    let sys = app.sysadmin().await;

    let (status, r) =
        app.post("/v1/embeddings", &sys, json!({"model": "embed-x", "input": ["alpha", "beta gamma"]})).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["object"], "list");
    assert_eq!(r["model"], "embed-x");
    let data = r["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    for (i, text) in ["alpha", "beta gamma"].iter().enumerate() {
        assert_eq!(data[i]["index"], i);
        let got: Vec<f32> =
            data[i]["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
        assert_eq!(got, embed::hashed(text), "the upstream's vector, unchanged");
    }
    // The fake counts a token per four bytes: 2 + 3 tokens at 0.001 each.
    assert_eq!(r["usage"]["prompt_tokens"], 5);
    assert_eq!(r["docwright"]["price"], "0.005");
    let sent = fake.received().into_iter().find(|x| x.path == "/v1/embeddings").unwrap();
    assert_eq!(sent.body["model"], "text-embedding-3-small", "the provider's own model id");
    assert_eq!(sent.authorization.as_deref(), Some("Bearer sk-upstream"));

    // base64 (what the OpenAI SDKs ask for): little-endian float32s of the same vector.
    let (_, b) = app
        .post("/v1/embeddings", &sys, json!({"model": "embed-x", "input": "alpha", "encoding_format": "base64"}))
        .await;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b["data"][0]["embedding"].as_str().unwrap()).unwrap();
    let decoded: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    assert_eq!(decoded, embed::hashed("alpha"));

    // The upstream fails: the fallback embeds; every attempt is reported.
    fake.reply_embedding(Reply::Status { status: 500, retry_after: None });
    fake.reply_embedding(Reply::Status { status: 500, retry_after: None });
    fake.reply_embedding(Reply::Status { status: 500, retry_after: None });
    fake.reply_embedding(Reply::Status { status: 500, retry_after: None });
    let (status, f) = app.post("/v1/embeddings", &sys, json!({"model": "embed-x", "input": ["x y"]})).await;
    assert_eq!(status, StatusCode::OK, "{f}");
    assert_eq!((f["model"].as_str(), f["docwright"]["provider"].as_str()), (Some("embed-local"), Some("local")));
    assert!(f["docwright"]["attempts"].as_array().unwrap().len() >= 2, "{f}");

    // Every call is a stat row with its exact price, and a debit of the tenant.
    let tenant = app.get("/me", &sys).await.1["current_tenant_id"].as_str().unwrap().to_owned();
    app.state.engine.flush_stats().await;
    let stats = app.state.db.ai_stats(TenantId::parse(&tenant).unwrap()).await.unwrap();
    let first = stats.iter().find(|s| s.error_count == 0).unwrap();
    assert_eq!((first.process.as_str(), first.engine.as_str()), ("api.embeddings", "ai.upstream.embed-x"));
    assert_eq!((first.price.micros(), first.input_tokens, first.output_tokens), (5_000, 5, 0));
    assert!(stats.iter().any(|s| s.error_count == 1 && s.error.as_deref().is_some_and(|e| e.contains("500"))));
    let (_, rows) = app.get("/api/billing/transactions", &sys).await;
    assert!(rows.as_array().unwrap().iter().any(|r| r["kind"] == "debit" && r["amount"] == "-0.005"), "{rows}");

    // What cannot be embedded is refused with a clear error, before any call.
    let before = fake.received().len();
    let (status, body) = app.post("/v1/embeddings", &sys, json!({"model": "chat-model", "input": "x"})).await;
    assert_error(status, &body, 422, "no_model_available");
    let (status, body) = app.post("/v1/embeddings", &sys, json!({"model": "gpt-99", "input": "x"})).await;
    assert_error(status, &body, 404, "model_not_found");
    for bad in [json!([]), json!([1, 2, 3]), json!(["ok", ""]), json!(42)] {
        let (status, body) = app.post("/v1/embeddings", &sys, json!({"model": "embed-x", "input": bad})).await;
        assert_error(status, &body, 400, "validation_failed");
    }
    let (status, body) =
        app.post("/v1/embeddings", &sys, json!({"model": "embed-x", "input": "x", "encoding_format": "int8"})).await;
    assert_error(status, &body, 400, "validation_failed");
    assert!(body["error"]["message"].as_str().unwrap().contains("encoding_format"), "{body}");
    assert_eq!(fake.received().len(), before, "no refused request reached the provider");
}

/// A tiny embedding model that knows synonyms: words of one meaning share a coordinate, every
/// other word gets its own hashed one. Texts of one meaning point the same way whatever words
/// they use — what a real embedding model does, small enough to reason about.
fn synonyms(text: &str) -> Vec<f32> {
    const MEANINGS: [&[&str]; 5] = [
        &["car", "automobile", "vehicle"],
        &["tires", "tyres", "wheels"],
        &["new", "fresh", "replacement"],
        &["winter", "cold", "snow"],
        &["invoice", "bill"],
    ];
    let mut v = vec![0f32; 64];
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        let word = word.to_lowercase();
        match MEANINGS.iter().position(|m| m.contains(&word.as_str())) {
            Some(i) => v[i] += 1.0,
            None => {
                v[8 + (word.bytes().fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b))) % 56) as usize] +=
                    0.3
            }
        }
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
    v.iter().map(|x| x / norm).collect()
}

/// Uploads a text file and waits until it is extracted; its id.
async fn extracted(app: &TestApp, auth: &Auth, name: &str, text: &str) -> String {
    let (status, body) = app.upload(auth, name, text.as_bytes()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let f = crate::extraction::ended(app, auth, &id).await;
    assert_eq!(f["extraction_status"], "done", "{f}");
    id
}

/// Waits until every piece of `file` has a vector of `model`.
async fn embedded(app: &TestApp, tenant: TenantId, file: &str, model: &str) {
    let file = FileId::parse(file).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let missing = app.state.db.pieces_to_embed(tenant, file, model, 1).await.unwrap();
        if missing.is_empty() && app.state.db.vector_count(tenant, file, model).await.unwrap() > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "file {file} was not embedded in time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A project of `client` holding `files`; its id.
async fn project_of(app: &TestApp, auth: &Auth, files: &[&str]) -> String {
    let (_, client) = app.post("/projects/clients", auth, json!({"name": "Client"})).await;
    let (_, project) = app.post("/projects", auth, json!({"client_id": client["id"], "name": "Fleet"})).await;
    let project = project["id"].as_str().unwrap().to_owned();
    for f in files {
        let (status, doc) = app.post(&format!("/projects/{project}/documents"), auth, json!({"file_id": f})).await;
        assert_eq!(status, StatusCode::CREATED, "{doc}");
    }
    project
}

async fn ask(app: &TestApp, auth: &Auth, chat: &str, message: &str) -> Vec<(String, String, Value)> {
    let resp = app
        .request(Method::POST, &format!("/chats/{chat}/messages"), auth)
        .json(&json!({"message": message}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    sse(&resp.text().await.unwrap())
}

fn sources(events: &[(String, String, Value)]) -> Vec<String> {
    let last = events.iter().find(|(_, e, _)| e == "llm_final").unwrap_or_else(|| panic!("no answer: {events:?}"));
    last.2["sources"].as_array().unwrap().iter().map(|s| s["file_id"].as_str().unwrap().to_owned()).collect()
}

async fn passages_are_embedded_after_extraction_and_found_by_meaning(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    fake.embed_with(synonyms);
    let base = fake.base_url.clone();
    let Some(app) = TestApp::spawn(backend, move |c| with_embedder(c, base)).await else { return };
    let admin = app.sysadmin().await;
    let tenant = TenantId::parse(app.get("/me", &admin).await.1["current_tenant_id"].as_str().unwrap()).unwrap();

    let tyres =
        extracted(&app, &admin, "fleet.txt", "The automobile requires fresh tyres before the cold season.\n").await;
    let invoice = extracted(&app, &admin, "ledger.txt", "Invoice 4711 was settled by bank transfer in March.\n").await;
    let minutes = extracted(&app, &admin, "minutes.txt", "Quarterly meeting about hiring two engineers.\n").await;
    for f in [&tyres, &invoice, &minutes] {
        embedded(&app, tenant, f, "embed-x").await;
    }
    // Indexing is billed like any call: a stat per batch, a debit naming the file.
    app.state.engine.flush_stats().await;
    let stats = app.state.db.ai_stats(tenant).await.unwrap();
    assert!(stats.iter().filter(|s| s.process == "documents.embedding" && s.error_count == 0).count() >= 3);
    let (_, rows) = app.get("/api/billing/transactions", &admin).await;
    let debit = rows.as_array().unwrap().iter().find(|r| r["reference_type"] == "file").expect("a debit for indexing");
    assert!([&tyres, &invoice, &minutes].contains(&&debit["reference_id"].as_str().unwrap().to_owned()), "{debit}");

    let project = project_of(&app, &admin, &[&tyres, &invoice, &minutes]).await;
    let (_, chat) = app.post("/chats", &admin, json!({"title": "Fleet", "project_id": project})).await;
    let chat = chat["id"].as_str().unwrap().to_owned();

    // No word of the question is in the passage; its meaning is.
    let question = "When should my car get new tires?";
    let words = docwright_storage::search::search_terms(question);
    let by_words =
        app.state.db.search_passages(tenant, &words, ProjectId::parse(&project).unwrap(), None, 10).await.unwrap();
    assert!(by_words.is_empty(), "the full-text search alone finds nothing: {by_words:?}");
    fake.reply(Reply::Stream { deltas: vec!["Before the cold season [1].".into()], usage: Some((60, 6)), done: true });
    let events = ask(&app, &admin, &chat, question).await;
    let found = sources(&events);
    assert_eq!(found.first(), Some(&tyres), "found by meaning, first: {events:?}");
    let (_, turn_log) = {
        let (_, c) = app.get(&format!("/chats/{chat}"), &admin).await;
        let turn = c["messages"].as_array().unwrap().last().unwrap()["turn_id"].as_str().unwrap().to_owned();
        app.get(&format!("/chats/{chat}/turns/{turn}/log"), &admin).await
    };
    assert!(turn_log.to_string().contains("(0 by words, 3 by meaning)"), "{turn_log}");
    // The question was embedded for the chat, billed to it.
    let embedded_question = fake.received().into_iter().rfind(|r| r.path == "/v1/embeddings").unwrap();
    assert_eq!(embedded_question.body["input"], json!([question]));

    // Words only: a number no embedding tells apart, which the full-text search matches.
    fake.reply(Reply::Stream { deltas: vec!["Settled in March [1].".into()], usage: Some((60, 6)), done: true });
    let events = ask(&app, &admin, &chat, "4711").await;
    assert_eq!(sources(&events).first(), Some(&invoice), "{events:?}");

    // A re-extraction replaces the pieces, and their vectors with them; new ones follow.
    let file = FileId::parse(&tyres).unwrap();
    let (status, _) = app.post(&format!("/files/{tyres}/extract"), &admin, json!({})).await;
    assert!(status.is_success(), "{status}");
    crate::extraction::ended(&app, &admin, &tyres).await;
    embedded(&app, tenant, &tyres, "embed-x").await;
    assert_eq!(app.state.db.vector_count(tenant, file, "embed-x").await.unwrap(), 1);
}

/// Twelve pages of a handbook, each answering one question, and the questions in other words
/// than the pages': inflected forms, a synonym or two, a few words shared.
const HANDBOOK: [(&str, &str); 12] = [
    ("Invoices are paid within thirty days of receipt by bank transfer.", "When are invoices paid?"),
    ("Travel expenses need a receipt and the approval of a manager.", "Which approvals do travelling expenses need?"),
    ("The office opens at eight and closes at six on weekdays.", "What are the opening hours of the offices?"),
    ("Passwords must be changed every ninety days and never shared.", "How often should a password change?"),
    (
        "Parking spaces in the basement are assigned by the facility team.",
        "Who assigns parking in the basement garage?",
    ),
    (
        "New employees receive a laptop and a badge on their first day.",
        "What does a new employee get on the first days?",
    ),
    ("Vacation requests are submitted two weeks in advance.", "How early must vacations be requested?"),
    ("Fire drills take place twice a year in spring and autumn.", "How many fire drills happen yearly?"),
    ("Printers on every floor print double-sided by default.", "Do the printer defaults print on both sides?"),
    ("Overtime is compensated with time off within three months.", "How is overtime work compensated?"),
    ("Visitors sign in at reception and wear a visitor badge.", "Where do visitor sign-ins take place?"),
    ("Company cars are booked through the fleet calendar.", "How are the company's cars booked?"),
];

#[allow(clippy::print_stdout)] // The figures are this test's report.
async fn recall_at_5_of_words_vectors_and_both(backend: Backend) {
    // The built-in dryrun embedding model: hashed words and three-letter pieces, so inflected
    // forms meet (no synonyms). A real model would do better by meaning; this checks the wiring
    // and the fusion on a set whose answers are known.
    let Some(app) = TestApp::spawn(backend, |c| c.embeddings.model = "dryrun-embedding".into()).await else { return };
    let admin = app.sysadmin().await;
    let tenant = TenantId::parse(app.get("/me", &admin).await.1["current_tenant_id"].as_str().unwrap()).unwrap();
    let pages: Vec<String> = HANDBOOK.iter().map(|(page, _)| (*page).to_owned()).collect();
    let pdf = crate::chats::pdf(&pages.iter().map(String::as_str).collect::<Vec<_>>());
    let (status, body) = app.upload(&admin, "handbook.pdf", &pdf).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let file = body["id"].as_str().unwrap().to_owned();
    assert_eq!(crate::extraction::ended(&app, &admin, &file).await["extraction_status"], "done");
    embedded(&app, tenant, &file, "dryrun-embedding").await;
    let project = ProjectId::parse(&project_of(&app, &admin, &[&file]).await).unwrap();
    // The page of each part.
    let parts = app.state.db.file_parts_page(tenant, FileId::parse(&file).unwrap(), None, 100).await.unwrap().items;
    let page_of = |part| parts.iter().find(|p| p.id == part).and_then(|p| p.page);

    let principal = app.state.engine.operator_principal().await.unwrap();
    let ctx = app.state.engine.context(principal, Some(tenant)).await.unwrap();
    let grant = app.state.engine.authorize(ctx, docwright_engine::chat::CHAT_CREATE).await.unwrap();
    let (mut words, mut vectors, mut fused) = (0, 0, 0);
    for (i, (_, question)) in HANDBOOK.iter().enumerate() {
        let found = app
            .state
            .engine
            .retrieve(
                &grant,
                (tenant, project, None),
                question,
                5,
                docwright_engine::gateway::CallFor::File(FileId::parse(&file).unwrap()),
                None,
            )
            .await;
        assert!(found.vectors && found.problems.is_empty(), "{:?}", found.problems);
        let page = Some(i as u32 + 1);
        let hit =
            |list: &[(FileId, docwright_core::id::PartId)]| list.iter().take(5).any(|(_, part)| page_of(*part) == page);
        words += usize::from(hit(&found.by_words));
        vectors += usize::from(hit(&found.by_meaning));
        fused += usize::from(hit(&found.fused));
    }
    let n = HANDBOOK.len() as f64;
    let (words, vectors, fused) = (words as f64 / n, vectors as f64 / n, fused as f64 / n);
    println!(
        "retrieval recall@5 on {} labelled questions ({backend:?}): full-text {words:.3}, vectors {vectors:.3}, fused {fused:.3}",
        HANDBOOK.len()
    );
    assert!(fused >= words, "fusing in the vectors must not lose what the words found ({fused} < {words})");
    assert!(fused >= 0.75, "fused recall@5 {fused}");
}
