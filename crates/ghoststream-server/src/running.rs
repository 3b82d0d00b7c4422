//! A server started in this process: what `ghoststream serve` runs, and what the tray
//! app starts, stops and restarts without a child process.

use crate::journal::Journal;
use crate::{serve, App};
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
    pub fn code(&self) -> ghoststream_types::ErrorCode {
        use ghoststream_types::ErrorCode;
        match self {
            StartError::NoFfmpeg(_) => ErrorCode::FfmpegMissing,
            StartError::Bind { .. } => ErrorCode::PortUnavailable,
            StartError::Engine(_) => ErrorCode::EngineFailed,
        }
    }
}

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    pub state: App,
    stop_tx: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Binds, opens the engine (state database, reconciliation) and serves.
    pub async fn start(config: Config, hardware: Hardware) -> Result<Running, StartError> {
        Self::start_with(config, hardware, Journal::default()).await
    }

    /// [`Running::start`], writing to `journal`: the app keeps one application log across
    /// the servers it starts and stops. A failed start is written there too.
    pub async fn start_with(
        config: Config,
        hardware: Hardware,
        journal: Journal,
    ) -> Result<Running, StartError> {
        let r = Self::start_inner(config, hardware, journal.clone()).await;
        match &r {
            Ok(r) => {
                let hw = r.engine().hardware().available();
                journal.info(format!(
                    "server started, version {}: listening on {} (port {}); encoders: {}",
                    env!("CARGO_PKG_VERSION"),
                    r.addr,
                    r.addr.port(),
                    hw.iter().map(|h| h.as_str()).collect::<Vec<_>>().join(", ")
                ));
            }
            Err(e) => journal.push(
                ghoststream_types::LogLevel::Error,
                format!("server could not start: {e}"),
            ),
        }
        r
    }

    async fn start_inner(
        config: Config,
        hardware: Hardware,
        journal: Journal,
    ) -> Result<Running, StartError> {
        if hardware.ffmpeg_version.is_none() {
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
        let engine = ghoststream_engine::start(config, hardware)
            .await
            .map_err(|e| StartError::Engine(e.to_string()))?;
        let shown = if local.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            local.ip().to_string()
        };
        engine.set_listen_port(local.port());
        // Callbacks have no request to take a Host from: the advertised URL, else this
        // address.
        let base = engine
            .config()
            .server
            .advertised_url
            .clone()
            .map(|u| u.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("http://{shown}:{}", local.port()));
        engine.set_callback_answer(std::sync::Arc::new(move |snap| {
            crate::links::answer(snap, &base)
        }));
        let mut state = App::new(engine);
        state.journal = journal;
        state.push_status_changes();
        state
            .bound_port
            .store(local.port(), std::sync::atomic::Ordering::Relaxed);
        // Live ingest listens next to HTTP (RTMP and SRT ports of their own), before
        // discovery advertises them.
        let host = state.engine.config().server.host.clone();
        state.engine.ingest().listen(&host).await;
        let d = crate::discovery::Discovery::start(
            state.engine.clone(),
            state.config_path.clone(),
            local.port(),
        )
        .await;
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
        self.state.journal.info("server stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn count(dir: &str) -> usize {
        std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
    }

    /// The tray stops and starts the server in its own process: each stop must free the
    /// engine and everything it held, or every restart leaks one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stopping_the_server_frees_the_engine_every_time() {
        let dir = tempfile::tempdir().unwrap();
        let hw =
            ghoststream_media::hw::detect(std::path::Path::new("ffmpeg"), Duration::from_secs(10))
                .await;
        let mut after_first = None;
        for i in 0..20 {
            let mut cfg = Config::default();
            cfg.server.host = "127.0.0.1".into();
            cfg.server.port = 0;
            cfg.mdns.enabled = false;
            cfg.discovery.udp_enabled = false;
            cfg.state_directory = Some(dir.path().to_path_buf());
            let r = Running::start(cfg, hw.clone()).await.unwrap();
            let weak = r.engine().downgrade();
            let addr = r.addr;
            r.stop().await;
            let mut waited = 0;
            while weak.is_alive() && waited < 100 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                waited += 1;
            }
            assert!(!weak.is_alive(), "start {i}: the engine outlived its stop");
            assert!(
                std::net::TcpStream::connect(addr).is_err(),
                "start {i}: still listening"
            );
            let mut now = (count("/proc/self/fd"), count("/proc/self/task"));
            // The store's database closes on its own thread just after the engine goes:
            // wait for it (a leak never comes down).
            if let Some((fds, _)) = after_first {
                let mut waited = 0;
                while now.0 > fds + 2 && waited < 100 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    now = (count("/proc/self/fd"), count("/proc/self/task"));
                    waited += 1;
                }
            }
            match after_first {
                None => after_first = Some(now),
                Some((fds, threads)) => {
                    assert!(
                        now.0 <= fds + 2,
                        "start {i}: {} fds, {fds} after the first: {:?}",
                        now.0,
                        std::fs::read_dir("/proc/self/fd")
                            .map(|d| d
                                .flatten()
                                .filter_map(|e| std::fs::read_link(e.path()).ok())
                                .collect::<Vec<_>>())
                            .unwrap_or_default()
                    );
                    // The runtime's blocking pool may keep a few idle threads for a while.
                    assert!(
                        now.1 <= threads + 4,
                        "start {i}: {} threads, {threads} after the first",
                        now.1
                    );
                }
            }
        }
    }
}
