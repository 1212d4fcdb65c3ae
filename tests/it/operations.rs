//! Operations: the admin listener and the SPEC §7 metrics, moved by real
//! requests through the gateway in front of the built-in demo app, with a
//! real redis-server as the store.

use std::time::Duration;

use http::{StatusCode, header};
use sessiongate::demo::{DEMO_PASSWORD, DEMO_USER, serve_app};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, timeout};

use crate::support::gateway::{GatewayToml, TestGateway, config, config_toml};
use crate::support::http::{Http, PATIENCE, metric};
use crate::support::redis::RedisServer;
use crate::support::upstream::{TestUpstream, resetting_upstream};

#[tokio::test]
async fn every_outcome_and_reason_is_counted_and_readiness_follows_the_store() {
    let redis = RedisServer::start();
    let app = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_url = format!("http://{}", app.local_addr().unwrap());
    tokio::spawn(serve_app(app, std::future::pending()));
    let gw = GatewayToml::new()
        .store(&redis.url())
        .op_timeout("200ms")
        .access_log(true)
        .routes(
            r#"[[route]]
            name = "broken"
            path = "/broken/"
            public = true
            upstream = "http://127.0.0.1:1""#,
        )
        .start(&app_url)
        .await;
    let http = Http::new();
    let url = |p: &str| gw.url(p);

    assert_eq!(
        http.get(gw.admin_url("/healthz"), &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(
        http.get(gw.admin_url("/readyz"), &[]).await.status,
        StatusCode::OK
    );

    // public, redirected (missing), unauthorized (missing), invalid, expired
    assert_eq!(http.get(url("/login"), &[]).await.status, StatusCode::OK);
    assert_eq!(http.get(url("/"), &[]).await.status, StatusCode::FOUND);
    let api = [("accept", "application/json")];
    assert_eq!(
        http.get(url("/"), &api).await.status,
        StatusCode::UNAUTHORIZED
    );
    let bad = [("cookie", "sessiongate=not*valid")];
    assert_eq!(http.get(url("/"), &bad).await.status, StatusCode::FOUND);
    let unknown = [("cookie", "sessiongate=0123456789abcdef")];
    assert_eq!(http.get(url("/"), &unknown).await.status, StatusCode::FOUND);

    // log in through the demo app: a session is created
    let form = format!("username={DEMO_USER}&password={DEMO_PASSWORD}&next=/");
    let login = http.post_form(url("/login"), &[], &form).await;
    assert_eq!(login.status, StatusCode::SEE_OTHER);
    assert!(
        login.headers.get("sessiongate-login").is_none(),
        "control header leaked"
    );
    let cookie = login.session_pair();
    let with_cookie = [("cookie", cookie.as_str())];

    // forwarded, refreshed, upstream error
    let page = http.get(url("/"), &with_cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains(DEMO_USER));
    let refresh = http.post(url("/.sessiongate/refresh"), &with_cookie).await;
    assert_eq!(refresh.status, StatusCode::OK);
    assert_eq!(
        http.get(url("/broken/x"), &[]).await.status,
        StatusCode::BAD_GATEWAY
    );

    // the store stalls: 503, readiness fails (a ping error); then both recover
    let ping_errors = r#"sessiongate_store_errors_total{op="ping"}"#;
    let pings = r#"sessiongate_store_duration_seconds_count{op="ping"}"#;
    let before_outage = http.metrics(&gw).await;
    assert_eq!(
        metric(&before_outage, ping_errors),
        0.0,
        "the first ping failed"
    );
    redis.pause();
    let outage = http.get(url("/"), &with_cookie).await;
    assert_eq!(outage.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        outage.headers.get(header::SET_COOKIE).is_none(),
        "an outage cleared a cookie"
    );
    assert_eq!(
        http.get(gw.admin_url("/readyz"), &[]).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let during_outage = http.metrics(&gw).await;
    assert_eq!(
        metric(&during_outage, ping_errors),
        metric(&before_outage, ping_errors) + 1.0,
        "the failed readiness ping was not counted as a store error"
    );
    assert_eq!(
        metric(&during_outage, pings),
        metric(&before_outage, pings) + 1.0,
        "the failed readiness ping was not timed"
    );
    redis.resume();
    assert_eq!(
        http.get(gw.admin_url("/readyz"), &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(
        http.get(url("/"), &with_cookie).await.status,
        StatusCode::OK
    );

    // logout ends the session
    let logout = http.get(url("/.sessiongate/logout"), &with_cookie).await;
    assert_eq!(logout.status, StatusCode::FOUND);

    let scraped = http.get(gw.admin_url("/metrics"), &[]).await;
    assert_eq!(scraped.status, StatusCode::OK);
    let text = scraped.text();
    assert!(
        scraped.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .contains("openmetrics-text")
    );
    let at_least = |series: &str, n: f64| {
        let value = metric(&text, series);
        assert!(value >= n, "{series} = {value}, expected >= {n}");
    };
    // At least this much of each series, one per line as Prometheus shows them.
    let expected = r#"
        sessiongate_requests_total{route="login",outcome="public"} 2
        sessiongate_requests_total{route="default",outcome="forwarded"} 2
        sessiongate_requests_total{route="default",outcome="redirected"} 3
        sessiongate_requests_total{route="default",outcome="unauthorized"} 1
        sessiongate_requests_total{route="default",outcome="unavailable"} 1
        sessiongate_requests_total{route="broken",outcome="upstream_error"} 1
        sessiongate_redirects_total{route="default",reason="missing"} 2
        sessiongate_redirects_total{route="default",reason="invalid"} 1
        sessiongate_redirects_total{route="default",reason="expired"} 1
        sessiongate_sessions_created_total{mode="managed"} 1
        sessiongate_sessions_ended_total{reason="logout"} 1
        sessiongate_session_refreshes_total 1
        sessiongate_store_errors_total{op="touch"} 1
        sessiongate_store_duration_seconds_count{op="touch"} 5
        sessiongate_request_duration_seconds_count{route="default"} 7
        sessiongate_upstream_errors_total{route="broken",kind="connect"} 1
        sessiongate_config_reloads_total{result="failure"} 0
        sessiongate_open_connections 0
    "#;
    for line in expected
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
    {
        let (series, n) = line.rsplit_once(' ').expect("series and value");
        at_least(series, n.parse().expect("a number"));
    }
    // Three readiness checks: ready, the outage, ready again. The last two
    // lines above are present from the start (the admin listener's own
    // connections are not counted).
    at_least(ping_errors, 1.0);
    at_least(pings, 3.0);
    // Label values are bounded: never a path, a user or a session id.
    assert!(!text.contains(&cookie["sessiongate=".len()..]));
    assert!(!text.contains("/broken/x"));
}

/// Reads a response head from a raw connection, leaving it open.
async fn read_head(conn: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut buf).await.expect("read the response");
        assert!(n > 0, "the gateway closed the connection before answering");
        head.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// `sessiongate_open_connections` follows a real client connection: one
/// more while a keep-alive connection is open after its request, and back
/// to where it was once the client closes it.
#[tokio::test]
async fn open_connections_counts_a_keep_alive_client_until_it_closes() {
    let upstream = TestUpstream::start().await;
    let gw = TestGateway::start(config(&upstream.url())).await;
    // Admin connections (these scrapes) are not client connections.
    let http = Http::new();
    let gauge = "sessiongate_open_connections";
    let before = metric(&http.metrics(&gw).await, gauge);

    let mut conn = TcpStream::connect(gw.addr).await.expect("connect");
    conn.write_all(b"GET /kept HTTP/1.1\r\nhost: gateway\r\n\r\n")
        .await
        .expect("send the request");
    let head = timeout(PATIENCE, read_head(&mut conn))
        .await
        .expect("no answer in time");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("connection: close"),
        "the gateway did not keep the connection alive: {head}"
    );
    assert_eq!(
        metric(&http.metrics(&gw).await, gauge),
        before + 1.0,
        "the open keep-alive connection is not counted"
    );

    drop(conn);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let open = metric(&http.metrics(&gw).await, gauge);
        if open == before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{open} connections still counted 10 s after the client closed (before: {before})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `sessiongate_upstream_errors_total` tells the kinds apart: an upstream
/// slower than `response_timeout` is a 504 counted as `timeout`, one that
/// resets the connection without answering is a 502 counted as `other`,
/// and neither is counted under another kind.
#[tokio::test]
async fn upstream_timeouts_and_resets_are_counted_by_kind() {
    let upstream = TestUpstream::start().await;
    let (resetting, _heads) = resetting_upstream().await;
    let gw = TestGateway::start(config_toml(&format!(
        r#"
        [upstream]
        url = "{}"
        response_timeout = "300ms"
        [log]
        access_log = false
        [[route]]
        name = "slow"
        path = "/sleep/"
        public = true
        [[route]]
        name = "reset"
        path = "/reset/"
        public = true
        upstream = "{resetting}"
        "#,
        upstream.url()
    )))
    .await;
    let http = Http::new();
    let errors = |route: &str, kind: &str| {
        format!(r#"sessiongate_upstream_errors_total{{route="{route}",kind="{kind}"}}"#)
    };
    let upstream_errors = |route: &str| {
        format!(r#"sessiongate_requests_total{{route="{route}",outcome="upstream_error"}}"#)
    };
    let before = http.metrics(&gw).await;

    let slow = http.get(gw.url("/sleep/1500"), &[]).await;
    assert_eq!(slow.status, StatusCode::GATEWAY_TIMEOUT);
    assert!(
        upstream
            .received()
            .iter()
            .any(|r| r.path_and_query == "/sleep/1500"),
        "the slow upstream never got the request"
    );
    let reset = http.get(gw.url("/reset/x"), &[]).await;
    assert_eq!(reset.status, StatusCode::BAD_GATEWAY);

    let after = http.metrics(&gw).await;
    let moved = |series: &str| metric(&after, series) - metric(&before, series);
    assert_eq!(moved(&errors("slow", "timeout")), 1.0);
    assert_eq!(moved(&errors("reset", "other")), 1.0);
    assert_eq!(moved(&upstream_errors("slow")), 1.0);
    assert_eq!(moved(&upstream_errors("reset")), 1.0);
    for (route, kind) in [
        ("slow", "connect"),
        ("slow", "other"),
        ("reset", "connect"),
        ("reset", "timeout"),
    ] {
        assert_eq!(
            moved(&errors(route, kind)),
            0.0,
            "{route} counted as {kind}"
        );
    }
}

/// Every `sessiongate_*` name the alert rules and the dashboard use.
fn referenced_metrics(text: &str) -> Vec<String> {
    let re = regex::Regex::new(r"sessiongate_[a-z_]+").unwrap();
    let mut names: Vec<String> = re
        .find_iter(text)
        .map(|m| {
            let name = m.as_str();
            // Histogram series and counters' exposition suffixes.
            for suffix in ["_bucket", "_count", "_sum", "_total"] {
                if let Some(base) = name.strip_suffix(suffix) {
                    return base.to_owned();
                }
            }
            name.to_owned()
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[tokio::test]
async fn alert_rules_and_dashboard_use_only_exported_metrics() {
    let upstream = TestUpstream::start().await;
    let gw = TestGateway::start(config(&upstream.url())).await;
    let exported = Http::new().metrics(&gw).await;
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/");
    let dashboard =
        std::fs::read_to_string(format!("{root}grafana/sessiongate-dashboard.json")).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&dashboard).expect("dashboard is JSON");
    assert!(!parsed["panels"].as_array().unwrap().is_empty());
    let alerts =
        std::fs::read_to_string(format!("{root}prometheus/sessiongate-alerts.yaml")).unwrap();
    for (file, text) in [("dashboard", &dashboard), ("alerts", &alerts)] {
        let names = referenced_metrics(text);
        assert!(names.len() >= 5, "{file}: {names:?}");
        for name in names {
            assert!(
                exported.contains(&format!("# TYPE {name} ")),
                "{file} uses {name}, which /metrics does not export"
            );
        }
    }
}
