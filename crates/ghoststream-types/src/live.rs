//! **ext**: live ingest — stream keys, live streams and their renditions (`/api/ingest`).

use crate::HwKind;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A stream key: what a publisher puts after `rtmp://<pc>:1935/live/` (or in SRT's
/// `streamid`). Whoever knows it may publish on it and watch `/streams/<key>/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IngestKey {
    pub key: String,
    /// A name for people ("Living room Xbox").
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// When a publisher last went live on it.
    pub last_used: Option<DateTime<Utc>>,
    /// A publisher is live on it now.
    pub live: bool,
}

/// `POST /api/ingest/keys`: a new key (`key` unset: a random one), or
/// `PATCH /api/ingest/keys/{key}`: a new name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IngestKeyRequest {
    pub name: Option<String>,
    /// 3–64 of `A-Z a-z 0-9 _ -`; unset: 24 random characters.
    pub key: Option<String>,
}

/// How a publisher reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum IngestProtocol {
    Rtmp,
    Srt,
}

/// Where a live stream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LiveStatus {
    /// A publisher sends and the ladder encodes.
    Active,
    /// The publisher went away; it may come back within `live.reconnect_grace_seconds`.
    Idle,
    /// The stream failed (`error` says why); what was recorded stays playable.
    Error,
    /// The publisher stopped: the recording plays as a VOD at the same URLs.
    Ended,
}

/// What the publisher sends, as far as we know it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LiveInput {
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<f64>,
    /// Measured over the last few seconds.
    pub bitrate_kbps: u32,
}

/// One rung of the ladder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LiveRendition {
    /// `1080p`, `720p`, …, or `source` for the passthrough rung.
    pub name: String,
    pub codec: String,
    /// `None` for the passthrough rung (the publisher's own bitrate).
    pub bitrate_kbps: Option<u32>,
    pub width: u32,
    pub height: u32,
    /// `waiting` (no segment yet), `encoding`, `complete`, `error`.
    pub status: String,
    pub segments: u32,
}

/// A live stream (or the recording it left).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LiveStream {
    /// Shown only to the owner and API-key holders; `None` to anyone else.
    pub key: Option<String>,
    pub name: String,
    /// The job that records it (history, stats).
    pub job_id: String,
    pub protocol: IngestProtocol,
    /// `ip:port` of the publisher now, or of the last one.
    pub publisher: Option<String>,
    pub status: LiveStatus,
    pub error: Option<String>,
    /// A stable code for `error`.
    pub error_code: Option<String>,
    /// The video encoder of the ladder (`libx264`, `h264_nvenc`, …).
    pub encoder: String,
    pub hw_accel: HwKind,
    pub input: LiveInput,
    pub bytes_in: u64,
    /// Bytes of playlists and segments served to players.
    pub bytes_out: u64,
    /// Seconds of media recorded.
    pub duration_seconds: f64,
    pub dropped_frames: u64,
    /// Output seconds per second of the ladder.
    pub speed: Option<f64>,
    /// Times a publisher came back within the grace period.
    pub reconnects: u32,
    pub renditions: Vec<LiveRendition>,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// `/streams/<key>/master.m3u8` (with the key: owner and API-key holders only).
    pub hls_path: Option<String>,
    /// `/streams/<key>/dash/manifest.mpd`.
    pub dash_path: Option<String>,
}

/// `GET /api/ingest`: the listeners and every live stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IngestOverview {
    pub enabled: bool,
    /// The bound RTMP port; `None` when it is off or could not be bound (`errors`).
    pub rtmp_port: Option<u16>,
    pub srt_port: Option<u16>,
    /// What OBS calls "Server": `rtmp://<this pc>:<port>/live`.
    pub rtmp_server: Option<String>,
    /// `srt://<this pc>:<port>`; publishers add `?streamid=<key>`.
    pub srt_url: Option<String>,
    pub max_streams: u32,
    /// Listener failures and refused publishers, newest last (the last 20).
    pub errors: Vec<String>,
    pub streams: Vec<LiveStream>,
}

/// What happened to a live stream, for notifications and `/ws/progress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LiveEvent {
    Started,
    /// No media from the publisher for a while; the stream waits for it.
    Stalled,
    /// The publisher came back (or media flows again).
    Resumed,
    Ended,
    Failed,
}
