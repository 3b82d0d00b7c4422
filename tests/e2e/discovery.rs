//! Discovery and pairing: mDNS (mdns-sd and python zeroconf as browsers), the SDK's own
//! discovery, the UDP responder, push registration, the pairing code and page.
//! Traffic stays on loopback (the suite runs in a loopback-only network namespace).

use super::support::*;
use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant};

fn port_of(gs: &Gs) -> u16 {
    gs.base.rsplit(':').next().unwrap().parse().unwrap()
}

/// Resolved `_ghoststream._tcp` services seen by a separate mdns-sd daemon on loopback.
fn browse_mdns_sd(want_ports: &[u16], within: Duration) -> Vec<mdns_sd::ResolvedService> {
    let d = mdns_sd::ServiceDaemon::new().unwrap();
    d.disable_interface(mdns_sd::IfKind::All).unwrap();
    d.enable_interface(mdns_sd::IfKind::Name("lo".into()))
        .unwrap();
    let rx = d.browse("_ghoststream._tcp.local.").unwrap();
    let t0 = Instant::now();
    let mut found: Vec<mdns_sd::ResolvedService> = Vec::new();
    while t0.elapsed() < within
        && !want_ports
            .iter()
            .all(|p| found.iter().any(|s| s.get_port() == *p))
    {
        if let Ok(mdns_sd::ServiceEvent::ServiceResolved(s)) =
            rx.recv_timeout(Duration::from_millis(200))
        {
            if want_ports.contains(&s.get_port())
                && !found.iter().any(|f| f.get_fullname() == s.get_fullname())
            {
                found.push(*s);
            }
        }
    }
    let _ = d.shutdown();
    found
}

#[tokio::test]
async fn mdns_advertises_distinct_instances_with_the_txt_keys() {
    let a = Gs::start(Opts::default().mdns());
    let b = Gs::start(Opts::default().mdns());
    let ports = [port_of(&a), port_of(&b)];
    let caps = [
        a.get("/api/capabilities").await.1,
        b.get("/api/capabilities").await.1,
    ];
    assert!(
        caps[0]["live"]["rtmp_port"].as_u64().is_some(),
        "{}",
        caps[0]
    );
    let found =
        tokio::task::spawn_blocking(move || browse_mdns_sd(&ports, Duration::from_secs(10)))
            .await
            .unwrap();
    assert_eq!(
        found.len(),
        2,
        "mdns-sd resolved {:?}",
        found.iter().map(|s| s.get_fullname()).collect::<Vec<_>>()
    );
    assert_ne!(found[0].get_fullname(), found[1].get_fullname());
    for s in &found {
        assert!(
            s.get_fullname().starts_with("GhostStream-"),
            "{}",
            s.get_fullname()
        );
        assert!(s.get_addresses_v4().contains(&"127.0.0.1".parse().unwrap()));
        assert_eq!(
            s.get_property_val_str("version"),
            Some(env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(s.get_property_val_str("api_version"), Some("1"));
        assert_eq!(s.get_property_val_str("hw_accels"), Some("software"));
        assert!(s
            .get_property_val_str("video_codecs")
            .unwrap()
            .contains("h264"));
        assert!(s
            .get_property_val_str("audio_codecs")
            .unwrap()
            .contains("aac"));
        assert_eq!(s.get_property_val_str("max_jobs"), Some("2"));
        // Live ingest's ports, so clients find where to publish.
        let caps = if s.get_port() == ports[0] {
            &caps[0]
        } else {
            &caps[1]
        };
        for (txt, field) in [("rtmp_port", "rtmp_port"), ("srt_port", "srt_port")] {
            assert_eq!(
                s.get_property_val_str(txt).map(str::to_string),
                caps["live"][field].as_u64().map(|p| p.to_string()),
                "{txt}"
            );
        }
        assert_eq!(
            s.get_property_val_str("platform"),
            Some(std::env::consts::OS)
        );
    }
    // The instance is what /api/rendezvous calls the label, stable across a restart.
    let (_, info) = a.get("/api/rendezvous").await;
    let label = info["label"].as_str().unwrap().to_string();
    assert!(found
        .iter()
        .any(|s| s.get_fullname() == format!("{label}._ghoststream._tcp.local.")));

    // python zeroconf, the library GhostHub uses, sees the same.
    let python = repo_root().join("tests/.venv/bin/python");
    let script = repo_root().join("tests/sdk/discover_check.py");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .args(["browse", "5"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    for p in ports {
        let s = lines
            .iter()
            .find(|l| l["port"] == p)
            .unwrap_or_else(|| panic!("zeroconf did not find port {p}: {lines:?}"));
        assert!(s["addresses"]
            .as_array()
            .unwrap()
            .contains(&json!("127.0.0.1")));
        for k in [
            "version",
            "api_version",
            "hw_accels",
            "video_codecs",
            "audio_codecs",
            "max_jobs",
            "platform",
        ] {
            assert!(s["txt"].get(k).is_some(), "TXT lacks {k}: {s}");
        }
    }
}

#[tokio::test]
async fn the_sdks_own_discovery_finds_us_and_transcodes() {
    let media = MediaServer::start();
    let _gs = Gs::start(Opts::default().mdns());
    let stdout = run_sdk_script(
        "discover_check.py",
        vec!["sdk".into(), media.url("short.mkv")],
    )
    .await;
    assert!(
        stdout.contains("ok discovered GhostStream-") && stdout.contains("ok transcoded"),
        "{stdout}"
    );
}

#[tokio::test]
async fn udp_responder_answers_exactly_ignores_junk_and_survives_a_flood() {
    let gs = Gs::start(Opts::default());
    let (_, info) = gs.get("/api/rendezvous").await;
    let udp = info["udp_port"].as_u64().expect("udp port") as u16;
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.connect(("127.0.0.1", udp)).await.unwrap();
    let mut buf = [0u8; 256];
    sock.send(b"GHOSTSTREAM_DISCOVER").await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(3), sock.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        std::str::from_utf8(&buf[..n]).unwrap(),
        format!(
            "GHOSTSTREAM_ANNOUNCE:{}:{}:software",
            port_of(&gs),
            env!("CARGO_PKG_VERSION")
        )
    );
    for junk in [&b"hello"[..], b"GHOSTSTREAM_DISCOVERY", b"\x00\x01\x02"] {
        sock.send(junk).await.unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(300), sock.recv(&mut buf))
                .await
                .is_err(),
            "answered junk"
        );
    }
    // 10 000 datagrams: answers are rate-limited, nothing breaks.
    let flood = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    flood.connect(("127.0.0.1", udp)).await.unwrap();
    for _ in 0..10_000 {
        let _ = flood.send(b"GHOSTSTREAM_DISCOVER").await;
    }
    let mut answers = 0;
    while tokio::time::timeout(Duration::from_millis(300), flood.recv(&mut buf))
        .await
        .is_ok()
    {
        answers += 1;
    }
    assert!((1..=20).contains(&answers), "{answers} answers to a flood");
    assert_eq!(gs.get("/api/health").await.0, 200);
    tokio::time::sleep(Duration::from_secs(1)).await;
    sock.send(b"GHOSTSTREAM_DISCOVER").await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_secs(3), sock.recv(&mut buf))
            .await
            .is_ok(),
        "no answer after the flood"
    );
}

#[tokio::test]
async fn push_registration_retries_then_unregisters_on_stop() {
    let hub = MediaServer::start();
    let hub_url = format!("{}/flaky/hub", hub.base);
    let mut gs = Gs::start(
        Opts::default()
            .env("GHOSTSTREAM__DISCOVERY__GHOSTHUB_URL", &hub_url)
            .env("GHOSTSTREAM__DISCOVERY__REGISTER_INTERVAL", "2"),
    );
    let register = "/flaky/hub/api/ghoststream/servers/register";
    assert!(
        eventually(Duration::from_secs(15), || hub
            .posts()
            .iter()
            .any(|(p, _)| p == register))
        .await,
        "never registered"
    );
    assert!(
        hub.attempts(register) >= 3,
        "retried {} times",
        hub.attempts(register)
    );
    let (_, body) = hub
        .posts()
        .into_iter()
        .find(|(p, _)| p == register)
        .unwrap();
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["address"], format!("127.0.0.1:{}", port_of(&gs)));
    assert!(body["name"].as_str().unwrap().starts_with("GhostStream-"));
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["hw_accels"], json!(["software"]));
    assert!(body["video_codecs"]
        .as_array()
        .unwrap()
        .contains(&json!("h264")));
    assert!(body["audio_codecs"]
        .as_array()
        .unwrap()
        .contains(&json!("aac")));
    assert_eq!(body["max_jobs"], 2);
    let (_, info) = gs.get("/api/rendezvous").await;
    assert_eq!(info["last_registration"]["ok"], true, "{info}");
    assert_eq!(info["ghosthub_url"], hub_url);
    let name = body["name"].clone();
    gs.stop();
    let unregister = "/flaky/hub/api/ghoststream/servers/unregister";
    let posts = hub.posts();
    let (_, body) = posts
        .iter()
        .find(|(p, _)| p == unregister)
        .expect("no unregister on stop");
    assert_eq!(
        serde_json::from_str::<Value>(body).unwrap(),
        json!({"name": name})
    );
}

#[tokio::test]
async fn pairing_code_announce_now_and_reachability() {
    let rendezvous = MediaServer::start();
    let gs = Gs::start(Opts::default().env(
        "GHOSTSTREAM__DISCOVERY__RENDEZVOUS_URL",
        &format!("{}/announce", rendezvous.base),
    ));
    let (code, info) = gs.get("/api/rendezvous").await;
    assert_eq!(code, 200);
    for k in ["url", "label", "code", "lan_urls"] {
        assert!(info.get(k).is_some(), "{k} missing: {info}");
    }
    let code1 = info["code"].as_str().unwrap().to_string();
    assert_eq!(code1.len(), 6);
    assert!(info["pair_url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/pair?code={code1}")));
    let (_, rotated) = gs.post("/api/rendezvous/rotate", json!({})).await;
    assert_ne!(rotated["code"], json!(code1));
    // Concurrent announce-now calls are coalesced into sequential single announces.
    let (a, b) = tokio::join!(
        gs.post("/api/announce-now", json!({})),
        gs.post("/api/announce-now", json!({}))
    );
    assert_eq!((a.0, b.0), (200, 200));
    assert_eq!(a.1["rendezvous"]["ok"], true, "{}", a.1);
    let sent = rendezvous.posts();
    let (_, body) = sent
        .iter()
        .rev()
        .find(|(p, _)| p == "/announce")
        .expect("rendezvous announce");
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["code"], rotated["code"]);
    assert_eq!(body["label"], rotated["label"]);
    assert!(body["lan_urls"].is_array());
    let (code, r) = gs.get("/api/reachability").await;
    assert_eq!(code, 200);
    let checks = r["checks"].as_array().unwrap();
    let lo = checks
        .iter()
        .find(|c| c["url"].as_str().unwrap().starts_with("http://127.0.0.1:"))
        .unwrap();
    assert_eq!(lo["ok"], true, "{r}");
    assert!(r["hints"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h.as_str().unwrap().contains("5353")));
    // Only http(s) GhostHub URLs are stored.
    let (code, v) = gs
        .post("/api/pair/ghosthub", json!({"ghosthub_url": "ftp://x"}))
        .await;
    assert_eq!(code, 422, "{v}");
}

#[tokio::test]
async fn pair_page_in_chromium_registers_with_ghosthub() {
    let root = repo_root();
    assert!(
        root.join("tests/node_modules/playwright-core").exists(),
        "run scripts/setup.sh --test"
    );
    let hub = MediaServer::start();
    let gs =
        Gs::start(Opts::default().env("GHOSTSTREAM__SECURITY__API_KEY", "pair-page-needs-no-key"));
    let (_, info) = gs
        .req(
            reqwest::Method::GET,
            "/api/rendezvous",
            None,
            &[("X-API-Key", "pair-page-needs-no-key")],
        )
        .await;
    let code = info["code"].as_str().unwrap();
    let page = format!("{}/pair?code={code}", gs.base);
    let shot = root.join("target/test-artifacts/pair-page.png");
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    let env = vec![("SHOT".to_string(), shot.to_str().unwrap().to_string())];
    run_node("tests/browser/pair.mjs", vec![page, hub.base.clone()], env).await;
    assert!(hub
        .posts()
        .iter()
        .any(|(p, _)| p == "/api/ghoststream/servers/register"));
    // Stored in the configuration file for the next start.
    let cfg = std::fs::read_to_string(gs.state.join("ghoststream.toml")).unwrap();
    assert!(
        cfg.contains(&format!("ghosthub_url = \"{}\"", hub.base)),
        "{cfg}"
    );
}
