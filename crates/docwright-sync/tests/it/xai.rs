//! `XaiClient` against `FakeXai`: files on the API host, collection documents on the
//! management host, each with its own key; path checks, 404 handling and retryability.

use std::time::Duration;

use docwright_sync::Error;
use docwright_sync::testing::FakeXai;
use docwright_sync::xai::{XaiClient, XaiConfig};

#[tokio::test]
async fn files_are_uploaded_and_deleted() {
    let fake = FakeXai::start().await;
    let xai = fake.client();
    let id = xai.upload_file("Bericht \"Q1\".pdf", "application/pdf", b"%PDF-1.7 content"[..].into()).await.unwrap();
    let stored = fake.file(&id).unwrap();
    assert_eq!(stored.bytes, b"%PDF-1.7 content");
    assert_eq!(stored.mime, "application/pdf");
    assert_eq!(stored.name, "Bericht _Q1_.pdf", "quotes cannot break the part's header");
    assert_eq!(fake.uploads(), 1);

    xai.delete_file(&id).await.unwrap();
    assert!(!fake.has_file(&id));
    xai.delete_file(&id).await.unwrap();
    assert_eq!(
        fake.requests(),
        [
            ("POST".to_owned(), "/v1/files".to_owned()),
            ("DELETE".to_owned(), format!("/v1/files/{id}")),
            ("DELETE".to_owned(), format!("/v1/files/{id}")),
        ],
        "a file already gone is deleted"
    );
    assert!(matches!(xai.upload_file("x", "not a type", b"x"[..].into()).await, Err(Error::InvalidId(_))));
    let id = xai.upload_file("a.txt", "text/plain; charset=utf-8", b"x"[..].into()).await.unwrap();
    assert_eq!(fake.file(&id).unwrap().mime, "text/plain");
}

#[tokio::test]
async fn collection_documents_are_added_reindexed_and_removed() {
    let fake = FakeXai::start().await;
    fake.create_collection("collection_1");
    let xai = fake.client();
    let id = xai.upload_file("r.txt", "text/plain", b"content"[..].into()).await.unwrap();

    xai.add_to_collection("collection_1", &id).await.unwrap();
    assert!(fake.collection("collection_1").contains(&id));
    xai.add_to_collection("collection_1", &id).await.unwrap();
    xai.reindex("collection_1", &id).await.unwrap();
    xai.remove_from_collection("collection_1", &id).await.unwrap();
    assert!(fake.collection("collection_1").is_empty());
    xai.remove_from_collection("collection_1", &id).await.unwrap();
    xai.remove_from_collection("unknown", &id).await.unwrap();

    for e in [
        xai.add_to_collection("unknown", &id).await.unwrap_err(),
        xai.add_to_collection("collection_1", "file_unknown").await.unwrap_err(),
        xai.reindex("collection_1", &id).await.unwrap_err(),
    ] {
        assert!(matches!(e, Error::Http { status: 404, service: "xai collections", .. }), "{e}");
        assert!(!e.is_retryable());
    }
    let paths: Vec<String> = fake.requests().into_iter().map(|(m, p)| format!("{m} {p}")).collect();
    assert_eq!(paths[1], format!("POST /v1/collections/collection_1/documents/{id}"));
    assert_eq!(paths[3], format!("PATCH /v1/collections/collection_1/documents/{id}"));
    assert_eq!(paths[4], format!("DELETE /v1/collections/collection_1/documents/{id}"));
}

#[tokio::test]
async fn each_host_takes_only_its_own_key_and_no_key_is_shown() {
    let fake = FakeXai::start().await;
    fake.create_collection("c1");
    let id = fake.client().upload_file("r.txt", "text/plain", b"x"[..].into()).await.unwrap();
    let swapped = XaiClient::new(&XaiConfig {
        api_key: fake.management_key().into(),
        management_key: fake.api_key().into(),
        ..fake.config()
    })
    .unwrap();
    let files = swapped.upload_file("r.txt", "text/plain", b"x"[..].into()).await.unwrap_err();
    assert!(matches!(files, Error::Http { status: 401, service: "xai files", .. }), "{files}");
    let collections = swapped.add_to_collection("c1", &id).await.unwrap_err();
    assert!(matches!(collections, Error::Http { status: 401, service: "xai collections", .. }), "{collections}");
    for e in [&files, &collections] {
        assert!(!e.is_retryable());
        // The fake echoes the key it was given; the client cuts it out.
        let shown = format!("{e} {e:?} {swapped:?}");
        assert!(!shown.contains(fake.api_key()) && !shown.contains(fake.management_key()), "{shown}");
        assert!(shown.contains("Incorrect API key provided: [redacted]"), "{shown}");
    }
    assert_eq!(fake.uploads(), 1);
    assert!(fake.collection("c1").is_empty());
}

#[tokio::test]
async fn ids_are_checked_before_anything_is_sent() {
    let fake = FakeXai::start().await;
    let xai = fake.client();
    let invalid = |r: Result<(), Error>| matches!(r, Err(Error::InvalidId(_)));
    assert!(invalid(xai.delete_file("../files").await));
    assert!(invalid(xai.delete_file("").await));
    assert!(invalid(xai.add_to_collection("c1/documents/x", "f").await));
    assert!(invalid(xai.reindex("c1", "f?x=1").await));
    assert!(invalid(xai.remove_from_collection("c 1", "f").await));
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn throttling_and_outages_are_retryable_bad_requests_are_not() {
    let fake = FakeXai::start().await;
    fake.create_collection("c1");
    let xai = fake.client();

    fake.retry_after(Some(3));
    fake.fail_uploads(1, 429);
    match xai.upload_file("r.txt", "text/plain", b"x"[..].into()).await.unwrap_err() {
        e @ Error::Http { status: 429, retry_after, .. } => {
            assert!(e.is_retryable());
            assert_eq!(retry_after, Some(Duration::from_secs(3)));
        }
        e => panic!("{e}"),
    }
    fake.retry_after(None);
    fake.fail_uploads(1, 400);
    assert!(!xai.upload_file("r.txt", "text/plain", b"x"[..].into()).await.unwrap_err().is_retryable());
    let id = xai.upload_file("r.txt", "text/plain", b"x"[..].into()).await.unwrap();
    assert_eq!((fake.uploads(), fake.upload_attempts()), (1, 3));

    fake.fail_all(500);
    assert!(xai.add_to_collection("c1", &id).await.unwrap_err().is_retryable());
    assert!(xai.delete_file(&id).await.unwrap_err().is_retryable());
    fake.fail_all(503);
    assert!(xai.upload_file("r.txt", "text/plain", b"x"[..].into()).await.unwrap_err().is_retryable());
    fake.recover();
    xai.add_to_collection("c1", &id).await.unwrap();
    assert_eq!(fake.collection("c1").len(), 1);

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let gone =
        XaiClient::new(&XaiConfig { management_base: down, timeout: Duration::from_secs(2), ..fake.config() }).unwrap();
    let e = gone.add_to_collection("c1", &id).await.unwrap_err();
    assert!(matches!(e, Error::Network(_)) && e.is_retryable(), "{e}");
}
