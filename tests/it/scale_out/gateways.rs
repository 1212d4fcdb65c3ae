//! Two gateway instances share every session: on one Redis, and on a
//! Redis Cluster.

use http::StatusCode;
use sessiongate::demo::DEMO_USER;

use super::{client, demo_app, gateway, get, login};
use crate::support::redis::RedisServer;
use crate::support::redis_topology::RedisCluster;

#[tokio::test]
async fn two_gateways_share_sessions() {
    let cluster = RedisCluster::start();
    share_sessions(&cluster.url()).await;
}

#[tokio::test]
async fn two_gateways_share_sessions_on_one_redis() {
    let redis = RedisServer::start();
    share_sessions(&redis.url()).await;
}

/// Log in on A, use on B, log out on B: A sees it ended.
async fn share_sessions(url: &str) {
    let app = demo_app().await;
    let a = gateway(url, "1s", &app).await;
    let b = gateway(url, "1s", &app).await;
    let http = client();

    let cookie = login(&http, &a).await;
    let page = get(&http, a.url("/"), &cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains(DEMO_USER));

    // B never saw the login: the session is in Redis, not in A.
    let page = get(&http, b.url("/"), &cookie).await;
    assert_eq!(page.status, StatusCode::OK, "B serves A's session");
    assert!(page.text().contains(DEMO_USER));

    let logout = get(&http, b.url("/.sessiongate/logout"), &cookie).await;
    assert_eq!(logout.status, StatusCode::FOUND);

    // A sees the logout B made.
    let page = get(&http, a.url("/"), &cookie).await;
    assert_eq!(page.status, StatusCode::FOUND, "A sees the session ended");
    let location = page.location();
    assert!(location.starts_with("/login"), "to login: {location}");
}
