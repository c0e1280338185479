//! Phase 2, task planning: the request split into tasks `{id, objective, required_documents,
//! expected_output}`.

use serde_json::{Value, json};

use crate::analysis::Analysis;
use crate::ports::{AiCall, Operation};
use crate::run::{Run, data_message, opt_text, strings};
use crate::{Result, prompts, schemas};

/// One task of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Task {
    pub(crate) id: String,
    pub(crate) objective: String,
    pub(crate) required_documents: Vec<String>,
    pub(crate) expected_output: String,
}

/// The documents of the run as planning prompts list them.
pub(crate) fn documents_index(run: &Run<'_>) -> Vec<Value> {
    run.docs()
        .iter()
        .map(|d| {
            json!({
                "id": d.info.id,
                "file_name": d.info.file_name,
                "mime_type": d.info.mime_type,
                "file_size": d.info.file_size,
                "origin": d.origin.as_str(),
                "folder": d.folder,
                "note": d.note,
            })
        })
        .collect()
}

pub(crate) async fn plan(run: &Run<'_>, analysis: &Analysis) -> Result<Vec<Task>> {
    let op =
        run.trace.start(format!("{}_task_planning", run.root), Some(&run.root), "Task Planning", "Planning", "").await;
    let message = json!({
        "request": analysis.normalized_request,
        "intent": analysis.intent,
        "language": analysis.detected_language,
        "complexity": analysis.complexity,
        "documents": documents_index(run),
        "output_format": run.input.output_format,
        "can_search_projects": run.input.can_search_projects,
    });
    let call = AiCall {
        key: "task_planning".to_owned(),
        process: "workflow.task_planning".to_owned(),
        operation: Operation::Planning,
        system: prompts::task_planning(),
        inputs: vec![data_message(&message)],
        schema: schemas::task_plan(),
        max_output_tokens: None,
    };
    let debug = Some(("task_planning_prompt".to_owned(), "task_planning_response".to_owned()));
    let answer = match run.ask(&call, "task_planning", &op, "Task planning", debug).await {
        Ok(a) => a,
        Err(e) => {
            run.trace.finish(&op, Err(e.to_string())).await;
            return Err(e);
        }
    };
    let known: Vec<String> = run.docs().into_iter().map(|d| d.info.id).collect();
    let mut tasks = parse_tasks(&answer.value, &known);
    if tasks.is_empty() {
        // A plan without tasks still has the request to do.
        tasks.push(Task {
            id: "t1".to_owned(),
            objective: analysis.normalized_request.clone(),
            required_documents: known,
            expected_output: run.input.output_format.clone().unwrap_or_else(|| "document".to_owned()),
        });
    }
    if tasks.len() > run.settings.max_tasks {
        let dropped = tasks.len() - run.settings.max_tasks;
        tasks.truncate(run.settings.max_tasks);
        tracing::info!(dropped, "workflow plan had more tasks than allowed; the rest were dropped");
    }
    run.trace.finish(&op, Ok(())).await;
    Ok(tasks)
}

/// The tasks of an answer: ids made unique, unknown document ids dropped.
fn parse_tasks(v: &Value, known: &[String]) -> Vec<Task> {
    let mut out: Vec<Task> = Vec::new();
    for (i, t) in v.get("tasks").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let Some(objective) = opt_text(t, "objective") else { continue };
        let mut id = opt_text(t, "id").filter(|s| s.len() <= 40).unwrap_or_else(|| format!("t{}", i + 1));
        id = id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
        if out.iter().any(|o| o.id == id) {
            id = format!("{id}_{}", i + 1);
        }
        out.push(Task {
            id,
            objective,
            required_documents: strings(t, "required_documents").into_iter().filter(|d| known.contains(d)).collect(),
            expected_output: opt_text(t, "expected_output").unwrap_or_else(|| "document".to_owned()),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_are_cleaned() {
        let v = json!({"tasks": [
            {"id": "t1", "objective": "Extract", "required_documents": ["a", "zzz"], "expected_output": "structured_data"},
            {"id": "t1", "objective": "Again", "required_documents": [], "expected_output": ""},
            {"id": "x", "objective": "  ", "required_documents": [], "expected_output": "x"},
            {"id": "a b/c", "objective": "Odd id", "required_documents": [], "expected_output": "pptx"},
        ]});
        let tasks = parse_tasks(&v, &["a".to_owned()]);
        assert_eq!(tasks.len(), 3);
        assert_eq!(tasks[0].required_documents, vec!["a".to_owned()]);
        assert_eq!(tasks[1].id, "t1_2");
        assert_eq!(tasks[1].expected_output, "document");
        assert_eq!(tasks[2].id, "a_b_c");
    }
}
