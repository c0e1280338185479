-- Generation workflows (SPEC W1-W4): the request, the job that runs it, its state, and what a
-- run leaves behind — progress events (replayed by Last-Event-ID), the operation tree, the
-- answers of its AI calls by a key stable across runs (so a run taken up again after a crash
-- replays what it already paid for), debug files, and its result files.
--
-- status: queued | running | completed | failed | cancelled. A status that is not final while
-- its job is (a run that died out of attempts) is read as the job's outcome.
-- file_ids and allowed_providers are JSON arrays. Credential columns as for ai_requests: the run
-- acts as the submitter.
CREATE TABLE workflows (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants (id),
    user_id           TEXT NOT NULL,
    credential_kind   TEXT NOT NULL,
    credential_id     TEXT NOT NULL,
    credential_tenant TEXT,
    job_id            TEXT NOT NULL REFERENCES jobs (id),
    prompt            TEXT NOT NULL,
    file_ids          TEXT NOT NULL,
    project_id        TEXT,
    output_format     TEXT,
    title             TEXT,
    allowed_providers TEXT,
    model_profile     TEXT,
    debug_trace       BIGINT NOT NULL,
    status            TEXT NOT NULL,
    phase             TEXT,
    progress          BIGINT NOT NULL DEFAULT 0,
    error_code        TEXT,
    error_message     TEXT,
    answer            TEXT,
    detected_language TEXT,
    cost_micros       BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    started_at        BIGINT,
    finished_at       BIGINT
);
CREATE INDEX workflows_by_tenant ON workflows (tenant_id, id);
CREATE INDEX workflows_by_job ON workflows (job_id);

-- Events in the order they happened; ids are UUIDv7, so `id > last` resumes a stream.
CREATE TABLE workflow_events (
    id          TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    event       TEXT NOT NULL,
    data        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX workflow_events_by_workflow ON workflow_events (workflow_id, id);

-- The W4 tree: one row per operation (replaced as it ends); ai is JSON on AI call leaves.
CREATE TABLE workflow_log (
    workflow_id TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    op_id       TEXT NOT NULL,
    parent_id   TEXT,
    title       TEXT NOT NULL,
    label       TEXT NOT NULL,
    message     TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT,
    outcome     TEXT,
    error       TEXT,
    cost_micros BIGINT NOT NULL,
    ai          TEXT,
    seq         BIGINT NOT NULL,
    PRIMARY KEY (workflow_id, op_id)
);

CREATE TABLE workflow_checkpoints (
    workflow_id TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    call_key    TEXT NOT NULL,
    answer      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (workflow_id, call_key)
);

CREATE TABLE workflow_debug (
    workflow_id TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    content     TEXT NOT NULL,
    PRIMARY KEY (workflow_id, name)
);

-- A result file per key (stable across runs, so a re-run stores nothing twice).
CREATE TABLE workflow_results (
    workflow_id TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    result_key  TEXT NOT NULL,
    file_id     TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (workflow_id, result_key)
);
