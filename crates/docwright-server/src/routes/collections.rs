//! Collections (SPEC Y3), all under `/api/collections`:
//!
//! - `GET | POST /api/collections`, `GET | PATCH | DELETE /api/collections/{id}`;
//! - members: `GET | POST /api/collections/{id}/files`,
//!   `DELETE /api/collections/{id}/files/{file_id}`;
//! - `GET /api/collections/{id}/search?q=&limit=&offset=`: full-text search in the members'
//!   extracted text, hits as `/projects/search` answers them.
//!
//! Chats (`POST /chats`) and workflows (`POST /api/workflows`) take a `collection_id` beside
//! `project_id`: their retrieval and searches then look in the collection's files.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use docwright_core::id::{CollectionId, FileId};
use docwright_engine::collections::CollectionChange;
use docwright_storage::collections::{Collection, Member};
use uuid::Uuid;

use super::projects::{SearchOut, SearchQueryIn, search_out};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::guard::Authorized;
use crate::pagination::{PageOf, PageQuery};
use crate::state::AppState;

pub(super) use docwright_api::collections::{
    CollectionFileIn, CollectionFileOut, CollectionIn, CollectionOut, CollectionPatchIn,
};

fn collection_out(c: Collection) -> CollectionOut {
    CollectionOut {
        id: c.id.as_uuid(),
        name: c.name,
        description: c.description,
        external_key: c.external_key,
        created_by: c.created_by.map(|u| u.as_uuid()),
        file_count: c.file_count,
        created_at: c.created_at.to_rfc3339(),
        updated_at: c.updated_at.to_rfc3339(),
    }
}

fn member_out(m: Member) -> CollectionFileOut {
    CollectionFileOut {
        file_id: m.file_id.as_uuid(),
        file_name: m.file_name,
        mime_type: m.mime_type,
        file_size: m.file_size,
        extraction_status: m.extraction_status,
        added_at: m.added_at.to_rfc3339(),
    }
}

/// Create a collection: a named set of files of the tenant (names need not be unique).
#[utoipa::path(post, path = "/api/collections", tag = "collections", request_body = CollectionIn,
    responses((status = 201, body = CollectionOut), (status = 400, body = ErrorBody)))]
pub(crate) async fn create_collection(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiJson(req): ApiJson<CollectionIn>,
) -> Result<(StatusCode, Json<CollectionOut>), ApiError> {
    let c = state.engine.create_collection(&grant, &req.name, req.description.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(collection_out(c))))
}

/// The tenant's collections, in creation order.
#[utoipa::path(get, path = "/api/collections", tag = "collections", params(PageQuery),
    responses((status = 200, body = PageOf<CollectionOut>), (status = 400, body = ErrorBody)))]
pub(crate) async fn list_collections(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<PageOf<CollectionOut>>, ApiError> {
    let p = q.parse()?;
    let page = state.engine.collections(&grant, p.request()).await?;
    Ok(Json(crate::pagination::page_of(page, |c| c.id.to_string(), collection_out)))
}

/// A collection.
#[utoipa::path(get, path = "/api/collections/{id}", tag = "collections",
    params(("id" = Uuid, Path, description = "Collection id")),
    responses((status = 200, body = CollectionOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_collection(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<CollectionOut>, ApiError> {
    Ok(Json(collection_out(state.engine.collection(&grant, CollectionId::from(id)).await?)))
}

/// Rename or describe a collection.
#[utoipa::path(patch, path = "/api/collections/{id}", tag = "collections",
    params(("id" = Uuid, Path, description = "Collection id")), request_body = CollectionPatchIn,
    responses((status = 200, body = CollectionOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn update_collection(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<CollectionPatchIn>,
) -> Result<Json<CollectionOut>, ApiError> {
    let change = CollectionChange { name: req.name, description: req.description };
    Ok(Json(collection_out(state.engine.update_collection(&grant, CollectionId::from(id), change).await?)))
}

/// Delete a collection. Its files stay.
#[utoipa::path(delete, path = "/api/collections/{id}", tag = "collections",
    params(("id" = Uuid, Path, description = "Collection id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_collection(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.engine.delete_collection(&grant, CollectionId::from(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The files of a collection with their names, types and extraction states, by upload order.
#[utoipa::path(get, path = "/api/collections/{id}/files", tag = "collections",
    params(("id" = Uuid, Path, description = "Collection id"), PageQuery),
    responses((status = 200, body = PageOf<CollectionFileOut>), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn list_files(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<PageOf<CollectionFileOut>>, ApiError> {
    let p = q.parse()?;
    let page = state.engine.collection_files(&grant, CollectionId::from(id), p.request()).await?;
    Ok(Json(crate::pagination::page_of(page, |m| m.file_id.to_string(), member_out)))
}

/// Add a file you can read to a collection: 201 when added, 200 when it was in it already.
#[utoipa::path(post, path = "/api/collections/{id}/files", tag = "collections",
    params(("id" = Uuid, Path, description = "Collection id")), request_body = CollectionFileIn,
    responses((status = 201, body = CollectionFileOut), (status = 200, body = CollectionFileOut),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn add_file(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<CollectionFileIn>,
) -> Result<(StatusCode, Json<CollectionFileOut>), ApiError> {
    let added = state.engine.add_collection_file(&grant, CollectionId::from(id), FileId::from(req.file_id)).await?;
    let status = if added.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(member_out(added.member))))
}

/// Take a file out of a collection. The file stays.
#[utoipa::path(delete, path = "/api/collections/{id}/files/{file_id}", tag = "collections",
    params(("id" = Uuid, Path, description = "Collection id"), ("file_id" = Uuid, Path, description = "File id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn remove_file(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath((id, file_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    state.engine.remove_collection_file(&grant, CollectionId::from(id), FileId::from(file_id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Full-text search over the extracted text of a collection's files (those you may read),
/// ranked, one hit per file with its best part and a snippet.
#[utoipa::path(get, path = "/api/collections/{id}/search", tag = "collections",
    params(("id" = Uuid, Path, description = "Collection id"), SearchQueryIn),
    responses((status = 200, body = SearchOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn search(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<SearchQueryIn>,
) -> Result<Json<SearchOut>, ApiError> {
    let (text, limit, offset) = q.checked()?;
    let found = state.engine.search_collection(&grant, CollectionId::from(id), &text, limit, offset).await?;
    Ok(Json(search_out(found, limit, offset)))
}
