//! The stable error codes: every `code` an error answer (HTTP or IPC) can carry.

use serde::{Deserialize, Serialize};

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = $text:literal, )*) => {
        /// A stable, kebab-case error code. Clients and the dashboard branch on these,
        /// never on the message text.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "specta", derive(specta::Type))]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "kebab-case")]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $( ErrorCode::$variant => $text, )*
                }
            }
        }
    };
}

codes! {
    /// Validation failed; `detail` lists the fields (422).
    InvalidRequest = "invalid-request",
    /// The body is not JSON at all (400).
    MalformedJson = "malformed-json",
    BodyUnreadable = "body-unreadable",
    BodyTooLarge = "body-too-large",
    BodyTimeout = "body-timeout",
    BadRequest = "bad-request",
    InvalidPath = "invalid-path",
    NotFound = "not-found",
    MethodNotAllowed = "method-not-allowed",
    UnsupportedMediaType = "unsupported-media-type",
    RequestFailed = "request-failed",
    InternalError = "internal-error",
    RangeNotSatisfiable = "range-not-satisfiable",
    ApiKeyRequired = "api-key-required",
    ApiKeyInvalid = "api-key-invalid",
    SettingsLocalOnly = "settings-local-only",
    LocalOnly = "local-only",
    OriginNotAllowed = "origin-not-allowed",
    HostNotAllowed = "host-not-allowed",
    NotTheDashboard = "not-the-dashboard",
    PairingCodeInvalid = "pairing-code-invalid",
    TooManyAttempts = "too-many-attempts",
    JobNotFound = "job-not-found",
    JobNotCancellable = "job-not-cancellable",
    /// Only a running job can be paused or resumed (409).
    JobNotRunning = "job-not-running",
    /// Only an ended job can be retried, and a live recording never (400).
    JobNotRetryable = "job-not-retryable",
    /// This platform cannot pause a running job.
    PauseUnsupported = "pause-unsupported",
    QueueFull = "queue-full",
    FileNotFound = "file-not-found",
    JobNotReady = "job-not-ready",
    JobEnded = "job-ended",
    JobExpired = "job-expired",
    SegmentTimeout = "segment-timeout",
    ServerStopping = "server-stopping",
    ServerPaused = "server-paused",
    /// The server is not running (the desktop app stopped it).
    ServerStopped = "server-stopped",
    SourceUnreadable = "source-unreadable",
    SourceNotAllowed = "source-not-allowed",
    TokenRequired = "token-required",
    TokenInvalid = "token-invalid",
    TokenExpired = "token-expired",
    TokenWrongJob = "token-wrong-job",
    TokenWrongScope = "token-wrong-scope",
    ProbeTimeout = "probe-timeout",
    ProbeFailed = "probe-failed",
    NoStreams = "no-streams",
    FfmpegMissing = "ffmpeg-missing",
    PortUnavailable = "port-unavailable",
    EngineFailed = "engine-failed",
    /// The settings could not be saved or applied.
    SettingsInvalid = "settings-invalid",
    /// Something the desktop app does (open a folder, quit) failed.
    ShellFailed = "shell-failed",
    /// No upload with that id (or it expired) (404).
    UploadNotFound = "upload-not-found",
    /// The upload would pass `uploads.max_bytes` (413).
    UploadTooLarge = "upload-too-large",
    /// Not enough free disk for the announced size (413).
    UploadNoSpace = "upload-no-space",
    /// The disk filled during the upload; nothing past the last whole chunk is kept (507).
    UploadDiskFull = "upload-disk-full",
    /// The chunk does not start where the upload stands; `detail` names the offset (409).
    UploadOffsetMismatch = "upload-offset-mismatch",
    /// The upload is not finished (409).
    UploadIncomplete = "upload-incomplete",
    /// The checksum sent does not match the bytes (422; tus: 460).
    UploadChecksumMismatch = "upload-checksum-mismatch",
    /// Another request is writing this upload now (423).
    UploadBusy = "upload-busy",
    /// Too many unfinished uploads (429).
    TooManyUploads = "too-many-uploads",
    /// A tus request without `Tus-Resumable: 1.0.0` (412).
    TusVersion = "tus-version",
    /// No stream key by that name (404).
    IngestKeyNotFound = "ingest-key-not-found",
    /// A key by that name exists already (409).
    IngestKeyExists = "ingest-key-exists",
    /// No live stream (or recording) on that key (404).
    LiveNotFound = "live-not-found",
    /// Live ingest is off on this server (`live.enabled`) (503).
    LiveDisabled = "live-disabled",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_kebab_case_and_serialise_as_written() {
        for c in ErrorCode::ALL {
            let s = c.as_str();
            assert!(
                s.chars().all(|ch| ch.is_ascii_lowercase() || ch == '-'),
                "{s}"
            );
            assert_eq!(serde_json::to_value(c).unwrap(), serde_json::json!(s));
        }
    }
}
