//! Load: a thousand WebSocket clients while jobs run, a burst of 200 starts against a
//! bounded queue, and readers hammering a running stream. All on 127.0.0.1, bounded in
//! count and time.

use super::support::*;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const MIN: Duration = Duration::from_secs(60);

/// Resident memory of a process, in KiB.
fn rss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_thousand_websocket_clients_all_see_every_status_change() {
    const CLIENTS: usize = 1000;
    const SLOW: usize = 50;
    // This process holds a thousand sockets too.
    if let Ok((_, hard)) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
    {
        let _ =
            nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, hard, hard);
    }
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default().env("GHOSTSTREAM__TRANSCODING__MAX_CONCURRENT_JOBS", "2"));
    let ws_url = gs.base.replace("http://", "ws://") + "/ws/progress";
    let rss_before = rss_kib(gs.pid());
    // Connect in waves of 100.
    let mut sockets = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS / 100 {
        let wave = futures_util::future::join_all(
            (0..100).map(|_| tokio_tungstenite::connect_async(ws_url.clone())),
        )
        .await;
        for r in wave {
            sockets.push(r.expect("connect").0);
        }
    }
    // Every upgrade is registered before the next connection tries its luck.
    gs.wait_for_ws_clients(CLIENTS, MIN).await;
    // The next one is refused with a close frame that says why.
    let (mut extra, _) = tokio_tungstenite::connect_async(ws_url.clone())
        .await
        .expect("upgrade");
    let refused = tokio::time::timeout(Duration::from_secs(10), extra.next()).await;
    match refused {
        Ok(Some(Ok(Message::Close(Some(f))))) => {
            assert_eq!(u16::from(f.code), 1013);
            assert!(f.reason.contains("too many"), "{}", f.reason);
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    // The first SLOW clients never read; the others count what they see.
    let slow: Vec<_> = sockets.drain(..SLOW).collect();
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|mut ws| {
            tokio::spawn(async move {
                let mut seen: HashSet<(String, String)> = HashSet::new();
                let deadline = Instant::now() + Duration::from_secs(120);
                while Instant::now() < deadline {
                    let msg = tokio::time::timeout(Duration::from_secs(1), ws.next()).await;
                    let Ok(Some(Ok(msg))) = msg else { continue };
                    if let Message::Text(t) = msg {
                        let v: Value = serde_json::from_str(&t).unwrap_or_default();
                        if v["type"] == "status_change" {
                            seen.insert((
                                v["job_id"].as_str().unwrap_or_default().to_string(),
                                v["data"]["status"].as_str().unwrap_or_default().to_string(),
                            ));
                            let ready = seen.iter().filter(|(_, s)| s == "ready").count();
                            if ready == 2 {
                                break;
                            }
                        }
                    }
                }
                let _ = ws.close(None).await;
                seen
            })
        })
        .collect();
    let a = gs
        .start_job(
            json!({"source": media.url("short.mkv"), "mode": "batch", "output": {"format": "mkv"}}),
        )
        .await;
    let b = gs
        .start_job(json!({"source": media.url("h264.mkv"), "mode": "batch", "output": {"format": "mkv", "resolution": "original"}}))
        .await;
    gs.wait_for(&a, &["ready"], MIN * 2).await;
    gs.wait_for(&b, &["ready"], MIN * 2).await;
    let rss_during = rss_kib(gs.pid());
    let mut complete = 0;
    for r in readers {
        let seen = r.await.unwrap();
        let ok = [&a, &b].iter().all(|j| {
            let id = j["job_id"].as_str().unwrap().to_string();
            seen.contains(&(id.clone(), "processing".into()))
                && seen.contains(&(id, "ready".into()))
        });
        complete += usize::from(ok);
    }
    assert_eq!(
        complete,
        CLIENTS - SLOW,
        "clients that saw processing and ready for both jobs"
    );
    drop(slow);
    assert_eq!(gs.get("/api/health").await.0, 200);
    eprintln!(
        "load: {CLIENTS} WebSocket clients ({SLOW} never reading); server RSS {} MiB before, {} MiB with all connected",
        rss_before / 1024,
        rss_during / 1024
    );
    assert!(
        rss_during < rss_before + 256 * 1024,
        "RSS grew from {rss_before} to {rss_during} KiB"
    );
}

#[tokio::test]
async fn a_burst_of_200_starts_gets_queue_full_answers_and_no_deadlock() {
    let media = MediaServer::start();
    let gs = Gs::start(
        Opts::default()
            .env("GHOSTSTREAM__TRANSCODING__MAX_CONCURRENT_JOBS", "2")
            .env("GHOSTSTREAM__TRANSCODING__MAX_QUEUE_SIZE", "10"),
    );
    let posts = (0..200).map(|i| {
        // Distinct sources, so nothing is shared; throttled, so no job ends during the burst.
        let body = json!({"source": format!("{}?rate=100000&slow_from=1000000&n={i}", media.url("long.mkv")), "mode": "batch", "output": {"format": "mkv", "resolution": "original"}});
        let gs = &gs;
        async move { gs.post("/api/transcode/start", body).await }
    });
    let t0 = Instant::now();
    let answers = futures_util::future::join_all(posts).await;
    let burst = t0.elapsed();
    let mut accepted = Vec::new();
    let mut full = 0;
    for (code, v) in answers {
        match code {
            200 => accepted.push(v),
            503 => {
                assert_eq!(v["code"], "queue-full", "{v}");
                full += 1;
            }
            _ => panic!("unexpected answer {code}: {v}"),
        }
    }
    // Two running and ten waiting.
    let states: Vec<String> = accepted.iter().map(|j| j["status"].to_string()).collect();
    assert_eq!(accepted.len(), 12, "{states:?}");
    assert_eq!(full, 188);
    // Cancel what waits; the running ones must finish.
    for j in &accepted {
        if gs.status(j).await["status"] == "queued" {
            let (code, v) = gs.control(reqwest::Method::POST, j, "/cancel").await;
            assert_eq!(code, 200, "{v}");
        }
    }
    let mut ends: Vec<String> = Vec::new();
    for j in &accepted {
        let s = gs
            .wait_for(j, &["ready", "error", "cancelled"], MIN * 2)
            .await;
        ends.push(s["status"].as_str().unwrap().to_string());
    }
    assert!(
        ends.iter().all(|s| s == "ready" || s == "cancelled"),
        "{ends:?}"
    );
    assert!(eventually(Duration::from_secs(3), || gs.children().is_empty()).await);
    // The queue is open again.
    let j = gs
        .start_job(
            json!({"source": media.url("short.mkv"), "mode": "batch", "output": {"format": "mkv"}}),
        )
        .await;
    assert_eq!(gs.wait_for(&j, &["ready"], MIN).await["status"], "ready");
    eprintln!(
        "load: 200 concurrent starts answered in {:.2} s: {} accepted, {full} queue-full",
        burst.as_secs_f64(),
        accepted.len()
    );
}

#[tokio::test]
async fn readers_hammering_a_stream_never_restart_it_or_change_its_id() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let job = gs
        .start_job(json!({"source": media.url("long.mkv"), "output": {"resolution": "original"}}))
        .await;
    let master = job["stream_url"].as_str().unwrap().to_string();
    let variant = stream_file_url(&job, "v0.m3u8");
    let stop = Instant::now() + Duration::from_secs(6);
    let src = media.url("long.mkv");
    let readers = (0..8).map(|_| {
        let (gs, master, variant, job, src) = (
            &gs,
            master.clone(),
            variant.clone(),
            job.clone(),
            src.clone(),
        );
        async move {
            let mut n = 0u32;
            while Instant::now() < stop {
                assert_eq!(gs.fetch(&master).await.0, 200);
                assert_eq!(gs.fetch(&variant).await.0, 200);
                // Segments the encoder has already written, over and over.
                let s = gs.status(&job).await;
                let done = (s["progress"].as_f64().unwrap_or(0.0) / 100.0 * 6.0) as usize;
                for i in 0..done.min(6) {
                    let (code, _) = gs
                        .fetch(&stream_file_url(&job, &format!("v0_{i:05}.ts")))
                        .await;
                    assert_eq!(code, 200);
                    n += 1;
                }
                // And the master again, as a player does on resume.
                let (_, again) = gs
                    .post(
                        "/api/transcode/start",
                        json!({"source": src, "output": {"resolution": "original"}}),
                    )
                    .await;
                assert_eq!(again["job_id"], job["job_id"]);
            }
            n
        }
    });
    let fetched: u32 = futures_util::future::join_all(readers)
        .await
        .into_iter()
        .sum();
    let done = gs.wait_for(&job, &["ready", "error"], MIN).await;
    assert_eq!(done["status"], "ready", "{done}");
    let log = gs.log(&job).await;
    assert_eq!(log.matches("$ ffmpeg").count(), 1, "restarted: {log}");
    let (_, jobs) = gs.get("/api/transcode/jobs").await;
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 1, "{jobs}");
    eprintln!("load: 8 readers fetched {fetched} segments of a running stream; 1 encoder run");
}
