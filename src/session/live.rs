//! The session side of live connections (SPEC §10): what a tunnel or an
//! event stream needs to know about its session, asking the store again
//! at a deadline or on a client message, and handing a forwarded
//! response's connection to [`crate::live`].

use std::sync::Arc;
use std::time::Duration;

use http::Response;

use super::decide::Lookup;
use super::{Cookie, LiveFacts, SessionId, Sessions};
use crate::body::Body;
use crate::clock::{millis, now_ms};
use crate::live::Live;
use crate::live::registry::Token;
use crate::live::watch::{Binding, CheckFuture, SessionLink};
use crate::store::{Found, StoreError, Touch, idle_exceeded};

/// A live connection's link to its session: what [`crate::live`] asks.
struct Link {
    sessions: Arc<Sessions>,
    id: SessionId,
    facts: LiveFacts,
    token: Token,
}

impl SessionLink for Link {
    fn token(&self) -> Token {
        self.token
    }

    fn left(&self) -> Duration {
        self.facts.left
    }

    fn check(&self, slide: bool) -> CheckFuture<'_> {
        Box::pin(self.sessions.recheck(&self.id, &self.facts, slide))
    }
}

/// The facts of a request let through with `found`, looked up with `touch`.
pub(super) fn facts(found: &Found, touch: &Touch, touch_interval: Duration) -> LiveFacts {
    let half = |d: Duration| d / 2;
    let mut slide_every = touch_interval.min(half(found.record.idle));
    if let Some(limit) = touch.max_idle {
        slide_every = slide_every.min(half(limit));
    }
    LiveFacts {
        left: left(found, touch.max_idle, touch.now_ms),
        route_idle: touch.max_idle,
        extends: touch.extend,
        min_step: touch.min_step,
        slide_every,
    }
}

/// How long before a session found at `now_ms` could expire for a route
/// with the idle limit `route_idle`: its TTL, or less when the route's
/// limit comes first.
fn left(found: &Found, route_idle: Option<Duration>, now_ms: u64) -> Duration {
    let touched = if found.extended {
        now_ms
    } else {
        found.record.touched_ms
    };
    match route_idle {
        Some(limit) => {
            let until = touched.saturating_add(millis(limit)).saturating_sub(now_ms);
            found.ttl.min(Duration::from_millis(until))
        }
        None => found.ttl,
    }
}

impl Sessions {
    /// The store key of session `id` (never logged).
    pub(crate) fn key(&self, id: &SessionId) -> String {
        super::source::key(&self.config, id)
    }

    /// Asks the store about a live connection's session (sliding it when
    /// `slide` and the route extends sessions: never recreating it): the
    /// time left before it could expire for the connection's route, or
    /// `None` when it is gone or too idle for that route.
    pub(crate) async fn recheck(
        &self,
        id: &SessionId,
        facts: &LiveFacts,
        slide: bool,
    ) -> Result<Option<Duration>, StoreError> {
        let now = now_ms();
        let touch = Touch {
            now_ms: now,
            extend: slide && facts.extends,
            min_step: facts.min_step,
            max_idle: facts.route_idle,
        };
        let mut store_time = Duration::ZERO;
        let cookie = Cookie::Present(id.clone());
        let Lookup::Live(found) = self.lookup(&cookie, &touch, &mut store_time).await? else {
            return Ok(None);
        };
        if let Some(limit) = facts.route_idle
            && idle_exceeded(found.record.touched_ms, now, limit)
        {
            return Ok(None);
        }
        Ok(Some(left(&found, facts.route_idle, now)))
    }

    /// Hands a forwarded response's tunnel or event stream to the live
    /// connections: watched by its session on a protected route
    /// (`watched`), never cut on a public one. A session the response itself
    /// ended (a logout) has no connection left to watch: its tunnel is
    /// dropped, its event stream is left as it is.
    pub(super) fn attach(
        self: &Arc<Self>,
        resp: &mut Response<Body>,
        watched: Option<(LiveFacts, SessionId)>,
        ended: bool,
    ) {
        let log = self.config.log.access_log;
        if ended && watched.is_some() {
            resp.extensions_mut().remove::<crate::live::PendingTunnel>();
            return;
        }
        let slide_every = watched
            .as_ref()
            .filter(|(facts, _)| facts.extends)
            .map(|(facts, _)| facts.slide_every);
        let binding = watched.map(|(facts, id)| {
            let token = Live::token_of(&self.key(&id));
            Arc::new(Link {
                sessions: self.clone(),
                id,
                facts,
                token,
            }) as Binding
        });
        self.live.attach(resp, binding, slide_every, log);
    }
}
