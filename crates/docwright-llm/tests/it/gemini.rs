//! The Gemini provider against the fake server.

use std::time::Duration;

use docwright_llm::gemini::Gemini;
use docwright_llm::testing::{FakeOpenAi, Reply};
use docwright_llm::{AnyProvider, ApiKey, ChatRequest, Error, Message, OutputFormat, Provider, Role, Usage};
use serde_json::json;

async fn setup(timeout: Duration) -> (FakeOpenAi, AnyProvider) {
    let fake = FakeOpenAi::start().await;
    let p = Gemini::new("gemini", &fake.anthropic_url, timeout).unwrap();
    (fake, AnyProvider::Gemini(p))
}

fn req(text: &str) -> ChatRequest {
    ChatRequest {
        model: "gemini-2.0-flash".into(),
        messages: vec![Message::text(Role::System, "be brief"), Message::text(Role::User, text)],
        ..Default::default()
    }
}

fn key() -> ApiKey {
    ApiKey::new("gm-key")
}

#[tokio::test]
async fn generate_content_with_usage_and_key_header() {
    let (fake, p) = setup(Duration::from_secs(5)).await;
    fake.reply(Reply::Ok { content: "Hallo".into(), usage: Some((8, 2)) });
    let r = p.chat(&req("hi"), Some(&key())).await.unwrap();
    assert_eq!((r.content.as_str(), r.finish_reason.as_deref()), ("Hallo", Some("STOP")));
    assert_eq!(r.usage, Usage { input_tokens: 8, output_tokens: 2, estimated: false });
    let got = &fake.received()[0];
    assert_eq!(got.path, "/v1beta/models/gemini-2.0-flash:generateContent");
    assert_eq!(got.header("x-goog-api-key"), Some("gm-key"));
    assert!(!got.path.contains("gm-key"), "the key travels in a header, not the URL (URLs get logged)");
    assert_eq!(got.body["systemInstruction"]["parts"][0]["text"], "be brief");
    assert_eq!(got.body["contents"][0], json!({"role": "user", "parts": [{"text": "hi"}]}));
}

#[tokio::test]
async fn streams_end_with_a_finish_reason_or_are_truncated() {
    let (fake, p) = setup(Duration::from_secs(5)).await;
    fake.reply(Reply::Stream { deltas: vec!["Gu".into(), "ten Tag".into()], usage: Some((12, 3)), done: true });
    let (text, done) = crate::collect(&p, &req("hi"), key()).await;
    let done = done.unwrap();
    assert_eq!((text.as_str(), done.content.as_str()), ("Guten Tag", "Guten Tag"));
    assert_eq!(done.usage, Usage { input_tokens: 12, output_tokens: 3, estimated: false });
    assert_eq!(fake.received()[0].path, "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse");

    fake.reply(Reply::Stream { deltas: vec!["cut".into()], usage: Some((1, 1)), done: false });
    let (text, done) = crate::collect(&p, &req("hi"), key()).await;
    assert_eq!(text, "cut");
    assert!(matches!(done.unwrap_err(), Error::Truncated { .. }));
}

#[tokio::test]
async fn errors_keys_and_json_mode() {
    let (fake, p) = setup(Duration::from_secs(5)).await;
    assert_eq!(p.chat(&req("hi"), None).await.unwrap_err().to_string(), "no API key configured for provider gemini");
    fake.reply(Reply::Status { status: 429, retry_after: Some(2) });
    let err = p.chat(&req("hi"), Some(&key())).await.unwrap_err();
    assert!(matches!(err, Error::RateLimited { .. }) && err.retry_after() == Some(Duration::from_secs(2)));
    fake.reply(Reply::Status { status: 500, retry_after: None });
    let err = p.chat(&req("hi"), Some(&key())).await.unwrap_err();
    assert!(matches!(&err, Error::Upstream { status: 500, message, .. } if message == "fake error 500"), "{err}");

    let mut r = req("total?");
    r.output = OutputFormat::Json { schema: Some(json!({"type": "object", "required": ["total"]})) };
    fake.reply(Reply::Ok { content: "{\"total\": 1}".into(), usage: Some((1, 1)) });
    p.chat(&r, Some(&key())).await.unwrap();
    let sent = fake.received().last().unwrap().body.clone();
    assert_eq!(sent["generationConfig"]["responseMimeType"], "application/json");
    assert_eq!(sent["generationConfig"]["responseJsonSchema"], json!({"type": "object", "required": ["total"]}));
    fake.reply(Reply::Ok { content: "{}".into(), usage: Some((1, 1)) });
    assert!(matches!(p.chat(&r, Some(&key())).await.unwrap_err(), Error::InvalidOutput { .. }));
}
