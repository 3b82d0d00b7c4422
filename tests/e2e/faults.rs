//! Faults during work: the source drops, goes away or crawls, ffmpeg crashes or hangs, the
//! disk fills, the database is damaged. Each ends in a clear state with an honest
//! `error_message`, the same job id, no ffmpeg left behind and a healthy server.

use super::support::*;
use serde_json::{json, Value};
use std::time::Duration;

const MIN: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_dropped_source_connection_is_resumed_inside_the_job() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    // The first answer for this URL is cut after 300 kB of long.mkv's 2.3 MB.
    let src = format!("{}?cut_once=300000", media.url("long.mkv"));
    let job = gs
        .start_job(json!({"source": src, "mode": "batch", "output": {"format": "mkv", "resolution": "original"}}))
        .await;
    let done = gs.wait_for(&job, &["ready", "error"], MIN).await;
    assert_eq!(done["status"], "ready", "{done}");
    assert_eq!(done["job_id"], job["job_id"]);
    // Nothing lost: the output is as long as the source.
    let (_, bytes) = gs.fetch(done["download_url"].as_str().unwrap()).await;
    let probe = probe_bytes(&bytes, ".mkv");
    let secs: f64 = probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((secs - 24.0).abs() < 0.5, "output is {secs} s of 24 s");
}

#[tokio::test]
async fn a_source_gone_for_good_ends_in_error_with_the_cause() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default().env("GHOSTSTREAM__TRANSCODING__RETRY_COUNT", "1"));
    // About 1/3 of realtime, so the job is mid-way when the source disappears.
    let src = format!("{}?rate=30000", media.url("long.mkv"));
    let job = gs
        .start_job(json!({"source": src, "mode": "batch", "output": {"format": "mkv"}}))
        .await;
    let t0 = std::time::Instant::now();
    while gs.status(&job).await["progress"].as_f64().unwrap_or(0.0) <= 0.0 {
        assert!(t0.elapsed() < MIN, "no progress");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    media.set_down(true);
    let done = gs.wait_for(&job, &["ready", "error"], MIN * 2).await;
    assert_eq!(done["status"], "error", "{done}\n{}", gs.log(&job).await);
    let msg = done["error_message"].as_str().unwrap_or_default();
    assert!(msg.starts_with("source "), "{msg}");
    let log = gs.log(&job).await;
    assert!(log.contains("retrying in"), "{log}");
    assert!(eventually(Duration::from_secs(3), || gs.children().is_empty()).await);
    assert_eq!(gs.get("/api/health").await.0, 200);
}

#[tokio::test]
async fn a_slow_source_keeps_going_without_restarts() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default().env("GHOSTSTREAM__TRANSCODING__STALL_TIMEOUT", "3"));
    // short.mkv is 3 s in 277 kB: 60 kB/s is about 2/3 of realtime.
    let src = format!("{}?rate=60000", media.url("short.mkv"));
    let job = gs.start_job(json!({"source": src})).await;
    let done = gs.wait_for(&job, &["ready", "error"], MIN).await;
    assert_eq!(done["status"], "ready", "{done}");
    let log = gs.log(&job).await;
    assert_eq!(log.matches("$ ffmpeg").count(), 1, "{log}");
    assert!(
        !log.contains("stalled") && !log.contains("retrying"),
        "{log}"
    );
}

/// An ffmpeg that crashes (SIGSEGV) on its first job run and hangs without progress on
/// its second; real ffmpeg from then on.
fn crash_then_hang_ffmpeg(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("ffmpeg");
    let d = dir.display();
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\n\
             case \"$*\" in\n\
               *-progress*)\n\
                 if [ ! -e {d}/crashed ]; then touch {d}/crashed; kill -SEGV $$; fi\n\
                 if [ ! -e {d}/hung ]; then touch {d}/hung; exec sleep 600; fi ;;\n\
             esac\n\
             exec ffmpeg \"$@\"\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[tokio::test]
async fn a_crashed_or_hung_encoder_is_restarted_inside_the_job() {
    let media = MediaServer::start();
    let bin = tempfile::tempdir().unwrap();
    let fake = crash_then_hang_ffmpeg(bin.path());
    let gs = Gs::start(
        Opts::default()
            .env(
                "GHOSTSTREAM__TRANSCODING__FFMPEG_PATH",
                fake.to_str().unwrap(),
            )
            .env("GHOSTSTREAM__TRANSCODING__STALL_TIMEOUT", "2"),
    );
    let job = gs
        .start_job(json!({"source": media.url("short.mkv")}))
        .await;
    let done = gs.wait_for(&job, &["ready", "error"], MIN).await;
    assert_eq!(done["status"], "ready", "{done}");
    assert_eq!(done["job_id"], job["job_id"]);
    let log = gs.log(&job).await;
    assert!(log.contains("ffmpeg crashed"), "{log}");
    assert!(log.contains("stalled"), "{log}");
    assert_eq!(log.matches("retrying in").count(), 2, "{log}");
    // The hung `sleep` went with its process group.
    assert!(eventually(Duration::from_secs(3), || gs.children().is_empty()).await);
    // Retries are limited: with none allowed, a crash is the job's error.
    std::fs::remove_file(bin.path().join("crashed")).unwrap();
    let gs = Gs::start(
        Opts::default()
            .env(
                "GHOSTSTREAM__TRANSCODING__FFMPEG_PATH",
                fake.to_str().unwrap(),
            )
            .env("GHOSTSTREAM__TRANSCODING__RETRY_COUNT", "0"),
    );
    let job = gs
        .start_job(json!({"source": media.url("short.mkv")}))
        .await;
    let done = gs.wait_for(&job, &["ready", "error"], MIN).await;
    assert_eq!(done["status"], "error", "{done}");
    assert!(
        done["error_message"]
            .as_str()
            .unwrap()
            .contains("ffmpeg crashed"),
        "{done}"
    );
}

#[tokio::test]
async fn a_full_disk_ends_the_job_cleanly() {
    // A 1 MiB tmpfs as the work directory, in a mount namespace of the server's own.
    let state = tempfile::tempdir().unwrap();
    let work = state.path().join("small");
    std::fs::create_dir_all(&work).unwrap();
    let media = MediaServer::start();
    let gs = Gs::start(
        Opts::default()
            .state(state.path())
            .env(
                "GHOSTSTREAM__TRANSCODING__TEMP_DIRECTORY",
                work.to_str().unwrap(),
            )
            .small_disk_at(&work),
    );
    let job = gs
        .start_job(json!({"source": media.url("h264.mkv"), "mode": "batch", "output": {"format": "mkv", "resolution": "original", "video_codec": "h264", "bitrate": "4000k"}}))
        .await;
    let done = gs.wait_for(&job, &["ready", "error"], MIN).await;
    assert_eq!(done["status"], "error", "{done}");
    let msg = done["error_message"].as_str().unwrap();
    assert!(msg.contains("disk full"), "{msg}");
    // The partial output is removed; the server keeps working.
    let dir = format!("/proc/{}/root{}", gs.pid(), work.display());
    assert!(
        eventually(Duration::from_secs(5), || std::fs::read_dir(&dir)
            .map(|d| d.count() == 0)
            .unwrap_or(false))
        .await,
        "work dir not emptied"
    );
    assert_eq!(gs.get("/api/health").await.0, 200);
    let small = gs
        .start_job(json!({"source": media.url("short.mkv"), "mode": "batch", "output": {"format": "mkv", "resolution": "480p"}}))
        .await;
    let done = gs.wait_for(&small, &["ready", "error"], MIN).await;
    assert_eq!(done["status"], "ready", "{done}");
}

#[tokio::test]
async fn a_damaged_database_is_set_aside_not_silently_emptied() {
    let state = tempfile::tempdir().unwrap();
    let media = MediaServer::start();
    {
        let mut gs = Gs::start(Opts::default().state(state.path()));
        let job = gs
            .start_job(json!({"source": media.url("short.mkv"), "mode": "batch", "output": {"format": "mkv"}}))
            .await;
        gs.wait_for(&job, &["ready"], MIN).await;
        gs.stop();
    }
    let db = state.path().join("ghoststream.db");
    let garbage = b"this is not a database, it was overwritten by something else".repeat(100);
    std::fs::write(&db, &garbage).unwrap();
    let _ = std::fs::remove_file(state.path().join("ghoststream.db-wal"));
    let _ = std::fs::remove_file(state.path().join("ghoststream.db-shm"));
    let gs = Gs::start(Opts::default().state(state.path()));
    // It starts, with an empty history, and the damaged file is kept next to the new one.
    assert_eq!(gs.get("/api/health").await.0, 200);
    let aside: Vec<_> = std::fs::read_dir(state.path())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("ghoststream.db.damaged-")
        })
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(std::fs::read(aside[0].path()).unwrap(), garbage);
}

#[tokio::test]
async fn a_second_server_on_the_same_state_is_refused_clearly() {
    let state = tempfile::tempdir().unwrap();
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default().state(state.path()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ghoststream"))
        .args([
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-mdns",
            "--state-dir",
        ])
        .arg(state.path())
        .env("GHOSTSTREAM_CONFIG", state.path().join("none.toml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("another GhostStream server is using the state directory"),
        "{err}"
    );
    // The first one is untouched.
    let job = gs
        .start_job(
            json!({"source": media.url("short.mkv"), "mode": "batch", "output": {"format": "mkv"}}),
        )
        .await;
    assert_eq!(gs.wait_for(&job, &["ready"], MIN).await["status"], "ready");
}

/// Seed 004's health checker: a source that arrives at half real time drives a stream
/// below `health.min_speed`. The job says so (WebSocket `health` events, its `health`
/// field, `/api/health/detailed`) and steps down inside the same job and URLs: the
/// faster preset, then a rung lower; it still finishes with every segment.
#[tokio::test]
async fn a_stream_below_real_time_steps_down_and_says_what_it_did() {
    use futures_util::StreamExt;
    let media = MediaServer::start();
    let gs = Gs::start(
        Opts::default()
            .env("GHOSTSTREAM__HEALTH__WINDOW_SECONDS", "2")
            .env("GHOSTSTREAM__HEALTH__START_DELAY_SECONDS", "1")
            .env("GHOSTSTREAM__THROTTLE__AHEAD_SECONDS", "0"),
    );
    let url = format!("{}/ws/progress", gs.base.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    // h264.mkv is 8 s in 1.9 MB: 120 kB/s is half of real time (the probe stays fast).
    let src = format!("{}?rate=120000&slow_from=150000", media.url("h264.mkv"));
    let job = gs
        .start_job(json!({"source": src, "mode": "stream", "output": {"bitrate": "600k"}}))
        .await;
    let mut steps: Vec<Value> = Vec::new();
    let mut detailed = None;
    while let Ok(Some(Ok(m))) = tokio::time::timeout(MIN, ws.next()).await {
        let tokio_tungstenite::tungstenite::Message::Text(t) = m else {
            continue;
        };
        let v: Value = serde_json::from_str(&t).unwrap();
        if v["type"] == "health" && v["job_id"] == job["job_id"] {
            if detailed.is_none() {
                detailed = Some(gs.get("/api/health/detailed").await.1);
            }
            steps.push(v["data"].clone());
            if steps.len() == 2 {
                break;
            }
        }
    }
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert_eq!(steps[0]["degraded"], true);
    assert_eq!(steps[0]["step"], 1);
    assert!(steps[0]["speed"].as_f64().unwrap() < 1.0, "{steps:?}");
    assert!(steps[0]["action"].as_str().unwrap().contains("superfast"));
    assert_eq!(steps[1]["step"], 2);
    assert!(steps[1]["action"].as_str().unwrap().contains("360p → 240p"));
    // While degraded, the detailed health names the job and what it did.
    let detailed = detailed.unwrap();
    assert_eq!(detailed["status"], "degraded", "{detailed}");
    assert_eq!(detailed["checks"]["encoding"]["status"], "degraded");
    let errors = detailed["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e["check"] == "encoding"
                && e["message"].as_str().unwrap().contains("real time")),
        "{detailed}"
    );
    let done = gs.wait_for(&job, &["ready", "error"], MIN).await;
    assert_eq!(done["status"], "ready", "{done}");
    assert!(done["health"]["step"].as_u64().unwrap() >= 2, "{done}");
    let log = gs.log(&job).await;
    // After the quick first run (segment 0 alone, no B-frames): the usual run, then the steps.
    let runs: Vec<&str> = log.lines().filter(|l| l.starts_with("$ ffmpeg")).collect();
    assert!(runs[0].contains("-bf 0"), "{log}");
    let runs = &runs[1..];
    assert!(runs.len() >= 3, "{log}");
    assert!(runs[0].contains("-preset veryfast"), "{log}");
    assert!(runs[1].contains("-preset superfast"), "{log}");
    assert!(runs[2].contains("426"), "{log}");
    // Every segment is there, at the job's own URLs.
    let playlist = String::from_utf8(gs.fetch(&stream_file_url(&job, "v0.m3u8")).await.1).unwrap();
    for seg in playlist.lines().filter(|l| l.starts_with("v0_")) {
        let name = seg.split('?').next().unwrap();
        let (code, body) = gs.fetch(&stream_file_url(&job, name)).await;
        assert_eq!(code, 200, "{name}");
        assert!(!body.is_empty());
    }
}
