//! The admin listener (SPEC §7): `/healthz`, `/readyz`, `/metrics`, and
//! the session API of SPEC §9 ([`sessions`]), behind a bearer [`token`].
//!
//! Never on the proxy port: metrics and readiness are for operators and
//! their probes, not for the clients the gateway protects.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tracing::{debug, warn};

use crate::config::ServerConfig;
use crate::gateway::SharedGateway;
use crate::metrics::{Listener, Metrics, StoreOp};
use crate::server::{self, conn, conn::Timeouts};
use crate::store::{SessionStore, Store};

pub mod sessions;
pub mod token;

/// What the admin endpoints read.
#[derive(Clone)]
pub struct Admin {
    pub registry: Arc<Registry>,
    pub metrics: Metrics,
    pub store: Store,
    /// The current gateway, for its session layer (a reload swaps it).
    pub gateway: SharedGateway,
    /// The session API's bearer token; `None`: the API is off.
    pub token: Option<token::AdminToken>,
}

const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

impl Admin {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        // The proxy's head limits hold here too (HTTP/1.1: hyper's own).
        if server::too_many_fields(req.version(), req.headers()) {
            return text(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "too many header fields\n",
            );
        }
        if sessions::owns(req.uri().path()) {
            let gateway = self.gateway.load_full();
            return sessions::answer(gateway.sessions(), self.token.as_ref(), &req).await;
        }
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n");
        }
        match req.uri().path() {
            "/healthz" => text(StatusCode::OK, "ok\n"),
            "/readyz" => {
                // The store bounds the ping by op_timeout itself.
                let started = Instant::now();
                let result = self.store.ping().await;
                let elapsed = started.elapsed().as_secs_f64();
                self.metrics
                    .store_op(StoreOp::Ping, elapsed, result.is_err());
                match result {
                    Ok(()) => text(StatusCode::OK, "ready\n"),
                    Err(error) => {
                        warn!(%error, "readiness check: store not answering");
                        text(StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n")
                    }
                }
            }
            "/metrics" => {
                let mut body = String::with_capacity(16 * 1024);
                if encode(&mut body, &self.registry).is_err() {
                    return text(StatusCode::INTERNAL_SERVER_ERROR, "encoding failed\n");
                }
                let mut resp = Response::new(Full::new(Bytes::from(body)));
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static(OPENMETRICS_TEXT),
                );
                resp
            }
            _ => text(
                StatusCode::NOT_FOUND,
                "not found: try /metrics, /healthz, /readyz\n",
            ),
        }
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// Serves the admin endpoints until `shutdown` resolves, then lets the
/// requests in flight finish within `shutdown_grace`. Connections get the
/// proxy listener's protection (SPEC §5): `header_read_timeout` from
/// accept and for each head, `keepalive_timeout` while idle, and a
/// connection limit of their own (`admin.max_connections`), so a flood on
/// one listener never starves the other.
pub async fn serve(
    listener: TcpListener,
    admin: Admin,
    settings: &ServerConfig,
    max_connections: usize,
    shutdown: impl Future<Output = ()>,
) {
    let builder = Arc::new(server::http_builder(settings));
    let timeouts = Timeouts::new(settings);
    let limit = server::limit::Limit::new(Listener::Admin, max_connections, &admin.metrics);
    server::accept_loop(
        listener,
        limit,
        settings.shutdown_grace,
        shutdown,
        |stream, peer, stop| {
            let admin = admin.clone();
            let builder = builder.clone();
            let accepted = tokio::time::Instant::now();
            async move {
                let service = service_fn(move |req| {
                    let admin = admin.clone();
                    async move { Ok::<_, Infallible>(admin.handle(req).await) }
                });
                let served = conn::serve(&builder, stream, service, timeouts, accepted, stop);
                if let Err(error) = served.await {
                    debug!(%error, %peer, "admin connection ended with an error");
                }
            }
        },
    )
    .await;
}
