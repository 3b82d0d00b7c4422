//! Job logs that last (a file per job, read after a restart, tailed live over a
//! WebSocket with the job's control token) and mkv2cast's fields: a snapshot first on a
//! new WebSocket, `/ws/conversion/{job_id}`, stream details in `analysis`, the output size
//! when ready, a stable `error_code` next to `error_message`.

use super::support::*;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const MIN: Duration = Duration::from_secs(60);

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws(gs: &Gs, path: &str) -> Ws {
    let url = format!("{}{path}", gs.base.replace("http://", "ws://"));
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// The next text message, within `within`.
async fn text(ws: &mut Ws, within: Duration) -> Option<String> {
    loop {
        match tokio::time::timeout(within, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return Some(t.to_string()),
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

/// Reads messages until one satisfies `want`.
async fn until(ws: &mut Ws, mut want: impl FnMut(&str) -> bool) -> String {
    while let Some(t) = text(ws, MIN).await {
        if want(&t) {
            return t;
        }
    }
    panic!("the WebSocket ended without the message");
}

#[tokio::test]
async fn a_job_log_is_tailed_live_and_read_back_after_a_restart() {
    let media = MediaServer::start();
    let state = tempfile::tempdir().unwrap();
    let mut gs = Gs::start(Opts::default().state(state.path()));
    // About six seconds of work: the source arrives at 400 kB/s.
    let src = format!("{}?rate=400000&slow_from=100000", media.url("long.mkv"));
    let job = gs
        .start_job(
            json!({"source": src, "mode": "batch", "output": {"format": "mkv", "bitrate": "300k"}}),
        )
        .await;
    let id = job["job_id"].as_str().unwrap();
    let token = job["control_token"].as_str().unwrap();
    // Without the job's control token the log is not shown.
    let url = format!("{}/ws/jobs/{id}/log", gs.base.replace("http://", "ws://"));
    match tokio_tungstenite::connect_async(&url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 403),
        other => panic!("connected without a token: {:?}", other.map(|_| ())),
    }
    let mut log = ws(&gs, &format!("/ws/jobs/{id}/log?control_token={token}")).await;
    until(&mut log, |l| l.starts_with("$ ffmpeg")).await;
    // Lines written from now on arrive as they are written.
    assert_eq!(
        gs.control(reqwest::Method::POST, &job, "/pause").await.0,
        200
    );
    until(&mut log, |l| l.starts_with("frozen:")).await;
    assert_eq!(
        gs.control(reqwest::Method::POST, &job, "/resume").await.0,
        200
    );
    until(&mut log, |l| l.starts_with("thawed:")).await;
    let done = gs.wait_for(&job, &["ready", "error"], MIN).await;
    assert_eq!(done["status"], "ready", "{done}");
    // The log is a file under the state directory, and outlives the server.
    let file = state.path().join(format!("logs/jobs/{id}.log"));
    assert!(std::fs::read_to_string(&file).unwrap().contains("$ ffmpeg"));
    gs.stop();
    let gs = Gs::start(Opts::default().state(state.path()));
    let after = gs.log(&job).await;
    assert!(
        after.contains("$ ffmpeg") && after.contains("frozen:"),
        "{after}"
    );
    // The seed's path gives the same lines.
    let mut seed = ws(&gs, &format!("/api/jobs/{id}/stream?control_token={token}")).await;
    until(&mut seed, |l| l.starts_with("thawed:")).await;
    // Deleting the job deletes its log.
    assert_eq!(gs.control(reqwest::Method::DELETE, &job, "").await.0, 200);
    assert!(eventually(Duration::from_secs(5), || !file.exists()).await);
}

#[tokio::test]
async fn websocket_clients_get_a_snapshot_details_sizes_and_error_codes() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let mut all = ws(&gs, "/ws/progress").await;
    let first: Value = serde_json::from_str(&text(&mut all, MIN).await.unwrap()).unwrap();
    assert_eq!(
        (&first["type"], &first["data"]["jobs"]),
        (&json!("snapshot"), &json!([]))
    );
    let src = format!("{}?rate=400000&slow_from=100000", media.url("long.mkv"));
    let job = gs
        .start_job(
            json!({"source": src, "mode": "batch", "output": {"format": "mkv", "bitrate": "300k"}}),
        )
        .await;
    let id = job["job_id"].as_str().unwrap().to_string();
    // The analysis names what each stream is.
    let analysis: Value = serde_json::from_str(
        &until(&mut all, |t| t.contains("\"analysis\"") && t.contains(&id)).await,
    )
    .unwrap();
    let v = &analysis["data"]["streams"]["video"];
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(320), Some(180)),
        "{analysis}"
    );
    assert!(v["bitrate_kbps"].as_u64().unwrap() > 0);
    let a = &analysis["data"]["streams"]["audio"][0];
    // The test media's audio is a mono sine.
    assert_eq!(
        (a["channels"].as_u64(), a["sample_rate"].as_u64()),
        (Some(1), Some(48000))
    );
    // A new connection starts with the jobs running now; the conversion path sees only
    // its own job.
    let mut one = ws(&gs, &format!("/ws/conversion/{id}")).await;
    let snap: Value = serde_json::from_str(&text(&mut one, MIN).await.unwrap()).unwrap();
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(snap["data"]["jobs"][0]["job_id"], id.as_str(), "{snap}");
    assert!(
        snap["data"]["jobs"][0]["control_token"].is_null(),
        "a snapshot shows no token"
    );
    let other = gs
        .start_job(json!({"source": media.url("short.mkv"), "mode": "batch"}))
        .await;
    let ready: Value = serde_json::from_str(
        &until(&mut one, |t| {
            let v: Value = serde_json::from_str(t).unwrap();
            assert_ne!(
                v["job_id"], other["job_id"],
                "another job's event on /ws/conversion"
            );
            v["type"] == "status_change" && v["data"]["status"] == "ready"
        })
        .await,
    )
    .unwrap();
    // Ready says how big the output is, and its name.
    assert!(
        ready["data"]["output_size"].as_u64().unwrap() > 10_000,
        "{ready}"
    );
    assert_eq!(ready["data"]["output_file"], "output.mkv");
    // A failure carries a stable code next to its message.
    let bad = gs
        .start_job(json!({"source": media.url("nothing-here.mkv")}))
        .await;
    let failed: Value = serde_json::from_str(
        &until(&mut all, |t| {
            t.contains("\"error\"") && t.contains(bad["job_id"].as_str().unwrap())
        })
        .await,
    )
    .unwrap();
    assert_eq!(failed["data"]["error_code"], "probe-failed", "{failed}");
    let status = gs.status(&bad).await;
    assert_eq!(status["error_code"], "probe-failed");
    assert!(
        status["error_message"].as_str().unwrap().contains("404"),
        "{status}"
    );
}
