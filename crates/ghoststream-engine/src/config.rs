//! Configuration: a TOML file (or the seed's `ghoststream.yaml` keys), then environment
//! variables `GHOSTSTREAM__SECTION__KEY`, then CLI flags, in that order of precedence.
//!
//! Longer than 500 lines because the annotated example (`ghoststream config --example`)
//! stands next to the keys it documents, so that one cannot change without the other.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub server: ServerSection,
    pub mdns: MdnsSection,
    pub transcoding: TranscodingSection,
    pub hardware: HardwareSection,
    pub security: SecuritySection,
    pub discovery: DiscoverySection,
    pub desktop: DesktopSection,
    pub gaming: GamingSection,
    pub throttle: ThrottleSection,
    pub health: HealthSection,
    pub uploads: UploadsSection,
    pub logs: LogsSection,
    pub live: LiveSection,
    /// Where the database (history, stats, token secret) lives.
    pub state_directory: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerSection {
    pub host: String,
    pub port: u16,
    /// Base URL put in `stream_url`/`download_url` when the request has no Host header.
    pub advertised_url: Option<String>,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Seconds a graceful shutdown may take before children are killed.
    pub shutdown_timeout: u64,
    /// WebSocket keepalive ping period; three missed pongs close the connection.
    pub ws_ping_interval_ms: u64,
    pub ws_max_connections: usize,
    /// A client must send a request's whole header within this time (slow-loris); an idle
    /// keep-alive connection is closed after it too.
    pub header_read_timeout_ms: u64,
    /// Largest request header block; larger ones get 431.
    pub max_header_bytes: usize,
    /// Open HTTP connections at most; further ones wait in the kernel's backlog.
    pub max_connections: usize,
    /// A request's whole body must arrive within this time (a client trickling bytes
    /// would otherwise hold its connection for ever).
    pub body_read_timeout_ms: u64,
    /// Serve the dashboard (`ui/dist`) at `/` for browsers.
    pub ui_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MdnsSection {
    pub enabled: bool,
    /// Instance names are `<service_name>-<host id>`, unique per install.
    pub service_name: String,
    /// Interfaces to advertise on, by name; empty = every up, non-loopback, non-virtual one.
    pub interfaces: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DiscoverySection {
    /// Answer `GHOSTSTREAM_DISCOVER` datagrams (for networks that block multicast).
    pub udp_enabled: bool,
    pub udp_port: u16,
    /// GhostHub to register with (set by pairing, or by hand).
    pub ghosthub_url: Option<String>,
    /// Seconds between registrations.
    pub register_interval: u64,
    /// Optional rendezvous service: `{code, label, lan_urls}` is POSTed there every minute.
    pub rendezvous_url: Option<String>,
}

impl Default for DiscoverySection {
    fn default() -> Self {
        DiscoverySection {
            udp_enabled: true,
            udp_port: 8766,
            ghosthub_url: None,
            register_interval: 60,
            rendezvous_url: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TranscodingSection {
    pub max_concurrent_jobs: u32,
    pub max_queue_size: u32,
    pub segment_duration: f64,
    /// The first segment of a stream is this long, so the first picture comes sooner.
    pub first_segment_duration: f64,
    /// A stream's first segment is written by a run of its own whose software H.264
    /// encoder has no look-ahead or B-frames (its picture comes sooner); the next run
    /// carries on from segment 1 with the usual settings.
    pub quick_start: bool,
    pub temp_directory: Option<PathBuf>,
    pub enable_abr: bool,
    pub abr_max_variants: u32,
    pub tone_map_hdr: bool,
    pub retry_count: u32,
    /// Seconds without `-progress` output before a run counts as stalled.
    pub stall_timeout: u64,
    pub stream_retention_minutes: u64,
    pub cleanup_after_hours: u64,
    pub cleanup_interval_seconds: u64,
    /// A segment request more than this many segments ahead of the encoder always restarts
    /// it (nearer ones restart when that is sooner than waiting).
    pub restart_ahead_segments: u32,
    pub probe_timeout: u64,
    /// Seconds a segment request waits for the encoder.
    pub segment_wait_timeout: u64,
    pub ffmpeg_path: PathBuf,
    pub ffprobe_path: PathBuf,
    /// Local folders sources may come from (absolute paths). Empty: http(s) only.
    pub library_roots: Vec<PathBuf>,
    /// Subtitle tracks one request may name.
    pub max_subtitles: u32,
    /// Sources whose frames are larger than this (width × height) are refused, and
    /// ffmpeg decodes no larger frame (8K UHD by default).
    pub max_source_pixels: u64,
    /// Finished jobs kept in history; the oldest go first beyond this.
    pub max_history_jobs: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct HardwareSection {
    pub prefer_hw_accel: bool,
    pub fallback_to_software: bool,
    pub nvenc_preset: String,
    pub trial_timeout: u64,
    /// NVENC sessions the GPU allows at once; 0: 8 on GeForce cards, no limit on others.
    /// A job that would open one more encodes in software, and says so.
    pub nvenc_max_sessions: u32,
    /// HDR to SDR: `auto` (a GPU tone mapper a trial proves: libplacebo on a Vulkan GPU,
    /// tonemap_opencl, tonemap_vaapi; else zscale), `zscale`, or one of those by name.
    pub tone_mapping: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenMode {
    Enforce,
    Open,
}

/// Manners on a PC its owner games on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct GamingSection {
    pub priority: ghoststream_types::Priority,
    pub games: Vec<String>,
    pub when_playing: ghoststream_types::WhenPlaying,
    pub resume_delay_seconds: u32,
    /// How often the process list is read for games.
    pub poll_seconds: u64,
    /// When jobs may run; empty: always.
    pub schedule: Vec<ghoststream_types::ScheduleWindow>,
    pub outside_window: ghoststream_types::OutsideWindow,
}

impl Default for GamingSection {
    fn default() -> Self {
        GamingSection {
            priority: ghoststream_types::Priority::Low,
            games: DEFAULT_GAMES.iter().map(|g| g.to_string()).collect(),
            when_playing: ghoststream_types::WhenPlaying::FreezeBatch,
            resume_delay_seconds: 30,
            poll_seconds: 5,
            schedule: Vec::new(),
            outside_window: ghoststream_types::OutsideWindow::Finish,
        }
    }
}

/// Games and launchers' game processes people run on the PCs this is for; editable.
pub const DEFAULT_GAMES: &[&str] = &[
    "cs2",
    "dota2",
    "VALORANT-Win64-Shipping",
    "FortniteClient-Win64-Shipping",
    "r5apex",
    "eldenring",
    "GTA5",
    "RDR2",
    "Cyberpunk2077",
    "bg3",
    "Overwatch",
    "RocketLeague",
    "League of Legends",
    "witcher3",
    "Starfield",
    "helldivers2",
    "Palworld-Win64-Shipping",
];

/// Streams do not run far ahead of their viewers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ThrottleSection {
    /// A stream this many seconds of output past the furthest segment a viewer asked
    /// for is frozen, and thawed when a viewer comes within half of it; 0 = never.
    pub ahead_seconds: u32,
}

impl Default for ThrottleSection {
    fn default() -> Self {
        ThrottleSection { ahead_seconds: 60 }
    }
}

/// Encoding health of stream and ABR jobs: a run slower than real time for a while is
/// *degraded*, and the job steps down (a faster preset, then a lower rung) in place.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthSection {
    /// Output seconds per wall-clock second below which a stream is degraded; 0 = never.
    pub min_speed: f64,
    /// How long the speed must stay below `min_speed` (measured over this window).
    pub window_seconds: u32,
    /// Seconds after a run starts before its speed is judged (ffmpeg's start-up).
    pub start_delay_seconds: u32,
    /// Frames encoded per second below which a stream is degraded too; 0 = not checked.
    pub min_fps: f64,
}

impl Default for HealthSection {
    fn default() -> Self {
        HealthSection {
            min_speed: 1.0,
            window_seconds: 20,
            start_delay_seconds: 10,
            min_fps: 0.0,
        }
    }
}

/// Uploads as job sources (`upload:<id>`), stored under the state directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct UploadsSection {
    /// Largest upload accepted.
    pub max_bytes: u64,
    /// A finished upload is deleted this long after its last use (or with its job).
    pub keep_hours: u32,
    /// An unfinished upload is dropped after this long without a byte.
    pub expire_minutes: u32,
    /// Unfinished uploads at once.
    pub max_active: u32,
    /// Uploads kept in all, finished or not.
    pub max_kept: u32,
    /// Free disk left untouched by uploads.
    pub min_free_bytes: u64,
    /// A chunk that sends nothing for this long ends; the upload stands where it got to.
    pub chunk_timeout_seconds: u64,
}

impl Default for UploadsSection {
    fn default() -> Self {
        UploadsSection {
            max_bytes: 64 << 30,
            keep_hours: 24,
            expire_minutes: 60,
            max_active: 32,
            max_kept: 200,
            min_free_bytes: 1 << 30,
            chunk_timeout_seconds: 30,
        }
    }
}

/// Live ingest: RTMP and SRT publishers in, an HLS/DASH ladder out, a recording after.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LiveSection {
    pub enabled: bool,
    /// 0 = any free port (tests); the bound one is in `/api/ingest`.
    pub rtmp_port: u16,
    pub srt_port: u16,
    /// Publishers live at once.
    pub max_streams: u32,
    /// A publisher sending more than this (audio and video, over 5 s) is cut off.
    pub max_input_kbps: u32,
    /// A publisher whose picture is taller than this is refused.
    pub max_input_height: u32,
    /// Add the publisher's own H.264/AAC as a `source` rung (no re-encode).
    pub passthrough: bool,
    pub segment_seconds: u32,
    /// Segments in the live HLS playlists (the sliding window); the recording keeps all.
    pub window_segments: u32,
    /// A recording stops growing past this many minutes (the stream ends).
    pub record_max_minutes: u32,
    /// A publisher that comes back within this continues the same stream.
    pub reconnect_grace_seconds: u32,
    /// Recordings are deleted this long after they end.
    pub keep_hours: u32,
    /// Recordings kept at most (the oldest go first).
    pub max_recordings: u32,
    /// A stream ends when free disk under the state directory falls below this.
    pub min_free_bytes: u64,
    /// Handshake, connect and publish must be done within this.
    pub handshake_timeout_seconds: u64,
    /// A publisher that sends nothing for this long is dropped (the grace period follows).
    pub idle_timeout_seconds: u64,
    /// Connections that have not started publishing, at most (slow or idle clients).
    pub max_pending_connections: u32,
}

impl Default for LiveSection {
    fn default() -> Self {
        LiveSection {
            enabled: true,
            rtmp_port: 1935,
            srt_port: 8890,
            max_streams: 4,
            max_input_kbps: 25_000,
            max_input_height: 2160,
            passthrough: true,
            segment_seconds: 2,
            window_segments: 6,
            record_max_minutes: 360,
            reconnect_grace_seconds: 15,
            keep_hours: 48,
            max_recordings: 50,
            min_free_bytes: 2 << 30,
            handshake_timeout_seconds: 10,
            idle_timeout_seconds: 10,
            max_pending_connections: 16,
        }
    }
}

/// Job logs: one file per job under `<state>/logs/jobs/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LogsSection {
    /// A job's log files are deleted this many days after their last line.
    pub keep_days: u32,
    /// A job's log file is rotated past this size (two files at most per job).
    pub max_file_bytes: u64,
}

impl Default for LogsSection {
    fn default() -> Self {
        LogsSection {
            keep_days: 14,
            max_file_bytes: 1 << 20,
        }
    }
}

/// What only the desktop app reads.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DesktopSection {
    pub start_at_login: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SecuritySection {
    pub api_key: Option<String>,
    pub job_tokens: TokenMode,
    /// How long job tokens stay valid; fractions allowed (0.5 = 30 minutes).
    pub token_ttl_hours: f64,
    /// Addresses (`127.0.0.0/8`, `::1`) that sources, subtitles and callbacks may reach
    /// although they are loopback, link-local or otherwise refused by default.
    pub allowed_targets: Vec<String>,
    /// HLS and DASH playlists as sources and subtitles. Off by default; when on, every URL
    /// a playlist names is judged by the egress rule as ffmpeg fetches it.
    pub allow_playlist_sources: bool,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            host: "0.0.0.0".into(),
            port: 8765,
            advertised_url: None,
            max_body_bytes: 1024 * 1024,
            shutdown_timeout: 10,
            ws_ping_interval_ms: 30_000,
            ws_max_connections: 1000,
            header_read_timeout_ms: 30_000,
            max_header_bytes: 64 * 1024,
            max_connections: 4096,
            body_read_timeout_ms: 15_000,
            ui_dir: None,
        }
    }
}

impl Default for MdnsSection {
    fn default() -> Self {
        MdnsSection {
            enabled: true,
            service_name: "GhostStream".into(),
            interfaces: Vec::new(),
        }
    }
}

impl Default for TranscodingSection {
    fn default() -> Self {
        TranscodingSection {
            max_concurrent_jobs: 2,
            max_queue_size: 20,
            segment_duration: 4.0,
            first_segment_duration: 1.0,
            quick_start: true,
            temp_directory: None,
            enable_abr: true,
            abr_max_variants: 4,
            tone_map_hdr: true,
            retry_count: 3,
            stall_timeout: 120,
            stream_retention_minutes: 60,
            cleanup_after_hours: 24,
            cleanup_interval_seconds: 300,
            restart_ahead_segments: 3,
            probe_timeout: 20,
            segment_wait_timeout: 30,
            ffmpeg_path: "ffmpeg".into(),
            ffprobe_path: "ffprobe".into(),
            library_roots: Vec::new(),
            max_subtitles: 8,
            max_source_pixels: 7680 * 4320,
            max_history_jobs: 2000,
        }
    }
}

impl Default for HardwareSection {
    fn default() -> Self {
        HardwareSection {
            prefer_hw_accel: true,
            fallback_to_software: true,
            nvenc_preset: "p4".into(),
            trial_timeout: 10,
            nvenc_max_sessions: 0,
            tone_mapping: "auto".into(),
        }
    }
}

impl Default for SecuritySection {
    fn default() -> Self {
        SecuritySection {
            api_key: None,
            job_tokens: TokenMode::Enforce,
            token_ttl_hours: 168.0,
            allowed_targets: Vec::new(),
            allow_playlist_sources: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {cause}")]
    Read { path: PathBuf, cause: String },
    #[error("{path}: {cause}")]
    Parse { path: PathBuf, cause: String },
    #[error("environment variable {var}: {cause}")]
    Env { var: String, cause: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Prefix of configuration environment variables.
pub const ENV_PREFIX: &str = "GHOSTSTREAM__";

impl Config {
    /// File (optional), then environment, then `overrides` (CLI flags as
    /// `("section.key", value)`).
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &[(String, Value)],
    ) -> Result<Config, ConfigError> {
        let mut tree = serde_json::to_value(Config::default())
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
                path: path.into(),
                cause: e.to_string(),
            })?;
            let parsed: Value = if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) {
                serde_yaml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: path.into(),
                    cause: e.to_string(),
                })?
            } else {
                let t: toml::Value = toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: path.into(),
                    cause: e.to_string(),
                })?;
                serde_json::to_value(t).map_err(|e| ConfigError::Invalid(e.to_string()))?
            };
            merge(&mut tree, parsed);
        }
        for (var, raw) in env {
            let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let path: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
            if path.iter().any(|p| p.is_empty()) {
                return Err(ConfigError::Env {
                    var,
                    cause: "empty path element".into(),
                });
            }
            set_path(&mut tree, &path, env_value(&raw));
        }
        for (key, value) in overrides {
            let path: Vec<String> = key.split('.').map(str::to_string).collect();
            set_path(&mut tree, &path, value.clone());
        }
        let config: Config =
            serde_json::from_value(tree).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let t = &self.transcoding;
        if t.max_concurrent_jobs == 0 {
            return Err(ConfigError::Invalid(
                "transcoding.max_concurrent_jobs must be ≥ 1".into(),
            ));
        }
        if !(1.0..=30.0).contains(&t.segment_duration) {
            return Err(ConfigError::Invalid(
                "transcoding.segment_duration must be 1–30 seconds".into(),
            ));
        }
        let ttl = self.security.token_ttl_hours;
        if !(ttl.is_finite() && ttl > 0.0 && ttl <= 24.0 * 365.0) {
            return Err(ConfigError::Invalid(
                "security.token_ttl_hours must be more than 0 and at most a year".into(),
            ));
        }
        crate::schedule::validate(&self.gaming.schedule)
            .map_err(|e| ConfigError::Invalid(format!("gaming.schedule: {e}")))?;
        crate::egress::parse_allowed(&self.security.allowed_targets)
            .map_err(|e| ConfigError::Invalid(format!("security.allowed_targets: {e}")))?;
        if t.abr_max_variants == 0 {
            return Err(ConfigError::Invalid(
                "transcoding.abr_max_variants must be ≥ 1".into(),
            ));
        }
        Ok(())
    }

    /// The state directory: configured, or the platform data directory.
    pub fn state_dir(&self) -> PathBuf {
        if let Some(d) = &self.state_directory {
            return d.clone();
        }
        if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
            return PathBuf::from(d).join("ghoststream");
        }
        if let Some(h) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
            return PathBuf::from(h).join(".local/share/ghoststream");
        }
        PathBuf::from("ghoststream-state")
    }

    /// Where job outputs are written: configured, or `<state>/work`.
    pub fn work_dir(&self) -> PathBuf {
        self.transcoding
            .temp_directory
            .clone()
            .unwrap_or_else(|| self.state_dir().join("work"))
    }
}

fn env_value(raw: &str) -> Value {
    let t = raw.trim();
    if t.is_empty() {
        return Value::Null;
    }
    match serde_json::from_str::<Value>(t) {
        Ok(v @ (Value::Bool(_) | Value::Number(_) | Value::Array(_) | Value::Null)) => v,
        _ => Value::String(raw.to_string()),
    }
}

fn set_path(tree: &mut Value, path: &[String], value: Value) {
    let mut cur = tree;
    for (i, key) in path.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Default::default());
        }
        let Some(obj) = cur.as_object_mut() else {
            return;
        };
        if i + 1 == path.len() {
            // A string where the schema has a number/bool is fixed up by serde's error.
            obj.insert(key.clone(), value);
            return;
        }
        cur = obj
            .entry(key.clone())
            .or_insert(Value::Object(Default::default()));
    }
}

fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o,
    }
}

/// The annotated example `ghoststream config --example` prints.
pub const EXAMPLE: &str = r#"# GhostStream configuration (TOML). Every key is optional; shown values are the defaults.
# Precedence: this file < environment GHOSTSTREAM__SECTION__KEY < command-line flags.
# The seed's ghoststream.yaml keys work too (pass a .yaml/.yml file).

# Database (job history, stats, token secret). Env: GHOSTSTREAM__STATE_DIRECTORY
# Default: $XDG_DATA_HOME/ghoststream or ~/.local/share/ghoststream
# state_directory = "/var/lib/ghoststream"

[server]
host = "0.0.0.0"            # GHOSTSTREAM__SERVER__HOST
port = 8765                 # GHOSTSTREAM__SERVER__PORT (0 = any free port)
# advertised_url = "http://192.168.4.2:8765"  # base of stream/download URLs when a request has no Host
max_body_bytes = 1048576    # larger request bodies get 413
shutdown_timeout = 10       # seconds a graceful stop may take before ffmpeg is killed
ws_ping_interval_ms = 30000 # WebSocket keepalive; 3 missed pongs close the connection
ws_max_connections = 1000   # the next connection gets a close frame with a reason
header_read_timeout_ms = 30000  # a request header must arrive within this; idle keep-alive connections close after it
max_header_bytes = 65536    # larger header blocks get 431
max_connections = 4096      # open HTTP connections at most (WebSockets included)
body_read_timeout_ms = 15000    # a request body must arrive within this (408 otherwise)
# ui_dir = "ui/dist"        # serve the dashboard at / for browsers

[mdns]
enabled = true              # GHOSTSTREAM__MDNS__ENABLED: advertise _ghoststream._tcp
service_name = "GhostStream"  # instance "<service_name>-<host id>", unique per install
interfaces = []             # e.g. ["eth0"]; empty = every up, non-loopback, non-virtual interface

[discovery]
udp_enabled = true          # answer GHOSTSTREAM_DISCOVER on UDP (networks without multicast)
udp_port = 8766
# ghosthub_url = "http://192.168.4.1:5000"  # register with this GhostHub (pairing sets it)
register_interval = 60      # seconds between registrations (GhostHub forgets servers when it restarts)
# rendezvous_url = "https://pair.example/announce"  # POST {code, label, lan_urls} every minute

[transcoding]
max_concurrent_jobs = 2     # GHOSTSTREAM__TRANSCODING__MAX_CONCURRENT_JOBS
max_queue_size = 20         # queued jobs beyond this get 503 queue-full
segment_duration = 4        # HLS segment length in seconds (keyframes forced there)
first_segment_duration = 1  # a shorter first segment: the first picture comes sooner
quick_start = true          # the first segment by a run of its own, tuned for latency (software H.264)
# temp_directory = "./transcode_temp"  # GHOSTSTREAM__TRANSCODING__TEMP_DIRECTORY; default <state>/work
enable_abr = true           # false: mode "abr" is refused
abr_max_variants = 4        # rungs of the ladder: 4k 20M, 1080p 8M, 720p 4M, 480p 1.5M, 360p 800k
tone_map_hdr = true         # default for output.tone_map
retry_count = 3             # restarts of a failed or stalled encoder within the same job
stall_timeout = 120         # seconds without ffmpeg progress before a run counts as stalled
stream_retention_minutes = 60   # stream/abr outputs are removed this long after the last access
cleanup_after_hours = 24        # batch outputs are removed this long after they are ready
cleanup_interval_seconds = 300
restart_ahead_segments = 3  # a request further ahead of the encoder always restarts it at that segment
probe_timeout = 20          # seconds for ffprobe on a source
segment_wait_timeout = 30   # seconds a segment request waits for the encoder
ffmpeg_path = "ffmpeg"      # found on PATH unless absolute
ffprobe_path = "ffprobe"
library_roots = []          # local folders allowed as sources, e.g. ["/srv/media"]; empty = http(s) only
max_subtitles = 8           # subtitle tracks one request may name
max_source_pixels = 33177600    # frames larger than this (width x height; 8K UHD) are refused
max_history_jobs = 2000     # finished jobs kept in history; the oldest go first

[hardware]
prefer_hw_accel = true      # hw_accel "auto" uses the best proven GPU encoder
fallback_to_software = true # a GPU failure during a job continues in software, same job
nvenc_preset = "p4"         # p1 fastest … p7 best
trial_timeout = 10          # seconds for each one-frame trial encode at start
nvenc_max_sessions = 0      # NVENC sessions at once; 0 = 8 on GeForce, no limit on others
tone_mapping = "auto"       # HDR to SDR: auto | zscale | libplacebo | opencl | vaapi

[security]
# api_key = "secret"        # GHOSTSTREAM__SECURITY__API_KEY; required on every route but health
job_tokens = "enforce"      # GHOSTSTREAM__SECURITY__JOB_TOKENS: enforce | open
token_ttl_hours = 168
# Sources, subtitle URLs and callbacks may not reach loopback, link-local (169.254.x.x),
# multicast or this server's own API. List address blocks to allow, e.g. a media server on
# this same PC: ["127.0.0.1"]. GHOSTSTREAM__SECURITY__ALLOWED_TARGETS='["127.0.0.1"]'
allowed_targets = []
# HLS/DASH playlists as sources or subtitles; each URL they name is checked as it is fetched.
allow_playlist_sources = false

[desktop]
start_at_login = false      # the app starts (to the tray) when you log in

[gaming]
priority = "low"            # GHOSTSTREAM__GAMING__PRIORITY: low | idle | normal, for every ffmpeg we start
# games = ["cs2", "eldenring", …]  # process names that mean a game runs (a default list is built in)
when_playing = "freeze_batch"   # freeze_batch (streams go on at idle priority; [health] steps them down if they fall behind) | freeze_all | nothing
resume_delay_seconds = 30   # after the game exits
poll_seconds = 5            # how often the process list is read
# Weekly windows (local time) when jobs may run, each with a job limit; none = always.
# schedule = [{ days = ["mon", "tue", "wed", "thu", "fri"], start = "01:00", end = "17:00", max_jobs = 2 }]
outside_window = "finish"   # finish | freeze | stop (batch jobs back to the queue)

[throttle]
ahead_seconds = 60          # a stream this far past its viewers pauses until they come within half; 0 = never

[health]
# A stream or ABR job whose encoder makes less than min_speed seconds of video per second,
# over window_seconds, is degraded: it says so and steps down in place (a faster preset,
# then a lower rung), keeping its URLs. 0 = never.
min_speed = 1.0             # GHOSTSTREAM__HEALTH__MIN_SPEED
window_seconds = 20
start_delay_seconds = 10    # ffmpeg's start-up is not judged
min_fps = 0.0               # frames encoded per second below which it is degraded too; 0 = off

[logs]
# Each job's commands and ffmpeg messages: <state_directory>/logs/jobs/<job id>.log, read by
# GET /api/transcode/{id}/log and tailed live on WS /ws/jobs/{id}/log.
keep_days = 14              # GHOSTSTREAM__LOGS__KEEP_DAYS
max_file_bytes = 1048576    # rotated past this (two files at most per job)

[uploads]
# Files sent to this server (POST /api/upload…, or tus under /api/tus/) for media it cannot
# fetch by URL; a start request names one as "source": "upload:<id>". Kept under the state
# directory, deleted with the job that used them or keep_hours after their last use.
max_bytes = 68719476736     # 64 GiB per upload; GHOSTSTREAM__UPLOADS__MAX_BYTES
keep_hours = 24
expire_minutes = 60         # an unfinished upload with no byte for this long is dropped
max_active = 32             # unfinished uploads at once
max_kept = 200              # uploads kept in all
min_free_bytes = 1073741824 # free disk uploads never take
chunk_timeout_seconds = 30  # a chunk silent this long ends where it got to

[live]
# Live ingest: OBS (Server rtmp://<this pc>:1935/live, Stream Key <key>) or an SRT publisher
# (srt://<this pc>:8890?streamid=<key>) in; an HLS and DASH ladder out at
# /streams/<key>/master.m3u8 and /streams/<key>/dash/manifest.mpd; the recording stays there
# when the publisher stops. Keys: GET/POST /api/ingest/keys, or the dashboard's Live panel.
enabled = true              # GHOSTSTREAM__LIVE__ENABLED
rtmp_port = 1935
srt_port = 8890
max_streams = 4             # publishers live at once
max_input_kbps = 25000      # a publisher sending more (over 5 s) is cut off
max_input_height = 2160     # a taller picture is refused
passthrough = true          # the publisher's own H.264/AAC as a "source" rung
segment_seconds = 2
window_segments = 6         # live HLS playlists list this many segments
record_max_minutes = 360    # a stream ends when its recording is this long
reconnect_grace_seconds = 15 # a publisher back within this continues the same stream
keep_hours = 48             # recordings are deleted this long after they end
max_recordings = 50
min_free_bytes = 2147483648 # a stream ends when free disk falls below this
handshake_timeout_seconds = 10
idle_timeout_seconds = 10   # a publisher silent this long is dropped
max_pending_connections = 16
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn example_parses_to_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.toml");
        std::fs::write(&p, EXAMPLE).unwrap();
        let c = Config::load(Some(&p), vec![], &[]).unwrap();
        assert_eq!(c.server.port, 8765);
        assert_eq!(c.security.job_tokens, TokenMode::Enforce);
    }

    #[test]
    fn precedence_file_env_cli() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.yaml");
        std::fs::write(
            &p,
            "server:\n  port: 9000\n  host: 127.0.0.1\ntranscoding:\n  max_concurrent_jobs: 3\n  temp_directory: ./transcode_temp\nsecurity:\n  api_key: null\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&p),
            env(&[
                ("GHOSTSTREAM__SERVER__PORT", "9100"),
                ("GHOSTSTREAM__TRANSCODING__TEMP_DIRECTORY", "/tmp/w"),
                ("GHOSTSTREAM__STATE_DIRECTORY", "/tmp/s"),
                ("GHOSTSTREAM__MDNS__ENABLED", "false"),
                ("GHOSTSTREAM__SECURITY__API_KEY", "k1"),
                ("GHOSTSTREAM__SECURITY__JOB_TOKENS", "open"),
                ("GHOSTSTREAM__TRANSCODING__MAX_CONCURRENT_JOBS", "5"),
                ("UNRELATED", "x"),
            ]),
            &[("server.port".into(), Value::from(9200))],
        )
        .unwrap();
        assert_eq!(c.server.port, 9200);
        assert_eq!(c.server.host, "127.0.0.1");
        assert_eq!(c.transcoding.max_concurrent_jobs, 5);
        assert_eq!(c.transcoding.temp_directory, Some(PathBuf::from("/tmp/w")));
        assert_eq!(c.state_directory, Some(PathBuf::from("/tmp/s")));
        assert!(!c.mdns.enabled);
        assert_eq!(c.security.api_key.as_deref(), Some("k1"));
        assert_eq!(c.security.job_tokens, TokenMode::Open);
    }

    #[test]
    fn bad_values_are_named() {
        let e = Config::load(None, env(&[("GHOSTSTREAM__SERVER__PORT", "lots")]), &[]).unwrap_err();
        assert!(e.to_string().contains("invalid"), "{e}");
        let e = Config::load(
            None,
            env(&[("GHOSTSTREAM__SECURITY__JOB_TOKENS", "maybe")]),
            &[],
        )
        .unwrap_err();
        assert!(e.to_string().contains("maybe"), "{e}");
    }
}
