//! Wire types of the GhostStream API, defined once and shared by the engine, the HTTP
//! server and (later) the desktop shell's typed IPC.
//!
//! Field names, status strings and defaults follow `spec/ghoststream-api.md` exactly; the
//! published Python SDK parses these shapes.
#![forbid(unsafe_code)]

#[macro_use]
pub mod settings;
mod dashboard;
mod error;
mod live;
mod request;
mod response;

pub use dashboard::*;
pub use error::ErrorCode;
pub use live::*;
pub use request::*;
pub use response::*;
pub use settings::{Codec, Input, SettingField, Takes};

use serde::{Deserialize, Serialize};

/// Every error the API returns: a human sentence and a stable kebab-case code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// A sentence, or for validation errors a list of `{loc, msg, type}`.
    pub detail: serde_json::Value,
    pub code: ErrorCode,
}

impl ErrorBody {
    /// An answer whose detail is one sentence.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> ErrorBody {
        ErrorBody {
            detail: serde_json::Value::String(detail.into()),
            code,
        }
    }
}

/// One field problem in a 422 answer, in the shape FastAPI-era clients expect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    pub loc: Vec<String>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: String,
}
