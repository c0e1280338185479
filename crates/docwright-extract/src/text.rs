//! Plain text and Markdown, and the character decoding every text format shares.
//!
//! Decoding: a BOM (UTF-8, UTF-16 LE/BE) decides; then UTF-16 without a BOM is recognised by
//! its zero bytes; then valid UTF-8 is UTF-8; anything else is guessed by `chardetng` (in
//! practice Windows-1252 for Western text, which is also what Latin-1 text decodes as).
//!
//! Plain text becomes one part per paragraph (split on blank lines) with its line numbers;
//! Markdown becomes headings, paragraphs, list items, tables and code blocks.

use std::io::Read as _;
use std::path::Path;

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};
use pulldown_cmark::{Event, HeadingLevel, Options as MdOptions, Parser, Tag, TagEnd};

use crate::guard::Collector;
use crate::{ExtractError, Extraction, Location, Options, Part};

/// Reads a text file whole. Text formats are read into memory; the upload limit bounds them,
/// and the characters they produce are charged to the text budget as parts.
pub(crate) fn read(path: &Path, options: &Options) -> Result<Vec<u8>, ExtractError> {
    let bytes = std::fs::read(path)?;
    // Decoded text has at most one character per byte; a file larger than four times the text
    // budget cannot fit in it in any encoding.
    if bytes.len() / 4 > options.limits.max_text_chars {
        return Err(ExtractError::TooLarge { what: "text characters", limit: options.limits.max_text_chars as u64 });
    }
    Ok(bytes)
}

/// The text file at `path` decoded as it is read (for formats read record by record): the
/// encoding is settled on the first 64 KiB by the same rules as [`decode`], and bytes the
/// encoding cannot read become U+FFFD.
pub(crate) fn open_decoded(path: &Path, options: &Options) -> Result<DecodedReader, ExtractError> {
    let size = std::fs::metadata(path)?.len();
    if size / 4 > options.limits.max_text_chars as u64 {
        return Err(ExtractError::TooLarge { what: "text characters", limit: options.limits.max_text_chars as u64 });
    }
    let mut file = std::fs::File::open(path)?;
    let mut head = Vec::with_capacity(64 * 1024);
    std::io::Read::by_ref(&mut file).take(64 * 1024).read_to_end(&mut head)?;
    let (encoding, skip) = match Encoding::for_bom(&head) {
        Some((encoding, bom)) => (encoding, bom),
        None => match utf16_without_bom(&head) {
            Some(encoding) => (encoding, 0),
            None => match std::str::from_utf8(&head) {
                Ok(_) => (UTF_8, 0),
                // A head cut inside a character is still UTF-8.
                Err(e) if e.error_len().is_none() => (UTF_8, 0),
                Err(_) => (guess(&head), 0),
            },
        },
    };
    head.drain(..skip);
    Ok(DecodedReader {
        source: std::io::Read::chain(std::io::Cursor::new(head), file),
        decoder: encoding.new_decoder_without_bom_handling(),
        input: vec![0; 64 * 1024],
        start: 0,
        end: 0,
        eof: false,
        finished: false,
    })
}

/// UTF-8 out of bytes in some encoding, one buffer at a time.
pub(crate) struct DecodedReader {
    source: std::io::Chain<std::io::Cursor<Vec<u8>>, std::fs::File>,
    decoder: encoding_rs::Decoder,
    input: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// The decoder has been told the input ended and has flushed: it must not be called again.
    finished: bool,
}

impl std::io::Read for DecodedReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        // The decoder needs room for a whole character.
        if out.len() < 4 {
            let mut small = [0u8; 4];
            let n = self.read(&mut small)?;
            let n = n.min(out.len());
            out[..n].copy_from_slice(&small[..n]);
            return Ok(n);
        }
        loop {
            if self.finished {
                return Ok(0);
            }
            if self.start == self.end && !self.eof {
                self.start = 0;
                self.end = self.source.read(&mut self.input)?;
                self.eof = self.end == 0;
            }
            let (result, read, written, _) =
                self.decoder.decode_to_utf8(&self.input[self.start..self.end], out, self.eof);
            self.start += read;
            if self.eof && result == encoding_rs::CoderResult::InputEmpty {
                self.finished = true;
            }
            if written > 0 || self.eof {
                return Ok(written);
            }
        }
    }
}

/// Decodes text of unknown encoding (see the module documentation).
pub(crate) fn decode(bytes: &[u8]) -> (String, &'static Encoding) {
    if let Some((encoding, bom)) = Encoding::for_bom(bytes) {
        let (text, _) = encoding.decode_without_bom_handling(&bytes[bom..]);
        return (text.into_owned(), encoding);
    }
    if let Some(encoding) = utf16_without_bom(bytes) {
        let (text, _) = encoding.decode_without_bom_handling(bytes);
        return (text.into_owned(), encoding);
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return (text.to_owned(), UTF_8);
    }
    let encoding = guess(bytes);
    let (text, _) = encoding.decode_without_bom_handling(bytes);
    (text.into_owned(), encoding)
}

/// What `chardetng` makes of bytes that are not UTF-8.
pub(crate) fn guess(bytes: &[u8]) -> &'static Encoding {
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
    detector.feed(bytes, true);
    detector.guess(None, Utf8Detection::Allow)
}

/// UTF-16 without a BOM: mostly-ASCII text has a zero in every other byte. Looks at the first
/// 4 KiB: zeros on one side of most byte pairs and almost none on the other.
fn utf16_without_bom(bytes: &[u8]) -> Option<&'static Encoding> {
    let sample = &bytes[..bytes.len().min(4096) & !1];
    let pairs = sample.len() / 2;
    if pairs < 2 {
        return None;
    }
    let even = sample.iter().step_by(2).filter(|&&b| b == 0).count();
    let odd = sample.iter().skip(1).step_by(2).filter(|&&b| b == 0).count();
    if odd * 10 >= pairs * 4 && even * 20 <= pairs {
        Some(UTF_16LE)
    } else if even * 10 >= pairs * 4 && odd * 20 <= pairs {
        Some(UTF_16BE)
    } else {
        None
    }
}

pub(crate) fn extract_text(path: &Path, options: &Options) -> Result<Extraction, ExtractError> {
    let bytes = read(path, options)?;
    let (text, _) = decode(&bytes);
    drop(bytes);
    let mut out = Collector::streaming(options);
    let mut paragraph: Vec<&str> = Vec::new();
    let mut first = 0u32;
    let flush = |paragraph: &mut Vec<&str>, first: u32, last: u32, out: &mut Collector<'_>| {
        if paragraph.is_empty() {
            return Ok::<(), ExtractError>(());
        }
        let location = Location { row_start: Some(first), row_end: Some(last), ..Location::default() };
        let part = Part::text("paragraph", paragraph.join("\n"), location);
        paragraph.clear();
        out.push(part)
    };
    let mut line_no = 0u32;
    for line in text.lines() {
        line_no += 1;
        if line.trim().is_empty() {
            flush(&mut paragraph, first, line_no - 1, &mut out)?;
        } else {
            if paragraph.is_empty() {
                first = line_no;
            }
            paragraph.push(line);
        }
    }
    flush(&mut paragraph, first, line_no, &mut out)?;
    Ok(out.into_extraction())
}

pub(crate) fn extract_markdown(path: &Path, options: &Options) -> Result<Extraction, ExtractError> {
    let bytes = read(path, options)?;
    let (text, _) = decode(&bytes);
    drop(bytes);
    let mut out = Collector::streaming(options);
    let md = MdOptions::ENABLE_TABLES | MdOptions::ENABLE_STRIKETHROUGH | MdOptions::ENABLE_TASKLISTS;
    // What is being collected, and where it started (1-based line).
    let mut buf = String::new();
    let mut heading: Option<u8> = None;
    let mut list_depth = 0u8;
    let mut in_item = false;
    let mut in_code = false;
    let mut table: Option<Vec<Vec<String>>> = None;
    let mut start_line = 1u32;
    let line_starts: Vec<usize> = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
    let line_of = |offset: usize| line_starts.partition_point(|&s| s <= offset).max(1) as u32;
    let mut events = 0u32;
    for (event, range) in Parser::new_ext(&text, md).into_offset_iter() {
        events = events.wrapping_add(1);
        if events.is_multiple_of(1024) {
            options.limits.check_time()?;
        }
        let location = |end: usize, start: u32| Location {
            row_start: Some(start),
            row_end: Some(line_of(end.saturating_sub(1)).max(start)),
            ..Location::default()
        };
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                heading = Some(heading_level(level));
                buf.clear();
                start_line = line_of(range.start);
            }
            Event::End(TagEnd::Heading(_)) => {
                let level = heading.take().unwrap_or(1);
                out.push(
                    Part::text("heading", std::mem::take(&mut buf), location(range.end, start_line)).with_level(level),
                )?;
            }
            Event::Start(Tag::Paragraph) if !in_item && table.is_none() => {
                buf.clear();
                start_line = line_of(range.start);
            }
            Event::End(TagEnd::Paragraph) if !in_item && table.is_none() => {
                out.push(Part::text("paragraph", std::mem::take(&mut buf), location(range.end, start_line)))?;
            }
            Event::End(TagEnd::Paragraph) if in_item => buf.push('\n'),
            Event::Start(Tag::List(_)) => {
                // A nested list starts inside an item: what the item said so far is its text.
                if in_item && !buf.trim().is_empty() {
                    let part = Part::text("list_item", buf.trim().to_owned(), location(range.start, start_line));
                    out.push(part.with_level(list_depth))?;
                }
                buf.clear();
                list_depth = list_depth.saturating_add(1);
            }
            Event::End(TagEnd::List(_)) => {
                list_depth = list_depth.saturating_sub(1);
                in_item = list_depth > 0;
                start_line = line_of(range.end);
            }
            Event::Start(Tag::Item) => {
                in_item = true;
                buf.clear();
                start_line = line_of(range.start);
            }
            Event::End(TagEnd::Item) => {
                let part = Part::text("list_item", buf.trim().to_owned(), location(range.end, start_line));
                out.push(part.with_level(list_depth.max(1)))?;
                buf.clear();
            }
            Event::Start(Tag::CodeBlock(_)) => {
                in_code = true;
                buf.clear();
                start_line = line_of(range.start);
            }
            Event::End(TagEnd::CodeBlock) => {
                in_code = false;
                let code = std::mem::take(&mut buf);
                out.push(Part::text("code", code.trim_end_matches('\n'), location(range.end, start_line)))?;
            }
            Event::Start(Tag::Table(_)) => {
                table = Some(Vec::new());
                start_line = line_of(range.start);
            }
            Event::End(TagEnd::Table) => {
                if let Some(rows) = table.take() {
                    out.push(Part::table(rows, location(range.end, start_line)))?;
                }
            }
            Event::Start(Tag::TableHead | Tag::TableRow) => {
                if let Some(rows) = table.as_mut() {
                    rows.push(Vec::new());
                }
            }
            Event::Start(Tag::TableCell) => buf.clear(),
            Event::End(TagEnd::TableCell) => {
                if let Some(row) = table.as_mut().and_then(|rows| rows.last_mut()) {
                    row.push(std::mem::take(&mut buf).trim().to_owned());
                }
            }
            Event::Text(t) | Event::Code(t) => buf.push_str(&t),
            Event::SoftBreak | Event::HardBreak => buf.push(if in_code { '\n' } else { ' ' }),
            Event::TaskListMarker(done) => buf.push_str(if done { "[x] " } else { "[ ] " }),
            _ => {}
        }
    }
    Ok(out.into_extraction())
}

fn heading_level(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}
