//! Path normalisation and first-match routing (`route.rs`).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sessiongate::config::Config;
use sessiongate::route::{Router, bare_host, normalise_path};

fn router() -> &'static (Config, Router) {
    static ROUTER: OnceLock<(Config, Router)> = OnceLock::new();
    ROUTER.get_or_init(|| {
        let config = Config::from_toml_str(
            r#"
            [[route]]
            name = "admin"
            path = "/admin"
            [[route]]
            name = "static"
            path = "/static/"
            public = true
            [[route]]
            name = "api-host"
            host = "api.example.com"
            path = "/"
            public = true
            [[route]]
            name = "strict"
            path = "/Strict/"
            idle_timeout = "1m"
            "#,
        )
        .expect("valid config");
        let router = Router::new(&config);
        (config, router)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (path, host) = text.split_once('\n').unwrap_or((text, ""));

    let once = normalise_path(path);
    assert!(once.starts_with('/'), "{once:?}");
    assert_eq!(normalise_path(&once), once, "idempotent");
    assert!(!once.contains("//") && !once.contains('\\'), "{once:?}");
    assert!(
        !once.split('/').any(|s| s == "." || s == ".."),
        "climbs: {once:?}"
    );

    let (config, router) = router();
    let host = bare_host(host).ok().filter(|h| !h.is_empty());
    let matched = router.route(host, path);
    // First match wins: no earlier route matches, the chosen one does.
    let matches = |r: &sessiongate::config::Route| {
        let host_ok = r
            .host
            .as_deref()
            .is_none_or(|h| host.is_some_and(|host| h.eq_ignore_ascii_case(host)));
        let path_ok = if r.public {
            once.starts_with(r.path.as_str())
        } else {
            once.len() >= r.path.len()
                && once.as_bytes()[..r.path.len()].eq_ignore_ascii_case(r.path.as_bytes())
        };
        host_ok && path_ok
    };
    let first = config.routes.iter().position(matches);
    assert_eq!(first.unwrap_or(config.routes.len()), matched.index);
    // The same path under a normalised spelling routes the same way.
    assert_eq!(router.route(host, &once).index, matched.index);
    if let Some(host) = host {
        let dotted = format!("{host}.");
        if let Ok(again) = bare_host(&dotted) {
            assert_eq!(router.route(Some(again), path).index, matched.index);
        }
    }
});
