//! `rediss://` against a real TLS-only `redis-server` (`--port 0`) with a
//! self-signed certificate valid for `127.0.0.1`.
//!
//! The redis-rs build sessiongate ships (`tokio-rustls-comp`,
//! `tls-rustls-webpki-roots`, without `tls-rustls-insecure`) verifies every
//! server certificate and cannot skip that check: `rediss://…/#insecure`
//! parses, then every connection is refused (and `check` refuses it). So
//! the tests pin that the scheme speaks TLS, that verification refuses a
//! certificate no trusted root signed, that `#insecure` never turns
//! verification off, and that with `store.ca_file` naming the server's CA
//! sessions run over TLS end to end.

use std::time::{Duration, Instant};

use sessiongate::config::StoreConfig;
use sessiongate::store::{RedisStore, SessionStore, Store, StoreError};

use super::{MS, key, record, slide};
use crate::support::redis::TlsRedisServer;

const OP_TIMEOUT: Duration = Duration::from_secs(2);

/// How long one operation may take: `OP_TIMEOUT` and scheduling slack.
const OP_BOUND: Duration = Duration::from_millis(2_500);

/// How long the store may take to report why it cannot connect: the
/// connection manager retries with backoff first, so operations time out
/// until its attempts are spent.
const REASON_WITHIN: Duration = Duration::from_secs(20);

/// Runs `create`, a sliding `touch`, `delete` and `ping` once each on `key`;
/// panics when one succeeds or outlasts [`OP_BOUND`]. Returns the errors.
async fn every_operation_fails(store: &RedisStore, key: &str) -> Vec<StoreError> {
    let mut errors = Vec::new();
    let started = Instant::now();
    let created = store.create(key, &record(10_000), MS(10_000)).await;
    errors.push(refused("create", started, created));
    let started = Instant::now();
    let touched = store.touch(key, &slide()).await;
    errors.push(refused("touch", started, touched));
    let started = Instant::now();
    let deleted = store.delete(key).await;
    errors.push(refused("delete", started, deleted));
    let started = Instant::now();
    let pinged = store.ping().await;
    errors.push(refused("ping", started, pinged));
    errors
}

fn refused<T: std::fmt::Debug>(
    op: &str,
    started: Instant,
    result: Result<T, StoreError>,
) -> StoreError {
    let elapsed = started.elapsed();
    assert!(elapsed <= OP_BOUND, "{op} took {elapsed:?}");
    match result {
        Ok(value) => panic!("{op} succeeded ({value:?}): the store must be refused"),
        Err(error) => error,
    }
}

/// Repeats [`every_operation_fails`] until one error satisfies `reason`;
/// panics after [`REASON_WITHIN`] with the errors seen.
async fn fails_until(store: &RedisStore, key: &str, reason: impl Fn(&StoreError) -> bool) {
    let started = Instant::now();
    let mut seen = Vec::new();
    loop {
        let errors = every_operation_fails(store, key).await;
        if errors.iter().any(&reason) {
            return;
        }
        seen.extend(errors.iter().map(chain));
        assert!(
            started.elapsed() < REASON_WITHIN,
            "no operation failed for the expected reason within {REASON_WITHIN:?}; saw {seen:?}"
        );
        tokio::time::sleep(MS(50)).await;
    }
}

/// The error and its sources, for a failure message.
fn chain(error: &StoreError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// The rustls error behind a store error, if a TLS handshake failed.
fn tls_error(error: &StoreError) -> Option<&rustls::Error> {
    std::error::Error::source(error).and_then(rustls_cause)
}

/// Looks for a [`rustls::Error`] in `error`, the `io::Error` or `Arc`
/// (redis-rs keeps its cause in one) it may be wrapped in, and its sources.
fn rustls_cause<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    type Shared = std::sync::Arc<dyn std::error::Error + Send + Sync>;
    if let Some(tls) = error.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    if let Some(inner) = error
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::get_ref)
    {
        return rustls_cause(inner);
    }
    if let Some(shared) = error.downcast_ref::<Shared>() {
        return rustls_cause(&**shared);
    }
    error.source().and_then(rustls_cause)
}

/// The fixture listens on its TLS port alone: `CONFIG GET port` is 0, and
/// a plain `redis://` store on the TLS port never gets an answer.
#[tokio::test]
async fn redis_tls_server_has_no_plaintext_port() {
    let server = TlsRedisServer::start();
    assert_eq!(server.query_config("port"), "0", "plain TCP is off");
    assert_eq!(server.query_config("tls-port"), server.port().to_string());

    let plain = format!("redis://127.0.0.1:{}", server.port());
    let store = RedisStore::connect(&plain, OP_TIMEOUT).expect("a valid URL");
    let started = Instant::now();
    let pinged = store.ping().await;
    refused("plain ping", started, pinged);
}

/// Without `#insecure`, the self-signed certificate is verified against
/// the webpki roots and refused for its unknown issuer (not its name: it is
/// valid for 127.0.0.1, and a client trusting it is answered). No operation
/// ever succeeds and nothing reaches the server.
#[tokio::test]
async fn redis_tls_refuses_a_certificate_no_root_signed() {
    let server = TlsRedisServer::start();
    let store = RedisStore::connect(&server.url(), OP_TIMEOUT).expect("a valid URL");
    let key = key();

    fails_until(&store, &key, |error| {
        matches!(
            tls_error(error),
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))
        )
    })
    .await;
    every_operation_fails(&store, &key).await;

    assert_eq!(server.query::<i64>(&["EXISTS", &key]), 0, "nothing written");
    assert_eq!(server.query::<String>(&["PING"]), "PONG", "server healthy");
}

/// `rediss://…/#insecure` (redis-rs's switch to skip verification) is a
/// valid URL, but this build lacks redis-rs's `tls-rustls-insecure`
/// feature: every operation fails, with `InvalidClientConfig` once the
/// connection manager gives up, and verification is never skipped.
#[tokio::test]
async fn redis_tls_insecure_fragment_never_skips_verification() {
    let server = TlsRedisServer::start();
    let url = format!("{}/#insecure", server.url());
    let store = RedisStore::connect(&url, OP_TIMEOUT).expect("the URL parses");
    let key = key();

    fails_until(&store, &key, |error| {
        matches!(error, StoreError::Redis(e) if e.kind() == ::redis::ErrorKind::InvalidClientConfig)
    })
    .await;
    every_operation_fails(&store, &key).await;

    assert_eq!(server.query::<i64>(&["EXISTS", &key]), 0, "nothing written");
}

/// `store.ca_file`: with the server's CA given, sessions run over TLS
/// end to end (create, a sliding touch, delete), verified, not skipped.
#[tokio::test]
async fn redis_tls_with_the_ca_file_runs_sessions() {
    let server = TlsRedisServer::start();
    let store = Store::open(&StoreConfig {
        url: server.url(),
        key_prefix: "sessiongate:".to_owned(),
        op_timeout: OP_TIMEOUT,
        ca_file: Some(server.cert_path()),
        client_cache: None,
        max_sessions: 1_000_000,
    })
    .await
    .expect("open");
    let started = Instant::now();
    while store.ping().await.is_err() {
        assert!(
            started.elapsed() < REASON_WITHIN,
            "never connected over TLS"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let k = key();
    store
        .create(&k, &record(10_000), MS(5_000))
        .await
        .expect("create over TLS");
    let got = store
        .touch(&k, &slide())
        .await
        .expect("touch over TLS")
        .expect("found");
    assert!(got.extended, "slid to the idle timeout");
    let pttl: i64 = server.query(&["PTTL", &k]);
    assert!(pttl > 9_000, "PTTL {pttl}");
    assert!(store.delete(&k).await.expect("delete over TLS"));
    assert_eq!(server.query::<i64>(&["EXISTS", &k]), 0);
}

/// A missing `store.ca_file` is an error at start-up naming the key and
/// the file, never a gateway that silently trusts the public roots.
#[tokio::test]
async fn a_missing_store_ca_file_fails_to_open() {
    let error = Store::open(&StoreConfig {
        url: "rediss://127.0.0.1:1".to_owned(),
        key_prefix: "sessiongate:".to_owned(),
        op_timeout: OP_TIMEOUT,
        ca_file: Some("/nonexistent/ca.pem".into()),
        client_cache: None,
        max_sessions: 1_000_000,
    })
    .await
    .err()
    .expect("a missing CA file is an error");
    let text = error.to_string();
    assert!(text.contains("store.ca_file /nonexistent/ca.pem"), "{text}");
}
