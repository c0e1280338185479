//! Automation templates (SPEC T2): the workflow JSON an automation runs, with `{{KEY:name}}`
//! placeholders where a definition supplies its values.
//!
//! A template is JSON of the shape `{overview, tasks: [{action_list: [{exec_method,
//! exec_action, exec_parameters, exec_result_label}]}]}`. [`Template::parse`] checks it and
//! names the line and column of a syntax error; [`Template::keys`] lists its placeholder keys
//! once each, in order of first appearance; [`Template::fill`] puts a definition's values in.
//! Values are data: they are substituted into the parsed JSON's strings, never into its text,
//! so a value holding quotes or braces cannot change the workflow's structure, and a value is
//! not itself searched for placeholders.

pub mod schedule;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What is wrong with a template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// Not JSON; `line` and `column` count from 1.
    #[error("the template is not JSON at line {line}, column {column}: {message}")]
    Syntax { line: usize, column: usize, message: String },
    /// JSON, but not a workflow: `path` names the place (`tasks[0].action_list[1].exec_method`).
    #[error("the template's {path} {message}")]
    Shape { path: String, message: String },
    /// Values are missing for these keys (in order of first appearance).
    #[error("no value for the placeholder{} {}", if .0.len() == 1 { "" } else { "s" }, .0.join(", "))]
    Unfilled(Vec<String>),
}

/// One action of a task: which method and action of the catalog, with what parameters, and the
/// label later actions refer to its result by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub exec_method: String,
    pub exec_action: String,
    #[serde(default)]
    pub exec_parameters: serde_json::Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec_result_label: Option<String>,
}

/// A task: actions run in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// What the task is for, in words (the run's trace names the task by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objective: Option<String>,
    pub action_list: Vec<Action>,
}

/// A checked template: its JSON as given and the workflow it describes.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    json: Value,
    keys: Vec<String>,
}

impl Template {
    /// Parses and checks a template.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let json: Value = serde_json::from_str(text).map_err(|e| TemplateError::Syntax {
            line: e.line(),
            column: e.column(),
            message: syntax_message(&e),
        })?;
        check_shape(&json)?;
        let mut keys = Vec::new();
        collect_keys(&json, &mut keys);
        Ok(Self { json, keys })
    }

    /// The placeholder keys, each once, in order of first appearance (object keys are read in
    /// the order they were written).
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// The template's JSON.
    pub fn json(&self) -> &Value {
        &self.json
    }

    /// The keys that `values` leaves without a value (absent, or blank).
    pub fn unfilled(&self, values: &BTreeMap<String, String>) -> Vec<String> {
        self.keys.iter().filter(|k| values.get(k.as_str()).is_none_or(|v| v.trim().is_empty())).cloned().collect()
    }

    /// The workflow's tasks with every placeholder replaced by its value; refused, naming them,
    /// while any key has no value. Values for keys the template does not use are ignored.
    pub fn fill(&self, values: &BTreeMap<String, String>) -> Result<Vec<Task>, TemplateError> {
        let missing = self.unfilled(values);
        if !missing.is_empty() {
            return Err(TemplateError::Unfilled(missing));
        }
        let mut json = self.json.clone();
        substitute(&mut json, values);
        let tasks = json.get("tasks").cloned().unwrap_or(Value::Array(Vec::new()));
        // The shape was checked at parse and substitution changes only strings.
        serde_json::from_value(tasks)
            .map_err(|e| TemplateError::Shape { path: "tasks".to_owned(), message: e.to_string() })
    }
}

/// serde_json's message without its own " at line L column C" tail (we say it ourselves).
fn syntax_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    match full.rfind(" at line ") {
        Some(i) => full[..i].to_owned(),
        None => full,
    }
}

fn shape(path: impl Into<String>, message: &str) -> TemplateError {
    TemplateError::Shape { path: path.into(), message: message.to_owned() }
}

fn check_shape(json: &Value) -> Result<(), TemplateError> {
    let root = json.as_object().ok_or_else(|| shape("top level", "must be an object"))?;
    let tasks = root.get("tasks").ok_or_else(|| shape("tasks", "is missing"))?;
    let tasks = tasks.as_array().ok_or_else(|| shape("tasks", "must be a list"))?;
    for (t, task) in tasks.iter().enumerate() {
        let at = format!("tasks[{t}]");
        let task = task.as_object().ok_or_else(|| shape(&at, "must be an object"))?;
        let list = task.get("action_list").ok_or_else(|| shape(format!("{at}.action_list"), "is missing"))?;
        let list = list.as_array().ok_or_else(|| shape(format!("{at}.action_list"), "must be a list"))?;
        for (a, action) in list.iter().enumerate() {
            let at = format!("{at}.action_list[{a}]");
            let action = action.as_object().ok_or_else(|| shape(&at, "must be an object"))?;
            for field in ["exec_method", "exec_action"] {
                match action.get(field) {
                    Some(Value::String(s)) if !s.trim().is_empty() => {}
                    Some(_) => return Err(shape(format!("{at}.{field}"), "must be a non-empty string")),
                    None => return Err(shape(format!("{at}.{field}"), "is missing")),
                }
            }
            match action.get("exec_parameters") {
                None | Some(Value::Object(_)) => {}
                Some(_) => return Err(shape(format!("{at}.exec_parameters"), "must be an object")),
            }
            match action.get("exec_result_label") {
                None | Some(Value::String(_)) | Some(Value::Null) => {}
                Some(_) => return Err(shape(format!("{at}.exec_result_label"), "must be a string")),
            }
        }
    }
    Ok(())
}

const OPEN: &str = "{{KEY:";
const CLOSE: &str = "}}";

/// A key's characters: letters, digits and `_` in any script (the seed's `\w`).
fn is_key_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// The placeholders of `text` as (byte range, key), left to right. Anything that is not exactly
/// `{{KEY:` + one or more key characters + `}}` is text.
fn placeholders(text: &str) -> Vec<(std::ops::Range<usize>, &str)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find(OPEN) {
        let start = from + i;
        let key_start = start + OPEN.len();
        let key_len: usize = text[key_start..].chars().take_while(|&c| is_key_char(c)).map(char::len_utf8).sum();
        let key_end = key_start + key_len;
        if key_len > 0 && text[key_end..].starts_with(CLOSE) {
            found.push((start..key_end + CLOSE.len(), &text[key_start..key_end]));
            from = key_end + CLOSE.len();
        } else {
            // `{{KEY:{{KEY:a}}`: the inner one may still be a placeholder.
            from = start + 1;
        }
    }
    found
}

/// The keys of `text`, each once, in order of first appearance.
pub fn placeholder_keys(text: &str) -> Vec<String> {
    let mut keys = Vec::new();
    for (_, key) in placeholders(text) {
        if !keys.iter().any(|k| k == key) {
            keys.push(key.to_owned());
        }
    }
    keys
}

fn add_keys(text: &str, keys: &mut Vec<String>) {
    for key in placeholder_keys(text) {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
}

fn collect_keys(json: &Value, keys: &mut Vec<String>) {
    match json {
        Value::String(s) => add_keys(s, keys),
        Value::Array(items) => items.iter().for_each(|v| collect_keys(v, keys)),
        Value::Object(map) => {
            for (k, v) in map {
                add_keys(k, keys);
                collect_keys(v, keys);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn fill_text(text: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (range, key) in placeholders(text) {
        out.push_str(&text[last..range.start]);
        match values.get(key) {
            Some(v) => out.push_str(v),
            None => out.push_str(&text[range.clone()]),
        }
        last = range.end;
    }
    out.push_str(&text[last..]);
    out
}

fn substitute(json: &mut Value, values: &BTreeMap<String, String>) {
    match json {
        Value::String(s) => *s = fill_text(s, values),
        Value::Array(items) => items.iter_mut().for_each(|v| substitute(v, values)),
        Value::Object(map) => {
            let old = std::mem::take(map);
            for (k, mut v) in old {
                substitute(&mut v, values);
                map.insert(fill_text(&k, values), v);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn keys_are_found_once_each_in_order_of_first_appearance() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("no placeholders", &[]),
            ("{{KEY:site}}", &["site"]),
            ("{{KEY:b}} and {{KEY:a}} and {{KEY:b}} again", &["b", "a"]),
            ("inside a sentence: Sites/{{KEY:site}}/Docs", &["site"]),
            ("{{KEY:ort_größe}} {{KEY:город}} {{KEY:x1}}", &["ort_größe", "город", "x1"]),
            // Malformed: no key, spaces, one brace, wrong case, unterminated.
            ("{{KEY:}} {{KEY: a}} {KEY:b} {{KEY:c} {{key:d}} {{KEY:e", &[]),
            ("{{KEY:a-b}}", &[]),
            // A broken opening before a good one.
            ("{{KEY:{{KEY:inner}}", &["inner"]),
            ("{{{KEY:x}}}", &["x"]),
        ];
        for (text, want) in cases {
            assert_eq!(placeholder_keys(text), *want, "{text:?}");
        }
    }

    const TEMPLATE: &str = r#"{
  "overview": {"en": "Summarise {{KEY:folder}} for {{KEY:team}}"},
  "tasks": [
    {"action_list": [
      {"exec_method": "sharepoint", "exec_action": "list_files",
       "exec_parameters": {"folder": "{{KEY:folder}}", "limit": 20},
       "exec_result_label": "files"},
      {"exec_method": "mail", "exec_action": "send",
       "exec_parameters": {"to": "{{KEY:recipient}}", "subject": "Digest for {{KEY:team}}"}}
    ]}
  ]
}"#;

    #[test]
    fn a_template_lists_its_keys_across_the_whole_document() {
        let t = Template::parse(TEMPLATE).unwrap();
        assert_eq!(t.keys(), ["folder", "team", "recipient"]);
    }

    #[test]
    fn filling_refuses_naming_every_missing_key_and_then_puts_values_in() {
        let t = Template::parse(TEMPLATE).unwrap();
        let err = t.fill(&values(&[("team", "Sales"), ("recipient", "  ")])).unwrap_err();
        assert_eq!(err, TemplateError::Unfilled(vec!["folder".into(), "recipient".into()]));
        assert_eq!(err.to_string(), "no value for the placeholders folder, recipient");

        let tasks = t
            .fill(&values(&[
                ("folder", "Shared/Q3"),
                ("team", "Sales"),
                ("recipient", "a@example.com"),
                ("extra", "x"),
            ]))
            .unwrap();
        let actions = &tasks[0].action_list;
        assert_eq!(actions[0].exec_parameters["folder"], "Shared/Q3");
        assert_eq!(actions[0].exec_parameters["limit"], 20);
        assert_eq!(actions[0].exec_result_label.as_deref(), Some("files"));
        assert_eq!(actions[1].exec_parameters["subject"], "Digest for Sales");
    }

    #[test]
    fn values_are_data_not_json_and_not_placeholders() {
        let t = Template::parse(TEMPLATE).unwrap();
        let hostile = r#"x", "exec_method": "shell", "y": "{{KEY:team}}"#;
        let tasks = t.fill(&values(&[("folder", hostile), ("team", "Sales"), ("recipient", "r")])).unwrap();
        let action = &tasks[0].action_list[0];
        assert_eq!(action.exec_method, "sharepoint");
        assert_eq!(action.exec_parameters["folder"], hostile, "the value stays one string, as given");
    }

    #[test]
    fn syntax_errors_name_the_line_and_column() {
        let err = Template::parse("{\n  \"tasks\": [\n    {\"action_list\": [}\n  ]\n}").unwrap_err();
        let TemplateError::Syntax { line, column, message } = &err else { panic!("{err:?}") };
        assert_eq!((*line, *column), (3, 22), "{message}");
        assert!(err.to_string().starts_with("the template is not JSON at line 3, column 22: "), "{err}");
        assert!(!message.contains(" at line "), "{message}");
        let err = Template::parse("").unwrap_err();
        assert!(matches!(err, TemplateError::Syntax { line: 1, .. }), "{err:?}");
    }

    #[test]
    fn shape_errors_name_the_place() {
        let cases = [
            ("[]", "the template's top level must be an object"),
            ("{}", "the template's tasks is missing"),
            (r#"{"tasks": {}}"#, "the template's tasks must be a list"),
            (r#"{"tasks": [{}]}"#, "the template's tasks[0].action_list is missing"),
            (
                r#"{"tasks": [{"action_list": [{"exec_method": "mail", "exec_action": "send"}, {"exec_method": ""}]}]}"#,
                "the template's tasks[0].action_list[1].exec_method must be a non-empty string",
            ),
            (
                r#"{"tasks": [{"action_list": [{"exec_method": "mail"}]}]}"#,
                "the template's tasks[0].action_list[0].exec_action is missing",
            ),
            (
                r#"{"tasks": [{"action_list": [{"exec_method": "m", "exec_action": "a", "exec_parameters": [1]}]}]}"#,
                "the template's tasks[0].action_list[0].exec_parameters must be an object",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(Template::parse(text).unwrap_err().to_string(), want, "{text}");
        }
        let empty = Template::parse(r#"{"tasks": []}"#).unwrap();
        assert!(empty.keys().is_empty());
        assert_eq!(empty.fill(&BTreeMap::new()).unwrap(), Vec::<Task>::new());
    }
}
