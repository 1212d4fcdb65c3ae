//! The gateway's own endpoints (SPEC §6) and the upstream's logout header.

use super::*;

fn pttl(redis: &RedisServer, id: &str) -> i64 {
    redis.query(&["PTTL", &key(id)])
}

#[tokio::test]
async fn session_status_does_not_slide() {
    let (redis, env) = on_redis(r#"idle_timeout = "30s""#, "").await;
    let ans = env.get("/.sessiongate/session", None, &[]).await;
    assert_eq!(ans.status, StatusCode::OK);
    assert_eq!(ans.json(), serde_json::json!({ "authenticated": false }));
    let ans = env
        .get(
            "/.sessiongate/session",
            Some(&format!("sessiongate={}", "f".repeat(64))),
            &[],
        )
        .await;
    assert_eq!(ans.json(), serde_json::json!({ "authenticated": false }));

    let login = env.login("alice").await;
    let status = env
        .get("/.sessiongate/session", Some(&login.cookie()), &[])
        .await;
    assert_eq!(status.status, StatusCode::OK);
    let json = status.json();
    assert_eq!(json["authenticated"], true);
    assert_eq!(json["user"], "alice");
    assert_eq!(json["idle_timeout"], 30);
    assert!(json["absolute_expires_in"].is_null(), "{json}");
    assert_eq!(json["browser_session"], false);
    let expires_in = json["expires_in"].as_u64().expect("expires_in");
    assert!((28..=30).contains(&expires_in), "{json}");
    // The same to the millisecond, which the warning script counts down
    // from: expires_in is it truncated to whole seconds.
    let expires_in_ms = json["expires_in_ms"].as_u64().expect("expires_in_ms");
    assert!((28_000..=30_000).contains(&expires_in_ms), "{json}");
    assert_eq!(expires_in_ms / 1000, expires_in, "{json}");
    status.assert_no_session_cookie();

    let first = pttl(&redis, &login.id);
    tokio::time::sleep(Duration::from_secs(1)).await;
    env.get("/.sessiongate/session", Some(&login.cookie()), &[])
        .await;
    let second = pttl(&redis, &login.id);
    assert!(
        second < first - 500,
        "polling slid the TTL: {first} -> {second}"
    );
}

#[tokio::test]
async fn session_status_reports_the_absolute_cap() {
    let (_redis, env, login) = alice_on_redis(&idle_and_cap("30s", "1h"), "").await;
    let json = env
        .get("/.sessiongate/session", Some(&login.cookie()), &[])
        .await
        .json();
    let cap = json["absolute_expires_in"].as_u64().expect("a number");
    assert!((3590..=3600).contains(&cap), "{json}");
}

#[tokio::test]
async fn refresh_slides_and_reissues() {
    let (redis, env) = on_redis(
        r#"idle_timeout = "30s"
            sliding = false"#,
        "",
    )
    .await;
    let ans = request(Method::POST, env.url("/.sessiongate/refresh"), &[], "").await;
    assert_eq!(ans.status, StatusCode::UNAUTHORIZED);
    assert_eq!(ans.json()["reason"], "missing");

    let login = env.login("alice").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = pttl(&redis, &login.id);
    assert!(before < 29_000, "{before}");
    let ans = request(
        Method::POST,
        env.url("/.sessiongate/refresh"),
        &[("cookie", &login.cookie())],
        "",
    )
    .await;
    assert_eq!(ans.status, StatusCode::OK, "{:?}", ans.body);
    let after = pttl(&redis, &login.id);
    assert!(after > 29_500, "refresh did not slide: {before} -> {after}");
    let set = ans.session_cookie();
    assert!(
        set.starts_with(&format!("sessiongate={};", login.id)),
        "{set}"
    );
    assert!(set.contains("Max-Age=30"), "{set}");
}

#[tokio::test]
async fn gateway_logout_ends_the_session() {
    let (redis, env, login) = alice_on_redis("", "").await;
    assert_eq!(redis.query::<i64>(&["EXISTS", &key(&login.id)]), 1);
    let ans = env
        .get("/.sessiongate/logout", Some(&login.cookie()), &[])
        .await;
    assert_eq!(ans.status, StatusCode::FOUND);
    assert_eq!(ans.location(), "/login");
    ans.assert_cookie_cleared();
    assert_eq!(redis.query::<i64>(&["EXISTS", &key(&login.id)]), 0);
    env.get("/", Some(&login.cookie()), &[])
        .await
        .assert_login_redirect();
}

#[tokio::test]
async fn upstream_logout_ends_the_session_and_control_headers_stay_inside() {
    let (redis, env, login) = alice_on_redis("", "").await;
    let ans = env.get("/logout-app", Some(&login.cookie()), &[]).await;
    assert_eq!(ans.status, StatusCode::OK);
    ans.assert_no_control_headers();
    ans.assert_cookie_cleared();
    assert_eq!(redis.query::<i64>(&["EXISTS", &key(&login.id)]), 0);
    env.get("/", Some(&login.cookie()), &[])
        .await
        .assert_login_redirect();

    // Any other Sessiongate-* header, public route or protected.
    let ans = env.get("/pub/leak", None, &[]).await;
    assert_eq!(ans.status, StatusCode::OK);
    assert!(
        !ans.headers.contains_key("sessiongate-debug"),
        "{:?}",
        ans.headers
    );
    let login = env.login("alice").await;
    let ans = env.get("/leak", Some(&login.cookie()), &[]).await;
    ans.assert_forwarded_as("alice");
    assert!(
        !ans.headers.contains_key("sessiongate-debug"),
        "{:?}",
        ans.headers
    );
}
