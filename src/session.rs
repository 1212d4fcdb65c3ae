//! The session layer: the only thing the gateway calls for sessions.
//!
//! ```text
//! check:  cookie (source, cookie) → one store round trip → decide (pure)
//!           → Verdict: forward with a Passage, refuse, or unavailable
//! after:  the upstream's control headers → login / logout / learn / re-issue
//! ```
//!
//! [`Sessions`] owns the configuration's session rules, the store and the
//! store metrics. It times and counts every store operation and never logs
//! a session id. The submodules each hold one part of the step:
//!
//! - [`source`]: which cookie carries the session in this mode, the id in
//!   it, and its store key;
//! - [`cookie`]: reading the `Cookie` header, and what of it the upstream sees;
//! - [`id`]: session ids, validated or freshly generated;
//! - [`decide`]: the pure decision, the cookie action included;
//! - [`set_cookie`]: the `Set-Cookie` the gateway writes;
//! - [`lifecycle`]: login and logout headers, and a new session's record;
//! - [`learn`]: observe mode reading the application's `Set-Cookie`.

use std::sync::Arc;
use std::time::Duration;

use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderValue, Request, Response};
use tracing::warn;

use crate::body::Body;
use crate::clock::now_ms;
use crate::config::{Config, Mode, Route};
use crate::control_headers;
use crate::login;
use crate::metrics::{EndReason, Metrics, StoreOp};
use crate::respond;
use crate::store::{SessionStore, Store, StoreError, Touch};

mod control;
pub mod cookie;
pub mod decide;
pub mod id;
pub mod learn;
pub mod lifecycle;
mod live;
pub mod set_cookie;
pub mod source;
mod store_ops;
mod verdict;

pub use control::{Listed, is_handle};
use decide::{CookieAction, Decision, Lookup, Refusal};
pub use id::{InvalidId, SessionId};
use lifecycle::{LoginHeader, NewSession};
pub use set_cookie::{CookieAttrs, InvalidCookie};
pub use source::Cookie;
pub use verdict::{Current, LiveFacts, Passage, Refused, Verdict};

/// Why the session step could not finish. Answered in one place,
/// `gateway::GatewayError::into_response`: a store failure is a `503`,
/// never a logout.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("the session store failed")]
    Store(#[from] StoreError),
    #[error("the OS random number generator failed: no session id")]
    Randomness(#[source] getrandom::Error),
    #[error(transparent)]
    Cookie(#[from] InvalidCookie),
}

/// The session layer for one configuration (a reload builds a new one on
/// the same store and metrics).
pub struct Sessions {
    config: Arc<Config>,
    store: Store,
    metrics: Metrics,
    /// The smallest route `idle_timeout` (`Router::strictest_idle`).
    strictest_idle: Option<Duration>,
    /// The live connections sessions own (SPEC §10), shared across reloads.
    live: crate::live::Live,
}

impl Sessions {
    pub fn new(
        config: Arc<Config>,
        store: Store,
        metrics: Metrics,
        strictest_idle: Option<Duration>,
        live: crate::live::Live,
    ) -> Sessions {
        Sessions {
            config,
            store,
            metrics,
            strictest_idle,
            live,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The session step of a request on `route`: reads the session cookie,
    /// withholds from the upstream what it may not see, and on a protected
    /// route looks the session up and slides it (the one store round trip)
    /// and decides. A forwarded request gets the identity header.
    /// `store_time` gathers the time spent in the store.
    pub async fn check<B>(
        &self,
        route: &Route,
        req: &mut Request<B>,
        secure: bool,
        store_time: &mut Duration,
    ) -> Verdict {
        let cookie = source::read(&self.config, req.headers());
        let unchecked = self.withhold(req.headers_mut(), &cookie);
        // Only a login refused by the session limit needs it, and only
        // then is the Accept header read.
        let json = self.refuses_logins() && respond::wants_json(req.headers());
        if route.public {
            return Verdict::Forward(Passage {
                id: cookie.into_id(),
                unchecked,
                reissue: None,
                secure,
                public: true,
                json,
                live: None,
            });
        }
        let session = &self.config.session;
        let touch = decide::touch_for(session, route, self.strictest_idle, now_ms());
        let lookup = match self.lookup(&cookie, &touch, store_time).await {
            Ok(lookup) => lookup,
            Err(error) => return Verdict::Unavailable(error.into()),
        };
        let refusal = || decide::refusal_for(route.on_unauthenticated, req.method(), req.headers());
        match decide::decide(
            lookup,
            route.idle_timeout,
            session.mode,
            refusal,
            touch.now_ms,
        ) {
            Decision::Forward {
                found,
                cookie: action,
            } => {
                let live = live::facts(&found, &touch, session.touch_interval);
                let id = cookie.into_id();
                let reissue = match self.cookie_header(action, id.as_ref(), secure) {
                    Ok(reissue) => reissue,
                    Err(error) => return Verdict::Unavailable(error.into()),
                };
                if let Some(user) = found
                    .record
                    .user
                    .and_then(|u| HeaderValue::try_from(u).ok())
                {
                    req.headers_mut()
                        .insert(session.identity_header.clone(), user);
                }
                Verdict::Forward(Passage {
                    id,
                    unchecked,
                    reissue,
                    secure,
                    public: false,
                    json,
                    live: Some(live),
                })
            }
            Decision::Refuse {
                reason,
                refusal,
                cookie: action,
            } => match self.cookie_header(action, None, secure) {
                Ok(clear) => Verdict::Refuse(Refused {
                    reason,
                    refusal,
                    clear,
                }),
                Err(error) => Verdict::Unavailable(error.into()),
            },
        }
    }

    /// The answer to a refused request: `302` to login or `401` JSON, with
    /// the request's own path and query as `next`, and the stale cookie
    /// cleared when the decision says so.
    pub fn refusal<B>(&self, refused: Refused, req: &Request<B>) -> Response<Body> {
        let location = self.login_location(req);
        let mut resp = match refused.refusal {
            Refusal::Redirect => respond::login_redirect(&location),
            Refusal::Unauthorized => respond::session_expired(refused.reason, &location),
        };
        if let Some(clear) = refused.clear {
            resp.headers_mut().append(SET_COOKIE, clear);
        }
        resp
    }

    /// Where a refused request is sent: `login.url` with the request's own
    /// path and query as a safe `next`.
    pub fn login_location<B>(&self, req: &Request<B>) -> String {
        let login = &self.config.login;
        let target = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
        login::login_location(&login.url, login.next_param.as_deref(), target)
    }

    /// The way back of a forwarded request: the upstream's control headers
    /// are acted on and never leave the gateway; managed mode creates
    /// sessions and re-issues a slid session's cookie; observe mode learns
    /// sessions from the application's `Set-Cookie`.
    pub async fn after(
        self: &Arc<Self>,
        resp: &mut Response<Body>,
        mut passage: Passage,
        store_time: &mut Duration,
    ) -> Result<(), SessionError> {
        let watched = crate::live::Live::wants(resp)
            .then(|| passage.live.take().zip(passage.id.clone()))
            .flatten();
        let ended = self.settle(resp, passage, store_time).await?;
        self.attach(resp, watched, ended);
        Ok(())
    }

    /// [`Sessions::after`] but live connections; `Ok(true)`: session ended.
    async fn settle(
        &self,
        resp: &mut Response<Body>,
        passage: Passage,
        store_time: &mut Duration,
    ) -> Result<bool, SessionError> {
        let (login, logout) = control_headers::take_control(resp.headers_mut());
        let mode = self.config.session.mode;
        if login.is_some() && mode != Mode::Managed {
            warn!(
                mode = mode.as_str(),
                "ignoring Sessiongate-Login: sessions come from the application in this mode"
            );
        }
        if logout.as_ref().is_some_and(lifecycle::is_logout) {
            if let Some(id) = &passage.id {
                self.end(id, store_time).await?;
                self.metrics.session_ended(EndReason::Upstream);
            }
            if mode == Mode::Managed {
                let clear = self.cookie_attrs(passage.secure).clear()?;
                resp.headers_mut().append(SET_COOKIE, clear);
            }
            return Ok(true);
        }
        match (mode, login) {
            (Mode::Managed, Some(login)) => {
                self.login(resp, &login, &passage, store_time).await?;
                // A login replaced the request's session, if it had one.
                return Ok(passage.id.is_some());
            }
            (Mode::Managed, None) => {
                if let Some(cookie) = passage.reissue {
                    resp.headers_mut().append(SET_COOKIE, cookie);
                }
            }
            (Mode::Observe, _) => self.learn(resp.headers(), &passage, store_time).await?,
            (Mode::External, _) => {}
        }
        Ok(false)
    }

    /// The caller's session for the gateway's own API endpoints, decided
    /// like any protected request and always refused as an API request.
    /// With `slide` (`POST /.sessiongate/refresh`) it is slid now, whatever
    /// `touch_interval` says (sliding never resurrects); without, never.
    pub async fn current(
        &self,
        headers: &HeaderMap,
        secure: bool,
        slide: bool,
        store_time: &mut Duration,
    ) -> Result<Current, SessionError> {
        let cookie = source::read(&self.config, headers);
        let touch = Touch {
            now_ms: now_ms(),
            extend: slide,
            min_step: Duration::ZERO,
            max_idle: None,
        };
        let lookup = self.lookup(&cookie, &touch, store_time).await?;
        let mode = self.config.session.mode;
        let id = cookie.into_id();
        match decide::decide(lookup, None, mode, || Refusal::Unauthorized, touch.now_ms) {
            Decision::Forward { found, cookie } => {
                let reissue = self.cookie_header(cookie, id.as_ref(), secure)?;
                match id {
                    Some(id) => Ok(Current::Live { found, reissue, id }),
                    // A live lookup always had an id; refuse rather than panic.
                    None => Ok(Current::Refused(Refused {
                        reason: crate::metrics::Reason::Missing,
                        refusal: Refusal::Unauthorized,
                        clear: None,
                    })),
                }
            }
            Decision::Refuse {
                reason,
                refusal,
                cookie,
            } => Ok(Current::Refused(Refused {
                reason,
                refusal,
                clear: self.cookie_header(cookie, None, secure)?,
            })),
        }
    }

    /// Whether a login can be refused for `max_sessions_per_user`.
    fn refuses_logins(&self) -> bool {
        let session = &self.config.session;
        session.max_sessions_per_user.is_some()
            && session.on_session_limit == crate::config::OnSessionLimit::Refuse
    }

    /// The attributes of the cookie that carries sessions in this mode (in
    /// observe mode the application's `learn_cookie`).
    pub fn cookie_attrs(&self, secure: bool) -> CookieAttrs<'_> {
        let session = &self.config.session;
        CookieAttrs::named(session, source::cookie_name(&self.config), secure)
    }

    /// Keeps from the upstream what it may not see of the session cookie.
    /// Managed mode withholds every copy of the gateway's own cookie;
    /// external and observe modes forward the application's cookie, but only
    /// the occurrence checked here (SPEC §5): the values of the others are
    /// returned, for observe mode never to register.
    fn withhold(&self, headers: &mut HeaderMap, cookie: &Cookie) -> Vec<String> {
        match self.config.session.mode {
            // Absent: no cookie of that name to strip, so no second scan.
            Mode::Managed => {
                if !matches!(cookie, Cookie::Absent) {
                    cookie::strip_cookie(headers, &self.config.session.cookie_name);
                }
                Vec::new()
            }
            Mode::External | Mode::Observe => cookie::keep_checked_cookie(
                headers,
                source::cookie_name(&self.config),
                matches!(cookie, Cookie::Present(_)),
            ),
        }
    }

    /// The `Set-Cookie` a cookie action asks for: a re-issue needs the id.
    pub(crate) fn cookie_header(
        &self,
        action: CookieAction,
        id: Option<&SessionId>,
        secure: bool,
    ) -> Result<Option<HeaderValue>, InvalidCookie> {
        match (action, id) {
            (CookieAction::Reissue(age), Some(id)) => self
                .cookie_attrs(secure)
                .set(id.expose(), Some(age))
                .map(Some),
            (CookieAction::Clear, _) => self.cookie_attrs(secure).clear().map(Some),
            (CookieAction::Keep | CookieAction::Reissue(_), _) => Ok(None),
        }
    }

    /// Looks a cookie's session up, sliding it per `touch`: the one store
    /// round trip. External mode reads the application's own key (its TTL
    /// extended to `idle_timeout`, never shortened, its value never read; a
    /// route's stricter limit checked in the same round trip).
    pub(crate) async fn lookup(
        &self,
        cookie: &Cookie,
        touch: &Touch,
        store_time: &mut Duration,
    ) -> Result<Lookup, StoreError> {
        let id = match cookie {
            Cookie::Absent => return Ok(Lookup::NoCookie),
            Cookie::Malformed => return Ok(Lookup::Malformed),
            Cookie::Present(id) => id,
        };
        let key = source::key(&self.config, id);
        let found = if self.config.session.mode == Mode::External {
            let idle = self.config.session.idle_timeout;
            let op = self.store.touch_foreign(&key, idle, touch);
            self.timed(StoreOp::Touch, op, store_time)
                .await?
                .map(|found| source::foreign_found(found, idle, touch.now_ms))
        } else {
            let op = self.store.touch(&key, touch);
            self.timed(StoreOp::Touch, op, store_time).await?
        };
        Ok(found.map_or(Lookup::Unknown, Lookup::Live))
    }

    /// Managed mode: `Sessiongate-Login` creates a session with a fresh id:
    /// a session id the client sent is never reused (no fixation), and its
    /// old session, if any, ends.
    async fn login(
        &self,
        resp: &mut Response<Body>,
        value: &HeaderValue,
        passage: &Passage,
        store_time: &mut Duration,
    ) -> Result<(), SessionError> {
        let login = match LoginHeader::parse(value) {
            Ok(login) => login,
            Err(error) => {
                warn!(%error, "ignoring a malformed Sessiongate-Login header: no session created");
                return Ok(());
            }
        };
        let session = &self.config.session;
        let user = login.user;
        let new = NewSession::begin(
            session,
            Some(user.clone()),
            login.max_age,
            session.browser_session,
            now_ms(),
        );
        let id = SessionId::generate().map_err(SessionError::Randomness)?;
        let handle = control::new_handle().map_err(SessionError::Randomness)?;
        if let Some(old) = &passage.id {
            // Best effort: the old id is never adopted whatever happens here.
            let _ = self.end(old, store_time).await;
        }
        self.create(&id, &new, store_time).await?;
        self.index(&user, &handle, &id, store_time).await?;
        if !self.within_limit(&user, &id, store_time).await? {
            let limit = session.max_sessions_per_user.unwrap_or(0);
            warn!(
                limit,
                "login refused: the user has max_sessions_per_user live sessions"
            );
            *resp = respond::session_limit(limit, passage.json);
            return Ok(());
        }
        self.metrics.session_created(session.mode);
        let cookie = self
            .cookie_attrs(passage.secure)
            .set(id.expose(), new.max_age())?;
        resp.headers_mut().append(SET_COOKIE, cookie);
        Ok(())
    }
}
