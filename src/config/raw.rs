//! The TOML file's shape (serde), stage one of two.
//!
//! These structs mirror SPEC §2 key for key, with the SPEC defaults, and keep
//! values as the file spells them (strings for enums, URLs and durations) so
//! that stage two ([`super::validate`]) can check every value and report all
//! problems at once instead of stopping at the first one serde meets.
//!
//! Unknown keys are not rejected with `deny_unknown_fields` here, because
//! that stops at the first one; `super::document` walks the parsed table
//! against [`field_names`] of these structs and reports every unknown key
//! with its position.

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawConfig {
    pub server: RawServer,
    pub admin: RawAdmin,
    pub log: RawLog,
    pub store: RawStore,
    pub session: RawSession,
    pub login: RawLogin,
    pub upstream: RawUpstream,
    pub route: Vec<RawRoute>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct RawServer {
    pub listen: String,
    pub tls: Option<RawTls>,
    pub trusted_proxies: Vec<String>,
    pub header_read_timeout: RawDuration,
    /// Signed so a negative number gets a range message, not a type error.
    pub max_header_bytes: i64,
    pub keepalive_timeout: RawDuration,
    pub shutdown_grace: RawDuration,
    /// `0`: sized from the open-file limit at start-up.
    pub max_connections: i64,
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            listen: "0.0.0.0:8080".into(),
            tls: None,
            trusted_proxies: Vec::new(),
            header_read_timeout: RawDuration::text("10s"),
            max_header_bytes: 65536,
            keepalive_timeout: RawDuration::text("75s"),
            shutdown_grace: RawDuration::text("30s"),
            max_connections: 0,
        }
    }
}

/// `server.tls = { cert, key }`; both are required, checked in stage two.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, expecting = "an inline table { cert = \"…\", key = \"…\" }")]
pub(crate) struct RawTls {
    pub cert: Option<String>,
    pub key: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct RawAdmin {
    pub listen: String,
    pub token_file: String,
    pub max_connections: i64,
}

impl Default for RawAdmin {
    fn default() -> Self {
        RawAdmin {
            listen: "127.0.0.1:9090".into(),
            token_file: String::new(),
            max_connections: super::limit_rules::DEFAULT_ADMIN_CONNECTIONS,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct RawLog {
    pub format: String,
    pub access_log: bool,
}

impl Default for RawLog {
    fn default() -> Self {
        RawLog {
            format: "text".into(),
            access_log: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct RawStore {
    pub url: String,
    pub key_prefix: String,
    pub op_timeout: RawDuration,
    pub ca_file: String,
    pub client_cache: bool,
    pub client_cache_entries: i64,
    pub max_sessions: i64,
}

impl Default for RawStore {
    fn default() -> Self {
        RawStore {
            url: "memory://".into(),
            key_prefix: "sessiongate:".into(),
            op_timeout: RawDuration::text("100ms"),
            ca_file: String::new(),
            client_cache: false,
            client_cache_entries: 100_000,
            max_sessions: super::limit_rules::DEFAULT_MAX_SESSIONS,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct RawSession {
    pub mode: String,
    pub cookie_name: String,
    pub cookie_path: String,
    pub cookie_domain: String,
    pub cookie_secure: RawCookieSecure,
    pub cookie_http_only: bool,
    pub cookie_same_site: String,
    pub idle_timeout: RawDuration,
    pub sliding: bool,
    pub absolute_timeout: RawDuration,
    pub browser_session: bool,
    pub touch_interval: RawDuration,
    pub key_template: String,
    pub id_pattern: String,
    pub learn_cookie: String,
    pub identity_header: String,
    pub max_sessions_per_user: i64,
    pub on_session_limit: String,
    pub inject_warning: bool,
    pub warning_before: RawDuration,
}

impl Default for RawSession {
    fn default() -> Self {
        RawSession {
            mode: "managed".into(),
            cookie_name: "sessiongate".into(),
            cookie_path: "/".into(),
            cookie_domain: String::new(),
            cookie_secure: RawCookieSecure::Text("auto".into()),
            cookie_http_only: true,
            cookie_same_site: "lax".into(),
            idle_timeout: RawDuration::text("30m"),
            sliding: true,
            absolute_timeout: RawDuration::text("0s"),
            browser_session: false,
            touch_interval: RawDuration::text("0s"),
            key_template: String::new(),
            id_pattern: String::new(),
            learn_cookie: String::new(),
            identity_header: "X-Sessiongate-User".into(),
            max_sessions_per_user: 0,
            on_session_limit: "evict_oldest".into(),
            inject_warning: false,
            warning_before: RawDuration::text("2m"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct RawLogin {
    pub url: String,
    pub next_param: String,
    pub logout_path: String,
    pub after_logout: String,
}

impl Default for RawLogin {
    fn default() -> Self {
        RawLogin {
            url: "/login".into(),
            next_param: "next".into(),
            logout_path: "/.sessiongate/logout".into(),
            after_logout: String::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct RawUpstream {
    pub url: String,
    pub connect_timeout: RawDuration,
    pub response_timeout: RawDuration,
    pub preserve_host: bool,
    pub ca_file: String,
}

impl Default for RawUpstream {
    fn default() -> Self {
        RawUpstream {
            url: "http://127.0.0.1:8000".into(),
            connect_timeout: RawDuration::text("5s"),
            response_timeout: RawDuration::text("60s"),
            preserve_host: true,
            ca_file: String::new(),
        }
    }
}

/// One `[[route]]`; `path` is required, checked in stage two.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct RawRoute {
    pub name: Option<String>,
    pub path: Option<String>,
    pub host: Option<String>,
    pub public: bool,
    pub upstream: Option<String>,
    pub on_unauthenticated: String,
    pub idle_timeout: Option<RawDuration>,
    pub extends_session: bool,
    pub inject_warning: Option<bool>,
}

impl Default for RawRoute {
    fn default() -> Self {
        RawRoute {
            name: None,
            path: None,
            host: None,
            public: false,
            upstream: None,
            on_unauthenticated: "auto".into(),
            idle_timeout: None,
            extends_session: true,
            inject_warning: None,
        }
    }
}

/// A duration as written. Numbers are accepted here and rejected in stage
/// two, so `idle_timeout = 1800` gets a hint ("write \"1800s\"") alongside
/// every other error rather than a bare serde type error.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawDuration {
    Text(String),
    Number(String),
}

impl RawDuration {
    fn text(s: &str) -> Self {
        RawDuration::Text(s.into())
    }
}

impl<'de> Deserialize<'de> for RawDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawDuration;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(r#"a duration string with a unit, e.g. "30s" or "15m""#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawDuration, E> {
                Ok(RawDuration::Text(v.into()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawDuration, E> {
                Ok(RawDuration::Number(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawDuration, E> {
                Ok(RawDuration::Number(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawDuration, E> {
                Ok(RawDuration::Number(v.to_string()))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// `cookie_secure`: `true`, `false` or the string `"auto"`; any other
/// string is kept and rejected in stage two with the valid choices.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawCookieSecure {
    Bool(bool),
    Text(String),
}

impl<'de> Deserialize<'de> for RawCookieSecure {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawCookieSecure;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(r#"true, false or "auto""#)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawCookieSecure, E> {
                Ok(RawCookieSecure::Bool(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawCookieSecure, E> {
                Ok(RawCookieSecure::Text(v.into()))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// The keys serde accepts for `T`, read from its derived `Deserialize`
/// rather than a hand-kept list that could drift from the struct.
pub(crate) fn field_names<T: de::DeserializeOwned>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldProbe(&mut fields));
    fields
}

/// A deserializer that only records the field list a derived struct asks
/// for, then stops.
struct FieldProbe<'a>(&'a mut &'static [&'static str]);

#[derive(Debug)]
struct ProbeDone;

impl std::fmt::Display for ProbeDone {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("field probe done")
    }
}

impl std::error::Error for ProbeDone {}

impl de::Error for ProbeDone {
    fn custom<T: std::fmt::Display>(_msg: T) -> Self {
        ProbeDone
    }
}

impl<'de> Deserializer<'de> for FieldProbe<'_> {
    type Error = ProbeDone;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, ProbeDone> {
        Err(ProbeDone)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, ProbeDone> {
        *self.0 = fields;
        Err(ProbeDone)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_follow_the_structs() {
        assert_eq!(field_names::<RawTls>(), ["cert", "key"]);
        assert_eq!(
            field_names::<RawAdmin>(),
            ["listen", "token_file", "max_connections"]
        );
        assert!(field_names::<RawSession>().contains(&"idle_timeout"));
        assert_eq!(field_names::<RawConfig>().len(), 8);
    }
}
