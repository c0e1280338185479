//! The notice outbox: enqueue with dedupe keys, the claim that keeps two senders apart, retry
//! and give-up, and the per-tenant listing and download.

use docwright_core::id::{NoticeId, TenantId};
use docwright_core::rbac::bootstrap_rules;
use docwright_core::time::Timestamp;
use docwright_storage::notices::{Attachment, Notice, NoticeHead, NoticeKind, NoticeStatus};
use docwright_storage::{Db, PageRequest};

use crate::tenant;

both_databases!(notices_dedupe_and_stay_in_their_tenant, delivery_claims_retries_and_gives_up);

fn notice(tenant: TenantId, dedupe_key: Option<&str>, at: Timestamp) -> Notice {
    Notice {
        head: NoticeHead {
            id: NoticeId::new(),
            tenant_id: tenant,
            kind: NoticeKind::MonthlyReport,
            recipients: vec!["billing@acme.example".into(), "\"Ann Smith\"@acme.example".into()],
            subject: "Usage in October".into(),
            attachment_name: Some("usage.csv".into()),
            status: NoticeStatus::Pending,
            attempts: 0,
            next_attempt_at: at,
            last_error: None,
            created_at: at,
            sent_at: None,
            dedupe_key: dedupe_key.map(str::to_owned),
        },
        body: "Total: 12.50 CHF\nOperations: 3\n".into(),
        attachment: Some(Attachment { name: "usage.csv".into(), content: "provider,cost\nopenai,12.50\n".into() }),
    }
}

async fn notices_dedupe_and_stay_in_their_tenant(db: Db) {
    let (a, b) = (tenant("A"), tenant("B"));
    db.create_tenant(&a, &bootstrap_rules()).await.unwrap();
    db.create_tenant(&b, &bootstrap_rules()).await.unwrap();
    let now = Timestamp::now();

    let first = notice(a.id, Some("report:2026-10"), now);
    assert!(db.insert_notice(&first).await.unwrap(), "new");
    assert!(!db.insert_notice(&notice(a.id, Some("report:2026-10"), now)).await.unwrap(), "same key: not again");
    assert!(db.insert_notice(&notice(b.id, Some("report:2026-10"), now)).await.unwrap(), "keys are per tenant");
    // Without a key, nothing is deduplicated.
    for _ in 0..3 {
        assert!(db.insert_notice(&notice(a.id, None, now)).await.unwrap());
    }
    assert_eq!(db.notice_by_dedupe_key(a.id, "report:2026-10").await.unwrap(), Some(first.head.clone()));
    assert_eq!(db.notice_by_dedupe_key(a.id, "report:2026-11").await.unwrap(), None);

    // The download holds everything; another tenant does not see it.
    assert_eq!(db.notice(a.id, first.head.id).await.unwrap(), Some(first.clone()));
    assert_eq!(db.notice(b.id, first.head.id).await.unwrap(), None);

    // Newest first, in pages.
    let p1 = db.list_notices(a.id, PageRequest { after: None, limit: 3 }).await.unwrap();
    assert_eq!(p1.items.len(), 3);
    assert!(p1.has_more);
    assert!(p1.items.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let last = p1.items[2].id.to_string();
    let p2 = db.list_notices(a.id, PageRequest { after: Some(&last), limit: 3 }).await.unwrap();
    assert_eq!(p2.items.iter().map(|n| n.id).collect::<Vec<_>>(), vec![first.head.id]);
    assert!(!p2.has_more);
    assert_eq!(db.list_notices(b.id, PageRequest { after: None, limit: 10 }).await.unwrap().items.len(), 1);
}

async fn delivery_claims_retries_and_gives_up(db: Db) {
    let t = tenant("T");
    db.create_tenant(&t, &[]).await.unwrap();
    let now = Timestamp::from_millis(1_800_000_000_000);
    let due = notice(t.id, None, now);
    let later = notice(t.id, None, now.plus_secs(60));
    db.insert_notice(&due).await.unwrap();
    db.insert_notice(&later).await.unwrap();

    let found = db.due_notices(now, 10).await.unwrap();
    assert_eq!(found, vec![due.clone()], "only what is due");
    let id = due.head.id;
    let lease = now.plus_secs(600);
    assert!(db.claim_notice(id, now, lease).await.unwrap());
    assert!(!db.claim_notice(id, now, lease).await.unwrap(), "a second sender that saw the same row loses");
    assert!(db.due_notices(now.plus_secs(60), 10).await.unwrap().iter().all(|n| n.head.id != id), "leased");

    // A temporary failure: pending again, at the retry time, with the error.
    let retry = now.plus_secs(30);
    db.mark_notice_failed(id, "451 try later", Some(retry)).await.unwrap();
    let head = db.notice(t.id, id).await.unwrap().unwrap().head;
    assert_eq!((head.status, head.attempts, head.next_attempt_at), (NoticeStatus::Pending, 1, retry));
    assert_eq!(head.last_error.as_deref(), Some("451 try later"));

    // Claimed again and sent.
    assert!(db.claim_notice(id, retry, retry.plus_secs(600)).await.unwrap());
    db.mark_notice_sent(id, retry.plus_secs(1)).await.unwrap();
    let head = db.notice(t.id, id).await.unwrap().unwrap().head;
    assert_eq!(
        (head.status, head.attempts, head.sent_at, head.last_error),
        (NoticeStatus::Sent, 2, Some(retry.plus_secs(1)), None)
    );
    assert!(!db.claim_notice(id, head.next_attempt_at, lease).await.unwrap(), "sent notices are not taken again");

    // Given up; and one marked unsent.
    let other = later.head.id;
    assert!(db.claim_notice(other, later.head.next_attempt_at, lease).await.unwrap());
    db.mark_notice_failed(other, "550 no such user", None).await.unwrap();
    let head = db.notice(t.id, other).await.unwrap().unwrap().head;
    assert_eq!((head.status, head.last_error.as_deref()), (NoticeStatus::Failed, Some("550 no such user")));
    let third = notice(t.id, None, now);
    db.insert_notice(&third).await.unwrap();
    db.mark_notice_unsent(third.head.id, "no SMTP server").await.unwrap();
    assert_eq!(db.notice(t.id, third.head.id).await.unwrap().unwrap().head.status, NoticeStatus::Unsent);
    assert!(db.due_notices(now.plus_secs(100_000), 10).await.unwrap().is_empty(), "nothing left to send");
}
