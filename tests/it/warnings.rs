//! Expiry warnings injected into HTML pages (SPEC §12): the gateway
//! in-process in front of a real upstream serving pages as applications
//! do (`support/html_upstream.rs`), with a managed session.

use http::{Method, StatusCode};
use http_body_util::BodyExt;
use tokio::time::timeout;

use crate::support::gateway::{GatewayToml, PUB_ROUTE, TestGateway};
use crate::support::html_upstream::{BIG, BIG_HEAD, GZIP_PAGE, HEAD_SPLIT, HtmlUpstream, page};
use crate::support::http::{Answer, Http, PATIENCE, Proto};

/// A protected route with injection off.
const PLAIN_ROUTE: &str = r#"
[[route]]
name = "plain"
path = "/plain/"
inject_warning = false
"#;

const TAG: &str = r#"<script src="/.sessiongate/warning.js" defer></script>"#;

struct Env {
    gw: TestGateway,
    upstream: HtmlUpstream,
    cookie: String,
}

async fn start() -> Env {
    let upstream = HtmlUpstream::start().await;
    let gw = GatewayToml::new()
        .session(
            r#"
            inject_warning = true
            warning_before = "90s"
            "#,
        )
        .routes(&[PUB_ROUTE, PLAIN_ROUTE].concat())
        .start(&upstream.url())
        .await;
    let login = Http::new().post(gw.url("/login?user=alice"), &[]).await;
    assert_eq!(login.status, StatusCode::OK);
    let cookie = login.session_pair();
    Env {
        gw,
        upstream,
        cookie,
    }
}

impl Env {
    async fn get(&self, path: &str) -> Answer {
        self.request(Proto::Http1, Method::GET, path, &[]).await
    }

    async fn request(
        &self,
        proto: Proto,
        method: Method,
        path: &str,
        extra: &[(&str, &str)],
    ) -> Answer {
        let mut headers = vec![("cookie", self.cookie.as_str()), ("accept", "text/html")];
        headers.extend_from_slice(extra);
        Http::speaking(proto)
            .request(method, self.gw.url(path), &headers, "")
            .await
    }

    async fn injections(&self, route: &str, result: &str) -> f64 {
        Http::new()
            .metric(
                &self.gw,
                &format!(
                    "sessiongate_warning_injections_total{{route=\"{route}\",result=\"{result}\"}}"
                ),
            )
            .await
    }
}

fn with_tag(page: &str, before: &str, nth_from_end: bool) -> String {
    let lower = page.to_ascii_lowercase();
    let at = if nth_from_end {
        lower.rfind(before)
    } else {
        lower.find(before)
    };
    let at = at.unwrap_or(page.len());
    format!("{}{TAG}{}", &page[..at], &page[at..])
}

#[tokio::test]
async fn pages_get_the_tag_before_head_else_body_else_at_the_end() {
    let env = start().await;
    let cases = [
        ("head", with_tag(&page("head"), "</head>", false)),
        ("body", with_tag(&page("body"), "</body>", true)),
        ("fragment", format!("{}{TAG}", page("fragment"))),
    ];
    for (kind, want) in &cases {
        // A known length is corrected; the validators no longer name these bytes.
        let ans = env.get(&format!("/page/{kind}")).await;
        assert_eq!(ans.status, StatusCode::OK);
        assert_eq!(ans.text(), *want, "{kind}");
        assert_eq!(ans.headers["content-length"], want.len().to_string());
        assert_eq!(ans.headers["etag"], "W/\"v1\"");
        assert!(!ans.headers.contains_key("accept-ranges"));
        // Streamed without a length: chunked on HTTP/1.1, none on HTTP/2.
        for proto in [Proto::Http1, Proto::H2c] {
            let ans = env
                .request(proto, Method::GET, &format!("/chunked/{kind}"), &[])
                .await;
            assert_eq!(ans.text(), *want, "{kind} over {proto:?}");
            assert!(
                !ans.headers.contains_key("content-length"),
                "{:?}",
                ans.headers
            );
            if proto == Proto::Http1 {
                assert_eq!(ans.headers["transfer-encoding"], "chunked");
            }
        }
    }
    assert_eq!(env.injections("default", "injected").await, 9.0);
}

#[tokio::test]
async fn a_head_end_split_across_chunks_is_found() {
    let env = start().await;
    let ans = env.get("/split").await;
    let whole = format!("{}{}", HEAD_SPLIT.0, HEAD_SPLIT.1);
    assert_eq!(ans.text(), with_tag(&whole, "</head>", false));
}

#[tokio::test]
async fn a_page_that_carries_the_tag_is_not_given_a_second() {
    let env = start().await;
    let ans = env.get("/chunked/present").await;
    assert_eq!(ans.text(), page("present"), "streamed: byte for byte");
    // With a length announced before the page was read, the length holds:
    // the page, then spaces.
    let ans = env.get("/page/present").await;
    let want = format!("{}{}", page("present"), " ".repeat(TAG.len()));
    assert_eq!(ans.text(), want);
    assert_eq!(ans.headers["content-length"], want.len().to_string());
    assert_eq!(env.injections("default", "already_present").await, 2.0);
}

#[tokio::test]
async fn what_is_not_a_plain_html_200_passes_byte_for_byte() {
    let env = start().await;
    let ans = env.get("/gzip").await;
    assert_eq!(&ans.body[..], GZIP_PAGE);
    assert_eq!(ans.headers["content-encoding"], "gzip");
    let ans = env.get("/json").await;
    assert_eq!(ans.text(), r#"{"html":"</head></body>"}"#);
    let ans = env.get("/text").await;
    assert_eq!(ans.text(), "not a page </head> </body>");
    for status in [204u16, 304, 206, 404] {
        let ans = env.get(&format!("/status/{status}")).await;
        assert_eq!(ans.status.as_u16(), status);
        assert!(
            !ans.text().contains("sessiongate"),
            "{status}: {}",
            ans.text()
        );
    }
    let ans = env
        .request(Proto::Http1, Method::HEAD, "/page/head", &[])
        .await;
    assert_eq!(
        ans.headers["content-length"],
        page("head").len().to_string()
    );
    assert!(ans.body.is_empty());
    // Public routes, and routes that turn it off.
    let ans = env.get("/pub/page/head").await;
    assert_eq!(ans.text(), page("head"));
    assert_eq!(ans.headers["etag"], "\"v1\"");
    let ans = env.get("/plain/x").await;
    assert_eq!(ans.status, StatusCode::NOT_FOUND);
    for (result, n) in [
        ("compressed", 1.0),
        ("no_html", 2.0),
        ("status", 4.0),
        ("head", 1.0),
    ] {
        assert_eq!(env.injections("default", result).await, n, "{result}");
    }
    assert_eq!(env.injections("default", "injected").await, 0.0);
    let metrics = Http::new().metrics(&env.gw).await;
    assert!(!metrics.contains(r#"sessiongate_warning_injections_total{route="pub""#));
    assert!(!metrics.contains(r#"sessiongate_warning_injections_total{route="plain""#));
}

#[tokio::test]
async fn no_session_no_page_no_tag() {
    let env = start().await;
    let ans = Http::new()
        .get(env.gw.url("/page/head"), &[("accept", "text/html")])
        .await;
    assert_eq!(ans.status, StatusCode::FOUND);
    assert!(!ans.text().contains("warning.js"));
}

/// The nonce the tag carries, if any.
fn tag_nonce(body: &str) -> Option<String> {
    let start = body.find("<script src=\"/.sessiongate/warning.js\" defer")?;
    let tag = &body[start..start + body[start..].find("</script>")?];
    let n = tag.split("nonce=\"").nth(1)?;
    Some(n[..n.find('"')?].to_owned())
}

async fn with_policy(env: &Env, path: &str, policy: &str) -> Answer {
    let encoded = percent_encoding::utf8_percent_encode(policy, percent_encoding::NON_ALPHANUMERIC);
    env.get(&format!("{path}?p={encoded}")).await
}

#[tokio::test]
async fn a_policy_that_allows_same_origin_scripts_is_left_as_it_is() {
    let env = start().await;
    for policy in [
        "default-src 'self'",
        "script-src 'self' https://cdn.example",
    ] {
        let ans = with_policy(&env, "/csp", policy).await;
        assert_eq!(ans.headers["content-security-policy"], policy);
        assert_eq!(ans.text(), with_tag(&page("head"), "</head>", false));
    }
}

#[tokio::test]
async fn a_policy_that_would_block_the_script_gets_a_fresh_nonce() {
    let env = start().await;
    for (policy, directive) in [
        (
            "script-src 'nonce-pageOwn'; object-src 'none'",
            "script-src 'nonce-pageOwn'",
        ),
        (
            "default-src https://cdn.example; img-src *",
            "default-src https://cdn.example",
        ),
        (
            "script-src 'self' 'strict-dynamic' 'nonce-pageOwn' 'sha256-abc='",
            "script-src 'self' 'strict-dynamic' 'nonce-pageOwn' 'sha256-abc='",
        ),
    ] {
        let first = with_policy(&env, "/csp", policy).await;
        let second = with_policy(&env, "/csp", policy).await;
        let mut nonces = Vec::new();
        for ans in [&first, &second] {
            let body = ans.text();
            let nonce = tag_nonce(&body).unwrap_or_else(|| panic!("no nonce in {body}"));
            let header = ans.headers["content-security-policy"].to_str().unwrap();
            let want = policy.replacen(directive, &format!("{directive} 'nonce-{nonce}'"), 1);
            assert_eq!(header, want);
            // The page is not otherwise modified.
            let tag = format!(
                "<script src=\"/.sessiongate/warning.js\" defer nonce=\"{nonce}\"></script>"
            );
            assert_eq!(
                body,
                page("head").replacen("</HEAD>", &format!("{tag}</HEAD>"), 1)
            );
            assert!(
                !ans.headers.contains_key("etag"),
                "a nonced page is not revalidated"
            );
            nonces.push(nonce);
        }
        assert_ne!(nonces[0], nonces[1], "a fresh nonce per response");
        assert!(nonces[0].len() >= 22, "128 bits");
    }
}

#[tokio::test]
async fn report_only_policies_are_left_alone() {
    let env = start().await;
    let ans = with_policy(&env, "/csp-ro", "script-src 'none'").await;
    assert_eq!(
        ans.headers["content-security-policy-report-only"],
        "script-src 'none'"
    );
    assert!(!ans.headers.contains_key("content-security-policy"));
    assert_eq!(ans.text(), with_tag(&page("head"), "</head>", false));
}

#[tokio::test]
async fn the_script_is_public_and_cacheable() {
    let env = start().await;
    let ans = Http::new()
        .get(env.gw.url("/.sessiongate/warning.js"), &[])
        .await;
    assert_eq!(ans.status, StatusCode::OK);
    assert_eq!(
        ans.headers["content-type"],
        "text/javascript; charset=utf-8"
    );
    let cache = ans.headers["cache-control"].to_str().unwrap();
    assert!(
        cache.contains("public") && cache.contains("max-age="),
        "{cache}"
    );
    let etag = ans.headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(ans.text(), sessiongate::inject::SCRIPT);
    assert!(ans.body.len() < 8 * 1024, "{} bytes", ans.body.len());
    let again = Http::new()
        .get(
            env.gw.url("/.sessiongate/warning.js"),
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    let post = Http::new()
        .post(env.gw.url("/.sessiongate/warning.js"), &[])
        .await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    // The script learns when to warn from the session status.
    let status = Http::new()
        .get(
            env.gw.url("/.sessiongate/session"),
            &[("cookie", &env.cookie)],
        )
        .await;
    assert_eq!(status.json()["warning_before"], 90);
}

/// This process's peak resident memory (`VmHWM`), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kb * 1024
}

#[tokio::test]
async fn a_50_mb_page_streams_through_in_bounded_memory() {
    let env = start().await;
    let before = peak_rss();
    let resp = Http::new()
        .respond(
            http::Request::get(env.gw.url("/big"))
                .header("cookie", &env.cookie)
                .body(crate::support::http::body(""))
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(!resp.headers().contains_key("content-length"));
    let mut body = resp.into_body();
    let mut received = 0usize;
    let mut released = false;
    let mut tail: Vec<u8> = Vec::new();
    while let Some(frame) = timeout(PATIENCE, body.frame()).await.expect("stalled") {
        let frame = frame.expect("body");
        let Some(data) = frame.data_ref() else {
            continue;
        };
        received += data.len();
        tail.extend_from_slice(data);
        let excess = tail.len().saturating_sub(256);
        tail.drain(..excess);
        // The first megabytes arrive while the upstream still holds the rest.
        if !released && received >= BIG_HEAD / 2 {
            env.upstream.release();
            released = true;
        }
    }
    assert!(
        released,
        "only {received} bytes before the upstream finished"
    );
    assert_eq!(received, BIG + TAG.len());
    assert!(
        tail.ends_with(format!("{TAG}</body></html>\n").as_bytes()),
        "{}",
        String::from_utf8_lossy(&tail)
    );
    let grown = peak_rss().saturating_sub(before);
    assert!(
        grown < 24 * 1024 * 1024,
        "peak memory grew by {} MiB streaming a {} MiB page",
        grown >> 20,
        BIG >> 20
    );
}
