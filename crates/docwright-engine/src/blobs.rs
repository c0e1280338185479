//! The blob store (SPEC D1): file content, addressed by SHA-256 within a tenant.
//!
//! [`BlobStore`] is the narrow interface the file use cases need — begin an upload, write it
//! chunk by chunk, commit it under its hash, read a byte range, and remove in two steps (set
//! aside, then put back or discard), so that a remover can ask the database again in between.
//! [`LocalBlobs`] keeps blobs in a directory (`<blob_dir>/<tenant>/<aa>/<sha256>`, `aa` the
//! hash's first two hex digits). An upload goes to a temporary file in `<blob_dir>/.tmp` and is
//! renamed into place, so a blob is never seen half-written; an upload dropped before its commit
//! removes its temporary file. Nothing here holds a whole file in memory.

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
    /// A blob moved out of reach by [`BlobStore::set_aside`].
    type Aside: Send;
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
    /// Whether the blob is there.
    fn exists(&self, tenant: TenantId, sha256: &str) -> impl Future<Output = io::Result<bool>> + Send;
    /// Moves a blob out of reach, to be put back or discarded: `None` when it is not there.
    fn set_aside(&self, tenant: TenantId, sha256: &str)
    -> impl Future<Output = io::Result<Option<Self::Aside>>> + Send;
    /// Puts a blob set aside back in its place (equal bytes put there meanwhile are replaced).
    fn put_back(
        &self,
        tenant: TenantId,
        sha256: &str,
        aside: Self::Aside,
    ) -> impl Future<Output = io::Result<()>> + Send;
    /// Removes a blob set aside for good.
    fn discard(&self, aside: Self::Aside) -> impl Future<Output = io::Result<()>> + Send;
}

/// An upload in progress: content is written and hashed as it arrives.
pub trait BlobUpload: Send {
    fn write(&mut self, chunk: &[u8]) -> impl Future<Output = io::Result<()>> + Send;
    /// Makes everything written durable; the upload may be committed afterwards.
    fn finish(&mut self) -> impl Future<Output = io::Result<()>> + Send;
    /// What has been written so far.
    fn summary(&self) -> Written;
    /// The content written so far, readable from its start (after [`BlobUpload::finish`]):
    /// for looks into a package that its head cannot answer. `None` when the store cannot
    /// offer it; then the head decides alone.
    fn open_written(&self) -> Option<std::fs::File>;
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

    fn open_written(&self) -> Option<std::fs::File> {
        std::fs::File::open(&self.path).ok()
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
    /// A blob set aside: a file in `.tmp`.
    type Aside = PathBuf;

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
        // Same name, same bytes: replacing an existing blob is harmless and atomic. A removal of
        // a neighbour may take the empty fan-out directory away in between: make it again.
        let mut path = upload.path;
        for _ in 0..3 {
            match path.persist(&target) {
                Ok(()) => return Ok(()),
                Err(e) if e.error.kind() == io::ErrorKind::NotFound => {
                    path = e.path;
                    if let Some(parent) = target.parent() {
                        std::fs::create_dir_all(parent)?;
                    }
                }
                Err(e) => return Err(e.error),
            }
        }
        path.persist(&target).map_err(|e| e.error)?;
        Ok(())
    }

    async fn read(&self, tenant: TenantId, sha256: &str, range: Range<u64>) -> io::Result<BlobReader> {
        let mut file = tokio::fs::File::open(self.path(tenant, sha256)?).await?;
        file.seek(io::SeekFrom::Start(range.start)).await?;
        Ok(Box::pin(file.take(range.end.saturating_sub(range.start))))
    }

    async fn exists(&self, tenant: TenantId, sha256: &str) -> io::Result<bool> {
        tokio::fs::try_exists(self.path(tenant, sha256)?).await
    }

    async fn set_aside(&self, tenant: TenantId, sha256: &str) -> io::Result<Option<PathBuf>> {
        let path = self.path(tenant, sha256)?;
        let tmp = self.tmp_dir();
        tokio::fs::create_dir_all(&tmp).await?;
        let aside = tmp.join(format!("aside-{}", uuid::Uuid::now_v7()));
        match tokio::fs::rename(&path, &aside).await {
            Ok(()) => {
                // Leave no empty fan-out directory behind; one still in use stays.
                if let Some(parent) = path.parent() {
                    let _ = tokio::fs::remove_dir(parent).await;
                }
                Ok(Some(aside))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn put_back(&self, tenant: TenantId, sha256: &str, aside: PathBuf) -> io::Result<()> {
        let target = self.path(tenant, sha256)?;
        let mut attempts = 0;
        loop {
            if let Some(parent) = target.parent() {
                tokio::fs::create_dir_all(parent).await?;
            }
            match tokio::fs::rename(&aside, &target).await {
                // The fan-out directory was removed by a neighbour's removal just now.
                Err(e) if e.kind() == io::ErrorKind::NotFound && attempts < 3 && aside.exists() => attempts += 1,
                other => return other,
            }
        }
    }

    async fn discard(&self, aside: PathBuf) -> io::Result<()> {
        match tokio::fs::remove_file(aside).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// A blob store failure as the engine reports it (an internal error: the store is ours).
pub(crate) fn store_error(e: io::Error) -> crate::Error {
    crate::Error::Internal(format!("blob store: {e}"))
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
/// (JSON, HTML, e-mail, CSV, Markdown, plain). The file name is never consulted. A zip needs
/// more than its head to say what package it is: see [`sniff_content`].
///
/// Text is UTF-8, UTF-16 (with its BOM, or recognised by its zero bytes), or a single-byte
/// encoding (Latin-1, Windows-1252) when the bytes are not UTF-8 but hold no control
/// characters. XML whose root is `<html>` (XHTML) is HTML.
pub fn sniff_mime(head: &[u8]) -> &'static str {
    if let Some(kind) = infer::get(head) {
        return match kind.mime_type() {
            // infer calls anything that starts `<?xml` XML; an XHTML page is HTML.
            xml @ ("text/xml" | "application/xml") => match std::str::from_utf8(head) {
                Ok(text) if xml_root_is_html(text) => "text/html",
                Err(e) if xml_root_is_html(std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default()) => {
                    "text/html"
                }
                _ => xml,
            },
            other => other,
        };
    }
    if head.is_empty() {
        return "application/octet-stream";
    }
    // UTF-16 text is full of NUL bytes: decoded first, then looked at like any text.
    if let Some(text) = utf16_text(head) {
        return classify_text(&text, head.len() < HEAD_BYTES);
    }
    match std::str::from_utf8(head) {
        Ok(text) => classify_text(text, head.len() < HEAD_BYTES),
        // The head may end inside a character.
        Err(e) if e.error_len().is_none() && e.valid_up_to() + 4 > head.len() => {
            let text = std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default();
            classify_text(text, true)
        }
        Err(_) if looks_like_single_byte_text(head) => {
            // Each byte as its Latin-1 character: enough to see the text's shape.
            let text: String = head.iter().map(|&b| char::from(b)).collect();
            classify_text(&text, head.len() < HEAD_BYTES)
        }
        Err(_) => "application/octet-stream",
    }
}

/// The MIME type of content whose head [`sniff_mime`] read, refined for zip packages by a look
/// into the package (its central directory, `mimetype` and `[Content_Types].xml`, bounded):
/// OOXML and ODF documents are told apart from plain zips however their members are ordered.
/// `content` opens the whole content; it is only called for packages.
pub fn sniff_content<R: std::io::Read + std::io::Seek>(
    head: &[u8],
    content: impl FnOnce() -> Option<R>,
) -> &'static str {
    let sniffed = sniff_mime(head);
    let package = sniffed == "application/zip"
        || sniffed.starts_with("application/vnd.openxmlformats-officedocument.")
        || sniffed.starts_with("application/vnd.oasis.opendocument.");
    if package && let Some(found) = content().and_then(docwright_extract::package_mime) {
        return found;
    }
    sniffed
}

/// UTF-16 text: with a BOM, or (BOM-less) mostly-ASCII text with a zero in every other byte.
/// `None` for anything else.
fn utf16_text(head: &[u8]) -> Option<String> {
    let (le, body) = match head {
        [0xFF, 0xFE, rest @ ..] => (true, rest),
        [0xFE, 0xFF, rest @ ..] => (false, rest),
        _ => {
            let pairs = head.len() / 2;
            if pairs < 8 {
                return None;
            }
            let zeros = |offset: usize| head.iter().skip(offset).step_by(2).take(pairs).filter(|&&b| b == 0).count();
            let (even, odd) = (zeros(0), zeros(1));
            if odd * 10 >= pairs * 8 && even * 20 <= pairs {
                (true, head)
            } else if even * 10 >= pairs * 8 && odd * 20 <= pairs {
                (false, head)
            } else {
                return None;
            }
        }
    };
    let units = body
        .chunks_exact(2)
        .map(|p| if le { u16::from_le_bytes([p[0], p[1]]) } else { u16::from_be_bytes([p[0], p[1]]) });
    // The head may end inside a surrogate pair: replaced, not refused.
    let text: String = char::decode_utf16(units).map(|c| c.unwrap_or('\u{FFFD}')).collect();
    // Control characters other than line breaks and tabs mean binary data after all.
    let binary = text.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{0C}'));
    (!binary).then_some(text)
}

/// Whether the root element of an XML document is `<html>` (after the declaration, comments,
/// processing instructions and the doctype).
fn xml_root_is_html(text: &str) -> bool {
    let mut t = text.trim_start_matches('\u{feff}');
    loop {
        t = t.trim_start();
        let lower = t.get(..9).unwrap_or(t).to_ascii_lowercase();
        let skip = if t.starts_with("<?") {
            t.find("?>").map(|i| i + 2)
        } else if t.starts_with("<!--") {
            t.find("-->").map(|i| i + 3)
        } else if lower.starts_with("<!doctype") {
            if t.get(..14).is_some_and(|d| d.eq_ignore_ascii_case("<!doctype html")) {
                return true;
            }
            t.find('>').map(|i| i + 1)
        } else {
            return t.get(..5).is_some_and(|r| r.eq_ignore_ascii_case("<html"))
                && t[5..].starts_with(|c: char| c.is_whitespace() || c == '>');
        };
        match skip {
            Some(n) => t = &t[n..],
            None => return false,
        }
    }
}

/// Whether text is an HTML page: it starts, after comments, with a doctype, `<html>`,
/// `<head>`, `<body>`, `<meta>` or `<title>`, or with some element and names `<html` or
/// `<body` early on (pages that open with a `<div>` or a script).
fn looks_like_html(t: &str) -> bool {
    let mut rest = t;
    while let Some(after) = rest.strip_prefix("<!--") {
        match after.find("-->") {
            Some(end) => rest = after[end + 3..].trim_start(),
            None => return false,
        }
    }
    let lower: String = rest.chars().take(1024).collect::<String>().to_ascii_lowercase();
    let opens = ["<!doctype html", "<html", "<head", "<body", "<meta", "<title"];
    if opens.iter().any(|o| {
        lower.starts_with(o) && lower[o.len()..].starts_with(|c: char| c.is_whitespace() || c == '>' || c == '/')
            || (*o == "<!doctype html" && lower.starts_with(o))
    }) {
        return true;
    }
    lower.starts_with('<') && (lower.contains("<html") || lower.contains("<body"))
}

/// Text in a single-byte encoding: no control bytes but tab, line breaks and form feed. Bytes
/// 0x80-0x9F are letters and signs in Windows-1252, so they count as text.
fn looks_like_single_byte_text(head: &[u8]) -> bool {
    head.iter().all(|&b| (b >= 0x20 && b != 0x7F) || matches!(b, b'\t' | b'\n' | b'\r' | 0x0C))
}

/// What kind of text `text` is. `all_lines`: the last line is complete (the head is the whole
/// file or ended inside a character).
fn classify_text(text: &str, all_lines: bool) -> &'static str {
    if text.contains('\0') {
        return "application/octet-stream";
    }
    let t = text.trim_start_matches('\u{feff}').trim_start();
    if looks_like_html(t) {
        return "text/html";
    }
    if (t.starts_with('{') || t.starts_with('[')) && looks_like_json(t) {
        return "application/json";
    }
    if looks_like_message(t) {
        return "message/rfc822";
    }
    let lines: Vec<&str> = t.lines().take(20).filter(|l| !l.trim().is_empty()).collect();
    if lines.iter().any(|l| l.starts_with("# ") || l.starts_with("## ") || l.starts_with("```")) {
        return "text/markdown";
    }
    if lines.len() >= 2 {
        // The complete lines agree on their separators; a last line the head cut short has
        // no more of them (a file of very long records may show only one complete line).
        let (complete, cut) = if all_lines { (&lines[..], None) } else { (&lines[..lines.len() - 1], lines.last()) };
        for sep in [',', ';', '\t'] {
            let n = lines[0].matches(sep).count();
            let agree = complete.iter().all(|l| l.matches(sep).count() == n);
            let cut_fits = cut.is_none_or(|l| (1..=n).contains(&l.matches(sep).count()));
            if n > 0 && agree && cut_fits && (complete.len() >= 2 || cut.is_some()) {
                return if sep == '\t' { "text/tab-separated-values" } else { "text/csv" };
            }
        }
    }
    "text/plain"
}

/// Header fields every e-mail message (RFC 5322) has some of.
const MESSAGE_FIELDS: [&str; 9] =
    ["from", "to", "subject", "date", "message-id", "mime-version", "received", "return-path", "content-type"];

/// An RFC 822 message: the lines up to the first blank one (or the end of the head) are all
/// header fields or their continuations, at least three of them, and at least two are fields
/// messages have (From, To, Subject, Date, Message-ID, ...). A message may start with any
/// field (`X-…`, `Subject`, `Authentication-Results`, ...).
fn looks_like_message(t: &str) -> bool {
    let field_name = |line: &str| -> Option<String> {
        let (name, _) = line.split_once(':')?;
        let ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
        ok.then(|| name.to_ascii_lowercase())
    };
    let mut lines = t.lines().peekable();
    // An mbox file starts each message with a `From <address> <date>` separator line.
    if lines.peek().is_some_and(|l| l.starts_with("From ") && field_name(l).is_none()) {
        lines.next();
    }
    let Some(first) = lines.next().and_then(field_name) else { return false };
    let mut fields = 1;
    let mut known = usize::from(MESSAGE_FIELDS.contains(&first.as_str()));
    for line in lines.take(200) {
        if line.trim().is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let Some(name) = field_name(line) else { return false };
        fields += 1;
        known += usize::from(MESSAGE_FIELDS.contains(&name.as_str()));
    }
    fields >= 3 && known >= 2
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

    #[test]
    fn utf16_latin1_and_messages_are_recognised() {
        let check =
            |bytes: &[u8], expect: &str| assert_eq!(sniff_mime(bytes), expect, "{:?}", String::from_utf8_lossy(bytes));
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend("Hello world\r\n".encode_utf16().flat_map(u16::to_le_bytes));
        check(&utf16, "text/plain");
        let mut be = vec![0xFE, 0xFF];
        be.extend("Hello".encode_utf16().flat_map(u16::to_be_bytes));
        check(&be, "text/plain");
        // Latin-1 / Windows-1252 text: not UTF-8, no control bytes.
        check(b"Caf\xe9 cr\xe8me br\xfbl\xe9e \x80 5\n", "text/plain");
        check(b"Name;Stadt\nJ\xfcrgen;Z\xfcrich\nRen\xe9;Gen\xe8ve\n", "text/csv");
        check(b"\xe9\x01\x02binary", "application/octet-stream");
        check(
            b"Received: from mx.example.org by mail.example.org;\r\n Tue, 1 Apr 2025 10:00:00 +0200\r\n\
From: a@example.org\r\nTo: b@example.org\r\nSubject: Hi\r\n\r\nBody\r\n",
            "message/rfc822",
        );
        check(b"From: a@example.org\nTo: b@example.org\nSubject: x\n\nHi\n", "message/rfc822");
        check(b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\nFrom: x@y.z\r\n\r\n", "message/rfc822");
        // A note that starts like a header but is prose is not a message.
        check(b"Date: tomorrow\nwe meet at noon, bring the slides\n", "text/plain");
        check(b"From: me\nTo: you\n", "text/plain");
    }

    /// One table of what real files start with and the type their record must get (the cases
    /// that went wrong on public documents: packages that read as plain zips, XHTML read as
    /// XML, UTF-16 and Latin-1 HTML and messages read as plain text).
    #[test]
    fn record_types_of_packages_pages_and_messages() {
        use std::io::{Cursor, Write as _};
        let zip = |entries: &[(&str, &[u8])]| {
            let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
            let options = zip::write::SimpleFileOptions::default();
            for (name, content) in entries {
                zip.start_file(*name, options).unwrap();
                zip.write_all(content).unwrap();
            }
            zip.finish().unwrap().into_inner()
        };
        let types = |main: &str, part: &str| {
            format!(r#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/{part}" ContentType="application/vnd.openxmlformats-officedocument.{main}.main+xml"/></Types>"#).into_bytes()
        };
        // Media ahead of the main part push it past the head, as Word and PowerPoint do.
        let media = vec![0x5Au8; 3 * HEAD_BYTES];
        let docx = zip(&[
            ("word/media/image1.png", &media),
            ("[Content_Types].xml", &types("wordprocessingml.document", "word/document.xml")),
            ("word/document.xml", b"<w:document/>"),
        ]);
        let pptx = zip(&[
            ("ppt/media/image1.png", &media),
            ("[Content_Types].xml", &types("presentationml.presentation", "ppt/presentation.xml")),
        ]);
        let xlsx = zip(&[("docProps/app.xml", &media), ("xl/workbook.xml", b"<workbook/>")]);
        let odt = zip(&[("mimetype", b"application/vnd.oasis.opendocument.text"), ("content.xml", b"<x/>")]);
        let ods = zip(&[("mimetype", b"application/vnd.oasis.opendocument.spreadsheet"), ("content.xml", b"<x/>")]);
        let plain_zip = zip(&[("readme.txt", b"a plain archive")]);
        let utf16 = |text: &str, le: bool, bom: bool| {
            let mut out = if bom { if le { vec![0xFF, 0xFE] } else { vec![0xFE, 0xFF] } } else { Vec::new() };
            out.extend(text.encode_utf16().flat_map(|u| if le { u.to_le_bytes() } else { u.to_be_bytes() }));
            out
        };
        let page = "<!DOCTYPE html>\n<html><head><title>Bericht</title></head><body><p>Grüße</p></body></html>\n";
        let check = |name: &str, bytes: &[u8], expect: &str| {
            let head = &bytes[..bytes.len().min(HEAD_BYTES)];
            let got = sniff_content(head, || Some(Cursor::new(bytes)));
            assert_eq!(got, expect, "{name}");
        };
        let long_csv = format!("{}\n{}", vec!["column"; 1000].join(","), vec!["cell"; 2000].join(","));
        let table: &[(&str, &[u8], &str)] = &[
            ("docx, media first", &docx, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
            ("pptx, media first", &pptx, "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
            ("xlsx without types", &xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            ("odt", &odt, "application/vnd.oasis.opendocument.text"),
            ("ods", &ods, "application/vnd.oasis.opendocument.spreadsheet"),
            ("plain zip", &plain_zip, "application/zip"),
            ("xhtml", b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" \"x\">\n<html xmlns=\"http://www.w3.org/1999/xhtml\"><body/></html>", "text/html"),
            ("xhtml, no doctype", b"<?xml version=\"1.0\"?><!-- generated --><html xmlns=\"http://www.w3.org/1999/xhtml\"></html>", "text/html"),
            ("xml", b"<?xml version=\"1.0\"?><feed><entry/></feed>", "text/xml"),
            ("utf-16le html, bom", &utf16(page, true, true), "text/html"),
            ("utf-16be html, bom", &utf16(page, false, true), "text/html"),
            ("utf-16le html, no bom", &utf16(page, true, false), "text/html"),
            ("utf-16le text", &utf16("Hello world\r\nsecond line\r\n", true, true), "text/plain"),
            ("utf-16le csv, no bom", &utf16("a;b;c\r\n1;2;3\r\n4;5;6\r\n", true, false), "text/csv"),
            ("latin-1 html with a comment first", b"<!-- Startseite -->\n<html>\n<head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-1\"></head><body>Gr\xfc\xdfe aus M\xfcnchen</body></html>", "text/html"),
            ("html starting with head", b"<head><title>x</title></head><body>text</body>", "text/html"),
            ("html fragment opening with a div", b"<div class=\"main\"><p>x</p></div>\n</body></html>", "text/html"),
            ("eml starting with X- headers", b"X-Mailer: Outlook\r\nX-Priority: 3\r\nSubject: Angebot\r\nFrom: a@example.org\r\nTo: b@example.org\r\n\r\nHallo\r\n", "message/rfc822"),
            ("eml starting with Subject", b"Subject: Re: minutes\nTo: team@example.org\nContent-Type: text/plain; charset=utf-8\n\nsee below\n", "message/rfc822"),
            ("mbox message", b"From 1275267068816858875@xxx Wed Jul 16 06:24:10 +0000 2008\nX-GM-THRID: 1274781836420152463\nDelivered-To: a@example.org\nReceived: by 10.142.99.12 with SMTP id w12cs56852wfb;\n        Tue, 15 Jul 2008 23:24:12 -0700 (PDT)\nReturn-Path: <b@example.org>\n", "message/rfc822"),
            ("csv of records longer than the head", long_csv.as_bytes(), "text/csv"),
            ("prose with colons", b"Note: bring slides\nRoom: 4\nTime: noon\n\nthanks\n", "text/plain"),
            ("markdown", b"# Title\n\ntext\n", "text/markdown"),
            ("pdf", b"%PDF-1.4\n", "application/pdf"),
        ];
        for (name, bytes, expect) in table {
            check(name, bytes, expect);
        }
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

        // Set aside and put back: meanwhile the same bytes were committed again, which is fine.
        let aside = store.set_aside(tenant, &w.sha256).await.unwrap().unwrap();
        assert!(!store.exists(tenant, &w.sha256).await.unwrap());
        let mut again = store.begin().await.unwrap();
        again.write(b"hello world").await.unwrap();
        again.finish().await.unwrap();
        store.commit(tenant, again).await.unwrap();
        store.put_back(tenant, &w.sha256, aside).await.unwrap();
        let mut out = String::new();
        store.read(tenant, &w.sha256, 0..11).await.unwrap().read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "hello world");
        assert!(is_empty_dir(&store.tmp_dir()));
        // Set aside and discarded: gone, fan-out directory included; a second time finds nothing.
        let aside = store.set_aside(tenant, &w.sha256).await.unwrap().unwrap();
        store.discard(aside).await.unwrap();
        assert!(!store.path(tenant, &w.sha256).unwrap().exists());
        assert!(!store.path(tenant, &w.sha256).unwrap().parent().unwrap().exists());
        assert!(store.set_aside(tenant, &w.sha256).await.unwrap().is_none());
        assert!(is_empty_dir(&store.tmp_dir()));
        assert!(store.path(tenant, "../../etc/passwd").is_err());
    }
}
