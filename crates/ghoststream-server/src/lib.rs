//! The HTTP face of GhostStream: REST routes, HLS and download serving, WebSocket
//! progress, and the headless `ghoststream` binary. `router(state)` is the in-process seam;
//! [`serve`] runs it on a bound listener until a shutdown future resolves.
#![forbid(unsafe_code)]

mod auth;
mod clients;
pub mod discovery;
mod error;
mod files;
pub mod links;
mod listen;
pub mod net;
mod openapi;
mod routes;
mod running;
pub mod settings;
mod ws;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use axum::Router;
use ghoststream_engine::Engine;
use std::future::Future;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

pub use clients::Clients;
pub use error::{ApiError, ApiResult};
pub use running::{Running, StartError};

/// Answers shared by the HTTP routes and the desktop shell's IPC commands.
pub mod views {
    pub use crate::routes::dashboard::server_status;
    pub use crate::routes::ops::capabilities_of;
}

// Dev-dependencies of the end-to-end suite.
#[cfg(test)]
use {tempfile as _, tokio_tungstenite as _};
// Used by the binary only.
use {anyhow as _, clap as _, ghoststream_media as _, tracing_subscriber as _};

/// Shared state of the HTTP layer. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub clients: Clients,
    pub ws: Arc<WsSettings>,
    /// The configuration file the Settings view writes.
    pub config_path: Arc<std::sync::RwLock<std::path::PathBuf>>,
    /// The port actually bound (the configured one may be 0).
    pub bound_port: Arc<std::sync::atomic::AtomicU16>,
    cpu: Arc<std::sync::Mutex<Option<sysinfo::System>>>,
    discovery: Arc<std::sync::OnceLock<Arc<discovery::Discovery>>>,
}

/// WebSocket limits and cadence.
pub struct WsSettings {
    pub max_connections: usize,
    pub ping_interval: Duration,
    pub missed_pongs: u32,
    pub queue_len: usize,
    pub open: AtomicUsize,
}

impl AppState {
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
        AppState {
            engine,
            clients: Clients::default(),
            ws: Arc::new(ws),
            config_path: Arc::new(std::sync::RwLock::new(settings::default_config_path())),
            bound_port: Arc::new(std::sync::atomic::AtomicU16::new(port)),
            cpu: Arc::new(std::sync::Mutex::new(sysinfo::System::new().ok())),
            discovery: Arc::new(std::sync::OnceLock::new()),
        }
    }

    /// Discovery and pairing, once the server is listening.
    pub fn discovery(&self) -> Option<Arc<discovery::Discovery>> {
        self.discovery.get().cloned()
    }

    pub fn port(&self) -> u16 {
        self.bound_port.load(std::sync::atomic::Ordering::Relaxed)
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

    /// The Settings view's values: the live ones, the running port, and the file's
    /// start-at-login flag.
    pub fn settings(&self) -> ghoststream_types::Settings {
        let mut c = self.engine.config().clone();
        let live = self.engine.live();
        c.transcoding.max_concurrent_jobs = live.max_concurrent_jobs;
        c.security.job_tokens = live.job_tokens;
        c.security.api_key = live.api_key;
        c.hardware.prefer_hw_accel = live.prefer_hw_accel;
        c.transcoding.library_roots = live.library_roots;
        c.security.allowed_targets = live.allowed_targets;
        let path = self.config_path();
        let mut s = settings::from_config(&c, settings::start_at_login(&path));
        s.port = if c.server.port == 0 {
            self.port()
        } else {
            c.server.port
        };
        s
    }

    /// Saves settings to the configuration file and applies what can change while
    /// running; a new port waits for the next server start.
    pub async fn apply_settings(
        &self,
        new: ghoststream_types::Settings,
    ) -> Result<ghoststream_types::SettingsSaved, settings::SettingsError> {
        let old = self.settings();
        let path = self.config_path();
        settings::save(&path, &new)?;
        let live = ghoststream_engine::Live {
            max_concurrent_jobs: new.max_concurrent_jobs,
            job_tokens: match new.job_tokens {
                ghoststream_types::TokensSetting::Enforce => ghoststream_engine::TokenMode::Enforce,
                ghoststream_types::TokensSetting::Open => ghoststream_engine::TokenMode::Open,
            },
            api_key: new.api_key.clone().filter(|k| !k.is_empty()),
            prefer_hw_accel: new.hw_preference == ghoststream_types::HwPreference::Auto,
            library_roots: new
                .library_roots
                .iter()
                .map(std::path::PathBuf::from)
                .collect(),
            allowed_targets: new.allowed_targets.clone(),
        };
        let _ = self.engine.apply_live(live).await;
        let mut applied = Vec::new();
        let mut restart = Vec::new();
        let changed = |a: bool, name: &str, list: &mut Vec<String>| {
            if a {
                list.push(name.to_string());
            }
        };
        changed(
            old.max_concurrent_jobs != new.max_concurrent_jobs,
            "max_concurrent_jobs",
            &mut applied,
        );
        changed(
            old.hw_preference != new.hw_preference,
            "hw_preference",
            &mut applied,
        );
        changed(old.job_tokens != new.job_tokens, "job_tokens", &mut applied);
        changed(old.api_key != new.api_key, "api_key", &mut applied);
        changed(
            old.library_roots != new.library_roots,
            "library_roots",
            &mut applied,
        );
        changed(
            old.allowed_targets != new.allowed_targets,
            "allowed_targets",
            &mut applied,
        );
        changed(
            old.start_at_login != new.start_at_login,
            "start_at_login",
            &mut applied,
        );
        changed(old.port != new.port, "port", &mut restart);
        Ok(ghoststream_types::SettingsSaved {
            settings: new,
            config_path: path.display().to_string(),
            applied_now: applied,
            needs_server_restart: restart,
        })
    }

    /// CPU, memory, the work dir's disk and every NVIDIA GPU.
    pub async fn resources(&self) -> ghoststream_types::Resources {
        let cpu = self.cpu.clone();
        let work = self.engine.config().work_dir();
        tokio::task::spawn_blocking(move || {
            let (cpu_percent, cpu_count, mem_total, mem_used) = match cpu.lock() {
                Ok(mut guard) if guard.is_some() => {
                    let Some(sys) = guard.as_mut() else {
                        unreachable!()
                    };
                    if sys.cpus().is_empty() {
                        sys.refresh_cpu_usage();
                        std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
                    }
                    sys.refresh_cpu_usage();
                    sys.refresh_memory();
                    (
                        sys.global_cpu_usage() as f64,
                        sys.cpus().len() as u32,
                        sys.total_memory() / (1024 * 1024),
                        sys.used_memory() / (1024 * 1024),
                    )
                }
                _ => (0.0, 0, 0, 0),
            };
            let la = sysinfo::System::load_average()
                .map(|l| vec![l.one, l.five, l.fifteen])
                .unwrap_or_default();
            let (disk_total, disk_free) = disk_of(&work);
            ghoststream_types::Resources {
                cpu_percent: (cpu_percent * 10.0).round() / 10.0,
                cpu_count,
                load_average: la,
                memory_total_mb: mem_total,
                memory_used_mb: mem_used,
                disk_total_gb: disk_total,
                disk_free_gb: disk_free,
                work_dir: work.display().to_string(),
                gpus: ghoststream_media::hw::nvidia_stats(),
                timestamp: chrono::Utc::now().to_rfc3339(),
            }
        })
        .await
        .unwrap_or_else(|_| ghoststream_types::Resources {
            cpu_percent: 0.0,
            cpu_count: 0,
            load_average: vec![],
            memory_total_mb: 0,
            memory_used_mb: 0,
            disk_total_gb: 0.0,
            disk_free_gb: 0.0,
            work_dir: String::new(),
            gpus: vec![],
            timestamp: chrono::Utc::now().to_rfc3339(),
        })
    }
}

/// Total and free gigabytes of the disk holding `path`.
fn disk_of(path: &std::path::Path) -> (f64, f64) {
    let gb = |b: u64| ((b as f64 / (1u64 << 30) as f64) * 10.0).round() / 10.0;
    disk_bytes(path)
        .map(|(total, free)| (gb(total), gb(free)))
        .unwrap_or((0.0, 0.0))
}

/// Total and available bytes of the filesystem holding `path`.
#[cfg(unix)]
pub(crate) fn disk_bytes(path: &std::path::Path) -> Option<(u64, u64)> {
    let v = nix::sys::statvfs::statvfs(path).ok()?;
    // fsblkcnt_t and friends are not u64 on every platform.
    #[allow(clippy::unnecessary_cast)]
    let total = v.blocks() as u64 * v.fragment_size() as u64;
    #[allow(clippy::unnecessary_cast)]
    let free = v.blocks_available() as u64 * v.fragment_size() as u64;
    Some((total, free))
}

/// Total and available bytes of the disk holding `path` (the longest mount prefix).
#[cfg(not(unix))]
pub(crate) fn disk_bytes(path: &std::path::Path) -> Option<(u64, u64)> {
    let disks = sysinfo::Disks::new_with_refreshed_list().ok()?;
    let canon = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    disks
        .iter()
        .filter(|d| canon.starts_with(d.mount_point()))
        .max_by_key(|d| d.mount_point().as_os_str().len())
        .map(|d| (d.total_space(), d.available_space()))
}

/// Every route of the contract.
pub fn router(state: AppState) -> Router {
    let max_body = state.engine.config().server.max_body_bytes;
    let api = Router::new()
        .route("/api/health", get(routes::ops::health))
        .route("/api/openapi.json", get(openapi::openapi_json))
        .route("/health", get(routes::ops::health))
        .route("/api/health/detailed", get(routes::ops::health_detailed))
        .route("/api/ready", get(routes::ops::ready))
        .route("/api/live", get(routes::ops::live))
        .route("/api/capabilities", get(routes::ops::capabilities))
        .route("/capabilities", get(routes::ops::capabilities))
        .route("/api/stats", get(routes::ops::stats))
        .route("/api/clients", get(routes::ops::clients))
        .route("/api/streams/shared", get(routes::ops::shared))
        .route("/api/cleanup/stats", get(routes::ops::cleanup_stats))
        .route("/api/cleanup/run", post(routes::ops::cleanup_run))
        .route("/api/probe", post(routes::ops::probe))
        .route("/api/transcode/start", post(routes::jobs::start))
        .route("/transcode", post(routes::jobs::start))
        .route("/api/transcode/jobs", get(routes::jobs::list))
        .route("/api/transcode/{id}/status", get(routes::jobs::status))
        .route(
            "/transcode/{id}",
            get(routes::jobs::status).delete(routes::jobs::cancel),
        )
        .route("/api/transcode/{id}/cancel", post(routes::jobs::cancel))
        .route("/api/transcode/{id}", delete(routes::jobs::delete))
        .route("/api/transcode/{id}/stream", get(routes::jobs::stream_info))
        .route("/api/transcode/{id}/leave", post(routes::jobs::leave))
        .route("/api/transcode/{id}/log", get(routes::jobs::log))
        .route("/stream/{id}", get(routes::stream::bad_path))
        .route("/stream/{id}/{*file}", get(routes::stream::stream_file))
        .route("/download/{id}", get(routes::stream::download))
        .route("/ws/progress", get(ws::progress))
        .route("/api/server", get(routes::dashboard::status))
        .route("/api/server/pause", post(routes::dashboard::pause))
        .route("/api/server/resume", post(routes::dashboard::resume))
        .route("/api/resources", get(routes::dashboard::resources))
        .route("/api/stats/daily", get(routes::dashboard::daily))
        .route(
            "/api/settings",
            get(routes::dashboard::get_settings).put(routes::dashboard::put_settings),
        )
        .route("/api/rendezvous", get(routes::pairing::rendezvous))
        .route("/api/rendezvous/rotate", post(routes::pairing::rotate))
        .route("/api/announce-now", post(routes::pairing::announce_now))
        .route("/api/reachability", get(routes::pairing::reachability))
        .route("/api/pair/ghosthub", post(routes::pairing::pair_ghosthub))
        .route("/api/pair/info", get(routes::pairing::pair_info))
        .route("/pair", get(routes::pairing::pair_page));
    // The dashboard, for browsers: served from `server.ui_dir` when set.
    let api = match state.engine.config().server.ui_dir.clone() {
        Some(dir) => {
            api.fallback_service(tower_http::services::ServeDir::new(dir).not_found_service(
                axum::handler::HandlerWithoutStateExt::into_service(routes::ops::not_found),
            ))
        }
        None => api.fallback(routes::ops::not_found),
    };
    api.method_not_allowed_fallback(routes::ops::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::body_limits,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::api_key,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            clients::track,
        ))
        .layer(axum::middleware::from_fn(auth::json_errors))
        .layer(axum::middleware::from_fn(auth::cors))
        .with_state(state)
}

/// Serves `router(state)` on `listener` until `shutdown` resolves; then stops the engine
/// (every ffmpeg child with it), bounded by the configured shutdown timeout.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let engine = state.engine.clone();
    let server_cfg = &engine.config().server;
    let grace = Duration::from_secs(server_cfg.shutdown_timeout.max(1));
    let limits = listen::Limits {
        header_read_timeout: Duration::from_millis(server_cfg.header_read_timeout_ms.max(100)),
        max_header_bytes: server_cfg.max_header_bytes,
        max_connections: server_cfg.max_connections,
    };
    let app = router(state);
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let engine2 = engine.clone();
    // Stop jobs as soon as shutdown starts, so open streams end and connections close.
    let stopper = tokio::spawn(async move {
        let _ = stop_rx.wait_for(|s| *s).await;
        engine2.shutdown(grace).await;
    });
    listen::serve(
        listener,
        app,
        limits,
        async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        },
        grace + Duration::from_secs(2),
    )
    .await;
    let _ = tokio::time::timeout(grace + Duration::from_secs(1), stopper).await;
    engine.shutdown(grace).await;
    Ok(())
}
