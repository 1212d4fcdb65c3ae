//! Accept and reject cases for `[login]`, `[upstream]` and `[[route]]`.

use std::time::Duration;

use super::tests::{accepts, rejects};
use super::*;

#[test]
fn duplicate_route_names_point_at_the_second() {
    let c = accepts("[[route]]\npath = \"/a/\"\n[[route]]\nname = \"b\"\npath = \"/a/\"\n");
    assert_eq!(c.routes[0].name, "/a/");
    rejects(
        "[[route]]\nname = \"x\"\npath = \"/a/\"\n[[route]]\nname = \"x\"\npath = \"/b/\"\n",
        5,
        8,
        "route[1].name: route name \"x\" is already used by route[0]",
    );
    rejects(
        "[[route]]\npath = \"/a/\"\n[[route]]\npath = \"/a/\"\n",
        4,
        8,
        "(a route's name defaults to its path)",
    );
}

#[test]
fn route_rules() {
    let c = accepts(
        "[[route]]\npath = \"/api/poll\"\nhost = \"App.Example.com\"\nupstream = \"https://10.0.0.1:8443\"\n\
         on_unauthenticated = \"401\"\nidle_timeout = \"5m\"\nextends_session = false\n",
    );
    let r = &c.routes[0];
    assert_eq!(r.host.as_deref(), Some("app.example.com"));
    assert_eq!(
        r.upstream.as_ref().unwrap().authority().unwrap(),
        "10.0.0.1:8443"
    );
    assert_eq!(r.on_unauthenticated, OnUnauthenticated::Unauthorized);
    assert_eq!(r.idle_timeout, Some(Duration::from_secs(300)));
    assert!(!r.extends_session && !r.public);
    rejects(
        "[[route]]\npath = \"api\"\n",
        2,
        8,
        "route[0].path: must start with \"/\"",
    );
    rejects(
        "[[route]]\npath = \"/a\"\non_unauthenticated = \"login\"\n",
        3,
        22,
        "expected one of \"auto\", \"redirect\", \"401\", got \"login\"",
    );
    rejects(
        "[[route]]\npath = \"/a\"\nidle_timeout = \"30m\"\n",
        3,
        16,
        "route[0].idle_timeout: must be shorter than session.idle_timeout (30m)",
    );
    rejects(
        "[[route]]\npath = \"/a\"\nidle_timeout = \"0s\"\n",
        3,
        16,
        "must be greater than zero",
    );
    rejects(
        "[[route]]\npath = \"/a\"\nhost = \"a.com:80\"\n",
        3,
        8,
        "route[0].host: expected a host name without port",
    );
    rejects(
        "[[route]]\npath = \"/a\"\nupstream = \"http://a/x\"\n",
        3,
        12,
        "path prefixes on upstreams are not supported",
    );
}

#[test]
fn upstream_urls() {
    let c = accepts("[upstream]\nurl = \"https://app.internal/\"\n");
    assert_eq!(c.upstream.url.scheme_str(), Some("https"));
    rejects(
        "[upstream]\nurl = \"ftp://a\"\n",
        2,
        7,
        "must be an http:// or https:// URL",
    );
    rejects(
        "[upstream]\nurl = \"127.0.0.1:8000\"\n",
        2,
        7,
        "must be an http:// or https:// URL",
    );
    rejects(
        "[upstream]\nurl = \"http://a/app\"\n",
        2,
        7,
        "upstream.url: \"http://a/app\" has a path, and path prefixes on upstreams are not supported",
    );
    rejects(
        "[upstream]\nurl = \"http://a/?x=1\"\n",
        2,
        7,
        "must not have a query string",
    );
    rejects(
        "[upstream]\nurl = \"http://u:p@a/\"\n",
        2,
        7,
        "user:password@",
    );
    rejects(
        "[upstream]\nurl = \"http:// a\"\n",
        2,
        7,
        "is not a valid URL",
    );
}

#[test]
fn login_targets() {
    let c = accepts(
        "[login]\nurl = \"https://sso.example.com/login\"\nnext_param = \"\"\nafter_logout = \"/bye\"\n",
    );
    assert_eq!(c.login.next_param, None);
    assert_eq!(c.login.after_logout, "/bye");
    rejects(
        "[login]\nurl = \"login\"\n",
        2,
        7,
        "login.url: expected a path starting with a single \"/\"",
    );
    rejects(
        "[login]\nurl = \"//evil.com\"\n",
        2,
        7,
        "login.url: expected a path",
    );
    rejects(
        "[login]\nafter_logout = \"javascript:x\"\n",
        2,
        16,
        "login.after_logout: expected a path",
    );
    rejects(
        "[login]\nlogout_path = \"logout\"\n",
        2,
        15,
        "login.logout_path: expected a path",
    );
    rejects(
        "[login]\nnext_param = \"a&b\"\n",
        2,
        14,
        "cannot be a query parameter name",
    );
}

#[test]
fn inject_warning_keys() {
    let c = accepts("[session]\ninject_warning = true\nwarning_before = \"45s\"\n");
    assert!(c.session.inject_warning);
    assert_eq!(c.session.warning_before, Duration::from_secs(45));
    let c = accepts("");
    assert!(!c.session.inject_warning);
    assert_eq!(c.session.warning_before, Duration::from_secs(120));
    let c = accepts("[[route]]\npath = \"/files/\"\ninject_warning = false\n");
    assert_eq!(c.routes[0].inject_warning, Some(false));
    rejects(
        "[session]\nwarning_before = \"0s\"\n",
        2,
        18,
        "session.warning_before: must be greater than zero",
    );
    rejects(
        "[[route]]\npath = \"/s/\"\npublic = true\ninject_warning = true\n",
        4,
        18,
        "route[0].inject_warning: a public route has no session to warn about",
    );
}
