//! A stream job's HLS state and the plain decisions on it: which segments exist, how
//! much is made, how far the encoder is ahead of its viewers.

use super::{SegmentMap, SubtitleEntry, Waiter};

pub(super) struct Hls {
    pub(super) map: SegmentMap,
    pub(super) variants: usize,
    pub(super) done: Vec<Vec<bool>>,
    pub(super) waiters: Vec<(usize, u32, Waiter)>,
    pub(super) subs: Vec<SubtitleEntry>,
    pub(super) subs_ready: Vec<bool>,
    pub(super) sub_waiters: Vec<(usize, Waiter)>,
    pub(super) codecs: String,
    /// The furthest segment a viewer has asked for (since the last seek restart).
    pub(super) watched: Option<u32>,
}

impl Hls {
    pub(super) fn first_missing_from(&self, from: u32) -> Option<u32> {
        (from as usize..self.map.len())
            .find(|i| !self.done[0][*i])
            .map(|i| i as u32)
    }
    pub(super) fn next_done_after(&self, from: u32) -> u32 {
        ((from as usize + 1)..self.map.len())
            .find(|i| self.done[0][*i])
            .unwrap_or(self.map.len()) as u32
    }
    /// Seconds made when the run writing segment `head` is at output `position`: every
    /// finished segment, and the part of `head` written so far.
    pub(super) fn done_at(&self, position: f64, head: u32) -> f64 {
        let partial =
            (position - self.map.start(head as usize)).clamp(0.0, self.map.duration(head as usize));
        self.done_secs() + partial
    }
    pub(super) fn done_secs(&self) -> f64 {
        (0..self.map.len())
            .filter(|i| self.done[0][*i])
            .map(|i| self.map.duration(i))
            .sum()
    }
}

impl Hls {
    /// Seconds of output the encoder has made past the end of the furthest segment a
    /// viewer asked for (from the start when none has been asked for yet). `head` is the
    /// next segment the run writes.
    pub(super) fn ahead_of_viewers(&self, head: u32) -> f64 {
        let len = self.map.len();
        let made = match head as usize {
            h if h < len => self.map.start(h),
            _ if len > 0 => self.map.end(len - 1),
            _ => 0.0,
        };
        let watched = self
            .watched
            .map(|w| self.map.end(w as usize))
            .unwrap_or(0.0);
        made - watched
    }
}

/// Percent done and seconds left of a job `total` seconds long with `done` seconds made.
pub(super) fn progress_of(done: f64, total: f64) -> (f64, f64) {
    let done = done.min(total);
    if total > 0.0 {
        (100.0 * done / total, (total - done).max(0.0))
    } else {
        (0.0, 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::progress_of;

    #[test]
    fn percent_and_seconds_left() {
        assert_eq!(progress_of(15.0, 60.0), (25.0, 45.0));
        // Past the announced length counts as the end, not more than 100 %.
        assert_eq!(progress_of(70.0, 60.0), (100.0, 0.0));
        // A length that is not known yet: no percent, no estimate.
        assert_eq!(progress_of(5.0, 0.0), (0.0, 0.0));
    }
}
