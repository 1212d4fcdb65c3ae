//! Hard limits on a listener's connections (issue 19): a full file table
//! must slow clients down, never turn into an EMFILE storm.
//!
//! Each listener serves at most `max_connections` connections at once. The
//! accept loop takes a [`Slot`] *before* it accepts, so at the limit it
//! stops accepting: new clients wait in the kernel's listen backlog (and
//! beyond it, the kernel refuses them) until a connection closes and its
//! slot comes back. The gateway itself never runs out of descriptors.
//!
//! The proxy's limit defaults to what the open-file limit allows: each
//! proxied connection may hold two descriptors (the client's and a pooled
//! upstream one), after a reserve for the admin listener's connections and
//! the process's own (listeners, store connections, logs).

use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{info, warn};

use crate::metrics::{Listener, Metrics};
use crate::throttle::Throttle;

/// Descriptors kept apart from client connections: listeners, store and
/// pub/sub connections, log files, stdio, the token and config files.
const FD_RESERVE: u64 = 64;
/// Descriptors one proxied connection may hold: the client's and an
/// upstream connection's.
const FDS_PER_CONNECTION: u64 = 2;
/// The open-file limit assumed when it cannot be read (Linux's default
/// soft limit).
const FALLBACK_NOFILE: u64 = 1024;
/// Upper bound of an automatic limit (tokio's semaphore holds far more).
const MAX_AUTO: u64 = 1 << 24;

/// The proxy listener's `max_connections`: `configured`, or when unset,
/// what the open-file soft limit leaves after `admin_max` admin
/// connections and the reserve. Logs the outcome, and warns when a
/// configured limit exceeds what the descriptors allow.
pub(crate) fn proxy_max(configured: Option<usize>, admin_max: usize) -> usize {
    let nofile = nofile_soft_limit();
    let budget = auto_max(nofile, admin_max);
    match configured {
        Some(max) => {
            if max > budget {
                warn!(
                    max_connections = max,
                    nofile,
                    fits = budget,
                    "server.max_connections is more than the open-file limit allows; \
                     accept may fail with EMFILE: raise the limit (ulimit -n, \
                     LimitNOFILE= under systemd) or lower server.max_connections"
                );
            }
            max
        }
        None => {
            info!(
                max_connections = budget,
                nofile, "server.max_connections sized from the open-file limit"
            );
            budget
        }
    }
}

/// The automatic limit for a soft limit of `nofile` descriptors.
fn auto_max(nofile: u64, admin_max: usize) -> usize {
    let admin = u64::try_from(admin_max).unwrap_or(u64::MAX);
    let spare = nofile.saturating_sub(FD_RESERVE).saturating_sub(admin);
    let max = (spare / FDS_PER_CONNECTION).clamp(1, MAX_AUTO);
    usize::try_from(max).unwrap_or(usize::MAX)
}

/// `RLIMIT_NOFILE`'s soft limit (the one `accept` runs into).
fn nofile_soft_limit() -> u64 {
    match nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE) {
        Ok((soft, _hard)) if soft != nix::sys::resource::RLIM_INFINITY => soft,
        Ok(_) => MAX_AUTO * FDS_PER_CONNECTION,
        Err(_) => FALLBACK_NOFILE,
    }
}

/// One listener's connection budget and what it reports.
pub(crate) struct Limit {
    name: &'static str,
    max: usize,
    slots: Arc<Semaphore>,
    limited: Counter,
    accept_errors: Counter,
    reached: Throttle,
    failing: Throttle,
}

/// A connection's place under the limit: dropping it frees the place.
pub(crate) type Slot = OwnedSemaphorePermit;

impl Limit {
    pub(crate) fn new(listener: Listener, max: usize, metrics: &Metrics) -> Limit {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        metrics
            .connection_limit(listener)
            .set(i64::try_from(max).unwrap_or(i64::MAX));
        Limit {
            name: listener.as_str(),
            max,
            slots: Arc::new(Semaphore::new(max)),
            limited: metrics.connections_limited(listener).clone(),
            accept_errors: metrics.accept_errors(listener).clone(),
            reached: Throttle::default(),
            failing: Throttle::default(),
        }
    }

    /// The listener's name, for logs.
    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// A free slot, waiting for a connection to close when there is none
    /// (counted, and logged at most once per interval). `None` only if
    /// the semaphore were closed, which nothing does.
    pub(crate) async fn slot(&mut self) -> Option<Slot> {
        if let Ok(slot) = self.slots.clone().try_acquire_owned() {
            return Some(slot);
        }
        self.limited.inc();
        if let Some(times) = self.reached.note() {
            warn!(
                listener = self.name,
                max_connections = self.max,
                times,
                "connection limit reached: new connections wait in the listen backlog \
                 until one closes"
            );
        }
        self.slots.clone().acquire_owned().await.ok()
    }

    /// `accept` failed: counted, and logged at most once per
    /// interval (a full file table fails every call).
    pub(crate) fn accept_failed(&mut self, error: &std::io::Error) {
        self.accept_errors.inc();
        if let Some(times) = self.failing.note() {
            warn!(
                %error,
                listener = self.name,
                times,
                // Less the slot the failed accept held.
                open = self.max.saturating_sub(self.slots.available_permits() + 1),
                "accept failed; pausing (EMFILE/ENFILE: raise the open-file limit or lower \
                 max_connections)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_automatic_limit_leaves_a_reserve_and_two_descriptors_a_connection() {
        assert_eq!(auto_max(1024, 64), (1024 - 64 - 64) / 2);
        assert_eq!(auto_max(65_536, 64), (65_536 - 128) / 2);
        // A tiny limit still serves one connection at a time.
        assert_eq!(auto_max(100, 64), 1);
        assert_eq!(auto_max(0, 64), 1);
        assert_eq!(auto_max(u64::MAX, 64), 1 << 24);
    }

    #[tokio::test]
    async fn at_the_limit_a_slot_waits_for_one_to_be_freed() {
        let metrics = Metrics::register(&mut Default::default());
        let mut limit = Limit::new(Listener::Proxy, 2, &metrics);
        let first = limit.slot().await.unwrap();
        let _second = limit.slot().await.unwrap();
        assert_eq!(metrics.connections_limited(Listener::Proxy).get(), 0);
        let slots = limit.slots.clone();
        let third = tokio::spawn(async move { limit.slot().await });
        // The third waits until the first closes.
        while metrics.connections_limited(Listener::Proxy).get() == 0 {
            tokio::task::yield_now().await;
        }
        assert!(!third.is_finished());
        assert_eq!(slots.available_permits(), 0);
        drop(first);
        let _third = third.await.unwrap().unwrap();
        assert_eq!(metrics.connections_limited(Listener::Proxy).get(), 1);
    }
}
