//! The injecting body: an upstream HTML body streamed through the
//! [`Injector`], frame by frame, counted once decided.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Frame, SizeHint};

use super::scan::{Injector, Outcome};
use crate::body::Body;
use crate::metrics::{InjectResult, InjectionMetrics};

/// An upstream body with the warning tag streamed in.
pub struct Injecting {
    inner: Pin<Box<Body>>,
    injector: Injector,
    /// What the injector let out, not yet sent.
    queue: VecDeque<Bytes>,
    trailers: Option<HeaderMap>,
    /// The upstream body has ended.
    done: bool,
    /// The body's announced length (`Content-Length` plus the tag), minus
    /// what has been sent; `None` when the length was not known up front.
    remaining: Option<u64>,
    tally: Tally,
}

impl Injecting {
    pub fn new(
        inner: Body,
        injector: Injector,
        length: Option<u64>,
        metrics: InjectionMetrics,
    ) -> Injecting {
        Injecting {
            inner: Box::pin(inner),
            injector,
            queue: VecDeque::with_capacity(4),
            trailers: None,
            done: false,
            remaining: length,
            tally: Tally(Some(metrics)),
        }
    }

    fn counted(&mut self) {
        match self.injector.outcome() {
            Some(Outcome::Injected) => self.tally.count(InjectResult::Injected),
            Some(Outcome::AlreadyPresent) => self.tally.count(InjectResult::AlreadyPresent),
            None => {}
        }
    }
}

impl http_body::Body for Injecting {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        loop {
            if let Some(data) = this.queue.pop_front() {
                if let Some(r) = &mut this.remaining {
                    *r = r.saturating_sub(data.len() as u64);
                }
                return Poll::Ready(Some(Ok(Frame::data(data))));
            }
            if let Some(trailers) = this.trailers.take() {
                return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
            }
            if this.done {
                return Poll::Ready(None);
            }
            match ready!(this.inner.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => this.injector.push(data, &mut this.queue),
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            this.injector.finish(&mut this.queue);
                            this.trailers = Some(trailers);
                            this.done = true;
                        }
                    }
                },
                // Uncounted until dropped: `aborted`.
                Some(Err(error)) => return Poll::Ready(Some(Err(error))),
                None => {
                    this.injector.finish(&mut this.queue);
                    this.done = true;
                }
            }
            this.counted();
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.queue.is_empty() && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match self.remaining {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

/// Counts a response's result once; a body dropped before its result was
/// known counts as `aborted`.
struct Tally(Option<InjectionMetrics>);

impl Tally {
    fn count(&mut self, result: InjectResult) {
        if let Some(metrics) = self.0.take() {
            metrics.count(result);
        }
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        self.count(InjectResult::Aborted);
    }
}
