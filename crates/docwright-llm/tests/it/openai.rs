//! The OpenAI-compatible provider against the fake server.

use std::time::Duration;

use docwright_llm::openai::{JsonMode, OpenAiCompatible};
use docwright_llm::{AnyProvider, ApiKey, ChatRequest, Error, Message, OutputFormat, Part, Provider, Role, Usage};
use serde_json::json;

use docwright_llm::testing::{FakeOpenAi, Reply};

async fn setup(timeout: Duration) -> (FakeOpenAi, AnyProvider) {
    let fake = FakeOpenAi::start().await;
    let p = OpenAiCompatible::new("openai", &fake.base_url, timeout).unwrap();
    (fake, AnyProvider::OpenAi(p))
}

fn req(text: &str) -> ChatRequest {
    ChatRequest { model: "gpt-4o-mini".into(), messages: vec![Message::text(Role::User, text)], ..Default::default() }
}

#[tokio::test]
async fn completion_with_usage_and_key() {
    let (fake, p) = setup(Duration::from_secs(5)).await;
    fake.reply(Reply::Ok { content: "Hello there".into(), usage: Some((12, 3)) });
    let r = p.chat(&req("hi"), Some(&ApiKey::new("sk-test"))).await.unwrap();
    assert_eq!(r.content, "Hello there");
    assert_eq!(r.usage, Usage { input_tokens: 12, output_tokens: 3, estimated: false });
    assert_eq!(r.model, "gpt-4o-mini");
    assert_eq!(r.finish_reason.as_deref(), Some("stop"));
    assert!(r.bytes_sent > 20 && r.bytes_received > 50);
    let got = fake.received();
    assert_eq!(got[0].authorization.as_deref(), Some("Bearer sk-test"));
    assert_eq!(got[0].body["messages"][0], json!({"role": "user", "content": "hi"}));
    assert!(got[0].body.get("stream").is_none());
}

#[tokio::test]
async fn no_key_sends_no_authorization_for_local_servers() {
    let (fake, p) = setup(Duration::from_secs(5)).await;
    p.chat(&req("hi"), None).await.unwrap();
    assert_eq!(fake.received()[0].authorization, None);
}

#[tokio::test]
async fn missing_usage_is_estimated() {
    let (fake, p) = setup(Duration::from_secs(5)).await;
    fake.reply(Reply::Ok { content: "12345678".into(), usage: None });
    let r = p.chat(&req("abcd"), None).await.unwrap();
    assert_eq!(r.usage, Usage { input_tokens: 1, output_tokens: 2, estimated: true });
}

#[tokio::test]
async fn streaming_passes_deltas_and_reports_usage() {
    let (fake, p) = setup(Duration::from_secs(5)).await;
    fake.reply(Reply::Stream {
        deltas: vec!["Hel".into(), "lo".into(), " world".into()],
        usage: Some((9, 4)),
        done: true,
    });
    let (text, done) = crate::collect(&p, &req("hi"), ApiKey::new("sk-test")).await;
    let done = done.unwrap();
    assert_eq!(text, "Hello world");
    assert_eq!(done.content, "Hello world");
    assert_eq!(done.usage, Usage { input_tokens: 9, output_tokens: 4, estimated: false });
    assert_eq!(done.finish_reason.as_deref(), Some("stop"));
    assert!(done.bytes_received > 100);
    let body = &fake.received()[0].body;
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn truncated_stream_is_an_error_after_the_text_so_far() {
    let (fake, p) = setup(Duration::from_secs(5)).await;
    fake.reply(Reply::Stream { deltas: vec!["partial".into()], usage: None, done: false });
    let (text, done) = crate::collect(&p, &req("hi"), ApiKey::new("sk-test")).await;
    assert_eq!(text, "partial");
    let err = done.unwrap_err();
    assert!(matches!(err, Error::Truncated { .. }), "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn rate_limits_carry_retry_after() {
    let (fake, p) = setup(Duration::from_secs(5)).await;
    fake.reply(Reply::Status { status: 429, retry_after: Some(3) });
    let err = p.chat(&req("hi"), None).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
    assert!(err.is_retryable());
    // Streaming requests fail the same way before any event.
    fake.reply(Reply::Status { status: 429, retry_after: None });
    let (_, done) = crate::collect(&p, &req("hi"), ApiKey::new("sk-test")).await;
    assert!(matches!(done.unwrap_err(), Error::RateLimited { retry_after: None, .. }));
}

#[tokio::test]
async fn server_errors_are_retryable_and_client_errors_are_not() {
    let (fake, p) = setup(Duration::from_secs(5)).await;
    fake.reply(Reply::Status { status: 500, retry_after: None });
    let err = p.chat(&req("hi"), None).await.unwrap_err();
    assert!(matches!(&err, Error::Upstream { status: 500, message, .. } if message == "fake error 500"), "{err}");
    assert!(err.is_retryable());
    fake.reply(Reply::Status { status: 401, retry_after: None });
    let err = p.chat(&req("hi"), None).await.unwrap_err();
    assert!(!err.is_retryable(), "a bad key does not get better by retrying");
}

#[tokio::test]
async fn timeouts_are_bounded() {
    let (fake, p) = setup(Duration::from_millis(200)).await;
    fake.reply(Reply::Slow(Duration::from_secs(2)));
    let started = std::time::Instant::now();
    let err = p.chat(&req("hi"), None).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn malformed_json_is_reported() {
    let (fake, p) = setup(Duration::from_secs(5)).await;
    fake.reply(Reply::Garbage);
    let err = p.chat(&req("hi"), None).await.unwrap_err();
    assert!(matches!(err, Error::Malformed { .. }), "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn json_output_is_requested_and_validated() {
    let (fake, p) = setup(Duration::from_secs(5)).await;
    let schema = json!({"type": "object", "required": ["total"], "properties": {"total": {"type": "number"}}});
    let mut r = req("sum it");
    r.output = OutputFormat::Json { schema: Some(schema.clone()) };
    fake.reply(Reply::Ok { content: "{\"total\": 12.5}".into(), usage: Some((5, 5)) });
    assert_eq!(p.chat(&r, None).await.unwrap().content, "{\"total\": 12.5}");
    // The schema goes strict: closed, every property required (here it already was).
    let format = &fake.received()[0].body["response_format"]["json_schema"];
    assert_eq!(format["strict"], true);
    let mut strict = schema.clone();
    strict["additionalProperties"] = json!(false);
    assert_eq!(format["schema"], strict);
    fake.reply(Reply::Ok { content: "{\"sum\": 1}".into(), usage: Some((5, 5)) });
    let err = p.chat(&r, None).await.unwrap_err();
    assert!(matches!(&err, Error::InvalidOutput { detail, .. } if detail.contains("total")), "{err}");
    fake.reply(Reply::Stream { deltas: vec!["not ".into(), "json".into()], usage: None, done: true });
    let (_, done) = crate::collect(&p, &r, ApiKey::new("sk-test")).await;
    assert!(matches!(done.unwrap_err(), Error::InvalidOutput { .. }));
}

#[tokio::test]
async fn servers_without_json_schema_get_json_mode_or_the_instruction() {
    let fake = FakeOpenAi::start().await;
    let schema = json!({"type": "object", "required": ["total"], "properties": {"total": {"type": "number"}}});
    let mut r = req("sum it");
    r.output = OutputFormat::Json { schema: Some(schema) };
    for (mode, format) in [(JsonMode::Object, Some(json!({"type": "json_object"}))), (JsonMode::Instruction, None)] {
        let p = OpenAiCompatible::new("local", &fake.base_url, Duration::from_secs(5)).unwrap().with_json_mode(mode);
        fake.reply(Reply::Ok { content: "{\"total\": 2}".into(), usage: Some((1, 1)) });
        assert_eq!(p.chat(&r, None).await.unwrap().content, "{\"total\": 2}");
        let body = fake.received().last().unwrap().body.clone();
        assert_eq!(body.get("response_format").cloned(), format, "{mode:?}");
        let system = body["messages"][0]["content"].as_str().unwrap();
        assert!(system.contains("JSON Schema") && system.contains("\"required\":[\"total\"]"), "{system}");
        fake.reply(Reply::Ok { content: "{\"sum\": 2}".into(), usage: Some((1, 1)) });
        assert!(matches!(p.chat(&r, None).await.unwrap_err(), Error::InvalidOutput { .. }), "checked all the same");
    }
    // The fake refuses JSON mode without the word JSON in the messages, as OpenAI does: the
    // instruction is what makes this pass.
    let p = OpenAiCompatible::new("local", &fake.base_url, Duration::from_secs(5)).unwrap();
    r.output = OutputFormat::Json { schema: None };
    fake.reply(Reply::Ok { content: "{}".into(), usage: Some((1, 1)) });
    p.chat(&r, None).await.unwrap();
}

#[tokio::test]
async fn images_are_sent_as_data_urls() {
    let (fake, p) = setup(Duration::from_secs(5)).await;
    let mut r = req("");
    r.messages = vec![Message {
        role: Role::User,
        parts: vec![
            Part::Text("what is this".into()),
            Part::Image { mime_type: "image/jpeg".into(), data: vec![255, 216, 255] },
        ],
    }];
    p.chat(&r, None).await.unwrap();
    let content = &fake.received()[0].body["messages"][0]["content"];
    assert_eq!(content[0], json!({"type": "text", "text": "what is this"}));
    assert_eq!(content[1]["image_url"]["url"], "data:image/jpeg;base64,/9j/");
}

#[tokio::test]
async fn unreachable_server_is_a_transport_error() {
    let p = OpenAiCompatible::new("local", "http://127.0.0.1:1/v1", Duration::from_secs(2)).unwrap();
    let err = p.chat(&req("hi"), Some(&ApiKey::new("sk-secret-key"))).await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
    assert!(!err.to_string().contains("sk-secret-key"), "errors never carry keys");
    assert!(!format!("{:?}", ApiKey::new("sk-secret-key")).contains("sk-secret"));
}
