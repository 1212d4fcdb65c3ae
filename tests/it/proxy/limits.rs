//! Hard limits on connections (issue 19): beyond `max_connections` new
//! clients wait in the listen backlog until a connection closes; they are
//! served then, and the wait is counted. The admin listener has a limit of
//! its own, so a flood on one listener never takes the other's places.
//!
//! "Waits" is asserted as: not answered within [`HELD`] while the limit is
//! held, answered promptly once a place frees up.

use hyper::client::conn::http1::SendRequest;
use tokio::task::JoinHandle;

use super::*;

/// How long a connection beyond the limit must stay unanswered.
const HELD: Duration = Duration::from_secs(1);

/// A kept-alive HTTP/1.1 connection to `addr` that has been served once
/// (so the gateway has accepted it).
async fn served_connection(addr: SocketAddr, path: &str) -> SendRequest<ClientBody> {
    let mut sender = http1_over(tcp(addr).await).await;
    let resp = respond_h1(&mut sender, request(path)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let _ = resp.into_body().collect().await;
    sender
}

fn request(path: &str) -> Request<ClientBody> {
    Request::get(path)
        .header("host", "limits.test")
        .body(body(""))
        .unwrap()
}

/// A request on a new connection to `addr`, in the background: its status.
fn waiting_request(addr: SocketAddr, path: &'static str) -> JoinHandle<StatusCode> {
    tokio::spawn(async move {
        let mut sender = http1_over(tcp(addr).await).await;
        respond_h1(&mut sender, request(path)).await.status()
    })
}

/// Fails unless `waiting` is still unanswered after [`HELD`].
async fn still_waiting(waiting: &JoinHandle<StatusCode>) {
    tokio::time::sleep(HELD).await;
    assert!(
        !waiting.is_finished(),
        "a connection beyond max_connections was served"
    );
}

#[tokio::test]
async fn connections_beyond_max_connections_wait_until_one_closes() {
    let (upstream, gw) = proxied_with(|cfg| cfg.server.max_connections = Some(2)).await;
    let first = served_connection(gw.addr, "/first").await;
    let _second = served_connection(gw.addr, "/second").await;
    let waiting = waiting_request(gw.addr, "/third");
    still_waiting(&waiting).await;
    assert_eq!(
        upstream.received().len(),
        2,
        "the third reached the upstream"
    );

    let metrics = Http::new().metrics(&gw).await;
    use crate::support::http::metric;
    assert_eq!(metric(&metrics, "sessiongate_open_connections"), 2.0);
    assert_eq!(
        metric(
            &metrics,
            r#"sessiongate_connection_limit{listener="proxy"}"#
        ),
        2.0
    );
    let limited = r#"sessiongate_connections_limited_total{listener="proxy"}"#;
    assert!(metric(&metrics, limited) >= 1.0, "{metrics}");

    // A place frees up: the waiting client is served.
    drop(first);
    let status = timeout(PATIENCE, waiting)
        .await
        .expect("the waiting connection was never served")
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(upstream.received().len(), 3);
}

#[tokio::test]
async fn the_admin_listener_has_a_limit_of_its_own() {
    let (_upstream, gw) = proxied_with(|cfg| {
        cfg.admin.max_connections = 1;
        cfg.server.max_connections = Some(1);
    })
    .await;
    let admin = served_connection(gw.admin, "/healthz").await;
    let waiting = waiting_request(gw.admin, "/healthz");
    // The proxy's own place is not the admin's: it still serves.
    let proxy = served_connection(gw.addr, "/app").await;
    still_waiting(&waiting).await;

    drop(admin);
    let status = timeout(PATIENCE, waiting)
        .await
        .expect("the waiting admin connection was never served")
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    drop(proxy);
    let metrics = Http::new().metrics(&gw).await;
    use crate::support::http::metric;
    let limited = r#"sessiongate_connections_limited_total{listener="admin"}"#;
    assert!(metric(&metrics, limited) >= 1.0, "{metrics}");
    assert_eq!(
        metric(
            &metrics,
            r#"sessiongate_connection_limit{listener="admin"}"#
        ),
        1.0
    );
}

/// `count` distinct header fields.
fn fields(count: usize) -> Vec<(String, String)> {
    (0..count)
        .map(|n| (format!("x-field-{n}"), "v".to_owned()))
        .collect()
}

fn pairs(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

/// SPEC §5's `431` for heads beyond the limits holds for the number of
/// header fields too, on HTTP/1.1 (hyper's limit) and HTTP/2 (the
/// gateway's, the same), and nothing reaches the upstream.
#[tokio::test]
async fn too_many_header_fields_get_431_on_both_protocols() {
    use crate::support::http::PROTOS;
    let (upstream, gw) = proxied().await;
    for proto in PROTOS {
        let client = Http::speaking(proto);
        let many = fields(101);
        let ans = client.get(gw.url("/many"), &pairs(&many)).await;
        assert_eq!(
            ans.status,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "{proto:?}"
        );
        assert!(upstream.received().is_empty(), "{proto:?}");
    }
    // Under the limit goes through (with room for the X-Forwarded-*
    // fields the gateway adds: the test upstream has hyper's limit too).
    for proto in PROTOS {
        let fit = fields(95);
        let ans = Http::speaking(proto)
            .get(gw.url("/fit"), &pairs(&fit))
            .await;
        assert_eq!(ans.status, StatusCode::OK, "{proto:?}");
    }
    // HTTP/2 cookie crumbs are one Cookie field, as on HTTP/1.1.
    let crumbs: Vec<(String, String)> = (0..150)
        .map(|n| ("cookie".to_owned(), format!("c{n}=v")))
        .collect();
    let ans = Http::h2c().get(gw.url("/crumbs"), &pairs(&crumbs)).await;
    assert_eq!(ans.status, StatusCode::OK);
    let last = upstream.received().pop().expect("forwarded");
    assert_eq!(last.path_and_query, "/crumbs");
}

/// The admin listener holds heads to the same field limit.
#[tokio::test]
async fn the_admin_listener_refuses_too_many_header_fields_too() {
    use crate::support::http::PROTOS;
    let (_upstream, gw) = proxied().await;
    let many = fields(101);
    for proto in PROTOS {
        let ans = Http::speaking(proto)
            .get(gw.admin_url("/healthz"), &pairs(&many))
            .await;
        assert_eq!(
            ans.status,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "{proto:?}"
        );
        let fit = fields(95);
        let ans = Http::speaking(proto)
            .get(gw.admin_url("/healthz"), &pairs(&fit))
            .await;
        assert_eq!(ans.status, StatusCode::OK, "{proto:?}");
    }
}
