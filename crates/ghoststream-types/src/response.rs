//! Answers and events.

use crate::{HwKind, Mode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Processing,
    Ready,
    Error,
    Cancelled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Processing => "processing",
            JobStatus::Ready => "ready",
            JobStatus::Error => "error",
            JobStatus::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> Option<JobStatus> {
        [
            JobStatus::Queued,
            JobStatus::Processing,
            JobStatus::Ready,
            JobStatus::Error,
            JobStatus::Cancelled,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
    /// No more work will happen for a job in this state.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Ready | JobStatus::Error | JobStatus::Cancelled
        )
    }
}

/// One rendition of an HLS job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Variant {
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// "1280x720", as the published server reports it.
    pub resolution: String,
    pub bitrate_kbps: u32,
    /// Relative to the master playlist.
    pub playlist: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VideoInfo {
    pub index: u32,
    pub codec: String,
    pub profile: Option<String>,
    pub level: Option<i32>,
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    pub pix_fmt: Option<String>,
    pub bit_depth: u32,
    pub color_transfer: Option<String>,
    pub color_primaries: Option<String>,
    /// "sdr", "hdr10" or "hlg", decided by transfer and primaries, never by bit depth.
    pub dynamic_range: String,
    /// **ext**: the stream's Dolby Vision configuration, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dolby_vision: Option<DolbyVision>,
}

/// **ext**: a Dolby Vision configuration record (the stream's side data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DolbyVision {
    pub profile: u8,
    pub level: u8,
    /// The base layer's compatibility: 0 none (profile 5: only Dolby Vision can show it),
    /// 1 HDR10, 2 SDR, 4 HLG, 6 Blu-ray HDR10.
    pub compatibility: u8,
}

impl DolbyVision {
    /// A base layer nothing but Dolby Vision reshaping shows right (profile 5's IPT).
    pub fn needs_reshaping(&self) -> bool {
        self.compatibility == 0
    }

    /// What a player without Dolby Vision gets, in words.
    pub fn describe(&self) -> String {
        let base = match self.compatibility {
            0 => "no compatible base layer: reshaped and tone-mapped with libplacebo",
            1 | 6 => "its HDR10 base layer is used",
            2 => "its SDR base layer is used",
            4 => "its HLG base layer is used",
            _ => "its base layer is used",
        };
        format!("Dolby Vision profile {}: {base}", self.profile)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AudioInfo {
    pub index: u32,
    pub codec: String,
    pub channels: u32,
    pub sample_rate: u32,
    pub language: Option<String>,
    /// **ext**: the track's title and its default flag (a stream lists each audio track
    /// of a source with several as a rendition with these).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default)]
    pub default: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubtitleInfo {
    pub index: u32,
    pub codec: String,
    pub language: Option<String>,
    /// **ext**: the track's title, its default and forced flags (a stream's text tracks
    /// become WebVTT renditions with these).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default)]
    pub default: bool,
    #[serde(default)]
    pub forced: bool,
}

/// Normalised result of probing a source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MediaInfo {
    pub duration: f64,
    pub container: String,
    pub size_bytes: Option<u64>,
    pub bitrate_kbps: Option<u32>,
    pub video: Option<VideoInfo>,
    pub audio: Vec<AudioInfo>,
    pub subtitles: Vec<SubtitleInfo>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum StreamAction {
    Copy,
    #[default]
    Transcode,
    Drop,
}

/// What the server will do with one input stream, and (**ext**, mkv2cast's fields) what
/// the stream is.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StreamPlan {
    pub index: u32,
    pub codec: String,
    pub action: StreamAction,
    pub target_codec: Option<String>,
    pub reason: String,
    /// Video: picture size and rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<f64>,
    /// Video: the source's overall bitrate (per-stream figures are rarely in containers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitrate_kbps: Option<u32>,
    /// Audio: channels and sample rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
    /// Audio and subtitles: the language tag, where the source has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanStreams {
    pub video: Option<StreamPlan>,
    pub audio: Vec<StreamPlan>,
    pub subtitle: Vec<StreamPlan>,
}

/// `POST /api/probe` answer and the WebSocket `analysis` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnalysisData {
    pub streams: PlanStreams,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProbeResponse {
    pub source: String,
    pub media_info: MediaInfo,
    pub plan: PlanStreams,
}

/// `POST /api/probe/compile` (**ext**): what a start request would run, without running
/// it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompileResponse {
    pub source: String,
    pub mode: Mode,
    pub media_info: MediaInfo,
    pub plan: PlanStreams,
    /// The encoder the job would start on (it falls back to software on a GPU failure).
    pub hw_accel: HwKind,
    /// Each ffmpeg run a start begins with, as a command line (`JOB_DIR` stands for the
    /// new job's work directory). A stream's later runs (seeks) differ only in where
    /// they start.
    pub commands: Vec<String>,
    /// The same runs as argument lists, program first.
    pub argv: Vec<Vec<String>>,
}

/// The job answer of start, status and the jobs list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobResponse {
    pub job_id: String,
    pub status: JobStatus,
    pub progress: f64,
    pub stream_url: Option<String>,
    pub download_url: Option<String>,
    pub control_token: Option<String>,
    pub duration: Option<f64>,
    pub eta_seconds: Option<u64>,
    pub hw_accel_used: Option<HwKind>,
    pub error_message: Option<String>,
    pub start_time: f64,
    pub is_shared: bool,
    pub viewer_count: u32,
    pub variants: Option<Vec<Variant>>,
    pub media_info: Option<MediaInfo>,
    pub current_time: Option<f64>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// **ext**: for dashboards.
    pub mode: Mode,
    /// **ext**: why a running job is frozen ("paused by request", "Paused: game.exe is
    /// running"); absent while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_reason: Option<String>,
    /// **ext**: the encoding health checker's latest finding on a stream or ABR job (a
    /// run below `health.min_speed`, and the step down it took); absent while none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthData>,
    /// **ext**: with `error`, a stable code for the cause next to `error_message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    pub source: String,
    /// **ext**: who asked for the job; absent for jobs from before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<JobClient>,
    /// **ext**: what the job does with the source, and why; absent until probed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
    /// **ext**: bytes written (segments or the file) so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_size: Option<u64>,
    /// **ext**: the last measured speed (× real time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<f64>,
    /// **ext**: the job's share of an NVIDIA GPU while its ffmpeg uses one (NVML).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<crate::JobGpu>,
}

/// **ext**: what kind of program started a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    Ghosthub,
    Sdk,
    Browser,
    App,
    Other,
}

/// **ext**: who asked for a job: the name it gave (`X-GhostStream-Client`, or WebSocket
/// `identify` from the same address), else its User-Agent's product, and its address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobClient {
    pub name: String,
    pub kind: ClientKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// **ext**: how a job delivers its source, as Plex and Jellyfin name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DeliveryKind {
    /// Every stream copied into the container the source already is.
    Direct,
    /// The picture copied into another container (audio may be converted).
    Remux,
    /// The picture (or, without one, the sound) encoded anew.
    Transcode,
}

/// **ext**: what a job does with its source, in words, and the picture in and out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    pub kind: DeliveryKind,
    /// Why, in words ("hevc is not browser-playable; 10-bit video").
    pub reason: String,
    /// The video encoder (`libx264`, `h264_vaapi`); absent when the picture is copied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder: Option<String>,
    /// The source picture, `1920x1080`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// The picture written: one size, or each rendition's, `1280x720, 854x480`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobList {
    /// Newest first, without tokens, stream URLs or credentials.
    pub jobs: Vec<JobResponse>,
    /// Jobs in all pages.
    pub total: u32,
    pub offset: u32,
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CancelResponse {
    pub job_id: String,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StreamInfo {
    pub job_id: String,
    pub stream_url: Option<String>,
    pub status: JobStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeaveResponse {
    pub job_id: String,
    pub viewers_remaining: u32,
    pub is_shared: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SharedStream {
    pub source: String,
    pub viewers: u32,
    pub status: JobStatus,
    pub progress: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SharedStreams {
    pub active_shared_streams: u32,
    pub total_viewers: u32,
    pub viewer_sessions: u32,
    pub streams: BTreeMap<String, SharedStream>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    pub status: String,
    pub version: String,
    pub uptime_seconds: f64,
    pub current_jobs: u32,
    pub queued_jobs: u32,
    pub hw_accels: Vec<HwKind>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GpuInfo {
    pub name: String,
    pub memory_mb: u64,
    pub driver_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HwAccelInfo {
    #[serde(rename = "type")]
    pub kind: HwKind,
    pub available: bool,
    pub encoders: Vec<String>,
    pub decoders: Vec<String>,
    pub gpu_info: Option<GpuInfo>,
    pub device_path: Option<String>,
    /// **ext**: why an accelerator is not available (no encoder, trial failed: first error line).
    pub reason: Option<String>,
    /// **ext**: source formats its decoder proved with a 1-frame trial (decode, scale on
    /// the GPU, frame back in memory): "h264", "hevc", "hevc 10-bit", "av1", "vp9".
    /// Jobs decode those on it; the others in software.
    #[serde(default)]
    pub decode: Vec<String>,
    /// **ext**: why it decodes nothing, or which formats failed their trial and how.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_reason: Option<String>,
    /// **ext**: the filter that draws picture subtitles (`burn_subtitle`) on frames
    /// decoded on this GPU, where its trial passed (`overlay_cuda`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlay: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Capabilities {
    pub hw_accels: Vec<HwAccelInfo>,
    pub video_codecs: Vec<String>,
    pub audio_codecs: Vec<String>,
    pub formats: Vec<String>,
    pub max_concurrent_jobs: u32,
    pub ffmpeg_version: String,
    pub platform: String,
    /// **ext**: live ingest ports (`None` when off or not bound).
    #[serde(default)]
    pub live: Option<LiveCapabilities>,
    /// **ext**: GPU tone mappers (HDR to SDR) proven at start, in the order they are
    /// used (`libplacebo`, `tonemap_opencl`, `tonemap_vaapi`); empty: zscale on the CPU.
    #[serde(default)]
    pub gpu_tone_mapping: Vec<String>,
    /// **ext**: why the other GPU tone mappers are not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_tone_mapping_reason: Option<String>,
}

/// **ext**: where publishers reach this server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LiveCapabilities {
    pub rtmp_port: Option<u16>,
    pub srt_port: Option<u16>,
    /// Ladder rungs offered (`1080p`, `720p`, `480p`, `360p`).
    pub ladder: Vec<String>,
    pub hls: bool,
    pub dash: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Stats {
    pub total_jobs_processed: u64,
    pub successful_jobs: u64,
    pub failed_jobs: u64,
    pub cancelled_jobs: u64,
    pub current_queue_length: u32,
    pub active_jobs: u32,
    pub average_transcode_speed: f64,
    pub total_bytes_processed: u64,
    pub uptime_seconds: f64,
    pub hw_accel_usage: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CleanupStats {
    pub total_jobs: u32,
    pub active_jobs: u32,
    pub ready_jobs: u32,
    pub finished_jobs: u32,
    pub nearly_stale: u32,
    pub temp_dir: String,
    pub disk_bytes: u64,
    pub stream_retention_minutes: u64,
    pub batch_retention_hours: u64,
    /// Jobs whose outputs retention removed since the server started.
    pub cleaned_jobs: u32,
    /// **ext**: uploads held (finished or not) and their bytes; a finished one is deleted
    /// `upload_keep_hours` after its last use, or with its job.
    #[serde(default)]
    pub uploads: u32,
    #[serde(default)]
    pub upload_bytes: u64,
    #[serde(default)]
    pub upload_keep_hours: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CleanupRun {
    pub stale_jobs_cleaned: u32,
    pub orphaned_dirs_cleaned: u32,
    /// **ext**: expired uploads deleted.
    #[serde(default)]
    pub uploads_cleaned: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientInfo {
    pub id: Option<String>,
    pub client: String,
    pub transport: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Queued,
    Probing,
    Transcoding,
    Remuxing,
    Finalizing,
    Done,
    /// **ext**: a running job frozen (its processes stopped), waiting to be resumed.
    Paused,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProgressData {
    /// 0–100.
    pub progress: f64,
    pub frame: u64,
    pub fps: f64,
    /// Seconds of output written, relative to `start_time`.
    pub time: f64,
    pub speed: f64,
    pub eta_seconds: Option<u64>,
    pub stage: Stage,
    /// Bytes written so far by the current encoder run.
    pub size: u64,
    /// kbit/s, as ffmpeg reports it.
    pub bitrate: Option<f64>,
    /// **ext**: with `stage: paused`, why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusData {
    pub status: JobStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// **ext**: with `error`, a stable code for the cause (`source-refused`, `disk-full`,
    /// `encoder-failed`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// **ext**: with `ready`, the bytes of output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_size: Option<u64>,
    /// **ext**: with `ready`, a batch job's output file name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_file: Option<String>,
}

/// A server → client WebSocket message about a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JobEvent {
    Progress {
        job_id: String,
        data: ProgressData,
    },
    StatusChange {
        job_id: String,
        data: StatusData,
    },
    Analysis {
        job_id: String,
        data: AnalysisData,
    },
    /// **ext**: a stream's encoder fell below `health.min_speed` (and what was done), or
    /// came back above it.
    Health {
        job_id: String,
        data: HealthData,
    },
}

/// What the encoding health checker found on a job and what it did about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthData {
    /// Below `min_speed` now.
    pub degraded: bool,
    /// Output seconds per second over the window.
    pub speed: f64,
    pub min_speed: f64,
    /// Steps taken down so far: 0 as planned, 1 a faster preset, 2 and on a rung lower each.
    pub step: u32,
    /// What the job did, in words ("faster preset superfast", "720p → 480p", or why it
    /// could not step down further).
    pub action: String,
}

impl JobEvent {
    pub fn job_id(&self) -> &str {
        match self {
            JobEvent::Progress { job_id, .. }
            | JobEvent::StatusChange { job_id, .. }
            | JobEvent::Analysis { job_id, .. }
            | JobEvent::Health { job_id, .. } => job_id,
        }
    }
}

/// Something a person should hear about, for desktop notifications.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Notice {
    /// A GPU encoder failed during a job; the job continues in software.
    HardwareFallback {
        job_id: String,
        from: HwKind,
        cause: String,
    },
    /// A game started (its name) or exited (`None`): jobs paused or resumed for it.
    Gaming { game: Option<String> },
    /// The schedule's job limit changed (`Some(0)`: closed; `None`: no schedule).
    Schedule { limit: Option<u32> },
    /// A stream runs slower than real time; `action` says what the job did about it.
    Degraded {
        job_id: String,
        speed: f64,
        action: String,
    },
    /// A live stream started, stalled, came back, ended or failed. Names the stream by its
    /// key's name, never by the key.
    Live {
        job_id: String,
        name: String,
        event: crate::LiveEvent,
        detail: Option<String>,
    },
}

/// How an upload arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UploadProtocol {
    /// `POST /api/upload`: one multipart request.
    Single,
    /// `POST /api/upload/init`, `/chunk/{id}`, `/complete/{id}`.
    Chunked,
    /// tus 1.0 under `/api/tus/`.
    Tus,
}

/// **ext**: an upload, finished or not. A finished one is a job source: `upload:<id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadInfo {
    pub upload_id: String,
    /// What a start request names as its `source`.
    pub source: String,
    pub filename: String,
    pub protocol: UploadProtocol,
    /// The length announced at the start; `None` when it was not.
    pub size: Option<u64>,
    /// Bytes stored so far: where the next chunk goes.
    pub offset: u64,
    pub complete: bool,
    /// Hex SHA-256 of the whole file, once complete.
    pub sha256: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When an unfinished upload is dropped, or a finished one deleted.
    pub expires_at: DateTime<Utc>,
}

/// An upload as anyone may see it: no id, since an upload's id is what lets a client
/// write, use or delete it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadSummary {
    pub filename: String,
    pub protocol: UploadProtocol,
    pub size: Option<u64>,
    pub offset: u64,
    pub complete: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl UploadInfo {
    pub fn to_summary(&self) -> UploadSummary {
        UploadSummary {
            filename: self.filename.clone(),
            protocol: self.protocol,
            size: self.size,
            offset: self.offset,
            complete: self.complete,
            created_at: self.created_at,
            updated_at: self.updated_at,
            expires_at: self.expires_at,
        }
    }
}

/// `GET /api/upload/active`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadsActive {
    /// Uploads still arriving.
    pub active: u32,
    /// Jobs waiting in the queue.
    pub queued_jobs: u32,
    /// Every upload this server holds, newest first, without ids.
    pub uploads: Vec<UploadSummary>,
}

/// `POST /api/upload/init`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadInit {
    pub filename: String,
    /// Total bytes the upload will have; checked against `uploads.max_bytes` and free
    /// space before anything is stored.
    #[cfg_attr(feature = "openapi", schema(maximum = 9007199254740991_u64))]
    pub file_size: u64,
}

/// `POST /api/upload/complete/{id}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadComplete {
    /// Hex SHA-256 of the whole file; a mismatch deletes the upload.
    pub sha256: String,
}
