//! Function calling end to end on every protocol against the fake: how tools and the choice go
//! out, that calls come back with ids, names and whole arguments (blocking and streamed, the
//! streamed pieces adding up), and that a round trip with the results is accepted by the checks
//! the real services make.

use docwright_llm::dryrun::DryRun;
use docwright_llm::testing::{FakeOpenAi, Reply};
use docwright_llm::{
    AnyProvider, ApiKey, ChatRequest, ChatResponse, Error, Message, OutputFormat, Part, Provider as _, Role,
    StreamEvent, Tool, ToolCall, ToolChoice,
};
use futures_util::StreamExt as _;
use serde_json::{Value, json};

use crate::{ALL, Protocol, key, provider};

fn weather() -> Tool {
    Tool::new(
        "get_weather",
        Some("The weather in a city".into()),
        Some(json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})),
    )
    .unwrap()
}

fn time() -> Tool {
    Tool::new("get_time", None, None).unwrap()
}

fn ask(choice: ToolChoice) -> ChatRequest {
    ChatRequest {
        model: "model-x".into(),
        messages: vec![Message::text(Role::System, "use tools"), Message::text(Role::User, "weather in Bern?")],
        tools: vec![weather(), time()],
        tool_choice: choice,
        ..Default::default()
    }
}

/// The declarations and the choice as each protocol wants them.
fn assert_tools_sent(protocol: Protocol, body: &Value, choice: &ToolChoice) {
    let weather_schema = weather().parameters().clone();
    match protocol {
        Protocol::OpenAi => {
            assert_eq!(
                body["tools"][0],
                json!({"type": "function", "function": {"name": "get_weather", "description": "The weather in a city",
                        "parameters": weather_schema}})
            );
            assert_eq!(body["tools"][1]["function"]["name"], "get_time");
            let expected = match choice {
                ToolChoice::Auto => json!("auto"),
                ToolChoice::None => json!("none"),
                ToolChoice::Required => json!("required"),
                ToolChoice::Function(n) => json!({"type": "function", "function": {"name": n}}),
            };
            assert_eq!(body["tool_choice"], expected);
        }
        Protocol::Anthropic => {
            assert_eq!(
                body["tools"][0],
                json!({"name": "get_weather", "description": "The weather in a city", "input_schema": weather_schema})
            );
            let expected = match choice {
                ToolChoice::Auto => json!({"type": "auto"}),
                ToolChoice::None => json!({"type": "none"}),
                ToolChoice::Required => json!({"type": "any"}),
                ToolChoice::Function(n) => json!({"type": "tool", "name": n}),
            };
            assert_eq!(body["tool_choice"], expected);
        }
        Protocol::Gemini => {
            let declarations = &body["tools"][0]["functionDeclarations"];
            assert_eq!(declarations[0]["name"], "get_weather");
            assert_eq!(declarations[0]["parametersJsonSchema"]["required"], json!(["city"]));
            assert_eq!(declarations[1]["name"], "get_time");
            let config = &body["toolConfig"]["functionCallingConfig"];
            match choice {
                ToolChoice::Auto => assert_eq!(config["mode"], "AUTO"),
                ToolChoice::None => assert_eq!(config["mode"], "NONE"),
                ToolChoice::Required => assert_eq!(config["mode"], "ANY"),
                ToolChoice::Function(n) => {
                    assert_eq!((config["mode"].as_str(), &config["allowedFunctionNames"]), (Some("ANY"), &json!([n])));
                }
            }
        }
        Protocol::GigaChat => {
            assert_eq!(
                body["functions"][0],
                json!({"name": "get_weather", "description": "The weather in a city", "parameters": weather_schema})
            );
            assert!(body.get("tools").is_none());
            let expected = match choice {
                ToolChoice::Auto => json!("auto"),
                ToolChoice::None => json!("none"),
                ToolChoice::Required => unreachable!("refused with two functions"),
                ToolChoice::Function(n) => json!({"name": n}),
            };
            assert_eq!(body["function_call"], expected);
        }
    }
}

/// Reads a stream to its end: the text, the tool-call pieces, and `Done`'s response.
async fn stream(p: &AnyProvider, r: &ChatRequest, key: &ApiKey) -> (String, Vec<ToolCallPiece>, ChatResponse) {
    let mut s = p.chat_stream(r, Some(key)).await.unwrap();
    let (mut text, mut pieces) = (String::new(), Vec::new());
    while let Some(ev) = s.next().await {
        match ev.unwrap() {
            StreamEvent::Delta(t) => text.push_str(&t),
            StreamEvent::ToolCall(d) => pieces.push((d.index, d.id, d.name, d.arguments)),
            StreamEvent::Done(r) => return (text, pieces, r),
        }
    }
    panic!("{}: stream ended without Done after {text:?} and {pieces:?}", p.name());
}

type ToolCallPiece = (usize, Option<String>, Option<String>, String);

/// The pieces add up to the calls of `Done`: one id and name per index, the arguments in order.
fn assert_pieces_add_up(pieces: &[ToolCallPiece], calls: &[ToolCall]) {
    for (i, call) in calls.iter().enumerate() {
        let mine: Vec<&ToolCallPiece> = pieces.iter().filter(|p| p.0 == i).collect();
        assert!(!mine.is_empty(), "no piece for call {i}: {pieces:?}");
        assert_eq!(mine[0].1.as_deref(), Some(call.id.as_str()), "the first piece carries the id");
        assert_eq!(mine[0].2.as_deref(), Some(call.name.as_str()), "the first piece carries the name");
        let args: String = mine.iter().map(|p| p.3.as_str()).collect();
        assert_eq!(
            serde_json::from_str::<Value>(&args).unwrap(),
            serde_json::from_str::<Value>(&call.arguments).unwrap()
        );
    }
    assert!(pieces.iter().all(|p| p.0 < calls.len()), "{pieces:?}");
}

#[tokio::test]
async fn tools_and_every_choice_go_out_in_each_protocols_shape() {
    for protocol in ALL {
        for choice in
            [ToolChoice::Auto, ToolChoice::None, ToolChoice::Required, ToolChoice::Function("get_time".into())]
        {
            if protocol == Protocol::GigaChat && choice == ToolChoice::Required {
                continue; // refused below: GigaChat can only force one named function
            }
            let fake = FakeOpenAi::start().await;
            let p = provider(&fake, protocol).await;
            fake.reply(Reply::ok("no tool needed"));
            let r = p.chat(&ask(choice.clone()), Some(&key(protocol))).await.unwrap();
            assert_eq!((r.content.as_str(), r.tool_calls.len()), ("no tool needed", 0), "{protocol:?}");
            let sent = fake.received();
            let body = &sent.last().unwrap().body;
            assert_tools_sent(protocol, body, &choice);
        }
    }
}

#[tokio::test]
async fn calls_come_back_whole_and_streamed_on_every_protocol() {
    let calls = vec![
        ("get_weather".to_owned(), json!({"city": "Bern", "note": "naïve «quotes» \"and\" \\ slashes"})),
        ("get_time".to_owned(), json!({})),
    ];
    for protocol in ALL {
        // GigaChat calls one function per answer.
        let expected = if protocol == Protocol::GigaChat { &calls[..1] } else { &calls[..] };
        for streamed in [false, true] {
            let fake = FakeOpenAi::start().await;
            let p = provider(&fake, protocol).await;
            fake.reply(Reply::ToolCalls { calls: calls.clone(), usage: Some((30, 7)) });
            let (text, pieces, r) = if streamed {
                stream(&p, &ask(ToolChoice::Auto), &key(protocol)).await
            } else {
                let r = p.chat(&ask(ToolChoice::Auto), Some(&key(protocol))).await.unwrap();
                (String::new(), Vec::new(), r)
            };
            let what = format!("{protocol:?}, streamed {streamed}");
            assert_eq!((text.as_str(), r.content.as_str()), ("", ""), "{what}");
            assert_eq!(r.tool_calls.len(), expected.len(), "{what}: {:?}", r.tool_calls);
            for (call, (name, args)) in r.tool_calls.iter().zip(expected) {
                assert_eq!(&call.name, name, "{what}");
                assert_eq!(&serde_json::from_str::<Value>(&call.arguments).unwrap(), args, "{what}");
                assert!(!call.id.is_empty(), "{what}");
            }
            let ids: std::collections::HashSet<&str> = r.tool_calls.iter().map(|c| c.id.as_str()).collect();
            assert_eq!(ids.len(), r.tool_calls.len(), "{what}: ids are distinct");
            assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (30, 7), "{what}");
            if streamed {
                assert_pieces_add_up(&pieces, &r.tool_calls);
            }
            match protocol {
                Protocol::OpenAi => assert_eq!(r.tool_calls[0].id, "call_fake_0"),
                Protocol::Anthropic => assert_eq!(r.tool_calls[1].id, "toolu_fake_1"),
                Protocol::Gemini | Protocol::GigaChat => assert_eq!(r.tool_calls[0].id, "call_0", "made up in order"),
            }
        }
    }
}

/// The conversation after a call: the assistant's calls and one result per call.
fn round_trip(calls: &[ToolCall]) -> ChatRequest {
    let mut r = ask(ToolChoice::Auto);
    r.messages.push(Message { role: Role::Assistant, parts: calls.iter().cloned().map(Part::ToolCall).collect() });
    for c in calls {
        let content = if c.name == "get_weather" { r#"{"temp_c": 21}"# } else { "12:00" };
        r.messages.push(Message {
            role: Role::Tool,
            parts: vec![Part::ToolResult { call_id: c.id.clone(), content: content.into() }],
        });
    }
    r
}

#[tokio::test]
async fn results_go_back_in_a_form_each_service_accepts() {
    let calls = vec![("get_weather".to_owned(), json!({"city": "Bern"})), ("get_time".to_owned(), json!({}))];
    for protocol in ALL {
        let fake = FakeOpenAi::start().await;
        let p = provider(&fake, protocol).await;
        fake.reply(Reply::ToolCalls { calls: calls.clone(), usage: None });
        let first = p.chat(&ask(ToolChoice::Auto), Some(&key(protocol))).await.unwrap();
        fake.reply(Reply::ok("21 °C in Bern at noon"));
        let second = p.chat(&round_trip(&first.tool_calls), Some(&key(protocol))).await;
        let second = second.unwrap_or_else(|e| panic!("{protocol:?}: the service refused the round trip: {e}"));
        assert_eq!(second.content, "21 °C in Bern at noon");
        let sent = fake.received();
        let body = &sent.last().unwrap().body;
        match protocol {
            Protocol::OpenAi => {
                let m = body["messages"].as_array().unwrap();
                assert_eq!(m[2]["tool_calls"][1]["function"], json!({"name": "get_time", "arguments": "{}"}));
                assert_eq!((m[3]["role"].as_str(), m[3]["tool_call_id"].as_str()), (Some("tool"), Some("call_fake_0")));
                assert_eq!(m[3]["content"], r#"{"temp_c": 21}"#);
                assert_eq!(m[4]["tool_call_id"], "call_fake_1");
            }
            Protocol::Anthropic => {
                let m = body["messages"].as_array().unwrap();
                assert_eq!(m.len(), 3, "the two results are one user turn: {m:?}");
                assert_eq!(
                    m[1]["content"][0],
                    json!({"type": "tool_use", "id": "toolu_fake_0", "name": "get_weather",
                                                     "input": {"city": "Bern"}})
                );
                assert_eq!(m[2]["content"][1]["tool_use_id"], "toolu_fake_1");
                assert_eq!(m[2]["content"][1]["content"], "12:00");
            }
            Protocol::Gemini => {
                let c = body["contents"].as_array().unwrap();
                assert_eq!(c[1]["parts"][1]["functionCall"]["name"], "get_time");
                assert_eq!(c[2]["role"], "user");
                assert_eq!(c[2]["parts"][0]["functionResponse"]["response"], json!({"temp_c": 21}));
                assert_eq!(
                    c[2]["parts"][1]["functionResponse"],
                    json!({"name": "get_time", "id": "call_1",
                                                                        "response": {"output": "12:00"}})
                );
            }
            Protocol::GigaChat => {
                let m = body["messages"].as_array().unwrap();
                assert_eq!(m[2]["function_call"], json!({"name": "get_weather", "arguments": {"city": "Bern"}}));
                assert_eq!((m[3]["role"].as_str(), m[3]["name"].as_str()), (Some("function"), Some("get_weather")));
                assert_eq!(
                    serde_json::from_str::<Value>(m[3]["content"].as_str().unwrap()).unwrap(),
                    json!({"temp_c": 21})
                );
            }
        }
    }
}

#[tokio::test]
async fn a_result_for_no_call_is_refused_as_the_service_would() {
    // The fake makes the real services' checks; a provider sending a result the model never
    // asked for gets the service's 400 back as an upstream error, not a silent answer.
    let fake = FakeOpenAi::start().await;
    let p = provider(&fake, Protocol::OpenAi).await;
    let mut r = ask(ToolChoice::Auto);
    r.messages.push(Message {
        role: Role::Tool,
        parts: vec![Part::ToolResult { call_id: "call_never_made".into(), content: "{}".into() }],
    });
    match p.chat(&r, Some(&key(Protocol::OpenAi))).await {
        Err(Error::Upstream { status: 400, message, .. }) => assert!(message.contains("call_never_made"), "{message}"),
        other => panic!("expected the 400, got {other:?}"),
    }
}

#[tokio::test]
async fn what_a_protocol_cannot_do_is_refused_before_sending() {
    for protocol in [Protocol::Anthropic, Protocol::GigaChat] {
        let fake = FakeOpenAi::start().await;
        let p = provider(&fake, protocol).await;
        let mut r = ask(ToolChoice::Auto);
        r.output = OutputFormat::Json { schema: Some(json!({"type": "object"})) };
        let e = p.chat(&r, Some(&key(protocol))).await.unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{protocol:?}: {e:?}");
        assert!(
            fake.received().iter().all(|r| !r.path.contains("chat") && !r.path.contains("messages")),
            "nothing sent"
        );
    }
    let fake = FakeOpenAi::start().await;
    let p = provider(&fake, Protocol::GigaChat).await;
    let e = p.chat(&ask(ToolChoice::Required), Some(&key(Protocol::GigaChat))).await.unwrap_err();
    assert!(matches!(&e, Error::Unsupported { .. }), "{e:?}");
    assert!(e.to_string().contains("required"), "{e}");
}

#[tokio::test]
async fn dryrun_calls_a_tool_with_arguments_of_its_schema_then_answers_from_the_result() {
    let p = AnyProvider::DryRun(DryRun::new("dryrun"));
    let key = ApiKey::new("");
    let first = p.chat(&ask(ToolChoice::Function("get_weather".into())), None).await.unwrap();
    assert_eq!(first.tool_calls.len(), 1);
    let call = &first.tool_calls[0];
    assert_eq!(call.name, "get_weather");
    let args: Value = serde_json::from_str(&call.arguments).unwrap();
    assert!(args["city"].is_string(), "{args}");
    assert_eq!(first.finish_reason.as_deref(), Some("tool_calls"));

    let (text, pieces, streamed) = stream(&p, &ask(ToolChoice::Required), &key).await;
    assert_eq!((text.as_str(), streamed.tool_calls.len()), ("", 1));
    assert_pieces_add_up(&pieces, &streamed.tool_calls);

    let none = p.chat(&ask(ToolChoice::None), None).await.unwrap();
    assert!(none.tool_calls.is_empty() && !none.content.is_empty());

    let after = p.chat(&round_trip(&first.tool_calls), None).await.unwrap();
    assert!(after.tool_calls.is_empty(), "answers after a result: {after:?}");
    assert!(after.content.contains("temp_c"), "quotes the result: {}", after.content);
}
