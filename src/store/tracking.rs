//! Client-side caching of session records (`store.client_cache`): a hot
//! session's check answered from this gateway's memory, kept coherent with
//! every other gateway by Redis's own invalidation messages.
//!
//! One dedicated RESP3 connection runs `CLIENT TRACKING ON BCAST PREFIX
//! <key_prefix>`: from then on Redis pushes the name of every key under the
//! prefix that anyone changes or deletes (another gateway's logout or
//! slide, an eviction, Redis's own expiry), including this gateway's own
//! writes. Each push removes the key here. So an entry only ever says what
//! Redis last said, and is gone as soon as Redis tells of a change.
//!
//! The cache answers only the question it can answer exactly: "this session
//! is alive and this request does not slide it" (the entry's remaining TTL,
//! counted from the gateway clock at the call that filled it, and
//! [`session_target`] saying no write is due). Everything else (a miss, a
//! slide that is due, an entry at or past its TTL) makes the usual one
//! round trip, whose answer fills the entry again. The remaining TTL is
//! counted from *before* that round trip was sent, so the local expiry is
//! never later than Redis's.
//!
//! Races: an invalidation that arrives while a round trip is in flight
//! must win over that round trip's (older) answer. Every shard counts the
//! invalidations it has seen; an answer is only stored when its shard's
//! count is the one read before the call was sent.
//!
//! When the tracking connection is lost (or a keepalive `PING` gets no
//! answer), every entry is dropped and the cache stays off until tracking
//! is back: changes made meanwhile were never heard. So a session ended on
//! another gateway is refused here as soon as Redis's push arrives (well
//! within SPEC §9's 100 ms), and at worst, on a connection that died
//! without a word, within [`KEEPALIVE`] plus its timeout.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use redis::{AsyncConnectionConfig, ProtocolVersion, PushInfo, PushKind, Value};
use tokio::sync::mpsc;
use tokio::time::timeout;
use tracing::{debug, info, warn};

use super::rules::session_target;
use super::{Found, Record, Touch};
use crate::clock::millis;

/// Shards of the map: a request locks one, briefly, never all.
const SHARDS: usize = 64;
/// How often the tracking connection is pinged, and how long a ping may take.
pub const KEEPALIVE: Duration = Duration::from_millis(500);
const KEEPALIVE_ANSWER: Duration = Duration::from_secs(1);
/// Retry delays while tracking cannot be set up.
const MIN_DELAY: Duration = Duration::from_millis(50);
const MAX_DELAY: Duration = Duration::from_secs(1);

/// The local copies, and whether they can be trusted.
pub(crate) struct TrackedCache {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    per_shard: usize,
    /// Tracking is on and every push since has been applied.
    live: AtomicBool,
    /// Bumped whenever tracking is lost or set up again: entries and
    /// tickets of an older generation are void.
    generation: AtomicU64,
}

#[derive(Default)]
struct Shard {
    entries: HashMap<Box<str>, Entry>,
    /// Invalidations seen by this shard (see the module docs: races).
    invalidations: u64,
}

struct Entry {
    record: Record,
    /// When the TTL runs out, gateway clock (Unix ms).
    expires_ms: u64,
}

/// Taken before a round trip; its answer is kept only if nothing was
/// invalidated in between.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    shard: usize,
    invalidations: u64,
    generation: u64,
}

impl TrackedCache {
    /// At most `capacity` entries (over all shards); beyond, a new entry is
    /// not kept (its session is simply checked in Redis).
    pub(crate) fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            per_shard: capacity.div_ceil(SHARDS),
            live: AtomicBool::new(false),
            generation: AtomicU64::new(0),
        })
    }

    /// The session at `key`, when it is alive and `touch` would not slide
    /// it: then no round trip is needed.
    pub(crate) fn answer(&self, key: &str, touch: &Touch) -> Option<Found> {
        if !self.live.load(Ordering::Acquire) {
            return None;
        }
        let mut shard = self.shard(self.index(key));
        let entry = shard.entries.get(key)?;
        if touch.now_ms >= entry.expires_ms {
            shard.entries.remove(key);
            return None;
        }
        let ttl = Duration::from_millis(entry.expires_ms - touch.now_ms);
        if session_target(&entry.record, touch, ttl).is_some() {
            return None; // a slide is due: Redis must write it
        }
        Some(Found {
            record: entry.record.clone(),
            ttl_before: ttl,
            ttl,
            extended: false,
        })
    }

    pub(crate) fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    pub(crate) fn ticket(&self, key: &str) -> Ticket {
        let shard = self.index(key);
        Ticket {
            shard,
            invalidations: self.shard(shard).invalidations,
            generation: self.generation.load(Ordering::Acquire),
        }
    }

    /// Keeps what Redis answered to a touch sent after `ticket` was taken.
    pub(crate) fn fill(&self, key: &str, ticket: Ticket, touch: &Touch, found: &Found) {
        let mut shard = self.shard(ticket.shard);
        // Read under the shard's lock: `lose` bumps the generation before
        // it empties the shards, so a stale fill is either refused here or
        // emptied there.
        if !self.live.load(Ordering::Acquire)
            || self.generation.load(Ordering::Acquire) != ticket.generation
            || shard.invalidations != ticket.invalidations
        {
            return;
        }
        let mut record = found.record.clone();
        if found.extended {
            record.touched_ms = touch.now_ms;
        }
        let expires_ms = touch.now_ms.saturating_add(millis(found.ttl));
        if shard.entries.len() >= self.per_shard && !shard.entries.contains_key(key) {
            shard
                .entries
                .retain(|_, entry| entry.expires_ms > touch.now_ms);
            if shard.entries.len() >= self.per_shard {
                return;
            }
        }
        shard
            .entries
            .insert(key.into(), Entry { record, expires_ms });
    }

    /// Forgets `key` (it changed, or this gateway is about to change it).
    pub(crate) fn invalidate(&self, key: &[u8]) {
        let Ok(key) = std::str::from_utf8(key) else {
            return; // not a key this gateway wrote
        };
        let mut shard = self.shard(self.index(key));
        shard.invalidations += 1;
        shard.entries.remove(key);
    }

    /// Tracking is on again: entries from now on can be trusted.
    fn found(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.live.store(true, Ordering::Release);
    }

    /// Tracking is lost (or Redis flushed everything): nothing kept can be
    /// trusted.
    fn lose(&self) {
        self.live.store(false, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.clear();
    }

    fn clear(&self) {
        for index in 0..self.shards.len() {
            let mut shard = self.shard(index);
            shard.invalidations += 1;
            shard.entries.clear();
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        (0..self.shards.len())
            .map(|index| self.shard(index).entries.len())
            .sum()
    }

    fn index(&self, key: &str) -> usize {
        // Keys hold session ids a client chose: a keyed hash, so no client
        // can pile its keys into one shard.
        (self.hasher.hash_one(key) % SHARDS as u64) as usize
    }

    fn shard(&self, index: usize) -> MutexGuard<'_, Shard> {
        // A panic while holding a shard lock leaves a map that is still
        // whole (every operation on it is one std call): keep using it.
        self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A cache and the task keeping it coherent, which ends with the last
/// clone of its store.
pub(crate) struct Tracking {
    pub(crate) cache: Arc<TrackedCache>,
    task: tokio::task::AbortHandle,
}

impl Tracking {
    /// Starts tracking keys under `prefix` on `client`'s server, for a
    /// cache of at most `capacity` entries. Must be called inside a Tokio
    /// runtime.
    pub(crate) fn start(client: redis::Client, prefix: String, capacity: usize) -> Arc<Self> {
        let cache = TrackedCache::new(capacity);
        let task = tokio::spawn(track(client, prefix, cache.clone())).abort_handle();
        Arc::new(Self { cache, task })
    }
}

impl Drop for Tracking {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Keeps `cache` coherent: sets up tracking on `client`'s server for keys
/// under `prefix`, applies every invalidation, and drops the cache whenever
/// tracking is lost. Runs until aborted.
async fn track(client: redis::Client, prefix: String, cache: Arc<TrackedCache>) {
    let mut delay = MIN_DELAY;
    let mut lost = false;
    loop {
        let (pushes, mut heard) = mpsc::unbounded_channel::<PushInfo>();
        match subscribe(&client, &prefix, pushes).await {
            Ok(mut conn) => {
                delay = MIN_DELAY;
                cache.found();
                if lost {
                    info!("client-side cache: tracking again, the cache is on");
                } else {
                    debug!("client-side cache: tracking, the cache is on");
                }
                let mut keepalive =
                    tokio::time::interval_at(tokio::time::Instant::now() + KEEPALIVE, KEEPALIVE);
                loop {
                    tokio::select! {
                        push = heard.recv() => match push {
                            Some(push) if push.kind == PushKind::Invalidate => apply(&cache, &push),
                            Some(push) if push.kind == PushKind::Disconnection => break,
                            Some(_) => {}
                            None => break,
                        },
                        _ = keepalive.tick() => {
                            let ping = redis::cmd("PING");
                            let answer = timeout(KEEPALIVE_ANSWER, ping.query_async::<Value>(&mut conn)).await;
                            if !matches!(answer, Ok(Ok(_))) {
                                break;
                            }
                        }
                    }
                }
                cache.lose();
                lost = true;
                warn!("client-side cache: lost tracking, the cache is off until it is back");
            }
            Err(error) => debug!(%error, "client-side cache: cannot set up tracking yet"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_DELAY);
    }
}

async fn subscribe(
    client: &redis::Client,
    prefix: &str,
    pushes: mpsc::UnboundedSender<PushInfo>,
) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    let info = client.get_connection_info().clone();
    let resp3 = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    let client = redis::Client::open(info.set_redis_settings(resp3))?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(KEEPALIVE_ANSWER))
        .set_response_timeout(Some(KEEPALIVE_ANSWER))
        .set_push_sender(pushes);
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    redis::cmd("CLIENT")
        .arg("TRACKING")
        .arg("ON")
        .arg("BCAST")
        .arg("PREFIX")
        .arg(prefix)
        .exec_async(&mut conn)
        .await?;
    Ok(conn)
}

/// One `invalidate` push: a list of keys, or nil when Redis dropped
/// everything (`FLUSHALL`, `FLUSHDB`).
fn apply(cache: &TrackedCache, push: &PushInfo) {
    match push.data.first() {
        Some(Value::Array(keys)) => {
            for key in keys {
                if let Value::BulkString(key) = key {
                    cache.invalidate(key);
                }
            }
        }
        _ => cache.clear(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    fn found(idle_ms: u64, ttl_ms: u64, touched_ms: u64) -> Found {
        Found {
            record: Record {
                user: Some("ada".into()),
                started_ms: 0,
                idle: MS(idle_ms),
                deadline_ms: None,
                browser: false,
                touched_ms,
            },
            ttl_before: MS(ttl_ms),
            ttl: MS(ttl_ms),
            extended: false,
        }
    }

    fn touch(now_ms: u64, min_step_ms: u64) -> Touch {
        Touch {
            now_ms,
            extend: true,
            min_step: MS(min_step_ms),
            max_idle: None,
        }
    }

    fn live_cache() -> Arc<TrackedCache> {
        let cache = TrackedCache::new(1_000);
        cache.found();
        cache
    }

    #[test]
    fn answers_only_while_no_slide_is_due_and_the_ttl_lasts() {
        let cache = live_cache();
        let at = touch(1_000, 60_000);
        let ticket = cache.ticket("k");
        cache.fill("k", ticket, &at, &found(600_000, 600_000, 1_000));
        // 10 s later: the TTL would grow by 10 s < min_step: no write due.
        let hit = cache.answer("k", &touch(11_000, 60_000)).expect("a hit");
        assert_eq!(hit.ttl, MS(590_000));
        assert!(!hit.extended);
        // 61 s later a slide is due: Redis must do it.
        assert!(cache.answer("k", &touch(62_000, 60_000)).is_none());
        // At the TTL's end: never answered from here.
        assert!(cache.answer("k", &touch(601_000, 0)).is_none());
        assert_eq!(cache.len(), 0, "the expired entry is dropped");
    }

    #[test]
    fn a_request_that_does_not_slide_is_answered_until_expiry() {
        let cache = live_cache();
        let ticket = cache.ticket("k");
        cache.fill("k", ticket, &touch(0, 0), &found(10_000, 10_000, 0));
        let no_extend = Touch {
            extend: false,
            ..touch(9_999, 0)
        };
        assert_eq!(cache.answer("k", &no_extend).map(|f| f.ttl), Some(MS(1)));
        let no_extend = Touch {
            extend: false,
            ..touch(10_000, 0)
        };
        assert!(cache.answer("k", &no_extend).is_none());
    }

    #[test]
    fn an_invalidation_during_the_round_trip_wins() {
        let cache = live_cache();
        let ticket = cache.ticket("k");
        cache.invalidate(b"k"); // another gateway logged the session out
        cache.fill("k", ticket, &touch(0, 60_000), &found(600_000, 600_000, 0));
        assert!(cache.answer("k", &touch(1, 60_000)).is_none());
        // An invalidation of a key in another shard does not matter:
        // the next round trip fills it.
        let ticket = cache.ticket("k");
        cache.fill("k", ticket, &touch(0, 60_000), &found(600_000, 600_000, 0));
        assert!(cache.answer("k", &touch(1, 60_000)).is_some());
        cache.invalidate(b"k");
        assert!(cache.answer("k", &touch(2, 60_000)).is_none());
    }

    #[test]
    fn losing_tracking_drops_everything_and_voids_tickets() {
        let cache = live_cache();
        let early = cache.ticket("a");
        let ticket = cache.ticket("k");
        cache.fill("k", ticket, &touch(0, 60_000), &found(600_000, 600_000, 0));
        cache.lose();
        assert!(cache.answer("k", &touch(1, 60_000)).is_none());
        cache.found();
        assert!(cache.answer("k", &touch(1, 60_000)).is_none(), "dropped");
        cache.fill("a", early, &touch(0, 60_000), &found(600_000, 600_000, 0));
        assert!(
            cache.answer("a", &touch(1, 60_000)).is_none(),
            "stale ticket"
        );
    }

    #[test]
    fn an_extended_touch_is_kept_with_its_new_activity() {
        let cache = live_cache();
        let ticket = cache.ticket("k");
        let mut slid = found(600_000, 600_000, 0);
        slid.ttl_before = MS(500_000);
        slid.extended = true;
        cache.fill("k", ticket, &touch(100_000, 60_000), &slid);
        let hit = cache.answer("k", &touch(100_500, 60_000)).expect("a hit");
        assert_eq!(hit.record.touched_ms, 100_000);
        assert_eq!(hit.ttl, MS(599_500));
    }

    #[test]
    fn a_full_cache_keeps_what_it_has() {
        let cache = TrackedCache::new(SHARDS); // one entry per shard
        cache.found();
        let mut kept = 0;
        for n in 0..1_000 {
            let key = format!("k{n}");
            let ticket = cache.ticket(&key);
            cache.fill(&key, ticket, &touch(0, 60_000), &found(600_000, 600_000, 0));
            kept += usize::from(cache.answer(&key, &touch(1, 60_000)).is_some());
        }
        assert_eq!(cache.len(), SHARDS);
        assert_eq!(kept, SHARDS);
    }

    #[test]
    fn a_flush_push_drops_everything() {
        let cache = live_cache();
        let ticket = cache.ticket("k");
        cache.fill("k", ticket, &touch(0, 60_000), &found(600_000, 600_000, 0));
        apply(
            &cache,
            &PushInfo {
                kind: PushKind::Invalidate,
                data: vec![Value::Nil],
            },
        );
        assert_eq!(cache.len(), 0);
    }
}
