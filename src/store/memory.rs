//! The embedded store (`memory://`, the default): sessions live in this
//! process and die with it.
//!
//! The sessions are in [`shards::Shards`]: 64 mutex-guarded linked hash
//! maps kept in order of activity, so a request's touch is one shard lock,
//! a hash lookup and a move to the back of that shard's list (it was a moka
//! cache, whose `and_compute_with` cost about 12k instructions per request,
//! a quarter of a forward-auth check: bench/README.md, round two). Each
//! entry carries its own expiry instant; reads check it, so an expired
//! entry is never returned, and it is removed then or by a later sweep.
//!
//! The map is bounded (`store.max_sessions`, issue 19): a login beyond the
//! bound evicts the least recently active session (the front of every
//! shard compared; every request's `touch` is an activity), counts it in
//! `sessiongate_store_evictions_total` and says so in the log, without ids.
//! An evicted session is gone as an expired one is; its entry in its user's
//! index (SPEC §9) goes with it (as an expired or deleted one's does), so
//! the index is bounded too.
//!
//! `touch` reads and conditionally writes under the shard's lock, never
//! held across an `.await`: atomic per session, with no global lock.

mod shards;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use tracing::warn;

use super::rules;
use super::{ForeignFound, Found, IndexEntry, Record, SessionStore, StoreError, Touch};
use crate::throttle::Throttle;
use shards::{Access, Entry, Made, Shards};

/// The embedded session store. Cloning shares the same sessions.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    sessions: Shards,
    max_sessions: u64,
    evictions: Counter,
    /// One eviction line per interval in a login flood.
    throttle: Mutex<Throttle>,
    /// Session control's index hashes and handle keys (SPEC §9): written
    /// on login, revocation, expiry and eviction only, never on a
    /// request's touch, so one lock (never held across an `.await`, nor
    /// with a shard's) is enough.
    index: Mutex<Index>,
}

/// The memory store's index keys: hashes of handle → id, and strings.
#[derive(Default)]
struct Index {
    hashes: HashMap<String, HashMap<String, String>>,
    strings: HashMap<String, String>,
    /// Session key → where the session stands in the index, so a session
    /// that goes (evicted, expired or deleted) leaves the index with it.
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
    /// A session that went (evicted, expired or deleted): its index
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
        let index = Index {
            key_prefix: key_prefix.to_owned(),
            ..Index::default()
        };
        Self {
            inner: Arc::new(Inner {
                sessions: Shards::new(),
                max_sessions,
                evictions,
                throttle: Mutex::new(Throttle::default()),
                index: Mutex::new(index),
            }),
        }
    }

    /// How many sessions the store holds (expired ones removed first).
    pub fn len(&self) -> u64 {
        let mut expired = Vec::new();
        self.inner.sessions.sweep_all(Instant::now(), &mut expired);
        self.inner.dropped(&expired);
        self.inner.sessions.len()
    }

    /// Whether the store holds no session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    fn index(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sessions that are gone (expired, evicted or deleted) leave the index.
    fn dropped(&self, keys: &[Box<str>]) {
        if keys.is_empty() {
            return;
        }
        let mut index = self.index();
        for key in keys {
            index.dropped(key);
        }
    }

    /// Evicts the least recently active sessions while the store holds
    /// more than `max_sessions`; says so in the log, once per interval.
    fn keep_bound(&self) {
        let mut evicted = 0;
        let mut gone = Vec::new();
        while self.sessions.len() > self.max_sessions {
            match self.sessions.make_room(Instant::now()) {
                Some(Made::Expired(keys)) => gone.extend(keys),
                Some(Made::Evicted(key)) => {
                    evicted += 1;
                    gone.push(key);
                }
                None => break,
            }
        }
        self.dropped(&gone);
        if evicted == 0 {
            return;
        }
        self.evictions.inc_by(evicted);
        let due = self
            .throttle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .note();
        if let Some(evicted) = due {
            warn!(
                max_sessions = self.max_sessions,
                evicted,
                "memory store full (store.max_sessions): evicted the least recently \
                 active sessions to make room for new logins"
            );
        }
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
            .field("entries", &self.inner.sessions.len())
            .finish()
    }
}

impl SessionStore for MemoryStore {
    async fn create(&self, key: &str, record: &Record, ttl: Duration) -> Result<(), StoreError> {
        let now = Instant::now();
        let entry = Entry::new(record.clone(), now + ttl, now);
        let mut expired = Vec::new();
        self.inner.sessions.insert(key, entry, &mut expired);
        self.inner.dropped(&expired);
        // The bound holds after every login, never overshot in a flood.
        self.inner.keep_bound();
        Ok(())
    }

    async fn touch(&self, key: &str, touch: &Touch) -> Result<Option<Found>, StoreError> {
        let now = Instant::now();
        let access = self.inner.sessions.access(key, now, |entry, ttl_before| {
            let record = entry.record.clone();
            let target = rules::session_target(&record, touch, ttl_before);
            if let Some(target) = target {
                entry.expires_at = now + target;
                entry.record.touched_ms = touch.now_ms;
            }
            Found {
                record,
                ttl_before,
                ttl: target.unwrap_or(ttl_before),
                extended: target.is_some(),
            }
        });
        match access {
            Access::Live(found) => Ok(Some(found)),
            // Expired but not yet swept: it is gone, never revived.
            Access::Expired => {
                self.inner.dropped(&[key.into()]);
                Ok(None)
            }
            Access::Missing => Ok(None),
        }
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
        let Some(removed) = self.inner.sessions.remove(key) else {
            return Ok(false);
        };
        self.inner.dropped(&[key.into()]);
        Ok(removed.ttl(Instant::now()).is_some())
    }

    async fn index_add(&self, entry: &IndexEntry<'_>, id: &str) -> Result<(), StoreError> {
        let mut all = self.inner.index();
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
        let all = self.inner.index();
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
        let mut all = self.inner.index();
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
        let all = self.inner.index();
        Ok(all.strings.get(handle_key).cloned())
    }

    async fn publish(&self, _channel: &str, _message: &str) -> Result<(), StoreError> {
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
