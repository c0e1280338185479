-- The kind of a failed attempt (`timeout`, `rate_limited`, `upstream_5xx`, ...: the provider
-- error's stable name), so statistics count errors by type (SPEC P7 `GET /api/metrics`)
-- without parsing messages. Attempts recorded before this migration have none.
ALTER TABLE ai_stats ADD COLUMN error_kind TEXT;
