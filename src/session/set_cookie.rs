//! The `Set-Cookie` the gateway writes for the session cookie: set,
//! re-issued with a new lifetime, or cleared.

use std::fmt::Write as _;
use std::time::Duration;

use http::HeaderValue;

use crate::config::{CookieSecure, SameSite, SessionConfig};

/// A `Set-Cookie` that is not a valid header value. `check` refuses every
/// cookie name, path and domain that could make one, and ids are validated,
/// so this is never expected; it is an error rather than a panic because
/// with `panic = "abort"` a panic would end every connection.
#[derive(Debug, thiserror::Error)]
#[error("the session cookie's attributes do not form a valid Set-Cookie header")]
pub struct InvalidCookie(#[from] http::header::InvalidHeaderValue);

/// How the session cookie is written for one request.
#[derive(Debug, Clone, Copy)]
pub struct CookieAttrs<'a> {
    pub name: &'a str,
    pub path: &'a str,
    pub domain: Option<&'a str>,
    pub secure: bool,
    pub http_only: bool,
    pub same_site: SameSite,
}

impl<'a> CookieAttrs<'a> {
    /// The configured attributes; `secure_request` says whether the request
    /// came over TLS (or https from a trusted proxy), for `cookie_secure = "auto"`.
    pub fn new(cfg: &'a SessionConfig, secure_request: bool) -> CookieAttrs<'a> {
        CookieAttrs::named(cfg, &cfg.cookie_name, secure_request)
    }

    /// The same attributes for another cookie name (observe mode clears the
    /// application's cookie).
    pub fn named(cfg: &'a SessionConfig, name: &'a str, secure_request: bool) -> CookieAttrs<'a> {
        CookieAttrs {
            name,
            path: &cfg.cookie_path,
            domain: cfg.cookie_domain.as_deref(),
            secure: match cfg.cookie_secure {
                CookieSecure::Always => true,
                CookieSecure::Never => false,
                CookieSecure::Auto => secure_request,
            },
            http_only: cfg.cookie_http_only,
            same_site: cfg.cookie_same_site,
        }
    }

    /// `Set-Cookie` for a live session. `max_age: None` is a browser session
    /// (no Max-Age/Expires). Max-Age is rounded *up* to whole seconds so the
    /// cookie never expires before the session does on the server.
    pub fn set(
        &self,
        value: &str,
        max_age: Option<Duration>,
    ) -> Result<HeaderValue, InvalidCookie> {
        // One allocation, sized for the usual attributes.
        let mut out = String::with_capacity(self.name.len() + value.len() + self.path.len() + 96);
        out.push_str(self.name);
        out.push('=');
        out.push_str(value);
        if let Some(age) = max_age {
            let secs = age.as_millis().div_ceil(1000);
            let _ = write!(out, "; Max-Age={secs}");
        }
        self.attributes(&mut out);
        Ok(HeaderValue::try_from(out)?)
    }

    /// `Set-Cookie` that deletes the cookie: same Path and Domain as when set.
    pub fn clear(&self) -> Result<HeaderValue, InvalidCookie> {
        let mut out = format!(
            "{}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            self.name
        );
        self.attributes(&mut out);
        Ok(HeaderValue::try_from(out)?)
    }

    fn attributes(&self, out: &mut String) {
        out.push_str("; Path=");
        out.push_str(self.path);
        if let Some(domain) = self.domain {
            out.push_str("; Domain=");
            out.push_str(domain);
        }
        if self.secure {
            out.push_str("; Secure");
        }
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        out.push_str(match self.same_site {
            SameSite::Strict => "; SameSite=Strict",
            SameSite::Lax => "; SameSite=Lax",
            SameSite::None => "; SameSite=None",
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SessionConfig {
        crate::config::Config::default().session
    }

    #[test]
    fn set_cookie_attributes() {
        let mut c = cfg();
        c.cookie_domain = Some("example.com".into());
        let attrs = CookieAttrs::new(&c, true);
        assert_eq!(
            attrs
                .set("abc", Some(Duration::from_millis(299_001)))
                .unwrap(),
            "sessiongate=abc; Max-Age=300; Path=/; Domain=example.com; Secure; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            attrs.set("abc", None).unwrap(),
            "sessiongate=abc; Path=/; Domain=example.com; Secure; HttpOnly; SameSite=Lax"
        );
        let defaults = cfg();
        let plain = CookieAttrs::new(&defaults, false);
        assert_eq!(
            plain.clear().unwrap(),
            "sessiongate=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; SameSite=Lax"
        );
    }

    /// Every cookie name, path and domain `check` accepts makes a valid
    /// header: the builder's error path is unreachable from a valid config.
    #[test]
    fn every_accepted_config_makes_a_valid_set_cookie() {
        let toml = "[session]\ncookie_name = \"!#$%&'*+-.^_`|~Az09\"\n\
                    cookie_path = \"/ä/\u{7e}:@=,é\"\ncookie_domain = \".a-b.example\"\n";
        let config = crate::config::Config::from_toml_str(toml).expect("accepted");
        for secure in [false, true] {
            let attrs = CookieAttrs::new(&config.session, secure);
            let id = crate::session::SessionId::generate().unwrap();
            assert!(attrs.set(id.expose(), Some(Duration::MAX)).is_ok());
            assert!(attrs.set(id.expose(), None).is_ok());
            assert!(attrs.clear().is_ok());
        }
        // What check refuses is what could break the header.
        for bad in [
            "cookie_path = \"/a\\tb\"",
            "cookie_path = \"/a\\u007fb\"",
            "cookie_name = \"a b\"",
            "cookie_domain = \"a;b\"",
        ] {
            assert!(
                crate::config::Config::from_toml_str(&format!("[session]\n{bad}\n")).is_err(),
                "{bad}"
            );
        }
    }

    mod props {
        use proptest::prelude::*;

        use super::*;
        use crate::config::Config;

        /// A `[session]` the configuration accepts, from random attributes.
        fn config() -> impl Strategy<Value = Config> {
            (
                "[!#$%&*+.^_`|~A-Za-z0-9-]{1,16}",
                "/[A-Za-z0-9._~!$&()*+,=:@/-]{0,16}",
                prop::option::of("\\.?[a-z0-9]{1,8}(\\.[a-z0-9]{1,8}){0,2}"),
                prop_oneof![Just("true"), Just("false"), Just("\"auto\"")],
                any::<bool>(),
                prop_oneof![Just("strict"), Just("lax"), Just("none")],
            )
                .prop_filter_map(
                    "refused by check",
                    |(name, path, domain, secure, http_only, site)| {
                        let domain = domain.unwrap_or_default();
                        Config::from_toml_str(&format!(
                            "[session]\ncookie_name = '{name}'\ncookie_path = '{path}'\n\
                         cookie_domain = '{domain}'\ncookie_secure = {secure}\n\
                         cookie_http_only = {http_only}\ncookie_same_site = '{site}'\n"
                        ))
                        .ok()
                    },
                )
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

            /// What the gateway writes reads back as the same cookie, with a
            /// Max-Age of the lifetime rounded up to whole seconds.
            #[test]
            fn set_cookie_parses_back(
                config in config(),
                value in "[A-Za-z0-9._~+/=,-]{1,64}",
                secure_request in any::<bool>(),
                age_ms in prop::option::of(0u64..10_000_000_000),
            ) {
                let attrs = CookieAttrs::new(&config.session, secure_request);
                let age = age_ms.map(Duration::from_millis);
                let header = attrs.set(&value, age).expect("valid Set-Cookie");
                let text = header.to_str().expect("visible ASCII").to_owned();
                let parsed = cookie::Cookie::parse(text.clone()).expect("parses");
                prop_assert_eq!(parsed.name(), attrs.name);
                prop_assert_eq!(parsed.value(), value.as_str());
                prop_assert_eq!(parsed.path(), Some(attrs.path));
                let domain = attrs.domain.map(|d| d.trim_start_matches('.'));
                prop_assert_eq!(parsed.domain(), domain);
                prop_assert_eq!(parsed.secure(), Some(attrs.secure).filter(|s| *s));
                prop_assert_eq!(parsed.http_only(), Some(attrs.http_only).filter(|h| *h));
                let site = match attrs.same_site {
                    SameSite::Strict => cookie::SameSite::Strict,
                    SameSite::Lax => cookie::SameSite::Lax,
                    SameSite::None => cookie::SameSite::None,
                };
                prop_assert_eq!(parsed.same_site(), Some(site));
                let want = age_ms.map(|ms| i64::try_from(ms.div_ceil(1000)).expect("small"));
                prop_assert_eq!(parsed.max_age().map(|a| a.whole_seconds()), want);

                let cleared = attrs.clear().expect("valid Set-Cookie");
                let cleared = cookie::Cookie::parse(cleared.to_str().expect("ASCII").to_owned())
                    .expect("parses");
                prop_assert_eq!(cleared.name(), attrs.name);
                prop_assert_eq!(cleared.value(), "");
                prop_assert_eq!(cleared.path(), Some(attrs.path));
                prop_assert_eq!(cleared.domain(), domain);
                prop_assert_eq!(cleared.max_age().map(|a| a.whole_seconds()), Some(0));
            }
        }
    }
}
