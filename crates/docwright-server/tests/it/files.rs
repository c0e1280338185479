//! Uploaded files (SPEC D1): type from the bytes, hashes, dedupe by content within a tenant,
//! download with byte ranges, the upload limit, delete, and tenant and owner scoping.

use std::path::{Path, PathBuf};

use docwright_storage::Backend;
use md5::Md5;
use reqwest::{Method, StatusCode, header};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::helpers::{Auth, TestApp, assert_error};

// These tests count the blobs and temporary files of uploads; extraction (its work directory
// under `.tmp`, its thumbnail blobs) runs in the background and has its own tests.
both_databases!(
    config = without_extraction;
    types_come_from_the_bytes_and_hashes_are_right,
    equal_content_is_stored_once_and_removed_with_its_last_record,
    content_is_served_whole_and_by_range,
    files_stay_in_their_tenant_and_with_their_owner,
);

/// A valid 1×1 PNG, built here: signature, IHDR, IDAT (zlib of one filter byte and one grey
/// pixel, stored uncompressed), IEND, each chunk with its CRC.
pub(crate) fn png() -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]);
    // zlib header, one stored block of 2 bytes (filter 0, pixel 0x80), Adler-32 of them.
    let raw = [0u8, 0x80];
    let (a, b) =
        raw.iter().fold((1u32, 0u32), |(a, b), &x| ((a + u32::from(x)) % 65521, (b + a + u32::from(x)) % 65521));
    let mut idat = vec![0x78, 0x01, 0x01, 0x02, 0x00, 0xfd, 0xff];
    idat.extend_from_slice(&raw);
    idat.extend_from_slice(&((b << 16) | a).to_be_bytes());
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

fn md5_hex(b: &[u8]) -> String {
    Md5::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

/// Every file below `dir`, recursively.
fn without_extraction(c: &mut docwright_config::Config) {
    c.extraction.enabled = false;
}

pub(crate) fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

async fn download(app: &TestApp, auth: &Auth, id: &str, range: Option<&str>) -> reqwest::Response {
    let mut req = app.request(Method::GET, &format!("/files/{id}/content"), auth);
    if let Some(r) = range {
        req = req.header(header::RANGE, r);
    }
    req.send().await.unwrap()
}

async fn types_come_from_the_bytes_and_hashes_are_right(app: TestApp) {
    let tenant = app.create_tenant("Files").await;
    let admin = app.user_in(&tenant, "admin").await.auth;
    let png = png();
    let text = "Plain words, no magic.\nSecond line.\n".as_bytes();
    for (name, bytes, mime) in [
        ("notes.txt", png.as_slice(), "image/png"),
        ("picture.png", text, "text/plain"),
        ("data.bin", b"a,b\n1,2\n3,4\n".as_slice(), "text/csv"),
    ] {
        let (status, body) = app.upload(&admin, name, bytes).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["file_name"], name);
        assert_eq!(body["mime_type"], mime, "{name}");
        assert_eq!(body["file_size"], bytes.len());
        assert_eq!(body["sha256"], sha256_hex(bytes));
        assert_eq!(body["md5"], md5_hex(bytes));
        assert_eq!(body["extraction_status"], "pending");
        assert!(body["created_at"].as_str().is_some() && body["thumbnail_url"].is_null(), "{body}");
        let id = body["id"].as_str().unwrap();
        let (status, mut got) = app.get(&format!("/files/{id}"), &admin).await;
        assert_eq!(status, StatusCode::OK);
        // Extraction may have started meanwhile; the rest of the record is as uploaded.
        for key in [
            "extraction_status",
            "extraction_error",
            "extraction_message",
            "extraction_warnings",
            "units",
            "thumbnail_url",
        ] {
            got[key] = body[key].clone();
        }
        assert_eq!(got, body);
    }
    // The name is reduced to its last segment; an upload without a `file` field is refused.
    let (status, body) = app.upload(&admin, "../../etc/passwd", b"x").await;
    assert_eq!((status, body["file_name"].as_str()), (StatusCode::CREATED, Some("passwd")));
    let form = reqwest::multipart::Form::new().text("other", "value");
    let resp = app.request(Method::POST, "/files/upload", &admin).multipart(form).send().await.unwrap();
    let status = resp.status();
    assert_error(status, &resp.json::<Value>().await.unwrap(), 400, "validation_failed");
}

async fn equal_content_is_stored_once_and_removed_with_its_last_record(app: TestApp) {
    let tenant = app.create_tenant("Dedupe").await;
    let admin = app.user_in(&tenant, "admin").await.auth;
    let blobs = app.config.storage.blob_dir().join(&tenant);
    let bytes = b"the same content, twice";
    let (_, first) = app.upload(&admin, "a.txt", bytes).await;
    let (_, second) = app.upload(&admin, "b.txt", bytes).await;
    let (first, second) = (first["id"].as_str().unwrap(), second["id"].as_str().unwrap());
    assert_ne!(first, second);
    let sha = sha256_hex(bytes);
    assert_eq!(files_under(&blobs), [blobs.join(&sha[..2]).join(&sha)]);
    assert!(files_under(&app.config.storage.blob_dir().join(".tmp")).is_empty());

    let (status, _) = app.call(Method::DELETE, &format!("/files/{first}"), &admin, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(files_under(&blobs).len(), 1, "the second record still needs the blob");
    let resp = download(&app, &admin, second, None).await;
    assert_eq!(resp.bytes().await.unwrap().as_ref(), bytes);
    assert_eq!(app.get(&format!("/files/{first}"), &admin).await.0, StatusCode::NOT_FOUND);

    let (status, _) = app.call(Method::DELETE, &format!("/files/{second}"), &admin, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(files_under(&blobs).is_empty(), "the last record took its blob along");
    let (status, body) = app.call(Method::DELETE, &format!("/files/{second}"), &admin, None).await;
    assert_error(status, &body, 404, "not_found");
}

async fn content_is_served_whole_and_by_range(app: TestApp) {
    let tenant = app.create_tenant("Ranges").await;
    let admin = app.user_in(&tenant, "admin").await.auth;
    let png = png();
    let (_, body) = app.upload(&admin, "Grüße 1.png", &png).await;
    let id = body["id"].as_str().unwrap();

    let resp = download(&app, &admin, id, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers().clone();
    assert_eq!(h[header::CONTENT_TYPE], "image/png");
    assert_eq!(h[header::CONTENT_LENGTH], png.len().to_string().as_str());
    assert_eq!(h[header::ACCEPT_RANGES], "bytes");
    assert_eq!(h[header::CONTENT_DISPOSITION], "attachment; filename*=UTF-8''Gr%C3%BC%C3%9Fe%201.png");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), png.as_slice());

    let n = png.len();
    for (range, want, content_range) in [
        ("bytes=2-5", 2..6, format!("bytes 2-5/{n}")),
        ("bytes=10-", 10..n, format!("bytes 10-{}/{n}", n - 1)),
        ("bytes=-4", n - 4..n, format!("bytes {}-{}/{n}", n - 4, n - 1)),
    ] {
        let resp = download(&app, &admin, id, Some(range)).await;
        assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(resp.headers()[header::CONTENT_RANGE], content_range.as_str());
        assert_eq!(resp.headers()[header::CONTENT_LENGTH], want.len().to_string().as_str());
        assert_eq!(resp.bytes().await.unwrap().as_ref(), &png[want], "{range}");
    }
    let resp = download(&app, &admin, id, Some(&format!("bytes={n}-"))).await;
    assert_eq!(resp.headers()[header::CONTENT_RANGE], format!("bytes */{n}").as_str());
    let status = resp.status();
    assert_error(status, &resp.json::<Value>().await.unwrap(), 416, "range_not_satisfiable");
}

async fn files_stay_in_their_tenant_and_with_their_owner(app: TestApp) {
    let a = app.create_tenant("A").await;
    let b = app.create_tenant("B").await;
    let admin_a = app.user_in(&a, "admin").await.auth;
    let admin_b = app.user_in(&b, "admin").await.auth;
    let user = app.user_in(&a, "user").await.auth;
    let other_user = app.user_in(&a, "user").await.auth;
    let viewer = app.user_in(&a, "viewer").await.auth;

    let (_, f) = app.upload(&admin_a, "a.txt", b"tenant a").await;
    let id = f["id"].as_str().unwrap();
    for (path, method) in [
        (format!("/files/{id}"), Method::GET),
        (format!("/files/{id}/content"), Method::GET),
        (format!("/files/{id}"), Method::DELETE),
    ] {
        let (status, body) = app.call(method, &path, &admin_b, None).await;
        assert_error(status, &body, 404, "not_found");
    }
    // Viewers read the tenant's files but do not upload.
    assert_eq!(app.get(&format!("/files/{id}"), &viewer).await.0, StatusCode::OK);
    let (status, body) = app.upload(&viewer, "v.txt", b"viewer").await;
    assert_error(status, &body, 403, "forbidden");
    assert!(files_under(&app.config.storage.blob_dir().join(".tmp")).is_empty());

    // Users read the tenant's files (bootstrap rules: read at level `tenant`) but delete only
    // their own (level `my`); the tenant's admin deletes any.
    let (status, mine) = app.upload(&user, "mine.txt", b"my own").await;
    assert_eq!(status, StatusCode::CREATED, "{mine}");
    let mine = mine["id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/files/{mine}"), &user).await.0, StatusCode::OK);
    assert_eq!(download(&app, &user, mine, None).await.bytes().await.unwrap().as_ref(), b"my own");
    assert_eq!(app.get(&format!("/files/{id}"), &user).await.0, StatusCode::OK);
    assert_eq!(app.call(Method::DELETE, &format!("/files/{id}"), &user, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.call(Method::DELETE, &format!("/files/{mine}"), &other_user, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.call(Method::DELETE, &format!("/files/{mine}"), &user, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.call(Method::DELETE, &format!("/files/{id}"), &admin_a, None).await.0, StatusCode::NO_CONTENT);

    // With read narrowed to `my`, a user sees only their own files.
    let rule = serde_json::json!({"role": "user", "item": "data.document.File", "view": true, "read": "my", "create": "my", "update": "my", "delete": "my"});
    let (status, body) = app.call(Method::PUT, "/api/admin/rbac/rules", &admin_a, Some(rule)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, theirs) = app.upload(&other_user, "theirs.txt", b"theirs").await;
    let theirs = theirs["id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/files/{theirs}"), &other_user).await.0, StatusCode::OK);
    assert_eq!(app.get(&format!("/files/{theirs}"), &user).await.0, StatusCode::NOT_FOUND);
    assert_eq!(download(&app, &user, theirs, None).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/files/{theirs}"), &admin_a).await.0, StatusCode::OK);
}

async fn over_the_limit(backend: Backend) {
    let Some(app) = TestApp::spawn(backend, |c| {
        without_extraction(c);
        c.storage.max_upload_bytes = 1000;
    })
    .await
    else {
        return;
    };
    let tenant = app.create_tenant("Limit").await;
    let admin = app.user_in(&tenant, "admin").await.auth;
    // Exactly the limit is fine, and far above the 2 MiB JSON body limit would be too.
    let (status, body) = app.upload(&admin, "fits.bin", &[7u8; 1000]).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let big = vec![9u8; 5000];
    let (status, body) = app.upload(&admin, "big.bin", &big).await;
    assert_error(status, &body, 413, "payload_too_large");
    assert!(body["error"]["message"].as_str().unwrap().contains("1000 bytes"), "{body}");
    let t = docwright_core::id::TenantId::parse(&tenant).unwrap();
    assert!(!app.state.db.file_content_referenced(t, &sha256_hex(&big)).await.unwrap(), "no record left");
    assert!(files_under(&app.config.storage.blob_dir().join(".tmp")).is_empty(), "no temporary file left");
    assert_eq!(files_under(&app.config.storage.blob_dir().join(&tenant)).len(), 1, "only the file that fit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_limit_sqlite() {
    over_the_limit(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_limit_postgres() {
    over_the_limit(Backend::Postgres).await;
}

/// An upload far over the limit answers 413 `payload_too_large` however it is sent (announced
/// by its length or chunked without one), although the server answers (and may close) long
/// before the client has sent it all; nothing of it is left.
async fn far_over_the_limit(backend: Backend) {
    let Some(app) = TestApp::spawn(backend, |c| {
        without_extraction(c);
        c.storage.max_upload_bytes = 64 * 1024;
    })
    .await
    else {
        return;
    };
    let tenant = app.create_tenant("Far over").await;
    let admin = app.user_in(&tenant, "admin").await.auth;
    let content = filler(20 * 1024 * 1024);
    for chunked in [false, true] {
        let (status, body) = raw_upload(&app, &admin, "huge.bin", &content, chunked).await;
        assert_error(status, &body, 413, "payload_too_large");
        assert!(body["error"]["message"].as_str().unwrap().contains("65536 bytes"), "{body}");
    }
    let t = docwright_core::id::TenantId::parse(&tenant).unwrap();
    assert!(!app.state.db.file_content_referenced(t, &sha256_hex(&content)).await.unwrap(), "no record left");
    assert!(files_under(&app.config.storage.blob_dir()).is_empty(), "no blob and no temporary file left");
    // The same way of sending works for a file that fits, which is all that is stored.
    let fits = filler(64 * 1024);
    for chunked in [false, true] {
        let (status, body) = raw_upload(&app, &admin, "fits.bin", &fits, chunked).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["sha256"], sha256_hex(&fits));
    }
    assert!(files_under(&app.config.storage.blob_dir().join(".tmp")).is_empty(), "no temporary file left");
    assert_eq!(files_under(&app.config.storage.blob_dir().join(&tenant)).len(), 1, "only the file that fits");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn far_over_the_limit_sqlite() {
    far_over_the_limit(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn far_over_the_limit_postgres() {
    far_over_the_limit(Backend::Postgres).await;
}

/// `len` bytes that are not all alike.
fn filler(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Uploads `content` as the multipart field `file` over a connection of its own, reading the
/// answer while it writes: a server that answers before the body is in (and then closes) is
/// heard, where a client that first sends everything would see a reset. With `chunked` the
/// body goes without a length, in chunked transfer coding. Status and JSON body.
async fn raw_upload(app: &TestApp, auth: &Auth, name: &str, content: &[u8], chunked: bool) -> (StatusCode, Value) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    const BOUNDARY: &str = "docwright-test-boundary-7d1f";
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    let host = app.base.trim_start_matches("http://");
    let mut head = format!(
        "POST /files/upload HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
    );
    if let Some(t) = &auth.bearer {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if let Some(t) = &auth.tenant {
        head.push_str(&format!("X-Tenant-Id: {t}\r\n"));
    }
    head.push_str(&if chunked {
        "Transfer-Encoding: chunked\r\n\r\n".to_owned()
    } else {
        format!("Content-Length: {}\r\n\r\n", body.len())
    });

    let stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let (mut rx, mut tx) = stream.into_split();
    // The writing half stays open until the answer is in: a server sees a client's early
    // half-close as the end of the connection.
    let write = async {
        // The server may stop reading and close at any point: a failed write ends the sending.
        if tx.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        for piece in body.chunks(64 * 1024) {
            let sent = if chunked {
                let mut framed = format!("{:x}\r\n", piece.len()).into_bytes();
                framed.extend_from_slice(piece);
                framed.extend_from_slice(b"\r\n");
                tx.write_all(&framed).await
            } else {
                tx.write_all(piece).await
            };
            if sent.is_err() {
                return;
            }
        }
        if chunked {
            let _ = tx.write_all(b"0\r\n\r\n").await;
        }
        let _ = tx.flush().await;
    };
    let read = async move {
        let mut answer = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            if let Some(done) = whole_response(&answer) {
                return Ok(done);
            }
            match rx.read(&mut buf).await {
                Ok(0) => {
                    return Err(format!(
                        "the connection closed before a whole answer: {:?}",
                        String::from_utf8_lossy(&answer)
                    ));
                }
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(e) => return Err(format!("{e} before a whole answer: {:?}", String::from_utf8_lossy(&answer))),
            }
        }
    };
    tokio::pin!(write, read);
    let mut sent = false;
    let answer = loop {
        tokio::select! {
            answer = &mut read => break answer,
            () = &mut write, if !sent => sent = true,
        }
    };
    let (status, body) =
        answer.unwrap_or_else(|e| panic!("upload of {} bytes (chunked: {chunked}): {e}", content.len()));
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// The status and body of a complete HTTP/1.1 response with a `Content-Length`, once `bytes`
/// hold all of it.
fn whole_response(bytes: &[u8]) -> Option<(StatusCode, Vec<u8>)> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&bytes[..end]).ok()?;
    let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")))
        .and_then(|(_, v)| v.trim().parse().ok())?;
    let body = bytes.get(end..end + length)?;
    Some((StatusCode::from_u16(status).ok()?, body.to_vec()))
}

/// The upload form has one field, `file`: a form with another (before the file or after it)
/// is refused naming that field, and nothing of the file is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_with_more_than_the_file_are_refused() {
    let Some(app) = TestApp::spawn(Backend::Sqlite, without_extraction).await else { return };
    let admin = app.sysadmin().await;
    let content = b"a file sent with company".to_vec();
    let file = || reqwest::multipart::Part::bytes(content.clone()).file_name("company.txt");
    let before = reqwest::multipart::Form::new().text("purpose", "assistants").part("file", file());
    let after = reqwest::multipart::Form::new().part("file", file()).text("purpose", "assistants");
    let twice = reqwest::multipart::Form::new().part("file", file()).part("file", file());
    for (form, field) in [(before, "purpose"), (after, "purpose"), (twice, "file")] {
        let resp = app.request(Method::POST, "/files/upload", &admin).multipart(form).send().await.unwrap();
        let (status, body) = (resp.status(), resp.json::<Value>().await.unwrap());
        assert_error(status, &body, 400, "validation_failed");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    let me = app.get("/me", &admin).await.1;
    let tenant = docwright_core::id::TenantId::parse(me["current_tenant_id"].as_str().unwrap()).unwrap();
    assert!(!app.state.db.file_content_referenced(tenant, &sha256_hex(&content)).await.unwrap(), "no record left");
    assert!(files_under(&app.config.storage.blob_dir()).is_empty(), "no blob and no temporary file left");
    // The file alone is taken.
    let (status, body) = app.upload(&admin, "company.txt", &content).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Uploads are not held to the JSON body limit (2 MiB by default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_may_exceed_the_json_body_limit() {
    let Some(app) = TestApp::spawn(Backend::Sqlite, |c| c.server.body_limit_bytes = 4096).await else { return };
    let admin = app.sysadmin().await;
    let bytes: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let (status, body) = app.upload(&admin, "large.bin", &bytes).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["sha256"], sha256_hex(&bytes));
    let resp = download(&app, &admin, body["id"].as_str().unwrap(), None).await;
    assert_eq!(resp.bytes().await.unwrap().as_ref(), bytes.as_slice());
}
