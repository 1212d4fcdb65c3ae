//! A Sentinel failover under a steady request loop through the gateway.

use std::time::{Duration, Instant};

use http::StatusCode;
use sessiongate::demo::DEMO_USER;
use sessiongate::store::{SentinelStore, SessionStore};

use super::{MS, client, demo_app, gateway, get, key, login, record};
use crate::support::records::{peek, until};
use crate::support::redis_topology::RedisSentinel;

/// The request loop's pace, and its bounds in count and time.
const PACE: Duration = Duration::from_millis(50);
const MAX_REQUESTS: usize = 600;
const MAX_FAILOVER: Duration = Duration::from_secs(30);

/// The store resolves the master through the sentinels before any request.
#[tokio::test]
async fn the_store_finds_the_master_through_the_sentinels() {
    let topology = RedisSentinel::start();
    let store = SentinelStore::connect(&topology.url(), MS(500)).expect("connect");
    until("ready", async || store.ping().await.is_ok()).await;
    let k = key();
    store
        .create(&k, &record(10_000), MS(10_000))
        .await
        .expect("create");
    let on_master: i64 =
        crate::support::redis_topology::query(topology.master_port(), &["EXISTS", &k]);
    assert_eq!(on_master, 1, "written on the master the sentinels name");
    let found = store.touch(&k, &peek()).await.unwrap();
    assert!(found.is_some());
}

/// 500 requests failing at once while the master is gone ask the
/// sentinels a handful of times, not 500 (one re-resolution at a time, at
/// most one per 100 ms).
#[tokio::test]
async fn failing_requests_do_not_stampede_the_sentinels() {
    let mut topology = RedisSentinel::start();
    let store = SentinelStore::connect(&topology.url(), MS(100)).expect("connect");
    until("ready", async || store.ping().await.is_ok()).await;
    let before = topology.sentinel_commands();
    let started = Instant::now();
    topology.kill_master();
    for _ in 0..5 {
        let pings = (0..100).map(|_| store.ping());
        let results = futures_util::future::join_all(pings).await;
        assert!(results.iter().all(Result::is_err), "the master is gone");
    }
    let elapsed = started.elapsed();
    let asked = topology.sentinel_commands() - before;
    eprintln!(
        "500 failed pings in {} ms: the sentinels processed {asked} commands",
        elapsed.as_millis()
    );
    // Per re-resolution redis-rs sends at most a few commands to each of
    // the 3 sentinels; the sentinels' own chatter adds a few per second.
    let resolutions = u64::try_from(elapsed.as_millis() / 100).unwrap() + 2;
    assert!(
        asked <= resolutions * 3 * 3 + 30,
        "{asked} sentinel commands for {resolutions} possible re-resolutions"
    );
}

/// Kill the master: sessions survive on the promoted replica, requests in
/// the switch get 503 (never a login redirect), then 200 again.
#[tokio::test]
async fn a_failover_keeps_sessions_and_answers_503_meanwhile() {
    let mut topology = RedisSentinel::start();
    let app = demo_app().await;
    let gw = gateway(&topology.url(), "200ms", &app).await;
    let http = client();
    until("ready", async || {
        get(&http, gw.admin_url("/readyz"), "").await.status == StatusCode::OK
    })
    .await;

    let cookie = login(&http, &gw).await;
    assert_eq!(
        get(&http, gw.url("/"), &cookie).await.status,
        StatusCode::OK
    );
    // The replica has the session (and its last slide) before the kill.
    topology.wait_replicated();
    let old_master = topology.master_port();

    topology.kill_master();
    let killed = Instant::now();
    let mut failed = 0usize;
    let mut recovered = None;
    for _ in 0..MAX_REQUESTS {
        let page = get(&http, gw.url("/"), &cookie).await;
        let headers = &page.headers;
        match page.status {
            StatusCode::OK => {
                assert!(page.text().contains(DEMO_USER), "the same session");
                recovered = Some(killed.elapsed());
                break;
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(
                    headers.get("set-cookie").is_none(),
                    "an outage cleared the cookie"
                );
                assert!(
                    headers.get("retry-after").is_some(),
                    "503 without Retry-After"
                );
                failed += 1;
            }
            other => panic!("during the failover: {other} (never a logout)"),
        }
        assert!(
            killed.elapsed() < MAX_FAILOVER,
            "no failover within {MAX_FAILOVER:?}"
        );
        tokio::time::sleep(PACE).await;
    }
    let recovered = recovered.expect("served again within the request bound");
    // The sentinels need `down-after-milliseconds` (1 s) to agree that the
    // master is gone: requests in that window must have been answered 503.
    assert!(
        failed > 0,
        "no request saw the failover: the test proved nothing"
    );
    eprintln!(
        "sentinel failover: first 200 {} ms after the kill; {failed} requests answered 503 \
         (one request every {} ms)",
        recovered.as_millis(),
        PACE.as_millis()
    );
    assert_ne!(topology.current_master_port(), old_master, "a new master");
    assert_eq!(topology.current_master_port(), topology.replica_port());
    for _ in 0..10 {
        let page = get(&http, gw.url("/"), &cookie).await;
        assert_eq!(page.status, StatusCode::OK, "steady after the failover");
        assert!(page.text().contains(DEMO_USER));
    }
    // Logout still works on the new master.
    let _ = get(&http, gw.url("/.sessiongate/logout"), &cookie).await;
    assert_eq!(
        get(&http, gw.url("/"), &cookie).await.status,
        StatusCode::FOUND
    );
}
