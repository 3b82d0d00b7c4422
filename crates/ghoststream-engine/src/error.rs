use crate::tokens::TokenError;
use ghoststream_types::{ErrorCode, FieldError};

/// Everything the engine can refuse, each with a stable code. The HTTP layer maps these
/// to status codes in one place.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the request is invalid")]
    Invalid(Vec<FieldError>),
    #[error("no job with that id")]
    NotFound,
    #[error("the job is {0} and can no longer be cancelled")]
    NotCancellable(&'static str),
    #[error("the queue is full ({0} jobs waiting); try again later")]
    QueueFull(u32),
    #[error("no such file in this job")]
    FileNotFound,
    #[error("the job is not ready yet")]
    NotReady,
    #[error("the job has ended: {0}")]
    JobEnded(String),
    #[error("the job's outputs were removed by retention cleanup")]
    Expired,
    #[error("timed out waiting for the encoder to write this segment")]
    SegmentTimeout,
    #[error("the engine is shutting down")]
    Stopped,
    #[error("new jobs are paused on this server; running jobs continue")]
    Paused,
    #[error("{0}")]
    Token(TokenError),
    #[error("a valid API key is required (X-API-Key header or api_key query parameter)")]
    ApiKeyRequired,
    #[error("{0}")]
    Source(String),
    #[error("the job is {0}; only a running job can be paused or resumed")]
    NotRunning(&'static str),
    #[error("{0}")]
    PauseUnsupported(String),
    #[error("{0}")]
    Upload(crate::uploads::UploadError),
}

impl EngineError {
    pub fn code(&self) -> ErrorCode {
        match self {
            EngineError::Invalid(_) => ErrorCode::InvalidRequest,
            EngineError::NotFound => ErrorCode::JobNotFound,
            EngineError::NotCancellable(_) => ErrorCode::JobNotCancellable,
            EngineError::QueueFull(_) => ErrorCode::QueueFull,
            EngineError::FileNotFound => ErrorCode::FileNotFound,
            EngineError::NotReady => ErrorCode::JobNotReady,
            EngineError::JobEnded(_) => ErrorCode::JobEnded,
            EngineError::Expired => ErrorCode::JobExpired,
            EngineError::SegmentTimeout => ErrorCode::SegmentTimeout,
            EngineError::Stopped => ErrorCode::ServerStopping,
            EngineError::Paused => ErrorCode::ServerPaused,
            EngineError::Token(t) => t.code(),
            EngineError::ApiKeyRequired => ErrorCode::ApiKeyRequired,
            EngineError::Source(_) => ErrorCode::SourceUnreadable,
            EngineError::NotRunning(_) => ErrorCode::JobNotRunning,
            EngineError::PauseUnsupported(_) => ErrorCode::PauseUnsupported,
            EngineError::Upload(u) => u.code(),
        }
    }
}
