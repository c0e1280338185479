//! What kind of package a zip file is (SPEC D1: the type from the content, not the name).
//!
//! Magic bytes say only "zip" for OOXML and ODF documents, and a look at the first local
//! headers (what `infer` does) misses packages whose `[Content_Types].xml` or main part comes
//! after their media. A package says what it is itself: ODF in its `mimetype` member, OOXML in
//! the content type `[Content_Types].xml` gives its main part. [`package_mime`] reads the
//! central directory and those members (bounded), falling back to the main part's name.

use std::io::{Read, Seek};

/// Most bytes read of `[Content_Types].xml` or `mimetype`.
const MAX_MEMBER_BYTES: u64 = 1 << 20;

/// The OOXML main-part content types and the package types they make.
const OOXML: [(&str, &str); 10] = [
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.template",
    ),
    ("application/vnd.ms-word.document.macroenabled.main+xml", "application/vnd.ms-word.document.macroEnabled.12"),
    (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
    (
        "application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml",
        "application/vnd.openxmlformats-officedocument.presentationml.slideshow",
    ),
    (
        "application/vnd.ms-powerpoint.presentation.macroenabled.main+xml",
        "application/vnd.ms-powerpoint.presentation.macroEnabled.12",
    ),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.template",
    ),
    ("application/vnd.ms-excel.sheet.macroenabled.main+xml", "application/vnd.ms-excel.sheet.macroEnabled.12"),
    (
        "application/vnd.ms-excel.sheet.binary.macroenabled.main",
        "application/vnd.ms-excel.sheet.binary.macroEnabled.12",
    ),
];

/// ODF package types (the `mimetype` member holds one of them).
const ODF: [&str; 6] = [
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
    "application/vnd.oasis.opendocument.graphics",
    "application/vnd.oasis.opendocument.formula",
    "application/vnd.oasis.opendocument.text-template",
];

/// The MIME type of the OOXML or ODF package in `reader`, `None` when it is no zip or no
/// package of these kinds (a plain zip stays `application/zip`).
pub fn package_mime(reader: impl Read + Seek) -> Option<&'static str> {
    let mut archive = zip::ZipArchive::new(reader).ok()?;
    let mut member = |name: &str| -> Option<String> {
        let entry = archive.by_name(name).ok()?;
        let mut bytes = Vec::new();
        entry.take(MAX_MEMBER_BYTES).read_to_end(&mut bytes).ok()?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    };
    if let Some(declared) = member("mimetype") {
        let declared = declared.trim();
        if let Some(odf) = ODF.iter().find(|t| **t == declared) {
            return Some(odf);
        }
    }
    if let Some(types) = member("[Content_Types].xml") {
        let lower = types.to_ascii_lowercase();
        // The Override of the main part; the first match in the list's order wins, which puts
        // the document types before templates of the same family.
        if let Some((_, package)) = OOXML.iter().find(|(main, _)| lower.contains(&format!("\"{main}\""))) {
            return Some(package);
        }
    }
    // No declaration we know: the conventional main parts.
    let names: Vec<String> =
        archive.file_names().take(100_000).filter_map(Result::ok).map(|n| n.to_ascii_lowercase()).collect();
    let has = |part: &str| names.iter().any(|n| n == part);
    if has("word/document.xml") {
        Some(OOXML[0].1)
    } else if has("ppt/presentation.xml") {
        Some(OOXML[3].1)
    } else if has("xl/workbook.xml") {
        Some(OOXML[6].1)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use super::*;

    fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, content) in entries {
            zip.start_file(*name, options).unwrap();
            zip.write_all(content).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    fn types(main: &str, part: &str) -> Vec<u8> {
        format!(
            r#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="png" ContentType="image/png"/><Override PartName="/{part}" ContentType="{main}"/></Types>"#
        )
        .into_bytes()
    }

    #[test]
    fn packages_say_what_they_are() {
        let media = vec![7u8; 300_000];
        let check = |bytes: Vec<u8>, want: Option<&str>| assert_eq!(package_mime(Cursor::new(bytes)), want);
        // Media first, the declaration last: a look at the head would see a plain zip.
        let docx = types(
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
            "word/document.xml",
        );
        check(
            zip(&[
                ("word/media/a.png", &media),
                ("word/document.xml", b"<w:document/>"),
                ("[Content_Types].xml", &docx),
            ]),
            Some(OOXML[0].1),
        );
        let pptx = types(
            "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
            "ppt/presentation.xml",
        );
        check(zip(&[("ppt/media/a.png", &media), ("[Content_Types].xml", &pptx)]), Some(OOXML[3].1));
        let xlsm = types("application/vnd.ms-excel.sheet.macroEnabled.main+xml", "xl/workbook.xml");
        check(zip(&[("[Content_Types].xml", &xlsm)]), Some("application/vnd.ms-excel.sheet.macroEnabled.12"));
        // No declaration: the main part's name.
        check(zip(&[("xl/workbook.xml", b"<workbook/>")]), Some(OOXML[6].1));
        check(
            zip(&[("mimetype", b"application/vnd.oasis.opendocument.presentation"), ("content.xml", b"<x/>")]),
            Some(ODF[2]),
        );
        check(zip(&[("notes.txt", b"just a zip")]), None);
        check(b"not a zip at all".to_vec(), None);
    }
}
