//! Desktop notifications, sent off the UI thread; no notification daemon is not an error
//! worth more than a log line.

pub fn send(summary: impl Into<String>, body: impl Into<String>) {
    let (summary, body) = (summary.into(), body.into());
    std::thread::spawn(move || {
        let r = notify_rust::Notification::new()
            .appname("GhostStream")
            .summary(&summary)
            .body(&body)
            .show();
        if let Err(e) = r {
            tracing::info!(error = %e, "notification not shown: {summary}");
        }
    });
}
