//! Start-up failures and graceful shutdown.

use super::*;

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
