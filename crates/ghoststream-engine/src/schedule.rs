//! Schedules: weekly windows (`gaming.schedule`, local time) with a job limit each.
//! Outside every window no job starts (new ones queue) and running jobs follow
//! `gaming.outside_window`: finish, freeze, or stop (batch jobs go back to the queue and
//! start over when a window opens). The limits are plain functions of a time
//! ([`limit_at`], [`next_change`]); a task applies them when the clock crosses a
//! boundary and when the settings change.

use crate::engine::WeakEngine;
use chrono::{Datelike, Duration as Span, NaiveDateTime, Timelike};
use ghoststream_types::{ScheduleWindow, Weekday};
use std::time::Duration;

pub(crate) use crate::engine::Clock;
pub use crate::engine::SCHEDULE_CLOSED as CLOSED;

/// `"HH:MM"` as minutes since midnight (`"24:00"` is the end of the day).
pub fn minutes(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

/// Every window names days and valid times.
pub fn validate(windows: &[ScheduleWindow]) -> Result<(), String> {
    for (i, w) in windows.iter().enumerate() {
        let n = i + 1;
        if w.days.is_empty() {
            return Err(format!("window {n} names no day"));
        }
        let (Some(a), Some(b)) = (minutes(&w.start), minutes(&w.end)) else {
            return Err(format!(
                "window {n}: times are HH:MM, 00:00 to 24:00 (got {}–{})",
                w.start, w.end
            ));
        };
        if a == b {
            return Err(format!("window {n} is empty ({}–{})", w.start, w.end));
        }
    }
    Ok(())
}

fn day_of(at: NaiveDateTime) -> Weekday {
    match at.weekday() {
        chrono::Weekday::Mon => Weekday::Mon,
        chrono::Weekday::Tue => Weekday::Tue,
        chrono::Weekday::Wed => Weekday::Wed,
        chrono::Weekday::Thu => Weekday::Thu,
        chrono::Weekday::Fri => Weekday::Fri,
        chrono::Weekday::Sat => Weekday::Sat,
        chrono::Weekday::Sun => Weekday::Sun,
    }
}

/// Whether `w` is open at `at`. A window whose end is before its start runs past
/// midnight into the next day.
fn open_at(w: &ScheduleWindow, at: NaiveDateTime) -> bool {
    let (Some(a), Some(b)) = (minutes(&w.start), minutes(&w.end)) else {
        return false;
    };
    let m = at.hour() * 60 + at.minute();
    let today = w.days.contains(&day_of(at));
    if a < b {
        today && a <= m && m < b
    } else {
        let yesterday = w.days.contains(&day_of(at - Span::days(1)));
        (today && m >= a) || (yesterday && m < b)
    }
}

/// The job limit at `at`: the largest of the open windows, 0 outside every window, and
/// `None` (no limit) without a schedule.
pub fn limit_at(windows: &[ScheduleWindow], at: NaiveDateTime) -> Option<u32> {
    if windows.is_empty() {
        return None;
    }
    Some(
        windows
            .iter()
            .filter(|w| open_at(w, at))
            .map(|w| w.max_jobs)
            .max()
            .unwrap_or(0),
    )
}

/// The next time after `at` where a window opens or closes (a week ahead at most).
pub fn next_change(windows: &[ScheduleWindow], at: NaiveDateTime) -> Option<NaiveDateTime> {
    let midnight = at.date().and_hms_opt(0, 0, 0)?;
    let mut best: Option<NaiveDateTime> = None;
    for d in -1..=7 {
        let day = midnight + Span::days(d);
        for w in windows {
            if !w.days.contains(&day_of(day)) {
                continue;
            }
            let (Some(a), Some(b)) = (minutes(&w.start), minutes(&w.end)) else {
                continue;
            };
            let end_day = if b <= a { day + Span::days(1) } else { day };
            for t in [
                day + Span::minutes(i64::from(a)),
                end_day + Span::minutes(i64::from(b)),
            ] {
                if t > at && best.is_none_or(|x| t < x) {
                    best = Some(t);
                }
            }
        }
    }
    best
}

/// Applies the schedule until the engine is gone: now, at each boundary, and whenever
/// `wake` is notified (the settings changed). Re-checks at least every 10 minutes (the
/// wall clock may jump: suspend, daylight saving).
pub(crate) fn spawn(engine: WeakEngine, clock: Clock) {
    let Some((wake, stopping)) = engine.upgrade().map(|e| (e.schedule_wake(), e.stopping())) else {
        return;
    };
    tokio::spawn(async move {
        let mut last: Option<Option<u32>> = None;
        loop {
            let Some(e) = engine.upgrade() else { break };
            if e.is_stopping() {
                break;
            }
            let live = e.live();
            let now = clock.now();
            let limit = limit_at(&live.schedule, now);
            if last != Some(limit) {
                e.apply_schedule(limit, live.outside_window).await;
                last = Some(limit);
            }
            let wait = next_change(&live.schedule, now)
                .and_then(|t| (t - now).to_std().ok())
                .unwrap_or(Duration::from_secs(600))
                .min(Duration::from_secs(600))
                // Land just past the boundary minute.
                + Duration::from_millis(50);
            drop(e);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = wake.notified() => { last = None; }
                _ = stopping.cancelled() => break,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use ghoststream_types::Weekday::*;

    fn at(s: &str) -> NaiveDateTime {
        // 2026-11-30 is a Monday.
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    fn w(days: &[Weekday], start: &str, end: &str, max_jobs: u32) -> ScheduleWindow {
        ScheduleWindow {
            days: days.to_vec(),
            start: start.into(),
            end: end.into(),
            max_jobs,
        }
    }

    #[test]
    fn windows_give_the_limit_and_the_next_change() {
        let weekdays = [Mon, Tue, Wed, Thu, Fri];
        let s = vec![
            w(&weekdays, "01:00", "17:00", 2),
            w(&[Sat, Sun], "00:00", "24:00", 1),
        ];
        assert_eq!(limit_at(&[], at("2026-11-30 12:00")), None);
        assert_eq!(limit_at(&s, at("2026-11-30 00:59")), Some(0));
        assert_eq!(limit_at(&s, at("2026-11-30 01:00")), Some(2));
        assert_eq!(limit_at(&s, at("2026-11-30 16:59")), Some(2));
        assert_eq!(limit_at(&s, at("2026-11-30 17:00")), Some(0));
        assert_eq!(limit_at(&s, at("2026-12-05 03:00")), Some(1));
        assert_eq!(
            next_change(&s, at("2026-11-30 12:00")),
            Some(at("2026-11-30 17:00"))
        );
        assert_eq!(
            next_change(&s, at("2026-11-30 17:00")),
            Some(at("2026-12-01 01:00"))
        );
        assert_eq!(
            next_change(&s, at("2026-12-04 18:00")),
            Some(at("2026-12-05 00:00"))
        );
    }

    #[test]
    fn a_window_past_midnight_runs_into_the_next_day() {
        let s = vec![w(&[Fri], "22:00", "06:00", 3)];
        assert_eq!(limit_at(&s, at("2026-12-04 21:59")), Some(0));
        assert_eq!(limit_at(&s, at("2026-12-04 23:00")), Some(3));
        assert_eq!(limit_at(&s, at("2026-12-05 05:59")), Some(3));
        assert_eq!(limit_at(&s, at("2026-12-05 06:00")), Some(0));
        assert_eq!(
            next_change(&s, at("2026-12-04 23:00")),
            Some(at("2026-12-05 06:00"))
        );
    }

    #[test]
    fn bad_windows_are_named() {
        assert!(validate(&[w(&[Mon], "01:00", "17:00", 1)]).is_ok());
        assert!(validate(&[w(&[], "01:00", "17:00", 1)])
            .unwrap_err()
            .contains("no day"));
        assert!(validate(&[w(&[Mon], "25:00", "17:00", 1)])
            .unwrap_err()
            .contains("HH:MM"));
        assert!(validate(&[w(&[Mon], "9:00", "9:00", 1)])
            .unwrap_err()
            .contains("empty"));
        assert_eq!(minutes("24:00"), Some(1440));
        assert_eq!(minutes("24:01"), None);
    }
}
