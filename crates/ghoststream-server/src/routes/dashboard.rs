//! What the dashboard reads over HTTP: server state, live resources, settings, history.
//! The same data the desktop shell gets over typed IPC.

use super::json_object;
use crate::error::{field, ApiError, ApiResult};
use crate::AppState;
use axum::extract::{ConnectInfo, Query, State};
use axum::Json;
use bytes::Bytes;
use ghoststream_types::{
    DailyStats, Resources, ServerState, ServerStatus, Settings, SettingsSaved,
};
use std::net::SocketAddr;

/// State of the server answering this request.
pub async fn server_status(s: &AppState) -> ApiResult<ServerStatus> {
    let stats = s.engine.stats().await?;
    let port = s.port();
    Ok(ServerStatus {
        state: if s.engine.is_paused() {
            ServerState::Paused
        } else {
            ServerState::Running
        },
        version: env!("CARGO_PKG_VERSION").into(),
        port: Some(port),
        lan_urls: crate::net::urls(&s.engine.config().server.host, port),
        uptime_seconds: s.engine.uptime().as_secs_f64(),
        active_jobs: stats.active_jobs,
        queued_jobs: stats.current_queue_length,
        connected_clients: s.clients.list().len() as u32,
        hw_accels: s.engine.hardware().available(),
        error: None,
    })
}

pub async fn status(State(s): State<AppState>) -> ApiResult<Json<ServerStatus>> {
    Ok(Json(server_status(&s).await?))
}

pub async fn pause(State(s): State<AppState>) -> ApiResult<Json<ServerStatus>> {
    s.engine.set_paused(true);
    Ok(Json(server_status(&s).await?))
}

pub async fn resume(State(s): State<AppState>) -> ApiResult<Json<ServerStatus>> {
    s.engine.set_paused(false);
    Ok(Json(server_status(&s).await?))
}

pub async fn resources(State(s): State<AppState>) -> ApiResult<Json<Resources>> {
    Ok(Json(s.resources().await))
}

#[derive(serde::Deserialize)]
pub struct DaysQuery {
    days: Option<u32>,
}

pub async fn daily(
    State(s): State<AppState>,
    Query(q): Query<DaysQuery>,
) -> ApiResult<Json<DailyStats>> {
    Ok(Json(s.engine.daily_stats(q.days.unwrap_or(14)).await?))
}

pub async fn get_settings(State(s): State<AppState>) -> ApiResult<Json<Settings>> {
    Ok(Json(s.settings()))
}

/// Saving settings changes the machine's configuration: only from this machine.
pub async fn put_settings(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Json<SettingsSaved>> {
    if !peer.ip().is_loopback() {
        return Err(ApiError::Forbidden {
            code: "settings-local-only",
            detail: "settings can only be changed from the machine GhostStream runs on".into(),
        });
    }
    let new: Settings = json_object(body, s.engine.config().server.max_body_bytes, true)?
        .ok_or_else(|| {
            ApiError::Invalid(vec![field(&["body"], "settings are required", "missing")])
        })?;
    s.apply_settings(new)
        .await
        .map(Json)
        .map_err(|e| ApiError::Invalid(vec![field(&["body"], e.to_string(), "value_error")]))
}
