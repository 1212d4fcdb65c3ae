//! Observe mode in front of an app whose sessions never expire: the gateway
//! learns the `appsession` value from the app's `Set-Cookie`, registers it
//! under `key_prefix` with `idle_timeout`, refuses values it never saw set,
//! ends the session when the app deletes the cookie, and on expiry clears
//! the app's cookie in the browser although the app still knows it.

use http::StatusCode;
use serde_json::json;

use super::{BROWSER, Behind, assert_browser_sent_to_login, slides_as_alice, wait};
use crate::support::logs::LogCapture;

/// The gateway's idle timeout, ms (`idle_timeout = "2s"`).
const IDLE_MS: i64 = 2_000;

async fn setup() -> Behind {
    // `/login-multi` is public too: it is under `/login`.
    let session = r#"mode = "observe"
        learn_cookie = "appsession"
        idle_timeout = "2s"
        sliding = true"#;
    Behind::start("observe-app.js", session).await
}

impl Behind {
    /// Logs `user` in through the gateway at `path`; returns the
    /// `appsession=…` cookie pair and the key the gateway should have made.
    async fn login(&self, path: &str, user: &str) -> (String, String) {
        let login = self
            .http
            .post(self.gateway.url(&format!("{path}?user={user}")), &[])
            .await;
        assert_eq!(login.status, StatusCode::OK, "body: {}", login.text());
        assert!(
            login
                .set_cookies()
                .iter()
                .all(|c| !c.starts_with("sessiongate=")),
            "observe mode sets no cookie of its own: {:?}",
            login.set_cookies()
        );
        let cookie = login.cookie_pair("appsession");
        let value = cookie.strip_prefix("appsession=").unwrap().to_owned();
        (cookie, format!("sessiongate:{value}"))
    }

    fn exists(&self, key: &str) -> bool {
        self.redis.query::<i64>(&["EXISTS", key]) == 1
    }

    /// How many `GET /whoami` the app itself has received.
    async fn app_saw_whoami(&self) -> usize {
        let seen = self.http.get(self.app.url("/_seen"), &[]).await.json();
        let seen: Vec<String> = serde_json::from_value(seen).expect("JSON list");
        seen.iter().filter(|r| *r == "GET /whoami").count()
    }
}

#[tokio::test]
async fn a_learned_session_slides_and_expires_although_the_app_keeps_it() {
    let s = setup().await;
    let (cookie, key) = s.login("/login", "alice").await;
    assert!(s.exists(&key), "the gateway did not learn the app's cookie");
    let ttl = s.pttl(&key);
    assert!((1_500..=IDLE_MS).contains(&ttl), "PTTL {ttl} after login");

    let cookie_header = [("cookie", cookie.as_str())];
    slides_as_alice(&s.http, &s.gateway, &cookie_header, async || s.pttl(&key)).await;
    assert_eq!(s.app_saw_whoami().await, 5);

    wait(2_600).await;
    assert!(
        !s.exists(&key),
        "the registered session outlived idle_timeout"
    );
    assert_browser_sent_to_login(&s.http, &s.gateway, "/whoami", cookie_header[0].1).await;
    assert_eq!(
        s.app_saw_whoami().await,
        5,
        "the app saw an expired request"
    );

    // The app itself would still have let it in.
    let direct = s.http.get(s.app.url("/whoami"), &cookie_header).await;
    assert_eq!(direct.status, StatusCode::OK);
}

/// Values the gateway never saw set are refused before the app sees them:
/// a forged one, and a real app session made behind the gateway's back.
#[tokio::test]
async fn a_value_never_seen_set_is_refused() {
    let s = setup().await;
    let forged = format!("appsession={}", "0123456789abcdef".repeat(2));
    let direct = s.http.post(s.app.url("/login?user=mallory"), &[]).await;
    let unlearned = direct.cookie_pair("appsession");
    assert_eq!(
        s.http
            .get(s.app.url("/whoami"), &[("cookie", unlearned.as_str())])
            .await
            .status,
        StatusCode::OK,
        "the app knows its own session"
    );

    for cookie in [forged.as_str(), unlearned.as_str()] {
        assert_browser_sent_to_login(&s.http, &s.gateway, "/whoami", cookie).await;
    }
    assert_eq!(s.app_saw_whoami().await, 1, "only the direct check");
}

/// Learning picks `appsession` among several `Set-Cookie` headers; the app
/// deleting its cookie, by `Max-Age=0` or by a past `Expires`, ends the
/// session in the store.
#[tokio::test]
async fn learns_among_several_cookies_and_ends_when_the_app_deletes_it() {
    let s = setup().await;

    let login = s
        .http
        .post(s.gateway.url("/login-multi?user=bob"), &[])
        .await;
    assert_eq!(login.status, StatusCode::OK, "body: {}", login.text());
    let set = login.set_cookies();
    assert_eq!(set.len(), 3, "all of the app's cookies pass: {set:?}");
    let cookie = login.cookie_pair("appsession");
    let key = format!(
        "sessiongate:{}",
        cookie.strip_prefix("appsession=").unwrap()
    );
    assert!(s.exists(&key), "appsession not learned among {set:?}");
    for other in ["dark", "en"] {
        assert!(
            !s.exists(&format!("sessiongate:{other}")),
            "learned {other}"
        );
    }
    let cookies = format!("theme=dark; {cookie}; lang=en");
    let whoami = s
        .http
        .get(s.gateway.url("/whoami"), &[("cookie", cookies.as_str())])
        .await;
    assert_eq!(whoami.json(), json!({"user": "bob"}));

    for (logout, user) in [("/logout", "carol"), ("/logout-expires", "dave")] {
        let (cookie, key) = s.login("/login", user).await;
        assert!(s.exists(&key));
        let cookie_header = [("cookie", cookie.as_str())];
        let answer = s.http.post(s.gateway.url(logout), &cookie_header).await;
        assert_eq!(answer.status, StatusCode::OK, "{logout}: {}", answer.text());
        assert!(
            answer
                .set_cookies()
                .iter()
                .any(|c| c.starts_with("appsession=;")),
            "{logout}: the app's deletion passes: {:?}",
            answer.set_cookies()
        );
        assert!(!s.exists(&key), "{logout} did not end the session");
        assert_browser_sent_to_login(&s.http, &s.gateway, "/whoami", cookie_header[0].1).await;
    }
    // Bob's session was not touched by the others' logouts.
    assert!(s.exists(&key));
}

/// Everything logged at trace level while a learned session is used,
/// refused and deleted by the app holds no value of the app's cookie.
#[tokio::test]
async fn trace_logs_hold_no_learned_cookie_value() {
    let logs = LogCapture::start();
    let s = setup().await;
    let (cookie, _key) = s.login("/login", "erin").await;
    let cookie_header = [("cookie", cookie.as_str())];
    let whoami = s.http.get(s.gateway.url("/whoami"), &cookie_header).await;
    assert_eq!(whoami.status, StatusCode::OK);
    let forged = [("cookie", "appsession=neverseenneverseen"), BROWSER];
    let refused = s.http.get(s.gateway.url("/whoami"), &forged).await;
    assert_eq!(refused.status, StatusCode::FOUND);
    let logout = s.http.post(s.gateway.url("/logout"), &cookie_header).await;
    assert_eq!(logout.status, StatusCode::OK);
    let value = cookie.strip_prefix("appsession=").unwrap();
    logs.assert_free_of(&[value, "neverseenneverseen"]);
}

/// An application that re-sends the cookie it got (rolling cookies) on a
/// public page never brings an expired session back: replaying an old
/// cookie to the login page must not log anyone in.
#[tokio::test]
async fn a_resent_cookie_never_resurrects_an_expired_session() {
    let s = setup().await;
    let (cookie, key) = s.login("/login", "frank").await;
    let cookie_header = [("cookie", cookie.as_str())];
    // While the session lives, a re-send leaves it as it is.
    let renewed = s
        .http
        .get(s.gateway.url("/login/renew"), &cookie_header)
        .await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.text());
    assert_eq!(renewed.cookie_pair("appsession"), cookie);
    assert!(s.exists(&key));

    wait(2_600).await;
    assert!(!s.exists(&key), "the session outlived idle_timeout");
    let renewed = s
        .http
        .get(s.gateway.url("/login/renew"), &cookie_header)
        .await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.text());
    assert!(!s.exists(&key), "a re-sent cookie brought the session back");
    assert_browser_sent_to_login(&s.http, &s.gateway, "/whoami", cookie_header[0].1).await;
}

/// The gateway's own logout in observe mode ends the learned session and
/// clears the application's cookie, not a cookie of the gateway's.
#[tokio::test]
async fn the_gateways_logout_clears_the_apps_cookie() {
    let s = setup().await;
    let (cookie, key) = s.login("/login", "gina").await;
    let logout = s
        .http
        .get(
            s.gateway.url("/.sessiongate/logout"),
            &[("cookie", cookie.as_str())],
        )
        .await;
    assert_eq!(logout.status, StatusCode::FOUND);
    logout.assert_clears("appsession");
    assert!(!s.exists(&key));
}
