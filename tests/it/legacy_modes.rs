//! External and observe modes (SPEC §4) end to end, in front of real
//! applications in `tests/apps/` (Node.js; `scripts/install-test-apps`
//! installs them): an Express 5 app with express-session + connect-redis
//! whose sessions the gateway finds in Redis (external), and a hand-rolled
//! app with never-expiring in-memory sessions whose cookie the gateway
//! learns (observe), and an Express app on express-session's never-expiring
//! MemoryStore, observed through `id_pattern` (observe_express). `apps`
//! checks the fixtures alone, without the gateway.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::time::timeout;

use crate::support::gateway::{TestGateway, config_toml};
use crate::support::node_app::NodeApp;
use crate::support::redis::RedisServer;

mod apps;
mod django;
mod external;
mod observe;
mod observe_express;

/// Generous bound for anything that should happen "now"; only a hang hits it.
const PATIENCE: Duration = Duration::from_secs(20);

/// What a browser navigating to a page sends: a redirect, not a 401.
const BROWSER: (&str, &str) = ("accept", "text/html,application/xhtml+xml");

/// What a script asking for JSON sends: a 401, not a redirect.
const API: (&str, &str) = ("accept", "application/json");

/// One answer, body as text.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// Every `Set-Cookie` header, in order.
    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().expect("ASCII Set-Cookie").to_owned())
            .collect()
    }

    /// The `name=value` pair of the `Set-Cookie` for `name` (panics without one).
    fn cookie_pair(&self, name: &str) -> String {
        let prefix = format!("{name}=");
        self.set_cookies()
            .into_iter()
            .find(|c| c.starts_with(&prefix))
            .and_then(|c| c.split(';').next().map(str::to_owned))
            .unwrap_or_else(|| panic!("no Set-Cookie for {name} in {:?}", self.set_cookies()))
    }

    /// Asserts a 302 to `/login` whose `next` is `path`, not cached, and
    /// that it clears the cookie `name` (`name=; …Max-Age=0`).
    fn assert_sent_to_login(&self, path: &str, name: &str) {
        assert_eq!(self.status, StatusCode::FOUND, "body: {}", self.body);
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

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .expect("UTF-8")
        .into_owned()
}

/// A plain HTTP/1.1 client (no cookie jar: each test sends the cookies it
/// means to, so what the gateway sees is explicit).
struct Http(Client<HttpConnector, Full<Bytes>>);

impl Http {
    fn new() -> Http {
        Http(Client::builder(TokioExecutor::new()).build_http())
    }

    async fn send(&self, method: Method, url: String, headers: &[(&str, &str)]) -> Answer {
        let mut req = Request::builder().method(method).uri(&url);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let resp = timeout(PATIENCE, self.0.request(req.body(Full::default()).unwrap()))
            .await
            .unwrap_or_else(|_| panic!("no answer in time from {url}"))
            .unwrap_or_else(|e| panic!("request to {url} failed: {e}"));
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.expect("body").to_bytes();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn get(&self, url: String, headers: &[(&str, &str)]) -> Answer {
        self.send(Method::GET, url, headers).await
    }

    async fn post(&self, url: String, headers: &[(&str, &str)]) -> Answer {
        self.send(Method::POST, url, headers).await
    }
}

/// The gateway in front of `app`, sessions in `redis` (`op_timeout` 2 s),
/// the access log on, `/login` (and everything under it) public. `session`
/// holds the `[session]` keys of the mode under test.
async fn gateway_in_front(redis: &RedisServer, app: &NodeApp, session: &str) -> TestGateway {
    TestGateway::start(config_toml(&format!(
        r#"
        [store]
        url = "{redis}"
        op_timeout = "2s"
        [session]
        {session}
        [upstream]
        url = "{upstream}"
        [log]
        access_log = true
        [[route]]
        name = "login"
        path = "/login"
        public = true
        "#,
        redis = redis.url(),
        upstream = app.url(""),
    )))
    .await
}

/// The value of one exposition line (`name{labels} value`); 0 when the
/// series has not been created yet.
async fn metric(http: &Http, metrics_url: String, series: &str) -> f64 {
    let text = http.get(metrics_url, &[]).await.body;
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Sleeps on the test's clock (Redis TTLs run on Redis's; the margins
/// around every expiry are >= 0.5 s).
async fn wait(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Every log line written at trace level while it is alive (this thread
/// only: `#[tokio::test]` runs the gateway's tasks on the test's thread).
struct LogCapture {
    lines: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl LogCapture {
    fn start() -> LogCapture {
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || CaptureWriter(sink.clone()))
            .finish();
        LogCapture {
            lines,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    /// Asserts that logging happened and that no line holds any of `secrets`.
    fn assert_free_of(&self, secrets: &[&str]) {
        let text = String::from_utf8_lossy(&self.lines.lock().unwrap()).into_owned();
        assert!(text.lines().count() > 20, "trace logging was on:\n{text}");
        for line in text.lines() {
            for secret in secrets {
                assert!(!line.contains(secret), "{secret:?} reached the log: {line}");
            }
        }
    }
}

struct CaptureWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
