//! The one body type the gateway answers with.
//!
//! Either a body streamed through from the other side (a client upload going
//! upstream, an upstream download going to the client) or a small body the
//! gateway wrote itself. An enum rather than a boxed trait object: no
//! allocation per request, and the streamed case is `Incoming` untouched, so
//! nothing is ever buffered.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;
use pin_project_lite::pin_project;

pin_project! {
    /// A request or response body: streamed (`Incoming`) or the gateway's own.
    #[project = BodyProj]
    pub enum Body {
        /// Streamed from a peer, frame by frame.
        Incoming { #[pin] inner: Incoming },
        /// Written by the gateway (error pages, JSON answers).
        Full { #[pin] inner: Full<Bytes> },
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
            BodyProj::Full { inner } => inner
                .poll_frame(cx)
                .map_err(|never: std::convert::Infallible| match never {}),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Incoming { inner } => inner.is_end_stream(),
            Body::Full { inner } => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Incoming { inner } => inner.size_hint(),
            Body::Full { inner } => inner.size_hint(),
        }
    }
}
