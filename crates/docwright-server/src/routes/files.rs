//! Uploaded files (SPEC D1): `POST /files/upload` (multipart, field `file`, streamed to the
//! blob store), the record, the content (with single byte ranges) and delete.

use axum::Json;
use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use docwright_core::id::{FileId, PartId};
use docwright_engine::files::UploadError;
use docwright_storage::files::{FileRecord, PartRecord};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{ApiError, ApiPath, ApiQuery, ErrorBody};
use crate::guard::Authorized;
use crate::pagination::PageQuery;
use crate::state::AppState;

/// The upload route: its body is streamed to disk, so the JSON body limit does not apply.
pub(crate) const UPLOAD_PATH: &str = "/files/upload";

pub(super) use docwright_api::files::FileOut;

/// The record as the API shows it.
pub(super) fn file_out(f: FileRecord) -> FileOut {
    FileOut {
        thumbnail_url: f.extraction.thumbnail_sha256.as_ref().map(|_| format!("/files/{}/thumbnail", f.id)),
        id: f.id.to_string(),
        file_name: f.file_name,
        mime_type: f.mime_type,
        file_size: f.file_size,
        sha256: f.sha256,
        md5: f.md5,
        created_at: f.created_at.to_rfc3339(),
        extraction_status: f.extraction_status,
        extraction_error: f.extraction.error,
        extraction_message: f.extraction.message,
        extraction_warnings: f.extraction.warnings,
        units: f.extraction.units,
        parent_file_id: f.parent_file_id.map(|p| p.to_string()),
    }
}

/// A content part (SPEC W3).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PartOut {
    id: String,
    /// `text | table | image | binary | reference`.
    type_group: String,
    mime_type: String,
    /// The text (a table as Markdown, an image's OCR text); image bytes are at `metadata.data_url`.
    data: String,
    /// What the part is in its document: `heading`, `paragraph`, `list_item`, `table`, `page`,
    /// `title`, `notes`, `header`, `footer`, `image`, ...
    label: Option<String>,
    metadata: PartMetadata,
}

/// W3 metadata of an extracted part.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PartMetadata {
    /// Always `extracted` here.
    content_format: &'static str,
    document_id: String,
    /// `docItem:<file id>:<file name>`.
    document_reference: String,
    original_file_name: String,
    /// `text | ocr | table`.
    extraction_method: String,
    is_pre_extracted: bool,
    /// Position in the document, from 0.
    position: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    page: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    slide: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sheet: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    row_start: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    row_end: Option<u32>,
    /// Heading level or list nesting.
    #[serde(skip_serializing_if = "Option::is_none")]
    level: Option<u8>,
    /// A table's cells, row by row.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Vec<String>>>)]
    rows: Option<serde_json::Value>,
    /// Where an image part's bytes are.
    #[serde(skip_serializing_if = "Option::is_none")]
    data_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_size: Option<u64>,
}

/// One page of a file's parts, with the file's extraction state and the files found inside it.
/// Written to the client as it is read (see [`parts`]), in this shape.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // Describes the streamed body for the OpenAPI document.
pub(super) struct PartsOut {
    file: FileOut,
    /// Files extracted from this one (an e-mail's attachments), each extracted in turn.
    attachments: Vec<FileOut>,
    /// The parts of this page, in document order.
    items: Vec<PartOut>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

fn part_out(file: &FileRecord, p: PartRecord) -> PartOut {
    PartOut {
        id: p.id.to_string(),
        type_group: p.type_group,
        mime_type: p.mime_type,
        data: p.text,
        label: p.label,
        metadata: PartMetadata {
            content_format: "extracted",
            document_id: file.id.to_string(),
            document_reference: format!("docItem:{}:{}", file.id, file.file_name),
            original_file_name: file.file_name.clone(),
            extraction_method: p.method,
            is_pre_extracted: true,
            position: p.seq,
            page: p.page,
            slide: p.slide,
            sheet: p.sheet,
            row_start: p.row_start,
            row_end: p.row_end,
            level: p.level,
            rows: p.rows_json.as_deref().and_then(|r| serde_json::from_str(r).ok()),
            data_url: p.data_sha256.as_ref().map(|_| format!("/files/{}/parts/{}/content", file.id, p.id)),
            data_size: p.data_size,
        },
    }
}

/// The multipart form of an upload: the file, nothing else.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Only describes the form for the OpenAPI document.
pub(super) struct UploadForm {
    /// The file; its part's file name becomes the record's `file_name`.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Uploads a file (multipart field `file`, the form's only field). Up to
/// `storage.max_upload_bytes` (default 100 MiB).
#[utoipa::path(post, path = "/files/upload", tag = "files", request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = FileOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub(crate) async fn upload(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<FileOut>), ApiError> {
    let limit = state.engine.max_upload_bytes();
    let mut multipart = multipart.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large(limit)
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text())
        }
    })?;
    let multipart_error = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large(limit)
        } else {
            ApiError::validation("file", format!("the multipart body could not be read: {}", e.body_text()))
        }
    };
    let Some(field) = multipart.next_field().await.map_err(multipart_error)? else {
        return Err(ApiError::validation("file", "the multipart body has no `file` field"));
    };
    if field.name() != Some("file") {
        return Err(unexpected_field(field.name()));
    }
    let name = field.file_name().unwrap_or_default().to_owned();
    // The body limit around the file may stop the stream before the upload's own count
    // does (a chunk can cross both at once): that is the same too-large upload, not a
    // malformed body.
    let over_limit = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = over_limit.clone();
    let content = futures_util::StreamExt::inspect(field, move |item| {
        if item.as_ref().is_err_and(|e| e.status() == StatusCode::PAYLOAD_TOO_LARGE) {
            seen.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let record = state.engine.upload_file(&grant, &name, Box::pin(content)).await.map_err(|e| match e {
        UploadError::TooLarge { limit } => too_large(limit),
        UploadError::Body(_) if over_limit.load(std::sync::atomic::Ordering::Relaxed) => too_large(limit),
        UploadError::Body(m) => ApiError::validation("file", m),
        UploadError::Engine(e) => e.into(),
    })?;
    // Nothing may follow the file: what does is refused, and the file with it.
    let rest = match multipart.next_field().await {
        Ok(None) => return Ok((StatusCode::CREATED, Json(file_out(record)))),
        Ok(Some(field)) => unexpected_field(field.name()),
        Err(e) => multipart_error(e),
    };
    state.engine.discard_upload(&grant, &record).await?;
    Err(rest)
}

fn unexpected_field(name: Option<&str>) -> ApiError {
    let name = name.unwrap_or_default();
    ApiError::validation(name, format!("the form has one field, `file`; `{name}` is not taken"))
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the file is larger than the upload limit of {limit} bytes (storage.max_upload_bytes)"),
    )
}

/// A file's record.
#[utoipa::path(get, path = "/files/{id}", tag = "files", params(("id" = Uuid, Path, description = "File id")),
    responses((status = 200, body = FileOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_file(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<FileOut>, ApiError> {
    Ok(Json(file_out(state.engine.file(&grant, FileId::from(id)).await?)))
}

/// A file's content, as a download. One byte range (`Range: bytes=a-b`, `a-` or `-n`) answers
/// 206; a range outside the file 416.
#[utoipa::path(get, path = "/files/{id}/content", tag = "files", params(("id" = Uuid, Path, description = "File id")),
    responses((status = 200, description = "The content"), (status = 206, description = "The requested range"),
        (status = 404, body = ErrorBody), (status = 416, body = ErrorBody)))]
pub(crate) async fn content(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let file = state.engine.file(&grant, FileId::from(id)).await?;
    let size = file.file_size;
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(h) => match parse_range(h, size) {
            RangeAsk::Whole => None,
            RangeAsk::Part(r) => Some(r),
            RangeAsk::Unsatisfiable => {
                let mut resp = ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "range_not_satisfiable",
                    format!("the requested range is outside the file's {size} bytes"),
                )
                .into_response();
                resp.headers_mut().insert(header::CONTENT_RANGE, header_value(&format!("bytes */{size}")));
                return Ok(resp);
            }
        },
        None => None,
    };
    let span = range.clone().unwrap_or(0..size);
    let reader = state.engine.file_content(&grant, &file, span.clone()).await?;
    let mut resp = Response::new(Body::from_stream(tokio_util::io::ReaderStream::new(reader)));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, header_value(&file.mime_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(span.end - span.start));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CONTENT_DISPOSITION,
        header_value(&format!("attachment; filename*=UTF-8''{}", encode_rfc5987(&file.file_name))),
    );
    // Stored content is data: an uploaded HTML page opened from here runs nothing.
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(crate::edge::DATA_POLICY));
    if range.is_some() {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        let last = span.end.saturating_sub(1);
        resp.headers_mut().insert(header::CONTENT_RANGE, header_value(&format!("bytes {}-{last}/{size}", span.start)));
    }
    Ok(resp)
}

/// Deletes a file; its content goes with the tenant's last file that has it.
#[utoipa::path(delete, path = "/files/{id}", tag = "files", params(("id" = Uuid, Path, description = "File id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_file(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.engine.delete_file(&grant, FileId::from(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum RangeAsk {
    /// No usable single range (absent, malformed or several ranges): send everything.
    Whole,
    Part(std::ops::Range<u64>),
    Unsatisfiable,
}

fn parse_range(header: &str, size: u64) -> RangeAsk {
    let Some(spec) = header.trim().strip_prefix("bytes=") else { return RangeAsk::Whole };
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else { return RangeAsk::Whole };
    let num = |s: &str| if s.bytes().all(|c| c.is_ascii_digit()) { s.parse::<u64>().ok() } else { None };
    match (a.trim(), b.trim()) {
        ("", "") => RangeAsk::Whole,
        ("", n) => match num(n) {
            None => RangeAsk::Whole,
            Some(0) => RangeAsk::Unsatisfiable,
            Some(_) if size == 0 => RangeAsk::Unsatisfiable,
            Some(n) => RangeAsk::Part(size.saturating_sub(n)..size),
        },
        (a, b) => {
            let Some(start) = num(a) else { return RangeAsk::Whole };
            let end = if b.is_empty() {
                Some(size)
            } else {
                match num(b) {
                    Some(last) if last >= start => Some(last.saturating_add(1).min(size)),
                    _ => None,
                }
            };
            match end {
                None => RangeAsk::Whole,
                Some(_) if start >= size => RangeAsk::Unsatisfiable,
                Some(end) => RangeAsk::Part(start..end),
            }
        }
    }
}

/// `ext-value` of RFC 8187 (`filename*=UTF-8''...`): attr-chars as they are, the rest as %XX.
fn encode_rfc5987(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_parsed_as_rfc_9110_says() {
        use RangeAsk::*;
        let check = |h: &str, expect: RangeAsk| assert_eq!(parse_range(h, 10), expect, "{h}");
        check("bytes=0-4", Part(0..5));
        check("bytes=5-", Part(5..10));
        check("bytes=-3", Part(7..10));
        check("bytes=-30", Part(0..10));
        check("bytes=8-100", Part(8..10));
        check("bytes=10-", Unsatisfiable);
        check("bytes=10-12", Unsatisfiable);
        check("bytes=-0", Unsatisfiable);
        check("bytes=4-2", Whole);
        check("bytes=0-1,3-4", Whole);
        check("items=0-1", Whole);
        check("bytes=x-1", Whole);
    }

    #[test]
    fn file_names_are_percent_encoded() {
        assert_eq!(encode_rfc5987("report 2026.pdf"), "report%202026.pdf");
        assert_eq!(encode_rfc5987("Grüße\".txt"), "Gr%C3%BC%C3%9Fe%22.txt");
    }
}

/// Parts read from the database per step of a streamed answer: the answer is written as they
/// come, so the server holds a few parts, not a page of them.
const PARTS_PER_READ: u32 = 16;

/// The content parts extracted from a file, in document order (empty until extraction is done),
/// a page at a time (`?limit=&cursor=`, 50 parts by default, at most 200). The body is written
/// while the parts are read.
#[utoipa::path(get, path = "/files/{id}/parts", tag = "files",
    params(("id" = Uuid, Path, description = "File id"), PageQuery),
    responses((status = 200, body = PartsOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn parts(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let params = page.parse()?;
    let after = params.after.as_deref().and_then(|c| Uuid::parse_str(c).ok()).map(PartId::from);
    let (file, attachments) = state.engine.file_with_attachments(&grant, FileId::from(id)).await?;
    // The first read happens before the answer starts, so that a bad cursor is a 400.
    let first = state.engine.parts_after(&grant, &file, after, params.limit.min(PARTS_PER_READ)).await?;
    let head = serde_json::json!({
        "file": file_out(file.clone()),
        "attachments": attachments.into_iter().map(file_out).collect::<Vec<_>>(),
    });
    let mut opening = serde_json::to_vec(&head).map_err(|e| ApiError::internal(e.to_string()))?;
    opening.pop(); // The closing brace: the items follow.
    opening.extend_from_slice(b",\"items\":[");
    let stream = PartsStream {
        state,
        grant,
        file,
        left: params.limit,
        page: first,
        written: 0,
        opening: Some(opening),
        done: false,
    };
    let body = futures_util::stream::unfold(stream, |mut s| async move {
        let chunk = s.next().await?;
        Some((chunk, s))
    });
    let mut resp = Response::new(Body::from_stream(body));
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}

/// The state of a streamed page of parts.
struct PartsStream {
    state: AppState,
    grant: docwright_engine::Grant,
    file: FileRecord,
    /// Parts still to write on this page.
    left: u32,
    /// Parts read and not yet written, with whether more follow them.
    page: docwright_storage::Page<PartRecord>,
    written: u64,
    opening: Option<Vec<u8>>,
    done: bool,
}

impl PartsStream {
    /// The next piece of the body; `None` at its end. A failure after the answer started
    /// ends the body short (the client sees broken JSON), and is logged.
    async fn next(&mut self) -> Option<Result<bytes::Bytes, std::io::Error>> {
        if let Some(opening) = self.opening.take() {
            return Some(Ok(opening.into()));
        }
        if self.done {
            return None;
        }
        let page = std::mem::replace(&mut self.page, docwright_storage::Page { items: Vec::new(), has_more: false });
        let mut out = Vec::new();
        let mut last = None;
        for p in page.items.into_iter().take(self.left as usize) {
            if self.written > 0 {
                out.push(b',');
            }
            last = Some(p.id);
            if let Err(e) = serde_json::to_writer(&mut out, &part_out(&self.file, p)) {
                return Some(Err(std::io::Error::other(e)));
            }
            self.written += 1;
            self.left -= 1;
        }
        match (page.has_more, self.left, last) {
            // The page is full: the cursor is the last part written.
            (true, 0, Some(last)) => {
                let cursor = crate::pagination::encode_cursor(&last.to_string());
                out.extend_from_slice(format!("],\"next_cursor\":\"{cursor}\"}}").as_bytes());
                self.done = true;
            }
            (true, _, Some(last)) => {
                let n = self.left.min(PARTS_PER_READ);
                match self.state.engine.parts_after(&self.grant, &self.file, Some(last), n).await {
                    Ok(next) => self.page = next,
                    Err(e) => {
                        tracing::warn!(file = %self.file.id, error = %e, "the parts could not be read to the end");
                        return Some(Err(std::io::Error::other(e.to_string())));
                    }
                }
            }
            _ => {
                out.extend_from_slice(b"]}");
                self.done = true;
            }
        }
        Some(Ok(out.into()))
    }
}

/// The bytes of an image part.
#[utoipa::path(get, path = "/files/{id}/parts/{part_id}/content", tag = "files",
    params(("id" = Uuid, Path, description = "File id"), ("part_id" = Uuid, Path, description = "Part id")),
    responses((status = 200, description = "The image"), (status = 404, body = ErrorBody)))]
pub(crate) async fn part_content(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath((id, part_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Response, ApiError> {
    let (part, reader) = state.engine.part_content(&grant, FileId::from(id), PartId::from(part_id)).await?;
    let mut resp = Response::new(Body::from_stream(tokio_util::io::ReaderStream::new(reader)));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, header_value(&part.mime_type));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(crate::edge::DATA_POLICY));
    if let Some(size) = part.data_size {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    }
    Ok(resp)
}

/// The file's PNG preview (200×280 by default). 404 `not_found` until it is made.
#[utoipa::path(get, path = "/files/{id}/thumbnail", tag = "files", params(("id" = Uuid, Path, description = "File id")),
    responses((status = 200, description = "A PNG image", content_type = "image/png"), (status = 404, body = ErrorBody)))]
pub(crate) async fn thumbnail(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    let (size, reader) = state.engine.file_thumbnail(&grant, FileId::from(id)).await?;
    let mut resp = Response::new(Body::from_stream(tokio_util::io::ReaderStream::new(reader)));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=300"));
    Ok(resp)
}

/// Runs the file's extraction (and thumbnail) again: 202 with the file, now `pending`. A run
/// in progress is superseded (its result is discarded).
#[utoipa::path(post, path = "/files/{id}/extract", tag = "files", params(("id" = Uuid, Path, description = "File id")),
    responses((status = 202, body = FileOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn extract(
    State(state): State<AppState>,
    Authorized(grant): Authorized,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<(StatusCode, Json<FileOut>), ApiError> {
    let file = state.engine.rerun_extraction(&grant, FileId::from(id)).await?;
    Ok((StatusCode::ACCEPTED, Json(file_out(file))))
}
