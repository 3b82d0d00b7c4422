//! ffprobe → [`MediaInfo`], and the keyframe index the copy path segments on.

use crate::errors::{error_from_line, humanize, MediaError};
use crate::process::run_bounded;
use crate::source::{InputRules, Source};
use ghoststream_types::{AudioInfo, MediaInfo, SubtitleInfo, VideoInfo};
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

#[derive(Deserialize)]
struct ProbeJson {
    #[serde(default)]
    streams: Vec<ProbeStream>,
    format: Option<ProbeFormat>,
}

#[derive(Deserialize)]
struct ProbeFormat {
    duration: Option<String>,
    format_name: Option<String>,
    size: Option<String>,
    bit_rate: Option<String>,
}

#[derive(Deserialize, Default)]
struct ProbeStream {
    index: u32,
    codec_type: Option<String>,
    codec_name: Option<String>,
    profile: Option<String>,
    level: Option<i32>,
    width: Option<u32>,
    height: Option<u32>,
    pix_fmt: Option<String>,
    bits_per_raw_sample: Option<String>,
    color_transfer: Option<String>,
    color_primaries: Option<String>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    channels: Option<u32>,
    sample_rate: Option<String>,
    duration: Option<String>,
    #[serde(default)]
    tags: std::collections::HashMap<String, String>,
    #[serde(default)]
    disposition: std::collections::HashMap<String, i64>,
    #[serde(default)]
    side_data_list: Vec<serde_json::Value>,
}

/// The Dolby Vision configuration record among a stream's side data.
fn dolby_vision(side: &[serde_json::Value]) -> Option<ghoststream_types::DolbyVision> {
    let d = side
        .iter()
        .find(|s| s["side_data_type"] == "DOVI configuration record")?;
    let n = |k: &str| d[k].as_u64().map(|v| v.min(255) as u8);
    Some(ghoststream_types::DolbyVision {
        profile: n("dv_profile")?,
        level: n("dv_level").unwrap_or(0),
        compatibility: n("dv_bl_signal_compatibility_id").unwrap_or(0),
    })
}

/// Probes a source with ffprobe, bounded by `timeout`.
pub async fn probe(
    ffprobe: &Path,
    source: &Source,
    timeout: Duration,
    rules: &InputRules,
) -> Result<MediaInfo, MediaError> {
    // Warnings too: the egress proxy's refusal is logged as one (`HTTP error 403 …`).
    let mut args: Vec<String> = vec!["-v".into(), "level+warning".into()];
    args.extend(source.input_args(&InputRules {
        rw_timeout_secs: timeout.as_secs().max(5),
        max_pixels: None,
        ..rules.clone()
    }));
    args.extend(
        [
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            "-i",
        ]
        .map(String::from),
    );
    args.push(source.as_input());
    let out = run_bounded(ffprobe.as_os_str(), &args, timeout, "ffprobe").await?;
    if !out.success {
        let cause = out
            .stderr
            .lines()
            .find_map(error_from_line)
            .unwrap_or_else(|| humanize(out.stderr.lines().next().unwrap_or("")));
        return Err(MediaError::Source(cause));
    }
    parse_probe_json(&out.stdout)
}

/// Pure part of [`probe`], tested on captured output.
pub fn parse_probe_json(bytes: &[u8]) -> Result<MediaInfo, MediaError> {
    let p: ProbeJson =
        serde_json::from_slice(bytes).map_err(|e| MediaError::BadProbe(e.to_string()))?;
    let format = p
        .format
        .ok_or_else(|| MediaError::BadProbe("no format section".into()))?;
    let mut info = MediaInfo {
        duration: num(&format.duration).unwrap_or(0.0),
        container: format.format_name.unwrap_or_default(),
        size_bytes: num(&format.size).map(|v| v as u64),
        bitrate_kbps: num(&format.bit_rate).map(|v| (v / 1000.0) as u32),
        ..Default::default()
    };
    for s in p.streams {
        let codec = s.codec_name.clone().unwrap_or_else(|| "unknown".into());
        let language = s.tags.get("language").cloned();
        // An audio or subtitle track's title and default flag, as players list it.
        let title = s
            .tags
            .get("title")
            .filter(|t| !t.trim().is_empty())
            .cloned();
        let default = s.disposition.get("default") == Some(&1);
        match s.codec_type.as_deref() {
            Some("video")
                if info.video.is_none() && s.disposition.get("attached_pic") != Some(&1) =>
            {
                let pix_fmt = s.pix_fmt.clone();
                let bit_depth = s
                    .bits_per_raw_sample
                    .as_deref()
                    .and_then(|b| b.parse().ok())
                    .unwrap_or_else(|| bit_depth_of(pix_fmt.as_deref()));
                if info.duration <= 0.0 {
                    info.duration = num(&s.duration).unwrap_or(0.0);
                }
                info.video = Some(VideoInfo {
                    index: s.index,
                    codec,
                    profile: s.profile.clone(),
                    level: s.level,
                    width: s.width.unwrap_or(0),
                    height: s.height.unwrap_or(0),
                    fps: rate(s.avg_frame_rate.as_deref())
                        .or_else(|| rate(s.r_frame_rate.as_deref()))
                        .unwrap_or(0.0),
                    dynamic_range: dynamic_range(
                        s.color_transfer.as_deref(),
                        s.color_primaries.as_deref(),
                    )
                    .to_string(),
                    pix_fmt,
                    bit_depth,
                    dolby_vision: dolby_vision(&s.side_data_list),
                    color_transfer: s.color_transfer,
                    color_primaries: s.color_primaries,
                });
            }
            Some("audio") => info.audio.push(AudioInfo {
                index: s.index,
                codec,
                channels: s.channels.unwrap_or(0),
                sample_rate: s
                    .sample_rate
                    .as_deref()
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(0),
                language,
                title,
                default,
            }),
            Some("subtitle") => info.subtitles.push(SubtitleInfo {
                index: s.index,
                codec,
                language,
                title,
                default,
                forced: s.disposition.get("forced") == Some(&1),
            }),
            _ => {}
        }
    }
    if info.video.is_none() && info.audio.is_empty() {
        return Err(MediaError::NoStreams);
    }
    Ok(info)
}

/// HDR is a property of transfer and primaries, not of bit depth: a 10-bit BT.709 file is
/// SDR, an HLG file is HDR.
pub fn dynamic_range(transfer: Option<&str>, primaries: Option<&str>) -> &'static str {
    match transfer {
        Some("smpte2084") => "hdr10",
        Some("arib-std-b67") => "hlg",
        _ => {
            // BT.2020 primaries with an unknown transfer are treated as SDR wide gamut.
            let _ = primaries;
            "sdr"
        }
    }
}

fn bit_depth_of(pix_fmt: Option<&str>) -> u32 {
    match pix_fmt {
        Some(p) if p.contains("10") => 10,
        Some(p) if p.contains("12") => 12,
        _ => 8,
    }
}

fn num(v: &Option<String>) -> Option<f64> {
    v.as_deref()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|f| f.is_finite())
}

fn rate(v: Option<&str>) -> Option<f64> {
    let (n, d) = v?.split_once('/')?;
    let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
    (d > 0.0 && n > 0.0).then_some(n / d)
}

/// Keyframe times (seconds, source timeline) of the first video stream.
pub async fn keyframes(
    ffprobe: &Path,
    source: &Source,
    timeout: Duration,
    rules: &InputRules,
) -> Result<Vec<f64>, MediaError> {
    // Warnings too: the egress proxy's refusal is logged as one (`HTTP error 403 …`).
    let mut args: Vec<String> = vec!["-v".into(), "level+warning".into()];
    args.extend(source.input_args(&InputRules {
        rw_timeout_secs: timeout.as_secs().max(5),
        max_pixels: None,
        ..rules.clone()
    }));
    args.extend(
        [
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time,flags",
            "-of",
            "csv=p=0",
            "-i",
        ]
        .map(String::from),
    );
    args.push(source.as_input());
    let out = run_bounded(ffprobe.as_os_str(), &args, timeout, "ffprobe").await?;
    if !out.success {
        let cause = out
            .stderr
            .lines()
            .find_map(error_from_line)
            .unwrap_or_else(|| {
                crate::errors::Cause::new(
                    crate::errors::CauseKind::Other,
                    "could not read the keyframe index",
                )
            });
        return Err(MediaError::Source(cause));
    }
    Ok(parse_keyframes(&String::from_utf8_lossy(&out.stdout)))
}

/// Parses `pts_time,flags` lines, keeping keyframes, sorted and deduplicated.
pub fn parse_keyframes(csv: &str) -> Vec<f64> {
    let v: Vec<f64> = csv
        .lines()
        .filter_map(|l| {
            let (t, flags) = l.split_once(',')?;
            if !flags.starts_with('K') {
                return None;
            }
            t.parse::<f64>().ok().filter(|t| t.is_finite())
        })
        .collect();
    sorted_unique(v)
}

/// Keyframe times in order, each once.
pub fn sorted_unique(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v.dedup_by(|a, b| (*a - *b).abs() < 1e-6);
    v
}

/// For tests of the container readers: ffmpeg writes `file` from `args` (lavfi inputs).
#[cfg(test)]
pub(crate) fn ffmpeg_makes(file: &Path, args: &[&str]) {
    let ok = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(args)
        .arg(file)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "ffmpeg is needed for this test");
}

/// For tests of the container readers (`mkv`, `mp4`): `ours`, read from `file`'s own
/// index, must be ffprobe's packet pass to the millisecond.
#[cfg(test)]
pub(crate) async fn assert_same_keyframes(file: &Path, ours: &[f64]) {
    let source = Source::File(file.to_path_buf());
    let probed = keyframes(
        Path::new("ffprobe"),
        &source,
        Duration::from_secs(20),
        &InputRules::default(),
    )
    .await
    .unwrap();
    let name = file.display();
    assert!(probed.len() >= 3, "{name}: {probed:?}");
    assert_eq!(ours.len(), probed.len(), "{name}: {ours:?} vs {probed:?}");
    for (a, b) in ours.iter().zip(&probed) {
        assert!((a - b).abs() < 0.002, "{name}: {a} vs {b}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HDR_PROBE: &str = r#"{"streams":[
      {"index":0,"codec_type":"video","codec_name":"hevc","profile":"Main 10","level":150,
       "width":3840,"height":2160,"pix_fmt":"yuv420p10le","color_transfer":"smpte2084",
       "color_primaries":"bt2020","avg_frame_rate":"24000/1001",
       "side_data_list":[{"side_data_type":"DOVI configuration record","dv_version_major":1,
         "dv_version_minor":0,"dv_profile":8,"dv_level":6,"rpu_present_flag":1,
         "el_present_flag":0,"bl_present_flag":1,"dv_bl_signal_compatibility_id":1}]},
      {"index":1,"codec_type":"audio","codec_name":"eac3","channels":6,"sample_rate":"48000",
       "tags":{"language":"eng"}},
      {"index":2,"codec_type":"subtitle","codec_name":"subrip","tags":{"language":"fre"}},
      {"index":4,"codec_type":"subtitle","codec_name":"ass","tags":{"title":"Signs"},
       "disposition":{"default":1,"forced":1}},
      {"index":3,"codec_type":"video","codec_name":"mjpeg","disposition":{"attached_pic":1}}],
      "format":{"duration":"7200.5","format_name":"matroska,webm","size":"1000","bit_rate":"8000000"}}"#;

    #[test]
    fn normalises_streams() {
        let info = parse_probe_json(HDR_PROBE.as_bytes()).unwrap();
        assert_eq!(info.duration, 7200.5);
        let v = info.video.unwrap();
        assert_eq!((v.width, v.height, v.bit_depth), (3840, 2160, 10));
        assert_eq!(v.dynamic_range, "hdr10");
        let dv = v.dolby_vision.unwrap();
        assert_eq!((dv.profile, dv.level, dv.compatibility), (8, 6, 1));
        assert!(!dv.needs_reshaping());
        assert_eq!(
            dv.describe(),
            "Dolby Vision profile 8: its HDR10 base layer is used"
        );
        assert!((v.fps - 23.976).abs() < 0.01);
        assert_eq!(info.audio[0].channels, 6);
        assert_eq!(info.audio[0].language.as_deref(), Some("eng"));
        assert_eq!(info.subtitles[0].codec, "subrip");
        assert!(!info.subtitles[0].default && !info.subtitles[0].forced);
        assert_eq!(info.subtitles[0].title, None);
        let signs = &info.subtitles[1];
        assert_eq!((signs.index, signs.title.as_deref()), (4, Some("Signs")));
        assert!(signs.default && signs.forced);
        assert_eq!(info.bitrate_kbps, Some(8000));
    }

    #[test]
    fn hdr_is_decided_by_transfer_not_depth() {
        assert_eq!(dynamic_range(Some("bt709"), Some("bt709")), "sdr");
        assert_eq!(dynamic_range(Some("arib-std-b67"), Some("bt2020")), "hlg");
        assert_eq!(dynamic_range(None, Some("bt2020")), "sdr");
    }

    #[test]
    fn no_streams_is_an_error() {
        let r = parse_probe_json(br#"{"streams":[],"format":{"duration":"1"}}"#);
        assert!(matches!(r, Err(MediaError::NoStreams)));
    }

    #[test]
    fn keyframe_csv() {
        let k = parse_keyframes("0.023000,K_\n1.0,__\n2.023000,K_\n2.023000,K_\nN/A,K_\n");
        assert_eq!(k, vec![0.023, 2.023]);
    }
}
