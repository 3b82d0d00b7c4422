//! Desktop notifications, sent off the UI thread. Where one cannot be shown (no
//! notification daemon), the dashboard shows it instead: it is kept (the last
//! [`KEPT`]) and pushed to the window.

use crate::events::{DesktopNotice, NoticeMissed};
use std::collections::VecDeque;
use std::sync::{Mutex, OnceLock};
use tauri_specta::Event as _;

/// How many undelivered notifications are kept for the dashboard.
pub const KEPT: usize = 50;

static APP: OnceLock<tauri::AppHandle> = OnceLock::new();
static MISSED: Mutex<Missed> = Mutex::new(Missed {
    next: 1,
    kept: VecDeque::new(),
});

struct Missed {
    next: u32,
    kept: VecDeque<DesktopNotice>,
}

/// Where missed notifications are pushed.
pub fn attach(app: tauri::AppHandle) {
    let _ = APP.set(app);
}

pub fn send(summary: impl Into<String>, body: impl Into<String>) {
    let (summary, body) = (summary.into(), body.into());
    std::thread::spawn(move || {
        let r = notify_rust::Notification::new()
            .appname("GhostStream")
            .summary(&summary)
            .body(&body)
            .show();
        match r {
            Ok(_) => tracing::info!("notification: {summary}: {body}"),
            Err(e) => {
                tracing::info!(error = %e, "notification not shown, kept for the dashboard: {summary}: {body}");
                let notice = keep(summary, body);
                if let Some(app) = APP.get() {
                    let _ = NoticeMissed(notice).emit(app);
                }
            }
        }
    });
}

fn keep(summary: String, body: String) -> DesktopNotice {
    let mut m = MISSED.lock().unwrap_or_else(|p| p.into_inner());
    let notice = DesktopNotice {
        id: m.next,
        at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        summary,
        body,
    };
    m.next += 1;
    m.kept.push_back(notice.clone());
    while m.kept.len() > KEPT {
        m.kept.pop_front();
    }
    notice
}

/// The notifications not shown on the desktop and not yet dismissed, oldest first.
pub fn missed() -> Vec<DesktopNotice> {
    let m = MISSED.lock().unwrap_or_else(|p| p.into_inner());
    m.kept.iter().cloned().collect()
}

/// Clears the kept notifications through `up_to`.
pub fn dismiss(up_to: u32) {
    let mut m = MISSED.lock().unwrap_or_else(|p| p.into_inner());
    m.kept.retain(|n| n.id > up_to);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missed_notices_are_bounded_and_dismissed_in_order() {
        for i in 0..(KEPT + 5) {
            keep(format!("s{i}"), "b".into());
        }
        let all = missed();
        assert_eq!(all.len(), KEPT);
        assert_eq!(all[0].summary, "s5");
        assert!(all.windows(2).all(|w| w[0].id < w[1].id));
        dismiss(all[9].id);
        let left = missed();
        assert_eq!(left.len(), KEPT - 10);
        assert_eq!(left[0].id, all[10].id);
    }
}
