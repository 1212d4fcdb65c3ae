//! Stage two: raw values into a [`Config`] of real types, every rule of
//! SPEC §2 checked and every failure collected with its position.
//!
//! Each section is validated field by field, so one bad value never hides
//! another; a section yields its config only when all its fields are valid.
//! Rules that tie sections together (modes, stores, route limits) run only
//! when the values they compare were read, so one mistake is not reported
//! twice under two names. The `[session]` rules live in `session_rules.rs`,
//! login, upstream and route rules in `routing_rules.rs`.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use super::document::Document;
use super::error::ConfigError;
use super::raw::{RawAdmin, RawConfig, RawDuration, RawLog, RawServer, RawStore};
use super::{AdminConfig, Config, LogConfig, LogFormat, Mode, ServerConfig, StoreConfig, TlsFiles};

/// hyper refuses a read buffer smaller than this.
const MIN_HEADER_BYTES: i64 = 8192;
/// Beyond this a request head is an attack, not a browser.
const MAX_HEADER_BYTES: i64 = 1024 * 1024;

/// The environment variable that replaces `store.url` (a Kubernetes Secret
/// or systemd credential carries the password; the TOML stays shareable).
pub const STORE_URL_ENV: &str = "SESSIONGATE_STORE_URL";

/// `url` with any password replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> std::borrow::Cow<'_, str> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return match url.rfind('@') {
            Some(at) => format!("***{}", &url[at..]).into(),
            None => url.into(),
        };
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.into();
    };
    let user = match rest[..at].split_once(':') {
        Some((user, _password)) => user,
        // `redis://secret@host`: a lone userinfo may be the password.
        None => "",
    };
    format!("{scheme}://{user}:***{}", &rest[at..]).into()
}

const STORE_SCHEMES: &[&str] = &[
    "memory",
    "redis",
    "rediss",
    "redis+unix",
    "redis+sentinel",
    "rediss+sentinel",
    "redis+cluster",
    "rediss+cluster",
];

pub(crate) struct Validator<'d, 'i> {
    pub(super) doc: &'d Document<'i>,
    failed: &'d BTreeSet<String>,
    /// `$SESSIONGATE_STORE_URL`, which replaces the file's `store.url`.
    pub(super) store_url_env: Option<&'d str>,
    errors: Vec<ConfigError>,
}

impl<'d, 'i> Validator<'d, 'i> {
    pub(crate) fn new(
        doc: &'d Document<'i>,
        failed: &'d BTreeSet<String>,
        store_url_env: Option<&'d str>,
    ) -> Self {
        Validator {
            doc,
            failed,
            store_url_env,
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
    pub(super) fn error(&mut self, path: &str, message: impl Display) {
        self.error_at(path, path, message);
    }

    /// `PATH: message`, positioned at the value of `at` (for a missing key,
    /// the setting that requires it).
    pub(super) fn error_at(&mut self, path: &str, at: &str, message: impl Display) {
        self.errors.push(ConfigError {
            position: self.doc.position(at),
            message: format!("{path}: {message}"),
        });
    }

    pub(super) fn read(&self, section: &str) -> bool {
        !self.failed.contains(section)
    }

    pub(super) fn duration(&mut self, path: &str, raw: &RawDuration) -> Option<Duration> {
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
    pub(super) fn positive(
        &mut self,
        path: &str,
        raw: &RawDuration,
        example: &str,
    ) -> Option<Duration> {
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

    pub(super) fn one_of<T: Copy>(
        &mut self,
        path: &str,
        value: &str,
        choices: &[(&str, T)],
    ) -> Option<T> {
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
        let keepalive_timeout =
            self.positive("server.keepalive_timeout", &raw.keepalive_timeout, "75s");
        let shutdown_grace = self.duration("server.shutdown_grace", &raw.shutdown_grace);
        let max_connections = self.max_connections("server.max_connections", raw.max_connections);
        Some(ServerConfig {
            listen: listen?,
            tls: tls?,
            trusted_proxies: trusted?,
            header_read_timeout: header_read_timeout?,
            max_header_bytes: max_header_bytes?,
            keepalive_timeout: keepalive_timeout?,
            shutdown_grace: shutdown_grace?,
            max_connections: max_connections?,
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
        let listen = self.listen("admin.listen", &raw.listen, "127.0.0.1:9090");
        let token_file =
            (!raw.token_file.trim().is_empty()).then(|| PathBuf::from(raw.token_file.trim()));
        let max_connections = self.admin_max_connections(raw.max_connections);
        Some(AdminConfig {
            listen: listen?,
            token_file,
            max_connections: max_connections?,
        })
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
        let url = match self.store_url_env {
            Some(url) => self.store_url(url, STORE_URL_ENV),
            None => self.store_url(&raw.url, "store.url"),
        };
        let op_timeout = self.positive("store.op_timeout", &raw.op_timeout, "100ms");
        let ca_file = self.store_ca_file(raw, url.as_deref());
        let client_cache = self.client_cache(raw, url.as_deref());
        let max_sessions = self.max_sessions(raw.max_sessions, url.as_deref());
        Some(StoreConfig {
            url: url?,
            key_prefix: raw.key_prefix.clone(),
            op_timeout: op_timeout?,
            ca_file: ca_file?,
            client_cache: client_cache?,
            max_sessions: max_sessions?,
        })
    }

    fn client_cache(&mut self, raw: &RawStore, url: Option<&str>) -> Option<Option<usize>> {
        if !raw.client_cache {
            return Some(None);
        }
        if let Some(Err(why)) = url.map(super::store_url::client_cache_support) {
            self.error("store.client_cache", why);
            return None;
        }
        match usize::try_from(raw.client_cache_entries) {
            Ok(entries) if entries > 0 => Some(Some(entries)),
            _ => {
                let got = raw.client_cache_entries;
                self.error(
                    "store.client_cache_entries",
                    format!("must be at least 1, got {got}"),
                );
                None
            }
        }
    }

    /// `store.ca_file` only means something for TLS to a single server or a
    /// Cluster (the sentinel client cannot take it for the sentinels).
    fn store_ca_file(&mut self, raw: &RawStore, url: Option<&str>) -> Option<Option<PathBuf>> {
        if raw.ca_file.trim().is_empty() {
            return Some(None);
        }
        let scheme = url.and_then(|u| u.split_once("://")).map(|(s, _)| s);
        match scheme {
            Some("rediss" | "rediss+cluster") => Some(Some(PathBuf::from(&raw.ca_file))),
            Some("rediss+sentinel") => {
                self.error(
                    "store.ca_file",
                    "not supported with rediss+sentinel:// yet (the sentinel client verifies \
                     against the public roots only); use certificates from a public CA, or a \
                     single rediss:// server or rediss+cluster://",
                );
                None
            }
            Some(other) => {
                self.error(
                    "store.ca_file",
                    format!(
                        "only used with rediss:// and rediss+cluster:// (TLS), but store.url is \
                         {other}://; remove it or use TLS"
                    ),
                );
                None
            }
            // The URL itself is invalid and already reported.
            None => None,
        }
    }

    /// `key` names where the URL came from: `store.url` or the environment
    /// variable that overrides it (an error then has no file position).
    fn store_url(&mut self, url: &str, key: &str) -> Option<String> {
        let shown = redact_url(url);
        let choices = "memory://, redis://, rediss://, redis+unix://, redis+sentinel://, \
                       rediss+sentinel://, redis+cluster:// or rediss+cluster://";
        let Some((scheme, rest)) = url.split_once("://") else {
            self.error(
                key,
                format!("expected a URL starting with {choices}, got \"{shown}\""),
            );
            return None;
        };
        if !STORE_SCHEMES.contains(&scheme) {
            self.error(
                key,
                format!("unsupported scheme \"{scheme}://\"; expected one of {choices}"),
            );
            return None;
        }
        if scheme == "memory" && !rest.is_empty() {
            self.error(
                key,
                format!(
                    "the embedded store takes no address: write \"memory://\", got \"{shown}\""
                ),
            );
            return None;
        }
        if scheme != "memory" && rest.is_empty() {
            self.error(
                key,
                format!("\"{shown}\" names no server, e.g. \"redis://127.0.0.1:6379/0\""),
            );
            return None;
        }
        if scheme.starts_with("rediss") && url.contains("#insecure") {
            // redis-rs reads the fragment, then refuses every connection: the
            // gateway is built without unverified TLS, on purpose.
            self.error(
                key,
                "\"#insecure\" is not supported: TLS to Redis always verifies the server's \
                 certificate against the public (webpki) roots; remove the fragment and give \
                 Redis a certificate from a public CA, or use redis:// on a private network",
            );
            return None;
        }
        if super::store_url::topology(url).is_some()
            && let Err(e) = super::store_url::parse(url)
        {
            self.error(
                key,
                format!(
                    "{e}: \"{shown}\"; expected e.g. \"redis+sentinel://H1:26379,H2:26379/MASTER/0\" \
                     or \"redis+cluster://H1:6379,H2:6379\""
                ),
            );
            return None;
        }
        Some(url.to_owned())
    }
}
