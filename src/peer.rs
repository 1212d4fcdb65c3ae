//! The connection a request came on, as the gateway sees it: shared by the
//! listener that accepts it (`server`) and the gateway that answers it.

use std::net::SocketAddr;

use http::header::HOST;
use http::{HeaderMap, Uri};
use ipnet::IpNet;

const X_FORWARDED_HOST: &str = "x-forwarded-host";

/// What the gateway knows about the connection a request came on; needed
/// for `X-Forwarded-*`, for `cookie_secure = "auto"` and for the headers
/// only a trusted proxy may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    /// The client connected over TLS (to this gateway).
    pub tls: bool,
    /// An HTTP/1 head on this connection carried both `Content-Length` and
    /// `Transfer-Encoding` (hyper hides that from the parsed request).
    pub ambiguous_framing: bool,
}

impl ConnInfo {
    /// Whether the peer is one of `server.trusted_proxies`: the one
    /// definition of a trusted proxy.
    pub fn is_trusted_proxy(&self, trusted: &[IpNet]) -> bool {
        let ip = self.peer.ip();
        trusted.iter().any(|net| net.contains(&ip))
    }
}

/// The host the client addressed, as the gateway sees it: behind a trusted
/// proxy the first `X-Forwarded-Host`, else `Host`, else the request
/// target's authority (HTTP/2). Untrimmed; `None` when none is readable.
pub fn addressed_host<'a>(headers: &'a HeaderMap, uri: &'a Uri, trusted: bool) -> Option<&'a str> {
    let forwarded = trusted
        .then(|| headers.get(X_FORWARDED_HOST))
        .flatten()
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.split(',').next());
    forwarded
        .or_else(|| headers.get(HOST).and_then(|h| h.to_str().ok()))
        .or_else(|| uri.authority().map(|a| a.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_proxies_by_cidr() {
        let conn = |peer: &str| ConnInfo {
            peer: peer.parse().unwrap(),
            tls: false,
            ambiguous_framing: false,
        };
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        assert!(conn("10.1.2.3:1").is_trusted_proxy(&trusted));
        assert!(conn("[::1]:1").is_trusted_proxy(&trusted));
        assert!(!conn("11.0.0.1:1").is_trusted_proxy(&trusted));
        assert!(!conn("10.1.2.3:1").is_trusted_proxy(&[]));
    }
}
