//! CORS on every answer, and the optional API key.

use crate::error::ApiError;
use crate::App;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ghoststream_types::ErrorCode;
use std::net::SocketAddr;

/// `Access-Control-Allow-*: *` everywhere; preflights answered 204 without auth.
pub async fn cors(State(state): State<App>, req: Request, next: Next) -> Response {
    let tus = req.uri().path().starts_with("/api/tus");
    let mut res = if req.method() == Method::OPTIONS {
        let mut r = StatusCode::NO_CONTENT.into_response();
        if tus {
            // tus 1.0 discovery: what this server speaks.
            let max = state.engine.config().uploads.max_bytes;
            crate::routes::uploads::tus_options(r.headers_mut(), max);
        }
        r
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
        StatusCode::BAD_REQUEST => ErrorCode::BadRequest,
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::BodyTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::InvalidRequest,
        s if s.is_server_error() => ErrorCode::InternalError,
        _ => ErrorCode::RequestFailed,
    };
    let detail = if status.is_server_error() || detail.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        detail
    };
    let refused = crate::error::Refused {
        code,
        detail: detail.clone(),
    };
    let mut out = (
        status,
        axum::Json(ghoststream_types::ErrorBody::new(code, detail)),
    )
        .into_response();
    out.extensions_mut().insert(refused);
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
pub fn has_api_key(state: &App, req_headers: &axum::http::HeaderMap, query: Option<&str>) -> bool {
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
pub async fn api_key(State(state): State<App>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    // The pairing page and its form carry the pairing code instead.
    let exempt = matches!(
        path,
        "/api/health" | "/health" | "/pair" | "/api/pair/ghosthub" | "/api/pair/info"
    ) || path.starts_with("/stream/")
        || path.starts_with("/streams/")
        || path.starts_with("/download/");
    if exempt || has_api_key(&state, req.headers(), req.uri().query()) {
        return next.run(req).await;
    }
    let given = req.headers().contains_key("x-api-key")
        || query_param(req.uri().query(), "api_key").is_some();
    ApiError::Unauthorized(if given {
        ErrorCode::ApiKeyInvalid
    } else {
        ErrorCode::ApiKeyRequired
    })
    .into_response()
}

/// Request bodies are bounded in size and in time. A declared length over the limit is
/// refused before anything is read (so `Expect: 100-continue` gets 413, never `100
/// Continue`), and the whole body must arrive within `server.body_read_timeout_ms`: a
/// client trickling a byte at a time cannot hold its connection past that.
pub async fn body_limits(State(state): State<App>, req: Request, next: Next) -> Response {
    // Upload bodies stream to disk under their own limits (`uploads.*`).
    let path = req.uri().path();
    if path == "/api/upload"
        || path.starts_with("/api/upload/chunk/")
        || path.starts_with("/api/tus")
    {
        return next.run(req).await;
    }
    let cfg = &state.engine.config().server;
    let max = cfg.max_body_bytes;
    let deadline = std::time::Duration::from_millis(cfg.body_read_timeout_ms.max(100));
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        let mut r = ApiError::TooLarge(max).into_response();
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return r;
    }
    let has_body =
        declared.is_some_and(|n| n > 0) || req.headers().contains_key(header::TRANSFER_ENCODING);
    if !has_body {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    match tokio::time::timeout(deadline, axum::body::to_bytes(body, max)).await {
        Err(_) => ApiError::BodyTimeout.into_response(),
        Ok(Err(_)) => {
            let mut r = ApiError::TooLarge(max).into_response();
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            r
        }
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
    }
}

/// Whether a `Host` header names this server: an address literal (a browser that sent it
/// typed or followed that address, so the page's origin is ours), `localhost` and
/// `*.localhost`, this machine's name (bare or `.local`), or the advertised URL's host.
/// Any other name is a page that got its name to resolve to us (DNS rebinding).
pub fn host_is_ours(state: &App, host: &str) -> bool {
    let name = strip_port(host).to_ascii_lowercase();
    if name.is_empty() {
        return false;
    }
    if name
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .is_ok()
    {
        return true;
    }
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    let machine = machine_name();
    if !machine.is_empty() && (name == machine || name == format!("{machine}.local")) {
        return true;
    }
    state
        .engine
        .config()
        .server
        .advertised_url
        .as_deref()
        .and_then(|u| u.split_once("://").map(|x| x.1))
        .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default())
        .is_some_and(|adv| strip_port(adv).eq_ignore_ascii_case(&name))
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map(|(h, _)| &host[..h.len() + 1])
            .unwrap_or(host);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !h.contains(':') => h,
        _ => host,
    }
}

fn machine_name() -> String {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        sysinfo::System::host_name()
            .unwrap_or_default()
            .to_ascii_lowercase()
    })
    .clone()
}

/// A state-changing dashboard request must come from our own pages or from a client that
/// is no web page at all: its `Host` names us, and its `Origin` (when a browser sent one)
/// is that same host. A page elsewhere, or one that rebinds its name to us, is refused.
pub fn same_origin(state: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !host_is_ours(state, host) {
        return Err(ApiError::Forbidden {
            code: ErrorCode::HostNotAllowed,
            detail: format!(
                "'{}' is not a name of this server",
                host.chars().take(80).collect::<String>()
            ),
        });
    }
    let foreign = || ApiError::Forbidden {
        code: ErrorCode::OriginNotAllowed,
        detail: "requests from other web pages cannot change this server; use its dashboard".into(),
    };
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().map_err(|_| foreign())?;
        let ours = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|o| o.eq_ignore_ascii_case(host));
        if !ours {
            return Err(foreign());
        }
    }
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if !matches!(site, "same-origin" | "none") {
            return Err(foreign());
        }
    }
    Ok(())
}

/// The machine's owner: a same-origin request from this machine itself. Settings, the
/// pairing code, and job control without a job's token need this.
pub fn local_owner(state: &App, peer: SocketAddr, headers: &HeaderMap) -> Result<(), ApiError> {
    if !peer.ip().is_loopback() {
        return Err(ApiError::Forbidden {
            code: ErrorCode::LocalOnly,
            detail: "this can only be done from the machine GhostStream runs on".into(),
        });
    }
    same_origin(state, headers)
}

/// The dashboard page itself, in a browser on this machine: the owner, plus the browser's
/// own word that the page is ours (`Sec-Fetch-Site: same-origin`, or an `Origin` equal to
/// the host). Job control without the job's token needs this: other local programs, and
/// every client elsewhere, use the token.
pub fn dashboard_page(state: &App, peer: SocketAddr, headers: &HeaderMap) -> Result<(), ApiError> {
    local_owner(state, peer, headers)?;
    let same_site = headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"same-origin");
    if same_site || headers.contains_key(header::ORIGIN) {
        Ok(())
    } else {
        Err(ApiError::Forbidden {
            code: ErrorCode::NotTheDashboard,
            detail: "not a request from the dashboard".into(),
        })
    }
}

/// A request path as the application log shows it: at most 200 characters, and a live
/// stream key (which lets anyone publish) never written down.
fn loggable_path(path: &str) -> String {
    let mut parts: Vec<&str> = path.split('/').collect();
    let key_at = match parts.as_slice() {
        ["", "api", "ingest", "keys", _, ..] => Some(4),
        ["", "api", "ingest", k, ..] if *k != "keys" => Some(3),
        ["", "streams", _, ..] => Some(2),
        _ => None,
    };
    if let Some(i) = key_at {
        parts[i] = "…";
    }
    parts.join("/").chars().take(200).collect()
}

/// Notes the `X-GhostStream-Client` name of each HTTP request (`/api/clients`), and
/// writes each refused request to the application log: what was asked, by whom, the
/// status, and the answer's code and words.
pub async fn track(State(state): State<App>, req: Request, next: Next) -> Response {
    let header = |h: &HeaderMap, name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let client = header(req.headers(), "x-ghoststream-client").filter(|v| !v.trim().is_empty());
    if let Some(name) = &client {
        state.clients.seen_http(name.trim());
    }
    let user_agent = header(req.headers(), "user-agent");
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let method = req.method().clone();
    let path = loggable_path(req.uri().path());
    let res = next.run(req).await;
    let status = res.status();
    // Players polling for segments not yet written, and browsers asking for icons, are
    // not refusals worth a line.
    let media = path.starts_with("/stream/") || path.starts_with("/streams/");
    let routine = (media
        && matches!(
            status,
            StatusCode::NOT_FOUND | StatusCode::RANGE_NOT_SATISFIABLE
        ))
        || (status == StatusCode::NOT_FOUND && path == "/favicon.ico");
    if (status.is_client_error() || status.is_server_error()) && !routine {
        let who = peer
            .map(|ip| {
                let c = state
                    .clients
                    .job_client(client.as_deref(), user_agent.as_deref(), ip);
                format!("{} at {}", c.name, c.address.unwrap_or_default())
            })
            .unwrap_or_else(|| "the app".into());
        let (code, detail) = res
            .extensions()
            .get::<crate::error::Refused>()
            .map(|r| (r.code.as_str().to_string(), r.detail.clone()))
            .unwrap_or_default();
        let level = if status.is_server_error() {
            ghoststream_types::LogLevel::Error
        } else {
            ghoststream_types::LogLevel::Warn
        };
        state.journal.push(
            level,
            format!(
                "refused {method} {path} from {who}: {} {code}: {detail}",
                status.as_u16()
            ),
        );
    }
    res
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

    #[test]
    fn stream_keys_stay_out_of_the_log() {
        assert_eq!(
            loggable_path("/api/ingest/keys/s3cret"),
            "/api/ingest/keys/…"
        );
        assert_eq!(
            loggable_path("/api/ingest/s3cret/stop"),
            "/api/ingest/…/stop"
        );
        assert_eq!(
            loggable_path("/streams/s3cret/index.m3u8"),
            "/streams/…/index.m3u8"
        );
        assert_eq!(loggable_path("/api/ingest/keys"), "/api/ingest/keys");
        assert_eq!(loggable_path("/api/ingest"), "/api/ingest");
        assert_eq!(
            loggable_path("/api/transcode/start"),
            "/api/transcode/start"
        );
        assert_eq!(loggable_path(&"/x".repeat(300)).chars().count(), 200);
    }

    #[test]
    fn ports_come_off_hosts() {
        assert_eq!(strip_port("localhost:8765"), "localhost");
        assert_eq!(strip_port("[::1]:8765"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
        assert_eq!(strip_port("evil.example"), "evil.example");
        assert_eq!(strip_port("::1"), "::1");
    }
}
