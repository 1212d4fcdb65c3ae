//! The fixture applications alone, without the gateway: they must work on
//! their own (and show the cookie and Redis formats the gateway relies on)
//! before any gateway test can mean anything.

use http::StatusCode;
use serde_json::json;

use super::{Http, percent_decode};
use crate::support::node_app::NodeApp;
use crate::support::redis::RedisServer;

/// express-session's cookie is `s%3A<id>.<signature>` (the signed value
/// `s:<id>.<sig>`, percent-encoded); connect-redis keeps the session as
/// JSON under `sess:<id>` with the store TTL; the app never touches TTLs.
#[tokio::test]
async fn express_app_keeps_its_sessions_in_redis_under_sess_id() {
    let redis = RedisServer::start();
    let app = NodeApp::node(
        "express-external.js",
        &[("REDIS_URL", &redis.url()), ("SESSION_TTL_SECONDS", "60")],
    );
    let http = Http::new();

    let unauthenticated = http.get(app.url("/peek"), &[]).await;
    assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED);

    let login = http.post(app.url("/login?user=alice"), &[]).await;
    assert_eq!(login.status, StatusCode::OK, "stderr: {}", app.stderr());
    assert_eq!(login.json(), json!({"user": "alice"}));
    let cookie = login.cookie_pair("connect.sid");
    let value = cookie.strip_prefix("connect.sid=").unwrap();
    assert!(value.starts_with("s%3A"), "encoded cookie: {value}");
    let decoded = percent_decode(value);
    let (id, signature) = decoded
        .strip_prefix("s:")
        .and_then(|rest| rest.split_once('.'))
        .expect("s:<id>.<signature>");
    assert!(!signature.is_empty());
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "express-session ids are base64url: {id}"
    );

    let key = format!("sess:{id}");
    let stored: String = redis.query(&["GET", &key]);
    let record: serde_json::Value = serde_json::from_str(&stored).expect("JSON session");
    assert_eq!(record["user"], "alice");
    let ttl: i64 = redis.query(&["PTTL", &key]);
    assert!((55_000..=60_000).contains(&ttl), "store TTL: {ttl}");

    let cookie_header = [("cookie", cookie.as_str())];
    let peek = http.get(app.url("/peek"), &cookie_header).await;
    assert_eq!(peek.status, StatusCode::OK);
    assert_eq!(peek.json(), json!({"user": "alice"}));
    assert!(peek.set_cookies().is_empty(), "rolling is off");
    // disableTouch: reading the session leaves value and TTL alone.
    assert_eq!(redis.query::<String>(&["GET", &key]), stored);
    let after: i64 = redis.query(&["PTTL", &key]);
    assert!(
        after <= ttl,
        "the app extended its own TTL: {ttl} -> {after}"
    );

    let whoami = http.get(app.url("/whoami"), &cookie_header).await;
    assert_eq!(whoami.json(), json!({"user": "alice", "views": 1}));

    let logout = http.post(app.url("/logout"), &cookie_header).await;
    assert_eq!(logout.status, StatusCode::OK);
    assert_eq!(redis.query::<i64>(&["EXISTS", &key]), 0);
    assert_eq!(
        http.get(app.url("/peek"), &cookie_header).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// The observe app's sessions live in its memory only, never expire, and
/// come with the cookie variants the observe tests need.
#[tokio::test]
async fn observe_app_issues_clears_and_remembers_its_own_cookie() {
    let app = NodeApp::node("observe-app.js", &[]);
    let http = Http::new();

    let login = http.post(app.url("/login?user=alice"), &[]).await;
    assert_eq!(login.status, StatusCode::OK);
    let set = login.set_cookies();
    assert_eq!(set.len(), 1, "{set:?}");
    assert!(set[0].ends_with("; Path=/; HttpOnly"), "{set:?}");
    let cookie = login.cookie_pair("appsession");
    let value = cookie.strip_prefix("appsession=").unwrap();
    assert_eq!(value.len(), 32);
    assert!(value.bytes().all(|b| b.is_ascii_hexdigit()), "{value}");

    let cookie_header = [("cookie", cookie.as_str())];
    let whoami = http.get(app.url("/whoami"), &cookie_header).await;
    assert_eq!(whoami.json(), json!({"user": "alice"}));
    let forged = format!("appsession={}", "0".repeat(32));
    let unknown = http.get(app.url("/whoami"), &[("cookie", &forged)]).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);

    let multi = http.post(app.url("/login-multi?user=bob"), &[]).await;
    let set = multi.set_cookies();
    assert_eq!(set.len(), 3, "{set:?}");
    assert_eq!(set[0], "theme=dark; Path=/");
    assert!(set[1].starts_with("appsession=") && set[1].ends_with("SameSite=Lax"));
    let bob = multi.cookie_pair("appsession");
    let bob_header = [("cookie", bob.as_str())];
    assert_eq!(
        http.get(app.url("/whoami"), &bob_header).await.json(),
        json!({"user": "bob"})
    );

    let logout = http.post(app.url("/logout"), &cookie_header).await;
    assert_eq!(logout.set_cookies(), ["appsession=; Path=/; Max-Age=0"]);
    let logout = http.post(app.url("/logout-expires"), &bob_header).await;
    assert_eq!(
        logout.set_cookies(),
        ["appsession=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT"]
    );
    for header in [cookie_header, bob_header] {
        let gone = http.get(app.url("/whoami"), &header).await;
        assert_eq!(gone.status, StatusCode::UNAUTHORIZED);
    }

    let seen: Vec<String> =
        serde_json::from_value(http.get(app.url("/_seen"), &[]).await.json()).expect("JSON list");
    assert_eq!(seen.first().map(String::as_str), Some("POST /login"));
    assert_eq!(seen.iter().filter(|r| *r == "GET /whoami").count(), 5);
}

/// An app that dies at start-up fails the test at once, with its stderr.
#[test]
#[should_panic(expected = "Cannot find module")]
fn an_app_that_dies_fails_with_its_stderr() {
    NodeApp::node("no-such-app.js", &[]);
}
