//! Generation workflows over HTTP (SPEC W1, W4) on the embedded default provider (dryrun):
//! submit answers at once, the job runs it to a document, events stream with ids and resume,
//! the operation tree, and the errors a caller can make.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, assert_error, sse};

both_databases!(a_workflow_runs_to_a_document_and_streams_its_events, bad_requests_are_refused_and_tenants_kept_apart,);

async fn a_workflow_runs_to_a_document_and_streams_its_events(app: TestApp) {
    let admin = app.sysadmin().await;
    let (status, file) = app.upload(&admin, "notes.txt", "Taxi Zürich 2024-01-02 CHF 12.50\n".as_bytes()).await;
    assert_eq!(status, StatusCode::CREATED, "{file}");
    let body = json!({"prompt": "Write a short report of these expenses", "file_ids": [file["id"]], "output_format": "docx",
                      "title": "Expenses"});
    let (status, submitted) = app.post("/api/workflows", &admin, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{submitted}");
    // A worker may have taken it up already (PostgreSQL wakes workers by NOTIFY at commit).
    assert!(["queued", "running"].contains(&submitted["status"].as_str().unwrap_or_default()), "{submitted}");
    let id = submitted["workflow_id"].as_str().unwrap().to_owned();

    let done = app.workflow_ended(&admin, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["progress"], 100, "{done}");
    let files = done["files"].as_array().unwrap();
    assert!(!files.is_empty(), "{done}");
    let docx = files.iter().find(|f| f["file_name"].as_str().unwrap().ends_with(".docx")).expect("a DOCX");
    let resp = app.request(Method::GET, docx["download_url"].as_str().unwrap(), &admin).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = resp.bytes().await.unwrap();
    assert!(bytes.starts_with(b"PK"), "a DOCX is a zip package");

    // The whole stream of a finished workflow, then the same stream resumed after its second event.
    let resp = app.request(Method::GET, &format!("/api/workflows/{id}/events"), &admin).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let all = sse(&resp.text().await.unwrap());
    let names: Vec<&str> = all.iter().map(|(_, e, _)| e.as_str()).collect();
    for wanted in ["phase_started", "task_started", "action_started", "section_done", "document_ready", "completed"] {
        assert!(names.contains(&wanted), "{wanted} missing from {names:?}");
    }
    assert_eq!(names.last(), Some(&"completed"), "{names:?}");
    assert!(all.iter().all(|(id, _, _)| !id.is_empty()), "every event has an id");
    let resumed = app
        .request(Method::GET, &format!("/api/workflows/{id}/events"), &admin)
        .header("Last-Event-ID", &all[1].0)
        .send()
        .await
        .unwrap();
    let rest = sse(&resumed.text().await.unwrap());
    assert_eq!(rest.len(), all.len() - 2);
    assert_eq!(rest.first().map(|r| &r.0), all.get(2).map(|a| &a.0));

    // The operation tree: one root, every other operation under a known parent, AI calls as leaves.
    let (status, log) = app.get(&format!("/api/workflows/{id}/log"), &admin).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let ops = log["operations"].as_array().unwrap();
    let ids: Vec<&str> = ops.iter().map(|o| o["op_id"].as_str().unwrap()).collect();
    let roots = ops.iter().filter(|o| o["parent_id"].is_null()).count();
    assert_eq!(roots, 1, "{log}");
    assert!(ops.iter().filter(|o| !o["parent_id"].is_null()).all(|o| ids.contains(&o["parent_id"].as_str().unwrap())));
    assert!(ops.iter().any(|o| o["ai_call"].is_object()), "AI calls are leaves of the tree");

    let (status, list) = app.get("/api/workflows", &admin).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert!(list["items"].as_array().unwrap().iter().any(|w| w["workflow_id"] == id.as_str()), "{list}");
}

async fn bad_requests_are_refused_and_tenants_kept_apart(app: TestApp) {
    let admin = app.sysadmin().await;
    let (status, body) = app.post("/api/workflows", &admin, json!({"prompt": "   "})).await;
    assert_error(status, &body, 400, "validation_failed");
    assert!(body["error"]["message"].as_str().unwrap().contains("prompt"), "{body}");
    let (status, body) = app.post("/api/workflows", &admin, json!({"prompt": "x", "output_format": "exe"})).await;
    assert_error(status, &body, 400, "validation_failed");
    assert!(body["error"]["message"].as_str().unwrap().contains("output_format"), "{body}");
    let unknown = "01900000-0000-7000-8000-000000000000";
    let (status, body) = app.post("/api/workflows", &admin, json!({"prompt": "x", "file_ids": [unknown]})).await;
    assert_error(status, &body, 400, "validation_failed");
    assert!(body["error"]["message"].as_str().unwrap().contains("file_ids[0]"), "{body}");
    let (status, body) = app.post("/api/workflows", &admin, json!({"prompt": "x", "model_profile": "huge"})).await;
    assert_error(status, &body, 400, "validation_failed");

    let (status, submitted) =
        app.post("/api/workflows", &admin, json!({"prompt": "Say hello", "output_format": "txt"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{submitted}");
    let id = submitted["workflow_id"].as_str().unwrap().to_owned();
    let done = app.workflow_ended(&admin, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    let (status, body) = app.post(&format!("/api/workflows/{id}/cancel"), &admin, json!({})).await;
    assert_error(status, &body, 409, "conflict");
    let (status, body) = app.get(&format!("/api/workflows/{id}/debug"), &admin).await;
    assert_error(status, &body, 422, "no_debug_trace");

    // Another tenant's admin sees no such workflow.
    let other = app.create_tenant("other").await;
    let stranger = app.user_in(&other, "admin").await;
    for path in
        [format!("/api/workflows/{id}"), format!("/api/workflows/{id}/log"), format!("/api/workflows/{id}/events")]
    {
        let (status, body) = app.get(&path, &stranger.auth).await;
        assert_error(status, &body, 404, "not_found");
    }
    let (status, body) = app.post(&format!("/api/workflows/{id}/cancel"), &stranger.auth, json!({})).await;
    assert_error(status, &body, 404, "not_found");
}
