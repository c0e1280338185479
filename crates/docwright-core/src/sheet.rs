//! Spreadsheet coordinates (SPEC W1, the GigaOffice requests): a cell such as `B3` and a range
//! such as `A1:D10`, parsed into column and row numbers within the limits of a worksheet
//! (columns `A`..`XFD`, rows 1..1,048,576).

use std::fmt;

use crate::ParseError;

/// Columns of a worksheet (`XFD`).
pub const MAX_COLUMNS: u32 = 16_384;
/// Rows of a worksheet.
pub const MAX_ROWS: u32 = 1_048_576;

/// A rectangular range of cells, its corners included. Columns and rows count from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CellRange {
    first_column: u32,
    first_row: u32,
    last_column: u32,
    last_row: u32,
}

impl CellRange {
    /// `A1:D10`, `a1:d10`, `$A$1:$D$10` or a single cell `B3`. The first corner must be above
    /// and left of the second.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let text = s.trim();
        let bad = |why: &str| ParseError::new(format!("`{s}` is not a cell range such as A1:D10: {why}"));
        if text.is_empty() || text.len() > 32 {
            return Err(bad("it must be 1 to 32 characters"));
        }
        if text.contains('!') {
            return Err(bad("name the cells without a sheet"));
        }
        let (a, b) = text.split_once(':').unwrap_or((text, text));
        let (c1, r1) = cell(a).map_err(|why| bad(&why))?;
        let (c2, r2) = cell(b).map_err(|why| bad(&why))?;
        if c2 < c1 || r2 < r1 {
            return Err(bad("the first cell must be the top-left corner"));
        }
        Ok(Self { first_column: c1, first_row: r1, last_column: c2, last_row: r2 })
    }

    /// Columns the range spans.
    pub fn width(&self) -> u32 {
        self.last_column - self.first_column + 1
    }

    /// Rows the range spans.
    pub fn height(&self) -> u32 {
        self.last_row - self.first_row + 1
    }

    pub fn first_column(&self) -> u32 {
        self.first_column
    }

    pub fn first_row(&self) -> u32 {
        self.first_row
    }
}

impl fmt::Display for CellRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}:{}{}",
            column_name(self.first_column),
            self.first_row,
            column_name(self.last_column),
            self.last_row
        )
    }
}

/// The letters of column `n` (1 → `A`, 27 → `AA`).
pub fn column_name(mut n: u32) -> String {
    let mut out = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        out.push(b'A' + rem as u8);
        n = (n - 1) / 26;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// `B3` → (2, 3).
fn cell(s: &str) -> Result<(u32, u32), String> {
    let s = s.trim().replace('$', "");
    let split = s.find(|c: char| c.is_ascii_digit()).ok_or_else(|| format!("`{s}` has no row number"))?;
    let (letters, digits) = s.split_at(split);
    if letters.is_empty() || !letters.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(format!("`{s}` does not start with column letters"));
    }
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("`{s}` has something after its row number"));
    }
    let mut column: u32 = 0;
    for c in letters.chars() {
        column = column.saturating_mul(26).saturating_add(u32::from(c.to_ascii_uppercase() as u8 - b'A' + 1));
    }
    if column > MAX_COLUMNS {
        return Err(format!("column {letters} is beyond XFD"));
    }
    let row: u32 = digits.parse().map_err(|_| format!("row {digits} is not a number"))?;
    if row == 0 || row > MAX_ROWS {
        return Err(format!("row {row} is outside 1..{MAX_ROWS}"));
    }
    Ok((column, row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_print() {
        let check = |s: &str, want: Option<(u32, u32, &str)>| match (CellRange::parse(s), want) {
            (Ok(r), Some((w, h, shown))) => {
                assert_eq!((r.width(), r.height(), r.to_string().as_str()), (w, h, shown), "{s}")
            }
            (Err(_), None) => {}
            (got, want) => panic!("{s}: got {got:?}, want {want:?}"),
        };
        check("A1:D10", Some((4, 10, "A1:D10")));
        check("a1:d10", Some((4, 10, "A1:D10")));
        check("$B$2:$C$3", Some((2, 2, "B2:C3")));
        check("B3", Some((1, 1, "B3:B3")));
        check("AA1:AB2", Some((2, 2, "AA1:AB2")));
        check("A1:XFD1048576", Some((16_384, 1_048_576, "A1:XFD1048576")));
        for bad in ["", "D10:A1", "A0", "1A", "A1:", "XFE1", "A1048577", "Sheet1!A1:B2", "A1:B2:C3", "A1B", "Ä1"] {
            check(bad, None);
        }
    }

    #[test]
    fn column_names() {
        assert_eq!(column_name(1), "A");
        assert_eq!(column_name(26), "Z");
        assert_eq!(column_name(27), "AA");
        assert_eq!(column_name(16_384), "XFD");
    }
}
