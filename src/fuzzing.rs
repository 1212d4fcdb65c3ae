//! The crate-private parsers the fuzz targets in `fuzz/` call, compiled only
//! with the `fuzzing` feature (which only `fuzz/Cargo.toml` turns on).
//! Everything else the targets need is public already.

/// Whether a connection reading `pieces` in order is flagged for
/// `Content-Length` beside `Transfer-Encoding` (`server/head_scan.rs`).
pub fn head_scan_flagged<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> bool {
    crate::server::flagged_in(pieces)
}

/// Whether some application reads the cookie name `raw` as `name`
/// (`session/cookie.rs`): what a stripped `Cookie` header must not hold.
pub fn cookie_reads_as(raw: &[u8], name: &str) -> bool {
    crate::session::cookie::reads_as(raw, name)
}

/// The injection rule on a whole body (`inject/scan.rs`): what every
/// chunking of the stream must produce.
pub fn inject_reference(
    body: &[u8],
    tag: &[u8],
    window: usize,
    pad: bool,
) -> (Vec<u8>, crate::inject::scan::Outcome) {
    crate::inject::scan::reference(body, tag, window, pad)
}
