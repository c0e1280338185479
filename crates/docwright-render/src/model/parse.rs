//! The model read from the workflow's JSON, and written back to it.
//!
//! A hand-written walker rather than `serde` derives: the input is what a language model wrote,
//! so it takes the shapes models actually produce (a paragraph as `text` or `runs`, a list item
//! as a string or an object, a row as an array or a record keyed by column name, the seed's
//! camelCase spellings beside snake_case), types each cell by its column, and when it cannot take
//! something says where: `sections[2].elements[5].rows[3]: expected 4 cells, got 5`.

use std::fmt;

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::cell::{Decimal, iso_date, iso_datetime, parse_cell};
use super::{
    Cell, Column, DataType, Document, Element, Image, List, ListItem, MAX_HEADING_LEVEL, Metadata, Run, Section, Table,
};

/// Lists nest at most this deep; deeper JSON is refused rather than recursed into.
pub const MAX_LIST_DEPTH: usize = 32;

/// Why a JSON value is not a document: the JSON path of the element and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ModelError {
    /// Like `sections[2].elements[5].rows[3]`; `$` for the document itself.
    pub path: String,
    pub message: String,
}

impl ModelError {
    /// A stable snake_case code for the API's error envelope.
    pub fn code(&self) -> &'static str {
        "invalid_document"
    }
}

/// A JSON path built on the stack while walking, turned into text only for an error.
#[derive(Clone, Copy)]
enum At<'a> {
    Root,
    Key(&'a At<'a>, &'a str),
    Index(&'a At<'a>, usize),
}

impl<'a> At<'a> {
    fn key(&'a self, key: &'a str) -> At<'a> {
        At::Key(self, key)
    }

    fn index(&'a self, index: usize) -> At<'a> {
        At::Index(self, index)
    }

    fn error(&self, message: impl Into<String>) -> ModelError {
        ModelError { path: self.to_string(), message: message.into() }
    }
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Root => f.write_str("$"),
            At::Key(At::Root, key) => f.write_str(key),
            At::Key(parent, key) => write!(f, "{parent}.{key}"),
            At::Index(At::Root, i) => write!(f, "[{i}]"),
            At::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

type Result<T> = std::result::Result<T, ModelError>;

impl Document {
    /// Reads a document from the workflow's JSON (see the crate docs for the shape).
    pub fn from_json(value: &Value) -> Result<Self> {
        document(value, &At::Root)
    }

    /// Parses JSON text and reads the document from it.
    pub fn from_json_str(text: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| ModelError { path: "$".to_owned(), message: format!("not valid JSON: {e}") })?;
        Self::from_json(&value)
    }

    /// The document as the JSON [`Document::from_json`] reads: snake_case, rows as arrays in
    /// column order, images as base64. A number is a JSON number when `f64` gives back its exact
    /// text, else a string (`"12.50"`), so no digit changes.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        put_opt(&mut out, "title", self.title.as_deref());
        put_opt(&mut out, "language", self.language.as_deref());
        put_opt(&mut out, "filename", self.filename.as_deref());
        let meta = &self.metadata;
        let mut metadata = meta.extra.clone();
        put_opt(&mut metadata, "author", meta.author.as_deref());
        put_opt(&mut metadata, "subject", meta.subject.as_deref());
        put_opt(&mut metadata, "description", meta.description.as_deref());
        if !meta.keywords.is_empty() {
            metadata.insert("keywords".to_owned(), json!(meta.keywords));
        }
        if !metadata.is_empty() {
            out.insert("metadata".to_owned(), Value::Object(metadata));
        }
        let sections: Vec<Value> = self
            .sections
            .iter()
            .map(|s| {
                let mut section = Map::new();
                put_opt(&mut section, "id", s.id.as_deref());
                put_opt(&mut section, "title", s.title.as_deref());
                section.insert("elements".to_owned(), s.elements.iter().map(element_json).collect());
                Value::Object(section)
            })
            .collect();
        out.insert("sections".to_owned(), Value::Array(sections));
        Value::Object(out)
    }
}

fn put_opt(map: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(value) = value {
        map.insert(key.to_owned(), Value::String(value.to_owned()));
    }
}

fn document(value: &Value, at: &At<'_>) -> Result<Document> {
    let obj = object(value, at)?;
    let mut doc = Document {
        title: opt_text(obj, at, &["title"])?,
        language: opt_text(obj, at, &["language", "lang"])?,
        filename: opt_text(obj, at, &["filename", "file_name", "fileName"])?,
        ..Document::default()
    };
    if let Some((key, value)) = field(obj, &["metadata"]).filter(|(_, v)| !v.is_null()) {
        let at = at.key(key);
        doc.metadata = metadata(object(value, &at)?, &at)?;
        // The structure step (5C) puts title and language into `metadata`.
        let extra = &mut doc.metadata.extra;
        if doc.title.is_none() {
            doc.title = extra.remove("title").and_then(|v| v.as_str().map(str::to_owned));
        }
        if doc.language.is_none() {
            doc.language = extra.remove("language").and_then(|v| v.as_str().map(str::to_owned));
        }
    }
    match (field(obj, &["sections"]), field(obj, &["elements"])) {
        (Some((key, value)), _) => {
            let at = at.key(key);
            for (i, section_value) in array(value, &at)?.iter().enumerate() {
                doc.sections.push(section(section_value, &at.index(i))?);
            }
        }
        // A bare list of elements is one section.
        (None, Some(_)) => doc.sections.push(section(value, at)?),
        (None, None) => {}
    }
    Ok(doc)
}

fn metadata(obj: &Map<String, Value>, at: &At<'_>) -> Result<Metadata> {
    let mut meta = Metadata::default();
    for (key, value) in obj {
        let at = at.key(key);
        match key.as_str() {
            "author" | "creator" => meta.author = opt_value_text(value, &at)?,
            "subject" => meta.subject = opt_value_text(value, &at)?,
            "description" => meta.description = opt_value_text(value, &at)?,
            "keywords" => {
                meta.keywords = match value {
                    Value::Null => Vec::new(),
                    Value::String(s) => {
                        s.split([',', ';']).map(str::trim).filter(|k| !k.is_empty()).map(str::to_owned).collect()
                    }
                    Value::Array(items) => items
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| opt_value_text(v, &at.index(i)).transpose())
                        .collect::<Result<_>>()?,
                    _ => return Err(at.error("expected a list of keywords")),
                }
            }
            _ => {
                meta.extra.insert(key.clone(), value.clone());
            }
        }
    }
    Ok(meta)
}

fn section(value: &Value, at: &At<'_>) -> Result<Section> {
    let obj = object(value, at)?;
    let mut section =
        Section { id: opt_text(obj, at, &["id"])?, title: opt_text(obj, at, &["title"])?, elements: Vec::new() };
    if let Some((key, value)) = field(obj, &["elements"]).filter(|(_, v)| !v.is_null()) {
        let at = at.key(key);
        for (i, element_value) in array(value, &at)?.iter().enumerate() {
            section.elements.push(element(element_value, &at.index(i))?);
        }
    }
    Ok(section)
}

fn element(value: &Value, at: &At<'_>) -> Result<Element> {
    let obj = object(value, at)?;
    let kind = match field(obj, &["type"]) {
        Some((_, Value::String(kind))) => kind.as_str(),
        Some(_) => return Err(at.key("type").error("expected a string")),
        None => return Err(at.error("an element needs a \"type\"")),
    };
    Ok(match kind {
        "heading" | "title" => {
            let level = match field(obj, &["level"]) {
                None | Some((_, Value::Null)) => 1,
                Some((key, Value::Number(n))) => {
                    n.as_u64().ok_or_else(|| at.key(key).error("expected a heading level 1 to 6"))?
                }
                Some((key, Value::String(s))) => {
                    s.trim().parse().map_err(|_| at.key(key).error("expected a heading level 1 to 6"))?
                }
                Some((key, _)) => return Err(at.key(key).error("expected a heading level 1 to 6")),
            };
            let level = u8::try_from(level.clamp(1, u64::from(MAX_HEADING_LEVEL))).unwrap_or(MAX_HEADING_LEVEL);
            Element::Heading { level, text: text(obj, at, &["text", "content"])? }
        }
        "paragraph" | "text" => Element::Paragraph { runs: runs_or_text(obj, at)? },
        "list" | "bullet_list" | "bulleted_list" | "numbered_list" | "ordered_list" => {
            let ordered = match field(obj, &["ordered"]) {
                Some((_, Value::Bool(b))) => *b,
                Some((key, v)) if !v.is_null() => return Err(at.key(key).error("expected true or false")),
                _ => matches!(kind, "numbered_list" | "ordered_list"),
            };
            Element::List(List { ordered, items: list_items(obj, at, 1)? })
        }
        "table" => Element::Table(table(obj, at)?),
        "image" => Element::Image(image(obj, at)?),
        "reference" => {
            let document_reference = text(obj, at, &["document_reference", "documentReference"])?;
            let label = match opt_text(obj, at, &["label"])? {
                Some(label) => label,
                // `docItem:<id>:<file_name>`: the file name is the natural label.
                None => document_reference.rsplit(':').next().unwrap_or(&document_reference).to_owned(),
            };
            Element::Reference { label, document_reference }
        }
        "extracted_text" => Element::ExtractedText {
            content: text(obj, at, &["content", "text"])?,
            source: opt_text(obj, at, &["source"])?,
            extraction_prompt: opt_text(obj, at, &["extraction_prompt", "extractionPrompt"])?,
        },
        "page_break" | "pagebreak" => Element::PageBreak,
        "error" => Element::Error {
            message: opt_text(obj, at, &["message"])?
                .unwrap_or_else(|| "This section could not be generated.".to_owned()),
            section_id: opt_text(obj, at, &["section_id", "sectionId"])?,
        },
        other => {
            return Err(at.key("type").error(format!(
                "unknown element type {other:?} (expected heading, paragraph, list, table, image, reference, \
                 extracted_text, page_break or error)"
            )));
        }
    })
}

fn runs_or_text(obj: &Map<String, Value>, at: &At<'_>) -> Result<Vec<Run>> {
    match field(obj, &["runs"]) {
        Some((key, value)) if !value.is_null() => {
            let at = at.key(key);
            array(value, &at)?.iter().enumerate().map(|(i, v)| run(v, &at.index(i))).collect()
        }
        _ => Ok(vec![Run::plain(text(obj, at, &["text", "content"])?)]),
    }
}

fn run(value: &Value, at: &At<'_>) -> Result<Run> {
    if let Some(text) = scalar_text(value) {
        return Ok(Run::plain(text));
    }
    let obj = object(value, at)?;
    Ok(Run {
        text: text(obj, at, &["text"])?,
        bold: flag(obj, at, "bold")?,
        italic: flag(obj, at, "italic")?,
        code: flag(obj, at, "code")?,
        link: opt_text(obj, at, &["link", "url", "href"])?,
    })
}

fn list_items(obj: &Map<String, Value>, at: &At<'_>, depth: usize) -> Result<Vec<ListItem>> {
    let Some((key, value)) = field(obj, &["items", "children"]).filter(|(_, v)| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let at = at.key(key);
    if depth > MAX_LIST_DEPTH {
        return Err(at.error(format!("lists nest deeper than {MAX_LIST_DEPTH} levels")));
    }
    array(value, &at)?
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let at = at.index(i);
            if let Some(text) = scalar_text(item) {
                return Ok(ListItem::new(text));
            }
            let obj = object(item, &at)?;
            Ok(ListItem { runs: runs_or_text(obj, &at)?, items: list_items(obj, &at, depth + 1)? })
        })
        .collect()
}

fn table(obj: &Map<String, Value>, at: &At<'_>) -> Result<Table> {
    let caption = opt_text(obj, at, &["caption", "title"])?;
    let mut columns = Vec::new();
    if let Some((key, value)) = field(obj, &["columns", "headers"]).filter(|(_, v)| !v.is_null()) {
        let at = at.key(key);
        for (i, column_value) in array(value, &at)?.iter().enumerate() {
            columns.push(column(column_value, &at.index(i))?);
        }
    }
    let rows_value = match field(obj, &["rows", "data"]) {
        Some((key, value)) if !value.is_null() => Some((key, array(value, &at.key(key))?)),
        _ => None,
    };
    let Some((rows_key, rows_in)) = rows_value else {
        return Ok(Table { caption, columns, rows: Vec::new() });
    };
    let rows_at = at.key(rows_key);
    // Records may carry keys the columns do not name: they become columns of their own, so no
    // value is lost. Without columns, arrays get numbered ones.
    let mut widest = 0;
    for row in rows_in {
        match row {
            Value::Object(record) => {
                for key in record.keys() {
                    if !columns.iter().any(|c: &Column| &c.name == key) {
                        columns.push(Column::new(key.clone(), DataType::String));
                    }
                }
            }
            Value::Array(cells) => widest = widest.max(cells.len()),
            _ => {}
        }
    }
    if columns.is_empty() {
        columns = (1..=widest).map(|i| Column::new(format!("Column {i}"), DataType::String)).collect();
    }
    let mut rows = Vec::with_capacity(rows_in.len());
    for (i, row) in rows_in.iter().enumerate() {
        let at = rows_at.index(i);
        let cells = match row {
            Value::Array(values) => {
                if values.len() > columns.len() {
                    return Err(at.error(format!("expected {} cells, got {}", columns.len(), values.len())));
                }
                let mut cells: Vec<Cell> =
                    values.iter().zip(&columns).map(|(value, column)| parse_cell(value, column.data_type)).collect();
                cells.resize(columns.len(), Cell::Empty);
                cells
            }
            Value::Object(record) => columns
                .iter()
                .map(|column| record.get(&column.name).map_or(Cell::Empty, |value| parse_cell(value, column.data_type)))
                .collect(),
            _ => return Err(at.error("expected a row: an array of cells or an object keyed by column name")),
        };
        rows.push(cells);
    }
    Ok(Table { caption, columns, rows })
}

fn column(value: &Value, at: &At<'_>) -> Result<Column> {
    if let Some(name) = scalar_text(value) {
        return Ok(Column::new(name, DataType::String));
    }
    let obj = object(value, at)?;
    let name = text(obj, at, &["name", "field_name", "title", "label"])?;
    let data_type = match field(obj, &["data_type", "dataType", "type"]) {
        None | Some((_, Value::Null)) => DataType::String,
        Some((key, Value::String(t))) => DataType::from_name(t).ok_or_else(|| {
            at.key(key).error(format!(
                "unknown data type {t:?} (expected string, number, integer, currency, percent, date, datetime or boolean)"
            ))
        })?,
        Some((key, _)) => return Err(at.key(key).error("expected a data type name")),
    };
    Ok(Column { name, data_type })
}

fn image(obj: &Map<String, Value>, at: &At<'_>) -> Result<Image> {
    let data = opt_text(obj, at, &["base64_data", "base64Data", "data"])?.unwrap_or_default();
    let mut mime_type = opt_text(obj, at, &["mime_type", "mimeType"])?;
    // A data URL carries its own type.
    let payload = match data.strip_prefix("data:").and_then(|rest| rest.split_once(',')) {
        Some((header, payload)) => {
            if mime_type.is_none() {
                mime_type = header.split(';').next().filter(|m| !m.is_empty()).map(str::to_owned);
            }
            payload
        }
        None => data.as_str(),
    };
    let compact: String = payload.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    // Bytes that are not base64 make an empty image, which renders as a notice: one bad image
    // must not lose the document.
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.trim_end_matches('='))
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(compact.trim_end_matches('=')))
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(compact.trim_end_matches('=')))
        .unwrap_or_default();
    Ok(Image {
        bytes,
        mime_type,
        alt_text: opt_text(obj, at, &["alt_text", "altText", "alt"])?,
        caption: opt_text(obj, at, &["caption"])?,
    })
}

fn element_json(element: &Element) -> Value {
    match element {
        Element::Heading { level, text } => json!({"type": "heading", "level": level, "text": text}),
        Element::Paragraph { runs } => {
            json!({"type": "paragraph", "runs": runs.iter().map(run_json).collect::<Vec<_>>()})
        }
        Element::List(list) => json!({"type": "list", "ordered": list.ordered, "items": items_json(&list.items, 1)}),
        Element::Table(table) => {
            let mut out = Map::new();
            out.insert("type".to_owned(), json!("table"));
            put_opt(&mut out, "caption", table.caption.as_deref());
            let columns: Vec<Value> =
                table.columns.iter().map(|c| json!({"name": c.name, "data_type": c.data_type.as_str()})).collect();
            out.insert("columns".to_owned(), Value::Array(columns));
            let rows: Vec<Value> = table.rows.iter().map(|row| row.iter().map(cell_json).collect()).collect();
            out.insert("rows".to_owned(), Value::Array(rows));
            Value::Object(out)
        }
        Element::Image(image) => {
            let mut out = Map::new();
            out.insert("type".to_owned(), json!("image"));
            out.insert("base64_data".to_owned(), json!(base64::engine::general_purpose::STANDARD.encode(&image.bytes)));
            put_opt(&mut out, "mime_type", image.mime_type.as_deref());
            put_opt(&mut out, "alt_text", image.alt_text.as_deref());
            put_opt(&mut out, "caption", image.caption.as_deref());
            Value::Object(out)
        }
        Element::Reference { label, document_reference } => {
            json!({"type": "reference", "label": label, "document_reference": document_reference})
        }
        Element::ExtractedText { content, source, extraction_prompt } => {
            json!({"type": "extracted_text", "content": content, "source": source, "extraction_prompt": extraction_prompt})
        }
        Element::PageBreak => json!({"type": "page_break"}),
        Element::Error { message, section_id } => {
            json!({"type": "error", "message": message, "section_id": section_id})
        }
    }
}

fn run_json(run: &Run) -> Value {
    let mut out = Map::new();
    out.insert("text".to_owned(), json!(run.text));
    for (key, on) in [("bold", run.bold), ("italic", run.italic), ("code", run.code)] {
        if on {
            out.insert(key.to_owned(), json!(true));
        }
    }
    put_opt(&mut out, "link", run.link.as_deref());
    Value::Object(out)
}

/// Items as JSON; a branch deeper than [`MAX_LIST_DEPTH`] (possible in a document built in Rust)
/// continues flat at that depth, so what is written can always be read again.
fn items_json(items: &[ListItem], depth: usize) -> Vec<Value> {
    let runs = |item: &ListItem| item.runs.iter().map(run_json).collect::<Vec<_>>();
    let mut out = Vec::new();
    for item in items {
        if item.items.is_empty() {
            out.push(json!({"runs": runs(item)}));
        } else if depth < MAX_LIST_DEPTH {
            out.push(json!({"runs": runs(item), "items": items_json(&item.items, depth + 1)}));
        } else {
            out.push(json!({"runs": runs(item)}));
            crate::text::each_item(&item.items, 0, &mut |deeper, _| out.push(json!({"runs": runs(deeper)})));
        }
    }
    out
}

fn cell_json(cell: &Cell) -> Value {
    match cell {
        Cell::Empty => Value::Null,
        Cell::Text(text) => json!(text),
        Cell::Number(n) => number_json(n),
        Cell::Bool(b) => json!(b),
        Cell::Date(d) => json!(iso_date(*d)),
        Cell::DateTime(dt) => json!(iso_datetime(*dt)),
    }
}

fn number_json(n: &Decimal) -> Value {
    if n.survives_f64() {
        if n.is_integer()
            && let Ok(i) = n.as_str().split('.').next().unwrap_or("").parse::<i64>()
        {
            return json!(i);
        }
        if let Some(number) = serde_json::Number::from_f64(n.as_f64()) {
            return Value::Number(number);
        }
    }
    json!(n.as_str())
}

// --- small readers -------------------------------------------------------------------------

/// The first of `names` present in `obj`, with the name found.
fn field<'v>(obj: &'v Map<String, Value>, names: &[&'static str]) -> Option<(&'static str, &'v Value)> {
    names.iter().find_map(|name| obj.get(*name).map(|v| (*name, v)))
}

fn object<'v>(value: &'v Value, at: &At<'_>) -> Result<&'v Map<String, Value>> {
    value.as_object().ok_or_else(|| at.error(format!("expected an object, got {}", kind_of(value))))
}

fn array<'v>(value: &'v Value, at: &At<'_>) -> Result<&'v Vec<Value>> {
    value.as_array().ok_or_else(|| at.error(format!("expected an array, got {}", kind_of(value))))
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Text from a string, or a number or boolean written as text (models do write `"text": 2024`).
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn opt_value_text(value: &Value, at: &At<'_>) -> Result<Option<String>> {
    match value {
        Value::Null => Ok(None),
        v => scalar_text(v).map(Some).ok_or_else(|| at.error(format!("expected text, got {}", kind_of(v)))),
    }
}

fn opt_text(obj: &Map<String, Value>, at: &At<'_>, names: &[&'static str]) -> Result<Option<String>> {
    match field(obj, names) {
        Some((key, value)) => opt_value_text(value, &at.key(key)),
        None => Ok(None),
    }
}

fn text(obj: &Map<String, Value>, at: &At<'_>, names: &[&'static str]) -> Result<String> {
    opt_text(obj, at, names)?.ok_or_else(|| at.error(format!("missing \"{}\"", names[0])))
}

fn flag(obj: &Map<String, Value>, at: &At<'_>, name: &'static str) -> Result<bool> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(at.key(name).error("expected true or false")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::date;

    use super::*;

    fn num(s: &str) -> Cell {
        Cell::Number(Decimal::parse(s).unwrap())
    }

    /// The example shape agreed with the workflow, whole.
    fn sample() -> Value {
        json!({"title": "Expenses", "language": "de", "filename": "expenses.csv",
        "metadata": {"author": "Ann", "subject": "Q1", "keywords": ["a", "b"], "project": 7},
        "sections": [{"id": "s1", "title": "First", "elements": [
            {"type": "heading", "level": 1, "text": "Intro"},
            {"type": "paragraph", "text": "plain shorthand"},
            {"type": "paragraph", "runs": [{"text": "bold", "bold": true}, {"text": " and "},
                {"text": "code", "code": true}, {"text": "link", "link": "https://example.com"},
                {"text": "it", "italic": true}]},
            {"type": "list", "ordered": false, "items": ["plain item", {"text": "item with children", "items": ["nested"]}]},
            {"type": "table", "caption": "Spent", "columns": [{"name": "date", "data_type": "date"},
                {"name": "CHF", "data_type": "currency"}],
                "rows": [["2024-01-02", "12.50"], {"date": "2024-01-03", "CHF": 7}]},
            {"type": "image", "base64_data": "iVBORw0KGgo=", "mime_type": "image/png", "alt_text": "alt", "caption": "cap"},
            {"type": "reference", "label": "Offer.pdf", "document_reference": "docItem:1:Offer.pdf"},
            {"type": "extracted_text", "content": "quoted", "source": "Offer.pdf p. 3", "extraction_prompt": null},
            {"type": "page_break"},
            {"type": "error", "message": "Error generating section s3: boom", "section_id": "s3"}
        ]}]})
    }

    #[test]
    fn the_agreed_shape_is_read_whole() {
        let doc = Document::from_json(&sample()).unwrap();
        assert_eq!(doc.title.as_deref(), Some("Expenses"));
        assert_eq!(doc.language.as_deref(), Some("de"));
        assert_eq!(doc.file_stem(), "expenses");
        assert_eq!(doc.metadata.author.as_deref(), Some("Ann"));
        assert_eq!(doc.metadata.keywords, ["a", "b"]);
        assert_eq!(doc.metadata.extra.get("project"), Some(&json!(7)));
        let els = &doc.sections[0].elements;
        assert_eq!(doc.sections[0].title.as_deref(), Some("First"));
        assert_eq!(els[0], Element::heading(1, "Intro"));
        assert_eq!(els[1], Element::paragraph("plain shorthand"));
        let Element::Paragraph { runs } = &els[2] else { panic!("{:?}", els[2]) };
        assert!(runs[0].bold && runs[2].code && runs[4].italic);
        assert_eq!(runs[3].link.as_deref(), Some("https://example.com"));
        let Element::List(list) = &els[3] else { panic!() };
        assert!(!list.ordered);
        assert_eq!(list.items[1].items[0], ListItem::new("nested"));
        let Element::Table(table) = &els[4] else { panic!() };
        assert_eq!(table.columns[1], Column::new("CHF", DataType::Currency));
        assert_eq!(table.rows[0], [Cell::Date(date!(2024 - 01 - 02)), num("12.50")]);
        assert_eq!(table.rows[1], [Cell::Date(date!(2024 - 01 - 03)), num("7")]);
        let Element::Image(image) = &els[5] else { panic!() };
        assert_eq!(image.bytes, b"\x89PNG\r\n\x1a\n");
        assert_eq!(image.caption.as_deref(), Some("cap"));
        assert_eq!(
            els[6],
            Element::Reference { label: "Offer.pdf".into(), document_reference: "docItem:1:Offer.pdf".into() }
        );
        assert!(
            matches!(&els[7], Element::ExtractedText { source: Some(s), extraction_prompt: None, .. } if s == "Offer.pdf p. 3")
        );
        assert_eq!(els[8], Element::PageBreak);
        assert!(matches!(&els[9], Element::Error { section_id: Some(s), .. } if s == "s3"));
    }

    #[test]
    fn json_goes_round() {
        let doc = Document::from_json(&sample()).unwrap();
        let back = Document::from_json(&doc.to_json()).unwrap();
        assert_eq!(back, doc);
        // Exact decimals: 7 is a number, 12.50 (which f64 would make 12.5) a string.
        let json = doc.to_json();
        assert_eq!(json["sections"][0]["elements"][4]["rows"][0][1], json!("12.50"));
        assert_eq!(json["sections"][0]["elements"][4]["rows"][1][1], json!(7));
        let mut big = Table {
            columns: vec![Column::new("n", DataType::Number)],
            rows: vec![vec![num("12345678901234567890.123")]],
            ..Table::default()
        };
        let doc = Document {
            sections: vec![Section { elements: vec![Element::Table(big.clone())], ..Section::default() }],
            ..Document::default()
        };
        assert_eq!(doc.to_json()["sections"][0]["elements"][0]["rows"][0][0], json!("12345678901234567890.123"));
        big.rows[0][0] = num("12345678901234567890.123");
        assert_eq!(Document::from_json(&doc.to_json()).unwrap(), doc);
    }

    #[test]
    fn models_spellings_are_taken() {
        let doc = Document::from_json(&json!({
            "metadata": {"title": "From 5C", "language": "ru", "keywords": "x, y"},
            "sections": [{"elements": [
                {"type": "image", "base64Data": "data:image/gif;base64,R0lG ODlh", "altText": "a"},
                {"type": "reference", "documentReference": "docItem:9:Scan 1.png"},
                {"type": "error", "sectionId": "s9"},
                {"type": "numbered_list", "items": [{"runs": [{"text": "r"}], "children": [7]}]},
                {"type": "heading", "level": 9, "text": 2024},
                {"type": "heading", "level": "0", "text": "zero"},
                {"type": "table", "headers": ["a", "b"], "rows": [["1"], {"a": "2", "c": "extra"}]},
                {"type": "table", "rows": [["x", "y", "z"]]},
                {"type": "image", "base64_data": "%%% not base64"}
            ]}]
        }))
        .unwrap();
        assert_eq!(doc.title.as_deref(), Some("From 5C"));
        assert_eq!(doc.language.as_deref(), Some("ru"));
        assert!(doc.metadata.extra.is_empty());
        assert_eq!(doc.metadata.keywords, ["x", "y"]);
        let els = &doc.sections[0].elements;
        let Element::Image(image) = &els[0] else { panic!() };
        assert_eq!((image.bytes.as_slice(), image.mime_type.as_deref()), (&b"GIF89a"[..], Some("image/gif")));
        assert_eq!(
            els[1],
            Element::Reference { label: "Scan 1.png".into(), document_reference: "docItem:9:Scan 1.png".into() }
        );
        assert!(matches!(&els[2], Element::Error { section_id: Some(s), message } if s == "s9" && !message.is_empty()));
        let Element::List(list) = &els[3] else { panic!() };
        assert!(list.ordered);
        assert_eq!(list.items[0].items[0], ListItem::new("7"));
        assert_eq!(els[4], Element::heading(6, "2024"));
        assert_eq!(els[5], Element::heading(1, "zero"));
        let Element::Table(table) = &els[6] else { panic!() };
        let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(table.rows[0], [Cell::text("1"), Cell::Empty, Cell::Empty]);
        assert_eq!(table.rows[1], [Cell::text("2"), Cell::Empty, Cell::text("extra")]);
        let Element::Table(table) = &els[7] else { panic!() };
        assert_eq!(table.columns[2].name, "Column 3");
        let Element::Image(image) = &els[8] else { panic!() };
        assert!(image.bytes.is_empty());
    }

    #[test]
    fn errors_name_the_path() {
        let check = |value: Value, expected: &str| {
            assert_eq!(Document::from_json(&value).unwrap_err().to_string(), expected);
        };
        let table = |rows: Value| {
            json!({"sections": [{}, {}, {"elements": [{"type": "page_break"}, {"type": "page_break"},
                {"type": "page_break"}, {"type": "page_break"}, {"type": "page_break"},
                {"type": "table", "columns": ["a", "b", "c", "d"], "rows": rows}]}]})
        };
        check(table(json!([[], [], [], [1, 2, 3, 4, 5]])), "sections[2].elements[5].rows[3]: expected 4 cells, got 5");
        check(
            table(json!(["x"])),
            "sections[2].elements[5].rows[0]: expected a row: an array of cells or an object keyed by column name",
        );
        check(json!([]), "$: expected an object, got an array");
        check(json!({"sections": {}}), "sections: expected an array, got an object");
        check(
            json!({"sections": [{"elements": [{"text": "x"}]}]}),
            "sections[0].elements[0]: an element needs a \"type\"",
        );
        check(
            json!({"sections": [{"elements": [{"type": "chart"}]}]}),
            "sections[0].elements[0].type: unknown element type \"chart\" (expected heading, paragraph, list, table, image, reference, extracted_text, page_break or error)",
        );
        check(json!({"sections": [{"elements": [{"type": "heading"}]}]}), "sections[0].elements[0]: missing \"text\"");
        check(
            json!({"sections": [{"elements": [{"type": "paragraph", "runs": [{"text": "a", "bold": "yes"}]}]}]}),
            "sections[0].elements[0].runs[0].bold: expected true or false",
        );
        check(
            json!({"sections": [{"elements": [{"type": "table", "columns": [{"name": "a", "data_type": "money!"}]}]}]}),
            "sections[0].elements[0].columns[0].data_type: unknown data type \"money!\" (expected string, number, integer, currency, percent, date, datetime or boolean)",
        );
        check(json!({"title": {"x": 1}}), "title: expected text, got an object");
        let mut deep = json!("leaf");
        for _ in 0..40 {
            deep = json!({"text": "x", "items": [deep]});
        }
        let err = Document::from_json(&json!({"elements": [{"type": "list", "items": [deep]}]})).unwrap_err();
        assert!(err.message.contains("deeper than 32"), "{err}");
        let err = Document::from_json_str("{").unwrap_err();
        assert_eq!(err.path, "$");
        assert_eq!(err.code(), "invalid_document");
    }
}
