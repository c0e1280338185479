//! `EspoClient` against `FakeEspo`: every method, the key, path checks, the size bound, 404s
//! and which failures are worth a retry.

use std::time::Duration;

use docwright_sync::Error;
use docwright_sync::espo::{EspoClient, NewAttachment};
use docwright_sync::testing::FakeEspo;
use serde_json::{Map, json};

use crate::obj;

#[tokio::test]
async fn records_are_read_and_updated() {
    let espo = FakeEspo::start().await;
    let crm = espo.client();
    espo.put_entity("Document", "d1", obj(json!({"name": "Report", "fileId": "a1"})));

    let d = crm.get_entity("Document", "d1").await.unwrap().unwrap();
    assert_eq!((d["id"].as_str(), d["name"].as_str()), (Some("d1"), Some("Report")));
    assert!(d["modifiedAt"].is_string());
    assert!(crm.get_entity("Document", "missing").await.unwrap().is_none(), "404 is None");

    crm.update_entity("Document", "d1", &obj(json!({"dateiStatus": "Gesynct"}))).await.unwrap();
    let after = espo.entity("Document", "d1").unwrap();
    assert_eq!(after["dateiStatus"], "Gesynct");
    assert_eq!(after["name"], "Report", "a PUT merges");
    assert_ne!(after["modifiedAt"], d["modifiedAt"], "a write moves modifiedAt on");

    let e = crm.update_entity("Document", "missing", &Map::new()).await.unwrap_err();
    assert!(matches!(e, Error::Http { status: 404, service: "espocrm", .. }), "{e}");
    assert_eq!(
        espo.requests().iter().map(|(m, p)| format!("{m} {p}")).collect::<Vec<_>>(),
        [
            "GET /api/v1/Document/d1",
            "GET /api/v1/Document/missing",
            "PUT /api/v1/Document/d1",
            "PUT /api/v1/Document/missing"
        ]
    );
}

#[tokio::test]
async fn listings_page_through_every_record() {
    let espo = FakeEspo::start().await;
    let crm = espo.client();
    for i in 0..451 {
        espo.put_entity("Document", &format!("x{i:03}"), obj(json!({"name": format!("n{i}")})));
    }
    espo.put_entity("Account", "acc1", Map::new());

    let page = crm.list("Document", &["id", "modifiedAt"], 10, 5).await.unwrap();
    assert_eq!(page.total, 451);
    assert_eq!(page.list.len(), 5);
    assert_eq!(page.list[0]["id"], "x010");
    assert!(page.list[0].get("name").is_none(), "only the selected attributes");
    assert_eq!(
        espo.requests().last().unwrap().1,
        "/api/v1/Document?select=id%2CmodifiedAt&offset=10&maxSize=5&orderBy=id&order=asc"
    );

    let ids = crm.list_all_ids("Document").await.unwrap();
    assert_eq!(ids.len(), 451, "every page is read");
    assert_eq!(ids[450].0, "x450");
    assert!(ids.iter().all(|(_, m)| m.is_some()));
    let offsets: Vec<String> = espo
        .requests()
        .iter()
        .filter_map(|(_, p)| p.split("offset=").nth(1).map(|o| o.split('&').next().unwrap().to_owned()))
        .collect();
    assert_eq!(offsets, ["10", "0", "200", "400"]);

    // EspoCRM refuses pages larger than 200.
    let e = crm.list("Document", &[], 0, 500).await.unwrap_err();
    assert!(matches!(e, Error::Http { status: 403, .. }), "{e}");
    assert!(e.to_string().contains("Max size"), "the reason header is the message: {e}");
}

#[tokio::test]
async fn related_records_are_paged_and_selected() {
    let espo = FakeEspo::start().await;
    let crm = espo.client();
    espo.put_entity("Document", "d1", Map::new());
    for i in 0..205 {
        let id = format!("acc{i:03}");
        espo.put_entity("Account", &id, obj(json!({"name": "A", "xaiCollectionId": format!("c{i}"), "other": 1})));
        espo.link("Document", "d1", "accounts", "Account", &id);
    }
    let related = crm.related("Document", "d1", "accounts", &["id", "name", "xaiCollectionId"]).await.unwrap();
    assert_eq!(related.len(), 205);
    assert_eq!(related[204]["xaiCollectionId"], "c204");
    assert!(related[0].get("other").is_none());
    espo.unlink("Document", "d1", "accounts", "Account", "acc000");
    assert_eq!(crm.related("Document", "d1", "accounts", &[]).await.unwrap().len(), 204);
    assert!(crm.related("Document", "d1", "contacts", &[]).await.unwrap().is_empty());
    let e = crm.related("Document", "gone", "accounts", &[]).await.unwrap_err();
    assert!(matches!(e, Error::Http { status: 404, .. }), "{e}");
}

#[tokio::test]
async fn downloads_are_bounded() {
    let espo = FakeEspo::start().await;
    let crm = espo.client();
    let bytes: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    espo.put_attachment("a1", "r.bin", "application/octet-stream", &bytes);

    assert_eq!(&crm.download_attachment("a1", 5000).await.unwrap()[..], &bytes[..], "exactly the limit");
    let e = crm.download_attachment("a1", 4999).await.unwrap_err();
    assert!(matches!(e, Error::TooLarge { limit: 4999 }), "{e}");
    assert!(!e.is_retryable(), "too large stays too large");

    // Without a Content-Length the bound holds while reading.
    espo.stream_downloads(true);
    assert_eq!(&crm.download_attachment("a1", 5000).await.unwrap()[..], &bytes[..]);
    assert!(matches!(crm.download_attachment("a1", 2000).await, Err(Error::TooLarge { limit: 2000 })));

    let e = crm.download_attachment("missing", 10).await.unwrap_err();
    assert!(matches!(e, Error::Http { status: 404, .. }) && !e.is_retryable(), "{e}");
}

#[tokio::test]
async fn attachments_are_uploaded_as_data_urls() {
    let espo = FakeEspo::start().await;
    let crm = espo.client();
    let attachment = NewAttachment {
        name: "preview.png".into(),
        mime: "image/png".into(),
        bytes: b"\x89PNG fake"[..].into(),
        related_type: "Document".into(),
        field: "previewImage".into(),
        role: "Attachment".into(),
    };
    let id = crm.upload_attachment(&attachment).await.unwrap();
    let stored = espo.attachment(&id).unwrap();
    assert_eq!(stored.bytes, b"\x89PNG fake");
    assert_eq!(
        (stored.name.as_str(), stored.mime.as_str(), stored.related_type.as_str(), stored.field.as_str()),
        ("preview.png", "image/png", "Document", "previewImage")
    );
    assert_eq!(stored.role, "Attachment");
    let with_charset = NewAttachment { mime: "text/plain; charset=utf-8".into(), ..attachment.clone() };
    let id = crm.upload_attachment(&with_charset).await.unwrap();
    assert_eq!(espo.attachment(&id).unwrap().mime, "text/plain", "parameters are left off");

    // What cannot go into the data URL or a name is refused before anything is sent.
    let before = espo.requests().len();
    for bad in [
        NewAttachment { mime: "image/png,base64".into(), ..attachment.clone() },
        NewAttachment { mime: "image/png\r\nX: y".into(), ..attachment.clone() },
        NewAttachment { mime: "text/plain,x".into(), ..attachment.clone() },
        NewAttachment { related_type: "Doc/ument".into(), ..attachment.clone() },
        NewAttachment { field: "a b".into(), ..attachment.clone() },
    ] {
        assert!(matches!(crm.upload_attachment(&bad).await, Err(Error::InvalidId(_))), "{bad:?}");
    }
    assert_eq!(espo.requests().len(), before);
}

#[tokio::test]
async fn a_wrong_key_is_refused_and_never_shown() {
    let espo = FakeEspo::start().await;
    espo.put_entity("Document", "d1", Map::new());
    let wrong = EspoClient::new(&espo.url(), "not-the-right-key".into(), Duration::from_secs(5)).unwrap();
    let e = wrong.get_entity("Document", "d1").await.unwrap_err();
    assert!(matches!(e, Error::Http { status: 401, service: "espocrm", .. }), "{e}");
    assert!(!e.is_retryable());
    let shown = format!("{e} {e:?} {wrong:?}");
    assert!(!shown.contains("not-the-right-key") && !shown.contains(espo.api_key()), "{shown}");
}

#[tokio::test]
async fn data_cannot_change_the_url() {
    let espo = FakeEspo::start().await;
    let crm = espo.client();
    let invalid = |r: Result<(), Error>| matches!(r, Err(Error::InvalidId(_)));
    assert!(invalid(crm.get_entity("Document", "../User").await.map(drop)));
    assert!(invalid(crm.get_entity("Document", "a?select=password").await.map(drop)));
    assert!(invalid(crm.get_entity("Doc/ument", "x").await.map(drop)));
    assert!(invalid(crm.get_entity("", "x").await.map(drop)));
    assert!(invalid(crm.related("Document", "d1", "accounts/../x", &[]).await.map(drop)));
    assert!(invalid(crm.related("Document", "d1", "accounts", &["id,password"]).await.map(drop)));
    assert!(invalid(crm.list("Document", &["id&x=1"], 0, 1).await.map(drop)));
    assert!(invalid(crm.download_attachment("a%2F..", 10).await.map(drop)));
    assert!(invalid(crm.update_entity("Document", "d1/x", &Map::new()).await));
    assert!(espo.requests().is_empty(), "nothing was sent: {:?}", espo.requests());
}

#[tokio::test]
async fn server_errors_and_throttling_are_retryable_client_errors_are_not() {
    let espo = FakeEspo::start().await;
    let crm = espo.client();
    espo.put_entity("Document", "d1", Map::new());

    espo.fail_next(1, 503);
    let e = crm.get_entity("Document", "d1").await.unwrap_err();
    assert!(e.is_retryable() && e.status() == Some(503), "{e}");
    assert!(e.to_string().contains("Scripted failure"), "{e}");

    espo.retry_after(Some(7));
    espo.fail_next(1, 429);
    match crm.get_entity("Document", "d1").await.unwrap_err() {
        e @ Error::Http { status: 429, retry_after, .. } => {
            assert!(e.is_retryable());
            assert_eq!(retry_after, Some(Duration::from_secs(7)));
        }
        e => panic!("{e}"),
    }
    espo.retry_after(None);

    espo.fail_next(1, 400);
    assert!(!crm.get_entity("Document", "d1").await.unwrap_err().is_retryable());
    assert!(crm.get_entity("Document", "d1").await.unwrap().is_some(), "the script is used up");

    // No answer at all: nothing listens on the port.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let gone = EspoClient::new(&format!("http://127.0.0.1:{port}"), "k".into(), Duration::from_secs(2)).unwrap();
    let e = gone.get_entity("Document", "d1").await.unwrap_err();
    assert!(matches!(e, Error::Network(_)) && e.is_retryable(), "{e}");
    assert!(e.to_string().starts_with("espocrm: "), "{e}");

    // An answer too slow.
    espo.delay(Duration::from_millis(800));
    let slow = EspoClient::new(&espo.url(), espo.api_key().into(), Duration::from_millis(200)).unwrap();
    let e = slow.get_entity("Document", "d1").await.unwrap_err();
    assert!(matches!(e, Error::Timeout) && e.is_retryable(), "{e}");
}

#[tokio::test]
async fn the_base_may_carry_the_api_path_and_must_be_http() {
    let espo = FakeEspo::start().await;
    espo.put_entity("Document", "d1", Map::new());
    let crm =
        EspoClient::new(&format!("{}/api/v1/", espo.url()), espo.api_key().into(), Duration::from_secs(5)).unwrap();
    assert!(crm.get_entity("Document", "d1").await.unwrap().is_some());
    for bad in ["ftp://crm", "crm.example.com", "http://crm/?x=1"] {
        assert!(matches!(EspoClient::new(bad, "k".into(), Duration::from_secs(1)), Err(Error::Config(_))), "{bad}");
    }
}
