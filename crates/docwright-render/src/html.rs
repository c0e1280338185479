//! One self-contained HTML file: inline CSS, images as data URLs, every text escaped, links only
//! to `http(s)` and `mailto`, and a Content-Security-Policy that allows no script and no outside
//! resource — text from a model is data, never markup.

use base64::Engine as _;

use crate::Options;
use crate::model::{Cell, Document, Element, Run, heading_level};
use crate::picture::Pictures;
use crate::text::{clean, each_item, error_notice, image_notice, language_tag, link, reference_line};

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans',sans-serif;\
line-height:1.5;color:#1f2328;max-width:60rem;margin:2rem auto;padding:0 1rem}\
h1,h2,h3,h4,h5,h6{line-height:1.25;margin:1.5em 0 .5em}h1{font-size:2em;border-bottom:1px solid #d0d7de;padding-bottom:.3em}\
table{border-collapse:collapse;margin:1em 0;width:auto;max-width:100%;display:block;overflow-x:auto}\
caption{caption-side:top;text-align:left;font-weight:600;padding:.3em 0}\
th,td{border:1px solid #d0d7de;padding:.3em .6em;vertical-align:top}th{background:#f6f8fa;text-align:left}\
td.num{text-align:right;font-variant-numeric:tabular-nums}\
figure{margin:1em 0}figure img{max-width:100%;height:auto}figcaption{color:#57606a;font-size:.9em}\
blockquote{margin:1em 0;padding:0 1em;color:#3d444d;border-left:.25em solid #d0d7de}blockquote footer{font-size:.9em;color:#57606a}\
code{font-family:ui-monospace,'DejaVu Sans Mono',monospace;background:#f6f8fa;padding:.1em .3em;border-radius:4px}\
.notice{border:1px solid #d1242f;background:#ffebe9;color:#82071e;padding:.6em 1em;border-radius:6px}\
.reference{color:#57606a}.page-break{break-after:page;border:0}\
p,li,td,th,h1,h2,h3,h4,h5,h6{overflow-wrap:anywhere}";

pub(crate) fn render(document: &Document, options: &Options) -> String {
    let mut out = String::with_capacity(4096);
    out.push_str("<!DOCTYPE html>\n<html");
    if let Some(lang) = language_tag(document.language.as_deref()) {
        out.push_str(&format!(" lang=\"{lang}\""));
    }
    out.push_str(">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<meta name=\"generator\" content=\"docwright\">\n");
    let meta = &document.metadata;
    for (name, value) in [("author", &meta.author), ("description", &meta.subject)] {
        if let Some(value) = value {
            out.push_str(&format!("<meta name=\"{name}\" content=\"{}\">\n", escape(value)));
        }
    }
    if !meta.keywords.is_empty() {
        out.push_str(&format!("<meta name=\"keywords\" content=\"{}\">\n", escape(&meta.keywords.join(", "))));
    }
    out.push_str(&format!("<title>{}</title>\n", escape(document.title.as_deref().unwrap_or(""))));
    out.push_str(&format!("<style>{STYLE}</style>\n</head>\n<body>\n"));
    if let Some(title) = &document.title {
        out.push_str(&format!("<h1>{}</h1>\n", escape(title)));
    }
    let mut pictures = Pictures::new(options);
    for section in &document.sections {
        out.push_str("<section");
        if let Some(id) = &section.id {
            out.push_str(&format!(" data-section-id=\"{}\"", escape(id)));
        }
        out.push_str(">\n");
        if let Some(title) = &section.title {
            out.push_str(&format!("<h1>{}</h1>\n", escape(title)));
        }
        for element in &section.elements {
            element_html(&mut out, element, &mut pictures);
        }
        out.push_str("</section>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn element_html(out: &mut String, element: &Element, pictures: &mut Pictures<'_>) {
    match element {
        Element::Heading { level, text } => {
            let level = heading_level(*level);
            out.push_str(&format!("<h{level}>{}</h{level}>\n", escape(text)));
        }
        Element::Paragraph { runs } => {
            out.push_str("<p>");
            runs_html(out, runs);
            out.push_str("</p>\n");
        }
        Element::List(list) => {
            let tag = if list.ordered { "ol" } else { "ul" };
            // Items come flat with their depth; open and close nested lists as the depth moves.
            let mut open = 0usize;
            each_item(&list.items, 1, &mut |item, depth| {
                if depth > open {
                    while open < depth {
                        out.push_str(&format!("<{tag}>\n<li>"));
                        open += 1;
                    }
                } else {
                    while open > depth {
                        out.push_str(&format!("</li>\n</{tag}>\n"));
                        open -= 1;
                    }
                    out.push_str("</li>\n<li>");
                }
                runs_html(out, &item.runs);
            });
            while open > 0 {
                out.push_str(&format!("</li>\n</{tag}>\n"));
                open -= 1;
            }
        }
        Element::Table(table) => {
            out.push_str("<table>\n");
            if let Some(caption) = &table.caption {
                out.push_str(&format!("<caption>{}</caption>\n", escape(caption)));
            }
            out.push_str("<thead><tr>");
            for column in &table.columns {
                out.push_str(&format!("<th scope=\"col\">{}</th>", escape(&column.name)));
            }
            out.push_str("</tr></thead>\n<tbody>\n");
            for row in &table.rows {
                out.push_str("<tr>");
                for (i, column) in table.columns.iter().enumerate() {
                    let cell = row.get(i).unwrap_or(&Cell::Empty);
                    let numeric = column.data_type.is_numeric() && matches!(cell, Cell::Number(_));
                    out.push_str(if numeric { "<td class=\"num\">" } else { "<td>" });
                    out.push_str(&escape(&cell.display(column.data_type)));
                    out.push_str("</td>");
                }
                out.push_str("</tr>\n");
            }
            out.push_str("</tbody>\n</table>\n");
        }
        Element::Image(image) => match pictures.prepare(image) {
            Ok(picture) => {
                let data = base64::engine::general_purpose::STANDARD.encode(&picture.bytes);
                out.push_str(&format!(
                    "<figure><img src=\"data:{};base64,{data}\" width=\"{}\" height=\"{}\" alt=\"{}\">",
                    picture.kind.mime(),
                    picture.width,
                    picture.height,
                    escape(image.alt_text.as_deref().unwrap_or(""))
                ));
                if let Some(caption) = &image.caption {
                    out.push_str(&format!("<figcaption>{}</figcaption>", escape(caption)));
                }
                out.push_str("</figure>\n");
            }
            Err(reason) => {
                out.push_str(&format!(
                    "<p class=\"notice\">{}</p>\n",
                    escape(&image_notice(&reason, image.alt_text.as_deref()))
                ));
            }
        },
        Element::Reference { label, document_reference } => {
            out.push_str(&format!(
                "<p class=\"reference\" data-document-reference=\"{}\">{}</p>\n",
                escape(document_reference),
                escape(&reference_line(label))
            ));
        }
        Element::ExtractedText { content, source, .. } => {
            out.push_str("<blockquote>");
            for paragraph in clean(content).split("\n\n") {
                out.push_str(&format!("<p>{}</p>", escape(paragraph).replace('\n', "<br>")));
            }
            if let Some(source) = source {
                out.push_str(&format!("<footer>— {}</footer>", escape(source)));
            }
            out.push_str("</blockquote>\n");
        }
        Element::PageBreak => out.push_str("<hr class=\"page-break\">\n"),
        Element::Error { message, section_id } => {
            out.push_str("<div class=\"notice\" role=\"alert\"");
            if let Some(id) = section_id {
                out.push_str(&format!(" data-section-id=\"{}\"", escape(id)));
            }
            out.push_str(&format!("><strong>⚠</strong> {}</div>\n", escape(&error_notice(message))));
        }
    }
}

fn runs_html(out: &mut String, runs: &[Run]) {
    for run in runs {
        let mut text = escape(&run.text).replace('\n', "<br>");
        if run.code {
            text = format!("<code>{text}</code>");
        }
        if run.italic {
            text = format!("<em>{text}</em>");
        }
        if run.bold {
            text = format!("<strong>{text}</strong>");
        }
        if let Some(url) = link(run) {
            text = format!("<a href=\"{}\" rel=\"noopener noreferrer\">{text}</a>", escape(url));
        }
        out.push_str(&text);
    }
}

/// HTML text and attribute escaping, with the characters XML forbids dropped.
pub(crate) fn escape(text: &str) -> String {
    let text = clean(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{List, ListItem, Section};

    #[test]
    fn text_and_attributes_are_escaped() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }

    #[test]
    fn nested_lists_close_what_they_open() {
        let list = List {
            ordered: false,
            items: vec![
                ListItem {
                    items: vec![ListItem::new("b"), ListItem { items: vec![ListItem::new("d")], ..ListItem::new("c") }],
                    ..ListItem::new("a")
                },
                ListItem::new("e"),
            ],
        };
        let doc = Document {
            sections: vec![Section { elements: vec![Element::List(list)], ..Section::default() }],
            ..Document::default()
        };
        let html = render(&doc, &Options::default());
        let body = &html[html.find("<ul>").unwrap()..html.rfind("</ul>").unwrap() + 5];
        assert_eq!(
            body.replace('\n', ""),
            "<ul><li>a<ul><li>b</li><li>c<ul><li>d</li></ul></li></ul></li><li>e</li></ul>"
        );
    }
}
