//! A whole sync of one CRM document to xAI, driven by `plan` over both fakes: the first
//! upload, an unchanged record, new bytes replacing the old file (never leaving a collection
//! without the document), a membership change, and the record's deletion.

use std::collections::BTreeSet;

use docwright_sync::espo::EspoClient;
use docwright_sync::plan::{self, Observed, StatusValues};
use docwright_sync::testing::{FakeEspo, FakeXai};
use docwright_sync::xai::XaiClient;
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use crate::obj;

fn text(record: &Map<String, Value>, key: &str) -> Option<String> {
    record.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One sync of `Document/{id}`, as a worker would do it; whether it uploaded.
async fn sync(crm: &EspoClient, xai: &XaiClient, fake: &FakeXai, id: &str) -> bool {
    let record = crm.get_entity("Document", id).await.unwrap().unwrap();
    let bytes = crm.download_attachment(&text(&record, "fileId").unwrap(), 1 << 20).await.unwrap();
    let sha256 = hex(&Sha256::digest(&bytes));
    let desired: BTreeSet<String> = crm
        .related("Document", id, "accounts", &["xaiCollectionId"])
        .await
        .unwrap()
        .iter()
        .filter_map(|a| text(a, "xaiCollectionId"))
        .collect();
    let observed = Observed {
        status: text(&record, "dateiStatus"),
        synced_hash: text(&record, "xaiSyncedHash"),
        xai_file_id: text(&record, "xaiFileId"),
        current_collections: record
            .get("xaiCollections")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|c| c.as_str().map(str::to_owned)).collect())
            .unwrap_or_default(),
    };
    let p = plan::decide(&observed, &sha256, &desired, &StatusValues::default());
    let file = if p.upload {
        xai.upload_file(&text(&record, "name").unwrap(), "text/plain", bytes).await.unwrap()
    } else {
        observed.xai_file_id.clone().unwrap()
    };
    for c in &p.add {
        xai.add_to_collection(c, &file).await.unwrap();
    }
    for c in &p.remove {
        xai.remove_from_collection(c, &file).await.unwrap();
    }
    if let Some(old) = &p.replace_old {
        for c in &p.remove_old {
            if desired.contains(c) {
                let members = fake.collection(c);
                assert!(members.contains(&file) && members.contains(old), "both are in {c} before the old one goes");
            }
            xai.remove_from_collection(c, old).await.unwrap();
        }
        xai.delete_file(old).await.unwrap();
    }
    let back = obj(json!({
        "dateiStatus": "Gesynct",
        "xaiFileId": file,
        "xaiSyncedHash": sha256,
        "xaiCollections": desired.iter().collect::<Vec<_>>(),
    }));
    crm.update_entity("Document", id, &back).await.unwrap();
    p.upload
}

fn put_document(espo: &FakeEspo, bytes: &[u8], status: &str) {
    let attachment = format!("att{}", hex(&Sha256::digest(bytes))[..12].to_owned());
    espo.put_attachment(&attachment, "r.txt", "text/plain", bytes);
    let mut record = espo.entity("Document", "doc1").unwrap_or_default();
    record.insert("name".into(), json!("Report.txt"));
    record.insert("fileId".into(), json!(attachment));
    record.insert("dateiStatus".into(), json!(status));
    espo.put_entity("Document", "doc1", record);
}

#[tokio::test]
async fn a_document_follows_its_record_into_xai() {
    let (espo, fake) = (FakeEspo::start().await, FakeXai::start().await);
    let (crm, xai) = (espo.client(), fake.client());
    fake.create_collection("col-acme");
    fake.create_collection("col-beta");
    espo.put_entity("Account", "acc1", obj(json!({"xaiCollectionId": "col-acme"})));
    espo.put_entity("Account", "acc2", obj(json!({"xaiCollectionId": "col-beta"})));
    put_document(&espo, b"first", "Neu");
    espo.link("Document", "doc1", "accounts", "Account", "acc1");

    assert!(sync(&crm, &xai, &fake, "doc1").await, "a new record is uploaded");
    let first = text(&espo.entity("Document", "doc1").unwrap(), "xaiFileId").unwrap();
    assert_eq!(fake.collection("col-acme"), BTreeSet::from([first.clone()]));
    assert_eq!(fake.file_bytes(&first).as_deref(), Some(&b"first"[..]));

    assert!(!sync(&crm, &xai, &fake, "doc1").await, "the same bytes are not uploaded again");
    assert_eq!(fake.uploads(), 1);

    put_document(&espo, b"second", "Gesynct");
    assert!(sync(&crm, &xai, &fake, "doc1").await, "new bytes are");
    let second = text(&espo.entity("Document", "doc1").unwrap(), "xaiFileId").unwrap();
    assert_ne!(second, first);
    assert_eq!(fake.collection("col-acme"), BTreeSet::from([second.clone()]));
    assert!(!fake.has_file(&first), "the old file is deleted");

    put_document(&espo, b"second", "Geändert");
    assert!(sync(&crm, &xai, &fake, "doc1").await, "the CRM asked for it");
    let third = text(&espo.entity("Document", "doc1").unwrap(), "xaiFileId").unwrap();
    assert_eq!(fake.uploads(), 3);

    espo.unlink("Document", "doc1", "accounts", "Account", "acc1");
    espo.link("Document", "doc1", "accounts", "Account", "acc2");
    assert!(!sync(&crm, &xai, &fake, "doc1").await, "a membership change uploads nothing");
    assert!(fake.collection("col-acme").is_empty());
    assert_eq!(fake.collection("col-beta"), BTreeSet::from([third.clone()]));

    let record = espo.entity("Document", "doc1").unwrap();
    espo.remove_entity("Document", "doc1");
    assert!(crm.get_entity("Document", "doc1").await.unwrap().is_none());
    let gone = plan::delete_plan(&BTreeSet::from(["col-beta".to_owned()]), text(&record, "xaiFileId").as_deref());
    for c in &gone.remove {
        xai.remove_from_collection(c, gone.delete_file.as_deref().unwrap()).await.unwrap();
    }
    xai.delete_file(gone.delete_file.as_deref().unwrap()).await.unwrap();
    assert!(fake.collection("col-beta").is_empty());
    assert!(!fake.has_file(&third));
}
