//! Everything that touches ffmpeg and ffprobe: probing sources, deciding what to copy and
//! what to transcode, building argv with a typed builder, parsing `-progress` output,
//! picking the first real error line, proving hardware encoders, and running children so
//! that none outlives its job or the server.

pub mod command;
pub mod errors;
pub mod fmp4;
pub mod hw;
pub mod mkv;
pub mod mp4;
pub mod plan;
pub mod probe;
pub mod process;
pub mod progress;
pub mod source;
pub mod subtitles;

pub use errors::MediaError;

#[cfg(test)]
use tempfile as _;
