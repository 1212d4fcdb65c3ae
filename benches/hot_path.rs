//! Micro-benchmarks of the request path's pure steps: what one protected
//! request costs before and after the store round trip. `bench/run` measures
//! the whole gateway; these say where its CPU time goes.
//!
//! Run with `cargo bench --bench hot_path`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use http::{HeaderMap, HeaderValue, Method};
use sessiongate::config::Config;
use sessiongate::config::Mode;
use sessiongate::gateway::Gateway;
use sessiongate::login;
use sessiongate::peer::ConnInfo;
use sessiongate::route::{self, Router};
use sessiongate::session::SessionId;
use sessiongate::session::cookie::{find_cookie, join_cookie_headers, keep_checked_cookie};
use sessiongate::session::decide::{self, Lookup, Refusal};
use sessiongate::store::{Found, Record};

const ID: &str = "bebebebebebebebebebebebebebebebebebebebebebebebebebebebe00000001";

/// Ten routes, as a mid-sized application might have; the benchmarked
/// request falls through all of them to the default protected route.
fn config() -> Config {
    let mut toml = String::from(
        "[upstream]\nurl = \"http://127.0.0.1:8000\"\n[session]\nidle_timeout = \"30m\"\n",
    );
    for (name, path, public) in [
        ("static", "/static/", true),
        ("assets", "/assets/", true),
        ("login", "/login", true),
        ("health", "/health", true),
        ("api", "/api/", false),
        ("admin", "/admin/", false),
        ("reports", "/reports/", false),
        ("poll", "/poll", false),
        ("files", "/files/", false),
        ("docs", "/docs/", true),
    ] {
        toml.push_str(&format!(
            "[[route]]\nname = \"{name}\"\npath = \"{path}\"\npublic = {public}\n"
        ));
    }
    Config::from_toml_str(&toml).expect("benchmark config is valid")
}

fn headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("app.example.com"));
    h.insert(
        "accept",
        HeaderValue::from_static("text/html,application/xhtml+xml,*/*;q=0.8"),
    );
    h.insert(
        "cookie",
        HeaderValue::from_str(&format!(
            "_ga=GA1.2.3456789.1234567890; theme=dark; sessiongate={ID}; csrftoken=abcdef0123456789"
        ))
        .expect("valid header"),
    );
    h
}

fn found() -> Found {
    Found {
        record: Record {
            user: Some("alice".to_owned()),
            started_ms: 1_700_000_000_000,
            idle: Duration::from_secs(1800),
            deadline_ms: None,
            browser: false,
            touched_ms: 1_700_000_100_000,
        },
        ttl_before: Duration::from_secs(1700),
        ttl: Duration::from_secs(1800),
        extended: true,
    }
}

fn cookies(c: &mut Criterion) {
    let h = headers();
    c.bench_function("find_cookie (4 cookies)", |b| {
        b.iter(|| find_cookie(black_box(&h), black_box("sessiongate")))
    });
    // External and observe modes, the usual case: the session cookie once,
    // one header; both leave the headers as they are.
    let mut h = headers();
    c.bench_function("join_cookie_headers (one header)", |b| {
        b.iter(|| join_cookie_headers(black_box(&mut h)))
    });
    c.bench_function("keep_checked_cookie (4 cookies, once)", |b| {
        b.iter(|| keep_checked_cookie(black_box(&mut h), black_box("sessiongate"), true))
    });
    c.bench_function("SessionId::parse (64 hex)", |b| {
        b.iter(|| SessionId::parse(black_box(ID)))
    });
}

fn routing(c: &mut Criterion) {
    let config = config();
    let router = Router::new(&config);
    let h = headers();
    let uri: http::Uri = "/reports/2026/q1?view=full".parse().expect("uri");
    c.bench_function("Router::route (10 routes, default hit)", |b| {
        b.iter(|| {
            router
                .route(
                    black_box(Some("app.example.com")),
                    black_box("/reports/2026/q1"),
                )
                .index
        })
    });
    c.bench_function("route::normalise_path (plain)", |b| {
        b.iter(|| route::normalise_path(black_box("/reports/2026/q1")))
    });
    c.bench_function("route::request_host", |b| {
        b.iter(|| route::request_host(http::Version::HTTP_11, black_box(&h), black_box(&uri)))
    });
}

fn decision(c: &mut Criterion) {
    let config = config();
    let router = Router::new(&config);
    let route = router.route(None, "/app/page").route;
    let h = headers();
    c.bench_function("decide::decide (live, slid)", |b| {
        b.iter_batched(
            found,
            |f| {
                decide::decide(
                    Lookup::Live(f),
                    black_box(route.idle_timeout),
                    Mode::Managed,
                    || Refusal::Redirect,
                    black_box(1_700_000_200_000),
                )
            },
            criterion::BatchSize::SmallInput,
        )
    });
    c.bench_function("decide::refusal_for (browser GET)", |b| {
        b.iter(|| decide::refusal_for(route.on_unauthenticated, black_box(&Method::GET), &h))
    });
}

fn login_location(c: &mut Criterion) {
    c.bench_function("login::login_location", |b| {
        b.iter(|| {
            login::login_location(
                black_box("/login"),
                black_box(Some("next")),
                black_box("/reports/2026/q1?view=full&lang=en"),
            )
        })
    });
}

/// The size of what `f` returns, without calling it.
fn size_of_return<A, B, C, R>(_f: impl Fn(A, B, C) -> R) -> usize {
    std::mem::size_of::<R>()
}

/// Memory per connection, not time: hyper's HTTP/1 dispatcher keeps one
/// boxed slot for the service's future for the whole life of a connection,
/// idle or not, so the size of `Gateway::handle`'s future is paid by every
/// open connection.
fn future_sizes() {
    let handle = size_of_return(
        |g: &'static Gateway, r: http::Request<hyper::body::Incoming>, c: ConnInfo| g.handle(r, c),
    );
    println!("size_of Gateway::handle future: {handle} bytes (held per connection by hyper)");
}

criterion_group!(hot_path, cookies, routing, decision, login_location);

fn main() {
    future_sizes();
    hot_path();
    Criterion::default().configure_from_args().final_summary();
}
