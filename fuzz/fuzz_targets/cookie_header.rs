//! `Cookie` header parsing (`session/cookie.rs`): `find_cookie`,
//! `join_cookie_headers`, `strip_cookie`, `keep_checked_cookie`.
#![no_main]

use http::header::COOKIE;
use libfuzzer_sys::fuzz_target;
use sessiongate::session::cookie::{
    find_cookie, join_cookie_headers, keep_checked_cookie, strip_cookie,
};
use sessiongate_fuzz::{cookie_pairs, occurrences, values_of};

const NAMES: [&str; 4] = ["sessiongate", "sessionid", "connect.sid", "PHPSESSID"];

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let name = NAMES[usize::from(flags & 3)];
    let keep = flags & 4 != 0;
    let headers = values_of(rest, &COOKIE);
    let first = find_cookie(&headers, name).map(str::to_owned);

    // Joining crumbs never changes which occurrence is the session.
    let mut joined = headers.clone();
    join_cookie_headers(&mut joined);
    assert!(joined.get_all(COOKIE).iter().count() <= 1);
    assert_eq!(find_cookie(&joined, name).map(str::to_owned), first);

    // Managed mode: no copy of the gateway's cookie is left, the others are.
    let mut stripped = headers.clone();
    strip_cookie(&mut stripped, name);
    assert_eq!(find_cookie(&stripped, name), None);
    let others = |h: &http::HeaderMap| {
        cookie_pairs(h)
            .into_iter()
            .filter(|p| {
                let eq = p.iter().position(|b| *b == b'=');
                eq.is_none_or(|eq| p[..eq].trim_ascii() != name.as_bytes())
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(others(&stripped), others(&headers));

    // External and observe modes: at most the checked occurrence is left,
    // and only when it is kept; nothing an application would read instead.
    let mut kept = headers.clone();
    let removed = keep_checked_cookie(&mut kept, name, keep);
    let left = occurrences(&kept, name);
    match (&first, keep) {
        (Some(value), true) => {
            assert_eq!(left.len(), 1, "one occurrence left");
            assert!(left[0].0, "the one left is named exactly");
            let left_value = String::from_utf8_lossy(&left[0].1);
            assert!(value.is_empty() || left_value == *value);
        }
        _ => assert!(left.is_empty(), "no occurrence left"),
    }
    let before = occurrences(&headers, name).len();
    assert!(removed.len() <= before);
});
