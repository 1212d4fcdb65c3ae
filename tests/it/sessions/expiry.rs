//! Expiry over time: fixed and sliding idle timeouts, the absolute cap,
//! `max-age`, browser sessions, route limits and `touch_interval`.

use super::*;

/// The seed's Django table, time-scaled (idle 2 s, not sliding): the seed's
/// 299 s and 301 s of 300 s become idle - 0.5 s and idle + 0.5 s.
async fn django_table(store_url: &str) {
    let env = Setup::new(store_url)
        .session(
            r#"idle_timeout = "2s"
            sliding = false
            cookie_path = "/app""#,
        )
        .start()
        .await;
    let login = env.login("alice").await;
    // At most 1.5 s after the session was created: 0.5 s to spare.
    at(login.before, 1.5).await;
    env.get("/app", Some(&login.cookie()), &[])
        .await
        .assert_forwarded_as("alice");
    // At least 2.5 s after it was created: 0.5 s past the limit.
    at(login.after, 2.5).await;
    let ans = env.get("/app?x=1", Some(&login.cookie()), &[]).await;
    assert_eq!(ans.assert_login_redirect(), "/login?next=/app%3Fx%3D1");
    let cleared = ans.session_cookie();
    assert!(cleared.starts_with("sessiongate=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // Deleted with the Path (and Domain) it was set with.
    assert_eq!(
        attribute(&cleared, "Path"),
        attribute(&login.set_cookie, "Path")
    );
    assert_eq!(attribute(&cleared, "Path").as_deref(), Some("/app"));
    assert_eq!(
        attribute(&cleared, "Domain"),
        attribute(&login.set_cookie, "Domain")
    );
    // Expired for good: every later request is refused too.
    for _ in 0..3 {
        let ans = env.get("/app/y", Some(&login.cookie()), &[]).await;
        ans.assert_login_redirect();
        assert!(ans.session_cookie().contains("Max-Age=0"));
    }
}

#[tokio::test]
async fn django_table_on_redis() {
    let redis = RedisServer::start();
    django_table(&redis.url()).await;
}

#[tokio::test]
async fn django_table_on_memory() {
    django_table("memory://").await;
}

#[tokio::test]
async fn sliding_keeps_an_active_session_then_idles_out() {
    let (_redis, env, login) = alice_on_redis(r#"idle_timeout = "1500ms""#, "").await;
    let mut last = login.after;
    let mut step = 1;
    while last.duration_since(login.before) < Duration::from_secs_f64(3.5) {
        at(login.before, 0.6 * f64::from(step)).await;
        let ans = env.get("/", Some(&login.cookie()), &[]).await;
        last = Instant::now();
        ans.assert_forwarded_as("alice");
        // The slid session's cookie is re-issued with the idle Max-Age.
        assert!(
            ans.session_cookie().contains("Max-Age=2"),
            "{:?}",
            ans.set_cookies()
        );
        step += 1;
    }
    at(last, 2.1).await;
    env.get("/", Some(&login.cookie()), &[])
        .await
        .assert_login_redirect();
}

#[tokio::test]
async fn absolute_cap_ends_an_active_session() {
    let (_redis, env, login) = alice_on_redis(&idle_and_cap("2s", "3s"), "").await;
    for t in [0.6, 1.2, 1.8, 2.2] {
        at(login.before, t).await;
        env.get("/", Some(&login.cookie()), &[])
            .await
            .assert_forwarded_as("alice");
    }
    at(login.after, 3.7).await;
    let ans = env.get("/", Some(&login.cookie()), &[]).await;
    ans.assert_login_redirect();
    ans.assert_cookie_cleared();
}

#[tokio::test]
async fn max_age_overrides_the_idle_timeout() {
    let (redis, env) = on_redis("", "").await;
    let login = env.login_with("user=alice&max_age=1", &[]).await;
    assert!(
        login.set_cookie.contains("Max-Age=1;"),
        "{}",
        login.set_cookie
    );
    at(login.before, 0.3).await;
    env.get("/", Some(&login.cookie()), &[])
        .await
        .assert_forwarded_as("alice");
    // That request slid the 1 s TTL: expiry is measured from its answer.
    let slid = Instant::now();
    at(slid, 1.6).await;
    env.get("/", Some(&login.cookie()), &[])
        .await
        .assert_login_redirect();
    // No resurrection: the key is gone for good.
    assert_eq!(redis.query::<i64>(&["EXISTS", &key(&login.id)]), 0);
    env.get("/", Some(&login.cookie()), &[])
        .await
        .assert_login_redirect();
    assert_eq!(redis.query::<i64>(&["EXISTS", &key(&login.id)]), 0);
}

fn assert_browser_cookie(set_cookie: &str) {
    assert!(!set_cookie.contains("Max-Age"), "{set_cookie}");
    assert!(!set_cookie.contains("Expires"), "{set_cookie}");
}

#[tokio::test]
async fn browser_sessions_have_no_max_age() {
    let (redis, env) = on_redis("", "").await;
    let login = env.login_with("user=alice&max_age=0", &[]).await;
    assert_browser_cookie(&login.set_cookie);
    let ans = env.get("/", Some(&login.cookie()), &[]).await;
    ans.assert_forwarded_as("alice");
    ans.assert_no_session_cookie();

    let env = Setup::new(&redis.url())
        .session("browser_session = true")
        .start()
        .await;
    let login = env.login("bob").await;
    assert_browser_cookie(&login.set_cookie);
    env.get("/", Some(&login.cookie()), &[])
        .await
        .assert_forwarded_as("bob");
}

#[tokio::test]
async fn a_stricter_route_idle_refuses_without_clearing() {
    let (_redis, env, login) = alice_on_redis(
        r#"idle_timeout = "10s""#,
        &route("strict", "/strict/", r#"idle_timeout = "1s""#),
    )
    .await;
    at(login.after, 1.6).await;
    let ans = env.get("/strict/x", Some(&login.cookie()), &[]).await;
    ans.assert_login_redirect();
    ans.assert_no_session_cookie();
    env.get("/", Some(&login.cookie()), &[])
        .await
        .assert_forwarded_as("alice");
}

#[tokio::test]
async fn polling_a_non_extending_route_does_not_keep_the_session() {
    let (_redis, env, login) = alice_on_redis(
        r#"idle_timeout = "2s""#,
        &route("poll", "/poll/", "extends_session = false"),
    )
    .await;
    for t in [0.5, 1.0, 1.5] {
        at(login.before, t).await;
        let ans = env.get("/poll/status", Some(&login.cookie()), &[]).await;
        ans.assert_forwarded_as("alice");
        ans.assert_no_session_cookie();
    }
    at(login.after, 2.0).await;
    let _ = env.get("/poll/status", Some(&login.cookie()), &[]).await;
    at(login.after, 2.6).await;
    env.get("/", Some(&login.cookie()), &[])
        .await
        .assert_login_redirect();
}

/// The value of a `Set-Cookie` attribute, e.g. `Path`.
fn attribute(set_cookie: &str, name: &str) -> Option<String> {
    set_cookie.split(';').skip(1).find_map(|part| {
        let (k, v) = part.trim().split_once('=')?;
        k.eq_ignore_ascii_case(name).then(|| v.to_owned())
    })
}

/// `(calls of PEXPIRE, calls of EVALSHA)` since the last `CONFIG RESETSTAT`.
fn write_counts(redis: &RedisServer) -> (u64, u64) {
    let info: String = redis.query(&["INFO", "commandstats"]);
    let calls = |cmd: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("cmdstat_{cmd}:calls=")))
            .map_or(0, |rest| rest.split(',').next().unwrap().parse().unwrap())
    };
    (calls("pexpire"), calls("evalsha"))
}

/// Ten protected requests after a warm-up (which loads the touch script).
async fn count_writes(touch_interval: &str) -> (u64, u64) {
    let session = format!(
        r#"idle_timeout = "30s"
        touch_interval = "{touch_interval}""#
    );
    let (redis, env, login) = alice_on_redis(&session, "").await;
    env.get("/", Some(&login.cookie()), &[])
        .await
        .assert_forwarded_as("alice");
    let _: () = redis.query(&["CONFIG", "RESETSTAT"]);
    for _ in 0..10 {
        // A few ms apart, so each request sees a TTL lower than idle.
        tokio::time::sleep(Duration::from_millis(5)).await;
        env.get("/", Some(&login.cookie()), &[])
            .await
            .assert_forwarded_as("alice");
    }
    write_counts(&redis)
}

#[tokio::test]
async fn touch_interval_saves_store_writes() {
    let every = count_writes("0s").await;
    let throttled = count_writes("10s").await;
    eprintln!("commandstats (pexpire, evalsha): touch_interval=0s {every:?}, 10s {throttled:?}");
    assert_eq!(every, (10, 10), "touch_interval = 0s");
    assert_eq!(throttled, (0, 10), "touch_interval = 10s");
}

/// A gateway on a fresh redis-server: sessions idle 10 s with
/// `touch_interval`, and a route `/strict/` whose idle limit is
/// `strict_idle`.
async fn strict_route(touch_interval: &str, strict_idle: &str) -> (RedisServer, Env) {
    let session = format!(
        r#"idle_timeout = "10s"
        touch_interval = "{touch_interval}""#
    );
    let strict = route(
        "strict",
        "/strict/",
        &format!(r#"idle_timeout = "{strict_idle}""#),
    );
    on_redis(&session, &strict).await
}

/// `touch_interval` skips store writes, but a user active on a route with
/// a stricter idle limit must never be refused there for idleness.
#[tokio::test]
async fn touch_interval_never_refuses_an_active_user_on_a_strict_route() {
    let (_redis, env) = strict_route("3s", "1s").await;
    let login = env.login("alice").await;
    let mut last = login.after;
    for step in 1..=10 {
        at(last, 0.3).await;
        let sent = Instant::now();
        let ans = env.get("/strict/x", Some(&login.cookie()), &[]).await;
        // Only meaningful while the gap really was well under the limit.
        assert!(sent.duration_since(last) < Duration::from_millis(500));
        assert_eq!(ans.status, StatusCode::OK, "request {step} refused");
        last = Instant::now();
    }
}

/// Regression: with `touch_interval` longer than a strict route's limit,
/// activity on *other* routes was not recorded, so a user active there for
/// longer than the strict limit was refused on the strict route as idle.
#[tokio::test]
async fn activity_elsewhere_counts_on_a_strict_route_under_touch_interval() {
    let (_redis, env) = strict_route("5s", "2s").await;
    let login = env.login("alice").await;
    let mut last = login.after;
    // 14 × 0.3 s ≈ 4.2 s of activity on the default route: twice the limit.
    for step in 1..=14 {
        at(last, 0.3).await;
        let ans = env.get("/page", Some(&login.cookie()), &[]).await;
        assert_eq!(ans.status, StatusCode::OK, "request {step} refused");
        last = Instant::now();
    }
    at(last, 0.3).await;
    let sent = Instant::now();
    let ans = env.get("/strict/x", Some(&login.cookie()), &[]).await;
    // Activity is recorded at least every 1 s (half the strict limit), so
    // the idle time seen here is at most ~1.6 s of the 2 s limit.
    assert!(sent.duration_since(last) < Duration::from_millis(500));
    assert_eq!(
        ans.status,
        StatusCode::OK,
        "refused as idle after activity elsewhere"
    );
}

/// A browser session (no `Max-Age` on the cookie) still expires in the
/// store after `idle_timeout` (2 s here) without a request: valid 0.5 s
/// before, refused 0.5 s after, and the key is gone.
async fn browser_session_idles_out_in_the_store(redis: &RedisServer, env: &Env, login: &Login) {
    assert_browser_cookie(&login.set_cookie);
    let pttl: i64 = redis.query(&["PTTL", &key(&login.id)]);
    assert!(
        (1..=2000).contains(&pttl),
        "no idle TTL in the store: {pttl}"
    );
    at(login.before, 1.5).await;
    env.get("/", Some(&login.cookie()), &[])
        .await
        .assert_forwarded_as("alice");
    // That request slid the TTL: the idle clock restarts at its answer.
    let slid = Instant::now();
    at(slid, 2.5).await;
    let ans = env.get("/", Some(&login.cookie()), &[]).await;
    ans.assert_login_redirect();
    ans.assert_cookie_cleared();
    assert_eq!(redis.query::<i64>(&["EXISTS", &key(&login.id)]), 0);
}

#[tokio::test]
async fn a_browser_session_config_still_idles_out_in_the_store() {
    let (redis, env, login) = alice_on_redis(
        r#"idle_timeout = "2s"
            browser_session = true"#,
        "",
    )
    .await;
    browser_session_idles_out_in_the_store(&redis, &env, &login).await;
}

#[tokio::test]
async fn a_max_age_0_login_still_idles_out_in_the_store() {
    let (redis, env) = on_redis(r#"idle_timeout = "2s""#, "").await;
    let login = env.login_with("user=alice&max_age=0", &[]).await;
    browser_session_idles_out_in_the_store(&redis, &env, &login).await;
}
