//! Embeddings on each protocol against the fake: OpenAI `POST /embeddings`, Gemini
//! `:batchEmbedContents`, GigaChat's `/embeddings` behind its OAuth token, dryrun without a
//! network, and the errors the gateway falls back on.

use std::time::Duration;

use docwright_llm::anthropic::Anthropic;
use docwright_llm::dryrun::DryRun;
use docwright_llm::gemini::Gemini;
use docwright_llm::gigachat::{GigaChat, Mode};
use docwright_llm::openai::OpenAiCompatible;
use docwright_llm::testing::{FakeOpenAi, GigaChatAuth, Reply};
use docwright_llm::tls::Tls;
use docwright_llm::{AnyProvider, ApiKey, EmbedRequest, Error, Provider as _, embed};

fn req(texts: &[&str]) -> EmbedRequest {
    EmbedRequest { model: "text-embedding-3-small".into(), inputs: texts.iter().map(|t| (*t).to_owned()).collect() }
}

/// A vector that names its text: its length, then its first byte.
fn marker(text: &str) -> Vec<f32> {
    vec![text.len() as f32, f32::from(text.bytes().next().unwrap_or(0)), 1.0]
}

#[tokio::test]
async fn openai_embeddings_come_back_in_input_order_with_usage() {
    let fake = FakeOpenAi::start().await;
    fake.embed_with(marker);
    let p = AnyProvider::OpenAi(OpenAiCompatible::new("openai", &fake.base_url, Duration::from_secs(5)).unwrap());
    let r = p.embed(&req(&["alpha", "be", "gamma ray"]), Some(&ApiKey::new("sk-e"))).await.unwrap();
    assert_eq!(r.vectors, vec![marker("alpha"), marker("be"), marker("gamma ray")]);
    assert_eq!(r.model, "text-embedding-3-small");
    assert!(!r.usage.estimated);
    assert!(r.usage.input_tokens > 0 && r.usage.output_tokens == 0);
    assert!(r.bytes_sent > 0 && r.bytes_received > 0);
    let sent = &fake.received()[0];
    assert_eq!(sent.path, "/v1/embeddings");
    assert_eq!(sent.authorization.as_deref(), Some("Bearer sk-e"));
    assert_eq!(sent.body["input"], serde_json::json!(["alpha", "be", "gamma ray"]));
    assert_eq!(sent.body["encoding_format"], "float");
}

#[tokio::test]
async fn gemini_embeddings_use_batch_embed_contents_and_estimate_usage() {
    let fake = FakeOpenAi::start().await;
    fake.embed_with(marker);
    let p = AnyProvider::Gemini(Gemini::new("gemini", &fake.anthropic_url, Duration::from_secs(5)).unwrap());
    let r = p.embed(&req(&["one", "three"]), Some(&ApiKey::new("g-key"))).await.unwrap();
    assert_eq!(r.vectors, vec![marker("one"), marker("three")]);
    assert!(r.usage.estimated);
    let sent = &fake.received()[0];
    assert_eq!(sent.path, "/v1beta/models/text-embedding-3-small:batchEmbedContents");
    assert_eq!(sent.header("x-goog-api-key"), Some("g-key"));
    assert_eq!(sent.body["requests"][1]["content"]["parts"][0]["text"], "three");
    assert_eq!(sent.body["requests"][0]["model"], "models/text-embedding-3-small");
    assert!(matches!(p.embed(&req(&["x"]), None).await, Err(Error::NoKey { .. })));
}

#[tokio::test]
async fn gigachat_embeddings_carry_the_exchanged_token() {
    let fake = FakeOpenAi::start().await;
    const KEY: &str = "Y2xpZW50LWlkOmNsaWVudC1zZWNyZXQ=";
    fake.require_gigachat_auth(GigaChatAuth {
        authorization_key: KEY.into(),
        scope: "GIGACHAT_API_PERS".into(),
        token_lifetime: Duration::from_secs(1800),
    });
    let mode = Mode::Cloud { auth_url: fake.oauth_url.clone(), scope: "GIGACHAT_API_PERS".into() };
    let p = AnyProvider::GigaChat(
        GigaChat::new("gigachat", &fake.gigachat_url, Duration::from_secs(5), mode, &Tls::default()).unwrap(),
    );
    let r = p.embed(&req(&["привет"]), Some(&ApiKey::new(KEY))).await.unwrap();
    assert_eq!(r.vectors.len(), 1);
    assert_eq!(fake.oauth_exchanges(), 1);
    assert_eq!(fake.unauthorized_calls(), 0);
    let sent = fake.received().into_iter().find(|r| r.path == "/api/v1/embeddings").unwrap();
    assert!(sent.authorization.unwrap().starts_with("Bearer "));
}

#[tokio::test]
async fn failures_are_classified_for_fallback() {
    let fake = FakeOpenAi::start().await;
    let p = AnyProvider::OpenAi(OpenAiCompatible::new("openai", &fake.base_url, Duration::from_secs(5)).unwrap());
    fake.reply_embedding(Reply::Status { status: 503, retry_after: None });
    let e = p.embed(&req(&["a"]), None).await.unwrap_err();
    assert!(matches!(e, Error::Upstream { status: 503, .. }) && e.is_retryable(), "{e:?}");
    fake.reply_embedding(Reply::Garbage);
    let e = p.embed(&req(&["a"]), None).await.unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
    // A server that answers fewer vectors than texts is malformed, not silently short.
    fake.embed_with(|_| vec![]);
    assert!(matches!(p.embed(&req(&["a"]), None).await, Err(Error::Malformed { .. })));
    let claude =
        AnyProvider::Anthropic(Anthropic::new("anthropic", &fake.anthropic_url, Duration::from_secs(5)).unwrap());
    let e = claude.embed(&req(&["a"]), Some(&ApiKey::new("k"))).await.unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }) && !e.is_retryable());
}

#[tokio::test]
async fn dryrun_embeddings_are_the_hashed_vectors() {
    let p = AnyProvider::DryRun(DryRun::new("dryrun"));
    let r = p.embed(&req(&["Rechnung bezahlt", ""]), None).await.unwrap();
    assert_eq!(r.vectors, vec![embed::hashed("Rechnung bezahlt"), embed::hashed("")]);
    assert_eq!(r.vectors[0].len(), embed::HASHED_DIMENSIONS);
    assert_eq!(r.usage.input_tokens, 4);
}
