//! What the routes' `#[utoipa::path]` annotations share: path, header and query
//! parameters, and the error answer every route may give.

use ghoststream_types::ErrorBody;

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
