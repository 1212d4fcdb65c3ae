//! The extension rule of [`SessionStore::touch`](super::SessionStore::touch)
//! as a pure function.
//!
//! The memory store calls it directly; the Redis store runs the same rule
//! inside `touch.lua`, because there the read and the conditional write must
//! happen in one atomic round trip. Keep the two in step: the conformance
//! suite runs the same tests against both.

use std::time::Duration;

use super::{Record, Touch};
use crate::clock::millis;

/// The new TTL for a managed session, or `None` when this touch must not
/// write.
///
/// `ttl` is the remaining TTL before the touch.
pub(crate) fn session_target(record: &Record, touch: &Touch, ttl: Duration) -> Option<Duration> {
    if !touch.extend {
        return None;
    }
    if let Some(max_idle) = touch.max_idle
        && idle_exceeded(record.touched_ms, touch.now_ms, max_idle)
    {
        // The route's stricter limit is exceeded: the request will be
        // refused, so it must not count as activity.
        return None;
    }
    let mut target = millis(record.idle);
    if let Some(deadline) = record.deadline_ms {
        // Never extend past the absolute cap; at or past it, never extend.
        let left = deadline.saturating_sub(touch.now_ms);
        target = target.min(left);
    }
    // A session whose own idle timeout (`max-age`) is shorter than
    // `touch_interval` would otherwise never slide: skip at most half of it.
    let min_step = millis(touch.min_step).min(millis(record.idle) / 2);
    grows_enough(target, millis(ttl), min_step).then(|| Duration::from_millis(target))
}

/// Whether a session last active at `touched_ms` has been idle longer than
/// `limit` at `now_ms`: a route's stricter `idle_timeout` (SPEC §3). The one
/// definition: the decision refuses by it, the stores do not slide by it
/// (`touch.lua` runs the same comparison on the `max_idle` argument).
pub fn idle_exceeded(touched_ms: u64, now_ms: u64, limit: Duration) -> bool {
    now_ms.saturating_sub(touched_ms) > millis(limit)
}

/// Whether moving the TTL from `ttl` to `target` lengthens it by more than
/// zero and by at least `min_step` (all in milliseconds, as Redis keeps them).
fn grows_enough(target: u64, ttl: u64, min_step: u64) -> bool {
    target > ttl && target - ttl >= min_step
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(idle_ms: u64, deadline_ms: Option<u64>, touched_ms: u64) -> Record {
        Record {
            user: None,
            started_ms: 0,
            idle: Duration::from_millis(idle_ms),
            deadline_ms,
            browser: false,
            touched_ms,
        }
    }

    fn touch(now_ms: u64, min_step_ms: u64, max_idle_ms: Option<u64>) -> Touch {
        Touch {
            now_ms,
            extend: true,
            min_step: Duration::from_millis(min_step_ms),
            max_idle: max_idle_ms.map(Duration::from_millis),
        }
    }

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn min_step_is_at_most_half_the_sessions_idle() {
        // max-age=1s under touch_interval=10s: still slides.
        let r = record(1000, None, 0);
        assert_eq!(
            session_target(&r, &touch(10, 10_000, None), MS(400)),
            Some(MS(1000))
        );
        assert_eq!(session_target(&r, &touch(10, 10_000, None), MS(800)), None);
    }

    #[test]
    fn extends_to_idle() {
        let r = record(1000, None, 0);
        assert_eq!(
            session_target(&r, &touch(10, 0, None), MS(400)),
            Some(MS(1000))
        );
    }

    #[test]
    fn never_when_extend_is_off() {
        let r = record(1000, None, 0);
        let t = Touch {
            extend: false,
            ..touch(10, 0, None)
        };
        assert_eq!(session_target(&r, &t, MS(400)), None);
    }

    #[test]
    fn min_step_skips_small_growth() {
        let r = record(1000, None, 0);
        assert_eq!(session_target(&r, &touch(10, 500, None), MS(600)), None);
        assert_eq!(
            session_target(&r, &touch(10, 500, None), MS(500)),
            Some(MS(1000))
        );
    }

    #[test]
    fn zero_growth_never_writes() {
        let r = record(1000, None, 0);
        assert_eq!(session_target(&r, &touch(10, 0, None), MS(1000)), None);
    }

    #[test]
    fn deadline_caps_and_ends() {
        let r = record(1000, Some(10_300), 0);
        assert_eq!(
            session_target(&r, &touch(10_000, 0, None), MS(100)),
            Some(MS(300))
        );
        assert_eq!(session_target(&r, &touch(10_300, 0, None), MS(100)), None);
        assert_eq!(session_target(&r, &touch(20_000, 0, None), MS(100)), None);
    }

    #[test]
    fn idle_exceeded_only_past_the_limit() {
        assert!(!idle_exceeded(1_000, 1_500, MS(500)));
        assert!(idle_exceeded(1_000, 1_501, MS(500)));
        // A clock that went back is no idle time.
        assert!(!idle_exceeded(2_000, 1_000, MS(0)));
        assert!(!idle_exceeded(0, u64::MAX, Duration::MAX));
    }

    #[test]
    fn max_idle_exceeded_is_not_activity() {
        let r = record(1000, None, 1_000);
        assert_eq!(
            session_target(&r, &touch(1_600, 0, Some(500)), MS(100)),
            None
        );
        assert_eq!(
            session_target(&r, &touch(1_500, 0, Some(500)), MS(100)),
            Some(MS(1000))
        );
    }
}
