//! The HTTP face of GhostStream: REST routes, HLS and download serving, WebSocket
//! progress, and the headless `ghoststream` binary. `router(state)` is the in-process seam;
//! [`serve`] runs it on a bound listener until a shutdown future resolves.
#![forbid(unsafe_code)]

mod auth;
mod clients;
mod error;
mod files;
mod routes;
mod ws;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use axum::Router;
use ghoststream_engine::Engine;
use std::future::Future;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

pub use clients::Clients;
pub use error::{ApiError, ApiResult};

// Dev-dependencies of the end-to-end suite.
#[cfg(test)]
use {reqwest as _, tempfile as _, tokio_tungstenite as _};
// Used by the binary only.
use {anyhow as _, clap as _, ghoststream_media as _, tracing_subscriber as _};

/// Shared state of the HTTP layer. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub clients: Clients,
    pub ws: Arc<WsSettings>,
}

/// WebSocket limits and cadence.
pub struct WsSettings {
    pub max_connections: usize,
    pub ping_interval: Duration,
    pub missed_pongs: u32,
    pub queue_len: usize,
    pub open: AtomicUsize,
}

impl AppState {
    pub fn new(engine: Engine) -> Self {
        let server = &engine.config().server;
        let ws = WsSettings {
            max_connections: server.ws_max_connections,
            ping_interval: Duration::from_millis(server.ws_ping_interval_ms.max(10)),
            missed_pongs: 3,
            queue_len: 256,
            open: AtomicUsize::new(0),
        };
        AppState {
            engine,
            clients: Clients::default(),
            ws: Arc::new(ws),
        }
    }
}

/// Every route of the contract.
pub fn router(state: AppState) -> Router {
    let max_body = state.engine.config().server.max_body_bytes;
    let api = Router::new()
        .route("/api/health", get(routes::ops::health))
        .route("/health", get(routes::ops::health))
        .route("/api/health/detailed", get(routes::ops::health_detailed))
        .route("/api/ready", get(routes::ops::ready))
        .route("/api/live", get(routes::ops::live))
        .route("/api/capabilities", get(routes::ops::capabilities))
        .route("/capabilities", get(routes::ops::capabilities))
        .route("/api/stats", get(routes::ops::stats))
        .route("/api/clients", get(routes::ops::clients))
        .route("/api/streams/shared", get(routes::ops::shared))
        .route("/api/cleanup/stats", get(routes::ops::cleanup_stats))
        .route("/api/cleanup/run", post(routes::ops::cleanup_run))
        .route("/api/probe", post(routes::ops::probe))
        .route("/api/transcode/start", post(routes::jobs::start))
        .route("/transcode", post(routes::jobs::start))
        .route("/api/transcode/jobs", get(routes::jobs::list))
        .route("/api/transcode/{id}/status", get(routes::jobs::status))
        .route(
            "/transcode/{id}",
            get(routes::jobs::status).delete(routes::jobs::cancel),
        )
        .route("/api/transcode/{id}/cancel", post(routes::jobs::cancel))
        .route("/api/transcode/{id}", delete(routes::jobs::delete))
        .route("/api/transcode/{id}/stream", get(routes::jobs::stream_info))
        .route("/api/transcode/{id}/leave", post(routes::jobs::leave))
        .route("/api/transcode/{id}/log", get(routes::jobs::log))
        .route("/stream/{id}", get(routes::stream::bad_path))
        .route("/stream/{id}/{*file}", get(routes::stream::stream_file))
        .route("/download/{id}", get(routes::stream::download))
        .route("/ws/progress", get(ws::progress));
    api.fallback(routes::ops::not_found)
        .method_not_allowed_fallback(routes::ops::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::api_key,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            clients::track,
        ))
        .layer(axum::middleware::from_fn(auth::json_errors))
        .layer(axum::middleware::from_fn(auth::cors))
        .with_state(state)
}

/// Serves `router(state)` on `listener` until `shutdown` resolves; then stops the engine
/// (every ffmpeg child with it), bounded by the configured shutdown timeout.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let engine = state.engine.clone();
    let grace = Duration::from_secs(engine.config().server.shutdown_timeout.max(1));
    let app = router(state);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let mut stop_rx2 = stop_rx.clone();
    let engine2 = engine.clone();
    // Stop jobs as soon as shutdown starts, so open streams end and connections close.
    let stopper = tokio::spawn(async move {
        let _ = stop_rx2.wait_for(|s| *s).await;
        engine2.shutdown(grace).await;
    });
    let r = tokio::select! {
        r = server => r,
        _ = async {
            let mut rx = stop_rx;
            let _ = rx.wait_for(|s| *s).await;
            tokio::time::sleep(grace + Duration::from_secs(2)).await;
        } => Ok(()),
    };
    let _ = tokio::time::timeout(grace + Duration::from_secs(1), stopper).await;
    engine.shutdown(grace).await;
    r
}
