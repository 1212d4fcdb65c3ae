//! The gateway in-process via `sessiongate::run` on 127.0.0.1:0.

use std::net::SocketAddr;

use sessiongate::config::Config;
use sessiongate::{Error, Listeners};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The proxy tests' config: SPEC defaults, pointing at `upstream`
/// (`http://…`), with every path on a public route named `all` (these tests
/// are about forwarding; the session tests use [`config_toml`]).
pub fn config(upstream: &str) -> Config {
    config_toml(&format!(
        r#"
        [upstream]
        url = "{upstream}"
        response_timeout = "30s"
        [log]
        access_log = false
        [[route]]
        name = "all"
        path = "/"
        public = true
        "#
    ))
}

/// Parses a test config, panicking with the rendered errors.
pub fn config_toml(text: &str) -> Config {
    Config::from_toml_str(text).unwrap_or_else(|errors| panic!("{}", errors.render("test")))
}

/// A running gateway; shut down (or aborted) on drop.
pub struct TestGateway {
    pub addr: SocketAddr,
    /// The admin listener: /metrics, /healthz, /readyz.
    pub admin: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), Error>>>,
}

impl TestGateway {
    pub async fn start(config: Config) -> Self {
        let proxy = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let addr = proxy.local_addr().unwrap();
        let admin_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind admin");
        let admin = admin_listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let listeners = Listeners {
            proxy,
            admin: Some(admin_listener),
        };
        let task = tokio::spawn(sessiongate::run(listeners, config, async move {
            let _ = rx.await;
        }));
        TestGateway {
            addr,
            admin,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `http://127.0.0.1:ADMINPORT`
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    /// Starts the graceful shutdown without waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Waits for `run` to return (after [`Self::begin_shutdown`]).
    pub async fn finished(&mut self) -> Result<(), Error> {
        let task = self.task.take().expect("gateway already joined");
        task.await.expect("gateway task panicked")
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
