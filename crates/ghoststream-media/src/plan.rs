//! What a job will do with each input stream: copy what is already playable, transcode
//! what is not, and the rendition ladder. Pure functions of the probe and the request.

use ghoststream_types::{
    AudioCodec, Delivery, DeliveryKind, Format, HlsContainer, MediaInfo, Mode, PlanStreams,
    Resolution, StreamAction, StreamPlan, VideoCodec,
};

/// One output picture size and rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendition {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub bitrate_kbps: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum VideoAction {
    None,
    Copy,
    Encode {
        codec: VideoCodec,
        renditions: Vec<Rendition>,
        /// HDR source tone-mapped to SDR BT.709.
        tone_map: bool,
        /// Keep 10-bit output (HDR kept as HDR, h265/av1/vp9 only).
        ten_bit: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum AudioAction {
    None,
    Copy,
    Encode {
        codec: AudioCodec,
        channels: u32,
        bitrate_kbps: u32,
    },
}

/// A stream's audio track as an HLS rendition of its own (`EXT-X-MEDIA:TYPE=AUDIO`), in
/// segments beside the video's.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioRendition {
    /// Input stream index.
    pub index: u32,
    pub action: AudioAction,
    /// The track's language (`und` when it has none) and the name players list.
    pub language: String,
    pub name: String,
    /// Channels written.
    pub channels: u32,
    /// The codec written (ffprobe's name).
    pub codec: String,
    pub default: bool,
}

/// The decided plan for a job.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub video: VideoAction,
    pub audio: AudioAction,
    /// Input stream index of the video and audio we use.
    pub video_index: Option<u32>,
    pub audio_index: Option<u32>,
    /// Batch: every other audio track, by input stream index, after the first.
    pub extra_audio: Vec<(u32, AudioAction)>,
    /// A picture subtitle stream (input stream index) drawn over the video.
    pub burn_subtitle: Option<u32>,
    /// Dolby Vision without a compatible base layer (profile 5): the picture is reshaped
    /// and tone-mapped by libplacebo (Vulkan) instead of zscale.
    pub dovi_reshape: bool,
    /// HDR10/HLG tone-mapped on this GPU tone mapper (its trial passed) instead of
    /// zscale.
    pub gpu_tone: Option<crate::command::GpuTone>,
    /// The back end whose GPU decodes the source (its decode trial passed for this
    /// format); `None`: software decoding.
    pub decode: Option<ghoststream_types::HwKind>,
    /// The per-stream plan, as sent in the `analysis` message and by `/api/probe`.
    pub streams: PlanStreams,
    /// HLS segments are fragmented MP4 with an initialisation section (`#EXT-X-MAP`),
    /// not MPEG-TS.
    pub fmp4: bool,
    /// A stream of a source with several audio tracks: each track is a rendition of its
    /// own and the video outputs carry none. Empty: the first track (if any) is muxed
    /// into each video output.
    pub audio_renditions: Vec<AudioRendition>,
    /// A batch file's audio track (output order) in the language `audio_language`
    /// names: it gets the default flag, the others lose it.
    pub default_audio: Option<usize>,
}

impl Plan {
    /// Renditions written; a copy or audio-only plan has one pseudo-rendition.
    pub fn variant_count(&self) -> usize {
        match &self.video {
            VideoAction::Encode { renditions, .. } => renditions.len().max(1),
            _ => 1,
        }
    }
    pub fn copies_video(&self) -> bool {
        matches!(self.video, VideoAction::Copy)
    }
    /// Outputs an HLS run writes: the video variants, then one per audio rendition.
    pub fn output_count(&self) -> usize {
        self.variant_count() + self.audio_renditions.len()
    }
}

/// What the request asks for, already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Wish {
    pub mode: Mode,
    pub format: Format,
    pub video_codec: VideoCodec,
    pub audio_codec: AudioCodec,
    pub resolution: Resolution,
    /// `None` = auto.
    pub bitrate_kbps: Option<u32>,
    pub tone_map: bool,
    pub max_audio_channels: u32,
    pub abr_max_variants: u32,
    /// HLS segments asked for; `None`: fMP4 where the video codec needs it.
    pub container: Option<HlsContainer>,
    /// Source video codecs (ffprobe's names: `hevc`, `av1`, `vp9`) a stream may pass
    /// through unchanged.
    pub copy_codecs: Vec<String>,
    /// The audio language a stream's players start with (`output.audio_language`).
    pub audio_language: Option<String>,
}

/// The published ladder: never above the source.
pub const LADDER: [(&str, u32, u32); 5] = [
    ("4k", 2160, 20_000),
    ("1080p", 1080, 8_000),
    ("720p", 720, 4_000),
    ("480p", 480, 1_500),
    ("360p", 360, 800),
];

/// Bitrate for `auto` at a given output height.
pub fn auto_bitrate_kbps(height: u32) -> u32 {
    LADDER
        .iter()
        .find(|(_, h, _)| height >= *h)
        .map(|(_, _, b)| *b)
        .unwrap_or(800)
}

fn even(v: f64) -> u32 {
    (((v / 2.0).round() as u32) * 2).max(2)
}

/// Output size for a target height: never upscaled, aspect kept, both sides even.
pub fn scaled_size(src_w: u32, src_h: u32, target_h: Option<u32>) -> (u32, u32) {
    let (src_w, src_h) = (src_w.max(2), src_h.max(2));
    let h = target_h.map(|t| t.min(src_h)).unwrap_or(src_h);
    let w = src_w as f64 * h as f64 / src_h as f64;
    (even(w), even(h as f64))
}

/// Builds the plan.
pub fn decide(media: &MediaInfo, wish: &Wish) -> Plan {
    let mut streams = PlanStreams::default();
    let video = media.video.as_ref();
    let video_action = match video {
        None => VideoAction::None,
        Some(v) => {
            let (action, mut reason) = video_decision(v, wish);
            if let Some(dv) = &v.dolby_vision {
                reason = format!("{}; {reason}", dv.describe());
            }
            let target = match &action {
                VideoAction::Encode { codec, .. } => Some(codec.as_str().to_string()),
                _ => None,
            };
            streams.video = Some(StreamPlan {
                index: v.index,
                codec: v.codec.clone(),
                action: if matches!(action, VideoAction::Copy) {
                    StreamAction::Copy
                } else {
                    StreamAction::Transcode
                },
                target_codec: target,
                reason,
                width: Some(v.width),
                height: Some(v.height),
                fps: Some(v.fps),
                bitrate_kbps: media.bitrate_kbps,
                ..Default::default()
            });
            action
        }
    };
    let dovi_reshape = matches!(video_action, VideoAction::Encode { .. })
        && video
            .and_then(|v| v.dolby_vision)
            .is_some_and(|d| d.needs_reshaping());
    let audio = media.audio.first();
    let audio_action = match audio {
        None => AudioAction::None,
        Some(a) => {
            let (action, reason) = audio_decision(a.codec.as_str(), a.channels, wish);
            streams.audio.push(StreamPlan {
                index: a.index,
                codec: a.codec.clone(),
                action: if matches!(action, AudioAction::Copy) {
                    StreamAction::Copy
                } else {
                    StreamAction::Transcode
                },
                target_codec: match &action {
                    AudioAction::Encode { codec, .. } => Some(codec.as_str().to_string()),
                    _ => None,
                },
                reason,
                channels: Some(a.channels),
                sample_rate: Some(a.sample_rate),
                language: a.language.clone(),
                ..Default::default()
            });
            action
        }
    };
    // A file keeps every audio track, each decided like the first; a stream of a source
    // with several lists each as a rendition of its own.
    let renditions_wanted = wish.mode != Mode::Batch && video.is_some() && media.audio.len() > 1;
    let mut extra_audio = Vec::new();
    for a in media.audio.iter().skip(1) {
        let (action, target_codec, reason) = if wish.mode == Mode::Batch || renditions_wanted {
            let (action, reason) = audio_decision(a.codec.as_str(), a.channels, wish);
            let target = match &action {
                AudioAction::Encode { codec, .. } => Some(codec.as_str().to_string()),
                _ => None,
            };
            let kind = if matches!(action, AudioAction::Copy) {
                StreamAction::Copy
            } else {
                StreamAction::Transcode
            };
            if wish.mode == Mode::Batch {
                extra_audio.push((a.index, action));
            }
            (kind, target, reason)
        } else {
            (
                StreamAction::Drop,
                None,
                "a stream plays the first audio track".into(),
            )
        };
        streams.audio.push(StreamPlan {
            index: a.index,
            codec: a.codec.clone(),
            action,
            target_codec,
            reason,
            channels: Some(a.channels),
            sample_rate: Some(a.sample_rate),
            language: a.language.clone(),
            ..Default::default()
        });
    }
    let audio_renditions = if renditions_wanted {
        audio_renditions(media, wish)
    } else {
        Vec::new()
    };
    for s in &media.subtitles {
        let text = crate::subtitles::is_text(&s.codec);
        let (action, target_codec, reason) = match (wish.mode, text) {
            (Mode::Batch, _) => (
                StreamAction::Drop,
                None,
                "a batch output carries no subtitles",
            ),
            (_, true) => (
                StreamAction::Transcode,
                Some("webvtt".to_string()),
                "a WebVTT rendition of the stream",
            ),
            (_, false) => (
                StreamAction::Drop,
                None,
                "an image track cannot become WebVTT",
            ),
        };
        streams.subtitle.push(StreamPlan {
            index: s.index,
            codec: s.codec.clone(),
            action,
            target_codec,
            reason: reason.into(),
            language: s.language.clone(),
            ..Default::default()
        });
    }
    let fmp4 = wish.format == Format::Hls
        && match wish.container {
            Some(c) => c == HlsContainer::Fmp4,
            None => output_video_codec(&video_action, media).is_some_and(|c| c != "h264"),
        };
    let default_audio = (wish.mode == Mode::Batch && media.audio.len() > 1)
        .then(|| {
            let want = wish.audio_language.as_deref()?;
            media.audio.iter().position(|a| {
                a.language
                    .as_deref()
                    .is_some_and(|l| same_language(l, want))
            })
        })
        .flatten();
    Plan {
        fmp4,
        audio_renditions,
        default_audio,
        video: video_action,
        audio: audio_action,
        video_index: video.map(|v| v.index),
        audio_index: audio.map(|a| a.index),
        extra_audio,
        burn_subtitle: None,
        dovi_reshape,
        gpu_tone: None,
        decode: None,
        streams,
    }
}

/// At most this many audio renditions in a stream (a disc rip can carry dozens of
/// commentary and dub tracks; each is an encoder in every run).
pub const MAX_AUDIO_RENDITIONS: usize = 8;

/// Each audio track of the source as a rendition: decided like the first, named by its
/// title or language, the default the one in `audio_language`, else the source's
/// default, else the first.
fn audio_renditions(media: &MediaInfo, wish: &Wish) -> Vec<AudioRendition> {
    let tracks: Vec<_> = media.audio.iter().take(MAX_AUDIO_RENDITIONS).collect();
    let asked = wish.audio_language.as_deref().and_then(|want| {
        tracks.iter().position(|a| {
            a.language
                .as_deref()
                .is_some_and(|l| same_language(l, want))
        })
    });
    let default = asked
        .or_else(|| tracks.iter().position(|a| a.default))
        .unwrap_or(0);
    tracks
        .iter()
        .enumerate()
        .map(|(k, a)| {
            let (action, _) = audio_decision(a.codec.as_str(), a.channels, wish);
            let (channels, codec) = match &action {
                AudioAction::Encode {
                    codec, channels, ..
                } => (*channels, codec.as_str().to_string()),
                _ => (a.channels, a.codec.clone()),
            };
            let language = a
                .language
                .clone()
                .filter(|l| !l.trim().is_empty())
                .unwrap_or_else(|| "und".into());
            let name = a.title.clone().unwrap_or_else(|| {
                if language == "und" {
                    format!("Audio {}", k + 1)
                } else {
                    language.clone()
                }
            });
            AudioRendition {
                index: a.index,
                action,
                language,
                name,
                channels,
                codec,
                default: k == default,
            }
        })
        .collect()
}

/// Whether two language tags name the same language: equal ignoring case, or an ISO
/// 639-1 code and its ISO 639-2 (bibliographic or terminology) code.
pub fn same_language(a: &str, b: &str) -> bool {
    const PAIRS: [(&str, &str, &str); 24] = [
        ("en", "eng", "eng"),
        ("fr", "fre", "fra"),
        ("de", "ger", "deu"),
        ("es", "spa", "spa"),
        ("it", "ita", "ita"),
        ("pt", "por", "por"),
        ("nl", "dut", "nld"),
        ("sv", "swe", "swe"),
        ("no", "nor", "nor"),
        ("da", "dan", "dan"),
        ("fi", "fin", "fin"),
        ("pl", "pol", "pol"),
        ("cs", "cze", "ces"),
        ("ru", "rus", "rus"),
        ("uk", "ukr", "ukr"),
        ("el", "gre", "ell"),
        ("tr", "tur", "tur"),
        ("ar", "ara", "ara"),
        ("he", "heb", "heb"),
        ("hi", "hin", "hin"),
        ("ja", "jpn", "jpn"),
        ("ko", "kor", "kor"),
        ("zh", "chi", "zho"),
        ("hu", "hun", "hun"),
    ];
    let (a, b) = (a.trim().to_ascii_lowercase(), b.trim().to_ascii_lowercase());
    // A region or script subtag does not change the language: en-US is en.
    let base = |s: &str| s.split(['-', '_']).next().unwrap_or("").to_string();
    let (a, b) = (base(&a), base(&b));
    if a.is_empty() || b.is_empty() {
        return false;
    }
    a == b
        || PAIRS.iter().any(|(one, bib, term)| {
            let names = [*one, *bib, *term];
            names.contains(&a.as_str()) && names.contains(&b.as_str())
        })
}

/// The codec the container can carry: webm takes vp9/av1 only.
pub fn effective_video_codec(wish: &Wish) -> VideoCodec {
    match (wish.format, wish.video_codec) {
        (Format::Webm, VideoCodec::H264 | VideoCodec::H265) => VideoCodec::Vp9,
        (_, c) => c,
    }
}

/// The codec (ffprobe's name) of the video a plan writes, `None` without video.
pub fn output_video_codec<'a>(video: &VideoAction, media: &'a MediaInfo) -> Option<&'a str> {
    match video {
        VideoAction::Encode { codec, .. } => Some(source_name(*codec)),
        VideoAction::Copy => media.video.as_ref().map(|v| v.codec.as_str()),
        VideoAction::None => None,
    }
}

/// ffprobe's name for an encoder's codec.
pub fn source_name(codec: VideoCodec) -> &'static str {
    match codec {
        VideoCodec::H265 => "hevc",
        VideoCodec::Av1 => "av1",
        VideoCodec::Vp9 => "vp9",
        _ => "h264",
    }
}

/// Source codecs `output.copy_codecs` may name, and what each can be segmented in.
pub const PASS_THROUGH: [&str; 3] = ["hevc", "av1", "vp9"];

fn video_decision(v: &ghoststream_types::VideoInfo, wish: &Wish) -> (VideoAction, String) {
    let codec = effective_video_codec(wish);
    if codec == VideoCodec::Copy {
        return (VideoAction::Copy, "copy requested".into());
    }
    let hdr = v.dynamic_range != "sdr";
    let reshape = v.dolby_vision.is_some_and(|d| d.needs_reshaping());
    let target_h = wish.resolution.height();
    let needs_scale = target_h.is_some_and(|t| t < v.height);
    // A stream may pass the source's own HEVC, AV1 or VP9 through where the request lists
    // it (and asks for no other codec): the client says its players decode it. MPEG-TS
    // carries only HEVC of these.
    let passes = wish.mode == Mode::Stream
        && wish.copy_codecs.contains(&v.codec)
        && (codec == VideoCodec::H264 || source_name(codec) == v.codec)
        && (v.codec == "hevc" || wish.container != Some(HlsContainer::Ts));
    let playable_pix =
        |p: &str| p == "yuv420p" || p == "yuvj420p" || (passes && p == "yuv420p10le");
    let blockers: Vec<String> = [
        (wish.mode == Mode::Abr).then(|| "ABR needs several renditions".to_string()),
        (codec != VideoCodec::H264 && !passes).then(|| format!("{} requested", codec.as_str())),
        (v.codec != "h264" && !passes).then(|| format!("{} is not browser-playable", v.codec)),
        (v.bit_depth > 8 && !passes).then(|| format!("{}-bit video", v.bit_depth)),
        (v.pix_fmt.as_deref().is_some_and(|p| !playable_pix(p)))
            .then(|| format!("pixel format {}", v.pix_fmt.as_deref().unwrap_or("?"))),
        (hdr && (wish.tone_map || !passes))
            .then(|| format!("{} needs tone mapping", v.dynamic_range)),
        reshape.then(|| "Dolby Vision without a compatible base layer".to_string()),
        (v.codec == "h264" && v.level.is_some_and(|l| l > 42))
            .then(|| format!("level {:.1} above 4.2", v.level.unwrap_or(0) as f64 / 10.0)),
        needs_scale.then(|| format!("scaling to {}", wish.resolution.as_str())),
        wish.bitrate_kbps.map(|b| format!("bitrate {b}k requested")),
        (wish.format == Format::Webm).then(|| "webm needs vp9/av1".to_string()),
    ]
    .into_iter()
    .flatten()
    .collect();
    if blockers.is_empty() {
        let why = if v.codec == "h264" {
            "already H.264 8-bit SDR at level ≤ 4.2".to_string()
        } else {
            format!("{} passed through (output.copy_codecs lists it)", v.codec)
        };
        return (VideoAction::Copy, why);
    }
    // Profile 5's picture is wrong (green and purple) until reshaped: always converted.
    let tone_map = (hdr && wish.tone_map) || reshape;
    let ten_bit = hdr && !wish.tone_map && !reshape && codec != VideoCodec::H264;
    let renditions = match wish.mode {
        Mode::Abr => ladder(v.width, v.height, target_h, wish),
        _ => {
            let (w, h) = scaled_size(v.width, v.height, target_h);
            vec![Rendition {
                name: format!("{h}p"),
                width: w,
                height: h,
                bitrate_kbps: wish.bitrate_kbps.unwrap_or_else(|| auto_bitrate_kbps(h)),
            }]
        }
    };
    (
        VideoAction::Encode {
            codec,
            renditions,
            tone_map,
            ten_bit,
        },
        blockers.join("; "),
    )
}

/// Heights a stream steps down through when it cannot keep up: the ladder, then 240p.
const STEP_HEIGHTS: [u32; 6] = [2160, 1080, 720, 480, 360, 240];

/// The plan one rung lower, for a stream that cannot keep up: each encoded rendition
/// moves to the next height below its own (not below 240p), at that rung's bitrate or
/// less; `None` when nothing can go lower. Same renditions, so the same URLs.
pub fn step_down(plan: &Plan) -> Option<(Plan, String)> {
    let VideoAction::Encode { renditions, .. } = &plan.video else {
        return None;
    };
    let mut lowered = renditions.clone();
    let mut said = Vec::new();
    for r in lowered.iter_mut() {
        let Some(target) = STEP_HEIGHTS.iter().copied().find(|h| *h < r.height) else {
            continue;
        };
        let (w, h) = scaled_size(r.width, r.height, Some(target));
        let cap = if h < 360 { 400 } else { auto_bitrate_kbps(h) };
        said.push(format!("{}p → {}p", r.height, h));
        r.width = w;
        r.height = h;
        r.bitrate_kbps = r.bitrate_kbps.min(cap);
    }
    if said.is_empty() {
        return None;
    }
    let mut next = plan.clone();
    if let VideoAction::Encode { renditions, .. } = &mut next.video {
        *renditions = lowered;
    }
    Some((next, said.join(", ")))
}

/// ABR rungs: the published ladder, never above the source (or the requested cap), at
/// most `abr_max_variants`; a source below the lowest rung gets one rung at its own size.
pub fn ladder(src_w: u32, src_h: u32, cap_h: Option<u32>, wish: &Wish) -> Vec<Rendition> {
    let top = cap_h.map(|c| c.min(src_h)).unwrap_or(src_h);
    let mut rungs: Vec<Rendition> = LADDER
        .iter()
        .filter(|(_, h, _)| *h <= top)
        .take(wish.abr_max_variants.max(1) as usize)
        .map(|(name, h, kbps)| {
            let (w, h) = scaled_size(src_w, src_h, Some(*h));
            Rendition {
                name: (*name).to_string(),
                width: w,
                height: h,
                bitrate_kbps: *kbps,
            }
        })
        .collect();
    if rungs.is_empty() {
        let (w, h) = scaled_size(src_w, src_h, None);
        rungs.push(Rendition {
            name: format!("{h}p"),
            width: w,
            height: h,
            bitrate_kbps: wish.bitrate_kbps.unwrap_or_else(|| auto_bitrate_kbps(h)),
        });
    }
    rungs
}

/// What a plan does with its source, in the words a player's owner reads: direct,
/// remux or transcode, why, the encoder (`hw` picks it), and the picture in and out.
pub fn delivery(
    plan: &Plan,
    media: &MediaInfo,
    format: Format,
    hw: ghoststream_types::HwKind,
) -> Delivery {
    let input = media
        .video
        .as_ref()
        .map(|v| format!("{}x{}", v.width, v.height));
    let video_reason = plan.streams.video.as_ref().map(|v| v.reason.clone());
    let audio_encoded: Vec<String> = plan
        .streams
        .audio
        .iter()
        .filter(|a| a.action == StreamAction::Transcode)
        .map(|a| a.reason.clone())
        .collect();
    let audio_note = (!audio_encoded.is_empty())
        .then(|| format!("audio converted: {}", audio_encoded.join(", ")));
    let join = |a: String, b: Option<String>| match b {
        Some(b) => format!("{a}; {b}"),
        None => a,
    };
    match &plan.video {
        VideoAction::Encode {
            codec, renditions, ..
        } => Delivery {
            kind: DeliveryKind::Transcode,
            reason: join(video_reason.unwrap_or_default(), audio_note),
            encoder: crate::command::encoder_name(*codec, hw).map(str::to_string),
            input,
            output: Some(
                renditions
                    .iter()
                    .map(|r| format!("{}x{}", r.width, r.height))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        },
        VideoAction::Copy => {
            let same = match format {
                Format::Mp4 => media.container.contains("mp4"),
                Format::Mkv => media.container.contains("matroska"),
                Format::Webm => media.container.contains("webm"),
                Format::Hls => false,
            };
            let direct = same && audio_encoded.is_empty();
            let why = video_reason.unwrap_or_default();
            Delivery {
                kind: if direct {
                    DeliveryKind::Direct
                } else {
                    DeliveryKind::Remux
                },
                reason: if direct {
                    format!("the picture and sound play as they are ({why})")
                } else {
                    join(
                        format!("picture copied into {} ({why})", format.as_str()),
                        audio_note,
                    )
                },
                encoder: None,
                output: input.clone(),
                input,
            }
        }
        VideoAction::None => Delivery {
            kind: if audio_encoded.is_empty() {
                DeliveryKind::Remux
            } else {
                DeliveryKind::Transcode
            },
            reason: audio_note.unwrap_or_else(|| "sound only, copied".into()),
            encoder: None,
            input: None,
            output: None,
        },
    }
}

fn audio_decision(codec: &str, channels: u32, wish: &Wish) -> (AudioAction, String) {
    let max_ch = wish.max_audio_channels.max(1);
    let channels_out = channels.clamp(1, max_ch);
    let wanted = match (wish.format, wish.audio_codec) {
        (_, AudioCodec::Copy) => return (AudioAction::Copy, "copy requested".into()),
        (Format::Webm, AudioCodec::Opus) => AudioCodec::Opus,
        (Format::Webm, _) => AudioCodec::Opus,
        (Format::Hls, AudioCodec::Opus | AudioCodec::Flac) => AudioCodec::Aac,
        (_, c) => c,
    };
    let copyable = match wanted {
        AudioCodec::Aac => codec == "aac" || (codec == "mp3" && wish.format != Format::Webm),
        other => codec == other.as_str(),
    };
    if copyable && channels <= max_ch && wish.mode != Mode::Abr {
        return (
            AudioAction::Copy,
            format!("already {codec}, {channels} channels"),
        );
    }
    let reason = if copyable {
        if channels > max_ch {
            format!("{channels} channels above max_audio_channels {max_ch}")
        } else {
            "ABR renditions carry their own audio".into()
        }
    } else {
        format!("{codec} → {}", wanted.as_str())
    };
    let bitrate_kbps = match wanted {
        AudioCodec::Opus => (48 * channels_out).clamp(64, 256),
        _ => (64 * channels_out).clamp(96, 448),
    };
    (
        AudioAction::Encode {
            codec: wanted,
            channels: channels_out,
            bitrate_kbps,
        },
        reason,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ghoststream_types::{AudioInfo, VideoInfo};

    fn media(
        codec: &str,
        w: u32,
        h: u32,
        depth: u32,
        range: &str,
        acodec: &str,
        ch: u32,
    ) -> MediaInfo {
        MediaInfo {
            duration: 10.0,
            video: Some(VideoInfo {
                codec: codec.into(),
                width: w,
                height: h,
                bit_depth: depth,
                level: Some(40),
                pix_fmt: Some(if depth > 8 { "yuv420p10le" } else { "yuv420p" }.into()),
                dynamic_range: range.into(),
                ..Default::default()
            }),
            audio: vec![AudioInfo {
                index: 1,
                codec: acodec.into(),
                channels: ch,
                sample_rate: 48000,
                language: None,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn wish(mode: Mode, res: Resolution) -> Wish {
        Wish {
            mode,
            format: if mode == Mode::Batch {
                Format::Mp4
            } else {
                Format::Hls
            },
            video_codec: VideoCodec::H264,
            audio_codec: AudioCodec::Aac,
            resolution: res,
            bitrate_kbps: None,
            tone_map: true,
            max_audio_channels: 2,
            abr_max_variants: 4,
            container: None,
            copy_codecs: Vec::new(),
            audio_language: None,
        }
    }

    #[test]
    fn playable_source_is_copied() {
        let p = decide(
            &media("h264", 1920, 1080, 8, "sdr", "aac", 2),
            &wish(Mode::Stream, Resolution::Original),
        );
        assert_eq!(p.video, VideoAction::Copy);
        assert_eq!(p.audio, AudioAction::Copy);
    }

    #[test]
    fn delivery_names_what_happens_and_why() {
        use ghoststream_types::HwKind;
        // Copied picture, surround sound converted: a remux into HLS, and it says why.
        let m = media("h264", 1280, 720, 8, "sdr", "aac", 6);
        let p = decide(&m, &wish(Mode::Stream, Resolution::Original));
        let d = delivery(&p, &m, Format::Hls, HwKind::Software);
        assert_eq!(d.kind, DeliveryKind::Remux);
        assert_eq!(d.encoder, None);
        assert_eq!(
            (d.input.as_deref(), d.output.as_deref()),
            (Some("1280x720"), Some("1280x720"))
        );
        assert!(d.reason.contains("picture copied into hls"), "{}", d.reason);
        assert!(d.reason.contains("6 channels above"), "{}", d.reason);
        // The same source into an MP4 from an MP4, nothing converted: direct.
        let mut mp4 = media("h264", 1280, 720, 8, "sdr", "aac", 2);
        mp4.container = "mov,mp4,m4a,3gp,3g2,mj2".into();
        let p = decide(&mp4, &wish(Mode::Batch, Resolution::Original));
        assert_eq!(
            delivery(&p, &mp4, Format::Mp4, HwKind::Software).kind,
            DeliveryKind::Direct
        );
        // HEVC HDR scaled to 1080p: a transcode naming the encoder and both sizes.
        let m = media("hevc", 3840, 2160, 10, "hdr10", "eac3", 6);
        let p = decide(&m, &wish(Mode::Stream, Resolution::P1080));
        let d = delivery(&p, &m, Format::Hls, HwKind::Vaapi);
        assert_eq!(d.kind, DeliveryKind::Transcode);
        assert_eq!(d.encoder.as_deref(), Some("h264_vaapi"));
        assert_eq!(
            (d.input.as_deref(), d.output.as_deref()),
            (Some("3840x2160"), Some("1920x1080"))
        );
        assert!(
            d.reason.contains("hevc is not browser-playable"),
            "{}",
            d.reason
        );
        assert!(
            d.reason.contains("audio converted: eac3 → aac"),
            "{}",
            d.reason
        );
    }

    #[test]
    fn surround_aac_is_downmixed_but_video_copied() {
        let p = decide(
            &media("h264", 1280, 720, 8, "sdr", "aac", 6),
            &wish(Mode::Stream, Resolution::Original),
        );
        assert_eq!(p.video, VideoAction::Copy);
        assert!(matches!(p.audio, AudioAction::Encode { channels: 2, .. }));
    }

    #[test]
    fn hevc_10bit_hdr_is_tone_mapped() {
        let p = decide(
            &media("hevc", 3840, 2160, 10, "hdr10", "eac3", 6),
            &wish(Mode::Stream, Resolution::P1080),
        );
        match p.video {
            VideoAction::Encode {
                tone_map,
                ref renditions,
                ten_bit,
                ..
            } => {
                assert!(tone_map);
                assert!(!ten_bit);
                assert_eq!((renditions[0].width, renditions[0].height), (1920, 1080));
                assert_eq!(renditions[0].bitrate_kbps, 8000);
            }
            ref other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ten_bit_sdr_is_not_tone_mapped() {
        let p = decide(
            &media("hevc", 1920, 1080, 10, "sdr", "aac", 2),
            &wish(Mode::Stream, Resolution::Original),
        );
        assert!(matches!(
            p.video,
            VideoAction::Encode {
                tone_map: false,
                ..
            }
        ));
    }

    #[test]
    fn never_upscales_and_keeps_even_sizes() {
        assert_eq!(scaled_size(640, 360, Some(1080)), (640, 360));
        assert_eq!(scaled_size(1920, 800, Some(720)), (1728, 720));
        assert_eq!(scaled_size(853, 480, Some(360)), (640, 360));
        assert_eq!(scaled_size(161, 91, None), (162, 92));
        assert_eq!(scaled_size(1920, 1080, Some(480)), (854, 480));
    }

    #[test]
    fn step_down_lowers_each_rung_once_and_stops_at_240p() {
        let p = decide(
            &media("hevc", 1280, 720, 8, "sdr", "aac", 2),
            &wish(Mode::Abr, Resolution::Original),
        );
        let (once, said) = step_down(&p).unwrap();
        assert_eq!(said, "720p → 480p, 480p → 360p, 360p → 240p");
        let VideoAction::Encode { renditions, .. } = &once.video else {
            panic!()
        };
        let sizes: Vec<_> = renditions
            .iter()
            .map(|r| (r.name.as_str(), r.width, r.height, r.bitrate_kbps))
            .collect();
        assert_eq!(
            sizes,
            [
                ("720p", 854, 480, 1500),
                ("480p", 640, 360, 800),
                ("360p", 426, 240, 400)
            ]
        );
        let (twice, said) = step_down(&once).unwrap();
        assert_eq!(said, "480p → 360p, 360p → 240p");
        let (thrice, said) = step_down(&twice).unwrap();
        assert_eq!(said, "360p → 240p");
        assert!(step_down(&thrice).is_none(), "nothing goes below 240p");
        // A copy has nothing to step down.
        let copy = decide(
            &media("h264", 1280, 720, 8, "sdr", "aac", 2),
            &wish(Mode::Stream, Resolution::Original),
        );
        assert!(step_down(&copy).is_none());
    }

    #[test]
    fn abr_ladder_stops_at_the_source() {
        let p = decide(
            &media("h264", 1280, 720, 8, "sdr", "aac", 2),
            &wish(Mode::Abr, Resolution::Original),
        );
        let VideoAction::Encode { renditions, .. } = p.video else {
            panic!()
        };
        let names: Vec<_> = renditions.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["720p", "480p", "360p"]);
        assert_eq!((renditions[1].width, renditions[1].height), (854, 480));
        let tiny = decide(
            &media("h264", 320, 180, 8, "sdr", "aac", 2),
            &wish(Mode::Abr, Resolution::Original),
        );
        let VideoAction::Encode { renditions, .. } = tiny.video else {
            panic!()
        };
        assert_eq!(renditions.len(), 1);
        assert_eq!((renditions[0].width, renditions[0].height), (320, 180));
    }

    #[test]
    fn webm_gets_vp9_and_opus() {
        let mut w = wish(Mode::Batch, Resolution::Original);
        w.format = Format::Webm;
        let p = decide(&media("h264", 640, 360, 8, "sdr", "aac", 2), &w);
        assert!(matches!(
            p.video,
            VideoAction::Encode {
                codec: VideoCodec::Vp9,
                ..
            }
        ));
        assert!(matches!(
            p.audio,
            AudioAction::Encode {
                codec: AudioCodec::Opus,
                ..
            }
        ));
    }
}
