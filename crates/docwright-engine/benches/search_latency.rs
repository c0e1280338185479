//! Search latency (SPEC D4, issue 13): p50/p99 of `Db::search` over the extracted corpus and
//! over one 100 MB part, on SQLite and (with `DOCWRIGHT_TEST_POSTGRES_URL`) PostgreSQL, in one
//! run. Beside them, on SQLite, what one snippet of a whole part cost before migration 0010
//! (FTS5 `snippet()` over the part's entire text) for a part of a few hundred kilobytes — the
//! 100 MB part would not finish in that form.
//!
//! `cargo bench -p docwright-engine --bench search_latency`. The corpus is `../shared/corpus`
//! (or `DOCWRIGHT_CORPUS`); without one, only the 100 MB part is measured.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // A benchmark binary.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use docwright_core::id::{FileId, PartId, TenantId, UserId};
use docwright_core::name::TenantName;
use docwright_core::rbac::bootstrap_rules;
use docwright_core::time::Timestamp;
use docwright_storage::files::{ExtractionEnd, FileRecord, PartRecord};
use docwright_storage::search::{SearchQuery, search_terms};
use docwright_storage::tenants::Tenant;
use docwright_storage::testing::TestDb;
use docwright_storage::{Backend, Db};

/// Size of the big part.
const BIG_PART_BYTES: usize = 100 << 20;
/// Queries per measurement.
const QUERIES: usize = 200;

fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("DOCWRIGHT_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"));
    dir.is_dir().then_some(dir)
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

fn part(file: FileId, seq: u32, text: String) -> PartRecord {
    PartRecord {
        id: PartId::new(),
        file_id: file,
        seq,
        type_group: "text".into(),
        mime_type: "text/plain".into(),
        label: Some("page".into()),
        level: None,
        text,
        rows_json: None,
        method: "text".into(),
        page: Some(seq + 1),
        slide: None,
        sheet: None,
        row_start: None,
        row_end: None,
        data_sha256: None,
        data_size: None,
    }
}

/// Stores a file with these part texts as an extraction done.
async fn store(db: &Db, tenant: TenantId, name: &str, texts: Vec<String>) {
    let f = FileRecord {
        id: FileId::new(),
        tenant_id: tenant,
        owner_id: UserId::new(),
        file_name: name.into(),
        mime_type: "text/plain".into(),
        file_size: 1,
        sha256: format!("{:064x}", 1),
        md5: "0".repeat(32),
        created_at: Timestamp::now(),
        extraction_status: "pending".into(),
        extraction: Default::default(),
        parent_file_id: None,
    };
    db.insert_file(&f).await.unwrap();
    let claimed = db.claim_extraction("bench", Timestamp::now()).await.unwrap().unwrap();
    assert_eq!(claimed.id, f.id);
    let parts = texts.into_iter().enumerate().map(|(i, t)| part(f.id, i as u32, t)).collect();
    let end = ExtractionEnd::Done { parts, warnings: vec![], units: None };
    assert!(db.finish_extraction(tenant, f.id, "bench", &end, None, Timestamp::now()).await.unwrap());
}

/// p50 and p99 of the queries' latencies.
async fn latencies(db: &Db, tenant: TenantId, queries: &[String]) -> (Duration, Duration, usize) {
    let mut times = Vec::with_capacity(queries.len());
    let mut hits = 0;
    for q in queries {
        let terms = search_terms(q);
        let started = Instant::now();
        let page = db.search(tenant, &SearchQuery { terms: &terms, owner: None, limit: 20, offset: 0 }).await.unwrap();
        times.push(started.elapsed());
        hits += page.hits.len();
    }
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
    (at(0.50), at(0.99), hits)
}

/// Deterministic word choice: every `step`-th distinct word of at least five letters.
fn sample_words(texts: &[String], n: usize) -> Vec<String> {
    let mut words: Vec<String> = texts
        .iter()
        .flat_map(|t| t.split(|c: char| !c.is_alphabetic()))
        .filter(|w| w.chars().count() >= 5)
        .map(str::to_lowercase)
        .collect();
    words.sort();
    words.dedup();
    let step = (words.len() / n).max(1);
    words.into_iter().step_by(step).take(n).collect()
}

/// A one-line "CSV" of `bytes` bytes: numbered cells of a few thousand distinct words, each
/// with the word `row` (a word that occurs everywhere, as a column name does in a sheet), and
/// a rare word every ten megabytes.
fn big_text(bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + 64);
    let mut i: u64 = 0;
    while out.len() < bytes {
        let w = i.wrapping_mul(2_654_435_761) % 5000;
        out.push_str(&format!("row cell{w},{i};"));
        if i.is_multiple_of(400_000) {
            out.push_str(&format!("rareword{} ", i / 400_000));
        }
        i += 1;
    }
    out
}

async fn bench(backend: Backend, corpus: &[String]) {
    let Some(test_db) = TestDb::fresh(backend).await else {
        println!("{}: skipped (set DOCWRIGHT_TEST_POSTGRES_URL)", backend.as_str());
        return;
    };
    let db = Db::connect(test_db.url(), 4).await.unwrap();
    db.migrate().await.unwrap();
    let tenant =
        Tenant { id: TenantId::new(), name: TenantName::parse("Bench").unwrap(), created_at: Timestamp::now() };
    db.create_tenant(&tenant, &bootstrap_rules()).await.unwrap();

    if !corpus.is_empty() {
        let started = Instant::now();
        for (i, text) in corpus.chunks(64).enumerate() {
            store(&db, tenant.id, &format!("corpus-{i}"), text.to_vec()).await;
        }
        let chars: usize = corpus.iter().map(|t| t.chars().count()).sum();
        println!(
            "{}: corpus of {} parts ({:.1} M characters) stored in {:.1?}",
            backend.as_str(),
            corpus.len(),
            chars as f64 / 1e6,
            started.elapsed()
        );
        let words = sample_words(corpus, QUERIES);
        let (p50, p99, hits) = latencies(&db, tenant.id, &words).await;
        println!(
            "{}: corpus search, {} one-word queries: p50 {:.2} ms, p99 {:.2} ms ({hits} hits)",
            backend.as_str(),
            words.len(),
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }

    let started = Instant::now();
    store(&db, tenant.id, "big.csv", vec![big_text(BIG_PART_BYTES)]).await;
    println!("{}: one part of {} MB stored in {:.1?}", backend.as_str(), BIG_PART_BYTES >> 20, started.elapsed());
    let queries: Vec<String> = (0..QUERIES)
        .map(|i| match i % 5 {
            0 => format!("rareword{}", i % 10),
            1 => format!("cell{}", (i * 37) % 5000),
            2 => format!("cell{} cell{}", (i * 13) % 5000, (i * 7) % 5000),
            3 => "row".to_owned(),
            _ => "absentword".to_owned(),
        })
        .collect();
    let report = |when: &str, (p50, p99, hits): (Duration, Duration, usize)| {
        println!(
            "{}: search with a {} MB part{when}, {} queries (rare, common, two common, everywhere, absent words): \
             p50 {:.2} ms, p99 {:.2} ms ({hits} hits)",
            backend.as_str(),
            BIG_PART_BYTES >> 20,
            queries.len(),
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    };
    report("", latencies(&db, tenant.id, &queries).await);
    if backend == Backend::Postgres {
        // Right after a bulk insert the planner has no statistics of the new rows and reads
        // every piece; autovacuum's ANALYZE soon gives them. Both are shown.
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(test_db.url()).await.unwrap();
        sqlx::query("ANALYZE file_part_pieces").execute(&pool).await.unwrap();
        pool.close().await;
        report(" (after ANALYZE)", latencies(&db, tenant.id, &queries).await);
    }
    db.close().await;

    if backend == Backend::Sqlite {
        before_0010(&test_db).await;
    }
}

/// The snippet of a whole part as search made it before migration 0010: an FTS5 table over
/// whole texts and `snippet()` on one match, for parts of growing size.
async fn before_0010(test_db: &TestDb) {
    use sqlx::Executor as _;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(test_db.url()).await.unwrap();
    pool.execute("CREATE VIRTUAL TABLE old_fts USING fts5(text, tokenize = 'unicode61 remove_diacritics 2')")
        .await
        .unwrap();
    for kib in [64usize, 128, 256, 512] {
        let mut text = big_text(kib << 10);
        text.push_str(" needleword");
        sqlx::query("DELETE FROM old_fts").execute(&pool).await.unwrap();
        sqlx::query("INSERT INTO old_fts (text) VALUES ($1)").bind(text).execute(&pool).await.unwrap();
        let started = Instant::now();
        let _: String =
            sqlx::query_scalar("SELECT snippet(old_fts, 0, '[', ']', '…', 24) FROM old_fts WHERE old_fts MATCH 'row'")
                .fetch_one(&pool)
                .await
                .unwrap();
        println!(
            "sqlite: before 0010, one snippet of a whole {kib} KiB part (a word in every cell): {:.1} ms",
            started.elapsed().as_secs_f64() * 1e3
        );
    }
    pool.close().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let corpus: Vec<String> = match corpus_dir() {
        Some(dir) => {
            let mut texts = Vec::new();
            for path in files_under(&dir) {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                let head = std::fs::read(&path).unwrap();
                let head = &head[..head.len().min(8192)];
                let mime = docwright_engine::blobs::sniff_content(head, || std::fs::File::open(&path).ok());
                if let Ok(x) = docwright_extract::extract(&path, mime, &name, &docwright_extract::Options::default()) {
                    texts.extend(x.parts.into_iter().map(|p| p.text).filter(|t| !t.is_empty()));
                }
            }
            texts
        }
        None => {
            println!("corpus: none at ../shared/corpus or DOCWRIGHT_CORPUS; only the 100 MB part is measured");
            Vec::new()
        }
    };
    for backend in [Backend::Sqlite, Backend::Postgres] {
        bench(backend, &corpus).await;
    }
}
