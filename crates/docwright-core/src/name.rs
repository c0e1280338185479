//! Names people type: tenant names, user display names, key names, e-mail addresses.

use crate::ParseError;

/// A trimmed, non-empty name of at most `MAX` characters without control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Name<const MAX: usize>(String);

impl<const MAX: usize> Name<MAX> {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let t = s.trim();
        if t.is_empty() {
            return Err(ParseError::new("must not be empty"));
        }
        if t.chars().count() > MAX {
            return Err(ParseError::new(format!("must be at most {MAX} characters")));
        }
        if t.chars().any(char::is_control) {
            return Err(ParseError::new("must not contain control characters"));
        }
        Ok(Self(t.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A tenant's name; `ROOT` is the bootstrap tenant.
pub type TenantName = Name<100>;
/// A user's display name.
pub type DisplayName = Name<200>;
/// A label for a token or key.
pub type KeyName = Name<100>;

/// An e-mail address: one `@`, a non-empty local part, a dotted domain, no spaces. Stored in
/// lower case: people treat addresses as case-insensitive, so `Ann@X.org` and `ann@x.org` are
/// one address (and one user).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let t = s.trim();
        let bad = || ParseError::new(format!("`{t}` is not an e-mail address"));
        // Counted in characters, as every length of the API is (254 is SMTP's path limit).
        if t.chars().count() > 254 || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = t.split_once('@').ok_or_else(bad)?;
        if local.is_empty() || domain.contains('@') || !domain.contains('.') {
            return Err(bad());
        }
        if domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
            return Err(bad());
        }
        Ok(Self(t.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(TenantName::parse("  Acme AG ").unwrap().as_str(), "Acme AG");
        assert!(TenantName::parse("   ").is_err());
        assert!(TenantName::parse(&"x".repeat(101)).is_err());
        assert!(TenantName::parse("a\u{0}b").is_err());
        assert!(DisplayName::parse("Zoë Müller-Łukasz").is_ok());
    }

    #[test]
    fn emails() {
        assert_eq!(Email::parse("Ann@Example.COM").unwrap().as_str(), "ann@example.com");
        for bad in ["", "a", "a@b", "@b.c", "a@@b.c", "a b@c.d", "a@.c", "a@c.", "a@c..d"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
