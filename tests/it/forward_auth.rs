//! Forward-auth (SPEC §11): the session check answered to a fronting proxy.
//!
//! - [`direct`]: both endpoints called directly, for every row of SPEC §5;
//! - [`nginx`]: a real nginx (`auth_request`) running
//!   `deploy/forward-auth/nginx.conf` in front of a real upstream;
//! - [`caddy`]: a real Caddy (`forward_auth`) running
//!   `deploy/forward-auth/Caddyfile`;
//! - [`readme`]: the README shows exactly those two files.
//!
//! Timing: every boundary has >= 0.5 s of margin on both sides, measured
//! from instants taken before a request was sent and after its answer.

use std::time::Duration;

use http::StatusCode;
use tokio::time::Instant;

use crate::support::gateway::{GatewayToml, PUB_ROUTE, TestGateway};
use crate::support::http::{Answer, Http};
use crate::support::redis::RedisServer;
use crate::support::upstream::TestUpstream;

mod caddy;
mod direct;
mod nginx;
mod readme;

const REQUEST: &str = "/.sessiongate/auth/request";
const FORWARD: &str = "/.sessiongate/auth/forward";
const BROWSER: (&str, &str) = ("accept", "text/html");
const API: (&str, &str) = ("accept", "application/json");

/// Identity headers a client forges; they never reach the application.
const FORGED: [(&str, &str); 2] = [
    ("x-sessiongate-user", "mallory"),
    ("x_sessiongate_user", "mallory"),
];

/// The application's own session key in external mode (session `abc123`).
const APP_KEY: &str = "app:session:abc123";

/// Which store the gateway uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Store {
    Memory,
    Redis,
}

/// A gateway (and a Redis when asked) in front of a real upstream.
struct Env {
    gw: TestGateway,
    upstream: TestUpstream,
    redis: Option<RedisServer>,
    http: Http,
}

impl Env {
    /// `session`: `[session]` keys; `routes`: extra `[[route]]`s after the
    /// public `/login` and `/pub/` routes.
    async fn start(store: Store, session: &str, routes: &str) -> Env {
        let redis = (store == Store::Redis).then(RedisServer::start);
        let url = redis.as_ref().map_or("memory://".to_owned(), |r| r.url());
        let upstream = TestUpstream::start().await;
        let gw = GatewayToml::new()
            .store(&url)
            .op_timeout("500ms")
            .session(session)
            .routes(&format!(
                r#"
                {PUB_ROUTE}
                {routes}
                "#
            ))
            .start(&upstream.url())
            .await;
        Env {
            gw,
            upstream,
            redis,
            http: Http::new(),
        }
    }

    /// External mode on Redis (`sessionid` cookie, `app:session:{id}`,
    /// `idle_timeout = "2s"`), with the application's session `abc123`
    /// stored at [`APP_KEY`] with 1 s left.
    async fn start_external() -> Env {
        let session = r#"mode = "external"
            cookie_name = "sessionid"
            key_template = "app:session:{id}"
            idle_timeout = "20s""#;
        let env = Env::start(Store::Redis, session, "").await;
        // The key outlives any slow start of what the test runs next (a
        // fronting nginx on a loaded machine); the check slides it to 20 s.
        let _: () = env.redis().query(&["SET", APP_KEY, "{}", "PX", "5000"]);
        env
    }

    fn redis(&self) -> &RedisServer {
        self.redis.as_ref().expect("a Redis store")
    }

    /// Logs `user` in through the gateway's proxy path; the session cookie
    /// pair and the instants around the login.
    async fn login(&self, user: &str) -> Login {
        let before = Instant::now();
        let ans = self
            .http
            .post(self.gw.url(&format!("/login?user={user}")), &[])
            .await;
        let after = Instant::now();
        assert_eq!(ans.status, StatusCode::OK, "{}", ans.text());
        Login {
            cookie: ans.session_pair(),
            before,
            after,
        }
    }

    /// `GET /.sessiongate/auth/request` as nginx sends it: the original
    /// request in `X-Original-URI` and `X-Original-Method`.
    async fn request(&self, method: &str, uri: &str, extra: &[(&str, &str)]) -> Answer {
        let mut headers = vec![("x-original-uri", uri), ("x-original-method", method)];
        headers.extend_from_slice(extra);
        self.http.get(self.gw.url(REQUEST), &headers).await
    }

    /// `GET /.sessiongate/auth/forward` as Traefik and Caddy send it.
    async fn forward(&self, method: &str, uri: &str, extra: &[(&str, &str)]) -> Answer {
        let mut headers = vec![
            ("x-forwarded-uri", uri),
            ("x-forwarded-method", method),
            ("x-forwarded-proto", "http"),
        ];
        headers.extend_from_slice(extra);
        self.http.get(self.gw.url(FORWARD), &headers).await
    }
}

/// A logged-in browser.
struct Login {
    /// `sessiongate=ID`
    cookie: String,
    before: Instant,
    after: Instant,
}

impl Login {
    fn id(&self) -> &str {
        self.cookie.strip_prefix("sessiongate=").unwrap()
    }
}

/// Sleeps until `secs` after `base`.
async fn at(base: Instant, secs: f64) {
    tokio::time::sleep_until(base + Duration::from_secs_f64(secs)).await;
}

impl Answer {
    /// `200`, an empty body, the identity header `user` (or none).
    fn assert_allowed(&self, user: Option<&str>) {
        assert_eq!(
            self.status,
            StatusCode::OK,
            "{:?} {}",
            self.headers,
            self.text()
        );
        assert!(self.body.is_empty(), "{}", self.text());
        let identity = self
            .headers
            .get("x-sessiongate-user")
            .map(|v| v.to_str().unwrap());
        assert_eq!(identity, user, "{:?}", self.headers);
    }

    /// Exactly one `Set-Cookie` deleting the gateway's cookie.
    fn assert_cleared(&self) {
        let ours = self.session_cookies();
        assert_eq!(ours.len(), 1, "{ours:?}");
        assert!(ours[0].starts_with("sessiongate=;"), "{ours:?}");
        assert!(ours[0].contains("Max-Age=0"), "{ours:?}");
    }

    /// The `/auth/request` refusal: `401` with `Location` the login URL
    /// with `next`, the reason in the JSON body.
    fn assert_request_refused(&self, reason: &str, next: &str) {
        assert_eq!(self.status, StatusCode::UNAUTHORIZED, "{:?}", self.headers);
        let location = format!("/login?next={next}");
        assert_eq!(self.location(), location);
        assert_eq!(self.json()["reason"], reason);
        assert_eq!(self.json()["login_url"], location.as_str());
    }

    /// A browser's `302` to login with `next`.
    fn assert_redirected(&self, next: &str) {
        assert_eq!(self.status, StatusCode::FOUND, "{:?}", self.headers);
        assert_eq!(self.headers["cache-control"], "no-store");
        assert_eq!(self.location(), format!("/login?next={next}"));
    }

    /// An API client's `401` JSON.
    fn assert_unauthorized(&self, reason: &str, next: &str) {
        assert_eq!(self.status, StatusCode::UNAUTHORIZED, "{:?}", self.headers);
        assert_eq!(
            self.json(),
            serde_json::json!({
                "error": "session_expired",
                "reason": reason,
                "login_url": format!("/login?next={next}"),
            })
        );
    }
}
