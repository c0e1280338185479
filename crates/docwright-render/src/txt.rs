//! Plain text: the document as a person would type it — underlined title and headings, bullets,
//! tables as aligned columns, quotes indented, notices in brackets.

use crate::Options;
use crate::model::{Document, Element, heading_level};
use crate::text::{clean, each_item, error_notice, image_notice, reference_line, runs_text};

/// Table columns are padded to at most this many characters (longer cells overflow their column).
const MAX_COLUMN: usize = 40;

pub(crate) fn render(document: &Document, options: &Options) -> String {
    let mut out = String::new();
    if let Some(title) = &document.title {
        underlined(&mut out, &clean(title), '=');
    }
    let mut pictures = crate::picture::Pictures::new(options);
    for section in &document.sections {
        if let Some(title) = &section.title {
            underlined(&mut out, &clean(title), '=');
        }
        for element in &section.elements {
            match element {
                Element::Heading { level, text } => {
                    let text = clean(text);
                    match heading_level(*level) {
                        1 => underlined(&mut out, &text, '='),
                        2 => underlined(&mut out, &text, '-'),
                        _ => block(&mut out, &text),
                    }
                }
                Element::Paragraph { runs } => block(&mut out, &runs_text(runs)),
                Element::List(list) => {
                    let mut numbers: Vec<usize> = Vec::new();
                    each_item(&list.items, 0, &mut |item, depth| {
                        numbers.resize(depth + 1, 0);
                        numbers[depth] += 1;
                        let marker = if list.ordered { format!("{}.", numbers[depth]) } else { "-".to_owned() };
                        out.push_str(&"  ".repeat(depth + 1));
                        out.push_str(&marker);
                        out.push(' ');
                        out.push_str(&runs_text(&item.runs).replace('\n', " "));
                        out.push('\n');
                    });
                    out.push('\n');
                }
                Element::Table(table) => {
                    if let Some(caption) = &table.caption {
                        out.push_str(&clean(caption));
                        out.push('\n');
                    }
                    let rows: Vec<Vec<String>> =
                        std::iter::once(table.columns.iter().map(|c| clean(&c.name).into_owned()).collect())
                            .chain(table.rows.iter().map(|row| {
                                table
                                    .columns
                                    .iter()
                                    .enumerate()
                                    .map(|(i, c)| {
                                        row.get(i)
                                            .map(|cell| clean(&cell.display(c.data_type)).replace(['\n', '\r'], " "))
                                            .unwrap_or_default()
                                    })
                                    .collect()
                            }))
                            .collect();
                    let widths: Vec<usize> = (0..table.columns.len())
                        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0).min(MAX_COLUMN))
                        .collect();
                    for (n, row) in rows.iter().enumerate() {
                        let line: Vec<String> = row
                            .iter()
                            .zip(&widths)
                            .enumerate()
                            .map(|(i, (cell, &w))| {
                                let pad = w.saturating_sub(cell.chars().count());
                                if table.columns[i].data_type.is_numeric() && n > 0 {
                                    format!("{}{cell}", " ".repeat(pad))
                                } else {
                                    format!("{cell}{}", " ".repeat(pad))
                                }
                            })
                            .collect();
                        out.push_str(line.join(" | ").trim_end());
                        out.push('\n');
                        if n == 0 {
                            let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w.max(1))).collect();
                            out.push_str(&rule.join("-+-"));
                            out.push('\n');
                        }
                    }
                    out.push('\n');
                }
                Element::Image(image) => {
                    let text = match pictures.prepare(image) {
                        Ok(_) => {
                            let what = [&image.alt_text, &image.caption]
                                .into_iter()
                                .flatten()
                                .map(|s| clean(s).into_owned())
                                .collect::<Vec<_>>()
                                .join(" — ");
                            if what.is_empty() { "[Image]".to_owned() } else { format!("[Image: {what}]") }
                        }
                        Err(reason) => image_notice(&reason, image.alt_text.as_deref()),
                    };
                    block(&mut out, &text);
                }
                Element::Reference { label, .. } => block(&mut out, &reference_line(label)),
                Element::ExtractedText { content, source, .. } => {
                    for line in clean(content).lines() {
                        out.push_str("    ");
                        out.push_str(line);
                        out.push('\n');
                    }
                    if let Some(source) = source {
                        out.push_str(&format!("    — {}\n", clean(source)));
                    }
                    out.push('\n');
                }
                Element::PageBreak => out.push('\n'),
                Element::Error { message, .. } => block(&mut out, &format!("[{}]", error_notice(message))),
            }
        }
    }
    out
}

fn underlined(out: &mut String, text: &str, rule: char) {
    out.push_str(text);
    out.push('\n');
    out.push_str(&rule.to_string().repeat(text.chars().count().clamp(3, 80)));
    out.push_str("\n\n");
}

fn block(out: &mut String, text: &str) {
    out.push_str(text);
    out.push_str("\n\n");
}
