//! The per-request service: the request path as one straight line.
//!
//! ```text
//! framing check → CONNECT refused → route match → strip forged headers
//!   → gateway endpoint? → public? → session check (guard) → decide
//!   → forward or answer → login/logout/cookie on the way back → record
//! ```
//!
//! Every failure along the line is a [`GatewayError`], turned into an answer
//! in exactly one place, [`GatewayError::into_response`].

use std::sync::Arc;
use std::time::Instant;

use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderValue, Method, Request, Response};
use hyper::body::Incoming;
use tracing::{debug, info, warn};

use crate::body::Body;
use crate::config::{Config, Mode};
use crate::control_headers;
use crate::decide::{self, Decision, Refusal};
use crate::endpoints;
use crate::guard::{Cookie, Guard, now_ms};
use crate::learn::{self, Learned};
use crate::login::{self, LoginHeader};
use crate::metrics::{EndReason, Metrics, Outcome, Reason, RouteMetrics, UpstreamErrorKind};
use crate::respond;
use crate::route::{self, HostError, Matched, Router};
use crate::server::ConnInfo;
use crate::session::{CookieAttrs, join_cookie_headers, keep_checked_cookie, strip_cookie};
use crate::source;
use crate::upstream::framing::{self, FramingError};
use crate::upstream::headers::X_FORWARDED_PROTO;
use crate::upstream::{BuildError, ForwardError, Peer, Upstream, UpstreamError};

/// Whether a trusted proxy says the client reached it over TLS.
fn forwarded_https(headers: &HeaderMap) -> bool {
    headers
        .get(X_FORWARDED_PROTO)
        .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"))
}

/// Everything that stops a request from being forwarded.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("ambiguous request framing: {0}")]
    Framing(#[from] FramingError),
    #[error("CONNECT is never proxied")]
    Connect,
    #[error("the request's host cannot be routed: {0}")]
    Host(#[from] HostError),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The client's request body broke off or had malformed chunked
    /// framing while it was forwarded: the client's error, not the
    /// upstream's.
    #[error("the client's request body broke off")]
    ClientBody(#[source] hyper_util::client::legacy::Error),
    #[error("the session store failed while creating or ending a session")]
    Store,
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
            GatewayError::Host(
                HostError::Missing | HostError::Repeated | HostError::EmptyLabel,
            ) => respond::bad_request(json),
            GatewayError::Connect => respond::method_not_allowed(json),
            GatewayError::ClientBody(_) => respond::bad_request(json),
            GatewayError::Upstream(
                UpstreamError::Connect(_)
                | UpstreamError::Broken(_)
                | UpstreamError::UnexpectedUpgrade
                | UpstreamError::Target(_),
            ) => respond::bad_gateway(json),
            GatewayError::Upstream(UpstreamError::Timeout(_)) => respond::gateway_timeout(json),
            GatewayError::Store => respond::unavailable(json),
        }
    }
}

/// The gateway shared by every connection. Swappable so that a config
/// reload (SIGHUP) can replace it for new requests while requests in
/// flight finish on the old one.
pub type SharedGateway = std::sync::Arc<arc_swap::ArcSwap<Gateway>>;

/// The gateway for one configuration: routes, the upstream client, the
/// session guard and each route's metric handles. A reload builds a new one.
pub struct Gateway {
    config: Arc<Config>,
    router: Router,
    upstream: Upstream,
    guard: Guard,
    metrics: Metrics,
    /// Indexed like [`Matched::index`].
    route_metrics: Vec<RouteMetrics>,
}

/// What became of one request, for metrics and the access log.
#[derive(Debug, Clone, Copy)]
struct Record {
    outcome: Option<Outcome>,
    reason: Option<Reason>,
}

impl Record {
    fn outcome(outcome: Outcome) -> Record {
        Record {
            outcome: Some(outcome),
            reason: None,
        }
    }
}

/// Where a request's time went, for the access log.
#[derive(Debug, Default, Clone, Copy)]
struct Timings {
    /// In the session store: the lookup, and any create or delete on the
    /// way back.
    store: std::time::Duration,
    /// Waiting for the upstream's response head.
    upstream: std::time::Duration,
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What the session step learned, carried to the response.
struct Passage {
    /// The request's valid-looking session id, if any.
    cookie: Cookie,
    /// `Set-Cookie` to add when the session was slid.
    reissue: Option<HeaderValue>,
    /// Values of the session cookie's occurrences removed from the request
    /// (every one but a valid checked one): observe mode never registers
    /// one of them.
    unchecked: Vec<String>,
    /// The request came over TLS (or https from a trusted proxy).
    secure: bool,
}

impl Gateway {
    pub fn new(config: Arc<Config>, guard: Guard, metrics: Metrics) -> Result<Self, BuildError> {
        let router = Router::new(&config);
        let route_metrics = router.routes().map(|r| metrics.route(&r.name)).collect();
        Ok(Gateway {
            upstream: Upstream::new(&config)?,
            router,
            config,
            guard,
            metrics,
            route_metrics,
        })
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// Answers one request. Never fails: errors are answers too.
    pub async fn handle(&self, req: Request<Incoming>, conn: ConnInfo) -> Response<Body> {
        let started = Instant::now();
        let json = respond::wants_json(req.headers());
        let method = req.method().clone();
        let path = self
            .config
            .log
            .access_log
            .then(|| req.uri().path().to_owned());
        let mut timings = Timings::default();
        let (resp, route, record) = match self.try_handle(req, conn, &mut timings).await {
            Ok(done) => done,
            Err((error, route)) => {
                let record = self.upstream_failure(&error, route);
                (error.into_response(json), route, record)
            }
        };
        let elapsed = started.elapsed();
        if let Some(route) = route {
            let metrics = &self.route_metrics[route];
            metrics.duration(elapsed.as_secs_f64());
            if let Some(outcome) = record.outcome {
                metrics.outcome(outcome);
            }
            if let Some(reason) = record.reason {
                metrics.redirect(reason);
            }
        }
        if let Some(path) = path {
            // The path only: query values and cookies never reach a log.
            info!(
                target: "sessiongate::access",
                method = %method,
                path = %path,
                status = resp.status().as_u16(),
                route = route.map_or("-", |r| self.route_name(r)),
                outcome = record.outcome.map_or("-", Outcome::as_str),
                reason = record.reason.map_or("-", Reason::as_str),
                duration_ms = ms(elapsed),
                store_ms = ms(timings.store),
                upstream_ms = ms(timings.upstream),
                client = %conn.peer.ip(),
            );
        }
        resp
    }

    fn route_name(&self, index: usize) -> &str {
        self.router
            .routes()
            .nth(index)
            .map_or("-", |r| r.name.as_str())
    }

    /// Counts an upstream failure; returns the request's record.
    fn upstream_failure(&self, error: &GatewayError, route: Option<usize>) -> Record {
        let kind = match error {
            GatewayError::Upstream(UpstreamError::Connect(_)) => UpstreamErrorKind::Connect,
            GatewayError::Upstream(UpstreamError::Timeout(_)) => UpstreamErrorKind::Timeout,
            GatewayError::Upstream(
                UpstreamError::Broken(_)
                | UpstreamError::UnexpectedUpgrade
                | UpstreamError::Target(_),
            ) => UpstreamErrorKind::Other,
            GatewayError::Store => return Record::outcome(Outcome::Unavailable),
            GatewayError::Framing(_)
            | GatewayError::Host(_)
            | GatewayError::Connect
            | GatewayError::ClientBody(_) => {
                return Record {
                    outcome: None,
                    reason: None,
                };
            }
        };
        if let Some(route) = route {
            self.route_metrics[route].upstream_error(kind);
        }
        Record::outcome(Outcome::UpstreamError)
    }

    #[allow(clippy::type_complexity)]
    async fn try_handle(
        &self,
        mut req: Request<Incoming>,
        conn: ConnInfo,
        timings: &mut Timings,
    ) -> Result<(Response<Body>, Option<usize>, Record), (GatewayError, Option<usize>)> {
        if conn.ambiguous_framing {
            return Err((FramingError::LengthAndEncoding.into(), None));
        }
        framing::check(req.headers()).map_err(|e| (e.into(), None))?;
        if req.method() == Method::CONNECT {
            return Err((GatewayError::Connect, None));
        }
        // HTTP/2 cookie crumbs (and extra HTTP/1.1 lines) become one header
        // before the session cookie is read or anything is forwarded.
        join_cookie_headers(req.headers_mut());

        let host = route::request_host(req.version(), req.headers(), req.uri())
            .map_err(|e| (e.into(), None))?;
        let matched = self.router.route(host, req.uri().path());
        let index = Some(matched.index);
        let fail = |e| (e, index);

        let session = &self.config.session;
        let trusted_peer = self.is_trusted_proxy(&conn);
        control_headers::strip_forged(req.headers_mut(), &session.identity_header, trusted_peer);
        let secure = conn.tls || (trusted_peer && forwarded_https(req.headers()));

        if endpoints::owns(&self.config, req.uri().path()) {
            // The gateway's own endpoints are store operations, nothing else.
            let asked = Instant::now();
            let resp = endpoints::answer(self, &req, secure).await;
            timings.store += asked.elapsed();
            return Ok((
                resp,
                None,
                Record {
                    outcome: None,
                    reason: None,
                },
            ));
        }

        let cookie = source::read(&self.config, req.headers());
        let unchecked = match session.mode {
            // The gateway's own cookie is withheld, every copy of it.
            // (Absent: no cookie of that name to strip, so no second scan.)
            Mode::Managed => {
                if !matches!(cookie, Cookie::Absent) {
                    strip_cookie(req.headers_mut(), &session.cookie_name);
                }
                Vec::new()
            }
            // The application needs its cookie, but only the occurrence
            // checked here: it might read another one (SPEC §5).
            Mode::External | Mode::Observe => keep_checked_cookie(
                req.headers_mut(),
                source::cookie_name(&self.config),
                matches!(cookie, Cookie::Present(_)),
            ),
        };

        if matched.route.public {
            let passage = Passage {
                cookie,
                reissue: None,
                unchecked,
                secure,
            };
            let resp = self
                .pass(req, matched, conn, passage, timings)
                .await
                .map_err(fail)?;
            return Ok((resp, index, Record::outcome(Outcome::Public)));
        }

        // The session step: one store round trip, then a pure decision.
        let asked = Instant::now();
        let strictest = self.router.strictest_idle();
        let lookup = self
            .guard
            .check(&self.config, matched.route, strictest, &cookie)
            .await;
        timings.store += asked.elapsed();
        let refusal = || {
            decide::refusal_for(
                matched.route.on_unauthenticated,
                req.method(),
                req.headers(),
            )
        };
        match decide::decide(lookup, matched.route, refusal, now_ms()) {
            Decision::Forward { user, reissue } => {
                if let Some(user) = user.and_then(|u| HeaderValue::try_from(u).ok()) {
                    req.headers_mut()
                        .insert(session.identity_header.clone(), user);
                }
                let reissue = match (&cookie, reissue.filter(|_| session.mode == Mode::Managed)) {
                    (Cookie::Present(id), Some(age)) => {
                        Some(CookieAttrs::new(session, secure).set(id.expose(), Some(age)))
                    }
                    _ => None,
                };
                let passage = Passage {
                    cookie,
                    reissue,
                    unchecked,
                    secure,
                };
                let resp = self
                    .pass(req, matched, conn, passage, timings)
                    .await
                    .map_err(fail)?;
                Ok((resp, index, Record::outcome(Outcome::Forwarded)))
            }
            Decision::Refuse {
                reason,
                refusal,
                clear_cookie,
            } => {
                let location = self.login_location(&req);
                let (mut resp, outcome) = match refusal {
                    Refusal::Redirect => (respond::login_redirect(&location), Outcome::Redirected),
                    Refusal::Unauthorized => (
                        respond::session_expired(reason, &location),
                        Outcome::Unauthorized,
                    ),
                };
                if clear_cookie {
                    resp.headers_mut()
                        .append(SET_COOKIE, self.session_cookie(secure).clear());
                }
                Ok((
                    resp,
                    index,
                    Record {
                        outcome: Some(outcome),
                        reason: Some(reason),
                    },
                ))
            }
            Decision::Unavailable => Ok((
                respond::unavailable(respond::wants_json(req.headers())),
                index,
                Record::outcome(Outcome::Unavailable),
            )),
        }
    }

    /// The login URL with the request's own path and query as `next`.
    pub(crate) fn login_location<B>(&self, req: &Request<B>) -> String {
        let login = &self.config.login;
        let target = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
        login::login_location(&login.url, login.next_param.as_deref(), target)
    }

    /// Whether the peer is one of `server.trusted_proxies`.
    fn is_trusted_proxy(&self, conn: &ConnInfo) -> bool {
        let ip = conn.peer.ip();
        self.config
            .server
            .trusted_proxies
            .iter()
            .any(|net| net.contains(&ip))
    }

    /// The attributes of the cookie that carries sessions in this mode.
    fn session_cookie(&self, secure: bool) -> CookieAttrs<'_> {
        CookieAttrs::named(
            &self.config.session,
            source::cookie_name(&self.config),
            secure,
        )
    }

    /// Forwards upstream and takes the response's way back: the wait for
    /// the response head is upstream time, the way back's store
    /// operations (login, logout, learning) store time.
    async fn pass(
        &self,
        req: Request<Incoming>,
        matched: Matched<'_>,
        conn: ConnInfo,
        passage: Passage,
        timings: &mut Timings,
    ) -> Result<Response<Body>, GatewayError> {
        let sent = Instant::now();
        let resp = self.forward(req, matched, conn).await;
        timings.upstream = sent.elapsed();
        self.on_response(resp?, passage, timings).await
    }

    /// The way back: the upstream's control headers are acted on and never
    /// leave the gateway; managed mode creates sessions and re-issues a slid
    /// session's cookie; observe mode learns sessions from `Set-Cookie`.
    async fn on_response(
        &self,
        mut resp: Response<Body>,
        passage: Passage,
        timings: &mut Timings,
    ) -> Result<Response<Body>, GatewayError> {
        let (login, logout) = control_headers::take_control(resp.headers_mut());
        let mode = self.config.session.mode;
        if login.is_some() && mode != Mode::Managed {
            warn!(
                mode = mode.as_str(),
                "ignoring Sessiongate-Login: sessions come from the application in this mode"
            );
        }
        if logout.as_ref().is_some_and(login::is_logout) {
            if let Some(id) = passage.cookie.id() {
                let asked = Instant::now();
                let ended = self.guard.end(&self.config, id).await;
                timings.store += asked.elapsed();
                ended.map_err(|_| GatewayError::Store)?;
                self.metrics.session_ended(EndReason::Upstream);
            }
            if mode == Mode::Managed {
                let clear = self.session_cookie(passage.secure).clear();
                resp.headers_mut().append(SET_COOKIE, clear);
            }
            return Ok(resp);
        }
        match mode {
            Mode::Managed => {
                if let Some(value) = login {
                    let asked = Instant::now();
                    let created = self.create_session(&mut resp, &value, &passage).await;
                    timings.store += asked.elapsed();
                    created?;
                } else if let Some(cookie) = passage.reissue {
                    resp.headers_mut().append(SET_COOKIE, cookie);
                }
            }
            Mode::Observe => {
                let asked = Instant::now();
                let learned = self.learn_session(&resp, &passage).await;
                timings.store += asked.elapsed();
                learned?;
            }
            Mode::External => {}
        }
        Ok(resp)
    }

    /// Managed mode: `Sessiongate-Login` creates a session with a fresh id.
    async fn create_session(
        &self,
        resp: &mut Response<Body>,
        value: &HeaderValue,
        passage: &Passage,
    ) -> Result<(), GatewayError> {
        let login = match LoginHeader::parse(value) {
            Ok(login) => login,
            Err(error) => {
                warn!(%error, "ignoring a malformed Sessiongate-Login header: no session created");
                return Ok(());
            }
        };
        let created = self
            .guard
            .login(&self.config, login, passage.cookie.id())
            .await
            .map_err(|_| GatewayError::Store)?;
        let cookie = self
            .session_cookie(passage.secure)
            .set(created.id.expose(), created.max_age);
        resp.headers_mut().append(SET_COOKIE, cookie);
        Ok(())
    }

    /// Observe mode: the application set or deleted its session cookie.
    async fn learn_session(
        &self,
        resp: &Response<Body>,
        passage: &Passage,
    ) -> Result<(), GatewayError> {
        let name = source::cookie_name(&self.config);
        let now_unix = i64::try_from(now_ms() / 1000).unwrap_or(i64::MAX);
        let old = passage.cookie.id();
        match learn::learned(resp.headers(), name, now_unix) {
            None => Ok(()),
            Some(Learned::Set(value)) => match source::from_value(&self.config, &value) {
                // The application re-sent the value the request carried
                // (rolling cookies): not a new session. The live one keeps
                // its start and deadline, and an expired one stays expired
                // (a replayed old cookie must not come back to life).
                Cookie::Present(id) if old == Some(&id) => Ok(()),
                // A value the request carried beside the checked one: the
                // gateway never vouched for it, whoever set it.
                Cookie::Present(id) if source::carried(&self.config, &passage.unchecked, &id) => {
                    warn!(
                        cookie = name,
                        "the application set its session cookie to a value the request carried \
                         in an unchecked occurrence: not registered"
                    );
                    Ok(())
                }
                Cookie::Present(id) => self
                    .guard
                    .learn(&self.config, &id, old)
                    .await
                    .map_err(|_| GatewayError::Store),
                Cookie::Absent | Cookie::Malformed => {
                    warn!(
                        cookie = name,
                        "the application's session cookie holds no session id (1-256 bytes \
                         of [A-Za-z0-9._~+/=,-], or what session.id_pattern extracts from \
                         the percent-decoded value): not registered"
                    );
                    Ok(())
                }
            },
            Some(Learned::Deleted) => {
                if let Some(old) = old {
                    self.guard
                        .end(&self.config, old)
                        .await
                        .map_err(|_| GatewayError::Store)?;
                    self.metrics.session_ended(EndReason::Upstream);
                }
                Ok(())
            }
        }
    }

    pub(crate) fn guard(&self) -> &Guard {
        &self.guard
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
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
            .map_err(|error| match error {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SPEC §5's error rows, from the one place errors become answers
    /// (the session rows are `decide`'s, unit-tested there). Upstream
    /// connect and reset errors, and a client body that broke off, wrap
    /// hyper-util errors that cannot be made outside it: their 502 and 400
    /// are tested end to end in `tests/it/proxy`.
    #[test]
    fn every_error_row_of_spec_5_has_its_status() {
        use http::StatusCode;
        fn bad_target() -> GatewayError {
            let error = http::Uri::builder().scheme("http").build().unwrap_err();
            UpstreamError::Target(error).into()
        }
        let rows: [(fn() -> GatewayError, StatusCode); 12] = [
            (
                || FramingError::LengthAndEncoding.into(),
                StatusCode::BAD_REQUEST,
            ),
            (
                || FramingError::DifferingLengths.into(),
                StatusCode::BAD_REQUEST,
            ),
            (
                || FramingError::UnknownCoding.into(),
                StatusCode::BAD_REQUEST,
            ),
            (
                || FramingError::ControlCharacter.into(),
                StatusCode::BAD_REQUEST,
            ),
            (|| HostError::Missing.into(), StatusCode::BAD_REQUEST),
            (|| HostError::Repeated.into(), StatusCode::BAD_REQUEST),
            (|| HostError::EmptyLabel.into(), StatusCode::BAD_REQUEST),
            (|| GatewayError::Connect, StatusCode::METHOD_NOT_ALLOWED),
            (
                || UpstreamError::Timeout(std::time::Duration::from_secs(1)).into(),
                StatusCode::GATEWAY_TIMEOUT,
            ),
            (
                || UpstreamError::UnexpectedUpgrade.into(),
                StatusCode::BAD_GATEWAY,
            ),
            (bad_target, StatusCode::BAD_GATEWAY),
            (|| GatewayError::Store, StatusCode::SERVICE_UNAVAILABLE),
        ];
        for (error, status) in rows {
            for json in [false, true] {
                let resp = error().into_response(json);
                assert_eq!(resp.status(), status, "{:?} (json: {json})", error());
            }
        }
        let store = GatewayError::Store.into_response(false);
        assert!(store.headers().contains_key(http::header::RETRY_AFTER));
        let framing = GatewayError::from(FramingError::UnknownCoding).into_response(false);
        assert_eq!(framing.headers()[http::header::CONNECTION], "close");
    }
}
