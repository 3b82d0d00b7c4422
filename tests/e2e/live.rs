//! Live ingest: real publishers (ffmpeg over RTMP and SRT, GStreamer's rtmp2sink, an RTMP
//! client session from `rml_rtmp`) into the real server, real players (hls.js and dash.js
//! in Chromium) on the live stream and on the recording it leaves.

use super::support::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

const MIN: Duration = Duration::from_secs(60);

/// A server with short live timers, so tests do not wait for the defaults.
fn live_server(opts: Opts) -> Gs {
    Gs::start(
        opts.env("GHOSTSTREAM__LIVE__RECONNECT_GRACE_SECONDS", "3")
            .env("GHOSTSTREAM__LIVE__HANDSHAKE_TIMEOUT_SECONDS", "2")
            .env("GHOSTSTREAM__LIVE__IDLE_TIMEOUT_SECONDS", "4")
            .env("GHOSTSTREAM__LIVE__MIN_FREE_BYTES", "1048576"),
    )
}

async fn ingest(gs: &Gs) -> Value {
    let (code, v) = gs.get("/api/ingest").await;
    assert_eq!(code, 200, "{v}");
    v
}

async fn new_key(gs: &Gs, key: &str, name: &str) {
    let (code, v) = gs
        .post("/api/ingest/keys", json!({"key": key, "name": name}))
        .await;
    assert_eq!(code, 201, "{v}");
}

async fn rtmp_port(gs: &Gs) -> u16 {
    ingest(gs).await["rtmp_port"].as_u64().expect("RTMP bound") as u16
}

/// The stream on `key`, newest session first.
async fn stream(gs: &Gs, key: &str) -> Option<Value> {
    ingest(gs).await["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == key)
        .cloned()
}

/// Polls `/api/ingest` until the stream on `key` satisfies `cond`.
async fn wait_stream(gs: &Gs, key: &str, within: Duration, cond: impl Fn(&Value) -> bool) -> Value {
    let t0 = Instant::now();
    loop {
        if let Some(s) = stream(gs, key).await {
            if cond(&s) {
                return s;
            }
            if t0.elapsed() > within {
                panic!("stream {key} never got there: {s}");
            }
        } else if t0.elapsed() > within {
            panic!("no stream on {key}: {}", ingest(gs).await);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn segments(s: &Value) -> u64 {
    s["renditions"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|r| r["segments"].as_u64().unwrap_or(0))
                .min()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

/// ffmpeg publishing lavfi test media (`secs` long, in real time) to `url` as `format`.
fn ffmpeg_publisher(url: &str, size: &str, secs: u32, format: &str, extra: &[&str]) -> Child {
    let mut c = Command::new("ffmpeg");
    c.args(["-hide_banner", "-loglevel", "error", "-re"])
        .args([
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size={size}:rate=30"),
        ])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", &secs.to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-g",
            "30",
        ])
        .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k"])
        .args(extra)
        .args(["-f", format, url])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    c.spawn().expect("ffmpeg publisher")
}

fn rtmp(port: u16, key: &str, size: &str, secs: u32) -> Child {
    ffmpeg_publisher(
        &format!("rtmp://127.0.0.1:{port}/live/{key}"),
        size,
        secs,
        "flv",
        &[],
    )
}

async fn stderr_of(mut c: Child) -> (bool, String) {
    let status = tokio::time::timeout(MIN, c.wait())
        .await
        .expect("publisher ends")
        .unwrap();
    let mut err = String::new();
    if let Some(mut e) = c.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = e.read_to_string(&mut err).await;
    }
    (status.success(), err)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Players against a live stream (phase `live`) or its recording (`vod`): hls.js and
/// dash.js in Chromium, from a page the media server serves.
async fn play(media: &MediaServer, gs: &Gs, key: &str, phase: &str) {
    let root = repo_root();
    let dir = media_dir();
    for (from, to) in [
        ("tests/node_modules/hls.js/dist/hls.min.js", "hls.min.js"),
        (
            "tests/node_modules/dashjs/dist/modern/umd/dash.all.min.js",
            "dash.all.min.js",
        ),
        ("tests/browser/live_player.html", "live_player.html"),
    ] {
        let src = root.join(from);
        assert!(
            src.exists(),
            "{} is missing: run scripts/setup.sh --test",
            src.display()
        );
        std::fs::copy(&src, dir.join(to)).unwrap();
    }
    let out = run_node(
        "tests/browser/live_play.mjs",
        vec![
            media.url("live_player.html"),
            format!("{}/streams/{key}/master.m3u8", gs.base),
            format!("{}/streams/{key}/dash/manifest.mpd", gs.base),
            phase.into(),
        ],
        vec![],
    )
    .await;
    assert!(out.contains("ok hls") && out.contains("ok dash"), "{out}");
}

#[tokio::test]
async fn an_rtmp_stream_plays_live_then_as_a_recording_in_hlsjs_and_dashjs() {
    let media = MediaServer::start();
    let gs = live_server(Opts::default());
    new_key(&gs, "obs_key-1", "Living room").await;
    let port = rtmp_port(&gs).await;
    // 854x480: two encoded rungs, one of them (640x360) not the input's exact shape.
    let publisher = rtmp(port, "obs_key-1", "854x480", 14);
    let s = wait_stream(&gs, "obs_key-1", MIN, |s| {
        s["status"] == "active" && segments(s) >= 2
    })
    .await;
    // The ladder never goes above the input: the publisher's own H.264, 480p and 360p.
    let names: Vec<&str> = s["renditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["source", "480p", "360p"], "{s}");
    assert_eq!(s["input"]["height"], 480);
    assert_eq!(s["input"]["video_codec"], "h264");
    assert_eq!(s["input"]["audio_codec"], "aac");
    assert_eq!(s["protocol"], "rtmp");
    assert!(
        s["publisher"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{s}"
    );
    assert_eq!(s["encoder"], "libx264");
    // Live playlists: CMAF (an init segment), a sliding window, no end.
    let (code, master) = gs
        .fetch(&format!("{}/streams/obs_key-1/master.m3u8", gs.base))
        .await;
    assert_eq!(code, 200);
    let master = text(&master);
    assert!(
        master.contains("avc1.") && master.contains("mp4a.40.2"),
        "{master}"
    );
    let (_, media0) = gs
        .fetch(&format!("{}/streams/obs_key-1/media_1.m3u8", gs.base))
        .await;
    let media0 = text(&media0);
    assert!(media0.contains("#EXT-X-MAP:URI=\"init-1.m4s\""), "{media0}");
    assert!(!media0.contains("#EXT-X-ENDLIST"), "{media0}");
    let (_, mpd) = gs
        .fetch(&format!("{}/streams/obs_key-1/dash/manifest.mpd", gs.base))
        .await;
    assert!(text(&mpd).contains("type=\"dynamic\""));
    // The live stream plays in both players while the publisher sends.
    play(&media, &gs, "obs_key-1", "live").await;
    let (ok, err) = stderr_of(publisher).await;
    assert!(ok, "{err}");
    // The publisher stopped: after the grace period the stream ends and the same URLs
    // serve the whole recording.
    let s = wait_stream(&gs, "obs_key-1", MIN, |s| s["status"] == "ended").await;
    assert!(s["duration_seconds"].as_f64().unwrap() > 12.0, "{s}");
    assert!(
        s["renditions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "complete"),
        "{s}"
    );
    let (_, media1) = gs
        .fetch(&format!("{}/streams/obs_key-1/media_1.m3u8", gs.base))
        .await;
    let media1 = text(&media1);
    assert!(media1.contains("#EXT-X-ENDLIST"), "{media1}");
    assert!(
        media1.contains("chunk-1-00001.m4s"),
        "the recording keeps its first segment: {media1}"
    );
    let (_, mpd) = gs
        .fetch(&format!("{}/streams/obs_key-1/dash/manifest.mpd", gs.base))
        .await;
    assert!(text(&mpd).contains("type=\"static\""));
    // A segment is real H.264 in fMP4.
    let (_, init) = gs
        .fetch(&format!("{}/streams/obs_key-1/init-1.m4s", gs.base))
        .await;
    let (_, chunk) = gs
        .fetch(&format!("{}/streams/obs_key-1/chunk-1-00002.m4s", gs.base))
        .await;
    let probe = probe_bytes(&[init, chunk].concat(), "mp4");
    assert_eq!(
        stream_of(&probe, "video").unwrap()["codec_name"],
        "h264",
        "{probe}"
    );
    play(&media, &gs, "obs_key-1", "vod").await;
    // The recording is a finished job in the history, with the stats.
    let (_, jobs) = gs.get("/api/transcode/jobs").await;
    let job = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job_id"] == s["job_id"])
        .cloned()
        .expect("the recording is a job");
    assert_eq!(job["status"], "ready", "{job}");
    assert_eq!(job["source"], "rtmp live: Living room");
    assert!(
        !job.to_string().contains("obs_key-1"),
        "the job list shows no key: {job}"
    );
    let (_, stats) = gs.get("/api/stats").await;
    assert_eq!(stats["successful_jobs"], 1, "{stats}");
    // Its log, as the dashboard reads it.
    let (_, log) = gs
        .req(
            reqwest::Method::GET,
            &format!("/api/transcode/{}/log", s["job_id"].as_str().unwrap()),
            None,
            &[("origin", &gs.base)],
        )
        .await;
    assert!(log.to_string().contains("-f flv -i pipe:0"), "{log}");
    // The same figures in the health check and the metrics.
    let (_, health) = gs.get("/api/health/detailed").await;
    assert_eq!(health["checks"]["live"]["rtmp_port"], port, "{health}");
    let (_, metrics) = gs.fetch(&format!("{}/metrics", gs.base)).await;
    let metrics = text(&metrics);
    assert!(
        metrics.contains("ghoststream_live_streams{status=\"ended\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ghoststream_live_bytes_total{direction=\"in\"}"),
        "{metrics}"
    );
    assert!(gs.children().is_empty(), "no ffmpeg after the stream ended");
}

#[tokio::test]
async fn srt_and_gstreamer_publishers_are_taken_too() {
    let gs = live_server(Opts::default());
    new_key(&gs, "srtkey", "Console").await;
    new_key(&gs, "gstkey", "Phone").await;
    let v = ingest(&gs).await;
    let srt_port = v["srt_port"].as_u64().expect("SRT bound");
    let rtmp_port = v["rtmp_port"].as_u64().unwrap();
    // SRT: ffmpeg's libsrt as the caller, the key in the stream id.
    let srt = ffmpeg_publisher(
        &format!("srt://127.0.0.1:{srt_port}?streamid=srtkey&pkt_size=1316"),
        "320x180",
        8,
        "mpegts",
        &[],
    );
    // GStreamer's own RTMP client (rtmp2sink), another implementation than ffmpeg's.
    let gst = Command::new("gst-launch-1.0")
        .args(["-q", "videotestsrc", "is-live=true", "num-buffers=240", "!"])
        .args(["video/x-raw,width=320,height=180,framerate=30/1", "!"])
        .args(["x264enc", "tune=zerolatency", "key-int-max=30", "speed-preset=ultrafast", "!"])
        .args(["h264parse", "!", "flvmux", "name=mux", "streamable=true", "!"])
        .arg("rtmp2sink")
        .arg(format!("location=rtmp://127.0.0.1:{rtmp_port}/live/gstkey"))
        .args(["audiotestsrc", "is-live=true", "num-buffers=375", "!", "voaacenc", "!", "aacparse", "!", "mux."])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("gst-launch-1.0 (apt gstreamer1.0-tools, -plugins-bad/-good/-ugly: scripts/setup.sh --test)");
    for key in ["srtkey", "gstkey"] {
        let s = wait_stream(&gs, key, MIN, |s| {
            s["status"] == "active" && segments(s) >= 1
        })
        .await;
        assert_eq!(s["input"]["height"], 180, "{s}");
    }
    assert_eq!(stream(&gs, "srtkey").await.unwrap()["protocol"], "srt");
    let (ok, err) = stderr_of(srt).await;
    assert!(ok, "{err}");
    let (_, err) = stderr_of(gst).await;
    for key in ["srtkey", "gstkey"] {
        let s = wait_stream(&gs, key, MIN, |s| {
            s["status"] != "active" && s["status"] != "idle"
        })
        .await;
        assert_eq!(s["status"], "ended", "{s} {err}");
        assert!(s["duration_seconds"].as_f64().unwrap() > 5.0, "{s}");
    }
    assert!(gs.children().is_empty());
}

/// Publishes on `key` with an RTMP client session (`rml_rtmp`'s client, another real
/// implementation) and returns everything the server answered.
fn rml_publish(port: u16, key: &str) -> String {
    use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
    use rml_rtmp::sessions::{
        ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult,
        PublishRequestType,
    };
    let mut sock = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut hs = Handshake::new(PeerType::Client);
    sock.write_all(&hs.generate_outbound_p0_and_p1().unwrap())
        .unwrap();
    let mut buf = [0u8; 8192];
    let rest = loop {
        let n = sock.read(&mut buf).unwrap();
        assert!(n > 0, "closed during the handshake");
        match hs.process_bytes(&buf[..n]).unwrap() {
            HandshakeProcessResult::InProgress { response_bytes } => {
                sock.write_all(&response_bytes).unwrap()
            }
            HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            } => {
                sock.write_all(&response_bytes).unwrap();
                break remaining_bytes;
            }
        }
    };
    let (mut session, _) = ClientSession::new(ClientSessionConfig::new()).unwrap();
    let send = |sock: &mut std::net::TcpStream, r: ClientSessionResult| {
        if let ClientSessionResult::OutboundResponse(p) = r {
            sock.write_all(&p.bytes).unwrap();
        }
    };
    send(
        &mut sock,
        session.request_connection("live".into()).unwrap(),
    );
    let mut answered = String::from_utf8_lossy(&rest).into_owned();
    let mut published = false;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(5) {
        let n = match sock.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        answered.push_str(&String::from_utf8_lossy(&buf[..n]));
        for r in session.handle_input(&buf[..n]).unwrap_or_default() {
            match r {
                ClientSessionResult::RaisedEvent(ClientSessionEvent::ConnectionRequestAccepted)
                    if !published =>
                {
                    published = true;
                    send(
                        &mut sock,
                        session
                            .request_publishing(key.into(), PublishRequestType::Live)
                            .unwrap(),
                    );
                }
                other => send(&mut sock, other),
            }
        }
    }
    answered
}

#[tokio::test]
async fn keys_are_managed_by_the_owner_and_checked_at_publish_time() {
    let gs = live_server(Opts::default().env("GHOSTSTREAM__LIVE__MAX_STREAMS", "1"));
    // Keys: created (random or given), listed, renamed, revoked.
    let (code, k) = gs.post("/api/ingest/keys", json!({})).await;
    assert_eq!(code, 201, "{k}");
    assert_eq!(k["key"].as_str().unwrap().len(), 24);
    new_key(&gs, "mine", "Desk").await;
    assert_refused(
        gs.post("/api/ingest/keys", json!({"key": "mine"})).await,
        409,
        "ingest-key-exists",
    );
    assert_refused(
        gs.post("/api/ingest/keys", json!({"key": "../etc"})).await,
        422,
        "invalid-request",
    );
    assert_refused(
        gs.post("/api/ingest/keys", json!({"bogus": 1})).await,
        422,
        "invalid-request",
    );
    let (code, r) = gs
        .put("/api/ingest/keys/mine", json!({"name": "Desk PC"}))
        .await;
    assert_eq!((code, r["name"].as_str()), (200, Some("Desk PC")), "{r}");
    assert_refused(
        gs.put("/api/ingest/keys/nope", json!({"name": "x"})).await,
        404,
        "ingest-key-not-found",
    );
    let (_, list) = gs.get("/api/ingest/keys").await;
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    // A web page elsewhere cannot make or see keys.
    let evil = [("origin", "http://evil.example")];
    let (code, v) = gs
        .req(
            reqwest::Method::POST,
            "/api/ingest/keys",
            Some("{}".into()),
            &evil,
        )
        .await;
    assert_eq!(
        (code, v["code"].as_str()),
        (403, Some("origin-not-allowed")),
        "{v}"
    );
    let (code, _) = gs
        .req(
            reqwest::Method::GET,
            "/api/ingest/keys",
            None,
            &[("host", "rebound.example")],
        )
        .await;
    assert_eq!(code, 403);
    let (_, v) = gs
        .req(
            reqwest::Method::GET,
            "/api/ingest",
            None,
            &[("host", "rebound.example")],
        )
        .await;
    assert!(
        !v.to_string().contains("mine"),
        "keys are not shown to others: {v}"
    );

    let port = rtmp_port(&gs).await;
    // An unknown key: NetStream.Publish.BadName, logged with the peer's address.
    let answer = tokio::task::spawn_blocking(move || rml_publish(port, "not-a-key"))
        .await
        .unwrap();
    assert!(answer.contains("NetStream.Publish.BadName"), "{answer}");
    let errors = ingest(&gs).await["errors"].to_string();
    assert!(
        errors.contains("127.0.0.1:") && errors.contains("unknown or revoked"),
        "{errors}"
    );
    // Live on "mine"; a second publisher on it, and one on another key past
    // live.max_streams, are denied.
    let first = rtmp(port, "mine", "320x180", 30);
    wait_stream(&gs, "mine", MIN, |s| s["status"] == "active").await;
    let answer = tokio::task::spawn_blocking(move || rml_publish(port, "mine"))
        .await
        .unwrap();
    assert!(
        answer.contains("NetStream.Publish.Denied") && answer.contains("already live"),
        "{answer}"
    );
    let other = k["key"].as_str().unwrap().to_string();
    let answer = tokio::task::spawn_blocking(move || rml_publish(port, &other))
        .await
        .unwrap();
    assert!(
        answer.contains("NetStream.Publish.Denied") && answer.contains("max_streams"),
        "{answer}"
    );
    let (_, keys) = gs.get("/api/ingest/keys").await;
    assert!(
        keys.as_array()
            .unwrap()
            .iter()
            .any(|k| k["key"] == "mine" && k["live"] == true),
        "{keys}"
    );
    // Revoking the key cuts the publisher off and ends the stream; the key is refused after.
    let (code, left) = gs
        .req(reqwest::Method::DELETE, "/api/ingest/keys/mine", None, &[])
        .await;
    assert_eq!(code, 200, "{left}");
    assert_eq!(left.as_array().unwrap().len(), 1);
    let (_, err) = stderr_of(first).await;
    let s = wait_stream(&gs, "mine", MIN, |s| {
        s["status"] != "active" && s["status"] != "idle"
    })
    .await;
    assert_eq!(s["status"], "ended", "{s} {err}");
    let answer = tokio::task::spawn_blocking(move || rml_publish(port, "mine"))
        .await
        .unwrap();
    assert!(answer.contains("NetStream.Publish.BadName"), "{answer}");
    assert!(gs.children().is_empty());
}

#[tokio::test]
async fn a_publisher_that_comes_back_within_the_grace_period_continues_the_stream() {
    let gs = live_server(Opts::default().env("GHOSTSTREAM__LIVE__RECONNECT_GRACE_SECONDS", "8"));
    new_key(&gs, "flaky", "Flaky wifi").await;
    let port = rtmp_port(&gs).await;
    // /ws/progress tells when the stream starts, stalls, comes back and ends.
    let url = format!("{}/ws/progress", gs.base.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let events = tokio::spawn(async move {
        use futures_util::StreamExt;
        let mut seen = Vec::new();
        while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(90), ws.next()).await {
            let Ok(v) = serde_json::from_str::<Value>(m.to_text().unwrap_or("")) else {
                continue;
            };
            if v["type"] == "live" {
                assert_eq!(v["name"], "Flaky wifi", "{v}");
                assert!(!v.to_string().contains("flaky\""), "no key in events: {v}");
                seen.push(v["event"].as_str().unwrap().to_string());
                if v["event"] == "ended" {
                    break;
                }
            }
        }
        seen
    });
    let (ok, err) = stderr_of(rtmp(port, "flaky", "320x180", 5)).await;
    assert!(ok, "{err}");
    let s = wait_stream(&gs, "flaky", MIN, |s| s["status"] == "idle").await;
    let job = s["job_id"].clone();
    let (ok, err) = stderr_of(rtmp(port, "flaky", "320x180", 5)).await;
    assert!(ok, "{err}");
    let s = wait_stream(&gs, "flaky", MIN, |s| s["status"] == "ended").await;
    assert_eq!(s["job_id"], job, "the same stream, not a new one");
    assert_eq!(s["reconnects"], 1);
    assert!(
        s["duration_seconds"].as_f64().unwrap() > 9.0,
        "both publishers' media: {s}"
    );
    let (_, jobs) = gs.get("/api/transcode/jobs").await;
    assert_eq!(jobs["total"], 1, "{jobs}");
    let seen = events.await.unwrap();
    assert_eq!(seen, ["started", "stalled", "resumed", "stalled", "ended"]);
}

#[tokio::test]
async fn bad_input_on_the_live_ports_is_refused_and_the_listener_goes_on() {
    let gs = live_server(Opts::default());
    new_key(&gs, "good", "Good").await;
    new_key(&gs, "audioonly", "Radio").await;
    new_key(&gs, "oldcodec", "Old").await;
    let port = rtmp_port(&gs).await;
    let addr = format!("127.0.0.1:{port}");
    let closed_by_server = |mut s: std::net::TcpStream| {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut b = [0u8; 4096];
        loop {
            match s.read(&mut b) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(_) => return false,
            }
        }
    };
    // Garbage, a TLS ClientHello, an HTTP request.
    for lead in [
        &b"\x00\x01garbage garbage"[..],
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.write_all(lead).unwrap();
        assert!(closed_by_server(s), "closed after {lead:?}");
    }
    // A handshake that stalls (slow loris): closed after live.handshake_timeout_seconds.
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.write_all(&[3, 0, 0]).unwrap();
    let t0 = Instant::now();
    assert!(closed_by_server(s));
    assert!(t0.elapsed() < Duration::from_secs(8), "{:?}", t0.elapsed());
    // Absurd chunk sizes and message lengths after a real handshake.
    for evil in [
        // Set Chunk Size 0x7fffffff, then a message claiming 16 MiB that never comes.
        vec![
            0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0x03, 0, 0, 0, 0xff,
            0xff, 0xff, 0x14, 0, 0, 0, 0, 1, 2, 3,
        ],
        // Set Chunk Size 0 and a message of 0xffffff bytes.
        vec![
            0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x03, 0, 0, 0, 0xff, 0xff, 0xff,
            0x14, 0, 0, 0, 0,
        ],
    ] {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        let mut c1 = vec![3u8];
        c1.extend(std::iter::repeat_n(7u8, 1536));
        s.write_all(&c1).unwrap();
        let mut s0s1s2 = vec![0u8; 3073];
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.read_exact(&mut s0s1s2).unwrap();
        s.write_all(&s0s1s2[1..1537]).unwrap();
        s.write_all(&evil).unwrap();
        assert!(closed_by_server(s));
    }
    // A flood: 100 connections in a second, each closed at once.
    for _ in 0..100 {
        if let Ok(s) = std::net::TcpStream::connect(&addr) {
            drop(s);
        }
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // A publisher that sends no video, and one with a codec the ladder does not take.
    let audio_only = ffmpeg_publisher(
        &format!("rtmp://{addr}/live/audioonly"),
        "320x180",
        8,
        "flv",
        &["-vn"],
    );
    let flv1 = ffmpeg_publisher(
        &format!("rtmp://{addr}/live/oldcodec"),
        "320x180",
        8,
        "flv",
        &["-c:v", "flv1"],
    );
    let s = wait_stream(&gs, "audioonly", MIN, |s| s["status"] == "error").await;
    assert_eq!(s["error_code"], "no-video", "{s}");
    let s = wait_stream(&gs, "oldcodec", MIN, |s| s["status"] == "error").await;
    assert_eq!(s["error_code"], "unsupported-codec", "{s}");
    assert!(s["error"].as_str().unwrap().contains("flv1"), "{s}");
    drop((audio_only, flv1));
    // Through all of it the listener serves a real publisher (once the flood's second is
    // over: past 50 connections a second, the excess is closed at once).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let good = rtmp(port, "good", "320x180", 4);
    wait_stream(&gs, "good", MIN, |s| segments(s) >= 1).await;
    let (ok, err) = stderr_of(good).await;
    assert!(ok, "{err}");
    let errors = ingest(&gs).await["errors"].to_string();
    assert!(
        errors.contains("TLS") && errors.contains("HTTP"),
        "{errors}"
    );
    wait_stream(&gs, "good", MIN, |s| s["status"] == "ended").await;
    assert!(eventually(Duration::from_secs(10), || gs.children().is_empty()).await);
}

#[tokio::test]
async fn three_publishers_at_once_at_360p() {
    let gs = live_server(Opts::default());
    let port = rtmp_port(&gs).await;
    let mut pubs = Vec::new();
    for k in ["cam1", "cam2", "cam3"] {
        new_key(&gs, k, k).await;
        pubs.push(rtmp(port, k, "640x360", 10));
    }
    for k in ["cam1", "cam2", "cam3"] {
        wait_stream(&gs, k, MIN, |s| s["status"] == "active" && segments(s) >= 2).await;
    }
    for p in pubs {
        let (ok, err) = stderr_of(p).await;
        assert!(ok, "{err}");
    }
    for k in ["cam1", "cam2", "cam3"] {
        let s = wait_stream(&gs, k, MIN, |s| s["status"] == "ended").await;
        assert!(s["duration_seconds"].as_f64().unwrap() > 8.0, "{s}");
    }
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit_once(')')
                .map(|x| x.1)
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

#[tokio::test]
async fn no_ladder_outlives_a_stopped_or_killed_server_and_a_cut_recording_still_ends() {
    let state = tempfile::tempdir().unwrap();
    // A server stopped on purpose finishes the recording.
    let mut gs = live_server(Opts::default().state(state.path()));
    new_key(&gs, "kk1", "K").await;
    let port = rtmp_port(&gs).await;
    let publisher = rtmp(port, "kk1", "320x180", 30);
    wait_stream(&gs, "kk1", MIN, |s| segments(s) >= 1).await;
    assert!(!gs.children().is_empty(), "the ladder runs");
    assert!(gs.stop().success());
    drop(publisher);
    let gs = live_server(Opts::default().state(state.path()));
    let s = stream(&gs, "kk1")
        .await
        .expect("the recording is still there");
    assert_eq!(s["status"], "ended", "{s}");
    let (_, jobs) = gs.get("/api/transcode/jobs").await;
    assert_eq!(jobs["jobs"][0]["status"], "ready", "{jobs}");
    // A server killed with SIGKILL leaves no ffmpeg behind; the cut recording ends.
    let mut gs = gs;
    let port = rtmp_port(&gs).await;
    let publisher = rtmp(port, "kk1", "320x180", 30);
    let live = wait_stream(&gs, "kk1", MIN, |s| {
        s["status"] == "active" && segments(s) >= 1
    })
    .await;
    let ladder = gs.children();
    assert!(!ladder.is_empty());
    gs.stop_with(nix::sys::signal::Signal::SIGKILL);
    assert!(
        eventually(Duration::from_secs(10), || ladder
            .iter()
            .all(|p| !alive(*p)))
        .await,
        "{ladder:?}"
    );
    drop(publisher);
    let gs = live_server(Opts::default().state(state.path()));
    let s = ingest(&gs).await["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["job_id"] == live["job_id"])
        .cloned()
        .unwrap();
    assert_eq!(
        (s["status"].as_str(), s["error_code"].as_str()),
        (Some("error"), Some("interrupted")),
        "{s}"
    );
    let (_, pl) = gs
        .fetch(&format!(
            "{}/streams/kk1/{}/media_1.m3u8",
            gs.base,
            s["job_id"].as_str().unwrap()
        ))
        .await;
    assert!(
        text(&pl).trim_end().ends_with("#EXT-X-ENDLIST"),
        "{}",
        text(&pl)
    );
}
