//! Billing notices (SPEC B7) through the engine: enqueued in the outbox, e-mailed by the real
//! SMTP mailer to a fake SMTP server on 127.0.0.1 (retries, giving up, dedupe keys), stored as
//! unsent without an SMTP server, and read back by the tenant's admins only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // The sender task is the test's own.

use std::sync::Arc;

use docwright_config::{Config, Secret, SmtpConfig};
use docwright_core::id::TenantId;
use docwright_core::time::Timestamp;
use docwright_engine::admin::{NewUser, perms};
use docwright_engine::mail::SmtpMailer;
use docwright_engine::notices::{Delivery, NO_SMTP, NOTICE_READ, NewNotice};
use docwright_engine::testing::FakeSmtp;
use docwright_engine::{Ctx, Engine, Error};
use docwright_storage::notices::{Attachment, NoticeKind, NoticeStatus};
use docwright_storage::testing::TestDb;
use docwright_storage::{Backend, PageRequest};

mod common;

use common::{TOKEN, login};
const PASSWORD: &str = "smtp-secret-pw-42";

/// An engine on a fresh database, bootstrapped, with a tenant `Acme` whose admin and plain
/// user are logged in. `smtp`: send through a mailer built from it; `None`: e-mail is off.
struct Setup {
    engine: Engine,
    acme: TenantId,
    admin: Ctx,
    user: Ctx,
    _db: TestDb,
}

async fn setup(backend: Backend, smtp: Option<SmtpConfig>) -> Option<Setup> {
    let (mut engine, db) = common::bootstrapped(backend, &Config::default()).await?;
    if let Some(smtp) = smtp {
        let mailer = SmtpMailer::from_config(&smtp).unwrap().expect("a host is configured");
        engine = engine.with_mailer(Arc::new(mailer), smtp.max_attempts);
    }
    let sysadmin = login(&engine, TOKEN, None).await;
    let grant = engine.authorize(sysadmin, perms::TENANT_CREATE).await.unwrap();
    let acme = engine.create_tenant(&grant, "Acme").await.unwrap().id;
    let sys_in_acme = login(&engine, TOKEN, Some(acme)).await;
    let member = async |role: &str| {
        let grant = engine.authorize(sys_in_acme.clone(), perms::USER_CREATE).await.unwrap();
        let new = NewUser { display_name: format!("Acme {role}"), email: None, role: role.into() };
        let user = engine.create_user(&grant, new).await.unwrap().user.id;
        let grant = engine.authorize(sys_in_acme.clone(), perms::STATIC_TOKEN_CREATE).await.unwrap();
        let token = engine.issue_static_token(&grant, user, "login").await.unwrap().secret;
        login(&engine, token.expose(), Some(acme)).await
    };
    let admin = member("admin").await;
    let user = member("user").await;
    Some(Setup { engine, acme, admin, user, _db: db })
}

/// A monthly report with a CSV attachment.
fn report(dedupe_key: Option<&str>) -> NewNotice {
    NewNotice {
        kind: NoticeKind::MonthlyReport,
        recipients: vec!["billing@acme.example".into(), "cfo@acme.example".into()],
        subject: "docwright usage report for October 2026".into(),
        body: "Total: 12.50 CHF\r\nOperations: 3\r\nAverage: 4.17 CHF\r\n".into(),
        attachment: Some(Attachment {
            name: "usage-2026-10.csv".into(),
            content: "provider,operations,cost\r\nopenai,3,12.50\r\n".into(),
        }),
        dedupe_key: dedupe_key.map(str::to_owned),
    }
}

impl Setup {
    async fn status(&self, id: docwright_core::id::NoticeId) -> docwright_storage::notices::NoticeHead {
        let grant = self.engine.authorize(self.admin.clone(), NOTICE_READ).await.unwrap();
        self.engine.notice(&grant, id).await.unwrap().head
    }
}

fn sent(n: u32) -> Delivery {
    Delivery { sent: n, ..Delivery::default() }
}

async fn a_notice_is_delivered_whole(backend: Backend) {
    let smtp = FakeSmtp::start().await;
    smtp.require_auth("billing", PASSWORD);
    let config =
        SmtpConfig { username: Some("billing".into()), password: Some(Secret::new(PASSWORD.into())), ..smtp.config() };
    let Some(s) = setup(backend, Some(config)).await else { return };
    let queued = s.engine.enqueue_notice(s.acme, report(None)).await.unwrap();
    assert!(queued.new);
    assert_eq!(s.status(queued.id).await.status, NoticeStatus::Pending);

    assert_eq!(s.engine.send_due_notices(Timestamp::now()).await.unwrap(), sent(1));
    let mail = &smtp.received()[0];
    assert_eq!(mail.authenticated_as.as_deref(), Some("billing"));
    assert_eq!(mail.mail_from, "billing@docwright.test");
    assert_eq!(mail.rcpt_to, ["billing@acme.example", "cfo@acme.example"]);
    assert_eq!(mail.header("From").as_deref(), Some("docwright <billing@docwright.test>"));
    assert_eq!(mail.header("To").as_deref(), Some("billing@acme.example, cfo@acme.example"));
    assert_eq!(mail.header("Subject").as_deref(), Some("docwright usage report for October 2026"));
    assert!(mail.header("Content-Type").unwrap().starts_with("multipart/mixed"), "{}", mail.data);
    assert!(mail.data.contains("Total: 12.50 CHF\r\nOperations: 3\r\nAverage: 4.17 CHF"), "{}", mail.data);
    assert!(mail.data.contains("Content-Disposition: attachment; filename=\"usage-2026-10.csv\""), "{}", mail.data);
    assert!(mail.data.contains("Content-Type: text/csv; charset=utf-8"), "{}", mail.data);
    assert!(mail.data.contains("provider,operations,cost\r\nopenai,3,12.50"), "{}", mail.data);

    let head = s.status(queued.id).await;
    assert_eq!((head.status, head.attempts, head.last_error), (NoticeStatus::Sent, 1, None));
    assert!(head.sent_at.is_some());
    // Sent is sent: a later step sends nothing again.
    assert!(s.engine.send_due_notices(Timestamp::now().plus_secs(86_400)).await.unwrap().is_empty());
    assert_eq!(smtp.received().len(), 1);
}

async fn a_temporary_failure_is_retried_then_delivered(backend: Backend) {
    let smtp = FakeSmtp::start().await;
    let Some(s) = setup(backend, Some(smtp.config())).await else { return };
    smtp.fail_next(1, "451 4.3.0 Mailbox busy, try again later");
    let id = s.engine.enqueue_notice(s.acme, report(None)).await.unwrap().id;
    let now = Timestamp::now();
    assert_eq!(s.engine.send_due_notices(now).await.unwrap(), Delivery { retrying: 1, ..Delivery::default() });
    let head = s.status(id).await;
    assert_eq!((head.status, head.attempts), (NoticeStatus::Pending, 1));
    assert!(head.last_error.as_deref().unwrap().contains("Mailbox busy"), "{:?}", head.last_error);
    assert_eq!(head.next_attempt_at, now.plus_secs(30), "the first retry comes 30 s later");

    assert!(s.engine.send_due_notices(now.plus_secs(29)).await.unwrap().is_empty(), "not due yet");
    assert_eq!(s.engine.send_due_notices(now.plus_secs(30)).await.unwrap(), sent(1));
    let head = s.status(id).await;
    assert_eq!((head.status, head.attempts, head.last_error), (NoticeStatus::Sent, 2, None));
    assert_eq!((smtp.refused(), smtp.received().len()), (1, 1));
}

async fn failures_end_failed_with_the_error(backend: Backend) {
    let smtp = FakeSmtp::start().await;
    smtp.require_auth("billing", PASSWORD);
    let config = SmtpConfig {
        username: Some("billing".into()),
        password: Some(Secret::new(PASSWORD.into())),
        max_attempts: 3,
        ..smtp.config()
    };
    let Some(s) = setup(backend, Some(config)).await else { return };

    // Temporary failures until the attempts run out: 30 s, then 60 s apart.
    smtp.fail_next(3, "452 4.2.2 Mailbox full");
    let id = s.engine.enqueue_notice(s.acme, report(None)).await.unwrap().id;
    let now = Timestamp::now();
    for (at, want) in [(0, "pending"), (30, "pending"), (90, "failed")] {
        s.engine.send_due_notices(now.plus_secs(at)).await.unwrap();
        assert_eq!(s.status(id).await.status.as_str(), want, "after the attempt at +{at} s");
    }
    let head = s.status(id).await;
    assert_eq!(head.attempts, 3);
    assert!(head.last_error.as_deref().unwrap().contains("452"), "{:?}", head.last_error);
    assert!(s.engine.send_due_notices(now.plus_secs(86_400)).await.unwrap().is_empty(), "given up for good");

    // A permanent refusal ends at once — and an error never shows the password, even when a
    // server repeats it.
    smtp.fail_next(1, &format!("554 5.7.1 Rejected: message from billing/{PASSWORD}"));
    let id = s.engine.enqueue_notice(s.acme, report(None)).await.unwrap().id;
    let d = s.engine.send_due_notices(Timestamp::now()).await.unwrap();
    assert_eq!(d, Delivery { failed: 1, ..Delivery::default() });
    let head = s.status(id).await;
    assert_eq!((head.status, head.attempts), (NoticeStatus::Failed, 1));
    let error = head.last_error.unwrap();
    assert!(error.contains("554") && error.contains("[redacted]") && !error.contains(PASSWORD), "{error}");
    assert_eq!(smtp.received().len(), 0);
}

async fn wrong_credentials_fail_without_showing_the_password(backend: Backend) {
    let smtp = FakeSmtp::start().await;
    smtp.require_auth("billing", "the-right-one");
    let config =
        SmtpConfig { username: Some("billing".into()), password: Some(Secret::new(PASSWORD.into())), ..smtp.config() };
    let Some(s) = setup(backend, Some(config)).await else { return };
    let id = s.engine.enqueue_notice(s.acme, report(None)).await.unwrap().id;
    assert_eq!(s.engine.send_due_notices(Timestamp::now()).await.unwrap().failed, 1, "535 is permanent");
    let error = s.status(id).await.last_error.unwrap();
    assert!(error.contains("535") && !error.contains(PASSWORD), "{error}");
}

async fn a_dedupe_key_enqueues_once(backend: Backend) {
    let smtp = FakeSmtp::start().await;
    let Some(s) = setup(backend, Some(smtp.config())).await else { return };
    let first = s.engine.enqueue_notice(s.acme, report(Some("monthly_report:2026-10"))).await.unwrap();
    let again = s.engine.enqueue_notice(s.acme, report(Some("monthly_report:2026-10"))).await.unwrap();
    assert!(first.new && !again.new);
    assert_eq!(again.id, first.id, "the duplicate names the notice that holds the key");
    let next = s.engine.enqueue_notice(s.acme, report(Some("monthly_report:2026-11"))).await.unwrap();
    assert!(next.new);
    assert_eq!(s.engine.send_due_notices(Timestamp::now()).await.unwrap(), sent(2));
    assert_eq!(smtp.received().len(), 2);

    let grant = s.engine.authorize(s.admin.clone(), NOTICE_READ).await.unwrap();
    let page = s.engine.notices(&grant, PageRequest { after: None, limit: 10 }).await.unwrap();
    assert_eq!(page.items.iter().map(|n| n.id).collect::<Vec<_>>(), [next.id, first.id], "newest first");
}

async fn without_smtp_notices_are_unsent_but_downloadable(backend: Backend) {
    let Some(s) = setup(backend, None).await else { return };
    let id = s.engine.enqueue_notice(s.acme, report(None)).await.unwrap().id;
    let grant = s.engine.authorize(s.admin.clone(), NOTICE_READ).await.unwrap();
    let notice = s.engine.notice(&grant, id).await.unwrap();
    assert_eq!(notice.head.status, NoticeStatus::Unsent);
    assert_eq!(notice.head.last_error.as_deref(), Some(NO_SMTP));
    assert_eq!(notice.body, report(None).body);
    assert_eq!(notice.attachment, report(None).attachment);
    assert!(s.engine.send_due_notices(Timestamp::now()).await.unwrap().is_empty());

    // Plain users may not read notices; an admin of another tenant does not find them.
    let denied = s.engine.authorize(s.user.clone(), NOTICE_READ).await.unwrap_err();
    assert!(matches!(denied, Error::Forbidden(_)), "{denied:?}");
    let root = login(&s.engine, TOKEN, None).await;
    let root_grant = s.engine.authorize(root, NOTICE_READ).await.unwrap();
    assert!(matches!(s.engine.notice(&root_grant, id).await, Err(Error::NotFound(_))));
    assert!(s.engine.notices(&root_grant, PageRequest { after: None, limit: 10 }).await.unwrap().items.is_empty());
    // A grant for another permission is refused by the use case.
    let other = s.engine.authorize(s.admin.clone(), perms::USER_READ).await.unwrap();
    assert!(matches!(s.engine.notice(&other, id).await, Err(Error::Internal(_))));
}

async fn enqueue_never_waits_for_the_mail_server(backend: Backend) {
    let smtp = FakeSmtp::start().await;
    let Some(s) = setup(backend, Some(smtp.config())).await else { return };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let sender = tokio::spawn(s.engine.notice_sender(async move {
        let _ = stopped.await;
    }));
    smtp.pause();
    let first = s.engine.enqueue_notice(s.acme, report(None)).await.unwrap().id;
    // The loop is connected and waiting for the server's greeting...
    smtp.wait_held().await;
    // ...and meanwhile another notice is enqueued, and the call returns.
    let second = s.engine.enqueue_notice(s.acme, report(None)).await.unwrap().id;
    assert!(smtp.received().is_empty(), "the server has not answered yet");
    assert_eq!(s.status(second).await.status, NoticeStatus::Pending);

    smtp.resume();
    assert_eq!(smtp.wait_for(2).await.len(), 2);
    for id in [first, second] {
        let mut tries = 0;
        while s.status(id).await.status != NoticeStatus::Sent {
            tries += 1;
            assert!(tries < 200, "notice {id} was not marked sent");
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }
    stop.send(()).unwrap();
    sender.await.unwrap();
}

both_databases!(
    a_notice_is_delivered_whole,
    a_temporary_failure_is_retried_then_delivered,
    failures_end_failed_with_the_error,
    wrong_credentials_fail_without_showing_the_password,
    a_dedupe_key_enqueues_once,
    without_smtp_notices_are_unsent_but_downloadable,
    enqueue_never_waits_for_the_mail_server,
);
