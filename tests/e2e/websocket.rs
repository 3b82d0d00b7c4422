//! WebSocket `/ws/progress`: shapes, filters, ping/pong, cadence.

use super::support::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A `/ws/progress` connection, past its first message (the snapshot of current jobs).
async fn connect(gs: &Gs) -> Ws {
    let mut ws = open(gs).await;
    let first = next_json(&mut ws, Duration::from_secs(5)).await.unwrap();
    assert_eq!(first["type"], "snapshot", "{first}");
    ws
}

async fn open(gs: &Gs) -> Ws {
    let url = format!("{}/ws/progress", gs.base.replace("http://", "ws://"));
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

async fn next_json(ws: &mut Ws, within: Duration) -> Option<Value> {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(&t).ok(),
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

/// Every message until a terminal status of `job`.
async fn collect_until_done(ws: &mut Ws, job: &str, within: Duration) -> Vec<(Instant, Value)> {
    let mut out = Vec::new();
    let t0 = Instant::now();
    while t0.elapsed() < within {
        let Some(v) = next_json(ws, within).await else {
            break;
        };
        let done = v["type"] == "status_change"
            && v["job_id"] == job
            && ["ready", "error", "cancelled"]
                .contains(&v["data"]["status"].as_str().unwrap_or(""));
        out.push((Instant::now(), v));
        if done {
            break;
        }
    }
    out
}

#[tokio::test]
async fn messages_have_the_contract_shapes_and_cadence() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let mut ws = connect(&gs).await;
    ws.send(Message::Text(json!({"type": "ping"}).to_string().into()))
        .await
        .unwrap();
    let pong = next_json(&mut ws, Duration::from_secs(5)).await.unwrap();
    assert_eq!(pong["type"], "pong");
    assert!(pong["ts"].is_number());
    ws.send(Message::Text(
        json!({"type": "identify", "client": "e2e-suite"})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    ws.send(Message::Text("not json at all".into()))
        .await
        .unwrap();
    ws.send(Message::Text(json!({"type": "mystery"}).to_string().into()))
        .await
        .unwrap();
    // A throttled source makes the job run a few seconds.
    let job = gs
        .start_job(json!({"source": format!("{}?rate=150000", media.url("long.mkv")), "output": {"bitrate": "300k"}}))
        .await;
    let id = job["job_id"].as_str().unwrap();
    let msgs = collect_until_done(&mut ws, id, Duration::from_secs(90)).await;
    let kinds: Vec<&str> = msgs
        .iter()
        .map(|(_, m)| m["type"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"analysis"), "{kinds:?}");
    let statuses: Vec<&str> = msgs
        .iter()
        .filter(|(_, m)| m["type"] == "status_change")
        .map(|(_, m)| m["data"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["queued", "processing", "ready"]);
    let analysis = &msgs
        .iter()
        .find(|(_, m)| m["type"] == "analysis")
        .unwrap()
        .1;
    assert_eq!(analysis["data"]["streams"]["video"]["action"], "transcode");
    assert_eq!(analysis["data"]["streams"]["audio"][0]["action"], "copy");
    let progress: Vec<&(Instant, Value)> = msgs
        .iter()
        .filter(|(_, m)| m["type"] == "progress")
        .collect();
    assert!(
        progress.len() >= 4,
        "only {} progress messages",
        progress.len()
    );
    let d = &progress[progress.len() / 2].1["data"];
    for k in [
        "progress",
        "frame",
        "fps",
        "time",
        "speed",
        "eta_seconds",
        "stage",
        "size",
        "bitrate",
    ] {
        assert!(d.get(k).is_some(), "progress lacks {k}: {d}");
    }
    assert_eq!(d["stage"], "transcoding");
    let times: Vec<f64> = progress
        .iter()
        .map(|(_, m)| m["data"]["time"].as_f64().unwrap())
        .collect();
    assert!(times.iter().all(|t| (0.0..=24.5).contains(t)), "{times:?}");
    // Cadence: ffmpeg reports every 0.5 s; count messages over the span they cover.
    let span = progress.last().unwrap().0 - progress[0].0;
    let rate = (progress.len() - 1) as f64 / span.as_secs_f64().max(0.001);
    assert!(
        rate >= 1.5,
        "{rate:.2} progress messages per second over {span:?}"
    );
    let (_, clients) = gs.get("/api/clients").await;
    assert!(
        clients
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["client"] == "e2e-suite" && c["transport"] == "ws"),
        "{clients}"
    );
}

#[tokio::test]
async fn subscriptions_filter_jobs() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let a = gs
        .start_job(
            json!({"source": media.url("short.mkv"), "mode": "batch", "output": {"format": "mkv"}}),
        )
        .await;
    let a_id = a["job_id"].as_str().unwrap().to_string();
    gs.wait_for(&a, &["ready"], Duration::from_secs(60)).await;
    let mut ws = connect(&gs).await;
    ws.send(Message::Text(
        json!({"type": "subscribe", "job_ids": [a_id]})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    ws.send(Message::Text(json!({"type": "ping"}).to_string().into()))
        .await
        .unwrap();
    assert_eq!(
        next_json(&mut ws, Duration::from_secs(5)).await.unwrap()["type"],
        "pong"
    );
    let b = gs
        .start_job(json!({"source": media.url("short.mkv"), "mode": "batch"}))
        .await;
    gs.wait_for(&b, &["ready"], Duration::from_secs(60)).await;
    ws.send(Message::Text(json!({"type": "ping"}).to_string().into()))
        .await
        .unwrap();
    // Nothing about b arrived before the pong.
    let v = next_json(&mut ws, Duration::from_secs(5)).await.unwrap();
    assert_eq!(v["type"], "pong", "unsubscribed job leaked: {v}");
    ws.send(Message::Text(
        json!({"type": "subscribe_all"}).to_string().into(),
    ))
    .await
    .unwrap();
    let c = gs.start_job(json!({"source": media.url("short.mkv"), "mode": "batch", "output": {"format": "webm"}})).await;
    let c_id = c["job_id"].as_str().unwrap();
    let msgs = collect_until_done(&mut ws, c_id, Duration::from_secs(60)).await;
    assert!(
        msgs.iter().any(|(_, m)| m["job_id"] == c_id),
        "subscribe_all brought nothing"
    );
}

#[tokio::test]
async fn server_pings_and_closes_after_missed_pongs() {
    // A short ping interval keeps the test fast; the default is 30 s.
    let gs = Gs::start(Opts::default().env("GHOSTSTREAM__SERVER__WS_PING_INTERVAL_MS", "200"));
    let mut ws = connect(&gs).await;
    let ping = next_json(&mut ws, Duration::from_secs(5)).await.unwrap();
    assert_eq!(ping["type"], "ping");
    assert!(ping["ts"].is_number());
    // Never answer: after three missed pongs the server closes.
    let t0 = Instant::now();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Text(_)))) => continue,
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => break,
            Ok(Some(Ok(_))) => continue,
            Err(_) => panic!("connection was not closed"),
        }
    }
    assert!(t0.elapsed() < Duration::from_secs(5));
    // Answering keeps it open.
    let mut ws = connect(&gs).await;
    for _ in 0..8 {
        let v = next_json(&mut ws, Duration::from_secs(5))
            .await
            .expect("closed while answering pongs");
        if v["type"] == "ping" {
            ws.send(Message::Text(json!({"type": "pong"}).to_string().into()))
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn connections_beyond_the_limit_are_refused_cleanly() {
    let gs = Gs::start(Opts::default().env("GHOSTSTREAM__SERVER__WS_MAX_CONNECTIONS", "2"));
    let mut a = connect(&gs).await;
    let _b = connect(&gs).await;
    // Both are counted before the third tries, so the third is the one refused.
    gs.wait_for_ws_clients(2, Duration::from_secs(10)).await;
    let mut c = open(&gs).await;
    match tokio::time::timeout(Duration::from_secs(5), c.next()).await {
        Ok(Some(Ok(Message::Close(Some(frame))))) => {
            assert_eq!(u16::from(frame.code), 1013);
            assert!(frame.reason.contains("too many connections"));
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    // The others are unaffected, and a slot frees when one leaves.
    a.send(Message::Text(json!({"type": "ping"}).to_string().into()))
        .await
        .unwrap();
    assert_eq!(
        next_json(&mut a, Duration::from_secs(5)).await.unwrap()["type"],
        "pong"
    );
    drop(a);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut d = connect(&gs).await;
    d.send(Message::Text(json!({"type": "ping"}).to_string().into()))
        .await
        .unwrap();
    assert_eq!(
        next_json(&mut d, Duration::from_secs(5)).await.unwrap()["type"],
        "pong"
    );
}
