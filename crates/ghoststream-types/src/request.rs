//! `POST /api/transcode/start` and friends. Every field is optional on the wire because
//! `null` means "default"; [`StartRequest`] is the raw shape, validation lives in the engine.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Stream,
    Abr,
    Batch,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Stream => "stream",
            Mode::Abr => "abr",
            Mode::Batch => "batch",
        }
    }
    /// Stream and ABR produce HLS that players read while the job runs.
    pub fn is_hls(self) -> bool {
        matches!(self, Mode::Stream | Mode::Abr)
    }
}

/// **ext**: the segments of an HLS output. `ts` is MPEG-TS (H.264 and H.265 only);
/// `fmp4` is fragmented MP4 (CMAF) with an `#EXT-X-MAP` initialisation section, which
/// Safari and hls.js need for H.265, AV1 and VP9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum HlsContainer {
    Ts,
    Fmp4,
}

impl HlsContainer {
    pub fn as_str(self) -> &'static str {
        match self {
            HlsContainer::Ts => "ts",
            HlsContainer::Fmp4 => "fmp4",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Hls,
    Mp4,
    Webm,
    Mkv,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Hls => "hls",
            Format::Mp4 => "mp4",
            Format::Webm => "webm",
            Format::Mkv => "mkv",
        }
    }
    pub const ALL: [Format; 4] = [Format::Hls, Format::Mp4, Format::Webm, Format::Mkv];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum VideoCodec {
    H264,
    H265,
    Vp9,
    Av1,
    Copy,
}

impl VideoCodec {
    pub fn as_str(self) -> &'static str {
        match self {
            VideoCodec::H264 => "h264",
            VideoCodec::H265 => "h265",
            VideoCodec::Vp9 => "vp9",
            VideoCodec::Av1 => "av1",
            VideoCodec::Copy => "copy",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AudioCodec {
    Aac,
    Opus,
    Mp3,
    Flac,
    Ac3,
    Copy,
}

impl AudioCodec {
    pub fn as_str(self) -> &'static str {
        match self {
            AudioCodec::Aac => "aac",
            AudioCodec::Opus => "opus",
            AudioCodec::Mp3 => "mp3",
            AudioCodec::Flac => "flac",
            AudioCodec::Ac3 => "ac3",
            AudioCodec::Copy => "copy",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Resolution {
    #[serde(rename = "4k")]
    Uhd4k,
    #[serde(rename = "1080p")]
    P1080,
    #[serde(rename = "720p")]
    P720,
    #[serde(rename = "480p")]
    P480,
    #[serde(rename = "original")]
    Original,
}

impl Resolution {
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Uhd4k => "4k",
            Resolution::P1080 => "1080p",
            Resolution::P720 => "720p",
            Resolution::P480 => "480p",
            Resolution::Original => "original",
        }
    }
    /// Target height in lines, `None` for "original".
    pub fn height(self) -> Option<u32> {
        match self {
            Resolution::Uhd4k => Some(2160),
            Resolution::P1080 => Some(1080),
            Resolution::P720 => Some(720),
            Resolution::P480 => Some(480),
            Resolution::Original => None,
        }
    }
}

/// What a client may ask for in `output.hw_accel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum HwAccelRequest {
    Auto,
    Nvenc,
    Qsv,
    Vaapi,
    Videotoolbox,
    Amf,
    Software,
}

/// A kind of encoder back end; what `hw_accel_used` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum HwKind {
    Nvenc,
    Qsv,
    Vaapi,
    Videotoolbox,
    Amf,
    Software,
}

impl HwKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HwKind::Nvenc => "nvenc",
            HwKind::Qsv => "qsv",
            HwKind::Vaapi => "vaapi",
            HwKind::Videotoolbox => "videotoolbox",
            HwKind::Amf => "amf",
            HwKind::Software => "software",
        }
    }
    pub fn parse(s: &str) -> Option<HwKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
    /// Order of preference for `hw_accel: "auto"`.
    pub const ALL: [HwKind; 6] = [
        HwKind::Nvenc,
        HwKind::Qsv,
        HwKind::Vaapi,
        HwKind::Videotoolbox,
        HwKind::Amf,
        HwKind::Software,
    ];
}

impl HwAccelRequest {
    /// The single back end this request names, `None` for auto.
    pub fn kind(self) -> Option<HwKind> {
        match self {
            HwAccelRequest::Auto => None,
            HwAccelRequest::Nvenc => Some(HwKind::Nvenc),
            HwAccelRequest::Qsv => Some(HwKind::Qsv),
            HwAccelRequest::Vaapi => Some(HwKind::Vaapi),
            HwAccelRequest::Videotoolbox => Some(HwKind::Videotoolbox),
            HwAccelRequest::Amf => Some(HwKind::Amf),
            HwAccelRequest::Software => Some(HwKind::Software),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutputSpec {
    #[serde(default)]
    pub format: Option<Format>,
    #[serde(default)]
    pub video_codec: Option<VideoCodec>,
    #[serde(default)]
    pub audio_codec: Option<AudioCodec>,
    #[serde(default)]
    pub resolution: Option<Resolution>,
    #[serde(default)]
    pub bitrate: Option<String>,
    #[serde(default)]
    pub hw_accel: Option<HwAccelRequest>,
    #[serde(default)]
    pub tone_map: Option<bool>,
    #[serde(default)]
    pub two_pass: Option<bool>,
    #[serde(default)]
    pub max_audio_channels: Option<u32>,
    /// **ext**: a picture subtitle track of the source (its stream index in
    /// `media_info.subtitles`: PGS, DVB or VobSub) drawn into the video. Text tracks are
    /// WebVTT renditions instead.
    #[serde(default)]
    pub burn_subtitle: Option<u32>,
    /// **ext**: the segments of a stream or ABR output. Default: `fmp4` where the video
    /// codec needs it (H.265, AV1, VP9), else `ts`.
    #[serde(default)]
    pub container: Option<HlsContainer>,
    /// **ext**: source video codecs a stream may pass through unchanged (`hevc`, `av1`,
    /// `vp9`) when nothing else asks for an encode. Default none: many browsers decode
    /// only H.264.
    #[serde(default)]
    pub copy_codecs: Option<Vec<String>>,
    /// **ext**: the language (ISO 639 code, `en` or `eng`) of the audio track a stream
    /// starts with, where the source has several (each is an `EXT-X-MEDIA` rendition).
    /// Default: the source's default track, else its first.
    #[serde(default)]
    pub audio_language: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubtitleSpec {
    pub url: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub default: Option<bool>,
}

/// The start request as it arrives. Unknown keys are ignored, `null` means default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StartRequest {
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, pattern = r"^(https?://[^\s/?#@]+[^\s]*|/[^\s]*|[A-Za-z]:[\\/][^\s]*)$")
    )]
    pub source: Option<String>,
    #[serde(default)]
    pub mode: Option<Mode>,
    #[serde(default)]
    pub output: Option<OutputSpec>,
    #[serde(default)]
    pub start_time: Option<f64>,
    #[serde(default)]
    pub subtitles: Option<Vec<SubtitleSpec>>,
    #[serde(default)]
    pub callback_url: Option<String>,
    #[serde(default)]
    pub session_id: Option<String>,
}

/// `POST /api/probe`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProbeRequest {
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, pattern = r"^(https?://[^\s/?#@]+[^\s]*|/[^\s]*|[A-Za-z]:[\\/][^\s]*)$")
    )]
    pub source: Option<String>,
    /// Optional output wishes, so the returned plan matches what a start would do.
    #[serde(default)]
    pub output: Option<OutputSpec>,
    #[serde(default)]
    pub mode: Option<Mode>,
}

/// `POST /api/transcode/{id}/leave` and the optional body of cancel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionRequest {
    #[serde(default)]
    pub session_id: Option<String>,
}
