//! The real-world corpus (`../shared/corpus`, or the directory in `DOCWRIGHT_CORPUS`): every
//! file is typed from its bytes as uploads are (`sniff_mime`) and extracted with its thumbnail
//! as a worker does it (`Job::run`). Each either yields the kind of content its format promises,
//! or fails with the named reason we expect of it (password-protected files); none panics,
//! none hangs (each has a watchdog), every thumbnail is a 200×280 PNG.
//!
//! Absent corpus: a notice and a skip — unless `DOCWRIGHT_CORPUS` names a directory (CI sets it
//! when the corpus is on the machine), then its absence fails.

// Test code fails loudly on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use docwright_engine::blobs::sniff_mime;
use docwright_extract::worker::{Failure, Job, OcrJob, Outcome, ThumbJob};
use docwright_extract::{Extraction, Method, PartKind};

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

fn run_with_watchdog(job: Job) -> Option<Outcome> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(job.run());
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
    let mut problems = Vec::new();
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
        let mime = sniff_mime(&head).to_owned();
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
        match verdict {
            Ok(summary) => println!("corpus {name} [{mime}] in {:?}: {summary}", started.elapsed()),
            Err(problem) => problems.push(problem),
        }
    }
    assert!(problems.is_empty(), "corpus problems:\n{}", problems.join("\n"));
}
