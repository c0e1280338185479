//! DOCX through docx-rs: real heading styles with outline levels (Word's navigation pane and a
//! table of contents work), bulleted and numbered lists with nesting, tables with a header row
//! that repeats on every page, images scaled to the text width keeping their aspect ratio,
//! captions, page numbers in the footer, and document properties.
//!
//! docx-rs cannot say three things a document needs, so the package it writes goes through
//! [`finish`]: `docProps/core.xml` is replaced by ours (title, subject, keywords, description,
//! language, creator `docwright`); header rows, which are the only rows we mark `cantSplit`, also
//! get `tblHeader`; the document's language goes into the default run properties and Normal becomes the default
//! paragraph style; and JPEG images,
//! which docx-rs names `.png`, get their own extension so the part's type is right. Every other
//! part is copied as it was written.

use std::io::{Cursor, Read, Write};

use docx_rs::{
    AbstractNumbering, AlignmentType, BreakType, Docx, Footer, Hyperlink, HyperlinkType, IndentLevel, Level, LevelJc,
    LevelOverride, LevelText, LineSpacing, NumberFormat, Numbering, NumberingId, PageMargin, PageNum, Paragraph, Pic,
    Run as DocxRun, RunFonts, Shading, SpecialIndentType, Start, Style, StyleType, Table as DocxTable, TableCell,
    TableRow, WidthType,
};

use crate::model::{Cell, Document, Element, List, Run, Table, heading_level};
use crate::picture::{Kind, Pictures, fit};
use crate::text::{clean, cut_rows_notice, each_item, error_notice, image_notice, language_tag, link, reference_line};
use crate::{Error, Options, Result};

/// A4 in twentieths of a point, with 2.5 cm margins.
const PAGE_W: u32 = 11_906;
const PAGE_H: u32 = 16_838;
const MARGIN: i32 = 1_418;
const TEXT_W: u32 = PAGE_W - 2 * MARGIN as u32;
/// EMU per twip, and per pixel at 96 dpi.
const EMU_PER_TWIP: f64 = 635.0;
const EMU_PER_PX: f64 = 9_525.0;
/// Images are at most this tall (two thirds of the text height), so a caption fits beside.
const MAX_IMAGE_H_EMU: f64 = 6_000_000.0;

/// Our abstract numberings; docx-rs already defines abstract numbering and numbering 1.
const BULLETS: usize = 10;
const NUMBERS: usize = 11;
/// Word has nine list levels; deeper items stay at the last.
const LIST_LEVELS: usize = 9;

pub(crate) fn render(document: &Document, options: &Options) -> Result<Vec<u8>> {
    let mut docx = Docx::new()
        .page_size(PAGE_W, PAGE_H)
        .page_margin(PageMargin::new().top(MARGIN).bottom(MARGIN).left(MARGIN).right(MARGIN).header(708).footer(708))
        .default_fonts(RunFonts::new().ascii("Calibri").hi_ansi("Calibri").cs("Calibri").east_asia("Noto Sans CJK SC"))
        .default_size(22)
        .footer(
            Footer::new().add_paragraph(Paragraph::new().align(AlignmentType::Center).add_page_num(PageNum::new())),
        );
    for style in styles() {
        docx = docx.add_style(style);
    }
    docx =
        docx.add_abstract_numbering(abstract_list(BULLETS, false)).add_abstract_numbering(abstract_list(NUMBERS, true));
    let mut writer = Writer { docx: Some(docx), next_numbering: 10, pictures: Pictures::new(options), options };
    if let Some(title) = &document.title {
        writer.push(Paragraph::new().style("Title").add_run(text_run(title)));
    }
    for section in &document.sections {
        if let Some(title) = &section.title {
            writer.push(heading(1, title));
        }
        for element in &section.elements {
            writer.element(element);
        }
    }
    let mut packed = Cursor::new(Vec::new());
    let docx = writer.docx.take().ok_or_else(|| Error::failed("DOCX", "no document"))?;
    docx.build().pack(&mut packed).map_err(|e| Error::failed("DOCX", e))?;
    finish(&packed.into_inner(), document).map_err(|e| Error::failed("DOCX", e))
}

struct Writer<'o> {
    /// Taken and put back by each builder call (docx-rs builds by value).
    docx: Option<Docx>,
    next_numbering: usize,
    pictures: Pictures<'o>,
    options: &'o Options,
}

impl Writer<'_> {
    fn with(&mut self, f: impl FnOnce(Docx) -> Docx) {
        self.docx = self.docx.take().map(f);
    }

    fn push(&mut self, paragraph: Paragraph) {
        self.with(|docx| docx.add_paragraph(paragraph));
    }

    fn element(&mut self, element: &Element) {
        match element {
            Element::Heading { level, text } => self.push(heading(heading_level(*level), text)),
            Element::Paragraph { runs } => self.push(runs_paragraph(Paragraph::new(), runs)),
            Element::List(list) => self.list(list),
            Element::Table(table) => self.table(table),
            Element::Image(image) => match self.pictures.prepare(image) {
                Ok(picture) => {
                    let (w, h) = fit(
                        picture.width,
                        picture.height,
                        EMU_PER_PX,
                        f64::from(TEXT_W) * EMU_PER_TWIP,
                        MAX_IMAGE_H_EMU,
                    );
                    // docx-rs stores every image as `.png`; `finish` renames JPEGs. GIF is
                    // re-encoded, as Word's PNG part would otherwise hold GIF bytes.
                    let bytes = match picture.kind {
                        Kind::Png | Kind::Jpeg => picture.bytes,
                        Kind::Gif => to_png(&picture.bytes).unwrap_or_default(),
                    };
                    let pic = Pic::new_with_dimensions(bytes, picture.width, picture.height).size(w as u32, h as u32);
                    self.push(
                        Paragraph::new()
                            .align(AlignmentType::Center)
                            .keep_next(image.caption.is_some())
                            .add_run(DocxRun::new().add_image(pic)),
                    );
                    if let Some(caption) = &image.caption {
                        self.push(
                            Paragraph::new().style("Caption").align(AlignmentType::Center).add_run(text_run(caption)),
                        );
                    }
                }
                Err(reason) => self.push(notice(&image_notice(&reason, image.alt_text.as_deref()))),
            },
            Element::Reference { label, .. } => {
                self.push(Paragraph::new().add_run(text_run(&reference_line(label)).italic().color("57606A")));
            }
            Element::ExtractedText { content, source, .. } => {
                for line in clean(content).split('\n') {
                    self.push(Paragraph::new().style("Quote").add_run(text_run(line)));
                }
                if let Some(source) = source {
                    self.push(Paragraph::new().style("Quote").add_run(text_run(&format!("— {source}")).size(18)));
                }
            }
            Element::PageBreak => self.push(Paragraph::new().add_run(DocxRun::new().add_break(BreakType::Page))),
            Element::Error { message, .. } => self.push(notice(&format!("⚠ {}", error_notice(message)))),
        }
    }

    fn list(&mut self, list: &List) {
        let abstract_id = if list.ordered { NUMBERS } else { BULLETS };
        // A numbering instance per list, so each numbered list starts at 1.
        let id = self.next_numbering;
        self.next_numbering += 1;
        let mut numbering = Numbering::new(id, abstract_id);
        for level in 0..LIST_LEVELS {
            numbering = numbering.add_override(LevelOverride::new(level).start(1));
        }
        self.with(|docx| docx.add_numbering(numbering));
        let mut paragraphs = Vec::new();
        each_item(&list.items, 0, &mut |item, depth| {
            let level = depth.min(LIST_LEVELS - 1);
            paragraphs.push(
                runs_paragraph(Paragraph::new().style("ListParagraph"), &item.runs)
                    .numbering(NumberingId::new(id), IndentLevel::new(level)),
            );
        });
        for paragraph in paragraphs {
            self.push(paragraph);
        }
    }

    fn table(&mut self, table: &Table) {
        if table.columns.is_empty() {
            return;
        }
        if let Some(caption) = &table.caption {
            self.push(Paragraph::new().style("Caption").keep_next(true).add_run(text_run(caption)));
        }
        let widths = column_widths(table);
        let cell = |text: &str, width: usize, right: bool, header: bool| {
            let mut run = text_run(text).size(18);
            if header {
                run = run.bold();
            }
            let mut paragraph = Paragraph::new().line_spacing(LineSpacing::new().before(0).after(0)).add_run(run);
            if right {
                paragraph = paragraph.align(AlignmentType::Right);
            }
            let mut cell = TableCell::new().width(width, WidthType::Dxa).add_paragraph(paragraph);
            if header {
                cell = cell.shading(Shading::new().fill("E7ECF2"));
            }
            cell
        };
        let header = TableRow::new(
            table.columns.iter().zip(&widths).map(|(c, &w)| cell(&c.name, w, c.data_type.is_numeric(), true)).collect(),
        )
        .cant_split();
        let shown = table.rows.len().min(self.options.max_paged_rows);
        let mut rows = Vec::with_capacity(shown + 1);
        rows.push(header);
        for row in &table.rows[..shown] {
            rows.push(TableRow::new(
                table
                    .columns
                    .iter()
                    .zip(&widths)
                    .enumerate()
                    .map(|(i, (column, &w))| {
                        let value = row.get(i).unwrap_or(&Cell::Empty);
                        let right = column.data_type.is_numeric() && matches!(value, Cell::Number(_));
                        cell(&value.display(column.data_type), w, right, false)
                    })
                    .collect(),
            ));
        }
        let width = widths.iter().sum();
        self.with(|docx| docx.add_table(DocxTable::new(rows).set_grid(widths).width(width, WidthType::Dxa)));
        if shown < table.rows.len() {
            self.push(notice(&cut_rows_notice(shown, table.rows.len())));
        }
        // Word joins two tables that touch; a paragraph keeps them apart and gives air.
        self.push(Paragraph::new().line_spacing(LineSpacing::new().before(0).after(0)));
    }
}

fn styles() -> Vec<Style> {
    let mut styles = vec![
        Style::new("Title", StyleType::Paragraph)
            .name("Title")
            .size(52)
            .color("1F3864")
            .line_spacing(LineSpacing::new().after(240)),
        Style::new("Caption", StyleType::Paragraph)
            .name("caption")
            .italic()
            .size(18)
            .color("44546A")
            .line_spacing(LineSpacing::new().before(60).after(120)),
        Style::new("Quote", StyleType::Paragraph)
            .name("Quote")
            .italic()
            .color("404040")
            .indent(Some(720), None, Some(720), None)
            .line_spacing(LineSpacing::new().after(80)),
        Style::new("ListParagraph", StyleType::Paragraph)
            .name("List Paragraph")
            .line_spacing(LineSpacing::new().after(40)),
        Style::new("Hyperlink", StyleType::Character).name("Hyperlink").color("0563C1").underline("single"),
    ];
    for level in 1..=6u8 {
        let size = [32, 26, 24, 22, 22, 22][usize::from(level - 1)];
        let mut style = Style::new(format!("Heading{level}"), StyleType::Paragraph)
            .name(format!("heading {level}"))
            .bold()
            .size(size)
            .color("1F3864")
            .outline_lvl(usize::from(level - 1))
            .line_spacing(LineSpacing::new().before(if level == 1 { 360 } else { 240 }).after(120));
        if level >= 4 {
            style = style.italic();
        }
        styles.push(style);
    }
    styles
}

fn abstract_list(id: usize, ordered: bool) -> AbstractNumbering {
    let mut numbering = AbstractNumbering::new(id);
    for level in 0..LIST_LEVELS {
        let (format, text) = if ordered {
            let format = ["decimal", "lowerLetter", "lowerRoman"][level % 3];
            (format, format!("%{}.", level + 1))
        } else {
            ("bullet", ["•", "◦", "▪"][level % 3].to_owned())
        };
        let left = 720 * (level as i32 + 1);
        numbering = numbering.add_level(
            Level::new(level, Start::new(1), NumberFormat::new(format), LevelText::new(text), LevelJc::new("left"))
                .indent(Some(left), Some(SpecialIndentType::Hanging(360)), None, None),
        );
    }
    numbering
}

fn heading(level: u8, text: &str) -> Paragraph {
    Paragraph::new().style(&format!("Heading{level}")).keep_next(true).add_run(text_run(text))
}

fn notice(text: &str) -> Paragraph {
    Paragraph::new().add_run(text_run(text).bold().color("B42318").shading(Shading::new().fill("FFEBE9")))
}

/// A run of text, with line breaks as breaks and the characters XML forbids dropped.
fn text_run(text: &str) -> DocxRun {
    let text = clean(text);
    let mut run = DocxRun::new();
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            run = run.add_break(BreakType::TextWrapping);
        }
        run = run.add_text(line.trim_end_matches('\r'));
    }
    run
}

fn runs_paragraph(mut paragraph: Paragraph, runs: &[Run]) -> Paragraph {
    for run in runs {
        let mut out = text_run(&run.text);
        if run.bold {
            out = out.bold();
        }
        if run.italic {
            out = out.italic();
        }
        if run.code {
            out =
                out.fonts(RunFonts::new().ascii("Consolas").hi_ansi("Consolas")).shading(Shading::new().fill("F3F4F6"));
        }
        paragraph = match link(run) {
            Some(url) => {
                paragraph.add_hyperlink(Hyperlink::new(url, HyperlinkType::External).add_run(out.style("Hyperlink")))
            }
            None => paragraph.add_run(out),
        };
    }
    paragraph
}

/// Column widths in twips over the text width, by the length of each column's content (from a
/// sample of rows), no column under 8 % of the others' average.
fn column_widths(table: &Table) -> Vec<usize> {
    let weights: Vec<f64> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let longest = table
                .rows
                .iter()
                .take(200)
                .map(|row| row.get(i).map_or(0, |c| c.display(column.data_type).chars().count()))
                .chain([column.name.chars().count()])
                .max()
                .unwrap_or(1);
            (longest as f64).clamp(4.0, 40.0)
        })
        .collect();
    let total: f64 = weights.iter().sum();
    weights.iter().map(|w| (w / total * f64::from(TEXT_W)) as usize).collect()
}

fn to_png(bytes: &[u8]) -> Option<Vec<u8>> {
    let image = image::load_from_memory(bytes).ok()?;
    let mut out = Vec::new();
    image.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png).ok()?;
    Some(out)
}

/// The package docx-rs wrote, with our properties, repeating header rows, the language and
/// JPEG parts named as JPEGs.
fn finish(packed: &[u8], document: &Document) -> Result<Vec<u8>, String> {
    let mut archive = zip::ZipArchive::new(Cursor::new(packed)).map_err(|e| e.to_string())?;
    let language = language_tag(document.language.as_deref());
    // Which media parts hold JPEG bytes: renamed, and their relationships retargeted.
    let mut jpegs = Vec::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).map_err(|e| e.to_string())?;
        let name = file.name().map_err(|e| e.to_string())?.into_owned();
        if name.starts_with("word/media/") && name.ends_with(".png") {
            let mut head = [0u8; 3];
            if file.read_exact(&mut head).is_ok() && head == [0xFF, 0xD8, 0xFF] {
                jpegs.push(name);
            }
        }
    }
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::with_capacity(packed.len() + 1024)));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for i in 0..archive.len() {
        let file = archive.by_index_raw(i).map_err(|e| e.to_string())?;
        let name = file.name().map_err(|e| e.to_string())?.into_owned();
        let patch: Option<Box<dyn Fn(String) -> String>> = match name.as_str() {
            "docProps/core.xml" => Some(Box::new(|_| core_xml(document, language.as_deref()))),
            "word/document.xml" => Some(Box::new(|xml: String| {
                xml.replace("<w:cantSplit />", "<w:cantSplit /><w:tblHeader />")
                    .replace("<w:cantSplit/>", "<w:cantSplit/><w:tblHeader/>")
            })),
            "word/styles.xml" => {
                let lang = language
                    .as_ref()
                    .map(|lang| format!("<w:lang w:val=\"{lang}\" w:eastAsia=\"{lang}\" w:bidi=\"{lang}\" />"));
                Some(Box::new(move |xml: String| {
                    // Normal must be the default paragraph style, or readers find no style at all.
                    let mut xml = xml.replacen("w:styleId=\"Normal\"", "w:default=\"1\" w:styleId=\"Normal\"", 1);
                    if let (Some(lang), Some(at)) = (&lang, xml.find("<w:rPrDefault><w:rPr>")) {
                        xml.insert_str(at + "<w:rPrDefault><w:rPr>".len(), lang);
                    }
                    xml
                }) as Box<dyn Fn(String) -> String>)
            }
            "word/_rels/document.xml.rels" if !jpegs.is_empty() => {
                let jpegs = jpegs.clone();
                Some(Box::new(move |mut xml: String| {
                    for jpeg in &jpegs {
                        let target = jpeg.trim_start_matches("word/");
                        xml =
                            xml.replace(&format!("Target=\"{target}\""), &format!("Target=\"{}\"", jpeg_name(target)));
                    }
                    xml
                }))
            }
            _ => None,
        };
        if let Some(patch) = patch {
            drop(file);
            let mut xml = String::new();
            archive.by_index(i).map_err(|e| e.to_string())?.read_to_string(&mut xml).map_err(|e| e.to_string())?;
            out.start_file(name.as_str(), options).map_err(|e| e.to_string())?;
            out.write_all(patch(xml).as_bytes()).map_err(|e| e.to_string())?;
        } else if jpegs.contains(&name) {
            out.raw_copy_file_rename(file, jpeg_name(&name)).map_err(|e| e.to_string())?;
        } else {
            out.raw_copy_file(file).map_err(|e| e.to_string())?;
        }
    }
    Ok(out.finish().map_err(|e| e.to_string())?.into_inner())
}

fn jpeg_name(png_name: &str) -> String {
    format!("{}.jpeg", png_name.trim_end_matches(".png"))
}

/// `docProps/core.xml` with the document's properties.
fn core_xml(document: &Document, language: Option<&str>) -> String {
    let esc = |s: &str| quick_xml::escape::escape(clean(s).as_ref()).into_owned();
    let meta = &document.metadata;
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<cp:coreProperties \
         xmlns:cp=\"http://schemas.openxmlformats.org/package/2006/metadata/core-properties\" \
         xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:dcterms=\"http://purl.org/dc/terms/\" \
         xmlns:dcmitype=\"http://purl.org/dc/dcmitype/\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">",
    );
    if let Some(title) = &document.title {
        xml.push_str(&format!("<dc:title>{}</dc:title>", esc(title)));
    }
    if let Some(subject) = &meta.subject {
        xml.push_str(&format!("<dc:subject>{}</dc:subject>", esc(subject)));
    }
    xml.push_str(&format!("<dc:creator>{}</dc:creator>", esc(meta.author.as_deref().unwrap_or("docwright"))));
    if !meta.keywords.is_empty() {
        xml.push_str(&format!("<cp:keywords>{}</cp:keywords>", esc(&meta.keywords.join(", "))));
    }
    if let Some(description) = &meta.description {
        xml.push_str(&format!("<dc:description>{}</dc:description>", esc(description)));
    }
    xml.push_str("<cp:lastModifiedBy>docwright</cp:lastModifiedBy>");
    if let Some(language) = language {
        xml.push_str(&format!("<dc:language>{language}</dc:language>"));
    }
    xml.push_str("</cp:coreProperties>");
    xml
}
