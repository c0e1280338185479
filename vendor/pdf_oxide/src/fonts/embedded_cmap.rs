//! docwright patch: the character code → CID mapping of a Type0 font whose `/Encoding` is an
//! embedded CMap stream (ISO 32000-1 §9.7.5.3) rather than a predefined CMap name.
//!
//! Upstream 0.3.78 kept such a font as `Encoding::Standard(<CMapName>)`, which splits its
//! strings into codes by guessing from the name and then reads each code as if it were a CID,
//! so both extraction and rendering showed the wrong glyphs. This module reads the CMap's
//! `codespacerange`, `cidrange` and `cidchar` sections; the font then keeps
//! `Encoding::Identity` (codes become CIDs) and, unless the mapping is the identity on two-byte
//! codes, [`EmbeddedCMap`] translates each code to its CID in `TextCharIter`.
//!
//! Bounded for hostile input: at most [`MAX_ENTRIES`] ranges and codes of at most four bytes.

use std::collections::HashMap;

/// Most codespace and CID ranges one CMap may declare; a larger one is ignored.
const MAX_ENTRIES: usize = 65_536;

/// A parsed embedded CMap: how to cut a string into codes, and each code's CID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedCMap {
    /// Codespace ranges: (byte length, low, high), compared byte by byte.
    codespace: Vec<(u8, Vec<u8>, Vec<u8>)>,
    /// CID ranges: (byte length, first code, last code, CID of the first code), sorted.
    cids: Vec<(u8, u32, u32, u32)>,
    /// The first code of every CID that some code maps to (for ToUnicode, keyed by codes).
    codes_by_cid: HashMap<u32, u32>,
}

impl EmbeddedCMap {
    /// Parses a CMap program. `None` when it declares no CID mapping of its own (it only
    /// names another CMap with `usecmap`, or is not a CMap), or is beyond the bounds.
    pub fn parse(program: &str) -> Option<Self> {
        let mut codespace = Vec::new();
        for body in sections(program, "begincodespacerange", "endcodespacerange") {
            let hexes = hex_strings(body);
            for pair in hexes.chunks_exact(2) {
                let (lo, hi) = (&pair[0], &pair[1]);
                if lo.len() != hi.len() || lo.is_empty() || lo.len() > 4 {
                    continue;
                }
                codespace.push((lo.len() as u8, lo.clone(), hi.clone()));
            }
        }
        let mut cids = Vec::new();
        for body in sections(program, "begincidrange", "endcidrange") {
            let mut tokens = body.split_whitespace().peekable();
            while let (Some(lo), Some(hi), Some(cid)) = (tokens.next(), tokens.next(), tokens.next()) {
                let (Some(lo), Some(hi), Ok(cid)) = (hex(lo), hex(hi), cid.parse::<u32>()) else { continue };
                if lo.len() != hi.len() || lo.is_empty() || lo.len() > 4 {
                    continue;
                }
                let (a, b) = (be(&lo), be(&hi));
                if a <= b {
                    cids.push((lo.len() as u8, a, b, cid));
                }
            }
        }
        for body in sections(program, "begincidchar", "endcidchar") {
            let mut tokens = body.split_whitespace();
            while let (Some(code), Some(cid)) = (tokens.next(), tokens.next()) {
                let (Some(code), Ok(cid)) = (hex(code), cid.parse::<u32>()) else { continue };
                if code.is_empty() || code.len() > 4 {
                    continue;
                }
                let c = be(&code);
                cids.push((code.len() as u8, c, c, cid));
            }
        }
        if cids.is_empty() || codespace.len() + cids.len() > MAX_ENTRIES {
            return None;
        }
        if codespace.is_empty() {
            // A CMap without a codespace: its mappings say how long the codes are.
            for &(len, lo, hi, _) in &cids {
                let bytes = |v: u32| v.to_be_bytes()[4 - len as usize..].to_vec();
                codespace.push((len, bytes(lo), bytes(hi)));
            }
        }
        cids.sort_unstable();
        let mut codes_by_cid = HashMap::new();
        for &(_, lo, hi, cid) in &cids {
            // Only the start of wide ranges: enough for the ToUnicode keys of one CID each,
            // without allocating per code of a 65,536-code range.
            let span = (hi - lo).min(4096);
            for offset in 0..=span {
                codes_by_cid.entry(cid.saturating_add(offset)).or_insert(lo + offset);
            }
        }
        Some(Self { codespace, cids, codes_by_cid })
    }

    /// Whether every code is two bytes and maps to the CID of the same value: the font then
    /// reads exactly as one with the predefined `Identity-H`.
    pub fn is_two_byte_identity(&self) -> bool {
        self.codespace.iter().all(|(len, _, _)| *len == 2)
            && self.cids.iter().all(|&(len, lo, _, cid)| len == 2 && lo == cid)
    }

    /// The next code of `bytes` at `at`: its CID and how many bytes it took. A code outside
    /// every codespace range takes the shortest range's length (ISO 32000-1 §9.7.6.3), and a
    /// code that no range maps is CID 0 (`.notdef`).
    pub fn next(&self, bytes: &[u8], at: usize) -> (u32, usize) {
        let rest = &bytes[at..];
        let matched = self.codespace.iter().find(|(len, lo, hi)| {
            let len = *len as usize;
            len <= rest.len() && (0..len).all(|i| lo[i] <= rest[i] && rest[i] <= hi[i])
        });
        let len = match matched {
            Some((len, _, _)) => *len as usize,
            None => self.codespace.iter().map(|(len, _, _)| *len as usize).min().unwrap_or(1),
        }
        .clamp(1, rest.len().max(1));
        let code = be(&rest[..len.min(rest.len())]);
        (self.cid(len as u8, code), len)
    }

    fn cid(&self, len: u8, code: u32) -> u32 {
        // The last range starting at or before the code (later ranges win, as in a CMap file).
        let upto = self.cids.partition_point(|&(l, lo, _, _)| (l, lo) <= (len, code));
        self.cids[..upto]
            .iter()
            .rev()
            .take_while(|&&(l, _, _, _)| l == len)
            .find(|&&(_, lo, hi, _)| lo <= code && code <= hi)
            .map_or(0, |&(_, lo, _, cid)| cid.saturating_add(code - lo))
    }

    /// A code that maps to `cid`, for lookups keyed by codes (ToUnicode).
    pub fn code_of(&self, cid: u32) -> Option<u32> {
        self.codes_by_cid.get(&cid).copied()
    }
}

/// The bodies between `begin` and `end` keywords.
fn sections<'a>(program: &'a str, begin: &'a str, end: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    let mut rest = program;
    std::iter::from_fn(move || {
        let start = rest.find(begin)? + begin.len();
        let stop = rest[start..].find(end)? + start;
        let body = &rest[start..stop];
        rest = &rest[stop + end.len()..];
        Some(body)
    })
}

/// Every `<hex>` string of a section, in order.
fn hex_strings(body: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else { break };
        if let Some(bytes) = hex(&rest[open..open + close + 1]) {
            out.push(bytes);
        }
        rest = &rest[open + close + 1..];
    }
    out
}

/// The bytes of one `<hex>` token.
fn hex(token: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = token
        .strip_prefix('<')?
        .strip_suffix('>')?
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|b| (b as char).to_digit(16).map(|d| d as u8))
        .collect::<Option<_>>()?;
    if digits.len() % 2 != 0 || digits.len() > 8 {
        return None;
    }
    Some(digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect())
}

fn be(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmap(codespace: &str, body: &str) -> EmbeddedCMap {
        let program = format!("begincmap\n1 begincodespacerange\n{codespace}\nendcodespacerange\n{body}\nendcmap");
        EmbeddedCMap::parse(&program).unwrap()
    }

    #[test]
    fn identity_and_one_byte_maps() {
        let identity = cmap("<0000> <FFFF>", "1 begincidrange\n<0000> <FFFF> 0\nendcidrange");
        assert!(identity.is_two_byte_identity());
        assert_eq!(identity.next(&[0x01, 0x02], 0), (0x0102, 2));

        let own = cmap("<00> <FF>", "2 begincidchar\n<41> 36\n<20> 3\nendcidchar\n1 begincidrange\n<61> <7A> 68\nendcidrange");
        assert!(!own.is_two_byte_identity());
        assert_eq!(own.next(b"A b", 0), (36, 1));
        assert_eq!(own.next(b"A b", 1), (3, 1));
        assert_eq!(own.next(b"A b", 2), (69, 1));
        assert_eq!(own.next(b"?", 0), (0, 1), "unmapped is .notdef");
        assert_eq!(own.code_of(69), Some(0x62));
    }

    #[test]
    fn mixed_widths_follow_the_codespace() {
        let mixed = cmap(
            "<00> <80>\n<8140> <FFFF>",
            "2 begincidrange\n<20> <7E> 1\n<8140> <817E> 633\nendcidrange",
        );
        assert_eq!(mixed.next(&[0x81, 0x41, 0x21], 0), (634, 2));
        assert_eq!(mixed.next(&[0x81, 0x41, 0x21], 2), (2, 1));
    }

    #[test]
    fn a_cmap_without_mappings_is_none() {
        assert_eq!(EmbeddedCMap::parse("/Identity-H usecmap\n1 begincodespacerange <00> <FF> endcodespacerange"), None);
    }
}
