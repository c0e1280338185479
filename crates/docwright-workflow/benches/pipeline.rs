//! SPEC N4 for the pipeline alone: a 10-document workflow against a scripted model whose every
//! answer takes a fixed 200 ms, wall time beside the critical path.
//!
//! `cargo bench -p docwright-workflow --bench pipeline` runs the receipts use case (ten PDFs,
//! each a receipt image read by a vision call, then one record extraction per receipt) and a
//! ten-section report. The critical path is the longest chain of calls that depend on each
//! other: every planning, structure and validation call waits for the one before it, while the
//! calls of one parallel group (the images of a content processing; the sections or record
//! extractions of one structure) depend only on what came before the group — so the critical
//! path is (sequential calls + parallel groups) × 200 ms. Wall time within 10% of it shows that
//! parallel work really runs in parallel. The server-level benchmark (`docwright-server`'s
//! `workflow_pipeline`) measures the same through the gateway, billing and the database.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)] // A benchmark prints and fails loudly.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use docwright_workflow::testing::{Harness, ScriptedAi, image_part, text_part, tiny_png};
use docwright_workflow::{AiCall, DocumentInfo, Input, Settings, WorkflowInput, run};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const LATENCY: Duration = Duration::from_millis(200);

fn data(call: &AiCall) -> Value {
    match call.inputs.first() {
        Some(Input::Text(t)) => serde_json::from_str(t).unwrap(),
        _ => Value::Null,
    }
}

fn action(name: &str, prompt: &str, format: &str) -> Value {
    json!({"action": name, "parameters": {"prompt": prompt, "document_ids": [], "query": null, "output_format": format, "title": null}, "reasoning": ""})
}

fn common(call: &AiCall, expected: &str) -> Option<Value> {
    let k = call.key.as_str();
    Some(match k {
        "input_analysis" => {
            json!({"detected_language": "en", "normalized_request": "r", "intent": "i", "context_items": [],
                                  "complexity": "complex", "needs_workflow_history": false, "fast_track": false})
        }
        "task_planning" => {
            json!({"tasks": [{"id": "t1", "objective": "o", "required_documents": [], "expected_output": expected}]})
        }
        k if k.ends_with("_refinement") => {
            json!({"valid": true, "task_complete": true, "next_action_guidance": null, "reasoning": ""})
        }
        k if k.ends_with("_intents") => {
            json!({"intents": data(call)["documents"].as_array().unwrap().iter().map(|d| json!({
            "document_id": d["document_id"], "intents": ["extract"], "extraction_prompt": "expenses", "reasoning": ""})).collect::<Vec<_>>()})
        }
        _ => return None,
    })
}

fn receipts() -> ScriptedAi {
    ScriptedAi::new(|call| {
        if let Some(v) = common(call, "structured_data") {
            return Ok(v);
        }
        let k = call.key.as_str();
        Ok(match k {
            "task_t1_step_1_planner" => action("ai.process", "extract expenses", "csv"),
            k if k.contains("_extract_") => {
                json!({"text": "Migros 2024-03-01 CHF 12.50 VAT 0.95", "description": "receipt"})
            }
            k if k.ends_with("_structure") => {
                let ids: Vec<Value> =
                    data(call)["content_parts"].as_array().unwrap().iter().map(|p| p["id"].clone()).collect();
                let f = |n: &str, t: &str| json!({"field_name": n, "data_type": t, "extraction_hint": "", "content_part_ids": ids});
                json!({"metadata": {"title": "Expenses", "language": "en", "output_format": "csv", "fields": [], "csv_delimiter": ";"},
                       "documents": [{"id": "e", "title": "Expenses", "filename": "expenses.csv", "output_format": null, "sections": [{
                           "id": "data", "title": null, "content_type": "table", "generation_hint": "", "content_part_ids": ids, "content_formats": [],
                           "extraction_fields": [f("date", "date"), f("shop", "string"), f("CHF", "currency"), f("VAT", "number"), f("Description", "string")]}]}]})
            }
            k if k.contains("_records_") => {
                json!({"records": [{"date": "2024-03-01", "shop": "Migros", "CHF": 12.5, "VAT": 0.95, "Description": "food"}]})
            }
            other => panic!("unexpected call {other}"),
        })
    })
}

fn report() -> ScriptedAi {
    ScriptedAi::new(|call| {
        if let Some(v) = common(call, "docx") {
            return Ok(v);
        }
        let k = call.key.as_str();
        Ok(match k {
            "task_t1_step_1_planner" => action("ai.generate_document", "report", "docx"),
            k if k.ends_with("_structure") => {
                let sections: Vec<Value> = (1..=10)
                    .map(|i| {
                        json!({"id": format!("s{i}"), "title": format!("Part {i}"), "content_type": "paragraph",
                    "generation_hint": "", "content_part_ids": [], "content_formats": [], "extraction_fields": []})
                    })
                    .collect();
                json!({"metadata": {"title": "Report", "language": "en", "output_format": "docx", "fields": [], "csv_delimiter": null},
                       "documents": [{"id": "r", "title": "Report", "filename": "report.docx", "output_format": null, "sections": sections}]})
            }
            k if k.contains("_section_") => {
                json!({"elements": [{"type": "paragraph", "text": "Lorem ipsum dolor sit amet. ".repeat(40)}]})
            }
            other => panic!("unexpected call {other}"),
        })
    })
}

/// Calls of a parallel group share a key pattern; every other call is a step of its own.
fn group_of(key: &str) -> String {
    for marker in ["_extract_", "_records_", "_section_"] {
        if let Some((prefix, _)) = key.split_once(marker) {
            return format!("{prefix}{marker}*");
        }
    }
    key.to_owned()
}

fn measure(name: &str, ai: ScriptedAi, docs: usize, image_docs: bool) {
    let h = Harness::new(ai.with_latency(LATENCY));
    let mut infos = Vec::new();
    for i in 1..=docs {
        let info = DocumentInfo {
            id: format!("d{i:02}"),
            file_name: format!("doc{i:02}.pdf"),
            mime_type: "application/pdf".into(),
            file_size: 1000,
        };
        let parts =
            if image_docs { vec![image_part("img", "", Some(1))] } else { vec![text_part("p1", "some text", Some(1))] };
        h.documents.add(info.clone(), parts, HashMap::from([("img".to_owned(), tiny_png())]), Vec::new());
        infos.push(info);
    }
    let input = WorkflowInput {
        workflow_id: name.to_owned(),
        prompt: "benchmark".to_owned(),
        documents: infos,
        output_format: None,
        title: None,
        language: None,
        debug_trace: false,
        can_search_projects: false,
        ..WorkflowInput::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let started = Instant::now();
    // Every call of a group at once: the critical path assumes that (the defaults bound it at 8).
    let settings = Settings { section_parallelism: docs, extraction_parallelism: docs, ..Settings::default() };
    runtime.block_on(run(&input, &settings, &h.ports(), &CancellationToken::new())).unwrap();
    let wall = started.elapsed();
    let keys = h.ai.keys();
    let levels: BTreeSet<String> = keys.iter().map(|k| group_of(k)).collect();
    let critical = LATENCY * levels.len() as u32;
    println!(
        "{name:<22} {:>3} documents {:>4} calls  critical path {:>2} × {} ms = {:>6.0} ms  wall {:>6.0} ms  ratio {:.3}  ({})",
        docs,
        keys.len(),
        levels.len(),
        LATENCY.as_millis(),
        critical.as_secs_f64() * 1000.0,
        wall.as_secs_f64() * 1000.0,
        wall.as_secs_f64() / critical.as_secs_f64(),
        if wall.as_secs_f64() <= critical.as_secs_f64() * 1.10 { "within 10%" } else { "MISSES the 10% target" },
    );
}

fn main() {
    println!("SPEC N4, the pipeline alone (scripted model, {} ms per answer, 2 worker threads)\n", LATENCY.as_millis());
    measure("receipts → CSV", receipts(), 10, true);
    measure("10-section report", report(), 10, false);
}
