//! Round trip: every text, list item and table cell of the sample appears again when the
//! rendered file is read back by docwright-extract, for every format (table-driven).

use docwright_extract::{Options as ExtractOptions, extract};
use docwright_render::{Format, Options, render};

use crate::fixtures::{SAMPLE_CELLS, SAMPLE_TEXTS, sample};

/// Whitespace collapsed, break opportunities removed: what a reader sees.
pub(crate) fn normalize(text: &str) -> String {
    text.replace(['\u{200B}', '\u{00AD}'], "").split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The text docwright-extract reads from a rendered file: every part's text and table cells.
pub(crate) fn extracted(format: Format, bytes: &[u8]) -> String {
    if format == Format::Json {
        // JSON is the model itself: read it back as a document and look at its text.
        let doc = docwright_render::model::Document::from_json_str(std::str::from_utf8(bytes).unwrap()).unwrap();
        return extracted(
            Format::Txt,
            &docwright_render::render_txt(&doc, &docwright_render::Options::default()).unwrap(),
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let name = format!("out.{}", format.extension());
    let path = dir.path().join(&name);
    std::fs::write(&path, bytes).unwrap();
    let extraction = extract(&path, format.mime(), &name, &ExtractOptions::default())
        .unwrap_or_else(|e| panic!("{format:?}: extraction failed: {e}"));
    let mut text = String::new();
    for part in &extraction.parts {
        text.push_str(&part.text);
        text.push('\n');
        for row in part.rows.iter().flatten() {
            text.push_str(&row.join(" \t "));
            text.push('\n');
        }
    }
    normalize(&text)
}

/// What each format must give back: all texts, or (CSV) the table alone; and the cells as
/// that format stores them (spreadsheets store numbers, so `12.50` reads back as `12.5`).
fn expectations(format: Format) -> (Vec<&'static str>, Vec<&'static str>) {
    let mut texts = if format == Format::Csv { Vec::new() } else { SAMPLE_TEXTS.to_vec() };
    // PDFs take CJK glyphs from system fonts; without them the text cannot come back.
    if format == Format::Pdf
        && !crate::tools::require("a CJK font (fonts-noto-cjk)", crate::tools::has_cjk_font(), "scripts/setup")
    {
        texts.retain(|text| !text.chars().any(|c| ('\u{4E00}'..='\u{9FFF}').contains(&c)));
    }
    let cells = match format {
        Format::Xlsx => vec!["2024-01-02", "12.5", "Zürich Hauptbahnhof", "1234.56", "Taxi"],
        _ => SAMPLE_CELLS.to_vec(),
    };
    (texts, cells)
}

#[test]
fn every_format_gives_its_content_back() {
    let doc = sample();
    let mut failures = Vec::new();
    for format in Format::ALL {
        let files = render(&doc, format, &Options::default()).unwrap_or_else(|e| panic!("{format:?}: {e}"));
        assert!(!files.is_empty(), "{format:?}");
        let text: String = files.iter().map(|f| extracted(format, &f.bytes)).collect::<Vec<_>>().join(" ");
        let (texts, cells) = expectations(format);
        for wanted in texts.iter().chain(&cells) {
            if !text.contains(&normalize(wanted)) {
                failures.push(format!("{format:?}: {wanted:?} not found"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn json_gives_the_model_back_exactly() {
    let doc = sample();
    let json = docwright_render::render_json(&doc, &Options::default()).unwrap();
    let back = docwright_render::model::Document::from_json_str(std::str::from_utf8(&json).unwrap()).unwrap();
    assert_eq!(back, doc);
}

#[test]
fn pdf_text_is_never_typst_markup() {
    let hostile = "#import \"@preview/cetz:0.3.0\": * #set page(width: 1cm) $x^2$ \\ ] [ // not a comment #eval(\"1\") @label <lbl>";
    let doc = crate::fixtures::one(docwright_render::model::Element::paragraph(hostile));
    let bytes = docwright_render::render_pdf(&doc, &Options::default()).unwrap();
    let text = extracted(Format::Pdf, &bytes);
    assert!(text.contains(&normalize(hostile)), "{text}");
}
