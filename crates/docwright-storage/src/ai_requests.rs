//! Asynchronous AI requests (SPEC W1, `POST /api/ai/process`): what was asked, by whom, the
//! job that runs it, and the answer once it completed. Tenant-scoped like every tenant record.
//!
//! A request is stored together with its job ([`WriteTx::insert_ai_request`] beside
//! [`WriteTx::enqueue`]), and its answer together with the call's settlement and the job's
//! completion ([`WriteTx::store_ai_answer`]), so a request is never accepted without a job to
//! run it, and never answered without being paid for (or the other way round).

use docwright_core::id::{AiRequestId, JobId, PromptPresetId, TenantId, UserId};
use docwright_core::money::Money;
use docwright_core::time::Timestamp;
use serde_json::Value;
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::jobs::{Job, Scope};
use crate::{Db, Error, Result, WriteTx, parse_col, parse_opt_col, trusted};

/// A request as submitted.
#[derive(Debug, Clone, PartialEq)]
pub struct AiRequestRecord {
    pub id: AiRequestId,
    pub tenant_id: TenantId,
    /// Who submitted it: the call at run time is made, authorised and recorded as them.
    pub user_id: UserId,
    /// The credential it was submitted with: `session` or `api_key`, its id, and the tenant it
    /// is bound to (if any). Ids only: no secret is stored.
    pub credential_kind: String,
    pub credential_id: String,
    pub credential_tenant: Option<TenantId>,
    pub job_id: JobId,
    pub query: AiQuery,
    pub created_at: Timestamp,
    /// Set once the request completed.
    pub answer: Option<AiAnswer>,
}

/// What was asked: the fields of `POST /api/ai/process`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AiQuery {
    pub query_text: String,
    /// What kind of work: the key of a prompt library category (`analysis`, `transformation`).
    pub category: Option<String>,
    /// Where `input_data` came from, e.g. `A1:D10`.
    pub input_range: Option<String>,
    /// A JSON 2-D array of cells.
    pub input_data: Option<Value>,
    /// `simple` or `complex`: which models `auto` prefers (default: the user's setting).
    pub model_profile: Option<String>,
    /// Only these providers may serve it (besides what the caller's role allows).
    pub allowed_providers: Option<Vec<String>>,
    /// The prompt library's preset it named (SPEC T1).
    pub preset_id: Option<PromptPresetId>,
    /// The system prompt its category or preset resolved to when it was submitted: the job's
    /// call is made with this text (not set by the caller: the engine resolves it).
    pub system_prompt: Option<String>,
}

/// What a completed request answered, and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct AiAnswer {
    pub text: String,
    /// A JSON 2-D array of cells, for spreadsheet requests.
    pub result_data: Option<Value>,
    pub model: String,
    pub provider: String,
    pub price: Money,
    pub currency: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub completed_at: Timestamp,
}

const COLS: &str = "id, tenant_id, user_id, credential_kind, credential_id, credential_tenant, job_id, query_text, \
     category, input_range, input_data, model_profile, allowed_providers, created_at, result_text, result_data, \
     model, provider, price_micros, currency, input_tokens, output_tokens, completed_at, preset_id, system_prompt";

fn json_col(r: &AnyRow, col: &str) -> Result<Option<Value>> {
    let raw: Option<String> = r.try_get(col)?;
    raw.map(|s| serde_json::from_str(&s).map_err(|e| Error::Corrupt(format!("ai_requests.{col}: {e}")))).transpose()
}

fn tokens(r: &AnyRow, col: &str) -> Result<u64> {
    let n: Option<i64> = r.try_get(col)?;
    Ok(n.unwrap_or(0).max(0) as u64)
}

fn from_row(r: &AnyRow) -> Result<AiRequestRecord> {
    let allowed = match json_col(r, "allowed_providers")? {
        Some(v) => Some(serde_json::from_value(v).map_err(|e| Error::Corrupt(format!("allowed_providers: {e}")))?),
        None => None,
    };
    let answer = match r.try_get::<Option<String>, _>("result_text")? {
        Some(text) => Some(AiAnswer {
            text,
            result_data: json_col(r, "result_data")?,
            model: r.try_get::<Option<String>, _>("model")?.unwrap_or_default(),
            provider: r.try_get::<Option<String>, _>("provider")?.unwrap_or_default(),
            price: Money::from_micros(r.try_get::<Option<i64>, _>("price_micros")?.unwrap_or(0)),
            currency: r.try_get::<Option<String>, _>("currency")?.unwrap_or_default(),
            input_tokens: tokens(r, "input_tokens")?,
            output_tokens: tokens(r, "output_tokens")?,
            completed_at: Timestamp::from_millis(r.try_get::<Option<i64>, _>("completed_at")?.unwrap_or(0)),
        }),
        None => None,
    };
    Ok(AiRequestRecord {
        id: parse_col(r, "id", AiRequestId::parse)?,
        tenant_id: parse_col(r, "tenant_id", TenantId::parse)?,
        user_id: parse_col(r, "user_id", UserId::parse)?,
        credential_kind: r.try_get("credential_kind")?,
        credential_id: r.try_get("credential_id")?,
        credential_tenant: parse_opt_col(r, "credential_tenant", TenantId::parse)?,
        job_id: parse_col(r, "job_id", JobId::parse)?,
        query: AiQuery {
            query_text: r.try_get("query_text")?,
            category: r.try_get("category")?,
            input_range: r.try_get("input_range")?,
            input_data: json_col(r, "input_data")?,
            model_profile: r.try_get("model_profile")?,
            allowed_providers: allowed,
            preset_id: parse_opt_col(r, "preset_id", PromptPresetId::parse)?,
            system_prompt: r.try_get("system_prompt")?,
        },
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
        answer,
    })
}

impl WriteTx {
    /// Stores a submitted request (its job must be enqueued first, in the same transaction).
    pub async fn insert_ai_request(&mut self, r: &AiRequestRecord) -> Result<()> {
        let q = &r.query;
        let allowed = q
            .allowed_providers
            .as_ref()
            .map(|a| serde_json::to_string(a).map_err(|e| Error::Corrupt(e.to_string())))
            .transpose()?;
        sqlx::query(
            "INSERT INTO ai_requests (id, tenant_id, user_id, credential_kind, credential_id, credential_tenant, \
             job_id, query_text, category, input_range, input_data, model_profile, allowed_providers, created_at, \
             preset_id, system_prompt) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(r.id.to_string())
        .bind(r.tenant_id.to_string())
        .bind(r.user_id.to_string())
        .bind(r.credential_kind.clone())
        .bind(r.credential_id.clone())
        .bind(r.credential_tenant.map(|t| t.to_string()))
        .bind(r.job_id.to_string())
        .bind(q.query_text.clone())
        .bind(q.category.clone())
        .bind(q.input_range.clone())
        .bind(q.input_data.as_ref().map(Value::to_string))
        .bind(q.model_profile.clone())
        .bind(allowed)
        .bind(r.created_at.millis())
        .bind(q.preset_id.map(|p| p.to_string()))
        .bind(q.system_prompt.clone())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Stores the answer of a request of `tenant` that has none yet; `false` when it had one.
    pub async fn store_ai_answer(&mut self, tenant: TenantId, id: AiRequestId, a: &AiAnswer) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE ai_requests SET result_text = $1, result_data = $2, model = $3, provider = $4, price_micros = $5, \
             currency = $6, input_tokens = $7, output_tokens = $8, completed_at = $9 \
             WHERE tenant_id = $10 AND id = $11 AND result_text IS NULL",
        )
        .bind(a.text.clone())
        .bind(a.result_data.as_ref().map(Value::to_string))
        .bind(a.model.clone())
        .bind(a.provider.clone())
        .bind(a.price.micros())
        .bind(a.currency.clone())
        .bind(i64::try_from(a.input_tokens).unwrap_or(i64::MAX))
        .bind(i64::try_from(a.output_tokens).unwrap_or(i64::MAX))
        .bind(a.completed_at.millis())
        .bind(tenant.to_string())
        .bind(id.to_string())
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

impl Db {
    /// A request of `tenant`.
    pub async fn ai_request(&self, tenant: TenantId, id: AiRequestId) -> Result<Option<AiRequestRecord>> {
        let sql = format!("SELECT {COLS} FROM ai_requests WHERE tenant_id = $1 AND id = $2");
        let row =
            sqlx::query(trusted(sql)).bind(tenant.to_string()).bind(id.to_string()).fetch_optional(self.pool()).await?;
        row.as_ref().map(from_row).transpose()
    }

    /// A request of `tenant` with the job that runs it.
    pub async fn ai_request_with_job(
        &self,
        tenant: TenantId,
        id: AiRequestId,
    ) -> Result<Option<(AiRequestRecord, Job)>> {
        let Some(request) = self.ai_request(tenant, id).await? else { return Ok(None) };
        let job = self.job(Scope::Tenant(tenant), request.job_id).await?.ok_or_else(|| {
            Error::Corrupt(format!("AI request {id} names job {} that does not exist", request.job_id))
        })?;
        // The answer and the job's end commit together, but the two reads above are two
        // statements: a job seen ended may have ended after the request was read. Read the
        // request again then, so an answered request never looks unanswered.
        if request.answer.is_none() && job.state == crate::jobs::JobState::Completed {
            let again = self.ai_request(tenant, id).await?;
            return Ok(Some((again.unwrap_or(request), job)));
        }
        Ok(Some((request, job)))
    }
}
