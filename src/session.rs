//! Session ids and the session cookie.
//!
//! A [`SessionId`] is validated before any store key is built from it
//! (SPEC §4) and never appears in a log: its `Debug` redacts.

use std::fmt;
use std::fmt::Write as _;
use std::time::Duration;

use http::header::{COOKIE, HeaderMap, HeaderValue};

use crate::config::{CookieSecure, SameSite, SessionConfig};

/// Bytes of OS randomness in a new id: 256 bits, twice the 128-bit floor.
const ID_BYTES: usize = 32;

/// The longest session id accepted from a cookie (SPEC §4).
const MAX_ID_LEN: usize = 256;

/// A syntactically valid session id: 1 to 256 bytes of `[A-Za-z0-9._~+/=,-]`.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId(String);

/// The cookie value is not a valid session id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed session id")]
pub struct InvalidId;

impl SessionId {
    /// A fresh id from the OS CSPRNG, hex-encoded (URL-safe and inside the
    /// id alphabet, unlike base64url's `_`).
    pub fn generate() -> Result<SessionId, getrandom::Error> {
        let mut bytes = [0u8; ID_BYTES];
        getrandom::fill(&mut bytes)?;
        let mut id = String::with_capacity(ID_BYTES * 2);
        for b in bytes {
            id.push(char::from(HEX[usize::from(b >> 4)]));
            id.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        Ok(SessionId(id))
    }

    /// Validates an id taken from a cookie (or extracted by `id_pattern`).
    pub fn parse(value: &str) -> Result<SessionId, InvalidId> {
        let valid = !value.is_empty()
            && value.len() <= MAX_ID_LEN
            && value.bytes().all(|b| {
                b.is_ascii_alphanumeric()
                    || matches!(b, b'.' | b'_' | b'~' | b'+' | b'/' | b'=' | b',' | b'-')
            });
        if valid {
            Ok(SessionId(value.to_owned()))
        } else {
            Err(InvalidId)
        }
    }

    /// The id itself: for building store keys and cookies, never for logs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(<redacted>)")
    }
}

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
    if !present {
        return;
    }
    let kept: Vec<HeaderValue> = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| {
            let line = value.as_bytes();
            let mut rest = Vec::with_capacity(line.len());
            for pair in cookie_pairs(line).filter(|pair| !is_ours(pair)) {
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

/// How the session cookie is written for one request.
#[derive(Debug, Clone, Copy)]
pub struct CookieAttrs<'a> {
    pub name: &'a str,
    pub path: &'a str,
    pub domain: Option<&'a str>,
    pub secure: bool,
    pub http_only: bool,
    pub same_site: SameSite,
}

impl<'a> CookieAttrs<'a> {
    /// The configured attributes; `secure_request` says whether the request
    /// came over TLS (or https from a trusted proxy), for `cookie_secure = "auto"`.
    pub fn new(cfg: &'a SessionConfig, secure_request: bool) -> CookieAttrs<'a> {
        CookieAttrs::named(cfg, &cfg.cookie_name, secure_request)
    }

    /// The same attributes for another cookie name (observe mode clears the
    /// application's cookie).
    pub fn named(cfg: &'a SessionConfig, name: &'a str, secure_request: bool) -> CookieAttrs<'a> {
        CookieAttrs {
            name,
            path: &cfg.cookie_path,
            domain: cfg.cookie_domain.as_deref(),
            secure: match cfg.cookie_secure {
                CookieSecure::Always => true,
                CookieSecure::Never => false,
                CookieSecure::Auto => secure_request,
            },
            http_only: cfg.cookie_http_only,
            same_site: cfg.cookie_same_site,
        }
    }

    /// `Set-Cookie` for a live session. `max_age: None` is a browser session
    /// (no Max-Age/Expires). Max-Age is rounded *up* to whole seconds so the
    /// cookie never expires before the session does on the server.
    pub fn set(&self, value: &str, max_age: Option<Duration>) -> HeaderValue {
        // One allocation, sized for the usual attributes.
        let mut out = String::with_capacity(self.name.len() + value.len() + self.path.len() + 96);
        out.push_str(self.name);
        out.push('=');
        out.push_str(value);
        if let Some(age) = max_age {
            let secs = age.as_millis().div_ceil(1000);
            let _ = write!(out, "; Max-Age={secs}");
        }
        self.attributes(&mut out);
        HeaderValue::try_from(out).expect("cookie names and ids are header-safe")
    }

    /// `Set-Cookie` that deletes the cookie: same Path and Domain as when set.
    pub fn clear(&self) -> HeaderValue {
        let mut out = format!(
            "{}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            self.name
        );
        self.attributes(&mut out);
        HeaderValue::try_from(out).expect("cookie names are header-safe")
    }

    fn attributes(&self, out: &mut String) {
        out.push_str("; Path=");
        out.push_str(self.path);
        if let Some(domain) = self.domain {
            out.push_str("; Domain=");
            out.push_str(domain);
        }
        if self.secure {
            out.push_str("; Secure");
        }
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        out.push_str(match self.same_site {
            SameSite::Strict => "; SameSite=Strict",
            SameSite::Lax => "; SameSite=Lax",
            SameSite::None => "; SameSite=None",
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_long_unique_and_valid() {
        let a = SessionId::generate().unwrap();
        let b = SessionId::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 64, "256 bits hex-encoded");
        assert_eq!(SessionId::parse(a.expose()), Ok(a));
    }

    #[test]
    fn debug_never_shows_the_id() {
        let id = SessionId::parse("secretvalue").unwrap();
        assert!(!format!("{id:?}").contains("secret"));
    }

    #[test]
    fn id_alphabet_and_length() {
        for ok in [
            "a",
            "AZaz09._~+/=,-",
            "nAC5Pf1WL66gOf_D2YIN2ccECmtUPXeN",
            &"x".repeat(256),
        ] {
            assert!(SessionId::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            &"x".repeat(257),
            "a b",
            "a;b",
            "a\"b",
            "é",
            "a\u{0}b",
            "{id}",
            "a:b",
            "a*b",
        ] {
            assert_eq!(SessionId::parse(bad), Err(InvalidId), "{bad:?}");
        }
    }

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

    fn cfg() -> SessionConfig {
        crate::config::Config::default().session
    }

    #[test]
    fn set_cookie_attributes() {
        let mut c = cfg();
        c.cookie_domain = Some("example.com".into());
        let attrs = CookieAttrs::new(&c, true);
        assert_eq!(
            attrs.set("abc", Some(Duration::from_millis(299_001))),
            "sessiongate=abc; Max-Age=300; Path=/; Domain=example.com; Secure; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            attrs.set("abc", None),
            "sessiongate=abc; Path=/; Domain=example.com; Secure; HttpOnly; SameSite=Lax"
        );
        let defaults = cfg();
        let plain = CookieAttrs::new(&defaults, false);
        assert_eq!(
            plain.clear(),
            "sessiongate=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; SameSite=Lax"
        );
    }
}
