//! Stream and ABR modes: playlists, segments, restarts, seeking, ladder, subtitles, HDR,
//! audio channels, sharing.

use super::support::*;
use serde_json::json;
use std::time::Duration;

const MIN: Duration = Duration::from_secs(60);

fn lines_with<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(prefix)).collect()
}

/// Segment start times as the variant playlist promises them (sums of EXTINF).
fn starts(variant: &str) -> Vec<f64> {
    let mut t = 0.0;
    lines_with(variant, "#EXTINF:")
        .iter()
        .map(|l| {
            let start = t;
            t += l
                .trim_start_matches("#EXTINF:")
                .trim_end_matches(',')
                .parse::<f64>()
                .unwrap();
            start
        })
        .collect()
}

fn start_of(seg: &[u8]) -> f64 {
    let p = probe_bytes(seg, ".ts");
    stream_of(&p, "video").unwrap()["start_time"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn playable_source_is_remuxed_on_its_keyframes() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    // Matroska (its Cues) and MP4 (its sample tables, moov at the end): each index is read
    // ahead of ffprobe, and the cuts are the same.
    for name in ["h264.mkv", "h264.mp4"] {
        remuxed_on_its_keyframes(&gs, &media.url(name)).await;
    }
}

async fn remuxed_on_its_keyframes(gs: &Gs, source: &str) {
    let job = gs.start_job(json!({ "source": source })).await;
    assert_eq!(job["status"], "processing");
    assert!(job["stream_url"]
        .as_str()
        .unwrap()
        .contains("/master.m3u8?gst="));
    assert_eq!(job["media_info"]["video"]["codec"], "h264");
    assert!((job["duration"].as_f64().unwrap() - 8.0).abs() < 0.2);
    // The master playlist is real, the variant VOD with ENDLIST from the first request.
    let (code, master) = gs.fetch(job["stream_url"].as_str().unwrap()).await;
    assert_eq!(code, 200);
    let master = String::from_utf8(master).unwrap();
    let inf = lines_with(&master, "#EXT-X-STREAM-INF");
    assert_eq!(inf.len(), 1, "{master}");
    assert!(
        inf[0].contains("RESOLUTION=640x360")
            && inf[0].contains("CODECS=")
            && inf[0].contains("BANDWIDTH=")
    );
    let (_, variant) = gs.fetch(&stream_file_url(&job, "v0.m3u8")).await;
    let variant = String::from_utf8(variant).unwrap();
    assert!(
        variant.contains("#EXT-X-PLAYLIST-TYPE:VOD")
            && variant.trim_end().ends_with("#EXT-X-ENDLIST")
    );
    // Keyframes every 2 s: a short first segment to the first keyframe after 1 s, then
    // segments as close to 4 s as the keyframes allow.
    let map = starts(&variant);
    assert_eq!(map.len(), 3, "{variant}");
    assert!(
        (map[1] - 2.0).abs() < 0.1 && (map[2] - 6.0).abs() < 0.1,
        "{variant}"
    );
    for uri in variant.lines().filter(|l| !l.starts_with('#')) {
        assert!(uri.contains("?gst="), "{uri}");
    }
    for (i, want) in map.iter().enumerate() {
        let (code, seg) = gs
            .fetch(&stream_file_url(&job, &format!("v0_{i:05}.ts")))
            .await;
        assert_eq!(code, 200, "{source} segment {i}");
        let p = probe_bytes(&seg, ".ts");
        assert_eq!(stream_of(&p, "video").unwrap()["codec_name"], "h264");
        let start = start_of(&seg);
        assert!(
            (start - want).abs() < 0.1,
            "{source}: segment {i} starts at {start}, the playlist says {want}"
        );
    }
    let done = gs.wait_for(&job, &["ready"], MIN).await;
    assert_eq!(done["progress"], 100.0);
    assert_eq!(done["hw_accel_used"], "software");
    let log = gs.log(&job).await;
    assert!(
        log.contains("-c:v copy") && log.contains("-c:a copy"),
        "{log}"
    );
}

#[tokio::test]
async fn the_first_segment_comes_from_a_quick_run_and_the_next_run_carries_on() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let job = gs
        .start_job(json!({"source": media.url("long.mkv"), "output": {"bitrate": "400k"}}))
        .await;
    let done = gs.wait_for(&job, &["ready"], MIN).await;
    assert_eq!(done["status"], "ready", "{done}");
    let log = gs.log(&job).await;
    let runs = lines_with(&log, "$ ffmpeg");
    assert_eq!(runs.len(), 2, "{log}");
    // Segment 0 alone, without look-ahead or B-frames…
    assert!(
        runs[0].contains("-rc-lookahead 0 -bf 0 -profile:v high"),
        "{log}"
    );
    assert!(runs[0].contains(" -t 1.000 "), "{log}");
    assert!(runs[0].contains("-segment_start_number 0"), "{log}");
    // …then everything after it with the usual settings, from where it stopped.
    assert!(
        runs[1].contains("-rc-lookahead 10") && !runs[1].contains("-bf 0"),
        "{log}"
    );
    assert!(runs[1].contains("-ss 1.000"), "{log}");
    assert!(runs[1].contains("-segment_start_number 1"), "{log}");
    assert!(runs[1].contains("-output_ts_offset 1.000"), "{log}");
    // The seam is invisible: every segment starts where the playlist says and lasts as long.
    let (_, variant) = gs.fetch(&stream_file_url(&job, "v0.m3u8")).await;
    let variant = String::from_utf8(variant).unwrap();
    let map = starts(&variant);
    let lens: Vec<f64> = map.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(map[..3], [0.0, 1.0, 5.0], "{variant}");
    for (i, want) in map.iter().enumerate().take(lens.len()) {
        let (code, seg) = gs
            .fetch(&stream_file_url(&job, &format!("v0_{i:05}.ts")))
            .await;
        assert_eq!(code, 200, "segment {i}");
        let start = start_of(&seg);
        assert!(
            (start - want).abs() < 0.15,
            "segment {i} starts at {start}, not {want}"
        );
        let p = probe_bytes(&seg, ".ts");
        let dur: f64 = p["format"]["duration"].as_str().unwrap().parse().unwrap();
        assert!(
            (dur - lens[i]).abs() < 0.2,
            "segment {i} lasts {dur}, not {}",
            lens[i]
        );
    }
    // Switched off, one run writes them all.
    let gs = Gs::start(Opts::default().env("GHOSTSTREAM__TRANSCODING__QUICK_START", "false"));
    let job = gs
        .start_job(json!({"source": media.url("long.mkv"), "output": {"bitrate": "400k"}}))
        .await;
    gs.wait_for(&job, &["ready"], MIN).await;
    let log = gs.log(&job).await;
    assert_eq!(lines_with(&log, "$ ffmpeg").len(), 1, "{log}");
}

#[tokio::test]
async fn far_ahead_request_restarts_the_encoder_in_the_same_job() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    // An explicit bitrate forces a transcode: fixed 4 s segments with forced keyframes.
    let job = gs
        .start_job(json!({"source": media.url("long.mkv"), "output": {"bitrate": "400k"}}))
        .await;
    let (_, variant) = gs.fetch(&stream_file_url(&job, "v0.m3u8")).await;
    let variant = String::from_utf8(variant).unwrap();
    // 24.03 s: a 1 s first segment, 4 s ones, and the short tail joins the last.
    let map = starts(&variant);
    assert_eq!(map, vec![0.0, 1.0, 5.0, 9.0, 13.0, 17.0, 21.0], "{variant}");
    let (code, seg) = gs.fetch(&stream_file_url(&job, "v0_00005.ts")).await;
    assert_eq!(code, 200);
    let start = start_of(&seg);
    assert!((start - 17.0).abs() < 0.15, "segment 5 starts at {start}");
    let p = probe_bytes(&seg, ".ts");
    let dur: f64 = p["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!((dur - 4.0).abs() < 0.2, "segment 5 lasts {dur}");
    // A request behind the head is served from disk or waits; the job id never changes.
    let (code, _) = gs.fetch(&stream_file_url(&job, "v0_00000.ts")).await;
    assert_eq!(code, 200);
    let done = gs.wait_for(&job, &["ready"], MIN).await;
    assert_eq!(done["job_id"], job["job_id"]);
    let (_, jobs) = gs.get("/api/transcode/jobs").await;
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 1);
    let log = gs.log(&job).await;
    assert!(log.contains("restarting there"), "{log}");
    assert!(
        log.contains("-ss 17.000") && log.contains("-output_ts_offset 17.000"),
        "{log}"
    );
    // The run that fills the gap forces keyframes at the map's cuts on its own clock:
    // from segment 1 when the quick first run finished before the seek, else from 0.
    assert!(
        log.contains("-force_key_frames 0.000,4.000")
            || log.contains("-force_key_frames 0.000,1.000,5.000"),
        "{log}"
    );
    // The seek's run writes segment 5 alone, tuned like a first segment; the next run
    // carries on where the viewer is (segment 6), and only then is the gap filled.
    let runs = lines_with(&log, "$ ffmpeg");
    let seek = runs
        .iter()
        .position(|r| r.contains("-ss 17.000"))
        .expect("the seek's run");
    assert!(
        runs[seek].contains(" -t 4.000 ") && runs[seek].contains("-rc-lookahead 0 -bf 0"),
        "{log}"
    );
    assert!(
        runs[seek + 1].contains("-ss 21.000") && runs[seek + 1].contains("-segment_start_number 6"),
        "{log}"
    );
    assert!(
        runs[seek + 2..]
            .iter()
            .any(|r| r.contains("-segment_start_number ")),
        "the gap before segment 5 was never filled: {log}"
    );
    for (i, want) in map.iter().enumerate() {
        let (code, seg) = gs
            .fetch(&stream_file_url(&job, &format!("v0_{i:05}.ts")))
            .await;
        assert_eq!(code, 200, "segment {i}");
        let p = probe_bytes(&seg, ".ts");
        let start = start_of(&seg);
        let _ = p;
        assert!(
            (start - want).abs() < 0.15,
            "segment {i} starts at {start}, the playlist says {}",
            want
        );
    }
    let (code, v) = gs.fetch(&stream_file_url(&job, "v0_00007.ts")).await;
    assert_eq!(code, 404, "{}", String::from_utf8_lossy(&v));
}

#[tokio::test]
async fn remuxed_stream_restarts_on_its_keyframes_too() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    // H.264/AAC with a keyframe every second: copied, cut on keyframes.
    let job = gs.start_job(json!({"source": media.url("long.mkv")})).await;
    let (code, seg) = gs.fetch(&stream_file_url(&job, "v0_00005.ts")).await;
    assert_eq!(code, 200);
    let (_, variant) = gs.fetch(&stream_file_url(&job, "v0.m3u8")).await;
    let map = starts(&String::from_utf8(variant).unwrap());
    let start = start_of(&seg);
    assert!(
        (start - map[5]).abs() < 0.1,
        "segment 5 starts at {start}, the playlist says {}",
        map[5]
    );
    let done = gs.wait_for(&job, &["ready"], MIN).await;
    assert_eq!(done["job_id"], job["job_id"]);
    let log = gs.log(&job).await;
    assert!(
        log.contains("restarting there") && log.contains("-copyts") && log.contains("-c:v copy"),
        "{log}"
    );
    // Every segment is where the playlist says, and none starts before its keyframe.
    for (i, want) in map.iter().enumerate() {
        let (code, seg) = gs
            .fetch(&stream_file_url(&job, &format!("v0_{i:05}.ts")))
            .await;
        assert_eq!(code, 200, "segment {i}");
        let p = probe_bytes(&seg, ".ts");
        let _ = p;
        let start = start_of(&seg);
        assert!(
            (start - want).abs() < 0.1,
            "segment {i} video starts at {start}, the playlist says {}",
            want
        );
    }
}

#[tokio::test]
async fn start_time_seeks_and_progress_is_relative_to_it() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let job = gs
        .start_job(json!({"source": media.url("long.mkv"), "start_time": 16}))
        .await;
    assert_eq!(job["start_time"], 16.0);
    assert!(
        (job["duration"].as_f64().unwrap() - 8.0).abs() < 0.2,
        "{job}"
    );
    let done = gs.wait_for(&job, &["ready"], MIN).await;
    assert!(
        (done["current_time"].as_f64().unwrap() - 8.0).abs() < 0.3,
        "{done}"
    );
    let (_, variant) = gs.fetch(&stream_file_url(&job, "v0.m3u8")).await;
    assert_eq!(
        starts(&String::from_utf8(variant).unwrap()),
        vec![0.0, 1.0, 5.0]
    );
    let (_, seg) = gs.fetch(&stream_file_url(&job, "v0_00000.ts")).await;
    let p = probe_bytes(&seg, ".ts");
    let start: f64 = p["format"]["start_time"].as_str().unwrap().parse().unwrap();
    assert!(start.abs() < 0.15, "output starts at {start}");
    let log = gs.log(&job).await;
    assert!(log.contains("-ss 16.000"), "{log}");
    // Video is re-encoded so the cut is exact, and the plan says why.
    assert!(log.contains("libx264"), "{log}");
}

#[tokio::test]
async fn abr_ladder_from_one_decode_without_upscaling() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let job = gs
        .start_job(json!({"source": media.url("abr.mkv"), "mode": "abr"}))
        .await;
    let variants = job["variants"].as_array().unwrap();
    let sizes: Vec<(u64, u64)> = variants
        .iter()
        .map(|v| (v["width"].as_u64().unwrap(), v["height"].as_u64().unwrap()))
        .collect();
    assert_eq!(sizes, vec![(640, 480), (480, 360)]);
    let master = gs.master(&job).await;
    let inf = lines_with(&master, "#EXT-X-STREAM-INF");
    assert_eq!(inf.len(), 2, "{master}");
    assert!(inf[0].contains("RESOLUTION=640x480") && inf[1].contains("RESOLUTION=480x360"));
    gs.wait_for(&job, &["ready"], MIN).await;
    for (v, (w, h)) in sizes.iter().enumerate() {
        let (code, seg) = gs
            .fetch(&stream_file_url(&job, &format!("v{v}_00000.ts")))
            .await;
        assert_eq!(code, 200);
        let p = probe_bytes(&seg, ".ts");
        let vs = stream_of(&p, "video").unwrap();
        assert_eq!(
            (
                vs["width"].as_u64().unwrap(),
                vs["height"].as_u64().unwrap()
            ),
            (*w, *h)
        );
        assert_eq!(vs["width"].as_u64().unwrap() % 2, 0);
    }
    let log = gs.log(&job).await;
    // The quick first run (segment 0), then the rest: each one ffmpeg for every rung.
    let runs = lines_with(&log, "$ ");
    assert_eq!(runs.len(), 2, "{log}");
    assert!(runs.iter().all(|r| r.contains("split=2")), "{log}");
    // The quick run stops both rungs after segment 0, not the first alone.
    assert_eq!(runs[0].matches(" -t 1.000 ").count(), 2, "{log}");
}

#[tokio::test]
async fn subtitles_appear_in_the_master_with_their_own_playlists() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let job = gs
        .start_job(json!({
            "source": media.url("long.mkv"),
            "start_time": 4,
            "subtitles": [
                {"url": media.url("en.vtt"), "label": "English", "language": "en", "default": true},
                {"url": media.url("es.vtt"), "label": "Español", "language": "es", "default": false}
            ]
        }))
        .await;
    let master = gs.master(&job).await;
    let media_lines = lines_with(&master, "#EXT-X-MEDIA:TYPE=SUBTITLES");
    assert_eq!(media_lines.len(), 2, "{master}");
    assert!(media_lines[0].contains("NAME=\"English\"") && media_lines[0].contains("DEFAULT=YES"));
    assert!(
        media_lines[1].contains("NAME=\"Español\"") && media_lines[1].contains("LANGUAGE=\"es\"")
    );
    assert!(media_lines[0].contains("URI=\"sub0.m3u8?gst="));
    assert!(lines_with(&master, "#EXT-X-STREAM-INF")[0].contains("SUBTITLES=\"subs\""));
    let (code, pl) = gs.fetch(&stream_file_url(&job, "sub1.m3u8")).await;
    assert_eq!(code, 200);
    let pl = String::from_utf8(pl).unwrap();
    assert!(pl.contains("sub1.vtt?gst=") && pl.contains("#EXT-X-ENDLIST"));
    let (code, vtt) = gs.fetch(&stream_file_url(&job, "sub0.vtt")).await;
    let vtt = String::from_utf8(vtt).unwrap();
    assert_eq!(code, 200, "{vtt} {}", gs.log(&job).await);
    assert!(
        vtt.starts_with("WEBVTT") && vtt.contains("X-TIMESTAMP-MAP"),
        "{vtt}"
    );
    // Shifted by start_time: the cue at 5 s plays at 1 s; the one at 0.5 s is gone.
    assert!(vtt.contains("00:01.000") && vtt.contains("again"), "{vtt}");
    assert!(!vtt.contains("00:00.500"), "{vtt}");
}

/// The cue lines (`start --> end`) of a WebVTT file, with the text after each.
fn cues(vtt: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = vtt.lines().collect();
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains("-->"))
        .map(|(i, l)| (l.to_string(), lines.get(i + 1).unwrap_or(&"").to_string()))
        .collect()
}

/// The cue lines a subtitle stream of a test file should become, `shift` seconds earlier:
/// its packets' times as ffprobe reads them (the muxer may have moved them a little).
fn cue_lines(file: &str, stream: u32, shift: f64) -> Vec<String> {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", &stream.to_string()])
        .args([
            "-show_entries",
            "packet=pts_time,duration_time",
            "-of",
            "csv=p=0",
        ])
        .arg(media_dir().join(file))
        .output()
        .unwrap();
    let ts = |t: f64| {
        let ms = (t.max(0.0) * 1000.0).round() as u64;
        format!("00:00:{:02}.{:03}", ms / 1000, ms % 1000)
    };
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let (a, d) = l.split_once(',')?;
            let (a, d): (f64, f64) = (a.parse().ok()?, d.parse().ok()?);
            (a + d - shift > 0.0).then(|| format!("{} --> {}", ts(a - shift), ts(a + d - shift)))
        })
        .collect()
}

#[tokio::test]
async fn embedded_text_subtitles_become_webvtt_renditions() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let job = gs.start_job(json!({"source": media.url("subs.mkv")})).await;
    let info = gs.status(&job).await;
    let subs = &info["media_info"]["subtitles"];
    assert_eq!(subs[1]["title"], "Signs", "{info}");
    assert_eq!(
        (subs[0]["default"].as_bool(), subs[1]["forced"].as_bool()),
        (Some(true), Some(true))
    );
    let master = gs.master(&job).await;
    let lines = lines_with(&master, "#EXT-X-MEDIA:TYPE=SUBTITLES");
    assert_eq!(lines.len(), 2, "{master}");
    // The source's flags: French by its language, default; the titled English track
    // forced (chosen by language alone, so it is selectable).
    assert!(
        lines[0].contains("NAME=\"fre\",LANGUAGE=\"fre\",DEFAULT=YES,AUTOSELECT=YES,FORCED=NO"),
        "{master}"
    );
    assert!(
        lines[1].contains("NAME=\"Signs\",LANGUAGE=\"eng\",DEFAULT=NO,AUTOSELECT=YES,FORCED=YES"),
        "{master}"
    );
    // SubRip and ASS alike come out as WebVTT with the source's cue times.
    let (code, vtt) = gs.fetch(&stream_file_url(&job, "sub0.vtt")).await;
    assert_eq!(code, 200);
    let vtt = String::from_utf8(vtt).unwrap();
    assert!(
        vtt.starts_with("WEBVTT") && vtt.contains("X-TIMESTAMP-MAP"),
        "{vtt}"
    );
    let want = cue_lines("subs.mkv", 2, 0.0);
    assert_eq!(want.len(), 2);
    assert_eq!(
        cues(&vtt),
        [
            (want[0].clone(), "Bonjour".into()),
            (want[1].clone(), "Au revoir".into())
        ],
        "{vtt}"
    );
    let (_, vtt) = gs.fetch(&stream_file_url(&job, "sub1.vtt")).await;
    let vtt = String::from_utf8(vtt).unwrap();
    let want = cue_lines("subs.mkv", 3, 0.0);
    assert_eq!(cues(&vtt), [(want[0].clone(), "A sign".into())], "{vtt}");
    // Both tracks in one pass over the source.
    let log = gs.log(&job).await;
    let extraction: Vec<&str> = lines_with(&log, "$ ffmpeg")
        .into_iter()
        .filter(|l| l.contains("-f webvtt"))
        .collect();
    assert_eq!(extraction.len(), 1, "{log}");
    assert!(
        extraction[0].contains("-map 0:2 ") && extraction[0].contains("-map 0:3 "),
        "{log}"
    );

    // Beside a requested track, which keeps the default, and from a later start: the cues
    // are shifted to it, and one that ended before it is gone. (A URL of its own, or it
    // would join the stream above.)
    let job = gs
        .start_job(json!({
            "source": format!("{}?second", media.url("subs.mkv")),
            "start_time": 2,
            "subtitles": [{"url": media.url("en.vtt"), "label": "English", "language": "en", "default": true}]
        }))
        .await;
    let master = gs.master(&job).await;
    let lines = lines_with(&master, "#EXT-X-MEDIA:TYPE=SUBTITLES");
    assert_eq!(lines.len(), 3, "{master}");
    assert!(
        lines[0].contains("NAME=\"English\"") && lines[0].contains("DEFAULT=YES"),
        "{master}"
    );
    assert!(
        lines[1].contains("NAME=\"fre\"") && lines[1].contains("DEFAULT=NO"),
        "{master}"
    );
    let (_, vtt) = gs.fetch(&stream_file_url(&job, "sub1.vtt")).await;
    let vtt = String::from_utf8(vtt).unwrap();
    let want = cue_lines("subs.mkv", 2, 2.0);
    assert!(
        want[0].starts_with("00:00:00.000 --> 00:00:00.5"),
        "{want:?}"
    );
    assert_eq!(
        cues(&vtt),
        [
            (want[0].clone(), "Bonjour".into()),
            (want[1].clone(), "Au revoir".into())
        ],
        "{vtt}"
    );
    let (_, vtt) = gs.fetch(&stream_file_url(&job, "sub2.vtt")).await;
    let vtt = String::from_utf8(vtt).unwrap();
    let want = cue_lines("subs.mkv", 3, 2.0);
    assert_eq!(cues(&vtt), [(want[0].clone(), "A sign".into())], "{vtt}");
}

#[tokio::test]
async fn subtitles_still_on_their_way_are_served_after_the_stream_is_ready() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    // The subtitle file trickles in at 30 bytes/s (some 5 s); the 3 s stream is ready
    // long before.
    let job = gs
        .start_job(json!({
            "source": media.url("short.mkv"),
            "subtitles": [{"url": format!("{}?rate=30", media.url("en.vtt")), "language": "en"}]
        }))
        .await;
    let url = stream_file_url(&job, "sub0.vtt");
    let waiting = tokio::spawn(async move {
        let r = reqwest::get(&url).await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    });
    gs.wait_for(&job, &["ready"], MIN).await;
    let (code, vtt) = waiting.await.unwrap();
    assert_eq!(code, 200, "{vtt}");
    assert!(vtt.contains("Hello from the English track"), "{vtt}");
}

#[tokio::test]
async fn a_cancelled_stream_stops_its_subtitle_extraction() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    // The source arrives at 20 kB/s after its first 60 kB: reading all of it for the
    // subtitles would take some 20 s.
    let job = gs
        .start_job(
            json!({"source": format!("{}?rate=20000&slow_from=60000", media.url("subs.mkv"))}),
        )
        .await;
    let mut started = false;
    for _ in 0..200 {
        if gs.log(&job).await.contains("-f webvtt") {
            started = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(started, "the extraction never started");
    let (code, _) = gs.control(reqwest::Method::POST, &job, "/cancel").await;
    assert_eq!(code, 200);
    assert!(
        eventually(Duration::from_secs(5), || gs.children().is_empty()).await,
        "ffmpeg left running: {:?}",
        gs.children()
    );
    // The tracks it had not finished answer that the job ended.
    let (code, _) = gs.fetch(&stream_file_url(&job, "sub0.vtt")).await;
    assert!(code == 410 || code == 404 || code == 409, "{code}");
}

/// The mean brightness of the 100x40 box at (20, 20) in the frame `at` seconds from the
/// start of a media file (decoded up to there: exact in any container).
fn box_brightness(bytes: &[u8], ext: &str, at: f64) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("media{ext}"));
    std::fs::write(&file, bytes).unwrap();
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&file)
        .args(["-ss", &format!("{at:.3}")])
        .args([
            "-frames:v",
            "1",
            "-vf",
            "crop=100:40:20:20,format=gray",
            "-f",
            "rawvideo",
            "-",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.stdout.len(),
        4000,
        "{ext} at {at}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout.iter().map(|b| *b as f64).sum::<f64>() / 4000.0
}

#[tokio::test]
async fn a_picture_subtitle_track_is_burned_in_when_asked() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    // The box is on screen from 1.5 s to 3 s, nowhere else.
    let (_, plain) = gs.fetch(&media.url("pgs.mkv")).await;
    for t in [0.5, 2.0, 3.5] {
        assert!(
            box_brightness(&plain, ".mkv", t) < 200.0,
            "the source is not plain at {t}"
        );
    }
    // Batch: the whole file.
    let job = gs
        .start_job(json!({"source": media.url("pgs.mkv"), "mode": "batch", "output": {"burn_subtitle": 1}}))
        .await;
    let done = gs.wait_for(&job, &["ready", "error"], MIN).await;
    assert_eq!(done["status"], "ready", "{done}");
    let (_, file) = gs.fetch(done["download_url"].as_str().unwrap()).await;
    assert!(box_brightness(&file, ".mp4", 2.0) > 230.0, "no box at 2 s");
    for t in [0.5, 3.5] {
        assert!(box_brightness(&file, ".mp4", t) < 200.0, "a box at {t} s");
    }
    // A stream: segment 1 (1 s to 5 s, a run of its own after the quick first) has it.
    let job = gs
        .start_job(json!({"source": media.url("pgs.mkv"), "output": {"burn_subtitle": 1}}))
        .await;
    let (code, seg) = gs.fetch(&stream_file_url(&job, "v0_00001.ts")).await;
    assert_eq!(code, 200);
    let start = start_of(&seg);
    assert!(
        box_brightness(&seg, ".ts", 2.0 - start) > 230.0,
        "no box at 2 s in segment 1"
    );
    assert!(
        box_brightness(&seg, ".ts", 3.6 - start) < 200.0,
        "a box at 3.6 s in segment 1"
    );
    let log = gs.log(&job).await;
    assert!(log.contains("[0:0][0:1]overlay=eof_action=pass"), "{log}");
    // The plan says so, and a stream without the burn is another stream.
    let (_, p) = gs
        .post(
            "/api/probe",
            json!({"source": media.url("pgs.mkv"), "output": {"burn_subtitle": 1}}),
        )
        .await;
    assert_eq!(p["plan"]["subtitle"][0]["target_codec"], "burned in", "{p}");
    assert_eq!(p["plan"]["video"]["action"], "transcode", "{p}");
    let other = gs.start_job(json!({"source": media.url("pgs.mkv")})).await;
    assert_ne!(other["job_id"], job["job_id"]);
}

#[tokio::test]
async fn burn_subtitle_names_a_picture_track_or_is_refused() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    for (src, index, says) in [
        (
            "pgs.mkv",
            0,
            "not a subtitle track of the source; its subtitle tracks: 1 (hdmv_pgs_subtitle)",
        ),
        ("pgs.mkv", 7, "not a subtitle track"),
        ("subs.mkv", 2, "subrip text"),
    ] {
        let (code, v) = gs
            .post(
                "/api/transcode/start",
                json!({"source": media.url(src), "output": {"burn_subtitle": index}}),
            )
            .await;
        assert_eq!(code, 422, "{v}");
        let d = &v["detail"][0];
        assert_eq!(d["loc"], json!(["body", "output", "burn_subtitle"]), "{v}");
        assert!(d["msg"].as_str().unwrap().contains(says), "{v}");
    }
    let (_, jobs) = gs.get("/api/transcode/jobs").await;
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 0, "{jobs}");
}

#[tokio::test]
async fn dolby_vision_is_read_and_each_profile_gets_its_picture() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    // Profile 8.1: the HDR10 base layer, tone-mapped like any HDR10 source.
    let (_, p) = gs
        .post("/api/probe", json!({"source": media.url("dv81.mp4")}))
        .await;
    assert_eq!(
        p["media_info"]["video"]["dolby_vision"],
        json!({"profile": 8, "level": 6, "compatibility": 1}),
        "{p}"
    );
    let reason = p["plan"]["video"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("Dolby Vision profile 8: its HDR10 base layer is used"),
        "{reason}"
    );
    let job = gs.start_job(json!({"source": media.url("dv81.mp4")})).await;
    gs.wait_for(&job, &["ready"], MIN).await;
    let log = gs.log(&job).await;
    assert!(
        log.contains("tonemap=tonemap=hable") && !log.contains("libplacebo"),
        "{log}"
    );
    // Profile 5: nothing but reshaping shows it right, which libplacebo does on Vulkan
    // (Mesa's lavapipe here, on the CPU; `scripts/setup.sh --test` installs it).
    let job = gs.start_job(json!({"source": media.url("dv5.mp4")})).await;
    let done = gs.wait_for(&job, &["ready", "error"], MIN).await;
    let log = gs.log(&job).await;
    assert_eq!(done["status"], "ready", "{log}");
    assert!(
        log.contains("-init_hw_device vulkan=gs_vk -filter_hw_device gs_vk")
            && log.contains("libplacebo=")
            && log.contains("apply_dolbyvision=1")
            && !log.contains("tonemap=tonemap"),
        "{log}"
    );
    assert_sdr_h264(&gs, &job).await;
    // Without a Vulkan driver the trial fails, and such a source is refused with why,
    // not turned green and purple.
    let gs = Gs::start(
        Opts::default()
            .env("VK_ICD_FILENAMES", "/nonexistent.json")
            .env("VK_DRIVER_FILES", "/nonexistent.json"),
    );
    let (code, v) = gs
        .post(
            "/api/transcode/start",
            json!({"source": media.url("dv5.mp4")}),
        )
        .await;
    assert_eq!(code, 422, "{v}");
    assert_eq!(v["detail"][0]["loc"], json!(["body", "source"]), "{v}");
    let msg = v["detail"][0]["msg"].as_str().unwrap();
    assert!(
        msg.contains("Dolby Vision profile 5")
            && msg.contains("libplacebo on Vulkan failed its trial"),
        "{msg}"
    );
    let (_, jobs) = gs.get("/api/transcode/jobs").await;
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 0, "{jobs}");
}

#[tokio::test]
async fn hdr_is_tone_mapped_and_ten_bit_sdr_is_not() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let hdr = gs
        .start_job(json!({"source": media.url("hdr10.mkv")}))
        .await;
    let sdr = gs
        .start_job(json!({"source": media.url("sdr10.mkv")}))
        .await;
    gs.wait_for(&hdr, &["ready"], MIN).await;
    gs.wait_for(&sdr, &["ready"], MIN).await;
    let hdr_log = gs.log(&hdr).await;
    assert!(
        hdr_log.contains("tonemap=tonemap=hable") && hdr_log.contains("t=linear:npl=100"),
        "{hdr_log}"
    );
    let sdr_log = gs.log(&sdr).await;
    assert!(!sdr_log.contains("tonemap"), "{sdr_log}");
    for job in [&hdr, &sdr] {
        assert_sdr_h264(&gs, job).await;
    }
}

#[tokio::test]
async fn max_audio_channels_is_honoured() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let stereo = gs
        .start_job(json!({"source": media.url("surround.mkv")}))
        .await;
    let six = gs.start_job(json!({"source": media.url("surround.mkv"), "mode": "batch", "output": {"max_audio_channels": 6}})).await;
    gs.wait_for(&stereo, &["ready"], MIN).await;
    let (_, seg) = gs.fetch(&stream_file_url(&stereo, "v0_00000.ts")).await;
    let p = probe_bytes(&seg, ".ts");
    assert_eq!(stream_of(&p, "audio").unwrap()["channels"], 2);
    let done = gs.wait_for(&six, &["ready"], MIN).await;
    let (_, file) = gs.fetch(done["download_url"].as_str().unwrap()).await;
    let p = probe_bytes(&file, ".mp4");
    assert_eq!(stream_of(&p, "audio").unwrap()["channels"], 6);
}

#[tokio::test]
async fn streams_are_shared_by_source_and_viewers_leave() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let body = |s: &str| json!({"source": media.url("long.mkv"), "output": {"bitrate": "300k"}, "session_id": s});
    let a = gs.start_job(body("alice")).await;
    let b = gs.start_job(body("bob")).await;
    assert_eq!(a["job_id"], b["job_id"]);
    assert_eq!(b["is_shared"], true);
    assert_eq!(b["viewer_count"], 2);
    // The same session again is not a new viewer.
    let b2 = gs.start_job(body("bob")).await;
    assert_eq!(b2["viewer_count"], 2);
    let (_, shared) = gs.get("/api/streams/shared").await;
    assert_eq!(shared["active_shared_streams"], 1);
    assert_eq!(
        shared["streams"][a["job_id"].as_str().unwrap()]["viewers"],
        2
    );
    // Cancel by one viewer of a shared stream only makes that viewer leave.
    let id = a["job_id"].as_str().unwrap();
    let token = a["control_token"].as_str().unwrap();
    let (code, v) = gs
        .req(
            reqwest::Method::POST,
            &format!("/api/transcode/{id}/cancel"),
            Some(json!({"session_id": "alice"}).to_string()),
            &[("X-GhostStream-Control-Token", token)],
        )
        .await;
    assert_eq!((code, v["status"].as_str()), (200, Some("cancelled")));
    let s = gs.status(&a).await;
    assert_ne!(s["status"], "cancelled");
    assert_eq!(s["viewer_count"], 1);
    let (code, v) = gs
        .req(
            reqwest::Method::POST,
            &format!("/api/transcode/{id}/leave"),
            Some(json!({"session_id": "bob"}).to_string()),
            &[("X-GhostStream-Control-Token", token)],
        )
        .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["viewers_remaining"], 0);
    assert_eq!(v["is_shared"], false);
    let s = gs.status(&a).await;
    assert!(
        ["cancelled", "ready"].contains(&s["status"].as_str().unwrap()),
        "{s}"
    );
    // Another resolution is another stream.
    let c = gs
        .start_job(json!({"source": media.url("long.mkv"), "output": {"resolution": "480p"}}))
        .await;
    assert_ne!(c["job_id"], a["job_id"]);
}

/// GPU tone mapping is proven at start: here libplacebo finds only lavapipe (a CPU
/// Vulkan driver), and OpenCL and VAAPI no device, so HDR is tone-mapped by zscale and
/// `/api/capabilities` says why. Named in `hardware.tone_mapping`, libplacebo runs on
/// whatever device it gets: an HDR10 stream is tone-mapped there to H.264 8-bit SDR.
#[tokio::test]
async fn hdr_is_tone_mapped_on_a_gpu_tone_mapper_that_a_trial_proves() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let (_, caps) = gs.get("/api/capabilities").await;
    assert_eq!(caps["gpu_tone_mapping"], json!([]), "{caps}");
    let why = caps["gpu_tone_mapping_reason"].as_str().unwrap_or_default();
    assert!(
        why.contains("libplacebo: its Vulkan device is llvmpipe") && why.contains("a CPU driver"),
        "{why}"
    );
    assert!(
        why.contains("tonemap_opencl: ") && why.contains("tonemap_vaapi: "),
        "{why}"
    );

    let gs = Gs::start(Opts::default().env("GHOSTSTREAM__HARDWARE__TONE_MAPPING", "libplacebo"));
    let (_, caps) = gs.get("/api/capabilities").await;
    assert_eq!(caps["gpu_tone_mapping"], json!(["libplacebo"]), "{caps}");
    let job = gs
        .start_job(json!({"source": media.url("hdr10.mkv")}))
        .await;
    assert!(
        job["delivery"]["reason"]
            .as_str()
            .unwrap()
            .contains("tone-mapped on the GPU (libplacebo)"),
        "{job}"
    );
    gs.wait_for(&job, &["ready"], MIN).await;
    let log = gs.log(&job).await;
    assert!(
        log.contains("-init_hw_device vulkan=gs_vk")
            && log.contains("libplacebo=")
            && !log.contains("zscale"),
        "{log}"
    );
    assert_sdr_h264(&gs, &job).await;
}

/// The job's first segment is H.264 in 8-bit 4:2:0 (what every browser decodes).
async fn assert_sdr_h264(gs: &Gs, job: &serde_json::Value) {
    let (_, seg) = gs.fetch(&stream_file_url(job, "v0_00000.ts")).await;
    let p = probe_bytes(&seg, ".ts");
    let v = stream_of(&p, "video").unwrap();
    assert_eq!(
        (v["codec_name"].as_str(), v["pix_fmt"].as_str()),
        (Some("h264"), Some("yuv420p")),
        "{v}"
    );
}
