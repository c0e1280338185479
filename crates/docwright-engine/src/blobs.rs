//! The blob store (SPEC D1): file content, addressed by SHA-256 within a tenant.
//!
//! [`BlobStore`] is the narrow interface the file use cases need — begin an upload, write it
//! chunk by chunk, commit it under its hash, read a byte range, remove. [`LocalBlobs`] keeps
//! blobs in a directory (`<blob_dir>/<tenant>/<aa>/<sha256>`, `aa` the hash's first two hex
//! digits). An upload goes to a temporary file in `<blob_dir>/.tmp` and is renamed into place,
//! so a blob is never seen half-written; an upload dropped before its commit removes its
//! temporary file. Nothing here holds a whole file in memory.

use std::io;
use std::ops::Range;
use std::path::PathBuf;
use std::pin::Pin;

use docwright_core::id::TenantId;
use md5::Md5;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};

/// How many leading bytes an upload keeps for type detection.
pub const HEAD_BYTES: usize = 8192;

/// A readable byte range of a blob.
pub type BlobReader = Pin<Box<dyn AsyncRead + Send>>;

/// Where file content is kept.
pub trait BlobStore: Send + Sync {
    type Upload: BlobUpload;
    /// Starts an upload.
    fn begin(&self) -> impl Future<Output = io::Result<Self::Upload>> + Send;
    /// Stores a finished upload under its SHA-256 in `tenant` (equal bytes already there are
    /// simply replaced). Call [`BlobUpload::finish`] first: then this does no waiting on I/O in
    /// the local store, so a caller that awaits it right after writing the record cannot be
    /// cancelled in between.
    fn commit(&self, tenant: TenantId, upload: Self::Upload) -> impl Future<Output = io::Result<()>> + Send;
    /// Reads `range` of a blob (the caller knows the size from the file record).
    fn read(
        &self,
        tenant: TenantId,
        sha256: &str,
        range: Range<u64>,
    ) -> impl Future<Output = io::Result<BlobReader>> + Send;
    /// Removes a blob; absent is fine.
    fn remove(&self, tenant: TenantId, sha256: &str) -> impl Future<Output = io::Result<()>> + Send;
}

/// An upload in progress: content is written and hashed as it arrives.
pub trait BlobUpload: Send {
    fn write(&mut self, chunk: &[u8]) -> impl Future<Output = io::Result<()>> + Send;
    /// Makes everything written durable; the upload may be committed afterwards.
    fn finish(&mut self) -> impl Future<Output = io::Result<()>> + Send;
    /// What has been written so far.
    fn summary(&self) -> Written;
}

/// The facts of an upload's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
    /// Lower-case hex.
    pub md5: String,
    /// The first [`HEAD_BYTES`] bytes (for type detection).
    pub head: Vec<u8>,
}

/// Blobs in a local directory.
#[derive(Debug, Clone)]
pub struct LocalBlobs {
    dir: PathBuf,
}

impl LocalBlobs {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Where a blob lives. `sha256` must be 64 hex digits (it comes from our own hashing or
    /// from a stored record), so it cannot escape the directory.
    pub fn path(&self, tenant: TenantId, sha256: &str) -> io::Result<PathBuf> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a sha256 hex digest"));
        }
        Ok(self.dir.join(tenant.to_string()).join(&sha256[..2]).join(sha256))
    }

    /// The directory of uploads in progress.
    pub fn tmp_dir(&self) -> PathBuf {
        self.dir.join(".tmp")
    }
}

/// An upload to a temporary file of [`LocalBlobs`].
pub struct LocalUpload {
    file: tokio::fs::File,
    /// Deletes the temporary file when dropped before the commit.
    path: tempfile::TempPath,
    sha256: Sha256,
    md5: Md5,
    size: u64,
    head: Vec<u8>,
}

impl BlobUpload for LocalUpload {
    async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.sha256.update(chunk);
        self.md5.update(chunk);
        self.size += chunk.len() as u64;
        let room = HEAD_BYTES.saturating_sub(self.head.len());
        self.head.extend_from_slice(&chunk[..room.min(chunk.len())]);
        self.file.write_all(chunk).await
    }

    async fn finish(&mut self) -> io::Result<()> {
        self.file.flush().await?;
        self.file.sync_all().await
    }

    fn summary(&self) -> Written {
        Written {
            size: self.size,
            sha256: hex(&self.sha256.clone().finalize()),
            md5: hex(&self.md5.clone().finalize()),
            head: self.head.clone(),
        }
    }
}

impl BlobStore for LocalBlobs {
    type Upload = LocalUpload;

    async fn begin(&self) -> io::Result<LocalUpload> {
        let tmp = self.tmp_dir();
        tokio::fs::create_dir_all(&tmp).await?;
        // Creating an empty file is quick enough to do in place.
        let (file, path) = tempfile::NamedTempFile::new_in(&tmp)?.into_parts();
        Ok(LocalUpload {
            file: tokio::fs::File::from_std(file),
            path,
            sha256: Sha256::new(),
            md5: Md5::new(),
            size: 0,
            head: Vec::new(),
        })
    }

    async fn commit(&self, tenant: TenantId, upload: LocalUpload) -> io::Result<()> {
        let target = self.path(tenant, &upload.summary().sha256)?;
        // Blocking on purpose: a directory and a rename are quick, and with no await in here
        // the move cannot be cut off after the caller wrote the record.
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        drop(upload.file);
        // Same name, same bytes: replacing an existing blob is harmless and atomic.
        upload.path.persist(&target).map_err(|e| e.error)?;
        Ok(())
    }

    async fn read(&self, tenant: TenantId, sha256: &str, range: Range<u64>) -> io::Result<BlobReader> {
        let mut file = tokio::fs::File::open(self.path(tenant, sha256)?).await?;
        file.seek(io::SeekFrom::Start(range.start)).await?;
        Ok(Box::pin(file.take(range.end.saturating_sub(range.start))))
    }

    async fn remove(&self, tenant: TenantId, sha256: &str) -> io::Result<()> {
        let path = self.path(tenant, sha256)?;
        match tokio::fs::remove_file(&path).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => {
                // Leave no empty fan-out directory behind; one still in use stays.
                if let Some(parent) = path.parent() {
                    let _ = tokio::fs::remove_dir(parent).await;
                }
                Ok(())
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Whether `dir` holds no file.
#[cfg(test)]
fn is_empty_dir(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).map(|mut d| d.next().is_none()).unwrap_or(true)
}

/// The MIME type of content from its first bytes: magic numbers first, then a look at text
/// (JSON, HTML, CSV, Markdown, plain). The file name is never consulted.
pub fn sniff_mime(head: &[u8]) -> &'static str {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type();
    }
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        // The head may end inside a character.
        Err(e) if e.error_len().is_none() && e.valid_up_to() + 4 > head.len() => {
            std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return "application/octet-stream",
    };
    if head.is_empty() {
        return "application/octet-stream";
    }
    if text.contains('\0') {
        return "application/octet-stream";
    }
    let t = text.trim_start_matches('\u{feff}').trim_start();
    let lower: String = t.chars().take(64).collect::<String>().to_ascii_lowercase();
    if lower.starts_with("<!doctype html") || lower.starts_with("<html") {
        return "text/html";
    }
    if (t.starts_with('{') || t.starts_with('[')) && looks_like_json(t) {
        return "application/json";
    }
    let lines: Vec<&str> = t.lines().take(20).filter(|l| !l.trim().is_empty()).collect();
    if lines.iter().any(|l| l.starts_with("# ") || l.starts_with("## ") || l.starts_with("```")) {
        return "text/markdown";
    }
    if lines.len() >= 2 {
        for sep in [',', ';', '\t'] {
            let n = lines[0].matches(sep).count();
            // A complete last line only: the head may cut one short.
            let full = if text.len() < head.len() || head.len() < HEAD_BYTES { lines.len() } else { lines.len() - 1 };
            if n > 0 && lines[..full.max(2).min(lines.len())].iter().all(|l| l.matches(sep).count() == n) {
                return if sep == '\t' { "text/tab-separated-values" } else { "text/csv" };
            }
        }
    }
    "text/plain"
}

/// A JSON document's start: parses, or is valid as far as the head goes.
fn looks_like_json(t: &str) -> bool {
    let mut de = serde_json::Deserializer::from_str(t).into_iter::<serde_json::Value>();
    match de.next() {
        Some(Ok(_)) => true,
        Some(Err(e)) => e.is_eof(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_types_come_from_the_bytes() {
        let check =
            |bytes: &[u8], expect: &str| assert_eq!(sniff_mime(bytes), expect, "{:?}", String::from_utf8_lossy(bytes));
        check(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "image/png");
        check(b"%PDF-1.7\n", "application/pdf");
        check(b"hello world\n", "text/plain");
        check(b"{\"a\": [1, 2]}", "application/json");
        check(b"[1, 2, {\"b\":", "application/json");
        check(b"<!DOCTYPE html><html></html>", "text/html");
        check(b"a,b,c\n1,2,3\n4,5,6\n", "text/csv");
        check(b"# Title\n\nSome text.\n", "text/markdown");
        check(b"\x00\x01\x02\x03garbage", "application/octet-stream");
        check(b"", "application/octet-stream");
        check("Grüße\n".as_bytes(), "text/plain");
    }

    #[tokio::test]
    async fn uploads_are_hashed_stored_once_read_by_range_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobs::new(dir.path());
        let tenant = TenantId::new();
        let mut up = store.begin().await.unwrap();
        up.write(b"hello ").await.unwrap();
        up.write(b"world").await.unwrap();
        up.finish().await.unwrap();
        let w = up.summary();
        assert_eq!(w.size, 11);
        assert_eq!(w.sha256, "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
        assert_eq!(w.md5, "5eb63bbbe01eeed093cb22bb8f5acdc3");
        store.commit(tenant, up).await.unwrap();
        assert!(is_empty_dir(&store.tmp_dir()));
        let mut out = String::new();
        store.read(tenant, &w.sha256, 6..11).await.unwrap().read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "world");
        // An upload dropped before its commit leaves nothing.
        let mut up = store.begin().await.unwrap();
        up.write(b"partial").await.unwrap();
        drop(up);
        assert!(is_empty_dir(&store.tmp_dir()));
        store.remove(tenant, &w.sha256).await.unwrap();
        assert!(!store.path(tenant, &w.sha256).unwrap().exists());
        store.remove(tenant, &w.sha256).await.unwrap();
        assert!(store.path(tenant, "../../etc/passwd").is_err());
    }
}
