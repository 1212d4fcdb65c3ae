//! The memory store's bound (`store.max_sessions`, issue 19): a login flood
//! never grows it past the bound; the least recently active sessions make
//! room, the active ones stay, and the per-user index follows.

use prometheus_client::metrics::counter::Counter;
use sessiongate::store::{IndexEntry, MemoryStore, SessionStore};

use crate::support::records::{create, found, peek, record, slide};

const PREFIX: &str = "sessiongate:";
const BOUND: u64 = 100;
/// Sessions a user keeps using throughout the flood.
const ACTIVE: usize = 10;
const FLOOD: usize = 2_000;

fn key(n: usize) -> String {
    format!("{PREFIX}flood{n}")
}

/// Logs session `n` in: its record, and its entry in alice's index.
async fn login(store: &MemoryStore, n: usize) {
    create(store, &key(n), &record(600_000), 600_000).await;
    let (handle, handle_key) = (format!("h{n}"), format!("{PREFIX}handle:h{n}"));
    let entry = IndexEntry {
        index: "sessiongate:user:alice",
        handle: &handle,
        handle_key: &handle_key,
    };
    store
        .index_add(&entry, &format!("flood{n}"))
        .await
        .expect("index");
}

#[tokio::test]
async fn a_login_flood_evicts_the_least_recently_active_and_keeps_the_bound() {
    let evictions = Counter::default();
    let store = MemoryStore::bounded(BOUND, PREFIX, evictions.clone());
    for n in 0..ACTIVE {
        login(&store, n).await;
    }
    for n in ACTIVE..FLOOD {
        login(&store, n).await;
        // The active users keep making requests between the logins.
        if n % 10 == 0 {
            for active in 0..ACTIVE {
                found(&store, &key(active), &slide()).await;
            }
        }
        assert!(
            store.len() <= BOUND,
            "{} sessions after login {n}",
            store.len()
        );
    }
    assert_eq!(store.len(), BOUND);
    assert_eq!(evictions.get(), (FLOOD as u64) - BOUND);
    for active in 0..ACTIVE {
        found(&store, &key(active), &peek()).await;
    }
    // The newest logins are there; the oldest inactive ones are gone.
    found(&store, &key(FLOOD - 1), &peek()).await;
    for gone in ACTIVE..FLOOD - 200 {
        let left = store.touch(&key(gone), &peek()).await.expect("touch");
        assert!(left.is_none(), "inactive session {gone} survived the flood");
    }
    // The index lists only sessions still there: never more than the bound.
    let index = store
        .index_entries("sessiongate:user:alice", None)
        .await
        .expect("index");
    assert_eq!(index.len() as u64, BOUND, "{} index entries", index.len());
    for (_handle, id) in &index {
        let key = format!("{PREFIX}{id}");
        assert!(store.touch(&key, &peek()).await.unwrap().is_some(), "{id}");
    }
    let evicted = format!("{PREFIX}handle:h{}", ACTIVE);
    assert_eq!(store.handle_target(&evicted).await.unwrap(), None);
}
