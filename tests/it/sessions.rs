//! Managed-mode sessions end to end (SPEC §3, §4, §5, §6): the gateway
//! in-process, a real upstream that logs people in with `Sessiongate-Login`,
//! and a real `redis-server` (some tests also on `memory://`).
//!
//! Timing: every boundary is checked with >= 0.5 s of margin on both sides,
//! measured from instants taken before the login request was sent and after
//! its answer arrived (the session was created in between).

use std::time::Duration;

use http::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

use crate::support::gateway::{GatewayToml, TestGateway};
use crate::support::http::{Answer, Http, PATIENCE};
use crate::support::redis::RedisServer;
use crate::support::upstream::TestUpstream;

mod bounded;
mod duplicate_cookies;
mod endpoints;
mod expiry;
mod live;
mod outage;
mod rules;

const COOKIE: &str = "sessiongate";
const PREFIX: &str = "sessiongate:";

/// One gateway with its upstream (and the store URL it uses).
struct Env {
    gw: TestGateway,
    upstream: TestUpstream,
}

/// What a test configures: the `[session]` keys, extra `[[route]]`s and the
/// store's `op_timeout`, on top of public `/login` and `/pub/` routes.
struct Setup {
    toml: GatewayToml,
    routes: String,
}

impl Setup {
    fn new(store_url: &str) -> Self {
        Setup {
            toml: GatewayToml::new().store(store_url),
            routes: String::new(),
        }
    }

    fn session(mut self, keys: &str) -> Self {
        self.toml = self.toml.session(keys);
        self
    }

    fn routes(mut self, routes: &str) -> Self {
        self.routes = routes.to_owned();
        self
    }

    fn op_timeout(mut self, t: &str) -> Self {
        self.toml = self.toml.op_timeout(t);
        self
    }

    async fn start(self) -> Env {
        let upstream = TestUpstream::start().await;
        let routes = format!("{PUB_ROUTE}{}", self.routes);
        let gw = self.toml.routes(&routes).start(&upstream.url()).await;
        Env { gw, upstream }
    }
}

/// A fresh redis-server and a gateway on it with the `[session]` keys
/// `session` and the extra `[[route]]`s `routes` (either may be empty);
/// the server lives as long as the returned guard.
async fn on_redis(session: &str, routes: &str) -> (RedisServer, Env) {
    let redis = RedisServer::start();
    let env = Setup::new(&redis.url())
        .session(session)
        .routes(routes)
        .start()
        .await;
    (redis, env)
}

/// [`on_redis`], with alice logged in.
async fn alice_on_redis(session: &str, routes: &str) -> (RedisServer, Env, Login) {
    let (redis, env) = on_redis(session, routes).await;
    let login = env.login("alice").await;
    (redis, env, login)
}

/// The `[session]` keys for an idle timeout of `idle` and an absolute
/// cap of `absolute` (TOML durations such as `"30s"`).
fn idle_and_cap(idle: &str, absolute: &str) -> String {
    format!("idle_timeout = \"{idle}\"\nabsolute_timeout = \"{absolute}\"\n")
}

/// One `[[route]]` table: `name`, `path`, then further `keys` (TOML
/// lines, maybe none).
fn route(name: &str, path: &str, keys: &str) -> String {
    format!("[[route]]\nname = \"{name}\"\npath = \"{path}\"\n{keys}\n")
}

/// `/pub/` is public in every session test.
const PUB_ROUTE: &str = "[[route]]\nname = \"pub\"\npath = \"/pub/\"\npublic = true\n";

impl Answer {
    /// Every value the upstream echo saw for `name`.
    fn upstream_saw(&self, name: &str) -> Vec<String> {
        self.json()["headers"][name]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    }

    /// The one `Set-Cookie` for the gateway's cookie; panics unless exactly one.
    fn session_cookie(&self) -> String {
        let ours = self.session_cookies();
        assert_eq!(ours.len(), 1, "expected one session Set-Cookie: {ours:?}");
        ours.into_iter().next().unwrap()
    }

    /// A browser redirect to login; returns the Location.
    fn assert_login_redirect(&self) -> &str {
        assert_eq!(self.status, StatusCode::FOUND, "{:?}", self.headers);
        assert_eq!(self.headers["cache-control"], "no-store");
        let loc = self.location();
        assert!(loc.starts_with("/login?next="), "{loc}");
        loc
    }

    fn assert_forwarded_as(&self, user: &str) {
        assert_eq!(self.status, StatusCode::OK, "{:?}", self.body);
        assert_eq!(self.upstream_saw("x-sessiongate-user"), vec![user]);
    }

    /// No `Sessiongate-*` control header of the upstream's reached the
    /// client.
    fn assert_no_control_headers(&self) {
        assert!(
            !self
                .headers
                .keys()
                .any(|k| k.as_str().starts_with("sessiongate-")),
            "control header leaked: {:?}",
            self.headers
        );
    }

    /// A `Set-Cookie` that deletes the gateway's cookie with `Path=/`.
    fn assert_cookie_cleared(&self) {
        let c = self.session_cookie();
        assert!(c.starts_with("sessiongate=;"), "{c}");
        assert!(c.contains("Max-Age=0"), "{c}");
        assert!(c.contains("Path=/"), "{c}");
    }

    fn assert_no_session_cookie(&self) {
        let ours = self.session_cookies();
        assert!(ours.is_empty(), "unexpected Set-Cookie: {ours:?}");
    }
}

/// Sends one request with `headers` and reads the whole answer.
async fn request(method: Method, url: String, headers: &[(&str, &str)], body: &str) -> Answer {
    Http::new().request(method, url, headers, body).await
}

/// A logged-in browser: its session id and the instants around its login.
struct Login {
    id: String,
    set_cookie: String,
    /// Taken before the login request was sent.
    before: Instant,
    /// Taken after its answer arrived.
    after: Instant,
}

impl Login {
    fn cookie(&self) -> String {
        format!("{COOKIE}={}", self.id)
    }
}

impl Env {
    fn url(&self, path: &str) -> String {
        self.gw.url(path)
    }

    /// Logs `user` in through the upstream's `/login` (a public route).
    async fn login_with(&self, query: &str, headers: &[(&str, &str)]) -> Login {
        let before = Instant::now();
        let ans = request(
            Method::POST,
            self.url(&format!("/login?{query}")),
            headers,
            "",
        )
        .await;
        let after = Instant::now();
        assert_eq!(ans.status, StatusCode::OK);
        ans.assert_no_control_headers();
        let set_cookie = ans.session_cookie();
        let id = set_cookie
            .strip_prefix("sessiongate=")
            .and_then(|rest| rest.split(';').next())
            .unwrap()
            .to_owned();
        assert_eq!(id.len(), 64, "{set_cookie}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{set_cookie}");
        Login {
            id,
            set_cookie,
            before,
            after,
        }
    }

    async fn login(&self, user: &str) -> Login {
        self.login_with(&format!("user={user}"), &[]).await
    }

    /// A browser GET with `cookie` (if any) and extra headers.
    async fn get(&self, path: &str, cookie: Option<&str>, extra: &[(&str, &str)]) -> Answer {
        let mut headers: Vec<(&str, &str)> = vec![("accept", "text/html")];
        if let Some(c) = cookie {
            headers.push(("cookie", c));
        }
        headers.extend_from_slice(extra);
        request(Method::GET, self.url(path), &headers, "").await
    }
}

/// Sleeps until `secs` after `base`.
async fn at(base: Instant, secs: f64) {
    tokio::time::sleep_until(base + Duration::from_secs_f64(secs)).await;
}

/// A browser GET of `target` for `host` exactly as written (no client
/// normalises it), on a fresh connection; the whole answer.
async fn raw_get(gw: &TestGateway, host: &str, target: &str) -> String {
    let head = format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nAccept: text/html\r\nConnection: close\r\n\r\n"
    );
    raw(gw, &head).await
}

/// Writes `head` verbatim on a fresh connection and reads until close.
async fn raw(gw: &TestGateway, head: &str) -> String {
    let mut stream = TcpStream::connect(gw.addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    timeout(PATIENCE, stream.read_to_end(&mut out))
        .await
        .expect("gateway did not close in time")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

fn key(id: &str) -> String {
    format!("{PREFIX}{id}")
}
