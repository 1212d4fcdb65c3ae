//! A real HTTP/1.1 upstream serving HTML pages (and things that are not)
//! the way applications do, for the expiry-warning tests (SPEC §12).
//!
//! | path                 | answer                                                        |
//! |----------------------|---------------------------------------------------------------|
//! | `/login?user=U`      | `Sessiongate-Login: user=U`                                    |
//! | `/page/KIND`         | `text/html` page with `Content-Length`: [`page`] bodies        |
//! | `/chunked/KIND`      | the same page, chunked, one frame per `CUT` bytes              |
//! | `/split`             | `HEAD_SPLIT` in two frames, cut inside `</head>`               |
//! | `/big`               | [`BIG`] bytes of HTML streamed, no `</head>`, a `</body>` in every chunk; after [`BIG_HEAD`] bytes it waits for `release` |
//! | `/gzip`              | a real gzip HTML page, `Content-Encoding: gzip`                |
//! | `/json`, `/text`     | JSON, `text/plain`, both containing `</head>`                  |
//! | `/csp?p=POLICY`      | the head page with `Content-Security-Policy: POLICY`           |
//! | `/csp-ro?p=POLICY`   | the same as `Content-Security-Policy-Report-Only`              |
//! | `/status/N`          | status N with an HTML content type (and a body where allowed)  |

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use tokio::sync::{Notify, mpsc};

use super::upstream::{FixtureBody as PageBody, ServerTask, serve};

/// The size of `/big`.
pub const BIG: usize = 50 * 1024 * 1024;
/// What `/big` sends before it waits for [`HtmlUpstream::release`].
pub const BIG_HEAD: usize = 4 * 1024 * 1024;
const BIG_CHUNK: usize = 64 * 1024;

/// `/split`: `</head>` cut between `</he` and `ad>`.
pub const HEAD_SPLIT: (&str, &str) = (
    "<html><head><title>t</title></he",
    "ad><body>x</body></html>",
);

pub const GZIP_PAGE: &[u8] = &[
    31, 139, 8, 0, 0, 0, 0, 0, 2, 3, 179, 201, 40, 201, 205, 177, 179, 201, 72, 77, 76, 177, 179,
    209, 135, 80, 73, 249, 41, 149, 118, 85, 153, 5, 5, 169, 41, 54, 250, 96, 14, 80, 6, 164, 12,
    0, 233, 81, 74, 138, 45, 0, 0, 0,
];

/// The pages by kind.
pub fn page(kind: &str) -> String {
    match kind {
        "head" => "<!doctype html><html><HEAD><title>t</title></HEAD><body><p>hi</p></body></html>\n",
        "body" => "<p>no head</p></body><p>after</p></BODY>\n</html>\n",
        "fragment" => "<p>just a fragment",
        "present" => {
            "<html><head><script src=\"/.sessiongate/warning.js\" defer></script></head><body></body></html>"
        }
        other => panic!("no page {other}"),
    }
    .to_owned()
}

pub struct HtmlUpstream {
    pub addr: SocketAddr,
    release: Arc<Notify>,
    _task: ServerTask,
}

impl HtmlUpstream {
    pub async fn start() -> HtmlUpstream {
        let release = Arc::new(Notify::new());
        let r = release.clone();
        let (addr, task) = serve(move |req| handle(req, r.clone()), || {}).await;
        HtmlUpstream {
            addr,
            release,
            _task: task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Lets `/big` send the rest of its bytes.
    pub fn release(&self) {
        self.release.notify_one();
    }
}

fn full(bytes: impl Into<Bytes>) -> PageBody {
    Full::new(bytes.into()).boxed()
}

fn html() -> http::response::Builder {
    Response::builder().header("content-type", "text/html; charset=utf-8")
}

/// A body sent frame by frame, each after a short pause so that each
/// reaches the gateway as its own read.
fn frames(parts: Vec<Bytes>) -> PageBody {
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(2);
    tokio::spawn(async move {
        for part in parts {
            if tx.send(Ok(Frame::data(part))).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    StreamBody::new(tokio_stream(rx)).boxed()
}

fn tokio_stream(
    mut rx: mpsc::Receiver<Result<Frame<Bytes>, Infallible>>,
) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

fn big(release: Arc<Notify>) -> PageBody {
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
    tokio::spawn(async move {
        // No </head>, and a </body> in every chunk: the injector waits
        // from each one on, and must let go of it as the page goes on.
        let head = Bytes::from_static(b"<!doctype html><html><body>\n");
        let mut line = b"<p>0123456789 abcdefghijklmnopqrstuvwxyz</p>\n".repeat(BIG_CHUNK / 46);
        line.extend_from_slice(b"<!-- </body> -->\n");
        let line = Bytes::from(line);
        let tail = Bytes::from_static(b"</body></html>\n");
        let mut sent = head.len();
        let _ = tx.send(Ok(Frame::data(head))).await;
        let mut released = false;
        while sent + tail.len() < BIG {
            if !released && sent >= BIG_HEAD {
                release.notified().await;
                released = true;
            }
            let part = line.slice(..line.len().min(BIG - tail.len() - sent));
            sent += part.len();
            if tx.send(Ok(Frame::data(part))).await.is_err() {
                return;
            }
        }
        let _ = tx.send(Ok(Frame::data(tail))).await;
    });
    StreamBody::new(tokio_stream(rx)).boxed()
}

async fn handle(
    req: Request<Incoming>,
    release: Arc<Notify>,
) -> Result<Response<PageBody>, Infallible> {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let param = |name: &str| {
        url_decode(
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                .unwrap_or(""),
        )
    };
    let resp = if path == "/login" {
        Response::builder()
            .header("sessiongate-login", format!("user={}", param("user")))
            .body(full("welcome"))
    } else if let Some(kind) = path
        .strip_prefix("/page/")
        .or_else(|| path.strip_prefix("/pub/page/"))
    {
        let body = page(kind);
        html()
            .header("content-length", body.len())
            .header("etag", "\"v1\"")
            .header("accept-ranges", "bytes")
            .body(full(body))
    } else if let Some(kind) = path.strip_prefix("/chunked/") {
        let body = Bytes::from(page(kind));
        let parts = body.chunks(5).map(Bytes::copy_from_slice).collect();
        html().body(frames(parts))
    } else if path == "/split" {
        let parts = vec![
            Bytes::from_static(HEAD_SPLIT.0.as_bytes()),
            Bytes::from_static(HEAD_SPLIT.1.as_bytes()),
        ];
        html().body(frames(parts))
    } else if path == "/big" {
        html().body(big(release))
    } else if path == "/gzip" {
        html()
            .header("content-encoding", "gzip")
            .body(full(GZIP_PAGE))
    } else if path == "/json" {
        Response::builder()
            .header("content-type", "application/json")
            .body(full(r#"{"html":"</head></body>"}"#))
    } else if path == "/text" {
        Response::builder()
            .header("content-type", "text/plain")
            .body(full("not a page </head> </body>"))
    } else if path == "/csp" || path == "/csp-ro" {
        let name = if path == "/csp" {
            "content-security-policy"
        } else {
            "content-security-policy-report-only"
        };
        html().header(name, param("p")).body(full(page("head")))
    } else if let Some(n) = path.strip_prefix("/status/") {
        let status = StatusCode::from_u16(n.parse().unwrap()).unwrap();
        let mut b = html().status(status);
        let body = if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
            Bytes::new()
        } else {
            Bytes::from(page("head"))
        };
        if status == StatusCode::PARTIAL_CONTENT {
            b = b.header("content-range", format!("bytes 0-{}/999", body.len() - 1));
        }
        b.body(full(body))
    } else {
        Response::builder().status(404).body(full("no such page"))
    };
    Ok(resp.unwrap())
}

fn url_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}
