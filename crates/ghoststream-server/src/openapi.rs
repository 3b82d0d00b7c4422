//! The OpenAPI 3.1 document of the HTTP API, served at `/api/openapi.json`. Schemas come
//! from the wire types themselves (`ghoststream-types` with its `openapi` feature), paths
//! from the annotations on the handlers, registered with their routes in one line each
//! (`crate::routes`), so the document cannot drift from the code.
//! `/ws/progress` (WebSocket) and the `/pair` page are described in the spec, not here.

use crate::routes::{ingest, stream};
use axum::response::{IntoResponse, Response};
use std::sync::OnceLock;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "GhostStream",
        description = "LAN transcoding server: HLS and files from any source URL, progress over WebSocket at /ws/progress."
    ),
    // Every other path comes with its route (`crate::routes()`); this one's route is a
    // wildcard the annotation cannot spell.
    paths(stream::stream_file, ingest::file),
    modifiers(&Security),
    security((), ("api_key" = []), ("api_key_query" = [])),
    tags(
        (name = "jobs", description = "Start, follow and end transcoding jobs"),
        (name = "streams", description = "HLS playlists, segments, subtitles and downloads"),
        (name = "ops", description = "Health, capabilities, statistics and retention"),
        (name = "dashboard", description = "What the desktop dashboard reads and changes"),
        (name = "pairing", description = "Discovery and pairing with GhostHub"),
        (name = "live", description = "Live ingest: RTMP/SRT publishers in, an HLS and DASH ladder out, a recording after"),
    )
)]
pub(crate) struct Api;

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
        let mut api = crate::routes().into_openapi();
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
