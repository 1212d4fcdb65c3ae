//! End notices between gateways: Redis pub/sub on `{key_prefix}live`.
//!
//! A gateway that ends a session (logout, revocation, eviction) publishes
//! the session's token, a hash of its store key (never the id). Every
//! gateway subscribes and ends its own connections of that token. Classic
//! `PUBLISH` reaches every subscriber of a standalone server, of a
//! Sentinel-managed master and its replicas, and of every node of a
//! Cluster (it is broadcast over the cluster bus), so one subscription to
//! any one server suffices.
//!
//! Pub/sub is fire-and-forget: a notice published while this gateway's
//! subscription is down is lost. So each time the subscription is
//! (re)established every watched connection asks the store about its
//! session once: one that ended meanwhile ends then.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::task::AbortHandle;
use tokio::time::timeout;
use tracing::{debug, warn};

use super::registry::{Raised, Registry};
use super::unhex;
use crate::store::{Store, StoreError};

/// Retry delays while the subscription cannot be made: short, so that a
/// Redis that comes back is heard from well within a second.
const MIN_DELAY: Duration = Duration::from_millis(50);
const MAX_DELAY: Duration = Duration::from_millis(400);
/// One subscription attempt gives up after this long.
const ATTEMPT: Duration = Duration::from_secs(2);
/// A quiet subscription is pinged this often: a connection that died
/// without a word (a NAT or firewall forgetting it) would otherwise go on
/// hearing nothing. One `PING` per gateway, never per connection.
const KEEPALIVE: Duration = Duration::from_secs(10);

/// Starts listening for end notices, on a Redis store.
pub(crate) fn spawn(
    store: &Store,
    channel: String,
    registry: Arc<Registry>,
) -> Option<AbortHandle> {
    if matches!(store, Store::Memory(_)) {
        return None;
    }
    let store = store.clone();
    Some(tokio::spawn(listen(store, channel, registry)).abort_handle())
}

async fn listen(store: Store, channel: String, registry: Arc<Registry>) {
    let mut delay = MIN_DELAY;
    let mut lost = false;
    loop {
        match subscribe(&store, &channel).await {
            Ok((mut sink, mut notices)) => {
                if lost {
                    debug!("subscribed again to session end notices");
                }
                delay = MIN_DELAY;
                // Whatever was published while we were away is lost.
                registry.raise_all(Raised::Recheck);
                let mut keepalive =
                    tokio::time::interval_at(tokio::time::Instant::now() + KEEPALIVE, KEEPALIVE);
                loop {
                    tokio::select! {
                        notice = notices.next() => {
                            let Some(notice) = notice else { break };
                            if let Some(token) = unhex(notice.get_payload_bytes()) {
                                registry.raise(&token, Raised::Ended);
                            }
                        }
                        _ = keepalive.tick() => {
                            let ping = timeout(ATTEMPT, sink.ping::<redis::Value>()).await;
                            if !matches!(ping, Ok(Ok(_))) {
                                break;
                            }
                        }
                    }
                }
                warn!("lost the subscription to session end notices; subscribing again");
                lost = true;
            }
            Err(error) => debug!(%error, "cannot subscribe to session end notices yet"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_DELAY);
    }
}

type Subscription = (redis::aio::PubSubSink, redis::aio::PubSubStream);

async fn subscribe(store: &Store, channel: &str) -> Result<Subscription, StoreError> {
    let client = store.pubsub_client()?;
    let bounded = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        Ok::<_, redis::RedisError>(pubsub.split())
    };
    match timeout(ATTEMPT, bounded).await {
        Err(_) => Err(StoreError::Timeout),
        Ok(result) => result.map_err(StoreError::Redis),
    }
}
