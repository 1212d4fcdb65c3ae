//! The Redis Cluster store (`redis+cluster://H1:P1,H2:P2`,
//! `rediss+cluster://…` for TLS).
//!
//! Sessions spread over the masters by hash slot. Every operation touches
//! exactly one key, so one slot and one node: `touch.lua` and
//! `touch_foreign.lua` take exactly one `KEYS` entry (redis-rs routes
//! `EVALSHA` by it; `SCRIPT LOAD` after a `NOSCRIPT` goes to every node),
//! and `create`'s `MULTI` transaction holds commands on one key only, so the
//! pipeline goes to that key's master. The operations are the single-server
//! store's, unchanged (`Commands`).
//!
//! The cluster connection is made in the background (`Store::open` never
//! waits) and follows slot moves and failovers by itself: redis-rs refreshes
//! its slot map on `MOVED`/`ASK` and on connection errors. Every operation is
//! still bounded by `op_timeout`.

use std::time::Duration;

use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;

use super::nodes::NodesUrl;
use super::redis::{Commands, MIN_CONNECT_TIMEOUT};
use super::{ForeignFound, Found, Record, SessionStore, StoreError, Touch};

/// The Redis Cluster session store. Cloning shares the connection.
#[derive(Clone)]
pub struct ClusterStore {
    ops: Commands<ClusterConnection>,
}

impl std::fmt::Debug for ClusterStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterStore").finish_non_exhaustive()
    }
}

impl ClusterStore {
    /// A store for a `redis+cluster://` or `rediss+cluster://` URL, without
    /// waiting for the cluster: this fails only for a malformed URL. Must be
    /// called inside a Tokio runtime.
    pub fn connect(url: &str, op_timeout: Duration) -> Result<Self, StoreError> {
        Self::connect_with_ca(url, op_timeout, None)
    }

    /// [`Self::connect`], trusting exactly the CAs in `ca` (PEM) instead
    /// of the public roots for `rediss+cluster://` (`store.ca_file`).
    pub fn connect_with_ca(
        url: &str,
        op_timeout: Duration,
        ca: Option<Vec<u8>>,
    ) -> Result<Self, StoreError> {
        let url = super::nodes::parse(url)?;
        if url.topology != super::nodes::Topology::Cluster {
            return Err(StoreError::Unsupported("cluster"));
        }
        Self::from_url(&url, op_timeout, ca)
    }

    fn from_url(
        url: &NodesUrl,
        op_timeout: Duration,
        ca: Option<Vec<u8>>,
    ) -> Result<Self, StoreError> {
        let scheme = if url.tls { "rediss" } else { "redis" };
        let seeds: Vec<String> = url
            .nodes
            .iter()
            .map(|(host, port)| {
                if host.contains(':') {
                    format!("{scheme}://[{host}]:{port}")
                } else {
                    format!("{scheme}://{host}:{port}")
                }
            })
            .collect();
        let mut builder = ClusterClient::builder(seeds);
        if let Some(username) = &url.username {
            builder = builder.username(username);
        }
        if let Some(password) = &url.password {
            builder = builder.password(password);
        }
        if let Some(pem) = ca {
            builder = builder.certs(redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem),
            });
        }
        let client = builder.build().map_err(StoreError::Redis)?;
        let config = ClusterConfig::new()
            .set_connection_timeout(op_timeout.max(MIN_CONNECT_TIMEOUT))
            .set_response_timeout(op_timeout);
        let conn = client.get_pending_async_connection_with_config(config);
        Ok(Self {
            ops: Commands::new(conn, op_timeout),
        })
    }
}

impl SessionStore for ClusterStore {
    async fn create(&self, key: &str, record: &Record, ttl: Duration) -> Result<(), StoreError> {
        self.ops.create(key, record, ttl).await
    }

    async fn touch(&self, key: &str, touch: &Touch) -> Result<Option<Found>, StoreError> {
        self.ops.touch(key, touch).await
    }

    async fn touch_foreign(
        &self,
        key: &str,
        idle: Duration,
        extend: bool,
        min_step: Duration,
        max_idle: Option<Duration>,
    ) -> Result<Option<ForeignFound>, StoreError> {
        self.ops
            .touch_foreign(key, idle, extend, min_step, max_idle)
            .await
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        self.ops.delete(key).await
    }

    async fn index_add(
        &self,
        index: &str,
        handle: &str,
        id: &str,
        handle_key: &str,
    ) -> Result<(), StoreError> {
        self.ops.index_add(index, handle, id, handle_key).await
    }

    async fn index_entries(&self, index: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.ops.index_entries(index).await
    }

    async fn index_remove(
        &self,
        index: &str,
        handle: &str,
        handle_key: &str,
    ) -> Result<(), StoreError> {
        self.ops.index_remove(index, handle, handle_key).await
    }

    async fn handle_target(&self, handle_key: &str) -> Result<Option<String>, StoreError> {
        self.ops.handle_target(handle_key).await
    }

    /// Every master must answer (redis-rs sends `PING` to all of them): a
    /// cluster with a master down cannot serve that master's sessions.
    async fn ping(&self) -> Result<(), StoreError> {
        self.ops.ping().await
    }
}
