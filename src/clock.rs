//! Time as the gateway and its stores count it: Unix milliseconds on the
//! gateway's clock, and durations as whole milliseconds (the unit Redis
//! keeps TTLs in). One definition of each, used everywhere.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Unix milliseconds on the gateway's clock.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis)
}

/// A duration in whole milliseconds, saturating at `u64::MAX`.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_saturate() {
        assert_eq!(millis(Duration::from_micros(1_999)), 1);
        assert_eq!(millis(Duration::MAX), u64::MAX);
        assert!(now_ms() > 1_700_000_000_000);
    }
}
