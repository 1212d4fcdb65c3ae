//! The gateway's own endpoints on the proxy listener: the session status a
//! page can poll, the "stay signed in" refresh and logout (SPEC §6), and
//! the self-service session endpoints (SPEC §9, [`self_service`]), and the
//! forward-auth checks (SPEC §11, [`forward_auth`]). They
//! take the session layer, and refuse exactly as it decides. Every `POST`
//! here refuses cross-site requests ([`origin`]).

use std::time::Duration;

use http::header::{ALLOW, SET_COOKIE};
use http::{HeaderValue, Method, Request, Response, StatusCode};

use crate::body::Body;
use crate::clock::now_ms;
use crate::config::Config;
use crate::metrics::EndReason;
use crate::respond;
use crate::session::decide::Lookup;
use crate::session::source::{self, Cookie};
use crate::session::{Current, SessionError, Sessions};
use crate::store::{Found, Touch};

pub mod forward_auth;
pub(crate) mod origin;
mod self_service;

const PREFIX: &str = "/.sessiongate/";
const SESSION: &str = "/.sessiongate/session";
const REFRESH: &str = "/.sessiongate/refresh";
const SESSIONS: &str = "/.sessiongate/sessions";

/// How the request reached the gateway, for `Secure` cookies and the
/// cross-site check.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    /// Over TLS (or https from a trusted proxy).
    pub secure: bool,
    /// The peer is a trusted proxy: its `X-Forwarded-Host` is believed.
    pub trusted: bool,
}

/// Whether `path` is the gateway's to answer rather than the upstream's.
pub fn owns(config: &Config, path: &str) -> bool {
    path.starts_with(PREFIX) || path == config.login.logout_path
}

/// Whether the endpoint at `path` answers in JSON whatever the client's
/// `Accept` says (its errors too): the session status, refresh and the
/// self-service endpoints are APIs.
pub fn speaks_json(path: &str) -> bool {
    path == SESSION || path == REFRESH || path.starts_with(SESSIONS)
}

/// Answers a request for one of the gateway's own endpoints. `store_time`
/// gathers the time spent in the store.
pub async fn answer<B>(
    sessions: &Sessions,
    req: &Request<B>,
    caller: Caller,
    store_time: &mut Duration,
) -> Result<Response<Body>, SessionError> {
    let config = sessions.config();
    let path = req.uri().path();
    let method = req.method();
    if *method == Method::POST
        && origin::is_cross_site(req.headers(), req.uri(), caller.secure, caller.trusted)
    {
        return Ok(respond::cross_site());
    }
    if path == config.login.logout_path {
        return match *method {
            Method::GET | Method::POST => logout(sessions, req, caller.secure, store_time).await,
            _ => Ok(method_not_allowed("GET, POST")),
        };
    }
    if path == SESSIONS || path.starts_with("/.sessiongate/sessions/") {
        return self_service::answer(sessions, req, caller.secure, store_time).await;
    }
    match path {
        crate::inject::SCRIPT_PATH if *method == Method::GET || *method == Method::HEAD => {
            Ok(crate::inject::script(req.headers()))
        }
        crate::inject::SCRIPT_PATH => Ok(method_not_allowed("GET, HEAD")),
        SESSION if *method == Method::GET || *method == Method::HEAD => {
            status(sessions, req, store_time).await
        }
        REFRESH if *method == Method::POST => {
            refresh(sessions, req, caller.secure, store_time).await
        }
        SESSION => Ok(method_not_allowed("GET, HEAD")),
        REFRESH => Ok(method_not_allowed("POST")),
        _ => Ok(respond::not_found(respond::wants_json(req.headers()))),
    }
}

pub(crate) fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut resp = respond::json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &serde_json::json!({ "error": "method_not_allowed" }),
    );
    resp.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    resp
}

/// `GET /.sessiongate/session`: never slides the TTL, so a page may poll it.
async fn status<B>(
    sessions: &Sessions,
    req: &Request<B>,
    store_time: &mut Duration,
) -> Result<Response<Body>, SessionError> {
    let cookie = source::read(sessions.config(), req.headers());
    let touch = Touch {
        now_ms: now_ms(),
        extend: false,
        min_step: Duration::ZERO,
        max_idle: None,
    };
    let body = match sessions.lookup(&cookie, &touch, store_time).await? {
        Lookup::Live(found) => with_warning(sessions, status_json(&found, touch.now_ms)),
        Lookup::NoCookie | Lookup::Malformed | Lookup::Unknown => {
            serde_json::json!({ "authenticated": false })
        }
    };
    Ok(respond::json_response(StatusCode::OK, &body))
}

/// A live session's status also says when the warning script should warn
/// (`warning_before`, seconds; SPEC §12).
fn with_warning(sessions: &Sessions, mut body: serde_json::Value) -> serde_json::Value {
    body["warning_before"] = sessions.config().session.warning_before.as_secs().into();
    body
}

/// `POST /.sessiongate/refresh`: slides the TTL now; 401 without a session.
async fn refresh<B>(
    sessions: &Sessions,
    req: &Request<B>,
    secure: bool,
    store_time: &mut Duration,
) -> Result<Response<Body>, SessionError> {
    match sessions
        .current(req.headers(), secure, true, store_time)
        .await?
    {
        Current::Live { found, reissue, .. } => {
            sessions.metrics().session_refreshed();
            let body = with_warning(sessions, status_json(&found, now_ms()));
            let mut resp = respond::json_response(StatusCode::OK, &body);
            if let Some(cookie) = reissue {
                resp.headers_mut().append(SET_COOKIE, cookie);
            }
            Ok(resp)
        }
        Current::Refused(refused) => Ok(sessions.refusal(refused, req)),
    }
}

/// The logout path: ends the session in the store, clears the cookie and
/// sends the browser to `after_logout`. A store outage answers 503 rather
/// than pretending: the server-side session would otherwise live on.
async fn logout<B>(
    sessions: &Sessions,
    req: &Request<B>,
    secure: bool,
    store_time: &mut Duration,
) -> Result<Response<Body>, SessionError> {
    if let Cookie::Present(id) = source::read(sessions.config(), req.headers())
        && sessions.end(&id, store_time).await?
    {
        sessions.metrics().session_ended(EndReason::Logout);
    }
    let mut resp = respond::login_redirect(&sessions.config().login.after_logout);
    // The cookie that carries sessions in this mode: in observe mode the
    // application's `learn_cookie`, not the gateway's own.
    let clear = sessions.cookie_attrs(secure).clear()?;
    resp.headers_mut().append(SET_COOKIE, clear);
    Ok(resp)
}

/// The body of `GET /.sessiongate/session` for a live session (SPEC §6).
pub fn status_json(found: &Found, now_ms: u64) -> serde_json::Value {
    let record = &found.record;
    let mut body = serde_json::json!({
        "authenticated": true,
        "expires_in": found.ttl.as_secs(),
        // The same to the millisecond (an addition to SPEC §6's keys):
        // `expires_in` is truncated, so a countdown built on it runs up to
        // a second early; the warning script (SPEC §12) uses this one.
        "expires_in_ms": u64::try_from(found.ttl.as_millis()).unwrap_or(u64::MAX),
        "idle_timeout": record.idle.as_secs(),
        "absolute_expires_in": record.deadline_ms.map(|d| d.saturating_sub(now_ms) / 1000),
        "browser_session": record.browser,
    });
    // External and observe sessions have no known user: no `user` key.
    if let Some(user) = &record.user {
        body["user"] = serde_json::Value::from(user.as_str());
    }
    body
}
