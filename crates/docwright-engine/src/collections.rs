//! Collections (SPEC Y3): named, tenant-scoped sets of files under
//! `data.document.Collection`, searchable, and the context of chats and workflows beside
//! projects (a chat or workflow names a project or a collection, not both:
//! [`SCOPE_CONFLICT`]).
//!
//! Collections are shared by the tenant like the projects tree: they have no owner, so every
//! use case here needs its grant at level `tenant`. Adding a file needs the caller to see it
//! (`data.document.File` read: the tenant's, or at level `my` their own), as placing one in a
//! project does; the members' names, types and extraction states are shown to the
//! collection's readers. Searching a collection honours the file grant the same way: at level
//! `my` only the caller's own files among the members are searched.
//!
//! The sync worker (SPEC Y) keeps collections of its own, found by an external key, through
//! [`Engine::sync_collection`], [`Engine::set_collection_member`] and
//! [`Engine::remove_collection_member`]: system functions that take a tenant and no grant,
//! like [`Engine::add_document_result`].

use docwright_core::id::{CollectionId, FileId, TenantId};
use docwright_core::rbac::{Action, Permission, items};
use docwright_core::time::Timestamp;
use docwright_storage::collections::{Collection, CollectionPatch, Member, MemberWrite};
use docwright_storage::search::FileScope;
use docwright_storage::{Page, PageRequest};

use crate::access::Ctx;
use crate::projects::{SearchResults, checked_description, checked_name};
use crate::{Engine, Error, Grant, Result};

pub const COLLECTION_READ: Permission = Permission::new(items::DOCUMENT_COLLECTION, Action::Read);
pub const COLLECTION_CREATE: Permission = Permission::new(items::DOCUMENT_COLLECTION, Action::Create);
pub const COLLECTION_UPDATE: Permission = Permission::new(items::DOCUMENT_COLLECTION, Action::Update);
pub const COLLECTION_DELETE: Permission = Permission::new(items::DOCUMENT_COLLECTION, Action::Delete);

/// The code of a chat or workflow that names both a project and a collection (422).
pub const SCOPE_CONFLICT: &str = "scope_conflict";

/// An external key: 1 to this many characters, no control characters.
const MAX_KEY_CHARS: usize = 500;
/// Names are stored at most this long (a longer CRM name is cut, not refused).
const MAX_NAME_CHARS: usize = 200;

/// Changes to a collection; `None` leaves a field as it is, `description: Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct CollectionChange {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
}

/// How adding a member ended.
#[derive(Debug, Clone)]
pub struct Added {
    pub member: Member,
    /// `false`: the file was in the collection already.
    pub created: bool,
}

impl Engine {
    /// Checks the grant and that it reaches the tenant's shared collections.
    fn collection_grant(grant: &Grant, perm: Permission) -> Result<TenantId> {
        grant.expect(perm)?;
        if !grant.tenant_wide() {
            return Err(Error::Forbidden(format!(
                "collections are shared by the tenant; level `my` of {perm} does not reach them"
            )));
        }
        Ok(grant.ctx().tenant)
    }

    pub async fn create_collection(&self, grant: &Grant, name: &str, description: Option<&str>) -> Result<Collection> {
        let tenant = Self::collection_grant(grant, COLLECTION_CREATE)?;
        let now = Timestamp::now();
        let c = Collection {
            id: CollectionId::new(),
            tenant_id: tenant,
            name: checked_name("name", name)?,
            description: description.map(checked_description).transpose()?.flatten(),
            external_key: None,
            created_by: Some(grant.ctx().user()),
            created_at: now,
            updated_at: now,
            file_count: 0,
        };
        self.db.insert_collection(&c).await?;
        Ok(c)
    }

    /// The tenant's collections in creation order.
    pub async fn collections(&self, grant: &Grant, page: PageRequest<'_>) -> Result<Page<Collection>> {
        let tenant = Self::collection_grant(grant, COLLECTION_READ)?;
        Ok(self.db.collections(tenant, page).await?)
    }

    pub async fn collection(&self, grant: &Grant, id: CollectionId) -> Result<Collection> {
        let tenant = Self::collection_grant(grant, COLLECTION_READ)?;
        self.db.collection(tenant, id).await?.ok_or(Error::NotFound("collection"))
    }

    /// Renames or describes a collection.
    pub async fn update_collection(
        &self,
        grant: &Grant,
        id: CollectionId,
        change: CollectionChange,
    ) -> Result<Collection> {
        let tenant = Self::collection_grant(grant, COLLECTION_UPDATE)?;
        let patch = CollectionPatch {
            name: change.name.as_deref().map(|n| checked_name("name", n)).transpose()?,
            description: match change.description {
                Some(Some(d)) => Some(checked_description(&d)?),
                Some(None) => Some(None),
                None => None,
            },
        };
        if !self.db.update_collection(tenant, id, &patch, Timestamp::now()).await? {
            return Err(Error::NotFound("collection"));
        }
        self.db.collection(tenant, id).await?.ok_or(Error::NotFound("collection"))
    }

    /// Deletes a collection with its memberships; the files stay.
    pub async fn delete_collection(&self, grant: &Grant, id: CollectionId) -> Result<()> {
        let tenant = Self::collection_grant(grant, COLLECTION_DELETE)?;
        if self.db.delete_collection(tenant, id).await? { Ok(()) } else { Err(Error::NotFound("collection")) }
    }

    /// The files of a collection with their names, types and extraction states, one page.
    pub async fn collection_files(
        &self,
        grant: &Grant,
        id: CollectionId,
        page: PageRequest<'_>,
    ) -> Result<Page<Member>> {
        let tenant = Self::collection_grant(grant, COLLECTION_READ)?;
        self.db.collection(tenant, id).await?.ok_or(Error::NotFound("collection"))?;
        Ok(self.db.collection_members(tenant, id, page).await?)
    }

    /// Adds a file the caller can see to a collection; adding it again changes nothing.
    pub async fn add_collection_file(&self, grant: &Grant, id: CollectionId, file: FileId) -> Result<Added> {
        let tenant = Self::collection_grant(grant, COLLECTION_UPDATE)?;
        self.db.collection(tenant, id).await?.ok_or(Error::NotFound("collection"))?;
        let file = self.file_for(grant, file).await?;
        let created = match self.db.add_collection_member(tenant, id, file.id, Timestamp::now()).await? {
            MemberWrite::Added => true,
            MemberWrite::AlreadyMember => false,
            MemberWrite::Missing(what) => return Err(Error::NotFound(what)),
        };
        // A file deleted right after it was added is gone from the collection too.
        let member = self.db.collection_member(tenant, id, file.id).await?.ok_or(Error::NotFound("file"))?;
        Ok(Added { member, created })
    }

    /// Takes a file out of a collection (the file stays); 404 when it is not in it.
    pub async fn remove_collection_file(&self, grant: &Grant, id: CollectionId, file: FileId) -> Result<()> {
        let tenant = Self::collection_grant(grant, COLLECTION_UPDATE)?;
        self.db.collection(tenant, id).await?.ok_or(Error::NotFound("collection"))?;
        if self.db.remove_collection_member(tenant, id, file, Timestamp::now()).await? {
            Ok(())
        } else {
            Err(Error::NotFound("file"))
        }
    }

    /// Full-text search over the extracted text of a collection's files, as
    /// [`Engine::search`] ranks it (one hit per file, with its best part); of the caller's own
    /// files among them when their file grant is at level `my`.
    pub async fn search_collection(
        &self,
        grant: &Grant,
        id: CollectionId,
        q: &str,
        limit: u32,
        offset: u32,
    ) -> Result<SearchResults> {
        let tenant = Self::collection_grant(grant, COLLECTION_READ)?;
        self.db.collection(tenant, id).await?.ok_or(Error::NotFound("collection"))?;
        let file_grant = self.authorize(grant.ctx().clone(), crate::projects::SEARCH).await?;
        self.search_scoped(&file_grant, q, limit, offset, Some(FileScope::Collection(id))).await
    }

    /// Checks that `ctx` may read `id` (a chat's or workflow's collection): else 404, before
    /// anything is stored, whether the collection is missing, another tenant's or out of reach.
    pub(crate) async fn readable_collection(&self, ctx: &Ctx, id: CollectionId) -> Result<Collection> {
        let grant = match self.authorize(ctx.clone(), COLLECTION_READ).await {
            Ok(g) if g.tenant_wide() => g,
            Ok(_) | Err(Error::Forbidden(_)) => return Err(Error::NotFound("collection")),
            Err(e) => return Err(e),
        };
        self.collection(&grant, id).await
    }

    // ---- the sync worker's way in: a tenant, no grant

    /// The tenant's collection with external key `key` (a sync source's key for a CRM
    /// record), made now when there is none; its name follows `name` (the CRM's, cut to 200
    /// characters). Concurrent calls with one key get one collection.
    pub async fn sync_collection(&self, tenant: TenantId, key: &str, name: &str) -> Result<CollectionId> {
        let key = key.trim();
        if key.is_empty() || key.chars().count() > MAX_KEY_CHARS || key.chars().any(char::is_control) {
            return Err(Error::invalid("key", format!("1 to {MAX_KEY_CHARS} characters, no control characters")));
        }
        let name = sync_name(name, key);
        let id = self.db.ensure_collection_by_key(tenant, key, &name).await?;
        if let Some(c) = self.db.collection(tenant, id).await?
            && c.name != name
        {
            let patch = CollectionPatch { name: Some(name), description: None };
            self.db.update_collection(tenant, id, &patch, Timestamp::now()).await?;
        }
        Ok(id)
    }

    /// Puts a file of the tenant into a collection of the tenant; already there: nothing
    /// changes. Either not the tenant's: [`Error::NotFound`] naming which.
    pub async fn set_collection_member(&self, tenant: TenantId, collection: CollectionId, file: FileId) -> Result<()> {
        match self.db.add_collection_member(tenant, collection, file, Timestamp::now()).await? {
            MemberWrite::Added | MemberWrite::AlreadyMember => Ok(()),
            MemberWrite::Missing(what) => Err(Error::NotFound(what)),
        }
    }

    /// Takes a file out of a collection of the tenant; not in it (or either gone): nothing
    /// changes.
    pub async fn remove_collection_member(
        &self,
        tenant: TenantId,
        collection: CollectionId,
        file: FileId,
    ) -> Result<()> {
        self.db.remove_collection_member(tenant, collection, file, Timestamp::now()).await?;
        Ok(())
    }
}

/// The chat's or workflow's scope: a project or a collection, never both (422
/// [`SCOPE_CONFLICT`]).
pub(crate) fn one_scope(project: bool, collection: bool) -> Result<()> {
    if project && collection {
        return Err(Error::Unprocessable {
            code: SCOPE_CONFLICT,
            message: "name a project_id or a collection_id, not both".to_owned(),
        });
    }
    Ok(())
}

/// A name from a machine as stored: control characters as spaces, trimmed, cut to 200
/// characters; the key when nothing is left.
fn sync_name(name: &str, key: &str) -> String {
    let cleaned: String = name.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let cut: String = cleaned.trim().chars().take(MAX_NAME_CHARS).collect();
    let cut = cut.trim_end().to_owned();
    if cut.is_empty() { key.chars().take(MAX_NAME_CHARS).collect() } else { cut }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_names_are_cleaned_and_cut() {
        assert_eq!(sync_name("  ACME\nAG ", "k"), "ACME AG");
        assert_eq!(sync_name(" \t ", "espo:acc1"), "espo:acc1");
        assert_eq!(sync_name(&"x".repeat(300), "k").chars().count(), MAX_NAME_CHARS);
        assert!(one_scope(true, true).is_err());
        assert!(one_scope(true, false).is_ok() && one_scope(false, true).is_ok() && one_scope(false, false).is_ok());
    }
}
