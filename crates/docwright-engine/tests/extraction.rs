//! Extraction through the engine, with no server around it: the worker loop is driven by hand
//! (`extract_next`), so the test decides exactly which file is extracted when.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use docwright_config::Config;
use docwright_core::time::Timestamp;
use docwright_engine::admin::{NewUser, perms};
use docwright_engine::blobs::LocalBlobs;
use docwright_engine::extraction::{ExtractionSettings, FILE_UPDATE};
use docwright_engine::files::{FILE_CREATE, FILE_READ, FileSettings};
use docwright_engine::{Ctx, Engine};
use docwright_storage::Backend;
use docwright_storage::files::{ExtractionEnd, FileRecord};
use docwright_storage::testing::{TestDb, text_part};

mod common;

use common::{TOKEN, login};

struct Setup {
    engine: Engine,
    admin: Ctx,
    _db: TestDb,
    _blobs: tempfile::TempDir,
}

async fn setup(backend: Backend) -> Option<Setup> {
    let (engine, db) = common::bootstrapped(backend, &Config::default()).await?;
    let blobs = tempfile::tempdir().unwrap();
    let engine = engine
        .with_files(FileSettings { blobs: LocalBlobs::new(blobs.path()), max_upload_bytes: 1 << 20 })
        .with_extraction(ExtractionSettings::default());
    let sysadmin = login(&engine, TOKEN, None).await;
    let grant = engine.authorize(sysadmin, perms::TENANT_CREATE).await.unwrap();
    let acme = engine.create_tenant(&grant, "Acme").await.unwrap().id;
    let sys_in_acme = login(&engine, TOKEN, Some(acme)).await;
    let grant = engine.authorize(sys_in_acme.clone(), perms::USER_CREATE).await.unwrap();
    let new = NewUser { display_name: "Acme admin".into(), email: None, role: "admin".into() };
    let user = engine.create_user(&grant, new).await.unwrap().user.id;
    let grant = engine.authorize(sys_in_acme, perms::STATIC_TOKEN_CREATE).await.unwrap();
    let token = engine.issue_static_token(&grant, user, "login").await.unwrap().secret;
    let admin = login(&engine, token.expose(), Some(acme)).await;
    Some(Setup { engine, admin, _db: db, _blobs: blobs })
}

impl Setup {
    async fn upload(&self, name: &str, bytes: &'static [u8]) -> FileRecord {
        let grant = self.engine.authorize(self.admin.clone(), FILE_CREATE).await.unwrap();
        let body = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(bytes))]);
        self.engine.upload_file(&grant, name, body).await.unwrap()
    }

    /// Runs the next pending extraction and answers the file as stored afterwards.
    async fn extract_next(&self) -> FileRecord {
        self.engine.extract_next().await.unwrap().expect("a pending file")
    }

    async fn texts(&self, file: &FileRecord) -> Vec<String> {
        let grant = self.engine.authorize(self.admin.clone(), FILE_READ).await.unwrap();
        self.engine.file_parts(&grant, file.id).await.unwrap().parts.into_iter().map(|p| p.text).collect()
    }
}

const WORDS: &[u8] = b"plain words, to be read once";

async fn equal_content_takes_over_an_earlier_extraction(backend: Backend) {
    let Some(s) = setup(backend).await else { return };
    let first = s.upload("first.txt", WORDS).await;
    let done = s.extract_next().await;
    assert_eq!((done.id, done.extraction_status.as_str()), (first.id, "done"));
    assert_eq!(s.texts(&first).await, ["plain words, to be read once"]);
    let thumbnail = done.extraction.thumbnail_sha256.clone().expect("a preview");

    // Mark the first file's parts, so that a copy can be told from a fresh run.
    let db = s.engine.db();
    assert_eq!(db.rerun_extraction(first.tenant_id, first.id).await.unwrap(), docwright_storage::files::Rerun::Queued);
    let claimed = db.claim_extraction("test", Timestamp::now()).await.unwrap().unwrap();
    assert_eq!(claimed.id, first.id);
    let marked = ExtractionEnd::Done {
        parts: vec![text_part(first.id, 0, "as read before")],
        warnings: vec!["a warning of the first run".into()],
        units: Some(1),
    };
    assert!(
        db.finish_extraction(first.tenant_id, first.id, "test", &marked, Some(&thumbnail), Timestamp::now())
            .await
            .unwrap()
    );

    // The same bytes under another name: taken over, parts (new ids), warnings and preview.
    let second = s.upload("second.txt", WORDS).await;
    let taken = s.extract_next().await;
    assert_eq!((taken.id, taken.extraction_status.as_str()), (second.id, "done"));
    assert_eq!(s.texts(&second).await, ["as read before"]);
    assert_eq!(taken.extraction.warnings, ["a warning of the first run"]);
    assert_eq!(taken.extraction.thumbnail_sha256.as_deref(), Some(thumbnail.as_str()));
    let (a, b) = (
        db.file_parts(first.tenant_id, first.id).await.unwrap(),
        db.file_parts(second.tenant_id, second.id).await.unwrap(),
    );
    assert_ne!(a[0].id, b[0].id);
    assert_eq!(b[0].file_id, second.id);

    // An explicit re-run reads the file itself.
    let grant = s.engine.authorize(s.admin.clone(), FILE_UPDATE).await.unwrap();
    s.engine.rerun_extraction(&grant, second.id).await.unwrap();
    let rerun = s.extract_next().await;
    assert_eq!(rerun.id, second.id);
    assert_eq!(s.texts(&second).await, ["plain words, to be read once"]);

    // Deleting the first file keeps the preview the second one names.
    let grant = s.engine.authorize(s.admin.clone(), docwright_engine::files::FILE_DELETE).await.unwrap();
    s.engine.delete_file(&grant, first.id).await.unwrap();
    let grant = s.engine.authorize(s.admin.clone(), FILE_READ).await.unwrap();
    assert!(s.engine.file_thumbnail(&grant, second.id).await.is_ok());

    // Other bytes are extracted for real.
    let other = s.upload("other.txt", b"something else entirely").await;
    s.extract_next().await;
    assert_eq!(s.texts(&other).await, ["something else entirely"]);
}

both_databases!(equal_content_takes_over_an_earlier_extraction);
