//! External mode in front of express-session + connect-redis: the app owns
//! `sess:<id>` in Redis; the gateway extracts the id from the signed cookie
//! with `id_pattern`, treats a missing key as expired, slides the key's TTL
//! to `idle_timeout` without shortening it or touching its value, and
//! forwards the app's cookie and responses as they are.

use http::StatusCode;
use serde_json::json;

use super::{
    API, BROWSER, Http, assert_browser_sent_to_login, express_session_id, gateway_in_front, metric,
    percent_decode, wait,
};
use crate::support::gateway::TestGateway;
use crate::support::logs::LogCapture;
use crate::support::node_app::NodeApp;
use crate::support::redis::RedisServer;

/// The gateway's idle timeout, ms (`idle_timeout = "2s"`).
const IDLE_MS: i64 = 2_000;

/// A Redis, the Express app (its store TTL `app_ttl_seconds`) and the
/// gateway in external mode in front of it.
struct Setup {
    // Fields drop in declaration order: the gateway, then the app, then Redis.
    gateway: TestGateway,
    _app: NodeApp,
    redis: RedisServer,
    http: Http,
}

impl Setup {
    async fn start(app_ttl_seconds: &str) -> Setup {
        let redis = RedisServer::start();
        let app = NodeApp::node(
            "express-external.js",
            &[
                ("REDIS_URL", &redis.url()),
                ("SESSION_TTL_SECONDS", app_ttl_seconds),
            ],
        );
        let session = r#"mode = "external"
            cookie_name = "connect.sid"
            id_pattern = '^s:(?P<id>[^.]+)\.'
            key_template = "sess:{id}"
            idle_timeout = "2s"
            sliding = true"#;
        let gateway = gateway_in_front(&redis, &app, session).await;
        Setup {
            gateway,
            _app: app,
            redis,
            http: Http::new(),
        }
    }

    /// Logs `user` in through the gateway; returns the `connect.sid=…`
    /// cookie pair and the Redis key of the session.
    async fn login(&self, user: &str) -> (String, String) {
        let login = self
            .http
            .post(self.gateway.url(&format!("/login?user={user}")), &[])
            .await;
        assert_eq!(login.status, StatusCode::OK, "body: {}", login.text());
        assert_eq!(login.json(), json!({"user": user}));
        // The app's cookie passes through, and the gateway sets none of its own.
        let set = login.set_cookies();
        assert_eq!(set.len(), 1, "{set:?}");
        assert!(set[0].ends_with("; Path=/; HttpOnly"), "{set:?}");
        let cookie = login.cookie_pair("connect.sid");
        let id = express_session_id(&cookie, "connect.sid");
        (cookie, format!("sess:{id}"))
    }

    fn pttl(&self, key: &str) -> i64 {
        self.redis.query(&["PTTL", key])
    }

    async fn redirects(&self, reason: &str) -> f64 {
        let series = format!(r#"sessiongate_redirects_total{{route="default",reason="{reason}"}}"#);
        metric(&self.http, &self.gateway, &series).await
    }
}

/// The app's store TTL equals the gateway's idle timeout, so only the
/// gateway's sliding can keep a session alive past 2 s of activity.
#[tokio::test]
async fn sliding_extends_the_apps_key_without_touching_its_value() {
    let s = Setup::start("2").await;
    let (cookie, key) = s.login("alice").await;
    let stored: String = s.redis.query(&["GET", &key]);
    let cookie_header = [("cookie", cookie.as_str())];

    let peek = s.http.get(s.gateway.url("/peek"), &cookie_header).await;
    assert_eq!(peek.status, StatusCode::OK, "body: {}", peek.text());
    assert_eq!(peek.json(), json!({"user": "alice"}));
    assert!(peek.set_cookies().is_empty(), "{:?}", peek.set_cookies());

    // 5 × 0.6 s = 3 s: past the app's own 2 s TTL, alive only by sliding.
    for round in 0..5 {
        wait(600).await;
        let peek = s.http.get(s.gateway.url("/peek"), &cookie_header).await;
        assert_eq!(
            peek.status,
            StatusCode::OK,
            "round {round}: {}",
            peek.text()
        );
        let ttl = s.pttl(&key);
        assert!(
            (1_500..=IDLE_MS).contains(&ttl),
            "round {round}: PTTL {ttl} after a request"
        );
    }
    let after: String = s.redis.query(&["GET", &key]);
    assert_eq!(after, stored, "the gateway rewrote the app's session");

    // The session endpoint reads the TTL, knows no user, and does not slide.
    wait(1_000).await;
    let info = s
        .http
        .get(s.gateway.url("/.sessiongate/session"), &cookie_header)
        .await;
    assert_eq!(info.status, StatusCode::OK);
    let info = info.json();
    assert_eq!(info["authenticated"], true, "{info}");
    assert!(
        info["user"].is_null(),
        "external mode knows no user: {info}"
    );
    let expires_in = info["expires_in"].as_f64().expect("expires_in");
    assert!(expires_in <= 2.0, "{info}");
    assert!(s.pttl(&key) < 1_500, "the session endpoint slid the TTL");

    // The gateway's logout deletes the app's key and clears its cookie.
    let logout = s
        .http
        .get(s.gateway.url("/.sessiongate/logout"), &cookie_header)
        .await;
    assert_eq!(logout.status, StatusCode::FOUND);
    logout.assert_clears("connect.sid");
    assert_eq!(s.redis.query::<i64>(&["EXISTS", &key]), 0);
    assert_browser_sent_to_login(&s.http, &s.gateway, "/peek", cookie_header[0].1).await;
}

/// After 2.6 s without a request the key is gone: the next page is a login
/// redirect that also clears the app's cookie.
#[tokio::test]
async fn an_idle_session_is_sent_to_login_and_its_cookie_cleared() {
    let s = Setup::start("2").await;
    let (cookie, key) = s.login("alice").await;
    let cookie_header = [("cookie", cookie.as_str())];
    let peek = s.http.get(s.gateway.url("/peek"), &cookie_header).await;
    assert_eq!(peek.status, StatusCode::OK, "body: {}", peek.text());

    wait(2_600).await;
    assert_eq!(s.redis.query::<i64>(&["EXISTS", &key]), 0);
    let before = s.redirects("expired").await;
    assert_browser_sent_to_login(&s.http, &s.gateway, "/peek", cookie_header[0].1).await;
    assert_eq!(s.redirects("expired").await, before + 1.0);

    // API clients get the 401 JSON, same reason.
    let api = s
        .http
        .get(s.gateway.url("/peek"), &[cookie_header[0], API])
        .await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED, "body: {}", api.text());
    assert_eq!(api.json()["reason"], "expired");
}

/// A long-lived app session (86400 s) is never shortened to the idle
/// timeout; forged, malformed and missing cookies never reach the app.
#[tokio::test]
async fn forged_and_malformed_cookies_are_refused_and_long_ttls_kept() {
    let s = Setup::start("86400").await;
    let (cookie, key) = s.login("alice").await;
    let peek = s
        .http
        .get(s.gateway.url("/peek"), &[("cookie", cookie.as_str())])
        .await;
    assert_eq!(peek.status, StatusCode::OK, "body: {}", peek.text());
    let ttl = s.pttl(&key);
    assert!(
        ttl > 86_000_000,
        "the gateway shortened the app's TTL to {ttl}"
    );

    // Matches id_pattern, valid alphabet, but no such key: expired.
    let forged = "connect.sid=s%3AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.c2lnbmF0dXJl";
    // id_pattern does not match / the id holds `%` after decoding: invalid.
    let garbage = "connect.sid=garbage";
    let bad_alphabet = "connect.sid=s%3Aab%2525cd.sig";
    let cases = [
        (Some(forged), "expired"),
        (Some(garbage), "invalid"),
        (Some(bad_alphabet), "invalid"),
        (None, "missing"),
    ];
    for (cookie, reason) in cases {
        let before = s.redirects(reason).await;
        let mut headers = vec![BROWSER];
        if let Some(cookie) = cookie {
            headers.push(("cookie", cookie));
        }
        let answer = s.http.get(s.gateway.url("/peek?x=1"), &headers).await;
        assert_eq!(
            answer.status,
            StatusCode::FOUND,
            "{cookie:?}: {}",
            answer.text()
        );
        let location = answer.headers["location"].to_str().unwrap();
        assert!(location.starts_with("/login?next="), "{location}");
        assert_eq!(
            s.redirects(reason).await,
            before + 1.0,
            "{cookie:?} counted as {reason}"
        );
        if cookie.is_some() {
            answer.assert_clears("connect.sid");
        }
    }
    // The real session is unaffected by all that.
    assert!(s.pttl(&key) > 86_000_000);
}

/// Everything logged at trace level while sessions are used, refused and
/// ended holds neither the app's cookie nor the id inside it nor its key.
#[tokio::test]
async fn trace_logs_hold_no_cookie_id_or_key() {
    let logs = LogCapture::start();
    let s = Setup::start("2").await;
    let (cookie, key) = s.login("alice").await;
    let id = key.strip_prefix("sess:").unwrap().to_owned();
    let cookie_header = [("cookie", cookie.as_str())];
    let peek = s.http.get(s.gateway.url("/peek"), &cookie_header).await;
    assert_eq!(peek.status, StatusCode::OK);
    s.http
        .get(s.gateway.url("/.sessiongate/session"), &cookie_header)
        .await;
    let forged = "connect.sid=s%3Aforgedforgedforged.c2lnbmF0dXJl";
    let refused = s
        .http
        .get(s.gateway.url("/peek"), &[("cookie", forged), API])
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    s.http
        .get(s.gateway.url("/.sessiongate/logout"), &cookie_header)
        .await;
    let value = cookie.strip_prefix("connect.sid=").unwrap();
    logs.assert_free_of(&[value, &percent_decode(value), &id, "forgedforgedforged"]);
}
