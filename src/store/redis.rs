//! The Redis store (`redis://`, `rediss://`, `redis+unix://`, `unix://`).
//!
//! A record is a hash with the fields `user` (absent for none), `started`,
//! `idle` (ms), `deadline` (ms, 0 = none), `browser` (0/1) and `touched`
//! (ms), readable by an operator with `HGETALL`. Its TTL is the key's
//! millisecond expiry: Redis expires sessions, nothing sweeps.
//!
//! Every operation is one round trip: `create` is one `MULTI` transaction,
//! `touch` and `touch_foreign` are one `EVALSHA` each (the script holds the
//! conditional write, so the read and the write are atomic). Only the first
//! call after Redis lost its script cache costs more (`NOSCRIPT`, then
//! `SCRIPT LOAD` and `EVALSHA` again).
//!
//! The connection is a redis-rs [`ConnectionManager`] built lazily: the
//! gateway starts while Redis is down and answers 503 until it is back, and
//! the manager reconnects by itself after Redis restarts. Every operation is
//! bounded by `op_timeout`, so a stalled Redis becomes
//! [`StoreError::Timeout`] instead of a stalled request.
//!
//! The operations themselves live in `Commands`, generic over the
//! connection: the Sentinel store runs them on the master it resolved, the
//! Cluster store on a cluster connection (each operation has one key).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::RedisResult;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};

use super::scripts::{self, ForeignReply, TouchReply};
use super::tracking::Tracking;
use super::{ForeignFound, Found, IndexEntry, Record, SessionStore, StoreError, Touch};
use crate::clock::millis;

/// Each (re)connection attempt gives up after this long at least: a TLS
/// handshake may legitimately take longer than one `op_timeout`, and the
/// attempt goes on in the background while requests are answered 503.
pub(crate) const MIN_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The longest pause between two reconnection attempts. redis-rs waits a
/// random time below `50 ms * 2^attempt`, capped here: a Redis that comes
/// back after a long outage is found again within this (plus one connect),
/// well inside the 1 s recovery the chaos soak holds the gateway to. At
/// 1 s, a restart after a few seconds down was found up to 1 s late.
pub(crate) const MAX_RECONNECT_DELAY: Duration = Duration::from_millis(250);

/// The Redis-backed session store. Cloning shares the connection.
#[derive(Clone)]
pub struct RedisStore {
    ops: Commands<ConnectionManager>,
    /// For the pub/sub connection of live connections (SPEC §10).
    /// Behind an `Arc`: the client is large and rarely used, and the store
    /// is one variant of the `Store` enum every request goes through.
    client: Arc<redis::Client>,
}

/// The store's operations over any async connection: a
/// [`ConnectionManager`] to one server (here and behind Sentinel) or a
/// cluster connection, which routes each command by its one key.
#[derive(Clone)]
pub(crate) struct Commands<C> {
    conn: C,
    op_timeout: Duration,
    /// `store.client_cache`: hot sessions answered locally (`tracking`).
    tracking: Option<Arc<Tracking>>,
}

impl std::fmt::Debug for RedisStore {
    // The URL may hold a password: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("op_timeout", &self.ops.op_timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store for `url`, without waiting for Redis: the connection is made
    /// in the background and retried with backoff, so this fails only for a
    /// malformed or unsupported URL. Must be called inside a Tokio runtime.
    pub fn connect(url: &str, op_timeout: Duration) -> Result<Self, StoreError> {
        Self::connect_with_ca(url, op_timeout, None)
    }

    /// [`Self::connect`], trusting exactly the CAs in `ca` (PEM) instead
    /// of the public roots for `rediss://` (`store.ca_file`).
    pub fn connect_with_ca(
        url: &str,
        op_timeout: Duration,
        ca: Option<Vec<u8>>,
    ) -> Result<Self, StoreError> {
        if let Some((scheme, _)) = url.split_once("://")
            && scheme.contains('+')
            && !matches!(scheme, "redis+unix")
        {
            // `redis+sentinel://` and `redis+cluster://` have their own
            // stores; redis-rs would misread them as a single server.
            return Err(StoreError::Unsupported("single-server Redis"));
        }
        let client = match ca {
            None => redis::Client::open(url),
            Some(pem) => redis::Client::build_with_tls(
                url,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                },
            ),
        }
        .map_err(StoreError::Redis)?;
        Self::from_client(client, op_timeout)
    }

    /// A store on `client`'s server (the sentinel store builds one per
    /// master it resolves). Never waits for the server.
    pub(crate) fn from_client(
        client: redis::Client,
        op_timeout: Duration,
    ) -> Result<Self, StoreError> {
        let conn =
            ConnectionManager::new_lazy_with_config(client.clone(), manager_config(op_timeout))
                .map_err(StoreError::Redis)?;
        // Drive the first connection now rather than on the first request,
        // which would only poll it for one `op_timeout` at a time.
        let mut warm = conn.clone();
        tokio::spawn(async move {
            let _ = redis::cmd("PING").query_async::<()>(&mut warm).await;
        });
        Ok(Self {
            ops: Commands::new(conn, op_timeout),
            client: Arc::new(client),
        })
    }

    /// Answers hot sessions from a local cache kept coherent by Redis's
    /// invalidation messages for every key under `prefix`
    /// (`store.client_cache`; see `tracking`). Needs Redis 6 or later; until
    /// tracking is set up, every check goes to Redis.
    pub fn with_client_cache(mut self, prefix: &str, capacity: usize) -> Self {
        self.ops.tracking = Some(Tracking::start(
            (*self.client).clone(),
            prefix.to_owned(),
            capacity,
        ));
        self
    }

    /// Whether the client-side cache is on: tracking is set up and every
    /// invalidation since has been applied (always `false` without one).
    pub fn client_cache_live(&self) -> bool {
        self.ops
            .tracking
            .as_ref()
            .is_some_and(|tracking| tracking.cache.is_live())
    }

    /// A client of this store's server, for a pub/sub connection.
    pub(crate) fn pubsub_client(&self) -> redis::Client {
        (*self.client).clone()
    }
}

forward_session_store!(RedisStore, via_ops);

/// How the connection manager times operations and paces reconnection.
fn manager_config(op_timeout: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_response_timeout(Some(op_timeout))
        .set_connection_timeout(Some(op_timeout.max(MIN_CONNECT_TIMEOUT)))
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(MAX_RECONNECT_DELAY)
}

impl<C> Commands<C> {
    pub(crate) fn new(conn: C, op_timeout: Duration) -> Self {
        Self {
            conn,
            op_timeout,
            tracking: None,
        }
    }

    /// Forgets a key this gateway is about to change.
    fn forget(&self, key: &str) {
        if let Some(tracking) = &self.tracking {
            tracking.cache.invalidate(key.as_bytes());
        }
    }

    /// [`SessionStore::touch`]'s one round trip: the script.
    async fn touch_in_redis(&self, key: &str, touch: &Touch) -> Result<Option<Found>, StoreError>
    where
        C: ConnectionLike + Clone + Send + Sync + 'static,
    {
        let invocation = scripts::touch(key, touch);
        let mut conn = self.conn.clone();
        let reply: Option<TouchReply> = self.bounded(invocation.invoke_async(&mut conn)).await?;
        reply.map(scripts::decode_touch).transpose()
    }

    /// Runs one Redis call under `op_timeout`.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.op_timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) if error.is_timeout() => Err(StoreError::Timeout),
            Ok(Err(error)) => Err(StoreError::Redis(error)),
            Err(_elapsed) => Err(StoreError::Timeout),
        }
    }
}

impl<C> SessionStore for Commands<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn create(&self, key: &str, record: &Record, ttl: Duration) -> Result<(), StoreError> {
        let mut hset = redis::cmd("HSET");
        hset.arg(key)
            .arg("started")
            .arg(record.started_ms)
            .arg("idle")
            .arg(millis(record.idle))
            .arg("deadline")
            .arg(record.deadline_ms.unwrap_or(0))
            .arg("browser")
            .arg(u8::from(record.browser))
            .arg("touched")
            .arg(record.touched_ms)
            // When the TTL set below runs out, by the gateway's clock: lets
            // `touch.lua` skip a PTTL call (see there).
            .arg("expires")
            .arg(record.touched_ms.saturating_add(millis(ttl)));
        if let Some(user) = &record.user {
            hset.arg("user").arg(user);
        }
        // DEL first so no field of an older record survives; MULTI so no
        // reader ever sees the hash without its TTL.
        let pipe = redis::pipe()
            .atomic()
            .cmd("DEL")
            .arg(key)
            .ignore()
            .add_command(hset)
            .ignore()
            .cmd("PEXPIRE")
            .arg(key)
            .arg(millis(ttl))
            .ignore()
            .clone();
        self.forget(key);
        let mut conn = self.conn.clone();
        self.bounded(pipe.exec_async(&mut conn)).await
    }

    async fn touch(&self, key: &str, touch: &Touch) -> Result<Option<Found>, StoreError> {
        let Some(tracking) = &self.tracking else {
            return self.touch_in_redis(key, touch).await;
        };
        if let Some(found) = tracking.cache.answer(key, touch) {
            return Ok(Some(found));
        }
        let ticket = tracking.cache.ticket(key);
        let found = self.touch_in_redis(key, touch).await?;
        if let Some(found) = &found {
            tracking.cache.fill(key, ticket, touch, found);
        }
        Ok(found)
    }

    async fn touch_foreign(
        &self,
        key: &str,
        idle: Duration,
        touch: &Touch,
    ) -> Result<Option<ForeignFound>, StoreError> {
        let invocation = scripts::touch_foreign(key, idle, touch);
        let mut conn = self.conn.clone();
        let reply: Option<ForeignReply> = self.bounded(invocation.invoke_async(&mut conn)).await?;
        Ok(reply.map(scripts::decode_foreign))
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        self.forget(key);
        let mut conn = self.conn.clone();
        let cmd = redis::cmd("DEL").arg(key).clone();
        let removed: i64 = self.bounded(cmd.query_async(&mut conn)).await?;
        Ok(removed > 0)
    }

    async fn index_add(&self, entry: &IndexEntry<'_>, id: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let hset = redis::cmd("HSET")
            .arg(entry.index)
            .arg(entry.handle)
            .arg(id)
            .clone();
        self.bounded(hset.query_async::<()>(&mut conn)).await?;
        let set = redis::cmd("SET").arg(entry.handle_key).arg(id).clone();
        self.bounded(set.query_async::<()>(&mut conn)).await
    }

    async fn index_entries(
        &self,
        index: &str,
        sample: Option<usize>,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut conn = self.conn.clone();
        let cmd = match sample {
            None => redis::cmd("HGETALL").arg(index).clone(),
            // Distinct fields, at most `n` (Redis >= 6.2).
            Some(n) => redis::cmd("HRANDFIELD")
                .arg(index)
                .arg(n)
                .arg("WITHVALUES")
                .clone(),
        };
        self.bounded(cmd.query_async(&mut conn)).await
    }

    async fn index_remove(&self, entry: &IndexEntry<'_>) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let hdel = redis::cmd("HDEL")
            .arg(entry.index)
            .arg(entry.handle)
            .clone();
        self.bounded(hdel.query_async::<()>(&mut conn)).await?;
        let del = redis::cmd("DEL").arg(entry.handle_key).clone();
        self.bounded(del.query_async::<()>(&mut conn)).await
    }

    async fn handle_target(&self, handle_key: &str) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn.clone();
        let cmd = redis::cmd("GET").arg(handle_key).clone();
        self.bounded(cmd.query_async(&mut conn)).await
    }

    async fn publish(&self, channel: &str, message: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let cmd = redis::cmd("PUBLISH").arg(channel).arg(message).clone();
        self.bounded(cmd.query_async::<()>(&mut conn)).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let cmd = redis::cmd("PING");
        self.bounded(cmd.query_async::<()>(&mut conn)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Redis back after a long outage is tried again within 250 ms, not
    /// after the 1 s pauses a grown backoff used to reach (found by the
    /// chaos soak: recovery took up to 1 s plus a request).
    #[test]
    fn reconnection_is_retried_at_least_every_250ms() {
        let config = manager_config(Duration::from_millis(100));
        assert_eq!(config.max_delay(), Some(Duration::from_millis(250)));
        assert_eq!(config.min_delay(), Duration::from_millis(50));
        assert_eq!(config.response_timeout(), Some(Duration::from_millis(100)));
        assert_eq!(config.connection_timeout(), Some(MIN_CONNECT_TIMEOUT));
    }
}
