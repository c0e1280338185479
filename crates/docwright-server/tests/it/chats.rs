//! Chats with documents over HTTP (SPEC C1–C3) against the fake OpenAI upstream: the exact
//! event sequence and payloads of an answer, a citation of the right page of an attached PDF,
//! a project passage found by its words, resume by `Last-Event-ID`, a client that disconnects
//! mid-answer, the busy chat, the checks made before any AI call, other tenants' chats and
//! files, a turn refused for budget, role prompts in the user's language shaping the prompt.

use std::time::{Duration, Instant};

use docwright_config::Config;
use docwright_llm::testing::{FakeOpenAi, Gate, Reply};
use docwright_storage::Backend;
use futures_util::StreamExt as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Auth, TestApp, assert_error, sse};

/// One provider `upstream` at the fake with one chat model: input 0.001 and output 0.002 a
/// token, at most 500 output tokens (what a turn reserves besides its input).
fn chat_upstream(c: &mut Config, base_url: String) {
    crate::helpers::one_model_upstream(c, base_url, "chat-model", 8000, 500, ("1000", "2000"));
    c.chat.extraction_wait_secs = 30;
    // Known, so a test can mint an expired access token.
    c.auth.jwt_secret = Some(docwright_config::Secret::new(JWT_SECRET.into()));
}

const JWT_SECRET: &str = "chat-tests-jwt-secret-0123456789abcdef";

/// `token` with its expiry an hour ago, signed like the real one.
fn expired(token: &str) -> String {
    use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&["docwright"]);
    let key = DecodingKey::from_secret(JWT_SECRET.as_bytes());
    let mut claims = jsonwebtoken::decode::<Value>(token, &key, &validation).expect("the test's secret").claims;
    let now = docwright_core::time::Timestamp::now().unix_secs();
    claims["iat"] = json!(now - 7200);
    claims["exp"] = json!(now - 3600);
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(JWT_SECRET.as_bytes()))
        .unwrap()
}

async fn spawn(backend: Backend, fake: &FakeOpenAi) -> Option<TestApp> {
    let base = fake.base_url.clone();
    TestApp::spawn(backend, move |c| chat_upstream(c, base)).await
}

each_backend!(
    an_answer_streams_exact_events_and_cites_the_right_page,
    a_project_passage_is_found_by_its_words,
    a_client_may_leave_and_come_back_and_the_chat_is_busy_meanwhile,
    bad_messages_are_refused_before_any_ai_call_and_tenants_kept_apart,
    a_turn_the_balance_cannot_cover_ends_in_an_error_and_costs_nothing,
    role_prompts_are_named_in_the_users_language_and_shape_the_prompt,
    a_file_still_being_extracted_is_named_not_ready,
    the_model_profile_chooses_the_model,
);

// ---- fixtures

/// A PDF of one page per text, in Helvetica, with a correct cross-reference table.
pub(crate) fn pdf(pages: &[&str]) -> Vec<u8> {
    let n = pages.len();
    let mut objects: Vec<Vec<u8>> = Vec::new();
    let kids: Vec<String> = (0..n).map(|i| format!("{} 0 R", 3 + 2 * i)).collect();
    objects.push(b"<< /Type /Catalog /Pages 2 0 R >>".to_vec());
    objects.push(format!("<< /Type /Pages /Kids [{}] /Count {n} >>", kids.join(" ")).into_bytes());
    let font = 3 + 2 * n;
    for (i, text) in pages.iter().enumerate() {
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 {font} 0 R >> >> /Contents {} 0 R >>",
                4 + 2 * i
            )
            .into_bytes(),
        );
        let content = format!("BT /F1 14 Tf 72 720 Td ({}) Tj ET\n", text.replace('(', "\\(").replace(')', "\\)"));
        let mut stream = format!("<< /Length {} >>\nstream\n", content.len()).into_bytes();
        stream.extend_from_slice(content.as_bytes());
        stream.extend_from_slice(b"\nendstream");
        objects.push(stream);
    }
    objects.push(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_vec());
    let mut out = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes(),
    );
    out
}

/// Uploads a file and waits until it is extracted; its id.
async fn extracted(app: &TestApp, auth: &Auth, name: &str, bytes: &[u8]) -> String {
    let (status, body) = app.upload(auth, name, bytes).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let f = crate::extraction::ended(app, auth, &id).await;
    assert_eq!(f["extraction_status"], "done", "{f}");
    id
}

async fn new_chat(app: &TestApp, auth: &Auth, body: Value) -> String {
    let (status, chat) = app.post("/chats", auth, body).await;
    assert_eq!(status, StatusCode::CREATED, "{chat}");
    chat["id"].as_str().unwrap().to_owned()
}

/// Sends a message and reads the whole answer stream.
async fn ask(app: &TestApp, auth: &Auth, chat: &str, body: Value) -> Vec<(String, String, Value)> {
    let resp = app.request(Method::POST, &format!("/chats/{chat}/messages"), auth).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    sse(&resp.text().await.unwrap())
}

fn names(events: &[(String, String, Value)]) -> Vec<&str> {
    events.iter().map(|(_, e, _)| e.as_str()).collect()
}

/// The last message of a chat once it has ended.
async fn answered(app: &TestApp, auth: &Auth, chat: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = app.get(&format!("/chats/{chat}"), auth).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let last = body["messages"].as_array().unwrap().last().cloned().unwrap_or(Value::Null);
        if last["role"] == "assistant" && ["completed", "failed"].contains(&last["status"].as_str().unwrap_or_default())
        {
            return last;
        }
        assert!(Instant::now() < deadline, "the answer did not end: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The user message the fake received last (the context and the question).
fn last_prompt(fake: &FakeOpenAi) -> (String, String) {
    let received = fake.received();
    let body = &received.last().expect("a call reached the provider").body;
    let messages = body["messages"].as_array().unwrap();
    let text = |m: &Value| m["content"].as_str().map(str::to_owned).unwrap_or_else(|| m["content"].to_string());
    (text(&messages[0]), text(messages.last().unwrap()))
}

// ---- tests

async fn an_answer_streams_exact_events_and_cites_the_right_page(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let Some(app) = spawn(backend, &fake).await else { return };
    let admin = app.sysadmin().await;
    let plan = pdf(&["Ground floor plan with the entrance hall.", "The ventilation unit AHU-2 stands on the roof."]);
    let file = extracted(&app, &admin, "plan.pdf", &plan).await;
    let (_, parts) = app.get(&format!("/files/{file}/parts"), &admin).await;
    let items = parts["items"].as_array().unwrap();
    let page_two = items.iter().find(|p| p["metadata"]["page"] == 2).expect("a part of page 2").clone();
    let chat = new_chat(&app, &admin, json!({"title": "Analysis of system V2", "description": "Ventilation"})).await;

    fake.reply(Reply::Stream {
        deltas: vec!["AHU-2 ".into(), "is on ".into(), "the roof [2].".into()],
        usage: Some((120, 6)),
        done: true,
    });
    let events = ask(&app, &admin, &chat, json!({"message": "Where is AHU-2?", "attached_file_ids": [file]})).await;
    assert_eq!(
        names(&events),
        ["phase_started", "phase_started", "llm_token", "llm_token", "llm_token", "llm_final", "completed"],
        "{events:?}"
    );
    assert_eq!(events[0].2["phase"], "context");
    assert!(events[0].2["description"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(events[1].2["phase"], "generation", "no project, no retrieval phase");
    let tokens: Vec<&str> = events[2..5].iter().map(|e| e.2["token"].as_str().unwrap()).collect();
    assert_eq!(tokens, ["AHU-2 ", "is on ", "the roof [2]."]);
    // Ids: `<turn>:<n>`, numbered 1, 2, ... in the turn.
    let turn = events[0].0.split_once(':').unwrap().0.to_owned();
    for (i, (id, _, _)) in events.iter().enumerate() {
        assert_eq!(id, &format!("{turn}:{}", i + 1));
    }
    let fin = &events[5].2;
    assert_eq!(fin["content"], "AHU-2 is on the roof [2].");
    assert_eq!(fin["model"], "chat-model");
    assert_eq!(fin["price"], "0.132", "120 × 0.001 + 6 × 0.002");
    assert_eq!(fin["usage"], json!({"input_tokens": 120, "output_tokens": 6}));
    let sources = fin["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 2, "{fin}");
    let cited = sources.iter().find(|s| s["index"] == 2).unwrap();
    assert_eq!(cited["page"], 2, "[2] is page 2");
    assert_eq!(cited["part_id"], page_two["id"]);
    assert_eq!(cited["file_id"], file.as_str());
    assert_eq!(cited["file_name"], "plan.pdf");
    // What the model was given: the passages numbered as the sources are, then the question.
    let (system, user) = last_prompt(&fake);
    assert!(system.contains("square brackets"), "{system}");
    assert!(user.contains("[2] plan.pdf, page 2\nThe ventilation unit AHU-2 stands on the roof."), "{user}");
    assert!(user.ends_with("Question: Where is AHU-2?"), "{user}");

    // The history shows both messages, the answer with its model, price, usage and sources.
    let (_, history) = app.get(&format!("/chats/{chat}"), &admin).await;
    let messages = history["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{history}");
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[0]["content"], "Where is AHU-2?");
    assert_eq!(messages[0]["attached_file_ids"], json!([file]));
    assert_eq!(messages[1]["role"], "assistant");
    assert_eq!(messages[1]["status"], "completed");
    assert_eq!(messages[1]["content"], "AHU-2 is on the roof [2].");
    assert_eq!(messages[1]["price"], "0.132");
    assert_eq!(messages[1]["sources"], fin["sources"]);
    assert_eq!(events[6].2, json!({"message_id": messages[1]["id"]}));

    // Resumed after the third event: exactly the rest, then the stream ends.
    let resp = app
        .request(Method::GET, &format!("/chats/{chat}/events"), &admin)
        .header("Last-Event-ID", &events[2].0)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let rest = sse(&resp.text().await.unwrap());
    assert_eq!(rest, events[3..].to_vec());

    // Billed per turn with the chat's id on the stat and the ledger row, feature `chat`.
    app.state.engine.flush_stats().await;
    let (_, rows) = app.get("/api/billing/transactions", &admin).await;
    let debit = rows.as_array().unwrap().iter().find(|r| r["kind"] == "debit").expect("a debit");
    assert_eq!(debit["reference_type"], "chat");
    assert_eq!(debit["reference_id"], chat.as_str());
    assert_eq!(debit["feature"], "chat");
    assert_eq!(debit["amount"], "-0.132");

    // The turn's progress tree: the turn, then its phases under it, with the cost.
    let (status, log) = app.get(&format!("/chats/{chat}/turns/{turn}/log"), &admin).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let ops = log["operations"].as_array().unwrap();
    let root = ops.iter().find(|o| o["parent_id"].is_null()).expect("a root");
    assert_eq!(root["outcome"], "ok");
    let titles: Vec<&str> =
        ops.iter().filter(|o| o["parent_id"] == root["op_id"]).map(|o| o["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Context", "Generation"]);
    let generation = ops.iter().find(|o| o["title"] == "Generation").unwrap();
    assert_eq!(generation["cost"], "0.132");
    assert!(generation["duration_ms"].as_i64().is_some());

    let (status, list) = app.get("/chats", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"][0]["id"], chat.as_str());
    assert_eq!(list["items"][0]["title"], "Analysis of system V2");
}

async fn a_project_passage_is_found_by_its_words(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let Some(app) = spawn(backend, &fake).await else { return };
    let admin = app.sysadmin().await;
    let placed =
        extracted(&app, &admin, "riser.txt", b"The main distribution board VRU-1 is in the basement, room B12.\n")
            .await;
    let other = extracted(&app, &admin, "other.txt", b"The distribution board of another building.\n").await;
    let (_, client) = app.post("/projects/clients", &admin, json!({"name": "Client"})).await;
    let (_, project) = app.post("/projects", &admin, json!({"client_id": client["id"], "name": "Tower"})).await;
    let project = project["id"].as_str().unwrap().to_owned();
    let (status, doc) = app.post(&format!("/projects/{project}/documents"), &admin, json!({"file_id": placed})).await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    let chat = new_chat(&app, &admin, json!({"title": "Tower", "project_id": project})).await;

    fake.reply(Reply::Stream { deltas: vec!["In room B12 [1].".into()], usage: Some((80, 5)), done: true });
    let events = ask(&app, &admin, &chat, json!({"message": "Where is the distribution board VRU-1?"})).await;
    assert_eq!(
        names(&events),
        ["phase_started", "phase_started", "phase_started", "llm_token", "llm_final", "completed"],
        "{events:?}"
    );
    assert_eq!(events[1].2["phase"], "retrieval");
    let sources = events[4].2["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 1, "only the project's file: {sources:?}");
    assert_eq!(sources[0]["file_id"], placed.as_str());
    assert_eq!(sources[0]["origin"], "retrieval");
    assert_ne!(sources[0]["file_id"], other.as_str());
    let (_, user) = last_prompt(&fake);
    assert!(user.contains("[1] riser.txt\nThe main distribution board VRU-1 is in the basement, room B12."), "{user}");

    // A project the caller may not read cannot be linked.
    let (status, body) =
        app.post("/chats", &admin, json!({"title": "x", "project_id": "01900000-0000-7000-8000-000000000000"})).await;
    assert_error(status, &body, 400, "validation_failed");
    assert!(body["error"]["message"].as_str().unwrap().contains("project_id"), "{body}");
}

/// Reads a streaming response until its text contains `needle`; answers what was read.
async fn read_until(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    needle: &str,
) -> String {
    let mut text = String::new();
    while !text.contains(needle) {
        let chunk = stream.next().await.expect("the stream ended early").unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    text
}

async fn a_client_may_leave_and_come_back_and_the_chat_is_busy_meanwhile(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let Some(app) = spawn(backend, &fake).await else { return };
    let admin = app.sysadmin().await;
    let chat = new_chat(&app, &admin, json!({"title": "Long answer"})).await;
    let gate = Gate::new();
    fake.reply(Reply::Gated {
        before: vec!["Hel".into()],
        after: vec!["lo".into()],
        usage: Some((10, 2)),
        gate: gate.clone(),
    });

    let resp = app
        .request(Method::POST, &format!("/chats/{chat}/messages"), &admin)
        .json(&json!({"message": "Say hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut stream = resp.bytes_stream();
    let seen = sse(&read_until(&mut stream, "\"Hel\"").await);
    let first_token = seen.iter().find(|e| e.1 == "llm_token").unwrap().0.clone();

    // While the answer is being written: a second message and a delete are refused.
    let (status, body) = app.post(&format!("/chats/{chat}/messages"), &admin, json!({"message": "Again"})).await;
    assert_error(status, &body, 409, "chat_busy");
    let (status, body) = app.call(Method::DELETE, &format!("/chats/{chat}"), &admin, None).await;
    assert_error(status, &body, 409, "chat_busy");
    assert_eq!(fake.received().len(), 1, "the refused message reached no provider");

    // The client goes away mid-answer; the answer is still running, then finishes without it.
    drop(stream);
    let (_, history) = app.get(&format!("/chats/{chat}"), &admin).await;
    assert_eq!(history["messages"][1]["status"], "running", "{history}");
    assert!(history["active_turn_id"].is_string(), "{history}");
    gate.open();
    let answer = answered(&app, &admin, &chat).await;
    assert_eq!(answer["status"], "completed", "{answer}");
    assert_eq!(answer["content"], "Hello");

    // Coming back with the last event seen: the rest of the answer, then the stream ends.
    let resp = app
        .request(Method::GET, &format!("/chats/{chat}/events"), &admin)
        .header("Last-Event-ID", &first_token)
        .send()
        .await
        .unwrap();
    let rest = sse(&resp.text().await.unwrap());
    assert_eq!(names(&rest), ["llm_token", "llm_final", "completed"], "{rest:?}");
    assert_eq!(rest[0].2["token"], "lo");
    assert_eq!(rest[1].2["content"], "Hello");
    // `?after=` does the same as the header; a malformed id is refused.
    let (status, body) = app.get(&format!("/chats/{chat}/events?after=nonsense"), &admin).await;
    assert_error(status, &body, 400, "validation_failed");

    // Now the chat takes a new message, and can be deleted with everything in it.
    fake.reply(Reply::Stream { deltas: vec!["Again".into()], usage: Some((10, 1)), done: true });
    let events = ask(&app, &admin, &chat, json!({"message": "Again"})).await;
    assert_eq!(names(&events).last(), Some(&"completed"));
    // The second question carried the first exchange as history.
    let received = fake.received();
    let sent = received.last().unwrap().body["messages"].as_array().unwrap().clone();
    assert_eq!(sent.len(), 4, "system, question, answer, new question: {sent:?}");
    assert_eq!(sent[2]["content"], "Hello");
    let (status, _) = app.call(Method::DELETE, &format!("/chats/{chat}"), &admin, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.get(&format!("/chats/{chat}"), &admin).await;
    assert_error(status, &body, 404, "not_found");
}

async fn bad_messages_are_refused_before_any_ai_call_and_tenants_kept_apart(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let Some(app) = spawn(backend, &fake).await else { return };
    let admin = app.sysadmin().await;
    let chat = new_chat(&app, &admin, json!({"title": "Checks"})).await;
    let path = format!("/chats/{chat}/messages");
    let unknown = "01900000-0000-7000-8000-000000000000";

    let (status, body) = app.post(&path, &admin, json!({"message": "x", "attached_file_ids": [unknown]})).await;
    assert_error(status, &body, 404, "not_found");
    assert!(body["error"]["message"].as_str().unwrap().contains("attached file"), "{body}");
    let (status, body) = app.post(&path, &admin, json!({"message": "  "})).await;
    assert_error(status, &body, 400, "validation_failed");
    assert!(body["error"]["message"].as_str().unwrap().contains("message"), "{body}");
    let (status, body) = app.post(&path, &admin, json!({"message": "x", "model_profile": "huge"})).await;
    assert_error(status, &body, 400, "validation_failed");
    let (status, body) = app.post(&path, &admin, json!({"message": "x", "allowed_providers": ["nope"]})).await;
    assert_error(status, &body, 400, "validation_failed");
    let (status, body) = app.post(&path, &admin, json!({"message": "x", "role_prompt_id": unknown})).await;
    assert_error(status, &body, 400, "validation_failed");
    let (status, body) = app.post("/chats", &admin, json!({"title": ""})).await;
    assert_error(status, &body, 400, "validation_failed");
    assert!(fake.received().is_empty(), "no check reached the provider");
    let (_, history) = app.get(&format!("/chats/{chat}"), &admin).await;
    assert!(history["messages"].as_array().unwrap().is_empty(), "nothing was stored: {history}");

    // Another tenant's admin sees no such chat, and may not attach this tenant's files.
    let other = app.create_tenant("other").await;
    let stranger = app.user_in(&other, "admin").await;
    for p in [format!("/chats/{chat}"), format!("/chats/{chat}/events")] {
        let (status, body) = app.get(&p, &stranger.auth).await;
        assert_error(status, &body, 404, "not_found");
    }
    let (status, body) = app.post(&path, &stranger.auth, json!({"message": "x"})).await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = app.call(Method::DELETE, &format!("/chats/{chat}"), &stranger.auth, None).await;
    assert_error(status, &body, 404, "not_found");
    let (status, file) = app.upload(&admin, "secret.txt", b"secret").await;
    assert_eq!(status, StatusCode::CREATED);
    let theirs = new_chat(&app, &stranger.auth, json!({"title": "Theirs"})).await;
    let (status, body) = app
        .post(
            &format!("/chats/{theirs}/messages"),
            &stranger.auth,
            json!({"message": "x", "attached_file_ids": [file["id"]]}),
        )
        .await;
    assert_error(status, &body, 404, "not_found");
    // A user of the tenant does not see the admin's chat either (level `my`).
    let root = app.get("/me", &admin).await.1["current_tenant_id"].as_str().unwrap().to_owned();
    let user = app.user_in(&root, "user").await;
    let (status, body) = app.get(&format!("/chats/{chat}"), &user.auth).await;
    assert_error(status, &body, 404, "not_found");
    let (_, list) = app.get("/chats", &user.auth).await;
    assert!(list["items"].as_array().unwrap().is_empty(), "{list}");
    assert!(fake.received().is_empty());
}

async fn a_turn_the_balance_cannot_cover_ends_in_an_error_and_costs_nothing(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let Some(app) = spawn(backend, &fake).await else { return };
    let shop = app.prepaid_tenant("Shop").await;
    let user = app.user_in(&shop, "user").await.auth;
    let chat = new_chat(&app, &user, json!({"title": "No money"})).await;
    let events = ask(&app, &user, &chat, json!({"message": "Anything?"})).await;
    assert_eq!(names(&events), ["phase_started", "phase_started", "error"], "{events:?}");
    assert_eq!(events[2].2["code"], "insufficient_balance");
    assert!(events[2].2["message"].as_str().unwrap().contains("insufficient balance"), "{events:?}");
    assert!(fake.received().is_empty(), "a refused turn reaches no provider");
    let answer = answered(&app, &user, &chat).await;
    assert_eq!(answer["status"], "failed");
    assert_eq!(answer["error"]["code"], "insufficient_balance");
    let sys = app.sysadmin().await.in_tenant(&shop);
    let (_, rows) = app.get(&format!("/api/admin/billing/tenants/{shop}/transactions"), &sys).await;
    assert!(rows.as_array().unwrap().is_empty(), "no charge: {rows}");
    let (_, v) = app.get("/api/admin/billing/verify", &sys).await;
    assert_eq!(v["ok"], true, "{v}");
    // The chat is not left busy.
    fake.reply(Reply::Stream { deltas: vec!["x".into()], usage: Some((1, 1)), done: true });
    let again = ask(&app, &user, &chat, json!({"message": "Still?"})).await;
    assert_eq!(names(&again).last(), Some(&"error"));
    assert!(fake.received().is_empty(), "still no call reached the provider");
}

async fn role_prompts_are_named_in_the_users_language_and_shape_the_prompt(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let Some(app) = spawn(backend, &fake).await else { return };
    let admin = app.sysadmin().await;
    let (status, _) = app.call(Method::PATCH, "/me/settings", &admin, Some(json!({"language": "ru"}))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, roles) = app.get("/prompts/roles", &admin).await;
    assert_eq!(status, StatusCode::OK, "{roles}");
    let roles = roles.as_array().unwrap();
    let engineer = roles.iter().find(|r| r["name"] == "Инженер").expect("the engineer in Russian");
    assert_eq!(engineer["names"]["en"], "Engineer");
    assert_eq!(engineer["names"]["de"], "Ingenieur");
    assert_eq!(engineer["scope"], "installation");
    for wanted in ["Юрист", "Бухгалтер"] {
        assert!(roles.iter().any(|r| r["name"] == wanted), "{wanted} in {roles:?}");
    }
    let id = engineer["id"].as_str().unwrap();
    let (_, full) = app.get(&format!("/prompts/roles/{id}"), &admin).await;
    let text = full["prompt"].as_str().unwrap().to_owned();

    let chat = new_chat(&app, &admin, json!({"title": "Roles"})).await;
    fake.reply(Reply::Stream { deltas: vec!["Да".into()], usage: Some((5, 1)), done: true });
    let events = ask(
        &app,
        &admin,
        &chat,
        json!({"message": "Какая высота этажа?", "role_prompt_id": id, "model_profile": "complex"}),
    )
    .await;
    assert_eq!(names(&events).last(), Some(&"completed"), "{events:?}");
    let (system, _) = last_prompt(&fake);
    assert!(system.contains(&text), "the role prompt shapes the system prompt: {system}");
    assert!(system.contains("Answer in Russian"), "{system}");

    // Admin CRUD: a tenant's own role, edited and deleted; the installation's are sysadmins'.
    let body = json!({"names": {"en": "Surveyor", "ru": "Геодезист"}, "prompt": "You are a surveyor."});
    let (status, created) = app.post("/prompts/roles", &admin, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["name"], "Геодезист");
    assert_eq!(created["scope"], "tenant");
    let rid = created["id"].as_str().unwrap();
    let (status, updated) = app
        .call(
            Method::PUT,
            &format!("/prompts/roles/{rid}"),
            &admin,
            Some(json!({"names": {"en": "Land surveyor"}, "prompt": "Survey."})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["name"], "Land surveyor", "no Russian name left: English");
    let (status, body) = app.post("/prompts/roles", &admin, json!({"names": {"xx": "X"}, "prompt": "p"})).await;
    assert_error(status, &body, 400, "validation_failed");
    let tenant = app.create_tenant("Firm").await;
    let firm_admin = app.user_in(&tenant, "admin").await.auth;
    let (status, body) = app.call(Method::DELETE, &format!("/prompts/roles/{id}"), &firm_admin, None).await;
    assert_error(status, &body, 403, "forbidden");
    let (status, body) = app.call(Method::DELETE, &format!("/prompts/roles/{rid}"), &firm_admin, None).await;
    assert_error(status, &body, 404, "not_found");
    let (status, _) = app.call(Method::DELETE, &format!("/prompts/roles/{rid}"), &admin, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

async fn a_file_still_being_extracted_is_named_not_ready(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let base = fake.base_url.clone();
    // No extraction runs, so the file stays pending; the turn waits 0 s for it.
    let Some(app) = TestApp::spawn(backend, move |c| {
        chat_upstream(c, base);
        c.extraction.enabled = false;
        c.chat.extraction_wait_secs = 0;
    })
    .await
    else {
        return;
    };
    let admin = app.sysadmin().await;
    let (status, file) = app.upload(&admin, "notes.txt", b"Pending notes").await;
    assert_eq!(status, StatusCode::CREATED, "{file}");
    assert_eq!(file["extraction_status"], "pending", "{file}");
    let chat = new_chat(&app, &admin, json!({"title": "Pending"})).await;
    fake.reply(Reply::Stream { deltas: vec!["The notes are not ready.".into()], usage: Some((30, 5)), done: true });
    let events =
        ask(&app, &admin, &chat, json!({"message": "What do the notes say?", "attached_file_ids": [file["id"]]})).await;
    assert_eq!(names(&events).last(), Some(&"completed"), "{events:?}");
    assert!(events[3].2["sources"].as_array().unwrap().is_empty(), "{events:?}");
    let (_, user) = last_prompt(&fake);
    assert!(
        user.contains(
            "Attached files that could not be read:\n- notes.txt: not ready, still being extracted after 0 s"
        ),
        "{user}"
    );
    let turn = events[0].0.split_once(':').unwrap().0.to_owned();
    let (_, log) = app.get(&format!("/chats/{chat}/turns/{turn}/log"), &admin).await;
    let context = log["operations"].as_array().unwrap().iter().find(|o| o["title"] == "Context").unwrap().clone();
    assert!(context["message"].as_str().unwrap().contains("notes.txt: not ready"), "{context}");
}

each_backend!(the_websocket_streams_events_resumes_and_refuses_bad_tokens);

/// The next JSON frame of a socket (`None` when it closed), and the close frame if it did.
async fn next_frame<S>(ws: &mut S) -> Result<Value, Option<tokio_tungstenite::tungstenite::protocol::CloseFrame>>
where
    S: futures_util::Stream<
            Item = Result<tokio_tungstenite::tungstenite::Message, tokio_tungstenite::tungstenite::Error>,
        > + Unpin,
{
    use tokio_tungstenite::tungstenite::Message;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(t.as_str()).unwrap()),
            Some(Ok(Message::Close(frame))) => return Err(frame),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Err(None),
        }
    }
}

/// Frames until `completed` or `error`, that one included.
async fn frames_to_end<S>(ws: &mut S) -> Vec<Value>
where
    S: futures_util::Stream<
            Item = Result<tokio_tungstenite::tungstenite::Message, tokio_tungstenite::tungstenite::Error>,
        > + Unpin,
{
    let mut out = Vec::new();
    loop {
        let f = next_frame(ws).await.expect("a frame");
        let end = f["event"] == "completed" || f["event"] == "error";
        out.push(f);
        if end {
            return out;
        }
    }
}

async fn the_websocket_streams_events_resumes_and_refuses_bad_tokens(backend: Backend) {
    use futures_util::SinkExt as _;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    let fake = FakeOpenAi::start().await;
    let Some(app) = spawn(backend, &fake).await else { return };
    let admin = app.sysadmin().await;
    let token = admin.bearer.clone().unwrap();
    let chat = new_chat(&app, &admin, json!({"title": "Socket"})).await;
    let ws_url = |query: &str| format!("{}/chats/{chat}/stream?{query}", app.base.replace("http://", "ws://"));

    // A bad, an expired and no token: the socket closes with a policy violation and says why.
    let stale = format!("token={}", expired(&token));
    for (query, why) in
        [("token=not-a-token", "invalid_token"), (stale.as_str(), "token_expired"), ("", "missing_credentials")]
    {
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(query)).await.expect("upgraded");
        let frame = next_frame(&mut ws).await.expect_err("closed").expect("a close frame");
        assert_eq!(frame.code, CloseCode::Policy, "{query}");
        assert!(frame.reason.as_str().starts_with(why), "{query}: {}", frame.reason);
    }
    // Another tenant's chat: closed as not found.
    let other = app.create_tenant("other").await;
    let stranger = app.user_in(&other, "admin").await.auth;
    let (mut ws, _) =
        tokio_tungstenite::connect_async(ws_url(&format!("token={}", stranger.bearer.unwrap()))).await.unwrap();
    let frame = next_frame(&mut ws).await.expect_err("closed").expect("a close frame");
    assert!(frame.reason.as_str().starts_with("not_found"), "{}", frame.reason);

    // A message over the socket: the same events as SSE, as frames {"event", "data", "id"}.
    fake.reply(Reply::Stream { deltas: vec!["Hi ".into(), "there".into()], usage: Some((10, 2)), done: true });
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&format!("token={token}"))).await.unwrap();
    ws.send(Message::Text(json!({"message": "Hello?", "attached_file_ids": []}).to_string().into())).await.unwrap();
    let frames = frames_to_end(&mut ws).await;
    let events: Vec<&str> = frames.iter().map(|f| f["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["phase_started", "phase_started", "llm_token", "llm_token", "llm_final", "completed"]);
    assert_eq!(frames[2]["data"], json!({"token": "Hi "}));
    assert_eq!(frames[4]["data"]["content"], "Hi there");
    // A bad frame gets an error frame, and the socket stays open for the next message.
    ws.send(Message::Text("{\"nonsense\": 1}".into())).await.unwrap();
    let f = next_frame(&mut ws).await.unwrap();
    assert_eq!(f["event"], "error");
    assert_eq!(f["data"]["code"], "validation_failed");
    drop(ws);

    // `?last_event_id=` replays the rest of that turn, then the stream ends quietly.
    let first_token = frames[2]["id"].as_str().unwrap();
    let (mut ws, _) =
        tokio_tungstenite::connect_async(ws_url(&format!("token={token}&last_event_id={first_token}"))).await.unwrap();
    let rest = frames_to_end(&mut ws).await;
    assert_eq!(rest, frames[3..].to_vec());
}

/// `model_profile`: `simple` (the default) answers with the fastest model, `complex` with the
/// best; both are asked of the same upstream, which names the model it was asked for.
async fn the_model_profile_chooses_the_model(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let base = fake.base_url.clone();
    let Some(app) = TestApp::spawn(backend, move |c| {
        chat_upstream(c, base);
        let mut deep = c.models[0].clone();
        deep.name = "deep-model".into();
        (deep.quality, deep.speed) = (9, 2);
        c.models.push(deep);
    })
    .await
    else {
        return;
    };
    let admin = app.sysadmin().await;
    let chat = new_chat(&app, &admin, json!({"title": "Profiles"})).await;
    for (profile, model) in [(None, "chat-model"), (Some("complex"), "deep-model"), (Some("simple"), "chat-model")] {
        fake.reply(Reply::Stream { deltas: vec!["ok".into()], usage: Some((10, 1)), done: true });
        let mut body = json!({"message": "Which model answers?"});
        if let Some(p) = profile {
            body["model_profile"] = json!(p);
        }
        let events = ask(&app, &admin, &chat, body).await;
        let last = events.iter().find(|(_, e, _)| e == "llm_final").unwrap_or_else(|| panic!("{events:?}"));
        assert_eq!(last.2["model"], model, "{profile:?}");
        assert_eq!(fake.received().last().unwrap().body["model"], model, "{profile:?}");
    }
    let (status, body) =
        app.post(&format!("/chats/{chat}/messages"), &admin, json!({"message": "x", "model_profile": "genius"})).await;
    assert_error(status, &body, 400, "validation_failed");
}
