//! Accept and reject cases for the listener, store, TLS and log settings
//! (`[server]`, `[admin]`, `[store]`, `[log]`).

use std::time::Duration;

use super::tests::{accepts, rejects};
use super::*;

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
}

#[test]
fn client_cache_needs_one_redis_server() {
    assert_eq!(
        accepts("[store]\nurl = \"redis://r:6379\"\n")
            .store
            .client_cache,
        None
    );
    let c = accepts("[store]\nurl = \"redis://r:6379\"\nclient_cache = true\n");
    assert_eq!(c.store.client_cache, Some(100_000));
    let c = accepts(
        "[store]\nurl = \"rediss://r:6380\"\nclient_cache = true\nclient_cache_entries = 5\n",
    );
    assert_eq!(c.store.client_cache, Some(5));
    rejects(
        "[store]\nclient_cache = true\n",
        2,
        16,
        "store.client_cache: only for Redis",
    );
    rejects(
        "[store]\nurl = \"redis+cluster://a:1\"\nclient_cache = true\n",
        3,
        16,
        "not supported with Sentinel or Cluster yet",
    );
    rejects(
        "[store]\nurl = \"redis://r\"\nclient_cache = true\nclient_cache_entries = 0\n",
        4,
        24,
        "store.client_cache_entries: must be at least 1, got 0",
    );
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

#[test]
fn hard_limits() {
    let c = accepts("");
    assert_eq!(
        c.server.max_connections, None,
        "0: sized from the open-file limit"
    );
    assert_eq!(c.admin.max_connections, 64);
    assert_eq!(c.store.max_sessions, 1_000_000);
    let c = accepts(
        "[server]\nmax_connections = 5000\n[admin]\nmax_connections = 8\n\
         [store]\nmax_sessions = 10\n",
    );
    assert_eq!(c.server.max_connections, Some(5000));
    assert_eq!(c.admin.max_connections, 8);
    assert_eq!(c.store.max_sessions, 10);
    rejects(
        "[server]\nmax_connections = -1\n",
        2,
        19,
        "server.max_connections: must be between 1 and 16777216, or 0 to size it",
    );
    rejects(
        "[admin]\nmax_connections = 0\n",
        2,
        19,
        "admin.max_connections: must be between 1 and 16777216",
    );
    rejects(
        "[store]\nmax_sessions = 0\n",
        2,
        16,
        "store.max_sessions: must be between 1 and 4294967296",
    );
    rejects(
        "[store]\nurl = \"redis://127.0.0.1:6379/0\"\nmax_sessions = 10\n",
        3,
        16,
        "store.max_sessions: bounds the memory:// store only",
    );
    // Unset, it is the memory store's default and never an error.
    accepts("[store]\nurl = \"redis://127.0.0.1:6379/0\"\n");
}
