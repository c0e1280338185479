//! `dryrun`: a provider with no network (GigaOffice's dry-run mode). Answers are deterministic
//! functions of the request, in the requested shape — JSON that satisfies the schema for JSON
//! requests, plain text otherwise — so every pipeline runs end to end offline and in tests.

use futures_util::stream;
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use crate::{
    ApiKey, ChatRequest, ChatResponse, ChatStream, OutputFormat, Part, Provider, Result, Role, StreamEvent, Usage,
    estimate_tokens,
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
            })
            .collect::<Vec<_>>()
            .join("\n");
        let seed = Sha256::digest(format!("{}\u{0}{input}", req.model).as_bytes());
        let last_user = req
            .messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .and_then(|m| m.parts.iter().find_map(|p| if let Part::Text(t) = p { Some(t.as_str()) } else { None }))
            .unwrap_or("");
        let mut content = match &req.output {
            OutputFormat::Text => text_answer(last_user, &seed),
            OutputFormat::Json { schema } => {
                let value = match schema {
                    Some(s) => value_for(s, &seed, 0, "value"),
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
        }
    }
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

/// A value satisfying `schema` (the subset in `crate::schema`), varied by `seed`.
fn value_for(schema: &Value, seed: &[u8], depth: usize, name: &str) -> Value {
    if let Some(first) = schema.get("enum").and_then(Value::as_array).and_then(|o| o.first()) {
        return first.clone();
    }
    let byte = seed[depth % seed.len()];
    match schema.get("type").and_then(Value::as_str).unwrap_or("string") {
        "object" => {
            let mut obj = Map::new();
            if depth < 8 {
                for (key, sub) in schema.get("properties").and_then(Value::as_object).into_iter().flatten() {
                    obj.insert(key.clone(), value_for(sub, seed, depth + 1, key));
                }
            }
            Value::Object(obj)
        }
        "array" => match schema.get("items") {
            Some(items) if depth < 8 => Value::Array(vec![value_for(items, seed, depth + 1, name)]),
            _ => Value::Array(vec![]),
        },
        "integer" => json!(i64::from(byte)),
        "number" => json!(f64::from(byte) + 0.5),
        "boolean" => json!(byte.is_multiple_of(2)),
        "null" => Value::Null,
        _ => json!(format!("{name} {byte:02x}")),
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
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt as _;

    use super::*;
    use crate::{Message, schema};

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
}
