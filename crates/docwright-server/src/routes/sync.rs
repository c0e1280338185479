//! CRM document sync (SPEC Y1–Y4): sources at `/api/admin/sync/sources` (CRUD, administrators),
//! EspoCRM's webhooks at `/api/sync/{source}/webhook/document/{action}` (public: the signature
//! proves the sender), the synced documents and forced resyncs. The use cases are
//! `docwright_engine::sync`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use docwright_core::id::SyncSourceId;
use docwright_engine::sync::{SourceInput, SourceView};
use docwright_storage::sync::DocumentRecord;
use uuid::Uuid;

pub(super) use docwright_api::sync::{
    ResyncOut, SyncDocumentOut, SyncSourceIn, SyncSourceOut, SyncSourcePatch, WebhookReceiptOut,
};

use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::guard::Authorized;
use crate::pagination::{PageOf, PageQuery};
use crate::state::AppState;

fn source_out(v: SourceView) -> SyncSourceOut {
    SyncSourceOut {
        id: v.id.to_string(),
        name: v.name,
        kind: v.kind,
        base_url: v.base_url,
        webhook_id: v.webhook_id,
        settings: serde_json::to_value(&v.settings).unwrap_or_default(),
        xai_enabled: v.xai_enabled,
        webhook_path: format!("/api/sync/{}/webhook/document/", v.id),
        owner_id: v.owner_id.to_string(),
        active: v.active,
        reconciled_at: v.reconciled_at.map(|t| t.to_rfc3339()),
        created_at: v.created_at.to_rfc3339(),
        updated_at: v.updated_at.to_rfc3339(),
    }
}

fn document_out(d: DocumentRecord) -> SyncDocumentOut {
    SyncDocumentOut {
        entity_id: d.entity_id,
        state: d.state,
        file_id: d.file_id,
        sha256: d.sha256,
        md5: d.md5,
        xai_file_id: d.xai_file_id,
        xai_collections: d.xai_collections,
        collections: d.collections,
        last_event: d.last_event,
        last_event_at: d.last_event_at.map(|t| t.to_rfc3339()),
        last_error: d.last_error,
        attempts: d.attempts,
        synced_at: d.synced_at.map(|t| t.to_rfc3339()),
        updated_at: d.updated_at.to_rfc3339(),
    }
}

/// The tenant's sync sources.
#[utoipa::path(get, path = "/api/admin/sync/sources", tag = "sync", params(PageQuery),
    responses((status = 200, body = PageOf<SyncSourceOut>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn list_sources(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<PageOf<SyncSourceOut>>, ApiError> {
    let p = q.parse()?;
    let page = state.engine.sync_sources(&grant, p.request()).await?;
    Ok(Json(crate::pagination::page_of(page, |s| s.id.to_string(), source_out)))
}

/// Connect an EspoCRM. Point its webhooks for `Document.create`, `Document.update` and
/// `Document.delete` at `webhook_path` + `create` | `update` | `delete`.
#[utoipa::path(post, path = "/api/admin/sync/sources", tag = "sync", request_body = SyncSourceIn,
    responses((status = 201, body = SyncSourceOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn create_source(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiJson(req): ApiJson<SyncSourceIn>,
) -> Result<(StatusCode, Json<SyncSourceOut>), ApiError> {
    let input = SourceInput {
        name: Some(req.name),
        base_url: Some(req.base_url),
        api_key: Some(req.api_key),
        webhook_id: Some(req.webhook_id),
        webhook_secret: Some(req.webhook_secret),
        settings: req.settings,
        xai_api_key: req.xai_api_key,
        xai_management_key: req.xai_management_key,
        active: req.active,
    };
    let view = state.engine.create_sync_source(&grant, input).await?;
    Ok((StatusCode::CREATED, Json(source_out(view))))
}

/// A sync source.
#[utoipa::path(get, path = "/api/admin/sync/sources/{id}", tag = "sync",
    params(("id" = Uuid, Path, description = "Sync source id")),
    responses((status = 200, body = SyncSourceOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_source(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<SyncSourceOut>, ApiError> {
    Ok(Json(source_out(state.engine.sync_source(&grant, SyncSourceId::from(id)).await?)))
}

/// Change a sync source; fields left out stay.
#[utoipa::path(patch, path = "/api/admin/sync/sources/{id}", tag = "sync", request_body = SyncSourcePatch,
    params(("id" = Uuid, Path, description = "Sync source id")),
    responses((status = 200, body = SyncSourceOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn update_source(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<SyncSourcePatch>,
) -> Result<Json<SyncSourceOut>, ApiError> {
    let input = SourceInput {
        name: req.name,
        base_url: req.base_url,
        api_key: req.api_key,
        webhook_id: req.webhook_id,
        webhook_secret: req.webhook_secret,
        settings: req.settings,
        xai_api_key: req.xai_api_key,
        xai_management_key: req.xai_management_key,
        active: req.active,
    };
    Ok(Json(source_out(state.engine.update_sync_source(&grant, SyncSourceId::from(id), input).await?)))
}

/// Delete a sync source with its events and states (the files it synced stay).
#[utoipa::path(delete, path = "/api/admin/sync/sources/{id}", tag = "sync",
    params(("id" = Uuid, Path, description = "Sync source id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_source(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.engine.delete_sync_source(&grant, SyncSourceId::from(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// EspoCRM's webhook (SPEC Y1): a JSON array of records, signed in the `Signature` header
/// (base64 of the webhook id, `:` and the hex HMAC-SHA256 of the body with the secret key; the
/// legacy `X-Signature` is accepted too). Stored and queued at once; a bad signature stores
/// nothing (401 `invalid_signature`), a record delivered twice is stored once.
#[utoipa::path(post, path = "/api/sync/{source}/webhook/document/{action}", tag = "sync",
    params(("source" = Uuid, Path, description = "Sync source id"),
        ("action" = String, Path, description = "`create`, `update` or `delete`")),
    request_body(content = Vec<Object>, content_type = "application/json"),
    responses((status = 202, body = WebhookReceiptOut), (status = 400, body = ErrorBody),
        (status = 401, description = "Missing or wrong signature", body = ErrorBody),
        (status = 404, description = "Unknown source or action", body = ErrorBody),
        (status = 409, description = "The source is inactive", body = ErrorBody)))]
pub(crate) async fn webhook(
    State(state): State<AppState>,
    ApiPath((source, action)): ApiPath<(Uuid, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<WebhookReceiptOut>), ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let receipt = state
        .engine
        .receive_sync_webhook(SyncSourceId::from(source), &action, header("signature"), header("x-signature"), &body)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(WebhookReceiptOut {
            received: receipt.received,
            accepted: receipt.accepted,
            duplicates: receipt.duplicates,
        }),
    ))
}

/// A source's documents: each one's state, last event, last error and collections.
#[utoipa::path(get, path = "/api/sync/{source}/documents", tag = "sync",
    params(("source" = Uuid, Path, description = "Sync source id"), PageQuery),
    responses((status = 200, body = PageOf<SyncDocumentOut>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn documents(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(source): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<PageOf<SyncDocumentOut>>, ApiError> {
    let p = q.parse()?;
    let page = state.engine.sync_documents(&grant, SyncSourceId::from(source), p.request()).await?;
    Ok(Json(crate::pagination::page_of(page, |d| d.entity_id.clone(), document_out)))
}

/// Sync one document again now, whatever its state.
#[utoipa::path(post, path = "/api/sync/{source}/resync/{entity_id}", tag = "sync",
    params(("source" = Uuid, Path, description = "Sync source id"),
        ("entity_id" = String, Path, description = "The CRM record's id")),
    responses((status = 202, body = ResyncOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn resync(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath((source, entity_id)): ApiPath<(Uuid, String)>,
) -> Result<(StatusCode, Json<ResyncOut>), ApiError> {
    let job = state.engine.resync_document(&grant, SyncSourceId::from(source), &entity_id).await?;
    Ok((StatusCode::ACCEPTED, Json(ResyncOut { job_id: job.to_string() })))
}
