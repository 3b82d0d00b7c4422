//! `WS /ws/jobs/{id}/log` (our contract) and `WS /api/jobs/{id}/stream` (the seed's): a
//! job's log, live. The last lines first (up to 200), then each new line as ffmpeg or the
//! engine writes it, one text message a line. The job's control token is needed (header
//! `X-GhostStream-Control-Token`, or `?control_token=` since browsers cannot set headers
//! on a WebSocket), or the owner's dashboard page; connections count against the same
//! limit as `/ws/progress`.

use crate::error::ApiError;
use crate::App;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use tokio::sync::broadcast::error::RecvError;

/// Lines of the log sent before the live ones.
const TAIL_LINES: usize = 200;

#[derive(serde::Deserialize)]
pub struct LogQuery {
    control_token: Option<String>,
}

pub async fn job_log(
    State(s): State<App>,
    Path(raw): Path<String>,
    Query(q): Query<LogQuery>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let id = match crate::routes::job_id(&raw) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    if let Err(e) =
        crate::routes::jobs::authorize(&s, id, peer, &headers, q.control_token.as_deref()).await
    {
        return e.into_response();
    }
    let (text, lines) = match s.engine.log_follow(id).await {
        Ok(f) => f,
        Err(e) => return ApiError::from(e).into_response(),
    };
    ws.max_message_size(4096)
        .on_upgrade(move |socket| follow(s, socket, text, lines))
}

async fn follow(
    s: App,
    socket: WebSocket,
    text: String,
    mut lines: tokio::sync::broadcast::Receiver<String>,
) {
    let open = s.ws.open.fetch_add(1, Ordering::SeqCst) + 1;
    let (mut sink, mut stream) = socket.split();
    if open <= s.ws.max_connections {
        let all: Vec<&str> = text.lines().collect();
        let tail = &all[all.len().saturating_sub(TAIL_LINES)..];
        let mut ok = true;
        for l in tail {
            ok = sink.send(Message::Text((*l).into())).await.is_ok();
            if !ok {
                break;
            }
        }
        while ok {
            tokio::select! {
                line = lines.recv() => {
                    let msg = match line {
                        Ok(l) => l,
                        Err(RecvError::Lagged(n)) => format!("… {n} lines skipped (the client fell behind)"),
                        Err(RecvError::Closed) => break,
                    };
                    ok = sink.send(Message::Text(msg.into())).await.is_ok();
                }
                m = stream.next() => match m {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    _ => {}
                },
            }
        }
    }
    let _ = sink.send(Message::Close(None)).await;
    s.ws.open.fetch_sub(1, Ordering::SeqCst);
}
