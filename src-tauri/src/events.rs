//! Typed events for the window (exported to `ui/src/bindings.ts`).

use serde::{Deserialize, Serialize};

/// A job event, exactly as the WebSocket sends it.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct JobUpdate(pub ghoststream_types::JobEvent);

/// The server started, stopped, paused, resumed or failed.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct ServerChanged(pub ghoststream_types::ServerStatus);
