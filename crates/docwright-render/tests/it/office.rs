//! LibreOffice (headless) converts every generated DOCX, XLSX and PPTX to PDF without error —
//! our stand-in for "opens without repair" where Word is not available.

use docwright_render::{Format, Options, render};

use crate::fixtures::sample;
use crate::tools::{require, soffice, to_pdf};

#[test]
fn libreoffice_converts_docx_xlsx_and_pptx() {
    let soffice = soffice();
    if !require("LibreOffice (soffice)", soffice.is_some(), "scripts/setup") {
        return;
    }
    let soffice = soffice.unwrap();
    let doc = sample();
    let dir = tempfile::tempdir().unwrap();
    for format in [Format::Docx, Format::Xlsx, Format::Pptx] {
        let file = render(&doc, format, &Options::default()).unwrap().remove(0);
        let path = dir.path().join(&file.filename);
        std::fs::write(&path, &file.bytes).unwrap();
        let out = dir.path().join(format.extension());
        std::fs::create_dir_all(&out).unwrap();
        let pdf = to_pdf(&soffice, &path, &out).unwrap_or_else(|e| panic!("{format:?}: {e}"));
        let text = crate::roundtrip::extracted(Format::Pdf, &std::fs::read(pdf).unwrap());
        assert!(text.contains("Quarterly expenses review") || format == Format::Xlsx, "{format:?}: {text}");
        assert!(text.contains("Zürich Hauptbahnhof"), "{format:?}: {text}");
    }
}
