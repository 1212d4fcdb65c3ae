//! Behaviour only the Redis store has: external-mode keys owned by the
//! application, the one-round-trip guarantee, the hash an operator reads,
//! and outages (stalled, killed, not yet started).

use std::time::{Duration, Instant};

use sessiongate::config::StoreConfig;
use sessiongate::store::{ForeignFound, RedisStore, SessionStore, Store, StoreError, Touch};

use super::{MS, assert_within, created, found, key, peek, record, slide};
use crate::support::records::until;
use crate::support::redis::RedisServer;

/// `touch_foreign` with a 10 s idle timeout, as external mode calls it.
async fn foreign(store: &RedisStore, key: &str, touch: &Touch) -> Option<ForeignFound> {
    let idle = MS(10_000);
    store
        .touch_foreign(key, idle, touch)
        .await
        .expect("touch_foreign")
}

fn connect(server: &RedisServer, op_timeout: Duration) -> RedisStore {
    RedisStore::connect(&server.url(), op_timeout).expect("connect")
}

/// A fresh redis-server and a store on it with a 2 s `op_timeout`.
fn started() -> (RedisServer, RedisStore) {
    let server = RedisServer::start();
    let store = connect(&server, MS(2_000));
    (server, store)
}

/// The `PTTL` of `key` on `server`, in ms.
fn pttl_of(server: &RedisServer, key: &str) -> i64 {
    server.query(&["PTTL", key])
}

/// Polls `ping` until it succeeds; panics after 15 s.
async fn until_ready<S: SessionStore>(store: &S) {
    until("store recovered", async || store.ping().await.is_ok()).await;
}

/// `cmdstat_<name>` lines of `INFO commandstats` as (command, calls).
fn command_calls(server: &RedisServer) -> Vec<(String, u64)> {
    let info: String = server.query(&["INFO", "commandstats"]);
    info.lines()
        .filter_map(|line| {
            let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = stats
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect()
}

/// The calls of `name` among `calls` (from [`command_calls`]).
fn calls_of(calls: &[(String, u64)], name: &str) -> u64 {
    calls.iter().find(|(n, _)| n == name).map_or(0, |(_, c)| *c)
}

#[tokio::test]
async fn foreign_extends_a_string_key_without_touching_its_value() {
    let (server, store) = started();
    let key = key();
    let mut conn = server.connection();
    let value: &[u8] = b"\x80\x04django pickle\x00\xff bytes";
    let () = ::redis::cmd("SET")
        .arg(&key)
        .arg(value)
        .arg("PX")
        .arg(1_000)
        .query(&mut conn)
        .expect("SET");

    let got = foreign(&store, &key, &slide()).await.expect("found");
    assert!(got.extended);
    assert!(got.ttl_before.is_some_and(|t| t <= MS(1_000) && t > MS(0)));
    assert_eq!(got.ttl, Some(MS(10_000)));
    let pttl = pttl_of(&server, &key);
    assert!((9_000..=10_000).contains(&pttl), "PTTL {pttl}");
    let stored: Vec<u8> = ::redis::cmd("GET").arg(&key).query(&mut conn).expect("GET");
    assert_eq!(stored, value, "value unchanged byte for byte");
}

#[tokio::test]
async fn foreign_works_for_any_key_type() {
    let (server, store) = started();
    let key = key();
    let _: i64 = server.query(&["RPUSH", &key, "a", "b"]);
    let _: bool = server.query(&["PEXPIRE", &key, "1000"]);
    let got = foreign(&store, &key, &slide()).await.expect("found");
    assert!(got.extended);
    let len: i64 = server.query(&["LLEN", &key]);
    assert_eq!(len, 2);
}

#[tokio::test]
async fn foreign_never_shortens_and_respects_extend_and_min_step() {
    let (server, store) = started();
    let key = key();
    let _: () = server.query(&["SET", &key, "v", "PX", "20000"]);
    let got = foreign(&store, &key, &slide()).await.expect("found");
    assert!(!got.extended, "never shortens");
    assert_eq!(got.ttl, got.ttl_before);
    let pttl = pttl_of(&server, &key);
    assert!(pttl > 19_000, "PTTL {pttl}");

    let _: () = server.query(&["SET", &key, "v", "PX", "8000"]);
    let min_step = Touch {
        min_step: MS(5_000),
        ..slide()
    };
    let step = foreign(&store, &key, &min_step).await.expect("found");
    assert!(!step.extended, "min_step");
    let extend_off = Touch {
        extend: false,
        ..slide()
    };
    let off = foreign(&store, &key, &extend_off).await.expect("found");
    assert!(!off.extended, "extend off");
    let pttl = pttl_of(&server, &key);
    assert!(pttl <= 8_000, "PTTL {pttl}");
}

/// A route's stricter idle limit is checked in the same round trip: a key
/// idle longer than it (idle minus its TTL) is found but not extended.
#[tokio::test]
async fn foreign_max_idle_is_checked_in_the_same_round_trip() {
    let (server, store) = started();
    let key = key();
    // Idle for ~4 s of a 10 s idle timeout.
    let _: () = server.query(&["SET", &key, "v", "PX", "6000"]);
    let max_idle = |ms| Touch {
        max_idle: Some(MS(ms)),
        ..slide()
    };
    let strict = foreign(&store, &key, &max_idle(3_000))
        .await
        .expect("found");
    assert!(!strict.extended, "too idle for the route: not slid");
    let pttl = pttl_of(&server, &key);
    assert!(pttl <= 6_000, "PTTL {pttl}");
    let lenient = foreign(&store, &key, &max_idle(5_000))
        .await
        .expect("found");
    assert!(lenient.extended, "within the route's limit: slid");
    assert_eq!(lenient.ttl, Some(MS(10_000)));
}

#[tokio::test]
async fn foreign_leaves_a_key_without_expiry_alone() {
    let (server, store) = started();
    let key = key();
    let _: () = server.query(&["SET", &key, "forever"]);
    let got = foreign(&store, &key, &slide()).await.expect("found");
    assert_eq!(got.ttl_before, None);
    assert_eq!(got.ttl, None);
    assert!(!got.extended);
    let pttl = pttl_of(&server, &key);
    assert_eq!(pttl, -1);
}

#[tokio::test]
async fn foreign_missing_key_is_none() {
    let (_server, store) = started();
    assert_eq!(foreign(&store, &key(), &slide()).await, None);
}

#[tokio::test]
async fn record_is_a_hash_an_operator_can_read() {
    let (server, store) = started();
    let rec = sessiongate::store::Record {
        deadline_ms: Some(1_900_000_000_000),
        browser: true,
        ..record(300_000)
    };
    let key = created(&store, &rec, 300_000).await;
    let mut fields: Vec<(String, String)> = server.query(&["HGETALL", &key]);
    fields.sort();
    let expected = [
        ("browser", "1".to_owned()),
        ("deadline", "1900000000000".to_owned()),
        ("expires", (rec.touched_ms + 300_000).to_string()),
        ("idle", "300000".to_owned()),
        ("started", rec.started_ms.to_string()),
        ("touched", rec.touched_ms.to_string()),
        ("user", "alice".to_owned()),
    ]
    .map(|(k, v)| (k.to_owned(), v));
    assert_eq!(fields, expected);
    let pttl = pttl_of(&server, &key);
    assert!((299_000..=300_000).contains(&pttl), "PTTL {pttl}");
}

/// One protected request = one store round trip: each `touch` is a single
/// `EVALSHA` (the commands listed under it run inside the script).
#[tokio::test]
async fn one_command_per_touch() {
    let (server, store) = started();
    let key = created(&store, &record(10_000), 2_000).await;
    found(&store, &key, &peek()).await; // loads the script once
    let _: () = server.query(&["CONFIG", "RESETSTAT"]);
    for i in 0..10 {
        let touch = if i % 2 == 0 { slide() } else { peek() };
        found(&store, &key, &touch).await;
    }
    let calls = command_calls(&server);
    eprintln!("commands after 10 touches: {calls:?}");
    let count = |name: &str| calls_of(&calls, name);
    assert_eq!(count("evalsha"), 10, "one EVALSHA per touch: {calls:?}");
    assert_eq!(count("eval"), 0, "{calls:?}");
    assert_eq!(count("script|load"), 0, "{calls:?}");
    // Everything else ran inside those scripts (or is this test's own
    // CONFIG RESETSTAT / INFO).
    let client_side: u64 = calls
        .iter()
        .filter(|(n, _)| !matches!(n.as_str(), "hmget" | "pttl" | "pexpire" | "hset"))
        .filter(|(n, _)| !n.starts_with("config") && !n.starts_with("info"))
        .map(|(_, c)| c)
        .sum();
    assert_eq!(client_side, 10, "{calls:?}");

    foreign(
        &store,
        &key,
        &Touch {
            extend: false,
            ..slide()
        },
    )
    .await;
    let _: () = server.query(&["CONFIG", "RESETSTAT"]);
    for _ in 0..5 {
        foreign(&store, &key, &slide()).await;
    }
    let calls = command_calls(&server);
    eprintln!("commands after 5 foreign touches: {calls:?}");
    let count = |name: &str| calls_of(&calls, name);
    assert_eq!(
        count("evalsha"),
        5,
        "one EVALSHA per foreign touch: {calls:?}"
    );
    assert_eq!(count("script|load"), 0, "{calls:?}");
}

/// A session as the gateway writes it (TTL = idle, the `expires` field
/// matching) is read with one `HMGET` inside the script, no `PTTL`; so is
/// one it has just slid.
#[tokio::test]
async fn a_touch_reads_the_ttl_from_the_record_without_pttl() {
    let (server, store) = started();
    let key = created(&store, &record(10_000), 10_000).await;
    found(&store, &key, &peek()).await; // loads the script once
    let _: () = server.query(&["CONFIG", "RESETSTAT"]);
    tokio::time::sleep(MS(20)).await;
    let got = found(&store, &key, &slide()).await;
    assert!(got.extended, "{got:?}");
    assert_within(got.ttl_before, 8_000, 9_990);
    for _ in 0..4 {
        let got = found(&store, &key, &peek()).await;
        assert_within(got.ttl_before, 9_000, 10_000);
    }
    assert_eq!(
        calls_of(&command_calls(&server), "pttl"),
        0,
        "{:?}",
        command_calls(&server)
    );
    assert_eq!(calls_of(&command_calls(&server), "hmget"), 5);
    assert_eq!(
        calls_of(&command_calls(&server), "hset"),
        1,
        "the slide writes touched + expires"
    );
    let pttl = pttl_of(&server, &key);
    assert!((9_000..=10_000).contains(&pttl), "PTTL {pttl}");
}

/// A gateway older than the `expires` field slides a session without
/// updating it: the record no longer says when it expires, and the script
/// reads `PTTL` instead, so both versions can share a Redis.
#[tokio::test]
async fn a_record_an_older_gateway_slid_is_read_with_pttl() {
    let (server, store) = started();
    let key = created(&store, &record(10_000), 10_000).await;
    tokio::time::sleep(MS(50)).await;
    // What an older gateway's slide writes: touched and the TTL, no expires.
    let now = crate::support::records::now_ms().to_string();
    let _: i64 = server.query(&["HSET", &key, "touched", &now]);
    let _: bool = server.query(&["PEXPIRE", &key, "3000"]);
    let _: () = server.query(&["CONFIG", "RESETSTAT"]);
    let got = found(&store, &key, &peek()).await;
    assert_within(got.ttl_before, 2_000, 3_000);
    assert_eq!(calls_of(&command_calls(&server), "pttl"), 1);
    // The next slide writes a record that says it again.
    let got = found(&store, &key, &slide()).await;
    assert_eq!(got.ttl, MS(10_000));
    let _: () = server.query(&["CONFIG", "RESETSTAT"]);
    let got = found(&store, &key, &peek()).await;
    assert_within(got.ttl_before, 9_000, 10_000);
    assert_eq!(calls_of(&command_calls(&server), "pttl"), 0);
    // A record without the field at all (written before it existed) too.
    let _: i64 = server.query(&["HDEL", &key, "expires"]);
    let _: bool = server.query(&["PEXPIRE", &key, "4000"]);
    let got = found(&store, &key, &peek()).await;
    assert_within(got.ttl_before, 3_000, 4_000);
}

/// Past `expires` by the gateway's clock the session is over, even in the
/// few ms before Redis (whose TTL started a little later) removes the key;
/// and it is not slid back to life.
#[tokio::test]
async fn a_session_past_its_expires_is_refused_before_redis_drops_it() {
    let (server, store) = started();
    let key = created(&store, &record(2_000), 2_000).await;
    let later = Touch {
        now_ms: crate::support::records::now_ms() + 2_000,
        ..slide()
    };
    assert_eq!(store.touch(&key, &later).await.expect("touch"), None);
    let pttl = pttl_of(&server, &key);
    assert!((0..=2_000).contains(&pttl), "not extended: PTTL {pttl}");
}

#[tokio::test]
async fn a_stalled_redis_times_out_then_recovers() {
    let server = RedisServer::start();
    let op_timeout = MS(200);
    let store = connect(&server, op_timeout);
    let key = created(&store, &record(30_000), 30_000).await;
    found(&store, &key, &peek()).await;

    server.pause();
    let started = Instant::now();
    let result = store.touch(&key, &slide()).await;
    let took = started.elapsed();
    assert!(matches!(result, Err(StoreError::Timeout)), "{result:?}");
    assert!(took < op_timeout + MS(500), "took {took:?}");
    assert!(matches!(store.ping().await, Err(StoreError::Timeout)));
    server.resume();

    until_ready(&store).await;
    let got = found(&store, &key, &peek()).await;
    assert_eq!(got.record.user.as_deref(), Some("alice"), "session intact");
}

#[tokio::test]
async fn a_killed_redis_is_an_error_and_a_restarted_one_recovers() {
    let mut server = RedisServer::start();
    let store = connect(&server, MS(200));
    let key = created(&store, &record(30_000), 30_000).await;

    server.kill();
    let result = store.touch(&key, &slide()).await;
    assert!(
        result.is_err(),
        "an outage is an error, never `no session`: {result:?}"
    );
    assert!(store.ping().await.is_err());

    server.restart();
    until_ready(&store).await;
    store
        .create(&key, &record(30_000), MS(30_000))
        .await
        .expect("create");
    found(&store, &key, &slide()).await;
}

#[tokio::test]
async fn open_succeeds_before_redis_starts() {
    let mut server = RedisServer::start();
    server.kill();
    let config = StoreConfig {
        url: server.url(),
        key_prefix: "sessiongate:".to_owned(),
        op_timeout: MS(200),
        ca_file: None,
        client_cache: None,
        max_sessions: 1_000_000,
    };
    let store = Store::open(&config)
        .await
        .expect("open while Redis is down");
    assert!(store.ping().await.is_err());
    assert!(store.touch(&key(), &peek()).await.is_err());

    server.restart();
    until_ready(&store).await;
    let key = created(&store, &record(10_000), 10_000).await;
    found(&store, &key, &peek()).await;
}

#[tokio::test]
async fn unix_socket_urls_work() {
    let server = RedisServer::start_unix();
    let url = server.url();
    assert!(url.starts_with("redis+unix:///"), "{url}");
    let plain_unix = url.replacen("redis+unix://", "unix://", 1);
    for url in [url, plain_unix] {
        let store = RedisStore::connect(&url, MS(2_000)).expect("connect");
        let key = created(&store, &record(10_000), 2_000).await;
        assert!(found(&store, &key, &slide()).await.extended);
    }
}

#[tokio::test]
async fn open_chooses_the_store_by_scheme() {
    let memory = StoreConfig {
        url: "memory://".to_owned(),
        key_prefix: String::new(),
        op_timeout: MS(100),
        ca_file: None,
        client_cache: None,
        max_sessions: 1_000_000,
    };
    assert!(matches!(Store::open(&memory).await, Ok(Store::Memory(_))));
    // Sentinel and Cluster open without waiting for their (absent) nodes.
    for url in [
        "redis+sentinel://127.0.0.1:1,127.0.0.1:2/mymaster/0",
        "redis+cluster://127.0.0.1:1,127.0.0.1:2",
    ] {
        let config = StoreConfig {
            url: url.to_owned(),
            ..memory.clone()
        };
        assert!(
            matches!(
                Store::open(&config).await,
                Ok(Store::Sentinel(_) | Store::Cluster(_))
            ),
            "{url}"
        );
    }
    let bad = StoreConfig {
        url: "redis://[::1".to_owned(),
        ..memory
    };
    assert!(matches!(Store::open(&bad).await, Err(StoreError::Redis(_))));
}
