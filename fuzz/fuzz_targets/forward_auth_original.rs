//! The forward-auth original request (`endpoints/forward_auth/original.rs`).
#![no_main]

use http::Method;
use libfuzzer_sys::fuzz_target;
use sessiongate::endpoints::forward_auth::original::Original;
use sessiongate::login::safe_next;
use sessiongate::route::bare_host;
use sessiongate_fuzz::headers;

const METHODS: [Method; 4] = [Method::GET, Method::POST, Method::HEAD, Method::DELETE];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let method = &METHODS[usize::from(pick & 3)];
    let headers = headers(rest);
    let Ok(original) = Original::read(&headers, method) else {
        return;
    };
    let target = original.target.as_str();
    assert!(target.starts_with('/'), "{target:?}");
    assert!(safe_next(target).starts_with('/'));
    if let Some(host) = &original.host {
        assert!(!host.is_empty());
        assert_eq!(
            host.to_ascii_lowercase(),
            *host,
            "canonical host is lowercase"
        );
        assert_eq!(bare_host(host).ok(), Some(host.as_str()), "host is bare");
    }
    // Read twice, the same headers describe the same request.
    assert_eq!(Original::read(&headers, method).ok(), Some(original));
});
