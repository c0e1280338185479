//! Billing (SPEC B1–B6): your balance and transactions.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BalanceOut {
    pub tenant_id: String,
    pub billing_model: String,
    pub currency: String,
    pub account_id: String,
    /// `tenant` or `user`.
    pub account_type: String,
    pub balance: String,
    pub reserved: String,
    /// What calls may still reserve; absent when nothing limits them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_limit: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TransactionOut {
    pub id: String,
    pub account_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// `credit`, `debit` or `adjustment`.
    pub kind: String,
    /// Signed decimal: credits positive, debits negative.
    pub amount: String,
    pub description: String,
    pub reference_type: String,
    pub reference_id: String,
    pub feature: String,
    pub provider: String,
    pub model: String,
    pub created_at: String,
}
