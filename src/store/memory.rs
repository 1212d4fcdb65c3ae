//! The embedded store (`memory://`, the default): sessions live in this
//! process and die with it.
//!
//! A moka cache keyed by the full store key. Each entry carries its own
//! expiry instant and moka's per-entry [`Expiry`] policy removes it then.
//! Reads also check the instant themselves, so an entry moka has not swept
//! yet is never returned.
//!
//! The map is bounded (`store.max_sessions`, issue 19): a login beyond the
//! bound evicts the least recently active session (moka's LRU policy; every
//! request's `touch` is an access), counts it in
//! `sessiongate_store_evictions_total` and says so in the log, without ids.
//! An evicted session is gone as an expired one is; its entry in its user's
//! index (SPEC §9) goes with it (as an expired or deleted one's does), so
//! the index is bounded too.
//!
//! `touch` runs inside `and_compute_with`, which serialises calls on the same
//! key only (a key-level lock, never held across an `.await`): the read and
//! the conditional write are atomic per session, with no global lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::notification::RemovalCause;
use moka::ops::compute::Op;
use moka::policy::EvictionPolicy;
use moka::sync::Cache;
use prometheus_client::metrics::counter::Counter;
use tracing::warn;

use super::rules;
use super::{ForeignFound, Found, IndexEntry, Record, SessionStore, StoreError, Touch};
use crate::throttle::Throttle;

/// One stored session and the monotonic instant it expires at.
#[derive(Clone)]
struct Entry {
    record: Record,
    expires_at: Instant,
}

impl Entry {
    /// The remaining TTL, or `None` when it has run out.
    fn ttl(&self, now: Instant) -> Option<Duration> {
        let left = self.expires_at.saturating_duration_since(now);
        (!left.is_zero()).then_some(left)
    }
}

/// Tells moka that each entry expires at its own `expires_at`.
struct AtExpiresAt;

impl Expiry<String, Entry> for AtExpiresAt {
    fn expire_after_create(&self, _key: &String, value: &Entry, at: Instant) -> Option<Duration> {
        Some(value.expires_at.saturating_duration_since(at))
    }

    fn expire_after_update(
        &self,
        _key: &String,
        value: &Entry,
        at: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.expires_at.saturating_duration_since(at))
    }
}

/// The embedded session store. Cloning shares the same sessions.
#[derive(Clone)]
pub struct MemoryStore {
    cache: Cache<String, Entry>,
    /// Session control's index hashes and handle keys (SPEC §9): written
    /// on login, revocation and eviction only, never on the request path,
    /// so one lock (never held across an `.await`) is enough.
    index: Arc<Mutex<Index>>,
}

/// The memory store's index keys: hashes of handle → id, and strings.
#[derive(Default)]
struct Index {
    hashes: HashMap<String, HashMap<String, String>>,
    strings: HashMap<String, String>,
    /// Session key → where the session stands in the index, so a session
    /// moka drops (evicted or expired) leaves the index with it.
    placed: HashMap<String, Placed>,
    /// The prefix of session keys: session key = prefix + id.
    key_prefix: String,
}

/// An [`IndexEntry`], owned.
struct Placed {
    index: String,
    handle: String,
    handle_key: String,
}

impl Index {
    /// A session moka dropped (evicted, expired or deleted): its index
    /// entries go too, when they still name it.
    fn dropped(&mut self, key: &str) {
        let Some(placed) = self.placed.remove(key) else {
            return;
        };
        let id = key.strip_prefix(self.key_prefix.as_str()).unwrap_or(key);
        if let Some(hash) = self.hashes.get_mut(&placed.index) {
            if hash.get(&placed.handle).is_some_and(|named| named == id) {
                hash.remove(&placed.handle);
            }
            if hash.is_empty() {
                self.hashes.remove(&placed.index);
            }
        }
        if self
            .strings
            .get(&placed.handle_key)
            .is_some_and(|named| named == id)
        {
            self.strings.remove(&placed.handle_key);
        }
    }
}

/// `store.max_sessions` by default.
pub const DEFAULT_MAX_SESSIONS: u64 = 1_000_000;

impl MemoryStore {
    /// An empty store of at most [`DEFAULT_MAX_SESSIONS`] sessions, keyed
    /// under `sessiongate:`.
    pub fn new() -> Self {
        Self::bounded(DEFAULT_MAX_SESSIONS, "sessiongate:", Counter::default())
    }

    /// An empty store of at most `max_sessions` sessions whose keys start
    /// with `key_prefix`, counting the sessions it evicts in `evictions`.
    pub fn bounded(max_sessions: u64, key_prefix: &str, evictions: Counter) -> Self {
        let index = Arc::new(Mutex::new(Index {
            key_prefix: key_prefix.to_owned(),
            ..Index::default()
        }));
        let dropped = Arc::downgrade(&index);
        let throttle = Mutex::new(Throttle::default());
        // Runs inside moka's housekeeping, never while the index lock is held.
        let listener = move |key: Arc<String>, _entry: Entry, cause: RemovalCause| {
            if cause == RemovalCause::Replaced {
                return;
            }
            if cause == RemovalCause::Size {
                evictions.inc();
                let due = throttle
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .note();
                if let Some(evicted) = due {
                    warn!(
                        max_sessions,
                        evicted,
                        "memory store full (store.max_sessions): evicted the least recently \
                         active sessions to make room for new logins"
                    );
                }
            }
            if let Some(index) = dropped.upgrade() {
                let mut index = index.lock().unwrap_or_else(PoisonError::into_inner);
                index.dropped(&key);
            }
        };
        Self {
            cache: Cache::builder()
                .max_capacity(max_sessions)
                .eviction_policy(EvictionPolicy::lru())
                .expire_after(AtExpiresAt)
                .eviction_listener(listener)
                .build(),
            index,
        }
    }

    /// How many sessions the store holds (after pending evictions and
    /// expiries are applied).
    pub fn len(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.entry_count()
    }

    /// Whether the store holds no session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryStore {
    // Keys hold session ids: show only how many there are.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("entries", &self.cache.entry_count())
            .finish()
    }
}

impl SessionStore for MemoryStore {
    async fn create(&self, key: &str, record: &Record, ttl: Duration) -> Result<(), StoreError> {
        let entry = Entry {
            record: record.clone(),
            expires_at: Instant::now() + ttl,
        };
        self.cache.insert(key.to_owned(), entry);
        // Applies the bound now: moka otherwise evicts in batches later,
        // and a login flood would overshoot `max_sessions` meanwhile.
        self.cache.run_pending_tasks();
        Ok(())
    }

    async fn touch(&self, key: &str, touch: &Touch) -> Result<Option<Found>, StoreError> {
        let mut found = None;
        self.cache
            .entry(key.to_owned())
            .and_compute_with(|current| {
                let Some(current) = current else {
                    return Op::Nop;
                };
                let mut entry = current.into_value();
                let now = Instant::now();
                let Some(ttl_before) = entry.ttl(now) else {
                    // Expired but not yet swept: it is gone, never revived.
                    return Op::Remove;
                };
                let record = entry.record.clone();
                let target = rules::session_target(&record, touch, ttl_before);
                found = Some(Found {
                    record,
                    ttl_before,
                    ttl: target.unwrap_or(ttl_before),
                    extended: target.is_some(),
                });
                match target {
                    Some(target) => {
                        entry.expires_at = now + target;
                        entry.record.touched_ms = touch.now_ms;
                        Op::Put(entry)
                    }
                    None => Op::Nop,
                }
            });
        Ok(found)
    }

    /// External mode keeps its sessions in the application's Redis; the
    /// configuration refuses external mode with the memory store.
    async fn touch_foreign(
        &self,
        _key: &str,
        _idle: Duration,
        _touch: &Touch,
    ) -> Result<Option<ForeignFound>, StoreError> {
        Err(StoreError::Unsupported("memory"))
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let removed = self.cache.remove(key);
        Ok(removed.is_some_and(|entry| entry.ttl(Instant::now()).is_some()))
    }

    async fn index_add(&self, entry: &IndexEntry<'_>, id: &str) -> Result<(), StoreError> {
        let mut all = self.index.lock().unwrap_or_else(PoisonError::into_inner);
        all.hashes
            .entry(entry.index.to_owned())
            .or_default()
            .insert(entry.handle.to_owned(), id.to_owned());
        all.strings
            .insert(entry.handle_key.to_owned(), id.to_owned());
        let key = format!("{}{id}", all.key_prefix);
        let placed = Placed {
            index: entry.index.to_owned(),
            handle: entry.handle.to_owned(),
            handle_key: entry.handle_key.to_owned(),
        };
        all.placed.insert(key, placed);
        Ok(())
    }

    async fn index_entries(
        &self,
        index: &str,
        sample: Option<usize>,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let all = self.index.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(hash) = all.hashes.get(index) else {
            return Ok(Vec::new());
        };
        let pairs = hash.iter().map(|(h, id)| (h.clone(), id.clone()));
        Ok(match sample {
            None => pairs.collect(),
            // A run of `n` from a random start, wrapping: every entry is as
            // likely to be picked, which is all pruning needs.
            Some(n) if n < hash.len() => {
                let start = getrandom::u64().map_or(0, |r| r as usize % hash.len());
                pairs.cycle().skip(start).take(n).collect()
            }
            Some(_) => pairs.collect(),
        })
    }

    async fn index_remove(&self, entry: &IndexEntry<'_>) -> Result<(), StoreError> {
        let mut all = self.index.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(id) = all.strings.get(entry.handle_key) {
            let key = format!("{}{id}", all.key_prefix);
            all.placed.remove(&key);
        }
        if let Some(hash) = all.hashes.get_mut(entry.index) {
            hash.remove(entry.handle);
            if hash.is_empty() {
                all.hashes.remove(entry.index);
            }
        }
        all.strings.remove(entry.handle_key);
        Ok(())
    }

    async fn handle_target(&self, handle_key: &str) -> Result<Option<String>, StoreError> {
        let all = self.index.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(all.strings.get(handle_key).cloned())
    }

    async fn publish(&self, _channel: &str, _message: &str) -> Result<(), StoreError> {
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
