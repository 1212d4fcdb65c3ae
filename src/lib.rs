//! sessiongate: a reverse proxy that enforces session expiry in front of web
//! applications.
//!
//! # Layout
//!
//! A protected request, in the order it meets each module; following one
//! means opening five files, in one direction: `server.rs` → `gateway.rs`
//! → `session.rs` (→ `session/decide.rs`) → `upstream.rs`.
//!
//! ```text
//! accept (server) → framing, route, forged headers (gateway, route, control_headers)
//!   → session check: cookie → one store round trip → pure decision (session)
//!   → forward (upstream) or answer (respond, endpoints)
//!   → the session's way back (session) → the expiry warning (inject)
//!   → record (`record.rs`: metrics and the access log)
//! ```
//!
//! - [`server`]: listeners, TLS, HTTP/1.1 + HTTP/2, connection timeouts,
//!   connection limits (`server/limit.rs`), graceful shutdown (the admin
//!   listener shares its accept loop);
//!   [`peer`]: what the gateway knows of the connection.
//! - [`gateway`]: the per-request service, the line above in one function;
//!   `gateway/error.rs` turns every failure into its answer, in one place;
//!   [`record`] counts it and writes the access log ([`access_log`]: the
//!   request line formatted by hand into per-worker batches).
//! - [`route`]: host canonicalisation, path normalisation, first-match routing.
//! - [`control_headers`]: headers a client may never send, and the
//!   upstream's `Sessiongate-*` control headers.
//! - [`endpoints`]: the gateway's own `/.sessiongate/` endpoints and logout;
//!   `endpoints/forward_auth.rs` answers a fronting proxy's sub-request
//!   (nginx `auth_request`, Traefik, Caddy) with the same route match and
//!   session check.
//! - [`session`]: the session layer, the only thing the gateway calls for
//!   sessions: `session/source.rs` (which cookie, which id, which key),
//!   `session/cookie.rs` (the `Cookie` header), `session/id.rs`,
//!   `session/decide.rs` (pure: the verdict and the cookie action),
//!   `session/set_cookie.rs`, `session/lifecycle.rs` (login, logout, a new
//!   session's record), `session/learn.rs` (observe mode), `session/verdict.rs`,
//!   `session/live.rs` (what a tunnel or event stream knows of its session),
//!   `session/control.rs` (handles, the per-user index, limits: SPEC §9),
//!   `session/store_ops.rs` (creating and ending sessions, store timing).
//! - [`live`]: WebSocket tunnels and event streams end with their session:
//!   the registry, each connection's deadline watch, the frame-aware relay,
//!   and the Redis pub/sub bus that carries ends between gateways.
//! - [`inject`]: the expiry warning script streamed into HTML pages
//!   (`inject/scan.rs` finds its place, `inject/csp.rs` lets it run,
//!   `inject/body.rs` streams), and `inject/warning.js` itself.
//! - [`store`]: the `SessionStore` trait; memory, Redis, Sentinel, Cluster.
//! - [`upstream`]: the pooled clients (`upstream/pool.rs` for `http://`
//!   upstreams, hyper-util's for `https://`), hop-by-hop and
//!   `X-Forwarded-*` handling, framing checks, WebSocket handshakes.
//! - [`respond`]: every answer the gateway makes itself; [`login`]: the
//!   login URL with a safe `next`.
//! - [`body`]: the one body type (streamed `Incoming`, or the gateway's own).
//! - [`metrics`], [`admin`]: the Prometheus metrics and the admin listener;
//!   [`admin_client`]: `sessiongate sessions`, the admin API's client.
//! - [`config`]: the validated configuration (`config/raw.rs` mirrors the
//!   TOML); [`reload`]: SIGHUP; [`tls`]: the listener's rustls setup;
//!   [`clock`]: time in milliseconds; [`demo`]: `sessiongate demo`;
//!   [`cli`]: the command line, its completions and manual page;
//!   [`activation`]: listeners passed by systemd socket activation.
#![forbid(unsafe_code)]

use std::future::Future;
use std::sync::Arc;

use tracing::info;

pub mod access_log;
pub mod activation;
pub mod admin;
pub mod admin_client;
pub mod body;
pub mod cli;
pub mod clock;
pub mod config;
pub mod control_headers;
pub mod demo;
pub mod endpoints;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod gateway;
pub mod inject;
pub mod live;
pub mod login;
pub mod metrics;
pub mod peer;
pub mod record;
pub mod reload;
pub mod respond;
pub mod route;
pub mod server;
pub mod session;
pub mod store;
mod throttle;
pub mod tls;
pub mod upstream;

#[cfg(test)]
mod no_panics;
#[cfg(test)]
mod testing;

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
    #[error(transparent)]
    Token(#[from] admin::token::TokenError),
    #[error("cannot read the listener's address")]
    Listener(#[source] std::io::Error),
    #[error("cannot open the session store ({url})")]
    Store {
        url: String,
        #[source]
        source: store::StoreError,
    },
}

/// Runs the gateway on already-bound listeners until `shutdown` resolves
/// and the graceful shutdown (at most `server.shutdown_grace`) completes.
pub async fn run(
    listeners: Listeners,
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Error> {
    run_reloadable(listeners, config, shutdown, None).await
}

/// [`run`], also applying every config that arrives on `reloads` (the
/// binary sends one per SIGHUP) to new requests without dropping any.
pub async fn run_reloadable(
    listeners: Listeners,
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
    reloads: Option<reload::Reloads>,
) -> Result<(), Error> {
    let tls = config.server.tls.as_ref().map(tls::acceptor).transpose()?;
    let env_token = std::env::var(admin::token::TOKEN_ENV).ok();
    let loaded = admin::token::load(&config.admin, env_token.as_deref())?;
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let token = loaded.token;
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = metrics::Metrics::register(&mut registry);
    let evictions = metrics.store_evictions().clone();
    let store = store::Store::open_counting(&config.store, evictions)
        .await
        .map_err(|source| Error::Store {
            url: config::redact_url(&config.store.url).into_owned(),
            source,
        })?;
    let config = Arc::new(config);
    let live = live::Live::new(store.clone(), &config.store.key_prefix, metrics.clone());
    let gateway = Arc::new(arc_swap::ArcSwap::from_pointee(gateway::Gateway::new(
        config.clone(),
        store.clone(),
        metrics.clone(),
        live.clone(),
    )?));
    let reloader = reloads.map(|reloads| {
        let reloader = reload::Reloader {
            gateway: gateway.clone(),
            store: store.clone(),
            metrics: metrics.clone(),
            live: live.clone(),
        };
        tokio::spawn(reloader.run(reloads))
    });

    let addr = listeners.proxy.local_addr().map_err(Error::Listener)?;
    info!("listening on {addr}");

    // One shutdown signal, seen by both listeners.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let admin_task = match listeners.admin {
        Some(listener) => {
            let addr = listener.local_addr().map_err(Error::Listener)?;
            info!("listening on {addr} (admin: /metrics /healthz /readyz)");
            let admin = admin::Admin {
                registry: Arc::new(registry),
                metrics,
                store,
                gateway: gateway.clone(),
                token,
            };
            let settings = config.server.clone();
            let admin_max = config.admin.max_connections;
            let stopped = stopped(stop_rx.clone());
            Some(tokio::spawn(async move {
                admin::serve(listener, admin, &settings, admin_max, stopped).await;
            }))
        }
        None => None,
    };
    let proxy_max =
        server::limit::proxy_max(config.server.max_connections, config.admin.max_connections);
    let proxy = server::serve(
        listeners.proxy,
        tls,
        gateway,
        &config.server,
        proxy_max,
        stopped(stop_rx),
    );
    tokio::pin!(proxy);
    tokio::select! {
        () = &mut proxy => {}
        () = shutdown => {
            let _ = stop_tx.send(true);
            proxy.await;
        }
    }
    let _ = stop_tx.send(true);
    if let Some(task) = reloader {
        task.abort();
    }
    if let Some(task) = admin_task {
        let _ = task.await;
    }
    Ok(())
}
