//! The demo application on its own: a real listener on 127.0.0.1:0 and a
//! real HTTP client, playing the gateway's part by setting (or not setting)
//! the identity header.

use std::net::SocketAddr;

mod operator;
mod whole;

use http::{HeaderMap, Method, StatusCode};
use sessiongate::demo::{
    AdminApi, DEMO_PASSWORD, DEMO_USER, DemoOptions, demo_config_toml, serve_app,
    serve_app_with_admin,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::support::http::{Answer, Http};

/// The app running in this test; stops it when dropped.
struct App {
    addr: SocketAddr,
    http: Http,
    _stop: oneshot::Sender<()>,
}

impl App {
    async fn start() -> App {
        App::start_with(None).await
    }

    /// The app with an admin API to call for its operator page.
    async fn start_with(admin: Option<AdminApi>) -> App {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(serve_app_with_admin(listener, admin, async {
            let _ = stopped.await;
        }));
        App {
            addr,
            http: Http::new(),
            _stop: stop,
        }
    }

    /// `method path` with `headers` and no body: the status, headers and
    /// text of the answer.
    async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, String) {
        let url = format!("http://{}{path}", self.addr);
        parts(self.http.request(method, url, headers, "").await)
    }

    /// A GET, as the gateway forwards it for `user` (or for nobody).
    async fn get(&self, path: &str, user: Option<&str>) -> (StatusCode, HeaderMap, String) {
        self.request(Method::GET, path, &identity(user)).await
    }

    /// A POST as the app's own pages send it (through the gateway, which
    /// sets the identity header), with `origin` when given.
    async fn post(
        &self,
        path: &str,
        user: Option<&str>,
        origin: Option<&str>,
    ) -> (StatusCode, HeaderMap, String) {
        let mut headers = identity(user);
        headers.extend(origin.map(|origin| ("origin", origin)));
        self.request(Method::POST, path, &headers).await
    }

    /// A GET as the signed-in `demo` user: the status and the text.
    async fn get_as_demo(&self, path: &str) -> (StatusCode, String) {
        let (status, _, body) = self.get(path, Some(DEMO_USER)).await;
        (status, body)
    }

    /// A page as `demo` sees it: asserts a 200 carrying every part of the
    /// session panel ([`PANEL_IDS`]); returns the headers and the text.
    async fn page_with_panel(&self, path: &str) -> (HeaderMap, String) {
        let (status, headers, body) = self.get(path, Some(DEMO_USER)).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_contains_all(&body, PANEL_IDS);
        (headers, body)
    }

    /// A GET for nobody that must answer 200 with a content type starting
    /// with `content_type`; returns the text.
    async fn get_typed(&self, path: &str, content_type: &str) -> String {
        let (status, headers, body) = self.get(path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_content_type(&headers, content_type);
        body
    }

    async fn login(&self, form: &str) -> (StatusCode, HeaderMap, String) {
        let url = format!("http://{}/login", self.addr);
        parts(self.http.post_form(url, &[], form).await)
    }
}

/// The identity header the gateway sets for `user`, if any.
fn identity(user: Option<&str>) -> Vec<(&str, &str)> {
    user.map(|user| ("x-sessiongate-user", user))
        .into_iter()
        .collect()
}

/// An answer as these tests read it: status, headers, text.
fn parts(ans: Answer) -> (StatusCode, HeaderMap, String) {
    let text = String::from_utf8(ans.body.to_vec()).expect("utf-8");
    (ans.status, ans.headers, text)
}

/// Asserts that `headers` announce a content type starting with `prefix`.
fn assert_content_type(headers: &HeaderMap, prefix: &str) {
    let content_type = headers["content-type"].to_str().unwrap();
    assert!(content_type.starts_with(prefix), "{content_type}");
}

/// Asserts that `body` contains every one of `needles`.
fn assert_contains_all<'a>(body: &str, needles: impl IntoIterator<Item = &'a str>) {
    for needle in needles {
        assert!(body.contains(needle), "no {needle} in:\n{body}");
    }
}

fn credentials(next: &str) -> String {
    format!("username={DEMO_USER}&password={DEMO_PASSWORD}&next={next}")
}

const PANEL_IDS: [&str; 6] = [
    "id=\"countdown\"",
    "id=\"warning\"",
    "id=\"expired\"",
    "id=\"stay-signed-in\"",
    "id=\"logout\"",
    "id=\"page-path\"",
];

#[tokio::test]
async fn login_page_has_the_form_and_keeps_next() {
    let app = App::start().await;
    let body = app
        .get_typed("/login?next=%2Freports%2F2026", "text/html")
        .await;
    for id in ["login-form", "username", "password", "submit"] {
        assert!(
            body.contains(&format!("id=\"{id}\"")),
            "no #{id} in:\n{body}"
        );
    }
    assert!(
        body.contains(r#"<input type="hidden" name="next" value="/reports/2026">"#),
        "next not kept:\n{body}"
    );
    assert!(body.contains(DEMO_PASSWORD), "demo credentials not shown");
    assert!(!body.contains("id=\"error\""));
}

#[tokio::test]
async fn right_credentials_log_in_and_return_to_next() {
    let app = App::start().await;
    let (status, headers, _) = app.login(&credentials("%2Freports%2F2026%3Fq%3D1")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/reports/2026?q=1");
    assert_eq!(headers["sessiongate-login"], "user=demo");
}

#[tokio::test]
async fn hostile_next_values_return_home() {
    let app = App::start().await;
    for next in ["%2F%2Fevil", "%2F%5Cevil", "https%3A%2F%2Fevil", "", "evil"] {
        let (status, headers, _) = app.login(&credentials(next)).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "next={next}");
        assert_eq!(headers["location"], "/", "next={next}");
        assert_eq!(headers["sessiongate-login"], "user=demo");
    }
}

#[tokio::test]
async fn wrong_credentials_get_the_form_again_without_a_session() {
    let app = App::start().await;
    let (status, headers, body) = app
        .login("username=demo&password=nope&next=%2Faccount")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers.get("sessiongate-login").is_none());
    assert!(body.contains("id=\"error\""), "no error shown:\n{body}");
    assert!(body.contains("id=\"login-form\""));
    assert!(
        body.contains(r#"name="next" value="/account""#),
        "next lost:\n{body}"
    );
}

#[tokio::test]
async fn home_page_shows_the_user_and_the_session_panel() {
    let app = App::start().await;
    let (headers, body) = app.page_with_panel("/").await;
    assert_eq!(headers["cache-control"], "no-store");
    assert!(
        body.contains(r#"<strong id="user">demo</strong>"#),
        "{body}"
    );
    assert!(body.contains("href=\"/.sessiongate/logout\""));
    assert!(body.contains("href=\"/account\"") && body.contains("href=\"/reports/2026\""));
}

#[tokio::test]
async fn protected_pages_without_the_identity_header_are_refused() {
    let app = App::start().await;
    for path in ["/", "/reports/2026"] {
        let (status, _, body) = app.get(path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(
            body.trim(),
            "not signed in (request did not come through sessiongate)"
        );
    }
}

#[tokio::test]
async fn other_pages_show_the_path_asked_for() {
    let app = App::start().await;
    let (_, body) = app.page_with_panel("/reports/2026").await;
    assert!(
        body.contains(r#"<code id="page-path">/reports/2026</code>"#),
        "{body}"
    );
}

/// Regression: `//evil.example/x` asked for while signed in was rendered
/// as `<a id="login-again" href="//evil.example/x">`, an off-site link.
#[tokio::test]
async fn login_again_link_never_leaves_the_site() {
    let app = App::start().await;
    for (path, href) in [
        ("//evil.example/x", r#"href="/""#),
        ("/a/..//evil.example", r#"href="/""#),
        ("/reports/2026?tab=1", r#"href="/reports/2026?tab=1""#),
    ] {
        let (status, _, body) = app.get(path, Some("demo")).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let link = body
            .split(r#"id="login-again" "#)
            .nth(1)
            .and_then(|rest| rest.split('>').next())
            .unwrap_or_else(|| panic!("no login-again link for {path}: {body}"));
        assert_eq!(link, href, "{path}");
    }
}

#[tokio::test]
async fn assets_are_public_and_typed() {
    let app = App::start().await;
    let body = app.get_typed("/assets/session.js", "text/javascript").await;
    assert!(body.contains("/.sessiongate/session"));
    app.get_typed("/assets/app.css", "text/css").await;
    let (status, _, _) = app.get("/assets/missing.png", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[test]
fn demo_config_names_listeners_upstream_and_public_routes() {
    let addr: SocketAddr = "127.0.0.1:45678".parse().unwrap();
    let token_file = std::path::Path::new("/run/demo/admin-token");
    let text = demo_config_toml(&DemoOptions::default(), addr, token_file);
    for line in [
        "listen = \"127.0.0.1:8080\"",
        "listen = \"127.0.0.1:8081\"",
        "url = \"memory://\"",
        "idle_timeout = \"60s\"",
        "url = \"http://127.0.0.1:45678\"",
        "url = \"/login\"",
        "path = \"/login\"",
        "path = \"/assets/\"",
        "public = true",
        "[[route]]",
        "token_file = \"/run/demo/admin-token\"",
        "path = \"/operator/api/\"",
        "extends_session = false",
    ] {
        assert!(text.contains(line), "config lacks {line:?}:\n{text}");
    }
}

#[tokio::test]
async fn serve_app_returns_once_shutdown_completes() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve_app(listener, async {
        let _ = stopped.await;
    }));
    stop.send(()).expect("server alive");
    // A generous bound so a hang fails the test instead of stalling the run.
    tokio::time::timeout(std::time::Duration::from_secs(30), server)
        .await
        .expect("serve_app did not return after shutdown")
        .expect("serve_app panicked");
}

#[tokio::test]
async fn session_control_pages_render_for_a_signed_in_user() {
    let app = App::start().await;
    let (status, headers, body) = app.get("/account/sessions", Some("demo")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "no-store");
    assert_contains_all(
        &body,
        [
            r#"<strong id="user">demo</strong>"#,
            r#"id="sessions-table""#,
            r#"id="sessions-body""#,
            r#"id="sessions-status""#,
            r#"id="revoke-others""#,
            r#"src="/assets/rows.js""#,
            r#"src="/assets/sessions.js""#,
        ],
    );
    // The session panel (these pages name no path of their own).
    let panel = PANEL_IDS.into_iter().filter(|id| !id.contains("page-path"));
    assert_contains_all(&body, panel);

    let (status, _, body) = app.get("/operator", Some("demo")).await;
    assert_eq!(status, StatusCode::OK);
    assert_contains_all(
        &body,
        [
            r#"id="operator-form""#,
            r#"id="operator-user" name="user" value="demo""#,
            r#"id="operator-body""#,
            r#"id="revoke-all""#,
            r#"id="redirects-chart""#,
            r#"role="img" aria-labelledby="redirects-title redirects-desc""#,
            r#"id="redirects-body""#,
            r#"src="/assets/operator.js""#,
        ],
    );
    // `demo-app` alone has no admin API: the page says so.
    assert!(body.contains(r#"id="operator-offline""#), "{body}");

    // Every page links to both.
    let (_, _, home) = app.get("/", Some("demo")).await;
    assert!(home.contains(r#"href="/account/sessions""#) && home.contains(r#"href="/operator""#));

    for path in ["/account/sessions", "/operator"] {
        let (status, _, _) = app.get(path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
}

#[tokio::test]
async fn session_control_scripts_are_served() {
    let app = App::start().await;
    for (path, needle) in [
        ("/assets/rows.js", "sessiongateDemo"),
        (
            "/assets/sessions.js",
            "/.sessiongate/sessions/revoke-others",
        ),
        ("/assets/operator.js", "/operator/api/redirects"),
    ] {
        let body = app.get_typed(path, "text/javascript").await;
        assert!(body.contains(needle), "{path} lacks {needle}");
    }
}

#[tokio::test]
async fn operator_routes_need_a_signed_in_user_and_an_admin_api() {
    let app = App::start().await;
    let (status, headers, body) = app.get("/operator/api/sessions?user=demo", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(body, r#"{"error":"unauthenticated"}"#);

    let (status, body) = app.get_as_demo("/operator/api/sessions?user=demo").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, r#"{"error":"admin_api_not_configured"}"#);
    let (status, _) = app.get_as_demo("/operator/api/redirects").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}
