//! File records: insert and get per tenant, and delete telling whether the content is still
//! named by another record of the tenant.

use docwright_core::id::{FileId, TenantId, UserId};
use docwright_core::rbac::bootstrap_rules;
use docwright_core::time::Timestamp;
use docwright_storage::Db;
use docwright_storage::files::{Deleted, ExtractionEnd, FileRecord, PartRecord, Rerun};
use docwright_storage::testing::text_part;

use crate::tenant;

both_databases!(file_records_share_content_within_a_tenant_only);

fn record(tenant: TenantId, sha256: &str) -> FileRecord {
    FileRecord {
        id: FileId::new(),
        tenant_id: tenant,
        owner_id: UserId::new(),
        file_name: "report 2026.pdf".into(),
        mime_type: "application/pdf".into(),
        file_size: 5_000_000_000,
        sha256: sha256.into(),
        md5: "5eb63bbbe01eeed093cb22bb8f5acdc3".into(),
        created_at: Timestamp::now(),
        extraction_status: "pending".into(),
        extraction: Default::default(),
        parent_file_id: None,
    }
}

async fn file_records_share_content_within_a_tenant_only(db: Db) {
    let (a, b) = (tenant("A"), tenant("B"));
    db.create_tenant(&a, &bootstrap_rules()).await.unwrap();
    db.create_tenant(&b, &bootstrap_rules()).await.unwrap();
    let sha = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";
    let (first, second, elsewhere) = (record(a.id, sha), record(a.id, sha), record(b.id, sha));
    for r in [&first, &second, &elsewhere] {
        db.insert_file(r).await.unwrap();
    }
    assert_eq!(db.file(a.id, first.id).await.unwrap(), Some(first.clone()));
    assert_eq!(db.file(b.id, first.id).await.unwrap(), None, "another tenant's file is not there");
    assert_eq!(db.delete_file(b.id, first.id).await.unwrap(), None);

    let still = Deleted { sha256: sha.into(), still_referenced: true };
    assert_eq!(db.delete_file(a.id, first.id).await.unwrap(), Some(vec![still]));
    assert_eq!(db.file(a.id, first.id).await.unwrap(), None);
    // The other tenant's record does not keep tenant A's blob.
    let last = Deleted { sha256: sha.into(), still_referenced: false };
    assert_eq!(db.delete_file(a.id, second.id).await.unwrap(), Some(vec![last]));
    assert!(!db.file_content_referenced(a.id, sha).await.unwrap());
    assert!(db.file_content_referenced(b.id, sha).await.unwrap());
}

both_databases!(extraction_runs_as_a_claimed_job_and_replaces_parts);

fn part(file: FileId, seq: u32, text: &str, data: Option<&str>) -> PartRecord {
    let part = text_part(file, seq, text);
    match data {
        Some(sha) => PartRecord {
            type_group: "image".into(),
            mime_type: "image/png".into(),
            data_sha256: Some(sha.to_owned()),
            data_size: Some(3),
            ..part
        },
        None => part,
    }
}

async fn extraction_runs_as_a_claimed_job_and_replaces_parts(db: Db) {
    let a = tenant("A");
    db.create_tenant(&a, &bootstrap_rules()).await.unwrap();
    let f = record(a.id, "c0ffee");
    db.insert_file(&f).await.unwrap();
    let now = Timestamp::now();

    let claimed = db.claim_extraction("p1", now).await.unwrap().expect("the pending file is claimed");
    assert_eq!((claimed.id, claimed.extraction_status.as_str(), claimed.extraction.attempts), (f.id, "running", 1));
    assert_eq!(db.claim_extraction("p2", now).await.unwrap(), None, "a running file is not claimed twice");

    // A re-run while running takes the claim away: what that run finishes is discarded.
    assert_eq!(db.rerun_extraction(a.id, f.id).await.unwrap(), Rerun::Queued);
    let ignored = ExtractionEnd::Failed { code: "timed_out".into(), message: "late".into() };
    assert!(!db.finish_extraction(a.id, f.id, "p1", &ignored, None, now).await.unwrap());
    db.claim_extraction("p1", now).await.unwrap().expect("queued again");
    let parts = vec![part(f.id, 0, "first page", None), part(f.id, 1, "", Some("beef"))];
    let end = ExtractionEnd::Done { parts: parts.clone(), warnings: vec!["page 3 is damaged".into()], units: Some(2) };
    assert!(!db.finish_extraction(a.id, f.id, "p2", &end, None, now).await.unwrap(), "only the claimer finishes");
    assert!(db.finish_extraction(a.id, f.id, "p1", &end, Some("7hum6"), now).await.unwrap());
    let done = db.file(a.id, f.id).await.unwrap().unwrap();
    assert_eq!(done.extraction_status, "done");
    assert_eq!(done.extraction.warnings, vec!["page 3 is damaged".to_owned()]);
    assert_eq!((done.extraction.units, done.extraction.thumbnail_sha256.as_deref()), (Some(2), Some("7hum6")));
    assert_eq!(db.file_parts(a.id, f.id).await.unwrap(), parts);
    assert_eq!(db.file_part(a.id, f.id, parts[1].id).await.unwrap(), Some(parts[1].clone()));
    assert!(db.file_content_referenced(a.id, "beef").await.unwrap(), "an image part keeps its blob");

    // A re-run replaces the parts; a failure keeps none and says why.
    assert_eq!(db.rerun_extraction(a.id, f.id).await.unwrap(), Rerun::Queued);
    assert_eq!(db.rerun_extraction(a.id, FileId::new()).await.unwrap(), Rerun::NotFound);
    db.claim_extraction("p1", now).await.unwrap().unwrap();
    let failed = ExtractionEnd::Failed { code: "encrypted".into(), message: "the file is encrypted".into() };
    assert!(db.finish_extraction(a.id, f.id, "p1", &failed, None, now).await.unwrap());
    let f2 = db.file(a.id, f.id).await.unwrap().unwrap();
    assert_eq!(
        (f2.extraction_status.as_str(), f2.extraction.error.as_deref(), f2.extraction.thumbnail_sha256.as_deref()),
        ("failed", Some("encrypted"), Some("7hum6"))
    );
    assert!(db.file_parts(a.id, f.id).await.unwrap().is_empty());

    // A claimer that stops beating: its file goes back to pending, then fails after the attempts.
    db.rerun_extraction(a.id, f.id).await.unwrap();
    db.claim_extraction("dead", now).await.unwrap().unwrap();
    db.heartbeat("alive", now).await.unwrap();
    assert_eq!(db.requeue_orphaned_extractions(now, 2).await.unwrap(), (1, 0));
    db.claim_extraction("dead", now).await.unwrap().unwrap();
    assert_eq!(db.requeue_orphaned_extractions(now, 2).await.unwrap(), (0, 1));
    let lost = db.file(a.id, f.id).await.unwrap().unwrap();
    assert_eq!((lost.extraction_status.as_str(), lost.extraction.error.as_deref()), ("failed", Some("worker_lost")));

    // Deleting the file names every blob it held.
    db.rerun_extraction(a.id, f.id).await.unwrap();
    db.claim_extraction("p1", now).await.unwrap().unwrap();
    assert!(db.finish_extraction(a.id, f.id, "p1", &end, None, now).await.unwrap());
    let mut gone = db.delete_file(a.id, f.id).await.unwrap().unwrap();
    gone.sort_by(|x, y| x.sha256.cmp(&y.sha256));
    let shas: Vec<(&str, bool)> = gone.iter().map(|d| (d.sha256.as_str(), d.still_referenced)).collect();
    assert_eq!(shas, vec![("7hum6", false), ("beef", false), ("c0ffee", false)]);
    assert!(db.file_parts(a.id, f.id).await.unwrap().is_empty());
}
