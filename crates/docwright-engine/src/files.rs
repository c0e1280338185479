//! Uploaded files (SPEC D1): upload, record, content, delete — tenant-scoped, and for users
//! with level `my` limited to the files they uploaded.
//!
//! An upload streams into the blob store chunk by chunk (hashed as it goes) and stops at the
//! configured size limit. It is made durable, then the record is written, then the blob is
//! moved into place with no await in between, so a request cancelled after the insert still
//! gets its blob. A delete that finds the tenant's last record of some content gone removes the
//! blob through [`Engine::release_blob`], which asks again after setting it aside, so an upload
//! of the same content racing with it keeps its bytes.

use docwright_core::id::{FileId, TenantId, UserId};
use docwright_core::rbac::{Action, Permission};
use docwright_core::time::Timestamp;
use docwright_storage::files::FileRecord;
use futures_util::{Stream, StreamExt as _};

use crate::blobs::{BlobReader, BlobStore, BlobUpload as _, LocalBlobs, sniff_content, store_error};
use crate::{Engine, Error, Grant, Result};

/// The RBAC item of uploaded files (a member of the `data.` family).
pub const FILE_ITEM: &str = "data.document.File";
pub const FILE_CREATE: Permission = Permission::new(FILE_ITEM, Action::Create);
pub const FILE_READ: Permission = Permission::new(FILE_ITEM, Action::Read);
pub const FILE_DELETE: Permission = Permission::new(FILE_ITEM, Action::Delete);

/// Default of `storage.max_upload_bytes`.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 100 * 1024 * 1024;

const MAX_NAME_CHARS: usize = 255;

/// Where files go and how large they may be.
#[derive(Debug, Clone)]
pub struct FileSettings {
    pub blobs: LocalBlobs,
    pub max_upload_bytes: u64,
}

/// How an upload failed to arrive.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The content is larger than `storage.max_upload_bytes`.
    #[error("the file is larger than the upload limit of {limit} bytes")]
    TooLarge { limit: u64 },
    /// The request body broke off or was malformed.
    #[error("the upload could not be read: {0}")]
    Body(String),
    #[error(transparent)]
    Engine(#[from] Error),
}

impl Engine {
    /// With this blob store and upload limit (else uploads are refused as an internal error).
    pub fn with_files(mut self, files: FileSettings) -> Self {
        self.files = Some(std::sync::Arc::new(files));
        self
    }

    pub(crate) fn file_settings(&self) -> Result<&FileSettings> {
        self.files.as_deref().ok_or_else(|| Error::Internal("no blob store configured".into()))
    }

    /// The upload limit in bytes.
    pub fn max_upload_bytes(&self) -> u64 {
        self.files.as_ref().map_or(DEFAULT_MAX_UPLOAD_BYTES, |f| f.max_upload_bytes)
    }

    /// Stores an uploaded file: streams `content` to the blob store while hashing it, detects
    /// its type from its first bytes and writes its record. Over the limit, nothing is kept.
    pub async fn upload_file<S, E>(
        &self,
        grant: &Grant,
        file_name: &str,
        mut content: S,
    ) -> std::result::Result<FileRecord, UploadError>
    where
        S: Stream<Item = std::result::Result<bytes::Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        grant.expect(FILE_CREATE)?;
        let file_name = checked_name(file_name)?;
        let settings = self.file_settings()?;
        let limit = settings.max_upload_bytes;
        let mut upload = settings.blobs.begin().await.map_err(store_error)?;
        let mut size = 0u64;
        while let Some(chunk) = content.next().await {
            let chunk = chunk.map_err(|e| UploadError::Body(e.to_string()))?;
            size += chunk.len() as u64;
            if size > limit {
                // Dropping the upload removes its temporary file.
                return Err(UploadError::TooLarge { limit });
            }
            upload.write(&chunk).await.map_err(store_error)?;
        }
        upload.finish().await.map_err(store_error)?;
        let written = upload.summary();
        // A zip is opened to see what package it is: blocking file reads, off the runtime.
        let file = upload.open_written();
        let head = written.head.clone();
        let mime = tokio::task::spawn_blocking(move || sniff_content(&head, || file))
            .await
            .map_err(|e| Error::Internal(format!("type detection: {e}")))?;
        let ctx = grant.ctx();
        let record = new_record(ctx.tenant, ctx.user(), file_name, mime, written, None);
        self.db.insert_file(&record).await.map_err(Error::from)?;
        if let Err(e) = settings.blobs.commit(ctx.tenant, upload).await {
            let _ = self.db.delete_file(ctx.tenant, record.id).await;
            return Err(store_error(e).into());
        }
        self.extraction.wake();
        Ok(record)
    }

    /// A file's record: the tenant's for a tenant-wide grant, else only the caller's own.
    pub async fn file(&self, grant: &Grant, id: FileId) -> Result<FileRecord> {
        grant.expect(FILE_READ)?;
        self.visible_file(grant, id).await
    }

    /// A byte range of a file's content (`range` within its size).
    pub async fn file_content(
        &self,
        grant: &Grant,
        file: &FileRecord,
        range: std::ops::Range<u64>,
    ) -> Result<BlobReader> {
        grant.expect(FILE_READ)?;
        check_visible(grant, file)?;
        self.read_blob(file.tenant_id, &file.sha256, range).await
    }

    /// A byte range of a blob that a record names: its absence is an internal error.
    pub(crate) async fn read_blob(
        &self,
        tenant: TenantId,
        sha256: &str,
        range: std::ops::Range<u64>,
    ) -> Result<BlobReader> {
        self.file_settings()?.blobs.read(tenant, sha256, range).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::Internal(format!("blob {sha256} is missing")),
            _ => store_error(e),
        })
    }

    /// Deletes a file's record and its parts, and each blob it named (content, thumbnail, image
    /// parts) that no other record of the tenant names.
    pub async fn delete_file(&self, grant: &Grant, id: FileId) -> Result<()> {
        grant.expect(FILE_DELETE)?;
        let tenant = grant.ctx().tenant;
        self.visible_file(grant, id).await?;
        let Some(blobs) = self.db.delete_file(tenant, id).await? else { return Err(Error::NotFound("file")) };
        for deleted in blobs.into_iter().filter(|d| !d.still_referenced) {
            self.release_blob(tenant, &deleted.sha256).await?;
        }
        Ok(())
    }

    /// Takes back a file that `grant` has just uploaded, when the request it came in is refused
    /// after all (a form with more than the file): its record, its parts and every blob no
    /// other record names. Only its uploader's grant does this, and needs no delete permission.
    pub async fn discard_upload(&self, grant: &Grant, file: &FileRecord) -> Result<()> {
        grant.expect(FILE_CREATE)?;
        let ctx = grant.ctx();
        if file.tenant_id != ctx.tenant || file.owner_id != ctx.user() {
            return Err(Error::NotFound("file"));
        }
        for deleted in self.db.delete_file(ctx.tenant, file.id).await?.unwrap_or_default() {
            if !deleted.still_referenced {
                self.release_blob(ctx.tenant, &deleted.sha256).await?;
            }
        }
        Ok(())
    }

    /// Removes a blob of `tenant` that no record names. Asking the database and removing cannot
    /// be one step, so the blob is set aside first and the database asked again: a record that
    /// came to name the same bytes in between (an upload of equal content, another file's
    /// preview icon) gets them back. Writers put their blob in place after their record is
    /// written (uploads), or check it is still there afterwards ([`Engine::keep_blob`]); either
    /// way every record keeps its bytes.
    pub(crate) async fn release_blob(&self, tenant: TenantId, sha256: &str) -> Result<()> {
        let referenced = move || async move { Ok(self.db.file_content_referenced(tenant, sha256).await?) };
        release(&self.file_settings()?.blobs, tenant, sha256, referenced).await
    }

    /// Makes sure the blob `bytes` of a record just written is in place: a concurrent
    /// [`Engine::release_blob`] that asked the database before the record was there may have
    /// taken it away.
    pub(crate) async fn keep_blob(&self, tenant: TenantId, sha256: &str, bytes: &[u8]) -> Result<()> {
        let blobs = &self.file_settings()?.blobs;
        if !blobs.exists(tenant, sha256).await.map_err(store_error)? {
            tracing::warn!(%tenant, sha256, "a blob removed while its record was being written is stored again");
            crate::extraction::put_blob(blobs, tenant, bytes).await?;
        }
        Ok(())
    }

    pub(crate) async fn visible_file(&self, grant: &Grant, id: FileId) -> Result<FileRecord> {
        let ctx = grant.ctx();
        match self.db.file(ctx.tenant, id).await? {
            Some(f) if grant.tenant_wide() || f.owner_id == ctx.user() => Ok(f),
            _ => Err(Error::NotFound("file")),
        }
    }
}

/// [`Engine::release_blob`] with the database's answer as `referenced`, asked before and after
/// the blob is set aside.
async fn release<B: BlobStore, F: Future<Output = Result<bool>>>(
    blobs: &B,
    tenant: TenantId,
    sha256: &str,
    mut referenced: impl FnMut() -> F,
) -> Result<()> {
    if referenced().await? {
        return Ok(());
    }
    let Some(aside) = blobs.set_aside(tenant, sha256).await.map_err(store_error)? else { return Ok(()) };
    match referenced().await {
        Ok(false) => blobs.discard(aside).await.map_err(store_error),
        Ok(true) => blobs.put_back(tenant, sha256, aside).await.map_err(store_error),
        Err(e) => {
            let _ = blobs.put_back(tenant, sha256, aside).await;
            Err(e)
        }
    }
}

/// `NotFound` unless the grant reaches this record: the tenant's files, or at level `my` the
/// caller's own.
pub(crate) fn check_visible(grant: &Grant, file: &FileRecord) -> Result<()> {
    let ctx = grant.ctx();
    if file.tenant_id != ctx.tenant || !(grant.tenant_wide() || file.owner_id == ctx.user()) {
        return Err(Error::NotFound("file"));
    }
    Ok(())
}

/// The record of new content of type `mime` (sniffed from the bytes), its extraction pending.
pub(crate) fn new_record(
    tenant: TenantId,
    owner: UserId,
    file_name: String,
    mime: &str,
    written: crate::blobs::Written,
    parent: Option<FileId>,
) -> FileRecord {
    FileRecord {
        id: FileId::new(),
        tenant_id: tenant,
        owner_id: owner,
        file_name,
        mime_type: mime.to_owned(),
        file_size: written.size,
        sha256: written.sha256,
        md5: written.md5,
        created_at: Timestamp::now(),
        extraction_status: "pending".to_owned(),
        extraction: Default::default(),
        parent_file_id: parent,
    }
}

/// The name as shown: its last path segment, without control characters.
pub(crate) fn checked_name(name: &str) -> Result<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    let clean: String = base.chars().filter(|c| !c.is_control()).take(MAX_NAME_CHARS).collect();
    if clean.is_empty() || clean == "." || clean == ".." {
        return Err(Error::invalid("file", "the file part needs a file name"));
    }
    Ok(clean)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::AsyncReadExt as _;

    use super::*;

    async fn stored(blobs: &LocalBlobs, tenant: TenantId, bytes: &[u8]) -> String {
        let mut upload = blobs.begin().await.unwrap();
        upload.write(bytes).await.unwrap();
        upload.finish().await.unwrap();
        let sha = upload.summary().sha256;
        blobs.commit(tenant, upload).await.unwrap();
        sha
    }

    async fn content(blobs: &LocalBlobs, tenant: TenantId, sha: &str) -> Option<String> {
        let mut out = String::new();
        blobs.read(tenant, sha, 0..1000).await.ok()?.read_to_string(&mut out).await.ok()?;
        Some(out)
    }

    #[tokio::test]
    async fn a_blob_is_released_only_when_no_record_names_it_after_it_was_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = LocalBlobs::new(dir.path());
        let tenant = TenantId::new();
        let sha = stored(&blobs, tenant, b"equal content").await;

        // Still named: nothing moves.
        release(&blobs, tenant, &sha, || async { Ok(true) }).await.unwrap();
        assert_eq!(content(&blobs, tenant, &sha).await.as_deref(), Some("equal content"));

        // Unnamed before, but an upload of the same content wrote its record and moved its
        // bytes into place while ours were set aside: the blob stays.
        let asked = AtomicUsize::new(0);
        let (counter, store) = (&asked, &blobs);
        release(&blobs, tenant, &sha, move || async move {
            if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                return Ok(false);
            }
            stored(store, tenant, b"equal content").await;
            Ok(true)
        })
        .await
        .unwrap();
        assert_eq!(asked.load(Ordering::SeqCst), 2);
        assert_eq!(content(&blobs, tenant, &sha).await.as_deref(), Some("equal content"));

        // The same, with the record written but its bytes not moved yet: ours go back.
        let asked = AtomicUsize::new(0);
        let counter = &asked;
        release(&blobs, tenant, &sha, move || async move { Ok(counter.fetch_add(1, Ordering::SeqCst) > 0) })
            .await
            .unwrap();
        assert_eq!(content(&blobs, tenant, &sha).await.as_deref(), Some("equal content"));

        // A failing database keeps the blob.
        let asked = AtomicUsize::new(0);
        let counter = &asked;
        let failed = release(&blobs, tenant, &sha, move || async move {
            match counter.fetch_add(1, Ordering::SeqCst) {
                0 => Ok(false),
                _ => Err(Error::Internal("database down".into())),
            }
        })
        .await;
        assert!(failed.is_err());
        assert_eq!(content(&blobs, tenant, &sha).await.as_deref(), Some("equal content"));

        // Named by nobody, before and after: gone, and nothing is left set aside.
        release(&blobs, tenant, &sha, || async { Ok(false) }).await.unwrap();
        assert_eq!(content(&blobs, tenant, &sha).await, None);
        assert_eq!(std::fs::read_dir(blobs.tmp_dir()).unwrap().count(), 0);
        // Already gone is fine.
        release(&blobs, tenant, &sha, || async { Ok(false) }).await.unwrap();
    }

    #[test]
    fn names_keep_their_last_segment() {
        assert_eq!(checked_name("C:\\docs\\report.pdf").unwrap(), "report.pdf");
        assert_eq!(checked_name("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(checked_name("a\nb.txt").unwrap(), "ab.txt");
        assert!(checked_name("dir/").is_err());
        assert!(checked_name("..").is_err());
    }
}
