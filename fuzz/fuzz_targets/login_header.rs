//! The upstream's `Sessiongate-Login` header (`session/lifecycle.rs`).
#![no_main]

use http::HeaderValue;
use libfuzzer_sys::fuzz_target;
use sessiongate::session::lifecycle::LoginHeader;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let Ok(login) = LoginHeader::parse(&value) else {
        return;
    };
    assert!(!login.user.is_empty());
    assert_eq!(login.user.trim(), login.user);
    assert!(!login.user.contains(';'), "{:?}", login.user);
    // What it says, written out again, reads the same.
    let mut again = format!("user={}", login.user);
    if let Some(age) = login.max_age {
        again.push_str(&format!("; max-age={}", age.as_secs()));
    }
    let again = HeaderValue::from_str(&again).expect("visible ASCII");
    assert_eq!(LoginHeader::parse(&again).expect("parses"), login);
});
