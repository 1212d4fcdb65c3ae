//! The operator page's routes against a stand-in admin listener that
//! speaks SPEC §9's session API and serves a `/metrics` page: what the app
//! asks, with which token, and what it gives its page.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sessiongate::demo::AdminApi;
use tokio::net::TcpListener;

use super::App;

const TOKEN: &str = "0123456789abcdef";
const LISTING: &str = r#"{"user":"demo","sessions":[{"handle":"h2","created":1700000100,"last_seen":1700000150,"expires_in":55,"absolute_expires_in":null},{"handle":"h1","created":1700000000,"last_seen":1700000010,"expires_in":12,"absolute_expires_in":null}]}"#;
const METRICS: &str = "# TYPE sessiongate_redirects counter\n\
    sessiongate_redirects_total{route=\"default\",reason=\"missing\"} 3\n\
    sessiongate_redirects_total{route=\"default\",reason=\"expired\"} 1\n\
    sessiongate_requests_total{route=\"default\",outcome=\"redirected\"} 4\n\
    # EOF\n";

/// One request the stand-in admin listener received.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    method: Method,
    path_and_query: String,
    authorization: Option<String>,
}

/// A stand-in admin listener: the session API behind `Bearer TOKEN` (401
/// otherwise), and `/metrics` for anyone.
async fn fake_admin() -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let log = log.clone();
            let service = service_fn(move |req: Request<Incoming>| {
                let log = log.clone();
                async move { Ok::<_, Infallible>(answer(&req, &log)) }
            });
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    (addr, seen)
}

fn answer(req: &Request<Incoming>, log: &Mutex<Vec<Seen>>) -> Response<Full<Bytes>> {
    let authorization = req
        .headers()
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned());
    let path_and_query = req.uri().path_and_query().unwrap().as_str().to_owned();
    log.lock().unwrap().push(Seen {
        method: req.method().clone(),
        path_and_query: path_and_query.clone(),
        authorization: authorization.clone(),
    });
    let reply = |status: StatusCode, body: &str| {
        Response::builder()
            .status(status)
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap()
    };
    if path_and_query == "/metrics" {
        return reply(StatusCode::OK, METRICS);
    }
    if authorization.as_deref() != Some(&format!("Bearer {TOKEN}")) {
        return reply(StatusCode::UNAUTHORIZED, r#"{"error":"unauthorized"}"#);
    }
    match (req.method().as_str(), path_and_query.as_str()) {
        ("GET", "/sessions?user=demo") => reply(StatusCode::OK, LISTING),
        ("GET", "/sessions?user=a%20b%26c") => {
            reply(StatusCode::OK, r#"{"user":"a b&c","sessions":[]}"#)
        }
        ("DELETE", "/sessions?user=demo") => reply(StatusCode::OK, r#"{"revoked":2}"#),
        ("DELETE", "/sessions/h1") => reply(StatusCode::OK, r#"{"revoked":1}"#),
        ("DELETE", _) => reply(StatusCode::NOT_FOUND, r#"{"error":"not_found"}"#),
        _ => reply(StatusCode::NOT_FOUND, ""),
    }
}

fn calls(seen: &Mutex<Vec<Seen>>) -> Vec<(Method, String, Option<String>)> {
    seen.lock()
        .unwrap()
        .drain(..)
        .map(|s| (s.method, s.path_and_query, s.authorization))
        .collect()
}

#[tokio::test]
async fn operator_routes_call_the_admin_api_with_the_token() {
    let (admin, seen) = fake_admin().await;
    let app = App::start_with(Some(AdminApi::new(admin, TOKEN))).await;
    let bearer = Some(format!("Bearer {TOKEN}"));

    // The listing is the admin API's own JSON.
    let (status, headers, body) = app
        .get("/operator/api/sessions?user=demo", Some("demo"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body, LISTING);
    // A user name is encoded into the admin query, not pasted.
    let (status, _, _) = app
        .get("/operator/api/sessions?user=a+b%26c", Some("demo"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        calls(&seen),
        [
            (Method::GET, "/sessions?user=demo".into(), bearer.clone()),
            (
                Method::GET,
                "/sessions?user=a%20b%26c".into(),
                bearer.clone()
            ),
        ]
    );

    // Revoke one, an unknown one, and all.
    for (path, want) in [
        (
            "/operator/api/sessions/h1/revoke",
            (StatusCode::OK, r#"{"revoked":1}"#),
        ),
        (
            "/operator/api/sessions/nope/revoke",
            (StatusCode::NOT_FOUND, r#"{"error":"not_found"}"#),
        ),
        (
            "/operator/api/sessions/revoke?user=demo",
            (StatusCode::OK, r#"{"revoked":2}"#),
        ),
    ] {
        let (status, _, body) = app.post(path, Some("demo"), None).await;
        assert_eq!((status, body.as_str()), want, "{path}");
    }
    assert_eq!(
        calls(&seen),
        [
            (Method::DELETE, "/sessions/h1".into(), bearer.clone()),
            (Method::DELETE, "/sessions/nope".into(), bearer.clone()),
            (Method::DELETE, "/sessions?user=demo".into(), bearer.clone()),
        ]
    );

    // The chart's data: the redirect series of /metrics, nothing else.
    let (status, _, body) = app.get("/operator/api/redirects", Some("demo")).await;
    assert_eq!(status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"redirects": [
            {"route": "default", "reason": "expired", "count": 1.0},
            {"route": "default", "reason": "missing", "count": 3.0},
        ]})
    );
    assert_eq!(calls(&seen), [(Method::GET, "/metrics".into(), None)]);
}

#[tokio::test]
async fn operator_routes_refuse_cross_site_posts_and_bad_input_before_calling() {
    let (admin, seen) = fake_admin().await;
    let app = App::start_with(Some(AdminApi::new(admin, TOKEN))).await;
    let origin = format!("http://{}", app.addr);

    for origin in [Some("http://evil.example"), Some("null")] {
        let (status, _, body) = app
            .post(
                "/operator/api/sessions/revoke?user=demo",
                Some("demo"),
                origin,
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{origin:?}");
        assert_eq!(body, r#"{"error":"cross_site"}"#);
    }
    // A handle that is not one (SPEC §9: URL-safe, at most 64) never
    // reaches the admin path.
    for path in [
        "/operator/api/sessions/a%2Fb/revoke",
        "/operator/api/sessions/../revoke",
    ] {
        let (status, _, _) = app.post(path, Some("demo"), Some(&origin)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let long = format!("/operator/api/sessions/{}/revoke", "a".repeat(65));
    let (status, _, _) = app.post(&long, Some("demo"), Some(&origin)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, body) = app.get("/operator/api/sessions", Some("demo")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, r#"{"error":"user_required"}"#);
    // Reading is a GET; revoking is a POST.
    let (status, _, _) = app
        .get("/operator/api/sessions/h1/revoke", Some("demo"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(calls(&seen), []);

    // Same origin passes.
    let (status, _, _) = app
        .post(
            "/operator/api/sessions/h1/revoke",
            Some("demo"),
            Some(&origin),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_rejected_token_or_a_dead_admin_listener_is_explained() {
    let (admin, _seen) = fake_admin().await;
    let app = App::start_with(Some(AdminApi::new(admin, "wrong"))).await;
    assert_eq!(
        app.get_as_demo("/operator/api/sessions?user=demo").await,
        (
            StatusCode::BAD_GATEWAY,
            r#"{"error":"admin_token_rejected"}"#.to_owned()
        )
    );

    // A port nothing listens on.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let app = App::start_with(Some(AdminApi::new(addr, TOKEN))).await;
    for path in [
        "/operator/api/sessions?user=demo",
        "/operator/api/redirects",
    ] {
        assert_eq!(
            app.get_as_demo(path).await,
            (
                StatusCode::BAD_GATEWAY,
                r#"{"error":"admin_unreachable"}"#.to_owned()
            ),
            "{path}"
        );
    }
}
