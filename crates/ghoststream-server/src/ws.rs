//! WebSocket `/ws/progress`: every job's events by default, subscription filters, pings
//! every 30 s (3 missed pongs close), at most 1000 connections, and a bounded outbox per
//! connection that drops the oldest progress first and never a status change. A client
//! that sends `{"type": "watch_server"}` (the dashboard) also gets
//! `{"type": "server_status", "data": …}` now and on every change. A new connection first
//! gets `{"type": "snapshot", "data": {"jobs": […]}}`: the jobs queued or running, without
//! tokens. `/ws/conversion/{job_id}` (mkv2cast's path) is the same, for one job.

use crate::auth::has_api_key;
use crate::error::ApiError;
use crate::App;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use ghoststream_types::ErrorCode;
use ghoststream_types::{JobEvent, StatusData};
use serde_json::{json, Value};
use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::Notify;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The largest message a client may send.
const MAX_CLIENT_MESSAGE_BYTES: usize = 64 * 1024;
/// Job ids one connection may subscribe to; more are ignored.
const MAX_SUBSCRIPTIONS: usize = 1000;

pub async fn progress(
    State(s): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    ws: WebSocketUpgrade,
) -> Response {
    upgrade(s, peer, &headers, &uri, ws, Filter::All)
}

/// `/ws/conversion/{job_id}`: `/ws/progress` subscribed to one job.
pub async fn conversion(
    State(s): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    axum::extract::Path(job): axum::extract::Path<String>,
    headers: HeaderMap,
    uri: Uri,
    ws: WebSocketUpgrade,
) -> Response {
    let only = Filter::Only(std::iter::once(job.chars().take(64).collect()).collect());
    upgrade(s, peer, &headers, &uri, ws, only)
}

fn upgrade(
    s: App,
    peer: SocketAddr,
    headers: &HeaderMap,
    uri: &Uri,
    ws: WebSocketUpgrade,
    filter: Filter,
) -> Response {
    if !has_api_key(&s, headers, uri.query()) {
        return ApiError::Unauthorized(ErrorCode::ApiKeyRequired).into_response();
    }
    // A client message is a few hundred bytes; a bigger one closes the connection
    // instead of being parsed.
    ws.max_message_size(MAX_CLIENT_MESSAGE_BYTES)
        .max_frame_size(MAX_CLIENT_MESSAGE_BYTES)
        .on_upgrade(move |socket| connection(s, socket, filter, peer.ip()))
}

#[derive(Default)]
struct Outbox {
    queue: VecDeque<(bool, String)>,
    closed: bool,
}

struct Shared {
    outbox: Mutex<Outbox>,
    notify: Notify,
}

impl Shared {
    /// Queues a message. When full, the oldest progress message goes first; status
    /// changes are never dropped. Returns false when the client is hopelessly behind.
    fn push(&self, is_progress: bool, text: String, cap: usize) -> bool {
        let Ok(mut o) = self.outbox.lock() else {
            return false;
        };
        if o.queue.len() >= cap {
            if let Some(pos) = o.queue.iter().position(|(p, _)| *p) {
                o.queue.remove(pos);
            } else if is_progress {
                return true;
            }
        }
        o.queue.push_back((is_progress, text));
        let hopeless = o.queue.len() > cap * 8;
        drop(o);
        self.notify.notify_one();
        !hopeless
    }
    fn close(&self) {
        if let Ok(mut o) = self.outbox.lock() {
            o.closed = true;
        }
        self.notify.notify_one();
    }
}

enum Filter {
    All,
    Only(HashSet<String>),
}

impl Filter {
    fn wants(&self, job: &str) -> bool {
        match self {
            Filter::All => true,
            Filter::Only(set) => set.contains(job),
        }
    }
}

fn now_ts() -> f64 {
    chrono::Utc::now().timestamp_millis() as f64 / 1000.0
}

async fn connection(s: App, socket: WebSocket, filter: Filter, peer: std::net::IpAddr) {
    let open = s.ws.open.fetch_add(1, Ordering::SeqCst) + 1;
    let (mut sink, mut stream) = socket.split();
    if open > s.ws.max_connections {
        s.ws.open.fetch_sub(1, Ordering::SeqCst);
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: 1013,
                reason: Utf8Bytes::from_static("too many connections; try again later"),
            })))
            .await;
        return;
    }
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    s.clients.ws_open(id, peer);
    let shared = Arc::new(Shared {
        outbox: Mutex::new(Outbox::default()),
        notify: Notify::new(),
    });
    let writer = {
        let shared = shared.clone();
        tokio::spawn(async move {
            loop {
                let next = {
                    let Ok(mut o) = shared.outbox.lock() else {
                        break;
                    };
                    match o.queue.pop_front() {
                        Some(m) => Some(m.1),
                        None if o.closed => break,
                        None => None,
                    }
                };
                match next {
                    Some(text) => {
                        if sink.send(Message::Text(text.into())).await.is_err() {
                            break;
                        }
                    }
                    None => shared.notify.notified().await,
                }
            }
            let _ = sink.send(Message::Close(None)).await;
        })
    };
    let cap = s.ws.queue_len;
    let mut events = s.engine.subscribe();
    // Live streams starting, stalling, coming back and ending: `{"type": "live", …}`.
    let mut notices = s.engine.subscribe_notices();
    let mut filter = filter;
    // First, where things stand: the jobs queued or running.
    if let Ok(jobs) = s.engine.jobs().await {
        let live: Vec<_> = jobs
            .iter()
            .filter(|j| !j.record.status.is_terminal() && filter.wants(&j.record.id.to_string()))
            .map(|j| j.to_summary())
            .collect();
        shared.push(
            false,
            json!({"type": "snapshot", "data": {"jobs": live}}).to_string(),
            cap,
        );
    }
    let mut ping = tokio::time::interval_at(
        tokio::time::Instant::now() + s.ws.ping_interval,
        s.ws.ping_interval,
    );
    let mut missed = 0u32;
    // After `watch_server`: the server's status on each change (the dashboard's push).
    let mut status: Option<tokio::sync::watch::Receiver<u64>> = None;
    loop {
        tokio::select! {
            Some(changed) = async {
                match status.as_mut() {
                    Some(rx) => Some(rx.changed().await),
                    None => std::future::pending().await,
                }
            } => {
                if changed.is_err() {
                    status = None;
                    continue;
                }
                if let Some(text) = server_status_message(&s).await {
                    shared.push(false, text, cap);
                }
            }
            n = notices.recv() => match n {
                Ok(n @ ghoststream_types::Notice::Live { .. }) => {
                    let ghoststream_types::Notice::Live { job_id, .. } = &n else { continue };
                    if !filter.wants(job_id) {
                        continue;
                    }
                    if let Ok(text) = serde_json::to_string(&n) {
                        shared.push(false, text, cap);
                    }
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break,
            },
            ev = events.recv() => match ev {
                Ok(ev) => {
                    if !filter.wants(ev.job_id()) {
                        continue;
                    }
                    let is_progress = matches!(ev, JobEvent::Progress { .. });
                    let Ok(text) = serde_json::to_string(&ev) else { continue };
                    if !shared.push(is_progress, text, cap) {
                        break;
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    // Events were lost for this connection: send every job's current status.
                    if let Ok(jobs) = s.engine.jobs().await {
                        for j in jobs {
                            let job_id = j.record.id.to_string();
                            if !filter.wants(&job_id) {
                                continue;
                            }
                            let ev = JobEvent::StatusChange {
                                job_id,
                                data: StatusData {
                                    status: j.record.status,
                                    error_message: j.to_summary().error_message,
                                    error_code: j.record.error_code.clone(),
                                    output_size: None,
                                    output_file: None,
                                },
                            };
                            if let Ok(text) = serde_json::to_string(&ev) {
                                shared.push(false, text, cap);
                            }
                        }
                    }
                }
                Err(RecvError::Closed) => break,
            },
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    let Ok(v) = serde_json::from_str::<Value>(&t) else { continue };
                    match v.get("type").and_then(Value::as_str) {
                        Some("ping") => {
                            // Droppable like progress: a client that pings and never
                            // reads cannot grow its queue.
                            shared.push(true, json!({"type": "pong", "ts": now_ts()}).to_string(), cap);
                        }
                        Some("pong") => missed = 0,
                        Some("subscribe") => {
                            let ids = ids_of(&v);
                            let mut set = match filter {
                                Filter::All => HashSet::new(),
                                Filter::Only(set) => set,
                            };
                            for i in ids {
                                if set.len() >= MAX_SUBSCRIPTIONS {
                                    break;
                                }
                                set.insert(i);
                            }
                            filter = Filter::Only(set);
                        }
                        Some("unsubscribe") => {
                            let ids = ids_of(&v);
                            if let Filter::Only(set) = &mut filter {
                                set.retain(|i| !ids.contains(i));
                            } else {
                                // From "everything", unsubscribing leaves every other job.
                                let all: HashSet<String> = s.engine.jobs().await.unwrap_or_default()
                                    .into_iter().map(|j| j.record.id.to_string()).filter(|i| !ids.contains(i)).collect();
                                filter = Filter::Only(all);
                            }
                        }
                        Some("subscribe_all") => filter = Filter::All,
                        Some("watch_server") => {
                            let mut rx = s.status_changes();
                            rx.mark_unchanged();
                            status = Some(rx);
                            if let Some(text) = server_status_message(&s).await {
                                shared.push(false, text, cap);
                            }
                        }
                        Some("identify") => {
                            if let Some(name) = v.get("client").and_then(Value::as_str) {
                                s.clients.ws_identify(id, name);
                            }
                        }
                        _ => {}
                    }
                }
                Some(Ok(Message::Pong(_))) => missed = 0,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if missed >= s.ws.missed_pongs {
                    break;
                }
                missed += 1;
                shared.push(true, json!({"type": "ping", "ts": now_ts()}).to_string(), cap);
            }
        }
    }
    shared.close();
    let _ = writer.await;
    s.clients.ws_close(id);
    s.ws.open.fetch_sub(1, Ordering::SeqCst);
}

/// `{"type": "server_status", "data": ServerStatus}`.
async fn server_status_message(s: &App) -> Option<String> {
    let status = s.server_status().await.ok()?;
    Some(json!({"type": "server_status", "data": status}).to_string())
}

fn ids_of(v: &Value) -> HashSet<String> {
    v.get("job_ids")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter(|id| id.len() <= 64)
                .take(MAX_SUBSCRIPTIONS)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Shared {
        Shared {
            outbox: Mutex::new(Outbox::default()),
            notify: Notify::new(),
        }
    }

    fn queued(s: &Shared) -> Vec<(bool, String)> {
        s.outbox.lock().unwrap().queue.iter().cloned().collect()
    }

    #[test]
    fn a_client_that_falls_behind_gets_fewer_progress_messages_and_every_status() {
        let s = shared();
        for i in 0..10 {
            assert!(s.push(true, format!("p{i}"), 4));
        }
        // Progress is thinned to the newest ones that fit.
        assert_eq!(
            queued(&s).iter().map(|m| m.1.as_str()).collect::<Vec<_>>(),
            ["p6", "p7", "p8", "p9"]
        );
        // A status change pushes a progress message out; it is never dropped itself.
        assert!(s.push(false, "ready".into(), 4));
        let q = queued(&s);
        assert_eq!(q.len(), 4);
        assert_eq!(q.last().unwrap(), &(false, "ready".to_string()));
        // Once only status changes are left, new progress is not queued at all.
        for i in 0..4 {
            assert!(s.push(false, format!("s{i}"), 4));
        }
        assert!(s.push(true, "late".into(), 4));
        assert!(queued(&s).iter().all(|m| !m.0));
    }

    #[test]
    fn a_client_hopelessly_behind_on_status_changes_is_let_go() {
        let s = shared();
        let mut kept = 0;
        while s.push(false, "status".into(), 4) {
            kept += 1;
            assert!(kept < 100);
        }
        assert_eq!(kept, 4 * 8);
    }
}
