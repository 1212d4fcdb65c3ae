//! The per-request service: the request path as one straight line.
//!
//! ```text
//! framing check → CONNECT refused → route match → [session step] → forward
//! ```
//!
//! Every failure along the line is a [`GatewayError`], turned into an answer
//! in exactly one place, [`GatewayError::into_response`].

use http::{Method, Request, Response};
use hyper::body::Incoming;
use tracing::warn;

use crate::body::Body;
use crate::config::Config;
use crate::respond;
use crate::route::{self, Matched, Router};
use crate::server::ConnInfo;
use crate::upstream::framing::{self, FramingError};
use crate::upstream::{BuildError, Peer, Upstream, UpstreamError};

/// Everything that stops a request from being forwarded.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("ambiguous request framing: {0}")]
    Framing(#[from] FramingError),
    #[error("CONNECT is never proxied")]
    Connect,
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}

impl GatewayError {
    /// The one place errors become answers. Exhaustive on purpose: a new
    /// error kind must decide its status here.
    pub fn into_response(self, json: bool) -> Response<Body> {
        match self {
            GatewayError::Framing(
                FramingError::LengthAndEncoding
                | FramingError::DifferingLengths
                | FramingError::UnknownCoding
                | FramingError::ControlCharacter,
            ) => respond::bad_request(json),
            GatewayError::Connect => respond::method_not_allowed(json),
            GatewayError::Upstream(
                UpstreamError::Connect(_)
                | UpstreamError::Broken(_)
                | UpstreamError::UnexpectedUpgrade
                | UpstreamError::Target(_),
            ) => respond::bad_gateway(json),
            GatewayError::Upstream(UpstreamError::Timeout(_)) => respond::gateway_timeout(json),
        }
    }
}

/// The gateway shared by every connection. Swappable so that a config
/// reload (SIGHUP) can replace it for new requests while requests in
/// flight finish on the old one.
pub type SharedGateway = std::sync::Arc<arc_swap::ArcSwap<Gateway>>;

/// The gateway for one configuration: routes plus the upstream client.
pub struct Gateway {
    router: Router,
    upstream: Upstream,
}

impl Gateway {
    pub fn new(config: &Config) -> Result<Self, BuildError> {
        Ok(Gateway {
            router: Router::new(config),
            upstream: Upstream::new(config)?,
        })
    }

    /// Answers one request. Never fails: errors are answers too.
    pub async fn handle(&self, req: Request<Incoming>, conn: ConnInfo) -> Response<Body> {
        let json = respond::wants_json(req.headers());
        match self.try_handle(req, conn).await {
            Ok(resp) => resp,
            Err(error) => error.into_response(json),
        }
    }

    async fn try_handle(
        &self,
        req: Request<Incoming>,
        conn: ConnInfo,
    ) -> Result<Response<Body>, GatewayError> {
        if conn.ambiguous_framing {
            return Err(FramingError::LengthAndEncoding.into());
        }
        framing::check(req.headers())?;
        if req.method() == Method::CONNECT {
            return Err(GatewayError::Connect);
        }

        let host = route::request_host(req.headers(), req.uri());
        let matched = self.router.route(host.as_deref(), req.uri().path());

        // Session step goes here (protected routes): it either answers the
        // request itself (login redirect / 401 / 503) or lets it through,
        // possibly with rewritten headers. Public routes skip it.

        self.forward(req, matched, conn).await
    }

    async fn forward(
        &self,
        req: Request<Incoming>,
        matched: Matched<'_>,
        conn: ConnInfo,
    ) -> Result<Response<Body>, GatewayError> {
        let peer = Peer {
            ip: conn.peer.ip(),
            tls: conn.tls,
        };
        self.upstream
            .forward(req, matched.upstream, peer)
            .await
            .map_err(|error| {
                warn!(
                    %error,
                    cause = ?std::error::Error::source(&error),
                    route = %matched.route.name,
                    kind = error.kind(),
                    "upstream request failed"
                );
                GatewayError::Upstream(error)
            })
    }
}
