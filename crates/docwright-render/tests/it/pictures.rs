//! Pictures for an engineer to look at: one sample of each format rendered to PNG pages under
//! `target/render-pictures/<format>/` (PDF directly; the others through LibreOffice → PDF, then
//! poppler's `pdftoppm`). Not part of the normal run — it takes LibreOffice a while — run it with
//! `cargo test -p docwright-render --test it pictures -- --ignored`, then open the PNGs.

use std::path::Path;
use std::process::Command;

use docwright_render::{Format, Options, render};

use crate::fixtures::sample;
use crate::tools::{has_pdftoppm, require, soffice, to_pdf};

#[test]
#[ignore = "writes PNGs for people to look at; run with --ignored"]
fn pictures_of_every_format() {
    let soffice = soffice();
    if !require("LibreOffice (soffice)", soffice.is_some(), "scripts/setup")
        || !require("pdftoppm", has_pdftoppm(), "scripts/setup")
    {
        return;
    }
    let soffice = soffice.unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/render-pictures");
    let doc = sample();
    for format in Format::ALL {
        let dir = root.join(format.extension());
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = render(&doc, format, &Options::default()).unwrap().remove(0);
        let path = dir.join(&file.filename);
        std::fs::write(&path, &file.bytes).unwrap();
        let pdf = if format == Format::Pdf {
            path
        } else {
            let out = dir.join("pdf");
            std::fs::create_dir_all(&out).unwrap();
            to_pdf(&soffice, &path, &out).unwrap_or_else(|e| panic!("{format:?}: {e}"))
        };
        let status =
            Command::new("pdftoppm").args(["-r", "80", "-png"]).arg(&pdf).arg(dir.join("page")).status().unwrap();
        assert!(status.success(), "{format:?}: pdftoppm failed");
        println!("{format:?}: {}", dir.display());
    }
}
