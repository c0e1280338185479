-- CRM document sync (SPEC Y1-Y4): sources (an EspoCRM connection of a tenant and its sinks),
-- the events its webhooks and the reconciler delivered, and each synced document's state.
--
-- Secrets (api_key, webhook_secret, xai_api_key, xai_management_key) are sealed by the engine;
-- this stores ciphertext only. settings is JSON: entity type, field map, status values, the
-- links that decide the collections, and the sinks. owner_id is the user whose files the
-- synced documents become (their role at run time). reconciled_at is claimed with a
-- conditional update, so of several replicas one reconciles a source per interval.
CREATE TABLE sync_sources (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL REFERENCES tenants (id),
    name               TEXT NOT NULL,
    kind               TEXT NOT NULL,
    base_url           TEXT NOT NULL,
    api_key            TEXT NOT NULL,
    webhook_id         TEXT,
    webhook_secret     TEXT NOT NULL,
    xai_api_key        TEXT,
    xai_management_key TEXT,
    settings           TEXT NOT NULL,
    owner_id           TEXT NOT NULL,
    active             BIGINT NOT NULL,
    reconciled_at      BIGINT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX sync_sources_by_tenant ON sync_sources (tenant_id, id);

-- One row per record of a delivery (an EspoCRM webhook carries a JSON array of records), or per
-- reconcile finding or forced resync. digest is the SHA-256 of the action and the record's
-- bytes: the same delivery twice stores (and enqueues) once.
CREATE TABLE sync_events (
    id          TEXT PRIMARY KEY,
    source_id   TEXT NOT NULL REFERENCES sync_sources (id) ON DELETE CASCADE,
    tenant_id   TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    action      TEXT NOT NULL,
    digest      TEXT NOT NULL,
    payload     TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX sync_events_once ON sync_events (source_id, digest);
CREATE INDEX sync_events_by_entity ON sync_events (source_id, entity_id, received_at);

-- A synced document: state pending | syncing | synced | failed | deleted; what was last synced
-- (hashes, docwright file, xAI file, collections as JSON arrays), the CRM's modifiedAt as last
-- seen (the reconciler's change test), the last event and error; read_at: when the last sync
-- that ended read the CRM's record (a job for an event received before that has nothing left
-- to do). lock_owner / lock_until: one
-- worker per document across replicas, taken with a conditional update, released at the end,
-- free again after lock_until when a worker died holding it.
CREATE TABLE sync_documents (
    source_id          TEXT NOT NULL REFERENCES sync_sources (id) ON DELETE CASCADE,
    entity_id          TEXT NOT NULL,
    tenant_id          TEXT NOT NULL,
    state              TEXT NOT NULL,
    file_id            TEXT,
    sha256             TEXT,
    md5                TEXT,
    xai_file_id        TEXT,
    xai_collections    TEXT NOT NULL,
    collections        TEXT NOT NULL,
    preview_sha256     TEXT,
    remote_modified_at TEXT,
    last_event         TEXT,
    last_event_at      BIGINT,
    last_error         TEXT,
    attempts           BIGINT NOT NULL DEFAULT 0,
    lock_owner         TEXT,
    lock_until         BIGINT,
    synced_at          BIGINT,
    read_at            BIGINT,
    updated_at         BIGINT NOT NULL,
    PRIMARY KEY (source_id, entity_id)
);
