//! The real-world corpus (`../shared/corpus`, or the directory in `DOCWRIGHT_CORPUS`): every
//! file is typed from its bytes as uploads are (`sniff_mime`) and extracted with its thumbnail
//! as a worker does it (`Job::run`). Each either yields the kind of content its format promises,
//! or fails with the named reason we expect of it (password-protected files); none panics,
//! none hangs (each has a watchdog), every thumbnail is a 200×280 PNG.
//!
//! Absent corpus: a notice and a skip — unless `DOCWRIGHT_CORPUS` names a directory (CI sets it
//! when the corpus is on the machine), then its absence fails.
//!
//! Word recall: each file's text is also read by an independent extractor
//! (`scripts/reference-text.py`: pdftotext, pdftoppm + Tesseract for scans, python-docx,
//! python-pptx, openpyxl, Tesseract, and Python's own csv, html.parser and email), and the
//! share of its words (as a multiset, case folded) that our parts hold is reported per file
//! and per type. Under `CI=true` the tools must be there and no type may fall below its
//! floor in [`RECALL_FLOORS`], the figures measured when the floors were set.

// Test code fails loudly on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use docwright_engine::blobs::sniff_content;
use docwright_extract::worker::{Failure, Job, OcrJob, Outcome, ThumbJob};
use docwright_extract::{Extraction, Method, PartKind};

/// Word recall per type that must hold under `CI=true`: what the corpus gave when these were
/// set (rounded down to the third decimal), so a change that loses words fails.
const RECALL_FLOORS: &[(&str, f64)] = &[
    ("csv", 1.000),
    ("docx", 0.998),
    ("eml", 1.000),
    ("html", 0.999),
    ("image", 1.000),
    ("pdf", 0.999),
    ("pdf-ocr", 0.989),
    ("pptx", 1.000),
    ("xlsx", 0.994),
];

/// Longest a single file may take before the test calls it a hang.
const WATCHDOG: Duration = Duration::from_secs(180);

fn corpus_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCWRIGHT_CORPUS") {
        let dir = PathBuf::from(dir);
        assert!(dir.is_dir(), "DOCWRIGHT_CORPUS={} is not a directory", dir.display());
        return Some(dir);
    }
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    default.is_dir().then_some(default)
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else if p.file_name().is_some_and(|n| n != "README.md") {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn tesseract_present() -> bool {
    std::process::Command::new("tesseract").arg("--version").output().is_ok_and(|o| o.status.success())
}

/// What a file must give.
#[derive(Debug)]
enum Expect {
    /// Text parts with at least this many characters in all, and parts of these labels or kinds.
    Content { min_chars: usize, kind: PartKind, located: fn(&docwright_extract::Part) -> bool },
    /// Failure with this code.
    Fails(&'static str),
}

fn expectation(name: &str, ocr: bool) -> Expect {
    let ext = name.rsplit('.').next().unwrap_or_default().to_ascii_lowercase();
    match (name, ext.as_str()) {
        ("password.pdf", _) | ("password_protected.xlsx", _) => Expect::Fails("encrypted"),
        // A photo in which Tesseract itself finds no text; a slide that holds only a picture.
        ("example.jpg", _) => Expect::Content { min_chars: 0, kind: PartKind::Image, located: |_| true },
        ("picture.pptx", _) => {
            Expect::Content { min_chars: 0, kind: PartKind::Image, located: |p| p.location.slide.is_some() }
        }
        // Scans: text only by OCR.
        ("loremipsum-flat.pdf" | "single_table.pdf", _) => Expect::Content {
            min_chars: if ocr { 20 } else { 0 },
            kind: PartKind::Text,
            located: |p| p.location.page.is_some(),
        },
        (_, "pdf") => Expect::Content { min_chars: 20, kind: PartKind::Text, located: |p| p.location.page.is_some() },
        (_, "pptx") => Expect::Content { min_chars: 5, kind: PartKind::Text, located: |p| p.location.slide.is_some() },
        (_, "xlsx" | "xls" | "ods") => {
            Expect::Content { min_chars: 5, kind: PartKind::Table, located: |p| p.location.sheet.is_some() }
        }
        (_, "csv" | "tsv") => Expect::Content { min_chars: 5, kind: PartKind::Table, located: |_| true },
        (_, "png" | "jpg" | "jpeg" | "tif" | "tiff") => {
            Expect::Content { min_chars: if ocr { 20 } else { 0 }, kind: PartKind::Image, located: |_| true }
        }
        _ => Expect::Content { min_chars: 5, kind: PartKind::Text, located: |_| true },
    }
}

/// The MIME type a corpus file's record must get, by what the file is (its name says it here).
fn expected_mime(name: &str) -> Option<&'static str> {
    let ext = name.rsplit('.').next().unwrap_or_default().to_ascii_lowercase();
    Some(match (name, ext.as_str()) {
        // A password-protected OOXML file is an OLE container holding the encrypted package.
        ("password_protected.xlsx", _) => "application/x-ole-storage",
        (_, "pdf") => "application/pdf",
        (_, "docx") => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        (_, "pptx") => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        (_, "xlsx") => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        (_, "xls") => "application/vnd.ms-excel",
        (_, "csv") => "text/csv",
        (_, "html" | "htm") => "text/html",
        (_, "eml") => "message/rfc822",
        (_, "png") => "image/png",
        (_, "jpg" | "jpeg") => "image/jpeg",
        _ => return None,
    })
}

/// The reader of `scripts/reference-text.py` for a corpus file, `None` when there is no
/// independent reading (a password-protected file).
fn reference_kind(name: &str) -> Option<&'static str> {
    let ext = name.rsplit('.').next().unwrap_or_default().to_ascii_lowercase();
    Some(match (name, ext.as_str()) {
        ("password.pdf" | "password_protected.xlsx", _) => return None,
        ("loremipsum-flat.pdf" | "single_table.pdf", _) => "pdf-ocr",
        (_, "pdf") => "pdf",
        (_, "docx") => "docx",
        (_, "pptx") => "pptx",
        (_, "xlsx") => "xlsx",
        (_, "csv" | "tsv") => "csv",
        (_, "html" | "htm") => "html",
        (_, "eml") => "eml",
        (_, "png" | "jpg" | "jpeg" | "tif" | "tiff") => "image",
        _ => return None,
    })
}

/// What the independent reader gives, `Err` with the reason when it cannot run.
fn reference_text(kind: &str, path: &Path) -> Result<String, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/reference-text.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(kind)
        .arg(path)
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Words as the recall counts them: runs of letters and digits, case folded.
fn words(text: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        *counts.entry(word.to_lowercase()).or_insert(0) += 1;
    }
    counts
}

/// (reference words found in ours, reference words), each word counted as often as the
/// reference has it but at most as often as ours does.
fn recall(reference: &str, ours: &str) -> (usize, usize) {
    let (reference, ours) = (words(reference), words(ours));
    let total = reference.values().sum();
    let found = reference.iter().map(|(w, n)| (*n).min(ours.get(w).copied().unwrap_or(0))).sum();
    (found, total)
}

fn run_with_watchdog(job: Job) -> Option<Outcome> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(job.run(Some(docwright_engine::preview::office_pdf)));
    });
    rx.recv_timeout(WATCHDOG).ok()
}

fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

fn check(name: &str, expect: &Expect, extraction: &Result<Extraction, Failure>) -> Result<String, String> {
    match (expect, extraction) {
        (Expect::Fails(code), Err(f)) if f.code == *code => {
            Ok(format!("failed as expected: {} ({})", f.code, f.message))
        }
        (Expect::Fails(code), other) => Err(format!("{name}: expected failure {code}, got {other:?}")),
        (Expect::Content { .. }, Err(f)) => Err(format!("{name}: failed: {} ({})", f.code, f.message)),
        (Expect::Content { min_chars, kind, located }, Ok(x)) => {
            let chars: usize = x.parts.iter().map(|p| p.text.chars().count()).sum();
            if chars < *min_chars {
                return Err(format!(
                    "{name}: only {chars} characters of text (want {min_chars}); warnings {:?}",
                    x.warnings
                ));
            }
            if !x.parts.iter().any(|p| p.kind == *kind) {
                let kinds: Vec<_> = x.parts.iter().map(|p| p.kind).collect();
                return Err(format!("{name}: no {kind:?} part among {kinds:?}"));
            }
            if let Some(p) = x.parts.iter().find(|p| p.kind != PartKind::Image && !located(p)) {
                return Err(format!("{name}: a part without its location: {:?}", p.location));
            }
            let ocr = x.parts.iter().filter(|p| p.method == Method::Ocr).count();
            Ok(format!(
                "{} parts, {chars} chars{}{}",
                x.parts.len(),
                if ocr > 0 { format!(", {ocr} by OCR") } else { String::new() },
                if x.warnings.is_empty() { String::new() } else { format!(", {} warnings", x.warnings.len()) }
            ))
        }
    }
}

#[test]
fn every_corpus_file_extracts_or_fails_with_its_reason() {
    let Some(dir) = corpus_dir() else {
        println!("corpus test SKIPPED: no ../shared/corpus next to the repository and DOCWRIGHT_CORPUS is unset");
        return;
    };
    let ocr = tesseract_present();
    if !ocr {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but tesseract is not installed (scripts/setup installs it)"
        );
        println!("corpus test: tesseract not installed, scans and images are checked without OCR text");
    }
    let out = tempfile::tempdir().unwrap();
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let mut problems = Vec::new();
    // Per reference kind: (words found, reference words, files).
    let mut recall_by_kind: HashMap<&'static str, (usize, usize, usize)> = HashMap::new();
    let mut missing_tools = Vec::new();
    let files = files_under(&dir);
    assert!(!files.is_empty(), "the corpus at {} is empty", dir.display());
    for (i, path) in files.iter().enumerate() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let head: Vec<u8> = {
            use std::io::Read as _;
            let mut buf = vec![0u8; 8192];
            let n = std::fs::File::open(path).unwrap().read(&mut buf).unwrap();
            buf.truncate(n);
            buf
        };
        let mime = sniff_content(&head, || std::fs::File::open(path).ok()).to_owned();
        if let Some(want) = expected_mime(&name)
            && mime != want
        {
            problems.push(format!("{name}: its record would say {mime}, not {want}"));
        }
        let job_dir = out.path().join(i.to_string());
        std::fs::create_dir_all(&job_dir).unwrap();
        let job = Job {
            input: path.clone(),
            mime: mime.clone(),
            file_name: name.clone(),
            out_dir: job_dir,
            extract: true,
            thumbnail: Some(ThumbJob { width: 200, height: 280, converter: None }),
            timeout_ms: 120_000,
            max_memory_bytes: 0,
            max_pages: 5000,
            max_inflated_bytes: 1 << 30,
            max_xml_depth: 256,
            max_parts: 200_000,
            max_text_chars: 200_000_000,
            max_image_pixels: 100_000_000,
            ocr: ocr.then(|| OcrJob { program: "tesseract".into(), languages: vec!["eng".into()], timeout_ms: 60_000 }),
        };
        let started = std::time::Instant::now();
        let Some(outcome) = run_with_watchdog(job) else {
            problems.push(format!("{name}: no answer within {WATCHDOG:?} (a hang)"));
            continue;
        };
        let expect = expectation(&name, ocr);
        let verdict = check(&name, &expect, outcome.extraction.as_ref().unwrap());
        match outcome.thumbnail.as_ref().unwrap() {
            Ok(png) if png_size(png) == (200, 280) => {}
            Ok(png) => problems.push(format!("{name}: thumbnail is {:?}, not 200×280", png_size(png))),
            Err(f) => problems.push(format!("{name}: no thumbnail: {} ({})", f.code, f.message)),
        }
        let elapsed = started.elapsed();
        let mut recall_note = String::new();
        if let (Some(kind), Some(Ok(x))) = (reference_kind(&name), outcome.extraction.as_ref()) {
            match reference_text(kind, path) {
                Ok(reference) => {
                    let ours: Vec<&str> = x.parts.iter().map(|p| p.text.as_str()).collect();
                    let (found, total) = recall(&reference, &ours.join("\n"));
                    let entry = recall_by_kind.entry(kind).or_default();
                    *entry = (entry.0 + found, entry.1 + total, entry.2 + 1);
                    if total > 0 {
                        recall_note = format!(", word recall {:.3} of {total} ({kind})", found as f64 / total as f64);
                    }
                }
                Err(why) => missing_tools.push(format!("{name} ({kind}): {why}")),
            }
        }
        match verdict {
            Ok(summary) => println!("corpus {name} [{mime}] in {elapsed:?}: {summary}{recall_note}"),
            Err(problem) => problems.push(problem),
        }
    }
    let mut kinds: Vec<_> = recall_by_kind.into_iter().collect();
    kinds.sort_by_key(|(k, _)| *k);
    for (kind, (found, total, files)) in &kinds {
        let recall = if *total == 0 { 1.0 } else { *found as f64 / *total as f64 };
        let floor = RECALL_FLOORS.iter().find(|(k, _)| k == kind).map(|(_, f)| *f);
        println!(
            "corpus recall {kind}: {recall:.4} ({found} of {total} words, {files} files){}",
            floor.map_or_else(|| " — no floor set".to_owned(), |f| format!(", floor {f:.3}"))
        );
        if let Some(floor) = floor
            && recall < floor
        {
            problems.push(format!("word recall of {kind} fell to {recall:.4}, below its floor {floor:.3}"));
        }
    }
    if !missing_tools.is_empty() {
        let list = missing_tools.join("\n");
        assert!(!ci, "CI=true but the reference extractors cannot run (scripts/test installs them):\n{list}");
        println!("corpus recall: not measured for some files, a reference tool is missing:\n{list}");
    }
    if ci {
        for (kind, _) in RECALL_FLOORS {
            if !kinds.iter().any(|(k, _)| k == kind) {
                problems.push(format!("no corpus file measured the recall of {kind}"));
            }
        }
    }
    assert!(problems.is_empty(), "corpus problems:\n{}", problems.join("\n"));
}
