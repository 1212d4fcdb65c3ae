//! Where `sessiongate sessions` sends its requests, and with which token:
//! the flags, then `$SESSIONGATE_ADMIN_TOKEN`, then the config.

#[allow(clippy::wildcard_imports)]
use super::*;

/// The admin listener's base URL: `http://HOST:PORT`, maybe with a path
/// prefix (an admin listener behind a proxy), never a trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminUrl(pub(super) String);

impl fmt::Display for AdminUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AdminUrl {
    /// The URL of a listener bound to `listen`. A wildcard address
    /// (`0.0.0.0`, `[::]`) is reached on loopback, as on the same host.
    pub fn from_listen(listen: SocketAddr) -> AdminUrl {
        let ip = match listen.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        AdminUrl(format!("http://{}", SocketAddr::new(ip, listen.port())))
    }

    /// `--admin URL`: `http://HOST:PORT[/prefix]`, or a bare `HOST:PORT`.
    pub fn parse(given: &str) -> Result<AdminUrl, ClientError> {
        let bad = |reason| ClientError::BadAdminUrl {
            given: given.to_owned(),
            reason,
        };
        let with_scheme = if given.contains("://") {
            given.to_owned()
        } else {
            format!("http://{given}")
        };
        let uri: Uri = with_scheme.parse().map_err(|_| bad("not a URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(bad(
                    "the admin listener speaks plain HTTP; use http:// (or a tunnel)",
                ));
            }
            _ => return Err(bad("only http:// URLs")),
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad(
                "no user:password@ in the URL; the token goes in --token-file",
            ));
        }
        if uri.query().is_some() {
            return Err(bad("no query string"));
        }
        let path = uri.path().trim_end_matches('/');
        Ok(AdminUrl(format!("http://{authority}{path}")))
    }
}

/// The admin token. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(pub(super) String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// A token from text; surrounding whitespace is not part of it, and
    /// nothing is no token.
    pub fn new(text: &str) -> Option<Token> {
        let token = text.trim();
        (!token.is_empty()).then(|| Token(token.to_owned()))
    }

    /// Reads a token file (as the gateway does: trimmed, not empty).
    pub fn read(path: &Path, origin: TokenOrigin) -> Result<Token, ClientError> {
        let text = std::fs::read_to_string(path).map_err(|source| ClientError::TokenRead {
            origin,
            path: path.to_owned(),
            source,
        })?;
        Token::new(&text).ok_or_else(|| ClientError::TokenEmpty {
            origin,
            path: path.to_owned(),
        })
    }

    pub(super) fn bearer(&self) -> Result<HeaderValue, ClientError> {
        let mut value = HeaderValue::try_from(format!("Bearer {}", self.0))
            .map_err(|_| ClientError::TokenNotAHeader)?;
        value.set_sensitive(true);
        Ok(value)
    }
}

/// What the command line says about the target (`--admin`, `--token-file`).
#[derive(Debug, Default, Clone)]
pub struct Flags {
    pub admin: Option<String>,
    pub token_file: Option<PathBuf>,
}

/// What the config says about its admin listener.
#[derive(Debug, Clone)]
pub struct FromConfig {
    /// The config file, for messages.
    pub path: PathBuf,
    pub listen: SocketAddr,
    pub token_file: Option<PathBuf>,
}

impl FromConfig {
    /// The admin listener's address and token file of a loaded config.
    pub fn new(path: &Path, config: &crate::Config) -> FromConfig {
        FromConfig {
            path: path.to_owned(),
            listen: config.admin.listen,
            token_file: config.admin.token_file.clone(),
        }
    }
}

impl Flags {
    /// Whether the config must be read: the flags and the environment
    /// (`env_token`, the value of [`TOKEN_ENV`]) leave the address or the
    /// token open.
    pub fn needs_config(&self, env_token: Option<&str>) -> bool {
        let token_known = self.token_file.is_some() || env_token.and_then(Token::new).is_some();
        self.admin.is_none() || !token_known
    }
}

/// Where to send, with which token.
#[derive(Debug, Clone)]
pub struct Target {
    pub base: AdminUrl,
    pub token: Token,
}

impl Target {
    /// The address: `--admin`, else the config's `[admin] listen`. The
    /// token: `--token-file`, else `$SESSIONGATE_ADMIN_TOKEN` when set and
    /// not empty (as for the gateway), else the config's
    /// `admin.token_file`. `config` is needed only when
    /// [`Flags::needs_config`] says so.
    pub fn resolve(
        flags: &Flags,
        env_token: Option<&str>,
        config: Option<&FromConfig>,
    ) -> Result<Target, ClientError> {
        let base = match (&flags.admin, config) {
            (Some(given), _) => AdminUrl::parse(given)?,
            (None, Some(config)) => AdminUrl::from_listen(config.listen),
            (None, None) => {
                return Err(ClientError::BadAdminUrl {
                    given: String::new(),
                    reason: "no admin listener: name it with --admin or a config",
                });
            }
        };
        let token = if let Some(path) = &flags.token_file {
            Token::read(path, TokenOrigin::Flag)?
        } else if let Some(token) = env_token.and_then(Token::new) {
            token
        } else if let Some(path) = config.and_then(|c| c.token_file.as_deref()) {
            Token::read(path, TokenOrigin::Config)?
        } else {
            return Err(ClientError::NoToken {
                config: config.map(|c| c.path.clone()),
            });
        };
        Ok(Target { base, token })
    }
}
