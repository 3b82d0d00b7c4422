//! Typed ffmpeg argv building. Each mode has one builder; the full command is logged at
//! debug and kept in the job log.
//!
//! Longer than 500 lines on purpose: the builders share the filter-graph and encoder
//! helpers, and the argv snapshot tests sit next to what they pin.

use crate::plan::{AudioAction, Plan, Rendition, VideoAction};
use crate::source::{InputRules, Source};
use ghoststream_types::{AudioCodec, Format, HwKind, VideoCodec};
use std::path::{Path, PathBuf};

/// An argv under construction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Argv(Vec<String>);

impl Argv {
    pub fn new() -> Self {
        Argv(Vec::new())
    }
    pub fn arg(&mut self, a: impl Into<String>) -> &mut Self {
        self.0.push(a.into());
        self
    }
    pub fn opt(&mut self, k: &str, v: impl Into<String>) -> &mut Self {
        self.0.push(k.to_string());
        self.0.push(v.into());
        self
    }
    pub fn args(&self) -> &[String] {
        &self.0
    }
    /// Shell-quoted, for logs and the job's `/log`.
    pub fn to_cmd_string(&self, program: &str) -> String {
        std::iter::once(program.to_string())
            .chain(self.0.iter().map(|a| shell_quote(a)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn shell_quote(a: &str) -> String {
    if !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+%@".contains(c))
    {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', r"'\''"))
    }
}

/// Seconds with millisecond precision, as ffmpeg reads them.
pub fn secs(v: f64) -> String {
    format!("{:.3}", v.max(0.0))
}

fn common_head(argv: &mut Argv) {
    argv.arg("-hide_banner")
        .opt("-loglevel", "level+warning")
        .arg("-nostdin")
        .arg("-nostats")
        .opt("-progress", "pipe:1")
        .opt("-stats_period", "0.5")
        .arg("-y");
}

/// Render node used for VAAPI.
pub const VAAPI_DEVICE: &str = "/dev/dri/renderD128";

fn hw_globals(argv: &mut Argv, hw: HwKind, gpu_scale: bool) {
    match hw {
        HwKind::Vaapi => {
            argv.opt("-vaapi_device", VAAPI_DEVICE);
        }
        // scale_qsv needs a QSV device for the upload.
        HwKind::Qsv if gpu_scale => {
            argv.opt("-init_hw_device", "qsv=qs")
                .opt("-filter_hw_device", "qs");
        }
        _ => {}
    }
}

/// Input options that decode on a back end's GPU and keep the frames there.
pub fn hw_decode_args(kind: HwKind, codec: &str) -> Vec<String> {
    let v: Vec<String> = match kind {
        HwKind::Nvenc => vec!["-hwaccel", "cuda", "-hwaccel_output_format", "cuda"]
            .into_iter()
            .map(String::from)
            .collect(),
        HwKind::Vaapi => vec![
            "-hwaccel",
            "vaapi",
            "-hwaccel_device",
            VAAPI_DEVICE,
            "-hwaccel_output_format",
            "vaapi",
        ]
        .into_iter()
        .map(String::from)
        .collect(),
        // QSV decodes with its own decoders.
        HwKind::Qsv => vec![
            "-hwaccel".into(),
            "qsv".into(),
            "-hwaccel_output_format".into(),
            "qsv".into(),
            "-c:v".into(),
            format!("{codec}_qsv"),
        ],
        _ => Vec::new(),
    };
    v
}

/// The filter that draws picture subtitles on frames decoded on `kind`'s GPU, without
/// reading them back: CUDA's (NVIDIA). The subtitle pictures are uploaded to the device
/// the decoder uses ([`OVERLAY_DEVICE`]).
pub fn gpu_overlay(kind: HwKind) -> Option<&'static str> {
    (kind == HwKind::Nvenc).then_some("overlay_cuda")
}

/// The CUDA device the decoder, the subtitle upload and `overlay_cuda` share.
const OVERLAY_DEVICE: &str = "gs_cu";

/// Whether a plan draws its subtitles on the GPU that decodes it.
fn overlays_on_gpu(plan: &Plan) -> bool {
    plan.burn_subtitle.is_some() && plan.decode.and_then(gpu_overlay).is_some()
}

/// The GPU a plan's video is decoded on: its `decode`, unless subtitles are to be drawn
/// and that GPU has no overlay (then the frames are decoded in software, where they are).
fn gpu_decode(plan: &Plan) -> Option<HwKind> {
    plan.decode
        .filter(|k| plan.burn_subtitle.is_none() || gpu_overlay(*k).is_some())
}

/// The device the GPU overlay shares with the decoder, as global options.
fn overlay_globals(a: &mut Argv, plan: &Plan) {
    if overlays_on_gpu(plan) {
        a.opt("-init_hw_device", format!("cuda={OVERLAY_DEVICE}"))
            .opt("-filter_hw_device", OVERLAY_DEVICE);
    }
}

/// A two-frame trial of the GPU overlay: the H.264 sample decoded on `kind`, a
/// half-transparent picture uploaded and drawn over it there, scaled and read back.
pub fn trial_overlay(kind: HwKind, sample: &Path) -> Option<Argv> {
    let filter = gpu_overlay(kind)?;
    let mut a = Argv::new();
    a.arg("-hide_banner")
        .opt("-loglevel", "level+error")
        .arg("-nostdin")
        .opt("-init_hw_device", format!("cuda={OVERLAY_DEVICE}"))
        .opt("-filter_hw_device", OVERLAY_DEVICE);
    for x in hw_decode_args(kind, "h264") {
        a.arg(x);
    }
    a.opt("-hwaccel_device", OVERLAY_DEVICE)
        .opt("-i", sample.to_string_lossy().into_owned())
        .opt("-f", "lavfi")
        .opt("-i", "color=c=white@0.5:s=64x32:r=25,format=yuva420p")
        .opt(
            "-filter_complex",
            format!(
                "[1:v]format=yuva420p,hwupload[gs_sub];[0:v][gs_sub]{filter}=eof_action=pass,{},hwdownload,format=nv12",
                gpu_scale_decoded(kind, 128, 72)
            ),
        )
        .opt("-frames:v", "2")
        .opt("-f", "null")
        .arg("-");
    Some(a)
}

/// A GPU scaler for frames already on that GPU (decoded there), converting to 8-bit
/// NV12 on the way.
fn gpu_scale_decoded(kind: HwKind, w: u32, h: u32) -> String {
    match kind {
        HwKind::Nvenc => format!("scale_cuda=w={w}:h={h}:format=nv12"),
        HwKind::Vaapi => format!("scale_vaapi=w={w}:h={h}:format=nv12"),
        HwKind::Qsv => format!("scale_qsv=w={w}:h={h}:format=nv12"),
        _ => format!("scale={w}:{h}"),
    }
}

/// A back end's device opened and used once: whether decoding on it can be tried.
pub fn trial_device(kind: HwKind) -> Argv {
    let mut a = Argv::new();
    a.arg("-hide_banner")
        .opt("-loglevel", "level+error")
        .arg("-nostdin");
    let dev = match kind {
        HwKind::Nvenc => "cuda=gs".to_string(),
        HwKind::Vaapi => format!("vaapi=gs:{VAAPI_DEVICE}"),
        HwKind::Qsv => "qsv=gs".to_string(),
        _ => "none".to_string(),
    };
    a.opt("-init_hw_device", dev)
        .opt("-f", "lavfi")
        .opt("-i", "color=c=black:s=64x64:r=25")
        .opt("-frames:v", "1")
        .opt("-f", "null")
        .arg("-");
    a
}

/// Two frames of a source format, made with the software encoders, for decode trials.
pub fn decode_sample(codec: &str, ten_bit: bool, out: &Path) -> Argv {
    let mut a = Argv::new();
    a.arg("-hide_banner")
        .opt("-loglevel", "level+error")
        .arg("-nostdin")
        .arg("-y")
        .opt("-f", "lavfi")
        .opt("-i", "testsrc2=s=256x144:r=25")
        .opt("-frames:v", "2")
        .opt("-pix_fmt", if ten_bit { "yuv420p10le" } else { "yuv420p" });
    match codec {
        "h264" => a.opt("-c:v", "libx264"),
        "hevc" => a
            .opt("-c:v", "libx265")
            .opt("-x265-params", "log-level=error"),
        "av1" => a.opt("-c:v", "libsvtav1"),
        _ => a.opt("-c:v", "libvpx-vp9").opt("-deadline", "realtime"),
    };
    a.opt("-f", "matroska")
        .arg(out.to_string_lossy().into_owned());
    a
}

/// One frame of `sample` decoded on the back end's GPU, scaled there and read back: the
/// path a job that decodes on it takes.
pub fn trial_decode(kind: HwKind, codec: &str, sample: &Path) -> Argv {
    let mut a = Argv::new();
    a.arg("-hide_banner")
        .opt("-loglevel", "level+error")
        .arg("-nostdin");
    for x in hw_decode_args(kind, codec) {
        a.arg(x);
    }
    a.opt("-i", sample.to_string_lossy().into_owned())
        .opt("-frames:v", "1")
        .opt(
            "-vf",
            format!(
                "{},hwdownload,format=nv12",
                gpu_scale_decoded(kind, 128, 72)
            ),
        )
        .opt("-f", "null")
        .arg("-");
    a
}

/// Upload and scaler filters of a back end whose GPU scaler can take the frames after
/// decoding: (pixel format to upload, upload filter, scaler with `{w}`/`{h}`).
fn gpu_scaler(hw: HwKind, ten_bit: bool) -> Option<(&'static str, &'static str, &'static str)> {
    let pix = if ten_bit { "p010le" } else { "nv12" };
    match hw {
        HwKind::Nvenc => Some((pix, "hwupload_cuda", "scale_cuda={w}:{h}")),
        HwKind::Vaapi => Some((pix, "hwupload", "scale_vaapi=w={w}:h={h}")),
        HwKind::Qsv => Some((pix, "hwupload=extra_hw_frames=64", "scale_qsv=w={w}:h={h}")),
        _ => None,
    }
}

/// ffmpeg encoder name for a codec on a back end, if that pair exists.
pub fn encoder_name(codec: VideoCodec, hw: HwKind) -> Option<&'static str> {
    use HwKind::*;
    use VideoCodec::*;
    Some(match (codec, hw) {
        (H264, Software) => "libx264",
        (H265, Software) => "libx265",
        (Vp9, Software) => "libvpx-vp9",
        (Av1, Software) => "libsvtav1",
        (H264, Nvenc) => "h264_nvenc",
        (H265, Nvenc) => "hevc_nvenc",
        (Av1, Nvenc) => "av1_nvenc",
        (H264, Qsv) => "h264_qsv",
        (H265, Qsv) => "hevc_qsv",
        (Vp9, Qsv) => "vp9_qsv",
        (Av1, Qsv) => "av1_qsv",
        (H264, Vaapi) => "h264_vaapi",
        (H265, Vaapi) => "hevc_vaapi",
        (Vp9, Vaapi) => "vp9_vaapi",
        (Av1, Vaapi) => "av1_vaapi",
        (H264, Videotoolbox) => "h264_videotoolbox",
        (H265, Videotoolbox) => "hevc_videotoolbox",
        (H264, Amf) => "h264_amf",
        (H265, Amf) => "hevc_amf",
        (Av1, Amf) => "av1_amf",
        _ => return None,
    })
}

/// Dolby Vision reshaping and tone mapping to SDR BT.709 on the GPU (Vulkan), back in
/// system memory after; the input device is `-filter_hw_device` ([`vulkan_globals`]).
pub const PLACEBO: &str = "hwupload,libplacebo=format=yuv420p:colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=tv:tonemapping=auto:apply_dolbyvision=1,hwdownload,format=yuv420p";

/// A GPU tone mapper: HDR10/HLG to SDR before the encoder, proven by a trial at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuTone {
    /// libplacebo on a Vulkan GPU.
    Placebo,
    /// `tonemap_opencl` on an OpenCL GPU.
    OpenCl,
    /// `tonemap_vaapi` on the VAAPI device (Intel).
    Vaapi,
}

impl GpuTone {
    /// In the order they are preferred.
    pub const ALL: [GpuTone; 3] = [GpuTone::Placebo, GpuTone::OpenCl, GpuTone::Vaapi];

    /// The ffmpeg filter's name.
    pub fn filter(self) -> &'static str {
        match self {
            GpuTone::Placebo => "libplacebo",
            GpuTone::OpenCl => "tonemap_opencl",
            GpuTone::Vaapi => "tonemap_vaapi",
        }
    }

    pub fn parse(s: &str) -> Option<GpuTone> {
        GpuTone::ALL
            .into_iter()
            .find(|t| t.filter() == s || t.short() == s)
    }

    fn short(self) -> &'static str {
        match self {
            GpuTone::Placebo => "libplacebo",
            GpuTone::OpenCl => "opencl",
            GpuTone::Vaapi => "vaapi",
        }
    }

    /// Whether it can run beside the encoder on `hw`: its filter device is ffmpeg's one
    /// filter device, which VAAPI and QSV uploads need for their own (`tonemap_vaapi`
    /// shares VAAPI's).
    pub fn fits(self, hw: HwKind) -> bool {
        match self {
            GpuTone::Placebo | GpuTone::OpenCl => !matches!(hw, HwKind::Vaapi | HwKind::Qsv),
            GpuTone::Vaapi => hw != HwKind::Qsv,
        }
    }

    /// Global options that open its device as the filter device (none where the
    /// encoder's globals already did: VAAPI on VAAPI).
    fn globals(self, a: &mut Argv, hw: HwKind) {
        match self {
            GpuTone::Placebo => vulkan_globals(a),
            GpuTone::OpenCl => {
                a.opt("-init_hw_device", "opencl=gs_cl")
                    .opt("-filter_hw_device", "gs_cl");
            }
            GpuTone::Vaapi if hw == HwKind::Vaapi => {}
            GpuTone::Vaapi => {
                a.opt("-init_hw_device", format!("vaapi=gs_va:{VAAPI_DEVICE}"))
                    .opt("-filter_hw_device", "gs_va");
            }
        }
    }
}

/// The first proven GPU tone mapper that fits beside the encoder on `hw`.
pub fn pick_gpu_tone(proven: &[GpuTone], hw: HwKind) -> Option<GpuTone> {
    proven.iter().copied().find(|t| t.fits(hw))
}

/// How a picture comes to SDR before scaling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    None,
    /// HDR10/HLG through zscale and `tonemap` (software).
    Zscale,
    /// Dolby Vision reshaping (profile 5) and tone mapping with libplacebo, or HDR10/HLG
    /// tone-mapped by libplacebo on a Vulkan GPU.
    Placebo,
    /// HDR10/HLG tone-mapped by `tonemap_opencl`.
    OpenCl,
    /// HDR10/HLG tone-mapped by `tonemap_vaapi`.
    Vaapi,
}

impl Tone {
    pub fn of(tone_map: bool, dovi_reshape: bool, gpu: Option<GpuTone>) -> Tone {
        match (dovi_reshape, tone_map, gpu) {
            (true, _, _) => Tone::Placebo,
            (false, true, Some(GpuTone::Placebo)) => Tone::Placebo,
            (false, true, Some(GpuTone::OpenCl)) => Tone::OpenCl,
            (false, true, Some(GpuTone::Vaapi)) => Tone::Vaapi,
            (false, true, None) => Tone::Zscale,
            (false, false, _) => Tone::None,
        }
    }
    fn stage(self) -> Option<&'static str> {
        match self {
            Tone::None => None,
            Tone::Zscale => Some(TONE_MAP),
            Tone::Placebo => Some(PLACEBO),
            Tone::OpenCl => Some(TONE_OPENCL),
            Tone::Vaapi => Some(TONE_VAAPI),
        }
    }
}

/// The Vulkan device libplacebo runs on.
pub fn vulkan_globals(a: &mut Argv) {
    a.opt("-init_hw_device", "vulkan=gs_vk")
        .opt("-filter_hw_device", "gs_vk");
}

/// HDR10/HLG to SDR BT.709 on an OpenCL GPU: uploaded, tone-mapped, read back.
const TONE_OPENCL: &str = "format=p010le,hwupload,tonemap_opencl=tonemap=hable:desat=0:t=bt709:m=bt709:p=bt709:r=tv:format=nv12,hwdownload,format=nv12";
/// The same on the VAAPI device (Intel's video processor).
const TONE_VAAPI: &str = "format=p010le,hwupload,tonemap_vaapi=format=nv12:t=bt709:m=bt709:p=bt709,hwdownload,format=nv12";

/// The filter devices a plan's picture needs besides the encoder's: libplacebo's Vulkan
/// device, or the GPU tone mapper's. Returns whether the GPU scaler runs too: only where
/// it shares the tone mapper's device (VAAPI), since the filter device is one.
fn filter_globals(a: &mut Argv, plan: &Plan, hw: HwKind, gpu_scale: bool) -> bool {
    let tone = if plan.dovi_reshape {
        Some(GpuTone::Placebo)
    } else {
        plan.gpu_tone
    };
    match tone {
        None => {
            hw_globals(a, hw, gpu_scale);
            gpu_scale
        }
        Some(t) => {
            let scale = gpu_scale && t == GpuTone::Vaapi && hw == HwKind::Vaapi;
            hw_globals(a, hw, scale);
            t.globals(a, hw);
            scale
        }
    }
}

const TONE_MAP: &str = "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv";

/// The filter graph for the video renditions: optional tone mapping, one split, one scale
/// per rung, pixel format for the encoder. Output pads are `[v0]`, `[v1]`, …
///
/// With `gpu_scale` (the back end's scaler passed its trial), frames are uploaded once,
/// after tone mapping, and split and scaled on the GPU.
pub fn video_filter_graph(
    input_index: u32,
    renditions: &[Rendition],
    tone_map: bool,
    ten_bit: bool,
    hw: HwKind,
    gpu_scale: bool,
) -> String {
    let g = GraphSpec {
        input: input_index,
        burn: None,
        tone: if tone_map { Tone::Zscale } else { Tone::None },
        ten_bit,
        hw,
        gpu_scale,
        decoded_on: None,
    };
    video_graph(&g, renditions)
}

/// What a job's video filter graph is built from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GraphSpec {
    /// The video's input stream index.
    pub input: u32,
    /// A picture subtitle stream drawn over the picture, after tone mapping and before
    /// any scaling.
    pub burn: Option<u32>,
    pub tone: Tone,
    pub ten_bit: bool,
    /// The encoder's back end.
    pub hw: HwKind,
    /// Software-decoded frames are uploaded and scaled on the encoder's GPU.
    pub gpu_scale: bool,
    /// The frames arrive decoded on this back end's GPU: they are scaled there, and read
    /// back only for an encoder elsewhere.
    pub decoded_on: Option<HwKind>,
}

/// [`video_filter_graph`] with everything a plan can ask of the picture.
pub fn video_graph(g: &GraphSpec, renditions: &[Rendition]) -> String {
    let GraphSpec {
        input: input_index,
        burn,
        tone,
        ten_bit,
        hw,
        gpu_scale,
        decoded_on,
    } = *g;
    if let Some(kind) = decoded_on {
        // Decoded on the GPU (only for pictures that need nothing but scaling).
        let tail = |i: usize, r: &Rendition| {
            let down = if hw == kind {
                String::new()
            } else {
                ",hwdownload,format=nv12".to_string()
            };
            format!(
                "{}{down},setsar=1[v{i}]",
                gpu_scale_decoded(kind, r.width, r.height)
            )
        };
        // Picture subtitles are drawn there too, uploaded beside the frames.
        let head = match (burn, gpu_overlay(kind)) {
            (Some(s), Some(overlay)) => format!(
                "[0:{s}]format=yuva420p,hwupload[gs_sub];[0:{input_index}][gs_sub]{overlay}=eof_action=pass,"
            ),
            _ => format!("[0:{input_index}]"),
        };
        let n = renditions.len().max(1);
        if n == 1 {
            return format!("{head}{}", tail(0, &renditions[0]));
        }
        let labels: String = (0..n).map(|i| format!("[s{i}]")).collect();
        let mut g = format!("{head}split={n}{labels}");
        for (i, r) in renditions.iter().enumerate() {
            g.push_str(&format!(";[s{i}]{}", tail(i, r)));
        }
        return g;
    }
    let mut head = format!("[0:{input_index}]");
    let mut pre: Vec<String> = Vec::new();
    let gpu = gpu_scale.then(|| gpu_scaler(hw, ten_bit)).flatten();
    // HDR10/HLG scaled in software: down to the largest rung first, in the same zscale
    // that linearises, then tone-mapped there: the tone mapping works on the output's
    // pixels, not the source's. (Measured against scaling in linear light, 37.4 dB,
    // where tone-mapping at full size and scaling after was 22.7 dB and 1.6 times the
    // CPU.) Subtitles to burn are drawn at the source's size, so they keep the order.
    let top = renditions.iter().max_by_key(|r| r.height);
    if let (Tone::Zscale, None, None, Some(top)) = (tone, burn, gpu, top) {
        // zimg also converts back to the encoder's 8-bit YUV: swscale's float RGB path
        // after it cost 8 % of the job (10.9 s against 10.0 s for 30 s of 1080p here).
        let yuv = if matches!(hw, HwKind::Vaapi | HwKind::Qsv) {
            "nv12"
        } else {
            "yuv420p"
        };
        pre.push(format!(
            "zscale=w={}:h={}:t=linear:npl=100:p=bt709,format=gbrpf32le,tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv,format={yuv}",
            top.width, top.height
        ));
    } else {
        match (burn, tone.stage()) {
            // The empty first element puts a comma between the overlay and what follows.
            (Some(s), Some(stage)) => {
                head.push_str(&format!("{stage}[sdr];[sdr][0:{s}]overlay=eof_action=pass"));
                pre.push(String::new());
            }
            (Some(s), None) => {
                head.push_str(&format!("[0:{s}]overlay=eof_action=pass"));
                pre.push(String::new());
            }
            (None, Some(stage)) => pre.push(stage.to_string()),
            (None, None) => {}
        }
    }
    let n = renditions.len().max(1);
    let tail = |i: usize, r: &Rendition| match gpu {
        Some((_, _, scaler)) => format!(
            "{},setsar=1[v{i}]",
            scaler
                .replace("{w}", &r.width.to_string())
                .replace("{h}", &r.height.to_string())
        ),
        None => {
            let pix = match (hw, ten_bit) {
                (HwKind::Vaapi, _) => "nv12,hwupload",
                (HwKind::Qsv, _) => "nv12",
                (_, true) => "yuv420p10le",
                (_, false) => "yuv420p",
            };
            format!(
                "scale={}:{}:flags=bicubic,setsar=1,format={pix}[v{i}]",
                r.width, r.height
            )
        }
    };
    if let Some((pix, upload, _)) = gpu {
        pre.push(format!("format={pix},{upload}"));
    }
    if n == 1 {
        pre.push(tail(0, &renditions[0]));
        head.push_str(&pre.join(","));
        return head;
    }
    let labels: String = (0..n).map(|i| format!("[s{i}]")).collect();
    pre.push(format!("split={n}{labels}"));
    head.push_str(&pre.join(","));
    for (i, r) in renditions.iter().enumerate() {
        head.push_str(&format!(";[s{i}]{}", tail(i, r)));
    }
    head
}

/// Encoder settings from configuration and from what the hardware proved.
#[derive(Debug, Clone, PartialEq)]
pub struct Tuning {
    /// NVENC preset, p1 (fastest) … p7 (best).
    pub nvenc_preset: String,
    /// Back ends whose GPU scaler passed its trial: their jobs scale on the GPU.
    pub gpu_scale: Vec<HwKind>,
    /// The job stepped down for speed (encoding health): the encoder's faster preset.
    pub faster: bool,
    /// The run writes a stream's first segment alone, where time to picture is all: the
    /// software H.264 encoder runs without look-ahead or B-frames (their frame delay is
    /// most of a 1 s segment's wait). Frame threads, not sliced ones: as fast for the 1 s
    /// first segment and 8 % faster for a 4 s one after a seek (`bench/streams.py`).
    pub quick: bool,
}

impl Tuning {
    fn gpu_scale(&self, hw: HwKind) -> bool {
        self.gpu_scale.contains(&hw)
    }

    /// The preset `faster` switches to for this encoder, where there is a faster one.
    pub fn faster_preset(&self, codec: VideoCodec, hw: HwKind) -> Option<&'static str> {
        match (codec, hw) {
            (VideoCodec::H264 | VideoCodec::H265, HwKind::Software) => Some("superfast"),
            (VideoCodec::Av1, HwKind::Software) => Some("12"),
            (_, HwKind::Nvenc) if self.nvenc_preset != "p1" => Some("p1"),
            _ => None,
        }
    }
}

/// Whether a quick first run ([`Tuning::quick`]) changes anything for this encoder.
pub fn quick_start_applies(codec: VideoCodec, hw: HwKind) -> bool {
    codec == VideoCodec::H264 && hw == HwKind::Software
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            nvenc_preset: "p4".into(),
            gpu_scale: Vec::new(),
            faster: false,
            quick: false,
        }
    }
}

/// Encoder options for one rendition. `live` tunes for time to first picture.
pub fn video_encoder_args(
    argv: &mut Argv,
    codec: VideoCodec,
    hw: HwKind,
    r: &Rendition,
    live: bool,
    keyframes_at: Option<&[f64]>,
    tuning: &Tuning,
) {
    let enc = encoder_name(codec, hw).unwrap_or("libx264");
    argv.opt("-c:v", enc);
    let kbps = r.bitrate_kbps.max(64);
    let faster = tuning
        .faster
        .then(|| tuning.faster_preset(codec, hw))
        .flatten();
    match (codec, hw) {
        (VideoCodec::H264 | VideoCodec::H265, HwKind::Software) => {
            let preset = if live { "veryfast" } else { "medium" };
            argv.opt("-preset", faster.unwrap_or(preset));
            if live && tuning.quick && codec == VideoCodec::H264 {
                argv.opt("-rc-lookahead", "0").opt("-bf", "0");
            } else if live {
                argv.opt("-rc-lookahead", "10");
            }
            if codec == VideoCodec::H264 {
                argv.opt("-profile:v", "high");
            } else {
                argv.opt("-tag:v", "hvc1");
                if live {
                    // Closed GOPs: a forced keyframe is an IDR, not a CRA (x265's open-GOP
                    // default) whose leading frames may refer to the segment before, so
                    // each segment decodes on its own. `-forced-idr 1` does not do it.
                    argv.opt("-x265-params", "open-gop=0");
                }
            }
        }
        (VideoCodec::Vp9, HwKind::Software) => {
            argv.opt("-deadline", if live { "realtime" } else { "good" })
                .opt("-cpu-used", if live { "8" } else { "4" })
                .opt("-row-mt", "1");
        }
        (VideoCodec::Av1, HwKind::Software) => {
            argv.opt("-preset", faster.unwrap_or(if live { "10" } else { "8" }));
        }
        (_, HwKind::Nvenc) => {
            argv.opt("-preset", faster.unwrap_or(&tuning.nvenc_preset))
                .opt("-rc", "vbr")
                .opt("-forced-idr", "1");
        }
        (_, HwKind::Qsv) => {
            argv.opt("-preset", if live { "veryfast" } else { "medium" });
        }
        (_, HwKind::Amf) => {
            argv.opt("-quality", if live { "speed" } else { "balanced" });
        }
        _ => {}
    }
    argv.opt("-b:v", format!("{kbps}k"))
        .opt("-maxrate", format!("{}k", kbps * 3 / 2))
        .opt("-bufsize", format!("{}k", kbps * 2));
    if let Some(times) = keyframes_at {
        let list: Vec<String> = times.iter().map(|t| secs(*t)).collect();
        argv.opt("-force_key_frames", list.join(","));
    }
}

pub fn audio_encoder_args(argv: &mut Argv, audio: &AudioAction) {
    audio_args_for(argv, audio, None)
}

/// The encoder options of one audio output stream (`Some(k)`: the k-th audio output,
/// `-c:a:k`), or of every audio output (`None`).
fn audio_args_for(argv: &mut Argv, audio: &AudioAction, stream: Option<usize>) {
    let o = |name: &str| match stream {
        Some(k) if name == "-ac" || name == "-ar" => format!("{name}:a:{k}"),
        Some(k) => format!("{name}:{k}"),
        None => name.to_string(),
    };
    match audio {
        AudioAction::None => {
            argv.arg("-an");
        }
        AudioAction::Copy => {
            argv.opt(&o("-c:a"), "copy");
        }
        AudioAction::Encode {
            codec,
            channels,
            bitrate_kbps,
        } => {
            let enc = match codec {
                AudioCodec::Aac | AudioCodec::Copy => "aac",
                AudioCodec::Opus => "libopus",
                AudioCodec::Mp3 => "libmp3lame",
                AudioCodec::Flac => "flac",
                AudioCodec::Ac3 => "ac3",
            };
            argv.opt(&o("-c:a"), enc)
                .opt(&o("-ac"), channels.to_string());
            if *codec != AudioCodec::Flac {
                argv.opt(&o("-b:a"), format!("{bitrate_kbps}k"));
            }
            if *codec == AudioCodec::Opus {
                argv.opt(&o("-ar"), "48000");
            }
        }
    }
}

/// One encoder run of an HLS job: segments `[first_segment, …)` of the fixed map, cut at
/// `cut_times`, timestamps continuing the map.
#[derive(Debug, Clone)]
pub struct HlsRun<'a> {
    pub source: &'a Source,
    pub plan: &'a Plan,
    pub hw: HwKind,
    /// Where to seek the source (seconds, source timeline).
    pub seek_secs: f64,
    /// Output timeline position of the first segment of this run.
    pub out_offset_secs: f64,
    /// Stop after this much output (the next already-written segment), `None` = to the end.
    pub duration_secs: Option<f64>,
    /// Output times where the following segments start (absolute, excluding the first).
    pub cut_times: Vec<f64>,
    pub first_segment: u32,
    pub out_dir: &'a Path,
    pub run_id: u64,
    pub input: InputRules,
    pub tuning: &'a Tuning,
    /// A keyframe every this many frames (`-g`), for encoders that ignore forced ones
    /// ([`fixed_gop`]).
    pub gop_frames: Option<u32>,
    /// Copied video restarted mid-file: the keyframe (source time) the run starts at. The
    /// input seek (`seek_secs`, just past it) lands on it and `-copyts` keeps the source
    /// timestamps, which are the segment map's.
    pub copy_origin_secs: Option<f64>,
}

/// Segment file name of variant `v`, segment `n`: MPEG-TS, or the media part of an
/// fMP4 segment.
pub fn segment_name(v: usize, n: u32, fmp4: bool) -> String {
    format!("v{v}_{n:05}.{}", if fmp4 { "m4s" } else { "ts" })
}

/// The initialisation section (`ftyp` + `moov`) ffmpeg wrote with fMP4 segment `n`. Each
/// segment has its own, as each MPEG-TS segment carries its parameter sets: a run that
/// restarts with other settings (a quick first segment, a step down) stays playable.
pub fn init_name(v: usize, n: u32) -> String {
    format!("v{v}_{n:05}_init.mp4")
}

/// The whole fMP4 segment as ffmpeg writes it, before the server splits it into
/// [`init_name`] and [`segment_name`].
pub fn raw_fmp4_name(v: usize, n: u32) -> String {
    format!("v{v}_{n:05}.mp4")
}

/// Timeline origin of fMP4 segments: the output's time 0 is this many seconds into the
/// decode timeline, so an encoder's priming samples (AAC starts 1024 samples early) and
/// reordered frames never need a negative `tfdt`. Every run of a job uses it, and the
/// WebVTT renditions' `X-TIMESTAMP-MAP` says it.
pub const FMP4_ORIGIN_SECS: f64 = 10.0;

/// A file of an HLS job's segment set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentFile {
    /// `v0_00012.ts`
    Ts(usize, u32),
    /// `v0_00012.m4s`
    Fmp4(usize, u32),
    /// `v0_00012_init.mp4`
    Init(usize, u32),
    /// `v0_00012.mp4`: ffmpeg's fMP4 segment before it is split.
    RawFmp4(usize, u32),
}

impl SegmentFile {
    pub fn variant_and_index(self) -> (usize, u32) {
        match self {
            SegmentFile::Ts(v, n)
            | SegmentFile::Fmp4(v, n)
            | SegmentFile::Init(v, n)
            | SegmentFile::RawFmp4(v, n) => (v, n),
        }
    }
}

/// The segment file a name is; `None` for any other name.
pub fn parse_segment_name(name: &str) -> Option<SegmentFile> {
    let (stem, ext) = name.strip_prefix('v')?.rsplit_once('.')?;
    let (stem, init) = match stem.strip_suffix("_init") {
        Some(s) => (s, true),
        None => (stem, false),
    };
    let (v, n) = stem.split_once('_')?;
    if !v.bytes().all(|b| b.is_ascii_digit()) || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (v, n): (usize, u32) = (v.parse().ok()?, n.parse().ok()?);
    Some(match (ext, init) {
        ("ts", false) => SegmentFile::Ts(v, n),
        ("m4s", false) => SegmentFile::Fmp4(v, n),
        ("mp4", true) => SegmentFile::Init(v, n),
        ("mp4", false) => SegmentFile::RawFmp4(v, n),
        _ => return None,
    })
}

/// Whether the encoder ignores forced keyframes, so a stream's segments must follow its
/// fixed keyframe interval (`-g`): SVT-AV1 as ffmpeg 5.1 drives it.
pub fn fixed_gop(codec: VideoCodec, hw: HwKind) -> bool {
    codec == VideoCodec::Av1 && hw == HwKind::Software
}

/// The keyframe interval, in frames, closest to `segment_secs` at `fps`, and the segment
/// length it makes.
pub fn gop_for(fps: f64, segment_secs: f64) -> (u32, f64) {
    let fps = if fps.is_finite() && fps > 1.0 {
        fps
    } else {
        25.0
    };
    let frames = (fps * segment_secs).round().max(1.0) as u32;
    (frames, frames as f64 / fps)
}

/// The per-run CSV list ffmpeg appends to as each segment closes.
pub fn segment_list_path(out_dir: &Path, v: usize, run_id: u64) -> PathBuf {
    out_dir.join(format!("v{v}_r{run_id}.csv"))
}

/// The plan's GPU decoding, as input options.
fn decode_args(a: &mut Argv, plan: &Plan) {
    if let Some(kind) = gpu_decode(plan) {
        let codec = plan
            .streams
            .video
            .as_ref()
            .map(|v| v.codec.as_str())
            .unwrap_or("h264");
        for x in hw_decode_args(kind, codec) {
            a.arg(x);
        }
        if overlays_on_gpu(plan) {
            a.opt("-hwaccel_device", OVERLAY_DEVICE);
        }
    }
}

/// The graph spec of a plan's encode on `hw`.
fn graph_of(plan: &Plan, hw: HwKind, gpu_scale: bool) -> GraphSpec {
    let (tone_map, ten_bit) = match &plan.video {
        VideoAction::Encode {
            tone_map, ten_bit, ..
        } => (*tone_map, *ten_bit),
        _ => (false, false),
    };
    GraphSpec {
        input: plan.video_index.unwrap_or(0),
        burn: plan.burn_subtitle,
        tone: Tone::of(tone_map, plan.dovi_reshape, plan.gpu_tone),
        ten_bit,
        hw,
        gpu_scale,
        decoded_on: gpu_decode(plan),
    }
}

pub fn hls_run(run: &HlsRun) -> Argv {
    let mut a = Argv::new();
    common_head(&mut a);
    let gpu_scale = filter_globals(&mut a, run.plan, run.hw, run.tuning.gpu_scale(run.hw));
    overlay_globals(&mut a, run.plan);
    for x in run.source.input_args(&run.input) {
        a.arg(x);
    }
    if run.seek_secs > 0.0 {
        a.opt("-ss", secs(run.seek_secs));
        if run.copy_origin_secs.is_some() {
            a.arg("-copyts");
        }
    }
    decode_args(&mut a, run.plan);
    a.opt("-i", run.source.as_input());
    // Where the run stops, given to every output (an ABR run has one per rendition: an
    // option before the first output would stop that one alone).
    let stop = match (run.duration_secs, run.copy_origin_secs) {
        // With -copyts, -t would count from 0: stop at the absolute end instead.
        (Some(d), Some(origin)) => Some(("-to", secs(origin + d - 0.001))),
        (Some(d), None) => Some(("-t", secs(d))),
        _ => None,
    };
    let plan = run.plan;
    let renditions: Vec<Rendition> = match &plan.video {
        VideoAction::Encode { renditions, .. } => renditions.clone(),
        _ => Vec::new(),
    };
    if let VideoAction::Encode { .. } = &plan.video {
        a.opt(
            "-filter_complex",
            video_graph(&graph_of(plan, run.hw, gpu_scale), &renditions),
        );
    }
    // Keyframes at every cut of this run, on the encoder's clock (0 = the run's start).
    let keyframes: Vec<f64> = std::iter::once(0.0)
        .chain(run.cut_times.iter().map(|t| t - run.out_offset_secs))
        .collect();
    // One output per rendition; copy and audio-only plans write a single output. Audio
    // renditions follow, one output each, and the video outputs then carry no audio.
    let video_outputs: Vec<Option<&Rendition>> = if renditions.is_empty() {
        vec![None]
    } else {
        renditions.iter().map(Some).collect()
    };
    let muxed = plan.audio_renditions.is_empty();
    let muxed_audio = if muxed { plan.audio_index } else { None };
    let outputs = video_outputs
        .into_iter()
        .map(HlsOutput::Video)
        .chain(plan.audio_renditions.iter().map(HlsOutput::Audio));
    for (v, output) in outputs.enumerate() {
        if let Some((flag, at)) = &stop {
            a.opt(flag, at.clone());
        }
        let audio = match output {
            HlsOutput::Audio(r) => {
                a.opt("-map", format!("0:{}", r.index));
                &r.action
            }
            HlsOutput::Video(rendition) => {
                match (&plan.video, rendition) {
                    (VideoAction::Encode { codec, .. }, Some(rendition)) => {
                        a.opt("-map", format!("[v{v}]"));
                        if let Some(ai) = muxed_audio {
                            a.opt("-map", format!("0:{ai}"));
                        }
                        video_encoder_args(
                            &mut a,
                            *codec,
                            run.hw,
                            rendition,
                            true,
                            Some(&keyframes),
                            run.tuning,
                        );
                        if let Some(g) = run.gop_frames {
                            a.opt("-g", g.to_string());
                        }
                    }
                    (VideoAction::Copy, _) => {
                        a.opt("-map", format!("0:{}", plan.video_index.unwrap_or(0)));
                        if let Some(ai) = muxed_audio {
                            a.opt("-map", format!("0:{ai}"));
                        }
                        a.opt("-c:v", "copy");
                    }
                    _ => {
                        if let Some(ai) = muxed_audio {
                            a.opt("-map", format!("0:{ai}"));
                        }
                    }
                }
                if muxed {
                    &plan.audio
                } else {
                    &AudioAction::None
                }
            }
        };
        audio_encoder_args(&mut a, audio);
        if run.seek_secs > 0.0 && run.copy_origin_secs.is_none() {
            // Copied audio must not carry packets from before the seek point (copied video
            // restarts keep them: its keyframe sits just before the seek point).
            a.opt("-copypriorss", "0");
        }
        a.arg("-sn").arg("-dn");
        let origin = if plan.fmp4 { FMP4_ORIGIN_SECS } else { 0.0 };
        a.opt("-f", "segment");
        if plan.fmp4 {
            // One fragment per segment, timestamps kept as they are (negative composition
            // offsets instead of edit lists), so `tfdt` is the segment's place on the
            // job's timeline whichever run wrote it.
            a.opt("-segment_format", "mp4")
                .opt(
                    "-segment_format_options",
                    "movflags=+frag_keyframe+empty_moov+default_base_moof+frag_discont+negative_cts_offsets:use_editlist=0:avoid_negative_ts=disabled",
                )
                .opt("-avoid_negative_ts", "disabled");
        } else {
            a.opt("-segment_format", "mpegts");
        }
        a.opt("-segment_start_number", run.first_segment.to_string())
            .opt(
                "-segment_list",
                segment_list_path(run.out_dir, v, run.run_id)
                    .to_string_lossy()
                    .into_owned(),
            )
            .opt("-segment_list_type", "csv")
            .opt("-output_ts_offset", secs(run.out_offset_secs + origin))
            .opt("-muxdelay", "0");
        if run.cut_times.is_empty() {
            a.opt("-segment_time", "1000000");
        } else {
            let list: Vec<String> = run.cut_times.iter().map(|t| secs(*t)).collect();
            a.opt("-segment_times", list.join(","));
        }
        a.arg(
            run.out_dir
                .join(format!(
                    "v{v}_%05d.{}",
                    if plan.fmp4 { "mp4" } else { "ts" }
                ))
                .to_string_lossy()
                .into_owned(),
        );
    }
    a
}

/// One output of an HLS run.
enum HlsOutput<'a> {
    /// A video variant (`None`: the copied or audio-only single output).
    Video(Option<&'a Rendition>),
    Audio(&'a crate::plan::AudioRendition),
}

/// A whole-file run for batch mode.
#[derive(Debug, Clone)]
pub struct BatchRun<'a> {
    pub source: &'a Source,
    pub plan: &'a Plan,
    pub hw: HwKind,
    pub start_time: f64,
    pub format: Format,
    /// A temporary name; the engine renames it when ffmpeg succeeds.
    pub output: &'a Path,
    pub input: InputRules,
    pub tuning: &'a Tuning,
    /// Output length at most (`-t`): the source's announced length plus a margin.
    pub max_secs: Option<f64>,
    /// Two-pass encoding: which pass (1 or 2) and the statistics file's prefix. Pass 1
    /// reads the video alone and writes only the statistics.
    pub pass: Option<(u8, &'a Path)>,
}

/// Whether a software encode of `codec` can run in two passes here (`-pass`).
pub fn two_pass_applies(codec: VideoCodec, hw: HwKind) -> bool {
    hw == HwKind::Software && matches!(codec, VideoCodec::H264 | VideoCodec::H265 | VideoCodec::Vp9)
}

pub fn batch(run: &BatchRun) -> Argv {
    let BatchRun {
        source,
        plan,
        hw,
        start_time,
        format,
        output,
        input,
        tuning,
        max_secs,
        pass,
    } = run.clone();
    let first_pass = matches!(pass, Some((1, _)));
    let mut a = Argv::new();
    common_head(&mut a);
    let gpu_scale = filter_globals(&mut a, plan, hw, tuning.gpu_scale(hw));
    overlay_globals(&mut a, plan);
    for x in source.input_args(&input) {
        a.arg(x);
    }
    if start_time > 0.0 {
        a.opt("-ss", secs(start_time));
    }
    decode_args(&mut a, plan);
    a.opt("-i", source.as_input());
    match &plan.video {
        VideoAction::Encode {
            codec, renditions, ..
        } => {
            a.opt(
                "-filter_complex",
                video_graph(&graph_of(plan, hw, gpu_scale), &renditions[..1]),
            );
            a.opt("-map", "[v0]");
            video_encoder_args(&mut a, *codec, hw, &renditions[0], false, None, tuning);
            if let Some((n, log)) = pass {
                // The statistics must count the frames the second pass encodes: both
                // passes take the frame timing ffmpeg would pick for the output's muxer
                // (MP4 constant, Matroska/WebM variable), not the null muxer's.
                let timing = match format {
                    Format::Mp4 | Format::Hls => "cfr",
                    Format::Webm | Format::Mkv => "vfr",
                };
                a.opt("-fps_mode", timing)
                    .opt("-pass", n.to_string())
                    .opt("-passlogfile", log.to_string_lossy().into_owned());
            }
        }
        VideoAction::Copy => {
            a.opt("-map", format!("0:{}", plan.video_index.unwrap_or(0)))
                .opt("-c:v", "copy");
        }
        VideoAction::None => {}
    }
    if first_pass {
        // The statistics pass: video only, nothing written but the statistics.
        a.arg("-an").arg("-sn").arg("-dn");
        if let Some(t) = max_secs {
            a.opt("-t", secs(t));
        }
        a.opt("-f", "null").arg("-");
        return a;
    }
    if let Some(ai) = plan.audio_index {
        a.opt("-map", format!("0:{ai}"));
    }
    if plan.extra_audio.is_empty() || plan.audio_index.is_none() {
        audio_encoder_args(&mut a, &plan.audio);
    } else {
        // Every audio track, each with options of its own.
        for (index, _) in &plan.extra_audio {
            a.opt("-map", format!("0:{index}"));
        }
        audio_args_for(&mut a, &plan.audio, Some(0));
        for (k, (_, action)) in plan.extra_audio.iter().enumerate() {
            audio_args_for(&mut a, action, Some(k + 1));
        }
        // The track in the language asked for is the one players start with.
        if let Some(d) = plan.default_audio {
            for k in 0..=plan.extra_audio.len() {
                a.opt(
                    &format!("-disposition:a:{k}"),
                    if k == d { "default" } else { "0" },
                );
            }
        }
    }
    if start_time > 0.0 {
        a.opt("-copypriorss", "0");
    }
    a.arg("-sn").arg("-dn");
    if let Some(t) = max_secs {
        a.opt("-t", secs(t));
    }
    let muxer = match format {
        Format::Mp4 | Format::Hls => {
            a.opt("-movflags", "+faststart");
            "mp4"
        }
        Format::Webm => "webm",
        Format::Mkv => "matroska",
    };
    if matches!(
        plan.audio,
        AudioAction::Encode {
            codec: AudioCodec::Flac,
            ..
        }
    ) && muxer == "mp4"
    {
        a.opt("-strict", "-2");
    }
    a.opt("-f", muxer);
    a.arg(output.to_string_lossy().into_owned());
    a
}

/// Fetches one subtitle track (WebVTT, or anything ffmpeg reads as text subtitles) and
/// writes WebVTT; [`crate::subtitles::prepare_vtt`] then shifts it to the job's start.
/// A WebVTT track larger than this is cut there (a subtitle file is a few hundred KiB).
pub const MAX_SUBTITLE_BYTES: u64 = 4 << 20;

pub fn subtitle_to_vtt(source: &Source, output: &Path, input: &InputRules) -> Argv {
    to_vtt(source, input, &[("0:s:0".to_string(), output)])
}

/// A source's embedded text subtitle tracks, each by its stream index to a WebVTT file of
/// its own, in one pass over the source.
pub fn embedded_subtitles_to_vtt(
    source: &Source,
    tracks: &[(u32, std::path::PathBuf)],
    input: &InputRules,
) -> Argv {
    let outputs: Vec<(String, &Path)> = tracks
        .iter()
        .map(|(index, out)| (format!("0:{index}"), out.as_path()))
        .collect();
    to_vtt(source, input, &outputs)
}

/// One pass over `source` writing each mapped subtitle stream as WebVTT, each cut at
/// [`MAX_SUBTITLE_BYTES`].
fn to_vtt(source: &Source, input: &InputRules, outputs: &[(String, &Path)]) -> Argv {
    let mut a = Argv::new();
    a.arg("-hide_banner")
        .opt("-loglevel", "level+warning")
        .arg("-nostdin")
        .arg("-y");
    for x in source.input_args(input) {
        a.arg(x);
    }
    a.opt("-i", source.as_input());
    for (map, out) in outputs {
        a.opt("-map", map.as_str())
            .opt("-c:s", "webvtt")
            .opt("-fs", MAX_SUBTITLE_BYTES.to_string())
            .opt("-f", "webvtt")
            .arg(out.to_string_lossy().into_owned());
    }
    a
}

/// A one-frame trial of the Dolby Vision graph: a Vulkan device, libplacebo on it, and
/// the frame back in system memory.
pub fn trial_placebo() -> Argv {
    let mut a = Argv::new();
    a.arg("-hide_banner")
        .opt("-loglevel", "level+error")
        .arg("-nostdin");
    vulkan_globals(&mut a);
    a.opt("-f", "lavfi")
        .opt("-i", "color=c=black:s=256x144:r=25")
        .opt("-frames:v", "1")
        .opt("-vf", PLACEBO)
        .opt("-f", "null")
        .arg("-");
    a
}

/// A two-frame trial of a GPU tone mapper on an HDR10 picture made here (10-bit, PQ,
/// BT.2020), opening the device a job would. libplacebo's logs the Vulkan device it
/// chose, so a CPU driver (lavapipe) can be told from a GPU.
pub fn trial_gpu_tone(t: GpuTone) -> Argv {
    let mut a = Argv::new();
    a.arg("-hide_banner")
        .opt(
            "-loglevel",
            if t == GpuTone::Placebo {
                "level+verbose"
            } else {
                "level+error"
            },
        )
        .arg("-nostdin");
    t.globals(&mut a, HwKind::Software);
    let tone = match t {
        GpuTone::Placebo => Tone::Placebo,
        GpuTone::OpenCl => Tone::OpenCl,
        GpuTone::Vaapi => Tone::Vaapi,
    };
    a.opt("-f", "lavfi")
        .opt(
            "-i",
            "testsrc2=s=256x144:r=25,format=yuv420p10le,setparams=color_primaries=bt2020:color_trc=smpte2084:colorspace=bt2020nc",
        )
        .opt("-frames:v", "2")
        .opt("-vf", tone.stage().unwrap_or("null"))
        .opt("-f", "null")
        .arg("-");
    a
}

/// The Vulkan device ffmpeg chose and its type, from a verbose log
/// ("Device 0 selected: llvmpipe (LLVM 15.0.6, 256 bits) (software) (0x0)").
pub fn vulkan_device_chosen(log: &str) -> Option<(String, String)> {
    let line = log
        .lines()
        .find(|l| l.contains("Device ") && l.contains(" selected: "))?;
    let rest = line.split(" selected: ").nth(1)?.trim();
    // NAME (TYPE) (0xID): the type is the second-to-last parenthesised group.
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut depth = 0;
    let mut open = 0;
    for (i, c) in rest.char_indices() {
        match c {
            '(' => {
                if depth == 0 {
                    open = i;
                }
                depth += 1;
            }
            ')' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    groups.push((open, i));
                }
            }
            _ => {}
        }
    }
    let n = groups.len();
    if n < 2 {
        return None;
    }
    let (ts, te) = groups[n - 2];
    let name = rest[..ts].trim().to_string();
    Some((name, rest[ts + 1..te].to_string()))
}

/// A one-frame trial encode that proves an encoder works on this machine.
/// A two-frame trial of upload, split, GPU scale and encode, the graph a job on this back
/// end would use. `None` for back ends without a GPU scaler.
pub fn trial_gpu_scale(encoder: &str, hw: HwKind) -> Option<Argv> {
    gpu_scaler(hw, false)?;
    let mut a = Argv::new();
    a.arg("-hide_banner")
        .opt("-loglevel", "level+error")
        .arg("-nostdin");
    hw_globals(&mut a, hw, true);
    let rung = |width, height| Rendition {
        name: format!("{height}p"),
        width,
        height,
        bitrate_kbps: 200,
    };
    let rungs = [rung(128, 72), rung(64, 36)];
    a.opt("-f", "lavfi")
        .opt("-i", "testsrc2=s=256x144:r=25")
        .opt(
            "-filter_complex",
            video_filter_graph(0, &rungs, false, false, hw, true),
        );
    for i in 0..rungs.len() {
        a.opt("-map", format!("[v{i}]"))
            .opt("-frames:v", "2")
            .opt("-c:v", encoder)
            .opt("-f", "null")
            .arg("-");
    }
    Some(a)
}

pub fn trial_encode(encoder: &str, hw: HwKind) -> Argv {
    let mut a = Argv::new();
    a.arg("-hide_banner")
        .opt("-loglevel", "level+error")
        .arg("-nostdin");
    hw_globals(&mut a, hw, false);
    a.opt("-f", "lavfi")
        .opt("-i", "color=c=black:s=256x144:r=25")
        .opt("-frames:v", "1");
    match hw {
        HwKind::Vaapi => {
            a.opt("-vf", "format=nv12,hwupload");
        }
        HwKind::Qsv => {
            a.opt("-pix_fmt", "nv12");
        }
        _ => {
            a.opt("-pix_fmt", "yuv420p");
        }
    }
    a.opt("-c:v", encoder).opt("-f", "null").arg("-");
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip() {
        for (v, n) in [(0, 0), (3, 12), (1, 99_999), (2, 123_456)] {
            assert_eq!(
                parse_segment_name(&segment_name(v, n, false)),
                Some(SegmentFile::Ts(v, n))
            );
            assert_eq!(
                parse_segment_name(&segment_name(v, n, true)),
                Some(SegmentFile::Fmp4(v, n))
            );
            assert_eq!(
                parse_segment_name(&init_name(v, n)),
                Some(SegmentFile::Init(v, n))
            );
            assert_eq!(
                parse_segment_name(&raw_fmp4_name(v, n)),
                Some(SegmentFile::RawFmp4(v, n))
            );
        }
        assert_eq!(parse_segment_name("v0_x.ts"), None);
        assert_eq!(parse_segment_name("v0_+1.ts"), None);
        assert_eq!(parse_segment_name("v0_00001_init.m4s"), None);
        assert_eq!(parse_segment_name("v0.m3u8"), None);
        assert_eq!(parse_segment_name("v0_r1.csv"), None);
    }
    use crate::plan::{decide, same_language, Wish};
    use ghoststream_types::{AudioInfo, MediaInfo, Mode, Resolution, VideoInfo};

    fn media() -> MediaInfo {
        MediaInfo {
            duration: 20.0,
            video: Some(VideoInfo {
                index: 0,
                codec: "hevc".into(),
                width: 1920,
                height: 1080,
                bit_depth: 8,
                pix_fmt: Some("yuv420p".into()),
                dynamic_range: "sdr".into(),
                ..Default::default()
            }),
            audio: vec![AudioInfo {
                index: 1,
                codec: "ac3".into(),
                channels: 6,
                sample_rate: 48000,
                language: None,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn wish(mode: Mode) -> Wish {
        Wish {
            mode,
            format: Format::Hls,
            video_codec: VideoCodec::H264,
            audio_codec: AudioCodec::Aac,
            resolution: Resolution::P720,
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
    fn stream_run_argv_snapshot() {
        let plan = decide(&media(), &wish(Mode::Stream));
        let src = Source::Http("http://pi:5000/m.mkv".into());
        let run = HlsRun {
            source: &src,
            plan: &plan,
            hw: HwKind::Software,
            seek_secs: 8.0,
            out_offset_secs: 8.0,
            duration_secs: Some(8.0),
            cut_times: vec![12.0],
            first_segment: 2,
            out_dir: Path::new("/w/job"),
            run_id: 3,
            input: InputRules {
                proxy: Some("http://127.0.0.1:9000".into()),
                max_pixels: Some(33_177_600),
                ..Default::default()
            },
            tuning: &Tuning::default(),
            gop_frames: None,
            copy_origin_secs: None,
        };
        let cmd = hls_run(&run)
            .to_cmd_string("ffmpeg")
            .replace(&run.input.formats(), "FORMATS");
        assert_eq!(
            cmd,
            "ffmpeg -hide_banner -loglevel level+warning -nostdin -nostats -progress pipe:1 \
-stats_period 0.5 -y -protocol_whitelist http,https,tcp,tls,crypto,httpproxy \
-http_proxy http://127.0.0.1:9000 -rw_timeout 15000000 \
-reconnect 1 -reconnect_on_network_error 1 -reconnect_delay_max 4 -max_redirects 0 \
-format_whitelist FORMATS -max_pixels 33177600 -ss 8.000 \
-i http://pi:5000/m.mkv -filter_complex \
'[0:0]scale=1280:720:flags=bicubic,setsar=1,format=yuv420p[v0]' -t 8.000 -map '[v0]' -map 0:1 \
-c:v libx264 -preset veryfast -rc-lookahead 10 -profile:v high -b:v 4000k -maxrate 6000k \
-bufsize 8000k -force_key_frames 0.000,4.000 -c:a aac -ac 2 -b:a 128k \
-copypriorss 0 -sn -dn -f segment -segment_format mpegts -segment_start_number 2 \
-segment_list /w/job/v0_r3.csv -segment_list_type csv -output_ts_offset 8.000 -muxdelay 0 \
-segment_times 12.000 /w/job/v0_%05d.ts"
        );
    }

    #[test]
    fn two_passes_share_the_statistics_file_and_only_the_second_writes() {
        let mut w = wish(Mode::Batch);
        w.format = Format::Mp4;
        let plan = decide(&media(), &w);
        let src = Source::Http("http://pi/m.mkv".into());
        let log = Path::new("/w/job/twopass");
        let run = |pass| {
            batch(&BatchRun {
                source: &src,
                plan: &plan,
                hw: HwKind::Software,
                start_time: 0.0,
                format: Format::Mp4,
                output: Path::new("/w/job/output.part"),
                input: InputRules::default(),
                tuning: &Tuning::default(),
                max_secs: Some(30.0),
                pass,
            })
            .to_cmd_string("ffmpeg")
        };
        let (first, second) = (run(Some((1, log))), run(Some((2, log))));
        assert!(
            first.contains("-c:v libx264")
                && first.contains("-fps_mode cfr -pass 1 -passlogfile /w/job/twopass"),
            "{first}"
        );
        assert!(
            first.ends_with("-an -sn -dn -t 30.000 -f null -"),
            "{first}"
        );
        assert!(
            !first.contains("output.part") && !first.contains("-c:a"),
            "{first}"
        );
        assert!(
            second.contains("-pass 2 -passlogfile /w/job/twopass"),
            "{second}"
        );
        assert!(
            second.contains("-c:a aac") && second.ends_with("-f mp4 /w/job/output.part"),
            "{second}"
        );
        // Apart from the pass, the second is the one-pass argv.
        assert_eq!(
            second.replace(" -fps_mode cfr -pass 2 -passlogfile /w/job/twopass", ""),
            run(None)
        );
        assert!(two_pass_applies(VideoCodec::H265, HwKind::Software));
        assert!(!two_pass_applies(VideoCodec::Av1, HwKind::Software));
        assert!(!two_pass_applies(VideoCodec::H264, HwKind::Nvenc));
    }

    /// A one-pass MP4 batch run of `plan` on `hw`, from http://pi/m.mkv to /w/out.part.
    fn mp4_batch(plan: &Plan, hw: HwKind) -> String {
        batch(&BatchRun {
            source: &Source::Http("http://pi/m.mkv".into()),
            plan,
            hw,
            start_time: 0.0,
            format: Format::Mp4,
            output: Path::new("/w/out.part"),
            input: InputRules::default(),
            tuning: &Tuning::default(),
            max_secs: None,
            pass: None,
        })
        .to_cmd_string("ffmpeg")
    }

    #[test]
    fn a_batch_file_keeps_every_audio_track_each_with_its_own_options() {
        let mut m = media();
        m.audio.push(AudioInfo {
            index: 2,
            codec: "aac".into(),
            channels: 2,
            sample_rate: 48000,
            language: Some("fre".into()),
            ..Default::default()
        });
        let mut w = wish(Mode::Batch);
        w.format = Format::Mp4;
        let cmd = mp4_batch(&decide(&m, &w), HwKind::Software);
        // The 5.1 AC-3 track down to stereo AAC, the stereo AAC one copied.
        assert!(
            cmd.contains("-map 0:1 -map 0:2 -c:a:0 aac -ac:a:0 2 -b:a:0 128k -c:a:1 copy -sn"),
            "{cmd}"
        );
        // French asked for: it becomes the file's default track.
        w.audio_language = Some("fr".into());
        let cmd = mp4_batch(&decide(&m, &w), HwKind::Software);
        assert!(
            cmd.contains("-disposition:a:0 0 -disposition:a:1 default"),
            "{cmd}"
        );
        // A stream lists each track as an audio rendition of its own, in outputs of
        // their own after the video's, which carries none.
        let mut sw = wish(Mode::Stream);
        sw.audio_language = Some("fre".into());
        let stream = decide(&m, &sw);
        assert!(stream.extra_audio.is_empty());
        assert_eq!(stream.output_count(), 3);
        let r = &stream.audio_renditions;
        assert_eq!(
            (
                r[0].language.as_str(),
                r[0].default,
                r[0].channels,
                r[0].codec.as_str()
            ),
            ("und", false, 2, "aac")
        );
        assert_eq!((r[1].language.as_str(), r[1].default), ("fre", true));
        let src = Source::Http("http://pi:5000/m.mkv".into());
        let cmd = hls_run(&HlsRun {
            source: &src,
            plan: &stream,
            hw: HwKind::Software,
            seek_secs: 0.0,
            out_offset_secs: 0.0,
            duration_secs: None,
            cut_times: vec![4.0],
            first_segment: 0,
            out_dir: Path::new("/w"),
            run_id: 1,
            input: InputRules::default(),
            tuning: &Tuning::default(),
            gop_frames: None,
            copy_origin_secs: None,
        })
        .to_cmd_string("ffmpeg");
        assert!(cmd.contains("-map '[v0]' -c:v libx264"), "{cmd}");
        assert!(cmd.contains("-an -sn -dn"), "{cmd}");
        assert!(
            cmd.contains("-map 0:1 -c:a aac -ac 2 -b:a 128k -sn -dn")
                && cmd.contains("/w/v1_%05d.ts")
                && cmd.contains("-map 0:2 -c:a copy -sn -dn")
                && cmd.contains("/w/v2_%05d.ts"),
            "{cmd}"
        );
        assert!(same_language("en-US", "eng") && same_language("de", "GER"));
        assert!(!same_language("en", "fre") && !same_language("", "und"));
    }

    #[test]
    fn a_burned_subtitle_is_drawn_after_tone_mapping_and_before_scaling() {
        let r = Rendition {
            name: "720p".into(),
            width: 1280,
            height: 720,
            bitrate_kbps: 4000,
        };
        let spec = |burn, tone| GraphSpec {
            input: 0,
            burn,
            tone,
            ten_bit: false,
            hw: HwKind::Software,
            gpu_scale: false,
            decoded_on: None,
        };
        let plain = video_graph(&spec(Some(3), Tone::None), std::slice::from_ref(&r));
        assert_eq!(
            plain,
            "[0:0][0:3]overlay=eof_action=pass,scale=1280:720:flags=bicubic,setsar=1,format=yuv420p[v0]"
        );
        let hdr = video_graph(&spec(Some(3), Tone::Zscale), std::slice::from_ref(&r));
        assert_eq!(
            hdr,
            format!("[0:0]{TONE_MAP}[sdr];[sdr][0:3]overlay=eof_action=pass,scale=1280:720:flags=bicubic,setsar=1,format=yuv420p[v0]")
        );
        // A ladder splits the picture with the subtitles on it.
        let two = [
            r.clone(),
            Rendition {
                name: "480p".into(),
                width: 854,
                height: 480,
                bitrate_kbps: 1500,
            },
        ];
        assert!(video_graph(&spec(Some(3), Tone::None), &two)
            .starts_with("[0:0][0:3]overlay=eof_action=pass,split=2[s0][s1];"));
        // Without one, the graph is the one every job had.
        assert_eq!(
            video_graph(&spec(None, Tone::Zscale), &two),
            video_filter_graph(0, &two, true, false, HwKind::Software, false)
        );
        // Dolby Vision without a base layer: libplacebo reshapes and tone-maps, then the
        // subtitles go on.
        let dv = video_graph(&spec(Some(3), Tone::Placebo), std::slice::from_ref(&r));
        assert!(
            dv.starts_with(&format!("[0:0]{PLACEBO}[sdr];[sdr][0:3]overlay")),
            "{dv}"
        );
        assert!(
            PLACEBO.contains("apply_dolbyvision=1") && PLACEBO.starts_with("hwupload,libplacebo=")
        );
    }

    #[test]
    fn gpu_decoding_keeps_frames_on_the_gpu_and_reads_them_back_only_for_another_encoder() {
        let mut w = wish(Mode::Batch);
        w.format = Format::Mp4;
        // The source is HEVC 8-bit 1080p (`media()`), scaled to 720p.
        let run = |decode: HwKind, hw: HwKind| {
            let mut plan = decide(&media(), &w);
            plan.decode = Some(decode);
            mp4_batch(&plan, hw)
        };
        // NVDEC with a software encoder (a GPU without NVENC): scaled by CUDA, read back.
        let c = run(HwKind::Nvenc, HwKind::Software);
        assert!(
            c.contains("-hwaccel cuda -hwaccel_output_format cuda -i http://pi/m.mkv"),
            "{c}"
        );
        assert!(
            c.contains("'[0:0]scale_cuda=w=1280:h=720:format=nv12,hwdownload,format=nv12,setsar=1[v0]' -map '[v0]' -c:v libx264"),
            "{c}"
        );
        // NVDEC into NVENC: the frames never leave the GPU.
        let c = run(HwKind::Nvenc, HwKind::Nvenc);
        assert!(c.contains("'[0:0]scale_cuda=w=1280:h=720:format=nv12,setsar=1[v0]' -map '[v0]' -c:v h264_nvenc"), "{c}");
        // VAAPI and QSV (which decodes with its own decoder, named by the source codec).
        let c = run(HwKind::Vaapi, HwKind::Vaapi);
        assert!(
            c.contains("-hwaccel vaapi -hwaccel_device /dev/dri/renderD128 -hwaccel_output_format vaapi -i")
                && c.contains("[0:0]scale_vaapi=w=1280:h=720:format=nv12,setsar=1[v0]"),
            "{c}"
        );
        let c = run(HwKind::Qsv, HwKind::Software);
        assert!(
            c.contains("-hwaccel qsv -hwaccel_output_format qsv -c:v hevc_qsv -i")
                && c.contains(
                    "[0:0]scale_qsv=w=1280:h=720:format=nv12,hwdownload,format=nv12,setsar=1[v0]"
                ),
            "{c}"
        );
        // A ladder splits the decoded frames on the GPU, each rung scaled there.
        let r = |h: u32| Rendition {
            name: format!("{h}p"),
            width: h * 16 / 9,
            height: h,
            bitrate_kbps: 1000,
        };
        let g = GraphSpec {
            input: 0,
            burn: None,
            tone: Tone::None,
            ten_bit: false,
            hw: HwKind::Software,
            gpu_scale: false,
            decoded_on: Some(HwKind::Nvenc),
        };
        assert_eq!(
            video_graph(&g, &[r(720), r(360)]),
            "[0:0]split=2[s0][s1];[s0]scale_cuda=w=1280:h=720:format=nv12,hwdownload,format=nv12,setsar=1[v0];\
[s1]scale_cuda=w=640:h=360:format=nv12,hwdownload,format=nv12,setsar=1[v1]"
        );
        // The trial is the same path on a 2-frame sample.
        let t =
            trial_decode(HwKind::Nvenc, "hevc", Path::new("/t/hevc.mkv")).to_cmd_string("ffmpeg");
        assert!(
            t.contains("-hwaccel cuda -hwaccel_output_format cuda -i /t/hevc.mkv -frames:v 1 -vf scale_cuda=w=128:h=72:format=nv12,hwdownload,format=nv12"),
            "{t}"
        );
    }

    #[test]
    fn picture_subtitles_are_drawn_on_the_gpu_that_decodes() {
        let mut w = wish(Mode::Batch);
        w.format = Format::Mp4;
        let mut plan = decide(&media(), &w);
        plan.decode = Some(HwKind::Nvenc);
        plan.burn_subtitle = Some(3);
        let c = mp4_batch(&plan, HwKind::Software);
        // One CUDA device for the decoder, the subtitle upload and the overlay.
        assert!(
            c.contains("-init_hw_device cuda=gs_cu -filter_hw_device gs_cu")
                && c.contains("-hwaccel cuda -hwaccel_output_format cuda -hwaccel_device gs_cu -i http://pi/m.mkv"),
            "{c}"
        );
        assert!(
            c.contains("'[0:3]format=yuva420p,hwupload[gs_sub];[0:0][gs_sub]overlay_cuda=eof_action=pass,scale_cuda=w=1280:h=720:format=nv12,hwdownload,format=nv12,setsar=1[v0]'"),
            "{c}"
        );
        // VAAPI has no overlay here: a plan decoding there decodes in software and
        // draws the subtitles there.
        plan.decode = Some(HwKind::Vaapi);
        let c = mp4_batch(&plan, HwKind::Software);
        assert!(
            !c.contains("-hwaccel") && c.contains("[0:0][0:3]overlay=eof_action=pass"),
            "{c}"
        );
        // The trial: the sample decoded, a half-transparent picture drawn over it there.
        let t = trial_overlay(HwKind::Nvenc, Path::new("/t/h264.mkv"))
            .unwrap()
            .to_cmd_string("ffmpeg");
        assert!(
            t.contains("-init_hw_device cuda=gs_cu -filter_hw_device gs_cu -hwaccel cuda -hwaccel_output_format cuda -hwaccel_device gs_cu -i /t/h264.mkv -f lavfi -i color=c=white@0.5:s=64x32:r=25,format=yuva420p")
                && t.contains("overlay_cuda=eof_action=pass,scale_cuda=w=128:h=72:format=nv12,hwdownload"),
            "{t}"
        );
        assert!(trial_overlay(HwKind::Qsv, Path::new("/t/h264.mkv")).is_none());
    }

    #[test]
    fn abr_splits_one_decode() {
        let plan = decide(&media(), &wish(Mode::Abr));
        let VideoAction::Encode { renditions, .. } = &plan.video else {
            panic!()
        };
        let g = video_filter_graph(0, renditions, false, false, HwKind::Software, false);
        assert_eq!(
            g,
            "[0:0]split=3[s0][s1][s2];[s0]scale=1280:720:flags=bicubic,setsar=1,format=yuv420p[v0];\
[s1]scale=854:480:flags=bicubic,setsar=1,format=yuv420p[v1];\
[s2]scale=640:360:flags=bicubic,setsar=1,format=yuv420p[v2]"
        );
        let src = Source::Http("http://pi/m.mkv".into());
        let run = HlsRun {
            source: &src,
            plan: &plan,
            hw: HwKind::Nvenc,
            seek_secs: 0.0,
            out_offset_secs: 0.0,
            duration_secs: None,
            cut_times: vec![],
            first_segment: 0,
            out_dir: Path::new("/w"),
            run_id: 1,
            input: InputRules::default(),
            tuning: &Tuning {
                nvenc_preset: "p2".into(),
                ..Tuning::default()
            },
            gop_frames: None,
            copy_origin_secs: None,
        };
        let argv = hls_run(&run);
        let args = argv.args();
        assert_eq!(args.iter().filter(|a| *a == "-filter_complex").count(), 1);
        assert_eq!(args.iter().filter(|a| *a == "h264_nvenc").count(), 3);
        assert_eq!(args.iter().filter(|a| *a == "p2").count(), 3);
        assert!(args.contains(&"/w/v1_%05d.ts".to_string()));
        assert!(!args.contains(&"-ss".to_string()));
        assert!(!args.contains(&"-t".to_string()));
        // A run that ends at a segment (a quick first run, a restart before a made one)
        // stops every rendition there, not the first alone.
        let bounded = HlsRun {
            duration_secs: Some(1.0),
            ..run.clone()
        };
        let argv = hls_run(&bounded);
        let args = argv.args();
        let stops: Vec<usize> = (0..args.len())
            .filter(|i| args[*i] == "-t" && args[i + 1] == "1.000")
            .collect();
        let outputs: Vec<usize> = (0..args.len())
            .filter(|i| args[*i].ends_with("_%05d.ts"))
            .collect();
        assert_eq!(stops.len(), 3, "{args:?}");
        // Each before its own output, after the one before.
        for (k, stop) in stops.iter().enumerate() {
            assert!(
                *stop < outputs[k] && (k == 0 || *stop > outputs[k - 1]),
                "{args:?}"
            );
        }
    }

    #[test]
    fn av1_streams_are_fmp4_on_a_fixed_keyframe_interval() {
        let mut w = wish(Mode::Stream);
        w.video_codec = VideoCodec::Av1;
        let plan = decide(&media(), &w);
        assert!(plan.fmp4);
        let src = Source::Http("http://pi:5000/m.mkv".into());
        let run = HlsRun {
            source: &src,
            plan: &plan,
            hw: HwKind::Software,
            seek_secs: 8.0,
            out_offset_secs: 8.0,
            duration_secs: None,
            cut_times: vec![12.0, 16.0],
            first_segment: 2,
            out_dir: Path::new("/w/job"),
            run_id: 3,
            input: InputRules::default(),
            tuning: &Tuning::default(),
            gop_frames: Some(96),
            copy_origin_secs: None,
        };
        let cmd = hls_run(&run).to_cmd_string("ffmpeg");
        for want in [
            "-c:v libsvtav1",
            "-g 96",
            "-f segment -segment_format mp4 -segment_format_options movflags=+frag_keyframe+empty_moov+default_base_moof+frag_discont+negative_cts_offsets:use_editlist=0:avoid_negative_ts=disabled -avoid_negative_ts disabled",
            // The job's timeline starts FMP4_ORIGIN_SECS in.
            "-output_ts_offset 18.000",
            "/w/job/v0_%05d.mp4",
        ] {
            assert!(cmd.contains(want), "{want} not in {cmd}");
        }
        assert_eq!(gop_for(23.976, 4.0), (96, 96.0 / 23.976));
        assert_eq!(gop_for(0.0, 4.0), (100, 4.0));
        // H.264 stays in MPEG-TS unless fMP4 is asked for.
        assert!(!decide(&media(), &wish(Mode::Stream)).fmp4);
        let mut w = wish(Mode::Stream);
        w.container = Some(ghoststream_types::HlsContainer::Fmp4);
        assert!(decide(&media(), &w).fmp4);
    }

    #[test]
    fn hdr_is_tone_mapped_on_a_proven_gpu_before_the_encoder() {
        let mut m = media();
        if let Some(v) = m.video.as_mut() {
            v.dynamic_range = "hdr10".into();
            v.bit_depth = 10;
            v.pix_fmt = Some("yuv420p10le".into());
        }
        let src = Source::Http("http://pi:5000/m.mkv".into());
        let argv = |tone: Option<GpuTone>, hw: HwKind| {
            let mut plan = decide(&m, &wish(Mode::Stream));
            plan.gpu_tone = tone;
            let t = Tuning {
                gpu_scale: vec![hw],
                ..Tuning::default()
            };
            hls_run(&HlsRun {
                source: &src,
                plan: &plan,
                hw,
                seek_secs: 0.0,
                out_offset_secs: 0.0,
                duration_secs: None,
                cut_times: vec![],
                first_segment: 0,
                out_dir: Path::new("/w"),
                run_id: 1,
                input: InputRules::default(),
                tuning: &t,
                gop_frames: None,
                copy_origin_secs: None,
            })
            .to_cmd_string("ffmpeg")
        };
        // OpenCL before NVENC: its own filter device, the tone mapping there, scaled after.
        let cmd = argv(Some(GpuTone::OpenCl), HwKind::Nvenc);
        assert!(
            cmd.contains("-init_hw_device opencl=gs_cl -filter_hw_device gs_cl")
                && cmd.contains("hwupload,tonemap_opencl=tonemap=hable")
                && cmd.contains("hwdownload,format=nv12,scale=1280:720")
                && !cmd.contains("zscale")
                && !cmd.contains("scale_cuda"),
            "{cmd}"
        );
        // libplacebo on a Vulkan GPU.
        let cmd = argv(Some(GpuTone::Placebo), HwKind::Nvenc);
        assert!(
            cmd.contains("-init_hw_device vulkan=gs_vk") && cmd.contains("libplacebo="),
            "{cmd}"
        );
        // tonemap_vaapi shares VAAPI's device, and the frames are scaled there.
        let cmd = argv(Some(GpuTone::Vaapi), HwKind::Vaapi);
        assert!(
            cmd.contains("-vaapi_device /dev/dri/renderD128")
                && !cmd.contains("gs_va")
                && cmd.contains("tonemap_vaapi=format=nv12")
                && cmd.contains("scale_vaapi"),
            "{cmd}"
        );
        // Without one, zscale.
        assert!(argv(None, HwKind::Software).contains("zscale=w=1280:h=720:t=linear"));
        // What fits beside which encoder.
        let all = GpuTone::ALL;
        assert_eq!(pick_gpu_tone(&all, HwKind::Nvenc), Some(GpuTone::Placebo));
        assert_eq!(pick_gpu_tone(&all, HwKind::Vaapi), Some(GpuTone::Vaapi));
        assert_eq!(pick_gpu_tone(&all, HwKind::Qsv), None);
        assert_eq!(
            pick_gpu_tone(&[GpuTone::OpenCl, GpuTone::Vaapi], HwKind::Software),
            Some(GpuTone::OpenCl)
        );
        // The trial's device, from ffmpeg's log.
        assert_eq!(
            vulkan_device_chosen("[AVHWDeviceContext @ 0x5] Device 0 selected: llvmpipe (LLVM 15.0.6, 256 bits) (software) (0x0)\n"),
            Some(("llvmpipe (LLVM 15.0.6, 256 bits)".into(), "software".into()))
        );
        assert_eq!(
            vulkan_device_chosen("Device 1 selected: NVIDIA GeForce RTX 4070 (discrete) (0x2786)"),
            Some(("NVIDIA GeForce RTX 4070".into(), "discrete".into()))
        );
        assert_eq!(vulkan_device_chosen("nothing"), None);
    }

    #[test]
    fn tone_mapping_works_at_the_largest_rungs_size() {
        let r = |h: u32| Rendition {
            name: format!("{h}p"),
            width: h * 16 / 9,
            height: h,
            bitrate_kbps: 4000,
        };
        // Scaled down in the zscale that linearises, then tone-mapped, then each rung.
        let g = video_filter_graph(0, &[r(720)], true, false, HwKind::Software, false);
        assert_eq!(
            g,
            "[0:0]zscale=w=1280:h=720:t=linear:npl=100:p=bt709,format=gbrpf32le,tonemap=tonemap=hable:desat=0,\
zscale=t=bt709:m=bt709:r=tv,format=yuv420p,scale=1280:720:flags=bicubic,setsar=1,format=yuv420p[v0]"
        );
        let g = video_filter_graph(0, &[r(360), r(720)], true, false, HwKind::Software, false);
        assert!(
            g.starts_with("[0:0]zscale=w=1280:h=720:t=linear")
                && g.contains("split=2[s0][s1];[s0]scale=640:360"),
            "{g}"
        );
        // Scaled on a GPU, the picture is tone-mapped before the upload, at its own size.
        let g = video_filter_graph(0, &[r(720)], true, false, HwKind::Nvenc, true);
        assert!(
            g.starts_with(&format!("[0:0]{TONE_MAP},format=nv12,hwupload_cuda")),
            "{g}"
        );
    }

    #[test]
    fn gpu_scale_uploads_once_then_splits_and_scales_on_the_gpu() {
        let plan = decide(&media(), &wish(Mode::Abr));
        let VideoAction::Encode { renditions, .. } = &plan.video else {
            panic!()
        };
        assert_eq!(
            video_filter_graph(0, renditions, false, false, HwKind::Nvenc, true),
            "[0:0]format=nv12,hwupload_cuda,split=3[s0][s1][s2];\
[s0]scale_cuda=1280:720,setsar=1[v0];[s1]scale_cuda=854:480,setsar=1[v1];\
[s2]scale_cuda=640:360,setsar=1[v2]"
        );
        assert_eq!(
            video_filter_graph(0, &renditions[..1], true, true, HwKind::Vaapi, true),
            format!("[0:0]{TONE_MAP},format=p010le,hwupload,scale_vaapi=w=1280:h=720,setsar=1[v0]")
        );
        // Software has no GPU scaler: the flag changes nothing.
        assert_eq!(
            video_filter_graph(0, renditions, false, false, HwKind::Software, true),
            video_filter_graph(0, renditions, false, false, HwKind::Software, false)
        );
        // QSV needs its device for the upload.
        let src = Source::Http("http://pi/m.mkv".into());
        let tuning = Tuning {
            gpu_scale: vec![HwKind::Qsv],
            ..Tuning::default()
        };
        let run = BatchRun {
            source: &src,
            plan: &plan,
            hw: HwKind::Qsv,
            start_time: 0.0,
            format: ghoststream_types::Format::Mp4,
            output: Path::new("/w/out.part"),
            input: InputRules::default(),
            tuning: &tuning,
            max_secs: None,
            pass: None,
        };
        let cmd = batch(&run).to_cmd_string("ffmpeg");
        assert!(
            cmd.contains("-init_hw_device qsv=qs -filter_hw_device qs"),
            "{cmd}"
        );
        assert!(
            cmd.contains("hwupload=extra_hw_frames=64,scale_qsv=w=1280:h=720"),
            "{cmd}"
        );
        // The trial runs the same graph shape with two rungs.
        let trial = trial_gpu_scale("h264_nvenc", HwKind::Nvenc).unwrap();
        let t = trial.to_cmd_string("ffmpeg");
        assert!(t.contains("hwupload_cuda,split=2"), "{t}");
        assert!(trial_gpu_scale("libx264", HwKind::Software).is_none());
    }

    #[test]
    fn quoting() {
        let mut a = Argv::new();
        a.arg("it's").arg("a b").arg("plain");
        assert_eq!(a.to_cmd_string("ffmpeg"), r"ffmpeg 'it'\''s' 'a b' plain");
    }
}
