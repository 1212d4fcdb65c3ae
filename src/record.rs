//! What became of one request, counted in the route's metrics and written
//! as one access-log line (method, path, status, route, outcome, reason,
//! where the time went). Query strings and cookies never reach the log.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use http::{Method, Request, StatusCode};

use crate::access_log;

use crate::metrics::{Metrics, Outcome, Reason, RouteMetrics, UpstreamErrorKind};
use crate::route::Router;

/// Each route's metric handles, resolved once per configuration, and
/// whether to write the access log.
pub struct Recorder {
    /// Indexed like [`Matched::index`](crate::route::Matched::index).
    routes: Vec<RouteRecord>,
    access_log: bool,
}

/// A route's name, as the access log shows it, and its metrics.
struct RouteRecord {
    name: String,
    /// `name` as `{:?}` shows it: what the text log writes.
    quoted: String,
    metrics: RouteMetrics,
}

/// One request on its way through the gateway.
#[derive(Debug)]
pub struct Record {
    started: Instant,
    method: Method,
    /// The path only (never the query), when the access log is on.
    path: Option<String>,
    client: IpAddr,
    route: Option<usize>,
    outcome: Option<Outcome>,
    reason: Option<Reason>,
    /// In the session store: the lookup, and any create or delete on the
    /// way back.
    pub store: Duration,
    /// Waiting for the upstream's response head.
    pub upstream: Duration,
}

impl Record {
    /// The route the request matched: its metrics count the request.
    pub fn route(&mut self, index: usize) {
        self.route = Some(index);
    }

    pub fn outcome(&mut self, outcome: Outcome) {
        self.outcome = Some(outcome);
    }

    /// Sent to login, by `302` or `401`.
    pub fn refused(&mut self, outcome: Outcome, reason: Reason) {
        self.outcome = Some(outcome);
        self.reason = Some(reason);
    }
}

impl Recorder {
    pub fn new(router: &Router, metrics: &Metrics, access_log: bool) -> Recorder {
        let routes = router
            .routes()
            .map(|r| RouteRecord {
                name: r.name.clone(),
                quoted: format!("{:?}", r.name),
                metrics: metrics.route(&r.name),
            })
            .collect();
        Recorder { routes, access_log }
    }

    /// Starts the record of a request from `client`.
    pub fn start<B>(&self, req: &Request<B>, client: IpAddr) -> Record {
        Record {
            started: Instant::now(),
            method: req.method().clone(),
            path: self.access_log.then(|| req.uri().path().to_owned()),
            client,
            route: None,
            outcome: None,
            reason: None,
            store: Duration::ZERO,
            upstream: Duration::ZERO,
        }
    }

    /// Counts an upstream failure of a routed request.
    pub fn upstream_error(&self, record: &Record, kind: UpstreamErrorKind) {
        if let Some(route) = record.route.and_then(|i| self.routes.get(i)) {
            route.metrics.upstream_error(kind);
        }
    }

    /// Counts the request in its route's metrics and writes its log line.
    pub fn finish(&self, record: Record, status: StatusCode) {
        let elapsed = record.started.elapsed();
        let route = record.route.and_then(|i| self.routes.get(i));
        if let Some(RouteRecord { metrics, .. }) = route {
            metrics.duration(elapsed.as_secs_f64());
            if let Some(outcome) = record.outcome {
                metrics.outcome(outcome);
            }
            if let Some(reason) = record.reason {
                metrics.redirect(reason);
            }
        }
        if let Some(path) = record.path {
            let line = access_log::Line {
                method: record.method.as_str(),
                path: &path,
                status: status.as_u16(),
                route: route.map_or("-", |r| r.name.as_str()),
                route_quoted: route.map_or("\"-\"", |r| r.quoted.as_str()),
                outcome: record.outcome.map_or("-", Outcome::as_str),
                reason: record.reason.map_or("-", Reason::as_str),
                duration_ms: ms(elapsed),
                store_ms: ms(record.store),
                upstream_ms: ms(record.upstream),
                client: record.client,
            };
            if access_log::plain_text() {
                access_log::write(&line);
            } else {
                access_log::event(&line);
            }
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
