-- One row per AI call attempt (SPEC A5), append-only. Money in integer micro-units.
CREATE TABLE ai_stats (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id             TEXT NOT NULL,
    api_key_id          TEXT,
    workflow_id         TEXT,
    chat_id             TEXT,
    process             TEXT NOT NULL,
    engine              TEXT NOT NULL,
    provider            TEXT NOT NULL,
    model               TEXT NOT NULL,
    price_micros        BIGINT NOT NULL,
    processing_time_ms  BIGINT NOT NULL,
    bytes_sent          BIGINT NOT NULL,
    bytes_received      BIGINT NOT NULL,
    input_tokens        BIGINT NOT NULL,
    output_tokens       BIGINT NOT NULL,
    error_count         BIGINT NOT NULL,
    error               TEXT,
    created_at          BIGINT NOT NULL
);
CREATE INDEX ai_stats_tenant_time ON ai_stats (tenant_id, created_at);
