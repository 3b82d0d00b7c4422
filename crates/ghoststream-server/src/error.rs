//! The one place errors become HTTP answers: a status code and `{detail, code}`.
//! 5xx details are logged, not returned.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ghoststream_engine::EngineError;
use ghoststream_types::{ErrorBody, FieldError};

#[derive(Debug)]
pub enum ApiError {
    Engine(EngineError),
    Invalid(Vec<FieldError>),
    BadRequest {
        code: &'static str,
        detail: String,
    },
    NotFound(&'static str),
    MethodNotAllowed,
    Unauthorized(&'static str),
    Forbidden {
        code: &'static str,
        detail: String,
    },
    TooLarge(usize),
    /// Too many attempts: 429 with `Retry-After`.
    RateLimited {
        code: &'static str,
        detail: String,
    },
    /// The body did not arrive in time: 408.
    BodyTimeout,
    RangeNotSatisfiable(u64),
    Internal(String),
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, detail): (StatusCode, String, serde_json::Value) = match self {
            ApiError::Invalid(fields) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-request".into(),
                serde_json::to_value(fields).unwrap_or_default(),
            ),
            ApiError::BadRequest { code, detail } => {
                (StatusCode::BAD_REQUEST, code.into(), detail.into())
            }
            ApiError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                "not-found".into(),
                format!("{what} not found").into(),
            ),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed".into(),
                "this method is not allowed on this path".into(),
            ),
            ApiError::Forbidden { code, detail } => {
                (StatusCode::FORBIDDEN, code.into(), detail.into())
            }
            ApiError::Unauthorized(code) => (
                StatusCode::UNAUTHORIZED,
                code.into(),
                "a valid API key is required (X-API-Key header or api_key query parameter)".into(),
            ),
            ApiError::TooLarge(max) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "body-too-large".into(),
                format!("request body is larger than {max} bytes").into(),
            ),
            ApiError::RateLimited { code, detail } => {
                let mut r = (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(ErrorBody {
                        detail: detail.into(),
                        code: code.into(),
                    }),
                )
                    .into_response();
                r.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from_static("60"),
                );
                return r;
            }
            ApiError::BodyTimeout => {
                let mut r = (
                    StatusCode::REQUEST_TIMEOUT,
                    Json(ErrorBody {
                        detail: "the request body did not arrive in time".into(),
                        code: "body-timeout".into(),
                    }),
                )
                    .into_response();
                r.headers_mut().insert(
                    axum::http::header::CONNECTION,
                    axum::http::HeaderValue::from_static("close"),
                );
                return r;
            }
            ApiError::RangeNotSatisfiable(len) => {
                let body = ErrorBody {
                    detail: format!("requested range is outside the file's {len} bytes").into(),
                    code: "range-not-satisfiable".into(),
                };
                let mut r = (StatusCode::RANGE_NOT_SATISFIABLE, Json(body)).into_response();
                if let Ok(v) = format!("bytes */{len}").parse() {
                    r.headers_mut().insert(axum::http::header::CONTENT_RANGE, v);
                }
                return r;
            }
            ApiError::Internal(detail) => {
                tracing::error!("internal error: {detail}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal-error".into(),
                    "internal error; see the server log".into(),
                )
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
                    EngineError::Source(_) => StatusCode::UNPROCESSABLE_ENTITY,
                };
                (status, e.code().into(), e.to_string().into())
            }
        };
        let mut r = (status, Json(ErrorBody { detail, code })).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("5"),
            );
        }
        r
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
