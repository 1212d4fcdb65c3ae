//! Every answer the gateway makes itself (as opposed to forwarding).
//!
//! Plain functions returning `Response<Body>`; each answer carries
//! `Cache-Control: no-store` so no cache keeps a gateway error (or, later, a
//! login redirect) in place of the application's page. Errors are mapped to
//! these functions in exactly one place: `gateway::GatewayError::into_response`.

use http::header::{ACCEPT, CACHE_CONTROL, CONNECTION, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Response, StatusCode};

use crate::body::Body;

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
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "application/json" => json = json.max(q),
                "text/html" => html = html.max(q),
                _ => {}
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

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

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
        ] {
            assert_eq!(resp.headers()[CACHE_CONTROL], "no-store");
        }
        assert_eq!(bad_request(true).headers()[CONNECTION], "close");
    }
}
