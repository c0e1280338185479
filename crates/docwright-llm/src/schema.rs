//! The JSON Schema subset docwright uses to describe structured output, and its checker.
//!
//! Understood keywords: `type` (one name or an array of names among `object`, `array`,
//! `string`, `number`, `integer`, `boolean`, `null`), `properties`, `required`,
//! `additionalProperties` (`false`, or a schema for the keys `properties` does not name),
//! `items` (one schema for every element), `minItems`, `maxItems`, `enum`, `const` and `anyOf`
//! (at least one branch must match). They apply as JSON Schema says: object keywords to
//! objects, array keywords to arrays, whatever `type` allows. Annotations (`description`,
//! `title`, ...) and keywords outside the subset are not checked, so the check is at most more
//! lenient than a schema, never stricter.
//!
//! The providers enforce schemas their own way (see the crate-private `structured`); this check is what
//! every answer passes before a caller sees it, whichever provider produced it.
//!
//! Problems name the path, what was expected and the *kind* of value found, never the value:
//! answers carry document contents, and errors end up in logs and stat records.

use std::fmt;

use serde_json::{Map, Value};

/// `Ok` when `value` satisfies `schema`; otherwise the path and the problem, e.g.
/// `$.rows[2].chf: expected number, found string`.
pub fn check(schema: &Value, value: &Value) -> Result<(), String> {
    check_at(schema, value, &mut Vec::new()).map_err(|p| p.to_string())
}

/// Whether `schema` allows `null` (an optional property the provider filled with `null` is
/// dropped again only when the caller's schema does not allow it).
pub(crate) fn accepts_null(schema: &Value) -> bool {
    check(schema, &Value::Null).is_ok()
}

/// One step of a path into a value.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

#[derive(Debug)]
struct Problem {
    path: String,
    /// How deep the failure was found (for `anyOf`, the closest branch's): the branch that got
    /// furthest is the one the answer most likely meant.
    depth: usize,
    message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

fn render(path: &[Step]) -> String {
    let mut out = String::from("$");
    for step in path {
        match step {
            Step::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn problem(path: &[Step], message: String) -> Problem {
    Problem { path: render(path), depth: path.len(), message }
}

fn check_at(schema: &Value, value: &Value, path: &mut Vec<Step>) -> Result<(), Problem> {
    let schema = match schema {
        Value::Object(s) => s,
        // Boolean schemas: `true` allows everything, `false` nothing.
        Value::Bool(false) => return Err(problem(path, "no value is allowed here".to_owned())),
        _ => return Ok(()),
    };
    if let Some(c) = schema.get("const")
        && !same(c, value)
    {
        return Err(problem(path, format!("expected the constant {c}, found {}", kind(value))));
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.iter().any(|o| same(o, value))
    {
        return Err(problem(path, format!("the {} is not one of {}", kind(value), Value::Array(options.clone()))));
    }
    let names = type_names(schema);
    if !names.is_empty() && !names.iter().any(|n| is_type(n, value)) {
        return Err(problem(path, format!("expected {}, found {}", names.join(" or "), kind(value))));
    }
    match value {
        Value::Object(obj) => check_object(schema, obj, path)?,
        Value::Array(items) => check_array(schema, items, path)?,
        _ => {}
    }
    if let Some(branches) = schema.get("anyOf").and_then(Value::as_array) {
        let mut closest: Option<Problem> = None;
        for branch in branches {
            match check_at(branch, value, path) {
                Ok(()) => return Ok(()),
                Err(p) => {
                    if closest.as_ref().is_none_or(|c| p.depth > c.depth) {
                        closest = Some(p);
                    }
                }
            }
        }
        if let Some(closest) = closest {
            let n = branches.len();
            return Err(Problem {
                path: render(path),
                depth: closest.depth,
                message: format!("matches none of the {n} alternatives (anyOf); the closest fails at {closest}"),
            });
        }
    }
    Ok(())
}

fn check_object(schema: &Map<String, Value>, obj: &Map<String, Value>, path: &mut Vec<Step>) -> Result<(), Problem> {
    for key in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        if !obj.contains_key(key) {
            return Err(problem(path, format!("missing required field `{key}`")));
        }
    }
    let props = schema.get("properties").and_then(Value::as_object);
    for (key, v) in obj {
        let sub = match props.and_then(|p| p.get(key)) {
            Some(sub) => sub,
            None => match schema.get("additionalProperties") {
                Some(Value::Bool(false)) => {
                    return Err(problem(path, format!("unexpected field `{key}` (additionalProperties is false)")));
                }
                Some(extra @ Value::Object(_)) => extra,
                _ => continue,
            },
        };
        path.push(Step::Key(key.clone()));
        let checked = check_at(sub, v, path);
        path.pop();
        checked?;
    }
    Ok(())
}

fn check_array(schema: &Map<String, Value>, items: &[Value], path: &mut Vec<Step>) -> Result<(), Problem> {
    let n = items.len() as u64;
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
        && n < min
    {
        return Err(problem(path, format!("expected at least {min} items, found {n}")));
    }
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
        && n > max
    {
        return Err(problem(path, format!("expected at most {max} items, found {n}")));
    }
    if let Some(sub) = schema.get("items").filter(|s| !s.is_array()) {
        for (i, v) in items.iter().enumerate() {
            path.push(Step::Index(i));
            let checked = check_at(sub, v, path);
            path.pop();
            checked?;
        }
    }
    Ok(())
}

/// The names in `type`, whether one string or an array of them.
pub(crate) fn type_names(schema: &Map<String, Value>) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn is_type(name: &str, v: &Value) -> bool {
    match name {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        // JSON Schema counts 2.0 as an integer: the value, not its spelling, decides.
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.is_finite() && f.fract() == 0.0),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        // A type name outside the subset is not checked (see the module documentation).
        _ => true,
    }
}

/// JSON equality as JSON Schema defines it for `const` and `enum`: numbers by value (1 = 1.0).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
            (Some(x), Some(y), _, _) => x == y,
            (_, _, Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, a)| y.get(k).is_some_and(|b| same(a, b)))
        }
        _ => a == b,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::schemas::{elements, receipt, receipt_rows};

    /// `(schema, value, None)` must pass; `(schema, value, Some(part))` must fail with a
    /// message containing `part`.
    fn table(cases: &[(Value, Value, Option<&str>)]) {
        for (i, (schema, value, want)) in cases.iter().enumerate() {
            match (check(schema, value), want) {
                (Ok(()), None) => {}
                (Err(e), Some(part)) => assert!(e.contains(part), "case {i}: `{e}` should contain `{part}`"),
                (got, want) => panic!("case {i}: {value} against {schema}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn types_including_type_arrays() {
        let nullable = json!({"type": ["string", "null"]});
        table(&[
            (json!({"type": "integer"}), json!(3), None),
            (json!({"type": "integer"}), json!(3.0), None),
            (json!({"type": "integer"}), json!(1.5), Some("$: expected integer, found number")),
            (json!({"type": "number"}), json!(1.5), None),
            (json!({"type": "string"}), json!(null), Some("expected string, found null")),
            (nullable.clone(), json!("x"), None),
            (nullable.clone(), json!(null), None),
            (nullable, json!(1), Some("expected string or null, found number")),
            (json!({"type": "boolean"}), json!(true), None),
            (json!({"type": "null"}), json!(false), Some("expected null, found boolean")),
            (json!({}), json!({"any": "thing"}), None),
            (json!(true), json!(1), None),
            (json!(false), json!(1), Some("no value is allowed")),
        ]);
    }

    #[test]
    fn objects_required_and_additional_properties() {
        let s = receipt();
        let open = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        let map = json!({"type": "object", "additionalProperties": {"type": "number"}});
        table(&[
            (s.clone(), json!({"shop": "Migros", "items": 3}), None),
            (s.clone(), json!({"shop": "Migros"}), None),
            (s.clone(), json!({"items": 3}), Some("$: missing required field `shop`")),
            (s.clone(), json!({"shop": "Migros", "total": 3}), Some("unexpected field `total`")),
            (s.clone(), json!({"shop": "Migros", "items": "3"}), Some("$.items: expected integer, found string")),
            (s, json!(["Migros"]), Some("$: expected object, found array")),
            (open.clone(), json!({"a": "x", "b": 1}), None),
            (open, json!({"a": 1}), Some("$.a: expected string")),
            (map.clone(), json!({"x": 1, "y": 2.5}), None),
            (map, json!({"x": "1"}), Some("$.x: expected number")),
            // Object keywords without `type` apply to objects only.
            (json!({"required": ["a"]}), json!("not an object"), None),
        ]);
    }

    #[test]
    fn arrays_items_and_bounds() {
        let rows = receipt_rows();
        let row = json!({"date": "2026-01-31", "shop": "Coop", "CHF": 12.5, "VAT": 0.95, "Description": "Lunch"});
        let bounded = json!({"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}});
        table(&[
            (rows.clone(), json!([row.clone(), row.clone()]), None),
            (rows.clone(), json!([]), None),
            (rows.clone(), json!([row, {"date": "x"}]), Some("$[1]: missing required field `shop`")),
            (rows, json!([{"date": "x", "shop": "y", "CHF": "12", "VAT": 1, "Description": ""}]), Some("$[0].CHF")),
            (bounded.clone(), json!(["a"]), None),
            (bounded.clone(), json!([]), Some("expected at least 1 items, found 0")),
            (bounded.clone(), json!(["a", "b", "c"]), Some("expected at most 2 items, found 3")),
            (bounded, json!(["a", 2]), Some("$[1]: expected string, found number")),
        ]);
    }

    #[test]
    fn enum_and_const() {
        table(&[
            (json!({"enum": ["food", "travel"]}), json!("food"), None),
            (
                json!({"enum": ["food", "travel"]}),
                json!("rent"),
                Some("the string is not one of [\"food\",\"travel\"]"),
            ),
            (json!({"enum": [1, 2]}), json!(2.0), None),
            (json!({"const": "heading"}), json!("heading"), None),
            (json!({"const": "heading"}), json!("paragraph"), Some("expected the constant \"heading\"")),
            (json!({"const": {"a": [1]}}), json!({"a": [1.0]}), None),
            (json!({"type": ["string", "null"], "enum": ["a", null]}), json!(null), None),
        ]);
    }

    #[test]
    fn any_of_takes_one_branch_and_names_the_closest() {
        let s = elements();
        let heading = json!({"type": "heading", "level": 1, "text": "Report"});
        let table_el = json!({"type": "table", "columns": [{"name": "CHF", "data_type": "number"}],
                              "rows": [["a", 1.5, null]]});
        let bad_table = json!({"type": "table", "columns": [{"name": "CHF", "data_type": "money"}], "rows": []});
        table(&[
            (s.clone(), json!({"elements": [heading.clone(), table_el.clone()]}), None),
            (s.clone(), json!({"elements": [{"type": "list", "ordered": false, "items": ["a", "b"]}]}), None),
            (s.clone(), json!({"elements": []}), Some("$.elements: expected at least 1 items")),
            (
                s.clone(),
                json!({"elements": [heading.clone(), bad_table]}),
                Some("$.elements[1]: matches none of the 4 alternatives"),
            ),
            (
                s.clone(),
                json!({"elements": [{"type": "table", "columns": [{"name": "CHF", "data_type": "money"}], "rows": []}]}),
                Some("closest fails at $.elements[0].columns[0].data_type: the string is not one of"),
            ),
            (
                s.clone(),
                json!({"elements": [{"type": "paragraph", "text": 3}]}),
                Some("closest fails at $.elements[0].text"),
            ),
            (
                s.clone(),
                json!({"elements": [{"type": "quote", "text": "x"}]}),
                Some("closest fails at $.elements[0].type"),
            ),
            (
                s,
                json!({"elements": [{"type": "table", "columns": [], "rows": [[{"cell": 1}]]}]}),
                Some("$.elements[0].rows[0][0]: expected string or number or null"),
            ),
            (
                json!({"anyOf": [{"type": "string"}, {"type": "number"}]}),
                json!(true),
                Some("$: matches none of the 2 alternatives"),
            ),
        ]);
    }

    #[test]
    fn problems_never_quote_the_answer() {
        let secret = "Patient Müller, diagnosis";
        for schema in [json!({"type": "number"}), json!({"enum": ["a"]}), json!({"const": "a"}), receipt()] {
            let err = check(&schema, &json!(secret)).unwrap_err();
            assert!(!err.contains("Müller"), "{err}");
        }
        let err = check(&receipt(), &json!({"shop": "x", secret: 1})).unwrap_err();
        assert!(err.contains("unexpected field"), "{err}");
    }

    #[test]
    fn null_acceptance() {
        assert!(accepts_null(&json!({"type": ["integer", "null"]})));
        assert!(accepts_null(&json!({"anyOf": [{"type": "integer"}, {"type": "null"}]})));
        assert!(accepts_null(&json!({})));
        assert!(!accepts_null(&json!({"type": "integer"})));
        assert!(!accepts_null(&json!({"enum": ["a"]})));
    }
}
