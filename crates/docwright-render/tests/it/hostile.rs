//! Hostile and odd input never panics and never writes a broken file: every format renders it
//! and the result opens again (read back by docwright-extract), within the limits of `Options`.

use docwright_render::model::{
    Cell, Column, DataType, Decimal, Document, Element, Image, List, ListItem, Section, Table,
};
use docwright_render::{Error, Format, Options, render};

use crate::fixtures::{image_element, one, png};
use crate::roundtrip::extracted;

/// Renders `doc` in every format and reads each file back; returns what was read per format.
fn renders_everywhere(doc: &Document, options: &Options) -> Vec<(Format, String)> {
    let mut out = Vec::new();
    for format in Format::ALL {
        match render(doc, format, options) {
            Ok(files) => {
                for file in files {
                    out.push((format, extracted(format, &file.bytes)));
                }
            }
            Err(Error::NoTable) if format == Format::Csv => {}
            Err(e) => panic!("{format:?}: {e}"),
        }
    }
    out
}

#[test]
fn empty_documents_render() {
    renders_everywhere(&Document::default(), &Options::default());
    let empty_section = Document { sections: vec![Section::default()], ..Document::default() };
    renders_everywhere(&empty_section, &Options::default());
    let empty_table = one(Element::Table(Table::default()));
    renders_everywhere(&empty_table, &Options::default());
}

#[test]
fn odd_text_renders_and_reads_back() {
    let long_word = "Donaudampfschifffahrt".repeat(480); // ~10,000 characters, no space
    let texts = [
        "control\u{0}char\u{1}acters\u{b}that\u{1f}XML\u{fffe}forbids",
        "emoji 😀🎉👩‍👩‍👧 and flags 🇨🇭",
        "עברית: דוח הוצאות",
        "العربية: تقرير المصروفات",
    ];
    let mut elements: Vec<Element> = texts.iter().map(|t| Element::paragraph(*t)).collect();
    elements.push(Element::paragraph(long_word.clone()));
    elements.push(Element::heading(9, "Heading of level nine"));
    elements.push(Element::Heading { level: 0, text: "Heading of level zero".into() });
    let doc = Document {
        title: Some("Odd".into()),
        sections: vec![Section { elements, ..Section::default() }],
        ..Document::default()
    };
    for (format, text) in renders_everywhere(&doc, &Options::default()) {
        if format == Format::Csv {
            continue;
        }
        assert!(text.contains("controlcharactersthatXMLforbids"), "{format:?}: {text}");
        assert!(text.contains("Heading of level nine"), "{format:?}");
        // PDF readers may order right-to-left runs their own way; the word itself must be there.
        assert!(text.contains("עברית") || format == Format::Pdf, "{format:?}: {text}");
        // A PDF wraps the long word over lines, which a reader reads as spaces, and over pages,
        // with the page number between; PPTX continues it on further slides, a slide's worth
        // (800 characters) at a time. Within those the word must be whole.
        let joined: String = text.split_whitespace().collect();
        let whole = match format {
            Format::Pptx => 700,
            Format::Pdf => 3_000,
            _ => long_word.len(),
        };
        assert!(joined.contains(&long_word[..whole]), "{format:?}: the long word is cut");
    }
}

#[test]
fn images_that_are_not_images_become_notices() {
    let mut truncated = png(300, 200);
    truncated.truncate(truncated.len() / 3);
    let elements = vec![
        image_element(b"GIF89a but nothing else".to_vec()),
        image_element(truncated),
        image_element(Vec::new()),
        image_element(png(64, 64)),
    ];
    let doc = Document { sections: vec![Section { elements, ..Section::default() }], ..Document::default() };
    for (format, text) in renders_everywhere(&doc, &Options::default()) {
        if matches!(format, Format::Csv | Format::Json) {
            continue;
        }
        assert!(text.contains("Image not shown"), "{format:?}: {text}");
    }
    // Beyond the image limit: a notice, and the document still renders.
    let many = Document {
        sections: vec![Section { elements: (0..3).map(|_| image_element(png(8, 8))).collect(), ..Section::default() }],
        ..Document::default()
    };
    let options = Options { max_images: 2, ..Options::default() };
    let html = String::from_utf8(docwright_render::render_html(&many, &options).unwrap()).unwrap();
    assert_eq!(html.matches("<img").count(), 2);
    assert!(html.contains("more than 2 images"));
}

fn big_table(rows: usize) -> Table {
    Table {
        caption: Some("Big".into()),
        columns: vec![
            Column::new("n", DataType::Integer),
            Column::new("amount", DataType::Currency),
            Column::new("label", DataType::String),
        ],
        rows: (0..rows)
            .map(|i| {
                vec![
                    Cell::Number(Decimal::from_i64(i as i64)),
                    Cell::Number(Decimal::parse("9.99").unwrap()),
                    Cell::text(format!("row {i}")),
                ]
            })
            .collect(),
    }
}

#[test]
fn a_200000_row_table_renders_whole_in_sheets_and_cut_on_pages() {
    let doc = one(Element::Table(big_table(200_000)));
    let options = Options::default();
    let xlsx = docwright_render::render_xlsx(&doc, &options).unwrap();
    // Reading 200,000 rows back through extraction is slow in a debug build; the sheet's XML
    // must simply hold the last row, and the package must open.
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&xlsx)).unwrap();
    let mut sheet = String::new();
    std::io::Read::read_to_string(&mut archive.by_name("xl/worksheets/sheet1.xml").unwrap(), &mut sheet).unwrap();
    assert!(sheet.contains("row 199999") && sheet.contains("<autoFilter ref=\"A1:C200001\"/>"), "{}", &sheet[..500]);
    let csv = docwright_render::render_csv(&doc, &options).unwrap();
    let text = String::from_utf8(csv[0].bytes.clone()).unwrap();
    assert_eq!(text.lines().count(), 200_001);
    assert!(text.ends_with("199999,9.99,row 199999\n"));
    // Pages and slides hold the first rows and say so (a small page limit keeps the test quick).
    let paged = Options { max_paged_rows: 300, max_slide_rows: 40, ..Options::default() };
    for format in [Format::Pdf, Format::Docx, Format::Pptx] {
        let file = render(&doc, format, &paged).unwrap().remove(0);
        let text = extracted(format, &file.bytes);
        assert!(text.contains("the first"), "{format:?}: no cut notice");
        assert!(!text.contains("row 20000 "), "{format:?}");
    }
}

#[test]
fn limits_refuse_before_work() {
    let doc = one(Element::Table(big_table(11)));
    let options = Options { max_rows: 10, ..Options::default() };
    for format in Format::ALL {
        let err = render(&doc, format, &options).unwrap_err();
        assert!(matches!(err, Error::TooLarge { what: "rows in a table", limit: 10 }), "{format:?}: {err}");
        assert_eq!(err.code(), "too_large");
    }
    let options = Options { max_text_bytes: 100, ..Options::default() };
    let err = render(&one(Element::paragraph("x".repeat(101))), Format::Txt, &options).unwrap_err();
    assert!(matches!(err, Error::TooLarge { what: "bytes of text", .. }));
}

#[test]
fn deep_lists_and_many_elements_render() {
    let mut item = ListItem::new("deepest");
    for i in 0..60 {
        item = ListItem { items: vec![item], ..ListItem::new(format!("level {i}")) };
    }
    let doc = one(Element::List(List { ordered: true, items: vec![item] }));
    for (format, text) in renders_everywhere(&doc, &Options::default()) {
        if format != Format::Csv {
            assert!(text.contains("deepest"), "{format:?}: {text}");
        }
    }
}

#[test]
fn pdfs_render_from_several_threads_at_once() {
    let docs: Vec<Document> = (0..4).map(|i| one(Element::paragraph(format!("thread {i} writes this")))).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = docs
            .iter()
            .map(|doc| scope.spawn(move || docwright_render::render_pdf(doc, &Options::default()).unwrap()))
            .collect();
        for (i, handle) in handles.into_iter().enumerate() {
            let text = extracted(Format::Pdf, &handle.join().unwrap());
            assert!(text.contains(&format!("thread {i} writes this")));
        }
    });
}

#[test]
fn image_bytes_build_without_json() {
    // The workflow hands images over as bytes, without base64.
    let doc = one(Element::Image(Image {
        bytes: png(40, 30),
        mime_type: None,
        alt_text: None,
        caption: Some("From bytes".into()),
    }));
    let pptx = docwright_render::render_pptx(&doc, &Options::default()).unwrap();
    assert!(extracted(Format::Pptx, &pptx).contains("From bytes"));
}
