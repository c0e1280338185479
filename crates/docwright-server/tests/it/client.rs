//! The Rust client (`docwright-client`, SPEC U2) against the real server: sessions renewed by
//! refresh and by a new login, typed chat streams (one ending with an `error` event), files
//! streamed up and down, API keys, the projects tree, asynchronous requests and the job queue,
//! the error kinds, and its routes against `/openapi.json`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use docwright_api::chats::{ChatIn, MessageIn};
use docwright_api::events::ChatEvent;
use docwright_api::me::SettingsPatch;
use docwright_client::{Client, Error, Options, Renewal};
use docwright_config::Config;
use docwright_llm::testing::{FakeOpenAi, Reply};
use docwright_storage::Backend;
use futures_util::StreamExt as _;

use crate::helpers::{ADMIN_TOKEN, TestApp};

each_backend!(
    an_expired_access_token_is_refreshed_and_an_expired_refresh_token_logs_in_again,
    chats_stream_typed_events_and_files_go_up_and_down,
    a_stream_the_server_ends_with_an_error_event_ends_there,
    keys_projects_requests_and_jobs_are_typed_calls,
);

both_databases!(every_route_of_the_client_is_in_the_openapi_document, prompts_and_automations_are_typed_calls);

fn client(app: &TestApp, token: &str) -> Client {
    Client::new(&app.base, token, &Options::default()).expect("client")
}

/// The shortest lifetimes the configuration allows (10 s), the refresh token's `refresh_secs`.
fn short_sessions(refresh_secs: u64) -> impl FnOnce(&mut Config) {
    move |c| {
        c.auth.access_token_ttl_secs = 10;
        c.auth.refresh_token_ttl_secs = refresh_secs;
    }
}

async fn an_expired_access_token_is_refreshed_and_an_expired_refresh_token_logs_in_again(backend: Backend) {
    let Some(refreshing) = TestApp::spawn(backend, short_sessions(3600)).await else { return };
    let Some(relogging) = TestApp::spawn(backend, short_sessions(10)).await else { return };
    let a = client(&refreshing, ADMIN_TOKEN);
    let b = client(&relogging, ADMIN_TOKEN);
    a.me().await.expect("me");
    b.me().await.expect("me");
    assert_eq!(a.last_renewal().await, Some(Renewal::Exchanged));
    // A session alone, without the static token, cannot log in again.
    let kept = Client::with_session(&relogging.base, b.session_tokens().await.unwrap(), None, &Options::default())
        .expect("client");
    kept.me().await.expect("the kept session works while it lasts");
    tokio::time::sleep(Duration::from_secs(11)).await;
    let me = a.me().await.expect("me after the access token expired");
    assert_eq!(me.current_role, "sysadmin");
    assert_eq!(a.last_renewal().await, Some(Renewal::Refreshed));
    b.me().await.expect("me after both tokens expired");
    assert_eq!(b.last_renewal().await, Some(Renewal::Exchanged));
    let e = kept.me().await.expect_err("nothing left to renew with");
    assert!(matches!(&e, Error::TokenExpired(r) if r.status == 401), "{e:?}");
    // A wrong static token is an authentication error, not an expiry.
    let e = client(&refreshing, "dwst_wrong").me().await.expect_err("wrong token");
    assert!(matches!(&e, Error::Authentication(r) if r.code == "invalid_token"), "{e:?}");
    assert!(a.logout().await.unwrap().revoked);
}

async fn chats_stream_typed_events_and_files_go_up_and_down(backend: Backend) {
    let Some(app) = TestApp::spawn(backend, |_| {}).await else { return };
    let c = client(&app, ADMIN_TOKEN);
    // A file streamed from disk with progress, and back to disk.
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("notes.txt");
    let body: String = (0..20_000).map(|i| format!("line {i} of the notes\n")).collect();
    std::fs::write(&src, &body).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let progress = move |done: u64, total: Option<u64>| log.lock().unwrap().push((done, total));
    let file = c.upload_file(&src, Some(&progress)).await.expect("upload");
    assert_eq!(file.file_name, "notes.txt");
    assert_eq!(file.file_size, body.len() as u64);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.last(), Some(&(body.len() as u64, Some(body.len() as u64))), "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "progress only grows: {seen:?}");
    let dest = dir.path().join("back.txt");
    let written = c.download_file(&file.id, &dest, None).await.expect("download");
    assert_eq!(written, body.len() as u64);
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), body);
    assert_eq!(c.file(&file.id).await.unwrap().sha256, file.sha256);

    // A chat: its answer as typed events, then in its history.
    let chat = c
        .create_chat(&ChatIn { title: "Notes".into(), description: None, project_id: None, collection_id: None })
        .await
        .expect("create chat");
    let message = MessageIn {
        message: "What do the notes say?".into(),
        attached_file_ids: vec![file.id.parse().unwrap()],
        model_profile: None,
        allowed_providers: None,
        role_prompt_id: None,
    };
    let events: Vec<_> = c.send_message(&chat.id, &message).await.expect("send").collect().await;
    let events: Vec<ChatEvent> = events.into_iter().map(|e| e.expect("event").1).collect();
    assert!(matches!(events.first(), Some(ChatEvent::PhaseStarted { phase, .. }) if phase == "context"), "{events:?}");
    let tokens: String = events
        .iter()
        .filter_map(|e| if let ChatEvent::Token { token } = e { Some(token.as_str()) } else { None })
        .collect();
    let Some(ChatEvent::Final { content, .. }) = events.iter().find(|e| matches!(e, ChatEvent::Final { .. })) else {
        panic!("no final event: {events:?}")
    };
    assert_eq!(&tokens, content);
    assert!(matches!(events.last(), Some(ChatEvent::Completed { .. })), "{events:?}");
    let history = c.chat(&chat.id).await.expect("history");
    assert_eq!(history.messages.len(), 2);
    assert_eq!(&history.messages[1].content, content);
    // The turn's events again, from its start.
    let again: Vec<_> = c.chat_events(&chat.id, None).await.expect("events").collect().await;
    assert_eq!(again.len(), events.len());
    assert_eq!(c.chats(&Default::default()).await.unwrap().items.len(), 1);
    // The same over the chat's WebSocket: ask on it, read the typed events off it.
    let mut socket = c.chat_socket(&chat.id, None).await.expect("socket");
    socket
        .send(&MessageIn { message: "And again?".into(), attached_file_ids: vec![], ..message.clone() })
        .await
        .unwrap();
    let mut over_socket = Vec::new();
    while let Some(item) = socket.next().await {
        let (id, event) = item.expect("event");
        assert!(id.is_some_and(|id| id.contains(':')), "{event:?}");
        let end = event.is_terminal();
        over_socket.push(event);
        if end {
            break;
        }
    }
    assert!(matches!(over_socket.last(), Some(ChatEvent::Completed { .. })), "{over_socket:?}");
    socket.close().await.unwrap();

    // Settings round trip; unknown objects and bad values have their kinds.
    let s = c
        .update_settings(&SettingsPatch { model_profile: Some("complex".into()), ..Default::default() })
        .await
        .expect("settings");
    assert_eq!(s.model_profile, "complex");
    assert_eq!(c.me().await.unwrap().settings.model_profile, "complex");
    let e = c.chat("0190c0de-0000-7000-8000-000000000000").await.expect_err("unknown chat");
    assert!(matches!(&e, Error::NotFound(r) if r.code == "not_found" && !r.request_id.is_empty()), "{e:?}");
    let e = c
        .update_settings(&SettingsPatch { model_profile: Some("huge".into()), ..Default::default() })
        .await
        .expect_err("bad profile");
    assert!(matches!(&e, Error::Api(r) if r.status == 400 && r.field.as_deref() == Some("model_profile")), "{e:?}");
    c.delete_chat(&chat.id).await.expect("delete");
    assert!(matches!(c.chat(&chat.id).await, Err(Error::NotFound(_))));
    // A server that is not there is a network error.
    let gone = Client::new("http://127.0.0.1:9", ADMIN_TOKEN, &Options::default()).unwrap();
    assert!(matches!(gone.me().await, Err(Error::Network { .. })));
}

async fn a_stream_the_server_ends_with_an_error_event_ends_there(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let base = fake.base_url.clone();
    let Some(app) = TestApp::spawn(backend, move |c| {
        crate::helpers::one_model_upstream(c, base, "chat-model", 8000, 500, ("1000", "2000"));
    })
    .await
    else {
        return;
    };
    let shop = app.prepaid_tenant("Shop").await;
    let user = app.user_in(&shop, "user").await;
    let c = client(&app, &user.static_token).in_tenant(&shop);
    fake.reply(Reply::Stream { deltas: vec!["x".into()], usage: Some((1, 1)), done: true });
    let chat = c
        .create_chat(&ChatIn { title: "No money".into(), description: None, project_id: None, collection_id: None })
        .await
        .unwrap();
    let message = MessageIn {
        message: "Anything?".into(),
        attached_file_ids: vec![],
        model_profile: None,
        allowed_providers: None,
        role_prompt_id: None,
    };
    let mut stream = c.send_message(&chat.id, &message).await.expect("send");
    let mut last = None;
    while let Some(e) = stream.next().await {
        last = Some(e.expect("event").1);
    }
    let Some(ChatEvent::Error { code, message }) = last else { panic!("not an error: {last:?}") };
    assert_eq!(code, "insufficient_balance");
    assert!(message.contains("insufficient balance"), "{message}");
    assert!(fake.received().is_empty(), "no provider was called");
}

async fn keys_projects_requests_and_jobs_are_typed_calls(backend: Backend) {
    use docwright_api::ai::ProcessIn;
    use docwright_api::keys::CreateKeyRequest;
    use docwright_api::projects::{ClientIn, DocumentIn, DocumentPatchIn, FolderIn, FolderPatchIn, ProjectIn};
    let Some(app) = TestApp::spawn(backend, |_| {}).await else { return };
    let admin = client(&app, ADMIN_TOKEN);

    // An API key: issued once, listed without its secret, usable, then revoked.
    let key = admin.create_key(&CreateKeyRequest { name: "ci".into(), expires_at: None }).await.expect("key");
    assert!(key.key.starts_with("dw_"), "{}", key.details.prefix);
    let listed = admin.keys(&Default::default()).await.unwrap();
    let row = listed.items.iter().find(|k| k.id == key.details.id).expect("listed");
    assert!(key.key.starts_with(&row.prefix) && !row.revoked);
    let by_key = Client::with_api_key(&app.base, &key.key, &Options::default()).unwrap();
    assert_eq!(by_key.me().await.expect("me by key").current_role, "sysadmin");
    admin.revoke_key(&key.details.id.to_string()).await.expect("revoke");
    let e = by_key.me().await.expect_err("revoked");
    assert!(matches!(&e, Error::Authentication(r) if r.status == 401), "{e:?}");

    // The projects tree built, moved and read through the client.
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("offer.txt");
    std::fs::write(&src, "The offer is valid until March.").unwrap();
    let file = admin.upload_file(&src, None).await.unwrap();
    let acme = admin.create_client(&ClientIn { name: "Acme".into() }).await.expect("client");
    assert_eq!(admin.client(&acme.id.to_string()).await.unwrap().name, "Acme");
    let project = admin
        .create_project(&ProjectIn { client_id: acme.id, name: "Tender".into(), description: Some("2027".into()) })
        .await
        .expect("project");
    let p = project.id.to_string();
    let outer = admin.create_folder(&p, &FolderIn { name: "Offers".into(), parent_id: None }).await.unwrap();
    let inner = admin.create_folder(&p, &FolderIn { name: "Drafts".into(), parent_id: Some(outer.id) }).await.unwrap();
    let doc = admin
        .add_document(&p, &DocumentIn { file_id: file.id.parse().unwrap(), folder_id: Some(inner.id), title: None })
        .await
        .expect("document");
    assert_eq!(doc.title, "offer.txt");
    // `parent_id: null` (Some(None)) moves the folder to the top; absent fields stay.
    let moved = admin
        .update_folder(&inner.id.to_string(), &FolderPatchIn { parent_id: Some(None), ..Default::default() })
        .await
        .expect("move");
    assert_eq!((moved.parent_id, moved.name.as_str()), (None, "Drafts"));
    let e = admin
        .update_folder(&outer.id.to_string(), &FolderPatchIn { parent_id: Some(Some(outer.id)), ..Default::default() })
        .await
        .expect_err("into itself");
    assert!(matches!(&e, Error::Api(r) if r.status == 422 && r.code == "invalid_move"), "{e:?}");
    let retitled = admin
        .update_document(&doc.id.to_string(), &DocumentPatchIn { title: Some("Offer".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!((retitled.title.as_str(), retitled.folder_id), ("Offer", Some(inner.id)));
    let results = admin.document_results(&doc.id.to_string()).await.expect("results");
    assert_eq!(results.file.file_name, "offer.txt");
    let tree = admin.projects_tree(Some(&acme.id.to_string())).await.unwrap();
    let folders: Vec<&str> = tree.clients[0].projects[0].folders.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(folders.len(), 2, "{folders:?}");
    admin.delete_project(&p).await.unwrap();
    assert!(matches!(admin.project(&p).await, Err(Error::NotFound(_))));
    assert_eq!(admin.file(&file.id).await.unwrap().id, file.id, "the file stays");

    // An asynchronous request followed to its answer, and the job behind it.
    let accepted = admin
        .submit_request(&ProcessIn { query_text: "Summarise the offer".into(), ..Default::default() })
        .await
        .expect("submit");
    assert_eq!(accepted.status, "queued");
    let id = accepted.request_id.to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        let s = admin.request_status(&id).await.expect("status");
        if s.is_terminal() {
            break s;
        }
        assert!(std::time::Instant::now() < deadline, "never ended: {s:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.status, "completed", "{status:?}");
    let answer = admin.request_result(&id).await.expect("result");
    assert!(!answer.text.is_empty());
    assert_eq!(answer.usage.total_tokens, answer.usage.input_tokens + answer.usage.output_tokens);
    let jobs = admin.jobs(Some("completed"), Some("ai.request"), &Default::default()).await.expect("jobs");
    assert!(jobs.items.iter().all(|j| j.kind == "ai.request" && j.state == "completed"), "{:?}", jobs.items);
    assert!(!jobs.items.is_empty());
    let e = admin.retry_job("0190c0de-0000-7000-8000-000000000000").await.expect_err("unknown job");
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");
    let e = admin.request_result("0190c0de-0000-7000-8000-000000000000").await.expect_err("unknown request");
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");
}

async fn every_route_of_the_client_is_in_the_openapi_document(app: TestApp) {
    let doc: serde_json::Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    for (method, path) in docwright_client::ROUTES {
        let op = doc["paths"][path][method.to_lowercase()].as_object();
        assert!(op.is_some(), "the client calls {method} {path}, which the server does not document");
    }
}

async fn prompts_and_automations_are_typed_calls(app: TestApp) {
    use docwright_api::automations::{AutomationIn, AutomationPatch, SaveAsTemplateIn, TemplateIn};
    use docwright_api::page::PageParams;
    let api = client(&app, ADMIN_TOKEN);
    // The prompt library.
    let categories = api.prompt_categories().await.unwrap();
    assert!(categories.iter().any(|c| c.key == "analysis"), "{categories:?}");
    let presets = api.prompt_presets(Some("analysis")).await.unwrap();
    assert!(!presets.is_empty() && presets.iter().all(|p| p.category == "analysis"));
    let one = api.prompt_preset(&presets[0].id).await.unwrap();
    assert_eq!(one.id, presets[0].id);
    let c = api.classify_prompt("Translate this letter into German, please").await.unwrap();
    assert_eq!(c.category, "translation", "{c:?}");

    // Templates, definitions, a run, the estimate.
    let template = r#"{"tasks":[{"action_list":[{"exec_method":"ai","exec_action":"process","exec_parameters":{"prompt":"Summarise {{KEY:topic}}","output_format":"txt"}}]}]}"#;
    let mut label = serde_json::Map::new();
    label.insert("en".into(), "Typed".into());
    let t = api
        .create_automation_template(&TemplateIn { label, overview: Default::default(), template: template.into() })
        .await
        .unwrap();
    assert_eq!(t.placeholder_keys, ["topic"]);
    assert!(api.automation_templates(&PageParams::default()).await.unwrap().items.iter().any(|x| x.id == t.id));
    let d = api
        .create_automation(&AutomationIn { from_template: Some(t.id.parse().unwrap()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(d.unfilled_placeholders, ["topic"]);
    match api.update_automation(&d.id, &AutomationPatch { active: Some(true), ..Default::default() }).await {
        Err(Error::Api(r)) => {
            assert_eq!(r.code, "unfilled_placeholders");
            assert!(r.message.contains("topic"), "{r:?}");
        }
        other => panic!("activation with an empty placeholder: {other:?}"),
    }
    let values = [("topic".to_owned(), "the week".to_owned())].into();
    let patch = AutomationPatch { active: Some(true), placeholders: Some(values), ..Default::default() };
    let d = api.update_automation(&d.id, &patch).await.unwrap();
    assert!(d.active && d.next_runs.len() == 5, "{d:?}");
    let run = api.run_automation(&d.id).await.unwrap();
    let workflow = run.workflow_id.expect("a workflow");
    let mut events = api.workflow_events(&workflow, None).await.unwrap();
    let mut last = None;
    while let Some(e) = events.next().await {
        last = Some(e.unwrap().1);
    }
    assert!(last.is_some_and(|e| e.is_terminal()));
    assert_eq!(api.automation(&d.id).await.unwrap().execution_logs[0].workflow_status.as_deref(), Some("completed"));
    assert_eq!(api.automation_estimate(&d.id).await.unwrap().runs_per_month, 30);
    assert!(api.automation_actions().await.unwrap().actions.iter().any(|a| a.action_id == "ai.process"));
    let saved = api.save_automation_as_template(&d.id, &SaveAsTemplateIn::default()).await.unwrap();
    assert!(saved.template.contains("{{KEY:topic}}") && !saved.template.contains("the week"));
    assert_eq!(api.automations(&PageParams::default()).await.unwrap().items.len(), 1);
    api.delete_automation(&d.id).await.unwrap();
    api.delete_automation_template(&saved.id).await.unwrap();
    assert!(matches!(api.automation(&d.id).await, Err(Error::NotFound(_))));
}
