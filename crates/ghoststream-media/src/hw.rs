//! Hardware detection: which encoder back ends exist on this machine, each proven by a
//! one-frame trial encode. A back end that fails its trial is reported, with the reason,
//! but never used. NVIDIA details come from NVML, read off the async runtime.

use crate::command::{encoder_name, trial_encode, trial_gpu_scale, VAAPI_DEVICE};
use crate::errors::error_from_line;
use crate::process::run_bounded;
use ghoststream_types::{GpuInfo, HwAccelInfo, HwKind, VideoCodec};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// What the probe found, kept for the server's lifetime.
#[derive(Debug, Clone)]
pub struct Hardware {
    pub accels: Vec<HwAccelInfo>,
    /// `None` when ffmpeg could not be run at all.
    pub ffmpeg_version: Option<String>,
    /// Back ends whose GPU scaler (upload, split, `scale_cuda`/`scale_vaapi`/`scale_qsv`)
    /// passed a trial; the others scale in software before the GPU encoder.
    pub gpu_scale: Vec<HwKind>,
    /// libplacebo on Vulkan (Dolby Vision reshaping): proven by a trial, or why not.
    pub libplacebo: Result<(), String>,
    /// GPU tone mappers (HDR10/HLG to SDR) that passed their trial, in the order they
    /// are preferred; empty: zscale on the CPU.
    pub gpu_tone: Vec<crate::command::GpuTone>,
    /// Why the others are not used.
    pub gpu_tone_reason: Option<String>,
}

/// Source formats a GPU decoder is tried on: (codec as ffprobe names it, 10-bit, label).
pub const DECODE_FORMATS: [(&str, bool, &str); 5] = [
    ("h264", false, "h264"),
    ("hevc", false, "hevc"),
    ("hevc", true, "hevc 10-bit"),
    ("av1", false, "av1"),
    ("vp9", false, "vp9"),
];

/// The label of a source format (`DECODE_FORMATS`), if GPU decoders are tried on it.
pub fn decode_label(codec: &str, ten_bit: bool) -> Option<&'static str> {
    DECODE_FORMATS
        .iter()
        .find(|(c, t, _)| *c == codec && *t == ten_bit)
        .map(|(_, _, l)| *l)
}

/// A back end's decoder, as ffmpeg's `-hwaccel` names it.
pub fn decoder_of(kind: HwKind) -> &'static str {
    match kind {
        HwKind::Nvenc => "cuda",
        HwKind::Qsv => "qsv",
        HwKind::Vaapi => "vaapi",
        _ => "none",
    }
}

/// Back ends with a GPU decoder, in the order a software encoder borrows one.
pub const DECODE_KINDS: [HwKind; 3] = [HwKind::Nvenc, HwKind::Qsv, HwKind::Vaapi];

impl Hardware {
    /// Whether picture subtitles can be drawn on frames decoded on `kind`'s GPU.
    pub fn overlay_proven(&self, kind: HwKind) -> bool {
        self.accels
            .iter()
            .any(|a| a.kind == kind && a.overlay.is_some())
    }

    /// The version, or "not found" for display.
    pub fn ffmpeg_shown(&self) -> &str {
        self.ffmpeg_version.as_deref().unwrap_or("not found")
    }

    /// Proven back ends, best first (software last).
    pub fn available(&self) -> Vec<HwKind> {
        let mut v: Vec<HwKind> = self
            .accels
            .iter()
            .filter(|a| a.available)
            .map(|a| a.kind)
            .collect();
        v.sort();
        v
    }

    /// True when `encoder` passed its trial.
    pub fn encoder_proven(&self, encoder: &str) -> bool {
        self.accels
            .iter()
            .any(|a| a.available && a.encoders.iter().any(|e| e == encoder))
    }

    /// The back end to use for `codec`: the requested one if proven, else (for auto) the
    /// best proven one that has an encoder for the codec, else software.
    pub fn pick(&self, requested: Option<HwKind>, codec: VideoCodec) -> HwKind {
        let usable = |k: HwKind| encoder_name(codec, k).is_some_and(|e| self.encoder_proven(e));
        match requested {
            Some(k) if usable(k) => k,
            Some(_) => HwKind::Software,
            None => HwKind::ALL
                .into_iter()
                .find(|k| *k != HwKind::Software && usable(*k))
                .unwrap_or(HwKind::Software),
        }
    }

    /// Whether any GPU device opened for decoding, so its formats were tried.
    pub fn decoding_tried(&self) -> bool {
        self.accels.iter().any(|a| {
            DECODE_KINDS.contains(&a.kind)
                && (!a.decode.is_empty()
                    || a.decode_reason
                        .as_deref()
                        .is_some_and(|r| !r.starts_with(NO_DEVICE)))
        })
    }

    /// Whether `kind`'s decoder proved itself on this source format.
    pub fn decode_proven(&self, kind: HwKind, codec: &str, ten_bit: bool) -> bool {
        decode_label(codec, ten_bit).is_some_and(|label| {
            self.accels
                .iter()
                .any(|a| a.kind == kind && a.decode.iter().any(|d| d == label))
        })
    }

    /// Video codec names any proven encoder can produce.
    pub fn video_codecs(&self) -> Vec<String> {
        [
            VideoCodec::H264,
            VideoCodec::H265,
            VideoCodec::Vp9,
            VideoCodec::Av1,
        ]
        .into_iter()
        .filter(|c| {
            HwKind::ALL
                .into_iter()
                .any(|k| encoder_name(*c, k).is_some_and(|e| self.encoder_proven(e)))
        })
        .map(|c| c.as_str().to_string())
        .collect()
    }
}

const CODECS: [VideoCodec; 4] = [
    VideoCodec::H264,
    VideoCodec::H265,
    VideoCodec::Vp9,
    VideoCodec::Av1,
];

/// Lists ffmpeg's encoders, proves each candidate, and reads NVIDIA details.
pub async fn detect(ffmpeg: &Path, trial_timeout: Duration) -> Hardware {
    detect_with(ffmpeg, trial_timeout, "auto").await
}

/// [`detect`], with `hardware.tone_mapping`: `auto` tries every GPU tone mapper (a CPU
/// Vulkan driver does not count), `zscale` none, or one by name (`libplacebo`, `opencl`,
/// `vaapi`: tried on whatever device it gets).
pub async fn detect_with(ffmpeg: &Path, trial_timeout: Duration, tone_mapping: &str) -> Hardware {
    let listed = list(ffmpeg, "-encoders").await;
    let decoders = list(ffmpeg, "-decoders").await;
    let ffmpeg_version = version(ffmpeg).await;
    let gpu = tokio::task::spawn_blocking(nvidia_gpu).await.ok().flatten();
    let sem = Arc::new(tokio::sync::Semaphore::new(2));

    let mut accels = Vec::new();
    let mut gpu_scale = Vec::new();
    for kind in HwKind::ALL {
        let candidates: Vec<&'static str> = CODECS
            .iter()
            .filter_map(|c| encoder_name(*c, kind))
            .filter(|e| listed.iter().any(|l| l == e))
            .collect();
        let mut reason = None;
        if candidates.is_empty() {
            reason = Some("ffmpeg has no encoder for it".to_string());
        } else if kind == HwKind::Vaapi && !Path::new(VAAPI_DEVICE).exists() {
            reason = Some(format!("no render node at {VAAPI_DEVICE}"));
        } else if !platform_supports(kind) {
            reason = Some(format!("not supported on {}", std::env::consts::OS));
        }
        let mut proven = Vec::new();
        if reason.is_none() {
            let mut tasks = Vec::new();
            for enc in &candidates {
                let sem = sem.clone();
                let ffmpeg = ffmpeg.to_path_buf();
                let enc = enc.to_string();
                tasks.push(tokio::spawn(async move {
                    let _permit = sem.acquire_owned().await;
                    let argv = trial_encode(&enc, kind);
                    let r =
                        run_bounded(ffmpeg.as_os_str(), argv.args(), trial_timeout, "ffmpeg").await;
                    let verdict = match r {
                        Ok(o) if o.success => Ok(()),
                        Ok(o) => Err(o
                            .stderr
                            .lines()
                            .find_map(error_from_line)
                            .map(|c| c.message)
                            .unwrap_or_else(|| "trial encode failed".into())),
                        Err(e) => Err(e.to_string()),
                    };
                    (enc, verdict)
                }));
            }
            let mut first_failure = None;
            for t in tasks {
                if let Ok((enc, verdict)) = t.await {
                    match verdict {
                        Ok(()) => proven.push(enc),
                        Err(e) => {
                            first_failure.get_or_insert(format!("{enc}: {e}"));
                        }
                    }
                }
            }
            if proven.is_empty() {
                reason = Some(first_failure.unwrap_or_else(|| "trial encode failed".into()));
            }
            if let Some(argv) = proven.first().and_then(|e| trial_gpu_scale(e, kind)) {
                let r = run_bounded(ffmpeg.as_os_str(), argv.args(), trial_timeout, "ffmpeg").await;
                if matches!(r, Ok(o) if o.success) {
                    gpu_scale.push(kind);
                }
            }
        }
        let decs = decoder_names(kind, &decoders);
        accels.push(HwAccelInfo {
            kind,
            available: !proven.is_empty(),
            encoders: proven,
            decoders: decs,
            gpu_info: if kind == HwKind::Nvenc {
                gpu.clone()
            } else {
                None
            },
            device_path: (kind == HwKind::Vaapi && Path::new(VAAPI_DEVICE).exists())
                .then(|| VAAPI_DEVICE.to_string()),
            reason,
            decode: Vec::new(),
            decode_reason: None,
            overlay: None,
        });
    }
    // libplacebo and the GPU decoders are tried at the same time.
    let placebo = trial(
        ffmpeg,
        crate::command::trial_placebo(),
        trial_timeout,
        "the trial failed",
    );
    let (libplacebo, (), (gpu_tone, gpu_tone_reason)) = tokio::join!(
        placebo,
        decode_trials(ffmpeg, trial_timeout, &mut accels),
        tone_trials(ffmpeg, trial_timeout, tone_mapping)
    );
    Hardware {
        accels,
        ffmpeg_version,
        gpu_scale,
        libplacebo,
        gpu_tone,
        gpu_tone_reason,
    }
}

/// The GPU tone mappers `setting` asks for, each proven by a trial; and why the others
/// are not used.
async fn tone_trials(
    ffmpeg: &Path,
    timeout: Duration,
    setting: &str,
) -> (Vec<crate::command::GpuTone>, Option<String>) {
    use crate::command::GpuTone;
    let (candidates, any_device) = match setting {
        "zscale" => {
            return (
                Vec::new(),
                Some("hardware.tone_mapping is zscale: HDR is tone-mapped on the CPU".into()),
            )
        }
        "auto" | "" => (GpuTone::ALL.to_vec(), false),
        other => match GpuTone::parse(other) {
            Some(t) => (vec![t], true),
            None => {
                return (
                    Vec::new(),
                    Some(format!(
                        "hardware.tone_mapping '{other}' is not auto, zscale, libplacebo, opencl or vaapi: zscale is used"
                    )),
                )
            }
        },
    };
    let mut proven = Vec::new();
    let mut why = Vec::new();
    for t in candidates {
        if t == GpuTone::Vaapi && !Path::new(VAAPI_DEVICE).exists() {
            why.push(format!("{}: no {VAAPI_DEVICE}", t.filter()));
            continue;
        }
        let argv = crate::command::trial_gpu_tone(t);
        let verdict = match run_bounded(ffmpeg.as_os_str(), argv.args(), timeout, "ffmpeg").await {
            Ok(o) if o.success => match (t, crate::command::vulkan_device_chosen(&o.stderr)) {
                // lavapipe passes, but on the CPU it is no faster than zscale.
                (GpuTone::Placebo, Some((name, kind))) if kind == "software" && !any_device => {
                    Err(format!("its Vulkan device is {name}, a CPU driver"))
                }
                _ => Ok(()),
            },
            Ok(o) => Err(first_error(&o.stderr, "the trial failed")),
            Err(e) => Err(e.to_string()),
        };
        match verdict {
            Ok(()) => proven.push(t),
            Err(e) => why.push(format!("{}: {e}", t.filter())),
        }
    }
    (proven, (!why.is_empty()).then(|| why.join("; ")))
}

/// GPU decoding, proven per back end and source format: the device first (one quick
/// run); where it opens, a 1-frame sample of each format (made here with the software
/// encoders) decoded on it, scaled on the GPU and read back. A back end decodes only
/// what passed; a machine without a GPU device spends one failed device open per back
/// end.
async fn decode_trials(ffmpeg: &Path, timeout: Duration, accels: &mut [HwAccelInfo]) {
    let mut opened = Vec::new();
    // The devices are opened at once: a machine without them pays for one failure.
    let opens: Vec<_> = DECODE_KINDS
        .into_iter()
        .map(|kind| {
            let ffmpeg = ffmpeg.to_path_buf();
            tokio::spawn(async move {
                let argv = crate::command::trial_device(kind);
                (
                    kind,
                    trial(&ffmpeg, argv, timeout, "the device did not open").await,
                )
            })
        })
        .collect();
    for open in opens {
        let Ok((kind, verdict)) = open.await else {
            continue;
        };
        match verdict {
            Ok(()) => opened.push(kind),
            Err(e) => set_decode(accels, kind, Vec::new(), Some(format!("{NO_DEVICE}{e}"))),
        }
    }
    if opened.is_empty() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("ghoststream-decode-trial-{}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let mut samples = Vec::new();
    for (codec, ten_bit, label) in DECODE_FORMATS {
        let path = dir.join(format!("{}.mkv", label.replace(' ', "_")));
        let argv = crate::command::decode_sample(codec, ten_bit, &path);
        let made = trial(ffmpeg, argv, timeout, "").await.is_ok();
        samples.push((codec, label, made.then_some(path)));
    }
    for kind in opened {
        let mut proven = Vec::new();
        let mut failed = Vec::new();
        for (codec, label, path) in &samples {
            let Some(path) = path else {
                failed.push(format!(
                    "{label}: no sample (ffmpeg lacks its software encoder)"
                ));
                continue;
            };
            let argv = crate::command::trial_decode(kind, codec, path);
            match trial(ffmpeg, argv, timeout, "trial decode failed").await {
                Ok(()) => proven.push(label.to_string()),
                Err(e) => failed.push(format!("{label}: {e}")),
            }
        }
        // Picture subtitles drawn on the frames where they were decoded.
        let h264 = samples.iter().find(|(c, _, _)| *c == "h264");
        let overlay = match (h264, proven.iter().any(|l| l == "h264")) {
            (Some((_, _, Some(path))), true) => match crate::command::trial_overlay(kind, path) {
                Some(argv) => {
                    match trial(ffmpeg, argv, timeout, "the overlay trial failed").await {
                        Ok(()) => crate::command::gpu_overlay(kind).map(String::from),
                        Err(e) => {
                            failed.push(format!("subtitle overlay: {e}"));
                            None
                        }
                    }
                }
                None => None,
            },
            _ => None,
        };
        let reason =
            (!failed.is_empty()).then(|| format!("decodes in software: {}", failed.join("; ")));
        set_decode(accels, kind, proven, reason);
        if let Some(a) = accels.iter_mut().find(|a| a.kind == kind) {
            a.overlay = overlay;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs one trial: `Ok` when ffmpeg succeeds, else its first error line (`default`
/// when it printed none).
async fn trial(
    ffmpeg: &Path,
    argv: crate::command::Argv,
    timeout: Duration,
    default: &str,
) -> Result<(), String> {
    match run_bounded(ffmpeg.as_os_str(), argv.args(), timeout, "ffmpeg").await {
        Ok(o) if o.success => Ok(()),
        Ok(o) => Err(first_error(&o.stderr, default)),
        Err(e) => Err(e.to_string()),
    }
}

/// How `decode_reason` begins for a back end whose device did not open.
const NO_DEVICE: &str = "no decoding: ";

fn set_decode(
    accels: &mut [HwAccelInfo],
    kind: HwKind,
    proven: Vec<String>,
    reason: Option<String>,
) {
    if let Some(a) = accels.iter_mut().find(|a| a.kind == kind) {
        a.decode = proven;
        a.decode_reason = reason;
    }
}

fn first_error(stderr: &str, default: &str) -> String {
    stderr
        .lines()
        .find_map(error_from_line)
        .map(|c| c.message)
        .or_else(|| {
            stderr
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(String::from)
        })
        .unwrap_or_else(|| default.to_string())
}

fn platform_supports(kind: HwKind) -> bool {
    let macos = cfg!(target_os = "macos");
    let windows = cfg!(target_os = "windows");
    match kind {
        HwKind::Videotoolbox => macos,
        HwKind::Amf => windows,
        _ => true,
    }
}

fn decoder_names(kind: HwKind, decoders: &[String]) -> Vec<String> {
    let suffix = match kind {
        HwKind::Nvenc => "_cuvid",
        HwKind::Qsv => "_qsv",
        HwKind::Software => return Vec::new(),
        _ => return Vec::new(),
    };
    decoders
        .iter()
        .filter(|d| d.ends_with(suffix))
        .cloned()
        .collect()
}

async fn list(ffmpeg: &Path, what: &str) -> Vec<String> {
    let Ok(out) = run_bounded(
        ffmpeg.as_os_str(),
        ["-hide_banner", what],
        Duration::from_secs(10),
        "ffmpeg",
    )
    .await
    else {
        return Vec::new();
    };
    parse_codec_list(&String::from_utf8_lossy(&out.stdout))
}

/// Names from `ffmpeg -encoders` / `-decoders` output.
pub fn parse_codec_list(text: &str) -> Vec<String> {
    text.lines()
        .skip_while(|l| !l.trim_start().starts_with("------"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect()
}

async fn version(ffmpeg: &Path) -> Option<String> {
    match run_bounded(
        ffmpeg.as_os_str(),
        ["-version"],
        Duration::from_secs(10),
        "ffmpeg",
    )
    .await
    {
        Ok(o) => String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("ffmpeg version "))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or("unknown")
            .to_string()
            .into(),
        Err(_) => None,
    }
}

/// The first NVIDIA GPU, through NVML; `None` when there is no driver or no GPU.
#[cfg(feature = "nvml")]
pub fn nvidia_gpu() -> Option<GpuInfo> {
    let nvml = nvml()?;
    let dev = nvml.device_by_index(0).ok()?;
    Some(GpuInfo {
        name: dev.name().ok()?,
        memory_mb: dev
            .memory_info()
            .map(|m| m.total / (1024 * 1024))
            .unwrap_or(0),
        driver_version: nvml.sys_driver_version().ok(),
    })
}

#[cfg(not(feature = "nvml"))]
pub fn nvidia_gpu() -> Option<GpuInfo> {
    None
}

#[cfg(feature = "nvml")]
fn nvml() -> Option<&'static nvml_wrapper::Nvml> {
    static NVML: std::sync::OnceLock<Option<nvml_wrapper::Nvml>> = std::sync::OnceLock::new();
    NVML.get_or_init(|| nvml_wrapper::Nvml::init().ok())
        .as_ref()
}

/// Live figures of every NVIDIA GPU; empty without a driver. Blocking: call it off the
/// async runtime.
#[cfg(feature = "nvml")]
pub fn nvidia_stats() -> Vec<ghoststream_types::GpuStats> {
    let Some(nvml) = nvml() else {
        return Vec::new();
    };
    let count = nvml.device_count().unwrap_or(0);
    (0..count)
        .filter_map(|i| {
            let d = nvml.device_by_index(i).ok()?;
            let mem = d.memory_info().ok();
            Some(ghoststream_types::GpuStats {
                index: i,
                name: d.name().unwrap_or_else(|_| "NVIDIA GPU".into()),
                utilization_percent: d.utilization_rates().ok().map(|u| u.gpu),
                encoder_percent: d.encoder_utilization().ok().map(|u| u.utilization),
                decoder_percent: d.decoder_utilization().ok().map(|u| u.utilization),
                memory_used_mb: mem.as_ref().map(|m| m.used / (1024 * 1024)),
                memory_total_mb: mem.as_ref().map(|m| m.total / (1024 * 1024)),
                temperature_c: d
                    .temperature(nvml_wrapper::enum_wrappers::device::TemperatureSensor::Gpu)
                    .ok(),
                power_w: d.power_usage().ok().map(|mw| mw as f64 / 1000.0),
                jobs: Vec::new(),
            })
        })
        .collect()
}

#[cfg(not(feature = "nvml"))]
pub fn nvidia_stats() -> Vec<ghoststream_types::GpuStats> {
    Vec::new()
}

/// One process's use of one NVIDIA GPU, from NVML's per-process figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessGpu {
    pub pid: u32,
    pub gpu: u32,
    pub sm_percent: u32,
    pub encoder_percent: u32,
    pub decoder_percent: u32,
    pub memory_mb: Option<u64>,
}

/// Every process using an NVIDIA GPU: its utilisation averaged over NVML's samples of
/// the last `window`, and the memory it holds. Empty without a driver. Blocking: call it
/// off the async runtime.
#[cfg(feature = "nvml")]
pub fn nvidia_process_usage(window: std::time::Duration) -> Vec<ProcessGpu> {
    use nvml_wrapper::enums::device::UsedGpuMemory;
    use std::collections::BTreeMap;
    let Some(nvml) = nvml() else {
        return Vec::new();
    };
    // NVML's sample timestamps are the CPU clock in microseconds.
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.saturating_sub(window).as_micros() as u64)
        .unwrap_or(0);
    let mut out = Vec::new();
    for i in 0..nvml.device_count().unwrap_or(0) {
        let Ok(d) = nvml.device_by_index(i) else {
            continue;
        };
        // pid → (sm, enc, dec sums, samples, memory)
        let mut by_pid: BTreeMap<u32, ([u64; 3], u64, Option<u64>)> = BTreeMap::new();
        for s in d.process_utilization_stats(since).unwrap_or_default() {
            let e = by_pid.entry(s.pid).or_default();
            e.0[0] += u64::from(s.sm_util);
            e.0[1] += u64::from(s.enc_util);
            e.0[2] += u64::from(s.dec_util);
            e.1 += 1;
        }
        let holders = d
            .running_compute_processes()
            .unwrap_or_default()
            .into_iter()
            .chain(d.running_graphics_processes().unwrap_or_default());
        for p in holders {
            if let UsedGpuMemory::Used(bytes) = p.used_gpu_memory {
                let e = by_pid.entry(p.pid).or_default();
                e.2 = Some(e.2.unwrap_or(0) + bytes / (1024 * 1024));
            }
        }
        out.extend(by_pid.into_iter().map(|(pid, (sums, n, memory_mb))| {
            let avg = |k: usize| (sums[k] / n.max(1)) as u32;
            ProcessGpu {
                pid,
                gpu: i,
                sm_percent: avg(0),
                encoder_percent: avg(1),
                decoder_percent: avg(2),
                memory_mb,
            }
        }));
    }
    out
}

#[cfg(not(feature = "nvml"))]
pub fn nvidia_process_usage(_window: std::time::Duration) -> Vec<ProcessGpu> {
    Vec::new()
}

/// NVENC sessions on the first NVIDIA GPU: how many are open (every program's) and the
/// GPU's name. `None` without NVML. Blocking: call it off the async runtime.
#[cfg(feature = "nvml")]
pub fn nvenc_sessions_open() -> Option<(u32, String)> {
    let nvml = nvml()?;
    let d = nvml.device_by_index(0).ok()?;
    let open = d.encoder_sessions().ok()?.len() as u32;
    Some((open, d.name().unwrap_or_default()))
}

#[cfg(not(feature = "nvml"))]
pub fn nvenc_sessions_open() -> Option<(u32, String)> {
    None
}

/// The number of NVENC sessions a GPU allows at once: `configured` when set (not 0);
/// otherwise 8 on a GeForce card (NVIDIA's consumer driver limit since 2024; earlier
/// drivers allowed 3, then 5: set `hardware.nvenc_max_sessions` for those), unlimited on
/// workstation and data-centre cards.
pub fn nvenc_session_limit(gpu_name: &str, configured: u32) -> Option<u32> {
    if configured > 0 {
        return Some(configured);
    }
    let name = gpu_name.to_ascii_lowercase();
    (name.contains("geforce") || name.contains("titan")).then_some(8)
}

/// Why a new NVENC job must encode in software instead: every session the GPU allows is
/// open. `None` when one is free.
pub fn nvenc_sessions_full(open: u32, gpu_name: &str, configured: u32) -> Option<String> {
    let limit = nvenc_session_limit(gpu_name, configured)?;
    (open >= limit).then(|| {
        format!(
            "all {limit} NVENC sessions of the {} are in use (its driver allows {limit} at once); encoding in software",
            if gpu_name.is_empty() { "GPU" } else { gpu_name }
        )
    })
}

/// The process ids that hold NVENC encoder sessions on any NVIDIA GPU (NVML); empty
/// without a driver. Blocking: call it off the async runtime.
#[cfg(feature = "nvml")]
pub fn nvenc_session_pids() -> Vec<u32> {
    let Some(nvml) = nvml() else {
        return Vec::new();
    };
    (0..nvml.device_count().unwrap_or(0))
        .filter_map(|i| nvml.device_by_index(i).ok()?.encoder_sessions().ok())
        .flatten()
        .map(|s| s.pid)
        .collect()
}

#[cfg(not(feature = "nvml"))]
pub fn nvenc_session_pids() -> Vec<u32> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvenc_sessions_are_limited_on_geforce_cards_only() {
        let geforce = "NVIDIA GeForce RTX 4070";
        assert_eq!(nvenc_session_limit(geforce, 0), Some(8));
        assert_eq!(nvenc_session_limit("NVIDIA H200", 0), None);
        assert_eq!(nvenc_session_limit("NVIDIA RTX A4000", 3), Some(3));
        assert_eq!(nvenc_sessions_full(7, geforce, 0), None);
        let why = nvenc_sessions_full(8, geforce, 0).unwrap();
        assert!(
            why.contains("all 8 NVENC sessions of the NVIDIA GeForce RTX 4070 are in use")
                && why.ends_with("encoding in software"),
            "{why}"
        );
        assert_eq!(nvenc_sessions_full(500, "NVIDIA H200", 0), None);
        assert!(nvenc_sessions_full(3, "Quadro P2000", 3).is_some());
    }

    #[test]
    fn parses_encoder_list() {
        let text = "Encoders:\n V..... = Video\n ------\n V....D libx264   libx264 H.264\n A....D aac  AAC\n";
        assert_eq!(parse_codec_list(text), ["libx264", "aac"]);
    }

    fn hw(kinds: &[(HwKind, &[&str])]) -> Hardware {
        Hardware {
            accels: kinds
                .iter()
                .map(|(k, e)| HwAccelInfo {
                    kind: *k,
                    available: !e.is_empty(),
                    encoders: e.iter().map(|s| s.to_string()).collect(),
                    decoders: vec![],
                    gpu_info: None,
                    device_path: None,
                    reason: None,
                    decode: vec![],
                    decode_reason: None,
                    overlay: None,
                })
                .collect(),
            ffmpeg_version: Some("5.1".into()),
            gpu_scale: vec![],
            libplacebo: Err("not tried".into()),
            gpu_tone: vec![],
            gpu_tone_reason: None,
        }
    }

    #[test]
    fn auto_picks_best_proven() {
        let h = hw(&[
            (HwKind::Nvenc, &["h264_nvenc"]),
            (HwKind::Software, &["libx264", "libvpx-vp9"]),
        ]);
        assert_eq!(h.pick(None, VideoCodec::H264), HwKind::Nvenc);
        assert_eq!(h.pick(None, VideoCodec::Vp9), HwKind::Software);
        assert_eq!(
            h.pick(Some(HwKind::Qsv), VideoCodec::H264),
            HwKind::Software
        );
        assert_eq!(h.available(), [HwKind::Nvenc, HwKind::Software]);
        let none = hw(&[(HwKind::Nvenc, &[]), (HwKind::Software, &["libx264"])]);
        assert_eq!(none.pick(None, VideoCodec::H264), HwKind::Software);
    }
}
