//! Background responses in flight (`background: true`): each run's framed stream events, kept
//! so a client can follow it (at once, or reconnecting with `starting_after`), and the handle
//! that cancels it.
//!
//! Runs are per process: the task runs on the worker that accepted the request. The record of
//! a run (queued, in progress, final) is in the response store, which every replica can share
//! (`--state`), so any replica answers a poll; a cancel sent to another replica reaches the
//! run through the replicas' channel (`AppState::on_shared_event`). With `--state` the run's
//! events are also appended to a Redis list ([`Mirror`]), so a stream reconnect reaches them
//! on any replica ([`follow_shared`]).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::AbortHandle;
use futures_util::Stream;
use tokio::sync::watch;

use crate::shared::Shared;
use crate::store::{Lookup, ResponseStore};

/// Finished runs kept for reconnecting clients, beyond those still running.
const KEEP_FINISHED: usize = 256;

/// How often a follower on another replica than the run's reads the run's shared events: no
/// signal crosses replicas per event, and a resumed stream is rare enough that reading a list
/// every 50 ms costs Redis nothing worth counting.
const SHARED_POLL: Duration = Duration::from_millis(50);

/// The entry that ends a run's shared event list.
const END: &[u8] = b"end";

/// A background run's events in the shared state: the list `events:{id}` of
/// `<sequence number> <framed SSE event>` entries, then `END` once the run is over, kept
/// for the response store's age limit.
pub struct Mirror {
    shared: Arc<Shared>,
    key: String,
    ttl: Duration,
}

impl Mirror {
    pub fn new(shared: Arc<Shared>, id: &str, ttl: Duration) -> Mirror {
        let key = shared.key("events", id);
        Mirror { shared, key, ttl }
    }

    /// Appends `frames` in one round trip. A failure is counted by `Shared`; a follower on
    /// another replica then misses them, the run's own replica does not.
    pub async fn push(&self, frames: &[(u64, Bytes)]) {
        if frames.is_empty() {
            return;
        }
        let entries: Vec<Vec<u8>> = frames
            .iter()
            .map(|(sequence, frame)| {
                let mut entry = format!("{sequence} ").into_bytes();
                entry.extend_from_slice(frame);
                entry
            })
            .collect();
        self.append(entries).await;
    }

    /// Marks the list complete: followers elsewhere end after its last event.
    pub async fn end(&self) {
        self.append(vec![END.to_vec()]).await;
    }

    async fn append(&self, entries: Vec<Vec<u8>>) {
        let mut pipe = redis::pipe();
        pipe.rpush(&self.key, entries)
            .ignore()
            .expire(&self.key, self.ttl.as_secs().max(1) as i64)
            .ignore();
        let _ = self.shared.run::<()>(&pipe).await;
    }
}

/// Whether a stored response's status is final.
fn is_final(record: &Lookup<Arc<crate::store::Stored>>) -> bool {
    match record {
        Lookup::Found(record) => record.response_value().map_or(true, |r| {
            !matches!(r["status"].as_str(), Some("queued" | "in_progress"))
        }),
        _ => true,
    }
}

/// The events of background response `id`, run by another replica, after sequence number
/// `after` (all with `None`), read from its [`Mirror`] until the list ends, or its record is
/// final and a read after that brought nothing new (a cancel stops a run before it ends its
/// list), or nothing new came for `idle` (its replica died).
pub fn follow_shared(
    shared: Arc<Shared>,
    store: Arc<dyn ResponseStore>,
    id: String,
    owner: Option<String>,
    after: Option<u64>,
    idle: Duration,
) -> impl Stream<Item = Bytes> {
    async_stream::stream! {
        let key = shared.key("events", &id);
        let mut next: usize = 0;
        let mut final_seen = false;
        let mut last_news = Instant::now();
        loop {
            let mut pipe = redis::pipe();
            pipe.lrange(&key, next as isize, -1);
            let read: Result<(Vec<Vec<u8>>,), _> = shared.run(&pipe).await;
            let entries = read.map(|(e,)| e).unwrap_or_default();
            let news = !entries.is_empty();
            next += entries.len();
            for entry in entries {
                if entry == END {
                    return;
                }
                let Some(space) = entry.iter().position(|b| *b == b' ') else {
                    continue;
                };
                let sequence = std::str::from_utf8(&entry[..space])
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok());
                if let Some(sequence) = sequence {
                    if after.is_none_or(|a| sequence > a) {
                        yield Bytes::copy_from_slice(&entry[space + 1..]);
                    }
                }
            }
            if news {
                last_news = Instant::now();
            } else if final_seen || last_news.elapsed() > idle {
                return;
            }
            if !final_seen {
                final_seen = store.get(&id, owner.as_deref()).await.is_ok_and(|r| is_final(&r));
            }
            tokio::time::sleep(SHARED_POLL).await;
        }
    }
}

/// One background response.
pub struct Run {
    pub owner: Option<String>,
    abort: Mutex<Option<AbortHandle>>,
    frames: Mutex<Frames>,
    /// Bumped on every change of `frames`, for followers to wait on.
    changed: watch::Sender<u64>,
}

#[derive(Default)]
struct Frames {
    /// `(sequence_number, the framed SSE event)`, in order.
    list: Vec<(u64, Bytes)>,
    done: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Run {
    pub fn new(owner: Option<String>) -> Arc<Run> {
        Arc::new(Run {
            owner,
            abort: Mutex::new(None),
            frames: Mutex::new(Frames::default()),
            changed: watch::channel(0).0,
        })
    }

    pub fn set_abort(&self, handle: AbortHandle) {
        *lock(&self.abort) = Some(handle);
    }

    /// Appends one framed event.
    pub fn push(&self, sequence: u64, frame: Bytes) {
        let mut frames = lock(&self.frames);
        frames.list.push((sequence, frame));
        let n = frames.list.len() as u64;
        drop(frames);
        self.changed.send_replace(n);
    }

    /// Marks the run finished; followers end after its last event.
    pub fn finish(&self) {
        lock(&self.frames).done = true;
        self.changed.send_modify(|n| *n += 1);
    }

    pub fn is_done(&self) -> bool {
        lock(&self.frames).done
    }

    /// Stops the task (dropping its upstream request) and finishes the run. `false` when it
    /// had already finished.
    pub fn cancel(&self) -> bool {
        if self.is_done() {
            return false;
        }
        if let Some(handle) = lock(&self.abort).take() {
            handle.abort();
        }
        self.finish();
        true
    }

    /// The run's events after sequence number `after` (all with `None`), then those still to
    /// come, until it finishes.
    pub fn follow(self: Arc<Self>, after: Option<u64>) -> impl Stream<Item = Bytes> {
        async_stream::stream! {
            let mut changes = self.changed.subscribe();
            let mut next = 0;
            loop {
                changes.borrow_and_update();
                let (batch, done) = {
                    let frames = lock(&self.frames);
                    (frames.list[next..].to_vec(), frames.done)
                };
                next += batch.len();
                for (sequence, frame) in batch {
                    if after.is_none_or(|a| sequence > a) {
                        yield frame;
                    }
                }
                if done || changes.changed().await.is_err() {
                    break;
                }
            }
        }
    }
}

/// The runs of this process, by response id.
#[derive(Default)]
pub struct Runs {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<String, Arc<Run>>,
    order: VecDeque<String>,
}

impl Runs {
    pub fn insert(&self, id: &str, run: Arc<Run>) {
        let mut inner = lock(&self.inner);
        inner.map.insert(id.to_owned(), run);
        inner.order.push_back(id.to_owned());
        // Forget the oldest finished runs beyond the few kept for reconnects.
        let finished = inner.map.values().filter(|r| r.is_done()).count();
        let mut excess = finished.saturating_sub(KEEP_FINISHED);
        let mut kept = VecDeque::with_capacity(inner.order.len());
        while let Some(old) = inner.order.pop_front() {
            let drop_it = excess > 0 && inner.map.get(&old).is_some_and(|r| r.is_done());
            if drop_it {
                inner.map.remove(&old);
                excess -= 1;
            } else {
                kept.push_back(old);
            }
        }
        inner.order = kept;
    }

    /// The run `id`, whoever owns it: for a cancel another replica checked the owner of.
    pub fn get_any(&self, id: &str) -> Option<Arc<Run>> {
        lock(&self.inner).map.get(id).cloned()
    }

    /// The run `id`, when `owner` may see it.
    pub fn get(&self, id: &str, owner: Option<&str>) -> Option<Arc<Run>> {
        lock(&self.inner)
            .map
            .get(id)
            .filter(|r| r.owner.as_deref() == owner)
            .cloned()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[actix_rt::test]
    async fn followers_get_what_came_and_what_comes() {
        let run = Run::new(None);
        run.push(0, Bytes::from_static(b"a"));
        run.push(1, Bytes::from_static(b"b"));
        let late = run.clone().follow(Some(0));
        let all = run.clone().follow(None);
        let writer = run.clone();
        actix_rt::spawn(async move {
            writer.push(2, Bytes::from_static(b"c"));
            writer.finish();
        });
        let late: Vec<Bytes> = late.collect().await;
        assert_eq!(
            late,
            vec![Bytes::from_static(b"b"), Bytes::from_static(b"c")]
        );
        let all: Vec<Bytes> = all.collect().await;
        assert_eq!(all.len(), 3);
        assert!(!run.cancel(), "a finished run cannot be cancelled");
    }

    #[test]
    fn runs_are_per_owner_and_finished_ones_are_bounded() {
        let runs = Runs::default();
        runs.insert("a", Run::new(Some("k1".to_owned())));
        assert!(runs.get("a", Some("k1")).is_some());
        assert!(runs.get("a", Some("k2")).is_none());
        for i in 0..(KEEP_FINISHED + 10) {
            let run = Run::new(None);
            run.finish();
            runs.insert(&format!("r{i}"), run);
        }
        assert!(runs.get("r0", None).is_none());
        assert!(runs.get(&format!("r{}", KEEP_FINISHED + 9), None).is_some());
        assert!(runs.get("a", Some("k1")).is_some(), "running runs stay");
    }
}
