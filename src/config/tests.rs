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

#[test]
fn listeners() {
    let c = accepts("[server]\nlisten = \"[::]:443\"\n[admin]\nlisten = \"127.0.0.1:0\"\n");
    assert_eq!(c.server.listen.port(), 443);
    accepts("[server]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n");
    rejects(
        "[admin]\nlisten = \"localhost:9090\"\n",
        2,
        10,
        "admin.listen: expected IP:PORT",
    );
    rejects(
        "[server]\nlisten = \"0.0.0.0\"\n",
        2,
        10,
        "server.listen: expected IP:PORT",
    );
    rejects(
        "[admin]\nlisten = \"127.0.0.1:8080\"\n",
        2,
        10,
        "overlaps server.listen \"0.0.0.0:8080\"",
    );
}

#[test]
fn store_urls() {
    for url in [
        "redis://127.0.0.1:6379/0",
        "rediss://r:6380",
        "redis+unix:///run/redis.sock",
        "redis+sentinel://a:1,b:2/m/0",
        "redis+cluster://a:1,b:2",
        "rediss+sentinel://u:p@a:1,b:2/m/1",
        "rediss+cluster://a:1",
    ] {
        assert_eq!(
            accepts(&format!("[store]\nurl = \"{url}\"\n")).store.url,
            url
        );
    }
    rejects(
        "[store]\nurl = \"mysql://db\"\n",
        2,
        7,
        "unsupported scheme \"mysql://\"",
    );
    rejects(
        "[store]\nurl = \"127.0.0.1:6379\"\n",
        2,
        7,
        "expected a URL starting with memory://",
    );
    rejects("[store]\nurl = \"memory://x\"\n", 2, 7, "takes no address");
    let c = accepts("[store]\nurl = \"rediss://r:6380\"\nca_file = \"ca.pem\"\n");
    assert_eq!(
        c.store.ca_file.as_deref(),
        Some(std::path::Path::new("ca.pem"))
    );
    accepts("[store]\nurl = \"rediss+cluster://a:1\"\nca_file = \"ca.pem\"\n");
    rejects(
        "[store]\nurl = \"redis://r:6379\"\nca_file = \"ca.pem\"\n",
        3,
        11,
        "store.ca_file: only used with rediss://",
    );
    rejects(
        "[store]\nurl = \"rediss+sentinel://a:1,b:2/m/0\"\nca_file = \"ca.pem\"\n",
        3,
        11,
        "not supported with rediss+sentinel://",
    );
    let c = accepts("[upstream]\nurl = \"https://app:8443\"\nca_file = \"ca.pem\"\n");
    assert_eq!(
        c.upstream.ca_file.as_deref(),
        Some(std::path::Path::new("ca.pem"))
    );
    rejects(
        "[store]\nurl = \"rediss://r:6380/#insecure\"\n",
        2,
        7,
        "\"#insecure\" is not supported",
    );
    rejects("[store]\nurl = \"redis://\"\n", 2, 7, "names no server");
    rejects(
        "[store]\nurl = \"redis+sentinel://a:1,b:2\"\n",
        2,
        7,
        "expected e.g. \"redis+sentinel://H1:26379,H2:26379/MASTER/0\"",
    );
}

#[test]
fn header_limits_and_proxies() {
    let c = accepts(
        "[server]\nmax_header_bytes = 8192\ntrusted_proxies = [\"10.0.0.0/8\", \"192.168.1.7\", \"::1\"]\n",
    );
    assert_eq!(c.server.max_header_bytes, 8192);
    let nets: Vec<String> = c
        .server
        .trusted_proxies
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(nets, ["10.0.0.0/8", "192.168.1.7/32", "::1/128"]);
    rejects(
        "[server]\nmax_header_bytes = 4096\n",
        2,
        20,
        "at least 8192 (hyper's smallest read buffer)",
    );
    rejects(
        "[server]\nmax_header_bytes = 2000000\n",
        2,
        20,
        "at most 1048576 (1 MiB)",
    );
    rejects(
        "[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"proxy\"]\n",
        2,
        34,
        "server.trusted_proxies[1]: expected a CIDR",
    );
}

#[test]
fn tls_files() {
    let c = accepts("[server]\ntls = { cert = \"c.pem\", key = \"k.pem\" }\n");
    let tls = c.server.tls.unwrap();
    assert_eq!(
        (tls.cert.to_str(), tls.key.to_str()),
        (Some("c.pem"), Some("k.pem"))
    );
    rejects(
        "[server]\ntls = { key = \"k.pem\" }\n",
        2,
        7,
        "server.tls.cert: required",
    );
    rejects(
        "[server]\ntls = { cert = \"\", key = \"k\" }\n",
        2,
        16,
        "server.tls.cert: must not be empty",
    );
}

#[test]
fn tls_must_be_a_table() {
    rejects(
        "[server]\ntls = \"cert.pem\"\n",
        2,
        7,
        "server.tls: invalid type: string \"cert.pem\", expected an inline table { cert = \"…\", key = \"…\" }",
    );
    rejects(
        "[server]\ntls = { cert = 5, key = \"k\" }\n",
        2,
        16,
        "server.tls.cert: invalid type: integer",
    );
}

#[test]
fn log_format() {
    assert_eq!(
        accepts("[log]\nformat = \"json\"\n").log.format,
        LogFormat::Json
    );
    rejects(
        "[log]\nformat = \"xml\"\n",
        2,
        10,
        "log.format: expected one of \"text\", \"json\", got \"xml\"",
    );
}

#[test]
fn the_environment_store_url_replaces_the_files() {
    let file = "[store]\nurl = \"redis://file:6379\"\n";
    let c = Config::parse(file, Some("redis://:pw@secret-host:6379/2")).unwrap();
    assert_eq!(c.store.url, "redis://:pw@secret-host:6379/2");
    assert_eq!(
        Config::parse(file, None).unwrap().store.url,
        "redis://file:6379"
    );

    let errors = Config::parse(file, Some("mysql://u:hunter2@db")).unwrap_err();
    assert_eq!(errors.0.len(), 1, "{errors:?}");
    let error = &errors.0[0];
    assert_eq!(error.position, None, "the file is not where it is wrong");
    assert!(
        error
            .message
            .starts_with("SESSIONGATE_STORE_URL: unsupported scheme"),
        "{}",
        error.message
    );
    let errors = Config::parse(file, Some("u:hunter2@db:6379")).unwrap_err();
    assert!(!errors.0[0].message.contains("hunter2"), "{:?}", errors.0);
}

#[test]
fn passwords_never_appear_in_shown_urls() {
    for (url, shown) in [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:pw@h:6379/0", "redis://:***@h:6379/0"),
        ("rediss://user:p@ss@h/1", "rediss://user:***@h/1"),
        ("redis://lonely@h", "redis://:***@h"),
        (
            "redis+sentinel://u:pw@a:1,b:2/m/0",
            "redis+sentinel://u:***@a:1,b:2/m/0",
        ),
        ("redis://h/path@x", "redis://h/path@x"),
        ("memory://", "memory://"),
        ("not a url", "not a url"),
        ("u:pw@h:6379", "***@h:6379"),
    ] {
        assert_eq!(redact_url(url), shown, "{url}");
    }
}

#[test]
fn keepalive_timeout_is_a_positive_duration() {
    let c = accepts("[server]\nkeepalive_timeout = \"5s\"\n");
    assert_eq!(c.server.keepalive_timeout, Duration::from_secs(5));
    let c = accepts("[server]\nkeepalive_timeout = \"250ms\"\n");
    assert_eq!(c.server.keepalive_timeout, Duration::from_millis(250));
    rejects(
        "[server]\nkeepalive_timeout = \"forever\"\n",
        2,
        21,
        "\"forever\" is not a duration",
    );
    rejects("[server]\nkeepalive_timeout = 75\n", 2, 21, "write \"75s\"");
}
