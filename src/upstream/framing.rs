//! Request smuggling defence: requests whose framing two HTTP parsers
//! could read differently are refused before anything reaches the upstream
//! (SPEC §5).
//!
//! hyper's HTTP/1 parser already refuses (with `400`) differing
//! `Content-Length`s, a `Transfer-Encoding` whose last coding is not
//! `chunked`, obs-fold, NUL and bare CR in a header. It *accepts*
//! `Content-Length` together with `Transfer-Encoding` (RFC 9112 §6.1 lets
//! it pick chunked) and codings before `chunked` (`gzip, chunked`), so
//! those are refused here. The remaining checks repeat hyper's so this
//! module states the whole policy in one place.

use http::HeaderMap;
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};

/// Why a request's framing is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("both Content-Length and Transfer-Encoding")]
    LengthAndEncoding,
    #[error("differing Content-Length values")]
    DifferingLengths,
    #[error("unsupported transfer coding")]
    UnknownCoding,
    #[error("control character in a header value")]
    ControlCharacter,
}

/// Checks a request head; `Ok` when its framing is unambiguous.
pub fn check(headers: &HeaderMap) -> Result<(), FramingError> {
    let has_te = headers.contains_key(TRANSFER_ENCODING);
    if has_te && headers.contains_key(CONTENT_LENGTH) {
        return Err(FramingError::LengthAndEncoding);
    }
    if has_te {
        let mut codings = headers
            .get_all(TRANSFER_ENCODING)
            .iter()
            .flat_map(|v| v.as_bytes().split(|b| *b == b','))
            .map(|c| c.trim_ascii())
            .filter(|c| !c.is_empty());
        let only_chunked = codings
            .next()
            .is_some_and(|c| c.eq_ignore_ascii_case(b"chunked"))
            && codings.next().is_none();
        if !only_chunked {
            return Err(FramingError::UnknownCoding);
        }
    }
    let mut lengths = headers
        .get_all(CONTENT_LENGTH)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(|c| c.trim_ascii());
    if let Some(first) = lengths.next()
        && lengths.any(|other| other != first)
    {
        return Err(FramingError::DifferingLengths);
    }
    let control = headers
        .values()
        .any(|v| v.as_bytes().iter().any(|b| matches!(b, 0 | b'\r' | b'\n')));
    if control {
        return Err(FramingError::ControlCharacter);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::headers;

    fn check_pairs(pairs: &[(&'static str, &'static str)]) -> Result<(), FramingError> {
        check(&headers(pairs))
    }

    #[test]
    fn table() {
        use FramingError::*;
        type Case = (
            &'static [(&'static str, &'static str)],
            Result<(), FramingError>,
        );
        let cases: [Case; 9] = [
            (&[], Ok(())),
            (&[("content-length", "5")], Ok(())),
            (&[("content-length", "5"), ("content-length", "5")], Ok(())),
            (&[("transfer-encoding", "Chunked")], Ok(())),
            (
                &[("content-length", "5"), ("transfer-encoding", "chunked")],
                Err(LengthAndEncoding),
            ),
            (&[("content-length", "5, 6")], Err(DifferingLengths)),
            (
                &[("content-length", "5"), ("content-length", "6")],
                Err(DifferingLengths),
            ),
            (
                &[("transfer-encoding", "gzip, chunked")],
                Err(UnknownCoding),
            ),
            (
                &[
                    ("transfer-encoding", "chunked"),
                    ("transfer-encoding", "chunked"),
                ],
                Err(UnknownCoding),
            ),
        ];
        for (pairs, want) in cases {
            assert_eq!(check_pairs(pairs), want, "{pairs:?}");
        }
    }
}
