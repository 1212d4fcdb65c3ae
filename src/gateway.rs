//! The per-request service: the request path as one straight line.
//!
//! ```text
//! framing → forward-auth check? → route → headers a client may not send
//!   → gateway endpoint?
//!   → session check → forward or answer → the session's way back → record
//! ```
//!
//! Every failure along the line is a [`GatewayError`], turned into an answer
//! in exactly one place, [`GatewayError::into_response`]. What became of
//! the request is counted and logged by [`record`].

use std::sync::Arc;
use std::time::Instant;

use http::{HeaderMap, Method, Request, Response};
use hyper::body::Incoming;
use tracing::{debug, warn};

use crate::body::Body;
use crate::config::Config;
use crate::control_headers;
use crate::endpoints::{self, forward_auth};
use crate::inject::{Plan, Warnings};
use crate::live::Live;
use crate::metrics::Metrics;
use crate::peer::ConnInfo;
use crate::respond;
use crate::route::{self, Matched, Router};
use crate::session::{Passage, Sessions, Verdict};
use crate::store::Store;
use crate::upstream::framing::{self, FramingError};
use crate::upstream::headers::X_FORWARDED_PROTO;
use crate::upstream::{BuildError, ForwardError, Peer, Upstream};

pub mod error;

use crate::record::{Record, Recorder};
pub use error::GatewayError;

/// The gateway shared by every connection. Swappable so that a config
/// reload (SIGHUP) can replace it for new requests while requests in
/// flight finish on the old one.
pub type SharedGateway = std::sync::Arc<arc_swap::ArcSwap<Gateway>>;

/// The gateway for one configuration: routes, the upstream client, the
/// session layer and each route's metrics. A reload builds a new one on
/// the same store and metrics.
pub struct Gateway {
    config: Arc<Config>,
    router: Router,
    upstream: Upstream,
    sessions: Arc<Sessions>,
    recorder: Recorder,
    warnings: Warnings,
}

impl Gateway {
    pub fn new(
        config: Arc<Config>,
        store: Store,
        metrics: Metrics,
        live: Live,
    ) -> Result<Self, BuildError> {
        let router = Router::new(&config);
        let recorder = Recorder::new(&router, &metrics, config.log.access_log);
        let warnings = Warnings::new(&router, &config, &metrics);
        let strictest = router.strictest_idle();
        let sessions = Arc::new(Sessions::new(
            config.clone(),
            store,
            metrics,
            strictest,
            live,
        ));
        Ok(Gateway {
            upstream: Upstream::new(&config)?,
            router,
            sessions,
            recorder,
            warnings,
            config,
        })
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    pub fn metrics(&self) -> &Metrics {
        self.sessions.metrics()
    }

    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// Answers one request. Never fails: errors are answers too.
    pub async fn handle(&self, req: Request<Incoming>, conn: ConnInfo) -> Response<Body> {
        let mut record = self.recorder.start(&req, conn.peer.ip());
        let json = respond::wants_json(req.headers()) || endpoints::speaks_json(req.uri().path());
        let resp = match self.try_handle(req, conn, &mut record).await {
            Ok(resp) => resp,
            Err(error) => {
                let (outcome, upstream_kind) = error.counted_as();
                if let Some(outcome) = outcome {
                    record.outcome(outcome);
                }
                if let Some(kind) = upstream_kind {
                    self.recorder.upstream_error(&record, kind);
                }
                error.into_response(json)
            }
        };
        self.recorder.finish(record, resp.status());
        resp
    }

    async fn try_handle(
        &self,
        mut req: Request<Incoming>,
        conn: ConnInfo,
        record: &mut Record,
    ) -> Result<Response<Body>, GatewayError> {
        // Framing two parsers could read differently never goes further.
        if conn.ambiguous_framing {
            return Err(FramingError::LengthAndEncoding.into());
        }
        framing::check(req.headers())?;
        if crate::server::too_many_fields(req.version(), req.headers()) {
            return Err(GatewayError::TooManyHeaders);
        }
        if req.method() == Method::CONNECT {
            return Err(GatewayError::Connect);
        }

        // Forward-auth: a fronting proxy asks about another request, which
        // headers it set describe; read before the strip below, answered
        // from the same routes and session check, never forwarded.
        if let Some(endpoint) = forward_auth::endpoint(req.uri().path()) {
            let (router, sessions) = (&self.router, &self.sessions);
            let answer = forward_auth::answer(endpoint, router, sessions, &req, conn.tls, record);
            return Ok(answer.await?);
        }

        // The route, by canonical host and normalised path.
        let host = route::request_host(req.version(), req.headers(), req.uri())?;
        let matched = self.router.route(host, req.uri().path());

        // Headers only the gateway (or a trusted proxy) may send.
        let trusted = conn.is_trusted_proxy(&self.config.server.trusted_proxies);
        let identity = &self.config.session.identity_header;
        control_headers::strip_forged(req.headers_mut(), identity, trusted);
        // HTTP/2 cookie crumbs (and extra HTTP/1.1 lines) become one header
        // before the session cookie is read or anything is forwarded.
        crate::session::cookie::join_cookie_headers(req.headers_mut());
        let secure = conn.tls || (trusted && forwarded_https(req.headers()));

        // The gateway's own endpoints: session operations, nothing else.
        if endpoints::owns(&self.config, req.uri().path()) {
            let caller = endpoints::Caller { secure, trusted };
            let answer = endpoints::answer(&self.sessions, &req, caller, &mut record.store);
            return Ok(answer.await?);
        }
        record.route(matched.index);

        // The session step: one store round trip, then a pure decision.
        let verdict = self
            .sessions
            .check(matched.route, &mut req, secure, &mut record.store)
            .await;
        let passage = match verdict {
            Verdict::Forward(passage) => passage,
            Verdict::Refuse(refused) => {
                record.refused(refused.outcome(), refused.reason);
                return Ok(self.sessions.refusal(refused, &req));
            }
            Verdict::Unavailable(error) => return Err(error.into()),
        };
        let outcome = passage.outcome();

        // Forward, then the way back: the session's (login, logout,
        // learning) and the expiry warning an HTML page may get.
        let warning = self.warnings.plan(matched.index, &req, secure, trusted);
        let peer = Peer {
            ip: conn.peer.ip(),
            tls: conn.tls,
            trusted,
        };
        let resp = self.forward(req, matched, peer, record).await?;
        let resp = self.after(resp, passage, warning, record).await?;
        record.outcome(outcome);
        Ok(resp)
    }

    /// Forwards upstream; the wait for the response head is upstream time.
    async fn forward(
        &self,
        req: Request<Incoming>,
        matched: Matched<'_>,
        peer: Peer,
        record: &mut Record,
    ) -> Result<Response<Body>, GatewayError> {
        let sent = Instant::now();
        let resp = self.upstream.forward(req, matched.upstream, peer).await;
        record.upstream = sent.elapsed();
        resp.map_err(|error| match error {
            ForwardError::Upstream(error) => {
                warn!(
                    %error,
                    cause = ?std::error::Error::source(&error),
                    route = %matched.route.name,
                    kind = error.kind(),
                    "upstream request failed"
                );
                GatewayError::Upstream(error)
            }
            ForwardError::ClientBody(error) => {
                debug!(%error, route = %matched.route.name, "client request body broke off");
                GatewayError::ClientBody(error)
            }
        })
    }

    /// The way back: through the session layer, then the warning injector.
    async fn after(
        &self,
        mut resp: Response<Body>,
        passage: Passage,
        warning: Option<Plan>,
        record: &mut Record,
    ) -> Result<Response<Body>, GatewayError> {
        self.sessions
            .after(&mut resp, passage, &mut record.store)
            .await?;
        Ok(match warning {
            Some(plan) => plan.apply(resp),
            None => resp,
        })
    }
}

/// Whether a trusted proxy says the client reached it over TLS.
fn forwarded_https(headers: &HeaderMap) -> bool {
    headers
        .get(X_FORWARDED_PROTO)
        .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"))
}
