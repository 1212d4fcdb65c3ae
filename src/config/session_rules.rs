//! Stage two for `[session]`: cookie attributes, timeouts, and the keys
//! that belong to one mode only (required there, refused elsewhere, since a
//! key that silently does nothing hides a misunderstanding).

use http::HeaderName;
use regex::Regex;

use super::raw::{RawCookieSecure, RawDuration, RawSession};
use super::validate::Validator;
use super::{CookieSecure, Mode, OnSessionLimit, SameSite, SessionConfig};

/// Headers the identity header must not be: hop-by-hop ones are dropped on
/// the way upstream, and the others carry the request itself.
const FORBIDDEN_IDENTITY_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "cookie",
    "content-length",
];

impl Validator<'_, '_> {
    pub(super) fn session(&mut self, raw: &RawSession) -> Option<SessionConfig> {
        let mode = self.one_of(
            "session.mode",
            &raw.mode,
            &[
                ("managed", Mode::Managed),
                ("external", Mode::External),
                ("observe", Mode::Observe),
            ],
        );
        let cookie_name = self.cookie_token("session.cookie_name", &raw.cookie_name);
        let cookie_path = self.cookie_path(&raw.cookie_path);
        let cookie_domain = self.cookie_domain(&raw.cookie_domain);
        let cookie_secure = match &raw.cookie_secure {
            RawCookieSecure::Bool(true) => Some(CookieSecure::Always),
            RawCookieSecure::Bool(false) => Some(CookieSecure::Never),
            RawCookieSecure::Text(t) if t == "auto" => Some(CookieSecure::Auto),
            RawCookieSecure::Text(t) => {
                self.error(
                    "session.cookie_secure",
                    format!(
                        "expected true, false or \"auto\" (booleans without quotes), got \"{t}\""
                    ),
                );
                None
            }
        };
        let same_site = self.one_of(
            "session.cookie_same_site",
            &raw.cookie_same_site,
            &[
                ("strict", SameSite::Strict),
                ("lax", SameSite::Lax),
                ("none", SameSite::None),
            ],
        );
        if same_site == Some(SameSite::None)
            && cookie_secure.is_some()
            && cookie_secure != Some(CookieSecure::Always)
        {
            self.error(
                "session.cookie_same_site",
                "\"none\" requires cookie_secure = true (browsers reject SameSite=None \
                 cookies that are not Secure)",
            );
        }
        let idle_timeout = self.positive("session.idle_timeout", &raw.idle_timeout, "30m");
        let absolute_timeout = self
            .duration("session.absolute_timeout", &raw.absolute_timeout)
            .map(|d| (!d.is_zero()).then_some(d));
        let touch_interval = self.duration("session.touch_interval", &raw.touch_interval);
        if let (Some(idle), Some(touch)) = (idle_timeout, touch_interval)
            && touch >= idle
        {
            self.error(
                "session.touch_interval",
                format!(
                    "must be shorter than session.idle_timeout ({}), got {}; \"0s\" refreshes \
                     on every request",
                    humantime::format_duration(idle),
                    humantime::format_duration(touch)
                ),
            );
        }
        let (key_template, id_pattern, learn_cookie) = match mode {
            Some(mode) => self.mode_keys(mode, raw),
            None => (None, None, None),
        };
        let identity_header = self.identity_header(&raw.identity_header);
        let max_sessions = match u32::try_from(raw.max_sessions_per_user) {
            Ok(0) => Some(None),
            Ok(n) => Some(Some(n)),
            Err(_) => {
                self.error(
                    "session.max_sessions_per_user",
                    format!(
                        "must be 0 (no limit) or a positive number of sessions, got {}",
                        raw.max_sessions_per_user
                    ),
                );
                None
            }
        };
        if matches!(max_sessions, Some(Some(_))) && mode.is_some_and(|m| m != Mode::Managed) {
            self.error(
                "session.max_sessions_per_user",
                "only managed mode knows who a session belongs to; set it to 0 in external \
                 and observe mode",
            );
        }
        let on_session_limit = self.one_of(
            "session.on_session_limit",
            &raw.on_session_limit,
            &[
                ("evict_oldest", OnSessionLimit::EvictOldest),
                ("refuse", OnSessionLimit::Refuse),
            ],
        );
        let warning_before = self.positive("session.warning_before", &raw.warning_before, "2m");
        let touch_ok = matches!((idle_timeout, touch_interval), (Some(i), Some(t)) if t < i);
        let same_site_ok =
            !(same_site == Some(SameSite::None) && cookie_secure != Some(CookieSecure::Always));
        if !touch_ok || !same_site_ok {
            return None;
        }
        Some(SessionConfig {
            mode: mode?,
            cookie_name: cookie_name?,
            cookie_path: cookie_path?,
            cookie_domain: cookie_domain?,
            cookie_secure: cookie_secure?,
            cookie_http_only: raw.cookie_http_only,
            cookie_same_site: same_site?,
            idle_timeout: idle_timeout?,
            sliding: raw.sliding,
            absolute_timeout: absolute_timeout?,
            browser_session: raw.browser_session,
            touch_interval: touch_interval?,
            key_template: key_template?,
            id_pattern: id_pattern?,
            learn_cookie: learn_cookie?,
            identity_header: identity_header?,
            max_sessions_per_user: max_sessions?,
            on_session_limit: on_session_limit?,
            inject_warning: raw.inject_warning,
            warning_before: warning_before?,
        })
    }

    /// The keys that belong to one mode: required there, refused elsewhere
    /// (a key that silently does nothing hides a misunderstanding).
    #[allow(clippy::type_complexity)]
    fn mode_keys(
        &mut self,
        mode: Mode,
        raw: &RawSession,
    ) -> (
        Option<Option<String>>,
        Option<Option<Regex>>,
        Option<Option<String>>,
    ) {
        let external = mode == Mode::External;
        let observe = mode == Mode::Observe;
        let key_template = match (external, raw.key_template.as_str()) {
            (true, "") => {
                self.error_at(
                    "session.key_template",
                    "session.mode",
                    "required in external mode: the store key of a session, with \"{id}\" \
                     for the session id (e.g. \"sess:{id}\")",
                );
                None
            }
            (true, t) if !t.contains("{id}") => {
                self.error(
                    "session.key_template",
                    format!(
                        "must contain \"{{id}}\" where the session id goes (e.g. \"sess:{{id}}\"), \
                         got \"{t}\""
                    ),
                );
                None
            }
            // "{id}" alone (or first) would make every key in the id
            // alphabet a session: `lockout-alice`, set by the application
            // for another purpose, would pass and have its TTL extended.
            (true, t) if t.starts_with("{id}") => {
                self.error(
                    "session.key_template",
                    format!(
                        "needs a literal prefix before \"{{id}}\" (e.g. \"sess:{{id}}\"), so \
                         that only the application's session keys can count as sessions; \
                         got \"{t}\""
                    ),
                );
                None
            }
            (true, t) => Some(Some(t.to_owned())),
            (false, "") => Some(None),
            (false, _) => {
                self.not_in_mode("session.key_template", "external", mode);
                None
            }
        };
        // Signed or encoded cookies (express-session's `s:<id>.<sig>`, a
        // Rails cookie store) carry the id inside them in both modes where
        // the cookie is the application's.
        let id_pattern = match (external || observe, raw.id_pattern.as_str()) {
            (_, "") => Some(None),
            (true, p) => self.id_pattern(p).map(Some),
            (false, _) => {
                self.not_in_mode("session.id_pattern", "external or observe", mode);
                None
            }
        };
        let learn_cookie = match (observe, raw.learn_cookie.as_str()) {
            (true, "") => {
                self.error_at(
                    "session.learn_cookie",
                    "session.mode",
                    "required in observe mode: the name of the application's own session \
                     cookie (e.g. \"PHPSESSID\")",
                );
                None
            }
            (true, c) => self.cookie_token("session.learn_cookie", c).map(Some),
            (false, "") => Some(None),
            (false, _) => {
                self.not_in_mode("session.learn_cookie", "observe", mode);
                None
            }
        };
        // The application owns an external session: the gateway never sees it
        // start and never writes its cookie, so these two cannot be kept.
        let capped = matches!(&raw.absolute_timeout,
            RawDuration::Text(t) if humantime::parse_duration(t.trim()).is_ok_and(|d| !d.is_zero()));
        if external && capped {
            self.error(
                "session.absolute_timeout",
                "not available in external mode: the application owns the session, and the \
                 gateway never sees it begin; remove it (or use observe mode)",
            );
        }
        if mode != Mode::Managed && raw.browser_session {
            self.error(
                "session.browser_session",
                format!(
                    "only used in managed mode (it shapes the gateway's own cookie), but \
                     session.mode is \"{}\"; the application's cookie is the application's",
                    mode.as_str()
                ),
            );
        }
        (key_template, id_pattern, learn_cookie)
    }

    fn not_in_mode(&mut self, path: &str, wanted: &str, mode: Mode) {
        self.error(
            path,
            format!(
                "only used in {wanted} mode, but session.mode is \"{}\"; remove it or set \
                 session.mode = \"{wanted}\"",
                mode.as_str()
            ),
        );
    }

    fn id_pattern(&mut self, pattern: &str) -> Option<Regex> {
        match Regex::new(pattern) {
            Err(e) => {
                let text = e.to_string();
                let reason = text.lines().last().unwrap_or("").trim();
                self.error(
                    "session.id_pattern",
                    format!("not a valid regular expression: {reason}"),
                );
                None
            }
            Ok(re) if !re.capture_names().any(|n| n == Some("id")) => {
                self.error(
                    "session.id_pattern",
                    "needs a named group \"id\" around the session id, \
                     e.g. '^s:(?P<id>[^.]+)\\.'",
                );
                None
            }
            Ok(re) => Some(re),
        }
    }

    /// RFC 6265 cookie-name: an RFC 7230 token.
    fn cookie_token(&mut self, path: &str, name: &str) -> Option<String> {
        let bad = name
            .chars()
            .find(|c| !c.is_ascii_graphic() || "()<>@,;:\\\"/[]?={}".contains(*c));
        match (name.is_empty(), bad) {
            (true, _) => self.error(path, "must not be empty (e.g. \"sessiongate\")"),
            (false, Some(c)) => self.error(
                path,
                format!(
                    "{c:?} is not allowed in a cookie name; use letters, digits and \
                     !#$%&'*+-.^_`|~"
                ),
            ),
            (false, None) => return Some(name.to_owned()),
        }
        None
    }

    fn cookie_path(&mut self, path: &str) -> Option<String> {
        if !path.starts_with('/') {
            self.error(
                "session.cookie_path",
                format!("must start with \"/\" (e.g. \"/\"), got \"{path}\""),
            );
            return None;
        }
        if path.chars().any(|c| c == ';' || c.is_control()) {
            self.error(
                "session.cookie_path",
                "must not contain ';' or control characters",
            );
            return None;
        }
        Some(path.to_owned())
    }

    fn cookie_domain(&mut self, domain: &str) -> Option<Option<String>> {
        if domain.is_empty() {
            return Some(None);
        }
        let ok = domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            && domain.trim_start_matches('.').contains(|c: char| c != '.');
        if !ok {
            self.error(
                "session.cookie_domain",
                format!(
                    "expected a domain such as \"example.com\" (or \"\" for a host-only \
                     cookie), got \"{domain}\""
                ),
            );
            return None;
        }
        Some(Some(domain.to_ascii_lowercase()))
    }

    fn identity_header(&mut self, name: &str) -> Option<HeaderName> {
        let path = "session.identity_header";
        let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
            self.error(
                path,
                format!("\"{name}\" is not a valid header name (e.g. \"X-Sessiongate-User\")"),
            );
            return None;
        };
        if FORBIDDEN_IDENTITY_HEADERS.contains(&header.as_str()) {
            self.error(
                path,
                format!(
                    "\"{name}\" cannot carry the user: it is a hop-by-hop or request-framing \
                     header; use e.g. \"X-Sessiongate-User\""
                ),
            );
            return None;
        }
        Some(header)
    }
}
