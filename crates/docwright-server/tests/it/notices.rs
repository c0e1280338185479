//! The server wires billing notices (SPEC B7) from `[smtp]`: its own background sender e-mails
//! what billing enqueues, and stops with the server.

use docwright_engine::notices::NewNotice;
use docwright_engine::testing::FakeSmtp;
use docwright_storage::Backend;
use docwright_storage::notices::{NoticeKind, NoticeStatus};

use crate::helpers::TestApp;

async fn the_server_sends_enqueued_notices(backend: Backend) {
    let smtp = FakeSmtp::start().await;
    let Some(mut app) = TestApp::spawn(backend, |c| c.smtp = smtp.config()).await else { return };
    let root = app.state.db.tenant_by_name("ROOT").await.unwrap().unwrap().id;
    let notice = NewNotice {
        kind: NoticeKind::LowBalance,
        recipients: vec!["billing@root.example".into()],
        subject: "Balance below 10%".into(),
        body: "The balance of ROOT is 0.95 CHF.".into(),
        attachment: None,
        dedupe_key: Some("low_balance:root:1".into()),
    };
    let id = app.state.engine.enqueue_notice(root, notice).await.unwrap().id;
    // No step is called here: the server's own sender delivers it.
    let mail = &smtp.wait_for(1).await[0];
    assert_eq!(mail.rcpt_to, ["billing@root.example"]);
    assert_eq!(mail.header("Subject").as_deref(), Some("Balance below 10%"));
    let mut tries = 0;
    while app.state.db.notice(root, id).await.unwrap().unwrap().head.status != NoticeStatus::Sent {
        tries += 1;
        assert!(tries < 200, "the notice was not marked sent");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    // The sender stops with the server (the shutdown would otherwise wait out its grace).
    let stopping = std::time::Instant::now();
    app.stop().await;
    assert!(stopping.elapsed() < std::time::Duration::from_secs(app.config.server.shutdown_grace_secs));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    the_server_sends_enqueued_notices(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    the_server_sends_enqueued_notices(Backend::Postgres).await
}
