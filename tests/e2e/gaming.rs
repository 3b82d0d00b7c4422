//! A good guest on a gaming PC (issue 15): freezing and thawing a running job, real ffmpeg.

use super::support::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

/// `(state, utime + stime in ticks)` of a process, from `/proc/<pid>/stat`.
fn proc_stat(pid: i32) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let cpu = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some((f.first()?.to_string(), cpu))
}

/// A batch HEVC encode of the 8 s 640x360 source: a few seconds of real work.
async fn busy_job(gs: &Gs, media: &MediaServer) -> Value {
    let job = gs
        .start_job(json!({
            "source": media.url("h264.mkv"),
            "mode": "batch",
            "output": {"format": "mp4", "video_codec": "h265", "resolution": "original"}
        }))
        .await;
    assert!(
        eventually(Duration::from_secs(20), || !gs.children().is_empty()).await,
        "no ffmpeg started"
    );
    job
}

#[tokio::test]
async fn a_frozen_job_stops_using_the_cpu_and_finishes_after_the_thaw() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let job = busy_job(&gs, &media).await;
    let (code, v) = gs.control(Method::POST, &job, "/pause").await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["status"], "processing", "the SDK's status stays");
    assert_eq!(v["paused_reason"], "paused by request");
    let ours = gs.children();
    assert!(!ours.is_empty());
    // Every ffmpeg of the job is stopped (T), and uses no CPU for 3 s.
    assert!(
        eventually(Duration::from_secs(2), || ours
            .iter()
            .all(|p| proc_stat(*p).is_none_or(|(s, _)| s == "T")))
        .await,
        "{:?}",
        ours.iter().map(|p| proc_stat(*p)).collect::<Vec<_>>()
    );
    let before: Vec<_> = ours.iter().map(|p| proc_stat(*p)).collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after: Vec<_> = ours.iter().map(|p| proc_stat(*p)).collect();
    assert_eq!(before, after, "a frozen ffmpeg used CPU time");
    // Still the same job, still processing, and it says why.
    let st = gs.status(&job).await;
    assert_eq!(st["status"], "processing");
    assert_eq!(st["paused_reason"], "paused by request");
    // Resumed twice is no error; then it finishes, whole.
    let (code, v) = gs.control(Method::POST, &job, "/resume").await;
    assert_eq!(code, 200, "{v}");
    assert!(v.get("paused_reason").is_none(), "{v}");
    let done = gs
        .wait_for(&job, &["ready", "error"], Duration::from_secs(120))
        .await;
    assert_eq!(done["status"], "ready", "{done}");
    let (code, file) = gs.fetch(done["download_url"].as_str().unwrap()).await;
    assert_eq!(code, 200);
    let probe = probe_bytes(&file, "mp4");
    let duration: f64 = probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((duration - 8.0).abs() < 0.5, "{probe}");
    assert_eq!(stream_of(&probe, "video").unwrap()["codec_name"], "hevc");
}

#[tokio::test]
async fn a_frozen_job_can_be_cancelled_and_a_frozen_server_stops() {
    let media = MediaServer::start();
    let mut gs = Gs::start(Opts::default());
    let job = busy_job(&gs, &media).await;
    assert_eq!(gs.control(Method::POST, &job, "/pause").await.0, 200);
    let (code, _) = gs.control(Method::POST, &job, "/cancel").await;
    assert_eq!(code, 200);
    assert!(
        eventually(Duration::from_secs(5), || gs.children().is_empty()).await,
        "a frozen ffmpeg outlived its cancel: {:?}",
        gs.children()
    );
    assert_eq!(gs.status(&job).await["status"], "cancelled");
    // Pausing what no longer runs is a clear conflict.
    let (code, v) = gs.control(Method::POST, &job, "/pause").await;
    assert_eq!(code, 409, "{v}");
    assert_eq!(v["code"], "job-not-running");
    // A frozen job when the server stops: nothing is left stopped forever.
    let job = busy_job(&gs, &media).await;
    assert_eq!(gs.control(Method::POST, &job, "/pause").await.0, 200);
    let ours = gs.children();
    let status = gs.stop();
    assert!(status.success(), "{status:?}");
    assert!(
        eventually(Duration::from_secs(5), || ours
            .iter()
            .all(|p| proc_stat(*p).is_none_or(|(s, _)| s == "Z")))
        .await,
        "left behind: {ours:?}"
    );
}

#[tokio::test]
async fn pausing_needs_the_control_token() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let job = busy_job(&gs, &media).await;
    let id = job["job_id"].as_str().unwrap();
    let (code, v) = gs
        .post(&format!("/api/transcode/{id}/pause"), json!({}))
        .await;
    assert_eq!(code, 403, "{v}");
    let (code, _) = gs.post("/api/transcode/not-a-job/pause", json!({})).await;
    assert_eq!(code, 404);
}

/// `(nice, ionice -p's answer)` of a running process.
fn priority_of(pid: i32) -> (i64, String) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let (_, rest) = stat.rsplit_once(')').unwrap();
    let nice: i64 = rest.split_whitespace().nth(16).unwrap().parse().unwrap();
    let io = std::process::Command::new("ionice")
        .args(["-p", &pid.to_string()])
        .output()
        .expect("ionice (util-linux)");
    (nice, String::from_utf8_lossy(&io.stdout).trim().to_string())
}

#[tokio::test]
async fn every_ffmpeg_runs_at_the_configured_priority() {
    let media = MediaServer::start();
    // The default is low: nice 10 and the lowest best-effort disk priority.
    let gs = Gs::start(Opts::default());
    busy_job(&gs, &media).await;
    let pid = gs.children()[0];
    assert_eq!(priority_of(pid), (10, "best-effort: prio 7".to_string()));
    drop(gs);
    let gs = Gs::start(Opts::default().env("GHOSTSTREAM__GAMING__PRIORITY", "idle"));
    busy_job(&gs, &media).await;
    let pid = gs.children()[0];
    assert_eq!(priority_of(pid), (19, "idle".to_string()));
    drop(gs);
    let gs = Gs::start(Opts::default().env("GHOSTSTREAM__GAMING__PRIORITY", "normal"));
    busy_job(&gs, &media).await;
    let pid = gs.children()[0];
    let own = priority_of(std::process::id() as i32).0;
    assert_eq!(priority_of(pid).0, own, "normal: as the server itself");
}

/// A stand-in game: a copy of `sleep` under a name from `gaming.games` (the folder
/// holding the copy lives as long as the game).
struct Game(std::process::Child, #[allow(dead_code)] tempfile::TempDir);

impl Game {
    fn start(name: &str) -> Game {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join(name);
        std::fs::copy("/bin/sleep", &exe).unwrap();
        Game(
            std::process::Command::new(&exe).arg("120").spawn().unwrap(),
            dir,
        )
    }
}

impl Drop for Game {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_running_game_freezes_batch_jobs_until_it_exits() {
    use futures_util::StreamExt;
    let media = MediaServer::start();
    let gs = Gs::start(
        Opts::default()
            .env("GHOSTSTREAM__GAMING__GAMES", "[\"EldenRing.exe\"]")
            .env("GHOSTSTREAM__GAMING__POLL_SECONDS", "1")
            .env("GHOSTSTREAM__GAMING__RESUME_DELAY_SECONDS", "1"),
    );
    let url = format!("{}/ws/progress", gs.base.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let job = busy_job(&gs, &media).await;
    let game = Game::start("eldenring");
    let reason = "Paused: eldenring is running";
    let mut paused = false;
    for _ in 0..100 {
        if gs.status(&job).await["paused_reason"] == reason {
            paused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(paused, "{}", gs.status(&job).await);
    let (_, server) = gs.get("/api/server").await;
    assert_eq!(server["paused_reason"], reason);
    assert_eq!(server["paused_jobs"], 1);
    let ours = gs.children();
    assert!(
        eventually(Duration::from_secs(2), || ours
            .iter()
            .all(|p| proc_stat(*p).is_none_or(|(s, _)| s == "T")))
        .await
    );
    // The WebSocket said so, naming the game.
    let mut named = false;
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(2), ws.next()).await {
        if let tokio_tungstenite::tungstenite::Message::Text(t) = m {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["data"]["stage"] == "paused" && v["data"]["paused_reason"] == reason {
                named = true;
                break;
            }
        }
    }
    assert!(named, "no paused progress event naming the game");
    // The game exits: after the delay the job runs again and finishes.
    drop(game);
    let done = gs
        .wait_for(&job, &["ready", "error"], Duration::from_secs(120))
        .await;
    assert_eq!(done["status"], "ready", "{done}");
    let (_, server) = gs.get("/api/server").await;
    assert!(server["paused_reason"].is_null(), "{server}");
    assert_eq!(server["paused_jobs"], 0);
}

#[tokio::test]
async fn a_stream_waits_for_its_viewer_and_goes_on_when_asked() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default().env("GHOSTSTREAM__THROTTLE__AHEAD_SECONDS", "6"));
    let job = gs
        .start_job(json!({"source": media.url("long.mkv"), "mode": "stream", "output": {"resolution": "original", "bitrate": "200k"}}))
        .await;
    // Nobody asks for a segment: the encoder stops a few segments in.
    let mut throttled = Value::Null;
    for _ in 0..200 {
        let st = gs.status(&job).await;
        if st["paused_reason"]
            .as_str()
            .unwrap_or("")
            .starts_with("throttled")
        {
            throttled = st;
            break;
        }
        assert_ne!(st["status"], "ready", "not throttled: {st}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(throttled["status"], "processing", "{throttled}");
    let p0 = throttled["progress"].as_f64().unwrap();
    assert!(p0 < 80.0, "{throttled}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let st = gs.status(&job).await;
    assert!(
        st["progress"].as_f64().unwrap() - p0 < 1.0,
        "a throttled stream went on: {st}"
    );
    // A player asks for every segment in turn: it gets each, and the job completes.
    let (_, variant) = gs.fetch(&stream_file_url(&job, "v0.m3u8")).await;
    let variant = String::from_utf8(variant).unwrap();
    let segments: Vec<&str> = variant.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(segments.len() >= 6, "{variant}");
    for s in &segments {
        let name = s.split('?').next().unwrap();
        let (code, bytes) = gs.fetch(&stream_file_url(&job, name)).await;
        assert_eq!(code, 200, "{name}");
        assert!(!bytes.is_empty(), "{name}");
    }
    let done = gs
        .wait_for(&job, &["ready", "error"], Duration::from_secs(60))
        .await;
    assert_eq!(done["status"], "ready", "{done}");
}
