//! Request bodies on their way upstream (SPEC §5): a body the client breaks
//! is the client's error, and a `GET` keeps its body.

use super::*;

/// A chunked body whose chunk size is not hex used to be answered `502`
/// and counted against the upstream (the upstream client failed while
/// sending it). It is the client's error: `400`, connection closed, and no
/// upstream error counted.
#[tokio::test]
async fn broken_chunked_body_is_400_and_not_an_upstream_error() {
    let (_upstream, gw) = proxied().await;
    let before = upstream_errors(&gw).await;
    for method in ["POST", "GET"] {
        let request = format!(
            "{method} /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
             5\r\nhello\r\nzz\r\nmore\r\n0\r\n\r\n"
        );
        let answer = raw(gw.addr, request.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{method}: {answer}");
    }
    assert_eq!(upstream_errors(&gw).await, before);
}

/// A client that ends its side of the connection in the middle of a chunk
/// broke its body too: `400`, not an upstream error.
#[tokio::test]
async fn body_ending_mid_chunk_is_not_an_upstream_error() {
    let (upstream, gw) = proxied().await;
    let before = upstream_errors(&gw).await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream
        .write_all(
            b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nhel",
        )
        .await
        .unwrap();
    // The upstream has the request once the first bytes reached it.
    timeout(PATIENCE, upstream.first_chunk()).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut out = Vec::new();
    let _ = timeout(PATIENCE, stream.read_to_end(&mut out))
        .await
        .expect("the gateway kept the connection open");
    let out = String::from_utf8_lossy(&out);
    // Its write side is still open: it gets the 400 (once the answer is
    // written, the request has been counted).
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert_eq!(upstream_errors(&gw).await, before);
}

/// A `GET` with a chunked body used to reach the upstream without it
/// (hyper's client sends no body for a `GET` of unknown length unless told
/// it is chunked).
#[tokio::test]
async fn get_with_chunked_body_is_forwarded_with_its_body() {
    let (upstream, gw) = proxied().await;
    let answer = raw(
        gw.addr,
        b"GET /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
          5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let body = answer.split_once("\r\n\r\n").unwrap().1;
    assert!(body.contains(r#""body":"hello world""#), "{answer}");
    let seen = &upstream.received()[0];
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.headers["transfer-encoding"], "chunked");
}

/// The same over h2c: a `GET` whose DATA frames carry a body of unknown
/// length (no `content-length`) reaches the upstream with it.
#[tokio::test]
async fn h2c_get_with_a_body_is_forwarded_with_it() {
    let (_upstream, gw) = proxied().await;
    let (tx, body) = channel_body();
    let req = Request::get(gw.url("/echo")).body(body).unwrap();
    let pending = tokio::spawn(async move { Http::h2c().send(req).await });
    tx.send(Bytes::from_static(b"hello")).await.unwrap();
    tx.send(Bytes::from_static(b" h2c")).await.unwrap();
    drop(tx);
    let ans = timeout(PATIENCE, pending).await.unwrap().unwrap();
    assert_eq!(ans.version, Version::HTTP_2);
    assert_eq!(ans.status, StatusCode::OK);
    let echo = ans.json();
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["body"], "hello h2c");
}

/// An upstream that answers as soon as it has a request's head, then reads
/// (and drops) whatever body follows, for as long as it comes.
async fn early_answering_upstream() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                if !read_request_head(&mut stream).await {
                    return;
                }
                let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly";
                if stream.write_all(answer).await.is_err() {
                    return;
                }
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                }
            });
        }
    });
    url
}

/// An upstream connection whose response has ended while its request body
/// is still being sent (the upstream answered early) is not ready for
/// another request: no other request may wait in line behind that upload.
#[tokio::test]
async fn an_upload_still_streaming_after_an_early_answer_holds_up_no_other_request() {
    let gw = TestGateway::start(config(&early_answering_upstream().await)).await;
    let (tx, req_body) = channel_body();
    let req = Request::post(gw.url("/upload")).body(req_body).unwrap();
    tx.send(Bytes::from_static(b"first chunk")).await.unwrap();
    let early = timeout(PATIENCE, send(req))
        .await
        .expect("the early answer arrives while the upload goes on");
    assert_eq!(early.status, StatusCode::OK);
    // `tx` is held: the upload's upstream connection is still sending.
    let other = timeout(PATIENCE, get(gw.url("/other")))
        .await
        .expect("another request waited behind the unfinished upload");
    assert_eq!(other.status, StatusCode::OK);
    assert_eq!(other.body, Bytes::from_static(b"early"));
    drop(tx);
}
