//! What the dashboard reads and changes over HTTP.

use super::support::*;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn server_status_pause_and_resources() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let (code, st) = gs.get("/api/server").await;
    assert_eq!(code, 200);
    assert_eq!(st["state"], "running");
    let port = gs.base.rsplit(':').next().unwrap();
    assert_eq!(st["port"].as_u64().unwrap().to_string(), port);
    assert!(st["lan_urls"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u.as_str().unwrap().ends_with(&format!(":{port}"))));
    let (code, st) = gs.post("/api/server/pause", json!({})).await;
    assert_eq!((code, st["state"].as_str()), (200, Some("paused")));
    let (code, v) = gs
        .post(
            "/api/transcode/start",
            json!({"source": media.url("short.mkv")}),
        )
        .await;
    assert_eq!(
        (code, v["code"].as_str()),
        (503, Some("server-paused")),
        "{v}"
    );
    let (_, st) = gs.post("/api/server/resume", json!({})).await;
    assert_eq!(st["state"], "running");
    gs.start_job(json!({"source": media.url("short.mkv"), "mode": "batch"}))
        .await;

    let (code, r) = gs.get("/api/resources").await;
    assert_eq!(code, 200, "{r}");
    assert!(r["cpu_count"].as_u64().unwrap() >= 1);
    assert!(r["memory_total_mb"].as_u64().unwrap() > 0);
    assert!(r["disk_total_gb"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["gpus"].is_array());
}

#[tokio::test]
async fn settings_are_saved_and_applied_live() {
    let media = MediaServer::start();
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = cfg_dir.path().join("ghoststream.toml");
    std::fs::write(&cfg, "[transcoding]\nsegment_duration = 4\n").unwrap();
    let gs = Gs::start(Opts::default().env("GHOSTSTREAM_CONFIG", cfg.to_str().unwrap()));
    let (code, s) = gs.get("/api/settings").await;
    assert_eq!(code, 200);
    assert_eq!(s["job_tokens"], "enforce");
    assert_eq!(s["max_concurrent_jobs"], 2);
    let job = gs
        .start_job(json!({"source": media.url("short.mkv"), "mode": "batch"}))
        .await;
    let id = job["job_id"].as_str().unwrap();
    assert_eq!(gs.get(&format!("/api/transcode/{id}/status")).await.0, 403);
    let mut new = s.clone();
    new["job_tokens"] = json!("open");
    new["max_concurrent_jobs"] = json!(3);
    new["port"] = json!(9999);
    let (code, saved) = gs.put("/api/settings", new.clone()).await;
    assert_eq!(code, 200, "{saved}");
    assert_eq!(saved["needs_server_restart"], json!(["port"]));
    assert!(saved["applied_now"]
        .as_array()
        .unwrap()
        .contains(&json!("job_tokens")));
    // Applied without a restart…
    assert_eq!(gs.get(&format!("/api/transcode/{id}/status")).await.0, 200);
    let (_, caps) = gs.get("/api/capabilities").await;
    assert_eq!(caps["max_concurrent_jobs"], 3);
    // …and written to the file, other keys kept.
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        text.contains("job_tokens = \"open\"")
            && text.contains("port = 9999")
            && text.contains("segment_duration = 4"),
        "{text}"
    );
    // Bad values are refused with the reason.
    let mut bad = s.clone();
    bad["max_concurrent_jobs"] = json!(0);
    let (code, v) = gs.put("/api/settings", bad.clone()).await;
    assert_eq!(code, 422, "{v}");
    assert!(v["detail"][0]["msg"]
        .as_str()
        .unwrap()
        .contains("max concurrent jobs"));
}

#[tokio::test]
async fn daily_history_counts_finished_jobs() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let ok = gs
        .start_job(json!({"source": media.url("short.mkv"), "mode": "batch"}))
        .await;
    gs.start_job(json!({"source": media.url("missing.mkv")}))
        .await;
    gs.wait_for(&ok, &["ready"], Duration::from_secs(60)).await;
    let (code, d) = gs.get("/api/stats/daily?days=7").await;
    assert_eq!(code, 200);
    let days = d["days"].as_array().unwrap();
    assert_eq!(days.len(), 7);
    let today = days.last().unwrap();
    assert_eq!(
        (today["completed"].as_u64(), today["failed"].as_u64()),
        (Some(1), Some(1)),
        "{today}"
    );
    assert_eq!(today["hw_usage"]["software"], 1);
    assert!(today["average_speed"].as_f64().unwrap() > 0.0);
    // A playable source into MP4 is copied, not transcoded: the split says so.
    assert_eq!(
        (today["copied"].as_u64(), today["transcoded"].as_u64()),
        (Some(1), Some(0)),
        "{today}"
    );
    assert_eq!(today["copy_speed"], today["average_speed"]);
    // The 24-hour view: the same job in this hour's bucket, labelled by its UTC hour.
    let (code, h) = gs.get("/api/stats/hourly").await;
    assert_eq!(code, 200, "{h}");
    let hours = h["days"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    let now = hours.last().unwrap();
    let label = now["day"].as_str().unwrap();
    assert!(label.len() == 13 && label.as_bytes()[10] == b'T', "{label}");
    let total: u64 = hours.iter().map(|x| x["completed"].as_u64().unwrap()).sum();
    assert_eq!(total, 1, "{h}");
    assert_eq!(gs.get("/api/stats/hourly?hours=0").await.0, 422);
}

/// The dashboard is told of status changes, never polls: after `watch_server` the
/// WebSocket carries the server's status at once and again on pause, resume and each job
/// that starts or ends. Clients that do not ask never see the message.
#[tokio::test]
async fn server_status_is_pushed_to_watchers() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let url = format!("{}/ws/progress", gs.base.replace("http://", "ws://"));
    let (mut watcher, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let (mut plain, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    watcher
        .send(Message::Text(
            json!({"type": "watch_server"}).to_string().into(),
        ))
        .await
        .unwrap();
    // The next `server_status` message whose data passes `want`.
    async fn next_status(
        ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
        want: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let wait = async {
            while let Some(Ok(m)) = ws.next().await {
                if let Message::Text(t) = m {
                    let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                    if v["type"] == "server_status" && want(&v["data"]) {
                        return v["data"].clone();
                    }
                }
            }
            panic!("the connection ended");
        };
        tokio::time::timeout(Duration::from_secs(20), wait)
            .await
            .expect("no server_status message")
    }
    let first = next_status(&mut watcher, |_| true).await;
    assert_eq!(first["state"], "running");
    assert_eq!(gs.post("/api/server/pause", json!({})).await.0, 200);
    next_status(&mut watcher, |d| d["state"] == "paused").await;
    assert_eq!(gs.post("/api/server/resume", json!({})).await.0, 200);
    next_status(&mut watcher, |d| d["state"] == "running").await;
    let job = gs
        .start_job(json!({"source": media.url("short.mkv"), "mode": "batch"}))
        .await;
    next_status(&mut watcher, |d| d["active_jobs"].as_u64() == Some(1)).await;
    gs.wait_for(&job, &["ready"], Duration::from_secs(60)).await;
    next_status(&mut watcher, |d| d["active_jobs"].as_u64() == Some(0)).await;
    // The other connection got the job's events and no server status.
    let mut kinds = std::collections::HashSet::new();
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_millis(300), plain.next()).await
    {
        if let Message::Text(t) = m {
            let v: serde_json::Value = serde_json::from_str(&t).unwrap();
            kinds.insert(v["type"].as_str().unwrap_or("").to_string());
        }
    }
    assert!(kinds.contains("status_change"), "{kinds:?}");
    assert!(!kinds.contains("server_status"), "{kinds:?}");
}

/// A setting that came from the environment is shown and never written into the file
/// when the dashboard saves; one the user changes there is applied and written.
#[tokio::test]
async fn settings_from_the_environment_stay_there() {
    let gs = Gs::start(Opts::default().env("GHOSTSTREAM__TRANSCODING__MAX_CONCURRENT_JOBS", "3"));
    let cfg = gs.state.join("ghoststream.toml");
    let (code, s) = gs.get("/api/settings").await;
    assert_eq!(code, 200);
    assert_eq!(s["max_concurrent_jobs"], 3);
    let mut new = s.clone();
    new["job_tokens"] = json!("open");
    let (code, saved) = gs.put("/api/settings", new.clone()).await;
    assert_eq!(code, 200, "{saved}");
    assert_eq!(saved["applied_now"], json!(["job_tokens"]));
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("job_tokens = \"open\""), "{text}");
    // Neither this one nor the suite's GHOSTSTREAM__SECURITY__ALLOWED_TARGETS.
    assert!(!text.contains("max_concurrent_jobs"), "{text}");
    assert!(!text.contains("allowed_targets"), "{text}");
    new["max_concurrent_jobs"] = json!(4);
    let (code, v) = gs.put("/api/settings", new).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["applied_now"], json!(["max_concurrent_jobs"]));
    assert_eq!(
        gs.get("/api/capabilities").await.1["max_concurrent_jobs"],
        4
    );
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("max_concurrent_jobs = 4"), "{text}");
    assert!(!text.contains("allowed_targets"), "{text}");
}

/// Jobs say who asked (name, kind, address), what they do with the source and why, the
/// encoder and the picture in and out, and once ended their size and speed. An ended job
/// is retried for the same client. The application log has the server's start and
/// address, each job, and each refused request with its code and client; only this
/// machine's own pages may read it.
#[tokio::test]
async fn jobs_say_who_what_and_why_and_the_log_says_what_was_refused() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let who = [("X-GhostStream-Client", "GhostHub-e2e")];
    let start = |body: serde_json::Value| {
        let gs = &gs;
        async move {
            let (code, v) = gs
                .req(
                    reqwest::Method::POST,
                    "/api/transcode/start",
                    Some(body.to_string()),
                    &who,
                )
                .await;
            assert_eq!(code, 200, "{v}");
            v
        }
    };
    let remux = start(json!({"source": media.url("h264.mkv")})).await;
    assert_eq!(remux["client"]["name"], "GhostHub-e2e");
    assert_eq!(remux["client"]["kind"], "ghosthub");
    assert_eq!(remux["client"]["address"], "127.0.0.1");
    assert_eq!(remux["delivery"]["kind"], "remux", "{remux}");
    assert!(
        remux["delivery"]["reason"]
            .as_str()
            .unwrap()
            .contains("picture copied into hls"),
        "{remux}"
    );
    assert_eq!(remux["delivery"]["input"], "640x360");
    assert!(remux["delivery"].get("encoder").is_none(), "{remux}");
    let batch = start(json!({"source": media.url("short.mkv"), "mode": "batch",
        "output": {"bitrate": "300k"}}))
    .await;
    assert_eq!(batch["delivery"]["kind"], "transcode", "{batch}");
    assert_eq!(batch["delivery"]["encoder"], "libx264");
    assert!(batch["delivery"]["reason"]
        .as_str()
        .unwrap()
        .contains("bitrate 300k requested"));
    assert_eq!(
        (&batch["delivery"]["input"], &batch["delivery"]["output"]),
        (&json!("320x180"), &json!("320x180"))
    );
    let done = gs
        .wait_for(&batch, &["ready"], Duration::from_secs(60))
        .await;
    assert!(done["output_size"].as_u64().unwrap() > 1000, "{done}");
    assert!(done["speed"].as_f64().unwrap() > 0.0, "{done}");
    assert!(done["started_at"].is_string() && done["completed_at"].is_string());

    // Retried: a new job with the same request, for the same client.
    let (code, again) = gs.control(reqwest::Method::POST, &batch, "/retry").await;
    assert_eq!(code, 200, "{again}");
    assert_ne!(again["job_id"], batch["job_id"]);
    assert_eq!(again["client"]["name"], "GhostHub-e2e");
    assert_eq!(again["mode"], "batch");
    let (code, v) = gs
        .req(
            reqwest::Method::POST,
            &format!("/api/transcode/{}/retry", batch["job_id"].as_str().unwrap()),
            None,
            &[],
        )
        .await;
    assert!(
        code == 401 || code == 403,
        "retry without a token: {code} {v}"
    );

    // A request refused, then the log read back.
    let (code, _) = gs
        .req(
            reqwest::Method::POST,
            "/api/transcode/start",
            Some(json!({"source": "file:///etc/passwd"}).to_string()),
            &[("User-Agent", "python-httpx/0.27")],
        )
        .await;
    assert_eq!(code, 422);
    let (code, log) = gs.get("/api/logs").await;
    assert_eq!(code, 200, "{log}");
    let lines: Vec<String> = log["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            format!(
                "{} {}",
                l["level"].as_str().unwrap(),
                l["text"].as_str().unwrap()
            )
        })
        .collect();
    let has = |want: &[&str]| lines.iter().any(|l| want.iter().all(|w| l.contains(w)));
    let port = gs.base.rsplit(':').next().unwrap();
    assert!(
        has(&["info server started", &format!("(port {port})")]),
        "{lines:#?}"
    );
    assert!(
        has(&[
            "for GhostHub-e2e at 127.0.0.1",
            "h264.mkv",
            "remux: picture copied"
        ]),
        "{lines:#?}"
    );
    assert!(has(&["finished"]), "{lines:#?}");
    assert!(
        has(&["warn refused POST /api/transcode/start from python-httpx at 127.0.0.1: 422 invalid-request"]),
        "{lines:#?}"
    );
    // Paged by cursor: nothing after the last line.
    let next = log["next"].as_u64().unwrap();
    let (_, later) = gs.get(&format!("/api/logs?after={next}")).await;
    assert_eq!(later["lines"].as_array().unwrap().len(), 0, "{later}");
    // A page elsewhere cannot read it.
    let (code, v) = gs
        .req(
            reqwest::Method::GET,
            "/api/logs",
            None,
            &[("Origin", "http://evil.example")],
        )
        .await;
    assert_refused((code, v), 403, "origin-not-allowed");
}
