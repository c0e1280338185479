//! Test support (feature `testing`): fake provider servers on 127.0.0.1 that speak the real
//! protocols, so the real client code runs in tests.
//!
//! [`FakeOpenAi`] is one HTTP server speaking four protocols from one script of [`Reply`]s:
//! OpenAI chat completions (platform.openai.com/docs/api-reference/chat: "The chat completion
//! object", "The chat completion chunk object", SSE `data:` lines ending with `data: [DONE]`),
//! Anthropic Messages, Gemini, and GigaChat (the OpenAI shapes under `/api/v1`, plus the OAuth
//! token exchange, see [`FakeOpenAi::require_gigachat_auth`]). Each test scripts its answers
//! and reads back the requests the server received. [`FakeOpenAi::start_mtls`] serves the same
//! fake over TLS that demands a client certificate, with a [`TestPki`] made at test time.
//!
//! Structured output comes back in each protocol's own shape: a scripted answer that is JSON
//! is the `input` of a `tool_use` block when an Anthropic request forces a tool (streamed as
//! `input_json_delta` events), the `arguments` of a `function_call` when a GigaChat request
//! forces a function, and the content or text otherwise; an answer that is not JSON comes as
//! text, as from a model that did not do as it was told. The fake also refuses what the real
//! services refuse, with their error shapes: an OpenAI `strict` schema outside strict mode's
//! rules, `json_object` without the word "JSON" in the messages, a forced tool or function
//! that was not declared, an Anthropic `input_schema` that is not an object, and Gemini
//! `responseJsonSchema` keywords outside the documented list.

// Test support: a fake that cannot start must fail the test loudly, right here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

mod tools;

/// What the fake answers to the next request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A chat completion with this content and usage (prompt, completion tokens); a forced
    /// tool's or function's input when the request forced one and the content is JSON.
    Ok { content: String, usage: Option<(u64, u64)> },
    /// An SSE stream of these deltas (pieces of a forced tool's input, when forced); `usage`
    /// as a final chunk; `done` sends `[DONE]` (or the protocol's last event).
    Stream { deltas: Vec<String>, usage: Option<(u64, u64)>, done: bool },
    /// An error status with an OpenAI error body, and optionally `Retry-After` seconds.
    Status { status: u16, retry_after: Option<u64> },
    /// Answers only after this delay (then a normal completion).
    Slow(Duration),
    /// 200 with a body that is not JSON.
    Garbage,
    /// An OpenAI SSE stream that sends the `before` deltas, then holds the connection open
    /// until the test opens `gate`, then sends the `after` deltas, `usage` and `[DONE]`: a
    /// stream that is still running, for as long as a test needs, without timing.
    Gated { before: Vec<String>, after: Vec<String>, usage: Option<(u64, u64)>, gate: Gate },
    /// This reply, after this delay (a provider's latency).
    After(Duration, Box<Reply>),
    /// An answer that calls these tools (name, arguments), in the protocol's shape, whole or
    /// streamed as the request asked (GigaChat calls only the first: it makes one call per
    /// answer).
    ToolCalls { calls: Vec<(String, Value)>, usage: Option<(u64, u64)> },
}

/// A gate a [`Reply::Gated`] stream waits at; cheap to clone, opened once by the test.
#[derive(Clone, Debug, Default)]
pub struct Gate {
    open: Arc<std::sync::atomic::AtomicBool>,
    notify: Arc<tokio::sync::Notify>,
}

impl Gate {
    pub fn new() -> Self {
        Self::default()
    }

    /// Lets every stream waiting at the gate (and every later one) go on.
    pub fn open(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.open.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }
}

/// A piece of a streamed body: bytes to send, or a gate to wait at first.
enum Piece {
    Data(String),
    Wait(Gate),
}

/// A body sent piece by piece, waiting at its gates.
fn gated_body(pieces: Vec<Piece>) -> Body {
    let stream = futures_util::stream::unfold(std::collections::VecDeque::from(pieces), |mut q| async move {
        loop {
            match q.pop_front()? {
                Piece::Data(s) => return Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(s)), q)),
                Piece::Wait(g) => g.wait().await,
            }
        }
    });
    Body::from_stream(stream)
}

impl Reply {
    /// A completion with this content and a small usage.
    pub fn ok(content: impl Into<String>) -> Self {
        Reply::Ok { content: content.into(), usage: Some((10, 5)) }
    }

    /// An answer calling one tool with these arguments.
    pub fn tool_call(name: &str, arguments: Value) -> Self {
        Reply::ToolCalls { calls: vec![(name.to_owned(), arguments)], usage: Some((10, 5)) }
    }

    /// Waits out every [`Reply::After`] delay and returns what is then answered.
    async fn arrive(self) -> Reply {
        let mut reply = self;
        while let Reply::After(delay, inner) = reply {
            tokio::time::sleep(delay).await;
            reply = *inner;
        }
        reply
    }
}

/// Answers a request (its JSON body) itself, or `None` to take the next scripted reply.
type Responder = dyn Fn(&Value) -> Option<Reply> + Send + Sync;

/// A request the fake received.
#[derive(Clone, Debug)]
pub struct Received {
    pub body: Value,
    pub authorization: Option<String>,
    /// Every header, lower-cased names.
    pub headers: Vec<(String, String)>,
    /// Path and query, e.g. `/v1beta/models/gemini-x:streamGenerateContent?alt=sse`.
    pub path: String,
    /// When the request arrived.
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Default)]
struct Shared {
    replies: Arc<Mutex<VecDeque<Reply>>>,
    received: Arc<Mutex<Vec<Received>>>,
    gigachat: Arc<Mutex<GigaChatState>>,
    responder: Arc<Mutex<Option<Arc<Responder>>>>,
    /// How embedding requests are answered: a vector per text.
    embedder: Arc<Mutex<Option<Arc<Embedder>>>>,
    /// Replies for the next embedding requests (errors, delays), before the embedder's vectors.
    embed_replies: Arc<Mutex<VecDeque<Reply>>>,
}

/// Embeds one text (the fake's embedding model).
type Embedder = dyn Fn(&str) -> Vec<f32> + Send + Sync;

/// What the fake's GigaChat OAuth endpoint accepts, and the tokens it issued.
#[derive(Default)]
struct GigaChatState {
    /// `Some` once [`FakeOpenAi::require_gigachat_auth`] was called.
    auth: Option<GigaChatAuth>,
    /// Issued token → when it expires.
    tokens: HashMap<String, Instant>,
    exchanges: usize,
    unauthorized: usize,
}

/// The credentials the fake GigaChat OAuth endpoint accepts.
#[derive(Clone, Debug)]
pub struct GigaChatAuth {
    /// The authorization key (base64 of `client_id:client_secret`) expected after `Basic `.
    pub authorization_key: String,
    /// The scope expected in the form body.
    pub scope: String,
    /// How long issued tokens are valid (the real service: 30 minutes).
    pub token_lifetime: Duration,
}

/// One fake server speaking four protocols from one script: OpenAI chat completions at
/// `{base_url}/chat/completions`, the Anthropic Messages API at `{anthropic_url}/v1/messages`
/// (docs.anthropic.com/en/api/messages, "Streaming Messages"), Gemini at
/// `{anthropic_url}/v1beta/models/{model}:generateContent` (ai.google.dev/api/generate-content;
/// `:streamGenerateContent?alt=sse`) and GigaChat at `{gigachat_url}/chat/completions` with its
/// OAuth endpoint at `oauth_url` (developers.sber.ru/docs/ru/gigachat/api/reference/rest:
/// "post-token", "post-chat"). `anthropic_url` is the server's root.
pub struct FakeOpenAi {
    pub base_url: String,
    pub anthropic_url: String,
    /// GigaChat's API base, like `https://gigachat.devices.sberbank.ru/api/v1`.
    pub gigachat_url: String,
    /// GigaChat's OAuth endpoint, like `https://ngw.devices.sberbank.ru:9443/api/v2/oauth`.
    pub oauth_url: String,
    shared: Shared,
    tls_refused: Arc<std::sync::atomic::AtomicUsize>,
}

impl FakeOpenAi {
    pub async fn start() -> Self {
        let shared = Shared::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = router(shared.clone());
        #[allow(clippy::disallowed_methods)] // The fake lives as long as the test's runtime.
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self::at("http", addr, shared, Arc::default())
    }

    /// The same fake over HTTPS on 127.0.0.1 with the server certificate of `pki`, refusing
    /// every client that does not present a certificate signed by `pki`'s CA (mutual TLS).
    pub async fn start_mtls(pki: &TestPki) -> Self {
        let shared = Shared::default();
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let refused: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
        let listener = mtls::listen(tcp, pki.server_config(), refused.clone());
        let app = router(shared.clone());
        #[allow(clippy::disallowed_methods)] // The fake lives as long as the test's runtime.
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self::at("https", addr, shared, refused)
    }

    fn at(scheme: &str, addr: SocketAddr, shared: Shared, tls_refused: Arc<std::sync::atomic::AtomicUsize>) -> Self {
        Self {
            base_url: format!("{scheme}://{addr}/v1"),
            anthropic_url: format!("{scheme}://{addr}"),
            gigachat_url: format!("{scheme}://{addr}/api/v1"),
            oauth_url: format!("{scheme}://{addr}/api/v2/oauth"),
            shared,
            tls_refused,
        }
    }

    pub fn reply(&self, r: Reply) {
        self.shared.replies.lock().unwrap().push_back(r);
    }

    /// Answers every request `respond` has an answer for, by what the request says (its
    /// system prompt, its schema, its data), whatever order concurrent calls arrive in; the
    /// others take the scripted replies. Replaces an earlier responder.
    pub fn respond_with(&self, respond: impl Fn(&Value) -> Option<Reply> + Send + Sync + 'static) {
        *self.shared.responder.lock().unwrap() = Some(Arc::new(respond));
    }

    /// Embeds with `embed` from now on (the default is [`crate::embed::hashed`]), so a test can
    /// give texts of one meaning nearby vectors whatever their words.
    pub fn embed_with(&self, embed: impl Fn(&str) -> Vec<f32> + Send + Sync + 'static) {
        *self.shared.embedder.lock().unwrap() = Some(Arc::new(embed));
    }

    /// The next embedding request gets `r` (a [`Reply::Status`], [`Reply::Garbage`], or a
    /// delay [`Reply::After`] of `Reply::ok("")`) instead of vectors at once.
    pub fn reply_embedding(&self, r: Reply) {
        self.shared.embed_replies.lock().unwrap().push_back(r);
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Turns on GigaChat authentication: the OAuth endpoint issues tokens for `auth`, and chat
    /// completions (at every path) then answer only `Authorization: Bearer <a token it issued
    /// that has not expired>`, else 401 as GigaChat does.
    pub fn require_gigachat_auth(&self, auth: GigaChatAuth) {
        self.shared.gigachat.lock().unwrap().auth = Some(auth);
    }

    /// How many tokens the OAuth endpoint has issued.
    pub fn oauth_exchanges(&self) -> usize {
        self.shared.gigachat.lock().unwrap().exchanges
    }

    /// How many chat calls were refused for a missing, unknown or expired token.
    pub fn unauthorized_calls(&self) -> usize {
        self.shared.gigachat.lock().unwrap().unauthorized
    }

    /// Invalidates every issued token, as a server-side revocation would.
    pub fn revoke_tokens(&self) {
        self.shared.gigachat.lock().unwrap().tokens.clear();
    }

    /// How many TLS handshakes the mTLS fake refused (no or untrusted client certificate).
    pub fn tls_refused(&self) -> usize {
        self.tls_refused.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn router(shared: Shared) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(handle))
        .route("/api/v1/chat/completions", post(handle))
        .route("/v1/embeddings", post(handle_embeddings))
        .route("/api/v1/embeddings", post(handle_embeddings))
        .route("/api/v2/oauth", post(handle_oauth))
        .route("/v1/messages", post(handle_anthropic))
        .route("/v1beta/models/{*action}", post(handle_gemini))
        .with_state(shared)
}

fn completion(model: &str, message: Value, finish: &str, usage: Option<(u64, u64)>) -> Value {
    let mut v = json!({
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 1_700_000_000, "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    });
    if let Some((p, c)) = usage {
        v["usage"] = json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c});
    }
    v
}

/// Records a request the fake received; its JSON body (`null` when it is not JSON).
fn record(shared: &Shared, uri: &axum::http::Uri, headers: &HeaderMap, body: &str) -> Value {
    let body: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let all = headers.iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned())).collect();
    let path = uri.path_and_query().map(ToString::to_string).unwrap_or_default();
    shared.received.lock().unwrap().push(Received {
        body: body.clone(),
        authorization,
        headers: all,
        path,
        at: Instant::now(),
    });
    body
}

/// Records the request and takes the next scripted reply.
fn receive(shared: &Shared, uri: &axum::http::Uri, headers: &HeaderMap, body: &str) -> (Value, Reply) {
    let body = record(shared, uri, headers, body);
    let responder = shared.responder.lock().unwrap().clone();
    if let Some(reply) = responder.and_then(|r| r(&body)) {
        return (body, reply);
    }
    let reply =
        shared.replies.lock().unwrap().pop_front().unwrap_or(Reply::Ok { content: "ok".into(), usage: Some((1, 1)) });
    (body, reply)
}

/// A 400 in OpenAI's error shape (GigaChat's when `gigachat`).
fn bad_request(gigachat: bool, message: String) -> Response {
    let body = if gigachat {
        json!({"status": 400, "message": message})
    } else {
        json!({"error": {"message": message, "type": "invalid_request_error", "param": "response_format", "code": null}})
    };
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

/// A body as JSON, or as server-sent events when `stream`.
fn shaped(body: String, stream: bool) -> Response {
    let kind = if stream { "text/event-stream" } else { "application/json" };
    Response::builder().header("content-type", kind).body(Body::from(body)).unwrap()
}

/// The scripted content as the input of a forced tool or function: its JSON, if it is JSON.
fn as_input(content: &str) -> Option<Value> {
    serde_json::from_str(content.trim()).ok()
}

/// What the OpenAI API refuses in a request's `response_format` (platform.openai.com/docs/
/// guides/structured-outputs: with `strict: true` the root is an object, every object has
/// `additionalProperties: false` and lists every property in `required`, every value is typed,
/// only the supported keywords appear; `json_object` needs the word "JSON" in the messages).
fn openai_format_problem(body: &Value) -> Option<String> {
    let format = &body["response_format"];
    match format["type"].as_str() {
        Some("json_object") => {
            let mentions = body["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|m| m.to_string().to_lowercase().contains("json"));
            (!mentions).then(|| "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.".to_owned())
        }
        Some("json_schema") if format["json_schema"]["strict"] == true => {
            let schema = &format["json_schema"]["schema"];
            if schema["type"] != "object" {
                return Some(
                    "Invalid schema for response_format 'output': schema must be a JSON Schema of 'type: \"object\"'"
                        .into(),
                );
            }
            strict_problem(schema, "()").map(|p| format!("Invalid schema for response_format 'output': {p}"))
        }
        _ => None,
    }
}

/// The first rule of strict mode `schema` breaks, at `context`.
fn strict_problem(schema: &Value, context: &str) -> Option<String> {
    // The keywords the guide lists (what docwright sends, too), and references.
    let supported = |k: &str| crate::structured::STRICT_KEYWORDS.contains(&k) || k == "$defs" || k == "$ref";
    let Some(node) = schema.as_object() else { return Some(format!("In context={context}, schema must be an object")) };
    if let Some(key) = node.keys().find(|k| !supported(k)) {
        return Some(format!("In context={context}, '{key}' is not permitted."));
    }
    let types: Vec<&str> = match &node.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if types.is_empty() && !["anyOf", "$ref"].iter().any(|k| node.contains_key(*k)) {
        return Some(format!("In context={context}, schema must have a 'type' key."));
    }
    let fits = |v: &Value| {
        types.iter().any(|t| match *t {
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "null" => v.is_null(),
            "object" => v.is_object(),
            "array" => v.is_array(),
            _ => false,
        })
    };
    let values = node.get("enum").and_then(Value::as_array).into_iter().flatten().chain(node.get("const"));
    if let Some(v) = values.into_iter().find(|v| !types.is_empty() && !fits(v)) {
        return Some(format!(
            "In context={context}, enum value {v} does not validate against {{'type': {:?}}}.",
            types
        ));
    }
    if types.contains(&"object") {
        if node.get("additionalProperties") != Some(&json!(false)) {
            return Some(format!(
                "In context={context}, 'additionalProperties' is required to be supplied and to be false."
            ));
        }
        let props = node.get("properties").and_then(Value::as_object);
        let required: Vec<&str> =
            node.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        for (key, sub) in props.into_iter().flatten() {
            if !required.contains(&key.as_str()) {
                return Some(format!(
                    "In context={context}, 'required' is required to be supplied and to be an array including every key in properties. Missing '{key}'."
                ));
            }
            if let Some(p) = strict_problem(sub, &format!("{context}.properties.{key}")) {
                return Some(p);
            }
        }
    }
    if types.contains(&"array") {
        match node.get("items") {
            Some(items) => {
                if let Some(p) = strict_problem(items, &format!("{context}.items")) {
                    return Some(p);
                }
            }
            None => return Some(format!("In context={context}, array schema missing items.")),
        }
    }
    for (i, branch) in node.get("anyOf").and_then(Value::as_array).into_iter().flatten().enumerate() {
        if let Some(p) = strict_problem(branch, &format!("{context}.anyOf.{i}")) {
            return Some(p);
        }
    }
    None
}

/// The forced function of a GigaChat request (`function_call: {"name": ...}`), checked to be
/// one of its `functions`, as GigaChat does.
fn gigachat_forced(body: &Value) -> Result<Option<String>, String> {
    let Some(name) = body["function_call"]["name"].as_str() else { return Ok(None) };
    let declared = body["functions"].as_array().into_iter().flatten().any(|f| f["name"] == name);
    if declared { Ok(Some(name.to_owned())) } else { Err(format!("function {name} is not described in functions")) }
}

async fn handle(State(shared): State<Shared>, uri: axum::http::Uri, headers: HeaderMap, body: String) -> Response {
    let gigachat = match gigachat_bearer(&shared, &headers) {
        Ok(gigachat) => gigachat,
        Err(refused) => return refused,
    };
    let dialect_gigachat = uri.path().starts_with("/api/");
    let (body, reply) = receive(&shared, &uri, &headers, &body);
    let reply = reply.arrive().await;
    let model = body["model"].as_str().unwrap_or("unknown").to_owned();
    let forced = if dialect_gigachat {
        if let Some(problem) = tools::gigachat_problem(&body) {
            return bad_request(true, problem);
        }
        match gigachat_forced(&body) {
            Ok(forced) => forced,
            Err(message) => return bad_request(true, message),
        }
    } else {
        if let Some(problem) = openai_format_problem(&body).or_else(|| tools::openai_problem(&body)) {
            return bad_request(gigachat, problem);
        }
        None
    };
    let stream = body["stream"] == true;
    // GigaChat answers a forced function with a `function_call` message ("Работа с функциями").
    let message = |content: &str| match (&forced, as_input(content)) {
        (Some(name), Some(args)) => (
            json!({"role": "assistant", "content": "", "function_call": {"name": name, "arguments": args},
                   "functions_state_id": "77d3fb14-457a-46ba-937e-8d856156d003"}),
            "function_call",
        ),
        _ => (json!({"role": "assistant", "content": content}), "stop"),
    };
    match reply {
        Reply::After(..) => unreachable!("arrive() waited every delay out"),
        Reply::ToolCalls { calls, usage } => {
            let body = if dialect_gigachat {
                tools::gigachat(&model, &calls, usage, stream)
            } else {
                tools::openai(&model, &calls, usage, stream)
            };
            shaped(body, stream)
        }
        Reply::Ok { content, usage } => {
            let (m, finish) = message(&content);
            axum::Json(completion(&model, m, finish, usage)).into_response()
        }
        Reply::Slow(d) => {
            tokio::time::sleep(d).await;
            let (m, finish) = message("late");
            axum::Json(completion(&model, m, finish, Some((1, 1)))).into_response()
        }
        Reply::Garbage => (StatusCode::OK, [("content-type", "application/json")], "{\"choices\": [").into_response(),
        Reply::Status { status, retry_after } => {
            let message = format!("fake error {status}");
            let body = if gigachat {
                json!({"status": status, "message": message})
            } else {
                json!({"error": {"message": message, "type": "server_error", "code": null}})
            };
            let mut resp = (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
            if let Some(s) = retry_after {
                resp.headers_mut().insert("retry-after", s.to_string().parse().unwrap());
            }
            resp
        }
        Reply::Gated { before, after, usage, gate } => {
            let chunk = |delta: Value, finish: Value| {
                let c = json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_700_000_000,
                               "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
                Piece::Data(format!("data: {c}\n\n"))
            };
            let mut pieces = vec![chunk(json!({"role": "assistant", "content": ""}), Value::Null)];
            pieces.extend(before.iter().map(|d| chunk(json!({"content": d}), Value::Null)));
            pieces.push(Piece::Wait(gate));
            pieces.extend(after.iter().map(|d| chunk(json!({"content": d}), Value::Null)));
            pieces.push(chunk(json!({}), json!("stop")));
            if let Some((p, c)) = usage {
                let u = json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_700_000_000,
                               "model": model, "choices": [],
                               "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}});
                pieces.push(Piece::Data(format!("data: {u}\n\n")));
            }
            pieces.push(Piece::Data("data: [DONE]\n\n".to_owned()));
            Response::builder().header("content-type", "text/event-stream").body(gated_body(pieces)).unwrap()
        }
        Reply::Stream { deltas, usage, done } => {
            let mut out = String::new();
            let chunk = |delta: Value, finish: Value| {
                json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            };
            out.push_str(&format!("data: {}\n\n", chunk(json!({"role": "assistant", "content": ""}), Value::Null)));
            let whole = deltas.concat();
            match (&forced, as_input(&whole)) {
                // GigaChat streams a function call whole, in one chunk.
                (Some(name), Some(args)) => {
                    let call =
                        json!({"role": "assistant", "content": "", "function_call": {"name": name, "arguments": args}});
                    out.push_str(&format!("data: {}\n\n", chunk(call, json!("function_call"))));
                }
                _ => {
                    for d in &deltas {
                        out.push_str(&format!("data: {}\n\n", chunk(json!({"content": d}), Value::Null)));
                    }
                    out.push_str(&format!("data: {}\n\n", chunk(json!({}), json!("stop"))));
                }
            }
            if let Some((p, c)) = usage {
                let u = json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_700_000_000,
                               "model": model, "choices": [],
                               "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}});
                out.push_str(&format!("data: {u}\n\n"));
            }
            if done {
                out.push_str("data: [DONE]\n\n");
            }
            Response::builder().header("content-type", "text/event-stream").body(Body::from(out)).unwrap()
        }
    }
}

/// A scripted reply the fake serves only on the OpenAI protocol: 501, so the test sees why.
/// Which protocol an embedding request came in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum EmbedShape {
    /// OpenAI `POST /embeddings` (GigaChat under `/api/v1` with the same shape).
    OpenAi,
    /// Gemini `models/{model}:batchEmbedContents`.
    Gemini,
}

async fn handle_embeddings(
    State(shared): State<Shared>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Err(refused) = gigachat_bearer(&shared, &headers) {
        return refused;
    }
    embeddings(&shared, &uri, &headers, &body, EmbedShape::OpenAi).await
}

/// Answers an embedding request with the embedder's vectors (or the next scripted reply).
async fn embeddings(
    shared: &Shared,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &str,
    shape: EmbedShape,
) -> Response {
    let body = record(shared, uri, headers, body);
    let scripted = shared.embed_replies.lock().unwrap().pop_front();
    if let Some(reply) = scripted {
        match reply.arrive().await {
            Reply::Status { status, retry_after } => {
                let mut resp = (
                    StatusCode::from_u16(status).unwrap(),
                    axum::Json(json!({"error": {"message": format!("fake error {status}"), "type": "server_error"}})),
                )
                    .into_response();
                if let Some(s) = retry_after {
                    resp.headers_mut().insert("retry-after", s.to_string().parse().unwrap());
                }
                return resp;
            }
            Reply::Garbage => {
                return (StatusCode::OK, [("content-type", "application/json")], "{\"data\": [").into_response();
            }
            _ => {}
        }
    }
    let texts: Vec<String> = match shape {
        EmbedShape::OpenAi => match &body["input"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a.iter().map(|t| t.as_str().unwrap_or_default().to_owned()).collect(),
            _ => return bad_request(false, "`input` must be a string or an array of strings".into()),
        },
        EmbedShape::Gemini => body["requests"]
            .as_array()
            .map(|rs| {
                rs.iter().map(|r| r["content"]["parts"][0]["text"].as_str().unwrap_or_default().to_owned()).collect()
            })
            .unwrap_or_default(),
    };
    let embedder = shared.embedder.lock().unwrap().clone();
    let embed = |t: &str| embedder.as_ref().map_or_else(|| crate::embed::hashed(t), |e| e(t));
    match shape {
        EmbedShape::OpenAi => {
            let data: Vec<Value> = texts
                .iter()
                .enumerate()
                .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": embed(t)}))
                .collect();
            let tokens: u64 = texts.iter().map(|t| crate::estimate_tokens(t)).sum();
            let model = body["model"].as_str().unwrap_or("unknown");
            axum::Json(json!({"object": "list", "data": data, "model": model,
                              "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}))
            .into_response()
        }
        EmbedShape::Gemini => {
            let list: Vec<Value> = texts.iter().map(|t| json!({"values": embed(t)})).collect();
            axum::Json(json!({"embeddings": list})).into_response()
        }
    }
}

fn not_served(protocol: &str) -> Response {
    let message = format!("the fake serves Reply::Gated only on the OpenAI protocol, not on {protocol}");
    (StatusCode::NOT_IMPLEMENTED, axum::Json(json!({"error": {"message": message}}))).into_response()
}

/// In GigaChat mode, checks the bearer token of a chat call: `Ok(true)` when it is one the
/// OAuth endpoint issued and it has not expired, `Err(401)` otherwise. `Ok(false)` outside
/// GigaChat mode.
#[allow(clippy::result_large_err)] // The error is the response itself.
fn gigachat_bearer(shared: &Shared, headers: &HeaderMap) -> Result<bool, Response> {
    let mut g = shared.gigachat.lock().unwrap();
    if g.auth.is_none() {
        return Ok(false);
    }
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if token.and_then(|t| g.tokens.get(t)).is_some_and(|expires| Instant::now() < *expires) {
        return Ok(true);
    }
    g.unauthorized += 1;
    Err((StatusCode::UNAUTHORIZED, axum::Json(json!({"status": 401, "message": "Unauthorized"}))).into_response())
}

/// GigaChat's OAuth endpoint ("post-token"): `Authorization: Basic <authorization key>`, a UUID
/// v4 in `RqUID`, a form body `scope=<scope>`; answers `{"access_token", "expires_at"}` (Unix
/// milliseconds), or `{"code", "message"}` with 400 / 401.
async fn handle_oauth(State(shared): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let mut g = shared.gigachat.lock().unwrap();
    let Some(auth) = g.auth.clone() else { return StatusCode::NOT_FOUND.into_response() };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let refuse = |status: StatusCode, code: u32, message: &str| {
        (status, axum::Json(json!({"code": code, "message": message}))).into_response()
    };
    if header("authorization") != format!("Basic {}", auth.authorization_key) {
        return refuse(StatusCode::UNAUTHORIZED, 6, "credentials doesn't match db data");
    }
    if !uuid::Uuid::parse_str(&header("rquid")).is_ok_and(|u| u.get_version_num() == 4) {
        return refuse(StatusCode::BAD_REQUEST, 5, "RqUID header is invalid");
    }
    if !header("content-type").starts_with("application/x-www-form-urlencoded") {
        return refuse(StatusCode::BAD_REQUEST, 5, "expected a form body");
    }
    let scope = body.split('&').find_map(|kv| kv.strip_prefix("scope="));
    if scope != Some(auth.scope.as_str()) {
        return refuse(StatusCode::BAD_REQUEST, 7, "scope is invalid");
    }
    g.exchanges += 1;
    let token = format!("fake-gigachat-token-{}", g.exchanges);
    g.tokens.insert(token.clone(), Instant::now() + auth.token_lifetime);
    let expires_at = (SystemTime::now() + auth.token_lifetime).duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    axum::Json(json!({"access_token": token, "expires_at": expires_at})).into_response()
}

fn anthropic_message(model: &str, content: Value, stop: &str, usage: Option<(u64, u64)>) -> Value {
    let (i, o) = usage.unwrap_or((0, 0));
    json!({"id": "msg_fake", "type": "message", "role": "assistant", "model": model,
           "content": [content], "stop_reason": stop, "stop_sequence": null,
           "usage": {"input_tokens": i, "output_tokens": o}})
}

/// The tool an Anthropic request forces (`tool_choice: {"type": "tool", "name"}`), checked as
/// the API does: declared in `tools`, with an `input_schema` of type object.
fn anthropic_forced(body: &Value) -> Result<Option<String>, String> {
    if body["tool_choice"]["type"] != "tool" {
        return Ok(None);
    }
    let name = body["tool_choice"]["name"].as_str().unwrap_or_default();
    let tool = body["tools"].as_array().into_iter().flatten().find(|t| t["name"] == name);
    match tool {
        None => Err(format!("tool_choice: tool `{name}` is not in tools")),
        Some(t) if t["input_schema"]["type"] != "object" => {
            Err("tools.0.custom.input_schema.type: Input should be 'object'".into())
        }
        Some(_) => Ok(Some(name.to_owned())),
    }
}

async fn handle_anthropic(
    State(shared): State<Shared>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let (body, reply) = receive(&shared, &uri, &headers, &body);
    let reply = reply.arrive().await;
    let model = body["model"].as_str().unwrap_or("unknown").to_owned();
    let forced = match tools::anthropic_problem(&body).map_or_else(|| anthropic_forced(&body), Err) {
        Ok(forced) => forced,
        Err(message) => {
            let error = json!({"type": "error", "error": {"type": "invalid_request_error", "message": message}});
            return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
        }
    };
    // A forced tool answers with a `tool_use` block (docs.anthropic.com, "Tool use").
    let block = |content: &str| match (&forced, as_input(content)) {
        (Some(name), Some(input)) => {
            (json!({"type": "tool_use", "id": "toolu_fake", "name": name, "input": input}), "tool_use")
        }
        _ => (json!({"type": "text", "text": content}), "end_turn"),
    };
    let sse = |event: &str, data: Value| format!("event: {event}\ndata: {data}\n\n");
    match reply {
        Reply::After(..) => unreachable!("arrive() waited every delay out"),
        Reply::ToolCalls { calls, usage } => {
            let stream = body["stream"] == true;
            shaped(tools::anthropic(&model, &calls, usage, stream), stream)
        }
        Reply::Ok { content, usage } => {
            let (b, stop) = block(&content);
            axum::Json(anthropic_message(&model, b, stop, usage)).into_response()
        }
        Reply::Slow(d) => {
            tokio::time::sleep(d).await;
            let (b, stop) = block("late");
            axum::Json(anthropic_message(&model, b, stop, Some((1, 1)))).into_response()
        }
        Reply::Garbage => (StatusCode::OK, [("content-type", "application/json")], "{\"content\": [").into_response(),
        Reply::Gated { .. } => not_served("Anthropic"),
        Reply::Status { status, retry_after } => {
            let kind = match status {
                429 => "rate_limit_error",
                529 => "overloaded_error",
                401 => "authentication_error",
                _ => "api_error",
            };
            let mut resp = (
                StatusCode::from_u16(status).unwrap(),
                axum::Json(
                    json!({"type": "error", "error": {"type": kind, "message": format!("fake error {status}")}}),
                ),
            )
                .into_response();
            if let Some(s) = retry_after {
                resp.headers_mut().insert("retry-after", s.to_string().parse().unwrap());
            }
            resp
        }
        Reply::Stream { deltas, usage, done } => {
            let (i, o) = usage.unwrap_or((0, 0));
            let mut out = sse(
                "message_start",
                json!({"type": "message_start", "message": {"id": "msg_fake", "type": "message",
                "role": "assistant", "model": model, "content": [], "stop_reason": null, "usage": {"input_tokens": i, "output_tokens": 1}}}),
            );
            let (start, stop) = match &forced {
                Some(name) => (json!({"type": "tool_use", "id": "toolu_fake", "name": name, "input": {}}), "tool_use"),
                None => (json!({"type": "text", "text": ""}), "end_turn"),
            };
            out.push_str(&sse(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": start}),
            ));
            out.push_str(&sse("ping", json!({"type": "ping"})));
            let delta = |d: &str| match forced {
                Some(_) => json!({"type": "input_json_delta", "partial_json": d}),
                None => json!({"type": "text_delta", "text": d}),
            };
            if forced.is_some() {
                // The API opens a tool's input with an empty piece.
                out.push_str(&sse(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": 0, "delta": delta("")}),
                ));
            }
            for d in &deltas {
                out.push_str(&sse(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": 0, "delta": delta(d)}),
                ));
            }
            out.push_str(&sse("content_block_stop", json!({"type": "content_block_stop", "index": 0})));
            out.push_str(&sse("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": o}})));
            if done {
                out.push_str(&sse("message_stop", json!({"type": "message_stop"})));
            }
            Response::builder().header("content-type", "text/event-stream").body(Body::from(out)).unwrap()
        }
    }
}

fn gemini_chunk(model: &str, text: &str, finish: Option<&str>, usage: Option<(u64, u64)>) -> Value {
    let mut candidate = json!({"content": {"role": "model", "parts": [{"text": text}]}, "index": 0});
    if let Some(f) = finish {
        candidate["finishReason"] = json!(f);
    }
    let mut v = json!({"candidates": [candidate], "modelVersion": model});
    if let Some((p, c)) = usage {
        v["usageMetadata"] = json!({"promptTokenCount": p, "candidatesTokenCount": c, "totalTokenCount": p + c});
    }
    v
}

/// What the fake Gemini refuses in `generationConfig` (ai.google.dev/api/generate-content,
/// GenerationConfig): `responseSchema` beside `responseJsonSchema`, `responseJsonSchema`
/// without `responseMimeType: application/json`, and keywords of `responseJsonSchema` outside
/// the documented list (the real API may ignore some; the fake fails the test instead).
fn gemini_config_problem(config: &Value) -> Option<String> {
    // The documented list, the one docwright sends from.
    const SUPPORTED: &[&str] = crate::structured::GEMINI_KEYWORDS;
    fn unsupported(schema: &Value) -> Option<String> {
        let node = schema.as_object()?;
        for (key, v) in node {
            if !SUPPORTED.contains(&key.as_str()) {
                return Some(key.clone());
            }
            let nested: Vec<&Value> = match key.as_str() {
                "properties" | "$defs" => v.as_object().map(|m| m.values().collect()).unwrap_or_default(),
                "items" | "additionalProperties" => vec![v],
                "anyOf" | "oneOf" | "prefixItems" => v.as_array().map(|a| a.iter().collect()).unwrap_or_default(),
                _ => vec![],
            };
            if let Some(k) = nested.into_iter().find_map(unsupported) {
                return Some(k);
            }
        }
        None
    }
    let schema = config.get("responseJsonSchema")?;
    if config.get("responseSchema").is_some() {
        return Some("responseSchema and responseJsonSchema cannot both be set".into());
    }
    if config["responseMimeType"] != "application/json" {
        return Some("responseJsonSchema requires responseMimeType application/json".into());
    }
    unsupported(schema).map(|k| format!("Invalid JSON payload received. Unknown name \"{k}\" in responseJsonSchema"))
}

async fn handle_gemini(
    State(shared): State<Shared>,
    axum::extract::Path(action): axum::extract::Path<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    if action.ends_with(":batchEmbedContents") {
        return embeddings(&shared, &uri, &headers, &body, EmbedShape::Gemini).await;
    }
    let (body, reply) = receive(&shared, &uri, &headers, &body);
    let reply = reply.arrive().await;
    let model = action.split(':').next().unwrap_or("unknown").to_owned();
    if let Some(message) = gemini_config_problem(&body["generationConfig"]).or_else(|| tools::gemini_problem(&body)) {
        let error = json!({"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}});
        return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
    }
    match reply {
        Reply::After(..) => unreachable!("arrive() waited every delay out"),
        Reply::ToolCalls { calls, usage } => {
            let stream = action.contains(":streamGenerateContent");
            shaped(tools::gemini(&model, &calls, usage, stream), stream)
        }
        Reply::Ok { content, usage } => axum::Json(gemini_chunk(&model, &content, Some("STOP"), usage)).into_response(),
        Reply::Slow(d) => {
            tokio::time::sleep(d).await;
            axum::Json(gemini_chunk(&model, "late", Some("STOP"), Some((1, 1)))).into_response()
        }
        Reply::Garbage => {
            (StatusCode::OK, [("content-type", "application/json")], "{\"candidates\": [").into_response()
        }
        Reply::Gated { .. } => not_served("Gemini"),
        Reply::Status { status, retry_after } => {
            let kind = if status == 429 { "RESOURCE_EXHAUSTED" } else { "INTERNAL" };
            let mut resp = (
                StatusCode::from_u16(status).unwrap(),
                axum::Json(
                    json!({"error": {"code": status, "message": format!("fake error {status}"), "status": kind}}),
                ),
            )
                .into_response();
            if let Some(s) = retry_after {
                resp.headers_mut().insert("retry-after", s.to_string().parse().unwrap());
            }
            resp
        }
        Reply::Stream { deltas, usage, done } => {
            let (p, c) = usage.unwrap_or((0, 0));
            let mut out = String::new();
            for d in &deltas {
                out.push_str(&format!("data: {}\r\n\r\n", gemini_chunk(&model, d, None, Some((p, 0)))));
            }
            if done {
                out.push_str(&format!("data: {}\r\n\r\n", gemini_chunk(&model, "", Some("STOP"), Some((p, c)))));
            }
            Response::builder().header("content-type", "text/event-stream").body(Body::from(out)).unwrap()
        }
    }
}

/// JSON Schemas of shapes the workflow pipeline asks for, for the tests of this crate and of
/// others: an object with a required string and an optional integer; an array of receipt
/// records; a document's `elements`, each one of four kinds (`anyOf` discriminated by a
/// `const` `type`).
pub mod schemas {
    use serde_json::{Value, json};

    /// `{shop: string (required), items: integer (optional)}`, closed.
    pub fn receipt() -> Value {
        json!({"type": "object", "required": ["shop"], "additionalProperties": false,
               "properties": {"shop": {"type": "string"}, "items": {"type": "integer"}}})
    }

    /// An array of `{date, shop, CHF, VAT, Description}` records, all required.
    pub fn receipt_rows() -> Value {
        json!({"type": "array", "items": {"type": "object", "additionalProperties": false,
            "required": ["date", "shop", "CHF", "VAT", "Description"],
            "properties": {"date": {"type": "string"}, "shop": {"type": "string"}, "CHF": {"type": "number"},
                           "VAT": {"type": "number"}, "Description": {"type": "string"}}}})
    }

    /// `{elements: [heading | paragraph | list | table, ...]}` with at least one element; table
    /// cells are strings, numbers or null.
    pub fn elements() -> Value {
        let text = json!({"type": "string"});
        json!({"type": "object", "required": ["elements"], "additionalProperties": false, "properties": {
        "elements": {"type": "array", "minItems": 1, "items": {"anyOf": [
            {"type": "object", "required": ["type", "level", "text"], "additionalProperties": false,
             "properties": {"type": {"const": "heading"}, "level": {"type": "integer"}, "text": text}},
            {"type": "object", "required": ["type", "text"], "additionalProperties": false,
             "properties": {"type": {"const": "paragraph"}, "text": text}},
            {"type": "object", "required": ["type", "ordered", "items"], "additionalProperties": false,
             "properties": {"type": {"const": "list"}, "ordered": {"type": "boolean"},
                            "items": {"type": "array", "items": text}}},
            {"type": "object", "required": ["type", "columns", "rows"], "additionalProperties": false,
             "description": "A table: typed columns and rows of cells",
             "properties": {"type": {"const": "table"},
                "columns": {"type": "array", "items": {"type": "object", "required": ["name", "data_type"],
                    "additionalProperties": false, "properties": {"name": text,
                    "data_type": {"enum": ["string", "number", "date"]}}}},
                "rows": {"type": "array", "items": {"type": "array",
                    "items": {"type": ["string", "number", "null"]}}}}}
        ]}}}})
    }
}

/// Certificates for the mTLS fake, made at test time with `rcgen`: a CA, a server certificate
/// for `127.0.0.1` and `localhost`, and a client certificate, all signed by the CA.
pub struct TestPki {
    /// The CA certificate (PEM): the `ca_bundle_file` a client needs to trust the fake.
    pub ca_pem: String,
    /// A client certificate the fake accepts (PEM), and its PKCS#8 key.
    pub client_cert_pem: String,
    pub client_key_pem: String,
    server_cert_der: Vec<u8>,
    server_key_der: Vec<u8>,
    ca_der: Vec<u8>,
}

/// The files of a [`TestPki`], written by [`TestPki::write`].
pub struct PkiFiles {
    pub ca: std::path::PathBuf,
    pub client_cert: std::path::PathBuf,
    pub client_key: std::path::PathBuf,
    /// The client key as encrypted PKCS#8, under [`PkiFiles::PASSWORD`].
    pub client_key_encrypted: std::path::PathBuf,
}

impl PkiFiles {
    pub const PASSWORD: &'static str = "correct horse battery staple";
}

impl TestPki {
    pub fn generate() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "docwright test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf = |names: Vec<String>, purpose: ExtendedKeyUsagePurpose| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(names).unwrap();
            params.distinguished_name.push(DnType::CommonName, "docwright test");
            params.extended_key_usages.push(purpose);
            params.use_authority_key_identifier_extension = true;
            (params.signed_by(&key, &issuer).unwrap(), key)
        };
        let (server, server_key) =
            leaf(vec!["127.0.0.1".into(), "localhost".into()], ExtendedKeyUsagePurpose::ServerAuth);
        let (client, client_key) = leaf(vec!["client.test".into()], ExtendedKeyUsagePurpose::ClientAuth);
        Self {
            ca_pem: ca_cert.pem(),
            client_cert_pem: client.pem(),
            client_key_pem: client_key.serialize_pem(),
            server_cert_der: server.der().to_vec(),
            server_key_der: server_key.serialize_der(),
            ca_der: ca_cert.der().to_vec(),
        }
    }

    /// The client key as encrypted PKCS#8 under `password`: PBES2 with PBKDF2-SHA256 and
    /// AES-256-CBC, what `openssl pkcs8 -topk8 -v2 aes-256-cbc` writes.
    pub fn encrypted_client_key_pem(&self, password: &str) -> String {
        use pkcs8::der::{Decode as _, Document};
        let (_, doc) = Document::from_pem(&self.client_key_pem).unwrap();
        let info = pkcs8::PrivateKeyInfo::from_der(doc.as_bytes()).unwrap();
        let salt: [u8; 16] = *uuid::Uuid::new_v4().as_bytes();
        let iv: [u8; 16] = *uuid::Uuid::new_v4().as_bytes();
        let params = pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, &salt, &iv).unwrap();
        let encrypted = info.encrypt_with_params(params, password).unwrap();
        encrypted.to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF).unwrap().to_string()
    }

    /// Writes the CA, the client certificate and the client key (plain and encrypted under
    /// [`PkiFiles::PASSWORD`]) into `dir`.
    pub fn write(&self, dir: &std::path::Path) -> PkiFiles {
        let file = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        PkiFiles {
            ca: file("ca.pem", &self.ca_pem),
            client_cert: file("client.pem", &self.client_cert_pem),
            client_key: file("client.key", &self.client_key_pem),
            client_key_encrypted: file("client.enc.key", &self.encrypted_client_key_pem(PkiFiles::PASSWORD)),
        }
    }

    /// A server that demands a client certificate signed by this CA.
    fn server_config(&self) -> Arc<tokio_rustls::rustls::ServerConfig> {
        use tokio_rustls::rustls;
        use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(self.ca_der.clone())).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key_der.clone()));
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![CertificateDer::from(self.server_cert_der.clone())], key)
            .unwrap();
        Arc::new(config)
    }
}

/// TLS in front of the fake's router: handshakes run in their own tasks (a client that never
/// finishes one holds up nobody), and the streams that complete one go to `axum::serve`.
mod mtls {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::net::{TcpListener, TcpStream};
    use tokio_rustls::TlsAcceptor;
    use tokio_rustls::server::TlsStream;

    pub(super) struct TlsListener {
        streams: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, std::net::SocketAddr)>,
        addr: std::net::SocketAddr,
    }

    pub(super) fn listen(
        tcp: TcpListener,
        config: Arc<tokio_rustls::rustls::ServerConfig>,
        refused: Arc<AtomicUsize>,
    ) -> TlsListener {
        let addr = tcp.local_addr().unwrap();
        let (tx, streams) = tokio::sync::mpsc::channel(16);
        let acceptor = TlsAcceptor::from(config);
        #[allow(clippy::disallowed_methods)] // The fake lives as long as the test's runtime.
        tokio::spawn(async move {
            while let Ok((socket, peer)) = tcp.accept().await {
                let (acceptor, tx, refused) = (acceptor.clone(), tx.clone(), refused.clone());
                #[allow(clippy::disallowed_methods)] // One handshake, bounded by the client.
                tokio::spawn(async move {
                    match acceptor.accept(socket).await {
                        Ok(stream) => {
                            let _ = tx.send((stream, peer)).await;
                        }
                        Err(_) => {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        TlsListener { streams, addr }
    }

    impl axum::serve::Listener for TlsListener {
        type Io = TlsStream<TcpStream>;
        type Addr = std::net::SocketAddr;

        async fn accept(&mut self) -> (Self::Io, Self::Addr) {
            match self.streams.recv().await {
                Some(accepted) => accepted,
                // The acceptor task is gone; no connection will come again.
                None => std::future::pending().await,
            }
        }

        fn local_addr(&self) -> std::io::Result<Self::Addr> {
            Ok(self.addr)
        }
    }
}
