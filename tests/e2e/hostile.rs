//! Hostile input: where sources may point (loopback, link-local, our own API, redirects,
//! callbacks), header floods, slow-loris clients and bytes that are not UTF-8. Every
//! refusal is a 4xx JSON answer with a code, and the server stays healthy.

use super::support::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const MIN: Duration = Duration::from_secs(60);

/// A server with the default egress rules (the harness allows loopback for its media).
fn strict() -> Gs {
    Gs::start(Opts::default().env("GHOSTSTREAM__SECURITY__ALLOWED_TARGETS", "[]"))
}

async fn refused(gs: &Gs, body: Value, loc: &[&str]) -> String {
    let (code, v) = gs.post("/api/transcode/start", body.clone()).await;
    assert_eq!(code, 422, "{body}: {v}");
    assert_eq!(v["code"], "invalid-request", "{body}: {v}");
    assert_eq!(v["detail"][0]["type"], "source-not-allowed", "{body}: {v}");
    let want: Vec<Value> = std::iter::once("body")
        .chain(loc.iter().copied())
        .map(Value::from)
        .collect();
    assert_eq!(v["detail"][0]["loc"], Value::Array(want), "{body}: {v}");
    v["detail"][0]["msg"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn sources_subtitles_and_callbacks_may_not_reach_loopback_or_link_local() {
    let media = MediaServer::start();
    let gs = strict();
    let port = media.base.rsplit(':').next().unwrap().to_string();
    for src in [
        media.url("short.mkv"),
        format!("http://localhost:{port}/short.mkv"),
        format!("http://[::1]:{port}/short.mkv"),
        format!("http://[::ffff:127.0.0.1]:{port}/short.mkv"),
        format!("http://127.1.2.3:{port}/short.mkv"),
        format!("http://0.0.0.0:{port}/short.mkv"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://[fe80::1]/x.mkv".to_string(),
        "http://224.0.0.251/x.mkv".to_string(),
    ] {
        let msg = refused(&gs, json!({"source": src}), &["source"]).await;
        assert!(msg.contains("security.allowed_targets"), "{src}: {msg}");
        // The probe route keeps the same rule.
        let (code, v) = gs.post("/api/probe", json!({"source": src})).await;
        assert_eq!(code, 422, "{src}: {v}");
    }
    refused(
        &gs,
        json!({"source": "http://192.0.2.1/x.mkv", "subtitles": [{"url": media.url("en.vtt")}]}),
        &["subtitles", "0", "url"],
    )
    .await;
    refused(
        &gs,
        json!({"source": "http://192.0.2.1/x.mkv", "callback_url": media.url("cb")}),
        &["callback_url"],
    )
    .await;
    // Nothing was fetched, nothing was created, and the server is fine.
    assert_eq!(media.gets(), 0);
    assert_eq!(gs.get("/api/transcode/jobs").await.1["jobs"], json!([]));
    assert_eq!(gs.get("/api/health").await.0, 200);
}

#[tokio::test]
async fn our_own_api_is_never_a_source_even_when_loopback_is_allowed() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let port = gs.base.rsplit(':').next().unwrap().to_string();
    for src in [
        format!("{}/api/health", gs.base),
        format!("http://localhost:{port}/stream/x/master.m3u8"),
        // A redirect that leads back to us.
        format!(
            "{}?to={}/api/transcode/jobs",
            media.url("redirect"),
            gs.base
        ),
    ] {
        let msg = refused(&gs, json!({"source": src}), &["source"]).await;
        assert!(msg.contains("own API"), "{src}: {msg}");
    }
    refused(
        &gs,
        json!({"source": media.url("short.mkv"), "callback_url": format!("{}/api/transcode/start", gs.base)}),
        &["callback_url"],
    )
    .await;
    assert_eq!(gs.get("/api/transcode/jobs").await.1["jobs"], json!([]));
}

#[tokio::test]
async fn redirects_are_followed_only_to_allowed_places() {
    let media = MediaServer::start();
    // Loopback allowed (the media server), link-local not.
    let gs = Gs::start(Opts::default());
    for (to, why) in [
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("file:///etc/passwd", "not an http(s) URL"),
        ("concat:/etc/passwd", "not an http(s) URL"),
    ] {
        let src = format!("{}?to={to}", media.url("redirect"));
        let msg = refused(&gs, json!({"source": src}), &["source"]).await;
        assert!(msg.contains(why), "{to}: {msg}");
    }
    // A redirect loop ends.
    let looped = format!(
        "{}?to={}?to={}",
        media.url("redirect"),
        media.url("redirect"),
        media.url("redirect")
    );
    let (code, v) = gs
        .post("/api/transcode/start", json!({"source": looped}))
        .await;
    assert!((400..500).contains(&code) || v["status"] == "error", "{v}");
    // A redirect to an allowed place works, and ffmpeg reads the final URL.
    let src = format!("{}?to={}", media.url("redirect"), media.url("short.mkv"));
    let job = gs
        .start_job(json!({"source": src, "mode": "batch", "output": {"format": "mkv"}}))
        .await;
    let done = gs.wait_for(&job, &["ready", "error"], MIN).await;
    assert_eq!(done["status"], "ready", "{done}");
    let log = gs.log(&job).await;
    let cmd = log.lines().find(|l| l.starts_with("$ ffmpeg")).unwrap();
    assert!(cmd.contains("-max_redirects 0"), "{cmd}");
    assert!(cmd.contains(&media.url("short.mkv")), "{cmd}");
    assert!(!cmd.contains("/redirect"), "{cmd}");
}

/// Sends `head` on a fresh connection and returns what came back before the server
/// closed it (or `within` passed), and how long that took.
fn exchange(base: &str, head: &[u8], within: Duration) -> (String, Duration) {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(within)).unwrap();
    let t0 = Instant::now();
    let _ = s.write_all(head);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    (String::from_utf8_lossy(&out).to_string(), t0.elapsed())
}

#[tokio::test]
async fn huge_headers_get_431_and_slow_clients_are_cut() {
    let gs = Gs::start(
        Opts::default()
            .env("GHOSTSTREAM__SERVER__HEADER_READ_TIMEOUT_MS", "1500")
            .env("GHOSTSTREAM__SERVER__MAX_CONNECTIONS", "64"),
    );
    let base = gs.base.clone();
    // One 100 KiB header value; 5000 small headers.
    let big = format!(
        "GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let many = format!(
        "GET /api/health HTTP/1.1\r\nHost: x\r\n{}Connection: close\r\n\r\n",
        (0..5000)
            .map(|i| format!("X-H{i}: v\r\n"))
            .collect::<String>()
    );
    for head in [big, many] {
        let (answer, _) = exchange(&base, head.as_bytes(), Duration::from_secs(10));
        assert!(answer.starts_with("HTTP/1.1 431"), "{answer:.200}");
    }
    // A client that never finishes its header is cut after the header timeout.
    let (answer, took) = exchange(
        &base,
        b"GET /api/health HTTP/1.1\r\nHost: x\r\n",
        Duration::from_secs(20),
    );
    assert!(
        took < Duration::from_secs(10),
        "held for {took:?}: {answer}"
    );
    // A slow-loris crowd larger than the connection limit: the server still answers
    // once the crowd is cut.
    let crowd: Vec<TcpStream> = (0..200)
        .filter_map(|_| {
            let mut s = TcpStream::connect(base.trim_start_matches("http://")).ok()?;
            s.write_all(b"GET /api/health HTTP/1.1\r\nHo").ok()?;
            Some(s)
        })
        .collect();
    assert!(crowd.len() >= 64);
    let t0 = Instant::now();
    let (answer, _) = exchange(
        &base,
        b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(30),
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:.200}");
    assert!(t0.elapsed() < Duration::from_secs(25));
    drop(crowd);
    assert_eq!(gs.get("/api/health").await.0, 200);
}

#[tokio::test]
async fn bytes_that_are_not_utf8_get_4xx_json() {
    let gs = Gs::start(Opts::default());
    let job = uuid::Uuid::new_v4();
    for path in [
        format!("/stream/{job}/%FF%FE.m3u8"),
        format!("/stream/{job}/seg%C3%28.ts"),
        "/api/transcode/%FF/status".to_string(),
        "/download/%C0%AF".to_string(),
    ] {
        let (code, body) = raw_http(&gs.base, "GET", &path, "");
        assert!((400..500).contains(&code), "{path}: {body}");
        assert!(body.contains("\"code\""), "{path}: {body}");
    }
    // Raw non-UTF-8 bytes in the request line.
    let (answer, _) = exchange(
        &gs.base,
        b"GET /stream/\xff\xfe/master.m3u8 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    );
    let code: u16 = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    assert!((400..500).contains(&code), "{answer:.300}");
    // A JSON body with a lone surrogate (not a Unicode scalar), and one with raw 0xFF.
    let (code, v) = raw_http(
        &gs.base,
        "POST",
        "/api/transcode/start",
        "{\"source\": \"http://192.0.2.1/\\udcff.mkv\"}",
    );
    assert!((400..500).contains(&code), "{v}");
    let body = b"{\"source\": \"http://192.0.2.1/\xff.mkv\"}";
    let mut req = format!(
        "POST /api/transcode/start HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    let (answer, _) = exchange(&gs.base, &req, Duration::from_secs(10));
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer:.300}");
    assert!(answer.contains("\"code\""), "{answer:.300}");
    // 10 000 subtitle tracks: refused by count, cheaply.
    let subs: Vec<Value> = (0..10_000)
        .map(|i| json!({"url": format!("http://192.0.2.1/{i}.vtt")}))
        .collect();
    let (code, v) = gs
        .post(
            "/api/transcode/start",
            json!({"source": "http://192.0.2.1/x.mkv", "subtitles": subs}),
        )
        .await;
    assert_eq!(code, 422, "{v}");
    assert_eq!(gs.get("/api/health").await.0, 200);
}

#[tokio::test]
async fn allowed_targets_change_from_the_settings_without_a_restart() {
    let media = MediaServer::start();
    let gs = strict();
    let src =
        json!({"source": media.url("short.mkv"), "mode": "batch", "output": {"format": "mkv"}});
    refused(&gs, src.clone(), &["source"]).await;
    let (_, mut settings) = gs.get("/api/settings").await;
    assert_eq!(settings["allowed_targets"], json!([]));
    settings["allowed_targets"] = json!(["127.0.0.1"]);
    let (code, saved) = gs.put("/api/settings", settings.clone()).await;
    assert_eq!(code, 200, "{saved}");
    assert!(
        saved["applied_now"].to_string().contains("allowed_targets"),
        "{saved}"
    );
    let job = gs.start_job(src.clone()).await;
    assert_eq!(
        gs.wait_for(&job, &["ready", "error"], MIN).await["status"],
        "ready"
    );
    // Taken back: refused again at once, though the source was vetted and cached.
    settings["allowed_targets"] = json!([]);
    let (code, _) = gs.put("/api/settings", settings.clone()).await;
    assert_eq!(code, 200);
    refused(&gs, json!({"source": media.url("short.mkv")}), &["source"]).await;
    // Not an address: refused with the field named.
    settings["allowed_targets"] = json!(["pi.local"]);
    let (code, v) = gs.put("/api/settings", settings.clone()).await;
    assert_eq!(code, 422, "{v}");
}
