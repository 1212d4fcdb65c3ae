//! The admin session API (SPEC §9) on the admin listener: operators list
//! and end a user's sessions, or one session by its handle.
//!
//! Checked in this order: no token configured → `404` for every path here;
//! a missing or wrong bearer token → `401`; external or observe mode →
//! `409` (only managed mode knows whose a session is).

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use percent_encoding::percent_decode_str;
use serde_json::json;
use tracing::{info, warn};

use super::token::AdminToken;
use crate::clock::now_ms;
use crate::config::Mode;
use crate::session::Sessions;
use crate::store::StoreError;

const SESSIONS: &str = "/sessions";

/// Whether `path` belongs to the session API.
pub fn owns(path: &str) -> bool {
    path == SESSIONS || path.starts_with("/sessions/")
}

/// Answers a session API request.
pub async fn answer<B>(
    sessions: &Sessions,
    token: Option<&AdminToken>,
    req: &Request<B>,
) -> Response<Full<Bytes>> {
    let Some(token) = token else {
        return reply(
            StatusCode::NOT_FOUND,
            json!({ "error": "not_found", "hint": "the session API is off: set admin.token_file or SESSIONGATE_ADMIN_TOKEN" }),
        );
    };
    if !bearer(req).is_some_and(|presented| token.matches(presented)) {
        let mut resp = reply(StatusCode::UNAUTHORIZED, json!({ "error": "unauthorized" }));
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return resp;
    }
    if sessions.config().session.mode != Mode::Managed {
        return reply(StatusCode::CONFLICT, json!({ "error": "unsupported_mode" }));
    }
    let mut store_time = Duration::ZERO;
    let path = req.uri().path();
    let result = match (req.method(), path.strip_prefix("/sessions/")) {
        (&Method::GET, None) => match user_param(req) {
            Some(user) => list(sessions, &user, &mut store_time).await,
            None => Ok(missing_user()),
        },
        (&Method::DELETE, None) => match user_param(req) {
            Some(user) => revoke_user(sessions, &user, &mut store_time).await,
            None => Ok(missing_user()),
        },
        (&Method::DELETE, Some(handle)) => revoke_handle(sessions, handle, &mut store_time).await,
        (_, None) => Ok(method_not_allowed("GET, DELETE")),
        (_, Some(_)) => Ok(method_not_allowed("DELETE")),
    };
    result.unwrap_or_else(|error| {
        warn!(%error, "session API: the store failed");
        let mut resp = reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "error": "session_store_unavailable" }),
        );
        resp.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        resp
    })
}

async fn list(
    sessions: &Sessions,
    user: &str,
    store_time: &mut Duration,
) -> Result<Response<Full<Bytes>>, StoreError> {
    let live = sessions.list(user, store_time).await?;
    let now = now_ms();
    let listed: Vec<_> = live.iter().map(|l| l.json(now)).collect();
    Ok(reply(
        StatusCode::OK,
        json!({ "user": user, "sessions": listed }),
    ))
}

async fn revoke_user(
    sessions: &Sessions,
    user: &str,
    store_time: &mut Duration,
) -> Result<Response<Full<Bytes>>, StoreError> {
    let revoked = sessions.revoke_user(user, None, store_time).await?;
    info!(revoked, "session API: revoked every session of a user");
    Ok(reply(StatusCode::OK, json!({ "revoked": revoked })))
}

async fn revoke_handle(
    sessions: &Sessions,
    handle: &str,
    store_time: &mut Duration,
) -> Result<Response<Full<Bytes>>, StoreError> {
    if sessions.revoke_handle(handle, None, store_time).await? {
        info!("session API: revoked one session by its handle");
        Ok(reply(StatusCode::OK, json!({ "revoked": 1 })))
    } else {
        Ok(reply(
            StatusCode::NOT_FOUND,
            json!({ "error": "not_found" }),
        ))
    }
}

/// The presented bearer token, if any.
fn bearer<B>(req: &Request<B>) -> Option<&[u8]> {
    let value = req.headers().get(header::AUTHORIZATION)?.as_bytes();
    let scheme = value.get(..7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| value[7..].trim_ascii())
}

/// The `user` query parameter, percent-decoded; `None` when absent or empty.
fn user_param<B>(req: &Request<B>) -> Option<String> {
    let query = req.uri().query()?;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == "user")
        .map(|(_, value)| value.replace('+', " "))
        .and_then(|value| {
            percent_decode_str(&value)
                .decode_utf8()
                .ok()
                .map(|v| v.into_owned())
        })
        .filter(|user| !user.is_empty())
}

fn missing_user() -> Response<Full<Bytes>> {
    reply(
        StatusCode::BAD_REQUEST,
        json!({ "error": "missing_user", "hint": "name the user: /sessions?user=NAME" }),
    )
}

fn method_not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut resp = reply(
        StatusCode::METHOD_NOT_ALLOWED,
        json!({ "error": "method_not_allowed" }),
    );
    resp.headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static(allow));
    resp
}

fn reply(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(auth: Option<&str>, uri: &str) -> Request<()> {
        let mut b = Request::get(uri);
        if let Some(auth) = auth {
            b = b.header("authorization", auth);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn bearer_tokens_and_user_params() {
        assert_eq!(bearer(&req(Some("Bearer abc"), "/")), Some(&b"abc"[..]));
        assert_eq!(bearer(&req(Some("bearer  abc "), "/")), Some(&b"abc"[..]));
        assert_eq!(bearer(&req(Some("Basic abc"), "/")), None);
        assert_eq!(bearer(&req(None, "/")), None);
        let user = |uri| user_param(&req(None, uri));
        assert_eq!(user("/sessions?user=alice").as_deref(), Some("alice"));
        assert_eq!(user("/sessions?x=1&user=a%40b.c").as_deref(), Some("a@b.c"));
        assert_eq!(user("/sessions?user=a+b").as_deref(), Some("a b"));
        assert_eq!(user("/sessions?user="), None);
        assert_eq!(user("/sessions"), None);
    }
}
