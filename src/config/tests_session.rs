//! Accept and reject cases for the `[session]` rules.

use super::tests::{accepts, rejects};
use super::*;

#[test]
fn touch_interval_below_idle_timeout() {
    accepts("[session]\nidle_timeout = \"5m\"\ntouch_interval = \"4m59s\"\n");
    rejects(
        "[session]\nidle_timeout = \"5m\"\ntouch_interval = \"5m\"\n",
        3,
        18,
        "session.touch_interval: must be shorter than session.idle_timeout (5m), got 5m",
    );
}

#[test]
fn key_template_belongs_to_external_mode() {
    let external = "[store]\nurl = \"redis://127.0.0.1:6379/0\"\n[session]\nmode = \"external\"\n";
    let c = accepts(&format!("{external}key_template = \"sess:{{id}}\"\n"));
    assert_eq!(c.session.mode, Mode::External);
    assert_eq!(c.session.key_template.as_deref(), Some("sess:{id}"));
    rejects(
        external,
        4,
        8,
        "session.key_template: required in external mode",
    );
    rejects(
        &format!("{external}key_template = \"sess:\"\n"),
        5,
        16,
        "must contain \"{id}\"",
    );
    rejects(
        "[session]\nkey_template = \"sess:{id}\"\n",
        2,
        16,
        "session.key_template: only used in external mode, but session.mode is \"managed\"",
    );
}

#[test]
fn id_pattern_needs_external_or_observe_mode_a_valid_regex_and_an_id_group() {
    let external = "[store]\nurl = \"redis://r:6379\"\n[session]\nmode = \"external\"\nkey_template = \"sess:{id}\"\n";
    let c = accepts(&format!("{external}id_pattern = '^s:(?P<id>[^.]+)\\.'\n"));
    let re = c.session.id_pattern.unwrap();
    assert_eq!(&re.captures("s:abc.sig").unwrap()["id"], "abc");
    rejects(
        &format!("{external}id_pattern = '(?P<id>'\n"),
        6,
        14,
        "session.id_pattern: not a valid regular expression: error: unclosed group",
    );
    rejects(
        &format!("{external}id_pattern = '^s:([^.]+)'\n"),
        6,
        14,
        "needs a named group \"id\"",
    );
    rejects(
        "[session]\nid_pattern = '(?P<id>.*)'\n",
        2,
        14,
        "session.id_pattern: only used in external or observe mode",
    );
    let observe = "[session]\nmode = \"observe\"\nlearn_cookie = \"app.sid\"\n";
    let c = accepts(&format!("{observe}id_pattern = '^s:(?P<id>[^.]+)\\.'\n"));
    assert!(c.session.id_pattern.is_some());
}

#[test]
fn external_mode_needs_redis() {
    rejects(
        "[session]\nmode = \"external\"\nkey_template = \"k:{id}\"\n",
        2,
        8,
        "store.url: external mode needs a Redis store",
    );
    rejects(
        "[store]\nurl = \"memory://\"\n[session]\nmode = \"external\"\nkey_template = \"k:{id}\"\n",
        2,
        7,
        "memory:// cannot see them",
    );
}

#[test]
fn learn_cookie_belongs_to_observe_mode() {
    let c = accepts("[session]\nmode = \"observe\"\nlearn_cookie = \"PHPSESSID\"\n");
    assert_eq!(c.session.learn_cookie.as_deref(), Some("PHPSESSID"));
    rejects(
        "[session]\nmode = \"observe\"\n",
        2,
        8,
        "session.learn_cookie: required in observe mode",
    );
    rejects(
        "[session]\nmode = \"observe\"\nlearn_cookie = \"\"\n",
        2,
        8,
        "required in observe mode",
    );
    rejects(
        "[session]\nmode = \"observe\"\nlearn_cookie = \"a b\"\n",
        3,
        16,
        "not allowed in a cookie name",
    );
    rejects(
        "[session]\nlearn_cookie = \"sid\"\n",
        2,
        16,
        "only used in observe mode",
    );
    rejects(
        "[session]\nmode = \"shared\"\n",
        2,
        8,
        "session.mode: expected one of \"managed\", \"external\", \"observe\", got \"shared\"",
    );
}

#[test]
fn same_site_none_needs_secure() {
    let c = accepts("[session]\ncookie_same_site = \"none\"\ncookie_secure = true\n");
    assert_eq!(c.session.cookie_same_site, SameSite::None);
    assert_eq!(c.session.cookie_secure, CookieSecure::Always);
    let c = accepts("[session]\ncookie_secure = false\ncookie_same_site = \"strict\"\n");
    assert_eq!(c.session.cookie_secure, CookieSecure::Never);
    rejects(
        "[session]\ncookie_same_site = \"none\"\n",
        2,
        20,
        "\"none\" requires cookie_secure = true",
    );
    rejects(
        "[session]\ncookie_same_site = \"none\"\ncookie_secure = false\n",
        2,
        20,
        "requires cookie_secure = true",
    );
    rejects(
        "[session]\ncookie_secure = \"yes\"\n",
        2,
        17,
        "expected true, false or \"auto\"",
    );
    rejects(
        "[session]\ncookie_secure = 1\n",
        2,
        17,
        "session.cookie_secure: invalid type",
    );
}

#[test]
fn cookie_attributes() {
    let c = accepts(
        "[session]\ncookie_name = \"__Host-sid\"\ncookie_path = \"/app\"\ncookie_domain = \"Example.com\"\n",
    );
    assert_eq!(c.session.cookie_domain.as_deref(), Some("example.com"));
    rejects(
        "[session]\ncookie_name = \"\"\n",
        2,
        15,
        "session.cookie_name: must not be empty",
    );
    rejects(
        "[session]\ncookie_name = \"a=b\"\n",
        2,
        15,
        "'=' is not allowed in a cookie name",
    );
    rejects(
        "[session]\ncookie_path = \"app\"\n",
        2,
        15,
        "session.cookie_path: must start with \"/\"",
    );
    rejects(
        "[session]\ncookie_domain = \"a b\"\n",
        2,
        17,
        "session.cookie_domain: expected a domain",
    );
}

#[test]
fn identity_header_rules() {
    let c = accepts("[session]\nidentity_header = \"Remote-User\"\n");
    assert_eq!(c.session.identity_header, "remote-user");
    rejects(
        "[session]\nidentity_header = \"X User\"\n",
        2,
        19,
        "not a valid header name",
    );
    rejects(
        "[session]\nidentity_header = \"Connection\"\n",
        2,
        19,
        "hop-by-hop",
    );
    rejects(
        "[session]\nidentity_header = \"Host\"\n",
        2,
        19,
        "cannot carry the user",
    );
    rejects(
        "[session]\nidentity_header = \"cookie\"\n",
        2,
        19,
        "cannot carry the user",
    );
}

#[test]
fn external_mode_refuses_what_it_cannot_keep() {
    let base = "[store]\nurl = \"redis://127.0.0.1:6379\"\n[session]\nmode = \"external\"\nkey_template = \"sess:{id}\"\n";
    let errors = crate::config::Config::from_toml_str(&format!(
        "{base}absolute_timeout = \"12h\"\nbrowser_session = true\n"
    ))
    .expect_err("invalid");
    let messages = errors.messages();
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("session.absolute_timeout: not available in external mode")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("session.browser_session: only used in managed mode")),
        "{messages:?}"
    );
    assert!(
        crate::config::Config::from_toml_str(&format!("{base}absolute_timeout = \"0s\"\n")).is_ok()
    );
}

/// Regression: `key_template = "{id}"` let any Redis key in the id alphabet
/// (`SET lockout-alice 1 EX 5`) pass as an external session, and had its
/// TTL extended from 5 s to the idle timeout.
#[test]
fn key_template_without_a_literal_prefix_is_refused() {
    let external = "[store]\nurl = \"redis://127.0.0.1:6379/0\"\n[session]\nmode = \"external\"\n";
    for template in ["{id}", "{id}:sess"] {
        rejects(
            &format!("{external}key_template = \"{template}\"\n"),
            5,
            16,
            "needs a literal prefix before \"{id}\"",
        );
    }
    accepts(&format!("{external}key_template = \"s{{id}}\"\n"));
}
