//! The embedded response store: a process-local map bounded by entries, bytes and age, the
//! oldest going first. It also remembers, for a while, which ids it let go and why, so a
//! chain whose link was evicted is refused as such ("was evicted"), never answered from a
//! silently shortened history.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use futures_util::future::{ready, BoxFuture, FutureExt};
use serde_json::Value;

use super::{Gone, Lookup, ResponseStore, Settled, StoreError, Stored};
use crate::metrics::StoreStats;

/// The limits of one embedded store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub entries: usize,
    pub bytes: usize,
    pub ttl: Duration,
}

pub struct MemoryStore {
    limits: Limits,
    inner: Mutex<Inner>,
}

struct Entry {
    record: Arc<Stored>,
    at: Instant,
    size: usize,
    /// Its status is final ([`ResponseStore::settle`]).
    settled: bool,
}

#[derive(Default)]
struct Inner {
    map: HashMap<String, Entry>,
    /// Insertion order, oldest first (ids of deleted records are skipped when met).
    order: VecDeque<String>,
    /// Item id → the response holding it.
    items: HashMap<String, String>,
    bytes: usize,
    /// Ids let go recently, their owner, and why; bounded like the records.
    gone: HashMap<String, (Option<String>, Gone)>,
    gone_order: VecDeque<String>,
    evictions: u64,
}

impl MemoryStore {
    pub fn new(limits: Limits) -> MemoryStore {
        MemoryStore {
            limits,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn put_now(&self, record: Stored, now: Instant) {
        let mut inner = self.lock();
        self.put_locked(&mut inner, record, now, false);
    }

    /// [`ResponseStore::settle`]: the check and the write under one lock.
    fn settle_now(&self, record: Stored, last: bool, now: Instant) -> Settled {
        let mut inner = self.lock();
        inner.expire(now, self.limits);
        if let Some(entry) = inner.map.get(&record.id).filter(|e| e.settled) {
            return Settled::Kept(Some(entry.record.clone()));
        }
        self.put_locked(&mut inner, record, now, last);
        Settled::Written
    }

    fn put_locked(&self, inner: &mut Inner, record: Stored, now: Instant, settled: bool) {
        if self.limits.entries == 0 {
            return;
        }
        let size = record.size();
        if inner.remove(&record.id, None) {
            // A record written again (a background response finishing) starts afresh.
            inner.order.retain(|id| *id != record.id);
        }
        inner.expire(now, self.limits);
        for item in &record.item_ids {
            inner.items.insert(item.clone(), record.id.clone());
        }
        inner.bytes += size;
        inner.order.push_back(record.id.clone());
        inner.map.insert(
            record.id.clone(),
            Entry {
                record: Arc::new(record),
                at: now,
                size,
                settled,
            },
        );
        // The oldest go first, until both limits hold (the newest record always stays).
        while inner.map.len() > self.limits.entries
            || (inner.bytes > self.limits.bytes && inner.map.len() > 1)
        {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if inner.remove(&oldest, Some(Gone::Evicted)) {
                inner.evictions += 1;
            }
        }
        let cap = self.limits.entries.saturating_mul(4).max(1024);
        while inner.gone_order.len() > cap {
            if let Some(old) = inner.gone_order.pop_front() {
                inner.gone.remove(&old);
            }
        }
    }

    fn get_now(&self, id: &str, owner: Option<&str>, now: Instant) -> Lookup<Arc<Stored>> {
        let mut inner = self.lock();
        inner.expire(now, self.limits);
        match inner.map.get(id) {
            Some(entry) if entry.record.owner.as_deref() == owner => {
                Lookup::Found(entry.record.clone())
            }
            Some(_) => Lookup::Unknown,
            // Another owner's gone record is as unknown as its live one.
            None => match inner.gone.get(id) {
                Some((who, gone)) if who.as_deref() == owner => Lookup::Gone(*gone),
                _ => Lookup::Unknown,
            },
        }
    }
}

impl Inner {
    /// Drops `id`'s record; `why` is remembered for later lookups.
    fn remove(&mut self, id: &str, why: Option<Gone>) -> bool {
        let Some(entry) = self.map.remove(id) else {
            return false;
        };
        self.bytes -= entry.size;
        for item in &entry.record.item_ids {
            if self.items.get(item).is_some_and(|r| r == id) {
                self.items.remove(item);
            }
        }
        if let Some(why) = why {
            self.gone
                .insert(id.to_owned(), (entry.record.owner.clone(), why));
            self.gone_order.push_back(id.to_owned());
        }
        true
    }

    /// Drops the records older than the age limit (the oldest are at the front).
    fn expire(&mut self, now: Instant, limits: Limits) {
        while let Some(oldest) = self.order.front() {
            match self.map.get(oldest) {
                Some(entry) if now.duration_since(entry.at) < limits.ttl => break,
                Some(_) => {
                    let id = oldest.clone();
                    self.order.pop_front();
                    self.remove(&id, Some(Gone::Expired));
                }
                // Deleted or replaced since: its place in the order is stale.
                None => {
                    self.order.pop_front();
                }
            }
        }
    }
}

impl ResponseStore for MemoryStore {
    fn put(&self, record: Stored) -> BoxFuture<'_, Result<(), StoreError>> {
        self.put_now(record, Instant::now());
        ready(Ok(())).boxed()
    }

    fn settle(&self, record: Stored, last: bool) -> BoxFuture<'_, Result<Settled, StoreError>> {
        ready(Ok(self.settle_now(record, last, Instant::now()))).boxed()
    }

    fn get<'a>(
        &'a self,
        id: &'a str,
        owner: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Lookup<Arc<Stored>>, StoreError>> {
        ready(Ok(self.get_now(id, owner, Instant::now()))).boxed()
    }

    fn delete<'a>(
        &'a self,
        id: &'a str,
        owner: Option<&'a str>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let mut inner = self.lock();
        let mine = inner
            .map
            .get(id)
            .is_some_and(|e| e.record.owner.as_deref() == owner);
        let deleted = mine && inner.remove(id, Some(Gone::Deleted));
        ready(Ok(deleted)).boxed()
    }

    fn item<'a>(
        &'a self,
        item_id: &'a str,
        owner: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<Value>, StoreError>> {
        let record = {
            let inner = self.lock();
            // A chosen id's index entry first (the newest record replaying it), else the
            // record the id names.
            let entry = match inner.items.get(item_id) {
                Some(id) => inner.map.get(id),
                None => crate::ids::response_of(item_id).and_then(|id| inner.map.get(&id)),
            };
            entry
                .filter(|e| e.record.owner.as_deref() == owner)
                .map(|e| e.record.clone())
        };
        let found = match record {
            Some(record) => record.item(item_id),
            None => Ok(None),
        };
        ready(found).boxed()
    }

    fn stats(&self) -> StoreStats {
        let inner = self.lock();
        StoreStats {
            entries: inner.map.len() as u64,
            bytes: inner.bytes as u64,
            evictions: inner.evictions,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn record(id: &str, owner: Option<&str>, size: usize) -> Stored {
        Stored {
            id: id.to_owned(),
            owner: owner.map(str::to_owned),
            previous: None,
            response: Bytes::from(format!(
                r#"{{"id":"{id}","output":[{{"type":"message","id":"msg_{id}","pad":"{}"}}]}}"#,
                "x".repeat(size)
            )),
            input: crate::store::InputJson::encoded(Bytes::from(format!(
                r#"[{{"type":"message","id":"in_{id}"}}]"#
            ))),
            item_ids: vec![format!("in_{id}"), format!("msg_{id}")],
            signatures: Vec::new(),
        }
    }

    fn limits(entries: usize, bytes: usize, secs: u64) -> Limits {
        Limits {
            entries,
            bytes,
            ttl: Duration::from_secs(secs),
        }
    }

    #[test]
    fn the_oldest_go_first_and_are_remembered_as_evicted() {
        let store = MemoryStore::new(limits(2, usize::MAX, 3600));
        let now = Instant::now();
        for id in ["a", "b", "c"] {
            store.put_now(record(id, None, 10), now);
        }
        assert_eq!(store.get_now("a", None, now), Lookup::Gone(Gone::Evicted));
        assert!(matches!(store.get_now("c", None, now), Lookup::Found(_)));
        assert_eq!(store.stats().entries, 2);
        assert_eq!(store.stats().evictions, 1);
        assert_eq!(store.get_now("zzz", None, now), Lookup::Unknown);

        // The byte limit evicts too, and the byte count follows.
        let store = MemoryStore::new(limits(100, 1000, 3600));
        for id in ["a", "b", "c"] {
            store.put_now(record(id, None, 400), now);
        }
        assert!(store.stats().bytes <= 1000, "{:?}", store.stats());
        assert_eq!(store.get_now("a", None, now), Lookup::Gone(Gone::Evicted));
    }

    #[test]
    fn records_expire_and_belong_to_their_owner() {
        let store = MemoryStore::new(limits(10, usize::MAX, 60));
        let then = Instant::now();
        store.put_now(record("a", Some("k1"), 1), then);
        assert!(matches!(
            store.get_now("a", Some("k1"), then),
            Lookup::Found(_)
        ));
        assert_eq!(store.get_now("a", Some("k2"), then), Lookup::Unknown);
        assert_eq!(store.get_now("a", None, then), Lookup::Unknown);
        let later = then + Duration::from_secs(61);
        assert_eq!(
            store.get_now("a", Some("k1"), later),
            Lookup::Gone(Gone::Expired)
        );
        assert_eq!(store.stats().entries, 0);
        assert_eq!(store.stats().bytes, 0);
    }

    #[actix_rt::test]
    async fn behaves_like_every_store() {
        let store = MemoryStore::new(limits(10, usize::MAX, 60));
        crate::store::testing::behaves_like_a_store(&store).await;
        crate::store::testing::settles_once(&store).await;
    }

    #[actix_rt::test]
    async fn delete_and_items() {
        let store = MemoryStore::new(limits(10, usize::MAX, 60));
        store.put(record("a", Some("k1"), 1)).await.unwrap();
        let item = store.item("msg_a", Some("k1")).await.unwrap().unwrap();
        assert_eq!(item["type"], "message");
        assert!(store.item("msg_a", Some("k2")).await.unwrap().is_none());
        assert!(store.item("in_a", Some("k1")).await.unwrap().is_some());
        assert!(!store.delete("a", Some("k2")).await.unwrap());
        assert!(store.delete("a", Some("k1")).await.unwrap());
        assert_eq!(
            store.get("a", Some("k1")).await.unwrap(),
            Lookup::Gone(Gone::Deleted)
        );
        assert!(store.item("msg_a", Some("k1")).await.unwrap().is_none());
        assert_eq!(store.stats().bytes, 0);
    }
}
