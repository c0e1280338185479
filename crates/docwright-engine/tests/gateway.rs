//! The gateway through the engine alone, on the dryrun provider: chunked calls (SPEC A4) — its
//! answers quote the start of the request, so the merged answer shows which chunks ran and in
//! what order, and every chunk leaves its own priced stat record — and the stat writer that
//! takes those records off the request path.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // The writer task is the test's own.

use docwright_config::{Config, ModelConfig, ProviderConfig};
use docwright_core::money::Money;
use docwright_engine::gateway::{AI_USE, AiRequest, Operation};
use docwright_engine::{Engine, Grant};
use docwright_llm::{Message, OutputFormat, Role};
use docwright_storage::Backend;
use docwright_storage::testing::TestDb;
use serde_json::json;

mod common;

/// An engine whose only model takes 1,000 tokens of context, 100 of them output.
async fn engine(backend: Backend) -> Option<(Engine, Grant, TestDb)> {
    let mut config = Config {
        providers: vec![serde_json::from_value::<ProviderConfig>(json!({"name": "local", "type": "dryrun"})).unwrap()],
        models: vec![
            serde_json::from_value::<ModelConfig>(json!({
                "name": "small", "provider": "local", "context_tokens": 1000, "max_output_tokens": 100,
                "capabilities": ["text", "json"], "price_input_per_mtok": "1", "price_output_per_mtok": "2",
            }))
            .unwrap(),
        ],
        ..Config::default()
    };
    config.gateway.chunk_parallelism = 3;
    config.gateway.chunk_overlap_tokens = 20;
    let (engine, db) = common::bootstrapped(backend, &config).await?;
    let ctx = common::login(&engine, common::TOKEN, None).await;
    let grant = engine.authorize(ctx, AI_USE).await.unwrap();
    Some((engine, grant, db))
}

fn request(document: String, output: OutputFormat) -> AiRequest {
    AiRequest {
        model: "small".into(),
        operation: Operation::DataExtract,
        priority: None,
        messages: vec![Message::text(Role::System, "Extract the facts."), Message::text(Role::User, document)],
        max_output_tokens: Some(100),
        temperature: None,
        output,
        tools: Vec::new(),
        tool_choice: Default::default(),
        parallel_tool_calls: None,
        allowed_providers: None,
        process: "test.chunking".into(),
        reference: None,
    }
}

/// About 12,000 bytes (3,000 tokens) of numbered paragraphs: three times the model's context.
fn document() -> String {
    (0..200)
        .map(|i| format!("Paragraph {i:03}: the quick brown fox jumps over the lazy dog."))
        .collect::<Vec<_>>()
        .join("\n\n")
}

async fn text_is_split_processed_and_concatenated(backend: Backend) {
    let Some((engine, grant, _db)) = engine(backend).await else { return };
    let tenant = grant.ctx().tenant;
    let doc = document();
    let plain = engine.ai_call(&grant, &request(doc.clone(), OutputFormat::Text)).await;
    assert!(plain.is_err(), "the whole document does not fit the model");

    let r = engine.ai_call_chunked(&grant, &request(doc, OutputFormat::Text)).await.unwrap();
    assert!(r.chunks >= 4, "{} chunks", r.chunks);
    // The answers come back in the input's order, whatever order the chunks finished in.
    let mut at = 0;
    for i in 1..=r.chunks {
        let marker = format!("[Part {i} of {} of the input]", r.chunks);
        let found = r.content[at..].find(&marker).unwrap_or_else(|| panic!("{marker} missing or out of order"));
        at += found + marker.len();
    }
    // Each chunk started at a paragraph (the overlap begins at a line start).
    assert!(r.content.contains("input]\nParagraph 000"));
    assert_eq!(r.content.matches("input]\nParagraph ").count(), r.chunks as usize, "{}", r.content);

    let stats = engine.db().ai_stats(tenant).await.unwrap();
    assert_eq!(stats.len(), r.chunks as usize, "one stat record per chunk");
    let total = stats.iter().fold(Money::ZERO, |acc, s| acc.checked_add(s.price).unwrap());
    assert_eq!(r.price, total, "the call's price is the sum of its chunks' prices, to the micro-unit");
    assert_eq!(r.input_tokens, stats.iter().map(|s| s.input_tokens as u64).sum::<u64>());
    assert_eq!(r.attempts.len(), r.chunks as usize);
}

async fn json_arrays_are_merged(backend: Backend) {
    let Some((engine, grant, _db)) = engine(backend).await else { return };
    let schema = json!({"type": "object", "required": ["rows"], "properties": {
        "rows": {"type": "array", "items": {"type": "object", "required": ["n"], "properties": {"n": {"type": "string"}}}}}});
    let output = OutputFormat::Json { schema: Some(schema) };
    let r = engine.ai_call_chunked(&grant, &request(document(), output.clone())).await.unwrap();
    let merged: serde_json::Value = serde_json::from_str(&r.content).unwrap();
    let rows = merged["rows"].as_array().unwrap();
    // Every chunk's answer is schema-valid; the merge holds at least one chunk's rows.
    let one = engine.ai_call(&grant, &request("Paragraph 000".into(), output)).await.unwrap();
    let single: serde_json::Value = serde_json::from_str(&one.content).unwrap();
    assert!(rows.len() >= single["rows"].as_array().unwrap().len());
    assert!(r.chunks >= 4);

    // A small input is a single, ordinary call.
    let small = engine.ai_call_chunked(&grant, &request("short".into(), OutputFormat::Text)).await.unwrap();
    assert_eq!(small.chunks, 1);
}

async fn the_stat_writer_batches_flushes_and_drains(backend: Backend) {
    let Some((engine, grant, _db)) = engine(backend).await else { return };
    let tenant = grant.ctx().tenant;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let writer = tokio::spawn(engine.stat_writer(async move {
        let _ = stopped.await;
    }));
    let calls: Vec<_> = (0..40).map(|i| request(format!("question {i}"), OutputFormat::Text)).collect();
    futures_util::future::try_join_all(calls.iter().map(|r| engine.ai_call(&grant, r))).await.unwrap();
    engine.flush_stats().await;
    assert_eq!(engine.db().ai_stats(tenant).await.unwrap().len(), 40, "flushed: every queued record is written");
    // Queued at shutdown: written before the writer ends.
    for r in &calls[..5] {
        engine.ai_call(&grant, r).await.unwrap();
    }
    stop.send(()).unwrap();
    writer.await.unwrap();
    assert_eq!(engine.db().ai_stats(tenant).await.unwrap().len(), 45);
    // After the writer ended, calls write their own records.
    engine.ai_call(&grant, &calls[0]).await.unwrap();
    assert_eq!(engine.db().ai_stats(tenant).await.unwrap().len(), 46);
}

async fn instructions_larger_than_the_model_are_refused(backend: Backend) {
    let Some((engine, grant, _db)) = engine(backend).await else { return };
    let mut req = request(document(), OutputFormat::Text);
    // The fixed part (instructions) alone nearly fills the context: no room for chunks.
    req.messages[0] = Message::text(Role::System, "x".repeat(3_500));
    let err = engine.ai_call_chunked(&grant, &req).await.unwrap_err();
    assert!(err.to_string().contains("too little to process the input in chunks"), "{err}");
}

both_databases!(
    text_is_split_processed_and_concatenated,
    json_arrays_are_merged,
    the_stat_writer_batches_flushes_and_drains,
    instructions_larger_than_the_model_are_refused
);
