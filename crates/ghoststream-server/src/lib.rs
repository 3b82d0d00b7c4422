//! The HTTP face of GhostStream: REST routes, HLS and download serving, WebSocket
//! progress, and the headless `ghoststream` binary. `router(state)` is the in-process seam;
//! [`serve`] runs it on a bound listener until a shutdown future resolves.
#![forbid(unsafe_code)]

mod app;
mod auth;
mod clients;
pub mod discovery;
mod error;
mod files;
pub mod journal;
pub mod links;
mod listen;
mod live;
mod metrics;
pub mod net;
mod openapi;
mod operations;
mod resources;
mod routes;
mod running;
pub mod settings;
mod ws;
mod ws_log;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use std::future::Future;
use std::time::Duration;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use app::{job_id, App, WsSettings};
pub use clients::Clients;
pub use error::{ApiError, ApiResult};
pub use operations::{Op, OPS};
pub use running::{Running, StartError};

// Dev-dependencies of the end-to-end suite.
#[cfg(test)]
use {rml_rtmp as _, tempfile as _, tokio_tungstenite as _};
// Used by the binary only.
use {anyhow as _, clap as _, ghoststream_media as _, tracing_subscriber as _};

/// Every route of the contract. A documented route is one `routes!` line: its method,
/// path and OpenAPI entry come from the handler's `#[utoipa::path]` annotation. The
/// `.route` lines are undocumented aliases and pages.
pub(crate) fn routes() -> OpenApiRouter<App> {
    use routes::{dashboard, ingest, jobs, ops, pairing, stream, uploads};
    OpenApiRouter::with_openapi(openapi::Api::openapi())
        .routes(routes!(ops::health))
        .routes(routes!(ops::health_detailed))
        .routes(routes!(ops::ready))
        .routes(routes!(ops::live))
        .routes(routes!(ops::capabilities))
        .routes(routes!(ops::stats))
        .routes(routes!(ops::version))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::clients))
        .routes(routes!(ops::shared))
        .routes(routes!(ops::cleanup_stats))
        .routes(routes!(ops::cleanup_run))
        .routes(routes!(ops::probe))
        .routes(routes!(ops::compile))
        .routes(routes!(jobs::start))
        .routes(routes!(jobs::list))
        .routes(routes!(jobs::status))
        .routes(routes!(jobs::cancel))
        .routes(routes!(jobs::delete))
        .routes(routes!(jobs::stream_info))
        .routes(routes!(jobs::leave))
        .routes(routes!(jobs::pause))
        .routes(routes!(jobs::resume))
        .routes(routes!(jobs::retry))
        .routes(routes!(jobs::log))
        .routes(routes!(stream::download))
        .routes(routes!(dashboard::status))
        .routes(routes!(dashboard::pause))
        .routes(routes!(dashboard::resume))
        .routes(routes!(dashboard::resources))
        .routes(routes!(dashboard::daily))
        .routes(routes!(dashboard::logs))
        .routes(routes!(dashboard::hourly))
        .routes(routes!(dashboard::get_settings, dashboard::put_settings))
        .routes(routes!(pairing::rendezvous))
        .routes(routes!(pairing::rotate))
        .routes(routes!(pairing::announce_now))
        .routes(routes!(pairing::reachability))
        .routes(routes!(pairing::pair_info))
        .routes(routes!(uploads::single))
        .routes(routes!(uploads::init))
        .routes(routes!(uploads::chunk))
        .routes(routes!(uploads::complete))
        .routes(routes!(uploads::active))
        .routes(routes!(uploads::get_upload, uploads::delete_upload))
        .routes(routes!(uploads::tus_create))
        .routes(routes!(
            uploads::tus_head,
            uploads::tus_patch,
            uploads::tus_delete
        ))
        .routes(routes!(ingest::status))
        .routes(routes!(ingest::keys, ingest::create_key))
        .routes(routes!(ingest::rename_key, ingest::revoke_key))
        .routes(routes!(ingest::stop))
        .route("/streams/{key}/{*file}", get(ingest::file))
        .route("/api/tus/", post(uploads::tus_create))
        .route("/api/openapi.json", get(openapi::openapi_json))
        .route("/health", get(ops::health))
        .route("/capabilities", get(ops::capabilities))
        .route("/transcode", post(jobs::start))
        .route("/transcode/{id}", get(jobs::status).delete(jobs::cancel))
        .route("/stream/{id}", get(stream::bad_path))
        .route("/stream/{id}/{*file}", get(stream::stream_file))
        .route("/ws/progress", get(ws::progress))
        .route("/ws/conversion/{job_id}", get(ws::conversion))
        .route("/ws/jobs/{id}/log", get(ws_log::job_log))
        .route("/api/jobs/{id}/stream", get(ws_log::job_log))
        .route("/api/pair/ghosthub", post(pairing::pair_ghosthub))
        .route("/pair", get(pairing::pair_page))
}

/// The router of [`routes`] with the server's middlewares, serving `state`.
pub fn router(state: App) -> Router {
    let max_body = state.engine.config().server.max_body_bytes;
    let api: Router<App> = routes().split_for_parts().0;
    // The dashboard, for browsers: served from `server.ui_dir` when set.
    let api = match state.engine.config().server.ui_dir.clone() {
        Some(dir) => {
            api.fallback_service(tower_http::services::ServeDir::new(dir).not_found_service(
                axum::handler::HandlerWithoutStateExt::into_service(routes::ops::not_found),
            ))
        }
        None => api.fallback(routes::ops::not_found),
    };
    api.method_not_allowed_fallback(routes::ops::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::body_limits,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::api_key,
        ))
        .layer(axum::middleware::from_fn(auth::json_errors))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::track,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::cors,
        ))
        .with_state(state)
}

/// Serves `router(state)` on `listener` until `shutdown` resolves; then stops the engine
/// (every ffmpeg child with it), bounded by the configured shutdown timeout.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let engine = state.engine.clone();
    let server_cfg = &engine.config().server;
    let grace = Duration::from_secs(server_cfg.shutdown_timeout.max(1));
    let limits = listen::Limits {
        header_read_timeout: Duration::from_millis(server_cfg.header_read_timeout_ms.max(100)),
        max_header_bytes: server_cfg.max_header_bytes,
        max_connections: server_cfg.max_connections,
    };
    let app = router(state);
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let engine2 = engine.clone();
    // Stop jobs as soon as shutdown starts, so open streams end and connections close.
    let stopper = tokio::spawn(async move {
        let _ = stop_rx.wait_for(|s| *s).await;
        engine2.shutdown(grace).await;
    });
    listen::serve(
        listener,
        app,
        limits,
        async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        },
        grace + Duration::from_secs(2),
    )
    .await;
    let _ = tokio::time::timeout(grace + Duration::from_secs(1), stopper).await;
    engine.shutdown(grace).await;
    Ok(())
}
