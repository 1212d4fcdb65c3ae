//! Stage two: raw values into a [`Config`] of real types, every rule of
//! SPEC §2 checked and every failure collected with its position.
//!
//! Each section is validated field by field, so one bad value never hides
//! another; a section yields its config only when all its fields are valid.
//! Rules that tie sections together (modes, stores, route limits) run only
//! when the values they compare were read, so one mistake is not reported
//! twice under two names.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Display;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderName, Uri};
use ipnet::IpNet;
use regex::Regex;

use super::document::Document;
use super::error::ConfigError;
use super::raw::{
    RawAdmin, RawConfig, RawCookieSecure, RawDuration, RawLog, RawLogin, RawRoute, RawServer,
    RawSession, RawStore, RawUpstream,
};
use super::{
    AdminConfig, Config, CookieSecure, LogConfig, LogFormat, LoginConfig, Mode, OnUnauthenticated,
    Route, SameSite, ServerConfig, SessionConfig, StoreConfig, TlsFiles, UpstreamConfig,
};

/// hyper refuses a read buffer smaller than this.
const MIN_HEADER_BYTES: i64 = 8192;
/// Beyond this a request head is an attack, not a browser.
const MAX_HEADER_BYTES: i64 = 1024 * 1024;

const STORE_SCHEMES: &[&str] = &[
    "memory",
    "redis",
    "rediss",
    "redis+unix",
    "redis+sentinel",
    "redis+cluster",
];

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

pub(crate) struct Validator<'d, 'i> {
    doc: &'d Document<'i>,
    failed: &'d BTreeSet<String>,
    errors: Vec<ConfigError>,
}

impl<'d, 'i> Validator<'d, 'i> {
    pub(crate) fn new(doc: &'d Document<'i>, failed: &'d BTreeSet<String>) -> Self {
        Validator {
            doc,
            failed,
            errors: Vec::new(),
        }
    }

    /// Checks everything; the config only when nothing is wrong, otherwise
    /// every error found.
    pub(crate) fn validate(mut self, raw: &RawConfig) -> Result<Config, Vec<ConfigError>> {
        let server = self.server(&raw.server);
        let admin = self.admin(&raw.admin);
        let log = self.log(&raw.log);
        let store = self.store(&raw.store);
        let session = self.session(&raw.session);
        let login = self.login(&raw.login);
        let upstream = self.upstream(&raw.upstream);
        let session_idle = session.as_ref().map(|s| s.idle_timeout);
        let routes = self.routes(&raw.route, session_idle);

        if let (Some(s), Some(a)) = (&server, &admin) {
            self.listeners_apart(s.listen, a.listen);
        }
        if let (Some(session), Some(store)) = (&session, &store)
            && session.mode == Mode::External
            && store.url.starts_with("memory:")
        {
            // Point at the store URL, or at the mode when the URL is a default.
            let at = if self.doc.has("store.url") {
                "store.url"
            } else {
                "session.mode"
            };
            self.error_at(
                "store.url",
                at,
                "external mode needs a Redis store (the application's sessions live in \
                 Redis, where memory:// cannot see them); use e.g. \"redis://127.0.0.1:6379/0\"",
            );
        }

        match (server, admin, log, store, session, login, upstream, routes) {
            (
                Some(server),
                Some(admin),
                Some(log),
                Some(store),
                Some(session),
                Some(login),
                Some(upstream),
                Some(routes),
            ) if self.errors.is_empty() => Ok(Config {
                server,
                admin,
                log,
                store,
                session,
                login,
                upstream,
                routes,
            }),
            _ => Err(self.errors),
        }
    }

    /// `PATH: message`, positioned at the value of `path`.
    fn error(&mut self, path: &str, message: impl Display) {
        self.error_at(path, path, message);
    }

    /// `PATH: message`, positioned at the value of `at` (for a missing key,
    /// the setting that requires it).
    fn error_at(&mut self, path: &str, at: &str, message: impl Display) {
        self.errors.push(ConfigError {
            position: self.doc.position(at),
            message: format!("{path}: {message}"),
        });
    }

    fn read(&self, section: &str) -> bool {
        !self.failed.contains(section)
    }

    fn duration(&mut self, path: &str, raw: &RawDuration) -> Option<Duration> {
        match raw {
            RawDuration::Number(n) => {
                self.error(
                    path,
                    format!(
                        "a duration needs a unit: write \"{n}s\" (or e.g. \"250ms\", \"15m\", \
                         \"12h\"), not the bare number {n}"
                    ),
                );
                None
            }
            RawDuration::Text(s) => match humantime::parse_duration(s.trim()) {
                Ok(d) => Some(d),
                Err(e) => {
                    self.error(
                        path,
                        format!(
                            "\"{s}\" is not a duration ({e}); write a number with a unit, \
                             e.g. \"250ms\", \"30s\", \"15m\", \"12h\", \"14d\""
                        ),
                    );
                    None
                }
            },
        }
    }

    /// A duration that must not be zero; `example` goes into the message.
    fn positive(&mut self, path: &str, raw: &RawDuration, example: &str) -> Option<Duration> {
        let d = self.duration(path, raw)?;
        if d.is_zero() {
            self.error(
                path,
                format!("must be greater than zero (e.g. \"{example}\")"),
            );
            return None;
        }
        Some(d)
    }

    fn one_of<T: Copy>(&mut self, path: &str, value: &str, choices: &[(&str, T)]) -> Option<T> {
        if let Some((_, v)) = choices.iter().find(|(name, _)| *name == value) {
            return Some(*v);
        }
        let names: Vec<String> = choices.iter().map(|(n, _)| format!("\"{n}\"")).collect();
        self.error(
            path,
            format!("expected one of {}, got \"{value}\"", names.join(", ")),
        );
        None
    }

    fn listen(&mut self, path: &str, value: &str, example: &str) -> Option<SocketAddr> {
        match value.parse() {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.error(
                    path,
                    format!(
                        "expected IP:PORT (an IP address, not a host name), e.g. \"{example}\" \
                         or \"[::]:8080\", got \"{value}\""
                    ),
                );
                None
            }
        }
    }

    fn server(&mut self, raw: &RawServer) -> Option<ServerConfig> {
        let listen = self.listen("server.listen", &raw.listen, "0.0.0.0:8080");
        let tls = match &raw.tls {
            None => Some(None),
            Some(t) => {
                let cert = self.tls_file("cert", t.cert.as_deref());
                let key = self.tls_file("key", t.key.as_deref());
                Some(Some(TlsFiles {
                    cert: cert?,
                    key: key?,
                }))
            }
        };
        let mut trusted = Some(Vec::new());
        for (i, cidr) in raw.trusted_proxies.iter().enumerate() {
            let net = self.cidr(&format!("server.trusted_proxies[{i}]"), cidr);
            match (net, trusted.as_mut()) {
                (Some(net), Some(list)) => list.push(net),
                _ => trusted = None,
            }
        }
        let header_read_timeout = self.positive(
            "server.header_read_timeout",
            &raw.header_read_timeout,
            "10s",
        );
        let max_header_bytes = if raw.max_header_bytes < MIN_HEADER_BYTES {
            self.error(
                "server.max_header_bytes",
                format!(
                    "must be at least {MIN_HEADER_BYTES} (hyper's smallest read buffer), got {}",
                    raw.max_header_bytes
                ),
            );
            None
        } else if raw.max_header_bytes > MAX_HEADER_BYTES {
            self.error(
                "server.max_header_bytes",
                format!(
                    "must be at most {MAX_HEADER_BYTES} (1 MiB), got {}",
                    raw.max_header_bytes
                ),
            );
            None
        } else {
            usize::try_from(raw.max_header_bytes).ok()
        };
        let shutdown_grace = self.duration("server.shutdown_grace", &raw.shutdown_grace);
        Some(ServerConfig {
            listen: listen?,
            tls: tls?,
            trusted_proxies: trusted?,
            header_read_timeout: header_read_timeout?,
            max_header_bytes: max_header_bytes?,
            shutdown_grace: shutdown_grace?,
        })
    }

    fn tls_file(&mut self, which: &str, value: Option<&str>) -> Option<PathBuf> {
        match value {
            Some(v) if !v.trim().is_empty() => Some(PathBuf::from(v)),
            Some(_) => {
                self.error(&format!("server.tls.{which}"), "must not be empty");
                None
            }
            None => {
                self.error_at(
                    &format!("server.tls.{which}"),
                    "server.tls",
                    "required: write tls = { cert = \"fullchain.pem\", key = \"key.pem\" }",
                );
                None
            }
        }
    }

    fn cidr(&mut self, path: &str, value: &str) -> Option<IpNet> {
        if let Ok(net) = value.parse::<IpNet>() {
            return Some(net.trunc());
        }
        if let Ok(ip) = value.parse::<IpAddr>() {
            return Some(IpNet::from(ip));
        }
        self.error(
            path,
            format!(
                "expected a CIDR such as \"10.0.0.0/8\" or \"fd00::/8\", or a single IP, \
                 got \"{value}\""
            ),
        );
        None
    }

    fn admin(&mut self, raw: &RawAdmin) -> Option<AdminConfig> {
        let listen = self.listen("admin.listen", &raw.listen, "127.0.0.1:9090")?;
        Some(AdminConfig { listen })
    }

    /// The admin endpoints must never be reachable on the proxy port; an
    /// unspecified address (`0.0.0.0`) overlaps every address on its port.
    fn listeners_apart(&mut self, server: SocketAddr, admin: SocketAddr) {
        if server.port() == 0 || server.port() != admin.port() {
            return;
        }
        let overlap = server.ip() == admin.ip()
            || server.ip().is_unspecified()
            || admin.ip().is_unspecified();
        if overlap {
            self.error(
                "admin.listen",
                format!(
                    "\"{admin}\" overlaps server.listen \"{server}\"; the admin listener \
                     needs its own port (e.g. \"127.0.0.1:9090\")"
                ),
            );
        }
    }

    fn log(&mut self, raw: &RawLog) -> Option<LogConfig> {
        let format = self.one_of(
            "log.format",
            &raw.format,
            &[("text", LogFormat::Text), ("json", LogFormat::Json)],
        )?;
        Some(LogConfig {
            format,
            access_log: raw.access_log,
        })
    }

    fn store(&mut self, raw: &RawStore) -> Option<StoreConfig> {
        let url = self.store_url(&raw.url);
        let op_timeout = self.positive("store.op_timeout", &raw.op_timeout, "100ms");
        Some(StoreConfig {
            url: url?,
            key_prefix: raw.key_prefix.clone(),
            op_timeout: op_timeout?,
        })
    }

    fn store_url(&mut self, url: &str) -> Option<String> {
        let choices = "memory://, redis://, rediss://, redis+unix://, redis+sentinel:// \
                       or redis+cluster://";
        let Some((scheme, rest)) = url.split_once("://") else {
            self.error(
                "store.url",
                format!("expected a URL starting with {choices}, got \"{url}\""),
            );
            return None;
        };
        if !STORE_SCHEMES.contains(&scheme) {
            self.error(
                "store.url",
                format!("unsupported scheme \"{scheme}://\"; expected one of {choices}"),
            );
            return None;
        }
        if scheme == "memory" && !rest.is_empty() {
            self.error(
                "store.url",
                format!("the embedded store takes no address: write \"memory://\", got \"{url}\""),
            );
            return None;
        }
        if scheme != "memory" && rest.is_empty() {
            self.error(
                "store.url",
                format!("\"{url}\" names no server, e.g. \"redis://127.0.0.1:6379/0\""),
            );
            return None;
        }
        Some(url.to_owned())
    }

    fn session(&mut self, raw: &RawSession) -> Option<SessionConfig> {
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
            (true, t) => Some(Some(t.to_owned())),
            (false, "") => Some(None),
            (false, _) => {
                self.not_in_mode("session.key_template", "external", mode);
                None
            }
        };
        let id_pattern = match (external, raw.id_pattern.as_str()) {
            (_, "") => Some(None),
            (true, p) => self.id_pattern(p).map(Some),
            (false, _) => {
                self.not_in_mode("session.id_pattern", "external", mode);
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

    fn login(&mut self, raw: &RawLogin) -> Option<LoginConfig> {
        let url = self.redirect_target("login.url", &raw.url, "/login");
        let next_param = if raw.next_param.is_empty() {
            Some(None)
        } else if raw
            .next_param
            .chars()
            .any(|c| !c.is_ascii_graphic() || "&=#?+%".contains(c))
        {
            self.error(
                "login.next_param",
                format!(
                    "\"{}\" cannot be a query parameter name; use letters, digits, '-' or \
                     '_' (e.g. \"next\"), or \"\" for none",
                    raw.next_param
                ),
            );
            None
        } else {
            Some(Some(raw.next_param.clone()))
        };
        let logout_path = if !raw.logout_path.starts_with('/')
            || raw.logout_path.starts_with("//")
            || raw.logout_path.contains(['?', '#'])
        {
            self.error(
                "login.logout_path",
                format!(
                    "expected a path starting with a single \"/\" and no query \
                     (e.g. \"/.sessiongate/logout\"), got \"{}\"",
                    raw.logout_path
                ),
            );
            None
        } else {
            Some(raw.logout_path.clone())
        };
        let after_logout = if raw.after_logout.is_empty() {
            url.clone()
        } else {
            self.redirect_target("login.after_logout", &raw.after_logout, "/")
        };
        Some(LoginConfig {
            url: url?,
            next_param: next_param?,
            logout_path: logout_path?,
            after_logout: after_logout?,
        })
    }

    /// A path starting with a single `/`, or an absolute http(s) URL.
    fn redirect_target(&mut self, path: &str, value: &str, example: &str) -> Option<String> {
        if value.starts_with('/') && !value.starts_with("//") && !value.starts_with("/\\") {
            return Some(value.to_owned());
        }
        if value.starts_with("http://") || value.starts_with("https://") {
            match value.parse::<Uri>() {
                Ok(uri) if uri.host().is_some_and(|h| !h.is_empty()) => {
                    return Some(value.to_owned());
                }
                _ => {}
            }
        }
        self.error(
            path,
            format!(
                "expected a path starting with a single \"/\" (e.g. \"{example}\") or an \
                 absolute http:// or https:// URL, got \"{value}\""
            ),
        );
        None
    }

    fn upstream(&mut self, raw: &RawUpstream) -> Option<UpstreamConfig> {
        let url = self.upstream_uri("upstream.url", &raw.url);
        let connect_timeout = self.positive("upstream.connect_timeout", &raw.connect_timeout, "5s");
        let response_timeout =
            self.positive("upstream.response_timeout", &raw.response_timeout, "60s");
        Some(UpstreamConfig {
            url: url?,
            connect_timeout: connect_timeout?,
            response_timeout: response_timeout?,
            preserve_host: raw.preserve_host,
        })
    }

    fn upstream_uri(&mut self, path: &str, value: &str) -> Option<Uri> {
        let example = "e.g. \"http://127.0.0.1:8000\"";
        let uri = match value.parse::<Uri>() {
            Ok(uri) => uri,
            Err(e) => {
                self.error(
                    path,
                    format!("\"{value}\" is not a valid URL ({e}); {example}"),
                );
                return None;
            }
        };
        let problem = match (uri.scheme_str(), uri.authority()) {
            (Some("http" | "https"), Some(a)) if a.host().is_empty() => Some("has no host"),
            (Some("http" | "https"), Some(a)) if a.as_str().contains('@') => {
                Some("must not carry user:password@")
            }
            (Some("http" | "https"), Some(_)) => None,
            _ => Some("must be an http:// or https:// URL with a host"),
        };
        let problem = problem.or(if uri.query().is_some() {
            Some("must not have a query string")
        } else if !matches!(uri.path(), "" | "/") {
            Some(
                "has a path, and path prefixes on upstreams are not supported; give only \
                 scheme, host and port",
            )
        } else {
            None
        });
        match problem {
            Some(p) => {
                self.error(path, format!("\"{value}\" {p}; {example}"));
                None
            }
            None => Some(uri),
        }
    }

    fn routes(&mut self, raw: &[RawRoute], session_idle: Option<Duration>) -> Option<Vec<Route>> {
        let mut routes = Some(Vec::new());
        let mut names: HashMap<String, usize> = HashMap::new();
        for (i, r) in raw.iter().enumerate() {
            if !self.read(&format!("route[{i}]")) {
                routes = None;
                continue;
            }
            let route = self.route(i, r, session_idle);
            if let Some(route) = &route {
                if let Some(first) = names.get(&route.name) {
                    let (key, how) = match r.name {
                        Some(_) => ("name", ""),
                        None => ("path", " (a route's name defaults to its path)"),
                    };
                    self.error(
                        &format!("route[{i}].{key}"),
                        format!(
                            "route name \"{}\" is already used by route[{first}]{how}; route \
                             names label metrics and must be unique",
                            route.name
                        ),
                    );
                } else {
                    names.insert(route.name.clone(), i);
                }
            }
            match (route, routes.as_mut()) {
                (Some(route), Some(list)) => list.push(route),
                _ => routes = None,
            }
        }
        routes
    }

    fn route(&mut self, i: usize, raw: &RawRoute, session_idle: Option<Duration>) -> Option<Route> {
        let p = |key: &str| format!("route[{i}].{key}");
        let path = match raw.path.as_deref() {
            None => {
                self.error_at(
                    &p("path"),
                    &format!("route[{i}]"),
                    "required: the path prefix this route matches (e.g. \"/static/\")",
                );
                None
            }
            Some(path) if !path.starts_with('/') => {
                self.error(
                    &p("path"),
                    format!("must start with \"/\" (e.g. \"/static/\"), got \"{path}\""),
                );
                None
            }
            Some(path) => Some(path.to_owned()),
        };
        let name = match raw.name.as_deref() {
            Some("") => {
                self.error(
                    &p("name"),
                    "must not be empty; leave it out to use the path",
                );
                None
            }
            Some(name) => Some(name.to_owned()),
            None => path.clone(),
        };
        let host = match raw.host.as_deref() {
            None => Some(None),
            Some(h)
                if h.is_empty()
                    || h.contains(['/', ' ', '@'])
                    || (h.contains(':') && !h.starts_with('[')) =>
            {
                self.error(
                    &p("host"),
                    format!(
                        "expected a host name without port or path (e.g. \"app.example.com\"), \
                         got \"{h}\""
                    ),
                );
                None
            }
            Some(h) => Some(Some(h.to_ascii_lowercase())),
        };
        let upstream = match raw.upstream.as_deref() {
            None => Some(None),
            Some(u) => self.upstream_uri(&p("upstream"), u).map(Some),
        };
        let on_unauthenticated = self.one_of(
            &p("on_unauthenticated"),
            &raw.on_unauthenticated,
            &[
                ("auto", OnUnauthenticated::Auto),
                ("redirect", OnUnauthenticated::Redirect),
                ("401", OnUnauthenticated::Unauthorized),
            ],
        );
        let idle_timeout = match &raw.idle_timeout {
            None => Some(None),
            Some(d) => match (self.positive(&p("idle_timeout"), d, "5m"), session_idle) {
                (Some(d), Some(session)) if d >= session => {
                    self.error(
                        &p("idle_timeout"),
                        format!(
                            "must be shorter than session.idle_timeout ({}), got {}; a \
                             route's limit can only be stricter",
                            humantime::format_duration(session),
                            humantime::format_duration(d)
                        ),
                    );
                    None
                }
                (d, _) => d.map(Some),
            },
        };
        Some(Route {
            name: name?,
            path: path?,
            host: host?,
            public: raw.public,
            upstream: upstream?,
            on_unauthenticated: on_unauthenticated?,
            idle_timeout: idle_timeout?,
            extends_session: raw.extends_session,
        })
    }
}
