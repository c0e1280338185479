//! Chats with documents (SPEC C1–C3): chats, their messages, the turns that answer a question
//! (each stored with its job, its numbered events and its progress tree), and role prompts.
//! Tenant-scoped like every tenant record: readers take the tenant id; a turn's own writes name
//! the turn its job was enqueued for.
//!
//! A turn is stored with its two messages (the question, completed; the answer, queued) and its
//! job in one [`WriteTx`] ([`WriteTx::insert_chat_turn`] beside [`WriteTx::enqueue`]). At most
//! one turn of a chat is active: a partial unique index refuses a second, which
//! [`WriteTx::insert_chat_turn`] answers as [`TurnInsert::Busy`]. Events are numbered per turn,
//! so `after = <seq>` resumes a stream on any replica.

use docwright_core::id::{
    ChatId, ChatMessageId, ChatTurnId, CollectionId, FileId, JobId, ProjectId, RolePromptId, TenantId, UserId,
};
use docwright_core::money::Money;
use docwright_core::time::Timestamp;
use serde_json::Value;
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::{Db, Error, Page, PageRequest, Result, WriteTx, parse_col, parse_opt_col};

/// A chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chat {
    pub id: ChatId,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub title: String,
    pub description: Option<String>,
    pub project_id: Option<ProjectId>,
    /// A collection whose files answers draw passages from (instead of a project's).
    pub collection_id: Option<CollectionId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Where a turn (or an answer) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnStatus {
    Queued,
    Running,
    Completed,
    Failed,
}

impl TurnStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TurnStatus::Queued => "queued",
            TurnStatus::Running => "running",
            TurnStatus::Completed => "completed",
            TurnStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        Ok(match s {
            "queued" => TurnStatus::Queued,
            "running" => TurnStatus::Running,
            "completed" => TurnStatus::Completed,
            "failed" => TurnStatus::Failed,
            other => return Err(format!("unknown chat status `{other}`")),
        })
    }

    pub fn is_final(self) -> bool {
        matches!(self, TurnStatus::Completed | TurnStatus::Failed)
    }
}

/// One passage an answer used, as stored with the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSource {
    /// The number the prompt gave the passage (`[1]`, `[2]`, ...).
    pub index: u32,
    pub file_id: FileId,
    pub file_name: String,
    pub part_id: String,
    pub page: Option<u32>,
    pub slide: Option<u32>,
    pub sheet: Option<String>,
    /// `attachment | retrieval`.
    pub origin: String,
}

/// A message of a chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub id: ChatMessageId,
    pub chat_id: ChatId,
    pub turn_id: ChatTurnId,
    /// `user | assistant`.
    pub role: String,
    pub content: String,
    pub status: TurnStatus,
    pub attached_file_ids: Vec<FileId>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub price: Money,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub sources: Vec<StoredSource>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

/// A turn as submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnRecord {
    pub id: ChatTurnId,
    pub chat_id: ChatId,
    pub tenant_id: TenantId,
    /// Who asked: the turn acts, is authorised and is billed as them.
    pub user_id: UserId,
    pub credential_kind: String,
    pub credential_id: String,
    pub credential_tenant: Option<TenantId>,
    pub job_id: JobId,
    pub user_message_id: ChatMessageId,
    pub assistant_message_id: ChatMessageId,
    pub message: String,
    pub attached_file_ids: Vec<FileId>,
    pub model_profile: String,
    pub allowed_providers: Option<Vec<String>>,
    pub role_prompt_id: Option<RolePromptId>,
    pub created_at: Timestamp,
}

/// A turn with its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub record: TurnRecord,
    pub status: TurnStatus,
    pub finished_at: Option<Timestamp>,
}

/// What inserting a turn did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnInsert {
    Stored,
    /// The chat has an active turn already.
    Busy,
}

/// How an answer ended, as it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerEnd<'a> {
    pub status: TurnStatus,
    pub content: &'a str,
    pub model: Option<&'a str>,
    pub provider: Option<&'a str>,
    pub price: Money,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub sources: &'a [StoredSource],
    pub error_code: Option<&'a str>,
    pub error_message: Option<&'a str>,
}

/// One stored event of a turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatEvent {
    pub turn_id: ChatTurnId,
    /// 1, 2, ... within the turn.
    pub seq: u64,
    pub event: String,
    pub data: Value,
}

/// One node of a turn's progress tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnLogRow {
    pub op_id: String,
    pub parent_id: Option<String>,
    pub title: String,
    pub message: String,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    /// `ok | failed`, `None` while it runs.
    pub outcome: Option<String>,
    pub error: Option<String>,
    pub cost: Money,
}

/// A role prompt: names by language and the prompt text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePrompt {
    pub id: RolePromptId,
    /// `None`: the installation's own, shared by every tenant.
    pub tenant_id: Option<TenantId>,
    /// (language, name) pairs, in stored order.
    pub names: Vec<(String, String)>,
    pub prompt: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

fn ids_json(ids: &[FileId]) -> String {
    Value::Array(ids.iter().map(|i| Value::String(i.to_string())).collect()).to_string()
}

fn ids_from(r: &AnyRow, col: &str) -> Result<Vec<FileId>> {
    let raw: Vec<String> =
        serde_json::from_str(&r.try_get::<String, _>(col)?).map_err(|e| Error::Corrupt(format!("{col}: {e}")))?;
    raw.iter().map(|s| FileId::parse(s).map_err(|e| Error::Corrupt(format!("{col}: {e}")))).collect()
}

fn opt_millis(r: &AnyRow, col: &str) -> Result<Option<Timestamp>> {
    Ok(r.try_get::<Option<i64>, _>(col)?.map(Timestamp::from_millis))
}

fn sources_json(sources: &[StoredSource]) -> String {
    Value::Array(
        sources
            .iter()
            .map(|s| {
                serde_json::json!({
                    "index": s.index, "file_id": s.file_id.to_string(), "file_name": s.file_name,
                    "part_id": s.part_id, "page": s.page, "slide": s.slide, "sheet": s.sheet, "origin": s.origin,
                })
            })
            .collect(),
    )
    .to_string()
}

fn sources_from(text: &str) -> Result<Vec<StoredSource>> {
    let v: Vec<Value> =
        serde_json::from_str(text).map_err(|e| Error::Corrupt(format!("chat_messages.sources: {e}")))?;
    v.iter()
        .map(|s| {
            let num = |k: &str| s[k].as_u64().map(|n| n as u32);
            Ok(StoredSource {
                index: num("index").unwrap_or(0),
                file_id: FileId::parse(s["file_id"].as_str().unwrap_or_default())
                    .map_err(|e| Error::Corrupt(format!("chat_messages.sources: {e}")))?,
                file_name: s["file_name"].as_str().unwrap_or_default().to_owned(),
                part_id: s["part_id"].as_str().unwrap_or_default().to_owned(),
                page: num("page"),
                slide: num("slide"),
                sheet: s["sheet"].as_str().map(str::to_owned),
                origin: s["origin"].as_str().unwrap_or_default().to_owned(),
            })
        })
        .collect()
}

const CHAT_COLS: &str = "id, tenant_id, user_id, title, description, project_id, collection_id, created_at, updated_at";

fn chat_from(r: &AnyRow) -> Result<Chat> {
    Ok(Chat {
        id: parse_col(r, "id", ChatId::parse)?,
        tenant_id: parse_col(r, "tenant_id", TenantId::parse)?,
        user_id: parse_col(r, "user_id", UserId::parse)?,
        title: r.try_get("title")?,
        description: r.try_get("description")?,
        project_id: parse_opt_col(r, "project_id", ProjectId::parse)?,
        collection_id: parse_opt_col(r, "collection_id", CollectionId::parse)?,
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
        updated_at: Timestamp::from_millis(r.try_get("updated_at")?),
    })
}

const MESSAGE_COLS: &str = "id, chat_id, turn_id, role, content, status, attached_file_ids, model, provider, \
     price_micros, input_tokens, output_tokens, sources, error_code, error_message, created_at, finished_at";

fn message_from(r: &AnyRow) -> Result<ChatMessage> {
    Ok(ChatMessage {
        id: parse_col(r, "id", ChatMessageId::parse)?,
        chat_id: parse_col(r, "chat_id", ChatId::parse)?,
        turn_id: parse_col(r, "turn_id", ChatTurnId::parse)?,
        role: r.try_get("role")?,
        content: r.try_get("content")?,
        status: parse_col(r, "status", TurnStatus::parse)?,
        attached_file_ids: ids_from(r, "attached_file_ids")?,
        model: r.try_get("model")?,
        provider: r.try_get("provider")?,
        price: Money::from_micros(r.try_get("price_micros")?),
        input_tokens: r.try_get::<i64, _>("input_tokens")?.max(0) as u64,
        output_tokens: r.try_get::<i64, _>("output_tokens")?.max(0) as u64,
        sources: sources_from(&r.try_get::<String, _>("sources")?)?,
        error_code: r.try_get("error_code")?,
        error_message: r.try_get("error_message")?,
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
        finished_at: opt_millis(r, "finished_at")?,
    })
}

const TURN_COLS: &str = "id, chat_id, tenant_id, user_id, credential_kind, credential_id, credential_tenant, job_id, \
     user_message_id, assistant_message_id, message, attached_file_ids, model_profile, allowed_providers, role_prompt_id, \
     status, created_at, finished_at";

fn turn_from(r: &AnyRow) -> Result<Turn> {
    let allowed = match r.try_get::<Option<String>, _>("allowed_providers")? {
        Some(s) => Some(serde_json::from_str(&s).map_err(|e| Error::Corrupt(format!("allowed_providers: {e}")))?),
        None => None,
    };
    Ok(Turn {
        record: TurnRecord {
            id: parse_col(r, "id", ChatTurnId::parse)?,
            chat_id: parse_col(r, "chat_id", ChatId::parse)?,
            tenant_id: parse_col(r, "tenant_id", TenantId::parse)?,
            user_id: parse_col(r, "user_id", UserId::parse)?,
            credential_kind: r.try_get("credential_kind")?,
            credential_id: r.try_get("credential_id")?,
            credential_tenant: parse_opt_col(r, "credential_tenant", TenantId::parse)?,
            job_id: parse_col(r, "job_id", JobId::parse)?,
            user_message_id: parse_col(r, "user_message_id", ChatMessageId::parse)?,
            assistant_message_id: parse_col(r, "assistant_message_id", ChatMessageId::parse)?,
            message: r.try_get("message")?,
            attached_file_ids: ids_from(r, "attached_file_ids")?,
            model_profile: r.try_get("model_profile")?,
            allowed_providers: allowed,
            role_prompt_id: parse_opt_col(r, "role_prompt_id", RolePromptId::parse)?,
            created_at: Timestamp::from_millis(r.try_get("created_at")?),
        },
        status: parse_col(r, "status", TurnStatus::parse)?,
        finished_at: opt_millis(r, "finished_at")?,
    })
}

fn role_from(r: &AnyRow) -> Result<RolePrompt> {
    let names: serde_json::Map<String, Value> = serde_json::from_str(&r.try_get::<String, _>("names")?)
        .map_err(|e| Error::Corrupt(format!("role_prompts.names: {e}")))?;
    Ok(RolePrompt {
        id: parse_col(r, "id", RolePromptId::parse)?,
        tenant_id: parse_opt_col(r, "tenant_id", TenantId::parse)?,
        names: names.into_iter().map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned())).collect(),
        prompt: r.try_get("prompt")?,
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
        updated_at: Timestamp::from_millis(r.try_get("updated_at")?),
    })
}

fn names_json(names: &[(String, String)]) -> String {
    let map: serde_json::Map<String, Value> =
        names.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    Value::Object(map).to_string()
}

impl WriteTx {
    /// Stores a turn with its question (completed) and its answer (queued), unless the chat has
    /// an active turn ([`TurnInsert::Busy`]; nothing is written then, and the caller rolls back
    /// the job it enqueued in the same transaction).
    pub async fn insert_chat_turn(&mut self, t: &TurnRecord) -> Result<TurnInsert> {
        let allowed = t
            .allowed_providers
            .as_ref()
            .map(|a| Value::Array(a.iter().cloned().map(Value::String).collect()).to_string());
        let inserted = sqlx::query(
            "INSERT INTO chat_turns (id, chat_id, tenant_id, user_id, credential_kind, credential_id, credential_tenant, \
             job_id, user_message_id, assistant_message_id, message, attached_file_ids, model_profile, allowed_providers, \
             role_prompt_id, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 'queued', $16) \
             ON CONFLICT DO NOTHING",
        )
        .bind(t.id.to_string())
        .bind(t.chat_id.to_string())
        .bind(t.tenant_id.to_string())
        .bind(t.user_id.to_string())
        .bind(t.credential_kind.clone())
        .bind(t.credential_id.clone())
        .bind(t.credential_tenant.map(|x| x.to_string()))
        .bind(t.job_id.to_string())
        .bind(t.user_message_id.to_string())
        .bind(t.assistant_message_id.to_string())
        .bind(t.message.clone())
        .bind(ids_json(&t.attached_file_ids))
        .bind(t.model_profile.clone())
        .bind(allowed)
        .bind(t.role_prompt_id.map(|r| r.to_string()))
        .bind(t.created_at.millis())
        .execute(self.conn())
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(TurnInsert::Busy);
        }
        for (id, role, content, status, files) in [
            (t.user_message_id, "user", t.message.as_str(), "completed", ids_json(&t.attached_file_ids)),
            (t.assistant_message_id, "assistant", "", "queued", "[]".to_owned()),
        ] {
            sqlx::query(
                "INSERT INTO chat_messages (id, chat_id, turn_id, role, content, status, attached_file_ids, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(id.to_string())
            .bind(t.chat_id.to_string())
            .bind(t.id.to_string())
            .bind(role)
            .bind(content.to_owned())
            .bind(status)
            .bind(files)
            .bind(t.created_at.millis())
            .execute(self.conn())
            .await?;
        }
        sqlx::query("UPDATE chats SET updated_at = $1 WHERE id = $2")
            .bind(t.created_at.millis())
            .bind(t.chat_id.to_string())
            .execute(self.conn())
            .await?;
        Ok(TurnInsert::Stored)
    }
}

impl Db {
    // ---- chats

    pub async fn insert_chat(&self, c: &Chat) -> Result<()> {
        sqlx::query(
            "INSERT INTO chats (id, tenant_id, user_id, title, description, project_id, created_at, updated_at, \
             collection_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(c.id.to_string())
        .bind(c.tenant_id.to_string())
        .bind(c.user_id.to_string())
        .bind(c.title.clone())
        .bind(c.description.clone())
        .bind(c.project_id.map(|p| p.to_string()))
        .bind(c.created_at.millis())
        .bind(c.updated_at.millis())
        .bind(c.collection_id.map(|c| c.to_string()))
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// A chat of `tenant`.
    pub async fn chat(&self, tenant: TenantId, id: ChatId) -> Result<Option<Chat>> {
        let row =
            sqlx::query(crate::trusted(format!("SELECT {CHAT_COLS} FROM chats WHERE tenant_id = $1 AND id = $2")))
                .bind(tenant.to_string())
                .bind(id.to_string())
                .fetch_optional(self.pool())
                .await?;
        row.as_ref().map(chat_from).transpose()
    }

    /// The chats of `tenant` (of one user when `owner` is given), newest first.
    pub async fn chats(&self, tenant: TenantId, owner: Option<UserId>, page: PageRequest<'_>) -> Result<Page<Chat>> {
        let before = page.after.map(str::to_owned).unwrap_or_else(|| "~".to_owned());
        let sql = format!(
            "SELECT {CHAT_COLS} FROM chats WHERE tenant_id = $1 AND ($2 = '' OR user_id = $2) AND id < $3 \
             ORDER BY id DESC LIMIT $4"
        );
        let rows = sqlx::query(crate::trusted(sql))
            .bind(tenant.to_string())
            .bind(owner.map(|o| o.to_string()).unwrap_or_default())
            .bind(before)
            .bind(page.fetch_limit())
            .fetch_all(self.pool())
            .await?;
        let items = rows.iter().map(chat_from).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page))
    }

    /// Deletes a chat of `tenant` with its messages, turns, events and trees; `false` when there
    /// was none.
    pub async fn delete_chat(&self, tenant: TenantId, id: ChatId) -> Result<bool> {
        let done = sqlx::query("DELETE FROM chats WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The messages of a chat, oldest first.
    pub async fn chat_messages(&self, chat: ChatId) -> Result<Vec<ChatMessage>> {
        let sql = format!("SELECT {MESSAGE_COLS} FROM chat_messages WHERE chat_id = $1 ORDER BY id");
        let rows = sqlx::query(crate::trusted(sql)).bind(chat.to_string()).fetch_all(self.pool()).await?;
        rows.iter().map(message_from).collect()
    }

    /// One message.
    pub async fn chat_message(&self, id: ChatMessageId) -> Result<Option<ChatMessage>> {
        let sql = format!("SELECT {MESSAGE_COLS} FROM chat_messages WHERE id = $1");
        let row = sqlx::query(crate::trusted(sql)).bind(id.to_string()).fetch_optional(self.writer()).await?;
        row.as_ref().map(message_from).transpose()
    }

    // ---- turns

    /// A turn by id alone, for the job that answers it.
    pub async fn chat_turn(&self, id: ChatTurnId) -> Result<Option<Turn>> {
        let sql = format!("SELECT {TURN_COLS} FROM chat_turns WHERE id = $1");
        let row = sqlx::query(crate::trusted(sql)).bind(id.to_string()).fetch_optional(self.writer()).await?;
        row.as_ref().map(turn_from).transpose()
    }

    /// The turns of a chat, oldest first.
    pub async fn chat_turns(&self, chat: ChatId) -> Result<Vec<Turn>> {
        let sql = format!("SELECT {TURN_COLS} FROM chat_turns WHERE chat_id = $1 ORDER BY id");
        let rows = sqlx::query(crate::trusted(sql)).bind(chat.to_string()).fetch_all(self.pool()).await?;
        rows.iter().map(turn_from).collect()
    }

    /// The active (queued or running) turn of a chat, if any.
    pub async fn active_chat_turn(&self, chat: ChatId) -> Result<Option<Turn>> {
        let sql = format!("SELECT {TURN_COLS} FROM chat_turns WHERE chat_id = $1 AND status IN ('queued', 'running')");
        let row = sqlx::query(crate::trusted(sql)).bind(chat.to_string()).fetch_optional(self.writer()).await?;
        row.as_ref().map(turn_from).transpose()
    }

    /// A turn starts: `running`, with its answer; `false` when it had ended.
    pub async fn start_chat_turn(&self, t: &TurnRecord) -> Result<bool> {
        let mut tx = self.writer().begin().await?;
        let done =
            sqlx::query("UPDATE chat_turns SET status = 'running' WHERE id = $1 AND status IN ('queued', 'running')")
                .bind(t.id.to_string())
                .execute(&mut *tx)
                .await?;
        sqlx::query("UPDATE chat_messages SET status = 'running' WHERE id = $1 AND status IN ('queued', 'running')")
            .bind(t.assistant_message_id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends a turn that has not ended, storing its answer; `false` when it had ended.
    pub async fn finish_chat_turn(&self, t: &TurnRecord, end: &AnswerEnd<'_>) -> Result<bool> {
        let now = Timestamp::now().millis();
        let mut tx = self.writer().begin().await?;
        let done = sqlx::query(
            "UPDATE chat_turns SET status = $1, finished_at = $2 WHERE id = $3 AND status IN ('queued', 'running')",
        )
        .bind(end.status.as_str())
        .bind(now)
        .bind(t.id.to_string())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "UPDATE chat_messages SET status = $1, content = $2, model = $3, provider = $4, price_micros = $5, \
             input_tokens = $6, output_tokens = $7, sources = $8, error_code = $9, error_message = $10, finished_at = $11 \
             WHERE id = $12",
        )
        .bind(end.status.as_str())
        .bind(end.content.to_owned())
        .bind(end.model.map(str::to_owned))
        .bind(end.provider.map(str::to_owned))
        .bind(end.price.micros())
        .bind(end.input_tokens as i64)
        .bind(end.output_tokens as i64)
        .bind(sources_json(end.sources))
        .bind(end.error_code.map(str::to_owned))
        .bind(end.error_message.map(str::to_owned))
        .bind(now)
        .bind(t.assistant_message_id.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Appends an event to a turn; answers its number.
    pub async fn append_chat_event(&self, turn: ChatTurnId, event: &str, data: &Value) -> Result<u64> {
        let row = sqlx::query(
            "INSERT INTO chat_events (turn_id, seq, event, data, created_at) \
             VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM chat_events WHERE turn_id = $1), $2, $3, $4) \
             RETURNING seq",
        )
        .bind(turn.to_string())
        .bind(event.to_owned())
        .bind(data.to_string())
        .bind(Timestamp::now().millis())
        .fetch_one(self.writer())
        .await?;
        Ok(row.try_get::<i64, _>("seq")?.max(0) as u64)
    }

    /// Events of a turn after number `after`, oldest first, at most `limit`.
    pub async fn chat_events(&self, turn: ChatTurnId, after: u64, limit: u32) -> Result<Vec<ChatEvent>> {
        let rows = sqlx::query(
            "SELECT seq, event, data FROM chat_events WHERE turn_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(turn.to_string())
        .bind(after as i64)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ChatEvent {
                    turn_id: turn,
                    seq: r.try_get::<i64, _>("seq")?.max(0) as u64,
                    event: r.try_get("event")?,
                    data: serde_json::from_str(&r.try_get::<String, _>("data")?)
                        .map_err(|e| Error::Corrupt(format!("chat_events.data: {e}")))?,
                })
            })
            .collect()
    }

    /// What the AI calls made for a chat have cost (from the stats).
    pub async fn chat_cost(&self, chat: ChatId) -> Result<Money> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(price_micros), 0) AS BIGINT) AS total FROM ai_stats WHERE chat_id = $1",
        )
        .bind(chat.to_string())
        .fetch_one(self.pool())
        .await?;
        Ok(Money::from_micros(row.try_get("total")?))
    }

    /// Stores a node of a turn's progress tree, replacing the same node's earlier row.
    pub async fn put_turn_log(&self, turn: ChatTurnId, row: &TurnLogRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO chat_log (turn_id, op_id, parent_id, title, message, started_at, finished_at, outcome, error, \
             cost_micros, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             (SELECT COALESCE(MAX(seq), 0) + 1 FROM chat_log WHERE turn_id = $1)) \
             ON CONFLICT (turn_id, op_id) DO UPDATE SET finished_at = excluded.finished_at, outcome = excluded.outcome, \
             error = excluded.error, cost_micros = excluded.cost_micros, message = excluded.message",
        )
        .bind(turn.to_string())
        .bind(row.op_id.clone())
        .bind(row.parent_id.clone())
        .bind(row.title.clone())
        .bind(row.message.clone())
        .bind(row.started_at.millis())
        .bind(row.finished_at.map(Timestamp::millis))
        .bind(row.outcome.clone())
        .bind(row.error.clone())
        .bind(row.cost.micros())
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// The progress tree of a turn, in the order its nodes started.
    pub async fn turn_log(&self, turn: ChatTurnId) -> Result<Vec<TurnLogRow>> {
        let rows = sqlx::query(
            "SELECT op_id, parent_id, title, message, started_at, finished_at, outcome, error, cost_micros \
             FROM chat_log WHERE turn_id = $1 ORDER BY seq",
        )
        .bind(turn.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TurnLogRow {
                    op_id: r.try_get("op_id")?,
                    parent_id: r.try_get("parent_id")?,
                    title: r.try_get("title")?,
                    message: r.try_get("message")?,
                    started_at: Timestamp::from_millis(r.try_get("started_at")?),
                    finished_at: opt_millis(r, "finished_at")?,
                    outcome: r.try_get("outcome")?,
                    error: r.try_get("error")?,
                    cost: Money::from_micros(r.try_get("cost_micros")?),
                })
            })
            .collect()
    }

    // ---- role prompts

    /// The role prompts a tenant sees: the installation's and its own, oldest first.
    pub async fn role_prompts(&self, tenant: TenantId) -> Result<Vec<RolePrompt>> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, names, prompt, created_at, updated_at FROM role_prompts \
             WHERE tenant_id IS NULL OR tenant_id = $1 ORDER BY id",
        )
        .bind(tenant.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(role_from).collect()
    }

    /// A role prompt `tenant` sees.
    pub async fn role_prompt(&self, tenant: TenantId, id: RolePromptId) -> Result<Option<RolePrompt>> {
        let row = sqlx::query(
            "SELECT id, tenant_id, names, prompt, created_at, updated_at FROM role_prompts \
             WHERE id = $1 AND (tenant_id IS NULL OR tenant_id = $2)",
        )
        .bind(id.to_string())
        .bind(tenant.to_string())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(role_from).transpose()
    }

    pub async fn insert_role_prompt(&self, r: &RolePrompt) -> Result<()> {
        sqlx::query(
            "INSERT INTO role_prompts (id, tenant_id, names, prompt, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(r.id.to_string())
        .bind(r.tenant_id.map(|t| t.to_string()))
        .bind(names_json(&r.names))
        .bind(r.prompt.clone())
        .bind(r.created_at.millis())
        .bind(r.updated_at.millis())
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Replaces the names and prompt of a role prompt owned by `owner` (`None`: the
    /// installation's); `false` when there is no such prompt.
    pub async fn update_role_prompt(&self, owner: Option<TenantId>, r: &RolePrompt) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE role_prompts SET names = $1, prompt = $2, updated_at = $3 \
             WHERE id = $4 AND COALESCE(tenant_id, '') = $5",
        )
        .bind(names_json(&r.names))
        .bind(r.prompt.clone())
        .bind(Timestamp::now().millis())
        .bind(r.id.to_string())
        .bind(owner.map(|t| t.to_string()).unwrap_or_default())
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes a role prompt owned by `owner`; `false` when there is no such prompt.
    pub async fn delete_role_prompt(&self, owner: Option<TenantId>, id: RolePromptId) -> Result<bool> {
        let done = sqlx::query("DELETE FROM role_prompts WHERE id = $1 AND COALESCE(tenant_id, '') = $2")
            .bind(id.to_string())
            .bind(owner.map(|t| t.to_string()).unwrap_or_default())
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
