//! The WebSocket relay: bytes both ways, frame boundaries noted, and a
//! close frame put between frames when the session ends.
//!
//! One task per tunnel, one 4 KiB buffer per direction. Each direction is
//! a [`Pump`] whose steps (one read, one write or one flush) are
//! cancel-safe, so the loop can `select!` over both directions, the
//! session's watch and a slide in flight without losing a byte.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, timeout};

use super::frames::{Frames, close_frame};
use super::registry::Raised;
use super::watch::{Binding, End, Watch};
use crate::store::StoreError;

const BUF: usize = 4096;
/// How long a frame in flight may take to finish before the close frame
/// goes; past it the connection is cut instead.
const FINISH_FRAME: Duration = Duration::from_millis(200);
/// How long writing the close frame may take.
const WRITE_CLOSE: Duration = Duration::from_millis(100);
/// How long the client has to answer the close frame before it is
/// disconnected anyway.
const CLOSE_REPLY: Duration = Duration::from_millis(400);
/// The WebSocket close code for a policy violation (RFC 6455 §7.4.1).
const POLICY: u16 = 1008;

/// Why a tunnel closed: the `reason` of `sessiongate_tunnels_closed_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    Expired,
    Ended,
    Client,
    Upstream,
}

impl From<End> for Closed {
    fn from(end: End) -> Closed {
        match end {
            End::Expired => Closed::Expired,
            End::Ended => Closed::Ended,
        }
    }
}

/// Client messages slide the session, at most once per `every`.
pub struct Slider {
    binding: Binding,
    every: Duration,
    last: Option<Instant>,
}

impl Slider {
    pub fn new(binding: Binding, every: Duration) -> Slider {
        Slider {
            binding,
            every,
            last: None,
        }
    }

    /// A slide to start now, if one is due.
    fn due(&mut self) -> Option<SlideFuture> {
        let now = Instant::now();
        if self.last.is_some_and(|last| now < last + self.every) {
            return None;
        }
        self.last = Some(now);
        let binding = self.binding.clone();
        Some(Box::pin(async move { binding.check(true).await }))
    }
}

type SlideFuture = Pin<Box<dyn Future<Output = Result<Option<Duration>, StoreError>> + Send>>;

/// One direction of the tunnel.
struct Pump {
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    /// Written but not yet flushed.
    dirty: bool,
    eof: bool,
    frames: Frames,
}

impl Pump {
    fn new() -> Pump {
        Pump {
            buf: vec![0; BUF].into_boxed_slice(),
            pos: 0,
            len: 0,
            dirty: false,
            eof: false,
            frames: Frames::default(),
        }
    }

    /// One read, write or flush; `Ok(true)` at the end of the input.
    /// Writes at most `limit` bytes. Cancel-safe.
    async fn step<R, W>(&mut self, r: &mut R, w: &mut W, limit: usize) -> io::Result<bool>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        if self.pos < self.len {
            let end = self.len.min(self.pos.saturating_add(limit));
            let n = w.write(&self.buf[self.pos..end]).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.frames.feed(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            self.dirty = true;
            return Ok(false);
        }
        if self.dirty {
            w.flush().await?;
            self.dirty = false;
            return Ok(false);
        }
        let n = r.read(&mut self.buf).await?;
        (self.pos, self.len) = (0, n);
        Ok(n == 0)
    }

    /// Forwards the rest of the frame in flight, if any.
    async fn finish_frame<R, W>(&mut self, r: &mut R, w: &mut W) -> io::Result<()>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        while !self.frames.at_boundary() {
            let limit = self.frames.to_boundary();
            if self.step(r, w, limit).await? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        if self.dirty {
            w.flush().await?;
            self.dirty = false;
        }
        Ok(())
    }
}

/// Relays between `client` and `upstream` until both sides are done, or
/// the session ends (then the close frames go out and both sides close).
pub async fn relay<C, U>(
    client: C,
    upstream: U,
    mut watch: Option<Watch>,
    mut slider: Option<Slider>,
) -> Closed
where
    C: AsyncRead + AsyncWrite + Send,
    U: AsyncRead + AsyncWrite + Send,
{
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut ur, mut uw) = tokio::io::split(upstream);
    let (mut up, mut down) = (Pump::new(), Pump::new());
    let signal = watch.as_ref().map(Watch::signal);
    let ended = async {
        match &mut watch {
            Some(watch) => watch.ended().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(ended);
    let mut slide: Option<SlideFuture> = None;
    let mut first: Option<Closed> = None;
    let end = loop {
        // Both sides closed, or one did after the close handshake (the
        // WebSocket is over; a peer need not close its TCP side first).
        let handshake = up.frames.saw_close() && down.frames.saw_close();
        if (up.eof && down.eof) || ((up.eof || down.eof) && handshake) {
            break None;
        }
        tokio::select! {
            end = &mut ended => break Some(end),
            step = up.step(&mut cr, &mut uw, usize::MAX), if !up.eof => match step {
                Ok(eof) => {
                    if up.frames.saw_close() {
                        first.get_or_insert(Closed::Client);
                    }
                    if up.frames.take_data() && slide.is_none() {
                        slide = slider.as_mut().and_then(Slider::due);
                    }
                    if eof {
                        up.eof = true;
                        first.get_or_insert(Closed::Client);
                        let _ = uw.shutdown().await;
                    }
                }
                Err(_) => {
                    first.get_or_insert(Closed::Client);
                    break None;
                }
            },
            step = down.step(&mut ur, &mut cw, usize::MAX), if !down.eof => match step {
                Ok(eof) => {
                    if down.frames.saw_close() {
                        first.get_or_insert(Closed::Upstream);
                    }
                    if eof {
                        down.eof = true;
                        first.get_or_insert(Closed::Upstream);
                        let _ = cw.shutdown().await;
                    }
                }
                Err(_) => {
                    first.get_or_insert(Closed::Upstream);
                    break None;
                }
            },
            // Disabled while `slide` is `None`; never polled then.
            slid = async {
                match slide.as_mut() {
                    Some(slide) => slide.await,
                    None => std::future::pending().await,
                }
            }, if slide.is_some() => {
                slide = None;
                // Gone: the watch checks now and says how (ended, or
                // expired), and this loop ends when it does.
                if let (Ok(None), Some(signal)) = (slid, signal.as_ref()) {
                    signal.raise(Raised::Recheck);
                }
            }
        }
    };
    let Some(end) = end else {
        return first.unwrap_or(Closed::Client);
    };
    let reason = end.reason();
    let to_client = async {
        timeout(FINISH_FRAME, down.finish_frame(&mut ur, &mut cw))
            .await
            .ok()?
            .ok()?;
        write_close(&mut cw, &close_frame(POLICY, reason, None)).await
    };
    let to_upstream = async {
        timeout(FINISH_FRAME, up.finish_frame(&mut cr, &mut uw))
            .await
            .ok()?
            .ok()?;
        write_close(&mut uw, &close_frame(POLICY, reason, Some(mask()))).await
    };
    let (told_client, _) = tokio::join!(to_client, to_upstream);
    if told_client.is_some() {
        let _ = timeout(CLOSE_REPLY, close_reply(&mut cr)).await;
    }
    let _ = tokio::join!(
        timeout(WRITE_CLOSE, cw.shutdown()),
        timeout(WRITE_CLOSE, uw.shutdown())
    );
    end.into()
}

async fn write_close<W: AsyncWrite + Unpin>(w: &mut W, frame: &[u8]) -> Option<()> {
    let write = async {
        w.write_all(frame).await?;
        w.flush().await
    };
    timeout(WRITE_CLOSE, write).await.ok()?.ok()
}

/// Reads (and drops) what the client still sends until its close frame.
async fn close_reply<R: AsyncRead + Unpin>(r: &mut R) {
    let mut frames = Frames::default();
    let mut buf = [0u8; 512];
    while !frames.saw_close() {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => frames.feed(&buf[..n]),
        }
    }
}

/// A masking key for the close frame the gateway sends upstream.
fn mask() -> [u8; 4] {
    let mut mask = [0x5a, 0x17, 0xc3, 0x2e];
    let _ = getrandom::fill(&mut mask);
    mask
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, duplex};

    use super::*;
    use crate::live::Live;
    use crate::live::registry::{Raised, Token};
    use crate::live::watch::{CheckFuture, SessionLink};
    use crate::metrics::Metrics;
    use crate::store::{MemoryStore, Store};

    /// A session that stays alive for ten minutes, whatever is asked.
    struct Alive;

    impl SessionLink for Alive {
        fn token(&self) -> Token {
            Live::token_of("sessiongate:test-session")
        }

        fn left(&self) -> Duration {
            Duration::from_secs(600)
        }

        fn check(&self, _slide: bool) -> CheckFuture<'_> {
            Box::pin(async { Ok(Some(Duration::from_secs(600))) })
        }
    }

    /// A live session and a watch over it.
    async fn watched() -> (Live, Watch) {
        let store = Store::Memory(MemoryStore::new());
        let metrics = Metrics::register(&mut Default::default());
        let live = Live::new(store, "sessiongate:", metrics);
        let watch = Watch::new(&live, Arc::new(Alive));
        (live, watch)
    }

    /// A frame half-relayed when the session ends is finished first; then
    /// the client gets the close frame (unmasked), the upstream the same
    /// close masked, and both sides are closed.
    #[tokio::test]
    async fn the_close_frame_goes_between_frames() {
        let (live, watch) = watched().await;
        let (client, mut browser) = duplex(1024);
        let (upstream, mut app) = duplex(1024);
        let relay = tokio::spawn(relay(client, upstream, Some(watch), None));
        // Ten bytes of text: the header and four bytes now, six later.
        app.write_all(&[0x81, 10, b'0', b'1', b'2', b'3'])
            .await
            .unwrap();
        let mut got = [0u8; 6];
        browser.read_exact(&mut got).await.unwrap();
        live.registry().raise_all(Raised::Ended);
        tokio::time::sleep(Duration::from_millis(50)).await;
        app.write_all(b"456789").await.unwrap();
        let mut rest = [0u8; 6];
        browser.read_exact(&mut rest).await.unwrap();
        assert_eq!(&rest, b"456789");
        let close = close_frame(POLICY, "session ended", None);
        let mut frame = vec![0u8; close.len()];
        browser.read_exact(&mut frame).await.unwrap();
        assert_eq!(frame, close);
        // The upstream's close is masked: 0x88, then 0x80 | length.
        let mut head = [0u8; 2];
        app.read_exact(&mut head).await.unwrap();
        assert_eq!(head, [0x88, 0x80 | 15]);
        // The browser answers; the relay ends as `ended`.
        browser
            .write_all(&close_frame(1000, "", Some([1, 2, 3, 4])))
            .await
            .unwrap();
        assert_eq!(relay.await.unwrap(), Closed::Ended);
    }

    /// A client that never answers the close frame is disconnected anyway,
    /// well within a second.
    #[tokio::test]
    async fn a_client_that_never_answers_is_disconnected() {
        let (live, watch) = watched().await;
        let (client, mut browser) = duplex(1024);
        let (upstream, _app) = duplex(1024);
        let relay = tokio::spawn(relay(client, upstream, Some(watch), None));
        tokio::time::sleep(Duration::from_millis(20)).await;
        let ended = Instant::now();
        live.registry().raise_all(Raised::Ended);
        let closed = tokio::time::timeout(Duration::from_secs(1), relay)
            .await
            .expect("still relaying a second after the end")
            .unwrap();
        assert_eq!(closed, Closed::Ended);
        assert!(ended.elapsed() < Duration::from_secs(1));
        let mut all = Vec::new();
        browser.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, close_frame(POLICY, "session ended", None));
    }
}
