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
//! A table part holds at most [`CHUNK_ROWS`] rows and about [`CHUNK_BYTES`] bytes of cells; a
//! larger sheet or file becomes several parts, each with its `row_start`/`row_end` and the
//! header row repeated first. Rows stream into parts ([`TableWriter`]): an XLSX sheet is read
//! cell by cell and a CSV file record by record through a streaming decoder, so memory holds
//! one part's rows, not the sheet or the file. The cell limit counts cells that hold
//! something, not the span between the first and the last (a sheet with A1 and XFD1000000
//! has two cells). XLS, XLSB and ODS sheets are read whole by calamine, which lays out the span
//! in memory; for those the span is bounded too.

use std::fs::File;
use std::io::{BufReader, Read as _};
use std::path::Path;

use calamine::{Data, DataRef, Ods, Reader, Xls, Xlsb, Xlsx};

use crate::guard::{self, Budget, CFB_MAGIC, Collector};
use crate::{ExtractError, Extraction, Location, Options, Part};

/// Most rows of one table part.
pub(crate) const CHUNK_ROWS: usize = 1_000;
/// About the most bytes of cells of one table part (each cell counts its text and four bytes,
/// its share of the Markdown table): a sheet of long rows is cut into more parts.
pub(crate) const CHUNK_BYTES: usize = 1 << 20;

/// Cells holding something, per file, before it is refused.
const MAX_CELLS: u64 = 50_000_000;
/// Cells of one grid that calamine lays out whole (XLS, XLSB, ODS: a sparse sheet with a cell
/// at A1 and one at XFD1048576 would be padded to 17 billion cells).
const MAX_GRID_CELLS: u64 = 50_000_000;

pub(crate) fn extract_workbook(path: &Path, _file_name: &str, options: &Options) -> Result<Extraction, ExtractError> {
    let limits = &options.limits;
    let mut out = Collector::streaming(options);
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
        let mut table = TableWriter::new(Some(&name), out, options);
        for (i, row) in range.rows().enumerate() {
            let cells: Vec<String> = row.iter().map(data_text).collect();
            table.row(first_row + 1 + i as u32, cells)?;
        }
        table.finish()?;
    }
    Ok(units)
}

/// Every sheet of an XLSX workbook, cell by cell: cells arrive row by row, each row goes into
/// the sheet's table as it ends.
fn xlsx_cells(
    book: &mut Xlsx<BufReader<File>>,
    options: &Options,
    out: &mut Collector<'_>,
) -> Result<u32, ExtractError> {
    let names = book.sheet_names();
    let units = check_sheet_count(names.len(), options)?;
    for name in names {
        options.limits.check_time()?;
        let mut reader = book.worksheet_cells_reader(&name).map_err(xlsx_error)?;
        // Columns count from the sheet's declared first column (cells left of it are kept).
        let mut first_col = reader.dimensions().start.1;
        let mut table = TableWriter::new(Some(&name), out, options);
        let mut row: Option<(u32, Vec<(u32, String)>)> = None;
        let mut n = 0u32;
        while let Some(cell) = reader.next_cell().map_err(xlsx_error)? {
            let (r, col) = cell.get_position();
            let text = match cell.get_value() {
                DataRef::SharedString(s) => {
                    table.out.charge_chars(s.len())?;
                    (*s).to_owned()
                }
                other => data_text(&Data::from(other.clone())),
            };
            if !text.is_empty() {
                if row.as_ref().is_some_and(|(at, _)| *at != r) {
                    let (at, cells) = row.take().unwrap_or_default();
                    table.row(at + 1, spread(cells, first_col))?;
                }
                first_col = first_col.min(col);
                row.get_or_insert_with(|| (r, Vec::new())).1.push((col, text));
            }
            n = n.wrapping_add(1);
            if n.is_multiple_of(4096) {
                options.limits.check_time()?;
            }
        }
        if let Some((at, cells)) = row {
            table.row(at + 1, spread(cells, first_col))?;
        }
        table.finish()?;
    }
    Ok(units)
}

/// A row's cells (column, text) laid out from `first_col`.
fn spread(cells: Vec<(u32, String)>, first_col: u32) -> Vec<String> {
    let width = cells.iter().map(|(c, _)| c.saturating_sub(first_col) as usize + 1).max().unwrap_or(0);
    let mut row = vec![String::new(); width];
    for (col, text) in cells {
        row[col.saturating_sub(first_col) as usize] = text;
    }
    row
}

fn grid_size(height: usize, width: usize) -> Result<(), ExtractError> {
    if (height as u64).saturating_mul(width as u64) > MAX_GRID_CELLS {
        return Err(ExtractError::TooLarge { what: "sheet cells", limit: MAX_GRID_CELLS });
    }
    Ok(())
}

/// Rows of one table (a sheet, a CSV file) cut into table parts as they come: at most
/// [`CHUNK_ROWS`] rows and about [`CHUNK_BYTES`] bytes each, the first row (the header)
/// repeated first in every part after the first. Rows with no text are dropped; columns empty
/// in every row of a part are trimmed at its right. Every cell holding text counts against
/// [`MAX_CELLS`], and its characters against the text budget.
pub(crate) struct TableWriter<'o, 'l> {
    out: &'o mut Collector<'l>,
    options: &'o Options,
    sheet: Option<String>,
    header: Option<(u32, Vec<String>)>,
    /// The rows of the part being filled, with their 1-based numbers.
    chunk: Vec<(u32, Vec<String>)>,
    chunk_bytes: usize,
    parts: usize,
}

impl<'o, 'l> TableWriter<'o, 'l> {
    pub(crate) fn new(sheet: Option<&str>, out: &'o mut Collector<'l>, options: &'o Options) -> Self {
        Self {
            out,
            options,
            sheet: sheet.map(str::to_owned),
            header: None,
            chunk: Vec::new(),
            chunk_bytes: 0,
            parts: 0,
        }
    }

    /// The row numbered `number` (1-based, in the source).
    pub(crate) fn row(&mut self, number: u32, cells: Vec<String>) -> Result<(), ExtractError> {
        let filled = cells.iter().filter(|c| !c.trim().is_empty()).count() as u64;
        if filled == 0 {
            return Ok(());
        }
        self.out.charge_cells(filled, MAX_CELLS)?;
        let bytes: usize = cells.iter().map(|c| c.len() + 4).sum();
        if self.header.is_none() {
            self.header = Some((number, cells.clone()));
        }
        if !self.chunk.is_empty() && (self.chunk.len() >= CHUNK_ROWS || self.chunk_bytes + bytes > CHUNK_BYTES) {
            self.flush()?;
        }
        self.chunk_bytes += bytes;
        self.chunk.push((number, cells));
        Ok(())
    }

    /// Pushes what is left as the last part.
    pub(crate) fn finish(mut self) -> Result<(), ExtractError> {
        if !self.chunk.is_empty() {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ExtractError> {
        self.options.limits.check_time()?;
        let numbered = std::mem::take(&mut self.chunk);
        self.chunk_bytes = 0;
        let repeat = if self.parts > 0 { self.header.as_ref() } else { None };
        let used = |r: &Vec<String>| r.iter().rposition(|c| !c.trim().is_empty()).map_or(0, |p| p + 1);
        let width = numbered.iter().map(|(_, r)| used(r)).chain(repeat.map(|(_, h)| used(h))).max().unwrap_or(0);
        let (Some(&(first, _)), Some(&(last, _))) = (numbered.first(), numbered.last()) else { return Ok(()) };
        let mut rows: Vec<Vec<String>> = Vec::with_capacity(numbered.len() + 1);
        if let Some((_, header)) = repeat {
            rows.push(header.clone());
        }
        rows.extend(numbered.into_iter().map(|(_, r)| r));
        for row in &mut rows {
            row.resize(width, String::new());
        }
        let location =
            Location { sheet: self.sheet.clone(), row_start: Some(first), row_end: Some(last), ..Location::default() };
        self.parts += 1;
        self.out.push(Part::table(rows, location))
    }
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
    // Decoded as it is read: the file is never held whole.
    let mut decoded = crate::text::open_decoded(path, options)?;
    let mut sample = Vec::new();
    std::io::Read::by_ref(&mut decoded).take(64 * 1024).read_to_end(&mut sample)?;
    let cut = sample.len() == 64 * 1024;
    let delimiter = {
        // The sample may end inside a character.
        let valid = match std::str::from_utf8(&sample) {
            Ok(t) => t,
            Err(e) => std::str::from_utf8(&sample[..e.valid_up_to()]).unwrap_or_default(),
        };
        detect_delimiter(valid, cut, delimiter)
    };
    let source = std::io::Read::chain(std::io::Cursor::new(sample), decoded);
    let mut reader =
        csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).from_reader(source);
    let mut out = Collector::streaming(options);
    let mut table = TableWriter::new(None, &mut out, options);
    let mut record = csv::StringRecord::new();
    let mut number = 0u32;
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(ExtractError::Malformed(format!("CSV: {e}"))),
        }
        number = number.saturating_add(1);
        table.out.charge_chars(record.as_slice().len())?;
        table.row(number, record.iter().map(str::to_owned).collect())?;
        if number.is_multiple_of(4096) {
            options.limits.check_time()?;
        }
    }
    table.finish()?;
    Ok(out.into_extraction())
}

/// The delimiter whose first lines split into the most consistent number of columns (more than
/// one), quotes honoured. The caller's guess wins a tie, and any file where no candidate splits
/// lines keeps it.
fn detect_delimiter(sample: &str, cut: bool, hint: Option<u8>) -> u8 {
    // The first 50 records of the sample (at most 64 KiB); `cut`: the file goes on after it.
    let mut best: Option<(u8, (usize, usize, bool))> = None;
    for candidate in DELIMITERS {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(candidate)
            .has_headers(false)
            .flexible(true)
            .from_reader(sample.as_bytes());
        let counts: Vec<usize> = reader.records().take(50).filter_map(Result::ok).map(|r| r.len()).collect();
        // A sample cut mid-record leaves a short last record: leave it out when there are others.
        let counts = if counts.len() > 1 && cut { &counts[..counts.len() - 1] } else { &counts[..] };
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
        assert_eq!(detect_delimiter("a;b;c\n1,5;2;\"x;y\"\n3;4;5\n", false, Some(b',')), b';');
        assert_eq!(detect_delimiter("a,b\n1,2\n", false, Some(b'\t')), b',');
        assert_eq!(detect_delimiter("a\tb\n1\t2\n", false, None), b'\t');
        assert_eq!(detect_delimiter("a|b|c\n1|2|3\n", false, None), b'|');
        assert_eq!(detect_delimiter("just text\n", false, Some(b',')), b',');
    }
}
