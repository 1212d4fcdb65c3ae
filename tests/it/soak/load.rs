//! The steady load: long-lived sessions used at random, short sessions
//! used and then probed after they certainly expired, logins and logouts
//! (the logged-out session probed again), anonymous, bogus-cookie and
//! public requests. Each task knows what the session it sends must get, so
//! a refused valid session or an accepted dead one is recorded the moment
//! it happens; whether a 5xx fell inside a fault window is judged at the
//! end, when every window is known.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, header};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::task::JoinSet;
use tokio::time::{MissedTickBehavior, interval, sleep, sleep_until, timeout};

use super::record::{Kind, NO_ANSWER, Record};

/// A short session's `max-age`, and the margin after which it is
/// certainly expired (SPEC §3: expiry is the store's TTL from the last
/// request's slide).
const SHORT_MAX_AGE: Duration = Duration::from_secs(2);
const MARGIN: Duration = Duration::from_millis(500);
/// Long-lived sessions in the pool the valid load draws from.
const POOL: usize = 48;
/// One request's bound; past it the exchange counts as unanswered.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A keep-alive HTTP/1.1 client of the gateway.
#[derive(Clone)]
pub struct Gw {
    client: Client<HttpConnector, Empty<Bytes>>,
    base: String,
}

/// An answer: its status ([`NO_ANSWER`] for none) and the session cookie
/// it set, if any (a non-empty `sessiongate=` value).
pub struct Reply {
    pub status: u16,
    pub session: Option<String>,
}

impl Gw {
    pub fn new(addr: std::net::SocketAddr) -> Gw {
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            // Well below the gateway's keepalive_timeout: the client never
            // sends on a connection the gateway is closing as idle.
            .pool_idle_timeout(Duration::from_secs(1))
            .build_http();
        Gw {
            client,
            base: format!("http://{addr}"),
        }
    }

    /// `GET path`, with the session cookie `cookie`, as an API request
    /// (`Accept: application/json`) or a browser one.
    pub async fn get(&self, path: &str, cookie: Option<&str>, api: bool) -> Reply {
        let mut req = Request::get(format!("{}{path}", self.base));
        if let Some(id) = cookie {
            req = req.header(header::COOKIE, format!("sessiongate={id}"));
        }
        req = req.header(
            header::ACCEPT,
            if api { "application/json" } else { "text/html" },
        );
        let req = req.body(Empty::new()).expect("a valid request");
        let exchange = async {
            let resp = self.client.request(req).await.ok()?;
            let status = resp.status().as_u16();
            let session = resp
                .headers()
                .get_all(header::SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(|c| {
                    let value = c.strip_prefix("sessiongate=")?.split(';').next()?;
                    (!value.is_empty()).then(|| value.to_owned())
                });
            resp.into_body().collect().await.ok()?;
            Some(Reply { status, session })
        };
        timeout(REQUEST_TIMEOUT, exchange)
            .await
            .ok()
            .flatten()
            .unwrap_or(Reply {
                status: NO_ANSWER,
                session: None,
            })
    }
}

/// A long-lived session of the pool. Whoever holds an `Arc` of it may be
/// sending it; it is logged out only once the pool's `Arc` is the last.
pub struct Slot {
    pub id: String,
}

/// Everything the load tasks share.
pub struct Load {
    pub record: Arc<Record>,
    pub gw: Gw,
    pub pool: Mutex<Vec<Arc<Slot>>>,
    pub until: tokio::time::Instant,
    users: AtomicU64,
}

/// A small xorshift generator: the soak needs spread, not security.
pub struct Rng(u64);

impl Rng {
    pub fn seeded(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }

    pub fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo + 1))
    }
}

impl Load {
    pub fn new(record: Arc<Record>, gw: Gw, until: tokio::time::Instant) -> Arc<Load> {
        Arc::new(Load {
            record,
            gw,
            pool: Mutex::default(),
            until,
            users: AtomicU64::new(0),
        })
    }

    fn running(&self) -> bool {
        tokio::time::Instant::now() < self.until
    }

    /// One exchange, recorded.
    async fn send(
        &self,
        kind: Kind,
        path: &str,
        cookie: Option<&str>,
        api: bool,
    ) -> (Reply, Instant) {
        let sent = Instant::now();
        let reply = self.gw.get(path, cookie, api).await;
        let done = Instant::now();
        self.record.exchange(kind, sent, done, reply.status);
        (reply, done)
    }

    /// Logs a new user in: the session id, or `None` when the gateway
    /// could not create it (a fault).
    async fn login(&self, kind: Kind, max_age: Option<Duration>) -> Option<(String, Instant)> {
        let user = self.users.fetch_add(1, Ordering::Relaxed);
        let path = match max_age {
            Some(age) => format!("/login?user=soak{user}&max_age={}", age.as_secs()),
            None => format!("/login?user=soak{user}"),
        };
        let sent = Instant::now();
        let (reply, _) = self.send(kind, &path, None, false).await;
        match (reply.status, reply.session) {
            (200, Some(id)) => Some((id, sent)),
            (200, None) => {
                self.record
                    .violation("login without a session cookie", 200, path);
                None
            }
            _ => None,
        }
    }

    /// Fills the pool before the load starts. No fault runs yet, but a
    /// starved machine may still time a store operation out (503): such a
    /// login is tried again, within 30 s in all.
    pub async fn fill_pool(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.pool.lock().unwrap().len() < POOL {
            match self.login(Kind::Login, None).await {
                Some((id, _)) => self.pool.lock().unwrap().push(Arc::new(Slot { id })),
                None => {
                    assert!(Instant::now() < deadline, "logins failing before any fault");
                    sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// Valid requests at `per_sec`, each with a random pool session.
    pub async fn valid(self: Arc<Self>, per_sec: u32, seed: u64) {
        let mut rng = Rng::seeded(seed);
        let mut tick = ticker(per_sec);
        while self.running() {
            tick.tick().await;
            let slot = {
                let pool = self.pool.lock().unwrap();
                pool[rng.below(pool.len() as u64) as usize].clone()
            };
            let path = format!("/app/{}", rng.below(1000));
            let api = rng.below(2) == 0;
            let (reply, _) = self.send(Kind::Valid, &path, Some(&slot.id), api).await;
            if matches!(reply.status, 302 | 401) {
                self.record.violation(
                    "valid session refused",
                    reply.status,
                    format!("GET {path} with a live pool session"),
                );
            }
        }
    }

    /// Logins of long-lived sessions into the pool at `per_sec`; each one
    /// retires a random older session: logged out, then probed twice.
    pub async fn churn(self: Arc<Self>, per_sec: u32, seed: u64) {
        let mut rng = Rng::seeded(seed);
        let mut tick = ticker(per_sec);
        let mut probes = JoinSet::new();
        while self.running() {
            tick.tick().await;
            let Some((id, _)) = self.login(Kind::Login, None).await else {
                continue;
            };
            let retired = {
                let mut pool = self.pool.lock().unwrap();
                pool.push(Arc::new(Slot { id }));
                let at = rng.below(pool.len() as u64) as usize;
                pool.swap_remove(at)
            };
            let load = self.clone();
            probes.spawn(async move { load.retire(retired).await });
        }
        while probes.join_next().await.is_some() {}
    }

    async fn retire(self: Arc<Self>, slot: Arc<Slot>) {
        // No valid request may still be carrying it when it ends.
        while Arc::strong_count(&slot) > 1 {
            sleep(Duration::from_millis(20)).await;
        }
        let (reply, _) = self
            .send(Kind::Logout, "/.sessiongate/logout", Some(&slot.id), false)
            .await;
        if reply.status != 302 {
            // Not known to be ended (a 503 may still have ended it later):
            // neither valid nor dead for the checks.
            return;
        }
        for wait in [Duration::from_millis(200), Duration::from_secs(2)] {
            sleep(wait).await;
            let (reply, _) = self
                .send(
                    Kind::LoggedOutProbe,
                    "/app/after-logout",
                    Some(&slot.id),
                    true,
                )
                .await;
            if reply.status == 200 {
                self.record.violation(
                    "logged-out session accepted again",
                    200,
                    format!("{wait:?} after its logout answered 302"),
                );
            }
        }
    }

    /// Short sessions started at `per_sec`, each on its own task.
    pub async fn short_sessions(self: Arc<Self>, per_sec: u32, seed: u64) {
        let mut rng = Rng::seeded(seed);
        let mut tick = ticker(per_sec);
        let mut flows = JoinSet::new();
        while self.running() {
            tick.tick().await;
            let load = self.clone();
            let pause = rng.millis(0, 300);
            let api = rng.below(2) == 0;
            flows.spawn(async move { load.short_session(pause, api).await });
            while flows.try_join_next().is_some() {}
        }
        while flows.join_next().await.is_some() {}
    }

    /// Login with `max-age=2`, one use `pause` later, then probes once it
    /// certainly expired: 2.5 s and 4 s after the use was answered.
    async fn short_session(&self, pause: Duration, api: bool) {
        let Some((id, login_sent)) = self.login(Kind::ShortLogin, Some(SHORT_MAX_AGE)).await else {
            return;
        };
        sleep(pause).await;
        let (reply, used) = self
            .send(Kind::ShortUse, "/app/short", Some(&id), api)
            .await;
        match reply.status {
            // Forwarded, or checked and slid then refused upstream.
            200 | 502 | 504 => {}
            302 | 401 if used < login_sent + SHORT_MAX_AGE => {
                self.record.violation(
                    "valid session refused",
                    reply.status,
                    format!(
                        "a {SHORT_MAX_AGE:?} session answered {:?} after its login was sent",
                        used - login_sent
                    ),
                );
                return;
            }
            // Store trouble: the slide may still land later; or a use that
            // came too late to be certainly valid. Nothing certain to probe.
            _ => return,
        }
        let mut refused = false;
        for after in [SHORT_MAX_AGE + MARGIN, SHORT_MAX_AGE * 2] {
            sleep_until((used + after).into()).await;
            let (reply, _) = self
                .send(Kind::ExpiredProbe, "/app/expired", Some(&id), api)
                .await;
            match reply.status {
                200 => self.record.violation(
                    if refused {
                        "expired session resurrected"
                    } else {
                        "session outlived its idle timeout"
                    },
                    200,
                    format!("probed {after:?} after its last use was answered"),
                ),
                302 | 401 => refused = true,
                _ => {}
            }
        }
    }

    /// Requests with no session at `per_sec`: no cookie (browser and API),
    /// a well-formed id the store never held, a public route.
    pub async fn anonymous(self: Arc<Self>, per_sec: u32, seed: u64) {
        let mut rng = Rng::seeded(seed);
        let mut tick = ticker(per_sec);
        let mut n = 0u64;
        while self.running() {
            tick.tick().await;
            n += 1;
            let api = rng.below(2) == 0;
            let (kind, path, cookie) = match n % 3 {
                0 => (Kind::Anonymous, "/app/anon", None),
                1 => (
                    Kind::Bogus,
                    "/app/bogus",
                    Some(format!("bogus{:016x}{:016x}", rng.below(u64::MAX), n)),
                ),
                _ => (Kind::Public, "/pub/page", None),
            };
            let (reply, _) = self.send(kind, path, cookie.as_deref(), api).await;
            // 5xx and no answer are judged against the fault windows.
            let answered = reply.status != NO_ANSWER && reply.status < 500;
            let refused = matches!(reply.status, 302 | 401);
            if kind != Kind::Public && answered && !refused {
                self.record.violation(
                    "request without a live session not refused",
                    reply.status,
                    format!("GET {path}"),
                );
            }
        }
    }
}

fn ticker(per_sec: u32) -> tokio::time::Interval {
    let mut tick = interval(Duration::from_secs(1) / per_sec.max(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick
}
