//! The JSON Schema of every AI call of the pipeline.
//!
//! Each is written so that providers with strict structured output accept it as it is: every
//! object lists all its properties in `required` and forbids others, and a value that may be
//! absent is nullable instead of optional. Keys are the seed's, in snake_case.

use serde_json::{Value, json};

/// Output formats a structure may name (the renderer's formats).
pub const FORMATS: [&str; 9] = ["docx", "pdf", "xlsx", "csv", "pptx", "html", "md", "json", "txt"];

/// The data types of a structured-extraction field and a table column.
pub const DATA_TYPES: [&str; 8] = ["string", "number", "integer", "currency", "percent", "date", "datetime", "boolean"];

fn object(properties: Value) -> Value {
    let required: Vec<Value> =
        properties.as_object().map(|p| p.keys().map(|k| Value::String(k.clone())).collect()).unwrap_or_default();
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

fn nullable(ty: &str) -> Value {
    json!({"type": [ty, "null"]})
}

fn strings() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

/// Phase 1: input analysis.
pub fn input_analysis() -> Value {
    object(json!({
        "detected_language": {"type": "string", "description": "ISO 639-1 code of the request's language"},
        "normalized_request": {"type": "string", "description": "the request rewritten in full, without the bulky data moved to context_items"},
        "intent": {"type": "string", "description": "the core request in a few words"},
        "context_items": {"type": "array", "items": object(json!({
            "title": {"type": "string"},
            "content": {"type": "string"},
        }))},
        "complexity": {"type": "string", "enum": ["simple", "moderate", "complex"]},
        "needs_workflow_history": {"type": "boolean"},
        "fast_track": {"type": "boolean"},
    }))
}

/// The fast track: a direct answer.
pub fn direct_answer() -> Value {
    object(json!({
        "title": {"type": "string"},
        "answer": {"type": "string", "description": "the complete answer; paragraphs separated by blank lines"},
    }))
}

/// Phase 2: tasks.
pub fn task_plan() -> Value {
    object(json!({
        "tasks": {"type": "array", "minItems": 1, "items": object(json!({
            "id": {"type": "string"},
            "objective": {"type": "string"},
            "required_documents": strings(),
            "expected_output": {"type": "string", "description": "e.g. structured_data, pptx, structured_overview, summary_document"},
        }))},
    }))
}

/// Phase 3: the next action of a task, chosen from `actions` (plus `complete`).
pub fn next_action(actions: &[&str]) -> Value {
    let mut names: Vec<Value> = actions.iter().map(|a| json!(a)).collect();
    names.push(json!("complete"));
    object(json!({
        "action": {"type": "string", "enum": names},
        "parameters": object(json!({
            "prompt": nullable("string"),
            "document_ids": strings(),
            "query": nullable("string"),
            "output_format": {"type": ["string", "null"], "enum": FORMATS.iter().map(|f| json!(f)).chain([Value::Null]).collect::<Vec<_>>()},
            "title": nullable("string"),
        })),
        "reasoning": {"type": "string"},
    }))
}

/// Phase 3: validation of an action's result.
pub fn refinement() -> Value {
    object(json!({
        "valid": {"type": "boolean"},
        "task_complete": {"type": "boolean"},
        "next_action_guidance": nullable("string"),
        "reasoning": {"type": "string"},
    }))
}

/// 5A: what to do with each document.
pub fn document_intents() -> Value {
    object(json!({
        "intents": {"type": "array", "items": object(json!({
            "document_id": {"type": "string"},
            "intents": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": ["extract", "render", "reference"]}},
            "extraction_prompt": nullable("string"),
            "reasoning": {"type": "string"},
        }))},
    }))
}

/// 5B: what an image shows, read by a vision model.
pub fn image_extraction() -> Value {
    object(json!({
        "text": {"type": "string", "description": "everything the image shows that the extraction prompt asks for, as plain text"},
        "description": {"type": "string", "description": "one sentence on what the image shows"},
    }))
}

/// 5C: the documents to produce and their sections.
pub fn structure() -> Value {
    let format = json!({"type": "string", "enum": FORMATS});
    object(json!({
        "metadata": object(json!({
            "title": {"type": "string"},
            "language": {"type": "string"},
            "output_format": format,
            "fields": strings(),
            "csv_delimiter": {"type": ["string", "null"], "enum": [",", ";", "\t", "|", null]},
        })),
        "documents": {"type": "array", "minItems": 1, "items": object(json!({
            "id": {"type": "string"},
            "title": {"type": "string"},
            "filename": {"type": "string"},
            "output_format": {"type": ["string", "null"], "enum": FORMATS.iter().map(|f| json!(f)).chain([Value::Null]).collect::<Vec<_>>()},
            "sections": {"type": "array", "minItems": 1, "items": object(json!({
                "id": {"type": "string"},
                "title": nullable("string"),
                "content_type": {"type": "string", "enum": ["heading", "paragraph", "list", "table", "image", "mixed"]},
                "generation_hint": {"type": "string"},
                "content_part_ids": strings(),
                "content_formats": {"type": "array", "items": object(json!({
                    "part_id": {"type": "string"},
                    "format": {"type": "string", "enum": ["extracted", "object", "reference"]},
                }))},
                "extraction_fields": {"type": "array", "items": object(json!({
                    "field_name": {"type": "string"},
                    "data_type": {"type": "string", "enum": DATA_TYPES},
                    "extraction_hint": {"type": "string"},
                    "content_part_ids": strings(),
                }))},
            }))},
        }))},
    }))
}

/// 5D: the elements of one section, in the renderer's model (images by part id).
pub fn section_elements() -> Value {
    let cell = json!({"type": ["string", "number", "boolean", "null"]});
    let element = json!({"anyOf": [
        object(json!({"type": {"const": "heading"}, "level": {"type": "integer"}, "text": {"type": "string"}})),
        object(json!({"type": {"const": "paragraph"}, "text": {"type": "string"}})),
        object(json!({"type": {"const": "list"}, "ordered": {"type": "boolean"}, "items": strings()})),
        object(json!({
            "type": {"const": "table"},
            "caption": nullable("string"),
            "columns": {"type": "array", "items": object(json!({"name": {"type": "string"}, "data_type": {"type": "string", "enum": DATA_TYPES}}))},
            "rows": {"type": "array", "items": {"type": "array", "items": cell}},
        })),
        object(json!({"type": {"const": "image"}, "part_id": {"type": "string"}, "caption": nullable("string")})),
        object(json!({"type": {"const": "page_break"}})),
    ]});
    object(json!({"elements": {"type": "array", "items": element}}))
}

/// 5D, structured extraction: records with exactly the named fields, typed.
pub fn records(fields: &[(String, String)]) -> Value {
    let mut props = serde_json::Map::new();
    for (name, data_type) in fields {
        let ty = match data_type.as_str() {
            "number" | "currency" | "percent" => "number",
            "integer" => "integer",
            "boolean" => "boolean",
            _ => "string",
        };
        props.insert(name.clone(), json!({"type": [ty, "null"]}));
    }
    object(json!({"records": {"type": "array", "items": object(Value::Object(props))}}))
}

/// `web.search`: an answer with the sources it used.
pub fn web_answer() -> Value {
    object(json!({
        "answer": {"type": "string"},
        "sources": {"type": "array", "items": object(json!({"title": {"type": "string"}, "url": {"type": "string"}}))},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Strict structured output needs every object closed and fully required.
    fn assert_strict(schema: &Value, path: &str) {
        if let Some(obj) = schema.as_object() {
            if obj.get("type") == Some(&json!("object")) {
                assert_eq!(obj.get("additionalProperties"), Some(&json!(false)), "{path} is open");
                let props: Vec<&String> = obj["properties"].as_object().map(|p| p.keys().collect()).unwrap_or_default();
                let required: Vec<&str> = obj["required"]
                    .as_array()
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                for p in props {
                    assert!(required.contains(&p.as_str()), "{path}.{p} is not required");
                }
            }
            for (k, v) in obj {
                assert_strict(v, &format!("{path}.{k}"));
            }
        } else if let Some(items) = schema.as_array() {
            for (i, v) in items.iter().enumerate() {
                assert_strict(v, &format!("{path}[{i}]"));
            }
        }
    }

    #[test]
    fn every_schema_is_strict() {
        let all = [
            ("input_analysis", input_analysis()),
            ("direct_answer", direct_answer()),
            ("task_plan", task_plan()),
            ("next_action", next_action(&["ai.process"])),
            ("refinement", refinement()),
            ("document_intents", document_intents()),
            ("image_extraction", image_extraction()),
            ("structure", structure()),
            ("section_elements", section_elements()),
            ("records", records(&[("date".into(), "date".into()), ("CHF".into(), "currency".into())])),
            ("web_answer", web_answer()),
        ];
        for (name, schema) in &all {
            assert_strict(schema, name);
        }
    }

    #[test]
    fn records_are_typed_by_field() {
        let s =
            records(&[("CHF".into(), "currency".into()), ("n".into(), "integer".into()), ("d".into(), "date".into())]);
        let item = &s["properties"]["records"]["items"]["properties"];
        assert_eq!(item["CHF"]["type"], json!(["number", "null"]));
        assert_eq!(item["n"]["type"], json!(["integer", "null"]));
        assert_eq!(item["d"]["type"], json!(["string", "null"]));
    }
}
