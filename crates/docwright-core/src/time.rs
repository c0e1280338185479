//! Timestamps as stored: integer milliseconds since the Unix epoch (UTC). The same column type
//! (BIGINT) on SQLite and PostgreSQL, comparable in SQL, rendered as RFC 3339 at the edge.

use ::time::OffsetDateTime;
use ::time::format_description::well_known::Rfc3339;

/// Milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn now() -> Self {
        let now = OffsetDateTime::now_utc();
        Self((now.unix_timestamp_nanos() / 1_000_000) as i64)
    }

    pub fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    /// This instant plus `secs` seconds (saturating).
    pub fn plus_secs(self, secs: i64) -> Self {
        Self(self.0.saturating_add(secs.saturating_mul(1000)))
    }

    pub fn unix_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// RFC 3339 in UTC with millisecond precision, e.g. `2026-11-21T10:00:00.123Z`.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
    }

    pub fn parse_rfc3339(s: &str) -> Result<Self, crate::ParseError> {
        let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|_| {
            crate::ParseError::new(format!("`{s}` is not an RFC 3339 time (e.g. 2026-01-31T12:00:00Z)"))
        })?;
        Ok(Self((t.unix_timestamp_nanos() / 1_000_000) as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip() {
        let t = Timestamp::parse_rfc3339("2026-11-21T10:00:00.123Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-21T10:00:00.123Z");
        assert_eq!(t.plus_secs(1).millis() - t.millis(), 1000);
        assert!(Timestamp::parse_rfc3339("yesterday").is_err());
    }
}
