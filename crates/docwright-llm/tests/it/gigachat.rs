//! The GigaChat provider against the fake server: `cloud` mode with the OAuth token exchange,
//! and `mtls` mode against the fake behind TLS that demands a client certificate.

use std::time::Duration;

use docwright_llm::gigachat::{GigaChat, Mode};
use docwright_llm::openai::OpenAiCompatible;
use docwright_llm::testing::{FakeOpenAi, GigaChatAuth, PkiFiles, Reply, TestPki};
use docwright_llm::tls::{ClientIdentity, KeyPassword, Tls};
use docwright_llm::{AnyProvider, ApiKey, ChatRequest, Error, Message, OutputFormat, Part, Provider, Role, Usage};
use serde_json::json;

const KEY: &str = "Y2xpZW50LWlkOmNsaWVudC1zZWNyZXQ="; // base64 of `client-id:client-secret`
const SCOPE: &str = "GIGACHAT_API_CORP";

fn key() -> ApiKey {
    ApiKey::new(KEY)
}

fn req(text: &str) -> ChatRequest {
    ChatRequest {
        model: "GigaChat-2-Max".into(),
        messages: vec![Message::text(Role::System, "be brief"), Message::text(Role::User, text)],
        ..Default::default()
    }
}

/// A fake that issues tokens living `lifetime`, and a `cloud` provider pointed at it.
async fn cloud(lifetime: Duration) -> (FakeOpenAi, AnyProvider) {
    let fake = FakeOpenAi::start().await;
    fake.require_gigachat_auth(GigaChatAuth {
        authorization_key: KEY.into(),
        scope: SCOPE.into(),
        token_lifetime: lifetime,
    });
    let mode = Mode::Cloud { auth_url: fake.oauth_url.clone(), scope: SCOPE.into() };
    let p = GigaChat::new("gigachat", &fake.gigachat_url, Duration::from_secs(5), mode, &Tls::default()).unwrap();
    (fake, AnyProvider::GigaChat(p))
}

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn one_token_exchange_serves_many_calls_even_concurrent_ones() {
    let (fake, p) = cloud(HOUR).await;
    // A cold cache and eight calls at once: one exchange, the others wait for it.
    let calls = (0..8).map(|i| {
        let p = p.clone();
        async move { p.chat(&req(&format!("call {i}")), Some(&key())).await }
    });
    for r in futures_util::future::join_all(calls).await {
        r.unwrap();
    }
    fake.reply(Reply::Ok { content: "Привет".into(), usage: Some((17, 3)) });
    let r = p.chat(&req("hi"), Some(&key())).await.unwrap();
    assert_eq!(fake.oauth_exchanges(), 1);
    assert_eq!(fake.unauthorized_calls(), 0);

    assert_eq!(r.content, "Привет");
    assert_eq!(r.usage, Usage { input_tokens: 17, output_tokens: 3, estimated: false });
    assert_eq!((r.model.as_str(), r.finish_reason.as_deref()), ("GigaChat-2-Max", Some("stop")));
    assert!(r.bytes_sent > 20 && r.bytes_received > 50);
    let got = fake.received();
    assert_eq!(got.len(), 9);
    assert!(got.iter().all(|g| g.path == "/api/v1/chat/completions"));
    assert!(got.iter().all(|g| g.authorization.as_deref() == Some("Bearer fake-gigachat-token-1")));
    let last = &got[8].body;
    assert_eq!(last["messages"], json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]));
    assert!(last.get("stream_options").is_none() && last.get("response_format").is_none());
}

#[tokio::test]
async fn tokens_are_renewed_before_they_expire() {
    let (fake, p) = cloud(Duration::from_secs(2)).await;
    p.chat(&req("one"), Some(&key())).await.unwrap();
    p.chat(&req("two"), Some(&key())).await.unwrap();
    assert_eq!(fake.oauth_exchanges(), 1);
    // Renewed ahead of the expiry (here: halfway, the token being short-lived), so no call is
    // ever refused.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    p.chat(&req("three"), Some(&key())).await.unwrap();
    assert_eq!(fake.oauth_exchanges(), 2);
    assert_eq!(fake.unauthorized_calls(), 0);
    assert_eq!(fake.received()[2].authorization.as_deref(), Some("Bearer fake-gigachat-token-2"));
}

#[tokio::test]
async fn a_refused_token_is_exchanged_again_once() {
    let (fake, p) = cloud(HOUR).await;
    p.chat(&req("one"), Some(&key())).await.unwrap();
    fake.revoke_tokens();
    fake.reply(Reply::Ok { content: "after renewal".into(), usage: Some((1, 2)) });
    let r = p.chat(&req("two"), Some(&key())).await.unwrap();
    assert_eq!(r.content, "after renewal");
    assert_eq!((fake.oauth_exchanges(), fake.unauthorized_calls()), (2, 1));

    // Streams too: the refusal comes before the first event, so the call is simply repeated.
    fake.revoke_tokens();
    fake.reply(Reply::Stream { deltas: vec!["a".into(), "b".into()], usage: Some((4, 2)), done: true });
    let (text, done) = crate::collect(&p, &req("three"), key()).await;
    assert_eq!((text.as_str(), done.unwrap().content.as_str()), ("ab", "ab"));
    assert_eq!((fake.oauth_exchanges(), fake.unauthorized_calls()), (3, 2));
}

#[tokio::test]
async fn a_token_refused_twice_is_a_final_error_after_one_renewal() {
    // Tokens that are expired when issued: every chat call is refused.
    let (fake, p) = cloud(Duration::ZERO).await;
    let err = p.chat(&req("hi"), Some(&key())).await.unwrap_err();
    assert!(matches!(&err, Error::Upstream { status: 401, message, .. } if message == "Unauthorized"), "{err}");
    assert!(!err.is_retryable());
    assert_eq!((fake.oauth_exchanges(), fake.unauthorized_calls()), (2, 2), "exactly one renewal");
}

#[tokio::test]
async fn a_wrong_authorization_key_is_a_clear_final_error() {
    let (fake, p) = cloud(HOUR).await;
    let wrong = ApiKey::new("d3Jvbmc6d3Jvbmc=");
    let err = p.chat(&req("hi"), Some(&wrong)).await.unwrap_err();
    assert!(
        matches!(&err, Error::Upstream { status: 401, message, .. } if message.contains("rejected the authorization key")),
        "{err}"
    );
    assert!(!err.is_retryable(), "a wrong key does not get better by retrying");
    assert!(!err.to_string().contains("d3Jvbmc6d3Jvbmc="), "errors never carry keys: {err}");
    assert!(fake.received().is_empty(), "no chat call without a token");
    // The right key still works (its own cache slot), with or without a `Basic ` prefix.
    p.chat(&req("hi"), Some(&key())).await.unwrap();
    p.chat(&req("hi"), Some(&ApiKey::new(format!("Basic {KEY}")))).await.unwrap();
    assert_eq!(fake.oauth_exchanges(), 1);
}

#[tokio::test]
async fn a_wrong_scope_names_the_scope() {
    let fake = FakeOpenAi::start().await;
    fake.require_gigachat_auth(GigaChatAuth {
        authorization_key: KEY.into(),
        scope: SCOPE.into(),
        token_lifetime: HOUR,
    });
    let mode = Mode::Cloud { auth_url: fake.oauth_url.clone(), scope: "GIGACHAT_API_PERS".into() };
    let p = GigaChat::new("gigachat", &fake.gigachat_url, Duration::from_secs(5), mode, &Tls::default()).unwrap();
    let err = p.chat(&req("hi"), Some(&key())).await.unwrap_err();
    assert!(
        matches!(&err, Error::Upstream { status: 400, message, .. } if message.contains("GIGACHAT_API_PERS") && message.contains("scope is invalid")),
        "{err}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn cloud_mode_needs_a_key() {
    let (fake, p) = cloud(HOUR).await;
    let err = p.chat(&req("hi"), None).await.unwrap_err();
    assert!(matches!(err, Error::NoKey { .. }), "{err}");
    assert_eq!(fake.oauth_exchanges(), 0);
}

#[tokio::test]
async fn streaming_passes_deltas_and_reports_usage() {
    let (fake, p) = cloud(HOUR).await;
    fake.reply(Reply::Stream {
        deltas: vec!["Добрый".into(), " ".into(), "день".into()],
        usage: Some((11, 5)),
        done: true,
    });
    let (text, done) = crate::collect(&p, &req("hi"), key()).await;
    let done = done.unwrap();
    assert_eq!(text, "Добрый день");
    assert_eq!(done.content, "Добрый день");
    assert_eq!(done.usage, Usage { input_tokens: 11, output_tokens: 5, estimated: false });
    assert!(done.bytes_received > 100);
    let got = &fake.received()[0];
    assert_eq!(got.body["stream"], true);
    assert!(got.body.get("stream_options").is_none(), "GigaChat has no stream_options");
    assert_eq!(got.authorization.as_deref(), Some("Bearer fake-gigachat-token-1"));
}

#[tokio::test]
async fn json_with_a_schema_is_a_forced_function_and_checked() {
    let (fake, p) = cloud(HOUR).await;
    let schema = json!({"type": "object", "required": ["total"], "properties": {"total": {"type": "number"}}});
    let mut r = req("sum it");
    r.output = OutputFormat::Json { schema: Some(schema.clone()) };
    fake.reply(Reply::Ok { content: "{\"total\": 3}".into(), usage: Some((5, 5)) });
    let answer = p.chat(&r, Some(&key())).await.unwrap();
    assert_eq!((answer.content.as_str(), answer.finish_reason.as_deref()), (r#"{"total":3}"#, Some("function_call")));
    let body = &fake.received()[0].body;
    assert!(body.get("response_format").is_none());
    assert_eq!(body["function_call"], json!({"name": "respond"}));
    assert_eq!(body["functions"][0]["parameters"], schema);
    assert_eq!(body["messages"][0], json!({"role": "system", "content": "be brief"}));
    // Text instead of the function call, or arguments of another shape: no answer.
    fake.reply(Reply::Ok { content: "three".into(), usage: Some((5, 5)) });
    let err = p.chat(&r, Some(&key())).await.unwrap_err();
    assert!(matches!(&err, Error::InvalidOutput { detail, .. } if detail.contains("respond")), "{err}");
    fake.reply(Reply::Ok { content: "{\"total\": \"3\"}".into(), usage: Some((5, 5)) });
    assert!(matches!(p.chat(&r, Some(&key())).await.unwrap_err(), Error::InvalidOutput { .. }));
    // Streamed: the call comes whole in one chunk, and is the one delta.
    fake.reply(Reply::Stream { deltas: vec!["{\"total\":".into(), " 4}".into()], usage: Some((5, 5)), done: true });
    let (text, done) = crate::collect(&p, &r, key()).await;
    assert_eq!((text.as_str(), done.unwrap().content.as_str()), (r#"{"total":4}"#, r#"{"total":4}"#));
    fake.reply(Reply::Stream { deltas: vec!["four".into()], usage: Some((5, 5)), done: true });
    let (_, done) = crate::collect(&p, &r, key()).await;
    assert!(matches!(done, Err(Error::InvalidOutput { .. })), "{done:?}");
}

#[tokio::test]
async fn json_without_a_schema_is_asked_for_in_the_system_prompt() {
    let (fake, p) = cloud(HOUR).await;
    let mut r = req("sum it");
    r.output = OutputFormat::Json { schema: None };
    fake.reply(Reply::Ok { content: "{\"total\": 3}".into(), usage: Some((5, 5)) });
    assert_eq!(p.chat(&r, Some(&key())).await.unwrap().content, "{\"total\": 3}");
    let body = &fake.received()[0].body;
    assert!(body.get("functions").is_none());
    let system = body["messages"][0]["content"].as_str().unwrap();
    assert!(system.starts_with("be brief\n\nAnswer with a single JSON object"), "{system}");
}

#[tokio::test]
async fn images_are_refused_before_any_call() {
    let (fake, p) = cloud(HOUR).await;
    let mut r = req("");
    r.messages = vec![Message {
        role: Role::User,
        parts: vec![Part::Text("what is this".into()), Part::Image { mime_type: "image/png".into(), data: vec![1] }],
    }];
    let err = p.chat(&r, Some(&key())).await.unwrap_err();
    assert!(matches!(&err, Error::Unsupported { detail, .. } if detail.contains("image")), "{err}");
    assert!(!err.is_retryable());
    let (_, done) = crate::collect(&p, &r, key()).await;
    assert!(matches!(done.unwrap_err(), Error::Unsupported { .. }));
    assert!(fake.received().is_empty() && fake.oauth_exchanges() == 0);
}

#[tokio::test]
async fn upstream_errors_carry_gigachats_message() {
    let (fake, p) = cloud(HOUR).await;
    fake.reply(Reply::Status { status: 503, retry_after: None });
    let err = p.chat(&req("hi"), Some(&key())).await.unwrap_err();
    assert!(matches!(&err, Error::Upstream { status: 503, message, .. } if message == "fake error 503"), "{err}");
    assert!(err.is_retryable());
    fake.reply(Reply::Status { status: 429, retry_after: Some(2) });
    let err = p.chat(&req("hi"), Some(&key())).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
}

#[tokio::test]
async fn an_unreachable_oauth_endpoint_is_a_transport_error() {
    let fake = FakeOpenAi::start().await;
    let mode = Mode::Cloud { auth_url: "http://127.0.0.1:1/api/v2/oauth".into(), scope: SCOPE.into() };
    let p = GigaChat::new("gigachat", &fake.gigachat_url, Duration::from_secs(2), mode, &Tls::default()).unwrap();
    let err = p.chat(&req("hi"), Some(&key())).await.unwrap_err();
    assert!(matches!(&err, Error::Transport { detail, .. } if detail.contains("OAuth")), "{err}");
    assert!(err.is_retryable());
    assert!(!err.to_string().contains(KEY));
}

// --- mtls ---------------------------------------------------------------------------------

struct Mtls {
    fake: FakeOpenAi,
    files: PkiFiles,
    _dir: tempfile::TempDir,
}

async fn mtls() -> Mtls {
    let pki = TestPki::generate();
    let dir = tempfile::tempdir().unwrap();
    let files = pki.write(dir.path());
    Mtls { fake: FakeOpenAi::start_mtls(&pki).await, files, _dir: dir }
}

fn identity(cert: &std::path::Path, key: &std::path::Path, password: Option<&str>) -> Option<ClientIdentity> {
    Some(ClientIdentity { cert_file: cert.into(), key_file: key.into(), key_password: password.map(KeyPassword::new) })
}

fn mtls_provider(m: &Mtls, tls: &Tls) -> docwright_llm::Result<AnyProvider> {
    let p = GigaChat::new("gigachat", &m.fake.gigachat_url, Duration::from_secs(5), Mode::Mtls, tls)?;
    Ok(AnyProvider::GigaChat(p))
}

#[tokio::test]
async fn mtls_calls_present_the_client_certificate_and_no_token() {
    let m = mtls().await;
    let tls = Tls {
        ca_bundle_file: Some(m.files.ca.clone()),
        client_identity: identity(&m.files.client_cert, &m.files.client_key, None),
    };
    let p = mtls_provider(&m, &tls).unwrap();
    m.fake.reply(Reply::Ok { content: "over mTLS".into(), usage: Some((3, 2)) });
    // A key given anyway (say, a tenant's) is not sent: the certificate authenticates.
    let r = p.chat(&req("hi"), Some(&key())).await.unwrap();
    assert_eq!(r.content, "over mTLS");
    assert_eq!(r.usage, Usage { input_tokens: 3, output_tokens: 2, estimated: false });
    m.fake.reply(Reply::Stream { deltas: vec!["s".into(), "t".into()], usage: Some((1, 1)), done: true });
    let (text, _) = crate::collect(&p, &req("hi"), key()).await;
    assert_eq!(text, "st");
    let got = m.fake.received();
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|g| g.authorization.is_none()));
    assert_eq!(m.fake.oauth_exchanges(), 0);
    assert_eq!(m.fake.tls_refused(), 0);
}

#[tokio::test]
async fn an_encrypted_key_is_read_with_its_password() {
    let m = mtls().await;
    let tls = Tls {
        ca_bundle_file: Some(m.files.ca.clone()),
        client_identity: identity(&m.files.client_cert, &m.files.client_key_encrypted, Some(PkiFiles::PASSWORD)),
    };
    let r = mtls_provider(&m, &tls).unwrap().chat(&req("hi"), None).await.unwrap();
    assert_eq!(r.content, "ok");
}

#[tokio::test]
async fn other_protocols_take_the_same_tls_settings() {
    // A local OpenAI-compatible server behind a company CA that wants client certificates.
    let m = mtls().await;
    let tls = Tls {
        ca_bundle_file: Some(m.files.ca.clone()),
        client_identity: identity(&m.files.client_cert, &m.files.client_key, None),
    };
    let p = docwright_llm::openai::OpenAiCompatible::with_tls("local", &m.fake.base_url, Duration::from_secs(5), &tls)
        .unwrap();
    m.fake.reply(Reply::Ok { content: "through the company CA".into(), usage: Some((1, 1)) });
    assert_eq!(p.chat(&req("hi"), None).await.unwrap().content, "through the company CA");
    assert_eq!(m.fake.tls_refused(), 0);
}

/// Builds an mTLS provider that must fail; answers the error's text.
fn config_error(m: &Mtls, client_identity: Option<ClientIdentity>) -> String {
    let tls = Tls { ca_bundle_file: Some(m.files.ca.clone()), client_identity };
    match mtls_provider(m, &tls) {
        Ok(_) => panic!("expected a configuration error"),
        Err(e @ Error::Config { .. }) => {
            assert!(!e.is_retryable());
            e.to_string()
        }
        Err(e) => panic!("expected a configuration error, got {e}"),
    }
}

#[tokio::test]
async fn key_file_problems_are_named_at_construction() {
    let m = mtls().await;
    let (cert, enc) = (&m.files.client_cert, &m.files.client_key_encrypted);
    let enc_shown = enc.display().to_string();

    let e = config_error(&m, identity(cert, enc, Some("hunter2-not-it")));
    assert!(e.contains("client_key_password does not decrypt") && e.contains(&enc_shown), "{e}");
    assert!(!e.contains("hunter2-not-it"), "the password never shows: {e}");

    let e = config_error(&m, identity(cert, enc, None));
    assert!(e.contains("is encrypted: set client_key_password"), "{e}");

    let e = config_error(&m, identity(cert, &m.files.client_key, Some("pw")));
    assert!(e.contains("not an encrypted PKCS#8 key"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let legacy = write(
        "legacy.key",
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n",
    );
    let e = config_error(&m, identity(cert, &legacy, Some("pw")));
    assert!(e.contains("legacy OpenSSL format") && e.contains("openssl pkcs8 -topk8"), "{e}");

    let garbage = write("garbage.pem", "this is not PEM\n");
    let e = config_error(&m, identity(cert, &garbage, None));
    assert!(e.contains("client_key_file") && e.contains("no PEM private key"), "{e}");
    let e = config_error(&m, identity(&garbage, &m.files.client_key, None));
    assert!(e.contains("client_cert_file") && e.contains("no PEM certificate"), "{e}");

    let missing = dir.path().join("missing.pem");
    let e = config_error(&m, identity(cert, &missing, None));
    assert!(e.contains("cannot read client_key_file") && e.contains("missing.pem"), "{e}");
    let tls = Tls { ca_bundle_file: Some(garbage), client_identity: identity(cert, &m.files.client_key, None) };
    let e = mtls_provider(&m, &tls).unwrap_err().to_string();
    assert!(e.contains("ca_bundle_file") && e.contains("garbage.pem"), "{e}");

    // mtls mode without a client certificate at all.
    let e = mtls_provider(&m, &Tls { ca_bundle_file: Some(m.files.ca.clone()), client_identity: None })
        .unwrap_err()
        .to_string();
    assert!(e.contains("client_cert_file"), "{e}");
}

#[tokio::test]
async fn the_server_refuses_clients_without_a_trusted_certificate() {
    let m = mtls().await;
    // Trusting the server but presenting no certificate (a plain OpenAI-compatible client with
    // the CA bundle): the handshake is refused, which the client sees as a connection failure.
    let tls = Tls { ca_bundle_file: Some(m.files.ca.clone()), client_identity: None };
    let p = OpenAiCompatible::with_tls("internal", &m.fake.base_url, Duration::from_secs(5), &tls).unwrap();
    let err = p.chat(&req("hi"), None).await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");

    // A certificate from another CA is refused the same way.
    let stranger = TestPki::generate();
    let dir = tempfile::tempdir().unwrap();
    let other = stranger.write(dir.path());
    let tls = Tls {
        ca_bundle_file: Some(m.files.ca.clone()),
        client_identity: identity(&other.client_cert, &other.client_key, None),
    };
    let err = mtls_provider(&m, &tls).unwrap().chat(&req("hi"), None).await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
    assert!(m.fake.tls_refused() >= 2, "the server refused both handshakes");
    assert!(m.fake.received().is_empty());

    // The same OpenAI-compatible client with the client certificate gets through.
    let tls = Tls {
        ca_bundle_file: Some(m.files.ca.clone()),
        client_identity: identity(&m.files.client_cert, &m.files.client_key, None),
    };
    let p = OpenAiCompatible::with_tls("internal", &m.fake.base_url, Duration::from_secs(5), &tls).unwrap();
    assert_eq!(p.chat(&req("hi"), None).await.unwrap().content, "ok");
}

#[tokio::test]
async fn the_ca_bundle_is_needed_to_trust_the_server() {
    let m = mtls().await;
    let tls = Tls { ca_bundle_file: None, client_identity: identity(&m.files.client_cert, &m.files.client_key, None) };
    let err = mtls_provider(&m, &tls).unwrap().chat(&req("hi"), None).await.unwrap_err();
    assert!(matches!(&err, Error::Transport { .. }), "{err}");
    assert!(m.fake.received().is_empty());
}
