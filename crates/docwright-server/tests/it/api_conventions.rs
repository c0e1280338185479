//! SPEC P6: error shape on every path, request ids, body limits, pagination, OpenAPI, docs.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Auth, TestApp, assert_error};

both_databases!(
    every_error_path_has_the_json_shape,
    request_ids_are_set_and_propagated,
    pagination_walks_with_cursors,
    openapi_documents_every_route,
    docs_work_offline,
);

async fn every_error_path_has_the_json_shape(app: TestApp) {
    let sys = app.sysadmin().await;
    let (status, body) = app.get("/no/such/route", &Auth::none()).await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = app.call(Method::DELETE, "/me", &sys, None).await;
    assert_error(status, &body, 405, "method_not_allowed");
    let resp = app
        .client
        .post(app.url("/auth/exchange"))
        .header("content-type", "application/json")
        .body("{\"static_token\": ")
        .send()
        .await
        .unwrap();
    let (status, body) = (resp.status(), resp.json::<Value>().await.unwrap());
    assert_error(status, &body, 400, "malformed_json");
    let resp = app.client.post(app.url("/auth/exchange")).body("{}").send().await.unwrap();
    let (status, body) = (resp.status(), resp.json::<Value>().await.unwrap());
    assert_error(status, &body, 415, "unsupported_media_type");
    let (status, body) = app.post("/auth/exchange", &Auth::none(), json!({"static_token": "x", "extra": 1})).await;
    assert_error(status, &body, 400, "validation_failed");
    assert_eq!(body["error"]["field"], "extra", "unknown fields are rejected and named");
    let (status, body) = app.get("/api/admin/users/not-a-uuid", &sys).await;
    assert_error(status, &body, 400, "invalid_path_parameter");
    let (status, body) = app.get("/api/admin/users?limit=abc", &sys).await;
    assert_error(status, &body, 400, "validation_failed");
    // A body is a JSON object: an array of the fields' values is not read as one.
    let (status, body) = app.call(Method::PATCH, "/me/settings", &sys, Some(json!(["de"]))).await;
    assert_error(status, &body, 400, "validation_failed");
    let (status, body) = app.post("/api/admin/tenants", &sys, json!(["Array Ltd"])).await;
    assert_error(status, &body, 400, "validation_failed");
    let (status, body) = app.post("/api/admin/tenants", &sys, json!({"name": "Object Ltd"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The chat socket answers plain HTTP with 426 and the protocol to upgrade to; a malformed
    // `last_event_id` is refused before any handshake.
    let stream = format!("/chats/{}/stream", uuid::Uuid::now_v7());
    let resp = app.request(Method::GET, &stream, &sys).send().await.unwrap();
    assert_eq!(resp.headers()["upgrade"], "websocket");
    let (status, body) = (resp.status(), resp.json::<Value>().await.unwrap());
    assert_error(status, &body, 426, "upgrade_required");
    let (status, body) = app.get(&format!("{stream}?last_event_id=nonsense"), &sys).await;
    assert_error(status, &body, 400, "validation_failed");
    assert_eq!(body["error"]["field"], "last_event_id");
}

async fn request_ids_are_set_and_propagated(app: TestApp) {
    let resp = app.client.get(app.url("/api/health")).send().await.unwrap();
    let generated = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&generated).is_ok());
    let resp = app.client.get(app.url("/nope")).header("x-request-id", "client-abc-123").send().await.unwrap();
    assert_eq!(resp.headers()["x-request-id"], "client-abc-123");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["request_id"], "client-abc-123");
    // An unusable incoming id is replaced.
    let resp =
        app.client.get(app.url("/api/health")).header("x-request-id", "bad id with spaces").send().await.unwrap();
    assert_ne!(resp.headers()["x-request-id"], "bad id with spaces");
}

/// A small configured limit keeps the test deterministic: the whole oversized body is on the
/// wire before the server answers, so the client always reads the 413 (with a large body the
/// server may answer and close while the client is still sending, and the client sees a reset).
#[tokio::test]
async fn oversized_bodies_get_413() {
    let Some(app) = TestApp::spawn(docwright_storage::Backend::Sqlite, |c| c.server.body_limit_bytes = 4096).await
    else {
        return;
    };
    let big = format!("{{\"static_token\": \"{}\"}}", "a".repeat(4096));
    let resp = app
        .client
        .post(app.url("/auth/exchange"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    let (status, body) = (resp.status(), resp.json::<Value>().await.unwrap());
    assert_error(status, &body, 413, "payload_too_large");
    // Also when the length is not announced up front (chunked).
    let stream = futures_stream(big.into_bytes());
    let resp = app
        .client
        .post(app.url("/auth/exchange"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    let (status, body) = (resp.status(), resp.json::<Value>().await.unwrap());
    assert_error(status, &body, 413, "payload_too_large");
    // Just under the limit is accepted (and fails only on the token).
    let fits = format!("{{\"static_token\": \"{}\"}}", "a".repeat(3000));
    let resp = app
        .client
        .post(app.url("/auth/exchange"))
        .header("content-type", "application/json")
        .body(fits)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

fn futures_stream(data: Vec<u8>) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = data.chunks(1024).map(|c| Ok(c.to_vec())).collect();
    futures_util::stream::iter(chunks)
}

async fn pagination_walks_with_cursors(app: TestApp) {
    let t = app.create_tenant("Paged").await;
    let sys = app.sysadmin().await.in_tenant(&t);
    for i in 0..5 {
        let (status, _) =
            app.post("/api/admin/users", &sys, json!({"display_name": format!("u{i}"), "role": "user"})).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/admin/users?limit=2&cursor={c}"),
            None => "/api/admin/users?limit=2".to_owned(),
        };
        let (status, page) = app.get(&path, &sys).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        seen.extend(page["items"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_owned()));
        match page.get("next_cursor").and_then(Value::as_str) {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 5);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 5, "no item twice");
    let (status, body) = app.get("/api/admin/users?cursor=bogus", &sys).await;
    assert_error(status, &body, 400, "validation_failed");
    assert_eq!(body["error"]["field"], "cursor");
    let (status, body) = app.get("/api/admin/users?limit=0", &sys).await;
    assert_error(status, &body, 400, "validation_failed");
    let (status, body) = app.get("/api/admin/users?limit=500", &sys).await;
    assert_error(status, &body, 400, "validation_failed");
}

async fn openapi_documents_every_route(app: TestApp) {
    let (status, doc) = app.get("/openapi.json", &Auth::none()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let declared: BTreeSet<_> =
        docwright_server::routes::route_table().into_iter().map(|r| (r.method.as_str().to_owned(), r.path)).collect();
    assert_eq!(documented, declared, "every declared route is documented, and nothing else");
    // Protected operations carry the bearer requirement and name their permission.
    let me = &doc["paths"]["/me"]["get"];
    assert_eq!(me["security"][0]["bearer"], json!([]));
    assert!(me["description"].as_str().unwrap().contains("data.system.UserSettings"));
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert_eq!(docwright_server::openapi_document()["paths"], doc["paths"]);
}

async fn docs_work_offline(app: TestApp) {
    let resp = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    // Every script and stylesheet the page loads is served by us, not a CDN.
    for attr in ["src=\"", "href=\""] {
        for part in html.split(attr).skip(1) {
            let url = part.split('"').next().unwrap();
            assert!(!url.starts_with("http"), "external asset {url}");
            let path =
                if url.starts_with('/') { url.to_owned() } else { format!("/docs/{}", url.trim_start_matches("./")) };
            let r = app.client.get(app.url(&path)).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "asset {path}");
        }
    }
    let init = app.client.get(app.url("/docs/swagger-initializer.js")).send().await.unwrap().text().await.unwrap();
    assert!(init.contains("/openapi.json"), "{init}");
}

/// Security headers on every response; stored content served as inert data; CORS for the
/// configured origins only, preflights answered before authentication; an issued key's JSON
/// names its id once.
#[tokio::test]
async fn security_headers_cors_and_inert_downloads() {
    let Some(app) = TestApp::spawn(docwright_storage::Backend::Sqlite, |c| {
        c.server.cors_origins = vec!["https://app.example.com".to_owned()];
    })
    .await
    else {
        return;
    };
    let resp = app.client.get(app.url("/api/health")).send().await.unwrap();
    let h = resp.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert!(h["content-security-policy"].to_str().unwrap().contains("default-src 'none'"), "{h:?}");

    // The API docs are a page of docwright's own: its scripts only, never framed, none inline.
    let resp = app.client.get(app.url("/docs/")).send().await.unwrap();
    let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    let page = resp.text().await.unwrap();
    for tag in page.split("<script").skip(1) {
        assert!(tag.split('>').next().unwrap().contains("src="), "an inline script the policy would block: {tag}");
    }

    // An uploaded HTML page comes back as an attachment that runs nothing.
    let admin = app.sysadmin().await;
    let (status, file) = app.upload(&admin, "page.html", b"<html><script>alert(1)</script></html>").await;
    assert_eq!(status, StatusCode::CREATED, "{file}");
    let resp = app
        .request(Method::GET, &format!("/files/{}/content", file["id"].as_str().unwrap()), &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers();
    assert!(h["content-disposition"].to_str().unwrap().starts_with("attachment"), "{h:?}");
    assert!(h["content-security-policy"].to_str().unwrap().contains("sandbox"), "{h:?}");
    assert_eq!(h["x-content-type-options"], "nosniff");

    // A preflight of the allowed origin is answered without credentials; others get no grant.
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, app.url("/me"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization,x-tenant-id")
            .send()
    };
    let resp = preflight("https://app.example.com").await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(resp.headers()["access-control-allow-origin"], "https://app.example.com");
    let allowed = resp.headers()["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(allowed.contains("authorization") && allowed.contains("x-tenant-id"), "{allowed}");
    let resp = preflight("https://evil.example").await.unwrap();
    assert!(!resp.headers().contains_key("access-control-allow-origin"), "{:?}", resp.headers());
    let resp =
        app.request(Method::GET, "/me", &admin).header("origin", "https://app.example.com").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["access-control-allow-origin"], "https://app.example.com");

    // The key's id appears once in the JSON of an issued key.
    let resp = app.request(Method::POST, "/api/keys", &admin).json(&json!({"name": "ci"})).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let text = resp.text().await.unwrap();
    assert_eq!(text.matches("\"id\":").count(), 1, "{text}");
}
