//! HTTP/2 (h2c and TLS ALPN) and WebSocket through the gateway.

use super::*;

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
