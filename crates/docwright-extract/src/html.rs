//! HTML: the page's title, headings with their level, paragraphs, list items and tables.
//!
//! The charset comes from a BOM, then a `<meta charset>` or `http-equiv` declaration in the
//! first 1024 bytes, then valid UTF-8, then `chardetng`.
//!
//! Parsing uses html5ever's spec tokenizer without its tree builder: tokens stream into a small
//! state machine that cuts the text into blocks. Nothing recurses on the document's nesting, so
//! no nesting can exhaust the stack; the only stack kept is that of open tables (a table inside a
//! cell), bounded by `max_xml_depth`: deeper tables are flattened into the text of their cell,
//! which is kinder than refusing a page for markup that browsers render without complaint.
//! `script`, `style`, `noscript` and `template` are dropped; of the `head`, only the `title` has
//! text.

use std::cell::RefCell;
use std::path::Path;

use encoding_rs::{Encoding, UTF_8};
use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts};

use crate::guard::Collector;
use crate::{ExtractError, Extraction, Limits, Location, Options, Part};

pub(crate) fn extract(path: &Path, options: &Options) -> Result<Extraction, ExtractError> {
    let bytes = crate::text::read(path, options)?;
    let text = decode(&bytes);
    drop(bytes);
    let mut out = Collector::streaming(options);
    to_parts(&text, &options.limits, &mut out)?;
    Ok(out.into_extraction())
}

/// Decodes HTML bytes by the rules in the module documentation.
pub(crate) fn decode(bytes: &[u8]) -> String {
    if let Some((encoding, bom)) = Encoding::for_bom(bytes) {
        return encoding.decode_without_bom_handling(&bytes[bom..]).0.into_owned();
    }
    let encoding = meta_charset(&bytes[..bytes.len().min(1024)])
        .unwrap_or_else(|| if std::str::from_utf8(bytes).is_ok() { UTF_8 } else { crate::text::guess(bytes) });
    encoding.decode_without_bom_handling(bytes).0.into_owned()
}

/// The encoding a `<meta charset=...>` or `<meta http-equiv="Content-Type" content="...;
/// charset=...">` names. A declared UTF-16 means UTF-8 (the HTML standard's rule: a document
/// that could declare it in ASCII is not UTF-16).
fn meta_charset(head: &[u8]) -> Option<&'static Encoding> {
    let lower = head.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = find(&lower[from..], b"<meta") {
        let tag_start = from + at;
        let tag_end = find(&lower[tag_start..], b">").map_or(lower.len(), |e| tag_start + e);
        let tag = &lower[tag_start..tag_end];
        if let Some(c) = find(tag, b"charset") {
            let rest = &tag[c + "charset".len()..];
            let rest = rest.trim_ascii_start();
            if let Some(rest) = rest.strip_prefix(b"=") {
                let rest = rest.trim_ascii_start();
                let rest = rest.strip_prefix(b"\"").or_else(|| rest.strip_prefix(b"'")).unwrap_or(rest);
                let label: Vec<u8> = rest
                    .iter()
                    .copied()
                    .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.'))
                    .collect();
                if let Some(encoding) = Encoding::for_label(&label) {
                    return Some(encoding.output_encoding());
                }
            }
        }
        from = tag_end;
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses HTML text into parts.
pub(crate) fn to_parts(html: &str, limits: &Limits, out: &mut Collector<'_>) -> Result<(), ExtractError> {
    let sink = Sink(RefCell::new(State { max_tables: limits.max_xml_depth as usize, ..State::default() }));
    let tokenizer = Tokenizer::new(sink, TokenizerOpts::default());
    let input = BufferQueue::default();
    // Fed in slices so that the deadline is checked while a large page is read.
    let mut rest = html;
    while !rest.is_empty() {
        limits.check_time()?;
        let mut cut = rest.len().min(64 * 1024);
        while !rest.is_char_boundary(cut) {
            cut += 1;
        }
        input.push_back(StrTendril::from_slice(&rest[..cut]));
        let _ = tokenizer.feed(&input);
        rest = &rest[cut..];
        tokenizer.sink.0.borrow_mut().drain(out)?;
    }
    tokenizer.end();
    let mut state = tokenizer.sink.0.borrow_mut();
    // Tables left open at the end of the page are closed, innermost first.
    state.flattened = 0;
    while !state.tables.is_empty() {
        state.end_tag("table");
    }
    state.flush();
    state.drain(out)
}

struct Sink(RefCell<State>);

/// Where the text being read goes.
#[derive(Default)]
struct State {
    /// Parts ready to be handed to the collector.
    ready: Vec<Part>,
    /// Text of the current block.
    buf: String,
    /// The current block is a heading of this level.
    heading: Option<u8>,
    /// Open lists (`ul`/`ol`), and whether the current block is a list item.
    lists: u8,
    in_item: bool,
    /// Inside an element whose content is dropped, how many deep.
    skipped: u32,
    /// Inside `<title>`, and the title read.
    in_title: bool,
    title: String,
    /// Inside `<pre>`: whitespace is kept.
    pre: u32,
    /// Open tables: rows of cells, and the cell being read.
    tables: Vec<TableBuilder>,
    max_tables: usize,
    /// Tables opened past `max_tables`, flattened into their cell.
    flattened: u32,
    /// The source line of the token being read, and the lines of the current block's first and
    /// last text: a part's location is the range of source lines it was read from.
    line: u32,
    block_lines: Option<(u32, u32)>,
}

#[derive(Default)]
struct TableBuilder {
    /// The source line of `<table>`.
    start_line: u32,
    rows: Vec<Vec<String>>,
    cell: Option<String>,
}

impl State {
    fn drain(&mut self, out: &mut Collector<'_>) -> Result<(), ExtractError> {
        for part in self.ready.drain(..) {
            out.push(part)?;
        }
        Ok(())
    }

    /// Ends the current block (outside tables) as its part.
    fn flush(&mut self) {
        if !self.tables.is_empty() {
            return;
        }
        let text = collapse(&self.buf);
        self.buf.clear();
        let at = self.block_location();
        if text.is_empty() {
            self.in_item = false;
            return;
        }
        let part = if let Some(level) = self.heading {
            Part::text("heading", text, at).with_level(level)
        } else if self.in_item {
            Part::text("list_item", text, at).with_level(self.lists.max(1))
        } else {
            Part::text("paragraph", text, at)
        };
        self.in_item = false;
        self.ready.push(part);
    }

    /// The source lines of the block just ended (and none for the next one yet).
    fn block_location(&mut self) -> Location {
        let (first, last) = self.block_lines.take().unwrap_or((self.line, self.line));
        Location { row_start: Some(first), row_end: Some(last), ..Location::default() }
    }

    /// Where text goes now: the open cell of the innermost table, or the current block.
    fn text_target(&mut self) -> &mut String {
        if let Some(table) = self.tables.last_mut() {
            if table.cell.is_none() {
                // Text between cells (a caption, stray text) opens an implicit cell.
                table.cell = Some(String::new());
            }
            table.cell.get_or_insert_with(String::new)
        } else {
            &mut self.buf
        }
    }

    fn end_cell(&mut self) {
        if let Some(table) = self.tables.last_mut()
            && let Some(cell) = table.cell.take()
        {
            if table.rows.is_empty() {
                table.rows.push(Vec::new());
            }
            if let Some(row) = table.rows.last_mut() {
                row.push(collapse(&cell));
            }
        }
    }

    fn start_tag(&mut self, name: &str, self_closing: bool) -> TokenSinkResult<()> {
        match name {
            // `<script/>` does not close a script in HTML: its raw text still follows.
            "script" => {
                self.skipped += 1;
                return TokenSinkResult::RawData(RawKind::ScriptData);
            }
            "style" => {
                self.skipped += 1;
                return TokenSinkResult::RawData(RawKind::Rawtext);
            }
            "noscript" | "template" if !self_closing => {
                self.skipped += 1;
                return TokenSinkResult::Continue;
            }
            "title" => {
                self.in_title = true;
                return TokenSinkResult::RawData(RawKind::Rcdata);
            }
            _ if self.skipped > 0 => return TokenSinkResult::Continue,
            _ => {}
        }
        match name {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                self.flush();
                if self.tables.is_empty() {
                    self.heading = name[1..].parse().ok();
                }
            }
            "ul" | "ol" => {
                self.flush();
                self.lists = self.lists.saturating_add(1);
            }
            "li" => {
                self.flush();
                self.in_item = true;
            }
            "table" => {
                if self.tables.len() < self.max_tables {
                    self.flush();
                    self.tables.push(TableBuilder { start_line: self.line, ..TableBuilder::default() });
                } else {
                    self.flattened += 1;
                }
            }
            "tr" if self.flattened == 0 => {
                self.end_cell();
                if let Some(table) = self.tables.last_mut() {
                    table.rows.push(Vec::new());
                }
            }
            "td" | "th" if self.flattened == 0 => {
                self.end_cell();
                if let Some(table) = self.tables.last_mut() {
                    table.cell = Some(String::new());
                }
            }
            "br" => self.text_target().push(BREAK),
            "pre" => {
                self.flush();
                self.pre += 1;
            }
            _ if is_block(name) => {
                if self.tables.is_empty() {
                    // A block inside a list item continues the item.
                    if !self.in_item {
                        self.flush();
                    }
                } else {
                    self.text_target().push(' ');
                }
            }
            _ => {}
        }
        TokenSinkResult::Continue
    }

    fn end_tag(&mut self, name: &str) {
        match name {
            "script" | "style" | "noscript" | "template" => {
                self.skipped = self.skipped.saturating_sub(1);
                return;
            }
            "title" => {
                self.in_title = false;
                return;
            }
            _ => {}
        }
        if self.skipped > 0 {
            return;
        }
        match name {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                self.flush();
                self.heading = None;
            }
            "ul" | "ol" => {
                self.flush();
                self.lists = self.lists.saturating_sub(1);
            }
            "li" => self.flush(),
            "td" | "th" if self.flattened == 0 => self.end_cell(),
            "table" => {
                if self.flattened > 0 {
                    self.flattened -= 1;
                    return;
                }
                self.end_cell();
                if let Some(table) = self.tables.pop() {
                    let rows: Vec<Vec<String>> =
                        table.rows.into_iter().filter(|r| r.iter().any(|c| !c.is_empty())).collect();
                    if let Some(outer) = self.tables.last_mut() {
                        // A nested table reads as text in its cell.
                        let text: Vec<String> = rows.iter().map(|r| r.join(" | ")).collect();
                        outer.cell.get_or_insert_with(String::new).push_str(&text.join("\n"));
                    } else if !rows.is_empty() {
                        let at = Location {
                            row_start: Some(table.start_line),
                            row_end: Some(self.line),
                            ..Location::default()
                        };
                        self.ready.push(Part::table(rows, at));
                    }
                }
            }
            "pre" => {
                let text = self.buf.replace(BREAK, "\n").trim_matches('\n').to_owned();
                self.buf.clear();
                self.pre = self.pre.saturating_sub(1);
                let at = self.block_location();
                if !text.trim().is_empty() && self.tables.is_empty() {
                    self.ready.push(Part::text("code", text, at));
                }
            }
            _ if is_block(name) && !self.in_item => self.flush(),
            _ => {}
        }
    }

    fn characters(&mut self, text: &str) {
        if self.in_title {
            self.title.push_str(text);
        } else if self.skipped == 0 {
            if self.tables.is_empty() && !text.trim().is_empty() {
                let line = self.line;
                let lines = self.block_lines.get_or_insert((line, line));
                lines.1 = line;
            }
            if self.pre > 0 && self.tables.is_empty() {
                self.buf.push_str(text);
            } else {
                self.text_target().push_str(text);
            }
        }
    }
}

impl TokenSink for Sink {
    type Handle = ();

    fn process_token(&self, token: Token, line: u64) -> TokenSinkResult<()> {
        let mut state = self.0.borrow_mut();
        state.line = u32::try_from(line).unwrap_or(u32::MAX);
        match token {
            Token::TagToken(tag) => match tag.kind {
                TagKind::StartTag => return state.start_tag(&tag.name, tag.self_closing),
                TagKind::EndTag => {
                    let was_title = state.in_title && &*tag.name == "title";
                    state.end_tag(&tag.name);
                    if was_title {
                        let title = collapse(&std::mem::take(&mut state.title));
                        if !title.is_empty() {
                            let at = Location {
                                row_start: Some(state.line),
                                row_end: Some(state.line),
                                ..Location::default()
                            };
                            state.ready.insert(0, Part::text("title", title, at));
                        }
                    }
                }
            },
            Token::CharacterTokens(text) => state.characters(&text),
            Token::EOFToken => state.flush(),
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

/// Elements that end the block of text before them.
fn is_block(name: &str) -> bool {
    matches!(
        name,
        "p" | "div"
            | "section"
            | "article"
            | "aside"
            | "header"
            | "footer"
            | "nav"
            | "main"
            | "blockquote"
            | "figure"
            | "figcaption"
            | "address"
            | "dl"
            | "dt"
            | "dd"
            | "hr"
            | "form"
            | "fieldset"
            | "caption"
            | "body"
            | "html"
    )
}

/// Marks a `<br>` in collected text (source line breaks are only whitespace).
const BREAK: char = '\u{2028}';

/// Runs of whitespace as one space, `<br>` as a line break, trimmed.
fn collapse(text: &str) -> String {
    text.split(BREAK)
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}
