//! The chat's WebSocket (`WS /chats/{id}/stream`): frames `{"event", "data", "id"}` in, messages
//! `{"message", "attached_file_ids", ...}` out. A close frame with a reason (1008: a bad or
//! expired token, a missing permission) ends the stream with that reason as the error.

use std::pin::Pin;
use std::task::{Context, Poll};

use docwright_api::chats::MessageIn;
use docwright_api::events::{ChatEvent, RawEvent};
use futures_util::{SinkExt as _, Stream};
use tokio_tungstenite::tungstenite::Message;

use crate::error::{Error, Refusal, Result};

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An open chat socket: a [`Stream`] of the chat's events, each with its resumable id.
pub struct ChatSocket {
    ws: Ws,
    url: String,
    closed: bool,
}

impl std::fmt::Debug for ChatSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatSocket").field("url", &self.url).finish_non_exhaustive()
    }
}

impl ChatSocket {
    /// `url` carries the token and is never shown; `shown` names the socket in errors.
    pub(crate) async fn connect(url: &str, shown: String) -> Result<Self> {
        match tokio_tungstenite::connect_async(url).await {
            Ok((ws, _)) => Ok(Self { ws, url: shown, closed: false }),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                let status = resp.status().as_u16();
                let body = resp.body().clone().unwrap_or_default();
                Err(Error::from_answer(status, None, &body))
            }
            Err(e) => Err(Error::Protocol { url: shown, message: format!("cannot open the socket: {e}") }),
        }
    }

    /// Asks a question in the chat; its answer's events come on the stream.
    pub async fn send(&mut self, message: &MessageIn) -> Result<()> {
        let text = serde_json::to_string(message).map_err(|e| Error::Config(e.to_string()))?;
        self.ws
            .send(Message::Text(text.into()))
            .await
            .map_err(|e| Error::Protocol { url: self.url.clone(), message: format!("cannot send: {e}") })
    }

    /// Closes the socket.
    pub async fn close(mut self) -> Result<()> {
        self.ws.close(None).await.map_err(|e| Error::Protocol { url: self.url.clone(), message: e.to_string() })
    }
}

impl Stream for ChatSocket {
    type Item = Result<(Option<String>, ChatEvent)>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if self.closed {
                return Poll::Ready(None);
            }
            let frame = match Pin::new(&mut self.ws).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(f)) => f,
            };
            let url = self.url.clone();
            match frame {
                Ok(Message::Text(t)) => {
                    let item = serde_json::from_str::<RawEvent>(&t)
                        .map(|e| (e.id, ChatEvent::parse(&e.event, &e.data)))
                        .map_err(|e| Error::Protocol { url, message: format!("a frame that is no event: {e}") });
                    return Poll::Ready(Some(item));
                }
                Ok(Message::Close(frame)) => {
                    self.closed = true;
                    let Some(frame) = frame.filter(|f| u16::from(f.code) != 1000) else { return Poll::Ready(None) };
                    let refusal = Refusal {
                        status: if u16::from(frame.code) == 1008 { 401 } else { 500 },
                        code: format!("socket_closed_{}", u16::from(frame.code)),
                        message: frame.reason.to_string(),
                        request_id: String::new(),
                        field: None,
                    };
                    let e = if refusal.status == 401 { Error::Authentication(refusal) } else { Error::Server(refusal) };
                    return Poll::Ready(Some(Err(e)));
                }
                Ok(_) => {}
                Err(e) => {
                    self.closed = true;
                    return Poll::Ready(Some(Err(Error::Protocol { url, message: format!("the socket broke: {e}") })));
                }
            }
        }
    }
}
