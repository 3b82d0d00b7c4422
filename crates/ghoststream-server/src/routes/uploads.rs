//! Uploads over HTTP: the seed's API (`/api/upload…`) and tus 1.0 (`/api/tus/`, core,
//! creation, termination, checksum). Both stream the body to [`Uploads`] as it arrives;
//! neither holds a body in memory. The API key, when one is set, guards them as it guards
//! a start (the `api_key` middleware); the per-request body limit does not apply, since
//! `uploads.max_bytes` does.
//!
//! [`Uploads`]: ghoststream_engine::uploads::Uploads

use super::doc::Failure;
use super::{base_url, json_body};
use crate::error::{ApiError, ApiResult};
use crate::App;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use bytes::Bytes;
use ghoststream_engine::uploads::{Checksum, UploadError};
use ghoststream_engine::EngineError;
use ghoststream_types::{
    ErrorBody, UploadComplete, UploadInfo, UploadInit, UploadProtocol, UploadsActive,
};

type JsonBody = Result<Bytes, axum::extract::rejection::BytesRejection>;

fn refused(e: UploadError) -> ApiError {
    ApiError::Engine(EngineError::Upload(e))
}

/// The upload an id in a path names.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct UploadId {
    /// Upload id (32 hex digits).
    id: String,
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChunkAt {
    /// The byte this chunk starts at; without it the chunk is appended. Bytes the upload
    /// already has are skipped; a start past the end is 409 with the offset to send from.
    offset: Option<u64>,
}

/// An error answer for an upload, with `Upload-Offset` when the client should resume
/// from somewhere.
fn upload_error(s: &App, id: &str, e: ApiError) -> Response {
    let offset = s.engine.uploads().get(id).ok().map(|u| u.offset);
    let mut r = e.into_response();
    if let Some(o) = offset {
        r.headers_mut()
            .insert("upload-offset", HeaderValue::from(o));
    }
    r
}

fn multipart_boundary(headers: &HeaderMap) -> Option<String> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    multer::parse_boundary(ct).ok()
}

#[utoipa::path(
    post,
    path = "/api/upload",
    tag = "uploads",
    summary = "Upload a file in one multipart request (field `file`; optional field `sha256` before it)",
    request_body(content_type = "multipart/form-data", description = "`file`: the media; `sha256`: its hex SHA-256 (optional)"),
    responses(
        (status = 200, description = "The finished upload; start a job with `source: upload:<id>`", body = UploadInfo),
        (status = 413, description = "Larger than `uploads.max_bytes`, or not enough free disk", body = ErrorBody),
        (status = 422, description = "The SHA-256 does not match; nothing is kept", body = ErrorBody),
        Failure,
    )
)]
pub async fn single(
    State(s): State<App>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<UploadInfo>> {
    let boundary = multipart_boundary(&headers).ok_or(ApiError::BadRequest {
        code: ghoststream_types::ErrorCode::UnsupportedMediaType,
        detail: "send multipart/form-data with a `file` field".into(),
    })?;
    let mut form = multer::Multipart::new(body.into_data_stream(), boundary);
    let uploads = s.engine.uploads();
    let mut sha256: Option<String> = None;
    let mut done: Option<UploadInfo> = None;
    let bad = |e: multer::Error| {
        refused(UploadError::Invalid(format!(
            "the multipart body is malformed: {e}"
        )))
    };
    while let Some(field) = form.next_field().await.map_err(bad)? {
        if field.name() == Some("sha256") && field.file_name().is_none() {
            let text = field.text().await.map_err(bad)?;
            sha256 = Some(text.trim().chars().take(128).collect());
            continue;
        }
        if field.name() != Some("file") || done.is_some() {
            continue;
        }
        let name = field.file_name().unwrap_or("upload").to_string();
        let info = uploads
            .create(&name, None, UploadProtocol::Single)
            .map_err(refused)?;
        let id = info.upload_id.clone();
        let stored = uploads.write(&id, Some(0), field, None).await;
        let finished = match stored {
            Ok(_) => uploads.complete(&id, sha256.as_deref()).await,
            Err(e) => Err(e),
        };
        match finished {
            Ok(info) => done = Some(info),
            Err(e) => {
                // One request, all or nothing: no half-written upload is left behind.
                let _ = uploads.remove(&id).await;
                return Err(refused(e));
            }
        }
    }
    done.map(Json).ok_or_else(|| {
        refused(UploadError::Invalid(
            "no `file` field in the multipart body".into(),
        ))
    })
}

#[utoipa::path(
    post,
    path = "/api/upload/init",
    tag = "uploads",
    summary = "Start a chunked upload of a known size",
    request_body = UploadInit,
    responses(
        (status = 200, description = "The new upload, at offset 0", body = UploadInfo),
        (status = 413, description = "Larger than `uploads.max_bytes`, or not enough free disk", body = ErrorBody),
        (status = 429, description = "Too many unfinished uploads", body = ErrorBody),
        Failure,
    )
)]
pub async fn init(State(s): State<App>, body: JsonBody) -> ApiResult<Json<UploadInfo>> {
    let req: UploadInit = json_body(body, 64 * 1024, true)?;
    if req.file_size > (1 << 53) - 1 {
        return Err(ApiError::Invalid(vec![crate::error::field(
            &["body", "file_size"],
            "file_size is larger than any file",
            "too_large",
        )]));
    }
    let info = s
        .engine
        .uploads()
        .create(&req.filename, Some(req.file_size), UploadProtocol::Chunked)
        .map_err(refused)?;
    Ok(Json(info))
}

#[utoipa::path(
    post,
    path = "/api/upload/chunk/{id}",
    tag = "uploads",
    summary = "Store a chunk at `offset` (raw bytes, or a multipart `chunk`/`file` field)",
    params(UploadId, ChunkAt),
    request_body(content_type = "application/octet-stream", description = "The chunk's bytes"),
    responses(
        (status = 200, description = "Where the upload stands now", body = UploadInfo),
        (status = 409, description = "The chunk starts past the end; `Upload-Offset` says where to send from", body = ErrorBody),
        (status = 413, description = "The chunk passes the announced size or `uploads.max_bytes`; none of it is kept", body = ErrorBody),
        (status = 507, description = "The disk filled; the chunk was not kept and the upload can resume", body = ErrorBody),
        Failure,
    )
)]
pub async fn chunk(
    State(s): State<App>,
    Path(id): Path<String>,
    Query(at): Query<ChunkAt>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let uploads = s.engine.uploads();
    let stored = match multipart_boundary(&headers) {
        None => {
            uploads
                .write(&id, at.offset, body.into_data_stream(), None)
                .await
        }
        Some(boundary) => {
            let mut form = multer::Multipart::new(body.into_data_stream(), boundary);
            loop {
                match form.next_field().await {
                    Ok(Some(f)) if matches!(f.name(), Some("chunk" | "file")) => {
                        break uploads.write(&id, at.offset, f, None).await;
                    }
                    Ok(Some(_)) => continue,
                    Ok(None) => {
                        break Err(UploadError::Invalid(
                            "no `chunk` field in the multipart body".into(),
                        ))
                    }
                    Err(e) => break Err(UploadError::Invalid(format!("malformed multipart: {e}"))),
                }
            }
        }
    };
    match stored {
        Ok(info) => Json(info).into_response(),
        Err(e) => upload_error(&s, &id, refused(e)),
    }
}

#[utoipa::path(
    post,
    path = "/api/upload/complete/{id}",
    tag = "uploads",
    summary = "Finish a chunked upload: every byte there and the SHA-256 matching",
    params(UploadId),
    request_body = UploadComplete,
    responses(
        (status = 200, description = "The finished upload: a job source now", body = UploadInfo),
        (status = 409, description = "Bytes are missing", body = ErrorBody),
        (status = 422, description = "The SHA-256 does not match; the upload was deleted", body = ErrorBody),
        Failure,
    )
)]
pub async fn complete(
    State(s): State<App>,
    Path(id): Path<String>,
    body: JsonBody,
) -> ApiResult<Json<UploadInfo>> {
    let req: UploadComplete = json_body(body, 64 * 1024, true)?;
    let info = s
        .engine
        .uploads()
        .complete(&id, Some(&req.sha256))
        .await
        .map_err(refused)?;
    Ok(Json(info))
}

#[utoipa::path(
    get,
    path = "/api/upload/active",
    tag = "uploads",
    summary = "Uploads still arriving, the queue, and every upload held (without ids: an id is what lets a client use an upload)",
    responses((status = 200, description = "OK", body = UploadsActive), Failure)
)]
pub async fn active(State(s): State<App>) -> ApiResult<Json<UploadsActive>> {
    let uploads = s.engine.uploads().list();
    let stats = s.engine.stats().await?;
    Ok(Json(UploadsActive {
        active: uploads.iter().filter(|u| !u.complete).count() as u32,
        queued_jobs: stats.current_queue_length,
        uploads: uploads.iter().map(UploadInfo::to_summary).collect(),
    }))
}

#[utoipa::path(
    get,
    path = "/api/upload/{id}",
    tag = "uploads",
    summary = "One upload: where it stands (to resume it)",
    params(UploadId),
    responses((status = 200, description = "OK", body = UploadInfo), Failure)
)]
pub async fn get_upload(
    State(s): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<UploadInfo>> {
    Ok(Json(s.engine.uploads().get(&id).map_err(refused)?))
}

#[utoipa::path(
    delete,
    path = "/api/upload/{id}",
    tag = "uploads",
    summary = "Delete an upload, finished or not",
    params(UploadId),
    responses((status = 204, description = "Deleted"), Failure)
)]
pub async fn delete_upload(State(s): State<App>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    s.engine.uploads().remove(&id).await.map_err(refused)?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- tus 1.0 -------------------------------------------------------------------------

const TUS_VERSION: &str = "1.0.0";

/// The headers an `OPTIONS` answer under `/api/tus/` carries (added by the CORS layer,
/// which answers every preflight).
pub fn tus_options(h: &mut HeaderMap, max_bytes: u64) {
    h.insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    h.insert("tus-version", HeaderValue::from_static(TUS_VERSION));
    h.insert(
        "tus-extension",
        HeaderValue::from_static("creation,termination,checksum"),
    );
    h.insert(
        "tus-checksum-algorithm",
        HeaderValue::from_static("sha1,sha256"),
    );
    h.insert("tus-max-size", HeaderValue::from(max_bytes));
}

fn tus(mut r: Response) -> Response {
    r.headers_mut()
        .insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    r
}

fn tus_error(s: &App, id: &str, e: UploadError) -> Response {
    let checksum = matches!(e, UploadError::ChecksumMismatch(_));
    let mut r = upload_error(s, id, refused(e));
    if checksum {
        // The checksum extension's own status.
        *r.status_mut() = StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST);
    }
    tus(r)
}

fn tus_refusal(status: StatusCode, code: ghoststream_types::ErrorCode, detail: &str) -> Response {
    tus((status, Json(ErrorBody::new(code, detail.to_string()))).into_response())
}

fn num_header(h: &HeaderMap, name: &str) -> Option<Result<u64, ()>> {
    h.get(name).map(|v| {
        v.to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or(())
    })
}

/// A request of a client that speaks tus 1.0.0; any other gets 412.
pub struct Tus;

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Tus {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        match parts
            .headers
            .get("tus-resumable")
            .and_then(|v| v.to_str().ok())
        {
            Some(TUS_VERSION) => Ok(Tus),
            _ => {
                let mut r = tus_refusal(
                    StatusCode::PRECONDITION_FAILED,
                    ghoststream_types::ErrorCode::TusVersion,
                    "send Tus-Resumable: 1.0.0",
                );
                r.headers_mut()
                    .insert("tus-version", HeaderValue::from_static(TUS_VERSION));
                Err(r)
            }
        }
    }
}

/// The `filename` (or `name`) of an `Upload-Metadata` header.
fn metadata_name(h: &HeaderMap) -> String {
    let raw = h
        .get("upload-metadata")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    raw.split(',')
        .filter_map(|pair| {
            let mut it = pair.trim().splitn(2, ' ');
            let key = it.next()?;
            let value = it.next().unwrap_or("");
            matches!(key, "filename" | "name").then(|| {
                base64::engine::general_purpose::STANDARD
                    .decode(value.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
            })?
        })
        .next()
        .unwrap_or_else(|| "upload".into())
}

#[utoipa::path(
    post,
    path = "/api/tus",
    tag = "uploads",
    summary = "tus 1.0 creation: `Upload-Length` (and `Upload-Metadata` with `filename`)",
    responses(
        (status = 201, description = "Created; `Location` is the upload's URL"),
        (status = 412, description = "Not tus 1.0.0", body = ErrorBody),
        (status = 413, description = "Larger than `uploads.max_bytes` (`Tus-Max-Size`), or not enough free disk", body = ErrorBody),
        Failure,
    )
)]
pub async fn tus_create(_: Tus, State(s): State<App>, headers: HeaderMap) -> Response {
    let Some(Ok(length)) = num_header(&headers, "upload-length") else {
        return tus_refusal(
            StatusCode::BAD_REQUEST,
            ghoststream_types::ErrorCode::BadRequest,
            "Upload-Length is required (deferred lengths are not supported)",
        );
    };
    let name = metadata_name(&headers);
    match s
        .engine
        .uploads()
        .create(&name, Some(length), UploadProtocol::Tus)
    {
        Ok(info) => {
            let url = format!("{}/api/tus/{}", base_url(&s, &headers), info.upload_id);
            let mut r = StatusCode::CREATED.into_response();
            if let Ok(v) = HeaderValue::from_str(&url) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r.headers_mut().insert(
                "x-upload-source",
                HeaderValue::from_str(&info.source).unwrap_or(HeaderValue::from_static("")),
            );
            tus(r)
        }
        Err(e) => tus_error(&s, "", e),
    }
}

#[utoipa::path(
    head,
    path = "/api/tus/{id}",
    tag = "uploads",
    summary = "tus 1.0: where the upload stands (`Upload-Offset`, `Upload-Length`)",
    params(UploadId),
    responses((status = 200, description = "OK"), Failure)
)]
pub async fn tus_head(_: Tus, State(s): State<App>, Path(id): Path<String>) -> Response {
    match s.engine.uploads().get(&id) {
        Ok(info) => {
            let mut r = StatusCode::OK.into_response();
            let h = r.headers_mut();
            h.insert("upload-offset", HeaderValue::from(info.offset));
            if let Some(len) = info.size {
                h.insert("upload-length", HeaderValue::from(len));
            }
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            let meta = format!(
                "filename {}",
                base64::engine::general_purpose::STANDARD.encode(&info.filename)
            );
            if let Ok(v) = HeaderValue::from_str(&meta) {
                h.insert("upload-metadata", v);
            }
            tus(r)
        }
        Err(e) => tus_error(&s, &id, e),
    }
}

#[utoipa::path(
    patch,
    path = "/api/tus/{id}",
    tag = "uploads",
    summary = "tus 1.0: bytes at `Upload-Offset` (`application/offset+octet-stream`), with an optional `Upload-Checksum`",
    params(UploadId),
    responses(
        (status = 204, description = "Stored; `Upload-Offset` is the new offset"),
        (status = 409, description = "`Upload-Offset` is not where the upload stands", body = ErrorBody),
        (status = 460, description = "Checksum mismatch; the chunk was not kept", body = ErrorBody),
        Failure,
    )
)]
pub async fn tus_patch(
    _: Tus,
    State(s): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/offset+octet-stream") {
        return tus_refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ghoststream_types::ErrorCode::UnsupportedMediaType,
            "Content-Type must be application/offset+octet-stream",
        );
    }
    let Some(Ok(offset)) = num_header(&headers, "upload-offset") else {
        return tus_refusal(
            StatusCode::BAD_REQUEST,
            ghoststream_types::ErrorCode::BadRequest,
            "Upload-Offset is required",
        );
    };
    let checksum = match headers.get("upload-checksum").map(|v| v.to_str()) {
        None => None,
        Some(Ok(v)) => {
            let (algo, digest) = v.trim().split_once(' ').unwrap_or((v, ""));
            let bytes = base64::engine::general_purpose::STANDARD.decode(digest.trim());
            match (algo, bytes) {
                ("sha1", Ok(b)) => Some(Checksum::Sha1(b)),
                ("sha256", Ok(b)) => Some(Checksum::Sha256(b)),
                _ => {
                    return tus_refusal(
                        StatusCode::BAD_REQUEST,
                        ghoststream_types::ErrorCode::BadRequest,
                        "Upload-Checksum: sha1 or sha256, base64-encoded",
                    )
                }
            }
        }
        Some(Err(_)) => {
            return tus_refusal(
                StatusCode::BAD_REQUEST,
                ghoststream_types::ErrorCode::BadRequest,
                "Upload-Checksum is not readable",
            )
        }
    };
    let uploads = s.engine.uploads();
    // tus is strict: the offset must be exactly where the upload stands.
    match uploads.get(&id) {
        Ok(info) if info.offset != offset => {
            return tus_error(
                &s,
                &id,
                UploadError::OffsetMismatch {
                    given: offset,
                    offset: info.offset,
                },
            )
        }
        Ok(_) => {}
        Err(e) => return tus_error(&s, &id, e),
    }
    let stored = uploads
        .write(&id, Some(offset), body.into_data_stream(), checksum)
        .await;
    let info = match stored {
        Ok(info) if info.size == Some(info.offset) && !info.complete => {
            match uploads.complete(&id, None).await {
                Ok(done) => done,
                Err(e) => return tus_error(&s, &id, e),
            }
        }
        Ok(info) => info,
        Err(e) => return tus_error(&s, &id, e),
    };
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut()
        .insert("upload-offset", HeaderValue::from(info.offset));
    tus(r)
}

#[utoipa::path(
    delete,
    path = "/api/tus/{id}",
    tag = "uploads",
    summary = "tus 1.0 termination: delete the upload",
    params(UploadId),
    responses((status = 204, description = "Deleted"), Failure)
)]
pub async fn tus_delete(_: Tus, State(s): State<App>, Path(id): Path<String>) -> Response {
    match s.engine.uploads().remove(&id).await {
        Ok(()) => tus(StatusCode::NO_CONTENT.into_response()),
        Err(e) => tus_error(&s, &id, e),
    }
}
