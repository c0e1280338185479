//! Collections over HTTP (SPEC Y3): CRUD, members added (idempotently), listed and removed,
//! other tenants' collections and files not found, RBAC (viewers read, users do not delete),
//! search within a collection finding only its members' text, and a chat and a workflow
//! scoped to a collection (the built-in dryrun provider) — with `project_id` beside it refused.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Auth, TestApp, assert_error, sse};

both_databases!(
    collections_are_created_listed_changed_and_deleted,
    members_are_files_of_the_tenant_added_once,
    search_in_a_collection_finds_only_its_files,
    a_chat_and_a_workflow_draw_on_a_collection,
);

const UNKNOWN: &str = "01900000-0000-7000-8000-000000000000";

/// Uploads a text file and waits until it is extracted; its id.
async fn extracted(app: &TestApp, auth: &Auth, name: &str, text: &str) -> String {
    let (status, body) = app.upload(auth, name, text.as_bytes()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(crate::extraction::ended(app, auth, &id).await["extraction_status"], "done");
    id
}

async fn collection(app: &TestApp, auth: &Auth, name: &str) -> String {
    let (status, body) = app.post("/api/collections", auth, json!({"name": name})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn add(app: &TestApp, auth: &Auth, collection: &str, file: &str) -> (StatusCode, Value) {
    app.post(&format!("/api/collections/{collection}/files"), auth, json!({"file_id": file})).await
}

async fn collections_are_created_listed_changed_and_deleted(app: TestApp) {
    let tenant = app.create_tenant("Coll").await;
    let other = app.create_tenant("Elsewhere").await;
    let admin = app.user_in(&tenant, "admin").await;
    let user = app.user_in(&tenant, "user").await.auth;
    let viewer = app.user_in(&tenant, "viewer").await.auth;
    let outsider = app.user_in(&other, "admin").await.auth;

    let (status, body) =
        app.post("/api/collections", &user, json!({"name": "  Contracts ", "description": "signed"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!((body["name"].as_str(), body["description"].as_str()), (Some("Contracts"), Some("signed")));
    assert_eq!(body["file_count"], 0);
    assert!(body.get("external_key").is_none(), "{body}");
    let first = body["id"].as_str().unwrap().to_owned();
    // Names need not be unique.
    let second = collection(&app, &admin.auth, "Contracts").await;
    assert_eq!(app.get(&format!("/api/collections/{second}"), &admin.auth).await.1["created_by"], admin.id.as_str());
    let (status, body) = app.post("/api/collections", &user, json!({"name": " "})).await;
    assert_error(status, &body, 400, "validation_failed");
    assert_eq!(body["error"]["field"], "name");
    let (status, body) = app.post("/api/collections", &user, json!({"name": "x", "external_key": "k"})).await;
    assert_error(status, &body, 400, "validation_failed");
    let (status, body) = app.post("/api/collections", &viewer, json!({"name": "V"})).await;
    assert_error(status, &body, 403, "forbidden");

    // A page of one, then the next; viewers read.
    let (status, page) = app.get("/api/collections?limit=1", &viewer).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"][0]["id"], first.as_str());
    let cursor = page["next_cursor"].as_str().expect("a next page").to_owned();
    let (_, rest) = app.get(&format!("/api/collections?limit=1&cursor={cursor}"), &viewer).await;
    assert_eq!(rest["items"][0]["id"], second.as_str());
    assert!(rest.get("next_cursor").is_none(), "{rest}");
    let (_, theirs) = app.get("/api/collections", &outsider).await;
    assert_eq!(theirs["items"], json!([]), "another tenant's collections are not listed");

    let url = format!("/api/collections/{first}");
    let (status, body) = app.call(Method::PATCH, &url, &user, Some(json!({"name": "Verträge"}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["name"].as_str(), body["description"].as_str()), (Some("Verträge"), Some("signed")));
    let (_, body) = app.call(Method::PATCH, &url, &user, Some(json!({"description": null}))).await;
    assert!(body.get("description").is_none(), "cleared: {body}");
    let (status, body) = app.call(Method::PATCH, &url, &viewer, Some(json!({"name": "V"}))).await;
    assert_error(status, &body, 403, "forbidden");
    for (method, body) in [(Method::GET, None), (Method::PATCH, Some(json!({"name": "X"}))), (Method::DELETE, None)] {
        let (status, out) = app.call(method.clone(), &url, &outsider, body).await;
        assert_error(status, &out, 404, "not_found");
    }
    let (status, body) = app.get(&format!("/api/collections/{UNKNOWN}"), &user).await;
    assert_error(status, &body, 404, "not_found");
    assert!(body["error"]["message"].as_str().unwrap().contains("collection"), "{body}");

    // Users build collections; only admins delete them.
    let (status, body) = app.call(Method::DELETE, &url, &user, None).await;
    assert_error(status, &body, 403, "forbidden");
    let (status, _) = app.call(Method::DELETE, &url, &admin.auth, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.get(&url, &admin.auth).await;
    assert_error(status, &body, 404, "not_found");
}

async fn members_are_files_of_the_tenant_added_once(app: TestApp) {
    let tenant = app.create_tenant("Members").await;
    let other = app.create_tenant("Elsewhere").await;
    let admin = app.user_in(&tenant, "admin").await.auth;
    let user = app.user_in(&tenant, "user").await.auth;
    let viewer = app.user_in(&tenant, "viewer").await.auth;
    let outsider = app.user_in(&other, "admin").await.auth;
    let a = extracted(&app, &admin, "a.txt", "Alpha text\n").await;
    let b = extracted(&app, &admin, "b.txt", "Beta text\n").await;
    let foreign = extracted(&app, &outsider, "foreign.txt", "Gamma text\n").await;
    let c = collection(&app, &user, "Set").await;

    let (status, body) = add(&app, &user, &c, &a).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        (body["file_id"].as_str(), body["file_name"].as_str(), body["extraction_status"].as_str()),
        (Some(a.as_str()), Some("a.txt"), Some("done"))
    );
    let (status, again) = add(&app, &user, &c, &a).await;
    assert_eq!(status, StatusCode::OK, "added again: nothing changes: {again}");
    assert_eq!(again["added_at"], body["added_at"]);
    assert_eq!(add(&app, &user, &c, &b).await.0, StatusCode::CREATED);
    for file in [foreign.as_str(), UNKNOWN] {
        let (status, body) = add(&app, &user, &c, file).await;
        assert_error(status, &body, 404, "not_found");
    }
    let (status, body) = add(&app, &outsider, &c, &foreign).await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = add(&app, &viewer, &c, &a).await;
    assert_error(status, &body, 403, "forbidden");
    let (status, body) = app.post(&format!("/api/collections/{c}/files"), &user, json!({"file_id": "nope"})).await;
    assert_error(status, &body, 400, "validation_failed");

    let files = format!("/api/collections/{c}/files");
    let (status, page) = app.get(&format!("{files}?limit=1"), &viewer).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (_, rest) = app.get(&format!("{files}?cursor={cursor}"), &viewer).await;
    let mut ids: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["items"].as_array().unwrap())
        .map(|m| m["file_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let mut want = vec![a.as_str(), b.as_str()];
    want.sort_unstable();
    assert_eq!(ids, want);
    assert_eq!(app.get(&format!("/api/collections/{c}"), &viewer).await.1["file_count"], 2);
    let (status, body) = app.get(&files, &outsider).await;
    assert_error(status, &body, 404, "not_found");

    // Out again: 204, then 404; a viewer may not; the file itself stays.
    let (status, body) = app.call(Method::DELETE, &format!("{files}/{b}"), &viewer, None).await;
    assert_error(status, &body, 403, "forbidden");
    let (status, body) = app.call(Method::DELETE, &format!("{files}/{b}"), &outsider, None).await;
    assert_error(status, &body, 404, "not_found");
    assert_eq!(app.call(Method::DELETE, &format!("{files}/{b}"), &user, None).await.0, StatusCode::NO_CONTENT);
    let (status, body) = app.call(Method::DELETE, &format!("{files}/{b}"), &user, None).await;
    assert_error(status, &body, 404, "not_found");
    assert_eq!(app.get(&format!("/files/{b}"), &user).await.0, StatusCode::OK);
    // Deleting a file takes it out of every collection.
    assert_eq!(app.call(Method::DELETE, &format!("/files/{a}"), &admin, None).await.0, StatusCode::NO_CONTENT);
    let (_, left) = app.get(&files, &user).await;
    assert_eq!(left["items"], json!([]), "{left}");
    assert_eq!(app.get(&format!("/api/collections/{c}"), &user).await.1["file_count"], 0);
}

async fn search_in_a_collection_finds_only_its_files(app: TestApp) {
    let tenant = app.create_tenant("Search").await;
    let admin = app.user_in(&tenant, "admin").await.auth;
    let viewer = app.user_in(&tenant, "viewer").await.auth;
    let outsider = app.user_in(&app.create_tenant("Elsewhere").await, "admin").await.auth;
    let inside = extracted(&app, &admin, "inside.txt", "The quarterly invoice of ACME AG.\n").await;
    let outside = extracted(&app, &admin, "outside.txt", "Another invoice, not in the collection.\n").await;
    let c = collection(&app, &admin, "Invoices").await;
    add(&app, &admin, &c, &inside).await;

    let (status, all) = app.get("/projects/search?q=invoice", &admin).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all["items"].as_array().unwrap().len(), 2, "the tenant's search sees both: {all}");
    let (status, found) = app.get(&format!("/api/collections/{c}/search?q=invoice"), &viewer).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    let items = found["items"].as_array().unwrap();
    assert_eq!(items.iter().map(|h| h["file_id"].as_str().unwrap()).collect::<Vec<_>>(), [inside.as_str()]);
    assert_ne!(items[0]["file_id"], outside.as_str());
    let snippet = items[0]["snippet"].as_str().unwrap();
    assert!(snippet.contains("<mark>invoice</mark>"), "{snippet}");
    let (_, none) = app.get(&format!("/api/collections/{c}/search?q=collection"), &viewer).await;
    assert_eq!(none["items"], json!([]), "words of a file outside are not found: {none}");

    let (status, body) = app.get(&format!("/api/collections/{c}/search?q=%20"), &viewer).await;
    assert_error(status, &body, 400, "validation_failed");
    let (status, body) = app.get(&format!("/api/collections/{c}/search?q=invoice&limit=0"), &viewer).await;
    assert_error(status, &body, 400, "validation_failed");
    let (status, body) = app.get(&format!("/api/collections/{UNKNOWN}/search?q=invoice"), &viewer).await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = app.get(&format!("/api/collections/{c}/search?q=invoice"), &outsider).await;
    assert_error(status, &body, 404, "not_found");
}

async fn a_chat_and_a_workflow_draw_on_a_collection(app: TestApp) {
    let admin = app.sysadmin().await;
    let inside = extracted(&app, &admin, "riser.txt", "The main distribution board VRU-1 is in room B12.\n").await;
    let outside = extracted(&app, &admin, "other.txt", "The distribution board of another building.\n").await;
    let c = collection(&app, &admin, "Tower").await;
    add(&app, &admin, &c, &inside).await;
    let (_, client) = app.post("/projects/clients", &admin, json!({"name": "Client"})).await;
    let (_, project) = app.post("/projects", &admin, json!({"client_id": client["id"], "name": "P"})).await;
    let foreign = {
        let other = app.create_tenant("Elsewhere").await;
        let outsider = app.user_in(&other, "admin").await.auth;
        collection(&app, &outsider, "Theirs").await
    };

    // A chat names a project or a collection, not both; another tenant's is not found.
    let (status, body) =
        app.post("/chats", &admin, json!({"title": "x", "collection_id": c, "project_id": project["id"]})).await;
    assert_error(status, &body, 422, "scope_conflict");
    for missing in [foreign.as_str(), UNKNOWN] {
        let (status, body) = app.post("/chats", &admin, json!({"title": "x", "collection_id": missing})).await;
        assert_error(status, &body, 404, "not_found");
    }
    let (_, chats) = app.get("/chats", &admin).await;
    assert_eq!(chats["items"], json!([]), "nothing was stored: {chats}");
    let (status, chat) = app.post("/chats", &admin, json!({"title": "Tower", "collection_id": c})).await;
    assert_eq!(status, StatusCode::CREATED, "{chat}");
    assert_eq!(chat["collection_id"], c.as_str());
    let chat = chat["id"].as_str().unwrap().to_owned();
    let resp = app
        .request(Method::POST, &format!("/chats/{chat}/messages"), &admin)
        .json(&json!({"message": "Where is the distribution board VRU-1?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let events = sse(&resp.text().await.unwrap());
    let retrieval = events.iter().find(|(_, e, d)| e == "phase_started" && d["phase"] == "retrieval");
    assert!(retrieval.is_some(), "{events:?}");
    let (_, _, fin) = events.iter().find(|(_, e, _)| e == "llm_final").expect("an answer");
    let sources = fin["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 1, "only the collection's file: {sources:?}");
    assert_eq!(
        (sources[0]["file_id"].as_str(), sources[0]["origin"].as_str()),
        (Some(inside.as_str()), Some("retrieval"))
    );
    assert!(sources.iter().all(|s| s["file_id"] != outside.as_str()));

    // A workflow takes a collection the same way.
    let (status, body) = app
        .post("/api/workflows", &admin, json!({"prompt": "x", "collection_id": c, "project_id": project["id"]}))
        .await;
    assert_error(status, &body, 422, "scope_conflict");
    let (status, body) = app.post("/api/workflows", &admin, json!({"prompt": "x", "collection_id": foreign})).await;
    assert_error(status, &body, 404, "not_found");
    let body = json!({"prompt": "Where is the distribution board? Answer briefly.", "collection_id": c,
                      "output_format": "md"});
    let (status, submitted) = app.post("/api/workflows", &admin, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{submitted}");
    assert_eq!(submitted["collection_id"], c.as_str());
    let done = app.workflow_ended(&admin, submitted["workflow_id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["collection_id"], c.as_str());
}
