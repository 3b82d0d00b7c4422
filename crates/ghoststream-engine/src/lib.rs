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

pub use config::{Config, TokenMode};
pub use engine::{CallbackAnswer, Engine, Snapshot, StreamFile, WeakEngine};
pub use error::EngineError;
pub use live::Live;

#[cfg(test)]
use tempfile as _;
