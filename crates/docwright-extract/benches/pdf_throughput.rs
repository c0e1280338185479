//! PDF throughput against poppler's `pdftotext` (SPEC N2), in the same run.
//!
//! `cargo bench -p docwright-extract --bench pdf_throughput` times, for every PDF in
//! `../shared/corpus/pdf` (beside the workspace; `DOCWRIGHT_CORPUS` names another corpus root), docwright's
//! `extract()` (OCR off) and `pdftotext <file> -`, a few repetitions each, and prints a table per
//! file, the total pages/s of both and their ratio, and the peak memory of both.
//!
//! Each side runs in a child process of its own (this binary again, with `--docwright` or
//! `--poppler`), so that peak memory is that side's alone: the docwright child reports its own
//! `ru_maxrss`, the poppler child the `ru_maxrss` of its `pdftotext` children. docwright is timed
//! around `extract()` inside its process; pdftotext as a whole program run (its start-up is a
//! few milliseconds), its output going to /dev/null.
//!
//! SPEC N2 also asks for more speed than any Python extractor: when a Python with pypdf,
//! pdfminer.six or PyMuPDF is found (`DOCWRIGHT_BENCH_PYTHON`, else the environment that
//! `scripts/bench-python` makes at `<target>/bench-python`), each of them reads the same files
//! once (they are ten to a hundred times slower; the modules are imported before the clock
//! starts), and the run ends with their pages/s and peak memory beside docwright's on the files
//! they read. Without such a Python the comparison is skipped with a notice.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)] // A benchmark prints and fails loudly.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use docwright_extract::{Options, PartKind, extract};
use nix::sys::resource::{UsageWho, getrusage};

const REPETITIONS: usize = 3;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    match args.first().map(String::as_str) {
        Some("--docwright") => return docwright_child(Path::new(&args[1])),
        Some("--poppler") => return poppler_child(Path::new(&args[1])),
        Some("--python") => return python_child(&args[1], Path::new(&args[2])),
        _ => {}
    }
    // `DOCWRIGHT_CORPUS` names the corpus root, as for the corpus test.
    let corpus = std::env::var_os("DOCWRIGHT_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"))
        .join("pdf");
    let Ok(entries) = std::fs::read_dir(&corpus) else {
        println!("pdf_throughput: corpus not found at {}, skipping", corpus.display());
        return;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("pdf")))
        .collect();
    files.sort();
    let poppler = Command::new("pdftotext").arg("-v").stderr(Stdio::null()).status().is_ok();
    if !poppler {
        println!("pdf_throughput: pdftotext (poppler-utils) is not installed; timing docwright only");
    }
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "PDF throughput, {} files from {}, best of {REPETITIONS} runs, {threads} cores\n",
        files.len(),
        corpus.display()
    );
    println!(
        "{:<34} {:>5} {:>9} {:>10} {:>10} {:>10} {:>6} {:>9} {:>9}",
        "file", "pages", "chars", "docwright", "pdftotext", "dw p/s", "ratio", "dw MiB", "pt MiB"
    );
    let (mut pages_total, mut dw_total, mut pt_total) = (0u64, Duration::ZERO, Duration::ZERO);
    // Per file that docwright read: its pages and docwright's best time, for the Python side.
    let mut read: Vec<(PathBuf, u64, Duration)> = Vec::new();
    let (mut dw_peak, mut pt_peak) = (0u64, 0u64);
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let dw = match run_child("--docwright", file) {
            Ok(dw) => dw,
            Err(reason) => {
                println!("{name:<34} skipped: {reason}");
                continue;
            }
        };
        let pt = if poppler { run_child("--poppler", file).ok() } else { None };
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
        let rate = dw.pages as f64 / dw.best.as_secs_f64();
        println!(
            "{:<34} {:>5} {:>9} {:>10} {:>10} {:>10.0} {:>6} {:>9.1} {:>9}",
            name,
            dw.pages,
            dw.chars,
            ms(dw.best),
            pt.as_ref().map_or("-".to_owned(), |pt| ms(pt.best)),
            rate,
            pt.as_ref().map_or("-".to_owned(), |pt| format!("{:.2}", pt.best.as_secs_f64() / dw.best.as_secs_f64())),
            dw.max_rss_kib as f64 / 1024.0,
            pt.as_ref().map_or("-".to_owned(), |pt| format!("{:.1}", pt.max_rss_kib as f64 / 1024.0)),
        );
        pages_total += dw.pages;
        dw_total += dw.best;
        read.push((file.clone(), dw.pages, dw.best));
        dw_peak = dw_peak.max(dw.max_rss_kib);
        if let Some(pt) = pt {
            pt_total += pt.best;
            pt_peak = pt_peak.max(pt.max_rss_kib);
        }
    }
    println!();
    let per_s = |d: Duration| pages_total as f64 / d.as_secs_f64();
    println!(
        "docwright: {pages_total} pages in {:.3} s = {:.0} pages/s, peak RSS {:.1} MiB",
        dw_total.as_secs_f64(),
        per_s(dw_total),
        dw_peak as f64 / 1024.0
    );
    if poppler && !pt_total.is_zero() {
        println!(
            "pdftotext: {pages_total} pages in {:.3} s = {:.0} pages/s, peak RSS {:.1} MiB",
            pt_total.as_secs_f64(),
            per_s(pt_total),
            pt_peak as f64 / 1024.0
        );
        println!("ratio docwright/pdftotext (pages/s): {:.2}", pt_total.as_secs_f64() / dw_total.as_secs_f64());
    }
    python_extractors(&read);
}

/// The Python extractors, by module name, and how each reads every page of `path` into `text`.
const PYTHON_EXTRACTORS: [(&str, &str, &str); 3] = [
    ("pymupdf", "PyMuPDF", "doc = pymupdf.open(path); text = [page.get_text() for page in doc]"),
    ("pypdf", "pypdf", "text = [page.extract_text() or '' for page in pypdf.PdfReader(path).pages]"),
    ("pdfminer", "pdfminer.six", "import pdfminer.high_level; text = [pdfminer.high_level.extract_text(path)]"),
];

/// The Python to run the extractors with, if there is one.
fn python() -> Option<PathBuf> {
    if let Some(python) = std::env::var_os("DOCWRIGHT_BENCH_PYTHON") {
        return Some(PathBuf::from(python));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let venv = target.join("bench-python/bin/python");
    venv.exists().then_some(venv)
}

/// Times each Python extractor that imports on the files docwright read, beside docwright.
fn python_extractors(read: &[(PathBuf, u64, Duration)]) {
    let Some(python) = python() else {
        println!("\nPython extractors: no Python with them found (run scripts/bench-python); skipped");
        return;
    };
    println!("\nPython extractors ({}), one run each, on the files docwright read:", python.display());
    for (module, name, _) in PYTHON_EXTRACTORS {
        let imports = Command::new(&python).args(["-c", &format!("import {module}")]).stderr(Stdio::null()).status();
        if !imports.is_ok_and(|s| s.success()) {
            println!("{name:<13} not installed; skipped");
            continue;
        }
        let (mut pages, mut took, mut dw_took, mut peak, mut failed) = (0u64, Duration::ZERO, Duration::ZERO, 0u64, 0);
        for (file, file_pages, dw_best) in read {
            let output = Command::new(std::env::current_exe().unwrap())
                .args(["--python", module])
                .arg(file)
                .stderr(Stdio::null())
                .output()
                .map_err(|e| e.to_string());
            let fields: Vec<u64> = output
                .map(|o| String::from_utf8_lossy(&o.stdout).split_whitespace().filter_map(|f| f.parse().ok()).collect())
                .unwrap_or_default();
            match fields[..] {
                [nanos, max_rss_kib] => {
                    pages += file_pages;
                    took += Duration::from_nanos(nanos);
                    dw_took += *dw_best;
                    peak = peak.max(max_rss_kib);
                }
                _ => failed += 1,
            }
        }
        if pages == 0 {
            println!("{name:<13} read none of the files");
            continue;
        }
        let rate = |d: Duration| pages as f64 / d.as_secs_f64();
        println!(
            "{name:<13} {pages} pages in {:.3} s = {:.0} pages/s, peak RSS {:.1} MiB{}; docwright {:.0} pages/s on the same files = {:.1}x",
            took.as_secs_f64(),
            rate(took),
            peak as f64 / 1024.0,
            if failed > 0 { format!(", failed on {failed} files") } else { String::new() },
            rate(dw_took),
            took.as_secs_f64() / dw_took.as_secs_f64(),
        );
    }
}

/// Runs one Python extractor on one file in a Python child and prints `nanos max_rss_kib`.
fn python_child(module: &str, file: &Path) {
    let Some((_, _, code)) = PYTHON_EXTRACTORS.iter().find(|(m, _, _)| *m == module) else { return };
    let script = format!(
        "import sys, time, {module}\npath = sys.argv[1]\nstarted = time.perf_counter()\n{code}\n\
         print(int((time.perf_counter() - started) * 1e9), sum(len(t) for t in text))"
    );
    let Some(python) = python() else { return };
    let Ok(output) = Command::new(python).args(["-c", &script]).arg(file).stderr(Stdio::null()).output() else {
        return;
    };
    let text = String::from_utf8_lossy(&output.stdout);
    if output.status.success()
        && let Some(nanos) = text.split_whitespace().next()
    {
        println!("{nanos} {}", max_rss_kib(UsageWho::RUSAGE_CHILDREN));
    }
}

/// One side's measurement of one file.
struct Measured {
    pages: u64,
    chars: u64,
    best: Duration,
    max_rss_kib: u64,
}

/// Runs this binary as a child measuring one side on one file; it prints
/// `pages chars best_nanos max_rss_kib` or `skip <reason>`.
fn run_child(side: &str, file: &Path) -> Result<Measured, String> {
    let output = Command::new(std::env::current_exe().unwrap())
        .arg(side)
        .arg(file)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().last().unwrap_or("").trim();
    if let Some(reason) = line.strip_prefix("skip ") {
        return Err(reason.to_owned());
    }
    let fields: Vec<u64> = line.split_whitespace().filter_map(|f| f.parse().ok()).collect();
    match fields[..] {
        [pages, chars, nanos, max_rss_kib] => {
            Ok(Measured { pages, chars, best: Duration::from_nanos(nanos), max_rss_kib })
        }
        _ => Err(format!("{side} child failed ({}): {line}", output.status)),
    }
}

fn docwright_child(file: &Path) {
    let mut best = Duration::MAX;
    let (mut pages, mut chars) = (0, 0);
    for _ in 0..REPETITIONS {
        let started = Instant::now();
        let result = extract(file, "application/pdf", "file.pdf", &Options::default());
        let took = started.elapsed();
        match result {
            Ok(extraction) => {
                pages = u64::from(extraction.units.unwrap_or(0));
                chars = extraction
                    .parts
                    .iter()
                    .filter(|p| p.kind == PartKind::Text)
                    .map(|p| p.text.chars().count() as u64)
                    .sum();
                best = best.min(took);
            }
            Err(e) => {
                println!("skip {} ({})", e.code(), e);
                return;
            }
        }
    }
    println!("{pages} {chars} {} {}", best.as_nanos(), max_rss_kib(UsageWho::RUSAGE_SELF));
}

fn poppler_child(file: &Path) {
    let mut best = Duration::MAX;
    for _ in 0..REPETITIONS {
        let started = Instant::now();
        let status = Command::new("pdftotext").arg(file).arg("-").stdout(Stdio::null()).stderr(Stdio::null()).status();
        let took = started.elapsed();
        match status {
            Ok(status) if status.success() => best = best.min(took),
            other => {
                println!("skip pdftotext: {other:?}");
                return;
            }
        }
    }
    println!("0 0 {} {}", best.as_nanos(), max_rss_kib(UsageWho::RUSAGE_CHILDREN));
}

/// Peak resident set in KiB (Linux reports `ru_maxrss` in KiB).
fn max_rss_kib(who: UsageWho) -> u64 {
    getrusage(who).map(|u| u64::try_from(u.max_rss()).unwrap_or(0)).unwrap_or(0)
}
