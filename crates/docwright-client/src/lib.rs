//! A typed async client of docwright's HTTP API (SPEC U2).
//!
//! [`Client::new`] takes the server's base URL and a static login token; the first request
//! exchanges the token for a session (`POST /auth/exchange`), and the access token is renewed
//! before it expires (`POST /auth/refresh`, which rotates the refresh token). When the refresh
//! token has expired too, the client logs in again from the static token; only a client made
//! from a session alone ([`Client::with_session`]) answers [`Error::TokenExpired`] then. A
//! client of an API key ([`Client::with_api_key`]) sends the key as it is.
//!
//! Requests and answers are the server's own wire types (`docwright-api`). Streams (a chat's
//! answer) are async iterators of typed events; uploads stream from disk and downloads to disk,
//! each with a progress callback. [`ROUTES`] lists the routes this client calls; a test checks
//! them against the server's `/openapi.json`.

mod error;
mod socket;
mod sse;

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use docwright_api as api;
use docwright_api::PageOf;
use docwright_api::ai::{AcceptedOut, ProcessIn, ResultOut, StatusOut};
use docwright_api::auth::{ExchangeRequest, LogoutRequest, LogoutResponse, RefreshRequest, TokenResponse};
use docwright_api::automations::{
    ActionsOut, AutomationIn, AutomationOut, AutomationPatch, EstimateOut, RunOut, SaveAsTemplateIn, TemplateIn,
    TemplateOut,
};
use docwright_api::billing::{BalanceOut, TransactionOut};
use docwright_api::chats::{ChatDetailOut, ChatIn, ChatOut, MessageIn};
use docwright_api::collections::{CollectionFileIn, CollectionFileOut, CollectionIn, CollectionOut, CollectionPatchIn};
use docwright_api::events::{ChatEvent, RawEvent, WorkflowEvent};
use docwright_api::files::FileOut;
use docwright_api::jobs::JobOut;
use docwright_api::keys::{ApiKeyOut, CreateKeyRequest, CreatedKey};
use docwright_api::me::{MeResponse, SettingsOut, SettingsPatch};
use docwright_api::page::PageParams;
use docwright_api::projects::{
    ClientIn, ClientOut, DocumentIn, DocumentOut, DocumentPatchIn, DocumentResultsOut, FolderIn, FolderOut,
    FolderPatchIn, ProjectIn, ProjectOut, ProjectPatchIn, SearchOut, TreeOut,
};
use docwright_api::prompts::{ClassifyIn, ClassifyOut, PromptCategoryOut, PromptPresetOut, RoleOut};
use docwright_api::sync::{ResyncOut, SyncDocumentOut, SyncSourceIn, SyncSourceOut, SyncSourcePatch};
use docwright_api::workflows::{WorkflowIn, WorkflowOut};
pub use error::{Error, Refusal, Result};
use futures_util::{Stream, StreamExt as _};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
pub use socket::ChatSocket;
use tokio::io::AsyncWriteExt as _;
use tokio::sync::Mutex;

/// The routes this client calls: method and path template as `/openapi.json` names them.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/auth/exchange"),
    ("POST", "/auth/refresh"),
    ("POST", "/auth/logout"),
    ("GET", "/me"),
    ("PATCH", "/me/settings"),
    ("POST", "/api/keys"),
    ("GET", "/api/keys"),
    ("DELETE", "/api/keys/{id}"),
    ("POST", "/files/upload"),
    ("GET", "/files/{id}"),
    ("GET", "/files/{id}/content"),
    ("DELETE", "/files/{id}"),
    ("POST", "/chats"),
    ("GET", "/chats"),
    ("GET", "/chats/{id}"),
    ("DELETE", "/chats/{id}"),
    ("POST", "/chats/{id}/messages"),
    ("GET", "/chats/{id}/events"),
    ("GET", "/chats/{id}/stream"),
    ("GET", "/prompts/roles"),
    ("GET", "/api/prompts/categories"),
    ("GET", "/api/prompts/presets"),
    ("GET", "/api/prompts/presets/{id}"),
    ("POST", "/api/prompts/classify"),
    ("POST", "/projects/clients"),
    ("GET", "/projects/clients"),
    ("GET", "/projects/clients/{id}"),
    ("PATCH", "/projects/clients/{id}"),
    ("DELETE", "/projects/clients/{id}"),
    ("POST", "/projects"),
    ("GET", "/projects/{id}"),
    ("PATCH", "/projects/{id}"),
    ("DELETE", "/projects/{id}"),
    ("POST", "/projects/{id}/folders"),
    ("PATCH", "/projects/folders/{id}"),
    ("DELETE", "/projects/folders/{id}"),
    ("POST", "/projects/{id}/documents"),
    ("PATCH", "/projects/documents/{id}"),
    ("DELETE", "/projects/documents/{id}"),
    ("GET", "/projects/documents/{id}/results"),
    ("GET", "/projects/tree"),
    ("GET", "/projects/search"),
    ("GET", "/api/collections"),
    ("POST", "/api/collections"),
    ("GET", "/api/collections/{id}"),
    ("PATCH", "/api/collections/{id}"),
    ("DELETE", "/api/collections/{id}"),
    ("GET", "/api/collections/{id}/files"),
    ("POST", "/api/collections/{id}/files"),
    ("DELETE", "/api/collections/{id}/files/{file_id}"),
    ("GET", "/api/collections/{id}/search"),
    ("POST", "/api/workflows"),
    ("GET", "/api/workflows"),
    ("GET", "/api/workflows/{id}"),
    ("POST", "/api/workflows/{id}/cancel"),
    ("GET", "/api/workflows/{id}/events"),
    ("GET", "/api/billing/balance"),
    ("GET", "/api/billing/transactions"),
    ("POST", "/api/ai/process"),
    ("GET", "/api/ai/status/{id}"),
    ("GET", "/api/ai/result/{id}"),
    ("POST", "/api/ai/cancel/{id}"),
    ("GET", "/api/automation-templates"),
    ("GET", "/api/automation-templates/{id}"),
    ("POST", "/api/automation-templates"),
    ("PUT", "/api/automation-templates/{id}"),
    ("DELETE", "/api/automation-templates/{id}"),
    ("GET", "/api/automations/actions"),
    ("GET", "/api/automations"),
    ("POST", "/api/automations"),
    ("GET", "/api/automations/{id}"),
    ("PUT", "/api/automations/{id}"),
    ("DELETE", "/api/automations/{id}"),
    ("POST", "/api/automations/{id}/save-as-template"),
    ("POST", "/api/automations/{id}/run"),
    ("GET", "/api/automations/{id}/estimate"),
    ("GET", "/api/admin/jobs"),
    ("POST", "/api/admin/jobs/{id}/retry"),
    ("POST", "/api/admin/jobs/{id}/cancel"),
    ("GET", "/api/admin/sync/sources"),
    ("POST", "/api/admin/sync/sources"),
    ("GET", "/api/admin/sync/sources/{id}"),
    ("PATCH", "/api/admin/sync/sources/{id}"),
    ("DELETE", "/api/admin/sync/sources/{id}"),
    ("GET", "/api/sync/{source}/documents"),
    ("POST", "/api/sync/{source}/resync/{entity_id}"),
];

/// How long before its expiry an access token is renewed.
const RENEW_MARGIN: Duration = Duration::from_secs(5);
/// How long an event stream may stay open: a turn or a workflow may run for hours.
const STREAM_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// A session's tokens, to keep between runs (the CLI's credentials file).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct SessionTokens {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds since the Unix epoch when the access token expires.
    pub access_expires_at: u64,
}

impl std::fmt::Debug for SessionTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionTokens").field("access_expires_at", &self.access_expires_at).finish_non_exhaustive()
    }
}

/// How the client last obtained its access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// Logged in with the static token.
    Exchanged,
    /// Renewed with the refresh token.
    Refreshed,
}

struct Session {
    access: String,
    refresh: String,
    expires: Instant,
}

struct Auth {
    /// A `dw_` API key, sent as it is: nothing to exchange or renew.
    api_key: Option<String>,
    static_token: Option<String>,
    session: Option<Session>,
    last: Option<Renewal>,
}

/// A connection to one docwright server as one principal. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    tenant: Option<String>,
    auth: Arc<Mutex<Auth>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("base", &self.base).finish_non_exhaustive()
    }
}

/// Options of a client.
#[derive(Debug, Clone)]
pub struct Options {
    /// The time limit of a whole request (not of a stream, which lasts as long as its answer).
    pub timeout: Duration,
    /// The time limit of connecting.
    pub connect_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(60), connect_timeout: Duration::from_secs(10) }
    }
}

/// What a progress callback is told: bytes done and the total when known.
pub type Progress<'a> = &'a (dyn Fn(u64, Option<u64>) + Send + Sync);

/// A stream's events as they come, each with its resumable id.
pub type Events<E> = Pin<Box<dyn Stream<Item = Result<(Option<String>, E)>> + Send>>;

/// A workflow's events as they come.
pub type WorkflowEvents = Events<WorkflowEvent>;

/// A chat turn's events as they come.
pub type ChatEvents = Events<ChatEvent>;

impl Client {
    /// A client that logs in with a static token on its first request.
    pub fn new(base_url: &str, static_token: &str, options: &Options) -> Result<Self> {
        let auth = Auth { api_key: None, static_token: Some(static_token.to_owned()), session: None, last: None };
        Self::build(base_url, auth, options)
    }

    /// A client that sends an API key (`dw_...`) with every request. A revoked or expired key
    /// answers [`Error::Authentication`]; there is nothing to renew.
    pub fn with_api_key(base_url: &str, api_key: &str, options: &Options) -> Result<Self> {
        let auth = Auth { api_key: Some(api_key.to_owned()), static_token: None, session: None, last: None };
        Self::build(base_url, auth, options)
    }

    /// A client with a session kept from before and, when known, the static token to log in
    /// again with once the session cannot be renewed.
    pub fn with_session(
        base_url: &str,
        tokens: SessionTokens,
        static_token: Option<String>,
        options: &Options,
    ) -> Result<Self> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
        let left = Duration::from_secs(tokens.access_expires_at.saturating_sub(now));
        let session =
            Session { access: tokens.access_token, refresh: tokens.refresh_token, expires: Instant::now() + left };
        Self::build(base_url, Auth { api_key: None, static_token, session: Some(session), last: None }, options)
    }

    fn build(base_url: &str, auth: Auth, options: &Options) -> Result<Self> {
        let base = base_url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::Config(format!("the server URL {base_url:?} must start with http:// or https://")));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .read_timeout(options.timeout)
            .build()
            .map_err(|e| Error::Config(e.to_string()))?;
        Ok(Self { http, base, tenant: None, auth: Arc::new(Mutex::new(auth)) })
    }

    /// The same client acting in another tenant (`X-Tenant-Id`).
    pub fn in_tenant(mut self, tenant_id: &str) -> Self {
        self.tenant = Some(tenant_id.to_owned());
        self
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// How the client last obtained its access token (none yet: `None`).
    pub async fn last_renewal(&self) -> Option<Renewal> {
        self.auth.lock().await.last
    }

    /// The session's tokens now (to keep them for the next run), logging in first if needed.
    pub async fn session_tokens(&self) -> Result<SessionTokens> {
        self.access_token(false).await?;
        let auth = self.auth.lock().await;
        let s = auth.session.as_ref().ok_or_else(|| self.protocol("/auth/exchange", "no session after login"))?;
        let left = s.expires.saturating_duration_since(Instant::now()).as_secs();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
        Ok(SessionTokens {
            access_token: s.access.clone(),
            refresh_token: s.refresh.clone(),
            access_expires_at: now + left,
        })
    }

    /// Forgets the session (the next request logs in again).
    pub async fn clear_tokens(&self) {
        self.auth.lock().await.session = None;
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn protocol(&self, path: &str, message: impl Into<String>) -> Error {
        Error::Protocol { url: self.url(path), message: message.into() }
    }

    fn network(&self, path: &str, source: reqwest::Error) -> Error {
        Error::Network { url: self.url(path), source }
    }

    /// A token pair from `path` with `body`.
    async fn tokens(&self, path: &str, body: &impl serde::Serialize) -> Result<TokenResponse> {
        let resp = self.http.post(self.url(path)).json(body).send().await.map_err(|e| self.network(path, e))?;
        self.read_json(path, resp).await
    }

    /// A valid access token: the current one, renewed, or a new login. `force` renews even a
    /// token that has not expired by the clock (the server refused it).
    async fn access_token(&self, force: bool) -> Result<String> {
        let mut auth = self.auth.lock().await;
        if let Some(key) = &auth.api_key {
            return Ok(key.clone());
        }
        if let Some(s) = &auth.session {
            if !force && s.expires > Instant::now() + RENEW_MARGIN {
                return Ok(s.access.clone());
            }
            let refresh = RefreshRequest { refresh_token: s.refresh.clone() };
            match self.tokens("/auth/refresh", &refresh).await {
                Ok(t) => return Ok(install(&mut auth, t, Renewal::Refreshed)),
                Err(Error::Authentication(r)) => {
                    auth.session = None;
                    if auth.static_token.is_none() {
                        return Err(Error::TokenExpired(r));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        let Some(token) = auth.static_token.clone() else {
            return Err(Error::TokenExpired(Refusal {
                status: 401,
                code: "not_logged_in".to_owned(),
                message: "no session and no static token to log in with".to_owned(),
                request_id: String::new(),
                field: None,
            }));
        };
        let t = self.tokens("/auth/exchange", &ExchangeRequest { static_token: token }).await?;
        Ok(install(&mut auth, t, Renewal::Exchanged))
    }

    /// Sends an authenticated request built by `build`; a refused access token is renewed once
    /// and the request sent again.
    async fn send(
        &self,
        path: &str,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
        method: Method,
    ) -> Result<reqwest::Response> {
        let mut force = false;
        loop {
            let token = self.access_token(force).await?;
            let mut req = self.http.request(method.clone(), self.url(path)).bearer_auth(token);
            if let Some(t) = &self.tenant {
                req = req.header("X-Tenant-Id", t);
            }
            let resp = build(req).send().await.map_err(|e| self.network(path, e))?;
            if resp.status() == StatusCode::UNAUTHORIZED && !force && self.auth.lock().await.api_key.is_none() {
                force = true;
                continue;
            }
            return Self::check(resp).await;
        }
    }

    async fn check(resp: reqwest::Response) -> Result<reqwest::Response> {
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let request_id = resp.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = resp.bytes().await.unwrap_or_default();
        Err(Error::from_answer(status, request_id, &body))
    }

    async fn read_json<T: DeserializeOwned>(&self, path: &str, resp: reqwest::Response) -> Result<T> {
        let resp = Self::check(resp).await?;
        let body = resp.bytes().await.map_err(|e| self.network(path, e))?;
        serde_json::from_slice(&body).map_err(|e| self.protocol(path, e.to_string()))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T> {
        let resp = self.send(path, |r| r.query(query), Method::GET).await?;
        self.read_json(path, resp).await
    }

    async fn with_body<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<T> {
        let resp = self.send(path, |r| r.json(body), method).await?;
        self.read_json(path, resp).await
    }

    /// Opens an event stream at `path`, from its start or after the event id `after`.
    async fn replay(&self, path: &str, after: Option<&str>) -> Result<reqwest::Response> {
        self.send(
            path,
            |r| {
                let r = r.timeout(STREAM_TIMEOUT);
                match after {
                    Some(a) => r.header("Last-Event-ID", a),
                    None => r,
                }
            },
            Method::GET,
        )
        .await
    }

    async fn delete(&self, path: &str) -> Result<()> {
        self.send(path, |r| r, Method::DELETE).await.map(drop)
    }

    // --- auth and me -------------------------------------------------------------------------

    /// Ends the session on the server and forgets it here.
    pub async fn logout(&self) -> Result<LogoutResponse> {
        let mut auth = self.auth.lock().await;
        let Some(s) = auth.session.take() else { return Ok(LogoutResponse { revoked: false }) };
        let path = "/auth/logout";
        let body = LogoutRequest { refresh_token: Some(s.refresh) };
        let resp = self.http.post(self.url(path)).json(&body).send().await.map_err(|e| self.network(path, e))?;
        self.read_json(path, resp).await
    }

    /// Who you are: user, tenants with roles, settings.
    pub async fn me(&self) -> Result<MeResponse> {
        self.get("/me", &[]).await
    }

    /// Changes your settings (fields left `None` stay as they are).
    pub async fn update_settings(&self, patch: &SettingsPatch) -> Result<SettingsOut> {
        self.with_body(Method::PATCH, "/me/settings", patch).await
    }

    // --- files -------------------------------------------------------------------------------

    /// Uploads a file from disk, streamed; `progress` is told the bytes sent.
    pub async fn upload_file(&self, path: &Path, progress: Option<Progress<'_>>) -> Result<FileOut> {
        let route = "/files/upload";
        let io = |source| Error::Io { path: path.display().to_string(), source };
        let name = path.file_name().map_or_else(|| "file".to_owned(), |n| n.to_string_lossy().into_owned());
        let mut force = false;
        loop {
            let file = tokio::fs::File::open(path).await.map_err(io)?;
            let total = file.metadata().await.map_err(io)?.len();
            let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
            let counter = Arc::clone(&sent);
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
            let body = tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024).map(move |chunk| {
                if let Ok(c) = &chunk {
                    let done = counter.fetch_add(c.len() as u64, std::sync::atomic::Ordering::Relaxed) + c.len() as u64;
                    let _ = tx.send(done);
                }
                chunk
            });
            let part = reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(body), total)
                .file_name(name.clone())
                .mime_str("application/octet-stream")
                .map_err(|e| Error::Config(e.to_string()))?;
            let form = reqwest::multipart::Form::new().part("file", part);
            let token = self.access_token(force).await?;
            let mut req = self.http.post(self.url(route)).bearer_auth(token).multipart(form);
            if let Some(t) = &self.tenant {
                req = req.header("X-Tenant-Id", t);
            }
            let send = req.send();
            tokio::pin!(send);
            let resp = loop {
                tokio::select! {
                    r = &mut send => break r,
                    Some(done) = rx.recv() => if let Some(p) = progress { p(done, Some(total)) },
                }
            };
            let resp = resp.map_err(|e| self.network(route, e))?;
            if resp.status() == StatusCode::UNAUTHORIZED && !force && self.auth.lock().await.api_key.is_none() {
                force = true;
                continue;
            }
            if let Some(p) = progress {
                p(sent.load(std::sync::atomic::Ordering::Relaxed), Some(total));
            }
            return self.read_json(route, resp).await;
        }
    }

    /// A file's record.
    pub async fn file(&self, id: &str) -> Result<FileOut> {
        self.get(&format!("/files/{id}"), &[]).await
    }

    /// Deletes a file.
    pub async fn delete_file(&self, id: &str) -> Result<()> {
        self.delete(&format!("/files/{id}")).await
    }

    /// Downloads a file's content to `dest`, streamed (written beside it first, then renamed,
    /// so `dest` never holds half a file); answers the bytes written.
    pub async fn download_file(&self, id: &str, dest: &Path, progress: Option<Progress<'_>>) -> Result<u64> {
        let path = format!("/files/{id}/content");
        let resp = self.send(&path, |r| r, Method::GET).await?;
        let total = resp.content_length();
        let io = |source| Error::Io { path: dest.display().to_string(), source };
        let tmp = dest.with_file_name(format!(
            ".{}.part",
            dest.file_name().map_or_else(|| "download".into(), |n| n.to_string_lossy())
        ));
        let mut out = tokio::fs::File::create(&tmp).await.map_err(io)?;
        let mut body = resp.bytes_stream();
        let mut done = 0u64;
        let result = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| self.network(&path, e))?;
                out.write_all(&chunk).await.map_err(io)?;
                done += chunk.len() as u64;
                if let Some(p) = progress {
                    p(done, total);
                }
            }
            out.flush().await.map_err(io)?;
            out.sync_all().await.map_err(io)?;
            tokio::fs::rename(&tmp, dest).await.map_err(io)
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result.map(|()| done)
    }

    // --- chats -------------------------------------------------------------------------------

    /// Creates a chat.
    pub async fn create_chat(&self, chat: &ChatIn) -> Result<ChatOut> {
        self.with_body(Method::POST, "/chats", chat).await
    }

    /// A page of your chats, newest first.
    pub async fn chats(&self, page: &PageParams) -> Result<PageOf<ChatOut>> {
        self.get("/chats", &page_query(page)).await
    }

    /// A chat with its history.
    pub async fn chat(&self, id: &str) -> Result<ChatDetailOut> {
        self.get(&format!("/chats/{id}"), &[]).await
    }

    /// Deletes a chat.
    pub async fn delete_chat(&self, id: &str) -> Result<()> {
        self.delete(&format!("/chats/{id}")).await
    }

    /// Sends a message; the answer's events as they come (each with its resumable id), the
    /// stream ending after `completed` or `error`.
    pub async fn send_message(&self, chat_id: &str, message: &MessageIn) -> Result<ChatEvents> {
        let path = format!("/chats/{chat_id}/messages");
        let resp = self.send(&path, |r| r.json(message).timeout(STREAM_TIMEOUT), Method::POST).await?;
        Ok(chat_events(self.url(&path), resp))
    }

    /// A turn's events again: after `after` (an event id), else the latest turn's from its start.
    pub async fn chat_events(&self, chat_id: &str, after: Option<&str>) -> Result<ChatEvents> {
        let path = format!("/chats/{chat_id}/events");
        let resp = self.replay(&path, after).await?;
        Ok(chat_events(self.url(&path), resp))
    }
}

impl Client {
    /// Opens the chat's WebSocket: send messages on it and read every turn's events; with
    /// `last_event_id`, that turn's events after it are replayed first.
    pub async fn chat_socket(&self, chat_id: &str, last_event_id: Option<&str>) -> Result<ChatSocket> {
        let token = self.access_token(false).await?;
        let path = format!("/chats/{chat_id}/stream");
        let ws_base = match self.base.split_once("://") {
            Some(("http", rest)) => format!("ws://{rest}"),
            _ => {
                return Err(Error::Config(format!(
                    "the chat socket needs an http:// server here (this client is built without TLS for sockets): {}",
                    self.base
                )));
            }
        };
        let mut url = reqwest::Url::parse(&format!("{ws_base}{path}"))
            .map_err(|e| Error::Config(format!("not a server address: {} ({e})", self.base)))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("token", &token);
            if let Some(id) = last_event_id {
                q.append_pair("last_event_id", id);
            }
            if let Some(t) = &self.tenant {
                q.append_pair("tenant_id", t);
            }
        }
        ChatSocket::connect(url.as_str(), self.url(&path)).await
    }

    // --- API keys ----------------------------------------------------------------------------

    /// Issues an API key for yourself in the current tenant (`key` is shown only here).
    pub async fn create_key(&self, key: &CreateKeyRequest) -> Result<CreatedKey> {
        self.with_body(Method::POST, "/api/keys", key).await
    }

    /// A page of your API keys (never the keys themselves).
    pub async fn keys(&self, page: &PageParams) -> Result<PageOf<ApiKeyOut>> {
        self.get("/api/keys", &page_query(page)).await
    }

    /// Revokes an API key.
    pub async fn revoke_key(&self, id: &str) -> Result<()> {
        self.delete(&format!("/api/keys/{id}")).await
    }

    // --- role prompts, projects, search --------------------------------------------------------

    /// The role prompts you may choose, each named in your language.
    pub async fn roles(&self) -> Result<Vec<RoleOut>> {
        self.get("/prompts/roles", &[]).await
    }

    /// Creates a client (the top of the projects tree).
    pub async fn create_client(&self, client: &ClientIn) -> Result<ClientOut> {
        self.with_body(Method::POST, "/projects/clients", client).await
    }

    /// A page of the tenant's clients.
    pub async fn clients(&self, page: &PageParams) -> Result<PageOf<ClientOut>> {
        self.get("/projects/clients", &page_query(page)).await
    }

    /// A client.
    pub async fn client(&self, id: &str) -> Result<ClientOut> {
        self.get(&format!("/projects/clients/{id}"), &[]).await
    }

    /// Renames a client.
    pub async fn rename_client(&self, id: &str, client: &ClientIn) -> Result<ClientOut> {
        self.with_body(Method::PATCH, &format!("/projects/clients/{id}"), client).await
    }

    /// Deletes a client with its projects (the files stay).
    pub async fn delete_client(&self, id: &str) -> Result<()> {
        self.delete(&format!("/projects/clients/{id}")).await
    }

    /// Creates a project of a client.
    pub async fn create_project(&self, project: &ProjectIn) -> Result<ProjectOut> {
        self.with_body(Method::POST, "/projects", project).await
    }

    /// A project.
    pub async fn project(&self, id: &str) -> Result<ProjectOut> {
        self.get(&format!("/projects/{id}"), &[]).await
    }

    /// Renames, describes or moves a project.
    pub async fn update_project(&self, id: &str, patch: &ProjectPatchIn) -> Result<ProjectOut> {
        self.with_body(Method::PATCH, &format!("/projects/{id}"), patch).await
    }

    /// Deletes a project with its folders and documents (the files stay).
    pub async fn delete_project(&self, id: &str) -> Result<()> {
        self.delete(&format!("/projects/{id}")).await
    }

    /// Creates a folder in a project.
    pub async fn create_folder(&self, project_id: &str, folder: &FolderIn) -> Result<FolderOut> {
        self.with_body(Method::POST, &format!("/projects/{project_id}/folders"), folder).await
    }

    /// Renames or moves a folder.
    pub async fn update_folder(&self, id: &str, patch: &FolderPatchIn) -> Result<FolderOut> {
        self.with_body(Method::PATCH, &format!("/projects/folders/{id}"), patch).await
    }

    /// Deletes a folder with everything in it (the files stay).
    pub async fn delete_folder(&self, id: &str) -> Result<()> {
        self.delete(&format!("/projects/folders/{id}")).await
    }

    /// Places a file in a project.
    pub async fn add_document(&self, project_id: &str, document: &DocumentIn) -> Result<DocumentOut> {
        self.with_body(Method::POST, &format!("/projects/{project_id}/documents"), document).await
    }

    /// Retitles or moves a document.
    pub async fn update_document(&self, id: &str, patch: &DocumentPatchIn) -> Result<DocumentOut> {
        self.with_body(Method::PATCH, &format!("/projects/documents/{id}"), patch).await
    }

    /// Removes a document from its project (the file stays).
    pub async fn delete_document(&self, id: &str) -> Result<()> {
        self.delete(&format!("/projects/documents/{id}")).await
    }

    /// What was produced about a document: its extraction and stored results.
    pub async fn document_results(&self, id: &str) -> Result<DocumentResultsOut> {
        self.get(&format!("/projects/documents/{id}/results"), &[]).await
    }

    /// The projects tree (one client's, or every client's).
    pub async fn projects_tree(&self, client_id: Option<&str>) -> Result<TreeOut> {
        let q: Vec<(&str, String)> = client_id.map(|c| ("client_id", c.to_owned())).into_iter().collect();
        self.get("/projects/tree", &q).await
    }

    /// Full-text search over the files you may read.
    pub async fn search(&self, words: &str, limit: Option<u32>, offset: Option<u32>) -> Result<SearchOut> {
        let mut q = vec![("q", words.to_owned())];
        q.extend(limit.map(|l| ("limit", l.to_string())));
        q.extend(offset.map(|o| ("offset", o.to_string())));
        self.get("/projects/search", &q).await
    }

    // --- collections -------------------------------------------------------------------------

    /// The tenant's collections, in creation order.
    pub async fn collections(&self, page: &PageParams) -> Result<PageOf<CollectionOut>> {
        self.get("/api/collections", &page_query(page)).await
    }

    /// Creates a collection (names need not be unique).
    pub async fn create_collection(&self, collection: &CollectionIn) -> Result<CollectionOut> {
        self.with_body(Method::POST, "/api/collections", collection).await
    }

    pub async fn collection(&self, id: &str) -> Result<CollectionOut> {
        self.get(&format!("/api/collections/{id}"), &[]).await
    }

    /// Renames or describes a collection.
    pub async fn update_collection(&self, id: &str, patch: &CollectionPatchIn) -> Result<CollectionOut> {
        self.with_body(Method::PATCH, &format!("/api/collections/{id}"), patch).await
    }

    /// Deletes a collection (its files stay).
    pub async fn delete_collection(&self, id: &str) -> Result<()> {
        self.delete(&format!("/api/collections/{id}")).await
    }

    /// A page of a collection's files.
    pub async fn collection_files(&self, id: &str, page: &PageParams) -> Result<PageOf<CollectionFileOut>> {
        self.get(&format!("/api/collections/{id}/files"), &page_query(page)).await
    }

    /// Adds a file to a collection; adding it again changes nothing.
    pub async fn add_collection_file(&self, id: &str, file: &CollectionFileIn) -> Result<CollectionFileOut> {
        self.with_body(Method::POST, &format!("/api/collections/{id}/files"), file).await
    }

    /// Takes a file out of a collection (the file stays).
    pub async fn remove_collection_file(&self, id: &str, file_id: &str) -> Result<()> {
        self.delete(&format!("/api/collections/{id}/files/{file_id}")).await
    }

    /// Full-text search over a collection's files.
    pub async fn search_collection(
        &self,
        id: &str,
        words: &str,
        limit: Option<u32>,
        offset: Option<u32>,
    ) -> Result<SearchOut> {
        let mut q = vec![("q", words.to_owned())];
        q.extend(limit.map(|l| ("limit", l.to_string())));
        q.extend(offset.map(|o| ("offset", o.to_string())));
        self.get(&format!("/api/collections/{id}/search"), &q).await
    }

    // --- workflows ---------------------------------------------------------------------------

    /// Starts a workflow (answered at once; follow it with [`Client::workflow_events`]).
    pub async fn submit_workflow(&self, workflow: &WorkflowIn) -> Result<WorkflowOut> {
        self.with_body(Method::POST, "/api/workflows", workflow).await
    }

    /// A page of workflows, newest first.
    pub async fn workflows(&self, page: &PageParams) -> Result<PageOf<WorkflowOut>> {
        self.get("/api/workflows", &page_query(page)).await
    }

    /// The prompt library's categories, named in your language.
    pub async fn prompt_categories(&self) -> Result<Vec<PromptCategoryOut>> {
        self.get("/api/prompts/categories", &[]).await
    }

    /// The presets of a category (all without one).
    pub async fn prompt_presets(&self, category: Option<&str>) -> Result<Vec<PromptPresetOut>> {
        let query: Vec<(&str, String)> = category.map(|c| ("category", c.to_owned())).into_iter().collect();
        self.get("/api/prompts/presets", &query).await
    }

    pub async fn prompt_preset(&self, id: &str) -> Result<PromptPresetOut> {
        self.get(&format!("/api/prompts/presets/{id}"), &[]).await
    }

    /// The category a request belongs to, with the runners-up.
    pub async fn classify_prompt(&self, text: &str) -> Result<ClassifyOut> {
        self.with_body(Method::POST, "/api/prompts/classify", &ClassifyIn { text: text.to_owned() }).await
    }

    /// Automation templates you may use (the starter set and your own).
    pub async fn automation_templates(&self, page: &PageParams) -> Result<PageOf<TemplateOut>> {
        self.get("/api/automation-templates", &page_query(page)).await
    }

    pub async fn automation_template(&self, id: &str) -> Result<TemplateOut> {
        self.get(&format!("/api/automation-templates/{id}"), &[]).await
    }

    pub async fn create_automation_template(&self, t: &TemplateIn) -> Result<TemplateOut> {
        self.with_body(Method::POST, "/api/automation-templates", t).await
    }

    pub async fn update_automation_template(&self, id: &str, t: &TemplateIn) -> Result<TemplateOut> {
        self.with_body(Method::PUT, &format!("/api/automation-templates/{id}"), t).await
    }

    pub async fn delete_automation_template(&self, id: &str) -> Result<()> {
        self.delete(&format!("/api/automation-templates/{id}")).await
    }

    /// The actions you may use in automations.
    pub async fn automation_actions(&self) -> Result<ActionsOut> {
        self.get("/api/automations/actions", &[]).await
    }

    /// Your automations, each with its latest runs.
    pub async fn automations(&self, page: &PageParams) -> Result<PageOf<AutomationOut>> {
        self.get("/api/automations", &page_query(page)).await
    }

    pub async fn automation(&self, id: &str) -> Result<AutomationOut> {
        self.get(&format!("/api/automations/{id}"), &[]).await
    }

    pub async fn create_automation(&self, a: &AutomationIn) -> Result<AutomationOut> {
        self.with_body(Method::POST, "/api/automations", a).await
    }

    pub async fn update_automation(&self, id: &str, patch: &AutomationPatch) -> Result<AutomationOut> {
        self.with_body(Method::PUT, &format!("/api/automations/{id}"), patch).await
    }

    pub async fn delete_automation(&self, id: &str) -> Result<()> {
        self.delete(&format!("/api/automations/{id}")).await
    }

    /// Stores an automation's workflow as a new template (markers kept, values dropped).
    pub async fn save_automation_as_template(&self, id: &str, names: &SaveAsTemplateIn) -> Result<TemplateOut> {
        self.with_body(Method::POST, &format!("/api/automations/{id}/save-as-template"), names).await
    }

    /// Runs an automation now; follow its workflow with [`Client::workflow_events`].
    pub async fn run_automation(&self, id: &str) -> Result<RunOut> {
        self.with_body(Method::POST, &format!("/api/automations/{id}/run"), &serde_json::json!({})).await
    }

    pub async fn automation_estimate(&self, id: &str) -> Result<EstimateOut> {
        self.get(&format!("/api/automations/{id}/estimate"), &[]).await
    }

    // --- CRM sync ---------------------------------------------------------------------------------

    /// The tenant's sync sources (administrators).
    pub async fn sync_sources(&self, page: &PageParams) -> Result<PageOf<SyncSourceOut>> {
        self.get("/api/admin/sync/sources", &page_query(page)).await
    }

    /// Connects an EspoCRM; its webhooks go to the answer's `webhook_path` + action.
    pub async fn create_sync_source(&self, source: &SyncSourceIn) -> Result<SyncSourceOut> {
        self.with_body(Method::POST, "/api/admin/sync/sources", source).await
    }

    pub async fn sync_source(&self, id: &str) -> Result<SyncSourceOut> {
        self.get(&format!("/api/admin/sync/sources/{id}"), &[]).await
    }

    pub async fn update_sync_source(&self, id: &str, patch: &SyncSourcePatch) -> Result<SyncSourceOut> {
        self.with_body(Method::PATCH, &format!("/api/admin/sync/sources/{id}"), patch).await
    }

    pub async fn delete_sync_source(&self, id: &str) -> Result<()> {
        self.delete(&format!("/api/admin/sync/sources/{id}")).await
    }

    /// A source's synced documents with their states.
    pub async fn sync_documents(&self, source: &str, page: &PageParams) -> Result<PageOf<SyncDocumentOut>> {
        self.get(&format!("/api/sync/{source}/documents"), &page_query(page)).await
    }

    /// Syncs one CRM record again now.
    pub async fn resync_document(&self, source: &str, entity_id: &str) -> Result<ResyncOut> {
        self.with_body(Method::POST, &format!("/api/sync/{source}/resync/{entity_id}"), &serde_json::json!({})).await
    }

    /// A workflow: where it is and what it produced.
    pub async fn workflow(&self, id: &str) -> Result<WorkflowOut> {
        self.get(&format!("/api/workflows/{id}"), &[]).await
    }

    /// Asks a workflow to stop.
    pub async fn cancel_workflow(&self, id: &str) -> Result<WorkflowOut> {
        self.with_body(Method::POST, &format!("/api/workflows/{id}/cancel"), &serde_json::json!({})).await
    }

    /// A workflow's events from the start (or after `after`), ending after `completed` or `error`.
    pub async fn workflow_events(&self, id: &str, after: Option<&str>) -> Result<WorkflowEvents> {
        let path = format!("/api/workflows/{id}/events");
        let resp = self.replay(&path, after).await?;
        let raw = sse::events(self.url(&path), resp.bytes_stream());
        Ok(until_terminal(raw.map(|r| r.map(|e| (e.id, WorkflowEvent::parse(&e.event, &e.data)))), |e| e.is_terminal()))
    }

    // --- asynchronous AI requests and the job queue --------------------------------------------

    /// Submits an asynchronous AI request (answered at once with its id).
    pub async fn submit_request(&self, request: &ProcessIn) -> Result<AcceptedOut> {
        self.with_body(Method::POST, "/api/ai/process", request).await
    }

    /// Where a request is.
    pub async fn request_status(&self, id: &str) -> Result<StatusOut> {
        self.get(&format!("/api/ai/status/{id}"), &[]).await
    }

    /// The answer of a completed request; before that, [`Error::Api`] with code `not_ready`
    /// (or `request_failed`, `request_cancelled`).
    pub async fn request_result(&self, id: &str) -> Result<ResultOut> {
        self.get(&format!("/api/ai/result/{id}"), &[]).await
    }

    /// Cancels a request; answers its status.
    pub async fn cancel_request(&self, id: &str) -> Result<StatusOut> {
        self.with_body(Method::POST, &format!("/api/ai/cancel/{id}"), &serde_json::json!({})).await
    }

    /// A page of jobs (admins), newest first, optionally of one state and kind.
    pub async fn jobs(&self, state: Option<&str>, kind: Option<&str>, page: &PageParams) -> Result<PageOf<JobOut>> {
        let mut q = page_query(page);
        q.extend(state.map(|s| ("state", s.to_owned())));
        q.extend(kind.map(|k| ("kind", k.to_owned())));
        self.get("/api/admin/jobs", &q).await
    }

    /// Runs a discarded, cancelled or waiting job again now (admins).
    pub async fn retry_job(&self, id: &str) -> Result<JobOut> {
        self.with_body(Method::POST, &format!("/api/admin/jobs/{id}/retry"), &serde_json::json!({})).await
    }

    /// Cancels a job (admins).
    pub async fn cancel_job(&self, id: &str) -> Result<JobOut> {
        self.with_body(Method::POST, &format!("/api/admin/jobs/{id}/cancel"), &serde_json::json!({})).await
    }

    // --- billing -----------------------------------------------------------------------------

    /// Your balance (the account that pays your calls).
    pub async fn balance(&self) -> Result<BalanceOut> {
        self.get("/api/billing/balance", &[]).await
    }

    /// The transactions of a month (`YYYY-MM`; default the current one).
    pub async fn transactions(&self, month: Option<&str>) -> Result<Vec<TransactionOut>> {
        let q: Vec<(&str, String)> = month.map(|m| ("month", m.to_owned())).into_iter().collect();
        self.get("/api/billing/transactions", &q).await
    }
}

/// The stream's items up to and including the first terminal event (or error).
fn until_terminal<E: Send + 'static>(
    items: impl Stream<Item = Result<(Option<String>, E)>> + Send + 'static,
    terminal: fn(&E) -> bool,
) -> Events<E> {
    Box::pin(items.scan(false, move |ended, item| {
        if *ended {
            return std::future::ready(None);
        }
        *ended = matches!(&item, Ok((_, e)) if terminal(e)) || item.is_err();
        std::future::ready(Some(item))
    }))
}

fn install(auth: &mut Auth, t: TokenResponse, how: Renewal) -> String {
    let expires = Instant::now() + Duration::from_secs(u64::try_from(t.expires_in).unwrap_or(0));
    auth.session = Some(Session { access: t.access_token.clone(), refresh: t.refresh_token, expires });
    auth.last = Some(how);
    t.access_token
}

fn page_query(page: &PageParams) -> Vec<(&'static str, String)> {
    let mut q = Vec::new();
    if let Some(l) = page.limit {
        q.push(("limit", l.to_string()));
    }
    if let Some(c) = &page.cursor {
        q.push(("cursor", c.clone()));
    }
    q
}

/// Typed chat events of an SSE answer, ending after the terminal one.
fn chat_events(url: String, resp: reqwest::Response) -> ChatEvents {
    let raw = sse::events(url, resp.bytes_stream());
    until_terminal(raw.map(|r| r.map(|RawEvent { id, event, data }| (id, ChatEvent::parse(&event, &data)))), |e| {
        e.is_terminal()
    })
}
