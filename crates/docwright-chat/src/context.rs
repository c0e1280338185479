//! A turn's context: passages numbered for citation and trimmed to the model's input budget.
//!
//! **The trimming rule.** The budget for passages is what the model's context leaves after
//! the answer's output budget, the system prompt, the history, the question and a safety margin
//! of 5 % of the context (at least [`MIN_MARGIN`] tokens), as [`Budget::passages`] computes.
//! Passages are taken in order — the attachments' parts in document order first, then the
//! retrieved passages by fused rank — each counted with its heading line. A passage that does
//! not fit whole is cut at a word boundary to what is left, provided at least
//! [`MIN_CUT_TOKENS`] tokens are left; after the first passage that does not fit whole nothing
//! more is taken, so the context is always a prefix of the ranked passages and the model never
//! sees a later passage in place of an earlier one. Every passage taken (cut or not) is a
//! source of the answer.

/// Where a passage came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A part of a file attached to the message.
    Attachment,
    /// A passage found in the chat's project.
    Retrieval,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Attachment => "attachment",
            Origin::Retrieval => "retrieval",
        }
    }
}

/// A piece of a document that may go into the prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passage {
    pub file_id: String,
    pub file_name: String,
    pub part_id: String,
    pub page: Option<u32>,
    pub slide: Option<u32>,
    pub sheet: Option<String>,
    pub text: String,
    pub origin: Origin,
}

impl Passage {
    /// Where in its file the passage is, for the heading and for people: `page 3`.
    pub fn location(&self) -> Option<String> {
        match (self.page, self.slide, &self.sheet) {
            (Some(p), _, _) => Some(format!("page {p}")),
            (_, Some(s), _) => Some(format!("slide {s}")),
            (_, _, Some(s)) => Some(format!("sheet {s}")),
            _ => None,
        }
    }
}

/// A passage as it goes into the prompt, with its citation number (from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Numbered {
    pub index: u32,
    pub passage: Passage,
    /// Whether the passage's text was cut to fit.
    pub cut: bool,
}

/// Always left free in a model's context besides the computed parts.
pub const MIN_MARGIN: u64 = 256;
/// A passage is cut to fit only if at least this much of it fits.
pub const MIN_CUT_TOKENS: u64 = 100;

/// The sizes a turn's prompt is made of, in tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub context_tokens: u64,
    pub output_tokens: u64,
    /// The system prompt, the history and the question together.
    pub fixed_tokens: u64,
}

impl Budget {
    /// What is left for passages (0 when nothing is).
    pub fn passages(&self) -> u64 {
        let margin = (self.context_tokens / 20).max(MIN_MARGIN);
        self.context_tokens.saturating_sub(self.output_tokens).saturating_sub(self.fixed_tokens).saturating_sub(margin)
    }
}

/// The heading of a passage in the prompt: `[2] plan.pdf, page 3`.
pub fn heading(index: u32, p: &Passage) -> String {
    match p.location() {
        Some(l) => format!("[{index}] {}, {l}", p.file_name),
        None => format!("[{index}] {}", p.file_name),
    }
}

/// The passages that fit `budget` tokens by the rule above, numbered from 1. `tokens` is the
/// caller's estimate of a text's tokens.
pub fn assemble(passages: Vec<Passage>, budget: u64, tokens: &dyn Fn(&str) -> u64) -> Vec<Numbered> {
    let mut left = budget;
    let mut out = Vec::new();
    for passage in passages {
        let text = passage.text.trim();
        if text.is_empty() {
            continue;
        }
        let index = out.len() as u32 + 1;
        // The heading, its line breaks and the blank line after the passage.
        let overhead = tokens(&heading(index, &passage)) + 2;
        let need = overhead + tokens(text);
        if need <= left {
            left -= need;
            let passage = Passage { text: text.to_owned(), ..passage };
            out.push(Numbered { index, passage, cut: false });
            continue;
        }
        let room = left.saturating_sub(overhead);
        if room >= MIN_CUT_TOKENS {
            let cut = cut_to(text, room, tokens);
            if !cut.is_empty() {
                out.push(Numbered { index, passage: Passage { text: cut, ..passage }, cut: true });
            }
        }
        break;
    }
    out
}

/// The longest prefix of `text` ending at a word boundary whose estimate is at most `room`.
fn cut_to(text: &str, room: u64, tokens: &dyn Fn(&str) -> u64) -> String {
    // Room for the mark of the cut, then a binary search over char boundaries, then back to
    // the last whitespace.
    let room = room.saturating_sub(tokens(" …"));
    let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
    let (mut lo, mut hi) = (0usize, bounds.len() - 1);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if tokens(&text[..bounds[mid]]) <= room { lo = mid } else { hi = mid - 1 }
    }
    let prefix = &text[..bounds[lo]];
    if prefix.len() == text.len() {
        return prefix.to_owned();
    }
    let end = prefix.rfind(char::is_whitespace).unwrap_or(prefix.len());
    format!("{} …", prefix[..end].trim_end())
}

/// The context block of the prompt: each passage under its heading.
pub fn render(passages: &[Numbered]) -> String {
    let mut out = String::new();
    for n in passages {
        out.push_str(&heading(n.index, &n.passage));
        out.push('\n');
        out.push_str(&n.passage.text);
        out.push_str("\n\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est(t: &str) -> u64 {
        (t.len() as u64).div_ceil(4)
    }

    fn passage(name: &str, page: u32, text: &str) -> Passage {
        Passage {
            file_id: format!("f-{name}"),
            file_name: name.to_owned(),
            part_id: format!("p-{name}-{page}"),
            page: Some(page),
            slide: None,
            sheet: None,
            text: text.to_owned(),
            origin: Origin::Attachment,
        }
    }

    #[test]
    fn the_budget_leaves_room_for_output_prompt_and_margin() {
        let b = Budget { context_tokens: 8000, output_tokens: 1000, fixed_tokens: 500 };
        assert_eq!(b.passages(), 8000 - 1000 - 500 - 400);
        let small = Budget { context_tokens: 1000, output_tokens: 900, fixed_tokens: 0 };
        assert_eq!(small.passages(), 0);
    }

    #[test]
    fn passages_fit_in_order_and_the_first_that_does_not_is_cut_then_assembly_stops() {
        let words = "word ".repeat(400); // ~500 tokens
        let ps = vec![passage("a.pdf", 1, "short one"), passage("b.pdf", 2, &words), passage("c.pdf", 3, "never")];
        let got = assemble(ps, 300, &est);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].index, 1);
        assert!(!got[0].cut);
        assert!(got[1].cut);
        assert!(got[1].passage.text.ends_with('…'));
        let used = |n: &Numbered| est(&heading(n.index, &n.passage)) + 2 + est(&n.passage.text);
        assert!(used(&got[0]) + used(&got[1]) <= 300);
        assert!(used(&got[0]) + used(&got[1]) > 300 - 10, "the cut uses the room there is");
        // A cut ends between words.
        assert!(got[1].passage.text.trim_end_matches(" …").ends_with("word"));
    }

    #[test]
    fn too_little_room_drops_the_rest_and_empty_parts_are_skipped() {
        let ps = vec![passage("a.pdf", 1, "  "), passage("b.pdf", 1, &"x ".repeat(1000))];
        assert!(assemble(ps.clone(), 50, &est).is_empty());
        let all = assemble(ps, 10_000, &est);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].index, 1, "numbers count only the passages taken");
    }

    #[test]
    fn headings_name_file_and_place() {
        assert_eq!(heading(2, &passage("plan.pdf", 3, "x")), "[2] plan.pdf, page 3");
        let slide = Passage { page: None, slide: Some(4), ..passage("deck.pptx", 0, "x") };
        assert_eq!(heading(1, &slide), "[1] deck.pptx, slide 4");
        let rendered = render(&assemble(vec![passage("a.pdf", 1, "Hello")], 1000, &est));
        assert_eq!(rendered, "[1] a.pdf, page 1\nHello\n\n");
    }
}
