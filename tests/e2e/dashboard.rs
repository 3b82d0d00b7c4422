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
}
