//! Independent readers: python-docx, openpyxl, python-pptx and pypdf (installed from PyPI by
//! `scripts/test`) open every generated file and find the same content and structure
//! (`readers.py` prints what it read as JSON).

use std::process::Command;

use docwright_render::{Format, Options, render};
use serde_json::Value;

use crate::fixtures::{SAMPLE_TEXTS, sample};
use crate::roundtrip::normalize;
use crate::tools::{has_python_readers, require};

fn read(format: Format, bytes: &[u8]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("out.{}", format.extension()));
    std::fs::write(&path, bytes).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/readers.py");
    let out = Command::new("python3").arg(script).arg(format.extension()).arg(&path).output().unwrap();
    assert!(out.status.success(), "{format:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn python_readers_open_every_office_file_and_find_the_content() {
    if !require("python3 with python-docx, openpyxl, python-pptx and pypdf", has_python_readers(), "scripts/test") {
        return;
    }
    let doc = sample();
    for format in [Format::Docx, Format::Xlsx, Format::Pptx, Format::Pdf] {
        let file = render(&doc, format, &Options::default()).unwrap().remove(0);
        let read = read(format, &file.bytes);
        let text = normalize(read["text"].as_str().unwrap());
        let texts: &[&str] = if format == Format::Xlsx { &SAMPLE_TEXTS[..5] } else { SAMPLE_TEXTS };
        for wanted in texts {
            assert!(text.contains(&normalize(wanted)), "{format:?}: {wanted:?} not in {text}");
        }
        assert_eq!(read["title"], "Quarterly expenses review", "{format:?}");
        match format {
            Format::Docx => {
                assert_eq!(read["creator"], "Finance team");
                assert_eq!(read["language"], "en");
                let headings = read["headings"].as_array().unwrap();
                assert!(headings.contains(&Value::from("Heading 1:Introduction")), "{headings:?}");
                assert!(headings.contains(&Value::from("Heading 2:Scripts")), "{headings:?}");
                assert_eq!(read["tables"][0]["header_repeats"], true);
                assert_eq!(read["tables"][0]["rows"][1][2], "12.50");
                assert_eq!(read["images"], 2);
            }
            Format::Xlsx => {
                let sheet = &read["sheets"][1];
                assert_eq!(sheet["name"], "Expenses by day");
                assert_eq!(sheet["freeze"], "A2");
                assert_eq!(sheet["autofilter"], "A1:H3");
                assert_eq!(sheet["header_bold"], true);
                let row = &sheet["rows"][1];
                assert_eq!(row[0], "datetime:2024-01-02 00:00:00");
                assert_eq!(row[2], "float:12.5");
                assert_eq!(row[3], "float:0.077");
                assert_eq!(row[4], "int:2");
                assert_eq!(row[5], "bool:True");
                assert_eq!(sheet["formats"][2], "#,##0.00");
                assert_eq!(sheet["formats"][0], "yyyy-mm-dd");
            }
            Format::Pptx => {
                assert!(read["slides"].as_u64().unwrap() >= 6);
                assert_eq!(read["pictures"], 2);
                assert!(read["tables"].as_u64().unwrap() >= 1);
                let notes = read["notes"].as_str().unwrap();
                assert!(notes.contains("A chart of the expenses") && notes.contains("Offer.pdf p. 3"), "{notes}");
            }
            Format::Pdf => {
                assert_eq!(read["author"], "Finance team");
                let outline = read["outline"].as_array().unwrap();
                assert!(
                    outline.contains(&Value::from("Introduction")) && outline.contains(&Value::from("Scripts")),
                    "{outline:?}"
                );
                assert!(read["pages"].as_u64().unwrap() >= 2);
                assert!(read["fonts_embedded"].as_bool().unwrap());
            }
            _ => unreachable!(),
        }
    }
}
