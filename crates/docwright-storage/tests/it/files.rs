//! File records: insert and get per tenant, and delete telling whether the content is still
//! named by another record of the tenant.

use docwright_core::id::{FileId, TenantId, UserId};
use docwright_core::rbac::bootstrap_rules;
use docwright_core::time::Timestamp;
use docwright_storage::Db;
use docwright_storage::files::{Deleted, FileRecord};

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
    assert_eq!(db.delete_file(a.id, first.id).await.unwrap(), Some(still));
    assert_eq!(db.file(a.id, first.id).await.unwrap(), None);
    // The other tenant's record does not keep tenant A's blob.
    let last = Deleted { sha256: sha.into(), still_referenced: false };
    assert_eq!(db.delete_file(a.id, second.id).await.unwrap(), Some(last));
    assert!(!db.file_content_referenced(a.id, sha).await.unwrap());
    assert!(db.file_content_referenced(b.id, sha).await.unwrap());
}
