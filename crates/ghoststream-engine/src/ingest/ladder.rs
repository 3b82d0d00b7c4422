//! The ladder: which rungs a stream gets, the one ffmpeg that makes them all from one
//! decode, and the live HLS playlists' sliding window.

use ghoststream_media::command::encoder_name;
use ghoststream_types::{HwKind, VideoCodec};
use std::path::Path;

/// The seed's ladder: 1080p30 5000k, 720p30 3000k, 480p30 1500k, 360p30 800k.
pub const RUNGS: [(u32, u32); 4] = [(1080, 5000), (720, 3000), (480, 1500), (360, 800)];

#[derive(Debug, Clone, PartialEq)]
pub struct Rung {
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// `None`: the publisher's own video, copied.
    pub kbps: Option<u32>,
}

/// The rungs for an input of `w`×`h`: every seed rung at or below the input's height
/// (at least one: a smaller input gets one rung at its own size), plus the source as it
/// is when `passthrough` and it is H.264.
pub fn rungs(w: u32, h: u32, passthrough: bool) -> Vec<Rung> {
    let aspect = if h > 0 {
        w as f64 / h as f64
    } else {
        16.0 / 9.0
    };
    let even = |x: f64| ((x / 2.0).round() as u32 * 2).max(2);
    let mut out: Vec<Rung> = RUNGS
        .iter()
        .filter(|(rh, _)| *rh <= h)
        .map(|(rh, kbps)| Rung {
            name: format!("{rh}p"),
            width: even(*rh as f64 * aspect),
            height: *rh,
            kbps: Some(*kbps),
        })
        .collect();
    if out.is_empty() {
        let h2 = even(h.max(2) as f64);
        out.push(Rung {
            name: format!("{h2}p"),
            width: even(h2 as f64 * aspect),
            height: h2,
            kbps: Some(((800 * h2 * h2) / (360 * 360)).clamp(150, 800)),
        });
    }
    if passthrough {
        out.insert(
            0,
            Rung {
                name: "source".into(),
                width: w,
                height: h,
                kbps: None,
            },
        );
    }
    out
}

/// The sample aspect ratio that gives a `rung`-sized picture the display aspect ratio of
/// the `input` (854x480 for a 16:9 input is 1280:1281).
pub fn sar(input: (u32, u32), rung: (u32, u32)) -> (u64, u64) {
    let num = input.0 as u64 * rung.1 as u64;
    let den = input.1 as u64 * rung.0 as u64;
    if num == 0 || den == 0 {
        return (1, 1);
    }
    let g = gcd(num, den);
    (num / g, den / g)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Everything the argv depends on.
pub struct LadderSpec<'a> {
    pub rungs: &'a [Rung],
    /// The input's size: every rung keeps its display aspect ratio exactly (DASH puts
    /// the rungs in one adaptation set only when they agree).
    pub input: (u32, u32),
    pub hw: HwKind,
    pub has_audio: bool,
    /// Cap the frame rate at 30 (the input is faster).
    pub cap_fps: bool,
    pub segment_seconds: u32,
    pub nvenc_preset: &'a str,
    pub out_dir: &'a Path,
}

/// ffmpeg's arguments: FLV on stdin; one decode split into every encoded rung; CMAF
/// segments with a DASH manifest and HLS playlists over the same files; progress on
/// stdout.
pub fn argv(s: &LadderSpec) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    let mut push = |xs: &[&str]| a.extend(xs.iter().map(|x| x.to_string()));
    push(&["-hide_banner", "-loglevel", "warning", "-nostats"]);
    push(&["-progress", "pipe:1"]);
    if s.hw == HwKind::Vaapi {
        push(&[
            "-init_hw_device",
            &format!("vaapi=va:{}", ghoststream_media::command::VAAPI_DEVICE),
            "-filter_hw_device",
            "va",
        ]);
    }
    push(&["-f", "flv", "-i", "pipe:0"]);
    let encoded: Vec<&Rung> = s.rungs.iter().filter(|r| r.kbps.is_some()).collect();
    let mut graph = String::new();
    if !encoded.is_empty() {
        graph.push_str(&format!("[0:v]split={}", encoded.len()));
        for i in 0..encoded.len() {
            graph.push_str(&format!("[s{i}]"));
        }
        for (i, r) in encoded.iter().enumerate() {
            graph.push(';');
            graph.push_str(&format!("[s{i}]"));
            if s.cap_fps {
                graph.push_str("fps=30,");
            }
            // A fixed size, so a publisher that comes back at another size still fits.
            let (sn, sd) = sar(s.input, (r.width, r.height));
            graph.push_str(&format!(
                "scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=sar={sn}/{sd}:max={m},",
                w = r.width,
                h = r.height,
                m = sn.max(sd)
            ));
            if s.hw == HwKind::Vaapi {
                graph.push_str("format=nv12,hwupload");
            } else {
                graph.push_str("format=yuv420p");
            }
            graph.push_str(&format!("[v{i}]"));
        }
    }
    let mut args: Vec<String> = Vec::new();
    if !graph.is_empty() {
        args.extend(["-filter_complex".into(), graph]);
    }
    let enc = encoder_name(VideoCodec::H264, s.hw).unwrap_or("libx264");
    let mut enc_index = 0usize;
    for (out_index, r) in s.rungs.iter().enumerate() {
        match r.kbps {
            None => {
                args.extend(["-map".into(), "0:v:0".into()]);
                args.extend([format!("-c:v:{out_index}"), "copy".into()]);
            }
            Some(kbps) => {
                args.extend(["-map".into(), format!("[v{enc_index}]")]);
                let i = out_index;
                let mut o = |k: &str, v: String| args.extend([format!("-{k}:v:{i}"), v]);
                o("c", enc.into());
                o("b", format!("{kbps}k"));
                o("maxrate", format!("{}k", kbps * 11 / 10));
                o("bufsize", format!("{}k", kbps * 2));
                match s.hw {
                    HwKind::Software => {
                        o("preset", "veryfast".into());
                        o("tune", "zerolatency".into());
                        o("profile", "high".into());
                    }
                    HwKind::Nvenc => {
                        o("preset", s.nvenc_preset.into());
                        o("tune", "ll".into());
                        o("rc", "cbr".into());
                        o("forced-idr", "1".into());
                    }
                    HwKind::Qsv => o("preset", "veryfast".into()),
                    HwKind::Amf => o("quality", "speed".into()),
                    _ => {}
                }
                // A keyframe at every segment boundary, in every encoded rung.
                o(
                    "force_key_frames",
                    format!("expr:gte(t,n_forced*{})", s.segment_seconds),
                );
                o("sc_threshold", "0".into());
                enc_index += 1;
            }
        }
    }
    if s.has_audio {
        args.extend(
            [
                "-map", "0:a:0", "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-ar", "48000",
            ]
            .map(String::from),
        );
    }
    let sets = if s.has_audio {
        "id=0,streams=v id=1,streams=a"
    } else {
        "id=0,streams=v"
    };
    args.extend(
        [
            "-f",
            "dash",
            "-seg_duration",
            &s.segment_seconds.to_string(),
            "-window_size",
            "0",
            "-use_template",
            "1",
            "-use_timeline",
            "1",
            "-hls_playlist",
            "1",
            "-adaptation_sets",
            sets,
            "-init_seg_name",
            "init-$RepresentationID$.m4s",
            "-media_seg_name",
            "chunk-$RepresentationID$-$Number%05d$.m4s",
            "-remove_at_exit",
            "0",
        ]
        .map(String::from),
    );
    args.push(
        s.out_dir
            .join("manifest.mpd")
            .to_string_lossy()
            .into_owned(),
    );
    a.extend(args);
    a
}

/// A live media playlist cut to its last `window` segments (the recording keeps them
/// all; players join at the live edge either way). Header lines stay; the media sequence
/// moves with the window.
pub fn window(playlist: &str, window: usize) -> String {
    let mut header: Vec<&str> = Vec::new();
    let mut segments: Vec<Vec<&str>> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut first_seq: u64 = 0;
    let mut in_segments = false;
    for line in playlist.lines() {
        if let Some(n) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            first_seq = n.trim().parse().unwrap_or(0);
            continue;
        }
        if line.starts_with("#EXTINF") {
            in_segments = true;
        }
        if !in_segments {
            header.push(line);
            continue;
        }
        current.push(line);
        if !line.starts_with('#') && !line.trim().is_empty() {
            segments.push(std::mem::take(&mut current));
        }
    }
    let drop = segments.len().saturating_sub(window.max(1));
    let mut out = String::new();
    for line in &header {
        out.push_str(line);
        out.push('\n');
        if line.starts_with("#EXT-X-TARGETDURATION") {
            out.push_str(&format!(
                "#EXT-X-MEDIA-SEQUENCE:{}\n",
                first_seq + drop as u64
            ));
        }
    }
    for seg in &segments[drop..] {
        for line in seg {
            out.push_str(line);
            out.push('\n');
        }
    }
    for line in current {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// ffmpeg does not know the bitrate of a copied stream; the master playlist gets the
/// publisher's measured one for the `source` rung, so players rank it right.
pub fn source_bandwidth(master: &str, rungs: &[Rung], input_kbps: u32) -> String {
    let lines: Vec<&str> = master.lines().collect();
    let mut out = String::with_capacity(master.len());
    for (i, line) in lines.iter().enumerate() {
        let next = lines[i + 1..].iter().find(|l| !l.trim().is_empty());
        let copied = next
            .and_then(|n| n.strip_prefix("media_"))
            .and_then(|n| n.strip_suffix(".m3u8"))
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| rungs.get(n))
            .is_some_and(|r| r.kbps.is_none());
        if line.starts_with("#EXT-X-STREAM-INF:") && copied && input_kbps > 0 {
            let fixed: Vec<String> = line["#EXT-X-STREAM-INF:".len()..]
                .split(',')
                .map(|attr| match attr.split_once('=') {
                    Some(("BANDWIDTH", _)) => format!("BANDWIDTH={}", input_kbps as u64 * 1000),
                    _ => attr.to_string(),
                })
                .collect();
            out.push_str("#EXT-X-STREAM-INF:");
            out.push_str(&fixed.join(","));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rungs_never_exceed_the_input() {
        let r = rungs(1920, 1080, true);
        let names: Vec<&str> = r.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["source", "1080p", "720p", "480p", "360p"]);
        assert_eq!((r[2].width, r[2].height), (1280, 720));
        let r = rungs(1280, 720, false);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].height, 720);
        let r = rungs(320, 180, false);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].width, r[0].height), (320, 180));
    }

    #[test]
    fn argv_maps_every_rung_from_one_decode() {
        let r = rungs(1280, 720, true);
        let dir = std::path::PathBuf::from("/tmp/x");
        let a = argv(&LadderSpec {
            rungs: &r,
            input: (1280, 720),
            hw: HwKind::Software,
            has_audio: true,
            cap_fps: false,
            segment_seconds: 2,
            nvenc_preset: "p4",
            out_dir: &dir,
        });
        let joined = a.join(" ");
        assert!(joined.contains("-f flv -i pipe:0"));
        assert!(joined.contains("[0:v]split=3[s0][s1][s2]"));
        assert!(joined.contains("-c:v:0 copy"));
        assert!(joined.contains("-c:v:1 libx264 -b:v:1 3000k"));
        assert!(joined.contains("-profile:v:1 high"));
        assert!(!joined.contains("-profile:v:0"));
        assert!(joined.contains("-map 0:a:0"));
        assert!(joined.contains("-hls_playlist 1"));
        assert_eq!(a.last().unwrap(), "/tmp/x/manifest.mpd");
    }

    #[test]
    fn gpu_ladders_use_their_encoder_per_rung() {
        let r = rungs(1920, 1080, false);
        let dir = std::path::PathBuf::from("/tmp/x");
        let spec = |hw| LadderSpec {
            rungs: &r,
            input: (1920, 1080),
            hw,
            has_audio: false,
            cap_fps: true,
            segment_seconds: 2,
            nvenc_preset: "p4",
            out_dir: &dir,
        };
        let nv = argv(&spec(HwKind::Nvenc)).join(" ");
        assert!(nv.contains("-c:v:0 h264_nvenc -b:v:0 5000k"), "{nv}");
        assert!(nv.contains("-preset:v:3 p4"), "{nv}");
        assert!(nv.contains("[s0]fps=30,scale=1920:1080"), "{nv}");
        assert!(!nv.contains("-map 0:a"), "{nv}");
        assert!(nv.contains("-adaptation_sets id=0,streams=v -"), "{nv}");
        let va = argv(&spec(HwKind::Vaapi)).join(" ");
        assert!(va.contains("-init_hw_device vaapi=va:"), "{va}");
        assert!(va.contains("format=nv12,hwupload[v0]"), "{va}");
        assert!(va.contains("-c:v:2 h264_vaapi"), "{va}");
        // 854x480 keeps 16:9 exactly; 1280x720 is square.
        assert!(nv.contains("scale=854:480:force_original_aspect_ratio=decrease,pad=854:480:(ow-iw)/2:(oh-ih)/2,setsar=sar=1280/1281:max=1281,"), "{nv}");
        assert!(nv.contains("setsar=sar=1/1:max=1"), "{nv}");
        assert_eq!(sar((1920, 1080), (854, 480)), (1280, 1281));
    }

    #[test]
    fn the_source_rung_gets_its_bitrate() {
        let m = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=131734,RESOLUTION=640x360,CODECS=\"avc1.42c01e,mp4a.40.2\"\nmedia_0.m3u8\n\n#EXT-X-STREAM-INF:BANDWIDTH=933690,RESOLUTION=640x360\nmedia_1.m3u8\n";
        let r = rungs(640, 360, true);
        let out = source_bandwidth(m, &r, 2100);
        assert!(out.contains("BANDWIDTH=2100000,RESOLUTION=640x360,CODECS"));
        assert!(out.contains("BANDWIDTH=933690"));
    }

    #[test]
    fn the_window_slides() {
        let pl = "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-MAP:URI=\"init-0.m4s\"\n\
#EXTINF:2.0,\n#EXT-X-PROGRAM-DATE-TIME:x\nchunk-0-00001.m4s\n#EXTINF:2.0,\nchunk-0-00002.m4s\n#EXTINF:2.0,\nchunk-0-00003.m4s\n";
        let w = window(pl, 2);
        assert!(w.contains("#EXT-X-MEDIA-SEQUENCE:2\n"));
        assert!(!w.contains("chunk-0-00001"));
        assert!(w.contains("chunk-0-00002.m4s\n#EXTINF:2.0,\nchunk-0-00003.m4s\n"));
        assert!(w.contains("#EXT-X-MAP:URI=\"init-0.m4s\""));
        assert_eq!(window(pl, 10).matches("chunk-").count(), 3);
    }
}
