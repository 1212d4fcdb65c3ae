//! Hostile input that once walked around the gateway (issue 21), each case
//! over HTTP/1.1 and h2c: forged header spellings, host and path spellings
//! that skipped a protected route, and return paths that left the site.

use http::{HeaderMap, Request, StatusCode, Version};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::support::gateway::{GatewayToml, PUB_ROUTE, TestGateway};
use crate::support::http::{
    ClientBody, PATIENCE, body, http1_over, http2_over, respond_h1, respond_h2, tcp,
};
use crate::support::upstream::TestUpstream;

const PROTOCOLS: [Version; 2] = [Version::HTTP_11, Version::HTTP_2];

/// A managed-mode gateway on the memory store: `/login` and `/pub/` public,
/// `admin.example.com` and `/admin` protected, everything else public
/// unless `catch_all_protected`.
async fn start(extra_server: &str, catch_all_protected: bool) -> (TestGateway, TestUpstream) {
    let upstream = TestUpstream::start().await;
    let catch_all = if catch_all_protected {
        ""
    } else {
        "[[route]]\nname = \"public\"\npath = \"/\"\npublic = true\n"
    };
    let gw = GatewayToml::new()
        .sections(&format!("[server]\n{extra_server}"))
        .routes(&format!(
            r#"
            {PUB_ROUTE}
            [[route]]
            name = "admin-host"
            path = "/"
            host = "admin.example.com"
            [[route]]
            name = "admin"
            path = "/admin"
            {catch_all}
            "#
        ))
        .start(&upstream.url())
        .await;
    (gw, upstream)
}

/// Sends one request on a fresh connection, over HTTP/1.1 or h2c prior
/// knowledge, exactly as built: `uri`'s authority becomes `:authority` on
/// h2 and nothing on HTTP/1.1 (set `host` there yourself).
async fn send(
    gw: &TestGateway,
    version: Version,
    req: Request<ClientBody>,
) -> (StatusCode, HeaderMap) {
    let stream = tcp(gw.addr).await;
    let resp = if version == Version::HTTP_2 {
        let (mut sender, _conn) = http2_over(stream).await;
        respond_h2(&mut sender, req).await
    } else {
        respond_h1(&mut http1_over(stream).await, req).await
    };
    let (parts, body) = resp.into_parts();
    let _ = body.collect().await;
    (parts.status, parts.headers)
}

/// A request for `path` on `host`, in the form `version` carries a host.
fn request(version: Version, host: &str, path: &str) -> http::request::Builder {
    if version == Version::HTTP_2 {
        Request::get(format!("http://{host}{path}")).version(Version::HTTP_2)
    } else {
        Request::get(path).header("host", host)
    }
}

/// Logs `user` in; returns the `Cookie` header value.
async fn login(gw: &TestGateway, user: &str) -> String {
    let req = request(
        Version::HTTP_11,
        "app.example.com",
        &format!("/login?user={user}"),
    )
    .body(body(""))
    .unwrap();
    let (status, headers) = send(gw, Version::HTTP_11, req).await;
    assert_eq!(status, StatusCode::OK);
    let set = headers["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// A browser's GET of `path` on `host` over `version`: the answer's
/// status and headers.
async fn browser_get(
    gw: &TestGateway,
    version: Version,
    host: &str,
    path: &str,
) -> (StatusCode, HeaderMap) {
    let req = request(version, host, path)
        .header("accept", "text/html")
        .body(body(""))
        .unwrap();
    send(gw, version, req).await
}

/// Writes `request` verbatim on a fresh connection and reads until the
/// gateway closes it.
async fn raw(gw: &TestGateway, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    timeout(PATIENCE, stream.read_to_end(&mut out))
        .await
        .expect("the gateway closed the connection")
        .unwrap();
    out
}

fn header_names(upstream: &TestUpstream) -> Vec<String> {
    let last = upstream
        .received()
        .pop()
        .expect("the upstream got the request");
    last.headers.keys().map(|n| n.as_str().to_owned()).collect()
}

/// Regression: `X_Sessiongate_User: admin` reached a WSGI application as
/// `HTTP_X_SESSIONGATE_USER=admin` (over HTTP/1.1 and h2c), on protected
/// and public routes alike.
#[tokio::test]
async fn underscore_identity_header_never_reaches_the_upstream() {
    let (gw, upstream) = start("", false).await;
    let cookie = login(&gw, "alice").await;
    for version in PROTOCOLS {
        for path in ["/admin/x", "/pub/x"] {
            let req = request(version, "app.example.com", path)
                .header("cookie", &cookie)
                .header("x_sessiongate_user", "admin")
                .header("X_SessionGate-User", "admin")
                .header("sessiongate_login", "user=admin")
                .header("sessiongate_anything", "1")
                .body(body(""))
                .unwrap();
            let (status, _) = send(&gw, version, req).await;
            assert_eq!(status, StatusCode::OK, "{version:?} {path}");
            let received = upstream.received().pop().unwrap();
            let identities: Vec<_> = received
                .headers
                .iter()
                .filter(|(name, _)| name.as_str().replace('_', "-").contains("sessiongate"))
                .map(|(name, value)| format!("{name}: {value:?}"))
                .collect();
            let want: Vec<String> = if path == "/admin/x" {
                vec!["x-sessiongate-user: \"alice\"".into()]
            } else {
                vec![]
            };
            assert_eq!(identities, want, "{version:?} {path}");
        }
    }
}

/// Regression: `X_Forwarded_For: 6.6.6.6` reached a WSGI application as a
/// forged client address; `Forwarded`, `X-Real-IP` and the other headers
/// proxies use to describe the client are only a trusted proxy's to send.
#[tokio::test]
async fn forwarding_headers_from_untrusted_peers_are_removed() {
    const FORGED: [&str; 9] = [
        "x_forwarded_for",
        "x_forwarded_proto",
        "x_forwarded_host",
        "forwarded",
        "x-real-ip",
        "x-forwarded-port",
        "x-forwarded-prefix",
        "x-original-url",
        "x-rewrite-url",
    ];
    for (trusted, kept) in [("", false), ("trusted_proxies = [\"127.0.0.0/8\"]", true)] {
        let (gw, upstream) = start(trusted, false).await;
        for version in PROTOCOLS {
            let mut req = request(version, "app.example.com", "/pub/x");
            for name in FORGED {
                req = req.header(name, "6.6.6.6");
            }
            let (status, _) = send(&gw, version, req.body(body("")).unwrap()).await;
            assert_eq!(status, StatusCode::OK);
            let names = header_names(&upstream);
            for name in FORGED {
                assert_eq!(
                    names.iter().any(|n| n == name),
                    kept,
                    "{name} (trusted peer: {kept}, {version:?})"
                );
            }
            let received = upstream.received().pop().unwrap();
            let xff = received.headers["x-forwarded-for"].to_str().unwrap();
            assert!(xff.ends_with("127.0.0.1"), "{xff}");
        }
    }
}

/// Regression: `Host: admin.example.com.` (a trailing dot; the same
/// `:authority` on h2) skipped the protected host route into a public one.
#[tokio::test]
async fn trailing_dot_host_is_the_protected_host() {
    let (gw, upstream) = start("", false).await;
    for version in PROTOCOLS {
        for host in [
            "admin.example.com.",
            "ADMIN.Example.COM.",
            "admin.example.com",
        ] {
            let (status, headers) = browser_get(&gw, version, host, "/reports").await;
            assert_eq!(status, StatusCode::FOUND, "{version:?} {host}");
            assert!(headers["location"].to_str().unwrap().starts_with("/login"));
        }
        for host in [
            "admin..example.com",
            ".admin.example.com",
            "admin.example.com..",
        ] {
            let req = request(version, host, "/reports").body(body("")).unwrap();
            let (status, _) = send(&gw, version, req).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{version:?} {host}");
        }
    }
    assert!(
        upstream.received().is_empty(),
        "nothing reached the upstream"
    );
}

/// Regression: an HTTP/1.1 request without `Host` skipped every host route.
#[tokio::test]
async fn http11_without_host_is_refused() {
    let (gw, upstream) = start("", false).await;
    for request in [
        &b"GET /reports HTTP/1.1\r\n\r\n"[..],
        b"GET /reports HTTP/1.1\r\nHost: admin.example.com\r\nHost: app.example.com\r\n\r\n",
    ] {
        let out = raw(&gw, request).await;
        let answer = String::from_utf8_lossy(&out);
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    }
    assert!(upstream.received().is_empty());
    // HTTP/1.0 has no Host requirement: routed by path alone.
    let out = raw(&gw, b"GET /pub/x HTTP/1.0\r\n\r\n").await;
    assert!(
        out.starts_with(b"HTTP/1.0 200"),
        "{}",
        String::from_utf8_lossy(&out)
    );
}

/// Regression: `/ADMIN/users` skipped the protected `/admin` route into a
/// public `/` (applications with case-insensitive routing served it).
#[tokio::test]
async fn uppercase_path_does_not_escape_a_protected_prefix() {
    let (gw, upstream) = start("", false).await;
    for version in PROTOCOLS {
        for path in ["/ADMIN/users", "/Admin", "/%41dmin/users"] {
            let (status, _) = browser_get(&gw, version, "app.example.com", path).await;
            assert_eq!(status, StatusCode::FOUND, "{version:?} {path}");
        }
    }
    assert!(upstream.received().is_empty());
}

/// Regression: `/a/..//evil.example` went out as `next` unchanged, and a
/// login page resolving it with `new URL()` sent the user to
/// `//evil.example`.
#[tokio::test]
async fn next_has_no_dot_segments() {
    let (gw, _upstream) = start("", true).await;
    for version in PROTOCOLS {
        for (path, next) in [
            ("/a/..//evil.example", "/login?next=/"),
            ("/a/%2e%2e//evil.example", "/login?next=/"),
            ("/a/./b/../reports?x=1", "/login?next=/a/reports%3Fx%3D1"),
        ] {
            let (status, headers) = browser_get(&gw, version, "app.example.com", path).await;
            assert_eq!(status, StatusCode::FOUND, "{version:?} {path}");
            assert_eq!(headers["location"], next, "{version:?} {path}");
        }
    }
}
