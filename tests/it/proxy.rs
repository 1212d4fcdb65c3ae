//! The proxy core end to end: a real upstream, the gateway in-process, real
//! clients (hyper, raw TCP where framing matters, TLS, WebSocket).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, Version};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;

use crate::support::gateway::{TestGateway, config};
use crate::support::upstream::{DOWNLOAD_HEAD, TestUpstream};

/// Generous bound for anything that should happen "now"; only a hang hits it.
const PATIENCE: Duration = Duration::from_secs(20);
const FIFTY_MB: usize = 50 * 1024 * 1024;

type ClientBody = BoxBody<Bytes, Infallible>;

fn client() -> Client<HttpConnector, ClientBody> {
    Client::builder(TokioExecutor::new()).build_http()
}

fn body(text: &str) -> ClientBody {
    Full::new(Bytes::from(text.to_owned())).boxed()
}

/// Sends `req` and reads the whole answer.
async fn send(req: Request<ClientBody>) -> (StatusCode, HeaderMap, Bytes) {
    let resp = timeout(PATIENCE, client().request(req))
        .await
        .expect("no answer in time")
        .expect("request failed");
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    (parts.status, parts.headers, bytes)
}

async fn get(url: String) -> (StatusCode, HeaderMap, Bytes) {
    send(Request::get(url).body(body("")).unwrap()).await
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

fn json(bytes: &Bytes) -> Value {
    serde_json::from_slice(bytes).expect("JSON body")
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

#[tokio::test]
async fn forwards_method_path_query_headers_and_bodies() {
    let upstream = TestUpstream::start().await;
    let gw = TestGateway::start(config(&upstream.url())).await;
    let req = Request::put(gw.url("/some/path?a=1&b=x%20y"))
        .header("x-custom", "value")
        .header("content-type", "text/plain")
        .body(body("hello upstream"))
        .unwrap();
    let (status, headers, bytes) = send(req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-echo-response"], "yes");
    let echo = json(&bytes);
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["path"], "/some/path");
    assert_eq!(echo["query"], "a=1&b=x%20y");
    assert_eq!(echo["headers"]["x-custom"][0], "value");
    assert_eq!(echo["body"], "hello upstream");
}

#[tokio::test]
async fn upload_streams_without_buffering() {
    let upstream = TestUpstream::start().await;
    let gw = TestGateway::start(config(&upstream.url())).await;
    let (tx, req_body) = channel_body();
    let req = Request::post(gw.url("/upload")).body(req_body).unwrap();
    let pending = tokio::spawn(send(req));

    let chunk = Bytes::from(vec![b'u'; 1 << 20]);
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
    let (status, _, bytes) = pending.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&bytes)["bytes"], FIFTY_MB);
}

#[tokio::test]
async fn download_streams_without_buffering() {
    let upstream = TestUpstream::start().await;
    let gw = TestGateway::start(config(&upstream.url())).await;
    let resp = timeout(
        PATIENCE,
        client().request(
            Request::get(gw.url(&format!("/download/{FIFTY_MB}")))
                .body(body(""))
                .unwrap(),
        ),
    )
    .await
    .expect("no response headers")
    .unwrap();
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
}

#[tokio::test]
async fn hop_by_hop_headers_are_stripped_both_ways() {
    let upstream = TestUpstream::start().await;
    let gw = TestGateway::start(config(&upstream.url())).await;
    let req = Request::get(gw.url("/hop"))
        .header("connection", "keep-alive, x-client-secret")
        .header("x-client-secret", "1")
        .header("keep-alive", "timeout=5")
        .header("proxy-authorization", "Basic abc")
        .header("proxy-connection", "keep-alive")
        .header("te", "trailers")
        .header("upgrade", "foo/1")
        .header("x-kept", "yes")
        .body(body(""))
        .unwrap();
    let (status, headers, _) = send(req).await;
    assert_eq!(status, StatusCode::OK);
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
        assert!(!headers.contains_key(name), "{name} reached the client");
    }
    assert_eq!(headers["x-kept"], "yes");
}

#[tokio::test]
async fn x_forwarded_replaced_for_untrusted_peer() {
    let upstream = TestUpstream::start().await;
    let gw = TestGateway::start(config(&upstream.url())).await;
    let req = Request::get(gw.url("/"))
        .header("host", "app.example.com")
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "evil.example.com")
        .body(body(""))
        .unwrap();
    let (_, _, bytes) = send(req).await;
    let h = &json(&bytes)["headers"];
    assert_eq!(h["x-forwarded-for"], serde_json::json!(["127.0.0.1"]));
    assert_eq!(h["x-forwarded-proto"], serde_json::json!(["http"]));
    assert_eq!(
        h["x-forwarded-host"],
        serde_json::json!(["app.example.com"])
    );
}

#[tokio::test]
async fn x_forwarded_extended_for_trusted_proxy() {
    let upstream = TestUpstream::start().await;
    let mut cfg = config(&upstream.url());
    cfg.server.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    let gw = TestGateway::start(cfg).await;
    let req = Request::get(gw.url("/"))
        .header("host", "lb.internal")
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "app.example.com")
        .body(body(""))
        .unwrap();
    let (_, _, bytes) = send(req).await;
    let h = &json(&bytes)["headers"];
    assert_eq!(
        h["x-forwarded-for"],
        serde_json::json!(["6.6.6.6, 127.0.0.1"])
    );
    assert_eq!(h["x-forwarded-proto"], serde_json::json!(["https"]));
    assert_eq!(
        h["x-forwarded-host"],
        serde_json::json!(["app.example.com"])
    );
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
        let req = Request::get(gw.url("/"))
            .header("host", "app.example.com")
            .body(body(""))
            .unwrap();
        let (_, _, bytes) = send(req).await;
        assert_eq!(
            json(&bytes)["headers"]["host"],
            serde_json::json!([want]),
            "preserve_host = {preserve}"
        );
    }
}

#[tokio::test]
async fn closed_upstream_port_is_502() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let gw = TestGateway::start(config(&url)).await;
    let (status, headers, bytes) = get(gw.url("/")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(headers["cache-control"], "no-store");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(String::from_utf8_lossy(&bytes).contains("502"));

    let req = Request::get(gw.url("/"))
        .header("accept", "application/json")
        .body(body(""))
        .unwrap();
    let (status, _, bytes) = send(req).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(json(&bytes), serde_json::json!({"error": "bad_gateway"}));
}

#[tokio::test]
async fn slow_upstream_is_504() {
    let upstream = TestUpstream::start().await;
    let mut cfg = config(&upstream.url());
    cfg.upstream.response_timeout = Duration::from_millis(300);
    let gw = TestGateway::start(cfg).await;
    let req = Request::get(gw.url("/sleep/3000"))
        .header("x-requested-with", "XMLHttpRequest")
        .body(body(""))
        .unwrap();
    let (status, headers, bytes) = send(req).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(
        json(&bytes),
        serde_json::json!({"error": "gateway_timeout"})
    );
}

#[tokio::test]
async fn oversized_head_is_431() {
    let upstream = TestUpstream::start().await;
    let mut cfg = config(&upstream.url());
    cfg.server.max_header_bytes = 16 * 1024;
    let gw = TestGateway::start(cfg).await;
    let big = "a".repeat(20 * 1024);
    let answer = raw(
        gw.addr,
        format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert!(upstream.received().is_empty());

    // Just under the limit still goes through.
    let fits = "a".repeat(8 * 1024);
    let req = Request::get(gw.url("/"))
        .header("x-big", fits)
        .body(body(""))
        .unwrap();
    assert_eq!(send(req).await.0, StatusCode::OK);
}

#[tokio::test]
async fn slow_request_head_is_cut_off() {
    let upstream = TestUpstream::start().await;
    let mut cfg = config(&upstream.url());
    cfg.server.header_read_timeout = Duration::from_millis(500);
    let gw = TestGateway::start(cfg).await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Half: ")
        .await
        .unwrap();
    let mut out = Vec::new();
    // The gateway must end the connection; PATIENCE only catches a hang.
    let _ = timeout(PATIENCE, stream.read_to_end(&mut out))
        .await
        .expect("a stalled request head was not cut off");
    assert!(upstream.received().is_empty());
}

#[tokio::test]
async fn ambiguous_framing_is_400_and_never_forwarded() {
    let upstream = TestUpstream::start().await;
    let gw = TestGateway::start(config(&upstream.url())).await;
    let cases: [(&str, &[u8]); 8] = [
        (
            "Content-Length with Transfer-Encoding",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ),
        (
            "differing Content-Lengths",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        ),
        (
            "Content-Length list",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!",
        ),
        (
            "unknown coding before chunked",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        ),
        (
            "unknown coding",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        ),
        (
            "obs-fold",
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n",
        ),
        ("NUL", b"GET / HTTP/1.1\r\nHost: x\r\nX-Nul: a\0b\r\n\r\n"),
        ("bare CR", b"GET / HTTP/1.1\r\nHost: x\r\nX-Cr: a\rb\r\n\r\n"),
    ];
    for (name, request) in cases {
        let answer = raw(gw.addr, request).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{name}: {answer}");
    }
    assert!(upstream.received().is_empty(), "{:?}", upstream.received());
    assert_eq!(upstream.connections(), 0);
}

#[tokio::test]
async fn connect_is_405_and_absolute_form_stays_on_the_route_upstream() {
    let upstream = TestUpstream::start().await;
    let gw = TestGateway::start(config(&upstream.url())).await;
    let answer = raw(
        gw.addr,
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    assert!(upstream.received().is_empty());

    let answer = raw(
        gw.addr,
        b"GET http://evil.example.com/x?y=1 HTTP/1.1\r\nHost: evil.example.com\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(upstream.received()[0].method, "GET");
    assert_eq!(upstream.received()[0].path_and_query, "/x?y=1");
}

#[tokio::test]
async fn traversal_goes_to_the_route_of_the_normalised_path() {
    let public = TestUpstream::start().await;
    let default = TestUpstream::start().await;
    let mut cfg = config(&default.url());
    cfg.routes = vec![sessiongate::config::Route {
        name: "static".into(),
        path: "/static/".into(),
        host: None,
        public: true,
        upstream: Some(public.url().parse().unwrap()),
        on_unauthenticated: sessiongate::config::OnUnauthenticated::Auto,
        idle_timeout: None,
        extends_session: true,
    }];
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

    let (status, _, _) = get(gw.url("/static/app.css")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(public.received()[0].path_and_query, "/static/app.css");
}

#[tokio::test]
async fn h2c_prior_knowledge() {
    let upstream = TestUpstream::start().await;
    let gw = TestGateway::start(config(&upstream.url())).await;
    let client: Client<HttpConnector, ClientBody> = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let req = Request::post(gw.url("/h2?x=1"))
        .body(body("over h2c"))
        .unwrap();
    let resp = timeout(PATIENCE, client.request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.version(), Version::HTTP_2);
    assert_eq!(resp.status(), StatusCode::OK);
    let echo = json(&resp.into_body().collect().await.unwrap().to_bytes());
    assert_eq!(echo["query"], "x=1");
    assert_eq!(echo["body"], "over h2c");
    // The :authority became a Host header for the HTTP/1.1 upstream.
    assert_eq!(
        echo["headers"]["host"],
        serde_json::json!([gw.addr.to_string()])
    );
}

#[tokio::test]
async fn tls_with_alpn_h2() {
    let upstream = TestUpstream::start().await;
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let mut cfg = config(&upstream.url());
    cfg.server.tls = Some(sessiongate::config::TlsFiles {
        cert: cert_path,
        key: key_path,
    });
    let gw = TestGateway::start(cfg).await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let tcp = TcpStream::connect(gw.addr).await.unwrap();
    let stream = timeout(
        PATIENCE,
        connector.connect("localhost".try_into().unwrap(), tcp),
    )
    .await
    .unwrap()
    .expect("TLS handshake");
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));

    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = Request::get("https://localhost/over-tls")
        .body(body(""))
        .unwrap();
    let resp = timeout(PATIENCE, sender.send_request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let echo = json(&resp.into_body().collect().await.unwrap().to_bytes());
    assert_eq!(echo["path"], "/over-tls");
    assert_eq!(
        echo["headers"]["x-forwarded-proto"],
        serde_json::json!(["https"])
    );
}

#[tokio::test]
async fn websocket_echo_through_the_gateway() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let upstream = TestUpstream::start().await;
    let gw = TestGateway::start(config(&upstream.url())).await;
    let tcp = TcpStream::connect(gw.addr).await.unwrap();
    let (mut ws, resp) = timeout(
        PATIENCE,
        tokio_tungstenite::client_async(format!("ws://{}/ws", gw.addr), tcp),
    )
    .await
    .unwrap()
    .expect("WebSocket handshake through the gateway");
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    for text in ["hello", "again"] {
        ws.send(Message::text(text)).await.unwrap();
        let echoed = timeout(PATIENCE, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(echoed.into_text().unwrap().as_str(), text);
    }
    let seen = &upstream.received()[0].headers;
    assert_eq!(seen["upgrade"], "websocket");
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_and_refuses_new() {
    let upstream = TestUpstream::start().await;
    let mut gw = TestGateway::start(config(&upstream.url())).await;
    let in_flight = tokio::spawn(get(gw.url("/sleep/1000")));
    timeout(PATIENCE, async {
        while upstream.received().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the request never reached the upstream");

    gw.begin_shutdown();
    timeout(PATIENCE, async {
        while TcpStream::connect(gw.addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("new connections were still accepted after shutdown");

    let (status, _, _) = in_flight.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    timeout(PATIENCE, gw.finished())
        .await
        .expect("run did not return after its connections finished")
        .unwrap();
}

#[tokio::test]
async fn oversized_h2_head_is_431() {
    let upstream = TestUpstream::start().await;
    let mut cfg = config(&upstream.url());
    cfg.server.max_header_bytes = 16 * 1024;
    let gw = TestGateway::start(cfg).await;
    let client: Client<HttpConnector, ClientBody> = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let req = Request::get(gw.url("/"))
        .header("x-big", "a".repeat(20 * 1024))
        .body(body(""))
        .unwrap();
    let resp = timeout(PATIENCE, client.request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert!(upstream.received().is_empty());
}

#[tokio::test]
async fn keep_alive_both_sides_reuses_pooled_upstream_connection() {
    let upstream = TestUpstream::start().await;
    let gw = TestGateway::start(config(&upstream.url())).await;
    let client = client();
    for i in 0..3 {
        let req = Request::get(gw.url(&format!("/n/{i}")))
            .body(body(""))
            .unwrap();
        let resp = timeout(PATIENCE, client.request(req))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        resp.into_body().collect().await.unwrap();
    }
    assert_eq!(upstream.received().len(), 3);
    assert_eq!(
        upstream.connections(),
        1,
        "the upstream pool was not reused"
    );
}

#[tokio::test]
async fn unreadable_tls_files_fail_run() {
    let mut cfg = config("http://127.0.0.1:1");
    cfg.server.tls = Some(sessiongate::config::TlsFiles {
        cert: "/nonexistent/cert.pem".into(),
        key: "/nonexistent/key.pem".into(),
    });
    let mut gw = TestGateway::start(cfg).await;
    let result = timeout(PATIENCE, gw.finished()).await.unwrap();
    assert!(
        matches!(result, Err(sessiongate::Error::Tls(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn shutdown_grace_bounds_the_wait_for_in_flight_requests() {
    let upstream = TestUpstream::start().await;
    let mut cfg = config(&upstream.url());
    cfg.server.shutdown_grace = Duration::from_millis(300);
    let mut gw = TestGateway::start(cfg).await;
    // Far longer than the grace: only an ended connection lets it finish soon.
    let in_flight = tokio::spawn(get_raw_status(gw.addr, "/sleep/60000"));
    timeout(PATIENCE, async {
        while upstream.received().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the request never reached the upstream");
    gw.begin_shutdown();
    timeout(PATIENCE, gw.finished())
        .await
        .expect("run waited past shutdown_grace")
        .unwrap();
    let answer = timeout(PATIENCE, in_flight)
        .await
        .expect("the in-flight connection was left open")
        .unwrap();
    assert_eq!(answer, "", "the cut-off request got an answer");
}

/// Sends a GET and returns whatever the gateway answered before closing
/// (or resetting) the connection.
async fn get_raw_status(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}
