//! One log line per interval for a condition that repeats in a burst (a
//! listener at its limit, `accept` failing on a full file table, the memory
//! store evicting in a login flood), with how many times it happened.

use std::time::{Duration, Instant};

/// At most one line per this interval.
pub(crate) const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Lets one log line through per [`LOG_INTERVAL`], counting the others.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    last: Option<Instant>,
    /// Occurrences since the last line, that one included.
    count: u64,
}

impl Throttle {
    /// Notes one occurrence now; `Some(occurrences since the last line)`
    /// when a line is due.
    pub(crate) fn note(&mut self) -> Option<u64> {
        self.note_at(Instant::now())
    }

    fn note_at(&mut self, now: Instant) -> Option<u64> {
        self.count += 1;
        let due = self
            .last
            .is_none_or(|last| now.saturating_duration_since(last) >= LOG_INTERVAL);
        if !due {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_condition_is_logged_once_per_interval_with_its_count() {
        let t0 = Instant::now();
        let mut throttle = Throttle::default();
        assert_eq!(throttle.note_at(t0), Some(1));
        assert_eq!(throttle.note_at(t0), None);
        assert_eq!(throttle.note_at(t0 + LOG_INTERVAL / 2), None);
        assert_eq!(throttle.note_at(t0 + LOG_INTERVAL), Some(3));
        assert_eq!(throttle.note_at(t0 + LOG_INTERVAL), None);
    }
}
