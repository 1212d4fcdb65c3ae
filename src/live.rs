//! Live connections end with their session (SPEC §10).
//!
//! A WebSocket tunnel or a `text/event-stream` response on a protected
//! route belongs to the session that opened it. When that session ends
//! the gateway ends the connection within a second:
//!
//! - **expiry** (idle, absolute, a route's stricter idle limit): each
//!   connection's [`watch`] sleeps until the earliest moment its session
//!   could have expired and asks the store once then; alive, it sleeps
//!   until the new deadline; gone, the connection ends (`session expired`);
//! - **explicit ends** (logout, revocation, eviction): every gateway ends
//!   its own connections of that session at once through the
//!   [`registry`], and tells the others on the Redis channel
//!   `{key_prefix}live` ([`bus`]) with a token, a hash of the session's
//!   store key, never the id;
//! - **a Redis reconnect**: a notice may have been lost while the
//!   subscription was down, so every connection re-checks its session.
//!
//! WebSockets are relayed by [`relay`], which knows frame boundaries
//! ([`frames`]) and so can put a close frame (`1008`) between frames; an
//! event stream's body simply ends ([`Body::Live`](crate::body::Body)).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::Response;
use http::header::CONTENT_TYPE;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use sha1::{Digest as _, Sha1};
use tokio::task::AbortHandle;
use tracing::{debug, info};

use crate::body::Body;
use crate::metrics::{Metrics, TunnelClose};
use crate::store::{SessionStore, Store};

pub mod bus;
pub mod frames;
pub mod registry;
pub mod relay;
pub mod watch;

use registry::{Raised, Registry, Token};
use relay::{Closed, Slider};
use watch::{Binding, End, Watch};

/// The live connections of one gateway process (shared across reloads).
#[derive(Clone)]
pub struct Live {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Arc<Registry>,
    store: Store,
    channel: String,
    metrics: Metrics,
    bus: Option<AbortHandle>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(bus) = &self.bus {
            bus.abort();
        }
    }
}

impl Live {
    /// The registry, and on a Redis store the subscription to the end
    /// notices of other gateways. Must be called inside a Tokio runtime.
    pub fn new(store: Store, key_prefix: &str, metrics: Metrics) -> Live {
        let registry = Arc::new(Registry::default());
        let channel = format!("{key_prefix}live");
        let bus = bus::spawn(&store, channel.clone(), registry.clone());
        Live {
            inner: Arc::new(Inner {
                registry,
                store,
                channel,
                metrics,
                bus,
            }),
        }
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// How many connections of protected routes are watched.
    pub fn watched(&self) -> usize {
        self.inner.registry.watched()
    }

    /// The token of the session whose store key is `key`.
    pub(crate) fn token_of(key: &str) -> Token {
        let mut sha1 = Sha1::new();
        sha1.update(b"sessiongate live\n");
        sha1.update(key.as_bytes());
        sha1.finalize().into()
    }

    /// The session stored under `key` was ended here: its connections end
    /// now, here and (through the bus) on every gateway sharing the store.
    pub(crate) async fn ended(&self, key: &str) {
        let token = Self::token_of(key);
        self.inner.registry.raise(&token, Raised::Ended);
        if matches!(self.inner.store, Store::Memory(_)) {
            return;
        }
        let notice = hex(&token);
        if let Err(error) = self.inner.store.publish(&self.inner.channel, &notice).await {
            tracing::warn!(%error, "could not tell other gateways that a session ended");
        }
    }

    /// Whether a forwarded response is a live connection: a WebSocket the
    /// upstream accepted, or an event stream.
    pub(crate) fn wants(resp: &Response<Body>) -> bool {
        resp.extensions().get::<PendingTunnel>().is_some() || event_stream(resp)
    }

    /// Takes over a forwarded response's live connection, if it has one:
    /// a WebSocket tunnel the upstream accepted becomes a relay task; an
    /// event stream's body ends with its session. `binding` is the
    /// session (none on public routes: those are never cut).
    pub(crate) fn attach(
        &self,
        resp: &mut Response<Body>,
        binding: Option<Binding>,
        slide_every: Option<Duration>,
        log: bool,
    ) {
        if let Some(tunnel) = resp.extensions_mut().remove::<PendingTunnel>() {
            let Some((client, upstream)) = tunnel.take() else {
                return;
            };
            let watch = binding.as_ref().map(|b| Watch::new(self, b.clone()));
            let slider = binding
                .zip(slide_every)
                .map(|(binding, every)| Slider::new(binding, every));
            let metrics = self.inner.metrics.clone();
            tokio::spawn(tunnel_task(client, upstream, watch, slider, metrics, log));
            return;
        }
        let Some(binding) = binding else { return };
        if !event_stream(resp) {
            return;
        }
        let mut watch = Watch::new(self, binding);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let body = std::mem::replace(resp.body_mut(), Body::empty());
        *resp.body_mut() = body.ending_on(rx);
        tokio::spawn(async move {
            let mut tx = tx;
            let started = Instant::now();
            tokio::select! {
                end = watch.ended() => {
                    let _ = tx.send(());
                    if log {
                        info!(
                            target: "sessiongate::access",
                            connection = "event-stream",
                            reason = closed_label(end.into()).as_str(),
                            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
                        );
                    }
                }
                // The client went away, or the stream ended by itself.
                () = tx.closed() => {}
            }
        });
    }
}

fn event_stream(resp: &Response<Body>) -> bool {
    resp.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/event-stream"))
}

async fn tunnel_task(
    client: OnUpgrade,
    upstream: OnUpgrade,
    watch: Option<Watch>,
    slider: Option<Slider>,
    metrics: Metrics,
    log: bool,
) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(pair) => pair,
        Err(error) => {
            debug!(%error, "upgrade did not complete");
            return;
        }
    };
    let started = Instant::now();
    metrics.tunnel_opened();
    let closed = relay::relay(TokioIo::new(client), TokioIo::new(upstream), watch, slider).await;
    let label = closed_label(closed);
    metrics.tunnel_closed(label);
    if log {
        info!(
            target: "sessiongate::access",
            connection = "websocket",
            reason = label.as_str(),
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        );
    }
}

fn closed_label(closed: Closed) -> TunnelClose {
    match closed {
        Closed::Expired => TunnelClose::Expired,
        Closed::Ended => TunnelClose::Ended,
        Closed::Client => TunnelClose::Client,
        Closed::Upstream => TunnelClose::Upstream,
    }
}

impl From<End> for TunnelClose {
    fn from(end: End) -> TunnelClose {
        closed_label(end.into())
    }
}

/// A WebSocket the upstream accepted, waiting in the response's
/// extensions for the session layer to take it over.
#[derive(Clone)]
pub struct PendingTunnel(Arc<Mutex<Option<(OnUpgrade, OnUpgrade)>>>);

impl PendingTunnel {
    pub fn new(client: OnUpgrade, upstream: OnUpgrade) -> PendingTunnel {
        PendingTunnel(Arc::new(Mutex::new(Some((client, upstream)))))
    }

    fn take(&self) -> Option<(OnUpgrade, OnUpgrade)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The token a notice on the bus carries, read back.
pub(crate) fn unhex(text: &[u8]) -> Option<Token> {
    let mut token = [0u8; 20];
    if text.len() != 40 {
        return None;
    }
    for (i, pair) in text.chunks(2).enumerate() {
        let pair = std::str::from_utf8(pair).ok()?;
        token[i] = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_through_hex_and_hide_the_key() {
        let token = Live::token_of("sessiongate:secret-id");
        let text = hex(&token);
        assert_eq!(text.len(), 40);
        assert!(!text.contains("secret"));
        assert_eq!(unhex(text.as_bytes()), Some(token));
        assert_eq!(unhex(b"zz"), None);
    }
}
