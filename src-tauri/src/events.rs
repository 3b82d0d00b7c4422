//! Typed events for the window (exported to `ui/src/bindings.ts`).

use serde::{Deserialize, Serialize};

/// A job event, exactly as the WebSocket sends it.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct JobUpdate(pub ghoststream_types::JobEvent);

/// The server started, stopped, paused, resumed or failed.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct ServerChanged(pub ghoststream_types::ServerStatus);

/// What the user asked the app to do that ends jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum ExitAction {
    /// Stop the server, keep the app.
    Stop,
    /// Stop the server and leave.
    Quit,
}

/// Stop or Quit was chosen in the tray while jobs run: the window asks to confirm.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct ExitAsked(pub ExitAction);

/// A desktop notification that could not be shown (no notification daemon): the
/// dashboard shows it instead.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct NoticeMissed(pub DesktopNotice);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct DesktopNotice {
    /// Increasing; `dismiss_notices(up_to)` clears through it.
    pub id: u32,
    /// When it was raised (RFC 3339, UTC).
    pub at: String,
    pub summary: String,
    pub body: String,
}
