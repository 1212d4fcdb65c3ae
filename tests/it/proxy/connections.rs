//! Connection-level timeouts (SPEC §5, "Connections"): silent, slow and
//! idle connections are closed, on the proxy and the admin listener;
//! requests in flight, long responses and WebSocket tunnels never are.
//!
//! Timeouts here are short (1 s to the first byte, 2.5 s idle) and every
//! bound has a margin of at least 1 s; the lower bounds are safe on a
//! slow machine, since the gateway cannot close before its own timer.

use std::time::Instant;

use hyper::client::conn::http2;
use tokio::task::JoinHandle;

use super::*;

const HEAD_TIMEOUT: Duration = Duration::from_secs(1);
const IDLE_TIMEOUT: Duration = Duration::from_millis(2500);
/// Closing may come this much after its deadline (a loaded machine).
const LATE: Duration = Duration::from_secs(2);
/// ... and never this much before it (the test's clock starts a little
/// after the gateway's does).
const EARLY: Duration = Duration::from_secs(1);

const H2_MAGIC: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// An upstream and a gateway with the short [`HEAD_TIMEOUT`] and
/// [`IDLE_TIMEOUT`] these tests wait out.
async fn gateway() -> (TestUpstream, TestGateway) {
    proxied_with(|cfg| {
        cfg.server.header_read_timeout = HEAD_TIMEOUT;
        cfg.server.keepalive_timeout = IDLE_TIMEOUT;
    })
    .await
}

/// Reads (and drops) whatever comes until the gateway closes `stream`;
/// returns how long after `since` that was. Fails if it is still open
/// `timeout + LATE` after `since`, or closed before `timeout - EARLY`.
async fn closed_after<S>(stream: &mut S, since: Instant, timeout: Duration) -> Duration
where
    S: tokio::io::AsyncRead + Unpin,
{
    let mut sink = Vec::new();
    let limit = (since + timeout + LATE).saturating_duration_since(Instant::now());
    // A reset counts as closed as much as a FIN does.
    let _ = tokio::time::timeout(limit, stream.read_to_end(&mut sink))
        .await
        .unwrap_or_else(|_| panic!("still open {:?} after {timeout:?}", timeout + LATE));
    assert_not_early(since, timeout)
}

/// Fails if less than `timeout - EARLY` has passed since `since` (the
/// gateway closed before its timeout); returns the time passed.
fn assert_not_early(since: Instant, timeout: Duration) -> Duration {
    let elapsed = since.elapsed();
    assert!(
        elapsed + EARLY >= timeout,
        "closed after {elapsed:?}, before the {timeout:?} timeout"
    );
    elapsed
}

/// Reads one response with a `Content-Length` body; returns its head.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().unwrap())
                })
                .expect("a Content-Length");
            if buf.len() >= end + 4 + length {
                return head;
            }
        }
        let n = timeout(PATIENCE, stream.read(&mut chunk))
            .await
            .expect("no response in time")
            .expect("read");
        assert!(
            n > 0,
            "closed mid-response: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// An h2c connection made with prior knowledge; the task resolves when
/// the gateway closes it.
async fn h2c(addr: SocketAddr) -> (http2::SendRequest<ClientBody>, JoinHandle<()>) {
    http2_over(tcp(addr).await).await
}

/// Waits up to `timeout + LATE` for the task of an [`h2c`] connection,
/// `closed`, to end; fails if it ended before `timeout - EARLY` after
/// `since`.
async fn h2c_closed(closed: JoinHandle<()>, since: Instant, timeout: Duration) {
    tokio::time::timeout(timeout + LATE, closed)
        .await
        .unwrap_or_else(|_| panic!("an idle h2c connection still open {timeout:?} + {LATE:?} on"))
        .unwrap();
    assert_not_early(since, timeout);
}

#[tokio::test]
async fn silent_connection_is_closed_after_header_read_timeout() {
    let (_upstream, gw) = gateway().await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    closed_after(&mut stream, Instant::now(), HEAD_TIMEOUT).await;
}

#[tokio::test]
async fn silent_tls_connection_is_closed_after_header_read_timeout() {
    let upstream = TestUpstream::start().await;
    let mut cfg = config(&upstream.url());
    cfg.server.header_read_timeout = HEAD_TIMEOUT;
    let (cert, _dir) = serve_tls(&mut cfg);
    let gw = TestGateway::start(cfg).await;
    // No ClientHello: the handshake's own timeout.
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    closed_after(&mut tcp, Instant::now(), HEAD_TIMEOUT).await;
    // A handshake, then nothing (with ALPN h2 and http/1.1 alike).
    for alpn in [b"h2".as_slice(), b"http/1.1"] {
        let mut tls = tls_connect(gw.addr, "localhost", &cert.cert, &[alpn]).await;
        closed_after(&mut tls, Instant::now(), HEAD_TIMEOUT).await;
    }
}

#[tokio::test]
async fn h2c_preface_alone_is_closed_after_header_read_timeout() {
    let (upstream, gw) = gateway().await;
    // The magic line and nothing more (no SETTINGS), and then the magic
    // line with half a SETTINGS frame.
    let half_settings = [H2_MAGIC, &[0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3]].concat();
    for preface in [H2_MAGIC, &half_settings] {
        let mut stream = TcpStream::connect(gw.addr).await.unwrap();
        stream.write_all(preface).await.unwrap();
        closed_after(&mut stream, Instant::now(), HEAD_TIMEOUT).await;
    }
    assert!(upstream.received().is_empty());
}

#[tokio::test]
async fn idle_keep_alive_http1_connection_is_closed_after_keepalive_timeout() {
    let (upstream, gw) = gateway().await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    // Two requests on the connection: it stays open between them.
    for _ in 0..2 {
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let head = read_response(&mut stream).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    }
    // Idle past header_read_timeout, closed only at keepalive_timeout.
    closed_after(&mut stream, Instant::now(), IDLE_TIMEOUT).await;
    assert_eq!(upstream.received().len(), 2);
}

#[tokio::test]
async fn slow_next_head_on_a_kept_alive_connection_is_cut_off() {
    let (upstream, gw) = gateway().await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    read_response(&mut stream).await;
    // The next head begins but never ends: header_read_timeout, not the
    // longer keepalive_timeout, applies from its first byte.
    stream.write_all(b"GET / HTTP/1.1\r\nX-").await.unwrap();
    let elapsed = closed_after(&mut stream, Instant::now(), HEAD_TIMEOUT).await;
    assert!(elapsed < IDLE_TIMEOUT, "{elapsed:?}");
    assert_eq!(upstream.received().len(), 1);
}

#[tokio::test]
async fn idle_h2c_connection_without_streams_is_closed_after_keepalive_timeout() {
    let (_upstream, gw) = gateway().await;
    // Never a stream: the preface and SETTINGS alone, then idle.
    let started = Instant::now();
    let (_send, closed) = h2c(gw.addr).await;
    h2c_closed(closed, started, IDLE_TIMEOUT).await;

    // One stream, then idle: closed keepalive_timeout after it ended.
    let (mut send, closed) = h2c(gw.addr).await;
    let resp = send
        .send_request(Request::get(gw.url("/")).body(body("")).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.into_body().collect().await.unwrap();
    let idle_since = Instant::now();
    h2c_closed(closed, idle_since, IDLE_TIMEOUT).await;
}

#[tokio::test]
async fn responses_longer_than_keepalive_timeout_are_not_cut() {
    let wait = IDLE_TIMEOUT + Duration::from_secs(1);
    for http2 in [false, true] {
        let (upstream, gw) = gateway().await;
        let client = Http::speaking(if http2 { Proto::H2c } else { Proto::Http1 });
        // Slow to answer at all.
        let slow = format!("/sleep/{}", wait.as_millis());
        let ans = client.get(gw.url(&slow), &[]).await;
        assert_eq!(ans.status, StatusCode::OK, "http2: {http2}");

        // Slow to finish: the download stalls after its head.
        let size = DOWNLOAD_HEAD * 2;
        let resp = client
            .respond(
                Request::get(gw.url(&format!("/download/{size}")))
                    .body(body(""))
                    .unwrap(),
            )
            .await;
        let mut body = resp.into_body();
        let mut received = 0;
        while received < DOWNLOAD_HEAD {
            let frame = timeout(PATIENCE, body.frame()).await.unwrap().unwrap();
            received += frame.unwrap().data_ref().map_or(0, Bytes::len);
        }
        tokio::time::sleep(wait).await;
        upstream.release_download();
        while let Some(frame) = timeout(PATIENCE, body.frame()).await.expect("stalled") {
            received += frame
                .expect("a streaming response was cut")
                .data_ref()
                .map_or(0, Bytes::len);
        }
        assert_eq!(received, size, "http2: {http2}");
    }
}

#[tokio::test]
async fn websocket_tunnel_idle_longer_than_keepalive_timeout_stays_open() {
    let (_upstream, gw) = gateway().await;
    let (mut ws, _) = websocket(&gw).await;
    tokio::time::sleep(IDLE_TIMEOUT + Duration::from_secs(1)).await;
    assert_echoed(&mut ws, "still there").await;
}

#[tokio::test]
async fn admin_listener_closes_silent_slow_and_idle_connections() {
    let (_upstream, gw) = gateway().await;
    let mut silent = TcpStream::connect(gw.admin).await.unwrap();
    let mut slow = TcpStream::connect(gw.admin).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nX-")
        .await
        .unwrap();
    let now = Instant::now();
    closed_after(&mut silent, now, HEAD_TIMEOUT).await;
    closed_after(&mut slow, now, HEAD_TIMEOUT).await;

    let mut idle = TcpStream::connect(gw.admin).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let head = read_response(&mut idle).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    closed_after(&mut idle, Instant::now(), IDLE_TIMEOUT).await;

    let mut preface = TcpStream::connect(gw.admin).await.unwrap();
    preface.write_all(H2_MAGIC).await.unwrap();
    closed_after(&mut preface, Instant::now(), HEAD_TIMEOUT).await;
}

#[tokio::test]
async fn many_silent_connections_are_closed_so_new_clients_get_served() {
    let (_upstream, gw) = gateway().await;
    let started = Instant::now();
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(TcpStream::connect(gw.addr).await.unwrap());
    }
    for stream in &mut silent {
        closed_after(stream, started, HEAD_TIMEOUT).await;
    }
    // The gateway holds none of them any more, and serves a new client.
    let ans = get(format!("http://{}/metrics", gw.admin)).await;
    let metrics = String::from_utf8_lossy(&ans.body);
    assert!(
        metrics.contains("sessiongate_open_connections 0"),
        "{metrics}"
    );
    let ans = get(gw.url("/")).await;
    assert_eq!(ans.status, StatusCode::OK);
}
