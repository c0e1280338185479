//! DOCX and PPTX through `office_oxide`'s document IR.
//!
//! The package is scanned first ([`guard::scan_package`]): the inflate budget and the XML depth
//! are ours to enforce, and an encrypted package (an OLE file, not a zip) is recognised before
//! any parser sees it. office_oxide then reads under our limits (`ParseOptions`), and its IR is
//! walked into parts: DOCX as a flow of headings, paragraphs, list items, tables, images and the
//! distinct headers and footers; PPTX per slide (title, text, tables, notes, images).

use std::collections::HashSet;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use office_oxide::ir::{Element, List, Section, SectionBreakType, inline_to_text};
use office_oxide::options::ParseOptions;
use office_oxide::{Document, DocumentFormat, OfficeError};

use crate::guard::{self, Budget, Collector};
use crate::{ExtractError, Extraction, Format, Location, Options, Part};

pub(crate) fn extract(path: &Path, format: Format, options: &Options) -> Result<Extraction, ExtractError> {
    let limits = &options.limits;
    let mut budget = Budget::new(limits);
    guard::scan_package(path, limits, &mut budget)?;
    limits.check_time()?;
    let doc_format = match format {
        Format::Pptx => DocumentFormat::Pptx,
        _ => DocumentFormat::Docx,
    };
    let doc = open(path, doc_format, options)?;
    limits.check_time()?;
    let ir = doc.to_ir();
    limits.check_time()?;
    let mut warnings = ir_warnings(&ir.metadata.warnings, ir.metadata.text_truncated, limits)?;
    let mut out = Collector::new(limits);
    let mut units = None;
    match format {
        Format::Pptx => {
            let slides = doc.as_pptx().map_or(0, |p| p.slides.len());
            if slides as u64 > u64::from(limits.max_pages) {
                return Err(ExtractError::TooManyPages { found: slides as u64, limit: limits.max_pages });
            }
            units = Some(slides as u32);
            // Each slide is one section, in order; what follows them (the static text of
            // masters and layouts, notices) is not slide content.
            for (i, section) in ir.sections.iter().take(slides).enumerate() {
                limits.check_time()?;
                slide(section, i as u32 + 1, &mut out)?;
            }
        }
        _ => {
            let mut seen = HashSet::new();
            let mut page = Page { number: 1, blank: true };
            for (i, section) in ir.sections.iter().enumerate() {
                limits.check_time()?;
                headers_footers(section, &mut seen, &mut out)?;
                if i > 0 && section.break_type != SectionBreakType::Continuous {
                    page.turn(false);
                }
                let mut walk = Walk { out: &mut out, page, max_depth: limits.max_xml_depth };
                walk.elements(&section.elements, 0)?;
                page = walk.page;
            }
        }
    }
    for damage in doc.damage() {
        let line = damage.to_string();
        if !warnings.contains(&line) {
            warnings.push(line);
        }
    }
    let mut extraction = out.into_extraction();
    extraction.units = units;
    extraction.warnings = warnings;
    Ok(extraction)
}

/// Opens the package with office_oxide under our limits. The path has no meaningful extension
/// (blobs are stored by hash), so the format is given, not guessed from the name.
fn open(path: &Path, format: DocumentFormat, options: &Options) -> Result<Document, ExtractError> {
    let mut parse = ParseOptions::default();
    parse.limits.package_bytes = options.limits.max_inflated_bytes;
    parse.limits.part_bytes = parse.limits.part_bytes.min(options.limits.max_inflated_bytes);
    parse.limits.text_chars = options.limits.max_text_chars;
    let file = BufReader::new(File::open(path)?);
    Document::from_reader_with(file, format, &parse).map_err(|e| map_error(e, options))
}

/// office_oxide's errors in our terms. Its limit errors are nested in per-format variants; the
/// messages are stable enough to tell them apart, and anything else is damage.
fn map_error(e: OfficeError, options: &Options) -> ExtractError {
    let message = e.to_string();
    let lower = message.to_ascii_lowercase();
    if lower.contains("password") || lower.contains("encrypt") {
        ExtractError::Encrypted
    } else if lower.contains("decompression limit") || lower.contains("package limit") {
        ExtractError::TooLarge { what: "inflated bytes", limit: options.limits.max_inflated_bytes }
    } else {
        ExtractError::Malformed(message)
    }
}

/// office_oxide reports a cut by its text budget as a truncated result; we fail instead, as for
/// every other format. Its other warnings are kept.
pub(crate) fn ir_warnings(
    warnings: &[String],
    truncated: bool,
    limits: &crate::Limits,
) -> Result<Vec<String>, ExtractError> {
    if truncated && warnings.iter().any(|w| w.contains("max_text_chars") || w.contains("text budget")) {
        return Err(ExtractError::TooLarge { what: "text characters", limit: limits.max_text_chars as u64 });
    }
    Ok(warnings.to_vec())
}

/// The headers and footers of a section, each distinct text once.
fn headers_footers(section: &Section, seen: &mut HashSet<String>, out: &mut Collector<'_>) -> Result<(), ExtractError> {
    let headers = [&section.first_page_header, &section.header, &section.even_page_header];
    let footers = [&section.first_page_footer, &section.footer, &section.even_page_footer];
    for (label, list) in [("header", headers), ("footer", footers)] {
        for hf in list.into_iter().flatten() {
            let text = plain_text(&hf.content);
            if !text.trim().is_empty() && seen.insert(format!("{label}\u{0}{text}")) {
                out.push(Part::text(label, text, Location::default()))?;
            }
        }
    }
    Ok(())
}

/// One slide: its title, its text as one part, its tables and pictures, its notes.
fn slide(section: &Section, number: u32, out: &mut Collector<'_>) -> Result<(), ExtractError> {
    let location = Location { slide: Some(number), ..Location::default() };
    let title = section.title.as_deref().map(str::trim).filter(|t| !t.is_empty());
    if let Some(title) = title {
        out.push(Part::text("title", title, location.clone()))?;
    }
    // The IR leads a slide with its title again as a heading; it is the title part already.
    let mut elements = section.elements.as_slice();
    if let (Some(title), Some(Element::Heading(h))) = (title, elements.first())
        && inline_to_text(&h.content).trim() == title
    {
        elements = &elements[1..];
    }
    let mut text = Vec::new();
    // Shapes arrive as text boxes holding their own elements: walked with a stack, not recursion.
    let mut stack: Vec<&Element> = elements.iter().rev().collect();
    while let Some(element) = stack.pop() {
        match element {
            Element::TextBox(tb) => stack.extend(tb.content.iter().rev()),
            Element::Table(table) => out.push(Part::table(table_rows(table), location.clone()))?,
            Element::Image(image) => push_image(image, &location, out)?,
            Element::Endnote(note) => {
                out.push(Part::text("comment", plain_text(&note.content), location.clone()))?;
            }
            other => {
                let t = plain_text(std::slice::from_ref(other));
                if !t.trim().is_empty() {
                    text.push(t);
                }
            }
        }
    }
    out.push(Part::text("slide_text", text.join("\n"), location.clone()))?;
    if let Some(notes) = &section.speaker_notes {
        out.push(Part::text("notes", plain_text(notes), location))?;
    }
    Ok(())
}

/// The page of a DOCX body being walked. A DOCX file has no fixed pages: they are counted as the
/// document itself breaks them (page breaks, "page break before" paragraphs, sections that start
/// on a new page); text that Word flows onto the next page on its own stays on the page before.
#[derive(Debug, Clone, Copy)]
struct Page {
    number: u32,
    /// Nothing has been put on this page yet.
    blank: bool,
}

impl Page {
    /// The next page; a break that only asks for a fresh page (`always` false) starts none when
    /// the current one is still blank.
    fn turn(&mut self, always: bool) {
        if always || !self.blank {
            self.number = self.number.saturating_add(1);
            self.blank = true;
        }
    }
}

/// Walks a DOCX body into parts.
struct Walk<'o, 'l> {
    out: &'o mut Collector<'l>,
    page: Page,
    max_depth: u32,
}

impl Walk<'_, '_> {
    /// Where the next part is: its page.
    fn here(&mut self) -> Location {
        self.page.blank = false;
        Location { page: Some(self.page.number), ..Location::default() }
    }

    fn push(&mut self, part: impl FnOnce(Location) -> Part) -> Result<(), ExtractError> {
        let location = self.here();
        self.out.push(part(location))
    }

    fn elements(&mut self, elements: &[Element], depth: u32) -> Result<(), ExtractError> {
        // office_oxide bounds its own nesting; this is a second fence on our recursion.
        if depth > self.max_depth {
            return Err(ExtractError::TooDeep { limit: self.max_depth });
        }
        for element in elements {
            match element {
                Element::Heading(h) => {
                    if h.page_break_before {
                        self.page.turn(false);
                    }
                    self.push(|at| Part::text("heading", inline_to_text(&h.content), at).with_level(h.level.max(1)))?;
                }
                Element::Paragraph(p) => {
                    if p.page_break_before {
                        self.page.turn(false);
                    }
                    self.push(|at| Part::text("paragraph", inline_to_text(&p.content), at))?;
                }
                Element::PageBreak => self.page.turn(true),
                Element::List(list) => self.list(list, 1, depth)?,
                Element::Table(table) => {
                    self.push(|at| Part::table(table_rows(table), at))?;
                    // Pictures inside cells are still pictures of the document.
                    for row in &table.rows {
                        for cell in &row.cells {
                            self.images(&cell.content, depth + 1)?;
                        }
                    }
                }
                Element::Image(image) => {
                    let at = self.here();
                    push_image(image, &at, self.out)?;
                }
                Element::TextBox(tb) => self.elements(&tb.content, depth + 1)?,
                Element::Footnote(note) => self.push(|at| Part::text("footnote", plain_text(&note.content), at))?,
                Element::Endnote(note) => {
                    let label = if note.marker.as_deref().is_some_and(|m| m.starts_with("Comment")) {
                        "comment"
                    } else {
                        "endnote"
                    };
                    self.push(|at| Part::text(label, plain_text(&note.content), at))?;
                }
                Element::CodeBlock(code) => {
                    self.push(|at| Part::text("code", code.content.clone(), at))?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// List items, each with its nesting level (1 = outermost).
    fn list(&mut self, list: &List, level: u8, depth: u32) -> Result<(), ExtractError> {
        if depth > self.max_depth {
            return Err(ExtractError::TooDeep { limit: self.max_depth });
        }
        // office_oxide keeps a Word list's own indentation level on flat lists.
        let level = level.max(list.level.saturating_add(1));
        for item in &list.items {
            let text = plain_text_shallow(&item.content);
            self.push(|at| Part::text("list_item", text, at).with_level(level))?;
            self.images(&item.content, depth + 1)?;
            if let Some(nested) = &item.nested {
                self.list(nested, level.saturating_add(1), depth + 1)?;
            }
        }
        Ok(())
    }

    /// The pictures anywhere in `elements`.
    fn images(&mut self, elements: &[Element], depth: u32) -> Result<(), ExtractError> {
        if depth > self.max_depth {
            return Err(ExtractError::TooDeep { limit: self.max_depth });
        }
        for element in elements {
            match element {
                Element::Image(image) => {
                    let at = self.here();
                    push_image(image, &at, self.out)?;
                }
                Element::TextBox(tb) => self.images(&tb.content, depth + 1)?,
                Element::Table(t) => {
                    for cell in t.rows.iter().flat_map(|r| &r.cells) {
                        self.images(&cell.content, depth + 1)?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn push_image(
    image: &office_oxide::ir::Image,
    location: &Location,
    out: &mut Collector<'_>,
) -> Result<(), ExtractError> {
    if let (Some(data), Some(format)) = (&image.data, &image.format) {
        out.push(Part::image(format.content_type(), data.clone(), location.clone()))?;
    }
    Ok(())
}

/// The cells of a table as text, row by row.
fn table_rows(table: &office_oxide::ir::Table) -> Vec<Vec<String>> {
    table
        .rows
        .iter()
        .map(|row| row.cells.iter().map(|cell| plain_text(&cell.content).trim().to_owned()).collect())
        .collect()
}

/// The text of elements, blocks separated by line breaks, nested content included. Iterative,
/// so that no nesting can exhaust the stack.
pub(crate) fn plain_text(elements: &[Element]) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut stack: Vec<&Element> = elements.iter().rev().collect();
    while let Some(element) = stack.pop() {
        match element {
            Element::Heading(h) => lines.push(inline_to_text(&h.content)),
            Element::Paragraph(p) => lines.push(inline_to_text(&p.content)),
            Element::CodeBlock(c) => lines.push(c.content.clone()),
            Element::Table(t) => {
                for row in &t.rows {
                    let cells: Vec<String> =
                        row.cells.iter().map(|c| plain_text(&c.content).replace('\n', " ")).collect();
                    lines.push(cells.join(" | "));
                }
            }
            Element::List(list) => {
                let mut lists = vec![list];
                while let Some(list) = lists.pop() {
                    for item in list.items.iter().rev() {
                        if let Some(nested) = &item.nested {
                            lists.push(nested);
                        }
                    }
                    for item in &list.items {
                        lines.push(plain_text_shallow(&item.content));
                    }
                }
            }
            Element::TextBox(tb) => stack.extend(tb.content.iter().rev()),
            Element::Footnote(n) | Element::Endnote(n) => stack.extend(n.content.iter().rev()),
            _ => {}
        }
    }
    lines.retain(|l| !l.trim().is_empty());
    lines.join("\n")
}

/// The text of a list item's own blocks (its nested list is walked separately).
fn plain_text_shallow(elements: &[Element]) -> String {
    let mut parts = Vec::new();
    for element in elements {
        match element {
            Element::Paragraph(p) => parts.push(inline_to_text(&p.content)),
            Element::Heading(h) => parts.push(inline_to_text(&h.content)),
            Element::List(_) => {}
            other => parts.push(plain_text(std::slice::from_ref(other))),
        }
    }
    parts.retain(|p| !p.trim().is_empty());
    parts.join("\n")
}
