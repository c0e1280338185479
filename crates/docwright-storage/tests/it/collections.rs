//! Collections (SPEC Y3): CRUD, members checked in their tenant, idempotent adds, cascades,
//! the sync's insert-or-get by external key under concurrency, and search and retrieval scoped
//! to a collection's files, on both databases.

use docwright_core::id::{CollectionId, FileId, TenantId, UserId};
use docwright_core::rbac::bootstrap_rules;
use docwright_core::time::Timestamp;
use docwright_storage::collections::{Collection, CollectionPatch, MemberWrite};
use docwright_storage::search::{FileScope, SearchQuery, search_terms};
use docwright_storage::{Db, PageRequest};

use crate::projects::extracted_file;
use crate::tenant;

both_databases!(
    collections_hold_files_of_their_tenant,
    ensure_by_key_makes_one_collection_under_concurrency,
    search_and_retrieval_stay_in_the_collection,
);

async fn new_tenant(db: &Db, name: &str) -> TenantId {
    let t = tenant(name);
    db.create_tenant(&t, &bootstrap_rules()).await.unwrap();
    t.id
}

async fn collection(db: &Db, tenant: TenantId, name: &str) -> CollectionId {
    let now = Timestamp::now();
    let c = Collection {
        id: CollectionId::new(),
        tenant_id: tenant,
        name: name.into(),
        description: None,
        external_key: None,
        created_by: None,
        created_at: now,
        updated_at: now,
        file_count: 0,
    };
    db.insert_collection(&c).await.unwrap();
    c.id
}

const ALL: PageRequest<'static> = PageRequest { after: None, limit: 100 };

async fn collections_hold_files_of_their_tenant(db: Db) {
    let (a, b) = (new_tenant(&db, "A").await, new_tenant(&db, "B").await);
    let owner = UserId::new();
    let f1 = extracted_file(&db, a, owner, "one.pdf", &["alpha"]).await;
    let f2 = extracted_file(&db, a, owner, "two.pdf", &["beta"]).await;
    let foreign = extracted_file(&db, b, owner, "b.pdf", &["gamma"]).await;
    let c = collection(&db, a, "Contracts").await;
    let same_name = collection(&db, a, "Contracts").await;
    assert_ne!(c, same_name, "names are not unique");
    let now = Timestamp::now();

    assert_eq!(db.add_collection_member(a, c, f1, now).await.unwrap(), MemberWrite::Added);
    assert_eq!(db.add_collection_member(a, c, f1, now).await.unwrap(), MemberWrite::AlreadyMember);
    assert_eq!(db.add_collection_member(a, c, f2, now).await.unwrap(), MemberWrite::Added);
    assert_eq!(db.add_collection_member(a, c, foreign, now).await.unwrap(), MemberWrite::Missing("file"));
    assert_eq!(db.add_collection_member(b, c, foreign, now).await.unwrap(), MemberWrite::Missing("collection"));
    assert_eq!(db.add_collection_member(a, c, FileId::new(), now).await.unwrap(), MemberWrite::Missing("file"));

    let got = db.collection(a, c).await.unwrap().unwrap();
    assert_eq!((got.name.as_str(), got.file_count), ("Contracts", 2));
    assert!(db.collection(b, c).await.unwrap().is_none(), "invisible from tenant B");
    let page = db.collection_members(a, c, PageRequest { after: None, limit: 1 }).await.unwrap();
    assert!(page.has_more);
    assert_eq!(page.items[0].file_id, f1);
    assert_eq!((page.items[0].file_name.as_str(), page.items[0].extraction_status.as_str()), ("one.pdf", "done"));
    let after = f1.to_string();
    let rest = db.collection_members(a, c, PageRequest { after: Some(&after), limit: 1 }).await.unwrap();
    assert_eq!((rest.items.iter().map(|m| m.file_id).collect::<Vec<_>>(), rest.has_more), (vec![f2], false));
    assert!(db.collection_members(b, c, ALL).await.unwrap().items.is_empty());
    assert_eq!(db.collections_of_file(a, f1).await.unwrap().iter().map(|c| c.id).collect::<Vec<_>>(), [c]);
    assert_eq!(db.collection_member(a, c, f2).await.unwrap().map(|m| m.file_id), Some(f2));
    assert!(db.collection_member(b, c, f2).await.unwrap().is_none());

    let patch = CollectionPatch { name: Some("Verträge".into()), description: Some(Some("signed".into())) };
    assert!(db.update_collection(a, c, &patch, now).await.unwrap());
    assert!(!db.update_collection(b, c, &patch, now).await.unwrap());
    let renamed = db.collection(a, c).await.unwrap().unwrap();
    assert_eq!((renamed.name.as_str(), renamed.description.as_deref()), ("Verträge", Some("signed")));
    // A patch without the description keeps it; `Some(None)` clears it.
    let only_name = CollectionPatch { name: Some("V".into()), description: None };
    assert!(db.update_collection(a, c, &only_name, now).await.unwrap());
    assert_eq!(db.collection(a, c).await.unwrap().unwrap().description.as_deref(), Some("signed"));
    let clear = CollectionPatch { name: None, description: Some(None) };
    assert!(db.update_collection(a, c, &clear, now).await.unwrap());
    let cleared = db.collection(a, c).await.unwrap().unwrap();
    assert_eq!((cleared.name.as_str(), cleared.description), ("V", None));

    let listed = db.collections(a, ALL).await.unwrap();
    assert_eq!(listed.items.iter().map(|c| c.id).collect::<Vec<_>>(), [c, same_name]);
    assert!(db.collections(b, ALL).await.unwrap().items.is_empty());

    assert!(!db.remove_collection_member(b, c, f2, now).await.unwrap(), "not from another tenant");
    assert!(db.remove_collection_member(a, c, f2, now).await.unwrap());
    assert!(!db.remove_collection_member(a, c, f2, now).await.unwrap(), "gone already");
    // Deleting a file drops its memberships; deleting a collection drops the rest.
    db.add_collection_member(a, same_name, f1, now).await.unwrap();
    db.delete_file(a, f1).await.unwrap().unwrap();
    assert_eq!(db.collection(a, c).await.unwrap().unwrap().file_count, 0);
    db.add_collection_member(a, c, f2, now).await.unwrap();
    assert!(!db.delete_collection(b, c).await.unwrap());
    assert!(db.delete_collection(a, c).await.unwrap());
    assert!(db.collection(a, c).await.unwrap().is_none());
    assert!(db.collections_of_file(a, f2).await.unwrap().is_empty());
    assert!(db.collection_members(a, c, ALL).await.unwrap().items.is_empty());
}

async fn ensure_by_key_makes_one_collection_under_concurrency(db: Db) {
    let (a, b) = (new_tenant(&db, "A").await, new_tenant(&db, "B").await);
    let ids = futures_util::future::join_all((0..8).map(|i| {
        let db = db.clone();
        async move { db.ensure_collection_by_key(a, "espo:acc1", &format!("ACME {i}")).await.unwrap() }
    }))
    .await;
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let c = db.collection_by_key(a, "espo:acc1").await.unwrap().unwrap();
    assert_eq!((c.id, c.external_key.as_deref(), c.created_by), (ids[0], Some("espo:acc1"), None));
    assert_eq!(db.collections(a, ALL).await.unwrap().items.len(), 1);
    // Keys are per tenant; another key is another collection.
    let other_tenant = db.ensure_collection_by_key(b, "espo:acc1", "ACME").await.unwrap();
    assert_ne!(other_tenant, ids[0]);
    assert_ne!(db.ensure_collection_by_key(a, "espo:acc2", "Beta").await.unwrap(), ids[0]);
    assert_eq!(db.ensure_collection_by_key(a, "espo:acc1", "renamed").await.unwrap(), ids[0]);
}

async fn search_and_retrieval_stay_in_the_collection(db: Db) {
    let a = new_tenant(&db, "A").await;
    let owner = UserId::new();
    let inside = extracted_file(&db, a, owner, "in.pdf", &["the quarterly invoice of ACME"]).await;
    let outside = extracted_file(&db, a, owner, "out.pdf", &["another invoice, not in it"]).await;
    let c = collection(&db, a, "C").await;
    db.add_collection_member(a, c, inside, Timestamp::now()).await.unwrap();

    let terms = search_terms("invoice");
    let q = SearchQuery { terms: &terms, owner: None, limit: 10, offset: 0 };
    let all = db.search_in(a, &q, None).await.unwrap();
    assert_eq!(all.hits.len(), 2);
    let scoped = db.search_in(a, &q, Some(FileScope::Collection(c))).await.unwrap();
    assert_eq!(scoped.hits.iter().map(|h| h.file_id).collect::<Vec<_>>(), [inside]);
    assert!(!scoped.hits[0].snippet.is_empty());
    let other = db.search_in(a, &q, Some(FileScope::Collection(CollectionId::new()))).await.unwrap();
    assert!(other.hits.is_empty());

    let passages = db.search_passages(a, &search_terms("invoice ACME"), c, None, 10).await.unwrap();
    assert_eq!(passages.iter().map(|h| h.file_id).collect::<Vec<_>>(), [inside]);
    assert!(db.search_passages(a, &terms, c, Some(UserId::new()), 10).await.unwrap().is_empty());
    let _ = outside;
    assert!(db.scope_vectors(a, FileScope::Collection(c), None, "m", 10).await.unwrap().is_empty());
}
