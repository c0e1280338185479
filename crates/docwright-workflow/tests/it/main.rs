//! The whole pipeline against a scripted AI and in-memory ports: the seed's use cases, failures,
//! cancellation, replay from checkpoints and the trace tree.

// Test code fails loudly on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::Read as _;
use std::time::Duration;

use docwright_workflow::testing::{Harness, ScriptedAi, image_part, text_part, tiny_png};
use docwright_workflow::{AiCall, AiError, DocumentInfo, Event, Input, LogOutcome, Settings, WorkflowInput, run};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// The JSON data message of a call.
fn data(call: &AiCall) -> Value {
    match call.inputs.first() {
        Some(Input::Text(t)) => serde_json::from_str(t).expect("the user message is JSON"),
        _ => Value::Null,
    }
}

fn input(id: &str, prompt: &str, docs: Vec<DocumentInfo>, format: Option<&str>) -> WorkflowInput {
    WorkflowInput {
        workflow_id: id.to_owned(),
        prompt: prompt.to_owned(),
        documents: docs,
        output_format: format.map(str::to_owned),
        title: None,
        language: Some("en".to_owned()),
        debug_trace: true,
        can_search_projects: true,
        ..WorkflowInput::default()
    }
}

fn doc(id: &str, name: &str, mime: &str) -> DocumentInfo {
    DocumentInfo { id: id.to_owned(), file_name: name.to_owned(), mime_type: mime.to_owned(), file_size: 100 }
}

fn analysis(fast: bool) -> Value {
    json!({
        "detected_language": "en", "normalized_request": "the request", "intent": "do it",
        "context_items": [], "complexity": if fast { "simple" } else { "complex" },
        "needs_workflow_history": false, "fast_track": fast,
    })
}

fn plan(docs: &[&str], expected: &str) -> Value {
    json!({"tasks": [{"id": "t1", "objective": "the objective", "required_documents": docs, "expected_output": expected}]})
}

fn action(name: &str, params: Value) -> Value {
    let mut p = json!({"prompt": null, "document_ids": [], "query": null, "output_format": null, "title": null});
    for (k, v) in params.as_object().cloned().unwrap_or_default() {
        p[k] = v;
    }
    json!({"action": name, "parameters": p, "reasoning": "because"})
}

fn verdict(complete: bool) -> Value {
    json!({"valid": true, "task_complete": complete, "next_action_guidance": if complete { Value::Null } else { json!("go on") }, "reasoning": "ok"})
}

fn receipt_docs(h: &Harness, n: usize) -> Vec<DocumentInfo> {
    (1..=n)
        .map(|i| {
            let info = doc(&format!("r{i:02}"), &format!("receipt{i:02}.pdf"), "application/pdf");
            let data = HashMap::from([("img1".to_owned(), tiny_png())]);
            h.documents.add(info.clone(), vec![image_part("img1", "", Some(1))], data, b"%PDF-1.4".to_vec());
            info
        })
        .collect()
}

fn unzip_names(bytes: &[u8]) -> Vec<String> {
    let zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip package");
    zip.file_names().map(|n| n.expect("a member name").into_owned()).collect()
}

fn unzip_text(bytes: &[u8], name: &str) -> String {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip package");
    let mut s = String::new();
    zip.by_name(name).expect("member").read_to_string(&mut s).expect("utf-8");
    s
}

/// Use case 1: ten receipt PDFs whose data is in images → one `;`-separated CSV, one typed row
/// per receipt, in document order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_become_one_csv() {
    let ai = ScriptedAi::new(|call| {
        let k = call.key.as_str();
        let d = data(call);
        Ok(match k {
            "input_analysis" => analysis(false),
            "task_planning" => plan(&[], "structured_data"),
            "task_t1_step_1_planner" => action("context.extract_content", json!({})),
            "task_t1_step_2_planner" => {
                action("ai.process", json!({"prompt": "Extract expenses", "output_format": "csv"}))
            }
            k if k.ends_with("_refinement") => verdict(k.contains("step_2")),
            k if k.ends_with("_intents") => json!({"intents": d["documents"].as_array().unwrap().iter().map(|x| json!({
                "document_id": x["document_id"], "intents": ["extract"], "extraction_prompt": "Extract structured expense data: date, shop name, amount in CHF, VAT amount, description", "reasoning": "receipt"
            })).collect::<Vec<_>>()}),
            k if k.contains("_extract_") => {
                assert!(call.needs_vision(), "receipt images go to a vision model");
                let n: u32 = k.split("_extract_r").nth(1).unwrap()[..2].parse().unwrap();
                json!({"text": format!("Migros 2024-03-{n:02} total CHF {n}.50 VAT 0.{n:02}"), "description": "a receipt"})
            }
            k if k.ends_with("_structure") => {
                let ids: Vec<Value> = d["content_parts"].as_array().unwrap().iter().map(|p| p["id"].clone()).collect();
                assert_eq!(ids.len(), 10, "one extracted part per receipt");
                let field = |n: &str, t: &str| json!({"field_name": n, "data_type": t, "extraction_hint": "", "content_part_ids": ids});
                json!({
                    "metadata": {"title": "Expenses Overview", "language": "en", "output_format": "csv", "fields": ["date", "shop", "CHF", "VAT", "Description"], "csv_delimiter": ";"},
                    "documents": [{"id": "expenses_csv", "title": "Expenses CSV", "filename": "expenses.csv", "output_format": "csv", "sections": [{
                        "id": "data_extraction", "title": null, "content_type": "table", "generation_hint": "Extract structured expense data from all content parts",
                        "content_part_ids": ids, "content_formats": [],
                        "extraction_fields": [field("date", "date"), field("shop", "string"), field("CHF", "currency"), field("VAT", "number"), field("Description", "string")],
                    }]}],
                })
            }
            k if k.contains("_records_") => {
                let text = d["content_parts"][0]["text"].as_str().unwrap().to_owned();
                let n: u32 = text.split("2024-03-").nth(1).unwrap()[..2].parse().unwrap();
                json!({"records": [{"date": format!("2024-03-{n:02}"), "shop": "Migros", "CHF": f64::from(n) + 0.5, "VAT": f64::from(n) / 100.0, "Description": "groceries"}]})
            }
            other => panic!("unexpected call {other}"),
        })
    });
    let h = Harness::new(ai);
    let docs = receipt_docs(&h, 10);
    let wf = input(
        "wf1",
        "combine all expenses documents into a csv file with the columns date;shop;CHF;VAT;Description",
        docs,
        None,
    );
    let result =
        run(&wf, &Settings::default(), &h.ports(), &CancellationToken::new()).await.expect("the workflow runs");
    let files = h.results.files();
    assert_eq!(files.len(), 1, "one CSV: {:?}", files.iter().map(|f| &f.0.filename).collect::<Vec<_>>());
    let (csv, sources) = &files[0];
    assert_eq!(csv.filename, "expenses.csv");
    assert_eq!(sources.len(), 10);
    let text = String::from_utf8(csv.bytes.clone()).unwrap();
    let lines: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(lines[0], "date;shop;CHF;VAT;Description");
    assert_eq!(lines.len(), 11, "{text}");
    assert_eq!(lines[1], "2024-03-01;Migros;1.50;0.01;groceries");
    assert_eq!(lines[10], "2024-03-10;Migros;10.50;0.1;groceries");
    assert_eq!(result.files.len(), 1);
    assert!(result.cost.micros() > 0);
    let names = h.trace.debug_names();
    for seed_name in [
        "user_input_analysis_prompt",
        "user_input_analysis_response",
        "document_intent_analysis_prompt",
        "document_intent_analysis_response",
        "document_intent_analysis_result",
        "content_extraction_prompt_r01",
        "content_extraction_result",
        "document_generation_structure_prompt",
        "document_generation_structure_response",
        "section_generation_prompt_data_extraction",
        "section_generation_response_data_extraction",
        "document_generation_response",
    ] {
        assert!(names.iter().any(|n| n == seed_name), "debug file {seed_name} missing from {names:?}");
    }
}

/// Use case 2: ten images → a PPTX with every image on a slide and text from the storyline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_become_a_presentation() {
    let ai = ScriptedAi::new(|call| {
        let k = call.key.as_str();
        let d = data(call);
        Ok(match k {
            "input_analysis" => analysis(false),
            "task_planning" => plan(&[], "pptx"),
            "task_t1_step_1_planner" => {
                action("ai.generate_document", json!({"prompt": "slides", "output_format": "pptx"}))
            }
            k if k.ends_with("_refinement") => verdict(true),
            k if k.ends_with("_intents") => json!({"intents": d["documents"].as_array().unwrap().iter().map(|x| json!({
                "document_id": x["document_id"], "intents": ["extract", "render"], "extraction_prompt": "Analyze image content to extract storyline information", "reasoning": "image"
            })).collect::<Vec<_>>()}),
            k if k.contains("_extract_") => {
                json!({"text": format!("storyline of {}", d["file_name"].as_str().unwrap()), "description": "a product photo"})
            }
            k if k.ends_with("_structure") => {
                let parts = d["content_parts"].as_array().unwrap();
                let sections: Vec<Value> = (1..=10).map(|i| {
                    let ids: Vec<Value> = parts.iter().filter(|p| p["document_id"] == json!(format!("img{i:02}"))).map(|p| p["id"].clone()).collect();
                    assert_eq!(ids.len(), 2, "object and extracted part of img{i:02}");
                    json!({"id": format!("slide{i:02}"), "title": format!("Slide {i}"), "content_type": "image", "generation_hint": "tell the story",
                           "content_part_ids": ids, "content_formats": [], "extraction_fields": []})
                }).collect();
                json!({"metadata": {"title": "Product", "language": "en", "output_format": "pptx", "fields": [], "csv_delimiter": null},
                       "documents": [{"id": "deck", "title": "Product story", "filename": "product.pptx", "output_format": null, "sections": sections}]})
            }
            k if k.contains("_section_") => {
                let story = d["content_parts"][0]["text"].as_str().unwrap_or("").to_owned();
                assert!(story.starts_with("storyline of image"), "the section sees the extracted storyline: {story}");
                json!({"elements": [{"type": "paragraph", "text": story}]})
            }
            other => panic!("unexpected call {other}"),
        })
    });
    let h = Harness::new(ai);
    let docs: Vec<DocumentInfo> = (1..=10)
        .map(|i| {
            let info = doc(&format!("img{i:02}"), &format!("image{i:02}.png"), "image/png");
            h.documents.add(
                info.clone(),
                vec![image_part("p0", "", None)],
                HashMap::from([("p0".to_owned(), tiny_png())]),
                tiny_png(),
            );
            info
        })
        .collect();
    let wf = input(
        "wf2",
        "make a powerpoint slideshow for the customer about the product with the images integrated",
        docs,
        None,
    );
    run(&wf, &Settings::default(), &h.ports(), &CancellationToken::new()).await.expect("the workflow runs");
    let files = h.results.files();
    assert_eq!(files.len(), 1);
    let pptx = &files[0].0;
    assert_eq!(pptx.filename, "product.pptx");
    let names = unzip_names(&pptx.bytes);
    let media = names.iter().filter(|n| n.starts_with("ppt/media/")).count();
    assert_eq!(media, 10, "every image placed: {names:?}");
    let slides: Vec<&String> =
        names.iter().filter(|n| n.starts_with("ppt/slides/slide") && n.ends_with(".xml")).collect();
    assert!(slides.len() >= 10, "a slide per image at least: {slides:?}");
    let all_text: String = slides.iter().map(|s| unzip_text(&pptx.bytes, s)).collect();
    assert!(all_text.contains("storyline of image07.png"));
}

/// Use case 3: no attachments; documents found in the projects and summarized into a DOCX
/// overview grouped by folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overview_of_project_documents() {
    let ai = ScriptedAi::new(|call| {
        let k = call.key.as_str();
        let d = data(call);
        Ok(match k {
            "input_analysis" => analysis(false),
            "task_planning" => json!({"tasks": [
                {"id": "t1", "objective": "list the folders", "required_documents": [], "expected_output": "structured_overview"},
                {"id": "t2", "objective": "summarise documents per folder", "required_documents": [], "expected_output": "summary_document"},
            ]}),
            "task_t1_step_1_planner" => action("context.search_documents", json!({"query": ""})),
            "task_t2_step_1_planner" => {
                let found: Vec<Value> = d["available_documents"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|x| x["origin"] == json!("found"))
                    .map(|x| x["id"].clone())
                    .collect();
                assert_eq!(found.len(), 3, "the search made the documents available");
                assert!(d["task_history"][0]["result"].as_str().unwrap().contains("Offers"));
                action(
                    "ai.generate_document",
                    json!({"prompt": "overview by folder", "document_ids": found, "output_format": "docx"}),
                )
            }
            k if k.ends_with("_refinement") => verdict(true),
            k if k.ends_with("_intents") => json!({"intents": []}),
            k if k.ends_with("_structure") => {
                let parts: Vec<Value> =
                    d["content_parts"].as_array().unwrap().iter().map(|p| p["id"].clone()).collect();
                json!({"metadata": {"title": "Overview", "language": "en", "output_format": "docx", "fields": [], "csv_delimiter": null},
                       "documents": [{"id": "overview", "title": "Overview", "filename": "overview.docx", "output_format": null, "sections": [
                           {"id": "offers", "title": "Offers", "content_type": "mixed", "generation_hint": "summaries", "content_part_ids": parts, "content_formats": [], "extraction_fields": []}]}]})
            }
            k if k.contains("_section_") => json!({"elements": [
                {"type": "heading", "level": 2, "text": "Folder Offers"},
                {"type": "list", "ordered": false, "items": ["offer-a.pdf: price 10", "offer-b.pdf: price 20"]},
            ]}),
            other => panic!("unexpected call {other}"),
        })
    });
    let h = Harness::new(ai);
    for (id, name, folder) in [
        ("a", "offer-a.pdf", "ACME / Bid / Offers"),
        ("b", "offer-b.pdf", "ACME / Bid / Offers"),
        ("c", "minutes.pdf", "ACME / Bid / Meetings"),
    ] {
        h.documents.add(
            doc(id, name, "application/pdf"),
            vec![text_part("p1", &format!("text of {name}"), Some(1))],
            HashMap::new(),
            Vec::new(),
        );
        h.documents.file_under(id, folder);
    }
    let wf = input(
        "wf3",
        "make me an overview about all folders and the summary of documents stored in each folder",
        vec![],
        Some("docx"),
    );
    run(&wf, &Settings::default(), &h.ports(), &CancellationToken::new()).await.expect("the workflow runs");
    let files = h.results.files();
    assert_eq!(files.len(), 1);
    let (docx, sources) = &files[0];
    assert_eq!(docx.filename, "overview.docx");
    assert_eq!(sources, &vec!["a".to_owned(), "b".to_owned(), "c".to_owned()], "found documents are the sources");
    let xml = unzip_text(&docx.bytes, "word/document.xml");
    assert!(xml.contains("Folder Offers") && xml.contains("offer-b.pdf: price 20"));
}

/// A section that fails renders as an error element; the others render.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_section_is_a_visible_error() {
    let ai = ScriptedAi::new(|call| {
        let k = call.key.as_str();
        match k {
            "input_analysis" => Ok(analysis(false)),
            "task_planning" => Ok(plan(&["d1"], "docx")),
            "task_t1_step_1_planner" => {
                Ok(action("ai.generate_document", json!({"prompt": "report", "output_format": "md"})))
            }
            k if k.ends_with("_refinement") => Ok(verdict(true)),
            k if k.ends_with("_intents") => Ok(json!({"intents": []})),
            k if k.ends_with("_structure") => Ok(
                json!({"metadata": {"title": "R", "language": "en", "output_format": "md", "fields": [], "csv_delimiter": null},
                "documents": [{"id": "r", "title": "Report", "filename": "report.md", "output_format": null, "sections": [
                    {"id": "s1", "title": "One", "content_type": "paragraph", "generation_hint": "", "content_part_ids": [], "content_formats": [], "extraction_fields": []},
                    {"id": "s2", "title": "Two", "content_type": "paragraph", "generation_hint": "", "content_part_ids": [], "content_formats": [], "extraction_fields": []},
                    {"id": "s3", "title": "Three", "content_type": "paragraph", "generation_hint": "", "content_part_ids": [], "content_formats": [], "extraction_fields": []}]}]}),
            ),
            k if k.ends_with("_section_r_s2") => {
                Err(AiError::Failed("every candidate failed: malformed JSON".to_owned()))
            }
            k if k.contains("_section_r_") => {
                Ok(json!({"elements": [{"type": "paragraph", "text": format!("text of {}", &k[k.len() - 2..])}]}))
            }
            other => panic!("unexpected call {other}"),
        }
    });
    let h = Harness::new(ai);
    h.documents.add(
        doc("d1", "notes.txt", "text/plain"),
        vec![text_part("p1", "notes", None)],
        HashMap::new(),
        Vec::new(),
    );
    let wf = input("wf4", "write a report", vec![doc("d1", "notes.txt", "text/plain")], None);
    run(&wf, &Settings::default(), &h.ports(), &CancellationToken::new()).await.expect("the workflow still succeeds");
    let files = h.results.files();
    let md = String::from_utf8(files[0].0.bytes.clone()).unwrap();
    assert!(md.contains("text of s1") && md.contains("text of s3"), "{md}");
    assert!(md.contains("Error generating section s2"), "{md}");
    let done: Vec<(String, bool)> = h
        .trace
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::SectionDone { section_id, ok, .. } => Some((section_id, ok)),
            _ => None,
        })
        .collect();
    assert!(done.contains(&("s2".to_owned(), false)) && done.contains(&("s1".to_owned(), true)));
}

/// The fast track answers in one call and renders the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simple_request_takes_the_fast_track() {
    let ai = ScriptedAi::new(|call| match call.key.as_str() {
        "input_analysis" => Ok(analysis(true)),
        "fast_track" => {
            Ok(json!({"title": "Answer", "answer": "Bern is the federal city.\n\nIt has 140,000 inhabitants."}))
        }
        other => panic!("unexpected call {other}"),
    });
    let h = Harness::new(ai);
    let wf = input("wf5", "what is the capital of Switzerland?", vec![], None);
    let result = run(&wf, &Settings::default(), &h.ports(), &CancellationToken::new()).await.unwrap();
    assert_eq!(h.ai.keys(), ["input_analysis", "fast_track"]);
    assert!(result.answer.starts_with("Bern"));
    let files = h.results.files();
    assert_eq!(files[0].0.mime_type, "text/plain");
    assert!(String::from_utf8_lossy(&files[0].0.bytes).contains("140,000 inhabitants"));
}

/// A refused call for budget fails the workflow with `insufficient_balance`; what was stored
/// before stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_refusal_stops_the_run_and_keeps_what_was_done() {
    let ai = ScriptedAi::new(|call| {
        let k = call.key.as_str();
        match k {
            "input_analysis" => Ok(analysis(false)),
            "task_planning" => Ok(json!({"tasks": [
                {"id": "t1", "objective": "a", "required_documents": [], "expected_output": "txt"},
                {"id": "t2", "objective": "b", "required_documents": [], "expected_output": "txt"}]})),
            "task_t1_step_1_planner" => {
                Ok(action("ai.generate_document", json!({"prompt": "first", "output_format": "txt"})))
            }
            "task_t2_step_1_planner" => {
                Err(AiError::InsufficientBalance("insufficient balance: 0.00 CHF available".to_owned()))
            }
            k if k.ends_with("_refinement") => Ok(verdict(true)),
            k if k.ends_with("_structure") => Ok(
                json!({"metadata": {"title": "A", "language": "en", "output_format": "txt", "fields": [], "csv_delimiter": null},
                "documents": [{"id": "a", "title": "A", "filename": "a.txt", "output_format": null, "sections": [
                    {"id": "s", "title": null, "content_type": "paragraph", "generation_hint": "", "content_part_ids": [], "content_formats": [], "extraction_fields": []}]}]}),
            ),
            k if k.contains("_section_") => Ok(json!({"elements": [{"type": "paragraph", "text": "first result"}]})),
            other => panic!("unexpected call {other}"),
        }
    });
    let h = Harness::new(ai);
    let wf = input("wf6", "two things", vec![], None);
    let err = run(&wf, &Settings::default(), &h.ports(), &CancellationToken::new()).await.unwrap_err();
    assert_eq!(err.code(), "insufficient_balance");
    assert_eq!(h.results.files().len(), 1, "the first task's result stays");
}

/// Cancelling stops a run cooperatively: the call in flight finishes (and is paid for), no
/// call starts after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_running_workflow() {
    let ai = ScriptedAi::new(|_| Ok(analysis(false))).with_latency(Duration::from_millis(300));
    let h = Harness::new(ai);
    let wf = input("wf7", "anything", vec![], None);
    let cancel = CancellationToken::new();
    let stopper = cancel.clone();
    let (settings, ports) = (Settings::default(), h.ports());
    let (result, ()) = tokio::join!(run(&wf, &settings, &ports, &cancel), async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        stopper.cancel();
    });
    assert_eq!(result.unwrap_err().code(), "cancelled");
    assert_eq!(h.ai.keys(), ["input_analysis"], "the call in flight finished; none followed");
    assert_eq!(h.checkpoints.len(), 1, "and its answer was kept");
    assert!(h.results.files().is_empty());
}

fn simple_report_ai() -> ScriptedAi {
    ScriptedAi::new(|call| {
        let k = call.key.as_str();
        Ok(match k {
            "input_analysis" => analysis(false),
            "task_planning" => plan(&[], "docx"),
            "task_t1_step_1_planner" => action("ai.generate_document", json!({"prompt": "report"})),
            k if k.ends_with("_refinement") => verdict(true),
            k if k.ends_with("_intents") => json!({"intents": []}),
            k if k.ends_with("_structure") => {
                json!({"metadata": {"title": "R", "language": "en", "output_format": "docx", "fields": [], "csv_delimiter": null},
                "documents": [{"id": "r", "title": "Report", "filename": "report.docx", "output_format": null, "sections": [
                    {"id": "a", "title": "A", "content_type": "paragraph", "generation_hint": "", "content_part_ids": [], "content_formats": [], "extraction_fields": []},
                    {"id": "b", "title": "B", "content_type": "paragraph", "generation_hint": "", "content_part_ids": [], "content_formats": [], "extraction_fields": []}]}]})
            }
            k if k.contains("_section_") => json!({"elements": [{"type": "paragraph", "text": "body"}]}),
            other => panic!("unexpected call {other}"),
        })
    })
}

/// A run taken up again replays every answer from its checkpoints: no call is made twice, and
/// the result is stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_replays_its_checkpoints() {
    let h = Harness::new(simple_report_ai());
    let wf = input("wf8", "a report", vec![], Some("docx"));
    let first = run(&wf, &Settings::default(), &h.ports(), &CancellationToken::new()).await.unwrap();
    let calls = h.ai.keys().len();
    assert_eq!(calls, h.checkpoints.len());
    let second = run(&wf, &Settings::default(), &h.ports(), &CancellationToken::new()).await.unwrap();
    assert_eq!(h.ai.keys().len(), calls, "no new call on the re-run");
    assert_eq!(h.results.files().len(), 1, "the result is stored once");
    assert_eq!(first.files, second.files);
    assert_eq!(first.cost, second.cost);
    let replayed = h.trace.log().iter().filter(|e| e.ai.as_ref().is_some_and(|a| a.replayed)).count();
    assert_eq!(replayed, calls);
}

/// The trace is one tree: every node's parent exists, AI calls are leaves, costs roll up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trace_is_one_tree_with_costs() {
    let h = Harness::new(simple_report_ai());
    let notes = doc("n1", "notes.txt", "text/plain");
    h.documents.add(notes.clone(), vec![text_part("p1", "notes", None)], HashMap::new(), Vec::new());
    let wf = input("wf9", "a report", vec![notes], Some("docx"));
    let result = run(&wf, &Settings::default(), &h.ports(), &CancellationToken::new()).await.unwrap();
    let log = h.trace.log();
    let ids: Vec<&str> = log.iter().map(|e| e.id.as_str()).collect();
    let roots: Vec<&str> = log.iter().filter(|e| e.parent_id.is_none()).map(|e| e.id.as_str()).collect();
    assert_eq!(roots, ["workflow_wf9"]);
    for e in &log {
        if let Some(p) = &e.parent_id {
            assert!(ids.contains(&p.as_str()), "{} has an unknown parent {p}", e.id);
        }
        assert_eq!(e.outcome, Some(LogOutcome::Ok), "{} did not end well", e.id);
        assert!(e.finished_at_ms.unwrap() >= e.started_at_ms);
        if e.ai.is_some() {
            assert!(!log.iter().any(|c| c.parent_id.as_deref() == Some(e.id.as_str())), "AI calls are leaves");
        }
    }
    let root = log.iter().find(|e| e.id == "workflow_wf9").unwrap();
    let leaves: i64 = log.iter().filter(|e| e.ai.is_some()).map(|e| e.cost.micros()).sum();
    assert_eq!(root.cost.micros(), leaves);
    assert_eq!(result.cost.micros(), leaves);
    for seed_op in
        ["_intent_analysis", "_content_extraction", "_structure_generation", "_structure_filling", "_rendering"]
    {
        assert!(
            log.iter().any(|e| e.id.starts_with("ai_content_wf9_") && e.id.ends_with(seed_op)),
            "no {seed_op} node"
        );
    }
    let section = log.iter().find(|e| e.id.contains("_structure_filling_section_a")).expect("a section node");
    assert_eq!((section.title.as_str(), section.label.as_str()), ("Section Generation", "Section"));
    let content = log.iter().find(|e| e.title == "AI content processing").unwrap();
    assert_eq!((content.label.as_str(), content.message.as_str()), ("Content Processing", "Format: docx"));
}

/// A task ends at the step limit when the planner never says it is complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_action_loop_is_bounded() {
    let ai = ScriptedAi::new(|call| {
        let k = call.key.as_str();
        Ok(match k {
            "input_analysis" => analysis(false),
            "task_planning" => plan(&[], "txt"),
            k if k.ends_with("_planner") => action("context.search_documents", json!({"query": format!("q {k}")})),
            k if k.ends_with("_refinement") => verdict(false),
            other => panic!("unexpected call {other}"),
        })
    });
    let h = Harness::new(ai);
    let settings = Settings { max_steps_per_task: 3, ..Settings::default() };
    let wf = input("wf10", "search forever", vec![], None);
    run(&wf, &settings, &h.ports(), &CancellationToken::new()).await.unwrap();
    let planners = h.ai.keys().iter().filter(|k| k.ends_with("_planner")).count();
    assert_eq!(planners, 3);
    assert_eq!(h.results.files().len(), 1, "the run's words still become a document");
}

/// A task writes each format once: a planner that keeps asking for "one more" DOCX (in other
/// words each time, never saying the task is complete) gets one, and the task ends; a second
/// format in the same task is still written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_writes_each_format_once() {
    let ai = ScriptedAi::new(|call| {
        let k = call.key.as_str();
        Ok(match k {
            "input_analysis" => analysis(false),
            "task_planning" => plan(&[], "docx"),
            "task_t1_step_2_planner" => {
                action("ai.generate_document", json!({"prompt": "the same as a table", "output_format": "xlsx"}))
            }
            k if k.ends_with("_planner") => {
                action("ai.generate_document", json!({"prompt": format!("report, take {k}"), "output_format": "docx"}))
            }
            k if k.ends_with("_refinement") => verdict(false),
            k if k.ends_with("_structure") => {
                json!({"metadata": {"title": "R", "language": "en", "output_format": null, "fields": [], "csv_delimiter": null},
                "documents": [{"id": "r", "title": "Report", "filename": "report", "output_format": null, "sections": [
                    {"id": "s", "title": null, "content_type": "paragraph", "generation_hint": "", "content_part_ids": [], "content_formats": [], "extraction_fields": []}]}]})
            }
            k if k.contains("_section_") => json!({"elements": [{"type": "paragraph", "text": "the report"}]}),
            other => panic!("unexpected call {other}"),
        })
    });
    let h = Harness::new(ai);
    let wf = input("wf11", "write a report", vec![], None);
    run(&wf, &Settings::default(), &h.ports(), &CancellationToken::new()).await.unwrap();
    let names: Vec<String> = h.results.files().iter().map(|f| f.0.filename.clone()).collect();
    assert_eq!(names.len(), 2, "one DOCX and one XLSX: {names:?}");
    assert!(names.iter().any(|n| n.ends_with(".docx")) && names.iter().any(|n| n.ends_with(".xlsx")), "{names:?}");
    let planners = h.ai.keys().iter().filter(|k| k.ends_with("_planner")).count();
    assert_eq!(planners, 3, "the third step asked for a DOCX again, which ended the task");
}

/// Bulky data pasted into the prompt becomes a document of its own that actions can use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_items_become_documents() {
    let ai = ScriptedAi::new(|call| {
        let k = call.key.as_str();
        let d = data(call);
        Ok(match k {
            "input_analysis" => {
                let mut a = analysis(false);
                a["context_items"] = json!([{"title": "Sales table", "content": "A;100\nB;80"}]);
                a
            }
            "task_planning" => {
                assert_eq!(d["documents"][0]["origin"], json!("context"));
                plan(&["ctx_1"], "summary_document")
            }
            "task_t1_step_1_planner" => action("ai.summarize_document", json!({"document_ids": ["ctx_1"]})),
            "task_t1_step_2_planner" => {
                assert!(d["available_documents"].as_array().unwrap().iter().any(|x| x["id"] == json!("summary_1")));
                action("complete", json!({}))
            }
            k if k.ends_with("_refinement") => verdict(false),
            k if k.contains("_section_") => {
                assert!(d["content_parts"][0]["text"].as_str().unwrap().contains("A;100"));
                json!({"elements": [{"type": "paragraph", "text": "A sells more than B."}]})
            }
            other => panic!("unexpected call {other}"),
        })
    });
    let h = Harness::new(ai);
    let wf = input("wf11", "summarise this: A;100 B;80", vec![], None);
    let result = run(&wf, &Settings::default(), &h.ports(), &CancellationToken::new()).await.unwrap();
    assert!(result.answer.contains("A sells more than B."), "{}", result.answer);
    assert_eq!(h.results.files().len(), 1);
}

/// A fixed plan (an automation's tasks): its actions run in order without analysis, planning,
/// the action planner or refinement; a preset's instructions reach the calls that write; the
/// first failing action ends the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_plan_runs_its_actions_in_order() {
    use docwright_workflow::{ScriptedAction, ScriptedTask};
    let h = Harness::new(simple_report_ai());
    let mut wf = input("wf-plan", "Weekly report", vec![], Some("docx"));
    wf.instructions = Some("Write for the board.".to_owned());
    wf.script = Some(vec![ScriptedTask {
        objective: "Write the report".to_owned(),
        actions: vec![ScriptedAction {
            action: "ai.generate_document".to_owned(),
            parameters: json!({"prompt": "the weekly report", "output_format": "docx"}),
            result_label: Some("report".to_owned()),
        }],
    }]);
    let result = run(&wf, &Settings::default(), &h.ports(), &CancellationToken::new()).await.unwrap();
    assert_eq!(result.files.len(), 1);
    let keys = h.ai.keys();
    assert!(keys.iter().all(|k| k.starts_with("task_1_step_1")), "{keys:?}");
    assert!(!keys.iter().any(|k| k.contains("planner") || k.contains("refinement") || k == "input_analysis"));
    let calls = h.ai.calls();
    // The writing calls carry them; the structure (a decision) does not.
    let section = calls.iter().find(|c| c.key.contains("_section_")).expect("a section call");
    assert!(section.system.ends_with("# Instructions\nWrite for the board."), "{}", section.system);
    let structure = calls.iter().find(|c| c.key.ends_with("_structure")).expect("a structure call");
    assert!(!structure.system.contains("Write for the board."));
    assert!(h.trace.log().iter().any(|e| e.title == "Step 1: ai.generate_document"));

    // An action the catalog does not have fails the run, naming it.
    let h = Harness::new(simple_report_ai());
    let mut wf = input("wf-plan-2", "Broken", vec![], Some("docx"));
    wf.script = Some(vec![ScriptedTask {
        objective: "x".to_owned(),
        actions: vec![ScriptedAction { action: "ai.teleport".to_owned(), parameters: json!({}), result_label: None }],
    }]);
    let e = run(&wf, &Settings::default(), &h.ports(), &CancellationToken::new()).await.unwrap_err();
    assert_eq!(e.code(), "action_failed");
    assert!(e.to_string().contains("ai.teleport"), "{e}");
}
