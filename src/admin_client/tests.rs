use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;

use super::*;

fn listing(user: &str, sessions: Vec<ListedSession>) -> Listing {
    Listing {
        user: user.to_owned(),
        sessions,
        json: serde_json::Value::Null,
    }
}

#[test]
fn durations_show_their_two_largest_units() {
    assert_eq!(duration(0), "0s");
    assert_eq!(duration(59), "59s");
    assert_eq!(duration(60), "1m 0s");
    assert_eq!(duration(29 * 60 + 12), "29m 12s");
    assert_eq!(duration(3600), "1h 0m");
    assert_eq!(duration(11 * 3600 + 5 * 60 + 59), "11h 5m");
    assert_eq!(duration(14 * 86400 - 1), "13d 23h");
}

#[test]
fn timestamps_are_iso_8601_utc() {
    assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
    assert_eq!(timestamp(1_796_239_295), "2026-12-02T19:21:35Z");
    assert_eq!(timestamp(253_402_300_799), "9999-12-31T23:59:59Z");
    assert_eq!(timestamp(u64::MAX), format!("@{}", u64::MAX));
}

#[test]
fn a_listing_is_an_aligned_table_newest_first_as_answered() {
    let sessions = vec![
        ListedSession {
            handle: "h2-longer-handle".into(),
            created: 1_796_239_295,
            last_seen: 1_796_239_300,
            expires_in: 29 * 60 + 12,
            absolute_expires_in: Some(11 * 3600 + 60),
        },
        ListedSession {
            handle: "h1".into(),
            created: 1_796_233_600,
            last_seen: 1_796_238_600,
            expires_in: 5,
            absolute_expires_in: None,
        },
    ];
    let expected = "\
HANDLE            CREATED               LAST SEEN             EXPIRES IN  ABSOLUTE EXPIRES IN
h2-longer-handle  2026-12-02T19:21:35Z  2026-12-02T19:21:40Z  29m 12s     11h 1m
h1                2026-12-02T17:46:40Z  2026-12-02T19:10:00Z  5s          none
";
    assert_eq!(table(&listing("alice", sessions)), expected);
}

#[test]
fn an_empty_listing_says_so() {
    assert_eq!(
        table(&listing("bob smith", Vec::new())),
        "no live sessions for user \"bob smith\"\n"
    );
}

#[test]
fn users_and_handles_are_percent_encoded() {
    assert_eq!(users_path("alice"), "/sessions?user=alice");
    assert_eq!(
        users_path("a b+c&user=mallory#x"),
        "/sessions?user=a%20b%2Bc%26user%3Dmallory%23x"
    );
    assert_eq!(users_path("zoë@ex.org"), "/sessions?user=zo%C3%AB%40ex.org");
    assert_eq!(
        utf8_percent_encode("../x/y?z", COMPONENT).to_string(),
        "..%2Fx%2Fy%3Fz"
    );
}

#[test]
fn admin_urls_from_the_flag() {
    let ok = |given| AdminUrl::parse(given).unwrap().to_string();
    assert_eq!(ok("http://127.0.0.1:9090"), "http://127.0.0.1:9090");
    assert_eq!(ok("http://127.0.0.1:9090/"), "http://127.0.0.1:9090");
    assert_eq!(ok("127.0.0.1:9090"), "http://127.0.0.1:9090");
    assert_eq!(ok("[::1]:9090"), "http://[::1]:9090");
    assert_eq!(ok("http://gw.internal/admin/"), "http://gw.internal/admin");
    for bad in [
        "https://127.0.0.1:9090",
        "ftp://h",
        "http://u:p@h:1",
        "http://h:1/?x=1",
        "http://",
        "not a url",
    ] {
        let error = AdminUrl::parse(bad).unwrap_err();
        assert!(
            matches!(error, ClientError::BadAdminUrl { .. }),
            "{bad}: {error:?}"
        );
        assert!(error.to_string().contains("--admin"), "{error}");
    }
}

#[test]
fn a_wildcard_listen_address_is_reached_on_loopback() {
    let url = |listen: &str| AdminUrl::from_listen(listen.parse().unwrap()).to_string();
    assert_eq!(url("127.0.0.1:9090"), "http://127.0.0.1:9090");
    assert_eq!(url("0.0.0.0:9090"), "http://127.0.0.1:9090");
    assert_eq!(url("[::]:9090"), "http://[::1]:9090");
    assert_eq!(url("10.1.2.3:9"), "http://10.1.2.3:9");
}

#[test]
fn tokens_are_trimmed_and_never_shown() {
    assert_eq!(Token::new(" \n"), None);
    let token = Token::new("  s3cret\n").unwrap();
    assert_eq!(token, Token("s3cret".into()));
    assert_eq!(format!("{token:?}"), "Token(<redacted>)");
    assert!(token.bearer().unwrap().is_sensitive());
    assert!(matches!(
        Token::new("a\u{1}b").unwrap().bearer(),
        Err(ClientError::TokenNotAHeader)
    ));
}

#[test]
fn the_config_is_read_only_when_the_flags_and_environment_leave_a_gap() {
    let flags = |admin: bool, file: bool| Flags {
        admin: admin.then(|| "127.0.0.1:1".to_owned()),
        token_file: file.then(|| PathBuf::from("t")),
    };
    assert!(flags(false, false).needs_config(None));
    assert!(flags(false, true).needs_config(Some("env")));
    assert!(flags(true, false).needs_config(None));
    assert!(
        flags(true, false).needs_config(Some("  ")),
        "empty is unset"
    );
    assert!(!flags(true, false).needs_config(Some("env")));
    assert!(!flags(true, true).needs_config(None));
}

fn token_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_token_is_the_flag_then_the_environment_then_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = FromConfig {
        path: "gw.toml".into(),
        listen: "0.0.0.0:9191".parse().unwrap(),
        token_file: Some(token_file(dir.path(), "cfg", "from-config\n")),
    };
    let flag = Flags {
        admin: None,
        token_file: Some(token_file(dir.path(), "flag", " from-flag ")),
    };
    let target = Target::resolve(&flag, Some("from-env"), Some(&config)).unwrap();
    assert_eq!(target.token, Token("from-flag".into()));
    assert_eq!(target.base.to_string(), "http://127.0.0.1:9191");

    let none = Flags::default();
    let target = Target::resolve(&none, Some("from-env"), Some(&config)).unwrap();
    assert_eq!(target.token, Token("from-env".into()));
    let target = Target::resolve(&none, Some(""), Some(&config)).unwrap();
    assert_eq!(target.token, Token("from-config".into()));

    let admin = Flags {
        admin: Some("http://10.0.0.1:1".into()),
        token_file: None,
    };
    let target = Target::resolve(&admin, Some("from-env"), None).unwrap();
    assert_eq!(target.base.to_string(), "http://10.0.0.1:1");
}

#[test]
fn token_problems_name_where_the_token_was_looked_for() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = FromConfig {
        path: "gw.toml".into(),
        listen: "127.0.0.1:9090".parse().unwrap(),
        token_file: None,
    };
    let error = Target::resolve(&Flags::default(), None, Some(&config)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "no admin token: set admin.token_file in gw.toml, or SESSIONGATE_ADMIN_TOKEN, \
         or pass --token-file FILE"
    );

    config.token_file = Some(dir.path().join("missing"));
    let error = Target::resolve(&Flags::default(), None, Some(&config)).unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with("admin.token_file ") && message.contains("missing"),
        "{message}"
    );
    assert!(
        std::error::Error::source(&error).is_some(),
        "keeps the cause"
    );

    let flags = Flags {
        admin: None,
        token_file: Some(token_file(dir.path(), "empty", "\n\t ")),
    };
    let error = Target::resolve(&flags, None, Some(&config)).unwrap_err();
    assert!(
        matches!(
            &error,
            ClientError::TokenEmpty {
                origin: TokenOrigin::Flag,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().starts_with("--token-file "), "{error}");
}

/// A stand-in admin listener: answers each request from `answer` and
/// records `(method, path and query, authorization)`.
struct FakeAdmin {
    base: AdminUrl,
    seen: Arc<Mutex<Vec<(String, String, String)>>>,
}

type Answer = fn(&Method, &str) -> (StatusCode, serde_json::Value);

impl FakeAdmin {
    async fn start(answer: Answer) -> FakeAdmin {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = AdminUrl::from_listen(listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let log = log.clone();
                let service = service_fn(move |req: Request<Incoming>| {
                    let target = req.uri().path_and_query().unwrap().to_string();
                    let auth = req
                        .headers()
                        .get(header::AUTHORIZATION)
                        .map(|v| v.to_str().unwrap().to_owned())
                        .unwrap_or_default();
                    log.lock()
                        .unwrap()
                        .push((req.method().to_string(), target.clone(), auth));
                    let (status, body) = answer(req.method(), &target);
                    let mut resp = http::Response::new(Full::new(Bytes::from(body.to_string())));
                    *resp.status_mut() = status;
                    async move { Ok::<_, Infallible>(resp) }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        FakeAdmin { base, seen }
    }

    fn client(&self) -> AdminClient {
        AdminClient::new(Target {
            base: self.base.clone(),
            token: Token("tok".into()),
        })
    }

    fn seen(&self) -> Vec<(String, String, String)> {
        self.seen.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn the_three_requests_carry_the_token_and_read_their_answers() {
    let fake = FakeAdmin::start(|method, target| match (method.as_str(), target) {
        ("GET", "/sessions?user=a%20b") => (
            StatusCode::OK,
            json!({"user": "a b", "sessions": [{"handle": "h1", "created": 10, "last_seen": 20,
                "expires_in": 30, "absolute_expires_in": null}]}),
        ),
        ("DELETE", "/sessions?user=a%20b") => (StatusCode::OK, json!({"revoked": 3})),
        ("DELETE", "/sessions/h1") => (StatusCode::OK, json!({"revoked": 1})),
        _ => (StatusCode::IM_A_TEAPOT, json!({})),
    })
    .await;
    let client = fake.client();
    let listing = client.list("a b").await.unwrap();
    assert_eq!(listing.user, "a b");
    assert_eq!(
        listing.sessions,
        vec![ListedSession {
            handle: "h1".into(),
            created: 10,
            last_seen: 20,
            expires_in: 30,
            absolute_expires_in: None,
        }]
    );
    assert_eq!(listing.json["sessions"][0]["handle"], "h1");
    assert_eq!(client.revoke_user("a b").await.unwrap().revoked, 3);
    let one = client.revoke_handle("h1").await.unwrap();
    assert_eq!((one.revoked, one.json), (1, json!({"revoked": 1})));
    let seen = fake.seen();
    assert_eq!(seen.len(), 3);
    assert!(
        seen.iter().all(|(_, _, auth)| auth == "Bearer tok"),
        "{seen:?}"
    );
}

#[tokio::test]
async fn each_refusal_becomes_the_error_that_names_its_fix() {
    let fake = FakeAdmin::start(|_, target| match target {
        t if t.contains("user=wrong-token") => {
            (StatusCode::UNAUTHORIZED, json!({"error": "unauthorized"}))
        }
        t if t.contains("user=external") => {
            (StatusCode::CONFLICT, json!({"error": "unsupported_mode"}))
        }
        t if t.contains("user=store-down") => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "session_store_unavailable"}),
        ),
        t if t.contains("user=garbled") => (StatusCode::OK, json!({"users": []})),
        // On: an unknown handle is 404, and /sessions without a user 400.
        "/sessions" => (StatusCode::BAD_REQUEST, json!({"error": "missing_user"})),
        _ => (StatusCode::NOT_FOUND, json!({"error": "not_found"})),
    })
    .await;
    let client = fake.client();
    let error = client.list("wrong-token").await.unwrap_err();
    assert!(
        matches!(error, ClientError::Unauthorized { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("--token-file"), "{error}");
    let error = client.revoke_user("external").await.unwrap_err();
    assert!(
        matches!(error, ClientError::UnsupportedMode { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("managed"), "{error}");
    let error = client.list("store-down").await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "the admin listener at {} answered 503 Service Unavailable (session_store_unavailable)",
            fake.base
        )
    );
    let error = client.list("garbled").await.unwrap_err();
    assert!(matches!(error, ClientError::BadAnswer { .. }), "{error:?}");
    let error = client.revoke_handle("gone").await.unwrap_err();
    assert!(matches!(error, ClientError::UnknownHandle), "{error:?}");
    assert_eq!(
        error.to_string(),
        "no live session has that handle (404): list the user's sessions for their handles"
    );
}

#[tokio::test]
async fn a_404_everywhere_means_the_session_api_is_off() {
    let fake = FakeAdmin::start(|_, _| {
        (
            StatusCode::NOT_FOUND,
            json!({"error": "not_found", "hint": "the session API is off"}),
        )
    })
    .await;
    let client = fake.client();
    for error in [
        client.list("alice").await.unwrap_err(),
        client.revoke_user("alice").await.unwrap_err(),
        client.revoke_handle("h1").await.unwrap_err(),
    ] {
        assert!(matches!(error, ClientError::ApiOff { .. }), "{error:?}");
        assert!(
            error
                .to_string()
                .contains("the session API is off at http://127.0.0.1:")
                && error
                    .to_string()
                    .contains("set admin.token_file or SESSIONGATE_ADMIN_TOKEN"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_listener_is_named() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = AdminClient::new(Target {
        base: AdminUrl::parse(&format!("127.0.0.1:{port}")).unwrap(),
        token: Token("tok".into()),
    });
    let error = client.list("alice").await.unwrap_err();
    assert!(
        matches!(error, ClientError::Unreachable { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().starts_with(&format!(
            "cannot reach the admin listener at http://127.0.0.1:{port}"
        )),
        "{error}"
    );
}

#[test]
fn a_revocation_says_how_many_sessions_ended() {
    let answer = |n| Revoked {
        revoked: n,
        json: json!({ "revoked": n }),
    };
    let user = Revoke::User("alice".into());
    assert_eq!(
        revoked(&user, &answer(2)),
        "revoked 2 sessions of user \"alice\"\n"
    );
    assert_eq!(
        revoked(&user, &answer(0)),
        "revoked 0 sessions of user \"alice\"\n"
    );
    assert_eq!(
        revoked(&Revoke::Handle("h1".into()), &answer(1)),
        "revoked 1 session (handle h1)\n"
    );
}
