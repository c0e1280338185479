//! Office previews without LibreOffice (SPEC D3): the first page, slide or sheet of a DOCX,
//! PPTX, XLSX (or ODF, DOC, XLS, PPT) as its extraction read it — at most a page's worth of
//! parts, kept by `docwright_extract::FirstPage` — laid out as a document model and written as
//! PDF by `docwright-render`; `docwright-extract` rasterizes that PDF with its PDF thumbnail code.
//! It shows the document's words, headings, lists and tables, not its fonts, colours or
//! pictures: LibreOffice, when configured, stays the faithful picture, and this is what a
//! server without it shows instead of a generic icon.
//!
//! `docwright-extract` does not depend on `docwright-render`, so this function is handed to it
//! as an `OfficePreview`: by [`worker_main`] in the worker process and by the thread runner.

use docwright_extract::{Part, PartKind};
use docwright_render::model::{Cell, Column, DataType, Document, Element, List, ListItem, Section, Table};

/// The worker process's entry (`docwright extract-worker <job.json>`), office previews included.
pub fn worker_main(job_file: &std::path::Path) -> i32 {
    docwright_extract::worker::main(job_file, Some(office_pdf))
}

/// The first page's parts laid out and written as PDF (an `OfficePreview`).
pub fn office_pdf(parts: &[Part]) -> Result<Vec<u8>, String> {
    let document =
        Document { sections: vec![Section { elements: elements(parts), ..Section::default() }], ..Document::default() };
    // The parts are a page's worth already; these bounds only back that up.
    let options = docwright_render::Options {
        max_rows: 100,
        max_cells: 2_000,
        max_text_bytes: 1 << 20,
        max_images: 0,
        max_paged_rows: 100,
        ..docwright_render::Options::default()
    };
    let mut files =
        docwright_render::render(&document, docwright_render::Format::Pdf, &options).map_err(|e| e.to_string())?;
    files.pop().map(|file| file.bytes).ok_or_else(|| "no PDF was written".to_owned())
}

/// Headings as headings, list items as lists, tables as tables (their first row as the header),
/// any other text as paragraphs, one per line.
fn elements(parts: &[Part]) -> Vec<Element> {
    let mut out = Vec::new();
    let mut list: Option<List> = None;
    for part in parts {
        let label = part.label.as_deref();
        if label != Some("list_item")
            && let Some(done) = list.take()
        {
            out.push(Element::List(done));
        }
        match (part.kind, label, &part.rows) {
            (PartKind::Table, _, Some(rows)) => out.extend(table(rows)),
            (_, Some("title"), _) => out.push(Element::heading(1, part.text.trim())),
            (_, Some("heading"), _) => {
                out.push(Element::heading(part.level.unwrap_or(1).clamp(1, 6), part.text.trim()))
            }
            (_, Some("list_item"), _) => {
                list.get_or_insert_with(List::default).items.push(ListItem::new(part.text.trim()));
            }
            _ => out.extend(part.text.lines().map(str::trim).filter(|line| !line.is_empty()).map(Element::paragraph)),
        }
    }
    out.extend(list.map(Element::List));
    out
}

fn table(rows: &[Vec<String>]) -> Option<Element> {
    let (header, body) = rows.split_first()?;
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    if width == 0 {
        return None;
    }
    let columns =
        (0..width).map(|i| Column::new(header.get(i).map_or("", |name| name.trim()), DataType::String)).collect();
    let rows = body
        .iter()
        .map(|row| (0..width).map(|i| row.get(i).map_or(Cell::Empty, |cell| Cell::text(cell.trim()))).collect())
        .collect();
    Some(Element::Table(Table { caption: None, columns, rows }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use docwright_extract::Location;

    fn part(label: &str, text: &str) -> Part {
        Part::text(label, text, Location::default())
    }

    #[test]
    fn parts_become_headings_lists_paragraphs_and_tables() {
        let mut heading = part("heading", "Quarterly report");
        heading.level = Some(2);
        let mut sheet = part("table", "| a | b |");
        sheet.kind = PartKind::Table;
        sheet.rows = Some(vec![vec!["Name".into(), "Total".into()], vec!["Alice".into()]]);
        let parts =
            [heading, part("list_item", "one"), part("list_item", "two"), part("slide_text", "First\n\nSecond"), sheet];
        let got = elements(&parts);
        assert_eq!(got[0], Element::heading(2, "Quarterly report"));
        assert_eq!(
            got[1],
            Element::List(List { ordered: false, items: vec![ListItem::new("one"), ListItem::new("two")] })
        );
        assert_eq!(got[2..4], [Element::paragraph("First"), Element::paragraph("Second")]);
        let Element::Table(table) = &got[4] else { panic!("{:?}", got[4]) };
        assert_eq!(table.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["Name", "Total"]);
        assert_eq!(table.rows, vec![vec![Cell::text("Alice"), Cell::Empty]]);
    }

    /// Dark pixels (text, rules, the icons' bands) in these rows.
    fn ink(image: &image::RgbImage, rows: std::ops::Range<u32>) -> usize {
        rows.flat_map(|y| (0..image.width()).map(move |x| (x, y)))
            .map(|(x, y)| image.get_pixel(x, y).0.map(u32::from))
            .filter(|&[r, g, b]| r * 299 + g * 587 + b * 114 < 160_000)
            .count()
    }

    /// A DOCX, PPTX and XLSX preview with no office converter is a picture of the document's
    /// text: not the generic icon, ink at the top of the page where its few lines are and none
    /// in the middle of the page (where the icon has its band).
    #[test]
    fn office_previews_without_a_converter_show_the_text() {
        use docwright_extract::worker::{Job, ThumbJob};
        use docwright_render::Format;

        let dir = tempfile::tempdir().unwrap();
        // A title (a presentation's first slide shows it alone), a heading and a line.
        let text = Document {
            title: Some("Northern region report".to_owned()),
            sections: vec![Section {
                elements: vec![
                    Element::heading(1, "Quarterly figures of the northern region"),
                    Element::paragraph("Revenue grew by eleven percent while costs stayed flat."),
                ],
                ..Section::default()
            }],
            ..Document::default()
        };
        let sheet = Document {
            sections: vec![Section {
                elements: vec![Element::Table(Table {
                    caption: None,
                    columns: vec![Column::new("Region", DataType::String), Column::new("Revenue", DataType::String)],
                    rows: (1..=6).map(|i| vec![Cell::text(format!("North {i}")), Cell::text("1,250,000")]).collect(),
                })],
                ..Section::default()
            }],
            ..Document::default()
        };
        let (width, height) = (200, 280);
        for (format, document) in [(Format::Docx, &text), (Format::Pptx, &text), (Format::Xlsx, &sheet)] {
            let name = format!("preview.{}", format.extension());
            let bytes = docwright_render::render(document, format, &docwright_render::Options::default()).unwrap();
            let input = dir.path().join(&name);
            std::fs::write(&input, &bytes[0].bytes).unwrap();
            let out_dir = dir.path().join(format.extension());
            std::fs::create_dir(&out_dir).unwrap();
            let job = Job {
                input,
                mime: format.mime().to_owned(),
                file_name: name.clone(),
                out_dir,
                extract: true,
                thumbnail: Some(ThumbJob { width, height, converter: None }),
                timeout_ms: 60_000,
                max_memory_bytes: 0,
                max_pages: 100,
                max_inflated_bytes: 1 << 30,
                max_xml_depth: 256,
                max_parts: 10_000,
                max_text_chars: 1 << 20,
                max_image_pixels: 10_000_000,
                ocr: None,
            };
            let icon = docwright_extract::generic_icon(format.mime(), &name, width, height);
            let without = job.run(None).thumbnail.unwrap().unwrap();
            assert_eq!(without, icon, "{name}: without a preview function the icon stands in");
            let png = job.run(Some(office_pdf)).thumbnail.unwrap().unwrap();
            assert_ne!(png, icon, "{name}: the generic icon");
            let picture = image::load_from_memory(&png).unwrap().to_rgb8();
            assert_eq!(picture.dimensions(), (width, height), "{name}");
            let middle = height / 3..height * 2 / 3;
            let (top, below) = (ink(&picture, 0..height / 4), ink(&picture, middle.clone()));
            assert!(top >= 60, "{name}: {top} pixels of text at the top");
            assert_eq!(below, 0, "{name}: the middle of a short page is blank");
            let icon = image::load_from_memory(&icon).unwrap().to_rgb8();
            assert!(ink(&icon, middle) > 100, "{name}: the icon has its band there");
        }
    }

    #[test]
    fn the_preview_is_a_pdf() {
        let pdf = office_pdf(&[part("paragraph", "Hello")]).unwrap();
        assert!(pdf.starts_with(b"%PDF-"), "{:?}", &pdf[..16.min(pdf.len())]);
    }
}
