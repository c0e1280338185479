-- Notices (SPEC B7): e-mails to a tenant's billing contacts — low-balance warnings, monthly
-- reports — kept for download and sent through an outbox. Enqueueing is this insert and nothing
-- else; a delivery loop sends due rows later. It claims a row by moving next_attempt_at forward
-- (a lease) before sending, so two replicas never send one notice at the same time.
-- status: pending (send at next_attempt_at), sent, failed (given up; last_error says why),
-- unsent (no SMTP server configured). recipients: a JSON array of addresses. dedupe_key: the
-- caller's key for "once per threshold crossing" / "once per month", unique within the tenant.
CREATE TABLE notices (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind             TEXT NOT NULL,
    recipients       TEXT NOT NULL,
    subject          TEXT NOT NULL,
    body             TEXT NOT NULL,
    attachment_name  TEXT,
    attachment       TEXT,
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    sent_at          BIGINT,
    dedupe_key       TEXT,
    UNIQUE (tenant_id, dedupe_key)
);
CREATE INDEX notices_due ON notices (status, next_attempt_at);
CREATE INDEX notices_tenant ON notices (tenant_id, id);
