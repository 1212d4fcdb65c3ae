//! The operator page's server side: the demo app calls the gateway's admin
//! API (SPEC §9) and `/metrics` (SPEC §7) itself, holding the bearer
//! token, and gives its page only the answers as JSON from its own routes.
//! The browser never sees the token, as an operator console must not.
//!
//! | demo route (signed in) | admin listener |
//! |---|---|
//! | `GET /operator/api/sessions?user=U` | `GET /sessions?user=U` |
//! | `POST /operator/api/sessions/revoke?user=U` | `DELETE /sessions?user=U` |
//! | `POST /operator/api/sessions/HANDLE/revoke` | `DELETE /sessions/HANDLE` |
//! | `GET /operator/api/redirects` | `GET /metrics`, `sessiongate_redirects_total` only |
//!
//! The POSTs change sessions, so they only come from this origin: a
//! cross-site `Origin` or `Sec-Fetch-Site` gets `403`, as the gateway's own
//! self-service endpoints do.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, HOST, HeaderValue, ORIGIN};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;

use super::form;
use super::reply::{Body, json, json_error};

/// One admin call; the admin listener is on this machine and answers at once.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(3);
/// A listing or the metrics page; far larger means something is wrong.
const MAX_ADMIN_BODY: usize = 4 * 1024 * 1024;
/// SPEC §9: a handle is at most 64 URL-safe characters.
const MAX_HANDLE_LEN: usize = 64;
const REDIRECTS_METRIC: &str = "sessiongate_redirects_total";

/// Where the gateway's admin listener is, and its session API token.
#[derive(Clone)]
pub struct AdminApi {
    addr: SocketAddr,
    token: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl fmt::Debug for AdminApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminApi")
            .field("addr", &self.addr)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// Why an admin call got no answer.
#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("cannot reach the admin listener")]
    Unreachable(#[source] hyper_util::client::legacy::Error),
    #[error("the admin listener did not answer within {ADMIN_TIMEOUT:?}")]
    Timeout,
    #[error("the admin listener's answer could not be read")]
    Body,
}

impl AdminApi {
    /// The admin listener at `addr` (plain HTTP), with the session API
    /// token `token`.
    pub fn new(addr: SocketAddr, token: impl Into<String>) -> AdminApi {
        AdminApi {
            addr,
            token: token.into(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// `method path_and_query` on the admin listener; `bearer`: with the
    /// token (the session API), or without (`/metrics` needs none).
    async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        bearer: bool,
    ) -> Result<(StatusCode, Bytes), CallError> {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("http://{}{path_and_query}", self.addr))
            .header(http::header::ACCEPT, "application/json");
        if bearer {
            // Built from our own hex token: always a valid header value.
            if let Ok(value) = HeaderValue::from_str(&format!("Bearer {}", self.token)) {
                req = req.header(AUTHORIZATION, value);
            }
        }
        let Ok(req) = req.body(Full::default()) else {
            return Err(CallError::Body);
        };
        let answer = async {
            let res = self
                .client
                .request(req)
                .await
                .map_err(CallError::Unreachable)?;
            let status = res.status();
            let body = Limited::new(res.into_body(), MAX_ADMIN_BODY)
                .collect()
                .await
                .map_err(|_| CallError::Body)?
                .to_bytes();
            Ok((status, body))
        };
        tokio::time::timeout(ADMIN_TIMEOUT, answer)
            .await
            .unwrap_or(Err(CallError::Timeout))
    }
}

/// A request to `/operator/api/…` from a signed-in user.
pub(super) async fn api(
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    admin: Option<&AdminApi>,
) -> http::Response<Body> {
    let Some(rest) = path.strip_prefix("/operator/api/") else {
        return json_error(StatusCode::NOT_FOUND, "not_found");
    };
    let user = || {
        query
            .and_then(|q| form::field(q, "user"))
            .filter(|u| !u.is_empty())
    };
    let post = *method == Method::POST;
    if post && !same_origin(headers) {
        return json_error(StatusCode::FORBIDDEN, "cross_site");
    }
    let Some(admin) = admin else {
        // `sessiongate demo-app` alone: no gateway of ours to ask.
        return json_error(StatusCode::SERVICE_UNAVAILABLE, "admin_api_not_configured");
    };
    match (rest, post) {
        ("redirects", false) => redirects(admin).await,
        ("sessions", false) => match user() {
            Some(user) => {
                let call = admin.call(Method::GET, &sessions_query(&user), true).await;
                relay(call, NotFound::ApiOff)
            }
            None => json_error(StatusCode::BAD_REQUEST, "user_required"),
        },
        ("sessions/revoke", true) => match user() {
            Some(user) => {
                let call = admin
                    .call(Method::DELETE, &sessions_query(&user), true)
                    .await;
                relay(call, NotFound::ApiOff)
            }
            None => json_error(StatusCode::BAD_REQUEST, "user_required"),
        },
        (rest, true) => match rest
            .strip_prefix("sessions/")
            .and_then(|r| r.strip_suffix("/revoke"))
            .filter(|h| is_handle(h))
        {
            Some(handle) => {
                let call = admin
                    .call(Method::DELETE, &format!("/sessions/{handle}"), true)
                    .await;
                relay(call, NotFound::NoSuchSession)
            }
            None => json_error(StatusCode::NOT_FOUND, "not_found"),
        },
        (_, false) => json_error(StatusCode::NOT_FOUND, "not_found"),
    }
}

fn sessions_query(user: &str) -> String {
    format!(
        "/sessions?user={}",
        utf8_percent_encode(user, NON_ALPHANUMERIC)
    )
}

/// SPEC §9 handles: 1 to 64 URL-safe characters (the base64url alphabet;
/// no dots, so never `.` or `..`). Anything else cannot name a session,
/// and must not reach the admin path.
fn is_handle(text: &str) -> bool {
    (1..=MAX_HANDLE_LEN).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// What a `404` from the session API means: with no token configured every
/// path is `404`; for `DELETE /sessions/HANDLE` it is also "no such session".
#[derive(Clone, Copy)]
enum NotFound {
    ApiOff,
    NoSuchSession,
}

/// The admin API's answer, for the page: its JSON as it is when it
/// succeeded; otherwise an error the page can explain.
fn relay(
    call: Result<(StatusCode, Bytes), CallError>,
    not_found: NotFound,
) -> http::Response<Body> {
    let (status, body) = match call {
        Ok(answer) => answer,
        Err(error) => {
            tracing::warn!(%error, "demo operator page: admin API call failed");
            return json_error(StatusCode::BAD_GATEWAY, "admin_unreachable");
        }
    };
    match (status, not_found) {
        (StatusCode::OK, _) => json(StatusCode::OK, body),
        (StatusCode::NOT_FOUND, NotFound::NoSuchSession) => {
            json_error(StatusCode::NOT_FOUND, "not_found")
        }
        (StatusCode::NOT_FOUND, NotFound::ApiOff) => {
            json_error(StatusCode::BAD_GATEWAY, "admin_api_off")
        }
        (StatusCode::UNAUTHORIZED, _) => {
            json_error(StatusCode::BAD_GATEWAY, "admin_token_rejected")
        }
        (StatusCode::CONFLICT, _) => json_error(StatusCode::CONFLICT, "unsupported_mode"),
        (other, _) => {
            tracing::warn!(status = %other, "demo operator page: unexpected admin API answer");
            json_error(StatusCode::BAD_GATEWAY, "admin_api_error")
        }
    }
}

/// Whether a POST comes from a page of this origin: no cross-site or
/// same-site `Sec-Fetch-Site`, and an `Origin` (when sent) naming the
/// `Host` asked for. A client that sends neither (curl) is let through:
/// it carries no one else's cookie.
fn same_origin(headers: &HeaderMap) -> bool {
    let fetch_site = headers
        .get("sec-fetch-site")
        .map(|v| v.as_bytes().to_ascii_lowercase());
    if fetch_site.is_some_and(|site| site != b"same-origin" && site != b"none") {
        return false;
    }
    let Some(origin) = headers.get(ORIGIN) else {
        return true;
    };
    let authority = origin.to_str().ok().and_then(|o| {
        o.strip_prefix("http://")
            .or_else(|| o.strip_prefix("https://"))
    });
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h))
}

/// One `sessiongate_redirects_total` series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct Redirects {
    pub route: String,
    pub reason: String,
    pub count: f64,
}

async fn redirects(admin: &AdminApi) -> http::Response<Body> {
    match admin.call(Method::GET, "/metrics", false).await {
        Ok((StatusCode::OK, body)) => {
            let series = parse_redirects(&String::from_utf8_lossy(&body));
            json(
                StatusCode::OK,
                serde_json::json!({ "redirects": series }).to_string(),
            )
        }
        Ok((status, _)) => {
            tracing::warn!(%status, "demo operator page: /metrics did not answer 200");
            json_error(StatusCode::BAD_GATEWAY, "metrics_unavailable")
        }
        Err(error) => {
            tracing::warn!(%error, "demo operator page: cannot read /metrics");
            json_error(StatusCode::BAD_GATEWAY, "admin_unreachable")
        }
    }
}

/// The `sessiongate_redirects_total{route,reason}` samples of a Prometheus
/// (or OpenMetrics) text page, sorted by route, then reason.
pub(super) fn parse_redirects(text: &str) -> Vec<Redirects> {
    let mut series: Vec<Redirects> = text
        .lines()
        .filter_map(|line| line.strip_prefix(REDIRECTS_METRIC)?.strip_prefix('{'))
        .filter_map(|rest| {
            let (labels, rest) = parse_labels(rest)?;
            let count = rest.split_whitespace().next()?.parse::<f64>().ok()?;
            let label = |name: &str| {
                labels
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            };
            Some(Redirects {
                route: label("route")?,
                reason: label("reason")?,
                count,
            })
        })
        .collect();
    series.sort_by(|a, b| (&a.route, &a.reason).cmp(&(&b.route, &b.reason)));
    series
}

/// `k="v",k2="v2"}` (the text after `{`): the pairs, unescaped, and what
/// follows the `}`. `None` when it is not well formed.
fn parse_labels(text: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        if let Some(after) = rest.strip_prefix('}') {
            return Some((labels, after));
        }
        let (key, after_key) = rest.split_once('=')?;
        let mut chars = after_key.strip_prefix('"')?.char_indices();
        let mut value = String::new();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (_, c) => value.push(c),
            }
        };
        labels.push((key.trim().to_owned(), value));
        rest = &after_key[1 + end + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_series_are_read_from_the_metrics_page() {
        let text = "# HELP sessiongate_redirects Requests sent to login.\n\
                    # TYPE sessiongate_redirects counter\n\
                    sessiongate_redirects_total{route=\"default\",reason=\"missing\"} 3\n\
                    sessiongate_redirects_total{reason=\"expired\",route=\"default\"} 1 1700000000\n\
                    sessiongate_redirects_total{route=\"a \\\"b\\\"\\\\c\",reason=\"invalid\"} 2.0\n\
                    sessiongate_redirects_total_other{route=\"x\",reason=\"y\"} 9\n\
                    sessiongate_requests_total{route=\"default\",outcome=\"redirected\"} 4\n\
                    sessiongate_redirects_total{route=\"broken} 5\n\
                    # EOF\n";
        let series = parse_redirects(text);
        let got: Vec<_> = series
            .iter()
            .map(|s| (s.route.as_str(), s.reason.as_str(), s.count))
            .collect();
        assert_eq!(
            got,
            [
                ("a \"b\"\\c", "invalid", 2.0),
                ("default", "expired", 1.0),
                ("default", "missing", 3.0),
            ]
        );
    }

    #[test]
    fn handles_are_url_safe_and_short() {
        assert!(is_handle("h_1-AZ"));
        assert!(is_handle(&"a".repeat(64)));
        assert!(!is_handle(""));
        assert!(!is_handle(&"a".repeat(65)));
        for bad in ["a/b", "..%2f", "..", ".", "a?b", "a b", "é"] {
            assert!(!is_handle(bad), "{bad}");
        }
    }

    #[test]
    fn only_same_origin_posts_are_let_through() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            map.insert(HOST, HeaderValue::from_static("127.0.0.1:8080"));
            for (k, v) in pairs {
                map.insert(*k, HeaderValue::from_static(v));
            }
            map
        };
        assert!(same_origin(&headers(&[])));
        assert!(same_origin(&headers(&[
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin"),
        ])));
        assert!(!same_origin(&headers(&[(
            "origin",
            "http://127.0.0.1:9999"
        )])));
        assert!(!same_origin(&headers(&[("origin", "null")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "same-site")])));
    }

    #[test]
    fn the_token_is_not_in_debug_output() {
        let api = AdminApi::new("127.0.0.1:1".parse().unwrap(), "s3cr3t");
        assert!(!format!("{api:?}").contains("s3cr3t"));
    }
}
