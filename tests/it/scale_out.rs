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

use std::time::Duration;

use http::StatusCode;
use sessiongate::demo::{DEMO_PASSWORD, DEMO_USER, serve_app};
use tokio::net::TcpListener;

use crate::support::gateway::{GatewayToml, TestGateway};
use crate::support::http::{Answer, Http};
use crate::support::records::{MS, now_ms, record};

mod client_cache;
mod cluster;
mod gateways;
mod sentinel;

/// How long one HTTP exchange may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(10);

/// A fresh key per call.
fn key() -> String {
    crate::support::records::fresh_key("sessiongate:scale:")
}

fn client() -> Http {
    Http::new().patience(PATIENCE)
}

/// A GET of `url` with `cookie` as the `Cookie` header.
async fn get(http: &Http, url: String, cookie: &str) -> Answer {
    http.get(url, &[("cookie", cookie)]).await
}

/// Logs in through `gateway` (the demo app behind it) and returns the
/// session cookie's `name=value`.
async fn login(http: &Http, gateway: &TestGateway) -> String {
    let form = format!("username={DEMO_USER}&password={DEMO_PASSWORD}&next=/");
    let login = http.post_form(gateway.url("/login"), &[], &form).await;
    assert_eq!(
        login.status,
        StatusCode::SEE_OTHER,
        "login answered {}",
        login.status
    );
    login.session_pair()
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
    GatewayToml::new()
        .store(store_url)
        .op_timeout(op_timeout)
        .start(app)
        .await
}
