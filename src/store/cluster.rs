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

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;

use super::StoreError;
use super::redis::{Commands, MIN_CONNECT_TIMEOUT};
use crate::config::store_url::{self, NodesUrl, Topology};

/// The Redis Cluster session store. Cloning shares the connection.
///
/// Its `ping` asks every master (redis-rs sends `PING` to all of them): a
/// cluster with a master down cannot serve that master's sessions.
#[derive(Clone)]
pub struct ClusterStore {
    ops: Commands<ClusterConnection>,
    /// One client per seed node, for the pub/sub connection of live
    /// connections (SPEC §10): `PUBLISH` reaches every node, so any one
    /// will do; each new subscription tries the next.
    seeds: Arc<[redis::Client]>,
    next_seed: Arc<AtomicUsize>,
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
        let url = store_url::parse(url)?;
        if url.topology != Topology::Cluster {
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
        let seed_clients = seeds
            .iter()
            .map(|seed| seed_client(seed, url, ca.clone()))
            .collect::<Result<Arc<[_]>, _>>()?;
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
            seeds: seed_clients,
            next_seed: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// A client of one seed node (the next one each call), for a pub/sub
    /// connection.
    pub(crate) fn pubsub_client(&self) -> Result<redis::Client, StoreError> {
        let n = self.next_seed.fetch_add(1, Ordering::Relaxed);
        self.seeds
            .get(n % self.seeds.len().max(1))
            .cloned()
            .ok_or(StoreError::InvalidUrl("no cluster node"))
    }
}

/// A client of one seed node with the URL's credentials and CA.
fn seed_client(
    seed: &str,
    url: &NodesUrl,
    ca: Option<Vec<u8>>,
) -> Result<redis::Client, StoreError> {
    use redis::IntoConnectionInfo as _;
    let info = seed.into_connection_info().map_err(StoreError::Redis)?;
    let mut settings = info.redis_settings().clone();
    if let Some(username) = &url.username {
        settings = settings.set_username(username);
    }
    if let Some(password) = &url.password {
        settings = settings.set_password(password);
    }
    let info = info.set_redis_settings(settings);
    match ca {
        None => redis::Client::open(info),
        Some(pem) => redis::Client::build_with_tls(
            info,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem),
            },
        ),
    }
    .map_err(StoreError::Redis)
}

forward_session_store!(ClusterStore, via_ops);
