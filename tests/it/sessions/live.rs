//! Live connections end with their session (SPEC §10): WebSocket tunnels
//! and event streams on protected routes, with a real WebSocket client
//! (tokio-tungstenite), the real upstream's WebSocket echo and event
//! stream, and a real `redis-server`.
//!
//! "Within 1 s" is SPEC §10's semantic bound: a close frame must arrive at
//! most 1 s after the session ended (asserted with the instants taken
//! around the request that ended it, or around the upgrade that last slid
//! it), and never before the session ended (0.5 s margin).

use futures_util::{SinkExt as _, StreamExt as _};
use http_body_util::BodyExt as _;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::*;
use crate::support::records::until;
use crate::support::redis_topology::{RedisCluster, RedisSentinel, query as topology_query};
use crate::support::upstream::DOWNLOAD_HEAD;

type Ws = WebSocketStream<TcpStream>;

const BOUND: Duration = Duration::from_secs(1);

/// A WebSocket to `path` through the gateway, with `cookie`; the instants
/// before the upgrade was sent and after it was accepted.
async fn open(gw: &TestGateway, path: &str, cookie: Option<&str>) -> (Ws, Instant, Instant) {
    let mut req = format!("ws://{}{path}", gw.addr)
        .into_client_request()
        .unwrap();
    if let Some(cookie) = cookie {
        req.headers_mut().insert("cookie", cookie.parse().unwrap());
    }
    let before = Instant::now();
    let tcp = TcpStream::connect(gw.addr).await.unwrap();
    let (ws, resp) = timeout(PATIENCE, tokio_tungstenite::client_async(req, tcp))
        .await
        .expect("no answer to the upgrade in time")
        .expect("the WebSocket handshake failed");
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    (ws, before, Instant::now())
}

/// Waits for the gateway's close frame (answering it, as a client does)
/// and for the connection to end; the frame's reason and when it came.
async fn closed(ws: &mut Ws) -> (String, Instant) {
    let (reason, at) = loop {
        match timeout(PATIENCE, ws.next()).await.expect("never closed") {
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(frame.code, CloseCode::Policy, "{frame:?}");
                break (frame.reason.to_string(), Instant::now());
            }
            Some(Ok(Message::Text(_) | Message::Binary(_) | Message::Pong(_))) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    // The client answers the close; the gateway then closes the TCP side.
    let end = timeout(Duration::from_secs(2), ws.next())
        .await
        .expect("the gateway kept the connection open after the close");
    assert!(
        matches!(end, None | Some(Err(WsError::ConnectionClosed))),
        "{end:?}"
    );
    (reason, at)
}

/// Sends a text message and reads its echo: the tunnel is open.
async fn echoes(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).await.expect("send");
    match timeout(PATIENCE, ws.next()).await.expect("no echo in time") {
        Some(Ok(Message::Text(t))) => assert_eq!(t.as_str(), text),
        other => panic!("expected the echo of {text:?}, got {other:?}"),
    }
}

/// Waits for the tunnel's close with `session expired`, `idle` after the
/// last activity: never before it (0.5 s margin), at most [`BOUND`] after.
/// `last_from`/`last_to`: the instants around the last activity.
async fn expires_after(ws: &mut Ws, idle: Duration, last_from: Instant, last_to: Instant) {
    let (reason, at) = closed(ws).await;
    assert_eq!(reason, "session expired");
    assert!(
        at >= last_from + idle - Duration::from_millis(500),
        "closed early"
    );
    assert!(at <= last_to + idle + BOUND, "closed late");
}

/// POSTs `url` (logout, revoke-others…) with `cookie`, expects `status`,
/// and returns the instant after the answer: the session ended before it,
/// so the close bound runs from there.
async fn ends_session(url: String, cookie: &str, status: StatusCode) -> Instant {
    let ans = request(Method::POST, url, &[("cookie", cookie)], "").await;
    assert_eq!(ans.status, status, "{}", ans.text());
    Instant::now()
}

/// Waits for the tunnel's close with `session ended`, at most [`BOUND`]
/// after `sent` (`what`: the event, for the message).
async fn ended_within_bound(ws: &mut Ws, sent: Instant, what: &str) {
    let (reason, at) = closed(ws).await;
    assert_eq!(reason, "session ended");
    assert!(at <= sent + BOUND, "closed {:?} after {what}", at - sent);
}

async fn tunnels(gw: &TestGateway, reason: &str) -> f64 {
    let series = format!("sessiongate_tunnels_closed_total{{reason=\"{reason}\"}}");
    Http::new().metric(gw, &series).await
}

async fn open_tunnels(gw: &TestGateway) -> f64 {
    Http::new().metric(gw, "sessiongate_tunnels_open").await
}

async fn idle_expiry_closes_with_1008(store_url: &str) {
    let env = Setup::new(store_url)
        .session(r#"idle_timeout = "2s""#)
        .start()
        .await;
    let login = env.login("alice").await;
    let (mut ws, before, _) = open(&env.gw, "/ws", Some(&login.cookie())).await;
    // The upgrade slid the session, and so did this message (the echo,
    // from the upstream, is no activity).
    echoes(&mut ws, "hello").await;
    let after = Instant::now();
    assert_eq!(open_tunnels(&env.gw).await, 1.0);
    expires_after(&mut ws, Duration::from_secs(2), before, after).await;
    until("the tunnel counted as closed", async || {
        tunnels(&env.gw, "expired").await == 1.0
    })
    .await;
    assert_eq!(open_tunnels(&env.gw).await, 0.0);
}

#[tokio::test]
async fn idle_expiry_closes_the_websocket_with_1008_on_redis() {
    let redis = RedisServer::start();
    idle_expiry_closes_with_1008(&redis.url()).await;
}

#[tokio::test]
async fn idle_expiry_closes_the_websocket_with_1008_on_memory() {
    idle_expiry_closes_with_1008("memory://").await;
}

/// Messages from the client are activity on a route that extends
/// sessions; on one with `extends_session = false` they are not.
#[tokio::test]
async fn client_messages_keep_the_session_alive_only_where_routes_extend_it() {
    let (_redis, env) = on_redis(
        r#"idle_timeout = "2s""#,
        r#"[[route]]
            name = "poll"
            path = "/poll/"
            extends_session = false"#,
    )
    .await;
    let login = env.login("alice").await;
    let (mut ws, _, _) = open(&env.gw, "/ws", Some(&login.cookie())).await;
    let (mut poll, _, _) = open(&env.gw, "/poll/ws", Some(&login.cookie())).await;
    // Twice the idle timeout of messages, one every 400 ms, on /ws only.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        echoes(&mut ws, "tick").await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    // The poll route's tunnel shares the session, so it is alive too.
    echoes(&mut poll, "still here").await;
    // Now messages on the poll route only: they never slide the session.
    let last = Instant::now();
    let poll_task = tokio::spawn(async move {
        loop {
            if poll.send(Message::text("poll")).await.is_err() {
                return poll;
            }
            let next = timeout(Duration::from_millis(400), poll.next()).await;
            if let Ok(Some(Ok(Message::Close(_))) | None | Some(Err(_))) = next {
                return poll;
            }
        }
    });
    expires_after(&mut ws, Duration::from_secs(2), last, last).await;
    timeout(PATIENCE, poll_task).await.unwrap().unwrap();
}

/// The absolute cap ends a tunnel however active it is.
#[tokio::test]
async fn absolute_expiry_closes_an_active_websocket() {
    let (_redis, env) = on_redis(&idle_and_cap("30s", "3s"), "").await;
    let login = env.login("alice").await;
    let (ws, _, _) = open(&env.gw, "/ws", Some(&login.cookie())).await;
    let (mut tx, mut rx) = ws.split();
    let chatter = tokio::spawn(async move {
        while tx.send(Message::text("busy")).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let (reason, at) = loop {
        match timeout(PATIENCE, rx.next()).await.expect("never closed") {
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(frame.code, CloseCode::Policy);
                break (frame.reason.to_string(), Instant::now());
            }
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    chatter.abort();
    assert_eq!(reason, "session expired");
    assert!(
        at >= login.before + Duration::from_millis(2500),
        "closed early"
    );
    assert!(
        at <= login.after + Duration::from_secs(3) + BOUND,
        "closed late"
    );
}

/// Logout and revocation end the session's tunnels within 1 s, with
/// `session ended`; every tunnel of the session, not just one.
#[tokio::test]
async fn logout_and_revocation_close_every_tunnel_of_the_session_within_1s() {
    let (_redis, env) = on_redis(r#"idle_timeout = "30s""#, "").await;
    // Logout: two tunnels of one session.
    let login = env.login("alice").await;
    let (mut a, _, _) = open(&env.gw, "/ws", Some(&login.cookie())).await;
    let (mut b, _, _) = open(&env.gw, "/ws/other", Some(&login.cookie())).await;
    echoes(&mut a, "x").await;
    let sent = ends_session(
        env.url("/.sessiongate/logout"),
        &login.cookie(),
        StatusCode::FOUND,
    )
    .await;
    for ws in [&mut a, &mut b] {
        ended_within_bound(ws, sent, "the logout").await;
    }

    // Revocation, by the user's own self-service from another session.
    let first = env.login("bob").await;
    let second = env.login("bob").await;
    let (mut ws, _, _) = open(&env.gw, "/ws", Some(&first.cookie())).await;
    let sent = ends_session(
        env.url("/.sessiongate/sessions/revoke-others"),
        &second.cookie(),
        StatusCode::OK,
    )
    .await;
    ended_within_bound(&mut ws, sent, "the revoke").await;
    until("the tunnels counted as ended", async || {
        tunnels(&env.gw, "ended").await == 3.0
    })
    .await;
}

/// A session ended on gateway B ends the tunnels open on gateway A.
#[tokio::test]
async fn logout_on_another_gateway_closes_the_tunnel_within_1s() {
    let redis = RedisServer::start();
    let port = redis.url().rsplit(':').next().unwrap().parse().unwrap();
    remote_logout_closes_the_tunnel(&redis.url(), &[port]).await;
}

/// The same on a Redis Cluster: a `PUBLISH` reaches every node, whichever
/// one each gateway subscribed on.
#[tokio::test]
async fn logout_on_another_gateway_closes_the_tunnel_on_a_cluster() {
    let cluster = RedisCluster::start();
    remote_logout_closes_the_tunnel(&cluster.url(), &cluster.ports()).await;
}

/// The same behind Redis Sentinel: the gateways subscribe on the master.
#[tokio::test]
async fn logout_on_another_gateway_closes_the_tunnel_behind_sentinel() {
    let sentinel = RedisSentinel::start();
    remote_logout_closes_the_tunnel(&sentinel.url(), &[sentinel.master_port()]).await;
}

async fn remote_logout_closes_the_tunnel(url: &str, ports: &[u16]) {
    let setup = || Setup::new(url).session(r#"idle_timeout = "30s""#).start();
    let (a, b) = (setup().await, setup().await);
    until("both gateways subscribed", async || {
        let subscribers: i64 = ports
            .iter()
            .map(|&port| {
                let counts: Vec<redis::Value> =
                    topology_query(port, &["PUBSUB", "NUMSUB", "sessiongate:live"]);
                match counts.get(1) {
                    Some(redis::Value::Int(n)) => *n,
                    _ => 0,
                }
            })
            .sum();
        subscribers >= 2
    })
    .await;
    let login = a.login("alice").await;
    let (mut ws, _, _) = open(&a.gw, "/ws", Some(&login.cookie())).await;
    echoes(&mut ws, "x").await;
    let sent = ends_session(
        b.url("/.sessiongate/logout"),
        &login.cookie(),
        StatusCode::FOUND,
    )
    .await;
    ended_within_bound(&mut ws, sent, "the logout").await;
}

/// Waits until `n` gateways listen for end notices on the default channel.
async fn subscribed(redis: &RedisServer, n: i64) {
    until("the gateways subscribed", async || {
        let counts: Vec<redis::Value> = redis.query(&["PUBSUB", "NUMSUB", "sessiongate:live"]);
        matches!(counts.get(1), Some(redis::Value::Int(c)) if *c >= n)
    })
    .await;
}

/// Redis restarts while a tunnel is open (every notice published while
/// it is away would be lost); once it is back, a revocation on the other
/// gateway still closes the tunnel within 1 s.
#[tokio::test]
async fn revocation_after_a_redis_restart_still_closes_the_tunnel_within_1s() {
    let mut redis = RedisServer::start();
    let setup = |url: String| async move {
        Setup::new(&url)
            .session(r#"idle_timeout = "30s""#)
            .start()
            .await
    };
    let (a, b) = (setup(redis.url()).await, setup(redis.url()).await);
    subscribed(&redis, 2).await;
    let first = a.login("alice").await;
    let second = a.login("alice").await;
    let (mut ws, _, _) = open(&a.gw, "/ws", Some(&first.cookie())).await;
    redis.restart_keeping_data();
    subscribed(&redis, 2).await;
    for gw in [&a.gw, &b.gw] {
        until("the gateway's store answered again", async || {
            Http::new().get(gw.admin_url("/readyz"), &[]).await.status == StatusCode::OK
        })
        .await;
    }
    // The sessions survived the restart, and so did the tunnel.
    echoes(&mut ws, "after the restart").await;
    let sent = ends_session(
        b.url("/.sessiongate/sessions/revoke-others"),
        &second.cookie(),
        StatusCode::OK,
    )
    .await;
    ended_within_bound(&mut ws, sent, "the revoke").await;
}

/// An event stream's body ends when its session expires; a download of
/// the same session, chunked, streams on to its end.
#[tokio::test]
async fn event_stream_ends_at_expiry_while_a_download_does_not() {
    let (_redis, env) = on_redis("idle_timeout = \"2s\"\nsliding = false", "").await;
    let login = env.login("alice").await;
    let cookie = login.cookie();
    let headers = [("cookie", cookie.as_str()), ("accept", "text/event-stream")];
    let events = Http::new()
        .respond(get_request(&env.url("/events"), &headers))
        .await;
    assert_eq!(events.status(), StatusCode::OK);
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let download = Http::new()
        .respond(get_request(&env.url("/chunked/2097152"), &headers[..1]))
        .await;
    assert_eq!(download.status(), StatusCode::OK);
    let mut download = download.into_body();
    let mut received = 0;
    while received < DOWNLOAD_HEAD {
        let frame = download.frame().await.unwrap().unwrap();
        received += frame.data_ref().map_or(0, |d| d.len());
    }
    // The event stream flows until the session expires, then ends.
    let mut events = events.into_body();
    let mut seen = 0;
    let ended = loop {
        match timeout(PATIENCE, events.frame())
            .await
            .expect("stream stalled")
        {
            Some(Ok(frame)) => seen += usize::from(frame.is_data()),
            None => break Instant::now(),
            Some(Err(e)) => panic!("the event stream broke instead of ending: {e}"),
        }
    };
    assert!(seen >= 10, "only {seen} events");
    assert!(
        ended >= login.before + Duration::from_millis(1500),
        "ended early"
    );
    assert!(
        ended <= login.after + Duration::from_secs(2) + BOUND,
        "ended late"
    );
    // The download is not cut.
    env.upstream.release_download();
    while let Some(frame) = timeout(PATIENCE, download.frame()).await.unwrap() {
        received += frame.unwrap().data_ref().map_or(0, |d| d.len());
    }
    assert_eq!(received, 2 * 1024 * 1024);
}

fn get_request(
    url: &str,
    headers: &[(&str, &str)],
) -> http::Request<crate::support::http::ClientBody> {
    let mut req = http::Request::get(url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.body(crate::support::http::body("")).unwrap()
}

/// A tunnel on a public route belongs to no session: never cut.
#[tokio::test]
async fn public_route_tunnels_are_never_cut() {
    let (_redis, env) = on_redis(r#"idle_timeout = "1s""#, "").await;
    let login = env.login("alice").await;
    let (mut ws, _, _) = open(&env.gw, "/pub/ws", Some(&login.cookie())).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // The session is gone; the public tunnel is not.
    env.get("/app", Some(&login.cookie()), &[])
        .await
        .assert_login_redirect();
    echoes(&mut ws, "still open").await;
    ws.close(None).await.unwrap();
    // The close handshake completes, and both sides close.
    while let Some(Ok(_)) = timeout(PATIENCE, ws.next()).await.unwrap() {}
    until("the tunnel counted as closed by the client", async || {
        tunnels(&env.gw, "client").await == 1.0
    })
    .await;
    assert_eq!(tunnels(&env.gw, "expired").await, 0.0);
}

/// Close latency, for bench/README.md: median and max over 20 runs after
/// idle expiry and after a revocation on another gateway. Not a test of
/// speed (nothing is asserted but SPEC §10's bound): run it with
/// `cargo nextest run --test it --run-ignored only -E 'test(close_latency)' --no-capture`.
#[tokio::test]
#[ignore = "a measurement, not a test"]
async fn close_latency() {
    let redis = RedisServer::start();
    let url = redis.url();
    let setup = || Setup::new(&url).session(r#"idle_timeout = "1s""#).start();
    let (a, b) = (setup().await, setup().await);
    subscribed(&redis, 2).await;
    let mut expiry = Vec::new();
    let mut remote = Vec::new();
    for _ in 0..20 {
        let login = a.login("alice").await;
        // The tunnel's upgrade slid the session: it expires 1 s after the
        // TTL Redis set then, read back right after the upgrade.
        let (mut ws, _, _) = open(&a.gw, "/ws", Some(&login.cookie())).await;
        let pttl: i64 = redis.query(&["PTTL", &key(&login.id)]);
        let expires = Instant::now() + Duration::from_millis(pttl as u64);
        let (_, at) = closed(&mut ws).await;
        expiry.push(at.saturating_duration_since(expires));

        let login = a.login("bob").await;
        let (mut ws, _, _) = open(&a.gw, "/ws", Some(&login.cookie())).await;
        let sent = Instant::now();
        request(
            Method::POST,
            b.url("/.sessiongate/logout"),
            &[("cookie", &login.cookie())],
            "",
        )
        .await;
        let (_, at) = closed(&mut ws).await;
        remote.push(at - sent);
    }
    for (name, mut runs) in [("after expiry", expiry), ("after a remote logout", remote)] {
        runs.sort();
        let median = (runs[9] + runs[10]) / 2;
        let max = runs[19];
        println!("close latency {name}: median {median:?}, max {max:?} (20 runs)");
        assert!(max <= BOUND);
    }
}

/// A route's stricter idle limit ends the route's tunnels when the session
/// has been idle that long, while the session lives on elsewhere.
#[tokio::test]
async fn a_routes_stricter_idle_limit_closes_its_tunnel() {
    let (_redis, env) = on_redis(
        r#"idle_timeout = "30s""#,
        r#"[[route]]
            name = "strict"
            path = "/strict/"
            idle_timeout = "2s""#,
    )
    .await;
    let login = env.login("alice").await;
    let (mut ws, before, after) = open(&env.gw, "/strict/ws", Some(&login.cookie())).await;
    expires_after(&mut ws, Duration::from_secs(2), before, after).await;
    // The session itself goes on.
    env.get("/app", Some(&login.cookie()), &[])
        .await
        .assert_forwarded_as("alice");
}

/// A login past `max_sessions_per_user` evicts the oldest session, and
/// its tunnel closes with `session ended`.
#[tokio::test]
async fn eviction_closes_the_evicted_sessions_tunnel() {
    let (_redis, env) = on_redis("idle_timeout = \"30s\"\nmax_sessions_per_user = 1", "").await;
    let first = env.login("alice").await;
    let (mut ws, _, _) = open(&env.gw, "/ws", Some(&first.cookie())).await;
    echoes(&mut ws, "x").await;
    env.login("alice").await;
    // The old session was evicted before this answer.
    let sent = Instant::now();
    ended_within_bound(&mut ws, sent, "the login").await;
}

/// A logout ends the session's event streams within 1 s (memory store:
/// ended locally, no Redis involved).
#[tokio::test]
async fn logout_ends_the_event_stream_on_memory() {
    let env = Setup::new("memory://")
        .session(r#"idle_timeout = "30s""#)
        .start()
        .await;
    let login = env.login("alice").await;
    let cookie = login.cookie();
    let headers = [("cookie", cookie.as_str()), ("accept", "text/event-stream")];
    let events = Http::new()
        .respond(get_request(&env.url("/events"), &headers))
        .await;
    assert_eq!(events.status(), StatusCode::OK);
    let mut events = events.into_body();
    // Streaming.
    for _ in 0..3 {
        let frame = timeout(PATIENCE, events.frame()).await.unwrap();
        assert!(frame.is_some_and(|f| f.unwrap().is_data()));
    }
    let sent = ends_session(env.url("/.sessiongate/logout"), &cookie, StatusCode::FOUND).await;
    let ended = loop {
        match timeout(PATIENCE, events.frame())
            .await
            .expect("stream stalled")
        {
            Some(Ok(_)) => continue,
            None => break Instant::now(),
            Some(Err(e)) => panic!("the event stream broke instead of ending: {e}"),
        }
    };
    assert!(
        ended <= sent + BOUND,
        "ended {:?} after the logout",
        ended - sent
    );
}
