//! Spreadsheets (XLSX, XLS, ODS) and delimited text (CSV, TSV): table parts.
//!
//! Workbooks are read with `calamine` for all three formats rather than office_oxide for
//! XLSX/XLS and something else for ODS: one reader gives the same typed cells for every format,
//! where office_oxide's document IR caps a sheet at 10,000 rows and mixes its notices into the
//! grid. XLSX is read cell by cell (shared strings borrowed, not copied), so a sheet that repeats
//! a huge shared string fails on the text budget before it is copied; the zip package of XLSX
//! and ODS is scanned first for the inflate budget and XML depth ([`guard::scan_package`]).
//!
//! Cells are rendered as a person reads them: whole numbers without `.0`, other numbers to 15
//! significant digits (Excel's own precision, which hides binary float noise), dates as ISO dates.
//!
//! A table part holds at most [`CHUNK_ROWS`] rows; a larger sheet or file becomes several parts,
//! each with its `row_start`/`row_end` and the header row repeated first.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use calamine::{Data, DataRef, Ods, Reader, Xls, Xlsb, Xlsx};

use crate::guard::{self, Budget, CFB_MAGIC, Collector};
use crate::{ExtractError, Extraction, Location, Options, Part};

/// Most rows of one table part.
pub(crate) const CHUNK_ROWS: usize = 1_000;

/// Cells of one grid before it is refused (a sparse sheet with a cell at A1 and one at XFD1048576
/// would otherwise be padded to 17 billion cells).
const MAX_GRID_CELLS: u64 = 50_000_000;

pub(crate) fn extract_workbook(path: &Path, _file_name: &str, options: &Options) -> Result<Extraction, ExtractError> {
    let limits = &options.limits;
    let mut out = Collector::new(limits);
    let units;
    if guard::starts_with(path, &CFB_MAGIC)? {
        // An OLE file is a legacy XLS, or an OOXML workbook encrypted with a password.
        let mut book: Xls<_> = match calamine::open_workbook(path) {
            Ok(book) => book,
            Err(calamine::XlsError::Password) => return Err(ExtractError::Encrypted),
            Err(e) => {
                return Err(match calamine::open_workbook::<Xlsx<_>, _>(path) {
                    Err(calamine::XlsxError::Password) => ExtractError::Encrypted,
                    _ => ExtractError::Malformed(e.to_string()),
                });
            }
        };
        units = ranges(&mut book, options, &mut out, |e| match e {
            calamine::XlsError::Password => ExtractError::Encrypted,
            e => ExtractError::Malformed(e.to_string()),
        })?;
    } else {
        let mut budget = Budget::new(limits);
        let package = guard::scan_package(path, limits, &mut budget)?;
        let has = |name: &str| package.names.iter().any(|n| n == name);
        let reader = || -> Result<BufReader<File>, ExtractError> { Ok(BufReader::new(File::open(path)?)) };
        if has("content.xml") {
            let mut book = Ods::new(reader()?).map_err(ods_error)?;
            units = ranges(&mut book, options, &mut out, ods_error)?;
        } else if has("xl/workbook.bin") {
            let mut book = Xlsb::new(reader()?).map_err(|e| ExtractError::Malformed(e.to_string()))?;
            units = ranges(&mut book, options, &mut out, |e| ExtractError::Malformed(e.to_string()))?;
        } else {
            let mut book = Xlsx::new(reader()?).map_err(xlsx_error)?;
            units = xlsx_cells(&mut book, options, &mut out)?;
        }
    }
    let mut extraction = out.into_extraction();
    extraction.units = Some(units);
    Ok(extraction)
}

fn ods_error(e: calamine::OdsError) -> ExtractError {
    match e {
        calamine::OdsError::Password => ExtractError::Encrypted,
        e => ExtractError::Malformed(e.to_string()),
    }
}

fn xlsx_error(e: calamine::XlsxError) -> ExtractError {
    match e {
        calamine::XlsxError::Password => ExtractError::Encrypted,
        e => ExtractError::Malformed(e.to_string()),
    }
}

fn check_sheet_count(count: usize, options: &Options) -> Result<u32, ExtractError> {
    if count as u64 > u64::from(options.limits.max_pages) {
        return Err(ExtractError::TooManyPages { found: count as u64, limit: options.limits.max_pages });
    }
    Ok(count as u32)
}

/// Every sheet of a workbook read whole (XLS, XLSB, ODS).
fn ranges<R, E>(
    book: &mut R,
    options: &Options,
    out: &mut Collector<'_>,
    map: impl Fn(E) -> ExtractError,
) -> Result<u32, ExtractError>
where
    R: Reader<BufReader<File>, Error = E>,
{
    let names = book.sheet_names();
    let units = check_sheet_count(names.len(), options)?;
    for name in names {
        options.limits.check_time()?;
        let range = book.worksheet_range(&name).map_err(&map)?;
        let Some((first_row, _)) = range.start() else { continue };
        let (height, width) = range.get_size();
        grid_size(height, width)?;
        let mut rows = Vec::with_capacity(height);
        for row in range.rows() {
            let cells: Vec<String> = row.iter().map(data_text).collect();
            out.charge_chars(cells.iter().map(String::len).sum())?;
            rows.push(cells);
        }
        push_table(rows, first_row + 1, Some(&name), out, options)?;
    }
    Ok(units)
}

/// Every sheet of an XLSX workbook, cell by cell.
fn xlsx_cells(
    book: &mut Xlsx<BufReader<File>>,
    options: &Options,
    out: &mut Collector<'_>,
) -> Result<u32, ExtractError> {
    let names = book.sheet_names();
    let units = check_sheet_count(names.len(), options)?;
    for name in names {
        options.limits.check_time()?;
        let mut cells: Vec<(u32, u32, String)> = Vec::new();
        {
            let mut reader = book.worksheet_cells_reader(&name).map_err(xlsx_error)?;
            let mut n = 0u32;
            while let Some(cell) = reader.next_cell().map_err(xlsx_error)? {
                let (row, col) = cell.get_position();
                let text = match cell.get_value() {
                    DataRef::SharedString(s) => {
                        out.charge_chars(s.len())?;
                        (*s).to_owned()
                    }
                    other => {
                        let t = data_text(&Data::from(other.clone()));
                        out.charge_chars(t.len())?;
                        t
                    }
                };
                if !text.is_empty() {
                    cells.push((row, col, text));
                }
                n = n.wrapping_add(1);
                if n.is_multiple_of(4096) {
                    options.limits.check_time()?;
                }
            }
        }
        let Some(first_row) = cells.iter().map(|c| c.0).min() else { continue };
        let last_row = cells.iter().map(|c| c.0).max().unwrap_or(first_row);
        let first_col = cells.iter().map(|c| c.1).min().unwrap_or(0);
        let last_col = cells.iter().map(|c| c.1).max().unwrap_or(first_col);
        let (height, width) = ((last_row - first_row + 1) as usize, (last_col - first_col + 1) as usize);
        grid_size(height, width)?;
        let mut rows = vec![vec![String::new(); width]; height];
        for (row, col, text) in cells {
            rows[(row - first_row) as usize][(col - first_col) as usize] = text;
        }
        push_table(rows, first_row + 1, Some(&name), out, options)?;
    }
    Ok(units)
}

fn grid_size(height: usize, width: usize) -> Result<(), ExtractError> {
    if (height as u64).saturating_mul(width as u64) > MAX_GRID_CELLS {
        return Err(ExtractError::TooLarge { what: "sheet cells", limit: MAX_GRID_CELLS });
    }
    Ok(())
}

/// Pushes a grid as table parts of at most [`CHUNK_ROWS`] rows, the first row repeated as the
/// header of every part after the first. `first_row` is the 1-based row number of `rows[0]`.
/// Rows with no text at all are dropped; columns empty in every row are trimmed at the right.
pub(crate) fn push_table(
    mut rows: Vec<Vec<String>>,
    first_row: u32,
    sheet: Option<&str>,
    out: &mut Collector<'_>,
    options: &Options,
) -> Result<(), ExtractError> {
    let width =
        rows.iter().map(|r| r.iter().rposition(|c| !c.trim().is_empty()).map_or(0, |p| p + 1)).max().unwrap_or(0);
    if width == 0 {
        return Ok(());
    }
    for row in &mut rows {
        row.truncate(width);
    }
    let numbered: Vec<(u32, Vec<String>)> = rows
        .into_iter()
        .enumerate()
        .filter(|(_, r)| r.iter().any(|c| !c.trim().is_empty()))
        .map(|(i, r)| (first_row + i as u32, r))
        .collect();
    let Some((header_no, header)) = numbered.first().cloned() else { return Ok(()) };
    let mut start = 0;
    while start < numbered.len() {
        options.limits.check_time()?;
        let end = (start + CHUNK_ROWS).min(numbered.len());
        let mut chunk: Vec<Vec<String>> = Vec::with_capacity(end - start + 1);
        if start > 0 {
            chunk.push(header.clone());
        }
        chunk.extend(numbered[start..end].iter().map(|(_, r)| r.clone()));
        let location = Location {
            sheet: sheet.map(str::to_owned),
            row_start: Some(if start == 0 { header_no } else { numbered[start].0 }),
            row_end: Some(numbered[end - 1].0),
            ..Location::default()
        };
        out.push(Part::table(chunk, location))?;
        start = end;
    }
    Ok(())
}

fn data_text(data: &Data) -> String {
    match data {
        Data::Int(i) => i.to_string(),
        Data::Float(f) => number_text(*f),
        Data::String(s) => s.clone(),
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
        Data::DateTime(dt) => excel_date_text(dt),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e:?}"),
        Data::Empty => String::new(),
    }
}

/// A number as a person reads it: `1` not `1.0`, `0.3` not `0.30000000000000004`.
pub(crate) fn number_text(f: f64) -> String {
    if !f.is_finite() {
        return f.to_string();
    }
    if f.fract() == 0.0 && f.abs() < 1e15 {
        return format!("{}", f as i64);
    }
    // Round to 15 significant digits, then print the shortest form of that value.
    let rounded: f64 = format!("{f:.14e}").parse().unwrap_or(f);
    let text = format!("{rounded}");
    if text.contains('e') { text } else { text.trim_end_matches('0').trim_end_matches('.').to_owned() }
}

/// An Excel date serial as `YYYY-MM-DD`, with ` HH:MM[:SS]` when it has a time; a duration as
/// hours. calamine turns the serial into a date in the workbook's own date system (1900, with
/// Excel's phantom 1900-02-29, or 1904); the time is rounded to the second first, so that a
/// serial a hair below 08:00 reads 08:00.
fn excel_date_text(dt: &calamine::ExcelDateTime) -> String {
    use calamine::{ExcelDateTime, ExcelDateTimeType};
    let serial = dt.as_f64();
    if dt.is_duration() {
        let seconds = (serial * 86_400.0).round() as i64;
        return format!("{}:{:02}:{:02}", seconds / 3600, (seconds % 3600) / 60, seconds % 60);
    }
    // calamine keeps the date system to itself; a serial that reads differently in the 1900
    // system was read in the 1904 one.
    let is_1904 =
        ExcelDateTime::new(serial, ExcelDateTimeType::DateTime, false).to_ymd_hms_milli() != dt.to_ymd_hms_milli();
    let rounded = (serial * 86_400.0).round() / 86_400.0;
    let (y, m, d, hour, minute, second, _) =
        ExcelDateTime::new(rounded, ExcelDateTimeType::DateTime, is_1904).to_ymd_hms_milli();
    match (hour, minute, second) {
        (0, 0, 0) => format!("{y:04}-{m:02}-{d:02}"),
        (_, _, 0) => format!("{y:04}-{m:02}-{d:02} {hour:02}:{minute:02}"),
        _ => format!("{y:04}-{m:02}-{d:02} {hour:02}:{minute:02}:{second:02}"),
    }
}

/// The delimiters tried, in order of preference on a tie.
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

pub(crate) fn extract_delimited(
    path: &Path,
    delimiter: Option<u8>,
    options: &Options,
) -> Result<Extraction, ExtractError> {
    let bytes = crate::text::read(path, options)?;
    let (text, _) = crate::text::decode(&bytes);
    drop(bytes);
    let delimiter = detect_delimiter(&text, delimiter);
    let mut reader =
        csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut out = Collector::new(&options.limits);
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(ExtractError::Malformed(format!("CSV: {e}"))),
        }
        out.charge_chars(record.as_slice().len())?;
        rows.push(record.iter().map(str::to_owned).collect());
        if rows.len().is_multiple_of(4096) {
            options.limits.check_time()?;
        }
    }
    push_table(rows, 1, None, &mut out, options)?;
    Ok(out.into_extraction())
}

/// The delimiter whose first lines split into the most consistent number of columns (more than
/// one), quotes honoured. The caller's guess wins a tie, and any file where no candidate splits
/// lines keeps it.
fn detect_delimiter(text: &str, hint: Option<u8>) -> u8 {
    // The first 50 records, from at most 64 KiB.
    let mut end = text.len().min(64 * 1024);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let sample = &text[..end];
    let mut best: Option<(u8, (usize, usize, bool))> = None;
    for candidate in DELIMITERS {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(candidate)
            .has_headers(false)
            .flexible(true)
            .from_reader(sample.as_bytes());
        let counts: Vec<usize> = reader.records().take(50).filter_map(Result::ok).map(|r| r.len()).collect();
        // A sample cut mid-record leaves a short last record: leave it out when there are others.
        let counts = if counts.len() > 1 && end < text.len() { &counts[..counts.len() - 1] } else { &counts[..] };
        let Some(&mode) = mode(counts) else { continue };
        if mode < 2 {
            continue;
        }
        let consistent = counts.iter().filter(|&&c| c == mode).count();
        // Score: records agreeing on the column count, then the column count, then the hint.
        let score = (consistent, mode, hint == Some(candidate));
        if best.as_ref().is_none_or(|(_, s)| score > *s) {
            best = Some((candidate, score));
        }
    }
    match (best, hint) {
        // A hint that splits every sampled record consistently is kept, even when another
        // delimiter also would (a comma inside `;` fields splits them too, less consistently).
        (Some((found, (consistent, _, _))), Some(hint)) if found != hint => {
            if splits_all(sample, hint, consistent) {
                hint
            } else {
                found
            }
        }
        (Some((found, _)), _) => found,
        (None, hint) => hint.unwrap_or(b','),
    }
}

/// Whether `delimiter` splits at least `records` sampled records into the same number (> 1) of
/// columns.
fn splits_all(sample: &str, delimiter: u8, records: usize) -> bool {
    let mut reader =
        csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).from_reader(sample.as_bytes());
    let counts: Vec<usize> = reader.records().take(50).filter_map(Result::ok).map(|r| r.len()).collect();
    match mode(&counts) {
        Some(&m) if m > 1 => counts.iter().filter(|&&c| c == m).count() >= records,
        _ => false,
    }
}

fn mode(counts: &[usize]) -> Option<&usize> {
    let mut best: Option<(&usize, usize)> = None;
    for c in counts {
        let n = counts.iter().filter(|&x| x == c).count();
        if best.is_none_or(|(_, bn)| n > bn) {
            best = Some((c, n));
        }
    }
    best.map(|(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_dates_read_as_displayed() {
        assert_eq!(number_text(1.0), "1");
        assert_eq!(number_text(0.1 + 0.2), "0.3");
        assert_eq!(number_text(-2.5), "-2.5");
        assert_eq!(number_text(1234567.125), "1234567.125");
        use calamine::{ExcelDateTime, ExcelDateTimeType::DateTime};
        assert_eq!(excel_date_text(&ExcelDateTime::new(45_000.5, DateTime, false)), "2023-03-15 12:00");
        // The same moment in a 1904 workbook is 1,462 days less.
        assert_eq!(excel_date_text(&ExcelDateTime::new(45_000.5 - 1462.0, DateTime, true)), "2023-03-15 12:00");
        assert_eq!(
            excel_date_text(&ExcelDateTime::new(45_000.0 + 8.0 / 24.0 - 1e-9, DateTime, false)),
            "2023-03-15 08:00"
        );
        assert_eq!(excel_date_text(&ExcelDateTime::new(60.0, DateTime, false)), "1900-02-29", "Excel's own calendar");
        assert_eq!(excel_date_text(&ExcelDateTime::new(61.0, DateTime, false)), "1900-03-01");
    }

    #[test]
    fn delimiters_are_detected_with_quotes() {
        assert_eq!(detect_delimiter("a;b;c\n1,5;2;\"x;y\"\n3;4;5\n", Some(b',')), b';');
        assert_eq!(detect_delimiter("a,b\n1,2\n", Some(b'\t')), b',');
        assert_eq!(detect_delimiter("a\tb\n1\t2\n", None), b'\t');
        assert_eq!(detect_delimiter("a|b|c\n1|2|3\n", None), b'|');
        assert_eq!(detect_delimiter("just text\n", Some(b',')), b',');
    }
}
