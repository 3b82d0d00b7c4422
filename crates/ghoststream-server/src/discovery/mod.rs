//! Discovery and pairing: mDNS, the UDP responder, push registration with GhostHub, the
//! pairing code and rendezvous. Started and stopped with the server.
//!
//! A little over 500 lines: one `Discovery` owns the state all of these share; the parts
//! without state live in `hub`, `mdns`, `udp` and `attempts`.

pub mod attempts;
pub mod hub;
pub mod mdns;
pub mod udp;

use attempts::Attempts;
use ghoststream_types::{
    AnnounceResult, PairingInfo, Reachability, ReachabilityCheck, Registration,
};
use serde_json::json;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// The addresses a hub URL's host resolves to (none when it does not).
async fn hub_addrs(hub: &str) -> Vec<std::net::IpAddr> {
    let Ok(url) = reqwest::Url::parse(hub) else {
        return Vec::new();
    };
    let Some(host) = url.host_str() else {
        return Vec::new();
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse() {
        return vec![ip];
    }
    let lookup = tokio::net::lookup_host((bare.to_string(), 0));
    match tokio::time::timeout(Duration::from_secs(5), lookup).await {
        Ok(Ok(a)) => a.map(|a| a.ip()).collect(),
        _ => Vec::new(),
    }
}

/// Wrong pairing codes accepted per minute, from everyone together.
pub const CODE_TRIES_PER_MINUTE: usize = 5;

pub fn new_code() -> String {
    (0..6)
        .map(|_| CODE_ALPHABET[rand::random_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

/// A short id, stable across restarts, unique per install (kept in the state directory).
pub fn host_id(state_dir: &Path) -> String {
    let path = state_dir.join("host-id");
    if let Ok(s) = std::fs::read_to_string(&path) {
        let s = s.trim().to_string();
        if s.len() == 6 && s.chars().all(|c| c.is_ascii_alphanumeric()) {
            return s;
        }
    }
    let id: String = (0..6)
        .map(|_| b"abcdefghjkmnpqrstuvwxyz23456789"[rand::random_range(0..31)] as char)
        .collect();
    let _ = std::fs::create_dir_all(state_dir);
    let _ = std::fs::write(&path, &id);
    id
}

#[derive(Default)]
struct Status {
    code: String,
    ghosthub_url: Option<String>,
    last_registration: Option<Registration>,
    last_rendezvous: Option<Registration>,
    udp_port: Option<u16>,
    mdns_ok: bool,
    /// The hub's addresses, resolved at each registration (health probes are matched
    /// against them without a lookup).
    hub_addrs: Vec<std::net::IpAddr>,
}

/// Discovery of one running server.
pub struct Discovery {
    /// The engine and the configuration file, not the whole `App`: the state holds
    /// this discovery, so holding the state back would be a cycle that outlives a stop.
    engine: ghoststream_engine::Engine,
    config_path: Arc<std::sync::RwLock<std::path::PathBuf>>,
    pub instance: String,
    port: u16,
    status: Mutex<Status>,
    advertiser: Mutex<Option<mdns::Advertiser>>,
    wake_hub: Notify,
    /// Wrong pairing codes lately (rate limit).
    code_failures: Mutex<Attempts>,
    /// When a health probe from the hub last woke the registration loop.
    hub_probe_woke: Mutex<Option<std::time::Instant>>,
    /// The last announce and when it finished: callers that waited for it share it.
    last_announce: tokio::sync::Mutex<Option<(std::time::Instant, AnnounceResult)>>,
    stop: CancellationToken,
}

impl Discovery {
    /// Starts every enabled mechanism for a server bound to `port`.
    pub async fn start(
        engine: ghoststream_engine::Engine,
        config_path: Arc<std::sync::RwLock<std::path::PathBuf>>,
        port: u16,
    ) -> Arc<Discovery> {
        let cfg = engine.config().clone();
        let instance = format!(
            "{}-{}",
            cfg.mdns.service_name.trim(),
            host_id(&cfg.state_dir())
        );
        let d = Arc::new(Discovery {
            engine,
            config_path,
            instance,
            port,
            status: Mutex::new(Status {
                code: new_code(),
                ghosthub_url: cfg.discovery.ghosthub_url.clone().filter(|u| !u.is_empty()),
                ..Default::default()
            }),
            advertiser: Mutex::new(None),
            wake_hub: Notify::new(),
            code_failures: Mutex::new(Attempts::new(
                CODE_TRIES_PER_MINUTE,
                Duration::from_secs(60),
            )),
            hub_probe_woke: Mutex::new(None),
            last_announce: tokio::sync::Mutex::new(None),
            stop: CancellationToken::new(),
        });
        if cfg.mdns.enabled {
            match mdns::Advertiser::new() {
                Ok(a) => {
                    if let Ok(mut g) = d.advertiser.lock() {
                        *g = Some(a);
                    }
                    d.announce_mdns(true);
                }
                Err(e) => tracing::warn!("{e}"),
            }
            let me = d.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_secs(30));
                loop {
                    tokio::select! {
                        _ = me.stop.cancelled() => return,
                        _ = every.tick() => { me.announce_mdns(false); }
                    }
                }
            });
        }
        if cfg.discovery.udp_enabled {
            let addr = format!("{}:{}", cfg.server.host, cfg.discovery.udp_port);
            match tokio::net::UdpSocket::bind(&addr).await {
                Ok(sock) => {
                    if let Ok(a) = sock.local_addr() {
                        if let Ok(mut s) = d.status.lock() {
                            s.udp_port = Some(a.port());
                        }
                    }
                    let engine = d.engine.clone();
                    let hw = move || {
                        engine
                            .hardware()
                            .available()
                            .iter()
                            .map(|k| k.as_str())
                            .collect::<Vec<_>>()
                            .join(",")
                    };
                    tokio::spawn(udp::serve(Arc::new(sock), port, hw, d.stop.clone()));
                }
                Err(e) => tracing::warn!("UDP discovery could not listen on {addr}: {e}"),
            }
        }
        let me = d.clone();
        tokio::spawn(async move { me.hub_loop().await });
        if cfg.discovery.rendezvous_url.is_some() {
            let me = d.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_secs(60));
                loop {
                    tokio::select! {
                        _ = me.stop.cancelled() => return,
                        _ = every.tick() => { me.rendezvous().await; }
                    }
                }
            });
        }
        d
    }

    fn urls(&self) -> Vec<String> {
        crate::net::urls(&self.engine.config().server.host, self.port)
    }

    fn advert(&self) -> mdns::Advert {
        let cfg = self.engine.config();
        let mut ifs = mdns::interfaces(&cfg.mdns.interfaces);
        // A server bound to one address is advertised with that address only.
        if let Ok(std::net::IpAddr::V4(bound)) = cfg.server.host.parse::<std::net::IpAddr>() {
            if !bound.is_unspecified() {
                ifs.retain(|(_, a)| *a == bound);
            }
        }
        let hw = self.engine.hardware();
        let mut txt = std::collections::BTreeMap::new();
        txt.insert("version".into(), env!("CARGO_PKG_VERSION").into());
        txt.insert("api_version".into(), "1".into());
        txt.insert(
            "hw_accels".into(),
            hw.available()
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(","),
        );
        txt.insert("video_codecs".into(), hw.video_codecs().join(","));
        txt.insert("audio_codecs".into(), "aac,opus,mp3,flac,ac3,copy".into());
        txt.insert(
            "max_jobs".into(),
            self.engine.live().max_concurrent_jobs.to_string(),
        );
        txt.insert("platform".into(), std::env::consts::OS.into());
        // Live ingest: where publishers reach us (absent when off or not bound).
        let ingest = self.engine.ingest();
        if let Some(p) = ingest.rtmp_port() {
            txt.insert("rtmp_port".into(), p.to_string());
        }
        if let Some(p) = ingest.srt_port() {
            txt.insert("srt_port".into(), p.to_string());
        }
        mdns::Advert {
            host: mdns::host_label(&self.instance),
            instance: self.instance.clone(),
            port: self.port,
            interfaces: ifs.iter().map(|(n, _)| n.clone()).collect(),
            addrs: ifs.iter().map(|(_, a)| *a).collect(),
            txt,
        }
    }

    /// (Re-)announces when addresses or capabilities changed, or always with `force`.
    fn announce_mdns(&self, force: bool) -> bool {
        let advert = self.advert();
        let Ok(mut g) = self.advertiser.lock() else {
            return false;
        };
        let Some(a) = g.as_mut() else { return false };
        let ok = match a.announce(advert, force) {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!("{e}");
                false
            }
        };
        if let Ok(mut s) = self.status.lock() {
            s.mdns_ok = ok;
        }
        ok
    }

    fn registration_body(&self, hub: &str) -> serde_json::Value {
        let hw = self.engine.hardware();
        let ip = hub::local_address_for(hub)
            .map(|i| i.to_string())
            .unwrap_or_else(|| "127.0.0.1".into());
        json!({
            "address": format!("{ip}:{}", self.port),
            "name": self.instance,
            "version": env!("CARGO_PKG_VERSION"),
            "hw_accels": hw.available().iter().map(|k| k.as_str()).collect::<Vec<_>>(),
            "video_codecs": hw.video_codecs(),
            "audio_codecs": ["aac", "opus", "mp3", "flac", "ac3", "copy"],
            "max_jobs": self.engine.live().max_concurrent_jobs,
        })
    }

    async fn register_once(&self) -> Option<Registration> {
        let hub = self.status.lock().ok()?.ghosthub_url.clone()?;
        let addrs = hub_addrs(&hub).await;
        if let Ok(mut s) = self.status.lock() {
            s.hub_addrs = addrs;
        }
        let r = hub::post(
            self.engine.outbound_client(),
            &hub::register_url(&hub),
            &self.registration_body(&hub),
        )
        .await;
        if let Ok(mut s) = self.status.lock() {
            s.last_registration = Some(r.clone());
        }
        Some(r)
    }

    async fn hub_loop(self: Arc<Self>) {
        let interval = Duration::from_secs(self.engine.config().discovery.register_interval.max(5));
        let mut failures = 0u32;
        loop {
            match self.register_once().await {
                Some(r) if r.ok => failures = 0,
                Some(_) => failures += 1,
                None => failures = 0,
            }
            let wait = hub::backoff(failures, interval);
            tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = self.wake_hub.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn rendezvous(&self) -> Option<Registration> {
        let url = self.engine.config().discovery.rendezvous_url.clone()?;
        let code = self.status.lock().ok()?.code.clone();
        let body = json!({"code": code, "label": self.instance, "lan_urls": self.urls()});
        let r = hub::post(self.engine.outbound_client(), &url, &body).await;
        if let Ok(mut s) = self.status.lock() {
            s.last_rendezvous = Some(r.clone());
        }
        Some(r)
    }

    /// Immediate mDNS re-announce, registration and rendezvous. Calls that arrive while
    /// one is running wait for it and share its result instead of announcing again.
    pub async fn announce_now(&self) -> AnnounceResult {
        let asked = std::time::Instant::now();
        let mut last = self.last_announce.lock().await;
        if let Some((done, r)) = last.as_ref() {
            if *done >= asked {
                return r.clone();
            }
        }
        let mdns = self.announce_mdns(true);
        let (registration, rendezvous) = tokio::join!(self.register_once(), self.rendezvous());
        let r = AnnounceResult {
            ok: registration.as_ref().is_none_or(|r| r.ok)
                && rendezvous.as_ref().is_none_or(|r| r.ok),
            mdns,
            registration,
            rendezvous,
        };
        *last = Some((std::time::Instant::now(), r.clone()));
        r
    }

    pub fn info(&self) -> PairingInfo {
        let s = self.status.lock().map(|s| {
            (
                s.code.clone(),
                s.ghosthub_url.clone(),
                s.last_registration.clone(),
                s.last_rendezvous.clone(),
                s.udp_port,
                s.mdns_ok,
            )
        });
        let (code, ghosthub_url, last_registration, last_rendezvous, udp_port, _mdns_ok) =
            s.unwrap_or_default();
        let lan_urls = self.urls();
        let first = lan_urls
            .first()
            .cloned()
            .unwrap_or_else(|| format!("http://127.0.0.1:{}", self.port));
        PairingInfo {
            url: self.engine.config().discovery.rendezvous_url.clone(),
            label: self.instance.clone(),
            pair_url: format!("{first}/pair?code={code}"),
            code,
            lan_urls,
            mdns_enabled: self.engine.config().mdns.enabled,
            udp_port,
            ghosthub_url,
            last_registration,
            last_rendezvous,
        }
    }

    pub fn rotate_code(&self) -> PairingInfo {
        if let Ok(mut s) = self.status.lock() {
            s.code = new_code();
        }
        self.info()
    }

    fn config_path(&self) -> std::path::PathBuf {
        self.config_path
            .read()
            .map(|p| p.clone())
            .unwrap_or_else(|_| crate::settings::default_config_path())
    }

    /// Whether another pairing code may be tried: at most [`CODE_TRIES_PER_MINUTE`] wrong
    /// ones a minute, from everyone together.
    pub fn may_try_code(&self) -> bool {
        self.code_failures
            .lock()
            .is_ok_and(|mut f| f.allowed(std::time::Instant::now()))
    }

    pub fn code_failed(&self) {
        if let Ok(mut f) = self.code_failures.lock() {
            f.record(std::time::Instant::now());
        }
    }

    /// A health probe from `peer`: when it is the hub we register with, register now (at
    /// most every 10 s). A GhostHub that restarted has forgotten us and probes the
    /// servers it finds; this puts us back before the next periodic registration.
    pub fn health_probe_from(&self, peer: std::net::IpAddr) {
        let is_hub = self
            .status
            .lock()
            .is_ok_and(|s| s.ghosthub_url.is_some() && s.hub_addrs.contains(&peer));
        if !is_hub {
            return;
        }
        if let Ok(mut w) = self.hub_probe_woke.lock() {
            if w.is_some_and(|t| t.elapsed() < Duration::from_secs(10)) {
                return;
            }
            *w = Some(std::time::Instant::now());
        }
        self.wake_hub.notify_one();
    }

    pub fn code_matches(&self, code: &str) -> bool {
        self.status
            .lock()
            .map(|s| !code.is_empty() && s.code.eq_ignore_ascii_case(code.trim()))
            .unwrap_or(false)
    }

    /// Pairs with a GhostHub: stores its URL in the configuration file and registers now.
    pub async fn set_ghosthub(&self, url: Option<String>) -> Result<Option<Registration>, String> {
        let url = url
            .map(|u| u.trim().trim_end_matches('/').to_string())
            .filter(|u| !u.is_empty());
        if let Some(u) = &url {
            if !(u.starts_with("http://") || u.starts_with("https://"))
                || u.contains(char::is_whitespace)
            {
                return Err("the GhostHub URL must start with http:// or https://".into());
            }
            // Where we will POST every minute: the same rule as sources.
            self.engine.check_outbound(u).await?;
        }
        crate::settings::save_ghosthub(&self.config_path(), url.as_deref())
            .map_err(|e| e.to_string())?;
        let old = {
            let mut s = self
                .status
                .lock()
                .map_err(|_| "state poisoned".to_string())?;
            std::mem::replace(&mut s.ghosthub_url, url.clone())
        };
        if let Some(old) = old.filter(|o| Some(o) != url.as_ref()) {
            hub::post(
                self.engine.outbound_client(),
                &hub::unregister_url(&old),
                &json!({"name": self.instance}),
            )
            .await;
        }
        let r = self.register_once().await;
        self.wake_hub.notify_one();
        Ok(r)
    }

    /// Each advertised URL fetched from this machine, with firewall hints.
    pub async fn reachability(&self) -> Reachability {
        let urls = self.urls();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .build()
            .ok();
        let mut checks = Vec::new();
        for u in urls {
            let detail = match &client {
                Some(c) => match c.get(format!("{u}/api/health")).send().await {
                    Ok(r) if r.status().is_success() => Ok("answers".to_string()),
                    Ok(r) => Err(format!("HTTP {}", r.status().as_u16())),
                    Err(e) => Err(if e.is_timeout() {
                        "timed out".into()
                    } else {
                        "cannot connect".into()
                    }),
                },
                None => Err("no HTTP client".into()),
            };
            checks.push(ReachabilityCheck {
                ok: detail.is_ok(),
                detail: detail.unwrap_or_else(|e| e),
                url: u,
            });
        }
        let port = self.port;
        let udp = self
            .status
            .lock()
            .ok()
            .and_then(|s| s.udp_port)
            .unwrap_or(8766);
        let mut hints = Vec::new();
        if checks.iter().any(|c| !c.ok) {
            hints.push(format!("Some addresses do not answer even from this machine: a firewall may block TCP {port}."));
        }
        hints.push(format!(
            "Other devices need TCP {port} (API and streams), UDP {udp} (discovery without multicast) and UDP 5353 (mDNS) open to the LAN."
        ));
        if cfg!(target_os = "windows") {
            hints.push(format!("netsh advfirewall firewall add rule name=\"GhostStream\" dir=in action=allow protocol=TCP localport={port} profile=private"));
            hints.push(format!("netsh advfirewall firewall add rule name=\"GhostStream discovery\" dir=in action=allow protocol=UDP localport={udp},5353 profile=private"));
        } else if cfg!(target_os = "linux") {
            hints.push(format!("With ufw: sudo ufw allow {port}/tcp && sudo ufw allow {udp}/udp && sudo ufw allow 5353/udp"));
        }
        Reachability { checks, hints }
    }

    /// Unregisters everywhere, then stops.
    pub async fn stop(&self) {
        self.stop.cancel();
        let hub = self.status.lock().ok().and_then(|s| s.ghosthub_url.clone());
        if let Some(hub) = hub {
            let _ = tokio::time::timeout(
                Duration::from_secs(3),
                hub::post(
                    self.engine.outbound_client(),
                    &hub::unregister_url(&hub),
                    &json!({"name": self.instance}),
                ),
            )
            .await;
        }
        let adv = self.advertiser.lock().ok().and_then(|mut g| g.take());
        if let Some(a) = adv {
            let _ = tokio::task::spawn_blocking(move || a.shutdown()).await;
        }
    }
}
