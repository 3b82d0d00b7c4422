//! What the engine handle and the actor both read: configuration, hardware, tokens,
//! events, the egress rule, live settings, and the answer a callback carries. The
//! handle's own state (mailbox, probe cache, lifetime) stays in `engine`; the actor's job
//! state stays in `actor`. Neither of those modules imports the other through this.

use crate::config::Config;
use crate::job::JobRecord;
use crate::live::Live;
use crate::tokens::TokenKey;
use ghoststream_media::hw::Hardware;
use ghoststream_types::{JobEvent, JobResponse, Notice};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Instant;
use tokio::sync::broadcast;

/// A job as it stands, ready to be turned into an answer.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub record: JobRecord,
    pub eta_seconds: Option<u64>,
    pub viewers: u32,
    /// Why the job is frozen, while it is.
    pub paused: Option<String>,
    /// What the encoding health checker found and did, once it has.
    pub health: Option<ghoststream_types::HealthData>,
    /// Its share of an NVIDIA GPU, at the last sample.
    pub gpu: Option<ghoststream_types::JobGpu>,
}

impl Snapshot {
    /// The answer without URLs (the transport adds them).
    pub fn to_response(&self) -> JobResponse {
        let mut r = self.record.to_response(self.eta_seconds, self.viewers);
        r.paused_reason = self.paused.clone();
        r.health = self.health.clone();
        r.gpu = self.gpu.clone();
        r
    }

    /// What a list shows to anyone: see [`JobRecord::to_summary`].
    pub fn to_summary(&self) -> JobResponse {
        let mut r = self.record.to_summary(self.eta_seconds, self.viewers);
        r.paused_reason = self.paused.clone();
        r.health = self.health.clone();
        r.gpu = self.gpu.clone();
        r
    }
}

/// What a `/stream/{id}/{file}` request resolves to.
#[derive(Debug, Clone)]
pub enum StreamFile {
    /// A playlist generated on the spot.
    Playlist(String),
    /// A file on disk (segment, subtitle).
    File(PathBuf),
}

/// Makes the body of a job's completion callback.
pub type CallbackAnswer = Arc<dyn Fn(&Snapshot) -> JobResponse + Send + Sync>;

/// State both sides read; nothing in it belongs to one job.
pub(crate) struct Shared {
    pub(crate) config: Arc<Config>,
    pub(crate) hardware: Arc<Hardware>,
    pub(crate) tokens: TokenKey,
    pub(crate) started: Instant,
    pub(crate) events: broadcast::Sender<JobEvent>,
    /// The whole answer a callback POSTs, URLs included: set by the transport.
    pub(crate) callback_answer: RwLock<Option<CallbackAnswer>>,
    pub(crate) egress: Arc<crate::egress::Egress>,
    pub(crate) live: RwLock<Live>,
    pub(crate) notices: broadcast::Sender<Notice>,
    /// Running jobs frozen now (kept by the actor; read without a round trip).
    pub(crate) frozen: std::sync::atomic::AtomicU32,
    /// Why jobs are paused for a game ("Paused: eldenring is running"), while one runs.
    pub(crate) game: RwLock<Option<String>>,
    /// The schedule's job limit now (`u32::MAX`: no schedule).
    pub(crate) schedule_limit: std::sync::atomic::AtomicU32,
    /// Wakes the schedule task when the settings change.
    pub(crate) schedule_wake: Arc<tokio::sync::Notify>,
    pub(crate) uploads: Arc<crate::uploads::Uploads>,
    /// Why the server is stopping, recorded on the jobs it cancels ("GhostStream was
    /// quit"); "the server stopped" when nobody said.
    pub(crate) stop_reason: std::sync::Mutex<Option<String>>,
    /// Each job's share of an NVIDIA GPU at the last NVML sample (empty without NVML).
    pub(crate) gpu_jobs: RwLock<Vec<ghoststream_types::JobGpu>>,
}

impl Shared {
    /// Where job logs are kept: `<state>/logs/jobs/` (beside the app's own logs).
    pub(crate) fn job_logs_dir(&self) -> std::path::PathBuf {
        self.config.state_dir().join("logs").join("jobs")
    }

    /// A job's log, kept in its file under [`Shared::job_logs_dir`].
    pub(crate) fn job_log(&self, id: uuid::Uuid) -> crate::runner::JobLog {
        crate::runner::JobLog::to_file(
            self.job_logs_dir().join(format!("{id}.log")),
            self.config.logs.max_file_bytes,
        )
    }

    /// What ffmpeg and ffprobe may open for a job's inputs.
    pub(crate) fn input_rules(&self) -> ghoststream_media::source::InputRules {
        ghoststream_media::source::InputRules {
            rw_timeout_secs: 15,
            proxy: self.egress.proxy_url(),
            playlists: self.config.security.allow_playlist_sources,
            max_pixels: Some(self.config.transcoding.max_source_pixels),
        }
    }
}
