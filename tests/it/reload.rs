//! Reloading the config under load: new requests see the new config, none
//! is lost, and an invalid config changes nothing but a failure counter.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sessiongate::config::{Config, ConfigErrors, LoadError};

use crate::support::gateway::{TestGateway, config_toml};
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
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let resp = tokio::time::timeout(Duration::from_secs(20), client.get(url.parse().unwrap()))
        .await
        .expect("answer in time")
        .expect("request");
    let status = resp.status();
    let location = resp
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        location,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

fn failures(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(r#"sessiongate_config_reloads_total{result="failure"} "#))
        .and_then(|v| v.trim().parse().ok())
        .expect("failure counter")
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
            let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
            let mut sent = 0usize;
            while !stop.load(Ordering::Relaxed) && sent < 5_000 {
                let req = Request::get(url.as_str()).body(Empty::new()).unwrap();
                let resp = client.request(req).await.expect("no request may fail");
                assert_eq!(resp.status(), StatusCode::OK);
                resp.into_body().collect().await.expect("whole body");
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
    let mut counted = false;
    for _ in 0..100 {
        if failures(&get(gw.admin_url("/metrics")).await.2) == 1 {
            counted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(counted, "the failed reload was not counted");
    assert_eq!(get(gw.url("/")).await.1.as_deref(), Some("/login?next=/"));
    assert_eq!(get(gw.url("/steady/x")).await.0, StatusCode::OK);
}
