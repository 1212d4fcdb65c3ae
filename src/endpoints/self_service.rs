//! Users governing their own sessions (SPEC §9): list them, end one, end
//! all the others. API endpoints: without a valid session always `401`
//! JSON, never a redirect; reading the list never slides the session.

use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use serde_json::json;
use tracing::info;

use super::method_not_allowed;
use crate::body::Body;
use crate::clock::now_ms;
use crate::config::Mode;
use crate::respond;
use crate::session::{Current, SessionError, Sessions};

const REVOKE_OTHERS: &str = "revoke-others";

/// Answers `/.sessiongate/sessions` and what lies below it.
pub async fn answer<B>(
    sessions: &Sessions,
    req: &Request<B>,
    secure: bool,
    store_time: &mut Duration,
) -> Result<Response<Body>, SessionError> {
    let below = req.uri().path().strip_prefix("/.sessiongate/sessions");
    // `None` for the list; `Some(None)` for revoke-others; `Some(Some(h))`
    // for one handle; anything else is not ours.
    let target = match below {
        Some("") => None,
        Some(rest) => match rest.strip_prefix('/') {
            Some(REVOKE_OTHERS) => Some(None),
            Some(rest) => match rest.strip_suffix("/revoke") {
                Some(handle) if !handle.contains('/') => Some(Some(handle)),
                _ => return Ok(respond::not_found(true)),
            },
            None => return Ok(respond::not_found(true)),
        },
        None => return Ok(respond::not_found(true)),
    };
    let method = req.method();
    match (&target, method) {
        (None, &Method::GET | &Method::HEAD) | (Some(_), &Method::POST) => {}
        (None, _) => return Ok(method_not_allowed("GET, HEAD")),
        (Some(_), _) => return Ok(method_not_allowed("POST")),
    }
    if sessions.config().session.mode != Mode::Managed {
        return Ok(respond::json_response(
            StatusCode::CONFLICT,
            &json!({ "error": "unsupported_mode" }),
        ));
    }
    let (user, id) = match sessions
        .current(req.headers(), secure, false, store_time)
        .await?
    {
        Current::Live { found, id, .. } => match found.record.user {
            Some(user) => (user, id),
            None => return Ok(respond::not_found(true)),
        },
        Current::Refused(refused) => return Ok(sessions.refusal(refused, req)),
    };
    match target {
        None => {
            let now = now_ms();
            let listed: Vec<_> = sessions
                .list(&user, store_time)
                .await?
                .iter()
                .map(|l| {
                    let mut entry = l.json(now);
                    entry["current"] = json!(l.is(Some(&id)));
                    entry
                })
                .collect();
            Ok(respond::json_response(
                StatusCode::OK,
                &json!({ "user": user, "sessions": listed }),
            ))
        }
        Some(None) => {
            let revoked = sessions.revoke_user(&user, Some(&id), store_time).await?;
            info!(revoked, "a user revoked their other sessions");
            Ok(respond::json_response(
                StatusCode::OK,
                &json!({ "revoked": revoked }),
            ))
        }
        Some(Some(handle)) => {
            if sessions
                .revoke_handle(handle, Some(&user), store_time)
                .await?
            {
                info!("a user revoked one of their sessions");
                Ok(respond::json_response(
                    StatusCode::OK,
                    &json!({ "revoked": 1 }),
                ))
            } else {
                Ok(respond::not_found(true))
            }
        }
    }
}
