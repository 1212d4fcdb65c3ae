//! The request a forward-auth sub-request asks about (SPEC §11), read from
//! the headers the fronting proxy sets: `X-Original-URI` and
//! `X-Original-Method` (nginx), `X-Original-URL` (ingress-nginx), or
//! `X-Forwarded-Method`, `-Proto`, `-Host` and `-Uri` (Traefik, Caddy).
//!
//! A fronting proxy sets its own headers and passes the client's others
//! along (nginx's sub-request carries every client header; so do Caddy's
//! and ingress-nginx's). A client could therefore add a header of the
//! *other* family naming a public path. Rather than prefer one family,
//! every description present must agree: two that differ are a `400`,
//! never a guess, so a forged header can only make the check fail.

use http::uri::{PathAndQuery, Scheme};
use http::{HeaderMap, HeaderName, Method, Uri};

use crate::route;

pub const X_ORIGINAL_URI: HeaderName = HeaderName::from_static("x-original-uri");
pub const X_ORIGINAL_URL: HeaderName = HeaderName::from_static("x-original-url");
pub const X_ORIGINAL_METHOD: HeaderName = HeaderName::from_static("x-original-method");
pub const X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
pub const X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// The original request, as far as the session check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Original {
    pub method: Method,
    /// Its path and query exactly as the client sent them (routes
    /// normalise the path, `next` is made safe, as for proxied requests).
    pub target: PathAndQuery,
    /// Its host, when the headers name one (`X-Forwarded-Host`, the host of
    /// `X-Original-URL`), else `None`: the sub-request's own `Host` is used.
    pub host: Option<String>,
    /// The fronting proxy says the client came over https.
    pub https: bool,
}

/// Why the headers do not describe one request: answered `400`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginalError {
    #[error(
        "no original URI: forward-auth reads it from X-Original-URI (nginx), \
         X-Forwarded-Uri (Traefik, Caddy) or X-Original-URL (ingress-nginx)"
    )]
    MissingUri,
    #[error("more than one {0} header")]
    Repeated(HeaderName),
    #[error("{0} is not visible ASCII")]
    NotText(HeaderName),
    #[error("{0} is not an origin-form request target (a path beginning with /)")]
    BadTarget(HeaderName),
    #[error("{0} is not an absolute http(s) URL")]
    BadUrl(HeaderName),
    #[error("{0} is not a request method")]
    BadMethod(HeaderName),
    #[error("{0} is not a host")]
    BadHost(HeaderName),
    #[error("{0} and {1} describe different requests")]
    Conflict(HeaderName, HeaderName),
}

impl Original {
    /// Reads the original request from a sub-request's headers; without a
    /// method header, the sub-request's own `method` is the original's.
    pub fn read(headers: &HeaderMap, method: &Method) -> Result<Original, OriginalError> {
        let url = match one(headers, &X_ORIGINAL_URL)? {
            Some(url) => Some(parse_url(url)?),
            None => None,
        };
        // Every description given, with the header it came from (arrays,
        // not vectors: a check allocates nothing for this).
        let target_in = |name: HeaderName| match one(headers, &name)? {
            None => Ok(None),
            Some(value) => PathAndQuery::try_from(value)
                .ok()
                .filter(|t| t.as_str().starts_with('/'))
                .map(|t| Some((name.clone(), t)))
                .ok_or(OriginalError::BadTarget(name)),
        };
        let targets = [
            target_in(X_ORIGINAL_URI)?,
            target_in(X_FORWARDED_URI)?,
            url.as_ref().map(|u| (X_ORIGINAL_URL, u.target.clone())),
        ];
        let (_, target) = agree(targets)?.ok_or(OriginalError::MissingUri)?;

        let method_in = |name: HeaderName| match one(headers, &name)? {
            None => Ok(None),
            Some(value) => Method::from_bytes(value.trim().as_bytes())
                .map(|m| Some((name.clone(), m)))
                .map_err(|_| OriginalError::BadMethod(name)),
        };
        let methods = [
            method_in(X_ORIGINAL_METHOD)?,
            method_in(X_FORWARDED_METHOD)?,
        ];
        let method = agree(methods)?.map_or_else(|| method.clone(), |(_, m)| m);

        let forwarded_host = match one(headers, &X_FORWARDED_HOST)? {
            // A chain of proxies appends: the first is the client's.
            Some(value) => {
                let first = value.split(',').next().unwrap_or("").trim();
                Some((X_FORWARDED_HOST, canonical_host(first, &X_FORWARDED_HOST)?))
            }
            None => None,
        };
        let hosts = [
            forwarded_host,
            url.as_ref().map(|u| (X_ORIGINAL_URL, u.host.clone())),
        ];
        let host = agree(hosts)?.map(|(_, h)| h);

        let proto = one(headers, &X_FORWARDED_PROTO)?
            .and_then(|p| p.split(',').next())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
        Ok(Original {
            method,
            target,
            host,
            https: proto || url.is_some_and(|u| u.https),
        })
    }
}

/// What `X-Original-URL` says.
struct Url {
    target: PathAndQuery,
    host: String,
    https: bool,
}

fn parse_url(value: &str) -> Result<Url, OriginalError> {
    let bad = || OriginalError::BadUrl(X_ORIGINAL_URL);
    let uri = Uri::try_from(value.trim()).map_err(|_| bad())?;
    let https = match uri.scheme() {
        Some(s) if *s == Scheme::HTTPS => true,
        Some(s) if *s == Scheme::HTTP => false,
        _ => return Err(bad()),
    };
    let authority = uri.authority().ok_or_else(bad)?;
    let host = canonical_host(authority.as_str(), &X_ORIGINAL_URL)?;
    let target = uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let target = if target.as_str().starts_with('/') {
        target
    } else {
        return Err(bad());
    };
    Ok(Url {
        target,
        host,
        https,
    })
}

/// A host as routes compare it (port and trailing dot removed), lowercased
/// so that two spellings of one host agree.
fn canonical_host(raw: &str, from: &HeaderName) -> Result<String, OriginalError> {
    let bad = || OriginalError::BadHost(from.clone());
    if raw.is_empty() {
        return Err(bad());
    }
    route::bare_host(raw)
        .map(str::to_ascii_lowercase)
        .map_err(|_| bad())
}

/// The one value of `name`, if any; two are ambiguous.
fn one<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Result<Option<&'h str>, OriginalError> {
    let mut all = headers.get_all(name).iter();
    let Some(value) = all.next() else {
        return Ok(None);
    };
    if all.next().is_some() {
        return Err(OriginalError::Repeated(name.clone()));
    }
    let text = value
        .to_str()
        .map_err(|_| OriginalError::NotText(name.clone()))?;
    Ok(Some(text))
}

/// The value every description given agrees on, or the first pair that
/// differs.
fn agree<T: PartialEq, const N: usize>(
    given: [Option<(HeaderName, T)>; N],
) -> Result<Option<(HeaderName, T)>, OriginalError> {
    let mut given = given.into_iter().flatten();
    let Some(first) = given.next() else {
        return Ok(None);
    };
    for (name, value) in given {
        if value != first.1 {
            return Err(OriginalError::Conflict(first.0, name));
        }
    }
    Ok(Some(first))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&'static str, &'static str)]) -> Result<Original, OriginalError> {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        Original::read(&h, &Method::GET)
    }

    #[test]
    fn nginx_traefik_caddy_and_ingress_nginx_spellings() {
        let nginx = read(&[
            ("x-original-uri", "/a/b?c=d"),
            ("x-original-method", "POST"),
            ("x-forwarded-host", "App.Example.com:8443"),
            ("x-forwarded-proto", "https"),
        ])
        .unwrap();
        assert_eq!(nginx.method, Method::POST);
        assert_eq!(nginx.target.as_str(), "/a/b?c=d");
        assert_eq!(nginx.host.as_deref(), Some("app.example.com"));
        assert!(nginx.https);

        let caddy = read(&[
            ("x-forwarded-uri", "/x"),
            ("x-forwarded-method", "GET"),
            ("x-forwarded-proto", "http"),
        ])
        .unwrap();
        assert_eq!((caddy.method, caddy.target.as_str()), (Method::GET, "/x"));
        assert_eq!(caddy.host, None);
        assert!(!caddy.https);

        let ingress = read(&[
            ("x-original-url", "https://app.example.com/p?q=1"),
            ("x-original-method", "HEAD"),
        ])
        .unwrap();
        assert_eq!(ingress.target.as_str(), "/p?q=1");
        assert_eq!(ingress.host.as_deref(), Some("app.example.com"));
        assert!(ingress.https);
        assert_eq!(ingress.method, Method::HEAD);
    }

    #[test]
    fn without_an_original_uri_the_answer_names_the_headers() {
        let error = read(&[("x-original-method", "GET")]).unwrap_err();
        assert_eq!(error, OriginalError::MissingUri);
        let text = error.to_string();
        for name in ["X-Original-URI", "X-Forwarded-Uri", "X-Original-URL"] {
            assert!(text.contains(name), "{text}");
        }
    }

    /// A client adding the other family's header, naming a public path,
    /// must not change what is checked: it makes the check fail instead.
    #[test]
    fn descriptions_that_disagree_are_refused() {
        for pairs in [
            vec![("x-original-uri", "/admin"), ("x-forwarded-uri", "/pub/x")],
            vec![
                ("x-original-url", "http://app/admin"),
                ("x-original-uri", "/pub/x"),
            ],
            vec![
                ("x-original-uri", "/a"),
                ("x-original-method", "GET"),
                ("x-forwarded-method", "POST"),
            ],
            vec![
                ("x-original-url", "http://app.example.com/a"),
                ("x-forwarded-host", "public.example.com"),
            ],
        ] {
            assert!(
                matches!(read(&pairs), Err(OriginalError::Conflict(..))),
                "{pairs:?}"
            );
        }
        // The same request spelled twice is one request.
        let same = read(&[
            ("x-original-uri", "/a?b"),
            ("x-forwarded-uri", "/a?b"),
            ("x-original-url", "http://APP.example.com.:80/a?b"),
            ("x-forwarded-host", "app.example.com"),
        ])
        .unwrap();
        assert_eq!(same.target.as_str(), "/a?b");
    }

    #[test]
    fn malformed_or_repeated_headers_are_refused() {
        for (pairs, want) in [
            (
                vec![("x-original-uri", "admin")],
                OriginalError::BadTarget(X_ORIGINAL_URI),
            ),
            (
                vec![("x-forwarded-uri", "http://evil/admin")],
                OriginalError::BadTarget(X_FORWARDED_URI),
            ),
            (
                vec![("x-original-url", "/relative")],
                OriginalError::BadUrl(X_ORIGINAL_URL),
            ),
            (
                vec![("x-original-url", "ftp://h/x")],
                OriginalError::BadUrl(X_ORIGINAL_URL),
            ),
            (
                vec![("x-original-uri", "/a"), ("x-original-method", "G E T")],
                OriginalError::BadMethod(X_ORIGINAL_METHOD),
            ),
            (
                vec![("x-original-uri", "/a"), ("x-original-uri", "/b")],
                OriginalError::Repeated(X_ORIGINAL_URI),
            ),
            (
                vec![("x-original-uri", "/a"), ("x-forwarded-host", "a..b")],
                OriginalError::BadHost(X_FORWARDED_HOST),
            ),
        ] {
            assert_eq!(read(&pairs), Err(want), "{pairs:?}");
        }
    }
}
