//! Users, their settings, and their memberships (user, tenant, role).

use docwright_core::id::{TenantId, UserId};
use docwright_core::name::{DisplayName, Email};
use docwright_core::role::Role;
use docwright_core::settings::{Language, ModelProfile, UserSettings};
use docwright_core::time::Timestamp;
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::tenants::{Tenant, tenant_from_row};
use crate::{Db, Page, PageRequest, Result, conflict, parse_col, parse_opt_col, trusted};

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub display_name: DisplayName,
    pub email: Option<Email>,
    pub disabled: bool,
    pub settings: UserSettings,
    pub created_at: Timestamp,
}

const USER_COLS: &str =
    "u.id, u.display_name, u.email, u.disabled, u.model_profile, u.selected_role_prompt_id, u.language, u.created_at";

fn user_from_row(row: &AnyRow) -> Result<User> {
    Ok(User {
        id: parse_col(row, "id", UserId::parse)?,
        display_name: parse_col(row, "display_name", DisplayName::parse)?,
        email: parse_opt_col(row, "email", Email::parse)?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        settings: UserSettings {
            model_profile: parse_col(row, "model_profile", ModelProfile::parse)?,
            selected_role_prompt_id: row.try_get("selected_role_prompt_id")?,
            language: parse_col(row, "language", Language::parse)?,
        },
        created_at: Timestamp::from_millis(row.try_get("created_at")?),
    })
}

/// A user together with their role in one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user: User,
    pub role: Role,
}

impl Db {
    /// Creates a user and their first membership in one transaction.
    pub async fn create_user(&self, user: &User, tenant: TenantId, role: Role) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO users (id, display_name, email, disabled, model_profile, selected_role_prompt_id, language, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(user.id.to_string())
        .bind(user.display_name.as_str().to_owned())
        .bind(user.email.as_ref().map(|e| e.as_str().to_owned()))
        .bind(i64::from(user.disabled))
        .bind(user.settings.model_profile.as_str())
        .bind(user.settings.selected_role_prompt_id.clone())
        .bind(user.settings.language.as_str())
        .bind(user.created_at.millis())
        .execute(&mut *tx)
        .await
        .map_err(conflict("a user with this e-mail address"))?;
        sqlx::query("INSERT INTO memberships (user_id, tenant_id, role, created_at) VALUES ($1, $2, $3, $4)")
            .bind(user.id.to_string())
            .bind(tenant.to_string())
            .bind(role.as_str())
            .bind(user.created_at.millis())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn user(&self, id: UserId) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLS} FROM users u WHERE u.id = $1");
        let row = sqlx::query(trusted(sql)).bind(id.to_string()).fetch_optional(self.pool()).await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub async fn update_user_settings(&self, id: UserId, s: &UserSettings) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE users SET model_profile = $1, selected_role_prompt_id = $2, language = $3 WHERE id = $4",
        )
        .bind(s.model_profile.as_str())
        .bind(s.selected_role_prompt_id.clone())
        .bind(s.language.as_str())
        .bind(id.to_string())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The user's role in `tenant`, if they are a member.
    pub async fn membership(&self, user: UserId, tenant: TenantId) -> Result<Option<Role>> {
        let row = sqlx::query("SELECT role FROM memberships WHERE user_id = $1 AND tenant_id = $2")
            .bind(user.to_string())
            .bind(tenant.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(|r| parse_col(r, "role", Role::parse)).transpose()
    }

    /// Every tenant the user belongs to, oldest membership first.
    pub async fn memberships_of(&self, user: UserId) -> Result<Vec<(Tenant, Role)>> {
        let rows = sqlx::query(
            "SELECT t.id, t.name, t.created_at, m.role FROM memberships m JOIN tenants t ON t.id = m.tenant_id \
             WHERE m.user_id = $1 ORDER BY m.created_at, t.id",
        )
        .bind(user.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok((tenant_from_row(r)?, parse_col(r, "role", Role::parse)?))).collect()
    }

    /// Whether the user holds `sysadmin` in any tenant (the platform-wide role).
    pub async fn is_sysadmin(&self, user: UserId) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM memberships WHERE user_id = $1 AND role = 'sysadmin'")
            .bind(user.to_string())
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// Sets the user's role in `tenant`, adding the membership if it does not exist.
    pub async fn set_membership(&self, user: UserId, tenant: TenantId, role: Role) -> Result<()> {
        sqlx::query(
            "INSERT INTO memberships (user_id, tenant_id, role, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, tenant_id) DO UPDATE SET role = excluded.role",
        )
        .bind(user.to_string())
        .bind(tenant.to_string())
        .bind(role.as_str())
        .bind(Timestamp::now().millis())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Members of a tenant, a page at a time, ordered by user id.
    pub async fn list_members(&self, tenant: TenantId, page: PageRequest<'_>) -> Result<Page<Member>> {
        let sql = format!(
            "SELECT {USER_COLS}, m.role FROM users u JOIN memberships m ON m.user_id = u.id \
             WHERE m.tenant_id = $1 AND u.id > $2 ORDER BY u.id LIMIT $3"
        );
        let rows = sqlx::query(trusted(sql))
            .bind(tenant.to_string())
            .bind(page.after_or_min())
            .bind(page.fetch_limit())
            .fetch_all(self.pool())
            .await?;
        let items = rows
            .iter()
            .map(|r| Ok(Member { user: user_from_row(r)?, role: parse_col(r, "role", Role::parse)? }))
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page))
    }

    /// One member of a tenant; `None` when the user does not exist *or* is not in that tenant.
    pub async fn member(&self, tenant: TenantId, user: UserId) -> Result<Option<Member>> {
        let sql = format!(
            "SELECT {USER_COLS}, m.role FROM users u JOIN memberships m ON m.user_id = u.id \
             WHERE m.tenant_id = $1 AND u.id = $2"
        );
        let row = sqlx::query(trusted(sql))
            .bind(tenant.to_string())
            .bind(user.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref()
            .map(|r| Ok(Member { user: user_from_row(r)?, role: parse_col(r, "role", Role::parse)? }))
            .transpose()
    }
}

impl Db {
    /// How many memberships carry `sysadmin`, across all tenants.
    pub async fn count_sysadmin_memberships(&self) -> Result<i64> {
        let row =
            sqlx::query("SELECT COUNT(*) AS n FROM memberships WHERE role = 'sysadmin'").fetch_one(self.pool()).await?;
        Ok(row.try_get("n")?)
    }
}

impl Db {
    /// Removes `user` from `tenant` and revokes the user's API keys there (they act only in that
    /// tenant). Returns whether a membership was removed.
    pub async fn remove_membership(&self, tenant: TenantId, user: UserId, now: Timestamp) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query("DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2")
            .bind(tenant.to_string())
            .bind(user.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE tenant_id = $2 AND user_id = $3 AND revoked_at IS NULL")
            .bind(now.millis())
            .bind(tenant.to_string())
            .bind(user.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }
}
