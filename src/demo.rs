//! `sessiongate demo`: a small application to put the gateway in front of.
//!
//! The demo shows managed mode end to end without anything to install: a
//! login form (a public route) that answers with `Sessiongate-Login`,
//! protected pages that trust the identity header the gateway sets, and a
//! session panel that polls `/.sessiongate/session` to count down to expiry,
//! warns before it, offers "Stay signed in" and "Sign out". Two pages show
//! session control (SPEC §9): "Your sessions" (`/account/sessions`), driven
//! by the gateway's self-service endpoints from the browser, and the
//! operator page (`/operator`), whose data the app fetches server-side from
//! the admin API and `/metrics` with a token the page never sees.
//!
//! This module holds the application ([`serve_app`]), the gateway
//! configuration that puts it behind sessiongate ([`demo_config_toml`]), the
//! lines printed at start ([`banner`]) and the whole demo in one call
//! ([`run`], in `demo/launch.rs`, with the token file of `demo/token_file.rs`).
//! Nothing here knows about the gateway's internals: the operator routes
//! (`demo/operator.rs`) speak the admin API's HTTP contract.
//!
//! The HTML lives in `demo/page.rs`, the responses in `demo/reply.rs`; the
//! stylesheet and the scripts are plain files under `src/demo/`, served from
//! the public `/assets/` route so the login page is styled before anyone
//! signs in.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::header::{CACHE_CONTROL, HeaderValue, LOCATION};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use crate::login::safe_next;

mod clock;
mod form;
mod launch;
mod operator;
mod page;
mod reply;
mod serve;
mod token_file;

pub use launch::{DemoError, DemoListeners, run};
pub use operator::AdminApi;
pub use serve::{serve_app, serve_app_with_admin};
pub use token_file::TokenFileError;

use reply::{Body, asset, html, json_error, text};

/// The demo's only account.
pub const DEMO_USER: &str = "demo";
/// The demo account's password, printed in the banner and on the login page.
pub const DEMO_PASSWORD: &str = "sessiongate";

/// The header the gateway sets on protected requests (the SPEC default for
/// `session.identity_header`, which the demo config does not change).
const IDENTITY_HEADER: &str = "x-sessiongate-user";
/// The managed-mode login signal the gateway turns into a session (SPEC §4).
const LOGIN_HEADER: &str = "sessiongate-login";

/// A login form is a few dozen bytes; anything far larger is not one.
const MAX_FORM_BYTES: usize = 16 * 1024;

const APP_CSS: &str = include_str!("demo/app.css");
const SESSION_JS: &str = include_str!("demo/session.js");
const CLOCK_JS: &str = include_str!("demo/clock.js");
const ROWS_JS: &str = include_str!("demo/rows.js");
const SESSIONS_JS: &str = include_str!("demo/sessions.js");
const OPERATOR_JS: &str = include_str!("demo/operator.js");
const JS: &str = "text/javascript; charset=utf-8";

/// What `sessiongate demo` can be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoOptions {
    /// The gateway's port on 127.0.0.1; the admin listener takes the next one.
    pub port: u16,
    /// Short by default so the expiry is seen within a minute.
    pub idle_timeout: Duration,
    pub absolute_timeout: Option<Duration>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            port: 8080,
            idle_timeout: Duration::from_secs(60),
            absolute_timeout: None,
        }
    }
}

impl DemoOptions {
    /// The admin (metrics) port: the one after `port`, so both are easy to
    /// remember; the one before when `port` is the last, and an ephemeral
    /// port when `port` is 0.
    pub fn admin_port(&self) -> u16 {
        match self.port {
            0 => 0,
            u16::MAX => u16::MAX - 1,
            port => port + 1,
        }
    }
}

/// The gateway's configuration for the demo, in front of the app at
/// `app_addr`, with the session API token in `token_file`. Only keys from
/// SPEC §2 and §9; everything else keeps its default.
pub fn demo_config_toml(opts: &DemoOptions, app_addr: SocketAddr, token_file: &Path) -> String {
    let absolute = opts
        .absolute_timeout
        .map(|d| format!("absolute_timeout = \"{}\"\n", toml_duration(d)))
        .unwrap_or_default();
    format!(
        r#"# sessiongate demo: the gateway in front of the built-in demo app.

[server]
listen = "127.0.0.1:{port}"

[admin]
listen = "127.0.0.1:{admin_port}"
token_file = {token_file}

[store]
url = "memory://"

[session]
mode = "managed"
idle_timeout = "{idle}"
{absolute}
[login]
url = "/login"

[upstream]
url = "http://{app_addr}"

[[route]]
name = "login"
path = "/login"
public = true

[[route]]
name = "assets"
path = "/assets/"
public = true

# The operator page polls these every few seconds: watching must not keep
# the operator's own session alive.
[[route]]
name = "operator-api"
path = "/operator/api/"
extends_session = false
"#,
        port = opts.port,
        admin_port = opts.admin_port(),
        idle = toml_duration(opts.idle_timeout),
        token_file = toml_string(&token_file.to_string_lossy()),
    )
}

/// A TOML basic string: quoted, with `"`, `\` and control characters escaped.
fn toml_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A duration as the config file spells it: whole seconds when it is, else
/// milliseconds (both parse as SPEC §2 durations).
fn toml_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// The lines `sessiongate demo` prints when it is ready.
/// `proxy` and `admin` are the addresses actually bound (with `--port 0`
/// the kernel picks them).
pub fn banner(opts: &DemoOptions, proxy: SocketAddr, admin: SocketAddr) -> String {
    let absolute = opts
        .absolute_timeout
        .map(|d| format!("  absolute timeout: {}\n", humantime::format_duration(d)))
        .unwrap_or_default();
    format!(
        "sessiongate demo\n\
         \n  open:             http://{proxy}/\n\
         \x20 username:         {DEMO_USER}\n\
         \x20 password:         {DEMO_PASSWORD}\n\
         \x20 idle timeout:     {idle} (leave the page alone and watch it expire)\n\
         {absolute}\
         \x20 your sessions:    http://{proxy}/account/sessions (sign in from a second browser too)\n\
         \x20 operator:         http://{proxy}/operator\n\
         \x20 metrics:          http://{admin}/metrics\n\
         \nCtrl-C to stop\n",
        idle = humantime::format_duration(opts.idle_timeout),
    )
}

/// One request to the demo app. Never fails: every problem is an answer.
pub(super) async fn handle(
    req: Request<Incoming>,
    admin: Option<Arc<AdminApi>>,
) -> Result<Response<Body>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let get = method == Method::GET || method == Method::HEAD;
    if path == clock::PATH {
        let signed_in = signed_in(&req).is_some();
        return Ok(clock::answer(req, signed_in));
    }
    if path.starts_with("/operator/api/") {
        let Some(_user) = signed_in(&req) else {
            return Ok(json_error(StatusCode::UNAUTHORIZED, "unauthenticated"));
        };
        let query = req.uri().query();
        let admin = admin.as_deref();
        return Ok(operator::api(&method, &path, query, req.headers(), admin).await);
    }
    let response = match (path.as_str(), get) {
        ("/assets/app.css", true) => asset("text/css; charset=utf-8", APP_CSS),
        ("/assets/session.js", true) => asset(JS, SESSION_JS),
        ("/assets/clock.js", true) => asset(JS, CLOCK_JS),
        ("/assets/rows.js", true) => asset(JS, ROWS_JS),
        ("/assets/sessions.js", true) => asset(JS, SESSIONS_JS),
        ("/assets/operator.js", true) => asset(JS, OPERATOR_JS),
        ("/login", true) => {
            let next = req.uri().query().and_then(|q| form::field(q, "next"));
            html(
                StatusCode::OK,
                page::login(next.as_deref().unwrap_or("/"), "", None),
            )
        }
        ("/login", false) if method == Method::POST => login(req).await,
        (p, true) if p.starts_with("/assets/") => text(StatusCode::NOT_FOUND, "not found\n"),
        (_, true) => protected(&req, admin.is_some()),
        (_, false) => {
            let mut res = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            let allow = if path == "/login" {
                "GET, HEAD, POST"
            } else {
                "GET, HEAD"
            };
            res.headers_mut()
                .insert(http::header::ALLOW, HeaderValue::from_static(allow));
            res
        }
    };
    Ok(response)
}

/// `POST /login`: check the demo credentials; on success tell the gateway
/// to start a session and send the browser back where it was going.
async fn login(req: Request<Incoming>) -> Response<Body> {
    let body = match Limited::new(req.into_body(), MAX_FORM_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return text(StatusCode::PAYLOAD_TOO_LARGE, "login form too large\n"),
    };
    let body = String::from_utf8_lossy(&body);
    let username = form::field(&body, "username").unwrap_or_default();
    let password = form::field(&body, "password").unwrap_or_default();
    let next = form::field(&body, "next").unwrap_or_default();

    if username != DEMO_USER || password != DEMO_PASSWORD {
        return html(
            StatusCode::UNAUTHORIZED,
            page::login(&next, &username, Some("Wrong username or password.")),
        );
    }
    let location = utf8_percent_encode(&safe_next(&next), LOCATION_UNSAFE).to_string();
    let mut res = Response::new(Body::default());
    *res.status_mut() = StatusCode::SEE_OTHER;
    let headers = res.headers_mut();
    // Encoded above: only visible ASCII remains, so this cannot fail.
    if let Ok(location) = HeaderValue::from_str(&location) {
        headers.insert(LOCATION, location);
    }
    headers.insert(LOGIN_HEADER, HeaderValue::from_static("user=demo"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// What must not appear raw in a `Location` path: controls, spaces,
/// non-ASCII (as UTF-8 bytes) and quote-like characters. `%` stays as it is:
/// the path is already in its request-line form.
const LOCATION_UNSAFE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// The user the gateway vouches for. The app trusts the identity header:
/// the gateway strips it from what clients send and sets it itself.
fn signed_in(req: &Request<Incoming>) -> Option<&str> {
    req.headers()
        .get(IDENTITY_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
}

/// Every page but the login form. `connected`: the operator page has an
/// admin API to ask.
fn protected(req: &Request<Incoming>, connected: bool) -> Response<Body> {
    let Some(user) = signed_in(req) else {
        return text(
            StatusCode::UNAUTHORIZED,
            "not signed in (request did not come through sessiongate)\n",
        );
    };
    let path = req.uri().path();
    // Rendered as the "Log in again" link: the same safe-path rule as
    // `next`, so `//evil.example/x` never becomes an off-site link.
    let here = safe_next(req.uri().path_and_query().map_or(path, |pq| pq.as_str()));
    let body = match path {
        "/" => page::home(user),
        "/account/sessions" => page::sessions(user, &here),
        "/operator" => page::operator(user, &here, connected),
        _ => page::other(user, path, &here),
    };
    html(StatusCode::OK, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_options_are_the_documented_ones() {
        let opts = DemoOptions::default();
        assert_eq!(opts.port, 8080);
        assert_eq!(opts.admin_port(), 8081);
        assert_eq!(opts.idle_timeout, Duration::from_secs(60));
        assert_eq!(opts.absolute_timeout, None);
    }

    #[test]
    fn admin_port_never_overflows() {
        let at = |port| DemoOptions {
            port,
            ..DemoOptions::default()
        };
        assert_eq!(at(u16::MAX).admin_port(), u16::MAX - 1);
        assert_eq!(at(0).admin_port(), 0);
    }

    #[test]
    fn durations_are_written_in_config_units() {
        assert_eq!(toml_duration(Duration::from_secs(60)), "60s");
        assert_eq!(toml_duration(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn absolute_timeout_appears_only_when_set() {
        let addr: SocketAddr = "127.0.0.1:9999".parse().unwrap();
        let mut opts = DemoOptions::default();
        let token = Path::new("/tmp/t");
        assert!(!demo_config_toml(&opts, addr, token).contains("absolute_timeout"));
        opts.absolute_timeout = Some(Duration::from_secs(300));
        assert!(demo_config_toml(&opts, addr, token).contains("absolute_timeout = \"300s\""));
    }

    #[test]
    fn config_is_valid_toml_with_the_demo_keys() {
        let addr: SocketAddr = "127.0.0.1:9999".parse().unwrap();
        let opts = DemoOptions {
            absolute_timeout: Some(Duration::from_millis(90_500)),
            ..DemoOptions::default()
        };
        let text = demo_config_toml(&opts, addr, Path::new("/tmp/a \"b\"\\c/admin-token"));
        let table: toml::Table = toml::from_str(&text).expect(&text);
        assert_eq!(
            table["admin"]["token_file"].as_str(),
            Some("/tmp/a \"b\"\\c/admin-token")
        );
        assert_eq!(table["server"]["listen"].as_str(), Some("127.0.0.1:8080"));
        assert_eq!(table["admin"]["listen"].as_str(), Some("127.0.0.1:8081"));
        assert_eq!(table["store"]["url"].as_str(), Some("memory://"));
        assert_eq!(table["session"]["idle_timeout"].as_str(), Some("60s"));
        assert_eq!(
            table["session"]["absolute_timeout"].as_str(),
            Some("90500ms")
        );
        assert_eq!(
            table["upstream"]["url"].as_str(),
            Some("http://127.0.0.1:9999")
        );
        assert_eq!(table["login"]["url"].as_str(), Some("/login"));
        let routes = table["route"].as_array().unwrap();
        let public: Vec<_> = routes
            .iter()
            .filter(|r| r.get("public").and_then(|p| p.as_bool()) == Some(true))
            .map(|r| r["path"].as_str().unwrap())
            .collect();
        assert_eq!(public, ["/login", "/assets/"]);
        let operator_api = &routes[2];
        assert_eq!(operator_api["path"].as_str(), Some("/operator/api/"));
        assert_eq!(operator_api["extends_session"].as_bool(), Some(false));
    }

    #[test]
    fn banner_names_url_credentials_timeout_and_metrics() {
        let text = banner(
            &DemoOptions::default(),
            "127.0.0.1:8080".parse().unwrap(),
            "127.0.0.1:8081".parse().unwrap(),
        );
        for needle in [
            "http://127.0.0.1:8080/",
            DEMO_USER,
            DEMO_PASSWORD,
            "1m",
            "http://127.0.0.1:8081/metrics",
            "http://127.0.0.1:8080/account/sessions",
            "http://127.0.0.1:8080/operator",
            "Ctrl-C to stop",
        ] {
            assert!(text.contains(needle), "banner lacks {needle:?}:\n{text}");
        }
    }
}
