//! `Set-Cookie` parsing for observe mode (`session/learn.rs`), and the
//! gateway's own `Set-Cookie` (`session/set_cookie.rs`) read back by it.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use sessiongate::config::Config;
use sessiongate::session::learn::{Learned, learned};
use sessiongate::session::{CookieAttrs, SessionId};
use sessiongate_fuzz::values_of;

const NAMES: [&str; 4] = ["sessionid", "sessiongate", "connect.sid", "a"];

fn configs() -> &'static [Config] {
    static CONFIGS: OnceLock<Vec<Config>> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        [
            "",
            "cookie_path = \"/app\"\ncookie_domain = \"example.com\"\ncookie_secure = true\ncookie_same_site = \"none\"",
            "cookie_http_only = false\ncookie_same_site = \"strict\"\ncookie_secure = false",
        ]
        .iter()
        .map(|s| Config::from_toml_str(&format!("[session]\n{s}\n")).expect("valid config"))
        .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let name = NAMES[usize::from(data[0] & 3)];
    let now_unix = i64::from(u32::from_le_bytes([data[1], data[2], data[3], data[4]]));
    let headers = values_of(&data[5..], &SET_COOKIE);
    if let Some(Learned::Set(value)) = learned(&headers, name, now_unix) {
        assert!(!value.is_empty(), "an empty value is a deletion");
    }

    // The gateway's Set-Cookie, for any value that is an id, parses back.
    let Ok(text) = std::str::from_utf8(&data[5..]) else {
        return;
    };
    let Ok(id) = SessionId::parse(text) else {
        return;
    };
    let config = &configs()[usize::from(data[0] >> 2) % configs().len()];
    let secure = data[1] & 1 == 1;
    let attrs = CookieAttrs::named(&config.session, name, secure);
    let age = Duration::from_millis(u64::from(data[2]) * 7919 + u64::from(data[3]));
    let one = |v: HeaderValue| {
        let mut h = HeaderMap::new();
        h.insert(SET_COOKIE, v);
        h
    };
    let set = attrs.set(id.expose(), Some(age)).expect("valid Set-Cookie");
    let parsed = cookie::Cookie::parse(set.to_str().expect("ASCII").to_owned()).expect("parses");
    assert_eq!(parsed.name(), name);
    assert_eq!(parsed.value(), id.expose());
    assert_eq!(parsed.path(), Some(attrs.path));
    let want_secs = i64::try_from(age.as_millis().div_ceil(1000)).expect("small");
    assert_eq!(parsed.max_age().map(|a| a.whole_seconds()), Some(want_secs));
    let expected = if want_secs > 0 {
        Learned::Set(id.expose().to_owned())
    } else {
        Learned::Deleted
    };
    assert_eq!(learned(&one(set), name, now_unix), Some(expected));
    let clear = attrs.clear().expect("valid Set-Cookie");
    assert_eq!(learned(&one(clear), name, now_unix), Some(Learned::Deleted));
});
