//! The application log the dashboard's Troubleshooting page shows: the server starting
//! and where it listens, jobs asked for and ended, and refused requests with their reason
//! and client. The last [`KEPT`] lines are held in memory; each also goes to `tracing`,
//! so the log file has them too.

use chrono::Utc;
use ghoststream_types::{LogLevel, LogLine, LogPage};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Lines held; older ones are dropped.
pub const KEPT: usize = 1000;
/// Characters kept of one line.
const LINE_CHARS: usize = 500;

#[derive(Clone, Default)]
pub struct Journal(Arc<Mutex<Inner>>);

#[derive(Default)]
struct Inner {
    lines: VecDeque<LogLine>,
    seq: u64,
}

impl Journal {
    pub fn push(&self, level: LogLevel, text: impl Into<String>) {
        let mut text: String = text.into();
        if text.chars().count() > LINE_CHARS {
            text = text.chars().take(LINE_CHARS).collect::<String>() + "…";
        }
        match level {
            LogLevel::Info => tracing::info!(target: "ghoststream::journal", "{text}"),
            LogLevel::Warn => tracing::warn!(target: "ghoststream::journal", "{text}"),
            LogLevel::Error => tracing::error!(target: "ghoststream::journal", "{text}"),
        }
        let Ok(mut g) = self.0.lock() else {
            return;
        };
        g.seq += 1;
        let line = LogLine {
            seq: g.seq,
            at: Utc::now(),
            level,
            text,
        };
        if g.lines.len() >= KEPT {
            g.lines.pop_front();
        }
        g.lines.push_back(line);
    }

    pub fn info(&self, text: impl Into<String>) {
        self.push(LogLevel::Info, text)
    }

    /// `GET /api/logs`: [`Journal::page`] with the query checked (`limit` 1–1000,
    /// default 500).
    pub fn read(&self, after: Option<u64>, limit: Option<u32>) -> crate::error::ApiResult<LogPage> {
        use crate::error::query_in_range;
        // Beyond this, `seq` numbers lose precision in JavaScript.
        let after = query_in_range("after", after, 0, (0, (1 << 53) - 1))?;
        let limit = query_in_range("limit", limit, 500, (1, 1000))?;
        Ok(self.page(after, limit as usize))
    }

    /// The lines after `after` (0: all kept), at most `limit`, oldest first.
    pub fn page(&self, after: u64, limit: usize) -> LogPage {
        let Ok(g) = self.0.lock() else {
            return LogPage {
                lines: Vec::new(),
                next: after,
                kept: KEPT as u32,
            };
        };
        let lines: Vec<LogLine> = g
            .lines
            .iter()
            .filter(|l| l.seq > after)
            .take(limit.max(1))
            .cloned()
            .collect();
        LogPage {
            next: lines.last().map(|l| l.seq).unwrap_or(after.min(g.seq)),
            lines,
            kept: KEPT as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines_and_pages_after_a_cursor() {
        let j = Journal::default();
        for i in 0..KEPT + 5 {
            j.info(format!("line {i}"));
        }
        let all = j.page(0, usize::MAX);
        assert_eq!(all.lines.len(), KEPT);
        assert_eq!(all.lines[0].text, "line 5");
        assert_eq!(all.next, (KEPT + 5) as u64);
        let some = j.page(all.next - 2, 10);
        assert_eq!(some.lines.len(), 2);
        assert_eq!(j.page(all.next, 10).lines.len(), 0);
        assert_eq!(j.page(all.next, 10).next, all.next);
        j.push(LogLevel::Warn, "x".repeat(2000));
        assert_eq!(j.page(all.next, 10).lines[0].text.chars().count(), 501);
    }
}
