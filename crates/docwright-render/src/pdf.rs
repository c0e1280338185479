//! PDF through typst as a library: real line breaking and pagination, tables that break across
//! pages with their header repeated, headings as the PDF outline (bookmarks), images, page
//! numbers, document metadata, and fonts embedded as subsets.
//!
//! The text is data, never markup: the document is turned into a JSON value (`layout`), handed
//! to typst as the file `/doc.json`, and one fixed template (`pdf/template.typ`, compiled into
//! the binary) reads it with `json()` and places every string as text. Nothing a model wrote is
//! ever parsed as typst source, so `#import`, `$`, `\` or `]` come out as those characters.
//! The [`World`] knows three kinds of file — the template, the JSON and the images — and
//! answers every other path, packages included, with "not found": nothing is fetched.
//!
//! Fonts are loaded once per process (`FONTS`): the ones typst-assets ships in the binary
//! (Libertinus Serif for Latin, Cyrillic and Greek; DejaVu Sans Mono for code), then the
//! system's fonts (Noto CJK from `fonts-noto-cjk`, DejaVu Sans for right-to-left scripts), found
//! once, memory-mapped by fontdb and read only when a glyph needs them. typst's memoization
//! caches are evicted after each document, so memory does not grow with every render.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{LazyLock, OnceLock};

use serde_json::{Value, json};
use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime, Duration};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook, FontInfo};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};
use typst_layout::PagedDocument;

use crate::model::{Cell, Document, Element, ListItem, Run, Table, heading_level};
use crate::picture::{Pictures, fit};
use crate::text::{clean, cut_rows_notice, error_notice, image_notice, language_tag, link, reference_line};
use crate::{Error, Options, Result};

const TEMPLATE: &str = include_str!("pdf/template.typ");

/// Lists nest at most this deep in the PDF (typst's call depth bounds the template's
/// recursion); deeper items are shown at this depth.
const MAX_LIST_DEPTH: usize = 16;

/// Words longer than this get break opportunities (a zero-width space every `WORD_CHUNK`
/// characters), so a 10,000-character word wraps instead of running off the page.
const LONG_WORD: usize = 60;
const WORD_CHUNK: usize = 40;

pub(crate) fn render(document: &Document, options: &Options) -> Result<Vec<u8>> {
    let (data, images) = layout(document, options);
    let world = RenderWorld::new(data, images).map_err(|e| Error::failed("PDF", e))?;
    let compiled = typst::compile::<PagedDocument>(&world).output;
    let result = compiled.map_err(|errors| diagnostics(&errors)).and_then(|paged| {
        let pdf_options = typst_pdf::PdfOptions {
            creator: typst::foundations::Smart::Custom(Some("docwright".into())),
            ..typst_pdf::PdfOptions::default()
        };
        typst_pdf::pdf(&paged, &pdf_options).map_err(|errors| diagnostics(&errors))
    });
    // What typst memoized for this document is of no use to the next one.
    comemo::evict(0);
    result.map_err(|message| Error::failed("PDF", message))
}

fn diagnostics(errors: &[typst::diag::SourceDiagnostic]) -> String {
    errors.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; ")
}

// --- the document as the template's data ----------------------------------------------------

/// The JSON the template reads and the image files it names.
fn layout(document: &Document, options: &Options) -> (Value, Vec<Bytes>) {
    let mut blocks = Vec::new();
    let mut images = Vec::new();
    let mut pictures = Pictures::new(options);
    let notice = |text: String| json!({"kind": "notice", "text": text});
    for section in &document.sections {
        if let Some(title) = &section.title {
            blocks.push(json!({"kind": "heading", "level": 1, "text": text(title)}));
        }
        for element in &section.elements {
            match element {
                Element::Heading { level, text: t } => {
                    blocks.push(json!({"kind": "heading", "level": heading_level(*level), "text": text(t)}));
                }
                Element::Paragraph { runs } => blocks.push(json!({"kind": "par", "runs": runs_json(runs)})),
                Element::List(list) => {
                    blocks.push(json!({"kind": "list", "ordered": list.ordered, "items": items_json(&list.items, 0)}));
                }
                Element::Table(table) => table_blocks(table, options, &mut blocks),
                Element::Image(image) => match pictures.prepare(image) {
                    Ok(picture) => {
                        // Natural size at 96 dpi, in points; the template fits it to the page.
                        let (w, h) = fit(picture.width, picture.height, 0.75, 1e9, 1e9);
                        blocks.push(json!({
                            "kind": "image",
                            "path": format!("/img/{}", images.len()),
                            "format": match picture.kind { crate::picture::Kind::Jpeg => "jpg", k => k.extension() },
                            "w": w, "h": h,
                            "alt": image.alt_text.as_deref().map(text),
                            "caption": image.caption.as_deref().map(text),
                        }));
                        images.push(Bytes::new(picture.bytes));
                    }
                    Err(reason) => blocks.push(notice(image_notice(&reason, image.alt_text.as_deref()))),
                },
                Element::Reference { label, .. } => {
                    blocks.push(json!({"kind": "reference", "text": text(&reference_line(label))}))
                }
                Element::ExtractedText { content, source, .. } => {
                    blocks.push(json!({"kind": "quote", "text": text(content), "source": source.as_deref().map(text)}));
                }
                Element::PageBreak => blocks.push(json!({"kind": "pagebreak"})),
                Element::Error { message, .. } => {
                    blocks.push(json!({"kind": "error", "text": text(&error_notice(message))}))
                }
            }
        }
    }
    let meta = &document.metadata;
    let (lang, region) = match language_tag(document.language.as_deref()) {
        Some(tag) => {
            let mut parts = tag.split('-');
            let lang = parts.next().map(str::to_owned);
            let region = parts.find(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_uppercase())).map(str::to_owned);
            (lang, region)
        }
        None => (None, None),
    };
    let data = json!({
        "title": document.title.as_deref().map(text),
        "authors": meta.author.as_deref().map(|a| vec![text(a)]).unwrap_or_default(),
        "description": meta.subject.as_deref().or(meta.description.as_deref()).map(text),
        "keywords": meta.keywords.iter().map(|k| text(k)).collect::<Vec<_>>(),
        "lang": lang,
        "region": region,
        "blocks": blocks,
    });
    (data, images)
}

fn table_blocks(table: &Table, options: &Options, blocks: &mut Vec<Value>) {
    if table.columns.is_empty() {
        return;
    }
    let shown = table.rows.len().min(options.max_paged_rows);
    let widths: Vec<f64> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let longest = table.rows[..shown]
                .iter()
                .take(200)
                .map(|row| row.get(i).map_or(0, |c| c.display(column.data_type).chars().count()))
                .chain([column.name.chars().count()])
                .max()
                .unwrap_or(1);
            (longest as f64).clamp(3.0, 30.0)
        })
        .collect();
    let rows: Vec<Value> = table.rows[..shown]
        .iter()
        .map(|row| {
            table
                .columns
                .iter()
                .enumerate()
                .map(|(i, column)| Value::String(text(&row.get(i).unwrap_or(&Cell::Empty).display(column.data_type))))
                .collect()
        })
        .collect();
    blocks.push(json!({
        "kind": "table",
        "caption": table.caption.as_deref().map(text),
        "columns": table.columns.iter().map(|c| text(&c.name)).collect::<Vec<_>>(),
        "right": table.columns.iter().map(|c| c.data_type.is_numeric()).collect::<Vec<_>>(),
        "widths": widths,
        "rows": rows,
    }));
    if shown < table.rows.len() {
        blocks.push(json!({"kind": "notice", "text": cut_rows_notice(shown, table.rows.len())}));
    }
}

/// Runs as `{t, b, i, c, l}`; a line break inside a run becomes a `{br}` of its own.
fn runs_json(runs: &[Run]) -> Vec<Value> {
    let mut out = Vec::new();
    for run in runs {
        for (n, line) in clean(&run.text).split('\n').enumerate() {
            if n > 0 {
                out.push(json!({"br": true}));
            }
            if line.is_empty() {
                continue;
            }
            out.push(json!({
                "t": breakable(line.trim_end_matches('\r')),
                "b": run.bold, "i": run.italic, "c": run.code,
                "l": link(run),
            }));
        }
    }
    out
}

fn items_json(items: &[ListItem], depth: usize) -> Vec<Value> {
    let mut out = Vec::new();
    for item in items {
        let value = json!({"runs": runs_json(&item.runs), "items": if depth + 1 < MAX_LIST_DEPTH { items_json(&item.items, depth + 1) } else { Vec::new() }});
        out.push(value);
        if depth + 1 >= MAX_LIST_DEPTH {
            // Too deep for the template: the rest of this branch continues at this depth.
            crate::text::each_item(&item.items, 0, &mut |deeper, _| {
                out.push(json!({"runs": runs_json(&deeper.runs), "items": []}));
            });
        }
    }
    out
}

/// Cleaned text with break opportunities in overlong words.
fn text(s: &str) -> String {
    breakable(&clean(s))
}

fn breakable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut run = 0usize;
    for c in s.chars() {
        if c.is_whitespace() {
            run = 0;
        } else {
            run += 1;
            if run > LONG_WORD && run.is_multiple_of(WORD_CHUNK) {
                out.push('\u{200B}');
            }
        }
        out.push(c);
    }
    out
}

// --- the typst world -------------------------------------------------------------------------

/// The fonts of the process: loaded once, shared by every thread.
static FONTS: LazyLock<FontStore> = LazyLock::new(FontStore::load);

/// typst's standard library, built once.
static LIBRARY: LazyLock<LazyHash<Library>> = LazyLock::new(|| LazyHash::new(Library::builder().build()));

struct FontStore {
    book: LazyHash<FontBook>,
    slots: Vec<FontSlot>,
}

enum FontSlot {
    Embedded(Font),
    System { path: PathBuf, index: u32, font: OnceLock<Option<Font>> },
}

impl FontSlot {
    fn get(&self) -> Option<Font> {
        match self {
            Self::Embedded(font) => Some(font.clone()),
            Self::System { path, index, font } => font
                .get_or_init(|| {
                    let data = std::fs::read(path).ok()?;
                    Font::new(Bytes::new(data), *index)
                })
                .clone(),
        }
    }
}

/// Where installed fonts are looked for.
const FONT_DIRS: [&str; 3] = ["/usr/share/fonts", "/usr/local/share/fonts", "/usr/share/texmf/fonts/opentype"];

impl FontStore {
    fn load() -> Self {
        let mut book = FontBook::new();
        let mut slots = Vec::new();
        for data in typst_assets::fonts() {
            for font in Font::iter(Bytes::new(data)) {
                book.push(font.info().clone());
                slots.push(FontSlot::Embedded(font));
            }
        }
        let mut db = fontdb::Database::new();
        for dir in FONT_DIRS {
            db.load_fonts_dir(dir);
        }
        for face in db.faces() {
            let path = match &face.source {
                fontdb::Source::File(path) | fontdb::Source::SharedFile(path, _) => path.clone(),
                fontdb::Source::Binary(_) => continue,
            };
            let info = db.with_face_data(face.id, FontInfo::new).flatten();
            if let Some(info) = info {
                book.push(info);
                slots.push(FontSlot::System { path, index: face.index, font: OnceLock::new() });
            }
        }
        Self { book: LazyHash::new(book), slots }
    }
}

struct RenderWorld {
    main: FileId,
    source: Source,
    files: HashMap<FileId, Bytes>,
}

fn file_id(path: &str) -> Result<FileId, String> {
    let vpath = VirtualPath::new(path).map_err(|e| format!("{path}: {e:?}"))?;
    Ok(RootedPath::new(VirtualRoot::Project, vpath).intern())
}

impl RenderWorld {
    fn new(data: Value, images: Vec<Bytes>) -> Result<Self, String> {
        let main = file_id("/main.typ")?;
        let mut files = HashMap::new();
        let json = serde_json::to_vec(&data).map_err(|e| e.to_string())?;
        files.insert(file_id("/doc.json")?, Bytes::new(json));
        for (i, image) in images.into_iter().enumerate() {
            // Ids are interned for the process; `/img/<n>` reuses the same few across documents.
            files.insert(file_id(&format!("/img/{i}"))?, image);
        }
        Ok(Self { main, source: Source::new(main, TEMPLATE.to_owned()), files })
    }
}

impl World for RenderWorld {
    fn library(&self) -> &LazyHash<Library> {
        &LIBRARY
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &FONTS.book
    }

    fn main(&self) -> FileId {
        self.main
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main { Ok(self.source.clone()) } else { Err(FileError::NotSource) }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == self.main {
            return Ok(Bytes::from_string(self.source.clone()));
        }
        self.files.get(&id).cloned().ok_or(FileError::AccessDenied)
    }

    fn font(&self, index: usize) -> Option<Font> {
        FONTS.slots.get(index)?.get()
    }

    fn today(&self, _offset: Option<Duration>) -> Option<Datetime> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_words_get_break_opportunities() {
        let word = "x".repeat(200);
        let broken = breakable(&word);
        assert_eq!(broken.replace('\u{200B}', ""), word);
        assert!(broken.contains('\u{200B}'));
        assert_eq!(breakable("short words stay as they are"), "short words stay as they are");
    }
}
