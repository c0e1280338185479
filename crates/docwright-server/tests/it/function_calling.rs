//! Function calling and the Responses API through the front door (SPEC A8), against a fake
//! Anthropic upstream that makes the real service's checks: OpenAI-shaped tools go out as
//! Anthropic tools, calls come back as OpenAI `tool_calls` (whole and streamed), and a round
//! trip with the results is accepted upstream.

use docwright_config::{Capability, ModelConfig, ProviderConfig, ProviderKind, Secret};
use docwright_llm::testing::{FakeOpenAi, Reply};
use docwright_storage::Backend;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Auth, TestApp, assert_error, sse};

async fn with_claude(backend: Backend, fake: &FakeOpenAi) -> Option<TestApp> {
    let base = fake.anthropic_url.clone();
    TestApp::spawn(backend, move |c| {
        c.gateway.retries_per_model = 0;
        c.providers = vec![ProviderConfig {
            name: "claude".into(),
            kind: ProviderKind::Anthropic,
            base_url: Some(base),
            api_key: Some(Secret::new("sk-ant-key".into())),
            timeout_secs: 5,
            ..Default::default()
        }];
        c.models = vec![ModelConfig {
            name: "claude-sonnet".into(),
            provider: "claude".into(),
            upstream_name: None,
            context_tokens: 200_000,
            max_output_tokens: 4096,
            capabilities: vec![Capability::Text],
            price_input_per_mtok: "3".into(),
            price_output_per_mtok: "15".into(),
            quality: 9,
            speed: 5,
            fallbacks: vec![],
        }];
    })
    .await
}

fn weather() -> Value {
    json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
}

fn tools() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "The weather", "parameters": weather()}}])
}

fn ask() -> Value {
    json!([{"role": "system", "content": "use tools"}, {"role": "user", "content": "weather in Bern?"}])
}

async fn stream_text(app: &TestApp, auth: &Auth, path: &str, body: Value) -> String {
    let resp =
        app.client.post(app.url(path)).bearer_auth(auth.bearer.clone().unwrap()).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.text().await.unwrap()
}

async fn chat_completions_call_tools_and_take_results(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let Some(app) = with_claude(backend, &fake).await else { return };
    let sys = app.sysadmin().await;

    fake.reply(Reply::ToolCalls { calls: vec![("get_weather".into(), json!({"city": "Bern"}))], usage: Some((40, 9)) });
    let body = json!({"model": "claude-sonnet", "messages": ask(), "tools": tools(), "tool_choice": "required"});
    let (status, r) = app.post("/v1/chat/completions", &sys, body).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let choice = &r["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    assert_eq!(
        choice["message"]["tool_calls"],
        json!([{"id": "toolu_fake_0", "type": "function", "function": {"name": "get_weather", "arguments": r#"{"city":"Bern"}"#}}])
    );
    assert_eq!(r["docwright"]["price"], "0.000255", "40 × 3 + 9 × 15 per million");
    let sent = &fake.received()[0].body;
    assert_eq!(
        sent["tools"][0],
        json!({"name": "get_weather", "description": "The weather", "input_schema": weather()})
    );
    assert_eq!(sent["tool_choice"], json!({"type": "any"}));

    // The round trip: the assistant's call and the tool's result, accepted by the upstream.
    fake.reply(Reply::ok("21 °C in Bern"));
    let mut messages = ask().as_array().unwrap().clone();
    messages.push(choice["message"].clone());
    messages.push(json!({"role": "tool", "tool_call_id": "toolu_fake_0", "content": "{\"temp_c\": 21}"}));
    let (status, r) = app
        .post("/v1/chat/completions", &sys, json!({"model": "claude-sonnet", "messages": messages, "tools": tools()}))
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(
        (r["choices"][0]["message"]["content"].as_str(), r["choices"][0]["finish_reason"].as_str()),
        (Some("21 °C in Bern"), Some("stop"))
    );
    let sent = &fake.received()[1].body;
    assert_eq!(sent["messages"][1]["content"][0]["type"], "tool_use");
    assert_eq!(
        sent["messages"][2]["content"][0],
        json!({"type": "tool_result", "tool_use_id": "toolu_fake_0", "content": "{\"temp_c\": 21}"})
    );

    // Streamed: the pieces arrive as delta.tool_calls and add up to the call.
    fake.reply(Reply::ToolCalls { calls: vec![("get_weather".into(), json!({"city": "Zürich"}))], usage: None });
    let text = stream_text(
        &app,
        &sys,
        "/v1/chat/completions",
        json!({"model": "claude-sonnet", "messages": ask(), "tools": tools(), "stream": true}),
    )
    .await;
    let chunks: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let pieces: Vec<&Value> = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0)).collect();
    assert_eq!(pieces[0]["id"], "toolu_fake_0");
    assert_eq!(pieces[0]["function"]["name"], "get_weather");
    let args: String = pieces.iter().filter_map(|p| p["function"]["arguments"].as_str()).collect();
    assert_eq!(serde_json::from_str::<Value>(&args).unwrap(), json!({"city": "Zürich"}));
    assert_eq!(chunks.last().unwrap()["choices"][0]["finish_reason"], "tool_calls");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");

    // What cannot be served is refused and names the field.
    let bad_id = json!({"model": "claude-sonnet", "messages": [{"role": "tool", "content": "x"}]});
    let (status, r) = app.post("/v1/chat/completions", &sys, bad_id).await;
    assert_error(status, &r, 400, "validation_failed");
    assert_eq!(r["error"]["param"], "messages[0]", "{r}");
    let bad_name = json!({"model": "claude-sonnet", "messages": ask(),
                          "tools": [{"type": "function", "function": {"name": "no spaces"}}]});
    let (status, r) = app.post("/v1/chat/completions", &sys, bad_name).await;
    assert_error(status, &r, 400, "validation_failed");
    assert_eq!(r["error"]["param"], "tools[0].function.name", "{r}");
    let chunked = json!({"model": "claude-sonnet", "messages": ask(), "tools": tools(), "chunking": true});
    assert_error_code(app.post("/v1/chat/completions", &sys, chunked).await, "validation_failed");
    assert_eq!(fake.received().len(), 3, "nothing refused reached the upstream");
}

fn assert_error_code((status, body): (StatusCode, Value), code: &str) {
    assert_error(status, &body, 400, code);
}

async fn the_responses_api_answers_streams_and_round_trips(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let Some(app) = with_claude(backend, &fake).await else { return };
    let sys = app.sysadmin().await;
    let flat =
        json!([{"type": "function", "name": "get_weather", "description": "The weather", "parameters": weather()}]);

    fake.reply(Reply::Ok { content: "Grüezi".into(), usage: Some((12, 3)) });
    let (status, r) = app
        .post("/v1/responses", &sys, json!({"model": "claude-sonnet", "instructions": "be brief", "input": "hi"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!((r["object"].as_str(), r["status"].as_str()), (Some("response"), Some("completed")));
    assert_eq!(r["output"][0]["content"][0], json!({"type": "output_text", "text": "Grüezi", "annotations": []}));
    assert_eq!((r["usage"]["input_tokens"].as_u64(), r["usage"]["output_tokens"].as_u64()), (Some(12), Some(3)));
    assert_eq!(r["store"], false, "docwright keeps no responses");
    assert_eq!(fake.received()[0].body["system"], "be brief");

    // A function call, then its output as the next input.
    fake.reply(Reply::ToolCalls { calls: vec![("get_weather".into(), json!({"city": "Bern"}))], usage: None });
    let input = json!([{"role": "user", "content": [{"type": "input_text", "text": "weather in Bern?"}]}]);
    let (status, r) = app
        .post(
            "/v1/responses",
            &sys,
            json!({"model": "claude-sonnet", "input": input, "tools": flat, "tool_choice": "required"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let call = r["output"].as_array().unwrap().iter().find(|o| o["type"] == "function_call").unwrap().clone();
    assert_eq!((call["call_id"].as_str(), call["name"].as_str()), (Some("toolu_fake_0"), Some("get_weather")));
    assert!(call["id"].as_str().unwrap().starts_with("fc_"), "{call}");
    assert_eq!(r["output"].as_array().unwrap().len(), 1, "no empty message beside the call: {r}");
    fake.reply(Reply::ok("21 °C"));
    let mut next = input.as_array().unwrap().clone();
    next.push(call);
    next.push(json!({"type": "function_call_output", "call_id": "toolu_fake_0", "output": "{\"temp_c\": 21}"}));
    let (status, r) =
        app.post("/v1/responses", &sys, json!({"model": "claude-sonnet", "input": next, "tools": flat})).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["output"][0]["content"][0]["text"], "21 °C");
    let sent = &fake.received()[2].body;
    assert_eq!(sent["messages"][2]["content"][0]["tool_use_id"], "toolu_fake_0");

    // Streamed: the documented events in order, numbered, adding up to the final response.
    fake.reply(Reply::ToolCalls { calls: vec![("get_weather".into(), json!({"city": "Genève"}))], usage: None });
    let text = stream_text(
        &app,
        &sys,
        "/v1/responses",
        json!({"model": "claude-sonnet", "input": "weather?", "tools": flat, "stream": true}),
    )
    .await;
    let events = sse(&text);
    let kinds: Vec<&str> = events.iter().map(|(_, e, _)| e.as_str()).collect();
    assert_eq!(kinds[..3], ["response.created", "response.in_progress", "response.output_item.added"], "{kinds:?}");
    assert_eq!(
        kinds[kinds.len() - 3..],
        ["response.function_call_arguments.done", "response.output_item.done", "response.completed"],
        "{kinds:?}"
    );
    for (n, (_, kind, data)) in events.iter().enumerate() {
        assert_eq!((data["type"].as_str(), data["sequence_number"].as_u64()), (Some(kind.as_str()), Some(n as u64)));
    }
    let args: String = events
        .iter()
        .filter(|(_, e, _)| e == "response.function_call_arguments.delta")
        .filter_map(|(_, _, d)| d["delta"].as_str())
        .collect();
    let done = &events[events.len() - 3].2;
    assert_eq!(done["arguments"], args);
    assert_eq!(serde_json::from_str::<Value>(&args).unwrap(), json!({"city": "Genève"}));
    let completed = &events.last().unwrap().2["response"];
    assert_eq!(completed["output"][0]["arguments"], args);
    assert_eq!(completed["status"], "completed");

    // Text streamed: the deltas add up to output_text.done and the message item.
    fake.reply(Reply::Stream { deltas: vec!["streamed ".into(), "words".into()], usage: Some((4, 2)), done: true });
    let text =
        stream_text(&app, &sys, "/v1/responses", json!({"model": "claude-sonnet", "input": "hi", "stream": true}))
            .await;
    let events = sse(&text);
    let deltas: String = events
        .iter()
        .filter(|(_, e, _)| e == "response.output_text.delta")
        .filter_map(|(_, _, d)| d["delta"].as_str())
        .collect();
    assert_eq!(deltas, "streamed words", "{text}");
    let completed = &events.last().unwrap().2["response"];
    assert_eq!(completed["output"][0]["content"][0]["text"], "streamed words");
    assert!(completed["docwright"]["price"].is_string(), "{completed}");

    // Refused, naming the field, and nothing sent upstream.
    let before = fake.received().len();
    for (body, param) in [
        (json!({"model": "claude-sonnet", "input": "x", "previous_response_id": "resp_1"}), "previous_response_id"),
        (json!({"model": "claude-sonnet", "input": []}), "input"),
        (json!({"model": "claude-sonnet", "input": [{"type": "item_reference", "id": "msg_1"}]}), "input[0]"),
        (
            json!({"model": "claude-sonnet", "input": "x", "tools": [{"type": "function", "name": "a b"}]}),
            "tools[0].name",
        ),
        (json!({"model": "claude-sonnet", "input": "x", "text": {"format": {"type": "xml"}}}), "text.format"),
    ] {
        let (status, r) = app.post("/v1/responses", &sys, body).await;
        assert_error(status, &r, 400, "validation_failed");
        assert_eq!(r["error"]["param"], param, "{r}");
    }
    assert_eq!(fake.received().len(), before);
}

mod chat_completions_with_tools {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::chat_completions_call_tools_and_take_results(docwright_storage::Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::chat_completions_call_tools_and_take_results(docwright_storage::Backend::Postgres).await
    }
}

mod responses_api {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::the_responses_api_answers_streams_and_round_trips(docwright_storage::Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::the_responses_api_answers_streams_and_round_trips(docwright_storage::Backend::Postgres).await
    }
}
