//! Exact money (SPEC B1): integer micro-units (10⁻⁶) of a currency. No floats anywhere on the
//! money path: amounts are parsed from and printed as decimal strings.

use std::fmt;

use crate::ParseError;

/// Micro-units per unit.
pub const MICROS: i64 = 1_000_000;

/// An amount in micro-units of the tenant's currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    pub const fn micros(self) -> i64 {
        self.0
    }

    /// Parses a decimal amount: optional `-`, digits, optional `.` and at most 6 decimals
    /// (`"10"`, `"0.15"`, `"-2.500001"`). No exponent, no thousands separators.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let bad = |why: &str| ParseError::new(format!("`{s}` is not an amount: {why}"));
        let t = s.trim();
        let (neg, digits) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("expected digits, like 12.50"));
        }
        if digits.contains('.') && (frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit())) {
            return Err(bad("expected digits after the decimal point"));
        }
        if frac.len() > 6 {
            return Err(bad("at most 6 decimal places (micro-units)"));
        }
        let whole: i64 = whole.parse().map_err(|_| bad("too large"))?;
        let frac_micros: i64 = format!("{frac:0<6}").parse().map_err(|_| bad("expected digits"))?;
        let micros =
            whole.checked_mul(MICROS).and_then(|w| w.checked_add(frac_micros)).ok_or_else(|| bad("too large"))?;
        Ok(Self(if neg { -micros } else { micros }))
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Money)
    }
}

impl fmt::Display for Money {
    /// At least two decimals, more only when needed: `12.50`, `0.000150`, `-3.00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let whole = abs / MICROS as u64;
        let mut frac = format!("{:06}", abs % MICROS as u64);
        while frac.len() > 2 && frac.ends_with('0') {
            frac.pop();
        }
        write!(f, "{sign}{whole}.{frac}")
    }
}

/// A price for one million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PricePerMtok(Money);

impl PricePerMtok {
    pub fn new(per_million: Money) -> Result<Self, ParseError> {
        if per_million < Money::ZERO {
            return Err(ParseError::new("a price must not be negative"));
        }
        Ok(Self(per_million))
    }

    pub fn per_million(self) -> Money {
        self.0
    }

    /// The cost of `tokens`, rounded up to the next micro-unit: a call is never billed below
    /// its price, and the rounding error is under one micro-unit per call.
    pub fn cost(self, tokens: u64) -> Money {
        let exact = i128::from(tokens) * i128::from(self.0.micros());
        let micros = (exact + 999_999) / 1_000_000;
        Money(i64::try_from(micros).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn parses_and_prints_exactly() {
        for (text, micros, shown) in [
            ("10", 10_000_000, "10.00"),
            ("0.15", 150_000, "0.15"),
            ("0.000001", 1, "0.000001"),
            ("-2.5", -2_500_000, "-2.50"),
            (" 7.125 ", 7_125_000, "7.125"),
        ] {
            let m = Money::parse(text).unwrap();
            assert_eq!(m.micros(), micros, "{text}");
            assert_eq!(m.to_string(), shown);
        }
        for bad in ["", "1.", ".5", "1.2345678", "1e3", "1,5", "abc", "--1", "99999999999999999999"] {
            assert!(Money::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn token_costs_round_up_to_the_micro_unit() {
        let p = PricePerMtok::new(Money::parse("0.15").unwrap()).unwrap();
        assert_eq!(p.cost(1_000_000), Money::parse("0.15").unwrap());
        assert_eq!(p.cost(1), Money::from_micros(1)); // 0.15 micro-units → 1
        assert_eq!(p.cost(0), Money::ZERO);
        assert_eq!(PricePerMtok::new(Money::parse("0.60").unwrap()).unwrap().cost(1234), Money::from_micros(741));
        assert!(PricePerMtok::new(Money::parse("-1").unwrap()).is_err());
    }

    proptest! {
        #[test]
        fn display_parses_back(micros in -1_000_000_000_000_i64..1_000_000_000_000) {
            let m = Money::from_micros(micros);
            prop_assert_eq!(Money::parse(&m.to_string()), Ok(m));
        }

        #[test]
        fn cost_is_never_below_the_exact_price(tokens in 0_u64..10_000_000_000, per_m in 0_i64..1_000_000_000) {
            let cost = PricePerMtok::new(Money::from_micros(per_m)).unwrap().cost(tokens).micros() as i128;
            let exact_times_million = i128::from(tokens) * i128::from(per_m);
            prop_assert!(cost * 1_000_000 >= exact_times_million);
            prop_assert!((cost - 1) * 1_000_000 < exact_times_million || cost == 0);
        }

        #[test]
        fn cost_is_additive_within_rounding(a in 0_u64..1_000_000_000, b in 0_u64..1_000_000_000, per_m in 0_i64..100_000_000) {
            let p = PricePerMtok::new(Money::from_micros(per_m)).unwrap();
            let split = p.cost(a).micros() + p.cost(b).micros();
            let whole = p.cost(a + b).micros();
            prop_assert!(split >= whole && split - whole <= 1);
        }
    }
}
