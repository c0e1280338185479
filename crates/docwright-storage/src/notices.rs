//! The notice outbox (SPEC B7): e-mails to a tenant's billing contacts, stored first and sent
//! later by the engine's delivery loop, and kept for download.
//!
//! The delivery protocol, in the order the loop calls it: [`Db::due_notices`] lists pending
//! notices whose time has come; [`Db::claim_notice`] takes one by moving its `next_attempt_at`
//! to the end of a lease — a conditional update, so of two replicas that saw the same row only
//! one sends it; then [`Db::mark_notice_sent`] or [`Db::mark_notice_failed`] (retry at a time,
//! or give up). A replica that dies mid-send leaves the lease to run out, and the notice is
//! tried again: delivery is at least once.

use docwright_core::id::{NoticeId, TenantId};
use docwright_core::time::Timestamp;
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::{Db, Error, Page, PageRequest, Result, parse_col, trusted};

/// What a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    /// The balance fell below the warning threshold.
    LowBalance,
    /// The monthly usage report.
    MonthlyReport,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::LowBalance => "low_balance",
            NoticeKind::MonthlyReport => "monthly_report",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "low_balance" => Ok(NoticeKind::LowBalance),
            "monthly_report" => Ok(NoticeKind::MonthlyReport),
            other => Err(format!("unknown notice kind `{other}`")),
        }
    }
}

/// Where a notice is in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeStatus {
    /// To be sent at `next_attempt_at` (again, after a temporary failure).
    Pending,
    Sent,
    /// Given up: refused for good, or out of attempts. `last_error` says why.
    Failed,
    /// Not sent because no SMTP server is configured; downloadable all the same.
    Unsent,
}

impl NoticeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeStatus::Pending => "pending",
            NoticeStatus::Sent => "sent",
            NoticeStatus::Failed => "failed",
            NoticeStatus::Unsent => "unsent",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "pending" => Ok(NoticeStatus::Pending),
            "sent" => Ok(NoticeStatus::Sent),
            "failed" => Ok(NoticeStatus::Failed),
            "unsent" => Ok(NoticeStatus::Unsent),
            other => Err(format!("unknown notice status `{other}`")),
        }
    }
}

/// A file sent with a notice, held as text (a CSV report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub name: String,
    pub content: String,
}

/// A notice without its body and attachment content: what a listing shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeHead {
    pub id: NoticeId,
    pub tenant_id: TenantId,
    pub kind: NoticeKind,
    pub recipients: Vec<String>,
    pub subject: String,
    pub attachment_name: Option<String>,
    pub status: NoticeStatus,
    /// Sending attempts started so far.
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
    pub dedupe_key: Option<String>,
}

/// A whole notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub head: NoticeHead,
    /// Plain text.
    pub body: String,
    pub attachment: Option<Attachment>,
}

const HEAD_COLS: &str = "id, tenant_id, kind, recipients, subject, attachment_name, status, attempts, \
     next_attempt_at, last_error, created_at, sent_at, dedupe_key";

/// The whole row: the head's columns, then the content.
fn all_cols() -> String {
    format!("{HEAD_COLS}, body, attachment")
}

impl Db {
    /// Stores a new notice. `false` when the tenant already has a notice with its dedupe key
    /// (then nothing is written).
    pub async fn insert_notice(&self, n: &Notice) -> Result<bool> {
        let h = &n.head;
        let recipients = serde_json::to_string(&h.recipients)
            .map_err(|e| Error::Corrupt(format!("recipients cannot be encoded: {e}")))?;
        let done = sqlx::query(
            "INSERT INTO notices (id, tenant_id, kind, recipients, subject, body, attachment_name, attachment, status, \
             attempts, next_attempt_at, last_error, created_at, sent_at, dedupe_key) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
             ON CONFLICT (tenant_id, dedupe_key) DO NOTHING",
        )
        .bind(h.id.to_string())
        .bind(h.tenant_id.to_string())
        .bind(h.kind.as_str())
        .bind(recipients)
        .bind(h.subject.clone())
        .bind(n.body.clone())
        .bind(n.attachment.as_ref().map(|a| a.name.clone()))
        .bind(n.attachment.as_ref().map(|a| a.content.clone()))
        .bind(h.status.as_str())
        .bind(i64::from(h.attempts))
        .bind(h.next_attempt_at.millis())
        .bind(h.last_error.clone())
        .bind(h.created_at.millis())
        .bind(h.sent_at.map(Timestamp::millis))
        .bind(h.dedupe_key.clone())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The tenant's notice with this dedupe key.
    pub async fn notice_by_dedupe_key(&self, tenant: TenantId, key: &str) -> Result<Option<NoticeHead>> {
        let sql = format!("SELECT {HEAD_COLS} FROM notices WHERE tenant_id = $1 AND dedupe_key = $2");
        let row =
            sqlx::query(trusted(sql)).bind(tenant.to_string()).bind(key.to_owned()).fetch_optional(self.pool()).await?;
        row.as_ref().map(head_from_row).transpose()
    }

    /// A notice of `tenant`, whole (the download).
    pub async fn notice(&self, tenant: TenantId, id: NoticeId) -> Result<Option<Notice>> {
        let sql = format!("SELECT {} FROM notices WHERE tenant_id = $1 AND id = $2", all_cols());
        let row =
            sqlx::query(trusted(sql)).bind(tenant.to_string()).bind(id.to_string()).fetch_optional(self.pool()).await?;
        row.as_ref().map(notice_from_row).transpose()
    }

    /// The tenant's notices, newest first; the cursor is the last id of the previous page.
    pub async fn list_notices(&self, tenant: TenantId, page: PageRequest<'_>) -> Result<Page<NoticeHead>> {
        let sql = format!(
            "SELECT {HEAD_COLS} FROM notices WHERE tenant_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3"
        );
        let rows = sqlx::query(trusted(sql))
            .bind(tenant.to_string())
            .bind(page.after_or_min())
            .bind(page.fetch_limit())
            .fetch_all(self.pool())
            .await?;
        let items = rows.iter().map(head_from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page))
    }

    /// Pending notices of every tenant due at `now`, oldest due first.
    pub async fn due_notices(&self, now: Timestamp, limit: u32) -> Result<Vec<Notice>> {
        let sql = format!(
            "SELECT {} FROM notices WHERE status = 'pending' AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at, id LIMIT $2",
            all_cols()
        );
        let rows = sqlx::query(trusted(sql)).bind(now.millis()).bind(i64::from(limit)).fetch_all(self.pool()).await?;
        rows.iter().map(notice_from_row).collect()
    }

    /// Takes a due notice for one sending attempt: counts the attempt and moves
    /// `next_attempt_at` from `seen` (as [`Db::due_notices`] read it) to `lease_until`. `false`
    /// when someone else took it first or it is no longer pending.
    pub async fn claim_notice(&self, id: NoticeId, seen: Timestamp, lease_until: Timestamp) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE notices SET attempts = attempts + 1, next_attempt_at = $1 \
             WHERE id = $2 AND status = 'pending' AND next_attempt_at = $3",
        )
        .bind(lease_until.millis())
        .bind(id.to_string())
        .bind(seen.millis())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn mark_notice_sent(&self, id: NoticeId, at: Timestamp) -> Result<()> {
        sqlx::query("UPDATE notices SET status = 'sent', sent_at = $1, last_error = NULL WHERE id = $2")
            .bind(at.millis())
            .bind(id.to_string())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Records a failed attempt: tried again at `retry_at`, or given up (`failed`) when `None`.
    pub async fn mark_notice_failed(&self, id: NoticeId, error: &str, retry_at: Option<Timestamp>) -> Result<()> {
        let (status, next) = match retry_at {
            Some(at) => (NoticeStatus::Pending, Some(at.millis())),
            None => (NoticeStatus::Failed, None),
        };
        sqlx::query(
            "UPDATE notices SET status = $1, last_error = $2, next_attempt_at = COALESCE($3, next_attempt_at) \
             WHERE id = $4",
        )
        .bind(status.as_str())
        .bind(error.to_owned())
        .bind(next)
        .bind(id.to_string())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records that a notice is not sent (no SMTP server), with the reason.
    pub async fn mark_notice_unsent(&self, id: NoticeId, reason: &str) -> Result<()> {
        sqlx::query("UPDATE notices SET status = 'unsent', last_error = $1 WHERE id = $2")
            .bind(reason.to_owned())
            .bind(id.to_string())
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

fn head_from_row(r: &AnyRow) -> Result<NoticeHead> {
    let recipients = parse_col(r, "recipients", |s| serde_json::from_str::<Vec<String>>(s))?;
    let attempts: i64 = r.try_get("attempts")?;
    Ok(NoticeHead {
        id: parse_col(r, "id", NoticeId::parse)?,
        tenant_id: parse_col(r, "tenant_id", TenantId::parse)?,
        kind: parse_col(r, "kind", NoticeKind::parse)?,
        recipients,
        subject: r.try_get("subject")?,
        attachment_name: r.try_get("attachment_name")?,
        status: parse_col(r, "status", NoticeStatus::parse)?,
        attempts: u32::try_from(attempts).map_err(|e| Error::Corrupt(format!("column attempts: {e}")))?,
        next_attempt_at: Timestamp::from_millis(r.try_get("next_attempt_at")?),
        last_error: r.try_get("last_error")?,
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
        sent_at: r.try_get::<Option<i64>, _>("sent_at")?.map(Timestamp::from_millis),
        dedupe_key: r.try_get("dedupe_key")?,
    })
}

fn notice_from_row(r: &AnyRow) -> Result<Notice> {
    let head = head_from_row(r)?;
    let content: Option<String> = r.try_get("attachment")?;
    let attachment = match (head.attachment_name.clone(), content) {
        (Some(name), Some(content)) => Some(Attachment { name, content }),
        _ => None,
    };
    Ok(Notice { head, body: r.try_get("body")?, attachment })
}
