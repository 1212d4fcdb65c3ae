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

/// Sends configs to a gateway started with [`TestGateway::start_reloadable`].
pub type ReloadSender = tokio::sync::mpsc::Sender<Result<Config, sessiongate::config::LoadError>>;

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
        Self::start_with(config, None).await
    }

    /// Starts a gateway that applies every config sent on the returned
    /// channel, as SIGHUP does for the binary.
    pub async fn start_reloadable(config: Config) -> (Self, ReloadSender) {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        (Self::start_with(config, Some(rx)).await, tx)
    }

    async fn start_with(config: Config, reloads: Option<sessiongate::reload::Reloads>) -> Self {
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
        let shutdown = async move {
            let _ = rx.await;
        };
        let task = tokio::spawn(sessiongate::run_reloadable(
            listeners, config, shutdown, reloads,
        ));
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
