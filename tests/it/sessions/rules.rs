//! The refusal rules (302 or 401, and why), hostile return paths, forged
//! headers, session fixation, cookie hygiene and route traversal.

use percent_encoding::percent_decode_str;

use super::*;

const UNKNOWN_ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A gateway on a fresh redis-server with two routes that force their
/// answer: `/r/` always redirects, `/u/` always answers 401.
async fn rules_env() -> (RedisServer, Env) {
    let routes = [
        route(
            "always-redirect",
            "/r/",
            r#"on_unauthenticated = "redirect""#,
        ),
        route("always-401", "/u/", r#"on_unauthenticated = "401""#),
    ];
    on_redis("", &routes.concat()).await
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
    let (_redis, env) = rules_env().await;
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
    let (_redis, env) = rules_env().await;
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
    let (_redis, env) = rules_env().await;
    for target in [
        "//evil.example/x",
        "/\\evil.example",
        "/%2F%2Fevil.example",
        "/%5Cevil",
        "/%2f%5cevil.example",
        "/%252F%252Fevil.example",
        "http://evil.example/x",
        "http://evil.example//evil.example",
        // Control characters: header injection, and the tab, CR and LF a
        // browser strips from a URL ("/\t/evil" becomes "//evil").
        "/%0d%0aSet-Cookie:x",
        "/%0d%0aSet-Cookie:%20x=1",
        "/x%0d%0aLocation:%20//evil.example",
        "/\t/evil",
        "/%09/evil",
        "/%0a/evil.example",
        "/%0D/evil.example",
        "/%00/evil",
        "/x%00y",
        "/%2509/evil",
        "/%5C%09evil",
    ] {
        let answer = raw_get(&env.gw, "app.test", target).await;
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
        assert_not_an_open_redirect(target, &location, next);
        // No header was injected into the answer.
        let injected = answer
            .lines()
            .skip(1)
            .take_while(|l| !l.is_empty())
            .filter(|l| {
                let name = l.split(':').next().unwrap_or_default().to_ascii_lowercase();
                name == "set-cookie" || name == "location"
            })
            .count();
        assert_eq!(injected, 1, "{target}: {answer}");
    }
    assert!(env.upstream.received().is_empty());
}

/// `next` (the raw query value of `location`) stays a same-site path
/// however many times a login page decodes it, also after a browser drops
/// the tab, CR and LF it would strip from a URL.
fn assert_not_an_open_redirect(target: &str, location: &str, next: &str) {
    assert!(
        !location.bytes().any(|b| b < 0x20 || b == 0x7f),
        "{target}: control character in {location:?}"
    );
    let mut value = next.to_owned();
    for _ in 0..3 {
        assert!(
            !value.contains(['\r', '\n']),
            "{target}: CR or LF in {location:?}"
        );
        let stripped: String = value
            .chars()
            .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
            .collect();
        for v in [value.as_str(), stripped.as_str()] {
            assert!(v.starts_with('/'), "{target}: {location:?}");
            assert!(
                !v.starts_with("//") && !v.starts_with("/\\"),
                "{target}: open redirect {location:?}"
            );
        }
        value = percent_decode_str(&value).decode_utf8_lossy().into_owned();
    }
}

#[tokio::test]
async fn forged_identity_and_control_headers_never_reach_upstream() {
    let (redis, env) = rules_env().await;
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
    let (redis, env) = rules_env().await;
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
    let (_redis, env) = rules_env().await;
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
    let (_redis, env) = on_redis("", &route("static", "/static/", "public = true")).await;
    for target in [
        "/static/../admin",
        "/static/%2e%2e/admin",
        "/static/./../admin",
        "/static/..%2fadmin",
        "/static/..%5cadmin",
        "/static//../admin",
    ] {
        let answer = raw_get(&env.gw, "t", target).await;
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
    let (_redis, env) = rules_env().await;
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
    let (_redis, env) = rules_env().await;
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
    let (_redis, env) = rules_env().await;
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
    let (_redis, env) = rules_env().await;
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

/// The attribute names and flags of a `Set-Cookie` (after the value).
fn cookie_attributes(set_cookie: &str) -> Vec<String> {
    set_cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect()
}

fn is_secure(set_cookie: &str) -> bool {
    cookie_attributes(set_cookie).iter().any(|a| a == "secure")
}

/// `cookie_secure = "auto"` (the default) with SPEC §2's other cookie
/// defaults: HttpOnly, SameSite=Lax, and Secure only when the browser
/// reached a TLS front: `X-Forwarded-Proto: https` counts only from a
/// trusted proxy.
#[tokio::test]
async fn cookie_attributes_and_secure_auto() {
    let https = [("x-forwarded-proto", "https")];
    let env = Setup::new("memory://").start().await;
    let plain = env.login("alice").await.set_cookie;
    let attrs = cookie_attributes(&plain);
    assert!(attrs.iter().any(|a| a == "httponly"), "{plain}");
    assert!(attrs.iter().any(|a| a == "samesite=lax"), "{plain}");
    assert!(!is_secure(&plain), "Secure over plain HTTP: {plain}");
    // Anyone can send the header: from an untrusted peer it is ignored.
    let forged = env.login_with("user=alice", &https).await.set_cookie;
    assert!(
        !is_secure(&forged),
        "Secure from an untrusted header: {forged}"
    );

    // A table may follow the routes in TOML: this is `[server]`.
    let env = Setup::new("memory://")
        .routes(
            r#"[server]
            trusted_proxies = ["127.0.0.1/32"]"#,
        )
        .start()
        .await;
    let behind_tls = env.login_with("user=alice", &https).await.set_cookie;
    assert!(is_secure(&behind_tls), "{behind_tls}");
    let attrs = cookie_attributes(&behind_tls);
    assert!(attrs.iter().any(|a| a == "httponly"), "{behind_tls}");
    assert!(attrs.iter().any(|a| a == "samesite=lax"), "{behind_tls}");
    // The trusted proxy saying plain HTTP: no Secure.
    let plain = env.login("alice").await.set_cookie;
    assert!(!is_secure(&plain), "{plain}");
}

/// SPEC §5: a WebSocket upgrade on a protected route is checked like any
/// request: refused (and never forwarded) without a session, upgraded and
/// forwarded with the identity header with one.
#[tokio::test]
async fn websocket_upgrade_on_a_protected_route_needs_a_session() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::{Error as WsError, Message};

    let (_redis, env) = rules_env().await;
    let upgrade = |cookie: Option<String>| {
        let addr = env.gw.addr;
        async move {
            let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
            if let Some(c) = cookie {
                req.headers_mut().insert("cookie", c.parse().unwrap());
            }
            let tcp = TcpStream::connect(addr).await.unwrap();
            timeout(PATIENCE, tokio_tungstenite::client_async(req, tcp))
                .await
                .expect("no answer to the upgrade in time")
        }
    };
    for cookie in [None, Some(format!("{COOKIE}={UNKNOWN_ID}"))] {
        match upgrade(cookie.clone()).await {
            Err(WsError::Http(resp)) => {
                assert!(
                    matches!(resp.status(), StatusCode::FOUND | StatusCode::UNAUTHORIZED),
                    "{cookie:?}: {resp:?}"
                );
            }
            Err(other) => panic!("{cookie:?}: unexpected handshake error {other}"),
            Ok((_, resp)) => panic!("{cookie:?}: upgraded without a session: {resp:?}"),
        }
    }
    assert!(
        env.upstream.received().is_empty(),
        "{:?}",
        env.upstream.received()
    );

    let login = env.login("alice").await;
    let (mut ws, resp) = upgrade(Some(login.cookie()))
        .await
        .expect("upgrade with a valid session");
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    for text in ["hello", "again"] {
        ws.send(Message::text(text)).await.unwrap();
        let echoed = timeout(PATIENCE, ws.next())
            .await
            .expect("no echo in time")
            .expect("stream ended")
            .expect("echo");
        assert_eq!(echoed.into_text().unwrap().as_str(), text);
    }
    // The login, then the one upgrade that carried the session.
    let seen = env.upstream.received();
    let upgrades: Vec<_> = seen.iter().filter(|r| r.path_and_query == "/ws").collect();
    assert_eq!(upgrades.len(), 1, "{seen:?}");
    let upgrade = upgrades[0];
    assert_eq!(upgrade.headers["upgrade"], "websocket");
    assert_eq!(upgrade.headers["x-sessiongate-user"], "alice");
    assert!(!upgrade.headers.contains_key("cookie"), "{upgrade:?}");
}
