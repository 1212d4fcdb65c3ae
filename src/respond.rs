//! Every answer the gateway makes itself (as opposed to forwarding).
//!
//! Plain functions returning `Response<Body>`; each answer carries
//! `Cache-Control: no-store` so no cache keeps a gateway error (or, later, a
//! login redirect) in place of the application's page. Errors are mapped to
//! these functions in exactly one place: `gateway::GatewayError::into_response`.

use http::header::{ACCEPT, CACHE_CONTROL, CONNECTION, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Response, StatusCode};

use crate::body::Body;
use crate::metrics::Reason;

const X_REQUESTED_WITH: &str = "x-requested-with";

/// Whether the client wants a JSON answer rather than an HTML page: its
/// `Accept` prefers `application/json` over `text/html`, or it says
/// `X-Requested-With: XMLHttpRequest` (what fetch/XHR wrappers send).
pub fn wants_json(headers: &HeaderMap) -> bool {
    let xhr = headers
        .get(X_REQUESTED_WITH)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"XMLHttpRequest"));
    if xhr {
        return true;
    }
    let (mut json, mut html) = (0.0_f32, 0.0_f32);
    for value in headers.get_all(ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for range in value.split(',') {
            let mut parts = range.split(';');
            // Compared without lowercasing: no allocation per media range.
            let media = parts.next().unwrap_or("").trim();
            let is_json = media.eq_ignore_ascii_case("application/json");
            if !is_json && !media.eq_ignore_ascii_case("text/html") {
                continue;
            }
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if is_json {
                json = json.max(q);
            } else {
                html = html.max(q);
            }
        }
    }
    json > html
}

/// `400 Bad Request` for a request whose framing cannot be trusted; the
/// connection is closed because its byte stream can no longer be trusted.
pub fn bad_request(json: bool) -> Response<Body> {
    let mut resp = page(
        StatusCode::BAD_REQUEST,
        json,
        "bad_request",
        "The request could not be understood.",
    );
    resp.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// `405` for methods the gateway never proxies (`CONNECT`). The
/// connection is closed: a client that asked for a tunnel may already be
/// sending tunnel bytes, which must not be read as the next request.
pub fn method_not_allowed(json: bool) -> Response<Body> {
    let mut resp = page(
        StatusCode::METHOD_NOT_ALLOWED,
        json,
        "method_not_allowed",
        "This method is not allowed here.",
    );
    resp.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// `431` for an HTTP/2 head with more header fields than an HTTP/1.1 one
/// may carry (SPEC §5's row for oversized heads). The stream ends; the
/// connection's other streams go on.
pub fn header_fields_too_large(json: bool) -> Response<Body> {
    page(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        json,
        "header_fields_too_large",
        "The request carries too many header fields.",
    )
}

/// `502` when the upstream refused or broke the connection.
pub fn bad_gateway(json: bool) -> Response<Body> {
    page(
        StatusCode::BAD_GATEWAY,
        json,
        "bad_gateway",
        "The application is not answering. Please try again shortly.",
    )
}

/// `504` when the upstream sent no response headers within `response_timeout`.
pub fn gateway_timeout(json: bool) -> Response<Body> {
    page(
        StatusCode::GATEWAY_TIMEOUT,
        json,
        "gateway_timeout",
        "The application took too long to answer. Please try again shortly.",
    )
}

/// `500` for a failure inside the gateway that no request could cause.
pub fn internal_error(json: bool) -> Response<Body> {
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        json,
        "internal_error",
        "Something went wrong in the gateway. Please try again shortly.",
    )
}

/// `409` for a login refused by `max_sessions_per_user = limit` with
/// `on_session_limit = "refuse"` (SPEC §9): it replaces the login
/// application's answer, and no session was created.
pub fn session_limit(limit: u32, json: bool) -> Response<Body> {
    if json {
        return json_response(
            StatusCode::CONFLICT,
            &serde_json::json!({ "error": "session_limit", "limit": limit }),
        );
    }
    let noun = if limit == 1 { "session" } else { "sessions" };
    page(
        StatusCode::CONFLICT,
        false,
        "session_limit",
        &format!(
            "You are already signed in on {limit} {noun}, the most allowed. Sign out \
             elsewhere, then sign in here again."
        ),
    )
}

/// `403` for a cross-site `POST` to one of the gateway's own endpoints:
/// nothing changed.
pub fn cross_site() -> Response<Body> {
    json_response(
        StatusCode::FORBIDDEN,
        &serde_json::json!({ "error": "cross_site_request" }),
    )
}

/// How long a client should wait before retrying while the store is out.
const RETRY_AFTER_SECS: &str = "1";

/// `302 Found` to the login page (`location` already carries a safe `next`).
pub fn login_redirect(location: &str) -> Response<Body> {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::FOUND;
    let headers = resp.headers_mut();
    match HeaderValue::try_from(location) {
        Ok(value) => headers.insert(LOCATION, value),
        // The config validated the login URL and `next` is percent-encoded:
        // an unencodable location cannot happen, but never panic for it.
        Err(_) => headers.insert(LOCATION, HeaderValue::from_static("/")),
    };
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `401` for API clients without a valid session (SPEC §5).
pub fn session_expired(reason: Reason, login_url: &str) -> Response<Body> {
    let body = serde_json::json!({
        "error": "session_expired",
        "reason": reason.as_str(),
        "login_url": login_url,
    });
    json_response(StatusCode::UNAUTHORIZED, &body)
}

/// `503` with `Retry-After` when the store is unreachable or too slow: never
/// a login redirect, never a cleared cookie.
pub fn unavailable(json: bool) -> Response<Body> {
    let mut resp = page(
        StatusCode::SERVICE_UNAVAILABLE,
        json,
        "session_store_unavailable",
        "Sessions cannot be checked right now. Please try again in a moment.",
    );
    resp.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
    resp
}

/// `404` for an unknown path under the gateway's own `/.sessiongate/` prefix.
pub fn not_found(json: bool) -> Response<Body> {
    page(StatusCode::NOT_FOUND, json, "not_found", "No such page.")
}

/// A JSON answer of the gateway's own endpoints, never cached.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let mut resp = Response::new(Body::full(body.to_string()));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// A small HTML page, or `{"error":CODE}` for clients that want JSON.
fn page(status: StatusCode, json: bool, code: &str, message: &str) -> Response<Body> {
    let (content_type, body) = if json {
        (
            "application/json",
            serde_json::json!({ "error": code }).to_string(),
        )
    } else {
        let title = format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        );
        (
            "text/html; charset=utf-8",
            format!(
                "<!doctype html>\n<html><head><title>{title}</title></head>\
                 <body><h1>{title}</h1><p>{message}</p></body></html>\n"
            ),
        )
    };
    let mut resp = Response::new(Body::full(body));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::headers;

    #[test]
    fn wants_json_follows_accept_preference() {
        assert!(wants_json(&headers(&[("accept", "application/json")])));
        assert!(!wants_json(&headers(&[(
            "accept",
            "text/html,application/xhtml+xml,*/*;q=0.8"
        )])));
        assert!(wants_json(&headers(&[(
            "accept",
            "text/html;q=0.5, application/json"
        )])));
        assert!(!wants_json(&headers(&[(
            "accept",
            "application/json;q=0.9, text/html"
        )])));
        assert!(!wants_json(&headers(&[("accept", "*/*")])));
        assert!(!wants_json(&HeaderMap::new()));
    }

    #[test]
    fn wants_json_for_xhr() {
        assert!(wants_json(&headers(&[(
            "x-requested-with",
            "xmlhttprequest"
        )])));
    }

    #[test]
    fn every_answer_is_no_store() {
        for resp in [
            bad_request(false),
            method_not_allowed(true),
            bad_gateway(false),
            gateway_timeout(true),
            login_redirect("/login?next=/"),
            session_expired(Reason::Expired, "/login"),
            unavailable(false),
            not_found(true),
            internal_error(false),
        ] {
            assert_eq!(resp.headers()[CACHE_CONTROL], "no-store");
        }
        assert_eq!(bad_request(true).headers()[CONNECTION], "close");
        assert_eq!(unavailable(true).headers()[RETRY_AFTER], "1");
    }
}
