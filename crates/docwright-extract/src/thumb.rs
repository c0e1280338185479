//! PNG previews (SPEC D3).
//!
//! Every preview is exactly `width`×`height` on white, the picture scaled to fit and centred:
//! - PDF: the first page rendered in process (`pdf_oxide`'s tiny-skia renderer);
//! - images: decoded within the pixel bound and resized;
//! - office documents: converted to PDF by LibreOffice (`soffice --headless --convert-to pdf`,
//!   with a private profile and a time limit) when a converter is configured, then as a PDF —
//!   the faithful picture; without one (or when it fails), the document's first page, slide or
//!   sheet drawn from its extracted parts ([`FirstPage`]) by the caller's [`OfficePreview`]
//!   (the engine's, through `docwright-render`'s PDF path: this crate does not depend on it),
//!   then as a PDF;
//! - everything else, and whatever of the above cannot be drawn (an encrypted PDF, a failed
//!   conversion): a generic icon drawn in code, a page with a folded corner and a coloured band
//!   naming the type ("PDF", "DOCX", ...) in a small block font, so no font files are needed.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use image::{DynamicImage, Rgba, RgbaImage, imageops};
use tiny_skia::{Color, FillRule, Paint, PathBuilder, Pixmap, Rect, Stroke, Transform};

use crate::ocr::{RunError, run_bounded};
use crate::{ExtractError, Format, Limits, Part, PartKind, image_part, pdf};

/// Lays out an office document's first page from its extracted parts ([`FirstPage`]) and
/// answers it as PDF bytes, or why not. Supplied by the caller: the engine renders the parts
/// through `docwright-render`'s PDF path, which this crate does not depend on.
pub type OfficePreview = fn(&[Part]) -> Result<Vec<u8>, String>;

/// Size of the preview, the optional office converter and the office preview without one.
#[derive(Debug, Clone)]
pub struct ThumbnailOptions {
    pub width: u32,
    pub height: u32,
    /// LibreOffice (`soffice`) for a faithful first-page render of DOCX/PPTX/XLSX.
    pub converter: Option<PathBuf>,
    /// Without a converter, or when it fails: the first page drawn from the extracted parts.
    /// `None` (and no parts): the generic icon.
    pub office_preview: Option<OfficePreview>,
    pub limits: Limits,
}

impl Default for ThumbnailOptions {
    /// 200×280 (SPEC D3), no converter, no office preview, default limits.
    fn default() -> Self {
        Self { width: 200, height: 280, converter: None, office_preview: None, limits: Limits::default() }
    }
}

/// Longest an office conversion may take when the limits set no deadline.
const CONVERT_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest preview edge: a preview is small by nature, and this bounds its buffers.
const MAX_SIDE: u32 = 2048;

/// A PNG preview of the file (an office document without a converter gets the generic icon:
/// see [`thumbnail_with_parts`]).
pub fn thumbnail(
    path: &Path,
    mime: &str,
    file_name: &str,
    options: &ThumbnailOptions,
) -> Result<Vec<u8>, ExtractError> {
    thumbnail_with_parts(path, mime, file_name, options, &[])
}

/// A PNG preview of the file; an office document that no converter drew is drawn from
/// `first_page` (the parts [`FirstPage`] kept of its extraction) by `options.office_preview`.
pub fn thumbnail_with_parts(
    path: &Path,
    mime: &str,
    file_name: &str,
    options: &ThumbnailOptions,
    first_page: &[Part],
) -> Result<Vec<u8>, ExtractError> {
    let (width, height) = (options.width.clamp(1, MAX_SIDE), options.height.clamp(1, MAX_SIDE));
    let kind = Kind::of(mime, file_name);
    let picture = match kind {
        Kind::Pdf => pdf_first_page(path, width, height, &options.limits)?,
        Kind::Image => match image_part::decode_file(path, options.limits.max_image_pixels) {
            Ok(picture) => Some(picture),
            // A damaged image still gets a preview; an oversized one is refused.
            Err(ExtractError::Malformed(_)) => None,
            Err(e) => return Err(e),
        },
        Kind::Office(_) => {
            let converted = match &options.converter {
                Some(converter) => convert_and_render(converter, path, width, height, &options.limits)?,
                None => None,
            };
            match (converted, options.office_preview) {
                (Some(picture), _) => Some(picture),
                (None, Some(preview)) if !first_page.is_empty() => {
                    options.limits.check_time()?;
                    match preview(first_page) {
                        Ok(bytes) => pdf_first_page_of(pdf::open_bytes(bytes), width, height, &options.limits)?,
                        Err(_) => None,
                    }
                }
                (None, _) => None,
            }
        }
        Kind::Other(_) => None,
    };
    let canvas = match picture {
        Some(picture) => fit_on_white(&picture, width, height),
        None => icon(kind.label(), kind.colour(), width, height)?,
    };
    encode_png(&canvas)
}

/// The icon of a file's type as a PNG (no file is read): the stand-in when rendering failed.
/// Drawing an icon cannot fail for sizes within bounds; an empty answer means it did.
pub(crate) fn generic_icon(mime: &str, file_name: &str, width: u32, height: u32) -> Vec<u8> {
    let kind = Kind::of(mime, file_name);
    let (width, height) = (width.clamp(1, MAX_SIDE), height.clamp(1, MAX_SIDE));
    icon(kind.label(), kind.colour(), width, height).and_then(|canvas| encode_png(&canvas)).unwrap_or_default()
}

/// What a file looks like for its preview.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pdf,
    Image,
    /// A document LibreOffice converts, with the label of its icon.
    Office(&'static str),
    /// Anything else, with the label of its icon.
    Other(&'static str),
}

impl Kind {
    fn of(mime: &str, file_name: &str) -> Self {
        let ext = Path::new(file_name).extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        let by_ext = match ext.as_deref() {
            Some("docx") => Some(Self::Office("DOCX")),
            Some("xlsx") => Some(Self::Office("XLSX")),
            Some("pptx") => Some(Self::Office("PPTX")),
            Some("odt") => Some(Self::Office("ODT")),
            Some("ods") => Some(Self::Office("ODS")),
            Some("odp") => Some(Self::Office("ODP")),
            Some("doc") => Some(Self::Office("DOC")),
            Some("xls") => Some(Self::Office("XLS")),
            Some("ppt") => Some(Self::Office("PPT")),
            Some("rtf") => Some(Self::Office("RTF")),
            _ => None,
        };
        let mime_lower = mime.split(';').next().unwrap_or(mime).trim().to_ascii_lowercase();
        let by_mime = match mime_lower.as_str() {
            "application/vnd.oasis.opendocument.text" => Some(Self::Office("ODT")),
            "application/vnd.oasis.opendocument.spreadsheet" => Some(Self::Office("ODS")),
            "application/vnd.oasis.opendocument.presentation" => Some(Self::Office("ODP")),
            "application/msword" => Some(Self::Office("DOC")),
            "application/vnd.ms-excel" => Some(Self::Office("XLS")),
            "application/vnd.ms-powerpoint" => Some(Self::Office("PPT")),
            _ => None,
        };
        match Format::detect(mime, file_name) {
            Some(Format::Pdf) => Self::Pdf,
            Some(Format::Image) => Self::Image,
            Some(Format::Docx) => Self::Office("DOCX"),
            Some(Format::Pptx) => Self::Office("PPTX"),
            Some(Format::Spreadsheet) => by_mime.or(by_ext).unwrap_or(Self::Office("XLSX")),
            Some(Format::Csv) => Self::Other("CSV"),
            Some(Format::Tsv) => Self::Other("TSV"),
            Some(Format::Html) => Self::Other("HTML"),
            Some(Format::Markdown) => Self::Other("MD"),
            Some(Format::Text) => Self::Other("TXT"),
            Some(Format::Eml) => Self::Other("EML"),
            None => by_mime.or(by_ext).unwrap_or(Self::Other("FILE")),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Pdf => "PDF",
            Self::Image => "IMG",
            Self::Office(label) | Self::Other(label) => label,
        }
    }

    /// The band colour of the icon: the colours people know the families by.
    fn colour(self) -> Color {
        let rgb = |r, g, b| Color::from_rgba8(r, g, b, 255);
        match self.label() {
            "PDF" => rgb(0xD3, 0x2F, 0x2F),
            "DOCX" | "DOC" | "ODT" | "RTF" => rgb(0x2B, 0x57, 0x9A),
            "XLSX" | "XLS" | "ODS" | "CSV" | "TSV" => rgb(0x21, 0x73, 0x46),
            "PPTX" | "PPT" | "ODP" => rgb(0xD2, 0x47, 0x26),
            "HTML" | "MD" => rgb(0x6A, 0x1B, 0x9A),
            "EML" => rgb(0x00, 0x83, 0x8F),
            "TXT" => rgb(0x54, 0x6E, 0x7A),
            _ => rgb(0x75, 0x75, 0x75),
        }
    }
}

/// The first page of a PDF rendered to fit the box; `None` when the file cannot be shown
/// (encrypted, damaged, no pages), so that the caller draws the icon instead.
fn pdf_first_page(path: &Path, width: u32, height: u32, limits: &Limits) -> Result<Option<DynamicImage>, ExtractError> {
    pdf_first_page_of(pdf::open(path), width, height, limits)
}

/// [`pdf_first_page`] of a document opened already (or not).
fn pdf_first_page_of(
    doc: Result<pdf_oxide::PdfDocument, ExtractError>,
    width: u32,
    height: u32,
    limits: &Limits,
) -> Result<Option<DynamicImage>, ExtractError> {
    let doc = match doc {
        Ok(doc) => doc,
        Err(ExtractError::Encrypted | ExtractError::Malformed(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    if !matches!(doc.page_count(), Ok(n) if n > 0) {
        return Ok(None);
    }
    limits.check_time()?;
    let mut render = pdf_oxide::rendering::RenderOptions::default();
    render.format = pdf_oxide::rendering::ImageFormat::RawRgba8;
    render.max_output_pixels = u64::from(width) * u64::from(height) * 4;
    let rendered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pdf_oxide::rendering::render_page_fit(&doc, 0, width, height, &render)
    }));
    let Ok(Ok(rendered)) = rendered else { return Ok(None) };
    // The background is opaque white, so the premultiplied pixels are the straight ones.
    Ok(RgbaImage::from_raw(rendered.width, rendered.height, rendered.data).map(DynamicImage::ImageRgba8))
}

/// Converts an office document to PDF with LibreOffice and renders its first page; `None` when
/// the conversion fails (the icon is drawn instead).
fn convert_and_render(
    converter: &Path,
    path: &Path,
    width: u32,
    height: u32,
    limits: &Limits,
) -> Result<Option<DynamicImage>, ExtractError> {
    let dir = tempfile::Builder::new().prefix("docwright-thumb-").tempdir()?;
    // LibreOffice picks its filter by the extension; the stored file may have none.
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("docx");
    let input = dir.path().join(format!("input.{ext}"));
    std::fs::copy(path, &input)?;
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir)?;
    let mut command = Command::new(converter);
    command
        .arg(format!("-env:UserInstallation=file://{}", dir.path().join("profile").display()))
        .args(["--headless", "--norestore", "--convert-to", "pdf", "--outdir"])
        .arg(&out_dir)
        .arg(&input)
        .env("HOME", dir.path());
    let timeout = limits.deadline.map_or(CONVERT_TIMEOUT, |d| d.saturating_duration_since(Instant::now()));
    match run_bounded(command, timeout) {
        Ok(out) if out.status.success() => {}
        Ok(_) | Err(RunError::Spawn(_)) => return Ok(None),
        Err(RunError::TimedOut) => {
            limits.check_time()?;
            return Ok(None);
        }
    }
    let pdf = out_dir.join("input.pdf");
    if !pdf.is_file() {
        return Ok(None);
    }
    pdf_first_page(&pdf, width, height, limits)
}

/// What an office preview draws: most of [`PREVIEW_CHARS`] of text, a table of at most
/// [`PREVIEW_ROWS`] × [`PREVIEW_COLUMNS`] cells.
const PREVIEW_CHARS: usize = 3_000;
const PREVIEW_ROWS: usize = 40;
const PREVIEW_COLUMNS: usize = 12;
/// Characters of one table cell in a preview.
const PREVIEW_CELL_CHARS: usize = 60;

/// The parts of an office document's first page, slide or sheet that its preview draws, kept
/// as extraction makes them ([`FirstPage::offer`]): text and tables only, cut to what a page
/// shows, so it holds a page's worth however large the document. Speaker notes, headers and
/// footers are left out; a part of a later page, slide or sheet ends it.
#[derive(Debug, Default)]
pub struct FirstPage {
    parts: Vec<Part>,
    chars: usize,
    /// Page, slide and sheet of the first part kept.
    first: Option<(Option<u32>, Option<u32>, Option<String>)>,
    full: bool,
}

impl FirstPage {
    /// Keeps (a copy of the page's share of) `part` if it belongs to the first page.
    pub fn offer(&mut self, part: &Part) {
        if self.full
            || !matches!(part.kind, PartKind::Text | PartKind::Table)
            || matches!(part.label.as_deref(), Some("notes" | "header" | "footer"))
        {
            return;
        }
        let at = &part.location;
        let unit = (at.page, at.slide, at.sheet.clone());
        let first = self.first.get_or_insert_with(|| unit.clone());
        let later = |a: Option<u32>, b: Option<u32>| matches!((a, b), (Some(a), Some(b)) if b > a);
        let other_sheet = matches!((&first.2, &unit.2), (Some(a), Some(b)) if a != b);
        if later(first.0, unit.0) || later(first.1, unit.1) || other_sheet {
            self.full = true;
            return;
        }
        let left = PREVIEW_CHARS - self.chars;
        let text: String = part.text.chars().take(left).collect();
        let rows = part.rows.as_ref().map(|rows| {
            rows.iter()
                .take(PREVIEW_ROWS)
                .map(|row| {
                    row.iter().take(PREVIEW_COLUMNS).map(|c| c.chars().take(PREVIEW_CELL_CHARS).collect()).collect()
                })
                .collect::<Vec<Vec<String>>>()
        });
        let cells: usize = rows.iter().flatten().flatten().map(|c| c.chars().count()).sum();
        // A table counts as its cells (a sheet is one table), text as its characters.
        self.chars = (self.chars + if rows.is_some() { cells } else { text.chars().count() }).min(PREVIEW_CHARS);
        // A sheet's first table part is the sheet's first screen.
        self.full = self.chars >= PREVIEW_CHARS || (part.kind == PartKind::Table && at.sheet.is_some());
        self.parts.push(Part {
            kind: part.kind,
            mime_type: part.mime_type.clone(),
            label: part.label.clone(),
            level: part.level,
            text,
            rows,
            method: part.method,
            location: part.location.clone(),
            data: None,
            data_file: None,
        });
    }

    /// The parts kept, in document order.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }
}

/// `picture` scaled to fit inside `width`×`height` and centred on white.
fn fit_on_white(picture: &DynamicImage, width: u32, height: u32) -> RgbaImage {
    let scale = (f64::from(width) / f64::from(picture.width().max(1)))
        .min(f64::from(height) / f64::from(picture.height().max(1)));
    let (w, h) = (
        ((f64::from(picture.width()) * scale).round() as u32).clamp(1, width),
        ((f64::from(picture.height()) * scale).round() as u32).clamp(1, height),
    );
    let resized = if (w, h) == (picture.width(), picture.height()) {
        picture.to_rgba8()
    } else {
        picture.resize_exact(w, h, imageops::FilterType::Triangle).to_rgba8()
    };
    let mut canvas = RgbaImage::from_pixel(width, height, Rgba([255, 255, 255, 255]));
    imageops::overlay(&mut canvas, &resized, i64::from((width - w) / 2), i64::from((height - h) / 2));
    canvas
}

fn encode_png(canvas: &RgbaImage) -> Result<Vec<u8>, ExtractError> {
    let mut png = Vec::new();
    // Opaque: RGB is a quarter smaller than RGBA and every viewer shows it the same.
    DynamicImage::ImageRgba8(canvas.clone())
        .to_rgb8()
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| ExtractError::Io(std::io::Error::other(e)))?;
    Ok(png)
}

/// The generic icon: a white page with a folded top-right corner on a light background, and a
/// coloured band across it with `label` in white block letters.
fn icon(label: &str, colour: Color, width: u32, height: u32) -> Result<RgbaImage, ExtractError> {
    let mut pixmap = Pixmap::new(width, height).ok_or(ExtractError::TooLarge { what: "thumbnail size", limit: 0 })?;
    pixmap.fill(Color::from_rgba8(0xF4, 0xF5, 0xF7, 255));
    let (w, h) = (width as f32, height as f32);
    // The page keeps the A4 ratio inside the box with a margin.
    let page_h = (h * 0.84).min(w * 0.84 * 1.414);
    let page_w = page_h / 1.414;
    let (x0, y0) = ((w - page_w) / 2.0, (h - page_h) / 2.0);
    let (x1, y1) = (x0 + page_w, y0 + page_h);
    let fold = page_w * 0.24;

    let paint = |c: Color| {
        let mut p = Paint::default();
        p.set_color(c);
        p.anti_alias = true;
        p
    };
    let mut outline = PathBuilder::new();
    outline.move_to(x0, y0);
    outline.line_to(x1 - fold, y0);
    outline.line_to(x1, y0 + fold);
    outline.line_to(x1, y1);
    outline.line_to(x0, y1);
    outline.close();
    if let Some(path) = outline.finish() {
        // A soft shadow one step down and right, then the page and its edge.
        let shadow = path.clone().transform(Transform::from_translate(page_w * 0.02, page_w * 0.02));
        if let Some(shadow) = shadow {
            pixmap.fill_path(
                &shadow,
                &paint(Color::from_rgba8(0, 0, 0, 28)),
                FillRule::Winding,
                Transform::identity(),
                None,
            );
        }
        pixmap.fill_path(&path, &paint(Color::WHITE), FillRule::Winding, Transform::identity(), None);
        let stroke = Stroke { width: (page_w * 0.012).max(1.0), ..Stroke::default() };
        pixmap.stroke_path(
            &path,
            &paint(Color::from_rgba8(0xB0, 0xB6, 0xBE, 255)),
            &stroke,
            Transform::identity(),
            None,
        );
    }
    let mut corner = PathBuilder::new();
    corner.move_to(x1 - fold, y0);
    corner.line_to(x1 - fold, y0 + fold);
    corner.line_to(x1, y0 + fold);
    corner.close();
    if let Some(path) = corner.finish() {
        pixmap.fill_path(
            &path,
            &paint(Color::from_rgba8(0xD5, 0xD9, 0xDE, 255)),
            FillRule::Winding,
            Transform::identity(),
            None,
        );
    }
    // Grey lines suggesting text above and below the band.
    let line_h = (page_h * 0.018).max(1.0);
    for i in 0..4 {
        let y = y0 + fold + page_h * 0.06 + i as f32 * line_h * 3.0;
        let len = if i == 3 { 0.55 } else { 0.8 };
        if let Some(r) = Rect::from_xywh(x0 + page_w * 0.1, y, page_w * 0.8 * len / 0.8, line_h) {
            pixmap.fill_rect(r, &paint(Color::from_rgba8(0xDD, 0xE1, 0xE6, 255)), Transform::identity(), None);
        }
    }
    // The band, reaching a little beyond the page on the left as on a label.
    let band_h = page_h * 0.2;
    let band_y = y0 + page_h * 0.52;
    if let Some(r) = Rect::from_xywh(x0 - page_w * 0.06, band_y, page_w * 0.92, band_h) {
        pixmap.fill_rect(r, &paint(colour), Transform::identity(), None);
    }
    // The label: 5×7 cells with a one-cell gap, as large as fits the band.
    let cells_wide = label.chars().count() as f32 * 6.0 - 1.0;
    let cell = ((page_w * 0.78) / cells_wide).min(band_h * 0.6 / 7.0).max(1.0);
    let text_w = cells_wide * cell;
    let tx = x0 - page_w * 0.06 + (page_w * 0.92 - text_w) / 2.0;
    let ty = band_y + (band_h - 7.0 * cell) / 2.0;
    draw_text(&mut pixmap, label, tx, ty, cell, Color::WHITE);
    for i in 0..3 {
        let y = band_y + band_h + page_h * 0.06 + i as f32 * line_h * 3.0;
        if let Some(r) = Rect::from_xywh(x0 + page_w * 0.1, y, page_w * if i == 2 { 0.45 } else { 0.8 }, line_h) {
            pixmap.fill_rect(r, &paint(Color::from_rgba8(0xDD, 0xE1, 0xE6, 255)), Transform::identity(), None);
        }
    }
    // The pixmap is opaque everywhere (the background is filled), so premultiplied = straight.
    RgbaImage::from_raw(width, height, pixmap.take()).ok_or(ExtractError::TooLarge { what: "thumbnail size", limit: 0 })
}

/// Draws `text` (A–Z, 0–9, space; other characters as a box) with its top-left at `x`, `y`,
/// each font cell `cell` pixels square.
pub(crate) fn draw_text(pixmap: &mut Pixmap, text: &str, x: f32, y: f32, cell: f32, colour: Color) {
    let mut paint = Paint::default();
    paint.set_color(colour);
    // Cells are drawn a hair larger so that neighbours meet without seams.
    paint.anti_alias = false;
    for (i, ch) in text.chars().enumerate() {
        let glyph = glyph(ch);
        let gx = x + i as f32 * 6.0 * cell;
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..5 {
                if bits & (0b10000 >> col) != 0
                    && let Some(r) =
                        Rect::from_xywh(gx + col as f32 * cell, y + row as f32 * cell, cell + 0.5, cell + 0.5)
                {
                    pixmap.fill_rect(r, &paint, Transform::identity(), None);
                }
            }
        }
    }
}

/// The 5×7 bitmap of a character, one row per byte, leftmost column in bit 4.
fn glyph(ch: char) -> [u8; 7] {
    match ch.to_ascii_uppercase() {
        'A' => [0b01110, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001],
        'B' => [0b11110, 0b10001, 0b10001, 0b11110, 0b10001, 0b10001, 0b11110],
        'C' => [0b01110, 0b10001, 0b10000, 0b10000, 0b10000, 0b10001, 0b01110],
        'D' => [0b11110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b11110],
        'E' => [0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b11111],
        'F' => [0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b10000],
        'G' => [0b01110, 0b10001, 0b10000, 0b10111, 0b10001, 0b10001, 0b01111],
        'H' => [0b10001, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001],
        'I' => [0b01110, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110],
        'J' => [0b00111, 0b00010, 0b00010, 0b00010, 0b00010, 0b10010, 0b01100],
        'K' => [0b10001, 0b10010, 0b10100, 0b11000, 0b10100, 0b10010, 0b10001],
        'L' => [0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b11111],
        'M' => [0b10001, 0b11011, 0b10101, 0b10101, 0b10001, 0b10001, 0b10001],
        'N' => [0b10001, 0b10001, 0b11001, 0b10101, 0b10011, 0b10001, 0b10001],
        'O' => [0b01110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110],
        'P' => [0b11110, 0b10001, 0b10001, 0b11110, 0b10000, 0b10000, 0b10000],
        'Q' => [0b01110, 0b10001, 0b10001, 0b10001, 0b10101, 0b10010, 0b01101],
        'R' => [0b11110, 0b10001, 0b10001, 0b11110, 0b10100, 0b10010, 0b10001],
        'S' => [0b01111, 0b10000, 0b10000, 0b01110, 0b00001, 0b00001, 0b11110],
        'T' => [0b11111, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100],
        'U' => [0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110],
        'V' => [0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01010, 0b00100],
        'W' => [0b10001, 0b10001, 0b10001, 0b10101, 0b10101, 0b10101, 0b01010],
        'X' => [0b10001, 0b10001, 0b01010, 0b00100, 0b01010, 0b10001, 0b10001],
        'Y' => [0b10001, 0b10001, 0b01010, 0b00100, 0b00100, 0b00100, 0b00100],
        'Z' => [0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0b11111],
        '0' => [0b01110, 0b10001, 0b10011, 0b10101, 0b11001, 0b10001, 0b01110],
        '1' => [0b00100, 0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110],
        '2' => [0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b01000, 0b11111],
        '3' => [0b11111, 0b00010, 0b00100, 0b00010, 0b00001, 0b10001, 0b01110],
        '4' => [0b00010, 0b00110, 0b01010, 0b10010, 0b11111, 0b00010, 0b00010],
        '5' => [0b11111, 0b10000, 0b11110, 0b00001, 0b00001, 0b10001, 0b01110],
        '6' => [0b00110, 0b01000, 0b10000, 0b11110, 0b10001, 0b10001, 0b01110],
        '7' => [0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b01000, 0b01000],
        '8' => [0b01110, 0b10001, 0b10001, 0b01110, 0b10001, 0b10001, 0b01110],
        '9' => [0b01110, 0b10001, 0b10001, 0b01111, 0b00001, 0b00010, 0b01100],
        ' ' => [0; 7],
        _ => [0b11111, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b11111],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(png: &[u8]) -> DynamicImage {
        image::load_from_memory(png).unwrap()
    }

    #[test]
    fn an_unknown_file_gets_an_icon_of_the_box_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.bin");
        std::fs::write(&path, b"whatever").unwrap();
        let png = thumbnail(&path, "application/octet-stream", "x.bin", &ThumbnailOptions::default()).unwrap();
        let image = decode(&png);
        assert_eq!((image.width(), image.height()), (200, 280));
    }

    #[test]
    fn kinds_come_from_mime_and_name() {
        assert_eq!(Kind::of("application/pdf", "a"), Kind::Pdf);
        assert_eq!(Kind::of("image/png", "a"), Kind::Image);
        assert_eq!(Kind::of("application/zip", "a.docx"), Kind::Office("DOCX"));
        assert_eq!(Kind::of("application/vnd.ms-excel", "a.xls"), Kind::Office("XLS"));
        assert_eq!(Kind::of("application/x-ole-storage", "a.doc"), Kind::Office("DOC"));
        assert_eq!(Kind::of("text/csv", "a.csv"), Kind::Other("CSV"));
        assert_eq!(Kind::of("message/rfc822", "a.eml"), Kind::Other("EML"));
        assert_eq!(Kind::of("application/x-thing", "a.bin"), Kind::Other("FILE"));
    }

    #[test]
    fn the_band_carries_the_label_in_white() {
        let image = icon("PDF", Kind::Pdf.colour(), 200, 280).unwrap();
        let white_in_band = (0..200)
            .take(155)
            .skip(10)
            .flat_map(|x| (150..190).map(move |y| (x, y)))
            .filter(|&(x, y)| image.get_pixel(x, y).0 == [255, 255, 255, 255])
            .count();
        let red = image.pixels().filter(|p| p.0 == [0xD3, 0x2F, 0x2F, 255]).count();
        assert!(red > 1000, "band drawn: {red}");
        assert!(white_in_band > 100, "letters drawn: {white_in_band}");
    }
}
