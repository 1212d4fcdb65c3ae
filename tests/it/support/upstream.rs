//! A real HTTP/1.1 upstream on 127.0.0.1:0 whose behaviour a test picks by
//! path, and which records everything it receives.
//!
//! | path               | behaviour                                                   |
//! |--------------------|-------------------------------------------------------------|
//! | `/sleep/MS…`       | waits MS milliseconds, then echoes                          |
//! | `/download/N`      | streams N bytes: 1 MiB, then the rest after `release_download` |
//! | `/chunked/N`       | the same, chunked (no `Content-Length`)                      |
//! | `/events`          | an endless `text/event-stream`: `data: N` every 100 ms       |
//! | `/upload`          | counts the body; signals `first_chunk` on the first bytes    |
//! | `/hop`             | answers with hop-by-hop headers (and `x-kept: yes`)          |
//! | `Upgrade: websocket` | WebSocket echo                                            |
//! | `/login?user=U&max_age=N` | echoes, with `Sessiongate-Login: user=U[; max-age=N]` |
//! | `/logout-app`      | echoes, with `Sessiongate-Logout: 1` and `Sessiongate-Debug` |
//! | `/leak`            | echoes, with `Sessiongate-Debug: leaked`                     |
//! | `…/reflect-login`  | echoes, copying a received `Sessiongate-Login` into the response |
//! | `…/set-cookie?N=V` | echoes, with `Set-Cookie: N=V; Path=/` (an app's own session) |
//! | anything else      | echoes method, path, query, headers and body as JSON         |

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

/// The first part of a `/download`, sent before the test releases the rest.
pub const DOWNLOAD_HEAD: usize = 1 << 20;
const CHUNK: usize = 64 * 1024;

/// What the test upstreams answer with.
pub type FixtureBody = BoxBody<Bytes, Infallible>;

/// A test server's accept loop, aborted when dropped.
pub struct ServerTask(JoinHandle<()>);

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves HTTP/1.1 (upgrades allowed) on `127.0.0.1:0`, answering every
/// request with `handle`; `on_accept` runs once per connection. The
/// server's address, and its task.
pub async fn serve<H, F>(
    handle: H,
    on_accept: impl Fn() + Send + 'static,
) -> (SocketAddr, ServerTask)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<FixtureBody>, Infallible>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = listener.local_addr().expect("upstream addr");
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            on_accept();
            let service = service_fn(handle.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    (addr, ServerTask(task))
}

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path_and_query: String,
    pub headers: HeaderMap,
}

#[derive(Default)]
struct State {
    received: Mutex<Vec<Received>>,
    connections: Mutex<usize>,
    first_chunk: Notify,
    release_download: Notify,
}

pub struct TestUpstream {
    pub addr: SocketAddr,
    state: Arc<State>,
    _task: ServerTask,
}

impl TestUpstream {
    pub async fn start() -> Self {
        let state = Arc::new(State::default());
        let (handled, counted) = (state.clone(), state.clone());
        let (addr, task) = serve(
            move |req| handle(req, handled.clone()),
            move || *counted.connections.lock().unwrap() += 1,
        )
        .await;
        TestUpstream {
            addr,
            state,
            _task: task,
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        *self.state.connections.lock().unwrap()
    }

    /// Resolves once an `/upload` has received its first bytes.
    pub async fn first_chunk(&self) {
        self.state.first_chunk.notified().await;
    }

    /// Lets a `/download` send the bytes after its first [`DOWNLOAD_HEAD`].
    pub fn release_download(&self) {
        self.state.release_download.notify_one();
    }
}

async fn handle(
    mut req: Request<Incoming>,
    state: Arc<State>,
) -> Result<Response<FixtureBody>, Infallible> {
    state.received.lock().unwrap().push(Received {
        method: req.method().to_string(),
        path_and_query: req
            .uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers: req.headers().clone(),
    });
    let path = req.uri().path().to_owned();
    if let Some(key) = req.headers().get("sec-websocket-key").cloned() {
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else {
                return;
            };
            let mut ws =
                WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
            while let Some(Ok(msg)) = ws.next().await {
                if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                    break;
                }
            }
        });
        return Ok(Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-accept", derive_accept_key(key.as_bytes()))
            .body(full(Bytes::new()))
            .unwrap());
    }
    if let Some(ms) = path.strip_prefix("/sleep/") {
        let ms: u64 = ms.split('/').next().unwrap().parse().unwrap();
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(n) = path.strip_prefix("/download/") {
        return Ok(download(n.parse().unwrap(), state, false));
    }
    if let Some(n) = path.strip_prefix("/chunked/") {
        return Ok(download(n.parse().unwrap(), state, true));
    }
    if path == "/events" {
        return Ok(events());
    }
    if path == "/upload" {
        let mut body = req.into_body();
        let mut total = 0usize;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { break };
            if let Some(data) = frame.data_ref() {
                if total == 0 && !data.is_empty() {
                    state.first_chunk.notify_one();
                }
                total += data.len();
            }
        }
        return Ok(json(serde_json::json!({ "bytes": total })));
    }
    if path == "/hop" {
        return Ok(Response::builder()
            .header("connection", "x-upstream-secret")
            .header("x-upstream-secret", "1")
            .header("keep-alive", "timeout=5")
            .header("proxy-authenticate", "Basic")
            .header("x-kept", "yes")
            .body(full(Bytes::from_static(b"hop")))
            .unwrap());
    }
    let control = control_headers(&path, req.uri().query(), req.headers());
    let mut resp = echo(req).await?;
    for (name, value) in control {
        resp.headers_mut().append(name, value.parse().unwrap());
    }
    Ok(resp)
}

/// The managed-mode control headers a session test's path asks for.
fn control_headers(
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Vec<(&'static str, String)> {
    match path {
        "/login" => {
            let param = |name: &str| {
                query?
                    .split('&')
                    .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                    .map(str::to_owned)
            };
            let Some(user) = param("user") else {
                return Vec::new();
            };
            let value = match param("max_age") {
                Some(age) => format!("user={user}; max-age={age}"),
                None => format!("user={user}"),
            };
            vec![("sessiongate-login", value)]
        }
        "/logout-app" => vec![
            ("sessiongate-logout", "1".to_owned()),
            ("sessiongate-debug", "internal".to_owned()),
        ],
        p if p.ends_with("/leak") => vec![("sessiongate-debug", "leaked".to_owned())],
        p if p.ends_with("/set-cookie") => query
            .map(|pair| vec![("set-cookie", format!("{pair}; Path=/"))])
            .unwrap_or_default(),
        p if p.ends_with("/reflect-login") => headers
            .get("sessiongate-login")
            .and_then(|v| v.to_str().ok())
            .map(|v| vec![("sessiongate-login", v.to_owned())])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

async fn echo(req: Request<Incoming>) -> Result<Response<FixtureBody>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut headers = serde_json::Map::new();
    for name in parts.headers.keys() {
        let values: Vec<String> = parts
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        headers.insert(name.to_string(), values.into());
    }
    let mut resp = json(serde_json::json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    }));
    resp.headers_mut()
        .insert("x-echo-response", "yes".parse().unwrap());
    Ok(resp)
}

/// An event stream that never ends by itself.
fn events() -> Response<FixtureBody> {
    let stream = futures_util::stream::unfold(0u64, |n| async move {
        if n > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let event = Bytes::from(format!("data: {n}\n\n"));
        Some((Ok::<_, Infallible>(Frame::data(event)), n + 1))
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(BodyExt::boxed(StreamBody::new(stream)))
        .unwrap()
}

fn download(total: usize, state: Arc<State>, chunked: bool) -> Response<FixtureBody> {
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        let chunk = Bytes::from(vec![b'x'; CHUNK]);
        let mut sent = 0;
        let mut released = false;
        while sent < total {
            if sent >= DOWNLOAD_HEAD && !released {
                state.release_download.notified().await;
                released = true;
            }
            let n = CHUNK.min(total - sent);
            if tx.send(chunk.slice(..n)).await.is_err() {
                return;
            }
            sent += n;
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    let mut resp = Response::builder();
    if !chunked {
        resp = resp.header("content-length", total);
    }
    resp.body(BodyExt::boxed(StreamBody::new(stream))).unwrap()
}

fn json(value: serde_json::Value) -> Response<FixtureBody> {
    Response::builder()
        .header("content-type", "application/json")
        .body(full(Bytes::from(value.to_string())))
        .unwrap()
}

fn full(bytes: Bytes) -> FixtureBody {
    BodyExt::boxed(Full::new(bytes))
}

/// Reads from a raw upstream connection until a whole request head (up to
/// its blank line) has arrived; `false` when the peer closed or failed
/// first. What follows the head may be read too and is dropped.
pub async fn read_request_head(stream: &mut tokio::net::TcpStream) -> bool {
    let (mut head, mut buf) = (Vec::new(), [0u8; 4096]);
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    true
}

/// An upstream that accepts, reads the whole request head and then resets
/// the connection (SO_LINGER 0: the close sends RST, not FIN). Returns its
/// URL and how many complete request heads it read.
pub async fn resetting_upstream() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let heads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = heads.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            if read_request_head(&mut stream).await {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            // Tokio's non-deprecated spelling of set_linger(Some(ZERO)).
            stream.set_zero_linger().unwrap();
            drop(stream);
        }
    });
    (url, heads)
}

/// What a [`switching_upstream`] received: every connection's bytes, in
/// accept order.
pub type Connections = Arc<Mutex<Vec<Vec<u8>>>>;

/// An upstream that answers every request head with `response` (a `101`
/// that does not really switch: it keeps reading HTTP on the connection)
/// and records every byte each connection carries, to show what reached it
/// after the `101`.
pub async fn switching_upstream(response: String) -> (String, Connections) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections: Connections = Arc::default();
    let seen = connections.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let index = {
                let mut all = seen.lock().unwrap();
                all.push(Vec::new());
                all.len() - 1
            };
            let (seen, response) = (seen.clone(), response.clone());
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt as _;
                let mut buf = [0u8; 4096];
                let mut answered = 0;
                loop {
                    let n = match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let heads = {
                        let mut all = seen.lock().unwrap();
                        all[index].extend_from_slice(&buf[..n]);
                        all[index].windows(4).filter(|w| w == b"\r\n\r\n").count()
                    };
                    // One answer per request head, as an HTTP server would.
                    while answered < heads {
                        if stream.write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                        answered += 1;
                    }
                }
            });
        }
    });
    (url, connections)
}
