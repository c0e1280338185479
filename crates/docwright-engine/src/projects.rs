//! The projects tree and search (SPEC D4): clients, projects, folders and documents under
//! `data.document.Project`; full-text search under `data.document.File` read; what was produced
//! about a document.
//!
//! The tree is shared by the tenant: its rows have no owner, so every use case here needs its
//! grant at level `tenant` (a rule that grants `my` reaches none of it). Placing a file needs
//! the caller to see the file (`data.document.File` read: the tenant's, or at level `my` their
//! own). Search honours the file grant the same way: at level `my` only the caller's own files
//! are searched. Where a hit is placed in the tree is shown to callers who may read the tree.

use docwright_core::id::{ClientId, DocumentId, FileId, FolderId, ProjectId, ResultId, TenantId};
use docwright_core::rbac::{Action, Permission, items};
use docwright_core::time::Timestamp;
use docwright_storage::files::FileRecord;
use docwright_storage::projects::{
    Client, ClientTree, Document, DocumentPatch, DocumentResult, Folder, FolderPatch, MAX_FOLDER_DEPTH, Placement,
    Project, ProjectPatch, ResultFormat, Write,
};
use docwright_storage::search::{FileScope, SearchHit, SearchQuery, search_terms};
use docwright_storage::{Page, PageRequest};

use crate::files::FILE_READ;
use crate::{Engine, Error, Grant, Result};

pub const PROJECT_READ: Permission = Permission::new(items::DOCUMENT_PROJECT, Action::Read);
pub const PROJECT_CREATE: Permission = Permission::new(items::DOCUMENT_PROJECT, Action::Create);
pub const PROJECT_UPDATE: Permission = Permission::new(items::DOCUMENT_PROJECT, Action::Update);
pub const PROJECT_DELETE: Permission = Permission::new(items::DOCUMENT_PROJECT, Action::Delete);
/// Search reads files' extracted text.
pub const SEARCH: Permission = FILE_READ;

/// Names and titles: 1 to this many characters after trimming.
const MAX_NAME_CHARS: usize = 200;
const MAX_DESCRIPTION_CHARS: usize = 4000;
/// Search pages: at most this many hits.
pub const MAX_SEARCH_LIMIT: u32 = 100;
/// The code of a refused move (a cycle, a folder of another project, too deep).
pub const INVALID_MOVE: &str = "invalid_move";

/// Changes to a project (see [`ProjectPatch`]); names are checked here.
#[derive(Debug, Clone, Default)]
pub struct ProjectChange {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub client_id: Option<ClientId>,
}

/// A result to record about a document.
#[derive(Debug, Clone)]
pub struct NewResult {
    /// Who produced it: `extraction`, `summary`, `generation`, ...
    pub kind: String,
    pub title: String,
    pub format: ResultFormat,
    /// Text, or a JSON document when `format` is JSON (checked).
    pub content: String,
}

/// Everything produced about a document: its file's extraction and the stored results.
#[derive(Debug, Clone)]
pub struct DocumentResults {
    pub document: Document,
    pub file: FileRecord,
    /// Content parts by type group (`text`, `table`, `image`, ...).
    pub part_counts: Vec<(String, u64)>,
    /// Newest first.
    pub results: Vec<DocumentResult>,
}

/// A search hit with where its file is placed (empty when the caller may not read the tree).
#[derive(Debug, Clone)]
pub struct Found {
    pub hit: SearchHit,
    pub placements: Vec<Placement>,
}

#[derive(Debug, Clone)]
pub struct SearchResults {
    pub hits: Vec<Found>,
    pub has_more: bool,
}

impl Engine {
    /// Checks the grant and that it reaches the tenant's shared tree.
    fn tree_grant(grant: &Grant, perm: Permission) -> Result<TenantId> {
        grant.expect(perm)?;
        if !grant.tenant_wide() {
            return Err(Error::Forbidden(format!(
                "the projects tree is shared by the tenant; level `my` of {perm} does not reach it"
            )));
        }
        Ok(grant.ctx().tenant)
    }

    // ---- clients

    pub async fn create_client(&self, grant: &Grant, name: &str) -> Result<Client> {
        let tenant = Self::tree_grant(grant, PROJECT_CREATE)?;
        let c = Client {
            id: ClientId::new(),
            tenant_id: tenant,
            name: checked_name("name", name)?,
            created_at: Timestamp::now(),
        };
        self.db.insert_client(&c).await.map_err(conflict)?;
        Ok(c)
    }

    pub async fn clients(&self, grant: &Grant, page: PageRequest<'_>) -> Result<Page<Client>> {
        let tenant = Self::tree_grant(grant, PROJECT_READ)?;
        Ok(self.db.clients(tenant, page).await?)
    }

    pub async fn client(&self, grant: &Grant, id: ClientId) -> Result<Client> {
        let tenant = Self::tree_grant(grant, PROJECT_READ)?;
        self.db.client(tenant, id).await?.ok_or(Error::NotFound("client"))
    }

    pub async fn rename_client(&self, grant: &Grant, id: ClientId, name: &str) -> Result<Client> {
        let tenant = Self::tree_grant(grant, PROJECT_UPDATE)?;
        let name = checked_name("name", name)?;
        if !self.db.rename_client(tenant, id, &name).await.map_err(conflict)? {
            return Err(Error::NotFound("client"));
        }
        self.db.client(tenant, id).await?.ok_or(Error::NotFound("client"))
    }

    /// Deletes a client with its whole tree; the files stay.
    pub async fn delete_client(&self, grant: &Grant, id: ClientId) -> Result<()> {
        let tenant = Self::tree_grant(grant, PROJECT_DELETE)?;
        if self.db.delete_client(tenant, id).await? { Ok(()) } else { Err(Error::NotFound("client")) }
    }

    // ---- projects

    pub async fn create_project(
        &self,
        grant: &Grant,
        client: ClientId,
        name: &str,
        description: Option<&str>,
    ) -> Result<Project> {
        let tenant = Self::tree_grant(grant, PROJECT_CREATE)?;
        let p = Project {
            id: ProjectId::new(),
            tenant_id: tenant,
            client_id: client,
            name: checked_name("name", name)?,
            description: description.map(checked_description).transpose()?.flatten(),
            created_at: Timestamp::now(),
        };
        written(self.db.insert_project(&p).await.map_err(conflict)?)?;
        Ok(p)
    }

    pub async fn project(&self, grant: &Grant, id: ProjectId) -> Result<Project> {
        let tenant = Self::tree_grant(grant, PROJECT_READ)?;
        self.db.project(tenant, id).await?.ok_or(Error::NotFound("project"))
    }

    /// Renames, describes, or moves a project (with its tree) to another client.
    pub async fn update_project(&self, grant: &Grant, id: ProjectId, change: ProjectChange) -> Result<Project> {
        let tenant = Self::tree_grant(grant, PROJECT_UPDATE)?;
        let patch = ProjectPatch {
            name: change.name.as_deref().map(|n| checked_name("name", n)).transpose()?,
            description: match change.description {
                Some(Some(d)) => Some(checked_description(&d)?),
                Some(None) => Some(None),
                None => None,
            },
            client_id: change.client_id,
        };
        written(self.db.update_project(tenant, id, &patch).await.map_err(conflict)?)?;
        self.db.project(tenant, id).await?.ok_or(Error::NotFound("project"))
    }

    /// Deletes a project with its folders, documents and results; the files stay.
    pub async fn delete_project(&self, grant: &Grant, id: ProjectId) -> Result<()> {
        let tenant = Self::tree_grant(grant, PROJECT_DELETE)?;
        if self.db.delete_project(tenant, id).await? { Ok(()) } else { Err(Error::NotFound("project")) }
    }

    // ---- folders

    pub async fn create_folder(
        &self,
        grant: &Grant,
        project: ProjectId,
        parent: Option<FolderId>,
        name: &str,
    ) -> Result<Folder> {
        let tenant = Self::tree_grant(grant, PROJECT_CREATE)?;
        let f = Folder {
            id: FolderId::new(),
            tenant_id: tenant,
            project_id: project,
            parent_id: parent,
            name: checked_name("name", name)?,
            created_at: Timestamp::now(),
        };
        written(self.db.insert_folder(&f).await.map_err(conflict)?)?;
        Ok(f)
    }

    /// Renames or moves a folder with everything in it (see [`FolderPatch`]).
    pub async fn update_folder(&self, grant: &Grant, id: FolderId, mut patch: FolderPatch) -> Result<Folder> {
        let tenant = Self::tree_grant(grant, PROJECT_UPDATE)?;
        patch.name = patch.name.as_deref().map(|n| checked_name("name", n)).transpose()?;
        written(self.db.update_folder(tenant, id, &patch).await.map_err(conflict)?)?;
        self.db.folder(tenant, id).await?.ok_or(Error::NotFound("folder"))
    }

    /// Deletes a folder with its subfolders and the documents in them; the files stay.
    pub async fn delete_folder(&self, grant: &Grant, id: FolderId) -> Result<()> {
        let tenant = Self::tree_grant(grant, PROJECT_DELETE)?;
        if self.db.delete_folder(tenant, id).await? { Ok(()) } else { Err(Error::NotFound("folder")) }
    }

    // ---- documents

    /// Places a file the caller can see in a project; the title defaults to the file's name.
    pub async fn add_document(
        &self,
        grant: &Grant,
        project: ProjectId,
        file: FileId,
        folder: Option<FolderId>,
        title: Option<&str>,
    ) -> Result<Document> {
        let tenant = Self::tree_grant(grant, PROJECT_CREATE)?;
        let file = self.file_for(grant, file).await?;
        let d = Document {
            id: DocumentId::new(),
            tenant_id: tenant,
            project_id: project,
            folder_id: folder,
            file_id: file.id,
            title: match title {
                Some(t) => checked_name("title", t)?,
                None => file.file_name.chars().take(MAX_NAME_CHARS).collect(),
            },
            created_at: Timestamp::now(),
        };
        written(self.db.insert_document(&d).await.map_err(conflict)?)?;
        Ok(d)
    }

    /// Retitles or moves a document (see [`DocumentPatch`]).
    pub async fn update_document(&self, grant: &Grant, id: DocumentId, mut patch: DocumentPatch) -> Result<Document> {
        let tenant = Self::tree_grant(grant, PROJECT_UPDATE)?;
        patch.title = patch.title.as_deref().map(|t| checked_name("title", t)).transpose()?;
        written(self.db.update_document(tenant, id, &patch).await.map_err(conflict)?)?;
        self.db.document(tenant, id).await?.ok_or(Error::NotFound("document"))
    }

    /// Removes a document (and its results) from its project; the file stays.
    pub async fn delete_document(&self, grant: &Grant, id: DocumentId) -> Result<()> {
        let tenant = Self::tree_grant(grant, PROJECT_DELETE)?;
        if self.db.delete_document(tenant, id).await? { Ok(()) } else { Err(Error::NotFound("document")) }
    }

    /// The file a caller may place: one they can read (`data.document.File` read: the tenant's,
    /// or their own at level `my`); any other answers not found, like a missing one.
    pub(crate) async fn file_for(&self, grant: &Grant, id: FileId) -> Result<FileRecord> {
        let file_grant = match self.authorize(grant.ctx().clone(), FILE_READ).await {
            Ok(g) => g,
            Err(Error::Forbidden(_)) => return Err(Error::NotFound("file")),
            Err(e) => return Err(e),
        };
        self.file(&file_grant, id).await
    }

    // ---- tree, results

    /// The tenant's clients (or one) with their projects, folders and documents.
    pub async fn tree(&self, grant: &Grant, client: Option<ClientId>) -> Result<Vec<ClientTree>> {
        let tenant = Self::tree_grant(grant, PROJECT_READ)?;
        let tree = self.db.tree(tenant, client).await?;
        // A client of the tenant is always in its own tree.
        if client.is_some() && tree.is_empty() {
            return Err(Error::NotFound("client"));
        }
        Ok(tree)
    }

    /// Everything produced about a document: its file's extraction and the stored results.
    pub async fn document_results(&self, grant: &Grant, id: DocumentId) -> Result<DocumentResults> {
        let tenant = Self::tree_grant(grant, PROJECT_READ)?;
        let document = self.db.document(tenant, id).await?.ok_or(Error::NotFound("document"))?;
        // Placing the file in the shared tree shared it: the tree's readers see what came of it.
        let file = self.db.file(tenant, document.file_id).await?.ok_or(Error::NotFound("document"))?;
        let part_counts = self.db.part_counts(tenant, file.id).await?;
        let results = self.db.document_results(tenant, id).await?;
        Ok(DocumentResults { document, file, part_counts, results })
    }

    /// Records a result about a document of `tenant`. For producers (workflows, chat), not for
    /// requests: it takes no grant, like [`Engine::enqueue_notice`].
    pub async fn add_document_result(
        &self,
        tenant: TenantId,
        document: DocumentId,
        new: NewResult,
    ) -> Result<DocumentResult> {
        let kind = new.kind.trim();
        if kind.is_empty()
            || kind.len() > 64
            || !kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(Error::invalid("kind", "a kind is 1 to 64 letters, digits, `_` or `-`"));
        }
        if new.format == ResultFormat::Json && serde_json::from_str::<serde_json::Value>(&new.content).is_err() {
            return Err(Error::invalid("content", "a result of format json must be a JSON document"));
        }
        let r = DocumentResult {
            id: ResultId::new(),
            tenant_id: tenant,
            document_id: document,
            kind: kind.to_owned(),
            title: checked_name("title", &new.title)?,
            format: new.format,
            content: new.content,
            created_at: Timestamp::now(),
        };
        written(self.db.insert_document_result(&r).await?)?;
        Ok(r)
    }

    // ---- search

    /// Full-text search over the extracted text of the files the caller may read, best first,
    /// one hit per file. `limit` 1 to [`MAX_SEARCH_LIMIT`].
    pub async fn search(&self, grant: &Grant, q: &str, limit: u32, offset: u32) -> Result<SearchResults> {
        grant.expect(SEARCH)?;
        self.search_scoped(grant, q, limit, offset, None).await
    }

    /// [`Engine::search`] limited to the files of `scope` (a collection's members), with a
    /// grant for [`SEARCH`] the caller has checked.
    pub(crate) async fn search_scoped(
        &self,
        grant: &Grant,
        q: &str,
        limit: u32,
        offset: u32,
        scope: Option<FileScope>,
    ) -> Result<SearchResults> {
        grant.expect(SEARCH)?;
        let terms = search_terms(q);
        if terms.is_empty() {
            return Err(Error::invalid("q", "the query has no word to search for"));
        }
        if !(1..=MAX_SEARCH_LIMIT).contains(&limit) {
            return Err(Error::invalid("limit", format!("limit must be between 1 and {MAX_SEARCH_LIMIT}")));
        }
        let ctx = grant.ctx();
        let owner = (!grant.tenant_wide()).then(|| ctx.user());
        let page = self.db.search_in(ctx.tenant, &SearchQuery { terms: &terms, owner, limit, offset }, scope).await?;
        // Where the hits are placed, for callers who may read the tree.
        let placements = match self.authorize(ctx.clone(), PROJECT_READ).await {
            Ok(g) if g.tenant_wide() => {
                let files: Vec<FileId> = page.hits.iter().map(|h| h.file_id).collect();
                self.db.placements(ctx.tenant, &files).await?
            }
            Ok(_) | Err(Error::Forbidden(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        let hits = page
            .hits
            .into_iter()
            .map(|hit| {
                let placements = placements.iter().filter(|p| p.file_id == hit.file_id).cloned().collect();
                Found { hit, placements }
            })
            .collect();
        Ok(SearchResults { hits, has_more: page.has_more })
    }
}

/// A storage outcome as the caller sees it.
fn written(w: Write) -> Result<()> {
    match w {
        Write::Done => Ok(()),
        Write::Missing(what) => Err(Error::NotFound(what)),
        Write::Cycle => Err(invalid_move("a folder cannot move into itself or into one of its subfolders")),
        Write::ProjectMismatch => Err(invalid_move("the folder named is in another project")),
        Write::TooDeep => Err(invalid_move(format!("folders nest at most {MAX_FOLDER_DEPTH} levels deep"))),
    }
}

fn invalid_move(message: impl Into<String>) -> Error {
    Error::Unprocessable { code: INVALID_MOVE, message: message.into() }
}

/// A unique name taken: a conflict that names it.
fn conflict(e: docwright_storage::Error) -> Error {
    match e {
        docwright_storage::Error::Conflict(what) => Error::Conflict(format!("{what} already exists")),
        e => e.into(),
    }
}

/// A name as stored: trimmed, without control characters, 1 to 200 characters.
pub(crate) fn checked_name(field: &str, s: &str) -> Result<String> {
    let s = s.trim();
    if s.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if s.chars().count() > MAX_NAME_CHARS {
        return Err(Error::invalid(field, format!("at most {MAX_NAME_CHARS} characters")));
    }
    if s.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(s.to_owned())
}

/// A description as stored: trimmed; empty means none.
pub(crate) fn checked_description(s: &str) -> Result<Option<String>> {
    let s = s.trim();
    if s.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(Error::invalid("description", format!("at most {MAX_DESCRIPTION_CHARS} characters")));
    }
    Ok((!s.is_empty()).then(|| s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_checked() {
        assert_eq!(checked_name("name", "  Acme AG ").unwrap(), "Acme AG");
        for bad in ["", "   ", "a\nb", &"x".repeat(201)] {
            assert!(checked_name("name", bad).is_err(), "{bad:?}");
        }
        assert_eq!(checked_description("  ").unwrap(), None);
    }
}
