//! Path normalisation and first-match routing (SPEC §2 `[[route]]`, §5).
//!
//! Routes match a *normalised* path so that a public prefix can never be
//! used to reach a protected path: `/static/../admin`, `/static/..%2Fadmin`
//! and `/static/%2e%2e/admin` all normalise to `/admin`. The request itself
//! is still forwarded with its original path; normalisation only decides
//! which route (and so which policy) applies.

use std::borrow::Cow;
use std::time::Duration;

use http::Uri;

use crate::config::{Config, Route};

/// The name of the route used when no `[[route]]` matches: protected, on
/// the default upstream.
pub const DEFAULT_ROUTE: &str = "default";

/// The routes of one configuration, in file order, plus the fallback.
#[derive(Debug, Clone)]
pub struct Router {
    routes: Vec<Route>,
    fallback: Route,
    default_upstream: Uri,
    /// The smallest route `idle_timeout`, for `decide::touch_for`.
    strictest_idle: Option<Duration>,
}

/// The route a request matched and the upstream it goes to.
#[derive(Debug, Clone, Copy)]
pub struct Matched<'a> {
    pub route: &'a Route,
    /// The route's position in file order; the default route comes last
    /// (index = number of routes). Lets per-route state live in a `Vec`.
    pub index: usize,
    pub upstream: &'a Uri,
}

impl Router {
    /// Every route in index order, the default route last.
    pub fn routes(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter().chain(std::iter::once(&self.fallback))
    }

    pub fn new(config: &Config) -> Self {
        Router {
            routes: config.routes.clone(),
            fallback: Route::protected(DEFAULT_ROUTE, "/"),
            default_upstream: config.upstream.url.clone(),
            strictest_idle: config.routes.iter().filter_map(|r| r.idle_timeout).min(),
        }
    }

    /// The smallest `idle_timeout` of any route: on every route, activity
    /// is recorded at least every half of it (see `decide::touch_for`).
    pub fn strictest_idle(&self) -> Option<Duration> {
        self.strictest_idle
    }

    /// The first route, in file order, whose `host` (when set) equals `host`
    /// and whose `path` prefixes the normalised `path`; else the default
    /// protected route. `host` is as returned by [`request_host`].
    ///
    /// A protected route's prefix matches in any ASCII letter case: an
    /// application that routes `/ADMIN` to its admin pages must not see
    /// that spelling escape `/admin` into a public catch-all. Public
    /// prefixes match exactly, so no spelling widens what is public.
    pub fn route(&self, host: Option<&str>, path: &str) -> Matched<'_> {
        let normalised = normalise_path(path);
        let (index, route) = self
            .routes
            .iter()
            .enumerate()
            .find(|(_, r)| {
                r.host
                    .as_deref()
                    .is_none_or(|h| host.is_some_and(|host| h.eq_ignore_ascii_case(host)))
                    && prefixes(&r.path, &normalised, !r.public)
            })
            .unwrap_or((self.routes.len(), &self.fallback));
        Matched {
            route,
            index,
            upstream: route.upstream.as_ref().unwrap_or(&self.default_upstream),
        }
    }
}

/// Whether `prefix` starts `path`, ignoring ASCII case when asked.
fn prefixes(prefix: &str, path: &str, any_case: bool) -> bool {
    if any_case {
        path.len() >= prefix.len()
            && path.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
    } else {
        path.starts_with(prefix)
    }
}

/// Why a request's host cannot be routed: `400`, nothing forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("an HTTP/1.1 request without a Host header")]
    Missing,
    #[error("more than one Host header")]
    Repeated,
    #[error("a host name with an empty label")]
    EmptyLabel,
}

/// The host a request is addressed to, for routing: the `Host` header, or
/// the URI authority (HTTP/2 `:authority`), with the port and one trailing
/// dot removed (`admin.example.com.` is `admin.example.com`: upstreams and
/// DNS treat them as one host, so routes must too). Borrowed, not
/// lowercased: routes compare hosts ignoring ASCII case. An HTTP/1.1
/// request must carry exactly one `Host` (RFC 9112 §3.2), and no host may
/// have an empty label.
pub fn request_host<'a>(
    version: http::Version,
    headers: &'a http::HeaderMap,
    uri: &'a Uri,
) -> Result<Option<&'a str>, HostError> {
    let mut hosts = headers.get_all(http::header::HOST).iter();
    let header = hosts.next();
    if hosts.next().is_some() {
        return Err(HostError::Repeated);
    }
    if header.is_none() && version == http::Version::HTTP_11 {
        return Err(HostError::Missing);
    }
    let Some(raw) = header
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
    else {
        return Ok(None);
    };
    bare_host(raw).map(Some)
}

/// A `Host` value (or URI authority) as routes compare it: userinfo, the
/// port and one trailing dot removed, not lowercased. No label may be empty.
pub fn bare_host(raw: &str) -> Result<&str, HostError> {
    let raw = raw.rsplit_once('@').map_or(raw, |(_, h)| h);
    if let Some(rest) = raw.strip_prefix('[') {
        // IPv6 literal: keep the brackets, drop any port after them.
        return Ok(rest
            .split_once(']')
            .map_or(raw, |(ip, _)| &raw[..ip.len() + 2]));
    }
    let host = raw.split_once(':').map_or(raw, |(h, _)| h);
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.split('.').any(str::is_empty) {
        return Err(HostError::EmptyLabel);
    }
    Ok(host)
}

/// Normalises a request path for matching: percent-decoded once, `\` read
/// as `/`, repeated slashes collapsed, dot segments removed (RFC 3986
/// §5.2.4). The result always starts with `/`, and is its own normal form
/// (normalising it again changes nothing): a literal `%` (sent as `%25`, or
/// not starting an escape) stays written `%25`, so it is never decoded a
/// second time.
pub fn normalise_path(path: &str) -> Cow<'_, str> {
    if is_normal(path) {
        return Cow::Borrowed(path);
    }
    let decoded = decode_once(path);
    let slashed = decoded.replace('\\', "/");
    let mut out: Vec<&str> = Vec::new();
    // A segment's `;parameters` are dropped for matching: servlet containers
    // (Tomcat, Spring) read `/static/..;/admin` as `/static/../admin`.
    let segments: Vec<&str> = slashed
        .split('/')
        .map(|s| s.split(';').next().unwrap_or(""))
        .filter(|s| !s.is_empty())
        .collect();
    let trailing = slashed.ends_with('/')
        || segments
            .last()
            .is_some_and(|last| *last == "." || *last == "..");
    for seg in segments {
        match seg {
            "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut normalised = String::with_capacity(slashed.len() + 1);
    for seg in &out {
        normalised.push('/');
        normalised.push_str(seg);
    }
    if trailing || out.is_empty() {
        normalised.push('/');
    }
    Cow::Owned(normalised)
}

/// `path` percent-decoded once (invalid UTF-8 read as U+FFFD), every
/// literal `%` in the result written `%25`.
fn decode_once(path: &str) -> String {
    let hex = |b: u8| char::from(b).to_digit(16);
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => hex(h).zip(hex(l)).map(|(h, l)| (h * 16 + l) as u8),
            _ => None,
        };
        let (byte, len) = escaped.map_or((bytes[i], 1), |b| (b, 3));
        if byte == b'%' {
            out.extend_from_slice(b"%25");
        } else {
            out.push(byte);
        }
        i += len;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `path` is already what [`normalise_path`] would make of it (the
/// common case, answered without allocating): it starts with `/` and has
/// nothing to decode (`%`), no `\`, no `;parameters`, no empty segment
/// (`//`) and no dot segment.
fn is_normal(path: &str) -> bool {
    path.starts_with('/')
        && !path.contains(['%', '\\', ';'])
        && !path.contains("//")
        && !path.split('/').any(|s| s == "." || s == "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_table() {
        let table = [
            ("/", "/"),
            ("", "/"),
            ("/a/b", "/a/b"),
            ("/a/b/", "/a/b/"),
            ("/static/../admin", "/admin"),
            ("/static/..%2Fadmin", "/admin"),
            ("/static/..%2fadmin", "/admin"),
            ("/static/%2e%2e/admin", "/admin"),
            ("/static/%2E%2E/admin", "/admin"),
            ("/static/.%2e/admin", "/admin"),
            ("/static/..\\admin", "/admin"),
            ("/static/..%5cadmin", "/admin"),
            ("/static//../admin", "/admin"),
            ("/static/..;/admin", "/admin"),
            ("/static/..;jsessionid=x/admin", "/admin"),
            ("/static;x/app.css", "/static/app.css"),
            ("//static/./x", "/static/x"),
            ("/a/./b/../../c", "/c"),
            ("/../../etc/passwd", "/etc/passwd"),
            ("/static/..", "/"),
            ("/static/.", "/static/"),
            ("/a%20b", "/a b"),
            // Decoded once only: a double-encoded dot stays literal (and
            // its `%` stays written `%25`, see below).
            ("/static/%252e%252e/admin", "/static/%252e%252e/admin"),
        ];
        for (input, want) in table {
            assert_eq!(normalise_path(input), want, "input {input:?}");
        }
    }

    /// Found by the `route` fuzz target: `/%2525` normalised to `/%25`,
    /// which normalised again to `/%`, so a normalised path was not its own
    /// normal form; and `/%%34%31` decoded to `/%41`, an escape made by
    /// decoding. A literal `%` now stays written `%25`.
    #[test]
    fn regression_fuzz_normalisation_is_idempotent_on_percent() {
        let table = [
            ("/%2525", "/%2525"),
            ("/%25", "/%25"),
            ("/%%34%31", "/%2541"),
            ("/a%", "/a%25"),
            ("/a%zz/%2e%2e/b", "/b"),
            ("/%25/..", "/"),
        ];
        for (input, want) in table {
            let once = normalise_path(input);
            assert_eq!(once, want, "input {input:?}");
            assert_eq!(normalise_path(&once), once, "again {input:?}");
        }
    }

    #[test]
    fn plain_paths_are_borrowed_and_unchanged() {
        for plain in ["/", "/a", "/a/b/", "/reports/2026/q1", "/a.b/c..d/.e"] {
            assert!(matches!(normalise_path(plain), Cow::Borrowed(p) if p == plain));
        }
        for odd in ["", "a", "//a", "/a/./b", "/a/..", "/a%2e", "/a;b", "/a\\b"] {
            assert!(matches!(normalise_path(odd), Cow::Owned(_)), "{odd:?}");
        }
    }

    fn route(name: &str, path: &str, host: Option<&str>, public: bool) -> Route {
        Route {
            host: host.map(Into::into),
            public,
            ..Route::protected(name, path)
        }
    }

    fn router(routes: Vec<Route>) -> Router {
        let fallback = Router {
            routes: Vec::new(),
            fallback: route(DEFAULT_ROUTE, "/", None, false),
            default_upstream: Uri::from_static("http://127.0.0.1:8000"),
            strictest_idle: None,
        };
        Router { routes, ..fallback }
    }

    #[test]
    fn first_match_in_file_order() {
        let mut api = route("api-admin", "/api/", Some("admin.example.com"), false);
        api.upstream = Some(Uri::from_static("http://127.0.0.1:9001"));
        let r = router(vec![
            route("static", "/static/", None, true),
            api,
            route("api", "/api/", None, false),
            route("login", "/login", None, true),
        ]);
        let name = |host: Option<&str>, path: &str| r.route(host, path).route.name.clone();
        assert_eq!(name(None, "/static/app.css"), "static");
        assert_eq!(name(Some("admin.example.com"), "/api/x"), "api-admin");
        assert_eq!(
            r.route(Some("admin.example.com"), "/api/x")
                .upstream
                .port_u16(),
            Some(9001)
        );
        assert_eq!(name(Some("other.example.com"), "/api/x"), "api");
        assert_eq!(name(None, "/api/x"), "api");
        assert_eq!(name(None, "/login?next=/"), "login");
        assert_eq!(name(None, "/elsewhere"), DEFAULT_ROUTE);
        assert_eq!(r.route(None, "/elsewhere").upstream.port_u16(), Some(8000));
    }

    #[test]
    fn traversal_never_reaches_public_prefix() {
        let r = router(vec![
            route("static", "/static/", None, true),
            route("admin", "/admin", None, false),
        ]);
        for path in [
            "/static/../admin",
            "/static/..%2Fadmin",
            "/static/%2e%2e/admin",
            "/static/%2e%2e%2fadmin",
            "/static/..\\admin",
            "/static//..//admin",
            "/static/./../admin",
            "/static/..;/admin",
            "/static/..%3B/admin",
        ] {
            assert_eq!(r.route(None, path).route.name, "admin", "path {path:?}");
        }
        assert_eq!(r.route(None, "/static/a/../b.css").route.name, "static");
        assert_eq!(r.route(None, "/static/..").route.name, DEFAULT_ROUTE);
    }

    use http::Version;

    fn host_of(value: &str) -> Result<Option<String>, HostError> {
        let mut h = http::HeaderMap::new();
        h.insert("host", value.parse().unwrap());
        let uri = Uri::from_static("/");
        request_host(Version::HTTP_11, &h, &uri).map(|h| h.map(str::to_owned))
    }

    #[test]
    fn host_port_is_stripped_and_case_ignored() {
        assert_eq!(
            host_of("App.Example.com:8443"),
            Ok(Some("App.Example.com".into()))
        );
        let r = router(vec![route("app", "/", Some("app.example.com"), true)]);
        let host = host_of("App.Example.com:8443").unwrap();
        assert_eq!(r.route(host.as_deref(), "/x").route.name, "app");
        assert_eq!(host_of("[::1]:8080"), Ok(Some("[::1]".into())));
        let h2 = Uri::from_static("https://H2.example.com:443/x");
        assert_eq!(
            request_host(Version::HTTP_2, &http::HeaderMap::new(), &h2),
            Ok(Some("H2.example.com"))
        );
    }

    /// Regression: `Host: admin.example.com.` (and the same `:authority` on
    /// h2) skipped a protected host route into a public one.
    #[test]
    fn a_trailing_dot_names_the_same_host() {
        assert_eq!(
            host_of("admin.example.com."),
            Ok(Some("admin.example.com".into()))
        );
        assert_eq!(
            host_of("Admin.Example.com.:443"),
            Ok(Some("Admin.Example.com".into()))
        );
        let h2 = Uri::from_static("https://admin.example.com.:443/x");
        assert_eq!(
            request_host(Version::HTTP_2, &http::HeaderMap::new(), &h2),
            Ok(Some("admin.example.com"))
        );
        for bad in [
            "admin.example.com..",
            "admin..example.com",
            ".example.com",
            ".",
        ] {
            assert_eq!(host_of(bad), Err(HostError::EmptyLabel), "{bad}");
        }
        let r = router(vec![
            route("admin", "/", Some("admin.example.com"), false),
            route("public", "/", None, true),
        ]);
        let host = host_of("ADMIN.example.com.").unwrap();
        assert_eq!(r.route(host.as_deref(), "/x").route.name, "admin");
    }

    /// Regression: an HTTP/1.1 request without `Host` skipped every host
    /// route.
    #[test]
    fn http11_needs_exactly_one_host() {
        let uri = Uri::from_static("/");
        let none = http::HeaderMap::new();
        assert_eq!(
            request_host(Version::HTTP_11, &none, &uri),
            Err(HostError::Missing)
        );
        assert_eq!(request_host(Version::HTTP_10, &none, &uri), Ok(None));
        assert_eq!(request_host(Version::HTTP_2, &none, &uri), Ok(None));
        let mut two = http::HeaderMap::new();
        two.append("host", "a.example".parse().unwrap());
        two.append("host", "b.example".parse().unwrap());
        assert_eq!(
            request_host(Version::HTTP_11, &two, &uri),
            Err(HostError::Repeated)
        );
    }

    /// Regression: `/ADMIN/users` skipped a protected `/admin` route into a
    /// public `/`.
    #[test]
    fn protected_prefixes_match_in_any_case_public_ones_exactly() {
        let r = router(vec![
            route("admin", "/admin", None, false),
            route("static", "/static/", None, true),
            route("public", "/", None, true),
        ]);
        for path in ["/ADMIN/users", "/Admin", "/aDmIn/x", "/%41DMIN/users"] {
            assert_eq!(r.route(None, path).route.name, "admin", "{path}");
        }
        assert_eq!(r.route(None, "/static/a.css").route.name, "static");
        assert_eq!(r.route(None, "/STATIC/a.css").route.name, "public");
    }
}

#[cfg(test)]
#[path = "route_prop_tests.rs"]
mod props;
