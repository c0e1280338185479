//! Cron schedules in a time zone (SPEC T4), on `jiff`.
//!
//! Five fields — minute, hour, day of month, month, day of week — each `*`, a number, a range
//! `a-b`, a step `*/n`, `a-b/n` or `a/n`, or a comma list of those; months and weekdays also by
//! their English three-letter names; weekday 0 and 7 are Sunday. As in Vixie cron, when both the
//! day of month and the day of week are restricted, a day matching either runs. `@hourly`,
//! `@daily` (`@midnight`), `@weekly`, `@monthly` and `@yearly` (`@annually`) are accepted.
//!
//! Slots are wall-clock times in the schedule's zone. [`Schedule::next_after`] takes the
//! previous slot (not "now"), so a slow run never shifts or drops the slots after it. Around
//! daylight-saving changes: a wall-clock time that does not exist (the spring gap) runs at the
//! same distance after the gap's start, i.e. one hour later, and a slot that maps onto a time
//! already run is not run twice; a wall-clock time that happens twice (the autumn fold) runs
//! once, at its first occurrence.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan as _};

/// What is wrong with a schedule or a time zone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ScheduleError {
    /// `minute`, `hour`, `day_of_month`, `month`, `day_of_week`, `schedule` or `timezone`.
    pub field: &'static str,
    pub message: String,
}

fn err(field: &'static str, message: impl Into<String>) -> ScheduleError {
    ScheduleError { field, message: message.into() }
}

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    text: String,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    days_restricted: bool,
    weekdays_restricted: bool,
}

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// The longest a search looks ahead (a schedule such as `0 0 30 2 *` never runs).
const HORIZON_YEARS: i16 = 5;

impl Schedule {
    /// Parses a cron expression; the error names the field at fault.
    pub fn parse(text: &str) -> Result<Self, ScheduleError> {
        let trimmed = text.trim();
        let expanded = match trimmed.to_ascii_lowercase().as_str() {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            "@yearly" | "@annually" => "0 0 1 1 *",
            s if s.starts_with('@') => return Err(err("schedule", format!("unknown macro `{trimmed}`"))),
            _ => trimmed,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(err(
                "schedule",
                format!(
                    "a cron expression has 5 fields (minute hour day-of-month month day-of-week), this one has {}",
                    fields.len()
                ),
            ));
        }
        let minutes = field(fields[0], "minute", 0, 59, &[])?;
        let hours = field(fields[1], "hour", 0, 23, &[])?;
        let days = field(fields[2], "day_of_month", 1, 31, &[])?;
        let months = field(fields[3], "month", 1, 12, &MONTHS)?;
        let mut weekdays = field(fields[4], "day_of_week", 0, 7, &WEEKDAYS)?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays & !(1 << 7)) | 1;
        }
        Ok(Self {
            text: trimmed.to_owned(),
            minutes,
            hours,
            days,
            months,
            weekdays,
            days_restricted: !fields[2].starts_with('*'),
            weekdays_restricted: !fields[4].starts_with('*'),
        })
    }

    /// The expression as it was given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn day_matches(&self, d: Date) -> bool {
        let dom = self.days & (1 << d.day()) != 0;
        let dow = self.weekdays & (1 << d.weekday().to_sunday_zero_offset()) != 0;
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => dom || dow,
            _ => dom && dow,
        }
    }

    /// The first wall-clock minute at or after `from` that matches, within the horizon.
    fn next_civil(&self, from: DateTime) -> Option<DateTime> {
        let end = from.date().year().saturating_add(HORIZON_YEARS);
        let mut t = from;
        while t.date().year() <= end {
            let d = t.date();
            if self.months & (1 << d.month()) == 0 {
                t = d.first_of_month().checked_add(1.month()).ok()?.to_datetime(jiff::civil::Time::midnight());
                continue;
            }
            if !self.day_matches(d) {
                t = d.tomorrow().ok()?.to_datetime(jiff::civil::Time::midnight());
                continue;
            }
            if self.hours & (1 << t.hour()) == 0 {
                t = t.with().minute(0).build().ok()?.checked_add(1.hour()).ok()?;
                continue;
            }
            if self.minutes & (1 << t.minute()) == 0 {
                t = t.checked_add(1.minute()).ok()?;
                continue;
            }
            return Some(t);
        }
        None
    }

    /// The first slot after `prev` in `tz`; `None` when the schedule never runs again within
    /// five years.
    pub fn next_after(&self, prev: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let civil = tz.to_datetime(prev);
        let mut from = civil.with().second(0).subsec_nanosecond(0).build().ok()?.checked_add(1.minute()).ok()?;
        loop {
            let slot = self.next_civil(from)?;
            // Gap: the later side (one hour on); fold: the first occurrence.
            let at = tz.to_ambiguous_zoned(slot).compatible().ok()?.timestamp();
            if at > prev {
                return Some(at);
            }
            from = slot.checked_add(1.minute()).ok()?;
        }
    }

    /// The next `n` slots after `after`.
    pub fn upcoming(&self, after: Timestamp, tz: &TimeZone, n: usize) -> Vec<Timestamp> {
        let mut out = Vec::with_capacity(n);
        let mut prev = after;
        while out.len() < n {
            match self.next_after(prev, tz) {
                Some(t) => {
                    out.push(t);
                    prev = t;
                }
                None => break,
            }
        }
        out
    }

    /// How many slots fall in the 30 days after `from`, counted up to `cap`.
    pub fn runs_in_30_days(&self, from: Timestamp, tz: &TimeZone, cap: usize) -> usize {
        let Ok(end) = from.checked_add(jiff::SignedDuration::from_hours(24 * 30)) else { return 0 };
        let mut count = 0;
        let mut prev = from;
        while count < cap {
            match self.next_after(prev, tz) {
                Some(t) if t <= end => {
                    count += 1;
                    prev = t;
                }
                _ => break,
            }
        }
        count
    }
}

/// A time zone by its IANA name (`Europe/Zurich`, `UTC`).
pub fn time_zone(name: &str) -> Result<TimeZone, ScheduleError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(err("timezone", "must not be empty"));
    }
    TimeZone::get(name).map_err(|_| err("timezone", format!("`{name}` is not an IANA time zone (e.g. Europe/Zurich)")))
}

/// One field as a bit set of the values it matches.
fn field(text: &str, name: &'static str, min: u32, max: u32, names: &[&str]) -> Result<u64, ScheduleError> {
    let value = |s: &str| -> Result<u32, ScheduleError> {
        let lower = s.to_ascii_lowercase();
        if let Some(i) = names.iter().position(|n| *n == lower) {
            // Months count from 1, weekdays from 0.
            return Ok(i as u32 + min);
        }
        let v: u32 = s.parse().map_err(|_| err(name, format!("`{s}` is not a number from {min} to {max}")))?;
        if v < min || v > max {
            return Err(err(name, format!("{v} is out of range {min}-{max}")));
        }
        Ok(v)
    };
    let mut bits = 0u64;
    for item in text.split(',') {
        if item.is_empty() {
            return Err(err(name, format!("`{text}` has an empty list item")));
        }
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().map_err(|_| err(name, format!("step `{s}` is not a number")))?;
                if step == 0 || step > max {
                    return Err(err(name, format!("step {step} must be from 1 to {max}")));
                }
                (r, step)
            }
            None => (item, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(a)?, value(b)?);
            if a > b {
                return Err(err(name, format!("range {a}-{b} runs backwards")));
            }
            (a, b)
        } else {
            let a = value(range)?;
            // `a/n`: from a to the end of the range.
            (a, if item.contains('/') { max } else { a })
        };
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zurich() -> TimeZone {
        time_zone("Europe/Zurich").unwrap()
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn next(expr: &str, after: &str, tz: &TimeZone) -> String {
        Schedule::parse(expr).unwrap().next_after(at(after), tz).unwrap().to_string()
    }

    #[test]
    fn fields_parse_and_errors_name_the_field() {
        let s = Schedule::parse("*/15 9-17 * JAN-mar mon-fri").unwrap();
        assert_eq!(s.minutes, (1 << 0) | (1 << 15) | (1 << 30) | (1 << 45));
        assert_eq!(s.months, 0b1110);
        assert_eq!(s.weekdays, 0b11_1110);
        assert_eq!(Schedule::parse("0 0 * * 7").unwrap().weekdays, 1);
        for (bad, field) in [
            ("60 * * * *", "minute"),
            ("* 24 * * *", "hour"),
            ("* * 0 * *", "day_of_month"),
            ("* * * 13 *", "month"),
            ("* * * * 8", "day_of_week"),
            ("*/0 * * * *", "minute"),
            ("5-1 * * * *", "minute"),
            ("* * * *", "schedule"),
            ("@often", "schedule"),
            ("1,,2 * * * *", "minute"),
        ] {
            assert_eq!(Schedule::parse(bad).unwrap_err().field, field, "{bad}");
        }
        assert_eq!(time_zone("Mars/Olympus").unwrap_err().field, "timezone");
    }

    #[test]
    fn the_default_schedule_runs_at_22_local_time() {
        let tz = zurich();
        // Winter: UTC+1.
        assert_eq!(next("0 22 * * *", "2026-01-10T12:00:00Z", &tz), "2026-01-10T21:00:00Z");
        // Summer: UTC+2.
        assert_eq!(next("0 22 * * *", "2026-07-10T21:00:00Z", &tz), "2026-07-11T20:00:00Z");
        assert_eq!(next("@monthly", "2026-01-31T23:00:00Z", &tz), "2026-02-28T23:00:00Z");
    }

    #[test]
    fn a_slot_in_the_spring_gap_runs_an_hour_later_once() {
        let tz = zurich();
        // 2026-03-29 02:00 -> 03:00 in Zurich: 02:30 does not exist.
        assert_eq!(next("30 2 * * *", "2026-03-28T12:00:00Z", &tz), "2026-03-29T01:30:00Z"); // 03:30 CEST
        // Hourly at :30: 01:30 CET, then the gap's 02:30 becomes 03:30 CEST, which is not run twice.
        let s = Schedule::parse("30 * * * *").unwrap();
        let slots: Vec<String> =
            s.upcoming(at("2026-03-29T00:00:00Z"), &tz, 3).iter().map(ToString::to_string).collect();
        assert_eq!(slots, ["2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z", "2026-03-29T02:30:00Z"]);
        // Every minute: 01:59 CET is followed by 03:00 CEST, one minute later in real time.
        assert_eq!(next("* * * * *", "2026-03-29T00:59:00Z", &tz), "2026-03-29T01:00:00Z");
    }

    #[test]
    fn a_slot_in_the_autumn_fold_runs_once() {
        let tz = zurich();
        // 2026-10-25 03:00 CEST -> 02:00 CET: 02:30 happens twice; it runs at the first.
        assert_eq!(next("30 2 * * *", "2026-10-24T12:00:00Z", &tz), "2026-10-25T00:30:00Z");
        assert_eq!(next("30 2 * * *", "2026-10-25T00:30:00Z", &tz), "2026-10-26T01:30:00Z");
    }

    #[test]
    fn slots_follow_the_previous_slot_not_the_clock() {
        let tz = TimeZone::UTC;
        let s = Schedule::parse("*/5 * * * *").unwrap();
        // Whatever time the previous run ended, the next slot is the schedule's.
        assert_eq!(s.next_after(at("2026-05-01T10:05:00Z"), &tz).unwrap(), at("2026-05-01T10:10:00Z"));
        assert_eq!(s.next_after(at("2026-05-01T10:05:59Z"), &tz).unwrap(), at("2026-05-01T10:10:00Z"));
        assert_eq!(s.runs_in_30_days(at("2026-05-01T00:00:00Z"), &tz, 100_000), 30 * 24 * 12);
    }

    #[test]
    fn day_of_month_or_day_of_week_when_both_are_given() {
        let tz = TimeZone::UTC;
        // 2026-06-01 is a Monday; the 13th or any Friday.
        assert_eq!(next("0 0 13 * fri", "2026-06-01T00:00:00Z", &tz), "2026-06-05T00:00:00Z");
        assert_eq!(next("0 0 13 * fri", "2026-06-12T00:00:00Z", &tz), "2026-06-13T00:00:00Z");
        assert!(Schedule::parse("0 0 30 2 *").unwrap().next_after(at("2026-01-01T00:00:00Z"), &tz).is_none());
    }
}
