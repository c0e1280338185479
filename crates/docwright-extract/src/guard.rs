//! Cooperative bounds shared by the parsers: an inflate budget for packages and compressed
//! streams, and depth counting for XML/HTML.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::{ExtractError, Extraction, Limits, Part, PartKind};

/// Bytes left to inflate for one file. Every reader that decompresses charges what it produces.
#[derive(Debug)]
pub struct Budget {
    left: u64,
    limit: u64,
}

impl Budget {
    pub fn new(limits: &Limits) -> Self {
        Self { left: limits.max_inflated_bytes, limit: limits.max_inflated_bytes }
    }

    /// Charges `n` bytes; `Err(TooLarge)` when the budget is spent.
    pub fn charge(&mut self, n: u64) -> Result<(), ExtractError> {
        self.left =
            self.left.checked_sub(n).ok_or(ExtractError::TooLarge { what: "inflated bytes", limit: self.limit })?;
        Ok(())
    }

    /// Bytes still allowed.
    pub fn left(&self) -> u64 {
        self.left
    }
}

/// The parts of one extraction as they are produced, with the bounds that apply to all of them:
/// the number of parts, the characters of text and the deadline. Every extractor pushes through
/// it, so a file that would produce too much fails while producing it, not after.
#[derive(Debug)]
pub(crate) struct Collector<'a> {
    pub(crate) parts: Vec<Part>,
    chars: usize,
    cells: u64,
    /// Parts pushed so far (kept here or sent on).
    pushed: usize,
    limits: &'a Limits,
    sink: Option<crate::PartSink>,
}

impl<'a> Collector<'a> {
    pub(crate) fn new(limits: &'a Limits) -> Self {
        Self { parts: Vec::new(), chars: 0, cells: 0, pushed: 0, limits, sink: None }
    }

    /// A collector that sends its parts to the options' sink, when they have one.
    pub(crate) fn streaming(options: &'a crate::Options) -> Self {
        Self { sink: options.sink.clone(), ..Self::new(&options.limits) }
    }

    /// Charges `n` cells holding something against `limit` for the file.
    pub(crate) fn charge_cells(&mut self, n: u64, limit: u64) -> Result<(), ExtractError> {
        self.cells = self.cells.saturating_add(n);
        if self.cells > limit {
            return Err(ExtractError::TooLarge { what: "sheet cells", limit });
        }
        Ok(())
    }

    /// Charges `n` characters of text to the file's budget.
    pub(crate) fn charge_chars(&mut self, n: usize) -> Result<(), ExtractError> {
        self.chars = self.chars.saturating_add(n);
        if self.chars > self.limits.max_text_chars {
            return Err(ExtractError::TooLarge { what: "text characters", limit: self.limits.max_text_chars as u64 });
        }
        Ok(())
    }

    /// Adds a part; empty text parts are dropped.
    pub(crate) fn push(&mut self, part: Part) -> Result<(), ExtractError> {
        if part.kind == PartKind::Text && part.text.trim().is_empty() {
            return Ok(());
        }
        self.charge_chars(part.text.chars().count())?;
        if self.pushed >= self.limits.max_parts {
            return Err(ExtractError::TooLarge { what: "parts", limit: self.limits.max_parts as u64 });
        }
        self.limits.check_time()?;
        self.pushed += 1;
        match &self.sink {
            Some(sink) => sink.send(part),
            None => {
                self.parts.push(part);
                Ok(())
            }
        }
    }

    pub(crate) fn into_extraction(self) -> Extraction {
        Extraction { parts: self.parts, ..Extraction::default() }
    }
}

/// The first bytes of an OLE compound file (legacy Office, and encrypted OOXML packages).
pub(crate) const CFB_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// Whether the file starts with `magic`.
pub(crate) fn starts_with(path: &Path, magic: &[u8]) -> Result<bool, ExtractError> {
    let mut head = vec![0u8; magic.len()];
    let mut file = File::open(path)?;
    let mut read = 0;
    while read < head.len() {
        match file.read(&mut head[read..])? {
            0 => return Ok(false),
            n => read += n,
        }
    }
    Ok(head == magic)
}

/// What a package scan found: the names of its entries, in archive order.
#[derive(Debug)]
pub(crate) struct Package {
    pub(crate) names: Vec<String>,
}

/// Most entries a package may hold (a zip without ZIP64 holds at most 65,535).
const MAX_ENTRIES: usize = 100_000;

/// Reads every entry of the zip package at `path` once before a format parser sees it:
/// every inflated byte is charged to `budget` (so a zip bomb fails here, whatever the entries
/// claim their sizes are), and every XML entry is walked with a streaming reader that fails
/// with `TooDeep` past `limits.max_xml_depth` — the parsers behind us recurse on nesting or
/// silently cut it, and a hostile file should fail loudly and early instead.
///
/// A package protected by a password is not a zip but an OLE file: that is `Encrypted`.
pub(crate) fn scan_package(path: &Path, limits: &Limits, budget: &mut Budget) -> Result<Package, ExtractError> {
    if starts_with(path, &CFB_MAGIC)? {
        return Err(ExtractError::Encrypted);
    }
    let file = BufReader::new(File::open(path)?);
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| ExtractError::Malformed(format!("not a zip package: {e}")))?;
    if archive.len() > MAX_ENTRIES {
        return Err(ExtractError::TooLarge { what: "package entries", limit: MAX_ENTRIES as u64 });
    }
    let mut names = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        limits.check_time()?;
        let entry = archive.by_index(i).map_err(|e| match e {
            zip::result::ZipError::UnsupportedArchive(m) if m.contains("Password") || m.contains("ncrypt") => {
                ExtractError::Encrypted
            }
            e => ExtractError::Malformed(format!("zip entry {i}: {e}")),
        })?;
        if entry.encrypted() {
            return Err(ExtractError::Encrypted);
        }
        let name = entry.name().map_err(|e| ExtractError::Malformed(format!("zip entry {i}: {e}")))?.into_owned();
        let xml = {
            let lower = name.to_ascii_lowercase();
            lower.ends_with(".xml") || lower.ends_with(".rels")
        };
        let mut counted = Counted { inner: entry, read: 0, cap: budget.left() };
        let outcome = if xml { check_xml_depth(&mut counted, limits) } else { Ok(()) };
        // Whatever the XML walk left (or all of a non-XML entry) is still inflated and counted.
        let drained = std::io::copy(&mut counted, &mut std::io::sink());
        let read = counted.read;
        budget.charge(read)?;
        outcome?;
        if let Err(e) = drained {
            return Err(ExtractError::Malformed(format!("{name}: {e}")));
        }
        names.push(name);
    }
    Ok(Package { names })
}

/// Walks an XML stream and fails past the depth limit. A byte-level scan with a fixed buffer:
/// no event, text node or attribute is ever held whole, so a member that inflates to gigabytes
/// of one text node costs no more memory than a small one (a pull parser buffers each event,
/// and one 2 GiB text node took the worker to its memory limit). Malformed XML is left to the
/// format parser, which reports it in its own words.
fn check_xml_depth(reader: &mut impl Read, limits: &Limits) -> Result<(), ExtractError> {
    let mut scan = DepthScan::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        for &b in &buf[..n] {
            if scan.step(b) > limits.max_xml_depth {
                return Err(ExtractError::TooDeep { limit: limits.max_xml_depth });
            }
        }
        limits.check_time()?;
    }
}

/// Where [`DepthScan`] is in the markup.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Markup {
    #[default]
    Text,
    /// Just after `<`.
    Open,
    /// Inside a start tag (`closing`: an end tag); `quote` the open attribute quote, `slash`
    /// whether the last byte outside quotes was `/`.
    Tag { closing: bool, quote: u8, slash: bool },
    /// `<!` … `>` (doctype, declarations): `seen` counts `-` or `[` after `<!`.
    Bang { seen: u8 },
    /// `<!--` … `-->`: `dashes` counts trailing `-`.
    Comment { dashes: u8 },
    /// `<![CDATA[` … `]]>`: `brackets` counts trailing `]`.
    Cdata { brackets: u8 },
    /// `<?` … `?>`.
    Pi { question: bool },
}

/// Element depth of an XML byte stream, one byte at a time.
#[derive(Debug, Default)]
struct DepthScan {
    state: Markup,
    depth: u32,
}

impl DepthScan {
    /// Takes one byte; answers the depth after it.
    fn step(&mut self, b: u8) -> u32 {
        use Markup::*;
        self.state = match self.state {
            Text if b == b'<' => Open,
            Text => Text,
            Open => match b {
                b'/' => Tag { closing: true, quote: 0, slash: false },
                b'!' => Bang { seen: 0 },
                b'?' => Pi { question: false },
                b'>' => Text,
                _ => Tag { closing: false, quote: 0, slash: false },
            },
            Tag { closing, quote, slash } => {
                if quote != 0 {
                    Tag { closing, quote: if b == quote { 0 } else { quote }, slash }
                } else if b == b'"' || b == b'\'' {
                    Tag { closing, quote: b, slash: false }
                } else if b == b'>' {
                    if closing {
                        self.depth = self.depth.saturating_sub(1);
                    } else if !slash {
                        self.depth += 1;
                    }
                    Text
                } else {
                    Tag { closing, quote, slash: b == b'/' || (slash && b.is_ascii_whitespace()) }
                }
            }
            Bang { seen } => match (seen, b) {
                (0, b'-') => Bang { seen: 1 },
                (1, b'-') => Comment { dashes: 0 },
                (0, b'[') => Bang { seen: 10 },
                // `<![CDATA[`: after the first `[`, up to the second.
                (10..=15, b'[') => Cdata { brackets: 0 },
                (10..=15, _) => Bang { seen: seen + 1 },
                (_, b'>') => Text,
                _ => Bang { seen: 2 },
            },
            Comment { dashes } => match b {
                b'-' => Comment { dashes: dashes.saturating_add(1) },
                b'>' if dashes >= 2 => Text,
                _ => Comment { dashes: 0 },
            },
            Cdata { brackets } => match b {
                b']' => Cdata { brackets: brackets.saturating_add(1) },
                b'>' if brackets >= 2 => Text,
                _ => Cdata { brackets: 0 },
            },
            Pi { question } => match b {
                b'>' if question => Text,
                _ => Pi { question: b == b'?' },
            },
        };
        self.depth
    }
}

/// A reader that counts what it yields and stops with an error past `cap` bytes.
struct Counted<R> {
    inner: R,
    read: u64,
    cap: u64,
}

impl<R: Read> Read for Counted<R> {
    /// Stops at the cap: never more than `cap` bytes (and one buffer) are inflated, however
    /// large the member claims or turns out to be; the caller's charge then fails.
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.read > self.cap {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_of(xml: &str) -> u32 {
        let mut scan = DepthScan::default();
        xml.bytes().map(|b| scan.step(b)).max().unwrap_or(0)
    }

    #[test]
    fn depth_counts_elements_only() {
        assert_eq!(depth_of("<a><b><c/></b></a>"), 2);
        assert_eq!(
            depth_of(r#"<?xml version="1.0"?><!DOCTYPE a><a x="<b>" y='/>'><!-- <c><d> --><![CDATA[<e><f>]]></a>"#),
            1
        );
        assert_eq!(depth_of("<a><b></b><b></b></a>"), 2);
        assert_eq!(depth_of(&"<w:p>".repeat(300)), 300);
        let mut scan = DepthScan::default();
        for b in "<a><b/></a>".bytes() {
            scan.step(b);
        }
        assert_eq!(scan.depth, 0);
    }

    #[test]
    fn a_huge_text_node_is_scanned_in_constant_memory() {
        // 64 MiB of one text node: the scan holds one buffer, and the depth stays 1.
        struct Text(u64);
        impl Read for Text {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.0 == 0 {
                    return Ok(0);
                }
                let n = (buf.len() as u64).min(self.0) as usize;
                buf[..n].fill(b'A');
                self.0 -= n as u64;
                Ok(n)
            }
        }
        let mut xml = std::io::Read::chain(&b"<w:t>"[..], Text(64 << 20));
        assert!(check_xml_depth(&mut xml, &Limits::default()).is_ok());
    }
}
