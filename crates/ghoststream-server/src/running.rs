//! A server started in this process: what `ghoststream serve` runs, and what the tray
//! app starts, stops and restarts without a child process.

use crate::{serve, AppState};
use ghoststream_engine::{Config, Engine};
use ghoststream_media::hw::Hardware;
use std::net::SocketAddr;
use tokio::sync::oneshot;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("ffmpeg was not found at '{0}': install it (Debian: apt install ffmpeg) or set transcoding.ffmpeg_path")]
    NoFfmpeg(String),
    #[error("cannot listen on {addr}: {cause}")]
    Bind { addr: String, cause: String },
    #[error("{0}")]
    Engine(String),
}

impl StartError {
    pub fn code(&self) -> &'static str {
        match self {
            StartError::NoFfmpeg(_) => "ffmpeg-missing",
            StartError::Bind { .. } => "port-unavailable",
            StartError::Engine(_) => "engine-failed",
        }
    }
}

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    stop_tx: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Binds, opens the engine (state database, reconciliation) and serves.
    pub async fn start(config: Config, hardware: Hardware) -> Result<Running, StartError> {
        if hardware.ffmpeg_version == "not found" {
            return Err(StartError::NoFfmpeg(
                config.transcoding.ffmpeg_path.display().to_string(),
            ));
        }
        crate::listen::raise_fd_limit();
        let addr = format!("{}:{}", config.server.host, config.server.port);
        let listener =
            tokio::net::TcpListener::bind(&addr)
                .await
                .map_err(|e| StartError::Bind {
                    addr: addr.clone(),
                    cause: e.to_string(),
                })?;
        let local = listener.local_addr().map_err(|e| StartError::Bind {
            addr,
            cause: e.to_string(),
        })?;
        let engine = Engine::start(config, hardware)
            .await
            .map_err(|e| StartError::Engine(e.to_string()))?;
        let shown = if local.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            local.ip().to_string()
        };
        engine.set_listen_port(local.port());
        engine.set_public_base(format!("http://{shown}:{}", local.port()));
        let state = AppState::new(engine);
        state
            .bound_port
            .store(local.port(), std::sync::atomic::Ordering::Relaxed);
        let d = crate::discovery::Discovery::start(state.clone(), local.port()).await;
        let _ = state.discovery.set(d);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, state.clone(), async move {
            let _ = stop_rx.await;
        }));
        Ok(Running {
            addr: local,
            state,
            stop_tx: Some(stop_tx),
            task,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.state.engine
    }

    /// Resolves when the server task ends on its own (it should not).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Graceful stop: jobs end, every ffmpeg child is gone, the port is released.
    pub async fn stop(mut self) {
        // Goodbye first: mDNS goodbye packets and GhostHub unregistration.
        if let Some(d) = self.state.discovery() {
            d.stop().await;
        }
        if let Some(tx) = self.stop_tx.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}
