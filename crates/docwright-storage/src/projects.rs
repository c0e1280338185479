//! The projects tree (SPEC D4): clients → projects → folders (nested) → documents, and the
//! results produced about documents. Tenant-scoped like everything else.
//!
//! Writes that link rows (a project to its client, a folder to its project and parent, a
//! document to its project, folder and file) check inside their transaction that every linked
//! row exists in the same tenant, and answer [`Write::Missing`] naming the first that does not,
//! so an id of another tenant can never be linked. They first take the tenant's row lock
//! ([`lock_tree`]), so two moves cannot race into a cycle and a folder cannot be filled while it
//! moves to another project.

use std::collections::HashMap;

use docwright_core::id::{ClientId, DocumentId, FileId, FolderId, ProjectId, ResultId, TenantId};
use docwright_core::time::Timestamp;
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::{Db, Error, Page, PageRequest, Result, conflict, parse_col, parse_opt_col, trusted};

/// How deep folders may nest (a project's top-level folders are at depth 1). Keeps the tree
/// answer within what JSON parsers accept (serde_json stops at 128 levels).
pub const MAX_FOLDER_DEPTH: u32 = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: ClientId,
    pub tenant_id: TenantId,
    pub name: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: ProjectId,
    pub tenant_id: TenantId,
    pub client_id: ClientId,
    pub name: String,
    pub description: Option<String>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub id: FolderId,
    pub tenant_id: TenantId,
    pub project_id: ProjectId,
    /// `None`: at the top of the project.
    pub parent_id: Option<FolderId>,
    pub name: String,
    pub created_at: Timestamp,
}

/// A file placed in a project (once per project), optionally in one of its folders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub id: DocumentId,
    pub tenant_id: TenantId,
    pub project_id: ProjectId,
    pub folder_id: Option<FolderId>,
    pub file_id: FileId,
    pub title: String,
    pub created_at: Timestamp,
}

/// Something produced about a document (an extraction summary, a generation result).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentResult {
    pub id: ResultId,
    pub tenant_id: TenantId,
    pub document_id: DocumentId,
    /// `extraction | summary | generation | ...`: who produced it.
    pub kind: String,
    pub title: String,
    pub format: ResultFormat,
    pub content: String,
    pub created_at: Timestamp,
}

/// How a result's content is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultFormat {
    Text,
    /// A JSON document.
    Json,
}

impl ResultFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ResultFormat::Text => "text",
            ResultFormat::Json => "json",
        }
    }
}

/// How a write that links rows ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Done,
    /// The row written, or a row it links, is not in the tenant: `"client"`, `"project"`,
    /// `"folder"`, `"file"` or `"document"`.
    Missing(&'static str),
    /// The folder would end up inside itself.
    Cycle,
    /// The folder named is in another project than the one named.
    ProjectMismatch,
    /// Folders would nest deeper than [`MAX_FOLDER_DEPTH`].
    TooDeep,
}

/// Changes to a project; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProjectPatch {
    pub name: Option<String>,
    /// `Some(None)` clears it.
    pub description: Option<Option<String>>,
    /// Moves the project (with its tree) to another client.
    pub client_id: Option<ClientId>,
}

/// Renames or moves a folder (with everything in it). A new parent implies its project; a new
/// project without a parent puts the folder at that project's top.
#[derive(Debug, Clone, Default)]
pub struct FolderPatch {
    pub name: Option<String>,
    pub project_id: Option<ProjectId>,
    /// `Some(None)`: to the top of the project.
    pub parent_id: Option<Option<FolderId>>,
}

/// Retitles or moves a document. A new folder implies its project; a new project without a
/// folder puts the document at that project's top.
#[derive(Debug, Clone, Default)]
pub struct DocumentPatch {
    pub title: Option<String>,
    pub project_id: Option<ProjectId>,
    /// `Some(None)`: to the top of the project.
    pub folder_id: Option<Option<FolderId>>,
}

/// A client with everything below it, each level ordered by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTree {
    pub client: Client,
    pub projects: Vec<ProjectTree>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectTree {
    pub project: Project,
    pub folders: Vec<FolderTree>,
    /// Documents at the top of the project.
    pub documents: Vec<DocumentEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderTree {
    pub folder: Folder,
    pub folders: Vec<FolderTree>,
    pub documents: Vec<DocumentEntry>,
}

/// A document as the tree shows it: with its file's name, type and extraction status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentEntry {
    pub document: Document,
    pub file_name: String,
    pub mime_type: String,
    pub extraction_status: String,
}

/// Where a file is placed: for search results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub document_id: DocumentId,
    pub file_id: FileId,
    pub project_id: ProjectId,
    pub project_name: String,
    pub folder_id: Option<FolderId>,
    pub title: String,
}

const CLIENT_COLS: &str = "id, tenant_id, name, created_at";
const PROJECT_COLS: &str = "id, tenant_id, client_id, name, description, created_at";
const FOLDER_COLS: &str = "id, tenant_id, project_id, parent_id, name, created_at";
const DOCUMENT_COLS: &str = "id, tenant_id, project_id, folder_id, file_id, title, created_at";
const RESULT_COLS: &str = "id, tenant_id, document_id, kind, title, format, content, created_at";

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Takes the tenant's row lock for the rest of the transaction: tree writes of one tenant run
/// one at a time (PostgreSQL: a no-key row lock, which does not block inserts that reference
/// the tenant; SQLite: the database write lock, taken before anything is read).
async fn lock_tree(tx: &mut Tx, tenant: TenantId) -> Result<bool> {
    let n = sqlx::query("UPDATE tenants SET name = name WHERE id = $1")
        .bind(tenant.to_string())
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(n > 0)
}

async fn exists(tx: &mut Tx, table: &'static str, tenant: TenantId, id: String) -> Result<bool> {
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE tenant_id = $1 AND id = $2");
    let n: i64 = sqlx::query_scalar(trusted(sql)).bind(tenant.to_string()).bind(id).fetch_one(&mut **tx).await?;
    Ok(n > 0)
}

/// A tree table: its name, its columns and how a row of them is read.
type Table<T> = (&'static str, &'static str, fn(&AnyRow) -> Result<T>);

/// The row of `table` with `id` in `tenant`, read as `cols` by `from_row`, through `conn` (the
/// pool, or a transaction that goes on to write).
async fn by_id<'c, T>(
    conn: impl sqlx::Executor<'c, Database = sqlx::Any>,
    (table, cols, from_row): Table<T>,
    tenant: TenantId,
    id: String,
) -> Result<Option<T>> {
    let sql = format!("SELECT {cols} FROM {table} WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(trusted(sql)).bind(tenant.to_string()).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

const CLIENTS: Table<Client> = ("clients", CLIENT_COLS, client_from_row);
const PROJECTS: Table<Project> = ("projects", PROJECT_COLS, project_from_row);
const FOLDERS: Table<Folder> = ("folders", FOLDER_COLS, folder_from_row);
const DOCUMENTS: Table<Document> = ("documents", DOCUMENT_COLS, document_from_row);

async fn folder_in(tx: &mut Tx, tenant: TenantId, id: FolderId) -> Result<Option<Folder>> {
    by_id(&mut **tx, FOLDERS, tenant, id.to_string()).await
}

/// The depth of a folder: 1 at the top of its project.
async fn depth_of(tx: &mut Tx, folder: FolderId) -> Result<u32> {
    let n: i64 = sqlx::query_scalar(
        "WITH RECURSIVE up(id, parent_id) AS ( \
             SELECT id, parent_id FROM folders WHERE id = $1 \
             UNION ALL SELECT f.id, f.parent_id FROM folders f JOIN up ON f.id = up.parent_id) \
         SELECT COUNT(*) FROM up",
    )
    .bind(folder.to_string())
    .fetch_one(&mut **tx)
    .await?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// A folder and everything below it, each with its depth below `folder` (0 for itself).
async fn subtree(tx: &mut Tx, folder: FolderId) -> Result<Vec<(String, u32)>> {
    let rows = sqlx::query(
        "WITH RECURSIVE down(id, depth) AS ( \
             SELECT id, CAST(0 AS BIGINT) FROM folders WHERE id = $1 \
             UNION ALL SELECT f.id, down.depth + 1 FROM folders f JOIN down ON f.parent_id = down.id) \
         SELECT id, depth FROM down",
    )
    .bind(folder.to_string())
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get::<String, _>("id")?, u32::try_from(r.try_get::<i64, _>("depth")?).unwrap_or(u32::MAX))))
        .collect()
}

impl Db {
    async fn tree_tx(&self, tenant: TenantId) -> Result<Option<Tx>> {
        let mut tx = self.writer().begin().await?;
        Ok(if lock_tree(&mut tx, tenant).await? { Some(tx) } else { None })
    }

    // ---- clients

    /// Adds a client; [`Error::Conflict`] when the tenant has one of that name.
    pub async fn insert_client(&self, c: &Client) -> Result<()> {
        sqlx::query("INSERT INTO clients (id, tenant_id, name, created_at) VALUES ($1, $2, $3, $4)")
            .bind(c.id.to_string())
            .bind(c.tenant_id.to_string())
            .bind(c.name.clone())
            .bind(c.created_at.millis())
            .execute(self.pool())
            .await
            .map_err(conflict("a client of that name"))?;
        Ok(())
    }

    pub async fn client(&self, tenant: TenantId, id: ClientId) -> Result<Option<Client>> {
        by_id(self.pool(), CLIENTS, tenant, id.to_string()).await
    }

    /// The tenant's clients in creation order, one page.
    pub async fn clients(&self, tenant: TenantId, page: PageRequest<'_>) -> Result<Page<Client>> {
        let sql = format!("SELECT {CLIENT_COLS} FROM clients WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3");
        let rows = sqlx::query(trusted(sql))
            .bind(tenant.to_string())
            .bind(page.after_or_min())
            .bind(page.fetch_limit())
            .fetch_all(self.pool())
            .await?;
        let items = rows.iter().map(client_from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page))
    }

    /// `false` when the tenant has no such client.
    pub async fn rename_client(&self, tenant: TenantId, id: ClientId, name: &str) -> Result<bool> {
        let n = sqlx::query("UPDATE clients SET name = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(name.to_owned())
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(self.pool())
            .await
            .map_err(conflict("a client of that name"))?
            .rows_affected();
        Ok(n > 0)
    }

    /// Deletes a client with its projects, folders, documents and results (not the files).
    pub async fn delete_client(&self, tenant: TenantId, id: ClientId) -> Result<bool> {
        let Some(mut tx) = self.tree_tx(tenant).await? else { return Ok(false) };
        let n = sqlx::query("DELETE FROM clients WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    // ---- projects

    /// Adds a project to a client of the same tenant; [`Error::Conflict`] when the client has a
    /// project of that name.
    pub async fn insert_project(&self, p: &Project) -> Result<Write> {
        let Some(mut tx) = self.tree_tx(p.tenant_id).await? else { return Ok(Write::Missing("client")) };
        if !exists(&mut tx, "clients", p.tenant_id, p.client_id.to_string()).await? {
            return Ok(Write::Missing("client"));
        }
        sqlx::query(
            "INSERT INTO projects (id, tenant_id, client_id, name, description, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(p.id.to_string())
        .bind(p.tenant_id.to_string())
        .bind(p.client_id.to_string())
        .bind(p.name.clone())
        .bind(p.description.clone())
        .bind(p.created_at.millis())
        .execute(&mut *tx)
        .await
        .map_err(conflict("a project of that name for this client"))?;
        tx.commit().await?;
        Ok(Write::Done)
    }

    pub async fn project(&self, tenant: TenantId, id: ProjectId) -> Result<Option<Project>> {
        by_id(self.pool(), PROJECTS, tenant, id.to_string()).await
    }

    /// Renames, describes or moves a project to another client of the tenant.
    pub async fn update_project(&self, tenant: TenantId, id: ProjectId, patch: &ProjectPatch) -> Result<Write> {
        let Some(mut tx) = self.tree_tx(tenant).await? else { return Ok(Write::Missing("project")) };
        let Some(current) = by_id(&mut *tx, PROJECTS, tenant, id.to_string()).await? else {
            return Ok(Write::Missing("project"));
        };
        let client = patch.client_id.unwrap_or(current.client_id);
        if client != current.client_id && !exists(&mut tx, "clients", tenant, client.to_string()).await? {
            return Ok(Write::Missing("client"));
        }
        sqlx::query("UPDATE projects SET name = $1, description = $2, client_id = $3 WHERE tenant_id = $4 AND id = $5")
            .bind(patch.name.clone().unwrap_or(current.name))
            .bind(patch.description.clone().unwrap_or(current.description))
            .bind(client.to_string())
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(conflict("a project of that name for this client"))?;
        tx.commit().await?;
        Ok(Write::Done)
    }

    /// Deletes a project with its folders, documents and results (not the files).
    pub async fn delete_project(&self, tenant: TenantId, id: ProjectId) -> Result<bool> {
        let Some(mut tx) = self.tree_tx(tenant).await? else { return Ok(false) };
        let n = sqlx::query("DELETE FROM projects WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    // ---- folders

    /// Adds a folder to a project, under a parent in the same project or at the top;
    /// [`Error::Conflict`] when a sibling has the same name.
    pub async fn insert_folder(&self, f: &Folder) -> Result<Write> {
        let Some(mut tx) = self.tree_tx(f.tenant_id).await? else { return Ok(Write::Missing("project")) };
        if !exists(&mut tx, "projects", f.tenant_id, f.project_id.to_string()).await? {
            return Ok(Write::Missing("project"));
        }
        if let Some(parent) = f.parent_id {
            match folder_in(&mut tx, f.tenant_id, parent).await? {
                None => return Ok(Write::Missing("folder")),
                Some(p) if p.project_id != f.project_id => return Ok(Write::ProjectMismatch),
                Some(_) if depth_of(&mut tx, parent).await? >= MAX_FOLDER_DEPTH => return Ok(Write::TooDeep),
                Some(_) => {}
            }
        }
        sqlx::query(
            "INSERT INTO folders (id, tenant_id, project_id, parent_id, name, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(f.id.to_string())
        .bind(f.tenant_id.to_string())
        .bind(f.project_id.to_string())
        .bind(f.parent_id.map(|p| p.to_string()))
        .bind(f.name.clone())
        .bind(f.created_at.millis())
        .execute(&mut *tx)
        .await
        .map_err(conflict("a folder of that name here"))?;
        tx.commit().await?;
        Ok(Write::Done)
    }

    pub async fn folder(&self, tenant: TenantId, id: FolderId) -> Result<Option<Folder>> {
        by_id(self.pool(), FOLDERS, tenant, id.to_string()).await
    }

    /// Renames or moves a folder with its subfolders and documents (see [`FolderPatch`]).
    /// Refuses to put a folder inside itself or one of its descendants ([`Write::Cycle`]).
    /// Moving to another project moves the documents below it too; [`Error::Conflict`] when
    /// that project already has one of their files.
    pub async fn update_folder(&self, tenant: TenantId, id: FolderId, patch: &FolderPatch) -> Result<Write> {
        let Some(mut tx) = self.tree_tx(tenant).await? else { return Ok(Write::Missing("folder")) };
        let Some(current) = folder_in(&mut tx, tenant, id).await? else { return Ok(Write::Missing("folder")) };
        let parent = match patch.parent_id {
            Some(Some(p)) => match folder_in(&mut tx, tenant, p).await? {
                None => return Ok(Write::Missing("folder")),
                Some(p) => Some(p),
            },
            Some(None) => None,
            // Another project without a parent: its top.
            None if patch.project_id.is_some_and(|p| p != current.project_id) => None,
            None => match current.parent_id {
                Some(p) => folder_in(&mut tx, tenant, p).await?,
                None => None,
            },
        };
        let project = match (&parent, patch.project_id) {
            (Some(p), Some(want)) if p.project_id != want => return Ok(Write::ProjectMismatch),
            (Some(p), _) => p.project_id,
            (None, Some(want)) => want,
            (None, None) => current.project_id,
        };
        if project != current.project_id && !exists(&mut tx, "projects", tenant, project.to_string()).await? {
            return Ok(Write::Missing("project"));
        }
        let below = subtree(&mut tx, id).await?;
        if let Some(p) = &parent {
            let p_id = p.id.to_string();
            if below.iter().any(|(f, _)| *f == p_id) {
                return Ok(Write::Cycle);
            }
            let height = below.iter().map(|(_, d)| *d).max().unwrap_or(0);
            if depth_of(&mut tx, p.id).await?.saturating_add(1).saturating_add(height) > MAX_FOLDER_DEPTH {
                return Ok(Write::TooDeep);
            }
        }
        let name_conflict = conflict("a folder of that name here");
        sqlx::query("UPDATE folders SET name = $1, parent_id = $2, project_id = $3 WHERE tenant_id = $4 AND id = $5")
            .bind(patch.name.clone().unwrap_or(current.name))
            .bind(parent.as_ref().map(|p| p.id.to_string()))
            .bind(project.to_string())
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(name_conflict)?;
        if project != current.project_id {
            // The subtree goes along: its folders and their documents (ids are few; one
            // statement per table with the list bound).
            let ids: Vec<&String> = below.iter().map(|(f, _)| f).collect();
            let list = placeholders(3, ids.len());
            for (table, col) in [("folders", "id"), ("documents", "folder_id")] {
                let sql = format!("UPDATE {table} SET project_id = $1 WHERE tenant_id = $2 AND {col} IN ({list})");
                let mut q = sqlx::query(trusted(sql)).bind(project.to_string()).bind(tenant.to_string());
                for f in &ids {
                    q = q.bind((*f).clone());
                }
                q.execute(&mut *tx).await.map_err(conflict("a document of one of these files in that project"))?;
            }
        }
        tx.commit().await?;
        Ok(Write::Done)
    }

    /// Deletes a folder with its subfolders and the documents in them (not the files).
    pub async fn delete_folder(&self, tenant: TenantId, id: FolderId) -> Result<bool> {
        let Some(mut tx) = self.tree_tx(tenant).await? else { return Ok(false) };
        let n = sqlx::query("DELETE FROM folders WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    // ---- documents

    /// Places a file of the tenant in a project (in one of its folders or at the top);
    /// [`Error::Conflict`] when the project has that file already.
    pub async fn insert_document(&self, d: &Document) -> Result<Write> {
        let Some(mut tx) = self.tree_tx(d.tenant_id).await? else { return Ok(Write::Missing("project")) };
        if !exists(&mut tx, "projects", d.tenant_id, d.project_id.to_string()).await? {
            return Ok(Write::Missing("project"));
        }
        if !exists(&mut tx, "files", d.tenant_id, d.file_id.to_string()).await? {
            return Ok(Write::Missing("file"));
        }
        if let Some(folder) = d.folder_id {
            match folder_in(&mut tx, d.tenant_id, folder).await? {
                None => return Ok(Write::Missing("folder")),
                Some(f) if f.project_id != d.project_id => return Ok(Write::ProjectMismatch),
                Some(_) => {}
            }
        }
        sqlx::query(
            "INSERT INTO documents (id, tenant_id, project_id, folder_id, file_id, title, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(d.id.to_string())
        .bind(d.tenant_id.to_string())
        .bind(d.project_id.to_string())
        .bind(d.folder_id.map(|f| f.to_string()))
        .bind(d.file_id.to_string())
        .bind(d.title.clone())
        .bind(d.created_at.millis())
        .execute(&mut *tx)
        .await
        .map_err(conflict("a document of this file in the project"))?;
        tx.commit().await?;
        Ok(Write::Done)
    }

    pub async fn document(&self, tenant: TenantId, id: DocumentId) -> Result<Option<Document>> {
        by_id(self.pool(), DOCUMENTS, tenant, id.to_string()).await
    }

    /// Retitles or moves a document (see [`DocumentPatch`]).
    pub async fn update_document(&self, tenant: TenantId, id: DocumentId, patch: &DocumentPatch) -> Result<Write> {
        let Some(mut tx) = self.tree_tx(tenant).await? else { return Ok(Write::Missing("document")) };
        let Some(current) = by_id(&mut *tx, DOCUMENTS, tenant, id.to_string()).await? else {
            return Ok(Write::Missing("document"));
        };
        let folder = match patch.folder_id {
            Some(Some(f)) => match folder_in(&mut tx, tenant, f).await? {
                None => return Ok(Write::Missing("folder")),
                Some(f) => Some(f),
            },
            Some(None) => None,
            None if patch.project_id.is_some_and(|p| p != current.project_id) => None,
            None => match current.folder_id {
                Some(f) => folder_in(&mut tx, tenant, f).await?,
                None => None,
            },
        };
        let project = match (&folder, patch.project_id) {
            (Some(f), Some(want)) if f.project_id != want => return Ok(Write::ProjectMismatch),
            (Some(f), _) => f.project_id,
            (None, Some(want)) => want,
            (None, None) => current.project_id,
        };
        if project != current.project_id && !exists(&mut tx, "projects", tenant, project.to_string()).await? {
            return Ok(Write::Missing("project"));
        }
        sqlx::query(
            "UPDATE documents SET title = $1, project_id = $2, folder_id = $3 WHERE tenant_id = $4 AND id = $5",
        )
        .bind(patch.title.clone().unwrap_or(current.title))
        .bind(project.to_string())
        .bind(folder.map(|f| f.id.to_string()))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(conflict("a document of this file in that project"))?;
        tx.commit().await?;
        Ok(Write::Done)
    }

    /// Removes a document (and its results) from its project; the file stays.
    pub async fn delete_document(&self, tenant: TenantId, id: DocumentId) -> Result<bool> {
        let n = sqlx::query("DELETE FROM documents WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(self.pool())
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Where these files of the tenant are placed, in creation order.
    pub async fn placements(&self, tenant: TenantId, files: &[FileId]) -> Result<Vec<Placement>> {
        if files.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT d.id, d.file_id, d.project_id, p.name AS project_name, d.folder_id, d.title \
             FROM documents d JOIN projects p ON p.id = d.project_id \
             WHERE d.tenant_id = $1 AND d.file_id IN ({}) ORDER BY d.id",
            placeholders(2, files.len())
        );
        let mut q = sqlx::query(trusted(sql)).bind(tenant.to_string());
        for f in files {
            q = q.bind(f.to_string());
        }
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(Placement {
                    document_id: parse_col(r, "id", DocumentId::parse)?,
                    file_id: parse_col(r, "file_id", FileId::parse)?,
                    project_id: parse_col(r, "project_id", ProjectId::parse)?,
                    project_name: r.try_get("project_name")?,
                    folder_id: parse_opt_col(r, "folder_id", FolderId::parse)?,
                    title: r.try_get("title")?,
                })
            })
            .collect()
    }

    // ---- the tree

    /// The tenant's clients (or just `client`) with their projects, folders and documents.
    pub async fn tree(&self, tenant: TenantId, client: Option<ClientId>) -> Result<Vec<ClientTree>> {
        let t = tenant.to_string();
        let c = client.map(|c| c.to_string()).unwrap_or_default();
        let sql = format!(
            "SELECT {CLIENT_COLS} FROM clients WHERE tenant_id = $1 AND ($2 = '' OR id = $2) ORDER BY name, id"
        );
        let clients = sqlx::query(trusted(sql)).bind(t.clone()).bind(c.clone()).fetch_all(self.pool()).await?;
        let sql = format!(
            "SELECT {PROJECT_COLS} FROM projects WHERE tenant_id = $1 AND ($2 = '' OR client_id = $2) ORDER BY name, id"
        );
        let projects = sqlx::query(trusted(sql)).bind(t.clone()).bind(c.clone()).fetch_all(self.pool()).await?;
        let sql = "SELECT f.id, f.tenant_id, f.project_id, f.parent_id, f.name, f.created_at FROM folders f \
             JOIN projects p ON p.id = f.project_id WHERE f.tenant_id = $1 AND ($2 = '' OR p.client_id = $2) \
             ORDER BY f.name, f.id";
        let folders = sqlx::query(sql).bind(t.clone()).bind(c.clone()).fetch_all(self.pool()).await?;
        let sql = "SELECT d.id, d.tenant_id, d.project_id, d.folder_id, d.file_id, d.title, d.created_at, \
             fl.file_name, fl.mime_type, fl.extraction_status FROM documents d \
             JOIN projects p ON p.id = d.project_id JOIN files fl ON fl.id = d.file_id \
             WHERE d.tenant_id = $1 AND ($2 = '' OR p.client_id = $2) ORDER BY d.title, d.id";
        let documents = sqlx::query(sql).bind(t).bind(c).fetch_all(self.pool()).await?;

        // Group documents by (project, folder) and folders by (project, parent), then build
        // from the top down.
        let mut docs: HashMap<(ProjectId, Option<FolderId>), Vec<DocumentEntry>> = HashMap::new();
        for r in &documents {
            let document = document_from_row(r)?;
            let entry = DocumentEntry {
                file_name: r.try_get("file_name")?,
                mime_type: r.try_get("mime_type")?,
                extraction_status: r.try_get("extraction_status")?,
                document,
            };
            docs.entry((entry.document.project_id, entry.document.folder_id)).or_default().push(entry);
        }
        let mut subfolders: HashMap<(ProjectId, Option<FolderId>), Vec<Folder>> = HashMap::new();
        for r in &folders {
            let f = folder_from_row(r)?;
            subfolders.entry((f.project_id, f.parent_id)).or_default().push(f);
        }
        fn build(
            project: ProjectId,
            parent: Option<FolderId>,
            subfolders: &mut HashMap<(ProjectId, Option<FolderId>), Vec<Folder>>,
            docs: &mut HashMap<(ProjectId, Option<FolderId>), Vec<DocumentEntry>>,
        ) -> Vec<FolderTree> {
            // Depth is bounded by MAX_FOLDER_DEPTH, and cycles cannot be stored.
            let children = subfolders.remove(&(project, parent)).unwrap_or_default();
            children
                .into_iter()
                .map(|folder| {
                    let folders = build(project, Some(folder.id), subfolders, docs);
                    let documents = docs.remove(&(project, Some(folder.id))).unwrap_or_default();
                    FolderTree { folder, folders, documents }
                })
                .collect()
        }
        let mut by_client: HashMap<ClientId, Vec<ProjectTree>> = HashMap::new();
        for r in &projects {
            let project = project_from_row(r)?;
            let folders = build(project.id, None, &mut subfolders, &mut docs);
            let documents = docs.remove(&(project.id, None)).unwrap_or_default();
            by_client.entry(project.client_id).or_default().push(ProjectTree { project, folders, documents });
        }
        clients
            .iter()
            .map(|r| {
                let client = client_from_row(r)?;
                let projects = by_client.remove(&client.id).unwrap_or_default();
                Ok(ClientTree { client, projects })
            })
            .collect()
    }

    // ---- results

    /// Records a result about a document of the tenant.
    pub async fn insert_document_result(&self, r: &DocumentResult) -> Result<Write> {
        let n = sqlx::query(
            "INSERT INTO document_results (id, tenant_id, document_id, kind, title, format, content, created_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS \
             (SELECT 1 FROM documents WHERE tenant_id = $2 AND id = $3)",
        )
        .bind(r.id.to_string())
        .bind(r.tenant_id.to_string())
        .bind(r.document_id.to_string())
        .bind(r.kind.clone())
        .bind(r.title.clone())
        .bind(r.format.as_str())
        .bind(r.content.clone())
        .bind(r.created_at.millis())
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(if n > 0 { Write::Done } else { Write::Missing("document") })
    }

    /// The results about a document of the tenant, newest first.
    pub async fn document_results(&self, tenant: TenantId, document: DocumentId) -> Result<Vec<DocumentResult>> {
        let sql = format!(
            "SELECT {RESULT_COLS} FROM document_results WHERE tenant_id = $1 AND document_id = $2 \
             ORDER BY created_at DESC, id DESC"
        );
        let rows = sqlx::query(trusted(sql))
            .bind(tenant.to_string())
            .bind(document.to_string())
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(result_from_row).collect()
    }

    /// How many content parts of each type group a file of the tenant has, by type group.
    pub async fn part_counts(&self, tenant: TenantId, file: FileId) -> Result<Vec<(String, u64)>> {
        let rows = sqlx::query(
            "SELECT type_group, COUNT(*) AS n FROM file_parts WHERE tenant_id = $1 AND file_id = $2 \
             GROUP BY type_group ORDER BY type_group",
        )
        .bind(tenant.to_string())
        .bind(file.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("type_group")?, u64::try_from(r.try_get::<i64, _>("n")?).unwrap_or(0))))
            .collect()
    }
}

/// `$from, $from+1, ...`: `n` placeholders for a bound list.
pub(crate) fn placeholders(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

fn client_from_row(r: &AnyRow) -> Result<Client> {
    Ok(Client {
        id: parse_col(r, "id", ClientId::parse)?,
        tenant_id: parse_col(r, "tenant_id", TenantId::parse)?,
        name: r.try_get("name")?,
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
    })
}

fn project_from_row(r: &AnyRow) -> Result<Project> {
    Ok(Project {
        id: parse_col(r, "id", ProjectId::parse)?,
        tenant_id: parse_col(r, "tenant_id", TenantId::parse)?,
        client_id: parse_col(r, "client_id", ClientId::parse)?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
    })
}

fn folder_from_row(r: &AnyRow) -> Result<Folder> {
    Ok(Folder {
        id: parse_col(r, "id", FolderId::parse)?,
        tenant_id: parse_col(r, "tenant_id", TenantId::parse)?,
        project_id: parse_col(r, "project_id", ProjectId::parse)?,
        parent_id: parse_opt_col(r, "parent_id", FolderId::parse)?,
        name: r.try_get("name")?,
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
    })
}

fn document_from_row(r: &AnyRow) -> Result<Document> {
    Ok(Document {
        id: parse_col(r, "id", DocumentId::parse)?,
        tenant_id: parse_col(r, "tenant_id", TenantId::parse)?,
        project_id: parse_col(r, "project_id", ProjectId::parse)?,
        folder_id: parse_opt_col(r, "folder_id", FolderId::parse)?,
        file_id: parse_col(r, "file_id", FileId::parse)?,
        title: r.try_get("title")?,
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
    })
}

fn result_from_row(r: &AnyRow) -> Result<DocumentResult> {
    let format: String = r.try_get("format")?;
    Ok(DocumentResult {
        id: parse_col(r, "id", ResultId::parse)?,
        tenant_id: parse_col(r, "tenant_id", TenantId::parse)?,
        document_id: parse_col(r, "document_id", DocumentId::parse)?,
        kind: r.try_get("kind")?,
        title: r.try_get("title")?,
        format: match format.as_str() {
            "json" => ResultFormat::Json,
            "text" => ResultFormat::Text,
            other => return Err(Error::Corrupt(format!("column format: `{other}`"))),
        },
        content: r.try_get("content")?,
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
    })
}
