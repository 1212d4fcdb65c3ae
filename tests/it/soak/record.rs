//! What the soak saw: every exchange (kind, when sent, when answered, the
//! status), every fault window, every SIGHUP, every violation, as
//! milliseconds since the soak started.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

/// What a request was, hence what it may be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A long-lived session from the pool: 200, or 503/502 in a fault.
    Valid,
    /// `GET /login?user=U`: a new long-lived session (a cookie) or a fault.
    Login,
    /// `GET /login?user=U&max_age=2`: a short session.
    ShortLogin,
    /// The short session used while it certainly lives.
    ShortUse,
    /// The short session after it certainly expired: 302/401, never 200.
    ExpiredProbe,
    /// `GET /.sessiongate/logout`: 302.
    Logout,
    /// The logged-out session again: 302/401, never 200.
    LoggedOutProbe,
    /// No cookie: 302 (browser) or 401 (API), whatever the store does.
    Anonymous,
    /// A well-formed id the store never held: 302/401, 503 in a store fault.
    Bogus,
    /// A public route: 200, 502 in an upstream fault.
    Public,
}

/// Status 0: no answer (connection refused or reset, or no answer in 10 s).
pub const NO_ANSWER: u16 = 0;

#[derive(Debug, Clone, Copy)]
pub struct Exchange {
    pub kind: Kind,
    pub sent_ms: u32,
    pub done_ms: u32,
    pub status: u16,
}

/// A fault, from its start to the moment the faulty part is back.
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    pub fault: &'static str,
    pub start_ms: u32,
    pub back_ms: u32,
}

/// The grace after a fault's part is back, still inside its window: a
/// recovery within 1 s is what SPEC-level operation promises.
pub const RECOVERY: Duration = Duration::from_secs(1);

impl Window {
    /// The window's end: back, plus [`RECOVERY`].
    pub fn end_ms(&self) -> u32 {
        self.back_ms + RECOVERY.as_millis() as u32
    }

    pub fn overlaps(&self, e: &Exchange) -> bool {
        e.sent_ms <= self.end_ms() && e.done_ms >= self.start_ms
    }

    pub fn is_store(&self) -> bool {
        self.fault.starts_with("redis")
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Violation {
    pub what: &'static str,
    pub at_ms: u32,
    pub status: u16,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Reload {
    pub at_ms: u32,
    pub valid: bool,
}

/// Everything recorded, shared by every task of the soak.
pub struct Record {
    start: Instant,
    exchanges: Mutex<Vec<Exchange>>,
    pub windows: Mutex<Vec<Window>>,
    pub reloads: Mutex<Vec<Reload>>,
    violations: Mutex<Vec<Violation>>,
}

impl Record {
    pub fn new() -> Record {
        Record {
            start: Instant::now(),
            exchanges: Mutex::default(),
            windows: Mutex::default(),
            reloads: Mutex::default(),
            violations: Mutex::default(),
        }
    }

    /// Milliseconds since the soak started.
    pub fn now_ms(&self) -> u32 {
        self.ms(Instant::now())
    }

    pub fn ms(&self, at: Instant) -> u32 {
        u32::try_from(at.saturating_duration_since(self.start).as_millis()).unwrap_or(u32::MAX)
    }

    pub fn exchange(&self, kind: Kind, sent: Instant, done: Instant, status: u16) -> Exchange {
        let e = Exchange {
            kind,
            sent_ms: self.ms(sent),
            done_ms: self.ms(done),
            status,
        };
        self.exchanges.lock().unwrap().push(e);
        e
    }

    pub fn violation(&self, what: &'static str, status: u16, detail: String) {
        self.violations.lock().unwrap().push(Violation {
            what,
            at_ms: self.now_ms(),
            status,
            detail,
        });
    }

    pub fn exchanges(&self) -> Vec<Exchange> {
        self.exchanges.lock().unwrap().clone()
    }

    pub fn violations(&self) -> Vec<Violation> {
        self.violations.lock().unwrap().clone()
    }

    pub fn windows(&self) -> Vec<Window> {
        self.windows.lock().unwrap().clone()
    }
}
