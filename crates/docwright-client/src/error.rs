//! The client's errors (SPEC U2), mapped from the server's status and stable error code.

use docwright_api::ErrorBody;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the server said about a refused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status.
    pub status: u16,
    /// The stable snake_case code (`not_found`, `validation_failed`, ...).
    pub code: String,
    pub message: String,
    /// The `X-Request-Id` that finds the request in the server's log.
    pub request_id: String,
    /// The request field at fault, for validation errors.
    pub field: Option<String>,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, HTTP {})", self.message, self.code, self.status)?;
        if !self.request_id.is_empty() {
            write!(f, " [request {}]", self.request_id)?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The credential was refused (401: a wrong, revoked or disabled token) or none was given.
    #[error("authentication failed: {0}")]
    Authentication(Refusal),
    /// The session expired and cannot be renewed: there is no static token to log in again
    /// with. Log in again.
    #[error("the session expired and there is no static token to log in again with: {0}")]
    TokenExpired(Refusal),
    /// 404: no such object, or one you may not see.
    #[error("not found: {0}")]
    NotFound(Refusal),
    /// 5xx: the server failed; the request id finds it in the server's log.
    #[error("server error: {0}")]
    Server(Refusal),
    /// Any other refusal (4xx): validation, permission, balance, conflict, rate limit.
    #[error("{0}")]
    Api(Refusal),
    /// The server could not be reached, or the connection broke.
    #[error("cannot reach the server at {url}: {source}")]
    Network {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// An answer that is not what the API documents.
    #[error("unexpected answer from {url}: {message}")]
    Protocol { url: String, message: String },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The client was configured wrongly (a base URL that is not one).
    #[error("invalid client configuration: {0}")]
    Config(String),
}

impl Error {
    /// The server's refusal, when there was one.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Self::Authentication(r) | Self::TokenExpired(r) | Self::NotFound(r) | Self::Server(r) | Self::Api(r) => {
                Some(r)
            }
            _ => None,
        }
    }

    /// The stable error code of a refusal.
    pub fn code(&self) -> Option<&str> {
        self.refusal().map(|r| r.code.as_str())
    }

    /// The error of an answer with status `status` and body `body`.
    pub(crate) fn from_answer(status: u16, request_id: Option<String>, body: &[u8]) -> Self {
        let refusal = match serde_json::from_slice::<ErrorBody>(body) {
            Ok(b) => Refusal {
                status,
                code: b.error.code,
                message: b.error.message,
                request_id: if b.error.request_id.is_empty() {
                    request_id.unwrap_or_default()
                } else {
                    b.error.request_id
                },
                field: b.error.field,
            },
            Err(_) => Refusal {
                status,
                code: match status {
                    401 => "unauthorized",
                    404 => "not_found",
                    s if s >= 500 => "internal",
                    _ => "bad_request",
                }
                .to_owned(),
                message: String::from_utf8_lossy(&body[..body.len().min(300)]).trim().to_owned(),
                request_id: request_id.unwrap_or_default(),
                field: None,
            },
        };
        match status {
            401 => Self::Authentication(refusal),
            404 => Self::NotFound(refusal),
            s if s >= 500 => Self::Server(refusal),
            _ => Self::Api(refusal),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_map_to_their_kinds() {
        let body = br#"{"error":{"code":"chat_busy","message":"busy","type":"invalid_request_error","param":null,"request_id":"r1"}}"#;
        let e = Error::from_answer(409, None, body);
        assert!(matches!(&e, Error::Api(r) if r.code == "chat_busy" && r.request_id == "r1"), "{e:?}");
        assert!(matches!(Error::from_answer(401, None, b"{}"), Error::Authentication(_)));
        assert!(matches!(Error::from_answer(404, None, b""), Error::NotFound(_)));
        let e = Error::from_answer(502, Some("r2".into()), b"bad gateway");
        assert!(matches!(&e, Error::Server(r) if r.request_id == "r2" && r.message == "bad gateway"), "{e:?}");
    }
}
