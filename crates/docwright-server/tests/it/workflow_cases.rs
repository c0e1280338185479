//! The seed's use cases of the generation workflow (SPEC W1–W3) end to end over HTTP: real
//! uploads and extraction, the job queue, the gateway with billing, and a fake OpenAI-compatible
//! provider that answers each phase by what the request says (its system prompt and its JSON
//! data), whatever order concurrent calls arrive in. Also: a malformed answer falls back to the
//! next model, `allowed_providers` keeps the other provider out, a budget refusal fails the
//! workflow with `insufficient_balance`, and a running workflow is cancelled with nothing left
//! reserved.

use std::io::Read as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use docwright_config::{Capability, Config, ModelConfig, ProviderConfig, ProviderKind, Secret};
use docwright_core::money::Money;
use docwright_llm::testing::{FakeOpenAi, Reply};
use docwright_storage::Backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Auth, TestApp};

each_backend!(
    receipts_become_one_typed_csv,
    images_become_a_presentation,
    project_documents_become_an_overview,
    a_malformed_answer_falls_back_and_allowed_providers_are_kept,
    a_budget_refusal_and_a_cancel_keep_the_books_exact,
);

/// The phases of the pipeline, told apart by the first words of their system prompts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Analysis,
    Planning,
    Planner,
    Refinement,
    Intents,
    ImageReading,
    Structure,
    Section,
    Records,
    Other,
}

fn phase(body: &Value) -> Phase {
    let system = body["messages"][0]["content"].as_str().unwrap_or_default();
    [
        ("You are the input analysis step", Phase::Analysis),
        ("You plan the work", Phase::Planning),
        ("You choose the next action", Phase::Planner),
        ("You validate the result", Phase::Refinement),
        ("You decide how each document is used", Phase::Intents),
        ("You read an image", Phase::ImageReading),
        ("You design the documents", Phase::Structure),
        ("You write one section", Phase::Section),
        ("You extract structured records", Phase::Records),
    ]
    .into_iter()
    .find(|(start, _)| system.starts_with(start))
    .map_or(Phase::Other, |(_, p)| p)
}

/// The JSON data of a request's user message (its text part when it carries images too).
fn data(body: &Value) -> Value {
    let user = body["messages"].as_array().and_then(|m| m.iter().rev().find(|m| m["role"] == "user")).cloned();
    let content = user.map(|u| u["content"].clone()).unwrap_or_default();
    let text = match &content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => {
            parts.iter().find(|p| p["type"] == "text").and_then(|p| p["text"].as_str()).unwrap_or_default().to_owned()
        }
        _ => String::new(),
    };
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn has_image(body: &Value) -> bool {
    body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|m| m["content"].as_array().into_iter().flatten().any(|p| p["type"] == "image_url"))
}

fn answer(v: Value) -> Option<Reply> {
    Some(Reply::ok(v.to_string()))
}

fn analysis() -> Value {
    json!({"detected_language": "en", "normalized_request": "the request", "intent": "do it", "context_items": [],
           "complexity": "complex", "needs_workflow_history": false, "fast_track": false})
}

fn one_task(expected: &str) -> Value {
    json!({"tasks": [{"id": "t1", "objective": "the objective", "required_documents": [], "expected_output": expected}]})
}

fn action(name: &str, params: Value) -> Value {
    let mut p = json!({"prompt": null, "document_ids": [], "query": null, "output_format": null, "title": null});
    for (k, v) in params.as_object().cloned().unwrap_or_default() {
        p[k] = v;
    }
    json!({"action": name, "parameters": p, "reasoning": "because"})
}

fn verdict(complete: bool) -> Value {
    json!({"valid": true, "task_complete": complete,
           "next_action_guidance": if complete { Value::Null } else { json!("go on") }, "reasoning": "ok"})
}

fn section(id: &str, content_type: &str, parts: Vec<Value>, fields: Vec<Value>) -> Value {
    json!({"id": id, "title": null, "content_type": content_type, "generation_hint": "write it",
           "content_part_ids": parts, "content_formats": [], "extraction_fields": fields})
}

fn structure(
    title: &str,
    format: &str,
    filename: &str,
    sections: Vec<Value>,
    fields: &[&str],
    delimiter: Value,
) -> Value {
    json!({"metadata": {"title": title, "language": "en", "output_format": format, "fields": fields, "csv_delimiter": delimiter},
           "documents": [{"id": "doc1", "title": title, "filename": filename, "output_format": null, "sections": sections}]})
}

/// How many executed actions the planner was shown.
fn executed(d: &Value) -> usize {
    d["executed_actions"].as_array().map_or(0, Vec::len)
}

/// One OpenAI-compatible provider per (name, models) on the fake at `base_url`; each model can
/// read images and answer JSON. Output tokens cost 0.00001 each, input is free, so a call
/// reserves at most 0.04.
fn providers(c: &mut Config, base_url: &str, setup: &[(&str, &[(&str, u8)])]) {
    c.providers = setup
        .iter()
        .map(|(name, _)| ProviderConfig {
            name: (*name).into(),
            kind: ProviderKind::OpenaiCompatible,
            base_url: Some(base_url.to_owned()),
            api_key: Some(Secret::new(format!("sk-{name}"))),
            timeout_secs: 30,
            ..Default::default()
        })
        .collect();
    c.models = setup
        .iter()
        .flat_map(|(provider, models)| {
            models.iter().map(move |(model, quality)| ModelConfig {
                name: (*model).into(),
                provider: (*provider).into(),
                upstream_name: None,
                context_tokens: 128_000,
                max_output_tokens: 4000,
                capabilities: vec![Capability::Text, Capability::Json, Capability::Vision],
                price_input_per_mtok: "0".into(),
                price_output_per_mtok: "10".into(),
                quality: *quality,
                speed: 5,
                fallbacks: vec![],
            })
        })
        .collect();
    c.workflows.extraction_wait_secs = 60;
}

type Setup = &'static [(&'static str, &'static [(&'static str, u8)])];

async fn app_with(backend: Backend, fake: &FakeOpenAi, setup: Setup) -> Option<TestApp> {
    let base_url = fake.base_url.clone();
    TestApp::spawn(backend, move |c| providers(c, &base_url, setup)).await
}

async fn upload(app: &TestApp, auth: &Auth, name: &str, bytes: &[u8]) -> String {
    let (status, file) = app.upload(auth, name, bytes).await;
    assert_eq!(status, StatusCode::CREATED, "{file}");
    file["id"].as_str().unwrap().to_owned()
}

async fn submit(app: &TestApp, auth: &Auth, body: Value) -> String {
    let (status, submitted) = app.post("/api/workflows", auth, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{submitted}");
    submitted["workflow_id"].as_str().unwrap().to_owned()
}

async fn download(app: &TestApp, auth: &Auth, done: &Value, extension: &str) -> Vec<u8> {
    let files = done["files"].as_array().unwrap();
    let file = files
        .iter()
        .find(|f| f["file_name"].as_str().unwrap().ends_with(extension))
        .unwrap_or_else(|| panic!("no {extension} among {files:?}"));
    let resp = app.request(Method::GET, file["download_url"].as_str().unwrap(), auth).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.bytes().await.unwrap().to_vec()
}

fn zip_names(bytes: &[u8]) -> Vec<String> {
    let zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip package");
    zip.file_names().map(|n| n.expect("a member name").into_owned()).collect()
}

fn zip_text(bytes: &[u8], name: &str) -> String {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip package");
    let mut s = String::new();
    zip.by_name(name).expect("member").read_to_string(&mut s).expect("utf-8");
    s
}

/// A PNG of `w`×`h` pixels in a colour of its own (so no two are the same image).
fn png(seed: u8, w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([seed.wrapping_mul(23), (x * 255 / w) as u8, (y * 255 / h) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).expect("png");
    out.into_inner()
}

/// A one-page PDF holding nothing but a picture (a scanned receipt).
fn receipt_pdf(n: u8) -> Vec<u8> {
    use docwright_render::model::{Document, Element, Image, Section};
    let doc = Document {
        sections: vec![Section {
            elements: vec![Element::Image(Image {
                bytes: png(n, 120, 160),
                mime_type: Some("image/png".into()),
                ..Default::default()
            })],
            ..Default::default()
        }],
        ..Default::default()
    };
    docwright_render::render_pdf(&doc, &docwright_render::Options::default()).expect("a PDF")
}

fn money(v: &Value) -> Money {
    Money::parse(v.as_str().unwrap_or_else(|| panic!("not a decimal: {v}"))).unwrap()
}

/// The receipt number in `text` ("Migros 2024-03-07 ..." → 7).
fn receipt_number(text: &str) -> Option<u32> {
    text.split("2024-03-").nth(1)?.get(..2)?.parse().ok()
}

/// Use case 1: ten receipt PDFs whose data is in images → one `;`-separated CSV with the
/// columns `date;shop;CHF;VAT;Description`, one typed row per receipt.
async fn receipts_become_one_typed_csv(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    fake.respond_with(|body| {
        let d = data(body);
        match phase(body) {
            Phase::Analysis => answer(analysis()),
            Phase::Planning => answer(one_task("structured_data")),
            Phase::Planner if executed(&d) == 0 => answer(action("context.extract_content", json!({}))),
            Phase::Planner => answer(action("ai.process", json!({"prompt": "Extract expenses", "output_format": "csv"}))),
            Phase::Refinement => answer(verdict(d["action"] == "ai.process")),
            Phase::Intents => answer(json!({"intents": d["documents"].as_array().unwrap().iter().map(|x| json!({
                "document_id": x["document_id"], "intents": ["extract"],
                "extraction_prompt": "Extract structured expense data: date, shop name, amount in CHF, VAT amount, description",
                "reasoning": "a receipt"})).collect::<Vec<_>>()})),
            Phase::ImageReading => {
                // The receipt's data is in its picture: only a vision request can read it.
                if !has_image(body) {
                    return Some(Reply::Status { status: 400, retry_after: None });
                }
                let name = d["file_name"].as_str().unwrap_or_default();
                let n: u32 = name.trim_start_matches("receipt").trim_end_matches(".pdf").parse().ok()?;
                answer(json!({"text": format!("Migros 2024-03-{n:02} total CHF {n}.50 VAT 0.{n:02}"), "description": "a receipt"}))
            }
            Phase::Structure => {
                let ids: Vec<Value> = d["content_parts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|p| p["preview"].as_str().is_some_and(|t| t.starts_with("Migros")))
                    .map(|p| p["id"].clone())
                    .collect();
                let field = |n: &str, t: &str| json!({"field_name": n, "data_type": t, "extraction_hint": "", "content_part_ids": ids});
                let fields = vec![field("date", "date"), field("shop", "string"), field("CHF", "currency"), field("VAT", "number"), field("Description", "string")];
                answer(structure("Expenses", "csv", "expenses.csv", vec![section("data_extraction", "table", ids.clone(), fields)],
                    &["date", "shop", "CHF", "VAT", "Description"], json!(";")))
            }
            Phase::Records => {
                let text = d["content_parts"][0]["text"].as_str().unwrap_or_default();
                let n = receipt_number(text)?;
                answer(json!({"records": [{"date": format!("2024-03-{n:02}"), "shop": "Migros", "CHF": f64::from(n) + 0.5,
                                           "VAT": f64::from(n) / 100.0, "Description": "groceries"}]}))
            }
            _ => None,
        }
    });
    let Some(app) = app_with(backend, &fake, &[("upstream", &[("vision", 5)])]).await else { return };
    let admin = app.sysadmin().await;
    let mut ids = Vec::new();
    for n in 1..=10u8 {
        ids.push(upload(&app, &admin, &format!("receipt{n:02}.pdf"), &receipt_pdf(n)).await);
    }
    let prompt = "combine all expenses documents into a csv file with the columns date;shop;CHF;VAT;Description";
    let id = submit(&app, &admin, json!({"prompt": prompt, "file_ids": ids})).await;
    let done = app.workflow_ended(&admin, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    let csv = String::from_utf8(download(&app, &admin, &done, ".csv").await).unwrap();
    let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(lines[0], "date;shop;CHF;VAT;Description", "{csv}");
    assert_eq!(lines.len(), 11, "one row per receipt: {csv}");
    for n in 1..=10u32 {
        let vat = if n == 10 { "0.1".to_owned() } else { format!("0.{n:02}") };
        let row = format!("2024-03-{n:02};Migros;{n}.50;{vat};groceries");
        assert!(lines.contains(&row.as_str()), "{row} missing from {csv}");
    }
    let vision_calls = fake.received().iter().filter(|r| phase(&r.body) == Phase::ImageReading).count();
    assert_eq!(vision_calls, 10, "each receipt's picture is read once");
    assert!(money(&done["cost"]) > Money::ZERO, "{done}");
}

/// Use case 2: ten images → a PPTX with every image placed on a slide and generated text.
async fn images_become_a_presentation(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    fake.respond_with(|body| {
        let d = data(body);
        match phase(body) {
            Phase::Analysis => answer(analysis()),
            Phase::Planning => answer(one_task("pptx")),
            Phase::Planner => answer(action("ai.generate_document", json!({"prompt": "slides", "output_format": "pptx"}))),
            Phase::Refinement => answer(verdict(true)),
            Phase::Intents => answer(json!({"intents": d["documents"].as_array().unwrap().iter().map(|x| json!({
                "document_id": x["document_id"], "intents": ["extract", "render"],
                "extraction_prompt": "Analyze image content to extract storyline information", "reasoning": "an image"})).collect::<Vec<_>>()})),
            Phase::ImageReading => answer(json!({"text": format!("storyline of {}", d["file_name"].as_str().unwrap_or_default()),
                                                 "description": "a product photo"})),
            Phase::Structure => {
                let parts = d["content_parts"].as_array().unwrap();
                let mut docs: Vec<(String, String)> = parts
                    .iter()
                    .map(|p| (p["file_name"].as_str().unwrap_or_default().to_owned(), p["document_id"].as_str().unwrap_or_default().to_owned()))
                    .collect();
                docs.sort();
                docs.dedup();
                let sections = docs
                    .iter()
                    .enumerate()
                    .map(|(i, (_, doc))| {
                        let ids = parts.iter().filter(|p| p["document_id"] == json!(doc)).map(|p| p["id"].clone()).collect();
                        section(&format!("slide{:02}", i + 1), "image", ids, vec![])
                    })
                    .collect();
                answer(structure("Product", "pptx", "product.pptx", sections, &[], Value::Null))
            }
            Phase::Section => {
                let story = d["content_parts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["text"].as_str())
                    .find(|t| t.starts_with("storyline of"))
                    .unwrap_or("no storyline")
                    .to_owned();
                let image = d["images"][0]["part_id"].clone();
                answer(json!({"elements": [{"type": "paragraph", "text": story}, {"type": "image", "part_id": image, "caption": null}]}))
            }
            _ => None,
        }
    });
    let Some(app) = app_with(backend, &fake, &[("upstream", &[("vision", 5)])]).await else { return };
    let admin = app.sysadmin().await;
    let mut ids = Vec::new();
    for n in 1..=10u8 {
        ids.push(upload(&app, &admin, &format!("image{n:02}.png"), &png(n, 96, 64)).await);
    }
    let prompt = "make a powerpoint slideshow for the customer about the product with the images integrated";
    let id = submit(&app, &admin, json!({"prompt": prompt, "file_ids": ids})).await;
    let done = app.workflow_ended(&admin, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    let pptx = download(&app, &admin, &done, ".pptx").await;
    let names = zip_names(&pptx);
    let media = names.iter().filter(|n| n.starts_with("ppt/media/")).count();
    assert!(media >= 10, "every image placed: {names:?}");
    let slides: Vec<&String> =
        names.iter().filter(|n| n.starts_with("ppt/slides/slide") && n.ends_with(".xml")).collect();
    assert!(slides.len() >= 10, "a slide per image at least: {slides:?}");
    let all_text: String = slides.iter().map(|s| zip_text(&pptx, s)).collect();
    for n in 1..=10 {
        assert!(all_text.contains(&format!("storyline of image{n:02}.png")), "slide text of image {n}");
    }
}

/// Use case 3: no attachments; `context.search_documents` finds the documents in the caller's
/// projects and an overview DOCX is written from them.
async fn project_documents_become_an_overview(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    fake.respond_with(|body| {
        let d = data(body);
        match phase(body) {
            Phase::Analysis => answer(analysis()),
            Phase::Planning => answer(one_task("structured_overview")),
            Phase::Planner if executed(&d) == 0 => {
                answer(action("context.search_documents", json!({"query": "price"})))
            }
            Phase::Planner if executed(&d) == 1 => {
                let found: Vec<Value> = d["available_documents"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|x| x["origin"] == "found")
                    .map(|x| x["id"].clone())
                    .collect();
                answer(action(
                    "ai.generate_document",
                    json!({"prompt": "overview by folder", "document_ids": found, "output_format": "docx"}),
                ))
            }
            Phase::Planner => answer(action("complete", json!({}))),
            Phase::Refinement => answer(verdict(d["action"] == "ai.generate_document")),
            Phase::Intents => answer(json!({"intents": []})),
            Phase::Structure => {
                let parts: Vec<Value> =
                    d["content_parts"].as_array().unwrap().iter().map(|p| p["id"].clone()).collect();
                answer(structure(
                    "Overview",
                    "docx",
                    "overview.docx",
                    vec![section("offers", "mixed", parts, vec![])],
                    &[],
                    Value::Null,
                ))
            }
            Phase::Section => {
                // The section sees the found documents' text.
                let texts: Vec<String> = d["content_parts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["text"].as_str())
                    .map(str::to_owned)
                    .collect();
                let items: Vec<String> = texts.iter().filter(|t| t.contains("price")).cloned().collect();
                answer(json!({"elements": [{"type": "heading", "level": 2, "text": "Folder Offers"},
                                           {"type": "list", "ordered": false, "items": items}]}))
            }
            _ => None,
        }
    });
    let Some(app) = app_with(backend, &fake, &[("upstream", &[("vision", 5)])]).await else { return };
    let admin = app.sysadmin().await;
    let (status, client) = app.post("/projects/clients", &admin, json!({"name": "ACME"})).await;
    assert_eq!(status, StatusCode::CREATED, "{client}");
    let (status, project) = app.post("/projects", &admin, json!({"client_id": client["id"], "name": "Bid"})).await;
    assert_eq!(status, StatusCode::CREATED, "{project}");
    let pid = project["id"].as_str().unwrap().to_owned();
    let (status, folder) = app.post(&format!("/projects/{pid}/folders"), &admin, json!({"name": "Offers"})).await;
    assert_eq!(status, StatusCode::CREATED, "{folder}");
    let mut files = Vec::new();
    for (name, text) in
        [("offer-a.txt", "Offer A: the price is 10 CHF."), ("offer-b.txt", "Offer B: the price is 20 CHF.")]
    {
        let id = upload(&app, &admin, name, text.as_bytes()).await;
        let (status, doc) = app
            .post(&format!("/projects/{pid}/documents"), &admin, json!({"file_id": id, "folder_id": folder["id"]}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{doc}");
        files.push((id, doc["id"].as_str().unwrap().to_owned()));
    }
    // Searching needs the text: wait until both are extracted.
    let deadline = Instant::now() + Duration::from_secs(60);
    for (id, _) in &files {
        loop {
            let (_, f) = app.get(&format!("/files/{id}"), &admin).await;
            if f["extraction_status"] == "done" {
                break;
            }
            assert!(Instant::now() < deadline, "not extracted: {f}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let prompt = "make me an overview about all folders and the summary of documents stored in each folder";
    let id = submit(&app, &admin, json!({"prompt": prompt, "output_format": "docx"})).await;
    let done = app.workflow_ended(&admin, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    let docx = download(&app, &admin, &done, ".docx").await;
    let xml = zip_text(&docx, "word/document.xml");
    assert!(xml.contains("Folder Offers"), "{xml}");
    assert!(xml.contains("Offer A: the price is 10 CHF.") && xml.contains("Offer B: the price is 20 CHF."), "{xml}");
    let planner_calls = fake.received().iter().filter(|r| phase(&r.body) == Phase::Planner).count();
    assert!(planner_calls >= 2, "search, then generate");
    // The overview is a result of the documents it was made from.
    for (_, doc) in &files {
        let (status, results) = app.get(&format!("/projects/documents/{doc}/results"), &admin).await;
        assert_eq!(status, StatusCode::OK, "{results}");
        assert!(results.to_string().contains("overview"), "{results}");
    }
}

/// Answers every phase of a one-document Markdown workflow with a single section.
fn simple_script(body: &Value) -> Option<Reply> {
    let d = data(body);
    match phase(body) {
        Phase::Analysis => answer(analysis()),
        Phase::Planning => answer(one_task("docx")),
        Phase::Planner if executed(&d) == 0 => {
            answer(action("ai.generate_document", json!({"prompt": "report", "output_format": "md"})))
        }
        Phase::Planner => answer(action("complete", json!({}))),
        Phase::Refinement => answer(verdict(true)),
        Phase::Intents => answer(json!({"intents": []})),
        Phase::Structure => answer(structure(
            "Report",
            "md",
            "report.md",
            vec![section("s1", "paragraph", vec![], vec![])],
            &[],
            Value::Null,
        )),
        Phase::Section => answer(json!({"elements": [{"type": "paragraph", "text": "the report's text"}]})),
        _ => None,
    }
}

/// A model that answers malformed JSON is fallen back from; `allowed_providers` keeps the other
/// provider out entirely (it is never called).
async fn a_malformed_answer_falls_back_and_allowed_providers_are_kept(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    fake.respond_with(|body| {
        // The preferred model answers the analysis with text that is no JSON at all.
        if body["model"] == "primary" && phase(body) == Phase::Analysis {
            return Some(Reply::ok("Sure! Here is what I think: {not json"));
        }
        simple_script(body)
    });
    let Some(app) = app_with(backend, &fake, &[("upstream", &[("primary", 9)]), ("other", &[("secondary", 5)])]).await
    else {
        return;
    };
    let admin = app.sysadmin().await;
    let id = submit(&app, &admin, json!({"prompt": "write a report", "output_format": "md"})).await;
    let done = app.workflow_ended(&admin, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    let md = String::from_utf8(download(&app, &admin, &done, ".md").await).unwrap();
    assert!(md.contains("the report's text"), "{md}");
    let analysed_by: Vec<String> = fake
        .received()
        .iter()
        .filter(|r| phase(&r.body) == Phase::Analysis)
        .map(|r| r.body["model"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        analysed_by.contains(&"primary".to_owned()) && analysed_by.last().map(String::as_str) == Some("secondary"),
        "the malformed answer was fallen back from: {analysed_by:?}"
    );

    // Only `other` allowed: the preferred model's provider never sees a call.
    let before = fake.received().len();
    let id = submit(
        &app,
        &admin,
        json!({"prompt": "write a report", "output_format": "md", "allowed_providers": ["other"]}),
    )
    .await;
    let done = app.workflow_ended(&admin, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    let later = &fake.received()[before..];
    assert!(!later.is_empty());
    assert!(
        later.iter().all(|r| r.body["model"] == "secondary" && r.authorization.as_deref() == Some("Bearer sk-other")),
        "only the allowed provider was called"
    );
    let (status, body) =
        app.post("/api/workflows", &admin, json!({"prompt": "x", "allowed_providers": ["nowhere"]})).await;
    assert!(status == StatusCode::BAD_REQUEST || status == StatusCode::ACCEPTED, "{body}");
    if status == StatusCode::ACCEPTED {
        let done = app.workflow_ended(&admin, body["workflow_id"].as_str().unwrap()).await;
        assert_eq!(done["status"], "failed", "no provider may answer: {done}");
    }
}

/// A tenant without money: the workflow fails with `insufficient_balance`, nothing is charged
/// and nothing reaches the provider. With money, a workflow cancelled while its section call
/// hangs ends `cancelled`, and once the call is released nothing stays reserved.
async fn a_budget_refusal_and_a_cancel_keep_the_books_exact(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let hang = Arc::new(AtomicBool::new(true));
    let hanging = hang.clone();
    fake.respond_with(move |body| {
        if phase(body) == Phase::Section && hanging.load(Ordering::SeqCst) {
            return Some(Reply::After(Duration::from_secs(3), Box::new(simple_script(body)?)));
        }
        simple_script(body)
    });
    let Some(app) = app_with(backend, &fake, &[("upstream", &[("vision", 5)])]).await else { return };
    let sys = app.sysadmin().await;
    let shop = app.prepaid_tenant("Shop").await;
    let alice = app.user_in(&shop, "user").await;

    let id = submit(&app, &alice.auth, json!({"prompt": "write a report", "output_format": "md"})).await;
    let done = app.workflow_ended(&alice.auth, &id).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["error"]["code"], "insufficient_balance", "{done}");
    assert!(fake.received().is_empty(), "a refused call never reaches the provider");
    assert_eq!(money(&done["cost"]), Money::ZERO, "{done}");

    let (status, body) =
        app.post(&format!("/api/admin/billing/tenants/{shop}/credit"), &sys, json!({"amount": "10.00"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = submit(&app, &alice.auth, json!({"prompt": "write a report", "output_format": "md"})).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !fake.received().iter().any(|r| phase(&r.body) == Phase::Section) {
        assert!(Instant::now() < deadline, "the section was never asked for");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = app.post(&format!("/api/workflows/{id}/cancel"), &alice.auth, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let done = app.workflow_ended(&alice.auth, &id).await;
    assert_eq!(done["status"], "cancelled", "{done}");
    assert!(done["files"].as_array().is_none_or(Vec::is_empty), "a cancelled run renders nothing: {done}");
    hang.store(false, Ordering::SeqCst);

    // The books: every call that finished is charged once, to this workflow; nothing stays held.
    let tenant = sys.in_tenant(&shop);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, accounts) = app.get(&format!("/api/admin/billing/tenants/{shop}/accounts"), &tenant).await;
        if accounts.as_array().unwrap().iter().all(|a| money(&a["reserved"]) == Money::ZERO) {
            break;
        }
        assert!(Instant::now() < deadline, "money stays reserved: {accounts}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, v) = app.get("/api/admin/billing/verify", &sys).await;
    assert_eq!(v["ok"], true, "{v}");
    let (_, rows) = app.get(&format!("/api/admin/billing/tenants/{shop}/transactions"), &tenant).await;
    let debits: Vec<&Value> = rows.as_array().unwrap().iter().filter(|r| r["kind"] == "debit").collect();
    assert!(!debits.is_empty(), "{rows}");
    assert!(debits.iter().all(|d| d["reference_type"] == "workflow" && d["reference_id"] == json!(id)), "{rows}");
    let charged: i64 = debits.iter().map(|d| money(&d["amount"]).micros()).sum();
    let (_, b) = app.get("/api/billing/balance", &alice.auth).await;
    assert_eq!(money(&b["balance"]).micros(), 10_000_000 + charged, "{b}");
}
