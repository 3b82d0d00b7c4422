//! The application API. [`App`] is GhostStream as its two transports see it: every
//! operation the dashboard, the tray and the HTTP routes offer is one method here. An HTTP
//! handler is its extractors, the caller check, and one call; a Tauri command is one call.
//! `operations::OPS` names each operation the dashboard uses with the HTTP route that
//! offers it; the UI's API is generated from it and the IPC commands (see `ui/src/api.ts`).
//!
//! Server status is pushed: [`App::status_changes`] ticks when jobs start or end, when
//! the server is paused or resumed, and when settings are saved, and both transports
//! forward the new [`ServerStatus`] (the tray's `ServerChanged` event, the WebSocket's
//! `server_status` message) instead of being polled.

use crate::discovery::Discovery;
use crate::error::{field, query_in_range, ApiError, ApiResult};
use crate::settings::{self, SettingsError};
use crate::Clients;
use ghoststream_engine::{Config, Engine, EngineError, Live};
use ghoststream_types::{
    AnnounceResult, CancelResponse, DailyStats, GhostHubSaved, JobEvent, JobList, JobResponse,
    Notice, PairingInfo, Reachability, ServerState, ServerStatus, Settings, SettingsSaved, Stats,
    VersionInfo,
};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

/// The application: the engine, the HTTP layer's shared state, and every operation both
/// transports offer. Cheap to clone.
#[derive(Clone)]
pub struct App {
    pub engine: Engine,
    pub clients: Clients,
    /// The application log (the dashboard's Troubleshooting page).
    pub journal: crate::journal::Journal,
    pub ws: Arc<WsSettings>,
    /// The configuration file the Settings view writes.
    pub(crate) config_path: Arc<RwLock<std::path::PathBuf>>,
    /// The settings as last saved (the engine's configuration is the one it started with).
    saved: Arc<RwLock<Config>>,
    /// The port actually bound (the configured one may be 0).
    pub bound_port: Arc<AtomicU16>,
    pub(crate) cpu: Arc<Mutex<Option<sysinfo::System>>>,
    pub(crate) discovery: Arc<OnceLock<Arc<Discovery>>>,
    status: Arc<watch::Sender<u64>>,
}

/// WebSocket limits and cadence.
pub struct WsSettings {
    pub max_connections: usize,
    pub ping_interval: Duration,
    pub missed_pongs: u32,
    pub queue_len: usize,
    pub open: AtomicUsize,
}

impl App {
    pub fn new(engine: Engine) -> Self {
        let server = &engine.config().server;
        let ws = WsSettings {
            max_connections: server.ws_max_connections,
            ping_interval: Duration::from_millis(server.ws_ping_interval_ms.max(10)),
            missed_pongs: 3,
            queue_len: 256,
            open: AtomicUsize::new(0),
        };
        let port = engine.config().server.port;
        let saved = engine.config().clone();
        App {
            engine,
            clients: Clients::default(),
            journal: crate::journal::Journal::default(),
            ws: Arc::new(ws),
            config_path: Arc::new(RwLock::new(settings::default_config_path())),
            saved: Arc::new(RwLock::new(saved)),
            bound_port: Arc::new(AtomicU16::new(port)),
            cpu: Arc::new(Mutex::new(sysinfo::System::new().ok())),
            discovery: Arc::new(OnceLock::new()),
            status: Arc::new(watch::channel(0).0),
        }
    }

    /// Ticks status changes for every job that starts or ends. The task holds only the
    /// event receiver and the sender, never the engine, so it ends with it.
    pub(crate) fn push_status_changes(&self) {
        let mut events = self.engine.subscribe();
        let mut notices = self.engine.subscribe_notices();
        let tx = self.status.clone();
        let journal = self.journal.clone();
        tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                let tick = tokio::select! {
                    e = events.recv() => match e {
                        Ok(JobEvent::StatusChange { job_id, data }) => {
                            log_status(&journal, &job_id, &data);
                            true
                        }
                        Err(RecvError::Lagged(_)) => true,
                        Ok(_) => false,
                        Err(RecvError::Closed) => break,
                    },
                    n = notices.recv() => match n {
                        Ok(n) => {
                            log_notice(&journal, &n);
                            matches!(n, Notice::Gaming { .. } | Notice::Schedule { .. })
                        }
                        Err(RecvError::Lagged(_)) => true,
                        Err(RecvError::Closed) => break,
                    },
                };
                if tick {
                    tx.send_modify(|n| *n += 1);
                }
            }
        });
    }

    /// Changes when the server's status may have changed: read [`App::server_status`] then.
    pub fn status_changes(&self) -> watch::Receiver<u64> {
        self.status.subscribe()
    }

    fn status_changed(&self) {
        self.status.send_modify(|n| *n += 1);
    }

    /// Discovery and pairing, once the server is listening.
    pub fn discovery(&self) -> Option<Arc<Discovery>> {
        self.discovery.get().cloned()
    }

    fn discovered(&self) -> ApiResult<Arc<Discovery>> {
        self.discovery()
            .ok_or(ApiError::Engine(EngineError::Stopped))
    }

    pub fn port(&self) -> u16 {
        self.bound_port.load(Ordering::Relaxed)
    }

    /// `http://127.0.0.1:<port>`: the base of URLs handed to the app on this machine.
    pub fn local_base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }

    pub fn set_config_path(&self, p: std::path::PathBuf) {
        if let Ok(mut g) = self.config_path.write() {
            *g = p;
        }
    }

    pub fn config_path(&self) -> std::path::PathBuf {
        self.config_path
            .read()
            .map(|p| p.clone())
            .unwrap_or_else(|_| settings::default_config_path())
    }

    /// State of the server answering this request.
    pub async fn server_status(&self) -> ApiResult<ServerStatus> {
        let stats = self.engine.stats().await?;
        let port = self.port();
        Ok(ServerStatus {
            state: if self.engine.is_paused() {
                ServerState::Paused
            } else {
                ServerState::Running
            },
            version: env!("CARGO_PKG_VERSION").into(),
            port: Some(port),
            lan_urls: crate::net::urls(&self.engine.config().server.host, port),
            uptime_seconds: self.engine.uptime().as_secs_f64(),
            active_jobs: stats.active_jobs,
            queued_jobs: stats.current_queue_length,
            connected_clients: self.clients.list().len() as u32,
            paused_jobs: self.engine.frozen_jobs(),
            paused_reason: self.engine.game().or_else(|| self.engine.schedule_note()),
            hw_accels: self.engine.hardware().available(),
            error: None,
        })
    }

    /// Refuse new jobs; running ones continue.
    pub async fn pause_server(&self) -> ApiResult<ServerStatus> {
        self.engine.set_paused(true);
        self.status_changed();
        self.server_status().await
    }

    /// Accept new jobs again.
    pub async fn resume_server(&self) -> ApiResult<ServerStatus> {
        self.engine.set_paused(false);
        self.status_changed();
        self.server_status().await
    }

    /// Jobs newest first, one page: no token, URL or credential in them.
    pub async fn list_jobs(&self, offset: Option<u32>, limit: Option<u32>) -> ApiResult<JobList> {
        let limit = query_in_range("limit", limit, 200, (1, 1000))?;
        let offset = query_in_range("offset", offset, 0, (0, 1_000_000))?;
        let (page, total) = self.engine.jobs_page(offset, limit).await?;
        Ok(JobList {
            jobs: page.iter().map(|j| j.to_summary()).collect(),
            total: total as u32,
            offset,
            limit,
        })
    }

    /// A job's full record, its URLs built on `base`. The caller has checked who asks.
    pub async fn job(&self, id: Uuid, base: &str) -> ApiResult<JobResponse> {
        Ok(crate::links::answer(&self.engine.job(id).await?, base))
    }

    /// Cancels a job, or leaves it when `session` is one of several watching it.
    pub async fn cancel_job(&self, id: Uuid, session: Option<String>) -> ApiResult<CancelResponse> {
        self.engine.cancel(id, session).await?;
        Ok(CancelResponse {
            job_id: id.to_string(),
            status: "cancelled".into(),
        })
    }

    /// Cancels a job and removes it and its files.
    pub async fn delete_job(&self, id: Uuid) -> ApiResult<CancelResponse> {
        self.engine.delete(id).await?;
        Ok(CancelResponse {
            job_id: id.to_string(),
            status: "deleted".into(),
        })
    }

    /// Freezes a running job where it is (same id, URLs and segments) until resumed.
    /// Starts (or joins) a job; `client` names who asked (`X-GhostStream-Client`).
    pub async fn start_job(
        &self,
        req: ghoststream_types::StartRequest,
        client: Option<ghoststream_types::JobClient>,
        base: &str,
    ) -> ApiResult<JobResponse> {
        let who = client
            .as_ref()
            .map(|c| match &c.address {
                Some(a) => format!("{} at {a}", c.name),
                None => c.name.clone(),
            })
            .unwrap_or_else(|| "unknown".into());
        let snap = self.engine.submit(req, client).await?;
        let r = crate::links::answer(&snap, base);
        let what = match &r.delivery {
            Some(d) => format!(
                "{}: {}",
                match d.kind {
                    ghoststream_types::DeliveryKind::Direct => "direct",
                    ghoststream_types::DeliveryKind::Remux => "remux",
                    ghoststream_types::DeliveryKind::Transcode => "transcode",
                },
                d.reason
            ),
            None => r.status.as_str().to_string(),
        };
        self.journal.info(format!(
            "job {} ({}) for {who}: {} — {what}",
            short(&r.job_id),
            r.mode.as_str(),
            ghoststream_engine::redact::redact_url(&r.source),
        ));
        Ok(r)
    }

    /// Starts a new job with an ended job's request, for the same client.
    pub async fn retry_job(&self, id: Uuid, base: &str) -> ApiResult<JobResponse> {
        let rec = self.engine.job(id).await?.record;
        if !rec.status.is_terminal() || rec.live_key.is_some() {
            return Err(ApiError::BadRequest {
                code: ghoststream_types::ErrorCode::JobNotRetryable,
                detail: if rec.live_key.is_some() {
                    "a live stream's recording cannot be retried; publish the stream again".into()
                } else {
                    "the job has not ended yet".into()
                },
            });
        }
        self.start_job(rec.request, rec.client, base).await
    }

    /// The application log after line `after`.
    pub fn app_log(
        &self,
        after: Option<u64>,
        limit: Option<u32>,
    ) -> ApiResult<ghoststream_types::LogPage> {
        self.journal.read(after, limit)
    }

    pub async fn pause_job(&self, id: Uuid, base: &str) -> ApiResult<JobResponse> {
        let snap = self.engine.freeze(id, "paused by request".into()).await?;
        self.status_changed();
        Ok(crate::links::answer(&snap, base))
    }

    /// Freezes every running job (the tray's "Pause running jobs").
    pub async fn pause_all_jobs(&self) -> ApiResult<u32> {
        let n = self
            .engine
            .freeze_running(false, "paused from the tray".into())
            .await?
            .len();
        self.status_changed();
        Ok(n as u32)
    }

    /// Thaws every frozen job, whoever froze it.
    pub async fn resume_all_jobs(&self) -> ApiResult<u32> {
        let n = self.engine.thaw_frozen(None).await?.len();
        self.status_changed();
        Ok(n as u32)
    }

    /// Lets a frozen job run again.
    pub async fn resume_job(&self, id: Uuid, base: &str) -> ApiResult<JobResponse> {
        let snap = self.engine.thaw(id).await?;
        self.status_changed();
        Ok(crate::links::answer(&snap, base))
    }

    /// Media info and the plan a start would use.
    pub async fn probe(
        &self,
        req: ghoststream_types::ProbeRequest,
    ) -> ApiResult<ghoststream_types::ProbeResponse> {
        Ok(self.engine.probe(req).await?)
    }

    /// The dry run: the plan and the ffmpeg command lines a start would run.
    pub async fn compile(
        &self,
        req: ghoststream_types::StartRequest,
    ) -> ApiResult<ghoststream_types::CompileResponse> {
        Ok(self.engine.compile(req).await?)
    }

    /// The job's ffmpeg commands and messages.
    pub async fn job_log(&self, id: Uuid) -> ApiResult<String> {
        Ok(self.engine.log(id).await?)
    }

    /// What is running: version, commit, build date, ffmpeg and platform.
    pub fn version(&self) -> VersionInfo {
        VersionInfo {
            version: env!("CARGO_PKG_VERSION").into(),
            commit: env!("GHOSTSTREAM_COMMIT").into(),
            build_date: env!("GHOSTSTREAM_BUILD_DATE").into(),
            ffmpeg_version: self.engine.hardware().ffmpeg_shown().to_string(),
            platform: crate::resources::platform(),
        }
    }

    pub async fn stats(&self) -> ApiResult<Stats> {
        Ok(self.engine.stats().await?)
    }

    /// Finished jobs per day, the last `days` (1–366, default 14).
    pub async fn daily_stats(&self, days: Option<u32>) -> ApiResult<DailyStats> {
        let days = query_in_range("days", days, 14, (1, 366))?;
        Ok(self.engine.daily_stats(days).await?)
    }

    /// Finished jobs per hour, the last `hours` (1–168, default 24).
    pub async fn hourly_stats(&self, hours: Option<u32>) -> ApiResult<DailyStats> {
        let hours = query_in_range("hours", hours, 24, (1, 168))?;
        Ok(self.engine.hourly_stats(hours).await?)
    }

    /// The Settings view's values: as last saved, with the port actually bound when the
    /// configured one is 0.
    pub fn get_settings(&self) -> Settings {
        let saved = self
            .saved
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|_| self.engine.config().clone());
        let mut s = settings::from_config(&saved);
        if s.port == 0 {
            s.port = self.port();
        }
        s
    }

    /// Saves settings to the configuration file and applies what can change while
    /// running; a new port waits for the next server start. A setting the environment
    /// sets is never written to the file, and changing it here is refused.
    pub async fn save_settings(&self, new: Settings) -> ApiResult<SettingsSaved> {
        let invalid = |e: SettingsError| {
            ApiError::Invalid(vec![field(&["body"], e.to_string(), "value_error")])
        };
        let old = self.get_settings();
        let path = self.config_path();
        let (applied_now, needs_server_restart) =
            settings::save_changes(&path, &old, &new).map_err(invalid)?;
        let base = self
            .saved
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|_| self.engine.config().clone());
        let config = settings::apply(&base, &new).map_err(invalid)?;
        self.engine.apply_live(Live::from_config(&config)).await?;
        if let Ok(mut g) = self.saved.write() {
            *g = config;
        }
        self.status_changed();
        Ok(SettingsSaved {
            settings: self.get_settings(),
            config_path: path.display().to_string(),
            applied_now,
            needs_server_restart,
        })
    }

    /// The pairing code, URLs and registration state.
    pub fn pairing_info(&self) -> ApiResult<PairingInfo> {
        Ok(self.discovered()?.info())
    }

    pub fn rotate_pairing_code(&self) -> ApiResult<PairingInfo> {
        Ok(self.discovered()?.rotate_code())
    }

    /// Stores (or clears) the GhostHub URL, as the owner, and registers with it now.
    pub async fn set_ghosthub(&self, url: Option<String>) -> ApiResult<GhostHubSaved> {
        let url = url.filter(|u| !u.trim().is_empty());
        let registration = self
            .discovered()?
            .set_ghosthub(url.clone())
            .await
            .map_err(|e| {
                ApiError::Invalid(vec![field(&["body", "ghosthub_url"], e, "value_error")])
            })?;
        Ok(GhostHubSaved {
            ok: registration.as_ref().is_none_or(|r| r.ok),
            ghosthub_url: url,
            registration,
        })
    }

    pub async fn announce_now(&self) -> ApiResult<AnnounceResult> {
        Ok(self.discovered()?.announce_now().await)
    }

    pub async fn reachability(&self) -> ApiResult<Reachability> {
        Ok(self.discovered()?.reachability().await)
    }
}

/// A job id from a path or an IPC argument; anything that is not a UUID is an unknown job.
pub fn job_id(raw: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(raw).map_err(|_| ApiError::Engine(EngineError::NotFound))
}

/// A job id as log lines show it: its first eight characters.
fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

fn log_status(j: &crate::journal::Journal, id: &str, d: &ghoststream_types::StatusData) {
    use ghoststream_types::{JobStatus, LogLevel};
    let id = short(id);
    match d.status {
        JobStatus::Processing => j.info(format!("job {id} started")),
        JobStatus::Ready => j.info(format!("job {id} finished")),
        JobStatus::Cancelled => j.info(format!(
            "job {id} {}",
            d.error_message.as_deref().unwrap_or("cancelled")
        )),
        JobStatus::Error => j.push(
            LogLevel::Error,
            format!(
                "job {id} failed: {}",
                ghoststream_engine::redact::redact_text(
                    d.error_message.as_deref().unwrap_or("no reason given")
                )
            ),
        ),
        JobStatus::Queued => {}
    }
}

fn log_notice(j: &crate::journal::Journal, n: &Notice) {
    use ghoststream_types::LogLevel;
    match n {
        Notice::HardwareFallback {
            job_id,
            from,
            cause,
        } => j.push(
            LogLevel::Warn,
            format!(
                "job {}: the {} encoder failed ({cause}); continuing in software",
                short(job_id),
                from.as_str()
            ),
        ),
        Notice::Gaming { game: Some(g) } => j.info(format!("{g} is running: jobs paused")),
        Notice::Gaming { game: None } => j.info("the game exited: jobs resumed"),
        Notice::Schedule { limit } => j.info(match limit {
            Some(0) => "schedule: closed, no new jobs".to_string(),
            Some(n) => format!("schedule: at most {n} jobs"),
            None => "schedule: no limit".to_string(),
        }),
        Notice::Degraded {
            job_id,
            speed,
            action,
        } => j.push(
            LogLevel::Warn,
            format!("job {} runs at {speed}× real time: {action}", short(job_id)),
        ),
        Notice::Live {
            name,
            event,
            detail,
            ..
        } => j.info(format!(
            "live '{name}': {event:?}{}",
            detail
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        )),
    }
}
