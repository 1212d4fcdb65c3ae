//! The multi-node store URLs of SPEC §2:
//! `redis+sentinel://[USER:PASS@]H1:P1,H2:P2/MASTER_NAME/DB` and
//! `redis+cluster://[USER:PASS@]H1:P1,H2:P2`, and their TLS forms
//! `rediss+sentinel://` and `rediss+cluster://`.
//!
//! redis-rs parses only single-server URLs, so these are split here. Error
//! messages never repeat the URL: it may hold a password.
//!
//! Configuration checks these URLs and the stores connect with them, so the
//! parsing lives on the configuration side: `store` depends on `config`,
//! never the other way round.

use percent_encoding::percent_decode_str;

/// Why a sentinel or cluster URL is malformed (never the URL itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid store URL: {0}")]
pub(crate) struct InvalidStoreUrl(pub &'static str);

/// Redis' port, for a cluster node written without one.
const REDIS_PORT: u16 = 6379;
/// Sentinel's port, for a sentinel written without one.
const SENTINEL_PORT: u16 = 26379;

/// Whether `store.client_cache` can be used with this store URL: it needs
/// one server whose invalidation messages cover every key.
pub(crate) fn client_cache_support(url: &str) -> Result<(), &'static str> {
    match url.split_once("://").map(|(scheme, _)| scheme) {
        Some("redis" | "rediss" | "redis+unix" | "unix") => Ok(()),
        Some("memory") => Err(
            "only for Redis: the embedded store (memory://) is already local; \
             remove it or set store.url to a Redis server",
        ),
        _ => Err(
            "not supported with Sentinel or Cluster yet (the cache would have to follow \
             failovers and every node's invalidations); remove it, or use a single \
             redis:// or rediss:// server",
        ),
    }
}

/// Which topology a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Topology {
    Sentinel,
    Cluster,
}

/// A parsed multi-node URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct NodesUrl {
    pub topology: Topology,
    /// `rediss+…`: every connection (sentinels, master, cluster nodes) is TLS.
    pub tls: bool,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Host and port of each sentinel or cluster seed node, in order.
    pub nodes: Vec<(String, u16)>,
    /// Sentinel only: the monitored master's name.
    pub master_name: String,
    /// Sentinel only: the database on the master (a cluster has only 0).
    pub db: i64,
}

impl std::fmt::Debug for NodesUrl {
    // Never print the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodesUrl")
            .field("topology", &self.topology)
            .field("tls", &self.tls)
            .field("nodes", &self.nodes)
            .field("master_name", &self.master_name)
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

/// The topology `url`'s scheme names, or `None` for a single-server URL.
pub(crate) fn topology(url: &str) -> Option<Topology> {
    match url.split_once("://")?.0 {
        "redis+sentinel" | "rediss+sentinel" => Some(Topology::Sentinel),
        "redis+cluster" | "rediss+cluster" => Some(Topology::Cluster),
        _ => None,
    }
}

/// Parses a sentinel or cluster URL.
pub(crate) fn parse(url: &str) -> Result<NodesUrl, InvalidStoreUrl> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| invalid("the URL has no scheme"))?;
    let (topology, tls) = match scheme {
        "redis+sentinel" => (Topology::Sentinel, false),
        "rediss+sentinel" => (Topology::Sentinel, true),
        "redis+cluster" => (Topology::Cluster, false),
        "rediss+cluster" => (Topology::Cluster, true),
        _ => return Err(invalid("not a sentinel or cluster URL")),
    };
    if rest.contains(['?', '#']) {
        return Err(invalid("query parameters are not supported in this URL"));
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (Some(userinfo), hosts),
        None => (None, authority),
    };
    let (username, password) = match userinfo {
        None => (None, None),
        Some(info) => {
            let (user, pass) = info.split_once(':').unwrap_or((info, ""));
            (decode(user)?, decode(pass)?)
        }
    };
    let default_port = match topology {
        Topology::Sentinel => SENTINEL_PORT,
        Topology::Cluster => REDIS_PORT,
    };
    let nodes = hosts
        .split(',')
        .map(|node| host_port(node, default_port))
        .collect::<Result<Vec<_>, _>>()?;
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    let (master_name, db) = match topology {
        Topology::Sentinel => {
            let name = segments
                .next()
                .ok_or_else(|| invalid("the sentinel URL names no master: …/MASTER_NAME/DB"))?;
            let db = match segments.next() {
                None => 0,
                Some(db) => db
                    .parse()
                    .map_err(|_| invalid("the database is not a number"))?,
            };
            (decode(name)?.unwrap_or_default(), db)
        }
        Topology::Cluster => {
            if segments.next().is_some_and(|db| db != "0") {
                return Err(invalid("a Redis Cluster has only database 0"));
            }
            (String::new(), 0)
        }
    };
    if segments.next().is_some() {
        return Err(invalid("unexpected path segments after the database"));
    }
    Ok(NodesUrl {
        topology,
        tls,
        username,
        password,
        nodes,
        master_name,
        db,
    })
}

/// `HOST`, `HOST:PORT`, `[V6]` or `[V6]:PORT`.
fn host_port(node: &str, default_port: u16) -> Result<(String, u16), InvalidStoreUrl> {
    let (host, port) = if let Some(bracketed) = node.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| invalid("an IPv6 address lacks its closing bracket"))?;
        (host, after.strip_prefix(':'))
    } else {
        match node.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (node, None),
        }
    };
    if host.is_empty() {
        return Err(invalid("a node has no host"));
    }
    let port = match port {
        None => default_port,
        Some(port) => port
            .parse()
            .map_err(|_| invalid("a node's port is not a number"))?,
    };
    Ok((host.to_owned(), port))
}

/// Percent-decodes a URL part; empty is `None`.
fn decode(part: &str) -> Result<Option<String>, InvalidStoreUrl> {
    let decoded = percent_decode_str(part)
        .decode_utf8()
        .map_err(|_| invalid("the user or password is not valid UTF-8"))?;
    Ok(Some(decoded.into_owned()).filter(|s| !s.is_empty()))
}

fn invalid(why: &'static str) -> InvalidStoreUrl {
    InvalidStoreUrl(why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_url() {
        let url = parse("redis+sentinel://u:p%40ss@h1:26380,[::1],h3/mymaster/2").unwrap();
        assert_eq!(url.topology, Topology::Sentinel);
        assert!(!url.tls);
        assert_eq!(url.username.as_deref(), Some("u"));
        assert_eq!(url.password.as_deref(), Some("p@ss"));
        assert_eq!(
            url.nodes,
            [
                ("h1".to_owned(), 26380),
                ("::1".to_owned(), 26379),
                ("h3".to_owned(), 26379)
            ]
        );
        assert_eq!(url.master_name, "mymaster");
        assert_eq!(url.db, 2);
        assert!(!format!("{url:?}").contains("p@ss"));
    }

    #[test]
    fn sentinel_db_defaults_to_zero_and_name_is_required() {
        assert_eq!(parse("redis+sentinel://h:1/m").unwrap().db, 0);
        assert!(parse("redis+sentinel://h:1").is_err());
        assert!(parse("redis+sentinel://h:1/m/x").is_err());
        assert!(parse("redis+sentinel://h:1/m/0/extra").is_err());
    }

    #[test]
    fn cluster_url() {
        let url = parse("rediss+cluster://:secret@a:7000,b").unwrap();
        assert_eq!(url.topology, Topology::Cluster);
        assert!(url.tls);
        assert_eq!(url.username, None);
        assert_eq!(url.password.as_deref(), Some("secret"));
        assert_eq!(
            url.nodes,
            [("a".to_owned(), 7000), ("b".to_owned(), REDIS_PORT)]
        );
        assert!(parse("redis+cluster://a:7000/0").is_ok());
        assert!(parse("redis+cluster://a:7000/1").is_err());
    }

    #[test]
    fn malformed() {
        for url in [
            "redis+cluster://",
            "redis+cluster://a:x",
            "redis+cluster://a,,b",
            "redis+cluster://[::1",
            "redis+cluster://a?tls=1",
            "redis://a",
        ] {
            assert!(parse(url).is_err(), "{url}");
        }
    }

    #[test]
    fn topology_by_scheme() {
        assert_eq!(topology("rediss+sentinel://h/m"), Some(Topology::Sentinel));
        assert_eq!(topology("redis+cluster://h"), Some(Topology::Cluster));
        assert_eq!(topology("redis://h"), None);
        assert_eq!(topology("redis+unix:///s"), None);
    }
}
