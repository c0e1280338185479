//! What every format shares about text: stripping the characters XML forbids, walking nested
//! lists without recursion, language tags, and the wording of notices.

use std::borrow::Cow;

use crate::model::{ListItem, Run, safe_link};

/// `text` without the characters XML 1.0 forbids (C0 controls other than tab, line feed and
/// carriage return; U+FFFE, U+FFFF). Borrowed when there are none, which is nearly always.
pub(crate) fn clean(text: &str) -> Cow<'_, str> {
    if text.chars().all(allowed) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.chars().filter(|&c| allowed(c)).collect())
    }
}

fn allowed(c: char) -> bool {
    !matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
}

/// Calls `f` with every item of a nested list and its depth (0 = outermost), in reading order,
/// with an explicit stack: a list built in Rust may nest deeper than any call stack.
pub(crate) fn each_item<'a>(items: &'a [ListItem], depth: usize, f: &mut dyn FnMut(&'a ListItem, usize)) {
    let mut stack: Vec<(std::slice::Iter<'a, ListItem>, usize)> = vec![(items.iter(), depth)];
    while let Some((iter, depth)) = stack.last_mut() {
        let depth = *depth;
        match iter.next() {
            Some(item) => {
                f(item, depth);
                if !item.items.is_empty() {
                    stack.push((item.items.iter(), depth + 1));
                }
            }
            None => {
                stack.pop();
            }
        }
    }
}

/// The plain text of runs, cleaned.
pub(crate) fn runs_text(runs: &[Run]) -> String {
    let mut out = String::new();
    for run in runs {
        out.push_str(&clean(&run.text));
    }
    out
}

/// The link of a run if it is safe to follow.
pub(crate) fn link(run: &Run) -> Option<&str> {
    safe_link(run.link.as_deref())
}

/// A BCP 47 tag as formats accept it (`de`, `en-GB`), or `None` for anything else, so a model's
/// `"language": "German"` cannot break a document's properties.
pub(crate) fn language_tag(language: Option<&str>) -> Option<String> {
    let tag = language?.trim().replace('_', "-");
    let mut parts = tag.split('-');
    let primary = parts.next()?;
    if !(2..=3).contains(&primary.len()) || !primary.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let mut out = primary.to_ascii_lowercase();
    for part in parts {
        if !(2..=8).contains(&part.len()) || !part.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        out.push('-');
        out.push_str(&if part.len() == 2 { part.to_ascii_uppercase() } else { part.to_owned() });
    }
    Some(out)
}

/// The notice of a section that failed.
pub(crate) fn error_notice(message: &str) -> String {
    format!("Error: {}", clean(message))
}

/// The line that stands for a reference to a stored document.
pub(crate) fn reference_line(label: &str) -> String {
    format!("Reference: {}", clean(label))
}

/// The notice under a table that a paged format cut.
pub(crate) fn cut_rows_notice(shown: usize, total: usize) -> String {
    format!("The table has {total} rows; the first {shown} are shown here (the XLSX and CSV exports have all of them).")
}

/// The notice that stands for an image that cannot be shown.
pub(crate) fn image_notice(reason: &str, alt: Option<&str>) -> String {
    match alt.map(str::trim).filter(|a| !a.is_empty()) {
        Some(alt) => format!("[Image not shown: {reason}. {}]", clean(alt)),
        None => format!("[Image not shown: {reason}.]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_characters_go() {
        assert!(matches!(clean("plain\ttext\n"), Cow::Borrowed(_)));
        assert_eq!(clean("a\u{0}b\u{1b}c\u{fffe}d\u{7f}é😀"), "abcd\u{7f}é😀");
    }

    #[test]
    fn language_tags() {
        assert_eq!(language_tag(Some("de")).as_deref(), Some("de"));
        assert_eq!(language_tag(Some("en_gb")).as_deref(), Some("en-GB"));
        assert_eq!(language_tag(Some("zh-Hans-CN")).as_deref(), Some("zh-Hans-CN"));
        assert_eq!(language_tag(Some("German")), None);
        assert_eq!(language_tag(Some("\"de\"")), None);
        assert_eq!(language_tag(None), None);
    }

    #[test]
    fn deep_lists_are_walked_without_recursion() {
        let mut item = ListItem::new("leaf");
        for i in 0..100_000 {
            item = ListItem { items: vec![item], ..ListItem::new(i.to_string()) };
        }
        let mut deepest = 0;
        each_item(std::slice::from_ref(&item), 0, &mut |_, depth| deepest = deepest.max(depth));
        assert_eq!(deepest, 100_000);
        // Dropping such a list is recursive in std; take it apart by hand.
        let mut items = vec![item];
        while let Some(mut next) = items.pop() {
            items.append(&mut next.items);
        }
    }
}
