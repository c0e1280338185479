//! Tenants.

use docwright_core::id::TenantId;
use docwright_core::name::TenantName;
use docwright_core::time::Timestamp;
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::{Db, Page, PageRequest, Result, conflict, parse_col};

/// A tenant as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub name: TenantName,
    pub created_at: Timestamp,
}

pub(crate) fn tenant_from_row(row: &AnyRow) -> Result<Tenant> {
    Ok(Tenant {
        id: parse_col(row, "id", TenantId::parse)?,
        name: parse_col(row, "name", TenantName::parse)?,
        created_at: Timestamp::from_millis(row.try_get("created_at")?),
    })
}

impl Db {
    /// Creates a tenant with its starting RBAC rules, in one transaction.
    pub async fn create_tenant(&self, tenant: &Tenant, rules: &[docwright_core::rbac::Rule]) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(tenant.id.to_string())
            .bind(tenant.name.as_str().to_owned())
            .bind(tenant.created_at.millis())
            .execute(&mut *tx)
            .await
            .map_err(conflict("a tenant with this name"))?;
        for rule in rules {
            crate::rbac::upsert_rule_in(&mut tx, tenant.id, rule).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>> {
        let row = sqlx::query("SELECT id, name, created_at FROM tenants WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    pub async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>> {
        let row = sqlx::query("SELECT id, name, created_at FROM tenants WHERE name = $1")
            .bind(name.to_owned())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    /// Every tenant, a page at a time (platform administration).
    pub async fn list_tenants(&self, page: PageRequest<'_>) -> Result<Page<Tenant>> {
        let rows = sqlx::query("SELECT id, name, created_at FROM tenants WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(page.after_or_min())
            .bind(page.fetch_limit())
            .fetch_all(self.pool())
            .await?;
        let items = rows.iter().map(tenant_from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page))
    }

    pub async fn count_tenants(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM tenants").fetch_one(self.pool()).await?.try_get("n")?)
    }
}
