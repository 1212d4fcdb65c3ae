//! Whole request heads through the gateway's request path in-process
//! (`gateway.rs` `try_handle` up to forwarding): framing, routing, forged
//! header stripping, cookie handling and the session check on the memory
//! store. Sessions are created afresh for each input, aged by their
//! records' timestamps (the gateway's clock is the system clock), so a
//! crash reproduces from its input alone.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::{HeaderName, Method, Request, Version};
use libfuzzer_sys::fuzz_target;
use sessiongate::clock::now_ms;
use sessiongate::config::{Config, Mode};
use sessiongate::control_headers::strip_forged;
use sessiongate::endpoints::{self, forward_auth};
use sessiongate::metrics::{Metrics, Outcome};
use sessiongate::route::{self, Router};
use sessiongate::session::cookie::{find_cookie, join_cookie_headers};
use sessiongate::session::source::{self, Cookie};
use sessiongate::session::{Sessions, Verdict};
use sessiongate::store::{MemoryStore, Record, SessionStore, Store};
use sessiongate::upstream::framing;
use sessiongate_fuzz::{has_prefix_loosely, header, lines, occurrences};

const ROUTES: &str = r#"
[[route]]
name = "static"
path = "/static/"
public = true
[[route]]
name = "strict"
path = "/strict/"
idle_timeout = "1m"
[[route]]
name = "api"
host = "api.example.com"
path = "/"
on_unauthenticated = "401"
"#;

struct Harness {
    runtime: tokio::runtime::Runtime,
    gateways: Vec<Gate>,
}

struct Gate {
    config: Arc<Config>,
    router: Router,
    sessions: Sessions,
    store: Store,
}

/// Session ids and what they are: live (`alive0`, user alice), live but
/// idle for 10 minutes (`idle0`, user bob), ended (`ended0`).
const ALIVE: &str = "alive0";
const IDLE: &str = "idle0";
const ENDED: &str = "ended0";

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let managed = format!("[session]\nidle_timeout = \"30m\"\n{ROUTES}");
        let observe = format!(
            "[session]\nmode = \"observe\"\nlearn_cookie = \"sessionid\"\n\
             identity_header = \"X-Remote-User\"\n{ROUTES}"
        );
        let gateways = [managed, observe]
            .iter()
            .map(|text| {
                let config = Arc::new(Config::from_toml_str(text).expect("valid config"));
                let store = Store::Memory(MemoryStore::new());
                let metrics = Metrics::register(&mut Default::default());
                let router = Router::new(&config);
                let live =
                    sessiongate::live::Live::new(store.clone(), "sessiongate:", metrics.clone());
                let sessions = Sessions::new(
                    config.clone(),
                    store.clone(),
                    metrics,
                    router.strictest_idle(),
                    live,
                );
                Gate {
                    config,
                    router,
                    sessions,
                    store,
                }
            })
            .collect();
        Harness { runtime, gateways }
    })
}

/// A request from a head: `METHOD TARGET VERSION`, then `name: value` lines.
fn request(head: &[u8]) -> Option<Request<()>> {
    let mut all = lines(head);
    let first = std::str::from_utf8(all.next()?).ok()?;
    let mut parts = first.split(' ');
    let method = Method::from_bytes(parts.next()?.as_bytes()).ok()?;
    let target = parts.next()?;
    let version = match parts.next() {
        Some("HTTP/1.0") => Version::HTTP_10,
        Some("HTTP/2") => Version::HTTP_2,
        _ => Version::HTTP_11,
    };
    let mut req = Request::builder()
        .method(method)
        .uri(target)
        .version(version)
        .body(())
        .ok()?;
    for line in all {
        if line.is_empty() {
            break;
        }
        let (name, value) = header(line)?;
        req.headers_mut().append(name, value);
    }
    Some(req)
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, head)) = data.split_first() else {
        return;
    };
    let Some(mut req) = request(head) else {
        return;
    };
    let harness = harness();
    let gate = &harness.gateways[usize::from(flags & 1)];
    let trusted = flags & 2 != 0;
    let secure = flags & 4 != 0;
    let config = &gate.config;
    harness.runtime.block_on(seed(gate));

    if framing::check(req.headers()).is_err() || req.method() == Method::CONNECT {
        return;
    }
    if forward_auth::endpoint(req.uri().path()).is_some() {
        let _ = forward_auth::original::Original::read(req.headers(), req.method());
        return;
    }
    let Ok(host) = route::request_host(req.version(), req.headers(), req.uri()) else {
        return;
    };
    let host = host.map(str::to_owned);
    let path = req.uri().path().to_owned();
    let matched = gate.router.route(host.as_deref(), &path);

    let identity = &config.session.identity_header;
    strip_forged(req.headers_mut(), identity, trusted);
    assert_no_forged(req.headers().keys(), identity);
    join_cookie_headers(req.headers_mut());
    assert!(req.headers().get_all(http::header::COOKIE).iter().count() <= 1);
    if endpoints::owns(config, &path) {
        return;
    }

    let cookie = source::read(config, req.headers());
    let mut store_time = Duration::ZERO;
    let route = matched.route;
    let verdict =
        harness.runtime.block_on(
            gate.sessions
                .check(route, &mut req, secure, &mut store_time),
        );

    let id = match &cookie {
        Cookie::Present(id) => Some(id.expose()),
        Cookie::Absent | Cookie::Malformed => None,
    };
    let alive = match id {
        Some(ALIVE) => true,
        Some(IDLE) => route.idle_timeout.is_none(),
        _ => false,
    };
    let user = match (id, config.session.mode) {
        (Some(ALIVE), Mode::Managed) => Some("alice"),
        (Some(IDLE), Mode::Managed) => Some("bob"),
        _ => None,
    };
    match &verdict {
        Verdict::Forward(passage) if route.public => assert_eq!(passage.outcome(), Outcome::Public),
        Verdict::Forward(_) => assert!(alive, "forwarded a session that is not alive"),
        Verdict::Refuse(_) => assert!(!alive && !route.public, "refused a live session"),
        Verdict::Unavailable(error) => panic!("memory store unavailable: {error}"),
    }
    // The identity header is the gateway's own: the live session's user.
    let forwarded_user = matches!(verdict, Verdict::Forward(_)) && !route.public;
    let sent = req
        .headers()
        .get(identity)
        .map(|v| v.to_str().expect("user"));
    assert_eq!(sent, user.filter(|_| forwarded_user), "identity header");
    let mut rest = req.headers().keys().filter(|n| *n != identity);
    assert_no_forged(&mut rest, identity);
    // What the application reads of the session cookie.
    match config.session.mode {
        Mode::Managed => assert_eq!(
            find_cookie(req.headers(), &config.session.cookie_name),
            None
        ),
        Mode::External | Mode::Observe => {
            let name = source::cookie_name(config);
            let left = occurrences(req.headers(), name);
            match id {
                Some(id) => {
                    assert!(left.len() <= 1, "one occurrence at most");
                    assert!(left.iter().all(|(exact, v)| *exact && v == id.as_bytes()));
                }
                None => assert!(left.is_empty(), "an unchecked occurrence reached the app"),
            }
        }
    }
});

/// Removes no header on a second pass: nothing forged is left.
fn assert_no_forged<'a>(names: impl IntoIterator<Item = &'a HeaderName>, identity: &HeaderName) {
    for name in names {
        let name = name.as_str();
        assert!(!has_prefix_loosely(name, "sessiongate-"), "{name}");
        assert!(
            !(name.len() == identity.as_str().len() && has_prefix_loosely(name, identity.as_str())),
            "{name}"
        );
    }
}

/// The sessions every input starts from.
async fn seed(gate: &Gate) {
    let now = now_ms();
    let minute = 60_000;
    let prefix = &gate.config.store.key_prefix;
    let idle = Duration::from_secs(30 * 60);
    let record = |user: &str, touched_ms: u64| Record {
        user: (gate.config.session.mode == Mode::Managed).then(|| user.to_owned()),
        started_ms: touched_ms,
        idle,
        deadline_ms: None,
        browser: false,
        touched_ms,
    };
    let store = &gate.store;
    let alive = record("alice", now);
    let ten_ago = record("bob", now - 10 * minute);
    let key = format!("{prefix}{ENDED}");
    let seeded = async {
        store
            .create(&format!("{prefix}{ALIVE}"), &alive, idle)
            .await?;
        let left = idle - Duration::from_secs(600);
        store
            .create(&format!("{prefix}{IDLE}"), &ten_ago, left)
            .await?;
        store.create(&key, &record("carol", now), idle).await?;
        store.delete(&key).await
    };
    seeded.await.expect("memory store");
}
