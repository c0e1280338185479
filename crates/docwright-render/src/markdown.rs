//! Markdown (CommonMark with GitHub's tables). Every text is escaped, so a model's `*`, `#`,
//! `[`, `|` or `<script>` come out as those characters, never as markup; images are embedded
//! as data URLs so the file stands alone.

use base64::Engine as _;

use crate::Options;
use crate::model::{Document, Element, Run, heading_level};
use crate::picture::Pictures;
use crate::text::{clean, each_item, error_notice, image_notice, link, reference_line};

pub(crate) fn render(document: &Document, options: &Options) -> String {
    let mut out = String::new();
    if let Some(title) = &document.title {
        out.push_str(&format!("# {}\n\n", escape(&clean(title))));
    }
    let mut pictures = Pictures::new(options);
    for section in &document.sections {
        if let Some(title) = &section.title {
            out.push_str(&format!("# {}\n\n", escape(&clean(title))));
        }
        for element in &section.elements {
            match element {
                Element::Heading { level, text } => {
                    let hashes = "#".repeat(usize::from(heading_level(*level)));
                    out.push_str(&format!("{hashes} {}\n\n", escape(&clean(text)).replace('\n', " ")));
                }
                Element::Paragraph { runs } => {
                    out.push_str(&runs_markdown(runs));
                    out.push_str("\n\n");
                }
                Element::List(list) => {
                    each_item(&list.items, 0, &mut |item, depth| {
                        out.push_str(&"    ".repeat(depth));
                        out.push_str(if list.ordered { "1. " } else { "- " });
                        out.push_str(&runs_markdown(&item.runs).replace('\n', " "));
                        out.push('\n');
                    });
                    out.push('\n');
                }
                Element::Table(table) => {
                    if let Some(caption) = &table.caption {
                        out.push_str(&format!("**{}**\n\n", escape(&clean(caption))));
                    }
                    if table.columns.is_empty() {
                        continue;
                    }
                    let row_line = |cells: &mut dyn Iterator<Item = String>| {
                        let mut line = String::from("|");
                        for cell in cells {
                            line.push(' ');
                            line.push_str(&cell);
                            line.push_str(" |");
                        }
                        line.push('\n');
                        line
                    };
                    out.push_str(&row_line(&mut table.columns.iter().map(|c| table_cell(&c.name))));
                    out.push_str(&row_line(
                        &mut table
                            .columns
                            .iter()
                            .map(|c| if c.data_type.is_numeric() { "---:" } else { "---" }.to_owned()),
                    ));
                    for row in &table.rows {
                        out.push_str(&row_line(&mut table.columns.iter().enumerate().map(|(i, c)| {
                            row.get(i).map(|cell| table_cell(&cell.display(c.data_type))).unwrap_or_default()
                        })));
                    }
                    out.push('\n');
                }
                Element::Image(image) => match pictures.prepare(image) {
                    Ok(picture) => {
                        let alt = escape(&clean(image.alt_text.as_deref().unwrap_or(""))).replace('\n', " ");
                        let data = base64::engine::general_purpose::STANDARD.encode(&picture.bytes);
                        out.push_str(&format!("![{alt}](data:{};base64,{data})\n\n", picture.kind.mime()));
                        if let Some(caption) = &image.caption {
                            out.push_str(&format!("*{}*\n\n", escape(&clean(caption))));
                        }
                    }
                    Err(reason) => {
                        out.push_str(&format!("{}\n\n", escape(&image_notice(&reason, image.alt_text.as_deref()))))
                    }
                },
                Element::Reference { label, .. } => out.push_str(&format!("{}\n\n", escape(&reference_line(label)))),
                Element::ExtractedText { content, source, .. } => {
                    for line in clean(content).lines() {
                        out.push_str("> ");
                        out.push_str(&escape(line));
                        out.push('\n');
                    }
                    if let Some(source) = source {
                        out.push_str(&format!(">\n> — *{}*\n", escape(&clean(source))));
                    }
                    out.push('\n');
                }
                Element::PageBreak => out.push_str("---\n\n"),
                Element::Error { message, .. } => {
                    out.push_str(&format!("> **⚠ {}**\n\n", escape(&error_notice(message)).replace('\n', " ")));
                }
            }
        }
    }
    out
}

/// Runs with their emphasis, code spans and safe links; the text itself escaped.
fn runs_markdown(runs: &[Run]) -> String {
    let mut out = String::new();
    for run in runs {
        let text = clean(&run.text);
        if text.is_empty() {
            continue;
        }
        let mut piece = if run.code { code_span(&text) } else { escape(&text) };
        // Emphasis markers must touch non-space characters, so spaces stay outside them.
        let lead = piece.len() - piece.trim_start().len();
        let trail = piece.len() - piece.trim_end().len();
        let (head, body, tail) =
            (piece[..lead].to_owned(), piece.trim().to_owned(), piece[piece.len() - trail..].to_owned());
        if !body.is_empty() {
            let mut body = body;
            if run.italic {
                body = format!("*{body}*");
            }
            if run.bold {
                body = format!("**{body}**");
            }
            if let Some(url) = link(run) {
                body = format!("[{body}](<{}>)", url.replace(['<', '>'], ""));
            }
            piece = format!("{head}{body}{tail}");
        }
        out.push_str(&piece);
    }
    out
}

/// A code span fenced by more backticks than the text contains in a row.
fn code_span(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') { " " } else { "" };
    format!("{fence}{pad}{}{pad}{fence}", text.replace('\n', " "))
}

/// A table cell: escaped, pipes escaped, one line.
fn table_cell(text: &str) -> String {
    escape(&clean(text)).replace(['\n', '\r'], " ")
}

/// Text that Markdown shows as itself: ASCII punctuation that could start markup is
/// backslash-escaped (CommonMark allows that for any ASCII punctuation), `&` and `<` become
/// entities, and line starts that would make a heading, list, quote or rule are escaped too.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        out.push_str(&indent.replace('\t', " "));
        let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
        let numbered = digits > 0
            && matches!(trimmed.as_bytes().get(digits), Some(b'.' | b')'))
            && matches!(trimmed.as_bytes().get(digits + 1), None | Some(b' ' | b'\t'));
        for (i, c) in trimmed.char_indices() {
            match c {
                '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '!' | '{' | '}' => {
                    out.push('\\');
                    out.push(c);
                }
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '#' | '+' | '-' | '=' if i == 0 => {
                    out.push('\\');
                    out.push(c);
                }
                '.' | ')' if numbered && i == digits => {
                    out.push('\\');
                    out.push(c);
                }
                _ => out.push(c),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_never_markup() {
        assert_eq!(escape("*bold* [x](y) <b> a|b"), "\\*bold\\* \\[x\\](y) &lt;b&gt; a\\|b");
        assert_eq!(
            escape("# not a heading\n- not a list\n1. nor this"),
            "\\# not a heading\n\\- not a list\n1\\. nor this"
        );
        assert_eq!(escape("12.50 CHF - 3"), "12.50 CHF - 3");
        assert_eq!(code_span("a`b"), "``a`b``");
        assert_eq!(code_span("`x`"), "`` `x` ``");
    }

    #[test]
    fn runs_keep_spaces_outside_emphasis() {
        let runs = vec![
            Run { text: "bold ".into(), bold: true, ..Run::default() },
            Run::plain("and"),
            Run { text: " link".into(), link: Some("https://a.b/c".into()), ..Run::default() },
            Run { text: "bad".into(), link: Some("javascript:x".into()), ..Run::default() },
        ];
        assert_eq!(runs_markdown(&runs), "**bold** and [link](<https://a.b/c>)bad");
    }
}
