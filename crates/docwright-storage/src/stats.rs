//! AI call statistics (SPEC A5): one append-only row per attempt.

use docwright_core::id::{AiRequestId, ApiKeyId, AutomationId, ChatId, TenantId, UserId, WorkflowId};
use docwright_core::money::Money;
use docwright_core::time::Timestamp;
use sqlx::Row as _;

use crate::{Db, Result, parse_col};

/// One AI call attempt as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiStat {
    pub id: uuid::Uuid,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub api_key_id: Option<ApiKeyId>,
    /// What asked, e.g. `api.chat.completions`, `ai.process.document`.
    pub process: String,
    /// `ai.<provider>.<model>`.
    pub engine: String,
    pub provider: String,
    pub model: String,
    pub price: Money,
    pub processing_time_ms: i64,
    pub bytes_sent: i64,
    pub bytes_received: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub error_count: i64,
    pub error: Option<String>,
    /// The failure's stable kind (`timeout`, `upstream_5xx`, ...), with `error`.
    pub error_kind: Option<String>,
    /// The asynchronous AI request the call was made for.
    pub request_id: Option<AiRequestId>,
    /// The workflow the call was made for.
    pub workflow_id: Option<WorkflowId>,
    /// The chat the call was made for.
    pub chat_id: Option<ChatId>,
    /// The automation definition whose run made the call (with its `workflow_id`).
    pub automation_id: Option<AutomationId>,
    pub created_at: Timestamp,
}

const INSERT: &str = "INSERT INTO ai_stats (id, tenant_id, user_id, api_key_id, process, engine, provider, model, \
     price_micros, processing_time_ms, bytes_sent, bytes_received, input_tokens, output_tokens, error_count, error, \
     created_at, request_id, workflow_id, chat_id, error_kind, automation_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
     $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)";

impl Db {
    pub async fn insert_ai_stat(&self, s: &AiStat) -> Result<()> {
        bind(sqlx::query(INSERT), s).execute(self.writer()).await?;
        Ok(())
    }

    /// Appends several stats in one transaction (the gateway's batched writer).
    pub async fn insert_ai_stats(&self, stats: &[AiStat]) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        for s in stats {
            bind(sqlx::query(INSERT), s).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A tenant's stats, newest last (for tests and reports).
    pub async fn ai_stats(&self, tenant: TenantId) -> Result<Vec<AiStat>> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, user_id, api_key_id, process, engine, provider, model, price_micros, processing_time_ms, \
             bytes_sent, bytes_received, input_tokens, output_tokens, error_count, error, created_at, request_id, workflow_id, \
             chat_id, error_kind, automation_id FROM ai_stats WHERE tenant_id = $1 ORDER BY id",
        )
        .bind(tenant.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AiStat {
                    id: parse_col(r, "id", uuid::Uuid::parse_str)?,
                    tenant_id: parse_col(r, "tenant_id", TenantId::parse)?,
                    user_id: parse_col(r, "user_id", UserId::parse)?,
                    api_key_id: crate::parse_opt_col(r, "api_key_id", ApiKeyId::parse)?,
                    process: r.try_get("process")?,
                    engine: r.try_get("engine")?,
                    provider: r.try_get("provider")?,
                    model: r.try_get("model")?,
                    price: Money::from_micros(r.try_get("price_micros")?),
                    processing_time_ms: r.try_get("processing_time_ms")?,
                    bytes_sent: r.try_get("bytes_sent")?,
                    bytes_received: r.try_get("bytes_received")?,
                    input_tokens: r.try_get("input_tokens")?,
                    output_tokens: r.try_get("output_tokens")?,
                    error_count: r.try_get("error_count")?,
                    error: r.try_get("error")?,
                    error_kind: r.try_get("error_kind")?,
                    request_id: crate::parse_opt_col(r, "request_id", AiRequestId::parse)?,
                    workflow_id: crate::parse_opt_col(r, "workflow_id", WorkflowId::parse)?,
                    chat_id: crate::parse_opt_col(r, "chat_id", ChatId::parse)?,
                    automation_id: crate::parse_opt_col(r, "automation_id", AutomationId::parse)?,
                    created_at: Timestamp::from_millis(r.try_get("created_at")?),
                })
            })
            .collect()
    }
}

/// Binds a stat's columns to [`INSERT`].
fn bind<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    s: &AiStat,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    q.bind(s.id.to_string())
        .bind(s.tenant_id.to_string())
        .bind(s.user_id.to_string())
        .bind(s.api_key_id.map(|k| k.to_string()))
        .bind(s.process.clone())
        .bind(s.engine.clone())
        .bind(s.provider.clone())
        .bind(s.model.clone())
        .bind(s.price.micros())
        .bind(s.processing_time_ms)
        .bind(s.bytes_sent)
        .bind(s.bytes_received)
        .bind(s.input_tokens)
        .bind(s.output_tokens)
        .bind(s.error_count)
        .bind(s.error.clone())
        .bind(s.created_at.millis())
        .bind(s.request_id.map(|r| r.to_string()))
        .bind(s.workflow_id.map(|w| w.to_string()))
        .bind(s.chat_id.map(|c| c.to_string()))
        .bind(s.error_kind.clone())
        .bind(s.automation_id.map(|a| a.to_string()))
}

/// A tenant's AI calls over a period (SPEC P7 `GET /api/metrics`): every attempt counts as a
/// request, failed ones also as errors by kind.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TenantMetrics {
    pub requests: i64,
    pub errors: i64,
    pub processing_time_ms: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost: Money,
    /// (kind, count), most frequent first; `other` for attempts recorded without a kind.
    pub errors_by_kind: Vec<(String, i64)>,
    /// The same per (provider, model), by requests.
    pub models: Vec<ModelMetrics>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelMetrics {
    pub provider: String,
    pub model: String,
    pub requests: i64,
    pub errors: i64,
    pub processing_time_ms: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost: Money,
}

impl Db {
    /// [`TenantMetrics`] of `tenant` from `from` (inclusive) to `to` (exclusive).
    pub async fn tenant_metrics(&self, tenant: TenantId, from: Timestamp, to: Timestamp) -> Result<TenantMetrics> {
        let sums = "CAST(COUNT(*) AS BIGINT) AS requests, CAST(COALESCE(SUM(error_count), 0) AS BIGINT) AS errors, \
             CAST(COALESCE(SUM(processing_time_ms), 0) AS BIGINT) AS ms, CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT) AS tin, \
             CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT) AS tout, CAST(COALESCE(SUM(price_micros), 0) AS BIGINT) AS cost";
        let period = "tenant_id = $1 AND created_at >= $2 AND created_at < $3";
        let rows = sqlx::query(crate::trusted(format!(
            "SELECT provider, model, {sums} FROM ai_stats WHERE {period} GROUP BY provider, model \
             ORDER BY requests DESC, provider, model"
        )))
        .bind(tenant.to_string())
        .bind(from.millis())
        .bind(to.millis())
        .fetch_all(self.pool())
        .await?;
        let mut out = TenantMetrics::default();
        for r in &rows {
            let m = ModelMetrics {
                provider: r.try_get("provider")?,
                model: r.try_get("model")?,
                requests: r.try_get("requests")?,
                errors: r.try_get("errors")?,
                processing_time_ms: r.try_get("ms")?,
                input_tokens: r.try_get("tin")?,
                output_tokens: r.try_get("tout")?,
                cost: Money::from_micros(r.try_get("cost")?),
            };
            out.requests += m.requests;
            out.errors += m.errors;
            out.processing_time_ms += m.processing_time_ms;
            out.input_tokens += m.input_tokens;
            out.output_tokens += m.output_tokens;
            out.cost = Money::from_micros(out.cost.micros() + m.cost.micros());
            out.models.push(m);
        }
        let kinds = sqlx::query(crate::trusted(format!(
            "SELECT COALESCE(error_kind, 'other') AS kind, CAST(COUNT(*) AS BIGINT) AS n FROM ai_stats \
             WHERE {period} AND error_count > 0 GROUP BY COALESCE(error_kind, 'other') ORDER BY n DESC, kind"
        )))
        .bind(tenant.to_string())
        .bind(from.millis())
        .bind(to.millis())
        .fetch_all(self.pool())
        .await?;
        for r in &kinds {
            out.errors_by_kind.push((r.try_get("kind")?, r.try_get("n")?));
        }
        Ok(out)
    }
}
