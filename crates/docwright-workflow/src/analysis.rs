//! Phase 1, input analysis (one AI call), and the fast track that answers simple requests
//! directly.

use serde_json::json;

use crate::ports::{AiCall, Operation};
use crate::run::{Origin, Run, data_message, flag, opt_text, text};
use crate::{Result, prompts, schemas};

/// What the analysis found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Analysis {
    pub(crate) detected_language: String,
    pub(crate) normalized_request: String,
    pub(crate) intent: String,
    pub(crate) context_items: Vec<(String, String)>,
    pub(crate) complexity: String,
    pub(crate) needs_workflow_history: bool,
    pub(crate) fast_track: bool,
}

impl Analysis {
    /// What a fixed plan stands on instead of an analysis: the prompt as it is.
    pub(crate) fn scripted(run: &Run<'_>) -> Self {
        Self {
            detected_language: run.language(),
            normalized_request: run.input.prompt.clone(),
            intent: run.input.title.clone().unwrap_or_else(|| "Automation".to_owned()),
            context_items: Vec::new(),
            complexity: "complex".to_owned(),
            needs_workflow_history: false,
            fast_track: false,
        }
    }
}

/// An ISO 639-1 code, or `None` for anything else a model may say.
fn language_code(s: &str) -> Option<String> {
    let s = s.trim().to_ascii_lowercase();
    let code = s.split(['-', '_']).next().unwrap_or("");
    (code.len() == 2 && code.bytes().all(|b| b.is_ascii_lowercase())).then(|| code.to_owned())
}

pub(crate) async fn analyse(run: &Run<'_>) -> Result<Analysis> {
    let op = run
        .trace
        .start(format!("{}_input_analysis", run.root), Some(&run.root), "Input Analysis", "Analysis", "")
        .await;
    let message = json!({
        "user_request": run.input.prompt,
        "attached_document_count": run.input.documents.len(),
        "user_language": run.input.language,
    });
    let call = AiCall {
        key: "input_analysis".to_owned(),
        process: "workflow.input_analysis".to_owned(),
        operation: Operation::Planning,
        system: prompts::input_analysis(),
        inputs: vec![data_message(&message)],
        schema: schemas::input_analysis(),
        max_output_tokens: None,
    };
    let debug = Some(("user_input_analysis_prompt".to_owned(), "user_input_analysis_response".to_owned()));
    let answer = run.ask(&call, "input_analysis", &op, "Input analysis", debug).await;
    let answer = match answer {
        Ok(a) => a,
        Err(e) => {
            run.trace.finish(&op, Err(e.to_string())).await;
            return Err(e);
        }
    };
    let v = &answer.value;
    let detected = language_code(&text(v, "detected_language"))
        .or_else(|| run.input.language.clone())
        .unwrap_or_else(|| "en".to_owned());
    run.set_language(&detected);
    let normalized = opt_text(v, "normalized_request").unwrap_or_else(|| run.input.prompt.clone());
    let context_items: Vec<(String, String)> = v
        .get("context_items")
        .and_then(|c| c.as_array())
        .map(|items| {
            items
                .iter()
                .filter_map(|i| {
                    let content = text(i, "content");
                    (!content.is_empty())
                        .then(|| (opt_text(i, "title").unwrap_or_else(|| "Context".to_owned()), content))
                })
                .collect()
        })
        .unwrap_or_default();
    for (title, content) in &context_items {
        let id = run.next_doc_id("ctx");
        let name = format!("{}.txt", safe_name(title));
        run.add_text_doc(id, name, content.clone(), Origin::Context, Some(format!("Data from the request: {title}")));
    }
    let complexity = match text(v, "complexity").as_str() {
        c @ ("simple" | "moderate" | "complex") => c.to_owned(),
        _ => "moderate".to_owned(),
    };
    let analysis = Analysis {
        detected_language: detected,
        normalized_request: normalized,
        intent: opt_text(v, "intent").unwrap_or_else(|| run.input.prompt.chars().take(80).collect()),
        context_items,
        complexity,
        needs_workflow_history: flag(v, "needs_workflow_history"),
        fast_track: flag(v, "fast_track"),
    };
    run.trace.finish(&op, Ok(())).await;
    Ok(analysis)
}

/// The fast track: one call answers, and the answer is rendered as the run's document.
pub(crate) async fn answer_directly(run: &Run<'_>, analysis: &Analysis) -> Result<()> {
    let op =
        run.trace.start(format!("{}_fast_track", run.root), Some(&run.root), "Direct Answer", "Fast Track", "").await;
    let message = json!({
        "request": analysis.normalized_request,
        "language": analysis.detected_language,
        "title": run.input.title,
    });
    let call = AiCall {
        key: "fast_track".to_owned(),
        process: "workflow.fast_track".to_owned(),
        operation: Operation::DataGenerate,
        system: prompts::direct_answer(),
        inputs: vec![data_message(&message)],
        schema: schemas::direct_answer(),
        max_output_tokens: None,
    };
    let debug = Some(("fast_track_prompt".to_owned(), "fast_track_response".to_owned()));
    let result = async {
        let answer = run.ask(&call, "fast_track", &op, "Direct answer", debug).await?;
        let body = text(&answer.value, "answer");
        let title = run
            .input
            .title
            .clone()
            .or_else(|| opt_text(&answer.value, "title"))
            .unwrap_or_else(|| "Generated Document".to_owned());
        run.set_answer(body.clone());
        crate::content::render_text(run, &op, &title, &body).await
    }
    .await;
    run.trace.finish(&op, result.as_ref().map(|_| ()).map_err(ToString::to_string)).await;
    result
}

/// A file name made of a title: letters, digits, `-` and `_`, at most 60 characters.
pub(crate) fn safe_name(title: &str) -> String {
    let s: String = title
        .chars()
        .map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect::<String>()
        .split('_')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    let s: String = s.chars().take(60).collect();
    if s.is_empty() { "document".to_owned() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_codes() {
        assert_eq!(language_code("de").as_deref(), Some("de"));
        assert_eq!(language_code("EN-us").as_deref(), Some("en"));
        assert_eq!(language_code("detected_language 3a"), None);
        assert_eq!(language_code("deutsch"), None);
    }

    #[test]
    fn safe_names() {
        assert_eq!(safe_name("Sales 2024 / Q1"), "Sales_2024_Q1");
        assert_eq!(safe_name("../../etc/passwd"), "etc_passwd");
        assert_eq!(safe_name("  "), "document");
        assert_eq!(safe_name("Отчёт"), "Отчёт");
    }
}
