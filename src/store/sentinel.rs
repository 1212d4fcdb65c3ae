//! The Redis Sentinel store
//! (`redis+sentinel://H1:P1,H2:P2/MASTER_NAME/DB`, `rediss+sentinel://…`
//! for TLS to the sentinels and the master).
//!
//! The sentinels name the master; the operations then run on it through a
//! single-server [`RedisStore`] (a `ConnectionManager`, `op_timeout`, the
//! same Lua scripts). redis-rs does not follow a failover by itself: its
//! `ConnectionManager` keeps reconnecting to the old address. So this store
//! re-asks the sentinels whenever an operation fails the way a failover
//! makes it fail (connection errors, timeouts, `READONLY`, `MASTERDOWN`)
//! and, when they name another master, swaps in a store on it.
//!
//! The hot path never waits for that: it loads the current master from an
//! [`ArcSwapOption`] (lock-free) and answers the failure at once, so during
//! the switch requests get a [`StoreError`] (503, never a logout). One
//! re-resolution runs at a time, in the background, at most one per
//! `RESOLVE_INTERVAL` (100 ms): a thousand failing requests cause one query to
//! the sentinels, not a thousand.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{ConnectionAddr, ErrorKind, RedisError, ServerErrorKind, TlsMode};

use super::redis::MIN_CONNECT_TIMEOUT;
use super::{RedisStore, StoreError};
use crate::config::store_url::{self, NodesUrl, Topology};

/// The least time between two questions to the sentinels. A failover takes
/// at least the sentinels' `down-after-milliseconds` (typically seconds):
/// asking ten times a second finds the new master soon after the promotion
/// without loading the sentinels.
const RESOLVE_INTERVAL: Duration = Duration::from_millis(100);

/// The Redis Sentinel session store. Cloning shares the master connection
/// and the resolver.
///
/// Its `ping` is also what makes an idle gateway follow a failover:
/// `/readyz` pings.
#[derive(Clone)]
pub struct SentinelStore {
    shared: Arc<Shared>,
}

struct Shared {
    /// The master the sentinels last named; `None` until the first answer.
    master: ArcSwapOption<Master>,
    /// Set while a re-resolution is queued or running (the single flight).
    resolving: AtomicBool,
    /// Only the background re-resolution ever locks it: never the hot path.
    resolver: tokio::sync::Mutex<Resolver>,
    op_timeout: Duration,
}

/// One resolved master and the store connected to it.
struct Master {
    addr: ConnectionAddr,
    store: RedisStore,
}

struct Resolver {
    client: SentinelClient,
    last: Option<Instant>,
}

impl std::fmt::Debug for SentinelStore {
    // The client holds the password: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentinelStore")
            .field("op_timeout", &self.shared.op_timeout)
            .finish_non_exhaustive()
    }
}

impl SentinelStore {
    /// A store for a `redis+sentinel://` or `rediss+sentinel://` URL. Never
    /// waits: the master is resolved in the background (requests fail until
    /// it is), so this fails only for a malformed URL. Must be called inside
    /// a Tokio runtime.
    pub fn connect(url: &str, op_timeout: Duration) -> Result<Self, StoreError> {
        let url = store_url::parse(url)?;
        if url.topology != Topology::Sentinel {
            return Err(StoreError::Unsupported("sentinel"));
        }
        let client = sentinel_client(&url)?;
        let store = Self {
            shared: Arc::new(Shared {
                master: ArcSwapOption::empty(),
                resolving: AtomicBool::new(false),
                resolver: tokio::sync::Mutex::new(Resolver { client, last: None }),
                op_timeout,
            }),
        };
        store.re_resolve();
        Ok(store)
    }

    /// The current master's store, or an error (and a re-resolution) when
    /// none is known yet.
    fn master(&self) -> Result<Arc<Master>, StoreError> {
        self.shared.master.load_full().ok_or_else(|| {
            self.re_resolve();
            StoreError::Redis(RedisError::from((
                ErrorKind::Io,
                "no Redis master resolved through the sentinels yet",
            )))
        })
    }

    /// A client of the current master, for a pub/sub connection (a
    /// failover drops it; the subscriber then asks again).
    pub(crate) fn pubsub_client(&self) -> Result<redis::Client, StoreError> {
        Ok(self.master()?.store.pubsub_client())
    }

    /// Passes `result` through, asking the sentinels again when it looks
    /// like a failover.
    fn checked<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(error) = &result
            && signals_failover(error)
        {
            self.re_resolve();
        }
        result
    }

    /// Starts one background re-resolution unless one is already queued.
    fn re_resolve(&self) {
        if self.shared.resolving.swap(true, Ordering::AcqRel) {
            return;
        }
        let shared = Arc::clone(&self.shared);
        tokio::spawn(async move {
            let _done = Resolving(&shared.resolving);
            shared.resolve().await;
        });
    }
}

/// Clears the single-flight flag when the re-resolution ends, even by panic.
struct Resolving<'a>(&'a AtomicBool);

impl Drop for Resolving<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Shared {
    /// Asks the sentinels for the master and swaps in a store on it when it
    /// moved. The same master keeps its store: its `ConnectionManager`
    /// reconnects by itself.
    async fn resolve(&self) {
        let mut resolver = self.resolver.lock().await;
        if let Some(last) = resolver.last {
            tokio::time::sleep(RESOLVE_INTERVAL.saturating_sub(last.elapsed())).await;
        }
        resolver.last = Some(Instant::now());
        // Each sentinel and the named master (redis-rs checks its `ROLE`)
        // may be slow: bound the whole question.
        let limit = self.op_timeout.max(MIN_CONNECT_TIMEOUT) * 2;
        let client = match tokio::time::timeout(limit, resolver.client.async_get_client()).await {
            Ok(Ok(client)) => client,
            Ok(Err(error)) => {
                tracing::debug!(%error, "sentinels named no reachable master");
                return;
            }
            Err(_elapsed) => {
                tracing::debug!("sentinels did not answer in time");
                return;
            }
        };
        let addr = client.get_connection_info().addr().clone();
        if self
            .master
            .load()
            .as_ref()
            .is_some_and(|master| master.addr == addr)
        {
            return;
        }
        match RedisStore::from_client(client, self.op_timeout) {
            Ok(store) => {
                tracing::info!(master = %addr, "sessions now go to the Redis master the sentinels named");
                self.master.store(Some(Arc::new(Master { addr, store })));
            }
            Err(error) => tracing::warn!(%error, "cannot connect to the named Redis master"),
        }
    }
}

/// Whether an error may mean the master moved: the connection failed or
/// stalled, or the server is no longer (or not yet) a writable master.
fn signals_failover(error: &StoreError) -> bool {
    match error {
        StoreError::Timeout => true,
        StoreError::Redis(error) => match error.kind() {
            ErrorKind::Server(kind) => matches!(
                kind,
                ServerErrorKind::ReadOnly
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::BusyLoading
            ),
            _ => true,
        },
        StoreError::Corrupt(_)
        | StoreError::Unsupported(_)
        | StoreError::InvalidUrl(_)
        | StoreError::CaFile { .. } => false,
    }
}

/// The redis-rs sentinel client for `url`: credentials and the database go
/// to the master; TLS (`rediss+sentinel://`) to the sentinels and the master.
fn sentinel_client(url: &NodesUrl) -> Result<SentinelClient, StoreError> {
    let sentinels = url.nodes.iter().map(|(host, port)| {
        if url.tls {
            ConnectionAddr::TcpTls {
                host: host.clone(),
                port: *port,
                insecure: false,
                tls_params: None,
            }
        } else {
            ConnectionAddr::Tcp(host.clone(), *port)
        }
    });
    let mut builder =
        SentinelClientBuilder::new(sentinels, &url.master_name, SentinelServerType::Master)
            .map_err(StoreError::Redis)?
            .set_client_to_redis_db(url.db);
    if url.tls {
        builder = builder
            .set_client_to_redis_tls_mode(TlsMode::Secure)
            .set_client_to_sentinel_tls_mode(TlsMode::Secure);
    }
    if let Some(username) = &url.username {
        builder = builder.set_client_to_redis_username(username);
    }
    if let Some(password) = &url.password {
        builder = builder.set_client_to_redis_password(password);
    }
    builder.build().map_err(StoreError::Redis)
}

/// `forward_session_store!`'s way to the current master: each operation
/// runs on its store, and a failure that looks like a failover starts a
/// re-resolution.
macro_rules! on_master {
    ($this:ident, $inner:ident => $call:expr) => {{
        let master = $this.master()?;
        let $inner = &master.store;
        $this.checked($call.await)
    }};
}

forward_session_store!(SentinelStore, on_master);

#[cfg(test)]
mod tests {
    use super::*;

    fn redis(kind: ErrorKind) -> StoreError {
        StoreError::Redis(RedisError::from((kind, "test")))
    }

    #[test]
    fn failover_signals() {
        assert!(signals_failover(&StoreError::Timeout));
        assert!(signals_failover(&redis(ErrorKind::Io)));
        assert!(signals_failover(&redis(ErrorKind::Server(
            ServerErrorKind::ReadOnly
        ))));
        assert!(signals_failover(&redis(ErrorKind::Server(
            ServerErrorKind::MasterDown
        ))));
        // The script or the record is wrong, not the master.
        assert!(!signals_failover(&redis(ErrorKind::Server(
            ServerErrorKind::ResponseError
        ))));
        assert!(!signals_failover(&StoreError::Corrupt("x")));
    }
}
