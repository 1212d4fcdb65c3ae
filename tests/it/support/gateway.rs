//! The gateway in-process via `sessiongate::run` on 127.0.0.1:0.

use std::net::SocketAddr;
use std::time::Duration;

use http::{HeaderName, Uri};
use sessiongate::config::{
    AdminConfig, Config, CookieSecure, LogConfig, LogFormat, LoginConfig, Mode, SameSite,
    ServerConfig, SessionConfig, StoreConfig, UpstreamConfig,
};
use sessiongate::{Error, Listeners};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A config with SPEC defaults, pointing at `upstream` (`http://…`), with
/// test-friendly timeouts. The lead may switch this to
/// `Config::from_toml_str` once it lands.
pub fn config(upstream: &str) -> Config {
    Config {
        server: ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: None,
            trusted_proxies: Vec::new(),
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 65536,
            shutdown_grace: Duration::from_secs(30),
        },
        admin: AdminConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
        },
        log: LogConfig {
            format: LogFormat::Text,
            access_log: false,
        },
        store: StoreConfig {
            url: "memory://".into(),
            key_prefix: "sessiongate:".into(),
            op_timeout: Duration::from_millis(100),
        },
        session: SessionConfig {
            mode: Mode::Managed,
            cookie_name: "sessiongate".into(),
            cookie_path: "/".into(),
            cookie_domain: None,
            cookie_secure: CookieSecure::Auto,
            cookie_http_only: true,
            cookie_same_site: SameSite::Lax,
            idle_timeout: Duration::from_secs(30 * 60),
            sliding: true,
            absolute_timeout: None,
            browser_session: false,
            touch_interval: Duration::ZERO,
            key_template: None,
            id_pattern: None,
            learn_cookie: None,
            identity_header: HeaderName::from_static("x-sessiongate-user"),
        },
        login: LoginConfig {
            url: "/login".into(),
            next_param: Some("next".into()),
            logout_path: "/.sessiongate/logout".into(),
            after_logout: "/login".into(),
        },
        upstream: UpstreamConfig {
            url: upstream.parse::<Uri>().unwrap(),
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(30),
            preserve_host: true,
        },
        routes: Vec::new(),
    }
}

/// A running gateway; shut down (or aborted) on drop.
pub struct TestGateway {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), Error>>>,
}

impl TestGateway {
    pub async fn start(config: Config) -> Self {
        let proxy = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let addr = proxy.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let listeners = Listeners { proxy, admin: None };
        let task = tokio::spawn(sessiongate::run(listeners, config, async move {
            let _ = rx.await;
        }));
        TestGateway {
            addr,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
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
