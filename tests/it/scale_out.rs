//! Scale-out: many gateways on Redis Sentinel and Redis Cluster, on real
//! multi-process topologies (`support::redis_topology`).
//!
//! - `cluster`: the store's behaviours on a 3-master cluster, and sessions
//!   spread over every master, each served by one `EVALSHA` on its master.
//! - `gateways`: two gateway instances share sessions (login on one, use
//!   and logout on the other).
//! - `sentinel`: a failover under a steady request loop: sessions survive,
//!   requests during the switch get 503 (never a login redirect), and the
//!   failover time and failed requests are printed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sessiongate::demo::{DEMO_PASSWORD, DEMO_USER, serve_app};
use sessiongate::store::Record;
use tokio::net::TcpListener;

use crate::support::gateway::{TestGateway, config_toml};

mod cluster;
mod gateways;
mod sentinel;

const MS: fn(u64) -> Duration = Duration::from_millis;

/// How long one HTTP exchange may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(10);

fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    u64::try_from(since.as_millis()).expect("ms fit in u64")
}

/// A fresh key per call.
fn key() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("sessiongate:scale:{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn record(idle_ms: u64) -> Record {
    let now = now_ms();
    Record {
        user: Some("alice".to_owned()),
        started_ms: now,
        idle: MS(idle_ms),
        deadline_ms: None,
        browser: false,
        touched_ms: now,
    }
}

struct Http(Client<HttpConnector, Full<Bytes>>);

impl Http {
    fn new() -> Http {
        Http(Client::builder(TokioExecutor::new()).build_http())
    }

    async fn send(&self, req: Request<Full<Bytes>>) -> (StatusCode, HeaderMap, String) {
        let resp = tokio::time::timeout(PATIENCE, self.0.request(req))
            .await
            .expect("no answer in time")
            .expect("request failed");
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.expect("body").to_bytes();
        (
            parts.status,
            parts.headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    async fn get(&self, url: String, cookie: &str) -> (StatusCode, HeaderMap, String) {
        let req = Request::get(url)
            .header(header::COOKIE, cookie)
            .body(Full::default())
            .unwrap();
        self.send(req).await
    }

    /// Logs in through the gateway at `base` (the demo app behind it) and
    /// returns the session cookie's `name=value`.
    async fn login(&self, gateway: &TestGateway) -> String {
        let form = format!("username={DEMO_USER}&password={DEMO_PASSWORD}&next=/");
        let login = Request::builder()
            .method(Method::POST)
            .uri(gateway.url("/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(form)))
            .unwrap();
        let (status, headers, _) = self.send(login).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "login answered {status}");
        headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("sessiongate=") && !v.contains("Max-Age=0"))
            .and_then(|v| v.split(';').next())
            .expect("a session cookie")
            .to_owned()
    }
}

/// Starts the demo app on a free port; returns its `http://` URL.
async fn demo_app() -> String {
    let app = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", app.local_addr().unwrap());
    tokio::spawn(serve_app(app, std::future::pending()));
    url
}

/// A managed-mode gateway in front of `app` on the store at `store_url`,
/// with a public `/login` route.
async fn gateway(store_url: &str, op_timeout: &str, app: &str) -> TestGateway {
    TestGateway::start(config_toml(&format!(
        r#"
        [store]
        url = "{store_url}"
        op_timeout = "{op_timeout}"
        [log]
        access_log = false
        [upstream]
        url = "{app}"
        [[route]]
        name = "login"
        path = "/login"
        public = true
        "#
    )))
    .await
}
