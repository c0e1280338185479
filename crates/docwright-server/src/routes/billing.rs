//! `/api/billing/*` and `/api/admin/billing/*` (SPEC B6): balances, transactions, usage charts,
//! provider prices; settings, top-ups, accounts, a month's CSV export and the ledger check.
//! Amounts are decimal strings in the tenant's currency, with the currency code beside them.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use docwright_core::billing::{BillingAddress, BillingModel, Currency};
use docwright_core::id::{TenantId, UserId};
use docwright_core::money::Money;
use docwright_core::time::Timestamp;
use docwright_engine::billing::Balance;
use docwright_storage::billing::{Account, BillingSettings, Entry};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::guard::Authorized;
use crate::state::AppState;

pub(super) use docwright_api::billing::{BalanceOut, TransactionOut};

fn balance_out(b: Balance) -> BalanceOut {
    BalanceOut {
        tenant_id: b.tenant_id.to_string(),
        billing_model: b.model.as_str().to_owned(),
        currency: b.currency.as_str().to_owned(),
        account_id: b.account.id.clone(),
        account_type: b.account.account_type().to_owned(),
        balance: b.account.balance.to_string(),
        reserved: b.account.reserved.to_string(),
        available: b.available().map(|a| a.to_string()),
        credit_limit: b.credit_limit.map(|l| l.to_string()),
    }
}

/// The caller's balance in the context tenant.
#[utoipa::path(get, path = "/api/billing/balance", tag = "billing", responses((status = 200, body = BalanceOut), (status = 403, body = ErrorBody)))]
pub(crate) async fn balance(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
) -> Result<Json<BalanceOut>, ApiError> {
    Ok(Json(balance_out(state.engine.balance(&grant, None).await?)))
}

/// The caller's balance in `tenant_id` (which must be the context tenant: `X-Tenant-Id`).
#[utoipa::path(get, path = "/api/billing/balance/{tenant_id}", tag = "billing", params(("tenant_id" = Uuid, Path, description = "Tenant id")), responses((status = 200, body = BalanceOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn balance_of(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(tenant_id): ApiPath<String>,
) -> Result<Json<BalanceOut>, ApiError> {
    let tenant = tenant_id_of(&tenant_id)?;
    Ok(Json(balance_out(state.engine.balance(&grant, Some(tenant)).await?)))
}

fn transaction_out(e: Entry) -> TransactionOut {
    TransactionOut {
        id: e.id,
        account_id: e.account_id,
        user_id: e.new.user_id.map(|u| u.to_string()),
        kind: e.new.kind.as_str().to_owned(),
        amount: e.new.amount.to_string(),
        description: e.new.description,
        reference_type: e.new.reference_type,
        reference_id: e.new.reference_id,
        feature: e.new.feature,
        provider: e.new.provider,
        model: e.new.model,
        created_at: e.created_at.to_rfc3339(),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub(super) struct MonthQuery {
    /// `YYYY-MM` (UTC); default: the current month.
    #[param(value_type = Option<crate::schemas::Month>, inline)]
    month: Option<String>,
}

/// The first millisecond of `month` (`YYYY-MM`) and of the month after.
fn month_range(month: Option<&str>) -> Result<(Timestamp, Timestamp), ApiError> {
    let bad = || ApiError::validation("month", "month is YYYY-MM, e.g. 2026-11");
    let (year, month) = match month {
        Some(m) => {
            // Exactly `YYYY-MM`, as documented.
            let (y, mo) = m
                .split_once('-')
                .filter(|(y, mo)| {
                    y.len() == 4 && mo.len() == 2 && y.bytes().chain(mo.bytes()).all(|b| b.is_ascii_digit())
                })
                .ok_or_else(bad)?;
            let y: i32 = y.parse().map_err(|_| bad())?;
            let mo: u8 = mo.parse().map_err(|_| bad())?;
            (y, time::Month::try_from(mo).map_err(|_| bad())?)
        }
        None => {
            let now = time::OffsetDateTime::now_utc();
            (now.year(), now.month())
        }
    };
    docwright_engine::billing::month_bounds(year, month).ok_or_else(bad)
}

/// Ledger rows of the context tenant in a month: an admin sees all, anyone else their own.
#[utoipa::path(get, path = "/api/billing/transactions", tag = "billing", params(MonthQuery), responses((status = 200, body = Vec<TransactionOut>), (status = 400, body = ErrorBody)))]
pub(crate) async fn transactions(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiQuery(q): ApiQuery<MonthQuery>,
) -> Result<Json<Vec<TransactionOut>>, ApiError> {
    let (from, to) = month_range(q.month.as_deref())?;
    let rows = state.engine.transactions(&grant, from, to).await?;
    Ok(Json(rows.into_iter().map(transaction_out).collect()))
}

#[derive(Debug, Deserialize, IntoParams)]
pub(super) struct ChartQuery {
    /// `day` (of the year's days), `month` or `year`.
    #[param(value_type = Option<crate::schemas::ChartPeriod>, inline)]
    period: Option<String>,
    /// 2000 to 9999; default: this year.
    #[param(minimum = 2000, maximum = 9999)]
    year: Option<i32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ChartPoint {
    /// `2026-11-21`, `2026-11` or `2026`.
    period: String,
    total: String,
    operations: u64,
    by_provider: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ChartOut {
    currency: String,
    period: String,
    series: Vec<ChartPoint>,
    total: String,
    operations: u64,
    by_provider: std::collections::BTreeMap<String, String>,
    by_feature: std::collections::BTreeMap<String, String>,
    by_user: std::collections::BTreeMap<String, String>,
}

/// Usage (debits) of a tenant in a year, per day, month or year, with totals by provider,
/// feature and user.
#[utoipa::path(get, path = "/api/billing/statistics/{tenant_id}/chart", tag = "billing", params(("tenant_id" = Uuid, Path, description = "Tenant id"), ChartQuery), responses((status = 200, body = ChartOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn chart(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(tenant_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ChartQuery>,
) -> Result<Json<ChartOut>, ApiError> {
    let tenant = tenant_id_of(&tenant_id)?;
    let period = q.period.unwrap_or_else(|| "month".to_owned());
    let cut = match period.as_str() {
        "day" => 10,
        "month" => 7,
        "year" => 4,
        _ => return Err(ApiError::validation("period", "period is day, month or year")),
    };
    let year = q.year.unwrap_or_else(|| time::OffsetDateTime::now_utc().year());
    if !(2000..=9999).contains(&year) {
        return Err(ApiError::validation("year", "year is between 2000 and 9999"));
    }
    let (from, _) = month_range(Some(&format!("{year}-01")))?;
    let (_, to) = month_range(Some(&format!("{year}-12")))?;
    let rows = state.engine.tenant_usage(&grant, tenant, from, to).await?;
    let currency = state.engine.billing_currency(&grant, tenant).await?;
    let add =
        |map: &mut std::collections::BTreeMap<String, i64>, k: &str, v: i64| *map.entry(k.to_owned()).or_default() += v;
    let mut series: std::collections::BTreeMap<String, (i64, u64, std::collections::BTreeMap<String, i64>)> =
        Default::default();
    let (mut by_provider, mut by_feature, mut by_user) = (Default::default(), Default::default(), Default::default());
    let (mut total, mut operations) = (0i64, 0u64);
    for e in rows.iter().filter(|e| e.new.amount < Money::ZERO) {
        let cost = -e.new.amount.micros();
        let key = e.created_at.to_rfc3339()[..cut].to_owned();
        let point = series.entry(key).or_default();
        point.0 += cost;
        point.1 += 1;
        add(&mut point.2, &e.new.provider, cost);
        add(&mut by_provider, &e.new.provider, cost);
        add(&mut by_feature, &e.new.feature, cost);
        add(&mut by_user, &e.new.user_id.map(|u| u.to_string()).unwrap_or_default(), cost);
        total += cost;
        operations += 1;
    }
    let money = |m: std::collections::BTreeMap<String, i64>| {
        m.into_iter().map(|(k, v)| (k, Money::from_micros(v).to_string())).collect()
    };
    Ok(Json(ChartOut {
        currency: currency.as_str().to_owned(),
        period,
        series: series
            .into_iter()
            .map(|(period, (t, n, p))| ChartPoint {
                period,
                total: Money::from_micros(t).to_string(),
                operations: n,
                by_provider: money(p),
            })
            .collect(),
        total: Money::from_micros(total).to_string(),
        operations,
        by_provider: money(by_provider),
        by_feature: money(by_feature),
        by_user: money(by_user),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ProviderPrices {
    provider: String,
    models: Vec<ModelPrice>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ModelPrice {
    model: String,
    /// Per million tokens, decimal, in the tenant currency.
    price_input_per_mtok: String,
    price_output_per_mtok: String,
}

/// The providers the caller may use, with indicative prices of their models.
#[utoipa::path(get, path = "/api/billing/providers", tag = "billing", responses((status = 200, body = Vec<ProviderPrices>)))]
pub(crate) async fn providers(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
) -> Result<Json<Vec<ProviderPrices>>, ApiError> {
    let mut out: Vec<ProviderPrices> = Vec::new();
    for m in state.engine.usable_models(&grant).await? {
        let price = ModelPrice {
            model: m.name.clone(),
            price_input_per_mtok: m.price_input.per_million().to_string(),
            price_output_per_mtok: m.price_output.per_million().to_string(),
        };
        match out.iter_mut().find(|p| p.provider == m.provider) {
            Some(p) => p.models.push(price),
            None => out.push(ProviderPrices { provider: m.provider, models: vec![price] }),
        }
    }
    out.sort_by(|a, b| a.provider.cmp(&b.provider));
    Ok(Json(out))
}

// ---- administration ---------------------------------------------------------------------

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(super) struct SettingsBody {
    /// `prepay_tenant`, `prepay_user`, `credit_postpay` or `unlimited`.
    #[schema(value_type = crate::schemas::BillingModelName)]
    billing_model: String,
    /// ISO 4217, e.g. `CHF`.
    #[schema(value_type = crate::schemas::Currency)]
    currency: String,
    /// Decimal; a new user's start credit under `prepay_user`.
    #[serde(default)]
    #[schema(value_type = Option<crate::schemas::Amount>)]
    default_user_credit: Option<String>,
    /// Decimal; how far a `credit_postpay` tenant may go below zero. Absent: no limit.
    #[serde(default)]
    #[schema(value_type = Option<crate::schemas::NonNegativeAmount>)]
    credit_limit: Option<String>,
    /// A percentage, 0 to 100.
    #[serde(default = "default_threshold", deserialize_with = "whole_number")]
    #[schema(maximum = 100)]
    warning_threshold_percent: u8,
    #[serde(default = "yes")]
    block_on_zero_balance: bool,
    #[serde(default)]
    #[schema(value_type = Vec<crate::schemas::Email>)]
    notify_emails: Vec<String>,
    #[serde(default = "yes")]
    notify_on_warning: bool,
    /// Required for `credit_postpay`.
    #[serde(default)]
    billing_address: Option<AddressBody>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AddressBody {
    #[schema(value_type = crate::schemas::Line200)]
    company: String,
    #[schema(value_type = crate::schemas::Line200)]
    street: String,
    #[schema(value_type = crate::schemas::Line200)]
    zip: String,
    #[schema(value_type = crate::schemas::Line200)]
    city: String,
    /// ISO 3166-1 alpha-2, e.g. `CH`.
    #[schema(pattern = "^[A-Z]{2}$")]
    country: String,
    /// 4 to 32 letters, digits, spaces, dots or dashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^ *[A-Za-z0-9.-][A-Za-z0-9 .-]{2,}[A-Za-z0-9.-] *$", max_length = 32)]
    vat_number: Option<String>,
}

impl From<AddressBody> for BillingAddress {
    fn from(a: AddressBody) -> Self {
        Self {
            company: a.company,
            street: a.street,
            zip: a.zip,
            city: a.city,
            country: a.country,
            vat_number: a.vat_number,
        }
    }
}

impl From<BillingAddress> for AddressBody {
    fn from(a: BillingAddress) -> Self {
        Self {
            company: a.company,
            street: a.street,
            zip: a.zip,
            city: a.city,
            country: a.country,
            vat_number: a.vat_number,
        }
    }
}

/// A `u8` written as any JSON number without a fraction: `67` and `67.0` alike (JSON Schema's
/// integers), not `67.5`.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    use serde::de::Error as _;
    let n = serde_json::Number::deserialize(d)?;
    let whole = n.as_u64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64));
    whole
        .and_then(|w| u8::try_from(w).ok())
        .ok_or_else(|| D::Error::custom(format!("expected a whole number from 0 to 255, not {n}")))
}

fn default_threshold() -> u8 {
    20
}

fn yes() -> bool {
    true
}

fn settings_out(s: BillingSettings) -> SettingsBody {
    SettingsBody {
        billing_model: s.model.as_str().to_owned(),
        currency: s.currency.as_str().to_owned(),
        default_user_credit: Some(s.default_user_credit.to_string()),
        credit_limit: s.credit_limit.map(|l| l.to_string()),
        warning_threshold_percent: s.warning_threshold_percent,
        block_on_zero_balance: s.block_on_zero_balance,
        notify_emails: s.notify_emails,
        notify_on_warning: s.notify_on_warning,
        billing_address: s.billing_address.map(AddressBody::from),
    }
}

fn tenant_id_of(raw: &str) -> Result<TenantId, ApiError> {
    TenantId::parse(raw).map_err(|_| ApiError::validation("tenant_id", "not a tenant id"))
}

fn money_field(field: &str, raw: &str) -> Result<Money, ApiError> {
    Money::parse(raw).map_err(|e| ApiError::validation(field, format!("{field}: {e}")))
}

/// A tenant's billing settings.
#[utoipa::path(get, path = "/api/admin/billing/tenants/{id}/settings", tag = "billing", params(("id" = Uuid, Path, description = "Tenant id")), responses((status = 200, body = SettingsBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_settings(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<SettingsBody>, ApiError> {
    Ok(Json(settings_out(state.engine.billing_settings(&grant, tenant_id_of(&id)?).await?)))
}

/// Replaces a tenant's billing settings (sysadmins).
#[utoipa::path(put, path = "/api/admin/billing/tenants/{id}/settings", tag = "billing", request_body = SettingsBody, params(("id" = Uuid, Path, description = "Tenant id")), responses((status = 200, body = SettingsBody), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn put_settings(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<SettingsBody>,
) -> Result<Json<SettingsBody>, ApiError> {
    let tenant = tenant_id_of(&id)?;
    let model =
        BillingModel::parse(&body.billing_model).map_err(|e| ApiError::validation("billing_model", e.to_string()))?;
    let currency = Currency::parse(&body.currency).map_err(|e| ApiError::validation("currency", e.to_string()))?;
    if body.warning_threshold_percent > 100 {
        return Err(ApiError::validation("warning_threshold_percent", "is a percentage, 0 to 100"));
    }
    for (i, e) in body.notify_emails.iter().enumerate() {
        docwright_core::name::Email::parse(e)
            .map_err(|err| ApiError::validation(format!("notify_emails[{i}]"), err.to_string()))?;
    }
    let credit_limit = body.credit_limit.as_deref().map(|l| money_field("credit_limit", l)).transpose()?;
    if credit_limit.is_some_and(|l| l < Money::ZERO) {
        return Err(ApiError::validation("credit_limit", "is not negative"));
    }
    let default_user_credit =
        body.default_user_credit.as_deref().map(|c| money_field("default_user_credit", c)).transpose()?;
    let settings = BillingSettings {
        tenant_id: tenant,
        model,
        currency,
        default_user_credit: default_user_credit.unwrap_or(Money::ZERO),
        credit_limit,
        warning_threshold_percent: body.warning_threshold_percent,
        block_on_zero_balance: body.block_on_zero_balance,
        notify_emails: body.notify_emails,
        notify_on_warning: body.notify_on_warning,
        billing_address: body.billing_address.map(BillingAddress::from),
        updated_at: Timestamp::now(),
    };
    Ok(Json(settings_out(state.engine.put_billing_settings(&grant, settings).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct CreditBody {
    /// Decimal, positive.
    #[schema(value_type = crate::schemas::PositiveAmount)]
    amount: String,
    /// A user's account (`prepay_user`); absent: the tenant's account.
    #[serde(default)]
    #[schema(value_type = Option<Uuid>)]
    user_id: Option<String>,
    #[serde(default)]
    description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AccountOut {
    id: String,
    account_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    balance: String,
    reserved: String,
    enabled: bool,
    created_at: String,
}

fn account_out(a: Account) -> AccountOut {
    AccountOut {
        account_type: a.account_type(),
        id: a.id,
        user_id: a.user_id.map(|u| u.to_string()),
        balance: a.balance.to_string(),
        reserved: a.reserved.to_string(),
        enabled: a.enabled,
        created_at: a.created_at.to_rfc3339(),
    }
}

/// Tops up an account (sysadmins): a credit transaction.
#[utoipa::path(post, path = "/api/admin/billing/tenants/{id}/credit", tag = "billing", request_body = CreditBody, params(("id" = Uuid, Path, description = "Tenant id")), responses((status = 200, body = AccountOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn credit(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CreditBody>,
) -> Result<Json<AccountOut>, ApiError> {
    let tenant = tenant_id_of(&id)?;
    let amount = money_field("amount", &body.amount)?;
    let user = body
        .user_id
        .as_deref()
        .map(|u| UserId::parse(u).map_err(|_| ApiError::validation("user_id", "not a user id")))
        .transpose()?;
    Ok(Json(account_out(state.engine.credit(&grant, tenant, user, amount, &body.description).await?)))
}

/// A tenant's accounts.
#[utoipa::path(get, path = "/api/admin/billing/tenants/{id}/accounts", tag = "billing", params(("id" = Uuid, Path, description = "Tenant id")), responses((status = 200, body = Vec<AccountOut>), (status = 403, body = ErrorBody)))]
pub(crate) async fn accounts(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<AccountOut>>, ApiError> {
    let rows = state.engine.billing_accounts(&grant, tenant_id_of(&id)?).await?;
    Ok(Json(rows.into_iter().map(account_out).collect()))
}

/// A tenant's transactions in a month.
#[utoipa::path(get, path = "/api/admin/billing/tenants/{id}/transactions", tag = "billing", params(("id" = Uuid, Path, description = "Tenant id"), MonthQuery), responses((status = 200, body = Vec<TransactionOut>), (status = 403, body = ErrorBody)))]
pub(crate) async fn tenant_transactions(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<MonthQuery>,
) -> Result<Json<Vec<TransactionOut>>, ApiError> {
    let (from, to) = month_range(q.month.as_deref())?;
    let rows = state.engine.tenant_transactions(&grant, tenant_id_of(&id)?, from, to).await?;
    Ok(Json(rows.into_iter().map(transaction_out).collect()))
}

/// A tenant's transactions of a month as CSV (RFC 4180), amounts as decimals with the currency.
#[utoipa::path(get, path = "/api/admin/billing/tenants/{id}/export", tag = "billing", params(("id" = Uuid, Path, description = "Tenant id"), MonthQuery), responses((status = 200, description = "text/csv"), (status = 403, body = ErrorBody)))]
pub(crate) async fn export(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<MonthQuery>,
) -> Result<Response, ApiError> {
    let tenant = tenant_id_of(&id)?;
    let (from, to) = month_range(q.month.as_deref())?;
    let rows = state.engine.tenant_transactions(&grant, tenant, from, to).await?;
    let currency = state.engine.billing_currency(&grant, tenant).await?;
    let csv = docwright_engine::billing::ledger_csv(&rows, &currency);
    let month = q.month.unwrap_or_else(|| from.to_rfc3339()[..7].to_owned());
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"billing-{tenant}-{month}.csv\"")),
        ],
        csv,
    )
        .into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct VerifyOut {
    /// True when every balance equals the sum of its transactions and every reserved amount the
    /// sum of its open reservations.
    ok: bool,
    mismatches: Vec<MismatchOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct MismatchOut {
    account_id: String,
    balance: String,
    ledger_sum: String,
}

/// Checks the ledger: sysadmins every tenant, admins their own.
#[utoipa::path(get, path = "/api/admin/billing/verify", tag = "billing", responses((status = 200, body = VerifyOut), (status = 403, body = ErrorBody)))]
pub(crate) async fn verify(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
) -> Result<Json<VerifyOut>, ApiError> {
    let mismatches = state.engine.verify_ledger(&grant).await?;
    Ok(Json(VerifyOut {
        ok: mismatches.is_empty(),
        mismatches: mismatches
            .into_iter()
            .map(|m| MismatchOut {
                account_id: m.account_id,
                balance: m.balance.to_string(),
                ledger_sum: m.ledger_sum.to_string(),
            })
            .collect(),
    }))
}

// ---- notices (SPEC B7) ----------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct NoticeOut {
    id: String,
    /// `low_balance` or `monthly_report`.
    kind: &'static str,
    recipients: Vec<String>,
    subject: String,
    /// `pending`, `sent`, `failed` or `unsent` (no SMTP server configured).
    status: &'static str,
    attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attachment_name: Option<String>,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    sent_at: Option<String>,
    /// Plain text; only when one notice is fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    /// The attachment's text (e.g. the month's CSV); only when one notice is fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    attachment: Option<String>,
}

fn notice_out(h: docwright_storage::notices::NoticeHead) -> NoticeOut {
    NoticeOut {
        id: h.id.to_string(),
        kind: h.kind.as_str(),
        recipients: h.recipients,
        subject: h.subject,
        status: h.status.as_str(),
        attempts: h.attempts,
        last_error: h.last_error,
        attachment_name: h.attachment_name,
        created_at: h.created_at.to_rfc3339(),
        sent_at: h.sent_at.map(Timestamp::to_rfc3339),
        body: None,
        attachment: None,
    }
}

/// The tenant's billing notices (low-balance warnings, monthly reports), newest first.
#[utoipa::path(get, path = "/api/billing/notices", tag = "billing", params(crate::pagination::PageQuery),
    responses((status = 200, body = crate::pagination::PageOf<NoticeOut>), (status = 403, body = ErrorBody)))]
pub(crate) async fn notices(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiQuery(q): ApiQuery<crate::pagination::PageQuery>,
) -> Result<Json<crate::pagination::PageOf<NoticeOut>>, ApiError> {
    let p = q.parse()?;
    let page = state.engine.notices(&grant, p.request()).await?;
    Ok(Json(crate::pagination::page_of(page, |n| n.id.to_string(), notice_out)))
}

/// One notice with its text and attachment: the download of a report.
#[utoipa::path(get, path = "/api/billing/notices/{id}", tag = "billing", params(("id" = Uuid, Path, description = "Notice id")),
    responses((status = 200, body = NoticeOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn notice(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<uuid::Uuid>,
) -> Result<Json<NoticeOut>, ApiError> {
    let n = state.engine.notice(&grant, docwright_core::id::NoticeId::from(id)).await?;
    Ok(Json(NoticeOut { body: Some(n.body), attachment: n.attachment.map(|a| a.content), ..notice_out(n.head) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_whole_numbers_however_written() {
        let threshold = |v: serde_json::Value| {
            let body =
                serde_json::json!({"billing_model": "unlimited", "currency": "CHF", "warning_threshold_percent": v});
            serde_json::from_value::<SettingsBody>(body).map(|s| s.warning_threshold_percent).ok()
        };
        assert_eq!(threshold(serde_json::json!(67)), Some(67));
        assert_eq!(threshold(serde_json::json!(67.0)), Some(67));
        assert_eq!(threshold(serde_json::json!(67.5)), None);
        assert_eq!(threshold(serde_json::json!(256)), None);
        assert_eq!(threshold(serde_json::json!(-1)), None);
        assert_eq!(threshold(serde_json::json!("67")), None);
    }
}
