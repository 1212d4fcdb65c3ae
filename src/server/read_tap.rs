//! A socket that shows every byte it reads to an observer.
//!
//! The connection's watchers ([`super::activity`] following the HTTP/2
//! preface, [`super::head_scan`] following HTTP/1 framing) only look at
//! what hyper reads; writes pass straight through. One wrapper serves both.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Sees, in order, every non-empty run of bytes read from the socket.
pub trait ReadObserver {
    fn observe(&mut self, bytes: &[u8]);
}

/// `inner`, with `observer` shown what is read from it.
pub struct Tapped<I, O> {
    inner: I,
    observer: O,
}

impl<I, O> Tapped<I, O> {
    pub fn new(inner: I, observer: O) -> Self {
        Tapped { inner, observer }
    }
}

impl<I: AsyncRead + Unpin, O: ReadObserver + Unpin> AsyncRead for Tapped<I, O> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = poll {
            let read = &buf.filled()[before..];
            if !read.is_empty() {
                self.observer.observe(read);
            }
        }
        poll
    }
}

impl<I: AsyncWrite + Unpin, O: Unpin> AsyncWrite for Tapped<I, O> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt as _;

    use super::*;

    #[derive(Default)]
    struct Runs(Vec<Vec<u8>>);

    impl ReadObserver for Runs {
        fn observe(&mut self, bytes: &[u8]) {
            self.0.push(bytes.to_vec());
        }
    }

    #[tokio::test]
    async fn the_observer_sees_each_read_and_never_an_empty_one() {
        let mut tapped = Tapped::new(&b"GET / HTTP/1.1\r\n"[..], Runs::default());
        let mut piece = [0u8; 5];
        let mut read = Vec::new();
        loop {
            let n = tapped.read(&mut piece).await.unwrap();
            if n == 0 {
                break;
            }
            read.extend_from_slice(&piece[..n]);
        }
        assert_eq!(read, b"GET / HTTP/1.1\r\n");
        assert_eq!(tapped.observer.0.concat(), read);
        assert!(tapped.observer.0.iter().all(|run| !run.is_empty()));
    }
}
