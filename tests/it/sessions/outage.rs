//! A store outage logs nobody out: 503 with `Retry-After`, no cookie
//! change, public routes unaffected, and recovery without a restart.

use super::*;

fn assert_unavailable(ans: &Answer) {
    assert_eq!(
        ans.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        ans.body
    );
    assert!(ans.headers.contains_key("retry-after"), "{:?}", ans.headers);
    assert!(ans.set_cookies().is_empty(), "{:?}", ans.set_cookies());
}

/// A gateway on a fresh redis-server that gives up on the store after
/// 200 ms, and alice logged in (her cookie).
async fn alice_with_200ms_op_timeout() -> (RedisServer, Env, String) {
    let redis = RedisServer::start();
    let env = Setup::new(&redis.url()).op_timeout("200ms").start().await;
    let cookie = env.login("alice").await.cookie();
    (redis, env, cookie)
}

#[tokio::test]
async fn a_paused_store_answers_503_and_the_session_survives() {
    let (redis, env, cookie) = alice_with_200ms_op_timeout().await;
    env.get("/", Some(&cookie), &[])
        .await
        .assert_forwarded_as("alice");

    redis.pause();
    let started = Instant::now();
    let ans = env.get("/", Some(&cookie), &[]).await;
    let took = started.elapsed();
    assert_unavailable(&ans);
    // op_timeout (200 ms) plus 1 s of margin; not a performance check,
    // only proof that the gateway gave up on the store at op_timeout.
    let op_timeout = Duration::from_millis(200);
    assert!(took < op_timeout + Duration::from_secs(1), "took {took:?}");
    let ans = request(
        Method::GET,
        env.url("/x"),
        &[("accept", "application/json"), ("cookie", &cookie)],
        "",
    )
    .await;
    assert_unavailable(&ans);
    let ans = env.get("/pub/x", Some(&cookie), &[]).await;
    assert_eq!(ans.status, StatusCode::OK);
    redis.resume();

    env.get("/", Some(&cookie), &[])
        .await
        .assert_forwarded_as("alice");
}

#[tokio::test]
async fn a_killed_store_answers_503_and_a_restart_recovers() {
    let (mut redis, env, cookie) = alice_with_200ms_op_timeout().await;
    redis.kill();
    assert_unavailable(&env.get("/", Some(&cookie), &[]).await);
    assert_eq!(env.get("/pub/x", None, &[]).await.status, StatusCode::OK);
    redis.restart();
    // The gateway reconnects by itself: retry the login for a while.
    let deadline = Instant::now() + Duration::from_secs(15);
    let id = loop {
        let ans = request(Method::POST, env.url("/login?user=bob"), &[], "").await;
        if let Some(c) = ans
            .set_cookies()
            .into_iter()
            .find(|c| c.starts_with("sessiongate=") && !c.starts_with("sessiongate=;"))
        {
            break c["sessiongate=".len()..]
                .split(';')
                .next()
                .unwrap()
                .to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "the gateway never recovered: {}",
            ans.status
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    env.get("/", Some(&format!("sessiongate={id}")), &[])
        .await
        .assert_forwarded_as("bob");
    // The old session died with the old server's data: refused, not 503.
    env.get("/", Some(&cookie), &[])
        .await
        .assert_login_redirect();
}

/// After a few seconds down, with requests failing all along (the
/// reconnection backoff grown to its longest), a restarted Redis serves a
/// login within 1 s of answering again (the chaos soak's recovery bound;
/// the backoff used to grow to 1 s pauses).
#[tokio::test]
async fn a_store_back_after_a_long_outage_serves_within_1s() {
    let (mut redis, env, _) = alice_with_200ms_op_timeout().await;
    redis.kill();
    let down = Instant::now();
    while down.elapsed() < Duration::from_secs(4) {
        assert_unavailable(&request(Method::POST, env.url("/login?user=bob"), &[], "").await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    redis.restart();
    let back = Instant::now();
    loop {
        let ans = request(Method::POST, env.url("/login?user=bob"), &[], "").await;
        if ans.status == StatusCode::OK {
            break;
        }
        assert_unavailable(&ans);
        assert!(
            back.elapsed() < Duration::from_secs(1),
            "still 503 {:?} after Redis was back",
            back.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn endpoints_and_login_during_an_outage_log_nobody_out() {
    let (redis, env, cookie) = alice_with_200ms_op_timeout().await;
    redis.pause();
    let ans = request(
        Method::POST,
        env.url("/.sessiongate/refresh"),
        &[("cookie", &cookie)],
        "",
    )
    .await;
    assert_unavailable(&ans);
    assert_unavailable(&env.get("/.sessiongate/session", Some(&cookie), &[]).await);
    // A login the store cannot record is not announced as a session.
    let ans = request(Method::POST, env.url("/login?user=bob"), &[], "").await;
    assert_unavailable(&ans);
    redis.resume();
    env.get("/", Some(&cookie), &[])
        .await
        .assert_forwarded_as("alice");
    // A logout the store cannot confirm says so (the queued delete may
    // still land once the store answers again).
    redis.pause();
    assert_unavailable(&env.get("/.sessiongate/logout", Some(&cookie), &[]).await);
    redis.resume();
}
