//! Failures: upstream errors, oversized and slow heads, ambiguous framing,
//! methods and targets that are never proxied.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

#[tokio::test]
async fn closed_upstream_port_is_502() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let gw = TestGateway::start(config(&url)).await;
    let browser = get(gw.url("/")).await;
    assert_error_page(&browser, StatusCode::BAD_GATEWAY);
    let api = send(api_request(Request::get(gw.url("/")), "")).await;
    assert_error_json(&api, StatusCode::BAD_GATEWAY, "bad_gateway");
}

/// The gateway's own error page for a browser: `status`, never cached.
fn assert_error_page(ans: &Answer, status: StatusCode) {
    assert_eq!(ans.status, status);
    assert_eq!(ans.headers["cache-control"], "no-store");
    let content_type = ans.headers["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(String::from_utf8_lossy(&ans.body).contains(status.as_str()));
}

/// The gateway's own error answer for an API client: JSON naming `error`.
fn assert_error_json(ans: &Answer, status: StatusCode, error: &str) {
    assert_eq!(ans.status, status);
    assert_eq!(ans.headers["cache-control"], "no-store");
    assert_eq!(ans.json(), serde_json::json!({ "error": error }));
}

fn api_request(builder: http::request::Builder, payload: &'static str) -> Request<ClientBody> {
    builder
        .header("accept", "application/json")
        .body(body(payload))
        .unwrap()
}

#[tokio::test]
async fn slow_upstream_is_504() {
    let (_upstream, gw) =
        proxied_with(|cfg| cfg.upstream.response_timeout = Duration::from_millis(300)).await;
    let ans = get_with(
        gw.url("/sleep/3000"),
        &[("x-requested-with", "XMLHttpRequest")],
    )
    .await;
    assert_error_json(&ans, StatusCode::GATEWAY_TIMEOUT, "gateway_timeout");
}

#[tokio::test]
async fn oversized_head_is_431() {
    let (upstream, gw) = proxied_with(|cfg| cfg.server.max_header_bytes = 16 * 1024).await;
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
    let ans = get_with(gw.url("/"), &[("x-big", &fits)]).await;
    assert_eq!(ans.status, StatusCode::OK);
}

#[tokio::test]
async fn slow_request_head_is_cut_off() {
    let (upstream, gw) =
        proxied_with(|cfg| cfg.server.header_read_timeout = Duration::from_millis(500)).await;
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
    let (upstream, gw) = proxied().await;
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
    let (upstream, gw) = proxied().await;
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
async fn oversized_h2_head_is_431() {
    let (upstream, gw) = proxied_with(|cfg| cfg.server.max_header_bytes = 16 * 1024).await;
    let big = "a".repeat(20 * 1024);
    let ans = Http::h2c().get(gw.url("/"), &[("x-big", &big)]).await;
    assert_eq!(ans.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert!(upstream.received().is_empty());
}

#[tokio::test]
async fn upstream_reset_after_the_request_head_is_502() {
    let (url, heads) = resetting_upstream().await;
    let gw = TestGateway::start(config(&url)).await;
    let browser = get(gw.url("/reset")).await;
    assert_error_page(&browser, StatusCode::BAD_GATEWAY);
    let api = send(api_request(Request::post(gw.url("/reset")), "payload")).await;
    assert_error_json(&api, StatusCode::BAD_GATEWAY, "bad_gateway");
    // The upstream really read both heads: a reset, not a refused connect.
    let heads = heads.load(Ordering::SeqCst);
    assert!(heads >= 2, "the upstream read {heads} request heads");
}

/// An HTTPS upstream on 127.0.0.1 serving `cert`: it answers every request
/// `200 tls ok` and keeps the error of every handshake that failed.
struct TlsUpstream {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    failed_handshakes: Arc<std::sync::Mutex<Vec<std::io::Error>>>,
}

impl TlsUpstream {
    async fn start(cert: &rcgen::CertifiedKey<rcgen::KeyPair>) -> TlsUpstream {
        let key = rustls::pki_types::PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key.into())
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = TlsUpstream {
            addr: listener.local_addr().unwrap(),
            requests: Arc::default(),
            failed_handshakes: Arc::default(),
        };
        let (requests, failed) = (
            upstream.requests.clone(),
            upstream.failed_handshakes.clone(),
        );
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, requests, failed) =
                    (acceptor.clone(), requests.clone(), failed.clone());
                tokio::spawn(async move {
                    let stream = match acceptor.accept(tcp).await {
                        Ok(stream) => stream,
                        Err(error) => return failed.lock().unwrap().push(error),
                    };
                    let service = hyper::service::service_fn(move |_req| {
                        requests.fetch_add(1, Ordering::SeqCst);
                        async { Ok::<_, Infallible>(http::Response::new(body("tls ok"))) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        upstream
    }

    /// The handshake failures so far, as the rustls errors they were.
    fn failed_handshakes(&self) -> Vec<String> {
        self.failed_handshakes
            .lock()
            .unwrap()
            .iter()
            .map(|error| match error.get_ref() {
                Some(inner) => match inner.downcast_ref::<rustls::Error>() {
                    Some(tls) => format!("{tls:?}"),
                    None => format!("{error:?}"),
                },
                None => format!("{error:?}"),
            })
            .collect()
    }
}

/// Upstream certificates are verified against the webpki roots, never
/// accepted blindly: an HTTPS upstream whose certificate is self-signed is
/// 502. The same upstream answers a client that trusts its certificate, and
/// its side of the refused handshake is the gateway's `unknown CA` alert,
/// so distrust of the issuer, and nothing else, is what refused it.
#[tokio::test]
async fn untrusted_upstream_certificate_is_502() {
    let cert = self_signed();
    let upstream = TlsUpstream::start(&cert).await;

    let stream = tls_connect(upstream.addr, "127.0.0.1", &cert.cert, &[b"http/1.1"]).await;
    let mut sender = http1_over(stream).await;
    let req = Request::get("/")
        .header("host", "127.0.0.1")
        .body(body(""))
        .unwrap();
    assert_eq!(respond_h1(&mut sender, req).await.status(), StatusCode::OK);
    assert_eq!(upstream.requests.load(Ordering::SeqCst), 1);

    let gw = TestGateway::start(config(&format!("https://{}", upstream.addr))).await;
    let ans = get(gw.url("/secret")).await;
    assert_eq!(ans.status, StatusCode::BAD_GATEWAY);
    assert_eq!(ans.headers["cache-control"], "no-store");
    assert!(String::from_utf8_lossy(&ans.body).contains("502"));
    assert_eq!(
        upstream.requests.load(Ordering::SeqCst),
        1,
        "a request reached the upstream past an untrusted certificate"
    );
    // The upstream reads the alert on its own task, maybe after the 502.
    let failures = timeout(PATIENCE, async {
        loop {
            let failures = upstream.failed_handshakes();
            if !failures.is_empty() {
                return failures;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the gateway never attempted a TLS handshake with the upstream");
    assert!(
        failures.iter().all(|f| f == "AlertReceived(UnknownCA)"),
        "{failures:?}"
    );
}

/// `upstream.ca_file`: an upstream whose certificate a private CA signed
/// (here: itself) is trusted once that CA is configured, and only then.
#[tokio::test]
async fn an_upstream_signed_by_the_configured_ca_is_trusted() {
    let cert = self_signed();
    let upstream = TlsUpstream::start(&cert).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    let mut cfg = config(&format!("https://{}", upstream.addr));
    cfg.upstream.ca_file = Some(ca);
    let gw = TestGateway::start(cfg).await;
    let ans = get(gw.url("/secret")).await;
    assert_eq!(
        ans.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&ans.body)
    );
    assert_eq!(upstream.requests.load(Ordering::SeqCst), 1);
}

/// An upstream that closes each kept-alive connection after one answer,
/// without saying `Connection: close`: a pooled connection it closed is
/// never used again, so every request gets its answer on a new one.
#[tokio::test]
async fn a_pooled_connection_the_upstream_closed_is_not_reused() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                if !read_request_head(&mut stream).await {
                    return;
                }
                let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                let _ = stream.write_all(answer).await;
            });
        }
    });
    let gw = TestGateway::start(config(&url)).await;
    let http = Http::new();
    for i in 0..3 {
        let ans = http.get(gw.url(&format!("/n/{i}")), &[]).await;
        assert_eq!(ans.status, StatusCode::OK, "request {i}");
        // Time for the upstream's FIN to reach the idle pooled connection.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}
