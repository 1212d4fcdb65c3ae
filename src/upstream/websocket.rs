//! Whether an upstream's `101` accepts the WebSocket handshake the client
//! asked for (RFC 6455 §4.2.2), the only upgrade the gateway tunnels.
//!
//! A `101` turns the connection into a blind byte pipe: everything the
//! client sends afterwards reaches the upstream unchecked. An upstream that
//! answers `101` without really switching (a misbehaving app, or a request
//! crafted to make it do so) would then receive the client's next requests
//! straight, forged identity headers and all. So a `101` is tunnelled only
//! when it proves it understood this very handshake: `Upgrade: websocket`
//! and the `Sec-WebSocket-Accept` derived from the request's key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::{SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use http::{HeaderMap, HeaderValue};
use sha1::{Digest as _, Sha1};

/// RFC 6455 §1.3: appended to the key before hashing.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The request's one `Sec-WebSocket-Key` (none when absent or repeated:
/// with two keys, which one an upstream answered is anyone's guess).
pub fn request_key(headers: &HeaderMap) -> Option<HeaderValue> {
    let mut keys = headers.get_all(SEC_WEBSOCKET_KEY).iter();
    match (keys.next(), keys.next()) {
        (Some(key), None) => Some(key.clone()),
        _ => None,
    }
}

/// `base64(SHA-1(key + GUID))`, the `Sec-WebSocket-Accept` for `key`.
pub fn accept_for(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(GUID);
    STANDARD.encode(sha1.finalize())
}

/// Whether `response` (a `101`) accepts the handshake made with `key`:
/// `Upgrade` is exactly `websocket` and there is exactly one
/// `Sec-WebSocket-Accept`, the one `key` calls for.
pub fn accepts(key: &HeaderValue, response: &HeaderMap) -> bool {
    let mut upgrade = response.get_all(UPGRADE).iter();
    let websocket = match (upgrade.next(), upgrade.next()) {
        (Some(value), None) => value
            .as_bytes()
            .trim_ascii()
            .eq_ignore_ascii_case(b"websocket"),
        _ => false,
    };
    let mut accept = response.get_all(SEC_WEBSOCKET_ACCEPT).iter();
    let accepted = match (accept.next(), accept.next()) {
        (Some(value), None) => value.as_bytes() == accept_for(key.as_bytes()).as_bytes(),
        _ => false,
    };
    websocket && accepted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::headers as response;

    /// RFC 6455 §1.3's worked example.
    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    #[test]
    fn accept_matches_the_rfc_example() {
        assert_eq!(accept_for(KEY.as_bytes()), ACCEPT);
    }

    #[test]
    fn only_the_matching_websocket_accept_is_accepted() {
        let key = HeaderValue::from_static(KEY);
        let cases: [(&[(&str, &str)], bool); 7] = [
            (
                &[("upgrade", "websocket"), ("sec-websocket-accept", ACCEPT)],
                true,
            ),
            (
                &[("upgrade", "WebSocket"), ("sec-websocket-accept", ACCEPT)],
                true,
            ),
            (&[("upgrade", "websocket")], false),
            (&[("sec-websocket-accept", ACCEPT)], false),
            (
                &[("upgrade", "h2c"), ("sec-websocket-accept", ACCEPT)],
                false,
            ),
            (
                &[
                    ("upgrade", "websocket"),
                    ("sec-websocket-accept", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
                ],
                false,
            ),
            (
                &[
                    ("upgrade", "websocket"),
                    ("sec-websocket-accept", ACCEPT),
                    ("sec-websocket-accept", ACCEPT),
                ],
                false,
            ),
        ];
        for (pairs, want) in cases {
            assert_eq!(accepts(&key, &response(pairs)), want, "{pairs:?}");
        }
    }

    #[test]
    fn a_repeated_key_is_no_key() {
        let one = response(&[("sec-websocket-key", KEY)]);
        assert_eq!(request_key(&one).unwrap(), KEY);
        let two = response(&[("sec-websocket-key", KEY), ("sec-websocket-key", KEY)]);
        assert!(request_key(&two).is_none());
    }
}
