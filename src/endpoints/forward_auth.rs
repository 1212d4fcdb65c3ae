//! Forward-auth (SPEC §11): the session check answered to a fronting proxy
//! (nginx `auth_request`, ingress-nginx `auth-url`, Traefik `forwardAuth`,
//! Caddy `forward_auth`) instead of forwarding the request itself.
//!
//! ```text
//! sub-request → the original request (its headers, [`original`])
//!   → a request view: original method and target, the sub-request's
//!     Cookie, Accept and X-Requested-With
//!   → route match → Sessions::check → 200 + identity (+ Set-Cookie),
//!     or the refusal: 401 + Location (request), section 5's (forward)
//! ```
//!
//! The check is the proxy path's own: the same router (normalised paths,
//! public routes, route idle limits, `extends_session`), the same
//! `Sessions::check` (one store round trip; it slides like a forwarded
//! request), the same refusal and the same way back (`Sessions::after`,
//! which re-issues a slid managed session's cookie). Counted in the
//! original route's metrics like a proxied request.
//!
//! **Whose headers.** The original-request headers are read whoever the
//! peer is, before `control_headers::strip_forged` (which removes
//! `X-Forwarded-Uri` and `X-Original-URL` from untrusted peers on the
//! proxy path), so no `trusted_proxies` entry is needed. That is safe
//! because nothing is forwarded here: the answer is about the caller's own
//! cookie, which it could ask about by requesting that path through the
//! proxy listener. What keeps a client from steering the check is the
//! fronting proxy setting these headers itself (the README's configs do),
//! and the rule that every description present must agree ([`original`]).

use std::sync::Arc;

use http::header::{ACCEPT, CACHE_CONTROL, COOKIE, LOCATION};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, Uri};
use tracing::debug;

use crate::body::Body;
use crate::metrics::{AuthAnswer, Outcome};
use crate::record::Record;
use crate::respond;
use crate::route::{self, Router};
use crate::session::{SessionError, Sessions, Verdict};

pub use crate::metrics::AuthEndpoint as Endpoint;

pub mod original;

use original::{Original, OriginalError};

/// nginx `auth_request`, ingress-nginx `auth-url`.
pub const AUTH_REQUEST: &str = "/.sessiongate/auth/request";
/// Traefik `forwardAuth`, Caddy `forward_auth`.
pub const AUTH_FORWARD: &str = "/.sessiongate/auth/forward";

const X_REQUESTED_WITH: HeaderName = HeaderName::from_static("x-requested-with");

/// The forward-auth endpoint at `path`, if it is one.
pub fn endpoint(path: &str) -> Option<Endpoint> {
    match path {
        AUTH_REQUEST => Some(Endpoint::Request),
        AUTH_FORWARD => Some(Endpoint::Forward),
        _ => None,
    }
}

/// Answers a forward-auth sub-request. `tls`: the sub-request itself came
/// over TLS. A store failure is the caller's to answer (`503`, never a
/// logout).
pub async fn answer<B>(
    endpoint: Endpoint,
    router: &Router,
    sessions: &Arc<Sessions>,
    req: &Request<B>,
    tls: bool,
    record: &mut Record,
) -> Result<Response<Body>, SessionError> {
    let metrics = sessions.metrics();
    let original = match Original::read(req.headers(), req.method()) {
        Ok(original) => original,
        Err(error) => {
            debug!(%error, "forward-auth sub-request without one original request");
            metrics.forward_auth(endpoint, AuthAnswer::BadRequest);
            return Ok(bad_request(&error));
        }
    };
    let mut view = request_view(&original, req);
    let host = match original.host.as_deref() {
        Some(host) => Some(host),
        None => route::request_host(req.version(), req.headers(), req.uri())
            .ok()
            .flatten(),
    };
    let matched = router.route(host, view.uri().path());
    record.route(matched.index);
    let secure = tls || original.https;
    let verdict = sessions
        .check(matched.route, &mut view, secure, &mut record.store)
        .await;
    match verdict {
        Verdict::Forward(passage) => {
            let outcome = passage.outcome();
            let mut resp = Response::new(Body::empty());
            resp.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            let identity = &sessions.config().session.identity_header;
            if outcome == Outcome::Forwarded
                && let Some(user) = view.headers_mut().remove(identity)
            {
                resp.headers_mut().insert(identity.clone(), user);
            }
            // The way back of a proxied request, on an empty answer: a slid
            // managed session's cookie is re-issued exactly as there.
            sessions
                .after(&mut resp, passage, &mut record.store)
                .await?;
            record.outcome(outcome);
            let answer = match outcome {
                Outcome::Public => AuthAnswer::Public,
                _ => AuthAnswer::Allowed,
            };
            metrics.forward_auth(endpoint, answer);
            Ok(resp)
        }
        Verdict::Refuse(refused) => {
            record.refused(refused.outcome(), refused.reason);
            metrics.forward_auth(endpoint, AuthAnswer::Refused);
            Ok(match endpoint {
                Endpoint::Forward => sessions.refusal(refused, &view),
                Endpoint::Request => {
                    let location = sessions.login_location(&view);
                    let mut resp = sessions.refusal(refused.as_unauthorized(), &view);
                    if let Ok(location) = HeaderValue::try_from(location) {
                        resp.headers_mut().insert(LOCATION, location);
                    }
                    resp
                }
            })
        }
        Verdict::Unavailable(error) => {
            metrics.forward_auth(endpoint, AuthAnswer::Unavailable);
            Err(error)
        }
    }
}

/// The original request as the session step sees it: its method and
/// target, and the sub-request's `Cookie`, `Accept` and `X-Requested-With`
/// (nothing else, so no header of the sub-request can pass as the
/// identity the check sets).
fn request_view<B>(original: &Original, req: &Request<B>) -> Request<()> {
    let mut view = Request::new(());
    *view.method_mut() = original.method.clone();
    *view.uri_mut() = Uri::from(original.target.clone());
    let headers = view.headers_mut();
    for name in [COOKIE, ACCEPT, X_REQUESTED_WITH] {
        for value in req.headers().get_all(&name) {
            headers.append(name.clone(), value.clone());
        }
    }
    crate::session::cookie::join_cookie_headers(headers);
    view
}

/// `400` naming what is missing or wrong in the original-request headers.
fn bad_request(error: &OriginalError) -> Response<Body> {
    respond::json_response(
        StatusCode::BAD_REQUEST,
        &serde_json::json!({ "error": "bad_forward_auth_request", "detail": error.to_string() }),
    )
}
