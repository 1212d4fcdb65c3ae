//! The proxy listener: accept loop, TLS handshake, HTTP/1.1 + HTTP/2 (h2c
//! prior knowledge and ALPN), WebSocket upgrades, graceful shutdown.
//!
//! The accept loop only accepts: TLS handshakes and HTTP parsing happen in
//! each connection's own task, so one slow client cannot hold up others.
//! An accept error (EMFILE, ECONNABORTED…) is logged and the loop goes on
//! after a short pause; it never ends the server. Each connection is
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
use crate::peer::ConnInfo;

mod activity;
pub(crate) mod conn;
mod head_scan;
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

/// Serves `listener` until `shutdown` resolves, then stops accepting at
/// once, asks every connection to finish its in-flight requests, and waits
/// for them at most `shutdown_grace`.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    gateway: SharedGateway,
    settings: &ServerConfig,
    shutdown: impl Future<Output = ()> + Send,
) {
    let builder = Arc::new(http_builder(settings));
    let timeouts = Timeouts::new(settings);
    accept_loop(
        "proxy",
        listener,
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
/// An accept error (EMFILE, ECONNABORTED…) is logged and the loop goes on
/// after a short pause; it never ends the listener.
pub(crate) async fn accept_loop<F, C>(
    name: &'static str,
    listener: TcpListener,
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
    loop {
        while connections.try_join_next().is_some() {}
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                warn!(%error, listener = name, "accept failed; pausing");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                }
            }
        };
        connections.spawn(connection(stream, peer, stop.clone()));
    }
    drop(listener);
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
        .max_header_list_size(u32::try_from(settings.max_header_bytes).unwrap_or(u32::MAX));
    builder
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
