//! `store.client_cache`: hot sessions answered from the gateway's memory,
//! coherent across gateways through Redis's invalidation messages.
//!
//! - repeated checks of one session cost no round trip;
//! - a session ended on gateway B is refused on gateway A within 100 ms of
//!   B's answer, a thousand times over (SPEC §9);
//! - a lost tracking connection drops the cache: a session deleted while
//!   nobody was told is refused once tracking is back.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::StatusCode;

use super::{client, demo_app, get, login};
use crate::support::gateway::{GatewayToml, TestGateway};
use crate::support::redis::RedisServer;

/// A gateway with the client cache on and a slide at most once a minute
/// (the README's production setting), so checks need not write.
async fn cached_gateway(redis: &RedisServer, app: &str) -> TestGateway {
    GatewayToml::new()
        .store(&redis.url())
        .store_keys("client_cache = true")
        .session("idle_timeout = \"10m\"\ntouch_interval = \"60s\"")
        .start(app)
        .await
}

/// The ids of the clients that have key tracking on (flag `t`).
fn tracking_clients(redis: &RedisServer) -> Vec<String> {
    let list: String = redis.query(&["CLIENT", "LIST"]);
    list.lines()
        .filter(|line| {
            line.split(' ')
                .find_map(|field| field.strip_prefix("flags="))
                .is_some_and(|flags| flags.contains('t'))
        })
        .filter_map(|line| line.split(' ').find_map(|f| f.strip_prefix("id=")))
        .map(str::to_owned)
        .collect()
}

/// Waits until `count` gateways track keys, other than the clients in
/// `not`; returns their ids.
async fn await_tracking(redis: &RedisServer, count: usize, not: &[String]) -> Vec<String> {
    let start = Instant::now();
    loop {
        let ids: Vec<String> = tracking_clients(redis)
            .into_iter()
            .filter(|id| !not.contains(id))
            .collect();
        if ids.len() >= count {
            return ids;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no tracking");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn evalsha_calls(redis: &RedisServer) -> u64 {
    let info: String = redis.query(&["INFO", "commandstats"]);
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_evalsha:calls="))
        .map_or(0, |rest| rest.split(',').next().unwrap().parse().unwrap())
}

#[tokio::test]
async fn repeated_checks_of_a_hot_session_make_no_round_trip() {
    let redis = RedisServer::start();
    let app = demo_app().await;
    let gateway = cached_gateway(&redis, &app).await;
    await_tracking(&redis, 1, &[]).await;
    let http = client();
    let cookie = login(&http, &gateway).await;
    let page = get(&http, gateway.url("/"), &cookie).await;
    assert_eq!(page.status, StatusCode::OK);

    let before = evalsha_calls(&redis);
    for _ in 0..20 {
        let page = get(&http, gateway.url("/"), &cookie).await;
        assert_eq!(page.status, StatusCode::OK);
    }
    // The login's own write may void the first fills (its invalidation
    // arrives whenever it arrives); after that, the session is local.
    let round_trips = evalsha_calls(&redis) - before;
    assert!(round_trips <= 2, "{round_trips} round trips for 20 checks");
}

/// SPEC §9: a session ended on one gateway is refused on every gateway
/// within 100 ms. Each round logs in on A, makes A cache the session, logs
/// out on B, then asks A again and again: nothing A answers to a request
/// sent more than 100 ms after B's answer may be accepted.
#[tokio::test]
async fn a_session_ended_on_one_gateway_is_refused_on_the_other_within_100ms() {
    const WORKERS: usize = 20;
    const ROUNDS: usize = 50; // 1,000 logouts in all
    let redis = RedisServer::start();
    let app = demo_app().await;
    let a = Arc::new(cached_gateway(&redis, &app).await);
    let b = Arc::new(cached_gateway(&redis, &app).await);
    await_tracking(&redis, 2, &[]).await;
    let late_accepts = Arc::new(AtomicUsize::new(0));
    let checks_after = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let (a, b) = (a.clone(), b.clone());
        let (late_accepts, checks_after) = (late_accepts.clone(), checks_after.clone());
        workers.push(tokio::spawn(async move {
            let http = client();
            for _ in 0..ROUNDS {
                let cookie = login(&http, &a).await;
                for _ in 0..3 {
                    let page = get(&http, a.url("/"), &cookie).await;
                    assert_eq!(page.status, StatusCode::OK, "before the logout");
                }
                let logout = get(&http, b.url("/.sessiongate/logout"), &cookie).await;
                assert_eq!(logout.status, StatusCode::FOUND);
                let answered = Instant::now();
                let deadline = answered + Duration::from_millis(100);
                loop {
                    let sent = Instant::now();
                    let page = get(&http, a.url("/"), &cookie).await;
                    if sent > deadline {
                        checks_after.fetch_add(1, Ordering::Relaxed);
                        if page.status != StatusCode::FOUND {
                            late_accepts.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    if sent > deadline + Duration::from_millis(20) {
                        break;
                    }
                }
            }
        }));
    }
    for worker in workers {
        worker.await.expect("a worker");
    }
    assert!(checks_after.load(Ordering::Relaxed) >= WORKERS * ROUNDS);
    assert_eq!(
        late_accepts.load(Ordering::Relaxed),
        0,
        "sessions accepted more than 100 ms after their logout"
    );
}

/// Changes made while the tracking connection is down are never heard:
/// the cache is dropped when it is lost, so a session deleted meanwhile is
/// refused once the gateway tracks again.
#[tokio::test]
async fn a_lost_tracking_connection_drops_the_cache() {
    let redis = RedisServer::start();
    let app = demo_app().await;
    let gateway = cached_gateway(&redis, &app).await;
    let first = await_tracking(&redis, 1, &[]).await;
    let http = client();
    let cookie = login(&http, &gateway).await;
    for _ in 0..3 {
        let page = get(&http, gateway.url("/"), &cookie).await;
        assert_eq!(page.status, StatusCode::OK);
    }
    // Cut the tracking connection, then end the session behind the
    // gateway's back: no invalidation reaches anyone.
    let _: i64 = redis.query(&["CLIENT", "KILL", "ID", &first[0]]);
    let id = cookie.split_once('=').expect("name=value").1;
    let deleted: i64 = redis.query(&["DEL", &format!("sessiongate:{id}")]);
    assert_eq!(deleted, 1);
    // Tracking back (a new connection): the gateway dropped its cache
    // before it set tracking up again.
    await_tracking(&redis, 1, &first).await;
    let page = get(&http, gateway.url("/"), &cookie).await;
    assert_eq!(
        page.status,
        StatusCode::FOUND,
        "the deleted session is refused"
    );
}
