//! One live connection's watch over its session: it sleeps until the
//! earliest moment the session could have expired, asks the store once
//! then, and wakes at once for an end notice (local, or from another
//! gateway through the bus) or a recheck after a Redis reconnect.
//!
//! An idle connection costs no store traffic and no CPU between deadlines:
//! one timer entry and one registry slot.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::Live;
use super::registry::{Raised, Signal, Token};
use crate::store::StoreError;

/// After a store failure, ask again this soon (an outage ends nothing).
const RETRY: Duration = Duration::from_secs(1);
/// Added to each deadline: the store's clock and ours differ by a round
/// trip, and waking a hair early would cost a second question.
const SLACK: Duration = Duration::from_millis(15);
/// Never re-arm closer than this (a session about to expire).
const MIN_REARM: Duration = Duration::from_millis(5);

/// How a session ended for a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Idle or absolute expiry, or the route's stricter idle limit.
    Expired,
    /// Logout, revocation, eviction.
    Ended,
}

impl End {
    /// The WebSocket close reason (SPEC §10).
    pub fn reason(self) -> &'static str {
        match self {
            End::Expired => "session expired",
            End::Ended => "session ended",
        }
    }
}

/// A session check in flight.
pub type CheckFuture<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Option<Duration>, StoreError>> + Send + 'a>,
>;

/// What a connection asks of its session. The session layer implements it
/// (`session/live.rs`), so this module knows no session type.
pub trait SessionLink: Send + Sync {
    /// The registry token of the session (never its id).
    fn token(&self) -> Token;
    /// How long, when the connection opened, before the session could
    /// first expire for its route.
    fn left(&self) -> Duration;
    /// Reads (and with `slide`, slides) the session: the time left before
    /// it could expire for this connection's route, or `None` when it is
    /// gone. A slide never recreates an ended session.
    fn check(&self, slide: bool) -> CheckFuture<'_>;
}

/// A connection's link to its session.
pub type Binding = Arc<dyn SessionLink>;

/// A connection's place in the registry; leaves it when dropped.
struct Lease {
    live: Live,
    token: Token,
    number: u64,
    signal: Arc<Signal>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.live.registry().unregister(&self.token, self.number);
    }
}

/// The watch of one connection.
pub struct Watch {
    lease: Lease,
    binding: Binding,
    deadline: Instant,
}

impl Watch {
    /// Registers a connection of `binding`'s session, first due to be
    /// checked after `left`.
    pub(crate) fn new(live: &Live, binding: Binding) -> Watch {
        let token = binding.token();
        let (number, signal) = live.registry().register(token);
        // An end between the check that let the request through and this
        // registration reached no registry: ask the store once now.
        signal.raise(Raised::Recheck);
        let deadline = Instant::now() + binding.left() + SLACK;
        Watch {
            lease: Lease {
                live: live.clone(),
                token,
                number,
                signal,
            },
            binding,
            deadline,
        }
    }

    pub fn binding(&self) -> &Binding {
        &self.binding
    }

    /// The connection's end signal.
    pub fn signal(&self) -> Arc<Signal> {
        self.lease.signal.clone()
    }

    /// Resolves when the session has ended for this connection.
    pub async fn ended(&mut self) -> End {
        loop {
            let raised = tokio::select! {
                raised = self.lease.signal.raised() => raised,
                () = tokio::time::sleep_until(self.deadline) => Raised::Recheck,
            };
            if raised == Raised::Ended {
                return End::Ended;
            }
            match self.binding.check(false).await {
                Ok(Some(left)) => self.deadline = Instant::now() + left.max(MIN_REARM) + SLACK,
                Ok(None) if self.lease.signal.ended() => return End::Ended,
                // Gone before it could have expired on its own (slides only
                // push that moment later): it was ended, the notice of it
                // just has not arrived yet.
                Ok(None) if Instant::now() + SLACK < self.deadline => return End::Ended,
                Ok(None) => return End::Expired,
                Err(_) => self.deadline = Instant::now() + RETRY,
            }
        }
    }
}
