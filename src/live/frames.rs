//! WebSocket frame boundaries (RFC 6455 §5.2), and nothing more.
//!
//! The relay copies bytes; to put a close frame *between* frames it needs
//! to know where one ends. [`Frames`] reads only the 2 to 14 bytes of each
//! frame header and counts the payload bytes after it: payloads are never
//! decoded, unmasked or buffered, so extensions (permessage-deflate) pass
//! untouched.

/// Where a byte stream is between frame boundaries.
#[derive(Debug, Clone)]
pub struct Frames {
    head: [u8; 14],
    /// Header bytes seen of the frame being read (0 at a boundary).
    have: u8,
    /// Header length once the second byte is known (2 before that).
    need: u8,
    /// Payload bytes still to come of the current frame.
    remaining: u64,
    /// A data frame (text, binary, continuation) began since the last
    /// [`Frames::take_data`].
    data: bool,
    /// A close frame's header went by.
    close: bool,
}

impl Default for Frames {
    fn default() -> Self {
        Frames {
            head: [0; 14],
            have: 0,
            need: 2,
            remaining: 0,
            data: false,
            close: false,
        }
    }
}

const OP_CLOSE: u8 = 0x8;

impl Frames {
    /// Accounts for `bytes`, the next bytes of the stream.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.remaining > 0 {
                let n = usize::try_from(self.remaining)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                self.remaining -= n as u64;
                bytes = &bytes[n..];
                continue;
            }
            self.head[usize::from(self.have)] = bytes[0];
            self.have += 1;
            bytes = &bytes[1..];
            if self.have == 2 {
                let ext = match self.head[1] & 0x7f {
                    126 => 2,
                    127 => 8,
                    _ => 0,
                };
                let mask = if self.head[1] & 0x80 != 0 { 4 } else { 0 };
                self.need = 2 + ext + mask;
            }
            if self.have == self.need {
                self.header_done();
            }
        }
    }

    fn header_done(&mut self) {
        let len = match self.head[1] & 0x7f {
            126 => u64::from(u16::from_be_bytes([self.head[2], self.head[3]])),
            127 => {
                let mut b = [0; 8];
                b.copy_from_slice(&self.head[2..10]);
                u64::from_be_bytes(b)
            }
            short => u64::from(short),
        };
        match self.head[0] & 0x0f {
            OP_CLOSE => self.close = true,
            0x0..=0x2 => self.data = true,
            _ => {}
        }
        self.remaining = len;
        self.have = 0;
        self.need = 2;
    }

    /// Whether the stream is between two frames.
    pub fn at_boundary(&self) -> bool {
        self.have == 0 && self.remaining == 0
    }

    /// How many more bytes certainly belong to the current frame (0 at a
    /// boundary; inside a header whose length is not known yet, 1).
    pub fn to_boundary(&self) -> usize {
        if self.remaining > 0 {
            usize::try_from(self.remaining).unwrap_or(usize::MAX)
        } else if self.have == 0 {
            0
        } else {
            usize::from(self.need - self.have)
        }
    }

    /// Whether a data frame began since the last call: a message the
    /// sender sent (pings, pongs and closes are not messages).
    pub fn take_data(&mut self) -> bool {
        std::mem::take(&mut self.data)
    }

    /// Whether a close frame has gone by.
    pub fn saw_close(&self) -> bool {
        self.close
    }
}

/// A close frame with `code` and `reason` (at most 123 bytes), masked with
/// `mask` when it goes to a server (RFC 6455 §5.3: every frame a client
/// sends is masked).
pub fn close_frame(code: u16, reason: &str, mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(&reason.as_bytes()[..reason.len().min(123)]);
    let mut frame = vec![0x80 | OP_CLOSE, payload.len() as u8];
    if let Some(mask) = mask {
        frame[1] |= 0x80;
        frame.extend_from_slice(&mask);
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte ^= mask[i % 4];
        }
    }
    frame.extend_from_slice(&payload);
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_of_short_extended_and_masked_frames() {
        let mut f = Frames::default();
        assert!(f.at_boundary());
        // A 5-byte unmasked text frame, fed one byte at a time.
        for (i, b) in [0x81, 5, b'h', b'e', b'l', b'l', b'o'].iter().enumerate() {
            f.feed(&[*b]);
            assert_eq!(f.at_boundary(), i == 6, "after byte {i}");
        }
        assert!(f.take_data());
        assert!(!f.take_data());
        // A masked binary frame with a 16-bit length of 300.
        let mut frame = vec![0x82, 0x80 | 126, 0x01, 0x2c, 1, 2, 3, 4];
        frame.extend(std::iter::repeat_n(0u8, 300));
        f.feed(&frame[..3]);
        assert!(!f.at_boundary());
        assert_eq!(f.to_boundary(), 5);
        f.feed(&frame[3..100]);
        assert_eq!(f.to_boundary(), frame.len() - 100);
        f.feed(&frame[100..]);
        assert!(f.at_boundary());
        // Two frames in one chunk, the second a ping: no new data.
        f.take_data();
        f.feed(&[0x89, 0, 0x81, 1, b'x']);
        assert!(f.at_boundary() && f.take_data());
    }

    #[test]
    fn a_64_bit_length_is_read() {
        let mut f = Frames::default();
        f.feed(&[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(f.to_boundary(), 65536);
    }

    #[test]
    fn close_frames_are_seen_and_built() {
        let frame = close_frame(1008, "session expired", None);
        assert_eq!(&frame[..4], &[0x88, 17, 0x03, 0xf0]);
        assert_eq!(&frame[4..], b"session expired");
        let mut f = Frames::default();
        f.feed(&frame);
        assert!(f.saw_close() && f.at_boundary() && !f.take_data());

        let masked = close_frame(1008, "session ended", Some([1, 2, 3, 4]));
        assert_eq!(masked[1], 0x80 | 15);
        let unmasked: Vec<u8> = masked[6..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ [1, 2, 3, 4][i % 4])
            .collect();
        assert_eq!(&unmasked[..2], &1008u16.to_be_bytes());
        assert_eq!(&unmasked[2..], b"session ended");
    }
}
