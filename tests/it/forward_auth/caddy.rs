//! A real Caddy running `deploy/forward-auth/Caddyfile` (only its
//! addresses replaced) in front of a real upstream, with sessiongate
//! answering its `forward_auth`.
//!
//! Caddy 2.6 (Debian's) copies headers from a `200` check into the
//! request only: the check's `Set-Cookie` never reaches the browser. So
//! the gateway runs with `browser_session = true`, the setting the README
//! gives for it: the cookie has no expiry of its own, the store expires
//! the session, and checks alone keep it alive.

use super::nginx::{received_for, saw};
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
    let forged = [
        ("x-sessiongate-user", "mallory"),
        ("x_sessiongate_user", "mallory"),
    ];

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
    h.extend_from_slice(&forged);
    let ans = http.get(caddy.url("/app/page"), &h).await;
    assert_eq!(ans.status, StatusCode::OK, "{}", caddy.log());
    let seen = received_for(&env.upstream, "/app/page");
    assert_eq!(seen.len(), 1);
    assert_eq!(saw(&seen[0], "x-sessiongate-user"), ["alice"]);
    assert!(saw(&seen[0], "x_sessiongate_user").is_empty());

    // A public page: no identity at all, forged or not.
    let ans = http.get(caddy.url("/pub/x"), &forged).await;
    assert_eq!(ans.status, StatusCode::OK);
    let seen = received_for(&env.upstream, "/pub/x");
    assert!(saw(&seen[0], "x-sessiongate-user").is_empty());
    assert!(saw(&seen[0], "x_sessiongate_user").is_empty());

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
    at(Instant::now(), 2.5).await;
    let ans = http
        .get(
            caddy.url("/app/page?x=1"),
            &[("cookie", cookie.as_str()), BROWSER],
        )
        .await;
    ans.assert_redirected("/app/page%3Fx%3D1");
    ans.assert_cleared();

    // Logout through sessiongate's own path ends the session.
    let ans = http.post(caddy.url("/login?user=bob"), &[]).await;
    let cookie = ans.session_pair();
    let with_cookie = [("cookie", cookie.as_str()), BROWSER];
    assert_eq!(
        http.get(caddy.url("/app/bob"), &with_cookie).await.status,
        StatusCode::OK
    );
    let ans = http
        .get(caddy.url("/.sessiongate/logout"), &with_cookie)
        .await;
    assert_eq!(ans.status, StatusCode::FOUND);
    ans.assert_cleared();
    let ans = http.get(caddy.url("/app/bob"), &with_cookie).await;
    ans.assert_redirected("/app/bob");
    assert_eq!(received_for(&env.upstream, "/app/bob").len(), 1);
}
