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
