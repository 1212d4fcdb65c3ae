//! A real Caddy running `deploy/forward-auth/Caddyfile` (only its
//! addresses replaced) in front of a real upstream, with sessiongate
//! answering its `forward_auth`.
//!
//! Caddy 2.6 (Debian's) copies headers from a `200` check into the
//! request only: the check's `Set-Cookie` never reaches the browser. So
//! the gateway runs with `browser_session = true`, the setting the README
//! gives for it: the cookie has no expiry of its own, the store expires
//! the session, and checks alone keep it alive.

use super::nginx::{
    assert_seen_as, assert_seen_without_identity, expired_to_login, logout_ends_the_session,
    received_for,
};
use super::*;
use crate::support::fronting::{Deployed, Fronting};

fn caddy_in_front(env: &Env) -> Fronting {
    let file = Deployed::read("Caddyfile")
        .with(":80 {", "{LISTEN} {")
        .with("127.0.0.1:8000", &env.upstream.addr.to_string())
        .with("127.0.0.1:8080", &env.gw.addr.to_string());
    Fronting::caddy(&file)
}

#[tokio::test]
async fn managed_mode_behind_caddy() {
    let session = r#"idle_timeout = "2s"
        browser_session = true"#;
    let env = Env::start(Store::Memory, session, "").await;
    let caddy = caddy_in_front(&env);
    let http = &env.http;

    // No session: a browser to login with next, an API client a 401.
    let ans = http.get(caddy.url("/app/page"), &[BROWSER]).await;
    ans.assert_redirected("/app/page");
    let ans = http.get(caddy.url("/app/page"), &[API]).await;
    ans.assert_unauthorized("missing", "/app/page");
    assert!(received_for(&env.upstream, "/app/page").is_empty());
    // A client's own X-Original-URI naming a public path: the check refuses
    // to guess between it and Caddy's X-Forwarded-Uri.
    let ans = http
        .get(caddy.url("/app/page"), &[("x-original-uri", "/pub/x")])
        .await;
    assert_eq!(ans.status, StatusCode::BAD_REQUEST, "{}", caddy.log());
    assert!(received_for(&env.upstream, "/app/page").is_empty());

    // Login through sessiongate's proxy listener: a browser-session cookie.
    let ans = http.post(caddy.url("/login?user=alice"), &[]).await;
    assert_eq!(ans.status, StatusCode::OK, "{}", caddy.log());
    let set = ans.session_cookies();
    assert_eq!(set.len(), 1, "{set:?}");
    assert!(!set[0].contains("Max-Age"), "{set:?}");
    let cookie = ans.session_pair();

    // The protected page, as alice whatever the client claims.
    let mut h = vec![("cookie", cookie.as_str()), BROWSER];
    h.extend_from_slice(&FORGED);
    let ans = http.get(caddy.url("/app/page"), &h).await;
    assert_eq!(ans.status, StatusCode::OK, "{}", caddy.log());
    assert_seen_as(&env.upstream, "/app/page", "alice");

    // A public page: no identity at all, forged or not.
    let ans = http.get(caddy.url("/pub/x"), &FORGED).await;
    assert_eq!(ans.status, StatusCode::OK);
    assert_seen_without_identity(&env.upstream, "/pub/x");

    // Checks alone keep the session alive past its idle timeout.
    let mut last = Instant::now();
    for _ in 0..3 {
        at(last, 1.0).await;
        last = Instant::now();
        let ans = http
            .get(caddy.url("/app/again"), &[("cookie", cookie.as_str())])
            .await;
        assert_eq!(ans.status, StatusCode::OK);
    }

    // Idle past the timeout: to login with next, the stale cookie cleared.
    expired_to_login(&caddy, http, &cookie, Instant::now()).await;

    // Logout through sessiongate's own path ends the session.
    logout_ends_the_session(&caddy, &env).await;
}
