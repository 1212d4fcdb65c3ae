//! The HTTP/1.1 request-head scan (`server/head_scan.rs`): any split of the
//! same bytes gives the same flag, and a first head carrying both
//! `Content-Length` and `Transfer-Encoding` is always flagged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessiongate::fuzzing::head_scan_flagged;
use sessiongate_fuzz::lines;

fuzz_target!(|data: &[u8]| {
    let Some((&step, stream)) = data.split_first() else {
        return;
    };
    let step = usize::from(step % 17) + 1;
    let whole = head_scan_flagged([stream]);
    assert_eq!(whole, head_scan_flagged(stream.chunks(step)), "step {step}");
    assert_eq!(whole, head_scan_flagged(stream.chunks(1)), "bytewise");
    if first_head_smuggles(stream) {
        assert!(whole, "a head with both framing headers was not flagged");
    }
});

/// The model: the first complete head (stray blank lines before it
/// skipped) holds both headers.
fn first_head_smuggles(stream: &[u8]) -> bool {
    let mut request_line = false;
    let (mut length, mut encoding) = (false, false);
    let mut all = lines(stream).peekable();
    while let Some(line) = all.next() {
        if all.peek().is_none() {
            return false; // no line ending: the head is not complete
        }
        if !request_line {
            if line.is_empty() {
                continue;
            }
            if line.starts_with(b"CONNECT ") || line.starts_with(b"PRI ") {
                return false;
            }
            request_line = true;
            continue;
        }
        if line.is_empty() {
            return length && encoding;
        }
        if let Some(colon) = line.iter().position(|b| *b == b':') {
            let name = &line[..colon];
            length |= name.eq_ignore_ascii_case(b"content-length");
            encoding |= name.eq_ignore_ascii_case(b"transfer-encoding");
        }
    }
    false
}
