//! [`FakeXai`]: xAI's Files and Collections APIs on two listeners of 127.0.0.1 (docs.x.ai:
//! "Files" › Upload — `POST /v1/files`, multipart, the part `file` with its file name, answer
//! `{id, object, bytes, created_at, filename}` — and Manage — `DELETE /v1/files/{file_id}`;
//! "Collections API" › Collection Management — `POST`, `PATCH` and `DELETE
//! /v1/collections/{collection_id}/documents/{file_id}` on the management host).
//!
//! The API host takes only the API key, the management host only the management key; any
//! other answers 401 with xAI's error shape `{"code", "error"}`. Unlike the real service, which
//! shows a masked prefix of a wrong key, the fake echoes the whole key it was given, so tests
//! prove the client never passes an answer's key on. Collections exist only once a test made
//! them ([`FakeXai::create_collection`]): adding to an unknown one is a 404, as is adding an
//! unknown file; removing a document that is not there is a 404 too (the client takes it as
//! done).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{FromRequest as _, Multipart, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::xai::{XaiClient, XaiConfig};

const API_KEY: &str = "xai-test-api-key";
const MANAGEMENT_KEY: &str = "xai-test-management-key";

/// A file the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// The multipart part's file name.
    pub name: String,
    /// The part's content type.
    pub mime: String,
    pub bytes: Vec<u8>,
}

#[derive(Default)]
struct XaiState {
    files: BTreeMap<String, StoredFile>,
    collections: BTreeMap<String, BTreeSet<String>>,
    uploads: usize,
    upload_attempts: usize,
    fail_uploads: VecDeque<u16>,
    fail_all: Option<u16>,
    retry_after: Option<u64>,
    requests: Vec<(String, String)>,
    next_id: u64,
}

type Shared = Arc<Mutex<XaiState>>;

/// Which listener a request came in on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Host {
    Api,
    Management,
}

/// A fake xAI: the API host (Files) and the management host (Collections). Cheap to clone.
#[derive(Clone)]
pub struct FakeXai {
    api_url: String,
    management_url: String,
    state: Shared,
}

impl FakeXai {
    /// Starts both listeners on fresh ports.
    pub async fn start() -> Self {
        let state: Shared = Arc::default();
        let host = |host: Host| {
            axum::Router::new()
                .fallback(move |State(s): State<Shared>, request: Request| handle(s, host, request))
                .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
                .with_state(state.clone())
        };
        let api_url = super::serve(host(Host::Api)).await;
        let management_url = super::serve(host(Host::Management)).await;
        Self { api_url, management_url, state }
    }

    /// The API host, `http://127.0.0.1:<port>` (for [`XaiConfig::api_base`]).
    pub fn api_url(&self) -> String {
        self.api_url.clone()
    }

    /// The management host (for [`XaiConfig::management_base`]).
    pub fn management_url(&self) -> String {
        self.management_url.clone()
    }

    /// The key the API host accepts.
    pub fn api_key(&self) -> &'static str {
        API_KEY
    }

    /// The key the management host accepts.
    pub fn management_key(&self) -> &'static str {
        MANAGEMENT_KEY
    }

    /// A configuration for the fake: its hosts, its keys, a 10 s timeout.
    pub fn config(&self) -> XaiConfig {
        XaiConfig {
            api_base: self.api_url(),
            management_base: self.management_url(),
            api_key: API_KEY.into(),
            management_key: MANAGEMENT_KEY.into(),
            timeout: Duration::from_secs(10),
        }
    }

    /// A client of the fake ([`FakeXai::config`]).
    pub fn client(&self) -> XaiClient {
        XaiClient::new(&self.config()).unwrap()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, XaiState> {
        self.state.lock().unwrap()
    }

    /// Makes an empty collection (once made, it stays).
    pub fn create_collection(&self, id: &str) {
        self.lock().collections.entry(id.into()).or_default();
    }

    /// The files in a collection (empty for an unknown one).
    pub fn collection(&self, id: &str) -> BTreeSet<String> {
        self.lock().collections.get(id).cloned().unwrap_or_default()
    }

    /// Files uploaded successfully.
    pub fn uploads(&self) -> usize {
        self.lock().uploads
    }

    /// Uploads tried, refused and failed ones included.
    pub fn upload_attempts(&self) -> usize {
        self.lock().upload_attempts
    }

    /// A file as stored.
    pub fn file(&self, id: &str) -> Option<StoredFile> {
        self.lock().files.get(id).cloned()
    }

    /// A file's bytes.
    pub fn file_bytes(&self, id: &str) -> Option<Vec<u8>> {
        self.lock().files.get(id).map(|f| f.bytes.clone())
    }

    pub fn has_file(&self, id: &str) -> bool {
        self.lock().files.contains_key(id)
    }

    /// The next `n` uploads with the right key answer `status`.
    pub fn fail_uploads(&self, n: usize, status: u16) {
        self.lock().fail_uploads.extend(std::iter::repeat_n(status, n));
    }

    /// Every request with the right key, on both hosts, answers `status` until
    /// [`FakeXai::recover`].
    pub fn fail_all(&self, status: u16) {
        self.lock().fail_all = Some(status);
    }

    pub fn recover(&self) {
        self.lock().fail_all = None;
    }

    /// Scripted failures carry `Retry-After: <seconds>` (none: without).
    pub fn retry_after(&self, seconds: Option<u64>) {
        self.lock().retry_after = seconds;
    }

    /// Every request so far, on both hosts: method and path.
    pub fn requests(&self) -> Vec<(String, String)> {
        self.lock().requests.clone()
    }
}

/// xAI's error answer.
fn xai_error(status: StatusCode, message: &str, retry_after: Option<u64>) -> Response {
    let code = status.canonical_reason().unwrap_or("Error");
    let mut response = (status, axum::Json(json!({"code": code, "error": message}))).into_response();
    if let Some(s) = retry_after {
        response.headers_mut().insert("retry-after", s.into());
    }
    response
}

fn not_found(what: &str) -> Response {
    xai_error(StatusCode::NOT_FOUND, &format!("{what} not found"), None)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
}

async fn handle(state: Shared, host: Host, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let segments: Vec<String> = path.trim_start_matches('/').split('/').map(str::to_owned).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let is_upload = host == Host::Api && method == Method::POST && segments == ["v1", "files"];
    {
        let mut s = state.lock().unwrap();
        s.requests.push((method.to_string(), path.clone()));
        if is_upload {
            s.upload_attempts += 1;
        }
        let key = if host == Host::Api { API_KEY } else { MANAGEMENT_KEY };
        match bearer(request.headers()) {
            Some(given) if given == key => {}
            given => {
                let message = format!("Incorrect API key provided: {}.", given.unwrap_or_default());
                return xai_error(StatusCode::UNAUTHORIZED, &message, None);
            }
        }
        if let Some(status) = s.fail_all {
            return xai_error(StatusCode::from_u16(status).unwrap(), "Service unavailable (scripted)", s.retry_after);
        }
        if is_upload && let Some(status) = s.fail_uploads.pop_front() {
            return xai_error(StatusCode::from_u16(status).unwrap(), "Upload failed (scripted)", s.retry_after);
        }
    }
    match (host, &method, segments.as_slice()) {
        (Host::Api, &Method::POST, ["v1", "files"]) => upload(&state, request).await,
        (Host::Api, &Method::DELETE, ["v1", "files", id]) => match state.lock().unwrap().files.remove(*id) {
            Some(_) => axum::Json(json!({"id": id, "object": "file", "deleted": true})).into_response(),
            None => not_found("File"),
        },
        (Host::Management, m, ["v1", "collections", collection, "documents", file]) => {
            document(&mut state.lock().unwrap(), m, collection, file)
        }
        _ => not_found("Route"),
    }
}

async fn upload(state: &Shared, request: Request) -> Response {
    let bad = |why: &str| xai_error(StatusCode::BAD_REQUEST, why, None);
    let Ok(mut form) = Multipart::from_request(request, &()).await else { return bad("expected multipart/form-data") };
    let mut file = None;
    loop {
        match form.next_field().await {
            Ok(Some(field)) if field.name() == Some("file") => {
                let name = field.file_name().unwrap_or("file").to_owned();
                let mime = field.content_type().unwrap_or("application/octet-stream").to_owned();
                let Ok(bytes) = field.bytes().await else { return bad("the file part could not be read") };
                file = Some(StoredFile { name, mime, bytes: bytes.to_vec() });
            }
            // `purpose`, `expires_after`: accepted, not interpreted.
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => return bad("malformed multipart body"),
        }
    }
    let Some(file) = file else { return bad("the multipart body has no part named file") };
    let mut s = state.lock().unwrap();
    s.next_id += 1;
    s.uploads += 1;
    let id = format!("file_{:08x}-0000-4000-8000-{:012x}", s.next_id, s.next_id);
    let answer = json!({
        "id": id,
        "object": "file",
        "bytes": file.bytes.len(),
        "created_at": 1_767_225_600 + s.next_id,
        "filename": file.name,
    });
    s.files.insert(id, file);
    axum::Json(answer).into_response()
}

fn document(s: &mut XaiState, method: &Method, collection: &str, file: &str) -> Response {
    let known_file = s.files.contains_key(file);
    let Some(members) = s.collections.get_mut(collection) else { return not_found("Collection") };
    let done = || axum::Json(json!({})).into_response();
    match *method {
        Method::POST if known_file => {
            members.insert(file.to_owned());
            done()
        }
        Method::POST => not_found("File"),
        Method::PATCH if members.contains(file) => done(),
        Method::DELETE if members.remove(file) => done(),
        Method::PATCH | Method::DELETE => not_found("Document"),
        _ => xai_error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed", None),
    }
}
