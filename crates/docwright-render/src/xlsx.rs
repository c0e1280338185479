//! XLSX through rust_xlsxwriter: a sheet per table, in constant-memory mode (rows go to a
//! temporary file as they are written, so a 200,000-row table does not sit in memory as cells),
//! typed cells (numbers as numbers, dates as Excel dates with a date format, currency and
//! percent formats), a bold header row that stays frozen, an autofilter and column widths from
//! the content. The text of the other elements goes on a first sheet, `Document`.
//!
//! Strings are written as strings, never as formulas, so a model's `=HYPERLINK(...)` is text.

use rust_xlsxwriter::{Color, DocProperties, ExcelDateTime, Format, FormatBorder, Workbook, Worksheet, XlsxError};

use crate::model::{Cell, DataType, Document, Element, Table, heading_level};
use crate::picture::Pictures;
use crate::text::{clean, each_item, error_notice, image_notice, reference_line, runs_text};
use crate::{Error, Options, Result};

/// Rows a sheet can hold below its header (Excel's limit is 1,048,576 rows in all).
const SHEET_ROWS: usize = 1_048_575;
/// Rows sampled for column widths.
const WIDTH_SAMPLE: usize = 1_000;

pub(crate) fn render(document: &Document, options: &Options) -> Result<Vec<u8>> {
    let mut workbook = Workbook::new();
    workbook.set_properties(&properties(document));
    let has_text = document
        .sections
        .iter()
        .any(|s| s.title.is_some() || s.elements.iter().any(|e| !matches!(e, Element::Table(_))));
    let mut names: Vec<String> = Vec::new();
    if has_text || document.tables().next().is_none() {
        let sheet = workbook.add_worksheet();
        sheet.set_name("Document").map_err(failed)?;
        names.push("Document".to_owned());
        text_sheet(sheet, document, options).map_err(failed)?;
    }
    let formats = Formats::new();
    for (n, table) in document.tables().enumerate() {
        // A table longer than a sheet continues on further sheets, each with its header.
        let chunks = table.rows.len().div_ceil(SHEET_ROWS).max(1);
        for chunk in 0..chunks {
            let base =
                table.caption.as_deref().map(|c| clean(c).into_owned()).unwrap_or_else(|| format!("Table {}", n + 1));
            let base = if chunks > 1 { format!("{base} ({})", chunk + 1) } else { base };
            let name = sheet_name(&base, &names);
            names.push(name.clone());
            let sheet = workbook.add_worksheet_with_constant_memory().map_err(failed)?;
            sheet.set_name(&name).map_err(failed)?;
            let rows = &table.rows
                [(chunk * SHEET_ROWS).min(table.rows.len())..((chunk + 1) * SHEET_ROWS).min(table.rows.len())];
            table_sheet(sheet, table, rows, &formats).map_err(failed)?;
        }
    }
    workbook.save_to_buffer().map_err(failed)
}

fn failed(e: XlsxError) -> Error {
    Error::failed("XLSX", e)
}

fn properties(document: &Document) -> DocProperties {
    let meta = &document.metadata;
    let mut props = DocProperties::new().set_author(clean(meta.author.as_deref().unwrap_or("docwright")));
    if let Some(title) = &document.title {
        props = props.set_title(clean(title));
    }
    if let Some(subject) = &meta.subject {
        props = props.set_subject(clean(subject));
    }
    if !meta.keywords.is_empty() {
        props = props.set_keywords(clean(&meta.keywords.join(", ")));
    }
    if let Some(description) = &meta.description {
        props = props.set_comment(clean(description));
    }
    props
}

struct Formats {
    header: Format,
    number: Format,
    integer: Format,
    currency: Format,
    percent: Format,
    date: Format,
    datetime: Format,
    text: Format,
}

impl Formats {
    fn new() -> Self {
        Self {
            header: Format::new()
                .set_bold()
                .set_background_color(Color::RGB(0xE7ECF2))
                .set_border_bottom(FormatBorder::Thin),
            number: Format::new().set_num_format("#,##0.##########"),
            integer: Format::new().set_num_format("#,##0"),
            currency: Format::new().set_num_format("#,##0.00"),
            percent: Format::new().set_num_format("0.0#%"),
            date: Format::new().set_num_format("yyyy-mm-dd"),
            datetime: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
            text: Format::new(),
        }
    }

    fn number_for(&self, data_type: DataType) -> &Format {
        match data_type {
            DataType::Integer => &self.integer,
            DataType::Currency => &self.currency,
            DataType::Percent => &self.percent,
            _ => &self.number,
        }
    }
}

fn table_sheet(sheet: &mut Worksheet, table: &Table, rows: &[Vec<Cell>], formats: &Formats) -> Result<(), XlsxError> {
    let columns = table.columns.len();
    // Widths first: a constant-memory sheet writes its rows out as it goes.
    for (c, column) in table.columns.iter().enumerate() {
        let widest = rows
            .iter()
            .take(WIDTH_SAMPLE)
            .map(|row| row.get(c).map_or(0, |cell| display_width(cell, column.data_type)))
            .chain([column.name.chars().count() + 3])
            .max()
            .unwrap_or(8);
        sheet.set_column_width(col(c), (widest as f64 + 1.0).clamp(8.0, 60.0))?;
    }
    for (c, column) in table.columns.iter().enumerate() {
        sheet.write_string_with_format(0, col(c), clean(&column.name), &formats.header)?;
    }
    for (r, row) in rows.iter().enumerate() {
        let r = u32::try_from(r + 1).unwrap_or(u32::MAX);
        for (c, column) in table.columns.iter().enumerate() {
            let (c, cell) = (col(c), row.get(c).unwrap_or(&Cell::Empty));
            match cell {
                Cell::Empty => {}
                Cell::Text(text) => {
                    sheet.write_string_with_format(r, c, clean(text), &formats.text)?;
                }
                Cell::Number(n) => {
                    let value = if column.data_type == DataType::Percent { n.as_f64() / 100.0 } else { n.as_f64() };
                    sheet.write_number_with_format(r, c, value, formats.number_for(column.data_type))?;
                }
                Cell::Bool(b) => {
                    sheet.write_boolean(r, c, *b)?;
                }
                Cell::Date(d) => match excel_date(d.year(), u8::from(d.month()), d.day()) {
                    Some(date) => {
                        sheet.write_datetime_with_format(r, c, &date, &formats.date)?;
                    }
                    None => {
                        sheet.write_string(r, c, cell.display(column.data_type))?;
                    }
                },
                Cell::DateTime(dt) => {
                    let value = excel_date(dt.year(), u8::from(dt.month()), dt.day()).and_then(|d| {
                        d.and_hms_milli(u16::from(dt.hour()), dt.minute(), dt.second(), dt.millisecond()).ok()
                    });
                    match value {
                        Some(value) => {
                            sheet.write_datetime_with_format(r, c, &value, &formats.datetime)?;
                        }
                        None => {
                            sheet.write_string(r, c, cell.display(column.data_type))?;
                        }
                    }
                }
            }
        }
    }
    if columns > 0 {
        sheet.set_freeze_panes(1, 0)?;
        sheet.autofilter(0, 0, u32::try_from(rows.len()).unwrap_or(u32::MAX), col(columns - 1))?;
    }
    Ok(())
}

/// An Excel date, if Excel can hold it (1900 to 9999).
fn excel_date(year: i32, month: u8, day: u8) -> Option<ExcelDateTime> {
    let year = u16::try_from(year).ok().filter(|y| (1900..=9999).contains(y))?;
    ExcelDateTime::from_ymd(year, month, day).ok()
}

fn col(c: usize) -> u16 {
    u16::try_from(c).unwrap_or(u16::MAX)
}

fn display_width(cell: &Cell, data_type: DataType) -> usize {
    match cell {
        Cell::Empty => 0,
        Cell::Text(text) => text.lines().map(|l| l.chars().count()).max().unwrap_or(0),
        Cell::Number(n) => n.as_str().len() + n.as_str().len() / 3 + 2,
        Cell::Bool(_) => 5,
        Cell::Date(_) => 10,
        Cell::DateTime(_) => 19,
    }
    .max(if data_type == DataType::Currency { 10 } else { 0 })
}

/// A sheet name Excel accepts: no `[]:*?/\`, no leading or trailing `'`, at most 31
/// characters, unique in the workbook (case-insensitively).
fn sheet_name(base: &str, taken: &[String]) -> String {
    let cleaned: String =
        base.chars().map(|c| if "[]:*?/\\".contains(c) || c.is_control() { ' ' } else { c }).collect();
    let cleaned = cleaned.trim().trim_matches('\'').trim();
    let cleaned = if cleaned.is_empty() || cleaned.eq_ignore_ascii_case("history") { "Table" } else { cleaned };
    let short = |s: &str, max: usize| s.chars().take(max).collect::<String>().trim_end().to_owned();
    let mut name = short(cleaned, 31);
    let mut n = 2;
    while taken.iter().any(|t| t.to_lowercase() == name.to_lowercase()) {
        let suffix = format!(" ({n})");
        name = format!("{}{suffix}", short(cleaned, 31 - suffix.chars().count()));
        n += 1;
    }
    name
}

/// The document's text, one element per row in column A: headings bold and larger, list items
/// indented, tables named by the sheet they are on.
fn text_sheet(sheet: &mut Worksheet, document: &Document, options: &Options) -> Result<(), XlsxError> {
    sheet.set_column_width(0, 100)?;
    let wrap = Format::new().set_text_wrap().set_align(rust_xlsxwriter::FormatAlign::Top);
    let title = Format::new().set_bold().set_font_size(16);
    let heading = |level: u8| {
        Format::new().set_bold().set_font_size(match level {
            1 => 14.0,
            2 => 12.5,
            _ => 11.0,
        })
    };
    let italic = wrap.clone().set_italic();
    let notice = wrap.clone().set_font_color(Color::RGB(0x82071E)).set_background_color(Color::RGB(0xFFEBE9));
    let mut row = 0u32;
    let mut put = |sheet: &mut Worksheet, text: &str, format: &Format| -> Result<(), XlsxError> {
        // A cell holds at most 32,767 characters.
        let text: String = clean(text).chars().take(32_767).collect();
        sheet.write_string_with_format(row, 0, text, format)?;
        row += 1;
        Ok(())
    };
    if let Some(t) = &document.title {
        put(sheet, t, &title)?;
    }
    let mut pictures = Pictures::new(options);
    let mut tables = 0;
    for section in &document.sections {
        if let Some(t) = &section.title {
            put(sheet, t, &heading(1))?;
        }
        for element in &section.elements {
            match element {
                Element::Heading { level, text } => put(sheet, text, &heading(heading_level(*level)))?,
                Element::Paragraph { runs } => put(sheet, &runs_text(runs), &wrap)?,
                Element::List(list) => {
                    let mut lines = Vec::new();
                    let mut numbers: Vec<usize> = Vec::new();
                    each_item(&list.items, 0, &mut |item, depth| {
                        numbers.resize(depth + 1, 0);
                        numbers[depth] += 1;
                        let marker = if list.ordered { format!("{}.", numbers[depth]) } else { "•".to_owned() };
                        lines.push((depth, format!("{marker} {}", runs_text(&item.runs))));
                    });
                    for (depth, line) in lines {
                        let indent = u8::try_from(depth + 1).unwrap_or(15).min(15);
                        put(sheet, &line, &wrap.clone().set_indent(indent))?;
                    }
                }
                Element::Table(table) => {
                    tables += 1;
                    let name = table.caption.clone().unwrap_or_else(|| format!("Table {tables}"));
                    put(sheet, &format!("{name}: see the sheet of its own ({} rows)", table.rows.len()), &italic)?;
                }
                Element::Image(image) => {
                    let text = match pictures.prepare(image) {
                        Ok(_) => format!(
                            "[Image{}]",
                            [&image.alt_text, &image.caption]
                                .into_iter()
                                .flatten()
                                .fold(String::new(), |acc, s| acc + ": " + s)
                        ),
                        Err(reason) => image_notice(&reason, image.alt_text.as_deref()),
                    };
                    put(sheet, &text, &italic)?;
                }
                Element::Reference { label, .. } => put(sheet, &reference_line(label), &italic)?,
                Element::ExtractedText { content, source, .. } => {
                    put(sheet, content, &wrap.clone().set_indent(1))?;
                    if let Some(source) = source {
                        put(sheet, &format!("— {source}"), &italic.clone().set_indent(1))?;
                    }
                }
                Element::PageBreak => put(sheet, "", &wrap)?,
                Element::Error { message, .. } => put(sheet, &error_notice(message), &notice)?,
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheet_names_are_valid_and_unique() {
        let taken = vec!["Table".to_owned()];
        assert_eq!(sheet_name("Q1: costs/[draft]", &[]), "Q1  costs  draft");
        assert_eq!(sheet_name("table", &taken), "table (2)");
        assert_eq!(sheet_name("'History'", &[]), "Table");
        assert_eq!(sheet_name(&"x".repeat(40), &[]).chars().count(), 31);
        let long = "y".repeat(40);
        let first = sheet_name(&long, &[]);
        let second = sheet_name(&long, std::slice::from_ref(&first));
        assert_eq!(second.chars().count(), 31);
        assert!(second.ends_with(" (2)"));
    }
}
