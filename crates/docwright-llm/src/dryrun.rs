//! `dryrun`: a provider with no network (GigaOffice's dry-run mode). Answers are deterministic
//! functions of the request, in the requested shape — JSON that satisfies the schema for JSON
//! requests, plain text otherwise — so every pipeline runs end to end offline and in tests.
//!
//! A JSON answer is an instance of the schema built along the subset of [`crate::schema`]:
//! `const` and the first `enum` value that fits; for `anyOf` the first branch whose instance
//! satisfies the whole schema; for a type array the first type that is not `null`; objects
//! with every property (required or not, and required keys that `properties` does not
//! describe); arrays of `minItems` elements (at least one, unless `maxItems` is 0). Strings,
//! numbers and booleans vary with a digest of the request.
//!
//! With tools, the answer is a call of the named tool (`tool_choice` a function) or of the
//! first one, with arguments built from its parameters the same way, unless the choice is
//! `none` or (with `auto`) the last message already holds a tool's result: then the answer is
//! text that quotes that result. A stream gives a call as one piece.

use futures_util::stream;
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use crate::{
    ApiKey, ChatRequest, ChatResponse, ChatStream, EmbedRequest, EmbedResponse, OutputFormat, Part, Provider, Result,
    Role, StreamEvent, ToolCall, ToolCallDelta, ToolChoice, Usage, estimate_tokens, schema,
};

/// The dryrun provider.
#[derive(Debug, Clone)]
pub struct DryRun {
    name: String,
}

impl DryRun {
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }

    /// The answer `req` gets, always the same for the same request.
    pub fn answer(&self, req: &ChatRequest) -> ChatResponse {
        let input: String = req
            .messages
            .iter()
            .flat_map(|m| &m.parts)
            .map(|p| match p {
                Part::Text(t) => t.clone(),
                Part::Image { mime_type, data } => format!("[image {mime_type} {} bytes]", data.len()),
                Part::ToolCall(c) => format!("[call {} {}]", c.name, c.arguments),
                Part::ToolResult { content, .. } => content.clone(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        let seed = Sha256::digest(format!("{}\u{0}{input}", req.model).as_bytes());
        let last_result = req.messages.iter().rev().find(|m| m.role != Role::System).and_then(|m| {
            m.parts
                .iter()
                .find_map(|p| if let Part::ToolResult { content, .. } = p { Some(content.as_str()) } else { None })
        });
        if let Some(call) = tool_call(req, last_result.is_some(), &seed) {
            let arguments_tokens = estimate_tokens(&call.arguments);
            return ChatResponse {
                usage: Usage {
                    input_tokens: estimate_tokens(&input),
                    output_tokens: arguments_tokens,
                    estimated: false,
                },
                model: req.model.clone(),
                finish_reason: Some("tool_calls".to_owned()),
                bytes_sent: 0,
                bytes_received: 0,
                content: String::new(),
                tool_calls: vec![call],
            };
        }
        let last_user = last_result
            .or_else(|| {
                req.messages.iter().rev().find(|m| m.role == Role::User).and_then(|m| {
                    m.parts.iter().find_map(|p| if let Part::Text(t) = p { Some(t.as_str()) } else { None })
                })
            })
            .unwrap_or("");
        let mut content = match &req.output {
            OutputFormat::Text => text_answer(last_user, &seed),
            OutputFormat::Json { schema } => {
                let value = match schema {
                    Some(s) => value_for(s, &seed),
                    None => json!({"answer": text_answer(last_user, &seed), "model": req.model}),
                };
                value.to_string()
            }
        };
        if let (Some(max), OutputFormat::Text) = (req.max_output_tokens, &req.output) {
            let limit = (max as usize).saturating_mul(4);
            if content.len() > limit {
                let cut = (0..=limit).rev().find(|i| content.is_char_boundary(*i)).unwrap_or(0);
                content.truncate(cut);
            }
        }
        ChatResponse {
            usage: Usage {
                input_tokens: estimate_tokens(&input),
                output_tokens: estimate_tokens(&content),
                estimated: false,
            },
            model: req.model.clone(),
            finish_reason: Some("stop".to_owned()),
            bytes_sent: 0,
            bytes_received: 0,
            content,
            tool_calls: Vec::new(),
        }
    }
}

/// The call a request with tools gets, if any (see the module's description).
fn tool_call(req: &ChatRequest, answered: bool, seed: &[u8]) -> Option<ToolCall> {
    let tool = match &req.tool_choice {
        ToolChoice::None => return None,
        ToolChoice::Auto if answered => return None,
        ToolChoice::Function(name) => req.tools.iter().find(|t| t.name() == name),
        ToolChoice::Auto | ToolChoice::Required => req.tools.first(),
    }?;
    let arguments = value_for(tool.parameters(), seed).to_string();
    Some(ToolCall {
        id: format!("call_{:02x}{:02x}{:02x}{:02x}", seed[0], seed[1], seed[2], seed[3]),
        name: tool.name().to_owned(),
        arguments,
    })
}

/// A short, plausible answer that quotes the request, so tests can see what was asked.
fn text_answer(question: &str, seed: &[u8]) -> String {
    let quoted: String = question.chars().take(160).collect();
    let words = question.split_whitespace().count();
    format!(
        "[dryrun {:02x}{:02x}] This is a simulated answer to a request of {words} words: \"{quoted}\". \
         No AI provider was called.",
        seed[0], seed[1]
    )
}

/// Bound on the values of one JSON answer: a schema asking for more (a hostile `minItems`) gets
/// a shorter answer that does not satisfy it, instead of exhausting memory.
const MAX_VALUES: usize = 100_000;

/// A value satisfying `schema` (the subset in [`crate::schema`]), varied by `seed`.
fn value_for(schema: &Value, seed: &[u8]) -> Value {
    Instance { seed, made: 0 }.of(schema, "value")
}

/// Builds one instance, counting the values made.
struct Instance<'a> {
    seed: &'a [u8],
    made: usize,
}

impl Instance<'_> {
    fn of(&mut self, schema: &Value, name: &str) -> Value {
        self.made += 1;
        let byte = self.seed[self.made % self.seed.len()];
        let node = match schema {
            Value::Object(node) => node,
            // `false` allows nothing; `null` is as good an answer as any.
            Value::Bool(false) => return Value::Null,
            _ => return json!(format!("{name} {byte:02x}")),
        };
        if let Some(c) = node.get("const") {
            return c.clone();
        }
        if let Some(options) = node.get("enum").and_then(Value::as_array).filter(|o| !o.is_empty()) {
            let fits = options.iter().find(|o| schema::check(schema, o).is_ok());
            return fits.unwrap_or(&options[0]).clone();
        }
        if let Some(branches) = node.get("anyOf").and_then(Value::as_array) {
            let mut first = None;
            for branch in branches {
                let v = self.of(branch, name);
                if schema::check(schema, &v).is_ok() {
                    return v;
                }
                first.get_or_insert(v);
            }
            if let Some(v) = first.filter(|_| !node.contains_key("type")) {
                return v;
            }
        }
        let names = schema::type_names(node);
        let inferred = if node.contains_key("properties") || node.contains_key("required") {
            "object"
        } else if node.contains_key("items") {
            "array"
        } else {
            "string"
        };
        let ty = names.iter().copied().find(|n| *n != "null").or(names.first().copied()).unwrap_or(inferred);
        match ty {
            "object" => {
                let mut obj = Map::new();
                for (key, sub) in node.get("properties").and_then(Value::as_object).into_iter().flatten() {
                    let v = self.of(sub, key);
                    obj.insert(key.clone(), v);
                }
                let extra = node.get("additionalProperties").filter(|a| a.is_object()).cloned().unwrap_or(json!({}));
                for key in
                    node.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
                {
                    if !obj.contains_key(key) {
                        let v = self.of(&extra, key);
                        obj.insert(key.to_owned(), v);
                    }
                }
                Value::Object(obj)
            }
            "array" => {
                let min = node.get("minItems").and_then(Value::as_u64).unwrap_or(0);
                let max = node.get("maxItems").and_then(Value::as_u64).unwrap_or(u64::MAX);
                let items = node.get("items").filter(|i| !i.is_array()).cloned().unwrap_or(json!({}));
                let mut out = Vec::new();
                while (out.len() as u64) < min.max(1).min(max) && self.made < MAX_VALUES {
                    out.push(self.of(&items, name));
                }
                Value::Array(out)
            }
            "integer" => json!(i64::from(byte)),
            "number" => json!(f64::from(byte) + 0.5),
            "boolean" => json!(byte.is_multiple_of(2)),
            "null" => Value::Null,
            _ => json!(format!("{name} {byte:02x}")),
        }
    }
}

impl Provider for DryRun {
    fn name(&self) -> &str {
        &self.name
    }

    async fn chat(&self, req: &ChatRequest, _key: Option<&ApiKey>) -> Result<ChatResponse> {
        Ok(self.answer(req))
    }

    async fn chat_stream(&self, req: &ChatRequest, _key: Option<&ApiKey>) -> Result<ChatStream> {
        let done = self.answer(req);
        // Tokens as a real stream would carry them: words with their leading space.
        let mut events: Vec<Result<StreamEvent>> = Vec::new();
        for (index, c) in done.tool_calls.iter().enumerate() {
            events.push(Ok(StreamEvent::ToolCall(ToolCallDelta {
                index,
                id: Some(c.id.clone()),
                name: Some(c.name.clone()),
                arguments: c.arguments.clone(),
            })));
        }
        let mut start = 0;
        for (i, c) in done.content.char_indices() {
            if c == ' ' && i > start {
                events.push(Ok(StreamEvent::Delta(done.content[start..i].to_owned())));
                start = i;
            }
        }
        if start < done.content.len() {
            events.push(Ok(StreamEvent::Delta(done.content[start..].to_owned())));
        }
        events.push(Ok(StreamEvent::Done(done)));
        Ok(Box::pin(stream::iter(events)))
    }

    /// [`crate::embed::hashed`] vectors; a token per four bytes of input.
    async fn embed(&self, req: &EmbedRequest, _key: Option<&ApiKey>) -> Result<EmbedResponse> {
        Ok(EmbedResponse {
            vectors: req.inputs.iter().map(|t| crate::embed::hashed(t)).collect(),
            model: req.model.clone(),
            usage: Usage {
                input_tokens: req.inputs.iter().map(|t| estimate_tokens(t)).sum(),
                output_tokens: 0,
                estimated: false,
            },
            bytes_sent: 0,
            bytes_received: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt as _;

    use super::*;
    use crate::Message;

    fn req(output: OutputFormat) -> ChatRequest {
        ChatRequest {
            model: "dry".into(),
            messages: vec![Message::text(Role::System, "be brief"), Message::text(Role::User, "Summarise the memo")],
            output,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn text_is_deterministic_and_quotes_the_request() {
        let p = DryRun::new("dryrun");
        let a = p.chat(&req(OutputFormat::Text), None).await.unwrap();
        let b = p.chat(&req(OutputFormat::Text), None).await.unwrap();
        assert_eq!(a, b);
        assert!(a.content.contains("Summarise the memo"));
        assert!(a.usage.input_tokens > 0 && a.usage.output_tokens > 0);
    }

    #[tokio::test]
    async fn json_requests_get_json_of_the_schema() {
        let schema = serde_json::json!({"type": "object", "required": ["rows"], "properties": {
            "rows": {"type": "array", "items": {"type": "object", "properties": {
                "date": {"type": "string"}, "chf": {"type": "number"}, "vat": {"type": "integer"}, "kind": {"enum": ["a", "b"]}}}}}});
        let r =
            DryRun::new("dryrun").chat(&req(OutputFormat::Json { schema: Some(schema.clone()) }), None).await.unwrap();
        let v: Value = serde_json::from_str(&r.content).unwrap();
        assert_eq!(schema::check(&schema, &v), Ok(()));
        assert_eq!(v["rows"][0]["kind"], "a");
        let r = DryRun::new("dryrun").chat(&req(OutputFormat::Json { schema: None }), None).await.unwrap();
        assert!(serde_json::from_str::<Value>(&r.content).unwrap().is_object());
    }

    #[tokio::test]
    async fn streams_reassemble_to_the_answer() {
        let p = DryRun::new("dryrun");
        let mut s = p.chat_stream(&req(OutputFormat::Text), None).await.unwrap();
        let mut text = String::new();
        let mut done = None;
        while let Some(ev) = s.next().await {
            match ev.unwrap() {
                StreamEvent::Delta(t) => text.push_str(&t),
                StreamEvent::Done(r) => done = Some(r),
                StreamEvent::ToolCall(c) => panic!("a tool call without tools: {c:?}"),
            }
        }
        let done = done.unwrap();
        assert_eq!(text, done.content);
        assert_eq!(done, p.chat(&req(OutputFormat::Text), None).await.unwrap());
    }

    #[test]
    fn max_output_tokens_bounds_text() {
        let mut r = req(OutputFormat::Text);
        r.max_output_tokens = Some(5);
        let out = DryRun::new("d").answer(&r);
        assert!(out.content.len() <= 20);
    }

    #[test]
    fn the_pipeline_shapes_get_valid_instances() {
        use crate::testing::schemas::{elements, receipt, receipt_rows};
        for s in [receipt(), receipt_rows(), elements()] {
            let v = value_for(&s, b"seed");
            assert_eq!(schema::check(&s, &v), Ok(()), "{v} for {s}");
        }
        // Required keys are present; the first anyOf branch whose instance fits is taken.
        let v = value_for(&receipt(), b"seed");
        assert!(v["shop"].is_string());
        let v = value_for(&elements(), b"seed");
        assert_eq!(v["elements"][0]["type"], "heading");
        let v = value_for(
            &serde_json::json!({"anyOf": [{"type": "string", "enum": []}, {"type": "integer"}], "type": "integer"}),
            b"s",
        );
        assert!(v.is_i64(), "{v}");
        // Type arrays take the first type that is not null; minItems is honoured.
        let v = value_for(
            &serde_json::json!({"type": ["null", "array"], "minItems": 3, "items": {"type": "boolean"}}),
            b"s",
        );
        assert_eq!(v.as_array().map(Vec::len), Some(3));
        assert_eq!(value_for(&serde_json::json!({"type": "array", "maxItems": 0}), b"s"), serde_json::json!([]));
    }

    #[test]
    fn hostile_sizes_are_bounded() {
        let s = serde_json::json!({"type": "array", "minItems": 1_000_000_000u64, "items": {"type": "array", "minItems": 1_000_000u64}});
        let v = value_for(&s, b"seed");
        let total: usize = v.as_array().unwrap().iter().map(|a| a.as_array().unwrap().len() + 1).sum();
        assert!(total <= MAX_VALUES + 1, "{total}");
    }

    /// Schemas of the subset that some value satisfies: every `required` key is a property,
    /// `minItems <= maxItems`, each `anyOf` branch satisfiable on its own.
    fn schemas() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        use serde_json::json;
        let scalar = prop_oneof![Just("string"), Just("integer"), Just("number"), Just("boolean"), Just("null")];
        let leaf = prop_oneof![
            scalar.clone().prop_map(|t| json!({"type": t})),
            scalar.prop_map(|t| json!({"type": [t, "null"], "description": "nullable"})),
            proptest::collection::vec("[a-z]{1,6}", 1..4).prop_map(|o| json!({"enum": o})),
            prop_oneof![Just(json!("x")), Just(json!(3)), Just(json!(true)), Just(json!(null))]
                .prop_map(|c| json!({"const": c})),
            Just(json!({})),
        ];
        leaf.prop_recursive(4, 48, 5, |inner| {
            prop_oneof![
                (proptest::collection::btree_map("[a-z]{1,5}", inner.clone(), 0..5), any::<u8>(), any::<bool>())
                    .prop_map(|(props, mask, closed)| {
                        let required: Vec<&String> = props
                            .keys()
                            .enumerate()
                            .filter(|(i, _)| mask & (1 << (i % 8)) != 0)
                            .map(|(_, k)| k)
                            .collect();
                        let mut s = json!({"type": "object", "properties": props, "required": required});
                        if closed {
                            s["additionalProperties"] = json!(false);
                        }
                        s
                    }),
                (inner.clone(), 0u64..3, proptest::option::of(0u64..3)).prop_map(|(items, min, extra)| {
                    let mut s = json!({"type": "array", "items": items, "minItems": min});
                    if let Some(extra) = extra {
                        s["maxItems"] = json!(min + extra);
                    }
                    s
                }),
                proptest::collection::vec(inner, 1..4).prop_map(|branches| json!({"anyOf": branches})),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn every_generated_schema_gets_an_instance_that_passes_the_check(schema in schemas(), seed in proptest::prelude::any::<[u8; 4]>()) {
            let v = value_for(&schema, &seed);
            proptest::prop_assert_eq!(crate::schema::check(&schema, &v), Ok(()), "{} for {}", v, schema);
            // Deterministic: the same request gets the same instance.
            proptest::prop_assert_eq!(value_for(&schema, &seed), v);
        }
    }
}
