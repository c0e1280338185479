//! Credentials: static login tokens, sessions with their rotating refresh tokens, API keys.
//! Only hashes of the secrets are stored (see `docwright_core::token`).

use docwright_core::id::{ApiKeyId, RefreshTokenId, SessionId, StaticTokenId, TenantId, UserId};
use docwright_core::name::KeyName;
use docwright_core::time::Timestamp;
use docwright_core::token::TokenHash;
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::{Db, Page, PageRequest, Result, conflict, parse_col, parse_opt_col, trusted};

/// A static login token (exchanged at `/auth/exchange`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticToken {
    pub id: StaticTokenId,
    pub user_id: UserId,
    /// The tenant the token (and its sessions) may act in; `None`: any of the user's tenants.
    pub tenant_id: Option<TenantId>,
    pub name: KeyName,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

const STATIC_COLS: &str = "id, user_id, tenant_id, name, created_by, created_at, last_used_at, revoked_at";

fn static_from_row(row: &AnyRow) -> Result<StaticToken> {
    Ok(StaticToken {
        id: parse_col(row, "id", StaticTokenId::parse)?,
        user_id: parse_col(row, "user_id", UserId::parse)?,
        tenant_id: parse_opt_col(row, "tenant_id", TenantId::parse)?,
        name: parse_col(row, "name", KeyName::parse)?,
        created_by: parse_opt_col(row, "created_by", UserId::parse)?,
        created_at: Timestamp::from_millis(row.try_get("created_at")?),
        last_used_at: row.try_get::<Option<i64>, _>("last_used_at")?.map(Timestamp::from_millis),
        revoked_at: row.try_get::<Option<i64>, _>("revoked_at")?.map(Timestamp::from_millis),
    })
}

/// A login session: the family of refresh tokens rotated from one exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    /// Copied from the static token that opened the session.
    pub tenant_id: Option<TenantId>,
    pub revoked_at: Option<Timestamp>,
}

/// A session to open.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: SessionId,
    pub user: UserId,
    pub static_token: Option<StaticTokenId>,
    pub tenant: Option<TenantId>,
    pub created_at: Timestamp,
}

/// What happened to a presented refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// It was valid; it is now used, and the new token (already stored) replaces it.
    Rotated { session: SessionId, user: UserId },
    /// It had been used before: a stolen copy or a replay. The whole session is now revoked.
    Reused { session: SessionId },
    /// It expired unused.
    Expired,
    /// Its session was revoked (logout, token revocation, earlier reuse).
    Revoked,
    /// No such token.
    Unknown,
}

/// An API key (`dw_...`), bound to one user in one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub user_id: UserId,
    pub tenant_id: TenantId,
    pub name: KeyName,
    /// The non-secret start of the key, to recognise it in listings.
    pub key_prefix: String,
    pub created_by: UserId,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

const KEY_COLS: &str =
    "id, user_id, tenant_id, name, key_prefix, created_by, created_at, expires_at, last_used_at, revoked_at";

fn key_from_row(row: &AnyRow) -> Result<ApiKey> {
    Ok(ApiKey {
        id: parse_col(row, "id", ApiKeyId::parse)?,
        user_id: parse_col(row, "user_id", UserId::parse)?,
        tenant_id: parse_col(row, "tenant_id", TenantId::parse)?,
        name: parse_col(row, "name", KeyName::parse)?,
        key_prefix: row.try_get("key_prefix")?,
        created_by: parse_col(row, "created_by", UserId::parse)?,
        created_at: Timestamp::from_millis(row.try_get("created_at")?),
        expires_at: row.try_get::<Option<i64>, _>("expires_at")?.map(Timestamp::from_millis),
        last_used_at: row.try_get::<Option<i64>, _>("last_used_at")?.map(Timestamp::from_millis),
        revoked_at: row.try_get::<Option<i64>, _>("revoked_at")?.map(Timestamp::from_millis),
    })
}

impl Db {
    // ---- static tokens ------------------------------------------------------------------

    pub async fn insert_static_token(&self, token: &StaticToken, hash: &TokenHash) -> Result<()> {
        sqlx::query(
            "INSERT INTO static_tokens (id, user_id, tenant_id, name, token_hash, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(token.id.to_string())
        .bind(token.user_id.to_string())
        .bind(token.tenant_id.map(|t| t.to_string()))
        .bind(token.name.as_str().to_owned())
        .bind(hash.as_str().to_owned())
        .bind(token.created_by.map(|u| u.to_string()))
        .bind(token.created_at.millis())
        .execute(self.pool())
        .await
        .map_err(conflict("this token"))?;
        Ok(())
    }

    pub async fn static_token_by_hash(&self, hash: &TokenHash) -> Result<Option<StaticToken>> {
        let sql = format!("SELECT {STATIC_COLS} FROM static_tokens WHERE token_hash = $1");
        let row = sqlx::query(trusted(sql)).bind(hash.as_str().to_owned()).fetch_optional(self.pool()).await?;
        row.as_ref().map(static_from_row).transpose()
    }

    pub async fn static_tokens_of(&self, user: UserId) -> Result<Vec<StaticToken>> {
        let sql = format!("SELECT {STATIC_COLS} FROM static_tokens WHERE user_id = $1 ORDER BY id");
        let rows = sqlx::query(trusted(sql)).bind(user.to_string()).fetch_all(self.pool()).await?;
        rows.iter().map(static_from_row).collect()
    }

    pub async fn touch_static_token(&self, id: StaticTokenId, now: Timestamp) -> Result<()> {
        sqlx::query("UPDATE static_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now.millis())
            .bind(id.to_string())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Revokes a user's static token and every session opened with it.
    pub async fn revoke_static_token(&self, user: UserId, id: StaticTokenId, now: Timestamp) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE static_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
        )
        .bind(now.millis())
        .bind(id.to_string())
        .bind(user.to_string())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE sessions SET revoked_at = $1, revoked_reason = 'static token revoked' WHERE static_token_id = $2 AND revoked_at IS NULL",
        )
        .bind(now.millis())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    // ---- sessions and refresh tokens ----------------------------------------------------

    /// Opens a session with its first refresh token.
    pub async fn create_session(
        &self,
        session: &NewSession,
        refresh: &TokenHash,
        refresh_expires_at: Timestamp,
    ) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO sessions (id, user_id, static_token_id, tenant_id, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(session.id.to_string())
        .bind(session.user.to_string())
        .bind(session.static_token.map(|t| t.to_string()))
        .bind(session.tenant.map(|t| t.to_string()))
        .bind(session.created_at.millis())
        .execute(&mut *tx)
        .await?;
        insert_refresh(&mut tx, session.id, refresh, session.created_at, refresh_expires_at).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn session(&self, id: SessionId) -> Result<Option<Session>> {
        let row = sqlx::query("SELECT id, user_id, tenant_id, revoked_at FROM sessions WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref()
            .map(|r| {
                Ok(Session {
                    id: parse_col(r, "id", SessionId::parse)?,
                    user_id: parse_col(r, "user_id", UserId::parse)?,
                    tenant_id: parse_opt_col(r, "tenant_id", TenantId::parse)?,
                    revoked_at: r.try_get::<Option<i64>, _>("revoked_at")?.map(Timestamp::from_millis),
                })
            })
            .transpose()
    }

    pub async fn revoke_session(&self, id: SessionId, reason: &str, now: Timestamp) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL",
        )
        .bind(now.millis())
        .bind(reason.to_owned())
        .bind(id.to_string())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Uses the refresh token with hash `presented` once: on success `next` is stored as its
    /// successor in the same session. Presenting a used token revokes the whole session.
    ///
    /// The write comes first, so that concurrent presentations of one token serialise on the
    /// row (PostgreSQL) or the write lock (SQLite) and exactly one of them wins.
    pub async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        next: &TokenHash,
        now: Timestamp,
        next_expires_at: Timestamp,
    ) -> Result<Rotation> {
        let mut tx = self.pool().begin().await?;
        let claimed = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now.millis())
        .bind(presented.as_str().to_owned())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let row = sqlx::query(
            "SELECT r.session_id, r.used_at, s.user_id, s.revoked_at FROM refresh_tokens r \
             JOIN sessions s ON s.id = r.session_id WHERE r.token_hash = $1",
        )
        .bind(presented.as_str().to_owned())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Rotation::Unknown);
        };
        let session = parse_col(&row, "session_id", SessionId::parse)?;
        let user = parse_col(&row, "user_id", UserId::parse)?;
        let used = row.try_get::<Option<i64>, _>("used_at")?.is_some();
        let revoked = row.try_get::<Option<i64>, _>("revoked_at")?.is_some();
        let outcome = if claimed && revoked {
            Rotation::Revoked
        } else if claimed {
            insert_refresh(&mut tx, session, next, now, next_expires_at).await?;
            Rotation::Rotated { session, user }
        } else if used {
            sqlx::query(
                "UPDATE sessions SET revoked_at = $1, revoked_reason = 'refresh token reuse' WHERE id = $2 AND revoked_at IS NULL",
            )
            .bind(now.millis())
            .bind(session.to_string())
            .execute(&mut *tx)
            .await?;
            Rotation::Reused { session }
        } else if revoked {
            Rotation::Revoked
        } else {
            Rotation::Expired
        };
        tx.commit().await?;
        Ok(outcome)
    }

    /// Revokes the session that the refresh token `presented` belongs to (logout).
    pub async fn revoke_session_of_refresh(&self, presented: &TokenHash, now: Timestamp) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $1, revoked_reason = 'logout' WHERE revoked_at IS NULL AND id = \
             (SELECT session_id FROM refresh_tokens WHERE token_hash = $2)",
        )
        .bind(now.millis())
        .bind(presented.as_str().to_owned())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    // ---- API keys -----------------------------------------------------------------------

    pub async fn insert_api_key(&self, key: &ApiKey, hash: &TokenHash) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, user_id, tenant_id, name, key_hash, key_prefix, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(key.id.to_string())
        .bind(key.user_id.to_string())
        .bind(key.tenant_id.to_string())
        .bind(key.name.as_str().to_owned())
        .bind(hash.as_str().to_owned())
        .bind(key.key_prefix.clone())
        .bind(key.created_by.to_string())
        .bind(key.created_at.millis())
        .bind(key.expires_at.map(Timestamp::millis))
        .execute(self.pool())
        .await
        .map_err(conflict("this key"))?;
        Ok(())
    }

    pub async fn api_key_by_hash(&self, hash: &TokenHash) -> Result<Option<ApiKey>> {
        let sql = format!("SELECT {KEY_COLS} FROM api_keys WHERE key_hash = $1");
        let row = sqlx::query(trusted(sql)).bind(hash.as_str().to_owned()).fetch_optional(self.pool()).await?;
        row.as_ref().map(key_from_row).transpose()
    }

    pub async fn api_key(&self, tenant: TenantId, id: ApiKeyId) -> Result<Option<ApiKey>> {
        let sql = format!("SELECT {KEY_COLS} FROM api_keys WHERE tenant_id = $1 AND id = $2");
        let row =
            sqlx::query(trusted(sql)).bind(tenant.to_string()).bind(id.to_string()).fetch_optional(self.pool()).await?;
        row.as_ref().map(key_from_row).transpose()
    }

    /// Keys of a tenant, or of one user in it, a page at a time.
    pub async fn list_api_keys(
        &self,
        tenant: TenantId,
        owner: Option<UserId>,
        page: PageRequest<'_>,
    ) -> Result<Page<ApiKey>> {
        let sql = format!(
            "SELECT {KEY_COLS} FROM api_keys WHERE tenant_id = $1 AND ($2 = '' OR user_id = $2) AND id > $3 ORDER BY id LIMIT $4"
        );
        let rows = sqlx::query(trusted(sql))
            .bind(tenant.to_string())
            .bind(owner.map(|u| u.to_string()).unwrap_or_default())
            .bind(page.after_or_min())
            .bind(page.fetch_limit())
            .fetch_all(self.pool())
            .await?;
        let items = rows.iter().map(key_from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page))
    }

    pub async fn revoke_api_key(&self, tenant: TenantId, id: ApiKeyId, now: Timestamp) -> Result<bool> {
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL")
                .bind(now.millis())
                .bind(tenant.to_string())
                .bind(id.to_string())
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn touch_api_key(&self, id: ApiKeyId, now: Timestamp) -> Result<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(now.millis())
            .bind(id.to_string())
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

async fn insert_refresh(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    session: SessionId,
    hash: &TokenHash,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, session_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(RefreshTokenId::new().to_string())
    .bind(session.to_string())
    .bind(hash.as_str().to_owned())
    .bind(now.millis())
    .bind(expires_at.millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Db {
    /// Deletes refresh tokens that expired before `cutoff`. Returns how many.
    pub async fn purge_refresh_tokens_expired_before(&self, cutoff: Timestamp) -> Result<u64> {
        let done = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1")
            .bind(cutoff.millis())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}

impl Db {
    /// Revokes the credentials of `user` that someone else could know: static tokens bound to a
    /// tenant (issued by a tenant admin) with their sessions, and API keys created by another
    /// user. Used when the user becomes sysadmin. Returns how many tokens and keys were revoked.
    pub async fn revoke_delegated_credentials(&self, user: UserId, now: Timestamp) -> Result<u64> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "UPDATE sessions SET revoked_at = $1, revoked_reason = 'promoted to sysadmin' \
             WHERE revoked_at IS NULL AND user_id = $2 AND tenant_id IS NOT NULL",
        )
        .bind(now.millis())
        .bind(user.to_string())
        .execute(&mut *tx)
        .await?;
        let tokens = sqlx::query(
            "UPDATE static_tokens SET revoked_at = $1 WHERE revoked_at IS NULL AND user_id = $2 AND tenant_id IS NOT NULL",
        )
        .bind(now.millis())
        .bind(user.to_string())
        .execute(&mut *tx)
        .await?;
        let keys = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE revoked_at IS NULL AND user_id = $2 AND created_by <> $2",
        )
        .bind(now.millis())
        .bind(user.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(tokens.rows_affected() + keys.rows_affected())
    }
}
