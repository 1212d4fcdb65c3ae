//! HTTP/2 (h2c and TLS ALPN), HTTP/1.1 over TLS and WebSocket through the
//! gateway.

use super::*;

#[tokio::test]
async fn h2c_prior_knowledge() {
    let (_upstream, gw) = proxied().await;
    let req = Request::post(gw.url("/h2?x=1"))
        .body(body("over h2c"))
        .unwrap();
    let ans = Http::h2c().send(req).await;
    assert_eq!(ans.version, Version::HTTP_2);
    assert_eq!(ans.status, StatusCode::OK);
    let echo = ans.json();
    assert_eq!(echo["query"], "x=1");
    assert_eq!(echo["body"], "over h2c");
    // The :authority became a Host header for the HTTP/1.1 upstream.
    assert_eq!(
        echo["headers"]["host"],
        serde_json::json!([gw.addr.to_string()])
    );
}

/// A gateway serving TLS on its listener with a fresh self-signed
/// certificate; the directory holding the PEM files lives as long as the
/// returned guard.
async fn tls_gateway(
    upstream: &TestUpstream,
) -> (
    TestGateway,
    rcgen::CertifiedKey<rcgen::KeyPair>,
    tempfile::TempDir,
) {
    let mut cfg = config(&upstream.url());
    let (cert, dir) = serve_tls(&mut cfg);
    (TestGateway::start(cfg).await, cert, dir)
}

/// TLS on the listener, ALPN `h2` preferred: the client gets HTTP/2 and
/// the upstream learns the request came over https.
#[tokio::test]
async fn tls_with_alpn_h2() {
    let upstream = TestUpstream::start().await;
    let (gw, cert, _dir) = tls_gateway(&upstream).await;
    let stream = tls_connect(gw.addr, "localhost", &cert.cert, &[b"h2", b"http/1.1"]).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));

    let (mut sender, _conn) = http2_over(stream).await;
    let req = Request::get("https://localhost/over-tls")
        .body(body(""))
        .unwrap();
    let ans = Answer::read(respond_h2(&mut sender, req).await).await;
    assert_eq!(ans.status, StatusCode::OK);
    let echo = ans.json();
    assert_eq!(echo["path"], "/over-tls");
    assert_eq!(
        echo["headers"]["x-forwarded-proto"],
        serde_json::json!(["https"])
    );
}

/// A TLS client that offers only `http/1.1` in ALPN is not refused for
/// lacking h2: the listener selects `http/1.1` and serves HTTP/1.1, two
/// requests on one kept-alive connection.
#[tokio::test]
async fn tls_with_alpn_http1_only_falls_back_to_http1() {
    let upstream = TestUpstream::start().await;
    let (gw, cert, _dir) = tls_gateway(&upstream).await;
    let stream = tls_connect(gw.addr, "localhost", &cert.cert, &[b"http/1.1"]).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));

    let mut sender = http1_over(stream).await;
    for path in ["/over-tls-h1", "/again"] {
        let req = Request::get(path)
            .header("host", "localhost")
            .body(body(""))
            .unwrap();
        let ans = Answer::read(respond_h1(&mut sender, req).await).await;
        assert_eq!(ans.version, Version::HTTP_11);
        assert_eq!(ans.status, StatusCode::OK);
        let echo = ans.json();
        assert_eq!(echo["path"], path);
        assert_eq!(
            echo["headers"]["x-forwarded-proto"],
            serde_json::json!(["https"])
        );
    }
    assert_eq!(upstream.received().len(), 2);
}

#[tokio::test]
async fn websocket_echo_through_the_gateway() {
    let (upstream, gw) = proxied().await;
    let (mut ws, resp) = websocket(&gw).await;
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    for text in ["hello", "again"] {
        assert_echoed(&mut ws, text).await;
    }
    let seen = &upstream.received()[0].headers;
    assert_eq!(seen["upgrade"], "websocket");
}
