//! Where a request's session comes from, by mode (SPEC §4): which cookie
//! carries the id, how the id is taken out of it, and under which store key
//! the session lives.
//!
//! | mode     | cookie                 | id                                   | key                        |
//! |----------|------------------------|--------------------------------------|----------------------------|
//! | managed  | `cookie_name` (ours)   | the value                            | `key_prefix` + id          |
//! | external | `cookie_name` (app's)  | the value, or `id_pattern`'s `id`    | `key_template` with `{id}` |
//! | observe  | `learn_cookie` (app's) | the value, or `id_pattern`'s `id`    | `key_prefix` + id          |
//!
//! Ids are validated before any key is built from them.

use std::borrow::Cow;

use http::HeaderMap;
use percent_encoding::percent_decode_str;

use std::time::Duration;

use crate::clock::millis;
use crate::config::{Config, Mode};
use crate::session::SessionId;
use crate::session::cookie::find_cookie;
use crate::store::{ForeignFound, Found, Record};

/// The request's session cookie, validated.
#[derive(Debug)]
pub enum Cookie {
    Absent,
    Malformed,
    Present(SessionId),
}

impl Cookie {
    pub fn id(&self) -> Option<&SessionId> {
        match self {
            Cookie::Present(id) => Some(id),
            Cookie::Absent | Cookie::Malformed => None,
        }
    }

    pub fn into_id(self) -> Option<SessionId> {
        match self {
            Cookie::Present(id) => Some(id),
            Cookie::Absent | Cookie::Malformed => None,
        }
    }
}

/// The name of the cookie that carries the session in this mode.
pub fn cookie_name(config: &Config) -> &str {
    let session = &config.session;
    match session.mode {
        Mode::Managed | Mode::External => &session.cookie_name,
        Mode::Observe => session
            .learn_cookie
            .as_deref()
            .unwrap_or(&session.cookie_name),
    }
}

/// Reads and validates the session id of a request.
pub fn read(config: &Config, headers: &HeaderMap) -> Cookie {
    match find_cookie(headers, cookie_name(config)) {
        None => Cookie::Absent,
        Some(value) => from_value(config, value),
    }
}

/// The session id in a cookie value (a request's, or one the application
/// sets in observe mode): the value itself, or what `id_pattern` extracts
/// from its percent-decoded form; validated either way.
pub fn from_value(config: &Config, value: &str) -> Cookie {
    let id: Cow<'_, str> = match &config.session.id_pattern {
        None => Cow::Borrowed(value),
        // The pattern sees the percent-decoded value (express-session sends
        // `s%3A<id>.<signature>`); a value it does not match is invalid.
        Some(pattern) => {
            let Ok(decoded) = percent_decode_str(value).decode_utf8() else {
                return Cookie::Malformed;
            };
            match pattern.captures(&decoded).and_then(|c| c.name("id")) {
                Some(id) => Cow::Owned(id.as_str().to_owned()),
                None => return Cookie::Malformed,
            }
        }
    };
    match SessionId::parse(&id) {
        Ok(id) => Cookie::Present(id),
        Err(_) => Cookie::Malformed,
    }
}

/// Whether `id` is the session id of one of `values`: cookie values the
/// request carried beside the checked one, which observe mode never
/// registers (the application may have read one of them instead).
pub fn carried(config: &Config, values: &[String], id: &SessionId) -> bool {
    values
        .iter()
        .any(|value| value == id.expose() || from_value(config, value).id() == Some(id))
}

/// The store key of a session.
pub fn key(config: &Config, id: &SessionId) -> String {
    match (&config.session.mode, &config.session.key_template) {
        (Mode::External, Some(template)) => template.replace("{id}", id.expose()),
        _ => {
            let prefix = &config.store.key_prefix;
            let mut key = String::with_capacity(prefix.len() + id.expose().len());
            key.push_str(prefix);
            key.push_str(id.expose());
            key
        }
    }
}

/// External mode: an application's key seen as a session. Idle time is
/// what the TTL has lost since it was last set to `idle` (a key the
/// application gave a longer TTL counts as fresh; one without expiry never
/// idles out).
pub fn foreign_found(found: ForeignFound, idle: Duration, now_ms: u64) -> Found {
    let ttl_before = found.ttl_before.unwrap_or(idle);
    let idle_for = millis(idle.saturating_sub(ttl_before));
    Found {
        record: Record {
            user: None,
            started_ms: now_ms.saturating_sub(idle_for),
            idle,
            deadline_ms: None,
            browser: false,
            touched_ms: now_ms.saturating_sub(idle_for),
        },
        ttl_before,
        ttl: found.ttl.unwrap_or(idle),
        extended: found.extended,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn config(extra: &str) -> Config {
        Config::from_toml_str(&format!(
            "[store]\nurl = \"redis://127.0.0.1:6379\"\n[session]\n{extra}"
        ))
        .unwrap()
    }

    fn cookie(line: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("cookie", HeaderValue::from_static(line));
        h
    }

    fn present(c: Cookie) -> String {
        match c {
            Cookie::Present(id) => id.expose().to_owned(),
            other => panic!("expected an id, got {other:?}"),
        }
    }

    #[test]
    fn managed_reads_our_cookie_under_the_prefix() {
        let c = config("");
        let id = present(read(&c, &cookie("sessiongate=abc123")));
        assert_eq!(
            key(&c, &SessionId::parse(&id).unwrap()),
            "sessiongate:abc123"
        );
    }

    #[test]
    fn express_session_ids_come_out_of_the_signed_cookie() {
        let c = config(
            "mode = \"external\"\ncookie_name = \"connect.sid\"\n\
             id_pattern = '^s:(?P<id>[^.]+)\\.'\nkey_template = \"sess:{id}\"",
        );
        let id = present(read(
            &c,
            &cookie("connect.sid=s%3AvJ9k-Qx3pL0.Zm9vYmFyc2lnbmF0dXJl%2Bx"),
        ));
        assert_eq!(id, "vJ9k-Qx3pL0");
        assert_eq!(key(&c, &SessionId::parse(&id).unwrap()), "sess:vJ9k-Qx3pL0");
        for bad in [
            "connect.sid=garbage",
            "connect.sid=s%3A.sig",
            "connect.sid=%FF%FE",
        ] {
            let h = {
                let mut h = HeaderMap::new();
                h.insert("cookie", HeaderValue::from_str(bad).unwrap());
                h
            };
            assert!(matches!(read(&c, &h), Cookie::Malformed), "{bad}");
        }
        // An id the pattern extracts is still held to the id alphabet.
        assert!(matches!(
            read(&c, &cookie("connect.sid=s%3Aa%20b.sig")),
            Cookie::Malformed
        ));
    }

    #[test]
    fn django_cache_keys_use_the_raw_value() {
        let c = config(
            "mode = \"external\"\ncookie_name = \"sessionid\"\n\
             key_template = \":1:django.contrib.sessions.cache{id}\"",
        );
        let id = present(read(&c, &cookie("sessionid=q1w2e3r4t5y6u7i8o9p0")));
        assert_eq!(
            key(&c, &SessionId::parse(&id).unwrap()),
            ":1:django.contrib.sessions.cacheq1w2e3r4t5y6u7i8o9p0"
        );
    }

    #[test]
    fn observe_reads_the_application_cookie() {
        let c = config("mode = \"observe\"\nlearn_cookie = \"PHPSESSID\"");
        assert_eq!(cookie_name(&c), "PHPSESSID");
        let id = present(read(&c, &cookie("sessiongate=x; PHPSESSID=abc")));
        assert_eq!(key(&c, &SessionId::parse(&id).unwrap()), "sessiongate:abc");
        assert!(matches!(read(&c, &cookie("sessiongate=x")), Cookie::Absent));
    }

    #[test]
    fn carried_values_match_by_id() {
        let c = config(
            "mode = \"observe\"\nlearn_cookie = \"connect.sid\"\n\
             id_pattern = '^s:(?P<id>[^.]+)\\.'",
        );
        let victim = SessionId::parse("VICTIM").unwrap();
        assert!(carried(&c, &["s%3AVICTIM.sig".into()], &victim));
        assert!(carried(&c, &["VICTIM".into()], &victim));
        assert!(!carried(
            &c,
            &["s%3AOTHER.sig".into(), "bad".into()],
            &victim
        ));
        assert!(!carried(&c, &[], &victim));
    }
}
