//! Who is talking to us: names from `X-GhostStream-Client` and WebSocket `identify`.

use ghoststream_types::{ClientInfo, ClientKind, JobClient};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Default)]
pub struct Clients(Arc<Mutex<Inner>>);

#[derive(Default)]
struct Inner {
    http: HashMap<String, Instant>,
    ws: HashMap<u64, (IpAddr, Option<String>)>,
}

const HTTP_SEEN_FOR: Duration = Duration::from_secs(300);

impl Clients {
    pub fn seen_http(&self, name: &str) {
        if let Ok(mut g) = self.0.lock() {
            if g.http.len() < 10_000 || g.http.contains_key(name) {
                g.http
                    .insert(name.chars().take(100).collect(), Instant::now());
            }
        }
    }
    pub fn ws_open(&self, id: u64, peer: IpAddr) {
        if let Ok(mut g) = self.0.lock() {
            g.ws.insert(id, (peer, None));
        }
    }
    pub fn ws_identify(&self, id: u64, name: &str) {
        if let Ok(mut g) = self.0.lock() {
            if let Some(e) = g.ws.get_mut(&id) {
                e.1 = Some(name.chars().take(100).collect());
            }
        }
    }

    /// Who is asking for a job: the name it gave (`X-GhostStream-Client`), else the name
    /// a WebSocket from the same address identified with, else its User-Agent's product.
    pub fn job_client(
        &self,
        header: Option<&str>,
        user_agent: Option<&str>,
        peer: IpAddr,
    ) -> JobClient {
        let clean = |v: &str| -> Option<String> {
            let v: String = v
                .trim()
                .chars()
                .filter(|c| !c.is_control())
                .take(100)
                .collect();
            (!v.is_empty()).then_some(v)
        };
        let identified = || {
            let g = self.0.lock().ok()?;
            let mut names: Vec<&String> =
                g.ws.values()
                    .filter(|(ip, _)| *ip == peer)
                    .filter_map(|(_, n)| n.as_ref())
                    .collect();
            names.sort();
            names.first().map(|n| n.to_string())
        };
        let product = user_agent.and_then(|ua| {
            // A browser by its own name, not the "Mozilla/5.0" every one of them starts with.
            if ua.starts_with("Mozilla/") {
                let browser = ["Edg", "OPR", "Firefox", "Chrome", "Safari"]
                    .into_iter()
                    .find(|b| ua.contains(&format!("{b}/")))
                    .unwrap_or("browser");
                return Some(browser.replace("Edg", "Edge").replace("OPR", "Opera"));
            }
            let first = ua.split_whitespace().next()?;
            clean(first.split('/').next().unwrap_or(first))
        });
        let name = header
            .and_then(clean)
            .or_else(identified)
            .or(product)
            .unwrap_or_else(|| "unknown".into());
        JobClient {
            kind: classify(&name, user_agent.unwrap_or_default()),
            name,
            address: Some(peer.to_canonical().to_string()),
        }
    }
    pub fn ws_close(&self, id: u64) {
        if let Ok(mut g) = self.0.lock() {
            g.ws.remove(&id);
        }
    }
    pub fn list(&self) -> Vec<ClientInfo> {
        let Ok(mut g) = self.0.lock() else {
            return Vec::new();
        };
        g.http.retain(|_, t| t.elapsed() < HTTP_SEEN_FOR);
        let mut out: Vec<ClientInfo> =
            g.ws.iter()
                .map(|(id, (_, name))| ClientInfo {
                    id: Some(format!("ws-{id}")),
                    client: name.clone().unwrap_or_else(|| "unknown".into()),
                    transport: "ws".into(),
                })
                .collect();
        let ws_names: Vec<String> = out.iter().map(|c| c.client.clone()).collect();
        for name in g.http.keys() {
            if !ws_names.contains(name) {
                out.push(ClientInfo {
                    id: None,
                    client: name.clone(),
                    transport: "http".into(),
                });
            }
        }
        out.sort_by(|a, b| a.client.cmp(&b.client));
        out
    }
}

/// The kind of program a client name and User-Agent belong to.
pub fn classify(name: &str, user_agent: &str) -> ClientKind {
    let n = name.to_ascii_lowercase();
    let ua = user_agent.to_ascii_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| n.contains(w) || ua.contains(w));
    if n.contains("ghosthub") {
        ClientKind::Ghosthub
    } else if n == "ghoststream-app" {
        ClientKind::App
    } else if n == "ghoststream-dashboard" || ua.starts_with("mozilla/") {
        ClientKind::Browser
    } else if any(&["sdk", "python", "httpx", "aiohttp", "requests"]) {
        ClientKind::Sdk
    } else {
        ClientKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_names_who_asked() {
        let c = Clients::default();
        let lan: IpAddr = "192.168.1.20".parse().unwrap();
        // The header wins; GhostHub by name.
        let j = c.job_client(Some("GhostHub/1.4"), Some("python-requests/2.31"), lan);
        assert_eq!(
            (j.name.as_str(), j.kind),
            ("GhostHub/1.4", ClientKind::Ghosthub)
        );
        assert_eq!(j.address.as_deref(), Some("192.168.1.20"));
        // No header: a WebSocket from the same address that identified itself.
        c.ws_open(7, lan);
        c.ws_identify(7, "ghosthub-pi");
        let j = c.job_client(None, Some("python-requests/2.31"), lan);
        assert_eq!(
            (j.name.as_str(), j.kind),
            ("ghosthub-pi", ClientKind::Ghosthub)
        );
        // Elsewhere, neither: the User-Agent's product and its kind.
        let other: IpAddr = "192.168.1.21".parse().unwrap();
        let j = c.job_client(None, Some("python-httpx/0.27"), other);
        assert_eq!((j.name.as_str(), j.kind), ("python-httpx", ClientKind::Sdk));
        let j = c.job_client(None, Some("Mozilla/5.0 (X11; Linux x86_64)"), other);
        assert_eq!((j.name.as_str(), j.kind), ("browser", ClientKind::Browser));
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
        assert_eq!(c.job_client(None, Some(chrome), other).name, "Chrome");
        let j = c.job_client(Some("  "), None, other);
        assert_eq!((j.name.as_str(), j.kind), ("unknown", ClientKind::Other));
        // An IPv4 peer on a dual-stack socket reads as IPv4.
        let mapped: IpAddr = "::ffff:10.0.0.5".parse().unwrap();
        assert_eq!(
            c.job_client(None, None, mapped).address.as_deref(),
            Some("10.0.0.5")
        );
    }
}
