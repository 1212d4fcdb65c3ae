//! The proxy core end to end: a real upstream, the gateway in-process, real
//! clients (hyper, raw TCP where framing matters, TLS, WebSocket).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, Version};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;

use crate::support::gateway::{TestGateway, config};
use crate::support::http::{
    Answer, ClientBody, Http, PATIENCE, Proto, body, http1_over, http2_over, respond_h1,
    respond_h2, tcp,
};
use crate::support::upstream::{
    DOWNLOAD_HEAD, TestUpstream, read_request_head, resetting_upstream,
};

mod connections;
mod errors;
mod lifecycle;
mod limits;
mod protocols;
mod request_bodies;
mod upgrades;

const FIFTY_MB: usize = 50 * 1024 * 1024;

/// Sends `req` and reads the whole answer.
async fn send(req: Request<ClientBody>) -> Answer {
    Http::new().send(req).await
}

async fn get(url: String) -> Answer {
    get_with(url, &[]).await
}

/// A GET of `url` with `headers`, the whole answer read.
async fn get_with(url: String, headers: &[(&str, &str)]) -> Answer {
    Http::new().get(url, headers).await
}

/// A fresh [`TestUpstream`] and a gateway in front of it, with the
/// default test [`config`].
async fn proxied() -> (TestUpstream, TestGateway) {
    proxied_with(|_| {}).await
}

/// A fresh [`TestUpstream`] and a gateway in front of it, its [`config`]
/// first changed by `adjust`.
async fn proxied_with(
    adjust: impl FnOnce(&mut sessiongate::Config),
) -> (TestUpstream, TestGateway) {
    let upstream = TestUpstream::start().await;
    let mut cfg = config(&upstream.url());
    adjust(&mut cfg);
    (upstream, TestGateway::start(cfg).await)
}

/// Writes `request` on a fresh connection and reads until the gateway
/// closes it (failing if it does not within PATIENCE).
async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut out = Vec::new();
    let read = timeout(PATIENCE, stream.read_to_end(&mut out))
        .await
        .expect("the gateway kept the connection open");
    if let Err(error) = read {
        assert!(
            !out.is_empty(),
            "connection reset before any answer: {error}"
        );
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of one series (`name{labels}`) in the gateway's `/metrics`.
async fn metric(gw: &TestGateway, series: &str) -> f64 {
    Http::new().metric(gw, series).await
}

/// The series that count upstream failures on the proxy tests' route
/// `all`: each kind of `sessiongate_upstream_errors_total`, and the
/// `upstream_error` outcome.
const UPSTREAM_ERROR_SERIES: [&str; 4] = [
    r#"sessiongate_upstream_errors_total{route="all",kind="connect"}"#,
    r#"sessiongate_upstream_errors_total{route="all",kind="timeout"}"#,
    r#"sessiongate_upstream_errors_total{route="all",kind="other"}"#,
    r#"sessiongate_requests_total{route="all",outcome="upstream_error"}"#,
];

/// The values of [`UPSTREAM_ERROR_SERIES`], in order.
async fn upstream_errors(gw: &TestGateway) -> Vec<f64> {
    let mut values = Vec::new();
    for series in UPSTREAM_ERROR_SERIES {
        values.push(metric(gw, series).await);
    }
    values
}

/// A WebSocket client's stream, as tungstenite connects it.
type WebSocket = tokio_tungstenite::WebSocketStream<TcpStream>;

/// Opens a WebSocket to the gateway's `/ws` (where the test upstream
/// echoes); returns it with the gateway's handshake answer.
async fn websocket(
    gw: &TestGateway,
) -> (
    WebSocket,
    tokio_tungstenite::tungstenite::handshake::client::Response,
) {
    let stream = tcp(gw.addr).await;
    timeout(
        PATIENCE,
        tokio_tungstenite::client_async(format!("ws://{}/ws", gw.addr), stream),
    )
    .await
    .unwrap()
    .expect("WebSocket handshake through the gateway")
}

/// Sends `text` on `ws` and asserts the upstream echoes it back in time.
async fn assert_echoed(ws: &mut WebSocket, text: &str) {
    use futures_util::{SinkExt, StreamExt};
    ws.send(tokio_tungstenite::tungstenite::Message::text(text))
        .await
        .unwrap();
    let echoed = timeout(PATIENCE, ws.next())
        .await
        .unwrap()
        .expect("the tunnel was closed")
        .unwrap();
    assert_eq!(echoed.into_text().unwrap().as_str(), text);
}

/// A client body fed through a channel, so the test controls when each
/// chunk is sent.
fn channel_body() -> (mpsc::Sender<Bytes>, ClientBody) {
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    (tx, StreamBody::new(stream).boxed())
}

/// A self-signed certificate for `localhost` and `127.0.0.1`: trusted by
/// no root store, only by a client that is handed it ([`trusting`]).
fn self_signed() -> rcgen::CertifiedKey<rcgen::KeyPair> {
    rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap()
}

/// Has `cfg` serve TLS with a fresh [`self_signed`] certificate; the
/// directory holding the PEM files lives as long as the returned guard.
fn serve_tls(
    cfg: &mut sessiongate::Config,
) -> (rcgen::CertifiedKey<rcgen::KeyPair>, tempfile::TempDir) {
    let cert = self_signed();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    cfg.server.tls = Some(sessiongate::config::TlsFiles {
        cert: cert_path,
        key: key_path,
    });
    (cert, dir)
}

/// Connects to `addr` over TLS, verifying it as `name` against `cert`
/// alone and offering `alpn`.
async fn tls_connect(
    addr: SocketAddr,
    name: &str,
    cert: &rcgen::Certificate,
    alpn: &[&[u8]],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from(name.to_owned()).unwrap();
    timeout(PATIENCE, trusting(cert, alpn).connect(name, tcp))
        .await
        .unwrap()
        .expect("TLS handshake with a client that trusts the certificate")
}

/// A TLS client that trusts `cert` alone and offers `alpn`.
fn trusting(cert: &rcgen::Certificate, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsConnector::from(Arc::new(tls))
}

/// The peak resident set size of this process so far (`VmHWM`), in bytes.
///
/// nextest runs every test in a process of its own, so the gateway, the
/// upstream and the client of one test are all this process has: the peak
/// growing by less than a fraction of a transfer while 50 MB pass through
/// shows that no part of the path held the body in memory. (Plain `cargo
/// test` runs tests as threads of one process, where other tests' memory
/// would count too: these bounds hold under nextest, the project's runner.)
fn peak_rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .expect("a VmHWM line in /proc/self/status");
    kib * 1024
}

/// A 50 MB transfer may raise the peak by less than this; buffering the
/// body anywhere would raise it by the whole 50 MB.
const PEAK_GROWTH_LIMIT: usize = 20 * 1024 * 1024;

fn assert_peak_growth_bounded(before: usize) {
    let growth = peak_rss().saturating_sub(before);
    eprintln!(
        "peak RSS: {} KiB before, +{} KiB during the transfer",
        before / 1024,
        growth / 1024
    );
    assert!(
        growth < PEAK_GROWTH_LIMIT,
        "peak RSS grew by {} KiB during a {} KiB transfer",
        growth / 1024,
        FIFTY_MB / 1024
    );
}

#[tokio::test]
async fn forwards_method_path_query_headers_and_bodies() {
    let (_upstream, gw) = proxied().await;
    let req = Request::put(gw.url("/some/path?a=1&b=x%20y"))
        .header("x-custom", "value")
        .header("content-type", "text/plain")
        .body(body("hello upstream"))
        .unwrap();
    let ans = send(req).await;
    assert_eq!(ans.status, StatusCode::OK);
    assert_eq!(ans.headers["x-echo-response"], "yes");
    let echo = ans.json();
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["path"], "/some/path");
    assert_eq!(echo["query"], "a=1&b=x%20y");
    assert_eq!(echo["headers"]["x-custom"][0], "value");
    assert_eq!(echo["body"], "hello upstream");
}

#[tokio::test]
async fn upload_streams_without_buffering() {
    let (upstream, gw) = proxied().await;
    let (tx, req_body) = channel_body();
    let req = Request::post(gw.url("/upload")).body(req_body).unwrap();
    // One 1 MiB buffer, sent 50 times: the client holds no more than that.
    let chunk = Bytes::from(vec![b'u'; 1 << 20]);
    let before = peak_rss();
    let pending = tokio::spawn(send(req));

    tx.send(chunk.clone()).await.unwrap();
    // Only once the upstream has the first bytes does the client send more:
    // a buffering gateway would wait for the whole body and time out here.
    timeout(PATIENCE, upstream.first_chunk())
        .await
        .expect("the upstream did not see the first chunk before the upload ended");
    for _ in 1..FIFTY_MB / chunk.len() {
        tx.send(chunk.clone()).await.unwrap();
    }
    drop(tx);
    let ans = pending.await.unwrap();
    assert_eq!(ans.status, StatusCode::OK);
    assert_eq!(ans.json()["bytes"], FIFTY_MB);
    // The upstream counts and drops what it reads.
    assert_peak_growth_bounded(before);
}

#[tokio::test]
async fn download_streams_without_buffering() {
    let (upstream, gw) = proxied().await;
    let before = peak_rss();
    let resp = Http::new()
        .respond(
            Request::get(gw.url(&format!("/download/{FIFTY_MB}")))
                .body(body(""))
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let mut received = 0;
    // The upstream sends the rest only when released: a buffering gateway
    // would never deliver the head.
    while received < DOWNLOAD_HEAD {
        let frame = timeout(PATIENCE, body.frame())
            .await
            .expect("the head of the download did not arrive on its own")
            .unwrap()
            .unwrap();
        received += frame.data_ref().map_or(0, Bytes::len);
    }
    upstream.release_download();
    while let Some(frame) = timeout(PATIENCE, body.frame()).await.expect("stalled") {
        received += frame.unwrap().data_ref().map_or(0, Bytes::len);
    }
    assert_eq!(received, FIFTY_MB);
    // Each frame is counted and dropped; the upstream sends slices of one
    // 64 KiB chunk.
    assert_peak_growth_bounded(before);
}

#[tokio::test]
async fn hop_by_hop_headers_are_stripped_both_ways() {
    let (upstream, gw) = proxied().await;
    let ans = get_with(
        gw.url("/hop"),
        &[
            ("connection", "keep-alive, x-client-secret"),
            ("x-client-secret", "1"),
            ("keep-alive", "timeout=5"),
            ("proxy-authorization", "Basic abc"),
            ("proxy-connection", "keep-alive"),
            ("te", "trailers"),
            ("upgrade", "foo/1"),
            ("x-kept", "yes"),
        ],
    )
    .await;
    assert_eq!(ans.status, StatusCode::OK);
    let seen = &upstream.received()[0].headers;
    for name in [
        "connection",
        "x-client-secret",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "upgrade",
    ] {
        assert!(!seen.contains_key(name), "{name} reached the upstream");
    }
    assert_eq!(seen["x-kept"], "yes");
    for name in ["x-upstream-secret", "keep-alive", "proxy-authenticate"] {
        assert!(!ans.headers.contains_key(name), "{name} reached the client");
    }
    assert_eq!(ans.headers["x-kept"], "yes");
}

/// Sends a GET of `/` with `host` and X-Forwarded-* claiming client
/// 6.6.6.6 over https for `forwarded_host`, through a gateway that trusts
/// `trusted_proxies`; asserts the X-Forwarded-For, -Proto and -Host the
/// upstream saw.
async fn assert_forwarded(
    trusted_proxies: &[&str],
    (host, forwarded_host): (&str, &str),
    [want_for, want_proto, want_host]: [&str; 3],
) {
    let (_upstream, gw) = proxied_with(|cfg| {
        cfg.server.trusted_proxies = trusted_proxies.iter().map(|p| p.parse().unwrap()).collect()
    })
    .await;
    let headers = [
        ("host", host),
        ("x-forwarded-for", "6.6.6.6"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", forwarded_host),
    ];
    let h = &get_with(gw.url("/"), &headers).await.json()["headers"];
    assert_eq!(h["x-forwarded-for"], serde_json::json!([want_for]));
    assert_eq!(h["x-forwarded-proto"], serde_json::json!([want_proto]));
    assert_eq!(h["x-forwarded-host"], serde_json::json!([want_host]));
}

#[tokio::test]
async fn x_forwarded_replaced_for_untrusted_peer() {
    assert_forwarded(
        &[],
        ("app.example.com", "evil.example.com"),
        ["127.0.0.1", "http", "app.example.com"],
    )
    .await;
}

#[tokio::test]
async fn x_forwarded_extended_for_trusted_proxy() {
    assert_forwarded(
        &["127.0.0.0/8"],
        ("lb.internal", "app.example.com"),
        ["6.6.6.6, 127.0.0.1", "https", "app.example.com"],
    )
    .await;
}

#[tokio::test]
async fn preserve_host_on_and_off() {
    let upstream = TestUpstream::start().await;
    for (preserve, want) in [
        (true, "app.example.com".to_owned()),
        (false, upstream.addr.to_string()),
    ] {
        let mut cfg = config(&upstream.url());
        cfg.upstream.preserve_host = preserve;
        let gw = TestGateway::start(cfg).await;
        let ans = get_with(gw.url("/"), &[("host", "app.example.com")]).await;
        assert_eq!(
            ans.json()["headers"]["host"],
            serde_json::json!([want]),
            "preserve_host = {preserve}"
        );
    }
}

#[tokio::test]
async fn traversal_goes_to_the_route_of_the_normalised_path() {
    let public = TestUpstream::start().await;
    let default = TestUpstream::start().await;
    let mut cfg = config(&default.url());
    cfg.routes.insert(
        0,
        sessiongate::config::Route {
            name: "static".into(),
            path: "/static/".into(),
            host: None,
            public: true,
            upstream: Some(public.url().parse().unwrap()),
            on_unauthenticated: sessiongate::config::OnUnauthenticated::Auto,
            idle_timeout: None,
            extends_session: true,
            inject_warning: None,
        },
    );
    let gw = TestGateway::start(cfg).await;
    let traversals = [
        "/static/../admin",
        "/static/..%2Fadmin",
        "/static/%2e%2e/admin",
        "/static/%2E%2E%2fadmin",
        "/static//../admin",
    ];
    for path in traversals {
        let answer = raw(
            gw.addr,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
    }
    assert!(public.received().is_empty(), "{:?}", public.received());
    let seen: Vec<String> = default
        .received()
        .into_iter()
        .map(|r| r.path_and_query)
        .collect();
    // Forwarded with the original path, not the normalised one.
    assert_eq!(seen, traversals);

    let ans = get(gw.url("/static/app.css")).await;
    assert_eq!(ans.status, StatusCode::OK);
    assert_eq!(public.received()[0].path_and_query, "/static/app.css");
}

#[tokio::test]
async fn keep_alive_both_sides_reuses_pooled_upstream_connection() {
    let (upstream, gw) = proxied().await;
    let http = Http::new();
    for i in 0..3 {
        let ans = http.get(gw.url(&format!("/n/{i}")), &[]).await;
        assert_eq!(ans.status, StatusCode::OK);
    }
    assert_eq!(upstream.received().len(), 3);
    assert_eq!(
        upstream.connections(),
        1,
        "the upstream pool was not reused"
    );
}
