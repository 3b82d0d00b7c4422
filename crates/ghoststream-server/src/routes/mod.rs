//! Route handlers, grouped by what they serve.

use ghoststream_types::ErrorCode;
pub mod dashboard;
pub mod doc;
pub mod ingest;
pub mod jobs;
pub mod ops;
pub mod pairing;
pub mod stream;
pub mod uploads;

use crate::error::{field, ApiError, ApiResult};
use crate::App;
use axum::http::HeaderMap;
use bytes::Bytes;
use serde::de::DeserializeOwned;

/// `http://host:port` as the client reached us (Host header), else the configured base.
pub fn base_url(state: &App, headers: &HeaderMap) -> String {
    if let Some(url) = state.engine.config().server.advertised_url.as_deref() {
        return url.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() < 256
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]_".contains(c))
        });
    match host {
        Some(h) => format!("http://{h}"),
        None => format!("http://127.0.0.1:{}", state.engine.config().server.port),
    }
}

pub use crate::app::job_id;

/// Parses a JSON object body into `T`; an empty body is `T::default()` unless `required`.
pub fn json_body<T: DeserializeOwned + Default>(
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
    max: usize,
    required: bool,
) -> ApiResult<T> {
    Ok(json_object(body, max, required)?.unwrap_or_default())
}

/// Parses a JSON object body into `T`, naming the offending field on failure; `None` for
/// an empty body when it is not `required`.
pub fn json_object<T: DeserializeOwned>(
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
    max: usize,
    required: bool,
) -> ApiResult<Option<T>> {
    let body = match body {
        Ok(b) => b,
        Err(r) if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            return Err(ApiError::TooLarge(max))
        }
        Err(r) => {
            return Err(ApiError::BadRequest {
                code: ErrorCode::BodyUnreadable,
                detail: r.body_text(),
            })
        }
    };
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        if required {
            return Err(ApiError::Invalid(vec![field(
                &["body"],
                "request body is empty; a JSON object is required",
                "missing",
            )]));
        }
        return Ok(None);
    }
    // Not JSON at all is 400, as the published server answers; JSON of the wrong shape is 422.
    let value: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest {
            code: ErrorCode::MalformedJson,
            detail: format!("the body is not valid JSON: {e}"),
        })?;
    if !value.is_object() {
        return Err(ApiError::Invalid(vec![field(
            &["body"],
            "the body must be a JSON object",
            "model_attributes_type",
        )]));
    }
    serde_path_to_error::deserialize::<_, T>(value)
        .map(Some)
        .map_err(|e| {
            let path: Vec<String> = e
                .path()
                .iter()
                .map(|s| s.to_string())
                .filter(|s| s != "?" && !s.is_empty())
                .collect();
            let mut loc = vec!["body"];
            let joined: Vec<&str> = path.iter().map(String::as_str).collect();
            loc.extend(joined.iter().flat_map(|p| p.split('.')));
            ApiError::Invalid(vec![field(&loc, e.inner().to_string(), "value_error")])
        })
}
