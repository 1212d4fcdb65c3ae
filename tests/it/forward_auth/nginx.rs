//! A real nginx running `deploy/forward-auth/nginx.conf` (only its
//! addresses replaced) in front of a real upstream, with sessiongate
//! answering its `auth_request`.

use super::*;
use crate::support::fronting::{Deployed, Fronting};
use crate::support::upstream::Received;

/// nginx in front of `env`'s upstream, asking `env`'s gateway.
fn nginx_in_front(env: &Env) -> Fronting {
    let conf = Deployed::read("nginx.conf")
        .with("listen 80;", "listen {LISTEN};")
        .with(
            "server 127.0.0.1:8000;",
            &format!("server {};", env.upstream.addr),
        )
        .with(
            "server 127.0.0.1:8080;",
            &format!("server {};", env.gw.addr),
        );
    Fronting::nginx(&conf)
}

/// Every value the upstream received for `name` in request `r`.
pub(super) fn saw(r: &Received, name: &str) -> Vec<String> {
    r.headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The requests the upstream received for `path` (path and query).
pub(super) fn received_for(upstream: &TestUpstream, path: &str) -> Vec<Received> {
    upstream
        .received()
        .into_iter()
        .filter(|r| r.path_and_query == path)
        .collect()
}

/// The application saw one request for `path`, as `user`, and no forged
/// identity header.
pub(super) fn assert_seen_as(upstream: &TestUpstream, path: &str, user: &str) {
    let seen = received_for(upstream, path);
    assert_eq!(seen.len(), 1);
    assert_eq!(saw(&seen[0], "x-sessiongate-user"), [user]);
    assert!(saw(&seen[0], "x_sessiongate_user").is_empty());
}

/// The application saw `path` with no identity header at all.
pub(super) fn assert_seen_without_identity(upstream: &TestUpstream, path: &str) {
    let seen = received_for(upstream, path);
    assert!(saw(&seen[0], "x-sessiongate-user").is_empty());
    assert!(saw(&seen[0], "x_sessiongate_user").is_empty());
}

/// Idle past the 2 s timeout (2.5 s after `idle_from`): a browser with
/// the stale `cookie` goes to login with `next`, the cookie cleared.
pub(super) async fn expired_to_login(
    front: &Fronting,
    http: &Http,
    cookie: &str,
    idle_from: Instant,
) {
    at(idle_from, 2.5).await;
    let ans = http
        .get(front.url("/app/page?x=1"), &[("cookie", cookie), BROWSER])
        .await;
    ans.assert_redirected("/app/page%3Fx%3D1");
    ans.assert_cleared();
}

/// Logout through sessiongate's own path, behind `front`, ends bob's
/// session: before it his page is forwarded, after it he goes to login.
pub(super) async fn logout_ends_the_session(front: &Fronting, env: &Env) {
    let http = &env.http;
    let ans = http.post(front.url("/login?user=bob"), &[]).await;
    let cookie = ans.session_pair();
    let with_cookie = [("cookie", cookie.as_str()), BROWSER];
    let ans = http.get(front.url("/app/bob"), &with_cookie).await;
    assert_eq!(ans.status, StatusCode::OK);
    let ans = http
        .get(front.url("/.sessiongate/logout"), &with_cookie)
        .await;
    assert_eq!(ans.status, StatusCode::FOUND);
    ans.assert_cleared();
    let ans = http.get(front.url("/app/bob"), &with_cookie).await;
    ans.assert_redirected("/app/bob");
    assert_eq!(received_for(&env.upstream, "/app/bob").len(), 1);
}

/// Managed mode behind nginx: login through sessiongate's proxy listener,
/// a protected page with the identity (a forged one never reaches the
/// app) and the re-issued cookie, expiry to login with `next`, logout.
#[tokio::test]
async fn managed_mode_behind_nginx() {
    let env = Env::start(Store::Memory, r#"idle_timeout = "2s""#, "").await;
    let nginx = nginx_in_front(&env);
    let http = &env.http;

    // No session: to login with next; the app sees nothing.
    let ans = http.get(nginx.url("/app/page"), &[BROWSER]).await;
    ans.assert_redirected("/app/page");
    assert!(received_for(&env.upstream, "/app/page").is_empty());
    // The check itself is internal to nginx.
    let ans = http
        .get(nginx.url(REQUEST), &[("x-original-uri", "/pub/x")])
        .await;
    assert_eq!(ans.status, StatusCode::NOT_FOUND, "{}", nginx.log());

    // Login through sessiongate's proxy listener.
    let ans = http.post(nginx.url("/login?user=alice"), &[]).await;
    assert_eq!(ans.status, StatusCode::OK, "{}", nginx.log());
    assert!(!ans.headers.contains_key("sessiongate-login"));
    let cookie = ans.session_pair();

    // The protected page, as alice whatever the client claims. (A slide
    // needs time to have passed since the login.)
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut h = vec![("cookie", cookie.as_str()), BROWSER];
    h.extend_from_slice(&FORGED);
    let ans = http.get(nginx.url("/app/page"), &h).await;
    assert_eq!(ans.status, StatusCode::OK, "{}", nginx.log());
    assert_seen_as(&env.upstream, "/app/page", "alice");
    // The slid session's cookie, re-issued through nginx.
    let reissued = ans.session_cookies();
    assert_eq!(reissued.len(), 1, "{:?}", ans.headers);
    assert!(
        reissued[0].starts_with(&format!("{cookie}; ")),
        "{reissued:?}"
    );
    assert!(reissued[0].contains("Max-Age=2"), "{reissued:?}");

    // A public page: no identity at all, forged or not.
    let ans = http.get(nginx.url("/pub/x"), &FORGED).await;
    assert_eq!(ans.status, StatusCode::OK);
    assert_seen_without_identity(&env.upstream, "/pub/x");

    // A client's X-Forwarded-Uri naming a public path changes nothing:
    // nginx clears it before asking.
    let ans = http
        .get(
            nginx.url("/admin"),
            &[("x-forwarded-uri", "/pub/x"), BROWSER],
        )
        .await;
    ans.assert_redirected("/admin");

    // Idle past the timeout: to login with next, the stale cookie cleared.
    expired_to_login(&nginx, http, &cookie, Instant::now()).await;
    assert!(received_for(&env.upstream, "/app/page?x=1").is_empty());

    // Logout through sessiongate's own path ends the session.
    logout_ends_the_session(&nginx, &env).await;
}

/// External mode behind nginx with a real Redis: the application's own
/// session key is checked and slid; its cookie reaches it unchanged.
#[tokio::test]
async fn external_mode_behind_nginx_with_redis() {
    let env = Env::start_external().await;
    let nginx = nginx_in_front(&env);
    let redis = env.redis();
    let cookie = [("cookie", "sessionid=abc123"), BROWSER];

    let ans = env.http.get(nginx.url("/app/page"), &cookie).await;
    assert_eq!(ans.status, StatusCode::OK, "{}", nginx.log());
    let seen = received_for(&env.upstream, "/app/page");
    assert_eq!(saw(&seen[0], "cookie"), ["sessionid=abc123"]);
    assert!(saw(&seen[0], "x-sessiongate-user").is_empty());
    let pttl: i64 = redis.query(&["PTTL", APP_KEY]);
    assert!(pttl > 15_000, "not slid: PTTL {pttl}");

    // The application's session is gone: to login, the app sees nothing.
    let _: () = redis.query(&["DEL", APP_KEY]);
    let ans = env.http.get(nginx.url("/app/other"), &cookie).await;
    ans.assert_redirected("/app/other");
    assert!(received_for(&env.upstream, "/app/other").is_empty());
}
