//! The prompt library (SPEC T1): categories of requests (`analysis`, `summary`, ...) and preset
//! system prompts in them. Rows with `tenant_id` NULL are the installation's own, seeded at
//! start ([`Db::seed_prompt_library`]) and shared by every tenant; the others are a tenant's.
//! Readers take the tenant id and see the installation's rows and the tenant's; writers name the
//! scope they write in (`owner`: `None` for the installation's), so a tenant's admin cannot
//! reach another scope's rows by id.
//!
//! A category's key is unique per scope (two partial unique indexes); presets name their
//! category by key, so a tenant's category standing for an installation's keeps the
//! installation's presets under it.

use docwright_core::id::{PromptCategoryId, PromptPresetId, TenantId};
use docwright_core::time::Timestamp;
use serde_json::Value;
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::{Db, Error, Result, conflict, parse_col, parse_opt_col};

/// A category of requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptCategory {
    pub id: PromptCategoryId,
    /// `None`: the installation's own, shared by every tenant.
    pub tenant_id: Option<TenantId>,
    /// Stable and unique per scope, e.g. `analysis`.
    pub key: String,
    /// (language, name) pairs, in stored order.
    pub names: Vec<(String, String)>,
    /// (language, description) pairs.
    pub descriptions: Vec<(String, String)>,
    /// (language, words) pairs: what the offline classifier counts in a request.
    pub keywords: Vec<(String, Vec<String>)>,
    /// Lists are ordered by it, then by key.
    pub position: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A preset: a system prompt, by language, in a category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptPreset {
    pub id: PromptPresetId,
    /// `None`: the installation's own.
    pub tenant_id: Option<TenantId>,
    /// The key of its category.
    pub category: String,
    pub names: Vec<(String, String)>,
    /// (language, system prompt) pairs.
    pub prompts: Vec<(String, String)>,
    /// Presets of a category are ordered by it, then by id: the first is the category's default.
    pub position: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// How many rows one scope holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LibrarySize {
    pub categories: u64,
    pub presets: u64,
}

const CATEGORY_COLS: &str =
    "id, tenant_id, category_key, names, descriptions, keywords, sort_order, created_at, updated_at";
const PRESET_COLS: &str = "id, tenant_id, category_key, names, prompts, sort_order, created_at, updated_at";

fn object(r: &AnyRow, table: &str, col: &str) -> Result<serde_json::Map<String, Value>> {
    serde_json::from_str(&r.try_get::<String, _>(col)?).map_err(|e| Error::Corrupt(format!("{table}.{col}: {e}")))
}

fn texts(map: serde_json::Map<String, Value>) -> Vec<(String, String)> {
    map.into_iter().map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned())).collect()
}

fn texts_json(pairs: &[(String, String)]) -> String {
    let map: serde_json::Map<String, Value> =
        pairs.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    Value::Object(map).to_string()
}

fn words_json(pairs: &[(String, Vec<String>)]) -> String {
    let map: serde_json::Map<String, Value> = pairs
        .iter()
        .map(|(k, words)| (k.clone(), Value::Array(words.iter().cloned().map(Value::String).collect())))
        .collect();
    Value::Object(map).to_string()
}

fn category_from(r: &AnyRow) -> Result<PromptCategory> {
    let keywords = object(r, "prompt_categories", "keywords")?
        .into_iter()
        .map(|(lang, words)| {
            let words = words.as_array().map(Vec::as_slice).unwrap_or_default();
            (lang, words.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        })
        .collect();
    Ok(PromptCategory {
        id: parse_col(r, "id", PromptCategoryId::parse)?,
        tenant_id: parse_opt_col(r, "tenant_id", TenantId::parse)?,
        key: r.try_get("category_key")?,
        names: texts(object(r, "prompt_categories", "names")?),
        descriptions: texts(object(r, "prompt_categories", "descriptions")?),
        keywords,
        position: r.try_get("sort_order")?,
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
        updated_at: Timestamp::from_millis(r.try_get("updated_at")?),
    })
}

fn preset_from(r: &AnyRow) -> Result<PromptPreset> {
    Ok(PromptPreset {
        id: parse_col(r, "id", PromptPresetId::parse)?,
        tenant_id: parse_opt_col(r, "tenant_id", TenantId::parse)?,
        category: r.try_get("category_key")?,
        names: texts(object(r, "prompt_presets", "names")?),
        prompts: texts(object(r, "prompt_presets", "prompts")?),
        position: r.try_get("sort_order")?,
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
        updated_at: Timestamp::from_millis(r.try_get("updated_at")?),
    })
}

/// `owner` as the `COALESCE(tenant_id, '')` it is compared with.
fn scope(owner: Option<TenantId>) -> String {
    owner.map(|t| t.to_string()).unwrap_or_default()
}

/// Inserts a category on `conn` (`ON CONFLICT DO NOTHING` when `idempotent`, for the seed).
async fn insert_category(conn: &mut sqlx::AnyConnection, c: &PromptCategory, idempotent: bool) -> Result<u64> {
    let sql = format!(
        "INSERT INTO prompt_categories ({CATEGORY_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9){}",
        if idempotent { " ON CONFLICT DO NOTHING" } else { "" }
    );
    let done = sqlx::query(crate::trusted(sql))
        .bind(c.id.to_string())
        .bind(c.tenant_id.map(|t| t.to_string()))
        .bind(c.key.clone())
        .bind(texts_json(&c.names))
        .bind(texts_json(&c.descriptions))
        .bind(words_json(&c.keywords))
        .bind(c.position)
        .bind(c.created_at.millis())
        .bind(c.updated_at.millis())
        .execute(conn)
        .await
        .map_err(conflict(&format!("a prompt category with the key `{}`", c.key)))?;
    Ok(done.rows_affected())
}

async fn insert_preset(conn: &mut sqlx::AnyConnection, p: &PromptPreset, idempotent: bool) -> Result<u64> {
    let sql = format!(
        "INSERT INTO prompt_presets ({PRESET_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8){}",
        if idempotent { " ON CONFLICT DO NOTHING" } else { "" }
    );
    let done = sqlx::query(crate::trusted(sql))
        .bind(p.id.to_string())
        .bind(p.tenant_id.map(|t| t.to_string()))
        .bind(p.category.clone())
        .bind(texts_json(&p.names))
        .bind(texts_json(&p.prompts))
        .bind(p.position)
        .bind(p.created_at.millis())
        .bind(p.updated_at.millis())
        .execute(conn)
        .await
        .map_err(conflict("a prompt preset with this id"))?;
    Ok(done.rows_affected())
}

impl Db {
    /// The categories `tenant` sees, the installation's and its own, each scope's in order
    /// (the engine decides which of two with one key stands).
    pub async fn prompt_categories(&self, tenant: TenantId) -> Result<Vec<PromptCategory>> {
        let rows = sqlx::query(crate::trusted(format!(
            "SELECT {CATEGORY_COLS} FROM prompt_categories WHERE tenant_id IS NULL OR tenant_id = $1 \
             ORDER BY sort_order, category_key, id"
        )))
        .bind(tenant.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(category_from).collect()
    }

    /// A category `tenant` sees.
    pub async fn prompt_category(&self, tenant: TenantId, id: PromptCategoryId) -> Result<Option<PromptCategory>> {
        let row = sqlx::query(crate::trusted(format!(
            "SELECT {CATEGORY_COLS} FROM prompt_categories WHERE id = $1 AND (tenant_id IS NULL OR tenant_id = $2)"
        )))
        .bind(id.to_string())
        .bind(tenant.to_string())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(category_from).transpose()
    }

    /// Adds a category; [`Error::Conflict`] when its scope has one with the same key.
    pub async fn insert_prompt_category(&self, c: &PromptCategory) -> Result<()> {
        let mut conn = self.writer().acquire().await?;
        insert_category(&mut conn, c, false).await?;
        Ok(())
    }

    /// Replaces the names, descriptions, keywords and position of a category owned by `owner`
    /// (`None`: the installation's); `false` when there is no such category. The key stays.
    pub async fn update_prompt_category(&self, owner: Option<TenantId>, c: &PromptCategory) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE prompt_categories SET names = $1, descriptions = $2, keywords = $3, sort_order = $4, updated_at = $5 \
             WHERE id = $6 AND COALESCE(tenant_id, '') = $7",
        )
        .bind(texts_json(&c.names))
        .bind(texts_json(&c.descriptions))
        .bind(words_json(&c.keywords))
        .bind(c.position)
        .bind(c.updated_at.millis())
        .bind(c.id.to_string())
        .bind(scope(owner))
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes a category owned by `owner` unless a preset of the same scope is in it; `false`
    /// when nothing was deleted (no such category, or one still in use: the caller tells which).
    pub async fn delete_prompt_category(&self, owner: Option<TenantId>, id: PromptCategoryId) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM prompt_categories WHERE id = $1 AND COALESCE(tenant_id, '') = $2 \
             AND NOT EXISTS (SELECT 1 FROM prompt_presets p \
                 WHERE p.category_key = prompt_categories.category_key AND COALESCE(p.tenant_id, '') = $2)",
        )
        .bind(id.to_string())
        .bind(scope(owner))
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The presets `tenant` sees (the installation's and its own), of one category or all,
    /// ordered by position, then id.
    pub async fn prompt_presets(&self, tenant: TenantId, category: Option<&str>) -> Result<Vec<PromptPreset>> {
        let rows = sqlx::query(crate::trusted(format!(
            "SELECT {PRESET_COLS} FROM prompt_presets WHERE (tenant_id IS NULL OR tenant_id = $1) \
             AND ($2 = '' OR category_key = $2) ORDER BY sort_order, id"
        )))
        .bind(tenant.to_string())
        .bind(category.unwrap_or_default().to_owned())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(preset_from).collect()
    }

    /// A preset `tenant` sees.
    pub async fn prompt_preset(&self, tenant: TenantId, id: PromptPresetId) -> Result<Option<PromptPreset>> {
        let row = sqlx::query(crate::trusted(format!(
            "SELECT {PRESET_COLS} FROM prompt_presets WHERE id = $1 AND (tenant_id IS NULL OR tenant_id = $2)"
        )))
        .bind(id.to_string())
        .bind(tenant.to_string())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(preset_from).transpose()
    }

    pub async fn insert_prompt_preset(&self, p: &PromptPreset) -> Result<()> {
        let mut conn = self.writer().acquire().await?;
        insert_preset(&mut conn, p, false).await?;
        Ok(())
    }

    /// Replaces the category, names, prompts and position of a preset owned by `owner`;
    /// `false` when there is no such preset.
    pub async fn update_prompt_preset(&self, owner: Option<TenantId>, p: &PromptPreset) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE prompt_presets SET category_key = $1, names = $2, prompts = $3, sort_order = $4, updated_at = $5 \
             WHERE id = $6 AND COALESCE(tenant_id, '') = $7",
        )
        .bind(p.category.clone())
        .bind(texts_json(&p.names))
        .bind(texts_json(&p.prompts))
        .bind(p.position)
        .bind(p.updated_at.millis())
        .bind(p.id.to_string())
        .bind(scope(owner))
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes a preset owned by `owner`; `false` when there is no such preset.
    pub async fn delete_prompt_preset(&self, owner: Option<TenantId>, id: PromptPresetId) -> Result<bool> {
        let done = sqlx::query("DELETE FROM prompt_presets WHERE id = $1 AND COALESCE(tenant_id, '') = $2")
            .bind(id.to_string())
            .bind(scope(owner))
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// How many categories and presets `owner`'s scope holds (`None`: the installation's).
    pub async fn prompt_library_size(&self, owner: Option<TenantId>) -> Result<LibrarySize> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM prompt_categories WHERE COALESCE(tenant_id, '') = $1) AS categories, \
                    (SELECT COUNT(*) FROM prompt_presets WHERE COALESCE(tenant_id, '') = $1) AS presets",
        )
        .bind(scope(owner))
        .fetch_one(self.pool())
        .await?;
        let count = |col: &str| -> Result<u64> { Ok(row.try_get::<i64, _>(col)?.max(0) as u64) };
        Ok(LibrarySize { categories: count("categories")?, presets: count("presets")? })
    }

    /// Stores the installation's starter set when the installation has no category and no
    /// preset; `true` when it did. Rows come with fixed ids and are inserted with `ON CONFLICT
    /// DO NOTHING` in one transaction, so replicas starting together store them once.
    pub async fn seed_prompt_library(&self, categories: &[PromptCategory], presets: &[PromptPreset]) -> Result<bool> {
        if self.prompt_library_size(None).await? != LibrarySize::default() {
            return Ok(false);
        }
        let mut tx = self.begin_write().await?;
        for c in categories {
            insert_category(tx.conn(), c, true).await?;
        }
        for p in presets {
            insert_preset(tx.conn(), p, true).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}
