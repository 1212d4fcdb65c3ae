//! What one connection is doing, as its driver ([`super::conn`]) needs to
//! know to apply `header_read_timeout` and `keepalive_timeout`.
//!
//! hyper does not say when a connection is idle, so three small wrappers
//! report it into one shared [`Activity`]:
//!
//! - [`Counted`] (around the service) counts a request in flight from the
//!   moment hyper hands it over until its response body is done, through
//!   [`Tracked`] (around the response body): a long streaming download is
//!   in flight for as long as it streams.
//! - [`Watched`] (around the socket) reports the first byte read while the
//!   driver waits for the next request head, and the end of the HTTP/2
//!   client preface (the magic line and the SETTINGS frame after it).
//!
//! Each report is an atomic operation and, only when the driver must act,
//! one `Notify`: an idle connection costs its driver one timer, nothing
//! that polls.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::service::Service;
use pin_project_lite::pin_project;

use super::read_tap::ReadObserver;
#[cfg(doc)]
use super::read_tap::Tapped;
use tokio::sync::Notify;

/// The HTTP/2 client connection preface's fixed part (RFC 9113 §3.4).
const H2_MAGIC: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An HTTP/2 frame header: length (3), type (1), flags (1), stream (4).
const FRAME_HEADER: usize = 9;

/// Shared by one connection's driver, service, response bodies and socket.
#[derive(Debug, Default)]
pub struct Activity {
    /// Requests handed to the service whose response body is not done.
    in_flight: AtomicUsize,
    /// Requests begun so far: tells the driver that one came and went
    /// between two looks.
    begun: AtomicU64,
    /// Set by the driver while it waits for the first byte of a request
    /// head; the socket clears it on the next byte and wakes the driver.
    awaiting_bytes: AtomicBool,
    /// The HTTP/2 client preface has been read in full.
    preface_read: AtomicBool,
    changed: Notify,
}

/// One look at an [`Activity`], taken by the driver.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub in_flight: usize,
    pub begun: u64,
    /// Still waiting for a byte the driver asked to hear about.
    pub awaiting_bytes: bool,
    pub preface_read: bool,
}

impl Activity {
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            in_flight: self.in_flight.load(Ordering::Acquire),
            begun: self.begun.load(Ordering::Acquire),
            awaiting_bytes: self.awaiting_bytes.load(Ordering::Acquire),
            preface_read: self.preface_read.load(Ordering::Acquire),
        }
    }

    /// Resolves after the next report that may change the driver's mind.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Asks [`Watched`] to report the next byte read.
    pub fn await_bytes(&self) {
        self.awaiting_bytes.store(true, Ordering::Release);
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.begun.fetch_add(1, Ordering::AcqRel);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        // No wake-up: a request only ever begins inside the connection's
        // own poll, so the driver looks again before it next decides.
        InFlight(self.clone())
    }

    fn bytes_read(&self) {
        if self.awaiting_bytes.load(Ordering::Relaxed)
            && self.awaiting_bytes.swap(false, Ordering::AcqRel)
        {
            self.changed.notify_one();
        }
    }

    fn preface_done(&self) {
        self.preface_read.store(true, Ordering::Release);
        self.changed.notify_one();
    }
}

/// One request in flight; dropping it (with the response body, or with
/// the service future if the client went away first) ends it.
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The last one: the connection is idle from now.
            self.0.changed.notify_one();
        }
    }
}

/// A service whose requests are counted in flight until their response
/// bodies are done.
#[derive(Debug, Clone)]
pub struct Counted<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Counted<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Counted { inner, activity }
    }
}

impl<S, R, B> Service<Request<R>> for Counted<S>
where
    S: Service<Request<R>, Response = Response<B>>,
{
    type Response = Response<Tracked<B>>;
    type Error = S::Error;
    type Future = CountedFuture<S::Future>;

    fn call(&self, req: Request<R>) -> Self::Future {
        let in_flight = self.activity.begin();
        CountedFuture {
            inner: self.inner.call(req),
            in_flight: Some(in_flight),
        }
    }
}

pin_project! {
    /// The service's future, handing its [`InFlight`] on to the response
    /// body.
    pub struct CountedFuture<F> {
        #[pin]
        inner: F,
        in_flight: Option<InFlight>,
    }
}

impl<F, B, E> Future for CountedFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<Tracked<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        let in_flight = this.in_flight.take();
        Poll::Ready(result.map(|resp| {
            resp.map(|body| Tracked {
                body,
                _in_flight: in_flight,
            })
        }))
    }
}

pin_project! {
    /// A response body that keeps its request in flight until hyper drops
    /// it (after the last frame, or when the client goes away).
    pub struct Tracked<B> {
        #[pin]
        body: B,
        _in_flight: Option<InFlight>,
    }
}

impl<B: Body> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// How far [`Watch`] has followed the HTTP/2 client preface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Preface {
    /// This many bytes of [`H2_MAGIC`] matched so far.
    Magic(usize),
    /// Reading the first frame's header (which must be SETTINGS).
    FrameHeader { got: usize, length: u32 },
    /// Skipping the SETTINGS payload: this many bytes left.
    Settings(u32),
    /// Read in full, or not HTTP/2: nothing more to follow.
    Done,
}

/// Reports to the connection's [`Activity`] what the socket reads
/// (see [`Tapped`]).
pub struct Watch {
    preface: Preface,
    activity: Arc<Activity>,
}

impl Watch {
    pub fn new(activity: Arc<Activity>) -> Self {
        Watch {
            preface: Preface::Magic(0),
            activity,
        }
    }
}

impl ReadObserver for Watch {
    fn observe(&mut self, bytes: &[u8]) {
        self.activity.bytes_read();
        if self.preface != Preface::Done && self.follow_preface(bytes) {
            self.activity.preface_done();
        }
    }
}

impl Watch {
    /// Follows the preface over `bytes`; true when it has just ended.
    fn follow_preface(&mut self, mut bytes: &[u8]) -> bool {
        while !bytes.is_empty() {
            match &mut self.preface {
                Preface::Magic(matched) => {
                    let n = (H2_MAGIC.len() - *matched).min(bytes.len());
                    if bytes[..n] != H2_MAGIC[*matched..*matched + n] {
                        // HTTP/1: request heads are timed one by one.
                        self.preface = Preface::Done;
                        return false;
                    }
                    *matched += n;
                    bytes = &bytes[n..];
                    if *matched == H2_MAGIC.len() {
                        self.preface = Preface::FrameHeader { got: 0, length: 0 };
                    }
                }
                Preface::FrameHeader { got, length } => {
                    let n = (FRAME_HEADER - *got).min(bytes.len());
                    for &b in &bytes[..n] {
                        if *got < 3 {
                            *length = (*length << 8) | u32::from(b);
                        }
                        *got += 1;
                    }
                    bytes = &bytes[n..];
                    if *got == FRAME_HEADER {
                        // A first frame other than SETTINGS is hyper's to
                        // refuse; either way the preface is over.
                        self.preface = Preface::Settings(*length);
                    }
                }
                Preface::Settings(left) => {
                    let n = (*left).min(u32::try_from(bytes.len()).unwrap_or(u32::MAX));
                    *left -= n;
                    bytes = &bytes[n as usize..];
                }
                Preface::Done => return false,
            }
            if self.preface == Preface::Settings(0) {
                self.preface = Preface::Done;
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes; returns the piece index
    /// at which the preface was reported done, if it was.
    fn preface_end(input: &[u8], step: usize) -> Option<usize> {
        let activity = Arc::new(Activity::default());
        let mut watched = Watch::new(activity.clone());
        for (i, piece) in input.chunks(step).enumerate() {
            watched.observe(piece);
            if activity.snapshot().preface_read {
                return Some(i);
            }
        }
        None
    }

    #[test]
    fn reports_the_end_of_the_h2_preface_and_settings() {
        // SETTINGS with one 6-byte setting, then a HEADERS frame.
        let mut preface = H2_MAGIC.to_vec();
        preface.extend_from_slice(&[0, 0, 6, 4, 0, 0, 0, 0, 0]);
        preface.extend_from_slice(&[0, 3, 0, 0, 0, 100]);
        let end = preface.len();
        let mut input = preface.clone();
        input.extend_from_slice(&[0, 0, 1, 1, 4, 0, 0, 0, 1, 0x82]);
        for step in [1, 5, 24, 1000] {
            assert_eq!(preface_end(&input, step), Some((end - 1) / step), "{step}");
        }
        // An empty SETTINGS frame ends the preface with its header.
        let mut empty = H2_MAGIC.to_vec();
        empty.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        assert_eq!(preface_end(&empty, 1), Some(empty.len() - 1));
    }

    #[test]
    fn the_magic_alone_is_not_the_preface() {
        assert_eq!(preface_end(H2_MAGIC, 1), None);
        let mut partial = H2_MAGIC.to_vec();
        partial.extend_from_slice(&[0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3]);
        assert_eq!(preface_end(&partial, 3), None);
    }

    #[test]
    fn http1_is_never_a_preface() {
        let h1 = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";
        assert_eq!(preface_end(h1, 1), None);
        assert_eq!(preface_end(b"PRI * HTTP/1.1\r\n", 4), None);
    }

    #[test]
    fn only_an_awaited_byte_wakes_the_driver() {
        let activity = Arc::new(Activity::default());
        let mut watched = Watch::new(activity.clone());
        watched.observe(b"GET");
        assert!(!activity.snapshot().awaiting_bytes);
        activity.await_bytes();
        assert!(activity.snapshot().awaiting_bytes);
        watched.observe(b" /");
        assert!(!activity.snapshot().awaiting_bytes);
    }

    #[test]
    fn a_request_is_in_flight_until_its_guard_drops() {
        let activity = Arc::new(Activity::default());
        let first = activity.begin();
        let second = activity.begin();
        assert_eq!(activity.snapshot().in_flight, 2);
        drop(first);
        assert_eq!(activity.snapshot().in_flight, 1);
        drop(second);
        let snap = activity.snapshot();
        assert_eq!((snap.in_flight, snap.begun), (0, 2));
    }
}
