//! The warning injector's streaming HTML scan (`inject/scan.rs`): any
//! chunking of a body gives exactly what the rule gives on the whole body.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sessiongate::fuzzing::inject_reference;
use sessiongate::inject::scan::Injector;

const TAG: &[u8] = b"<script src=\"/.sessiongate/warning.js\" defer></script>";

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let window = usize::from(data[0]) * 4;
    let pad = data[1] & 1 == 1;
    let mut seed = u32::from(data[2]) | 1;
    let body = &data[3..];
    let (want, outcome) = inject_reference(body, TAG, window, pad);

    let mut injector = Injector::new(Bytes::from_static(TAG), window, pad);
    let mut out: Vec<Bytes> = Vec::new();
    let mut at = 0;
    while at < body.len() {
        // Chunk sizes from a small xorshift, 0 to 63 bytes (empty chunks too).
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let len = (seed % 64) as usize;
        let end = (at + len).min(body.len());
        injector.push(Bytes::copy_from_slice(&body[at..end]), &mut out);
        at = end;
    }
    injector.finish(&mut out);
    let got: Vec<u8> = out.concat();
    assert_eq!(got, want);
    assert_eq!(injector.outcome(), Some(outcome));
});
