//! The projects tree and search over HTTP (SPEC D4): a tree built over uploaded files, search
//! over their extracted text (parts written through the storage API as an extractor would),
//! errors per P6, RBAC on search and the results of a document.

use docwright_core::id::{DocumentId, FileId, TenantId};
use docwright_core::time::Timestamp;
use docwright_engine::projects::NewResult;
use docwright_storage::files::{ExtractionEnd, PartRecord};
use docwright_storage::projects::ResultFormat;
use docwright_storage::testing::text_part;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Auth, TestApp, assert_error};

/// These tests write parts themselves (a fake extraction with exact text), so the server's own
/// extraction workers stay off.
fn no_extraction(c: &mut docwright_config::Config) {
    c.extraction.enabled = false;
}

both_databases!(
    config = no_extraction;
    a_tree_over_uploaded_files_is_built_moved_and_shown,
    search_finds_extracted_text_ranked_with_snippets,
    search_shows_own_files_only_to_users_reading_their_own,
    results_show_the_extraction_and_stored_results,
);

/// `s` as a query-string value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Uploads a file and runs a fake extraction of it: one text part per page, or a failure.
async fn extracted(app: &TestApp, auth: &Auth, name: &str, pages: Result<&[&str], &str>) -> String {
    let (status, body) = app.upload(auth, name, name.as_bytes()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = FileId::parse(body["id"].as_str().unwrap()).unwrap();
    let db = &app.state.db;
    let claimed = db.claim_extraction("test-extractor", Timestamp::now()).await.unwrap().expect("pending");
    assert_eq!(claimed.id, id, "files are extracted as they come");
    let end = match pages {
        Ok(pages) => ExtractionEnd::Done {
            parts: pages
                .iter()
                .enumerate()
                .map(|(i, text)| PartRecord {
                    type_group: if i == 0 { "text" } else { "table" }.into(),
                    ..text_part(id, u32::try_from(i).unwrap(), text)
                })
                .collect(),
            warnings: vec!["page 9 was damaged".into()],
            units: Some(u32::try_from(pages.len()).unwrap()),
        },
        Err(code) => ExtractionEnd::Failed { code: code.into(), message: "the file is encrypted".into() },
    };
    assert!(db.finish_extraction(claimed.tenant_id, id, "test-extractor", &end, None, Timestamp::now()).await.unwrap());
    id.to_string()
}

async fn created(app: &TestApp, path: &str, auth: &Auth, body: Value) -> String {
    let (status, out) = app.post(path, auth, body).await;
    assert_eq!(status, StatusCode::CREATED, "POST {path}: {out}");
    out["id"].as_str().unwrap().to_owned()
}

async fn a_tree_over_uploaded_files_is_built_moved_and_shown(app: TestApp) {
    let tenant = app.create_tenant("Tree").await;
    let other = app.create_tenant("Elsewhere").await;
    let admin = app.user_in(&tenant, "admin").await.auth;
    let user = app.user_in(&tenant, "user").await.auth;
    let viewer = app.user_in(&tenant, "viewer").await.auth;
    let outsider = app.user_in(&other, "admin").await.auth;
    let invoice = extracted(&app, &admin, "invoice.pdf", Ok(&["Rechnung"])).await;
    let contract = extracted(&app, &admin, "contract.pdf", Ok(&["Vertrag"])).await;

    let acme = created(&app, "/projects/clients", &user, json!({"name": "Acme"})).await;
    let (status, body) = app.post("/projects/clients", &user, json!({"name": "  "})).await;
    assert_error(status, &body, 400, "validation_failed");
    assert_eq!(body["error"]["field"], "name");
    let (status, body) = app.post("/projects/clients", &admin, json!({"name": "Acme"})).await;
    assert_error(status, &body, 409, "conflict");
    let (status, body) = app.post("/projects/clients", &viewer, json!({"name": "V"})).await;
    assert_error(status, &body, 403, "forbidden");
    let audit =
        created(&app, "/projects", &user, json!({"client_id": acme, "name": "Audit 2026", "description": "Q1"})).await;
    let (status, body) = app.post("/projects", &outsider, json!({"client_id": acme, "name": "X"})).await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = app.post("/projects", &user, json!({"client_id": acme, "name": "Y", "owner": "me"})).await;
    assert_error(status, &body, 400, "validation_failed");

    let incoming = created(&app, &format!("/projects/{audit}/folders"), &user, json!({"name": "Incoming"})).await;
    let paid =
        created(&app, &format!("/projects/{audit}/folders"), &user, json!({"name": "Paid", "parent_id": incoming}))
            .await;
    let doc =
        created(&app, &format!("/projects/{audit}/documents"), &user, json!({"file_id": invoice, "folder_id": paid}))
            .await;
    let top_doc = created(
        &app,
        &format!("/projects/{audit}/documents"),
        &user,
        json!({"file_id": contract, "title": "The contract"}),
    )
    .await;
    let (status, body) =
        app.post(&format!("/projects/{audit}/documents"), &user, json!({"file_id": FileId::new().to_string()})).await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = app.post(&format!("/projects/{audit}/documents"), &user, json!({"file_id": invoice})).await;
    assert_error(status, &body, 409, "conflict");
    // Another tenant's ids are not found, whatever the route.
    for (method, path) in [
        (Method::GET, format!("/projects/{audit}")),
        (Method::GET, format!("/projects/clients/{acme}")),
        (Method::DELETE, format!("/projects/folders/{paid}")),
        (Method::GET, format!("/projects/documents/{doc}/results")),
        (Method::GET, format!("/projects/tree?client_id={acme}")),
    ] {
        let (status, body) = app.call(method.clone(), &path, &outsider, None).await;
        assert_error(status, &body, 404, "not_found");
    }

    // A cycle is refused; a move up is fine.
    let (status, body) = app
        .call(Method::PATCH, &format!("/projects/folders/{incoming}"), &user, Some(json!({"parent_id": paid})))
        .await;
    assert_error(status, &body, 422, "invalid_move");
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/projects/folders/{paid}"),
            &user,
            Some(json!({"parent_id": null, "name": "Paid 2026"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["parent_id"].is_null() && body["name"] == "Paid 2026", "{body}");
    let (status, body) = app
        .call(Method::PATCH, &format!("/projects/documents/{top_doc}"), &user, Some(json!({"folder_id": incoming})))
        .await;
    assert_eq!((status, body["folder_id"].as_str()), (StatusCode::OK, Some(incoming.as_str())), "{body}");

    let (status, tree) = app.get(&format!("/projects/tree?client_id={acme}"), &viewer).await;
    assert_eq!(status, StatusCode::OK, "{tree}");
    let project = &tree["clients"][0]["projects"][0];
    assert_eq!((tree["clients"][0]["name"].as_str(), project["name"].as_str()), (Some("Acme"), Some("Audit 2026")));
    let folders = project["folders"].as_array().unwrap();
    assert_eq!(folders.iter().map(|f| f["name"].as_str().unwrap()).collect::<Vec<_>>(), ["Incoming", "Paid 2026"]);
    let in_incoming = &folders[0]["documents"][0];
    assert_eq!(
        (in_incoming["title"].as_str(), in_incoming["file_name"].as_str(), in_incoming["extraction_status"].as_str()),
        (Some("The contract"), Some("contract.pdf"), Some("done"))
    );
    let in_paid = &folders[1]["documents"][0];
    assert_eq!((in_paid["id"].as_str(), in_paid["title"].as_str()), (Some(doc.as_str()), Some("invoice.pdf")));
    assert_eq!(in_paid["mime_type"], "text/plain");
    let (status, all) = app.get("/projects/tree", &user).await;
    assert_eq!((status, all["clients"].as_array().unwrap().len()), (StatusCode::OK, 1));
    let (_, list) = app.get("/projects/clients", &viewer).await;
    assert_eq!(list["items"][0]["id"], acme.as_str());

    // Users may not delete from the tree; admins may, and the files stay.
    let (status, body) = app.call(Method::DELETE, &format!("/projects/clients/{acme}"), &user, None).await;
    assert_error(status, &body, 403, "forbidden");
    let (status, _) = app.call(Method::DELETE, &format!("/projects/clients/{acme}"), &admin, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&format!("/projects/{audit}"), &admin).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/projects/documents/{doc}/results"), &admin).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/files/{invoice}"), &admin).await.0, StatusCode::OK);
}

async fn search_finds_extracted_text_ranked_with_snippets(app: TestApp) {
    let tenant = app.create_tenant("Search").await;
    let admin = app.user_in(&tenant, "admin").await.auth;
    let once = extracted(&app, &admin, "once.pdf", Ok(&["Diese Rechnung ist bezahlt & erledigt"])).await;
    let thrice =
        extracted(&app, &admin, "thrice.pdf", Ok(&["Deckblatt", "Rechnung, Rechnung > 5 Euro, noch eine Rechnung"]))
            .await;
    let ru = extracted(&app, &admin, "счёт.pdf", Ok(&["Счёт на оплату"])).await;
    let client = created(&app, "/projects/clients", &admin, json!({"name": "C"})).await;
    let project = created(&app, "/projects", &admin, json!({"client_id": client, "name": "Invoices"})).await;
    let doc = created(&app, &format!("/projects/{project}/documents"), &admin, json!({"file_id": thrice})).await;

    let (status, body) = app.get(&format!("/projects/search?q={}", enc("rechnung")), &admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.iter().map(|h| h["file_id"].as_str().unwrap()).collect::<Vec<_>>(), [&thrice, &once]);
    let best = &items[0];
    assert_eq!((best["file_name"].as_str(), best["location"]["page"].as_u64()), (Some("thrice.pdf"), Some(2)));
    let snippet = best["snippet"].as_str().unwrap();
    // The text is escaped around the marks. (PostgreSQL's parser drops what looks like an XML
    // tag from headlines, so the test text has none.)
    assert!(snippet.contains("<mark>Rechnung</mark>, <mark>Rechnung</mark> &gt; 5"), "{snippet}");
    assert_eq!(best["documents"][0]["document_id"], doc.as_str());
    assert_eq!(best["documents"][0]["project_name"], "Invoices");
    assert!(items[1]["snippet"].as_str().unwrap().contains("&amp;"), "{body}");
    assert!(items[1]["documents"].as_array().unwrap().is_empty());
    assert!(body.get("next_offset").is_none());

    let (_, body) = app.get(&format!("/projects/search?q={}&limit=1", enc("Rechnung")), &admin).await;
    assert_eq!((body["items"].as_array().unwrap().len(), body["next_offset"].as_u64()), (1, Some(1)));
    let (_, body) = app.get(&format!("/projects/search?q={}&limit=1&offset=1", enc("Rechnung")), &admin).await;
    assert_eq!(body["items"][0]["file_id"], once.as_str());
    let (_, body) = app.get(&format!("/projects/search?q={}", enc("СЧЁТ")), &admin).await;
    assert_eq!(body["items"][0]["file_id"], ru.as_str(), "{body}");

    // Hostile text is searched as words; a query without words and bad limits are refused.
    for q in ["foo\"bar OR (", "Rechnung\" OR \"x", "NEAR(Rechnung", "'; DROP TABLE files; --", "a:* & !b"] {
        let (status, body) = app.get(&format!("/projects/search?q={}", enc(q)), &admin).await;
        assert_eq!(status, StatusCode::OK, "{q}: {body}");
    }
    for (query, field) in [
        ("", "q"),
        ("q=", "q"),
        ("q=%20%20", "q"),
        ("q=(((%20%22", "q"),
        ("q=x&limit=0", "limit"),
        ("q=x&limit=101", "limit"),
    ] {
        let (status, body) = app.get(&format!("/projects/search?{query}"), &admin).await;
        assert_error(status, &body, 400, "validation_failed");
        assert_eq!(body["error"]["field"], field, "{query}");
    }
    let other = app.create_tenant("Other").await;
    let outsider = app.user_in(&other, "admin").await.auth;
    let (status, body) = app.get(&format!("/projects/search?q={}", enc("Rechnung")), &outsider).await;
    assert_eq!((status, body["items"].as_array().unwrap().len()), (StatusCode::OK, 0), "tenant-scoped");
}

async fn search_shows_own_files_only_to_users_reading_their_own(app: TestApp) {
    let tenant = app.create_tenant("Own").await;
    let admin = app.user_in(&tenant, "admin").await.auth;
    let ann = app.user_in(&tenant, "user").await.auth;
    let bob = app.user_in(&tenant, "user").await.auth;
    let anns = extracted(&app, &ann, "ann.pdf", Ok(&["Quartalsbericht von Ann"])).await;
    let bobs = extracted(&app, &bob, "bob.pdf", Ok(&["Quartalsbericht von Bob"])).await;
    let hits = |body: &Value| {
        let mut v: Vec<String> =
            body["items"].as_array().unwrap().iter().map(|h| h["file_id"].as_str().unwrap().to_owned()).collect();
        v.sort();
        v
    };
    let mut both = vec![anns.clone(), bobs.clone()];
    both.sort();
    // Bootstrap rules: users read the tenant's files.
    let (_, body) = app.get("/projects/search?q=quartalsbericht", &ann).await;
    assert_eq!(hits(&body), both);
    // Narrowed to their own files, a user finds only their own.
    let rule = json!({"role": "user", "item": "data.document.File", "view": true, "read": "my", "create": "my", "update": "my", "delete": "my"});
    let (status, body) = app.call(Method::PUT, "/api/admin/rbac/rules", &admin, Some(rule)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = app.get("/projects/search?q=quartalsbericht", &ann).await;
    assert_eq!(hits(&body), std::slice::from_ref(&anns));
    let (_, body) = app.get("/projects/search?q=bob", &ann).await;
    assert!(hits(&body).is_empty(), "{body}");
    let (_, body) = app.get("/projects/search?q=quartalsbericht", &admin).await;
    assert_eq!(hits(&body), both);
    // Nor can they place another's file in a project.
    let client = created(&app, "/projects/clients", &ann, json!({"name": "C"})).await;
    let project = created(&app, "/projects", &ann, json!({"client_id": client, "name": "P"})).await;
    let (status, body) = app.post(&format!("/projects/{project}/documents"), &ann, json!({"file_id": bobs})).await;
    assert_error(status, &body, 404, "not_found");
    created(&app, &format!("/projects/{project}/documents"), &ann, json!({"file_id": anns})).await;
}

async fn results_show_the_extraction_and_stored_results(app: TestApp) {
    let tenant = app.create_tenant("Results").await;
    let admin = app.user_in(&tenant, "admin").await.auth;
    let viewer = app.user_in(&tenant, "viewer").await.auth;
    let good = extracted(&app, &admin, "good.pdf", Ok(&["page one", "| a | b |", "| c | d |"])).await;
    let bad = extracted(&app, &admin, "locked.pdf", Err("encrypted")).await;
    let client = created(&app, "/projects/clients", &admin, json!({"name": "C"})).await;
    let project = created(&app, "/projects", &admin, json!({"client_id": client, "name": "P"})).await;
    let doc = created(&app, &format!("/projects/{project}/documents"), &admin, json!({"file_id": good})).await;
    let locked = created(&app, &format!("/projects/{project}/documents"), &admin, json!({"file_id": bad})).await;

    let engine = &app.state.engine;
    let t = TenantId::parse(&tenant).unwrap();
    let d = DocumentId::parse(&doc).unwrap();
    let result = |title: &str, format, content: &str| NewResult {
        kind: "summary".into(),
        title: title.into(),
        format,
        content: content.into(),
    };
    engine.add_document_result(t, d, result("First", ResultFormat::Text, "A short summary.")).await.unwrap();
    engine.add_document_result(t, d, result("Second", ResultFormat::Json, r#"{"total": 42}"#)).await.unwrap();
    assert!(engine.add_document_result(t, d, result("Bad", ResultFormat::Json, "not json")).await.is_err());
    let elsewhere = TenantId::parse(&app.create_tenant("Elsewhere").await).unwrap();
    assert!(engine.add_document_result(elsewhere, d, result("X", ResultFormat::Text, "x")).await.is_err());

    let (status, body) = app.get(&format!("/projects/documents/{doc}/results"), &viewer).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["document"]["id"], doc.as_str());
    let x = &body["file"]["extraction"];
    assert_eq!((x["status"].as_str(), x["units"].as_u64(), x["attempts"].as_u64()), (Some("done"), Some(3), Some(1)));
    assert_eq!(x["parts"], json!({"table": 2, "text": 1}));
    assert_eq!(x["warnings"], json!(["page 9 was damaged"]));
    assert!(x["finished_at"].is_string(), "{x}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.iter().map(|r| r["title"].as_str().unwrap()).collect::<Vec<_>>(), ["Second", "First"]);
    assert_eq!((results[0]["format"].as_str(), &results[0]["content"]), (Some("json"), &json!({"total": 42})));
    assert_eq!(results[1]["content"], "A short summary.");

    let (_, body) = app.get(&format!("/projects/documents/{locked}/results"), &admin).await;
    let x = &body["file"]["extraction"];
    assert_eq!((x["status"].as_str(), x["error_code"].as_str()), (Some("failed"), Some("encrypted")), "{body}");
    assert_eq!((x["error_message"].as_str(), &x["parts"]), (Some("the file is encrypted"), &json!({})));
    assert!(body["results"].as_array().unwrap().is_empty());
    let (status, body) = app.get(&format!("/projects/documents/{}/results", DocumentId::new()), &admin).await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = app.get("/projects/documents/not-a-uuid/results", &admin).await;
    assert_error(status, &body, 400, "invalid_path_parameter");
}
