//! RBAC rules per tenant. Bootstrap rules are copied into each new tenant, so admins edit
//! their own tenant's copy (SPEC P5). `sysadmin` has no stored rules: it is platform-wide.

use docwright_core::id::{RuleId, TenantId};
use docwright_core::rbac::{AccessLevel, ItemPattern, Rule};
use docwright_core::role::Role;
use docwright_core::time::Timestamp;
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::{Db, Result, parse_col, trusted};

/// A rule as stored, with its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRule {
    pub id: RuleId,
    pub rule: Rule,
    pub updated_at: Timestamp,
}

const RULE_COLS: &str = "id, role, item, can_view, read_level, create_level, update_level, delete_level, updated_at";

fn rule_from_row(row: &AnyRow) -> Result<StoredRule> {
    Ok(StoredRule {
        id: parse_col(row, "id", RuleId::parse)?,
        rule: Rule {
            role: parse_col(row, "role", Role::parse)?,
            item: parse_col(row, "item", ItemPattern::parse)?,
            view: row.try_get::<i64, _>("can_view")? != 0,
            read: parse_col(row, "read_level", AccessLevel::parse)?,
            create: parse_col(row, "create_level", AccessLevel::parse)?,
            update: parse_col(row, "update_level", AccessLevel::parse)?,
            delete: parse_col(row, "delete_level", AccessLevel::parse)?,
        },
        updated_at: Timestamp::from_millis(row.try_get("updated_at")?),
    })
}

pub(crate) async fn upsert_rule_in(conn: &mut sqlx::AnyConnection, tenant: TenantId, rule: &Rule) -> Result<()> {
    sqlx::query(
        "INSERT INTO rbac_rules (id, tenant_id, role, item, can_view, read_level, create_level, update_level, delete_level, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (tenant_id, role, item) DO UPDATE SET can_view = excluded.can_view, read_level = excluded.read_level, \
         create_level = excluded.create_level, update_level = excluded.update_level, delete_level = excluded.delete_level, \
         updated_at = excluded.updated_at",
    )
    .bind(RuleId::new().to_string())
    .bind(tenant.to_string())
    .bind(rule.role.as_str())
    .bind(rule.item.as_str().to_owned())
    .bind(i64::from(rule.view))
    .bind(rule.read.as_str())
    .bind(rule.create.as_str())
    .bind(rule.update.as_str())
    .bind(rule.delete.as_str())
    .bind(Timestamp::now().millis())
    .execute(conn)
    .await?;
    Ok(())
}

impl Db {
    /// Every rule of a tenant, ordered by role and item.
    pub async fn rules(&self, tenant: TenantId) -> Result<Vec<StoredRule>> {
        let sql = format!("SELECT {RULE_COLS} FROM rbac_rules WHERE tenant_id = $1 ORDER BY role, item");
        let rows = sqlx::query(trusted(sql)).bind(tenant.to_string()).fetch_all(self.pool()).await?;
        rows.iter().map(rule_from_row).collect()
    }

    /// Inserts the rule, or replaces the tenant's rule for the same role and item.
    pub async fn upsert_rule(&self, tenant: TenantId, rule: &Rule) -> Result<StoredRule> {
        let mut conn = self.pool().acquire().await?;
        upsert_rule_in(&mut conn, tenant, rule).await?;
        let sql = format!("SELECT {RULE_COLS} FROM rbac_rules WHERE tenant_id = $1 AND role = $2 AND item = $3");
        let row = sqlx::query(trusted(sql))
            .bind(tenant.to_string())
            .bind(rule.role.as_str())
            .bind(rule.item.as_str().to_owned())
            .fetch_one(&mut *conn)
            .await?;
        rule_from_row(&row)
    }

    pub async fn rule(&self, tenant: TenantId, id: RuleId) -> Result<Option<StoredRule>> {
        let sql = format!("SELECT {RULE_COLS} FROM rbac_rules WHERE tenant_id = $1 AND id = $2");
        let row =
            sqlx::query(trusted(sql)).bind(tenant.to_string()).bind(id.to_string()).fetch_optional(self.pool()).await?;
        row.as_ref().map(rule_from_row).transpose()
    }

    pub async fn delete_rule(&self, tenant: TenantId, id: RuleId) -> Result<bool> {
        let done = sqlx::query("DELETE FROM rbac_rules WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
