//! Observe mode: learning sessions from the application's `Set-Cookie`.
//!
//! [`learned`] is pure: given an upstream response's headers, what did the
//! application do with its session cookie? `Sessions::learn` then
//! registers or ends sessions.

use std::time::Duration;

use http::HeaderMap;
use http::header::SET_COOKIE;
use tracing::warn;

use super::lifecycle::NewSession;
use super::source::{self, Cookie};
use super::{Passage, SessionError, Sessions};
use crate::clock::now_ms;
use crate::metrics::EndReason;

impl Sessions {
    /// Observe mode: the application set or deleted its session cookie.
    /// A set value becomes a session under the gateway's prefix, and the
    /// application's previous session, if the request carried one, ends
    /// (the application rotated its id).
    pub(super) async fn learn(
        &self,
        headers: &HeaderMap,
        passage: &Passage,
        store_time: &mut Duration,
    ) -> Result<(), SessionError> {
        let name = source::cookie_name(&self.config);
        let now = now_ms();
        let now_unix = i64::try_from(now / 1000).unwrap_or(i64::MAX);
        let old = passage.id.as_ref();
        let value = match learned(headers, name, now_unix) {
            None => return Ok(()),
            Some(Learned::Deleted) => {
                if let Some(old) = old {
                    self.end(old, store_time).await?;
                    self.metrics.session_ended(EndReason::Upstream);
                }
                return Ok(());
            }
            Some(Learned::Set(value)) => value,
        };
        let id = match source::from_value(&self.config, &value) {
            Cookie::Present(id) => id,
            Cookie::Absent | Cookie::Malformed => {
                warn!(
                    cookie = name,
                    "the application's session cookie holds no session id (1-256 bytes \
                     of [A-Za-z0-9._~+/=,-], or what session.id_pattern extracts from \
                     the percent-decoded value): not registered"
                );
                return Ok(());
            }
        };
        // The application re-sent the value the request carried (rolling
        // cookies): not a new session. The live one keeps its start and
        // deadline, and an expired one stays expired (a replayed old
        // cookie must not come back to life).
        if old == Some(&id) {
            return Ok(());
        }
        // A value the request carried beside the checked one: the gateway
        // never vouched for it, whoever set it.
        if source::carried(&self.config, &passage.unchecked, &id) {
            warn!(
                cookie = name,
                "the application set its session cookie to a value the request carried \
                 in an unchecked occurrence: not registered"
            );
            return Ok(());
        }
        if let Some(old) = old {
            let _ = self.end(old, store_time).await;
        }
        let new = NewSession::begin(&self.config.session, None, None, false, now);
        self.create(&id, &new, store_time).await?;
        self.metrics.session_created(self.config.session.mode);
        Ok(())
    }
}

/// What a response did to the application's session cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Learned {
    /// The cookie was set to this value: a session to register.
    Set(String),
    /// The cookie was deleted (`Max-Age<=0`, an `Expires` in the past, or an
    /// empty value): the session ends.
    Deleted,
}

/// The last `Set-Cookie` for `name` in `headers` (browsers apply them in
/// order, so the last one wins), judged at `now_unix` seconds.
pub fn learned(headers: &HeaderMap, name: &str, now_unix: i64) -> Option<Learned> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .rev()
        .filter_map(|value| value.to_str().ok())
        .find_map(|line| judge(line, name, now_unix))
}

fn judge(line: &str, name: &str, now_unix: i64) -> Option<Learned> {
    let cookie = cookie::Cookie::parse(line).ok()?;
    if cookie.name() != name {
        return None;
    }
    let value = cookie.value_trimmed();
    // RFC 6265 §5.2.2: a Max-Age of zero or less expires the cookie now;
    // §5.3 step 3: Max-Age, when present, wins over Expires.
    let deleted = value.is_empty()
        || match cookie.max_age() {
            Some(age) => age.whole_seconds() <= 0,
            None => cookie
                .expires_datetime()
                .is_some_and(|at| at.unix_timestamp() <= now_unix),
        };
    Some(if deleted {
        Learned::Deleted
    } else {
        Learned::Set(value.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const NOW: i64 = 1_790_000_000; // 2026-09

    fn headers(lines: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for line in lines {
            h.append(SET_COOKIE, HeaderValue::from_static(line));
        }
        h
    }

    #[test]
    fn learns_the_value_among_several_cookies() {
        let h = headers(&[
            "theme=dark; Path=/",
            "appsession=abc123; Path=/; HttpOnly; SameSite=Lax",
            "other=1",
        ]);
        assert_eq!(
            learned(&h, "appsession", NOW),
            Some(Learned::Set("abc123".into()))
        );
        assert_eq!(learned(&headers(&["theme=dark"]), "appsession", NOW), None);
        // A longer name with our name as prefix is another cookie.
        assert_eq!(
            learned(&headers(&["appsession2=x"]), "appsession", NOW),
            None
        );
    }

    #[test]
    fn the_last_set_cookie_wins() {
        let h = headers(&["appsession=old", "appsession=new"]);
        assert_eq!(
            learned(&h, "appsession", NOW),
            Some(Learned::Set("new".into()))
        );
        let h = headers(&["appsession=new", "appsession=; Max-Age=0"]);
        assert_eq!(learned(&h, "appsession", NOW), Some(Learned::Deleted));
    }

    #[test]
    fn deletion_by_max_age_expires_or_empty_value() {
        for line in [
            "appsession=x; Max-Age=0",
            "appsession=x; max-age=-1",
            "appsession=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            "appsession=x; expires=Thu, 01-Jan-1970 00:00:00 GMT",
            "appsession=; Path=/",
            "appsession=\"\"",
            "appsession=x; Max-Age=0; Expires=Fri, 01 Jan 2100 00:00:00 GMT",
        ] {
            let h = headers(&[line]);
            assert_eq!(
                learned(&h, "appsession", NOW),
                Some(Learned::Deleted),
                "{line}"
            );
        }
    }

    #[test]
    fn future_expiry_and_positive_max_age_are_sets() {
        for line in [
            "appsession=x; Max-Age=3600",
            "appsession=x; Expires=Fri, 01 Jan 2100 00:00:00 GMT",
            "appsession=x; Expires=garbage",
            // RFC 6265 §5.3: Max-Age wins over Expires, whatever their order.
            "appsession=x; Max-Age=3600; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            "appsession=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=3600",
        ] {
            let h = headers(&[line]);
            assert_eq!(
                learned(&h, "appsession", NOW),
                Some(Learned::Set("x".into())),
                "{line}"
            );
        }
    }
}
