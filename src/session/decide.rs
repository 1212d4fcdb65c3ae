//! The pure heart of the session step: given what the request and the store
//! say, what happens to the request, and to its cookie. No I/O here, so
//! every row of SPEC §5 (and the mode and browser-session rules of the
//! cookie) is a unit test.

use std::time::Duration;

use http::{HeaderMap, Method};

use crate::config::{Mode, OnUnauthenticated, Route, SessionConfig};
use crate::metrics::Reason;
use crate::respond::wants_json;
use crate::store::{Found, Touch, idle_exceeded};

/// What the store told us about the request's session. (A store that
/// failed is not a lookup: it never reaches a decision, see
/// [`Sessions::check`](crate::session::Sessions::check).)
#[derive(Debug)]
pub enum Lookup {
    /// The request carried no session cookie.
    NoCookie,
    /// The cookie's value is not a valid session id.
    Malformed,
    /// The store has no such session (never existed, expired, ended).
    Unknown,
    /// A live session.
    Live(Found),
}

/// How to tell a client that it must log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `302` to the login URL.
    Redirect,
    /// `401` with a JSON body.
    Unauthorized,
}

/// What becomes of the session cookie in the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieAction {
    /// Nothing to send.
    Keep,
    /// Set it again with this Max-Age: the TTL was slid, and the browser
    /// cookie must never expire before the session (SPEC §3).
    Reissue(Duration),
    /// Delete the stale cookie (`Max-Age=0`).
    Clear,
}

/// What to do with a protected request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Forward upstream, as the session's user (managed mode's identity
    /// header).
    Forward { found: Found, cookie: CookieAction },
    /// Send to login.
    Refuse {
        reason: Reason,
        refusal: Refusal,
        cookie: CookieAction,
    },
}

/// What the store lookup of a protected request should do besides reading.
///
/// A route's idle limit is checked against the last *recorded* activity, and
/// `touch_interval` skips recording: so on *every* route the write is
/// skipped for at most half the strictest route limit (`strictest`, the
/// smallest `idle_timeout` of any route: `Router::strictest_idle`), or a user active elsewhere, or
/// every few hundred milliseconds on the strict route itself, would be
/// refused there as idle.
pub fn touch_for(
    session: &SessionConfig,
    route: &Route,
    strictest: Option<Duration>,
    now_ms: u64,
) -> Touch {
    let min_step = strictest.map_or(session.touch_interval, |limit| {
        session.touch_interval.min(limit / 2)
    });
    Touch {
        now_ms,
        extend: session.sliding && route.extends_session,
        min_step,
        max_idle: route.idle_timeout,
    }
}

/// Decides a protected request's fate and its cookie's. `route_limit` is
/// the route's own stricter `idle_timeout`, if any; `refusal` says how to
/// refuse, asked only when the request is refused (it reads the `Accept`
/// header, which a forwarded request never needs).
///
/// The cookie rules: a stale or malformed cookie is cleared; a missing one
/// has nothing to clear; a session too idle only for this route keeps its
/// cookie (it lives on elsewhere); a slid session's cookie is re-issued,
/// but only the gateway's own (managed mode) and never a browser session's.
pub fn decide(
    lookup: Lookup,
    route_limit: Option<Duration>,
    mode: Mode,
    refusal: impl FnOnce() -> Refusal,
    now_ms: u64,
) -> Decision {
    let refuse = |reason, cookie| Decision::Refuse {
        reason,
        refusal: refusal(),
        cookie,
    };
    match lookup {
        Lookup::NoCookie => refuse(Reason::Missing, CookieAction::Keep),
        Lookup::Malformed => refuse(Reason::Invalid, CookieAction::Clear),
        Lookup::Unknown => refuse(Reason::Expired, CookieAction::Clear),
        Lookup::Live(found) => {
            if let Some(limit) = route_limit
                && idle_exceeded(found.record.touched_ms, now_ms, limit)
            {
                return refuse(Reason::Expired, CookieAction::Keep);
            }
            let reissue = found.extended && !found.record.browser && mode == Mode::Managed;
            let cookie = if reissue {
                CookieAction::Reissue(found.ttl)
            } else {
                CookieAction::Keep
            };
            Decision::Forward { found, cookie }
        }
    }
}

/// How this request is refused, by the route's `on_unauthenticated` and,
/// for `auto`, the request itself: API requests get `401`, browsers `302`.
pub fn refusal_for(
    on_unauthenticated: OnUnauthenticated,
    method: &Method,
    headers: &HeaderMap,
) -> Refusal {
    match on_unauthenticated {
        OnUnauthenticated::Redirect => Refusal::Redirect,
        OnUnauthenticated::Unauthorized => Refusal::Unauthorized,
        OnUnauthenticated::Auto => {
            // A redirect would drop a POST body: only GET/HEAD are redirected.
            let safe_method = method == Method::GET || method == Method::HEAD;
            if safe_method && !wants_json(headers) {
                Refusal::Redirect
            } else {
                Refusal::Unauthorized
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Record;
    use crate::testing::headers;

    const NOW: u64 = 1_000_000;

    fn route() -> Route {
        Route::protected("app", "/")
    }

    fn found(touched_ago_ms: u64, extended: bool, browser: bool) -> Found {
        Found {
            record: Record {
                user: Some("alice".into()),
                started_ms: NOW - 50_000,
                idle: Duration::from_secs(300),
                deadline_ms: None,
                browser,
                touched_ms: NOW - touched_ago_ms,
            },
            ttl_before: Duration::from_millis(300_000 - touched_ago_ms),
            ttl: Duration::from_secs(300),
            extended,
        }
    }

    fn decide_managed(lookup: Lookup, route: &Route, refusal: Refusal) -> Decision {
        decide(lookup, route.idle_timeout, Mode::Managed, || refusal, NOW)
    }

    #[test]
    fn missing_cookie_is_refused_without_clearing() {
        let d = decide_managed(Lookup::NoCookie, &route(), Refusal::Redirect);
        assert_eq!(
            d,
            Decision::Refuse {
                reason: Reason::Missing,
                refusal: Refusal::Redirect,
                cookie: CookieAction::Keep
            }
        );
    }

    #[test]
    fn malformed_and_unknown_clear_the_stale_cookie() {
        for (lookup, reason) in [
            (Lookup::Malformed, Reason::Invalid),
            (Lookup::Unknown, Reason::Expired),
        ] {
            let d = decide_managed(lookup, &route(), Refusal::Unauthorized);
            assert_eq!(
                d,
                Decision::Refuse {
                    reason,
                    refusal: Refusal::Unauthorized,
                    cookie: CookieAction::Clear
                }
            );
        }
    }

    #[test]
    fn live_session_forwards_and_reissues_only_when_slid() {
        let cookie_of = |decision| match decision {
            Decision::Forward { found, cookie } => {
                assert_eq!(found.record.user.as_deref(), Some("alice"));
                cookie
            }
            other => panic!("not forwarded: {other:?}"),
        };
        let live = |extended, browser| Lookup::Live(found(1_000, extended, browser));
        assert_eq!(
            cookie_of(decide_managed(
                live(true, false),
                &route(),
                Refusal::Redirect
            )),
            CookieAction::Reissue(Duration::from_secs(300))
        );
        assert_eq!(
            cookie_of(decide_managed(
                live(false, false),
                &route(),
                Refusal::Redirect
            )),
            CookieAction::Keep
        );
        // Browser sessions never get a Max-Age.
        assert_eq!(
            cookie_of(decide_managed(
                live(true, true),
                &route(),
                Refusal::Redirect
            )),
            CookieAction::Keep
        );
        // Only the gateway's own cookie is ever re-issued.
        for mode in [Mode::External, Mode::Observe] {
            let d = decide(live(true, false), None, mode, || Refusal::Redirect, NOW);
            assert_eq!(cookie_of(d), CookieAction::Keep, "{mode:?}");
        }
    }

    #[test]
    fn route_idle_limit_is_stricter_and_keeps_the_cookie() {
        let mut strict = route();
        strict.idle_timeout = Some(Duration::from_secs(60));
        let d = decide_managed(
            Lookup::Live(found(60_001, false, false)),
            &strict,
            Refusal::Redirect,
        );
        assert_eq!(
            d,
            Decision::Refuse {
                reason: Reason::Expired,
                refusal: Refusal::Redirect,
                cookie: CookieAction::Keep
            }
        );
        let d = decide_managed(
            Lookup::Live(found(60_000, true, false)),
            &strict,
            Refusal::Redirect,
        );
        assert!(matches!(d, Decision::Forward { .. }));
    }

    #[test]
    fn touch_follows_sliding_and_extends_session() {
        let mut cfg = crate::config::Config::default().session;
        cfg.touch_interval = Duration::from_secs(5);
        let mut r = route();
        r.idle_timeout = Some(Duration::from_secs(60));
        let t = touch_for(&cfg, &r, r.idle_timeout, NOW);
        assert!(t.extend);
        assert_eq!(t.min_step, Duration::from_secs(5));
        assert_eq!(t.max_idle, Some(Duration::from_secs(60)));
        r.extends_session = false;
        assert!(!touch_for(&cfg, &r, None, NOW).extend);
        cfg.sliding = false;
        assert!(!touch_for(&cfg, &route(), None, NOW).extend);
    }

    #[test]
    fn every_route_records_activity_at_least_every_half_the_strictest_limit() {
        let mut cfg = crate::config::Config::default().session;
        cfg.touch_interval = Duration::from_secs(5);
        let mut strict = route();
        strict.idle_timeout = Some(Duration::from_secs(4));
        let strictest = |routes: &[Route]| {
            let config = crate::config::Config {
                routes: routes.to_vec(),
                ..Default::default()
            };
            crate::route::Router::new(&config).strictest_idle()
        };
        let strictest_of_both = strictest(&[route(), strict.clone()]);
        assert_eq!(strictest_of_both, Some(Duration::from_secs(4)));
        for r in [&strict, &route()] {
            let t = touch_for(&cfg, r, strictest_of_both, NOW);
            assert_eq!(t.min_step, Duration::from_secs(2), "{}", r.name);
        }
        assert_eq!(strictest(&[route()]), None);
    }

    #[test]
    fn auto_refusal_rules() {
        let auto = OnUnauthenticated::Auto;
        let html = headers(&[("accept", "text/html,application/xhtml+xml,*/*;q=0.8")]);
        let json = headers(&[("accept", "application/json")]);
        let xhr = headers(&[("x-requested-with", "XMLHttpRequest")]);
        assert_eq!(refusal_for(auto, &Method::GET, &html), Refusal::Redirect);
        assert_eq!(
            refusal_for(auto, &Method::HEAD, &HeaderMap::new()),
            Refusal::Redirect
        );
        assert_eq!(
            refusal_for(auto, &Method::GET, &json),
            Refusal::Unauthorized
        );
        assert_eq!(refusal_for(auto, &Method::GET, &xhr), Refusal::Unauthorized);
        assert_eq!(
            refusal_for(auto, &Method::POST, &html),
            Refusal::Unauthorized
        );
        assert_eq!(
            refusal_for(OnUnauthenticated::Redirect, &Method::POST, &json),
            Refusal::Redirect
        );
        assert_eq!(
            refusal_for(OnUnauthenticated::Unauthorized, &Method::GET, &html),
            Refusal::Unauthorized
        );
    }
}

#[cfg(test)]
#[path = "decide_prop_tests.rs"]
mod props;
