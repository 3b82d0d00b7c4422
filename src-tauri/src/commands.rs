//! Typed IPC commands. Each is one call: to the running server's application API
//! (`ghoststream_server::App`, the same methods the HTTP routes call, named as in
//! `ghoststream_server::OPS`), or for the few only the app has (start, stop, quit, the
//! logs folder) to the shell. Errors are the `{detail, code}` body HTTP answers with.
//!
//! The page invokes them in the window process; they run here, in the app's process, by
//! name ([`dispatch`], over the window bridge). [`with_commands`] lists them once, for
//! the bindings and for the dispatcher.

use crate::events::{DesktopNotice, ExitAction};
use crate::shell::{api, Shell};
use ghoststream_server::job_id;
use ghoststream_types::{
    AnnounceResult, CancelResponse, Capabilities, DailyStats, ErrorBody, ErrorCode,
    GhostHubRequest, GhostHubSaved, IngestKey, IngestKeyRequest, IngestOverview, JobList,
    JobResponse, LogPage, PairingInfo, Reachability, Resources, ServerStatus, Settings,
    SettingsSaved, StartRequest, Stats,
};
use serde_json::Value;
use std::sync::Arc;
use tauri::{Manager, State};

type S<'a> = State<'a, Arc<Shell>>;
type R<T> = Result<T, ErrorBody>;

/// Every command with its arguments (snake_case, as the function names them; the page
/// sends them in camelCase), in the order of `ghoststream_server::OPS` and then those only
/// the app has. Calls `$then!` with the list.
macro_rules! with_commands {
    ($then:ident) => {
        $then! {
            server_status(),
            pause_server(),
            resume_server(),
            list_jobs(offset, limit),
            job(job_id),
            cancel_job(job_id),
            job_log(job_id),
            start_job(request),
            pause_job(job_id),
            resume_job(job_id),
            retry_job(job_id),
            delete_job(job_id),
            capabilities(),
            resources(),
            stats(),
            daily_stats(days),
            hourly_stats(hours),
            app_log(after, limit),
            get_settings(),
            save_settings(settings),
            pairing_info(),
            rotate_pairing_code(),
            set_ghosthub(request),
            announce_now(),
            reachability(),
            ingest_status(),
            ingest_keys(),
            create_ingest_key(request),
            rename_ingest_key(key, request),
            revoke_ingest_key(key),
            stop_live(key),
            start_server(),
            stop_server(),
            open_logs_folder(),
            quit_app(),
            take_pending_exit(),
            missed_notices(),
            dismiss_notices(up_to),
        }
    };
}
pub(crate) use with_commands;

/// Runs the command `name` with the page's `args` (an object keyed in camelCase), as
/// Tauri's own handler would: a missing optional argument is `None`, a wrong one is an
/// `invalid-request` error naming it.
pub async fn dispatch(app: &tauri::AppHandle, name: &str, args: Value) -> R<Value> {
    let mut args = match args {
        Value::Object(m) => m,
        _ => Default::default(),
    };
    macro_rules! run {
        ($($cmd:ident($($arg:ident),*)),* $(,)?) => {
            match name {
                $(stringify!($cmd) => reply(
                    $cmd(app.state::<Arc<Shell>>(), $(arg(&mut args, stringify!($arg))?),*).await,
                ),)*
                other => Err(ErrorBody::new(
                    ErrorCode::NotFound,
                    format!("the app has no command `{other}`"),
                )),
            }
        };
    }
    with_commands!(run)
}

fn reply<T: serde::Serialize>(r: R<T>) -> R<Value> {
    r.and_then(|v| {
        serde_json::to_value(v).map_err(|e| ErrorBody::new(ErrorCode::InternalError, e.to_string()))
    })
}

/// The argument `name` (snake_case) from the page's camelCase object.
fn arg<T: serde::de::DeserializeOwned>(
    args: &mut serde_json::Map<String, Value>,
    name: &str,
) -> R<T> {
    let key = camel_case(name);
    serde_json::from_value(args.remove(&key).unwrap_or(Value::Null))
        .map_err(|e| ErrorBody::new(ErrorCode::InvalidRequest, format!("argument `{key}`: {e}")))
}

/// `job_id` → `jobId`, as tauri-specta names arguments.
pub fn camel_case(s: &str) -> String {
    let mut out = String::new();
    let mut up = false;
    for c in s.chars() {
        match (c, up) {
            ('_', _) => up = true,
            (c, true) => {
                out.extend(c.to_uppercase());
                up = false
            }
            (c, false) => out.push(c),
        }
    }
    out
}

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
    Ok(shell.stop(crate::STOP).await)
}

#[tauri::command]
#[specta::specta]
pub async fn pause_server(shell: S<'_>) -> R<ServerStatus> {
    shell.set_paused(true).await
}

#[tauri::command]
#[specta::specta]
pub async fn resume_server(shell: S<'_>) -> R<ServerStatus> {
    shell.set_paused(false).await
}

#[tauri::command]
#[specta::specta]
pub async fn list_jobs(shell: S<'_>, offset: Option<u32>, limit: Option<u32>) -> R<JobList> {
    shell
        .app()
        .await?
        .list_jobs(offset, limit)
        .await
        .map_err(api)
}

/// A job's full record; in the app on this machine no control token is needed.
#[tauri::command]
#[specta::specta]
pub async fn job(shell: S<'_>, job_id: String) -> R<JobResponse> {
    let app = shell.app().await?;
    app.job(self::job_id(&job_id).map_err(api)?, &app.local_base())
        .await
        .map_err(api)
}

#[tauri::command]
#[specta::specta]
pub async fn cancel_job(shell: S<'_>, job_id: String) -> R<CancelResponse> {
    let app = shell.app().await?;
    app.cancel_job(self::job_id(&job_id).map_err(api)?, None)
        .await
        .map_err(api)
}

#[tauri::command]
#[specta::specta]
pub async fn job_log(shell: S<'_>, job_id: String) -> R<String> {
    let app = shell.app().await?;
    app.job_log(self::job_id(&job_id).map_err(api)?)
        .await
        .map_err(api)
}

#[tauri::command]
#[specta::specta]
pub async fn start_job(shell: S<'_>, request: StartRequest) -> R<JobResponse> {
    let app = shell.app().await?;
    let client = Some(ghoststream_types::JobClient {
        name: "ghoststream-app".into(),
        kind: ghoststream_types::ClientKind::App,
        address: None,
    });
    app.start_job(request, client, &app.local_base())
        .await
        .map_err(api)
}

#[tauri::command]
#[specta::specta]
pub async fn pause_job(shell: S<'_>, job_id: String) -> R<JobResponse> {
    let app = shell.app().await?;
    let id = self::job_id(&job_id).map_err(api)?;
    app.pause_job(id, &app.local_base()).await.map_err(api)
}

#[tauri::command]
#[specta::specta]
pub async fn resume_job(shell: S<'_>, job_id: String) -> R<JobResponse> {
    let app = shell.app().await?;
    let id = self::job_id(&job_id).map_err(api)?;
    app.resume_job(id, &app.local_base()).await.map_err(api)
}

#[tauri::command]
#[specta::specta]
pub async fn retry_job(shell: S<'_>, job_id: String) -> R<JobResponse> {
    let app = shell.app().await?;
    let id = self::job_id(&job_id).map_err(api)?;
    app.retry_job(id, &app.local_base()).await.map_err(api)
}

#[tauri::command]
#[specta::specta]
pub async fn delete_job(shell: S<'_>, job_id: String) -> R<CancelResponse> {
    let app = shell.app().await?;
    app.delete_job(self::job_id(&job_id).map_err(api)?)
        .await
        .map_err(api)
}

#[tauri::command]
#[specta::specta]
pub async fn capabilities(shell: S<'_>) -> R<Capabilities> {
    Ok(shell.app().await?.capabilities())
}

#[tauri::command]
#[specta::specta]
pub async fn resources(shell: S<'_>) -> R<Resources> {
    Ok(shell.app().await?.resources().await)
}

#[tauri::command]
#[specta::specta]
pub async fn stats(shell: S<'_>) -> R<Stats> {
    shell.app().await?.stats().await.map_err(api)
}

#[tauri::command]
#[specta::specta]
pub async fn daily_stats(shell: S<'_>, days: Option<u32>) -> R<DailyStats> {
    shell.app().await?.daily_stats(days).await.map_err(api)
}

#[tauri::command]
#[specta::specta]
pub async fn hourly_stats(shell: S<'_>, hours: Option<u32>) -> R<DailyStats> {
    shell.app().await?.hourly_stats(hours).await.map_err(api)
}

/// The application log; kept across server stops and starts, so it reads while stopped.
#[tauri::command]
#[specta::specta]
pub async fn app_log(shell: S<'_>, after: Option<u64>, limit: Option<u32>) -> R<LogPage> {
    shell.journal.read(after, limit).map_err(api)
}

/// Works while the server is stopped too (read from the file).
#[tauri::command]
#[specta::specta]
pub async fn get_settings(shell: S<'_>) -> R<Settings> {
    shell.settings().await
}

/// Works while the server is stopped too; also sets start at login.
#[tauri::command]
#[specta::specta]
pub async fn save_settings(shell: S<'_>, settings: Settings) -> R<SettingsSaved> {
    shell.save_settings(settings).await
}

#[tauri::command]
#[specta::specta]
pub async fn open_logs_folder(shell: S<'_>) -> R<()> {
    let dir = shell.logs_dir();
    tokio::task::spawn_blocking(move || crate::open_path(&dir))
        .await
        .map_err(|e| ErrorBody::new(ErrorCode::ShellFailed, e.to_string()))?
        .map_err(|e| ErrorBody::new(ErrorCode::ShellFailed, e))
}

/// Quits the app like the tray's Quit: jobs end and the server stops first.
#[tauri::command]
#[specta::specta]
pub async fn quit_app(shell: S<'_>) -> R<()> {
    if let Some(app) = shell.handle() {
        crate::quit(shell.inner().clone(), app).await;
    }
    Ok(())
}

/// Stop or Quit asked in the tray while jobs ran, once: the window opened for it asks.
#[tauri::command]
#[specta::specta]
pub async fn take_pending_exit(shell: S<'_>) -> R<Option<ExitAction>> {
    Ok(shell.take_pending_exit())
}

/// Desktop notifications that could not be shown, oldest first.
#[tauri::command]
#[specta::specta]
pub async fn missed_notices(_shell: S<'_>) -> R<Vec<DesktopNotice>> {
    Ok(crate::notify::missed())
}

#[tauri::command]
#[specta::specta]
pub async fn dismiss_notices(_shell: S<'_>, up_to: u32) -> R<Vec<DesktopNotice>> {
    crate::notify::dismiss(up_to);
    Ok(crate::notify::missed())
}

#[tauri::command]
#[specta::specta]
pub async fn pairing_info(shell: S<'_>) -> R<PairingInfo> {
    shell.app().await?.pairing_info().map_err(api)
}

#[tauri::command]
#[specta::specta]
pub async fn rotate_pairing_code(shell: S<'_>) -> R<PairingInfo> {
    shell.app().await?.rotate_pairing_code().map_err(api)
}

#[tauri::command]
#[specta::specta]
pub async fn set_ghosthub(shell: S<'_>, request: GhostHubRequest) -> R<GhostHubSaved> {
    let app = shell.app().await?;
    app.set_ghosthub(request.ghosthub_url).await.map_err(api)
}

#[tauri::command]
#[specta::specta]
pub async fn announce_now(shell: S<'_>) -> R<AnnounceResult> {
    shell.app().await?.announce_now().await.map_err(api)
}

#[tauri::command]
#[specta::specta]
pub async fn reachability(shell: S<'_>) -> R<Reachability> {
    shell.app().await?.reachability().await.map_err(api)
}

#[tauri::command]
#[specta::specta]
pub async fn ingest_status(shell: S<'_>) -> R<IngestOverview> {
    let app = shell.app().await?;
    Ok(app.ingest_status(true, &app.local_base()))
}

#[tauri::command]
#[specta::specta]
pub async fn ingest_keys(shell: S<'_>) -> R<Vec<IngestKey>> {
    Ok(shell.app().await?.ingest_keys())
}

#[tauri::command]
#[specta::specta]
pub async fn create_ingest_key(shell: S<'_>, request: IngestKeyRequest) -> R<IngestKey> {
    shell.app().await?.create_ingest_key(request).map_err(api)
}

#[tauri::command]
#[specta::specta]
pub async fn rename_ingest_key(
    shell: S<'_>,
    key: String,
    request: IngestKeyRequest,
) -> R<IngestKey> {
    shell
        .app()
        .await?
        .rename_ingest_key(&key, request)
        .map_err(api)
}

#[tauri::command]
#[specta::specta]
pub async fn revoke_ingest_key(shell: S<'_>, key: String) -> R<Vec<IngestKey>> {
    shell
        .app()
        .await?
        .revoke_ingest_key(&key)
        .await
        .map_err(api)
}

#[tauri::command]
#[specta::specta]
pub async fn stop_live(shell: S<'_>, key: String) -> R<IngestOverview> {
    let app = shell.app().await?;
    app.stop_live(&key, &app.local_base()).await.map_err(api)
}
