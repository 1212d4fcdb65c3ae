//! Managed mode with the session cookie more than once, and with cookies
//! split over several header fields (HTTP/2 crumbs, extra HTTP/1.1 lines),
//! over HTTP/1.1 and h2c: the first occurrence is the session, no copy of
//! the gateway's cookie reaches the upstream, and the upstream gets the
//! other cookies as one `Cookie` header joined with `"; "` (issue 21 rows 1
//! and 8; external and observe modes are tested behind Django in
//! `legacy_modes::django`).

use super::*;
use http::Request;

use crate::support::http::{PROTOS, Proto, body};

const UNKNOWN_ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A browser GET; each of `cookies` is its own `cookie` header field.
async fn get(proto: Proto, env: &Env, path: &str, cookies: &[&str]) -> Answer {
    let mut builder = Request::get(env.url(path)).header("accept", "text/html");
    for cookie in cookies {
        builder = builder.header("cookie", *cookie);
    }
    Http::speaking(proto)
        .send(builder.body(body("")).unwrap())
        .await
}

#[tokio::test]
async fn managed_duplicate_session_cookies_never_reach_upstream() {
    let (_redis, env) = on_redis("", "").await;
    let alice = env.login("alice").await.cookie();
    let bob = env.login("bob").await.cookie();
    let unknown = format!("{COOKIE}={UNKNOWN_ID}");
    for proto in PROTOS {
        // Another live session after the first lends nothing, and no copy
        // of the gateway's cookie reaches the upstream.
        for cookies in [
            vec![format!("{alice}; a=1; {bob}")],
            vec![alice.clone(), "a=1".into(), bob.clone()],
            vec![format!("{alice}; a=1"), unknown.clone()],
        ] {
            let cookies: Vec<&str> = cookies.iter().map(String::as_str).collect();
            let ans = get(proto, &env, "/", &cookies).await;
            ans.assert_forwarded_as("alice");
            assert_eq!(
                ans.upstream_saw("cookie"),
                vec!["a=1"],
                "{proto:?} {cookies:?}"
            );
        }
        // A dead or malformed first one: the live one after it is no help.
        for first in [unknown.as_str(), "sessiongate=bad!", "sessiongate="] {
            for cookies in [
                vec![first, alice.as_str()],
                vec![&format!("{first}; {alice}")],
            ] {
                get(proto, &env, "/", &cookies)
                    .await
                    .assert_login_redirect();
            }
        }
        // Public routes: no identity, no copy of the cookie either.
        let ans = get(proto, &env, "/pub/x", &[&format!("{alice}; {bob}"), "a=1"]).await;
        assert_eq!(ans.status, StatusCode::OK, "{proto:?}");
        assert!(
            ans.upstream_saw("x-sessiongate-user").is_empty(),
            "{proto:?}"
        );
        assert_eq!(ans.upstream_saw("cookie"), vec!["a=1"], "{proto:?}");
    }
    assert!(
        env.upstream
            .received()
            .iter()
            .all(|r| r.path_and_query != "/" || r.headers["x-sessiongate-user"] == "alice"),
        "a request reached the upstream as someone else"
    );
}

#[tokio::test]
async fn cookie_crumbs_reach_upstream_as_one_header() {
    let (_redis, env) = on_redis("", "").await;
    let alice = env.login("alice").await.cookie();
    for proto in PROTOS {
        let ans = get(proto, &env, "/pub/x", &["a=1", "b=2", "c=3"]).await;
        assert_eq!(
            ans.upstream_saw("cookie"),
            vec!["a=1; b=2; c=3"],
            "{proto:?}"
        );
        // The session cookie in a crumb of its own is found, and withheld.
        let ans = get(proto, &env, "/", &["a=1", &alice, "b=2"]).await;
        ans.assert_forwarded_as("alice");
        assert_eq!(ans.upstream_saw("cookie"), vec!["a=1; b=2"], "{proto:?}");
    }
}
