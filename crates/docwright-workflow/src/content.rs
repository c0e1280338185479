//! Phase 5, AI content processing: the one function behind every AI action (`ai.process`,
//! `ai.generate_document`, `ai.summarize_document`), differing only in parameters.
//!
//! 5A document intents (one call, unless the mode fixes them) → 5B content parts (docwright's
//! extracted parts used as they are; images read by a vision model, in parallel) → 5C
//! structure (one call: documents, sections, and for structured data the typed fields) → 5D
//! filling (sections in parallel, bounded; a section that fails becomes an `error` element) →
//! 5E rendering of every document through `docwright-render`.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use docwright_core::time::Timestamp;
use serde_json::{Value, json};

use crate::actions::bounded;
use crate::parts::{self, ContentFormat, ContentPart, Intent, PartData};
use crate::ports::{AiCall, Event, Input, Operation, Rendered, SourcePart, TypeGroup};
use crate::run::{Doc, Origin, Run, clip, data_message, opt_text, pretty, strings, text};
use crate::{Error, Result, prompts, render, schemas};

/// How the content is to be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `ai.process`: work on documents, render the result.
    Process,
    /// `ai.generate_document`: write a new document.
    Generate,
    /// `ai.summarize_document`: a summary per document, kept for later actions.
    Summarize,
}

/// One AI content processing.
pub(crate) struct ContentRequest {
    pub(crate) action: String,
    /// The step's stable key (`task_t1_step_2`): the prefix of its calls' checkpoint keys.
    pub(crate) key: String,
    pub(crate) prompt: String,
    pub(crate) documents: Vec<Doc>,
    pub(crate) output_format: Option<String>,
    pub(crate) title: Option<String>,
    pub(crate) mode: Mode,
}

/// What a content processing made.
pub(crate) struct ContentOutcome {
    pub(crate) summary: String,
}

/// A planned section (5C).
#[derive(Debug, Clone)]
struct PlannedSection {
    id: String,
    title: Option<String>,
    content_type: String,
    hint: String,
    part_ids: Vec<String>,
    fields: Vec<Field>,
}

/// A field of structured extraction.
#[derive(Debug, Clone)]
struct Field {
    name: String,
    data_type: String,
    hint: String,
    part_ids: Vec<String>,
}

/// A planned document (5C).
#[derive(Debug, Clone)]
struct PlannedDoc {
    id: String,
    title: String,
    filename: String,
    format: String,
    sections: Vec<PlannedSection>,
}

/// The structure (5C).
#[derive(Debug, Clone)]
struct Structure {
    title: String,
    csv_delimiter: Option<u8>,
    documents: Vec<PlannedDoc>,
}

fn is_fatal(e: &Error) -> bool {
    match e {
        Error::Cancelled | Error::Sink(_) => true,
        Error::Ai { error, .. } => error.is_fatal(),
        _ => false,
    }
}

/// Runs `f` as trace node `id` under `parent`: started, then finished with its outcome.
async fn traced<T>(
    run: &Run<'_>,
    id: String,
    parent: &str,
    (title, label): (&str, &str),
    message: &str,
    f: impl AsyncFnOnce(&str) -> Result<T>,
) -> Result<T> {
    let op = run.trace.start(id, Some(parent), title, label, message).await;
    let result = f(&op).await;
    run.trace.finish(&op, result.as_ref().map(|_| ()).map_err(ToString::to_string)).await;
    result
}

/// The format of a result: what the action asks for, else what the request asks for, else
/// what the structure chose, else plain text.
fn choose_format(run: &Run<'_>, req: &ContentRequest, planned: Option<&str>) -> String {
    format_of(run, req.output_format.as_deref(), planned)
}

/// The format a document is written in: the first of the action's, the run's and the planned
/// format that names one docwright writes (a name it does not know is passed over), else `txt`.
pub(crate) fn format_of(run: &Run<'_>, requested: Option<&str>, planned: Option<&str>) -> String {
    [requested, run.input.output_format.as_deref(), planned]
        .into_iter()
        .flatten()
        .find_map(render::normalize_format)
        .unwrap_or("txt")
        .to_owned()
}

pub(crate) async fn process(run: &Run<'_>, req: &ContentRequest, parent: &str) -> Result<ContentOutcome> {
    let format = if req.mode == Mode::Summarize { "md".to_owned() } else { choose_format(run, req, None) };
    let p = run.trace.unique(&format!("ai_content_{}_{}", run.input.workflow_id, Timestamp::now().millis()));
    traced(
        run,
        p.clone(),
        parent,
        ("AI content processing", "Content Processing"),
        &format!("Format: {format}"),
        async |p| {
            let intents = intents(run, req, p).await?;
            let parts = traced(
                run,
                format!("{p}_content_extraction"),
                p,
                ("Content Extraction", "Extraction"),
                "",
                async |op| content_parts(run, req, &intents, op).await,
            )
            .await?;
            let structure = traced(
                run,
                format!("{p}_structure_generation"),
                p,
                ("Structure Generation", "Structure"),
                "",
                async |op| structure(run, req, &parts, op).await,
            )
            .await?;
            let filled =
                traced(run, format!("{p}_structure_filling"), p, ("Structure Filling", "Filling"), "", async |op| {
                    fill(run, req, &structure, &parts, op).await
                })
                .await?;
            traced(
                run,
                format!("{p}_rendering"),
                p,
                ("Content Rendering", "Rendering"),
                &format!("Format: {format}"),
                async |op| render_all(run, req, &structure, filled, op).await,
            )
            .await
        },
    )
    .await
}

/// 5A: the intents of each document (one call), or all `extract` for summaries.
async fn intents(
    run: &Run<'_>,
    req: &ContentRequest,
    p: &str,
) -> Result<HashMap<String, (Vec<Intent>, Option<String>)>> {
    let default = |d: &Doc| {
        let mut i = vec![Intent::Extract];
        if d.info.mime_type.starts_with("image/") && req.mode != Mode::Summarize {
            i.push(Intent::Render);
        }
        (d.info.id.clone(), (i, None))
    };
    if req.documents.is_empty() || req.mode == Mode::Summarize {
        return Ok(req.documents.iter().map(default).collect());
    }
    traced(run, format!("{p}_intent_analysis"), p, ("Document Intent Analysis", "Intent Analysis"), "", async |op| {
        let message = json!({
            "request": req.prompt,
            "documents": req.documents.iter().map(|d| json!({
                "document_id": d.info.id, "file_name": d.info.file_name, "mime_type": d.info.mime_type, "file_size": d.info.file_size,
            })).collect::<Vec<_>>(),
        });
        let call = AiCall {
            key: format!("{}_intents", req.key),
            process: "workflow.document_intents".to_owned(),
            operation: Operation::Planning,
            system: prompts::document_intents(),
            inputs: vec![data_message(&message)],
            schema: schemas::document_intents(),
            max_output_tokens: None,
        };
        let debug = (run.trace.unique("document_intent_analysis_prompt"), run.trace.unique("document_intent_analysis_response"));
        let answer = run.ask(&call, "document_intents", op, "Document intents", Some(debug)).await?;
        let mut out: HashMap<String, (Vec<Intent>, Option<String>)> = req.documents.iter().map(default).collect();
        for item in answer.value["intents"].as_array().into_iter().flatten() {
            let id = text(item, "document_id");
            let Some(entry) = out.get_mut(&id) else { continue };
            let mut list: Vec<Intent> = strings(item, "intents").iter().filter_map(|s| Intent::parse(s)).collect();
            list.sort();
            list.dedup();
            if !list.is_empty() {
                *entry = (list, opt_text(item, "extraction_prompt"));
            }
        }
        let result = json!(req.documents.iter().map(|d| {
            let (i, prompt) = &out[&d.info.id];
            json!({"document_id": d.info.id, "intents": i.iter().map(|x| x.as_str()).collect::<Vec<_>>(), "extraction_prompt": prompt})
        }).collect::<Vec<_>>());
        run.trace.debug(run.trace.unique("document_intent_analysis_result"), || pretty(&result)).await;
        Ok(out)
    })
    .await
}

const DEFAULT_EXTRACTION_PROMPT: &str = "Extract all content from the document";

/// Embedded images of one document placed as objects, at most.
const MAX_OBJECTS_PER_DOCUMENT: usize = 50;

/// An image that a vision model is to read.
struct VisionJob<'d> {
    doc: &'d Doc,
    source: SourcePart,
    prompt: String,
}

/// 5B: the content parts of the request's documents.
async fn content_parts(
    run: &Run<'_>,
    req: &ContentRequest,
    intents: &HashMap<String, (Vec<Intent>, Option<String>)>,
    op: &str,
) -> Result<Vec<ContentPart>> {
    let mut parts: Vec<ContentPart> = Vec::new();
    let mut vision: Vec<VisionJob<'_>> = Vec::new();
    for doc in &req.documents {
        let (list, extraction_prompt) = intents.get(&doc.info.id).cloned().unwrap_or((vec![Intent::Extract], None));
        let render_too = list.contains(&Intent::Render);
        let sources = if list.iter().any(|i| matches!(i, Intent::Extract | Intent::Render)) {
            match run.source_parts(doc).await {
                Ok(s) => s,
                Err(e) => {
                    // One unreadable document does not stop the others; it stays named.
                    tracing::info!(document = %doc.info.id, error = %e, "document content unavailable");
                    parts.push(parts::reference(&doc.info));
                    continue;
                }
            }
        } else {
            Vec::new()
        };
        if list.contains(&Intent::Reference) {
            parts.push(parts::reference(&doc.info));
        }
        if render_too {
            parts.extend(objects(run, doc, &sources).await?);
        }
        if list.contains(&Intent::Extract) {
            let cached = if render_too { None } else { run.extracted(&doc.info.id) };
            if let Some(mut cached) = cached {
                for c in &mut cached {
                    c.meta.extraction_prompt = extraction_prompt.clone().or(c.meta.extraction_prompt.take());
                }
                parts.extend(cached);
            } else {
                for s in sources.iter().filter(|s| !matches!(s.type_group, TypeGroup::Image | TypeGroup::Binary)) {
                    if !s.text.trim().is_empty() || s.rows.is_some() {
                        parts.push(parts::pre_extracted(&doc.info, s, render_too, extraction_prompt.as_deref(), None));
                    }
                }
            }
            for s in sources.iter().filter(|s| s.type_group == TypeGroup::Image) {
                vision.push(VisionJob {
                    doc,
                    source: s.clone(),
                    prompt: extraction_prompt.clone().unwrap_or_else(|| DEFAULT_EXTRACTION_PROMPT.to_owned()),
                });
            }
        }
    }
    let several: HashMap<&str, usize> = vision.iter().fold(HashMap::new(), |mut m, j| {
        *m.entry(j.doc.info.id.as_str()).or_default() += 1;
        m
    });
    let read = bounded(vision, run.settings.extraction_parallelism, |job| {
        let several = several.get(job.doc.info.id.as_str()).copied().unwrap_or(0) > 1;
        async move { read_image(run, req, job, several, op).await }
    })
    .await;
    for r in read {
        if let Some(part) = r? {
            parts.push(part);
        }
    }
    parts::link(&mut parts);
    let described = json!(parts.iter().map(ContentPart::to_json).collect::<Vec<_>>());
    run.trace.debug(run.trace.unique("content_extraction_result"), || pretty(&described)).await;
    Ok(parts)
}

/// The objects of a document to place: the image itself, or the images embedded in it.
async fn objects(run: &Run<'_>, doc: &Doc, sources: &[SourcePart]) -> Result<Vec<ContentPart>> {
    let mut out = Vec::new();
    if doc.info.mime_type.starts_with("image/") && doc.inline.is_none() {
        match run.ports.documents.content(&doc.info).await {
            Ok(bytes) => out.push(parts::object(&doc.info, None, &doc.info.mime_type, Arc::from(bytes))),
            Err(e) => tracing::info!(document = %doc.info.id, error = %e, "image content unavailable"),
        }
        return Ok(out);
    }
    for s in sources.iter().filter(|s| s.type_group == TypeGroup::Image).take(MAX_OBJECTS_PER_DOCUMENT) {
        match run.ports.documents.part_data(&doc.info, &s.id).await {
            Ok(bytes) => out.push(parts::object(&doc.info, Some(&s.id), &s.mime_type, Arc::from(bytes))),
            Err(e) => tracing::info!(document = %doc.info.id, part = %s.id, error = %e, "image part unavailable"),
        }
    }
    Ok(out)
}

/// Reads one image with a vision model; without one (or when it fails) the OCR text stands in.
async fn read_image(
    run: &Run<'_>,
    req: &ContentRequest,
    job: VisionJob<'_>,
    several: bool,
    op: &str,
) -> Result<Option<ContentPart>> {
    let doc = &job.doc.info;
    let name = if several { format!("{}_{}", doc.id, job.source.id) } else { doc.id.clone() };
    let ocr_fallback = |why: String| {
        if job.source.text.trim().is_empty() {
            tracing::info!(document = %doc.id, part = %job.source.id, reason = %why, "image not read");
            None
        } else {
            let mut p = parts::pre_extracted(doc, &job.source, true, Some(&job.prompt), None);
            p.meta.original_image_id = Some(job.source.id.clone());
            Some(p)
        }
    };
    let bytes = match run.ports.documents.part_data(doc, &job.source.id).await {
        Ok(b) => b,
        Err(e) => return Ok(ocr_fallback(e.to_string())),
    };
    let message = json!({
        "extraction_prompt": job.prompt,
        "file_name": doc.file_name,
        "location": job.source.location(),
        "ocr_text": clip(&job.source.text, run.settings.max_part_chars),
    });
    let call = AiCall {
        key: format!("{}_extract_{}_{}", req.key, doc.id, job.source.id),
        process: "workflow.content_extraction".to_owned(),
        operation: Operation::DataExtract,
        system: prompts::image_extraction(),
        inputs: vec![
            data_message(&message),
            Input::Image { mime_type: job.source.mime_type.clone(), data: Arc::from(bytes) },
        ],
        schema: schemas::image_extraction(),
        max_output_tokens: None,
    };
    let debug = (
        run.trace.unique(&format!("content_extraction_prompt_{name}")),
        run.trace.unique(&format!("content_extraction_response_{name}")),
    );
    match run.ask(&call, "content_extraction", op, "Image extraction", Some(debug)).await {
        Ok(answer) => {
            let mut body = text(&answer.value, "text");
            let description = text(&answer.value, "description");
            if !description.is_empty() {
                body = if body.is_empty() { description } else { format!("{body}\n\n({description})") };
            }
            Ok(Some(parts::vision_extracted(doc, &job.source.id, body, &job.prompt, Some(&job.source))))
        }
        Err(e) if is_fatal(&e) => Err(e),
        Err(e) => Ok(ocr_fallback(e.to_string())),
    }
}

/// `context.extract_content`: reads documents now so later actions use the parts as they are.
pub(crate) async fn extract_for_later(run: &Run<'_>, docs: &[Doc], action: &str) -> Result<String> {
    let mut lines = Vec::new();
    for doc in docs {
        let sources = run.source_parts(doc).await?;
        let mut kept = Vec::new();
        let (mut text_parts, mut tables, mut images) = (0, 0, 0);
        for s in &sources {
            match s.type_group {
                TypeGroup::Image => images += 1,
                TypeGroup::Table => tables += 1,
                _ => text_parts += 1,
            }
            // Images are read by a vision model when an AI action uses the document.
            let readable = !matches!(s.type_group, TypeGroup::Image | TypeGroup::Binary);
            if readable && (!s.text.trim().is_empty() || s.rows.is_some()) {
                kept.push(parts::pre_extracted(&doc.info, s, false, None, Some(action)));
            }
        }
        let chars: usize = kept.iter().map(|p| p.text().chars().count()).sum();
        lines.push(format!(
            "{} ({}): {text_parts} text part(s), {tables} table(s), {images} image(s), {chars} characters",
            doc.info.file_name, doc.info.id
        ));
        run.keep_extracted(&doc.info.id, kept);
    }
    Ok(format!("read {} document(s):\n{}", docs.len(), lines.join("\n")))
}

/// 5C: the structure (one call), or for summaries one document per source document.
async fn structure(run: &Run<'_>, req: &ContentRequest, parts: &[ContentPart], op: &str) -> Result<Structure> {
    let title =
        req.title.clone().or_else(|| run.input.title.clone()).unwrap_or_else(|| "Generated Document".to_owned());
    if req.mode == Mode::Summarize {
        let documents = req
            .documents
            .iter()
            .map(|d| PlannedDoc {
                id: format!("summary_{}", d.info.id),
                title: format!("Summary: {}", d.info.file_name),
                filename: format!("summary_{}.md", crate::analysis::safe_name(&d.info.file_name)),
                format: "md".to_owned(),
                sections: vec![PlannedSection {
                    id: "summary".to_owned(),
                    title: None,
                    content_type: "paragraph".to_owned(),
                    hint: format!("{} {}", prompts::summary_hint(), req.prompt),
                    part_ids: parts.iter().filter(|p| p.meta.document_id == d.info.id).map(|p| p.id.clone()).collect(),
                    fields: Vec::new(),
                }],
            })
            .collect();
        return Ok(Structure { title, csv_delimiter: None, documents });
    }
    let format = choose_format(run, req, None);
    let message = json!({
        "request": req.prompt,
        "title": title,
        "language": run.language(),
        "requested_output_format": req.output_format.as_deref().or(run.input.output_format.as_deref()),
        "content_parts": parts.iter().map(|p| p.describe(300)).collect::<Vec<_>>(),
    });
    let call = AiCall {
        key: format!("{}_structure", req.key),
        process: "workflow.structure_generation".to_owned(),
        operation: Operation::Planning,
        system: prompts::structure(),
        inputs: vec![data_message(&message)],
        schema: schemas::structure(),
        max_output_tokens: None,
    };
    let debug = (
        run.trace.unique("document_generation_structure_prompt"),
        run.trace.unique("document_generation_structure_response"),
    );
    let answer = run.ask(&call, "structure_generation", op, "Structure generation", Some(debug)).await?;
    let mut s = parse_structure(&answer.value, parts, &title);
    for d in &mut s.documents {
        d.format = choose_format(run, req, Some(&d.format));
        d.filename = render::filename_for(&d.filename, &d.title, &d.format);
    }
    let _ = format;
    Ok(s)
}

/// The structure of an answer, with unknown part ids dropped, ids made unique, and a section
/// over every part when the answer has none.
fn parse_structure(v: &Value, parts: &[ContentPart], title: &str) -> Structure {
    let known = |id: &String| parts.iter().any(|p| &p.id == id);
    let meta = &v["metadata"];
    let default_format = opt_text(meta, "output_format").unwrap_or_else(|| "txt".to_owned());
    let csv_delimiter = opt_text(meta, "csv_delimiter").and_then(|d| match d.as_str() {
        "," => Some(b','),
        ";" => Some(b';'),
        "\t" | "\\t" => Some(b'\t'),
        "|" => Some(b'|'),
        _ => None,
    });
    let mut documents: Vec<PlannedDoc> = Vec::new();
    for (di, d) in v["documents"].as_array().into_iter().flatten().enumerate() {
        let mut id = opt_text(d, "id").unwrap_or_else(|| format!("document_{}", di + 1));
        if documents.iter().any(|o| o.id == id) {
            id = format!("{id}_{}", di + 1);
        }
        let mut sections: Vec<PlannedSection> = Vec::new();
        for (si, s) in d["sections"].as_array().into_iter().flatten().enumerate() {
            let mut sid = opt_text(s, "id").unwrap_or_else(|| format!("section_{}", si + 1));
            if sections.iter().any(|o| o.id == sid) {
                sid = format!("{sid}_{}", si + 1);
            }
            let fields = s["extraction_fields"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| {
                    Some(Field {
                        name: opt_text(f, "field_name")?,
                        data_type: opt_text(f, "data_type")
                            .filter(|t| schemas::DATA_TYPES.contains(&t.as_str()))
                            .unwrap_or_else(|| "string".to_owned()),
                        hint: text(f, "extraction_hint"),
                        part_ids: strings(f, "content_part_ids").into_iter().filter(known).collect(),
                    })
                })
                .collect();
            sections.push(PlannedSection {
                id: sid,
                title: opt_text(s, "title"),
                content_type: opt_text(s, "content_type").unwrap_or_else(|| "mixed".to_owned()),
                hint: text(s, "generation_hint"),
                part_ids: strings(s, "content_part_ids").into_iter().filter(known).collect(),
                fields,
            });
        }
        if sections.is_empty() {
            continue;
        }
        documents.push(PlannedDoc {
            id,
            title: opt_text(d, "title").unwrap_or_else(|| title.to_owned()),
            filename: text(d, "filename"),
            format: opt_text(d, "output_format").unwrap_or_else(|| default_format.clone()),
            sections,
        });
    }
    if documents.is_empty() {
        documents.push(PlannedDoc {
            id: "document_1".to_owned(),
            title: title.to_owned(),
            filename: String::new(),
            format: default_format,
            sections: vec![PlannedSection {
                id: "content".to_owned(),
                title: None,
                content_type: "mixed".to_owned(),
                hint: "Answer the request from the content parts.".to_owned(),
                part_ids: parts.iter().map(|p| p.id.clone()).collect(),
                fields: Vec::new(),
            }],
        });
    }
    Structure { title: opt_text(meta, "title").unwrap_or_else(|| title.to_owned()), csv_delimiter, documents }
}

/// 5D: every section of every document, filled in parallel (bounded); elements per document
/// and section, in order.
async fn fill(
    run: &Run<'_>,
    req: &ContentRequest,
    structure: &Structure,
    parts: &[ContentPart],
    op: &str,
) -> Result<Vec<Vec<Vec<Value>>>> {
    let jobs: Vec<(usize, &PlannedDoc, &PlannedSection)> =
        structure.documents.iter().enumerate().flat_map(|(i, d)| d.sections.iter().map(move |s| (i, d, s))).collect();
    let filled = bounded(jobs, run.settings.section_parallelism, |(i, doc, section)| async move {
        (i, fill_section(run, req, doc, section, parts, op).await)
    })
    .await;
    let mut out: Vec<Vec<Vec<Value>>> = vec![Vec::new(); structure.documents.len()];
    for (i, elements) in filled {
        out[i].push(elements?);
    }
    Ok(out)
}

async fn fill_section(
    run: &Run<'_>,
    req: &ContentRequest,
    doc: &PlannedDoc,
    section: &PlannedSection,
    parts: &[ContentPart],
    fill_op: &str,
) -> Result<Vec<Value>> {
    let op = run.trace.unique(&format!("{fill_op}_section_{}", section.id));
    let message = section.title.clone().unwrap_or_else(|| section.id.clone());
    let op = run.trace.start(op, Some(fill_op), "Section Generation", "Section", &message).await;
    let result = if section.fields.is_empty() {
        section_elements(run, req, doc, section, parts, &op).await
    } else {
        section_records(run, req, doc, section, parts, &op).await
    };
    run.trace.finish(&op, result.as_ref().map(|_| ()).map_err(ToString::to_string)).await;
    let ok = result.is_ok();
    let elements = match result {
        Ok(e) => e,
        Err(e) if is_fatal(&e) => return Err(e),
        Err(e) => vec![json!({
            "type": "error",
            "message": format!("Error generating section {}: {e}", section.id),
            "section_id": section.id,
        })],
    };
    run.trace.event(Event::SectionDone { document_id: doc.id.clone(), section_id: section.id.clone(), ok }).await;
    Ok(elements)
}

/// The parts a section uses: those it names, or all parts when the document has one section
/// and it names none.
fn section_parts<'p>(doc: &PlannedDoc, section: &PlannedSection, parts: &'p [ContentPart]) -> Vec<&'p ContentPart> {
    let named: Vec<&ContentPart> =
        section.part_ids.iter().filter_map(|id| parts.iter().find(|p| &p.id == id)).collect();
    if named.is_empty() && doc.sections.len() == 1 { parts.iter().collect() } else { named }
}

/// Text parts for a prompt, each cut to the part limit, all within the section limit.
fn texts_for_prompt(run: &Run<'_>, parts: &[&ContentPart]) -> Vec<Value> {
    let mut budget = run.settings.max_section_chars;
    let mut out = Vec::new();
    for p in parts.iter().filter(|p| p.meta.content_format != Some(ContentFormat::Object)) {
        if budget == 0 {
            out.push(json!({"id": p.id, "label": p.label, "text": "[left out: the section's input limit is reached]"}));
            continue;
        }
        let t = clip(&p.text(), run.settings.max_part_chars.min(budget));
        budget = budget.saturating_sub(t.chars().count());
        out.push(json!({
            "id": p.id,
            "content_format": p.meta.content_format.map(ContentFormat::as_str),
            "file_name": p.meta.original_file_name,
            "label": p.label,
            "location": p.location(),
            "text": t,
        }));
    }
    out
}

async fn section_elements(
    run: &Run<'_>,
    req: &ContentRequest,
    doc: &PlannedDoc,
    section: &PlannedSection,
    parts: &[ContentPart],
    op: &str,
) -> Result<Vec<Value>> {
    let used = section_parts(doc, section, parts);
    let images: Vec<&ContentPart> = used
        .iter()
        .copied()
        .filter(|p| p.type_group == TypeGroup::Image && matches!(p.data, PartData::Bytes(_)))
        .collect();
    let message = json!({
        "request": req.prompt,
        "document": {"title": doc.title, "language": run.language(), "format": doc.format},
        "section": {"id": section.id, "title": section.title, "content_type": section.content_type, "generation_hint": section.hint},
        "content_parts": texts_for_prompt(run, &used),
        "images": images.iter().map(|p| json!({"part_id": p.id, "file_name": p.meta.original_file_name})).collect::<Vec<_>>(),
    });
    let call = AiCall {
        key: format!("{}_section_{}_{}", req.key, doc.id, section.id),
        process: "workflow.section_generation".to_owned(),
        operation: Operation::DataGenerate,
        system: prompts::section(),
        inputs: vec![data_message(&message)],
        schema: schemas::section_elements(),
        max_output_tokens: None,
    };
    let debug = (
        run.trace.unique(&format!("section_generation_prompt_{}", section.id)),
        run.trace.unique(&format!("section_generation_response_{}", section.id)),
    );
    let answer = run.ask(&call, "section_generation", op, "Section generation", Some(debug)).await?;
    // The seed accepts a list as well as an object holding one.
    let raw = match &answer.value {
        Value::Array(a) => a.clone(),
        v => v["elements"].as_array().cloned().unwrap_or_default(),
    };
    let mut placed: Vec<String> = Vec::new();
    let mut elements: Vec<Value> = Vec::new();
    for e in raw {
        if e["type"] == json!("image") {
            let id = text(&e, "part_id");
            if let Some(img) = images.iter().find(|p| p.id == id)
                && !placed.contains(&id)
            {
                elements.push(image_element(img, opt_text(&e, "caption")));
                placed.push(id);
            }
            continue;
        }
        elements.push(e);
    }
    for img in images.iter().filter(|p| !placed.contains(&p.id)) {
        elements.push(image_element(img, None));
    }
    for r in used.iter().filter(|p| p.type_group == TypeGroup::Reference) {
        elements.push(json!({"type": "reference", "label": r.meta.original_file_name, "document_reference": r.meta.document_reference}));
    }
    Ok(elements)
}

fn image_element(part: &ContentPart, caption: Option<String>) -> Value {
    let PartData::Bytes(bytes) = &part.data else { return json!({"type": "paragraph", "text": part.label}) };
    json!({
        "type": "image",
        "base64_data": base64::engine::general_purpose::STANDARD.encode(bytes),
        "mime_type": part.mime_type,
        "alt_text": part.meta.original_file_name,
        "caption": caption,
    })
}

/// Structured extraction: one call per source document (in parallel, bounded), the records
/// merged in document order into one typed table.
async fn section_records(
    run: &Run<'_>,
    req: &ContentRequest,
    doc: &PlannedDoc,
    section: &PlannedSection,
    parts: &[ContentPart],
    op: &str,
) -> Result<Vec<Value>> {
    let mut ids: Vec<String> = section.part_ids.clone();
    for f in &section.fields {
        ids.extend(f.part_ids.iter().cloned());
    }
    let mut used: Vec<&ContentPart> = parts
        .iter()
        .filter(|p| ids.contains(&p.id) && p.meta.content_format == Some(ContentFormat::Extracted))
        .collect();
    if used.is_empty() {
        used = parts.iter().filter(|p| p.meta.content_format == Some(ContentFormat::Extracted)).collect();
    }
    let mut groups: Vec<(String, Vec<&ContentPart>)> = Vec::new();
    for p in used {
        match groups.iter_mut().find(|(d, _)| *d == p.meta.document_id) {
            Some((_, g)) => g.push(p),
            None => groups.push((p.meta.document_id.clone(), vec![p])),
        }
    }
    let fields: Vec<(String, String)> = section.fields.iter().map(|f| (f.name.clone(), f.data_type.clone())).collect();
    let schema = schemas::records(&fields);
    let asked: Vec<Value> = section
        .fields
        .iter()
        .map(|f| json!({"field_name": f.name, "data_type": f.data_type, "extraction_hint": f.hint}))
        .collect();
    let answers = bounded(groups, run.settings.extraction_parallelism, |(doc_id, group)| {
        let schema = schema.clone();
        let asked = asked.clone();
        async move {
            let message = json!({
                "request": req.prompt,
                "generation_hint": section.hint,
                "fields": asked,
                "content_parts": texts_for_prompt(run, &group),
            });
            let call = AiCall {
                key: format!("{}_records_{}_{}_{doc_id}", req.key, doc.id, section.id),
                process: "workflow.section_generation".to_owned(),
                operation: Operation::DataExtract,
                system: prompts::records(),
                inputs: vec![data_message(&message)],
                schema,
                max_output_tokens: None,
            };
            let debug = (
                run.trace.unique(&format!("section_generation_prompt_{}", section.id)),
                run.trace.unique(&format!("section_generation_response_{}", section.id)),
            );
            let name = group.first().map(|p| p.meta.original_file_name.clone()).unwrap_or_default();
            (name, run.ask(&call, "section_generation", op, "Record extraction", Some(debug)).await)
        }
    })
    .await;
    let mut rows: Vec<Value> = Vec::new();
    let mut failed: Vec<Value> = Vec::new();
    let total = answers.len();
    for (name, answer) in answers {
        match answer {
            Ok(a) => {
                for record in a.value["records"].as_array().into_iter().flatten() {
                    rows.push(Value::Array(
                        fields.iter().map(|(f, _)| record.get(f).cloned().unwrap_or(Value::Null)).collect(),
                    ));
                }
            }
            Err(e) if is_fatal(&e) => return Err(e),
            Err(e) => failed.push(json!({
                "type": "error",
                "message": format!("Error generating section {} for {name}: {e}", section.id),
                "section_id": section.id,
            })),
        }
    }
    if total > 0 && failed.len() == total {
        let reason = failed.first().map(|f| text(f, "message")).unwrap_or_default();
        return Err(Error::Ai { phase: "section_generation", error: crate::AiError::Failed(reason) });
    }
    let mut elements = vec![json!({
        "type": "table",
        "caption": section.title,
        "columns": fields.iter().map(|(n, t)| json!({"name": n, "data_type": t})).collect::<Vec<_>>(),
        "rows": rows,
    })];
    elements.extend(failed);
    Ok(elements)
}

/// 5E: every document rendered; results stored (summaries kept for later actions instead).
async fn render_all(
    run: &Run<'_>,
    req: &ContentRequest,
    structure: &Structure,
    filled: Vec<Vec<Vec<Value>>>,
    _op: &str,
) -> Result<ContentOutcome> {
    let mut files = Vec::new();
    let mut texts = Vec::new();
    let mut debug_docs = Vec::new();
    let sources: Vec<String> = req.documents.iter().filter(|d| d.inline.is_none()).map(|d| d.info.id.clone()).collect();
    for (doc, sections) in structure.documents.iter().zip(filled) {
        // A run cancelled while its sections were being written renders and stores nothing more.
        run.check_cancel()?;
        let model = json!({
            "title": doc.title,
            "language": run.language(),
            "filename": doc.filename,
            "metadata": {"subject": clip(&req.prompt, 200), "creator": "docwright", "workflow_id": run.input.workflow_id},
            "sections": doc.sections.iter().zip(sections).map(|(s, elements)| json!({
                "id": s.id, "title": s.title, "elements": elements,
            })).collect::<Vec<_>>(),
        });
        debug_docs.push(render::without_bytes(&model));
        let plain = render::render(&model, "txt", structure.csv_delimiter, &run.settings.render).await?;
        let plain_text: String =
            plain.iter().map(|r| String::from_utf8_lossy(&r.bytes).into_owned()).collect::<Vec<_>>().join("\n");
        texts.push(format!("{}:\n{}", doc.filename, clip(&plain_text, 1500)));
        if req.mode == Mode::Summarize {
            let id = run.next_doc_id("summary");
            run.add_text_doc(
                id,
                doc.filename.clone(),
                plain_text,
                Origin::Produced(req.action.clone()),
                Some(doc.title.clone()),
            );
            continue;
        }
        let rendered = render::render(&model, &doc.format, structure.csv_delimiter, &run.settings.render).await?;
        for (i, r) in rendered.into_iter().enumerate() {
            let file = Rendered {
                key: format!("{}_{}_{i}", req.key, doc.id),
                filename: r.filename,
                mime_type: r.mime_type,
                bytes: r.bytes,
            };
            let stored = run.ports.results.store(file, &sources).await.map_err(Error::Sink)?;
            run.trace.event(Event::DocumentReady { file: stored.clone() }).await;
            run.add_result(stored.clone());
            files.push(stored);
        }
        let id = run.next_doc_id("produced");
        run.add_text_doc(
            id,
            format!("text of {}", doc.filename),
            plain_text,
            Origin::Produced(req.action.clone()),
            Some(doc.title.clone()),
        );
    }
    let final_json = json!({"title": structure.title, "documents": debug_docs});
    run.trace.debug(run.trace.unique("document_generation_response"), || pretty(&final_json)).await;
    let summary = if files.is_empty() {
        format!("produced {} document(s) for later actions:\n{}", structure.documents.len(), texts.join("\n\n"))
    } else {
        format!(
            "rendered {}:\n{}",
            files.iter().map(|f| f.file_name.as_str()).collect::<Vec<_>>().join(", "),
            texts.join("\n\n")
        )
    };
    run.set_answer(texts.join("\n\n"));
    Ok(ContentOutcome { summary })
}

/// Renders `body` (paragraphs separated by blank lines) as the run's document, in the
/// requested format, and stores it.
pub(crate) async fn render_text(run: &Run<'_>, op: &str, title: &str, body: &str) -> Result<()> {
    let format = run.input.output_format.as_deref().and_then(render::normalize_format).unwrap_or("txt");
    let paragraphs: Vec<Value> = body
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| json!({"type": "paragraph", "text": p}))
        .collect();
    let model = json!({
        "title": title,
        "language": run.language(),
        "filename": render::filename_for("", title, format),
        "metadata": {"creator": "docwright", "workflow_id": run.input.workflow_id},
        "sections": [{"id": "answer", "title": null, "elements": paragraphs}],
    });
    run.trace.debug(run.trace.unique("document_generation_response"), || pretty(&model)).await;
    let rendered = traced(
        run,
        format!("{op}_rendering"),
        op,
        ("Content Rendering", "Rendering"),
        &format!("Format: {format}"),
        async |_| render::render(&model, format, None, &run.settings.render).await,
    )
    .await?;
    let sources: Vec<String> = run.input.documents.iter().map(|d| d.id.clone()).collect();
    for (i, r) in rendered.into_iter().enumerate() {
        let file =
            Rendered { key: format!("answer_{i}"), filename: r.filename, mime_type: r.mime_type, bytes: r.bytes };
        let stored = run.ports.results.store(file, &sources).await.map_err(Error::Sink)?;
        run.trace.event(Event::DocumentReady { file: stored.clone() }).await;
        run.add_result(stored);
    }
    Ok(())
}

/// When no action rendered anything: the run's words (or what its actions produced) become
/// its document.
pub(crate) async fn render_answer(run: &Run<'_>, intent: &str) -> Result<()> {
    let mut body = run.answer();
    if body.trim().is_empty() {
        body = run
            .docs()
            .iter()
            .filter(|d| matches!(d.origin, Origin::Produced(_)))
            .filter_map(|d| {
                d.inline.as_ref().map(|p| p.iter().map(|x| x.text.clone()).collect::<Vec<_>>().join("\n\n"))
            })
            .collect::<Vec<_>>()
            .join("\n\n");
    }
    if body.trim().is_empty() {
        body = "The workflow ran its tasks but produced no content.".to_owned();
    }
    run.set_answer(body.clone());
    let title = run
        .input
        .title
        .clone()
        .unwrap_or_else(|| if intent.is_empty() { "Generated Document".to_owned() } else { intent.to_owned() });
    render_text(run, &run.root, &title, &body).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::DocumentInfo;

    fn part(id: &str, doc: &str) -> ContentPart {
        let d = DocumentInfo {
            id: doc.into(),
            file_name: format!("{doc}.pdf"),
            mime_type: "application/pdf".into(),
            file_size: 1,
        };
        let s = SourcePart {
            id: id.into(),
            type_group: TypeGroup::Text,
            mime_type: "text/plain".into(),
            label: None,
            text: "x".into(),
            rows: None,
            method: "text".into(),
            page: None,
            slide: None,
            sheet: None,
        };
        parts::pre_extracted(&d, &s, false, None, None)
    }

    #[test]
    fn a_structure_is_cleaned() {
        let parts = vec![part("p1", "d1"), part("p2", "d2")];
        let v = json!({
            "metadata": {"title": "Expenses Overview", "language": "en", "output_format": "csv", "fields": ["date", "CHF"], "csv_delimiter": ";"},
            "documents": [
                {"id": "expenses_csv", "title": "Expenses CSV", "filename": "expenses.csv", "output_format": null, "sections": [
                    {"id": "data_extraction", "title": null, "content_type": "table", "generation_hint": "Extract",
                     "content_part_ids": ["p1", "nope"], "content_formats": [],
                     "extraction_fields": [
                        {"field_name": "date", "data_type": "date", "extraction_hint": "", "content_part_ids": ["p1", "p2"]},
                        {"field_name": "CHF", "data_type": "money?", "extraction_hint": "", "content_part_ids": []}]},
                    {"id": "data_extraction", "title": null, "content_type": "paragraph", "generation_hint": "", "content_part_ids": [], "content_formats": [], "extraction_fields": []}
                ]},
                {"id": "empty", "title": "", "filename": "", "output_format": null, "sections": []}
            ]
        });
        let s = parse_structure(&v, &parts, "T");
        assert_eq!(s.csv_delimiter, Some(b';'));
        assert_eq!(s.documents.len(), 1);
        let d = &s.documents[0];
        assert_eq!((d.format.as_str(), d.sections.len()), ("csv", 2));
        assert_eq!(d.sections[0].part_ids, vec!["p1".to_owned()]);
        assert_eq!(d.sections[0].fields[1].data_type, "string");
        assert_eq!(d.sections[1].id, "data_extraction_2");
    }

    #[test]
    fn an_empty_structure_gets_one_section_over_everything() {
        let parts = vec![part("p1", "d1")];
        let s = parse_structure(&json!({"metadata": {}, "documents": []}), &parts, "T");
        assert_eq!(s.documents.len(), 1);
        assert_eq!(s.documents[0].sections[0].part_ids, vec!["p1".to_owned()]);
    }
}
