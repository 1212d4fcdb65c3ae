//! Property tests: the decision, on top of the store's extension rule,
//! against a model of SPEC §3, on random sequences of requests and clock
//! steps under random expiry settings.
//!
//! The store is a fake one on a fake clock that keeps a TTL as an expiry
//! instant and slides it by the one rule every store follows
//! (`store::rules::session_target`), as the memory store does on its own
//! clock.

use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::clock::millis;
use crate::config::{Config, Route};
use crate::session::lifecycle::NewSession;
use crate::store::rules::session_target;
use crate::store::{Found, Record};

/// One session in a store whose clock the test moves.
struct FakeStore {
    entry: Option<(Record, u64)>,
}

impl FakeStore {
    fn touch(&mut self, touch: &crate::store::Touch) -> Lookup {
        let now = touch.now_ms;
        let Some((record, expires_at)) = &mut self.entry else {
            return Lookup::Unknown;
        };
        if now >= *expires_at {
            self.entry = None;
            return Lookup::Unknown;
        }
        let ttl_before = Duration::from_millis(*expires_at - now);
        let target = session_target(record, touch, ttl_before);
        let found = Found {
            record: record.clone(),
            ttl_before,
            ttl: target.unwrap_or(ttl_before),
            extended: target.is_some(),
        };
        if let Some(target) = target {
            *expires_at = now + millis(target);
            record.touched_ms = now;
        }
        Lookup::Live(found)
    }
}

#[derive(Debug, Clone)]
struct Settings {
    idle_ms: u64,
    sliding: bool,
    absolute_ms: Option<u64>,
    browser: bool,
    touch_interval_ms: u64,
    /// The strict route's own `idle_timeout`.
    route_limit_ms: Option<u64>,
    /// Whether the strict route extends sessions.
    strict_extends: bool,
}

fn settings() -> impl Strategy<Value = Settings> {
    (
        1_000u64..60_000,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_flat_map(|(idle_ms, sliding, browser, strict_extends)| {
            (
                Just(idle_ms),
                Just(sliding),
                prop::option::of(idle_ms / 2..idle_ms * 4),
                Just(browser),
                prop_oneof![Just(0u64), 0..idle_ms],
                prop::option::of(1..idle_ms),
                Just(strict_extends),
            )
        })
        .prop_map(
            |(idle_ms, sliding, absolute_ms, browser, touch_interval_ms, route_limit_ms, e)| {
                Settings {
                    idle_ms,
                    sliding,
                    absolute_ms,
                    browser,
                    touch_interval_ms,
                    route_limit_ms,
                    strict_extends: e,
                }
            },
        )
}

/// A request after `wait_ms`, on the strict route or the plain one.
fn steps() -> impl Strategy<Value = Vec<(u64, bool)>> {
    prop::collection::vec(
        (
            prop_oneof![0u64..100, 0u64..2_000, 0u64..70_000],
            any::<bool>(),
        ),
        1..40,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn accepted_iff_the_model_says_alive(s in settings(), steps in steps()) {
        let mut config = Config::default();
        let session = &mut config.session;
        session.idle_timeout = Duration::from_millis(s.idle_ms);
        session.sliding = s.sliding;
        session.absolute_timeout = s.absolute_ms.map(Duration::from_millis);
        session.browser_session = s.browser;
        session.touch_interval = Duration::from_millis(s.touch_interval_ms);
        let plain = Route::protected("plain", "/");
        let mut strict = Route::protected("strict", "/strict/");
        strict.idle_timeout = s.route_limit_ms.map(Duration::from_millis);
        strict.extends_session = s.strict_extends;
        let strictest = strict.idle_timeout;

        let start = 1_000_000u64;
        let new = NewSession::begin(&config.session, None, None, s.browser, start);
        let mut store = FakeStore { entry: Some((new.record, start + millis(new.ttl))) };
        // The model: the last activity, and the session's hard end.
        let mut last = start;
        let deadline = s.absolute_ms.map_or(u64::MAX, |a| start + a);
        let min_step = match strictest {
            Some(limit) => s.touch_interval_ms.min(millis(limit) / 2),
            None => s.touch_interval_ms,
        };
        let mut now = start;
        let mut dead = false;
        for (wait, on_strict) in steps {
            now += wait;
            let route = if on_strict { &strict } else { &plain };
            let touch = touch_for(&config.session, route, strictest, now);
            let lookup = store.touch(&touch);
            let limit = route.idle_timeout.map(millis);
            let decision = decide(lookup, route.idle_timeout, Mode::Managed, || Refusal::Redirect, now);

            let end = (last + s.idle_ms).min(deadline);
            let alive = now < end;
            let within_limit = limit.is_none_or(|l| now - last <= l);
            // Sure to be accepted: alive by more than a skipped write can
            // take away, and the route's limit not even nearly reached.
            let surely = now + min_step < end
                && limit.is_none_or(|l| now - last + min_step <= l);
            match decision {
                Decision::Forward { found, cookie } => {
                    prop_assert!(!dead, "resurrected at {}", now - start);
                    prop_assert!(alive, "accepted {} ms after its end", now - end);
                    prop_assert!(within_limit, "accepted past the route's limit");
                    if let CookieAction::Reissue(age) = cookie {
                        prop_assert!(!s.browser, "a browser session's cookie re-issued");
                        // The cookie lives exactly as long as the session.
                        let (_, expires_at) = store.entry.as_ref().expect("live");
                        prop_assert_eq!(millis(age), expires_at - now);
                    }
                    prop_assert!(found.record.touched_ms <= now);
                    if s.sliding && route.extends_session {
                        last = now;
                    }
                }
                Decision::Refuse { .. } => {
                    prop_assert!(!surely, "refused {} ms before its end", end - now);
                    dead |= !alive;
                }
            }
        }
    }
}
