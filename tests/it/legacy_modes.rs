//! External and observe modes (SPEC §4) end to end, in front of real
//! applications in `tests/apps/` (Node.js; `scripts/install-test-apps`
//! installs them): an Express 5 app with express-session + connect-redis
//! whose sessions the gateway finds in Redis (external), and a hand-rolled
//! app with never-expiring in-memory sessions whose cookie the gateway
//! learns (observe), and an Express app on express-session's never-expiring
//! MemoryStore, observed through `id_pattern` (observe_express). `apps`
//! checks the fixtures alone, without the gateway.

use std::time::Duration;

use http::{StatusCode, header};

use crate::support::gateway::{GatewayToml, TestGateway};
use crate::support::http::{Answer, Http, sample};
use crate::support::node_app::NodeApp;
use crate::support::redis::RedisServer;

mod apps;
mod django;
mod external;
mod observe;
mod observe_express;

/// What a browser navigating to a page sends: a redirect, not a 401.
const BROWSER: (&str, &str) = ("accept", "text/html,application/xhtml+xml");

/// What a script asking for JSON sends: a 401, not a redirect.
const API: (&str, &str) = ("accept", "application/json");

impl Answer {
    /// Asserts a 302 to `/login` whose `next` is `path`, not cached, and
    /// that it clears the cookie `name` (`name=; …Max-Age=0`).
    fn assert_sent_to_login(&self, path: &str, name: &str) {
        assert_eq!(self.status, StatusCode::FOUND, "body: {}", self.text());
        let location = self.headers[header::LOCATION].to_str().unwrap();
        let next = location
            .strip_prefix("/login?next=")
            .unwrap_or_else(|| panic!("not a login redirect: {location}"));
        assert_eq!(percent_decode(next), path, "next of {location}");
        assert_eq!(self.headers[header::CACHE_CONTROL], "no-store");
        self.assert_clears(name);
    }

    /// Asserts a `Set-Cookie` that deletes `name` with `Max-Age=0`.
    fn assert_clears(&self, name: &str) {
        let prefix = format!("{name}=");
        assert!(
            self.set_cookies().iter().any(|c| c.starts_with(&prefix)
                && c.split(';').next() == Some(&prefix)
                && c.to_ascii_lowercase().contains("max-age=0")),
            "{name} not cleared with Max-Age=0: {:?}",
            self.set_cookies()
        );
    }
}

/// A browser's GET of `path` through `gateway` with the cookie `pair`
/// (`name=value`): asserts that it is sent to login and that cookie
/// cleared.
async fn assert_browser_sent_to_login(http: &Http, gateway: &TestGateway, path: &str, pair: &str) {
    let (name, _value) = pair.split_once('=').expect("a name=value pair");
    let answer = http
        .get(gateway.url(path), &[("cookie", pair), BROWSER])
        .await;
    answer.assert_sent_to_login(path, name);
}

/// The session id in express-session's signed cookie, the pair `name=`
/// `s:<id>.<signature>` (percent-encoded) as a browser sends it.
fn express_session_id(pair: &str, name: &str) -> String {
    let value = pair
        .strip_prefix(name)
        .and_then(|rest| rest.strip_prefix('='))
        .unwrap_or_else(|| panic!("not a {name} cookie: {pair}"));
    percent_decode(value)
        .strip_prefix("s:")
        .and_then(|rest| rest.split_once('.'))
        .map(|(id, _signature)| id.to_owned())
        .expect("s:<id>.<signature>")
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .expect("UTF-8")
        .into_owned()
}

/// The gateway in front of `app`, sessions in `redis` (`op_timeout` 2 s),
/// the access log on, `/login` (and everything under it) public. `session`
/// holds the `[session]` keys of the mode under test.
async fn gateway_in_front(redis: &RedisServer, app: &NodeApp, session: &str) -> TestGateway {
    GatewayToml::new()
        .store(&redis.url())
        .op_timeout("2s")
        .session(session)
        .access_log(true)
        .start(&app.url(""))
        .await
}

/// The value of one exposition line (`name{labels} value`); 0 when the
/// series has not been created yet.
async fn metric(http: &Http, gw: &TestGateway, series: &str) -> f64 {
    sample(&http.metrics(gw).await, series).unwrap_or(0.0)
}

/// A Redis, an app from `tests/apps`, and the gateway in front of it.
struct Behind {
    // Fields drop in declaration order: the gateway, then the app, then Redis.
    gateway: TestGateway,
    app: NodeApp,
    redis: RedisServer,
    http: Http,
}

impl Behind {
    /// Starts Redis, the app `script`, and the gateway in front of it with
    /// the `[session]` keys `session`.
    async fn start(script: &str, session: &str) -> Behind {
        let redis = RedisServer::start();
        let app = NodeApp::node(script, &[]);
        let gateway = gateway_in_front(&redis, &app, session).await;
        Behind {
            gateway,
            app,
            redis,
            http: Http::new(),
        }
    }

    fn pttl(&self, key: &str) -> i64 {
        self.redis.query(&["PTTL", key])
    }
}

/// Five `GET /whoami` 0.6 s apart (3 s: alive past a 2 s idle timeout only
/// by sliding), each answered for alice, with the session's `pttl` back
/// within [1.5 s, 2 s] after each.
async fn slides_as_alice(
    http: &Http,
    gateway: &TestGateway,
    headers: &[(&str, &str)],
    mut pttl: impl AsyncFnMut() -> i64,
) {
    for round in 0..5 {
        wait(600).await;
        let whoami = http.get(gateway.url("/whoami"), headers).await;
        assert_eq!(
            whoami.status,
            StatusCode::OK,
            "round {round}: {}",
            whoami.text()
        );
        assert_eq!(whoami.json(), serde_json::json!({"user": "alice"}));
        let ttl = pttl().await;
        assert!(
            (1_500..=2_000).contains(&ttl),
            "round {round}: PTTL {ttl} after a request"
        );
    }
}

/// Sleeps on the test's clock (Redis TTLs run on Redis's; the margins
/// around every expiry are >= 0.5 s).
async fn wait(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}
