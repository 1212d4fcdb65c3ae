//! Headers a client could use to pass as the gateway (SPEC §5), and the
//! upstream's control headers on the way back.
//!
//! Many servers and frameworks read `_` in a header name as `-` (CGI and
//! WSGI turn both `X-Sessiongate-User` and `X_Sessiongate_User` into
//! `HTTP_X_SESSIONGATE_USER`), so every name is compared with `_` read as
//! `-`: no spelling of a header the gateway controls gets through.

use http::{HeaderMap, HeaderName, HeaderValue};

/// Every header the gateway itself speaks starts with this (lowercase, as
/// `HeaderName`s are): clients may never send one, upstream responses never
/// leak one.
const CONTROL_PREFIX: &str = "sessiongate-";
const LOGIN_HEADER: &str = "sessiongate-login";
const LOGOUT_HEADER: &str = "sessiongate-logout";

/// The `X-Forwarded-*` family: set by the gateway (or a trusted proxy).
const FORWARDED_PREFIX: &str = "x-forwarded-";

/// The `X-Forwarded-*` headers the gateway replaces with its own view
/// (`upstream::headers::set_forwarded`), so only their `_` spellings need
/// removing here.
const REPLACED: [&str; 3] = ["for", "proto", "host"];

/// Other headers through which proxies tell applications who the client
/// is or what it asked for: only a trusted proxy may send them.
const PROXY_ONLY: [&str; 4] = ["forwarded", "x-real-ip", "x-original-url", "x-rewrite-url"];

/// Removes from a client's request every header that could pass as the
/// gateway: the identity header and `Sessiongate-*`, in any letter case
/// and with `_` for `-`, whoever the peer; and, unless the peer is a
/// trusted proxy, `Forwarded`, `X-Real-IP`, `X-Original-URL`,
/// `X-Rewrite-URL`, every `X-Forwarded-*` beyond the three the gateway
/// replaces, and any `_` spelling of these.
pub fn strip_forged(headers: &mut HeaderMap, identity: &HeaderName, trusted_peer: bool) {
    let forged = |name: &HeaderName| {
        let name = name.as_str();
        if same_name(name, identity.as_str()) || has_prefix(name, CONTROL_PREFIX) {
            return true;
        }
        if trusted_peer {
            return false;
        }
        if has_prefix(name, FORWARDED_PREFIX) {
            let rest = &name[FORWARDED_PREFIX.len()..];
            return name.contains('_') || !REPLACED.contains(&rest);
        }
        PROXY_ONLY.iter().any(|h| same_name(name, h))
    };
    // The usual request has none: one pass, no allocation.
    if !headers.keys().any(forged) {
        return;
    }
    let found: Vec<HeaderName> = headers.keys().filter(|n| forged(n)).cloned().collect();
    for name in found {
        headers.remove(name);
    }
}

/// Takes the upstream's `Sessiongate-Login` and `Sessiongate-Logout` out of
/// a response and removes every other `Sessiongate-*` header.
pub fn take_control(headers: &mut HeaderMap) -> (Option<HeaderValue>, Option<HeaderValue>) {
    let login = headers.remove(LOGIN_HEADER);
    let logout = headers.remove(LOGOUT_HEADER);
    let others: Vec<HeaderName> = headers
        .keys()
        .filter(|name| has_prefix(name.as_str(), CONTROL_PREFIX))
        .cloned()
        .collect();
    for name in others {
        headers.remove(name);
    }
    (login, logout)
}

/// Header names (lowercase) equal when `_` is read as `-`.
fn same_name(name: &str, target: &str) -> bool {
    name.len() == target.len() && has_prefix(name, target)
}

/// `name` starts with `prefix` when `_` is read as `-`.
fn has_prefix(name: &str, prefix: &str) -> bool {
    let dash = |b: u8| if b == b'_' { b'-' } else { b };
    name.len() >= prefix.len()
        && name
            .bytes()
            .zip(prefix.bytes())
            .all(|(a, b)| dash(a) == dash(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(names: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for name in names {
            h.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static("x"),
            );
        }
        h
    }

    fn left(h: &HeaderMap) -> Vec<&str> {
        let mut names: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        names
    }

    const IDENTITY: HeaderName = HeaderName::from_static("x-sessiongate-user");

    #[test]
    fn forged_control_headers_are_removed_in_any_case() {
        let mut h = map(&[
            "X-SessionGate-USER",
            "SESSIONGATE-LOGIN",
            "Sessiongate-Anything",
            "x-other",
        ]);
        strip_forged(&mut h, &IDENTITY, false);
        assert_eq!(left(&h), ["x-other"]);
    }

    /// Regression: `X_Sessiongate_User: admin` reached a WSGI application
    /// as `HTTP_X_SESSIONGATE_USER=admin`.
    #[test]
    fn underscore_spellings_of_the_identity_and_control_headers_are_removed() {
        for trusted in [false, true] {
            let mut h = map(&[
                "X_Sessiongate_User",
                "x-sessiongate_user",
                "sessiongate_login",
                "Sessiongate_Logout",
                "x_sessiongate_users",
                "x-kept_too",
            ]);
            strip_forged(&mut h, &IDENTITY, trusted);
            assert_eq!(left(&h), ["x-kept_too", "x_sessiongate_users"]);
        }
        // An identity header configured with `_` is matched by its `-` twin.
        let mut h = map(&["x-remote-user", "x_remote_user"]);
        strip_forged(&mut h, &HeaderName::from_static("x_remote_user"), false);
        assert!(h.is_empty(), "{h:?}");
    }

    /// Regression: `X_Forwarded_For: 6.6.6.6` reached a WSGI application as
    /// a forged client address.
    #[test]
    fn proxy_headers_are_removed_unless_the_peer_is_trusted() {
        let names = [
            "x_forwarded_for",
            "X_Forwarded_Proto",
            "x-forwarded_host",
            "forwarded",
            "x-real-ip",
            "x_real_ip",
            "x-forwarded-port",
            "x-forwarded-prefix",
            "x-forwarded-ssl",
            "x-original-url",
            "x-rewrite-url",
            "x-forwarded-for",
            "x-forwarded-proto",
            "x-forwarded-host",
            "x-forwardedfor",
        ];
        let mut h = map(&names);
        strip_forged(&mut h, &IDENTITY, false);
        assert_eq!(
            left(&h),
            [
                "x-forwarded-for",
                "x-forwarded-host",
                "x-forwarded-proto",
                "x-forwardedfor"
            ]
        );
        let mut h = map(&names);
        strip_forged(&mut h, &IDENTITY, true);
        assert_eq!(h.len(), names.len());
    }

    #[test]
    fn control_headers_never_leave_in_responses() {
        let mut h = HeaderMap::new();
        h.insert("sessiongate-login", HeaderValue::from_static("user=a"));
        h.insert("sessiongate-logout", HeaderValue::from_static("1"));
        h.insert("sessiongate-debug", HeaderValue::from_static("x"));
        h.insert("content-type", HeaderValue::from_static("text/html"));
        let (login, logout) = take_control(&mut h);
        assert_eq!(login.unwrap(), "user=a");
        assert_eq!(logout.unwrap(), "1");
        assert_eq!(h.len(), 1);
    }
}
