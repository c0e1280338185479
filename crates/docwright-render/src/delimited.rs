//! CSV (RFC 4180 through the `csv` crate): one file per table, a header row, the typed values in
//! a locale-neutral form (decimal point, ISO dates), the delimiter of [`Options::csv_delimiter`]
//! and, with [`Options::csv_bom`], a UTF-8 byte order mark so Excel reads the encoding.
//!
//! A text cell that a spreadsheet would take for a formula (`=`, `+`, `-`, `@` first) gets a
//! leading `'`, the usual defence against CSV injection: text from a model is data, never code.
//! Numbers (`-12.50`) are typed and written as they are.

use crate::model::{Cell, Document, Table};
use crate::text::clean;
use crate::{Error, Format, Options, Rendered, Result};

pub(crate) fn render(document: &Document, options: &Options) -> Result<Vec<Rendered>> {
    let delimiter = options.csv_delimiter;
    if !delimiter.is_ascii() || matches!(delimiter, b'"' | b'\n' | b'\r' | 0) {
        return Err(Error::BadDelimiter);
    }
    let tables: Vec<&Table> = document.tables().collect();
    if tables.is_empty() {
        return Err(Error::NoTable);
    }
    let stem = document.file_stem();
    let several = tables.len() > 1;
    tables
        .iter()
        .enumerate()
        .map(|(i, table)| {
            let filename = if several { format!("{stem}-{}.csv", i + 1) } else { format!("{stem}.csv") };
            Ok(Rendered { filename, mime: Format::Csv.mime(), bytes: table_csv(table, options)? })
        })
        .collect()
}

fn table_csv(table: &Table, options: &Options) -> Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(64 + table.rows.len() * table.columns.len() * 8);
    if options.csv_bom {
        bytes.extend_from_slice("\u{feff}".as_bytes());
    }
    let mut writer = csv::WriterBuilder::new().delimiter(options.csv_delimiter).from_writer(bytes);
    let failed = |e: csv::Error| Error::failed("CSV", e);
    writer.write_record(table.columns.iter().map(|c| guarded(clean(&c.name).into_owned()))).map_err(failed)?;
    let mut record: Vec<String> = Vec::with_capacity(table.columns.len());
    for row in &table.rows {
        record.clear();
        for (i, column) in table.columns.iter().enumerate() {
            let value = match row.get(i) {
                Some(Cell::Text(text)) => guarded(clean(text).into_owned()),
                Some(cell) => cell.display(column.data_type),
                None => String::new(),
            };
            record.push(value);
        }
        writer.write_record(&record).map_err(failed)?;
    }
    writer.into_inner().map_err(|e| Error::failed("CSV", e.error()))
}

/// Text that would start a formula gets a leading apostrophe.
fn guarded(text: String) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Column, DataType, Decimal, Element, Section};

    fn doc(tables: Vec<Table>) -> Document {
        Document {
            filename: Some("expenses.csv".into()),
            sections: vec![Section {
                elements: tables.into_iter().map(Element::Table).collect(),
                ..Section::default()
            }],
            ..Document::default()
        }
    }

    fn table() -> Table {
        Table {
            caption: None,
            columns: vec![
                Column::new("date", DataType::Date),
                Column::new("CHF", DataType::Currency),
                Column::new("note", DataType::String),
            ],
            rows: vec![
                vec![
                    Cell::Date(time::macros::date!(2024 - 01 - 02)),
                    Cell::Number(Decimal::parse("12.50").unwrap()),
                    Cell::text("a; \"b\"\nc"),
                ],
                vec![Cell::Empty, Cell::Number(Decimal::parse("-7").unwrap()), Cell::text("=HYPERLINK(\"x\")")],
            ],
        }
    }

    #[test]
    fn csv_quotes_and_types() {
        let out = render(&doc(vec![table()]), &Options::default()).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].filename, "expenses.csv");
        assert_eq!(
            String::from_utf8(out[0].bytes.clone()).unwrap(),
            "date,CHF,note\n2024-01-02,12.50,\"a; \"\"b\"\"\nc\"\n,-7.00,\"'=HYPERLINK(\"\"x\"\")\"\n"
        );
    }

    #[test]
    fn delimiter_bom_and_one_file_per_table() {
        let options = Options { csv_delimiter: b';', csv_bom: true, ..Options::default() };
        let out = render(&doc(vec![table(), table()]), &options).unwrap();
        assert_eq!(out.iter().map(|r| r.filename.as_str()).collect::<Vec<_>>(), ["expenses-1.csv", "expenses-2.csv"]);
        let text = String::from_utf8(out[1].bytes.clone()).unwrap();
        assert!(text.starts_with("\u{feff}date;CHF;note\n2024-01-02;12.50;\"a; \"\"b\"\"\nc\"\n"), "{text}");
        assert!(matches!(render(&doc(vec![]), &options), Err(Error::NoTable)));
        let bad = Options { csv_delimiter: b'"', ..Options::default() };
        assert!(matches!(render(&doc(vec![table()]), &bad), Err(Error::BadDelimiter)));
    }
}
