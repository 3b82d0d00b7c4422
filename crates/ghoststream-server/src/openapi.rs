//! The OpenAPI 3.1 document of the HTTP API, served at `/api/openapi.json`. Schemas come
//! from the wire types themselves (`ghoststream-types` with its `openapi` feature), paths
//! from the annotations on the handlers, so the document cannot drift from the code.
//! `/ws/progress` (WebSocket) and the `/pair` page are described in the spec, not here.

use crate::routes::{dashboard, jobs, ops, pairing, stream};
use axum::response::{IntoResponse, Response};
use ghoststream_types::ErrorBody;
use std::sync::OnceLock;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "GhostStream",
        description = "LAN transcoding server: HLS and files from any source URL, progress over WebSocket at /ws/progress."
    ),
    paths(
        ops::health, ops::health_detailed, ops::ready, ops::live, ops::capabilities, ops::stats,
        ops::clients, ops::shared, ops::cleanup_stats, ops::cleanup_run, ops::probe,
        jobs::start, jobs::list, jobs::status, jobs::cancel, jobs::delete, jobs::stream_info,
        jobs::leave, jobs::log,
        stream::stream_file, stream::download,
        dashboard::status, dashboard::pause, dashboard::resume, dashboard::resources,
        dashboard::daily, dashboard::get_settings, dashboard::put_settings,
        pairing::rendezvous, pairing::rotate, pairing::announce_now, pairing::reachability,
        pairing::pair_info,
    ),
    modifiers(&Security),
    security((), ("api_key" = []), ("api_key_query" = [])),
    tags(
        (name = "jobs", description = "Start, follow and end transcoding jobs"),
        (name = "streams", description = "HLS playlists, segments, subtitles and downloads"),
        (name = "ops", description = "Health, capabilities, statistics and retention"),
        (name = "dashboard", description = "What the desktop dashboard reads and changes"),
        (name = "pairing", description = "Discovery and pairing with GhostHub"),
    )
)]
struct Api;

/// The job a route acts on.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct JobId {
    /// Job id (a UUID).
    id: String,
}

/// Control routes need the job's control token while job tokens are enforced.
#[derive(utoipa::IntoParams, serde::Deserialize)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct ControlToken {
    /// The job's control token (when job tokens are enforced).
    #[serde(rename = "X-GhostStream-Control-Token")]
    token: Option<String>,
}

/// Players cannot send headers: the stream token rides in the URL.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct StreamToken {
    /// Stream token (when job tokens are enforced).
    gst: Option<String>,
}

/// Every route's other answers: an error body with a stable `code`.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum Failure {
    /// Any other answer is an error: `code` is stable, `detail` says why.
    #[response(status = "default")]
    Error(ErrorBody),
}

/// The API key, where one is configured: a header or a query parameter.
struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        c.add_security_scheme(
            "api_key_query",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::new("api_key"))),
        );
    }
}

/// The document, built once.
pub fn document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut api = Api::openapi();
        api.info.version = env!("CARGO_PKG_VERSION").to_string();
        api.to_pretty_json().unwrap_or_default()
    })
}

/// `GET /api/openapi.json`.
pub async fn openapi_json() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        document(),
    )
        .into_response()
}
