//! CRM document sync (SPEC Y1–Y4) end to end, against a fake EspoCRM and fake xAI Files and
//! Collections servers that speak their real protocols (`docwright_sync::testing`): a record's
//! life from create to delete with collections and write-back, xAI failing until the last
//! attempt writes `Fehler`, signatures and duplicate deliveries, two replicas receiving events
//! for one record at once, and the reconciler catching up on lost webhooks.

use std::time::{Duration, Instant};

use docwright_api::PageOf;
use docwright_api::page::PageParams;
use docwright_api::sync::{SyncDocumentOut, SyncSourceIn, SyncSourceOut};
use docwright_client::{Client, Options};
use docwright_config::Config;
use docwright_core::time::Timestamp;
use docwright_sync::testing::{FakeEspo, FakeXai};
use reqwest::StatusCode;
use serde_json::{Map, Value, json};

use crate::helpers::{Auth, TestApp, assert_error};

both_databases!(
    config = fast_sync;
    a_record_is_synced_from_create_to_delete,
    a_failing_sink_is_retried_then_written_back_as_failed,
    signatures_are_checked_and_a_delivery_counts_once,
    two_replicas_sync_one_record_one_at_a_time,
    the_reconciler_catches_up_on_lost_webhooks,
);

/// Retries in milliseconds, no reconciler loop (the tests call its step), office previews off.
fn fast_sync(c: &mut Config) {
    c.sync.reconciler = false;
    c.sync.retry_base_ms = 50;
    c.sync.retry_max_secs = 1;
    c.sync.max_attempts = 3;
    c.sync.preview_wait_secs = 20;
    c.sync.http_timeout_secs = 10;
    c.jobs.poll_interval_ms = 50;
}

const SECRET: &str = "espo-webhook-secret";
const WEBHOOK: &str = "webhook-1";

struct World {
    espo: FakeEspo,
    xai: FakeXai,
    admin: Client,
    source: SyncSourceOut,
}

/// A tenant with an admin, a fake EspoCRM with two accounts (each an xAI collection) and a
/// source connecting them.
async fn world(app: &TestApp) -> World {
    let tenant = app.create_tenant("crm").await;
    let admin = app.user_in(&tenant, "admin").await;
    let espo = FakeEspo::start().await;
    let xai = FakeXai::start().await;
    xai.create_collection("col-acme");
    xai.create_collection("col-beta");
    espo.put_entity("Account", "acc1", obj(json!({"name": "ACME", "xaiCollectionId": "col-acme"})));
    espo.put_entity("Account", "acc2", obj(json!({"name": "Beta", "xaiCollectionId": "col-beta"})));
    let client = Client::new(&app.base, &admin.static_token, &Options::default()).unwrap();
    let source = client
        .create_sync_source(&SyncSourceIn {
            name: "CRM".into(),
            base_url: espo.url(),
            api_key: espo.api_key().into(),
            webhook_secret: SECRET.into(),
            webhook_id: Some(WEBHOOK.into()),
            settings: Some(json!({"xai": {"api_base": xai.api_url(), "management_base": xai.management_url()}})),
            xai_api_key: Some(xai.api_key().into()),
            xai_management_key: Some(xai.management_key().into()),
            active: None,
        })
        .await
        .unwrap();
    assert!(source.xai_enabled);
    assert_eq!(source.settings["fields"]["status"], "dateiStatus");
    World { espo, xai, admin: client, source }
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

/// A record of `Document` with its file `bytes` as attachment `attachment`.
fn put_document(espo: &FakeEspo, id: &str, attachment: &str, bytes: &[u8], status: &str) {
    espo.put_attachment(attachment, "report.txt", "text/plain", bytes);
    let mut record = espo.entity("Document", id).unwrap_or_default();
    record
        .extend(obj(json!({"name": "Report", "fileId": attachment, "fileName": "report.txt", "dateiStatus": status})));
    espo.put_entity("Document", id, record);
}

/// Delivers `records` to `app` as EspoCRM does: a JSON array, signed.
async fn deliver(app: &TestApp, w: &World, action: &str, records: Value) -> (StatusCode, Value) {
    let body = records.to_string();
    let signature = docwright_sync::signature::sign(body.as_bytes(), SECRET.as_bytes(), WEBHOOK);
    let resp = app
        .client
        .post(app.url(&format!("/api/sync/{}/webhook/document/{action}", w.source.id)))
        .header("Content-Type", "application/json")
        .header("Signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn documents(w: &World) -> Vec<SyncDocumentOut> {
    let page: PageOf<SyncDocumentOut> = w.admin.sync_documents(&w.source.id, &PageParams::default()).await.unwrap();
    page.items
}

/// Waits until the record's state satisfies `done` (each sync stamps `updated_at`).
async fn state_of(w: &World, id: &str, done: impl Fn(&SyncDocumentOut) -> bool) -> SyncDocumentOut {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(d) = documents(w).await.into_iter().find(|d| d.entity_id == id)
            && done(&d)
        {
            return d;
        }
        assert!(Instant::now() < deadline, "the record {id} did not reach the state: {:?}", documents(w).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for the record's next sync after `before`.
async fn synced_after(w: &World, id: &str, before: Option<&str>) -> SyncDocumentOut {
    let before = before.map(str::to_owned);
    state_of(w, id, move |d| d.state == "synced" && d.synced_at.as_deref() != before.as_deref()).await
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

async fn a_record_is_synced_from_create_to_delete(app: TestApp) {
    let w = world(&app).await;
    let first = b"Quarterly report: apples and pears";
    put_document(&w.espo, "doc1", "att1", first, "Neu");
    w.espo.link("Document", "doc1", "accounts", "Account", "acc1");

    let (status, receipt) = deliver(&app, &w, "create", json!([{"id": "doc1", "name": "Report"}])).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
    assert_eq!(receipt, json!({"received": 1, "accepted": 1, "duplicates": 0}));
    let d = synced_after(&w, "doc1", None).await;

    // Written back under EspoCRM's own names, with the preview attached.
    let crm = w.espo.entity("Document", "doc1").unwrap();
    let sha = sha256_hex(first);
    assert_eq!(crm["dateiStatus"], "Gesynct", "{crm:?}");
    assert_eq!(crm["sha"], sha.as_str());
    assert_eq!(crm["md5"].as_str().map(str::len), Some(32));
    assert_eq!(crm["xaiSyncedHash"], sha.as_str());
    assert_eq!(crm["xaiSyncStatus"], "synced");
    assert_eq!(crm["xaiCollections"], json!(["col-acme"]));
    let xai_file = crm["xaiFileId"].as_str().unwrap().to_owned();
    assert_eq!(w.xai.collection("col-acme").into_iter().collect::<Vec<_>>(), vec![xai_file.clone()]);
    assert_eq!(w.xai.file_bytes(&xai_file).as_deref(), Some(&first[..]));
    let preview = w.espo.attachment(crm["previewImageId"].as_str().expect("a preview")).unwrap();
    assert!(preview.bytes.starts_with(b"\x89PNG"), "the preview is a PNG");
    assert_eq!((preview.related_type.as_str(), preview.field.as_str()), ("Document", "previewImage"));

    // The file is the tenant's, searchable, in the docwright collection of the account.
    let file_id = d.file_id.clone().unwrap();
    assert_eq!(d.sha256.as_deref(), Some(sha.as_str()));
    assert_eq!(d.collections.len(), 1);
    assert_eq!(d.xai_collections, vec!["col-acme".to_owned()]);
    let auth = Auth::bearer(&w.admin.session_tokens().await.unwrap().access_token);
    let (status, file) = app.get(&format!("/files/{file_id}"), &auth).await;
    assert_eq!(status, StatusCode::OK, "{file}");
    let (status, members) = app.get(&format!("/api/collections/{}/files", d.collections[0]), &auth).await;
    assert_eq!(status, StatusCode::OK, "{members}");
    assert_eq!(members["items"][0]["file_id"], file_id.as_str(), "{members}");

    // The same bytes again (the write-back's own update webhook, say): nothing is uploaded.
    deliver(&app, &w, "update", json!([{"id": "doc1", "modifiedAt": "2026-12-03 10:00:00"}])).await;
    let d = synced_after(&w, "doc1", d.synced_at.as_deref()).await;
    assert_eq!(w.xai.uploads(), 1, "unchanged bytes are not uploaded again");
    assert_eq!(d.file_id.as_deref(), Some(file_id.as_str()));

    // New bytes: uploaded again, the new file in the collection and the old one out.
    let second = b"Quarterly report, second edition: plums";
    put_document(&w.espo, "doc1", "att2", second, "Geändert");
    deliver(&app, &w, "update", json!([{"id": "doc1", "fileId": "att2"}])).await;
    let d = synced_after(&w, "doc1", d.synced_at.as_deref()).await;
    assert_eq!(w.xai.uploads(), 2);
    let crm = w.espo.entity("Document", "doc1").unwrap();
    let new_file = crm["xaiFileId"].as_str().unwrap().to_owned();
    assert_ne!(new_file, xai_file);
    assert_eq!(w.xai.collection("col-acme").into_iter().collect::<Vec<_>>(), vec![new_file.clone()]);
    assert_eq!(crm["sha"], sha256_hex(second).as_str());
    assert_eq!(crm["dateiStatus"], "Gesynct");
    assert_ne!(d.file_id.as_deref(), Some(file_id.as_str()), "new bytes are a new file");
    let (status, _) = app.get(&format!("/files/{file_id}"), &auth).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the replaced file is gone");

    // Another account: out of the old collection, into the new one.
    w.espo.unlink("Document", "doc1", "accounts", "Account", "acc1");
    w.espo.link("Document", "doc1", "accounts", "Account", "acc2");
    deliver(&app, &w, "update", json!([{"id": "doc1", "accountsIds": ["acc2"]}])).await;
    let d = synced_after(&w, "doc1", d.synced_at.as_deref()).await;
    assert!(w.xai.collection("col-acme").is_empty());
    assert_eq!(w.xai.collection("col-beta").into_iter().collect::<Vec<_>>(), vec![new_file.clone()]);
    assert_eq!(w.espo.entity("Document", "doc1").unwrap()["xaiCollections"], json!(["col-beta"]));
    assert_eq!(w.xai.uploads(), 2, "a membership change uploads nothing");
    assert_eq!(d.xai_collections, vec!["col-beta".to_owned()]);

    // Deleted in the CRM: out of every collection, its files gone.
    w.espo.remove_entity("Document", "doc1");
    deliver(&app, &w, "delete", json!([{"id": "doc1"}])).await;
    let d = state_of(&w, "doc1", |d| d.state == "deleted").await;
    assert!(w.xai.collection("col-beta").is_empty());
    assert!(d.file_id.is_none() && d.xai_file_id.is_none() && d.collections.is_empty());
    let (status, _) = app.get(&format!("/files/{}", d.file_id.as_deref().unwrap_or(&file_id)), &auth).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn a_failing_sink_is_retried_then_written_back_as_failed(app: TestApp) {
    let w = world(&app).await;
    put_document(&w.espo, "doc1", "att1", b"some text", "Neu");
    w.espo.link("Document", "doc1", "accounts", "Account", "acc1");
    w.xai.fail_all(503);
    deliver(&app, &w, "create", json!([{"id": "doc1"}])).await;
    let d = state_of(&w, "doc1", |d| d.state == "failed").await;
    assert_eq!(d.attempts, 3, "every attempt was made: {d:?}");
    let error = d.last_error.clone().unwrap();
    assert!(error.contains("503"), "{error}");
    let crm = w.espo.entity("Document", "doc1").unwrap();
    assert_eq!(crm["dateiStatus"], "Fehler", "{crm:?}");
    assert_eq!(crm["xaiSyncStatus"], "failed");
    assert!(crm["xaiSyncError"].as_str().unwrap().contains("503"), "{crm:?}");
    assert!(w.xai.upload_attempts() >= 3, "retried: {}", w.xai.upload_attempts());

    // Once xAI is back, a resync repairs it.
    w.xai.recover();
    w.admin.resync_document(&w.source.id, "doc1").await.unwrap();
    synced_after(&w, "doc1", None).await;
    let crm = w.espo.entity("Document", "doc1").unwrap();
    assert_eq!(crm["dateiStatus"], "Gesynct");
    assert!(crm["xaiSyncError"].is_null() || crm["xaiSyncError"] == "", "{crm:?}");
}

async fn signatures_are_checked_and_a_delivery_counts_once(app: TestApp) {
    let w = world(&app).await;
    put_document(&w.espo, "doc1", "att1", b"signed text", "Neu");
    let url = app.url(&format!("/api/sync/{}/webhook/document/create", w.source.id));
    let body = json!([{"id": "doc1"}]).to_string();
    let post = |headers: Vec<(&'static str, String)>| {
        let mut req = app.client.post(&url).header("Content-Type", "application/json").body(body.clone());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req.send()
    };
    // No signature, a wrong secret, another webhook's id: 401 and nothing stored.
    for headers in [
        vec![],
        vec![("Signature", docwright_sync::signature::sign(body.as_bytes(), b"wrong", WEBHOOK))],
        vec![("Signature", docwright_sync::signature::sign(body.as_bytes(), SECRET.as_bytes(), "webhook-2"))],
        vec![("Signature", "bm90IGEgc2lnbmF0dXJl".to_owned())],
    ] {
        let resp = post(headers).await.unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert_error(status, &body, 401, "invalid_signature");
    }
    assert!(documents(&w).await.is_empty(), "a refused delivery stores nothing");
    // The legacy header of EspoCRM before 9.0 is accepted.
    let legacy = docwright_sync::signature::sign_legacy(body.as_bytes(), SECRET.as_bytes(), WEBHOOK);
    let resp = post(vec![("X-Signature", legacy.clone())]).await.unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    // The same delivery again (EspoCRM retries after a timeout): stored once.
    let resp = post(vec![("X-Signature", legacy)]).await.unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"received": 1, "accepted": 0, "duplicates": 1}));
    synced_after(&w, "doc1", None).await;
    let source = docwright_core::id::SyncSourceId::parse(&w.source.id).unwrap();
    assert_eq!(app.state.db.sync_events(source, "doc1", 10).await.unwrap().len(), 1);
    // A payload that is not EspoCRM's array: 400 naming the problem.
    let bad = "{\"id\": \"doc1\"}";
    let signature = docwright_sync::signature::sign(bad.as_bytes(), SECRET.as_bytes(), WEBHOOK);
    let resp = app.client.post(&url).header("Signature", signature).body(bad).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // An unknown source or action: 404.
    let resp = app
        .client
        .post(app.url(&format!("/api/sync/{}/webhook/document/rename", w.source.id)))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

async fn two_replicas_sync_one_record_one_at_a_time(app: TestApp) {
    let w = world(&app).await;
    let replica = app.replica().await;
    put_document(&w.espo, "doc1", "att1", b"raced text", "Neu");
    w.espo.link("Document", "doc1", "accounts", "Account", "acc1");
    // Slow EspoCRM answers widen the window in which two workers would overlap.
    w.espo.delay(Duration::from_millis(200));
    let (status, _) = deliver(&app, &w, "create", json!([{"id": "doc1", "name": "Report"}])).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // While the first sync runs (its job no longer pending, so the next event gets a job of its
    // own), the other replica receives an update of the same record.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !w.espo.requests().iter().any(|(m, p)| m == "GET" && p.ends_with("Document/doc1")) {
        assert!(Instant::now() < deadline, "the first sync did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, receipt) = deliver(&replica, &w, "update", json!([{"id": "doc1", "name": "Report 2"}])).await;
    assert_eq!((status, receipt["accepted"].as_u64()), (StatusCode::ACCEPTED, Some(1)));
    // Both events' jobs have run when no sync job is left.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let source = docwright_core::id::SyncSourceId::parse(&w.source.id).unwrap();
        let doc = app.state.db.sync_document(source, "doc1").await.unwrap();
        let lock = app.state.db.sync_document_lock(source, "doc1").await.unwrap();
        let idle = app.state.db.job_depth(Timestamp::now()).await.unwrap().iter().all(|d| d.kind != "sync.document");
        if doc.is_some_and(|d| d.state == "synced") && lock.is_none() && idle {
            break;
        }
        assert!(Instant::now() < deadline, "the syncs did not settle");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(w.espo.max_concurrent("Document", "doc1"), 1, "one worker at a time");
    assert_eq!(w.xai.uploads(), 1, "the second sync found the record synced");
    assert_eq!(w.xai.collection("col-acme").len(), 1);
    assert_eq!(w.espo.entity("Document", "doc1").unwrap()["dateiStatus"], "Gesynct");
}

async fn the_reconciler_catches_up_on_lost_webhooks(app: TestApp) {
    let w = world(&app).await;
    put_document(&w.espo, "doc1", "att1", b"first lost", "Neu");
    put_document(&w.espo, "doc2", "att2", b"second lost", "Neu");
    let now = Timestamp::now();
    let done = app.state.engine.reconcile_sync_sources(now).await.unwrap();
    assert_eq!((done.sources, done.changed, done.gone), (1, 2, 0), "{done:?}");
    synced_after(&w, "doc1", None).await;
    synced_after(&w, "doc2", None).await;
    // Not due again within the interval.
    assert_eq!(app.state.engine.reconcile_sync_sources(now).await.unwrap().sources, 0);
    // Deleted without a webhook; the next reconcile (an interval later) removes it, and the
    // records unchanged since their sync are left alone.
    w.espo.remove_entity("Document", "doc2");
    let later = Timestamp::from_millis(now.millis() + 3_600_000);
    let done = app.state.engine.reconcile_sync_sources(later).await.unwrap();
    assert_eq!((done.sources, done.changed, done.gone), (1, 0, 1), "{done:?}");
    state_of(&w, "doc2", |d| d.state == "deleted").await;
    assert_eq!(w.xai.uploads(), 2);
}
