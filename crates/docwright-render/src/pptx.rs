//! PPTX written with `zip` and `quick-xml`'s escaping from our own minimal master and layouts
//! (`parts`): no mature crate writes PresentationML, and this way every part is ours to check.
//!
//! The document becomes slides (`plan`): a title slide; then for each section (and each heading
//! of level 1 or 2) title-and-content slides whose bullets come from paragraphs, lists, quotes,
//! references and notices; a slide per table (a long table continues on further slides with its
//! header repeated); and a slide per image, placed and scaled inside the content area with its
//! caption below. Text that would overflow a slide continues on the next one, titled
//! "(continued)". Every slide has speaker notes: the alt text and caption of its image, the
//! sources of its quotes, the rows a table slide shows.

mod parts;

use std::io::{Cursor, Write};

use quick_xml::escape::escape;

use crate::model::{Cell, Document, Element, Run, Table, heading_level};
use crate::picture::{Picture, Pictures, fit};
use crate::text::{clean, cut_rows_notice, each_item, error_notice, image_notice, link, reference_line};
use crate::{Error, Options, Result};
use parts::{BODY_BOX, TITLE_BOX};

/// Characters of a bullet line at the body's font size; a rough measure, used with the line
/// budget of [`Options::slide_lines`] and PowerPoint's own shrink-on-overflow as a backstop.
const LINE_CHARS: usize = 80;
/// Characters a table cell shows on a slide.
const CELL_CHARS: usize = 100;

/// One line of a content slide.
#[derive(Debug, Clone)]
struct Line {
    runs: Vec<Run>,
    level: usize,
    bullet: bool,
    color: Option<&'static str>,
}

#[derive(Debug)]
enum Slide {
    Title {
        title: String,
        subtitle: Option<String>,
    },
    Content {
        title: String,
        lines: Vec<Line>,
        notes: Vec<String>,
    },
    Table {
        title: String,
        columns: Vec<(String, bool)>,
        rows: Vec<Vec<String>>,
        note: Option<String>,
        notes: Vec<String>,
    },
    Picture {
        title: String,
        picture: Picture,
        alt: String,
        caption: Option<String>,
        notes: Vec<String>,
    },
}

pub(crate) fn render(document: &Document, options: &Options) -> Result<Vec<u8>> {
    let slides = plan(document, options);
    write(document, &slides).map_err(|e| Error::failed("PPTX", e))
}

// --- planning: elements to slides --------------------------------------------------------------

struct Planner<'o> {
    options: &'o Options,
    slides: Vec<Slide>,
    title: String,
    lines: Vec<Line>,
    /// Visual lines used on the current content slide.
    used: usize,
    notes: Vec<String>,
    continued: bool,
}

impl Planner<'_> {
    /// Closes the content slide being filled, if it has anything.
    fn flush(&mut self) {
        if self.lines.is_empty() {
            return;
        }
        let title = if self.continued { format!("{} (continued)", self.title) } else { self.title.clone() };
        self.slides.push(Slide::Content {
            title,
            lines: std::mem::take(&mut self.lines),
            notes: std::mem::take(&mut self.notes),
        });
        self.used = 0;
        self.continued = true;
    }

    fn new_title(&mut self, title: &str) {
        self.flush();
        self.title = clean(title).into_owned();
        self.continued = false;
    }

    /// Adds a line, splitting text longer than a slide and moving to a new slide when full.
    fn line(&mut self, line: Line) {
        let budget = self.options.slide_lines.max(1);
        let width = (LINE_CHARS - 8 * line.level.min(4)).max(20);
        let text: String = line.runs.iter().map(|r| r.text.as_str()).collect();
        let rows = text.chars().count().div_ceil(width).max(1);
        if rows > budget {
            // One slide's worth at a time, cut at spaces; styles give way to plain text here.
            for chunk in chunks(&text, budget * width) {
                self.line(Line { runs: vec![Run::plain(chunk)], ..line.clone() });
            }
            return;
        }
        if self.used + rows > budget {
            self.flush();
        }
        self.used += rows;
        self.lines.push(line);
    }

    fn text(&mut self, runs: Vec<Run>, level: usize, bullet: bool, color: Option<&'static str>) {
        self.line(Line { runs, level, bullet, color });
    }
}

fn plan(document: &Document, options: &Options) -> Vec<Slide> {
    let title = document.title.as_deref().map(|t| clean(t).into_owned()).unwrap_or_else(|| document.file_stem());
    let subtitle =
        document.metadata.subject.clone().or_else(|| document.metadata.author.clone()).map(|s| clean(&s).into_owned());
    let mut planner = Planner {
        options,
        slides: vec![Slide::Title { title: title.clone(), subtitle }],
        title,
        lines: Vec::new(),
        used: 0,
        notes: Vec::new(),
        continued: false,
    };
    let mut pictures = Pictures::new(options);
    for section in &document.sections {
        if let Some(title) = &section.title {
            planner.new_title(title);
        }
        for element in &section.elements {
            match element {
                Element::Heading { level, text } => {
                    if heading_level(*level) <= 2 {
                        planner.new_title(text);
                    } else {
                        planner.text(
                            vec![Run { text: clean(text).into_owned(), bold: true, ..Run::default() }],
                            0,
                            false,
                            None,
                        );
                    }
                }
                Element::Paragraph { runs } => planner.text(runs.clone(), 0, true, None),
                Element::List(list) => {
                    let mut numbers: Vec<usize> = Vec::new();
                    let mut lines = Vec::new();
                    each_item(&list.items, 0, &mut |item, depth| {
                        let level = depth.min(4);
                        numbers.resize(depth + 1, 0);
                        numbers[depth] += 1;
                        let mut runs = item.runs.clone();
                        if list.ordered {
                            runs.insert(0, Run::plain(format!("{}. ", numbers[depth])));
                        }
                        lines.push(Line { runs, level, bullet: !list.ordered, color: None });
                    });
                    for line in lines {
                        planner.line(line);
                    }
                }
                Element::Table(table) => {
                    planner.flush();
                    table_slides(&mut planner, table);
                }
                Element::Image(image) => match pictures.prepare(image) {
                    Ok(picture) => {
                        planner.flush();
                        let alt = clean(image.alt_text.as_deref().unwrap_or("")).into_owned();
                        let caption = image.caption.as_deref().map(|c| clean(c).into_owned());
                        let title = planner.title.clone();
                        let notes = [Some(alt.clone()).filter(|a| !a.is_empty()), caption.clone()]
                            .into_iter()
                            .flatten()
                            .collect();
                        planner.slides.push(Slide::Picture { title, picture, alt, caption, notes });
                        planner.continued = true;
                    }
                    Err(reason) => planner.text(
                        vec![Run::plain(image_notice(&reason, image.alt_text.as_deref()))],
                        0,
                        false,
                        Some("B42318"),
                    ),
                },
                Element::Reference { label, document_reference } => {
                    planner.text(
                        vec![Run { text: reference_line(label), italic: true, ..Run::default() }],
                        0,
                        true,
                        Some("57606A"),
                    );
                    planner.notes.push(format!("Reference: {} ({})", clean(label), clean(document_reference)));
                }
                Element::ExtractedText { content, source, .. } => {
                    planner.text(
                        vec![Run { text: format!("“{}”", clean(content).trim()), italic: true, ..Run::default() }],
                        0,
                        false,
                        None,
                    );
                    if let Some(source) = source {
                        planner.text(vec![Run::plain(format!("— {}", clean(source)))], 1, false, Some("57606A"));
                        planner.notes.push(format!("Source: {}", clean(source)));
                    }
                }
                Element::PageBreak => planner.flush(),
                Element::Error { message, .. } => {
                    planner.text(
                        vec![Run { text: format!("⚠ {}", error_notice(message)), bold: true, ..Run::default() }],
                        0,
                        false,
                        Some("B42318"),
                    );
                }
            }
        }
    }
    planner.flush();
    planner.slides
}

fn table_slides(planner: &mut Planner<'_>, table: &Table) {
    if table.columns.is_empty() {
        return;
    }
    let title = table.caption.as_deref().map(|c| clean(c).into_owned()).unwrap_or_else(|| planner.title.clone());
    let columns: Vec<(String, bool)> =
        table.columns.iter().map(|c| (shorten(&c.name), c.data_type.is_numeric())).collect();
    let shown = table.rows.len().min(planner.options.max_slide_rows);
    let per_slide = planner.options.slide_table_rows.max(1);
    let chunks = shown.div_ceil(per_slide).max(1);
    for chunk in 0..chunks {
        let (start, end) = (chunk * per_slide, ((chunk + 1) * per_slide).min(shown));
        let rows = table.rows[start..end]
            .iter()
            .map(|row| {
                table
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| shorten(&row.get(i).unwrap_or(&Cell::Empty).display(c.data_type)))
                    .collect()
            })
            .collect();
        let last = chunk + 1 == chunks;
        let note = (last && shown < table.rows.len()).then(|| cut_rows_notice(shown, table.rows.len()));
        let notes = vec![format!("Table \"{title}\": rows {}–{end} of {}.", start + 1, table.rows.len())];
        let title = if chunk > 0 { format!("{title} (continued)") } else { title.clone() };
        planner.slides.push(Slide::Table { title, columns: columns.clone(), rows, note, notes });
    }
    planner.continued = true;
}

fn shorten(text: &str) -> String {
    let text = clean(text).replace(['\n', '\r'], " ");
    if text.chars().count() > CELL_CHARS { text.chars().take(CELL_CHARS - 1).chain(['…']).collect() } else { text }
}

/// `text` in pieces of at most `max` characters, cut at a space where there is one.
fn chunks(text: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest: &str = text;
    while rest.chars().count() > max {
        let cut = rest.char_indices().nth(max).map_or(rest.len(), |(i, _)| i);
        let at = rest[..cut].rfind(' ').filter(|&i| i > cut / 2).unwrap_or(cut);
        out.push(rest[..at].trim().to_owned());
        rest = rest[at..].trim_start();
    }
    if !rest.is_empty() {
        out.push(rest.to_owned());
    }
    out
}

// --- writing the package -------------------------------------------------------------------

fn write(document: &Document, slides: &[Slide]) -> Result<Vec<u8>, String> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let put =
        |zip: &mut zip::ZipWriter<Cursor<Vec<u8>>>, name: &str, bytes: &[u8], compress: bool| -> Result<(), String> {
            zip.start_file(name, if compress { options } else { stored }).map_err(|e| e.to_string())?;
            zip.write_all(bytes).map_err(|e| e.to_string())
        };
    let n = slides.len();
    put(&mut zip, "[Content_Types].xml", parts::content_types(n).as_bytes(), true)?;
    put(&mut zip, "_rels/.rels", parts::root_rels().as_bytes(), true)?;
    put(&mut zip, "docProps/core.xml", core_xml(document).as_bytes(), true)?;
    put(&mut zip, "docProps/app.xml", parts::app_xml(n).as_bytes(), true)?;
    put(&mut zip, "ppt/presentation.xml", parts::presentation(n).as_bytes(), true)?;
    put(&mut zip, "ppt/_rels/presentation.xml.rels", parts::presentation_rels(n).as_bytes(), true)?;
    put(&mut zip, "ppt/presProps.xml", parts::pres_props().as_bytes(), true)?;
    put(&mut zip, "ppt/viewProps.xml", parts::view_props().as_bytes(), true)?;
    put(&mut zip, "ppt/tableStyles.xml", parts::table_styles().as_bytes(), true)?;
    put(&mut zip, "ppt/theme/theme1.xml", parts::theme("docwright").as_bytes(), true)?;
    put(&mut zip, "ppt/theme/theme2.xml", parts::theme("docwright notes").as_bytes(), true)?;
    put(&mut zip, "ppt/slideMasters/slideMaster1.xml", parts::slide_master().as_bytes(), true)?;
    put(&mut zip, "ppt/slideMasters/_rels/slideMaster1.xml.rels", parts::master_rels().as_bytes(), true)?;
    for layout in 1..=2 {
        put(
            &mut zip,
            &format!("ppt/slideLayouts/slideLayout{layout}.xml"),
            parts::slide_layout(layout).as_bytes(),
            true,
        )?;
        put(
            &mut zip,
            &format!("ppt/slideLayouts/_rels/slideLayout{layout}.xml.rels"),
            parts::layout_rels().as_bytes(),
            true,
        )?;
    }
    put(&mut zip, "ppt/notesMasters/notesMaster1.xml", parts::notes_master().as_bytes(), true)?;
    put(&mut zip, "ppt/notesMasters/_rels/notesMaster1.xml.rels", parts::notes_master_rels().as_bytes(), true)?;
    for (i, slide) in slides.iter().enumerate() {
        let number = i + 1;
        let mut rels: Vec<(String, &str, String)> = vec![
            ("rId1".into(), "slideLayout", format!("../slideLayouts/slideLayout{}.xml", if i == 0 { 1 } else { 2 })),
            ("rId2".into(), "notesSlide", format!("../notesSlides/notesSlide{number}.xml")),
        ];
        let mut links: Vec<String> = Vec::new();
        let (xml, notes) = slide_xml(slide, &mut links);
        if let Slide::Picture { picture, .. } = slide {
            let media = format!("ppt/media/image{number}.{}", picture.kind.extension());
            put(&mut zip, &media, &picture.bytes, false)?;
            rels.push(("rId3".into(), "image", format!("../media/image{number}.{}", picture.kind.extension())));
        }
        put(&mut zip, &format!("ppt/slides/slide{number}.xml"), xml.as_bytes(), true)?;
        let mut rels_xml = parts::rels(&rels.iter().map(|(a, b, c)| (a.as_str(), *b, c.as_str())).collect::<Vec<_>>());
        // Hyperlinks are external targets, which `rels` does not write.
        for (k, url) in links.iter().enumerate() {
            let rel = format!(
                "<Relationship Id=\"rIdL{k}\" Type=\"{}/hyperlink\" Target=\"{}\" TargetMode=\"External\"/></Relationships>",
                parts::REL,
                escape(url.as_str())
            );
            rels_xml = rels_xml.replacen("</Relationships>", &rel, 1);
        }
        put(&mut zip, &format!("ppt/slides/_rels/slide{number}.xml.rels"), rels_xml.as_bytes(), true)?;
        put(
            &mut zip,
            &format!("ppt/notesSlides/notesSlide{number}.xml"),
            parts::notes_slide(&paragraphs(&notes)).as_bytes(),
            true,
        )?;
        put(
            &mut zip,
            &format!("ppt/notesSlides/_rels/notesSlide{number}.xml.rels"),
            parts::notes_rels(number).as_bytes(),
            true,
        )?;
    }
    Ok(zip.finish().map_err(|e| e.to_string())?.into_inner())
}

fn core_xml(document: &Document) -> String {
    let esc = |s: &str| escape(clean(s).as_ref()).into_owned();
    let meta = &document.metadata;
    let mut xml = format!(
        "{}<cp:coreProperties xmlns:cp=\"http://schemas.openxmlformats.org/package/2006/metadata/core-properties\" \
xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:dcterms=\"http://purl.org/dc/terms/\" \
xmlns:dcmitype=\"http://purl.org/dc/dcmitype/\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">",
        parts::XML_HEAD
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
    if let Some(lang) = crate::text::language_tag(document.language.as_deref()) {
        xml.push_str(&format!("<dc:language>{lang}</dc:language>"));
    }
    xml.push_str("<cp:lastModifiedBy>docwright</cp:lastModifiedBy></cp:coreProperties>");
    xml
}

/// The slide's XML and its speaker notes; external links it uses are appended to `links`.
fn slide_xml(slide: &Slide, links: &mut Vec<String>) -> (String, Vec<String>) {
    let mut shapes = String::new();
    let notes = match slide {
        Slide::Title { title, subtitle } => {
            shapes.push_str(&text_shape(
                2,
                "Title 1",
                "<p:ph type=\"ctrTitle\"/>",
                None,
                &paragraph(&[Run::plain(title.clone())], None, links),
            ));
            if let Some(subtitle) = subtitle {
                shapes.push_str(&text_shape(
                    3,
                    "Subtitle 2",
                    "<p:ph type=\"subTitle\" idx=\"1\"/>",
                    None,
                    &paragraph(&[Run::plain(subtitle.clone())], None, links),
                ));
            }
            vec![title.clone()]
        }
        Slide::Content { title, lines, notes: n } => {
            shapes.push_str(&title_shape(title, links));
            let body: String = lines.iter().map(|line| line_xml(line, links)).collect();
            shapes.push_str(&text_shape(3, "Content 2", "<p:ph idx=\"1\"/>", None, &body));
            if n.is_empty() { vec![title.clone()] } else { n.clone() }
        }
        Slide::Table { title, columns, rows, note, notes: n } => {
            shapes.push_str(&title_shape(title, links));
            let (x, y, w, h) = BODY_BOX;
            let note_h = if note.is_some() { 457_200 } else { 0 };
            shapes.push_str(&table_xml(columns, rows, (x, y, w, h - note_h)));
            if let Some(note) = note {
                let box_ = Some((x, y + h - note_h, w, note_h));
                shapes.push_str(&text_shape(
                    5,
                    "Note",
                    "",
                    box_,
                    &paragraph(&[Run { text: note.clone(), italic: true, ..Run::default() }], Some("57606A"), links),
                ));
            }
            n.clone()
        }
        Slide::Picture { title, picture, alt, caption, notes: n } => {
            shapes.push_str(&title_shape(title, links));
            let (x, y, w, h) = BODY_BOX;
            let caption_h = if caption.is_some() { 457_200 } else { 0 };
            let (pw, ph) = fit(picture.width, picture.height, 9_525.0, w as f64, (h - caption_h) as f64);
            let (pw, ph) = (pw as i64, ph as i64);
            let (px, py) = (x + (w - pw) / 2, y + (h - caption_h - ph) / 2);
            shapes.push_str(&format!(
                "<p:pic><p:nvPicPr><p:cNvPr id=\"4\" name=\"Picture 3\" descr=\"{}\"/><p:cNvPicPr><a:picLocks noChangeAspect=\"1\"/></p:cNvPicPr><p:nvPr/></p:nvPicPr>\
<p:blipFill><a:blip r:embed=\"rId3\"/><a:stretch><a:fillRect/></a:stretch></p:blipFill>\
<p:spPr><a:xfrm><a:off x=\"{px}\" y=\"{py}\"/><a:ext cx=\"{pw}\" cy=\"{ph}\"/></a:xfrm><a:prstGeom prst=\"rect\"><a:avLst/></a:prstGeom></p:spPr></p:pic>",
                escape(alt.as_str())
            ));
            if let Some(caption) = caption {
                let box_ = Some((x, y + h - caption_h, w, caption_h));
                let p =
                    paragraph(&[Run { text: caption.clone(), italic: true, ..Run::default() }], Some("44546A"), links)
                        .replacen("<a:p>", "<a:p><a:pPr algn=\"ctr\"/>", 1);
                shapes.push_str(&text_shape(5, "Caption", "", box_, &p));
            }
            n.clone()
        }
    };
    let xml = format!(
        "{}<p:sld {}><p:cSld><p:spTree><p:nvGrpSpPr><p:cNvPr id=\"1\" name=\"\"/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr>\
<p:grpSpPr><a:xfrm><a:off x=\"0\" y=\"0\"/><a:ext cx=\"0\" cy=\"0\"/><a:chOff x=\"0\" y=\"0\"/><a:chExt cx=\"0\" cy=\"0\"/></a:xfrm></p:grpSpPr>\
{shapes}</p:spTree></p:cSld><p:clrMapOvr><a:masterClrMapping/></p:clrMapOvr></p:sld>",
        parts::XML_HEAD,
        parts::NS
    );
    (xml, notes)
}

fn title_shape(title: &str, links: &mut Vec<String>) -> String {
    text_shape(2, "Title 1", "<p:ph type=\"title\"/>", Some(TITLE_BOX), &paragraph(&[Run::plain(title)], None, links))
}

/// A text shape: a placeholder (`ph` non-empty, positioned by its layout unless `box_`) or a
/// free text box at `box_`.
fn text_shape(id: u32, name: &str, ph: &str, box_: Option<(i64, i64, i64, i64)>, body: &str) -> String {
    let xfrm = box_.map_or(String::new(), |(x, y, w, h)| {
        format!("<a:xfrm><a:off x=\"{x}\" y=\"{y}\"/><a:ext cx=\"{w}\" cy=\"{h}\"/></a:xfrm><a:prstGeom prst=\"rect\"><a:avLst/></a:prstGeom>")
    });
    let (nv, body_pr) = if ph.is_empty() {
        ("<p:cNvSpPr txBox=\"1\"/><p:nvPr/>".to_owned(), "<a:bodyPr wrap=\"square\"><a:normAutofit/></a:bodyPr>")
    } else {
        (
            format!("<p:cNvSpPr><a:spLocks noGrp=\"1\"/></p:cNvSpPr><p:nvPr>{ph}</p:nvPr>"),
            "<a:bodyPr><a:normAutofit/></a:bodyPr>",
        )
    };
    let body = if body.is_empty() { "<a:p><a:endParaRPr lang=\"en-US\"/></a:p>" } else { body };
    format!(
        "<p:sp><p:nvSpPr><p:cNvPr id=\"{id}\" name=\"{name}\"/>{nv}</p:nvSpPr><p:spPr>{xfrm}</p:spPr>\
<p:txBody>{body_pr}<a:lstStyle/>{body}</p:txBody></p:sp>"
    )
}

fn line_xml(line: &Line, links: &mut Vec<String>) -> String {
    let level = line.level.min(4);
    let ppr = if line.bullet {
        format!("<a:pPr lvl=\"{level}\"/>")
    } else {
        format!("<a:pPr lvl=\"{level}\" marL=\"{}\" indent=\"0\"><a:buNone/></a:pPr>", 457_200 * level)
    };
    paragraph(&line.runs, line.color, links).replacen("<a:p>", &format!("<a:p>{ppr}"), 1)
}

/// One `<a:p>` of runs; a line break in a run becomes `<a:br/>`.
fn paragraph(runs: &[Run], color: Option<&str>, links: &mut Vec<String>) -> String {
    let mut xml = String::from("<a:p>");
    for run in runs {
        let mut attrs = String::from(" lang=\"en-US\" dirty=\"0\"");
        if run.bold {
            attrs.push_str(" b=\"1\"");
        }
        if run.italic {
            attrs.push_str(" i=\"1\"");
        }
        let mut inner = String::new();
        if let Some(color) = color {
            inner.push_str(&format!("<a:solidFill><a:srgbClr val=\"{color}\"/></a:solidFill>"));
        }
        if run.code {
            inner.push_str("<a:latin typeface=\"Consolas\"/>");
        }
        if let Some(url) = link(run) {
            inner.push_str(&format!("<a:hlinkClick r:id=\"rIdL{}\"/>", links.len()));
            links.push(url.to_owned());
        }
        for (n, piece) in clean(&run.text).split('\n').enumerate() {
            if n > 0 {
                xml.push_str("<a:br/>");
            }
            xml.push_str(&format!(
                "<a:r><a:rPr{attrs}>{inner}</a:rPr><a:t>{}</a:t></a:r>",
                escape(piece.trim_end_matches('\r'))
            ));
        }
    }
    xml.push_str("<a:endParaRPr lang=\"en-US\" dirty=\"0\"/></a:p>");
    xml
}

fn paragraphs(lines: &[String]) -> String {
    let mut links = Vec::new();
    let xml: String = lines.iter().map(|l| paragraph(&[Run::plain(l.clone())], None, &mut links)).collect();
    if xml.is_empty() { "<a:p><a:endParaRPr lang=\"en-US\"/></a:p>".to_owned() } else { xml }
}

fn table_xml(columns: &[(String, bool)], rows: &[Vec<String>], (x, y, w, h): (i64, i64, i64, i64)) -> String {
    let count = columns.len().max(1) as i64;
    let weights: Vec<i64> = columns
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .chain([name.chars().count()])
                .max()
                .unwrap_or(1)
                .clamp(4, 40) as i64
        })
        .collect();
    let total: i64 = weights.iter().sum::<i64>().max(1);
    let mut widths: Vec<i64> = weights.iter().map(|wt| w * wt / total).collect();
    let slack = w - widths.iter().sum::<i64>();
    if let Some(last) = widths.last_mut() {
        *last += slack;
    }
    let size = if count > 6 { 1200 } else { 1400 };
    let row_h = (h / (rows.len() as i64 + 1)).min(420_000);
    let cell = |text: &str, right: bool, header: bool| {
        let algn = if right { " algn=\"r\"" } else { "" };
        let b = if header { " b=\"1\"" } else { "" };
        let fill = if header { "<a:solidFill><a:srgbClr val=\"E7ECF2\"/></a:solidFill>" } else { "<a:noFill/>" };
        format!(
            "<a:tc><a:txBody><a:bodyPr/><a:lstStyle/><a:p><a:pPr{algn}/><a:r><a:rPr lang=\"en-US\" sz=\"{size}\"{b} dirty=\"0\"/><a:t>{}</a:t></a:r></a:p></a:txBody>\
<a:tcPr marL=\"68580\" marR=\"68580\" marT=\"34290\" marB=\"34290\">\
<a:lnL w=\"6350\"><a:solidFill><a:srgbClr val=\"C8CCD2\"/></a:solidFill></a:lnL><a:lnR w=\"6350\"><a:solidFill><a:srgbClr val=\"C8CCD2\"/></a:solidFill></a:lnR>\
<a:lnT w=\"6350\"><a:solidFill><a:srgbClr val=\"C8CCD2\"/></a:solidFill></a:lnT><a:lnB w=\"6350\"><a:solidFill><a:srgbClr val=\"C8CCD2\"/></a:solidFill></a:lnB>{fill}</a:tcPr></a:tc>",
            escape(text)
        )
    };
    let mut xml = format!(
        "<p:graphicFrame><p:nvGraphicFramePr><p:cNvPr id=\"4\" name=\"Table 3\"/><p:cNvGraphicFramePr><a:graphicFrameLocks noGrp=\"1\"/></p:cNvGraphicFramePr><p:nvPr/></p:nvGraphicFramePr>\
<p:xfrm><a:off x=\"{x}\" y=\"{y}\"/><a:ext cx=\"{w}\" cy=\"{}\"/></p:xfrm><a:graphic><a:graphicData uri=\"http://schemas.openxmlformats.org/drawingml/2006/table\">\
<a:tbl><a:tblPr firstRow=\"1\" bandRow=\"1\"/><a:tblGrid>",
        row_h * (rows.len() as i64 + 1)
    );
    for width in &widths {
        xml.push_str(&format!("<a:gridCol w=\"{width}\"/>"));
    }
    xml.push_str("</a:tblGrid>");
    xml.push_str(&format!("<a:tr h=\"{row_h}\">"));
    for (name, right) in columns {
        xml.push_str(&cell(name, *right, true));
    }
    xml.push_str("</a:tr>");
    for row in rows {
        xml.push_str(&format!("<a:tr h=\"{row_h}\">"));
        for (i, (_, right)) in columns.iter().enumerate() {
            xml.push_str(&cell(row.get(i).map_or("", String::as_str), *right, false));
        }
        xml.push_str("</a:tr>");
    }
    xml.push_str("</a:tbl></a:graphicData></a:graphic></p:graphicFrame>");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_at_spaces() {
        let text = "word ".repeat(100);
        let pieces = chunks(text.trim(), 120);
        assert!(pieces.iter().all(|p| p.chars().count() <= 120 && !p.starts_with(' ')));
        assert_eq!(pieces.join(" "), text.trim());
        assert_eq!(chunks(&"x".repeat(250), 100).len(), 3);
    }
}
