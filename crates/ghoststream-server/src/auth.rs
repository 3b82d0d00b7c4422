//! CORS on every answer, and the optional API key.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// `Access-Control-Allow-*: *` everywhere; preflights answered 204 without auth.
pub async fn cors(req: Request, next: Next) -> Response {
    let mut res = if req.method() == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    let h = res.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("*"),
    );
    res
}

/// Every error answer is `{detail, code}`: responses that axum's extractors produced as
/// plain text (bad path encoding, a WebSocket request without upgrade, …) are rewritten.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let detail = String::from_utf8_lossy(&text).trim().to_string();
    let code = match status {
        StatusCode::BAD_REQUEST => "bad-request",
        StatusCode::NOT_FOUND => "not-found",
        StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "body-too-large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid-request",
        s if s.is_server_error() => "internal-error",
        _ => "request-failed",
    };
    let detail = if status.is_server_error() || detail.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        detail
    };
    let mut out = (
        status,
        axum::Json(ghoststream_types::ErrorBody {
            detail: detail.into(),
            code: code.into(),
        }),
    )
        .into_response();
    for (k, v) in parts.headers.iter() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

/// The value of `name` in a query string, percent-decoded.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v))
    })
}

pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn key_matches(expected: &str, given: &str) -> bool {
    expected.len() == given.len()
        && expected
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// True when the request carries the configured API key (or none is configured).
pub fn has_api_key(
    state: &AppState,
    req_headers: &axum::http::HeaderMap,
    query: Option<&str>,
) -> bool {
    let live = state.engine.live();
    let Some(expected) = live.api_key.as_deref().filter(|k| !k.is_empty()) else {
        return true;
    };
    let given = req_headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| query_param(query, "api_key"));
    given.is_some_and(|g| key_matches(expected, &g))
}

/// Requires the API key on every route but health (and stream/download, which check it
/// together with job tokens, since players cannot send headers).
pub async fn api_key(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    // The pairing page and its form carry the pairing code instead.
    let exempt = matches!(
        path,
        "/api/health" | "/health" | "/pair" | "/api/pair/ghosthub" | "/api/pair/info"
    ) || path.starts_with("/stream/")
        || path.starts_with("/download/");
    if exempt || has_api_key(&state, req.headers(), req.uri().query()) {
        return next.run(req).await;
    }
    let given = req.headers().contains_key("x-api-key")
        || query_param(req.uri().query(), "api_key").is_some();
    ApiError::Unauthorized(if given {
        "api-key-invalid"
    } else {
        "api-key-required"
    })
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        assert_eq!(
            query_param(Some("a=1&gst=x%2Ey&b"), "gst").as_deref(),
            Some("x.y")
        );
        assert_eq!(query_param(Some("api_key=k"), "gst"), None);
        assert_eq!(percent_decode("%2e%2E%zz%"), "..%zz%");
    }
}
