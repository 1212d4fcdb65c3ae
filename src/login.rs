//! Sending people to login with a safe way back.
//!
//! The `next` value is built here and only here: it is always a relative
//! path beginning with a single `/` (SPEC §5), so the login page can never be
//! turned into an open redirect.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use std::borrow::Cow;

/// Everything but RFC 3986 unreserved characters and `/` is encoded in the
/// `next` query value.
const NEXT_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// How many rounds of percent-decoding a hostile `next` is checked through:
/// a login page that decodes twice must still not be fooled.
const DECODE_ROUNDS: usize = 3;

/// The return path for `path_and_query` (the request's own path and query,
/// never a host): its path with dot segments removed (RFC 3986 §5.2.4, as
/// a login page resolving it with `new URL()` would), when that is a safe
/// same-site relative path; else `/`.
pub fn safe_next(path_and_query: &str) -> Cow<'_, str> {
    let cleaned = without_dot_segments(path_and_query);
    if is_safe_next(&cleaned) {
        cleaned
    } else {
        Cow::Borrowed("/")
    }
}

/// Checks `candidate` and what it becomes through several rounds of
/// percent-decoding (`/a/%2e%2e//evil` decodes to `/a/..//evil`, which is
/// `//evil`). A login page that decodes may redirect to what it decoded as
/// it is (`//evil/../..` goes to evil), or resolve its dot segments first:
/// after each round both forms are followed, so every mix of decoding and
/// resolving is checked.
fn is_safe_next(candidate: &str) -> bool {
    safe_from(candidate, DECODE_ROUNDS)
}

fn safe_from(current: &str, rounds: usize) -> bool {
    // Still changing after several rounds: nested encodings are an attack.
    if rounds == 0 || is_dangerous(current) {
        return false;
    }
    let Ok(decoded) = percent_decode_str(current).decode_utf8() else {
        return false;
    };
    if decoded == current {
        return true;
    }
    let resolved = without_dot_segments(&decoded);
    safe_from(&decoded, rounds - 1) && (resolved == decoded || safe_from(&resolved, rounds - 1))
}

/// Whether `next` could leave the site or smuggle a control character:
/// not starting with exactly one `/` (`//host` and `/\host` are
/// protocol-relative), or holding a `\` or a control character.
fn is_dangerous(next: &str) -> bool {
    let bytes = next.as_bytes();
    bytes.first() != Some(&b'/')
        || matches!(bytes.get(1), Some(b'/' | b'\\'))
        || bytes.iter().any(|&b| b < 0x20 || b == 0x7f || b == b'\\')
}

/// `path_and_query` with the path's `.` and `..` segments removed (RFC
/// 3986 §5.2.4); the query is kept as it is. Borrowed when there are none.
fn without_dot_segments(path_and_query: &str) -> Cow<'_, str> {
    let (path, query) = match path_and_query.find('?') {
        Some(at) => path_and_query.split_at(at),
        None => (path_and_query, ""),
    };
    if !path.split('/').any(|s| s == "." || s == "..") {
        return Cow::Borrowed(path_and_query);
    }
    // The segments after the leading `/`; `..` pops one, `.` is dropped,
    // and a trailing dot segment leaves the path ending in `/`.
    let mut out: Vec<&str> = Vec::new();
    let mut segments = path.strip_prefix('/').unwrap_or(path).split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        match segment {
            "." | ".." => {
                if segment == ".." {
                    out.pop();
                }
                if last {
                    out.push("");
                }
            }
            other => out.push(other),
        }
    }
    let mut cleaned = String::with_capacity(path_and_query.len());
    for segment in &out {
        cleaned.push('/');
        cleaned.push_str(segment);
    }
    if cleaned.is_empty() {
        cleaned.push('/');
    }
    cleaned.push_str(query);
    Cow::Owned(cleaned)
}

/// The login URL with `next_param` set to the safe return path.
pub fn login_location(login_url: &str, next_param: Option<&str>, path_and_query: &str) -> String {
    let Some(param) = next_param else {
        return login_url.to_owned();
    };
    let separator = if login_url.contains('?') { '&' } else { '?' };
    let safe = safe_next(path_and_query);
    let next = utf8_percent_encode(&safe, NEXT_VALUE);
    format!("{login_url}{separator}{param}={next}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_return_paths_never_leave_the_site() {
        for hostile in [
            "//evil.example/x",
            "/\\evil.example",
            "/%2F%2Fevil.example",
            "/%2f/evil.example",
            "/%5Cevil.example",
            "/%252F%252Fevil.example",
            "/a\tb",
            "/a\r\nSet-Cookie: x=1",
            "/%0d%0aLocation: http://evil",
            "/%00",
            "http://evil.example/",
            "https:evil.example",
            "evil.example",
            "",
            "/%E0%A4%A",
        ] {
            assert_eq!(safe_next(hostile), "/", "{hostile:?}");
            let loc = login_location("/login", Some("next"), hostile);
            assert_eq!(loc, "/login?next=/", "{hostile:?}");
        }
    }

    /// Found by the `safe_next` fuzz target: `/%252F..%252F` passed, as its
    /// decoded form `//../` resolves to `/`; but a login page that decodes
    /// twice and redirects without resolving sent the browser to host
    /// `..`, and `/%252Fevil.example%252F..%252F..` to `//evil.example/../..`,
    /// which is evil.example. Each decoded form is now checked as it is too.
    /// A longer run then found `/%252F%2./.%2e/%5~e=?/`: resolved after one
    /// decoding it was safe, but decoded twice as it is it began `//`; every
    /// mix of decoding and resolving is now followed.
    #[test]
    fn regression_fuzz_decoded_next_is_checked_before_resolving_dots() {
        for hostile in [
            "/%252F../",
            "/%252Fevil.example%252F..%252F..",
            "/%2F%2Fevil.example%2F..%2F..",
            "/%255Cevil.example%252F..",
            // Resolved after one decoding, then decoded again as it is.
            "/%252F%2./.%2e/%5~e=?/",
        ] {
            assert_eq!(safe_next(hostile), "/", "{hostile:?}");
        }
        // A path with encoded slashes that stays on the site is kept.
        assert_eq!(safe_next("/files/a%2Fb/..%2Fc"), "/files/a%2Fb/..%2Fc");
    }

    /// Regression: `/a/..//evil.example` went out as `next` unchanged, and
    /// a login page resolving it with `new URL()` reached `//evil.example`.
    #[test]
    fn next_has_its_dot_segments_removed_before_the_safety_check() {
        for hostile in [
            "/a/..//evil.example",
            "/a/../..//evil.example/x?y=1",
            "/./..//evil.example",
            "/a/%2e%2e//evil.example",
            "/a/%2E%2E/%2Fevil.example",
            "/a/..%2F/evil.example",
            "/a/../\\evil.example",
        ] {
            assert_eq!(safe_next(hostile), "/", "{hostile:?}");
        }
        for (path, cleaned) in [
            ("/a/b/../c", "/a/c"),
            ("/a/./b", "/a/b"),
            ("/a/..", "/"),
            ("/a/b/.", "/a/b/"),
            ("/..", "/"),
            ("/a/../b?x=/../y", "/b?x=/../y"),
            ("/a/..b/c.", "/a/..b/c."),
        ] {
            assert_eq!(safe_next(path), cleaned, "{path:?}");
        }
        assert_eq!(
            login_location("/login", Some("next"), "/a/../admin?x=1"),
            "/login?next=/admin%3Fx%3D1"
        );
    }

    #[test]
    fn ordinary_paths_are_kept_and_encoded() {
        assert_eq!(safe_next("/admin?tab=1&x=%20y"), "/admin?tab=1&x=%20y");
        assert_eq!(
            login_location("/login", Some("next"), "/admin/a b?tab=1&x=2"),
            "/login?next=/admin/a%20b%3Ftab%3D1%26x%3D2"
        );
        assert_eq!(
            login_location("https://sso.example/login?app=1", Some("return"), "/x"),
            "https://sso.example/login?app=1&return=/x"
        );
        assert_eq!(login_location("/login", None, "/x"), "/login");
    }
}
