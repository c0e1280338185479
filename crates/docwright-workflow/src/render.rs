//! 5E: the filled structure handed to `docwright-render`, on a blocking thread (rendering is
//! CPU-bound: a long PDF takes a second or two).

use serde_json::{Value, json};

use crate::{Error, Result};

/// A rendered file as the pipeline stores it.
pub(crate) struct Out {
    pub(crate) filename: String,
    pub(crate) mime_type: String,
    pub(crate) bytes: Vec<u8>,
}

/// A format name the renderer knows (`markdown` → `md`, `.DOCX` → `docx`), or `None`.
pub(crate) fn normalize_format(name: &str) -> Option<&'static str> {
    let n = name.trim().trim_start_matches('.').to_ascii_lowercase();
    let n = match n.as_str() {
        "markdown" => "md",
        "text" | "plain" => "txt",
        "htm" => "html",
        "powerpoint" | "ppt" => "pptx",
        "excel" | "xls" => "xlsx",
        "word" | "doc" => "docx",
        other => other,
    };
    crate::schemas::FORMATS.iter().copied().find(|f| *f == n)
}

/// A file name for a result: the structure's name with the format's extension, or one made of
/// the title; never a path.
pub(crate) fn filename_for(planned: &str, title: &str, format: &str) -> String {
    let name = planned.rsplit(['/', '\\']).next().unwrap_or("");
    let stem = match name.rsplit_once('.') {
        Some((stem, _)) => stem,
        None => name,
    };
    let stem = crate::analysis::safe_name(if stem.trim().is_empty() { title } else { stem });
    format!("{stem}.{format}")
}

/// The model without image bytes, for the debug trace.
pub(crate) fn without_bytes(model: &Value) -> Value {
    match model {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("base64_data", Value::String(s)) => json!(format!("[{} base64 characters]", s.len())),
                        _ => without_bytes(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_bytes).collect()),
        other => other.clone(),
    }
}

/// Renders the document `model` (the renderer's JSON shape) as `format`.
pub(crate) async fn render(
    model: &Value,
    format: &str,
    csv_delimiter: Option<u8>,
    options: &docwright_render::Options,
) -> Result<Vec<Out>> {
    let document = docwright_render::model::Document::from_json(model)
        .map_err(|e| Error::Render(format!("the filled structure is not a document: {e}")))?;
    let format = docwright_render::Format::from_extension(format)
        .ok_or_else(|| Error::Render(format!("unknown output format `{format}`")))?;
    let mut options = options.clone();
    if let Some(d) = csv_delimiter {
        options.csv_delimiter = d;
    }
    let rendered = tokio::task::spawn_blocking(move || docwright_render::render(&document, format, &options))
        .await
        .map_err(|e| Error::Render(format!("the renderer stopped: {e}")))?
        .map_err(|e| Error::Render(e.to_string()))?;
    Ok(rendered
        .into_iter()
        .map(|r| Out { filename: r.filename, mime_type: r.mime.to_owned(), bytes: r.bytes })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_names() {
        assert_eq!(normalize_format("Markdown"), Some("md"));
        assert_eq!(normalize_format(".DOCX"), Some("docx"));
        assert_eq!(normalize_format("exe"), None);
        assert_eq!(filename_for("expenses.csv", "T", "csv"), "expenses.csv");
        assert_eq!(filename_for("../x/report.pdf", "T", "docx"), "report.docx");
        assert_eq!(filename_for("", "Quarterly report", "pdf"), "Quarterly_report.pdf");
    }

    #[test]
    fn debug_copies_leave_bytes_out() {
        let v = without_bytes(&json!({"sections": [{"elements": [{"type": "image", "base64_data": "AAAA"}]}]}));
        assert_eq!(v["sections"][0]["elements"][0]["base64_data"], json!("[4 base64 characters]"));
    }
}
