//! Collections (SPEC Y3): named, tenant-scoped sets of files (migration 0017), searched and
//! used as the context of chats and workflows. Tenant-scoped like everything else.
//!
//! A file is in a collection at most once (`collection_files`' primary key); adding it again
//! changes nothing ([`MemberWrite::AlreadyMember`]). Adding checks in the same statement that
//! the collection and the file are both the tenant's, and answers [`MemberWrite::Missing`]
//! naming the first that is not, so an id of another tenant can never be linked. Deleting a
//! file or a collection drops its memberships (`ON DELETE CASCADE`).
//!
//! Names are not unique; a machine finds its collection by `external_key` (unique per tenant
//! when set): [`Db::ensure_collection_by_key`] inserts or finds it, race-safe on the partial
//! unique index. Search and retrieval scope to a collection's files through
//! [`FileScope::Collection`](crate::search::FileScope).

use docwright_core::id::{CollectionId, FileId, TenantId, UserId};
use docwright_core::time::Timestamp;
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::{Db, Page, PageRequest, Result, parse_col, parse_opt_col, trusted};

/// A collection of files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collection {
    pub id: CollectionId,
    pub tenant_id: TenantId,
    pub name: String,
    pub description: Option<String>,
    /// A machine's key for it (a sync source's key of a CRM record), unique in the tenant.
    pub external_key: Option<String>,
    /// Who made it; `None` for a sync source's.
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    /// The last change of its name, description or members.
    pub updated_at: Timestamp,
    /// How many files it holds (when read; 0 as written).
    pub file_count: u64,
}

/// Changes to a collection; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct CollectionPatch {
    pub name: Option<String>,
    /// `Some(None)` clears it.
    pub description: Option<Option<String>>,
}

/// A file of a collection, with what a listing shows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub collection_id: CollectionId,
    pub file_id: FileId,
    pub file_name: String,
    pub mime_type: String,
    pub file_size: u64,
    /// `pending | running | done | failed`.
    pub extraction_status: String,
    pub added_at: Timestamp,
}

/// How adding a member ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberWrite {
    Added,
    /// The file was in the collection already; nothing changed.
    AlreadyMember,
    /// `"collection"` or `"file"` is not the tenant's.
    Missing(&'static str),
}

const COLS: &str = "c.id, c.tenant_id, c.name, c.description, c.external_key, c.created_by, c.created_at, \
     c.updated_at, (SELECT COUNT(*) FROM collection_files cf WHERE cf.collection_id = c.id) AS file_count";

impl Db {
    /// Stores a new collection; [`Error::Conflict`](crate::Error::Conflict) when its
    /// `external_key` is the tenant's already.
    pub async fn insert_collection(&self, c: &Collection) -> Result<()> {
        sqlx::query(
            "INSERT INTO collections (id, tenant_id, name, description, external_key, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(c.id.to_string())
        .bind(c.tenant_id.to_string())
        .bind(c.name.clone())
        .bind(c.description.clone())
        .bind(c.external_key.clone())
        .bind(c.created_by.map(|u| u.to_string()))
        .bind(c.created_at.millis())
        .bind(c.updated_at.millis())
        .execute(self.writer())
        .await
        .map_err(crate::conflict("a collection with that external key"))?;
        Ok(())
    }

    pub async fn collection(&self, tenant: TenantId, id: CollectionId) -> Result<Option<Collection>> {
        let sql = format!("SELECT {COLS} FROM collections c WHERE c.tenant_id = $1 AND c.id = $2");
        let row =
            sqlx::query(trusted(sql)).bind(tenant.to_string()).bind(id.to_string()).fetch_optional(self.pool()).await?;
        row.as_ref().map(collection_from_row).transpose()
    }

    /// The tenant's collection with this external key, if any.
    pub async fn collection_by_key(&self, tenant: TenantId, key: &str) -> Result<Option<Collection>> {
        let sql = format!("SELECT {COLS} FROM collections c WHERE c.tenant_id = $1 AND c.external_key = $2");
        let row =
            sqlx::query(trusted(sql)).bind(tenant.to_string()).bind(key.to_owned()).fetch_optional(self.pool()).await?;
        row.as_ref().map(collection_from_row).transpose()
    }

    /// The tenant's collections in creation order, one page.
    pub async fn collections(&self, tenant: TenantId, page: PageRequest<'_>) -> Result<Page<Collection>> {
        let sql =
            format!("SELECT {COLS} FROM collections c WHERE c.tenant_id = $1 AND c.id > $2 ORDER BY c.id LIMIT $3");
        let rows = sqlx::query(trusted(sql))
            .bind(tenant.to_string())
            .bind(page.after_or_min())
            .bind(page.fetch_limit())
            .fetch_all(self.pool())
            .await?;
        let items = rows.iter().map(collection_from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page))
    }

    /// Renames or describes a collection; `false` when the tenant has no such collection.
    pub async fn update_collection(
        &self,
        tenant: TenantId,
        id: CollectionId,
        patch: &CollectionPatch,
        now: Timestamp,
    ) -> Result<bool> {
        // `$4 = 1`: the description is set (perhaps to NULL); else it stays.
        let n = sqlx::query(
            "UPDATE collections SET name = COALESCE($1, name), \
             description = CASE WHEN $4 = 1 THEN $2 ELSE description END, updated_at = $3 \
             WHERE tenant_id = $5 AND id = $6",
        )
        .bind(patch.name.clone())
        .bind(patch.description.clone().flatten())
        .bind(now.millis())
        .bind(i64::from(patch.description.is_some()))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .execute(self.writer())
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// Deletes a collection with its memberships (not the files).
    pub async fn delete_collection(&self, tenant: TenantId, id: CollectionId) -> Result<bool> {
        let n = sqlx::query("DELETE FROM collections WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(self.writer())
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// The tenant's collection with external key `key`, made now (named `name`) when there is
    /// none. Concurrent calls with one key get one collection: the insert does nothing on the
    /// partial unique index `collections_external_key` and the row that won is read back.
    pub async fn ensure_collection_by_key(&self, tenant: TenantId, key: &str, name: &str) -> Result<CollectionId> {
        let now = Timestamp::now();
        sqlx::query(
            "INSERT INTO collections (id, tenant_id, name, description, external_key, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, NULL, $4, NULL, $5, $5) ON CONFLICT DO NOTHING",
        )
        .bind(CollectionId::new().to_string())
        .bind(tenant.to_string())
        .bind(name.to_owned())
        .bind(key.to_owned())
        .bind(now.millis())
        .execute(self.writer())
        .await?;
        let id: Option<String> =
            sqlx::query_scalar("SELECT id FROM collections WHERE tenant_id = $1 AND external_key = $2")
                .bind(tenant.to_string())
                .bind(key.to_owned())
                .fetch_optional(self.writer())
                .await?;
        let id = id.ok_or_else(|| crate::Error::Corrupt(format!("collection with key {key:?} vanished")))?;
        CollectionId::parse(&id).map_err(|e| crate::Error::Corrupt(format!("collections.id: {e}")))
    }

    /// Puts a file of the tenant into a collection of the tenant (once; again changes nothing).
    pub async fn add_collection_member(
        &self,
        tenant: TenantId,
        collection: CollectionId,
        file: FileId,
        now: Timestamp,
    ) -> Result<MemberWrite> {
        let mut tx = self.writer().begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO collection_files (collection_id, file_id, tenant_id, added_at) \
             SELECT $1, $2, $3, $4 \
             WHERE EXISTS (SELECT 1 FROM collections WHERE tenant_id = $3 AND id = $1) \
             AND EXISTS (SELECT 1 FROM files WHERE tenant_id = $3 AND id = $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(collection.to_string())
        .bind(file.to_string())
        .bind(tenant.to_string())
        .bind(now.millis())
        .execute(&mut *tx)
        .await;
        let inserted = match inserted {
            Ok(r) => r.rows_affected(),
            // The file or collection went between the check and the insert.
            Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                return Ok(MemberWrite::Missing("file"));
            }
            Err(e) => return Err(e.into()),
        };
        if inserted > 0 {
            touch(&mut tx, tenant, collection, now).await?;
            tx.commit().await?;
            return Ok(MemberWrite::Added);
        }
        let exists = |table: &'static str, id: String| {
            let sql = format!("SELECT COUNT(*) FROM {table} WHERE tenant_id = $1 AND id = $2");
            sqlx::query_scalar::<_, i64>(trusted(sql)).bind(tenant.to_string()).bind(id)
        };
        let outcome = if exists("collections", collection.to_string()).fetch_one(&mut *tx).await? == 0 {
            MemberWrite::Missing("collection")
        } else if exists("files", file.to_string()).fetch_one(&mut *tx).await? == 0 {
            MemberWrite::Missing("file")
        } else {
            MemberWrite::AlreadyMember
        };
        tx.rollback().await?;
        Ok(outcome)
    }

    /// Takes a file out of a collection of the tenant; `false` when it was not in it.
    pub async fn remove_collection_member(
        &self,
        tenant: TenantId,
        collection: CollectionId,
        file: FileId,
        now: Timestamp,
    ) -> Result<bool> {
        let mut tx = self.writer().begin().await?;
        let n =
            sqlx::query("DELETE FROM collection_files WHERE tenant_id = $1 AND collection_id = $2 AND file_id = $3")
                .bind(tenant.to_string())
                .bind(collection.to_string())
                .bind(file.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if n > 0 {
            touch(&mut tx, tenant, collection, now).await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// The files of a collection of the tenant, by file id (their upload order), one page.
    pub async fn collection_members(
        &self,
        tenant: TenantId,
        collection: CollectionId,
        page: PageRequest<'_>,
    ) -> Result<Page<Member>> {
        let rows = sqlx::query(
            "SELECT cf.collection_id, cf.file_id, cf.added_at, f.file_name, f.mime_type, f.file_size, f.extraction_status \
             FROM collection_files cf JOIN files f ON f.id = cf.file_id \
             WHERE cf.tenant_id = $1 AND cf.collection_id = $2 AND cf.file_id > $3 ORDER BY cf.file_id LIMIT $4",
        )
        .bind(tenant.to_string())
        .bind(collection.to_string())
        .bind(page.after_or_min())
        .bind(page.fetch_limit())
        .fetch_all(self.pool())
        .await?;
        let items = rows.iter().map(member_from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page))
    }

    /// `file` as a member of `collection` (both the tenant's), if it is one.
    pub async fn collection_member(
        &self,
        tenant: TenantId,
        collection: CollectionId,
        file: FileId,
    ) -> Result<Option<Member>> {
        let row = sqlx::query(
            "SELECT cf.collection_id, cf.file_id, cf.added_at, f.file_name, f.mime_type, f.file_size, f.extraction_status \
             FROM collection_files cf JOIN files f ON f.id = cf.file_id \
             WHERE cf.tenant_id = $1 AND cf.collection_id = $2 AND cf.file_id = $3",
        )
        .bind(tenant.to_string())
        .bind(collection.to_string())
        .bind(file.to_string())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(member_from_row).transpose()
    }

    /// The tenant's collections that hold `file`, in creation order.
    pub async fn collections_of_file(&self, tenant: TenantId, file: FileId) -> Result<Vec<Collection>> {
        let sql = format!(
            "SELECT {COLS} FROM collections c JOIN collection_files m ON m.collection_id = c.id \
             WHERE m.tenant_id = $1 AND m.file_id = $2 AND c.tenant_id = $1 ORDER BY c.id"
        );
        let rows =
            sqlx::query(trusted(sql)).bind(tenant.to_string()).bind(file.to_string()).fetch_all(self.pool()).await?;
        rows.iter().map(collection_from_row).collect()
    }
}

/// Marks a collection changed.
async fn touch(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    tenant: TenantId,
    collection: CollectionId,
    now: Timestamp,
) -> Result<()> {
    sqlx::query("UPDATE collections SET updated_at = $1 WHERE tenant_id = $2 AND id = $3")
        .bind(now.millis())
        .bind(tenant.to_string())
        .bind(collection.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn collection_from_row(r: &AnyRow) -> Result<Collection> {
    Ok(Collection {
        id: parse_col(r, "id", CollectionId::parse)?,
        tenant_id: parse_col(r, "tenant_id", TenantId::parse)?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        external_key: r.try_get("external_key")?,
        created_by: parse_opt_col(r, "created_by", UserId::parse)?,
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
        updated_at: Timestamp::from_millis(r.try_get("updated_at")?),
        file_count: u64::try_from(r.try_get::<i64, _>("file_count")?).unwrap_or(0),
    })
}

fn member_from_row(r: &AnyRow) -> Result<Member> {
    Ok(Member {
        collection_id: parse_col(r, "collection_id", CollectionId::parse)?,
        file_id: parse_col(r, "file_id", FileId::parse)?,
        file_name: r.try_get("file_name")?,
        mime_type: r.try_get("mime_type")?,
        file_size: u64::try_from(r.try_get::<i64, _>("file_size")?).unwrap_or(0),
        extraction_status: r.try_get("extraction_status")?,
        added_at: Timestamp::from_millis(r.try_get("added_at")?),
    })
}
