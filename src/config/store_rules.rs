//! Stage two for `[store]`: the store URL (from the file or
//! `$SESSIONGATE_STORE_URL`), `op_timeout`, `ca_file` and `client_cache`.
//! Messages never repeat a password: URLs are shown through [`redact_url`].

use std::path::PathBuf;

use super::StoreConfig;
use super::raw::RawStore;
use super::validate::Validator;

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

impl Validator<'_, '_> {
    pub(super) fn store(&mut self, raw: &RawStore) -> Option<StoreConfig> {
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
