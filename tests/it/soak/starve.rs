//! CPU starvation of the gateway or Redis, seen from `/proc`: on a busy
//! machine a process may wait for a CPU longer than `op_timeout`, and a
//! store operation then times out (503) with no fault at all. Every 100 ms
//! this reads each thread's run-queue wait (`/proc/PID/task/TID/schedstat`,
//! second field, ns); an interval in which any thread of either process
//! waited 50 ms or more is a starvation interval. A 5xx outside the fault
//! windows is excused only when it overlaps one; the report counts them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::record::Record;
use crate::support::redis::RedisServer;

const EVERY: Duration = Duration::from_millis(100);
const STARVED: Duration = Duration::from_millis(50);

/// A starvation interval, ms since the soak started.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Starved {
    pub start_ms: u32,
    pub end_ms: u32,
}

/// Samples `gateway` and the current Redis process until `stop`.
pub fn watch(
    gateway: u32,
    redis: Arc<Mutex<RedisServer>>,
    record: Arc<Record>,
    stop: Arc<AtomicBool>,
) -> Vec<Starved> {
    let mut waits: HashMap<(u32, u32), u64> = HashMap::new();
    let mut starved: Vec<Starved> = Vec::new();
    let mut last = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(EVERY);
        let redis_pid = redis.try_lock().ok().and_then(|r| r.pid());
        let mut worst = 0u64;
        for pid in std::iter::once(gateway).chain(redis_pid) {
            for (tid, wait) in thread_waits(pid) {
                if let Some(before) = waits.insert((pid, tid), wait) {
                    worst = worst.max(wait.saturating_sub(before));
                }
            }
        }
        let now = Instant::now();
        if worst >= STARVED.as_nanos() as u64 {
            let (start_ms, end_ms) = (record.ms(last), record.ms(now));
            match starved.last_mut() {
                Some(prev) if prev.end_ms >= start_ms => prev.end_ms = end_ms,
                _ => starved.push(Starved { start_ms, end_ms }),
            }
        }
        last = now;
    }
    starved
}

/// Each thread's total run-queue wait (ns) of process `pid`.
fn thread_waits(pid: u32) -> Vec<(u32, u64)> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| {
            let task = task.ok()?;
            let tid: u32 = task.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
            let wait = stat.split_whitespace().nth(1)?.parse().ok()?;
            Some((tid, wait))
        })
        .collect()
}
