//! Billing vocabulary (SPEC B2, B4): billing models, currencies, ledger kinds and references,
//! the billing address. Amounts are [`crate::money::Money`].

use crate::ParseError;

/// How a tenant pays (SPEC B2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BillingModel {
    /// One balance shared by the tenant.
    PrepayTenant,
    /// A balance per user; new users get the tenant's default credit.
    PrepayUser,
    /// Invoiced monthly; calls stop at the credit limit, when one is set.
    CreditPostpay,
    /// Internal: usage is recorded, nothing is refused.
    Unlimited,
}

impl BillingModel {
    pub const ALL: [BillingModel; 4] =
        [BillingModel::PrepayTenant, BillingModel::PrepayUser, BillingModel::CreditPostpay, BillingModel::Unlimited];

    pub fn as_str(self) -> &'static str {
        match self {
            BillingModel::PrepayTenant => "prepay_tenant",
            BillingModel::PrepayUser => "prepay_user",
            BillingModel::CreditPostpay => "credit_postpay",
            BillingModel::Unlimited => "unlimited",
        }
    }

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        Self::ALL.into_iter().find(|m| m.as_str() == s).ok_or_else(|| {
            ParseError::new(format!(
                "`{s}` is not a billing model (one of {})",
                Self::ALL.map(BillingModel::as_str).join(", ")
            ))
        })
    }

    /// Whether usage is charged to one account per user (else to the tenant's account).
    pub fn per_user(self) -> bool {
        self == BillingModel::PrepayUser
    }
}

/// An ISO 4217 currency code: three upper-case letters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Currency(String);

impl Currency {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseError::new(format!("`{s}` is not a currency code (three capital letters, e.g. CHF)")))
        }
    }

    pub fn chf() -> Self {
        Self("CHF".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a ledger row does to its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxKind {
    /// Money in: top-ups, start credit.
    Credit,
    /// Money out: usage.
    Debit,
    /// A correction by an administrator, either sign.
    Adjustment,
}

impl TxKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TxKind::Credit => "credit",
            TxKind::Debit => "debit",
            TxKind::Adjustment => "adjustment",
        }
    }

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        [TxKind::Credit, TxKind::Debit, TxKind::Adjustment]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| ParseError::new(format!("`{s}` is not a transaction kind")))
    }
}

/// The postal address a `credit_postpay` tenant is invoiced at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingAddress {
    pub company: String,
    pub street: String,
    pub zip: String,
    pub city: String,
    /// ISO 3166-1 alpha-2, e.g. `CH`.
    pub country: String,
    pub vat_number: Option<String>,
}

impl BillingAddress {
    /// Every problem of the address, as (field, message).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (field, value) in
            [("company", &self.company), ("street", &self.street), ("zip", &self.zip), ("city", &self.city)]
        {
            if value.trim().is_empty() || value.chars().count() > 200 {
                out.push((field, "must be 1 to 200 characters".to_owned()));
            }
        }
        if !(self.country.len() == 2 && self.country.bytes().all(|b| b.is_ascii_uppercase())) {
            out.push(("country", "must be an ISO 3166-1 alpha-2 code such as CH or DE".to_owned()));
        }
        if let Some(v) = &self.vat_number
            && (v.trim().len() < 4
                || v.len() > 32
                || !v.chars().all(|c| c.is_ascii_alphanumeric() || " .-".contains(c)))
        {
            out.push(("vat_number", "must be 4 to 32 letters, digits, spaces, dots or dashes".to_owned()));
        }
        out
    }
}

/// Which feature a charge came from (SPEC B4 statistics by feature).
pub fn feature_of(process: &str) -> &'static str {
    match process.split('.').next().unwrap_or_default() {
        "chat" => "chat",
        "automation" => "automation",
        "sync" => "sync",
        "playground" => "playground",
        _ => "api",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_and_currencies_parse() {
        for m in BillingModel::ALL {
            assert_eq!(BillingModel::parse(m.as_str()), Ok(m));
        }
        assert!(BillingModel::parse("prepay").unwrap_err().to_string().contains("prepay_tenant"));
        assert_eq!(Currency::parse("EUR").unwrap().as_str(), "EUR");
        assert!(Currency::parse("eur").is_err() && Currency::parse("EURO").is_err());
    }

    #[test]
    fn addresses_are_checked_field_by_field() {
        let mut a = BillingAddress {
            company: "Acme AG".into(),
            street: "Bahnhofstrasse 1".into(),
            zip: "8001".into(),
            city: "Zürich".into(),
            country: "CH".into(),
            vat_number: Some("CHE-123.456.789".into()),
        };
        assert!(a.problems().is_empty());
        a.country = "Switzerland".into();
        a.street = " ".into();
        let fields: Vec<&str> = a.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["street", "country"]);
    }
}
