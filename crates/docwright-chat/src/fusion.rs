//! Reciprocal-rank fusion (Cormack, Clarke, Büttcher 2009): each list votes `1 / (k + rank)`
//! for each item it ranks (rank from 1), and items sort by the sum of their votes. It needs no
//! scores, so lists whose scores are not comparable (BM25, `ts_rank_cd`, cosine similarity)
//! fuse without calibration. `k = 60` is the paper's constant: it damps the weight of the very
//! top ranks so that one list alone cannot decide.

use std::collections::HashMap;
use std::hash::Hash;

/// The usual constant.
pub const K: f64 = 60.0;

/// The items of `lists` by fused score, best first; ties keep the order in which items were
/// first seen (list by list).
pub fn fuse<T: Clone + Eq + Hash>(lists: &[Vec<T>], k: f64) -> Vec<(T, f64)> {
    let mut score: HashMap<T, (f64, usize)> = HashMap::new();
    let mut seen = 0;
    for list in lists {
        for (rank, item) in list.iter().enumerate() {
            let vote = 1.0 / (k + rank as f64 + 1.0);
            let entry = score.entry(item.clone()).or_insert_with(|| {
                seen += 1;
                (0.0, seen)
            });
            entry.0 += vote;
        }
    }
    let mut out: Vec<(T, f64, usize)> = score.into_iter().map(|(t, (s, first))| (t, s, first)).collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2)));
    out.into_iter().map(|(t, s, _)| (t, s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_both_lists_rank_beats_the_top_of_one() {
        let fts = vec!["a", "b", "c"];
        let vec = vec!["d", "b", "e"];
        let fused: Vec<&str> = fuse(&[fts, vec], K).into_iter().map(|(t, _)| t).collect();
        assert_eq!(fused[0], "b");
        // The two tops tie; the full-text list was read first.
        assert_eq!(&fused[1..3], &["a", "d"]);
        assert_eq!(fused.len(), 5);
    }

    #[test]
    fn one_list_keeps_its_order_and_empty_lists_do_nothing() {
        let fused: Vec<u32> = fuse(&[vec![3, 1, 2], vec![]], K).into_iter().map(|(t, _)| t).collect();
        assert_eq!(fused, vec![3, 1, 2]);
        assert!(fuse::<u32>(&[], K).is_empty());
    }
}
