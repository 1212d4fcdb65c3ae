//! The gateway's Prometheus metrics (SPEC §7).
//!
//! One [`Metrics`] struct registered into a registry passed in explicitly,
//! served only on the admin listener; no global statics leak between tests.
//! Label values are bounded: route names come from the config and every
//! other label is a fixed enum, never a path, a user or a session id.
//!
//! The hot path does not look label sets up per request: [`RouteMetrics`]
//! holds the handles of one route, resolved once when the gateway is built.

use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::exponential_buckets;
use prometheus_client::registry::Registry;

use crate::config::Mode;

mod histogram;
mod labels;

pub use histogram::LatencyHistogram;
pub use labels::{
    AuthAnswer, AuthEndpoint, EndReason, InjectResult, Listener, Outcome, Reason, ReloadResult,
    StoreOp, TunnelClose, UpstreamErrorKind,
};
use labels::{
    AuthLabels, EndLabel, ListenerLabel, ModeLabel, OpLabel, ResultLabel, RouteInjection,
    RouteKind, RouteLabel, RouteOutcome, RouteReason, TunnelLabel,
};

type HistogramFamily<L> = Family<L, LatencyHistogram, fn() -> LatencyHistogram>;

/// Latency buckets from 50 µs to ~1.6 s, doubling: sub-millisecond
/// latencies (a memory-store lookup, a local Redis) stay resolvable.
fn latency_histogram() -> LatencyHistogram {
    LatencyHistogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// The series of `family` for each of `values`, in order, resolved once:
/// handles indexed by the enum's discriminant, so counting never looks a
/// label set up, and every series is visible at zero from the start.
fn resolve<V: Copy, L, M, C, T>(family: &Family<L, M, C>, values: &[V], label: impl Fn(V) -> L) -> T
where
    L: Clone + std::hash::Hash + Eq,
    M: Clone,
    C: MetricConstructor<M>,
    T: FromIterator<M>,
{
    values
        .iter()
        .map(|&value| family.get_or_create_owned(&label(value)))
        .collect()
}

/// Every metric of SPEC §7. The fixed-label series are handles from
/// [`resolve`], indexed by their enum; the per-route ones stay families.
#[derive(Clone)]
pub struct Metrics {
    requests: Family<RouteOutcome, Counter>,
    redirects: Family<RouteReason, Counter>,
    /// Indexed by [`Mode`].
    sessions_created: Arc<[Counter]>,
    /// Indexed by [`EndReason`].
    sessions_ended: Arc<[Counter]>,
    refreshes: Counter,
    request_duration: HistogramFamily<RouteLabel>,
    upstream_errors: Family<RouteKind, Counter>,
    /// Indexed by [`ReloadResult`].
    config_reloads: Arc<[Counter]>,
    open_connections: Gauge,
    /// Indexed by [`AuthEndpoint`] then [`AuthAnswer`].
    forward_auth: Arc<[Counter]>,
    tunnels_open: Gauge,
    /// Indexed by [`TunnelClose`].
    tunnels_closed: Arc<[Counter]>,
    warning_injections: Family<RouteInjection, Counter>,
    /// Indexed by [`StoreOp`].
    store_durations: Arc<[LatencyHistogram]>,
    /// Indexed by [`StoreOp`].
    store_errors: Arc<[Counter]>,
    /// The hard limits (issue 19), each indexed by [`Listener`].
    connection_limits: Arc<[Gauge]>,
    connections_limited: Arc<[Counter]>,
    accept_errors: Arc<[Counter]>,
    store_evictions: Counter,
}

/// [`Mode`] in declaration order, as [`Metrics::session_created`] indexes it.
const MODES: [Mode; 3] = [Mode::Managed, Mode::External, Mode::Observe];

impl Metrics {
    /// Creates the metrics and registers them into `registry`.
    pub fn register(registry: &mut Registry) -> Metrics {
        let sessions_created: Family<ModeLabel, Counter> = Family::default();
        let sessions_ended: Family<EndLabel, Counter> = Family::default();
        let config_reloads: Family<ResultLabel, Counter> = Family::default();
        let forward_auth: Family<AuthLabels, Counter> = Family::default();
        let tunnels_closed: Family<TunnelLabel, Counter> = Family::default();
        let store_errors: Family<OpLabel, Counter> = Family::default();
        let store_duration: HistogramFamily<OpLabel> =
            Family::new_with_constructor(latency_histogram);
        let connection_limits: Family<ListenerLabel, Gauge> = Family::default();
        let connections_limited: Family<ListenerLabel, Counter> = Family::default();
        let accept_errors: Family<ListenerLabel, Counter> = Family::default();
        let listener = |listener| ListenerLabel { listener };
        let auth_labels: Vec<AuthLabels> = AuthEndpoint::ALL
            .iter()
            .flat_map(|&endpoint| {
                AuthAnswer::ALL
                    .iter()
                    .map(move |&answer| AuthLabels { endpoint, answer })
            })
            .collect();
        let m = Metrics {
            requests: Family::default(),
            redirects: Family::default(),
            sessions_created: resolve(&sessions_created, &MODES, |mode| ModeLabel {
                mode: mode.as_str(),
            }),
            sessions_ended: resolve(&sessions_ended, EndReason::ALL, |reason| EndLabel {
                reason,
            }),
            refreshes: Counter::default(),
            request_duration: Family::new_with_constructor(latency_histogram),
            upstream_errors: Family::default(),
            config_reloads: resolve(&config_reloads, ReloadResult::ALL, |result| ResultLabel {
                result,
            }),
            open_connections: Gauge::default(),
            forward_auth: resolve(&forward_auth, &auth_labels, |labels| labels),
            tunnels_open: Gauge::default(),
            tunnels_closed: resolve(&tunnels_closed, TunnelClose::ALL, |reason| TunnelLabel {
                reason,
            }),
            warning_injections: Family::default(),
            store_durations: resolve(&store_duration, StoreOp::ALL, |op| OpLabel { op }),
            store_errors: resolve(&store_errors, StoreOp::ALL, |op| OpLabel { op }),
            connection_limits: resolve(&connection_limits, Listener::ALL, listener),
            connections_limited: resolve(&connections_limited, Listener::ALL, listener),
            accept_errors: resolve(&accept_errors, Listener::ALL, listener),
            store_evictions: Counter::default(),
        };
        // Each metric's name, the metric and its help; counters get their
        // `_total` suffix from the encoder.
        macro_rules! register {
            ($($name:literal, $metric:expr, $help:literal;)+) => {
                $(registry.register($name, $help, $metric);)+
            };
        }
        register! {
            "sessiongate_requests", m.requests.clone(),
                "Requests by route and outcome";
            "sessiongate_redirects", m.redirects.clone(),
                "Requests sent to login (302 or 401) by route and reason";
            "sessiongate_sessions_created", sessions_created,
                "Sessions created, by mode";
            "sessiongate_sessions_ended", sessions_ended,
                "Sessions ended before expiry, by reason";
            "sessiongate_session_refreshes", m.refreshes.clone(),
                "Explicit refreshes through /.sessiongate/refresh";
            "sessiongate_store_errors", store_errors,
                "Store operations that failed or timed out, by operation";
            "sessiongate_store_duration_seconds", store_duration,
                "Store operation latency, by operation";
            "sessiongate_request_duration_seconds", m.request_duration.clone(),
                "Time from request head to response head, by route";
            "sessiongate_upstream_errors", m.upstream_errors.clone(),
                "Upstream failures by route and kind";
            "sessiongate_config_reloads", config_reloads,
                "SIGHUP config reloads by result";
            "sessiongate_open_connections", m.open_connections.clone(),
                "Client connections currently open";
            "sessiongate_forward_auth_checks", forward_auth,
                "Forward-auth checks (SPEC 11) by endpoint and answer; also counted by route in sessiongate_requests_total";
            "sessiongate_tunnels_open", m.tunnels_open.clone(),
                "WebSocket tunnels currently open";
            "sessiongate_tunnels_closed", tunnels_closed,
                "WebSocket tunnels closed, by reason";
            "sessiongate_warning_injections", m.warning_injections.clone(),
                "Responses on inject_warning routes: injected, or why not";
            "sessiongate_connection_limit", connection_limits,
                "Each listener's max_connections, as in force";
            "sessiongate_connections_limited", connections_limited,
                "Times a listener reached its max_connections and stopped accepting until a connection closed";
            "sessiongate_accept_errors", accept_errors,
                "Failed accept() calls (EMFILE, ENFILE, ...), by listener";
            "sessiongate_store_evictions", m.store_evictions.clone(),
                "Sessions the memory store evicted at store.max_sessions (least recently active first)";
        }
        m
    }

    /// Resolves the handles of one route once, so requests never look up a
    /// label set. Also makes every series of the route visible at zero.
    pub fn route(&self, name: &str) -> RouteMetrics {
        let route = name.to_owned();
        RouteMetrics {
            outcomes: resolve(&self.requests, Outcome::ALL, |outcome| RouteOutcome {
                route: route.clone(),
                outcome,
            }),
            reasons: resolve(&self.redirects, Reason::ALL, |reason| RouteReason {
                route: route.clone(),
                reason,
            }),
            upstream_errors: resolve(&self.upstream_errors, UpstreamErrorKind::ALL, |kind| {
                RouteKind {
                    route: route.clone(),
                    kind,
                }
            }),
            duration: self.request_duration.get_or_create_owned(&RouteLabel {
                route: route.clone(),
            }),
        }
    }

    /// The `sessiongate_warning_injections_total` handles of one route
    /// with `inject_warning` on, resolved once (and visible at zero).
    pub fn injections(&self, name: &str) -> InjectionMetrics {
        InjectionMetrics(resolve(
            &self.warning_injections,
            InjectResult::ALL,
            |result| RouteInjection {
                route: name.to_owned(),
                result,
            },
        ))
    }

    pub fn session_created(&self, mode: Mode) {
        self.sessions_created[mode as usize].inc();
    }

    pub fn session_ended(&self, reason: EndReason) {
        self.sessions_ended[reason as usize].inc();
    }

    pub fn session_refreshed(&self) {
        self.refreshes.inc();
    }

    /// Records one store operation's latency, and its failure if it failed.
    pub fn store_op(&self, op: StoreOp, seconds: f64, failed: bool) {
        self.store_durations[op as usize].observe(seconds);
        if failed {
            self.store_errors[op as usize].inc();
        }
    }

    pub fn config_reload(&self, result: ReloadResult) {
        self.config_reloads[result as usize].inc();
    }

    /// Counts one forward-auth check.
    pub fn forward_auth(&self, endpoint: AuthEndpoint, answer: AuthAnswer) {
        let index = endpoint as usize * AuthAnswer::ALL.len() + answer as usize;
        self.forward_auth[index].inc();
    }

    pub fn open_connections(&self) -> &Gauge {
        &self.open_connections
    }

    /// A listener's `max_connections`, shown as a gauge.
    pub fn connection_limit(&self, listener: Listener) -> &Gauge {
        &self.connection_limits[listener as usize]
    }

    /// Counts a listener reaching its connection limit.
    pub fn connections_limited(&self, listener: Listener) -> &Counter {
        &self.connections_limited[listener as usize]
    }

    /// Counts failed `accept` calls on a listener.
    pub fn accept_errors(&self, listener: Listener) -> &Counter {
        &self.accept_errors[listener as usize]
    }

    /// The memory store's eviction counter, handed to the store it counts.
    pub fn store_evictions(&self) -> &Counter {
        &self.store_evictions
    }

    pub fn tunnel_opened(&self) {
        self.tunnels_open.inc();
    }

    pub fn tunnel_closed(&self, reason: TunnelClose) {
        self.tunnels_open.dec();
        self.tunnels_closed[reason as usize].inc();
    }
}

/// The warning-injection counters of one route, by [`InjectResult`]
/// (shared: a plan clones it for every response on the route).
#[derive(Clone, Debug)]
pub struct InjectionMetrics(std::sync::Arc<[Counter]>);

impl InjectionMetrics {
    pub fn count(&self, result: InjectResult) {
        self.0[result as usize].inc();
    }
}

/// The metric handles of one route.
#[derive(Clone, Debug)]
pub struct RouteMetrics {
    // Indexed by the enums' discriminants, in `ALL` order.
    outcomes: Box<[Counter]>,
    reasons: Box<[Counter]>,
    upstream_errors: Box<[Counter]>,
    duration: LatencyHistogram,
}

impl RouteMetrics {
    pub fn outcome(&self, outcome: Outcome) {
        self.outcomes[outcome as usize].inc();
    }

    pub fn redirect(&self, reason: Reason) {
        self.reasons[reason as usize].inc();
    }

    pub fn upstream_error(&self, kind: UpstreamErrorKind) {
        self.upstream_errors[kind as usize].inc();
    }

    pub fn duration(&self, seconds: f64) {
        self.duration.observe(seconds);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;

    #[test]
    fn every_contract_name_is_exposed() {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        let route = metrics.route("app");
        route.outcome(Outcome::Redirected);
        route.redirect(Reason::Expired);
        route.upstream_error(UpstreamErrorKind::Timeout);
        route.duration(0.0002);
        metrics.session_created(Mode::Managed);
        metrics.session_ended(EndReason::Logout);
        metrics.session_refreshed();
        metrics.store_op(StoreOp::Touch, 0.0001, true);
        metrics.config_reload(ReloadResult::Success);
        metrics.open_connections().inc();
        metrics.forward_auth(AuthEndpoint::Forward, AuthAnswer::Refused);
        metrics.tunnel_opened();
        metrics.tunnel_opened();
        metrics.tunnel_closed(TunnelClose::Expired);
        metrics.injections("app").count(InjectResult::Injected);
        metrics.connection_limit(Listener::Proxy).set(512);
        metrics.connections_limited(Listener::Admin).inc();
        metrics.accept_errors(Listener::Proxy).inc();
        metrics.store_evictions().inc();
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        for line in [
            r#"sessiongate_requests_total{route="app",outcome="redirected"} 1"#,
            r#"sessiongate_requests_total{route="app",outcome="forwarded"} 0"#,
            r#"sessiongate_redirects_total{route="app",reason="expired"} 1"#,
            r#"sessiongate_sessions_created_total{mode="managed"} 1"#,
            r#"sessiongate_sessions_ended_total{reason="logout"} 1"#,
            "sessiongate_session_refreshes_total 1",
            r#"sessiongate_store_errors_total{op="touch"} 1"#,
            r#"sessiongate_store_duration_seconds_count{op="touch"} 1"#,
            r#"sessiongate_request_duration_seconds_bucket{le="0.0002",route="app"} 1"#,
            r#"sessiongate_upstream_errors_total{route="app",kind="timeout"} 1"#,
            r#"sessiongate_config_reloads_total{result="success"} 1"#,
            "sessiongate_open_connections 1",
            r#"sessiongate_forward_auth_checks_total{endpoint="forward",answer="refused"} 1"#,
            r#"sessiongate_forward_auth_checks_total{endpoint="request",answer="allowed"} 0"#,
            "sessiongate_tunnels_open 1",
            r#"sessiongate_tunnels_closed_total{reason="expired"} 1"#,
            r#"sessiongate_tunnels_closed_total{reason="ended"} 0"#,
            r#"sessiongate_warning_injections_total{route="app",result="injected"} 1"#,
            r#"sessiongate_warning_injections_total{route="app",result="compressed"} 0"#,
            r#"sessiongate_connection_limit{listener="proxy"} 512"#,
            r#"sessiongate_connections_limited_total{listener="admin"} 1"#,
            r#"sessiongate_connections_limited_total{listener="proxy"} 0"#,
            r#"sessiongate_accept_errors_total{listener="proxy"} 1"#,
            "sessiongate_store_evictions_total 1",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
    }
}
