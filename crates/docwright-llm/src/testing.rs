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

/// What the fake answers to the next request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A chat completion with this content and usage (prompt, completion tokens).
    Ok { content: String, usage: Option<(u64, u64)> },
    /// An SSE stream of these deltas; `usage` as a final chunk; `done` sends `[DONE]`.
    Stream { deltas: Vec<String>, usage: Option<(u64, u64)>, done: bool },
    /// An error status with an OpenAI error body, and optionally `Retry-After` seconds.
    Status { status: u16, retry_after: Option<u64> },
    /// Answers only after this delay (then a normal completion).
    Slow(Duration),
    /// 200 with a body that is not JSON.
    Garbage,
}

/// A request the fake received.
#[derive(Clone, Debug)]
pub struct Received {
    pub body: Value,
    pub authorization: Option<String>,
    /// Every header, lower-cased names.
    pub headers: Vec<(String, String)>,
    /// Path and query, e.g. `/v1beta/models/gemini-x:streamGenerateContent?alt=sse`.
    pub path: String,
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
}

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
        .route("/api/v2/oauth", post(handle_oauth))
        .route("/v1/messages", post(handle_anthropic))
        .route("/v1beta/models/{*action}", post(handle_gemini))
        .with_state(shared)
}

fn completion(model: &str, content: &str, usage: Option<(u64, u64)>) -> Value {
    let mut v = json!({
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 1_700_000_000, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
    });
    if let Some((p, c)) = usage {
        v["usage"] = json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c});
    }
    v
}

/// Records the request and takes the next scripted reply.
fn receive(shared: &Shared, uri: &axum::http::Uri, headers: &HeaderMap, body: &str) -> (Value, Reply) {
    let body: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let all = headers.iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned())).collect();
    let path = uri.path_and_query().map(ToString::to_string).unwrap_or_default();
    shared.received.lock().unwrap().push(Received { body: body.clone(), authorization, headers: all, path });
    let reply =
        shared.replies.lock().unwrap().pop_front().unwrap_or(Reply::Ok { content: "ok".into(), usage: Some((1, 1)) });
    (body, reply)
}

async fn handle(State(shared): State<Shared>, uri: axum::http::Uri, headers: HeaderMap, body: String) -> Response {
    let gigachat = match gigachat_bearer(&shared, &headers) {
        Ok(gigachat) => gigachat,
        Err(refused) => return refused,
    };
    let (body, reply) = receive(&shared, &uri, &headers, &body);
    let model = body["model"].as_str().unwrap_or("unknown").to_owned();
    match reply {
        Reply::Ok { content, usage } => axum::Json(completion(&model, &content, usage)).into_response(),
        Reply::Slow(d) => {
            tokio::time::sleep(d).await;
            axum::Json(completion(&model, "late", Some((1, 1)))).into_response()
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
        Reply::Stream { deltas, usage, done } => {
            let mut out = String::new();
            let chunk = |delta: Value, finish: Value| {
                json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            };
            out.push_str(&format!("data: {}\n\n", chunk(json!({"role": "assistant", "content": ""}), Value::Null)));
            for d in &deltas {
                out.push_str(&format!("data: {}\n\n", chunk(json!({"content": d}), Value::Null)));
            }
            out.push_str(&format!("data: {}\n\n", chunk(json!({}), json!("stop"))));
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

fn anthropic_message(model: &str, content: &str, usage: Option<(u64, u64)>) -> Value {
    let (i, o) = usage.unwrap_or((0, 0));
    json!({"id": "msg_fake", "type": "message", "role": "assistant", "model": model,
           "content": [{"type": "text", "text": content}], "stop_reason": "end_turn", "stop_sequence": null,
           "usage": {"input_tokens": i, "output_tokens": o}})
}

async fn handle_anthropic(
    State(shared): State<Shared>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let (body, reply) = receive(&shared, &uri, &headers, &body);
    let model = body["model"].as_str().unwrap_or("unknown").to_owned();
    let sse = |event: &str, data: Value| format!("event: {event}\ndata: {data}\n\n");
    match reply {
        Reply::Ok { content, usage } => axum::Json(anthropic_message(&model, &content, usage)).into_response(),
        Reply::Slow(d) => {
            tokio::time::sleep(d).await;
            axum::Json(anthropic_message(&model, "late", Some((1, 1)))).into_response()
        }
        Reply::Garbage => (StatusCode::OK, [("content-type", "application/json")], "{\"content\": [").into_response(),
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
            out.push_str(&sse(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ));
            out.push_str(&sse("ping", json!({"type": "ping"})));
            for d in &deltas {
                out.push_str(&sse(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": d}}),
                ));
            }
            out.push_str(&sse("content_block_stop", json!({"type": "content_block_stop", "index": 0})));
            out.push_str(&sse("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": o}})));
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

async fn handle_gemini(
    State(shared): State<Shared>,
    axum::extract::Path(action): axum::extract::Path<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let (_, reply) = receive(&shared, &uri, &headers, &body);
    let model = action.split(':').next().unwrap_or("unknown").to_owned();
    match reply {
        Reply::Ok { content, usage } => axum::Json(gemini_chunk(&model, &content, Some("STOP"), usage)).into_response(),
        Reply::Slow(d) => {
            tokio::time::sleep(d).await;
            axum::Json(gemini_chunk(&model, "late", Some("STOP"), Some((1, 1)))).into_response()
        }
        Reply::Garbage => {
            (StatusCode::OK, [("content-type", "application/json")], "{\"candidates\": [").into_response()
        }
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
