//! The money side of billing (SPEC B2–B4): settings per tenant, accounts, the append-only ledger
//! and reservations.
//!
//! Invariants kept here, in one database transaction each:
//! - every change of an account's `balance_micros` writes the ledger row that explains it, so a
//!   balance always equals the sum of its transactions ([`Db::ledger_mismatches`] checks);
//! - a reservation is one conditional `UPDATE` (`balance - reserved - amount >= floor`), so
//!   concurrent calls can never hold more than the account allows, on SQLite (writes are
//!   serialised) and on PostgreSQL (the row lock makes the second writer re-check);
//! - settling deletes the reservation and books the actual price together; a reservation that
//!   is already gone (released as stale) is not released twice, but the price is still booked.
//!
//! Every transaction here starts with a write, so SQLite takes its write lock up front (and
//! waits for it under `busy_timeout`) instead of failing to upgrade a read lock.

use docwright_core::billing::{BillingAddress, BillingModel, Currency, TxKind};
use docwright_core::id::{TenantId, UserId};
use docwright_core::money::Money;
use docwright_core::time::Timestamp;
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::{Db, Error, Result, WriteTx, parse_col};

impl WriteTx {
    /// [`Db::settle`] inside this transaction: the caller books the call together with what it
    /// produced (an AI request's answer and its job's completion), so both happen or neither.
    pub async fn settle(
        &mut self,
        reservation: Option<&str>,
        account_id: &str,
        tenant: TenantId,
        charge: Option<&NewEntry>,
    ) -> Result<Option<String>> {
        let now = Timestamp::now();
        let mut held = 0;
        if let Some(reservation) = reservation {
            let row = sqlx::query("DELETE FROM billing_reservations WHERE id = $1 RETURNING amount_micros")
                .bind(reservation.to_owned())
                .fetch_optional(self.conn())
                .await?;
            // Gone already: released as stale, so not released again (the price is still booked).
            if let Some(row) = row {
                held = row.try_get::<i64, _>("amount_micros")?;
            }
        }
        let delta = charge.map_or(0, |e| e.amount.micros());
        if held != 0 || delta != 0 {
            // One statement for both: the hold ends and the price is booked together.
            sqlx::query(
                "UPDATE billing_accounts SET reserved_micros = reserved_micros - $1, \
                 balance_micros = balance_micros + $2 WHERE id = $3",
            )
            .bind(held)
            .bind(delta)
            .bind(account_id.to_owned())
            .execute(self.conn())
            .await?;
        }
        match charge {
            Some(e) => Ok(Some(insert_row(self.conn(), account_id, tenant, e, now).await?)),
            None => Ok(None),
        }
    }
}

/// A tenant's billing settings (SPEC B2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingSettings {
    pub tenant_id: TenantId,
    pub model: BillingModel,
    pub currency: Currency,
    /// Credit a new user's account starts with (`prepay_user`).
    pub default_user_credit: Money,
    /// How far below zero a `credit_postpay` tenant may go; `None`: no limit.
    pub credit_limit: Option<Money>,
    pub warning_threshold_percent: u8,
    /// Prepaid models: refuse calls the balance cannot cover (else they run and go negative).
    pub block_on_zero_balance: bool,
    pub notify_emails: Vec<String>,
    pub notify_on_warning: bool,
    pub billing_address: Option<BillingAddress>,
    pub updated_at: Timestamp,
}

impl BillingSettings {
    /// The settings of a tenant that has none stored: `unlimited`.
    pub fn unlimited(tenant_id: TenantId) -> Self {
        Self {
            tenant_id,
            model: BillingModel::Unlimited,
            currency: Currency::chf(),
            default_user_credit: Money::ZERO,
            credit_limit: None,
            warning_threshold_percent: 20,
            block_on_zero_balance: true,
            notify_emails: Vec::new(),
            notify_on_warning: true,
            billing_address: None,
            updated_at: Timestamp::now(),
        }
    }
}

/// An account: the tenant's (`user_id` `None`) or a user's in that tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub tenant_id: TenantId,
    pub user_id: Option<UserId>,
    pub balance: Money,
    /// Held by calls in flight.
    pub reserved: Money,
    pub enabled: bool,
    pub created_at: Timestamp,
}

impl Account {
    pub fn account_type(&self) -> &'static str {
        if self.user_id.is_some() { "user" } else { "tenant" }
    }
}

/// A ledger row to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    pub kind: TxKind,
    /// Signed: credits positive, debits negative.
    pub amount: Money,
    /// Who caused it (`None`: the system).
    pub user_id: Option<UserId>,
    pub description: String,
    /// `workflow`, `chat`, `automation`, `payment`, `admin`, `system`.
    pub reference_type: String,
    pub reference_id: String,
    /// `api`, `chat`, `automation`, `playground`, `sync`, or `` for payments.
    pub feature: String,
    pub provider: String,
    pub model: String,
}

/// A ledger row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub account_id: String,
    pub tenant_id: TenantId,
    pub new: NewEntry,
    pub created_at: Timestamp,
}

/// The answer to a reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// Held under this reservation id.
    Held(String),
    /// The account cannot cover it: its balance and what is already reserved.
    Insufficient { balance: Money, reserved: Money },
    /// The account is disabled.
    Disabled,
}

/// An account whose balance differs from the sum of its transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub account_id: String,
    pub balance: Money,
    pub ledger_sum: Money,
}

fn address_to_json(a: &BillingAddress) -> String {
    serde_json::json!({"company": a.company, "street": a.street, "zip": a.zip, "city": a.city,
                       "country": a.country, "vat_number": a.vat_number})
    .to_string()
}

fn address_from_json(s: &str) -> std::result::Result<BillingAddress, String> {
    let v: serde_json::Value = serde_json::from_str(s).map_err(|e| e.to_string())?;
    let field = |k: &str| v[k].as_str().map(str::to_owned).ok_or_else(|| format!("no {k}"));
    Ok(BillingAddress {
        company: field("company")?,
        street: field("street")?,
        zip: field("zip")?,
        city: field("city")?,
        country: field("country")?,
        vat_number: v["vat_number"].as_str().map(str::to_owned),
    })
}

fn user_col(user: Option<UserId>) -> String {
    user.map(|u| u.to_string()).unwrap_or_default()
}

fn parse_user(raw: &str) -> Result<Option<UserId>> {
    if raw.is_empty() {
        return Ok(None);
    }
    UserId::parse(raw).map(Some).map_err(|e| Error::Corrupt(format!("user id: {e}")))
}

const ACCOUNT_COLS: &str = "id, tenant_id, user_id, balance_micros, reserved_micros, enabled, created_at";

fn account(r: &AnyRow) -> Result<Account> {
    Ok(Account {
        id: r.try_get("id")?,
        tenant_id: parse_col(r, "tenant_id", TenantId::parse)?,
        user_id: parse_user(&r.try_get::<String, _>("user_id")?)?,
        balance: Money::from_micros(r.try_get("balance_micros")?),
        reserved: Money::from_micros(r.try_get("reserved_micros")?),
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
    })
}

/// Appends `e` to `account` and moves its balance by the same amount, inside `tx`.
async fn append(
    tx: &mut sqlx::AnyConnection,
    account_id: &str,
    tenant: TenantId,
    e: &NewEntry,
    now: Timestamp,
) -> Result<String> {
    sqlx::query("UPDATE billing_accounts SET balance_micros = balance_micros + $1 WHERE id = $2")
        .bind(e.amount.micros())
        .bind(account_id.to_owned())
        .execute(&mut *tx)
        .await?;
    insert_row(tx, account_id, tenant, e, now).await
}

/// The ledger row alone; the caller moves the balance in the same transaction.
async fn insert_row(
    tx: &mut sqlx::AnyConnection,
    account_id: &str,
    tenant: TenantId,
    e: &NewEntry,
    now: Timestamp,
) -> Result<String> {
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO billing_transactions (id, account_id, tenant_id, user_id, kind, amount_micros, description, \
         reference_type, reference_id, feature, provider, model, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(id.clone())
    .bind(account_id.to_owned())
    .bind(tenant.to_string())
    .bind(user_col(e.user_id))
    .bind(e.kind.as_str())
    .bind(e.amount.micros())
    .bind(e.description.clone())
    .bind(e.reference_type.clone())
    .bind(e.reference_id.clone())
    .bind(e.feature.clone())
    .bind(e.provider.clone())
    .bind(e.model.clone())
    .bind(now.millis())
    .execute(&mut *tx)
    .await?;
    Ok(id)
}

impl Db {
    pub async fn billing_settings(&self, tenant: TenantId) -> Result<Option<BillingSettings>> {
        let row = sqlx::query(
            "SELECT tenant_id, model, currency, default_user_credit_micros, credit_limit_micros, \
             warning_threshold_percent, block_on_zero_balance, notify_emails, notify_on_warning, billing_address, \
             updated_at FROM billing_settings WHERE tenant_id = $1",
        )
        .bind(tenant.to_string())
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let corrupt = |col: &str, e: String| Error::Corrupt(format!("billing_settings.{col}: {e}"));
        let emails: String = r.try_get("notify_emails")?;
        let address: Option<String> = r.try_get("billing_address")?;
        Ok(Some(BillingSettings {
            tenant_id: tenant,
            model: parse_col(&r, "model", BillingModel::parse)?,
            currency: parse_col(&r, "currency", Currency::parse)?,
            default_user_credit: Money::from_micros(r.try_get("default_user_credit_micros")?),
            credit_limit: r.try_get::<Option<i64>, _>("credit_limit_micros")?.map(Money::from_micros),
            warning_threshold_percent: u8::try_from(r.try_get::<i64, _>("warning_threshold_percent")?)
                .map_err(|e| corrupt("warning_threshold_percent", e.to_string()))?,
            block_on_zero_balance: r.try_get::<i64, _>("block_on_zero_balance")? != 0,
            notify_emails: serde_json::from_str(&emails).map_err(|e| corrupt("notify_emails", e.to_string()))?,
            notify_on_warning: r.try_get::<i64, _>("notify_on_warning")? != 0,
            billing_address: address
                .map(|a| address_from_json(&a))
                .transpose()
                .map_err(|e| corrupt("billing_address", e))?,
            updated_at: Timestamp::from_millis(r.try_get("updated_at")?),
        }))
    }

    pub async fn put_billing_settings(&self, s: &BillingSettings) -> Result<()> {
        let emails = serde_json::to_string(&s.notify_emails).map_err(|e| Error::Corrupt(e.to_string()))?;
        let address = s.billing_address.as_ref().map(address_to_json);
        sqlx::query(
            "INSERT INTO billing_settings (tenant_id, model, currency, default_user_credit_micros, credit_limit_micros, \
             warning_threshold_percent, block_on_zero_balance, notify_emails, notify_on_warning, billing_address, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (tenant_id) DO UPDATE SET \
             model = excluded.model, currency = excluded.currency, \
             default_user_credit_micros = excluded.default_user_credit_micros, \
             credit_limit_micros = excluded.credit_limit_micros, \
             warning_threshold_percent = excluded.warning_threshold_percent, \
             block_on_zero_balance = excluded.block_on_zero_balance, notify_emails = excluded.notify_emails, \
             notify_on_warning = excluded.notify_on_warning, billing_address = excluded.billing_address, \
             updated_at = excluded.updated_at",
        )
        .bind(s.tenant_id.to_string())
        .bind(s.model.as_str())
        .bind(s.currency.as_str().to_owned())
        .bind(s.default_user_credit.micros())
        .bind(s.credit_limit.map(Money::micros))
        .bind(i64::from(s.warning_threshold_percent))
        .bind(i64::from(s.block_on_zero_balance))
        .bind(emails)
        .bind(i64::from(s.notify_on_warning))
        .bind(address)
        .bind(s.updated_at.millis())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The account of (`tenant`, `user`), created on first use with `start_credit` booked as a
    /// credit transaction (one creation even when several calls race for it).
    pub async fn ensure_account(
        &self,
        tenant: TenantId,
        user: Option<UserId>,
        start_credit: Money,
        description: &str,
    ) -> Result<Account> {
        if let Some(a) = self.account(tenant, user).await? {
            return Ok(a);
        }
        let now = Timestamp::now();
        let id = uuid::Uuid::now_v7().to_string();
        let mut tx = self.writer().begin().await?;
        let created = sqlx::query(
            "INSERT INTO billing_accounts (id, tenant_id, user_id, account_type, balance_micros, reserved_micros, \
             enabled, created_at) VALUES ($1, $2, $3, $4, 0, 0, 1, $5) ON CONFLICT (tenant_id, user_id) DO NOTHING",
        )
        .bind(id.clone())
        .bind(tenant.to_string())
        .bind(user_col(user))
        .bind(if user.is_some() { "user" } else { "tenant" })
        .bind(now.millis())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if created && start_credit > Money::ZERO {
            let entry = NewEntry {
                kind: TxKind::Credit,
                amount: start_credit,
                user_id: user,
                description: description.to_owned(),
                reference_type: "system".to_owned(),
                reference_id: id.clone(),
                feature: String::new(),
                provider: String::new(),
                model: String::new(),
            };
            append(&mut tx, &id, tenant, &entry, now).await?;
        }
        tx.commit().await?;
        self.account(tenant, user).await?.ok_or_else(|| Error::Corrupt("an account vanished after creation".into()))
    }

    pub async fn account(&self, tenant: TenantId, user: Option<UserId>) -> Result<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLS} FROM billing_accounts WHERE tenant_id = $1 AND user_id = $2");
        let row = sqlx::query(crate::trusted(sql))
            .bind(tenant.to_string())
            .bind(user_col(user))
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(account).transpose()
    }

    /// A tenant's accounts: its own first, then users' by creation.
    pub async fn accounts(&self, tenant: TenantId) -> Result<Vec<Account>> {
        let sql = format!(
            "SELECT {ACCOUNT_COLS} FROM billing_accounts WHERE tenant_id = $1 ORDER BY user_id <> '', created_at"
        );
        let rows = sqlx::query(crate::trusted(sql)).bind(tenant.to_string()).fetch_all(self.pool()).await?;
        rows.iter().map(account).collect()
    }

    /// Holds `amount` on the account when `balance - reserved - amount >= floor` (`floor`
    /// `None`: always). The hold lives until settled, released, or `expires_at`.
    pub async fn reserve(
        &self,
        account_id: &str,
        amount: Money,
        floor: Option<Money>,
        instance: &str,
        expires_at: Timestamp,
    ) -> Result<Hold> {
        let now = Timestamp::now();
        let mut tx = self.writer().begin().await?;
        let held = sqlx::query(
            "UPDATE billing_accounts SET reserved_micros = reserved_micros + $1 \
             WHERE id = $2 AND enabled = 1 AND balance_micros - reserved_micros - $1 >= $3",
        )
        .bind(amount.micros())
        .bind(account_id.to_owned())
        .bind(floor.map_or(i64::MIN, Money::micros))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !held {
            tx.rollback().await?;
            let row =
                sqlx::query("SELECT balance_micros, reserved_micros, enabled FROM billing_accounts WHERE id = $1")
                    .bind(account_id.to_owned())
                    .fetch_one(self.pool())
                    .await?;
            if row.try_get::<i64, _>("enabled")? == 0 {
                return Ok(Hold::Disabled);
            }
            return Ok(Hold::Insufficient {
                balance: Money::from_micros(row.try_get("balance_micros")?),
                reserved: Money::from_micros(row.try_get("reserved_micros")?),
            });
        }
        let id = uuid::Uuid::now_v7().to_string();
        sqlx::query(
            "INSERT INTO billing_reservations (id, account_id, amount_micros, instance_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.clone())
        .bind(account_id.to_owned())
        .bind(amount.micros())
        .bind(instance.to_owned())
        .bind(now.millis())
        .bind(expires_at.millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Hold::Held(id))
    }

    /// Ends a reservation: releases what it held and, with `charge`, books the actual price in
    /// the same transaction. Answers the ledger row's id.
    pub async fn settle(
        &self,
        reservation: Option<&str>,
        account_id: &str,
        tenant: TenantId,
        charge: Option<&NewEntry>,
    ) -> Result<Option<String>> {
        let mut tx = self.begin_write().await?;
        let id = tx.settle(reservation, account_id, tenant, charge).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Appends several ledger rows (each to its account) in one transaction.
    pub async fn post_entries(&self, rows: &[(&str, TenantId, &NewEntry)]) -> Result<()> {
        let now = Timestamp::now();
        let mut tx = self.writer().begin().await?;
        for (account_id, tenant, e) in rows {
            append(&mut tx, account_id, *tenant, e, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Appends a ledger row (top-up, adjustment) to an account.
    pub async fn post_entry(&self, account_id: &str, tenant: TenantId, e: &NewEntry) -> Result<String> {
        let mut tx = self.writer().begin().await?;
        let id = append(&mut tx, account_id, tenant, e, Timestamp::now()).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// A tenant's ledger rows from `from` (inclusive) to `to` (exclusive), oldest first,
    /// optionally of one account, at most `limit`.
    pub async fn ledger(
        &self,
        tenant: TenantId,
        account_id: Option<&str>,
        from: Timestamp,
        to: Timestamp,
        limit: i64,
    ) -> Result<Vec<Entry>> {
        let rows = sqlx::query(
            "SELECT id, account_id, tenant_id, user_id, kind, amount_micros, description, reference_type, \
             reference_id, feature, provider, model, created_at FROM billing_transactions \
             WHERE tenant_id = $1 AND ($2 = '' OR account_id = $2) AND created_at >= $3 AND created_at < $4 \
             ORDER BY created_at, id LIMIT $5",
        )
        .bind(tenant.to_string())
        .bind(account_id.unwrap_or_default().to_owned())
        .bind(from.millis())
        .bind(to.millis())
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Entry {
                    id: r.try_get("id")?,
                    account_id: r.try_get("account_id")?,
                    tenant_id: parse_col(r, "tenant_id", TenantId::parse)?,
                    new: NewEntry {
                        kind: parse_col(r, "kind", TxKind::parse)?,
                        amount: Money::from_micros(r.try_get("amount_micros")?),
                        user_id: parse_user(&r.try_get::<String, _>("user_id")?)?,
                        description: r.try_get("description")?,
                        reference_type: r.try_get("reference_type")?,
                        reference_id: r.try_get("reference_id")?,
                        feature: r.try_get("feature")?,
                        provider: r.try_get("provider")?,
                        model: r.try_get("model")?,
                    },
                    created_at: Timestamp::from_millis(r.try_get("created_at")?),
                })
            })
            .collect()
    }

    /// Accounts of `tenant` (every tenant when `None`) whose balance is not the sum of their
    /// transactions, or whose reserved amount is not the sum of their open reservations.
    pub async fn ledger_mismatches(&self, tenant: Option<TenantId>) -> Result<Vec<Mismatch>> {
        let rows = sqlx::query(
            "SELECT a.id, a.balance_micros, \
             CAST(COALESCE((SELECT SUM(t.amount_micros) FROM billing_transactions t WHERE t.account_id = a.id), 0) AS BIGINT) AS ledger_sum, \
             a.reserved_micros, \
             CAST(COALESCE((SELECT SUM(r.amount_micros) FROM billing_reservations r WHERE r.account_id = a.id), 0) AS BIGINT) AS held \
             FROM billing_accounts a WHERE ($1 = '' OR a.tenant_id = $1)",
        )
        .bind(tenant.map(|t| t.to_string()).unwrap_or_default())
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::new();
        for r in &rows {
            let sum: i64 = r.try_get("ledger_sum")?;
            let held: i64 = r.try_get("held")?;
            let balance: i64 = r.try_get("balance_micros")?;
            let reserved: i64 = r.try_get("reserved_micros")?;
            if sum != balance || held != reserved {
                out.push(Mismatch {
                    account_id: r.try_get("id")?,
                    balance: Money::from_micros(balance),
                    ledger_sum: Money::from_micros(sum),
                });
            }
        }
        Ok(out)
    }

    /// Marks this process alive.
    pub async fn heartbeat(&self, instance: &str, now: Timestamp) -> Result<()> {
        sqlx::query(
            "INSERT INTO instances (id, started_at, heartbeat_at) VALUES ($1, $2, $2) \
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
        )
        .bind(instance.to_owned())
        .bind(now.millis())
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Releases reservations that expired, or whose process stopped beating before
    /// `dead_before` (a crashed or killed server), and forgets such processes. Answers how many
    /// reservations were released.
    pub async fn release_stale_reservations(&self, now: Timestamp, dead_before: Timestamp) -> Result<u64> {
        let mut tx = self.writer().begin().await?;
        let stale = sqlx::query(
            "DELETE FROM billing_reservations WHERE expires_at < $1 \
             OR instance_id NOT IN (SELECT id FROM instances WHERE heartbeat_at >= $2) \
             RETURNING account_id, amount_micros",
        )
        .bind(now.millis())
        .bind(dead_before.millis())
        .fetch_all(&mut *tx)
        .await?;
        for r in &stale {
            sqlx::query("UPDATE billing_accounts SET reserved_micros = reserved_micros - $1 WHERE id = $2")
                .bind(r.try_get::<i64, _>("amount_micros")?)
                .bind(r.try_get::<String, _>("account_id")?)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM instances WHERE heartbeat_at < $1")
            .bind(dead_before.millis())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(stale.len() as u64)
    }

    /// Tenants with stored billing settings (the ones that get monthly reports).
    pub async fn billed_tenants(&self) -> Result<Vec<TenantId>> {
        let rows =
            sqlx::query("SELECT tenant_id FROM billing_settings ORDER BY tenant_id").fetch_all(self.pool()).await?;
        rows.iter().map(|r| parse_col(r, "tenant_id", TenantId::parse)).collect()
    }

    /// The sum and the number of an account's credit transactions (what warnings measure the
    /// balance against, and what re-arms them).
    pub async fn credits_of(&self, account_id: &str) -> Result<(Money, i64)> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(amount_micros), 0) AS BIGINT) AS total, COUNT(*) AS n \
             FROM billing_transactions WHERE account_id = $1 AND kind = 'credit'",
        )
        .bind(account_id.to_owned())
        .fetch_one(self.pool())
        .await?;
        Ok((Money::from_micros(row.try_get("total")?), row.try_get("n")?))
    }

    /// The sum of every account of `tenant` before `at` (a month's opening balance).
    pub async fn tenant_balance_before(&self, tenant: TenantId, at: Timestamp) -> Result<Money> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(amount_micros), 0) AS BIGINT) AS total FROM billing_transactions \
             WHERE tenant_id = $1 AND created_at < $2",
        )
        .bind(tenant.to_string())
        .bind(at.millis())
        .fetch_one(self.pool())
        .await?;
        Ok(Money::from_micros(row.try_get("total")?))
    }

    /// Open reservations of an account (tests, administration).
    pub async fn reservation_count(&self, account_id: &str) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM billing_reservations WHERE account_id = $1")
            .bind(account_id.to_owned())
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("n")?)
    }
}
