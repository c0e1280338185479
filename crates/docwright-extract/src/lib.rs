//! Content extraction (SPEC D2) and thumbnails (SPEC D3).
//!
//! A file goes in (a path, its sniffed MIME type, its name); an [`Extraction`] comes out: the
//! file's content as ordered [`Part`]s, each with its location (page, slide, sheet, rows), plus
//! warnings and nested files (e-mail attachments). [`thumbnail`] renders a PNG preview.
//!
//! Everything here is synchronous and bounded by [`Limits`]: inflated bytes of a package, XML
//! depth, pages, parts, image pixels and a deadline. The bounds are cooperative; a parser that
//! loops or allocates without asking is stopped by the process it runs in: [`worker`] is the
//! entry point of a separate process (the `docwright extract-worker` subcommand) that sets its
//! own memory and CPU limits, so a hostile file can at worst end that process.
//!
//! This crate knows no database, no HTTP and no tenant; the engine stores what it returns.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

mod guard;
mod html;
mod image_part;
mod mail;
mod ocr;
mod office;
mod pdf;
mod sheet;
mod sniff;
mod text;
mod thumb;
pub mod worker;

pub use guard::Budget;
pub use ocr::{Ocr, OcrStatus, Recognized};
pub use sniff::package_mime;
pub use thumb::{FirstPage, OfficePreview, ThumbnailOptions, thumbnail, thumbnail_with_parts};

/// W3 `type_group`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartKind {
    Text,
    Table,
    Image,
    Binary,
    Reference,
}

impl PartKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Table => "table",
            Self::Image => "image",
            Self::Binary => "binary",
            Self::Reference => "reference",
        }
    }
}

/// W3 `extraction_method`: how the text of a part was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Read from the file's text layer or markup.
    Text,
    /// Recognised by OCR from pixels.
    Ocr,
    /// Read as cells of a table or sheet.
    Table,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Ocr => "ocr",
            Self::Table => "table",
        }
    }
}

/// Where a part was found. Numbers are 1-based; only the fields that apply are set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slide: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    /// First and last row (inclusive) of a sheet's table, or the first and last line of the
    /// source a part was read from (plain text, Markdown, HTML). PDF and DOCX parts have a
    /// `page` (for DOCX, as the document's own page and section breaks count pages), PPTX parts
    /// a `slide`; mail parts are located by their label (`subject`, `headers`, `body`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_start: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_end: Option<u32>,
}

/// One piece of a file's content (W3). `text` is always the searchable, model-readable form:
/// the text itself, a table rendered as Markdown, the OCR text of an image (possibly empty).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub kind: PartKind,
    pub mime_type: String,
    /// What the part is in its document: `title`, `heading`, `paragraph`, `list_item`, `table`,
    /// `header`, `footer`, `notes`, `page`, `sheet`, `slide_text`, `image`, `subject`, `body`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Heading level (1 = top) or list nesting level (1 = outermost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<u8>,
    pub text: String,
    /// Cells of a table part, row by row (first row as in the source, headers included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<Vec<Vec<String>>>,
    pub method: Method,
    pub location: Location,
    /// Bytes of an image or binary part (encoded as `mime_type`). Not serialized: the worker
    /// writes them to `data_file` beside its result.
    #[serde(skip)]
    pub data: Option<Vec<u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_file: Option<String>,
}

impl Part {
    /// A text part read from the text layer.
    pub fn text(label: &str, text: impl Into<String>, location: Location) -> Self {
        Self {
            kind: PartKind::Text,
            mime_type: "text/plain".to_owned(),
            label: Some(label.to_owned()),
            level: None,
            text: text.into(),
            rows: None,
            method: Method::Text,
            location,
            data: None,
            data_file: None,
        }
    }

    /// A table part; `text` is the rows as a Markdown table.
    pub fn table(rows: Vec<Vec<String>>, location: Location) -> Self {
        Self {
            kind: PartKind::Table,
            mime_type: "text/markdown".to_owned(),
            label: Some("table".to_owned()),
            level: None,
            text: markdown_table(&rows),
            rows: Some(rows),
            method: Method::Table,
            location,
            data: None,
            data_file: None,
        }
    }

    /// An image part with its encoded bytes; `text` starts empty (OCR may fill it).
    pub fn image(mime_type: &str, data: Vec<u8>, location: Location) -> Self {
        Self {
            kind: PartKind::Image,
            mime_type: mime_type.to_owned(),
            label: Some("image".to_owned()),
            level: None,
            text: String::new(),
            rows: None,
            method: Method::Text,
            location,
            data: Some(data),
            data_file: None,
        }
    }

    pub fn with_level(mut self, level: u8) -> Self {
        self.level = Some(level);
        self
    }
}

/// A file found inside another (an e-mail attachment): stored by the engine as a file of its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    pub file_name: String,
    pub mime_type: String,
    #[serde(skip)]
    pub data: Vec<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_file: Option<String>,
}

/// What extraction produced.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Extraction {
    pub parts: Vec<Part>,
    /// Things recovered around (a damaged page, an unreadable image): the extraction still
    /// succeeded.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Pages, slides or sheets of the source, when it has such units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<u32>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// Bounds on one extraction. Defaults suit a server; tests tighten them.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Pages (PDF), slides or sheets beyond which the file is refused.
    pub max_pages: u32,
    /// Total bytes a package (zip, compressed streams) may inflate to.
    pub max_inflated_bytes: u64,
    /// Nesting depth of XML/HTML elements.
    pub max_xml_depth: u32,
    /// Parts one file may produce.
    pub max_parts: usize,
    /// Characters of text one file may produce.
    pub max_text_chars: usize,
    /// Pixels of one decoded image (width × height).
    pub max_image_pixels: u64,
    /// When the extraction must have ended.
    pub deadline: Option<Instant>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_pages: 5_000,
            max_inflated_bytes: 1 << 30,
            max_xml_depth: 256,
            max_parts: 200_000,
            max_text_chars: 200_000_000,
            max_image_pixels: 100_000_000,
            deadline: None,
        }
    }
}

impl Limits {
    /// The limits with a deadline `timeout` from now.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.deadline = Some(Instant::now() + timeout);
        self
    }

    /// `Err(TimedOut)` once the deadline has passed.
    pub fn check_time(&self) -> Result<(), ExtractError> {
        match self.deadline {
            Some(deadline) if Instant::now() >= deadline => Err(ExtractError::TimedOut),
            _ => Ok(()),
        }
    }
}

/// How to extract.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub limits: Limits,
    /// OCR for images and for PDF pages without a text layer; `None` = off.
    pub ocr: Option<Ocr>,
    /// Where the parts of formats read piece by piece (sheets, delimited and plain text, HTML)
    /// go as they are made, instead of into the returned [`Extraction`]: the worker writes
    /// them out at once, so its memory holds one part, not the file's. `None`: returned.
    pub sink: Option<PartSink>,
}

/// A receiver of parts as they are made (see [`Options::sink`]).
#[derive(Clone)]
pub struct PartSink(std::sync::Arc<std::sync::Mutex<Receive>>);

/// What a [`PartSink`] calls with each part.
type Receive = dyn FnMut(Part) -> Result<(), ExtractError> + Send;

impl PartSink {
    pub fn new(receive: impl FnMut(Part) -> Result<(), ExtractError> + Send + 'static) -> Self {
        Self(std::sync::Arc::new(std::sync::Mutex::new(receive)))
    }

    pub(crate) fn send(&self, part: Part) -> Result<(), ExtractError> {
        let mut receive = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        receive(part)
    }
}

impl std::fmt::Debug for PartSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PartSink")
    }
}

/// Why extraction failed. `code()` is stable and stored with the file.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("files of type {mime} cannot be extracted")]
    Unsupported { mime: String },
    #[error("the file is encrypted or password-protected")]
    Encrypted,
    #[error("the file has {found} pages, more than the limit of {limit}")]
    TooManyPages { found: u64, limit: u32 },
    #[error("the file exceeds the limit on {what} ({limit})")]
    TooLarge { what: &'static str, limit: u64 },
    #[error("the file nests elements deeper than {limit} levels")]
    TooDeep { limit: u32 },
    #[error("the file is damaged: {0}")]
    Malformed(String),
    #[error("extraction did not finish within its time limit")]
    TimedOut,
    #[error("extraction ran out of its memory limit")]
    OutOfMemory,
    #[error("the parser crashed: {0}")]
    Crashed(String),
    #[error("OCR failed: {0}")]
    Ocr(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl ExtractError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unsupported { .. } => "unsupported_type",
            Self::Encrypted => "encrypted",
            Self::TooManyPages { .. } => "too_many_pages",
            Self::TooLarge { .. } => "too_large",
            Self::TooDeep { .. } => "too_deep",
            Self::Malformed(_) => "malformed",
            Self::TimedOut => "timed_out",
            Self::OutOfMemory => "out_of_memory",
            Self::Crashed(_) => "parser_crashed",
            Self::Ocr(_) => "ocr_failed",
            Self::Io(_) => "io_error",
        }
    }
}

/// The formats this crate reads, by MIME type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pdf,
    Docx,
    Pptx,
    /// XLSX, XLS, ODS.
    Spreadsheet,
    Csv,
    Tsv,
    Html,
    Markdown,
    Text,
    Eml,
    Image,
}

impl Format {
    /// The format of a MIME type (as `docwright-engine` sniffs it), or of the file name's
    /// extension when the MIME type is generic.
    pub fn detect(mime: &str, file_name: &str) -> Option<Self> {
        let mime = mime.split(';').next().unwrap_or(mime).trim().to_ascii_lowercase();
        let ext =
            Path::new(file_name).extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
        Some(match mime.as_str() {
            "application/pdf" => Self::Pdf,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            | "application/vnd.openxmlformats-officedocument.wordprocessingml.template"
            | "application/vnd.ms-word.document.macroenabled.12" => Self::Docx,
            "application/vnd.openxmlformats-officedocument.presentationml.presentation"
            | "application/vnd.openxmlformats-officedocument.presentationml.slideshow"
            | "application/vnd.ms-powerpoint.presentation.macroenabled.12" => Self::Pptx,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            | "application/vnd.openxmlformats-officedocument.spreadsheetml.template"
            | "application/vnd.ms-excel.sheet.macroenabled.12"
            | "application/vnd.ms-excel.sheet.binary.macroenabled.12"
            | "application/vnd.ms-excel"
            | "application/vnd.oasis.opendocument.spreadsheet" => Self::Spreadsheet,
            "text/csv" => Self::Csv,
            "text/tab-separated-values" => Self::Tsv,
            "text/html" | "application/xhtml+xml" => Self::Html,
            "text/markdown" => Self::Markdown,
            "message/rfc822" => Self::Eml,
            m if m.starts_with("image/") => Self::Image,
            // Generic containers and text: the name decides.
            "application/zip"
            | "application/x-ole-storage"
            | "application/x-cfb"
            | "application/octet-stream"
            | "text/plain"
            | "text/xml"
            | "application/xml" => match ext.as_str() {
                "docx" => Self::Docx,
                "pptx" => Self::Pptx,
                "xlsx" | "xls" | "ods" => Self::Spreadsheet,
                "csv" => Self::Csv,
                "tsv" | "tab" => Self::Tsv,
                "html" | "htm" => Self::Html,
                "md" | "markdown" => Self::Markdown,
                "eml" => Self::Eml,
                _ if mime == "text/plain" || mime.ends_with("/xml") => Self::Text,
                "txt" | "text" | "log" => Self::Text,
                _ => return None,
            },
            _ => return None,
        })
    }
}

/// Extracts the content of the file at `path`.
pub fn extract(path: &Path, mime: &str, file_name: &str, options: &Options) -> Result<Extraction, ExtractError> {
    let format = Format::detect(mime, file_name).ok_or_else(|| ExtractError::Unsupported { mime: mime.to_owned() })?;
    let mut extraction = match format {
        Format::Pdf => pdf::extract(path, options)?,
        Format::Docx | Format::Pptx => office::extract(path, format, options)?,
        Format::Spreadsheet => sheet::extract_workbook(path, file_name, options)?,
        Format::Csv => sheet::extract_delimited(path, Some(b','), options)?,
        Format::Tsv => sheet::extract_delimited(path, Some(b'\t'), options)?,
        Format::Html => html::extract(path, options)?,
        Format::Markdown => text::extract_markdown(path, options)?,
        Format::Text => text::extract_text(path, options)?,
        Format::Eml => mail::extract(path, options)?,
        Format::Image => image_part::extract(path, mime, options)?,
    };
    if extraction.parts.len() > options.limits.max_parts {
        return Err(ExtractError::TooLarge { what: "parts", limit: options.limits.max_parts as u64 });
    }
    extraction.parts.retain(|p| !(p.kind == PartKind::Text && p.text.trim().is_empty()));
    Ok(extraction)
}

/// A clean generic preview for a type (a page with the type's name), for files that have no
/// rendering of their own or whose rendering failed.
pub fn generic_icon(mime: &str, file_name: &str, width: u32, height: u32) -> Vec<u8> {
    thumb::generic_icon(mime, file_name, width, height)
}

/// Renders rows as a Markdown table (the first row as header). Pipes and line breaks in cells
/// are escaped so that the table stays one table.
pub fn markdown_table(rows: &[Vec<String>]) -> String {
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    if width == 0 {
        return String::new();
    }
    let cell = |s: &str| s.replace('|', "\\|").replace(['\r', '\n'], " ");
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        out.push('|');
        for c in 0..width {
            out.push(' ');
            out.push_str(&cell(row.get(c).map(String::as_str).unwrap_or("")));
            out.push_str(" |");
        }
        out.push('\n');
        if i == 0 {
            out.push('|');
            for _ in 0..width {
                out.push_str(" --- |");
            }
            out.push('\n');
        }
    }
    out
}

/// Where the LibreOffice converter is, if installed (`soffice` or `libreoffice` on `PATH`).
pub fn find_office_converter() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["soffice", "libreoffice"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_table_escapes_and_pads() {
        let rows = vec![vec!["a".to_owned(), "b|c".to_owned()], vec!["1".to_owned()]];
        assert_eq!(markdown_table(&rows), "| a | b\\|c |\n| --- | --- |\n| 1 |  |\n");
    }

    #[test]
    fn formats_come_from_mime_then_name() {
        assert_eq!(Format::detect("application/pdf", "x.bin"), Some(Format::Pdf));
        assert_eq!(Format::detect("application/zip", "a.XLSX"), Some(Format::Spreadsheet));
        assert_eq!(Format::detect("text/plain", "a.csv"), Some(Format::Csv));
        assert_eq!(Format::detect("text/plain", "notes"), Some(Format::Text));
        // XHTML served with an XML declaration is HTML by its name; other XML is text.
        assert_eq!(Format::detect("text/xml", "10-k.html"), Some(Format::Html));
        assert_eq!(Format::detect("application/xml", "feed.xml"), Some(Format::Text));
        assert_eq!(Format::detect("application/octet-stream", "a.exe"), None);
    }
}
