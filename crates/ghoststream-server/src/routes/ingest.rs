//! Live ingest over HTTP: `/api/ingest…` (keys, streams) and `/streams/<key>/…` (what
//! players fetch). The stream key is the credential of `/streams/<key>/`, as the seed has
//! it; managing keys, and seeing them, takes the machine's owner or the API key.

use crate::auth::{has_api_key, local_owner, same_origin};
use crate::error::{ApiError, ApiResult};
use crate::routes::{base_url, json_object};
use crate::App;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use ghoststream_engine::ingest::LiveFile;
use ghoststream_types::{ErrorBody, ErrorCode, IngestKey, IngestKeyRequest, IngestOverview};
use std::net::SocketAddr;

use super::doc::Failure;

/// Who may see and manage stream keys: a same-origin request from this machine (the
/// dashboard, the app), or, where an API key is set, a client that sends it (and is no
/// foreign web page).
fn may_manage(s: &App, peer: SocketAddr, headers: &HeaderMap) -> ApiResult<()> {
    let owner = local_owner(s, peer, headers);
    if owner.is_ok() {
        return Ok(());
    }
    let key_set = s.engine.live().api_key.is_some();
    if key_set && has_api_key(s, headers, None) {
        return same_origin(s, headers);
    }
    if peer.ip().is_loopback() {
        // This machine, but a foreign page or name: say which.
        return owner;
    }
    Err(ApiError::Forbidden {
        code: ErrorCode::LocalOnly,
        detail: "stream keys are managed on the machine GhostStream runs on, or with the API key"
            .into(),
    })
}

fn reached_as(s: &App, headers: &HeaderMap) -> String {
    base_url(s, headers)
}

#[utoipa::path(
    get,
    path = "/api/ingest",
    tag = "live",
    summary = "Live ingest: the listeners and every live stream or recording",
    description = "Stream keys and playback paths are shown to the owner and API-key holders only.",
    responses((status = 200, description = "OK", body = IngestOverview), Failure)
)]
pub async fn status(
    State(s): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Json<IngestOverview> {
    let with_keys = may_manage(&s, peer, &headers).is_ok();
    Json(s.ingest_status(with_keys, &reached_as(&s, &headers)))
}

#[utoipa::path(
    get,
    path = "/api/ingest/keys",
    tag = "live",
    summary = "Stream keys",
    responses((status = 200, description = "OK", body = Vec<IngestKey>), Failure)
)]
pub async fn keys(
    State(s): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult<Json<Vec<IngestKey>>> {
    may_manage(&s, peer, &headers)?;
    Ok(Json(s.ingest_keys()))
}

#[utoipa::path(
    post,
    path = "/api/ingest/keys",
    tag = "live",
    summary = "A new stream key (random unless `key` is given)",
    request_body = Option<IngestKeyRequest>,
    responses(
        (status = 201, description = "Created", body = IngestKey),
        (status = 409, description = "That key exists", body = ErrorBody),
        Failure,
    )
)]
pub async fn create_key(
    State(s): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<(axum::http::StatusCode, Json<IngestKey>)> {
    may_manage(&s, peer, &headers)?;
    let req: IngestKeyRequest = json_object(body, 4096, false)?.unwrap_or_default();
    let key = s.create_ingest_key(req)?;
    Ok((axum::http::StatusCode::CREATED, Json(key)))
}

#[utoipa::path(
    put,
    path = "/api/ingest/keys/{key}",
    tag = "live",
    summary = "Rename a stream key",
    params(("key" = String, Path, description = "The stream key")),
    request_body = IngestKeyRequest,
    responses(
        (status = 200, description = "OK", body = IngestKey),
        (status = 404, description = "No such key", body = ErrorBody),
        Failure,
    )
)]
pub async fn rename_key(
    State(s): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Json<IngestKey>> {
    may_manage(&s, peer, &headers)?;
    let req: IngestKeyRequest = json_object(body, 4096, true)?.unwrap_or_default();
    s.rename_ingest_key(&key, req).map(Json)
}

#[utoipa::path(
    delete,
    path = "/api/ingest/keys/{key}",
    tag = "live",
    summary = "Revoke a stream key",
    description = "A publisher live on it is disconnected and its stream ends; its recordings stay until their retention ends.",
    params(("key" = String, Path, description = "The stream key")),
    responses(
        (status = 200, description = "The keys left", body = Vec<IngestKey>),
        (status = 404, description = "No such key", body = ErrorBody),
        Failure,
    )
)]
pub async fn revoke_key(
    State(s): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Vec<IngestKey>>> {
    may_manage(&s, peer, &headers)?;
    s.revoke_ingest_key(&key).await.map(Json)
}

#[utoipa::path(
    post,
    path = "/api/ingest/{key}/stop",
    tag = "live",
    summary = "Disconnect the publisher and finish the recording",
    params(("key" = String, Path, description = "The stream key")),
    responses(
        (status = 200, description = "OK", body = IngestOverview),
        (status = 404, description = "Nothing live on that key", body = ErrorBody),
        Failure,
    )
)]
pub async fn stop(
    State(s): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<IngestOverview>> {
    may_manage(&s, peer, &headers)?;
    s.stop_live(&key, &reached_as(&s, &headers)).await.map(Json)
}

#[utoipa::path(
    get,
    path = "/streams/{key}/{file}",
    tag = "live",
    summary = "A live stream or its recording: master.m3u8, media_N.m3u8, dash/manifest.mpd, segments",
    description = "While live, HLS media playlists are a sliding window (`live.window_segments`); after the publisher stops they list the whole recording and end with #EXT-X-ENDLIST. `<job id>/…` addresses an older recording of the key.",
    params(
        ("key" = String, Path, description = "The stream key"),
        ("file" = String, Path, description = "master.m3u8, media_0.m3u8, dash/manifest.mpd, init-0.m4s, chunk-0-00001.m4s, …"),
    ),
    responses(
        (status = 200, description = "The file", content(
            (String = "application/vnd.apple.mpegurl"), (String = "application/dash+xml"), (Vec<u8> = "video/mp4"))),
        (status = 404, description = "No such stream or file", body = ErrorBody),
    )
)]
pub async fn file(
    State(s): State<App>,
    Path((key, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let ingest = s.engine.ingest();
    match ingest.file(&key, &file).await? {
        LiveFile::Playlist { text, content_type } => {
            ingest.served(&key, text.len() as u64);
            let mut res = text.into_response();
            let h = res.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            Ok(res)
        }
        LiveFile::Segment(path) => {
            let res = crate::files::serve_file(&path, "x.m4s", &headers, None).await?;
            let len = res
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            ingest.served(&key, len);
            Ok(res)
        }
    }
}
