//! The projects tree (clients, projects, nested folders, documents, results) and full-text
//! search over extracted parts, on both databases.

use docwright_core::id::{ClientId, DocumentId, FileId, FolderId, ProjectId, ResultId, TenantId, UserId};
use docwright_core::rbac::bootstrap_rules;
use docwright_core::time::Timestamp;
use docwright_storage::files::{ExtractionEnd, FileRecord, StoredRun};
use docwright_storage::projects::{
    Client, Document, DocumentPatch, DocumentResult, Folder, FolderPatch, FolderTree, MAX_FOLDER_DEPTH, Project,
    ProjectPatch, ResultFormat, Write,
};
use docwright_storage::search::{SearchHit, SearchQuery, search_terms};
use docwright_storage::testing::text_part;
use docwright_storage::{Db, Error, PageRequest};

use crate::tenant;

both_databases!(
    long_parts_are_searched_piece_by_piece,
    search_of_a_word_in_every_piece_ranks_a_part_by_its_first_pieces,
    parts_stored_in_batches_belong_to_their_claimed_run,
    clients_and_projects_are_tenant_scoped,
    folders_nest_move_and_refuse_cycles,
    documents_place_files_and_move,
    the_tree_nests_everything_in_order,
    results_are_kept_newest_first_and_go_with_their_document,
    search_ranks_marks_and_groups_per_file,
    search_stays_in_its_tenant_and_with_its_owner,
    hostile_queries_are_only_words,
    german_and_cyrillic_text_is_found,
    deleted_parts_leave_the_index,
);

async fn new_tenant(db: &Db, name: &str) -> TenantId {
    let t = tenant(name);
    db.create_tenant(&t, &bootstrap_rules()).await.unwrap();
    t.id
}

async fn client(db: &Db, tenant: TenantId, name: &str) -> ClientId {
    let c = Client { id: ClientId::new(), tenant_id: tenant, name: name.into(), created_at: Timestamp::now() };
    db.insert_client(&c).await.unwrap();
    c.id
}

async fn project(db: &Db, tenant: TenantId, client: ClientId, name: &str) -> ProjectId {
    let p = Project {
        id: ProjectId::new(),
        tenant_id: tenant,
        client_id: client,
        name: name.into(),
        description: None,
        created_at: Timestamp::now(),
    };
    assert_eq!(db.insert_project(&p).await.unwrap(), Write::Done);
    p.id
}

fn folder_row(tenant: TenantId, project: ProjectId, parent: Option<FolderId>, name: &str) -> Folder {
    Folder {
        id: FolderId::new(),
        tenant_id: tenant,
        project_id: project,
        parent_id: parent,
        name: name.into(),
        created_at: Timestamp::now(),
    }
}

async fn folder(db: &Db, tenant: TenantId, project: ProjectId, parent: Option<FolderId>, name: &str) -> FolderId {
    let f = folder_row(tenant, project, parent, name);
    assert_eq!(db.insert_folder(&f).await.unwrap(), Write::Done);
    f.id
}

fn document_row(tenant: TenantId, project: ProjectId, folder: Option<FolderId>, file: FileId, title: &str) -> Document {
    Document {
        id: DocumentId::new(),
        tenant_id: tenant,
        project_id: project,
        folder_id: folder,
        file_id: file,
        title: title.into(),
        created_at: Timestamp::now(),
    }
}

/// A file of `owner` whose extraction produced one text part per entry of `pages`.
pub(crate) async fn extracted_file(db: &Db, tenant: TenantId, owner: UserId, name: &str, pages: &[&str]) -> FileId {
    let f = FileRecord {
        id: FileId::new(),
        tenant_id: tenant,
        owner_id: owner,
        file_name: name.into(),
        mime_type: "application/pdf".into(),
        file_size: 1,
        sha256: format!("{:064x}", 1),
        md5: "0".repeat(32),
        created_at: Timestamp::now(),
        extraction_status: "pending".into(),
        extraction: Default::default(),
        parent_file_id: None,
    };
    db.insert_file(&f).await.unwrap();
    // Files are extracted as they come in, so the pending one claimed is this one.
    let claimed = db.claim_extraction("test", Timestamp::now()).await.unwrap().unwrap();
    assert_eq!(claimed.id, f.id);
    let parts = pages.iter().enumerate().map(|(i, text)| text_part(f.id, u32::try_from(i).unwrap(), text)).collect();
    let end = ExtractionEnd::Done { parts, warnings: vec![], units: Some(u32::try_from(pages.len()).unwrap()) };
    assert!(db.finish_extraction(tenant, f.id, "test", &end, None, Timestamp::now()).await.unwrap());
    f.id
}

async fn search(db: &Db, tenant: TenantId, q: &str, owner: Option<UserId>) -> Vec<SearchHit> {
    let terms = search_terms(q);
    db.search(tenant, &SearchQuery { terms: &terms, owner, limit: 100, offset: 0 }).await.unwrap().hits
}

fn snippet_hits(h: &SearchHit) -> Vec<String> {
    h.snippet.iter().filter(|p| p.hit).map(|p| p.text.clone()).collect()
}

async fn clients_and_projects_are_tenant_scoped(db: Db) {
    let (a, b) = (new_tenant(&db, "A").await, new_tenant(&db, "B").await);
    let acme = client(&db, a, "Acme").await;
    let dup = Client { id: ClientId::new(), tenant_id: a, name: "Acme".into(), created_at: Timestamp::now() };
    assert!(matches!(db.insert_client(&dup).await, Err(Error::Conflict(_))));
    // Another tenant may use the same name, and does not see A's client.
    client(&db, b, "Acme").await;
    assert!(db.client(b, acme).await.unwrap().is_none());
    assert!(!db.rename_client(b, acme, "Stolen").await.unwrap());
    assert!(db.rename_client(a, acme, "Acme AG").await.unwrap());
    assert_eq!(db.client(a, acme).await.unwrap().unwrap().name, "Acme AG");
    let globex = client(&db, a, "Globex").await;
    let page = db.clients(a, PageRequest { after: None, limit: 1 }).await.unwrap();
    assert_eq!((page.items[0].id, page.has_more), (acme, true));

    // A project needs a client of its own tenant.
    let p = project(&db, a, acme, "Audit").await;
    let foreign = Project {
        id: ProjectId::new(),
        tenant_id: b,
        client_id: acme,
        name: "X".into(),
        description: None,
        created_at: Timestamp::now(),
    };
    assert_eq!(db.insert_project(&foreign).await.unwrap(), Write::Missing("client"));
    let again = Project { id: ProjectId::new(), ..db.project(a, p).await.unwrap().unwrap() };
    assert!(matches!(db.insert_project(&again).await, Err(Error::Conflict(_))), "names are unique per client");
    let patch = ProjectPatch { description: Some(Some("2026".into())), client_id: Some(globex), ..Default::default() };
    assert_eq!(db.update_project(a, p, &patch).await.unwrap(), Write::Done);
    let moved = db.project(a, p).await.unwrap().unwrap();
    assert_eq!((moved.client_id, moved.description.as_deref(), moved.name.as_str()), (globex, Some("2026"), "Audit"));
    let to_b = ProjectPatch { client_id: Some(ClientId::new()), ..Default::default() };
    assert_eq!(db.update_project(a, p, &to_b).await.unwrap(), Write::Missing("client"));
    assert_eq!(db.update_project(b, p, &ProjectPatch::default()).await.unwrap(), Write::Missing("project"));
    assert!(db.project(b, p).await.unwrap().is_none());

    // Deleting a client takes its projects along, not other clients'.
    let kept = project(&db, a, acme, "Kept").await;
    assert!(!db.delete_client(b, globex).await.unwrap());
    assert!(db.delete_client(a, globex).await.unwrap());
    assert!(db.project(a, p).await.unwrap().is_none());
    assert!(db.project(a, kept).await.unwrap().is_some());
    assert!(!db.delete_project(b, kept).await.unwrap());
    assert!(db.delete_project(a, kept).await.unwrap());
}

async fn folders_nest_move_and_refuse_cycles(db: Db) {
    let (a, b) = (new_tenant(&db, "A").await, new_tenant(&db, "B").await);
    let c = client(&db, a, "C").await;
    let (p1, p2) = (project(&db, a, c, "P1").await, project(&db, a, c, "P2").await);
    let top = folder(&db, a, p1, None, "Top").await;
    let mid = folder(&db, a, p1, Some(top), "Mid").await;
    let leaf = folder(&db, a, p1, Some(mid), "Leaf").await;
    // Sibling names are unique, at the top of a project too; the same name elsewhere is fine.
    assert!(matches!(db.insert_folder(&folder_row(a, p1, None, "Top")).await, Err(Error::Conflict(_))));
    assert!(matches!(db.insert_folder(&folder_row(a, p1, Some(top), "Mid")).await, Err(Error::Conflict(_))));
    folder(&db, a, p1, Some(mid), "Top").await;
    folder(&db, a, p2, None, "Top").await;
    // The parent must be in the same project and tenant.
    assert_eq!(db.insert_folder(&folder_row(a, p2, Some(top), "X")).await.unwrap(), Write::ProjectMismatch);
    assert_eq!(db.insert_folder(&folder_row(b, p1, None, "X")).await.unwrap(), Write::Missing("project"));
    assert_eq!(
        db.insert_folder(&folder_row(a, p1, Some(FolderId::new()), "X")).await.unwrap(),
        Write::Missing("folder")
    );

    // Cycles: into itself, into a child, into a grandchild.
    for target in [top, mid, leaf] {
        let patch = FolderPatch { parent_id: Some(Some(target)), ..Default::default() };
        assert_eq!(db.update_folder(a, top, &patch).await.unwrap(), Write::Cycle, "into {target}");
    }
    assert_eq!(db.update_folder(b, top, &FolderPatch::default()).await.unwrap(), Write::Missing("folder"));
    // Up one level and renamed; then the subtree moves to another project with its documents.
    let up = FolderPatch { name: Some("Leaf up".into()), parent_id: Some(Some(top)), ..Default::default() };
    assert_eq!(db.update_folder(a, leaf, &up).await.unwrap(), Write::Done);
    let moved = db.folder(a, leaf).await.unwrap().unwrap();
    assert_eq!((moved.parent_id, moved.name.as_str()), (Some(top), "Leaf up"));
    let file = extracted_file(&db, a, UserId::new(), "in mid.pdf", &["text"]).await;
    let doc = document_row(a, p1, Some(mid), file, "In mid");
    assert_eq!(db.insert_document(&doc).await.unwrap(), Write::Done);
    let to_p2 = FolderPatch { project_id: Some(p2), ..Default::default() };
    assert!(matches!(db.update_folder(a, top, &to_p2).await, Err(Error::Conflict(_))), "P2 has a `Top` already");
    let to_p2 = FolderPatch { project_id: Some(p2), name: Some("From P1".into()), ..Default::default() };
    assert_eq!(db.update_folder(a, top, &to_p2).await.unwrap(), Write::Done);
    for f in [top, mid, leaf] {
        assert_eq!(db.folder(a, f).await.unwrap().unwrap().project_id, p2, "the subtree moved along");
    }
    assert_eq!(db.folder(a, top).await.unwrap().unwrap().parent_id, None, "at the top of the new project");
    assert_eq!(db.document(a, doc.id).await.unwrap().unwrap().project_id, p2, "its documents too");
    // A parent in one project and a project named that is another.
    let mismatch = FolderPatch { project_id: Some(p1), parent_id: Some(Some(mid)), ..Default::default() };
    assert_eq!(db.update_folder(a, leaf, &mismatch).await.unwrap(), Write::ProjectMismatch);

    // Nesting is bounded.
    let mut parent = None;
    let mut chain = Vec::new();
    for i in 0..MAX_FOLDER_DEPTH {
        let id = folder(&db, a, p1, parent, &format!("d{i}")).await;
        chain.push(id);
        parent = Some(id);
    }
    assert_eq!(db.insert_folder(&folder_row(a, p1, parent, "too deep")).await.unwrap(), Write::TooDeep);
    let under = FolderPatch { parent_id: Some(Some(chain[chain.len() - 2])), ..Default::default() };
    assert_eq!(db.update_folder(a, mid, &under).await.unwrap(), Write::TooDeep, "mid has a child: 2 levels");

    // Deleting a folder deletes what is in it, not the file.
    assert!(!db.delete_folder(b, top).await.unwrap());
    assert!(db.delete_folder(a, top).await.unwrap());
    assert!(db.folder(a, leaf).await.unwrap().is_none());
    assert!(db.document(a, doc.id).await.unwrap().is_none());
    assert!(db.file(a, file).await.unwrap().is_some());
}

async fn documents_place_files_and_move(db: Db) {
    let (a, b) = (new_tenant(&db, "A").await, new_tenant(&db, "B").await);
    let c = client(&db, a, "C").await;
    let (p1, p2) = (project(&db, a, c, "P1").await, project(&db, a, c, "P2").await);
    let f1 = folder(&db, a, p1, None, "F1").await;
    let f2 = folder(&db, a, p2, None, "F2").await;
    let file = extracted_file(&db, a, UserId::new(), "contract.pdf", &["text"]).await;
    let theirs = extracted_file(&db, b, UserId::new(), "theirs.pdf", &["text"]).await;

    let d1 = document_row(a, p1, Some(f1), file, "Contract");
    assert_eq!(db.insert_document(&d1).await.unwrap(), Write::Done);
    assert!(matches!(db.insert_document(&document_row(a, p1, None, file, "x")).await, Err(Error::Conflict(_))));
    // The same file in another project is fine.
    let d2 = document_row(a, p2, None, file, "Contract copy");
    assert_eq!(db.insert_document(&d2).await.unwrap(), Write::Done);
    assert_eq!(db.insert_document(&document_row(a, p1, None, theirs, "x")).await.unwrap(), Write::Missing("file"));
    assert_eq!(db.insert_document(&document_row(a, p1, Some(f2), file, "x")).await.unwrap(), Write::ProjectMismatch);
    assert_eq!(db.insert_document(&document_row(b, p1, None, theirs, "x")).await.unwrap(), Write::Missing("project"));

    // Moves: to the top, into a folder of another project (which implies that project).
    let top = DocumentPatch { folder_id: Some(None), title: Some("Contract 2026".into()), ..Default::default() };
    assert_eq!(db.update_document(a, d1.id, &top).await.unwrap(), Write::Done);
    let got = db.document(a, d1.id).await.unwrap().unwrap();
    assert_eq!((got.folder_id, got.title.as_str(), got.project_id), (None, "Contract 2026", p1));
    let into_f2 = DocumentPatch { folder_id: Some(Some(f2)), ..Default::default() };
    assert!(matches!(db.update_document(a, d1.id, &into_f2).await, Err(Error::Conflict(_))), "P2 has the file");
    assert!(db.delete_document(a, d2.id).await.unwrap());
    assert_eq!(db.update_document(a, d1.id, &into_f2).await.unwrap(), Write::Done);
    let got = db.document(a, d1.id).await.unwrap().unwrap();
    assert_eq!((got.project_id, got.folder_id), (p2, Some(f2)));
    let bad = DocumentPatch { project_id: Some(p1), folder_id: Some(Some(f2)), ..Default::default() };
    assert_eq!(db.update_document(a, d1.id, &bad).await.unwrap(), Write::ProjectMismatch);
    assert_eq!(db.update_document(b, d1.id, &DocumentPatch::default()).await.unwrap(), Write::Missing("document"));
    let placements = db.placements(a, &[file]).await.unwrap();
    assert_eq!(
        placements.iter().map(|p| (p.document_id, p.project_name.as_str())).collect::<Vec<_>>(),
        [(d1.id, "P2")]
    );
    assert!(db.placements(b, &[file]).await.unwrap().is_empty());

    // Deleting the file removes its placements.
    db.delete_file(a, file).await.unwrap();
    assert!(db.document(a, d1.id).await.unwrap().is_none());
    assert!(!db.delete_document(a, d1.id).await.unwrap());
}

async fn the_tree_nests_everything_in_order(db: Db) {
    let (a, b) = (new_tenant(&db, "A").await, new_tenant(&db, "B").await);
    let owner = UserId::new();
    let zeta = client(&db, a, "Zeta").await;
    let alpha = client(&db, a, "Alpha").await;
    client(&db, b, "Other tenant").await;
    let p = project(&db, a, alpha, "Project").await;
    project(&db, a, zeta, "Empty").await;
    let outer = folder(&db, a, p, None, "Outer").await;
    let inner = folder(&db, a, p, Some(outer), "Inner").await;
    let f1 = extracted_file(&db, a, owner, "top.pdf", &["x"]).await;
    let f2 = extracted_file(&db, a, owner, "deep.pdf", &["y"]).await;
    db.insert_document(&document_row(a, p, None, f1, "Top")).await.unwrap();
    db.insert_document(&document_row(a, p, Some(inner), f2, "Deep")).await.unwrap();

    let tree = db.tree(a, None).await.unwrap();
    let names: Vec<&str> = tree.iter().map(|c| c.client.name.as_str()).collect();
    assert_eq!(names, ["Alpha", "Zeta"], "the tenant's clients by name, not another tenant's");
    let pt = &tree[0].projects[0];
    assert_eq!(pt.project.id, p);
    assert_eq!(pt.documents.iter().map(|d| d.document.title.as_str()).collect::<Vec<_>>(), ["Top"]);
    assert_eq!(pt.documents[0].file_name, "top.pdf");
    assert_eq!(pt.documents[0].extraction_status, "done");
    let FolderTree { folder: o, folders: under_outer, documents: in_outer } = &pt.folders[0];
    assert_eq!((o.name.as_str(), in_outer.len()), ("Outer", 0));
    assert_eq!(under_outer[0].folder.name, "Inner");
    assert_eq!(under_outer[0].documents[0].file_name, "deep.pdf");
    assert_eq!(tree[1].projects[0].project.name, "Empty");

    let one = db.tree(a, Some(zeta)).await.unwrap();
    assert_eq!((one.len(), one[0].client.id), (1, zeta));
    assert!(db.tree(b, Some(alpha)).await.unwrap().is_empty());
}

async fn results_are_kept_newest_first_and_go_with_their_document(db: Db) {
    let (a, b) = (new_tenant(&db, "A").await, new_tenant(&db, "B").await);
    let c = client(&db, a, "C").await;
    let p = project(&db, a, c, "P").await;
    let file = extracted_file(&db, a, UserId::new(), "r.pdf", &["one", "two"]).await;
    let doc = document_row(a, p, None, file, "R");
    db.insert_document(&doc).await.unwrap();
    let result = |tenant, at: i64, format, content: &str| DocumentResult {
        id: ResultId::new(),
        tenant_id: tenant,
        document_id: doc.id,
        kind: "summary".into(),
        title: format!("at {at}"),
        format,
        content: content.into(),
        created_at: Timestamp::from_millis(at),
    };
    let old = result(a, 1_000, ResultFormat::Text, "short");
    let new = result(a, 2_000, ResultFormat::Json, r#"{"total": 3}"#);
    assert_eq!(db.insert_document_result(&old).await.unwrap(), Write::Done);
    assert_eq!(db.insert_document_result(&new).await.unwrap(), Write::Done);
    assert_eq!(
        db.insert_document_result(&result(b, 3_000, ResultFormat::Text, "x")).await.unwrap(),
        Write::Missing("document")
    );
    assert_eq!(db.document_results(a, doc.id).await.unwrap(), vec![new, old]);
    assert!(db.document_results(b, doc.id).await.unwrap().is_empty());
    assert_eq!(db.part_counts(a, file).await.unwrap(), vec![("text".to_owned(), 2)]);
    assert!(db.part_counts(b, file).await.unwrap().is_empty());
    db.delete_document(a, doc.id).await.unwrap();
    assert!(db.document_results(a, doc.id).await.unwrap().is_empty());
}

async fn search_ranks_marks_and_groups_per_file(db: Db) {
    let a = new_tenant(&db, "A").await;
    let owner = UserId::new();
    let once = extracted_file(&db, a, owner, "once.pdf", &["the invoice lists four items and a total sum"]).await;
    let thrice = extracted_file(
        &db,
        a,
        owner,
        "thrice.pdf",
        &["nothing here", "nothing here either", "invoice after invoice, the last invoice here"],
    )
    .await;
    extracted_file(&db, a, owner, "none.pdf", &["a letter about something else entirely"]).await;
    let c = client(&db, a, "C").await;
    let p = project(&db, a, c, "Accounts").await;
    let doc = document_row(a, p, None, thrice, "Invoices");
    db.insert_document(&doc).await.unwrap();

    let hits = search(&db, a, "INVOICE", None).await;
    assert_eq!(hits.iter().map(|h| h.file_id).collect::<Vec<_>>(), [thrice, once], "three mentions rank first");
    assert!(hits[0].score > hits[1].score);
    let best = &hits[0];
    assert_eq!((best.file_name.as_str(), best.page, best.seq, best.matching_parts), ("thrice.pdf", Some(3), 2, 1));
    assert_eq!(snippet_hits(best), ["invoice", "invoice", "invoice"]);
    let text: String = best.snippet.iter().map(|p| p.text.as_str()).collect();
    assert!(text.contains("the last invoice here"), "{text}");
    // Every term must occur.
    assert_eq!(search(&db, a, "invoice total", None).await.iter().map(|h| h.file_id).collect::<Vec<_>>(), [once]);
    assert!(search(&db, a, "invoice absent", None).await.is_empty());

    // Pages of one.
    let terms = search_terms("invoice");
    let page = |offset| SearchQuery { terms: &terms, owner: None, limit: 1, offset };
    let first = db.search(a, &page(0)).await.unwrap();
    let second = db.search(a, &page(1)).await.unwrap();
    assert_eq!((first.hits[0].file_id, first.has_more), (thrice, true));
    assert_eq!((second.hits[0].file_id, second.has_more), (once, false));
    // A file with several matching parts comes once, with its best part.
    let many = extracted_file(&db, a, owner, "many.pdf", &["invoice", "invoice invoice", "no"]).await;
    let hits = search(&db, a, "invoice", None).await;
    let m = hits.iter().filter(|h| h.file_id == many).collect::<Vec<_>>();
    assert_eq!((m.len(), m[0].matching_parts, m[0].page), (1, 2, Some(2)));
}

async fn search_stays_in_its_tenant_and_with_its_owner(db: Db) {
    let (a, b) = (new_tenant(&db, "A").await, new_tenant(&db, "B").await);
    let (ann, bob) = (UserId::new(), UserId::new());
    let anns = extracted_file(&db, a, ann, "ann.pdf", &["quarterly report"]).await;
    let bobs = extracted_file(&db, a, bob, "bob.pdf", &["quarterly report"]).await;
    let other = extracted_file(&db, b, ann, "other.pdf", &["quarterly report"]).await;
    let ids = |hits: Vec<SearchHit>| {
        let mut v: Vec<FileId> = hits.into_iter().map(|h| h.file_id).collect();
        v.sort();
        v
    };
    let mut both = vec![anns, bobs];
    both.sort();
    assert_eq!(ids(search(&db, a, "quarterly", None).await), both);
    assert_eq!(ids(search(&db, a, "quarterly", Some(ann)).await), [anns]);
    assert_eq!(ids(search(&db, b, "quarterly", None).await), [other]);
}

async fn hostile_queries_are_only_words(db: Db) {
    let a = new_tenant(&db, "A").await;
    let f = extracted_file(&db, a, UserId::new(), "q.pdf", &["foo bar baz and an OR between NEAR things"]).await;
    for q in [
        "foo\"bar OR (",
        "\"",
        "( ) AND NOT",
        "foo*",
        "bar^",
        "text: foo",
        "NEAR(foo bar)",
        "'; DROP TABLE files; --",
        "foo & | ! <-> :*",
        "\u{E000}foo\u{E001}",
        "-foo",
        "{foo}",
    ] {
        let terms = search_terms(q);
        let r = db.search(a, &SearchQuery { terms: &terms, owner: None, limit: 10, offset: 0 }).await;
        assert!(r.is_ok(), "{q:?}: {r:?}");
    }
    // Quotes and brackets are no syntax: the words in them are still found.
    assert_eq!(search(&db, a, "foo\"bar OR (", None).await.iter().map(|h| h.file_id).collect::<Vec<_>>(), [f]);
    assert_eq!(search(&db, a, "(foo bar)", None).await.len(), 1);
    assert!(db.file(a, f).await.unwrap().is_some());
}

async fn german_and_cyrillic_text_is_found(db: Db) {
    let a = new_tenant(&db, "A").await;
    let de = extracted_file(&db, a, UserId::new(), "rechnung.pdf", &["Die Rechnung für März über 300 Euro"]).await;
    let ru = extracted_file(&db, a, UserId::new(), "счёт.pdf", &["Счёт на оплату № 17 от 1 марта"]).await;
    for (q, want) in [("Rechnung", de), ("rechnung", de), ("März", de), ("счёт", ru), ("СЧЁТ оплату", ru)]
    {
        let hits = search(&db, a, q, None).await;
        assert_eq!(hits.iter().map(|h| h.file_id).collect::<Vec<_>>(), [want], "{q}");
        assert!(!snippet_hits(&hits[0]).is_empty(), "{q}: the match is marked");
    }
    let hits = search(&db, a, "счёт", None).await;
    // SQLite cuts snippets from the text as stored; PostgreSQL from the text with ё folded.
    let shown = if db.backend() == docwright_storage::Backend::Sqlite { "Счёт" } else { "Счет" };
    assert_eq!(snippet_hits(&hits[0]), [shown]);

    // ё and е are one letter to search: either spelling finds both.
    let plain = extracted_file(&db, a, UserId::new(), "счет-2.pdf", &["Еще один счет, без точек"]).await;
    for q in ["счет", "счёт", "СЧЕТ", "ещё"] {
        let mut found: Vec<_> = search(&db, a, q, None).await.iter().map(|h| h.file_id).collect();
        found.sort();
        let mut want = if q == "ещё" { vec![plain] } else { vec![ru, plain] };
        want.sort();
        assert_eq!(found, want, "{q}");
    }
}

async fn deleted_parts_leave_the_index(db: Db) {
    let a = new_tenant(&db, "A").await;
    let f = extracted_file(&db, a, UserId::new(), "gone.pdf", &["ephemeral words"]).await;
    let g = extracted_file(&db, a, UserId::new(), "stays.pdf", &["ephemeral words"]).await;
    assert_eq!(search(&db, a, "ephemeral", None).await.len(), 2);
    db.delete_file(a, f).await.unwrap();
    assert_eq!(search(&db, a, "ephemeral", None).await.iter().map(|h| h.file_id).collect::<Vec<_>>(), [g]);
    // A new extraction replaces the indexed text.
    db.rerun_extraction(a, g).await.unwrap();
    let claimed = db.claim_extraction("test", Timestamp::now()).await.unwrap().unwrap();
    assert_eq!(claimed.id, g);
    let end = ExtractionEnd::Failed { code: "timed_out".into(), message: "too slow".into() };
    db.finish_extraction(a, g, "test", &end, None, Timestamp::now()).await.unwrap();
    assert!(search(&db, a, "ephemeral", None).await.is_empty());
}

async fn long_parts_are_searched_piece_by_piece(db: Db) {
    use docwright_storage::files::{PIECE_CHARS, PIECE_STEP};
    let a = new_tenant(&db, "A").await;
    // A part of half a million characters of filler with a rare word deep inside it, one word
    // that straddles the first cut between pieces, and two words far apart.
    let filler = |n: usize| "lorem ipsum dolor sit amet ".repeat(n / 27 + 1)[..n].to_owned();
    let straddle = "Quintessenzbegriff";
    let mut text = filler(PIECE_STEP - 5);
    text.push(' ');
    text.push_str(straddle);
    text.push(' ');
    text.push_str(&filler(300_000));
    text.push_str(" zanzibarite ");
    text.push_str(&filler(200_000));
    text.push_str(" farawayword");
    assert!(text.len() > 60 * PIECE_CHARS);
    let f = extracted_file(&db, a, UserId::new(), "huge.csv", &[&text]).await;
    let hits = search(&db, a, "zanzibarite", None).await;
    assert_eq!(hits.iter().map(|h| h.file_id).collect::<Vec<_>>(), [f]);
    assert_eq!(snippet_hits(&hits[0]), ["zanzibarite"], "the snippet is cut around the match: {:?}", hits[0].snippet);
    let shown: usize = hits[0].snippet.iter().map(|p| p.text.chars().count()).sum();
    assert!(shown < 1000, "a snippet, not the part: {shown} characters");
    assert_eq!(search(&db, a, straddle, None).await.len(), 1, "a word at a cut is whole in one piece");
    // Every word must occur in one piece: these two are 200,000 characters apart.
    assert!(search(&db, a, "zanzibarite farawayword", None).await.is_empty());
    assert_eq!(search(&db, a, "farawayword", None).await.len(), 1);
}

async fn search_of_a_word_in_every_piece_ranks_a_part_by_its_first_pieces(db: Db) {
    use docwright_storage::files::PIECE_STEP;
    // Storage ranks the first 8 matching pieces of a part (search::RANKED_PIECES).
    const RANKED: usize = 8;
    let a = new_tenant(&db, "A").await;
    let owner = UserId::new();
    // 100 pieces, each with the word at its start, then a marker of its block; block 30 has
    // the word fifty times, which would make piece 30 the part's best if every piece were
    // ranked.
    let text: String = (0..100)
        .map(|i| {
            let mut block = format!("{}marker{i} ", "omnipresent ".repeat(if i == 30 { 50 } else { 1 }));
            while block.len() < PIECE_STEP {
                block.push_str("lorem ipsum dolor sit amet ");
            }
            block.truncate(PIECE_STEP);
            block
        })
        .collect();
    let huge = extracted_file(&db, a, owner, "huge.csv", &["an unrelated first page", &text]).await;
    let small = extracted_file(&db, a, owner, "small.pdf", &["omnipresent omnipresent omnipresent"]).await;
    let other = extracted_file(&db, a, UserId::new(), "other.pdf", &["an omnipresent word and a rarity"]).await;
    let ids = |hits: &[SearchHit]| hits.iter().map(|h| h.file_id).collect::<Vec<_>>();
    let sorted = |mut v: Vec<FileId>| {
        v.sort();
        v
    };

    let hits = search(&db, a, "omnipresent", None).await;
    assert_eq!(sorted(ids(&hits)), sorted(vec![huge, small, other]), "one hit per file");
    assert_eq!(ids(&hits)[0], small, "three mentions in a short text rank first");
    let h = hits.iter().find(|h| h.file_id == huge).unwrap();
    assert_eq!((h.seq, h.page, h.matching_parts), (1, Some(2), 1));
    assert!((h.piece as usize) < RANKED, "the best of the first pieces: {}", h.piece);
    assert!(!snippet_hits(h).is_empty() && snippet_hits(h).iter().all(|w| w == "omnipresent"), "{:?}", h.snippet);
    let shown: String = h.snippet.iter().map(|p| p.text.as_str()).collect();
    assert!(
        (0..=RANKED).any(|i| shown.contains(&format!("marker{i} "))),
        "the snippet is cut from one of the first pieces: {shown}"
    );
    // The owner's scope, every word in one piece, and words found deep in the part are as
    // before (block 77's start is in pieces 76 and 77).
    assert_eq!(sorted(ids(&search(&db, a, "omnipresent", Some(owner)).await)), sorted(vec![huge, small]));
    assert_eq!(ids(&search(&db, a, "omnipresent rarity", None).await), [other]);
    let deep = search(&db, a, "marker77", None).await;
    assert_eq!(ids(&deep), [huge]);
    assert!([76, 77].contains(&deep[0].piece), "{}", deep[0].piece);

    // Retrieval for a chat: one passage per part with any of the words, only the project's
    // files, of the owner when given.
    let c = client(&db, a, "C").await;
    let p = project(&db, a, c, "P").await;
    for f in [huge, other] {
        db.insert_document(&document_row(a, p, None, f, "doc")).await.unwrap();
    }
    let terms = search_terms("omnipresent rarity");
    let passages = db.search_passages(a, &terms, p, None, 10).await.unwrap();
    assert_eq!(sorted(passages.iter().map(|h| h.file_id).collect()), sorted(vec![huge, other]));
    let mine = db.search_passages(a, &terms, p, Some(owner), 10).await.unwrap();
    assert_eq!(mine.iter().map(|h| h.file_id).collect::<Vec<_>>(), [huge]);
}

async fn parts_stored_in_batches_belong_to_their_claimed_run(db: Db) {
    let a = new_tenant(&db, "A").await;
    let f = extracted_file(&db, a, UserId::new(), "batches.pdf", &["the previous run"]).await;
    db.rerun_extraction(a, f).await.unwrap();
    db.claim_extraction("p1", Timestamp::now()).await.unwrap().unwrap();
    let now = Timestamp::now();
    let batch = |from: u32| (from..from + 3).map(|i| text_part(f, i, &format!("batched page {i}"))).collect::<Vec<_>>();
    // The first batch replaces the earlier run's parts; the next ones add to it.
    assert!(db.store_parts(a, f, "p1", true, &batch(0), now).await.unwrap());
    assert!(search(&db, a, "previous", None).await.is_empty());
    assert!(db.store_parts(a, f, "p1", false, &batch(3), now).await.unwrap());
    assert!(!db.store_parts(a, f, "p2", false, &batch(6), now).await.unwrap(), "only the claimer stores");
    let warnings = ["w".to_owned()];
    let run = StoredRun { warnings: &warnings, units: Some(6), thumbnail_sha256: None };
    assert!(!db.finish_stored_extraction(a, f, "p2", &run, now).await.unwrap());
    assert!(db.finish_stored_extraction(a, f, "p1", &run, now).await.unwrap());
    let stored = db.file(a, f).await.unwrap().unwrap();
    assert_eq!((stored.extraction_status.as_str(), stored.extraction.units), ("done", Some(6)));
    let page = db.file_parts_page(a, f, None, 4).await.unwrap();
    assert_eq!((page.items.len(), page.has_more), (4, true));
    let rest = db.file_parts_page(a, f, page.items.last().map(|p| p.seq), 4).await.unwrap();
    assert_eq!(rest.items.iter().map(|p| p.seq).collect::<Vec<_>>(), [4, 5]);
    assert!(!rest.has_more);
    assert_eq!(search(&db, a, "batched", None).await[0].matching_parts, 6);

    // A run that lost its claim (a re-run took the file) stores nothing more.
    db.rerun_extraction(a, f).await.unwrap();
    db.claim_extraction("p2", Timestamp::now()).await.unwrap().unwrap();
    assert!(!db.store_parts(a, f, "p1", false, &batch(6), now).await.unwrap());
    assert!(db.store_parts(a, f, "p2", true, &batch(0)[..1], now).await.unwrap());
    assert_eq!(db.file_parts(a, f).await.unwrap().len(), 1);
}
