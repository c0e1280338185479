//! Billing notices (SPEC B7) through an outbox: low-balance warnings and monthly reports are
//! stored, then e-mailed by an owned delivery loop, and stay downloadable either way.
//!
//! The outbox invariant: [`Engine::enqueue_notice`] is one database insert and never waits for
//! a mail server; only [`Engine::notice_sender`] (the loop the server runs in the background)
//! and its one step, [`Engine::send_due_notices`], talk SMTP. A due notice is claimed with a
//! lease before it is sent (see `docwright_storage::notices`), so replicas sharing a database do
//! not send it twice at once; a sender that dies mid-send leaves the lease to expire and the
//! notice is tried again — delivery is at least once.
//!
//! Temporary failures are retried after 30 s, 1 min, 2 min, ... (at most an hour apart) until
//! `smtp.max_attempts`; a permanent refusal (5xx) ends the notice as `failed` at once. Without
//! an SMTP server (`smtp.host` unset) notices are stored as `unsent`, with the reason.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use docwright_core::id::{NoticeId, TenantId};
use docwright_core::rbac::{Action, Permission, items};
use docwright_core::time::Timestamp;
use docwright_storage::notices::{Attachment, Notice, NoticeHead, NoticeKind, NoticeStatus};
use docwright_storage::{Page, PageRequest};
use tokio::sync::Notify;

use crate::mail::{Mail, MailError, Mailer};
use crate::{Engine, Error, Grant, Result};

/// Reading the tenant's notices (list and download).
pub const NOTICE_READ: Permission = Permission::new(items::NOTICE, Action::Read);

/// Why a notice is `unsent`.
pub const NO_SMTP: &str = "not sent: no SMTP server is configured (smtp.host)";

/// The first pause after a temporary failure; it doubles with each attempt...
const BACKOFF_BASE: Duration = Duration::from_secs(30);
/// ...up to this.
const BACKOFF_MAX: Duration = Duration::from_secs(3600);
/// One send may take this long at most (the mailer's own time-outs are per command).
const SEND_BOUND: Duration = Duration::from_secs(600);
/// How long a claimed notice is kept from other senders: longer than any send.
const LEASE: Duration = Duration::from_secs(900);
/// Notices taken per step.
const BATCH: u32 = 32;
/// How often the loop looks for due notices when nothing wakes it (retries come due; other
/// replicas enqueue).
const POLL: Duration = Duration::from_secs(10);

const MAX_RECIPIENTS: usize = 50;
const MAX_SUBJECT_CHARS: usize = 500;
const MAX_BODY_BYTES: usize = 1024 * 1024;
const MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;

/// A notice to enqueue.
#[derive(Debug, Clone)]
pub struct NewNotice {
    pub kind: NoticeKind,
    /// E-mail addresses (the tenant's `notify_emails`); at least one.
    pub recipients: Vec<String>,
    pub subject: String,
    /// Plain text.
    pub body: String,
    /// A text file sent along (e.g. the month's CSV).
    pub attachment: Option<Attachment>,
    /// The notice is enqueued only if the tenant has none with this key yet: e.g.
    /// `low_balance:<account>:<crossing>` or `monthly_report:2026-10`.
    pub dedupe_key: Option<String>,
}

/// What [`Engine::enqueue_notice`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    /// The new notice, or the one already holding the dedupe key.
    pub id: NoticeId,
    /// `false` when the dedupe key was taken, so nothing was enqueued.
    pub new: bool,
}

/// What one delivery step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    pub sent: u32,
    /// Failed for now; tried again later.
    pub retrying: u32,
    /// Given up.
    pub failed: u32,
    /// Marked unsent (no SMTP server).
    pub unsent: u32,
}

impl Delivery {
    pub fn is_empty(&self) -> bool {
        *self == Delivery::default()
    }
}

/// The engine's mail settings and the loop's doorbell.
pub(crate) struct Outbox {
    mailer: Option<Arc<dyn Mailer>>,
    max_attempts: u32,
    /// Rung by every enqueue, so the loop sends at once instead of at its next poll.
    wake: Notify,
}

impl Default for Outbox {
    fn default() -> Self {
        Self { mailer: None, max_attempts: 1, wake: Notify::new() }
    }
}

impl Engine {
    /// Sends notices through `mailer`, trying each up to `max_attempts` times. Without this
    /// (no `smtp.host`), notices are stored as `unsent`.
    pub fn with_mailer(mut self, mailer: Arc<dyn Mailer>, max_attempts: u32) -> Self {
        self.outbox = Arc::new(Outbox { mailer: Some(mailer), max_attempts: max_attempts.max(1), wake: Notify::new() });
        self
    }

    /// Stores a notice for `tenant` to be e-mailed by the delivery loop; returns at once (one
    /// insert). With a dedupe key the tenant already used, nothing is stored and the existing
    /// notice is named. A use case of the billing side, not of a request: it takes no grant.
    pub async fn enqueue_notice(&self, tenant: TenantId, notice: NewNotice) -> Result<Enqueued> {
        let notice = checked(notice)?;
        let now = Timestamp::now();
        let (status, last_error) = match self.outbox.mailer {
            Some(_) => (NoticeStatus::Pending, None),
            None => (NoticeStatus::Unsent, Some(NO_SMTP.to_owned())),
        };
        let row = Notice {
            head: NoticeHead {
                id: NoticeId::new(),
                tenant_id: tenant,
                kind: notice.kind,
                recipients: notice.recipients,
                subject: notice.subject,
                attachment_name: notice.attachment.as_ref().map(|a| a.name.clone()),
                status,
                attempts: 0,
                next_attempt_at: now,
                last_error,
                created_at: now,
                sent_at: None,
                dedupe_key: notice.dedupe_key,
            },
            body: notice.body,
            attachment: notice.attachment,
        };
        if self.db.insert_notice(&row).await? {
            self.outbox.wake.notify_one();
            return Ok(Enqueued { id: row.head.id, new: true });
        }
        let key = row.head.dedupe_key.as_deref().unwrap_or_default();
        match self.db.notice_by_dedupe_key(tenant, key).await? {
            Some(existing) => Ok(Enqueued { id: existing.id, new: false }),
            None => Err(Error::Internal("a notice was refused as a duplicate, but none holds its key".to_owned())),
        }
    }

    /// The context tenant's notices, newest first.
    pub async fn notices(&self, grant: &Grant, page: PageRequest<'_>) -> Result<Page<NoticeHead>> {
        grant.expect(NOTICE_READ)?;
        if !grant.tenant_wide() {
            // Notices belong to the tenant, not to a user: a `my` grant reaches none.
            return Ok(Page { items: Vec::new(), has_more: false });
        }
        Ok(self.db.list_notices(grant.ctx().tenant, page).await?)
    }

    /// One notice of the context tenant, whole: subject, body and attachment (the download).
    pub async fn notice(&self, grant: &Grant, id: NoticeId) -> Result<Notice> {
        grant.expect(NOTICE_READ)?;
        if !grant.tenant_wide() {
            return Err(Error::NotFound("notice"));
        }
        self.db.notice(grant.ctx().tenant, id).await?.ok_or(Error::NotFound("notice"))
    }

    /// The delivery loop, to run as an owned background task until `stop` resolves: sends
    /// what is due, then waits for an enqueue or the next poll. Stopping mid-send leaves the
    /// claimed notice to its lease (it is tried again later).
    pub fn notice_sender<S>(&self, stop: S) -> impl Future<Output = ()> + Send + use<S>
    where
        S: Future<Output = ()> + Send + 'static,
    {
        let engine = self.clone();
        async move {
            tokio::pin!(stop);
            loop {
                let step = tokio::select! {
                    () = &mut stop => return,
                    step = engine.send_due_notices(Timestamp::now()) => step,
                };
                match step {
                    Ok(d) if !d.is_empty() => tracing::info!(
                        sent = d.sent,
                        retrying = d.retrying,
                        failed = d.failed,
                        unsent = d.unsent,
                        "notices delivered"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "notice delivery failed; will retry"),
                }
                tokio::select! {
                    () = &mut stop => return,
                    () = engine.outbox.wake.notified() => {}
                    () = tokio::time::sleep(POLL) => {}
                }
            }
        }
    }

    /// One delivery step (the loop's body; tests call it with a `now` of their choosing): every
    /// notice due at `now` is claimed and sent, or rescheduled, given up or marked unsent.
    pub async fn send_due_notices(&self, now: Timestamp) -> Result<Delivery> {
        let mut done = Delivery::default();
        loop {
            let due = self.db.due_notices(now, BATCH).await?;
            let full = due.len() == BATCH as usize;
            let mut taken = 0;
            for notice in due {
                let id = notice.head.id;
                if !self.db.claim_notice(id, notice.head.next_attempt_at, now.plus_secs(secs(LEASE))).await? {
                    continue; // Another sender has it.
                }
                taken += 1;
                let Some(mailer) = &self.outbox.mailer else {
                    self.db.mark_notice_unsent(id, NO_SMTP).await?;
                    done.unsent += 1;
                    continue;
                };
                let attempt = notice.head.attempts + 1;
                match deliver(mailer.as_ref(), &notice).await {
                    Ok(()) => {
                        self.db.mark_notice_sent(id, now).await?;
                        done.sent += 1;
                    }
                    Err(e) if e.permanent || attempt >= self.outbox.max_attempts => {
                        tracing::warn!(notice = %id, attempt, error = %e.message, "notice not sent: given up");
                        self.db.mark_notice_failed(id, &e.message, None).await?;
                        done.failed += 1;
                    }
                    Err(e) => {
                        let retry = now.plus_secs(secs(backoff(attempt)));
                        tracing::info!(notice = %id, attempt, error = %e.message, "notice not sent yet; will retry");
                        self.db.mark_notice_failed(id, &e.message, Some(retry)).await?;
                        done.retrying += 1;
                    }
                }
            }
            // A full batch may have more behind it; a batch that others took entirely is left
            // to them.
            if !full || taken == 0 {
                return Ok(done);
            }
        }
    }
}

async fn deliver(mailer: &dyn Mailer, notice: &Notice) -> Result<(), MailError> {
    let mail = Mail {
        to: &notice.head.recipients,
        subject: &notice.head.subject,
        body: &notice.body,
        attachment: notice.attachment.as_ref(),
    };
    match tokio::time::timeout(SEND_BOUND, mailer.send(mail)).await {
        Ok(result) => result,
        Err(_) => {
            Err(MailError { permanent: false, message: format!("sending took longer than {} s", SEND_BOUND.as_secs()) })
        }
    }
}

/// The pause after the `attempt`-th failed attempt (1-based).
fn backoff(attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
    BACKOFF_BASE.saturating_mul(factor).min(BACKOFF_MAX)
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// The notice with its fields trimmed and checked; errors name the field.
fn checked(mut n: NewNotice) -> Result<NewNotice> {
    if n.recipients.is_empty() || n.recipients.len() > MAX_RECIPIENTS {
        return Err(Error::invalid("recipients", format!("give 1 to {MAX_RECIPIENTS} addresses")));
    }
    for (i, r) in n.recipients.iter_mut().enumerate() {
        *r = r.trim().to_owned();
        // The parser that will send to it: an address it accepts now is one it can send to.
        if let Err(e) = r.parse::<lettre::Address>() {
            return Err(Error::invalid(format!("recipients[{i}]"), format!("`{r}` is not an e-mail address ({e})")));
        }
    }
    n.subject = n.subject.trim().to_owned();
    if n.subject.is_empty() || n.subject.chars().count() > MAX_SUBJECT_CHARS || n.subject.chars().any(char::is_control)
    {
        return Err(Error::invalid(
            "subject",
            format!("must be 1 to {MAX_SUBJECT_CHARS} characters on one line, without control characters"),
        ));
    }
    if n.body.len() > MAX_BODY_BYTES {
        return Err(Error::invalid("body", format!("must be at most {MAX_BODY_BYTES} bytes")));
    }
    if let Some(a) = &mut n.attachment {
        a.name = a.name.trim().to_owned();
        let bad_char = |c: char| c.is_control() || matches!(c, '/' | '\\' | '"');
        if a.name.is_empty() || a.name.chars().count() > 200 || a.name.chars().any(bad_char) {
            return Err(Error::invalid(
                "attachment.name",
                "must be a file name of 1 to 200 characters, without path separators or quotes",
            ));
        }
        if a.content.len() > MAX_ATTACHMENT_BYTES {
            return Err(Error::invalid("attachment.content", format!("must be at most {MAX_ATTACHMENT_BYTES} bytes")));
        }
    }
    if let Some(key) = &n.dedupe_key
        && (key.is_empty() || key.len() > 200)
    {
        return Err(Error::invalid("dedupe_key", "must be 1 to 200 bytes"));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let secs: Vec<u64> = (1..=10).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }

    #[test]
    fn notices_are_checked_field_by_field() {
        let ok = NewNotice {
            kind: NoticeKind::LowBalance,
            recipients: vec![" billing@acme.example ".into()],
            subject: "Balance low".into(),
            body: "Your balance is 1.00 CHF.".into(),
            attachment: None,
            dedupe_key: Some("low_balance:1".into()),
        };
        assert_eq!(checked(ok.clone()).unwrap().recipients, ["billing@acme.example"]);
        let field = |n: NewNotice| match checked(n) {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        };
        assert_eq!(field(NewNotice { recipients: vec![], ..ok.clone() }), "recipients");
        assert_eq!(
            field(NewNotice { recipients: vec!["a@b.example".into(), "nope".into()], ..ok.clone() }),
            "recipients[1]"
        );
        assert_eq!(field(NewNotice { subject: "two\r\nlines".into(), ..ok.clone() }), "subject");
        assert_eq!(field(NewNotice { subject: " ".into(), ..ok.clone() }), "subject");
        let attachment = |name: &str| Some(Attachment { name: name.into(), content: "a,b\n".into() });
        assert_eq!(field(NewNotice { attachment: attachment("../x.csv"), ..ok.clone() }), "attachment.name");
        assert_eq!(field(NewNotice { dedupe_key: Some(String::new()), ..ok.clone() }), "dedupe_key");
        assert!(checked(NewNotice { attachment: attachment("usage 2026-10.csv"), ..ok }).is_ok());
    }
}
