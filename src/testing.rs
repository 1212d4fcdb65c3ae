//! Helpers shared by the unit tests.

use http::{HeaderMap, HeaderValue};

/// A header map holding `pairs` in order; a name given twice keeps both
/// values, as a client sending it twice would.
pub(crate) fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_static(v));
    }
    h
}
