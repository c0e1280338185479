//! The EspoCRM REST API client (docs.espocrm.com, Development › API: "API Overview", "Search
//! params", "Attachment"): `{base}/api/v1/...`, authenticated by an API user's key in
//! `X-Api-Key`. Records are JSON objects; listings answer `{total, list}` (paged with
//! `offset` and `maxSize`, at most 200); a record's file is an attachment downloaded from
//! `GET Attachment/file/{id}`; an attachment is uploaded as JSON with the file as a base64
//! data URL (`POST Attachment` with `relatedType`, `field`, `role`).
//!
//! Every entity type, id, link and field is checked before it goes into a URL
//! (`crate::ids`), so a value from the CRM or a webhook cannot change the request.

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use reqwest::Url;
use reqwest::header::HeaderValue;
use serde_json::{Map, Value, json};

use crate::error::ESPOCRM;
use crate::http::{self, ReadError};
use crate::{Error, ids};

/// Records per page of [`EspoClient::list_all_ids`] and [`EspoClient::related`] (EspoCRM's
/// largest `maxSize`).
pub const PAGE_SIZE: usize = 200;

/// A client of one EspoCRM installation. Cheap to clone.
#[derive(Clone)]
pub struct EspoClient {
    http: reqwest::Client,
    /// `https://crm.example.com` (no trailing `/`, no `/api/v1`).
    base: String,
    key: HeaderValue,
}

impl std::fmt::Debug for EspoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EspoClient").field("base", &self.base).field("key", &"[redacted]").finish()
    }
}

/// An attachment to upload for a record's field.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    /// The file name shown in the CRM.
    pub name: String,
    /// The MIME type; parameters (`; charset=…`) are left off.
    pub mime: String,
    pub bytes: Bytes,
    /// The entity type the field belongs to (`Document`).
    pub related_type: String,
    /// The File or Image field (`previewImage`); set the record's `<field>Id` to the new id.
    pub field: String,
    /// `Attachment` for a field's file.
    pub role: String,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The number of records, or EspoCRM's `-1` ("more") and `-2` ("no more") when it does not
    /// count them.
    pub total: i64,
    pub list: Vec<Map<String, Value>>,
}

impl EspoClient {
    /// A client of the EspoCRM at `base_url` (`https://crm.example.com`; a trailing `/api/v1`
    /// is accepted too). `timeout` bounds every request as a whole.
    pub fn new(base_url: &str, api_key: String, timeout: Duration) -> Result<Self, Error> {
        let base = http::base_url("the EspoCRM address", base_url, "/api/v1")?;
        let mut key = HeaderValue::from_str(api_key.trim())
            .map_err(|_| Error::Config("the EspoCRM API key is not a valid header value".into()))?;
        if key.is_empty() {
            return Err(Error::Config("the EspoCRM API key is empty".into()));
        }
        key.set_sensitive(true);
        Ok(Self { http: http::client(timeout)?, base, key })
    }

    /// `{base}/api/v1/{segments…}` with `query`; every segment was checked by the caller.
    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Result<Url, Error> {
        let mut url = Url::parse(&format!("{}/api/v1/{}", self.base, segments.join("/")))
            .map_err(|e| Error::Config(format!("the EspoCRM address cannot take a path: {e}")))?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, Error> {
        let key = self.key.to_str().unwrap_or_default();
        http::send(&self.http, ESPOCRM, request.header("X-Api-Key", self.key.clone()), &[key]).await
    }

    async fn get_json(&self, url: Url) -> Result<Value, Error> {
        http::json(ESPOCRM, self.send(self.http.get(url)).await?).await
    }

    /// A record (`GET {Entity}/{id}`); `None` when EspoCRM answers 404 (no such record, or
    /// deleted).
    pub async fn get_entity(&self, entity_type: &str, id: &str) -> Result<Option<Map<String, Value>>, Error> {
        let url = self.url(&[ids::name("entity type", entity_type)?, ids::record_id("record id", id)?], &[])?;
        match self.get_json(url).await {
            Ok(Value::Object(m)) => Ok(Some(m)),
            Ok(_) => Err(Error::BadAnswer(format!("{ESPOCRM} answered a record that is not an object"))),
            Err(Error::Http { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One page of `entity_type`'s records in id order with the `select`ed attributes (all
    /// when `select` is empty; EspoCRM always adds `id`): `GET {Entity}?select=…&offset=…&
    /// maxSize=…&orderBy=id&order=asc`.
    pub async fn list(
        &self,
        entity_type: &str,
        select: &[&str],
        offset: usize,
        max_size: usize,
    ) -> Result<Page, Error> {
        let entity = ids::name("entity type", entity_type)?;
        let mut query = select_query(select)?;
        query.extend([
            ("offset", offset.to_string()),
            ("maxSize", max_size.to_string()),
            ("orderBy", "id".to_owned()),
            ("order", "asc".to_owned()),
        ]);
        page_of(self.get_json(self.url(&[entity], &query)?).await?)
    }

    /// Every record's id and `modifiedAt`, paging by [`PAGE_SIZE`] until a short page.
    pub async fn list_all_ids(&self, entity_type: &str) -> Result<Vec<(String, Option<String>)>, Error> {
        let mut out: Vec<(String, Option<String>)> = Vec::new();
        let mut previous_first = None;
        loop {
            let page = self.list(entity_type, &["id", "modifiedAt"], out.len(), PAGE_SIZE).await?;
            let n = page.list.len();
            previous_first = repeated_page(&page.list, previous_first)?;
            for r in page.list {
                let id = r.get("id").and_then(Value::as_str).ok_or_else(listed_without_id)?;
                out.push((id.to_owned(), r.get("modifiedAt").and_then(Value::as_str).map(str::to_owned)));
            }
            if done(page.total, n, out.len()) {
                return Ok(out);
            }
        }
    }

    /// Every record related to a record through `link` (`GET {Entity}/{id}/{link}`, paged by
    /// [`PAGE_SIZE`]), with the `select`ed attributes (all when empty).
    pub async fn related(
        &self,
        entity_type: &str,
        id: &str,
        link: &str,
        select: &[&str],
    ) -> Result<Vec<Map<String, Value>>, Error> {
        let segments =
            [ids::name("entity type", entity_type)?, ids::record_id("record id", id)?, ids::name("link", link)?];
        let select = select_query(select)?;
        let mut out: Vec<Map<String, Value>> = Vec::new();
        let mut previous_first = None;
        loop {
            let mut query = select.clone();
            query.extend([("offset", out.len().to_string()), ("maxSize", PAGE_SIZE.to_string())]);
            let page = page_of(self.get_json(self.url(&segments, &query)?).await?)?;
            let n = page.list.len();
            previous_first = repeated_page(&page.list, previous_first)?;
            out.extend(page.list);
            if done(page.total, n, out.len()) {
                return Ok(out);
            }
        }
    }

    /// An attachment's bytes (`GET Attachment/file/{id}`), at most `max_bytes` of them: more is
    /// [`Error::TooLarge`], found from `Content-Length` before reading or while reading.
    pub async fn download_attachment(&self, id: &str, max_bytes: u64) -> Result<Bytes, Error> {
        let url = self.url(&["Attachment", "file", ids::record_id("attachment id", id)?], &[])?;
        let response = self.send(self.http.get(url)).await?;
        match http::read_bounded(ESPOCRM, response, max_bytes).await {
            Ok(body) => Ok(body.into()),
            Err(ReadError::TooLarge) => Err(Error::TooLarge { limit: max_bytes }),
            Err(ReadError::Failed(e)) => Err(e),
        }
    }

    /// Uploads an attachment for a record's field (`POST Attachment`); its id.
    pub async fn upload_attachment(&self, attachment: &NewAttachment) -> Result<String, Error> {
        let a = attachment;
        let mime = ids::mime(&a.mime)?;
        let data = base64::engine::general_purpose::STANDARD.encode(&a.bytes);
        let body = json!({
            "name": a.name,
            "type": mime,
            "role": a.role,
            "relatedType": ids::name("related type", &a.related_type)?,
            "field": ids::field("field", &a.field)?,
            "file": format!("data:{mime};base64,{data}"),
        });
        let response = self.send(self.http.post(self.url(&["Attachment"], &[])?).json(&body)).await?;
        let answer = http::json(ESPOCRM, response).await?;
        match answer.get("id").and_then(Value::as_str) {
            Some(id) if ids::is_record_id(id) => Ok(id.to_owned()),
            Some(_) => Err(Error::BadAnswer(format!("{ESPOCRM} answered an attachment id that is not an id"))),
            None => Err(Error::BadAnswer(format!("{ESPOCRM} answered an attachment without an id"))),
        }
    }

    /// Sets attributes of a record (`PUT {Entity}/{id}`); the others stay as they are.
    pub async fn update_entity(&self, entity_type: &str, id: &str, fields: &Map<String, Value>) -> Result<(), Error> {
        let url = self.url(&[ids::name("entity type", entity_type)?, ids::record_id("record id", id)?], &[])?;
        self.send(self.http.put(url).json(fields)).await?;
        Ok(())
    }
}

fn select_query(select: &[&str]) -> Result<Vec<(&'static str, String)>, Error> {
    if select.is_empty() {
        return Ok(Vec::new());
    }
    let fields = select.iter().map(|f| ids::field("attribute", f)).collect::<Result<Vec<_>, _>>()?;
    Ok(vec![("select", fields.join(","))])
}

fn listed_without_id() -> Error {
    Error::BadAnswer(format!("{ESPOCRM} listed a record without an id"))
}

/// Whether a paged read is complete: a short page, as many as a counted total, or EspoCRM's
/// `-2` ("no more").
fn done(total: i64, page_len: usize, read: usize) -> bool {
    page_len < PAGE_SIZE || total == -2 || u64::try_from(total).is_ok_and(|t| read as u64 >= t)
}

/// Refuses a page that starts with the record the previous one started with: a server that
/// ignores `offset` would otherwise be read forever. Returns this page's first id.
fn repeated_page(page: &[Map<String, Value>], previous_first: Option<String>) -> Result<Option<String>, Error> {
    let first = page.first().and_then(|r| r.get("id")).and_then(Value::as_str).map(str::to_owned);
    if first.is_some() && first == previous_first {
        return Err(Error::BadAnswer(format!("{ESPOCRM} answered the same page twice (is offset ignored?)")));
    }
    Ok(first)
}

fn page_of(v: Value) -> Result<Page, Error> {
    let bad = |m: &str| Error::BadAnswer(format!("{ESPOCRM} answered {m}"));
    let list = match v.get("list") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_object().cloned().ok_or_else(|| bad("a listed record that is not an object")))
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err(bad("a listing without a list")),
    };
    let total = v.get("total").and_then(Value::as_i64).unwrap_or(-1);
    Ok(Page { total, list })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_built_from_checked_segments() {
        let c = EspoClient::new("https://crm.example.com/api/v1/", "k3y".into(), Duration::from_secs(5)).unwrap();
        let url = c.url(&["Document", "abc"], &[("select", "id,name".into()), ("offset", "0".into())]).unwrap();
        assert_eq!(url.as_str(), "https://crm.example.com/api/v1/Document/abc?select=id%2Cname&offset=0");
        assert!(!format!("{c:?}").contains("k3y"));
        assert!(matches!(EspoClient::new("https://x", " ".into(), Duration::from_secs(1)), Err(Error::Config(_))));
        assert!(matches!(EspoClient::new("https://x", "a\nb".into(), Duration::from_secs(1)), Err(Error::Config(_))));
    }

    #[test]
    fn pages_end_on_a_short_page_or_the_total() {
        assert!(done(-1, 3, 3));
        assert!(!done(-1, PAGE_SIZE, PAGE_SIZE));
        assert!(done(200, PAGE_SIZE, PAGE_SIZE));
        assert!(!done(401, PAGE_SIZE, PAGE_SIZE));
        assert!(done(-2, PAGE_SIZE, PAGE_SIZE));
        let p = page_of(json!({"total": -1, "list": [{"id": "a"}]})).unwrap();
        assert_eq!((p.total, p.list.len()), (-1, 1));
        assert!(page_of(json!({"total": 1})).is_err());
        assert!(page_of(json!({"list": [1]})).is_err());
    }
}
