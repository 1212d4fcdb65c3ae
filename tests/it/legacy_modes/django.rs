//! Duplicate session cookies in front of a real Django app
//! (`tests/apps/django_app.py`: cache sessions in Redis,
//! `SESSION_SAVE_EVERY_REQUEST`), over HTTP/1.1 and h2c. Django reads the
//! LAST `sessionid` of a `Cookie` header, the gateway checks the first: the
//! gateway must forward only the one it checked (SPEC §5), so a live
//! session of one's own can never carry someone else's expired id past it,
//! and observe mode must never learn such an id. HTTP/2 cookie crumbs must
//! reach Django as one `Cookie` header joined with `"; "` (wsgiref joins
//! separate lines with `,`, and Django then reads one mangled cookie).

use http::{HeaderValue, Request, StatusCode};
use serde_json::json;

use super::{BROWSER, wait};
use crate::support::django_app::DjangoApp;
use crate::support::gateway::{GatewayToml, TestGateway};
use crate::support::http::{Answer, Http, PROTOS, Proto, body};
use crate::support::redis::RedisServer;

/// Django's cache key of a session (`KEY_PREFIX` "", `VERSION` 1).
const DJANGO_KEY: &str = ":1:django.contrib.sessions.cache";

/// A GET; every `cookie` entry in `headers` is its own header field (an
/// HTTP/1.1 line, or an HTTP/2 crumb). Values are bytes: some attacks need
/// non-ASCII ones.
async fn get(proto: Proto, url: String, headers: &[(&str, &[u8])]) -> Answer {
    let mut req = Request::get(&url);
    for (name, value) in headers {
        req = req.header(*name, HeaderValue::from_bytes(value).unwrap());
    }
    Http::speaking(proto)
        .send(req.body(body("")).unwrap())
        .await
}

/// `sessionid=<id>` as bytes, for `cookie` headers.
fn sid(id: &str) -> Vec<u8> {
    format!("sessionid={id}").into_bytes()
}

struct Setup {
    // Fields drop in declaration order: the gateway, then the app, then Redis.
    gateway: TestGateway,
    app: DjangoApp,
    redis: RedisServer,
}

impl Setup {
    /// External mode on Django's own keys. `/login` is public; `/strict/`
    /// allows only 1 s of idle time (the session itself 30 s, as long as
    /// Django keeps it).
    async fn external() -> Setup {
        Setup::start(
            &[("SESSION_COOKIE_AGE", "30")],
            r#"mode = "external"
            cookie_name = "sessionid"
            key_template = ":1:django.contrib.sessions.cache{id}"
            idle_timeout = "30s""#,
        )
        .await
    }

    /// Observe mode: Django's sessions last two weeks, the gateway's 30 s.
    async fn observe() -> Setup {
        Setup::start(
            &[],
            r#"mode = "observe"
            learn_cookie = "sessionid"
            idle_timeout = "30s""#,
        )
        .await
    }

    async fn start(app_env: &[(&str, &str)], session: &str) -> Setup {
        let redis = RedisServer::start();
        let app = DjangoApp::django(&redis.url(), app_env);
        let gateway = GatewayToml::new()
            .store(&redis.url())
            .op_timeout("2s")
            .session(session)
            .access_log(true)
            .routes("[[route]]\nname = \"strict\"\npath = \"/strict/\"\nidle_timeout = \"1s\"")
            .start(&app.url(""))
            .await;
        Setup {
            gateway,
            app,
            redis,
        }
    }

    /// Logs `user` in to Django through the gateway; returns Django's
    /// session key, after checking that Django keeps it under the key the
    /// external-mode template names.
    async fn login(&self, user: &str) -> String {
        let login = get(
            Proto::Http1,
            self.gateway.url(&format!("/login?user={user}")),
            &[],
        )
        .await;
        assert_eq!(login.status, StatusCode::OK, "body: {}", login.text());
        let key = login.json()["session_key"].as_str().unwrap().to_owned();
        assert_eq!(login.cookie_pair("sessionid"), format!("sessionid={key}"));
        let keys: Vec<String> = self.redis.query(&["KEYS", &format!("{DJANGO_KEY}*")]);
        assert!(
            keys.contains(&format!("{DJANGO_KEY}{key}")),
            "Django's keys: {keys:?}"
        );
        key
    }

    /// Whether the gateway has registered `id` (observe mode).
    fn registered(&self, id: &str) -> bool {
        self.redis
            .query::<i64>(&["EXISTS", &format!("sessiongate:{id}")])
            == 1
    }

    /// `GET {path}` through the gateway with `headers`, as a browser.
    async fn get(&self, proto: Proto, path: &str, headers: &[(&str, &[u8])]) -> Answer {
        let mut all = vec![(BROWSER.0, BROWSER.1.as_bytes())];
        all.extend_from_slice(headers);
        get(proto, self.gateway.url(path), &all).await
    }

    /// Asserts that Django answered `path` for `user`'s session `key`.
    async fn assert_django_saw(&self, proto: Proto, path: &str, cookies: &[&[u8]], key: &str) {
        let headers: Vec<(&str, &[u8])> = cookies.iter().map(|c| ("cookie", *c)).collect();
        let who = self.get(proto, path, &headers).await;
        assert_eq!(
            who.status,
            StatusCode::OK,
            "{proto:?} {path} {:?}: {} (app stderr: {})",
            cookies_text(cookies),
            who.text(),
            self.app.stderr()
        );
        assert_eq!(
            who.json()["session_key"],
            json!(key),
            "{proto:?} {path} {:?}: Django read another session: {}",
            cookies_text(cookies),
            who.text()
        );
    }
}

fn cookies_text(cookies: &[&[u8]]) -> Vec<String> {
    cookies
        .iter()
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect()
}

/// Every way a request can carry a second session cookie after `own`:
/// in one header, as a separate header field (an HTTP/2 crumb, an extra
/// HTTP/1.1 line), and under names Django reads as `sessionid` (it decodes
/// the header as UTF-8, and Python's `str.strip` removes U+00A0, U+3000
/// and U+0085 around a name).
fn with_second(own: &str, other: &str) -> Vec<Vec<Vec<u8>>> {
    let alias = |name: &[u8]| {
        let mut line = format!("sessionid={own}; ").into_bytes();
        line.extend_from_slice(name);
        line.push(b'=');
        line.extend_from_slice(other.as_bytes());
        vec![line]
    };
    vec![
        vec![format!("sessionid={own}; sessionid={other}").into_bytes()],
        vec![sid(own), sid(other)],
        vec![
            b"csrftoken=t".to_vec(),
            sid(own),
            b"x=1".to_vec(),
            sid(other),
        ],
        alias("\u{a0}sessionid".as_bytes()),
        alias("\u{3000}sessionid".as_bytes()),
        alias("sessionid\u{85}".as_bytes()),
    ]
}

/// Issue 21 row 1, external mode: the victim's id is dead for the gateway
/// (deleted from Redis, or too idle for the route) but placed after the
/// attacker's own live id; Django must see only the attacker's session.
#[tokio::test]
async fn external_second_sessionid_never_reaches_django() {
    let s = Setup::external().await;
    let gone = s.login("victim-deleted").await;
    s.redis
        .query::<i64>(&["DEL", &format!("{DJANGO_KEY}{gone}")]);
    let idle = s.login("victim-idle").await;
    // 2 s idle: past `/strict/`'s 1 s, within the session's 30 s.
    wait(2_000).await;
    for proto in PROTOS {
        let alone = s
            .get(proto, "/strict/whoami", &[("cookie", &sid(&idle))])
            .await;
        assert_eq!(
            alone.status,
            StatusCode::FOUND,
            "{proto:?}: {}",
            alone.text()
        );
        let alone = s.get(proto, "/whoami", &[("cookie", &sid(&gone))]).await;
        assert_eq!(
            alone.status,
            StatusCode::FOUND,
            "{proto:?}: {}",
            alone.text()
        );
    }
    for proto in PROTOS {
        for (victim, path) in [(&gone, "/whoami"), (&idle, "/strict/whoami")] {
            // A fresh login each time: well within `/strict/`'s 1 s.
            let own = s.login("mallory").await;
            for cookies in with_second(&own, victim) {
                let cookies: Vec<&[u8]> = cookies.iter().map(Vec::as_slice).collect();
                s.assert_django_saw(proto, path, &cookies, &own).await;
            }
        }
    }
    // Django itself, asked directly, would have read the victim's session.
    let own = s.login("mallory").await;
    let direct = get(
        Proto::Http1,
        s.app.url("/whoami"),
        &[(
            "cookie",
            format!("sessionid={own}; sessionid={idle}").as_bytes(),
        )],
    )
    .await;
    assert_eq!(direct.json()["user"], "victim-idle");
}

/// A malformed first `sessionid` makes the request `invalid`; the valid one
/// after it lends no identity, and neither reaches Django, even on a public
/// route (where the request is forwarded).
#[tokio::test]
async fn external_malformed_first_sessionid_lends_no_identity() {
    let s = Setup::external().await;
    let victim = s.login("victim").await;
    for proto in PROTOS {
        for first in [&b"bad!"[..], b"\"quoted\"", b"a b"] {
            let mut cookie = b"sessionid=".to_vec();
            cookie.extend_from_slice(first);
            cookie.extend_from_slice(b"; csrftoken=t; sessionid=");
            cookie.extend_from_slice(victim.as_bytes());
            let refused = s.get(proto, "/whoami", &[("cookie", &cookie)]).await;
            assert_eq!(
                refused.status,
                StatusCode::FOUND,
                "{proto:?}: {}",
                refused.text()
            );
            let public = s.get(proto, "/login/whoami", &[("cookie", &cookie)]).await;
            assert_eq!(
                public.status,
                StatusCode::OK,
                "{proto:?}: {}",
                public.text()
            );
            assert_eq!(
                public.json()["user"],
                "anonymous",
                "{proto:?}: {}",
                public.text()
            );
            let seen = s.get(proto, "/login/cookies", &[("cookie", &cookie)]).await;
            assert_eq!(
                seen.json(),
                json!({"header": "csrftoken=t", "cookies": {"csrftoken": "t"}}),
                "{proto:?}"
            );
        }
    }
}

/// Issue 21 row 1, observe mode: the victim's session has expired in the
/// gateway (its key deleted; Django still has the session). Carried after
/// the attacker's own live id, on protected and public routes alike, it
/// never reaches Django, is never registered, and alone is still refused.
#[tokio::test]
async fn observe_never_learns_a_second_sessionid() {
    let s = Setup::observe().await;
    let victim = s.login("victim").await;
    assert!(s.registered(&victim), "the gateway did not learn the login");
    s.redis
        .query::<i64>(&["DEL", &format!("sessiongate:{victim}")]);
    let own = s.login("mallory").await;
    assert!(s.registered(&own));
    for proto in PROTOS {
        for cookies in with_second(&own, &victim) {
            let cookies: Vec<&[u8]> = cookies.iter().map(Vec::as_slice).collect();
            for path in ["/whoami", "/login/whoami"] {
                let headers: Vec<(&str, &[u8])> = cookies.iter().map(|c| ("cookie", *c)).collect();
                let who = s.get(proto, path, &headers).await;
                assert!(
                    !s.registered(&victim),
                    "{proto:?} {path} {:?}: the victim's id was learned ({})",
                    cookies_text(&cookies),
                    who.text()
                );
                assert_eq!(who.json()["session_key"], json!(own), "{proto:?} {path}");
            }
        }
        // Malformed first, or only under an alias name (wsgiref strips a
        // latin-1 \xa0 off the header's start): Django sees no session on
        // the public route, and nothing is learned.
        let mut alias = b"\xa0sessionid=".to_vec();
        alias.extend_from_slice(victim.as_bytes());
        for cookie in [
            format!("sessionid=bad!; sessionid={victim}").into_bytes(),
            alias,
        ] {
            let public = s.get(proto, "/login/whoami", &[("cookie", &cookie)]).await;
            assert_eq!(
                public.json()["user"],
                "anonymous",
                "{proto:?}: {}",
                public.text()
            );
            assert!(
                !s.registered(&victim),
                "{proto:?}: the victim's id was learned"
            );
        }
        let alone = s.get(proto, "/whoami", &[("cookie", &sid(&victim))]).await;
        alone.assert_sent_to_login("/whoami", "sessionid");
        // The attacker's own session is untouched by all this.
        assert!(s.registered(&own), "{proto:?}");
    }
    // Django itself still knows the victim: only the gateway stands between.
    let direct = get(
        Proto::Http1,
        s.app.url("/whoami"),
        &[("cookie", &sid(&victim))],
    )
    .await;
    assert_eq!(direct.json()["user"], "victim");
}

/// Issue 21 row 8: cookie header fields sent separately (HTTP/2 crumbs, or
/// extra HTTP/1.1 lines) reach Django as one header joined with `"; "`, so
/// Django reads every cookie, the session among them, in both modes.
#[tokio::test]
async fn cookie_crumbs_reach_django_as_one_header() {
    for s in [Setup::external().await, Setup::observe().await] {
        let own = s.login("alice").await;
        for proto in PROTOS {
            let crumbs: [&[u8]; 3] = [b"csrftoken=t", &sid(&own), b"theme=dark"];
            let headers: Vec<(&str, &[u8])> = crumbs.iter().map(|c| ("cookie", *c)).collect();
            let seen = s.get(proto, "/cookies", &headers).await;
            assert_eq!(seen.status, StatusCode::OK, "{proto:?}: {}", seen.text());
            assert_eq!(
                seen.json(),
                json!({
                    "header": format!("csrftoken=t; sessionid={own}; theme=dark"),
                    "cookies": {"csrftoken": "t", "sessionid": own, "theme": "dark"},
                }),
                "{proto:?}"
            );
            s.assert_django_saw(proto, "/whoami", &crumbs, &own).await;
        }
    }
}
