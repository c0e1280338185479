-- Chats with documents (SPEC C1-C3): chats and their messages, the turns that answer a
-- question (each with its job, its events and its operation tree), and role prompts.
--
-- A turn is one question and its answer: stored with the job that generates the answer, in one
-- transaction. Its events are rows numbered per turn (seq 1, 2, ...), so a stream resumes after
-- `<turn id>:<seq>` on any replica. At most one turn of a chat is active (queued or running):
-- the partial unique index makes a second message to a busy chat fail at its insert.
-- status of a turn: queued | running | completed | failed; of a message: the same (a user's
-- message is completed when stored). JSON columns: attached_file_ids, allowed_providers
-- (arrays), sources (an array of objects), names (an object of language -> name).
CREATE TABLE chats (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    user_id     TEXT NOT NULL,
    title       TEXT NOT NULL,
    description TEXT,
    project_id  TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX chats_by_tenant ON chats (tenant_id, user_id, id);

CREATE TABLE chat_messages (
    id                TEXT PRIMARY KEY,
    chat_id           TEXT NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    turn_id           TEXT NOT NULL,
    role              TEXT NOT NULL,
    content           TEXT NOT NULL,
    status            TEXT NOT NULL,
    attached_file_ids TEXT NOT NULL,
    model             TEXT,
    provider          TEXT,
    price_micros      BIGINT NOT NULL DEFAULT 0,
    input_tokens      BIGINT NOT NULL DEFAULT 0,
    output_tokens     BIGINT NOT NULL DEFAULT 0,
    sources           TEXT NOT NULL DEFAULT '[]',
    error_code        TEXT,
    error_message     TEXT,
    created_at        BIGINT NOT NULL,
    finished_at       BIGINT
);
CREATE INDEX chat_messages_by_chat ON chat_messages (chat_id, id);

CREATE TABLE chat_turns (
    id                   TEXT PRIMARY KEY,
    chat_id              TEXT NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    tenant_id            TEXT NOT NULL,
    user_id              TEXT NOT NULL,
    credential_kind      TEXT NOT NULL,
    credential_id        TEXT NOT NULL,
    credential_tenant    TEXT,
    job_id               TEXT NOT NULL REFERENCES jobs (id),
    user_message_id      TEXT NOT NULL,
    assistant_message_id TEXT NOT NULL,
    message              TEXT NOT NULL,
    attached_file_ids    TEXT NOT NULL,
    model_profile        TEXT NOT NULL,
    allowed_providers    TEXT,
    role_prompt_id       TEXT,
    status               TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    finished_at          BIGINT
);
CREATE INDEX chat_turns_by_chat ON chat_turns (chat_id, id);
CREATE UNIQUE INDEX chat_turns_one_active ON chat_turns (chat_id) WHERE status IN ('queued', 'running');

CREATE TABLE chat_events (
    turn_id    TEXT NOT NULL REFERENCES chat_turns (id) ON DELETE CASCADE,
    seq        BIGINT NOT NULL,
    event      TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (turn_id, seq)
);

-- The progress tree of a turn: one row per operation (replaced as it ends).
CREATE TABLE chat_log (
    turn_id     TEXT NOT NULL REFERENCES chat_turns (id) ON DELETE CASCADE,
    op_id       TEXT NOT NULL,
    parent_id   TEXT,
    title       TEXT NOT NULL,
    message     TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT,
    outcome     TEXT,
    error       TEXT,
    cost_micros BIGINT NOT NULL,
    seq         BIGINT NOT NULL,
    PRIMARY KEY (turn_id, op_id)
);

-- Role prompts: tenant_id NULL for the installation's own (seeded below), else a tenant's.
CREATE TABLE role_prompts (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT REFERENCES tenants (id) ON DELETE CASCADE,
    names      TEXT NOT NULL,
    prompt     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX role_prompts_by_tenant ON role_prompts (tenant_id, id);

INSERT INTO role_prompts (id, tenant_id, names, prompt, created_at, updated_at) VALUES
('01900000-0000-7000-8000-00000000c301', NULL,
 '{"en":"Engineer","de":"Ingenieur","fr":"Ingénieur","it":"Ingegnere","ru":"Инженер"}',
 'You are an experienced building services and construction engineer. Read drawings, specifications and schedules precisely: name equipment, systems, dimensions and locations exactly as the documents give them, point out conflicts with common engineering practice, and say when a value is not in the documents.',
 0, 0),
('01900000-0000-7000-8000-00000000c302', NULL,
 '{"en":"Lawyer","de":"Jurist","fr":"Juriste","it":"Avvocato","ru":"Юрист"}',
 'You are a careful lawyer. Quote the clauses your answer rests on, distinguish obligations, rights, deadlines and conditions, flag ambiguities and risks, and never present an assumption as the content of a document.',
 0, 0),
('01900000-0000-7000-8000-00000000c303', NULL,
 '{"en":"Accountant","de":"Buchhalter","fr":"Comptable","it":"Contabile","ru":"Бухгалтер"}',
 'You are a meticulous accountant. Work with exact amounts, currencies, dates and VAT as the documents state them, show how totals are reached, and point out missing or inconsistent figures.',
 0, 0),
('01900000-0000-7000-8000-00000000c304', NULL,
 '{"en":"Project manager","de":"Projektleiter","fr":"Chef de projet","it":"Capo progetto","ru":"Руководитель проекта"}',
 'You are a pragmatic project manager. Summarise scope, responsibilities, milestones, open points and risks from the documents, and suggest concrete next steps.',
 0, 0);
