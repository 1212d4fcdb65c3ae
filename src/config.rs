//! The validated configuration.
//!
//! Configuration is read in two stages (STYLE.md): `config/raw.rs` mirrors the
//! TOML file with serde and rejects unknown keys; this module turns it into a
//! [`Config`] of real types and enforces every rule of SPEC §2, collecting
//! *all* errors with their positions so `sessiongate check` can print them at
//! once.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::{HeaderName, Uri};
use ipnet::IpNet;
use regex::Regex;

mod document;
mod error;
mod limit_rules;
mod raw;
mod routing_rules;
mod session_rules;
mod store_rules;
pub(crate) mod store_url;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_routing;
#[cfg(test)]
mod tests_sections;
#[cfg(test)]
mod tests_session;
mod validate;

pub use error::{ConfigError, ConfigErrors, LoadError};
pub use store_rules::{STORE_URL_ENV, redact_url};

impl Config {
    /// Parses and validates a config file's text. On failure, every problem
    /// found, each with its 1-based line and column where known, in file
    /// order.
    ///
    /// Relative TLS paths are kept as written; [`Config::load`] resolves
    /// them against the file's directory.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigErrors> {
        Config::parse(text, None)
    }

    /// [`Config::from_toml_str`], with `store_url` (when given) in place of
    /// the file's `store.url`, validated the same way.
    pub fn parse(text: &str, store_url: Option<&str>) -> Result<Config, ConfigErrors> {
        let doc = document::Document::parse(text).map_err(ConfigErrors)?;
        let mut errors = Vec::new();
        let parsed = doc.read(&mut errors);
        let result =
            validate::Validator::new(&doc, &parsed.failed, store_url).validate(&parsed.raw);
        match result {
            Ok(config) if errors.is_empty() => Ok(config),
            Ok(_) => Err(sorted(errors)),
            Err(more) => {
                errors.extend(more);
                Err(sorted(errors))
            }
        }
    }

    /// Reads and validates the file at `path`. Relative `server.tls` and `ca_file` paths
    /// are resolved against the file's directory, so a config means the same
    /// whatever directory the gateway was started from.
    ///
    /// A non-empty `$SESSIONGATE_STORE_URL` replaces `store.url`, so the
    /// password-bearing URL can come from a secret while the file does not.
    pub fn load(path: &Path) -> Result<Config, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
            path: path.to_owned(),
            source,
        })?;
        let store_url = std::env::var(STORE_URL_ENV)
            .ok()
            .filter(|url| !url.is_empty());
        let mut config =
            Config::parse(&text, store_url.as_deref()).map_err(|errors| LoadError::Invalid {
                path: path.to_owned(),
                errors,
            })?;
        let base = path.parent().unwrap_or(Path::new(""));
        if let Some(tls) = &mut config.server.tls {
            tls.cert = base.join(&tls.cert);
            tls.key = base.join(&tls.key);
        }
        let ca_files = [
            &mut config.upstream.ca_file,
            &mut config.store.ca_file,
            &mut config.admin.token_file,
        ];
        for ca in ca_files.into_iter().flatten() {
            *ca = base.join(&*ca);
        }
        Ok(config)
    }
}

/// An empty file: every SPEC §2 default.
impl Default for Config {
    fn default() -> Self {
        match Config::from_toml_str("") {
            Ok(config) => config,
            // The defaults are checked by a unit test; this cannot happen.
            Err(errors) => panic!("the built-in defaults are invalid: {errors:?}"),
        }
    }
}

/// File order (errors without a position last), duplicates removed: the
/// order an operator reads and fixes them in.
fn sorted(mut errors: Vec<ConfigError>) -> ConfigErrors {
    errors.sort_by_key(|e| e.position.unwrap_or((usize::MAX, usize::MAX)));
    errors.dedup();
    ConfigErrors(errors)
}

/// A fully validated configuration. Every field has the type it is used as.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub admin: AdminConfig,
    pub log: LogConfig,
    pub store: StoreConfig,
    pub session: SessionConfig,
    pub login: LoginConfig,
    pub upstream: UpstreamConfig,
    /// In file order; the first match wins.
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub tls: Option<TlsFiles>,
    pub trusted_proxies: Vec<IpNet>,
    /// Also bounds accept (or TLS handshake) to the first request byte.
    pub header_read_timeout: Duration,
    pub max_header_bytes: usize,
    /// Idle kept-alive HTTP/1.1 and stream-less HTTP/2 connections close
    /// after this long.
    pub keepalive_timeout: Duration,
    pub shutdown_grace: Duration,
    /// Connections served at once; beyond it new ones wait in the listen
    /// backlog. `None`: sized from the open-file limit at start-up
    /// ([`crate::server::limit`]).
    pub max_connections: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    /// The file holding the session API's bearer token (SPEC §9); `None`:
    /// the API is off unless `$SESSIONGATE_ADMIN_TOKEN` is set. Read by
    /// [`crate::admin::token`], resolved against the config's directory.
    pub token_file: Option<PathBuf>,
    /// Admin connections served at once (its own budget, apart from the
    /// proxy's).
    pub max_connections: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub format: LogFormat,
    pub access_log: bool,
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `memory://`, `redis://…`, `rediss://…`, `redis+unix://…`,
    /// `redis+sentinel://…`, `redis+cluster://…` (validated scheme).
    pub url: String,
    pub key_prefix: String,
    pub op_timeout: Duration,
    /// PEM file of the CAs that sign the Redis servers' certificates, in
    /// place of the public roots (`rediss://` only).
    pub ca_file: Option<PathBuf>,
    /// `client_cache`: hot sessions answered from a local copy kept
    /// coherent by Redis's invalidation messages, at most this many
    /// (`client_cache_entries`); `None` = off. A single Redis server only.
    pub client_cache: Option<usize>,
    /// `memory://` only: at most this many sessions; a login beyond it
    /// evicts the least recently active one.
    pub max_sessions: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Managed,
    External,
    Observe,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Managed => "managed",
            Mode::External => "external",
            Mode::Observe => "observe",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieSecure {
    Always,
    Never,
    /// Secure when the request came over TLS, or https from a trusted proxy.
    Auto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Strict,
    Lax,
    None,
}

#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub mode: Mode,
    pub cookie_name: String,
    pub cookie_path: String,
    /// `None`: host-only cookie.
    pub cookie_domain: Option<String>,
    pub cookie_secure: CookieSecure,
    pub cookie_http_only: bool,
    pub cookie_same_site: SameSite,
    /// Never zero.
    pub idle_timeout: Duration,
    pub sliding: bool,
    /// `None` when the file says `"0s"`.
    pub absolute_timeout: Option<Duration>,
    pub browser_session: bool,
    /// Zero: refresh on every request. Always `< idle_timeout`.
    pub touch_interval: Duration,
    /// External mode only; contains `{id}`.
    pub key_template: Option<String>,
    /// External mode: a regex with a named group `id`.
    pub id_pattern: Option<Regex>,
    /// Observe mode: the application's own session cookie.
    pub learn_cookie: Option<String>,
    pub identity_header: HeaderName,
    /// Managed mode: the most live sessions a user may have; `None` = no limit.
    pub max_sessions_per_user: Option<u32>,
    pub on_session_limit: OnSessionLimit,
    /// Protected HTML pages get the expiry warning script (SPEC §12);
    /// a route's own `inject_warning` overrides it.
    pub inject_warning: bool,
    /// How long before expiry the warning shows. Never zero.
    pub warning_before: Duration,
}

/// What a login that would exceed `max_sessions_per_user` does (SPEC §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnSessionLimit {
    /// The least recently active session ends.
    EvictOldest,
    /// The login is answered `409`; no session is created.
    Refuse,
}

#[derive(Debug, Clone)]
pub struct LoginConfig {
    /// A path (`/login`) or an absolute URL.
    pub url: String,
    /// `None` when the file says `""`.
    pub next_param: Option<String>,
    pub logout_path: String,
    /// Where logout sends the browser; defaults to `url`.
    pub after_logout: String,
}

#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// `http://` or `https://` with an authority.
    pub url: Uri,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
    pub preserve_host: bool,
    /// PEM file of the CAs that sign the HTTPS upstreams' certificates, in
    /// place of the public roots.
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnUnauthenticated {
    Auto,
    Redirect,
    Unauthorized,
}

#[derive(Debug, Clone)]
pub struct Route {
    /// Metrics label; defaults to `path`. Unique across routes.
    pub name: String,
    /// Path prefix, matched against the normalised request path.
    pub path: String,
    /// Exact host match (without port), when set.
    pub host: Option<String>,
    pub public: bool,
    /// `None`: the default upstream.
    pub upstream: Option<Uri>,
    pub on_unauthenticated: OnUnauthenticated,
    /// Stricter idle limit for this route.
    pub idle_timeout: Option<Duration>,
    pub extends_session: bool,
    /// This route's own `inject_warning`, overriding `[session]`'s.
    pub inject_warning: Option<bool>,
}

impl Route {
    /// A protected route with every default (SPEC §2): the default
    /// upstream, `on_unauthenticated = "auto"`, the session's idle limit,
    /// extending sessions.
    pub fn protected(name: &str, path: &str) -> Route {
        Route {
            name: name.to_owned(),
            path: path.to_owned(),
            host: None,
            public: false,
            upstream: None,
            on_unauthenticated: OnUnauthenticated::Auto,
            idle_timeout: None,
            extends_session: true,
            inject_warning: None,
        }
    }
}
