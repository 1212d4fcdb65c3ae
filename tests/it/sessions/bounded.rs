//! `store.max_sessions` end to end (issue 19): a login flood through the
//! gateway on a bounded memory store. The user who keeps working keeps
//! her session; the least recently active ones make room, each eviction is
//! counted and logged without an id, and an evicted session's next request
//! is sent to login as an expired one is.

use super::*;
use crate::support::gateway::PUB_ROUTE;
use crate::support::logs::LogCapture;

const BOUND: u64 = 5;
const FLOOD: u64 = 20;

#[tokio::test]
async fn a_login_flood_evicts_the_least_recently_active_session() {
    let logs = LogCapture::start();
    let upstream = TestUpstream::start().await;
    let mut config = GatewayToml::new().routes(PUB_ROUTE).config(&upstream.url());
    config.store.max_sessions = BOUND;
    let env = Env {
        gw: TestGateway::start(config).await,
        upstream,
    };
    let alice = env.login("alice").await;
    let mut logins = vec![alice.id.clone()];
    let idle = env.login("idle").await;
    logins.push(idle.id.clone());
    for n in 0..FLOOD {
        logins.push(env.login(&format!("user{n}")).await.id);
        // Alice keeps working through the flood.
        let ans = env.get("/app", Some(&alice.cookie()), &[]).await;
        ans.assert_forwarded_as("alice");
    }
    env.get("/app", Some(&alice.cookie()), &[])
        .await
        .assert_forwarded_as("alice");
    let gone = env.get("/app", Some(&idle.cookie()), &[]).await;
    gone.assert_login_redirect();
    gone.assert_cookie_cleared();

    let http = Http::new();
    let evictions = http
        .metric(&env.gw, "sessiongate_store_evictions_total")
        .await;
    assert_eq!(evictions, (FLOOD + 2 - BOUND) as f64);
    let expired = http
        .metric(
            &env.gw,
            r#"sessiongate_redirects_total{route="default",reason="expired"}"#,
        )
        .await;
    assert_eq!(expired, 1.0);
    let text = logs.text();
    assert!(
        text.contains("memory store full (store.max_sessions)"),
        "no eviction line in:\n{text}"
    );
    for id in &logins {
        assert!(!text.contains(id.as_str()), "a session id reached the log");
    }
}
