//! `/stream/{id}/{file}` (playlists, segments, subtitles) and `/download/{id}`.

use super::doc::{Failure, JobId, StreamToken};
use super::job_id;
use crate::auth::{has_api_key, percent_decode, query_param};
use crate::error::{ApiError, ApiResult};
use crate::files::{playlist, serve_file};
use crate::App;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use ghoststream_engine::tokens::StreamGate;
use ghoststream_engine::StreamFile;
use ghoststream_types::ErrorBody;
use ghoststream_types::ErrorCode;
use uuid::Uuid;

/// Players cannot send headers: a stream token (`?gst=` or header) or the control token
/// is enough, even when an API key is set. With `job_tokens = enforce` a token is required.
/// Decided here without the engine's actor; the actor applies it with the job in the same
/// step that finds the file.
fn gate(s: &App, id: Uuid, headers: &HeaderMap, uri: &Uri) -> StreamGate {
    let query = uri.query();
    let token = query_param(query, "gst")
        .or_else(|| {
            headers
                .get("x-ghoststream-stream-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .or_else(|| {
            headers
                .get("x-ghoststream-control-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .filter(|t| !t.is_empty());
    s.engine
        .stream_gate(id, token.as_deref(), has_api_key(s, headers, query))
}

/// A file name must be one plain name: no separators, no dot segments, nothing encoded.
fn check_name(raw_path: &str) -> ApiResult<String> {
    let decoded = percent_decode(&percent_decode(raw_path));
    let bad = decoded.is_empty()
        || decoded.contains('/')
        || decoded.contains('\\')
        || decoded.contains("..")
        || decoded.contains('\0')
        || decoded.starts_with('.')
        || !decoded
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if bad {
        return Err(ApiError::BadRequest {
            code: ErrorCode::InvalidPath,
            detail: "file names may not contain '/', '\\' or '..'".into(),
        });
    }
    Ok(decoded)
}

#[utoipa::path(
    get,
    path = "/stream/{id}/{file}",
    tag = "streams",
    summary = "A playlist, segment or subtitle file of an HLS job",
    params(JobId, ("file" = String, Path, pattern = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", example = "master.m3u8", description = "master.m3u8, v0.m3u8, v0_00000.ts, sub0.vtt, …"), StreamToken),
    responses(
        (status = 200, description = "Playlist, segment or subtitles", content(
            (String = "application/vnd.apple.mpegurl"), (Vec<u8> = "video/mp2t"), (String = "text/vtt; charset=utf-8"))),
        (status = 206, description = "Part of a file (Range)", content(
            (Vec<u8> = "video/mp2t"), (String = "text/vtt; charset=utf-8"))),
        (status = 404, description = "No such job or file", body = ErrorBody),
        Failure,
    )
)]
pub async fn stream_file(
    State(s): State<App>,
    Path((id, file)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> ApiResult<Response> {
    // The raw path, before axum decoded it, so encoded separators are caught too.
    let raw = uri
        .path()
        .splitn(4, '/')
        .nth(3)
        .unwrap_or(&file)
        .to_string();
    let name = check_name(&raw)?;
    let id = job_id(&id)?;
    let gate = gate(&s, id, &headers, &uri);
    match s.engine.stream_file(id, name.clone(), gate).await? {
        StreamFile::Playlist(text) => Ok(playlist(text)),
        StreamFile::File(path) => serve_file(&path, &name, &headers, None).await,
    }
}

pub async fn bad_path() -> ApiError {
    ApiError::BadRequest {
        code: ErrorCode::InvalidPath,
        detail: "a file name is required: /stream/{job_id}/master.m3u8".into(),
    }
}

#[utoipa::path(
    get,
    path = "/download/{id}",
    tag = "streams",
    summary = "The output file of a batch job (Range supported)",
    params(JobId, StreamToken),
    responses(
        (status = 200, description = "The file", content(
            (Vec<u8> = "video/mp4"), (Vec<u8> = "video/x-matroska"), (Vec<u8> = "video/webm"))),
        (status = 206, description = "A range of it", content(
            (Vec<u8> = "video/mp4"), (Vec<u8> = "video/x-matroska"), (Vec<u8> = "video/webm"))),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "Not ready yet", body = ErrorBody),
        Failure,
    )
)]
pub async fn download(
    State(s): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> ApiResult<Response> {
    let id = job_id(&id)?;
    let gate = gate(&s, id, &headers, &uri);
    let (path, fname) = s.engine.download(id, gate).await?;
    let ext = fname.rsplit('.').next().unwrap_or("mp4").to_string();
    serve_file(&path, &format!("x.{ext}"), &headers, Some(&fname)).await
}
