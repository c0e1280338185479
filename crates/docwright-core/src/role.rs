//! Roles. A membership (user, tenant) carries exactly one role; `sysadmin` is platform-wide.

use std::fmt;
use std::str::FromStr;

use crate::ParseError;

/// The role of a user in one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Operates the whole platform: every tenant, tenant creation, rules of any tenant.
    Sysadmin,
    /// Administers one tenant: its users, tokens, keys and rules.
    Admin,
    /// Works with the tenant's data and the AI.
    User,
    /// Reads only.
    Viewer,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Sysadmin, Role::Admin, Role::User, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Sysadmin => "sysadmin",
            Role::Admin => "admin",
            Role::User => "user",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match s {
            "sysadmin" => Ok(Role::Sysadmin),
            "admin" => Ok(Role::Admin),
            "user" => Ok(Role::User),
            "viewer" => Ok(Role::Viewer),
            other => Err(ParseError::new(format!("unknown role `{other}` (expected sysadmin, admin, user or viewer)"))),
        }
    }
}

impl FromStr for Role {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Ok(r));
        }
        assert!(Role::parse("root").is_err());
        assert!(Role::parse("Admin").is_err());
    }
}
