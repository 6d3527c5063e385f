//! The shared response store (`--state redis://...`): records in Redis under the key prefix,
//! each with the store's age limit (`--response-store-ttl-secs`) as its TTL, so any replica
//! continues a conversation another one started.
//!
//! Keys (after the prefix): `resp:{id}` the record (JSON, the response and input bytes
//! embedded as they are), `item:{item_id}` the response holding an item whose id a client
//! chose (the ids Pollux made name their response: [`crate::ids`]), `gone:{id}` why a
//! record is gone and whose it was, `final:{id}` set once a background response's status is
//! final (written by `SETTLE` together with the record, so a cancel on one replica and the
//! run finishing on another cannot both win). A put writes `gone:{id}` = expired with twice the TTL, so
//! once the record's own TTL has passed the id reads "has expired"; a delete overwrites it
//! with deleted. Owners are the digests [`crate::keys::Keys::owner`] gives, never keys.
//!
//! The entry and byte limits of the embedded store do not apply: Redis's own `maxmemory`
//! does (an id Redis evicted reads as expired).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::{BoxFuture, FutureExt};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use super::{Gone, InputJson, Lookup, ResponseStore, Settled, StoreError, Stored};
use crate::metrics::StoreStats;
use crate::shared::{Shared, StateError};

/// [`ResponseStore::settle`] in one atomic step (Redis runs a script alone): with
/// `final:{id}` set, the record that stands is returned (an empty string when it has gone);
/// otherwise the record, its tombstone and its items are written as a put writes them, and
/// with `last` the final mark too, and nil is returned.
/// KEYS: resp, gone, final, then the item keys. ARGV: record, tombstone, ttl, last, id.
const SETTLE: &str = r"
if redis.call('EXISTS', KEYS[3]) == 1 then
  return redis.call('GET', KEYS[1]) or ''
end
local ttl = tonumber(ARGV[3])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl)
redis.call('SET', KEYS[2], ARGV[2], 'EX', ttl * 2)
if ARGV[4] == '1' then
  redis.call('SET', KEYS[3], '1', 'EX', ttl)
end
for i = 4, #KEYS do
  redis.call('SET', KEYS[i], ARGV[5], 'EX', ttl)
end
return false
";

pub struct RedisStore {
    shared: Arc<Shared>,
    ttl: Duration,
}

/// A record as written to Redis.
#[derive(Serialize)]
struct RecordOut<'a> {
    owner: Option<&'a str>,
    previous: Option<&'a str>,
    response: &'a RawValue,
    input: &'a RawValue,
    item_ids: &'a [String],
    signatures: &'a [(String, String)],
}

#[derive(Deserialize)]
struct RecordIn {
    owner: Option<String>,
    previous: Option<String>,
    response: Box<RawValue>,
    input: Box<RawValue>,
    #[serde(default)]
    item_ids: Vec<String>,
    #[serde(default)]
    signatures: Vec<(String, String)>,
}

/// Why a record is gone, and whose it was.
#[derive(Serialize, Deserialize)]
struct Tombstone {
    owner: Option<String>,
    deleted: bool,
}

impl From<StateError> for StoreError {
    fn from(e: StateError) -> Self {
        StoreError::Unreachable(e.0)
    }
}

fn failed(e: impl std::fmt::Display) -> StoreError {
    StoreError::Failed(e.to_string())
}

impl RedisStore {
    pub fn new(shared: Arc<Shared>, ttl: Duration) -> RedisStore {
        RedisStore { shared, ttl }
    }

    fn encode(record: &Stored) -> Result<String, StoreError> {
        let response: &RawValue = serde_json::from_slice(&record.response).map_err(failed)?;
        let input: &RawValue = serde_json::from_slice(record.input.bytes()?).map_err(failed)?;
        serde_json::to_string(&RecordOut {
            owner: record.owner.as_deref(),
            previous: record.previous.as_deref(),
            response,
            input,
            item_ids: &record.item_ids,
            signatures: &record.signatures,
        })
        .map_err(failed)
    }

    fn decode(id: &str, text: &str) -> Result<Stored, StoreError> {
        let r: RecordIn = serde_json::from_str(text).map_err(failed)?;
        Ok(Stored {
            id: id.to_owned(),
            owner: r.owner,
            previous: r.previous,
            response: Bytes::from(r.response.get().to_owned()),
            input: InputJson::encoded(Bytes::from(r.input.get().to_owned())),
            item_ids: r.item_ids,
            signatures: r.signatures,
        })
    }

    async fn record_of(&self, id: &str) -> Result<Option<Stored>, StoreError> {
        let found = self.shared.get_many(&[self.shared.key("resp", id)]).await?;
        match found.into_iter().next().flatten() {
            Some(text) => Ok(Some(Self::decode(id, &text)?)),
            None => Ok(None),
        }
    }

    /// What a put and a settle write for `record`: its text, the tombstone that reads
    /// "expired" once the record's TTL has passed, and that TTL in seconds.
    fn written(&self, record: &Stored) -> Result<(String, String, u64), StoreError> {
        let text = Self::encode(record)?;
        let expired = serde_json::to_string(&Tombstone {
            owner: record.owner.clone(),
            deleted: false,
        })
        .map_err(failed)?;
        Ok((text, expired, self.ttl.as_secs().max(1)))
    }

    async fn put_record(&self, record: Stored) -> Result<(), StoreError> {
        let (text, expired, secs) = self.written(&record)?;
        let mut pipe = ::redis::pipe();
        pipe.set_ex(self.shared.key("resp", &record.id), text, secs)
            .ignore()
            .set_ex(
                self.shared.key("gone", &record.id),
                expired,
                secs.saturating_mul(2),
            )
            .ignore();
        for item in &record.item_ids {
            pipe.set_ex(self.shared.key("item", item), &record.id, secs)
                .ignore();
        }
        Ok(self.shared.run::<()>(&pipe).await?)
    }

    async fn settle_record(&self, record: Stored, last: bool) -> Result<Settled, StoreError> {
        let (text, expired, secs) = self.written(&record)?;
        let mut keys = vec![
            self.shared.key("resp", &record.id),
            self.shared.key("gone", &record.id),
            self.shared.key("final", &record.id),
        ];
        keys.extend(record.item_ids.iter().map(|i| self.shared.key("item", i)));
        let mut pipe = ::redis::pipe();
        pipe.cmd("EVAL")
            .arg(SETTLE)
            .arg(keys.len())
            .arg(&keys)
            .arg(text)
            .arg(expired)
            .arg(secs)
            .arg(if last { "1" } else { "0" })
            .arg(&record.id);
        let (standing,): (Option<String>,) = self.shared.run(&pipe).await?;
        Ok(match standing {
            None => Settled::Written,
            Some(text) if text.is_empty() => Settled::Kept(None),
            Some(text) => Settled::Kept(Some(Arc::new(Self::decode(&record.id, &text)?))),
        })
    }

    async fn get_record(
        &self,
        id: &str,
        owner: Option<&str>,
    ) -> Result<Lookup<Arc<Stored>>, StoreError> {
        let keys = [self.shared.key("resp", id), self.shared.key("gone", id)];
        let mut found = self.shared.get_many(&keys).await?.into_iter();
        let (record, gone) = (found.next().flatten(), found.next().flatten());
        if let Some(text) = record {
            let record = Self::decode(id, &text)?;
            return Ok(if record.owner.as_deref() == owner {
                Lookup::Found(Arc::new(record))
            } else {
                Lookup::Unknown
            });
        }
        // Another owner's gone record is as unknown as its live one.
        Ok(
            match gone.and_then(|t| serde_json::from_str::<Tombstone>(&t).ok()) {
                Some(t) if t.owner.as_deref() == owner => Lookup::Gone(if t.deleted {
                    Gone::Deleted
                } else {
                    Gone::Expired
                }),
                _ => Lookup::Unknown,
            },
        )
    }

    async fn delete_record(&self, id: &str, owner: Option<&str>) -> Result<bool, StoreError> {
        match self.record_of(id).await? {
            Some(record) if record.owner.as_deref() == owner => {}
            _ => return Ok(false),
        }
        let tombstone = serde_json::to_string(&Tombstone {
            owner: owner.map(str::to_owned),
            deleted: true,
        })
        .map_err(failed)?;
        let mut pipe = ::redis::pipe();
        pipe.del(self.shared.key("resp", id))
            .ignore()
            .set_ex(
                self.shared.key("gone", id),
                tombstone,
                self.ttl.as_secs().max(1),
            )
            .ignore();
        self.shared.run::<()>(&pipe).await?;
        Ok(true)
    }

    async fn find_item(
        &self,
        item_id: &str,
        owner: Option<&str>,
    ) -> Result<Option<Value>, StoreError> {
        // A chosen id's index entry first (the newest record replaying it), else the record
        // the id names: both asked for in one round trip.
        let named = crate::ids::response_of(item_id);
        let mut keys = vec![self.shared.key("item", item_id)];
        keys.extend(named.iter().map(|id| self.shared.key("resp", id)));
        let mut found = self.shared.get_many(&keys).await?.into_iter();
        let (holder, text) = (found.next().flatten(), found.next().flatten());
        let record = match (holder, named, text) {
            (Some(holder), _, _) => match self.record_of(&holder).await? {
                Some(record) => record,
                None => return Ok(None),
            },
            (None, Some(id), Some(text)) => Self::decode(&id, &text)?,
            _ => return Ok(None),
        };
        if record.owner.as_deref() != owner {
            return Ok(None);
        }
        record.item(item_id)
    }
}

impl ResponseStore for RedisStore {
    fn put(&self, record: Stored) -> BoxFuture<'_, Result<(), StoreError>> {
        self.put_record(record).boxed()
    }

    fn settle(&self, record: Stored, last: bool) -> BoxFuture<'_, Result<Settled, StoreError>> {
        self.settle_record(record, last).boxed()
    }

    fn get<'a>(
        &'a self,
        id: &'a str,
        owner: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Lookup<Arc<Stored>>, StoreError>> {
        self.get_record(id, owner).boxed()
    }

    fn delete<'a>(
        &'a self,
        id: &'a str,
        owner: Option<&'a str>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.delete_record(id, owner).boxed()
    }

    fn item<'a>(
        &'a self,
        item_id: &'a str,
        owner: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<Value>, StoreError>> {
        self.find_item(item_id, owner).boxed()
    }

    /// The records live in Redis, shared with other replicas: this process does not count
    /// them (Redis's `INFO keyspace` does).
    fn stats(&self) -> StoreStats {
        StoreStats::default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use crate::store::testing::{behaves_like_a_store, record, settles_once, RedisServer};

    fn store(url: &str, prefix: &str, metrics: Arc<Metrics>) -> RedisStore {
        let shared =
            Shared::connect(url, None, None, prefix, Duration::from_millis(500), metrics).unwrap();
        RedisStore::new(Arc::new(shared), Duration::from_secs(600))
    }

    #[actix_rt::test]
    async fn behaves_like_every_store() -> std::io::Result<()> {
        let redis = RedisServer::start()?;
        let metrics = Arc::new(Metrics::default());
        behaves_like_a_store(&store(&redis.url(), "t1:", metrics.clone())).await;
        settles_once(&store(&redis.url(), "t2:", metrics.clone())).await;
        assert!(!metrics.render().contains("pollux_state_errors_total 1"));
        Ok(())
    }

    #[actix_rt::test]
    async fn an_expired_record_says_so_and_prefixes_keep_deployments_apart() -> std::io::Result<()>
    {
        let redis = RedisServer::start()?;
        let metrics = Arc::new(Metrics::default());
        let one = store(&redis.url(), "one:", metrics.clone());
        let two = store(&redis.url(), "two:", metrics.clone());
        one.put(record("a", Some("k1"), "x")).await.unwrap();
        assert_eq!(two.get("a", Some("k1")).await.unwrap(), Lookup::Unknown);
        // What the TTL does, without waiting for it: the record goes, its tombstone stays.
        let mut pipe = ::redis::pipe();
        pipe.del("one:resp:a").ignore();
        one.shared.run::<()>(&pipe).await.unwrap();
        assert_eq!(
            one.get("a", Some("k1")).await.unwrap(),
            Lookup::Gone(Gone::Expired)
        );
        assert_eq!(one.get("a", Some("k2")).await.unwrap(), Lookup::Unknown);
        Ok(())
    }

    #[actix_rt::test]
    async fn unreachable_is_an_error_of_its_own_and_counted() -> std::io::Result<()> {
        let mut redis = RedisServer::start()?;
        let metrics = Arc::new(Metrics::default());
        let store = store(&redis.url(), "t:", metrics.clone());
        store.put(record("a", None, "x")).await.unwrap();
        redis.stop();
        match store.get("a", None).await {
            Err(StoreError::Unreachable(_)) => {}
            other => panic!("expected unreachable, got {other:?}"),
        }
        assert!(!store.shared.is_up());
        assert!(metrics.render().contains("\npollux_state_errors_total 1\n"));
        Ok(())
    }
}
