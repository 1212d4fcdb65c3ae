//! Session ids: validated before any store key is built from them (SPEC
//! §4), generated from the OS CSPRNG, and never shown in a log: `Debug`
//! redacts.

use std::fmt;

/// Bytes of OS randomness in a new id: 256 bits, twice the 128-bit floor.
const ID_BYTES: usize = 32;

/// The longest session id accepted from a cookie (SPEC §4).
const MAX_ID_LEN: usize = 256;

/// A syntactically valid session id: 1 to 256 bytes of `[A-Za-z0-9._~+/=,-]`.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId(String);

/// The cookie value is not a valid session id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed session id")]
pub struct InvalidId;

impl SessionId {
    /// A fresh id from the OS CSPRNG, hex-encoded (URL-safe and inside the
    /// id alphabet, unlike base64url's `_`).
    pub fn generate() -> Result<SessionId, getrandom::Error> {
        let mut bytes = [0u8; ID_BYTES];
        getrandom::fill(&mut bytes)?;
        let mut id = String::with_capacity(ID_BYTES * 2);
        for b in bytes {
            id.push(char::from(HEX[usize::from(b >> 4)]));
            id.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        Ok(SessionId(id))
    }

    /// Validates an id taken from a cookie (or extracted by `id_pattern`).
    pub fn parse(value: &str) -> Result<SessionId, InvalidId> {
        let valid = !value.is_empty()
            && value.len() <= MAX_ID_LEN
            && value.bytes().all(|b| {
                b.is_ascii_alphanumeric()
                    || matches!(b, b'.' | b'_' | b'~' | b'+' | b'/' | b'=' | b',' | b'-')
            });
        if valid {
            Ok(SessionId(value.to_owned()))
        } else {
            Err(InvalidId)
        }
    }

    /// The id itself: for building store keys and cookies, never for logs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_long_unique_and_valid() {
        let a = SessionId::generate().unwrap();
        let b = SessionId::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 64, "256 bits hex-encoded");
        assert_eq!(SessionId::parse(a.expose()), Ok(a));
    }

    #[test]
    fn debug_never_shows_the_id() {
        let id = SessionId::parse("secretvalue").unwrap();
        assert!(!format!("{id:?}").contains("secret"));
    }

    #[test]
    fn id_alphabet_and_length() {
        for ok in [
            "a",
            "AZaz09._~+/=,-",
            "nAC5Pf1WL66gOf_D2YIN2ccECmtUPXeN",
            &"x".repeat(256),
        ] {
            assert!(SessionId::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            &"x".repeat(257),
            "a b",
            "a;b",
            "a\"b",
            "é",
            "a\u{0}b",
            "{id}",
            "a:b",
            "a*b",
        ] {
            assert_eq!(SessionId::parse(bad), Err(InvalidId), "{bad:?}");
        }
    }
}
