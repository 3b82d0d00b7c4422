//! What the dashboard and the tray show: server state, live resources, settings, history.

use crate::settings::{Codec, Input};
use crate::HwKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ServerState {
    Running,
    Paused,
    Stopped,
    Error,
}

/// `GET /api/server` and the shell's `server_status` command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerStatus {
    pub state: ServerState,
    pub version: String,
    /// Bound port, when running.
    pub port: Option<u16>,
    /// Every URL this server answers on from the LAN (and loopback last).
    pub lan_urls: Vec<String>,
    pub uptime_seconds: f64,
    pub active_jobs: u32,
    pub queued_jobs: u32,
    pub connected_clients: u32,
    /// Running jobs frozen now (paused by request, by the tray, or for a game).
    #[serde(default)]
    pub paused_jobs: u32,
    /// Why jobs are paused for a game ("Paused: eldenring is running"), while one runs.
    #[serde(default)]
    pub paused_reason: Option<String>,
    pub hw_accels: Vec<HwKind>,
    /// Why the server is in `error` (e.g. the port is taken).
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GpuStats {
    pub index: u32,
    pub name: String,
    pub utilization_percent: Option<u32>,
    pub encoder_percent: Option<u32>,
    pub decoder_percent: Option<u32>,
    pub memory_used_mb: Option<u64>,
    pub memory_total_mb: Option<u64>,
    pub temperature_c: Option<u32>,
    pub power_w: Option<f64>,
    /// **ext**: the jobs whose ffmpeg uses this GPU now, with their share.
    #[serde(default)]
    pub jobs: Vec<JobGpu>,
}

/// **ext**: a job's share of an NVIDIA GPU, from NVML's per-process figures for the job's
/// ffmpeg (utilisation averaged over the last sampling period).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobGpu {
    pub job_id: String,
    /// The GPU's index (as in `/api/resources` `gpus`).
    pub gpu: u32,
    pub encoder_percent: u32,
    pub decoder_percent: u32,
    /// 3D/compute (scaling, tone mapping on CUDA).
    pub sm_percent: u32,
    /// GPU memory the job's processes hold, where the driver says.
    pub memory_mb: Option<u64>,
}

/// `GET /api/resources`: CPU, memory, the work dir's disk, and every NVIDIA GPU (NVML).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Resources {
    pub cpu_percent: f64,
    pub cpu_count: u32,
    pub load_average: Vec<f64>,
    pub memory_total_mb: u64,
    pub memory_used_mb: u64,
    pub disk_total_gb: f64,
    pub disk_free_gb: f64,
    pub work_dir: String,
    pub gpus: Vec<GpuStats>,
    pub timestamp: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum HwPreference {
    /// Best proven GPU encoder, software otherwise.
    Auto,
    /// Always software.
    Software,
}

/// How hard every ffmpeg we start competes with the owner's own programs (a game).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// As any program.
    Normal,
    /// Below normal: nice 10 and the lowest best-effort disk priority on Linux,
    /// BELOW_NORMAL_PRIORITY_CLASS on Windows.
    #[default]
    Low,
    /// Only what nothing else wants: nice 19 and the idle disk class on Linux,
    /// IDLE_PRIORITY_CLASS on Windows.
    Idle,
}

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

/// When jobs may run: on these days from `start` to `end` (local time, `HH:MM`; an
/// `end` before `start` runs past midnight), at most `max_jobs` at once (0: closed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScheduleWindow {
    pub days: Vec<Weekday>,
    pub start: String,
    pub end: String,
    pub max_jobs: u32,
}

/// What running jobs do when the schedule closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum OutsideWindow {
    /// They run to their end; only new jobs wait.
    #[default]
    Finish,
    /// They freeze where they are until a window opens.
    Freeze,
    /// Batch jobs stop and go back to the queue (they start over when a window
    /// opens); streams, which someone watches, finish.
    Stop,
}

/// What a running game does to our jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WhenPlaying {
    /// Batch jobs freeze; streams go on at idle priority (someone is watching them), and
    /// the encoding health checker steps them down if that leaves them below real time.
    #[default]
    FreezeBatch,
    /// Every running job freezes.
    FreezeAll,
    /// Nothing changes.
    Nothing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TokensSetting {
    Enforce,
    Open,
}

settings! {
    port: u16 = "server.port", Restart, "Port (0: any free port)", Input::Number { min: 0, max: 65535 };
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 64))]
    max_concurrent_jobs: u32 = "transcoding.max_concurrent_jobs", Now, "Max concurrent jobs",
        Input::Number { min: 1, max: 64 };
    max_queue_size: u32 = "transcoding.max_queue_size", Restart, "Jobs that may wait in the queue", Input::Number { min: 1, max: 1000 };
    hw_preference: HwPreference = "hardware.prefer_hw_accel" as Codec::Flag { on: "auto", off: "software" },
        Now, "Hardware", Input::Choice(&[
            ("auto", "Best proven GPU, else software"),
            ("software", "Software only"),
        ]);
    job_tokens: TokensSetting = "security.job_tokens", Now, "Job tokens", Input::Choice(&[
        ("enforce", "Enforce (recommended)"),
        ("open", "Open (legacy clients)"),
    ]);
    /// Empty or null: no API key.
    api_key: Option<String> = "security.api_key", Now, "API key", Input::Secret;
    library_roots: Vec<String> = "transcoding.library_roots", Now, "Library folders (one per line)",
        Input::Lines;
    /// Loopback or link-local addresses sources may reach all the same (`127.0.0.1`,
    /// `::1`, `169.254.0.0/16`): a media server on this same PC.
    #[serde(default)]
    allowed_targets: Vec<String> = "security.allowed_targets", Now,
        "Local addresses sources may use (one per line, e.g. 127.0.0.1 for a media server on this PC)",
        Input::Lines;
    start_at_login: bool = "desktop.start_at_login", Now, "Start at login", Input::Toggle;
    /// Applied to each ffmpeg when it starts.
    priority: Priority = "gaming.priority", Now, "Priority of transcodes", Input::Choice(&[
        ("low", "Low: games and the desktop come first (recommended)"),
        ("idle", "Idle: only when nothing else wants the CPU"),
        ("normal", "Normal"),
    ]);
    /// Process names that mean "a game is running" (case-insensitive; `.exe` optional).
    games: Vec<String> = "gaming.games", Now, "Games (process names, one per line)", Input::Lines;
    when_playing: WhenPlaying = "gaming.when_playing", Now, "While a game runs", Input::Choice(&[
        ("freeze_batch", "Pause batch jobs; streams go on at idle priority, stepping down if they fall behind"),
        ("freeze_all", "Pause every job"),
        ("nothing", "Change nothing"),
    ]);
    resume_delay_seconds: u32 = "gaming.resume_delay_seconds", Now,
        "Seconds after the game exits before jobs resume", Input::Number { min: 0, max: 3600 };
    /// Empty: jobs may run at any time.
    schedule: Vec<ScheduleWindow> = "gaming.schedule", Now, "When jobs may run", Input::Schedule;
    outside_window: OutsideWindow = "gaming.outside_window", Now, "When the schedule closes", Input::Choice(&[
        ("finish", "Running jobs finish; new ones wait"),
        ("freeze", "Running jobs pause until it opens"),
        ("stop", "Batch jobs stop and wait in the queue"),
    ]);
    /// 0: streams are never throttled.
    throttle_ahead_seconds: u32 = "throttle.ahead_seconds", Now,
        "Pause a stream this many seconds ahead of its viewers (0: never)", Input::Number { min: 0, max: 3600 };
}

/// The answer of a settings save: what was applied now and what waits for a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SettingsSaved {
    pub settings: Settings,
    pub config_path: String,
    pub applied_now: Vec<String>,
    pub needs_server_restart: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayStats {
    /// `YYYY-MM-DD`, UTC; by the hour (`/api/stats/hourly`) `YYYY-MM-DDTHH`, UTC.
    pub day: String,
    pub completed: u32,
    pub failed: u32,
    pub cancelled: u32,
    pub average_speed: f64,
    pub hw_usage: BTreeMap<String, u32>,
    /// **ext**: completed jobs that encoded the picture, and their average speed.
    pub transcoded: u32,
    pub transcode_speed: f64,
    /// **ext**: completed jobs that copied it (direct or remux), and their average speed.
    pub copied: u32,
    pub copy_speed: f64,
}

/// `GET /api/stats/daily`: finished jobs per day, from the job history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DailyStats {
    pub days: Vec<DayStats>,
}

/// The outcome of one push registration (or rendezvous announce).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Registration {
    /// ISO 8601 UTC.
    pub at: String,
    pub ok: bool,
    /// "HTTP 200", or why it failed.
    pub detail: String,
    pub target: String,
}

/// `GET /api/rendezvous`: `{url, label, code, lan_urls}` as the pairing flow expects, and
/// (**ext**) what the dashboard's pairing panel shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PairingInfo {
    /// The configured rendezvous URL, if any.
    pub url: Option<String>,
    /// This server's name on the LAN (the mDNS instance).
    pub label: String,
    /// Six characters, shown with the QR code.
    pub code: String,
    pub lan_urls: Vec<String>,
    /// What the QR code encodes: the `/pair` page with the code.
    pub pair_url: String,
    pub mdns_enabled: bool,
    pub udp_port: Option<u16>,
    pub ghosthub_url: Option<String>,
    pub last_registration: Option<Registration>,
    pub last_rendezvous: Option<Registration>,
}

/// `POST /api/announce-now`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnnounceResult {
    pub ok: bool,
    pub mdns: bool,
    pub registration: Option<Registration>,
    pub rendezvous: Option<Registration>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReachabilityCheck {
    pub url: String,
    pub ok: bool,
    pub detail: String,
}

/// `GET /api/reachability`: each advertised URL fetched from this machine, and hints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reachability {
    pub checks: Vec<ReachabilityCheck>,
    pub hints: Vec<String>,
}

/// `POST /api/pair/ghosthub`: the GhostHub to register with (empty or null: none), and
/// from the `/pair` page the pairing code.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct GhostHubRequest {
    pub ghosthub_url: Option<String>,
    pub code: Option<String>,
}

/// The answer of `POST /api/pair/ghosthub`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GhostHubSaved {
    /// False when the registration failed (the URL is saved all the same).
    pub ok: bool,
    pub ghosthub_url: Option<String>,
    /// The registration attempt, shown to the owner only.
    pub registration: Option<Registration>,
}

/// `GET /api/version`: what is running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionInfo {
    pub version: String,
    /// The git commit built, or "unknown".
    pub commit: String,
    /// When it was built (ISO 8601 UTC).
    pub build_date: String,
    pub ffmpeg_version: String,
    pub platform: String,
}

/// How serious an application log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Info,
    Warn,
    Error,
}

/// One line of the application log: the server starting and where it listens, jobs
/// asked for and ended, requests refused (with the reason and who sent them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogLine {
    /// Increases by one per line, from 1.
    pub seq: u64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub level: LogLevel,
    pub text: String,
}

/// `GET /api/logs` (**ext**): the lines after `after`, oldest first, and the `seq` to ask
/// after next. Only the last lines are kept (`kept` of them at most).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogPage {
    pub lines: Vec<LogLine>,
    pub next: u64,
    pub kept: u32,
}
