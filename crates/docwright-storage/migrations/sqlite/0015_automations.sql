-- Automations (SPEC T2-T4): templates (workflow JSON with {{KEY:name}} placeholders and no
-- values), definitions (a copy of a template with values, a cron schedule in a time zone) and
-- their runs, each a workflow.
--
-- Templates with tenant_id NULL are the installation's starter set (seeded when the table is
-- empty), read by everyone and edited by sysadmins. label and overview are JSON objects by
-- language.
CREATE TABLE automation_templates (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT REFERENCES tenants (id),
    label           TEXT NOT NULL,
    overview        TEXT NOT NULL,
    template        TEXT NOT NULL,
    created_by      TEXT,
    created_by_name TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX automation_templates_by_tenant ON automation_templates (tenant_id, id);

-- A definition runs as its owner (user_id, their role at run time). placeholders is a JSON
-- object of name -> value, allowed_providers a JSON array or NULL. next_run_at is the next slot
-- (ms) while active: a scheduler claims a slot by moving it on with a conditional update, so of
-- several replicas one runs it. missed_policy: skip | run_once. retry_at: after a failure to
-- start a run, the scheduler waits until then (failures counts them, reset by a started run).
CREATE TABLE automation_definitions (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants (id),
    user_id           TEXT NOT NULL,
    label             TEXT NOT NULL,
    template          TEXT NOT NULL,
    placeholders      TEXT NOT NULL,
    schedule          TEXT NOT NULL,
    timezone          TEXT NOT NULL,
    active            BIGINT NOT NULL,
    missed_policy     TEXT NOT NULL,
    allowed_providers TEXT,
    model_profile     TEXT,
    output_format     TEXT,
    status            TEXT NOT NULL,
    last_error        TEXT,
    next_run_at       BIGINT,
    failures          BIGINT NOT NULL DEFAULT 0,
    retry_at          BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX automation_definitions_by_tenant ON automation_definitions (tenant_id, id);
CREATE INDEX automation_definitions_due ON automation_definitions (active, next_run_at);

-- The execution log: one row per slot (unique, so a slot runs once whatever the replicas) or per
-- run-now (slot_at NULL). trigger: schedule | catch_up | manual. status: started (its workflow
-- tells the rest) | refused (budget) | failed (could not start) | skipped (slots missed while no
-- scheduler ran, under the skip policy).
CREATE TABLE automation_runs (
    id            TEXT PRIMARY KEY,
    definition_id TEXT NOT NULL REFERENCES automation_definitions (id) ON DELETE CASCADE,
    tenant_id     TEXT NOT NULL,
    slot_at       BIGINT,
    run_trigger   TEXT NOT NULL,
    status        TEXT NOT NULL,
    workflow_id   TEXT,
    error_code    TEXT,
    error_message TEXT,
    created_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX automation_runs_one_per_slot ON automation_runs (definition_id, slot_at);
CREATE INDEX automation_runs_by_definition ON automation_runs (definition_id, id);

-- A workflow started by an automation: a fixed plan (JSON tasks) instead of planning, and the
-- definition its costs are booked to (feature `automation`).
ALTER TABLE workflows ADD COLUMN plan TEXT;
ALTER TABLE workflows ADD COLUMN automation_id TEXT;
ALTER TABLE workflows ADD COLUMN instructions TEXT;
ALTER TABLE ai_stats ADD COLUMN automation_id TEXT;
-- A tenant's time zone (IANA name), the default of its automations; NULL: the configured one.
ALTER TABLE tenants ADD COLUMN timezone TEXT;
