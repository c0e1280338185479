//! Phase 3, task execution: the actions catalog and the loop that runs a task.
//!
//! For each step an action planner picks the next action from the catalog, given the task,
//! the actions executed so far with their results, the history of earlier tasks, the documents
//! available and the guidance of the last validation; the action runs; a refinement step
//! validates its result, says whether the task is complete and may set guidance for the next
//! step. A task ends when the planner says `complete`, the refinement says the task is done,
//! the planner repeats an action that already succeeded, or the step limit is reached.

use futures_util::StreamExt as _;
use serde_json::{Value, json};

use crate::analysis::Analysis;
use crate::content::{self, ContentRequest, Mode};
use crate::planning::{Task, documents_index};
use crate::ports::{AiCall, Event, Operation};
use crate::run::{Doc, Origin, Run, clip, data_message, flag, opt_text, strings, text};
use crate::{Error, Result, prompts, schemas};

/// A parameter of an action, as the planner and the automations editor see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamSpec {
    pub name: &'static str,
    /// `string`, `string[]` or `enum`.
    pub kind: &'static str,
    pub required: bool,
    pub description: &'static str,
    /// The choices of an `enum`.
    pub options: &'static [&'static str],
}

/// An action of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionSpec {
    /// `ai`, `context`, `web`.
    pub method: &'static str,
    /// `process`, `generate_document`, ...
    pub action: &'static str,
    pub description: &'static str,
    pub parameters: Vec<ParamSpec>,
}

impl ActionSpec {
    /// `method.action`, e.g. `ai.process`.
    pub fn name(&self) -> String {
        format!("{}.{}", self.method, self.action)
    }
}

const PROMPT: ParamSpec = ParamSpec {
    name: "prompt",
    kind: "string",
    required: true,
    description: "What to do, in full sentences",
    options: &[],
};
const DOCUMENT_IDS: ParamSpec = ParamSpec {
    name: "document_ids",
    kind: "string[]",
    required: false,
    description: "Ids of available documents to use (default: the task's documents)",
    options: &[],
};
const OUTPUT_FORMAT: ParamSpec = ParamSpec {
    name: "output_format",
    kind: "enum",
    required: false,
    description: "Format of the result (default: the request's)",
    options: &schemas::FORMATS,
};
const TITLE: ParamSpec =
    ParamSpec { name: "title", kind: "string", required: false, description: "Title of the result", options: &[] };

/// The actions a run may use: `web.search` only when a model can search the web, and
/// `context.search_documents` only when the caller's projects may be searched.
pub fn catalog(web_search: bool, search_projects: bool) -> Vec<ActionSpec> {
    let mut all = vec![
        ActionSpec {
            method: "ai",
            action: "process",
            description: "Processes documents with AI for the purpose given in `prompt` (extract structured data, \
                analyse, transform) and renders the result as a document of the requested format.",
            parameters: vec![PROMPT, DOCUMENT_IDS, OUTPUT_FORMAT, TITLE],
        },
        ActionSpec {
            method: "ai",
            action: "generate_document",
            description: "Writes a new document (report, overview, presentation, letter) from the request and the \
                given documents, in the requested format.",
            parameters: vec![PROMPT, DOCUMENT_IDS, OUTPUT_FORMAT, TITLE],
        },
        ActionSpec {
            method: "ai",
            action: "summarize_document",
            description: "Summarizes each given document; the summaries become available documents for the next \
                actions (they are not results by themselves).",
            parameters: vec![
                ParamSpec { required: true, ..DOCUMENT_IDS },
                ParamSpec { required: false, description: "What the summaries should focus on", ..PROMPT },
            ],
        },
        ActionSpec {
            method: "context",
            action: "extract_content",
            description: "Reads the content of the given documents (text, tables, images) so that later actions use \
                it without reading it again.",
            parameters: vec![ParamSpec { required: true, ..DOCUMENT_IDS }],
        },
    ];
    if search_projects {
        all.push(ActionSpec {
            method: "context",
            action: "search_documents",
            description: "Finds documents in the user's projects by words in `query`; an empty query lists the \
                documents of the projects tree with their folders. Found documents become available.",
            parameters: vec![ParamSpec {
                name: "query",
                kind: "string",
                required: false,
                description: "Words to look for (empty: list all documents)",
                options: &[],
            }],
        });
    }
    if web_search {
        all.push(ActionSpec {
            method: "web",
            action: "search",
            description: "Answers a question from the web; the answer and its sources become an available document.",
            parameters: vec![ParamSpec {
                name: "query",
                kind: "string",
                required: true,
                description: "The question",
                options: &[],
            }],
        });
    }
    all
}

fn spec_json(spec: &ActionSpec) -> Value {
    json!({
        "name": spec.name(),
        "description": spec.description,
        "parameters": spec.parameters.iter().map(|p| json!({
            "name": p.name, "type": p.kind, "required": p.required, "description": p.description,
        })).collect::<Vec<_>>(),
    })
}

/// What an action did.
struct ActionOutcome {
    ok: bool,
    summary: String,
}

/// Runs one task; returns what it achieved, in words, for the next tasks' history.
pub(crate) async fn execute_task(run: &Run<'_>, analysis: &Analysis, task: &Task, history: &[Value]) -> Result<String> {
    let task_op = run
        .trace
        .start(
            format!("{}_task_{}", run.root, task.id),
            Some(&run.root),
            &format!("Task: {}", task.objective),
            "Task",
            &task.expected_output,
        )
        .await;
    run.trace.event(Event::TaskStarted { task_id: task.id.clone(), objective: task.objective.clone() }).await;
    let result = task_loop(run, analysis, task, history, &task_op).await;
    run.trace.finish(&task_op, result.as_ref().map(|_| ()).map_err(ToString::to_string)).await;
    result
}

async fn task_loop(
    run: &Run<'_>,
    analysis: &Analysis,
    task: &Task,
    history: &[Value],
    task_op: &str,
) -> Result<String> {
    let specs = catalog(run.ports.ai.can_search_web(), run.input.can_search_projects);
    let names: Vec<String> = specs.iter().map(ActionSpec::name).collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut executed: Vec<Value> = Vec::new();
    let mut guidance: Option<String> = None;
    let mut achieved = String::new();
    // The formats this task has written a document in: a task writes each once, so a second
    // document action in a format already written ends the task instead of writing it again
    // (a model that keeps asking for "one more" document would otherwise loop to the bound).
    let mut written: Vec<String> = Vec::new();
    for step in 1..=run.settings.max_steps_per_task {
        run.check_cancel()?;
        let step_op = run
            .trace
            .start(format!("{task_op}_step_{step}"), Some(task_op), &format!("Step {step}"), "Action", "")
            .await;
        let key = format!("task_{}_step_{step}", task.id);
        let message = json!({
            "task": {"id": task.id, "objective": task.objective, "required_documents": task.required_documents, "expected_output": task.expected_output},
            "request": analysis.normalized_request,
            "output_format": run.input.output_format,
            "actions": specs.iter().map(spec_json).collect::<Vec<_>>(),
            "executed_actions": executed,
            "task_history": history,
            "workflow_history": if analysis.needs_workflow_history { json!(history) } else { json!([]) },
            "available_documents": documents_index(run),
            "next_action_guidance": guidance,
            "steps_left": run.settings.max_steps_per_task - step + 1,
        });
        let call = AiCall {
            key: format!("{key}_planner"),
            process: "workflow.action_planning".to_owned(),
            operation: Operation::Planning,
            system: prompts::action_planner(),
            inputs: vec![data_message(&message)],
            schema: schemas::next_action(&name_refs),
            max_output_tokens: None,
        };
        let debug = Some((format!("action_planning_prompt_{key}"), format!("action_planning_response_{key}")));
        let planned = match run.ask(&call, "action_planning", &step_op, "Action planning", debug).await {
            Ok(a) => a.value,
            Err(e) => {
                run.trace.finish(&step_op, Err(e.to_string())).await;
                return Err(e);
            }
        };
        let action = text(&planned, "action");
        let parameters = planned.get("parameters").cloned().unwrap_or_else(|| json!({}));
        if action == "complete" || !names.contains(&action) {
            run.trace.finish(&step_op, Ok(())).await;
            break;
        }
        let repeated = executed
            .iter()
            .any(|e| e["action"] == json!(action) && e["parameters"] == parameters && e["ok"] == json!(true));
        let format = matches!(action.as_str(), "ai.process" | "ai.generate_document")
            .then(|| content::format_of(run, opt_text(&parameters, "output_format").as_deref(), None));
        let rewrite = format.as_ref().is_some_and(|f| written.contains(f));
        if repeated || rewrite {
            // The same successful action again would only duplicate its result.
            run.trace.finish(&step_op, Ok(())).await;
            break;
        }
        run.trace.event(Event::ActionStarted { task_id: task.id.clone(), step, action: action.clone() }).await;
        let outcome = match execute_action(run, task, &action, &parameters, &key, &step_op).await {
            Ok(o) => o,
            Err(e @ (Error::Cancelled | Error::Sink(_))) => {
                run.trace.finish(&step_op, Err(e.to_string())).await;
                return Err(e);
            }
            Err(Error::Ai { phase, error }) if error.is_fatal() => {
                let e = Error::Ai { phase, error };
                run.trace.finish(&step_op, Err(e.to_string())).await;
                return Err(e);
            }
            // Any other failure is the action's result: the refinement sees it and the planner
            // may try something else.
            Err(e) => ActionOutcome { ok: false, summary: format!("failed: {e}") },
        };
        if outcome.ok {
            achieved = outcome.summary.clone();
            written.extend(format);
        }
        executed.push(json!({"step": step, "action": action, "parameters": parameters, "ok": outcome.ok, "result": clip(&outcome.summary, 2000)}));
        let message = json!({
            "task": {"id": task.id, "objective": task.objective, "expected_output": task.expected_output},
            "action": action,
            "parameters": parameters,
            "ok": outcome.ok,
            "result": clip(&outcome.summary, 4000),
            "steps_left": run.settings.max_steps_per_task - step,
        });
        let call = AiCall {
            key: format!("{key}_refinement"),
            process: "workflow.refinement".to_owned(),
            operation: Operation::Planning,
            system: prompts::refinement(),
            inputs: vec![data_message(&message)],
            schema: schemas::refinement(),
            max_output_tokens: None,
        };
        let debug = Some((format!("action_refinement_prompt_{key}"), format!("action_refinement_response_{key}")));
        let verdict = match run.ask(&call, "refinement", &step_op, "Refinement", debug).await {
            Ok(a) => a.value,
            Err(e) => {
                run.trace.finish(&step_op, Err(e.to_string())).await;
                return Err(e);
            }
        };
        run.trace.finish(&step_op, if outcome.ok { Ok(()) } else { Err(outcome.summary.clone()) }).await;
        if flag(&verdict, "task_complete") {
            break;
        }
        guidance = opt_text(&verdict, "next_action_guidance");
    }
    Ok(if achieved.is_empty() { "nothing was produced".to_owned() } else { achieved })
}

/// Runs the actions of a fixed plan's task in order (no planner, no refinement); the first
/// that fails ends the run with [`Error::Action`].
pub(crate) async fn execute_scripted_task(
    run: &Run<'_>,
    task: &Task,
    actions: &[crate::ScriptedAction],
) -> Result<String> {
    let task_op = run
        .trace
        .start(
            format!("{}_task_{}", run.root, task.id),
            Some(&run.root),
            &format!("Task: {}", task.objective),
            "Task",
            "",
        )
        .await;
    run.trace.event(Event::TaskStarted { task_id: task.id.clone(), objective: task.objective.clone() }).await;
    let mut achieved = Vec::new();
    let mut result = Ok(());
    for (i, scripted) in actions.iter().enumerate() {
        if let Err(e) = run.check_cancel() {
            result = Err(e);
            break;
        }
        let step = i as u32 + 1;
        let label = scripted.result_label.clone().unwrap_or_else(|| scripted.action.replace('.', "_") + "_result");
        let step_op = run
            .trace
            .start(
                format!("{task_op}_step_{step}"),
                Some(&task_op),
                &format!("Step {step}: {}", scripted.action),
                "Action",
                &label,
            )
            .await;
        run.trace.event(Event::ActionStarted { task_id: task.id.clone(), step, action: scripted.action.clone() }).await;
        let key = format!("task_{}_step_{step}", task.id);
        let outcome = execute_action(run, task, &scripted.action, &scripted.parameters, &key, &step_op).await;
        match outcome {
            // A search that finds nothing is an answer, not a failure: the next action works
            // with what there is.
            Ok(o) if o.ok || scripted.action == "context.search_documents" => {
                run.trace.finish(&step_op, Ok(())).await;
                achieved.push(format!("{label}: {}", clip(&o.summary, 2000)));
            }
            Ok(o) => {
                run.trace.finish(&step_op, Err(o.summary.clone())).await;
                result = Err(Error::Action { action: scripted.action.clone(), message: o.summary });
                break;
            }
            Err(e) => {
                run.trace.finish(&step_op, Err(e.to_string())).await;
                result = Err(match e {
                    e @ (Error::Cancelled | Error::Sink(_) | Error::Ai { .. }) => e,
                    other => Error::Action { action: scripted.action.clone(), message: other.to_string() },
                });
                break;
            }
        }
    }
    run.trace.finish(&task_op, result.as_ref().map(|_| ()).map_err(ToString::to_string)).await;
    result.map(|()| if achieved.is_empty() { "nothing was produced".to_owned() } else { achieved.join("\n") })
}

/// The documents an action names, or the task's, or every document the run was given or found.
fn pick_documents(run: &Run<'_>, task: &Task, parameters: &Value) -> Vec<Doc> {
    let named: Vec<Doc> = strings(parameters, "document_ids").iter().filter_map(|id| run.doc(id)).collect();
    if !named.is_empty() {
        return named;
    }
    let required: Vec<Doc> = task.required_documents.iter().filter_map(|id| run.doc(id)).collect();
    if !required.is_empty() {
        return required;
    }
    run.docs().into_iter().filter(|d| matches!(d.origin, Origin::Attached | Origin::Context | Origin::Found)).collect()
}

async fn execute_action(
    run: &Run<'_>,
    task: &Task,
    action: &str,
    parameters: &Value,
    key: &str,
    step_op: &str,
) -> Result<ActionOutcome> {
    match action {
        "ai.process" | "ai.generate_document" | "ai.summarize_document" => {
            let mode = match action {
                "ai.process" => Mode::Process,
                "ai.generate_document" => Mode::Generate,
                _ => Mode::Summarize,
            };
            let prompt = opt_text(parameters, "prompt").unwrap_or_else(|| task.objective.clone());
            let req = ContentRequest {
                action: action.to_owned(),
                key: key.to_owned(),
                prompt,
                documents: pick_documents(run, task, parameters),
                output_format: opt_text(parameters, "output_format"),
                title: opt_text(parameters, "title"),
                mode,
            };
            let outcome = content::process(run, &req, step_op).await?;
            Ok(ActionOutcome { ok: true, summary: outcome.summary })
        }
        "context.extract_content" => {
            let docs = pick_documents(run, task, parameters);
            let summary = content::extract_for_later(run, &docs, action).await?;
            Ok(ActionOutcome { ok: true, summary })
        }
        "context.search_documents" => {
            let query = opt_text(parameters, "query").unwrap_or_default();
            let hits = run.ports.documents.search(&query, run.settings.search_limit).await?;
            let mut lines = Vec::new();
            for h in &hits {
                run.add_doc(Doc {
                    info: h.document.clone(),
                    origin: Origin::Found,
                    inline: None,
                    folder: h.folder.clone(),
                    note: (!h.snippet.is_empty()).then(|| clip(&h.snippet, 300)),
                });
                lines.push(format!(
                    "{} ({}) in {}",
                    h.document.file_name,
                    h.document.id,
                    h.folder.as_deref().unwrap_or("no folder")
                ));
            }
            let summary = if hits.is_empty() {
                format!("no documents found for `{query}`")
            } else {
                format!("found {} document(s):\n{}", hits.len(), lines.join("\n"))
            };
            Ok(ActionOutcome { ok: !hits.is_empty(), summary })
        }
        "web.search" => {
            let query = opt_text(parameters, "query").unwrap_or_else(|| task.objective.clone());
            let call = AiCall {
                key: format!("{key}_web_search"),
                process: "workflow.web_search".to_owned(),
                operation: Operation::WebSearch,
                system: prompts::web_search(),
                inputs: vec![data_message(&json!({"question": query}))],
                schema: schemas::web_answer(),
                max_output_tokens: None,
            };
            let answer = run.ask(&call, "web_search", step_op, "Web search", None).await?;
            let sources: Vec<String> = answer.value["sources"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| format!("- {} <{}>", text(s, "title"), text(s, "url")))
                .collect();
            let body = format!("{}\n\nSources:\n{}", text(&answer.value, "answer"), sources.join("\n"));
            let id = run.next_doc_id("web");
            run.add_text_doc(
                id.clone(),
                format!("{id}.txt"),
                body.clone(),
                Origin::Produced(action.to_owned()),
                Some(query),
            );
            Ok(ActionOutcome { ok: true, summary: format!("web answer in document {id}: {}", clip(&body, 1000)) })
        }
        other => Ok(ActionOutcome { ok: false, summary: format!("unknown action {other}") }),
    }
}

/// Runs `items` at most `n` at a time, keeping their order.
pub(crate) async fn bounded<T, F, Fut>(items: Vec<T>, n: usize, f: F) -> Vec<Fut::Output>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future,
{
    futures_util::stream::iter(items.into_iter().map(f)).buffered(n.max(1)).collect().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_offers_what_exists() {
        let names = |w, p| catalog(w, p).iter().map(ActionSpec::name).collect::<Vec<_>>();
        assert_eq!(
            names(false, false),
            ["ai.process", "ai.generate_document", "ai.summarize_document", "context.extract_content"]
        );
        assert!(names(false, true).contains(&"context.search_documents".to_owned()));
        assert!(names(true, false).contains(&"web.search".to_owned()));
        assert!(!names(false, true).contains(&"web.search".to_owned()));
    }
}
