//! The one body type the gateway answers with.
//!
//! Either a body streamed through from the other side (a client upload going
//! upstream, an upstream download going to the client) or a small body the
//! gateway wrote itself. An enum rather than a boxed trait object: no
//! allocation per request, and the streamed case is `Incoming` untouched, so
//! nothing is ever buffered. A client upload that is still arriving also
//! carries a flag noting whether reading it failed ([`Body::upload`]), the
//! one allocation, and only for requests with a body.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use pin_project_lite::pin_project;

pin_project! {
    /// A request or response body: streamed (`Incoming`) or the gateway's own.
    #[project = BodyProj]
    pub enum Body {
        /// Streamed from a peer, frame by frame.
        Incoming { #[pin] inner: Incoming },
        /// An upstream's response body whose connection goes back to its
        /// pool once the body has been read to its end (`recycle` is taken
        /// then; dropped unused, it lets the connection close).
        Pooled { #[pin] inner: Incoming, recycle: Option<Recycle> },
        /// Written by the gateway (error pages, JSON answers).
        Full { #[pin] inner: Full<Bytes> },
        /// A client's request body on its way upstream, which notes when
        /// reading it from the client fails (see [`Body::upload`]).
        Upload { #[pin] inner: Incoming, failed: Arc<AtomicBool> },
        /// An upstream's event stream that ends when its session does
        /// (SPEC §10): `end` fires, and the body ends between two chunks.
        Live {
            #[pin] inner: Incoming,
            end: Option<tokio::sync::oneshot::Receiver<()>>,
            ended: bool,
        },
        /// An upstream body rewritten while it streams (the expiry warning
        /// injector, SPEC §12): boxed, so this type knows no rewriter.
        Rewritten { inner: Pin<Box<dyn http_body::Body<Data = Bytes, Error = hyper::Error> + Send>> },
    }
}

/// Where an upstream connection goes back once the response body that came
/// over it has ended: the upstream pool (`crate::upstream::pool`).
pub trait Recycler: Send + Sync {
    fn recycle(self: Arc<Self>, slot: usize, sender: SendRequest<Body>);
}

/// An upstream connection to give back to `home` when its response body
/// has ended.
pub struct Recycle {
    home: Arc<dyn Recycler>,
    slot: usize,
    sender: SendRequest<Body>,
}

impl Recycle {
    pub fn new(home: Arc<dyn Recycler>, slot: usize, sender: SendRequest<Body>) -> Recycle {
        Recycle { home, slot, sender }
    }

    /// The connection is free for the next request.
    pub fn recycle(self) {
        self.home.recycle(self.slot, self.sender);
    }
}

impl std::fmt::Debug for Recycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recycle").field("slot", &self.slot).finish()
    }
}

/// Whether reading a client's request body failed while the upstream client
/// was sending it: malformed chunked framing, or the client's connection
/// ending mid-body. The upstream request then fails too, and this tells the
/// client's fault (`400`) from the upstream's (`502`).
#[derive(Debug, Clone, Default)]
pub struct UploadFailed(Option<Arc<AtomicBool>>);

impl UploadFailed {
    pub fn get(&self) -> bool {
        self.0.as_ref().is_some_and(|f| f.load(Ordering::Acquire))
    }
}

impl Body {
    /// An empty body.
    pub fn empty() -> Self {
        Self::full(Bytes::new())
    }

    /// A body the gateway wrote itself.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        Body::Full {
            inner: Full::new(bytes.into()),
        }
    }

    /// A client's request body to send upstream, and the flag that tells
    /// whether reading it from the client failed. A body that is already
    /// complete (most requests) costs nothing: it cannot fail.
    pub fn upload(inner: Incoming) -> (Self, UploadFailed) {
        if http_body::Body::is_end_stream(&inner) {
            return (Body::Incoming { inner }, UploadFailed(None));
        }
        let failed = Arc::new(AtomicBool::new(false));
        let flag = UploadFailed(Some(failed.clone()));
        (Body::Upload { inner, failed }, flag)
    }
}

impl Body {
    /// This streamed body, ending early when `end` fires (a body the
    /// gateway wrote itself is returned as it is).
    pub fn ending_on(self, end: tokio::sync::oneshot::Receiver<()>) -> Body {
        match self {
            // The connection of an event stream cut short is not reused.
            Body::Incoming { inner } | Body::Pooled { inner, .. } => Body::Live {
                inner,
                end: Some(end),
                ended: false,
            },
            other => other,
        }
    }

    /// An upstream's response body that gives its connection back to the
    /// pool at its end; one already at its end gives it back now.
    pub fn pooled(inner: Incoming, recycle: Recycle) -> Self {
        if http_body::Body::is_end_stream(&inner) {
            recycle.recycle();
            return Body::Incoming { inner };
        }
        Body::Pooled {
            inner,
            recycle: Some(recycle),
        }
    }

    /// An upstream body on its way through a rewriter (the warning
    /// injector).
    pub fn rewritten(
        inner: impl http_body::Body<Data = Bytes, Error = hyper::Error> + Send + 'static,
    ) -> Self {
        Body::Rewritten {
            inner: Box::pin(inner),
        }
    }
}

impl From<Incoming> for Body {
    fn from(inner: Incoming) -> Self {
        Body::Incoming { inner }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.project() {
            BodyProj::Incoming { inner } => inner.poll_frame(cx),
            BodyProj::Pooled { mut inner, recycle } => {
                let frame = inner.as_mut().poll_frame(cx);
                match &frame {
                    Poll::Ready(Some(Ok(_))) if !inner.is_end_stream() => {}
                    Poll::Ready(Some(Ok(_)) | None) => {
                        if let Some(recycle) = recycle.take() {
                            recycle.recycle();
                        }
                    }
                    Poll::Ready(Some(Err(_))) => *recycle = None,
                    Poll::Pending => {}
                }
                frame
            }
            BodyProj::Upload { inner, failed } => {
                let frame = inner.poll_frame(cx);
                if let Poll::Ready(Some(Err(_))) = &frame {
                    failed.store(true, Ordering::Release);
                }
                frame
            }
            BodyProj::Full { inner } => inner
                .poll_frame(cx)
                .map_err(|never: std::convert::Infallible| match never {}),
            BodyProj::Live { inner, end, ended } => {
                if *ended {
                    return Poll::Ready(None);
                }
                if let Some(rx) = end {
                    match Pin::new(rx).poll(cx) {
                        Poll::Ready(Ok(())) => {
                            *ended = true;
                            return Poll::Ready(None);
                        }
                        // No longer watched (the runtime is going away).
                        Poll::Ready(Err(_)) => *end = None,
                        Poll::Pending => {}
                    }
                }
                inner.poll_frame(cx)
            }
            BodyProj::Rewritten { inner } => inner.as_mut().poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Incoming { inner } | Body::Upload { inner, .. } | Body::Pooled { inner, .. } => {
                inner.is_end_stream()
            }
            Body::Live { inner, ended, .. } => *ended || inner.is_end_stream(),
            Body::Full { inner } => inner.is_end_stream(),
            Body::Rewritten { inner } => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Incoming { inner } | Body::Upload { inner, .. } | Body::Pooled { inner, .. } => {
                inner.size_hint()
            }
            Body::Live { .. } => SizeHint::default(),
            Body::Full { inner } => inner.size_hint(),
            Body::Rewritten { inner } => inner.size_hint(),
        }
    }
}
