//! The gateway's own endpoints on the proxy listener (SPEC §6): the session
//! status a page can poll, the "stay signed in" refresh, and logout.

use http::header::{ALLOW, SET_COOKIE};
use http::{HeaderValue, Method, Request, Response, StatusCode};

use crate::body::Body;
use crate::config::{Config, Mode};
use crate::decide::Lookup;
use crate::gateway::Gateway;
use crate::guard::{Cookie, now_ms, status_json};
use crate::metrics::{EndReason, Reason};
use crate::respond;
use crate::session::CookieAttrs;
use crate::source;

const PREFIX: &str = "/.sessiongate/";
const SESSION: &str = "/.sessiongate/session";
const REFRESH: &str = "/.sessiongate/refresh";

/// Whether `path` is the gateway's to answer rather than the upstream's.
pub fn owns(config: &Config, path: &str) -> bool {
    path.starts_with(PREFIX) || path == config.login.logout_path
}

/// Answers a request for one of the gateway's own endpoints.
pub async fn answer<B>(gateway: &Gateway, req: &Request<B>, secure: bool) -> Response<Body> {
    let config = gateway.config();
    let path = req.uri().path();
    let method = req.method();
    let json = respond::wants_json(req.headers());
    if path == config.login.logout_path {
        return match *method {
            Method::GET | Method::POST => logout(gateway, req, secure).await,
            _ => method_not_allowed("GET, POST"),
        };
    }
    match path {
        SESSION if *method == Method::GET || *method == Method::HEAD => status(gateway, req).await,
        REFRESH if *method == Method::POST => refresh(gateway, req, secure).await,
        SESSION => method_not_allowed("GET, HEAD"),
        REFRESH => method_not_allowed("POST"),
        _ => respond::not_found(json),
    }
}

fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut resp = respond::json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &serde_json::json!({ "error": "method_not_allowed" }),
    );
    resp.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    resp
}

fn not_authenticated() -> Response<Body> {
    respond::json_response(
        StatusCode::OK,
        &serde_json::json!({ "authenticated": false }),
    )
}

/// `GET /.sessiongate/session`: never slides the TTL, so a page may poll it.
async fn status<B>(gateway: &Gateway, req: &Request<B>) -> Response<Body> {
    let config = gateway.config();
    let Cookie::Present(id) = source::read(config, req.headers()) else {
        return not_authenticated();
    };
    match gateway.guard().peek(config, &id).await {
        Lookup::Live(found) => {
            respond::json_response(StatusCode::OK, &status_json(&found, now_ms()))
        }
        Lookup::StoreFailed => respond::unavailable(true),
        Lookup::NoCookie | Lookup::Malformed | Lookup::Unknown => not_authenticated(),
    }
}

/// `POST /.sessiongate/refresh`: slides the TTL now; 401 without a session.
async fn refresh<B>(gateway: &Gateway, req: &Request<B>, secure: bool) -> Response<Body> {
    let config = gateway.config();
    let attrs = CookieAttrs::named(&config.session, source::cookie_name(config), secure);
    let location = gateway.login_location(req);
    let expired = |reason, clear: bool| {
        let mut resp = respond::session_expired(reason, &location);
        if clear {
            resp.headers_mut().append(SET_COOKIE, attrs.clear());
        }
        resp
    };
    let id = match source::read(config, req.headers()) {
        Cookie::Absent => return expired(Reason::Missing, false),
        Cookie::Malformed => return expired(Reason::Invalid, true),
        Cookie::Present(id) => id,
    };
    match gateway.guard().refresh(config, &id).await {
        Lookup::Live(found) => {
            gateway.metrics().session_refreshed();
            let mut resp = respond::json_response(StatusCode::OK, &status_json(&found, now_ms()));
            // Only the gateway's own cookie is ever re-issued.
            if config.session.mode == Mode::Managed && !found.record.browser {
                resp.headers_mut()
                    .append(SET_COOKIE, attrs.set(id.expose(), Some(found.ttl)));
            }
            resp
        }
        Lookup::StoreFailed => respond::unavailable(true),
        Lookup::NoCookie | Lookup::Malformed | Lookup::Unknown => expired(Reason::Expired, true),
    }
}

/// The logout path: ends the session in the store, clears the cookie and
/// sends the browser to `after_logout`. A store outage answers 503 rather
/// than pretending: the server-side session would otherwise live on.
async fn logout<B>(gateway: &Gateway, req: &Request<B>, secure: bool) -> Response<Body> {
    let config = gateway.config();
    if let Cookie::Present(id) = source::read(config, req.headers()) {
        match gateway.guard().end(config, &id).await {
            Ok(true) => gateway.metrics().session_ended(EndReason::Logout),
            Ok(false) => {}
            Err(_) => return respond::unavailable(respond::wants_json(req.headers())),
        }
    }
    let mut resp = respond::login_redirect(&config.login.after_logout);
    // The cookie that carries sessions in this mode: in observe mode the
    // application's `learn_cookie`, not the gateway's own.
    let cookie = CookieAttrs::named(&config.session, source::cookie_name(config), secure);
    resp.headers_mut().append(SET_COOKIE, cookie.clear());
    resp
}
