//! HTTP plumbing both clients share: base URLs checked once, requests sent and logged by path,
//! error answers turned into [`Error::Http`] with their message cut short and every key cut
//! out, and bodies read with a bound.

use std::time::Duration;

use reqwest::{RequestBuilder, Response, Url};
use serde_json::Value;

use crate::Error;

/// The most of an error answer read for its message.
const ERROR_BODY_LIMIT: usize = 16 * 1024;
/// The most of a JSON answer read (a listing of 200 records is far less).
const JSON_LIMIT: u64 = 32 * 1024 * 1024;
/// The characters of a service's message kept in an error.
const MESSAGE_CHARS: usize = 300;

/// Checks a configured base address (`http` or `https`, a host, no query or fragment) and
/// returns it without a trailing `/` and without `suffix` (a base given with its API version
/// path, like `https://crm.example.com/api/v1`, means the same as without).
pub(crate) fn base_url(what: &str, raw: &str, suffix: &str) -> Result<String, Error> {
    let bad = |why: &str| Error::Config(format!("{what} {:?} {why}", raw.chars().take(200).collect::<String>()));
    let url = Url::parse(raw.trim()).map_err(|_| bad("is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must start with http:// or https://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must not have a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not hold credentials"));
    }
    let mut base = url.as_str().trim_end_matches('/').to_owned();
    if let Some(stripped) = base.strip_suffix(suffix) {
        base = stripped.trim_end_matches('/').to_owned();
    }
    Ok(base)
}

/// An HTTP client with the whole-request `timeout` (connecting gets at most 10 s of it).
pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, Error> {
    if timeout.is_zero() {
        return Err(Error::Config("the HTTP timeout must be more than zero".into()));
    }
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .build()
        .map_err(|e| Error::Config(format!("the HTTP client cannot be built: {e}")))
}

/// Sends a request; an error status becomes [`Error::Http`]. `secrets` are cut out of any
/// message the service answers with.
pub(crate) async fn send(
    http: &reqwest::Client,
    service: &'static str,
    request: RequestBuilder,
    secrets: &[&str],
) -> Result<Response, Error> {
    let request = request.build().map_err(|e| Error::send(service, &e))?;
    let (method, path) = (request.method().clone(), request.url().path().to_owned());
    let response = http.execute(request).await.map_err(|e| Error::send(service, &e))?;
    let status = response.status();
    tracing::debug!(service, %method, path, status = status.as_u16(), "sync request");
    if status.is_success() {
        return Ok(response);
    }
    Err(http_error(service, response, secrets).await)
}

async fn http_error(service: &'static str, mut response: Response, secrets: &[&str]) -> Error {
    let status = response.status().as_u16();
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let retry_after = header("retry-after").and_then(|v| v.parse::<u64>().ok()).map(Duration::from_secs);
    // EspoCRM puts its reason in a header and often sends no body.
    let reason = header("x-status-reason").filter(|r| !r.is_empty()).map(str::to_owned);
    let mut body = Vec::new();
    while body.len() < ERROR_BODY_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(ERROR_BODY_LIMIT);
    let message = reason.unwrap_or_else(|| body_message(&body));
    Error::Http { status, service, message: clean(&message, secrets), retry_after }
}

/// An error answer's message: a JSON `message`, `error` (a string or `{message}`), `detail`,
/// else the text.
fn body_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let from_json = serde_json::from_str::<Value>(&text).ok().and_then(|v| {
        ["message", "error", "detail"].iter().find_map(|k| match v.get(*k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Object(o)) => o.get("message").and_then(Value::as_str).map(str::to_owned),
            _ => None,
        })
    });
    from_json.unwrap_or_else(|| text.trim().to_owned())
}

/// A message without control characters and keys, at most [`MESSAGE_CHARS`] long.
fn clean(message: &str, secrets: &[&str]) -> String {
    let mut message: String =
        message.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        message = message.replace(secret, "[redacted]");
    }
    if message.is_empty() {
        return "no message".into();
    }
    if message.chars().count() > MESSAGE_CHARS {
        let mut short: String = message.chars().take(MESSAGE_CHARS).collect();
        short.push('…');
        return short;
    }
    message
}

/// Why a bounded read stopped.
pub(crate) enum ReadError {
    /// More than the limit.
    TooLarge,
    Failed(Error),
}

/// Reads a body of at most `limit` bytes: refused at once when its `Content-Length` says more,
/// else read chunk by chunk and stopped as soon as it goes over.
pub(crate) async fn read_bounded(
    service: &'static str,
    mut response: Response,
    limit: u64,
) -> Result<Vec<u8>, ReadError> {
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(ReadError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| ReadError::Failed(Error::send(service, &e)))? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads a JSON answer.
pub(crate) async fn json(service: &'static str, response: Response) -> Result<Value, Error> {
    let body = read_bounded(service, response, JSON_LIMIT).await.map_err(|e| match e {
        ReadError::TooLarge => Error::BadAnswer(format!("{service} answered more than {JSON_LIMIT} bytes")),
        ReadError::Failed(e) => e,
    })?;
    serde_json::from_slice(&body).map_err(|e| Error::BadAnswer(format!("{service} answered something not JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_are_checked_and_normalised() {
        assert_eq!(base_url("x", "http://crm.local/", "/api/v1").unwrap(), "http://crm.local");
        assert_eq!(base_url("x", "https://crm.local/espo/api/v1/", "/api/v1").unwrap(), "https://crm.local/espo");
        assert_eq!(base_url("x", "https://management-api.x.ai/v1/", "/v1").unwrap(), "https://management-api.x.ai");
        assert_eq!(base_url("x", "http://127.0.0.1:8080", "/v1").unwrap(), "http://127.0.0.1:8080");
        for bad in ["ftp://x", "crm.local", "", "http://x/?a=b", "http://x/#f", "http://u:p@x/", "file:///etc"] {
            assert!(base_url("x", bad, "/v1").is_err(), "{bad}");
        }
    }

    #[test]
    fn messages_are_short_clean_and_keyless() {
        assert_eq!(body_message(br#"{"code":"x","error":"Incorrect key"}"#), "Incorrect key");
        assert_eq!(body_message(br#"{"error":{"message":"nested"}}"#), "nested");
        assert_eq!(body_message(b"  plain  "), "plain");
        assert_eq!(
            clean("key sk-12345 leaked\r\nagain sk-12345", &["sk-12345"]),
            "key [redacted] leaked  again [redacted]"
        );
        assert_eq!(clean("", &[]), "no message");
        let long = clean(&"a".repeat(1000), &[]);
        assert_eq!(long.chars().count(), MESSAGE_CHARS + 1);
    }
}
