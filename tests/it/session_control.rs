//! Session control end to end (SPEC §9): the admin session API, the users'
//! self-service endpoints, cross-site refusal and session limits, through
//! the gateway, on the memory store and a real redis-server (and a real
//! Cluster, and two gateways sharing one Redis).

use std::time::Duration;

use http::StatusCode;
use serde_json::Value;
use tokio::time::Instant;

use crate::support::control::{ControlEnv, TOKEN};
use crate::support::http::Answer;
use crate::support::records::until;
use crate::support::redis::RedisServer;
use crate::support::redis_topology::{RedisCluster, RedisSentinel};

/// A managed-mode gateway on a store, with the session API.
struct Env(ControlEnv);

impl std::ops::Deref for Env {
    type Target = ControlEnv;
    fn deref(&self) -> &ControlEnv {
        &self.0
    }
}

/// The stores every behaviour is checked on.
fn stores() -> Vec<(Option<RedisServer>, String)> {
    let redis = RedisServer::start();
    let url = redis.url();
    vec![(None, "memory://".to_owned()), (Some(redis), url)]
}

impl Env {
    async fn start(store_url: &str, session: &str, token: bool) -> Env {
        Env(ControlEnv::start(store_url, session, token).await)
    }

    async fn admin(&self, method: http::Method, path: &str, auth: Option<&str>) -> Answer {
        let header;
        let headers: Vec<(&str, &str)> = match auth {
            Some(token) => {
                header = format!("Bearer {token}");
                vec![("authorization", header.as_str())]
            }
            None => vec![],
        };
        self.http
            .request(method, self.gw.admin_url(path), &headers, "")
            .await
    }

    async fn list(&self, user: &str) -> Vec<Value> {
        let ans = self
            .admin(
                http::Method::GET,
                &format!("/sessions?user={user}"),
                Some(TOKEN),
            )
            .await;
        assert_eq!(ans.status, StatusCode::OK, "{}", ans.text());
        let body = ans.json();
        assert_eq!(body["user"], user);
        body["sessions"].as_array().unwrap().clone()
    }

    /// A same-origin POST, as the browser on the gateway's own page sends.
    async fn own_post(&self, path: &str, cookie: &str) -> Answer {
        let origin = format!("http://{}", self.gw.addr);
        self.http
            .post(
                self.gw.url(path),
                &[("cookie", cookie), ("origin", &origin)],
            )
            .await
    }

    /// `GET /.sessiongate/sessions` with `headers` (the caller's own list).
    async fn own_list(&self, headers: &[(&str, &str)]) -> Answer {
        self.http
            .get(self.gw.url("/.sessiongate/sessions"), headers)
            .await
    }

    /// A same-origin revoke of the session with `handle`, as `cookie`.
    async fn own_revoke(&self, handle: &str, cookie: &str) -> Answer {
        self.own_post(&format!("/.sessiongate/sessions/{handle}/revoke"), cookie)
            .await
    }

    /// `METHOD /sessions?user=alice` on the admin listener.
    async fn admin_alice(&self, method: http::Method, auth: Option<&str>) -> Answer {
        self.admin(method, "/sessions?user=alice", auth).await
    }

    /// A protected page with `cookie`: its status.
    async fn status(&self, cookie: &str) -> StatusCode {
        self.page(cookie).await.status
    }

    async fn metric(&self, series: &str) -> f64 {
        self.http.metric(&self.gw, series).await
    }
}

fn handles(sessions: &[Value]) -> Vec<String> {
    sessions
        .iter()
        .map(|s| s["handle"].as_str().unwrap().to_owned())
        .collect()
}

fn id_of(cookie: &str) -> &str {
    cookie.split_once('=').unwrap().1
}

#[tokio::test]
async fn listing_shows_live_sessions_newest_first_without_their_ids() {
    for (_redis, url) in stores() {
        let env = Env::start(&url, "", true).await;
        let first = env.login("alice").await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let second = env.login("alice").await;
        env.login("bob").await;
        let listed = env.list("alice").await;
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert!(listed[0]["created"].as_u64() > listed[1]["created"].as_u64());
        for entry in &listed {
            let handle = entry["handle"].as_str().unwrap();
            assert!(handle.len() <= 64 && handle.bytes().all(|b| b.is_ascii_alphanumeric()));
            assert!(entry["last_seen"].as_u64().unwrap() >= entry["created"].as_u64().unwrap());
            let expires = entry["expires_in"].as_u64().unwrap();
            assert!((1700..=1800).contains(&expires), "{expires}");
            assert!(entry["absolute_expires_in"].is_null());
        }
        // No session id anywhere in an answer.
        let text = env
            .admin_alice(http::Method::GET, Some(TOKEN))
            .await
            .text()
            .into_owned();
        for cookie in [&first, &second] {
            assert!(!text.contains(id_of(cookie)), "{url}: an id leaked");
            assert!(!handles(&listed).iter().any(|h| h == id_of(cookie)));
        }
        assert_eq!(env.list("nobody").await.len(), 0);
    }
}

#[tokio::test]
async fn revoke_one_then_all_and_unknown_handles_are_404() {
    for (_redis, url) in stores() {
        let env = Env::start(&url, "", true).await;
        let a = env.login("alice").await;
        let b = env.login("alice").await;
        let c = env.login("alice").await;
        let listed = handles(&env.list("alice").await);
        let ans = env
            .admin(
                http::Method::DELETE,
                &format!("/sessions/{}", listed[0]),
                Some(TOKEN),
            )
            .await;
        assert_eq!(ans.status, StatusCode::OK);
        assert_eq!(ans.json()["revoked"], 1);
        // Exactly one of the three ended (they began in the same second).
        let mut refused = Vec::new();
        for cookie in [&a, &b, &c] {
            if env.status(cookie).await == StatusCode::UNAUTHORIZED {
                refused.push(cookie.clone());
            }
        }
        assert_eq!(refused.len(), 1, "{url}");
        let (a, b) = match [&a, &b, &c]
            .into_iter()
            .filter(|c| **c != refused[0])
            .collect::<Vec<_>>()[..]
        {
            [x, y] => (x.clone(), y.clone()),
            _ => unreachable!(),
        };
        // The same handle again, an unknown one, and garbage: 404.
        for handle in [listed[0].as_str(), &"0".repeat(32), "../x", "zz"] {
            let ans = env
                .admin(
                    http::Method::DELETE,
                    &format!("/sessions/{handle}"),
                    Some(TOKEN),
                )
                .await;
            assert_eq!(ans.status, StatusCode::NOT_FOUND, "{handle}");
        }
        let ans = env.admin_alice(http::Method::DELETE, Some(TOKEN)).await;
        assert_eq!(ans.json()["revoked"], 2);
        for cookie in [&a, &b] {
            assert_eq!(env.status(cookie).await, StatusCode::UNAUTHORIZED);
        }
        assert!(env.list("alice").await.is_empty());
        assert_eq!(
            env.metric("sessiongate_sessions_ended_total{reason=\"revoked\"}")
                .await,
            3.0
        );
    }
}

#[tokio::test]
async fn the_token_guards_the_api_in_the_order_spec_9_gives() {
    let env = Env::start("memory://", "", true).await;
    env.login("alice").await;
    for (auth, status) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some("wrong"), StatusCode::UNAUTHORIZED),
        (Some(&TOKEN[..TOKEN.len() - 1]), StatusCode::UNAUTHORIZED),
        (Some(TOKEN), StatusCode::OK),
    ] {
        let ans = env.admin_alice(http::Method::GET, auth).await;
        assert_eq!(ans.status, status, "{auth:?}");
    }
    // No token configured: the API is not there at all.
    let off = Env::start("memory://", "", false).await;
    for auth in [None, Some(TOKEN)] {
        let ans = off.admin_alice(http::Method::GET, auth).await;
        assert_eq!(ans.status, StatusCode::NOT_FOUND);
        let ans = off.admin(http::Method::DELETE, "/sessions/abc", auth).await;
        assert_eq!(ans.status, StatusCode::NOT_FOUND);
    }
    // The rest of the admin listener is unchanged.
    assert_eq!(
        off.http.get(off.gw.admin_url("/healthz"), &[]).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn external_and_observe_modes_answer_409() {
    let redis = RedisServer::start();
    for session in [
        "mode = \"external\"\nkey_template = \"sess:{id}\"",
        "mode = \"observe\"\nlearn_cookie = \"appsession\"",
    ] {
        let env = Env::start(&redis.url(), session, true).await;
        let ans = env.admin_alice(http::Method::GET, Some(TOKEN)).await;
        assert_eq!(ans.status, StatusCode::CONFLICT, "{session}");
        assert_eq!(ans.json()["error"], "unsupported_mode");
        // Without the token it is still 401 first.
        let ans = env.admin_alice(http::Method::GET, None).await;
        assert_eq!(ans.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn self_service_lists_marks_current_and_never_slides() {
    for (_redis, url) in stores() {
        let env = Env::start(&url, "idle_timeout = \"3s\"", true).await;
        let other = env.login("alice").await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let started = Instant::now();
        let mine = env.login("alice").await;
        // Poll the listing for longer than the idle timeout: it must not
        // keep the session alive.
        let mut polled = 0;
        while started.elapsed() < Duration::from_millis(2500) {
            let ans = env.own_list(&[("cookie", &mine)]).await;
            assert_eq!(ans.status, StatusCode::OK, "{}", ans.text());
            let body = ans.json();
            assert_eq!(body["user"], "alice");
            let sessions = body["sessions"].as_array().unwrap();
            assert_eq!(sessions.len(), 2);
            let current: Vec<bool> = sessions.iter().map(|s| s["current"] == true).collect();
            assert_eq!(current, [true, false], "the newest is the caller's");
            assert!(!ans.text().contains(id_of(&mine)) && !ans.text().contains(id_of(&other)));
            polled += 1;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(polled >= 5);
        tokio::time::sleep(
            Duration::from_secs(3).saturating_sub(started.elapsed()) + Duration::from_millis(600),
        )
        .await;
        let ans = env.own_list(&[("cookie", &mine)]).await;
        assert_eq!(
            ans.status,
            StatusCode::UNAUTHORIZED,
            "{url}: polling slid it"
        );
        assert_eq!(ans.json()["error"], "session_expired");
        // Never a redirect, even for a browser.
        let ans = env.own_list(&[("accept", "text/html")]).await;
        assert_eq!(ans.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn self_service_revokes_own_sessions_and_never_another_users() {
    for (_redis, url) in stores() {
        let env = Env::start(&url, "", true).await;
        // Apart by more than a millisecond: listings order by creation.
        let laptop = env.login("alice").await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let phone = env.login("alice").await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let tablet = env.login("alice").await;
        let bob = env.login("bob").await;
        let bobs = handles(&env.list("bob").await);
        // Another user's handle: 404, and nothing changes.
        let ans = env.own_revoke(&bobs[0], &laptop).await;
        assert_eq!(ans.status, StatusCode::NOT_FOUND);
        assert_eq!(env.status(&bob).await, StatusCode::OK);
        // One of her own: the phone (listed second newest).
        let own = handles(&env.list("alice").await);
        let ans = env.own_revoke(&own[1], &laptop).await;
        assert_eq!(
            (ans.status, ans.json()["revoked"].as_u64()),
            (StatusCode::OK, Some(1))
        );
        assert_eq!(env.status(&phone).await, StatusCode::UNAUTHORIZED);
        // Every other one.
        let ans = env
            .own_post("/.sessiongate/sessions/revoke-others", &laptop)
            .await;
        assert_eq!(ans.json()["revoked"], 1);
        assert_eq!(env.status(&tablet).await, StatusCode::UNAUTHORIZED);
        assert_eq!(env.status(&laptop).await, StatusCode::OK, "{url}");
        assert_eq!(env.status(&bob).await, StatusCode::OK);
        // Without a session: 401, not a redirect.
        let ans = env
            .own_post("/.sessiongate/sessions/revoke-others", "x=1")
            .await;
        assert_eq!(ans.status, StatusCode::UNAUTHORIZED);
    }
}

/// Every cross-site POST is refused with 403 and changes nothing: the
/// self-service endpoints, refresh and logout alike.
#[tokio::test]
async fn cross_site_posts_are_refused_and_change_nothing() {
    let env = Env::start("memory://", "", true).await;
    let alice = env.login("alice").await;
    let other = env.login("alice").await;
    let own = handles(&env.list("alice").await);
    let host = format!("http://{}", env.gw.addr);
    let revoke = format!("/.sessiongate/sessions/{}/revoke", own[0]);
    for path in [
        revoke.as_str(),
        "/.sessiongate/sessions/revoke-others",
        "/.sessiongate/refresh",
        "/.sessiongate/logout",
    ] {
        for headers in [
            vec![("origin", "https://evil.example")],
            vec![("origin", "null")],
            vec![("sec-fetch-site", "cross-site")],
            vec![("origin", host.as_str()), ("sec-fetch-site", "cross-site")],
            vec![("origin", "http://127.0.0.1:1")],
        ] {
            let mut all = vec![("cookie", alice.as_str())];
            all.extend(headers.iter().copied());
            let ans = env.http.post(env.gw.url(path), &all).await;
            assert_eq!(ans.status, StatusCode::FORBIDDEN, "{path} {headers:?}");
            assert!(ans.set_cookies().is_empty(), "{path}: a cookie changed");
        }
    }
    assert_eq!(env.status(&alice).await, StatusCode::OK);
    assert_eq!(env.status(&other).await, StatusCode::OK);
    assert_eq!(env.list("alice").await.len(), 2);
    // Same-origin (and non-browser) POSTs still work.
    let ans = env.own_post("/.sessiongate/refresh", &alice).await;
    assert_eq!(ans.status, StatusCode::OK);
    let ans = env
        .http
        .post(
            env.gw.url("/.sessiongate/refresh"),
            &[("cookie", &alice), ("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(ans.status, StatusCode::OK);
}

#[tokio::test]
async fn evict_oldest_ends_the_least_recently_active_session() {
    for (_redis, url) in stores() {
        let env = Env::start(&url, "max_sessions_per_user = 2", true).await;
        let a = env.login("alice").await;
        let b = env.login("alice").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        // `a` is used after `b`: `b` is the least recently active.
        assert_eq!(env.status(&a).await, StatusCode::OK);
        let c = env.login("alice").await;
        assert_eq!(env.status(&b).await, StatusCode::UNAUTHORIZED, "{url}");
        assert_eq!(env.status(&a).await, StatusCode::OK);
        assert_eq!(env.status(&c).await, StatusCode::OK);
        assert_eq!(env.list("alice").await.len(), 2);
        assert_eq!(
            env.metric("sessiongate_sessions_ended_total{reason=\"evicted\"}")
                .await,
            1.0
        );
    }
}

#[tokio::test]
async fn refuse_answers_409_and_creates_no_session() {
    for (_redis, url) in stores() {
        let env = Env::start(
            &url,
            "max_sessions_per_user = 1\non_session_limit = \"refuse\"",
            true,
        )
        .await;
        let a = env.login("alice").await;
        let created = "sessiongate_sessions_created_total{mode=\"managed\"}";
        assert_eq!(env.metric(created).await, 1.0);
        for (accept, json) in [("application/json", true), ("text/html", false)] {
            let ans = env
                .http
                .get(env.gw.url("/login?user=alice"), &[("accept", accept)])
                .await;
            assert_eq!(ans.status, StatusCode::CONFLICT, "{url} {accept}");
            assert!(ans.set_cookies().is_empty(), "no session cookie");
            if json {
                assert_eq!(ans.json()["error"], "session_limit");
                assert_eq!(ans.json()["limit"], 1);
            } else {
                assert!(ans.text().contains("409"), "{}", ans.text());
            }
        }
        assert_eq!(env.list("alice").await.len(), 1);
        assert_eq!(env.status(&a).await, StatusCode::OK);
        assert_eq!(
            env.metric(created).await,
            1.0,
            "refused logins are not sessions"
        );
        // Another user is not limited by alice's sessions.
        env.login("bob").await;
    }
}

/// Two gateways on one Redis: a session revoked through A is refused
/// through B on the very next request.
#[tokio::test]
async fn revoked_through_one_gateway_is_refused_by_the_other_at_once() {
    let redis = RedisServer::start();
    let a = Env::start(&redis.url(), "", true).await;
    let b = Env::start(&redis.url(), "", true).await;
    let cookie = a.login("alice").await;
    assert_eq!(b.status(&cookie).await, StatusCode::OK);
    let listed = handles(&b.list("alice").await);
    assert_eq!(listed.len(), 1);
    let ans = a
        .admin(
            http::Method::DELETE,
            &format!("/sessions/{}", listed[0]),
            Some(TOKEN),
        )
        .await;
    assert_eq!(ans.status, StatusCode::OK);
    assert_eq!(b.status(&cookie).await, StatusCode::UNAUTHORIZED);
}

/// A real 3-master Cluster: a user's sessions land on several masters,
/// apart from their index; listing and revoking still find them all.
#[tokio::test]
async fn a_users_sessions_across_cluster_masters_are_listed_and_revoked() {
    let cluster = RedisCluster::start();
    let env = Env::start(&cluster.url(), "", true).await;
    let mut cookies = Vec::new();
    let mut masters = std::collections::BTreeSet::new();
    while masters.len() < 2 || cookies.len() < 4 {
        let cookie = env.login("alice").await;
        masters.insert(cluster.owner_of(&format!("sessiongate:{}", id_of(&cookie))));
        cookies.push(cookie);
        assert!(cookies.len() < 40, "every session on one master");
    }
    let index_master = cluster.owner_of("sessiongate:user:alice");
    assert!(masters.iter().any(|m| *m != index_master));
    assert_eq!(env.list("alice").await.len(), cookies.len());
    let ans = env.admin_alice(http::Method::DELETE, Some(TOKEN)).await;
    assert_eq!(ans.json()["revoked"].as_u64(), Some(cookies.len() as u64));
    for cookie in &cookies {
        assert_eq!(env.status(cookie).await, StatusCode::UNAUTHORIZED);
    }
}

/// Sentinel: the index lives beside the sessions on the master, replicates
/// with them, and still lists and revokes after a failover.
#[tokio::test]
async fn sessions_are_listed_and_revoked_through_sentinel_across_a_failover() {
    let mut topology = RedisSentinel::start();
    let env = Env::start(&topology.url(), "", true).await;
    until("the gateway is ready", async || {
        env.http.get(env.gw.admin_url("/readyz"), &[]).await.status == StatusCode::OK
    })
    .await;
    let laptop = env.login("alice").await;
    // Apart by more than a millisecond: listings order by creation.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let phone = env.login("alice").await;
    assert_eq!(env.list("alice").await.len(), 2);

    // The replica has both sessions and the index before the master dies.
    topology.wait_replicated();
    topology.kill_master();
    until("the promoted replica answers the listing", async || {
        let ans = env.admin_alice(http::Method::GET, Some(TOKEN)).await;
        ans.status == StatusCode::OK && ans.json()["sessions"].as_array().map(Vec::len) == Some(2)
    })
    .await;

    let before = handles(&env.list("alice").await);
    let ans = env
        .admin(
            http::Method::DELETE,
            &format!("/sessions/{}", before[0]),
            Some(TOKEN),
        )
        .await;
    assert_eq!(ans.status, StatusCode::OK, "{}", ans.text());
    // The newest (the phone) is listed first.
    assert_eq!(env.status(&phone).await, StatusCode::UNAUTHORIZED);
    assert_eq!(env.status(&laptop).await, StatusCode::OK);
    assert_eq!(handles(&env.list("alice").await), before[1..]);
}

/// Without a per-user limit a login checks a bounded random sample of the
/// user's index, not every entry: logins stay cheap for a user with many
/// sessions (and the index is still pruned, a few entries at a time).
#[tokio::test]
async fn a_login_without_a_limit_checks_a_bounded_sample_of_the_index() {
    let redis = RedisServer::start();
    let env = Env::start(&redis.url(), "", true).await;
    for _ in 0..30 {
        env.login("alice").await;
    }
    let _: () = redis.query(&["CONFIG", "RESETSTAT"]);
    env.login("alice").await;
    let info: String = redis.query(&["INFO", "commandstats"]);
    let calls = |name: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("cmdstat_{name}:calls=")))
            .and_then(|rest| rest.split(',').next()?.parse().ok())
            .unwrap_or(0)
    };
    assert_eq!(calls("hgetall"), 0, "the whole index was read:\n{info}");
    assert_eq!(calls("hrandfield"), 1, "{info}");
    assert!(calls("evalsha") <= 8, "{info}");
    assert_eq!(env.list("alice").await.len(), 31);
}
