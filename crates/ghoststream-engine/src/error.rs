use crate::tokens::TokenError;
use ghoststream_types::FieldError;

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
    #[error("{0}")]
    Source(String),
}

impl EngineError {
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::Invalid(_) => "invalid-request",
            EngineError::NotFound => "job-not-found",
            EngineError::NotCancellable(_) => "job-not-cancellable",
            EngineError::QueueFull(_) => "queue-full",
            EngineError::FileNotFound => "file-not-found",
            EngineError::NotReady => "job-not-ready",
            EngineError::JobEnded(_) => "job-ended",
            EngineError::Expired => "job-expired",
            EngineError::SegmentTimeout => "segment-timeout",
            EngineError::Stopped => "server-stopping",
            EngineError::Paused => "server-paused",
            EngineError::Token(t) => t.code(),
            EngineError::Source(_) => "source-unreadable",
        }
    }
}
