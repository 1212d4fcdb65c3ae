//! Helpers the fuzz targets share: fuzz bytes read as header lines.

use http::{HeaderMap, HeaderName, HeaderValue};

/// `data` split into lines on `\n`, one trailing `\r` removed from each.
pub fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|b| *b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
}

/// The `name: value` lines of `data` that make valid headers, in order
/// (a name given twice keeps both values); other lines are skipped.
pub fn headers(data: &[u8]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for line in lines(data) {
        if let Some((name, value)) = header(line) {
            map.append(name, value);
        }
    }
    map
}

/// One `name: value` line as a header, when it makes a valid one.
pub fn header(line: &[u8]) -> Option<(HeaderName, HeaderValue)> {
    let colon = line.iter().position(|b| *b == b':')?;
    let name = HeaderName::from_bytes(&line[..colon]).ok()?;
    let value = HeaderValue::from_bytes(line[colon + 1..].trim_ascii()).ok()?;
    Some((name, value))
}

/// Every line of `data` that is a valid value of header `name`.
pub fn values_of(data: &[u8], name: &HeaderName) -> HeaderMap {
    let mut map = HeaderMap::new();
    for line in lines(data) {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            map.append(name.clone(), value);
        }
    }
    map
}

/// Whether `name` starts with `prefix` when `_` is read as `-` (ASCII case
/// ignored): how CGI, WSGI and friends read header names.
pub fn has_prefix_loosely(name: &str, prefix: &str) -> bool {
    let fold = |b: u8| {
        if b == b'_' {
            b'-'
        } else {
            b.to_ascii_lowercase()
        }
    };
    name.len() >= prefix.len()
        && name
            .bytes()
            .zip(prefix.bytes())
            .all(|(a, b)| fold(a) == fold(b))
}

/// The `name=value` pairs of `Cookie` lines, trimmed, as browsers send them.
pub fn cookie_pairs(headers: &HeaderMap) -> Vec<Vec<u8>> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .flat_map(|line| line.as_bytes().split(|b| *b == b';'))
        .map(|pair| pair.trim_ascii().to_vec())
        .filter(|pair| !pair.is_empty())
        .collect()
}

/// The occurrences of cookie `name` an application could read: the pairs
/// named exactly so, or named so as some framework decodes names. Each as
/// (exact, value).
pub fn occurrences(headers: &HeaderMap, name: &str) -> Vec<(bool, Vec<u8>)> {
    cookie_pairs(headers)
        .into_iter()
        .filter_map(|pair| {
            let eq = pair.iter().position(|b| *b == b'=')?;
            let raw = &pair[..eq];
            let value = pair[eq + 1..].trim_ascii().to_vec();
            if raw.trim_ascii() == name.as_bytes() {
                Some((true, value))
            } else if sessiongate::fuzzing::cookie_reads_as(raw, name) {
                Some((false, value))
            } else {
                None
            }
        })
        .collect()
}
