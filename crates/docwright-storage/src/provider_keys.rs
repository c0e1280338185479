//! Provider keys stored encrypted (the sealing is the engine's; this stores ciphertext only).

use docwright_core::id::{TenantId, UserId};
use docwright_core::time::Timestamp;
use sqlx::Row as _;

use crate::{Db, Result};

/// Whose key: a user's own (valid in every tenant) or a tenant's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOwner {
    User(UserId),
    Tenant(TenantId),
}

impl KeyOwner {
    fn columns(self) -> (String, String) {
        match self {
            KeyOwner::User(u) => (String::new(), u.to_string()),
            KeyOwner::Tenant(t) => (t.to_string(), String::new()),
        }
    }
}

impl Db {
    pub async fn put_provider_key(&self, owner: KeyOwner, provider: &str, ciphertext: &str) -> Result<()> {
        let (tenant, user) = owner.columns();
        sqlx::query(
            "INSERT INTO provider_keys (id, tenant_id, user_id, provider, ciphertext, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (tenant_id, user_id, provider) DO UPDATE SET ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(tenant)
        .bind(user)
        .bind(provider.to_owned())
        .bind(ciphertext.to_owned())
        .bind(Timestamp::now().millis())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn delete_provider_key(&self, owner: KeyOwner, provider: &str) -> Result<bool> {
        let (tenant, user) = owner.columns();
        let done = sqlx::query("DELETE FROM provider_keys WHERE tenant_id = $1 AND user_id = $2 AND provider = $3")
            .bind(tenant)
            .bind(user)
            .bind(provider.to_owned())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The sealed key of `owner` for `provider`.
    pub async fn provider_key(&self, owner: KeyOwner, provider: &str) -> Result<Option<String>> {
        let (tenant, user) = owner.columns();
        let row =
            sqlx::query("SELECT ciphertext FROM provider_keys WHERE tenant_id = $1 AND user_id = $2 AND provider = $3")
                .bind(tenant)
                .bind(user)
                .bind(provider.to_owned())
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|r| r.try_get("ciphertext")).transpose()?)
    }

    /// The providers `owner` has a key for, with when it was last set.
    pub async fn provider_key_list(&self, owner: KeyOwner) -> Result<Vec<(String, Timestamp)>> {
        let (tenant, user) = owner.columns();
        let rows = sqlx::query(
            "SELECT provider, updated_at FROM provider_keys WHERE tenant_id = $1 AND user_id = $2 ORDER BY provider",
        )
        .bind(tenant)
        .bind(user)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok((r.try_get("provider")?, Timestamp::from_millis(r.try_get("updated_at")?)))).collect()
    }
}
