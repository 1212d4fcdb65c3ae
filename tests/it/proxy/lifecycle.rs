//! Start-up failures and graceful shutdown.

use super::*;

/// An upstream that answers every request `200 released`, but only once
/// the test releases it: until then a request it has received stays in
/// flight, however fast or slow the machine is.
struct HeldUpstream {
    url: String,
    /// Notified as each request reaches the upstream.
    arrived: Arc<tokio::sync::Notify>,
    release: tokio::sync::watch::Sender<bool>,
}

impl HeldUpstream {
    async fn start() -> HeldUpstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let arrived = Arc::new(tokio::sync::Notify::new());
        let (release, released) = tokio::sync::watch::channel(false);
        let notify = arrived.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (notify, released) = (notify.clone(), released.clone());
                let service = hyper::service::service_fn(move |_req| {
                    let (notify, mut released) = (notify.clone(), released.clone());
                    async move {
                        notify.notify_one();
                        let _ = released.wait_for(|released| *released).await;
                        Ok::<_, Infallible>(http::Response::new(body("released")))
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        HeldUpstream {
            url,
            arrived,
            release,
        }
    }
}

/// SIGTERM's contract in-process: a request the upstream is still holding
/// when shutdown begins is answered 200 once the upstream lets it go,
/// while new connections are refused from the moment shutdown began; `run`
/// returns once that request is done.
#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_and_refuses_new() {
    let upstream = HeldUpstream::start().await;
    let mut gw = TestGateway::start(config(&upstream.url)).await;
    let in_flight = tokio::spawn(get(gw.url("/held")));
    timeout(PATIENCE, upstream.arrived.notified())
        .await
        .expect("the request never reached the upstream");

    // The upstream holds the request: it is in flight as shutdown begins.
    gw.begin_shutdown();
    timeout(PATIENCE, async {
        while TcpStream::connect(gw.addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("new connections were still accepted after shutdown");
    // The first failure may be a reset of a connect caught mid-close; once
    // the listener is gone, the port refuses outright.
    let refused = TcpStream::connect(gw.addr)
        .await
        .expect_err("a connection was accepted after shutdown");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(
        !in_flight.is_finished(),
        "the in-flight request ended before the upstream answered it"
    );

    upstream.release.send(true).unwrap();
    let ans = timeout(PATIENCE, in_flight)
        .await
        .expect("the in-flight request was not answered after its release")
        .unwrap();
    assert_eq!(ans.status, StatusCode::OK);
    assert_eq!(ans.body, "released");
    timeout(PATIENCE, gw.finished())
        .await
        .expect("run did not return after its connections finished")
        .unwrap();
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
    let (upstream, mut gw) =
        proxied_with(|cfg| cfg.server.shutdown_grace = Duration::from_millis(300)).await;
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
