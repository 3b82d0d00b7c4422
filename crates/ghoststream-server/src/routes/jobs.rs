//! `/api/transcode/*`: start, list, status, cancel, delete, stream info, leave, log.

use super::doc::{ControlToken, Failure, JobId};
use super::{base_url, job_id, json_body};
use crate::error::ApiResult;
use crate::App;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use ghoststream_engine::TokenMode;
use ghoststream_types::ErrorBody;
use ghoststream_types::{
    CancelResponse, JobList, JobResponse, LeaveResponse, SessionRequest, StartRequest, StreamInfo,
};
use std::net::SocketAddr;
use uuid::Uuid;

type Body = Result<Bytes, axum::extract::rejection::BytesRejection>;

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
}

/// The job must exist (404), then, when tokens are enforced, the control token must be
/// valid for it (403). The dashboard page in a browser on this machine needs no token
/// (see [`crate::auth::dashboard_page`]).
/// A job from the path whose caller may control it: its control token, or the owner's
/// dashboard page. 404 for no such job, then 403/401 as tokens decide.
pub struct Controlled(pub Uuid);

impl FromRequestParts<App> for Controlled {
    type Rejection = crate::error::ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &App) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, s)
            .await
            .map_err(|_| {
                crate::error::ApiError::Engine(ghoststream_engine::EngineError::NotFound)
            })?;
        let id = job_id(&raw)?;
        let ConnectInfo(peer) = ConnectInfo::<SocketAddr>::from_request_parts(parts, s)
            .await
            .map_err(|e| crate::error::ApiError::Internal(e.to_string()))?;
        authorize(s, id, peer, &parts.headers, None).await?;
        Ok(Controlled(id))
    }
}

/// See [`Controlled`]; `query_token` is a control token from the URL (WebSockets from a
/// browser cannot send headers).
pub(crate) async fn authorize(
    s: &App,
    id: Uuid,
    peer: SocketAddr,
    headers: &HeaderMap,
    query_token: Option<&str>,
) -> ApiResult<()> {
    s.engine.job(id).await?;
    if s.engine.live().job_tokens == TokenMode::Open {
        return Ok(());
    }
    let token = header_str(headers, "x-ghoststream-control-token").or(query_token);
    if token.is_none() && crate::auth::dashboard_page(s, peer, headers).is_ok() {
        return Ok(());
    }
    s.engine.check_control_token(id, token)?;
    Ok(())
}

#[utoipa::path(
    post,
    path = "/api/transcode/start",
    tag = "jobs",
    summary = "Start (or join) a job (also /transcode)",
    request_body = StartRequest,
    responses(
        (status = 200, description = "OK", body = JobResponse),
        (status = 422, description = "Invalid request", body = ErrorBody),
        (status = 503, description = "Queue full or paused", body = ErrorBody),
        Failure,
    )
)]
pub async fn start(
    State(s): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<JobResponse>> {
    let req: StartRequest = json_body(body, s.engine.config().server.max_body_bytes, true)?;
    let client = Some(s.clients.job_client(
        header_str(&headers, "x-ghoststream-client"),
        header_str(&headers, "user-agent"),
        peer.ip(),
    ));
    Ok(Json(
        s.start_job(req, client, &base_url(&s, &headers)).await?,
    ))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// Jobs to skip (newest first).
    #[param(minimum = 0, maximum = 1000000)]
    offset: Option<u32>,
    /// Jobs to return, 1–1000 (default 200).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/transcode/jobs",
    tag = "jobs",
    summary = "Jobs this server knows, newest first: no token, URL or credential in them",
    params(Page),
    responses(
        (status = 200, description = "OK", body = JobList),
        (status = 422, description = "Invalid page", body = ErrorBody),
        Failure,
    )
)]
pub async fn list(State(s): State<App>, Query(page): Query<Page>) -> ApiResult<Json<JobList>> {
    s.list_jobs(page.offset, page.limit).await.map(Json)
}

#[utoipa::path(
    get,
    path = "/api/transcode/{id}/status",
    tag = "jobs",
    summary = "A job's status (also GET /transcode/{id})",
    params(JobId, ControlToken),
    responses(
        (status = 200, description = "OK", body = JobResponse),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 403, description = "Token missing or wrong", body = ErrorBody),
        Failure,
    )
)]
pub async fn status(
    State(s): State<App>,
    Controlled(id): Controlled,
    headers: HeaderMap,
) -> ApiResult<Json<JobResponse>> {
    s.job(id, &base_url(&s, &headers)).await.map(Json)
}

fn session_from(headers: &HeaderMap, body: SessionRequest) -> Option<String> {
    body.session_id
        .or_else(|| header_str(headers, "x-ghoststream-session").map(str::to_string))
        .filter(|s| !s.is_empty())
}

#[utoipa::path(
    post,
    path = "/api/transcode/{id}/cancel",
    tag = "jobs",
    summary = "Cancel a job, or leave it when others watch (also DELETE /transcode/{id})",
    params(JobId, ControlToken),
    request_body = Option<SessionRequest>,
    responses(
        (status = 200, description = "OK", body = CancelResponse),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "Already ended", body = ErrorBody),
        Failure,
    )
)]
pub async fn cancel(
    State(s): State<App>,
    Controlled(id): Controlled,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<CancelResponse>> {
    let req: SessionRequest = json_body(body, s.engine.config().server.max_body_bytes, false)?;
    s.cancel_job(id, session_from(&headers, req))
        .await
        .map(Json)
}

#[utoipa::path(
    delete,
    path = "/api/transcode/{id}",
    tag = "jobs",
    summary = "Cancel and remove a job and its files",
    params(JobId, ControlToken),
    responses(
        (status = 200, description = "OK", body = CancelResponse),
        (status = 404, description = "No such job", body = ErrorBody),
        Failure,
    )
)]
pub async fn delete(
    State(s): State<App>,
    Controlled(id): Controlled,
) -> ApiResult<Json<CancelResponse>> {
    s.delete_job(id).await.map(Json)
}

#[utoipa::path(
    post,
    path = "/api/transcode/{id}/retry",
    tag = "jobs",
    summary = "Start a new job with an ended job's request, for the same client (ext)",
    params(JobId, ControlToken),
    responses(
        (status = 200, description = "The new job", body = JobResponse),
        (status = 400, description = "Not ended yet, or a live recording", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        Failure,
    )
)]
pub async fn retry(
    State(s): State<App>,
    Controlled(id): Controlled,
    headers: HeaderMap,
) -> ApiResult<Json<JobResponse>> {
    s.retry_job(id, &base_url(&s, &headers)).await.map(Json)
}

#[utoipa::path(
    get,
    path = "/api/transcode/{id}/stream",
    tag = "jobs",
    summary = "The stream URL of an HLS job",
    params(JobId, ControlToken),
    responses(
        (status = 200, description = "OK", body = StreamInfo),
        (status = 404, description = "No such job", body = ErrorBody),
        Failure,
    )
)]
pub async fn stream_info(
    State(s): State<App>,
    Controlled(id): Controlled,
    headers: HeaderMap,
) -> ApiResult<Json<StreamInfo>> {
    let r = crate::links::answer(&s.engine.job(id).await?, &base_url(&s, &headers));
    Ok(Json(StreamInfo {
        job_id: r.job_id,
        stream_url: r.stream_url,
        status: r.status,
    }))
}

#[utoipa::path(
    post,
    path = "/api/transcode/{id}/pause",
    tag = "jobs",
    summary = "Freeze a running job where it is (ext); the same id, URLs and segments go on at resume",
    params(JobId, ControlToken),
    responses(
        (status = 200, description = "OK", body = JobResponse),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "Not running", body = ErrorBody),
        Failure,
    )
)]
pub async fn pause(
    State(s): State<App>,
    Controlled(id): Controlled,
    headers: HeaderMap,
) -> ApiResult<Json<JobResponse>> {
    s.pause_job(id, &base_url(&s, &headers)).await.map(Json)
}

#[utoipa::path(
    post,
    path = "/api/transcode/{id}/resume",
    tag = "jobs",
    summary = "Let a paused job run again (ext)",
    params(JobId, ControlToken),
    responses(
        (status = 200, description = "OK", body = JobResponse),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "Not running", body = ErrorBody),
        Failure,
    )
)]
pub async fn resume(
    State(s): State<App>,
    Controlled(id): Controlled,
    headers: HeaderMap,
) -> ApiResult<Json<JobResponse>> {
    s.resume_job(id, &base_url(&s, &headers)).await.map(Json)
}

#[utoipa::path(
    post,
    path = "/api/transcode/{id}/leave",
    tag = "jobs",
    summary = "Stop watching a shared stream",
    params(JobId, ControlToken),
    request_body = Option<SessionRequest>,
    responses(
        (status = 200, description = "OK", body = LeaveResponse),
        (status = 404, description = "No such job", body = ErrorBody),
        Failure,
    )
)]
pub async fn leave(
    State(s): State<App>,
    Controlled(id): Controlled,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<LeaveResponse>> {
    let req: SessionRequest = json_body(body, s.engine.config().server.max_body_bytes, false)?;
    Ok(Json(s.engine.leave(id, session_from(&headers, req)).await?))
}

#[utoipa::path(
    get,
    path = "/api/transcode/{id}/log",
    tag = "jobs",
    summary = "The job's ffmpeg commands and messages",
    params(JobId, ControlToken),
    responses(
        (status = 200, description = "Plain text", body = String, content_type = "text/plain"),
        (status = 404, description = "No such job", body = ErrorBody),
        Failure,
    )
)]
pub async fn log(State(s): State<App>, Controlled(id): Controlled) -> ApiResult<Response> {
    let mut r = s.job_log(id).await?.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(r)
}
