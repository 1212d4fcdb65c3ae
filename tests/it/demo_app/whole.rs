//! The whole demo in-process (`sessiongate::demo::run`): the app, the
//! gateway with the token the demo generated, and the session control
//! pages working end to end, as a newcomer uses them from two browsers.

use std::net::SocketAddr;
use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::Value;
use sessiongate::demo::{self, DEMO_PASSWORD, DEMO_USER, DemoListeners, DemoOptions};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::support::http::{Answer, Http};

/// `sessiongate demo` on ephemeral ports; stops it when dropped.
struct Demo {
    proxy: SocketAddr,
    admin: SocketAddr,
    http: Http,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), demo::DemoError>>>,
}

/// A browser: the session cookie it holds ("name=value"), if any.
type Browser = Option<String>;

impl Demo {
    async fn start() -> Demo {
        let bind = || TcpListener::bind("127.0.0.1:0");
        let listeners = DemoListeners {
            app: bind().await.unwrap(),
            proxy: bind().await.unwrap(),
            admin: bind().await.unwrap(),
        };
        let proxy = listeners.proxy.local_addr().unwrap();
        let admin = listeners.admin.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let opts = DemoOptions {
            port: 0,
            ..DemoOptions::default()
        };
        let task = tokio::spawn(async move {
            demo::run(&opts, listeners, async {
                let _ = stopped.await;
            })
            .await
        });
        Demo {
            proxy,
            admin,
            http: Http::new(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.proxy)
    }

    /// A request through the gateway, as `browser` (JSON asked for, and a
    /// same-origin `Origin` on POSTs, as the pages' fetch() sends).
    async fn call(&self, browser: &Browser, method: Method, path: &str) -> Answer {
        let origin = format!("http://{}", self.proxy);
        let mut headers = vec![("accept", "application/json")];
        if let Some(cookie) = browser {
            headers.push(("cookie", cookie.as_str()));
        }
        if method == Method::POST {
            headers.push(("origin", origin.as_str()));
        }
        self.http
            .request(method, self.url(path), &headers, "")
            .await
    }

    async fn json(&self, browser: &Browser, method: Method, path: &str) -> Value {
        let ans = self.call(browser, method.clone(), path).await;
        assert_eq!(
            ans.status,
            StatusCode::OK,
            "{method} {path}: {}",
            ans.text()
        );
        ans.json()
    }

    /// Signs in through the login form; the new browser's cookie.
    async fn sign_in(&self) -> Browser {
        let form = format!("username={DEMO_USER}&password={DEMO_PASSWORD}&next=%2F");
        let ans = self.http.post_form(self.url("/login"), &[], &form).await;
        assert_eq!(ans.status, StatusCode::SEE_OTHER);
        Some(ans.session_pair())
    }

    /// Whether `browser` still gets a protected page (not sent to login).
    async fn signed_in(&self, browser: &Browser) -> bool {
        let cookie = browser.as_deref().unwrap_or("");
        let ans = self
            .http
            .get(self.url("/reports/2026"), &[("cookie", cookie)])
            .await;
        match ans.status {
            StatusCode::OK => true,
            StatusCode::FOUND => {
                assert!(ans.location().starts_with("/login"));
                false
            }
            other => panic!("unexpected {other}"),
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let task = self.task.take().unwrap();
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("the demo stops")
            .expect("no panic")
            .expect("the demo ran without an error");
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn handles(listing: &Value) -> Vec<String> {
    listing["sessions"]
        .as_array()
        .unwrap_or_else(|| panic!("no sessions in {listing}"))
        .iter()
        .map(|s| s["handle"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn two_browsers_see_and_end_each_other_and_the_operator_sees_it_all() {
    let demo = Demo::start().await;

    // The session API is on, behind a token only the demo knows.
    let url = format!("http://{}/sessions?user=demo", demo.admin);
    let ans = demo.http.get(&url, &[]).await;
    assert_eq!(
        ans.status,
        StatusCode::UNAUTHORIZED,
        "the demo set no token"
    );
    let ans = demo
        .http
        .get(&url, &[("authorization", "Bearer guess")])
        .await;
    assert_eq!(ans.status, StatusCode::UNAUTHORIZED);

    // A visit without a session: one redirect to login, reason missing.
    assert!(!demo.signed_in(&None).await);
    let a = demo.sign_in().await;
    let b = demo.sign_in().await;

    // The pages render through the gateway, the operator page connected.
    let page = demo.call(&a, Method::GET, "/account/sessions").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains(r#"id="sessions-table""#));
    let page = demo.call(&a, Method::GET, "/operator").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.text().contains("operator-offline"), "{}", page.text());

    // "Your sessions" from A: both, A's marked current.
    let mine = demo.json(&a, Method::GET, "/.sessiongate/sessions").await;
    let sessions = mine["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{mine}");
    assert_eq!(
        sessions.iter().filter(|s| s["current"] == true).count(),
        1,
        "{mine}"
    );
    let handle_a = sessions.iter().find(|s| s["current"] == true).unwrap()["handle"]
        .as_str()
        .unwrap()
        .to_owned();
    let handle_b = sessions.iter().find(|s| s["current"] == false).unwrap()["handle"]
        .as_str()
        .unwrap()
        .to_owned();

    // The operator's listing, through the demo app and the admin API: the
    // same two handles, and neither cookie anywhere in it.
    let ans = demo
        .call(&a, Method::GET, "/operator/api/sessions?user=demo")
        .await;
    assert_eq!(ans.status, StatusCode::OK, "{}", ans.text());
    assert_eq!(ans.headers["content-type"], "application/json");
    for cookie in [&a, &b] {
        let value = cookie.as_deref().unwrap().split_once('=').unwrap().1;
        assert!(
            !ans.text().contains(value),
            "a session id in {}",
            ans.text()
        );
    }
    let listing = ans.json();
    assert_eq!(listing["user"], "demo");
    let mut listed = handles(&listing);
    listed.sort();
    let mut expected = vec![handle_a.clone(), handle_b.clone()];
    expected.sort();
    assert_eq!(listed, expected);

    // The operator revokes B: B is sent to login, A stays.
    let revoke_b = format!("/operator/api/sessions/{handle_b}/revoke");
    let revoked = demo.json(&a, Method::POST, &revoke_b).await;
    assert_eq!(revoked["revoked"], 1);
    assert!(!demo.signed_in(&b).await, "B survived its revocation");
    assert!(demo.signed_in(&a).await);
    let again = demo.call(&a, Method::POST, &revoke_b).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{}", again.text());

    // A cross-site POST changes nothing.
    let cookie = a.as_deref().unwrap();
    let ans = demo
        .http
        .post(
            demo.url("/operator/api/sessions/revoke?user=demo"),
            &[("cookie", cookie), ("origin", "http://evil.example")],
        )
        .await;
    assert_eq!(ans.status, StatusCode::FORBIDDEN);
    assert!(demo.signed_in(&a).await);

    // Self-service: C signs in, A signs out every other session.
    let c = demo.sign_in().await;
    let others = demo
        .json(&a, Method::POST, "/.sessiongate/sessions/revoke-others")
        .await;
    assert_eq!(others["revoked"], 1, "{others}");
    assert!(!demo.signed_in(&c).await);
    let mine = demo.json(&a, Method::GET, "/.sessiongate/sessions").await;
    assert_eq!(handles(&mine), [handle_a]);

    // The chart's data: the gateway's own redirect counter, by route and
    // reason; the visit without a cookie counted as `missing`.
    let chart = demo.json(&a, Method::GET, "/operator/api/redirects").await;
    let series = chart["redirects"].as_array().unwrap();
    let count = |reason: &str| -> f64 {
        series
            .iter()
            .filter(|s| s["reason"] == reason)
            .map(|s| s["count"].as_f64().unwrap())
            .sum()
    };
    assert!(count("missing") >= 1.0, "{chart}");
    let total: f64 = series.iter().map(|s| s["count"].as_f64().unwrap()).sum();
    assert!(total >= 3.0, "B's and C's refusals not counted: {chart}");
    assert!(series.iter().all(|s| s["route"].is_string()), "{chart}");

    // The operator revokes every session of demo: A's own too.
    let all = demo
        .json(&a, Method::POST, "/operator/api/sessions/revoke?user=demo")
        .await;
    assert_eq!(all["revoked"], 1, "{all}");
    assert!(!demo.signed_in(&a).await);
    let ans = demo
        .call(&a, Method::GET, "/operator/api/sessions?user=demo")
        .await;
    assert_eq!(ans.status, StatusCode::UNAUTHORIZED);

    demo.stop().await;
}
