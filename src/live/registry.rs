//! Which live connections belong to which session.
//!
//! Sharded by token: registration happens only when a tunnel or an event
//! stream opens, and each shard's lock is held for a map operation, never
//! across an `.await`; the request hot path never touches it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// Names a session without being its id: a hash of its store key.
pub type Token = [u8; 20];

const SHARDS: usize = 32;

/// What a connection's watcher is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Raised {
    Nothing = 0,
    /// Ask the store whether the session still lives (after a Redis
    /// reconnect, when an end notice may have been lost).
    Recheck = 1,
    /// The session was ended (logout, revocation, eviction).
    Ended = 2,
}

/// One connection's wake-up: a flag and a [`Notify`] (whose stored permit
/// means a raise before the watcher waits is never lost).
#[derive(Debug, Default)]
pub struct Signal {
    notify: Notify,
    state: AtomicU8,
}

impl Signal {
    pub fn raise(&self, what: Raised) {
        self.state.fetch_max(what as u8, Ordering::AcqRel);
        self.notify.notify_one();
    }

    /// Waits for the next raise and returns it, clearing a recheck.
    pub async fn raised(&self) -> Raised {
        loop {
            self.notify.notified().await;
            match self.take() {
                Raised::Nothing => continue,
                what => return what,
            }
        }
    }

    fn take(&self) -> Raised {
        let recheck = Raised::Recheck as u8;
        match self.state.load(Ordering::Acquire) {
            0 => Raised::Nothing,
            1 => {
                let _ =
                    self.state
                        .compare_exchange(recheck, 0, Ordering::AcqRel, Ordering::Acquire);
                Raised::Recheck
            }
            _ => Raised::Ended,
        }
    }

    /// Whether the session was ended explicitly.
    pub fn ended(&self) -> bool {
        self.state.load(Ordering::Acquire) >= Raised::Ended as u8
    }
}

type Shard = Mutex<HashMap<Token, Vec<(u64, Arc<Signal>)>>>;

/// Every open tunnel and event stream of protected routes, by session.
pub struct Registry {
    shards: Box<[Shard]>,
    next: AtomicU64,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            next: AtomicU64::new(0),
        }
    }
}

impl Registry {
    fn shard(&self, token: &Token) -> &Shard {
        &self.shards[usize::from(token[0]) % SHARDS]
    }

    /// Adds a connection of `token`'s session; its number and signal.
    pub fn register(&self, token: Token) -> (u64, Arc<Signal>) {
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        let signal = Arc::new(Signal::default());
        let mut shard = self.shard(&token).lock().unwrap_or_else(|e| e.into_inner());
        shard
            .entry(token)
            .or_default()
            .push((number, signal.clone()));
        (number, signal)
    }

    pub fn unregister(&self, token: &Token, number: u64) {
        let mut shard = self.shard(token).lock().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = shard.get_mut(token) {
            list.retain(|(n, _)| *n != number);
            if list.is_empty() {
                shard.remove(token);
            }
        }
    }

    /// Raises every connection of `token`'s session; how many there were.
    pub fn raise(&self, token: &Token, what: Raised) -> usize {
        let shard = self.shard(token).lock().unwrap_or_else(|e| e.into_inner());
        let list = shard.get(token).map_or(&[][..], Vec::as_slice);
        for (_, signal) in list {
            signal.raise(what);
        }
        list.len()
    }

    /// Raises every registered connection.
    pub fn raise_all(&self, what: Raised) {
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            for (_, signal) in shard.values().flatten() {
                signal.raise(what);
            }
        }
    }

    /// How many connections are registered.
    pub fn watched(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .values()
                    .map(Vec::len)
                    .sum::<usize>()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ending_a_session_raises_each_of_its_connections_only() {
        let reg = Registry::default();
        let (a1, s1) = reg.register([1; 20]);
        let (_, s2) = reg.register([1; 20]);
        let (_, other) = reg.register([2; 20]);
        assert_eq!(reg.raise(&[1; 20], Raised::Ended), 2);
        assert_eq!(s1.raised().await, Raised::Ended);
        assert_eq!(s2.raised().await, Raised::Ended);
        assert!(!other.ended());
        reg.unregister(&[1; 20], a1);
        assert_eq!(reg.watched(), 2);
        reg.raise_all(Raised::Recheck);
        assert_eq!(other.raised().await, Raised::Recheck);
        // A recheck never downgrades an end.
        s2.raise(Raised::Recheck);
        assert!(s2.ended());
    }
}
