//! HTTP plumbing shared by the wire protocols: the [`Endpoint`] (name, base URL, HTTP client
//! with its TLS settings, time bound), sending a JSON or form request under the time bound,
//! mapping error statuses, reading `Retry-After`, pulling the provider's error message, and
//! reading server-sent events into a [`crate::ChatStream`].

use std::time::Duration;

use serde_json::Value;

use crate::structured::Answer;
use crate::{Error, Result};

/// Posts `body` as JSON to `url` with `headers` (see [`post`]).
async fn post_json(
    client: &reqwest::Client,
    provider: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &Value,
    timeout: Duration,
) -> Result<(reqwest::Response, u64)> {
    let bytes = serde_json::to_vec(body)
        .map_err(|e| Error::Malformed { provider: provider.to_owned(), detail: e.to_string() })?;
    post(client, provider, url, headers, ("application/json", bytes), timeout).await
}

/// Posts a body of the given content type to `url` with `headers`; answers the response when
/// its status is a success, with the number of bytes sent. 429 becomes [`Error::RateLimited`],
/// other failures [`Error::Upstream`] with the provider's own message.
async fn post(
    client: &reqwest::Client,
    provider: &str,
    url: &str,
    headers: &[(&str, &str)],
    (content_type, bytes): (&str, Vec<u8>),
    timeout: Duration,
) -> Result<(reqwest::Response, u64)> {
    let sent = bytes.len() as u64;
    let mut req = client.post(url).header(reqwest::header::CONTENT_TYPE, content_type).body(bytes);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = match tokio::time::timeout(timeout, req.send()).await {
        Err(_) => return Err(Error::Timeout { provider: provider.to_owned(), after: timeout }),
        Ok(Err(e)) => return Err(transport(provider, &e, timeout)),
        Ok(Ok(r)) => r,
    };
    let status = response.status();
    if status.is_success() {
        return Ok((response, sent));
    }
    let retry_after = retry_after(response.headers());
    let text = tokio::time::timeout(timeout, response.text()).await.ok().and_then(|r| r.ok()).unwrap_or_default();
    if status.as_u16() == 429 {
        return Err(Error::RateLimited { provider: provider.to_owned(), retry_after });
    }
    Err(Error::Upstream { provider: provider.to_owned(), status: status.as_u16(), message: error_message(&text) })
}

/// Reads a whole response body under the time bound and parses it as JSON.
async fn read_json(provider: &str, response: reqwest::Response, timeout: Duration) -> Result<(Value, u64)> {
    let bytes = match tokio::time::timeout(timeout, response.bytes()).await {
        Err(_) => return Err(Error::Timeout { provider: provider.to_owned(), after: timeout }),
        Ok(Err(e)) => return Err(transport(provider, &e, timeout)),
        Ok(Ok(b)) => b,
    };
    let v = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Malformed { provider: provider.to_owned(), detail: format!("not JSON: {e}") })?;
    Ok((v, bytes.len() as u64))
}

pub(crate) fn transport(provider: &str, e: &reqwest::Error, timeout: Duration) -> Error {
    if e.is_timeout() {
        Error::Timeout { provider: provider.to_owned(), after: timeout }
    } else {
        // reqwest's message names the URL, never headers (keys travel in headers).
        Error::Transport { provider: provider.to_owned(), detail: e.to_string() }
    }
}

/// `Retry-After` in seconds (or `retry-after-ms`), as providers send it on 429.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return Some(Duration::from_secs_f64(ms.max(0.0) / 1000.0));
    }
    get("retry-after").and_then(|v| v.parse::<f64>().ok()).map(|s| Duration::from_secs_f64(s.max(0.0)))
}

/// The provider's error message (`{"error": {"message": ...}}`, or GigaChat's
/// `{"status": 401, "message": ...}`), or the start of the body.
pub(crate) fn error_message(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v["error"]["message"].as_str().or(v["error"].as_str()).or(v["message"].as_str()).map(str::to_owned)
        })
        .unwrap_or_else(|| body.chars().take(200).collect())
}

type SseStream = std::pin::Pin<
    Box<
        dyn futures_util::Stream<
                Item = std::result::Result<
                    eventsource_stream::Event,
                    eventsource_stream::EventStreamError<reqwest::Error>,
                >,
            > + Send,
    >,
>;

/// Reads server-sent events from a streaming response: each event under the idle time bound,
/// counting the bytes received.
pub(crate) struct SseReader {
    events: SseStream,
    provider: String,
    timeout: Duration,
    received: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl SseReader {
    pub(crate) fn new(provider: &str, response: reqwest::Response, timeout: Duration) -> Self {
        use eventsource_stream::Eventsource as _;
        use futures_util::StreamExt as _;
        let received = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = received.clone();
        let events = response
            .bytes_stream()
            .inspect(move |chunk| {
                if let Ok(c) = chunk {
                    counter.fetch_add(c.len() as u64, std::sync::atomic::Ordering::Relaxed);
                }
            })
            .eventsource();
        Self { events: Box::pin(events), provider: provider.to_owned(), timeout, received }
    }

    /// The next event's data (events without data, such as keep-alives, are passed over);
    /// [`Error::Truncated`] when the stream ends (the protocol decides which event is the last
    /// one and stops reading before that).
    pub(crate) async fn next(&mut self) -> Result<String> {
        use futures_util::StreamExt as _;
        loop {
            let ev = match tokio::time::timeout(self.timeout, self.events.next()).await {
                Err(_) => return Err(Error::Timeout { provider: self.provider.clone(), after: self.timeout }),
                Ok(None) => return Err(Error::Truncated { provider: self.provider.clone() }),
                Ok(Some(Err(e))) => {
                    return Err(Error::Transport { provider: self.provider.clone(), detail: e.to_string() });
                }
                Ok(Some(Ok(ev))) => ev,
            };
            if !ev.data.trim().is_empty() {
                return Ok(ev.data);
            }
        }
    }

    pub(crate) fn received(&self) -> u64 {
        self.received.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Where and how a provider is reached: its configured name, base URL, HTTP client (connection
/// attempts bounded too) and the time bound on answers and on each streamed chunk.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub(crate) name: String,
    base_url: String,
    client: reqwest::Client,
    pub(crate) timeout: Duration,
}

impl Endpoint {
    /// With extra trusted CAs and/or a client certificate when `tls` says so (see [`crate::tls`]).
    pub(crate) fn with_tls(name: String, base_url: &str, timeout: Duration, tls: &crate::tls::Tls) -> Result<Self> {
        let builder = reqwest::Client::builder().connect_timeout(timeout.min(Duration::from_secs(30)));
        let client = tls
            .apply(&name, builder)?
            .build()
            .map_err(|e| Error::Config { provider: name.clone(), detail: format!("HTTP client: {e}") })?;
        Ok(Self { name, base_url: base_url.trim_end_matches('/').to_owned(), client, timeout })
    }

    /// Posts `body` to `base_url` + `path` (see [`post_json`]).
    pub(crate) async fn post(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &Value,
    ) -> Result<(reqwest::Response, u64)> {
        let url = format!("{}{path}", self.base_url);
        post_json(&self.client, &self.name, &url, headers, body, self.timeout).await
    }

    /// Posts a form (`application/x-www-form-urlencoded`) to another URL on the same client,
    /// such as an OAuth endpoint on another host.
    pub(crate) async fn post_form(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        form: String,
    ) -> Result<(reqwest::Response, u64)> {
        let body = ("application/x-www-form-urlencoded", form.into_bytes());
        post(&self.client, &self.name, url, headers, body, self.timeout).await
    }

    pub(crate) async fn read_json(&self, response: reqwest::Response) -> Result<(Value, u64)> {
        read_json(&self.name, response, self.timeout).await
    }

    pub(crate) fn sse(&self, response: reqwest::Response) -> SseReader {
        SseReader::new(&self.name, response, self.timeout)
    }

    pub(crate) fn malformed(&self, detail: impl Into<String>) -> Error {
        Error::Malformed { provider: self.name.clone(), detail: detail.into() }
    }
}

/// The answer being assembled from a stream: text so far, model, finish reason, and how the
/// text becomes the caller's answer ([`Answer`]).
pub(crate) struct Assembly {
    pub(crate) provider: String,
    pub(crate) request: crate::ChatRequest,
    pub(crate) content: String,
    pub(crate) model: Option<String>,
    pub(crate) finish_reason: Option<String>,
    answer: Answer,
    /// The tool calls so far.
    calls: crate::tools::Calls,
    /// An event to yield before reading on (the `Done` after a held-back answer's text).
    pending: Option<crate::StreamEvent>,
    sent: u64,
}

impl Assembly {
    pub(crate) fn new(provider: &str, request: &crate::ChatRequest, sent: u64, answer: Answer) -> Self {
        Self {
            provider: provider.to_owned(),
            request: request.clone(),
            content: String::new(),
            model: None,
            finish_reason: None,
            answer,
            calls: crate::tools::Calls::default(),
            pending: None,
            sent,
        }
    }

    /// Adds text to the answer; the event to pass on, unless the answer is held back until it
    /// is complete (it will change on the way to the caller: see [`Answer::passthrough`]).
    pub(crate) fn delta(&mut self, text: &str) -> Option<crate::StreamEvent> {
        self.content.push_str(text);
        self.answer.passthrough().then(|| crate::StreamEvent::Delta(text.to_owned()))
    }

    /// Adds a piece of a tool call; the event to pass on.
    pub(crate) fn tool_call(&mut self, piece: crate::ToolCallDelta) -> crate::StreamEvent {
        self.calls.add(&piece);
        crate::StreamEvent::ToolCall(piece)
    }

    /// A stream event's data as JSON, or [`Error::Malformed`].
    pub(crate) fn parse(&self, data: &str) -> Result<Value> {
        serde_json::from_str(data).map_err(|e| Error::Malformed {
            provider: self.provider.clone(),
            detail: format!("stream event is not JSON: {e}"),
        })
    }

    /// Ends the stream: turns the text into the caller's answer (checking its shape) and
    /// yields the whole response — after the answer's text as one delta when it was held back.
    pub(crate) fn done(&mut self, usage: crate::Usage, received: u64) -> Result<crate::StreamEvent> {
        let tool_calls = std::mem::take(&mut self.calls).finish();
        let content = self.answer.finish(&self.provider, std::mem::take(&mut self.content), &tool_calls)?;
        let response = crate::ChatResponse {
            content,
            tool_calls,
            model: self.model.take().unwrap_or_else(|| self.request.model.clone()),
            usage,
            finish_reason: self.finish_reason.take(),
            bytes_sent: self.sent,
            bytes_received: received,
        };
        if self.answer.passthrough() || response.content.is_empty() {
            return Ok(crate::StreamEvent::Done(response));
        }
        let text = response.content.clone();
        self.pending = Some(crate::StreamEvent::Done(response));
        Ok(crate::StreamEvent::Delta(text))
    }
}

/// A protocol's stream reader: reads server-sent events until it has the next event to yield.
pub(crate) trait NextEvent: Send + 'static {
    fn next_event(&mut self) -> impl std::future::Future<Output = Result<crate::StreamEvent>> + Send;

    /// The answer being assembled (whose pending event comes before reading on).
    fn assembly(&mut self) -> &mut Assembly;
}

/// The [`crate::ChatStream`] of a protocol's stream reader. Whatever the protocol, a stream ends
/// after the whole answer (`Done`) or its first error.
pub(crate) fn chat_stream<S: NextEvent>(state: S) -> crate::ChatStream {
    Box::pin(futures_util::stream::unfold(Some(state), |state| async move {
        let mut s = state?;
        let item = match s.assembly().pending.take() {
            Some(ev) => Ok(ev),
            None => s.next_event().await,
        };
        let more = matches!(item, Ok(crate::StreamEvent::Delta(_) | crate::StreamEvent::ToolCall(_)));
        Some((item, more.then_some(s)))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_and_error_messages() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert("retry-after-ms", "1500".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
        assert_eq!(error_message(r#"{"error": {"message": "quota", "type": "x"}}"#), "quota");
        assert_eq!(
            error_message(r#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#),
            "Overloaded"
        );
        assert_eq!(error_message("Bad Gateway"), "Bad Gateway");
        assert_eq!(error_message(r#"{"status": 401, "message": "Unauthorized"}"#), "Unauthorized");
    }
}
