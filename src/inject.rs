//! Expiry warnings for applications that cannot show one (SPEC §12).
//!
//! ```text
//! plan (request: route on, not HEAD, the gateway's origin)
//!   → apply (response head: 200 text/html, not compressed, not a download)
//!   → the policy lets the script run (csp) → Content-Length, validators
//!   → the body streamed through the injector (scan, body)
//! ```
//!
//! On a protected route with `inject_warning` on, an HTML page gets
//! `<script src="/.sessiongate/warning.js" defer></script>` (with a nonce
//! when its Content-Security-Policy needs one); everything else passes
//! byte for byte. Every response of such a route is counted in
//! `sessiongate_warning_injections_total`: `injected`, or why not.
//!
//! - [`scan`]: where the tag goes, found while streaming;
//! - [`csp`]: the policy adjusted so the tag may run, and nothing more;
//! - [`body`]: the streaming body around the upstream's.

use std::sync::LazyLock;

use bytes::Bytes;
use http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_ENCODING, CONTENT_LENGTH,
    CONTENT_TYPE, ETAG, IF_NONE_MATCH, LAST_MODIFIED, X_CONTENT_TYPE_OPTIONS,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use tracing::warn;

use crate::body::Body;
use crate::config::Config;
use crate::metrics::{InjectResult, InjectionMetrics, Metrics};
use crate::peer::addressed_host;
use crate::route::Router;

pub mod body;
pub mod csp;
pub mod scan;

pub use body::Injecting;
use csp::Origin;
use scan::Injector;

/// Where the gateway serves the warning script.
pub const SCRIPT_PATH: &str = "/.sessiongate/warning.js";

/// The warning script (`GET /.sessiongate/warning.js`).
pub const SCRIPT: &str = include_str!("inject/warning.js");

/// The script's `ETag`: a digest of its text, stable across restarts.
pub static SCRIPT_ETAG: LazyLock<String> = LazyLock::new(|| {
    use sha1::Digest;
    let digest = sha1::Sha1::digest(SCRIPT.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
});

/// `GET /.sessiongate/warning.js`: the script, public and cacheable (an
/// hour, then revalidated by its `ETag`).
pub fn script(req: &HeaderMap) -> Response<Body> {
    let etag = HeaderValue::from_str(&SCRIPT_ETAG).ok();
    let fresh = req
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == SCRIPT_ETAG.as_str()
        });
    let mut resp = if fresh {
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        resp
    } else {
        let mut resp = Response::new(Body::full(SCRIPT));
        resp.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/javascript; charset=utf-8"),
        );
        resp
    };
    let headers = resp.headers_mut();
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Some(etag) = etag {
        headers.insert(ETAG, etag);
    }
    resp
}

/// Each route's counters when `inject_warning` is on for it (a route's own
/// value overrides `[session]`'s; public routes never), indexed like
/// [`Matched::index`](crate::route::Matched::index).
pub struct Warnings {
    routes: Vec<Option<InjectionMetrics>>,
}

impl Warnings {
    pub fn new(router: &Router, config: &Config, metrics: &Metrics) -> Warnings {
        let on_by_default = config.session.inject_warning;
        let routes = router
            .routes()
            .map(|r| {
                let on = !r.public && r.inject_warning.unwrap_or(on_by_default);
                on.then(|| metrics.injections(&r.name))
            })
            .collect();
        Warnings { routes }
    }

    /// Before forwarding a request on route `index`: whether its answer
    /// may get the tag. A `HEAD` answer has no body: counted, never.
    /// `secure` and `trusted` say how the request reached the gateway, for
    /// its origin (behind a trusted proxy, `X-Forwarded-Host`).
    pub fn plan<B>(
        &self,
        index: usize,
        req: &Request<B>,
        secure: bool,
        trusted: bool,
    ) -> Option<Plan> {
        let metrics = self.routes.get(index)?.as_ref()?;
        if req.method() == Method::HEAD {
            metrics.count(InjectResult::Head);
            return None;
        }
        let host = addressed_host(req.headers(), req.uri(), trusted);
        Some(Plan {
            metrics: metrics.clone(),
            origin: host.and_then(|h| Origin::parse(secure, h)),
        })
    }
}

/// A response that may get the tag, decided at its head.
pub struct Plan {
    metrics: InjectionMetrics,
    origin: Option<Origin>,
}

impl Plan {
    /// Injects into `resp` when it is an HTML page; anything else passes
    /// untouched.
    pub fn apply(self, resp: Response<Body>) -> Response<Body> {
        if let Some(reason) = skip_reason(resp.status(), resp.headers()) {
            self.metrics.count(reason);
            return resp;
        }
        let (mut parts, body) = resp.into_parts();
        let nonce = match csp::allow_warning(&mut parts.headers, self.origin.as_ref()) {
            Ok(nonce) => nonce,
            Err(error) => {
                warn!(%error, "expiry warning not injected");
                self.metrics.count(InjectResult::Csp);
                return Response::from_parts(parts, body);
            }
        };
        let tag = tag(nonce.as_deref());
        let headers = &mut parts.headers;
        // The announced length grows by the tag; an unknown one stays unknown.
        let length = content_length(headers).map(|n| n + tag.len() as u64);
        match length {
            Some(n) => {
                headers.insert(CONTENT_LENGTH, HeaderValue::from(n));
            }
            None => {
                headers.remove(CONTENT_LENGTH);
            }
        }
        // Ranges of the upstream's bytes no longer match these.
        headers.remove(ACCEPT_RANGES);
        if nonce.is_some() {
            // Revalidated, this copy would keep its nonce while a fresh
            // policy came with the 304: nothing to revalidate it with.
            headers.remove(ETAG);
            headers.remove(LAST_MODIFIED);
        } else {
            weaken_etag(headers);
        }
        let injector = Injector::new(tag, scan::WINDOW, length.is_some());
        let body = Body::rewritten(Injecting::new(body, injector, length, self.metrics));
        Response::from_parts(parts, body)
    }
}

/// The tag, with the nonce its policy needs.
fn tag(nonce: Option<&str>) -> Bytes {
    let tag = match nonce {
        Some(n) => format!("<script src=\"{SCRIPT_PATH}\" defer nonce=\"{n}\"></script>"),
        None => format!("<script src=\"{SCRIPT_PATH}\" defer></script>"),
    };
    Bytes::from(tag)
}

/// Why a response is not a page to inject into, if it is not.
fn skip_reason(status: StatusCode, headers: &HeaderMap) -> Option<InjectResult> {
    if status != StatusCode::OK {
        return Some(InjectResult::Status);
    }
    let html = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/html"));
    if !html {
        return Some(InjectResult::NoHtml);
    }
    let compressed = headers.get_all(CONTENT_ENCODING).iter().any(|v| {
        v.to_str().map_or(true, |v| {
            v.split(',')
                .any(|c| !c.trim().is_empty() && !c.trim().eq_ignore_ascii_case("identity"))
        })
    });
    if compressed {
        return Some(InjectResult::Compressed);
    }
    let attachment = headers
        .get(CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|d| d.trim().eq_ignore_ascii_case("attachment"));
    if attachment {
        return Some(InjectResult::Attachment);
    }
    None
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// A strong `ETag` named the upstream's bytes; these differ.
fn weaken_etag(headers: &mut HeaderMap) {
    let Some(etag) = headers.get(ETAG) else {
        return;
    };
    if etag.as_bytes().starts_with(b"W/") {
        return;
    }
    let mut weak = b"W/".to_vec();
    weak.extend_from_slice(etag.as_bytes());
    match HeaderValue::from_bytes(&weak) {
        Ok(weak) => {
            headers.insert(ETAG, weak);
        }
        Err(_) => {
            headers.remove(ETAG);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn only_plain_html_pages_are_candidates() {
        let ok = StatusCode::OK;
        let html = ("content-type", "Text/HTML; charset=utf-8");
        assert_eq!(skip_reason(ok, &headers(&[html])), None);
        assert_eq!(
            skip_reason(ok, &headers(&[html, ("content-encoding", "identity")])),
            None
        );
        for (status, pairs, want) in [
            (StatusCode::NO_CONTENT, vec![html], InjectResult::Status),
            (
                StatusCode::PARTIAL_CONTENT,
                vec![html],
                InjectResult::Status,
            ),
            (StatusCode::NOT_MODIFIED, vec![html], InjectResult::Status),
            (
                ok,
                vec![("content-type", "application/json")],
                InjectResult::NoHtml,
            ),
            (
                ok,
                vec![("content-type", "text/plain")],
                InjectResult::NoHtml,
            ),
            (ok, vec![], InjectResult::NoHtml),
            (
                ok,
                vec![html, ("content-encoding", "gzip")],
                InjectResult::Compressed,
            ),
            (
                ok,
                vec![html, ("content-disposition", "Attachment; filename=a.html")],
                InjectResult::Attachment,
            ),
        ] {
            assert_eq!(
                skip_reason(status, &headers(&pairs)),
                Some(want),
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn strong_etags_become_weak() {
        let mut h = headers(&[("etag", "\"abc\"")]);
        weaken_etag(&mut h);
        assert_eq!(h[ETAG], "W/\"abc\"");
        weaken_etag(&mut h);
        assert_eq!(h[ETAG], "W/\"abc\"");
    }

    #[test]
    fn the_script_stays_small_and_self_contained() {
        assert!(
            SCRIPT.len() < 8 * 1024,
            "warning.js is {} bytes",
            SCRIPT.len()
        );
        assert!(!SCRIPT.contains("import "), "no dependencies");
        assert!(
            !SCRIPT.contains("setAttribute(\"style\""),
            "no inline style attributes"
        );
        assert_eq!(SCRIPT_ETAG.len(), 18);
    }
}
