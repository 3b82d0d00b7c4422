//! Batch mode: containers and codecs, downloads with Range, callbacks.

use super::support::*;
use serde_json::json;
use std::time::Duration;

const MIN: Duration = Duration::from_secs(60);

#[tokio::test]
async fn batch_outputs_are_playable_with_the_asked_codec_and_size() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let cases = [
        (
            json!({"format": "mp4", "video_codec": "h265", "resolution": "480p"}),
            ".mp4",
            "hevc",
            "aac",
        ),
        (json!({"format": "webm"}), ".webm", "vp9", "opus"),
        (
            json!({"format": "mkv", "video_codec": "av1", "audio_codec": "flac"}),
            ".mkv",
            "av1",
            "flac",
        ),
        (json!({}), ".mp4", "h264", "aac"),
    ];
    let mut jobs = Vec::new();
    for (output, ..) in &cases {
        let src = if output.get("video_codec").is_some_and(|c| c == "h265") {
            "abr.mkv"
        } else {
            "short.mkv"
        };
        jobs.push(
            gs.start_job(json!({"source": media.url(src), "mode": "batch", "output": output}))
                .await,
        );
    }
    for (job, (_, ext, vcodec, acodec)) in jobs.iter().zip(cases.iter()) {
        assert!(job["stream_url"].is_null());
        let done = gs.wait_for(job, &["ready", "error"], MIN).await;
        assert_eq!(done["status"], "ready", "{done}");
        let url = done["download_url"].as_str().unwrap();
        assert!(url.contains("/download/") && url.contains("?gst="));
        let r = gs.http.get(url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(ext));
        let bytes = r.bytes().await.unwrap();
        let p = probe_bytes(&bytes, ext);
        assert_eq!(
            stream_of(&p, "video").unwrap()["codec_name"],
            *vcodec,
            "{done}"
        );
        assert_eq!(stream_of(&p, "audio").unwrap()["codec_name"], *acodec);
        if *vcodec == "hevc" {
            // 640x480 asked for 480p: no upscale, same size.
            assert_eq!(stream_of(&p, "video").unwrap()["height"], 480);
        }
    }
}

#[tokio::test]
async fn download_supports_range_and_refuses_early_requests() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    // A slow source keeps the job running long enough to ask too early.
    let slow = gs
        .start_job(
            json!({"source": format!("{}?rate=60000", media.url("short.mkv")), "mode": "batch"}),
        )
        .await;
    let id = slow["job_id"].as_str().unwrap();
    let token = slow["control_token"].as_str().unwrap();
    let (code, v) = gs
        .req(
            reqwest::Method::GET,
            &format!("/download/{id}"),
            None,
            &[("X-GhostStream-Control-Token", token)],
        )
        .await;
    assert_eq!(
        (code, v["code"].as_str()),
        (400, Some("job-not-ready")),
        "{v}"
    );
    let callback = format!("{}/hook", media.base);
    let job = gs
        .start_job(
            json!({"source": media.url("short.mkv"), "mode": "batch", "callback_url": callback}),
        )
        .await;
    let done = gs.wait_for(&job, &["ready"], MIN).await;
    let url = done["download_url"].as_str().unwrap();
    let full = gs
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let r = gs
        .http
        .get(url)
        .header("Range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 10-19/{}", full.len())
    );
    assert_eq!(r.bytes().await.unwrap(), full.slice(10..20));
    let r = gs
        .http
        .get(url)
        .header("Range", format!("bytes={}-", full.len() + 5))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["code"], "range-not-satisfiable");
    // The callback was POSTed with the finished job.
    assert!(eventually(Duration::from_secs(10), || !media.posts().is_empty()).await);
    let (path, body) = media.posts()[0].clone();
    assert_eq!(path, "/hook");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["job_id"], job["job_id"]);
    assert_eq!(body["status"], "ready");
    assert!(body["download_url"].is_string());
    let (_, stats) = gs.get("/api/stats").await;
    assert!(stats["total_bytes_processed"].as_u64().unwrap() > 0);
    assert!(stats["average_transcode_speed"].as_f64().unwrap() > 0.0);
}

#[tokio::test]
async fn two_pass_runs_both_passes_and_lands_nearer_its_bitrate_than_one_pass() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let target = 300_000.0;
    let mut rates = Vec::new();
    for two_pass in [false, true] {
        let job = gs
            .start_job(json!({"source": media.url("grain.mkv"), "mode": "batch",
                "output": {"bitrate": "300k", "two_pass": two_pass}}))
            .await;
        let done = gs.wait_for(&job, &["ready", "error"], MIN).await;
        assert_eq!(done["status"], "ready", "{done}");
        let (_, bytes) = gs.fetch(done["download_url"].as_str().unwrap()).await;
        let p = probe_bytes(&bytes, ".mp4");
        assert!(stream_of(&p, "audio").is_some(), "{p}");
        let v = stream_of(&p, "video").unwrap();
        let rate: f64 = v["bit_rate"].as_str().unwrap().parse().unwrap();
        rates.push(rate);
        let log = gs.log(&job).await;
        let runs: Vec<&str> = log.lines().filter(|l| l.starts_with("$ ffmpeg")).collect();
        if two_pass {
            assert_eq!(runs.len(), 2, "{log}");
            assert!(
                runs[0].contains("-pass 1 -passlogfile ") && runs[0].ends_with("-f null -"),
                "{log}"
            );
            assert!(
                runs[1].contains("-pass 2 -passlogfile ") && runs[1].contains("output.part"),
                "{log}"
            );
        } else {
            assert_eq!(runs.len(), 1, "{log}");
            assert!(!runs[0].contains("-pass"), "{log}");
        }
    }
    let miss = |r: f64| (r / target - 1.0).abs();
    assert!(
        miss(rates[1]) < miss(rates[0]),
        "two passes missed {:.1} %, one pass {:.1} %",
        miss(rates[1]) * 100.0,
        miss(rates[0]) * 100.0
    );
    eprintln!(
        "bitrate against 300k: one pass {:.0} ({:+.1} %), two passes {:.0} ({:+.1} %)",
        rates[0],
        (rates[0] / target - 1.0) * 100.0,
        rates[1],
        (rates[1] / target - 1.0) * 100.0
    );
}

#[tokio::test]
async fn two_pass_where_it_cannot_run_is_refused_not_ignored() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let src = media.url("short.mkv");
    for (why, body) in [
        (
            "a stream",
            json!({"source": src, "output": {"two_pass": true}}),
        ),
        (
            "copied video",
            json!({"source": src, "mode": "batch", "output": {"two_pass": true, "video_codec": "copy"}}),
        ),
        (
            "av1",
            json!({"source": src, "mode": "batch", "output": {"two_pass": true, "video_codec": "av1", "format": "mkv"}}),
        ),
        (
            "a hardware encoder",
            json!({"source": src, "mode": "batch", "output": {"two_pass": true, "hw_accel": "nvenc"}}),
        ),
    ] {
        let (code, v) = gs.post("/api/transcode/start", body).await;
        assert_eq!(code, 422, "{why}: {v}");
        let detail = &v["detail"][0];
        assert_eq!(
            detail["loc"],
            json!(["body", "output", "two_pass"]),
            "{why}: {v}"
        );
        assert_eq!(detail["type"], "unsupported-combination", "{why}: {v}");
    }
    // Nothing was started, and two_pass false asks for nothing.
    let (_, jobs) = gs.get("/api/transcode/jobs").await;
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 0, "{jobs}");
    let job = gs
        .start_job(json!({"source": src, "output": {"two_pass": false}}))
        .await;
    assert_eq!(
        gs.wait_for(&job, &["ready", "error"], MIN).await["status"],
        "ready"
    );
    // A playable source that batch would copy is encoded when two passes are asked for.
    let job = gs
        .start_job(json!({"source": src, "mode": "batch", "output": {"two_pass": true}}))
        .await;
    let done = gs.wait_for(&job, &["ready", "error"], MIN).await;
    assert_eq!(done["status"], "ready", "{done}");
    let log = gs.log(&job).await;
    assert!(
        log.contains("-pass 2") && log.contains("-c:v libx264"),
        "{log}"
    );
}

#[tokio::test]
async fn a_batch_file_keeps_every_audio_track() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    for (format, ext, codec) in [("mp4", ".mp4", "aac"), ("webm", ".webm", "opus")] {
        let job = gs
            .start_job(json!({"source": media.url("twoaudio.mkv"), "mode": "batch",
                "output": {"format": format}}))
            .await;
        let done = gs.wait_for(&job, &["ready", "error"], MIN).await;
        assert_eq!(done["status"], "ready", "{done}");
        let (_, bytes) = gs.fetch(done["download_url"].as_str().unwrap()).await;
        let p = probe_bytes(&bytes, ext);
        let audio: Vec<&serde_json::Value> = p["streams"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["codec_type"] == "audio")
            .collect();
        assert_eq!(audio.len(), 2, "{format}: {p}");
        // Both in the container's codec, at most max_audio_channels (2), in their
        // order, with their languages.
        for (a, lang) in audio.iter().zip(["eng", "fre"]) {
            assert_eq!(a["codec_name"], codec, "{format}: {a}");
            assert_eq!(a["channels"], 2, "{format}: {a}");
            let l = a["tags"]["language"]
                .as_str()
                .or(a["tags"]["LANGUAGE"].as_str());
            assert_eq!(l, Some(lang), "{format}: {a}");
        }
    }
    // The plan says so before anything runs.
    let (_, plan) = gs
        .post(
            "/api/probe",
            json!({"source": media.url("twoaudio.mkv"), "mode": "batch"}),
        )
        .await;
    let tracks = plan["plan"]["audio"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(tracks.len(), 2, "{plan}");
    assert_eq!(tracks[1]["action"], "transcode", "{plan}");
}
