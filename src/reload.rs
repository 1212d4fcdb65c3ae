//! Reloading the configuration without dropping a connection (SIGHUP).
//!
//! The binary reads the file on SIGHUP and sends the result here. A valid
//! config becomes a new [`Gateway`] swapped in atomically: new requests see
//! the new routes, timeouts, login URL and cookie settings; requests in
//! flight finish on the gateway they started with. An invalid file is
//! logged with the same messages as `check`, counted, and the old config
//! stays. Settings bound at start-up (listeners, TLS, the store) keep their
//! old values until a restart, and the log says so.

use std::sync::Arc;

use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::config::{Config, LoadError};
use crate::gateway::{Gateway, SharedGateway};
use crate::metrics::{Metrics, ReloadResult};
use crate::store::Store;

/// Config reloads, as the binary (or a test) reads them.
pub type Reloads = mpsc::Receiver<Result<Config, LoadError>>;

/// Applies reloads to the running gateway.
pub(crate) struct Reloader {
    pub(crate) gateway: SharedGateway,
    pub(crate) store: Store,
    pub(crate) metrics: Metrics,
    /// Live connections outlive a reload: every gateway shares one registry.
    pub(crate) live: crate::live::Live,
}

impl Reloader {
    /// Applies every reload until the sender goes away.
    pub(crate) async fn run(self, mut reloads: Reloads) {
        while let Some(next) = reloads.recv().await {
            let result = self.apply(next);
            self.metrics.config_reload(result);
        }
    }

    fn apply(&self, next: Result<Config, LoadError>) -> ReloadResult {
        let next = match next {
            Ok(config) => config,
            Err(load_error) => {
                error!(
                    errors = %load_error.render().trim_end(),
                    "config reload rejected; the running config stays"
                );
                return ReloadResult::Failure;
            }
        };
        let current = self.gateway.load();
        for key in restart_needed(current.config(), &next) {
            warn!(
                key,
                "config reload: this setting changed but only takes effect after a restart"
            );
        }
        let built = Gateway::new(
            Arc::new(next),
            self.store.clone(),
            self.metrics.clone(),
            self.live.clone(),
        );
        match built {
            Ok(gateway) => {
                self.gateway.store(Arc::new(gateway));
                info!("config reloaded");
                ReloadResult::Success
            }
            Err(build_error) => {
                error!(%build_error, "config reload rejected; the running config stays");
                ReloadResult::Failure
            }
        }
    }
}

/// The keys bound at start-up that differ between `old` and `new`.
pub(crate) fn restart_needed(old: &Config, new: &Config) -> Vec<&'static str> {
    let (o, n) = (old, new);
    let changed = [
        ("server.listen", o.server.listen != n.server.listen),
        ("server.tls", o.server.tls != n.server.tls),
        (
            "server.header_read_timeout",
            o.server.header_read_timeout != n.server.header_read_timeout,
        ),
        (
            "server.max_header_bytes",
            o.server.max_header_bytes != n.server.max_header_bytes,
        ),
        (
            "server.keepalive_timeout",
            o.server.keepalive_timeout != n.server.keepalive_timeout,
        ),
        (
            "server.shutdown_grace",
            o.server.shutdown_grace != n.server.shutdown_grace,
        ),
        (
            "server.max_connections",
            o.server.max_connections != n.server.max_connections,
        ),
        ("admin.listen", o.admin.listen != n.admin.listen),
        (
            "admin.max_connections",
            o.admin.max_connections != n.admin.max_connections,
        ),
        ("admin.token_file", o.admin.token_file != n.admin.token_file),
        ("log.format", o.log.format != n.log.format),
        ("store.url", o.store.url != n.store.url),
        ("store.op_timeout", o.store.op_timeout != n.store.op_timeout),
        ("store.ca_file", o.store.ca_file != n.store.ca_file),
        (
            "store.max_sessions",
            o.store.max_sessions != n.store.max_sessions,
        ),
    ];
    changed
        .into_iter()
        .filter_map(|(key, differs)| differs.then_some(key))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_needed_names_only_start_up_settings() {
        let old = Config::default();
        let new = Config::from_toml_str(
            r#"
            [server]
            listen = "127.0.0.1:1"
            [store]
            url = "rediss://127.0.0.1:6379"
            ca_file = "ca.pem"
            [login]
            url = "/signin"
            [session]
            idle_timeout = "5m"
            "#,
        )
        .unwrap();
        assert_eq!(
            restart_needed(&old, &new),
            vec!["server.listen", "store.url", "store.ca_file"]
        );
        assert!(restart_needed(&old, &Config::default()).is_empty());
    }
}
