//! Property tests of routing: path normalisation's normal form, first match
//! wins, protected prefixes in any letter case, the host's trailing dot.

use proptest::prelude::*;

use super::*;
use crate::config::Route;

/// Paths built from the characters normalisation cares about.
fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("/"),
            Just("."),
            Just(".."),
            Just("%2e"),
            Just("%2F"),
            Just("%25"),
            Just("%5c"),
            Just("\\"),
            Just(";x"),
            Just("%"),
            Just("a"),
            Just("B"),
            Just("admin"),
            Just("static"),
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

fn route_table() -> impl Strategy<Value = Vec<Route>> {
    prop::collection::vec(
        (
            prop_oneof![
                Just("/"),
                Just("/a"),
                Just("/admin"),
                Just("/static/"),
                Just("/B/")
            ],
            any::<bool>(),
            prop::option::of(prop_oneof![
                Just("app.example.com"),
                Just("API.example.com")
            ]),
        ),
        0..6,
    )
    .prop_map(|rows| {
        rows.into_iter()
            .enumerate()
            .map(|(i, (path, public, host))| {
                let mut route = Route::protected(&format!("r{i}"), path);
                route.public = public;
                route.host = host.map(str::to_owned);
                route
            })
            .collect()
    })
}

fn router(routes: Vec<Route>) -> Router {
    Router::new(&Config {
        routes,
        ..Config::default()
    })
}

fn host() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        Just("app.example.com".to_owned()),
        Just("APP.Example.COM".to_owned()),
        Just("api.example.com:8443".to_owned()),
        Just("other.example".to_owned()),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn normalisation_is_a_normal_form_that_never_climbs(path in path()) {
        let once = normalise_path(&path);
        prop_assert!(once.starts_with('/'));
        prop_assert_eq!(&normalise_path(&once), &once);
        prop_assert!(!once.contains("//") && !once.contains('\\') && !once.contains(';'));
        prop_assert!(!once.split('/').any(|s| s == "." || s == ".."));
        // Above `/` there is nothing: `..` at the root stays at the root.
        let (above, here) = (format!("/../{path}"), format!("/{path}"));
        prop_assert_eq!(normalise_path(&above), normalise_path(&here));
    }

    #[test]
    fn the_first_matching_route_wins(
        routes in route_table(),
        raw_host in host(),
        path in path(),
    ) {
        let router = router(routes.clone());
        let host = raw_host.as_deref().map(|h| bare_host(h).expect("valid host"));
        let matched = router.route(host, &path);
        let normalised = normalise_path(&path);
        let matches = |r: &Route| {
            let host_ok = r.host.as_deref().is_none_or(|want| {
                host.is_some_and(|h| want.eq_ignore_ascii_case(h))
            });
            let path_ok = if r.public {
                normalised.starts_with(&r.path)
            } else {
                normalised.to_ascii_lowercase().starts_with(&r.path.to_ascii_lowercase())
            };
            host_ok && path_ok
        };
        let want = routes.iter().position(matches).unwrap_or(routes.len());
        prop_assert_eq!(matched.index, want);
        // Any spelling routes as its normal form does.
        prop_assert_eq!(router.route(host, &normalised).index, want);
    }

    #[test]
    fn protected_prefixes_match_in_any_case_public_ones_exactly(
        rest in "[a-z/]{0,8}",
        flips in prop::collection::vec(any::<bool>(), 6),
    ) {
        let mut admin = Route::protected("admin", "/admin");
        admin.public = false;
        let mut public = Route::protected("static", "/static");
        public.public = true;
        let router = router(vec![admin, public]);
        let respell = |word: &str| -> String {
            word.chars()
                .zip(flips.iter().cycle())
                .map(|(c, up)| if *up { c.to_ascii_uppercase() } else { c })
                .collect()
        };
        let admin_path = format!("/{}/{rest}", respell("admin"));
        prop_assert_eq!(router.route(None, &admin_path).index, 0);
        let static_path = format!("/{}/{rest}", respell("static"));
        let exact = static_path.starts_with("/static");
        prop_assert_eq!(router.route(None, &static_path).index, if exact { 1 } else { 2 });
    }

    #[test]
    fn a_trailing_dot_names_the_same_host(
        routes in route_table(),
        name in prop_oneof![Just("app.example.com"), Just("API.EXAMPLE.COM"), Just("x.y")],
        port in prop::option::of(1u16..),
        path in path(),
    ) {
        let router = router(routes);
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        let (plain, dotted) = (format!("{name}{port}"), format!("{name}.{port}"));
        let plain = bare_host(&plain).expect("valid");
        let dotted = bare_host(&dotted).expect("valid");
        prop_assert_eq!(plain, dotted);
        prop_assert_eq!(router.route(Some(plain), &path).index, router.route(Some(dotted), &path).index);
        let doubled = format!("{name}..{port}");
        prop_assert!(bare_host(&doubled).is_err());
    }
}
