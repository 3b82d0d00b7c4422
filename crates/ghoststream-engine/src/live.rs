//! Settings that change while the server runs (the dashboard's Settings view applies
//! them without a restart). Everything else in [`Config`] is fixed for the server's life.

use crate::config::{Config, TokenMode};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub max_concurrent_jobs: u32,
    pub job_tokens: TokenMode,
    pub api_key: Option<String>,
    pub prefer_hw_accel: bool,
    pub library_roots: Vec<PathBuf>,
    /// `security.allowed_targets`, validated.
    pub allowed_targets: Vec<String>,
    pub priority: ghoststream_types::Priority,
    pub games: Vec<String>,
    pub when_playing: ghoststream_types::WhenPlaying,
    pub resume_delay_seconds: u32,
    pub throttle_ahead_seconds: u32,
    pub schedule: Vec<ghoststream_types::ScheduleWindow>,
    pub outside_window: ghoststream_types::OutsideWindow,
}

impl Live {
    pub fn from_config(c: &Config) -> Live {
        Live {
            max_concurrent_jobs: c.transcoding.max_concurrent_jobs.max(1),
            job_tokens: c.security.job_tokens,
            api_key: c.security.api_key.clone().filter(|k| !k.is_empty()),
            prefer_hw_accel: c.hardware.prefer_hw_accel,
            library_roots: c.transcoding.library_roots.clone(),
            allowed_targets: c.security.allowed_targets.clone(),
            priority: c.gaming.priority,
            games: c.gaming.games.clone(),
            when_playing: c.gaming.when_playing,
            resume_delay_seconds: c.gaming.resume_delay_seconds,
            throttle_ahead_seconds: c.throttle.ahead_seconds,
            schedule: c.gaming.schedule.clone(),
            outside_window: c.gaming.outside_window,
        }
    }
}
