//! Media errors and the "first real cause" extraction from ffmpeg's stderr.

use std::collections::VecDeque;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("{0}")]
    Source(String),
    #[error("no video or audio stream in the source")]
    NoStreams,
    #[error("{tool} timed out after {secs} s")]
    Timeout { tool: &'static str, secs: u64 },
    #[error("could not start {tool}: {cause}")]
    Spawn { tool: &'static str, cause: String },
    #[error("ffprobe gave output we could not read: {0}")]
    BadProbe(String),
}

impl MediaError {
    /// Stable code for API answers and job records.
    pub fn code(&self) -> &'static str {
        match self {
            MediaError::Source(_) => "source-unreadable",
            MediaError::NoStreams => "no-streams",
            MediaError::Timeout { .. } => "probe-timeout",
            MediaError::Spawn { .. } => "ffmpeg-missing",
            MediaError::BadProbe(_) => "probe-failed",
        }
    }
}

/// Keeps the first real error of a run and a bounded tail of everything, for the job log.
#[derive(Debug, Default)]
pub struct StderrLog {
    first_error: Option<String>,
    tail: VecDeque<String>,
    tail_cap: usize,
}

impl StderrLog {
    pub fn new(tail_cap: usize) -> Self {
        StderrLog {
            first_error: None,
            tail: VecDeque::new(),
            tail_cap,
        }
    }

    pub fn push(&mut self, line: &str) {
        if self.first_error.is_none() {
            if let Some(e) = error_from_line(line) {
                self.first_error = Some(e);
            }
        }
        if self.tail.len() == self.tail_cap {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_string());
    }

    pub fn first_error(&self) -> Option<&str> {
        self.first_error.as_deref()
    }

    pub fn lines(&self) -> impl Iterator<Item = &String> {
        self.tail.iter()
    }
}

/// The server's egress proxy puts this before the reason in the status line of its own
/// answers; ffmpeg logs that line (`HTTP error 403 GhostStream: …`) as a warning.
pub const EGRESS_MARK: &str = "GhostStream: ";

/// If a stderr line (printed with `-loglevel level+…`) is an error, the cause in plain
/// words. Encoder statistics and warnings are never errors, except the egress proxy's
/// answer, which is the cause of the error that follows it.
pub fn error_from_line(line: &str) -> Option<String> {
    if line.contains("HTTP error ") {
        if let Some(pos) = line.find(EGRESS_MARK) {
            return Some(line[pos + EGRESS_MARK.len()..].trim().to_string());
        }
    }
    let is_error = line.contains("[error]") || line.contains("[fatal]") || line.contains("[panic]");
    if !is_error {
        return None;
    }
    Some(humanize(strip_context(line)))
}

fn strip_context(line: &str) -> &str {
    let mut rest = line.trim();
    // "[tcp @ 0x55..] [error] msg" → "msg"
    loop {
        if let Some(stripped) = rest.strip_prefix('[') {
            if let Some(end) = stripped.find(']') {
                rest = stripped[end + 1..].trim_start();
                continue;
            }
        }
        break;
    }
    rest
}

/// Turns ffmpeg's wording into the causes users recognise.
pub fn humanize(msg: &str) -> String {
    let msg = msg.trim();
    if let Some(pos) = msg.find("Server returned ") {
        let status = &msg[pos + "Server returned ".len()..];
        let code: String = status.chars().take_while(|c| c.is_ascii_digit()).collect();
        if !code.is_empty() {
            return format!("source returned HTTP {code} ({})", status.trim());
        }
        return format!("source server error: {}", status.trim());
    }
    if msg.contains("Format not on whitelist") {
        return "the source is a playlist or another container that names other files; \
HLS and DASH need security.allow_playlist_sources"
            .to_string();
    }
    if msg.ends_with("Connection refused") {
        return "source unreachable: connection refused".to_string();
    }
    if msg.contains("Connection timed out") || msg.ends_with("timed out") {
        return "source unreachable: connection timed out".to_string();
    }
    if msg.contains("Invalid data found when processing input") {
        return "source is not a media file ffmpeg can read (invalid data)".to_string();
    }
    if msg.contains("No such file or directory") {
        return "source file not found".to_string();
    }
    if msg.contains("No space left on device") {
        return "disk full: no space left in the work directory".to_string();
    }
    if let Some(rest) = msg.strip_prefix("Stream ends prematurely at ") {
        let (at, total) = rest.split_once(", should be ").unwrap_or((rest, ""));
        return match total.parse::<u64>() {
            Ok(t) if t < u64::MAX => format!("source connection lost at byte {at} of {t}"),
            _ => format!("source connection lost at byte {at}"),
        };
    }
    if msg.starts_with("http://") || msg.starts_with("https://") {
        // "<url>: End of file" and the like: the input failed; the URL is in the job.
        if let Some((_, cause)) = msg.rsplit_once(": ") {
            return format!("source read failed: {cause}");
        }
    }
    if msg.contains("Protocol not on whitelist") {
        return "source protocol is not allowed".to_string();
    }
    let mut s: String = msg.chars().take(300).collect();
    if s.is_empty() {
        s = "ffmpeg failed without an error message".to_string();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_first_error_not_statistics() {
        let mut log = StderrLog::new(10);
        log.push("[libx264 @ 0x55] [info] frame I:3 Avg QP:20.1 size: 1234");
        log.push("[warning] deprecated pixel format used");
        log.push("[tcp @ 0x55f561372e80] [error] Connection to tcp://127.0.0.1:9 failed: Connection refused");
        log.push("[error] http://127.0.0.1:9/x.mkv: Connection refused");
        assert_eq!(
            log.first_error(),
            Some("source unreachable: connection refused")
        );
        assert_eq!(log.lines().count(), 4);
    }

    #[test]
    fn lost_sources_are_named() {
        assert_eq!(
            humanize("Stream ends prematurely at 33000, should be 2298904"),
            "source connection lost at byte 33000 of 2298904"
        );
        assert_eq!(
            humanize("Stream ends prematurely at 33000, should be 18446744073709551615"),
            "source connection lost at byte 33000"
        );
        assert_eq!(
            humanize("http://pi:5000/a.mkv?x=1: End of file"),
            "source read failed: End of file"
        );
    }

    #[test]
    fn http_status_is_named() {
        let e = error_from_line("[error] http://h/x.mkv: Server returned 404 Not Found").unwrap();
        assert_eq!(e, "source returned HTTP 404 (404 Not Found)");
    }

    #[test]
    fn fatal_lines_count() {
        assert_eq!(
            error_from_line("[fatal] Unknown encoder 'nosuch'").as_deref(),
            Some("Unknown encoder 'nosuch'")
        );
        assert!(error_from_line("frame=  100 fps=50 q=28.0 size=256kB").is_none());
    }

    #[test]
    fn tail_is_bounded() {
        let mut log = StderrLog::new(3);
        for i in 0..10 {
            log.push(&format!("line {i}"));
        }
        let v: Vec<_> = log.lines().cloned().collect();
        assert_eq!(v, ["line 7", "line 8", "line 9"]);
    }
}
