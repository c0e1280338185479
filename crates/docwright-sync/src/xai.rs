//! xAI's Files and Collections APIs (docs.x.ai: "Files" › Upload and Manage, "Collections API"
//! › Collection Management).
//!
//! Files live on the API host (`https://api.x.ai`, `Authorization: Bearer <API key>`):
//! `POST /v1/files` (multipart, the part `file` with its file name and content type) answers
//! the file's metadata with its `id`; `DELETE /v1/files/{file_id}` removes it. The optional
//! `purpose` part is left out: xAI documents it as accepted for OpenAI SDK compatibility and
//! not interpreted.
//!
//! Collections live on the management host (`https://management-api.x.ai`, the management
//! key, which needs the `AddFileToCollection` permission): `POST`, `PATCH` (index again) and
//! `DELETE` on `/v1/collections/{collection_id}/documents/{file_id}` add, reindex and remove an
//! uploaded file as a collection's document. Each host gets only its own key.

use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use crate::error::{XAI_COLLECTIONS, XAI_FILES};
use crate::{Error, http, ids};

/// xAI's API host (Files).
pub const DEFAULT_API_BASE: &str = "https://api.x.ai";
/// xAI's management host (Collections).
pub const DEFAULT_MANAGEMENT_BASE: &str = "https://management-api.x.ai";

/// Where xAI is and its two keys. `Debug` shows no key.
#[derive(Clone)]
pub struct XaiConfig {
    /// The API host ([`DEFAULT_API_BASE`]); a trailing `/v1` is accepted too.
    pub api_base: String,
    /// The management host ([`DEFAULT_MANAGEMENT_BASE`]); a trailing `/v1` is accepted too.
    pub management_base: String,
    /// The API key, for Files.
    pub api_key: String,
    /// The management key, for Collections.
    pub management_key: String,
    /// Bounds every request as a whole (an upload included).
    pub timeout: Duration,
}

impl XaiConfig {
    /// xAI's own hosts with these keys.
    pub fn new(api_key: String, management_key: String, timeout: Duration) -> Self {
        Self {
            api_base: DEFAULT_API_BASE.into(),
            management_base: DEFAULT_MANAGEMENT_BASE.into(),
            api_key,
            management_key,
            timeout,
        }
    }
}

impl std::fmt::Debug for XaiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XaiConfig")
            .field("api_base", &self.api_base)
            .field("management_base", &self.management_base)
            .field("api_key", &"[redacted]")
            .field("management_key", &"[redacted]")
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A client of xAI's Files and Collections. Cheap to clone; `Debug` shows no key.
#[derive(Clone)]
pub struct XaiClient {
    http: reqwest::Client,
    api_base: String,
    management_base: String,
    api_key: String,
    management_key: String,
}

impl std::fmt::Debug for XaiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XaiClient")
            .field("api_base", &self.api_base)
            .field("management_base", &self.management_base)
            .finish_non_exhaustive()
    }
}

/// Which host a request goes to, and so which key it carries.
#[derive(Clone, Copy)]
enum Host {
    Files,
    Collections,
}

impl XaiClient {
    pub fn new(config: &XaiConfig) -> Result<Self, Error> {
        let key = |what: &str, k: &str| {
            let k = k.trim();
            let ok = !k.is_empty() && k.bytes().all(|b| b.is_ascii_graphic());
            if ok {
                Ok(k.to_owned())
            } else {
                Err(Error::Config(format!("the xAI {what} is empty or not a header value")))
            }
        };
        Ok(Self {
            http: http::client(config.timeout)?,
            api_base: http::base_url("the xAI API address", &config.api_base, "/v1")?,
            management_base: http::base_url("the xAI management address", &config.management_base, "/v1")?,
            api_key: key("API key", &config.api_key)?,
            management_key: key("management key", &config.management_key)?,
        })
    }

    async fn send(&self, host: Host, request: reqwest::RequestBuilder) -> Result<reqwest::Response, Error> {
        let (service, key) = match host {
            Host::Files => (XAI_FILES, &self.api_key),
            Host::Collections => (XAI_COLLECTIONS, &self.management_key),
        };
        // Both keys are cut out of any answer: a key sent to the wrong host may be echoed.
        let secrets = [self.api_key.as_str(), self.management_key.as_str()];
        http::send(&self.http, service, request.bearer_auth(key), &secrets).await
    }

    /// Uploads a file (`POST /v1/files`); its id. The name is sent as the part's file name,
    /// with quotes, backslashes and control characters replaced; the MIME type as the part's
    /// content type, without parameters.
    pub async fn upload_file(&self, name: &str, mime: &str, bytes: Bytes) -> Result<String, Error> {
        let mime = ids::mime(mime)?;
        let length = bytes.len() as u64;
        let part = reqwest::multipart::Part::stream_with_length(bytes, length)
            .file_name(file_name(name))
            .mime_str(mime)
            .map_err(|_| Error::InvalidId(format!("content type {mime:?} cannot go into a request")))?;
        let form = reqwest::multipart::Form::new().part("file", part);
        let url = format!("{}/v1/files", self.api_base);
        let response = self.send(Host::Files, self.http.post(url).multipart(form)).await?;
        let answer = http::json(XAI_FILES, response).await?;
        match answer.get("id").or_else(|| answer.get("file_id")).and_then(Value::as_str) {
            Some(id) if ids::xai_id("file id", id).is_ok() => Ok(id.to_owned()),
            Some(_) => Err(Error::BadAnswer(format!("{XAI_FILES} answered a file id that cannot go into a URL"))),
            None => Err(Error::BadAnswer(format!("{XAI_FILES} answered an upload without an id"))),
        }
    }

    /// Deletes a file (`DELETE /v1/files/{file_id}`). A file already gone (404) is fine: a
    /// retried delete whose first answer was lost must not fail.
    pub async fn delete_file(&self, file_id: &str) -> Result<(), Error> {
        let url = format!("{}/v1/files/{}", self.api_base, ids::xai_id("file id", file_id)?);
        match self.send(Host::Files, self.http.delete(url)).await {
            Ok(_) | Err(Error::Http { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn document_url(&self, collection_id: &str, file_id: &str) -> Result<String, Error> {
        Ok(format!(
            "{}/v1/collections/{}/documents/{}",
            self.management_base,
            ids::xai_id("collection id", collection_id)?,
            ids::xai_id("file id", file_id)?
        ))
    }

    /// Adds an uploaded file to a collection (`POST …/documents/{file_id}`). An unknown
    /// collection or file is a 404 error.
    pub async fn add_to_collection(&self, collection_id: &str, file_id: &str) -> Result<(), Error> {
        let url = self.document_url(collection_id, file_id)?;
        self.send(Host::Collections, self.http.post(url)).await.map(drop)
    }

    /// Has a collection index its document again (`PATCH …/documents/{file_id}`).
    pub async fn reindex(&self, collection_id: &str, file_id: &str) -> Result<(), Error> {
        let url = self.document_url(collection_id, file_id)?;
        self.send(Host::Collections, self.http.patch(url)).await.map(drop)
    }

    /// Removes a file from a collection (`DELETE …/documents/{file_id}`). Not in it (404) is
    /// fine: it is already gone.
    pub async fn remove_from_collection(&self, collection_id: &str, file_id: &str) -> Result<(), Error> {
        let url = self.document_url(collection_id, file_id)?;
        match self.send(Host::Collections, self.http.delete(url)).await {
            Ok(_) | Err(Error::Http { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// A file name safe inside a multipart header: reqwest escapes quotes but keeps line breaks,
/// so control characters, quotes and backslashes become `_`; at most 255 characters; never
/// empty.
fn file_name(name: &str) -> String {
    let clean: String =
        name.chars().map(|c| if c.is_control() || c == '"' || c == '\\' { '_' } else { c }).take(255).collect();
    if clean.trim().is_empty() { "file".into() } else { clean }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_cannot_break_the_header() {
        assert_eq!(file_name("a\"b\\c\r\nd.pdf"), "a_b_c__d.pdf");
        assert_eq!(file_name(""), "file");
        assert_eq!(file_name("Bericht ä.pdf"), "Bericht ä.pdf");
        assert_eq!(file_name(&"x".repeat(300)).len(), 255);
    }

    #[test]
    fn configuration_is_checked_and_never_shown() {
        let config = XaiConfig::new("xai-secret-1".into(), "mgmt-secret-2".into(), Duration::from_secs(5));
        let client = XaiClient::new(&config).unwrap();
        let shown = format!("{config:?} {client:?}");
        assert!(!shown.contains("secret"), "{shown}");
        let bad = XaiConfig { api_key: "".into(), ..config.clone() };
        assert!(matches!(XaiClient::new(&bad), Err(Error::Config(_))));
        let bad = XaiConfig { management_base: "management-api.x.ai".into(), ..config };
        assert!(matches!(XaiClient::new(&bad), Err(Error::Config(_))));
    }
}
