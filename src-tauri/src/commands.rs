//! Typed IPC commands: each delegates to the shell in one line.

use crate::shell::Shell;
use ghoststream_types::{
    AnnounceResult, Capabilities, DailyStats, ErrorBody, ErrorCode, JobResponse, PairingInfo,
    Reachability, Resources, ServerStatus, Settings, SettingsSaved, Stats,
};
use std::sync::Arc;
use tauri::State;

type S<'a> = State<'a, Arc<Shell>>;
/// The same `{detail, code}` body HTTP answers with.
type R<T> = Result<T, ErrorBody>;

#[tauri::command]
#[specta::specta]
pub async fn server_status(shell: S<'_>) -> R<ServerStatus> {
    Ok(shell.status().await)
}

#[tauri::command]
#[specta::specta]
pub async fn start_server(shell: S<'_>) -> R<ServerStatus> {
    Ok(shell.start().await)
}

#[tauri::command]
#[specta::specta]
pub async fn stop_server(shell: S<'_>) -> R<ServerStatus> {
    Ok(shell.stop().await)
}

#[tauri::command]
#[specta::specta]
pub async fn set_paused(shell: S<'_>, paused: bool) -> R<ServerStatus> {
    shell.set_paused(paused).await
}

#[tauri::command]
#[specta::specta]
pub async fn list_jobs(shell: S<'_>) -> R<Vec<JobResponse>> {
    shell.jobs().await
}

#[tauri::command]
#[specta::specta]
pub async fn cancel_job(shell: S<'_>, job_id: String) -> R<()> {
    shell.cancel(&job_id).await
}

#[tauri::command]
#[specta::specta]
pub async fn job_log(shell: S<'_>, job_id: String) -> R<String> {
    shell.log(&job_id).await
}

#[tauri::command]
#[specta::specta]
pub async fn capabilities(shell: S<'_>) -> R<Capabilities> {
    shell.capabilities().await
}

#[tauri::command]
#[specta::specta]
pub async fn resources(shell: S<'_>) -> R<Resources> {
    shell.resources().await
}

#[tauri::command]
#[specta::specta]
pub async fn stats(shell: S<'_>) -> R<Stats> {
    shell.stats().await
}

#[tauri::command]
#[specta::specta]
pub async fn daily_stats(shell: S<'_>, days: u32) -> R<DailyStats> {
    shell.daily(days).await
}

#[tauri::command]
#[specta::specta]
pub async fn get_settings(shell: S<'_>) -> R<Settings> {
    shell.settings().await
}

#[tauri::command]
#[specta::specta]
pub async fn save_settings(shell: S<'_>, settings: Settings) -> R<SettingsSaved> {
    shell.save_settings(settings).await
}

#[tauri::command]
#[specta::specta]
pub async fn open_logs_folder(shell: S<'_>) -> R<()> {
    crate::open_path(&shell.logs_dir()).map_err(|e| ErrorBody::new(ErrorCode::ShellFailed, e))
}

/// Quits the app like the tray's Quit: jobs end and the server stops first.
#[tauri::command]
#[specta::specta]
pub async fn quit_app(shell: S<'_>, app: tauri::AppHandle) -> R<()> {
    crate::quit(shell.inner().clone(), app).await;
    Ok(())
}

#[tauri::command]
#[specta::specta]
pub async fn pairing_info(shell: S<'_>) -> R<PairingInfo> {
    shell.pairing().await
}

#[tauri::command]
#[specta::specta]
pub async fn rotate_pairing_code(shell: S<'_>) -> R<PairingInfo> {
    shell.rotate_code().await
}

#[tauri::command]
#[specta::specta]
pub async fn set_ghosthub(shell: S<'_>, url: Option<String>) -> R<PairingInfo> {
    shell.set_ghosthub(url).await
}

#[tauri::command]
#[specta::specta]
pub async fn announce_now(shell: S<'_>) -> R<AnnounceResult> {
    shell.announce_now().await
}

#[tauri::command]
#[specta::specta]
pub async fn reachability(shell: S<'_>) -> R<Reachability> {
    shell.reachability().await
}
