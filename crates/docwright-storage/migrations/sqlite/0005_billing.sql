-- Billing (SPEC B1-B4): settings per tenant, accounts, an append-only ledger, open reservations.
-- Money is BIGINT micro-units of the tenant's currency. An account's balance is the sum of its
-- transactions (written in the same transaction as each ledger row); reserved is the sum of its
-- open reservations. A tenant without a settings row is billed `unlimited`.
CREATE TABLE billing_settings (
    tenant_id                  TEXT PRIMARY KEY REFERENCES tenants (id),
    model                      TEXT NOT NULL,
    currency                   TEXT NOT NULL,
    default_user_credit_micros BIGINT NOT NULL,
    credit_limit_micros        BIGINT,
    warning_threshold_percent  BIGINT NOT NULL,
    block_on_zero_balance      BIGINT NOT NULL,
    notify_emails              TEXT NOT NULL,
    notify_on_warning          BIGINT NOT NULL,
    billing_address            TEXT,
    updated_at                 BIGINT NOT NULL
);

-- user_id is '' for a tenant's shared account.
CREATE TABLE billing_accounts (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    user_id         TEXT NOT NULL,
    account_type    TEXT NOT NULL,
    balance_micros  BIGINT NOT NULL,
    reserved_micros BIGINT NOT NULL,
    enabled         BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    UNIQUE (tenant_id, user_id)
);

-- Append-only. amount_micros is signed: credits positive, debits negative.
CREATE TABLE billing_transactions (
    id             TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL REFERENCES billing_accounts (id),
    tenant_id      TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    kind           TEXT NOT NULL,
    amount_micros  BIGINT NOT NULL,
    description    TEXT NOT NULL,
    reference_type TEXT NOT NULL,
    reference_id   TEXT NOT NULL,
    feature        TEXT NOT NULL,
    provider       TEXT NOT NULL,
    model          TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX billing_transactions_by_account ON billing_transactions (account_id, created_at);
CREATE INDEX billing_transactions_by_tenant ON billing_transactions (tenant_id, created_at);

-- Money held for calls in flight, by the process (instance) that holds it.
CREATE TABLE billing_reservations (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES billing_accounts (id),
    amount_micros BIGINT NOT NULL,
    instance_id   TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX billing_reservations_by_instance ON billing_reservations (instance_id);

-- Running server processes and their last sign of life: the reservations of a process that
-- stopped beating are released by the others (or by its successor).
CREATE TABLE instances (
    id           TEXT PRIMARY KEY,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);
