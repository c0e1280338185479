//! Test support (feature `testing`): [`FakeSmtp`], a small SMTP server on 127.0.0.1 that speaks
//! enough of the real protocol for `lettre` — so the real [`crate::mail::SmtpMailer`] runs in
//! tests — and records what it receives.
//!
//! The protocol follows RFC 5321: the `220` greeting (§3.1), `EHLO` with a multi-line `250`
//! reply listing extensions (§4.1.1.1, §4.2.1), `HELO`, `MAIL FROM:<...>` with parameters,
//! `RCPT TO:<...>`, `DATA` answered `354` and ended by `<CRLF>.<CRLF>` with dot-stuffing undone
//! (§4.1.1.4, §4.5.2), `RSET`, `NOOP`, `QUIT`; and, when asked for, `AUTH PLAIN` (RFC 4616) and
//! `AUTH LOGIN` with `334` challenges (RFC 4954). No TLS: point a mailer at it with
//! `security = "none"` ([`FakeSmtp::config`]).
//!
//! Scripts: [`FakeSmtp::fail_next`] answers the end of the next messages' data with a given
//! reply (`451 ...` for a temporary failure, `550 ...` for a permanent one);
//! [`FakeSmtp::pause`] holds new connections before the greeting until
//! [`FakeSmtp::resume`], to show that callers do not wait for the mail server.

// Test support: a fake that cannot start must fail the test loudly, right here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use docwright_config::{SmtpConfig, SmtpSecurity};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::watch;

/// The sender [`FakeSmtp::config`] configures.
pub const FROM: &str = "docwright <billing@docwright.test>";

/// A message the fake accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The reverse path of `MAIL FROM`, without the angle brackets.
    pub mail_from: String,
    /// The forward paths of each `RCPT TO`, in order.
    pub rcpt_to: Vec<String>,
    /// The message as sent after `DATA` (headers and body, CRLF line ends), dot-stuffing undone.
    pub data: String,
    /// The user name of a successful `AUTH`.
    pub authenticated_as: Option<String>,
}

impl ReceivedMail {
    /// The first header `name` (case-insensitive), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            match &mut value {
                Some(v) if line.starts_with([' ', '\t']) => v.push_str(line),
                Some(_) => break,
                None => {
                    if let Some((k, v)) = line.split_once(':')
                        && k.eq_ignore_ascii_case(name)
                    {
                        value = Some(v.trim_start().to_owned());
                    }
                }
            }
        }
        value
    }
}

#[derive(Default)]
struct State {
    received: Vec<ReceivedMail>,
    /// Replies to give at the end of the next messages' data instead of accepting them.
    failures: VecDeque<String>,
    /// Messages refused by a scripted reply.
    refused: usize,
    /// Credentials `AUTH` must present; `None`: no `AUTH` offered or needed.
    auth: Option<(String, String)>,
    /// Connections waiting for their greeting while paused.
    held: usize,
}

struct Shared {
    state: Mutex<State>,
    /// Bumped on every change of `state`, for waiters.
    changes: watch::Sender<u64>,
    paused: watch::Sender<bool>,
}

impl Shared {
    fn update<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let out = f(&mut self.state.lock().unwrap());
        self.changes.send_modify(|v| *v += 1);
        out
    }

    /// Waits (at most 10 s) until `cond` holds for the state, and returns what it gives.
    async fn wait<T>(&self, what: &str, cond: impl Fn(&State) -> Option<T>) -> T {
        let mut rx = self.changes.subscribe();
        let wait = async {
            loop {
                if let Some(out) = cond(&self.state.lock().unwrap()) {
                    return out;
                }
                rx.changed().await.unwrap();
            }
        };
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .unwrap_or_else(|_| panic!("fake SMTP server: waited 10 s for {what}"))
    }
}

/// A fake SMTP server on 127.0.0.1, alive as long as the test's runtime.
pub struct FakeSmtp {
    pub port: u16,
    shared: Arc<Shared>,
}

impl FakeSmtp {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            changes: watch::Sender::new(0),
            paused: watch::Sender::new(false),
        });
        let serving = shared.clone();
        #[allow(clippy::disallowed_methods)] // The fake lives as long as the test's runtime.
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = serving.clone();
                #[allow(clippy::disallowed_methods)] // One session, ended by the client.
                tokio::spawn(async move { session(stream, shared).await });
            }
        });
        Self { port, shared }
    }

    /// `[smtp]` pointing at this server: no TLS, sender [`FROM`], 5 s time-outs, 3 attempts.
    pub fn config(&self) -> SmtpConfig {
        SmtpConfig {
            host: Some("127.0.0.1".to_owned()),
            port: self.port,
            security: SmtpSecurity::None,
            from: Some(FROM.to_owned()),
            timeout_secs: 5,
            max_attempts: 3,
            ..SmtpConfig::default()
        }
    }

    /// Offers `AUTH PLAIN LOGIN` and accepts mail only after a login with these.
    pub fn require_auth(&self, user: &str, password: &str) {
        self.shared.update(|s| s.auth = Some((user.to_owned(), password.to_owned())));
    }

    /// The next `n` messages are answered with `reply` (e.g. `451 4.3.0 Try again later`)
    /// at the end of their data, and not accepted.
    pub fn fail_next(&self, n: usize, reply: &str) {
        self.shared.update(|s| s.failures.extend(std::iter::repeat_n(reply.to_owned(), n)));
    }

    /// New connections wait for their greeting until [`FakeSmtp::resume`].
    pub fn pause(&self) {
        self.shared.paused.send_replace(true);
    }

    pub fn resume(&self) {
        self.shared.paused.send_replace(false);
    }

    /// Waits until a connection is held before its greeting (see [`FakeSmtp::pause`]).
    pub async fn wait_held(&self) {
        self.shared.wait("a held connection", |s| (s.held > 0).then_some(())).await;
    }

    /// The messages accepted so far.
    pub fn received(&self) -> Vec<ReceivedMail> {
        self.shared.state.lock().unwrap().received.clone()
    }

    /// How many messages a scripted reply refused.
    pub fn refused(&self) -> usize {
        self.shared.state.lock().unwrap().refused
    }

    /// Waits (at most 10 s) until `n` messages were accepted, and returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<ReceivedMail> {
        self.shared.wait(&format!("{n} messages"), |s| (s.received.len() >= n).then(|| s.received.clone())).await
    }
}

/// One SMTP session (RFC 5321 §3), until `QUIT` or the client goes away.
async fn session(stream: TcpStream, shared: Arc<Shared>) {
    let mut paused = shared.paused.subscribe();
    if *paused.borrow_and_update() {
        shared.update(|s| s.held += 1);
        let _ = paused.wait_for(|p| !*p).await;
        shared.update(|s| s.held -= 1);
    }
    let (read, write) = stream.into_split();
    let mut conn = Conn { read: BufReader::new(read), write };
    let _ = conn.run(&shared).await;
}

struct Conn {
    read: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
}

/// The envelope being built in a session.
#[derive(Default)]
struct Envelope {
    from: Option<String>,
    to: Vec<String>,
}

impl Conn {
    async fn reply(&mut self, text: &str) -> std::io::Result<()> {
        self.write.write_all(format!("{text}\r\n").as_bytes()).await
    }

    /// The next line without its line end; `None` at the end of the stream.
    async fn line(&mut self) -> std::io::Result<Option<String>> {
        let mut buf = Vec::new();
        if self.read.read_until(b'\n', &mut buf).await? == 0 {
            return Ok(None);
        }
        let line = String::from_utf8_lossy(&buf);
        Ok(Some(line.trim_end_matches(['\r', '\n']).to_owned()))
    }

    async fn run(&mut self, shared: &Shared) -> std::io::Result<()> {
        self.reply("220 fake.smtp.test ESMTP docwright test server").await?;
        let required = shared.state.lock().unwrap().auth.clone();
        let mut user: Option<String> = None;
        let mut env = Envelope::default();
        while let Some(line) = self.line().await? {
            let (verb, arg) = line.split_once(' ').unwrap_or((&line, ""));
            match verb.to_ascii_uppercase().as_str() {
                "EHLO" => {
                    env = Envelope::default();
                    let mut lines = vec![format!("fake.smtp.test greets {arg}"), "8BITMIME".into()];
                    if required.is_some() {
                        lines.push("AUTH PLAIN LOGIN".into());
                    }
                    lines.push("ENHANCEDSTATUSCODES".into());
                    let last = lines.len() - 1;
                    for (i, l) in lines.iter().enumerate() {
                        let sep = if i == last { ' ' } else { '-' };
                        self.reply(&format!("250{sep}{l}")).await?;
                    }
                }
                "HELO" => {
                    env = Envelope::default();
                    self.reply("250 fake.smtp.test").await?;
                }
                "AUTH" => {
                    let Some((want_user, want_password)) = &required else {
                        self.reply("503 5.5.1 AUTH not offered").await?;
                        continue;
                    };
                    let Some((got_user, got_password)) = self.auth(arg).await? else {
                        self.reply("501 5.5.4 Malformed AUTH").await?;
                        continue;
                    };
                    if &got_user == want_user && &got_password == want_password {
                        user = Some(got_user);
                        self.reply("235 2.7.0 Authentication successful").await?;
                    } else {
                        self.reply("535 5.7.8 Authentication credentials invalid").await?;
                    }
                }
                "MAIL" => {
                    if required.is_some() && user.is_none() {
                        self.reply("530 5.7.0 Authentication required").await?;
                    } else if let Some(path) = path(arg, "FROM:") {
                        env = Envelope { from: Some(path), to: Vec::new() };
                        self.reply("250 2.1.0 OK").await?;
                    } else {
                        self.reply("501 5.5.4 Syntax: MAIL FROM:<address>").await?;
                    }
                }
                "RCPT" => match (&env.from, path(arg, "TO:")) {
                    (None, _) => self.reply("503 5.5.1 MAIL first").await?,
                    (Some(_), Some(to)) => {
                        env.to.push(to);
                        self.reply("250 2.1.5 OK").await?;
                    }
                    (Some(_), None) => self.reply("501 5.5.4 Syntax: RCPT TO:<address>").await?,
                },
                "DATA" => {
                    if env.to.is_empty() {
                        self.reply("503 5.5.1 RCPT first").await?;
                        continue;
                    }
                    self.reply("354 End data with <CR><LF>.<CR><LF>").await?;
                    let data = self.data().await?;
                    let env = std::mem::take(&mut env);
                    let mail = ReceivedMail {
                        mail_from: env.from.unwrap_or_default(),
                        rcpt_to: env.to,
                        data,
                        authenticated_as: user.clone(),
                    };
                    let failure = shared.update(|s| match s.failures.pop_front() {
                        Some(reply) => {
                            s.refused += 1;
                            Some(reply)
                        }
                        None => {
                            s.received.push(mail);
                            None
                        }
                    });
                    self.reply(failure.as_deref().unwrap_or("250 2.0.0 OK queued")).await?;
                }
                "RSET" => {
                    env = Envelope::default();
                    self.reply("250 2.0.0 OK").await?;
                }
                "NOOP" => self.reply("250 2.0.0 OK").await?,
                "QUIT" => {
                    self.reply("221 2.0.0 Bye").await?;
                    return Ok(());
                }
                _ => self.reply("502 5.5.2 Command not recognized").await?,
            }
        }
        Ok(())
    }

    /// The message after `DATA`, up to the line holding a single dot (RFC 5321 §4.5.2).
    async fn data(&mut self) -> std::io::Result<String> {
        let mut lines = Vec::new();
        while let Some(line) = self.line().await? {
            if line == "." {
                break;
            }
            lines.push(line.strip_prefix('.').map(str::to_owned).unwrap_or(line));
        }
        Ok(lines.join("\r\n"))
    }

    /// Reads the credentials of `AUTH PLAIN` or `AUTH LOGIN`, asking with `334` as needed.
    async fn auth(&mut self, arg: &str) -> std::io::Result<Option<(String, String)>> {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.decode(s.trim()).ok();
        let (mechanism, initial) = arg.split_once(' ').unwrap_or((arg, ""));
        match mechanism.to_ascii_uppercase().as_str() {
            "PLAIN" => {
                let response = if initial.is_empty() {
                    self.reply("334 ").await?;
                    self.line().await?.unwrap_or_default()
                } else {
                    initial.to_owned()
                };
                // authzid \0 authcid \0 passwd (RFC 4616 §2).
                let Some(decoded) = b64(&response) else { return Ok(None) };
                let parts: Vec<&[u8]> = decoded.split(|b| *b == 0).collect();
                let [_, user, password] = parts[..] else { return Ok(None) };
                let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                Ok(Some((text(user), text(password))))
            }
            "LOGIN" => {
                let user = if initial.is_empty() {
                    self.reply("334 VXNlcm5hbWU6").await?; // "Username:"
                    self.line().await?.unwrap_or_default()
                } else {
                    initial.to_owned()
                };
                self.reply("334 UGFzc3dvcmQ6").await?; // "Password:"
                let password = self.line().await?.unwrap_or_default();
                let text = |s: &str| b64(s).map(|b| String::from_utf8_lossy(&b).into_owned());
                Ok(text(&user).zip(text(&password)))
            }
            _ => Ok(None),
        }
    }
}

/// The address in `FROM:<a@b>` / `TO:<a@b>`, with any parameters after it ignored.
fn path(arg: &str, keyword: &str) -> Option<String> {
    let rest = arg.get(..keyword.len()).filter(|k| k.eq_ignore_ascii_case(keyword)).map(|_| &arg[keyword.len()..])?;
    let rest = rest.trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    Some(inner[..end].to_owned())
}
