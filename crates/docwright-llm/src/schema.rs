//! The JSON Schema subset docwright uses to describe structured output: `type` (object, array,
//! string, number, integer, boolean, null), `properties`, `required`, `items`, `enum`. Enough to
//! tell a well-formed answer from a malformed one; not a full validator.

use serde_json::Value;

/// `Ok` when `value` satisfies `schema`; otherwise the path and the problem.
pub fn check(schema: &Value, value: &Value) -> Result<(), String> {
    check_at(schema, value, "$")
}

fn check_at(schema: &Value, value: &Value, path: &str) -> Result<(), String> {
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        return Err(format!("{path}: {value} is not one of {}", Value::Array(options.clone())));
    }
    let Some(ty) = schema.get("type").and_then(Value::as_str) else { return Ok(()) };
    let ok = match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => true,
    };
    if !ok {
        return Err(format!("{path}: expected {ty}, found {}", kind(value)));
    }
    if let (Some(obj), "object") = (value.as_object(), ty) {
        for key in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if !obj.contains_key(key) {
                return Err(format!("{path}: missing required field `{key}`"));
            }
        }
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (key, sub) in props {
                if let Some(v) = obj.get(key) {
                    check_at(sub, v, &format!("{path}.{key}"))?;
                }
            }
        }
    }
    if let (Some(items), Some(sub)) = (value.as_array(), schema.get("items")) {
        for (i, v) in items.iter().enumerate() {
            check_at(sub, v, &format!("{path}[{i}]"))?;
        }
    }
    Ok(())
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

    #[test]
    fn checks_types_required_items_and_enums() {
        let schema = json!({
            "type": "object",
            "required": ["rows"],
            "properties": {
                "rows": {"type": "array", "items": {"type": "object", "required": ["date", "chf"],
                    "properties": {"date": {"type": "string"}, "chf": {"type": "number"}, "kind": {"enum": ["food", "travel"]}}}}
            }
        });
        assert_eq!(check(&schema, &json!({"rows": [{"date": "2026-01-01", "chf": 12.5, "kind": "food"}]})), Ok(()));
        let cases = [
            (json!([]), "$: expected object"),
            (json!({}), "missing required field `rows`"),
            (json!({"rows": [{"date": "x"}]}), "$.rows[0]: missing required field `chf`"),
            (json!({"rows": [{"date": 1, "chf": 1}]}), "$.rows[0].date: expected string, found number"),
            (json!({"rows": [{"date": "x", "chf": 1, "kind": "rent"}]}), "is not one of"),
        ];
        for (value, want) in cases {
            let err = check(&schema, &value).unwrap_err();
            assert!(err.contains(want), "{err} should contain {want}");
        }
        assert!(check(&json!({"type": "integer"}), &json!(1.5)).is_err());
        assert_eq!(check(&json!({}), &json!("anything")), Ok(()));
    }
}
