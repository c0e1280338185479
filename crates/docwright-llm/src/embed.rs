//! Embeddings (SPEC A2 operation `embedding`): texts in, one vector each, in order.
//!
//! [`EmbedRequest`] / [`EmbedResponse`] are the provider-neutral call; each protocol module
//! implements [`crate::Provider::embed`] on its own endpoint (OpenAI-compatible `POST
//! /embeddings`, Gemini `:batchEmbedContents`; Anthropic has none). [`hashed`] is the dryrun
//! provider's embedding: deterministic, no network, and similar for texts that share words or
//! word stems, so retrieval can be exercised without a model.

use crate::{Error, Result, Usage};

/// Texts to embed with the provider's own model id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EmbedRequest {
    pub model: String,
    pub inputs: Vec<String>,
}

/// One vector per input, in the inputs' order, all of one dimension.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EmbedResponse {
    pub vectors: Vec<Vec<f32>>,
    /// The model that answered, as the provider names it.
    pub model: String,
    /// Input tokens (embeddings have no output).
    pub usage: Usage,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

/// Checks what a provider sent back: as many vectors as inputs, one dimension, finite numbers.
pub(crate) fn checked(provider: &str, inputs: usize, vectors: Vec<Vec<f32>>) -> Result<Vec<Vec<f32>>> {
    let malformed = |detail: String| Error::Malformed { provider: provider.to_owned(), detail };
    if vectors.len() != inputs {
        return Err(malformed(format!("{} embeddings for {inputs} inputs", vectors.len())));
    }
    let dims = vectors.first().map_or(0, Vec::len);
    if inputs > 0 && dims == 0 {
        return Err(malformed("an empty embedding".to_owned()));
    }
    if vectors.iter().any(|v| v.len() != dims) {
        return Err(malformed("embeddings of different dimensions".to_owned()));
    }
    if vectors.iter().flatten().any(|x| !x.is_finite()) {
        return Err(malformed("an embedding with a value that is not a finite number".to_owned()));
    }
    Ok(vectors)
}

/// A JSON array of numbers as a vector.
pub(crate) fn vector_of(v: &serde_json::Value) -> Option<Vec<f32>> {
    v.as_array()?.iter().map(|x| x.as_f64().map(|f| f as f32)).collect()
}

/// The dimension of [`hashed`] vectors.
pub const HASHED_DIMENSIONS: usize = 256;

/// A deterministic embedding of `text` without a model: every word (lower-cased, letters and
/// digits) and every three-letter piece of it (`^ca`, `car`, `ar$`) adds to one of
/// [`HASHED_DIMENSIONS`] coordinates chosen by a fixed hash (FNV-1a, the same in every process
/// and release), with a sign from the same hash; the result has length 1. Texts sharing words
/// or stems point the same way; unrelated texts are nearly orthogonal. Text without a word
/// gets the first unit vector.
pub fn hashed(text: &str) -> Vec<f32> {
    let mut v = vec![0f32; HASHED_DIMENSIONS];
    let mut add = |feature: &[u8], weight: f32| {
        let h = fnv1a(feature);
        let slot = (h % HASHED_DIMENSIONS as u64) as usize;
        let sign = if (h >> 63) == 0 { 1.0 } else { -1.0 };
        v[slot] += sign * weight;
    };
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        let word = word.to_lowercase();
        add(word.as_bytes(), 1.0);
        let marked: Vec<char> = std::iter::once('^').chain(word.chars()).chain(std::iter::once('$')).collect();
        for gram in marked.windows(3) {
            let gram: String = gram.iter().collect();
            add(gram.as_bytes(), 0.5);
        }
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm == 0.0 {
        v[0] = 1.0;
    } else {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// The cosine similarity of two vectors of one dimension (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut na, mut nb) = (0f32, 0f32, 0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 { 0.0 } else { dot / (na.sqrt() * nb.sqrt()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_vectors_are_unit_length_deterministic_and_follow_shared_words() {
        let a = hashed("The invoice was paid in March");
        assert_eq!(a.len(), HASHED_DIMENSIONS);
        assert_eq!(a, hashed("The invoice was paid in March"));
        assert!((a.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5);
        let near = cosine(&a, &hashed("invoices paid"));
        let far = cosine(&a, &hashed("Gearbox torque specification"));
        assert!(near > 0.3, "{near}");
        assert!(far < near / 2.0, "{far} vs {near}");
        assert_eq!(hashed("  ... "), {
            let mut e = vec![0.0; HASHED_DIMENSIONS];
            e[0] = 1.0;
            e
        });
    }

    #[test]
    fn answers_are_checked() {
        assert!(checked("p", 2, vec![vec![1.0]]).is_err());
        assert!(checked("p", 2, vec![vec![1.0], vec![1.0, 2.0]]).is_err());
        assert!(checked("p", 1, vec![vec![]]).is_err());
        assert!(checked("p", 1, vec![vec![f32::NAN]]).is_err());
        assert_eq!(checked("p", 1, vec![vec![0.5, 0.5]]).unwrap(), vec![vec![0.5, 0.5]]);
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 0.0]), 0.0);
    }
}
