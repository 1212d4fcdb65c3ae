//! Observe mode in front of an Express app on express-session's default
//! MemoryStore (`tests/apps/express-observe.js`): sessions that never
//! expire, no Redis of the app's own, and a signed, percent-encoded
//! cookie (`app.sid=s%3A<id>.<signature>`) from which `id_pattern` takes
//! the id. The gateway learns the session from the app's `Set-Cookie`,
//! passes it while active, slides it, expires it when idle, and clears
//! the app's cookie, while the app itself would still let the user in.

use http::StatusCode;

use super::{Behind, assert_browser_sent_to_login, express_session_id, slides_as_alice, wait};

/// The gateway's idle timeout, ms (`idle_timeout = "2s"`).
const IDLE_MS: i64 = 2_000;

async fn setup() -> Behind {
    let session = r#"mode = "observe"
        learn_cookie = "app.sid"
        id_pattern = '^s:(?P<id>[^.]+)\.'
        idle_timeout = "2s""#;
    Behind::start("express-observe.js", session).await
}

#[tokio::test]
async fn learns_an_express_session_passes_slides_and_expires_it() {
    let s = setup().await;
    let login = s.http.post(s.gateway.url("/login?user=alice"), &[]).await;
    assert_eq!(login.status, StatusCode::OK, "stderr: {}", s.app.stderr());
    let cookie = login.cookie_pair("app.sid");
    let id = express_session_id(&cookie, "app.sid");
    let key = format!("sessiongate:{id}");
    let ttl = s.pttl(&key);
    assert!((1_500..=IDLE_MS).contains(&ttl), "not learned: PTTL {ttl}");

    let cookie_header = [("cookie", cookie.as_str())];
    slides_as_alice(&s.http, &s.gateway, &cookie_header, async || s.pttl(&key)).await;

    wait(2_600).await;
    assert_browser_sent_to_login(&s.http, &s.gateway, "/whoami", cookie_header[0].1).await;
    // The app's MemoryStore never expires it: only the gateway did.
    let direct = s.http.get(s.app.url("/whoami"), &cookie_header).await;
    assert_eq!(direct.status, StatusCode::OK, "{}", direct.text());
}

/// A forged cookie with a well-formed id is refused before the app sees
/// it, and a cookie the pattern does not match is `invalid`.
#[tokio::test]
async fn values_never_seen_set_or_not_matching_are_refused() {
    let s = setup().await;
    for (cookie, reason) in [
        ("app.sid=s%3Aforgedforgedforged.c2lnbmF0dXJl", "expired"),
        ("app.sid=plainvalue", "invalid"),
    ] {
        let answer = s
            .http
            .get(
                s.gateway.url("/whoami"),
                &[("cookie", cookie), ("accept", "application/json")],
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{cookie}");
        assert_eq!(answer.json()["reason"], reason, "{cookie}");
    }
}
