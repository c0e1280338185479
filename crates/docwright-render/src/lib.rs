//! Rendering (SPEC W2 step 5E, N3): one typed document model, written as DOCX, PDF, XLSX, CSV,
//! PPTX, HTML, Markdown, JSON and TXT.
//!
//! [`model`] is the document every format is rendered from, read from the workflow's JSON or
//! built in Rust. [`render`] writes it in one [`Format`] and returns the files ([`Rendered`]):
//! one per format, except CSV, which writes one file per table. One module per format:
//! `docx` (docx-rs), `pdf` (typst as a library, with the document passed as JSON data into one
//! fixed template), `xlsx` (rust_xlsxwriter in constant-memory mode), `delimited` (CSV),
//! `pptx` (zip + quick-xml from our own minimal master and layouts), `html`, `markdown`, `txt`;
//! JSON is [`model::Document::to_json`]. `text` strips what XML forbids and `picture` checks
//! and sizes images for all of them.
//!
//! Everything here is synchronous and CPU-bound (callers put it on a blocking thread) and safe to
//! call from several threads at once; the PDF fonts are loaded once per process. Hostile input is
//! bounded by [`Options`]: too much of anything is refused with [`Error::TooLarge`] before
//! anything is written, and what a paged format cannot hold (a 200,000-row table in a PDF) is cut
//! with a visible notice. An image that is not an image renders as a notice, and a section the
//! workflow failed to fill renders as a styled error notice; the rest of the document renders.
//!
//! This crate knows no database, no HTTP, no AI and no tenant: a document goes in, files come out.

pub mod model;

mod delimited;
mod docx;
mod html;
mod markdown;
mod pdf;
mod picture;
mod pptx;
mod text;
mod txt;
mod xlsx;

use model::{Document, Element};

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Docx,
    Pdf,
    Xlsx,
    Csv,
    Pptx,
    Html,
    Markdown,
    Json,
    Txt,
}

impl Format {
    pub const ALL: [Format; 9] = [
        Format::Docx,
        Format::Pdf,
        Format::Xlsx,
        Format::Csv,
        Format::Pptx,
        Format::Html,
        Format::Markdown,
        Format::Json,
        Format::Txt,
    ];

    /// The format of a file extension or format name (`docx`, `.PDF`, `md`, `markdown`, `text`).
    pub fn from_extension(extension: &str) -> Option<Self> {
        Some(match extension.trim().trim_start_matches('.').to_ascii_lowercase().as_str() {
            "docx" | "word" => Self::Docx,
            "pdf" => Self::Pdf,
            "xlsx" | "excel" => Self::Xlsx,
            "csv" => Self::Csv,
            "pptx" | "powerpoint" => Self::Pptx,
            "html" | "htm" => Self::Html,
            "md" | "markdown" => Self::Markdown,
            "json" => Self::Json,
            "txt" | "text" => Self::Txt,
            _ => return None,
        })
    }

    /// The format a file name asks for by its extension (`out.xlsx`).
    pub fn from_name(name: &str) -> Option<Self> {
        let (_, extension) = name.rsplit_once('.')?;
        Self::from_extension(extension)
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Docx => "docx",
            Self::Pdf => "pdf",
            Self::Xlsx => "xlsx",
            Self::Csv => "csv",
            Self::Pptx => "pptx",
            Self::Html => "html",
            Self::Markdown => "md",
            Self::Json => "json",
            Self::Txt => "txt",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Self::Docx => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            Self::Pdf => "application/pdf",
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Self::Csv => "text/csv",
            Self::Pptx => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            Self::Html => "text/html",
            Self::Markdown => "text/markdown",
            Self::Json => "application/json",
            Self::Txt => "text/plain",
        }
    }
}

/// Limits and settings of one rendering. The defaults suit a server.
#[derive(Debug, Clone)]
pub struct Options {
    /// Rows one table may have (any format); more is refused.
    pub max_rows: usize,
    /// Cells of all tables together; more is refused.
    pub max_cells: usize,
    /// Bytes of text of the whole document (all strings); more is refused.
    pub max_text_bytes: usize,
    /// Images one document may show; further images render as a notice.
    pub max_images: usize,
    /// Encoded bytes of one image; a larger image renders as a notice.
    pub max_image_bytes: usize,
    /// Pixels (width × height) of one image; a larger image renders as a notice.
    pub max_image_pixels: u64,
    /// Rows of one table that PDF and DOCX lay out; the rest is cut with a notice (a 200,000-row
    /// table is for XLSX and CSV, not for pages).
    pub max_paged_rows: usize,
    /// Rows of one table that PPTX puts on slides; the rest is cut with a notice.
    pub max_slide_rows: usize,
    /// Table rows per PPTX slide; a longer table continues on further slides.
    pub slide_table_rows: usize,
    /// Bullet lines per PPTX slide; more text continues on further slides.
    pub slide_lines: usize,
    /// The CSV field delimiter (`b';'` for the receipts use case).
    pub csv_delimiter: u8,
    /// Whether CSV files start with a UTF-8 byte order mark (for Excel).
    pub csv_bom: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_rows: 1_000_000,
            max_cells: 20_000_000,
            max_text_bytes: 512 << 20,
            max_images: 500,
            max_image_bytes: 32 << 20,
            max_image_pixels: 50_000_000,
            max_paged_rows: 20_000,
            max_slide_rows: 1_000,
            slide_table_rows: 12,
            slide_lines: 10,
            csv_delimiter: b',',
            csv_bom: false,
        }
    }
}

/// One rendered file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub filename: String,
    pub mime: &'static str,
    pub bytes: Vec<u8>,
}

/// Why a document could not be rendered. `code()` is stable.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the document exceeds the limit on {what} ({limit})")]
    TooLarge { what: &'static str, limit: u64 },
    #[error("CSV needs a table, and the document has none")]
    NoTable,
    #[error("the CSV delimiter must be one ASCII character other than a quote or a line break")]
    BadDelimiter,
    #[error("{format} rendering failed: {message}")]
    Failed { format: &'static str, message: String },
}

impl Error {
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::NoTable => "no_table",
            Self::BadDelimiter => "invalid_option",
            Self::Failed { .. } => "render_failed",
        }
    }

    pub(crate) fn failed(format: &'static str, error: impl std::fmt::Display) -> Self {
        Self::Failed { format, message: error.to_string() }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Renders `document` as `format`: one file, or one CSV per table.
pub fn render(document: &Document, format: Format, options: &Options) -> Result<Vec<Rendered>> {
    let bytes = match format {
        Format::Csv => return render_csv(document, options),
        Format::Docx => render_docx(document, options)?,
        Format::Pdf => render_pdf(document, options)?,
        Format::Xlsx => render_xlsx(document, options)?,
        Format::Pptx => render_pptx(document, options)?,
        Format::Html => render_html(document, options)?,
        Format::Markdown => render_markdown(document, options)?,
        Format::Json => render_json(document, options)?,
        Format::Txt => render_txt(document, options)?,
    };
    Ok(vec![Rendered {
        filename: format!("{}.{}", document.file_stem(), format.extension()),
        mime: format.mime(),
        bytes,
    }])
}

pub fn render_docx(document: &Document, options: &Options) -> Result<Vec<u8>> {
    check_limits(document, options)?;
    docx::render(document, options)
}

pub fn render_pdf(document: &Document, options: &Options) -> Result<Vec<u8>> {
    check_limits(document, options)?;
    pdf::render(document, options)
}

pub fn render_xlsx(document: &Document, options: &Options) -> Result<Vec<u8>> {
    check_limits(document, options)?;
    xlsx::render(document, options)
}

/// One CSV per table, named `<stem>.csv`, or `<stem>-<n>.csv` (or by the table's caption) when
/// there are several.
pub fn render_csv(document: &Document, options: &Options) -> Result<Vec<Rendered>> {
    check_limits(document, options)?;
    delimited::render(document, options)
}

pub fn render_pptx(document: &Document, options: &Options) -> Result<Vec<u8>> {
    check_limits(document, options)?;
    pptx::render(document, options)
}

pub fn render_html(document: &Document, options: &Options) -> Result<Vec<u8>> {
    check_limits(document, options)?;
    Ok(html::render(document, options).into_bytes())
}

pub fn render_markdown(document: &Document, options: &Options) -> Result<Vec<u8>> {
    check_limits(document, options)?;
    Ok(markdown::render(document, options).into_bytes())
}

/// The model itself, as [`model::Document::to_json`] writes it, pretty-printed.
pub fn render_json(document: &Document, options: &Options) -> Result<Vec<u8>> {
    check_limits(document, options)?;
    serde_json::to_vec_pretty(&document.to_json()).map_err(|e| Error::failed("JSON", e))
}

pub fn render_txt(document: &Document, options: &Options) -> Result<Vec<u8>> {
    check_limits(document, options)?;
    Ok(txt::render(document, options).into_bytes())
}

/// Refuses a document beyond the limits before any work is done.
fn check_limits(document: &Document, options: &Options) -> Result<()> {
    let mut cells = 0usize;
    let mut text = 0usize;
    let mut add = |s: &str| text += s.len();
    for s in [&document.title, &document.language, &document.filename].into_iter().flatten() {
        add(s);
    }
    for section in &document.sections {
        for s in [&section.id, &section.title].into_iter().flatten() {
            add(s);
        }
        for element in &section.elements {
            match element {
                Element::Heading { text, .. } => add(text),
                Element::Paragraph { runs } => runs.iter().for_each(|r| add(&r.text)),
                Element::List(list) => text::each_item(&list.items, 0, &mut |item, _| {
                    item.runs.iter().for_each(|r| add(&r.text));
                }),
                Element::Table(table) => {
                    if table.rows.len() > options.max_rows {
                        return Err(Error::TooLarge { what: "rows in a table", limit: options.max_rows as u64 });
                    }
                    cells = cells.saturating_add(table.rows.len().saturating_mul(table.columns.len().max(1)));
                    if cells > options.max_cells {
                        return Err(Error::TooLarge { what: "table cells", limit: options.max_cells as u64 });
                    }
                    for row in &table.rows {
                        for cell in row {
                            if let model::Cell::Text(s) = cell {
                                add(s);
                            }
                        }
                    }
                    table.columns.iter().for_each(|c| add(&c.name));
                }
                Element::Image(image) => {
                    for s in [&image.alt_text, &image.caption].into_iter().flatten() {
                        add(s);
                    }
                }
                Element::Reference { label, document_reference } => {
                    add(label);
                    add(document_reference);
                }
                Element::ExtractedText { content, source, .. } => {
                    add(content);
                    source.iter().for_each(|s| add(s));
                }
                Element::PageBreak => {}
                Element::Error { message, .. } => add(message),
            }
        }
    }
    if text > options.max_text_bytes {
        return Err(Error::TooLarge { what: "bytes of text", limit: options.max_text_bytes as u64 });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_name_and_extension() {
        assert_eq!(Format::from_extension("docx"), Some(Format::Docx));
        assert_eq!(Format::from_extension(".PDF"), Some(Format::Pdf));
        assert_eq!(Format::from_name("out.xlsx"), Some(Format::Xlsx));
        assert_eq!(Format::from_name("notes.final.md"), Some(Format::Markdown));
        assert_eq!(Format::from_name("README"), None);
        assert_eq!(Format::from_extension("exe"), None);
        for format in Format::ALL {
            assert_eq!(Format::from_extension(format.extension()), Some(format));
            assert!(format.mime().contains('/'));
        }
    }
}
