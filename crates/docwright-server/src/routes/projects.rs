//! The projects tree and search (SPEC D4), all under `/projects`:
//!
//! - clients: `POST /projects/clients`, `GET /projects/clients`,
//!   `GET | PATCH | DELETE /projects/clients/{id}`;
//! - projects: `POST /projects` (body names the client), `GET | PATCH | DELETE /projects/{id}`;
//! - folders: `POST /projects/{id}/folders`, `PATCH | DELETE /projects/folders/{id}`;
//! - documents: `POST /projects/{id}/documents`, `PATCH | DELETE /projects/documents/{id}`,
//!   `GET /projects/documents/{id}/results`;
//! - `GET /projects/tree?client_id=`, `GET /projects/search?q=&limit=&offset=`.
//!
//! The scheme: a new thing is created under its parent's path (a project's folders and
//! documents under `/projects/{id}/...`), and once it exists it is addressed by its kind and
//! id (`/projects/folders/{id}`), so a move does not change its address. The fixed words
//! (`clients`, `folders`, `documents`, `tree`, `search`) are static segments, which the router
//! prefers to the `{id}` of a project; a project id is a UUID and never one of those words.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use docwright_core::id::{ClientId, DocumentId, FileId, FolderId, ProjectId};
use docwright_engine::projects::{DocumentResults, Found, MAX_SEARCH_LIMIT, ProjectChange};
use docwright_storage::projects::{
    Client, ClientTree, Document, DocumentEntry, DocumentPatch, Folder, FolderPatch, FolderTree, Project, ProjectTree,
    ResultFormat,
};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::guard::Authorized;
use crate::pagination::{PageOf, PageQuery};
use crate::state::AppState;

pub(super) use docwright_api::projects::{
    ClientIn, ClientOut, DocumentIn, DocumentOut, DocumentPatchIn, DocumentResultsOut, ExtractionOut, FolderIn,
    FolderOut, FolderPatchIn, HitOut, LocationOut, PlacementOut, ProjectIn, ProjectOut, ProjectPatchIn, ResultFileOut,
    ResultOut, SearchOut, TreeClientOut, TreeDocumentOut, TreeFolderOut, TreeOut, TreeProjectOut,
};

// ---- clients

fn client_out(c: Client) -> ClientOut {
    ClientOut { id: c.id.as_uuid(), name: c.name, created_at: c.created_at.to_rfc3339() }
}

/// Create a client (the top of the projects tree).
#[utoipa::path(post, path = "/projects/clients", tag = "projects", request_body = ClientIn,
    responses((status = 201, body = ClientOut), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn create_client(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiJson(req): ApiJson<ClientIn>,
) -> Result<(StatusCode, Json<ClientOut>), ApiError> {
    Ok((StatusCode::CREATED, Json(client_out(state.engine.create_client(&grant, &req.name).await?))))
}

/// The tenant's clients, in creation order.
#[utoipa::path(get, path = "/projects/clients", tag = "projects", params(PageQuery),
    responses((status = 200, body = PageOf<ClientOut>), (status = 400, body = ErrorBody)))]
pub(crate) async fn list_clients(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<PageOf<ClientOut>>, ApiError> {
    let p = q.parse()?;
    let page = state.engine.clients(&grant, p.request()).await?;
    Ok(Json(crate::pagination::page_of(page, |c| c.id.to_string(), client_out)))
}

/// A client.
#[utoipa::path(get, path = "/projects/clients/{id}", tag = "projects", params(("id" = Uuid, Path, description = "Client id")),
    responses((status = 200, body = ClientOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_client(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<ClientOut>, ApiError> {
    Ok(Json(client_out(state.engine.client(&grant, ClientId::from(id)).await?)))
}

/// Rename a client.
#[utoipa::path(patch, path = "/projects/clients/{id}", tag = "projects", params(("id" = Uuid, Path, description = "Client id")),
    request_body = ClientIn, responses((status = 200, body = ClientOut), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn update_client(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<ClientIn>,
) -> Result<Json<ClientOut>, ApiError> {
    Ok(Json(client_out(state.engine.rename_client(&grant, ClientId::from(id), &req.name).await?)))
}

/// Delete a client with its projects, folders, documents and results. The files stay.
#[utoipa::path(delete, path = "/projects/clients/{id}", tag = "projects", params(("id" = Uuid, Path, description = "Client id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_client(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.engine.delete_client(&grant, ClientId::from(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- projects

fn project_out(p: Project) -> ProjectOut {
    ProjectOut {
        id: p.id.as_uuid(),
        client_id: p.client_id.as_uuid(),
        name: p.name,
        description: p.description,
        created_at: p.created_at.to_rfc3339(),
    }
}

/// Create a project of a client.
#[utoipa::path(post, path = "/projects", tag = "projects", request_body = ProjectIn,
    responses((status = 201, body = ProjectOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub(crate) async fn create_project(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiJson(req): ApiJson<ProjectIn>,
) -> Result<(StatusCode, Json<ProjectOut>), ApiError> {
    let p = state
        .engine
        .create_project(&grant, ClientId::from(req.client_id), &req.name, req.description.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(project_out(p))))
}

/// A project.
#[utoipa::path(get, path = "/projects/{id}", tag = "projects", params(("id" = Uuid, Path, description = "Project id")),
    responses((status = 200, body = ProjectOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_project(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<ProjectOut>, ApiError> {
    Ok(Json(project_out(state.engine.project(&grant, ProjectId::from(id)).await?)))
}

/// Rename, describe or move a project to another client.
#[utoipa::path(patch, path = "/projects/{id}", tag = "projects", params(("id" = Uuid, Path, description = "Project id")),
    request_body = ProjectPatchIn, responses((status = 200, body = ProjectOut), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn update_project(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<ProjectPatchIn>,
) -> Result<Json<ProjectOut>, ApiError> {
    let change =
        ProjectChange { name: req.name, description: req.description, client_id: req.client_id.map(ClientId::from) };
    Ok(Json(project_out(state.engine.update_project(&grant, ProjectId::from(id), change).await?)))
}

/// Delete a project with its folders, documents and results. The files stay.
#[utoipa::path(delete, path = "/projects/{id}", tag = "projects", params(("id" = Uuid, Path, description = "Project id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_project(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.engine.delete_project(&grant, ProjectId::from(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- folders

fn folder_out(f: Folder) -> FolderOut {
    FolderOut {
        id: f.id.as_uuid(),
        project_id: f.project_id.as_uuid(),
        parent_id: f.parent_id.map(|p| p.as_uuid()),
        name: f.name,
        created_at: f.created_at.to_rfc3339(),
    }
}

/// Create a folder in a project (under `parent_id`, or at the top).
#[utoipa::path(post, path = "/projects/{id}/folders", tag = "projects", params(("id" = Uuid, Path, description = "Project id")),
    request_body = FolderIn, responses((status = 201, body = FolderOut), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_folder(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<FolderIn>,
) -> Result<(StatusCode, Json<FolderOut>), ApiError> {
    let f =
        state.engine.create_folder(&grant, ProjectId::from(id), req.parent_id.map(FolderId::from), &req.name).await?;
    Ok((StatusCode::CREATED, Json(folder_out(f))))
}

/// Rename or move a folder (see the body's fields).
#[utoipa::path(patch, path = "/projects/folders/{id}", tag = "projects", params(("id" = Uuid, Path, description = "Folder id")),
    request_body = FolderPatchIn, responses((status = 200, body = FolderOut), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn update_folder(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<FolderPatchIn>,
) -> Result<Json<FolderOut>, ApiError> {
    let patch = FolderPatch {
        name: req.name,
        project_id: req.project_id.map(ProjectId::from),
        parent_id: req.parent_id.map(|p| p.map(FolderId::from)),
    };
    Ok(Json(folder_out(state.engine.update_folder(&grant, FolderId::from(id), patch).await?)))
}

/// Delete a folder with its subfolders and the documents in them. The files stay.
#[utoipa::path(delete, path = "/projects/folders/{id}", tag = "projects", params(("id" = Uuid, Path, description = "Folder id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_folder(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.engine.delete_folder(&grant, FolderId::from(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- documents

fn document_out(d: Document) -> DocumentOut {
    DocumentOut {
        id: d.id.as_uuid(),
        project_id: d.project_id.as_uuid(),
        folder_id: d.folder_id.map(|f| f.as_uuid()),
        file_id: d.file_id.as_uuid(),
        title: d.title,
        created_at: d.created_at.to_rfc3339(),
    }
}

/// Place a file in a project (a document), in a folder or at the top.
#[utoipa::path(post, path = "/projects/{id}/documents", tag = "projects", params(("id" = Uuid, Path, description = "Project id")),
    request_body = DocumentIn, responses((status = 201, body = DocumentOut), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_document(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<DocumentIn>,
) -> Result<(StatusCode, Json<DocumentOut>), ApiError> {
    let d = state
        .engine
        .add_document(
            &grant,
            ProjectId::from(id),
            FileId::from(req.file_id),
            req.folder_id.map(FolderId::from),
            req.title.as_deref(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(document_out(d))))
}

/// Retitle or move a document (see the body's fields).
#[utoipa::path(patch, path = "/projects/documents/{id}", tag = "projects", params(("id" = Uuid, Path, description = "Document id")),
    request_body = DocumentPatchIn, responses((status = 200, body = DocumentOut), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn update_document(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<DocumentPatchIn>,
) -> Result<Json<DocumentOut>, ApiError> {
    let patch = DocumentPatch {
        title: req.title,
        project_id: req.project_id.map(ProjectId::from),
        folder_id: req.folder_id.map(|f| f.map(FolderId::from)),
    };
    Ok(Json(document_out(state.engine.update_document(&grant, DocumentId::from(id), patch).await?)))
}

/// Remove a document (and its results) from its project. The file stays.
#[utoipa::path(delete, path = "/projects/documents/{id}", tag = "projects", params(("id" = Uuid, Path, description = "Document id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_document(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.engine.delete_document(&grant, DocumentId::from(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- results

fn document_results_out(r: DocumentResults) -> DocumentResultsOut {
    let f = r.file;
    let x = f.extraction;
    DocumentResultsOut {
        document: document_out(r.document),
        file: ResultFileOut {
            id: f.id.as_uuid(),
            file_name: f.file_name,
            mime_type: f.mime_type,
            extraction: ExtractionOut {
                status: f.extraction_status,
                error_code: x.error,
                error_message: x.message,
                warnings: x.warnings,
                units: x.units,
                attempts: x.attempts,
                started_at: x.started_at.map(|t| t.to_rfc3339()),
                finished_at: x.finished_at.map(|t| t.to_rfc3339()),
                parts: r.part_counts.into_iter().collect(),
            },
        },
        results: r
            .results
            .into_iter()
            .map(|res| ResultOut {
                id: res.id.as_uuid(),
                kind: res.kind,
                title: res.title,
                format: res.format.as_str().to_owned(),
                content: match res.format {
                    // Checked when stored; should it not parse, the text is still shown.
                    ResultFormat::Json => serde_json::from_str(&res.content)
                        .unwrap_or_else(|_| serde_json::Value::String(res.content.clone())),
                    ResultFormat::Text => serde_json::Value::String(res.content),
                },
                created_at: res.created_at.to_rfc3339(),
            })
            .collect(),
    }
}

/// Everything produced about a document: its file's extraction (status, error, warnings,
/// parts by type) and the stored results of summaries, generations and workflows.
#[utoipa::path(get, path = "/projects/documents/{id}/results", tag = "projects", params(("id" = Uuid, Path, description = "Document id")),
    responses((status = 200, body = DocumentResultsOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn document_results(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<DocumentResultsOut>, ApiError> {
    Ok(Json(document_results_out(state.engine.document_results(&grant, DocumentId::from(id)).await?)))
}

// ---- tree

fn tree_document(d: DocumentEntry) -> TreeDocumentOut {
    TreeDocumentOut {
        id: d.document.id.as_uuid(),
        title: d.document.title,
        file_id: d.document.file_id.as_uuid(),
        file_name: d.file_name,
        mime_type: d.mime_type,
        extraction_status: d.extraction_status,
        created_at: d.document.created_at.to_rfc3339(),
    }
}

fn tree_folder(f: FolderTree) -> TreeFolderOut {
    TreeFolderOut {
        id: f.folder.id.as_uuid(),
        name: f.folder.name,
        folders: f.folders.into_iter().map(tree_folder).collect(),
        documents: f.documents.into_iter().map(tree_document).collect(),
    }
}

fn tree_project(p: ProjectTree) -> TreeProjectOut {
    TreeProjectOut {
        id: p.project.id.as_uuid(),
        name: p.project.name,
        description: p.project.description,
        created_at: p.project.created_at.to_rfc3339(),
        folders: p.folders.into_iter().map(tree_folder).collect(),
        documents: p.documents.into_iter().map(tree_document).collect(),
    }
}

fn tree_client(c: ClientTree) -> TreeClientOut {
    TreeClientOut {
        id: c.client.id.as_uuid(),
        name: c.client.name,
        created_at: c.client.created_at.to_rfc3339(),
        projects: c.projects.into_iter().map(tree_project).collect(),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct TreeQuery {
    /// Only this client's tree; absent: every client of the tenant.
    client_id: Option<Uuid>,
}

/// The projects tree: clients → projects → folders (nested) → documents, with each document's
/// file name, type and extraction status.
#[utoipa::path(get, path = "/projects/tree", tag = "projects", params(TreeQuery),
    responses((status = 200, body = TreeOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn tree(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiQuery(q): ApiQuery<TreeQuery>,
) -> Result<Json<TreeOut>, ApiError> {
    let tree = state.engine.tree(&grant, q.client_id.map(ClientId::from)).await?;
    Ok(Json(TreeOut { clients: tree.into_iter().map(tree_client).collect() }))
}

// ---- search

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct SearchQueryIn {
    /// Words to find, all of them (case-insensitive): at least one with a letter or digit.
    /// Quotes, brackets and operators are taken as text, never as query syntax.
    #[param(required = true, value_type = Option<crate::schemas::SearchWords>, inline)]
    q: Option<String>,
    /// Hits per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// Hits to skip (default 0; at most 10,000).
    #[param(maximum = 10000)]
    offset: Option<u32>,
}

const DEFAULT_SEARCH_LIMIT: u32 = 20;
const MAX_SEARCH_OFFSET: u32 = 10_000;

/// Full-text search over the extracted text of the files you may read (the tenant's, or
/// your own with level `my`), ranked, one hit per file with its best part and a snippet.
#[utoipa::path(get, path = "/projects/search", tag = "projects", params(SearchQueryIn),
    responses((status = 200, body = SearchOut), (status = 400, body = ErrorBody)))]
pub(crate) async fn search(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiQuery(q): ApiQuery<SearchQueryIn>,
) -> Result<Json<SearchOut>, ApiError> {
    let (text, limit, offset) = q.checked()?;
    let found = state.engine.search(&grant, &text, limit, offset).await?;
    Ok(Json(search_out(found, limit, offset)))
}

impl SearchQueryIn {
    /// The words, limit and offset, checked.
    pub(super) fn checked(self) -> Result<(String, u32, u32), ApiError> {
        let text = self.q.unwrap_or_default();
        if text.trim().is_empty() {
            return Err(ApiError::validation("q", "q: give the words to search for"));
        }
        let limit = self.limit.unwrap_or(DEFAULT_SEARCH_LIMIT);
        if !(1..=MAX_SEARCH_LIMIT).contains(&limit) {
            return Err(ApiError::validation("limit", format!("limit must be between 1 and {MAX_SEARCH_LIMIT}")));
        }
        let offset = self.offset.unwrap_or(0);
        if offset > MAX_SEARCH_OFFSET {
            return Err(ApiError::validation("offset", format!("offset must be at most {MAX_SEARCH_OFFSET}")));
        }
        Ok((text, limit, offset))
    }
}

/// A page of search hits, with the offset of the next page when there is one.
pub(super) fn search_out(found: docwright_engine::projects::SearchResults, limit: u32, offset: u32) -> SearchOut {
    let next_offset = found.has_more.then(|| offset + limit);
    SearchOut { items: found.hits.into_iter().map(hit_out).collect(), next_offset }
}

fn hit_out(f: Found) -> HitOut {
    let h = f.hit;
    let mut snippet = String::new();
    for piece in &h.snippet {
        if piece.hit {
            snippet.push_str("<mark>");
        }
        escape_html(&piece.text, &mut snippet);
        if piece.hit {
            snippet.push_str("</mark>");
        }
    }
    HitOut {
        file_id: h.file_id.as_uuid(),
        file_name: h.file_name,
        mime_type: h.mime_type,
        score: h.score,
        matching_parts: h.matching_parts,
        location: LocationOut {
            part_id: h.part_id.as_uuid(),
            seq: h.seq,
            page: h.page,
            slide: h.slide,
            sheet: h.sheet,
        },
        snippet,
        documents: f
            .placements
            .into_iter()
            .map(|p| PlacementOut {
                document_id: p.document_id.as_uuid(),
                project_id: p.project_id.as_uuid(),
                project_name: p.project_name,
                folder_id: p.folder_id.map(|f| f.as_uuid()),
                title: p.title,
            })
            .collect(),
    }
}

/// The text as HTML character data: `& < > " '` escaped.
fn escape_html(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use docwright_storage::search::{SearchHit, SnippetPiece};

    use super::*;

    #[test]
    fn snippets_are_escaped_and_marked() {
        let piece = |t: &str, hit| SnippetPiece { text: t.into(), hit };
        let hit = SearchHit {
            file_id: FileId::new(),
            file_name: "a".into(),
            mime_type: "text/plain".into(),
            part_id: docwright_core::id::PartId::new(),
            piece: 0,
            seq: 0,
            page: None,
            slide: None,
            sheet: None,
            score: 1.0,
            matching_parts: 1,
            snippet: vec![piece("<b>x & ", false), piece("Rechnung", true), piece("\"'", false)],
        };
        let out = hit_out(Found { hit, placements: vec![] });
        assert_eq!(out.snippet, "&lt;b&gt;x &amp; <mark>Rechnung</mark>&quot;&#39;");
    }
}
