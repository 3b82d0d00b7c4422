//! Media errors and the "first real cause" extraction from ffmpeg's stderr.

use std::collections::VecDeque;

/// What kind of failure a run's first error is. Retry and fallback are decided on this,
/// never on the words of the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CauseKind {
    /// The network, or a read from the source, failed in passing.
    Network,
    /// The source server failed (HTTP 5xx).
    SourceServer,
    /// The source answered with an HTTP error that the same request gets again (4xx).
    SourceRefused,
    /// The egress rule refused where the source, or something it names, points.
    NotAllowed,
    /// The source is not media ffmpeg reads, or a container we do not open.
    NotMedia,
    /// A local source file is missing.
    NotFound,
    /// The work directory is full.
    DiskFull,
    /// ffmpeg died by a signal.
    Crashed,
    /// The source ended before the length it announced.
    EndedEarly,
    /// ffmpeg could not be started.
    NoFfmpeg,
    /// Anything else: an encoder or filter error, an unknown message.
    Other,
}

impl CauseKind {
    /// The stable code a client sees next to the job's `error_message`.
    pub fn code(self) -> &'static str {
        match self {
            CauseKind::Network => "source-network",
            CauseKind::SourceServer => "source-server-error",
            CauseKind::SourceRefused => "source-refused",
            CauseKind::NotAllowed => "source-not-allowed",
            CauseKind::NotMedia => "source-not-media",
            CauseKind::NotFound => "source-not-found",
            CauseKind::DiskFull => "disk-full",
            CauseKind::Crashed => "encoder-crashed",
            CauseKind::EndedEarly => "source-ended-early",
            CauseKind::NoFfmpeg => "ffmpeg-missing",
            CauseKind::Other => "encoder-failed",
        }
    }
}

/// A failure's kind and its cause in plain words (what the job's `error_message` says).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub kind: CauseKind,
    pub message: String,
}

impl Cause {
    pub fn new(kind: CauseKind, message: impl Into<String>) -> Cause {
        Cause {
            kind,
            message: message.into(),
        }
    }

    /// Worth another run of the same command.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            CauseKind::Network
                | CauseKind::SourceServer
                | CauseKind::Crashed
                | CauseKind::EndedEarly
        )
    }

    /// The source itself is the problem: another encoder would fail the same way.
    pub fn is_source_side(&self) -> bool {
        matches!(
            self.kind,
            CauseKind::SourceRefused
                | CauseKind::NotAllowed
                | CauseKind::NotMedia
                | CauseKind::NotFound
                | CauseKind::DiskFull
        )
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("{0}")]
    Source(Cause),
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
    pub fn code(&self) -> ghoststream_types::ErrorCode {
        use ghoststream_types::ErrorCode;
        match self {
            MediaError::Source(_) => ErrorCode::SourceUnreadable,
            MediaError::NoStreams => ErrorCode::NoStreams,
            MediaError::Timeout { .. } => ErrorCode::ProbeTimeout,
            MediaError::Spawn { .. } => ErrorCode::FfmpegMissing,
            MediaError::BadProbe(_) => ErrorCode::ProbeFailed,
        }
    }
}

/// Keeps the first real error of a run and a bounded tail of everything, for the job log.
#[derive(Debug, Default)]
pub struct StderrLog {
    first_error: Option<Cause>,
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

    pub fn first_error(&self) -> Option<&Cause> {
        self.first_error.as_ref()
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
pub fn error_from_line(line: &str) -> Option<Cause> {
    if line.contains("HTTP error ") {
        if let Some(pos) = line.find(EGRESS_MARK) {
            let reason = line[pos + EGRESS_MARK.len()..].trim();
            let kind = if reason.starts_with("source not allowed") {
                CauseKind::NotAllowed
            } else {
                CauseKind::Network
            };
            return Some(Cause::new(kind, reason));
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

/// Turns ffmpeg's wording into the causes users recognise, with their kind.
pub fn humanize(msg: &str) -> Cause {
    use CauseKind::*;
    let msg = msg.trim();
    if let Some(pos) = msg.find("Server returned ") {
        let status = &msg[pos + "Server returned ".len()..];
        let code: String = status.chars().take_while(|c| c.is_ascii_digit()).collect();
        if !code.is_empty() {
            let kind = if code.starts_with('5') {
                SourceServer
            } else {
                SourceRefused
            };
            return Cause::new(
                kind,
                format!("source returned HTTP {code} ({})", status.trim()),
            );
        }
        // "Server returned 5XX Server Error reply", "… 4XX Client Error …".
        let kind = if status.starts_with('5') {
            SourceServer
        } else {
            SourceRefused
        };
        return Cause::new(kind, format!("source server error: {}", status.trim()));
    }
    if msg.contains("Format not on whitelist") {
        return Cause::new(
            NotMedia,
            "the source is a playlist or another container that names other files; \
HLS and DASH need security.allow_playlist_sources",
        );
    }
    if msg.ends_with("Connection refused") {
        return Cause::new(Network, "source unreachable: connection refused");
    }
    if msg.contains("Connection timed out") || msg.ends_with("timed out") {
        return Cause::new(Network, "source unreachable: connection timed out");
    }
    if msg.contains("Invalid data found when processing input") {
        return Cause::new(
            NotMedia,
            "source is not a media file ffmpeg can read (invalid data)",
        );
    }
    if msg.contains("No such file or directory") {
        return Cause::new(NotFound, "source file not found");
    }
    if msg.contains("No space left on device") {
        return Cause::new(DiskFull, "disk full: no space left in the work directory");
    }
    if let Some(rest) = msg.strip_prefix("Stream ends prematurely at ") {
        let (at, total) = rest.split_once(", should be ").unwrap_or((rest, ""));
        return Cause::new(
            Network,
            match total.parse::<u64>() {
                Ok(t) if t < u64::MAX => format!("source connection lost at byte {at} of {t}"),
                _ => format!("source connection lost at byte {at}"),
            },
        );
    }
    if msg.starts_with("http://") || msg.starts_with("https://") {
        // "<url>: End of file" and the like: the input failed; the URL is in the job.
        if let Some((_, cause)) = msg.rsplit_once(": ") {
            return Cause::new(Network, format!("source read failed: {cause}"));
        }
    }
    if msg.contains("Protocol not on whitelist") {
        return Cause::new(NotAllowed, "source protocol is not allowed");
    }
    let mut s: String = msg.chars().take(300).collect();
    if s.is_empty() {
        s = "ffmpeg failed without an error message".to_string();
    }
    let lower = s.to_ascii_lowercase();
    let kind = if [
        "connection reset",
        "i/o error",
        "broken pipe",
        "end of file",
    ]
    .iter()
    .any(|k| lower.contains(k))
    {
        Network
    } else {
        Other
    };
    Cause::new(kind, s)
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
        let first = log.first_error().unwrap();
        assert_eq!(first.message, "source unreachable: connection refused");
        assert!(first.is_transient());
        assert_eq!(log.lines().count(), 4);
    }

    #[test]
    fn lost_sources_are_named() {
        assert_eq!(
            humanize("Stream ends prematurely at 33000, should be 2298904").message,
            "source connection lost at byte 33000 of 2298904"
        );
        assert_eq!(
            humanize("Stream ends prematurely at 33000, should be 18446744073709551615").message,
            "source connection lost at byte 33000"
        );
        let eof = humanize("http://pi:5000/a.mkv?x=1: End of file");
        assert_eq!(eof.message, "source read failed: End of file");
        assert!(eof.is_transient());
    }

    #[test]
    fn http_status_is_named() {
        let e = error_from_line("[error] http://h/x.mkv: Server returned 404 Not Found").unwrap();
        assert_eq!(e.message, "source returned HTTP 404 (404 Not Found)");
        assert_eq!(e.kind, CauseKind::SourceRefused);
        assert!(!e.is_transient() && e.is_source_side());
        let e = error_from_line("[error] http://h/x.mkv: Server returned 5XX Server Error reply")
            .unwrap();
        assert!(e.is_transient());
    }

    #[test]
    fn fatal_lines_count() {
        let e = error_from_line("[fatal] Unknown encoder 'nosuch'").unwrap();
        assert_eq!(e.message, "Unknown encoder 'nosuch'");
        assert_eq!(e.kind, CauseKind::Other);
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

    #[test]
    fn the_egress_proxys_answer_is_the_cause() {
        let e = error_from_line("[http @ 0x1] [warning] HTTP error 403 GhostStream: source not allowed: 127.0.0.3 is loopback").unwrap();
        assert_eq!(e.kind, CauseKind::NotAllowed);
        assert_eq!(e.message, "source not allowed: 127.0.0.3 is loopback");
        let e = error_from_line("[http @ 0x1] [warning] HTTP error 502 GhostStream: source unreachable: connection refused").unwrap();
        assert!(e.is_transient());
        assert!(error_from_line("[http @ 0x1] [warning] HTTP error 404 Not Found").is_none());
    }
}
