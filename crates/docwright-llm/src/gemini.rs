//! Google Gemini (the Generative Language API).
//!
//! Follows the public API reference (ai.google.dev/api/generate-content):
//! `POST {base}/v1beta/models/{model}:generateContent` with the key in `x-goog-api-key`;
//! `contents` with roles `user` and `model`, the system prompt as `systemInstruction`, images as
//! `inline_data`. JSON output is `generationConfig.responseMimeType: "application/json"` and,
//! with a schema, `generationConfig.responseJsonSchema` (the schema in the JSON Schema form
//! Gemini documents, see `structured::gemini_json_schema` for what is converted and why this
//! field rather than the OpenAPI-style `responseSchema`); the candidate's text is the answer,
//! checked against the caller's schema on return.
//! Streaming is `:streamGenerateContent?alt=sse`: server-sent events whose data are whole
//! response chunks; there is no end marker, so a stream is complete only when a chunk carried a
//! `finishReason`, and the last `usageMetadata` counts the whole answer.
//!
//! Function calling (ai.google.dev/gemini-api/docs/function-calling): the caller's tools go as
//! `tools: [{functionDeclarations}]` with `parametersJsonSchema`, the choice as
//! `toolConfig.functionCallingConfig` (`AUTO`, `ANY` with `allowedFunctionNames` for a named
//! tool, `NONE`); calls come back as whole `functionCall` parts (in a stream, each in its
//! chunk), and results go back as `functionResponse` parts in a user turn.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::structured::{self, Structured};
use crate::tls::Tls;
use crate::tools::{self, ToolCall, ToolCallDelta, ToolChoice};
use crate::{
    ApiKey, ChatRequest, ChatResponse, ChatStream, EmbedRequest, EmbedResponse, Error, Part, Provider, Result, Role,
    StreamEvent, Usage, embed, estimate_tokens, wire,
};

/// A provider speaking the Gemini API.
#[derive(Debug, Clone)]
pub struct Gemini {
    ep: wire::Endpoint,
}

impl Gemini {
    /// `base_url` without the version path, e.g. `https://generativelanguage.googleapis.com`.
    pub fn new(name: impl Into<String>, base_url: &str, timeout: Duration) -> Result<Self> {
        Self::with_tls(name, base_url, timeout, &Tls::default())
    }

    /// With extra trusted CAs and/or a client certificate (see [`crate::tls`]).
    pub fn with_tls(name: impl Into<String>, base_url: &str, timeout: Duration, tls: &Tls) -> Result<Self> {
        Ok(Self { ep: wire::Endpoint::with_tls(name.into(), base_url, timeout, tls)? })
    }

    async fn send(
        &self,
        req: &ChatRequest,
        st: &Structured,
        key: Option<&ApiKey>,
        stream: bool,
    ) -> Result<(reqwest::Response, u64)> {
        let key = key.ok_or_else(|| Error::NoKey { provider: self.ep.name.clone() })?;
        let action = if stream { "streamGenerateContent?alt=sse" } else { "generateContent" };
        let headers = [("x-goog-api-key", key.expose())];
        self.ep.post(&format!("/v1beta/models/{}:{action}", req.model), &headers, &request_body(req, st)).await
    }
}

impl Provider for Gemini {
    fn name(&self) -> &str {
        &self.ep.name
    }

    async fn chat(&self, req: &ChatRequest, key: Option<&ApiKey>) -> Result<ChatResponse> {
        let st = structured::gemini(&req.output);
        let (response, sent) = self.send(req, &st, key, false).await?;
        let (v, received) = self.ep.read_json(response).await?;
        let candidate = v["candidates"]
            .get(0)
            .ok_or_else(|| self.ep.malformed("no candidates (the prompt may have been blocked)"))?;
        let tool_calls: Vec<ToolCall> = function_calls(candidate)
            .enumerate()
            .map(|(i, call)| tool_call(i, call))
            .collect::<Option<_>>()
            .ok_or_else(|| self.ep.malformed("a functionCall without a name"))?;
        let content = st.answer.finish(&self.ep.name, text_of(candidate), &tool_calls)?;
        Ok(ChatResponse {
            tool_calls,
            usage: usage(&v["usageMetadata"]).ok_or_else(|| self.ep.malformed("no usageMetadata"))?,
            model: v["modelVersion"].as_str().unwrap_or(&req.model).to_owned(),
            finish_reason: candidate["finishReason"].as_str().map(str::to_owned),
            bytes_sent: sent,
            bytes_received: received,
            content,
        })
    }

    async fn chat_stream(&self, req: &ChatRequest, key: Option<&ApiKey>) -> Result<ChatStream> {
        let st = structured::gemini(&req.output);
        let (response, sent) = self.send(req, &st, key, true).await?;
        Ok(wire::chat_stream(StreamState {
            sse: self.ep.sse(response),
            answer: wire::Assembly::new(&self.ep.name, req, sent, st.answer),
            usage: None,
            calls: 0,
            queued: std::collections::VecDeque::new(),
        }))
    }

    /// `models/{model}:batchEmbedContents` (ai.google.dev/api/embeddings): one request per
    /// text, `embeddings[i].values` in order. Usage is not reported, so it is estimated.
    async fn embed(&self, req: &EmbedRequest, key: Option<&ApiKey>) -> Result<EmbedResponse> {
        let key = key.ok_or_else(|| Error::NoKey { provider: self.ep.name.clone() })?;
        let requests: Vec<Value> = req
            .inputs
            .iter()
            .map(|t| json!({"model": format!("models/{}", req.model), "content": {"parts": [{"text": t}]}}))
            .collect();
        let headers = [("x-goog-api-key", key.expose())];
        let path = format!("/v1beta/models/{}:batchEmbedContents", req.model);
        let (response, sent) = self.ep.post(&path, &headers, &json!({"requests": requests})).await?;
        let (v, received) = self.ep.read_json(response).await?;
        let list = v["embeddings"].as_array().ok_or_else(|| self.ep.malformed("no embeddings"))?;
        let vectors = list
            .iter()
            .map(|e| embed::vector_of(&e["values"]))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| self.ep.malformed("an embedding that is not an array of numbers"))?;
        Ok(EmbedResponse {
            vectors: embed::checked(&self.ep.name, req.inputs.len(), vectors)?,
            model: req.model.clone(),
            usage: Usage {
                input_tokens: req.inputs.iter().map(|t| estimate_tokens(t)).sum(),
                output_tokens: 0,
                estimated: true,
            },
            bytes_sent: sent,
            bytes_received: received,
        })
    }
}

struct StreamState {
    sse: wire::SseReader,
    answer: wire::Assembly,
    usage: Option<Usage>,
    /// Function calls seen so far.
    calls: usize,
    /// Events of a chunk that carried several, yielded before reading on.
    queued: std::collections::VecDeque<StreamEvent>,
}

impl wire::NextEvent for StreamState {
    fn assembly(&mut self) -> &mut wire::Assembly {
        &mut self.answer
    }

    async fn next_event(&mut self) -> Result<StreamEvent> {
        loop {
            if let Some(ev) = self.queued.pop_front() {
                return Ok(ev);
            }
            let data = match self.sse.next().await {
                Ok(data) => data,
                // No end marker: the end of the stream is the end of the answer, if it finished.
                Err(Error::Truncated { .. }) if self.answer.finish_reason.is_some() => {
                    let Some(usage) = self.usage else {
                        let detail = "the stream carried no usageMetadata".to_owned();
                        return Err(Error::Malformed { provider: self.answer.provider.clone(), detail });
                    };
                    return self.answer.done(usage, self.sse.received());
                }
                Err(e) => return Err(e),
            };
            let chunk = self.answer.parse(&data)?;
            if chunk.get("error").is_some() {
                let message = wire::error_message(&data);
                return Err(Error::Upstream { provider: self.answer.provider.clone(), status: 500, message });
            }
            if let Some(m) = chunk["modelVersion"].as_str() {
                self.answer.model.get_or_insert_with(|| m.to_owned());
            }
            if let Some(u) = usage(&chunk["usageMetadata"]) {
                self.usage = Some(u);
            }
            let candidate = &chunk["candidates"][0];
            if let Some(f) = candidate["finishReason"].as_str() {
                self.answer.finish_reason = Some(f.to_owned());
            }
            let text = text_of(candidate);
            if !text.is_empty()
                && let Some(ev) = self.answer.delta(&text)
            {
                self.queued.push_back(ev);
            }
            for call in function_calls(candidate) {
                let call = tool_call(self.calls, call).ok_or_else(|| Error::Malformed {
                    provider: self.answer.provider.clone(),
                    detail: "a functionCall without a name".into(),
                })?;
                let piece = ToolCallDelta {
                    index: self.calls,
                    id: Some(call.id),
                    name: Some(call.name),
                    arguments: call.arguments,
                };
                self.calls += 1;
                let ev = self.answer.tool_call(piece);
                self.queued.push_back(ev);
            }
        }
    }
}

/// The `functionCall`s among a candidate's parts.
fn function_calls(candidate: &Value) -> impl Iterator<Item = &Value> {
    candidate["content"]["parts"].as_array().into_iter().flatten().filter_map(|p| p.get("functionCall"))
}

/// The `i`-th call of an answer from its `functionCall` (an id is made up when it has none).
fn tool_call(i: usize, call: &Value) -> Option<ToolCall> {
    let name = call["name"].as_str().filter(|n| !n.is_empty())?.to_owned();
    let id = call["id"].as_str().map_or_else(|| tools::made_up_id(i), str::to_owned);
    let arguments = if call["args"].is_null() { "{}".to_owned() } else { call["args"].to_string() };
    Some(ToolCall { id, name, arguments })
}

fn text_of(candidate: &Value) -> String {
    candidate["content"]["parts"].as_array().into_iter().flatten().filter_map(|p| p["text"].as_str()).collect()
}

fn usage(v: &Value) -> Option<Usage> {
    let input = v["promptTokenCount"].as_u64()?;
    // Gemini omits the count when the answer is empty.
    let output = v["candidatesTokenCount"].as_u64().unwrap_or(0);
    Some(Usage { input_tokens: input, output_tokens: output, estimated: false })
}

/// The JSON body of a generateContent request.
fn request_body(req: &ChatRequest, st: &Structured) -> Value {
    let part = |p: &Part| match p {
        Part::Text(t) => json!({"text": t}),
        Part::Image { mime_type, data } => {
            json!({"inline_data": {"mime_type": mime_type, "data": STANDARD.encode(data)}})
        }
        Part::ToolCall(c) => {
            json!({"functionCall": {"id": c.id, "name": c.name, "args": tools::arguments_object(&c.arguments)}})
        }
        Part::ToolResult { call_id, content } => json!({"functionResponse": {
            "id": call_id,
            "name": tools::name_of_call(&req.messages, call_id).unwrap_or(call_id),
            "response": tools::result_object(content),
        }}),
    };
    let system: Vec<Value> =
        req.messages.iter().filter(|m| m.role == Role::System).flat_map(|m| &m.parts).map(part).collect();
    let mut contents: Vec<Value> = Vec::new();
    for m in req.messages.iter().filter(|m| m.role != Role::System) {
        let role = if m.role == Role::Assistant { "model" } else { "user" };
        let parts: Vec<Value> =
            m.parts.iter().filter(|p| !matches!(p, Part::Text(t) if t.is_empty())).map(part).collect();
        // The results of several calls go back as one user turn.
        let earlier = contents.last_mut().filter(|last| last["role"] == role && m.role == Role::Tool);
        match earlier.and_then(|last| last["parts"].as_array_mut()) {
            Some(earlier) => earlier.extend(parts),
            None => contents.push(json!({"role": role, "parts": parts})),
        }
    }
    let mut config = json!({});
    if let Some(n) = req.max_output_tokens {
        config["maxOutputTokens"] = json!(n);
    }
    if let Some(t) = req.temperature {
        config["temperature"] = json!(t);
    }
    if st.answer.is_json() {
        config["responseMimeType"] = json!("application/json");
        if let Some(schema) = &st.wire {
            config["responseJsonSchema"] = schema.clone();
        }
    }
    let mut body = json!({"contents": contents, "generationConfig": config});
    if !req.tools.is_empty() {
        let declared: Vec<Value> = req
            .tools
            .iter()
            .map(|t| t.declared("parametersJsonSchema", structured::gemini_json_schema(t.parameters())))
            .collect();
        body["tools"] = json!([{"functionDeclarations": declared}]);
        body["toolConfig"] = json!({"functionCallingConfig": match &req.tool_choice {
            ToolChoice::Auto => json!({"mode": "AUTO"}),
            ToolChoice::None => json!({"mode": "NONE"}),
            ToolChoice::Required => json!({"mode": "ANY"}),
            ToolChoice::Function(name) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
        }});
    }
    if !system.is_empty() {
        body["systemInstruction"] = json!({"parts": system});
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Message, OutputFormat};

    #[test]
    fn request_body_follows_the_reference() {
        let req = ChatRequest {
            model: "gemini-2.0-flash".into(),
            messages: vec![
                Message::text(Role::System, "be brief"),
                Message::text(Role::User, "hi"),
                Message::text(Role::Assistant, "hello"),
                Message {
                    role: Role::User,
                    parts: vec![Part::Image { mime_type: "image/png".into(), data: vec![1, 2, 3] }],
                },
            ],
            max_output_tokens: Some(50),
            temperature: None,
            output: OutputFormat::Json { schema: Some(json!({"type": "object", "properties": {"n": {"const": 1}}})) },
            ..Default::default()
        };
        let b = request_body(&req, &structured::gemini(&req.output));
        assert_eq!(b["systemInstruction"], json!({"parts": [{"text": "be brief"}]}));
        assert_eq!(b["contents"][1]["role"], "model");
        assert_eq!(b["contents"][2]["parts"][0]["inline_data"], json!({"mime_type": "image/png", "data": "AQID"}));
        assert_eq!(
            b["generationConfig"],
            json!({"maxOutputTokens": 50, "responseMimeType": "application/json",
                   "responseJsonSchema": {"type": "object", "properties": {"n": {"enum": [1], "type": "integer"}}}})
        );
    }
}
