//! A page's text from the spans of its content stream, in reading order.
//!
//! `pdf_oxide`'s own `extract_text` reads every page's content stream three times (the spans,
//! then every glyph again to place characters, and once per document every page of it to find
//! running headers) and runs table detection on top: about four times the work of `pdftotext`
//! (SPEC N2). Here a page is read once ([`PdfDocument::extract_spans_with_config`], the spans as
//! the content stream paints them, kept only if they fall inside the crop box), ordered into
//! blocks by our own recursive XY-cut (a gutter splits only between columns of text, so a
//! two-column page reads column by column while a form row stays one line), and each block is
//! set into lines by baseline and into words by the gaps between spans; a word hyphenated at a
//! line's end is joined again. Running headers and page numbers stay in the text, as
//! `pdftotext` keeps them: a page's text is what is printed on it.

use pdf_oxide::PdfDocument;
use pdf_oxide::extractors::SpanMergingConfig;
use pdf_oxide::layout::TextSpan;

/// Two spans on one line farther apart than this share of the font size hold a space.
const WORD_GAP_EM: f32 = 0.12;
/// Baselines closer than this share of the larger font size are one line (sub- and
/// superscripts included).
const SAME_LINE_EM: f32 = 0.5;
/// A gutter between columns is at least this wide (in font sizes)...
const MIN_GUTTER_EM: f32 = 1.0;
/// ...and the text on either side of it at least this wide: narrower pieces side by side are
/// the cells of a table or form ("Total" and its amount), read row by row.
const MIN_COLUMN_EM: f32 = 8.0;
/// Blank space across a region this tall (in font sizes) separates its blocks.
const MIN_BAND_GAP_EM: f32 = 0.5;
/// Recursion depth of the cuts (a page has a few levels; hostile ones get a flat block).
const MAX_CUT_DEPTH: u32 = 48;
/// A block that starts more than this many line heights below the previous one starts a new
/// paragraph (an empty line between them).
const PARAGRAPH_GAP_LINES: f32 = 1.6;

/// The text of page `index` (0-based).
pub(super) fn page_text(doc: &PdfDocument, index: usize) -> pdf_oxide::Result<String> {
    let mut spans = doc.extract_spans_with_config(index, SpanMergingConfig::default())?;
    // Only what a reader sees: text placed beyond the crop box (the other half of a spread,
    // printer's marks, leftovers) is not on the page.
    if let Ok((left, bottom, right, top)) = doc.get_page_visible_box(index) {
        spans.retain(|s| {
            let b = &s.bbox;
            b.x + b.width.max(0.0) > left && b.x < right && b.y + b.height.max(0.0) > bottom && b.y < top
        });
    }
    Ok(assemble(spans))
}

/// The spans set as text: upright text in reading order, then text at an angle (vertical
/// writing, rotated labels) in the order it was painted.
pub(super) fn assemble(spans: Vec<TextSpan>) -> String {
    let (upright, turned): (Vec<TextSpan>, Vec<TextSpan>) = spans
        .into_iter()
        .filter(|s| {
            let b = &s.bbox;
            !s.text.is_empty() && [s.font_size, b.x, b.y, b.width, b.height].iter().all(|v| v.is_finite())
        })
        .partition(|s| s.rotation_degrees.abs() < 0.5 && s.wmode == 0);

    let mut out = String::new();
    if !upright.is_empty() {
        let mut blocks = Vec::new();
        cut(&upright, (0..upright.len()).collect(), 0, &mut blocks);
        let mut slots: Vec<Option<TextSpan>> = upright.into_iter().map(Some).collect();
        let blocks = blocks.into_iter().map(|block| block.into_iter().filter_map(|i| slots[i].take()).collect());
        let mut previous: Option<Line> = None;
        for block in blocks {
            for line in lines(block) {
                if let Some(prev) = &previous {
                    let height = prev.size.max(line.size).max(1.0);
                    let gap = prev.baseline - line.baseline;
                    if gap > PARAGRAPH_GAP_LINES * height || gap < -height {
                        out.push_str("\n\n");
                    } else if !rejoin_hyphenated(&mut out, &line.text) {
                        out.push('\n');
                    }
                }
                out.push_str(&line.text);
                previous = Some(line);
            }
        }
    }

    let mut turned = turned;
    turned.sort_by_key(|s| s.sequence);
    for span in turned.into_iter().filter(|s| !s.text.trim().is_empty()) {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(span.text.trim());
    }
    out
}

/// Recursive XY-cut: a region splits at the widest gutter that has a column of text on either
/// side (left before right), else at the widest band of blank space across it (top before
/// bottom); what cannot be split is a block.
fn cut(spans: &[TextSpan], region: Vec<usize>, depth: u32, out: &mut Vec<Vec<usize>>) {
    if region.len() < 2 || depth >= MAX_CUT_DEPTH {
        out.push(region);
        return;
    }
    let em = median_size(spans, &region);
    let across = |i: &usize| (spans[*i].bbox.x, spans[*i].bbox.x + spans[*i].bbox.width.max(0.0));
    let (min_x, max_x) = extent(region.iter().map(across));
    let columns = |start: f32, end: f32| start - min_x >= MIN_COLUMN_EM * em && max_x - end >= MIN_COLUMN_EM * em;
    let gutter = widest_gap(region.iter().map(across).collect(), MIN_GUTTER_EM * em, columns);
    if let Some((start, end)) = gutter {
        let middle = (start + end) / 2.0;
        let (left, right) = region.into_iter().partition(|&i| spans[i].bbox.x < middle);
        cut(spans, left, depth + 1, out);
        cut(spans, right, depth + 1, out);
        return;
    }
    // Upwards: a span covers its baseline to its baseline plus its size.
    let up = |i: &usize| (spans[*i].bbox.y, spans[*i].bbox.y + spans[*i].bbox.height.max(0.0));
    if let Some((start, end)) = widest_gap(region.iter().map(up).collect(), MIN_BAND_GAP_EM * em, |_, _| true) {
        let middle = (start + end) / 2.0;
        let (above, below) = region.into_iter().partition(|&i| spans[i].bbox.y > middle);
        cut(spans, above, depth + 1, out);
        cut(spans, below, depth + 1, out);
        return;
    }
    out.push(region);
}

/// The widest stretch of at least `min` covered by none of the intervals, strictly inside them,
/// among those that `fits`.
fn widest_gap(mut intervals: Vec<(f32, f32)>, min: f32, fits: impl Fn(f32, f32) -> bool) -> Option<(f32, f32)> {
    intervals.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut covered_to = intervals.first()?.1;
    let mut best: Option<(f32, f32)> = None;
    for (start, end) in intervals.into_iter().skip(1) {
        let width = start - covered_to;
        if width >= min && best.is_none_or(|(s, e)| width > e - s) && fits(covered_to, start) {
            best = Some((covered_to, start));
        }
        covered_to = covered_to.max(end);
    }
    best
}

fn extent(intervals: impl Iterator<Item = (f32, f32)>) -> (f32, f32) {
    intervals.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), (s, e)| (lo.min(s), hi.max(e)))
}

fn median_size(spans: &[TextSpan], region: &[usize]) -> f32 {
    let mut sizes: Vec<f32> = region.iter().map(|&i| spans[i].font_size.abs()).collect();
    let middle = sizes.len() / 2;
    let (_, median, _) = sizes.select_nth_unstable_by(middle, f32::total_cmp);
    median.max(1.0)
}

/// A word broken at the end of a line ("ef-" + "ficient") is one word again: when the text so
/// far ends in a letter and a hyphen (or a soft hyphen) and `next` goes on in lower case, the
/// hyphen is dropped and `next` continues the line. Like `pdftotext`, this also joins a compound
/// that happened to break at its own hyphen; searching and reading want the common case.
fn rejoin_hyphenated(out: &mut String, next: &str) -> bool {
    let mut tail = out.chars().rev();
    let (Some(hyphen), Some(letter)) = (tail.next(), tail.next()) else { return false };
    let continues = next.chars().next().is_some_and(char::is_lowercase);
    if matches!(hyphen, '-' | '\u{AD}' | '\u{2010}') && letter.is_alphabetic() && continues {
        out.pop();
        true
    } else {
        false
    }
}

/// One line of a block: its text, baseline and (largest) font size.
struct Line {
    text: String,
    baseline: f32,
    size: f32,
}

/// A block's spans grouped by baseline, top to bottom, each line left to right.
fn lines(mut spans: Vec<TextSpan>) -> Vec<Line> {
    spans.sort_by(|a, b| b.bbox.y.total_cmp(&a.bbox.y).then(a.bbox.x.total_cmp(&b.bbox.x)));
    let mut grouped: Vec<(f32, f32, Vec<TextSpan>)> = Vec::new();
    for span in spans {
        let size = span.font_size.abs().max(1.0);
        match grouped.last_mut() {
            Some((baseline, line_size, members))
                if (*baseline - span.bbox.y).abs() <= SAME_LINE_EM * line_size.max(size) =>
            {
                // The line's baseline is that of its largest text: superscripts do not move it.
                if size > *line_size {
                    *baseline = span.bbox.y;
                    *line_size = size;
                }
                members.push(span);
            }
            _ => grouped.push((span.bbox.y, size, vec![span])),
        }
    }
    grouped
        .into_iter()
        .map(|(baseline, size, mut members)| {
            members.sort_by(|a, b| a.bbox.x.total_cmp(&b.bbox.x));
            let mut text = String::new();
            let mut right_edge: Option<f32> = None;
            for span in &members {
                if let Some(right) = right_edge {
                    let gap = span.bbox.x - right;
                    let em = span.font_size.abs().max(1.0);
                    let spaced = text.ends_with(char::is_whitespace) || span.text.starts_with(char::is_whitespace);
                    if gap > WORD_GAP_EM * em && !spaced {
                        text.push(' ');
                    }
                }
                if span.text.trim().is_empty() {
                    // A space the content stream painted: one, however wide.
                    if !text.is_empty() && !text.ends_with(char::is_whitespace) {
                        text.push(' ');
                    }
                } else if text.ends_with(char::is_whitespace) {
                    // Justified text paints its own spaces and widens the gaps as well.
                    text.push_str(span.text.trim_start());
                } else {
                    text.push_str(&span.text);
                }
                let right = span.bbox.x + span.bbox.width.max(0.0);
                right_edge = Some(right_edge.map_or(right, |r| r.max(right)));
            }
            Line { text: text.trim().to_owned(), baseline, size }
        })
        .filter(|line| !line.text.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pdf_oxide::geometry::Rect;

    fn span(text: &str, x: f32, y: f32, size: f32) -> TextSpan {
        let width = size * 0.5 * text.chars().count() as f32;
        TextSpan { text: text.to_owned(), bbox: Rect::new(x, y, width, size), font_size: size, ..TextSpan::default() }
    }

    #[test]
    fn words_lines_and_paragraphs() {
        let text = assemble(vec![
            span("world", 40.0 + 5.0 * 5.0 + 3.0, 700.0, 10.0),
            span("Hello", 40.0, 700.0, 10.0),
            span("2", 40.0 + 10.0 * 5.0, 704.0, 6.0),
            span("Next line", 40.0, 688.0, 10.0),
            span("New paragraph", 40.0, 640.0, 10.0),
        ]);
        assert_eq!(text, "Hello world2\nNext line\n\nNew paragraph");
    }

    #[test]
    fn words_broken_at_the_end_of_a_line_are_joined() {
        let text = assemble(vec![
            span("retrieval is ef-", 40.0, 700.0, 10.0),
            span("ficient and well-", 40.0, 688.0, 10.0),
            span("Known. A dash -", 40.0, 676.0, 10.0),
            span("stays.", 40.0, 664.0, 10.0),
        ]);
        assert_eq!(text, "retrieval is efficient and well-\nKnown. A dash -\nstays.");
    }

    #[test]
    fn kerned_pieces_of_a_word_stay_together_and_turned_text_comes_last() {
        let mut turned = span("Sidebar", 5.0, 400.0, 10.0);
        turned.rotation_degrees = 90.0;
        let text =
            assemble(vec![turned, span("Infor", 40.0, 700.0, 10.0), span("mation", 40.0 + 25.0 + 0.3, 700.0, 10.0)]);
        assert_eq!(text, "Information\nSidebar");
    }
}
