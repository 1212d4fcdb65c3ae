//! The memory store's map: sessions in 64 shards, each a mutex around a
//! linked hash map kept in order of activity (least recently active at the
//! front). A touch locks one shard for a hash lookup and a move to the
//! back; nothing on it allocates or takes a lock shared by every request.
//!
//! Expired entries go when they are next looked at, when a login lands on
//! their shard (at most one sweep of a shard per [`SWEEP_INTERVAL`]), or
//! at eviction time, before any live entry is evicted (see
//! [`Shards::make_room`]).

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hashlink::LinkedHashMap;

use crate::store::Record;

/// Shards: enough that two workers rarely meet on one lock.
const SHARDS: usize = 64;

/// A shard is swept of its expired entries at most this often.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// One stored session.
pub(super) struct Entry {
    pub(super) record: Record,
    /// When it expires (monotonic clock).
    pub(super) expires_at: Instant,
    /// Its last touch or its creation: what eviction compares across shards.
    active_at: Instant,
}

impl Entry {
    pub(super) fn new(record: Record, expires_at: Instant, now: Instant) -> Self {
        Self {
            record,
            expires_at,
            active_at: now,
        }
    }

    /// The remaining TTL, or `None` when it has run out.
    pub(super) fn ttl(&self, now: Instant) -> Option<Duration> {
        let left = self.expires_at.saturating_duration_since(now);
        (!left.is_zero()).then_some(left)
    }
}

/// What looking a key up found.
pub(super) enum Access<R> {
    /// A live session, and what the caller computed on it.
    Live(R),
    /// An expired one, now removed.
    Expired,
    Missing,
}

/// What made room for a new session.
pub(super) enum Made {
    /// Expired sessions went (none live was evicted).
    Expired(Vec<Box<str>>),
    /// The least recently active live session was evicted.
    Evicted(Box<str>),
}

struct Shard {
    /// Least recently active first.
    map: LinkedHashMap<Box<str>, Entry>,
    swept_at: Instant,
}

/// The sharded map. Counts its entries (expired ones not yet removed
/// included) in one atomic, touched on insert and removal only.
pub(super) struct Shards {
    shards: Box<[Mutex<Shard>]>,
    /// Keys hold session ids a client chose: a keyed hash picks the shard.
    hasher: RandomState,
    len: AtomicU64,
}

impl Shards {
    pub(super) fn new() -> Self {
        let now = Instant::now();
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    map: LinkedHashMap::new(),
                    swept_at: now,
                })
            })
            .collect();
        Self {
            shards,
            hasher: RandomState::new(),
            len: AtomicU64::new(0),
        }
    }

    /// Entries held, expired ones not yet removed included.
    pub(super) fn len(&self) -> u64 {
        self.len.load(Ordering::Relaxed)
    }

    fn shard(&self, key: &str) -> MutexGuard<'_, Shard> {
        let at = (self.hasher.hash_one(key) % SHARDS as u64) as usize;
        lock(&self.shards[at])
    }

    /// Runs `on_live` on `key`'s entry when it is alive at `now` (which
    /// makes it the most recently active of its shard); removes it when it
    /// has expired.
    pub(super) fn access<R>(
        &self,
        key: &str,
        now: Instant,
        on_live: impl FnOnce(&mut Entry, Duration) -> R,
    ) -> Access<R> {
        let mut shard = self.shard(key);
        let Some(entry) = shard.map.to_back(key) else {
            return Access::Missing;
        };
        let Some(ttl) = entry.ttl(now) else {
            shard.map.remove(key);
            self.len.fetch_sub(1, Ordering::Relaxed);
            return Access::Expired;
        };
        entry.active_at = now;
        Access::Live(on_live(entry, ttl))
    }

    /// Stores `entry` under `key` as the most recently active, replacing
    /// any entry there; then, when a sweep of that shard is due, removes
    /// its expired entries into `expired`.
    pub(super) fn insert(&self, key: &str, entry: Entry, expired: &mut Vec<Box<str>>) {
        let now = entry.active_at;
        let mut shard = self.shard(key);
        if shard.map.insert(key.into(), entry).is_none() {
            self.len.fetch_add(1, Ordering::Relaxed);
        }
        self.sweep_if_due(&mut shard, now, expired);
    }

    /// Removes `key`'s entry.
    pub(super) fn remove(&self, key: &str) -> Option<Entry> {
        let removed = self.shard(key).map.remove(key);
        if removed.is_some() {
            self.len.fetch_sub(1, Ordering::Relaxed);
        }
        removed
    }

    /// Removes every expired entry into `expired`.
    pub(super) fn sweep_all(&self, now: Instant, expired: &mut Vec<Box<str>>) {
        for shard in &self.shards {
            self.sweep(&mut lock(shard), now, expired);
        }
    }

    /// Sweeps `shard` when its last sweep is [`SWEEP_INTERVAL`] old.
    fn sweep_if_due(&self, shard: &mut Shard, now: Instant, expired: &mut Vec<Box<str>>) {
        if now.saturating_duration_since(shard.swept_at) >= SWEEP_INTERVAL {
            self.sweep(shard, now, expired);
        }
    }

    fn sweep(&self, shard: &mut Shard, now: Instant, expired: &mut Vec<Box<str>>) {
        shard.swept_at = now;
        let before = expired.len();
        shard.map.retain(|key, entry| {
            let alive = entry.ttl(now).is_some();
            if !alive {
                expired.push(key.clone());
            }
            alive
        });
        let removed = (expired.len() - before) as u64;
        self.len.fetch_sub(removed, Ordering::Relaxed);
    }

    /// Makes room for one more entry, one shard lock at a time, never two:
    /// removes expired entries when it finds some (a shard's least recently
    /// active one, or any in a shard whose sweep is due), else the least
    /// recently active entry of all shards. `None` when the map is empty.
    ///
    /// So an entry that expired before its shard's last sweep never costs a
    /// live session its place; one that expired since (less than
    /// [`SWEEP_INTERVAL`] ago, behind a live entry of its shard) can, which
    /// bounds a full store's sweeping to one pass over the map a second.
    pub(super) fn make_room(&self, now: Instant) -> Option<Made> {
        let mut oldest: Option<(usize, Instant)> = None;
        let mut expired = Vec::new();
        for (at, shard) in self.shards.iter().enumerate() {
            let mut shard = lock(shard);
            self.sweep_if_due(&mut shard, now, &mut expired);
            let front = shard.map.front().map(|(_, e)| (e.active_at, e.ttl(now)));
            match front {
                Some((_, None)) => {
                    let (key, _) = shard.map.pop_front()?;
                    self.len.fetch_sub(1, Ordering::Relaxed);
                    expired.push(key);
                }
                Some((active_at, Some(_)))
                    if oldest.is_none_or(|(_, oldest_at)| active_at < oldest_at) =>
                {
                    oldest = Some((at, active_at));
                }
                _ => {}
            }
            if !expired.is_empty() {
                return Some(Made::Expired(expired));
            }
        }
        let (at, _) = oldest?;
        // Touched since it was looked at: its shard's front is then the
        // next least recently active, which is as good.
        let (key, _) = lock(&self.shards[at]).map.pop_front()?;
        self.len.fetch_sub(1, Ordering::Relaxed);
        Some(Made::Evicted(key))
    }
}

/// A shard's lock. A panic while holding one leaves the map itself intact
/// (no user code runs under it but the store's own), so poisoning is
/// ignored.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            user: Some("alice".to_owned()),
            started_ms: 0,
            idle: Duration::from_secs(60),
            deadline_ms: None,
            browser: false,
            touched_ms: 0,
        }
    }

    fn insert(map: &Shards, key: &str, now: Instant, ttl: Duration) -> Vec<Box<str>> {
        let mut expired = Vec::new();
        map.insert(key, Entry::new(record(), now + ttl, now), &mut expired);
        expired
    }

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn the_least_recently_active_of_all_shards_makes_room() {
        let map = Shards::new();
        let t0 = Instant::now();
        // Enough keys that every shard holds some.
        for n in 0..1_000 {
            insert(
                &map,
                &format!("k{n}"),
                t0 + Duration::from_millis(n),
                60 * SEC,
            );
        }
        assert_eq!(map.len(), 1_000);
        // k0 and k1 become active again: k2 is now the least recent.
        let later = t0 + 2 * SEC;
        for key in ["k0", "k1"] {
            assert!(matches!(
                map.access(key, later, |_, _| ()),
                Access::Live(())
            ));
        }
        for want in ["k2", "k3", "k4"] {
            match map.make_room(later) {
                Some(Made::Evicted(key)) => assert_eq!(&*key, want),
                _ => panic!("nothing evicted"),
            }
        }
        assert_eq!(map.len(), 997);
        assert!(matches!(
            map.access("k2", later, |_, _| ()),
            Access::Missing
        ));
    }

    /// A key whose shard is (or is not) `key`'s: the hash is keyed per
    /// map, so the tests pick their keys rather than hope.
    fn key_in_shard(map: &Shards, key: &str, same: bool) -> String {
        let shard = |k: &str| map.hasher.hash_one(k) % SHARDS as u64;
        (0..)
            .map(|n| format!("short{n}"))
            .find(|k| (shard(k) == shard(key)) == same)
            .expect("some key hashes there")
    }

    #[test]
    fn an_expired_entry_makes_room_before_any_live_one() {
        // Behind a live entry of its own shard (not at the front), and
        // alone in another shard.
        for same in [true, false] {
            let map = Shards::new();
            let t0 = Instant::now();
            insert(&map, "old-but-live", t0, 60 * SEC);
            let short = key_in_shard(&map, "old-but-live", same);
            insert(&map, &short, t0 + SEC, SEC);
            match map.make_room(t0 + 3 * SEC) {
                Some(Made::Expired(keys)) => assert_eq!(
                    keys,
                    [Box::<str>::from(short.as_str())],
                    "same shard: {same}"
                ),
                _ => panic!("the expired entry was not taken first (same shard: {same})"),
            }
            assert_eq!(map.len(), 1);
        }
    }

    #[test]
    fn a_recently_swept_shard_is_not_swept_again_to_make_room() {
        let map = Shards::new();
        let t0 = Instant::now();
        insert(&map, "old-but-live", t0, 60 * SEC);
        let short = key_in_shard(&map, "old-but-live", true);
        insert(&map, &short, t0, 2 * SEC);
        // Every shard swept at t0 + 1.5 s, when `short` was still alive;
        // at t0 + 2 s it has expired behind a live front.
        let mut expired = Vec::new();
        map.sweep_all(t0 + 3 * SEC / 2, &mut expired);
        assert!(expired.is_empty());
        match map.make_room(t0 + 2 * SEC) {
            Some(Made::Evicted(key)) => assert_eq!(&*key, "old-but-live"),
            _ => panic!("the documented bound changed: update make_room's comment"),
        }
        // A second later the sweep is due and finds it.
        insert(&map, "next", t0 + 2 * SEC, 60 * SEC);
        match map.make_room(t0 + 3 * SEC) {
            Some(Made::Expired(keys)) => assert_eq!(keys, [Box::<str>::from(short.as_str())]),
            _ => panic!("the due sweep did not find the expired entry"),
        }
    }

    #[test]
    fn expired_entries_are_never_returned_and_leave_when_looked_at() {
        let map = Shards::new();
        let t0 = Instant::now();
        insert(&map, "k", t0, SEC);
        let ttl = match map.access("k", t0, |_, ttl| ttl) {
            Access::Live(ttl) => ttl,
            _ => panic!("not live"),
        };
        assert_eq!(ttl, SEC);
        assert!(matches!(
            map.access("k", t0 + SEC, |_, _| ()),
            Access::Expired
        ));
        assert_eq!(map.len(), 0);
        assert!(matches!(
            map.access("k", t0 + SEC, |_, _| ()),
            Access::Missing
        ));
    }

    #[test]
    fn a_login_sweeps_its_shard_at_most_once_per_interval() {
        let map = Shards::new();
        let t0 = Instant::now();
        for n in 0..640 {
            insert(&map, &format!("short{n}"), t0, SEC / 2);
        }
        // Within the interval: no sweep, whatever expired.
        assert!(insert(&map, "a", t0 + SEC / 2, 60 * SEC).is_empty());
        // Past it, each login sweeps the shard it lands in (2,000 logins
        // land in every one of the 64 shards but once in 10^12 runs).
        let mut swept = Vec::new();
        for n in 0..2_000 {
            swept.extend(insert(&map, &format!("b{n}"), t0 + 2 * SEC, 60 * SEC));
        }
        assert_eq!(swept.len(), 640, "every shard swept once");
        assert!(swept.iter().all(|key| key.starts_with("short")));
        assert_eq!(map.len(), 2_001);
    }

    #[test]
    fn replacing_an_entry_keeps_the_count() {
        let map = Shards::new();
        let t0 = Instant::now();
        insert(&map, "k", t0, SEC);
        insert(&map, "k", t0, 60 * SEC);
        assert_eq!(map.len(), 1);
        assert!(map.remove("k").is_some());
        assert!(map.remove("k").is_none());
        assert_eq!(map.len(), 0);
    }
}
