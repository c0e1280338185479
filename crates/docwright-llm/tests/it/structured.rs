//! Structured output end to end on every protocol against the fake: what each one sends (the
//! fake refuses what the real service refuses), and that the caller gets JSON of its own
//! schema back — blocking and streamed — or `InvalidOutput`, which the gateway falls back on.

use docwright_llm::testing::schemas::{elements, receipt, receipt_rows};
use docwright_llm::testing::{FakeOpenAi, Reply};
use docwright_llm::{ApiKey, ChatRequest, Error, Message, OutputFormat, Provider as _, Role};
use serde_json::{Value, json};

use crate::{ALL, Protocol, key, provider};

fn req(schema: Value) -> ChatRequest {
    ChatRequest {
        model: "model-x".into(),
        messages: vec![Message::text(Role::System, "extract"), Message::text(Role::User, "the document")],
        output: OutputFormat::Json { schema: Some(schema) },
        ..Default::default()
    }
}

/// What the model answers on `protocol` for a caller's `value`: protocols that want an
/// object get a non-object wrapped, as the request told them (checked by `assert_sent`).
fn on_the_wire(protocol: Protocol, schema: &Value, value: &Value) -> Value {
    if protocol != Protocol::Gemini && schema["type"] != "object" { json!({"value": value}) } else { value.clone() }
}

/// The request carries the schema the protocol's way, and nothing else asks for JSON.
fn assert_sent(protocol: Protocol, body: &Value, schema: &Value) {
    let wrapped = schema["type"] != "object";
    match protocol {
        Protocol::OpenAi => {
            let format = &body["response_format"];
            assert_eq!(
                (format["type"].as_str(), format["json_schema"]["strict"].as_bool()),
                (Some("json_schema"), Some(true))
            );
            let sent = &format["json_schema"]["schema"];
            assert_eq!(sent["additionalProperties"], false);
            assert_eq!(wrapped, sent["required"] == json!(["value"]), "{sent}");
        }
        Protocol::Anthropic => {
            assert_eq!(body["tool_choice"], json!({"type": "tool", "name": "respond"}));
            let input_schema = &body["tools"][0]["input_schema"];
            assert_eq!(input_schema["type"], "object");
            assert_eq!(if wrapped { &input_schema["properties"]["value"] } else { input_schema }, schema);
            assert!(body.get("system").is_none_or(|s| !s.as_str().unwrap_or("").contains("JSON Schema")));
        }
        Protocol::Gemini => {
            assert_eq!(body["generationConfig"]["responseMimeType"], "application/json");
            assert!(body["generationConfig"]["responseJsonSchema"].is_object());
            assert!(body["generationConfig"].get("responseSchema").is_none());
        }
        Protocol::GigaChat => {
            assert_eq!(body["function_call"], json!({"name": "respond"}));
            let parameters = &body["functions"][0]["parameters"];
            assert_eq!(if wrapped { &parameters["properties"]["value"] } else { parameters }, schema);
            assert!(body.get("response_format").is_none());
        }
    }
}

fn heading_and_table() -> Value {
    json!({"elements": [
        {"type": "heading", "level": 1, "text": "Expenses"},
        {"type": "paragraph", "text": "Receipts of January."},
        {"type": "list", "ordered": false, "items": ["Coop", "Migros"]},
        {"type": "table", "columns": [{"name": "shop", "data_type": "string"}, {"name": "CHF", "data_type": "number"}],
         "rows": [["Coop", 12.5], ["Migros", null]]}
    ]})
}

fn cases() -> Vec<(Value, Value)> {
    let row = json!({"date": "2026-01-31", "shop": "Coop", "CHF": 12.5, "VAT": 0.95, "Description": "Lunch"});
    vec![
        (receipt(), json!({"shop": "Coop", "items": 2})),
        (receipt_rows(), json!([row.clone(), row])),
        (elements(), heading_and_table()),
    ]
}

#[tokio::test]
async fn the_pipeline_shapes_are_enforced_and_answered_on_every_protocol() {
    for protocol in ALL {
        let fake = FakeOpenAi::start().await;
        let p = provider(&fake, protocol).await;
        for (schema, value) in cases() {
            let wire = on_the_wire(protocol, &schema, &value);
            fake.reply(Reply::Ok { content: wire.to_string(), usage: Some((10, 5)) });
            let r = p.chat(&req(schema.clone()), Some(&key(protocol))).await;
            let r = r.unwrap_or_else(|e| panic!("{protocol:?} {schema}: {e}"));
            assert_eq!(serde_json::from_str::<Value>(&r.content).unwrap(), value, "{protocol:?}");
            assert_sent(protocol, &fake.received().last().unwrap().body, &schema);
        }
    }
}

#[tokio::test]
async fn streams_pass_the_json_as_it_grows_or_whole_when_it_is_reshaped() {
    for protocol in ALL {
        let fake = FakeOpenAi::start().await;
        let p = provider(&fake, protocol).await;
        for (schema, value) in cases() {
            let wire = on_the_wire(protocol, &schema, &value).to_string();
            let (a, b) = wire.split_at(wire.len() / 2);
            fake.reply(Reply::Stream { deltas: vec![a.into(), b.into()], usage: Some((3, 4)), done: true });
            let mut stream = p.chat_stream(&req(schema.clone()), Some(&key(protocol))).await.unwrap();
            let mut deltas = Vec::new();
            let done = loop {
                use futures_util::StreamExt as _;
                match stream.next().await.unwrap().unwrap_or_else(|e| panic!("{protocol:?} {schema}: {e}")) {
                    docwright_llm::StreamEvent::Delta(t) => deltas.push(t),
                    docwright_llm::StreamEvent::Done(r) => break r,
                    docwright_llm::StreamEvent::ToolCall(c) => panic!("{protocol:?}: a tool call without tools: {c:?}"),
                }
            };
            assert_eq!(deltas.concat(), done.content, "{protocol:?}: the deltas are the answer");
            assert_eq!(serde_json::from_str::<Value>(&done.content).unwrap(), value, "{protocol:?}");
            // GigaChat sends a function call whole; the others stream the pieces unless the
            // answer is unwrapped, or (OpenAI, the optional `items`) stripped of added nulls,
            // on the way: that needs it whole.
            let reshaped = on_the_wire(protocol, &schema, &value) != value
                || (protocol == Protocol::OpenAi && schema == receipt());
            let pieces = if reshaped || protocol == Protocol::GigaChat { 1 } else { 2 };
            assert_eq!(deltas.len(), pieces, "{protocol:?} {schema}: {deltas:?}");
        }
    }
}

#[tokio::test]
async fn malformed_answers_are_invalid_output_on_every_protocol() {
    let bad_table =
        json!({"elements": [{"type": "table", "columns": [{"name": "x", "data_type": "money"}], "rows": []}]});
    for protocol in ALL {
        let fake = FakeOpenAi::start().await;
        let p = provider(&fake, protocol).await;
        let r = req(elements());
        for content in ["Sure! Here is the document.".to_owned(), bad_table.to_string(), "{\"elements\": [".to_owned()]
        {
            fake.reply(Reply::Ok { content: content.clone(), usage: Some((1, 1)) });
            let err = p.chat(&r, Some(&key(protocol))).await.unwrap_err();
            assert!(matches!(err, Error::InvalidOutput { .. }), "{protocol:?} {content}: {err}");
            assert!(err.is_retryable(), "the gateway falls back on it");
        }
        // The check names the closest alternative's problem.
        fake.reply(Reply::Ok { content: bad_table.to_string(), usage: Some((1, 1)) });
        let err = p.chat(&r, Some(&key(protocol))).await.unwrap_err().to_string();
        assert!(err.contains("$.elements[0].columns[0].data_type"), "{protocol:?}: {err}");
        // Streamed too.
        fake.reply(Reply::Stream {
            deltas: vec!["{\"elem".into(), "ents\": 3}".into()],
            usage: Some((1, 1)),
            done: true,
        });
        let (_, done) = crate::collect(&p, &r, key(protocol)).await;
        assert!(matches!(done, Err(Error::InvalidOutput { .. })), "{protocol:?}: {done:?}");
    }
}

#[tokio::test]
async fn openai_optional_fields_travel_as_nullable_and_their_nulls_are_dropped() {
    let fake = FakeOpenAi::start().await;
    let p = provider(&fake, Protocol::OpenAi).await;
    fake.reply(Reply::Ok { content: r#"{"shop": "Coop", "items": null}"#.into(), usage: Some((1, 1)) });
    let r = p.chat(&req(receipt()), None).await.unwrap();
    assert_eq!(r.content, r#"{"shop":"Coop"}"#);
    let sent = &fake.received()[0].body["response_format"]["json_schema"]["schema"];
    assert_eq!(sent["required"], json!(["shop", "items"]));
    assert_eq!(sent["properties"]["items"]["type"], json!(["integer", "null"]));
    // Streamed: held back, then given whole.
    fake.reply(Reply::Stream {
        deltas: vec![r#"{"shop": "Coop", "#.into(), r#""items": null}"#.into()],
        usage: None,
        done: true,
    });
    let (text, done) = crate::collect(&p, &req(receipt()), ApiKey::new("k")).await;
    assert_eq!((text.as_str(), done.unwrap().content.as_str()), (r#"{"shop":"Coop"}"#, r#"{"shop":"Coop"}"#));
}

#[tokio::test]
async fn openai_schemas_that_cannot_be_strict_are_sent_with_strict_false() {
    let fake = FakeOpenAi::start().await;
    let p = provider(&fake, Protocol::OpenAi).await;
    let free = json!({"type": "object", "properties": {"totals": {"type": "object", "additionalProperties": {"type": "number"}}}});
    fake.reply(Reply::Ok { content: r#"{"totals": {"food": 3.5}}"#.into(), usage: Some((1, 1)) });
    assert_eq!(p.chat(&req(free.clone()), None).await.unwrap().content, r#"{"totals": {"food": 3.5}}"#);
    let format = &fake.received()[0].body["response_format"]["json_schema"];
    assert_eq!((format["strict"].as_bool(), &format["schema"]), (Some(false), &free));
    fake.reply(Reply::Ok { content: r#"{"totals": {"food": "3.5"}}"#.into(), usage: Some((1, 1)) });
    let err = p.chat(&req(free), None).await.unwrap_err();
    assert!(err.to_string().contains("$.totals.food: expected number"), "{err}");
}

#[tokio::test]
async fn an_anthropic_tool_input_that_arrives_whole_at_block_start_is_the_answer() {
    // A tool input of `{}` can come in `content_block_start` with no delta after it.
    let fake = FakeOpenAi::start().await;
    let p = provider(&fake, Protocol::Anthropic).await;
    let empty = json!({"type": "object", "properties": {"note": {"type": "string"}}});
    fake.reply(Reply::Stream { deltas: vec![], usage: Some((1, 1)), done: true });
    let (text, done) = crate::collect(&p, &req(empty), key(Protocol::Anthropic)).await;
    assert_eq!((text.as_str(), done.unwrap().content.as_str()), ("{}", "{}"));
}
