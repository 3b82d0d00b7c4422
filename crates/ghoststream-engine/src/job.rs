//! A job: the validated request, its persistent record, and its answer.

use crate::config::Config;
use crate::live::Live;
use chrono::{DateTime, Utc};
use ghoststream_media::plan::Wish;
use ghoststream_media::source::{check_callback_url, Source};
use ghoststream_types::{
    AudioCodec, FieldError, Format, HlsContainer, HwKind, JobResponse, JobStatus, MediaInfo, Mode,
    Resolution, StartRequest, Variant, VideoCodec,
};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use uuid::Uuid;

/// A subtitle track that passed the source rules: a file of its own (`stream: None`),
/// or a text track inside the job's source.
#[derive(Debug, Clone, PartialEq)]
pub struct SubtitleTrack {
    pub source: Source,
    pub label: String,
    pub language: String,
    pub default: bool,
    pub forced: bool,
    /// The track's stream index in the job's source, for an embedded one.
    pub stream: Option<u32>,
}

impl SubtitleTrack {
    /// The source's embedded text tracks, after the requested ones: at most one default
    /// in all (a requested default wins), and at most `subtitles::MAX_EMBEDDED`.
    /// Returns the tracks and how many text tracks were left out.
    pub fn embedded(
        source: &Source,
        media: &ghoststream_types::MediaInfo,
        requested: &[SubtitleTrack],
    ) -> (Vec<SubtitleTrack>, usize) {
        let mut has_default = requested.iter().any(|t| t.default);
        let text: Vec<_> = media
            .subtitles
            .iter()
            .filter(|s| ghoststream_media::subtitles::is_text(&s.codec))
            .collect();
        let max = ghoststream_media::subtitles::MAX_EMBEDDED;
        let tracks = text
            .iter()
            .take(max)
            .enumerate()
            .map(|(k, s)| {
                let language = s
                    .language
                    .clone()
                    .filter(|l| !l.trim().is_empty())
                    .unwrap_or_else(|| "und".into());
                let label = s.title.clone().unwrap_or_else(|| {
                    if language == "und" {
                        format!("Subtitle {}", requested.len() + k + 1)
                    } else {
                        language.clone()
                    }
                });
                let default = s.default && !has_default;
                has_default |= default;
                SubtitleTrack {
                    source: source.clone(),
                    label,
                    language,
                    default,
                    forced: s.forced,
                    stream: Some(s.index),
                }
            })
            .collect();
        (tracks, text.len().saturating_sub(max))
    }
}

/// The start request after validation.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    pub source_raw: String,
    pub source: Source,
    pub mode: Mode,
    pub format: Format,
    pub video_codec: VideoCodec,
    pub audio_codec: AudioCodec,
    pub resolution: Resolution,
    pub bitrate_kbps: Option<u32>,
    pub hw_request: Option<HwKind>,
    pub tone_map: bool,
    /// Batch only: the video is encoded in two passes (software encoder), the first
    /// writing a statistics file under the job's directory.
    pub two_pass: bool,
    /// A picture subtitle stream of the source to draw into the video.
    pub burn_subtitle: Option<u32>,
    pub max_audio_channels: u32,
    /// HLS segments asked for (`None`: decided by the codec).
    pub container: Option<HlsContainer>,
    /// Source video codecs (ffprobe's names) a stream may pass through.
    pub copy_codecs: Vec<String>,
    /// The audio language a stream starts with.
    pub audio_language: Option<String>,
    pub start_time: f64,
    pub subtitles: Vec<SubtitleTrack>,
    pub callback_url: Option<String>,
    pub session_id: Option<String>,
}

impl JobSpec {
    /// The plan wish for this spec.
    pub fn wish(&self, config: &Config) -> Wish {
        Wish {
            mode: self.mode,
            format: self.format,
            video_codec: self.video_codec,
            audio_codec: self.audio_codec,
            resolution: self.resolution,
            bitrate_kbps: self.bitrate_kbps,
            tone_map: self.tone_map,
            max_audio_channels: self.max_audio_channels,
            abr_max_variants: config.transcoding.abr_max_variants,
            container: self.container,
            copy_codecs: self.copy_codecs.clone(),
            audio_language: self.audio_language.clone(),
        }
    }

    /// Streams are shared by source + mode + format + resolution + burned subtitle, and
    /// by codec, container and pass-through codecs where those are not the defaults (a
    /// player that asked for H.264 in MPEG-TS must not get AV1 in fMP4).
    pub fn share_key(&self) -> Option<String> {
        self.mode.is_hls().then(|| {
            let defaults = self.video_codec == VideoCodec::H264
                && self.container.is_none()
                && self.copy_codecs.is_empty()
                && self.audio_language.is_none();
            let codecs = if defaults {
                String::new()
            } else {
                format!(
                    "|{}|{}|{}|{}",
                    self.video_codec.as_str(),
                    self.container.map(|c| c.as_str()).unwrap_or("auto"),
                    self.copy_codecs.join("+"),
                    self.audio_language.as_deref().unwrap_or("")
                )
            };
            format!(
                "{}|{}|{}|{}{}{codecs}",
                self.source_raw.trim_end_matches('/'),
                self.mode.as_str(),
                self.format.as_str(),
                self.resolution.as_str(),
                self.burn_subtitle
                    .map(|s| format!("|burn{s}"))
                    .unwrap_or_default()
            )
        })
    }

    /// What the probe tells about the request that a 422 answers (the field named).
    pub fn check_against(
        &self,
        media: &ghoststream_types::MediaInfo,
        hardware: &ghoststream_media::hw::Hardware,
    ) -> Result<(), crate::EngineError> {
        let refuse = |loc: &[&str], msg: String| {
            Err(crate::EngineError::Invalid(vec![field(
                loc,
                msg,
                "value_error",
            )]))
        };
        if media.duration > 0.0 && self.start_time >= media.duration {
            return refuse(
                &["start_time"],
                format!(
                    "start_time {} is beyond the source's duration of {:.3} s",
                    self.start_time, media.duration
                ),
            );
        }
        if let Err(why) = self.check_burn(media) {
            return refuse(&["output", "burn_subtitle"], why);
        }
        // Dolby Vision without a compatible base layer is green and purple unless
        // reshaped: a job that cannot reshape it is refused, not run.
        let dv = media.video.as_ref().and_then(|v| v.dolby_vision);
        if let (Some(dv), Err(why)) = (dv.filter(|d| d.needs_reshaping()), &hardware.libplacebo) {
            return refuse(
                &["source"],
                format!(
                    "Dolby Vision profile {} has no base layer other players can show, and this \
                     server cannot reshape it: libplacebo on Vulkan failed its trial ({why}). \
                     A Vulkan driver for the GPU (or Mesa's lavapipe) makes it work.",
                    dv.profile
                ),
            );
        }
        Ok(())
    }

    /// Whether the source's stream `burn_subtitle` names can be drawn into the video:
    /// `Err` says why not.
    pub fn check_burn(&self, media: &ghoststream_types::MediaInfo) -> Result<(), String> {
        let Some(index) = self.burn_subtitle else {
            return Ok(());
        };
        let Some(s) = media.subtitles.iter().find(|s| s.index == index) else {
            let have: Vec<String> = media
                .subtitles
                .iter()
                .map(|s| format!("{} ({})", s.index, s.codec))
                .collect();
            return Err(format!(
                "stream {index} is not a subtitle track of the source; its subtitle tracks: {}",
                if have.is_empty() {
                    "none".to_string()
                } else {
                    have.join(", ")
                }
            ));
        };
        if ghoststream_media::subtitles::is_text(&s.codec) {
            return Err(format!(
                "stream {index} is {} text, which a stream lists as a WebVTT rendition; burn_subtitle takes a picture track (PGS, DVB, VobSub)",
                s.codec
            ));
        }
        if media.video.is_none() {
            return Err("the source has no video to draw subtitles on".into());
        }
        Ok(())
    }
}

pub(crate) fn field(loc: &[&str], msg: impl Into<String>, kind: &str) -> FieldError {
    FieldError {
        loc: std::iter::once("body")
            .chain(loc.iter().copied())
            .map(String::from)
            .collect(),
        msg: msg.into(),
        kind: kind.into(),
    }
}

/// Parses `auto`, `<n>k`, `<n>M` (also plain bits per second) into kbit/s.
pub fn parse_bitrate(raw: &str) -> Result<Option<u32>, String> {
    let t = raw.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("auto") {
        return Ok(None);
    }
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1.0),
        Some((i, 'm' | 'M')) => (&t[..i], 1000.0),
        _ => (t, 0.001),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("'{raw}' is not a bitrate: use auto, <n>k or <n>M"))?;
    let kbps = v * mult;
    if !kbps.is_finite() || !(64.0..=200_000.0).contains(&kbps) {
        return Err(format!("bitrate '{raw}' is outside 64k–200M"));
    }
    Ok(Some(kbps.round() as u32))
}

/// Turns the raw request into a [`JobSpec`], or the list of every field that is wrong.
pub fn validate(
    req: &StartRequest,
    config: &Config,
    live: &Live,
) -> Result<JobSpec, Vec<FieldError>> {
    let mut errors = Vec::new();
    let roots = &live.library_roots;
    let source_raw = req.source.clone().unwrap_or_default();
    let source = match req.source.as_deref() {
        None => {
            errors.push(field(&["source"], "source is required", "missing"));
            None
        }
        Some(s) => match Source::parse(s, roots) {
            Ok(src) => Some(src),
            Err(e) => {
                errors.push(field(&["source"], e.to_string(), e.code().as_str()));
                None
            }
        },
    };
    let mode = req.mode.unwrap_or_default();
    if mode == Mode::Abr && !config.transcoding.enable_abr {
        errors.push(field(
            &["mode"],
            "ABR is disabled on this server",
            "disabled",
        ));
    }
    let out = req.output.clone().unwrap_or_default();
    let format = out.format.unwrap_or(if mode == Mode::Batch {
        Format::Mp4
    } else {
        Format::Hls
    });
    if mode.is_hls() && format != Format::Hls {
        errors.push(field(
            &["output", "format"],
            format!(
                "mode {} writes HLS; use mode batch for {}",
                mode.as_str(),
                format.as_str()
            ),
            "unsupported-combination",
        ));
    }
    let format = if mode == Mode::Batch && format == Format::Hls {
        Format::Mp4
    } else {
        format
    };
    let video_codec = out.video_codec.unwrap_or(VideoCodec::H264);
    if out.container.is_some() && !mode.is_hls() {
        errors.push(field(
            &["output", "container"],
            "container chooses the segments of a stream or ABR output; a batch file's is output.format",
            "unsupported-combination",
        ));
    }
    if out.container == Some(HlsContainer::Ts)
        && matches!(video_codec, VideoCodec::Vp9 | VideoCodec::Av1)
    {
        errors.push(field(
            &["output", "container"],
            format!(
                "{} cannot be carried in MPEG-TS segments; use container fmp4 (the default for {0})",
                video_codec.as_str()
            ),
            "unsupported-combination",
        ));
    }
    let mut copy_codecs: Vec<String> = Vec::new();
    let asked_copy = out.copy_codecs.clone().unwrap_or_default();
    if !asked_copy.is_empty() && mode != Mode::Stream {
        errors.push(field(
            &["output", "copy_codecs"],
            "copy_codecs applies to stream jobs (ABR renditions are encoded; a batch job copies with video_codec copy)",
            "unsupported-combination",
        ));
    }
    for (i, c) in asked_copy.iter().enumerate().take(8) {
        let name = match c.trim().to_ascii_lowercase().as_str() {
            "h265" | "hevc" => "hevc",
            "av1" => "av1",
            "vp9" => "vp9",
            _ => {
                errors.push(field(
                    &["output", "copy_codecs", &i.to_string()],
                    format!(
                        "'{}' cannot be passed through; the choices are {}",
                        c.chars().take(40).collect::<String>(),
                        ghoststream_media::plan::PASS_THROUGH.join(", ")
                    ),
                    "value_error",
                ));
                continue;
            }
        };
        if !copy_codecs.iter().any(|k| k == name) {
            copy_codecs.push(name.to_string());
        }
    }
    let audio_language = out
        .audio_language
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty());
    if let Some(l) = audio_language {
        let tag = l.len() <= 35
            && l.split('-').all(|p| {
                (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric())
            });
        if !tag {
            errors.push(field(
                &["output", "audio_language"],
                "a language code such as en, eng or pt-BR",
                "value_error",
            ));
        }
    }
    if asked_copy.len() > 8 {
        errors.push(field(
            &["output", "copy_codecs"],
            "at most 8 entries",
            "value_error",
        ));
    }
    if mode == Mode::Abr && video_codec == VideoCodec::Copy {
        errors.push(field(
            &["output", "video_codec"],
            "ABR renditions cannot copy video",
            "unsupported-combination",
        ));
    }
    let two_pass = out.two_pass.unwrap_or(false);
    let hw_asked = out.hw_accel.and_then(|h| h.kind());
    if two_pass {
        // Never ignored: where two passes cannot run, the request is refused.
        let why = if mode != Mode::Batch {
            Some(format!(
                "two_pass applies to batch jobs; a {} is encoded as it is watched",
                mode.as_str()
            ))
        } else if video_codec == VideoCodec::Copy {
            Some("two_pass needs the video encoded; video_codec copy copies it".to_string())
        } else if video_codec == VideoCodec::Av1 {
            Some("two_pass is not available for av1 (SVT-AV1 here encodes in one pass); use h264, h265 or vp9".to_string())
        } else if hw_asked.is_some_and(|h| h != HwKind::Software) {
            Some("two_pass runs on the software encoder; use hw_accel auto or software".to_string())
        } else {
            None
        };
        if let Some(why) = why {
            errors.push(field(
                &["output", "two_pass"],
                why,
                "unsupported-combination",
            ));
        }
    }
    let bitrate_kbps = match parse_bitrate(out.bitrate.as_deref().unwrap_or("auto")) {
        Ok(b) => b,
        Err(e) => {
            errors.push(field(&["output", "bitrate"], e, "value_error"));
            None
        }
    };
    let max_audio_channels = out.max_audio_channels.unwrap_or(2);
    if !(1..=8).contains(&max_audio_channels) {
        errors.push(field(
            &["output", "max_audio_channels"],
            "must be between 1 and 8",
            "value_error",
        ));
    }
    let start_time = req.start_time.unwrap_or(0.0);
    if !start_time.is_finite() || !(0.0..=1.0e7).contains(&start_time) {
        errors.push(field(
            &["start_time"],
            "must be a finite number of seconds ≥ 0",
            "value_error",
        ));
    }
    let mut subtitles = Vec::new();
    let subs = req.subtitles.clone().unwrap_or_default();
    let max_subs = config.transcoding.max_subtitles as usize;
    if subs.len() > max_subs {
        errors.push(field(
            &["subtitles"],
            format!("at most {max_subs} subtitle tracks (transcoding.max_subtitles)"),
            "value_error",
        ));
    } else {
        for (i, s) in subs.iter().enumerate() {
            let idx = i.to_string();
            match Source::parse(&s.url, roots) {
                Ok(src) => subtitles.push(SubtitleTrack {
                    source: src,
                    label: s
                        .label
                        .clone()
                        .filter(|l| !l.trim().is_empty())
                        .unwrap_or_else(|| {
                            s.language
                                .clone()
                                .unwrap_or_else(|| format!("Subtitle {}", i + 1))
                        }),
                    language: s
                        .language
                        .clone()
                        .filter(|l| !l.trim().is_empty())
                        .unwrap_or_else(|| "und".into()),
                    default: s.default.unwrap_or(false),
                    forced: false,
                    stream: None,
                }),
                Err(e) => errors.push(field(
                    &["subtitles", &idx, "url"],
                    e.to_string(),
                    e.code().as_str(),
                )),
            }
        }
    }
    if let Some(cb) = req.callback_url.as_deref().filter(|c| !c.is_empty()) {
        if let Err(e) = check_callback_url(cb) {
            errors.push(field(&["callback_url"], e.to_string(), e.code().as_str()));
        }
    }
    if let Some(s) = &req.session_id {
        if s.len() > 200 {
            errors.push(field(
                &["session_id"],
                "at most 200 characters",
                "value_error",
            ));
        }
    }
    let Some(source) = source else {
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(JobSpec {
        source_raw,
        source,
        mode,
        format,
        video_codec,
        audio_codec: out.audio_codec.unwrap_or(AudioCodec::Aac),
        resolution: out.resolution.unwrap_or(Resolution::Original),
        bitrate_kbps,
        hw_request: match hw_asked {
            // Two passes are a software encoder's.
            _ if two_pass => Some(HwKind::Software),
            None if !live.prefer_hw_accel => Some(HwKind::Software),
            other => other,
        },
        tone_map: out.tone_map.unwrap_or(config.transcoding.tone_map_hdr),
        two_pass,
        burn_subtitle: out.burn_subtitle,
        max_audio_channels,
        container: out.container,
        copy_codecs,
        audio_language: audio_language.map(String::from),
        start_time,
        subtitles,
        callback_url: req.callback_url.clone().filter(|c| !c.is_empty()),
        session_id: req.session_id.clone().filter(|s| !s.is_empty()),
    })
}

/// The persistent part of a job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: Uuid,
    pub request: StartRequest,
    pub mode: Mode,
    pub source: String,
    pub status: JobStatus,
    pub progress: f64,
    pub current_time: Option<f64>,
    pub duration: Option<f64>,
    pub start_time: f64,
    pub hw_accel_used: Option<HwKind>,
    pub error_message: Option<String>,
    /// A stable code for the cause of an `error`.
    #[serde(default)]
    pub error_code: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub last_access: DateTime<Utc>,
    pub media_info: Option<MediaInfo>,
    pub variants: Option<Vec<Variant>>,
    pub dir: PathBuf,
    /// Batch output file name inside `dir`, once ready.
    pub output_file: Option<String>,
    pub output_bytes: u64,
    pub speed: Option<f64>,
    /// Seconds from the job's creation to its first segment (stream and ABR jobs).
    #[serde(default)]
    pub first_segment_secs: Option<f64>,
    pub control_token: String,
    pub stream_token: String,
    pub stream_revoked: bool,
    pub files_removed: bool,
    /// A live stream's recording: the stream key it was published on. Its files belong to
    /// the live ingest (`<state>/live/<id>`), which keeps and removes them.
    #[serde(default)]
    pub live_key: Option<String>,
    /// Who asked for the job.
    #[serde(default)]
    pub client: Option<ghoststream_types::JobClient>,
    /// Direct, remux or transcode, and why (once probed).
    #[serde(default)]
    pub delivery: Option<ghoststream_types::Delivery>,
}

impl JobRecord {
    /// The answer for clients, without URLs: where the stream and the download are served
    /// is the transport's business (the server's `links`).
    pub fn to_response(&self, eta: Option<u64>, viewers: u32) -> JobResponse {
        JobResponse {
            job_id: self.id.to_string(),
            paused_reason: None,
            health: None,
            error_code: self.error_code.clone(),
            status: self.status,
            progress: (self.progress * 10.0).round() / 10.0,
            stream_url: None,
            download_url: None,
            control_token: Some(self.control_token.clone()),
            duration: self.duration,
            eta_seconds: eta,
            hw_accel_used: self.hw_accel_used,
            error_message: self.error_message.clone(),
            start_time: self.start_time,
            is_shared: viewers > 1,
            viewer_count: viewers,
            variants: self.variants.clone(),
            media_info: self.media_info.clone(),
            current_time: self.current_time,
            created_at: self.created_at,
            started_at: self.started_at,
            completed_at: self.completed_at,
            mode: self.mode,
            source: self.source.clone(),
            client: self.client.clone(),
            delivery: self.delivery.clone(),
            output_size: (self.output_bytes > 0).then_some(self.output_bytes),
            speed: self.speed,
            gpu: None,
        }
    }

    /// The record as lists show it to anyone: no token, no stream or download URL, and
    /// the source and error without credentials or query strings.
    pub fn to_summary(&self, eta: Option<u64>, viewers: u32) -> JobResponse {
        let mut r = self.to_response(eta, viewers);
        r.control_token = None;
        r.source = crate::redact::redact_url(&self.source);
        r.error_message = self
            .error_message
            .as_deref()
            .map(crate::redact::redact_text);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ghoststream_types::{OutputSpec, SubtitleSpec};

    fn req(source: &str) -> StartRequest {
        StartRequest {
            source: Some(source.into()),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_apply() {
        let s = validate(
            &req("http://pi/a.mkv"),
            &Config::default(),
            &Live::from_config(&Config::default()),
        )
        .unwrap();
        assert_eq!(
            (s.mode, s.format, s.video_codec),
            (Mode::Stream, Format::Hls, VideoCodec::H264)
        );
        assert_eq!(s.max_audio_channels, 2);
        assert!(s.tone_map);
        let mut b = req("http://pi/a.mkv");
        b.mode = Some(Mode::Batch);
        assert_eq!(
            validate(
                &b,
                &Config::default(),
                &Live::from_config(&Config::default())
            )
            .unwrap()
            .format,
            Format::Mp4
        );
    }

    #[test]
    fn every_bad_field_is_listed() {
        let r = StartRequest {
            source: Some("file:///etc/passwd".into()),
            start_time: Some(-1.0),
            output: Some(OutputSpec {
                bitrate: Some("999999M".into()),
                max_audio_channels: Some(0),
                ..Default::default()
            }),
            subtitles: Some(vec![SubtitleSpec {
                url: "data:text/vtt,x".into(),
                label: None,
                language: None,
                default: None,
            }]),
            callback_url: Some("concat:x".into()),
            ..Default::default()
        };
        let errs = validate(
            &r,
            &Config::default(),
            &Live::from_config(&Config::default()),
        )
        .unwrap_err();
        let locs: Vec<String> = errs.iter().map(|e| e.loc.join(".")).collect();
        assert_eq!(
            locs,
            [
                "body.source",
                "body.output.bitrate",
                "body.output.max_audio_channels",
                "body.start_time",
                "body.subtitles.0.url",
                "body.callback_url"
            ]
        );
    }

    #[test]
    fn bitrates() {
        assert_eq!(parse_bitrate("auto"), Ok(None));
        assert_eq!(parse_bitrate("8M"), Ok(Some(8000)));
        assert_eq!(parse_bitrate("1500k"), Ok(Some(1500)));
        assert_eq!(parse_bitrate("2500000"), Ok(Some(2500)));
        assert!(parse_bitrate("1e308M").is_err());
        assert!(parse_bitrate("fast").is_err());
        assert!(parse_bitrate("1k").is_err());
    }

    #[test]
    fn vp9_and_av1_streams_are_fmp4_and_refused_in_ts() {
        let cfg = Config::default();
        let live = Live::from_config(&cfg);
        let with = |out: OutputSpec, mode: Mode| {
            let mut r = req("http://pi/a.mkv");
            r.mode = Some(mode);
            r.output = Some(out);
            validate(&r, &cfg, &live)
        };
        for codec in [VideoCodec::Vp9, VideoCodec::Av1] {
            let spec = with(
                OutputSpec {
                    video_codec: Some(codec),
                    ..Default::default()
                },
                Mode::Stream,
            )
            .unwrap();
            assert_eq!(spec.container, None);
            let errs = with(
                OutputSpec {
                    video_codec: Some(codec),
                    container: Some(HlsContainer::Ts),
                    ..Default::default()
                },
                Mode::Stream,
            )
            .unwrap_err();
            assert_eq!(errs[0].loc.join("."), "body.output.container");
        }
        let errs = with(
            OutputSpec {
                container: Some(HlsContainer::Fmp4),
                copy_codecs: Some(vec!["hevc".into()]),
                ..Default::default()
            },
            Mode::Batch,
        )
        .unwrap_err();
        let locs: Vec<String> = errs.iter().map(|e| e.loc.join(".")).collect();
        assert_eq!(locs, ["body.output.container", "body.output.copy_codecs"]);
        let spec = with(
            OutputSpec {
                copy_codecs: Some(vec!["H265".into(), "hevc".into(), "av1".into()]),
                ..Default::default()
            },
            Mode::Stream,
        )
        .unwrap();
        assert_eq!(spec.copy_codecs, ["hevc", "av1"]);
        let errs = with(
            OutputSpec {
                copy_codecs: Some(vec!["mpeg2video".into()]),
                ..Default::default()
            },
            Mode::Stream,
        )
        .unwrap_err();
        assert_eq!(errs[0].loc.join("."), "body.output.copy_codecs.0");
    }
}
