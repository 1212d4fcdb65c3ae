//! The store on a 3-master Redis Cluster: the conformance suite's key
//! behaviours, and sessions spread over every master.

use std::collections::BTreeMap;

use sessiongate::store::{ClusterStore, Record, SessionStore, Touch};

use super::{MS, key, now_ms, record};
use crate::support::records::{create, peek, slide};
use crate::support::redis_topology::RedisCluster;

fn connect(cluster: &RedisCluster) -> ClusterStore {
    ClusterStore::connect(&cluster.url(), MS(2_000)).expect("connect")
}

/// `cmdstat_evalsha` calls on one node.
fn evalsha_calls(cluster: &RedisCluster, node: usize) -> u64 {
    let info: String = cluster.query(node, &["INFO", "commandstats"]);
    info.lines()
        .find_map(|line| line.strip_prefix("cmdstat_evalsha:calls="))
        .and_then(|rest| rest.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

/// The generic conformance tests' behaviours, on one cluster (forming it
/// costs seconds, so the checks share it; each uses its own keys).
#[tokio::test]
async fn the_store_contract_holds_on_a_cluster() {
    let cluster = RedisCluster::start();
    let store = connect(&cluster);
    store.ping().await.expect("ping reaches every master");

    // round trip of every field, and create replaces the old record
    let k = key();
    let full = Record {
        user: Some("bob with spaces, ünicode".to_owned()),
        deadline_ms: Some(now_ms() + 60_000),
        browser: true,
        ..record(7_000)
    };
    create(&store, &k, &full, 5_000).await;
    let got = store.touch(&k, &peek()).await.unwrap().expect("found");
    assert_eq!(got.record, full);
    assert!(!got.extended);
    assert!(got.ttl_before <= MS(5_000) && got.ttl_before >= MS(4_000));
    let plain = Record {
        user: None,
        ..record(3_000)
    };
    create(&store, &k, &plain, 3_000).await;
    let got = store.touch(&k, &peek()).await.unwrap().expect("found");
    assert_eq!(got.record, plain, "no field of the old record survives");

    // missing keys are None, never an error
    assert_eq!(store.touch(&key(), &slide()).await.unwrap(), None);

    // extend slides to idle; min_step skips small growth (4 s, less than
    // min_step capped at half the idle); touched moves
    let k = key();
    create(&store, &k, &record(10_000), 6_000).await;
    let step = Touch {
        min_step: MS(9_000),
        ..slide()
    };
    assert!(!store.touch(&k, &step).await.unwrap().unwrap().extended);
    let touch = slide();
    let got = store.touch(&k, &touch).await.unwrap().unwrap();
    assert!(got.extended);
    assert_eq!(got.ttl, MS(10_000));
    let after = store.touch(&k, &peek()).await.unwrap().unwrap();
    assert_eq!(after.record.touched_ms, touch.now_ms);
    assert!(after.ttl_before >= MS(9_000));

    // the deadline caps the extension
    let k = key();
    let deadline = now_ms() + 2_000;
    let capped = Record {
        deadline_ms: Some(deadline),
        ..record(10_000)
    };
    create(&store, &k, &capped, 1_000).await;
    let touch = slide();
    let got = store.touch(&k, &touch).await.unwrap().unwrap();
    assert_eq!(got.ttl, MS(deadline - touch.now_ms));

    // a stricter route limit: found, not extended
    let k = key();
    let stale = Record {
        touched_ms: now_ms() - 5_000,
        ..record(10_000)
    };
    create(&store, &k, &stale, 2_000).await;
    let strict = Touch {
        max_idle: Some(MS(1_000)),
        ..slide()
    };
    assert!(!store.touch(&k, &strict).await.unwrap().unwrap().extended);

    // external mode: a foreign key's TTL, value untouched
    let k = key();
    let owner = cluster
        .ports()
        .iter()
        .position(|&p| p == cluster.owner_of(&k))
        .expect("owner is a node");
    let () = cluster.query(owner, &["SET", &k, "opaque", "PX", "1000"]);
    let got = store
        .touch_foreign(&k, MS(10_000), &slide())
        .await
        .unwrap()
        .expect("found");
    assert!(got.extended);
    assert_eq!(got.ttl, Some(MS(10_000)));
    let value: String = cluster.query(owner, &["GET", &k]);
    assert_eq!(value, "opaque");

    // delete, and expiry at the TTL without resurrection
    let k = key();
    store.create(&k, &record(10_000), MS(10_000)).await.unwrap();
    assert!(store.delete(&k).await.unwrap());
    assert!(!store.delete(&k).await.unwrap());
    assert_eq!(store.touch(&k, &peek()).await.unwrap(), None);
    let k = key();
    store.create(&k, &record(10_000), MS(500)).await.unwrap();
    tokio::time::sleep(MS(1_100)).await;
    assert_eq!(store.touch(&k, &slide()).await.unwrap(), None);
}

/// 30 sessions land on all three masters (by `CLUSTER KEYSLOT` and
/// `CLUSTER NODES`), each is found through the store, and each touch is
/// one `EVALSHA` on its key's master.
#[tokio::test]
async fn sessions_spread_over_every_master() {
    let cluster = RedisCluster::start();
    let store = connect(&cluster);
    let keys: Vec<String> = (0..30).map(|_| key()).collect();
    for k in &keys {
        store
            .create(k, &record(30_000), MS(30_000))
            .await
            .expect("create");
    }
    let ports = cluster.ports();
    let mut per_node: BTreeMap<usize, u64> = BTreeMap::new();
    for k in &keys {
        let owner = ports
            .iter()
            .position(|&p| p == cluster.owner_of(k))
            .expect("owner is a node");
        let exists: i64 = cluster.query(owner, &["EXISTS", k]);
        assert_eq!(exists, 1, "the key lives on its slot's master");
        *per_node.entry(owner).or_default() += 1;
    }
    eprintln!("sessions per master: {per_node:?}");
    assert_eq!(
        per_node.len(),
        3,
        "every master holds sessions: {per_node:?}"
    );

    // Load the script everywhere first, then count only the touches.
    store
        .touch(&keys[0], &peek())
        .await
        .unwrap()
        .expect("found");
    for node in 0..3 {
        let () = cluster.query(node, &["CONFIG", "RESETSTAT"]);
    }
    for k in &keys {
        let got = store.touch(k, &slide()).await.unwrap().expect("found");
        assert_eq!(got.record.user.as_deref(), Some("alice"));
    }
    for (&node, &count) in &per_node {
        assert_eq!(
            evalsha_calls(&cluster, node),
            count,
            "one EVALSHA per touch, on the key's master"
        );
    }
}
