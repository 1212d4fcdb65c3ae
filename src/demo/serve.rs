//! The demo application's accept loop and graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::{AdminApi, handle};

/// How long in-flight demo requests get to finish after Ctrl-C.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serve the demo application on `listener` until `shutdown` completes, then
/// give in-flight requests a few seconds to finish. Without an admin API
/// (`sessiongate demo-app` alone) the operator page says it is not
/// connected; [`serve_app_with_admin`] gives it one.
pub async fn serve_app(listener: TcpListener, shutdown: impl Future<Output = ()>) {
    serve_app_with_admin(listener, None, shutdown).await;
}

/// [`serve_app`], with the gateway's admin API for the operator page.
///
/// HTTP/1.1 only: the gateway is the only client, and it speaks HTTP/1.1 to
/// upstreams; with upgrades, for the live clock's WebSocket. A failed
/// accept (e.g. too many open files) is logged and the loop goes on: one
/// bad moment must not end the demo.
pub async fn serve_app_with_admin(
    listener: TcpListener,
    admin: Option<AdminApi>,
    shutdown: impl Future<Output = ()>,
) {
    let admin = admin.map(Arc::new);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "demo app: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        while conns.try_join_next().is_some() {}
        let admin = admin.clone();
        let mut stop = stop_rx.clone();
        conns.spawn(async move {
            let service = service_fn(move |req| handle(req, admin.clone()));
            let conn = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                () = async { drop(stop.wait_for(|stop| *stop).await) } => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%error, "demo app: connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let finished = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, finished)
        .await
        .is_err()
    {
        tracing::debug!("demo app: connections still open after the grace period");
    }
}
