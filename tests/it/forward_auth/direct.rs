//! Both endpoints called directly, as nginx (`/auth/request`) and Traefik
//! or Caddy (`/auth/forward`) call them, for every row of SPEC §5.

use super::*;
use crate::support::http::metric;

const UNKNOWN: &str =
    "sessiongate=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A valid session: `200`, no body, the identity, and the `Set-Cookie` the
/// proxy path would send (a slid managed session's cookie, re-issued).
/// Nothing reaches the upstream.
#[tokio::test]
async fn a_valid_session_gets_200_with_identity_and_its_cookie() {
    for store in [Store::Memory, Store::Redis] {
        let env = Env::start(store, "", "").await;
        let login = env.login("alice").await;
        let cookie = [("cookie", login.cookie.as_str()), BROWSER];
        for (endpoint, method, uri) in [
            (REQUEST, "GET", "/app/page?x=1"),
            (FORWARD, "GET", "/app/page?x=1"),
            (FORWARD, "POST", "/app/form"),
        ] {
            // A slide needs time to have passed since the last one (within
            // one millisecond the TTL is already at its target).
            tokio::time::sleep(Duration::from_millis(20)).await;
            let ans = if endpoint == REQUEST {
                env.request(method, uri, &cookie).await
            } else {
                env.forward(method, uri, &cookie).await
            };
            ans.assert_allowed(Some("alice"));
            assert_eq!(ans.headers["cache-control"], "no-store");
            let reissued = ans.session_cookies();
            assert_eq!(reissued.len(), 1, "{store:?}: {:?}", ans.headers);
            assert!(
                reissued[0].starts_with(&format!("{}; ", login.cookie)),
                "{reissued:?}"
            );
            assert!(reissued[0].contains("Max-Age=1800"), "{reissued:?}");
        }
        // Only the login went upstream.
        assert_eq!(env.upstream.received().len(), 1, "{store:?}");
    }
}

/// Missing, expired (unknown) and invalid sessions, for a browser and for
/// an API client: `/auth/request` always answers `401` with the login
/// `Location`; `/auth/forward` answers section 5's `302` or `401` JSON. A
/// stale cookie is cleared either way; a missing one has nothing to clear.
#[tokio::test]
async fn missing_expired_and_invalid_sessions_are_refused() {
    let env = Env::start(Store::Memory, "", "").await;
    for (cookie, reason) in [
        (None, "missing"),
        (Some(UNKNOWN), "expired"),
        (Some("sessiongate=not%20an%20id!"), "invalid"),
    ] {
        let with = |extra: (&'static str, &'static str)| {
            let mut h = vec![extra];
            if let Some(c) = cookie {
                h.push(("cookie", c));
            }
            h
        };
        let cleared = |ans: &Answer| {
            if cookie.is_some() {
                ans.assert_cleared();
            } else {
                assert!(ans.session_cookies().is_empty(), "{:?}", ans.headers);
            }
        };
        for accept in [BROWSER, API] {
            let ans = env.request("GET", "/app/page", &with(accept)).await;
            ans.assert_request_refused(reason, "/app/page");
            cleared(&ans);
        }
        let ans = env.forward("GET", "/app/page?x=1", &with(BROWSER)).await;
        ans.assert_redirected("/app/page%3Fx%3D1");
        cleared(&ans);
        let ans = env.forward("GET", "/app/page", &with(API)).await;
        ans.assert_unauthorized(reason, "/app/page");
        cleared(&ans);
        // Not a GET: a redirect would drop the body, so 401.
        let ans = env.forward("POST", "/app/form", &with(BROWSER)).await;
        ans.assert_unauthorized(reason, "/app/form");
        let xhr = with(("x-requested-with", "XMLHttpRequest"));
        let ans = env.forward("GET", "/app/page", &xhr).await;
        ans.assert_unauthorized(reason, "/app/page");
    }
    assert!(env.upstream.received().is_empty());
}

/// A public route: `200` without identity, with or without a session, and
/// a client's own identity header is never echoed as the answer's.
#[tokio::test]
async fn a_public_route_gets_200_without_identity() {
    let env = Env::start(Store::Memory, "", "").await;
    let login = env.login("alice").await;
    let forged = ("x-sessiongate-user", "mallory");
    for cookie in [None, Some(login.cookie.as_str())] {
        let mut h = vec![forged, BROWSER];
        if let Some(c) = cookie {
            h.push(("cookie", c));
        }
        for ans in [
            env.request("GET", "/pub/app.css", &h).await,
            env.forward("GET", "/pub/app.css", &h).await,
            env.request("GET", "/login?next=/x", &h).await,
        ] {
            ans.assert_allowed(None);
            assert!(ans.session_cookies().is_empty(), "{:?}", ans.headers);
        }
    }
    // A forged identity on a protected path does not become the answer's.
    let h = [forged, ("cookie", login.cookie.as_str())];
    env.forward("GET", "/app", &h)
        .await
        .assert_allowed(Some("alice"));
}

/// Route matching is the proxy path's: a public prefix with dot segments,
/// encoded or not, never reaches a protected path, and `next` is the
/// normalised path.
#[tokio::test]
async fn a_dot_segment_disguise_is_not_public() {
    let env = Env::start(Store::Memory, "", "").await;
    for uri in [
        "/pub/../admin",
        "/pub/..%2Fadmin",
        "/pub/%2e%2e/admin",
        "/pub/..;/admin",
    ] {
        let ans = env.request("GET", uri, &[BROWSER]).await;
        assert_eq!(ans.status, StatusCode::UNAUTHORIZED, "{uri}");
        let ans = env.forward("GET", uri, &[BROWSER]).await;
        assert_eq!(ans.status, StatusCode::FOUND, "{uri}");
    }
    env.forward("GET", "/pub/../admin", &[BROWSER])
        .await
        .assert_redirected("/admin");
    env.request("GET", "/pub/../admin", &[])
        .await
        .assert_request_refused("missing", "/admin");
}

/// The original's host routes, from `X-Forwarded-Host` (else the
/// sub-request's `Host`).
#[tokio::test]
async fn the_original_host_picks_host_routes() {
    let routes = r#"[[route]]
        name = "open-site"
        host = "open.example.com"
        path = "/"
        public = true"#;
    let env = Env::start(Store::Memory, "", routes).await;
    let open = ("x-forwarded-host", "Open.Example.com:8443");
    env.request("GET", "/x", &[open]).await.assert_allowed(None);
    env.forward("GET", "/x", &[open]).await.assert_allowed(None);
    let ans = env
        .request("GET", "/x", &[("x-forwarded-host", "app.example.com")])
        .await;
    assert_eq!(ans.status, StatusCode::UNAUTHORIZED);
    // The sub-request's own Host when no header names one.
    let ans = env
        .http
        .get(
            env.gw.url(REQUEST),
            &[("x-original-uri", "/x"), ("host", "open.example.com")],
        )
        .await;
    ans.assert_allowed(None);
}

/// A route's stricter idle limit refuses that route only, keeping the
/// cookie (the session lives on elsewhere); activity elsewhere counts.
#[tokio::test]
async fn a_route_idle_limit_applies_to_the_original_uri() {
    let routes = r#"[[route]]
        name = "strict"
        path = "/strict/"
        idle_timeout = "1s""#;
    let env = Env::start(Store::Memory, "", routes).await;
    let login = env.login("alice").await;
    let cookie = [("cookie", login.cookie.as_str()), BROWSER];
    env.request("GET", "/strict/x", &cookie)
        .await
        .assert_allowed(Some("alice"));
    env.request("GET", "/app", &cookie)
        .await
        .assert_allowed(Some("alice"));
    at(Instant::now(), 1.6).await;
    let ans = env.request("GET", "/strict/x", &cookie).await;
    ans.assert_request_refused("expired", "/strict/x");
    assert!(ans.session_cookies().is_empty(), "{:?}", ans.headers);
    let ans = env.forward("GET", "/strict/x", &cookie).await;
    ans.assert_redirected("/strict/x");
    assert!(ans.session_cookies().is_empty(), "{:?}", ans.headers);
    // The session lives on for other routes, and that activity counts.
    env.forward("GET", "/app", &cookie)
        .await
        .assert_allowed(Some("alice"));
    env.request("GET", "/strict/x", &cookie)
        .await
        .assert_allowed(Some("alice"));
}

/// Checks for a route with `extends_session = false` never slide: the
/// session ends `idle_timeout` after login however often they come.
#[tokio::test]
async fn checks_on_a_route_that_does_not_extend_the_session_never_slide() {
    let routes = r#"[[route]]
        name = "poll"
        path = "/poll/"
        extends_session = false"#;
    let env = Env::start(Store::Redis, r#"idle_timeout = "2s""#, routes).await;
    let login = env.login("alice").await;
    let cookie = [("cookie", login.cookie.as_str())];
    for secs in [0.5, 1.0, 1.5] {
        at(login.before, secs).await;
        let ans = env.forward("GET", "/poll/status", &cookie).await;
        ans.assert_allowed(Some("alice"));
        assert!(ans.session_cookies().is_empty(), "{:?}", ans.headers);
    }
    let pttl: i64 = env
        .redis()
        .query(&["PTTL", &format!("sessiongate:{}", login.id())]);
    assert!(pttl <= 1_000, "slid: PTTL {pttl}");
    at(login.after, 2.5).await;
    env.request("GET", "/poll/status", &cookie)
        .await
        .assert_request_refused("expired", "/poll/status");
}

/// Checks alone keep a session alive (they slide like forwarded
/// requests), and once they stop it expires `idle_timeout` later.
#[tokio::test]
async fn checks_alone_keep_a_session_alive() {
    for store in [Store::Memory, Store::Redis] {
        let env = Env::start(store, r#"idle_timeout = "2s""#, "").await;
        let login = env.login("alice").await;
        let cookie = [("cookie", login.cookie.as_str())];
        let mut last = login.after;
        // 4 s in all, twice the idle timeout, each check 1 s after the last.
        for n in 0..4 {
            at(last, 1.0).await;
            last = Instant::now();
            let ans = if n % 2 == 0 {
                env.request("GET", "/app", &cookie).await
            } else {
                env.forward("GET", "/app", &cookie).await
            };
            ans.assert_allowed(Some("alice"));
            if store == Store::Redis {
                let pttl: i64 = env
                    .redis()
                    .query(&["PTTL", &format!("sessiongate:{}", login.id())]);
                assert!(pttl > 1_500, "not slid: PTTL {pttl}");
            }
        }
        at(Instant::now(), 2.5).await;
        env.forward("GET", "/app", &[cookie[0], API])
            .await
            .assert_unauthorized("expired", "/app");
    }
}

/// Without an original URI the answer is a `400` naming the headers; two
/// descriptions that disagree (a client's header of the other family) are
/// a `400` too, never a guess.
#[tokio::test]
async fn missing_or_conflicting_original_headers_are_a_400() {
    let env = Env::start(Store::Memory, "", "").await;
    for path in [REQUEST, FORWARD] {
        let ans = env.http.get(env.gw.url(path), &[BROWSER]).await;
        assert_eq!(ans.status, StatusCode::BAD_REQUEST);
        let detail = ans.json()["detail"].as_str().unwrap().to_owned();
        for name in ["X-Original-URI", "X-Forwarded-Uri"] {
            assert!(detail.contains(name), "{detail}");
        }
    }
    let forged = env
        .request("GET", "/admin", &[("x-forwarded-uri", "/pub/x")])
        .await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);
    let forged = env
        .forward("GET", "/admin", &[("x-original-uri", "/pub/x")])
        .await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);
    let forged = env
        .forward("GET", "/admin", &[("x-original-url", "http://x/pub/x")])
        .await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);
}

/// A store outage is a `503` with `Retry-After`: nobody is logged out.
#[tokio::test]
async fn a_store_outage_is_503_never_a_logout() {
    let mut env = Env::start(Store::Redis, "", "").await;
    let login = env.login("alice").await;
    env.redis.as_mut().unwrap().kill();
    let cookie = [("cookie", login.cookie.as_str()), BROWSER];
    for ans in [
        env.request("GET", "/app", &cookie).await,
        env.forward("GET", "/app", &cookie).await,
    ] {
        assert_eq!(ans.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(ans.headers.contains_key("retry-after"));
        assert!(ans.session_cookies().is_empty(), "{:?}", ans.headers);
    }
}

/// Checks count in the original route's metrics like proxied requests,
/// and by endpoint and answer.
#[tokio::test]
async fn checks_are_counted_by_route_and_answer() {
    let env = Env::start(Store::Memory, "", "").await;
    let login = env.login("alice").await;
    let cookie = [("cookie", login.cookie.as_str())];
    env.request("GET", "/app", &cookie).await;
    env.forward("GET", "/pub/x", &[]).await;
    env.forward("GET", "/app", &[BROWSER]).await;
    env.request("GET", "/app", &[]).await;
    env.request("GET", "/x", &[("x-forwarded-uri", "/y")]).await;
    let text = env.http.metrics(&env.gw).await;
    for (series, want) in [
        (
            r#"sessiongate_requests_total{route="default",outcome="forwarded"}"#,
            1.0,
        ),
        (
            r#"sessiongate_requests_total{route="pub",outcome="public"}"#,
            1.0,
        ),
        (
            r#"sessiongate_requests_total{route="default",outcome="redirected"}"#,
            2.0,
        ),
        (
            r#"sessiongate_redirects_total{route="default",reason="missing"}"#,
            2.0,
        ),
        (
            r#"sessiongate_forward_auth_checks_total{endpoint="request",answer="allowed"}"#,
            1.0,
        ),
        (
            r#"sessiongate_forward_auth_checks_total{endpoint="forward",answer="public"}"#,
            1.0,
        ),
        (
            r#"sessiongate_forward_auth_checks_total{endpoint="forward",answer="refused"}"#,
            1.0,
        ),
        (
            r#"sessiongate_forward_auth_checks_total{endpoint="request",answer="refused"}"#,
            1.0,
        ),
        (
            r#"sessiongate_forward_auth_checks_total{endpoint="request",answer="bad_request"}"#,
            1.0,
        ),
    ] {
        assert_eq!(metric(&text, series), want, "{series}\n{text}");
    }
}

/// External mode: the application's own key in Redis, slid without
/// shortening; no identity (the application knows its user) and no cookie.
#[tokio::test]
async fn external_mode_checks_the_applications_key() {
    let env = Env::start_external().await;
    let redis = env.redis();
    let cookie = [("cookie", "sessionid=abc123")];
    let ans = env.request("GET", "/app", &cookie).await;
    ans.assert_allowed(None);
    assert!(ans.set_cookies().is_empty(), "{:?}", ans.headers);
    let pttl: i64 = redis.query(&["PTTL", APP_KEY]);
    assert!(pttl > 15_000, "not slid to idle_timeout: PTTL {pttl}");
    let value: String = redis.query(&["GET", APP_KEY]);
    assert_eq!(value, "{}");
    let ans = env
        .forward("GET", "/app", &[("cookie", "sessionid=gone"), BROWSER])
        .await;
    ans.assert_redirected("/app");
}

/// Observe mode: a session learned from the application's `Set-Cookie` on
/// the proxy path is checked like any other; a value never seen is
/// expired, and its cookie (the application's) cleared.
#[tokio::test]
async fn observe_mode_checks_sessions_learned_on_the_proxy_path() {
    let session = r#"mode = "observe"
        learn_cookie = "appsid""#;
    let env = Env::start(Store::Redis, session, "").await;
    let ans = env
        .http
        .get(env.gw.url("/pub/set-cookie?appsid=abc123"), &[])
        .await;
    assert_eq!(ans.status, StatusCode::OK);
    let cookie = [("cookie", "appsid=abc123")];
    let ans = env.request("GET", "/app", &cookie).await;
    ans.assert_allowed(None);
    assert!(ans.set_cookies().is_empty(), "{:?}", ans.headers);
    let ans = env
        .forward("GET", "/app", &[("cookie", "appsid=never-seen"), BROWSER])
        .await;
    ans.assert_redirected("/app");
    let cleared = ans.set_cookies();
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("appsid=;") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
}
