//! One behaviour suite for every [`SessionStore`]: each generic test below
//! runs once against the memory store and once against a real Redis (the
//! `conformance!` macro at the bottom generates both). Redis-only
//! behaviour (external-mode keys, round trips, outages) follows in
//! `redis_only`.
//!
//! TTL assertions use bounds, never equality on timing; expiry tests use
//! margins of at least 0.5 s.

use std::collections::BTreeSet;
use std::time::Duration;

use sessiongate::store::{IndexEntry, Record, SessionStore, Touch};

use crate::support::records::{MS, create, found, now_ms, peek, record, slide};

mod memory_only;
mod redis_only;
mod redis_tls;

/// A fresh key per call, so tests never see each other's sessions.
fn key() -> String {
    crate::support::records::fresh_key("sessiongate:test:")
}

/// A fresh key holding `rec`, created with a TTL of `ttl_ms`.
async fn created<S: SessionStore>(store: &S, rec: &Record, ttl_ms: u64) -> String {
    let key = key();
    create(store, &key, rec, ttl_ms).await;
    key
}

fn assert_within(ttl: Duration, low_ms: u64, high_ms: u64) {
    assert!(
        ttl >= MS(low_ms) && ttl <= MS(high_ms),
        "ttl {ttl:?} not within [{low_ms} ms, {high_ms} ms]"
    );
}

async fn round_trips_every_field<S: SessionStore>(store: &S) {
    let now = now_ms();
    let variants = [
        Record {
            user: None,
            deadline_ms: None,
            browser: false,
            ..record(10_000)
        },
        Record {
            user: Some("alice@example.com".to_owned()),
            deadline_ms: Some(now + 60_000),
            browser: true,
            started_ms: now - 1234,
            touched_ms: now - 56,
            ..record(7_000)
        },
        Record {
            user: Some("bob with spaces, ünicode".to_owned()),
            deadline_ms: Some(now + 1),
            browser: false,
            ..record(1)
        },
    ];
    for original in variants {
        let key = created(store, &original, 5_000).await;
        let got = found(store, &key, &peek()).await;
        assert_eq!(got.record, original);
        assert!(!got.extended);
        assert_eq!(got.ttl, got.ttl_before);
        assert_within(got.ttl_before, 4_000, 5_000);
    }
}

async fn create_replaces_the_old_record<S: SessionStore>(store: &S) {
    let old = Record {
        deadline_ms: Some(now_ms() + 60_000),
        browser: true,
        ..record(10_000)
    };
    let key = created(store, &old, 10_000).await;
    let new = Record {
        user: None,
        ..record(3_000)
    };
    create(store, &key, &new, 3_000).await;
    let got = found(store, &key, &peek()).await;
    assert_eq!(got.record, new, "no field of the old record survives");
    assert_within(got.ttl_before, 2_000, 3_000);
}

async fn missing_key_is_none<S: SessionStore>(store: &S) {
    assert_eq!(store.touch(&key(), &slide()).await.expect("touch"), None);
    assert_eq!(store.touch(&key(), &peek()).await.expect("touch"), None);
}

async fn expires_at_its_ttl<S: SessionStore>(store: &S) {
    let key = created(store, &record(1_000), 1_000).await;
    tokio::time::sleep(MS(300)).await;
    found(store, &key, &peek()).await;
    tokio::time::sleep(MS(1_300)).await;
    assert_eq!(store.touch(&key, &peek()).await.expect("touch"), None);
}

async fn extend_slides_the_ttl<S: SessionStore>(store: &S) {
    let key = created(store, &record(10_000), 2_000).await;
    let got = found(store, &key, &slide()).await;
    assert!(got.extended);
    assert_within(got.ttl_before, 1_000, 2_000);
    assert_eq!(got.ttl, MS(10_000));
    let after = found(store, &key, &peek()).await;
    assert_within(after.ttl_before, 9_000, 10_000);
}

async fn without_extend_the_ttl_never_changes<S: SessionStore>(store: &S) {
    let key = created(store, &record(10_000), 2_000).await;
    let first = found(store, &key, &peek()).await;
    assert!(!first.extended);
    assert_eq!(first.ttl, first.ttl_before);
    tokio::time::sleep(MS(100)).await;
    let second = found(store, &key, &peek()).await;
    assert!(
        second.ttl_before < first.ttl_before,
        "the TTL keeps running down"
    );
    assert_within(second.ttl_before, 1_000, 2_000);
}

async fn min_step_skips_recent_writes<S: SessionStore>(store: &S) {
    let step = Touch {
        min_step: MS(5_000),
        ..slide()
    };
    let recent = created(store, &record(10_000), 10_000).await;
    let got = found(store, &recent, &step).await;
    assert!(!got.extended, "grows by less than min_step: no write");
    assert_eq!(got.ttl, got.ttl_before);

    let old = created(store, &record(10_000), 2_000).await;
    let got = found(
        store,
        &old,
        &Touch {
            now_ms: now_ms(),
            ..step
        },
    )
    .await;
    assert!(got.extended, "grows by more than min_step: written");
    assert_eq!(got.ttl, MS(10_000));
}

/// `max-age=1` under `touch_interval = "10s"`: the skip is capped at half
/// the session's own idle timeout, or the session could never slide.
async fn min_step_is_capped_by_half_the_sessions_idle<S: SessionStore>(store: &S) {
    let step = Touch {
        min_step: MS(10_000),
        ..slide()
    };
    let short = created(store, &record(1_000), 300).await;
    let recent = created(store, &record(1_000), 900).await;
    let got = found(store, &short, &step).await;
    assert!(got.extended, "grows by more than half its idle: written");
    assert_eq!(got.ttl, MS(1_000));
    let got = found(store, &recent, &step).await;
    assert!(!got.extended, "grows by less than half its idle: skipped");
}

async fn deadline_caps_the_extension<S: SessionStore>(store: &S) {
    let deadline = now_ms() + 2_000;
    let rec = Record {
        deadline_ms: Some(deadline),
        ..record(10_000)
    };
    let key = created(store, &rec, 1_000).await;
    let touch = slide();
    let got = found(store, &key, &touch).await;
    assert!(got.extended);
    assert_eq!(
        got.ttl,
        MS(deadline - touch.now_ms),
        "capped by the deadline"
    );
    let after = found(store, &key, &peek()).await;
    assert_within(after.ttl_before, 1_000, 2_000);
}

async fn session_ends_at_the_deadline_however_active<S: SessionStore>(store: &S) {
    let start = now_ms();
    let deadline = start + 2_500;
    let rec = Record {
        deadline_ms: Some(deadline),
        ..record(1_000)
    };
    let key = created(store, &rec, 1_000).await;
    loop {
        tokio::time::sleep(MS(200)).await;
        let touch = slide();
        let elapsed = touch.now_ms - start;
        let got = store.touch(&key, &touch).await.expect("touch");
        if elapsed < 2_000 {
            // Past the first TTL (1 s) only because touches slid it.
            let got = got.unwrap_or_else(|| panic!("alive at {elapsed} ms"));
            let left = MS(deadline.saturating_sub(touch.now_ms));
            assert!(
                !got.extended || got.ttl <= left,
                "never beyond the deadline"
            );
        } else if elapsed >= 3_000 {
            assert_eq!(got, None, "gone after the deadline");
            break;
        }
    }
}

/// Within `idle` of the deadline the TTL cannot grow, yet activity is
/// recorded: a route's stricter idle limit must not refuse a user active
/// elsewhere (found by the decide property test, see `store/rules.rs`).
async fn activity_is_recorded_near_the_deadline<S: SessionStore>(store: &S) {
    let now = now_ms();
    let rec = Record {
        deadline_ms: Some(now + 20_000),
        touched_ms: now - 5_000,
        ..record(60_000)
    };
    let key = created(store, &rec, 20_000).await;
    let touch = slide();
    let first = found(store, &key, &touch).await;
    assert!(first.extended, "activity recorded");
    assert!(first.ttl <= MS(20_000), "never beyond the deadline");
    let again = found(store, &key, &peek()).await;
    assert_eq!(again.record.touched_ms, touch.now_ms);
}

async fn max_idle_exceeded_is_found_but_not_extended<S: SessionStore>(store: &S) {
    let rec = Record {
        touched_ms: now_ms() - 5_000,
        ..record(10_000)
    };
    let key = created(store, &rec, 2_000).await;
    let strict = Touch {
        max_idle: Some(MS(1_000)),
        ..slide()
    };
    let got = found(store, &key, &strict).await;
    assert!(!got.extended);
    assert_eq!(got.ttl, got.ttl_before);
    assert_eq!(got.record, rec);
    let loose = Touch {
        max_idle: Some(MS(60_000)),
        ..slide()
    };
    assert!(found(store, &key, &loose).await.extended);
}

async fn expired_sessions_are_never_resurrected<S: SessionStore>(store: &S) {
    let key = created(store, &record(10_000), 500).await;
    tokio::time::sleep(MS(1_100)).await;
    assert_eq!(store.touch(&key, &slide()).await.expect("touch"), None);
    assert_eq!(store.touch(&key, &peek()).await.expect("touch"), None);
}

async fn touched_moves_only_when_extended<S: SessionStore>(store: &S) {
    let rec = Record {
        touched_ms: now_ms() - 1_000,
        ..record(10_000)
    };
    // 4 s of growth: less than min_step, which is capped at half the idle.
    let key = created(store, &rec, 6_000).await;
    found(store, &key, &peek()).await;
    let skipped = Touch {
        min_step: MS(9_000),
        ..slide()
    };
    assert!(!found(store, &key, &skipped).await.extended);
    let extend = slide();
    let got = found(store, &key, &extend).await;
    assert!(got.extended);
    assert_eq!(
        got.record.touched_ms, rec.touched_ms,
        "the record as before the call"
    );
    let after = found(store, &key, &peek()).await;
    assert_eq!(after.record.touched_ms, extend.now_ms);
    assert_eq!(
        after.record,
        Record {
            touched_ms: extend.now_ms,
            ..rec
        }
    );
}

async fn delete_removes<S: SessionStore>(store: &S) {
    let key = created(store, &record(10_000), 10_000).await;
    assert!(store.delete(&key).await.expect("delete"));
    assert_eq!(store.touch(&key, &peek()).await.expect("touch"), None);
    assert!(!store.delete(&key).await.expect("delete again"));
}

async fn ping_answers<S: SessionStore>(store: &S) {
    store.ping().await.expect("ping");
}

/// Generates `memory::<test>` and `redis::<test>` for each generic test.
/// Session control's index (SPEC §9): handles added, read in full or as a
/// random sample of distinct entries, removed.
async fn index_reads_all_or_a_sample_and_removes<S: SessionStore>(store: &S) {
    let index = key();
    let handle_keys: Vec<String> = (0..20).map(|_| key()).collect();
    for (n, handle_key) in handle_keys.iter().enumerate() {
        let handle = format!("h{n}");
        let entry = IndexEntry {
            index: &index,
            handle: &handle,
            handle_key,
        };
        store
            .index_add(&entry, &format!("id{n}"))
            .await
            .expect("add");
    }
    let all = store.index_entries(&index, None).await.expect("all");
    assert_eq!(all.len(), 20);
    assert!(all.iter().all(|(h, id)| h[1..] == id[2..]), "{all:?}");
    let everything: BTreeSet<_> = all.iter().cloned().collect();
    for _ in 0..5 {
        let sample = store.index_entries(&index, Some(8)).await.expect("sample");
        let distinct: BTreeSet<_> = sample.iter().cloned().collect();
        assert_eq!((sample.len(), distinct.len()), (8, 8), "{sample:?}");
        assert!(distinct.is_subset(&everything));
    }
    let more = store.index_entries(&index, Some(50)).await.expect("sample");
    assert_eq!(more.len(), 20, "a sample never exceeds the index");

    let first = IndexEntry {
        index: &index,
        handle: "h0",
        handle_key: &handle_keys[0],
    };
    assert_eq!(
        store
            .handle_target(&handle_keys[0])
            .await
            .unwrap()
            .as_deref(),
        Some("id0")
    );
    store.index_remove(&first).await.expect("remove");
    assert_eq!(store.handle_target(&handle_keys[0]).await.unwrap(), None);
    assert_eq!(store.index_entries(&index, None).await.unwrap().len(), 19);
    let empty = store.index_entries(&key(), Some(8)).await.unwrap();
    assert!(empty.is_empty(), "a missing index is empty");
}

/// A store on `server`, as the `redis` and `redis_cached` suites use it.
fn redis_store(server: &crate::support::redis::RedisServer) -> sessiongate::store::RedisStore {
    sessiongate::store::RedisStore::connect(&server.url(), Duration::from_secs(2)).expect("connect")
}

/// `store` with `store.client_cache` on, once tracking is set up (before
/// that every touch would go to Redis and the cache would go untested).
async fn cached(store: sessiongate::store::RedisStore) -> sessiongate::store::RedisStore {
    let store = store.with_client_cache("sessiongate:test:", 1_000);
    let start = std::time::Instant::now();
    while !store.client_cache_live() {
        assert!(start.elapsed() < Duration::from_secs(10), "no tracking");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    store
}

macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $test() {
                    let store = sessiongate::store::MemoryStore::new();
                    super::$test(&store).await;
                }
            )*
        }

        mod redis_cached {
            //! The same suite with `store.client_cache` on (and tracking
            //! set up before the test runs).
            $(
                #[tokio::test]
                async fn $test() {
                    let server = crate::support::redis::RedisServer::start();
                    let store = super::cached(super::redis_store(&server)).await;
                    super::$test(&store).await;
                }
            )*
        }

        mod redis {
            $(
                #[tokio::test]
                async fn $test() {
                    let server = crate::support::redis::RedisServer::start();
                    super::$test(&super::redis_store(&server)).await;
                }
            )*
        }
    };
}

conformance!(
    round_trips_every_field,
    index_reads_all_or_a_sample_and_removes,
    create_replaces_the_old_record,
    missing_key_is_none,
    expires_at_its_ttl,
    extend_slides_the_ttl,
    without_extend_the_ttl_never_changes,
    min_step_skips_recent_writes,
    min_step_is_capped_by_half_the_sessions_idle,
    deadline_caps_the_extension,
    session_ends_at_the_deadline_however_active,
    activity_is_recorded_near_the_deadline,
    max_idle_exceeded_is_found_but_not_extended,
    expired_sessions_are_never_resurrected,
    touched_moves_only_when_extended,
    delete_removes,
    ping_answers,
);
