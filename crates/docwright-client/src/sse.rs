//! Server-Sent Events read from a byte stream (the WHATWG `text/event-stream` rules: fields
//! `event`, `data` — several joined by line feeds —, `id`; comments; events end at a blank
//! line; `\n`, `\r\n` and `\r` end lines).

use bytes::Bytes;
use docwright_api::events::RawEvent;
use futures_util::{Stream, StreamExt as _};

use crate::error::{Error, Result};

/// Splits the body into events.
#[derive(Debug, Default)]
pub(crate) struct Parser {
    buf: Vec<u8>,
    event: Option<String>,
    data: Vec<String>,
    id: Option<String>,
    /// The last `id` seen: what `Last-Event-ID` resumes after.
    last_id: Option<String>,
}

impl Parser {
    /// Feeds bytes; answers the events they completed.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> Vec<(Option<String>, String, String)> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(end) = self.buf.iter().position(|b| *b == b'\n' || *b == b'\r') {
            // A `\r` at the very end may be the first half of `\r\n`: wait for more.
            if self.buf[end] == b'\r' && end + 1 == self.buf.len() {
                break;
            }
            let skip = if self.buf[end] == b'\r' && self.buf.get(end + 1) == Some(&b'\n') { 2 } else { 1 };
            let line: Vec<u8> = self.buf.drain(..end + skip).take(end).collect();
            let line = String::from_utf8_lossy(&line).into_owned();
            if line.is_empty() {
                if let Some(ev) = self.dispatch() {
                    out.push(ev);
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f.to_owned(), v.strip_prefix(' ').unwrap_or(v).to_owned()),
                None => (line, String::new()),
            };
            match field.as_str() {
                "event" => self.event = Some(value),
                "data" => self.data.push(value),
                "id" if !value.contains('\0') => self.id = Some(value),
                _ => {}
            }
        }
        out
    }

    fn dispatch(&mut self) -> Option<(Option<String>, String, String)> {
        if let Some(id) = self.id.take() {
            self.last_id = Some(id);
        }
        let event = self.event.take();
        if self.data.is_empty() {
            return None;
        }
        let data = std::mem::take(&mut self.data).join("\n");
        Some((self.last_id.clone(), event.unwrap_or_else(|| "message".to_owned()), data))
    }
}

/// The events of a response body, their data read as JSON.
pub(crate) fn events(
    url: String,
    body: impl Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
) -> impl Stream<Item = Result<RawEvent>> + Send + 'static {
    let state = (Box::pin(body), Parser::default(), std::collections::VecDeque::new(), url);
    futures_util::stream::unfold(state, |(mut body, mut parser, mut ready, url)| async move {
        loop {
            if let Some((id, event, data)) = ready.pop_front() {
                let data: String = data;
                let item = match serde_json::from_str(&data) {
                    Ok(data) => Ok(RawEvent { id, event, data }),
                    Err(e) => Err(Error::Protocol { url: url.clone(), message: format!("event {event}: {e}") }),
                };
                return Some((item, (body, parser, ready, url)));
            }
            match body.next().await {
                Some(Ok(chunk)) => ready.extend(parser.feed(&chunk)),
                Some(Err(source)) => {
                    return Some((Err(Error::Network { url: url.clone(), source }), (body, parser, ready, url)));
                }
                None => return None,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_and_line_endings() {
        let mut p = Parser::default();
        let mut got = p.feed(b": keep-alive\n\nid: t:1\r\nevent: llm_token\r\ndata: {\"token\":");
        assert!(got.is_empty());
        got.extend(p.feed(b"\"a\"}\r"));
        got.extend(p.feed(b"\n\r\nevent: completed\ndata: {}\n\n"));
        assert_eq!(
            got,
            vec![
                (Some("t:1".into()), "llm_token".into(), "{\"token\":\"a\"}".into()),
                (Some("t:1".into()), "completed".into(), "{}".into()),
            ]
        );
        let mut p = Parser::default();
        assert_eq!(p.feed(b"data: a\ndata: b\n\n"), vec![(None, "message".into(), "a\nb".into())]);
    }
}
