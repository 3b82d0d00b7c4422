//! fMP4 (CMAF) HLS: AV1, VP9 and HEVC streams, HEVC passed through where the client
//! allows it, and fMP4 on request; each segment after its own initialisation section,
//! on one timeline whichever run wrote it.

use super::support::*;
use serde_json::{json, Value};
use std::time::Duration;

const MIN: Duration = Duration::from_secs(60);

/// `(init URI, segment URI, EXTINF)` of each segment of a variant playlist.
fn fmp4_entries(variant: &str) -> Vec<(String, String, f64)> {
    let mut out = Vec::new();
    let mut init = None;
    let mut dur = None;
    for l in variant.lines() {
        if let Some(rest) = l.strip_prefix("#EXT-X-MAP:URI=\"") {
            init = Some(rest.trim_end_matches('"').to_string());
        } else if let Some(d) = l.strip_prefix("#EXTINF:") {
            dur = Some(d.trim_end_matches(',').parse::<f64>().unwrap());
        } else if !l.starts_with('#') && !l.is_empty() {
            let i = init.take().expect("an EXT-X-MAP before every segment");
            out.push((i, l.to_string(), dur.take().unwrap()));
        }
    }
    out
}

fn file_of(uri: &str) -> &str {
    uri.split('?').next().unwrap()
}

/// A segment (`(init URI, segment URI, EXTINF)` of [`fmp4_entries`]) as a player gets
/// it: its initialisation section and its fragment, each fetched.
async fn init_and_fragment(
    gs: &Gs,
    job: &Value,
    entry: &(String, String, f64),
) -> (Vec<u8>, Vec<u8>) {
    let (init, seg, _) = entry;
    let (code, head) = gs.fetch(&stream_file_url(job, file_of(init))).await;
    assert_eq!(code, 200, "{init}");
    let (code, body) = gs.fetch(&stream_file_url(job, file_of(seg))).await;
    assert_eq!(code, 200, "{seg}");
    (head, body)
}

/// Fetches segment `i` with its initialisation section and probes the two together:
/// (codec, start time on the job's timeline).
async fn probe_segment(
    gs: &Gs,
    job: &Value,
    entries: &[(String, String, f64)],
    i: usize,
) -> (String, f64) {
    let (init, seg, _) = &entries[i];
    let (head, body) = init_and_fragment(gs, job, &entries[i]).await;
    assert_eq!(&head[4..8], b"ftyp", "{init} starts with ftyp");
    assert_eq!(&body[4..8], b"moof", "{seg} is a fragment alone");
    let p = probe_bytes(&[head, body].concat(), ".mp4");
    let v = stream_of(&p, "video").unwrap();
    let start: f64 = v["start_time"].as_str().unwrap().parse().unwrap();
    (v["codec_name"].as_str().unwrap().to_string(), start - 10.0)
}

/// AV1 is segmented in fMP4 on SVT-AV1's own keyframe interval; a seek restart's segments
/// sit on the same timeline as the first run's; hls.js in Chromium plays and seeks it.
#[tokio::test]
async fn av1_streams_in_fmp4_play_in_chromium() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let job = gs
        .start_job(json!({
            "source": media.url("long.mkv"),
            "output": {"video_codec": "av1", "bitrate": "300k"}
        }))
        .await;
    assert_eq!(job["status"], "processing", "{job}");
    let master = gs.master(&job).await;
    assert!(
        master.contains("CODECS=\"av01.0.09M.08,mp4a.40.2\""),
        "{master}"
    );
    let (_, variant) = gs.fetch(&stream_file_url(&job, "v0.m3u8")).await;
    let variant = String::from_utf8(variant).unwrap();
    assert!(variant.contains("#EXT-X-VERSION:7"), "{variant}");
    let entries = fmp4_entries(&variant);
    // 24 s at 25 fps in segments of 100 frames (4 s), the first too; the tail joins the
    // last.
    assert_eq!(entries.len(), 6, "{variant}");
    assert!(
        entries[..5].iter().all(|e| (e.2 - 4.0).abs() < 0.01),
        "{variant}"
    );
    // The last segment first: a seek restarts the encoder there.
    let (codec, start) = probe_segment(&gs, &job, &entries, 5).await;
    assert_eq!(codec, "av1");
    assert!((start - 20.0).abs() < 0.05, "segment 5 starts at {start}");
    let (_, start) = probe_segment(&gs, &job, &entries, 0).await;
    assert!(start.abs() < 0.05, "segment 0 starts at {start}");
    // The MPEG-TS name of an fMP4 job's segment is not served.
    let (code, _) = gs.fetch(&stream_file_url(&job, "v0_00000.ts")).await;
    assert_eq!(code, 404);
    let log = gs.log(&job).await;
    assert!(
        log.contains("-c:v libsvtav1") && log.contains("-g 100"),
        "{log}"
    );
    play_in_chromium(&media, &job).await;
}

/// HEVC is passed through where the request allows it, else encoded as before; an H.264
/// stream is fMP4 when asked; VP9 and AV1 in MPEG-TS are refused.
#[tokio::test]
async fn hevc_passes_through_in_fmp4_when_the_client_allows_it() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let job = gs
        .start_job(json!({
            "source": media.url("sdr10.mkv"),
            "output": {"copy_codecs": ["hevc"]}
        }))
        .await;
    assert_eq!(job["delivery"]["kind"], "remux", "{job}");
    let master = gs.master(&job).await;
    assert!(master.contains("CODECS=\"hvc1.2.4.L"), "{master}");
    let (_, variant) = gs.fetch(&stream_file_url(&job, "v0.m3u8")).await;
    let entries = fmp4_entries(&String::from_utf8(variant).unwrap());
    assert!(!entries.is_empty());
    let (codec, start) = probe_segment(&gs, &job, &entries, 0).await;
    assert_eq!(codec, "hevc");
    // Copied video keeps the source's first presentation time (its B-frame delay).
    assert!(start.abs() < 0.1, "{start}");
    gs.wait_for(&job, &["ready"], MIN).await;
    assert!(gs.log(&job).await.contains("-c:v copy"));

    // Without copy_codecs the same source is encoded to H.264 in MPEG-TS.
    let job = gs
        .start_job(json!({"source": media.url("sdr10.mkv"), "session_id": "other"}))
        .await;
    assert_eq!(job["delivery"]["kind"], "transcode", "{job}");
    let (_, variant) = gs.fetch(&stream_file_url(&job, "v0.m3u8")).await;
    let variant = String::from_utf8(variant).unwrap();
    assert!(
        variant.contains("v0_00000.ts") && !variant.contains("EXT-X-MAP"),
        "{variant}"
    );

    // H.264 in fMP4 on request.
    let job = gs
        .start_job(json!({"source": media.url("short.mkv"), "output": {"container": "fmp4"}}))
        .await;
    assert!(gs.master(&job).await.contains("avc1."));
    let (_, variant) = gs.fetch(&stream_file_url(&job, "v0.m3u8")).await;
    let entries = fmp4_entries(&String::from_utf8(variant).unwrap());
    let (codec, _) = probe_segment(&gs, &job, &entries, 0).await;
    assert_eq!(codec, "h264");

    for codec in ["vp9", "av1"] {
        let (code, body) = gs
            .post(
                "/api/transcode/start",
                json!({"source": media.url("short.mkv"),
                       "output": {"video_codec": codec, "container": "ts"}}),
            )
            .await;
        assert_eq!(code, 422, "{body}");
        assert!(body.to_string().contains("container"), "{body}");
    }
}

/// Streams of a source with two audio tracks list each as an `EXT-X-MEDIA` audio
/// rendition (the source's default first, or the one `audio_language` names), in
/// segments of their own beside the video's, with the source's SubRip track as WebVTT;
/// hls.js in Chromium switches between them while an AV1 fMP4 stream plays.
#[tokio::test]
async fn audio_tracks_are_renditions_and_hls_js_switches_between_them() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let job = gs
        .start_job(json!({"source": media.url("langs.mkv")}))
        .await;
    assert_eq!(job["media_info"]["audio"][0]["title"], "English", "{job}");
    assert_eq!(job["media_info"]["audio"][1]["default"], true, "{job}");
    let master = gs.master(&job).await;
    let audio: Vec<&str> = master
        .lines()
        .filter(|l| l.starts_with("#EXT-X-MEDIA:TYPE=AUDIO"))
        .collect();
    assert_eq!(audio.len(), 2, "{master}");
    assert!(
        audio[0].contains("NAME=\"English\",LANGUAGE=\"eng\",DEFAULT=NO")
            && audio[0].contains("CHANNELS=\"2\"")
            && audio[0].contains("URI=\"v1.m3u8?gst="),
        "{master}"
    );
    // The French 5.1 AC-3 track is the source's default, and AAC stereo here.
    assert!(
        audio[1].contains("LANGUAGE=\"fre\",DEFAULT=YES") && audio[1].contains("CHANNELS=\"2\""),
        "{master}"
    );
    assert!(
        master.contains(",AUDIO=\"audio\",SUBTITLES=\"subs\"\nv0.m3u8?gst=")
            && master.contains("CODECS=\"avc1.640028,mp4a.40.2\""),
        "{master}"
    );
    // The video segments carry no audio; each audio playlist its own track.
    let (code, seg) = gs.fetch(&stream_file_url(&job, "v0_00000.ts")).await;
    assert_eq!(code, 200);
    let p = probe_bytes(&seg, ".ts");
    assert!(
        stream_of(&p, "video").is_some() && stream_of(&p, "audio").is_none(),
        "{p}"
    );
    for v in [1, 2] {
        let (_, pl) = gs
            .fetch(&stream_file_url(&job, &format!("v{v}.m3u8")))
            .await;
        let pl = String::from_utf8(pl).unwrap();
        assert!(pl.contains(&format!("v{v}_00001.ts")), "{pl}");
        let (code, seg) = gs
            .fetch(&stream_file_url(&job, &format!("v{v}_00001.ts")))
            .await;
        assert_eq!(code, 200);
        let p = probe_bytes(&seg, ".ts");
        let a = stream_of(&p, "audio").expect("an audio segment");
        assert!(stream_of(&p, "video").is_none(), "{p}");
        assert_eq!(
            (a["codec_name"].as_str(), a["channels"].as_u64()),
            (Some("aac"), Some(2))
        );
    }
    // The SubRip track, as WebVTT with its cue times.
    let (code, vtt) = gs.fetch(&stream_file_url(&job, "sub0.vtt")).await;
    assert_eq!(code, 200);
    let vtt = String::from_utf8(vtt).unwrap();
    let secs = |t: &str| -> f64 {
        let p: Vec<f64> = t.trim().split(':').map(|x| x.parse().unwrap()).collect();
        p[0] * 3600.0 + p[1] * 60.0 + p[2]
    };
    let cues: Vec<(f64, f64)> = vtt
        .lines()
        .filter_map(|l| l.split_once(" --> "))
        .map(|(a, b)| (secs(a), secs(b.split_whitespace().next().unwrap())))
        .collect();
    // As the SubRip file says, within the source's own start (AAC priming shifts the
    // Matroska timeline by 21 ms).
    let want = [(2.0, 3.5), (5.25, 6.0)];
    assert_eq!(cues.len(), 2, "{vtt}");
    for (got, want) in cues.iter().zip(want) {
        assert!(
            (got.0 - want.0).abs() < 0.05 && (got.1 - want.1).abs() < 0.05,
            "{vtt}"
        );
    }
    assert!(
        vtt.contains("First line") && vtt.contains("Second line"),
        "{vtt}"
    );
    let log = gs.log(&job).await;
    assert!(
        log.contains("-map 0:1") && log.contains("-map 0:2"),
        "{log}"
    );

    // English first when asked, in an AV1 fMP4 stream that hls.js plays and switches.
    let job = gs
        .start_job(json!({
            "source": media.url("langs.mkv"),
            "output": {"video_codec": "av1", "audio_language": "en", "bitrate": "300k"}
        }))
        .await;
    let master = gs.master(&job).await;
    assert!(
        master.contains("NAME=\"English\",LANGUAGE=\"eng\",DEFAULT=YES")
            && master.contains("LANGUAGE=\"fre\",DEFAULT=NO")
            && master.contains("CODECS=\"av01.0.09M.08,mp4a.40.2\""),
        "{master}"
    );
    let (_, pl) = gs.fetch(&stream_file_url(&job, "v2.m3u8")).await;
    let entries = fmp4_entries(&String::from_utf8(pl).unwrap());
    let (head, body) = init_and_fragment(&gs, &job, &entries[0]).await;
    let p = probe_bytes(&[head, body].concat(), ".mp4");
    assert_eq!(stream_of(&p, "audio").unwrap()["codec_name"], "aac", "{p}");
    let out = run_player(&media, &job, "tests/browser/hls_audio.mjs").await;
    assert!(
        out.contains("ok tracks=eng:English:true,fre:fre:false current=0")
            && out.contains("ok switched to=1"),
        "{out}"
    );
    // A language code that is not one is refused.
    let (code, body) = gs
        .post(
            "/api/transcode/start",
            json!({"source": media.url("langs.mkv"), "output": {"audio_language": "en;rm -rf"}}),
        )
        .await;
    assert_eq!(code, 422, "{body}");
}

/// An H.265 stream is fMP4 (hvc1, `CODECS` hvc1.1.6…), and each of its segments begins
/// with an IDR frame (NAL type 19 or 20), not an open-GOP CRA (21, x265's default) whose
/// leading frames may refer to the segment before: each decodes on its own, every frame.
#[tokio::test]
async fn hevc_streams_are_fmp4_and_each_segment_starts_with_an_idr() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let job = gs
        .start_job(json!({
            "source": media.url("long.mkv"),
            "output": {"video_codec": "h265", "bitrate": "300k"}
        }))
        .await;
    let master = gs.master(&job).await;
    assert!(
        master.contains("CODECS=\"hvc1.1.6.L123.90,mp4a.40.2\""),
        "{master}"
    );
    let (_, variant) = gs.fetch(&stream_file_url(&job, "v0.m3u8")).await;
    let entries = fmp4_entries(&String::from_utf8(variant).unwrap());
    assert!(entries.len() >= 3);
    for i in [1, 2] {
        let secs = entries[i].2;
        let (head, body) = init_and_fragment(&gs, &job, &entries[i]).await;
        let f = tempfile::Builder::new().suffix(".mp4").tempfile().unwrap();
        std::fs::write(f.path(), [head, body].concat()).unwrap();
        // The first picture's NAL unit type, after the parameter sets and SEI (32–39).
        let out = std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-i"])
            .arg(f.path())
            .args([
                "-c",
                "copy",
                "-bsf:v",
                "trace_headers",
                "-frames:v",
                "1",
                "-f",
                "null",
                "-",
            ])
            .output()
            .unwrap();
        let trace = String::from_utf8_lossy(&out.stderr);
        let first = trace
            .lines()
            .filter(|l| l.contains("nal_unit_type"))
            .filter_map(|l| l.rsplit(' ').next()?.trim().parse::<u32>().ok())
            .find(|t| !(32..=39).contains(t));
        assert!(
            matches!(first, Some(19 | 20)),
            "segment {i} begins with NAL type {first:?}"
        );
        let out = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-count_frames",
                "-select_streams",
                "v:0",
                "-show_entries",
                "stream=codec_name,nb_read_frames",
                "-of",
                "csv=p=0",
            ])
            .arg(f.path())
            .output()
            .unwrap();
        // long.mkv is 25 frames a second.
        let want = (secs * 25.0).round() as u64;
        let got = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(got, format!("hevc,{want}"), "segment {i}");
    }
    assert!(gs.log(&job).await.contains("-x265-params open-gop=0"));
}
