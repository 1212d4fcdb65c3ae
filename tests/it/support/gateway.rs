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

/// A public `[[route]]` named `pub` at `/pub/`: a public path beside
/// `/login`, for [`GatewayToml::routes`].
pub const PUB_ROUTE: &str = r#"
[[route]]
name = "pub"
path = "/pub/"
public = true
"#;

/// A managed-style test config in front of one upstream: `[store]`,
/// `[session]`, `[upstream]`, `[log]`, a public `/login` route, then any
/// further routes. Each test sets only what it is about.
#[derive(Debug, Clone)]
pub struct GatewayToml {
    store_url: String,
    op_timeout: String,
    store_keys: String,
    session: String,
    access_log: bool,
    sections: String,
    routes: String,
}

impl GatewayToml {
    /// The memory store, `op_timeout = "1s"`, no access log.
    pub fn new() -> Self {
        GatewayToml {
            store_url: "memory://".to_owned(),
            op_timeout: "1s".to_owned(),
            store_keys: String::new(),
            session: String::new(),
            access_log: false,
            sections: String::new(),
            routes: String::new(),
        }
    }

    pub fn store(mut self, url: &str) -> Self {
        self.store_url = url.to_owned();
        self
    }

    pub fn op_timeout(mut self, timeout: &str) -> Self {
        self.op_timeout = timeout.to_owned();
        self
    }

    /// More `[store]` keys.
    pub fn store_keys(mut self, keys: &str) -> Self {
        self.store_keys = keys.to_owned();
        self
    }

    /// `[session]` keys.
    pub fn session(mut self, keys: &str) -> Self {
        self.session = keys.to_owned();
        self
    }

    pub fn access_log(mut self, on: bool) -> Self {
        self.access_log = on;
        self
    }

    /// Whole sections (`[server]`, `[admin]`…) placed first.
    pub fn sections(mut self, toml: &str) -> Self {
        self.sections = toml.to_owned();
        self
    }

    /// `[[route]]` tables after the `/login` route.
    pub fn routes(mut self, toml: &str) -> Self {
        self.routes = toml.to_owned();
        self
    }

    /// The config, pointing at `upstream` (`http://…`).
    pub fn config(&self, upstream: &str) -> Config {
        config_toml(&format!(
            r#"
            {sections}
            [store]
            url = "{store}"
            op_timeout = "{op_timeout}"
            {store_keys}
            [session]
            {session}
            [upstream]
            url = "{upstream}"
            [log]
            access_log = {access_log}
            [[route]]
            name = "login"
            path = "/login"
            public = true
            {routes}
            "#,
            sections = self.sections,
            store = self.store_url,
            op_timeout = self.op_timeout,
            store_keys = self.store_keys,
            session = self.session,
            access_log = self.access_log,
            routes = self.routes,
        ))
    }

    /// The gateway running this config in front of `upstream`.
    pub async fn start(&self, upstream: &str) -> TestGateway {
        TestGateway::start(self.config(upstream)).await
    }
}

impl Default for GatewayToml {
    fn default() -> Self {
        Self::new()
    }
}
