//! The streaming injector: where the warning tag goes in an HTML body that
//! arrives in chunks, found without ever holding the body whole.
//!
//! The rule, on the whole body `B` (what [`reference`] computes in one go):
//!
//! - the first `</head>` (any letter case) when there is one: the tag goes
//!   right before it, unless the marker (`/.sessiongate/warning.js`)
//!   already appears before it;
//! - else, unless the marker appears anywhere, before the last `</body>`
//!   when at most `window` bytes follow that `</body>`'s start,
//!   else at the end.
//!
//! Streaming, the injector withholds only what may still become an
//! insertion point: a chunk's last few bytes when they could begin
//! `</head>` or `</body>` (a tag split across chunks), and, once a
//! `</body>` is seen without any `</head>`, the bytes from that candidate
//! on, at most `window` of them. More content past the window means that
//! `</body>` was not the page's last one worth waiting for: the bytes go
//! out and the search goes on. Memory per response is therefore bounded by
//! `window` plus one chunk, whatever the page's size, and any chunking of
//! the same body gives the same output (see the tests).

use bytes::{Bytes, BytesMut};
use memchr::memmem;

/// What marks a page that already carries the warning script.
pub const MARKER: &[u8] = b"/.sessiongate/warning.js";
const HEAD: &[u8] = b"</head>";
const BODY: &[u8] = b"</body>";
/// Both tags are this long.
const TAG_LEN: usize = 7;
/// How much of the stream's end the marker search remembers.
const RECENT: usize = MARKER.len() - 1;

/// How far past a `</body>` the injector waits for the page to end.
pub const WINDOW: usize = 64 * 1024;

/// What became of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Injected,
    AlreadyPresent,
}

/// The state of one response's injection.
#[derive(Debug)]
pub struct Injector {
    tag: Bytes,
    window: usize,
    /// Bytes to append at the end when the page already carried the tag:
    /// a `Content-Length` announced with the tag counted must still hold.
    pad: bool,
    /// Received but not yet emitted: a short suffix that may begin a tag,
    /// or (`holding`) everything from a `</body>` candidate on.
    pending: BytesMut,
    holding: bool,
    /// The stream's last bytes seen so far (at most [`RECENT`]).
    recent: Vec<u8>,
    outcome: Option<Outcome>,
}

/// What one step decided, in positions of the work buffer.
enum Action {
    Inject { at: usize },
    Present,
    Keep { from: usize, holding: bool },
}

impl Injector {
    /// An injector that inserts `tag`, waiting at most `window` bytes past a
    /// `</body>`. With `pad`, a page that already carries the tag ends with
    /// `tag.len()` spaces, so that the body has the announced length.
    pub fn new(tag: Bytes, window: usize, pad: bool) -> Injector {
        Injector {
            tag,
            window,
            pad,
            pending: BytesMut::new(),
            holding: false,
            recent: Vec::with_capacity(RECENT),
            outcome: None,
        }
    }

    /// What became of the page so far: `None` until decided.
    pub fn outcome(&self) -> Option<Outcome> {
        self.outcome
    }

    /// Takes one chunk; what may be sent on goes to `out`, in order.
    pub fn push(&mut self, chunk: Bytes, out: &mut impl Extend<Bytes>) {
        if self.outcome.is_some() {
            out.extend(Some(chunk));
            return;
        }
        if chunk.is_empty() {
            return;
        }
        let wl = self.pending.len();
        if wl == 0 {
            // The common case: nothing withheld, emit slices of the chunk.
            let action = self.step(&chunk, 0);
            self.remember(&chunk);
            match action {
                Action::Inject { at } => self.inject(chunk, at, out),
                Action::Present => self.present(chunk, out),
                Action::Keep { from, holding } => {
                    if from > 0 {
                        out.extend(Some(chunk.slice(..from)));
                    }
                    self.pending.extend_from_slice(&chunk[from..]);
                    self.holding = holding;
                }
            }
            return;
        }
        self.pending.extend_from_slice(&chunk);
        let action = self.step(&self.pending, wl);
        self.remember(&chunk);
        match action {
            Action::Inject { at } => {
                let work = self.pending.split().freeze();
                self.inject(work, at, out);
            }
            Action::Present => {
                let work = self.pending.split().freeze();
                self.present(work, out);
            }
            Action::Keep { from, holding } => {
                if from > 0 {
                    out.extend(Some(self.pending.split_to(from).freeze()));
                }
                self.holding = holding;
            }
        }
    }

    /// The body ended: what was withheld goes out, with the tag where the
    /// rule puts it when it has not gone out yet.
    pub fn finish(&mut self, out: &mut impl Extend<Bytes>) {
        match self.outcome {
            Some(Outcome::Injected) => {}
            Some(Outcome::AlreadyPresent) => {
                if self.pad {
                    out.extend(Some(Bytes::from(vec![b' '; self.tag.len()])));
                    self.pad = false;
                }
            }
            None => {
                let work = self.pending.split().freeze();
                let at = if self.holding {
                    rfind_tag(&work, BODY).unwrap_or(work.len())
                } else {
                    work.len()
                };
                self.inject(work, at, out);
            }
        }
    }

    fn inject(&mut self, work: Bytes, at: usize, out: &mut impl Extend<Bytes>) {
        if at > 0 {
            out.extend(Some(work.slice(..at)));
        }
        out.extend(Some(self.tag.clone()));
        if at < work.len() {
            out.extend(Some(work.slice(at..)));
        }
        self.outcome = Some(Outcome::Injected);
        self.holding = false;
    }

    fn present(&mut self, work: Bytes, out: &mut impl Extend<Bytes>) {
        if !work.is_empty() {
            out.extend(Some(work));
        }
        self.outcome = Some(Outcome::AlreadyPresent);
        self.holding = false;
    }

    /// Decides on `work`, whose first `wl` bytes were withheld before (and
    /// already searched); the rest is new.
    fn step(&self, work: &[u8], wl: usize) -> Action {
        let fresh = &work[wl..];
        // A tag may begin in the withheld bytes and end in the new ones.
        let scan_from = wl.saturating_sub(TAG_LEN - 1);
        // One pass finds both: the first `</head>`, and the first `</body>`
        // before it.
        let (head, first_body) = scan_tags(work, scan_from);
        // The marker counts only before the insertion point.
        let limit = head.map_or(fresh.len(), |p| p.saturating_sub(wl));
        if self.marker_in(&fresh[..limit]) {
            return Action::Present;
        }
        if let Some(at) = head {
            return Action::Inject { at };
        }
        let len = work.len();
        if self.holding && len <= self.window {
            return Action::Keep {
                from: 0,
                holding: true,
            };
        }
        // The earliest `</body>` with at most `window` bytes from it on.
        let low = len.saturating_sub(self.window);
        let body = if !self.holding && low <= scan_from {
            first_body
        } else {
            // Past the window (a chunk larger than it, or a held region
            // that grew beyond it): the first `</body>` within it.
            let from = if self.holding {
                low
            } else {
                low.max(scan_from)
            };
            find_tag(work, from, BODY)
        };
        match body {
            Some(q) => Action::Keep {
                from: q,
                holding: true,
            },
            None => Action::Keep {
                from: len - partial_tag_suffix(work),
                holding: false,
            },
        }
    }

    /// Whether the marker ends within `fresh` (it may begin in the bytes
    /// remembered from before).
    fn marker_in(&self, fresh: &[u8]) -> bool {
        if memmem::find(fresh, MARKER).is_some() {
            return true;
        }
        if self.recent.is_empty() {
            return false;
        }
        let mut seam = Vec::with_capacity(RECENT * 2);
        seam.extend_from_slice(&self.recent);
        seam.extend_from_slice(&fresh[..fresh.len().min(RECENT)]);
        memmem::find(&seam, MARKER).is_some()
    }

    /// Keeps the stream's last [`RECENT`] bytes, for a marker split
    /// across chunks.
    fn remember(&mut self, chunk: &[u8]) {
        if chunk.len() >= RECENT {
            self.recent.clear();
            self.recent
                .extend_from_slice(&chunk[chunk.len() - RECENT..]);
        } else {
            self.recent.extend_from_slice(chunk);
            let excess = self.recent.len().saturating_sub(RECENT);
            self.recent.drain(..excess);
        }
    }
}

/// The first `</head>` or `</body>` (`tag`, any letter case) starting at or
/// after `from`.
fn find_tag(hay: &[u8], from: usize, tag: &[u8]) -> Option<usize> {
    let hay_from = hay.get(from..)?;
    memmem::find_iter(hay_from, b"</")
        .map(|i| from + i)
        .find(|&i| is_tag_at(hay, i, tag))
}

/// The first `</head>` at or after `from`, and the first `</body>` at or
/// after `from` and before that `</head>` (any letter case).
fn scan_tags(hay: &[u8], from: usize) -> (Option<usize>, Option<usize>) {
    let Some(tail) = hay.get(from..) else {
        return (None, None);
    };
    let mut body = None;
    for at in memchr::memchr_iter(b'<', tail).map(|i| from + i) {
        if hay.get(at + 1) != Some(&b'/') {
            continue;
        }
        if is_tag_at(hay, at, HEAD) {
            return (Some(at), body);
        }
        if body.is_none() && is_tag_at(hay, at, BODY) {
            body = Some(at);
        }
    }
    (None, body)
}

/// The last `tag` in `hay`.
fn rfind_tag(hay: &[u8], tag: &[u8]) -> Option<usize> {
    memmem::rfind_iter(hay, b"</").find(|&i| is_tag_at(hay, i, tag))
}

fn is_tag_at(hay: &[u8], i: usize, tag: &[u8]) -> bool {
    hay.get(i..i + TAG_LEN)
        .is_some_and(|s| s.eq_ignore_ascii_case(tag))
}

/// How many of `work`'s last bytes could begin `</head>` or `</body>`.
fn partial_tag_suffix(work: &[u8]) -> usize {
    (1..TAG_LEN)
        .rev()
        .find(|&k| {
            work.len() >= k && {
                let tail = &work[work.len() - k..];
                tail.eq_ignore_ascii_case(&HEAD[..k]) || tail.eq_ignore_ascii_case(&BODY[..k])
            }
        })
        .unwrap_or(0)
}

/// The rule on a whole body, for tests (and the `inject_scan` fuzz target):
/// the output, and what became of it.
#[cfg(any(test, feature = "fuzzing"))]
pub fn reference(body: &[u8], tag: &[u8], window: usize, pad: bool) -> (Vec<u8>, Outcome) {
    let splice = |at: usize| {
        let mut out = body[..at].to_vec();
        out.extend_from_slice(tag);
        out.extend_from_slice(&body[at..]);
        (out, Outcome::Injected)
    };
    let present = || {
        let mut out = body.to_vec();
        if pad {
            out.extend(std::iter::repeat_n(b' ', tag.len()));
        }
        (out, Outcome::AlreadyPresent)
    };
    if let Some(p) = find_tag(body, 0, HEAD) {
        return if memmem::find(&body[..p], MARKER).is_some() {
            present()
        } else {
            splice(p)
        };
    }
    if memmem::find(body, MARKER).is_some() {
        return present();
    }
    match rfind_tag(body, BODY) {
        Some(q) if body.len() - q <= window => splice(q),
        _ => splice(body.len()),
    }
}

#[cfg(test)]
#[path = "scan_tests.rs"]
mod tests;
