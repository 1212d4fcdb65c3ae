//! Accept and reject cases for every rule of SPEC §2, with exact positions.

use std::time::Duration;

use super::*;

/// Exactly one error, at `(line, col)`, whose message contains `needle`.
#[track_caller]
pub(super) fn rejects(text: &str, line: usize, col: usize, needle: &str) {
    let errors = Config::from_toml_str(text).expect_err("config should be rejected");
    assert_eq!(errors.0.len(), 1, "expected one error, got {:#?}", errors.0);
    let error = &errors.0[0];
    assert!(
        error.message.contains(needle),
        "message {:?} lacks {needle:?}",
        error.message
    );
    assert_eq!(error.position, Some((line, col)), "{}", error.message);
}

#[track_caller]
pub(super) fn accepts(text: &str) -> Config {
    match Config::from_toml_str(text) {
        Ok(config) => config,
        Err(errors) => panic!("config should be accepted:\n{}", errors.render("t.toml")),
    }
}

#[test]
fn empty_file_gives_the_spec_defaults() {
    let c = Config::default();
    assert_eq!(c.server.listen, "0.0.0.0:8080".parse().unwrap());
    assert_eq!(c.server.tls, None);
    assert!(c.server.trusted_proxies.is_empty());
    assert_eq!(c.server.header_read_timeout, Duration::from_secs(10));
    assert_eq!(c.server.max_header_bytes, 65536);
    assert_eq!(c.server.keepalive_timeout, Duration::from_secs(75));
    assert_eq!(c.server.shutdown_grace, Duration::from_secs(30));
    assert_eq!(c.admin.listen, "127.0.0.1:9090".parse().unwrap());
    assert_eq!(c.log.format, LogFormat::Text);
    assert!(c.log.access_log);
    assert_eq!(c.store.url, "memory://");
    assert_eq!(c.store.key_prefix, "sessiongate:");
    assert_eq!(c.store.op_timeout, Duration::from_millis(100));
    let s = &c.session;
    assert_eq!(s.mode, Mode::Managed);
    assert_eq!(s.cookie_name, "sessiongate");
    assert_eq!(s.cookie_path, "/");
    assert_eq!(s.cookie_domain, None);
    assert_eq!(s.cookie_secure, CookieSecure::Auto);
    assert!(s.cookie_http_only);
    assert_eq!(s.cookie_same_site, SameSite::Lax);
    assert_eq!(s.idle_timeout, Duration::from_secs(30 * 60));
    assert!(s.sliding);
    assert_eq!(s.absolute_timeout, None);
    assert!(!s.browser_session);
    assert_eq!(s.touch_interval, Duration::ZERO);
    assert_eq!(s.key_template, None);
    assert!(s.id_pattern.is_none());
    assert_eq!(s.learn_cookie, None);
    assert_eq!(s.identity_header, "x-sessiongate-user");
    assert_eq!(c.login.url, "/login");
    assert_eq!(c.login.next_param.as_deref(), Some("next"));
    assert_eq!(c.login.logout_path, "/.sessiongate/logout");
    assert_eq!(c.login.after_logout, "/login");
    assert_eq!(c.upstream.url, "http://127.0.0.1:8000/");
    assert_eq!(c.upstream.connect_timeout, Duration::from_secs(5));
    assert_eq!(c.upstream.response_timeout, Duration::from_secs(60));
    assert!(c.upstream.preserve_host);
    assert!(c.routes.is_empty());
}

#[test]
fn example_file_parses_to_the_defaults_plus_its_route() {
    let text = include_str!("../../config/sessiongate.example.toml");
    let c = accepts(text);
    let d = Config::default();
    // Config has no PartialEq (Regex); Debug output compares every field.
    let strip = |c: &Config| {
        let mut c = c.clone();
        c.routes.clear();
        format!("{c:?}")
    };
    assert_eq!(strip(&c), strip(&d));
    assert_eq!(c.routes.len(), 1);
    let r = &c.routes[0];
    assert_eq!((r.name.as_str(), r.path.as_str()), ("static", "/static/"));
    assert!(r.public);
    assert_eq!(r.on_unauthenticated, OnUnauthenticated::Auto);
    assert!(r.extends_session);
    assert_eq!(
        (r.host.as_ref(), r.upstream.as_ref(), r.idle_timeout),
        (None, None, None)
    );
}

#[test]
fn every_error_is_reported_at_once_in_file_order() {
    let text = "\
[server]
listen = \"nope\"
tls = { cert = \"a\", kye = \"b\" }

[sesion]
x = 1

[session]
idel_timeout = \"30m\"
cookie_same_site = \"loose\"
touch_interval = 5

[[route]]
pubic = true

[[route]]
path = \"/a\"
public = \"yes\"
";
    let errors = Config::from_toml_str(text).unwrap_err();
    let got: Vec<_> = errors
        .0
        .iter()
        .map(|e| (e.position.unwrap(), e.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                (2, 10),
                "server.listen: expected IP:PORT (an IP address, not a host name), e.g. \"0.0.0.0:8080\" or \"[::]:8080\", got \"nope\""
            ),
            (
                (3, 7),
                "server.tls.key: required: write tls = { cert = \"fullchain.pem\", key = \"key.pem\" }"
            ),
            (
                (3, 21),
                "unknown key \"kye\" in server.tls; did you mean \"key\"?"
            ),
            ((5, 2), "unknown section [sesion]; did you mean [session]?"),
            (
                (9, 1),
                "unknown key \"idel_timeout\" in [session]; did you mean \"idle_timeout\"?"
            ),
            (
                (10, 20),
                "session.cookie_same_site: expected one of \"strict\", \"lax\", \"none\", got \"loose\""
            ),
            (
                (11, 18),
                "session.touch_interval: a duration needs a unit: write \"5s\" (or e.g. \"250ms\", \"15m\", \"12h\"), not the bare number 5"
            ),
            (
                (13, 1),
                "route[0].path: required: the path prefix this route matches (e.g. \"/static/\")"
            ),
            (
                (14, 1),
                "unknown key \"pubic\" in route[0]; did you mean \"public\"?"
            ),
            (
                (18, 10),
                "route[1].public: invalid type: string \"yes\", expected a boolean"
            ),
        ]
    );
    let rendered = errors.render("gate.toml");
    assert_eq!(rendered.lines().count(), 10);
    assert!(rendered.starts_with("gate.toml:2:10: server.listen: expected IP:PORT"));
}

#[test]
fn unknown_keys_at_every_level() {
    rejects(
        "colour = 1\n",
        1,
        1,
        "unknown key \"colour\" at the top level",
    );
    rejects(
        "[foo]\n",
        1,
        2,
        "unknown section [foo]; known sections: server, admin",
    );
    rejects(
        "[route]\npath = \"/\"\n",
        1,
        2,
        "write [[route]] (double brackets)",
    );
    rejects(
        "[admin]\nlisten = \"127.0.0.1:9090\"\nport = 1\n",
        3,
        1,
        "unknown key \"port\" in [admin]",
    );
    rejects(
        "[log]\nformt = \"json\"\n",
        2,
        1,
        "unknown key \"formt\" in [log]; did you mean \"format\"?",
    );
    rejects(
        "[upstream]\nconect_timeout = \"1s\"\n",
        2,
        1,
        "did you mean \"connect_timeout\"?",
    );
    rejects(
        "[server.tls]\ncert = \"c\"\nkey = \"k\"\nca = \"x\"\n",
        4,
        1,
        "unknown key \"ca\" in server.tls",
    );
    rejects(
        "[server.extra]\n",
        1,
        9,
        "unknown key \"extra\" in [server]",
    );
    rejects(
        "session.idel_timeout = \"1m\"\n",
        1,
        9,
        "in [session]; did you mean \"idle_timeout\"?",
    );
    rejects(
        "[[route]]\npath = \"/a\"\n[[route]]\npath = \"/b\"\nextend_session = false\n",
        5,
        1,
        "unknown key \"extend_session\" in route[1]; did you mean \"extends_session\"?",
    );
}

#[test]
fn toml_syntax_errors_have_positions() {
    let errors = Config::from_toml_str("[session]\nidle_timeout = \n").unwrap_err();
    assert_eq!(errors.0[0].position.map(|p| p.0), Some(2));
    assert!(errors.0[0].message.starts_with("TOML syntax error"));
}

#[test]
fn type_errors_in_one_section_do_not_hide_others() {
    let text = "[log]\naccess_log = \"yes\"\n[admin]\nlisten = \"x\"\n";
    let errors = Config::from_toml_str(text).unwrap_err();
    assert_eq!(errors.0.len(), 2, "{errors:#?}");
    assert_eq!(errors.0[0].position, Some((2, 14)));
    assert!(
        errors.0[0]
            .message
            .starts_with("log.access_log: invalid type")
    );
    assert!(errors.0[1].message.starts_with("admin.listen:"));
}

#[test]
fn durations_need_a_unit() {
    let c = accepts(
        "[session]\nidle_timeout = \"250ms\"\ntouch_interval = \"100ms\"\nabsolute_timeout = \"14d\"\n",
    );
    assert_eq!(c.session.idle_timeout, Duration::from_millis(250));
    assert_eq!(c.session.touch_interval, Duration::from_millis(100));
    assert_eq!(
        c.session.absolute_timeout,
        Some(Duration::from_secs(14 * 86400))
    );
    rejects(
        "[session]\nidle_timeout = \"30\"\n",
        2,
        16,
        "\"30\" is not a duration",
    );
    rejects("[session]\nidle_timeout = 1800\n", 2, 16, "write \"1800s\"");
    rejects(
        "[server]\nshutdown_grace = \"soon\"\n",
        2,
        18,
        "e.g. \"250ms\", \"30s\"",
    );
    rejects(
        "[session]\nidle_timeout = true\n",
        2,
        16,
        "a duration string with a unit",
    );
}

#[test]
fn timeouts_must_be_positive() {
    rejects(
        "[session]\nidle_timeout = \"0s\"\n",
        2,
        16,
        "session.idle_timeout: must be greater than zero (e.g. \"30m\")",
    );
    rejects(
        "[store]\nop_timeout = \"0ms\"\n",
        2,
        14,
        "store.op_timeout: must be greater than zero",
    );
    rejects(
        "[upstream]\nconnect_timeout = \"0s\"\n",
        2,
        19,
        "upstream.connect_timeout: must be greater than zero",
    );
    rejects(
        "[upstream]\nresponse_timeout = \"0s\"\n",
        2,
        20,
        "upstream.response_timeout: must be greater than zero",
    );
    rejects(
        "[server]\nheader_read_timeout = \"0s\"\n",
        2,
        23,
        "server.header_read_timeout: must be greater than zero",
    );
    rejects(
        "[server]\nkeepalive_timeout = \"0s\"\n",
        2,
        21,
        "server.keepalive_timeout: must be greater than zero (e.g. \"75s\")",
    );
    let c = accepts("[server]\nshutdown_grace = \"0s\"\n");
    assert_eq!(c.server.shutdown_grace, Duration::ZERO);
}
