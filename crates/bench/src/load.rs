//! The load patterns, each bounded in count and time:
//!
//! - [`serial`]: one request at a time on one keep-alive connection (pure added latency);
//! - [`open_loop`]: requests sent on a fixed schedule whatever the answers do, latency counted
//!   from the moment the send was due (the timer's wake-up: tokio timers have 1 ms
//!   granularity, so that lateness is reported apart, not charged to the server), including
//!   any wait for a free connection, so a stall shows up in the tail instead of slowing the
//!   generator down (no coordinated omission);
//! - [`saturate`]: a fixed number of connections each sending back to back (requests/s);
//! - [`open_streams`]: many streams held open at once after their first event (memory).
//!
//! Everything runs on one current-thread runtime inside a `LocalSet`, so the generator costs
//! one core at most and needs no locks.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::time::timeout;

use crate::http::{Conn, Request};
use crate::BenchError;

/// No single exchange may take longer than this; a slower one counts as an error.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Latencies of successful exchanges, and how many failed.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    /// Request start to end of body.
    pub total: Vec<Duration>,
    /// Request start to first body data (first SSE event for streams).
    pub first: Vec<Duration>,
    /// Pollux's own time per request, from its `x-pollux-overhead-us` header (empty for
    /// servers that do not send it).
    pub overhead: Vec<Duration>,
    pub errors: usize,
    pub wall: Duration,
    /// Open loop only: how late the generator's timer woke for each scheduled send.
    pub lag: Vec<Duration>,
}

impl Samples {
    fn record(&mut self, result: Result<crate::http::Reply, BenchError>) {
        match result {
            Ok(r) if r.status == 200 => {
                self.total.push(r.total);
                self.first.push(r.first_data);
                self.overhead.extend(r.overhead);
            }
            _ => self.errors += 1,
        }
    }

    pub fn ok(&self) -> usize {
        self.total.len()
    }

    /// Adds another run's samples to these.
    pub fn absorb(&mut self, other: Samples) {
        self.total.extend(other.total);
        self.first.extend(other.first);
        self.overhead.extend(other.overhead);
        self.lag.extend(other.lag);
        self.errors += other.errors;
        self.wall += other.wall;
    }
}

async fn exchange(
    conn: &mut Conn,
    req: &Request,
    start: Instant,
) -> Result<crate::http::Reply, BenchError> {
    match timeout(REQUEST_TIMEOUT, conn.exchange(req, start)).await {
        Ok(r) => r,
        Err(_) => Err(BenchError::Timeout),
    }
}

/// `n` requests one after another (after `warmup` unmeasured ones) on one connection,
/// reconnecting only when the server closes it or an exchange fails.
pub async fn serial(
    addr: SocketAddr,
    req: &Request,
    n: usize,
    warmup: usize,
) -> Result<Samples, BenchError> {
    let mut samples = Samples::default();
    let mut conn = Conn::connect(addr).await?;
    let began = Instant::now();
    for i in 0..warmup + n {
        if !conn.reusable() {
            conn = Conn::connect(addr).await?;
        }
        let result = exchange(&mut conn, req, Instant::now()).await;
        if result.is_err() {
            conn = Conn::connect(addr).await?;
        }
        if i >= warmup {
            samples.record(result);
        }
    }
    samples.wall = began.elapsed();
    Ok(samples)
}

/// Requests at `rate` per second for `duration`, on a pool of at most `max_conns`
/// connections (a request that finds none free waits, and the wait counts).
pub async fn open_loop(
    addr: SocketAddr,
    req: &Request,
    rate: u32,
    duration: Duration,
    max_conns: usize,
) -> Samples {
    let req = Rc::new(req.clone());
    let pool: Rc<RefCell<Vec<Conn>>> = Rc::default();
    let samples: Rc<RefCell<Samples>> = Rc::default();
    let permits = Rc::new(Semaphore::new(max_conns));
    let count = (f64::from(rate) * duration.as_secs_f64()).round() as u64;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let began = Instant::now();
    let mut tasks = Vec::with_capacity(count as usize);
    let mut lag = Vec::with_capacity(count as usize);
    for i in 0..count {
        let due = began + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let at = Instant::now();
        lag.push(at - due);
        let (req, pool, samples, permits) =
            (req.clone(), pool.clone(), samples.clone(), permits.clone());
        tasks.push(tokio::task::spawn_local(async move {
            let Ok(_permit) = permits.acquire().await else {
                return;
            };
            let pooled = pool.borrow_mut().pop();
            let conn = match pooled {
                Some(c) => Ok(c),
                None => Conn::connect(addr).await,
            };
            let result = match conn {
                Ok(mut conn) => {
                    let r = exchange(&mut conn, &req, at).await;
                    if r.is_ok() && conn.reusable() {
                        pool.borrow_mut().push(conn);
                    }
                    r
                }
                Err(e) => Err(e),
            };
            samples.borrow_mut().record(result);
        }));
    }
    // Every task ends within its timeouts; bound the drain anyway.
    let drain = async {
        for t in tasks {
            let _ = t.await;
        }
    };
    let _ = timeout(REQUEST_TIMEOUT * 2, drain).await;
    let mut out = samples.borrow().clone();
    out.wall = began.elapsed();
    out.lag = lag;
    let missing = count as usize - out.ok() - out.errors;
    out.errors += missing;
    out
}

/// `conns` connections sending back to back for `duration`; returns the samples (their count
/// over `wall` is the throughput).
pub async fn saturate(
    addr: SocketAddr,
    req: &Request,
    conns: usize,
    duration: Duration,
) -> Samples {
    let req = Rc::new(req.clone());
    let samples: Rc<RefCell<Samples>> = Rc::default();
    let began = Instant::now();
    let deadline = began + duration;
    let mut tasks = Vec::with_capacity(conns);
    for _ in 0..conns {
        let (req, samples) = (req.clone(), samples.clone());
        tasks.push(tokio::task::spawn_local(async move {
            let mut conn = None;
            while Instant::now() < deadline {
                let mut c = match conn.take() {
                    Some(c) => c,
                    None => match Conn::connect(addr).await {
                        Ok(c) => c,
                        Err(e) => {
                            samples.borrow_mut().record(Err(e));
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    },
                };
                let r = exchange(&mut c, &req, Instant::now()).await;
                if r.is_ok() && c.reusable() {
                    conn = Some(c);
                }
                samples.borrow_mut().record(r);
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let mut out = samples.borrow().clone();
    out.wall = began.elapsed();
    out
}

/// Streams held open, and how opening them went.
pub struct HeldStreams {
    conns: Vec<Conn>,
    pub failed: usize,
    pub first: Vec<Duration>,
}

impl HeldStreams {
    pub fn new() -> Self {
        HeldStreams {
            conns: Vec::new(),
            failed: 0,
            first: Vec::new(),
        }
    }

    pub fn open(&self) -> usize {
        self.conns.len()
    }

    /// Closes every held stream (the server sees the clients go away).
    pub fn close_all(&mut self) {
        self.conns.clear();
    }
}

/// Opens `more` streams (at most `parallel` connecting at once, so the listen backlog never
/// overflows) and keeps each open after its first event; streams not open within `limit` of
/// the call count as failed.
pub async fn open_streams(
    addr: SocketAddr,
    req: &Request,
    more: usize,
    parallel: usize,
    held: &mut HeldStreams,
    limit: Duration,
) {
    let req = Rc::new(req.clone());
    let permits = Rc::new(Semaphore::new(parallel));
    let deadline = tokio::time::Instant::now() + limit;
    let mut tasks = Vec::with_capacity(more);
    for _ in 0..more {
        let (req, permits) = (req.clone(), permits.clone());
        tasks.push(tokio::task::spawn_local(async move {
            let open = async {
                let _permit = permits.acquire().await.map_err(|_| BenchError::Timeout)?;
                let start = Instant::now();
                let mut conn = Conn::connect(addr).await?;
                let (status, first) = conn.open_stream(&req, start).await?;
                if status == 200 {
                    Ok((conn, first))
                } else {
                    Err(BenchError::Status(status))
                }
            };
            match tokio::time::timeout_at(deadline, open).await {
                Ok(r) => r,
                Err(_) => Err(BenchError::Timeout),
            }
        }));
    }
    for t in tasks {
        match t.await {
            Ok(Ok((conn, first))) => {
                held.conns.push(conn);
                held.first.push(first);
            }
            _ => held.failed += 1,
        }
    }
}
