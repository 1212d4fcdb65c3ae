//! The `Cookie` request header: finding the session cookie, and what of it
//! the upstream may see.
//!
//! The first occurrence of the session cookie is the session (browsers send
//! the most specific first); no other occurrence ever lends its identity
//! (SPEC §5).

use http::header::{COOKIE, HeaderMap, HeaderValue};

/// The `name=value` pairs of one `Cookie` line, as bytes and trimmed:
/// browsers send other cookies' UTF-8 values as raw bytes, which must not
/// hide the session cookie beside them.
fn cookie_pairs(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| b == b';')
        .map(<[u8]>::trim_ascii)
        .filter(|pair| !pair.is_empty())
}

/// `Some(value)` when `pair` is the cookie called `name`.
fn cookie_value<'a>(pair: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let eq = pair.iter().position(|&b| b == b'=')?;
    (pair[..eq].trim_ascii() == name.as_bytes()).then(|| pair[eq + 1..].trim_ascii())
}

/// The value of the first cookie called `name` across all `Cookie` headers
/// (browsers send the most specific first; later ones never lend identity).
/// A value that is not UTF-8 comes back empty, which no id parses as.
pub fn find_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|line| cookie_pairs(line.as_bytes()))
        .find_map(|pair| cookie_value(pair, name))
        .map(|value| std::str::from_utf8(value).unwrap_or(""))
}

/// Joins several `Cookie` headers into one with `"; "`: HTTP/2 clients may
/// split it into crumbs (RFC 9113 §8.2.3), and an upstream that joins the
/// lines otherwise (wsgiref uses `,`) reads one mangled cookie. Does nothing
/// (and allocates nothing) when there is at most one.
pub fn join_cookie_headers(headers: &mut HeaderMap) {
    let mut lines = headers.get_all(COOKIE).iter();
    if lines.next().is_none() || lines.next().is_none() {
        return;
    }
    let mut joined = Vec::new();
    for line in headers.get_all(COOKIE) {
        let line = line.as_bytes().trim_ascii();
        if line.is_empty() {
            continue;
        }
        if !joined.is_empty() {
            joined.extend_from_slice(b"; ");
        }
        joined.extend_from_slice(line);
    }
    headers.remove(COOKIE);
    // Each crumb was a valid header value, and so is "; " between them.
    if let Ok(value) = HeaderValue::from_maybe_shared(bytes::Bytes::from(joined))
        && !value.is_empty()
    {
        headers.insert(COOKIE, value);
    }
}

/// Whether `raw`, a cookie name as sent, is one some application reads as
/// `name`: Django decodes the header as UTF-8 and Python's `str.strip`
/// removes Unicode spaces (U+00A0, U+3000, U+0085…) around a name, wsgiref
/// strips a latin-1 `\xa0` off the header's start, PHP percent-decodes names
/// and reads `.` and ` ` as `_`, ASP.NET ignores letter case. Every
/// non-ASCII byte counts as space here. Names only shrink when decoded and
/// trimmed, so a shorter one is rejected at once.
pub(crate) fn reads_as(raw: &[u8], name: &str) -> bool {
    if raw.len() < name.len() {
        return false;
    }
    // Borrowed (no allocation) unless the name holds a `%`.
    let decoded: std::borrow::Cow<'_, [u8]> = percent_encoding::percent_decode(raw).into();
    let loose = |b: &u8| *b <= b' ' || *b >= 0x7f;
    let start = decoded
        .iter()
        .position(|b| !loose(b))
        .unwrap_or(decoded.len());
    let end = decoded
        .iter()
        .rposition(|b| !loose(b))
        .map_or(start, |i| i + 1);
    let core = &decoded[start..end];
    let fold = |b: u8| match b {
        b'.' | b' ' | b'[' => b'_',
        b => b.to_ascii_lowercase(),
    };
    core.len() == name.len()
        && core
            .iter()
            .zip(name.bytes())
            .all(|(&a, b)| fold(a) == fold(b))
}

/// `Some((exact, value))` when `pair` is an occurrence of the cookie `name`:
/// `exact` when named exactly so (the only kind the gateway checks), or not
/// when only an application would read its name as `name` ([`reads_as`]).
fn occurrence<'a>(pair: &'a [u8], name: &str) -> Option<(bool, &'a [u8])> {
    let eq = pair.iter().position(|&b| b == b'=')?;
    let raw = &pair[..eq];
    let value = pair[eq + 1..].trim_ascii();
    if raw.trim_ascii() == name.as_bytes() {
        Some((true, value))
    } else if reads_as(raw, name) {
        Some((false, value))
    } else {
        None
    }
}

/// Leaves the application's session cookie `name` as the gateway checked
/// it (external and observe modes): the first exactly named occurrence is
/// the checked one ([`find_cookie`]); every other occurrence (later copies,
/// and names an application would read as `name`) is removed, since
/// frameworks like Django read the last one. The checked one is removed too
/// unless `keep_checked` (it was a valid id): a value the gateway could not
/// read never reaches an application that might. Returns the removed
/// values, which observe mode must never register. Allocates nothing when
/// the checked occurrence is the only one and is kept (the usual case).
pub fn keep_checked_cookie(headers: &mut HeaderMap, name: &str, keep_checked: bool) -> Vec<String> {
    let untouched = {
        let mut found = headers
            .get_all(COOKIE)
            .iter()
            .flat_map(|line| cookie_pairs(line.as_bytes()))
            .filter_map(|pair| occurrence(pair, name));
        match (found.next(), found.next()) {
            (None, _) => true,
            (Some((exact, _)), None) => exact && keep_checked,
            (Some(_), Some(_)) => false,
        }
    };
    if untouched {
        return Vec::new();
    }
    let mut removed = Vec::new();
    let mut checked_seen = false;
    retain_cookies(headers, |pair| {
        let Some((exact, value)) = occurrence(pair, name) else {
            return true;
        };
        if exact && !checked_seen {
            checked_seen = true;
            if keep_checked {
                return true;
            }
        }
        if let Ok(value) = std::str::from_utf8(value) {
            removed.push(value.to_owned());
        }
        false
    });
    removed
}

/// Removes every cookie called `name` from the `Cookie` headers, so the
/// gateway's own cookie never reaches the upstream. Headers left empty are
/// dropped. Does nothing (and allocates nothing) when the cookie is absent.
pub fn strip_cookie(headers: &mut HeaderMap, name: &str) {
    let is_ours = |pair: &[u8]| cookie_value(pair, name).is_some();
    let only_ours = {
        let mut lines = headers.get_all(COOKIE).iter();
        match (lines.next(), lines.next()) {
            (Some(only), None) => {
                let mut pairs = cookie_pairs(only.as_bytes()).peekable();
                pairs.peek().is_some() && pairs.all(is_ours)
            }
            _ => false,
        }
    };
    if only_ours {
        // The usual case: one Cookie line holding only our cookie.
        headers.remove(COOKIE);
        return;
    }
    let present = headers
        .get_all(COOKIE)
        .iter()
        .any(|line| cookie_pairs(line.as_bytes()).any(is_ours));
    if present {
        retain_cookies(headers, |pair| !is_ours(pair));
    }
}

/// Rebuilds the `Cookie` headers with only the pairs `keep` accepts, each
/// line's survivors joined with `"; "`; lines left empty are dropped.
fn retain_cookies(headers: &mut HeaderMap, mut keep: impl FnMut(&[u8]) -> bool) {
    let kept: Vec<HeaderValue> = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| {
            let line = value.as_bytes();
            let mut rest = Vec::with_capacity(line.len());
            for pair in cookie_pairs(line).filter(|pair| keep(pair)) {
                if !rest.is_empty() {
                    rest.extend_from_slice(b"; ");
                }
                rest.extend_from_slice(pair);
            }
            if rest.is_empty() {
                None
            } else {
                HeaderValue::from_maybe_shared(bytes::Bytes::from(rest)).ok()
            }
        })
        .collect();
    headers.remove(COOKIE);
    for value in kept {
        headers.append(COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for c in cookies {
            h.append(COOKIE, HeaderValue::from_str(c).unwrap());
        }
        h
    }

    #[test]
    fn first_occurrence_wins_across_headers() {
        let h = headers(&["a=1; sg=first", "sg=second"]);
        assert_eq!(find_cookie(&h, "sg"), Some("first"));
        let h = headers(&["sgx=1", "other=2; sg = spaced "]);
        assert_eq!(find_cookie(&h, "sg"), Some("spaced"));
        assert_eq!(find_cookie(&headers(&["a=1"]), "sg"), None);
    }

    #[test]
    fn strip_removes_only_our_cookie() {
        let mut h = headers(&["a=1; sg=x; b=2", "sg=y"]);
        strip_cookie(&mut h, "sg");
        let left: Vec<_> = h.get_all(COOKIE).iter().collect();
        assert_eq!(left, vec!["a=1; b=2"]);
        let mut h = headers(&["a=1"]);
        strip_cookie(&mut h, "sg");
        assert_eq!(h.get(COOKIE).unwrap(), "a=1");
        // One line of only ours (twice, even): the header goes entirely.
        for line in ["sg=x", "sg=x; sg=y", " sg = x ;"] {
            let mut h = headers(&[line]);
            strip_cookie(&mut h, "sg");
            assert!(h.get(COOKIE).is_none(), "{line:?}");
        }
        let mut h = headers(&["sg=x; a=1"]);
        strip_cookie(&mut h, "sg");
        assert_eq!(h.get(COOKIE).unwrap(), "a=1");
    }

    #[test]
    fn raw_utf8_cookies_do_not_hide_ours() {
        let mut h = HeaderMap::new();
        let line = HeaderValue::from_bytes("city=Zürich; sg=abc; b=2".as_bytes()).unwrap();
        h.append(COOKIE, line);
        assert_eq!(find_cookie(&h, "sg"), Some("abc"));
        strip_cookie(&mut h, "sg");
        assert_eq!(h[COOKIE].as_bytes(), "city=Zürich; b=2".as_bytes());
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_bytes(b"sg=\xff").unwrap());
        assert_eq!(find_cookie(&h, "sg"), Some(""));
    }

    fn lines(h: &HeaderMap) -> Vec<&[u8]> {
        h.get_all(COOKIE)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect()
    }

    #[test]
    fn h2_cookie_crumbs_are_joined_into_one_header() {
        let mut h = headers(&["a=1", "sessionid=x", " b=2 ", ""]);
        join_cookie_headers(&mut h);
        assert_eq!(lines(&h), vec![&b"a=1; sessionid=x; b=2"[..]]);
        let mut h = headers(&["a=1; b=2"]);
        join_cookie_headers(&mut h);
        assert_eq!(lines(&h), vec![&b"a=1; b=2"[..]]);
        let mut h = headers(&["", " "]);
        join_cookie_headers(&mut h);
        assert!(h.get(COOKIE).is_none());
        let mut h = HeaderMap::new();
        join_cookie_headers(&mut h);
        assert!(h.is_empty());
    }

    #[test]
    fn second_session_cookie_is_removed_and_returned() {
        let mut h = headers(&["a=1; sessionid=OWN; b=2; sessionid=VICTIM"]);
        let removed = keep_checked_cookie(&mut h, "sessionid", true);
        assert_eq!(removed, vec!["VICTIM"]);
        assert_eq!(lines(&h), vec![&b"a=1; sessionid=OWN; b=2"[..]]);
        // Across headers too (HTTP/1.1 lines that were not joined).
        let mut h = headers(&["sessionid=OWN", "c=3; sessionid=V2"]);
        assert_eq!(keep_checked_cookie(&mut h, "sessionid", true), vec!["V2"]);
        assert_eq!(lines(&h), vec![&b"sessionid=OWN"[..], &b"c=3"[..]]);
    }

    #[test]
    fn a_single_session_cookie_is_left_as_it_came() {
        for line in [
            "sessionid=OWN",
            "a=1;sessionid=OWN ;b",
            "csrftoken=t",
            "sessionidx=1; xsessionid=2",
        ] {
            let mut h = headers(&[line]);
            assert!(keep_checked_cookie(&mut h, "sessionid", true).is_empty());
            assert_eq!(lines(&h), vec![line.as_bytes()], "{line}");
        }
        assert!(keep_checked_cookie(&mut HeaderMap::new(), "sessionid", false).is_empty());
    }

    #[test]
    fn names_an_application_reads_as_the_session_cookie_are_removed() {
        // Django strips \xa0 and \x85 (Python's str.strip on latin-1 text);
        // PHP decodes names and reads `.` as `_`; ASP.NET ignores case.
        for (alias, name) in [
            (&b"\xa0sessionid"[..], "sessionid"),
            ("\u{a0}sessionid".as_bytes(), "sessionid"),
            ("\u{3000}sessionid\u{2028}".as_bytes(), "sessionid"),
            (b"sessionid\x85", "sessionid"),
            (b"SESSIONID", "sessionid"),
            (b"%73essionid", "sessionid"),
            (b"%20sessionid", "sessionid"),
            (b"PHPSESSID", "phpsessid"),
            (b"my.sess", "my_sess"),
            (b"my sess", "my_sess"),
        ] {
            let mut line = b"sessionid=x; ".to_vec();
            line.extend_from_slice(alias);
            line.extend_from_slice(b"=VICTIM; keep=1");
            let name_line = format!("{name}=OWN; ");
            let mut full = name_line.into_bytes();
            full.extend_from_slice(&line);
            let mut h = HeaderMap::new();
            h.insert(COOKIE, HeaderValue::from_bytes(&full).unwrap());
            let removed = keep_checked_cookie(&mut h, name, true);
            assert!(
                removed.contains(&"VICTIM".to_owned()),
                "{alias:?} for {name}: {removed:?}"
            );
            let left = String::from_utf8_lossy(lines(&h)[0]).into_owned();
            assert!(left.starts_with(&format!("{name}=OWN")), "{left}");
            assert!(
                left.ends_with("keep=1") && !left.contains("VICTIM"),
                "{left}"
            );
        }
        // An alias alone, with no exactly named cookie, is removed too.
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_bytes(b"\xa0sessionid=VICTIM; a=1").unwrap(),
        );
        assert_eq!(
            keep_checked_cookie(&mut h, "sessionid", false),
            vec!["VICTIM"]
        );
        assert_eq!(lines(&h), vec![&b"a=1"[..]]);
    }

    #[test]
    fn malformed_first_session_cookie_takes_the_second_with_it() {
        let mut h = headers(&["sessionid=bad!; a=1; sessionid=GOOD"]);
        assert_eq!(find_cookie(&h, "sessionid"), Some("bad!"));
        let removed = keep_checked_cookie(&mut h, "sessionid", false);
        assert_eq!(removed, vec!["bad!", "GOOD"]);
        assert_eq!(lines(&h), vec![&b"a=1"[..]]);
        let mut h = headers(&["sessionid=\"quoted\""]);
        assert_eq!(keep_checked_cookie(&mut h, "sessionid", false).len(), 1);
        assert!(h.get(COOKIE).is_none());
    }

    #[test]
    fn strip_takes_every_copy_of_our_cookie() {
        let mut h = headers(&["sg=live; a=1; sg=other"]);
        strip_cookie(&mut h, "sg");
        assert_eq!(lines(&h), vec![&b"a=1"[..]]);
    }
}
