//! Plain `http://` upstreams: hyper's HTTP/1 client connections
//! (`hyper::client::conn::http1`) in a small pool, instead of
//! hyper-util's legacy client, which costs a hashed pool key, `Map` and
//! `Oneshot` layers and a task per request waiting for the connection to be
//! ready again (bench/README.md, round two).
//!
//! - One shard per worker thread (a thread takes the shard of its index),
//!   so a worker locks only its own, uncontended, and borrows from another
//!   shard only when its own has no idle connection (`try_lock`, never
//!   waiting).
//! - In each shard one slot per upstream authority, found by comparing it
//!   with the few slots there are (no hashing), at the same index in every
//!   shard; each slot a stack of idle connections, reused last-in
//!   first-out, so the warmest connection goes first and the others age
//!   out.
//! - A connection goes back to its slot when the response body that came
//!   over it has been read to its end ([`Recycle`], carried by
//!   [`Body::Pooled`]) and it is ready for the next request (if it is
//!   still sending the request body of an early answer, a task waits for
//!   that first); a body dropped before its end, an error or a `101`
//!   never returns it, and hyper closes it.
//! - Idle connections older than [`IDLE_TIMEOUT`] are closed by one reaper
//!   task per pool.
//! - A request that was never written (the pooled connection had closed
//!   meanwhile, so hyper hands the request back) is sent again on the next
//!   connection, as the legacy client did (`retry_canceled_requests`). A
//!   request that was written and then lost (the upstream closed a
//!   keep-alive connection just as it arrived) is not: the legacy client did
//!   not either, and a `502` is the honest answer for a request that may
//!   have reached the upstream.
//!
//! Each connection is still driven by a task of its own: hyper's
//! `Connection` future must be polled while the response body streams and
//! while the connection sits idle (to see the upstream close it), which the
//! request's own future cannot do once it has returned the response.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use http::uri::Authority;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::body::{Body, Recycle, Recycler};

/// How long an idle pooled upstream connection is kept.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Why a request found no response.
#[derive(Debug)]
pub enum SendError {
    /// No connection: refused, unreachable, no name, or `connect_timeout`.
    Connect(super::Cause),
    /// The connection failed while sending or receiving.
    Failed(hyper::Error),
}

/// Threads numbered in the order they first use a pool: a thread's shard.
static THREADS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD: usize = THREADS.fetch_add(1, Ordering::Relaxed);
}

/// The pool of one configuration's plain-HTTP upstream connections.
pub struct Pool {
    shards: Box<[Mutex<Vec<Slot>>]>,
    /// Held while an authority is given its slot in every shard.
    adding: Mutex<()>,
    connect_timeout: Duration,
    reaping: AtomicBool,
}

struct Slot {
    authority: Authority,
    idle: Vec<Idle>,
}

struct Idle {
    sender: SendRequest<Body>,
    since: Instant,
}

impl Pool {
    pub fn new(connect_timeout: Duration) -> Arc<Pool> {
        let shards = std::thread::available_parallelism().map_or(1, |n| n.get());
        Arc::new(Pool {
            shards: (0..shards).map(|_| Mutex::new(Vec::new())).collect(),
            adding: Mutex::new(()),
            connect_timeout,
            reaping: AtomicBool::new(false),
        })
    }

    /// This thread's shard.
    fn own(&self) -> usize {
        THREAD.with(|t| *t) % self.shards.len()
    }

    fn lock(&self, shard: usize) -> MutexGuard<'_, Vec<Slot>> {
        // A panic while holding the lock leaves the stacks consistent.
        self.shards[shard].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `authority`'s slot and, if one is idle and open, its most recently
    /// used connection: from this thread's shard, else from any other
    /// shard not locked at the moment.
    fn checkout(&self, authority: &Authority) -> (usize, Option<SendRequest<Body>>) {
        let own = self.own();
        let mut slots = self.lock(own);
        let index = match slots.iter().position(|s| s.authority == *authority) {
            Some(i) => i,
            None => {
                drop(slots);
                return (self.add(authority), None);
            }
        };
        if let Some(sender) = pop_open(&mut slots[index].idle) {
            return (index, Some(sender));
        }
        drop(slots);
        for other in (0..self.shards.len()).filter(|&s| s != own) {
            // (A shard another thread is adding a slot to may lack it yet.)
            if let Ok(mut slots) = self.shards[other].try_lock()
                && let Some(slot) = slots.get_mut(index)
                && let Some(sender) = pop_open(&mut slot.idle)
            {
                return (index, Some(sender));
            }
        }
        (index, None)
    }

    /// Gives `authority` a slot, at the same index in every shard.
    fn add(&self, authority: &Authority) -> usize {
        let _adding = self.adding.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = self.lock(0).iter().position(|s| s.authority == *authority) {
            return i; // another thread added it meanwhile
        }
        let mut index = 0;
        for shard in 0..self.shards.len() {
            let mut slots = self.lock(shard);
            index = slots.len();
            slots.push(Slot {
                authority: authority.clone(),
                idle: Vec::new(),
            });
        }
        index
    }

    /// Sends `req` to `authority` over a pooled connection or a new one.
    /// The response comes with the connection, to give back when its body
    /// has ended.
    pub async fn send(
        self: &Arc<Self>,
        authority: &Authority,
        mut req: Request<Body>,
    ) -> Result<(Response<Incoming>, Recycle), SendError> {
        loop {
            let (slot, pooled) = self.checkout(authority);
            let reused = pooled.is_some();
            let mut sender = match pooled {
                Some(sender) => sender,
                None => self.connect(authority).await?,
            };
            // Only a connection ready for its next request is pooled (see
            // `recycle`); one that is not anymore has closed, and hands the
            // request back below. A new one takes its first without asking.
            match sender.try_send_request(req).await {
                Ok(resp) => {
                    let recycle = Recycle::new(self.clone() as Arc<dyn Recycler>, slot, sender);
                    return Ok((resp, recycle));
                }
                Err(mut error) => match error.take_message() {
                    // Never written: the pooled connection had closed.
                    Some(unsent) if reused => req = unsent,
                    _ => return Err(SendError::Failed(error.into_error())),
                },
            }
        }
    }

    /// A new connection to `authority`, its task spawned.
    async fn connect(
        self: &Arc<Self>,
        authority: &Authority,
    ) -> Result<SendRequest<Body>, SendError> {
        let host = authority.host();
        // An IPv6 literal comes bracketed in an authority.
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port = authority.port_u16().unwrap_or(80);
        let stream = match tokio::time::timeout(
            self.connect_timeout,
            TcpStream::connect((host, port)),
        )
        .await
        {
            Err(_elapsed) => {
                let timed_out = std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no connection within {:?}", self.connect_timeout),
                );
                return Err(SendError::Connect(timed_out.into()));
            }
            Ok(Err(error)) => return Err(SendError::Connect(error.into())),
            Ok(Ok(stream)) => stream,
        };
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| SendError::Connect(e.into()))?;
        tokio::spawn(async move {
            if let Err(error) = conn.with_upgrades().await {
                tracing::debug!(%error, "upstream connection ended");
            }
        });
        self.start_reaper();
        Ok(sender)
    }

    /// Once per pool: a task that closes connections idle for longer than
    /// [`IDLE_TIMEOUT`], and ends with the pool.
    fn start_reaper(self: &Arc<Self>) {
        if self.reaping.swap(true, Ordering::Relaxed) {
            return;
        }
        let pool: Weak<Pool> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(IDLE_TIMEOUT / 3);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(pool) = pool.upgrade() else { return };
                let now = Instant::now();
                for shard in 0..pool.shards.len() {
                    for slot in pool.lock(shard).iter_mut() {
                        slot.idle.retain(|i| {
                            now.duration_since(i.since) < IDLE_TIMEOUT && !i.sender.is_closed()
                        });
                    }
                }
            }
        });
    }
}

impl Recycler for Pool {
    /// Pools a connection whose response body has ended. It is normally
    /// ready for its next request by then (hyper's connection task asks
    /// for one in the same poll that delivers the body's end). When it is
    /// not, it is still busy, for instance still sending the request body
    /// of an upstream that answered early: a task waits until it is ready
    /// before pooling it, as hyper-util's client did for every request,
    /// so no request ever queues behind another's upload.
    fn recycle(self: Arc<Self>, slot: usize, mut sender: SendRequest<Body>) {
        if sender.is_closed() {
            return;
        }
        if sender.is_ready() {
            self.push(slot, sender);
            return;
        }
        tokio::spawn(async move {
            if sender.ready().await.is_ok() {
                self.push(slot, sender);
            }
        });
    }
}

impl Pool {
    fn push(&self, slot: usize, sender: SendRequest<Body>) {
        let idle = Idle {
            sender,
            since: Instant::now(),
        };
        if let Some(slot) = self.lock(self.own()).get_mut(slot) {
            slot.idle.push(idle);
        }
    }
}

/// The most recently used open connection of `idle`; closed ones on top of
/// it are dropped.
fn pop_open(idle: &mut Vec<Idle>) -> Option<SendRequest<Body>> {
    while let Some(Idle { sender, .. }) = idle.pop() {
        if !sender.is_closed() {
            return Some(sender);
        }
    }
    None
}
