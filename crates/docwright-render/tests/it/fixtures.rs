//! Documents the tests render, built in code (CONVENTIONS 15): the sample has every element
//! and every data type, in several scripts, with text that would be markup in some format.

use std::io::Cursor;

use docwright_render::model::{Document, Element, Image};
use serde_json::json;

/// A PNG made in code: a gradient with a band, `width`×`height`.
pub(crate) fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        let band = (y * 8 / height.max(1)).is_multiple_of(2);
        image::Rgb([(x * 255 / width.max(1)) as u8, if band { 90 } else { 200 }, (y * 255 / height.max(1)) as u8])
    });
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
    out
}

/// A JPEG made in code.
pub(crate) fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Jpeg).unwrap();
    out
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Strings the round trip looks for, each in the sample exactly once as a whole.
pub(crate) const SAMPLE_TEXTS: &[&str] = &[
    "Quarterly expenses review",
    "Introduction",
    "This report summarises the expenses of the first quarter.",
    "Bold words",
    "inline_code()",
    "a documented link",
    "Travel and lodging",
    "Office supplies",
    "Nested detail one",
    "First numbered step",
    "Second numbered step",
    "Русский текст: отчёт о расходах",
    "Ελληνικά: έκθεση δαπανών",
    "中文：费用报告",
    "Literal markup #import \"x\" $math$ \\ ] [ * _ <b>not bold</b> {{x}}",
    "Zürich Hauptbahnhof",
    "Quote from the offer: delivery within 30 days.",
    "Error generating section s3: the model timed out",
];

/// Cells the round trip looks for, as the text formats write them.
pub(crate) const SAMPLE_CELLS: &[&str] =
    &["2024-01-02", "12.50", "Zürich Hauptbahnhof", "1234.56", "7.7%", "true", "Taxi"];

/// The sample document: every element, every data type.
pub(crate) fn sample() -> Document {
    Document::from_json(&sample_json()).unwrap()
}

pub(crate) fn sample_json() -> serde_json::Value {
    json!({
        "title": "Quarterly expenses review",
        "language": "en",
        "filename": "expenses-q1.docx",
        "metadata": {"author": "Finance team", "subject": "Expenses Q1", "keywords": ["expenses", "q1"]},
        "sections": [
            {"id": "s1", "title": "Introduction", "elements": [
                {"type": "paragraph", "text": "This report summarises the expenses of the first quarter."},
                {"type": "paragraph", "runs": [
                    {"text": "Bold words", "bold": true}, {"text": " then "},
                    {"text": "inline_code()", "code": true}, {"text": " and "},
                    {"text": "a documented link", "link": "https://example.com/docs"}, {"text": ", "},
                    {"text": "italic", "italic": true}, {"text": "."}]},
                {"type": "list", "ordered": false, "items": [
                    "Travel and lodging",
                    {"text": "Office supplies", "items": ["Nested detail one"]}]},
                {"type": "list", "ordered": true, "items": ["First numbered step", "Second numbered step"]},
                {"type": "heading", "level": 2, "text": "Scripts"},
                {"type": "paragraph", "text": "Русский текст: отчёт о расходах"},
                {"type": "paragraph", "text": "Ελληνικά: έκθεση δαπανών"},
                {"type": "paragraph", "text": "中文：费用报告"},
                {"type": "paragraph", "text": "Literal markup #import \"x\" $math$ \\ ] [ * _ <b>not bold</b> {{x}}"}
            ]},
            {"id": "s2", "title": "Expenses", "elements": [
                {"type": "table", "caption": "Expenses by day", "columns": [
                    {"name": "date", "data_type": "date"},
                    {"name": "shop", "data_type": "string"},
                    {"name": "CHF", "data_type": "currency"},
                    {"name": "VAT", "data_type": "percent"},
                    {"name": "count", "data_type": "integer"},
                    {"name": "paid", "data_type": "boolean"},
                    {"name": "at", "data_type": "datetime"},
                    {"name": "rate", "data_type": "number"}],
                 "rows": [
                    ["2024-01-02", "Zürich Hauptbahnhof", "12.50", "7.7%", 2, true, "2024-01-02T08:15:00", "1234.56"],
                    {"date": "03.01.2024", "shop": "Taxi", "CHF": "CHF 48.00", "VAT": 8.1, "count": "1",
                     "paid": "no", "at": "2024-01-03 19:40", "rate": 0.5}]},
                {"type": "image", "base64_data": b64(&png(480, 270)), "mime_type": "image/png",
                 "alt_text": "A chart of the expenses", "caption": "Figure: expenses per week"},
                {"type": "image", "base64_data": b64(&jpeg(200, 300)), "mime_type": "image/jpeg",
                 "alt_text": "A receipt photo", "caption": "Receipt"},
                {"type": "image", "base64_data": b64(b"these bytes are not an image"), "mime_type": "image/png",
                 "alt_text": "Broken image"},
                {"type": "reference", "label": "Offer.pdf", "document_reference": "docItem:42:Offer.pdf"},
                {"type": "extracted_text", "content": "Quote from the offer: delivery within 30 days.",
                 "source": "Offer.pdf p. 3", "extraction_prompt": null},
                {"type": "page_break"},
                {"type": "heading", "level": 9, "text": "Deep heading"}
            ]},
            {"id": "s3", "elements": [
                {"type": "error", "message": "Error generating section s3: the model timed out", "section_id": "s3"}
            ]}
        ]
    })
}

/// A document of one element.
pub(crate) fn one(element: Element) -> Document {
    Document {
        title: Some("One element".into()),
        sections: vec![docwright_render::model::Section { elements: vec![element], ..Default::default() }],
        ..Document::default()
    }
}

pub(crate) fn image_element(bytes: Vec<u8>) -> Element {
    Element::Image(Image { bytes, mime_type: Some("image/png".into()), alt_text: Some("alt".into()), caption: None })
}
