//! The one place errors become HTTP answers: a status code and `{detail, code}`.
//! 5xx details are logged, not returned.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ghoststream_engine::EngineError;
use ghoststream_types::ErrorCode;
use ghoststream_types::{ErrorBody, FieldError};

#[derive(Debug)]
pub enum ApiError {
    Engine(EngineError),
    Invalid(Vec<FieldError>),
    BadRequest {
        code: ErrorCode,
        detail: String,
    },
    NotFound(&'static str),
    MethodNotAllowed,
    Unauthorized(ErrorCode),
    Forbidden {
        code: ErrorCode,
        detail: String,
    },
    TooLarge(usize),
    /// Too many attempts: 429 with `Retry-After`.
    RateLimited {
        code: ErrorCode,
        detail: String,
    },
    /// The body did not arrive in time: 408.
    BodyTimeout,
    RangeNotSatisfiable(u64),
    Internal(String),
    /// Live ingest: keys and streams.
    Ingest(ghoststream_engine::ingest::IngestError),
}

impl From<ghoststream_engine::ingest::IngestError> for ApiError {
    fn from(e: ghoststream_engine::ingest::IngestError) -> Self {
        ApiError::Ingest(e)
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Invalid(v) => ApiError::Invalid(v),
            other => ApiError::Engine(other),
        }
    }
}

pub fn field(loc: &[&str], msg: impl Into<String>, kind: &str) -> FieldError {
    FieldError {
        loc: loc.iter().map(|s| s.to_string()).collect(),
        msg: msg.into(),
        kind: kind.into(),
    }
}

impl ApiError {
    /// The status and the `{detail, code}` body: what HTTP answers, and what the desktop
    /// shell's IPC answers (without the status).
    pub fn to_body(self) -> (StatusCode, ErrorBody) {
        let (status, code, detail): (StatusCode, ErrorCode, serde_json::Value) = match self {
            ApiError::Invalid(fields) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidRequest,
                serde_json::to_value(fields).unwrap_or_default(),
            ),
            ApiError::BadRequest { code, detail } => (StatusCode::BAD_REQUEST, code, detail.into()),
            ApiError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
                format!("{what} not found").into(),
            ),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::MethodNotAllowed,
                "this method is not allowed on this path".into(),
            ),
            ApiError::Forbidden { code, detail } => (StatusCode::FORBIDDEN, code, detail.into()),
            ApiError::Unauthorized(code) => (
                StatusCode::UNAUTHORIZED,
                code,
                "a valid API key is required (X-API-Key header or api_key query parameter)".into(),
            ),
            ApiError::TooLarge(max) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::BodyTooLarge,
                format!("request body is larger than {max} bytes").into(),
            ),
            ApiError::RateLimited { code, detail } => {
                (StatusCode::TOO_MANY_REQUESTS, code, detail.into())
            }
            ApiError::BodyTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                ErrorCode::BodyTimeout,
                "the request body did not arrive in time".into(),
            ),
            ApiError::RangeNotSatisfiable(len) => (
                StatusCode::RANGE_NOT_SATISFIABLE,
                ErrorCode::RangeNotSatisfiable,
                format!("requested range is outside the file's {len} bytes").into(),
            ),
            ApiError::Internal(detail) => {
                tracing::error!("internal error: {detail}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::InternalError,
                    "internal error; see the server log".into(),
                )
            }
            ApiError::Ingest(e) => {
                use ghoststream_engine::ingest::IngestError as I;
                let status = match &e {
                    I::KeyNotFound(_) | I::NotFound => StatusCode::NOT_FOUND,
                    I::KeyExists(_) => StatusCode::CONFLICT,
                    I::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
                    I::Disabled => StatusCode::SERVICE_UNAVAILABLE,
                    I::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
                };
                if status.is_server_error() {
                    tracing::error!("live ingest: {e}");
                }
                (status, e.code(), e.to_string().into())
            }
            ApiError::Engine(e) => {
                let status = match &e {
                    EngineError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
                    EngineError::NotFound | EngineError::FileNotFound => StatusCode::NOT_FOUND,
                    EngineError::NotCancellable(_) | EngineError::NotReady => {
                        StatusCode::BAD_REQUEST
                    }
                    EngineError::QueueFull(_) | EngineError::Stopped | EngineError::Paused => {
                        StatusCode::SERVICE_UNAVAILABLE
                    }
                    EngineError::JobEnded(_) | EngineError::Expired => StatusCode::GONE,
                    EngineError::SegmentTimeout => StatusCode::SERVICE_UNAVAILABLE,
                    EngineError::Token(_) => StatusCode::FORBIDDEN,
                    EngineError::ApiKeyRequired => StatusCode::UNAUTHORIZED,
                    EngineError::Source(_) => StatusCode::UNPROCESSABLE_ENTITY,
                    EngineError::NotRunning(_) => StatusCode::CONFLICT,
                    EngineError::PauseUnsupported(_) => StatusCode::NOT_IMPLEMENTED,
                    EngineError::Upload(u) => upload_status(u),
                };
                (status, e.code(), e.to_string().into())
            }
        };
        (status, ErrorBody { detail, code })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let range = match &self {
            ApiError::RangeNotSatisfiable(len) => Some(*len),
            _ => None,
        };
        let (status, body) = self.to_body();
        // What the application log says of a refusal (see `auth::track`).
        let note = Refused {
            code: body.code,
            detail: match &body.detail {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|e| e.get("msg").and_then(|m| m.as_str()))
                    .collect::<Vec<_>>()
                    .join("; "),
                other => other.to_string(),
            },
        };
        let mut r = (status, Json(body)).into_response();
        r.extensions_mut().insert(note);
        let h = r.headers_mut();
        use axum::http::{header, HeaderValue};
        match status {
            StatusCode::SERVICE_UNAVAILABLE => {
                h.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            StatusCode::TOO_MANY_REQUESTS => {
                h.insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            }
            StatusCode::REQUEST_TIMEOUT => {
                h.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        if let Some(v) = range.and_then(|len| format!("bytes */{len}").parse().ok()) {
            h.insert(header::CONTENT_RANGE, v);
        }
        r
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// A query parameter (`name`), or its default when absent, checked to lie in `lo..=hi`:
/// 422 naming it and the range otherwise.
pub fn query_in_range<T: PartialOrd + std::fmt::Display + Copy>(
    name: &str,
    value: Option<T>,
    default: T,
    (lo, hi): (T, T),
) -> ApiResult<T> {
    let v = value.unwrap_or(default);
    if v < lo || v > hi {
        return Err(ApiError::Invalid(vec![field(
            &["query", name],
            format!("{name} must be {lo}–{hi}"),
            "value_error",
        )]));
    }
    Ok(v)
}

/// An error answer's code and words, kept on the response for the application log.
#[derive(Clone, Debug)]
pub struct Refused {
    pub code: ErrorCode,
    pub detail: String,
}

/// The HTTP status of an upload refusal (tus answers a checksum mismatch with 460).
pub fn upload_status(u: &ghoststream_engine::uploads::UploadError) -> StatusCode {
    use ghoststream_engine::uploads::UploadError as U;
    match u {
        U::NotFound => StatusCode::NOT_FOUND,
        U::TooLarge { .. } | U::NoSpace { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        U::DiskFull { .. } => StatusCode::INSUFFICIENT_STORAGE,
        U::OffsetMismatch { .. } | U::Incomplete { .. } => StatusCode::CONFLICT,
        U::ChecksumMismatch(_) => StatusCode::UNPROCESSABLE_ENTITY,
        U::Busy => StatusCode::LOCKED,
        U::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
        U::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
        U::Dropped { .. } | U::Invalid(_) => StatusCode::BAD_REQUEST,
        U::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}
