//! Sending e-mail: the narrow [`Mailer`] trait the notice outbox sends through, and
//! [`SmtpMailer`], its implementation on `lettre`'s async SMTP transport (tokio, rustls).
//!
//! A mailer sends one message and says whether a failure may pass ([`MailError::permanent`]
//! is false: 4xx replies, network errors, time-outs) or will not (5xx replies). Its errors
//! never carry the SMTP password: [`SmtpMailer`] blanks it, and its encodings, out of every
//! message before the error leaves it.

use std::time::Duration;

use base64::Engine as _;
use docwright_config::{SmtpConfig, SmtpSecurity};
use docwright_storage::notices::Attachment;
use futures_util::future::BoxFuture;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};

use crate::{Error, Result};

/// One message to send.
#[derive(Debug, Clone, Copy)]
pub struct Mail<'a> {
    /// Addresses, each already checked (see `Engine::enqueue_notice`).
    pub to: &'a [String],
    pub subject: &'a str,
    /// Plain text.
    pub body: &'a str,
    pub attachment: Option<&'a Attachment>,
}

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct MailError {
    /// The server refused for good (a 5xx reply, or a message it cannot take): trying again
    /// would not help.
    pub permanent: bool,
    pub message: String,
}

/// Sends one message. Implementations bound their own time.
pub trait Mailer: Send + Sync + 'static {
    fn send<'a>(&'a self, mail: Mail<'a>) -> BoxFuture<'a, Result<(), MailError>>;
}

/// A mailer on an SMTP server, from `[smtp]`. A connection per message: notices are few, and
/// lettre's connection pool would run a task of its own, outside the server's ownership.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// What to blank out of error messages: the password and its encodings in AUTH.
    secrets: Vec<String>,
    host: String,
    port: u16,
    security: SmtpSecurity,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// The mailer `[smtp]` describes, or `None` when no host is configured (e-mail is off).
    pub fn from_config(config: &SmtpConfig) -> Result<Option<Self>> {
        let Some(host) = config.host.clone() else { return Ok(None) };
        let from = config.from.as_deref().ok_or_else(|| Error::invalid("smtp.from", "is required with smtp.host"))?;
        let from: Mailbox = from.parse().map_err(|e| Error::invalid("smtp.from", e))?;
        let tls = |host: &str| TlsParameters::new(host.to_owned()).map_err(|e| Error::invalid("smtp.host", e));
        let tls = match config.security {
            SmtpSecurity::Starttls => Tls::Required(tls(&host)?),
            SmtpSecurity::Tls => Tls::Wrapper(tls(&host)?),
            SmtpSecurity::None => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            .port(config.port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(config.timeout_secs)));
        let mut secrets = Vec::new();
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            let password = password.expose();
            let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
            secrets = vec![password.to_owned(), b64(password), b64(&format!("\0{user}\0{password}"))];
            builder = builder.credentials(Credentials::new(user.clone(), password.to_owned()));
        }
        Ok(Some(Self { transport: builder.build(), from, secrets, host, port: config.port, security: config.security }))
    }

    fn message(&self, mail: Mail<'_>) -> Result<Message, MailError> {
        let refuse = |what: &str, e: &dyn std::fmt::Display| MailError {
            permanent: true,
            message: format!("the message cannot be built: {what}: {e}"),
        };
        let mut builder = Message::builder().from(self.from.clone()).subject(mail.subject);
        for to in mail.to {
            builder = builder.to(to.parse::<Mailbox>().map_err(|e| refuse(to, &e))?);
        }
        let text = SinglePart::plain(mail.body.to_owned());
        let built = match mail.attachment {
            None => builder.singlepart(text),
            Some(a) => {
                let file =
                    lettre::message::Attachment::new(a.name.clone()).body(a.content.clone(), content_type(&a.name));
                builder.multipart(MultiPart::mixed().singlepart(text).singlepart(file))
            }
        };
        built.map_err(|e| refuse("headers", &e))
    }

    /// The error's text with every secret blanked out.
    fn redact(&self, text: String) -> String {
        self.secrets.iter().filter(|s| !s.is_empty()).fold(text, |t, s| t.replace(s.as_str(), "[redacted]"))
    }
}

impl Mailer for SmtpMailer {
    fn send<'a>(&'a self, mail: Mail<'a>) -> BoxFuture<'a, Result<(), MailError>> {
        Box::pin(async move {
            let message = self.message(mail)?;
            match self.transport.send(message).await {
                Ok(_) => Ok(()),
                Err(e) => Err(MailError {
                    permanent: e.is_permanent(),
                    message: self.redact(format!("{}:{}: {}", self.host, self.port, error_chain(&e))),
                }),
            }
        })
    }
}

/// An error with its sources, `a: b: c` (lettre puts the server's reply in a source).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text = format!("{text}: {next}");
        }
        source = s.source();
    }
    text
}

/// The attachment's media type from its extension; the content is text in UTF-8.
fn content_type(name: &str) -> ContentType {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    let media = match ext.as_str() {
        "csv" => "text/csv; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        "json" => "application/json",
        _ => "application/octet-stream",
    };
    ContentType::parse(media).unwrap_or(ContentType::TEXT_PLAIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachments_get_a_media_type_by_extension() {
        assert_eq!(content_type("usage-2026-10.CSV"), ContentType::parse("text/csv; charset=utf-8").unwrap());
        assert_eq!(content_type("notes.txt"), ContentType::parse("text/plain; charset=utf-8").unwrap());
        assert_eq!(content_type("blob"), ContentType::parse("application/octet-stream").unwrap());
    }

    #[test]
    fn no_host_no_mailer_and_the_password_is_blanked() {
        assert!(SmtpMailer::from_config(&SmtpConfig::default()).unwrap().is_none());
        let config = SmtpConfig {
            host: Some("127.0.0.1".into()),
            security: SmtpSecurity::None,
            username: Some("ann".into()),
            password: Some(docwright_config::Secret::new("pw-1234".into())),
            from: Some("docwright <billing@example.com>".into()),
            ..SmtpConfig::default()
        };
        let mailer = SmtpMailer::from_config(&config).unwrap().unwrap();
        let plain = base64::engine::general_purpose::STANDARD.encode("\0ann\0pw-1234");
        let text = mailer.redact(format!("535 bad credentials pw-1234 ({plain})"));
        assert_eq!(text, "535 bad credentials [redacted] ([redacted])");
        assert!(!format!("{mailer:?}").contains("pw-1234"));
    }
}
