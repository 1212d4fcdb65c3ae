//! The proxy listener: accept loop, TLS handshake, HTTP/1.1 + HTTP/2 (h2c
//! prior knowledge and ALPN), WebSocket upgrades, graceful shutdown.
//!
//! The accept loop only accepts: TLS handshakes and HTTP parsing happen in
//! each connection's own task, so one slow client cannot hold up others.
//! At `max_connections` it stops accepting until a connection closes
//! ([`limit`]). An accept error (EMFILE, ECONNABORTED…) is counted, logged
//! at most once per interval, and the loop goes on after a short pause; it
//! never ends the server. Each connection is
//! served by `conn::serve`, which closes silent, slow and idle ones
//! (`header_read_timeout`, `keepalive_timeout`); the admin listener uses
//! the same accept loop and driver.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use prometheus_client::metrics::gauge::Gauge;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::config::ServerConfig;
use crate::gateway::SharedGateway;
use crate::metrics::Listener;
use crate::peer::ConnInfo;

mod activity;
pub(crate) mod conn;
mod head_scan;
pub(crate) mod limit;
#[cfg(feature = "fuzzing")]
pub(crate) use head_scan::flagged_in;
mod read_tap;

use conn::{Stop, Timeouts};
use head_scan::{HeadScan, Tainted};
use read_tap::Tapped;

/// Pause after a failed `accept`, so a full file table does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// hyper refuses read buffers smaller than this.
const MIN_BUF_SIZE: usize = 8192;
/// Header fields a request head may carry: hyper's HTTP/1.1 limit (its
/// default, left as is: setting it moves every head's parse to the heap),
/// applied to HTTP/2 heads by [`too_many_fields`]. More get `431`.
pub const MAX_HEADERS: usize = 100;
/// HTTP/2 streams a client may have open at once on one connection
/// (hyper's current default, pinned: it may change between releases).
const MAX_CONCURRENT_STREAMS: u32 = 200;
/// Streams a client may reset before the gateway accepted them, at once:
/// beyond it the connection ends (the "rapid reset" flood, CVE-2023-44487).
const MAX_PENDING_ACCEPT_RESET_STREAMS: usize = 20;
/// Streams the gateway may reset for a client's protocol errors before it
/// ends the connection (CVE-2024-27316-like floods).
const MAX_LOCAL_ERROR_RESET_STREAMS: usize = 1024;

/// Serves `listener` until `shutdown` resolves, then stops accepting at
/// once, asks every connection to finish its in-flight requests, and waits
/// for them at most `shutdown_grace`. At most `max_connections` are served
/// at once.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    gateway: SharedGateway,
    settings: &ServerConfig,
    max_connections: usize,
    shutdown: impl Future<Output = ()> + Send,
) {
    let builder = Arc::new(http_builder(settings));
    let timeouts = Timeouts::new(settings);
    let limit = limit::Limit::new(Listener::Proxy, max_connections, gateway.load().metrics());
    accept_loop(
        listener,
        limit,
        settings.shutdown_grace,
        shutdown,
        |stream, peer, stop| {
            let _ = stream.set_nodelay(true);
            let conn = Connection {
                builder: builder.clone(),
                _open: OpenConnection::new(gateway.load().metrics().open_connections().clone()),
                gateway: gateway.clone(),
                timeouts,
                stop,
            };
            conn.run(stream, peer, tls.clone(), Instant::now())
        },
    )
    .await;
}

/// Accepts on `listener` until `shutdown` resolves, running `connection`
/// for each client in a task of its own; then stops accepting at once,
/// asks every connection to finish (through its [`Stop`]), waits for them
/// at most `grace` and ends the ones still running.
///
/// A connection is accepted only with a slot of `limit`, held until its
/// task ends: at the limit, clients wait in the listen backlog. An accept
/// error (EMFILE, ECONNABORTED…) is counted, logged at most once per
/// interval, and the loop goes on after a short pause; it never ends the
/// listener.
pub(crate) async fn accept_loop<F, C>(
    listener: TcpListener,
    mut limit: limit::Limit,
    grace: Duration,
    shutdown: impl Future<Output = ()>,
    mut connection: F,
) where
    F: FnMut(TcpStream, SocketAddr, Stop) -> C,
    C: Future<Output = ()> + Send + 'static,
{
    let (stop_tx, stop) = Stop::channel();
    // Connection tasks, so the ones still running after the grace period
    // can be ended rather than outlive the listener.
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    let name = limit.name();
    loop {
        while connections.try_join_next().is_some() {}
        let slot = tokio::select! {
            biased;
            () = &mut shutdown => break,
            slot = limit.slot() => slot,
        };
        let Some(slot) = slot else {
            // Unreachable in practice: nothing closes the semaphore.
            break;
        };
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                limit.accept_failed(&error);
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                }
            }
        };
        let connection = connection(stream, peer, stop.clone());
        connections.spawn(async move {
            connection.await;
            drop(slot);
        });
    }
    drop(listener);
    // Finished tasks are otherwise reaped only at the next accept: without
    // this, an idle gateway reported every connection since its last
    // accept as still open.
    while connections.try_join_next().is_some() {}
    info!(
        listener = name,
        connections = connections.len(),
        "shutting down"
    );
    let _ = stop_tx.send(true);
    let all_done = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, all_done).await.is_err() {
        warn!(
            listener = name,
            connections = connections.len(),
            "shutdown grace elapsed; closing connections with requests still in flight"
        );
        connections.shutdown().await;
    }
}

/// The HTTP/1.1 + HTTP/2 settings both listeners serve with.
pub(crate) fn http_builder(settings: &ServerConfig) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .keep_alive(true)
        // The connection driver times heads itself (`conn`): hyper's own
        // timer also runs while a kept-alive connection idles, which
        // would cut it at `header_read_timeout`, not `keepalive_timeout`.
        .header_read_timeout(None)
        // A head that does not fit gets hyper's own 431.
        .max_buf_size(settings.max_header_bytes.max(MIN_BUF_SIZE));
    builder
        .http2()
        .timer(TokioTimer::new())
        // A header list that does not fit gets h2's own 431 (RFC 9113
        // §10.5.1), as an HTTP/1.1 head that does not fit gets hyper's.
        .max_header_list_size(u32::try_from(settings.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .max_pending_accept_reset_streams(MAX_PENDING_ACCEPT_RESET_STREAMS)
        .max_local_error_reset_streams(MAX_LOCAL_ERROR_RESET_STREAMS);
    builder
}

/// Whether an HTTP/2 head carries more header fields than [`MAX_HEADERS`],
/// counting its cookie crumbs (RFC 9113 §8.2.3) as the one `Cookie` field
/// they are on HTTP/1.1. HTTP/1.1 heads were counted by hyper already.
pub fn too_many_fields(version: http::Version, headers: &http::HeaderMap) -> bool {
    if version != http::Version::HTTP_2 || headers.len() <= MAX_HEADERS {
        return false;
    }
    let crumbs = headers.get_all(http::header::COOKIE).iter().count();
    headers.len() - crumbs.saturating_sub(1) > MAX_HEADERS
}

/// Counts a client connection in `sessiongate_open_connections` for as
/// long as it lives, however its task ends.
struct OpenConnection(Gauge);

impl OpenConnection {
    fn new(gauge: Gauge) -> OpenConnection {
        gauge.inc();
        OpenConnection(gauge)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// One accepted connection and what it needs to serve itself.
struct Connection {
    builder: Arc<Builder<TokioExecutor>>,
    /// Held, never read: dropping it counts the connection closed.
    _open: OpenConnection,
    gateway: SharedGateway,
    timeouts: Timeouts,
    stop: Stop,
}

impl Connection {
    async fn run(
        self,
        stream: TcpStream,
        peer: SocketAddr,
        tls: Option<TlsAcceptor>,
        accepted: Instant,
    ) {
        let Some(acceptor) = tls else {
            return self.serve(stream, peer, false, accepted).await;
        };
        let handshake_timeout = self.timeouts.header_read;
        match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => self.serve(stream, peer, true, accepted).await,
            Ok(Err(error)) => debug!(%error, %peer, "TLS handshake failed"),
            Err(_elapsed) => debug!(%peer, "TLS handshake timed out"),
        }
    }

    async fn serve<I>(self, io: I, peer: SocketAddr, tls: bool, accepted: Instant)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let tainted = Tainted::default();
        let io = Tapped::new(io, HeadScan::new(tainted.clone()));
        let gateway = self.gateway;
        let service = service_fn(move |req| {
            // The current gateway: a reload swaps it for new requests only.
            let gateway = gateway.load_full();
            let info = ConnInfo {
                peer,
                tls,
                ambiguous_framing: tainted.get(),
            };
            // Boxed: hyper keeps one future slot per connection for its
            // whole life, so an idle keep-alive connection then holds a
            // pointer rather than the request's whole state machine (4 KB).
            Box::pin(async move { Ok::<_, Infallible>(gateway.handle(req, info).await) })
        });
        let served = conn::serve(
            &self.builder,
            io,
            service,
            self.timeouts,
            accepted,
            self.stop,
        );
        if let Err(error) = served.await {
            debug!(%error, %peer, "connection ended with an error");
        }
    }
}
