//! Function calling in the fake: the checks each real API makes on tool declarations and on
//! tool calls and results in the conversation, and [`super::Reply::ToolCalls`] answered in each
//! protocol's shape, whole or streamed as the request asked.

use serde_json::{Value, json};

/// A scripted call: the tool's name and its arguments.
pub(super) type Call = (String, Value);

fn sse_data(v: &Value) -> String {
    format!("data: {v}\n\n")
}

/// Splits text in two pieces (on a character boundary), as streams cut arguments.
fn halves(s: &str) -> [&str; 2] {
    let mid = (0..=s.len() / 2).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
    [&s[..mid], &s[mid..]]
}

/// What OpenAI refuses in `tools`, `tool_choice` and tool messages: a tool that is not a
/// named function, a choice naming an undeclared function, a `tool` message whose
/// `tool_call_id` answers no earlier call, an assistant's calls not each answered by the
/// `tool` messages right after it.
pub(super) fn openai_problem(body: &Value) -> Option<String> {
    let tools = body["tools"].as_array();
    let mut names = Vec::new();
    for (i, t) in tools.into_iter().flatten().enumerate() {
        if t["type"] != "function" || !t["function"]["name"].is_string() {
            return Some(format!("Invalid value for 'tools[{i}]': expected a function with a name."));
        }
        if !t["function"]["parameters"].is_null() && t["function"]["parameters"]["type"] != "object" {
            return Some(format!(
                "Invalid schema for function '{}': schema must be of type object.",
                t["function"]["name"]
            ));
        }
        names.push(t["function"]["name"].as_str().unwrap_or_default());
    }
    if !body["tool_choice"].is_null() && tools.is_none() {
        return Some(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.".into(),
        );
    }
    if let Some(name) = body["tool_choice"]["function"]["name"].as_str()
        && !names.contains(&name)
    {
        return Some(format!("Invalid value for 'tool_choice': function '{name}' is not in tools."));
    }
    let messages: Vec<&Value> = body["messages"].as_array().into_iter().flatten().collect();
    for (i, m) in messages.iter().enumerate() {
        if m["role"] == "tool" {
            let id = m["tool_call_id"].as_str().unwrap_or_default();
            let answered = messages[..i]
                .iter()
                .rev()
                .find(|p| p["role"] == "assistant")
                .is_some_and(|p| p["tool_calls"].as_array().into_iter().flatten().any(|c| c["id"] == id));
            if !answered {
                return Some(format!(
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls' (messages[{i}], tool_call_id '{id}')."
                ));
            }
        }
        if let Some(calls) = m["tool_calls"].as_array() {
            let following: Vec<&str> = messages[i + 1..]
                .iter()
                .take_while(|n| n["role"] == "tool")
                .filter_map(|n| n["tool_call_id"].as_str())
                .collect();
            if let Some(c) = calls.iter().find(|c| !following.contains(&c["id"].as_str().unwrap_or_default())) {
                return Some(format!(
                    "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {}",
                    c["id"]
                ));
            }
        }
    }
    None
}

/// What GigaChat refuses: a `function` message without a name or with content that is not
/// JSON text, and a `function_call` naming no declared function.
pub(super) fn gigachat_problem(body: &Value) -> Option<String> {
    for (i, m) in body["messages"].as_array().into_iter().flatten().enumerate() {
        if m["role"] == "function" {
            if !m["name"].is_string() {
                return Some(format!("messages[{i}]: a function message must name the function"));
            }
            let json_text = m["content"].as_str().is_some_and(|c| serde_json::from_str::<Value>(c).is_ok());
            if !json_text {
                return Some(format!("messages[{i}]: the content of a function message must be a JSON string"));
            }
        }
    }
    None
}

/// What Anthropic refuses: tools without a name or an object `input_schema`, an unknown
/// `tool_choice` type, and a `tool_result` that answers no `tool_use` of the assistant turn
/// right before it.
pub(super) fn anthropic_problem(body: &Value) -> Option<String> {
    for (i, t) in body["tools"].as_array().into_iter().flatten().enumerate() {
        if !t["name"].is_string() || t["input_schema"]["type"] != "object" {
            return Some(format!("tools.{i}.custom.input_schema.type: Input should be 'object'"));
        }
    }
    if let Some(kind) = body["tool_choice"]["type"].as_str()
        && !["auto", "any", "tool", "none"].contains(&kind)
    {
        return Some(format!("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none', not '{kind}'"));
    }
    let messages: Vec<&Value> = body["messages"].as_array().into_iter().flatten().collect();
    for (i, m) in messages.iter().enumerate() {
        for block in m["content"].as_array().into_iter().flatten().filter(|b| b["type"] == "tool_result") {
            let id = block["tool_use_id"].as_str().unwrap_or_default();
            let previous = i.checked_sub(1).map(|p| messages[p]);
            let answered = m["role"] == "user"
                && previous.is_some_and(|p| {
                    p["role"] == "assistant"
                        && p["content"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|b| b["type"] == "tool_use" && b["id"] == id)
                });
            if !answered {
                return Some(format!(
                    "messages.{i}.content: unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                ));
            }
        }
    }
    None
}

/// What Gemini refuses: function declarations without a name, and a `functionResponse` whose
/// name no earlier `functionCall` of the model had.
pub(super) fn gemini_problem(body: &Value) -> Option<String> {
    for t in body["tools"].as_array().into_iter().flatten() {
        if t["functionDeclarations"].as_array().into_iter().flatten().any(|f| !f["name"].is_string()) {
            return Some("* GenerateContentRequest.tools[0].function_declarations[0].name: Name is required.".into());
        }
    }
    let contents: Vec<&Value> = body["contents"].as_array().into_iter().flatten().collect();
    for (i, c) in contents.iter().enumerate() {
        for part in c["parts"].as_array().into_iter().flatten() {
            let Some(name) = part["functionResponse"]["name"].as_str() else { continue };
            let called = contents[..i].iter().any(|p| {
                p["role"] == "model"
                    && p["parts"].as_array().into_iter().flatten().any(|q| q["functionCall"]["name"] == name)
            });
            if !called {
                return Some(format!(
                    "Please ensure that function response turn comes immediately after a function call turn (contents[{i}]: {name})."
                ));
            }
        }
    }
    None
}

/// An OpenAI completion (or chunks) with these calls.
pub(super) fn openai(model: &str, calls: &[Call], usage: Option<(u64, u64)>, stream: bool) -> String {
    let (p, c) = usage.unwrap_or((10, 5));
    let id = |i: usize| format!("call_fake_{i}");
    if !stream {
        let tool_calls: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(i, (name, args))| {
                json!({"id": id(i), "type": "function", "function": {"name": name, "arguments": args.to_string()}})
            })
            .collect();
        return json!({"id": "chatcmpl-fake", "object": "chat.completion", "created": 1_700_000_000, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": tool_calls},
                         "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}})
        .to_string();
    }
    let chunk = |delta: Value, finish: Value| {
        sse_data(&json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_700_000_000,
                         "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}))
    };
    let mut out = chunk(json!({"role": "assistant", "content": null}), Value::Null);
    for (i, (name, args)) in calls.iter().enumerate() {
        out.push_str(&chunk(
            json!({"tool_calls": [{"index": i, "id": id(i), "type": "function", "function": {"name": name, "arguments": ""}}]}),
            Value::Null,
        ));
        for piece in halves(&args.to_string()) {
            out.push_str(&chunk(json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}), Value::Null));
        }
    }
    out.push_str(&chunk(json!({}), json!("tool_calls")));
    out.push_str(&sse_data(
        &json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_700_000_000,
        "model": model, "choices": [], "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}}),
    ));
    out.push_str("data: [DONE]\n\n");
    out
}

/// A GigaChat answer calling the first of these functions (it calls one per answer).
pub(super) fn gigachat(model: &str, calls: &[Call], usage: Option<(u64, u64)>, stream: bool) -> String {
    let (p, c) = usage.unwrap_or((10, 5));
    let (name, args) = calls.first().cloned().unwrap_or_default();
    let call = json!({"role": "assistant", "content": "", "function_call": {"name": name, "arguments": args},
                      "functions_state_id": "77d3fb14-457a-46ba-937e-8d856156d003"});
    let usage = json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c});
    if !stream {
        return json!({"object": "chat.completion", "created": 1_700_000_000, "model": model,
            "choices": [{"index": 0, "message": call, "finish_reason": "function_call"}], "usage": usage})
        .to_string();
    }
    let mut out = sse_data(&json!({"object": "chat.completion", "created": 1_700_000_000, "model": model,
        "choices": [{"index": 0, "delta": call, "finish_reason": "function_call"}], "usage": usage}));
    out.push_str("data: [DONE]\n\n");
    out
}

/// An Anthropic message (or its events) with these calls as `tool_use` blocks.
pub(super) fn anthropic(model: &str, calls: &[Call], usage: Option<(u64, u64)>, stream: bool) -> String {
    let (i, o) = usage.unwrap_or((10, 5));
    let id = |n: usize| format!("toolu_fake_{n}");
    if !stream {
        let content: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(n, (name, args))| json!({"type": "tool_use", "id": id(n), "name": name, "input": args}))
            .collect();
        return json!({"id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": content,
                      "stop_reason": "tool_use", "stop_sequence": null, "usage": {"input_tokens": i, "output_tokens": o}})
        .to_string();
    }
    let sse = |event: &str, data: Value| format!("event: {event}\ndata: {data}\n\n");
    let mut out = sse(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_fake", "type": "message", "role": "assistant",
               "model": model, "content": [], "stop_reason": null, "usage": {"input_tokens": i, "output_tokens": 1}}}),
    );
    for (n, (name, args)) in calls.iter().enumerate() {
        out.push_str(&sse(
            "content_block_start",
            json!({"type": "content_block_start", "index": n,
                   "content_block": {"type": "tool_use", "id": id(n), "name": name, "input": {}}}),
        ));
        for piece in std::iter::once("").chain(halves(&args.to_string())) {
            out.push_str(&sse(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": n, "delta": {"type": "input_json_delta", "partial_json": piece}}),
            ));
        }
        out.push_str(&sse("content_block_stop", json!({"type": "content_block_stop", "index": n})));
    }
    out.push_str(&sse(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": o}}),
    ));
    out.push_str(&sse("message_stop", json!({"type": "message_stop"})));
    out
}

/// A Gemini answer (or its chunks, one per call) with these calls as `functionCall` parts.
pub(super) fn gemini(model: &str, calls: &[Call], usage: Option<(u64, u64)>, stream: bool) -> String {
    let (p, c) = usage.unwrap_or((10, 5));
    let part = |(name, args): &Call| json!({"functionCall": {"name": name, "args": args}});
    let usage = json!({"promptTokenCount": p, "candidatesTokenCount": c, "totalTokenCount": p + c});
    if !stream {
        let parts: Vec<Value> = calls.iter().map(part).collect();
        return json!({"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
                      "usageMetadata": usage, "modelVersion": model})
        .to_string();
    }
    let mut out = String::new();
    for (n, call) in calls.iter().enumerate() {
        let mut candidate = json!({"content": {"role": "model", "parts": [part(call)]}, "index": 0});
        if n + 1 == calls.len() {
            candidate["finishReason"] = json!("STOP");
        }
        out.push_str(&format!(
            "data: {}\r\n\r\n",
            json!({"candidates": [candidate], "usageMetadata": usage, "modelVersion": model})
        ));
    }
    out
}
