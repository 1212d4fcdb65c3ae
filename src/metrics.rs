//! The gateway's Prometheus metrics (SPEC §7).
//!
//! One [`Metrics`] struct registered into a registry passed in explicitly,
//! served only on the admin listener; no global statics leak between tests.
//! Label values are bounded: route names come from the config and every
//! other label is a fixed enum, never a path, a user or a session id.
//!
//! The hot path does not look label sets up per request: [`RouteMetrics`]
//! holds the handles of one route, resolved once when the gateway is built.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::exponential_buckets;
use prometheus_client::registry::Registry;

use crate::config::Mode;

mod histogram;

pub use histogram::LatencyHistogram;

/// Declares a label-value enum with its exposition names.
macro_rules! label_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl EncodeLabelValue for $name {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
                std::fmt::Write::write_str(encoder, self.as_str())
            }
        }
    };
}

label_enum! {
    /// What happened to a request, as counted in `sessiongate_requests_total`.
    Outcome {
        Forwarded = "forwarded",
        Public = "public",
        Redirected = "redirected",
        Unauthorized = "unauthorized",
        Unavailable = "unavailable",
        UpstreamError = "upstream_error",
    }
}

label_enum! {
    /// Why a request was sent to login (SPEC §5).
    Reason { Missing = "missing", Expired = "expired", Invalid = "invalid" }
}

label_enum! {
    /// Which upstream failure, for `sessiongate_upstream_errors_total`.
    UpstreamErrorKind { Connect = "connect", Timeout = "timeout", Other = "other" }
}

label_enum! {
    /// Store operations, for the store metrics' `op` label.
    StoreOp {
        Touch = "touch",
        Create = "create",
        Delete = "delete",
        Ping = "ping",
        /// A per-user session index read or write (session control, SPEC §9).
        Index = "index",
    }
}

label_enum! {
    /// How a session ended early, for `sessiongate_sessions_ended_total`.
    EndReason {
        /// The gateway's own logout path.
        Logout = "logout",
        /// `Sessiongate-Logout: 1` from the upstream.
        Upstream = "upstream",
        /// Revoked by an operator or by the user's own self-service.
        Revoked = "revoked",
        /// Ended for `max_sessions_per_user` by a newer login.
        Evicted = "evicted",
    }
}

label_enum! {
    /// Why a WebSocket tunnel closed, for `sessiongate_tunnels_closed_total`
    /// (SPEC §10).
    TunnelClose {
        /// Its session expired (idle, absolute, a route's idle limit).
        Expired = "expired",
        /// Its session was ended (logout, revocation, eviction).
        Ended = "ended",
        Client = "client",
        Upstream = "upstream",
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TunnelLabel {
    reason: TunnelClose,
}

label_enum! {
    ReloadResult { Success = "success", Failure = "failure" }
}

label_enum! {
    /// The forward-auth endpoint of a check (SPEC §11).
    AuthEndpoint { Request = "request", Forward = "forward" }
}

label_enum! {
    /// What a forward-auth check answered.
    AuthAnswer {
        /// `200` with the identity: a valid session.
        Allowed = "allowed",
        /// `200` without identity: a public route.
        Public = "public",
        /// Sent to login (`401` or `302`).
        Refused = "refused",
        /// The original-request headers were missing or did not agree.
        BadRequest = "bad_request",
        /// The store could not be asked: `503`.
        Unavailable = "unavailable",
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuthLabels {
    endpoint: AuthEndpoint,
    answer: AuthAnswer,
}

label_enum! {
    /// What became of a response on a route with `inject_warning` (SPEC §12),
    /// for `sessiongate_warning_injections_total`.
    InjectResult {
        /// The script tag went into the page.
        Injected = "injected",
        /// The page already carried the tag.
        AlreadyPresent = "already_present",
        /// `Content-Encoding` other than identity.
        Compressed = "compressed",
        /// Not `text/html`.
        NoHtml = "no_html",
        /// Not a `200` (`204`, `206`, `304`, redirects, errors).
        Status = "status",
        /// A `HEAD` request: there is no body.
        Head = "head",
        /// `Content-Disposition: attachment`: a download, not a page.
        Attachment = "attachment",
        /// A `Content-Security-Policy` that could not be read.
        Csp = "csp",
        /// The body ended early (client gone, upstream failure) before the
        /// tag's place was found.
        Aborted = "aborted",
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteOutcome {
    route: String,
    outcome: Outcome,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteReason {
    route: String,
    reason: Reason,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteKind {
    route: String,
    kind: UpstreamErrorKind,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeLabel {
    mode: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndLabel {
    reason: EndReason,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabel {
    op: StoreOp,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteInjection {
    route: String,
    result: InjectResult,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: ReloadResult,
}

type HistogramFamily<L> = Family<L, LatencyHistogram, fn() -> LatencyHistogram>;

/// Latency buckets from 50 µs to ~1.6 s, doubling: sub-millisecond
/// latencies (a memory-store lookup, a local Redis) stay resolvable.
fn latency_histogram() -> LatencyHistogram {
    LatencyHistogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// One store operation's series, resolved once.
#[derive(Clone)]
struct StoreOpMetrics {
    duration: LatencyHistogram,
    errors: Counter,
}

/// Every metric of SPEC §7.
#[derive(Clone)]
pub struct Metrics {
    requests: Family<RouteOutcome, Counter>,
    redirects: Family<RouteReason, Counter>,
    sessions_created: Family<ModeLabel, Counter>,
    sessions_ended: Family<EndLabel, Counter>,
    refreshes: Counter,
    request_duration: HistogramFamily<RouteLabel>,
    upstream_errors: Family<RouteKind, Counter>,
    config_reloads: Family<ResultLabel, Counter>,
    open_connections: Gauge,
    /// Indexed by [`AuthEndpoint`] then [`AuthAnswer`], in `ALL` order:
    /// every series resolved once (and visible at zero from the start).
    forward_auth: std::sync::Arc<[Counter]>,
    tunnels_open: Gauge,
    tunnels_closed: Family<TunnelLabel, Counter>,
    warning_injections: Family<RouteInjection, Counter>,
    /// Indexed by [`StoreOp`], in `ALL` order: no label lookup per request.
    store_ops: std::sync::Arc<[StoreOpMetrics]>,
}

impl Metrics {
    /// Creates the metrics and registers them into `registry`.
    pub fn register(registry: &mut Registry) -> Metrics {
        let store_errors: Family<OpLabel, Counter> = Family::default();
        let store_duration: HistogramFamily<OpLabel> =
            Family::new_with_constructor(latency_histogram);
        // Every op's series, resolved once (and visible at zero from the start).
        let store_ops = StoreOp::ALL
            .iter()
            .map(|&op| StoreOpMetrics {
                duration: store_duration.get_or_create_owned(&OpLabel { op }),
                errors: store_errors.get_or_create_owned(&OpLabel { op }),
            })
            .collect();
        let forward_auth_checks: Family<AuthLabels, Counter> = Family::default();
        let forward_auth = AuthEndpoint::ALL
            .iter()
            .flat_map(|&endpoint| {
                AuthAnswer::ALL
                    .iter()
                    .map(move |&answer| AuthLabels { endpoint, answer })
            })
            .map(|labels| forward_auth_checks.get_or_create_owned(&labels))
            .collect();
        let m = Metrics {
            requests: Family::default(),
            redirects: Family::default(),
            sessions_created: Family::default(),
            sessions_ended: Family::default(),
            refreshes: Counter::default(),
            request_duration: Family::new_with_constructor(latency_histogram),
            upstream_errors: Family::default(),
            config_reloads: Family::default(),
            open_connections: Gauge::default(),
            forward_auth,
            tunnels_open: Gauge::default(),
            tunnels_closed: Family::default(),
            warning_injections: Family::default(),
            store_ops,
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
            "sessiongate_sessions_created", m.sessions_created.clone(),
                "Sessions created, by mode";
            "sessiongate_sessions_ended", m.sessions_ended.clone(),
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
            "sessiongate_config_reloads", m.config_reloads.clone(),
                "SIGHUP config reloads by result";
            "sessiongate_open_connections", m.open_connections.clone(),
                "Client connections currently open";
            "sessiongate_forward_auth_checks", forward_auth_checks,
                "Forward-auth checks (SPEC 11) by endpoint and answer; also counted by route in sessiongate_requests_total";
            "sessiongate_tunnels_open", m.tunnels_open.clone(),
                "WebSocket tunnels currently open";
            "sessiongate_tunnels_closed", m.tunnels_closed.clone(),
                "WebSocket tunnels closed, by reason";
            "sessiongate_warning_injections", m.warning_injections.clone(),
                "Responses on inject_warning routes: injected, or why not";
        }
        // Every fixed-label series exists from the start, at zero, so
        // dashboards and `rate()` see them before the first event.
        for mode in [Mode::Managed, Mode::External, Mode::Observe] {
            m.sessions_created.get_or_create_owned(&ModeLabel {
                mode: mode.as_str(),
            });
        }
        for &reason in EndReason::ALL {
            m.sessions_ended.get_or_create_owned(&EndLabel { reason });
        }
        for &reason in TunnelClose::ALL {
            m.tunnels_closed
                .get_or_create_owned(&TunnelLabel { reason });
        }
        for &result in ReloadResult::ALL {
            m.config_reloads
                .get_or_create_owned(&ResultLabel { result });
        }
        m
    }

    /// Resolves the handles of one route once, so requests never look up a
    /// label set. Also makes every series of the route visible at zero.
    pub fn route(&self, name: &str) -> RouteMetrics {
        let route = name.to_owned();
        let outcome = |outcome| {
            self.requests.get_or_create_owned(&RouteOutcome {
                route: route.clone(),
                outcome,
            })
        };
        let reason = |reason| {
            self.redirects.get_or_create_owned(&RouteReason {
                route: route.clone(),
                reason,
            })
        };
        let upstream = |kind| {
            self.upstream_errors.get_or_create_owned(&RouteKind {
                route: route.clone(),
                kind,
            })
        };
        RouteMetrics {
            outcomes: Outcome::ALL.iter().map(|&o| outcome(o)).collect(),
            reasons: Reason::ALL.iter().map(|&r| reason(r)).collect(),
            upstream_errors: UpstreamErrorKind::ALL
                .iter()
                .map(|&k| upstream(k))
                .collect(),
            duration: self.request_duration.get_or_create_owned(&RouteLabel {
                route: route.clone(),
            }),
        }
    }

    /// The `sessiongate_warning_injections_total` handles of one route
    /// with `inject_warning` on, resolved once (and visible at zero).
    pub fn injections(&self, name: &str) -> InjectionMetrics {
        InjectionMetrics(
            InjectResult::ALL
                .iter()
                .map(|&result| {
                    self.warning_injections
                        .get_or_create_owned(&RouteInjection {
                            route: name.to_owned(),
                            result,
                        })
                })
                .collect(),
        )
    }

    pub fn session_created(&self, mode: Mode) {
        self.sessions_created
            .get_or_create(&ModeLabel {
                mode: mode.as_str(),
            })
            .inc();
    }

    pub fn session_ended(&self, reason: EndReason) {
        self.sessions_ended
            .get_or_create(&EndLabel { reason })
            .inc();
    }

    pub fn session_refreshed(&self) {
        self.refreshes.inc();
    }

    /// Records one store operation's latency, and its failure if it failed.
    pub fn store_op(&self, op: StoreOp, seconds: f64, failed: bool) {
        let handles = &self.store_ops[op as usize];
        handles.duration.observe(seconds);
        if failed {
            handles.errors.inc();
        }
    }

    pub fn config_reload(&self, result: ReloadResult) {
        self.config_reloads
            .get_or_create(&ResultLabel { result })
            .inc();
    }

    /// Counts one forward-auth check.
    pub fn forward_auth(&self, endpoint: AuthEndpoint, answer: AuthAnswer) {
        let index = endpoint as usize * AuthAnswer::ALL.len() + answer as usize;
        self.forward_auth[index].inc();
    }

    pub fn open_connections(&self) -> &Gauge {
        &self.open_connections
    }

    pub fn tunnel_opened(&self) {
        self.tunnels_open.inc();
    }

    pub fn tunnel_closed(&self, reason: TunnelClose) {
        self.tunnels_open.dec();
        self.tunnels_closed
            .get_or_create(&TunnelLabel { reason })
            .inc();
    }
}

/// The warning-injection counters of one route, by [`InjectResult`].
#[derive(Clone, Debug)]
pub struct InjectionMetrics(Box<[Counter]>);

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
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
    }
}
