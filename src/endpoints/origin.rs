//! Cross-site request refusal for the gateway's own state-changing
//! endpoints (SPEC §9): a `POST` that a page on another site made the
//! browser send must change nothing, cookie or not.

use http::header::ORIGIN;
use http::{HeaderMap, Uri};

use crate::peer::addressed_host;

const SEC_FETCH_SITE: &str = "sec-fetch-site";

/// Whether a request is cross-site: its `Sec-Fetch-Site` says
/// `cross-site`, or its `Origin` is `null` or names another origin than the
/// request's own (scheme, host and port as the gateway sees them: behind a
/// trusted proxy from its `X-Forwarded-Proto` and `X-Forwarded-Host`).
/// Without either header (a non-browser client) it is not.
pub fn is_cross_site(headers: &HeaderMap, uri: &Uri, secure: bool, trusted: bool) -> bool {
    let fetch_site = headers.get_all(SEC_FETCH_SITE);
    if fetch_site
        .iter()
        .any(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return true;
    }
    let mut origins = headers.get_all(ORIGIN).iter();
    let origin = match (origins.next(), origins.next()) {
        (None, _) => return false,
        (Some(origin), None) => origin,
        // Two origins: not a browser's request, and not ours to guess.
        (Some(_), Some(_)) => return true,
    };
    let Ok(origin) = origin.to_str() else {
        return true;
    };
    let host = addressed_host(headers, uri, trusted);
    let scheme = if secure { "https" } else { "http" };
    match (canonical_origin(origin), host) {
        (Some(theirs), Some(host)) => theirs != canonical(scheme, host.trim()),
        // `null`, or an origin that does not parse, or no host to compare.
        _ => true,
    }
}

/// `scheme://host[:port]` lowercased, the scheme's default port dropped.
fn canonical(scheme: &str, host: &str) -> String {
    let host = host.to_ascii_lowercase();
    let default = if scheme == "https" { ":443" } else { ":80" };
    let host = host.strip_suffix(default).unwrap_or(&host);
    format!("{scheme}://{host}")
}

/// An `Origin` value made canonical; `None` for `null` or anything else
/// that is not `http(s)://host[:port]`.
fn canonical_origin(origin: &str) -> Option<String> {
    let (scheme, host) = origin.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if !(scheme == "http" || scheme == "https") || host.is_empty() || host.contains('/') {
        return None;
    }
    Some(canonical(&scheme, host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn cross(pairs: &[(&'static str, &'static str)], secure: bool, trusted: bool) -> bool {
        is_cross_site(&headers(pairs), &Uri::from_static("/"), secure, trusted)
    }

    #[test]
    fn same_origin_and_non_browser_requests_pass() {
        let host = ("host", "app.example.com");
        for (pairs, secure) in [
            (vec![host], false),
            (vec![host, ("origin", "http://app.example.com")], false),
            (vec![host, ("origin", "HTTP://App.Example.com:80")], false),
            (
                vec![
                    ("host", "app.example.com:443"),
                    ("origin", "https://app.example.com"),
                ],
                true,
            ),
            (vec![host, ("sec-fetch-site", "same-origin")], false),
            (vec![host, ("sec-fetch-site", "same-site")], false),
            (vec![("host", "a:8080"), ("origin", "http://a:8080")], false),
        ] {
            assert!(!cross(&pairs, secure, false), "{pairs:?} secure={secure}");
        }
    }

    #[test]
    fn other_origins_null_and_cross_site_fetches_are_refused() {
        let host = ("host", "app.example.com");
        for (pairs, secure) in [
            (vec![host, ("origin", "https://evil.example")], false),
            (vec![host, ("origin", "null")], false),
            (vec![host, ("origin", "https://app.example.com")], false),
            (vec![host, ("origin", "http://app.example.com")], true),
            (vec![host, ("origin", "http://app.example.com:8080")], false),
            (
                vec![host, ("origin", "http://app.example.com.evil.example")],
                false,
            ),
            (vec![host, ("sec-fetch-site", "cross-site")], false),
            (
                vec![
                    host,
                    ("origin", "http://app.example.com"),
                    ("origin", "http://app.example.com"),
                ],
                false,
            ),
            (vec![host, ("origin", "file://")], false),
        ] {
            assert!(cross(&pairs, secure, false), "{pairs:?} secure={secure}");
        }
    }

    #[test]
    fn behind_a_trusted_proxy_its_forwarded_host_is_our_origin() {
        let pairs = [
            ("host", "gateway.internal:8080"),
            ("x-forwarded-host", "app.example.com"),
            ("origin", "https://app.example.com"),
        ];
        assert!(!cross(&pairs, true, true));
        // From anyone else, X-Forwarded-Host is not believed.
        assert!(cross(&pairs, true, false));
    }
}
