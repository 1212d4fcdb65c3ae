//! Stage two: raw values into a [`Config`] of real types, every rule of
//! SPEC §2 checked and every failure collected with its position.
//!
//! Each section is validated field by field, so one bad value never hides
//! another; a section yields its config only when all its fields are valid.
//! Rules that tie sections together (modes, stores, route limits) run only
//! when the values they compare were read, so one mistake is not reported
//! twice under two names. The `[session]` rules live in `session_rules.rs`,
//! login, upstream and route rules in `routing_rules.rs`, `[store]` in
//! `store_rules.rs`, the hard limits in `limit_rules.rs`.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use super::document::Document;
use super::error::ConfigError;
use super::raw::{RawAdmin, RawConfig, RawDuration, RawLog, RawServer};
use super::{AdminConfig, Config, LogConfig, LogFormat, Mode, ServerConfig, TlsFiles};

/// hyper refuses a read buffer smaller than this.
const MIN_HEADER_BYTES: i64 = 8192;
/// Beyond this a request head is an attack, not a browser.
const MAX_HEADER_BYTES: i64 = 1024 * 1024;

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
}
