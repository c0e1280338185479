//! Chunked calls (SPEC A4): an input larger than the chosen model's budget is split on page,
//! paragraph and line boundaries (with overlap), the chunks are processed in parallel (bounded
//! by `gateway.chunk_parallelism`) through the ordinary gateway call — so each chunk has its
//! own candidates, fallback, retries, stat record (and, with billing, reservation) — and the
//! answers are merged: text is concatenated, JSON arrays are concatenated (items repeated by
//! the overlap dropped), objects are merged key by key.

use std::time::Instant;

use docwright_llm::{Message, OutputFormat, Part};
use futures_util::{StreamExt as _, TryStreamExt as _};
use serde_json::Value;

use crate::access::Grant;
use crate::gateway::{AiRequest, AiResponse, GatewayError, estimate_input};
use crate::{Engine, Error};

/// Bytes per token of the gateway's estimate ([`docwright_llm::estimate_tokens`]).
const BYTES_PER_TOKEN: usize = 4;

/// Tokens kept free for the "part i of n" note and estimation error.
const RESERVE_TOKENS: u64 = 64;

/// The smallest chunk worth sending: a budget below this means the model cannot take the
/// request's fixed parts (instructions, other parts) with any useful slice of the input.
const MIN_CHUNK_TOKENS: u64 = 256;

/// Where a chunk may end, best first: page break, blank line, line, sentence, word.
const BOUNDARIES: [&str; 7] = ["\u{c}", "\n\n", "\n", ". ", "。", "; ", " "];

impl Engine {
    /// Like [`Engine::ai_call`], but when the largest text part of the request does not fit the
    /// first candidate model, splits it into chunks, calls the gateway once per chunk and
    /// merges the answers. Any chunk failing fails the call (the stats of the others stay).
    pub async fn ai_call_chunked(&self, grant: &Grant, req: &AiRequest) -> Result<AiResponse, GatewayError> {
        let Some((mi, pi, text)) = largest_text(&req.messages) else { return self.ai_call(grant, req).await };
        let ranked = self.ranked(grant, req).await?;
        let Some(model) = ranked.first() else { return self.ai_call(grant, req).await };
        let total = estimate_input(&req.messages);
        let fixed = total - docwright_llm::estimate_tokens(text);
        let room = u64::from(model.context_tokens)
            .saturating_sub(u64::from(req.output_budget(model)))
            .saturating_sub(fixed + RESERVE_TOKENS);
        if total + u64::from(req.output_budget(model)) <= u64::from(model.context_tokens) {
            return self.ai_call(grant, req).await;
        }
        if room < MIN_CHUNK_TOKENS {
            return Err(GatewayError::NoCandidate(format!(
                "`{}` leaves room for only {room} input tokens beside the instructions and the output; \
                 too little to process the input in chunks",
                model.name
            )));
        }
        let settings = self.registry().settings();
        let overlap = (settings.chunk_overlap_tokens as usize * BYTES_PER_TOKEN).min(room as usize);
        let pieces = split(text, room as usize * BYTES_PER_TOKEN, overlap);
        let n = pieces.len();
        tracing::debug!(model = %model.name, chunks = n, "input larger than the model's budget: chunked");
        let requests: Vec<AiRequest> = pieces
            .iter()
            .enumerate()
            .map(|(i, piece)| {
                let mut r = req.clone();
                r.messages[mi].parts[pi] = Part::Text(format!("[Part {} of {n} of the input]\n{piece}", i + 1));
                r
            })
            .collect();
        let started = Instant::now();
        // Owned futures (no borrows across the stream), so the whole call stays `Send` for any
        // caller, an HTTP handler included.
        let calls = requests.into_iter().map(|r| {
            let (engine, grant) = (self.clone(), grant.clone());
            async move { engine.ai_call(&grant, &r).await }
        });
        let answers: Vec<AiResponse> =
            futures_util::stream::iter(calls).buffered(settings.chunk_parallelism).try_collect().await?;
        let content = match &req.output {
            OutputFormat::Text => {
                answers.iter().map(|a| a.content.trim()).filter(|c| !c.is_empty()).collect::<Vec<_>>().join("\n\n")
            }
            OutputFormat::Json { .. } => {
                let mut merged = Value::Null;
                for a in &answers {
                    let v: Value = serde_json::from_str(a.content.trim()).map_err(|e| {
                        Error::Internal(format!("a chunk's checked JSON answer did not parse again: {e}"))
                    })?;
                    merged = merge_json(merged, v);
                }
                merged.to_string()
            }
        };
        Ok(combine(answers, content, started))
    }
}

/// The position (message, part) and text of the largest text part.
fn largest_text(messages: &[Message]) -> Option<(usize, usize, &str)> {
    messages
        .iter()
        .enumerate()
        .flat_map(|(mi, m)| {
            m.parts.iter().enumerate().filter_map(move |(pi, p)| match p {
                Part::Text(t) => Some((mi, pi, t.as_str())),
                Part::Image { .. } | Part::ToolCall(_) | Part::ToolResult { .. } => None,
            })
        })
        .max_by_key(|(_, _, t)| t.len())
}

/// One response for the chunks' answers: sums of price, usage and bytes, every attempt.
fn combine(answers: Vec<AiResponse>, content: String, started: Instant) -> AiResponse {
    let chunks = answers.len() as u32;
    let mut it = answers.into_iter();
    let Some(mut out) = it.next() else {
        return AiResponse {
            content,
            model: String::new(),
            provider: String::new(),
            price: docwright_core::money::Money::ZERO,
            processing_time_ms: 0,
            bytes_sent: 0,
            bytes_received: 0,
            input_tokens: 0,
            output_tokens: 0,
            finish_reason: None,
            tool_calls: Vec::new(),
            error_count: 0,
            attempts: Vec::new(),
            chunks: 0,
        };
    };
    for a in it {
        out.price = out.price.checked_add(a.price).unwrap_or(out.price);
        out.bytes_sent += a.bytes_sent;
        out.bytes_received += a.bytes_received;
        out.input_tokens += a.input_tokens;
        out.output_tokens += a.output_tokens;
        out.error_count += a.error_count;
        out.attempts.extend(a.attempts);
        if a.finish_reason.is_some() {
            out.finish_reason = a.finish_reason;
        }
    }
    out.content = content;
    out.chunks = chunks;
    out.processing_time_ms = started.elapsed().as_millis() as u64;
    out
}

/// Splits `text` into pieces of at most `max_bytes` (rounded down to a character boundary),
/// each ending at the best boundary in its second half, each after the first starting up to
/// `overlap_bytes` before the previous one ended (at a line or word start when there is one).
/// The pieces cover the whole text in order.
pub fn split(text: &str, max_bytes: usize, overlap_bytes: usize) -> Vec<&str> {
    let max_bytes = max_bytes.max(16);
    // An overlap of half a chunk or more would barely advance.
    let overlap_bytes = overlap_bytes.min(max_bytes / 4);
    let mut pieces = Vec::new();
    let mut start = 0;
    loop {
        if text.len() - start <= max_bytes {
            pieces.push(&text[start..]);
            return pieces;
        }
        let hard_end = text.floor_char_boundary(start + max_bytes);
        let soft_start = text.ceil_char_boundary(start + max_bytes / 2);
        let window = &text[soft_start..hard_end];
        let cut = BOUNDARIES
            .iter()
            .find_map(|b| window.rfind(b).map(|i| soft_start + i + b.len()))
            .filter(|&c| c > start)
            .unwrap_or(if hard_end > start { hard_end } else { text.ceil_char_boundary(start + 1) });
        pieces.push(&text[start..cut]);
        if overlap_bytes == 0 {
            start = cut;
            continue;
        }
        // The overlap starts at a page, paragraph, line or word start when the tail has one.
        let from = text.ceil_char_boundary(cut.saturating_sub(overlap_bytes).max(start + 1));
        let tail = &text[from..cut];
        start = ["\u{c}", "\n\n", "\n", " "]
            .iter()
            .find_map(|b| tail.find(b).map(|i| from + i + b.len()))
            .unwrap_or(from)
            .min(cut);
        if start >= cut {
            start = from;
        }
    }
}

/// Merges the structured answer of the next chunk into what the earlier ones gave: arrays are
/// concatenated (items at the start of `next` that repeat the end of `acc` — the overlap — are
/// dropped), objects merged key by key, strings joined unless one holds the other, and other
/// values keep the first answer's.
pub fn merge_json(acc: Value, next: Value) -> Value {
    match (acc, next) {
        (Value::Null, v) | (v, Value::Null) => v,
        (Value::Array(mut a), Value::Array(b)) => {
            let repeated = (0..=a.len().min(b.len())).rev().find(|&k| a[a.len() - k..] == b[..k]).unwrap_or(0);
            a.extend(b.into_iter().skip(repeated));
            Value::Array(a)
        }
        (Value::Object(mut a), Value::Object(b)) => {
            for (k, v) in b {
                let merged = match a.remove(&k) {
                    Some(old) => merge_json(old, v),
                    None => v,
                };
                a.insert(k, merged);
            }
            Value::Object(a)
        }
        (Value::String(a), Value::String(b)) => {
            if a.contains(b.as_str()) {
                Value::String(a)
            } else if b.contains(a.as_str()) {
                Value::String(b)
            } else {
                Value::String(format!("{a}\n{b}"))
            }
        }
        (a, _) => a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Each piece is a slice of `text` at increasing offsets, and together they cover it.
    fn assert_covers(text: &str, pieces: &[&str], max_bytes: usize) {
        let base = text.as_ptr() as usize;
        let mut covered = 0;
        let mut last_start = None;
        for p in pieces {
            assert!(p.len() <= max_bytes.max(16), "piece of {} bytes over {max_bytes}", p.len());
            let start = p.as_ptr() as usize - base;
            assert!(start <= covered, "gap before byte {start}");
            assert!(last_start.is_none_or(|s| start > s), "no progress at {start}");
            last_start = Some(start);
            covered = covered.max(start + p.len());
        }
        assert_eq!(covered, text.len());
    }

    #[test]
    fn splits_on_paragraphs_with_overlap() {
        let paragraphs: Vec<String> = (0..40).map(|i| format!("Paragraph {i} has some words in it.")).collect();
        let text = paragraphs.join("\n\n");
        let pieces = split(&text, 200, 40);
        assert!(pieces.len() > 5);
        assert_covers(&text, &pieces, 200);
        for p in &pieces[..pieces.len() - 1] {
            assert!(p.ends_with("\n\n"), "cut inside a paragraph: {p:?}");
        }
        // The overlap: each piece after the first starts before the previous one ended.
        let base = text.as_ptr() as usize;
        for w in pieces.windows(2) {
            let end = w[0].as_ptr() as usize - base + w[0].len();
            let start = w[1].as_ptr() as usize - base;
            assert!(start < end && end - start <= 40, "overlap {}", end as i64 - start as i64);
        }
    }

    #[test]
    fn prefers_page_breaks_and_rows() {
        let text = format!("{}\u{c}{}", "a line\n".repeat(20), "b line\n".repeat(20));
        let pieces = split(&text, 200, 0);
        assert!(pieces[0].ends_with('\u{c}'), "{:?}", pieces[0]);
        assert_covers(&text, &pieces, 200);
        let rows: String = (0..100).map(|i| format!("{i};name {i};{}\n", i * 3)).collect();
        for p in split(&rows, 120, 0) {
            assert!(p.ends_with('\n'), "cut inside a row: {p:?}");
        }
    }

    #[test]
    fn handles_text_without_boundaries_and_multibyte_characters() {
        let text = "ж".repeat(1000) + &"語".repeat(500);
        let pieces = split(&text, 101, 30);
        assert_covers(&text, &pieces, 101);
        let short = "short";
        assert_eq!(split(short, 100, 10), vec!["short"]);
        assert_eq!(split("", 100, 10), vec![""]);
    }

    #[test]
    fn merges_text_arrays_and_objects() {
        let merged = [
            json!({"items": [{"n": 1}, {"n": 2}], "currency": "EUR", "notes": "first"}),
            json!({"items": [{"n": 2}, {"n": 3}], "currency": "EUR", "notes": "second", "total": 5}),
            json!({"items": [{"n": 4}], "total": 7}),
        ]
        .into_iter()
        .fold(Value::Null, merge_json);
        assert_eq!(
            merged,
            json!({"items": [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}], "currency": "EUR",
                   "notes": "first\nsecond", "total": 5})
        );
        // Top-level arrays (rows) concatenate; a repeat not at the seam is kept.
        assert_eq!(merge_json(json!([1, 2, 1]), json!([1, 5])), json!([1, 2, 1, 5]));
        assert_eq!(merge_json(json!([1, 2]), json!([3, 1, 2])), json!([1, 2, 3, 1, 2]));
    }
}
