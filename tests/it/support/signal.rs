//! Signals to the child processes the tests start, sent from the test
//! process itself: no `kill` program needed (a minimal Debian has none).

use nix::sys::signal;
use nix::unistd::Pid;

/// Sends `signal` to the process `pid` (a child this test started).
pub fn send(pid: u32, signal: Signal) {
    let raw = i32::try_from(pid).expect("a pid fits in i32");
    signal::kill(Pid::from_raw(raw), signal).unwrap_or_else(|e| panic!("{signal} to {pid}: {e}"));
}

pub use nix::sys::signal::Signal::{self, SIGCONT, SIGHUP, SIGINT, SIGSTOP, SIGTERM};
