//! The change decision of a sync towards xAI (SPEC Y2–Y4), pure: from what the CRM record and
//! the last sync say ([`Observed`]), the new content's SHA-256 and the collections the record
//! belongs in now, what to do ([`Plan`]) — upload or not, which collections to add and remove,
//! which old file a new upload replaces. [`delete_plan`] is the same for a record that is gone.
//!
//! The record's status decides too: "new", "changed" and "failed" upload even when the hash
//! is the one synced last. "Changed" with the same bytes uploads because the CRM's user asked
//! for it — the hash only knows the CRM's side, and a re-upload is how a user repairs a
//! document xAI lost or indexed badly. "Failed" uploads because after a failure the state on
//! xAI's side is unknown.

use std::collections::BTreeSet;

/// The values of the CRM's status field (`dateiStatus`). Default: EspoCRM's German labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusValues {
    pub new: String,
    pub changed: String,
    pub synced: String,
    pub failed: String,
}

impl Default for StatusValues {
    fn default() -> Self {
        Self { new: "Neu".into(), changed: "Geändert".into(), synced: "Gesynct".into(), failed: "Fehler".into() }
    }
}

/// What the record and the last sync say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// The record's status (`dateiStatus`).
    pub status: Option<String>,
    /// The content hash last synced to xAI (`xaiSyncedHash`), hex.
    pub synced_hash: Option<String>,
    /// The record's xAI file (`xaiFileId`).
    pub xai_file_id: Option<String>,
    /// The collections that file is in, as stored (`xaiCollections`).
    pub current_collections: BTreeSet<String>,
}

/// What a sync does, in this order:
///
/// 1. `upload`: upload the content as a new file (else keep [`Observed::xai_file_id`]);
/// 2. add the new or kept file to every collection of `add`;
/// 3. take the kept file out of every collection of `remove`;
/// 4. with `replace_old`: take the old file out of every collection of `remove_old`, then
///    delete it.
///
/// A changed file is uploaded and added before the old one is removed, so a collection is never
/// without the document; an interruption between the steps leaves the document twice (old and
/// new), never missing, and the next sync finishes the job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Upload the content: there is no file yet, the hash differs from the one synced, or the
    /// status is "new", "changed" or "failed".
    pub upload: bool,
    /// The collections to add the new or kept file to: every desired one when uploading, else
    /// those desired that it is not in.
    pub add: Vec<String>,
    /// The collections the kept file leaves: those it is in that are not desired. Empty when
    /// uploading (the old file leaves instead, see `remove_old`).
    pub remove: Vec<String>,
    /// When uploading over an existing file: that old file, to take out of `remove_old` and
    /// delete after the new one is in.
    pub replace_old: Option<String>,
    /// The collections the old file leaves: every current one (empty without `replace_old`).
    pub remove_old: Vec<String>,
    /// Nothing to do.
    pub unchanged: bool,
}

/// The plan for content hashed `sha256` that belongs in the `desired` collections.
pub fn decide(observed: &Observed, sha256: &str, desired: &BTreeSet<String>, status: &StatusValues) -> Plan {
    let status_is = |value: &str| observed.status.as_deref().is_some_and(|s| s.trim() == value.trim());
    let asked = status_is(&status.new) || status_is(&status.changed) || status_is(&status.failed);
    let same_bytes = observed.synced_hash.as_deref().is_some_and(|h| h.trim().eq_ignore_ascii_case(sha256.trim()));
    let upload = observed.xai_file_id.is_none() || !same_bytes || asked;
    if upload {
        let replace_old = observed.xai_file_id.clone();
        let remove_old =
            if replace_old.is_some() { observed.current_collections.iter().cloned().collect() } else { Vec::new() };
        return Plan {
            upload: true,
            add: desired.iter().cloned().collect(),
            remove: Vec::new(),
            replace_old,
            remove_old,
            unchanged: false,
        };
    }
    let add: Vec<String> = desired.difference(&observed.current_collections).cloned().collect();
    let remove: Vec<String> = observed.current_collections.difference(desired).cloned().collect();
    let unchanged = add.is_empty() && remove.is_empty();
    Plan { upload: false, add, remove, replace_old: None, remove_old: Vec::new(), unchanged }
}

/// What to do when the record is gone: its file out of every collection, then deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeletePlan {
    /// The collections the file leaves (empty without a file).
    pub remove: Vec<String>,
    /// The file to delete after that.
    pub delete_file: Option<String>,
}

/// The plan for a record that no longer exists.
pub fn delete_plan(current_collections: &BTreeSet<String>, xai_file_id: Option<&str>) -> DeletePlan {
    match xai_file_id {
        Some(file) => {
            DeletePlan { remove: current_collections.iter().cloned().collect(), delete_file: Some(file.to_owned()) }
        }
        None => DeletePlan::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn synced(hash: &str, collections: &[&str]) -> Observed {
        Observed {
            status: Some("Gesynct".into()),
            synced_hash: Some(hash.into()),
            xai_file_id: Some("file-1".into()),
            current_collections: set(collections),
        }
    }

    fn decide_default(o: &Observed, sha: &str, desired: &[&str]) -> Plan {
        decide(o, sha, &set(desired), &StatusValues::default())
    }

    #[test]
    fn a_new_record_is_uploaded_into_every_collection() {
        let p = decide_default(&Observed { status: Some("Neu".into()), ..Observed::default() }, "h1", &["a", "b"]);
        assert_eq!(
            p,
            Plan { upload: true, add: vec!["a".into(), "b".into()], ..Plan::default() },
            "no old file to replace"
        );
        // No file yet uploads whatever the status says.
        let p = decide_default(&Observed { status: Some("Gesynct".into()), ..Observed::default() }, "h1", &["a"]);
        assert!(p.upload);
    }

    #[test]
    fn the_same_bytes_upload_nothing() {
        let p = decide_default(&synced("h1", &["a"]), "h1", &["a"]);
        assert_eq!(p, Plan { unchanged: true, ..Plan::default() });
        let p = decide_default(&synced("ABC", &["a"]), "abc", &["a"]);
        assert!(p.unchanged, "hex in either case");
    }

    #[test]
    fn new_bytes_upload_again_and_replace_the_old_file_after_the_new_one_is_in() {
        let p = decide_default(&synced("h1", &["a", "old"]), "h2", &["a", "b"]);
        assert!(p.upload && !p.unchanged);
        assert_eq!(p.add, vec!["a", "b"]);
        assert!(p.remove.is_empty());
        assert_eq!(p.replace_old.as_deref(), Some("file-1"));
        assert_eq!(p.remove_old, vec!["a", "old"]);
    }

    #[test]
    fn a_membership_change_moves_the_kept_file() {
        let p = decide_default(&synced("h1", &["a", "b"]), "h1", &["b", "c"]);
        assert!(!p.upload && !p.unchanged);
        assert_eq!((p.add, p.remove), (vec!["c".to_owned()], vec!["a".to_owned()]));
        assert_eq!((p.replace_old, p.remove_old), (None, vec![]));
        let p = decide_default(&synced("h1", &["a"]), "h1", &[]);
        assert_eq!(p.remove, vec!["a"], "no collection wants it any more");
    }

    #[test]
    fn the_crm_asking_uploads_the_same_bytes_again() {
        let o = Observed { status: Some("Geändert".into()), ..synced("h1", &["a"]) };
        let p = decide_default(&o, "h1", &["a"]);
        assert!(p.upload);
        assert_eq!(p.replace_old.as_deref(), Some("file-1"));
        let o = Observed { status: Some("Neu".into()), ..synced("h1", &["a"]) };
        assert!(decide_default(&o, "h1", &["a"]).upload);
    }

    #[test]
    fn a_failed_sync_is_retried_with_an_upload() {
        let o = Observed { status: Some("Fehler".into()), ..synced("h1", &["a"]) };
        let p = decide_default(&o, "h1", &["a"]);
        assert!(p.upload);
        assert_eq!(p.add, vec!["a"]);
    }

    #[test]
    fn status_values_are_configurable() {
        let english = StatusValues {
            new: "New".into(),
            changed: "Changed".into(),
            synced: "Synced".into(),
            failed: "Failed".into(),
        };
        let o = Observed { status: Some("Changed".into()), ..synced("h1", &["a"]) };
        assert!(decide(&o, "h1", &set(&["a"]), &english).upload);
        let o = Observed { status: Some("Geändert".into()), ..synced("h1", &["a"]) };
        assert!(decide(&o, "h1", &set(&["a"]), &english).unchanged, "another language's value means nothing");
    }

    #[test]
    fn a_deleted_record_leaves_every_collection_and_its_file_goes() {
        let p = delete_plan(&set(&["a", "b"]), Some("file-1"));
        assert_eq!(p, DeletePlan { remove: vec!["a".into(), "b".into()], delete_file: Some("file-1".into()) });
        assert_eq!(delete_plan(&set(&["a"]), None), DeletePlan::default());
    }
}
