//! The document model every format is rendered from (SPEC W2 5C/5D produce it, 5E renders it).
//!
//! A [`Document`] is a title, a language, a file name and metadata over [`Section`]s of
//! [`Element`]s: headings, paragraphs of [`Run`]s, nested lists, typed tables, images,
//! references to stored documents, extracted text, page breaks and error notices (a section the
//! workflow failed to fill renders as a visible notice; the rest of the document still renders).
//!
//! Every type has public fields so the workflow can build a document in Rust (images straight
//! from bytes); [`Document::from_json`] reads the workflow's snake_case JSON (`parse`, with an
//! error naming the JSON path of what it cannot take) and [`Document::to_json`] writes it back.
//! Table cells are typed by their column's [`DataType`] when parsed (`cell`): a cell that does
//! not fit its type stays text, so nothing the model produced is dropped.

mod cell;
mod parse;

pub use cell::{Decimal, parse_cell};
pub use parse::{MAX_LIST_DEPTH, ModelError};

use time::{Date, PrimitiveDateTime};

/// A document to render.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Document {
    pub title: Option<String>,
    /// A BCP 47 language tag (`de`, `en-GB`), for document properties and hyphenation.
    pub language: Option<String>,
    /// The file name the workflow asked for (`expenses.csv`); renderers take its stem.
    pub filename: Option<String>,
    pub metadata: Metadata,
    pub sections: Vec<Section>,
}

/// Document properties. `extra` keeps any other keys of the JSON object, so the JSON format
/// gives back what it was given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    pub author: Option<String>,
    pub subject: Option<String>,
    pub description: Option<String>,
    pub keywords: Vec<String>,
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// A part of the document, as the workflow's structure step planned it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Section {
    pub id: Option<String>,
    /// Shown as a heading of level 1 before the section's elements, when present.
    pub title: Option<String>,
    pub elements: Vec<Element>,
}

/// One block of content.
#[derive(Debug, Clone, PartialEq)]
pub enum Element {
    /// A heading; `level` 1 is the top. Levels beyond [`MAX_HEADING_LEVEL`] render as that level.
    Heading {
        level: u8,
        text: String,
    },
    Paragraph {
        runs: Vec<Run>,
    },
    List(List),
    Table(Table),
    Image(Image),
    /// A pointer to a stored document (`docItem:<id>:<file_name>`), shown by its label.
    Reference {
        label: String,
        document_reference: String,
    },
    /// Text taken from a source document, quoted with its source.
    ExtractedText {
        content: String,
        source: Option<String>,
        extraction_prompt: Option<String>,
    },
    PageBreak,
    /// A section that could not be produced: rendered as a visible notice.
    Error {
        message: String,
        section_id: Option<String>,
    },
}

/// The deepest heading level any format distinguishes (HTML has six).
pub const MAX_HEADING_LEVEL: u8 = 6;

impl Element {
    /// A paragraph of one plain run.
    pub fn paragraph(text: impl Into<String>) -> Self {
        Self::Paragraph { runs: vec![Run::plain(text)] }
    }

    pub fn heading(level: u8, text: impl Into<String>) -> Self {
        Self::Heading { level, text: text.into() }
    }
}

/// A heading level in 1..=[`MAX_HEADING_LEVEL`].
pub fn heading_level(level: u8) -> u8 {
    level.clamp(1, MAX_HEADING_LEVEL)
}

/// A span of text with one style.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Run {
    pub text: String,
    pub bold: bool,
    pub italic: bool,
    /// Monospaced (inline code).
    pub code: bool,
    /// A link target. Renderers make links only of `http`, `https` and `mailto` targets
    /// ([`safe_link`]); anything else stays plain text.
    pub link: Option<String>,
}

impl Run {
    pub fn plain(text: impl Into<String>) -> Self {
        Self { text: text.into(), ..Self::default() }
    }
}

/// The link target of a run if it is one a reader may follow: `http(s)://` and `mailto:` only,
/// so a model cannot plant `javascript:` or `file:` links in a document.
pub fn safe_link(link: Option<&str>) -> Option<&str> {
    let link = link?.trim();
    let lower = link.get(..8).unwrap_or(link).to_ascii_lowercase();
    let scheme = ["https://", "http://", "mailto:"].into_iter().find(|scheme| lower.starts_with(scheme))?;
    let ok = link.len() > scheme.len() && !link.chars().any(|c| c.is_control() || c.is_whitespace());
    ok.then_some(link)
}

/// The text of runs without their styles.
pub fn plain_text(runs: &[Run]) -> String {
    runs.iter().map(|r| r.text.as_str()).collect()
}

/// A bulleted or numbered list; nested items inherit `ordered`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct List {
    pub ordered: bool,
    pub items: Vec<ListItem>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListItem {
    pub runs: Vec<Run>,
    pub items: Vec<ListItem>,
}

impl ListItem {
    pub fn new(text: impl Into<String>) -> Self {
        Self { runs: vec![Run::plain(text)], items: Vec::new() }
    }
}

/// A table: typed columns and rows of cells, one per column.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub caption: Option<String>,
    pub columns: Vec<Column>,
    /// Each row has exactly `columns.len()` cells once parsed; renderers treat a shorter row as
    /// padded with empty cells and ignore cells beyond the columns.
    pub rows: Vec<Vec<Cell>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub data_type: DataType,
}

impl Column {
    pub fn new(name: impl Into<String>, data_type: DataType) -> Self {
        Self { name: name.into(), data_type }
    }
}

/// How a column's cells are read and shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum DataType {
    #[default]
    String,
    Number,
    Integer,
    /// A money amount: a number shown with two decimals.
    Currency,
    /// Percent points: `7.7` is 7.7 % (and `"7.7%"` reads the same).
    Percent,
    Date,
    Datetime,
    Boolean,
}

impl DataType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Integer => "integer",
            Self::Currency => "currency",
            Self::Percent => "percent",
            Self::Date => "date",
            Self::Datetime => "datetime",
            Self::Boolean => "boolean",
        }
    }

    /// The type of a name (`"currency"`); a few synonyms the models use are accepted.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "string" | "text" | "str" => Self::String,
            "number" | "float" | "decimal" | "double" | "numeric" => Self::Number,
            "integer" | "int" => Self::Integer,
            "currency" | "money" | "amount" => Self::Currency,
            "percent" | "percentage" => Self::Percent,
            "date" => Self::Date,
            "datetime" | "date_time" | "timestamp" => Self::Datetime,
            "boolean" | "bool" => Self::Boolean,
            _ => return None,
        })
    }

    /// Whether cells of this type are numbers (aligned right, summed by a spreadsheet).
    pub fn is_numeric(self) -> bool {
        matches!(self, Self::Number | Self::Integer | Self::Currency | Self::Percent)
    }
}

/// One table cell, typed. Numbers keep their decimal text ([`Decimal`]) so text formats write
/// exactly what was given (`12.50`, never `12.5000001`).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Cell {
    #[default]
    Empty,
    Text(String),
    Number(Decimal),
    Bool(bool),
    Date(Date),
    DateTime(PrimitiveDateTime),
}

impl Cell {
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(text.into())
    }

    /// The cell in a locale-neutral form: decimal point, ISO dates, `true`/`false`; percent
    /// columns add `%`, currency has at least two decimals. This is what CSV, TXT and Markdown write.
    pub fn display(&self, data_type: DataType) -> String {
        match self {
            Self::Empty => String::new(),
            Self::Text(text) => text.clone(),
            Self::Number(n) if data_type == DataType::Percent => format!("{n}%"),
            Self::Number(n) if data_type == DataType::Currency => n.with_cents(),
            Self::Number(n) => n.to_string(),
            Self::Bool(b) => b.to_string(),
            Self::Date(d) => cell::iso_date(*d),
            Self::DateTime(dt) => cell::iso_datetime(*dt),
        }
    }
}

/// An image as bytes. `mime_type` is what the model said; renderers sniff the bytes, and bytes
/// that are not a readable image render as a notice instead.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Image {
    pub bytes: Vec<u8>,
    pub mime_type: Option<String>,
    pub alt_text: Option<String>,
    pub caption: Option<String>,
}

impl Document {
    /// The document's file name stem: its `filename` without extension, else its title, else
    /// `document`; reduced to characters safe in any file system.
    pub fn file_stem(&self) -> String {
        let from_name = self.filename.as_deref().map(|name| {
            let name = name.rsplit(['/', '\\']).next().unwrap_or(name);
            match name.rsplit_once('.') {
                Some((stem, ext)) if !stem.is_empty() && ext.len() <= 5 => stem.to_owned(),
                _ => name.to_owned(),
            }
        });
        let raw = from_name.or_else(|| self.title.clone()).unwrap_or_default();
        let mut stem: String = raw
            .chars()
            .map(|c| if c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' ') { c } else { '_' })
            .collect::<String>()
            .trim_matches(['.', ' '])
            .chars()
            .take(100)
            .collect();
        stem = stem.trim_end_matches(['.', ' ']).to_owned();
        if stem.is_empty() { "document".to_owned() } else { stem }
    }

    /// Every table of the document, in order.
    pub fn tables(&self) -> impl Iterator<Item = &Table> {
        self.sections.iter().flat_map(|s| &s.elements).filter_map(|e| match e {
            Element::Table(t) => Some(t),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_only_web_and_mail() {
        assert_eq!(safe_link(Some("https://example.com/a?b")), Some("https://example.com/a?b"));
        assert_eq!(safe_link(Some(" mailto:a@b.c ")), Some("mailto:a@b.c"));
        assert_eq!(safe_link(Some("HTTP://X.Y")), Some("HTTP://X.Y"));
        for bad in ["javascript:alert(1)", "file:///etc/passwd", "data:text/html,x", "https://", "http://a\nb", ""] {
            assert_eq!(safe_link(Some(bad)), None, "{bad}");
        }
    }

    #[test]
    fn file_stems_are_safe() {
        let doc = |filename: Option<&str>, title: Option<&str>| Document {
            filename: filename.map(str::to_owned),
            title: title.map(str::to_owned),
            ..Document::default()
        };
        assert_eq!(doc(Some("expenses.csv"), None).file_stem(), "expenses");
        assert_eq!(doc(Some("../../etc/passwd"), None).file_stem(), "passwd");
        assert_eq!(doc(None, Some("Q3: Report/Final")).file_stem(), "Q3_ Report_Final");
        assert_eq!(doc(Some(".."), None).file_stem(), "document");
        assert_eq!(doc(None, None).file_stem(), "document");
        assert_eq!(doc(Some("Отчёт 2024.docx"), None).file_stem(), "Отчёт 2024");
    }
}
