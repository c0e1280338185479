//! The one error type of the crate, and which of its cases are worth another attempt.

use std::time::Duration;

/// The service name of EspoCRM in [`Error::Http`].
pub const ESPOCRM: &str = "espocrm";
/// The service name of xAI's Files API (the API host).
pub const XAI_FILES: &str = "xai files";
/// The service name of xAI's Collections API (the management host).
pub const XAI_COLLECTIONS: &str = "xai collections";

/// What went wrong talking to EspoCRM or xAI. Never holds a key: messages from a service's
/// answer have every key the client holds cut out, and requests are named by path only.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The service answered with an error status.
    #[error("{service} answered {status}: {message}")]
    Http {
        status: u16,
        /// [`ESPOCRM`], [`XAI_FILES`] or [`XAI_COLLECTIONS`].
        service: &'static str,
        /// The answer's own message (a JSON `message`/`error`, EspoCRM's `X-Status-Reason`,
        /// else the text), at most about 300 characters.
        message: String,
        /// The answer's `Retry-After`, when it gave one in seconds.
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused or reset, DNS, TLS. The message starts with the service.
    #[error("{0}")]
    Network(String),
    /// No answer in the client's time.
    #[error("the request timed out")]
    Timeout,
    /// A download larger than allowed; permanent.
    #[error("the file is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    /// An answer that is not what the API documents (not JSON, no id, too large).
    #[error("{0}")]
    BadAnswer(String),
    /// An id, name or content type that cannot go into a request.
    #[error("{0}")]
    InvalidId(String),
    /// A client that cannot be built (a bad base URL, a key that is not a header value).
    #[error("{0}")]
    Config(String),
}

/// The crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether another attempt may succeed: no answer, a timeout, 408, 425, 429 and 5xx. Every
    /// other status, a bad answer, an invalid id, a file too large and a bad configuration
    /// stay what they are on the next attempt.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Http { status, .. } => matches!(status, 408 | 425 | 429) || *status >= 500,
            Error::Network(_) | Error::Timeout => true,
            Error::TooLarge { .. } | Error::BadAnswer(_) | Error::InvalidId(_) | Error::Config(_) => false,
        }
    }

    /// The status of an [`Error::Http`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A failed send: a timeout, or the error's text and causes with the URL cut down to its
    /// path (the query and host are configuration, the path says what was asked).
    pub(crate) fn send(service: &'static str, e: &reqwest::Error) -> Self {
        if e.is_timeout() {
            return Error::Timeout;
        }
        let mut message = format!("{service}: {e}");
        if let Some(url) = e.url() {
            message = message.replace(url.as_str(), url.path());
        }
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Error::Network(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16) -> Error {
        Error::Http { status, service: ESPOCRM, message: "m".into(), retry_after: None }
    }

    #[test]
    fn what_is_retried() {
        for s in [408, 425, 429, 500, 502, 503, 504] {
            assert!(http(s).is_retryable(), "{s}");
        }
        for s in [400, 401, 403, 404, 409, 413, 422] {
            assert!(!http(s).is_retryable(), "{s}");
        }
        assert!(Error::Timeout.is_retryable());
        assert!(Error::Network("x".into()).is_retryable());
        assert!(!Error::TooLarge { limit: 1 }.is_retryable());
        assert!(!Error::BadAnswer("x".into()).is_retryable());
        assert!(!Error::InvalidId("x".into()).is_retryable());
        assert_eq!(http(503).status(), Some(503));
        assert_eq!(http(503).to_string(), "espocrm answered 503: m");
    }
}
