//! GigaChat (Sber): an OpenAI-like chat API with its own way of authenticating.
//!
//! Follows the public API reference (developers.sber.ru/docs/ru/gigachat/api/reference/rest):
//! "post-chat", `POST {base}/chat/completions` with `Authorization: Bearer <access token>`,
//! answers and server-sent event streams shaped like OpenAI's (ending in `data: [DONE]`), usage
//! in `usage.prompt_tokens` / `completion_tokens`. The request body, the parsing and the stream
//! are [`crate::openai`]'s, in its GigaChat dialect (one leading system message, string
//! contents, no `stream_options`).
//!
//! Structured output: GigaChat documents forcing a function call ("Работа с функциями",
//! developers.sber.ru/docs/ru/gigachat/guides/functions/function-calling-modes:
//! `function_call: {"name": ...}` makes the model generate arguments for that function of
//! `functions`, whose `parameters` are a JSON Schema), so a JSON Schema is sent as the
//! parameters of a function `respond` the model must call, and the answer's
//! `message.function_call.arguments` (an object) is the answer, checked against the caller's
//! schema like any other; a non-object schema is wrapped as `{"value": ...}` and unwrapped. A
//! stream carries the call whole in one chunk, so it is one delta. GigaChat also has a
//! `response_format` with a JSON Schema, which its own SDK marks beta ("may not work correctly
//! with all model versions") and its REST reference does not describe: not used. JSON without
//! a schema is asked for in the system prompt.
//!
//! Two [`Mode`]s:
//! - `cloud`: the key given to each call is the *authorization key* (base64 of
//!   `client_id:client_secret`; callers may bring their own). It is exchanged for an access
//!   token at the OAuth endpoint ("post-token": `POST {auth_url}` with
//!   `Authorization: Basic <key>`, a UUID v4 in `RqUID`, form body `scope=<scope>`; the answer
//!   is `{"access_token": ..., "expires_at": <Unix ms>}`, valid for 30 minutes). Tokens are
//!   cached per key, under the SHA-256 of the key (the key itself is neither kept nor logged),
//!   until shortly before they expire; calls with the same key wait for one exchange instead of
//!   each making their own. A chat answered 401 drops its token and is tried once more with a
//!   fresh one. OAuth failures are [`Error::Upstream`] with the OAuth endpoint's status: a 401
//!   there means the key is wrong, and is not retryable.
//! - `mtls`: no token and no key; the client certificate of [`crate::tls::ClientIdentity`]
//!   authenticates every call.
//!
//! Images need a separate upload (`POST /files`, then the file id in `attachments`), which this
//! client does not do: requests with image parts fail with [`Error::Unsupported`] before any
//! network call, so GigaChat models should not be given the `vision` capability.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};

use crate::openai::{Dialect, OpenAiCompatible};
use crate::tls::Tls;
use crate::{
    ApiKey, ChatRequest, ChatResponse, ChatStream, EmbedRequest, EmbedResponse, Error, Part, Provider, Result, wire,
};

/// The public API, up to and including the version.
pub const DEFAULT_BASE_URL: &str = "https://gigachat.devices.sberbank.ru/api/v1";
/// The public OAuth endpoint of `cloud` mode.
pub const DEFAULT_AUTH_URL: &str = "https://ngw.devices.sberbank.ru:9443/api/v2/oauth";
/// The scope of personal (individual) API access. Others: `GIGACHAT_API_B2B` (businesses on
/// prepaid packages) and `GIGACHAT_API_CORP` (businesses, postpaid).
pub const DEFAULT_SCOPE: &str = "GIGACHAT_API_PERS";

/// A token is renewed this long before it expires (or halfway, for very short-lived ones).
const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// Past this many cached keys, keys without a fresh token are forgotten.
const MAX_CACHED_KEYS: usize = 1024;

/// How calls are authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// An OAuth token exchanged for the authorization key given to each call.
    Cloud { auth_url: String, scope: String },
    /// A client certificate (the [`Tls`] settings must carry one); no key, no token.
    Mtls,
}

impl Mode {
    /// `cloud` against the public OAuth endpoint with the personal scope.
    pub fn cloud() -> Self {
        Mode::Cloud { auth_url: DEFAULT_AUTH_URL.to_owned(), scope: DEFAULT_SCOPE.to_owned() }
    }
}

/// A provider speaking the GigaChat API.
#[derive(Debug, Clone)]
pub struct GigaChat {
    chat: OpenAiCompatible,
    /// `None` in `mtls` mode. Shared by clones, so one cache serves the whole process.
    oauth: Option<Arc<OAuth>>,
}

impl GigaChat {
    /// `base_url` up to and including the version ([`DEFAULT_BASE_URL`]). The OAuth exchange
    /// uses the same HTTP client, so `tls` (e.g. a CA bundle with the Russian Trusted Root CA)
    /// applies to both hosts.
    pub fn new(name: impl Into<String>, base_url: &str, timeout: Duration, mode: Mode, tls: &Tls) -> Result<Self> {
        let name = name.into();
        let config = |detail: &str| Error::Config { provider: name.clone(), detail: detail.to_owned() };
        let oauth = match mode {
            Mode::Mtls if tls.client_identity.is_none() => {
                return Err(config("mtls mode needs a client certificate and key (client_cert_file, client_key_file)"));
            }
            Mode::Mtls => None,
            Mode::Cloud { auth_url, scope } => {
                if !(auth_url.starts_with("https://") || auth_url.starts_with("http://")) {
                    return Err(config("auth_url must be an http(s) URL"));
                }
                if scope.is_empty() || !scope.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(config("scope must be a GigaChat scope such as GIGACHAT_API_PERS"));
                }
                Some(Arc::new(OAuth { url: auth_url, scope, slots: Mutex::default() }))
            }
        };
        let ep = wire::Endpoint::with_tls(name, base_url, timeout, tls)?;
        Ok(Self { chat: OpenAiCompatible::from_endpoint(ep, Dialect::GigaChat), oauth })
    }

    fn ep(&self) -> &wire::Endpoint {
        self.chat.endpoint()
    }

    /// Refuses what GigaChat cannot take inline, before any network call.
    fn check(&self, req: &ChatRequest) -> Result<()> {
        if req.messages.iter().flat_map(|m| &m.parts).any(|p| matches!(p, Part::Image { .. })) {
            return Err(Error::Unsupported {
                provider: self.ep().name.clone(),
                detail: "image parts (GigaChat takes images only as uploaded files, which docwright does not \
                         upload); send text, or use a vision model of another provider"
                    .to_owned(),
            });
        }
        Ok(())
    }

    /// Runs `call` with the bearer token this mode needs: none in `mtls` mode; in `cloud` mode a
    /// cached or freshly exchanged token, and once more with a new token if the first is refused.
    async fn authorized<T, F, Fut>(&self, key: Option<&ApiKey>, call: F) -> Result<T>
    where
        F: Fn(Option<String>) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let Some(oauth) = &self.oauth else { return call(None).await };
        let key = key.ok_or_else(|| Error::NoKey { provider: self.ep().name.clone() })?;
        let token = oauth.token(self.ep(), key).await?;
        match call(Some(token.clone())).await {
            // Revoked, or expired earlier than announced: one more try with a new token.
            Err(Error::Upstream { status: 401, .. }) => {
                oauth.forget(key, &token).await;
                let token = oauth.token(self.ep(), key).await?;
                call(Some(token)).await
            }
            other => other,
        }
    }
}

impl Provider for GigaChat {
    fn name(&self) -> &str {
        &self.ep().name
    }

    async fn chat(&self, req: &ChatRequest, key: Option<&ApiKey>) -> Result<ChatResponse> {
        self.check(req)?;
        self.authorized(key, |token| async move { self.chat.chat_as(req, token.as_deref()).await }).await
    }

    async fn chat_stream(&self, req: &ChatRequest, key: Option<&ApiKey>) -> Result<ChatStream> {
        self.check(req)?;
        self.authorized(key, |token| async move { self.chat.chat_stream_as(req, token.as_deref()).await }).await
    }

    /// GigaChat's `POST /embeddings` has OpenAI's shape (developers.sber.ru/docs/ru/gigachat/api/reference/rest/post-embeddings).
    async fn embed(&self, req: &EmbedRequest, key: Option<&ApiKey>) -> Result<EmbedResponse> {
        self.authorized(key, |token| async move { self.chat.embed_as(req, token.as_deref()).await }).await
    }
}

/// Access tokens of `cloud` mode, one slot per authorization key.
struct OAuth {
    url: String,
    scope: String,
    /// Keyed by the SHA-256 of the authorization key. Each slot has its own async lock, held
    /// during an exchange, so concurrent calls with one key exchange it once.
    slots: Mutex<HashMap<[u8; 32], Slot>>,
}

type Slot = Arc<tokio::sync::Mutex<Option<Token>>>;

#[derive(Clone)]
struct Token {
    value: String,
    refresh_at: Instant,
}

impl Token {
    fn fresh(&self) -> bool {
        Instant::now() < self.refresh_at
    }
}

impl std::fmt::Debug for OAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Tokens and key digests stay out of debug output.
        f.debug_struct("OAuth").field("url", &self.url).field("scope", &self.scope).finish_non_exhaustive()
    }
}

/// The authorization key as the OAuth endpoint wants it (some copy it with its `Basic `).
fn authorization_key(key: &ApiKey) -> &str {
    let k = key.expose().trim();
    k.strip_prefix("Basic ").unwrap_or(k).trim()
}

impl OAuth {
    fn slot(&self, key: &ApiKey) -> Slot {
        let id: [u8; 32] = Sha256::digest(authorization_key(key).as_bytes()).into();
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if slots.len() >= MAX_CACHED_KEYS && !slots.contains_key(&id) {
            // Keep slots in use (someone holds the Arc) and slots with a fresh token.
            slots.retain(|_, slot| {
                Arc::strong_count(slot) > 1 || slot.try_lock().map_or(true, |t| t.as_ref().is_some_and(Token::fresh))
            });
        }
        slots.entry(id).or_default().clone()
    }

    /// A token for `key`: the cached one while fresh, else a new one from the OAuth endpoint.
    async fn token(&self, ep: &wire::Endpoint, key: &ApiKey) -> Result<String> {
        let slot = self.slot(key);
        let mut cached = slot.lock().await;
        if let Some(t) = cached.as_ref().filter(|t| t.fresh()) {
            return Ok(t.value.clone());
        }
        let token = self.exchange(ep, key).await?;
        let value = token.value.clone();
        *cached = Some(token);
        Ok(value)
    }

    /// Drops `used` from the cache unless another call has replaced it already.
    async fn forget(&self, key: &ApiKey, used: &str) {
        let slot = self.slot(key);
        let mut cached = slot.lock().await;
        if cached.as_ref().is_some_and(|t| t.value == used) {
            *cached = None;
        }
    }

    async fn exchange(&self, ep: &wire::Endpoint, key: &ApiKey) -> Result<Token> {
        let basic = format!("Basic {}", authorization_key(key));
        let rq_uid = uuid::Uuid::new_v4().to_string();
        let headers = [("authorization", basic.as_str()), ("RqUID", rq_uid.as_str()), ("accept", "application/json")];
        // The scope is letters, digits and `_` (checked in `GigaChat::new`): nothing to escape.
        let form = format!("scope={}", self.scope);
        let (response, _) = ep.post_form(&self.url, &headers, form).await.map_err(|e| self.explain(e))?;
        let (v, _) = ep.read_json(response).await?;
        // The reference answers `access_token` / `expires_at` (ms); older answers were `tok` /
        // `exp` (seconds).
        let value = v["access_token"]
            .as_str()
            .or(v["tok"].as_str())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ep.malformed("the OAuth answer has no access_token"))?;
        let expires = v["expires_at"]
            .as_u64()
            .or(v["exp"].as_u64())
            .ok_or_else(|| ep.malformed("the OAuth answer has no expires_at"))?;
        let expires_ms = if expires < 100_000_000_000 { expires.saturating_mul(1000) } else { expires };
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let left = Duration::from_millis(expires_ms.saturating_sub(now_ms));
        let refresh_at = Instant::now() + (left - REFRESH_MARGIN.min(left / 2));
        tracing::debug!(provider = %ep.name, valid_secs = left.as_secs(), "GigaChat access token exchanged");
        Ok(Token { value: value.to_owned(), refresh_at })
    }

    /// Says which step failed, and what a 401 or 400 there means.
    fn explain(&self, e: Error) -> Error {
        match e {
            Error::Upstream { provider, status: 401, message } => Error::Upstream {
                provider,
                status: 401,
                message: format!("the OAuth endpoint rejected the authorization key ({message}); check the key"),
            },
            Error::Upstream { provider, status, message } => Error::Upstream {
                provider,
                status,
                message: format!("OAuth token exchange (scope {}): {message}", self.scope),
            },
            Error::Transport { provider, detail } => {
                Error::Transport { provider, detail: format!("OAuth token exchange: {detail}") }
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_taken_with_or_without_their_basic_prefix() {
        assert_eq!(authorization_key(&ApiKey::new(" Basic abc= \n")), "abc=");
        assert_eq!(authorization_key(&ApiKey::new("abc=")), "abc=");
    }

    #[test]
    fn construction_checks_the_mode() {
        let t = Duration::from_secs(5);
        let err = GigaChat::new("g", DEFAULT_BASE_URL, t, Mode::Mtls, &Tls::default()).unwrap_err();
        assert!(matches!(&err, Error::Config { detail, .. } if detail.contains("client_cert_file")), "{err}");
        let bad_scope = Mode::Cloud { auth_url: DEFAULT_AUTH_URL.into(), scope: "A B".into() };
        assert!(GigaChat::new("g", DEFAULT_BASE_URL, t, bad_scope, &Tls::default()).is_err());
        let g = GigaChat::new("g", DEFAULT_BASE_URL, t, Mode::cloud(), &Tls::default()).unwrap();
        assert_eq!(crate::AnyProvider::GigaChat(g).kind(), "gigachat");
    }

    #[test]
    fn the_cache_forgets_stale_keys_beyond_its_bound() {
        let oauth = OAuth { url: String::new(), scope: String::new(), slots: Mutex::default() };
        for i in 0..MAX_CACHED_KEYS + 10 {
            drop(oauth.slot(&ApiKey::new(format!("key-{i}"))));
        }
        assert!(oauth.slots.lock().unwrap().len() <= MAX_CACHED_KEYS);
    }
}
