//! Structured output on each protocol: the caller's JSON Schema in the form each protocol
//! enforces natively, and the provider's answer turned back into what the caller asked for.
//!
//! | protocol | what is sent | what comes back |
//! |---|---|---|
//! | OpenAI-compatible | `response_format: json_schema` with a strict-compatible copy of the schema ([`openai_strict`]), `strict: false` when it cannot be strict; `json_object` or an instruction for servers without it ([`crate::openai::JsonMode`]) | the message content |
//! | Anthropic | a forced tool `respond` whose `input_schema` is the schema ([`object_root`]) | the `tool_use` block's `input` |
//! | Gemini | `responseMimeType: application/json` and `responseJsonSchema` ([`gemini_json_schema`]) | the candidate's text |
//! | GigaChat | a forced function `respond` whose `parameters` are the schema ([`object_root`]) | the `function_call`'s `arguments` |
//!
//! Whatever travelled, [`Answer::finish`] checks the caller's *own* schema on the way back:
//! a schema that had to be wrapped (a non-object root where the protocol wants an object) is
//! unwrapped, and `null`s that only the strict copy allowed are dropped, so callers see what
//! they asked for. The same forced-tool and schema conversions will serve function calling
//! (tools declared by callers) on every protocol.

use serde_json::{Map, Value, json};

use crate::openai::JsonMode;
use crate::schema::{accepts_null, type_names};
use crate::{Error, OutputFormat, Result};

/// The name of the tool (Anthropic) or function (GigaChat) a JSON answer is forced through.
pub(crate) const TOOL_NAME: &str = "respond";

/// What the forced tool or function is for, as the model reads it.
pub(crate) const TOOL_DESCRIPTION: &str =
    "Give your answer by calling this tool: its input is the whole answer, in the schema it declares.";

/// The answer of a forced tool or function that did not call it.
pub(crate) fn not_called(provider: &str) -> Error {
    let detail = format!("the answer did not call `{TOOL_NAME}`, the tool that carries the structured answer");
    Error::InvalidOutput { provider: provider.to_owned(), detail }
}

/// The property a non-object schema is wrapped in where a protocol wants an object.
const WRAP_KEY: &str = "value";

/// What a protocol sends for one request's output format.
#[derive(Debug, Clone, Default)]
pub(crate) struct Structured {
    /// The schema in the protocol's form, when it enforces one.
    pub(crate) wire: Option<Value>,
    /// OpenAI only: whether `wire` satisfies strict mode.
    pub(crate) strict: bool,
    /// OpenAI only: `response_format: json_object` (valid JSON, no schema enforced).
    pub(crate) json_object: bool,
    /// Where the protocol does not enforce the format: the instruction for the system prompt.
    pub(crate) instruction: Option<String>,
    pub(crate) answer: Answer,
}

/// How the provider's answer becomes the caller's: see [`Answer::finish`].
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Answer {
    json: bool,
    /// The caller's schema, checked on return.
    schema: Option<Value>,
    /// The answer is `{"value": <the caller's value>}`.
    wrapped: bool,
    /// The strict schema made optional properties nullable: their `null`s are dropped again.
    drop_added_nulls: bool,
}

impl Answer {
    fn json(schema: Option<&Value>) -> Self {
        Self { json: true, schema: schema.cloned(), ..Self::default() }
    }

    /// Whether the caller asked for JSON.
    pub(crate) fn is_json(&self) -> bool {
        self.json
    }

    /// Whether the provider's text is the caller's text unchanged, so that streamed text can
    /// be passed on as it comes. Otherwise a stream holds its text back and yields the
    /// finished answer as one piece.
    pub(crate) fn passthrough(&self) -> bool {
        !self.wrapped && !self.drop_added_nulls
    }

    /// The caller's content from what the provider produced: for JSON output parsed, unwrapped,
    /// stripped of the `null`s only the strict schema allowed, and checked against the caller's
    /// schema ([`Error::InvalidOutput`], retryable, when it does not parse or match).
    ///
    /// An answer made only of tool `calls` has no content to check: it is the empty text.
    pub(crate) fn finish(&self, provider: &str, raw: String, calls: &[crate::ToolCall]) -> Result<String> {
        if !calls.is_empty() && raw.trim().is_empty() {
            return Ok(String::new());
        }
        if !self.json {
            return Ok(raw);
        }
        let invalid = |detail: String| Error::InvalidOutput { provider: provider.to_owned(), detail };
        let mut value: Value = serde_json::from_str(raw.trim()).map_err(|e| invalid(format!("not JSON: {e}")))?;
        if self.wrapped {
            value = match value {
                Value::Object(mut obj) => obj
                    .remove(WRAP_KEY)
                    .ok_or_else(|| invalid(format!("the answer lacks the `{WRAP_KEY}` it was asked to wrap")))?,
                _ => return Err(invalid(format!("expected an object with `{WRAP_KEY}`"))),
            };
        }
        if let Some(schema) = &self.schema {
            if self.drop_added_nulls {
                drop_added_nulls(schema, &mut value);
            }
            crate::schema::check(schema, &value).map_err(invalid)?;
        }
        Ok(if self.passthrough() { raw } else { value.to_string() })
    }
}

/// For protocols without a JSON mode: the instruction appended to the system prompt. The
/// answer is checked on return like any other.
fn json_instruction(schema: Option<&Value>) -> String {
    match schema {
        Some(s) => format!("Answer with a single JSON value, and nothing else, that satisfies this JSON Schema: {s}"),
        None => "Answer with a single JSON object, and nothing else.".to_owned(),
    }
}

/// Plain text: nothing to send, nothing to check.
fn text() -> Structured {
    Structured::default()
}

/// The format asked for by instruction only (and checked on return).
fn instructed(schema: Option<&Value>) -> Structured {
    Structured { instruction: Some(json_instruction(schema)), answer: Answer::json(schema), ..Structured::default() }
}

/// OpenAI-compatible chat completions (platform.openai.com/docs/guides/structured-outputs):
/// in [`JsonMode::Schema`] a schema goes as `response_format: json_schema`, strict when
/// [`openai_strict`] can make it so; without a schema, and in [`JsonMode::Object`], as
/// `json_object` (which the API accepts only when the messages say "JSON", hence the
/// instruction); in [`JsonMode::Instruction`] only the instruction.
pub(crate) fn openai(output: &OutputFormat, mode: JsonMode) -> Structured {
    let OutputFormat::Json { schema } = output else { return text() };
    match (schema, mode) {
        (_, JsonMode::Instruction) => instructed(schema.as_ref()),
        (None, _) | (Some(_), JsonMode::Object) => Structured { json_object: true, ..instructed(schema.as_ref()) },
        (Some(s), JsonMode::Schema) => {
            // Strict mode wants an object at the root (not anyOf, not an array).
            let (root, wrapped) = object_root(s);
            let answer = Answer { wrapped, ..Answer::json(Some(s)) };
            match openai_strict(&root) {
                Some((strict, added)) => Structured {
                    wire: Some(strict),
                    strict: true,
                    answer: Answer { drop_added_nulls: added, ..answer },
                    ..Structured::default()
                },
                None => Structured { wire: Some(root), answer, ..Structured::default() },
            }
        }
    }
}

/// Anthropic's forced tool and GigaChat's forced function: both want an object schema for the
/// input. Without a schema the instruction asks for an object.
pub(crate) fn forced_tool(output: &OutputFormat) -> Structured {
    match output {
        OutputFormat::Text => text(),
        OutputFormat::Json { schema: None } => instructed(None),
        OutputFormat::Json { schema: Some(s) } => {
            let (root, wrapped) = object_root(s);
            Structured {
                wire: Some(root),
                answer: Answer { wrapped, ..Answer::json(Some(s)) },
                ..Structured::default()
            }
        }
    }
}

/// Gemini: `responseJsonSchema` ([`gemini_json_schema`]) with `responseMimeType`; without a
/// schema, the MIME type alone.
pub(crate) fn gemini(output: &OutputFormat) -> Structured {
    match output {
        OutputFormat::Text => text(),
        OutputFormat::Json { schema } => Structured {
            wire: schema.as_ref().map(gemini_json_schema),
            answer: Answer::json(schema.as_ref()),
            ..Structured::default()
        },
    }
}

/// `schema` itself when its root is an object schema, else `schema` wrapped as the one
/// required property `value` of an object (and `true`).
pub(crate) fn object_root(schema: &Value) -> (Value, bool) {
    if schema.get("type").and_then(Value::as_str) == Some("object") {
        return (schema.clone(), false);
    }
    let wrapped = json!({
        "type": "object",
        "properties": {WRAP_KEY: schema},
        "required": [WRAP_KEY],
        "additionalProperties": false,
    });
    (wrapped, true)
}

/// Keywords OpenAI's strict mode accepts (platform.openai.com/docs/guides/structured-outputs,
/// "Supported schemas": the types with `anyOf`, `enum`, `const`; `pattern` and `format` on
/// strings; `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`, `multipleOf` on
/// numbers; `minItems`, `maxItems` on arrays; annotations). Anything else (`minLength`,
/// `patternProperties`, `oneOf`, `uniqueItems`, ...) makes the schema non-strict.
pub(crate) const STRICT_KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "anyOf",
    "description",
    "title",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
];

/// Annotations strict mode refuses but that constrain nothing: dropped from the copy.
const DROPPED_ANNOTATIONS: &[&str] = &["$schema", "$id", "$comment", "default", "examples"];

/// String formats strict mode knows; other formats (annotations in our subset) are dropped.
const STRICT_FORMATS: &[&str] = &["date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"];

/// A copy of `schema` (an object schema) that OpenAI's strict mode accepts, and whether some
/// optional property was made nullable to get there; `None` when no strict copy means the
/// same thing (a free-form object or map, an untyped value, a keyword strict mode lacks).
///
/// Strict mode wants every object closed (`additionalProperties: false`) with every property
/// in `required`, and every value typed. An optional property becomes required and nullable
/// (`type: [T, "null"]`, or `anyOf` with `{"type": "null"}`): the model answers `null` where it
/// would have left the property out, and [`Answer::finish`] drops those `null`s again.
pub(crate) fn openai_strict(schema: &Value) -> Option<(Value, bool)> {
    let mut added = false;
    let strict = strict_node(schema, &mut added)?;
    Some((strict, added))
}

fn strict_node(schema: &Value, added: &mut bool) -> Option<Value> {
    let node = schema.as_object()?;
    let mut out = Map::new();
    for (key, v) in node {
        if DROPPED_ANNOTATIONS.contains(&key.as_str()) {
            continue;
        }
        if !STRICT_KEYWORDS.contains(&key.as_str()) {
            return None;
        }
        match key.as_str() {
            "format" if !v.as_str().is_some_and(|f| STRICT_FORMATS.contains(&f)) => continue,
            // Lookarounds are outside the regular expressions strict mode compiles.
            "pattern" if v.as_str().is_some_and(|p| ["(?=", "(?!", "(?<=", "(?<!"].iter().any(|t| p.contains(t))) => {
                return None;
            }
            _ => {}
        }
        out.insert(key.clone(), v.clone());
    }
    let mut names: Vec<String> = type_names(node).into_iter().map(str::to_owned).collect();
    if names.is_empty() && !node.contains_key("anyOf") {
        // Strict mode wants a `type` beside `enum` and `const` too ("schema must have a 'type'
        // key"): the one their values have. An untyped value ({} or a description alone)
        // cannot be strict.
        let ty = value_types(node)?;
        names = match &ty {
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            t => t.as_str().map(str::to_owned).into_iter().collect(),
        };
        out.insert("type".into(), ty);
    }
    if let Some(branches) = node.get("anyOf") {
        let strict: Option<Vec<Value>> = branches.as_array()?.iter().map(|b| strict_node(b, added)).collect();
        out.insert("anyOf".into(), Value::Array(strict?));
    }
    if names.iter().any(|n| n == "object") {
        // Without properties, or open to more, it is a free-form object or map: not strict.
        let props = node.get("properties")?.as_object()?;
        if !matches!(node.get("additionalProperties"), None | Some(Value::Bool(false))) {
            return None;
        }
        let required: Vec<&str> =
            node.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        let mut strict_props = Map::new();
        for (key, sub) in props {
            let mut sub = strict_node(sub, added)?;
            if !required.contains(&key.as_str()) && !accepts_null(&sub) {
                sub = nullable(sub);
                *added = true;
            }
            strict_props.insert(key.clone(), sub);
        }
        out.insert("required".into(), Value::Array(props.keys().map(|k| json!(k)).collect()));
        out.insert("properties".into(), Value::Object(strict_props));
        out.insert("additionalProperties".into(), Value::Bool(false));
    } else if node.contains_key("properties") || node.contains_key("required") {
        return None; // Object keywords on a value that is not typed as an object.
    }
    if names.iter().any(|n| n == "array") {
        out.insert("items".into(), strict_node(node.get("items")?, added)?);
    }
    Some(Value::Object(out))
}

/// The `type` the values of `enum` or `const` have: one name, or several for mixed values.
fn value_types(node: &Map<String, Value>) -> Option<Value> {
    let values: Vec<&Value> = match (node.get("const"), node.get("enum").and_then(Value::as_array)) {
        (Some(c), _) => vec![c],
        (None, Some(options)) if !options.is_empty() => options.iter().collect(),
        _ => return None,
    };
    let mut names: Vec<&str> = Vec::new();
    for v in values {
        let name = match v {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if names.contains(&"number") {
        names.retain(|n| *n != "integer");
    }
    Some(match names.as_slice() {
        [one] => json!(one),
        many => json!(many),
    })
}

/// `schema` also allowing `null`: `null` added to `type` (and to `enum`), or, for `anyOf` and
/// `const`, an `anyOf` with `{"type": "null"}`.
fn nullable(schema: Value) -> Value {
    let Value::Object(mut node) = schema else { return schema };
    if let Some(Value::Array(branches)) = node.get_mut("anyOf") {
        branches.push(json!({"type": "null"}));
        return Value::Object(node);
    }
    if !node.contains_key("const") {
        let ty = match node.remove("type") {
            Some(Value::String(t)) => Some(json!([t, "null"])),
            Some(Value::Array(mut ts)) => {
                ts.push(json!("null"));
                Some(Value::Array(ts))
            }
            other => {
                if let Some(other) = other {
                    node.insert("type".into(), other);
                }
                None
            }
        };
        if let Some(ty) = ty {
            node.insert("type".into(), ty);
            if let Some(Value::Array(options)) = node.get_mut("enum") {
                options.push(Value::Null);
            }
            return Value::Object(node);
        }
    }
    // `const`, or `enum` without `type`: the description stays on the outside.
    let mut outer = Map::new();
    if let Some(d) = node.remove("description") {
        outer.insert("description".into(), d);
    }
    outer.insert("anyOf".into(), json!([Value::Object(node), {"type": "null"}]));
    Value::Object(outer)
}

/// Removes, along `schema` (the caller's), the `null`s of optional properties whose schema
/// does not allow `null`: the strict copy made them nullable, the caller's schema wants them
/// absent. In `anyOf`, the first branch the cleaned value then satisfies is the one followed.
pub(crate) fn drop_added_nulls(schema: &Value, value: &mut Value) {
    let Some(node) = schema.as_object() else { return };
    if let Some(branches) = node.get("anyOf").and_then(Value::as_array) {
        for branch in branches {
            let mut cleaned = value.clone();
            drop_added_nulls(branch, &mut cleaned);
            if crate::schema::check(branch, &cleaned).is_ok() {
                *value = cleaned;
                break;
            }
        }
    }
    match value {
        Value::Object(obj) => {
            let Some(props) = node.get("properties").and_then(Value::as_object) else { return };
            let required: Vec<&str> = node
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            obj.retain(|key, v| {
                !(v.is_null() && !required.contains(&key.as_str()) && props.get(key).is_some_and(|s| !accepts_null(s)))
            });
            for (key, v) in obj.iter_mut() {
                if let Some(sub) = props.get(key) {
                    drop_added_nulls(sub, v);
                }
            }
        }
        Value::Array(items) => {
            if let Some(sub) = node.get("items").filter(|s| s.is_object()) {
                for v in items {
                    drop_added_nulls(sub, v);
                }
            }
        }
        _ => {}
    }
}

/// Keywords `responseJsonSchema` accepts (ai.google.dev/api/generate-content, GenerationConfig:
/// "only the following properties are supported: $id, $defs, $ref, $anchor, type, format,
/// title, description, enum (for strings and numbers), items, prefixItems, minItems,
/// maxItems, minimum, maximum, anyOf, oneOf (interpreted the same as anyOf), properties,
/// additionalProperties, required", and the non-standard `propertyOrdering`).
pub(crate) const GEMINI_KEYWORDS: &[&str] = &[
    "$id",
    "$defs",
    "$ref",
    "$anchor",
    "type",
    "format",
    "title",
    "description",
    "enum",
    "items",
    "prefixItems",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    "anyOf",
    "oneOf",
    "properties",
    "additionalProperties",
    "required",
    "propertyOrdering",
];

/// Keywords that apply to one type only: the branch of that type carries them when a type
/// array becomes an `anyOf`.
const OWN_KEYWORDS: &[(&str, &[&str])] = &[
    ("object", &["properties", "required", "additionalProperties", "propertyOrdering"]),
    ("array", &["items", "prefixItems", "minItems", "maxItems"]),
    ("number", &["minimum", "maximum", "enum", "format"]),
    ("integer", &["minimum", "maximum", "enum", "format"]),
    ("string", &["enum", "format"]),
];

/// The caller's schema as Gemini's `responseJsonSchema` takes it.
///
/// Why `responseJsonSchema` and not `responseSchema`: the reference documents it for the
/// current models as "an alternative to responseSchema that accepts JSON Schema", and Google's
/// announcement of November 2025 ("Improving Structured Outputs in the Gemini API") extends it
/// to all actively supported Gemini models with `anyOf`, `additionalProperties` and
/// `type: 'null'` — our subset — where `responseSchema` (an OpenAPI 3.0 `Schema` object) has no
/// `additionalProperties`, no type arrays and no `const`. Only the documented keywords are
/// sent: a type array becomes an `anyOf` of single types (the announced form of nullable
/// values), `const` becomes an `enum` of one, and `enum` is kept only when its values are
/// strings or numbers. What is dropped is still checked on return.
pub(crate) fn gemini_json_schema(schema: &Value) -> Value {
    let Some(node) = schema.as_object() else { return schema.clone() };
    let mut out = Map::new();
    for (key, v) in node {
        let v = match key.as_str() {
            "properties" | "$defs" => match v.as_object() {
                Some(props) => Value::Object(props.iter().map(|(k, s)| (k.clone(), gemini_json_schema(s))).collect()),
                None => continue,
            },
            "items" | "additionalProperties" if v.is_object() => gemini_json_schema(v),
            "anyOf" | "oneOf" | "prefixItems" => match v.as_array() {
                Some(branches) => Value::Array(branches.iter().map(gemini_json_schema).collect()),
                None => continue,
            },
            "enum" if !v.as_array().is_some_and(|o| o.iter().all(|x| x.is_string() || x.is_number())) => continue,
            "const" if v.is_string() || v.is_number() => {
                out.insert("enum".into(), json!([v]));
                continue;
            }
            k if GEMINI_KEYWORDS.contains(&k) => v.clone(),
            _ => continue,
        };
        out.insert(key.clone(), v);
    }
    if out.contains_key("enum") && !out.contains_key("type") {
        // The documented form of an enum is typed ({type: STRING, enum: [...]}).
        if let Some(ty) = value_types(&out) {
            out.insert("type".into(), ty);
        }
    }
    if let Some(Value::Array(types)) = out.get("type").cloned() {
        // Each branch carries the keywords of its own type; the rest stay on the outside.
        out.remove("type");
        let mut branches = Vec::new();
        for t in types.iter().filter_map(Value::as_str) {
            let mut branch = Map::new();
            branch.insert("type".into(), json!(t));
            let own = OWN_KEYWORDS.iter().find(|(ty, _)| *ty == t).map_or(&[][..], |(_, own)| *own);
            for k in own {
                if let Some(v) = out.get(*k) {
                    branch.insert((*k).into(), v.clone());
                }
            }
            if let Some(Value::Array(options)) = branch.get_mut("enum") {
                options.retain(|o| if t == "string" { o.is_string() } else { o.is_number() });
            }
            branches.push(Value::Object(branch));
        }
        for k in OWN_KEYWORDS.iter().flat_map(|(_, own)| own.iter()) {
            out.remove(*k);
        }
        out.insert("anyOf".into(), Value::Array(branches));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::schema::check;
    use crate::testing::schemas::{elements, receipt, receipt_rows};

    fn strict(schema: &Value) -> (Value, bool) {
        openai_strict(&object_root(schema).0).expect("strict-compatible")
    }

    #[test]
    fn optional_properties_become_required_and_nullable() {
        let (s, added) = strict(&receipt());
        assert!(added);
        assert_eq!(s["required"], json!(["shop", "items"]));
        assert_eq!(s["additionalProperties"], false);
        assert_eq!(s["properties"]["shop"], json!({"type": "string"}));
        assert_eq!(s["properties"]["items"], json!({"type": ["integer", "null"]}));
    }

    #[test]
    fn nullable_forms() {
        assert_eq!(nullable(json!({"type": ["string", "number"]})), json!({"type": ["string", "number", "null"]}));
        assert_eq!(
            nullable(json!({"type": "string", "enum": ["a"]})),
            json!({"type": ["string", "null"], "enum": ["a", null]})
        );
        assert_eq!(
            nullable(json!({"anyOf": [{"type": "string"}]})),
            json!({"anyOf": [{"type": "string"}, {"type": "null"}]})
        );
        assert_eq!(
            nullable(json!({"const": "x", "description": "d"})),
            json!({"description": "d", "anyOf": [{"const": "x"}, {"type": "null"}]})
        );
        for s in [
            json!({"type": "string"}),
            json!({"const": 1}),
            json!({"enum": ["a", "b"]}),
            json!({"anyOf": [{"type": "object", "properties": {}}]}),
        ] {
            assert!(accepts_null(&nullable(s.clone())), "{s}");
        }
    }

    #[test]
    fn the_pipeline_shapes_are_strict_compatible() {
        // Rows: an array root is wrapped; every row was fully required already.
        let (rows, added) = strict(&receipt_rows());
        assert!(!added);
        assert_eq!(rows["required"], json!(["value"]));
        assert_eq!(rows["properties"]["value"]["items"]["additionalProperties"], false);
        // Elements: every anyOf branch closed and fully required.
        let (el, added) = strict(&elements());
        assert!(!added);
        let branches = el["properties"]["elements"]["items"]["anyOf"].as_array().unwrap();
        assert_eq!(branches.len(), 4);
        assert!(branches.iter().all(|b| b["additionalProperties"] == false));
        assert_eq!(el["properties"]["elements"]["minItems"], 1);
        // `const` and `enum` get the type of their values, which strict mode wants.
        assert_eq!(branches[0]["properties"]["type"], json!({"const": "heading", "type": "string"}));
        let data_type = &branches[3]["properties"]["columns"]["items"]["properties"]["data_type"];
        assert_eq!(data_type["type"], "string");
    }

    #[test]
    fn enum_and_const_values_give_the_type() {
        let typed = |s: Value| strict_node(&s, &mut false).unwrap()["type"].clone();
        assert_eq!(typed(json!({"enum": [1, 2]})), json!("integer"));
        assert_eq!(typed(json!({"enum": [1, 2.5]})), json!("number"));
        assert_eq!(typed(json!({"enum": ["a", null]})), json!(["string", "null"]));
        assert_eq!(typed(json!({"const": true})), json!("boolean"));
        // An optional enum becomes nullable with null among its values.
        let (s, _) = strict(&json!({"type": "object", "properties": {"unit": {"enum": ["C", "F"]}}}));
        assert_eq!(s["properties"]["unit"], json!({"enum": ["C", "F", null], "type": ["string", "null"]}));
    }

    #[test]
    fn what_cannot_be_strict_is_sent_as_is() {
        for s in [
            json!({"type": "object"}),
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": true}),
            json!({"type": "object", "properties": {"m": {"type": "object", "additionalProperties": {"type": "number"}}}}),
            json!({"type": "object", "properties": {"a": {}}}),
            json!({"type": "object", "properties": {"a": {"type": "string", "minLength": 2}}}),
            json!({"type": "object", "properties": {"a": {"oneOf": [{"type": "string"}]}}}),
            json!({"type": "object", "properties": {"a": {"type": "array"}}}),
        ] {
            assert_eq!(openai_strict(&s), None, "{s}");
        }
        let st = openai(&OutputFormat::Json { schema: Some(json!({"type": "object"})) }, JsonMode::Schema);
        assert_eq!((st.wire, st.strict), (Some(json!({"type": "object"})), false));
        // Annotations strict mode refuses are dropped, not fatal.
        let (s, _) = strict(&json!({"$schema": "x", "type": "object", "default": {}, "properties": {
            "d": {"type": "string", "format": "date"}, "n": {"type": "string", "format": "nickname"}}}));
        assert_eq!(s.get("$schema"), None);
        assert_eq!(s["properties"]["d"]["format"], "date");
        assert_eq!(s["properties"]["n"].get("format"), None);
    }

    #[test]
    fn answers_come_back_in_the_callers_shape() {
        let st = openai(&OutputFormat::Json { schema: Some(receipt()) }, JsonMode::Schema);
        assert!(st.strict && !st.answer.passthrough());
        let done = st.answer.finish("p", r#"{"shop": "Coop", "items": null}"#.into(), &[]).unwrap();
        assert_eq!(done, r#"{"shop":"Coop"}"#);
        let done = st.answer.finish("p", r#"{"shop": "Coop", "items": 2}"#.into(), &[]).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&done).unwrap(), json!({"shop": "Coop", "items": 2}));
        // A null where the caller's schema allows one stays (and nothing needs rewriting).
        let own = json!({"type": "object", "properties": {"n": {"type": ["integer", "null"]}}});
        let st = openai(&OutputFormat::Json { schema: Some(own) }, JsonMode::Schema);
        assert!(st.answer.passthrough());
        assert_eq!(st.answer.finish("p", r#"{"n": null}"#.into(), &[]).unwrap(), r#"{"n": null}"#);
        // Wrapped roots are unwrapped.
        let st = forced_tool(&OutputFormat::Json { schema: Some(receipt_rows()) });
        assert_eq!(st.answer.finish("p", r#"{"value": []}"#.into(), &[]).unwrap(), "[]");
        let err = st.answer.finish("p", r#"[]"#.into(), &[]).unwrap_err();
        assert!(matches!(err, Error::InvalidOutput { .. }) && err.is_retryable(), "{err}");
        let err = st.answer.finish("p", "Sure! Here you go".into(), &[]).unwrap_err();
        assert!(err.to_string().contains("not JSON"), "{err}");
        // Untransformed answers come back byte for byte.
        let st = forced_tool(&OutputFormat::Json { schema: Some(receipt()) });
        assert!(st.answer.passthrough());
        assert_eq!(st.answer.finish("p", "{\"shop\": \"x\"}".into(), &[]).unwrap(), "{\"shop\": \"x\"}");
    }

    #[test]
    fn nulls_are_dropped_along_any_of_branches_and_items() {
        let s = json!({"type": "array", "items": {"anyOf": [
            {"type": "object", "required": ["kind"], "properties": {"kind": {"const": "a"}, "x": {"type": "integer"}}},
            {"type": "object", "required": ["kind"], "properties": {"kind": {"const": "b"}, "y": {"type": "string"}}}]}});
        let (strict_copy, added) = strict(&s);
        assert!(added);
        let mut v = json!([{"kind": "a", "x": null}, {"kind": "b", "y": null}, {"kind": "b", "y": "ok"}]);
        assert!(check(&strict_copy["properties"]["value"], &v).is_ok());
        drop_added_nulls(&s, &mut v);
        assert_eq!(v, json!([{"kind": "a"}, {"kind": "b"}, {"kind": "b", "y": "ok"}]));
        assert!(check(&s, &v).is_ok());
    }

    #[test]
    fn modes_without_json_schema_instruct() {
        let out = OutputFormat::Json { schema: Some(receipt()) };
        let st = openai(&out, JsonMode::Object);
        assert!(st.wire.is_none() && st.json_object);
        assert!(st.instruction.unwrap().contains("\"required\":[\"shop\"]"));
        let st = openai(&out, JsonMode::Instruction);
        assert!(st.wire.is_none() && !st.json_object && st.instruction.is_some());
        let st = openai(&OutputFormat::Json { schema: None }, JsonMode::Schema);
        assert!(st.wire.is_none() && st.instruction.unwrap().contains("JSON"));
        assert!(openai(&OutputFormat::Text, JsonMode::Schema).instruction.is_none());
    }

    #[test]
    fn gemini_gets_only_documented_keywords() {
        let g = gemini_json_schema(&elements());
        let heading = &g["properties"]["elements"]["items"]["anyOf"][0];
        assert_eq!(heading["properties"]["type"], json!({"enum": ["heading"], "type": "string"}));
        assert_eq!(heading["additionalProperties"], false);
        let cell = &g["properties"]["elements"]["items"]["anyOf"][3]["properties"]["rows"]["items"]["items"];
        assert_eq!(cell, &json!({"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "null"}]}));
        let g = gemini_json_schema(
            &json!({"type": ["string", "null"], "enum": ["a", null], "minLength": 1, "const": true}),
        );
        assert_eq!(g, json!({"anyOf": [{"type": "string"}, {"type": "null"}]}));
        let g = gemini_json_schema(
            &json!({"type": ["array", "null"], "items": {"type": "integer"}, "minItems": 1, "description": "d"}),
        );
        assert_eq!(
            g,
            json!({"description": "d", "anyOf": [{"type": "array", "items": {"type": "integer"}, "minItems": 1}, {"type": "null"}]})
        );
        fn keys_ok(v: &Value) -> bool {
            match v {
                Value::Object(o) => o.iter().all(|(k, v)| {
                    let nested = matches!(k.as_str(), "properties" | "$defs");
                    (nested || GEMINI_KEYWORDS.contains(&k.as_str()))
                        && if nested { v.as_object().is_some_and(|m| m.values().all(keys_ok)) } else { keys_ok(v) }
                }),
                Value::Array(a) => a.iter().all(keys_ok),
                _ => true,
            }
        }
        for s in [receipt(), receipt_rows(), elements()] {
            assert!(keys_ok(&gemini_json_schema(&s)), "{s}");
        }
    }

    #[test]
    fn object_roots_are_kept_and_others_wrapped() {
        assert_eq!(object_root(&receipt()), (receipt(), false));
        let (w, wrapped) = object_root(&json!({"anyOf": [{"type": "string"}, {"type": "null"}]}));
        assert!(wrapped);
        assert_eq!(w["required"], json!(["value"]));
        assert!(check(&w, &json!({"value": null})).is_ok());
    }
}
