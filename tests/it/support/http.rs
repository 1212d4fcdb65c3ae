//! The client side of every test: one bound on waiting, one way to send a
//! request and read its whole answer (HTTP/1.1 or h2c), and the reader of
//! one sample in the admin listener's `/metrics`.

use std::borrow::Cow;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Version, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use super::gateway::TestGateway;

/// Generous bound for anything that should happen "now"; only a hang hits it.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The request body every client here sends.
pub type ClientBody = BoxBody<Bytes, Infallible>;

/// A whole request body.
pub fn body(bytes: impl Into<Bytes>) -> ClientBody {
    Full::new(bytes.into()).boxed()
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub version: Version,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// Reads `resp` to its end.
    pub async fn read<B>(resp: Response<B>) -> Answer
    where
        B: http_body::Body,
        B::Error: std::fmt::Debug,
    {
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Answer {
            version: parts.version,
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    pub fn json(&self) -> Value {
        json(&self.body)
    }

    /// Every `Set-Cookie` header, in order.
    /// Every `Set-Cookie` of the gateway's cookie (`sessiongate`).
    pub fn session_cookies(&self) -> Vec<String> {
        self.set_cookies()
            .into_iter()
            .filter(|c| c.starts_with("sessiongate="))
            .collect()
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().expect("ASCII Set-Cookie").to_owned())
            .collect()
    }

    /// The `Location` header (panics without one).
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .expect("a Location header")
            .to_str()
            .unwrap()
    }

    /// The `name=value` pair of the `Set-Cookie` for `name` (panics without
    /// one).
    pub fn cookie_pair(&self, name: &str) -> String {
        let prefix = format!("{name}=");
        self.set_cookies()
            .into_iter()
            .find(|c| c.starts_with(&prefix))
            .and_then(|c| c.split(';').next().map(str::to_owned))
            .unwrap_or_else(|| panic!("no Set-Cookie for {name} in {:?}", self.set_cookies()))
    }

    /// The `name=value` of the session cookie this answer set (not a
    /// deletion); panics without one.
    pub fn session_pair(&self) -> String {
        self.set_cookies()
            .into_iter()
            .find(|v| v.starts_with("sessiongate=") && !v.contains("Max-Age=0"))
            .and_then(|v| v.split(';').next().map(str::to_owned))
            .expect("a session cookie")
    }
}

/// `bytes` as JSON; panics (showing them) when they are not.
pub fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(bytes)))
}

/// The two cleartext protocols a client speaks to the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Http1,
    /// HTTP/2 with prior knowledge.
    H2c,
}

pub const PROTOS: [Proto; 2] = [Proto::Http1, Proto::H2c];

/// A pooled cleartext client (no cookie jar: each test sends the cookies
/// it means to, so what the gateway sees is explicit).
#[derive(Clone)]
pub struct Http {
    client: Client<HttpConnector, ClientBody>,
    patience: Duration,
}

impl Default for Http {
    fn default() -> Self {
        Http::new()
    }
}

impl Http {
    /// HTTP/1.1.
    pub fn new() -> Http {
        Http::speaking(Proto::Http1)
    }

    /// h2c with prior knowledge.
    pub fn h2c() -> Http {
        Http::speaking(Proto::H2c)
    }

    pub fn speaking(proto: Proto) -> Http {
        Http {
            client: Client::builder(TokioExecutor::new())
                .http2_only(proto == Proto::H2c)
                .build_http(),
            patience: PATIENCE,
        }
    }

    /// The same client, failing a test when an answer takes longer than
    /// `patience`.
    pub fn patience(self, patience: Duration) -> Http {
        Http { patience, ..self }
    }

    /// Sends `req` and reads the whole answer; fails the test after its
    /// patience ([`PATIENCE`] unless set).
    pub async fn send(&self, req: Request<ClientBody>) -> Answer {
        Answer::read(self.respond(req).await).await
    }

    /// Sends `req` and returns the answer with its body unread.
    pub async fn respond(&self, req: Request<ClientBody>) -> Response<Incoming> {
        let url = req.uri().clone();
        timeout(self.patience, self.client.request(req))
            .await
            .unwrap_or_else(|_| panic!("no answer in time from {url}"))
            .unwrap_or_else(|e| panic!("request to {url} failed: {e}"))
    }

    /// `method url` with `headers` and a whole `body`.
    pub async fn request(
        &self,
        method: Method,
        url: impl AsRef<str>,
        headers: &[(&str, &str)],
        body_text: &str,
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(url.as_ref());
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        self.send(req.body(body(body_text.to_owned())).unwrap())
            .await
    }

    pub async fn get(&self, url: impl AsRef<str>, headers: &[(&str, &str)]) -> Answer {
        self.request(Method::GET, url, headers, "").await
    }

    pub async fn post(&self, url: impl AsRef<str>, headers: &[(&str, &str)]) -> Answer {
        self.request(Method::POST, url, headers, "").await
    }

    /// A form POST (`application/x-www-form-urlencoded`).
    pub async fn post_form(
        &self,
        url: impl AsRef<str>,
        headers: &[(&str, &str)],
        form: &str,
    ) -> Answer {
        let mut all = vec![("content-type", "application/x-www-form-urlencoded")];
        all.extend_from_slice(headers);
        self.request(Method::POST, url, &all, form).await
    }

    /// The gateway's admin `/metrics` text (asserting a 200).
    pub async fn metrics(&self, gw: &TestGateway) -> String {
        let ans = self.get(gw.admin_url("/metrics"), &[]).await;
        assert_eq!(ans.status, StatusCode::OK);
        ans.text().into_owned()
    }

    /// The value of `series` (`name{labels}`) in the gateway's `/metrics`;
    /// panics when the series does not exist.
    pub async fn metric(&self, gw: &TestGateway, series: &str) -> f64 {
        metric(&self.metrics(gw).await, series)
    }
}

/// The value of one exposition line (`name{labels} value`) in `text`, if
/// the series exists.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

/// The value of `series` in `text`; panics when the series does not exist.
pub fn metric(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or_else(|| panic!("no series {series} in:\n{text}"))
}

/// An HTTP/1.1 connection over `io` (a TCP or TLS stream), driven in the
/// background.
pub async fn http1_over<T>(io: T) -> http1::SendRequest<ClientBody>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) = http1::handshake(TokioIo::new(io))
        .await
        .expect("HTTP/1.1 handshake");
    tokio::spawn(conn);
    send
}

/// An HTTP/2 connection over `io` (h2c with prior knowledge on TCP, or
/// TLS after ALPN `h2`); the task ends when the connection closes.
pub async fn http2_over<T>(io: T) -> (http2::SendRequest<ClientBody>, JoinHandle<()>)
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(io))
        .await
        .expect("HTTP/2 handshake");
    (send, tokio::spawn(async move { conn.await.unwrap_or(()) }))
}

/// Sends `req` on an HTTP/1.1 connection once it is ready for another
/// request; the answer's body is left unread.
pub async fn respond_h1(
    sender: &mut http1::SendRequest<ClientBody>,
    req: Request<ClientBody>,
) -> Response<Incoming> {
    within("the connection to be ready", sender.ready()).await;
    within("an answer", sender.send_request(req)).await
}

/// Sends `req` on an HTTP/2 connection once it is ready for another
/// stream; the answer's body is left unread.
pub async fn respond_h2(
    sender: &mut http2::SendRequest<ClientBody>,
    req: Request<ClientBody>,
) -> Response<Incoming> {
    within("the connection to be ready", sender.ready()).await;
    within("an answer", sender.send_request(req)).await
}

/// Awaits `what`, failing the test after [`PATIENCE`] or on an error.
async fn within<T, E: std::fmt::Display>(what: &str, fut: impl Future<Output = Result<T, E>>) -> T {
    timeout(PATIENCE, fut)
        .await
        .unwrap_or_else(|_| panic!("waited in vain for {what}"))
        .unwrap_or_else(|e| panic!("failed waiting for {what}: {e}"))
}

/// A fresh TCP connection to `addr`.
pub async fn tcp(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.expect("connect")
}
