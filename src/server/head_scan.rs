//! Spots `Content-Length` together with `Transfer-Encoding` in HTTP/1
//! request heads, which hyper accepts silently.
//!
//! hyper resolves that conflict itself (chunked wins, the `Content-Length`
//! header is dropped from the parsed request and the connection is closed
//! after the response), so by the time the gateway sees the request the
//! evidence is gone. SPEC §5 wants a `400` and nothing upstream, so this
//! wrapper watches the bytes hyper reads, follows the HTTP/1 framing just
//! far enough to find each request head, and raises a per-connection flag
//! when a head carries both headers. The flag is raised before hyper
//! dispatches that request; a connection once flagged refuses every
//! further request (failing closed is right for a smuggling attempt).
//!
//! Anything it cannot follow (HTTP/2, upgrades, `CONNECT`, malformed
//! framing that hyper will reject anyway) switches it to pass-through.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::read_tap::ReadObserver;
#[cfg(doc)]
use super::read_tap::Tapped;

/// Longest head line followed; longer lines are hyper's to refuse (431).
const MAX_LINE: usize = 64 * 1024;

/// Shared between the wrapper and the connection's service.
#[derive(Debug, Clone, Default)]
pub struct Tainted(Arc<AtomicBool>);

impl Tainted {
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    fn set(&self) {
        self.0.store(true, Ordering::Release);
    }
}

#[derive(Debug)]
enum State {
    /// Reading a head line by line.
    Head(Head),
    /// Skipping a body of known length.
    Body(u64),
    /// Reading a chunk-size line.
    ChunkSize(Vec<u8>),
    /// Skipping chunk data plus its CRLF.
    ChunkData(u64),
    /// Reading trailer lines until the empty one.
    Trailers(Vec<u8>),
    /// Not following any more.
    PassThrough,
}

#[derive(Debug, Default)]
struct Head {
    line: Vec<u8>,
    seen_request_line: bool,
    content_length: Option<u64>,
    has_content_length: bool,
    has_transfer_encoding: bool,
    opaque: bool,
}

/// Follows the request heads the socket reads (see [`Tapped`]).
pub struct HeadScan {
    state: State,
    tainted: Tainted,
}

impl ReadObserver for HeadScan {
    fn observe(&mut self, bytes: &[u8]) {
        self.scan(bytes);
    }
}

impl HeadScan {
    pub fn new(tainted: Tainted) -> Self {
        HeadScan {
            state: State::Head(Head::default()),
            tainted,
        }
    }

    fn scan(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match &mut self.state {
                State::PassThrough => return,
                State::Body(left) | State::ChunkData(left) => {
                    let n = (*left).min(bytes.len() as u64);
                    *left -= n;
                    bytes = &bytes[n as usize..];
                    if *left == 0 {
                        self.state = match self.state {
                            State::Body(_) => State::Head(Head::default()),
                            _ => State::ChunkSize(Vec::new()),
                        };
                    }
                }
                State::Head(Head { line, .. }) | State::ChunkSize(line) | State::Trailers(line) => {
                    let Some(end) = bytes.iter().position(|b| *b == b'\n') else {
                        line.extend_from_slice(bytes);
                        if line.len() > MAX_LINE {
                            self.state = State::PassThrough;
                        }
                        return;
                    };
                    let (complete, rest) = (&bytes[..end], &bytes[end + 1..]);
                    bytes = rest;
                    if line.is_empty() {
                        // The usual case: the whole line arrived in this
                        // read, so it is looked at in place, not copied.
                        self.line(complete.strip_suffix(b"\r").unwrap_or(complete));
                    } else {
                        line.extend_from_slice(complete);
                        let mut line = std::mem::take(line);
                        if line.last() == Some(&b'\r') {
                            line.pop();
                        }
                        self.line(&line);
                    }
                }
            }
        }
    }

    /// One complete line (without its line ending) in a line state.
    fn line(&mut self, line: &[u8]) {
        let next = match &mut self.state {
            State::Head(head) => match head.line_done(line, &self.tainted) {
                None => return,
                Some(next) => next,
            },
            State::ChunkSize(_) => {
                let size = line.split(|b| *b == b';').next().unwrap_or_default();
                match std::str::from_utf8(size.trim_ascii())
                    .ok()
                    .and_then(|s| u64::from_str_radix(s, 16).ok())
                {
                    Some(0) => State::Trailers(Vec::new()),
                    // The data, then its CRLF (a bare LF is hyper's problem).
                    Some(n) => State::ChunkData(n.saturating_add(2)),
                    None => State::PassThrough,
                }
            }
            State::Trailers(_) if line.is_empty() => State::Head(Head::default()),
            State::Trailers(_) => return,
            State::Body(_) | State::ChunkData(_) | State::PassThrough => return,
        };
        self.state = next;
    }
}

impl Head {
    /// Takes one head line; returns the next state once the head ends.
    fn line_done(&mut self, line: &[u8], tainted: &Tainted) -> Option<State> {
        if !self.seen_request_line {
            if line.is_empty() {
                return None; // stray CRLF between requests
            }
            self.seen_request_line = true;
            self.opaque = line.starts_with(b"CONNECT ") || line.starts_with(b"PRI ");
            return None;
        }
        if !line.is_empty() {
            // A line without a colon is hyper's to refuse.
            let colon = line.iter().position(|b| *b == b':')?;
            let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
            if name.eq_ignore_ascii_case(b"content-length") {
                self.has_content_length = true;
                self.content_length = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                self.has_transfer_encoding = true;
            } else if name.eq_ignore_ascii_case(b"upgrade") {
                self.opaque = true;
            }
            return None;
        }
        if self.has_content_length && self.has_transfer_encoding {
            tainted.set();
        }
        Some(if self.opaque {
            State::PassThrough
        } else if self.has_transfer_encoding {
            State::ChunkSize(Vec::new())
        } else if self.has_content_length {
            match self.content_length {
                Some(0) => State::Head(Head::default()),
                Some(n) => State::Body(n),
                None => State::PassThrough,
            }
        } else {
            State::Head(Head::default())
        })
    }
}

/// Whether a connection that reads `pieces`, in this order, gets flagged
/// (for the tests and the `head_scan` fuzz target).
#[cfg(any(test, feature = "fuzzing"))]
pub fn flagged_in<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> bool {
    let tainted = Tainted::default();
    let mut scan = HeadScan::new(tainted.clone());
    for piece in pieces {
        scan.scan(piece);
    }
    tainted.get()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes; returns whether it flagged.
    fn flagged(input: &[u8], step: usize) -> bool {
        flagged_in(input.chunks(step))
    }

    #[test]
    fn flags_length_with_encoding_in_any_head() {
        let bad: &[u8] =
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\ntransfer-encoding: chunked\r\n\r\n";
        // Bodies that look like the bad head must not be mistaken for one.
        let lookalike = "Transfer-Encoding: x\r\nContent-Length: 1\r\n\r\n";
        let good_cl = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n{lookalike}",
            lookalike.len()
        );
        let good_chunked = format!(
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{:x};ext=1\r\n{lookalike}\r\n0\r\nX-T: 1\r\n\r\n",
            lookalike.len()
        );
        let (good_cl, good_chunked) = (good_cl.as_bytes(), good_chunked.as_bytes());
        for step in [1, 3, 7, 1000] {
            assert!(flagged(bad, step), "step {step}");
            assert!(!flagged(good_cl, step), "step {step}");
            assert!(!flagged(good_chunked, step), "step {step}");
            // Second request on a keep-alive connection.
            assert!(flagged(&[good_chunked, bad].concat(), step), "step {step}");
            assert!(flagged(&[good_cl, bad].concat(), step), "step {step}");
        }
    }

    #[test]
    fn stops_following_upgrades_and_h2() {
        let ws: &[u8] = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n\
              Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(!flagged(ws, 5));
        let h2: &[u8] =
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nContent-Length: 1\r\nTransfer-Encoding: x\r\n\r\n";
        assert!(!flagged(h2, 5));
    }
}
