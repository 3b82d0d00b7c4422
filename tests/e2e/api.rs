//! Routes, shapes and the bad-input table. A little over 500 lines: the table is one
//! place on purpose, and the version, metrics and dry-run tests sit with their routes.

use super::support::*;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn health_capabilities_and_shapes() {
    let gs = Gs::start(Opts::default());
    let (code, h) = gs.get("/api/health").await;
    assert_eq!(code, 200);
    assert_eq!(h["status"], "healthy");
    for k in [
        "version",
        "uptime_seconds",
        "current_jobs",
        "queued_jobs",
        "hw_accels",
    ] {
        assert!(h.get(k).is_some(), "health lacks {k}: {h}");
    }
    assert!(h["hw_accels"]
        .as_array()
        .unwrap()
        .contains(&json!("software")));
    assert_eq!(gs.get("/health").await.0, 200);

    let (code, c) = gs.get("/api/capabilities").await;
    assert_eq!(code, 200);
    let sw = c["hw_accels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == "software")
        .unwrap();
    assert_eq!(sw["available"], true);
    assert!(sw["encoders"]
        .as_array()
        .unwrap()
        .contains(&json!("libx264")));
    // Encoders that fail their trial encode are never listed as available.
    for a in c["hw_accels"].as_array().unwrap() {
        if a["type"] != "software" {
            assert_eq!(a["available"], false, "{a}");
            assert!(a["encoders"].as_array().unwrap().is_empty());
            assert!(a["reason"].is_string());
        }
    }
    assert_eq!(c["formats"], json!(["hls", "mp4", "webm", "mkv"]));
    assert!(c["video_codecs"]
        .as_array()
        .unwrap()
        .contains(&json!("h264")));
    assert_eq!(c["max_concurrent_jobs"], 2);
    assert!(c["ffmpeg_version"].as_str().unwrap().len() > 1);
    assert_eq!(gs.get("/capabilities").await.0, 200);

    let (code, d) = gs.get("/api/health/detailed").await;
    assert_eq!(code, 200, "{d}");
    assert!(d["checks"]["disk"].is_object() && d["checks"]["ffmpeg"]["status"] == "healthy");
    assert_eq!(gs.get("/api/ready").await.1, json!({"ready": true}));
    assert_eq!(gs.get("/api/live").await.1["alive"], true);

    let (code, s) = gs.get("/api/stats").await;
    assert_eq!(code, 200);
    for k in [
        "total_jobs_processed",
        "successful_jobs",
        "failed_jobs",
        "cancelled_jobs",
        "current_queue_length",
        "active_jobs",
        "average_transcode_speed",
        "total_bytes_processed",
        "uptime_seconds",
        "hw_accel_usage",
    ] {
        assert!(s.get(k).is_some(), "stats lacks {k}");
    }
    assert_eq!(gs.get("/api/transcode/jobs").await.1["jobs"], json!([]));
    let (code, sh) = gs.get("/api/streams/shared").await;
    assert_eq!(code, 200);
    assert_eq!(sh["active_shared_streams"], 0);
    let (code, cs) = gs.get("/api/cleanup/stats").await;
    assert_eq!(code, 200);
    assert!(cs["temp_dir"].is_string());
    let (code, cr) = gs.post("/api/cleanup/run", json!({})).await;
    assert_eq!(code, 200);
    assert!(cr.get("stale_jobs_cleaned").is_some() && cr.get("orphaned_dirs_cleaned").is_some());
}

#[tokio::test]
async fn errors_are_json_with_codes_and_cors_everywhere() {
    let gs = Gs::start(Opts::default());
    let r = gs
        .http
        .get(format!("{}/no/such/route", gs.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "not-found");
    let (code, v) = gs.req(reqwest::Method::PUT, "/api/health", None, &[]).await;
    assert_eq!(code, 405);
    assert_eq!(v["code"], "method-not-allowed");
    let r = gs
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/transcode/start", gs.base),
        )
        .header("Origin", "http://ghosthub.local")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-methods"], "*");
    // Rejections from axum's own extractors are JSON too.
    for path in [
        "/api/transcode/%ff%fe/status",
        "/ws/progress",
        "/stream/%ff/master.m3u8",
    ] {
        let r = gs
            .http
            .get(format!("{}{path}", gs.base))
            .send()
            .await
            .unwrap();
        let code = r.status().as_u16();
        assert!((400..500).contains(&code), "{path}: {code}");
        assert_eq!(r.headers()["access-control-allow-origin"], "*");
        let v: Value = r
            .json()
            .await
            .unwrap_or_else(|e| panic!("{path}: not JSON: {e}"));
        assert!(
            v["code"].is_string() && v["detail"].is_string(),
            "{path}: {v}"
        );
    }
}

/// Every bad input of the engine issue's table: a 4xx JSON answer with a code, and the
/// server still healthy afterwards.
#[tokio::test]
async fn bad_inputs_get_4xx_json_with_code() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let src = media.url("short.mkv");
    let raw: Vec<(&str, String)> = vec![
        ("malformed JSON", "{\"source\": ".into()),
        ("empty body", "".into()),
        ("array body", "[1,2]".into()),
        ("number body", "42".into()),
        (
            "NaN start_time",
            format!("{{\"source\":\"{src}\",\"start_time\":NaN}}"),
        ),
        (
            "deep nesting",
            format!("{}{}", "[".repeat(5000), "]".repeat(5000)),
        ),
    ];
    let mut cases: Vec<(&str, Value)> = vec![
        ("missing source", json!({"mode": "stream"})),
        ("empty source", json!({"source": ""})),
        ("null source", json!({"source": null})),
        ("unknown mode", json!({"source": src, "mode": "turbo"})),
        (
            "unknown codec",
            json!({"source": src, "output": {"video_codec": "mpeg1"}}),
        ),
        (
            "unknown resolution",
            json!({"source": src, "output": {"resolution": "8k"}}),
        ),
        (
            "unknown hw",
            json!({"source": src, "output": {"hw_accel": "cuda"}}),
        ),
        ("wrong type source", json!({"source": 12})),
        ("wrong type output", json!({"source": src, "output": "hls"})),
        (
            "wrong type start_time",
            json!({"source": src, "start_time": "ten"}),
        ),
        (
            "negative start_time",
            json!({"source": src, "start_time": -1}),
        ),
        (
            "huge start_time",
            json!({"source": src, "start_time": 1e308}),
        ),
        (
            "start_time beyond duration",
            json!({"source": src, "start_time": 3.5}),
        ),
        (
            "absurd bitrate",
            json!({"source": src, "output": {"bitrate": "900000M"}}),
        ),
        (
            "nonsense bitrate",
            json!({"source": src, "output": {"bitrate": "fast"}}),
        ),
        ("file url", json!({"source": "file:///etc/passwd"})),
        ("local path", json!({"source": "/etc/passwd"})),
        ("concat", json!({"source": "concat:/etc/passwd|/etc/hosts"})),
        ("data", json!({"source": "data:video/mp4;base64,AAAA"})),
        (
            "bad subtitle url",
            json!({"source": src, "subtitles": [{"url": "file:///etc/passwd"}]}),
        ),
        (
            "bad callback",
            json!({"source": src, "callback_url": "file:///tmp/x"}),
        ),
        (
            "vp9 in mpeg-ts",
            json!({"source": src, "output": {"video_codec": "vp9", "container": "ts"}}),
        ),
        (
            "copy_codecs in abr",
            json!({"source": src, "mode": "abr", "output": {"copy_codecs": ["hevc"]}}),
        ),
        (
            "channels 0",
            json!({"source": src, "output": {"max_audio_channels": 0}}),
        ),
    ];
    let many_subs: Vec<Value> = (0..100)
        .map(|i| json!({"url": format!("{src}?{i}")}))
        .collect();
    cases.push((
        "too many subtitles",
        json!({"source": src, "subtitles": many_subs}),
    ));
    for (name, body) in raw {
        let (code, v) = gs
            .req(
                reqwest::Method::POST,
                "/api/transcode/start",
                Some(body),
                &[],
            )
            .await;
        assert!((400..500).contains(&code), "{name}: {code} {v}");
        assert!(
            v["code"].is_string() && v.get("detail").is_some(),
            "{name}: {v}"
        );
    }
    for (name, body) in cases {
        let (code, v) = gs.post("/api/transcode/start", body).await;
        assert!((400..500).contains(&code), "{name}: {code} {v}");
        assert!(v["code"].is_string(), "{name}: {v}");
        assert_eq!(code, 422, "{name}: {v}");
        let detail = v["detail"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: {v}"));
        assert!(
            detail[0]["loc"].is_array() && detail[0]["msg"].is_string(),
            "{name}: {v}"
        );
    }
    // The offending field is named.
    let (_, v) = gs
        .post(
            "/api/transcode/start",
            json!({"source": src, "output": {"resolution": "8k"}}),
        )
        .await;
    assert_eq!(
        v["detail"][0]["loc"],
        json!(["body", "output", "resolution"])
    );
    let (_, v) = gs
        .post(
            "/api/transcode/start",
            json!({"source": src, "start_time": 3.5}),
        )
        .await;
    assert_eq!(v["detail"][0]["loc"], json!(["body", "start_time"]));
    // Unknown job ids, on every job route.
    let ghost = uuid::Uuid::new_v4();
    for path in [
        format!("/api/transcode/{ghost}/status"),
        "/api/transcode/not-a-uuid/status".to_string(),
        format!("/transcode/{ghost}"),
        format!("/api/transcode/{ghost}/stream"),
        format!("/api/transcode/{ghost}/log"),
        format!("/stream/{ghost}/master.m3u8"),
        format!("/download/{ghost}"),
    ] {
        let (code, v) = gs.get(&path).await;
        assert_eq!(code, 404, "{path}: {v}");
        assert_eq!(v["code"], "job-not-found", "{path}");
    }
    let (code, v) = gs
        .post(&format!("/api/transcode/{ghost}/cancel"), json!({}))
        .await;
    assert_eq!((code, v["code"].as_str()), (404, Some("job-not-found")));
    // Oversized body: the server may answer before the upload ends, so a raw socket
    // that keeps reading after a failed write.
    let (code, body) = raw_http(
        &gs.base,
        "POST",
        "/api/transcode/start",
        &format!("{{\"source\":\"{}\"}}", "a".repeat(2 * 1024 * 1024)),
    );
    assert_eq!(code, 413, "{body}");
    assert!(body.contains("body-too-large"), "{body}");
    // Nothing was created, nothing was lost, the server is healthy.
    assert_eq!(gs.get("/api/transcode/jobs").await.1["jobs"], json!([]));
    assert_eq!(gs.get("/api/health").await.0, 200);
}

#[tokio::test]
async fn unreachable_and_missing_sources_end_in_error_with_the_cause() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let job = gs
        .start_job(json!({"source": media.url("missing.mkv")}))
        .await;
    assert_eq!(job["status"], "error");
    assert_eq!(
        job["error_message"],
        "source returned HTTP 404 (404 Not Found)"
    );
    let job = gs
        .start_job(json!({"source": "http://127.0.0.1:9/x.mkv"}))
        .await;
    assert_eq!(job["status"], "error");
    assert_eq!(
        job["error_message"],
        "source unreachable: connection refused"
    );
    let (_, stats) = gs.get("/api/stats").await;
    assert_eq!(stats["failed_jobs"], 2);
}

#[tokio::test]
async fn probe_returns_media_info_and_plan() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let (code, p) = gs
        .post("/api/probe", json!({"source": media.url("h264.mkv")}))
        .await;
    assert_eq!(code, 200, "{p}");
    assert_eq!(p["media_info"]["video"]["codec"], "h264");
    assert_eq!(p["media_info"]["video"]["width"], 640);
    assert_eq!(p["plan"]["video"]["action"], "copy");
    assert_eq!(p["plan"]["audio"][0]["action"], "copy");
    let (_, p) = gs
        .post("/api/probe", json!({"source": media.url("hdr10.mkv")}))
        .await;
    assert_eq!(p["media_info"]["video"]["dynamic_range"], "hdr10");
    assert_eq!(p["plan"]["video"]["action"], "transcode");
    assert!(p["plan"]["video"]["reason"]
        .as_str()
        .unwrap()
        .contains("tone mapping"));
    let (_, p) = gs
        .post("/api/probe", json!({"source": media.url("sdr10.mkv")}))
        .await;
    assert_eq!(p["media_info"]["video"]["dynamic_range"], "sdr");
    assert_eq!(p["media_info"]["video"]["bit_depth"], 10);
    let (code, v) = gs
        .post("/api/probe", json!({"source": media.url("nope.mkv")}))
        .await;
    assert_eq!((code, v["code"].as_str()), (422, Some("source-unreadable")));
}

/// `GET /api/version` says what is running, down to the commit it was built from.
#[tokio::test]
async fn version_names_the_build() {
    let gs = Gs::start(Opts::default());
    let (code, v) = gs.get("/api/version").await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repo_root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if let Some(head) = head {
        assert_eq!(v["commit"], head.as_str(), "built from this checkout");
    }
    let date = v["build_date"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(date).is_ok(), "{date}");
    assert!(v["ffmpeg_version"].as_str().unwrap().contains('.'), "{v}");
    assert!(!v["platform"].as_str().unwrap().is_empty(), "{v}");
}

/// `promtool check metrics` (Prometheus' own parser and linter) on a scrape taken while a
/// job runs; then the figures move as jobs end, and the API key guards the route.
#[tokio::test]
async fn metrics_pass_promtool_while_jobs_run() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let stream = gs
        .start_job(json!({"source": media.url("long.mkv"), "output": {"resolution": "original", "bitrate": "200k"}}))
        .await;
    let batch = gs
        .start_job(json!({"source": media.url("h264.mkv"), "mode": "batch", "output": {"format": "mp4", "video_codec": "h265"}}))
        .await;
    let scrape = |gs: &Gs| {
        let http = gs.http.clone();
        let url = format!("{}/metrics", gs.base);
        async move {
            let r = http.get(url).send().await.unwrap();
            assert_eq!(r.status(), 200);
            let ct = r.headers()["content-type"].to_str().unwrap().to_string();
            assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
            r.text().await.unwrap()
        }
    };
    let running = scrape(&gs).await;
    let check = |text: &str| {
        use std::io::Write;
        let mut p = std::process::Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("promtool (Debian package prometheus; scripts/setup.sh --test installs it)");
        p.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let out = p.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool: {}{}\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    check(&running);
    assert!(
        running.contains("ghoststream_jobs{state=\"processing\",mode=\"batch\"} 1"),
        "{running}"
    );
    assert!(running.contains("ghoststream_ffmpeg_runs "), "{running}");
    for job in [&stream, &batch] {
        gs.wait_for(job, &["ready", "error"], Duration::from_secs(120))
            .await;
    }
    let after = scrape(&gs).await;
    check(&after);
    assert!(
        after.contains("ghoststream_jobs_finished_total{outcome=\"ready\"} 2"),
        "{after}"
    );
    assert!(
        after.contains("ghoststream_encode_speed_count 2"),
        "{after}"
    );
    assert!(
        after.contains("ghoststream_first_segment_seconds_count 1"),
        "{after}"
    );
    // The sources came in over HTTP, through the egress proxy: counted as bytes in.
    let fetched: f64 = after
        .lines()
        .find_map(|l| l.strip_prefix("ghoststream_input_bytes_total{via=\"fetch\"} "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(fetched > 100_000.0, "{after}");
    let keyed =
        Gs::start(Opts::default().env("GHOSTSTREAM__SECURITY__API_KEY", "a-long-enough-key"));
    assert_eq!(keyed.get("/metrics").await.0, 401);
}

/// The dry run shows the command a start would run (the same, byte for byte, once the
/// job's directory is named), creates no job and starts no ffmpeg.
#[tokio::test]
async fn a_dry_run_shows_exactly_what_a_start_runs() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let body = json!({"source": media.url("h264.mkv"), "mode": "batch", "output": {"format": "mp4", "video_codec": "h265", "resolution": "480p"}});
    let (code, dry) = gs.post("/api/probe/compile", body.clone()).await;
    assert_eq!(code, 200, "{dry}");
    assert_eq!(dry["mode"], "batch");
    assert_eq!(dry["hw_accel"], "software");
    assert_eq!(dry["plan"]["video"]["action"], "transcode", "{dry}");
    let cmd = dry["commands"][0].as_str().unwrap();
    assert!(
        cmd.contains("libx265") && cmd.contains("JOB_DIR/output.part"),
        "{cmd}"
    );
    assert_eq!(dry["argv"][0][0], "ffmpeg");
    assert_eq!(gs.get("/api/transcode/jobs").await.1["total"], 0);
    assert!(gs.children().is_empty());
    // The job runs exactly that.
    let job = gs.start_job(body).await;
    let id = job["job_id"].as_str().unwrap();
    let done = gs
        .wait_for(&job, &["ready", "error"], Duration::from_secs(120))
        .await;
    assert_eq!(done["status"], "ready", "{done}");
    let log = gs.log(&job).await;
    let dir = format!("{}/work/{id}", gs.state.display());
    let ran = log
        .lines()
        .find_map(|l| l.strip_prefix("$ "))
        .unwrap()
        .replace(&dir, "JOB_DIR");
    assert_eq!(ran, cmd);
    // A bad request is refused the same way a start would be.
    let (code, v) = gs
        .post("/api/probe/compile", json!({"source": "ftp://x/y.mkv"}))
        .await;
    assert_eq!(code, 422, "{v}");
}
