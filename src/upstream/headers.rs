//! Header rewriting on the way through: hop-by-hop removal (RFC 9110
//! §7.6.1) and `X-Forwarded-For` / `-Proto` / `-Host`.
//!
//! Hop-by-hop headers describe one connection, not the message: forwarding
//! them lets a client steer the gateway's connection to the upstream (or an
//! upstream steer the client's), so they are removed in both directions,
//! together with every header the `Connection` header names.

use std::io::Write as _;
use std::net::IpAddr;

use http::header::{
    CONNECTION, HOST, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE, TRAILER, TRANSFER_ENCODING,
    UPGRADE,
};
use http::{HeaderMap, HeaderName, HeaderValue};

pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
/// The h2c upgrade's settings (RFC 7540 §3.2.1): connection-specific, and
/// only ever sent with an upgrade the gateway never forwards.
const HTTP2_SETTINGS: HeaderName = HeaderName::from_static("http2-settings");

/// The fixed hop-by-hop headers (RFC 9110 §7.6.1 plus the legacy ones).
const HOP_BY_HOP: [HeaderName; 10] = [
    CONNECTION,
    KEEP_ALIVE,
    PROXY_CONNECTION,
    PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION,
    TE,
    TRAILER,
    TRANSFER_ENCODING,
    UPGRADE,
    HTTP2_SETTINGS,
];

/// Whether the headers ask for a WebSocket upgrade (`Connection: upgrade`
/// and `Upgrade: websocket`).
pub fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    connection_has(headers, "upgrade")
        && headers.get_all(UPGRADE).iter().any(|v| {
            v.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|p| p.trim().eq_ignore_ascii_case("websocket"))
            })
        })
}

fn connection_has(headers: &HeaderMap, token: &str) -> bool {
    connection_tokens(headers.get_all(CONNECTION).iter()).any(|t| t.eq_ignore_ascii_case(token))
}

/// Removes every hop-by-hop header and every header `Connection` names.
/// With `websocket`, the message is a WebSocket handshake: it gets
/// `Connection: upgrade` and `Upgrade: websocket` again (the only
/// hop-by-hop state the other side needs to complete it), and no other
/// upgrade token, so `Upgrade: websocket, h2c` never offers `h2c` upstream.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, websocket: bool) {
    // One pass over the names present (a handful) instead of nine lookups;
    // most requests carry none, most responses only `Connection`.
    let mut present = 0u16;
    for name in headers.keys() {
        if let Some(i) = HOP_BY_HOP.iter().position(|hop| hop == name) {
            present |= 1 << i;
        }
    }
    if present == 0 && !websocket {
        return;
    }
    // The headers `Connection` names beyond the fixed ones (`keep-alive`,
    // `upgrade`, and `close`, which names none, are the usual values and
    // need nothing more). Only then are its values copied (cheap clones of
    // shared bytes) so the map can change while they are read; removing by
    // `&str` builds no `HeaderName`.
    let names_others = connection_tokens(headers.get_all(CONNECTION).iter())
        .any(|t| !t.eq_ignore_ascii_case("close") && !is_fixed_hop_by_hop(t));
    if names_others {
        let connection: Vec<HeaderValue> = headers.get_all(CONNECTION).iter().cloned().collect();
        for token in connection_tokens(connection.iter()) {
            headers.remove(token);
        }
    }
    for (i, name) in HOP_BY_HOP.iter().enumerate() {
        if present & (1 << i) != 0 {
            headers.remove(name);
        }
    }
    if websocket {
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    }
}

/// The non-empty, trimmed tokens of `Connection` header values.
fn connection_tokens<'a>(
    values: impl Iterator<Item = &'a HeaderValue>,
) -> impl Iterator<Item = &'a str> {
    values
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

fn is_fixed_hop_by_hop(token: &str) -> bool {
    HOP_BY_HOP
        .iter()
        .any(|name| name.as_str().eq_ignore_ascii_case(token))
}

/// The client as the gateway saw it.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub ip: IpAddr,
    /// The connection to the gateway was TLS.
    pub tls: bool,
    /// The peer is one of `server.trusted_proxies`
    /// ([`ConnInfo::is_trusted_proxy`](crate::peer::ConnInfo::is_trusted_proxy)).
    pub trusted: bool,
}

/// `ip` in dotted decimal at the start of `buf`; returns its length.
fn ipv4_text(buf: &mut [u8; 64], ip: std::net::Ipv4Addr) -> usize {
    let mut at = 0;
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            buf[at] = b'.';
            at += 1;
        }
        if octet >= 100 {
            buf[at] = b'0' + octet / 100;
            at += 1;
        }
        if octet >= 10 {
            buf[at] = b'0' + octet / 10 % 10;
            at += 1;
        }
        buf[at] = b'0' + octet % 10;
        at += 1;
    }
    at
}

/// Sets `X-Forwarded-For`/`-Proto`/`-Host` to the gateway's view of the
/// client. A trusted peer is itself a proxy: its `X-Forwarded-For`
/// is extended and its `-Proto`/`-Host` kept (when present). Anyone else's
/// are replaced, so a client cannot forge its address or scheme.
/// `client_host` is the Host the client addressed.
pub fn set_forwarded(headers: &mut HeaderMap, peer: Peer, client_host: Option<&HeaderValue>) {
    let is_trusted = peer.trusted;
    let own_proto = HeaderValue::from_static(if peer.tls { "https" } else { "http" });
    // The address, formatted on the stack: the common case (an untrusted
    // peer) then costs one copy into the header value and nothing else.
    let mut buf = [0u8; 64];
    let len = match peer.ip {
        // By hand: `fmt` machinery cost about 1k instructions per request.
        std::net::IpAddr::V4(v4) => ipv4_text(&mut buf, v4),
        std::net::IpAddr::V6(v6) => {
            let mut cursor = std::io::Cursor::new(&mut buf[..]);
            // 64 bytes hold any IPv6 address with a scope; cannot fail.
            let _ = write!(cursor, "{v6}");
            usize::try_from(cursor.position()).unwrap_or(0)
        }
    };
    let ip = std::str::from_utf8(&buf[..len]).unwrap_or("");
    let previous_for: Vec<&str> = if is_trusted {
        headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect()
    } else {
        Vec::new()
    };
    let value = if previous_for.is_empty() {
        HeaderValue::from_str(ip)
    } else {
        let mut list = previous_for.join(", ");
        list.push_str(", ");
        list.push_str(ip);
        HeaderValue::from_str(&list)
    };
    // The parts are visible ASCII (checked by `to_str`), so this cannot fail.
    match value {
        Ok(value) => headers.insert(X_FORWARDED_FOR, value),
        Err(_) => headers.remove(X_FORWARDED_FOR),
    };

    let keep = |headers: &HeaderMap, name: &HeaderName| {
        is_trusted && headers.get_all(name).iter().count() == 1
    };
    if !keep(headers, &X_FORWARDED_PROTO) {
        headers.insert(X_FORWARDED_PROTO, own_proto);
    }
    if !keep(headers, &X_FORWARDED_HOST) {
        match client_host {
            Some(host) => {
                headers.insert(X_FORWARDED_HOST, host.clone());
            }
            None => {
                headers.remove(X_FORWARDED_HOST);
            }
        }
    }
}

/// The client's Host: the header, or the HTTP/2 `:authority`.
pub fn client_host(headers: &HeaderMap, uri: &http::Uri) -> Option<HeaderValue> {
    headers.get(HOST).cloned().or_else(|| {
        uri.authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_text_is_dotted_decimal() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.30.40",
            "255.255.255.255",
            "1.100.99.9",
        ] {
            let mut buf = [0u8; 64];
            let len = ipv4_text(&mut buf, ip.parse().unwrap());
            assert_eq!(std::str::from_utf8(&buf[..len]).unwrap(), ip);
        }
    }

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn strips_fixed_and_named_hop_by_hop() {
        let mut h = map(&[
            ("connection", "keep-alive, X-Secret, not a name, ,close"),
            ("connection", "X-Other"),
            ("x-other", "2"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("te", "trailers"),
            ("proxy-authorization", "Basic x"),
            ("upgrade", "h2c"),
            ("x-kept", "yes"),
        ]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!(h["x-kept"], "yes");
    }

    #[test]
    fn websocket_keeps_upgrade() {
        let mut h = map(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        assert!(is_websocket_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h["connection"], "upgrade");
        assert_eq!(h["upgrade"], "websocket");
    }

    #[test]
    fn websocket_upgrade_keeps_only_the_websocket_token() {
        let mut h = map(&[
            ("connection", "Upgrade, HTTP2-Settings"),
            ("upgrade", "websocket, h2c"),
            ("upgrade", "foo/2"),
            ("http2-settings", "AAMAAABkAAQAoAAAAAIAAAAA"),
        ]);
        assert!(is_websocket_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h.len(), 2, "{h:?}");
        assert_eq!(h["connection"], "upgrade");
        let upgrade: Vec<_> = h.get_all(UPGRADE).iter().collect();
        assert_eq!(upgrade, ["websocket"]);
    }

    #[test]
    fn h2c_upgrade_and_its_settings_are_removed() {
        let mut h = map(&[
            ("upgrade", "h2c"),
            ("http2-settings", "AAMAAABkAAQAoAAAAAIAAAAA"),
            ("x-kept", "yes"),
        ]);
        assert!(!is_websocket_upgrade(&h));
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1, "{h:?}");
    }

    #[test]
    fn forwarded_replaced_for_untrusted_peer() {
        let mut h = map(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil"),
        ]);
        let peer = Peer {
            ip: "10.0.0.5".parse().unwrap(),
            tls: false,
            trusted: false,
        };
        let host = HeaderValue::from_static("app.example.com");
        set_forwarded(&mut h, peer, Some(&host));
        assert_eq!(h["x-forwarded-for"], "10.0.0.5");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "app.example.com");
    }

    #[test]
    fn forwarded_extended_for_trusted_peer() {
        let mut h = map(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-for", "5.6.7.8"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "app.example.com"),
        ]);
        let peer = Peer {
            ip: "10.0.0.5".parse().unwrap(),
            tls: false,
            trusted: true,
        };
        set_forwarded(&mut h, peer, Some(&HeaderValue::from_static("lb")));
        assert_eq!(h["x-forwarded-for"], "1.2.3.4, 5.6.7.8, 10.0.0.5");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "app.example.com");
    }
}
