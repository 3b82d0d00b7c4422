//! Real clients: the published Python SDK and hls.js in Chromium.

use super::support::*;
use serde_json::json;

fn need(path: &std::path::Path, what: &str) {
    assert!(
        path.exists(),
        "{what} is missing at {}: run scripts/setup.sh first",
        path.display()
    );
}

/// The SDK (`ghoststream==1.2.6` from PyPI, installed by scripts/setup.sh) as a real
/// client of two of our servers, including its load balancer.
#[tokio::test]
async fn published_python_sdk_drives_our_servers() {
    let media = MediaServer::start();
    let a = Gs::start(Opts::default());
    // The SDK names manual servers by host, so the second one needs its own address.
    let b = Gs::start(Opts::default().host("127.0.0.2"));
    let strip = |g: &Gs| g.base.trim_start_matches("http://").to_string();
    let stdout = run_sdk_script(
        "sdk_check.py",
        vec![strip(&a), strip(&b), media.url("long.mkv")],
    )
    .await;
    for check in [
        "health_check",
        "get_capabilities",
        "transcode",
        "wait_for_ready",
        "get_job_status",
        "batch_download_url",
        "cancel_job",
        "delete_job",
        "load_balancer",
    ] {
        assert!(
            stdout.lines().any(|l| l == format!("ok {check}")),
            "missing {check}: {stdout}"
        );
    }
    // The SDK identifies itself; we list it.
    let (_, clients) = a.get("/api/clients").await;
    assert!(
        clients
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["client"] == "ghosthub-e2e" && c["transport"] == "http"),
        "{clients}"
    );
}

/// hls.js in Debian's Chromium plays our stream and seeks to 80 %.
#[tokio::test]
async fn hls_js_in_chromium_plays_and_seeks() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let job = gs
        .start_job(json!({"source": media.url("long.mkv"), "output": {"bitrate": "400k"}}))
        .await;
    play_in_chromium(&media, &job).await;
    // Playing and seeking never created another job.
    let (_, jobs) = gs.get("/api/transcode/jobs").await;
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 1);
}

/// The dashboard (built `ui/dist`, served by the server) in Chromium: a job started
/// through the API shows moving progress, cancel works from the UI, hardware and stats
/// render real data. Screenshots: target/test-artifacts/.
#[tokio::test]
async fn dashboard_in_chromium_shows_live_jobs() {
    let root = repo_root();
    let dist = root.join("ui/dist");
    assert!(
        dist.join("assets").is_dir(),
        "ui/dist is not built: run `npm run ui:build` (scripts/test.sh does)"
    );
    need(
        &root.join("tests/node_modules/playwright-core"),
        "playwright-core (npm install in tests/)",
    );
    let media = MediaServer::start();
    let cfg = tempfile::tempdir().unwrap();
    let gs = Gs::start(
        Opts::default()
            .env("GHOSTSTREAM__SERVER__UI_DIR", dist.to_str().unwrap())
            .env(
                "GHOSTSTREAM_CONFIG",
                cfg.path().join("ghoststream.toml").to_str().unwrap(),
            ),
    );
    let done = gs
        .start_job(json!({"source": media.url("short.mkv"), "mode": "batch"}))
        .await;
    gs.wait_for(&done, &["ready"], std::time::Duration::from_secs(60))
        .await;
    let job = gs
        .start_job(json!({"source": format!("{}?rate=30000", media.url("long.mkv")), "output": {"bitrate": "300k"}}))
        .await;
    let id = job["job_id"].as_str().unwrap().to_string();
    let shots = root.join("target/test-artifacts");
    let args = vec![
        gs.base.clone(),
        id,
        shots.to_str().unwrap().to_string(),
        media.base.clone(),
        media_dir().join("short.mkv").display().to_string(),
    ];
    run_node("tests/browser/dashboard.mjs", args, vec![]).await;
    assert_eq!(gs.status(&job).await["status"], "cancelled");
    assert!(
        eventually(std::time::Duration::from_secs(2), || gs
            .children()
            .is_empty())
        .await
    );
}

/// The Live panel in Chromium: a key made there, a real RTMP publisher on it, the stream
/// live with its preview playing, then Stop and Revoke from the panel.
#[tokio::test]
async fn live_panel_in_chromium_makes_a_key_shows_the_stream_and_stops_it() {
    let root = repo_root();
    let dist = root.join("ui/dist");
    assert!(
        dist.join("assets").is_dir(),
        "ui/dist is not built: run `npm run ui:build` (scripts/test.sh does)"
    );
    let gs = Gs::start(
        Opts::default()
            .env("GHOSTSTREAM__SERVER__UI_DIR", dist.to_str().unwrap())
            .env("GHOSTSTREAM__LIVE__RECONNECT_GRACE_SECONDS", "2"),
    );
    let shots = root.join("target/test-artifacts");
    let out = run_node(
        "tests/browser/live_panel.mjs",
        vec![gs.base.clone(), shots.to_str().unwrap().to_string()],
        vec![],
    )
    .await;
    assert!(out.contains("ok the key is revoked"), "{out}");
    let (_, v) = gs.get("/api/ingest").await;
    assert_eq!(v["streams"][0]["status"], "ended", "{v}");
    assert!(
        eventually(std::time::Duration::from_secs(5), || gs
            .children()
            .is_empty())
        .await
    );
}
