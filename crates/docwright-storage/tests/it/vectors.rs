//! Vectors of the search pieces: what is still to embed, storing (skipping pieces gone), the
//! project scan, the files a start catches up with, and vectors going with their part.

use docwright_core::id::{FileId, ProjectId, TenantId, UserId};
use docwright_core::rbac::bootstrap_rules;
use docwright_core::time::Timestamp;
use docwright_storage::Db;
use docwright_storage::files::{ExtractionEnd, FileRecord};
use docwright_storage::testing::text_part;

use crate::tenant;

both_databases!(pieces_get_vectors_once_and_lose_them_with_their_part);

async fn extracted(db: &Db, tenant: TenantId, texts: &[&str]) -> FileRecord {
    let f = FileRecord {
        id: FileId::new(),
        tenant_id: tenant,
        owner_id: UserId::new(),
        file_name: "notes.txt".into(),
        mime_type: "text/plain".into(),
        file_size: 10,
        sha256: format!("{:064x}", rand_u64()),
        md5: "5eb63bbbe01eeed093cb22bb8f5acdc3".into(),
        created_at: Timestamp::now(),
        extraction_status: "pending".into(),
        extraction: Default::default(),
        parent_file_id: None,
    };
    db.insert_file(&f).await.unwrap();
    let claimed = db.claim_extraction("p", Timestamp::now()).await.unwrap().unwrap();
    assert_eq!(claimed.id, f.id);
    let parts = texts.iter().enumerate().map(|(i, t)| text_part(f.id, i as u32, t)).collect();
    let end = ExtractionEnd::Done { parts, warnings: vec![], units: None };
    assert!(db.finish_extraction(tenant, f.id, "p", &end, None, Timestamp::now()).await.unwrap());
    db.file(tenant, f.id).await.unwrap().unwrap()
}

fn rand_u64() -> u64 {
    u64::from_le_bytes(uuid::Uuid::now_v7().as_bytes()[8..].try_into().unwrap())
}

async fn pieces_get_vectors_once_and_lose_them_with_their_part(db: Db) {
    let a = tenant("A");
    db.create_tenant(&a, &bootstrap_rules()).await.unwrap();
    // A part of 20,000 characters is three pieces (every 8,000); a short one is one.
    let long = "word ".repeat(4000);
    let f = extracted(&db, a.id, &[&long, "short text"]).await;
    let todo = db.pieces_to_embed(a.id, f.id, "m", 100).await.unwrap();
    assert_eq!(todo.iter().map(|p| p.piece).collect::<Vec<_>>(), vec![0, 1, 2, 0]);
    assert!(todo.iter().all(|p| p.text.chars().count() <= 8192));
    assert_eq!(db.pieces_to_embed(a.id, f.id, "m", 2).await.unwrap().len(), 2, "bounded");
    assert_eq!(db.files_missing_vectors("m", None, 10).await.unwrap().iter().map(|f| f.id).collect::<Vec<_>>(), [f.id]);

    let vectors: Vec<_> = todo.iter().map(|p| (p.part_id, p.piece, vec![p.piece as f32, 1.0, -0.5])).collect();
    assert_eq!(db.store_vectors(a.id, f.id, "m", &vectors).await.unwrap(), 4);
    assert_eq!(db.store_vectors(a.id, f.id, "m", &vectors).await.unwrap(), 0, "stored once");
    assert!(db.pieces_to_embed(a.id, f.id, "m", 100).await.unwrap().is_empty());
    assert_eq!(db.pieces_to_embed(a.id, f.id, "other-model", 100).await.unwrap().len(), 4, "per model");
    assert!(db.files_missing_vectors("m", None, 10).await.unwrap().is_empty());
    assert_eq!(db.vector_count(a.id, f.id, "m").await.unwrap(), 4);
    // Another tenant cannot store vectors for these pieces.
    let b = tenant("B");
    db.create_tenant(&b, &bootstrap_rules()).await.unwrap();
    assert_eq!(db.store_vectors(b.id, f.id, "other-model", &vectors).await.unwrap(), 0);

    // The project scan reads the vectors of files placed in the project only (the server's
    // tests place files and find them by meaning).
    assert!(db.project_vectors(a.id, ProjectId::new(), None, "m", 100).await.unwrap().is_empty());

    // A re-extraction replaces the parts: their vectors go with them.
    db.rerun_extraction(a.id, f.id).await.unwrap();
    let claimed = db.claim_extraction("p", Timestamp::now()).await.unwrap().unwrap();
    assert_eq!(claimed.id, f.id);
    let end = ExtractionEnd::Done { parts: vec![text_part(f.id, 0, "new text")], warnings: vec![], units: None };
    assert!(db.finish_extraction(a.id, f.id, "p", &end, None, Timestamp::now()).await.unwrap());
    assert_eq!(db.vector_count(a.id, f.id, "m").await.unwrap(), 0);
    assert_eq!(db.pieces_to_embed(a.id, f.id, "m", 100).await.unwrap().len(), 1);
    // A vector for a piece that is gone is skipped, not an error.
    assert_eq!(db.store_vectors(a.id, f.id, "m", &vectors).await.unwrap(), 0);
}
