//! What the expiry warning (SPEC §12) costs per HTML response.
//!
//! - `injector/*`: the streaming injector alone (wall time: per-thread CPU
//!   accounting is too coarse for microseconds) over a page in 16 KiB
//!   chunks (a typical page with `</head>` early; a page without `</head>`
//!   whose `</body>` comes last; the worst case, a `</body>` every 1 KiB).
//! - `gateway/*`: whole requests through the gateway in-process (managed
//!   session, memory store) to a real upstream on loopback, the same page
//!   on a route with `inject_warning` on and on one with it off, and the
//!   upstream directly as the baseline. The time reported is CPU time of
//!   the whole process (client, gateway and upstream) per request, not wall
//!   time: the difference between `inject` and `plain` is the per-response
//!   CPU cost of injection, whatever else the machine runs.
//!
//! Run with `cargo bench --bench inject`.

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sessiongate::config::Config;
use sessiongate::inject::scan::{Injector, WINDOW};
use tokio::net::TcpListener;

const TAG: &[u8] = b"<script src=\"/.sessiongate/warning.js\" defer></script>";

/// A page of about `size` bytes: `</head>` early, `</body>` last.
fn page(size: usize) -> Bytes {
    let head = "<!doctype html><html><head><title>Reports</title>\
                <link rel=\"stylesheet\" href=\"/static/app.css\"></head><body>\n";
    let row = "<tr><td>2026-12-01</td><td class=\"n\">1,234</td><td><a href=\"/r/1\">open</a></td></tr>\n";
    let mut s = String::from(head);
    while s.len() + row.len() + 20 < size {
        s.push_str(row);
    }
    s.push_str("</body></html>\n");
    Bytes::from(s)
}

fn chunks(page: &Bytes, size: usize) -> Vec<Bytes> {
    (0..page.len())
        .step_by(size)
        .map(|i| page.slice(i..page.len().min(i + size)))
        .collect()
}

fn run_injector(parts: &[Bytes]) -> usize {
    let mut inj = Injector::new(Bytes::from_static(TAG), WINDOW, false);
    let mut out: Vec<Bytes> = Vec::with_capacity(4);
    let mut n = 0;
    for p in parts {
        inj.push(p.clone(), &mut out);
        n += out.drain(..).map(|b| b.len()).sum::<usize>();
    }
    inj.finish(&mut out);
    n + out.iter().map(Bytes::len).sum::<usize>()
}

fn injector(c: &mut Criterion) {
    let mut group = c.benchmark_group("injector");
    for size in [20 * 1024, 200 * 1024] {
        let typical = page(size);
        let no_head = Bytes::from(String::from_utf8_lossy(&typical).replace("</head>", ""));
        let mut worst = String::from("<html><body>");
        while worst.len() < size {
            worst.push_str(&"x".repeat(1017));
            worst.push_str("</body>");
        }
        for (name, body) in [
            ("head_early", typical),
            ("body_last", no_head),
            ("body_every_1k", Bytes::from(worst)),
        ] {
            let parts = chunks(&body, 16 * 1024);
            group.throughput(Throughput::Bytes(body.len() as u64));
            group.bench_with_input(BenchmarkId::new(name, size), &parts, |b, parts| {
                b.iter(|| black_box(run_injector(parts)))
            });
        }
    }
    group.finish();
}

async fn upstream(page: Bytes) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let page = page.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let page = page.clone();
                    async move {
                        let resp = if req.uri().path() == "/login" {
                            Response::builder()
                                .header("sessiongate-login", "user=bench")
                                .body(Full::new(Bytes::new()))
                        } else {
                            Response::builder()
                                .header("content-type", "text/html; charset=utf-8")
                                .body(Full::new(page))
                        };
                        Ok::<_, Infallible>(resp.unwrap())
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

async fn gateway(upstream: &str) -> String {
    let config = Config::from_toml_str(&format!(
        r#"
        [upstream]
        url = "{upstream}"
        [log]
        access_log = false
        [[route]]
        name = "login"
        path = "/login"
        public = true
        [[route]]
        name = "inject"
        path = "/inject/"
        inject_warning = true
        [[route]]
        name = "plain"
        path = "/plain/"
        "#
    ))
    .expect("bench config");
    let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = proxy.local_addr().unwrap();
    let listeners = sessiongate::Listeners { proxy, admin: None };
    tokio::spawn(sessiongate::run(listeners, config, std::future::pending()));
    format!("http://{addr}")
}

/// CPU time used so far by every thread of this process (client, gateway
/// and upstream alike), from `/proc/self/task/*/schedstat` (nanoseconds):
/// the machine may be shared, and wall time would measure the neighbours.
fn cpu_time() -> Duration {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let path = task.expect("task").path().join("schedstat");
        if let Ok(text) = std::fs::read_to_string(path) {
            total += text
                .split_whitespace()
                .next()
                .and_then(|ns| ns.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Duration::from_nanos(total)
}

fn through_gateway(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut group = c.benchmark_group("gateway");
    group.measurement_time(Duration::from_secs(8));
    for size in [20 * 1024, 200 * 1024] {
        let (up, gw, cookie) = rt.block_on(async {
            let up = upstream(page(size)).await;
            let gw = gateway(&up).await;
            let login = client
                .request(
                    Request::post(format!("{gw}/login"))
                        .body(Empty::new())
                        .unwrap(),
                )
                .await
                .unwrap();
            let cookie = login.headers()["set-cookie"]
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_owned();
            (up, gw, cookie)
        });
        for (name, url) in [
            ("direct", format!("{up}/page")),
            ("plain", format!("{gw}/plain/page")),
            ("inject", format!("{gw}/inject/page")),
        ] {
            group.bench_function(BenchmarkId::new(name, size), |b| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let started = cpu_time();
                        for _ in 0..iters {
                            let req = Request::get(&url)
                                .header("cookie", &cookie)
                                .body(Empty::new())
                                .unwrap();
                            let resp = client.request(req).await.unwrap();
                            let body = resp.into_body().collect().await.unwrap().to_bytes();
                            assert!(body.len() >= size - 200);
                        }
                        cpu_time() - started
                    })
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, injector, through_gateway);
criterion_main!(benches);
