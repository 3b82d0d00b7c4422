//! A stream job's HLS state and the plain decisions on it: which segments exist, how
//! much is made, how far the encoder is ahead of its viewers.

use super::{SegmentMap, SubtitleEntry, Waiter};

pub(super) struct Hls {
    pub(super) map: SegmentMap,
    /// Outputs: the video variants, then the audio renditions (`audio`).
    pub(super) variants: usize,
    pub(super) done: Vec<Vec<bool>>,
    /// Viewers waiting for a segment: variant, index, the file (the segment or its
    /// initialisation section).
    pub(super) waiters: Vec<(usize, u32, String, Waiter)>,
    pub(super) subs: Vec<SubtitleEntry>,
    pub(super) subs_ready: Vec<bool>,
    pub(super) sub_waiters: Vec<(usize, Waiter)>,
    pub(super) codecs: String,
    /// The audio renditions, when the audio tracks are not muxed into the video.
    pub(super) audio: Vec<crate::segments::AudioEntry>,
    /// The furthest segment a viewer has asked for (since the last seek restart).
    pub(super) watched: Option<u32>,
}

impl Hls {
    /// A stream with nothing made yet, no subtitles and no waiters.
    pub(super) fn new(map: super::SegmentMap, variants: usize) -> Hls {
        Hls {
            done: vec![vec![false; map.len()]; variants],
            map,
            variants,
            waiters: Vec::new(),
            watched: None,
            subs: Vec::new(),
            subs_ready: Vec::new(),
            sub_waiters: Vec::new(),
            codecs: String::new(),
            audio: Vec::new(),
        }
    }

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

/// Seconds a run takes to start writing, whatever it writes: ffmpeg starting, the
/// source opened again and decoded from the keyframe before the seek point. Measured
/// on the bench's 1080p sources at 0.3–0.5 s; the upper figure is taken. (It was 1.0:
/// viewers then waited up to 1.85 s for a run 8 s of output away where a restart
/// answered in 0.9 s, `bench/streams.py`. The restart's segment is also encoded without
/// look-ahead or B-frames, a little faster than the run it replaces.)
pub(super) const RESTART_SECS: f64 = 0.5;

impl Hls {
    /// Whether a viewer asking for segment `n` gets it sooner from a run started there
    /// than by waiting for the run that is at output `position` going at `speed`, with
    /// `head` the next segment it writes. Waiting takes `(end(n) - position) / speed`;
    /// a restart takes `RESTART_SECS + duration(n) / speed`. So it pays when the run is
    /// more than `RESTART_SECS` of its own work short of where `n` starts. The segment
    /// it is writing is always waited for: a restart would only make it again.
    pub(super) fn sooner_by_restart(&self, n: u32, head: u32, position: f64, speed: f64) -> bool {
        n > head
            && (n as usize) < self.map.len()
            && speed > 0.0
            && self.map.start(n as usize) - position > RESTART_SECS * speed
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
    use super::{progress_of, Hls};
    use crate::segments::SegmentMap;

    fn hls(map: SegmentMap) -> Hls {
        Hls::new(map, 1)
    }

    #[test]
    fn a_seek_restarts_only_where_waiting_takes_longer() {
        // 0, 1, 5, 9, 13, 17: a 1 s first segment, then 4 s ones.
        let h = hls(SegmentMap::fixed(21.0, 4.0, 1.0));
        // The run writes segment 1 (from 1.0 s) at 2x: segment 2 starts 4 s of output
        // (2 s of waiting) away, more than a restart's 1 s.
        assert!(h.sooner_by_restart(2, 1, 1.0, 2.0));
        // Nearly there: 0.5 s of output at 2x is 0.25 s of waiting.
        assert!(!h.sooner_by_restart(2, 1, 4.5, 2.0));
        // 1.5 s of output at 2x (0.75 s) is more than a restart's 0.5 s.
        assert!(h.sooner_by_restart(2, 1, 3.5, 2.0));
        // The segment being written is waited for, however slow the run.
        assert!(!h.sooner_by_restart(1, 1, 1.0, 0.1));
        // A run just started (no speed yet) is not judged; nor is a segment past the end.
        assert!(!h.sooner_by_restart(4, 1, 1.0, 0.0));
        assert!(!h.sooner_by_restart(9, 1, 1.0, 2.0));
        // Slower runs make a restart pay sooner: 0.8 s of output is 0.8 s at 1x.
        assert!(h.sooner_by_restart(2, 1, 4.2, 1.0));
        assert!(!h.sooner_by_restart(2, 1, 4.2, 2.0));
    }

    #[test]
    fn percent_and_seconds_left() {
        assert_eq!(progress_of(15.0, 60.0), (25.0, 45.0));
        // Past the announced length counts as the end, not more than 100 %.
        assert_eq!(progress_of(70.0, 60.0), (100.0, 0.0));
        // A length that is not known yet: no percent, no estimate.
        assert_eq!(progress_of(5.0, 0.0), (0.0, 0.0));
    }
}
