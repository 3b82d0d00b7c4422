//! What the dashboard reads over HTTP: server state, live resources, settings, history.
//! The same data the desktop shell gets over typed IPC.

use super::doc::Failure;
use super::json_object;
use crate::error::{field, ApiError, ApiResult};
use crate::App;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::Json;
use bytes::Bytes;
use ghoststream_types::ErrorBody;
use ghoststream_types::ErrorCode;
use ghoststream_types::{DailyStats, LogPage, Resources, ServerStatus, Settings, SettingsSaved};
use std::net::SocketAddr;

#[utoipa::path(
    get,
    path = "/api/server",
    tag = "dashboard",
    summary = "Server state for the dashboard",
    responses(
        (status = 200, description = "OK", body = ServerStatus),
        Failure,
    )
)]
pub async fn status(State(s): State<App>) -> ApiResult<Json<ServerStatus>> {
    s.server_status().await.map(Json)
}

#[utoipa::path(
    post,
    path = "/api/server/pause",
    tag = "dashboard",
    summary = "Refuse new jobs; running ones continue",
    responses(
        (status = 200, description = "OK", body = ServerStatus),
        (status = 403, description = "From another web page or a name that is not ours", body = ErrorBody),
        Failure,
    )
)]
pub async fn pause(State(s): State<App>, headers: HeaderMap) -> ApiResult<Json<ServerStatus>> {
    crate::auth::same_origin(&s, &headers)?;
    s.pause_server().await.map(Json)
}

#[utoipa::path(
    post,
    path = "/api/server/resume",
    tag = "dashboard",
    summary = "Accept new jobs again",
    responses(
        (status = 200, description = "OK", body = ServerStatus),
        (status = 403, description = "From another web page or a name that is not ours", body = ErrorBody),
        Failure,
    )
)]
pub async fn resume(State(s): State<App>, headers: HeaderMap) -> ApiResult<Json<ServerStatus>> {
    crate::auth::same_origin(&s, &headers)?;
    s.resume_server().await.map(Json)
}

#[utoipa::path(
    get,
    path = "/api/resources",
    tag = "dashboard",
    summary = "CPU, memory, disk and GPU use",
    responses(
        (status = 200, description = "OK", body = Resources),
        Failure,
    )
)]
pub async fn resources(State(s): State<App>) -> ApiResult<Json<Resources>> {
    Ok(Json(s.resources().await))
}

#[derive(serde::Deserialize)]
pub struct DaysQuery {
    days: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/stats/daily",
    tag = "dashboard",
    summary = "Jobs per day",
    params(("days" = Option<u32>, Query, minimum = 1, maximum = 366, description = "How many days (default 14)")),
    responses(
        (status = 200, description = "OK", body = DailyStats),
        Failure,
    )
)]
pub async fn daily(
    State(s): State<App>,
    Query(q): Query<DaysQuery>,
) -> ApiResult<Json<DailyStats>> {
    s.daily_stats(q.days).await.map(Json)
}

#[derive(serde::Deserialize)]
pub struct HoursQuery {
    hours: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/stats/hourly",
    tag = "dashboard",
    summary = "Jobs per hour (ext): the Stats panel's 24-hour view",
    params(("hours" = Option<u32>, Query, minimum = 1, maximum = 168, description = "How many hours (default 24)")),
    responses(
        (status = 200, description = "OK", body = DailyStats),
        (status = 422, description = "Invalid hours", body = ErrorBody),
        Failure,
    )
)]
pub async fn hourly(
    State(s): State<App>,
    Query(q): Query<HoursQuery>,
) -> ApiResult<Json<DailyStats>> {
    s.hourly_stats(q.hours).await.map(Json)
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// The `seq` of the last line already read (0 or absent: from the oldest kept).
    #[param(minimum = 0, maximum = 9007199254740991_i64)]
    after: Option<u64>,
    /// Lines to return, 1–1000 (default 500).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// The application log names clients and their addresses: only for this machine.
#[utoipa::path(
    get,
    path = "/api/logs",
    tag = "dashboard",
    summary = "The application log: server start, jobs, refused requests (ext; from this machine only)",
    params(LogQuery),
    responses(
        (status = 200, description = "OK", body = LogPage),
        (status = 403, description = "Not from this machine", body = ErrorBody),
        (status = 422, description = "Invalid limit", body = ErrorBody),
        Failure,
    )
)]
pub async fn logs(
    State(s): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<LogQuery>,
) -> ApiResult<Json<LogPage>> {
    crate::auth::local_owner(&s, peer, &headers)?;
    s.app_log(q.after, q.limit).map(Json)
}

#[utoipa::path(
    get,
    path = "/api/settings",
    tag = "dashboard",
    summary = "Settings the dashboard edits",
    responses(
        (status = 200, description = "OK", body = Settings),
        Failure,
    )
)]
pub async fn get_settings(State(s): State<App>) -> ApiResult<Json<Settings>> {
    Ok(Json(s.get_settings()))
}

/// Saving settings changes the machine's configuration: only from this machine.
#[utoipa::path(
    put,
    path = "/api/settings",
    tag = "dashboard",
    summary = "Save and apply settings (from this machine only)",
    request_body = Settings,
    responses(
        (status = 200, description = "OK", body = SettingsSaved),
        (status = 403, description = "Not from this machine", body = ErrorBody),
        (status = 422, description = "Invalid settings", body = ErrorBody),
        Failure,
    )
)]
pub async fn put_settings(
    State(s): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Json<SettingsSaved>> {
    if !peer.ip().is_loopback() {
        return Err(ApiError::Forbidden {
            code: ErrorCode::SettingsLocalOnly,
            detail: "settings can only be changed from the machine GhostStream runs on".into(),
        });
    }
    crate::auth::local_owner(&s, peer, &headers)?;
    let new: Settings = json_object(body, s.engine.config().server.max_body_bytes, true)?
        .ok_or_else(|| {
            ApiError::Invalid(vec![field(&["body"], "settings are required", "missing")])
        })?;
    s.save_settings(new).await.map(Json)
}
