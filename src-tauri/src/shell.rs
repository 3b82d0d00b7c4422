//! The server inside the tray process: started, stopped and restarted in place (the same
//! code as `ghoststream serve`), with its events forwarded to the window, the tray and
//! desktop notifications. Everything here delegates to the server and engine crates.

use crate::events::{ExitAction, JobUpdate, ServerChanged};
use crate::notify;
use ghoststream_engine::{config::ENV_PREFIX, Config};
use ghoststream_media::hw::Hardware;
use ghoststream_server::{settings, App, Running};
use ghoststream_types::{
    ErrorBody, ErrorCode, JobEvent, JobStatus, LiveEvent, Notice, ServerState, ServerStatus,
    Settings, SettingsSaved,
};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tauri::AppHandle;
use tauri_specta::Event as _;
use tokio::sync::{Mutex, OnceCell};

/// Errors reach the window as the same `{detail, code}` body HTTP answers with.
type R<T> = Result<T, ErrorBody>;

fn fail(code: ErrorCode, detail: impl Into<String>) -> ErrorBody {
    ErrorBody::new(code, detail)
}

/// An engine or HTTP-layer error as HTTP would answer it.
pub fn api(e: impl Into<ghoststream_server::ApiError>) -> ErrorBody {
    e.into().to_body().1
}

/// The sentence of an error body (a validation list joined).
pub fn message(e: &ErrorBody) -> String {
    match &e.detail {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(|i| i.get("msg").and_then(|m| m.as_str()))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

#[derive(Default)]
struct Inner {
    running: Option<Running>,
    error: Option<String>,
    forwarders: Vec<tokio::task::JoinHandle<()>>,
}

pub struct Shell {
    inner: Mutex<Inner>,
    hardware: OnceCell<Hardware>,
    pub config_path: PathBuf,
    app: OnceLock<AppHandle>,
    /// Stop or Quit asked in the tray while jobs ran, until the window answers.
    pending_exit: std::sync::Mutex<Option<ExitAction>>,
    /// The application log, across every server this app starts and stops.
    pub journal: ghoststream_server::journal::Journal,
}

/// The configuration file (if present) with `GHOSTSTREAM__…` environment overrides. An
/// ffmpeg bundled next to the app (release builds' sidecar) is preferred over PATH when
/// the configuration does not name one.
pub fn load_config(path: &std::path::Path) -> R<Config> {
    let file = path.exists().then_some(path);
    let env = std::env::vars().filter(|(k, _)| k.starts_with(ENV_PREFIX));
    let mut c = Config::load(file, env, &[])
        .map_err(|e| fail(ErrorCode::SettingsInvalid, e.to_string()))?;
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.to_path_buf()));
    if let Some(dir) = exe_dir {
        let ext = std::env::consts::EXE_SUFFIX;
        for (field, name) in [
            (&mut c.transcoding.ffmpeg_path, "ffmpeg"),
            (&mut c.transcoding.ffprobe_path, "ffprobe"),
        ] {
            let bundled = dir.join(format!("{name}{ext}"));
            if field.as_os_str() == name && bundled.is_file() {
                *field = bundled;
            }
        }
    }
    Ok(c)
}

impl Shell {
    pub fn new(config_path: PathBuf) -> Arc<Shell> {
        Arc::new(Shell {
            inner: Mutex::new(Inner::default()),
            hardware: OnceCell::new(),
            config_path,
            app: OnceLock::new(),
            pending_exit: std::sync::Mutex::new(None),
            journal: Default::default(),
        })
    }

    pub fn attach(&self, app: AppHandle) {
        let _ = self.app.set(app);
    }

    /// The app, once attached.
    pub fn handle(&self) -> Option<AppHandle> {
        self.app.get().cloned()
    }

    /// Jobs that Stop or Quit would end (running, queued or paused).
    pub async fn running_jobs(&self) -> u32 {
        let s = self.status().await;
        s.active_jobs + s.queued_jobs
    }

    /// Remembers that the tray asked for `action`, for a window that opens after the event.
    pub fn ask_exit(&self, action: ExitAction) {
        *self.pending_exit.lock().unwrap_or_else(|p| p.into_inner()) = Some(action);
    }

    /// What the tray asked for and the window has not yet answered; asked once.
    pub fn take_pending_exit(&self) -> Option<ExitAction> {
        self.pending_exit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// The running server's application API; a stopped server answers `server-stopped`.
    pub async fn app(&self) -> R<App> {
        let g = self.inner.lock().await;
        g.running
            .as_ref()
            .map(|r| r.state.clone())
            .ok_or_else(|| fail(ErrorCode::ServerStopped, "the server is stopped"))
    }

    /// Starts the server; a failure (port taken, no ffmpeg) leaves it in `error`, with a
    /// notification, and never ends the app.
    pub async fn start(self: &Arc<Self>) -> ServerStatus {
        {
            let mut g = self.inner.lock().await;
            if g.running.is_none() {
                match self.start_locked().await {
                    Ok(r) => {
                        g.forwarders = self.forward(&r.state);
                        g.running = Some(r);
                        g.error = None;
                    }
                    Err(e) => {
                        let e = message(&e);
                        tracing::error!("server could not start: {e}");
                        notify::send("GhostStream could not start", e.clone());
                        g.error = Some(e);
                    }
                }
            }
        }
        self.changed().await
    }

    async fn start_locked(&self) -> R<Running> {
        let cfg = load_config(&self.config_path)?;
        let hw = self
            .hardware
            .get_or_init(|| {
                let ffmpeg = cfg.transcoding.ffmpeg_path.clone();
                let t = Duration::from_secs(cfg.hardware.trial_timeout.max(1));
                let tone = cfg.hardware.tone_mapping.clone();
                async move { ghoststream_media::hw::detect_with(&ffmpeg, t, &tone).await }
            })
            .await
            .clone();
        let r = Running::start_with(cfg, hw, self.journal.clone())
            .await
            .map_err(|e| fail(e.code(), e.to_string()))?;
        r.state.set_config_path(self.config_path.clone());
        Ok(r)
    }

    /// Stops the server: jobs end (cancelled, recorded with `why`), every ffmpeg child is
    /// gone, the port is free.
    pub async fn stop(self: &Arc<Self>, why: &str) -> ServerStatus {
        self.stop_quietly(why).await;
        self.changed().await
    }

    /// [`Shell::stop`] without telling the window or the tray (used while exiting, when
    /// the main thread is no longer serving them).
    pub async fn stop_quietly(&self, why: &str) {
        let running = {
            let mut g = self.inner.lock().await;
            for f in g.forwarders.drain(..) {
                f.abort();
            }
            g.error = None;
            g.running.take()
        };
        if let Some(r) = running {
            r.engine().set_stop_reason(why);
            r.stop().await;
        }
    }

    pub async fn status(&self) -> ServerStatus {
        let g = self.inner.lock().await;
        if let Some(r) = &g.running {
            if let Ok(s) = r.state.server_status().await {
                return s;
            }
        }
        ServerStatus {
            state: if g.error.is_some() {
                ServerState::Error
            } else {
                ServerState::Stopped
            },
            version: env!("CARGO_PKG_VERSION").into(),
            port: None,
            lan_urls: vec![],
            uptime_seconds: 0.0,
            active_jobs: 0,
            queued_jobs: 0,
            connected_clients: 0,
            paused_jobs: 0,
            paused_reason: None,
            hw_accels: vec![],
            error: g.error.clone(),
        }
    }

    /// Tells the window and the tray what changed.
    pub async fn changed(&self) -> ServerStatus {
        let status = self.status().await;
        if let Some(app) = self.app.get() {
            let _ = ServerChanged(status.clone()).emit(app);
            crate::tray_ui::refresh(app, &status, self.start_at_login().await);
        }
        status
    }

    /// From the running server's settings; read from the file only while it is stopped.
    pub async fn start_at_login(&self) -> bool {
        self.settings().await.is_ok_and(|s| s.start_at_login)
    }

    /// Job events to the window; finished and failed jobs and hardware fallbacks to the
    /// desktop.
    fn forward(self: &Arc<Self>, state: &App) -> Vec<tokio::task::JoinHandle<()>> {
        let mut events = state.engine.subscribe();
        let mut notices = state.engine.subscribe_notices();
        let me = self.clone();
        let engine = state.engine.clone();
        let a = tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(ev) => {
                        if let Some(app) = me.app.get() {
                            let _ = JobUpdate(ev.clone()).emit(app);
                        }
                        if let JobEvent::StatusChange { job_id, data } = &ev {
                            let name = match uuid::Uuid::parse_str(job_id) {
                                Ok(id) => engine
                                    .job(id)
                                    .await
                                    .map(|j| short_name(&j.record.source))
                                    .unwrap_or_default(),
                                Err(_) => String::new(),
                            };
                            match data.status {
                                JobStatus::Ready => notify::send("Transcode finished", name),
                                JobStatus::Error => notify::send(
                                    "Transcode failed",
                                    format!(
                                        "{name}: {}",
                                        data.error_message.as_deref().unwrap_or("unknown cause")
                                    ),
                                ),
                                _ => {}
                            }
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => break,
                }
            }
        });
        let b = tokio::spawn(async move {
            while let Ok(n) = notices.recv().await {
                match n {
                    Notice::HardwareFallback { from, cause, .. } => notify::send(
                        "GPU encoder failed",
                        format!(
                            "{} failed ({cause}); the job continues in software",
                            from.as_str()
                        ),
                    ),
                    Notice::Gaming { game: Some(g) } => notify::send(
                        "Transcodes paused for your game",
                        format!("{g} is running; they resume when it exits"),
                    ),
                    Notice::Gaming { game: None } => {
                        notify::send("Transcodes resumed", "the game exited".to_string())
                    }
                    // The status line and the dashboard say it; no pop-up at each boundary.
                    Notice::Schedule { .. } => {}
                    Notice::Degraded { speed, action, .. } => notify::send(
                        "A stream runs slower than real time",
                        format!("{speed:.2}× real time; {action}"),
                    ),
                    Notice::Live {
                        name,
                        event: LiveEvent::Started,
                        detail,
                        ..
                    } => notify::send(
                        "Live stream started",
                        format!("{name} is live {}", detail.unwrap_or_default()),
                    ),
                    Notice::Live {
                        name,
                        event: LiveEvent::Failed,
                        detail,
                        ..
                    } => notify::send(
                        "Live stream failed",
                        format!("{name}: {}", detail.unwrap_or_default()),
                    ),
                    // Stalls, returns and ends show in the Live panel.
                    Notice::Live { .. } => {}
                }
            }
        });
        // Server status is pushed: the window and the tray hear of each change, no poll.
        let mut status = state.status_changes();
        let me = self.clone();
        let c = tokio::spawn(async move {
            while status.changed().await.is_ok() {
                me.changed().await;
            }
        });
        vec![a, b, c]
    }

    pub async fn set_paused(&self, paused: bool) -> R<ServerStatus> {
        let app = self.app().await?;
        match paused {
            true => app.pause_server().await,
            false => app.resume_server().await,
        }
        .map_err(api)
    }

    /// The running server's settings, or the file's while it is stopped.
    pub async fn settings(&self) -> R<Settings> {
        match self.app().await {
            Ok(app) => Ok(app.get_settings()),
            Err(_) => Ok(settings::from_config(&load_config(&self.config_path)?)),
        }
    }

    /// Saves to the configuration file and applies what can change while running.
    pub async fn save_settings(&self, new: Settings) -> R<SettingsSaved> {
        let saved = match self.app().await {
            Ok(app) => app.save_settings(new.clone()).await.map_err(api)?,
            Err(_) => {
                let old = self.settings().await?;
                let (applied_now, needs_server_restart) =
                    settings::save_changes(&self.config_path, &old, &new)
                        .map_err(|e| fail(ErrorCode::SettingsInvalid, e.to_string()))?;
                SettingsSaved {
                    settings: new.clone(),
                    config_path: self.config_path.display().to_string(),
                    applied_now,
                    needs_server_restart,
                }
            }
        };
        if let Some(app) = self.app.get() {
            crate::set_autostart(app, new.start_at_login);
        }
        self.changed().await;
        Ok(saved)
    }

    pub fn logs_dir(&self) -> PathBuf {
        load_config(&self.config_path)
            .map(|c| c.state_dir())
            .unwrap_or_else(|_| Config::default().state_dir())
            .join("logs")
    }
}

fn short_name(source: &str) -> String {
    source
        .rsplit(['/', '\\'])
        .next()
        .and_then(|f| f.split('?').next())
        .unwrap_or(source)
        .to_string()
}
