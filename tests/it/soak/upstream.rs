//! The application behind the gateway: a real HTTP/1.1 server on a fixed
//! port of 127.0.0.1 that the fault script stops (the listener and every
//! connection closed at once, as when the process dies) and starts again on
//! the same port.
//!
//! `GET /login?user=U[&max_age=N]` answers `Sessiongate-Login: user=U[;
//! max-age=N]` (managed mode's login); anything else answers `200 ok`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub struct RestartableUpstream {
    pub addr: SocketAddr,
    /// The accept loop and every connection: aborting it closes them all.
    running: Option<tokio::task::JoinHandle<()>>,
}

impl RestartableUpstream {
    /// Starts on a free port.
    pub async fn start() -> RestartableUpstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the upstream");
        let addr = listener.local_addr().expect("upstream address");
        RestartableUpstream {
            addr,
            running: Some(tokio::spawn(serve(listener))),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Closes the listener and every connection.
    pub async fn stop(&mut self) {
        if let Some(task) = self.running.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Listens on the same port again (retrying while the port is still
    /// being released).
    pub async fn restart(&mut self) {
        self.stop().await;
        for _ in 0..100 {
            if let Ok(listener) = TcpListener::bind(self.addr).await {
                self.running = Some(tokio::spawn(serve(listener)));
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the upstream could not listen on {} again", self.addr);
    }
}

impl Drop for RestartableUpstream {
    fn drop(&mut self) {
        if let Some(task) = self.running.take() {
            task.abort();
        }
    }
}

/// Accepts until aborted; the connections are tasks of a [`JoinSet`]
/// owned here, so aborting this task closes them too.
async fn serve(listener: TcpListener) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                connections.spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service_fn(answer))
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut resp = Response::builder().header("content-type", "text/plain");
    if req.uri().path() == "/login" {
        let query = req.uri().query().unwrap_or("");
        let param = |name: &str| {
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        };
        if let Some(user) = param("user") {
            let value = match param("max_age") {
                Some(age) => format!("user={user}; max-age={age}"),
                None => format!("user={user}"),
            };
            resp = resp.header("sessiongate-login", value);
        }
    }
    Ok(resp.body(Full::new(Bytes::from_static(b"ok"))).unwrap())
}
