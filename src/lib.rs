//! sessiongate: a reverse proxy that enforces session expiry in front of web
//! applications.
//!
//! # Layout
//!
//! The request path, top to bottom:
//!
//! ```text
//! accept (server) → route match (route) → read cookie (session)
//!   → look up / slide the session (store) → decide (decide, pure)
//!   → forward (upstream) or answer (respond) → record (metrics, access log)
//! ```
//!
//! - [`config`]: the validated configuration; `config/raw.rs` mirrors the TOML.
//! - [`server`]: listeners, TLS, HTTP/1.1 + HTTP/2, graceful shutdown.
//! - [`gateway`]: the per-request service tying the line above together.
//! - [`route`]: path normalisation and first-match routing.
//! - [`store`]: the `SessionStore` trait, memory and Redis stores.
//! - [`upstream`]: the pooled client, hop-by-hop and `X-Forwarded-*` handling.
//! - [`respond`]: every answer the gateway makes itself.
//! - [`body`]: the one body type (streamed `Incoming`, or the gateway's own).
//! - [`tls`]: the listener's rustls configuration.
#![forbid(unsafe_code)]

use std::future::Future;
use std::sync::Arc;

use tracing::info;

pub mod admin;
pub mod body;
pub mod config;
pub mod decide;
pub mod demo;
pub mod gateway;
pub mod guard;
pub mod login;
pub mod metrics;
pub mod respond;
pub mod route;
pub mod server;
pub mod session;
pub mod store;
pub mod tls;
pub mod upstream;

pub use config::Config;

/// Sockets bound by the caller (the CLI, or a test on `127.0.0.1:0`), so
/// binding errors surface before anything starts and tests need no fixed
/// ports.
pub struct Listeners {
    pub proxy: tokio::net::TcpListener,
    pub admin: Option<tokio::net::TcpListener>,
}

/// Why the gateway could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Upstream(#[from] upstream::BuildError),
    #[error("cannot read the listener's address")]
    Listener(#[source] std::io::Error),
}

/// Runs the gateway on already-bound listeners until `shutdown` resolves
/// and the graceful shutdown (at most `server.shutdown_grace`) completes.
pub async fn run(
    listeners: Listeners,
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Error> {
    let tls = config.server.tls.as_ref().map(tls::acceptor).transpose()?;
    let gateway = Arc::new(arc_swap::ArcSwap::from_pointee(gateway::Gateway::new(
        &config,
    )?));
    // The admin endpoints are not served yet; keep the socket bound.
    let _admin = listeners.admin;
    let addr = listeners.proxy.local_addr().map_err(Error::Listener)?;
    info!("listening on {addr}");
    server::serve(listeners.proxy, tls, gateway, &config.server, shutdown).await;
    Ok(())
}
