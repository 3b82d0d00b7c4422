//! Who is talking to us: names from `X-GhostStream-Client` and WebSocket `identify`.

use ghoststream_types::ClientInfo;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Default)]
pub struct Clients(Arc<Mutex<Inner>>);

#[derive(Default)]
struct Inner {
    http: HashMap<String, Instant>,
    ws: HashMap<u64, Option<String>>,
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
    pub fn ws_open(&self, id: u64) {
        if let Ok(mut g) = self.0.lock() {
            g.ws.insert(id, None);
        }
    }
    pub fn ws_identify(&self, id: u64, name: &str) {
        if let Ok(mut g) = self.0.lock() {
            g.ws.insert(id, Some(name.chars().take(100).collect()));
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
                .map(|(id, name)| ClientInfo {
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
