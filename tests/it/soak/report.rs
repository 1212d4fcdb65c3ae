//! The soak's verdict: counts per kind and status, each fault window with
//! the store's recovery, the SIGHUPs, the idle connections, the resource
//! curve and every violation; written as JSON and printed as a table.

use std::collections::BTreeMap;

use serde::Serialize;

use super::idle::IdleCounts;
use super::process::Resources;
use super::record::{Exchange, Kind, NO_ANSWER, RECOVERY, Violation, Window};
use super::starve::Starved;

#[derive(Debug, Serialize)]
pub struct Sample {
    pub t_s: f64,
    #[serde(flatten)]
    pub resources: Resources,
}

#[derive(Debug, Serialize)]
pub struct WindowReport {
    #[serde(flatten)]
    pub window: Window,
    /// Store faults: from Redis answering again to the first valid-session
    /// request answered 200.
    pub first_ok_ms: Option<u32>,
    /// Store faults: from Redis answering again to the answer of the last
    /// failed request sent after that (0: none failed). Reported, not
    /// asserted: a request sent in the 1 s grace may still fail (a slow
    /// machine answers a timed-out store operation late); one sent after
    /// the grace fails the 5xx-outside-windows check instead.
    pub last_failure_ms: Option<u32>,
    /// That failure: kind, status, when sent (ms after Redis was back).
    pub last_failure: Option<String>,
    /// Store faults: the gateway or Redis waited for a CPU between Redis
    /// being back and the first 200 (its recovery then says more about
    /// the machine than about the gateway).
    pub starved: bool,
}

#[derive(Debug, Serialize)]
pub struct Reloads {
    pub valid_sent: usize,
    pub invalid_sent: usize,
    pub reloaded_logged: usize,
    pub rejected_logged: usize,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub duration_s: u64,
    pub requests: usize,
    pub requests_per_s: f64,
    pub by_kind: BTreeMap<Kind, BTreeMap<String, u64>>,
    pub windows: Vec<WindowReport>,
    /// Over the store faults the machine did not starve (asserted).
    pub max_recovery_ms: u32,
    /// Over every store fault (reported).
    pub max_recovery_any_ms: u32,
    pub reloads: Reloads,
    pub idle_connections: IdleCounts,
    pub baseline: Resources,
    pub after: Resources,
    pub peak_rss_kib: u64,
    pub peak_fds: usize,
    pub samples: Vec<Sample>,
    /// Intervals in which the gateway or Redis waited for a CPU.
    pub starved: Vec<Starved>,
    /// 5xx outside the fault windows during a starvation interval.
    pub excused_by_starvation: usize,
    pub violation_counts: BTreeMap<&'static str, usize>,
    /// The first 50 violations.
    pub violations: Vec<Violation>,
    pub panics_logged: usize,
    pub exit_code: Option<i32>,
}

fn failed(e: &Exchange) -> bool {
    e.status == NO_ANSWER || e.status >= 500
}

/// Every 5xx or unanswered exchange that no window overlaps, and how many
/// of those a starvation interval overlaps (excused, not returned).
pub fn outside_windows(
    exchanges: &[Exchange],
    windows: &[Window],
    starved: &[Starved],
) -> (Vec<Violation>, usize) {
    let outside: Vec<&Exchange> = exchanges
        .iter()
        .filter(|e| failed(e) && !windows.iter().any(|w| w.overlaps(e)))
        .collect();
    let during_starvation = |e: &Exchange| {
        starved
            .iter()
            .any(|s| e.sent_ms <= s.end_ms && e.done_ms >= s.start_ms)
    };
    let excused = outside.iter().filter(|e| during_starvation(e)).count();
    let violations = outside
        .into_iter()
        .filter(|e| !during_starvation(e))
        .map(|e| Violation {
            what: "5xx outside fault windows",
            at_ms: e.sent_ms,
            status: e.status,
            detail: format!(
                "{:?} sent at {} ms, answered at {} ms",
                e.kind, e.sent_ms, e.done_ms
            ),
        })
        .collect();
    (violations, excused)
}

/// Each window, with the store's recovery for store faults.
pub fn windows(
    exchanges: &[Exchange],
    windows: &[Window],
    starved: &[Starved],
) -> Vec<WindowReport> {
    windows
        .iter()
        .enumerate()
        .map(|(i, w)| {
            if !w.is_store() {
                return WindowReport {
                    window: w.clone(),
                    first_ok_ms: None,
                    last_failure_ms: None,
                    last_failure: None,
                    starved: false,
                };
            }
            // Failures a later fault explains are that fault's.
            let others: Vec<&Window> = windows
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, o)| o)
                .collect();
            let next = windows.get(i + 1).map_or(u32::MAX, |n| n.start_ms);
            let first_ok = exchanges
                .iter()
                .filter(|e| e.kind == Kind::Valid && e.status == 200 && e.done_ms >= w.back_ms)
                .map(|e| e.done_ms - w.back_ms)
                .min();
            let last = exchanges
                .iter()
                .filter(|e| failed(e) && e.sent_ms >= w.back_ms && e.sent_ms < next)
                .filter(|e| !others.iter().any(|o| o.overlaps(e)))
                .max_by_key(|e| e.done_ms);
            let recovered = w.back_ms + first_ok.unwrap_or(RECOVERY.as_millis() as u32);
            let starved = starved
                .iter()
                .any(|s| s.start_ms <= recovered && s.end_ms >= w.back_ms);
            WindowReport {
                window: w.clone(),
                starved,
                first_ok_ms: first_ok,
                last_failure_ms: Some(last.map_or(0, |e| e.done_ms - w.back_ms)),
                last_failure: last.map(|e| {
                    format!(
                        "{:?} {} sent +{} ms",
                        e.kind,
                        e.status,
                        e.sent_ms - w.back_ms
                    )
                }),
            }
        })
        .collect()
}

/// Counts per kind and status (`"none"` for no answer).
pub fn by_kind(exchanges: &[Exchange]) -> BTreeMap<Kind, BTreeMap<String, u64>> {
    let mut counts: BTreeMap<Kind, BTreeMap<String, u64>> = BTreeMap::new();
    for e in exchanges {
        let status = if e.status == NO_ANSWER {
            "none".to_owned()
        } else {
            e.status.to_string()
        };
        *counts.entry(e.kind).or_default().entry(status).or_default() += 1;
    }
    counts
}

impl Summary {
    /// The longest recovery of a store fault the machine did not starve:
    /// from Redis answering again to the first valid-session request
    /// answered 200 (`u32::MAX` when none was, starved or not).
    pub fn max_recovery(reports: &[WindowReport]) -> u32 {
        reports
            .iter()
            .filter(|r| r.window.is_store())
            .filter(|r| r.first_ok_ms.is_none() || !r.starved)
            .map(|r| r.first_ok_ms.unwrap_or(u32::MAX))
            .max()
            .unwrap_or(0)
    }

    /// The longest recovery of any store fault, starved or not.
    pub fn max_recovery_any(reports: &[WindowReport]) -> u32 {
        reports
            .iter()
            .filter(|r| r.window.is_store())
            .map(|r| r.first_ok_ms.unwrap_or(u32::MAX))
            .max()
            .unwrap_or(0)
    }

    /// The human table.
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "chaos soak: {} s, {} requests ({:.0}/s), {} fault windows, {} SIGHUPs",
            self.duration_s,
            self.requests,
            self.requests_per_s,
            self.windows.len(),
            self.reloads.valid_sent + self.reloads.invalid_sent
        );
        let _ = writeln!(
            out,
            "{:<16} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "kind", "total", "200", "302/401", "502", "503", "none", "other"
        );
        for (kind, statuses) in &self.by_kind {
            let get = |s: &str| statuses.get(s).copied().unwrap_or(0);
            let total: u64 = statuses.values().sum();
            let refused = get("302") + get("401");
            let known = get("200") + refused + get("502") + get("503") + get("none");
            let _ = writeln!(
                out,
                "{:<16} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
                format!("{kind:?}"),
                total,
                get("200"),
                refused,
                get("502"),
                get("503"),
                get("none"),
                total - known
            );
        }
        let _ = writeln!(
            out,
            "fault windows (ms since start; recovery after Redis is back):"
        );
        for w in &self.windows {
            let recovery = match (w.first_ok_ms, w.last_failure_ms) {
                (Some(ok), Some(fail)) => format!(
                    "first 200 +{ok} ms{}, last failure +{fail} ms {}",
                    if w.starved { " (starved)" } else { "" },
                    w.last_failure.as_deref().unwrap_or("")
                ),
                (None, Some(_)) => "no valid 200 after it".to_owned(),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "  {:<17} {:>7}..{:>7} (+{} ms grace)  {recovery}",
                w.window.fault,
                w.window.start_ms,
                w.window.back_ms,
                RECOVERY.as_millis()
            );
        }
        let _ = writeln!(
            out,
            "recovery: at most {} ms where the machine did not starve the gateway or Redis, {} ms in all",
            self.max_recovery_ms, self.max_recovery_any_ms
        );
        let r = &self.reloads;
        let _ = writeln!(
            out,
            "SIGHUP: {} valid sent / {} reloaded, {} invalid sent / {} rejected",
            r.valid_sent, r.reloaded_logged, r.invalid_sent, r.rejected_logged
        );
        let i = &self.idle_connections;
        let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        let _ = writeln!(
            out,
            "idle connections: {} opened ({} silent, {} slowloris, {} keep-alive), {} closed by the gateway, {} dropped, peak {} open, {} connect failures",
            load(&i.opened),
            load(&i.silent),
            load(&i.slowloris),
            load(&i.keepalive),
            load(&i.closed_by_gateway),
            load(&i.dropped),
            load(&i.peak_open),
            load(&i.connect_failed)
        );
        let _ = writeln!(
            out,
            "gateway: RSS {} -> {} KiB (peak {}), fds {} -> {} (peak {})",
            self.baseline.rss_kib,
            self.after.rss_kib,
            self.peak_rss_kib,
            self.baseline.fds,
            self.after.fds,
            self.peak_fds
        );
        // At most about 24 points on the line; the JSON has every sample.
        let step = self.samples.len().div_ceil(24).max(1);
        let curve: Vec<String> = self
            .samples
            .iter()
            .step_by(step)
            .map(|s| {
                format!(
                    "{:.0}s:{}K/{}fd",
                    s.t_s, s.resources.rss_kib, s.resources.fds
                )
            })
            .collect();
        let _ = writeln!(out, "curve: {}", curve.join(" "));
        let starved_ms: u32 = self.starved.iter().map(|s| s.end_ms - s.start_ms).sum();
        let _ = writeln!(
            out,
            "CPU starvation: {} intervals, {} ms in all; {} 5xx outside fault windows during them (excused)",
            self.starved.len(),
            starved_ms,
            self.excused_by_starvation
        );
        let _ = writeln!(
            out,
            "violations: {:?}; panics logged: {}; exit code {:?}",
            self.violation_counts, self.panics_logged, self.exit_code
        );
        for v in &self.violations {
            let _ = writeln!(
                out,
                "  {} at {} ms ({}): {}",
                v.what, v.at_ms, v.status, v.detail
            );
        }
        out
    }
}
