//! Reloading the config under load: new requests see the new config, none
//! is lost, and an invalid config changes nothing but a failure counter.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use http::{StatusCode, header};
use sessiongate::config::{Config, ConfigErrors, LoadError};
use tokio::time::Instant;

use crate::support::gateway::{TestGateway, config_toml};
use crate::support::http::Http;
use crate::support::upstream::TestUpstream;

fn config(upstream: &str, login: &str, extra: &str) -> Config {
    config_toml(&format!(
        r#"
        [upstream]
        url = "{upstream}"
        [log]
        access_log = false
        [login]
        url = "{login}"
        [[route]]
        name = "steady"
        path = "/steady/"
        public = true
        {extra}
        "#
    ))
}

async fn get(url: String) -> (StatusCode, Option<String>, String) {
    let ans = Http::new().get(url, &[]).await;
    let location = ans
        .headers
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_owned());
    (ans.status, location, ans.text().into_owned())
}

/// `sessiongate_config_reloads_total{result=…}` in a `/metrics` text.
fn reloads(metrics: &str, result: &str) -> u64 {
    let series = format!(r#"sessiongate_config_reloads_total{{result="{result}"}} "#);
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {result} counter in:\n{metrics}"))
}

/// Polls `/metrics` (up to 10 s) until `result` has been counted `n`
/// times: the reloader counts a reload once it has been applied.
async fn wait_for_reloads(gw: &TestGateway, result: &str, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let counted = reloads(&get(gw.admin_url("/metrics")).await.2, result);
        if counted == n {
            return;
        }
        assert!(
            counted < n && Instant::now() < deadline,
            "reloads {{result=\"{result}\"}} = {counted}, expected {n}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_under_steady_traffic_loses_no_request() {
    let upstream = TestUpstream::start().await;
    let (gw, reload) = TestGateway::start_reloadable(config(&upstream.url(), "/login", "")).await;
    assert_eq!(get(gw.url("/")).await.1.as_deref(), Some("/login?next=/"));
    assert_eq!(get(gw.url("/new/x")).await.0, StatusCode::FOUND);

    // Four clients on keep-alive connections, each sending until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (stop, ok, url) = (stop.clone(), ok.clone(), gw.url("/steady/x"));
        clients.push(tokio::spawn(async move {
            let client = Http::new();
            let mut sent = 0usize;
            while !stop.load(Ordering::Relaxed) && sent < 5_000 {
                let ans = client.get(url.as_str(), &[]).await;
                assert_eq!(ans.status, StatusCode::OK, "no request may fail");
                ok.fetch_add(1, Ordering::Relaxed);
                sent += 1;
            }
            sent
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let extra = "[[route]]\nname = \"new\"\npath = \"/new/\"\npublic = true";
    reload
        .send(Ok(config(&upstream.url(), "/signin", extra)))
        .await
        .unwrap();
    // New requests see the new config.
    let mut applied = false;
    for _ in 0..100 {
        if get(gw.url("/new/x")).await.0 == StatusCode::OK {
            applied = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(applied, "the reload never took effect");
    wait_for_reloads(&gw, "success", 1).await;
    assert_eq!(get(gw.url("/")).await.1.as_deref(), Some("/signin?next=/"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let mut sent = 0;
    for client in clients {
        sent += client.await.expect("client task");
    }
    assert_eq!(
        sent,
        ok.load(Ordering::Relaxed),
        "every request answered 200"
    );
    assert!(sent > 50, "the stream was steady: {sent} requests");
    let metrics = get(gw.admin_url("/metrics")).await.2;
    assert_eq!(reloads(&metrics, "success"), 1);
    assert_eq!(reloads(&metrics, "failure"), 0);
}

/// A request already in flight when a reload is applied finishes on the
/// config it started with (here: a public route, answered 200 by the
/// upstream), while a request after the reload sees the new config (the
/// route is gone, so the same path now needs a session and is sent to the
/// new login URL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_flight_during_a_reload_finishes_on_the_old_config() {
    let upstream = TestUpstream::start().await;
    let slow_public = "[[route]]\nname = \"slow\"\npath = \"/sleep/\"\npublic = true";
    let (gw, reload) =
        TestGateway::start_reloadable(config(&upstream.url(), "/login", slow_public)).await;
    let reached_upstream = |path: &str| {
        upstream
            .received()
            .iter()
            .filter(|r| r.path_and_query == path)
            .count()
    };

    // The upstream answers this one after 3 s: long past the reload below.
    let old_path = "/sleep/3000/old";
    let in_flight = tokio::spawn(get(gw.url(old_path)));
    let deadline = Instant::now() + Duration::from_secs(10);
    while reached_upstream(old_path) == 0 {
        assert!(
            Instant::now() < deadline,
            "the slow request never reached the upstream"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    reload
        .send(Ok(config(&upstream.url(), "/signin", "")))
        .await
        .unwrap();
    wait_for_reloads(&gw, "success", 1).await;
    assert!(
        !in_flight.is_finished(),
        "the slow request ended before the reload was applied: nothing was in flight"
    );

    // New requests see the new config: /sleep/ is protected now.
    let new_path = "/sleep/10/new";
    let (status, location, _) = get(gw.url(new_path)).await;
    assert_eq!(status, StatusCode::FOUND);
    let location = location.expect("a Location");
    assert!(location.starts_with("/signin?"), "{location}");
    assert_eq!(
        reached_upstream(new_path),
        0,
        "a protected request was forwarded"
    );

    // The request in flight completes, forwarded as the old config said.
    let (status, _, body) = in_flight.await.expect("the in-flight request");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains(old_path), "not the upstream's echo: {body}");
    assert_eq!(reached_upstream(old_path), 1);
}

#[tokio::test]
async fn an_invalid_reload_keeps_the_old_config_and_is_counted() {
    let upstream = TestUpstream::start().await;
    let (gw, reload) = TestGateway::start_reloadable(config(&upstream.url(), "/login", "")).await;
    let errors: ConfigErrors =
        Config::from_toml_str("[session]\nidle_timeout = \"0s\"\n").expect_err("invalid");
    reload
        .send(Err(LoadError::Invalid {
            path: "sessiongate.toml".into(),
            errors,
        }))
        .await
        .unwrap();
    wait_for_reloads(&gw, "failure", 1).await;
    let metrics = get(gw.admin_url("/metrics")).await.2;
    assert_eq!(
        reloads(&metrics, "success"),
        0,
        "an invalid reload counted a success"
    );
    assert_eq!(get(gw.url("/")).await.1.as_deref(), Some("/login?next=/"));
    assert_eq!(get(gw.url("/steady/x")).await.0, StatusCode::OK);
}
