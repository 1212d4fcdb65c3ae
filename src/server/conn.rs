//! Serving one connection under the listener's timeouts (SPEC §5,
//! "Connections"), for the proxy and the admin listener alike.
//!
//! hyper times a request head only once it has started reading one, and
//! hyper-util's protocol detection waits for the first bytes with no limit
//! at all, so a socket that never sends a byte (or only the HTTP/2 magic)
//! would stay open for ever. The driver here owns every connection-level
//! deadline instead, from what [`Activity`] reports:
//!
//! | phase | deadline | at the deadline |
//! |---|---|---|
//! | nothing read yet | accept + `header_read_timeout` | closed |
//! | a request head (or the HTTP/2 preface) begun | its first byte + `header_read_timeout` | closed |
//! | requests in flight, responses streaming | none | |
//! | idle: HTTP/1.1 between requests, HTTP/2 without a stream | idle since + `keepalive_timeout` | graceful shutdown |
//! | shutting down, nothing in flight | + `header_read_timeout` | closed |
//!
//! A request in flight is never cut by these: only the listener's
//! `shutdown_grace` bounds it.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper::service::Service;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::{Builder, HttpServerConnExec};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::time::Instant;

use super::activity::{Activity, Counted, CountedFuture, Snapshot, Tracked, Watch};
use super::read_tap::Tapped;
use crate::config::ServerConfig;

/// The connection-level timeouts of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From accept to the end of the TLS handshake and to the first byte
    /// of a request, and from there to the end of that head (HTTP/2: of
    /// the preface).
    pub header_read: Duration,
    /// Idle between requests (HTTP/1.1) or without a stream (HTTP/2).
    pub keepalive: Duration,
}

impl Timeouts {
    pub fn new(settings: &ServerConfig) -> Self {
        Timeouts {
            header_read: settings.header_read_timeout,
            keepalive: settings.keepalive_timeout,
        }
    }
}

/// Tells every connection of a listener that it is shutting down.
#[derive(Debug, Clone)]
pub struct Stop(watch::Receiver<bool>);

impl Stop {
    pub fn channel() -> (watch::Sender<bool>, Stop) {
        let (tx, rx) = watch::channel(false);
        (tx, Stop(rx))
    }

    async fn requested(mut self) {
        // A dropped sender means the listener is gone: stop as well.
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// Serves `io` with `service` until the client closes the connection, a
/// timeout of `timeouts` ends it, or `stop` has asked it to finish and
/// its requests in flight are done. `accepted` is when the client
/// connected: a TLS handshake counts against the first byte's deadline.
pub async fn serve<I, S, B>(
    builder: &Builder<TokioExecutor>,
    io: I,
    service: S,
    timeouts: Timeouts,
    accepted: Instant,
    stop: Stop,
) -> Result<(), Box<dyn StdError + Send + Sync>>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<Request<Incoming>, Response = Response<B>>,
    S::Future: 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
    TokioExecutor: HttpServerConnExec<CountedFuture<S::Future>, Tracked<B>>,
{
    let activity = Arc::new(Activity::default());
    let io = TokioIo::new(Tapped::new(io, Watch::new(activity.clone())));
    let service = Counted::new(service, activity.clone());
    let conn = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(conn);
    let mut clock = Clock::new(accepted, timeouts);
    activity.await_bytes();
    let timer = tokio::time::sleep_until(clock.deadline.unwrap_or_else(Instant::now));
    tokio::pin!(timer);
    let stop = stop.requested();
    tokio::pin!(stop);
    let mut stopping = false;
    loop {
        let action = tokio::select! {
            biased;
            result = &mut conn => return result,
            () = &mut stop, if !stopping => {
                stopping = true;
                clock.stop(Instant::now(), activity.snapshot())
            }
            () = activity.changed() => {
                clock.observe(Instant::now(), activity.snapshot());
                Action::Continue
            }
            () = &mut timer, if clock.deadline.is_some() => {
                clock.expire(Instant::now(), activity.snapshot())
            }
        };
        match action {
            Action::Continue => {}
            Action::Shutdown => conn.as_mut().graceful_shutdown(),
            Action::Close => return Ok(()),
        }
        if clock.awaiting_bytes {
            activity.await_bytes();
        }
        if let Some(deadline) = clock.deadline
            && deadline != timer.deadline()
        {
            timer.as_mut().reset(deadline);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing read yet.
    Fresh,
    /// A request head (or the HTTP/2 preface) has begun arriving.
    Head,
    /// Requests in flight.
    Busy,
    /// Nothing in flight: between HTTP/1.1 requests, or no HTTP/2 stream.
    Idle,
    /// Asked to shut down gracefully; hyper is finishing.
    Closing,
}

/// What the driver does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Continue,
    /// Ask hyper to finish gracefully (HTTP/1.1: close once idle;
    /// HTTP/2: GOAWAY), and keep serving until it has.
    Shutdown,
    /// Drop the connection now.
    Close,
}

/// The connection's deadline, from what [`Activity`] reports: pure, so
/// every transition is tested without a socket.
#[derive(Debug)]
struct Clock {
    timeouts: Timeouts,
    phase: Phase,
    deadline: Option<Instant>,
    /// The driver asked to hear about the next byte.
    awaiting_bytes: bool,
    /// Requests begun as of the last look.
    begun: u64,
    /// HTTP/2: after the preface, bytes on an idle connection (PING,
    /// SETTINGS) are no request head.
    http2: bool,
}

impl Clock {
    fn new(now: Instant, timeouts: Timeouts) -> Self {
        Clock {
            timeouts,
            phase: Phase::Fresh,
            deadline: Some(now + timeouts.header_read),
            awaiting_bytes: true,
            begun: 0,
            http2: false,
        }
    }

    /// Follows whatever changed since the last look.
    fn observe(&mut self, now: Instant, snap: Snapshot) {
        let ran = snap.begun != self.begun;
        self.begun = snap.begun;
        if snap.in_flight > 0 {
            if self.phase != Phase::Closing {
                self.phase = Phase::Busy;
            }
            self.awaiting_bytes = false;
            self.deadline = None;
            return;
        }
        if self.phase == Phase::Closing {
            self.deadline = self.deadline.or(Some(now + self.timeouts.header_read));
            return;
        }
        if self.phase == Phase::Busy || ran {
            // The last request finished (when exactly is not known: the
            // idle clock starts late rather than early).
            self.idle(now, snap);
            return;
        }
        let bytes_arrived = self.awaiting_bytes && !snap.awaiting_bytes;
        if bytes_arrived && matches!(self.phase, Phase::Fresh | Phase::Idle) {
            self.phase = Phase::Head;
            self.awaiting_bytes = false;
            self.deadline = Some(now + self.timeouts.header_read);
        }
        if snap.preface_read && !self.http2 {
            self.http2 = true;
            if self.phase == Phase::Head {
                self.idle(now, snap);
            }
        }
    }

    fn idle(&mut self, now: Instant, snap: Snapshot) {
        self.phase = Phase::Idle;
        self.deadline = Some(now + self.timeouts.keepalive);
        // HTTP/2 heads come in frames on streams: a stream-less
        // connection is idle whatever it sends.
        self.http2 |= snap.preface_read;
        self.awaiting_bytes = !self.http2;
    }

    /// The timer fired.
    fn expire(&mut self, now: Instant, snap: Snapshot) -> Action {
        self.observe(now, snap);
        match self.deadline {
            Some(deadline) if deadline <= now => {}
            _ => return Action::Continue,
        }
        match self.phase {
            Phase::Fresh | Phase::Head | Phase::Closing => Action::Close,
            Phase::Idle => {
                self.phase = Phase::Closing;
                self.deadline = Some(now + self.timeouts.header_read);
                Action::Shutdown
            }
            Phase::Busy => Action::Continue,
        }
    }

    /// The listener is shutting down.
    fn stop(&mut self, now: Instant, snap: Snapshot) -> Action {
        self.observe(now, snap);
        match self.phase {
            // No request started: nothing to let finish.
            Phase::Fresh | Phase::Head => Action::Close,
            Phase::Busy | Phase::Idle | Phase::Closing => {
                self.phase = Phase::Closing;
                self.awaiting_bytes = false;
                self.deadline = (snap.in_flight == 0).then(|| now + self.timeouts.header_read);
                Action::Shutdown
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: Duration = Duration::from_secs(10);
    const KEEP: Duration = Duration::from_secs(75);

    fn clock(start: Instant) -> Clock {
        Clock::new(
            start,
            Timeouts {
                header_read: HEAD,
                keepalive: KEEP,
            },
        )
    }

    fn snap(in_flight: usize, begun: u64) -> Snapshot {
        Snapshot {
            in_flight,
            begun,
            awaiting_bytes: true,
            preface_read: false,
        }
    }

    fn bytes(mut s: Snapshot) -> Snapshot {
        s.awaiting_bytes = false;
        s
    }

    fn h2(mut s: Snapshot) -> Snapshot {
        s.preface_read = true;
        bytes(s)
    }

    /// A [`Clock`] started at `t0` and driven at whole seconds after it.
    struct Run {
        t0: Instant,
        c: Clock,
    }

    impl Run {
        fn start() -> Run {
            let t0 = Instant::now();
            Run { t0, c: clock(t0) }
        }

        fn at(&self, secs: u64) -> Instant {
            self.t0 + Duration::from_secs(secs)
        }

        fn observe(&mut self, secs: u64, snap: Snapshot) {
            let now = self.at(secs);
            self.c.observe(now, snap);
        }

        fn expire(&mut self, secs: u64, snap: Snapshot) -> Action {
            let now = self.at(secs);
            self.c.expire(now, snap)
        }

        fn stop(&mut self, secs: u64, snap: Snapshot) -> Action {
            let now = self.at(secs);
            self.c.stop(now, snap)
        }

        /// The deadline, in whole seconds after `t0` (it must be one).
        fn deadline(&self) -> Option<u64> {
            self.c.deadline.map(|d| {
                let after = d - self.t0;
                assert_eq!(after.subsec_nanos(), 0, "{after:?}");
                after.as_secs()
            })
        }

        fn state(&self) -> (Phase, Option<u64>) {
            (self.c.phase, self.deadline())
        }
    }

    #[test]
    fn a_silent_connection_closes_after_header_read_timeout() {
        let mut r = Run::start();
        assert_eq!(r.deadline(), Some(10));
        assert_eq!(r.expire(10, snap(0, 0)), Action::Close);
    }

    #[test]
    fn a_head_gets_header_read_timeout_from_its_first_byte() {
        let mut r = Run::start();
        r.observe(4, bytes(snap(0, 0)));
        assert_eq!(r.state(), (Phase::Head, Some(14)));
        assert_eq!(r.expire(14, bytes(snap(0, 0))), Action::Close);
    }

    #[test]
    fn keep_alive_idles_for_keepalive_timeout_then_heads_are_timed_again() {
        let mut r = Run::start();
        r.observe(1, bytes(snap(0, 0)));
        // The head completed and its response is streaming.
        assert_eq!(r.expire(11, bytes(snap(1, 1))), Action::Continue);
        assert_eq!(r.state(), (Phase::Busy, None));
        r.observe(100, bytes(snap(0, 1)));
        assert_eq!(r.state(), (Phase::Idle, Some(175)));
        assert!(r.c.awaiting_bytes);
        // The next head begins 50 s later.
        r.observe(150, bytes(snap(0, 1)));
        assert_eq!(r.state(), (Phase::Head, Some(160)));
        assert_eq!(r.expire(160, bytes(snap(0, 1))), Action::Close);
    }

    #[test]
    fn an_idle_connection_is_shut_down_gracefully_then_closed() {
        let mut r = Run::start();
        r.observe(1, bytes(snap(0, 1)));
        assert_eq!(r.c.phase, Phase::Idle);
        assert_eq!(r.expire(76, snap(0, 1)), Action::Shutdown);
        assert_eq!(r.state(), (Phase::Closing, Some(86)));
        assert_eq!(r.expire(86, snap(0, 1)), Action::Close);
    }

    #[test]
    fn a_request_that_came_and_went_unseen_restarts_the_idle_clock() {
        let mut r = Run::start();
        r.observe(1, bytes(snap(0, 1)));
        assert_eq!(r.expire(76, bytes(snap(0, 2))), Action::Continue);
        assert_eq!(r.state(), (Phase::Idle, Some(151)));
    }

    #[test]
    fn a_request_in_flight_is_never_cut() {
        let mut r = Run::start();
        r.observe(1, bytes(snap(1, 1)));
        assert_eq!(r.deadline(), None);
        // A late timer, while the request still runs.
        assert_eq!(r.expire(500, bytes(snap(1, 1))), Action::Continue);
        // Shutting down: hyper finishes it; no deadline while it runs.
        assert_eq!(r.stop(600, bytes(snap(1, 1))), Action::Shutdown);
        assert_eq!(r.state(), (Phase::Closing, None));
        r.observe(700, bytes(snap(0, 1)));
        assert_eq!(r.deadline(), Some(710));
    }

    #[test]
    fn http2_preface_alone_is_timed_like_a_head() {
        let mut r = Run::start();
        r.observe(2, bytes(snap(0, 0)));
        assert_eq!(r.deadline(), Some(12));
        assert_eq!(r.expire(12, bytes(snap(0, 0))), Action::Close);
    }

    #[test]
    fn http2_without_streams_idles_for_keepalive_timeout_whatever_it_sends() {
        let mut r = Run::start();
        // Magic and SETTINGS seen in one look.
        r.observe(2, h2(snap(0, 0)));
        assert_eq!(r.state(), (Phase::Idle, Some(77)));
        assert!(!r.c.awaiting_bytes, "PINGs are no request head");
        r.observe(3, h2(snap(1, 1)));
        r.observe(5, h2(snap(0, 1)));
        assert_eq!(r.state(), (Phase::Idle, Some(80)));
        assert!(!r.c.awaiting_bytes);
        assert_eq!(r.expire(80, h2(snap(0, 1))), Action::Shutdown);
    }

    #[test]
    fn stopping_closes_a_connection_that_never_began_a_request() {
        let mut r = Run::start();
        assert_eq!(r.stop(1, snap(0, 0)), Action::Close);
        let mut r = Run::start();
        r.observe(1, bytes(snap(0, 1)));
        assert_eq!(r.stop(2, snap(0, 1)), Action::Shutdown);
        assert_eq!(r.deadline(), Some(12));
    }
}
