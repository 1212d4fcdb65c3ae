//! Upgrades (SPEC §5): only `Upgrade: websocket` goes upstream, and only a
//! `101` that accepts that WebSocket handshake becomes a tunnel.

use hyper::client::conn::http1::SendRequest;

use super::*;
use crate::support::upstream::switching_upstream;

/// RFC 6455 §1.3's example key.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// An HTTP/1.1 connection to `addr`, driven in the background.
async fn h1_connection(addr: SocketAddr) -> SendRequest<ClientBody> {
    http1_over(tcp(addr).await).await
}

/// Sends `req` on `sender` (after it is ready) and returns the answer's
/// status.
async fn send_on(sender: &mut SendRequest<ClientBody>, req: Request<ClientBody>) -> StatusCode {
    respond_h1(sender, req).await.status()
}

fn websocket_request(path: &str) -> http::request::Builder {
    Request::get(path)
        .header("host", "app.test")
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-key", KEY)
        .header("sec-websocket-version", "13")
}

/// An upstream that answered `101` but kept speaking HTTP used to get a
/// blind tunnel: the client's next request on the socket reached it
/// unchecked, with a forged identity header. Now that `101` (it carries no
/// `Sec-WebSocket-Accept`) is a `502` counted as an upstream error, the
/// upstream connection is dropped, and the next request is the gateway's
/// to check like any other.
#[tokio::test]
async fn upstream_101_without_websocket_accept_is_502_not_a_blind_tunnel() {
    let (url, connections) = switching_upstream(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
            .to_owned(),
    )
    .await;
    let gw = TestGateway::start(config(&url)).await;
    let before = upstream_errors(&gw).await;

    let mut sender = h1_connection(gw.addr).await;
    let upgrade = websocket_request("/ws").body(body("")).unwrap();
    assert_eq!(send_on(&mut sender, upgrade).await, StatusCode::BAD_GATEWAY);
    // The same client connection, now carrying a forged identity. It is an
    // ordinary request to the gateway, stripped and forwarded on a new
    // upstream connection, whose `101` (to a request that asked for no
    // upgrade) is a 502 again.
    let forged = Request::get("/admin")
        .header("host", "app.test")
        .header("x-sessiongate-user", "mallory")
        .body(body(""))
        .unwrap();
    assert_eq!(send_on(&mut sender, forged).await, StatusCode::BAD_GATEWAY);

    let seen = connections.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "the first upstream connection was reused");
    for (i, bytes) in seen.iter().enumerate() {
        let text = String::from_utf8_lossy(bytes).to_ascii_lowercase();
        let heads = text.matches("\r\n\r\n").count();
        assert_eq!(
            heads, 1,
            "connection {i} carried more than its request:\n{text}"
        );
        assert!(
            !text.contains("mallory"),
            "forged identity reached the upstream:\n{text}"
        );
    }
    let after = upstream_errors(&gw).await;
    assert_eq!(
        after[2] - before[2],
        2.0,
        "kind=other: {before:?} -> {after:?}"
    );
    assert_eq!(
        after[3] - before[3],
        2.0,
        "outcome: {before:?} -> {after:?}"
    );
}

/// A `101` whose `Sec-WebSocket-Accept` is not the one the request's key
/// calls for did not accept this handshake: `502`, and a real WebSocket
/// client sees the handshake fail.
#[tokio::test]
async fn upstream_101_with_a_wrong_websocket_accept_is_502() {
    let (url, connections) = switching_upstream(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
            .to_owned(),
    )
    .await;
    let gw = TestGateway::start(config(&url)).await;
    let tcp = TcpStream::connect(gw.addr).await.unwrap();
    let handshake = timeout(
        PATIENCE,
        tokio_tungstenite::client_async(format!("ws://{}/ws", gw.addr), tcp),
    )
    .await
    .expect("no answer to the upgrade in time");
    match handshake {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
        }
        Err(other) => panic!("unexpected handshake error {other}"),
        Ok((_, resp)) => panic!("tunnelled a 101 with the wrong accept: {resp:?}"),
    }
    assert_eq!(connections.lock().unwrap().len(), 1);
}

/// `Upgrade: websocket, h2c` with `HTTP2-Settings` used to be forwarded
/// verbatim: the upstream now sees `Upgrade: websocket` alone and no
/// `HTTP2-Settings`, and the WebSocket handshake still completes.
#[tokio::test]
async fn upgrade_forwards_only_websocket_and_never_http2_settings() {
    let upstream = TestUpstream::start().await;
    let gw = TestGateway::start(config(&upstream.url())).await;
    let mut sender = h1_connection(gw.addr).await;
    let req = Request::get("/ws")
        .header("host", "app.test")
        .header("connection", "Upgrade, HTTP2-Settings")
        .header("upgrade", "websocket, h2c")
        .header("http2-settings", "AAMAAABkAAQAoAAAAAIAAAAA")
        .header("sec-websocket-key", KEY)
        .header("sec-websocket-version", "13")
        .body(body(""))
        .unwrap();
    assert_eq!(
        send_on(&mut sender, req).await,
        StatusCode::SWITCHING_PROTOCOLS
    );
    let seen = &upstream.received()[0].headers;
    let upgrade: Vec<_> = seen.get_all("upgrade").iter().collect();
    assert_eq!(upgrade, ["websocket"], "{seen:?}");
    assert!(!seen.contains_key("http2-settings"), "{seen:?}");
    assert_eq!(seen["connection"], "upgrade");
}

/// `Upgrade: h2c` alone is no WebSocket handshake: the upstream sees no
/// `Upgrade` and no `HTTP2-Settings` and answers the plain request.
#[tokio::test]
async fn h2c_upgrade_is_not_forwarded() {
    let upstream = TestUpstream::start().await;
    let gw = TestGateway::start(config(&upstream.url())).await;
    let mut sender = h1_connection(gw.addr).await;
    let req = Request::get("/plain")
        .header("host", "app.test")
        .header("connection", "Upgrade, HTTP2-Settings")
        .header("upgrade", "h2c")
        .header("http2-settings", "AAMAAABkAAQAoAAAAAIAAAAA")
        .body(body(""))
        .unwrap();
    assert_eq!(send_on(&mut sender, req).await, StatusCode::OK);
    let seen = &upstream.received()[0].headers;
    assert!(!seen.contains_key("upgrade"), "{seen:?}");
    assert!(!seen.contains_key("http2-settings"), "{seen:?}");
    assert!(!seen.contains_key("connection"), "{seen:?}");
}

/// Over h2c there is no `Upgrade` to send, but an `HTTP2-Settings` header
/// is not forwarded either.
#[tokio::test]
async fn http2_settings_from_an_h2c_client_is_not_forwarded() {
    let upstream = TestUpstream::start().await;
    let gw = TestGateway::start(config(&upstream.url())).await;
    let req = Request::get(gw.url("/plain"))
        .header("http2-settings", "AAMAAABkAAQAoAAAAAIAAAAA")
        .body(body(""))
        .unwrap();
    let ans = Http::h2c().send(req).await;
    assert_eq!(ans.version, Version::HTTP_2);
    assert_eq!(ans.status, StatusCode::OK);
    let seen = &upstream.received()[0].headers;
    assert!(!seen.contains_key("http2-settings"), "{seen:?}");
}
