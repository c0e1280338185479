-- The durable job queue (SPEC S2) and the asynchronous AI requests that run on it (SPEC W1).
--
-- A job is one row: state available -> running -> completed | retryable | discarded |
-- cancelled (retryable goes back to running when its run_at comes). A worker claims due rows in
-- order of priority (higher first), then run_at, then id: the row becomes running with
-- attempt + 1, a fresh attempt_id (the fencing token of this claim), the worker's process id and
-- a lease (lease_until) that the worker extends while it runs. Every later write of the worker
-- (progress, lease, completion, failure) names the attempt_id, so a worker whose lease ran out
-- and whose job was rescued and claimed again can no longer change it. The rescuer turns running
-- rows with an expired lease into retryable (or discarded once max_attempts were started).
-- attempt_id stays on a finished row: it names the attempt that finished it.
-- payload and result are JSON text; progress is JSON text ({"percent", "phase"}); error_code is
-- a stable snake_case code beside the message in last_error. timeout_ms NULL: the kind's.
-- tenant_id NULL: a system job. unique_key: at most one pending (available, running,
-- retryable) job per kind, tenant and key; enqueueing a second returns the first.
CREATE TABLE jobs (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    tenant_id        TEXT,
    payload          TEXT NOT NULL,
    state            TEXT NOT NULL,
    priority         BIGINT NOT NULL,
    run_at           BIGINT NOT NULL,
    attempt          BIGINT NOT NULL,
    max_attempts     BIGINT NOT NULL,
    attempt_id       TEXT,
    lease_until      BIGINT,
    worker           TEXT,
    timeout_ms       BIGINT,
    unique_key       TEXT,
    result           TEXT,
    error_code       TEXT,
    last_error       TEXT,
    cancel_requested BIGINT NOT NULL DEFAULT 0,
    progress         TEXT,
    created_at       BIGINT NOT NULL,
    started_at       BIGINT,
    finished_at      BIGINT
);
CREATE INDEX jobs_claim ON jobs (priority DESC, run_at, id) WHERE state IN ('available', 'retryable');
CREATE INDEX jobs_leases ON jobs (lease_until) WHERE state = 'running';
CREATE INDEX jobs_by_state ON jobs (state, kind);
CREATE INDEX jobs_by_tenant ON jobs (tenant_id, id);
CREATE UNIQUE INDEX jobs_unique ON jobs (kind, COALESCE(tenant_id, ''), unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('available', 'running', 'retryable');

-- An asynchronous AI request (POST /api/ai/process): what was asked, by whom (the credential
-- is named so the call at run time is authorised and recorded as the submitter's), the job that
-- runs it, and the answer once it completed. Its status is the job's state; the answer is
-- written in the same transaction as the call's settlement and the job's completion.
-- input_data and result_data are JSON 2-D arrays; allowed_providers a JSON array.
CREATE TABLE ai_requests (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants (id),
    user_id           TEXT NOT NULL,
    credential_kind   TEXT NOT NULL,
    credential_id     TEXT NOT NULL,
    credential_tenant TEXT,
    job_id            TEXT NOT NULL REFERENCES jobs (id),
    query_text        TEXT NOT NULL,
    category          TEXT,
    input_range       TEXT,
    input_data        TEXT,
    model_profile     TEXT,
    allowed_providers TEXT,
    created_at        BIGINT NOT NULL,
    result_text       TEXT,
    result_data       TEXT,
    model             TEXT,
    provider          TEXT,
    price_micros      BIGINT,
    currency          TEXT,
    input_tokens      BIGINT,
    output_tokens     BIGINT,
    completed_at      BIGINT
);
CREATE INDEX ai_requests_by_tenant ON ai_requests (tenant_id, id);

-- The AI request an AI call was made for (its stats carry it, like workflow_id and chat_id).
ALTER TABLE ai_stats ADD COLUMN request_id TEXT;

-- LISTEN/NOTIFY (PostgreSQL only): a cancellation asked for a running job notifies channel
-- docwright_job_cancel (payload: its id), so the server running it stops it without waiting for
-- its next heartbeat; the trigger keeps the queue's SQL one text for both databases. (Jobs that
-- become available are announced on channel docwright_jobs by the enqueuing process after its
-- commit, not by a trigger: a NOTIFY inside the enqueuing transaction would serialise every
-- enqueue behind one database-wide lock until its commit is flushed.)
CREATE FUNCTION docwright_job_cancel_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('docwright_job_cancel', NEW.id);
    RETURN NULL;
END
$$;
CREATE TRIGGER jobs_cancel_requested AFTER UPDATE OF cancel_requested ON jobs FOR EACH ROW
    WHEN (NEW.cancel_requested = 1 AND OLD.cancel_requested = 0) EXECUTE FUNCTION docwright_job_cancel_notify();
