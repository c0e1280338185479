//! `docwright generate "<prompt>" [FILE...] -o OUT`: the main job in this process, on the
//! local data directory, no server needed (SPEC W1, issue 12).
//!
//! It builds the same application `serve` does (database, blob store, extraction workers, job
//! queue; on a loopback port nothing is served on), acts as ROOT's administrator, uploads the
//! files, submits a workflow whose output format is OUT's extension, prints its events as they
//! come and writes the result to OUT. Every AI call goes through the gateway with billing, as
//! over HTTP: the configured providers, or the built-in dryrun provider offline.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use docwright_config::Config;
use docwright_engine::Engine;
use docwright_engine::files::{FILE_CREATE, FILE_READ};
use docwright_engine::workflows::{NewWorkflow, WORKFLOW_CREATE, WORKFLOW_READ};
use docwright_storage::workflows::{WorkflowEvent, WorkflowStatus};
use futures_util::{StreamExt as _, TryStreamExt as _};
use serde_json::Value;

/// What `docwright generate` was asked.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) prompt: String,
    pub(crate) files: Vec<PathBuf>,
    pub(crate) out: PathBuf,
    pub(crate) title: Option<String>,
    pub(crate) debug_trace: bool,
}

/// Runs one workflow to its end and writes its document to `request.out`.
pub(crate) async fn run(mut config: Config, request: Request) -> anyhow::Result<()> {
    let format = output_format(&request.out)?;
    for f in &request.files {
        if !f.is_file() {
            bail!("{} is not a readable file", f.display());
        }
    }
    // Nothing is served: the listener only exists because the application owns one.
    config.server.bind = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let app = docwright_server::Application::build(&config).await?;
    app.start_jobs();
    let engine = app.state().engine.clone();
    let outcome = generate(&engine, &request, &format).await;
    app.stop().await;
    outcome
}

/// The format OUT's extension names.
pub(crate) fn output_format(out: &Path) -> anyhow::Result<String> {
    let ext = out.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    if docwright_render::Format::from_extension(&ext).is_none() {
        bail!(
            "cannot tell the output format from {}: end it in .docx, .pdf, .xlsx, .csv, .pptx, .html, .md, .json or .txt",
            out.display()
        );
    }
    Ok(ext)
}

async fn generate(engine: &Engine, request: &Request, format: &str) -> anyhow::Result<()> {
    let principal = engine.operator_principal().await?;
    let result = generate_as(engine, &principal, request, format).await;
    if let Err(e) = engine.close_operator_session(&principal).await {
        tracing::warn!(error = %e, "could not close the operator session");
    }
    result
}

async fn generate_as(
    engine: &Engine,
    principal: &docwright_engine::identity::Principal,
    request: &Request,
    format: &str,
) -> anyhow::Result<()> {
    let ctx = engine.context(principal.clone(), None).await?;
    let uploader = engine.authorize(ctx.clone(), FILE_CREATE).await?;
    let reader = engine.authorize(ctx.clone(), FILE_READ).await?;
    let submitter = engine.authorize(ctx.clone(), WORKFLOW_CREATE).await?;
    let watcher = engine.authorize(ctx, WORKFLOW_READ).await?;

    let mut file_ids = Vec::new();
    for path in &request.files {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("upload").to_owned();
        let file = tokio::fs::File::open(path).await.with_context(|| format!("cannot open {}", path.display()))?;
        let stream = tokio_util::io::ReaderStream::new(file).map_err(|e| e.to_string());
        let record = engine
            .upload_file(&uploader, &name, stream)
            .await
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        say(&format!("uploaded {name} ({}, {} bytes)", record.mime_type, record.file_size));
        file_ids.push(record.id);
    }

    let new = NewWorkflow {
        prompt: request.prompt.clone(),
        file_ids,
        output_format: Some(format.to_owned()),
        title: request.title.clone(),
        debug_trace: request.debug_trace,
        ..NewWorkflow::default()
    };
    let view = engine.submit_workflow(&submitter, new).await?;
    let id = view.workflow.record.id;
    say(&format!("workflow {id} queued"));

    let mut events = std::pin::pin!(engine.follow_workflow(watcher.clone(), id, None, Duration::from_millis(500)));
    while let Some(ev) = events.next().await {
        if let Some(line) = describe(&ev?) {
            say(&line);
        }
    }

    let view = engine.workflow(&watcher, id).await?;
    match view.status {
        WorkflowStatus::Completed => {}
        status => bail!(
            "the workflow {}: {} ({})",
            status.as_str(),
            view.error_message.unwrap_or_default(),
            view.error_code.unwrap_or_default()
        ),
    }
    let Some(main) = view
        .results
        .iter()
        .find(|f| f.file_name.rsplit('.').next().is_some_and(|e| e.eq_ignore_ascii_case(format)))
        .or(view.results.first())
    else {
        match &view.workflow.state.answer {
            Some(answer) => {
                say(answer);
                bail!("the workflow answered without writing a document")
            }
            None => bail!("the workflow ended without a document"),
        }
    };
    write_file(engine, &reader, main, &request.out).await?;
    say(&format!("wrote {} ({}, {} bytes)", request.out.display(), main.mime_type, main.file_size));
    // The other parts of the same document (one CSV per table: `expenses-2.csv`) go beside
    // OUT under their own names; other documents of the run stay in the data directory.
    let dir = request.out.parent().unwrap_or(Path::new("."));
    for other in view.results.iter().filter(|f| f.id != main.id) {
        if same_document(&main.file_name, &other.file_name) {
            let target = dir.join(safe_name(&other.file_name));
            write_file(engine, &reader, other, &target).await?;
            say(&format!("wrote {} ({}, {} bytes)", target.display(), other.mime_type, other.file_size));
        } else {
            say(&format!("also made {} (file {}, GET /files/{}/content)", other.file_name, other.id, other.id));
        }
    }
    let cost = view.workflow.state.cost;
    say(&format!("cost {cost}"));
    Ok(())
}

async fn write_file(
    engine: &Engine,
    grant: &docwright_engine::Grant,
    file: &docwright_storage::files::FileRecord,
    target: &Path,
) -> anyhow::Result<()> {
    let mut reader = engine.file_content(grant, file, 0..file.file_size).await?;
    let mut out =
        tokio::fs::File::create(target).await.with_context(|| format!("cannot write {}", target.display()))?;
    tokio::io::copy(&mut reader, &mut out).await.with_context(|| format!("cannot write {}", target.display()))?;
    Ok(())
}

/// Whether `other` is a further part of the file `main` (the renderer names the files of a
/// document with several tables `<stem>-1.csv`, `<stem>-2.csv`, ...).
fn same_document(main: &str, other: &str) -> bool {
    let stem = |name: &str| {
        let base = name.rsplit_once('.').map_or(name, |(b, _)| b);
        match base.rsplit_once('-') {
            Some((s, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => s.to_owned(),
            _ => base.to_owned(),
        }
    };
    let ext = |name: &str| name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    main != other && stem(main) == stem(other) && ext(main) == ext(other)
}

/// A file name of the workflow's choosing, reduced to one path component.
fn safe_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name).trim_start_matches('.');
    if base.is_empty() { "result".to_owned() } else { base.to_owned() }
}

/// One line per event worth showing.
fn describe(ev: &WorkflowEvent) -> Option<String> {
    let d = &ev.data;
    let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    Some(match ev.event.as_str() {
        "phase_started" => format!("phase {}: {}", s("phase"), s("description")),
        "task_started" => format!("  task {}: {}", s("task_id"), s("objective")),
        "action_started" => format!("    action {}", s("action")),
        "section_done" => {
            let ok = d.get("ok").and_then(Value::as_bool).unwrap_or(false);
            format!(
                "    section {} {}",
                s("section_id"),
                if ok { "done" } else { "failed (rendered as an error notice)" }
            )
        }
        "document_ready" => format!("  document {} ({})", s("file_name"), s("mime_type")),
        "completed" => format!("completed, cost {}", s("cost")),
        "error" => format!("error {}: {}", s("code"), s("message")),
        _ => return None,
    })
}

#[allow(clippy::print_stdout)] // The command's progress is its output.
fn say(text: &str) {
    println!("{text}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_of_one_document_are_told_from_other_documents() {
        assert!(same_document("expenses-1.csv", "expenses-2.csv"));
        assert!(!same_document("expenses-1.csv", "expenses-1.csv"));
        assert!(!same_document("expenses-1.csv", "expenses-2.xlsx"));
        assert!(!same_document("report.docx", "summary.docx"));
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name(".hidden"), "hidden");
    }

    #[test]
    fn the_format_comes_from_the_extension() {
        assert_eq!(output_format(Path::new("out/Report.DOCX")).unwrap(), "docx");
        assert!(output_format(Path::new("report")).is_err());
        assert!(output_format(Path::new("report.exe")).is_err());
    }
}
