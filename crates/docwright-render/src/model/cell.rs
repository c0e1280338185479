//! Table cells typed by their column: what a model writes (`"CHF 1'234.50"`, `12.5`,
//! `"02.01.2024"`, `"yes"`) becomes a number, a date or a boolean; anything that does not fit
//! stays text, never dropped.
//!
//! Numbers are kept as decimal text ([`Decimal`]) rather than `f64`, because text formats must
//! write the value as given (`12.50`) and a float cannot remember its trailing zero; spreadsheet
//! formats take [`Decimal::as_f64`].

use std::fmt;

use serde_json::Value;
use time::{Date, Month, PrimitiveDateTime, Time};

use super::{Cell, DataType};

/// A decimal number as canonical text: an optional `-`, digits without leading zeros, and an
/// optional fraction exactly as given (`12.50`). Only [`Decimal::parse`] and the `from_`
/// constructors make one, so it is always a valid number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Decimal(String);

impl Decimal {
    /// A plain decimal (`-12.50`, `+3`, `.5`, `1e3`); no separators, no currency.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.contains(['e', 'E']) {
            let value: f64 = text.parse().ok()?;
            return Self::from_f64(value);
        }
        let (negative, digits) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if int.is_empty() && frac.is_empty()
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || digits.ends_with('.')
        {
            return None;
        }
        let int = int.trim_start_matches('0');
        let mut out = String::with_capacity(text.len() + 1);
        let zero = int.is_empty() && frac.bytes().all(|b| b == b'0');
        if negative && !zero {
            out.push('-');
        }
        out.push_str(if int.is_empty() { "0" } else { int });
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
        Some(Self(out))
    }

    pub fn from_i64(value: i64) -> Self {
        Self(value.to_string())
    }

    /// The shortest text that reads back as `value` (`12.5`); `None` for NaN and infinities.
    pub fn from_f64(value: f64) -> Option<Self> {
        value.is_finite().then(|| Self(if value == 0.0 { "0".to_owned() } else { value.to_string() }))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The nearest `f64` (what a spreadsheet stores).
    pub fn as_f64(&self) -> f64 {
        self.0.parse().unwrap_or(0.0)
    }

    /// Whether the number has no fraction (or only zeros after the point).
    pub fn is_integer(&self) -> bool {
        self.0.split_once('.').is_none_or(|(_, frac)| frac.bytes().all(|b| b == b'0'))
    }

    /// The number without its fraction, if it is an integer (`12.00` → `12`).
    fn integer_part(&self) -> Self {
        let int = self.0.split_once('.').map_or(self.0.as_str(), |(int, _)| int);
        Self(if int == "-0" { "0".to_owned() } else { int.to_owned() })
    }

    /// The number with at least two decimals (`1.5` → `1.50`, `3` → `3.00`, `0.125` stays), as
    /// money is written in text formats.
    pub fn with_cents(&self) -> String {
        let decimals = self.0.split_once('.').map_or(0, |(_, frac)| frac.len());
        match decimals {
            0 => format!("{}.00", self.0),
            1 => format!("{}0", self.0),
            _ => self.0.clone(),
        }
    }

    /// Whether `f64` gives this number back with the same text (`12.5`, not `12.50`), so JSON
    /// can carry it as a number without changing it.
    pub fn survives_f64(&self) -> bool {
        Self::from_f64(self.as_f64()).is_some_and(|back| back == *self)
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The cell a JSON value makes in a column of `data_type`. Never fails: what does not fit the
/// type is kept as text (JSON objects and arrays as their compact JSON).
pub fn parse_cell(value: &Value, data_type: DataType) -> Cell {
    match value {
        Value::Null => Cell::Empty,
        Value::String(s) if s.is_empty() => Cell::Empty,
        Value::String(s) => parse_text_cell(s, data_type).unwrap_or_else(|| Cell::Text(s.clone())),
        Value::Number(n) => {
            let decimal = n.as_i64().map(Decimal::from_i64).or_else(|| n.as_f64().and_then(Decimal::from_f64));
            match (data_type, decimal) {
                (DataType::Integer, Some(d)) if d.is_integer() => Cell::Number(d.integer_part()),
                (DataType::Number | DataType::Currency | DataType::Percent, Some(d)) => Cell::Number(d),
                (DataType::Boolean, _) if n.as_i64() == Some(1) => Cell::Bool(true),
                (DataType::Boolean, _) if n.as_i64() == Some(0) => Cell::Bool(false),
                _ => Cell::Text(n.to_string()),
            }
        }
        Value::Bool(b) => match data_type {
            DataType::Boolean => Cell::Bool(*b),
            _ => Cell::Text(b.to_string()),
        },
        other => Cell::Text(other.to_string()),
    }
}

fn parse_text_cell(text: &str, data_type: DataType) -> Option<Cell> {
    let trimmed = text.trim();
    match data_type {
        DataType::String => None,
        DataType::Number | DataType::Currency => parse_number(trimmed, false).map(Cell::Number),
        DataType::Percent => parse_number(trimmed, true).map(Cell::Number),
        DataType::Integer => {
            parse_number(trimmed, false).filter(Decimal::is_integer).map(|d| Cell::Number(d.integer_part()))
        }
        DataType::Date => parse_date(trimmed).map(Cell::Date),
        DataType::Datetime => parse_datetime(trimmed).map(Cell::DateTime),
        DataType::Boolean => parse_bool(trimmed).map(Cell::Bool),
    }
}

/// A number as people and models write it: currency codes and symbols around it
/// (`CHF 12.50`, `12,50 €`, `$1,234.56`), thousands separators (`1'234.50`, `1 234,50`,
/// `1.234,50`), accounting negatives (`(12.50)`), and for percent columns a `%` sign.
fn parse_number(text: &str, percent: bool) -> Option<Decimal> {
    let mut s = text.trim();
    if percent {
        s = s.strip_suffix('%').unwrap_or(s).trim_end();
    }
    s = strip_currency(s);
    let (negative, body) = match s.strip_prefix('(').and_then(|s| s.strip_suffix(')')) {
        Some(inner) => (true, strip_currency(inner)),
        None => (false, s),
    };
    let body: String =
        body.chars().filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}' | '\u{2009}' | '\'' | '’')).collect();
    let (sign, digits) = match body.as_bytes().first()? {
        b'-' | b'+' => body.split_at(1),
        _ => ("", body.as_str()),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b',') {
        return Decimal::parse(&body).filter(|_| !negative);
    }
    let normalized = normalize_separators(digits)?;
    let sign = if negative { "-" } else { sign };
    Decimal::parse(&format!("{sign}{normalized}"))
}

/// Currency codes (three capital letters) and symbols before or after a number.
fn strip_currency(s: &str) -> &str {
    const SYMBOLS: [&str; 12] = ["$", "€", "£", "¥", "₽", "₹", "₩", "₺", "₴", "zł", "Fr.", "руб."];
    let mut s = s.trim();
    for _ in 0..2 {
        for symbol in SYMBOLS {
            s = s.strip_prefix(symbol).unwrap_or(s).trim_start();
            s = s.strip_suffix(symbol).unwrap_or(s).trim_end();
        }
        let code = |c: &str| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase());
        if let Some((_, rest)) = s.split_once(' ').filter(|(head, _)| code(head)) {
            s = rest.trim_start();
        } else if s.len() > 3 && s.is_char_boundary(3) && code(&s[..3]) {
            s = &s[3..];
        }
        if let Some((rest, _)) = s.rsplit_once(' ').filter(|(_, tail)| code(tail)) {
            s = rest.trim_end();
        } else if s.len() > 3 && s.is_char_boundary(s.len() - 3) && code(&s[s.len() - 3..]) {
            s = &s[..s.len() - 3];
        }
    }
    s.trim()
}

/// Digits with `.` and `,` in either role: the last separator is the decimal point when both
/// occur; a lone `,` is a decimal comma unless it groups thousands (`1,234`, `1,234,567`);
/// several `.` group thousands (`1.234.567`).
fn normalize_separators(digits: &str) -> Option<String> {
    let dots = digits.matches('.').count();
    let commas = digits.matches(',').count();
    let groups_of_three = |sep: char| {
        let mut parts = digits.split(sep);
        let first = parts.next().unwrap_or("");
        !first.is_empty() && first.len() <= 3 && parts.all(|p| p.len() == 3)
    };
    let (thousands, decimal) = match (dots, commas) {
        (0, 0) => return Some(digits.to_owned()),
        (_, 0) if dots == 1 => return Some(digits.to_owned()),
        (_, 0) if groups_of_three('.') => ('.', None),
        (_, 0) => return None,
        (0, 1) if groups_of_three(',') => (',', None),
        (0, 1) => ('\0', Some(',')),
        (0, _) if groups_of_three(',') => (',', None),
        (0, _) => return None,
        _ => {
            let last_dot = digits.rfind('.')?;
            let last_comma = digits.rfind(',')?;
            if last_dot > last_comma { (',', Some('.')) } else { ('.', Some(',')) }
        }
    };
    let mut out = String::with_capacity(digits.len());
    let mut seen_decimal = false;
    for c in digits.chars() {
        if c == thousands && !seen_decimal {
            continue;
        }
        if Some(c) == decimal {
            if seen_decimal {
                return None;
            }
            seen_decimal = true;
            out.push('.');
        } else if c.is_ascii_digit() {
            out.push(c);
        } else {
            return None;
        }
    }
    Some(out)
}

/// `true`/`false` and their usual spellings in the languages docwright serves.
fn parse_bool(text: &str) -> Option<bool> {
    Some(match text.to_lowercase().as_str() {
        "true" | "yes" | "y" | "1" | "ja" | "wahr" | "oui" | "sí" | "si" | "да" | "x" | "✓" => true,
        "false" | "no" | "n" | "0" | "nein" | "falsch" | "non" | "нет" | "-" | "✗" => false,
        _ => return None,
    })
}

/// ISO (`2024-01-02`, also with `/`), German/Russian (`02.01.2024`), and `d/m/y` or `m/d/y`
/// when the numbers decide it (an ambiguous `01/02/2024` stays text). A date-time in a date
/// column keeps its date.
fn parse_date(text: &str) -> Option<Date> {
    if let Some(dt) = parse_datetime_parts(text) {
        return Some(dt.0);
    }
    None
}

fn parse_datetime(text: &str) -> Option<PrimitiveDateTime> {
    let (date, time) = parse_datetime_parts(text)?;
    Some(PrimitiveDateTime::new(date, time.unwrap_or(Time::MIDNIGHT)))
}

fn parse_datetime_parts(text: &str) -> Option<(Date, Option<Time>)> {
    let text = text.trim();
    let (date_part, time_part) = match text.find(['T', ' ']) {
        Some(i) => (&text[..i], Some(text[i + 1..].trim())),
        None => (text, None),
    };
    let date = parse_date_only(date_part)?;
    let time = match time_part {
        None | Some("") => None,
        Some(t) => Some(parse_time(t)?),
    };
    Some((date, time))
}

fn parse_date_only(text: &str) -> Option<Date> {
    let sep = text.chars().find(|c| matches!(c, '-' | '/' | '.'))?;
    let parts: Vec<&str> = text.split(sep).collect();
    let [a, b, c] = parts[..] else { return None };
    let num = |s: &str| {
        (!s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<i32>().ok())
            .flatten()
    };
    let (na, nb, nc) = (num(a)?, num(b)?, num(c)?);
    let (year, month, day) = if a.len() == 4 {
        (na, nb, nc)
    } else if c.len() == 4 {
        match sep {
            '.' | '-' => (nc, nb, na),
            _ if na > 12 && nb <= 12 => (nc, nb, na),
            _ if nb > 12 && na <= 12 => (nc, na, nb),
            _ if na == nb => (nc, nb, na),
            _ => return None,
        }
    } else {
        return None;
    };
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    Date::from_calendar_date(year, month, u8::try_from(day).ok()?).ok()
}

/// `HH:MM[:SS[.fff]]`, then an optional `Z` or `±HH[:MM]` offset, which is dropped: the wall
/// clock time the model wrote is what a reader expects to see.
fn parse_time(text: &str) -> Option<Time> {
    let end = text.find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.' || c == ',')).unwrap_or(text.len());
    let (clock, zone) = text.split_at(end);
    let zone = zone.trim();
    let zone_ok = zone.is_empty()
        || zone.eq_ignore_ascii_case("z")
        || zone.eq_ignore_ascii_case("utc")
        || (zone.starts_with(['+', '-'])
            && zone[1..].bytes().all(|b| b.is_ascii_digit() || b == b':')
            && zone.len() <= 6);
    if !zone_ok {
        return None;
    }
    let mut parts = clock.split(':');
    let hour: u8 = parts.next()?.parse().ok()?;
    let minute: u8 = parts.next()?.parse().ok()?;
    let (second, milli) = match parts.next() {
        Some(s) => {
            let (whole, frac) = s.split_once(['.', ',']).unwrap_or((s, ""));
            let milli = if frac.is_empty() {
                0
            } else {
                let digits: String = frac.chars().chain("000".chars()).take(3).collect();
                digits.parse().ok()?
            };
            (whole.parse().ok()?, milli)
        }
        None => (0, 0),
    };
    if parts.next().is_some() {
        return None;
    }
    Time::from_hms_milli(hour, minute, second, milli).ok()
}

/// `YYYY-MM-DD`.
pub(crate) fn iso_date(date: Date) -> String {
    format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day())
}

/// `YYYY-MM-DDTHH:MM:SS`, with `.mmm` when there are milliseconds.
pub(crate) fn iso_datetime(dt: PrimitiveDateTime) -> String {
    let mut out = format!("{}T{:02}:{:02}:{:02}", iso_date(dt.date()), dt.hour(), dt.minute(), dt.second());
    if dt.millisecond() != 0 {
        out.push_str(&format!(".{:03}", dt.millisecond()));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::{date, datetime};

    use super::*;

    fn num(s: &str) -> Cell {
        Cell::Number(Decimal::parse(s).unwrap())
    }

    #[test]
    fn decimals_keep_their_text() {
        for (input, canonical) in [
            ("12.50", "12.50"),
            ("+3", "3"),
            (".5", "0.5"),
            ("-0.00", "0.00"),
            ("007", "7"),
            ("1e3", "1000"),
            ("-12", "-12"),
        ] {
            assert_eq!(Decimal::parse(input).map(|d| d.to_string()).as_deref(), Some(canonical), "{input}");
        }
        for bad in ["", "-", ".", "1.2.3", "12a", "1,5", "5.", "NaN", "inf"] {
            assert_eq!(Decimal::parse(bad), None, "{bad}");
        }
        assert!(Decimal::parse("12.00").unwrap().is_integer());
        assert!(!Decimal::parse("12.01").unwrap().is_integer());
        assert!(Decimal::parse("12.5").unwrap().survives_f64());
        assert!(!Decimal::parse("12.50").unwrap().survives_f64());
        assert!(!Decimal::parse("12345678901234567890.1").unwrap().survives_f64());
        assert_eq!(Decimal::from_f64(0.1 + 0.2).unwrap().as_str(), "0.30000000000000004");
    }

    #[test]
    fn cells_take_their_column_type() {
        let cases: Vec<(serde_json::Value, DataType, Cell)> = vec![
            (json!("12.50"), DataType::Currency, num("12.50")),
            (json!("CHF 12.50"), DataType::Currency, num("12.50")),
            (json!("12,50 €"), DataType::Currency, num("12.50")),
            (json!("$1,234.56"), DataType::Currency, num("1234.56")),
            (json!("1'234.50"), DataType::Number, num("1234.50")),
            (json!("1.234,50"), DataType::Number, num("1234.50")),
            (json!("1 234,5"), DataType::Number, num("1234.5")),
            (json!("1.234.567"), DataType::Number, num("1234567")),
            (json!("1,234"), DataType::Number, num("1234")),
            (json!("(7.00)"), DataType::Currency, num("-7.00")),
            (json!("EUR-5"), DataType::Currency, num("-5")),
            (json!(12.5), DataType::Currency, num("12.5")),
            (json!(7), DataType::Currency, num("7")),
            (json!("12 apples"), DataType::Number, Cell::text("12 apples")),
            (json!("N/A"), DataType::Number, Cell::text("N/A")),
            (json!("7.7%"), DataType::Percent, num("7.7")),
            (json!(8.1), DataType::Percent, num("8.1")),
            (json!("12"), DataType::Integer, num("12")),
            (json!("12.00"), DataType::Integer, num("12")),
            (json!(3.0), DataType::Integer, num("3")),
            (json!("12.5"), DataType::Integer, Cell::text("12.5")),
            (json!("2024-01-02"), DataType::Date, Cell::Date(date!(2024 - 01 - 02))),
            (json!("02.01.2024"), DataType::Date, Cell::Date(date!(2024 - 01 - 02))),
            (json!("2024/1/2"), DataType::Date, Cell::Date(date!(2024 - 01 - 02))),
            (json!("31/12/2024"), DataType::Date, Cell::Date(date!(2024 - 12 - 31))),
            (json!("12/31/2024"), DataType::Date, Cell::Date(date!(2024 - 12 - 31))),
            (json!("01/02/2024"), DataType::Date, Cell::text("01/02/2024")),
            (json!("2024-02-30"), DataType::Date, Cell::text("2024-02-30")),
            (json!("2024-01-02T10:30:00Z"), DataType::Date, Cell::Date(date!(2024 - 01 - 02))),
            (json!("yesterday"), DataType::Date, Cell::text("yesterday")),
            (json!("2024-01-02T10:30:00+01:00"), DataType::Datetime, Cell::DateTime(datetime!(2024-01-02 10:30))),
            (json!("2024-01-02 10:30"), DataType::Datetime, Cell::DateTime(datetime!(2024-01-02 10:30))),
            (json!("02.01.2024 10:30:15.5"), DataType::Datetime, Cell::DateTime(datetime!(2024-01-02 10:30:15.5))),
            (json!("2024-01-02"), DataType::Datetime, Cell::DateTime(datetime!(2024-01-02 0:00))),
            (json!("2024-01-02T25:00"), DataType::Datetime, Cell::text("2024-01-02T25:00")),
            (json!(true), DataType::Boolean, Cell::Bool(true)),
            (json!("Nein"), DataType::Boolean, Cell::Bool(false)),
            (json!(1), DataType::Boolean, Cell::Bool(true)),
            (json!("maybe"), DataType::Boolean, Cell::text("maybe")),
            (json!(true), DataType::String, Cell::text("true")),
            (json!(12.5), DataType::String, Cell::text("12.5")),
            (json!(null), DataType::Number, Cell::Empty),
            (json!(""), DataType::String, Cell::Empty),
            (json!({"a": 1}), DataType::String, Cell::text(r#"{"a":1}"#)),
            (json!([1, 2]), DataType::Number, Cell::text("[1,2]")),
        ];
        for (value, data_type, expected) in cases {
            assert_eq!(parse_cell(&value, data_type), expected, "{value} as {data_type:?}");
        }
    }

    #[test]
    fn cells_display_locale_neutral() {
        assert_eq!(num("12.50").display(DataType::Currency), "12.50");
        assert_eq!(num("1.5").display(DataType::Currency), "1.50");
        assert_eq!(num("-3").display(DataType::Currency), "-3.00");
        assert_eq!(num("0.125").display(DataType::Currency), "0.125");
        assert_eq!(num("1.5").display(DataType::Number), "1.5");
        assert_eq!(num("7.7").display(DataType::Percent), "7.7%");
        assert_eq!(Cell::Date(date!(2024 - 01 - 02)).display(DataType::Date), "2024-01-02");
        assert_eq!(
            Cell::DateTime(datetime!(2024-01-02 10:30:15.5)).display(DataType::Datetime),
            "2024-01-02T10:30:15.500"
        );
        assert_eq!(Cell::DateTime(datetime!(2024-01-02 10:30)).display(DataType::Datetime), "2024-01-02T10:30:00");
        assert_eq!(Cell::Bool(false).display(DataType::Boolean), "false");
    }
}
