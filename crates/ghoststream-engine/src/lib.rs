//! The GhostStream engine: jobs, the queue, HLS segment maps, tokens, persistence and
//! events. It knows nothing of HTTP; the server and the desktop shell drive it through one
//! cloneable [`Engine`] handle (commands on a channel, replies on oneshots, job events on a
//! broadcast).
#![forbid(unsafe_code)]

mod actor;
pub mod config;
pub mod egress;
mod engine;
mod error;
pub mod gaming;
pub mod gpu;
pub mod ingest;
pub mod job;
pub mod live;
mod prober;
pub mod redact;
pub mod runner;
pub mod schedule;
pub mod segments;
mod shared;
pub mod store;
pub mod tokens;
pub mod uploads;

pub use config::{Config, TokenMode};
pub use engine::{CallbackAnswer, Engine, Snapshot, StreamFile, WeakEngine};
pub use error::EngineError;
pub use live::Live;

/// The engine with its watchers: games and other programs' NVENC sessions
/// (`gaming`), the weekly schedule (`schedule`), and each job's share of the GPU
/// (`gpu`). What a server runs.
pub async fn start(
    config: Config,
    hardware: ghoststream_media::hw::Hardware,
) -> Result<Engine, engine::anyhow_free::Error> {
    let poll = std::time::Duration::from_secs(config.gaming.poll_seconds.max(1));
    let engine = Engine::start(config, hardware).await?;
    gaming::spawn(engine.downgrade(), poll);
    schedule::spawn(engine.downgrade(), engine::Clock::Wall);
    gpu::spawn(engine.downgrade());
    Ok(engine)
}

#[cfg(test)]
use tempfile as _;
