//! [`FakeEspo`]: an EspoCRM REST API on 127.0.0.1 (docs.espocrm.com, Development › API: "API
//! Overview" for `X-Api-Key` and `{total, list}`, "Search params" for `select`, `offset`,
//! `maxSize` (at most 200), `orderBy`, `order`, "Attachment" for the upload as a base64 data
//! URL and `GET Attachment/file/{id}`).
//!
//! Routes: `GET`/`PUT /api/v1/{Entity}/{id}` (a `PUT` merges the attributes and answers the
//! record), `GET /api/v1/{Entity}` (a listing in id order), `GET /api/v1/{Entity}/{id}/{link}`
//! (related records), `GET /api/v1/Attachment/file/{id}` (the bytes with their
//! `Content-Type`), `POST /api/v1/Attachment` (400 on a file that is not a base64 data URL).
//! Every write sets `modifiedAt` from a clock that moves one second per write, so two writes
//! never share one.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::espo::EspoClient;

const API_KEY: &str = "espo-test-api-key";

/// An attachment the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub name: String,
    pub mime: String,
    pub bytes: Vec<u8>,
    pub related_type: String,
    pub field: String,
    pub role: String,
}

#[derive(Default)]
struct EspoState {
    entities: BTreeMap<(String, String), Map<String, Value>>,
    /// (entity type, id, link) → related (entity type, id), in link order.
    links: BTreeMap<(String, String, String), Vec<(String, String)>>,
    attachments: BTreeMap<String, Attachment>,
    requests: Vec<(String, String)>,
    /// Seconds since 2026-01-01 00:00:00 UTC of the last write.
    clock: u64,
    fail_next: VecDeque<u16>,
    retry_after: Option<u64>,
    delay: Duration,
    stream_downloads: bool,
    in_flight: HashMap<String, usize>,
    max_in_flight: HashMap<String, usize>,
    next_id: u64,
}

impl EspoState {
    /// The next `modifiedAt`, in EspoCRM's `YYYY-MM-DD HH:MM:SS` (UTC).
    fn stamp(&mut self) -> String {
        self.clock += 1;
        datetime(1_767_225_600 + self.clock)
    }
}

/// `YYYY-MM-DD HH:MM:SS` of Unix seconds (Howard Hinnant's `civil_from_days`).
fn datetime(unix: u64) -> String {
    let (days, secs) = ((unix / 86_400) as i64, unix % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// A fake EspoCRM; cheap to clone, every clone the same server.
#[derive(Clone)]
pub struct FakeEspo {
    url: String,
    state: Arc<Mutex<EspoState>>,
}

impl FakeEspo {
    /// Starts the fake on a fresh port; its key is [`FakeEspo::api_key`].
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(EspoState::default()));
        let router = axum::Router::new()
            .fallback(handle)
            .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
            .with_state(state.clone());
        Self { url: super::serve(router).await, state }
    }

    /// The installation's address, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The one API key the fake accepts.
    pub fn api_key(&self) -> &'static str {
        API_KEY
    }

    /// A client of the fake with its key and a 10 s timeout.
    pub fn client(&self) -> EspoClient {
        EspoClient::new(&self.url, API_KEY.into(), Duration::from_secs(10)).unwrap()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, EspoState> {
        self.state.lock().unwrap()
    }

    /// Stores (replaces) a record, setting its `id` and stamping its `modifiedAt`.
    pub fn put_entity(&self, entity_type: &str, id: &str, mut fields: Map<String, Value>) {
        let mut s = self.lock();
        fields.insert("id".into(), json!(id));
        fields.insert("modifiedAt".into(), json!(s.stamp()));
        s.entities.insert((entity_type.into(), id.into()), fields);
    }

    /// Deletes a record (its links stay, as EspoCRM keeps them on a soft delete).
    pub fn remove_entity(&self, entity_type: &str, id: &str) {
        self.lock().entities.remove(&(entity_type.to_owned(), id.to_owned()));
    }

    /// A record as stored.
    pub fn entity(&self, entity_type: &str, id: &str) -> Option<Map<String, Value>> {
        self.lock().entities.get(&(entity_type.to_owned(), id.to_owned())).cloned()
    }

    /// Relates two records through `link` (a many-to-many relationship, one direction).
    pub fn link(&self, entity_type: &str, id: &str, link: &str, related_type: &str, related_id: &str) {
        let mut s = self.lock();
        let list = s.links.entry((entity_type.into(), id.into(), link.into())).or_default();
        if !list.iter().any(|(t, i)| t == related_type && i == related_id) {
            list.push((related_type.into(), related_id.into()));
        }
    }

    pub fn unlink(&self, entity_type: &str, id: &str, link: &str, related_type: &str, related_id: &str) {
        let mut s = self.lock();
        if let Some(list) = s.links.get_mut(&(entity_type.into(), id.into(), link.into())) {
            list.retain(|(t, i)| !(t == related_type && i == related_id));
        }
    }

    /// Stores an attachment of a `Document`'s `file` field.
    pub fn put_attachment(&self, id: &str, name: &str, mime: &str, bytes: &[u8]) {
        let a = Attachment {
            name: name.into(),
            mime: mime.into(),
            bytes: bytes.to_vec(),
            related_type: "Document".into(),
            field: "file".into(),
            role: "Attachment".into(),
        };
        self.lock().attachments.insert(id.into(), a);
    }

    /// An attachment as stored (uploaded ones included).
    pub fn attachment(&self, id: &str) -> Option<Attachment> {
        self.lock().attachments.get(id).cloned()
    }

    /// Every request so far: method and path with query (`/api/v1/Document?select=…`).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.lock().requests.clone()
    }

    /// The next `n` requests with the right key answer `status` (with `X-Status-Reason`).
    pub fn fail_next(&self, n: usize, status: u16) {
        self.lock().fail_next.extend(std::iter::repeat_n(status, n));
    }

    /// Scripted failures carry `Retry-After: <seconds>` (none: without).
    pub fn retry_after(&self, seconds: Option<u64>) {
        self.lock().retry_after = seconds;
    }

    /// Every answer waits this long first.
    pub fn delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    /// Attachment downloads are sent in 1 KiB chunks without a `Content-Length` (as behind a
    /// proxy that re-chunks), so a size bound must hold while reading.
    pub fn stream_downloads(&self, on: bool) {
        self.lock().stream_downloads = on;
    }

    /// The most requests about one record (the record and its links) in flight at once.
    pub fn max_concurrent(&self, entity_type: &str, id: &str) -> usize {
        self.lock().max_in_flight.get(&format!("{entity_type}/{id}")).copied().unwrap_or(0)
    }
}

type Shared = Arc<Mutex<EspoState>>;

fn espo_error(status: StatusCode, reason: &str, retry_after: Option<u64>) -> Response {
    let mut response = (status, [("X-Status-Reason", reason.to_owned())]).into_response();
    if let Some(s) = retry_after {
        response.headers_mut().insert("retry-after", s.into());
    }
    response
}

fn not_found() -> Response {
    espo_error(StatusCode::NOT_FOUND, "Not Found", None)
}

/// Counts a request about a record while it is in flight.
struct InFlight {
    state: Shared,
    record: Option<String>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(r) = &self.record
            && let Ok(mut s) = self.state.lock()
            && let Some(n) = s.in_flight.get_mut(r)
        {
            *n -= 1;
        }
    }
}

async fn handle(State(state): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let segments: Vec<String> = match path.strip_prefix("/api/v1/") {
        Some(rest) => rest.split('/').map(str::to_owned).collect(),
        None => Vec::new(),
    };
    let query: HashMap<String, String> = Query::try_from_uri(&parts.uri).map(|q| q.0).unwrap_or_default();
    let record = match segments.as_slice() {
        [entity, id] | [entity, id, _] if entity != "Attachment" => Some(format!("{entity}/{id}")),
        _ => None,
    };
    let (delay, _guard) = {
        let mut s = state.lock().unwrap();
        s.requests.push((parts.method.to_string(), super::path_and_query(&parts.uri)));
        if !key_ok(&parts.headers) {
            return espo_error(StatusCode::UNAUTHORIZED, "Unauthorized", None);
        }
        if let Some(status) = s.fail_next.pop_front() {
            let status = StatusCode::from_u16(status).unwrap();
            return espo_error(status, "Scripted failure", s.retry_after);
        }
        if let Some(r) = &record {
            let n = s.in_flight.entry(r.clone()).or_default();
            *n += 1;
            let now = *n;
            let max = s.max_in_flight.entry(r.clone()).or_default();
            *max = (*max).max(now);
        }
        (s.delay, InFlight { state: state.clone(), record })
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let Ok(body) = axum::body::to_bytes(body, 64 * 1024 * 1024).await else {
        return espo_error(StatusCode::BAD_REQUEST, "Bad Request", None);
    };
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let mut s = state.lock().unwrap();
    match (&parts.method, segments.as_slice()) {
        (&Method::POST, ["Attachment"]) => upload(&mut s, &body),
        (&Method::GET, ["Attachment", "file", id]) => download(&s, id),
        (&Method::GET, [entity]) => list(&s, entity, &query),
        (&Method::GET, [entity, id]) => match s.entities.get(&((*entity).to_owned(), (*id).to_owned())) {
            Some(e) => axum::Json(Value::Object(e.clone())).into_response(),
            None => not_found(),
        },
        (&Method::PUT, [entity, id]) => update(&mut s, entity, id, &body),
        (&Method::GET, [entity, id, link]) => related(&s, entity, id, link, &query),
        _ => not_found(),
    }
}

fn key_ok(headers: &HeaderMap) -> bool {
    headers.get("x-api-key").and_then(|v| v.to_str().ok()) == Some(API_KEY)
}

/// `select`, `offset`, `maxSize` of a listing; `None` for a `maxSize` over 200, which
/// EspoCRM refuses with 403.
fn search_params(query: &HashMap<String, String>) -> Option<(Option<Vec<String>>, usize, usize)> {
    let offset = query.get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
    let max: usize = query.get("maxSize").and_then(|v| v.parse().ok()).unwrap_or(20);
    let select = query.get("select").map(|s| s.split(',').map(str::to_owned).collect());
    (max <= 200).then_some((select, offset, max))
}

fn too_large_page() -> Response {
    espo_error(StatusCode::FORBIDDEN, "Max size should not exceed 200. Use offset and limit.", None)
}

fn selected(e: &Map<String, Value>, select: Option<&[String]>) -> Value {
    Value::Object(match select {
        None => e.clone(),
        Some(keys) => {
            e.iter().filter(|(k, _)| *k == "id" || keys.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
        }
    })
}

fn list(s: &EspoState, entity: &str, query: &HashMap<String, String>) -> Response {
    let Some((select, offset, max)) = search_params(query) else { return too_large_page() };
    // Records are kept by (type, id): within a type they are in id order already.
    let all: Vec<&Map<String, Value>> = s.entities.iter().filter(|((t, _), _)| t == entity).map(|(_, e)| e).collect();
    let list: Vec<Value> = all.iter().skip(offset).take(max).map(|e| selected(e, select.as_deref())).collect();
    axum::Json(json!({"total": all.len(), "list": list})).into_response()
}

fn related(s: &EspoState, entity: &str, id: &str, link: &str, query: &HashMap<String, String>) -> Response {
    let Some((select, offset, max)) = search_params(query) else { return too_large_page() };
    if !s.entities.contains_key(&(entity.to_owned(), id.to_owned())) {
        return not_found();
    }
    let related = s.links.get(&(entity.to_owned(), id.to_owned(), link.to_owned())).cloned().unwrap_or_default();
    let records: Vec<Value> = related
        .iter()
        .filter_map(|(t, i)| s.entities.get(&(t.clone(), i.clone())))
        .map(|e| selected(e, select.as_deref()))
        .collect();
    let page: Vec<Value> = records.iter().skip(offset).take(max).cloned().collect();
    axum::Json(json!({"total": records.len(), "list": page})).into_response()
}

fn update(s: &mut EspoState, entity: &str, id: &str, body: &[u8]) -> Response {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        return espo_error(StatusCode::BAD_REQUEST, "Bad Request", None);
    };
    let stamp = s.stamp();
    let Some(e) = s.entities.get_mut(&(entity.to_owned(), id.to_owned())) else { return not_found() };
    e.extend(fields.into_iter().filter(|(k, _)| k != "id"));
    e.insert("modifiedAt".into(), json!(stamp));
    axum::Json(Value::Object(e.clone())).into_response()
}

fn download(s: &EspoState, id: &str) -> Response {
    let Some(a) = s.attachments.get(id) else { return not_found() };
    let body = if s.stream_downloads {
        let chunks: Vec<Result<Vec<u8>, Infallible>> = a.bytes.chunks(1024).map(|c| Ok(c.to_vec())).collect();
        Body::from_stream(futures_util::stream::iter(chunks))
    } else {
        Body::from(a.bytes.clone())
    };
    ([("Content-Type", a.mime.clone())], body).into_response()
}

fn upload(s: &mut EspoState, body: &[u8]) -> Response {
    let bad = |why: &str| espo_error(StatusCode::BAD_REQUEST, &format!("Bad Request: {why}"), None);
    let Ok(body) = serde_json::from_slice::<Value>(body) else { return bad("not JSON") };
    let text = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let file = text("file");
    let Some((mime, data)) = file.strip_prefix("data:").and_then(|f| f.split_once(";base64,")) else {
        return bad("file is not a data URL");
    };
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data) else { return bad("file is not base64") };
    s.next_id += 1;
    let id = format!("att{:014x}", s.next_id);
    let a = Attachment {
        name: text("name"),
        mime: mime.to_owned(),
        bytes,
        related_type: text("relatedType"),
        field: text("field"),
        role: text("role"),
    };
    let answer = json!({"id": id, "name": a.name, "type": a.mime, "size": a.bytes.len(), "role": a.role});
    s.attachments.insert(id, a);
    axum::Json(answer).into_response()
}

#[cfg(test)]
mod tests {
    use super::datetime;

    #[test]
    fn the_clock_writes_espocrm_datetimes() {
        assert_eq!(datetime(1_767_225_600), "2026-01-01 00:00:00");
        assert_eq!(datetime(1_767_225_600 + 86_400 * 59 + 3_723), "2026-03-01 01:02:03");
        assert_eq!(datetime(951_782_400), "2000-02-29 00:00:00");
    }
}
