//! Extraction of office, spreadsheet, text, HTML and e-mail files into content parts, and the
//! bounds on hostile ones. Every fixture is built here, in code.

#![allow(clippy::unwrap_used)] // Fixture helpers outside `#[test]` functions: a failure is the test failing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use docwright_extract::{ExtractError, Extraction, Limits, Options, Part, PartKind, extract};
use office_oxide::DocumentFormat;
use serde_json::{Value, json};

const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
const PPTX: &str = "application/vnd.openxmlformats-officedocument.presentationml.presentation";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const ODS: &str = "application/vnd.oasis.opendocument.spreadsheet";

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn run(path: &Path, mime: &str, name: &str) -> Extraction {
    extract(path, mime, name, &Options::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn fail(path: &Path, mime: &str, name: &str, limits: Limits) -> ExtractError {
    match extract(path, mime, name, &Options { limits, ..Options::default() }) {
        Ok(x) => panic!("{name}: expected an error, got {} parts", x.parts.len()),
        Err(e) => e,
    }
}

fn labelled<'a>(x: &'a Extraction, label: &str) -> Vec<&'a Part> {
    x.parts.iter().filter(|p| p.label.as_deref() == Some(label)).collect()
}

fn texts(x: &Extraction, label: &str) -> Vec<String> {
    labelled(x, label).iter().map(|p| p.text.clone()).collect()
}

fn para(text: &str) -> Value {
    json!({"type": "paragraph", "content": [{"type": "text", "text": text}]})
}

fn cell(text: &str) -> Value {
    json!({"content": [para(text)], "col_span": 1, "row_span": 1})
}

fn table(rows: &[&[&str]]) -> Value {
    let rows: Vec<Value> =
        rows.iter().map(|r| json!({"cells": r.iter().map(|c| cell(c)).collect::<Vec<_>>()})).collect();
    json!({"type": "table", "rows": rows})
}

fn png() -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_pixel(2, 2, image::Rgb([200, 10, 10])).write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn image_element() -> Value {
    json!({"type": "image", "data": png(), "format": "png", "pixel_width": 2, "pixel_height": 2})
}

/// A file office_oxide writes from its IR.
fn office_file(dir: &tempfile::TempDir, name: &str, format: DocumentFormat, ir: Value) -> PathBuf {
    let ir: office_oxide::DocumentIR = serde_json::from_value(ir).unwrap();
    let path = dir.path().join(name);
    office_oxide::create::create_from_ir(&ir, format, &path).unwrap();
    path
}

/// A zip of (name, content) entries, deflated.
fn zip_file(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in entries {
        zip.start_file(*name, options).unwrap();
        zip.write_all(content).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

#[test]
fn docx_headings_lists_tables_headers_and_images() {
    let dir = tempfile::tempdir().unwrap();
    let ir = json!({
        "metadata": {"format": "docx"},
        "sections": [{
            "elements": [
                {"type": "heading", "level": 1, "content": [{"type": "text", "text": "Annual report"}]},
                para("The year in review."),
                {"type": "heading", "level": 2, "content": [{"type": "text", "text": "Figures"}]},
                {"type": "list", "items": [
                    {"content": [para("First point")], "nested": {"items": [{"content": [para("Detail")]}]}},
                    {"content": [para("Second point")]}
                ]},
                table(&[&["Year", "Revenue"], &["2024", "1200"]]),
                image_element(),
            ],
            "header": {"content": [para("ACME confidential")]},
            "footer": {"content": [para("Page footer")]},
        }]
    });
    let path = office_file(&dir, "report.docx", DocumentFormat::Docx, ir);
    let x = run(&path, DOCX, "report.docx");
    let headings = labelled(&x, "heading");
    assert_eq!(
        headings.iter().map(|p| (p.text.as_str(), p.level)).collect::<Vec<_>>(),
        [("Annual report", Some(1)), ("Figures", Some(2))]
    );
    assert!(texts(&x, "paragraph").contains(&"The year in review.".to_owned()), "{:#?}", x.parts);
    let items: Vec<(String, Option<u8>)> =
        labelled(&x, "list_item").iter().map(|p| (p.text.clone(), p.level)).collect();
    assert_eq!(
        items,
        [("First point".to_owned(), Some(1)), ("Detail".to_owned(), Some(2)), ("Second point".to_owned(), Some(1))]
    );
    let tables = labelled(&x, "table");
    assert_eq!(tables.len(), 1);
    assert_eq!(tables[0].kind, PartKind::Table);
    assert_eq!(tables[0].rows.as_ref().unwrap()[1], ["2024", "1200"]);
    assert_eq!(texts(&x, "header"), ["ACME confidential"]);
    assert_eq!(texts(&x, "footer"), ["Page footer"]);
    let images = labelled(&x, "image");
    assert_eq!(images.len(), 1, "{:#?}", x.parts);
    assert_eq!(images[0].mime_type, "image/png");
    assert_eq!(images[0].data.as_deref(), Some(png().as_slice()));
}

#[test]
fn pptx_slides_with_titles_text_tables_and_notes() {
    let dir = tempfile::tempdir().unwrap();
    let slide = |title: &str, body: Vec<Value>, notes: &str| json!({"title": title, "elements": body, "speaker_notes": [para(notes)]});
    let ir = json!({
        "metadata": {"format": "pptx"},
        "sections": [
            slide("Welcome", vec![para("Hello audience")], "Smile first"),
            slide("Numbers", vec![table(&[&["Q", "Sales"], &["Q1", "10"]]), image_element()], "Pause here"),
        ]
    });
    let path = office_file(&dir, "deck.pptx", DocumentFormat::Pptx, ir);
    let x = run(&path, PPTX, "deck.pptx");
    assert_eq!(x.units, Some(2));
    let by_slide =
        |label: &str| labelled(&x, label).iter().map(|p| (p.location.slide, p.text.clone())).collect::<Vec<_>>();
    assert_eq!(by_slide("title"), [(Some(1), "Welcome".to_owned()), (Some(2), "Numbers".to_owned())]);
    assert_eq!(by_slide("slide_text"), [(Some(1), "Hello audience".to_owned())]);
    assert_eq!(by_slide("notes"), [(Some(1), "Smile first".to_owned()), (Some(2), "Pause here".to_owned())]);
    let tables = labelled(&x, "table");
    assert_eq!(tables.len(), 1);
    assert_eq!(tables[0].location.slide, Some(2));
    assert_eq!(tables[0].rows.as_ref().unwrap()[1], ["Q1", "10"]);
    let images = labelled(&x, "image");
    assert_eq!(images.len(), 1, "{:#?}", x.parts);
    assert_eq!(images[0].location.slide, Some(2));
}

#[test]
fn xlsx_two_sheets_two_tables() {
    let dir = tempfile::tempdir().unwrap();
    let ir = json!({
        "metadata": {"format": "xlsx"},
        "sections": [
            {"title": "Budget", "elements": [table(&[&["Item", "Cost"], &["Rent", "1200"]])]},
            {"title": "People", "elements": [table(&[&["Name"], &["Ada"], &["Grace"]])]},
        ]
    });
    let path = office_file(&dir, "book.xlsx", DocumentFormat::Xlsx, ir);
    let x = run(&path, XLSX, "book.xlsx");
    assert_eq!(x.units, Some(2));
    let tables = labelled(&x, "table");
    assert_eq!(tables.len(), 2, "{:#?}", x.parts);
    assert_eq!(tables[0].location.sheet.as_deref(), Some("Budget"));
    assert_eq!(tables[0].rows.as_ref().unwrap(), &[vec!["Item", "Cost"], vec!["Rent", "1200"]]);
    assert_eq!((tables[0].location.row_start, tables[0].location.row_end), (Some(1), Some(2)));
    assert_eq!(tables[1].location.sheet.as_deref(), Some("People"));
    assert_eq!(tables[1].rows.as_ref().unwrap().len(), 3);
    // More sheets than allowed.
    let limits = Limits { max_pages: 1, ..Limits::default() };
    assert_eq!(fail(&path, XLSX, "book.xlsx", limits).code(), "too_many_pages");
}

/// A workbook written by hand, as Excel for Mac used to save it: dates counted from 1904.
fn xlsx_1904(date_serial: &str) -> Vec<u8> {
    let types = br#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>"#;
    let rels = br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
    let workbook = br#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><workbookPr date1904="1"/><sheets><sheet name="Dates" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
    let workbook_rels = br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>"#;
    let styles = br#"<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm"/></numFmts><cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="164" applyNumberFormat="1"/></cellXfs></styleSheet>"#;
    let sheet = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Signed</t></is></c></row><row r="2"><c r="A2" s="1"><v>{date_serial}</v></c></row></sheetData></worksheet>"#
    );
    zip_file(&[
        ("[Content_Types].xml", types),
        ("_rels/.rels", rels),
        ("xl/workbook.xml", workbook),
        ("xl/_rels/workbook.xml.rels", workbook_rels),
        ("xl/styles.xml", styles),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
    ])
}

/// A one-sheet workbook whose sheet XML is `cells` (the `<row>` elements).
fn xlsx_with_rows(cells: &str) -> Vec<u8> {
    let sheet = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{cells}</sheetData></worksheet>"#
    );
    let book = xlsx_1904("1");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(book)).unwrap();
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry.name().unwrap().to_string();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        entries.push((name.clone(), if name.ends_with("sheet1.xml") { sheet.clone().into_bytes() } else { bytes }));
    }
    let refs: Vec<(&str, &[u8])> = entries.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    zip_file(&refs)
}

#[test]
fn xlsx_cells_far_apart_are_two_cells_not_their_span() {
    let dir = tempfile::tempdir().unwrap();
    let rows = r#"<row r="1"><c r="A1" t="inlineStr"><is><t>top left</t></is></c></row><row r="1000000"><c r="XFD1000000" t="inlineStr"><is><t>far corner</t></is></c></row>"#;
    let path = write(&dir, "sparse.xlsx", &xlsx_with_rows(rows));
    let x = run(&path, XLSX, "sparse.xlsx");
    let tables = labelled(&x, "table");
    let text: String = tables.iter().map(|t| t.text.as_str()).collect();
    assert!(text.contains("top left") && text.contains("far corner"), "{text:.200}");
    assert_eq!(tables.last().unwrap().location.row_end, Some(1_000_000));
}

#[test]
fn sheets_of_long_rows_are_cut_by_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let long = "x".repeat(2000);
    let mut csv = String::from("id,text\n");
    for i in 1..=1200 {
        csv.push_str(&format!("{i},{long}\n"));
    }
    let path = write(&dir, "long.csv", csv.as_bytes());
    let x = run(&path, "text/csv", "long.csv");
    let tables = labelled(&x, "table");
    assert!(tables.len() >= 3, "{} parts", tables.len());
    for t in &tables {
        assert!(t.text.len() <= (1 << 20) + 8192, "a part of {} bytes", t.text.len());
        assert_eq!(t.rows.as_ref().unwrap()[0], ["id", "text"]);
    }
    let rows: usize = tables.iter().map(|t| t.rows.as_ref().unwrap().len()).sum();
    assert_eq!(rows, 1201 + tables.len() - 1, "every row once, the header repeated in the later parts");
}

#[test]
fn xlsx_dates_in_the_1904_system_read_as_excel_shows_them() {
    let dir = tempfile::tempdir().unwrap();
    // 2023-03-15 12:00 is serial 45,000.5 in the 1900 system and 1,462 days less in 1904's.
    let path = write(&dir, "mac.xlsx", &xlsx_1904("43538.5"));
    let x = run(&path, XLSX, "mac.xlsx");
    let tables = labelled(&x, "table");
    assert_eq!(tables[0].rows.as_ref().unwrap(), &[vec!["Signed"], vec!["2023-03-15 12:00"]], "{:#?}", x.parts);
}

const ODS_CONTENT: &str = r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="Prices"><table:table-row><table:table-cell office:value-type="string"><text:p>Fruit</text:p></table:table-cell><table:table-cell office:value-type="string"><text:p>Price</text:p></table:table-cell></table:table-row><table:table-row><table:table-cell office:value-type="string"><text:p>Apple</text:p></table:table-cell><table:table-cell office:value-type="float" office:value="2"><text:p>2</text:p></table:table-cell></table:table-row><table:table-row><table:table-cell office:value-type="string"><text:p>Pear</text:p></table:table-cell><table:table-cell office:value-type="float" office:value="0.5"><text:p>0.5</text:p></table:table-cell></table:table-row></table:table></office:spreadsheet></office:body></office:document-content>"#;

const ODS_MANIFEST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">
 <manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>
 <manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>
</manifest:manifest>"#;

#[test]
fn ods_sheet_is_a_table() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = zip_file(&[
        ("mimetype", b"application/vnd.oasis.opendocument.spreadsheet"),
        ("META-INF/manifest.xml", ODS_MANIFEST.as_bytes()),
        ("content.xml", ODS_CONTENT.as_bytes()),
    ]);
    let path = write(&dir, "prices.ods", &bytes);
    let x = run(&path, ODS, "prices.ods");
    assert_eq!(x.units, Some(1));
    let tables = labelled(&x, "table");
    assert_eq!(tables.len(), 1, "{:#?}", x.parts);
    assert_eq!(tables[0].location.sheet.as_deref(), Some("Prices"));
    assert_eq!(tables[0].rows.as_ref().unwrap(), &[vec!["Fruit", "Price"], vec!["Apple", "2"], vec!["Pear", "0.5"]]);
}

/// One BIFF record: type, length, data.
fn biff(typ: u16, data: &[u8]) -> Vec<u8> {
    let mut out = typ.to_le_bytes().to_vec();
    out.extend_from_slice(&u16::try_from(data.len()).unwrap().to_le_bytes());
    out.extend_from_slice(data);
    out
}

/// A BOF record of BIFF8 for a substream of type `dt` (5 globals, 0x10 a worksheet).
fn biff_bof(dt: u16) -> Vec<u8> {
    let mut data = 0x0600u16.to_le_bytes().to_vec();
    data.extend_from_slice(&dt.to_le_bytes());
    data.extend_from_slice(&[0xBB, 0x0D, 0xCC, 0x07, 0, 0, 0, 0, 0x06, 0, 0, 0]);
    biff(0x0809, &data)
}

/// A BIFF8 string: compressed (one byte a character) when every character is Latin-1, else
/// UTF-16LE with the high-byte flag; `cch` as one byte (`short`) or two.
fn biff_string(text: &str, short: bool) -> Vec<u8> {
    let units: Vec<u16> = text.encode_utf16().collect();
    let mut out =
        if short { vec![u8::try_from(units.len()).unwrap()] } else { (units.len() as u16).to_le_bytes().to_vec() };
    if units.iter().all(|u| *u < 0x100) {
        out.push(0);
        out.extend(units.iter().map(|u| *u as u8));
    } else {
        out.push(1);
        out.extend(units.iter().flat_map(|u| u.to_le_bytes()));
    }
    out
}

/// A cell record's row, column and format index (none: general).
fn biff_cell(row: u16, col: u16) -> Vec<u8> {
    [row.to_le_bytes(), col.to_le_bytes(), 0u16.to_le_bytes()].concat()
}

/// An Excel 97–2003 workbook written record by record ([MS-XLS]) inside a compound file
/// ([MS-CFB]): sheet "Budget" with a header row of shared strings, a NUMBER and an RK value,
/// and sheet "Städte" with a UTF-16 string, so both string forms and both number forms read.
fn xls_workbook() -> Vec<u8> {
    let strings = ["Item", "Cost", "Rent", "Stadt", "Москва"];
    let mut sst = (strings.len() as u32).to_le_bytes().to_vec();
    sst.extend_from_slice(&(strings.len() as u32).to_le_bytes());
    for s in strings {
        sst.extend(biff_string(s, false));
    }
    let label =
        |row: u16, col: u16, index: u32| biff(0x00FD, &[biff_cell(row, col), index.to_le_bytes().to_vec()].concat());
    let sheets: [(&str, Vec<u8>); 2] = [
        ("Budget", {
            let mut sheet = biff_bof(0x10);
            sheet.extend(label(0, 0, 0));
            sheet.extend(label(0, 1, 1));
            sheet.extend(label(1, 0, 2));
            sheet.extend(biff(0x0203, &[biff_cell(1, 1), 1200.5f64.to_le_bytes().to_vec()].concat()));
            sheet.extend(label(2, 0, 2));
            // RK: the integer 950, shifted left two bits, bit 1 set for "integer".
            sheet.extend(biff(0x027E, &[biff_cell(2, 1), ((950u32 << 2) | 2).to_le_bytes().to_vec()].concat()));
            sheet.extend(biff(0x000A, &[]));
            sheet
        }),
        ("Städte", {
            let mut sheet = biff_bof(0x10);
            sheet.extend(label(0, 0, 3));
            sheet.extend(label(1, 0, 4));
            sheet.extend(biff(0x000A, &[]));
            sheet
        }),
    ];
    let bound_sheet = |offset: u32, name: &str| {
        biff(0x0085, &[offset.to_le_bytes().to_vec(), vec![0, 0], biff_string(name, true)].concat())
    };
    let globals_len = |offsets: &[u32]| {
        let mut globals = biff_bof(0x05);
        globals.extend(biff(0x0042, &1200u16.to_le_bytes()));
        for ((name, _), offset) in sheets.iter().zip(offsets) {
            globals.extend(bound_sheet(*offset, name));
        }
        globals.extend(biff(0x00FC, &sst));
        globals.extend(biff(0x000A, &[]));
        globals
    };
    // The sheets follow the globals; BoundSheet8 records say where each one's BOF is.
    let mut offset = globals_len(&[0, 0]).len() as u32;
    let mut offsets = Vec::new();
    for (_, sheet) in &sheets {
        offsets.push(offset);
        offset += sheet.len() as u32;
    }
    let mut stream = globals_len(&offsets);
    for (_, sheet) in &sheets {
        stream.extend_from_slice(sheet);
    }
    let mut file = cfb::CompoundFile::create(std::io::Cursor::new(Vec::new())).unwrap();
    file.create_stream("/Workbook").unwrap().write_all(&stream).unwrap();
    file.flush().unwrap();
    file.into_inner().into_inner()
}

#[test]
fn xls_biff8_sheets_are_tables() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "book.xls", &xls_workbook());
    let x = run(&path, "application/vnd.ms-excel", "book.xls");
    assert_eq!(x.units, Some(2));
    let tables = labelled(&x, "table");
    assert_eq!(tables.len(), 2, "{:#?}", x.parts);
    assert_eq!(tables[0].location.sheet.as_deref(), Some("Budget"));
    assert_eq!(tables[0].rows.as_ref().unwrap(), &[vec!["Item", "Cost"], vec!["Rent", "1200.5"], vec!["Rent", "950"]]);
    assert_eq!(tables[1].location.sheet.as_deref(), Some("Städte"));
    assert_eq!(tables[1].rows.as_ref().unwrap(), &[vec!["Stadt"], vec!["Москва"]]);
    assert!(tables[1].text.contains("Москва"), "{:?}", tables[1].text);
    // The workbook's name says XLSX, its bytes say otherwise: read as what it is.
    let x = run(&path, XLSX, "book.xlsx");
    assert_eq!(labelled(&x, "table").len(), 2);
}

#[test]
fn csv_semicolons_in_windows_1252() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode("Name;Stadt;Betrag\nJürgen;Zürich;\"1,5\"\nRené;Genève;2\n");
    let path = write(&dir, "people.csv", &bytes);
    // The sniffer calls it text/csv: the comma is the guess, the semicolon the truth.
    let x = run(&path, "text/csv", "people.csv");
    let tables = labelled(&x, "table");
    assert_eq!(tables.len(), 1);
    assert_eq!(
        tables[0].rows.as_ref().unwrap(),
        &[vec!["Name", "Stadt", "Betrag"], vec!["Jürgen", "Zürich", "1,5"], vec!["René", "Genève", "2"]]
    );
    assert_eq!((tables[0].location.row_start, tables[0].location.row_end), (Some(1), Some(3)));
}

#[test]
fn tsv_and_large_csv_in_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "a.tsv", b"a\tb\n1\t2\n");
    let x = run(&path, "text/tab-separated-values", "a.tsv");
    assert_eq!(labelled(&x, "table")[0].rows.as_ref().unwrap(), &[vec!["a", "b"], vec!["1", "2"]]);

    let mut csv = String::from("id,value\n");
    for i in 1..=2500 {
        csv.push_str(&format!("{i},v{i}\n"));
    }
    let path = write(&dir, "big.csv", csv.as_bytes());
    let x = run(&path, "text/csv", "big.csv");
    let tables = labelled(&x, "table");
    assert_eq!(tables.len(), 3);
    let spans: Vec<_> = tables.iter().map(|t| (t.location.row_start, t.location.row_end)).collect();
    assert_eq!(spans, [(Some(1), Some(1000)), (Some(1001), Some(2000)), (Some(2001), Some(2501))]);
    for t in &tables {
        assert_eq!(t.rows.as_ref().unwrap()[0], ["id", "value"]);
    }
    assert_eq!(tables[1].rows.as_ref().unwrap()[1], ["1000", "v1000"]);
}

#[test]
fn plain_text_in_utf16_and_latin1() {
    let dir = tempfile::tempdir().unwrap();
    let text = "First paragraph,\nstill first.\n\nSecond: naïve café\n";
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let path = write(&dir, "u16.txt", &utf16);
    let x = run(&path, "text/plain", "u16.txt");
    let paragraphs = labelled(&x, "paragraph");
    assert_eq!(paragraphs.len(), 2);
    assert_eq!(paragraphs[0].text, "First paragraph,\nstill first.");
    assert_eq!((paragraphs[0].location.row_start, paragraphs[0].location.row_end), (Some(1), Some(2)));
    assert_eq!(paragraphs[1].text, "Second: naïve café");
    assert_eq!(paragraphs[1].location.row_start, Some(4));

    // UTF-16 BE without a BOM.
    let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    let path = write(&dir, "be.txt", &be);
    assert_eq!(texts(&run(&path, "text/plain", "be.txt"), "paragraph")[1], "Second: naïve café");

    let (latin1, _, _) = encoding_rs::WINDOWS_1252.encode("Ça coûte 5 € à Besançon, déjà réglé.\n");
    let path = write(&dir, "latin.txt", &latin1);
    assert_eq!(texts(&run(&path, "text/plain", "latin.txt"), "paragraph"), ["Ça coûte 5 € à Besançon, déjà réglé."]);
}

#[test]
fn html_in_windows_1252_without_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let html = r#"<!DOCTYPE html><html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1252">
<title>Prix d'été</title><style>p { color: red }</style>
<script>var secret = "do not index";</script></head>
<body><h1>Les prix</h1><p>Le café coûte <b>3 €</b>.</p>
<noscript>Enable JavaScript</noscript>
<ul><li>Crème<li>Thé<ul><li>Vert</li></ul></ul>
<table><tr><th>Article</th><th>Prix</th></tr><tr><td>Café</td><td>3</td></tr></table>
<h3>Fin</h3></body></html>"#;
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(html);
    let path = write(&dir, "page.html", &bytes);
    let x = run(&path, "text/html", "page.html");
    assert_eq!(texts(&x, "title"), ["Prix d'été"]);
    let headings: Vec<_> = labelled(&x, "heading").iter().map(|p| (p.text.clone(), p.level)).collect();
    assert_eq!(headings, [("Les prix".to_owned(), Some(1)), ("Fin".to_owned(), Some(3))]);
    assert_eq!(texts(&x, "paragraph"), ["Le café coûte 3 €."]);
    let items: Vec<_> = labelled(&x, "list_item").iter().map(|p| (p.text.clone(), p.level)).collect();
    assert_eq!(items, [("Crème".to_owned(), Some(1)), ("Thé".to_owned(), Some(1)), ("Vert".to_owned(), Some(2))]);
    assert_eq!(labelled(&x, "table")[0].rows.as_ref().unwrap(), &[vec!["Article", "Prix"], vec!["Café", "3"]]);
    let all: String = x.parts.iter().map(|p| p.text.as_str()).collect();
    assert!(!all.contains("secret") && !all.contains("color") && !all.contains("JavaScript"), "{all}");
    // Each part's location is the range of source lines it was read from.
    let lines: Vec<_> = x.parts.iter().map(|p| (p.text.trim(), p.location.row_start, p.location.row_end)).collect();
    assert_eq!(
        lines,
        [
            ("Prix d'été", Some(2), Some(2)),
            ("Les prix", Some(4), Some(4)),
            ("Le café coûte 3 €.", Some(4), Some(4)),
            ("Crème", Some(6), Some(6)),
            ("Thé", Some(6), Some(6)),
            ("Vert", Some(6), Some(6)),
            ("| Article | Prix |\n| --- | --- |\n| Café | 3 |", Some(7), Some(7)),
            ("Fin", Some(8), Some(8)),
        ]
    );
}

#[test]
fn html_deep_nesting_is_flattened() {
    let dir = tempfile::tempdir().unwrap();
    let mut html = String::new();
    for _ in 0..20_000 {
        html.push_str("<div><table><tr><td>");
    }
    html.push_str("deep text");
    let path = write(&dir, "deep.html", html.as_bytes());
    let x = run(&path, "text/html", "deep.html");
    assert!(x.parts.iter().any(|p| p.text.contains("deep text")));
}

#[test]
fn markdown_structure() {
    let dir = tempfile::tempdir().unwrap();
    let md = "# Title\n\nSome *text*\nhere.\n\n## Part\n\n- one\n  - one.a\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```rust\nfn main() {}\n```\n";
    let path = write(&dir, "doc.md", md.as_bytes());
    let x = run(&path, "text/markdown", "doc.md");
    let headings: Vec<_> = labelled(&x, "heading").iter().map(|p| (p.text.clone(), p.level)).collect();
    assert_eq!(headings, [("Title".to_owned(), Some(1)), ("Part".to_owned(), Some(2))]);
    let paragraph = labelled(&x, "paragraph")[0];
    assert_eq!(paragraph.text, "Some text here.");
    assert_eq!((paragraph.location.row_start, paragraph.location.row_end), (Some(3), Some(4)));
    let items: Vec<_> = labelled(&x, "list_item").iter().map(|p| (p.text.clone(), p.level)).collect();
    assert_eq!(items, [("one".to_owned(), Some(1)), ("one.a".to_owned(), Some(2)), ("two".to_owned(), Some(1))]);
    assert_eq!(labelled(&x, "table")[0].rows.as_ref().unwrap(), &[vec!["a", "b"], vec!["1", "2"]]);
    assert_eq!(texts(&x, "code"), ["fn main() {}"]);
}

#[test]
fn eml_with_latin1_body_and_attachment() {
    let dir = tempfile::tempdir().unwrap();
    let mut eml = b"From: Ren\xe9e <renee@example.org>\r\nTo: Bob <bob@example.org>\r\nCc: carol@example.org\r\n\
Subject: =?ISO-8859-1?Q?R=E9sum=E9?=\r\nDate: Tue, 1 Apr 2025 10:00:00 +0200\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\
Content-Transfer-Encoding: 8bit\r\n\r\n"
        .to_vec();
    eml.extend_from_slice(b"Voil\xe0 le r\xe9sum\xe9.\r\n");
    eml.extend_from_slice(
        b"--XX\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\nContent-Disposition: attachment; \
filename=\"report.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--XX--\r\n",
    );
    let path = write(&dir, "mail.eml", &eml);
    let x = run(&path, "message/rfc822", "mail.eml");
    assert_eq!(texts(&x, "subject"), ["Résumé"]);
    let headers = &texts(&x, "headers")[0];
    assert!(headers.contains("To: Bob <bob@example.org>") && headers.contains("Cc: carol@example.org"), "{headers}");
    assert!(headers.contains("Date: 2025-04-01"), "{headers}");
    assert_eq!(texts(&x, "body"), ["Voilà le résumé."]);
    assert_eq!(x.attachments.len(), 1);
    assert_eq!(x.attachments[0].file_name, "report.pdf");
    assert_eq!(x.attachments[0].mime_type, "application/pdf");
    assert_eq!(x.attachments[0].data, b"%PDF-1.4\n");
}

#[test]
fn eml_html_only_body() {
    let dir = tempfile::tempdir().unwrap();
    let eml = "From: a@example.org\r\nSubject: Hi\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<html><body><p>Hello <b>there</b></p><script>x()</script></body></html>\r\n";
    let path = write(&dir, "h.eml", eml.as_bytes());
    let x = run(&path, "message/rfc822", "h.eml");
    assert_eq!(texts(&x, "body"), ["Hello there"]);
}

/// A DOCX package around `document` (the body XML).
fn docx_package(document: &[u8]) -> Vec<u8> {
    let types = br#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#;
    let rels = br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#;
    zip_file(&[("[Content_Types].xml", types), ("_rels/.rels", rels), ("word/document.xml", document)])
}

const W: &str = r#"<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>"#;

#[test]
fn docx_parts_carry_the_page_the_document_breaks_them_onto() {
    let dir = tempfile::tempdir().unwrap();
    let run_text = |t: &str| format!("<w:r><w:t>{t}</w:t></w:r>");
    let document = format!(
        "{W}<w:p>{}</w:p><w:p><w:r><w:br w:type=\"page\"/><w:t>After a page break.</w:t></w:r></w:p>\
         <w:p><w:pPr><w:pageBreakBefore/></w:pPr>{}</w:p><w:p>{}</w:p>\
         <w:p><w:pPr><w:sectPr><w:type w:val=\"nextPage\"/></w:sectPr></w:pPr></w:p><w:p>{}</w:p>\
         <w:sectPr><w:type w:val=\"nextPage\"/></w:sectPr></w:body></w:document>",
        run_text("On page one."),
        run_text("Starts a page of its own."),
        run_text("Same page."),
        run_text("The next section."),
    );
    let path = write(&dir, "pages.docx", &docx_package(document.as_bytes()));
    let x = run(&path, DOCX, "pages.docx");
    let pages: Vec<(&str, Option<u32>)> =
        x.parts.iter().filter(|p| !p.text.trim().is_empty()).map(|p| (p.text.trim(), p.location.page)).collect();
    assert_eq!(
        pages,
        [
            ("On page one.", Some(1)),
            ("After a page break.", Some(2)),
            ("Starts a page of its own.", Some(3)),
            ("Same page.", Some(3)),
            ("The next section.", Some(4)),
        ],
        "{:#?}",
        x.parts
    );
}

#[test]
fn hostile_docx_zip_bomb_is_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let mut document = String::from(W);
    let filler = format!("<w:p><w:r><w:t>{}</w:t></w:r></w:p>", "A".repeat(1000));
    while document.len() < 4 << 20 {
        document.push_str(&filler);
    }
    document.push_str("</w:body></w:document>");
    let bytes = docx_package(document.as_bytes());
    assert!(bytes.len() < 200_000, "the bomb compresses: {}", bytes.len());
    let path = write(&dir, "bomb.docx", &bytes);
    let limits = Limits { max_inflated_bytes: 1 << 20, ..Limits::default() };
    assert_eq!(fail(&path, DOCX, "bomb.docx", limits).code(), "too_large");
    // The same file within a generous budget reads, and the text budget still applies.
    let limits = Limits { max_text_chars: 10_000, ..Limits::default() };
    assert_eq!(fail(&path, DOCX, "bomb.docx", limits).code(), "too_large");
}

#[test]
fn hostile_docx_with_one_huge_text_node_stops_at_the_budget() {
    // One text node that inflates to 64 MiB: the scan stops at the budget (here 8 MiB) with
    // `too_large`, holding one buffer, never the node.
    let dir = tempfile::tempdir().unwrap();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("word/document.xml", options).unwrap();
    zip.write_all(format!("{W}<w:p><w:r><w:t>").as_bytes()).unwrap();
    let block = vec![b'A'; 1 << 20];
    for _ in 0..64 {
        zip.write_all(&block).unwrap();
    }
    zip.write_all(b"</w:t></w:r></w:p></w:body></w:document>").unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    assert!(bytes.len() < 1 << 20, "the bomb compresses: {}", bytes.len());
    let path = write(&dir, "bomb.docx", &bytes);
    let limits = Limits { max_inflated_bytes: 8 << 20, ..Limits::default() };
    let err = fail(&path, DOCX, "bomb.docx", limits);
    assert!(matches!(err, ExtractError::TooLarge { what: "inflated bytes", .. }), "{err}");
}

#[test]
fn hostile_deep_xml_is_too_deep() {
    let dir = tempfile::tempdir().unwrap();
    let mut document = String::from(W);
    document.push_str(&"<w:tbl><w:tr><w:tc>".repeat(10_000));
    document.push_str(&"</w:tc></w:tr></w:tbl>".repeat(10_000));
    document.push_str("</w:body></w:document>");
    let path = write(&dir, "deep.docx", &docx_package(document.as_bytes()));
    assert_eq!(fail(&path, DOCX, "deep.docx", Limits::default()).code(), "too_deep");
    // An ODS content.xml as deep.
    let mut content =
        String::from(r#"<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0">"#);
    content.push_str(&"<a>".repeat(10_000));
    content.push_str(&"</a>".repeat(10_000));
    content.push_str("</office:document-content>");
    let bytes = zip_file(&[
        ("mimetype", b"application/vnd.oasis.opendocument.spreadsheet"),
        ("content.xml", content.as_bytes()),
    ]);
    let path = write(&dir, "deep.ods", &bytes);
    assert_eq!(fail(&path, ODS, "deep.ods", Limits::default()).code(), "too_deep");
}

#[test]
fn hostile_corrupt_encrypted_and_late() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = docx_package(format!("{W}<w:p/></w:body></w:document>").as_bytes());
    bytes.truncate(bytes.len() / 2);
    let path = write(&dir, "cut.docx", &bytes);
    assert_eq!(fail(&path, DOCX, "cut.docx", Limits::default()).code(), "malformed");
    let path = write(&dir, "cut.xlsx", &bytes);
    assert_eq!(fail(&path, XLSX, "cut.xlsx", Limits::default()).code(), "malformed");

    // An OOXML file that is an OLE container is an encrypted package.
    let mut ole = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    ole.resize(4096, 0);
    let path = write(&dir, "locked.docx", &ole);
    assert_eq!(fail(&path, DOCX, "locked.docx", Limits::default()).code(), "encrypted");

    let path = write(&dir, "ok.csv", b"a,b\n1,2\n");
    let late = Limits { deadline: Some(Instant::now() - Duration::from_secs(1)), ..Limits::default() };
    assert_eq!(fail(&path, "text/csv", "ok.csv", late.clone()).code(), "timed_out");
    let path = write(
        &dir,
        "ok.docx",
        &docx_package(format!("{W}<w:p><w:r><w:t>x</w:t></w:r></w:p></w:body></w:document>").as_bytes()),
    );
    assert_eq!(fail(&path, DOCX, "ok.docx", late).code(), "timed_out");
}
