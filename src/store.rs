//! Session storage: one small trait in front of the outside dependency.
//!
//! [`SessionStore`] has two implementations that pass one shared conformance
//! suite (`tests/it/store_conformance.rs`): [`memory::MemoryStore`] (the
//! embedded default, `memory://`) and [`redis::RedisStore`]. For many
//! gateways on a highly available Redis, [`sentinel::SentinelStore`] and
//! [`cluster::ClusterStore`] run the same Redis operations on the master
//! Sentinel names or on the key's Cluster master (`tests/it/scale_out.rs`).
//! Expiry always lives in the store as a millisecond TTL: nothing sweeps.
//!
//! The hot path makes exactly one store round trip per protected request:
//! [`SessionStore::touch`] reads the record and slides its TTL together.
//!
//! Keys contain session ids: no implementation may log a key or a value.

use std::future::Future;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;

use crate::config::store_url::{self, InvalidStoreUrl, Topology};

#[macro_use]
mod forward;
pub mod cluster;
pub mod memory;
pub mod redis;
pub(crate) mod rules;
mod scripts;
pub mod sentinel;
mod tracking;

pub use cluster::ClusterStore;
pub use memory::MemoryStore;
pub use redis::RedisStore;
pub use rules::idle_exceeded;
pub use sentinel::SentinelStore;

/// One session as the gateway keeps it (managed and observe modes).
///
/// In Redis this is a hash with the fields `user`, `started`, `idle`,
/// `deadline`, `browser`, `touched` (see the README's "Stored record").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The authenticated user (managed mode); `None` in observe mode.
    pub user: Option<String>,
    /// When the session began, Unix milliseconds (gateway clock).
    pub started_ms: u64,
    /// This session's idle timeout (the config's, or `max-age` from login).
    pub idle: Duration,
    /// The absolute cap, Unix milliseconds; `None` = no cap.
    pub deadline_ms: Option<u64>,
    /// The cookie carries no Max-Age/Expires.
    pub browser: bool,
    /// When the TTL was last extended (or the session created), Unix ms.
    pub touched_ms: u64,
}

/// What [`SessionStore::touch`] does besides reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Touch {
    /// Now, Unix milliseconds (gateway clock).
    pub now_ms: u64,
    /// Extend the TTL (sliding is on and the route extends sessions).
    pub extend: bool,
    /// Skip the write when the TTL would grow by less than this
    /// (`touch_interval`; zero = always write when it grows).
    pub min_step: Duration,
    /// A route's stricter idle limit: when `now - touched` exceeds it, the
    /// TTL is not extended (the request will be refused for that route).
    pub max_idle: Option<Duration>,
}

/// Where one session stands in its user's index (SPEC §9): the user's
/// index hash, the session's handle in it, and the key naming the handle's
/// session.
#[derive(Debug, Clone, Copy)]
pub struct IndexEntry<'a> {
    pub index: &'a str,
    pub handle: &'a str,
    pub handle_key: &'a str,
}

/// A live session found by [`SessionStore::touch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The record as it was *before* this call (so `touched_ms` is the
    /// previous activity).
    pub record: Record,
    /// Remaining TTL before this call.
    pub ttl_before: Duration,
    /// Remaining TTL after this call (equal to `ttl_before` unless extended).
    pub ttl: Duration,
    /// Whether this call extended the TTL.
    pub extended: bool,
}

/// A foreign key found by [`SessionStore::touch_foreign`] (external mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForeignFound {
    /// Remaining TTL before; `None` when the key has no expiry.
    pub ttl_before: Option<Duration>,
    /// Remaining TTL after; `None` when the key has no expiry.
    pub ttl: Option<Duration>,
    pub extended: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store operation timed out")]
    Timeout,
    #[error("store unavailable")]
    Redis(#[source] ::redis::RedisError),
    #[error("stored session record is malformed: {0}")]
    Corrupt(&'static str),
    #[error("invalid store URL: {0}")]
    InvalidUrl(&'static str),
    #[error("operation not supported by the {0} store")]
    Unsupported(&'static str),
    #[error("store.ca_file {}: cannot read it", path.display())]
    CaFile {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<InvalidStoreUrl> for StoreError {
    fn from(InvalidStoreUrl(why): InvalidStoreUrl) -> Self {
        StoreError::InvalidUrl(why)
    }
}

/// The session store. Implementations bound every operation by the
/// configured `op_timeout` and never log keys or values.
pub trait SessionStore: Send + Sync + 'static {
    /// Stores a new session with the given TTL (replacing any old value).
    fn create(
        &self,
        key: &str,
        record: &Record,
        ttl: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Reads a session and, per `touch`, slides its TTL: in one round trip.
    ///
    /// Extension rules (identical in every store): when `touch.extend` and
    /// not (`max_idle` is set and `now_ms - touched_ms > max_idle`), the
    /// target TTL is `record.idle`, capped by `deadline_ms - now_ms`; the
    /// TTL is set to it, and `touched` to `now_ms`, only when the target
    /// exceeds the current TTL by more than 0 and by at least `min_step`
    /// capped at half of `record.idle` (so a session's short `max-age`
    /// still slides under a long `touch_interval`), or when the deadline
    /// caps the target (it cannot grow) and `now_ms - touched_ms` is at
    /// least that step: activity is recorded up to the deadline, for the
    /// routes' stricter idle limits.
    /// A missing or expired key is `Ok(None)`: nothing is ever resurrected.
    fn touch(
        &self,
        key: &str,
        touch: &Touch,
    ) -> impl Future<Output = Result<Option<Found>, StoreError>> + Send;

    /// External mode: a key the application owns. Never reads or rewrites
    /// the value. When `touch.extend`, sets the TTL to `idle` only when that
    /// lengthens it by at least `touch.min_step` (never shortens; a key
    /// without expiry is left alone), and not when the key has been idle
    /// longer than `touch.max_idle` (idle time = `idle` minus the TTL
    /// before: what the TTL has lost since it was last set to `idle`).
    /// Missing key = `Ok(None)`.
    fn touch_foreign(
        &self,
        key: &str,
        idle: Duration,
        touch: &Touch,
    ) -> impl Future<Output = Result<Option<ForeignFound>, StoreError>> + Send;

    /// Deletes a key; `true` when it existed.
    fn delete(&self, key: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Session control (SPEC §9): records `entry.handle` → `id` in the
    /// user's index hash and in the handle's own key. Two single-key writes
    /// (on a Cluster the keys live in different slots); neither expires:
    /// entries are pruned when their session is found gone.
    fn index_add(
        &self,
        entry: &IndexEntry<'_>,
        id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The `(handle, id)` pairs in the index hash `index`, of live sessions
    /// and of ended ones not yet pruned: every one, or with `sample`, at
    /// most that many distinct ones picked at random.
    fn index_entries(
        &self,
        index: &str,
        sample: Option<usize>,
    ) -> impl Future<Output = Result<Vec<(String, String)>, StoreError>> + Send;

    /// Removes `entry.handle` from its index hash and deletes its key.
    fn index_remove(
        &self,
        entry: &IndexEntry<'_>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The session id a handle key names, if any.
    fn handle_target(
        &self,
        handle_key: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Publishes `message` on the pub/sub `channel` (live connections,
    /// SPEC §10: a session's end, told to every gateway). The memory store
    /// has no other gateway to tell.
    fn publish(
        &self,
        channel: &str,
        message: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Whether the store answers (for `/readyz`).
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The configured store: enum dispatch, no boxing on the hot path.
#[derive(Clone)]
pub enum Store {
    Memory(MemoryStore),
    Redis(RedisStore),
    Sentinel(SentinelStore),
    Cluster(ClusterStore),
}

impl Store {
    /// The store `cfg.url` names: `memory://`, a single Redis (`redis://`,
    /// `rediss://`, `redis+unix://`, `unix://`), Sentinel
    /// (`redis+sentinel://`, `rediss+sentinel://`) or Cluster
    /// (`redis+cluster://`, `rediss+cluster://`).
    ///
    /// Never waits for Redis: a gateway started while Redis is down answers
    /// 503 until it is back. Fails only for a malformed URL. Must be called
    /// inside a Tokio runtime.
    pub async fn open(cfg: &crate::config::StoreConfig) -> Result<Store, StoreError> {
        Self::open_counting(cfg, Counter::default()).await
    }

    /// [`Store::open`], counting the memory store's evictions (at
    /// `store.max_sessions`) in `evictions`.
    pub async fn open_counting(
        cfg: &crate::config::StoreConfig,
        evictions: Counter,
    ) -> Result<Store, StoreError> {
        if cfg.url.starts_with("memory://") {
            let store = MemoryStore::bounded(cfg.max_sessions, &cfg.key_prefix, evictions);
            return Ok(Store::Memory(store));
        }
        // The CAs that sign the servers' certificates, when not public ones.
        let ca = match &cfg.ca_file {
            None => None,
            Some(path) => {
                Some(
                    tokio::fs::read(path)
                        .await
                        .map_err(|source| StoreError::CaFile {
                            path: path.clone(),
                            source,
                        })?,
                )
            }
        };
        match store_url::topology(&cfg.url) {
            Some(Topology::Sentinel) => {
                SentinelStore::connect(&cfg.url, cfg.op_timeout).map(Store::Sentinel)
            }
            Some(Topology::Cluster) => {
                ClusterStore::connect_with_ca(&cfg.url, cfg.op_timeout, ca).map(Store::Cluster)
            }
            None => {
                let store = RedisStore::connect_with_ca(&cfg.url, cfg.op_timeout, ca)?;
                Ok(Store::Redis(match cfg.client_cache {
                    Some(entries) => store.with_client_cache(&cfg.key_prefix, entries),
                    None => store,
                }))
            }
        }
    }
}

/// Runs one operation on whichever store this is.
macro_rules! each_store {
    ($this:ident, $inner:ident => $call:expr) => {
        match $this {
            Store::Memory($inner) => $call.await,
            Store::Redis($inner) => $call.await,
            Store::Sentinel($inner) => $call.await,
            Store::Cluster($inner) => $call.await,
        }
    };
}

forward_session_store!(Store, each_store);

impl Store {
    /// A client for the pub/sub connection that hears other gateways end
    /// sessions (SPEC §10); the memory store has none.
    pub(crate) fn pubsub_client(&self) -> Result<::redis::Client, StoreError> {
        match self {
            Store::Memory(_) => Err(StoreError::Unsupported("memory")),
            Store::Redis(store) => Ok(store.pubsub_client()),
            Store::Sentinel(store) => store.pubsub_client(),
            Store::Cluster(store) => store.pubsub_client(),
        }
    }
}
