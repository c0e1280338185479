//! Function calling: tools a caller declares, the calls a model makes, and what they returned,
//! in one provider-neutral form that each protocol translates.
//!
//! | protocol | tools sent as | a call comes back as | a result goes back as |
//! |---|---|---|---|
//! | OpenAI-compatible | `tools: [{type: function, function: {name, description, parameters}}]`, `tool_choice`, `parallel_tool_calls` | `message.tool_calls[]` (`id`, `function.name`, `function.arguments` as a JSON string); streamed as `delta.tool_calls[]` pieces by `index` | a `tool` message with `tool_call_id` |
//! | Anthropic | `tools: [{name, description, input_schema}]`, `tool_choice: {type: auto, any, tool, none}` (`disable_parallel_tool_use`) | `tool_use` content blocks (`id`, `name`, `input` an object); streamed as `input_json_delta` | a `tool_result` block (`tool_use_id`) in a user message |
//! | Gemini | `tools: [{functionDeclarations: [{name, description, parametersJsonSchema}]}]`, `toolConfig.functionCallingConfig` (`AUTO`, `ANY`, `NONE`, `allowedFunctionNames`) | `functionCall` parts (`name`, `args`; an `id` on newer models) | a `functionResponse` part (`name`, `response` an object) in a user turn |
//! | GigaChat | `functions: [{name, description, parameters}]`, `function_call: auto, none or {name}` | `message.function_call` (`name`, `arguments` an object), one per answer | a `function` message with the function's `name` and the result as content |
//! | dryrun | — | a call of the named (or first) tool with arguments built from its schema, unless the last message is a tool result | — |
//!
//! Where a protocol has no call ids (Gemini without `id`, GigaChat), ids are made up in
//! order (`call_0`, `call_1`, ...) and a result's function name is found by its call id in the
//! conversation.

use serde_json::{Value, json};

use crate::{Message, Part};

/// A function the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    name: String,
    description: Option<String>,
    parameters: Value,
}

impl Tool {
    /// A tool of this name (1 to 64 letters, digits, `_` or `-`, as every protocol accepts) whose
    /// arguments are described by `parameters`, a JSON Schema of an object (no parameters:
    /// `None`, an object without properties); the problem otherwise, naming the field.
    pub fn new(name: &str, description: Option<String>, parameters: Option<Value>) -> Result<Self, String> {
        if name.is_empty()
            || name.len() > 64
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(format!(
                "name: `{}` is not a function name (1 to 64 letters, digits, _ or -)",
                name.chars().take(80).collect::<String>()
            ));
        }
        let parameters = parameters.unwrap_or_else(|| json!({"type": "object", "properties": {}}));
        match parameters.get("type") {
            Some(t) if t == "object" => {}
            None if parameters.is_object() => {}
            _ => return Err("parameters: must be a JSON Schema of an object (\"type\": \"object\")".to_owned()),
        }
        let mut parameters = parameters;
        if parameters.get("type").is_none() {
            parameters["type"] = json!("object");
        }
        Ok(Self { name: name.to_owned(), description: description.filter(|d| !d.is_empty()), parameters })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The JSON Schema of the arguments, always an object schema.
    pub fn parameters(&self) -> &Value {
        &self.parameters
    }

    /// The declaration most protocols take: `name`, `description` when there is one, and the
    /// arguments' schema under `schema_key` (`parameters`, `input_schema`, ...), as `schema`.
    pub(crate) fn declared(&self, schema_key: &str, schema: Value) -> Value {
        let mut d = json!({"name": self.name});
        if let Some(text) = &self.description {
            d["description"] = json!(text);
        }
        d[schema_key] = schema;
        d
    }
}

/// Whether the model may, must or must not call a tool.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ToolChoice {
    /// The model decides.
    #[default]
    Auto,
    /// No tool call; a text answer.
    None,
    /// At least one tool call.
    Required,
    /// A call of this tool.
    Function(String),
}

/// A call the model made: the tool's name and its arguments as JSON text (an object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// A piece of a streamed tool call: the call at `index` (in order of the answer) gets its `id`
/// and `name` with its first piece, and its arguments in pieces that concatenate to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCallDelta {
    pub index: usize,
    pub id: Option<String>,
    pub name: Option<String>,
    pub arguments: String,
}

/// The tool calls of an answer, assembled from stream pieces.
#[derive(Debug, Clone, Default)]
pub(crate) struct Calls {
    calls: Vec<ToolCall>,
}

impl Calls {
    /// Adds a piece; an `id` missing from the first piece is made up from the index.
    pub(crate) fn add(&mut self, d: &ToolCallDelta) {
        while self.calls.len() <= d.index {
            let i = self.calls.len();
            self.calls.push(ToolCall { id: made_up_id(i), name: String::new(), arguments: String::new() });
        }
        let call = &mut self.calls[d.index];
        if let Some(id) = &d.id {
            call.id.clone_from(id);
        }
        if let Some(name) = &d.name {
            call.name.push_str(name);
        }
        call.arguments.push_str(&d.arguments);
    }

    /// The calls, arguments `{}` where none came.
    pub(crate) fn finish(self) -> Vec<ToolCall> {
        self.calls
            .into_iter()
            .filter(|c| !c.name.is_empty())
            .map(|mut c| {
                if c.arguments.trim().is_empty() {
                    c.arguments = "{}".to_owned();
                }
                c
            })
            .collect()
    }
}

/// The id of the `i`-th call of an answer whose protocol gives none.
pub(crate) fn made_up_id(i: usize) -> String {
    format!("call_{i}")
}

/// The name of the tool whose call `call_id` is in the conversation (for protocols whose tool
/// results name the function, not the call).
pub(crate) fn name_of_call<'a>(messages: &'a [Message], call_id: &str) -> Option<&'a str> {
    messages.iter().flat_map(|m| &m.parts).find_map(|p| match p {
        Part::ToolCall(c) if c.id == call_id => Some(c.name.as_str()),
        _ => None,
    })
}

/// A call's arguments as the JSON object protocols other than OpenAI's want: parsed when they
/// are an object, else `{}` for nothing and `{"value": ...}` for anything else.
pub(crate) fn arguments_object(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments.trim()) {
        Ok(v @ Value::Object(_)) => v,
        Ok(Value::Null) => json!({}),
        Ok(other) => json!({"value": other}),
        Err(_) if arguments.trim().is_empty() => json!({}),
        Err(_) => json!({"value": arguments}),
    }
}

/// A tool's result as an object (Gemini's `functionResponse.response`): a JSON object as it
/// is, anything else under `output` (the key Gemini documents for a function's output).
pub(crate) fn result_object(content: &str) -> Value {
    match serde_json::from_str::<Value>(content.trim()) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({"output": content}),
    }
}

/// Refuses tools beside a JSON Schema on protocols that carry the schema as a forced tool
/// (Anthropic, GigaChat): the model could not both answer in the schema and call a tool.
pub(crate) fn refuse_beside_schema(provider: &str, req: &crate::ChatRequest) -> crate::Result<()> {
    let schema = matches!(req.output, crate::OutputFormat::Json { schema: Some(_) });
    if schema && !req.tools.is_empty() && req.tool_choice != ToolChoice::None {
        return Err(crate::Error::Unsupported {
            provider: provider.to_owned(),
            detail: "tools together with a JSON Schema for the answer (this protocol carries the schema as a \
                     forced tool); ask for one, or use an OpenAI-compatible or Gemini model"
                .to_owned(),
        });
    }
    Ok(())
}

/// The tool calls among a message's parts.
pub(crate) fn calls_of(parts: &[Part]) -> impl Iterator<Item = &ToolCall> {
    parts.iter().filter_map(|p| if let Part::ToolCall(c) = p { Some(c) } else { None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_are_named_and_take_objects() {
        assert!(Tool::new("get_weather", None, None).is_ok());
        assert_eq!(Tool::new("w", None, None).unwrap().parameters()["type"], "object");
        assert!(Tool::new("", None, None).unwrap_err().starts_with("name:"));
        assert!(Tool::new("get weather", None, None).unwrap_err().starts_with("name:"));
        assert!(Tool::new(&"x".repeat(65), None, None).is_err());
        let e = Tool::new("f", None, Some(json!({"type": "array"}))).unwrap_err();
        assert!(e.starts_with("parameters:"), "{e}");
        let t = Tool::new("f", Some(String::new()), Some(json!({"properties": {"a": {"type": "string"}}}))).unwrap();
        assert_eq!(t.parameters()["type"], "object");
        assert_eq!(t.description(), None);
    }

    #[test]
    fn pieces_assemble_into_calls() {
        let mut calls = Calls::default();
        let d = |index, id: Option<&str>, name: Option<&str>, a: &str| ToolCallDelta {
            index,
            id: id.map(str::to_owned),
            name: name.map(str::to_owned),
            arguments: a.to_owned(),
        };
        calls.add(&d(0, Some("call_a"), Some("f"), ""));
        calls.add(&d(0, None, None, "{\"x\":"));
        calls.add(&d(1, None, Some("g"), ""));
        calls.add(&d(0, None, None, "1}"));
        let out = calls.finish();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], ToolCall { id: "call_a".into(), name: "f".into(), arguments: "{\"x\":1}".into() });
        assert_eq!(out[1], ToolCall { id: "call_1".into(), name: "g".into(), arguments: "{}".into() });
    }

    #[test]
    fn arguments_and_results_become_objects() {
        assert_eq!(arguments_object("{\"a\": 1}"), json!({"a": 1}));
        assert_eq!(arguments_object(""), json!({}));
        assert_eq!(arguments_object("[1]"), json!({"value": [1]}));
        assert_eq!(arguments_object("not json"), json!({"value": "not json"}));
        assert_eq!(result_object("{\"t\": 20}"), json!({"t": 20}));
        assert_eq!(result_object("20 degrees"), json!({"output": "20 degrees"}));
    }
}
