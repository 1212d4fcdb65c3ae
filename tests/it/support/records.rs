//! Session records and store touches as the store tests build them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use sessiongate::clock::now_ms;
use sessiongate::store::{Found, Record, SessionStore, Touch};

pub const MS: fn(u64) -> Duration = Duration::from_millis;

/// A fresh key under `prefix` per call, so tests never see each other's
/// sessions.
pub fn fresh_key(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{prefix}{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Alice's managed session, created and touched now, idle limit `idle_ms`,
/// no deadline, a persistent cookie.
pub fn record(idle_ms: u64) -> Record {
    let now = now_ms();
    Record {
        user: Some("alice".to_owned()),
        started_ms: now,
        idle: MS(idle_ms),
        deadline_ms: None,
        browser: false,
        touched_ms: now,
    }
}

/// A read-only touch.
pub fn peek() -> Touch {
    Touch {
        now_ms: now_ms(),
        extend: false,
        min_step: Duration::ZERO,
        max_idle: None,
    }
}

/// A touch that slides the TTL whenever it grows.
pub fn slide() -> Touch {
    Touch {
        extend: true,
        ..peek()
    }
}

/// Creates `key` holding `rec` with a TTL of `ttl_ms`; fails the test if
/// the store refuses.
pub async fn create<S: SessionStore>(store: &S, key: &str, rec: &Record, ttl_ms: u64) {
    store.create(key, rec, MS(ttl_ms)).await.expect("create");
}

/// Touches `key`, which must exist.
pub async fn found<S: SessionStore>(store: &S, key: &str, touch: &Touch) -> Found {
    store
        .touch(key, touch)
        .await
        .expect("touch succeeds")
        .expect("session is found")
}

/// Polls `ready` every 50 ms until it holds; panics (`never {what}`) after
/// 15 s.
pub async fn until(what: &str, mut ready: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !ready().await {
        assert!(started.elapsed() < Duration::from_secs(15), "never {what}");
        tokio::time::sleep(MS(50)).await;
    }
}
