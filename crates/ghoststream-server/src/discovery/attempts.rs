//! Failed attempts within a sliding window: wrong pairing codes, from everyone together.

use std::time::{Duration, Instant};

/// Failed attempts within a sliding window.
pub struct Attempts {
    at: std::collections::VecDeque<Instant>,
    max: usize,
    window: Duration,
}

impl Attempts {
    pub fn new(max: usize, window: Duration) -> Attempts {
        Attempts {
            at: std::collections::VecDeque::new(),
            max,
            window,
        }
    }

    /// Whether another attempt may be made at `now`.
    pub fn allowed(&mut self, now: Instant) -> bool {
        while self
            .at
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
        {
            self.at.pop_front();
        }
        self.at.len() < self.max
    }

    pub fn record(&mut self, now: Instant) {
        if self.at.len() < self.max {
            self.at.push_back(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_pairing_codes_are_limited_per_window() {
        let t0 = Instant::now();
        let mut a = Attempts::new(5, Duration::from_secs(60));
        for _ in 0..5 {
            assert!(a.allowed(t0));
            a.record(t0);
        }
        assert!(!a.allowed(t0 + Duration::from_secs(59)));
        assert!(a.allowed(t0 + Duration::from_secs(60)));
    }
}
