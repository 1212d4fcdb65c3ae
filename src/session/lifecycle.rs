//! Sessions beginning and ending: the managed-mode control headers the
//! upstream sends (`Sessiongate-Login`, `Sessiongate-Logout`), and the
//! record a new session starts with, in managed and observe mode alike.

use std::time::Duration;

use http::HeaderValue;

use crate::clock::millis;
use crate::config::SessionConfig;
use crate::store::Record;

/// A new session's record and the TTL it is stored with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub record: Record,
    pub ttl: Duration,
}

impl NewSession {
    /// A session starting at `now_ms`. `max_age` is Django's `set_expiry()`
    /// from `Sessiongate-Login`: N seconds overrides the idle timeout, zero
    /// makes a browser session with the configured idle timeout; without
    /// it, `browser` says whether the cookie is a browser session. The TTL
    /// is the idle timeout, capped by `absolute_timeout`.
    pub fn begin(
        session: &SessionConfig,
        user: Option<String>,
        max_age: Option<Duration>,
        browser: bool,
        now_ms: u64,
    ) -> NewSession {
        let (idle, browser) = match max_age {
            None => (session.idle_timeout, browser),
            Some(Duration::ZERO) => (session.idle_timeout, true),
            Some(age) => (age, false),
        };
        let cap = session.absolute_timeout;
        NewSession {
            record: Record {
                user,
                started_ms: now_ms,
                idle,
                deadline_ms: cap.map(|cap| now_ms.saturating_add(millis(cap))),
                browser,
                touched_ms: now_ms,
            },
            ttl: cap.map_or(idle, |cap| idle.min(cap)),
        }
    }

    /// The cookie's Max-Age: `None` for a browser session.
    pub fn max_age(&self) -> Option<Duration> {
        (!self.record.browser).then_some(self.ttl)
    }
}

/// A parsed `Sessiongate-Login` header: `user=alice; max-age=300`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginHeader {
    pub user: String,
    /// `Some(ZERO)` is a browser session (`set_expiry(0)`).
    pub max_age: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginHeaderError {
    #[error("Sessiongate-Login is not visible ASCII")]
    NotAscii(#[source] http::header::ToStrError),
    #[error("Sessiongate-Login has no user=")]
    NoUser,
    #[error("Sessiongate-Login max-age is not a whole number of seconds")]
    BadMaxAge(#[source] std::num::ParseIntError),
    #[error("Sessiongate-Login has an unknown attribute {0:?} (expected user, max-age)")]
    UnknownAttribute(String),
}

impl LoginHeader {
    pub fn parse(value: &HeaderValue) -> Result<LoginHeader, LoginHeaderError> {
        let text = value.to_str().map_err(LoginHeaderError::NotAscii)?;
        let mut user = None;
        let mut max_age = None;
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, val) = part.split_once('=').unwrap_or((part, ""));
            match key.trim().to_ascii_lowercase().as_str() {
                "user" => user = Some(val.trim().to_owned()),
                "max-age" => {
                    let secs: u64 = val.trim().parse().map_err(LoginHeaderError::BadMaxAge)?;
                    max_age = Some(Duration::from_secs(secs));
                }
                other => return Err(LoginHeaderError::UnknownAttribute(other.to_owned())),
            }
        }
        match user {
            Some(user) if !user.is_empty() => Ok(LoginHeader { user, max_age }),
            _ => Err(LoginHeaderError::NoUser),
        }
    }
}

/// Whether `Sessiongate-Logout` asks to end the session (`1` or `true`).
pub fn is_logout(value: &HeaderValue) -> bool {
    matches!(value.as_bytes(), b"1" | b"true")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_header() {
        let parse = |s: &str| LoginHeader::parse(&HeaderValue::from_str(s).unwrap());
        assert_eq!(
            parse("user=alice; max-age=300").unwrap(),
            LoginHeader {
                user: "alice".into(),
                max_age: Some(Duration::from_secs(300))
            }
        );
        assert_eq!(parse("user=bob").unwrap().max_age, None);
        assert_eq!(
            parse("User=bob; Max-Age=0").unwrap().max_age,
            Some(Duration::ZERO)
        );
        assert!(matches!(parse("max-age=3"), Err(LoginHeaderError::NoUser)));
        assert!(matches!(parse("user="), Err(LoginHeaderError::NoUser)));
        assert!(matches!(
            parse("user=a; max-age=-1"),
            Err(LoginHeaderError::BadMaxAge(_))
        ));
        assert!(matches!(
            parse("user=a; maxage=1"),
            Err(LoginHeaderError::UnknownAttribute(_))
        ));
    }

    #[test]
    fn new_sessions_follow_set_expiry_and_the_absolute_cap() {
        let mut cfg = crate::config::Config::default().session;
        let now = 1_000_000;
        let plain = NewSession::begin(&cfg, Some("a".into()), None, false, now);
        assert_eq!(plain.ttl, cfg.idle_timeout);
        assert_eq!(plain.max_age(), Some(cfg.idle_timeout));
        assert_eq!(plain.record.deadline_ms, None);
        let short = NewSession::begin(&cfg, None, Some(Duration::from_secs(5)), false, now);
        assert_eq!(
            (short.ttl, short.record.idle),
            (Duration::from_secs(5), Duration::from_secs(5))
        );
        let browser = NewSession::begin(&cfg, None, Some(Duration::ZERO), false, now);
        assert!(browser.record.browser);
        assert_eq!(browser.max_age(), None);
        assert!(
            NewSession::begin(&cfg, None, None, true, now)
                .record
                .browser
        );
        cfg.absolute_timeout = Some(Duration::from_secs(60));
        let capped = NewSession::begin(&cfg, None, None, false, now);
        assert_eq!(capped.ttl, Duration::from_secs(60));
        assert_eq!(capped.record.deadline_ms, Some(now + 60_000));
    }
}
