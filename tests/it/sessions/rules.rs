//! The refusal rules (302 or 401, and why), hostile return paths, forged
//! headers, session fixation, cookie hygiene and route traversal.

use percent_encoding::percent_decode_str;

use super::*;

const UNKNOWN_ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

async fn rules_env(redis: &RedisServer) -> Env {
    Setup::new(&redis.url())
        .routes(
            r#"[[route]]
            name = "always-redirect"
            path = "/r/"
            on_unauthenticated = "redirect"
            [[route]]
            name = "always-401"
            path = "/u/"
            on_unauthenticated = "401""#,
        )
        .start()
        .await
}

fn assert_401(ans: &Answer, reason: &str, next: &str) {
    assert_eq!(ans.status, StatusCode::UNAUTHORIZED, "{:?}", ans.headers);
    assert_eq!(
        ans.json(),
        serde_json::json!({
            "error": "session_expired",
            "reason": reason,
            "login_url": format!("/login?next={next}"),
        })
    );
}

#[tokio::test]
async fn api_clients_get_401_and_browsers_302() {
    let redis = RedisServer::start();
    let env = rules_env(&redis).await;
    let json = [("accept", "application/json")];
    assert_401(
        &request(Method::GET, env.url("/api/x"), &json, "").await,
        "missing",
        "/api/x",
    );
    let xhr = [("x-requested-with", "XMLHttpRequest")];
    assert_401(
        &request(Method::GET, env.url("/a"), &xhr, "").await,
        "missing",
        "/a",
    );
    let browser = [("accept", "text/html")];
    assert_401(
        &request(Method::POST, env.url("/form"), &browser, "x=1").await,
        "missing",
        "/form",
    );
    // The route forces its answer whatever the client looks like.
    let ans = request(Method::GET, env.url("/r/x"), &json, "").await;
    assert_eq!(ans.assert_login_redirect(), "/login?next=/r/x");
    assert_401(&env.get("/u/x", None, &[]).await, "missing", "/u/x");
    // A plain browser GET is redirected, without touching the cookie.
    let ans = env.get("/b", None, &[]).await;
    assert_eq!(ans.assert_login_redirect(), "/login?next=/b");
    ans.assert_no_session_cookie();
    assert!(env.upstream.received().is_empty());
}

#[tokio::test]
async fn refusal_reasons() {
    let redis = RedisServer::start();
    let env = rules_env(&redis).await;
    let ask = |cookie: &'static str| {
        let url = env.url("/x");
        async move {
            let mut h = vec![("accept", "application/json")];
            if !cookie.is_empty() {
                h.push(("cookie", cookie));
            }
            request(Method::GET, url, &h, "").await
        }
    };
    assert_401(&ask("").await, "missing", "/x");
    assert_401(&ask("other=1").await, "missing", "/x");
    let unknown: &'static str = format!("sessiongate={UNKNOWN_ID}").leak();
    let ans = ask(unknown).await;
    assert_401(&ans, "expired", "/x");
    ans.assert_cookie_cleared();
    for malformed in [
        "sessiongate=a%20b",
        "sessiongate=a b",
        "sessiongate=\"q\"",
        "sessiongate=",
    ] {
        let ans = ask(malformed).await;
        assert_401(&ans, "invalid", "/x");
        ans.assert_cookie_cleared();
    }
    assert!(env.upstream.received().is_empty());
}

#[tokio::test]
async fn hostile_return_paths_stay_on_site() {
    let redis = RedisServer::start();
    let env = rules_env(&redis).await;
    for target in [
        "//evil.example/x",
        "/\\evil.example",
        "/%2F%2Fevil.example",
        "/%5Cevil",
        "/%2f%5cevil.example",
        "/%252F%252Fevil.example",
        "http://evil.example/x",
        "http://evil.example//evil.example",
    ] {
        let head = format!(
            "GET {target} HTTP/1.1\r\nHost: app.test\r\nAccept: text/html\r\nConnection: close\r\n\r\n"
        );
        let answer = raw(&env.gw, &head).await;
        let status = answer.lines().next().unwrap_or_default();
        if status.starts_with("HTTP/1.1 400") {
            continue; // refused outright: not forwarded and no redirect
        }
        assert!(status.starts_with("HTTP/1.1 302"), "{target}: {answer}");
        let location = answer
            .lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.eq_ignore_ascii_case("location"))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| panic!("{target}: no Location in {answer}"));
        let next = location
            .strip_prefix("/login?next=")
            .unwrap_or_else(|| panic!("{target}: {location}"));
        let decoded = percent_decode_str(next).decode_utf8_lossy();
        for value in [next, decoded.as_ref()] {
            assert!(value.starts_with('/'), "{target}: {location}");
            assert!(
                !value.starts_with("//") && !value.starts_with("/\\"),
                "{target}: {location}"
            );
        }
    }
    assert!(env.upstream.received().is_empty());
}

#[tokio::test]
async fn forged_identity_and_control_headers_never_reach_upstream() {
    let redis = RedisServer::start();
    let env = rules_env(&redis).await;
    let forged = [
        ("X-SessionGate-User", "mallory"),
        ("SESSIONGATE-LOGIN", "user=mallory"),
        ("sessionGate-Logout", "1"),
    ];
    let ans = env.get("/pub/x", None, &forged).await;
    assert_eq!(ans.status, StatusCode::OK);
    let seen = ans.json();
    let names: Vec<&String> = seen["headers"].as_object().unwrap().keys().collect();
    assert!(
        !names.iter().any(|n| n.contains("sessiongate")),
        "upstream saw {names:?}"
    );
    // A public upstream that echoes a received login header back: the
    // forged one never reaches it, so no session is created.
    let ans = env
        .get(
            "/pub/reflect-login",
            None,
            &[("SessionGate-Login", "user=mallory")],
        )
        .await;
    assert_eq!(ans.status, StatusCode::OK);
    ans.assert_no_session_cookie();
    let ans = raw(
        &env.gw,
        "GET /pub/reflect-login HTTP/1.1\r\nHost: t\r\nSESSIONGATE-LOGIN: user=mallory\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(ans.starts_with("HTTP/1.1 200"), "{ans}");
    assert!(!ans.to_ascii_lowercase().contains("set-cookie"), "{ans}");
    assert_eq!(redis.query::<i64>(&["DBSIZE"]), 0, "no session created");

    let login = env.login("alice").await;
    let cookie = login.cookie();
    let ans = env.get("/", Some(&cookie), &forged).await;
    ans.assert_forwarded_as("alice");
    assert!(ans.upstream_saw("sessiongate-login").is_empty());
}

#[tokio::test]
async fn login_never_adopts_a_client_chosen_id() {
    let redis = RedisServer::start();
    let env = rules_env(&redis).await;
    let attacker = "attackerchosen0123";
    let login = env
        .login_with(
            "user=alice",
            &[("cookie", "sessiongate=attackerchosen0123")],
        )
        .await;
    assert_ne!(login.id, attacker);
    assert_eq!(redis.query::<i64>(&["EXISTS", &key(attacker)]), 0);
    assert_eq!(redis.query::<i64>(&["EXISTS", &key(&login.id)]), 1);
    env.get("/", Some("sessiongate=attackerchosen0123"), &[])
        .await
        .assert_login_redirect();
}

#[tokio::test]
async fn only_the_gateway_cookie_is_withheld_from_upstream() {
    let redis = RedisServer::start();
    let env = rules_env(&redis).await;
    let login = env.login("alice").await;
    let cookies = format!("a=1; sessiongate={}; b=2", login.id);
    let ans = env.get("/", Some(&cookies), &[]).await;
    ans.assert_forwarded_as("alice");
    assert_eq!(ans.upstream_saw("cookie"), vec!["a=1; b=2"]);
    // Public routes too.
    let ans = env.get("/pub/x", Some(&cookies), &[]).await;
    assert_eq!(ans.upstream_saw("cookie"), vec!["a=1; b=2"]);
    let ans = env.get("/pub/x", Some(&login.cookie()), &[]).await;
    assert!(ans.upstream_saw("cookie").is_empty());
}

#[tokio::test]
async fn traversal_out_of_a_public_prefix_is_checked() {
    let redis = RedisServer::start();
    let env = Setup::new(&redis.url())
        .routes(
            r#"[[route]]
            name = "static"
            path = "/static/"
            public = true"#,
        )
        .start()
        .await;
    for target in [
        "/static/../admin",
        "/static/%2e%2e/admin",
        "/static/./../admin",
        "/static/..%2fadmin",
        "/static/..%5cadmin",
        "/static//../admin",
    ] {
        let head = format!(
            "GET {target} HTTP/1.1\r\nHost: t\r\nAccept: text/html\r\nConnection: close\r\n\r\n"
        );
        let answer = raw(&env.gw, &head).await;
        let status = answer.lines().next().unwrap_or_default().to_owned();
        assert!(
            status.starts_with("HTTP/1.1 302") || status.starts_with("HTTP/1.1 400"),
            "{target}: {answer}"
        );
    }
    assert!(
        env.upstream.received().is_empty(),
        "forwarded: {:?}",
        env.upstream.received()
    );
}

#[tokio::test]
async fn accept_preference_decides_api_or_browser() {
    let redis = RedisServer::start();
    let env = rules_env(&redis).await;
    let ask = |accept: &'static str| {
        let url = env.url("/x");
        async move { request(Method::GET, url, &[("accept", accept)], "").await }
    };
    for json in [
        "application/json",
        "text/html;q=0.5, application/json",
        "application/json, text/plain, */*",
    ] {
        assert_eq!(ask(json).await.status, StatusCode::UNAUTHORIZED, "{json}");
    }
    for html in [
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "application/json;q=0.1, text/html",
        "*/*",
    ] {
        assert_eq!(ask(html).await.status, StatusCode::FOUND, "{html}");
    }
}

#[tokio::test]
async fn only_the_first_session_cookie_counts() {
    let redis = RedisServer::start();
    let env = rules_env(&redis).await;
    let login = env.login("alice").await;
    // An unknown id first: the valid one after it lends no identity.
    let cookies = format!("sessiongate={UNKNOWN_ID}; sessiongate={}", login.id);
    let ans = env.get("/", Some(&cookies), &[]).await;
    ans.assert_login_redirect();
    // The valid one first: forwarded, and neither reaches the upstream.
    let cookies = format!("sessiongate={}; a=1; sessiongate={UNKNOWN_ID}", login.id);
    let ans = env.get("/", Some(&cookies), &[]).await;
    ans.assert_forwarded_as("alice");
    assert_eq!(ans.upstream_saw("cookie"), vec!["a=1"]);
}

/// Browsers send other cookies' UTF-8 values as raw bytes: the session
/// cookie beside them is still read, and still withheld from the upstream.
#[tokio::test]
async fn a_utf8_cookie_beside_the_session_cookie() {
    let redis = RedisServer::start();
    let env = rules_env(&redis).await;
    let login = env.login("alice").await;
    for path in ["/", "/pub/x"] {
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: t\r\nAccept: text/html\r\nCookie: city=Zürich; sessiongate={}; b=2\r\nConnection: close\r\n\r\n",
            login.id
        );
        let answer = raw(&env.gw, &head).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
        let seen = env.upstream.received().pop().expect("forwarded");
        let cookies: Vec<&[u8]> = seen
            .headers
            .get_all("cookie")
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        assert_eq!(cookies, vec!["city=Zürich; b=2".as_bytes()], "{path}");
        if path == "/" {
            assert_eq!(seen.headers["x-sessiongate-user"], "alice");
        }
    }
}

#[tokio::test]
async fn a_valid_session_forwards_a_post_body() {
    let redis = RedisServer::start();
    let env = rules_env(&redis).await;
    let login = env.login("alice").await;
    let ans = request(
        Method::POST,
        env.url("/form"),
        &[("cookie", &login.cookie()), ("accept", "text/html")],
        "field=value",
    )
    .await;
    ans.assert_forwarded_as("alice");
    assert_eq!(ans.json()["body"], "field=value");
    assert_eq!(ans.json()["method"], "POST");
}
