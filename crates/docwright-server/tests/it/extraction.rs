//! Extraction (SPEC D2) and thumbnails (D3) through the API: uploads are extracted in the
//! background into content parts (W3) with their locations, previews are 200×280 PNGs, a
//! failure names its reason, a re-run replaces the parts, and everything stays in its tenant and
//! with its owner. Parsers run on threads here; the binary's tests cover process isolation.

use std::time::{Duration, Instant};

use docwright_storage::Backend;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::files::{files_under, png};
use crate::helpers::{Auth, TestApp, assert_error};

both_databases!(
    text_and_tables_become_parts_with_locations,
    parts_come_a_page_at_a_time,
    an_email_s_attachments_become_files_of_their_own,
    images_keep_their_bytes_and_failures_name_their_reason,
    a_rerun_replaces_the_parts_and_delete_removes_every_blob,
    parts_and_previews_stay_with_their_tenant_and_owner,
);

/// Waits until the file's extraction has ended; returns its record.
pub(crate) async fn ended(app: &TestApp, auth: &Auth, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, f) = app.get(&format!("/files/{id}"), auth).await;
        assert_eq!(status, StatusCode::OK, "{f}");
        if f["extraction_status"] == "done" || f["extraction_status"] == "failed" {
            return f;
        }
        assert!(Instant::now() < deadline, "extraction did not end: {f}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn upload(app: &TestApp, auth: &Auth, name: &str, bytes: &[u8]) -> String {
    let (status, body) = app.upload(auth, name, bytes).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["extraction_status"], "pending", "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Every part of a file, page after page.
async fn parts(app: &TestApp, auth: &Auth, id: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("/files/{id}/parts?cursor={c}"),
            None => format!("/files/{id}/parts"),
        };
        let (status, body) = app.get(&url, auth).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        all.extend(body["items"].as_array().unwrap().iter().cloned());
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return all,
        }
    }
}

/// Width and height of a PNG, from its IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

async fn thumbnail(app: &TestApp, auth: &Auth, id: &str) -> (StatusCode, Vec<u8>) {
    let resp = app.request(Method::GET, &format!("/files/{id}/thumbnail"), auth).send().await.unwrap();
    (resp.status(), resp.bytes().await.unwrap().to_vec())
}

async fn text_and_tables_become_parts_with_locations(app: TestApp) {
    let admin = app.sysadmin().await;

    let id = upload(&app, &admin, "notes.txt", "Quarterly notes\n\nThe invoice total is 420 CHF.\n".as_bytes()).await;
    let f = ended(&app, &admin, &id).await;
    assert_eq!(f["extraction_status"], "done", "{f}");
    assert_eq!(f["thumbnail_url"], format!("/files/{id}/thumbnail"));
    let ps = parts(&app, &admin, &id).await;
    let all: String = ps.iter().map(|p| p["data"].as_str().unwrap()).collect::<Vec<_>>().join("\n");
    assert!(all.contains("Quarterly notes") && all.contains("420 CHF"), "{ps:?}");
    let p = &ps[0];
    assert_eq!(p["type_group"], "text");
    assert_eq!(p["metadata"]["content_format"], "extracted");
    assert_eq!(p["metadata"]["document_id"], id.as_str());
    assert_eq!(p["metadata"]["document_reference"], format!("docItem:{id}:notes.txt"));
    assert_eq!(p["metadata"]["original_file_name"], "notes.txt");
    assert_eq!(p["metadata"]["extraction_method"], "text");
    assert_eq!(p["metadata"]["row_start"], 1, "a text part knows its lines: {p}");

    // A generic preview for a text file, at the configured size.
    let (status, png_bytes) = thumbnail(&app, &admin, &id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(png_size(&png_bytes), (200, 280));

    // Semicolon-separated values: one table part with its rows and cells.
    let csv = "name;amount\nAlpha;10\nBeta;20\n";
    let id = upload(&app, &admin, "amounts.csv", csv.as_bytes()).await;
    let f = ended(&app, &admin, &id).await;
    assert_eq!(f["extraction_status"], "done", "{f}");
    let ps = parts(&app, &admin, &id).await;
    let table = ps.iter().find(|p| p["type_group"] == "table").unwrap_or_else(|| panic!("{ps:?}"));
    assert_eq!(table["metadata"]["extraction_method"], "table");
    assert_eq!(table["metadata"]["rows"][2], serde_json::json!(["Beta", "20"]), "{table}");
    assert!(table["data"].as_str().unwrap().contains("| Alpha | 10 |"), "{table}");
}

async fn images_keep_their_bytes_and_failures_name_their_reason(app: TestApp) {
    let admin = app.sysadmin().await;

    let image = png();
    let id = upload(&app, &admin, "pixel.png", &image).await;
    let f = ended(&app, &admin, &id).await;
    assert_eq!(f["extraction_status"], "done", "{f}");
    let ps = parts(&app, &admin, &id).await;
    let img = ps.iter().find(|p| p["type_group"] == "image").unwrap_or_else(|| panic!("{ps:?}"));
    assert_eq!(img["mime_type"], "image/png");
    let url = img["metadata"]["data_url"].as_str().unwrap();
    let resp = app.request(Method::GET, url, &admin).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "image/png");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), image.as_slice());
    let (status, thumb) = thumbnail(&app, &admin, &id).await;
    assert_eq!((status, png_size(&thumb)), (StatusCode::OK, (200, 280)));

    // Bytes of no known kind: failed, with the stable code and a reason; still a preview.
    // Control bytes and NULs: neither text nor any known container.
    let junk: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 13) as u8).collect();
    let id = upload(&app, &admin, "blob.bin", &junk).await;
    let f = ended(&app, &admin, &id).await;
    assert_eq!(
        (f["extraction_status"].as_str(), f["extraction_error"].as_str()),
        (Some("failed"), Some("unsupported_type"))
    );
    assert!(f["extraction_message"].as_str().unwrap().contains("cannot be extracted"), "{f}");
    assert!(parts(&app, &admin, &id).await.is_empty());
    let (status, thumb) = thumbnail(&app, &admin, &id).await;
    assert_eq!((status, png_size(&thumb)), (StatusCode::OK, (200, 280)));
}

/// Health reports OCR: off, missing (the server runs on), or working with its version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_whether_ocr_can_run() {
    let Some(app) = TestApp::spawn(Backend::Sqlite, |c| c.extraction.ocr = false).await else { return };
    let (_, health) = app.get("/api/health", &Auth::none()).await;
    assert_eq!(health["checks"]["ocr"]["status"], "not_configured", "{health}");

    let Some(app) = TestApp::spawn(Backend::Sqlite, |c| c.extraction.tesseract = "/nonexistent/tesseract".into()).await
    else {
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, health) = app.get("/api/health", &Auth::none()).await;
        assert_eq!(status, StatusCode::OK);
        let ocr = &health["checks"]["ocr"];
        if ocr["status"] == "unavailable" {
            assert!(ocr["detail"].as_str().is_some_and(|d| !d.is_empty()), "{health}");
            assert_eq!(health["status"], "ok", "missing OCR does not degrade the server: {health}");
            break;
        }
        assert!(Instant::now() < deadline, "{health}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_rerun_replaces_the_parts_and_delete_removes_every_blob(app: TestApp) {
    let admin = app.sysadmin().await;
    let id = upload(&app, &admin, "pixel.png", &png()).await;
    let f = ended(&app, &admin, &id).await;
    assert_eq!(f["extraction_status"], "done", "the first extraction failed: {f}");
    let before = parts(&app, &admin, &id).await;
    assert!(!before.is_empty(), "no parts: {f}");

    let (status, body) = app.post(&format!("/files/{id}/extract"), &admin, serde_json::json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert!(["pending", "running", "done"].contains(&body["extraction_status"].as_str().unwrap()), "{body}");
    let f = ended(&app, &admin, &id).await;
    assert_eq!(f["extraction_status"], "done", "the re-run failed: {f}");
    let after = parts(&app, &admin, &id).await;
    assert_eq!(after.len(), before.len());
    assert_ne!(after[0]["id"], before[0]["id"], "a re-run writes new parts");

    let (status, body) =
        app.post(&format!("/files/{}/extract", uuid::Uuid::now_v7()), &admin, serde_json::json!({})).await;
    assert_error(status, &body, 404, "not_found");

    // Deleting the file removes its content, its preview and its image parts' bytes.
    let (status, _) = app.call(Method::DELETE, &format!("/files/{id}"), &admin, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let blobs: Vec<_> = files_under(&app.config.storage.blob_dir())
        .into_iter()
        .filter(|p| !p.components().any(|c| c.as_os_str() == ".tmp"))
        .collect();
    assert!(blobs.is_empty(), "blobs left behind: {blobs:?}");
    let (status, body) = app.get(&format!("/files/{id}/parts"), &admin).await;
    assert_error(status, &body, 404, "not_found");
}

async fn parts_and_previews_stay_with_their_tenant_and_owner(app: TestApp) {
    let t1 = app.create_tenant("Acme").await;
    let t2 = app.create_tenant("Other").await;
    let alice = app.user_in(&t1, "user").await;
    let bob = app.user_in(&t1, "user").await;
    let viewer = app.user_in(&t1, "viewer").await;
    let stranger = app.user_in(&t2, "admin").await;

    let id = upload(&app, &alice.auth, "mine.txt", b"alice's own words").await;
    ended(&app, &alice.auth, &id).await;
    assert!(!parts(&app, &alice.auth, &id).await.is_empty());
    assert!(!parts(&app, &viewer.auth, &id).await.is_empty(), "the tenant reads its files");
    for path in [format!("/files/{id}/parts"), format!("/files/{id}/thumbnail")] {
        let (status, body) = app.get(&path, &stranger.auth).await;
        assert_error(status, &body, 404, "not_found");
    }
    // Re-running is changing: the owner may, another user (level `my`) finds nothing, a viewer
    // may not, another tenant finds nothing.
    let path = format!("/files/{id}/extract");
    let rerun = |who: Auth| {
        let (app, path) = (&app, path.clone());
        async move { app.post(&path, &who, serde_json::json!({})).await }
    };
    assert_eq!(rerun(alice.auth.clone()).await.0, StatusCode::ACCEPTED);
    let (status, body) = rerun(bob.auth.clone()).await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = rerun(viewer.auth.clone()).await;
    assert_error(status, &body, 403, "forbidden");
    let (status, body) = rerun(stranger.auth.clone()).await;
    assert_error(status, &body, 404, "not_found");
    assert_eq!(ended(&app, &alice.auth, &id).await["extraction_status"], "done");
}

async fn an_email_s_attachments_become_files_of_their_own(app: TestApp) {
    let admin = app.sysadmin().await;
    // A Latin-1 body and a CSV attachment, base64-encoded.
    let eml = b"From: Anna <anna@example.com>\r\nTo: ops@example.com\r\nSubject: Invoice March\r\n\
Date: Mon, 2 Mar 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
--b1\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
Gr\xfc\xdfe, die Rechnung ist beigef\xfcgt.\r\n\
--b1\r\nContent-Type: text/csv; name=\"amounts.csv\"\r\nContent-Disposition: attachment; filename=\"amounts.csv\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nbmFtZSxhbW91bnQKQWxwaGEsMTAKQmV0YSwyMAo=\r\n--b1--\r\n";
    let id = upload(&app, &admin, "invoice.eml", eml).await;
    let f = ended(&app, &admin, &id).await;
    assert_eq!(f["extraction_status"], "done", "{f}");
    let (_, body) = app.get(&format!("/files/{id}/parts"), &admin).await;
    let text: String = body["items"].as_array().unwrap().iter().map(|p| p["data"].as_str().unwrap()).collect();
    assert!(text.contains("Invoice March") && text.contains("Grüße, die Rechnung"), "{body}");
    let attachments = body["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1, "{body}");
    let child = &attachments[0];
    assert_eq!(
        (child["file_name"].as_str(), child["parent_file_id"].as_str()),
        (Some("amounts.csv"), Some(id.as_str()))
    );
    let child = ended(&app, &admin, child["id"].as_str().unwrap()).await;
    assert_eq!(child["extraction_status"], "done", "{child}");
    let rows = parts(&app, &admin, child["id"].as_str().unwrap()).await;
    assert_eq!(rows[0]["metadata"]["rows"][1], serde_json::json!(["Alpha", "10"]), "{rows:?}");
}

async fn parts_come_a_page_at_a_time(app: TestApp) {
    let admin = app.sysadmin().await;
    let mut csv = String::from("id,value\n");
    for i in 1..=2500 {
        csv.push_str(&format!("{i},v{i}\n"));
    }
    let id = upload(&app, &admin, "big.csv", csv.as_bytes()).await;
    assert_eq!(ended(&app, &admin, &id).await["extraction_status"], "done");
    let (status, first) = app.get(&format!("/files/{id}/parts?limit=2"), &admin).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["file"]["id"], id.as_str());
    let rows = |page: &Value| -> Vec<(u64, u64)> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["metadata"]["row_start"].as_u64().unwrap(), p["metadata"]["row_end"].as_u64().unwrap()))
            .collect()
    };
    assert_eq!(rows(&first), [(1, 1000), (1001, 2000)]);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let (_, second) = app.get(&format!("/files/{id}/parts?limit=2&cursor={cursor}"), &admin).await;
    assert_eq!(rows(&second), [(2001, 2501)]);
    assert!(second.get("next_cursor").is_none(), "{second}");
    assert_eq!(parts(&app, &admin, &id).await.len(), 3);
    // A cursor of another listing, or none at all, is refused.
    let (status, body) = app.get(&format!("/files/{id}/parts?cursor=garbage"), &admin).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("validation_failed")),
        "{body}"
    );
    let other = docwright_server_cursor(&uuid::Uuid::now_v7().to_string());
    let (status, body) = app.get(&format!("/files/{id}/parts?cursor={other}"), &admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = app.get(&format!("/files/{id}/parts?limit=0"), &admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// A cursor as the server writes them (base64url of an id).
fn docwright_server_cursor(id: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id)
}
