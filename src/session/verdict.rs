//! What the session step hands back to the gateway: a verdict for the
//! request, and what its way back needs.

use std::time::Duration;

use http::HeaderValue;

use super::decide::Refusal;
use super::{SessionError, SessionId};
use crate::metrics::{Outcome, Reason};
use crate::store::Found;

/// What the session step decided for a request.
#[derive(Debug)]
pub enum Verdict {
    /// Forward upstream; the passage carries what the way back needs.
    Forward(Passage),
    /// Send to login: `Sessions::refusal` renders it.
    Refuse(Refused),
    /// The session could not be checked: `503`, nobody is logged out.
    Unavailable(SessionError),
}

/// A refused request: why, how, and whether its stale cookie goes.
#[derive(Debug)]
pub struct Refused {
    pub reason: Reason,
    pub(super) refusal: Refusal,
    pub(super) clear: Option<HeaderValue>,
}

impl Refused {
    /// The same refusal answered as an API request would be (`401`):
    /// nginx's `auth_request` understands only `401`.
    pub fn as_unauthorized(self) -> Refused {
        Refused {
            refusal: Refusal::Unauthorized,
            ..self
        }
    }

    /// How `sessiongate_requests_total` counts it.
    pub fn outcome(&self) -> Outcome {
        match self.refusal {
            Refusal::Redirect => Outcome::Redirected,
            Refusal::Unauthorized => Outcome::Unauthorized,
        }
    }
}

/// What the session step hands to the way back of a forwarded request.
#[derive(Debug)]
pub struct Passage {
    /// The request's valid-looking session id, if any.
    pub(super) id: Option<SessionId>,
    /// Values of the application's session cookie the request carried
    /// beside the checked one (removed before forwarding): observe mode
    /// never registers them.
    pub(super) unchecked: Vec<String>,
    /// `Set-Cookie` to add because the session was slid.
    pub(super) reissue: Option<HeaderValue>,
    /// The request came over TLS (or https from a trusted proxy).
    pub(super) secure: bool,
    pub(super) public: bool,
    /// The request wants JSON answers (read only when a login could be
    /// refused for the session limit).
    pub(super) json: bool,
    /// What a live connection opened by this request needs to watch its
    /// session (protected routes only).
    pub(super) live: Option<LiveFacts>,
}

/// What a tunnel or event stream needs to watch its session (SPEC §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveFacts {
    /// How long before the session could expire for this route, as of the
    /// check that let the request through.
    pub left: Duration,
    /// The route's stricter idle limit.
    pub route_idle: Option<Duration>,
    /// Client messages slide the session (sliding, on a route that
    /// extends sessions).
    pub extends: bool,
    /// The store's `min_step` for a slide (`touch_interval`, capped).
    pub min_step: Duration,
    /// A tunnel slides at most once per this.
    pub slide_every: Duration,
}

impl Passage {
    /// How `sessiongate_requests_total` counts the request.
    pub fn outcome(&self) -> Outcome {
        if self.public {
            Outcome::Public
        } else {
            Outcome::Forwarded
        }
    }
}

/// The caller's live session, for the gateway's own endpoints, or why not.
#[derive(Debug)]
pub enum Current {
    Live {
        found: Found,
        /// `Set-Cookie` when the session was slid (refresh).
        reissue: Option<HeaderValue>,
        id: SessionId,
    },
    Refused(Refused),
}
