//! Peak memory of extraction (SPEC N2, issue 13): for the corpus' 619-page PDF and 872-page
//! DOCX, a generated XLSX of 1,000,000 rows and a generated 50 MB CSV, the peak resident set of
//! the server side (upload, the parts streamed into the database, the parts read back a page at
//! a time as `GET /files/{id}/parts` reads them) and of the extraction worker process.
//!
//! `cargo bench -p docwright-engine --bench peak_rss`. Each file runs in a child process of its
//! own (this binary again, `--one <file>`), which is the server: an engine on a fresh SQLite
//! database with process isolation, whose worker is this binary once more
//! (`extract-worker <job>`, exactly what `docwright extract-worker` runs), on SQLite and, with
//! `DOCWRIGHT_TEST_POSTGRES_URL`, PostgreSQL (the server's figure includes an embedded SQLite's
//! own memory, not PostgreSQL's, which is another process). The child reports its
//! own high-water mark (`VmHWM`, reset after start-up so the figure is the file's, with the
//! start-up resident set beside it) and its children's `ru_maxrss`, the worker's. The HTTP layer
//! is not in the figure; it holds one page of parts at a time. The corpus is
//! `../shared/corpus` (or `DOCWRIGHT_CORPUS`); without it the two corpus files are skipped with a
//! notice. The generated files are kept in the target's temporary folder between runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // A benchmark binary.

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use docwright_config::Config;
use docwright_engine::blobs::LocalBlobs;
use docwright_engine::extraction::{ExtractionSettings, Runner};
use docwright_engine::files::{FILE_CREATE, FILE_READ, FileSettings};
use docwright_storage::Backend;

#[path = "../tests/common/mod.rs"]
mod common;

/// Rows of the generated workbook.
const XLSX_ROWS: u32 = 1_000_000;
/// Size of the generated CSV.
const CSV_BYTES: usize = 50 << 20;
/// Parts read per page when reading them back (the route's largest page).
const PAGE: u32 = 100;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    match args.first().map(String::as_str) {
        Some("extract-worker") => std::process::exit(docwright_engine::preview::worker_main(Path::new(&args[1]))),
        Some("--one") => {
            return one(Path::new(&args[1]), if args[2] == "postgres" { Backend::Postgres } else { Backend::Sqlite });
        }
        _ => {}
    }
    let mut files = Vec::new();
    let corpus = std::env::var_os("DOCWRIGHT_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"));
    if corpus.is_dir() {
        files.push(corpus.join("pdf/DA-619p.pdf"));
        files.push(corpus.join("handbook-872p.docx"));
    } else {
        println!("peak_rss: corpus not found at {}, skipping its PDF and DOCX", corpus.display());
    }
    let generated = Path::new(env!("CARGO_TARGET_TMPDIR")).join("peak_rss");
    std::fs::create_dir_all(&generated).unwrap();
    files.push(generated_xlsx(&generated.join("rows-1m.xlsx")));
    files.push(generated_csv(&generated.join("rows-50mb.csv")));

    let mut backends = vec!["sqlite"];
    if std::env::var_os("DOCWRIGHT_TEST_POSTGRES_URL").is_some() {
        backends.push("postgres");
    } else {
        println!("peak_rss: DOCWRIGHT_TEST_POSTGRES_URL is not set, measuring SQLite only");
    }
    println!("Peak resident memory of extraction, one child process per file (MiB)\n");
    println!(
        "{:<20} {:<9} {:>8} {:>6} {:>7} {:>11} {:>14} {:>14} {:>11}",
        "file",
        "database",
        "size MiB",
        "parts",
        "seconds",
        "server idle",
        "server extract",
        "server reading",
        "worker peak"
    );
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        for backend in &backends {
            let out =
                Command::new(std::env::current_exe().unwrap()).arg("--one").arg(&file).arg(backend).output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            match stdout.lines().find_map(|l| l.strip_prefix("RESULT ")) {
                Some(result) => {
                    let f: Vec<&str> = result.split_whitespace().collect();
                    println!(
                        "{name:<20} {backend:<9} {:>8} {:>6} {:>7} {:>11} {:>14} {:>14} {:>11}",
                        f[0], f[1], f[2], f[3], f[4], f[5], f[6]
                    );
                }
                None => println!(
                    "{name:<20} {backend:<9} failed: {}{}",
                    stdout.trim(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            }
        }
    }
}

/// One file through upload, extraction in a worker process, and reading its parts back.
fn one(file: &Path, backend: Backend) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let (engine, _db) = common::bootstrapped(backend, &Config::default()).await.unwrap();
        let blobs = tempfile::tempdir().unwrap();
        let settings = ExtractionSettings {
            runner: Runner::Process { program: std::env::current_exe().unwrap() },
            timeout: std::time::Duration::from_secs(1800),
            max_memory_bytes: 8 << 30,
            ..ExtractionSettings::default()
        };
        let engine = engine
            .with_files(FileSettings { blobs: LocalBlobs::new(blobs.path()), max_upload_bytes: 1 << 30 })
            .with_extraction(settings);
        let admin = common::login(&engine, common::TOKEN, None).await;
        let idle = status_kib("VmRSS");
        // From here on the high-water mark is this file's.
        std::fs::write("/proc/self/clear_refs", "5").unwrap();
        let started = Instant::now();

        let grant = engine.authorize(admin.clone(), FILE_CREATE).await.unwrap();
        let mut reader = std::fs::File::open(file).unwrap();
        let body = futures_util::stream::iter(std::iter::from_fn(move || {
            let mut chunk = vec![0u8; 1 << 20];
            let n = reader.read(&mut chunk).unwrap();
            (n > 0).then(|| {
                chunk.truncate(n);
                Ok::<_, std::io::Error>(bytes::Bytes::from(chunk))
            })
        }));
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        engine.upload_file(&grant, &name, body).await.unwrap();
        let done = engine.extract_next().await.unwrap().expect("the uploaded file is pending");
        assert_eq!(done.extraction_status, "done", "{name}: {:?}", done.extraction);

        let extract_peak = status_kib("VmHWM");
        // The reading back is measured on its own.
        std::fs::write("/proc/self/clear_refs", "5").unwrap();
        let grant = engine.authorize(admin, FILE_READ).await.unwrap();
        let (file_record, _) = engine.file_with_attachments(&grant, done.id).await.unwrap();
        let (mut parts, mut after) = (0usize, None);
        loop {
            let page = engine.parts_after(&grant, &file_record, after, PAGE).await.unwrap();
            parts += page.items.len();
            after = page.items.last().map(|p| p.id);
            if !page.has_more {
                break;
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        let read_peak = status_kib("VmHWM");
        let worker_peak =
            nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).unwrap().max_rss() as u64;
        let size = std::fs::metadata(file).unwrap().len();
        println!(
            "RESULT {:.1} {parts} {seconds:.1} {:.0} {:.0} {:.0} {:.0}",
            size as f64 / f64::from(1 << 20),
            idle as f64 / 1024.0,
            extract_peak as f64 / 1024.0,
            read_peak as f64 / 1024.0,
            worker_peak as f64 / 1024.0,
        );
    });
}

/// A field of /proc/self/status in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A workbook of [`XLSX_ROWS`] rows of five cells (two strings, three numbers), written as a
/// stream of XML into a zip, once.
fn generated_xlsx(path: &Path) -> PathBuf {
    if path.exists() {
        return path.to_owned();
    }
    let part = |zip: &mut zip::ZipWriter<BufWriter<std::fs::File>>, name: &str, body: &str| {
        zip.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(body.as_bytes()).unwrap();
    };
    let tmp = path.with_extension("partial");
    let mut zip = zip::ZipWriter::new(BufWriter::new(std::fs::File::create(&tmp).unwrap()));
    part(
        &mut zip,
        "[Content_Types].xml",
        r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#,
    );
    part(
        &mut zip,
        "_rels/.rels",
        r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
    );
    part(
        &mut zip,
        "xl/workbook.xml",
        r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Rows" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
    );
    part(
        &mut zip,
        "xl/_rels/workbook.xml.rels",
        r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#,
    );
    zip.start_file("xl/worksheets/sheet1.xml", zip::write::SimpleFileOptions::default()).unwrap();
    zip.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#).unwrap();
    for r in 1..=XLSX_ROWS {
        write!(
            zip,
            r#"<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>item {r}</t></is></c><c r="B{r}" t="inlineStr"><is><t>{}</t></is></c><c r="C{r}"><v>{}</v></c><c r="D{r}"><v>{}.25</v></c><c r="E{r}"><v>{}</v></c></row>"#,
            WORDS[r as usize % WORDS.len()],
            r * 7,
            r % 1000,
            r % 97
        )
        .unwrap();
    }
    zip.write_all(b"</sheetData></worksheet>").unwrap();
    zip.finish().unwrap().flush().unwrap();
    std::fs::rename(&tmp, path).unwrap();
    path.to_owned()
}

/// A CSV of [`CSV_BYTES`] in rows of six fields, once.
fn generated_csv(path: &Path) -> PathBuf {
    if path.exists() {
        return path.to_owned();
    }
    let tmp = path.with_extension("partial");
    let mut out = BufWriter::new(std::fs::File::create(&tmp).unwrap());
    let mut written = 0usize;
    let header = "id,name,city,amount,date,note\n";
    out.write_all(header.as_bytes()).unwrap();
    written += header.len();
    let mut i = 0usize;
    while written < CSV_BYTES {
        let line = format!(
            "{i},{} {},{},{}.{:02},2024-{:02}-{:02},\"{}, {} and {}\"\n",
            WORDS[i % WORDS.len()],
            WORDS[(i / 7) % WORDS.len()],
            WORDS[(i / 3) % WORDS.len()],
            i % 10_000,
            i % 100,
            i % 12 + 1,
            i % 28 + 1,
            WORDS[(i / 11) % WORDS.len()],
            WORDS[(i / 13) % WORDS.len()],
            WORDS[(i / 17) % WORDS.len()],
        );
        out.write_all(line.as_bytes()).unwrap();
        written += line.len();
        i += 1;
    }
    out.flush().unwrap();
    drop(out);
    std::fs::rename(&tmp, path).unwrap();
    path.to_owned()
}

const WORDS: &[&str] = &[
    "alpha", "berlin", "copper", "delta", "ember", "fjord", "granite", "harbour", "indigo", "juniper", "kestrel",
    "lantern", "meadow", "nickel", "orchard", "pepper", "quartz", "river", "saffron", "timber", "umber", "violet",
    "willow", "xenon", "yarrow", "zephyr",
];
