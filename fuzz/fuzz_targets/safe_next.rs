//! The login `next` (`login.rs`): always a relative path starting with
//! exactly one `/`, whatever the request's path and query.
#![no_main]

use libfuzzer_sys::fuzz_target;
use percent_encoding::percent_decode_str;
use sessiongate::login::{login_location, safe_next};

fuzz_target!(|data: &[u8]| {
    let Ok(target) = std::str::from_utf8(data) else {
        return;
    };
    let next = safe_next(target);
    assert_safe(&next);
    // What a login page that decodes it once or twice more reads.
    let mut current = next.to_string();
    for _ in 0..2 {
        let Ok(decoded) = percent_decode_str(&current).decode_utf8() else {
            break;
        };
        assert_safe(&decoded);
        current = decoded.into_owned();
    }
    // The login URL carries exactly that `next`, encoded.
    let location = login_location("/login", Some("next"), target);
    let value = location
        .strip_prefix("/login?next=")
        .expect("one parameter");
    let decoded = percent_decode_str(value).decode_utf8().expect("UTF-8");
    assert_eq!(decoded, next);
});

fn assert_safe(next: &str) {
    let bytes = next.as_bytes();
    assert_eq!(bytes.first(), Some(&b'/'), "{next:?}");
    assert!(!matches!(bytes.get(1), Some(b'/' | b'\\')), "{next:?}");
    assert!(
        !bytes.iter().any(|&b| b < 0x20 || b == 0x7f || b == b'\\'),
        "{next:?}"
    );
}
