//! The session step: everything between the request's cookie and the store.
//!
//! [`Guard`] turns a cookie into a [`Lookup`] with exactly one store round
//! trip, creates sessions when the upstream logs someone in, ends them on
//! logout, and answers the gateway's own session endpoints' questions. It
//! times and counts every store operation; it never logs a session id.

use std::time::{Duration, Instant};

use crate::clock::millis;

use tracing::warn;

use crate::config::{Config, Mode, Route};
use crate::decide::{self, Lookup};
use crate::login::LoginHeader;
use crate::metrics::{Metrics, StoreOp};
use crate::session::SessionId;
pub use crate::source::Cookie;
use crate::source::key;
use crate::store::{ForeignFound, Found, Record, SessionStore, Store, StoreError, Touch};

pub use crate::clock::now_ms;

/// A new session, as the response must announce it.
#[derive(Debug)]
pub struct Created {
    pub id: SessionId,
    /// The cookie's Max-Age; `None` for a browser session.
    pub max_age: Option<Duration>,
}

/// The session step for one configuration.
#[derive(Clone)]
pub struct Guard {
    store: Store,
    metrics: Metrics,
}

impl Guard {
    pub fn new(store: Store, metrics: Metrics) -> Guard {
        Guard { store, metrics }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Times one store operation and counts its failure.
    async fn timed<T>(
        &self,
        op: StoreOp,
        fut: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = fut.await;
        self.metrics
            .store_op(op, started.elapsed().as_secs_f64(), result.is_err());
        if let Err(error) = &result {
            warn!(%error, op = op.as_str(), "session store operation failed");
        }
        result
    }

    /// Looks the cookie's session up and slides it per the route: the one
    /// store round trip of a protected request. `strictest` is the
    /// smallest route `idle_timeout` of the configuration
    /// ([`Router::strictest_idle`](crate::route::Router::strictest_idle)).
    pub async fn check(
        &self,
        config: &Config,
        route: &Route,
        strictest: Option<Duration>,
        cookie: &Cookie,
    ) -> Lookup {
        let id = match cookie {
            Cookie::Absent => return Lookup::NoCookie,
            Cookie::Malformed => return Lookup::Malformed,
            Cookie::Present(id) => id,
        };
        let touch = decide::touch_for(&config.session, route, strictest, now_ms());
        self.lookup(config, id, &touch).await
    }

    async fn lookup(&self, config: &Config, id: &SessionId, touch: &Touch) -> Lookup {
        let key = key(config, id);
        if config.session.mode == Mode::External {
            return self.lookup_foreign(config, &key, touch).await;
        }
        match self
            .timed(StoreOp::Touch, self.store.touch(&key, touch))
            .await
        {
            Ok(Some(found)) => Lookup::Live(found),
            Ok(None) => Lookup::Unknown,
            Err(_) => Lookup::StoreFailed,
        }
    }

    /// External mode: the application's own key. Its TTL is extended to
    /// `idle_timeout`, never shortened, its value never read; a route's
    /// stricter idle limit is checked by the store in the same round trip,
    /// so a session too idle for the route is not slid.
    async fn lookup_foreign(&self, config: &Config, key: &str, touch: &Touch) -> Lookup {
        let idle = config.session.idle_timeout;
        let touched = self
            .timed(
                StoreOp::Touch,
                self.store
                    .touch_foreign(key, idle, touch.extend, touch.min_step, touch.max_idle),
            )
            .await;
        match touched {
            Ok(Some(found)) => Lookup::Live(foreign_found(found, idle, touch.now_ms)),
            Ok(None) => Lookup::Unknown,
            Err(_) => Lookup::StoreFailed,
        }
    }

    /// Observe mode: registers a session the application just set, under
    /// the gateway's prefix; the application's previous session, if the
    /// request carried one, ends (the application rotated its id).
    pub async fn learn(
        &self,
        config: &Config,
        id: &SessionId,
        old: Option<&SessionId>,
    ) -> Result<(), StoreError> {
        let session = &config.session;
        let now = now_ms();
        let deadline_ms = session
            .absolute_timeout
            .map(|cap| now.saturating_add(millis(cap)));
        let ttl = session
            .absolute_timeout
            .map_or(session.idle_timeout, |cap| session.idle_timeout.min(cap));
        let record = Record {
            user: None,
            started_ms: now,
            idle: session.idle_timeout,
            deadline_ms,
            browser: false,
            touched_ms: now,
        };
        if let Some(old) = old.filter(|old| *old != id) {
            let _ = self.end(config, old).await;
        }
        self.timed(
            StoreOp::Create,
            self.store.create(&key(config, id), &record, ttl),
        )
        .await?;
        self.metrics.session_created(session.mode);
        Ok(())
    }

    /// Reads a session without sliding it (`GET /.sessiongate/session`).
    pub async fn peek(&self, config: &Config, id: &SessionId) -> Lookup {
        let touch = Touch {
            now_ms: now_ms(),
            extend: false,
            min_step: Duration::ZERO,
            max_idle: None,
        };
        self.lookup(config, id, &touch).await
    }

    /// Slides a session now, whatever `touch_interval` says
    /// (`POST /.sessiongate/refresh`). Sliding never resurrects.
    pub async fn refresh(&self, config: &Config, id: &SessionId) -> Lookup {
        let touch = Touch {
            now_ms: now_ms(),
            extend: true,
            min_step: Duration::ZERO,
            max_idle: None,
        };
        self.lookup(config, id, &touch).await
    }

    /// Creates a session for a `Sessiongate-Login` header, with a fresh id:
    /// a session id the client sent is never reused (no fixation), and its
    /// old session, if any, ends.
    pub async fn login(
        &self,
        config: &Config,
        login: LoginHeader,
        old: Option<&SessionId>,
    ) -> Result<Created, StoreError> {
        let session = &config.session;
        let now = now_ms();
        // Django's set_expiry(): N seconds overrides the idle timeout, 0 makes
        // a browser session with the configured idle timeout.
        let (idle, browser) = match login.max_age {
            None => (session.idle_timeout, session.browser_session),
            Some(Duration::ZERO) => (session.idle_timeout, true),
            Some(age) => (age, false),
        };
        let deadline_ms = session
            .absolute_timeout
            .map(|cap| now.saturating_add(millis(cap)));
        let ttl = session.absolute_timeout.map_or(idle, |cap| idle.min(cap));
        let record = Record {
            user: Some(login.user),
            started_ms: now,
            idle,
            deadline_ms,
            browser,
            touched_ms: now,
        };
        let id = SessionId::generate().map_err(|_| StoreError::Corrupt("no OS randomness"))?;
        if let Some(old) = old {
            // Best effort: the old id is never adopted whatever happens here.
            let _ = self.end(config, old).await;
        }
        self.timed(
            StoreOp::Create,
            self.store.create(&key(config, &id), &record, ttl),
        )
        .await?;
        self.metrics.session_created(session.mode);
        Ok(Created {
            id,
            max_age: (!browser).then_some(ttl),
        })
    }

    /// Ends a session (logout). `Ok(true)` when it existed.
    pub async fn end(&self, config: &Config, id: &SessionId) -> Result<bool, StoreError> {
        self.timed(StoreOp::Delete, self.store.delete(&key(config, id)))
            .await
    }
}

/// An application's key seen as a session: idle time is what the TTL has
/// lost since it was last set to `idle` (a key the application gave a
/// longer TTL counts as fresh; one without expiry never idles out).
fn foreign_found(found: ForeignFound, idle: Duration, now_ms: u64) -> Found {
    let ttl_before = found.ttl_before.unwrap_or(idle);
    let idle_for = millis(idle.saturating_sub(ttl_before));
    Found {
        record: Record {
            user: None,
            started_ms: now_ms.saturating_sub(idle_for),
            idle,
            deadline_ms: None,
            browser: false,
            touched_ms: now_ms.saturating_sub(idle_for),
        },
        ttl_before,
        ttl: found.ttl.unwrap_or(idle),
        extended: found.extended,
    }
}

/// The body of `GET /.sessiongate/session` for a live session (SPEC §6).
pub fn status_json(found: &Found, now_ms: u64) -> serde_json::Value {
    let record = &found.record;
    let mut body = serde_json::json!({
        "authenticated": true,
        "expires_in": found.ttl.as_secs(),
        "idle_timeout": record.idle.as_secs(),
        "absolute_expires_in": record.deadline_ms.map(|d| d.saturating_sub(now_ms) / 1000),
        "browser_session": record.browser,
    });
    // External and observe sessions have no known user: no `user` key.
    if let Some(user) = &record.user {
        body["user"] = serde_json::Value::from(user.as_str());
    }
    body
}
