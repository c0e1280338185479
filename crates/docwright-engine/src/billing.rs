//! Billing (SPEC B2–B6): every AI call is reserved before and settled after, whatever feature
//! made it, through [`Engine::hold`] and [`Engine::settle_hold`] / [`Engine::release_hold`],
//! which the gateway calls around each attempt.
//!
//! Which account pays: the user's own in a `prepay_user` tenant, else the tenant's. How much may
//! be held (the floor under `balance - reserved`): zero for prepaid tenants that block at zero,
//! minus the credit limit for `credit_postpay`, nothing for `unlimited` (or prepaid without
//! blocking, or postpaid without a limit) — those are not reserved at all, only booked.
//!
//! A reservation is the call's maximum cost: the input estimate with a margin plus the maximum
//! output, at the model's prices. A fallback to another model releases the first hold and
//! reserves again. Reservations carry this process's instance id; a background task
//! ([`Engine::billing_reconciler`]) signals life and releases reservations that expired or
//! whose process died (SIGKILL, power loss), so a restart leaves balances exact.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use docwright_core::billing::{BillingModel, Currency, TxKind, feature_of};
use docwright_core::id::{TenantId, UserId};
use docwright_core::money::Money;
use docwright_core::rbac::{AccessLevel, Action, Permission, items};
use docwright_core::time::Timestamp;
use docwright_storage::billing::{Account, BillingSettings, Entry, Hold, Mismatch, NewEntry};

use crate::access::Grant;
use crate::gateway::{AiRequest, GatewayError, Model};
use crate::{Engine, Error, Result};

pub const BILLING_READ: Permission = Permission::new(items::BILLING, Action::Read);
pub const BILLING_CREDIT: Permission = Permission::new(items::BILLING, Action::Create);
pub const BILLING_UPDATE: Permission = Permission::new(items::BILLING, Action::Update);

/// Input tokens are estimated from bytes; the reservation adds this share on top, so a
/// provider's real count rarely exceeds what was held.
const INPUT_MARGIN_PERCENT: u64 = 25;

/// `[billing]` as the engine uses it.
#[derive(Debug, Clone)]
pub struct BillingSettingsConfig {
    pub default_currency: Currency,
    pub root_user_credit: Money,
    pub reservation_ttl: Duration,
    pub instance_timeout: Duration,
    pub reconcile_every: Duration,
}

impl Default for BillingSettingsConfig {
    fn default() -> Self {
        Self {
            default_currency: Currency::chf(),
            root_user_credit: Money::from_micros(10_000_000),
            reservation_ttl: Duration::from_secs(900),
            instance_timeout: Duration::from_secs(30),
            reconcile_every: Duration::from_secs(10),
        }
    }
}

/// Money held for one attempt; settle or release it. Dropped unsettled (the call's future was
/// dropped: a client went away, a job was stopped), it hands its reservation to the stat writer
/// to be released without a charge.
#[derive(Debug)]
pub struct Held {
    account_id: String,
    tenant: TenantId,
    reservation: Option<String>,
    /// `unlimited`: the charge is booked through the batched writer, off the call's path.
    queued: bool,
    pub amount: Money,
    releaser: Option<crate::recorder::Releaser>,
}

impl Drop for Held {
    fn drop(&mut self) {
        if let (Some(reservation), Some(releaser)) = (self.reservation.take(), &self.releaser) {
            releaser.release(reservation, self.account_id.clone(), self.tenant);
        }
    }
}

/// A completed call whose price is not booked yet (`Engine::ai_call_unsettled`): the caller
/// books it inside its own transaction with [`Engine::settle_in`], together with what it does
/// with the answer, and then calls [`Engine::settled`] after the commit, or
/// [`Engine::release_unsettled`] when it rolled back (the call is then not charged). Dropped,
/// its reservation is released without a charge.
#[derive(Debug)]
pub struct Unsettled {
    held: Held,
    charge: Option<NewEntry>,
    user: UserId,
    pub price: Money,
}

/// A tenant's balance as its users see it.
#[derive(Debug, Clone)]
pub struct Balance {
    pub tenant_id: TenantId,
    pub model: BillingModel,
    pub currency: Currency,
    pub account: Account,
    pub credit_limit: Option<Money>,
}

impl Balance {
    /// What calls may still reserve (`None`: no limit).
    pub fn available(&self) -> Option<Money> {
        let free = Money::from_micros(self.account.balance.micros() - self.account.reserved.micros());
        match self.model {
            BillingModel::Unlimited => None,
            BillingModel::CreditPostpay => {
                self.credit_limit.map(|l| Money::from_micros(free.micros().saturating_add(l.micros())))
            }
            _ => Some(free),
        }
    }
}

impl Engine {
    /// A tenant's billing settings (`unlimited` when none are stored), cached like rules.
    pub(crate) async fn billing_of(&self, tenant: TenantId) -> Result<Arc<BillingSettings>> {
        let ticket = match self.cache.get(&self.cache.billing, &tenant) {
            Ok(s) => return Ok(s),
            Err(ticket) => ticket,
        };
        let s = Arc::new(self.db.billing_settings(tenant).await?.unwrap_or_else(|| BillingSettings::unlimited(tenant)));
        self.cache.put(&self.cache.billing, ticket, tenant, s.clone());
        Ok(s)
    }

    /// The account that pays for `user`'s calls in `tenant`, created on first use (a user of a
    /// `prepay_user` tenant starts with its default credit).
    pub(crate) async fn paying_account(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> Result<(Arc<BillingSettings>, Account)> {
        let settings = self.billing_of(tenant).await?;
        let owner = settings.model.per_user().then_some(user);
        let credit = if owner.is_some() { settings.default_user_credit } else { Money::ZERO };
        let account = self.db.ensure_account(tenant, owner, credit, "start credit").await?;
        Ok((settings, account))
    }

    /// The account id only, remembered for the process (accounts are never deleted).
    async fn paying_account_id(&self, tenant: TenantId, user: UserId) -> Result<(Arc<BillingSettings>, String)> {
        let settings = self.billing_of(tenant).await?;
        let owner = settings.model.per_user().then_some(user);
        let key = (tenant, owner);
        if let Some(id) = self.accounts.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(&key) {
            return Ok((settings, id.clone()));
        }
        let (settings, account) = self.paying_account(tenant, user).await?;
        self.accounts.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(key, account.id.clone());
        Ok((settings, account.id))
    }

    /// Reserves the maximum cost of calling `model` for `req` (with `max_output` tokens).
    pub(crate) async fn hold(
        &self,
        grant: &Grant,
        req: &AiRequest,
        model: &Model,
        max_output: u32,
    ) -> Result<Held, GatewayError> {
        let ctx = grant.ctx();
        let (settings, account_id) = self.paying_account_id(ctx.tenant, ctx.user()).await?;
        let input = crate::gateway::estimate_input(&req.messages) + crate::gateway::estimate_tools(&req.tools);
        let amount = model.price(input + input * INPUT_MARGIN_PERCENT / 100 + 16, u64::from(max_output));
        let floor = match settings.model {
            BillingModel::PrepayTenant | BillingModel::PrepayUser if settings.block_on_zero_balance => {
                Some(Money::ZERO)
            }
            BillingModel::CreditPostpay => settings.credit_limit.map(|l| Money::from_micros(-l.micros())),
            _ => None,
        };
        let queued = settings.model == BillingModel::Unlimited;
        let mut held =
            Held { account_id, tenant: ctx.tenant, reservation: None, queued, amount, releaser: self.releaser() };
        let Some(floor) = floor else { return Ok(held) };
        let expires = Timestamp::now().plus_secs(self.billing.reservation_ttl.as_secs() as i64);
        match self
            .db
            .reserve(&held.account_id, amount, Some(floor), &self.instance, expires)
            .await
            .map_err(Error::from)?
        {
            Hold::Held(id) => {
                held.reservation = Some(id);
                Ok(held)
            }
            Hold::Insufficient { balance, reserved } => Err(GatewayError::InsufficientBalance {
                balance,
                available: Money::from_micros(balance.micros() - reserved.micros() - floor.micros()),
                required: amount,
                currency: settings.currency.as_str().to_owned(),
            }),
            Hold::Disabled => Err(Error::Forbidden("the billing account is disabled".to_owned()).into()),
        }
    }

    /// The ledger row of a call of `model` for `req` that cost `price` (none when it was free).
    fn charge_of(grant: &Grant, req: &AiRequest, model: &Model, price: Money, stat_id: uuid::Uuid) -> Option<NewEntry> {
        let (reference_type, reference_id) = match req.reference {
            Some(crate::gateway::CallFor::AiRequest(id)) => ("ai_request", id.to_string()),
            Some(crate::gateway::CallFor::Workflow(id)) => ("workflow", id.to_string()),
            Some(crate::gateway::CallFor::Chat(id)) => ("chat", id.to_string()),
            Some(crate::gateway::CallFor::File(id)) => ("file", id.to_string()),
            Some(crate::gateway::CallFor::Automation { automation, .. }) => ("automation", automation.to_string()),
            None => ("system", stat_id.to_string()),
        };
        (price > Money::ZERO).then(|| NewEntry {
            kind: TxKind::Debit,
            amount: Money::from_micros(-price.micros()),
            user_id: Some(grant.ctx().user()),
            description: format!("{} on {}", req.process, model.name),
            reference_type: reference_type.to_owned(),
            reference_id,
            feature: feature_of(&req.process).to_owned(),
            provider: model.provider.clone(),
            model: model.name.clone(),
        })
    }

    /// Books the actual price of a finished call and ends its hold.
    pub(crate) async fn settle_hold(
        &self,
        mut held: Held,
        grant: &Grant,
        req: &AiRequest,
        model: &Model,
        price: Money,
        stat_id: uuid::Uuid,
    ) -> Result<()> {
        let charge = Self::charge_of(grant, req, model, price, stat_id);
        if held.reservation.is_none() && charge.is_none() {
            return Ok(());
        }
        if let (true, None, Some(entry)) = (held.queued, &held.reservation, charge.clone()) {
            let booking = crate::recorder::Booking { account_id: held.account_id.clone(), tenant: held.tenant, entry };
            return self.append_booking(booking).await;
        }
        let reservation = held.reservation.take();
        if let Err(e) = self.db.settle(reservation.as_deref(), &held.account_id, held.tenant, charge.as_ref()).await {
            held.reservation = reservation; // released when dropped
            return Err(e.into());
        }
        self.after_charge(&held, grant.ctx().user(), price).await;
        Ok(())
    }

    /// A warning is a side matter: it never fails the call it follows.
    async fn after_charge(&self, held: &Held, user: UserId, price: Money) {
        if price > Money::ZERO
            && let Err(e) = self.warn_if_low(held.tenant, &held.account_id, user, price).await
        {
            tracing::warn!(error = %e, "checking the low-balance threshold failed");
        }
    }

    /// The hold of a finished call and the ledger row it owes, to be booked by the caller.
    pub(crate) fn unsettled(
        held: Held,
        grant: &Grant,
        req: &AiRequest,
        model: &Model,
        price: Money,
        stat_id: uuid::Uuid,
    ) -> Unsettled {
        Unsettled { charge: Self::charge_of(grant, req, model, price, stat_id), held, user: grant.ctx().user(), price }
    }

    /// Books `u` inside the caller's transaction: the hold ends and the price is charged when
    /// `tx` commits (then call [`Engine::settled`]), or neither when it rolls back.
    pub async fn settle_in(&self, tx: &mut docwright_storage::WriteTx, u: &Unsettled) -> Result<()> {
        let held = &u.held;
        if held.reservation.is_some() || u.charge.is_some() {
            tx.settle(held.reservation.as_deref(), &held.account_id, held.tenant, u.charge.as_ref()).await?;
        }
        Ok(())
    }

    /// After the transaction that [`Engine::settle_in`] wrote to has committed.
    pub async fn settled(&self, mut u: Unsettled) {
        u.held.reservation = None; // ended by the settlement
        self.after_charge(&u.held, u.user, u.price).await;
    }

    /// The caller's transaction did not commit: the hold ends without a charge.
    pub async fn release_unsettled(&self, u: Unsettled) -> Result<()> {
        self.release_hold(u.held).await
    }

    /// After a charge of `price`: when it took the paying account's available money below the
    /// tenant's `warning_threshold_percent` — of its credits (prepaid) or of its credit limit
    /// (postpaid) — a low-balance notice to `notify_emails`, once per crossing (a top-up re-arms
    /// it: the dedupe key counts the account's credits).
    async fn warn_if_low(&self, tenant: TenantId, account_id: &str, user: UserId, price: Money) -> Result<()> {
        let settings = self.billing_of(tenant).await?;
        if settings.model == BillingModel::Unlimited || !settings.notify_on_warning || settings.notify_emails.is_empty()
        {
            return Ok(());
        }
        let owner = settings.model.per_user().then_some(user);
        let Some(account) = self.db.account(tenant, owner).await? else { return Ok(()) };
        let (credits, credit_count) = self.db.credits_of(account_id).await?;
        let (base, headroom) = match settings.model {
            BillingModel::PrepayTenant | BillingModel::PrepayUser => (credits, 0),
            BillingModel::CreditPostpay => match settings.credit_limit {
                Some(limit) => (limit, limit.micros()),
                None => return Ok(()),
            },
            BillingModel::Unlimited => return Ok(()),
        };
        let threshold = base.micros().saturating_mul(i64::from(settings.warning_threshold_percent)) / 100;
        let after = account.balance.micros().saturating_add(headroom);
        let before = after.saturating_add(price.micros());
        if !(before >= threshold && after < threshold) {
            return Ok(());
        }
        let currency = settings.currency.as_str();
        let whose = match owner {
            Some(u) => format!("the account of user {u}"),
            None => "the tenant's account".to_owned(),
        };
        let body = format!(
            "The balance of {whose} fell below {}% ({} {currency}).\n\n\
             Balance: {} {currency}\nAvailable: {} {currency}\n\n\
             Top it up to keep AI calls running{}.\n",
            settings.warning_threshold_percent,
            Money::from_micros(threshold),
            account.balance,
            Money::from_micros(after),
            if settings.block_on_zero_balance { ": calls that the balance cannot cover are refused" } else { "" },
        );
        self.enqueue_notice(
            tenant,
            crate::notices::NewNotice {
                kind: docwright_storage::notices::NoticeKind::LowBalance,
                recipients: settings.notify_emails.clone(),
                subject: format!("docwright: balance below {}%", settings.warning_threshold_percent),
                body,
                attachment: None,
                dedupe_key: Some(format!("low_balance:{account_id}:{credit_count}")),
            },
        )
        .await?;
        Ok(())
    }

    /// The monthly report of every billed tenant with `notify_emails` for the month before
    /// `now` (SPEC B7): total, operations, average, by provider, by feature, top 5 users,
    /// opening and closing balance, the month's ledger as CSV. Once per tenant and month (the
    /// dedupe key); safe to call as often as wanted. Answers how many were enqueued.
    pub async fn monthly_reports(&self, now: Timestamp) -> Result<u32> {
        let Some((month, from, to)) = previous_month(now) else { return Ok(0) };
        let mut enqueued = 0;
        for tenant in self.db.billed_tenants().await? {
            let settings = self.billing_of(tenant).await?;
            if settings.notify_emails.is_empty() {
                continue;
            }
            let rows = self.db.ledger(tenant, None, from, to, 1_000_000).await?;
            let opening = self.db.tenant_balance_before(tenant, from).await?;
            let closing = self.db.tenant_balance_before(tenant, to).await?;
            let body = report_text(&month, &settings.currency, &rows, opening, closing);
            let notice = crate::notices::NewNotice {
                kind: docwright_storage::notices::NoticeKind::MonthlyReport,
                recipients: settings.notify_emails.clone(),
                subject: format!("docwright: usage report {month}"),
                body,
                attachment: Some(docwright_storage::notices::Attachment {
                    name: format!("billing-{month}.csv"),
                    content: ledger_csv(&rows, &settings.currency),
                }),
                dedupe_key: Some(format!("monthly_report:{month}")),
            };
            if self.enqueue_notice(tenant, notice).await?.new {
                enqueued += 1;
            }
        }
        Ok(enqueued)
    }

    /// Ends a hold without charge (the attempt failed; nothing is owed).
    pub(crate) async fn release_hold(&self, mut held: Held) -> Result<()> {
        if let Some(reservation) = held.reservation.take()
            && let Err(e) = self.db.settle(Some(&reservation), &held.account_id, held.tenant, None).await
        {
            held.reservation = Some(reservation); // released when dropped
            return Err(e.into());
        }
        Ok(())
    }

    /// Signals that this process lives (before it serves, and then periodically).
    pub async fn heartbeat(&self) -> Result<()> {
        Ok(self.db.heartbeat(&self.instance, Timestamp::now()).await?)
    }

    /// One reconciliation: signal life, release expired reservations and those of dead
    /// processes. Answers how many were released.
    pub async fn reconcile_reservations(&self) -> Result<u64> {
        let now = Timestamp::now();
        self.db.heartbeat(&self.instance, now).await?;
        let dead_before = now.plus_secs(-(self.billing.instance_timeout.as_secs() as i64));
        let released = self.db.release_stale_reservations(now, dead_before).await?;
        if released > 0 {
            tracing::info!(released, "released stale reservations");
        }
        // Extractions of dead processes, likewise (SPEC D2): back to the queue.
        let attempts = self.extraction_settings().map_or(3, |s| s.max_attempts);
        let (requeued, failed) = self.db.requeue_orphaned_extractions(dead_before, attempts).await?;
        if requeued + failed > 0 {
            tracing::info!(requeued, failed, "took back extractions of stopped processes");
        }
        Ok(released)
    }

    /// The reconciler, to run as an owned background task until `stop` resolves.
    pub fn billing_reconciler<S>(&self, stop: S) -> impl Future<Output = ()> + Send + use<S>
    where
        S: Future<Output = ()> + Send + 'static,
    {
        let engine = self.clone();
        async move {
            tokio::pin!(stop);
            let mut tick = tokio::time::interval(engine.billing.reconcile_every);
            let mut reports_checked: Option<std::time::Instant> = None;
            loop {
                tokio::select! {
                    () = &mut stop => break,
                    _ = tick.tick() => {
                        if let Err(e) = engine.reconcile_reservations().await {
                            tracing::warn!(error = %e, "reconciling reservations failed; will retry");
                        }
                        // Last month's reports: checked at start and hourly (each is made once).
                        if reports_checked.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600)) {
                            reports_checked = Some(std::time::Instant::now());
                            match engine.monthly_reports(Timestamp::now()).await {
                                Ok(0) => {}
                                Ok(n) => tracing::info!(reports = n, "monthly billing reports enqueued"),
                                Err(e) => tracing::warn!(error = %e, "monthly billing reports failed; will retry"),
                            }
                        }
                    }
                }
            }
        }
    }

    // ---- use cases of the billing API ------------------------------------------------------

    /// The caller's balance in `tenant` (their own account in a `prepay_user` tenant, else
    /// the tenant's).
    pub async fn balance(&self, grant: &Grant, tenant: Option<TenantId>) -> Result<Balance> {
        grant.expect(BILLING_READ)?;
        let ctx = grant.ctx();
        if tenant.is_some_and(|t| t != ctx.tenant) {
            // Another tenant's balance is not visible from this context (X-Tenant-Id switches).
            return Err(Error::NotFound("tenant"));
        }
        let (settings, account) = self.paying_account(ctx.tenant, ctx.user()).await?;
        Ok(Balance {
            tenant_id: ctx.tenant,
            model: settings.model,
            currency: settings.currency.clone(),
            account,
            credit_limit: settings.credit_limit,
        })
    }

    /// Ledger rows of the context tenant in [from, to): an admin sees all, anyone else the
    /// rows they caused.
    pub async fn transactions(&self, grant: &Grant, from: Timestamp, to: Timestamp) -> Result<Vec<Entry>> {
        grant.expect(BILLING_READ)?;
        let ctx = grant.ctx();
        let mut rows = self.db.ledger(ctx.tenant, None, from, to, 10_000).await?;
        if grant.level() < AccessLevel::Tenant {
            rows.retain(|e| e.new.user_id == Some(ctx.user()));
        }
        Ok(rows)
    }

    /// A tenant's settings (administration: the context tenant, or any for sysadmins).
    pub async fn billing_settings(&self, grant: &Grant, tenant: TenantId) -> Result<BillingSettings> {
        grant.expect(BILLING_READ)?;
        self.require_tenant_wide(grant)?;
        self.admin_tenant(grant, tenant).await?;
        Ok((*self.billing_of(tenant).await?).clone())
    }

    /// The currency `tenant` is billed in.
    pub async fn billing_currency(&self, grant: &Grant, tenant: TenantId) -> Result<Currency> {
        grant.expect(BILLING_READ)?;
        self.admin_tenant(grant, tenant).await?;
        Ok(self.billing_of(tenant).await?.currency.clone())
    }

    /// Replaces a tenant's settings (sysadmins only: the model decides who pays).
    pub async fn put_billing_settings(&self, grant: &Grant, settings: BillingSettings) -> Result<BillingSettings> {
        grant.expect(BILLING_UPDATE)?;
        if grant.level() < AccessLevel::All {
            return Err(Error::Forbidden("only a sysadmin changes billing settings".to_owned()));
        }
        self.admin_tenant(grant, settings.tenant_id).await?;
        if settings.model == BillingModel::CreditPostpay && settings.billing_address.is_none() {
            return Err(Error::invalid("billing_address", "credit_postpay needs a billing address"));
        }
        // An address is checked whenever one is given, not only when the model needs it.
        if let Some((field, message)) = settings.billing_address.iter().flat_map(|a| a.problems()).next() {
            return Err(Error::invalid(format!("billing_address.{field}"), message));
        }
        self.db.put_billing_settings(&settings).await?;
        self.cache.invalidate();
        // The paying account depends on the model: forget the remembered ones.
        self.accounts.write().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
        Ok(settings)
    }

    /// Tops up an account of `tenant` (the tenant's, or `user`'s): sysadmins only.
    pub async fn credit(
        &self,
        grant: &Grant,
        tenant: TenantId,
        user: Option<UserId>,
        amount: Money,
        description: &str,
    ) -> Result<Account> {
        grant.expect(BILLING_CREDIT)?;
        if grant.level() < AccessLevel::All {
            return Err(Error::Forbidden("only a sysadmin tops up balances".to_owned()));
        }
        self.admin_tenant(grant, tenant).await?;
        if amount <= Money::ZERO {
            return Err(Error::invalid("amount", "a top-up is a positive amount"));
        }
        if let Some(u) = user
            && self.db.membership(u, tenant).await?.is_none()
        {
            return Err(Error::NotFound("user"));
        }
        let settings = self.billing_of(tenant).await?;
        let start = if user.is_some() { settings.default_user_credit } else { Money::ZERO };
        let account = self.db.ensure_account(tenant, user, start, "start credit").await?;
        let entry = NewEntry {
            kind: TxKind::Credit,
            amount,
            user_id: Some(grant.ctx().user()),
            description: if description.trim().is_empty() { "top-up".to_owned() } else { description.to_owned() },
            reference_type: "payment".to_owned(),
            reference_id: uuid::Uuid::now_v7().to_string(),
            feature: String::new(),
            provider: String::new(),
            model: String::new(),
        };
        self.db.post_entry(&account.id, tenant, &entry).await?;
        self.db.account(tenant, user).await?.ok_or(Error::NotFound("account"))
    }

    /// The accounts of a tenant (administration).
    pub async fn billing_accounts(&self, grant: &Grant, tenant: TenantId) -> Result<Vec<Account>> {
        grant.expect(BILLING_READ)?;
        self.require_tenant_wide(grant)?;
        self.admin_tenant(grant, tenant).await?;
        Ok(self.db.accounts(tenant).await?)
    }

    /// Ledger rows of a tenant in [from, to) (administration, CSV export).
    pub async fn tenant_transactions(
        &self,
        grant: &Grant,
        tenant: TenantId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Entry>> {
        grant.expect(BILLING_READ)?;
        self.require_tenant_wide(grant)?;
        self.admin_tenant(grant, tenant).await?;
        Ok(self.db.ledger(tenant, None, from, to, 100_000).await?)
    }

    /// Ledger rows of `tenant` in [from, to) for usage statistics: an admin's cover the tenant,
    /// anyone else's the rows they caused.
    pub async fn tenant_usage(
        &self,
        grant: &Grant,
        tenant: TenantId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Entry>> {
        grant.expect(BILLING_READ)?;
        self.admin_tenant(grant, tenant).await?;
        let mut rows = self.db.ledger(tenant, None, from, to, 1_000_000).await?;
        if grant.level() < AccessLevel::Tenant {
            let me = grant.ctx().user();
            rows.retain(|e| e.new.user_id == Some(me));
        }
        Ok(rows)
    }

    /// Accounts whose balance is not the sum of their transactions (should be none):
    /// sysadmins check every tenant, admins their own.
    pub async fn verify_ledger(&self, grant: &Grant) -> Result<Vec<Mismatch>> {
        grant.expect(BILLING_READ)?;
        self.require_tenant_wide(grant)?;
        let scope = (grant.level() < AccessLevel::All).then_some(grant.ctx().tenant);
        Ok(self.db.ledger_mismatches(scope).await?)
    }

    fn require_tenant_wide(&self, grant: &Grant) -> Result<()> {
        if grant.level() < AccessLevel::Tenant {
            return Err(Error::Forbidden("this is for the tenant's administrators".to_owned()));
        }
        Ok(())
    }

    /// `tenant` is the context tenant, or the caller is a sysadmin and it exists.
    async fn admin_tenant(&self, grant: &Grant, tenant: TenantId) -> Result<()> {
        if tenant == grant.ctx().tenant {
            return Ok(());
        }
        if grant.level() >= AccessLevel::All && self.db.tenant(tenant).await?.is_some() {
            return Ok(());
        }
        Err(Error::NotFound("tenant"))
    }
}

/// The first millisecond of `month` of `year` (UTC) and of the month after.
pub fn month_bounds(year: i32, month: time::Month) -> Option<(Timestamp, Timestamp)> {
    let start = time::Date::from_calendar_date(year, month, 1).ok()?;
    // By the month's length, not the next month's first day: December 9999 has an end too.
    let start_ms = start.midnight().assume_utc().unix_timestamp() * 1000;
    let end_ms = start_ms + i64::from(month.length(year)) * 86_400_000;
    Some((Timestamp::from_millis(start_ms), Timestamp::from_millis(end_ms)))
}

/// The month before `now` (UTC) as `YYYY-MM` with its first and last-plus-one millisecond.
pub fn previous_month(now: Timestamp) -> Option<(String, Timestamp, Timestamp)> {
    let at = time::OffsetDateTime::from_unix_timestamp(now.unix_secs()).ok()?;
    let last = time::Date::from_calendar_date(at.year(), at.month(), 1).ok()?.previous_day()?;
    let (from, to) = month_bounds(last.year(), last.month())?;
    Some((format!("{:04}-{:02}", last.year(), u8::from(last.month())), from, to))
}

/// The text of a monthly report.
fn report_text(month: &str, currency: &Currency, rows: &[Entry], opening: Money, closing: Money) -> String {
    use std::collections::BTreeMap;
    let c = currency.as_str();
    let usage: Vec<&Entry> = rows.iter().filter(|e| e.new.kind == TxKind::Debit).collect();
    let total: i64 = usage.iter().map(|e| -e.new.amount.micros()).sum();
    let n = usage.len() as i64;
    let mut by = [BTreeMap::<String, i64>::new(), BTreeMap::new(), BTreeMap::new()];
    for e in &usage {
        let cost = -e.new.amount.micros();
        *by[0].entry(e.new.provider.clone()).or_default() += cost;
        *by[1].entry(e.new.feature.clone()).or_default() += cost;
        *by[2].entry(e.new.user_id.map(|u| u.to_string()).unwrap_or_default()).or_default() += cost;
    }
    let lines = |m: &BTreeMap<String, i64>, top: usize| {
        let mut v: Vec<(&String, &i64)> = m.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        v.into_iter().take(top).map(|(k, v)| format!("  {k}: {} {c}\n", Money::from_micros(*v))).collect::<String>()
    };
    format!(
        "Usage report {month}\n\n\
         Opening balance: {opening} {c}\nClosing balance: {closing} {c}\n\n\
         Total: {} {c}\nOperations: {n}\nAverage per operation: {} {c}\n\n\
         By provider:\n{}\nBy feature:\n{}\nTop 5 users:\n{}\n\
         The attached CSV holds every transaction of the month.\n",
        Money::from_micros(total),
        Money::from_micros(if n > 0 { total / n } else { 0 }),
        lines(&by[0], usize::MAX),
        lines(&by[1], usize::MAX),
        lines(&by[2], 5),
    )
}

/// Ledger rows as CSV (RFC 4180): the admin export and the monthly report's attachment.
pub fn ledger_csv(rows: &[Entry], currency: &Currency) -> String {
    fn field(s: &str) -> String {
        if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
    }
    let mut csv = String::from(
        "created_at,id,account_id,user_id,kind,amount,currency,description,reference_type,reference_id,feature,provider,model\r\n",
    );
    for e in rows {
        let fields = [
            e.created_at.to_rfc3339(),
            e.id.clone(),
            e.account_id.clone(),
            e.new.user_id.map(|u| u.to_string()).unwrap_or_default(),
            e.new.kind.as_str().to_owned(),
            e.new.amount.to_string(),
            currency.as_str().to_owned(),
            e.new.description.clone(),
            e.new.reference_type.clone(),
            e.new.reference_id.clone(),
            e.new.feature.clone(),
            e.new.provider.clone(),
            e.new.model.clone(),
        ];
        csv.push_str(&fields.iter().map(|f| field(f)).collect::<Vec<_>>().join(","));
        csv.push_str("\r\n");
    }
    csv
}

/// The settings a new tenant's billing starts from.
pub fn default_settings(tenant: TenantId, model: BillingModel, config: &BillingSettingsConfig) -> BillingSettings {
    BillingSettings {
        model,
        currency: config.default_currency.clone(),
        default_user_credit: if model == BillingModel::PrepayUser { config.root_user_credit } else { Money::ZERO },
        ..BillingSettings::unlimited(tenant)
    }
}

#[cfg(test)]
mod month_tests {
    use super::*;

    #[test]
    fn every_month_has_bounds_a_month_apart() {
        let (from, to) = month_bounds(2026, time::Month::February).unwrap();
        assert_eq!(from.to_rfc3339(), "2026-02-01T00:00:00Z");
        assert_eq!(to.to_rfc3339(), "2026-03-01T00:00:00Z");
        let (from, to) = month_bounds(2024, time::Month::February).unwrap();
        assert_eq!(to.millis() - from.millis(), 29 * 86_400_000);
        // The last month the calendar has ends too, though its next month is beyond it.
        let (from, to) = month_bounds(9999, time::Month::December).unwrap();
        assert_eq!(from.to_rfc3339(), "9999-12-01T00:00:00Z");
        assert_eq!(to.millis() - from.millis(), 31 * 86_400_000);
    }
}
