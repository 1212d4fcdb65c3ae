//! Idle and slow connections opened and dropped around the load: silent
//! ones (connect, send nothing), slowloris ones (a request head one header
//! line every 400 ms, never finished) and idle keep-alives (one request,
//! then silence). Each is held for a random time and dropped, unless the
//! gateway closes it first; one held past its timeout plus a margin must
//! have been closed by the gateway (`header_read_timeout` for the first
//! two, `keepalive_timeout` for the last).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::timeout;

use super::load::Rng;
use super::process::{HEADER_READ_TIMEOUT, KEEPALIVE_TIMEOUT};
use super::record::Record;

/// How long after its timeout a connection may still be open: the gateway
/// closes on a timer, and this machine is busy.
const CLOSE_MARGIN: Duration = Duration::from_secs(2);
/// The longest hold: past every timeout plus its margin.
const MAX_HOLD_MS: u64 = 6_000;

#[derive(Debug, Default, Serialize)]
pub struct IdleCounts {
    pub opened: AtomicU64,
    pub silent: AtomicU64,
    pub slowloris: AtomicU64,
    pub keepalive: AtomicU64,
    /// Closed by the gateway before we dropped them.
    pub closed_by_gateway: AtomicU64,
    /// Dropped by us while still open.
    pub dropped: AtomicU64,
    pub connect_failed: AtomicU64,
    /// Open at once, at most.
    pub peak_open: AtomicU64,
}

#[derive(Clone, Copy)]
enum Style {
    Silent,
    Slowloris,
    KeepAlive,
}

/// Opens `per_sec` connections a second, at most `cap` at once, until
/// `until`; returns once every one is closed.
pub async fn churn(
    addr: SocketAddr,
    per_sec: u32,
    cap: usize,
    until: tokio::time::Instant,
    record: Arc<Record>,
    counts: Arc<IdleCounts>,
) {
    let slots = Arc::new(Semaphore::new(cap));
    let mut rng = Rng::seeded(7);
    let mut conns = JoinSet::new();
    // Batches every 100 ms: 10 a second of `per_sec / 10` each.
    let batch = (per_sec / 10).max(1);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while tokio::time::Instant::now() < until {
        tick.tick().await;
        for _ in 0..batch {
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                break;
            };
            let style = match rng.below(3) {
                0 => Style::Silent,
                1 => Style::Slowloris,
                _ => Style::KeepAlive,
            };
            let hold = rng.millis(300, MAX_HOLD_MS);
            let (record, counts) = (record.clone(), counts.clone());
            let open = (cap - slots.available_permits()) as u64;
            counts.peak_open.fetch_max(open, Ordering::Relaxed);
            conns.spawn(async move {
                one(addr, style, hold, &record, &counts).await;
                drop(permit);
            });
        }
        while conns.try_join_next().is_some() {}
    }
    while conns.join_next().await.is_some() {}
}

async fn one(addr: SocketAddr, style: Style, hold: Duration, record: &Record, counts: &IdleCounts) {
    let Ok(Ok(mut stream)) = timeout(Duration::from_secs(5), TcpStream::connect(addr)).await else {
        counts.connect_failed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    counts.opened.fetch_add(1, Ordering::Relaxed);
    let opened = Instant::now();
    let (counter, limit) = match style {
        Style::Silent => (&counts.silent, HEADER_READ_TIMEOUT),
        Style::Slowloris => (&counts.slowloris, HEADER_READ_TIMEOUT),
        Style::KeepAlive => (&counts.keepalive, KEEPALIVE_TIMEOUT),
    };
    counter.fetch_add(1, Ordering::Relaxed);
    let mut idle_from = opened;
    if let Style::KeepAlive = style {
        let head = b"GET /pub/keepalive HTTP/1.1\r\nHost: soak\r\n\r\n";
        if stream.write_all(head).await.is_err() || !read_answer(&mut stream).await {
            // Refused or cut while the upstream was down: nothing to hold.
            return;
        }
        idle_from = Instant::now();
    }
    let closed = async {
        let mut buf = [0u8; 1024];
        let mut sent_head = false;
        loop {
            if let Style::Slowloris = style {
                let line: &[u8] = if sent_head {
                    b"X-Slow: 1\r\n"
                } else {
                    b"GET /app/slow HTTP/1.1\r\nHost: soak\r\n"
                };
                sent_head = true;
                if stream.write_all(line).await.is_err() {
                    return;
                }
            }
            // Closed or reset ends it; a 408 or similar before the close,
            // or nothing within 400 ms, keeps it going.
            let read = timeout(Duration::from_millis(400), stream.read(&mut buf)).await;
            if let Ok(Ok(0) | Err(_)) = read {
                return;
            }
        }
    };
    let deadline = idle_from + hold;
    match tokio::time::timeout_at(deadline.into(), closed).await {
        Ok(()) => {
            counts.closed_by_gateway.fetch_add(1, Ordering::Relaxed);
        }
        Err(_) => {
            counts.dropped.fetch_add(1, Ordering::Relaxed);
            if hold > limit + CLOSE_MARGIN {
                record.violation(
                    "idle connection not closed by its timeout",
                    0,
                    format!(
                        "{} still open {hold:?} after it went idle (timeout {limit:?})",
                        match style {
                            Style::Silent => "a silent connection",
                            Style::Slowloris => "a slowloris connection",
                            Style::KeepAlive => "an idle keep-alive",
                        }
                    ),
                );
            }
        }
    }
}

/// Reads one small answer (head and `Content-Length` body) within 10 s.
async fn read_answer(stream: &mut TcpStream) -> bool {
    let read = async {
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        loop {
            let n = stream.read(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
            if let Some(end) = text.find("\r\n\r\n") {
                let length: usize = text[..end]
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if got.len() >= end + 4 + length {
                    return Some(text.starts_with("http/1.1 200"));
                }
            }
        }
    };
    matches!(timeout(Duration::from_secs(10), read).await, Ok(Some(true)))
}
