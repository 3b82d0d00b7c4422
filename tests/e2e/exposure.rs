//! What a hostile web page on the LAN, a hostile media server and GhostHub's own calling
//! pattern found (issue 10): job lists that gave out tokens, ffmpeg led around the egress
//! rule by playlists and parser differentials, dashboard routes any page could call, the
//! pairing code given to anyone, unbounded resources, and the contract details GhostHub
//! trips on. Hostile servers run on 127.0.0.2 (allowed) and 127.0.0.3 (forbidden), with
//! `security.allowed_targets` set as a user with a media server on the same PC would.
//!
//! Longer than 500 lines: one test per finding, sharing the hostile servers above them.

use super::support::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MIN: Duration = Duration::from_secs(60);

/// A tiny HTTP server on `ip` that answers fixed bodies by path and records every path
/// requested from it.
struct Host {
    base: String,
    hits: Arc<Mutex<Vec<String>>>,
}

impl Host {
    fn start(ip: &str, files: HashMap<String, Vec<u8>>) -> Host {
        let l = TcpListener::bind((ip, 0)).unwrap();
        let base = format!("http://{}", l.local_addr().unwrap());
        let hits = Arc::new(Mutex::new(Vec::new()));
        let (h, files) = (hits.clone(), Arc::new(files));
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let (h, files) = (h.clone(), files.clone());
                std::thread::spawn(move || serve(s, &h, &files));
            }
        });
        Host { base, hits }
    }

    fn hits(&self) -> Vec<String> {
        self.hits.lock().unwrap().clone()
    }
}

fn serve(mut s: TcpStream, hits: &Mutex<Vec<String>>, files: &HashMap<String, Vec<u8>>) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut tmp) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let path = target.split('?').next().unwrap_or("/").to_string();
    hits.lock().unwrap().push(path.clone());
    let Some(body) = files.get(&path) else {
        let _ = s
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let range_from = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("range: bytes=")
                .map(str::to_string)
        })
        .and_then(|r| {
            r.split('-')
                .next()
                .and_then(|a| a.trim().parse::<usize>().ok())
        });
    let (status, part) = match range_from {
        Some(a) if a < body.len() => (
            format!(
                "206 Partial Content\r\nContent-Range: bytes {a}-{}/{}",
                body.len() - 1,
                body.len()
            ),
            &body[a..],
        ),
        _ => ("200 OK".to_string(), &body[..]),
    };
    let _ = s.write_all(
        format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n",
            part.len()
        )
        .as_bytes(),
    );
    let _ = s.write_all(part);
}

fn allowed_only_127_0_0_2() -> Opts {
    Opts::default().env(
        "GHOSTSTREAM__SECURITY__ALLOWED_TARGETS",
        "[\"127.0.0.2/32\"]",
    )
}

fn files(list: &[(&str, Vec<u8>)]) -> HashMap<String, Vec<u8>> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

#[tokio::test]
async fn lists_carry_no_token_stream_url_or_credential() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let addr = media.base.trim_start_matches("http://");
    let src = format!("http://viewer:hunter2@{addr}/short.mkv?api_key=sekrit");
    let job = gs.start_job(json!({"source": src})).await;
    let token = job["control_token"].as_str().unwrap().to_string();
    let gst = job["stream_url"]
        .as_str()
        .unwrap()
        .split("gst=")
        .nth(1)
        .unwrap()
        .to_string();
    for path in [
        "/api/transcode/jobs",
        "/api/streams/shared",
        "/api/transcode/jobs?limit=1",
    ] {
        let (code, v) = gs.get(path).await;
        assert_eq!(code, 200, "{path}: {v}");
        let text = v.to_string();
        for secret in ["hunter2", "sekrit", "viewer:", token.as_str(), gst.as_str()] {
            assert!(!text.contains(secret), "{path} gives out {secret}: {text}");
        }
    }
    let (_, list) = gs.get("/api/transcode/jobs").await;
    assert_eq!(list["total"], 1, "{list}");
    let item = &list["jobs"][0];
    assert_eq!(item["source"], format!("http://{addr}/short.mkv"), "{item}");
    assert!(
        item["control_token"].is_null() && item["stream_url"].is_null(),
        "{item}"
    );
    assert_eq!(item["job_id"], job["job_id"]);
    // The full record needs the token.
    let id = job["job_id"].as_str().unwrap();
    let (code, v) = gs.get(&format!("/api/transcode/{id}/status")).await;
    assert_eq!(code, 403, "{v}");
    let (code, v) = gs.get(&format!("/api/transcode/{id}/log")).await;
    assert_eq!(code, 403, "{v}");
    assert_eq!(gs.status(&job).await["source"], src);
    // Pages are bounded.
    assert_eq!(gs.get("/api/transcode/jobs?limit=0").await.0, 422);
    assert_eq!(gs.get("/api/transcode/jobs?limit=5000").await.0, 422);
    assert_eq!(
        gs.get("/api/transcode/jobs?offset=1").await.1["jobs"],
        json!([])
    );
}

#[tokio::test]
async fn playlists_cannot_lead_ffmpeg_to_a_forbidden_host() {
    let secret = Host::start(
        "127.0.0.3",
        files(&[
            (
                "/secret.vtt",
                b"WEBVTT\n\n00:00:00.000 --> 00:00:09.000\nSECRET-TEXT\n".to_vec(),
            ),
            (
                "/seg.ts",
                std::fs::read(media_dir().join("short.mkv")).unwrap(),
            ),
        ]),
    );
    let playlist = |target: &str| {
        format!("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:9,\n{}/{target}\n#EXT-X-ENDLIST\n", secret.base).into_bytes()
    };
    let allowed = Host::start(
        "127.0.0.2",
        files(&[
            (
                "/short.mkv",
                std::fs::read(media_dir().join("short.mkv")).unwrap(),
            ),
            ("/sub.m3u8", playlist("secret.vtt")),
            ("/list.m3u8", playlist("seg.ts")),
        ]),
    );
    for playlists_allowed in [false, true] {
        let gs = Gs::start(allowed_only_127_0_0_2().env(
            "GHOSTSTREAM__SECURITY__ALLOW_PLAYLIST_SOURCES",
            &playlists_allowed.to_string(),
        ));
        // A subtitle that is a playlist naming the forbidden host.
        let job = gs
            .start_job(json!({
                "source": format!("{}/short.mkv", allowed.base),
                "subtitles": [{"url": format!("{}/sub.m3u8", allowed.base), "language": "en"}],
            }))
            .await;
        gs.wait_for(&job, &["ready"], MIN).await;
        let (code, vtt) = gs.fetch(&stream_file_url(&job, "sub0.vtt")).await;
        assert_eq!(code, 200);
        let vtt = String::from_utf8_lossy(&vtt);
        assert!(
            !vtt.contains("SECRET"),
            "the forbidden host's body came back: {vtt}"
        );
        // Every connection ffmpeg makes goes through the egress proxy.
        assert!(gs.log(&job).await.contains("-http_proxy http://127.0.0.1:"));
        // A source that is a playlist: refused as a container, or its segment refused.
        let bad = gs
            .start_job(json!({"source": format!("{}/list.m3u8", allowed.base)}))
            .await;
        let done = gs.wait_for(&bad, &["error", "ready"], MIN).await;
        assert_eq!(done["status"], "error", "{done}");
        let why = done["error_message"].as_str().unwrap_or_default();
        if playlists_allowed {
            assert!(
                why.contains("source not allowed") && why.contains("loopback"),
                "{why}"
            );
        } else {
            assert!(why.contains("allow_playlist_sources"), "{why}");
        }
    }
    assert!(
        secret.hits().is_empty(),
        "the forbidden host was reached: {:?}",
        secret.hits()
    );
}

#[tokio::test]
async fn urls_that_parsers_read_differently_and_names_that_do_not_resolve_are_refused() {
    let allowed = Host::start("127.0.0.2", files(&[]));
    let forbidden = Host::start("127.0.0.3", files(&[]));
    let gs = Gs::start(allowed_only_127_0_0_2());
    let a = allowed.base.trim_start_matches("http://");
    let f = forbidden.base.trim_start_matches("http://");
    for src in [
        format!("http://{a}\\@{f}/x.mkv"),
        format!("http://{a}\\\\@{f}/x.mkv"),
        format!("http://x@{a}@{f}/x.mkv"),
        "http://no-such-host.invalid/x.mkv".to_string(),
        format!("http://{a}/{}", "a".repeat(5000)),
    ] {
        let (code, v) = gs
            .post("/api/transcode/start", json!({"source": src}))
            .await;
        assert_eq!(code, 422, "{src}: {v}");
        assert_eq!(v["detail"][0]["type"], "source-not-allowed", "{src}: {v}");
    }
    assert!(forbidden.hits().is_empty() && allowed.hits().is_empty());
    assert_eq!(gs.get("/api/transcode/jobs").await.1["total"], 0);
}

#[tokio::test]
async fn a_web_page_cannot_change_the_server() {
    let gs = Gs::start(Opts::default());
    let host = gs.base.trim_start_matches("http://").to_string();
    let settings = gs.get("/api/settings").await.1;
    let mut open = settings.clone();
    open["job_tokens"] = json!("open");
    open["allowed_targets"] = json!(["0.0.0.0/0"]);
    let body = open.to_string();
    let evil = [
        vec![("Origin", "http://evil.example")],
        vec![("Origin", "null")],
        vec![("Sec-Fetch-Site", "cross-site")],
        vec![("Host", "rebound.evil.example")],
    ];
    for headers in &evil {
        for (m, path, b) in [
            (reqwest::Method::PUT, "/api/settings", Some(body.clone())),
            (reqwest::Method::POST, "/api/server/pause", None),
            (reqwest::Method::POST, "/api/rendezvous/rotate", None),
            (reqwest::Method::POST, "/api/announce-now", None),
            (
                reqwest::Method::POST,
                "/api/pair/ghosthub",
                Some(json!({"ghosthub_url": "http://127.0.0.9:1"}).to_string()),
            ),
        ] {
            let (code, v) = gs.req(m.clone(), path, b, headers).await;
            assert_eq!(code, 403, "{m} {path} with {headers:?}: {v}");
            assert!(
                ["origin-not-allowed", "host-not-allowed"]
                    .contains(&v["code"].as_str().unwrap_or("")),
                "{v}"
            );
        }
    }
    assert_eq!(gs.get("/api/server").await.1["state"], "running");
    assert_eq!(gs.get("/api/settings").await.1, settings);
    // The dashboard, same-origin, keeps working.
    let origin = format!("http://{host}");
    let own = [
        ("Origin", origin.as_str()),
        ("Sec-Fetch-Site", "same-origin"),
    ];
    let (code, v) = gs
        .req(reqwest::Method::POST, "/api/server/pause", None, &own)
        .await;
    assert_eq!((code, v["state"].as_str()), (200, Some("paused")), "{v}");
    let (code, _) = gs
        .req(reqwest::Method::POST, "/api/server/resume", None, &own)
        .await;
    assert_eq!(code, 200);
    // A localhost name is ours too.
    let port = host.rsplit(':').next().unwrap();
    let local = format!("localhost:{port}");
    let (code, v) = gs
        .req(
            reqwest::Method::POST,
            "/api/server/resume",
            None,
            &[("Host", local.as_str())],
        )
        .await;
    assert_eq!(code, 200, "{v}");
}

#[tokio::test]
async fn the_pairing_code_stays_home_and_the_hub_url_is_vetted() {
    let gs = Gs::start(allowed_only_127_0_0_2());
    // The owner's dashboard sees the code; a page elsewhere does not.
    let (_, mine) = gs.get("/api/rendezvous").await;
    assert_eq!(mine["code"].as_str().unwrap().len(), 6, "{mine}");
    let (_, theirs) = gs
        .req(
            reqwest::Method::GET,
            "/api/rendezvous",
            None,
            &[("Origin", "http://evil.example")],
        )
        .await;
    assert_eq!(theirs["code"], "", "{theirs}");
    assert!(!theirs.to_string().contains(mine["code"].as_str().unwrap()));
    // A hub on a forbidden address is refused with the reason, and never contacted.
    let forbidden = Host::start("127.0.0.3", files(&[]));
    let (code, v) = gs
        .post(
            "/api/pair/ghosthub",
            json!({"ghosthub_url": forbidden.base}),
        )
        .await;
    assert_eq!(code, 422, "{v}");
    assert!(v.to_string().contains("loopback"), "{v}");
    let (code, v) = gs
        .post(
            "/api/pair/ghosthub",
            json!({"ghosthub_url": "http://no-such-hub.invalid:5000"}),
        )
        .await;
    assert_eq!(code, 422, "{v}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(forbidden.hits().is_empty());
    assert!(!std::fs::read_to_string(gs.state.join("ghoststream.toml"))
        .unwrap_or_default()
        .contains("127.0.0.3"));
}

#[tokio::test]
async fn one_client_cannot_make_the_server_hold_unbounded_resources() {
    let media = MediaServer::start();
    let gs = Gs::start(
        Opts::default()
            .env("GHOSTSTREAM__TRANSCODING__MAX_HISTORY_JOBS", "4")
            .env("GHOSTSTREAM__SERVER__BODY_READ_TIMEOUT_MS", "1500"),
    );
    // Too many subtitle tracks, and a source URL of a megabyte.
    let subs: Vec<Value> = (0..9)
        .map(|i| json!({"url": media.url(&format!("s{i}.vtt"))}))
        .collect();
    let (code, v) = gs
        .post(
            "/api/transcode/start",
            json!({"source": media.url("short.mkv"), "subtitles": subs}),
        )
        .await;
    assert_eq!(code, 422, "{v}");
    let (code, _) = gs
        .post(
            "/api/transcode/start",
            json!({"source": format!("{}/{}", media.base, "x".repeat(900_000))}),
        )
        .await;
    assert!(code == 413 || code == 422, "{code}");
    // Failed starts are history, and history is bounded.
    for i in 0..10 {
        let (code, v) = gs
            .post(
                "/api/transcode/start",
                json!({"source": media.url(&format!("missing{i}.mkv"))}),
            )
            .await;
        assert_eq!(code, 200, "{v}");
    }
    let (_, list) = gs.get("/api/transcode/jobs").await;
    assert_eq!(list["total"], 4, "{list}");
    // A body trickled a byte at a time is cut off; the connection does not stay held.
    let addr = gs.base.trim_start_matches("http://").to_string();
    let trickle = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(format!("POST /api/transcode/start HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n").as_bytes()).unwrap();
        let t0 = Instant::now();
        let mut sent = 0;
        while sent < 200 && t0.elapsed() < Duration::from_secs(20) {
            if s.write_all(b" ").is_err() {
                break;
            }
            sent += 1;
            std::thread::sleep(Duration::from_millis(500));
            s.set_nonblocking(true).unwrap();
            let mut b = [0u8; 64];
            let got = s.read(&mut b).map(|n| n > 0).unwrap_or(false);
            s.set_nonblocking(false).unwrap();
            if got {
                return (sent, String::from_utf8_lossy(&b).to_string());
            }
        }
        (sent, String::new())
    })
    .await
    .unwrap();
    assert!(trickle.1.starts_with("HTTP/1.1 408"), "{trickle:?}");
    assert!(
        trickle.0 < 200,
        "the whole trickled body was read: {trickle:?}"
    );
    // An oversized body announced with Expect: 100-continue is refused before it is sent.
    let addr = gs.base.trim_start_matches("http://").to_string();
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(format!("POST /api/transcode/start HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\nExpect: 100-continue\r\n\r\n").as_bytes()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut b = Vec::new();
        let _ = s.read_to_end(&mut b);
        String::from_utf8_lossy(&b).to_string()
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("body-too-large"), "{answer}");
    // A source whose frames are larger than the limit fails clearly.
    let small =
        Gs::start(Opts::default().env("GHOSTSTREAM__TRANSCODING__MAX_SOURCE_PIXELS", "1000"));
    let job = small
        .start_job(json!({"source": media.url("short.mkv")}))
        .await;
    let done = small.wait_for(&job, &["error"], MIN).await;
    assert!(
        done["error_message"]
            .as_str()
            .unwrap()
            .contains("max_source_pixels"),
        "{done}"
    );
    // A batch run is bounded by the source's announced length.
    let batch = gs
        .start_job(json!({"source": media.url("short.mkv"), "mode": "batch"}))
        .await;
    gs.wait_for(&batch, &["ready"], MIN).await;
    assert!(
        gs.log(&batch).await.contains(" -t "),
        "no length bound on the batch run"
    );
    assert_eq!(gs.get("/api/health").await.0, 200);
}

#[tokio::test]
async fn a_websocket_client_cannot_grow_its_memory_on_the_server() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let gs = Gs::start(Opts::default());
    let url = gs.base.replace("http://", "ws://") + "/ws/progress";
    // A message of 10,000 ids is not parsed: the connection closes.
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let ids: Vec<String> = (0..10_000).map(|i| format!("{i:036}")).collect();
    let _ = ws
        .send(Message::Text(
            json!({"type": "subscribe", "job_ids": ids})
                .to_string()
                .into(),
        ))
        .await;
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .unwrap_or(false);
    assert!(closed, "an oversized message did not close the connection");
    // Pings from a client that does not read: its queue stays bounded.
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    for _ in 0..3000 {
        ws.send(Message::Text(r#"{"type":"ping"}"#.into()))
            .await
            .unwrap();
    }
    let mut pongs = 0;
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(2), ws.next()).await {
        if m.to_text().unwrap_or("").contains("pong") {
            pongs += 1;
        }
    }
    assert!(pongs > 0, "no pong at all");
    assert_eq!(gs.get("/api/health").await.0, 200);
}

#[tokio::test]
async fn a_viewer_leaving_a_finished_stream_is_answered_200() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    // A remux is ready in about a second; GhostHub cancels it when the viewer leaves.
    let job = gs
        .start_job(json!({"source": media.url("short.mkv"), "session_id": "tv"}))
        .await;
    gs.wait_for(&job, &["ready"], MIN).await;
    let (code, v) = gs.control(reqwest::Method::POST, &job, "/cancel").await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["status"], "cancelled");
    // Its outputs stay for whoever still plays them.
    assert_eq!(gs.status(&job).await["status"], "ready");
    let (code, _) = gs.fetch(job["stream_url"].as_str().unwrap()).await;
    assert_eq!(code, 200);
    // Batch keeps its answer.
    let batch = gs
        .start_job(json!({"source": media.url("short.mkv"), "mode": "batch"}))
        .await;
    gs.wait_for(&batch, &["ready"], MIN).await;
    let (code, v) = gs.control(reqwest::Method::POST, &batch, "/cancel").await;
    assert_eq!(
        (code, v["code"].as_str()),
        (400, Some("job-not-cancellable")),
        "{v}"
    );
}

#[tokio::test]
async fn a_seek_starts_its_own_job_and_a_session_is_counted_once() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let src = media.url("long.mkv?rate=200000");
    let body = |t: f64, s: &str| json!({"source": src, "resolution": "480p", "start_time": t, "session_id": s});
    let first = gs.start_job(body(0.0, "a")).await;
    let same_place = gs.start_job(body(1.0, "b")).await;
    assert_eq!(same_place["job_id"], first["job_id"]);
    assert_eq!(same_place["viewer_count"], 2);
    let seek = gs.start_job(body(12.0, "c")).await;
    assert_ne!(
        seek["job_id"], first["job_id"],
        "a seek joined the job at 0 s"
    );
    assert_eq!(seek["start_time"], 12.0);
    // The same session asking again is not a second viewer.
    let again = gs.start_job(body(0.0, "a")).await;
    assert_eq!(again["job_id"], first["job_id"]);
    assert_eq!(again["viewer_count"], 2, "{again}");
    for j in [&first, &seek] {
        gs.control(reqwest::Method::DELETE, j, "").await;
    }
}

#[tokio::test]
async fn registration_repeats_every_minute_and_at_once_when_the_hub_probes_health() {
    let hub = MediaServer::start();
    let gs = Gs::start(Opts::default().env("GHOSTSTREAM__DISCOVERY__GHOSTHUB_URL", &hub.base));
    let registered = |n: usize| {
        hub.posts()
            .iter()
            .filter(|(p, _)| p == "/api/ghoststream/servers/register")
            .count()
            >= n
    };
    assert!(eventually(Duration::from_secs(20), || registered(1)).await);
    // The hub (here on 127.0.0.1, where this client is too) restarted and probes us.
    let before = hub.posts().len();
    assert_eq!(gs.get("/api/health").await.0, 200);
    assert!(
        eventually(Duration::from_secs(10), || hub.posts().len() > before).await,
        "a health probe from the hub did not register us again"
    );
    let example = std::process::Command::new(env!("CARGO_BIN_EXE_ghoststream"))
        .args(["config", "--example"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&example.stdout).contains("register_interval = 60 "));
}

#[tokio::test]
async fn small_contract_details_match_the_published_server() {
    let gs = Gs::start(Opts::default());
    let (code, v) = gs
        .req(
            reqwest::Method::POST,
            "/api/transcode/start",
            Some("{\"source\": ".into()),
            &[],
        )
        .await;
    assert_eq!(
        (code, v["code"].as_str()),
        (400, Some("malformed-json")),
        "{v}"
    );
    let (code, v) = gs.post("/api/transcode/start", json!({"source": 5})).await;
    assert_eq!(
        (code, v["code"].as_str()),
        (422, Some("invalid-request")),
        "{v}"
    );
    let (_, stats) = gs.get("/api/cleanup/stats").await;
    assert_eq!(stats["cleaned_jobs"], 0, "{stats}");
    let url = gs.base.replace("http://", "ws://") + "/ws/progress";
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        r#"{"type":"identify","client":"ghosthub"}"#.into(),
    ))
    .await
    .unwrap();
    let mut seen = Value::Null;
    let ok = eventually(Duration::from_secs(5), || {
        seen = futures_executor_get(&gs, "/api/clients");
        seen.as_array().is_some_and(|a| {
            a.iter()
                .any(|c| c["client"] == "ghosthub" && c["transport"] == "ws")
        })
    })
    .await;
    assert!(ok, "{seen}");
}

/// A blocking GET for use inside `eventually`'s synchronous condition.
fn futures_executor_get(gs: &Gs, path: &str) -> Value {
    let url = format!("{}{path}", gs.base);
    std::thread::spawn(move || {
        let mut s =
            TcpStream::connect(url.trim_start_matches("http://").split('/').next().unwrap())
                .unwrap();
        let host = url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let p = format!(
            "/{}",
            url.trim_start_matches("http://").split_once('/').unwrap().1
        );
        s.write_all(
            format!("GET {p} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.split_once("\r\n\r\n")
            .and_then(|(_, b)| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null)
    })
    .join()
    .unwrap_or(Value::Null)
}

/// GhostHub's own pattern through the published SDK and its slot counting: five films,
/// each a remux that is ready at once, each cancelled when the viewer leaves.
#[tokio::test]
async fn ghosthubs_play_leave_play_pattern_never_runs_out_of_slots() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let server = gs.base.trim_start_matches("http://").to_string();
    let stdout = run_sdk_script("ghosthub_pattern.py", vec![server, media.url("short.mkv")]).await;
    assert!(stdout.contains("ok play 5"), "{stdout}");
}

/// Four sources that trickle a few bytes a second, all on one host, hold only that host's
/// share of the probe slots: a start from another host is answered while they still wait.
#[tokio::test]
async fn one_slow_host_cannot_hold_every_probe_slot() {
    let media = MediaServer::start();
    let other = Host::start(
        "127.0.0.2",
        files(&[(
            "/short.mkv",
            std::fs::read(media_dir().join("short.mkv")).unwrap(),
        )]),
    );
    let gs = Arc::new(Gs::start(
        Opts::default().env("GHOSTSTREAM__TRANSCODING__PROBE_TIMEOUT", "8"),
    ));
    let slow: Vec<_> = (0..4)
        .map(|i| {
            let (gs, src) = (gs.clone(), media.url(&format!("long.mkv?rate=5&n={i}")));
            tokio::spawn(async move {
                gs.post("/api/transcode/start", json!({"source": src}))
                    .await
            })
        })
        .collect();
    // Wait until the slow ones are probing.
    assert!(eventually(Duration::from_secs(10), || gs.children().len() >= 2).await);
    let (code, v) = gs
        .post(
            "/api/transcode/start",
            json!({"source": format!("{}/short.mkv", other.base)}),
        )
        .await;
    assert_eq!(code, 200, "{v}");
    let waiting = slow.iter().filter(|h| !h.is_finished()).count();
    assert_eq!(
        waiting, 4,
        "the start from another host waited for the slow host's probes"
    );
    for h in slow {
        let (code, v) = h.await.unwrap();
        assert!(code == 200 || code == 422, "{code} {v}");
    }
}
