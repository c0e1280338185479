//! The Anthropic Messages provider against the fake server.

use std::time::Duration;

use docwright_llm::anthropic::{API_VERSION, Anthropic};
use docwright_llm::testing::{FakeOpenAi, Reply};
use docwright_llm::{AnyProvider, ApiKey, ChatRequest, Error, Message, OutputFormat, Provider, Role, Usage};
use serde_json::json;

async fn setup(timeout: Duration) -> (FakeOpenAi, AnyProvider) {
    let fake = FakeOpenAi::start().await;
    let p = Anthropic::new("anthropic", &fake.anthropic_url, timeout).unwrap();
    (fake, AnyProvider::Anthropic(p))
}

fn req(text: &str) -> ChatRequest {
    ChatRequest {
        model: "claude-sonnet".into(),
        messages: vec![Message::text(Role::System, "be brief"), Message::text(Role::User, text)],
        ..Default::default()
    }
}

fn key() -> ApiKey {
    ApiKey::new("sk-ant-test")
}

#[tokio::test]
async fn message_with_usage_headers_and_system_prompt() {
    let (fake, p) = setup(Duration::from_secs(5)).await;
    fake.reply(Reply::Ok { content: "Bonjour".into(), usage: Some((21, 4)) });
    let r = p.chat(&req("hi"), Some(&key())).await.unwrap();
    assert_eq!(r.content, "Bonjour");
    assert_eq!(r.usage, Usage { input_tokens: 21, output_tokens: 4, estimated: false });
    assert_eq!(r.finish_reason.as_deref(), Some("end_turn"));
    let got = &fake.received()[0];
    assert_eq!(got.header("x-api-key"), Some("sk-ant-test"));
    assert_eq!(got.header("anthropic-version"), Some(API_VERSION));
    assert_eq!(got.authorization, None, "Anthropic takes the key in x-api-key");
    assert_eq!(got.body["system"], "be brief");
    assert_eq!(got.body["messages"][0], json!({"role": "user", "content": [{"type": "text", "text": "hi"}]}));
    assert_eq!(got.body["max_tokens"], 4096);
}

#[tokio::test]
async fn a_missing_key_is_named() {
    let (_fake, p) = setup(Duration::from_secs(5)).await;
    let err = p.chat(&req("hi"), None).await.unwrap_err();
    assert_eq!(err.to_string(), "no API key configured for provider anthropic");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn streaming_events_are_assembled() {
    let (fake, p) = setup(Duration::from_secs(5)).await;
    fake.reply(Reply::Stream { deltas: vec!["Hel".into(), "lo".into()], usage: Some((30, 2)), done: true });
    let (text, done) = crate::collect(&p, &req("hi"), key()).await;
    let done = done.unwrap();
    assert_eq!((text.as_str(), done.content.as_str()), ("Hello", "Hello"));
    assert_eq!(done.usage, Usage { input_tokens: 30, output_tokens: 2, estimated: false });
    assert_eq!(fake.received()[0].body["stream"], true);
}

#[tokio::test]
async fn a_stream_without_message_stop_is_truncated() {
    let (fake, p) = setup(Duration::from_secs(5)).await;
    fake.reply(Reply::Stream { deltas: vec!["part".into()], usage: Some((1, 1)), done: false });
    let (text, done) = crate::collect(&p, &req("hi"), key()).await;
    assert_eq!(text, "part");
    assert!(matches!(done.unwrap_err(), Error::Truncated { .. }));
}

#[tokio::test]
async fn errors_map_like_the_other_protocols() {
    let (fake, p) = setup(Duration::from_millis(300)).await;
    fake.reply(Reply::Status { status: 429, retry_after: Some(4) });
    let err = p.chat(&req("hi"), Some(&key())).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(4)));
    fake.reply(Reply::Status { status: 529, retry_after: None });
    let err = p.chat(&req("hi"), Some(&key())).await.unwrap_err();
    assert!(matches!(&err, Error::Upstream { status: 529, message, .. } if message == "fake error 529"), "{err}");
    assert!(err.is_retryable(), "overloaded is worth another try");
    fake.reply(Reply::Status { status: 401, retry_after: None });
    assert!(!p.chat(&req("hi"), Some(&key())).await.unwrap_err().is_retryable());
    fake.reply(Reply::Garbage);
    assert!(matches!(p.chat(&req("hi"), Some(&key())).await.unwrap_err(), Error::Malformed { .. }));
    fake.reply(Reply::Slow(Duration::from_secs(2)));
    assert!(matches!(p.chat(&req("hi"), Some(&key())).await.unwrap_err(), Error::Timeout { .. }));
}

#[tokio::test]
async fn json_with_a_schema_is_a_forced_tool_and_checked() {
    let (fake, p) = setup(Duration::from_secs(5)).await;
    let schema = json!({"type": "object", "required": ["total"], "properties": {"total": {"type": "number"}}});
    let mut r = req("total?");
    r.output = OutputFormat::Json { schema: Some(schema.clone()) };
    fake.reply(Reply::Ok { content: "{\"total\": 3}".into(), usage: Some((1, 1)) });
    let answer = p.chat(&r, Some(&key())).await.unwrap();
    assert_eq!((answer.content.as_str(), answer.finish_reason.as_deref()), (r#"{"total":3}"#, Some("tool_use")));
    let body = &fake.received()[0].body;
    assert_eq!(body["tool_choice"], json!({"type": "tool", "name": "respond"}));
    assert_eq!(body["tools"][0]["input_schema"], schema);
    assert_eq!(body["system"], "be brief", "the schema travels in the tool, not the prompt");
    // A model that answers in text instead of calling the tool, or calls it with the wrong
    // input, gives no answer.
    fake.reply(Reply::Ok { content: "Sure! The total is 3.".into(), usage: Some((1, 1)) });
    let err = p.chat(&r, Some(&key())).await.unwrap_err();
    assert!(matches!(&err, Error::InvalidOutput { detail, .. } if detail.contains("respond")), "{err}");
    fake.reply(Reply::Ok { content: "{\"sum\": 3}".into(), usage: Some((1, 1)) });
    assert!(matches!(p.chat(&r, Some(&key())).await.unwrap_err(), Error::InvalidOutput { .. }));
    // Streamed: the input's pieces are the deltas.
    fake.reply(Reply::Stream { deltas: vec!["{\"to".into(), "tal\": 3}".into()], usage: Some((2, 2)), done: true });
    let (text, done) = crate::collect(&p, &r, key()).await;
    assert_eq!((text.as_str(), done.unwrap().content.as_str()), ("{\"total\": 3}", "{\"total\": 3}"));
}

#[tokio::test]
async fn json_without_a_schema_is_asked_for_in_the_system_prompt() {
    let (fake, p) = setup(Duration::from_secs(5)).await;
    let mut r = req("total?");
    r.output = OutputFormat::Json { schema: None };
    fake.reply(Reply::Ok { content: "{\"total\": 3}".into(), usage: Some((1, 1)) });
    assert_eq!(p.chat(&r, Some(&key())).await.unwrap().content, "{\"total\": 3}");
    let body = &fake.received()[0].body;
    assert!(body["system"].as_str().unwrap().contains("single JSON object"));
    assert!(body.get("tools").is_none());
    fake.reply(Reply::Ok { content: "The total is 3.".into(), usage: Some((1, 1)) });
    assert!(matches!(p.chat(&r, Some(&key())).await.unwrap_err(), Error::InvalidOutput { .. }));
}
